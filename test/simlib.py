"""Test helper: run the Kubernetes API simulator (test/k8s_sim) as a subprocess.

    with Sim(tls=True, images={"app:1": "/path/to/root"}) as sim:
        sim.kubectl("get", "jobs")           # CompletedProcess (text)
        sim.fault(kind="status", code=503, count=2, path_regex="/jobs")
        sim.get("/apis/batch/v1/namespaces/default/jobs")   # (code, headers, parsed body)
        sim.requests()                       # request log (list of dicts)

On exit the simulator gets SIGTERM, kills every process its kubelet started, and the
helper checks that none is left (it kills stragglers itself, then fails loudly).
"""

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from k8s_sim.procs import marked_pids

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sim:
    """Attributes once started: url, port, kubeconfig, ca (None without TLS), token,
    client_cert, client_key, state_dir, sim_id, proc."""

    def __init__(self, tls=True, images=None, entrypoints=None, state_dir=None, port=None,
                 bookmark_interval=None, history=None, keep_state=False, verbose=False,
                 start_timeout=30, job_backoff=None, log_lines=None):
        self.tls = tls
        self.job_backoff = job_backoff
        self.images = dict(images or {})
        self.entrypoints = dict(entrypoints or {})
        self._own_dir = state_dir is None
        self.state_dir = state_dir or tempfile.mkdtemp(prefix="k8s-sim-")
        self.port = port if port is not None else free_port()
        self.bookmark_interval = bookmark_interval
        self.history = history
        self.keep_state = keep_state
        self.verbose = verbose
        self.start_timeout = start_timeout
        self.log_lines = log_lines
        self.proc = None

    # ---------------------------------------------------------------- lifecycle
    def start(self):
        argv = [sys.executable, "-m", "k8s_sim", "--port", str(self.port), "--state-dir",
                self.state_dir]
        if self.tls:
            argv.append("--tls")
        for image, root in self.images.items():
            argv += ["--image-map", "%s=%s" % (image, root)]
        for image, entry in self.entrypoints.items():
            argv += ["--image-entrypoint", "%s=%s" % (image, json.dumps(entry))]
        if self.bookmark_interval is not None:
            argv += ["--bookmark-interval", str(self.bookmark_interval)]
        if self.history is not None:
            argv += ["--history", str(self.history)]
        if self.job_backoff is not None:
            argv += ["--job-backoff", str(self.job_backoff)]
        if self.log_lines is not None:
            argv += ["--log-lines", str(self.log_lines)]
        if self.verbose:
            argv.append("-v")
        env = dict(os.environ)
        env["PYTHONPATH"] = HERE + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        self.log_path = os.path.join(self.state_dir, "sim.log")
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, cwd=HERE, env=env, stdout=self._log, stderr=self._log,
                                     stdin=subprocess.DEVNULL)
        ready = os.path.join(self.state_dir, "ready.json")
        deadline = time.monotonic() + self.start_timeout
        while not os.path.exists(ready):
            if self.proc.poll() is not None:
                raise RuntimeError("k8s_sim exited with %s: %s" % (self.proc.returncode, self.log()))
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("k8s_sim not ready after %ss: %s" % (self.start_timeout, self.log()))
            time.sleep(0.02)
        with open(ready) as f:
            info = json.load(f)
        self.info = info
        self.url = info["url"]
        self.port = info["port"]
        self.kubeconfig = info["kubeconfig"]
        self.ca = info["ca"]
        self.token = info["token"]
        self.client_cert = info.get("client_cert")
        self.client_key = info.get("client_key")
        self.sim_id = info["sim_id"]
        self.kube_home = os.path.join(self.state_dir, "home")  # kubectl's discovery cache
        os.makedirs(self.kube_home, exist_ok=True)
        return self

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self):
        """SIGTERM the simulator (it kills its pods' processes), wait, then make sure no
        process it started is left. Returns the list of stragglers that had to be killed."""
        leftovers = []
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "sim_id", None):
            for _ in range(20):
                leftovers = marked_pids(self.sim_id + "/")
                if not leftovers:
                    break
                time.sleep(0.05)
            for pid in leftovers:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if getattr(self, "_log", None):
            self._log.close()
        if self._own_dir and not self.keep_state and not leftovers:
            shutil.rmtree(self.state_dir, ignore_errors=True)
        self.leftovers = leftovers
        return leftovers

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        left = self.stop()
        if left and exc[0] is None:
            raise AssertionError("k8s_sim left processes behind: %s" % left)
        return False

    # ---------------------------------------------------------------- HTTP
    def ssl_context(self, client_cert=False):
        if not self.tls:
            return None
        ctx = ssl.create_default_context(cafile=self.ca)
        if client_cert:
            ctx.load_cert_chain(self.client_cert, self.client_key)
        return ctx

    def request(self, method, path, body=None, headers=None, token=True, client_cert=False,
                timeout=30, content_type="application/json"):
        """One request. Returns (code, headers dict, body) — body parsed as JSON when it is
        JSON, else text. token=True sends the simulator's token; a string sends that one."""
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", content_type)
        if token:
            req.add_header("Authorization", "Bearer " + (self.token if token is True else token))
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self.ssl_context(client_cert)) as r:
                return r.status, dict(r.headers), _decode(r.read(), r.headers)
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), _decode(e.read(), e.headers)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body, **kw):
        return self.request("POST", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def stream(self, path, token=True, timeout=30):
        """Opens a streaming GET (watch, log follow); returns the urllib response object."""
        req = urllib.request.Request(self.url + path)
        if token:
            req.add_header("Authorization", "Bearer " + (self.token if token is True else token))
        return urllib.request.urlopen(req, timeout=timeout, context=self.ssl_context())

    # ---------------------------------------------------------------- control
    def fault(self, **spec):
        """Arm one fault (see k8s_sim/faults.py for the kinds); returns the armed spec."""
        code, _, body = self.request("POST", "/_sim/faults", spec, token=False)
        if code != 201:
            raise RuntimeError("fault not armed: %s %s" % (code, body))
        return body["armed"][0]

    def clear_faults(self):
        self.request("DELETE", "/_sim/faults", token=False)

    def outage(self, seconds):
        """The API server refuses connections for seconds (from about 0.2 s from now)."""
        code, _, body = self.request("POST", "/_sim/outage", {"seconds": seconds}, token=False)
        if code != 202:
            raise RuntimeError("outage not started: %s %s" % (code, body))

    def faults(self):
        return self.request("GET", "/_sim/faults", token=False)[2]

    def requests(self):
        return self.request("GET", "/_sim/requests", token=False)[2]

    def wait_request(self, pred, timeout=20, interval=0.05):
        """Polls the request log until a request matches pred; returns it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for q in self.requests():
                if pred(q):
                    return q
            time.sleep(interval)
        raise AssertionError("timed out waiting for a request; got %r" % self.requests()[-5:])

    def clear_requests(self):
        self.request("DELETE", "/_sim/requests", token=False)

    def add_image(self, image, root, entrypoint=None):
        body = {"image": image, "root": root}
        if entrypoint:
            body["entrypoint"] = entrypoint
        return self.request("POST", "/_sim/images", body, token=False)

    def fire_cronjob(self, name, namespace="default", job_name=None):
        return self.request("POST", "/_sim/cron/%s/%s/fire" % (namespace, name),
                            {"name": job_name} if job_name else {}, token=False)

    def compact(self):
        """Forget the watch history: every older resourceVersion now gets 410."""
        return self.request("POST", "/_sim/compact", None, token=False)

    def processes(self, pod_uid=None):
        """PIDs of processes the kubelet started that are still alive (of one pod if given)."""
        return marked_pids(self.sim_id + "/" + (pod_uid + "/" if pod_uid else ""))

    # ---------------------------------------------------------------- kubectl
    def kubectl(self, *args, context=None, timeout=60, check=False, **kw):
        argv = ["kubectl", "--kubeconfig", self.kubeconfig]
        if context:
            argv += ["--context", context]
        env = dict(os.environ, HOME=self.kube_home, KUBECACHEDIR=os.path.join(self.kube_home, "cache"))
        env.pop("KUBECONFIG", None)
        return subprocess.run(argv + list(args), capture_output=True, text=True, timeout=timeout,
                              env=env, check=check, **kw)

    def kubectl_popen(self, *args, context=None, **kw):
        argv = ["kubectl", "--kubeconfig", self.kubeconfig]
        if context:
            argv += ["--context", context]
        env = dict(os.environ, HOME=self.kube_home, KUBECACHEDIR=os.path.join(self.kube_home, "cache"))
        env.pop("KUBECONFIG", None)
        return subprocess.Popen(argv + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env, **kw)

    # ---------------------------------------------------------------- waiting
    def wait_for(self, path, pred, timeout=20, interval=0.05):
        """Polls GET path until pred(body) is true; returns the body."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            code, _, body = self.get(path)
            last = (code, body)
            if code == 200 and pred(body):
                return body
            time.sleep(interval)
        raise AssertionError("timed out waiting on %s; last: %r" % (path, last))


def _decode(raw, headers):
    ctype = headers.get("Content-Type") or ""
    text = raw.decode("utf-8", "replace")
    if "json" in ctype:
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text
