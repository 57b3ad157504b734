"""Wires the pieces together: store, controllers, kubelet, HTTP(S) server, the /_sim control
endpoints, ready.json and the kubeconfig; clean shutdown."""

import json
import os
import re
import secrets
import threading
import time

from . import exec as podexec
from . import podlog, procs
from . import resources as R
from .controllers import CronJobController, GarbageCollector, JobController, Pods
from .errors import ApiError
from .faults import Faults
from .kubelet import Images, Kubelet
from .server import SimHTTPServer
from .store import Store
from .tlsauth import Authenticator, kubeconfig_yaml, make_pki, server_context
from .watch import Watcher


class Simulator:
    def __init__(self, state_dir, port=0, host="127.0.0.1", tls=True, image_map=None,
                 entrypoints=None, token=None, verbose=False, bookmark_interval=2.0,
                 history=2000, job_backoff=2.0, log_lines=200000):
        self.state_dir = os.path.abspath(state_dir)
        os.makedirs(self.state_dir, exist_ok=True)
        self.verbose = verbose
        self.sim_id = "sim" + secrets.token_hex(6)
        self.token = token or secrets.token_hex(24)
        self.auth = Authenticator(self.token, allow_anonymous=not tls)
        self.store = Store(history)
        self.faults = Faults()
        self.images = Images(image_map, entrypoints)
        self.requests_lock = threading.Lock()
        self.requests = []
        self.pki = os.path.join(self.state_dir, "pki") if tls else None
        ctx = None
        if tls:
            make_pki(self.pki)
            ctx = server_context(self.pki)
        self.kubelet = Kubelet(self.store, self.faults, self.images, self.state_dir, self.sim_id,
                               self.token, os.path.join(self.pki, "ca.crt") if tls else None)
        self.kubelet.log_lines = log_lines
        self.pods = Pods(self.store, self.kubelet)
        self.gc = GarbageCollector(self.store, self.pods)
        self.jobs = JobController(self.store, self.pods, self.gc, self.faults, job_backoff)
        self.cron = CronJobController(self.store, self.gc)
        self.watch = Watcher(self.store, self.faults, bookmark_interval)
        self.store.create(R.NAMESPACE, None, {"metadata": {"name": "default"}})
        self.store.create(R.NAMESPACE, None, {"metadata": {"name": "kube-system"}})
        self.host, self.ssl_ctx = host, ctx
        self.http_lock = threading.Lock()
        self.closing = False
        self.httpd = SimHTTPServer((host, port), self, ctx)
        self.port = self.httpd.server_address[1]
        self.kubelet.port = self.port
        hostpart = "[%s]" % host if ":" in host else host
        self.url = "%s://%s:%d" % ("https" if tls else "http", hostpart, self.port)

    # ---------------------------------------------------------------- lifecycle
    def _serve(self):
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                       daemon=True, name="http")
        self.thread.start()

    def start(self):
        self.kubelet.start()
        self.jobs.start()
        self.cron.start()
        self._serve()
        kc = os.path.join(self.state_dir, "kubeconfig")
        with open(kc + ".tmp", "w") as f:
            f.write(kubeconfig_yaml(self.url, self.token, self.pki))
        os.replace(kc + ".tmp", kc)
        ready = {"port": self.port, "url": self.url, "token": self.token, "kubeconfig": kc,
                 "ca": os.path.join(self.pki, "ca.crt") if self.pki else None,
                 "client_cert": os.path.join(self.pki, "client.crt") if self.pki else None,
                 "client_key": os.path.join(self.pki, "client.key") if self.pki else None,
                 "pid": os.getpid(), "sim_id": self.sim_id, "state_dir": self.state_dir}
        path = os.path.join(self.state_dir, "ready.json")
        with open(path + ".tmp", "w") as f:
            json.dump(ready, f, indent=2)
        os.replace(path + ".tmp", path)

    def outage(self, seconds):
        """The API server away (a control-plane upgrade): the listener and every open
        connection closed, so clients get connection refused, for seconds; the cluster
        (controllers, kubelet, the pods) goes on. Then the same port serves again."""
        def run():
            time.sleep(0.2)  # the control request's answer goes out first
            with self.http_lock:
                if self.closing:
                    return
                self.httpd.shutdown()
                self.httpd.close_all()
                self.httpd.server_close()
            time.sleep(seconds)
            with self.http_lock:
                if self.closing:
                    return
                self.httpd = SimHTTPServer((self.host, self.port), self, self.ssl_ctx)
                self._serve()
        threading.Thread(target=run, daemon=True, name="outage").start()

    def shutdown(self):
        self.cron.stop()
        self.jobs.stop()
        self.kubelet.shutdown()
        self.store.close()
        with self.http_lock:
            self.closing = True
            if self.httpd.socket.fileno() >= 0:
                self.httpd.shutdown()
                self.httpd.close_all()
                self.httpd.server_close()
        procs.kill_marked(self.sim_id + "/")

    # ---------------------------------------------------------------- helpers for handlers
    def log_request(self, entry):
        with self.requests_lock:
            self.requests.append(entry)
            if len(self.requests) > 20000:
                del self.requests[:1000]

    def serve_exec(self, h, ns, name):
        return podexec.serve_exec(self, h, ns, name)

    def serve_log(self, h, ns, name):
        return podlog.serve_log(self, h, ns, name)

    def evict(self, h, ns, name, body):
        self.store.get(R.POD, ns, name)

        def mark(p):
            conds = [c for c in p["status"].get("conditions") or [] if c["type"] != "DisruptionTarget"]
            conds.insert(0, {"type": "DisruptionTarget", "status": "True", "lastProbeTime": None,
                             "lastTransitionTime": R.now_rfc3339(),
                             "reason": "EvictionByEvictionAPI", "message": "Eviction API: evicting"})
            p["status"]["conditions"] = conds
        self.store.mutate(R.POD, ns, name, mark)
        grace = ((body or {}).get("deleteOptions") or {}).get("gracePeriodSeconds")
        self.pods.delete(ns, name, grace)
        return h.send_body(201, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                 "status": "Success", "code": 201})

    # ---------------------------------------------------------------- /_sim
    def control(self, h):
        p, m = h.url_path.rstrip("/"), h.command
        body = json.loads(h.body) if h.body else None
        if p == "/_sim/faults":
            if m == "POST":
                specs = body if isinstance(body, list) else [body]
                try:
                    armed = [self.faults.add(s) for s in specs]
                except (ValueError, re.error) as e:
                    raise ApiError(400, str(e), "BadRequest")
                return h.send_body(201, {"armed": armed})
            if m == "DELETE":
                self.faults.clear()
                return h.send_body(200, {"armed": []})
            return h.send_body(200, self.faults.snapshot())
        if p == "/_sim/outage" and m == "POST":
            self.outage(float((body or {}).get("seconds", 10)))
            return h.send_body(202, {"outage_seconds": (body or {}).get("seconds", 10)})
        if p == "/_sim/requests":
            with self.requests_lock:
                if m == "DELETE":
                    self.requests.clear()
                    return h.send_body(200, [])
                return h.send_body(200, list(self.requests))
        if p == "/_sim/images" and m == "POST":
            self.images.add(body["image"], body["root"], body.get("entrypoint"))
            return h.send_body(201, {"image": body["image"], "root": body["root"]})
        if p == "/_sim/compact" and m == "POST":
            self.store.compact()
            return h.send_body(200, {"compacted_rv": self.store.compacted_rv})
        if p == "/_sim/watches":
            return h.send_body(200, {"watches": self.store.watch_stats()})
        if p == "/_sim/processes":
            return h.send_body(200, {"pids": procs.marked_pids(self.sim_id + "/")})
        if p == "/_sim/state":
            return h.send_body(200, {"rv": self.store.rv, "sim_id": self.sim_id,
                                     "pods_running": len(self.kubelet.workers)})
        m2 = re.match(r"^/_sim/cron/([^/]+)/([^/]+)/fire$", p)
        if m2 and m == "POST":
            job = self.cron.fire(m2.group(1), m2.group(2), job_name=(body or {}).get("name"))
            return h.send_body(201, job)
        raise ApiError(404, "no such control endpoint: %s %s" % (m, p), "NotFound")


def wait_forever(sim, stop_event):
    while not stop_event.wait(0.5):
        pass
    sim.shutdown()


__all__ = ["Simulator", "wait_forever", "time"]
