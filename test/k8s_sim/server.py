"""HTTP/1.1 front: routing, content negotiation, watch and log streams (chunked), the
/_sim control endpoints and the request log."""

import json
import re
import select
import socket
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import discovery, protobuf
from . import resources as R
from .errors import ApiError, forbidden, qualified, status_body
from .logs import rfc3339nano
from .patch import json_patch, merge_patch


class StreamCut(Exception):
    """A fault asked us to drop the connection without the terminating chunk."""


def _truthy(v):
    return v in ("1", "true", "True")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "k8s-sim"
    timeout = 600

    def log_message(self, fmt, *args):
        if self.server.sim.verbose:
            super().log_message(fmt, *args)

    # ---------------------------------------------------------------- plumbing
    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    @property
    def sim(self):
        return self.server.sim

    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            return self.rfile.read(n)
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return b""

    def _json_body(self):
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype == "application/vnd.kubernetes.protobuf":
            # Typed clients (kubectl create namespace/secret) post protobuf only.
            try:
                return protobuf.decode(self.body)
            except (ValueError, IndexError, KeyError) as e:
                raise ApiError(415, "the body of the request was in an unknown format - accepted "
                               "media types include: application/json, application/yaml (%s)" % e,
                               "UnsupportedMediaType")
        if not self.body:
            raise ApiError(400, "the request body is empty", "BadRequest")
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise ApiError(400, "the object provided is unrecognized (must be JSON): %s" % e,
                           "BadRequest")

    def send_body(self, code, data, ctype="application/json", headers=None):
        if isinstance(data, (dict, list)):
            data = (json.dumps(data) + "\n").encode()
        elif isinstance(data, str):
            data = data.encode()
        self.entry["code"] = code
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def start_stream(self, ctype):
        self.entry["code"] = 200
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()

    def chunk(self, data):
        if isinstance(data, str):
            data = data.encode()
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    def chunks(self, datas):
        """Several chunks, one flush."""
        for data in datas:
            if data:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_stream(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def client_gone(self):
        """During a stream the client sends nothing; a readable socket means it hung up."""
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(r)

    def cut(self):
        """Drop the connection mid-stream (no terminating chunk)."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise StreamCut()

    # ---------------------------------------------------------------- entry
    def _handle(self):
        url = urllib.parse.urlsplit(self.path)
        self.url_path = urllib.parse.unquote(url.path)
        self.query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        auth = self.headers.get("Authorization") or ""
        self.entry = {"time": time.time(), "method": self.command, "path": self.url_path,
                      "query": self.query, "tls": self.server.tls,
                      "bearer": auth.lower().startswith("bearer "), "auth": "none",
                      "user": None, "accept": self.headers.get("Accept"),
                      "content_type": self.headers.get("Content-Type"),
                      "user_agent": self.headers.get("User-Agent"), "code": None}
        try:
            self.body = self._read_body()
            if self.url_path.startswith("/_sim/") or self.url_path == "/_sim":
                self.entry["auth"] = "control"
                return self._control()
            self.sim.log_request(self.entry)
            peer = None
            if self.server.tls:
                try:
                    peer = self.connection.getpeercert()
                except (ValueError, ssl.SSLError):
                    peer = None
            try:
                self.user, kind = self.sim.auth.authenticate(self.headers, peer, self.url_path)
            except ApiError:
                self.entry["auth"] = "rejected"
                raise
            self.entry["auth"], self.entry["user"] = kind, self.user
            self._inject_request_faults()
            self._route()
        except StreamCut:
            return
        except ApiError as e:
            self._send_error(e)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout):
            self.close_connection = True
        except Exception as e:
            import traceback
            traceback.print_exc()
            self._send_error(ApiError(500, "internal error: %r" % e, "InternalError"))

    def _send_error(self, e):
        try:
            self.send_body(e.code, e.body, headers=e.headers)
        except OSError:
            self.close_connection = True

    def _inject_request_faults(self):
        f = self.sim.faults.take("429", self.command, self.url_path)
        if f:
            hdr = {"Retry-After": f.get("retry_after", 1)}
            if f.get("plain"):
                self.send_body(429, f.get("message", "Too many requests, please try again later.\n"),
                               "text/plain; charset=utf-8", hdr)
                raise StreamCut()
            raise ApiError(429, f.get("message", "Too many requests, please try again later."),
                           "TooManyRequests",
                           {"causes": [{"message": "Too many requests, please try again later."}],
                            "retryAfterSeconds": int(f.get("retry_after", 1))}, hdr)
        f = self.sim.faults.take("status", self.command, self.url_path)
        if f:
            code = int(f.get("code", 500))
            raise ApiError(code, f.get("message", "injected fault: %d" % code), f.get("reason"))

    # ---------------------------------------------------------------- routing
    def _route(self):
        p = self.url_path.rstrip("/") or "/"
        if p in ("/healthz", "/livez", "/readyz"):
            return self.send_body(200, "ok", "text/plain; charset=utf-8")
        if p == "/version":
            return self.send_body(200, discovery.VERSION)
        if p.startswith("/openapi/v3"):
            doc = discovery.openapi_root() if p == "/openapi/v3" else discovery.openapi_for(p)
            if doc is None:
                raise ApiError(404, "the server could not find the requested resource", "NotFound")
            return self.send_body(200, doc)
        if p in ("/api", "/apis"):
            media = discovery.wants_aggregated(self.headers.get("Accept"))
            if media:
                return self.send_body(200, discovery.aggregated(p, media), media)
        if p in ("/api", "/apis", "/api/v1") or re.match(r"^/apis/[^/]+(/[^/]+)?$", p):
            doc = discovery.legacy(p)
            if doc is not None:
                return self.send_body(200, doc)
        parts = p.strip("/").split("/")
        if parts[0] == "api" and len(parts) >= 3 and parts[1] == "v1":
            group, version, rest = "", "v1", parts[2:]
        elif parts[0] == "apis" and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        ns = name = sub = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            ns, rest = rest[1], rest[2:]
        elif rest[0] == "namespaces" and len(rest) == 2 and group == "":
            rest = ["namespaces", rest[1]]
        res = rest[0]
        if len(rest) > 1:
            name = rest[1]
        if len(rest) > 2:
            sub = "/".join(rest[2:])
        rt = R.BY_PATH.get((group, version, res))
        if rt is None or (ns is not None and not rt.namespaced):
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        if sub and sub not in rt.subresources:
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        verb = self._verb(name, sub)
        resource = rt.resource + ("/" + sub if sub else "")
        f = self.sim.faults.take("forbid", self.command, self.url_path, verb, resource)
        if f:
            raise forbidden(f.get("user") or self.user, verb, resource, rt.group,
                            ns if rt.namespaced else None, name)
        if rt.namespaced and ns is None and name is not None:
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        getattr(self, "_" + verb)(rt, ns, name, sub)

    def _verb(self, name, sub):
        m = self.command
        if sub == "exec" and m in ("GET", "POST"):
            return "create"  # exec is "create pods/exec", also for the WebSocket GET
        if m in ("GET", "HEAD"):
            if name is None:
                return "watch" if _truthy(self.query.get("watch")) else "list"
            return "get"
        if m == "POST":
            if sub == "eviction":
                return "create"
            if name is not None:
                raise ApiError(405, "the server does not allow this method on the requested resource",
                               "MethodNotAllowed")
            return "create"
        if name is None:
            if m == "DELETE":
                return "deletecollection"
            raise ApiError(405, "the server does not allow this method on the requested resource",
                           "MethodNotAllowed")
        return {"PUT": "update", "PATCH": "patch", "DELETE": "delete"}[m]

    # ---------------------------------------------------------------- content
    def _table_media(self):
        accept = self.headers.get("Accept") or ""
        for part in accept.split(","):
            p = part.strip().replace(" ", "")
            if "as=Table" in p and "g=meta.k8s.io" in p and p.startswith("application/json"):
                v = "v1" if ";v=v1;" in p + ";" else "v1beta1"
                return "application/json;as=Table;v=%s;g=meta.k8s.io" % v
        return None

    def _send_obj(self, code, obj, rt=None):
        media = self._table_media() if rt else None
        if media and obj.get("kind") != "Status":
            tbl = R.to_table(rt, [obj], obj["metadata"].get("resourceVersion", ""),
                             self.query.get("includeObject", "Metadata"))
            tbl["apiVersion"] = "meta.k8s.io/" + media.split("v=")[1].split(";")[0]
            return self.send_body(code, tbl, media)
        return self.send_body(code, obj)

    # ---------------------------------------------------------------- verbs
    def _get(self, rt, ns, name, sub):
        if sub == "log":
            return self.sim.serve_log(self, ns, name)
        obj = self.sim.store.get(rt, ns, name)
        return self._send_obj(200, obj, rt)

    def _list(self, rt, ns, name, sub):
        items, rv = self.sim.store.list(rt, ns, self.query.get("labelSelector"),
                                        self.query.get("fieldSelector"))
        media = self._table_media()
        if media:
            tbl = R.to_table(rt, items, rv, self.query.get("includeObject", "Metadata"))
            tbl["apiVersion"] = "meta.k8s.io/" + media.split("v=")[1].split(";")[0]
            return self.send_body(200, tbl, media)
        return self.send_body(200, {"kind": rt.kind + "List", "apiVersion": rt.api_version,
                                    "metadata": {"resourceVersion": rv}, "items": items})

    def _create(self, rt, ns, name, sub):
        if sub == "exec":
            return self.sim.serve_exec(self, ns, name)
        body = self._json_body()
        if sub == "eviction":
            return self.sim.evict(self, ns, name, body)
        if not isinstance(body, dict):
            raise ApiError(400, "the object provided is unrecognized", "BadRequest")
        bns = (body.get("metadata") or {}).get("namespace")
        if rt.namespaced and bns and bns != ns:
            raise ApiError(400, "the namespace of the provided object does not match the "
                           "namespace sent on the request", "BadRequest")
        if body.get("kind") and body["kind"] != rt.kind:
            raise ApiError(400, "the server could not find the requested resource (kind %s "
                           "posted to %s)" % (body["kind"], rt.resource), "BadRequest")
        if self.query.get("dryRun") == "All":
            import copy
            obj = copy.deepcopy(body)
            obj.setdefault("metadata", {})["namespace"] = ns
            R.validate(rt, obj, obj["metadata"].get("name") or obj["metadata"].get("generateName"))
            return self._send_obj(201, obj, rt)
        obj = self.sim.store.create(rt, ns if rt.namespaced else None, body)
        return self._send_obj(201, obj, rt)

    def _update(self, rt, ns, name, sub):
        body = self._json_body()
        bname = (body.get("metadata") or {}).get("name")
        if bname and bname != name:
            raise ApiError(400, "the name of the object (%s) does not match the name on the URL "
                           "(%s)" % (bname, name), "BadRequest")
        body.setdefault("metadata", {})["name"] = name
        obj = self.sim.store.replace(rt, ns if rt.namespaced else None, name, body,
                                     status_only=(sub == "status"))
        return self._send_obj(200, obj, rt)

    def _patch(self, rt, ns, name, sub):
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        body = self._json_body() if ctype != "application/apply-patch+yaml" else None
        key_ns = ns if rt.namespaced else None

        def apply(cur):
            if ctype in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
                new = merge_patch(cur, body)
            elif ctype == "application/json-patch+json":
                new = json_patch(cur, body)
            else:
                raise ApiError(415, "the body of the request was in an unknown format - accepted "
                               "media types include: application/json-patch+json, "
                               "application/merge-patch+json, application/strategic-merge-patch+json",
                               "UnsupportedMediaType")
            return new
        cur = self.sim.store.get(rt, key_ns, name)
        new = apply(cur)
        if sub == "status":
            cur["status"] = new.get("status", {})
            new = cur
        new["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
        obj = self.sim.store.replace(rt, key_ns, name, new)
        return self._send_obj(200, obj, rt)

    def _delete_opts(self):
        opts = {}
        if self.body:
            try:
                opts = json.loads(self.body) or {}
            except ValueError:
                raise ApiError(400, "invalid DeleteOptions", "BadRequest")
        policy = self.query.get("propagationPolicy") or opts.get("propagationPolicy")
        if opts.get("orphanDependents") is True or self.query.get("orphanDependents") == "true":
            policy = policy or "Orphan"
        grace = self.query.get("gracePeriodSeconds", opts.get("gracePeriodSeconds"))
        grace = int(grace) if grace not in (None, "") else None
        uid = (opts.get("preconditions") or {}).get("uid")
        if policy not in (None, "Orphan", "Background", "Foreground"):
            raise ApiError(400, "propagationPolicy must be one of Orphan, Background, Foreground",
                           "BadRequest")
        return policy, grace, uid

    def _delete(self, rt, ns, name, sub):
        policy, grace, uid = self._delete_opts()
        key_ns = ns if rt.namespaced else None
        if rt is R.POD:
            pod = self.sim.store.get(rt, ns, name)
            if uid and pod["metadata"]["uid"] != uid:
                raise ApiError(409, "Precondition failed: UID in precondition: %s, UID in object "
                               "meta: %s" % (uid, pod["metadata"]["uid"]), "Conflict")
            obj = self.sim.pods.delete(ns, name, grace)
        else:
            _, obj = self.sim.gc.delete(rt, key_ns, name, policy, grace, uid)
        if obj and self.sim.store.try_get(rt, key_ns, name) is not None:
            return self._send_obj(200, obj, rt)
        return self.send_body(200, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                    "status": "Success",
                                    "details": {"name": name, "group": rt.group, "kind": rt.resource,
                                                "uid": (obj or {}).get("metadata", {}).get("uid")}})

    def _deletecollection(self, rt, ns, name, sub):
        policy, grace, _ = self._delete_opts()
        items, rv = self.sim.store.list(rt, ns, self.query.get("labelSelector"),
                                        self.query.get("fieldSelector"))
        for o in items:
            if rt is R.POD:
                self.sim.pods.delete(o["metadata"]["namespace"], o["metadata"]["name"], grace)
            else:
                self.sim.gc.delete(rt, o["metadata"].get("namespace"), o["metadata"]["name"], policy)
        return self.send_body(200, {"kind": rt.kind + "List", "apiVersion": rt.api_version,
                                    "metadata": {"resourceVersion": rv}, "items": items})

    # ---------------------------------------------------------------- watch
    def _watch(self, rt, ns, name, sub):
        self.sim.watch.serve(self, rt, ns)

    # ---------------------------------------------------------------- /_sim
    def _control(self):
        self.sim.control(self)


class SimHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, sim, ssl_ctx=None):
        self.sim = sim
        self.ssl_ctx = ssl_ctx
        self.tls = ssl_ctx is not None
        self.conns = set()
        self.conns_lock = threading.Lock()
        super().__init__(addr, Handler)

    def finish_request(self, request, client_address):
        # The TLS handshake happens here, on the connection's own thread, so a slow or
        # broken client never stalls accept().
        raw = request
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        if self.ssl_ctx:
            try:
                request.settimeout(10)
                request = self.ssl_ctx.wrap_socket(request, server_side=True)
                request.settimeout(None)
            except (ssl.SSLError, OSError):
                return
        with self.conns_lock:
            self.conns.add(request)
        try:
            self.RequestHandlerClass(request, client_address, self)
        except (ssl.SSLError, OSError):
            pass
        finally:
            with self.conns_lock:
                self.conns.discard(request)
            if request is not raw:
                try:
                    request.close()
                except OSError:
                    pass

    def close_all(self):
        with self.conns_lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def status_json(code, message, reason=None):
    return status_body(code, message, reason)


__all__ = ["SimHTTPServer", "Handler", "qualified", "rfc3339nano", "status_json"]
