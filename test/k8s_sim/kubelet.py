"""The kubelet: schedules every pod onto one node and runs its containers as local
processes (no shell): init containers in order, then the main containers.

Image paths: `--image-map IMAGE=ROOTDIR` maps an image to a local directory. Absolute paths
in command, args (the whole argument, or what follows the first '=' of `--flag=/path`),
env values (each ':'-separated part) and workingDir are rewritten: under a volumeMount's
mountPath -> the pod's directory for that volume; the container's terminationMessagePath ->
a per-container file; else when ROOTDIR+path (or its parent) exists -> ROOTDIR+path; else
left alone (so /bin/sh stays the host's).

All pods share the host's network, so they share one EPMD. To emulate per-pod network
namespaces (distinct node names) every container gets HOSTNAME=<pod name> and, unless its
env sets it, RELEASE_NODE=<pod name with '-' replaced by '_'>.
"""

import base64
import fcntl
import os
import re
import selectors
import shutil
import signal
import subprocess
import threading
import time
import uuid

from . import procs
from . import resources as R
from .logs import LogBuffer, rfc3339nano

NODE = "sim-node"
TERM_MSG_CAP = 4096
FALLBACK_LINES, FALLBACK_BYTES = 80, 2048
MAX_PARTIAL = 64 * 1024
# the container's stdout/stderr pipes and the reads from them
PIPE_SIZE = 1024 * 1024
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def _now():
    return R.now_rfc3339()


def _cond(typ, status, reason=None):
    c = {"type": typ, "status": status, "lastProbeTime": None, "lastTransitionTime": _now()}
    if reason:
        c["reason"] = reason
    return c


def _set_conds(pod, pairs):
    conds = {c["type"]: c for c in pod["status"].get("conditions") or []}
    for typ, status, reason in pairs:
        old = conds.get(typ)
        if old and old["status"] == status and old.get("reason") == reason:
            continue
        conds[typ] = _cond(typ, status, reason)
    order = ["DisruptionTarget", "PodReadyToStartContainers", "Initialized", "Ready",
             "ContainersReady", "PodScheduled"]
    pod["status"]["conditions"] = sorted(conds.values(), key=lambda c: order.index(c["type"])
                                         if c["type"] in order else 99)


NODE_CPUS = 8
# A reference as the container runtime parses it (lowercase repository, optional tag).
IMAGE_RE = re.compile(r"^[a-z0-9]+([._/:-][a-z0-9]+)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
                      r"(@sha256:[a-f0-9]{64})?$")


def _cpu(q):
    """A CPU quantity ("2", "500m") in cores; 0 when absent."""
    if not q:
        return 0.0
    q = str(q)
    return float(q[:-1]) / 1000 if q.endswith("m") else float(q)


class Images:
    def __init__(self, mapping=None, entrypoints=None):
        self.lock = threading.Lock()
        self.map = dict(mapping or {})
        self.entry = dict(entrypoints or {})

    def add(self, image, root, entrypoint=None):
        with self.lock:
            self.map[image] = os.path.abspath(root)
            if entrypoint:
                self.entry[image] = list(entrypoint)

    def lookup(self, image):
        with self.lock:
            return self.map.get(image), self.entry.get(image)


class ContainerFailure(Exception):
    """The container could not be created (pod stays Pending with this waiting reason)."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason, self.message = reason, message


class PodWorker(threading.Thread):
    def __init__(self, kubelet, pod):
        super().__init__(daemon=True, name="pod-" + pod["metadata"]["name"])
        self.k = kubelet
        self.pod = pod
        self.ns = pod["metadata"]["namespace"]
        self.name = pod["metadata"]["name"]
        self.uid = pod["metadata"]["uid"]
        self.dir = os.path.join(kubelet.state_dir, "pods", "%s_%s_%s" % (self.ns, self.name, self.uid[:8]))
        os.makedirs(self.dir, exist_ok=True)
        self.stop = threading.Event()
        self.grace = None
        self.force = False
        self.procs = {}  # container name -> Popen
        self.lock = threading.Lock()
        self.started_any = False

    # ---- status helpers
    def _mutate(self, fn):
        return self.k.store.mutate(R.POD, self.ns, self.name, fn)

    def _cstatus(self, c, state, init=False, ready=False, restarts=0):
        return {"name": c["name"], "state": state, "lastState": {}, "ready": ready,
                "restartCount": restarts, "image": c.get("image", ""),
                "imageID": "sim://" + c.get("image", ""), "started": "running" in state,
                **({"containerID": state.get("_cid")} if state.get("_cid") else {})}

    def _set_container_state(self, c, state, init=False, ready=False, restarts=0, also=None):
        field = "initContainerStatuses" if init else "containerStatuses"
        st = self._cstatus(c, state, init, ready, restarts)
        for v in state.values():
            cid = v.pop("_cid", None) if isinstance(v, dict) else None
            if cid:
                st["containerID"] = cid

        def fn(pod):
            lst = pod["status"].setdefault(field, [])
            for i, x in enumerate(lst):
                if x["name"] == c["name"]:
                    lst[i] = st
                    break
            else:
                lst.append(st)
            if also:
                also(pod)
        self._mutate(fn)

    def _waiting_all(self, reason, message=None, init_reason=None):
        spec = self.pod["spec"]

        def fn(pod):
            w = {"reason": reason}
            if message:
                w["message"] = message
            if spec.get("initContainers"):
                pod["status"]["initContainerStatuses"] = [
                    self._cstatus(c, {"waiting": dict(w)}) for c in spec["initContainers"]]
                w = {"reason": "PodInitializing"}
            pod["status"]["containerStatuses"] = [
                self._cstatus(c, {"waiting": dict(w)}) for c in spec["containers"]]
        self._mutate(fn)

    def _schedulable(self):
        """PodScheduled=False with the scheduler's message while the pod cannot be placed:
        a CPU request over the node's (NODE_CPUS), or the fault `unschedulable` (placed
        after its seconds, as a cluster autoscaler's new node would)."""
        fault = self.k.faults.take("unschedulable", pod=self.name)
        want = sum(_cpu((c.get("resources") or {}).get("requests", {}).get("cpu"))
                   for c in self.pod["spec"]["containers"])
        if not fault and want <= NODE_CPUS:
            return True
        msg = ("0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are "
               "available: 1 No preemption victims found for incoming pod.")

        def pending(pod):
            pod["status"]["phase"] = "Pending"
            _set_conds(pod, [("PodScheduled", "False", "Unschedulable")])
            for c in pod["status"]["conditions"]:
                if c["type"] == "PodScheduled":
                    c["message"] = msg
        self._mutate(pending)
        if fault and want <= NODE_CPUS:
            return not self.stop.wait(float(fault.get("seconds", 3)))
        self.stop.wait()
        return False

    def _pull(self, containers, init=False):
        """Pull the images of containers; False when the pod was stopped meanwhile."""
        for c in containers:
            image = c.get("image") or ""
            if not IMAGE_RE.match(image):
                self._set_container_state(c, {"waiting": {
                    "reason": "InvalidImageName",
                    "message": 'Failed to apply default image tag "%s": couldn\'t parse image '
                               'name "%s": invalid reference format' % (image, image)}}, init)
                self.stop.wait()
                return False
            while self.k.images.lookup(image)[0] is None:
                self._set_container_state(c, {"waiting": {
                    "reason": "ErrImagePull",
                    "message": 'failed to pull and unpack image "%s": not found' % image}}, init)
                if self.stop.wait(1.0):
                    return False
                self._set_container_state(c, {"waiting": {
                    "reason": "ImagePullBackOff",
                    "message": 'Back-off pulling image "%s"' % image}}, init)
                if self.stop.wait(1.0):
                    return False
        return True

    # ---- lifecycle
    def request_stop(self, grace, force=False):
        self.grace = grace
        self.force = force or self.force
        self.stop.set()

    def run(self):
        try:
            self._run()
        except Exception as e:  # keep the simulator alive; surface the bug in the pod
            import traceback
            traceback.print_exc()
            self._mutate(lambda p: p["status"].update({"phase": "Failed", "reason": "SimError",
                                                       "message": repr(e)}))
        finally:
            self._kill_all()
            self.k.worker_done(self)

    def _run(self):
        spec = self.pod["spec"]

        def schedule(pod):
            pod["spec"]["nodeName"] = NODE
            pod["status"].update({"phase": "Pending", "hostIP": "127.0.0.1",
                                  "hostIPs": [{"ip": "127.0.0.1"}], "startTime": _now()})
            _set_conds(pod, [("PodScheduled", "True", None),
                             ("PodReadyToStartContainers", "False", None),
                             ("Initialized", "False" if spec.get("initContainers") else "True",
                              "ContainersNotInitialized" if spec.get("initContainers") else None),
                             ("Ready", "False", "ContainersNotReady"),
                             ("ContainersReady", "False", "ContainersNotReady")])
        if not self._schedulable():
            return
        self._mutate(schedule)
        self._waiting_all("ContainerCreating")

        # Image "pull", as the kubelet does it: the init containers' images before
        # they run, the app containers' after; an unknown image keeps the pod Pending
        # with the reason on that container only.
        if not self._pull(spec.get("initContainers") or [], init=True):
            return
        if not spec.get("initContainers") and not self._pull(spec["containers"]):
            return
        self._waiting_all("ContainerCreating")

        slow = self.k.faults.take("slow_start", pod=self.name)
        if slow and self.stop.wait(float(slow.get("seconds", 3))):
            return
        if self.stop.is_set():
            return

        try:
            mounts = self._prepare_volumes()
        except ContainerFailure as e:
            self._waiting_all(e.reason, e.message)
            self.stop.wait()
            return
        self.mounts = mounts  # what exec_process maps paths with
        self._mutate(lambda p: _set_conds(p, [("PodReadyToStartContainers", "True", None)]))

        for c in spec.get("initContainers") or []:
            res = self._run_container(c, mounts, init=True)
            if res is None:
                return
            if res != 0:
                self._finish_failed_init(c)
                return
        if spec.get("initContainers"):
            self._mutate(lambda p: _set_conds(p, [("Initialized", "True", None)]))
            if not self._pull(spec["containers"]):
                return

        results = {}
        threads = []
        for c in spec["containers"]:
            t = threading.Thread(target=lambda c=c: results.__setitem__(
                c["name"], self._run_container(c, mounts)), daemon=True)
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
        if any(v is None for v in results.values()):
            return
        phase = "Succeeded" if all(v == 0 for v in results.values()) else "Failed"

        def finish(pod):
            pod["status"]["phase"] = phase
            _set_conds(pod, [("Ready", "False", "PodCompleted"),
                             ("ContainersReady", "False", "PodCompleted"),
                             ("PodReadyToStartContainers", "False", None)])
        self._mutate(finish)

    def _finish_failed_init(self, failed):
        spec = self.pod["spec"]

        def fn(pod):
            pod["status"]["phase"] = "Failed"
            pod["status"]["containerStatuses"] = [
                self._cstatus(c, {"waiting": {"reason": "PodInitializing"}}) for c in spec["containers"]]
            _set_conds(pod, [("Initialized", "False", "ContainersNotInitialized")])
        self._mutate(fn)

    # ---- volumes and paths
    def _prepare_volumes(self):
        vols = {}
        for v in self.pod["spec"].get("volumes") or []:
            d = os.path.join(self.dir, "volumes", v["name"])
            os.makedirs(d, exist_ok=True)
            if "secret" in v:
                sec = self.k.store.try_get(R.BY_KEY["secrets"], self.ns, v["secret"].get("secretName"))
                if sec is None and not v["secret"].get("optional"):
                    raise ContainerFailure("ContainerCreating",
                                           'secret "%s" not found' % v["secret"].get("secretName"))
                for key, val in ((sec or {}).get("data") or {}).items():
                    with open(os.path.join(d, key), "wb") as f:
                        f.write(base64.b64decode(val))
            elif "configMap" in v:
                cm = self.k.store.try_get(R.BY_KEY["configmaps"], self.ns, v["configMap"].get("name"))
                for key, val in ((cm or {}).get("data") or {}).items():
                    with open(os.path.join(d, key), "w") as f:
                        f.write(val)
            elif "hostPath" in v:
                os.rmdir(d)
                d = v["hostPath"].get("path", d)
            vols[v["name"]] = d
        # The service account token, as kube-api-access-* would mount it.
        sa = os.path.join(self.dir, "serviceaccount")
        os.makedirs(sa, exist_ok=True)
        with open(os.path.join(sa, "token"), "w") as f:
            f.write(self.k.token)
        with open(os.path.join(sa, "namespace"), "w") as f:
            f.write(self.ns)
        if self.k.ca_path:
            shutil.copy(self.k.ca_path, os.path.join(sa, "ca.crt"))
        vols[None] = sa
        return vols

    def _mapper(self, c, vols):
        root, _ = self.k.images.lookup(c.get("image"))
        mounts = []
        for m in c.get("volumeMounts") or []:
            if m.get("name") in vols:
                host = vols[m["name"]]
                if m.get("subPath"):
                    host = os.path.join(host, m["subPath"])
                mounts.append((m["mountPath"].rstrip("/") or "/", host))
        mounts.append((SA_DIR, vols[None]))
        mounts.sort(key=lambda x: -len(x[0]))
        tm_path = c.get("terminationMessagePath") or "/dev/termination-log"
        tm_file = os.path.join(self.dir, "termination-" + c["name"])

        def map_path(p):
            if p == tm_path:
                return tm_file
            for mp, host in mounts:
                if p == mp or p.startswith(mp + "/"):
                    return host + p[len(mp):]
            if root:
                cand = os.path.join(root, p.lstrip("/")).rstrip("/") or root
                parent = os.path.dirname(p.rstrip("/"))
                if os.path.exists(cand) or (parent not in ("", "/") and
                                            os.path.isdir(os.path.dirname(cand))):
                    return cand
            return p
        return map_path, tm_file, root

    # ---- exec
    def exec_process(self, cname, argv, tty):
        """A command "in" running container cname, as pods/exec starts it: the container's
        path mapping, environment and working directory, marked as one of its processes.
        Returns (Popen, pty master fd or None)."""
        c = next(x for x in self.pod["spec"]["containers"] if x["name"] == cname)
        map_path, _, root = self._mapper(c, self.mounts)
        env = self._base_env(root)
        env.update(self._resolve_env(c, map_path))
        env.setdefault("RELEASE_NODE", self.name.replace("-", "_"))
        env[procs.MARKER] = "%s/%s/%s" % (self.k.sim_id, self.uid, cname)
        argv = [map_arg(a, map_path) for a in argv]
        cwd = map_path(c["workingDir"]) if c.get("workingDir") else (root or self.dir)
        if not tty:
            return subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True), None
        import pty
        master, slave = pty.openpty()
        env.setdefault("TERM", "xterm")
        try:
            p = subprocess.Popen(argv, env=env, cwd=cwd, stdin=slave, stdout=slave, stderr=slave,
                                 start_new_session=True,
                                 preexec_fn=lambda: __import__("fcntl").ioctl(
                                     0, __import__("termios").TIOCSCTTY, 0))
        except OSError:
            os.close(master)
            raise
        finally:
            os.close(slave)
        return p, master

    # ---- env
    def _resolve_env(self, c, map_path):
        env = {}
        order = []

        def put(k, v):
            if k not in env:
                order.append(k)
            env[k] = v
        for ef in c.get("envFrom") or []:
            prefix = ef.get("prefix", "")
            if "secretRef" in ef:
                sec = self.k.store.try_get(R.BY_KEY["secrets"], self.ns, ef["secretRef"]["name"])
                if sec is None:
                    if ef["secretRef"].get("optional"):
                        continue
                    raise ContainerFailure("CreateContainerConfigError",
                                           'secret "%s" not found' % ef["secretRef"]["name"])
                for k, v in (sec.get("data") or {}).items():
                    put(prefix + k, base64.b64decode(v).decode("utf-8", "replace"))
            if "configMapRef" in ef:
                cm = self.k.store.try_get(R.BY_KEY["configmaps"], self.ns, ef["configMapRef"]["name"])
                if cm is None:
                    if ef["configMapRef"].get("optional"):
                        continue
                    raise ContainerFailure("CreateContainerConfigError",
                                           'configmap "%s" not found' % ef["configMapRef"]["name"])
                for k, v in (cm.get("data") or {}).items():
                    put(prefix + k, v)
        for e in c.get("env") or []:
            if "valueFrom" in e:
                put(e["name"], self._value_from(e["valueFrom"]))
            else:
                put(e["name"], expand(e.get("value", ""), env))
        for k in order:
            env[k] = map_env_value(env[k], map_path)
        return env

    def _value_from(self, vf):
        pod = self.k.store.try_get(R.POD, self.ns, self.name) or self.pod
        if "fieldRef" in vf:
            fp = vf["fieldRef"]["fieldPath"]
            m = re.match(r"metadata\.(labels|annotations)\['(.*)'\]$", fp)
            if m:
                return (pod["metadata"].get(m.group(1)) or {}).get(m.group(2), "")
            return {"metadata.name": self.name, "metadata.namespace": self.ns,
                    "metadata.uid": self.uid, "spec.nodeName": NODE,
                    "spec.serviceAccountName": pod["spec"].get("serviceAccountName", "default"),
                    "status.podIP": "127.0.0.1", "status.hostIP": "127.0.0.1"}.get(fp, "")
        for ref, rkey in (("secretKeyRef", "secrets"), ("configMapKeyRef", "configmaps")):
            if ref in vf:
                r = vf[ref]
                obj = self.k.store.try_get(R.BY_KEY[rkey], self.ns, r.get("name"))
                kind = "secret" if rkey == "secrets" else "configmap"
                if obj is None:
                    if r.get("optional"):
                        return ""
                    raise ContainerFailure("CreateContainerConfigError",
                                           '%s "%s" not found' % (kind, r.get("name")))
                data = obj.get("data") or {}
                if r.get("key") not in data:
                    if r.get("optional"):
                        return ""
                    raise ContainerFailure("CreateContainerConfigError",
                                           "couldn't find key %s in %s %s/%s" % (
                                               r.get("key"), kind.capitalize(), self.ns, r.get("name")))
                v = data[r["key"]]
                return base64.b64decode(v).decode("utf-8", "replace") if rkey == "secrets" else v
        return ""

    # ---- one container
    def _run_container(self, c, vols, init=False):
        """Runs c to completion (restarting per restartPolicy). Returns the exit code, or
        None when the pod was stopped/the container could not be created."""
        policy = self.pod["spec"].get("restartPolicy", "Always")
        restarts = 0
        while True:
            rc = self._run_once(c, vols, init, restarts)
            if rc is None or self.stop.is_set():
                return None if rc is None else rc
            if rc == 0 and policy != "Always" or policy == "Never":
                return rc
            restarts += 1
            if self.stop.wait(0.2):
                return rc

    def _run_once(self, c, vols, init, restarts):
        map_path, tm_file, root = self._mapper(c, vols)
        _, entry = self.k.images.lookup(c.get("image"))
        try:
            env = self._resolve_env(c, map_path)
        except ContainerFailure as e:
            self._set_container_state(c, {"waiting": {"reason": e.reason, "message": e.message}},
                                      init, restarts=restarts)
            self.stop.wait()
            return None
        argv = [expand(a, env) for a in (c.get("command") or entry or [])] + \
               [expand(a, env) for a in (c.get("args") or [])]
        argv = [map_arg(a, map_path) for a in argv]
        full_env = self._base_env(root)
        full_env.update(env)
        full_env.setdefault("RELEASE_NODE", self.name.replace("-", "_"))
        full_env[procs.MARKER] = "%s/%s/%s" % (self.k.sim_id, self.uid, c["name"])
        cwd = map_path(c["workingDir"]) if c.get("workingDir") else (root or self.dir)
        os.makedirs(cwd, exist_ok=True)
        open(tm_file, "wb").close()
        log = self.k.log_buffer(self, c["name"], restarts)
        cid = "sim://" + uuid.uuid4().hex
        started = _now()
        start_err = None
        if not argv:
            start_err = "no command specified"
        else:
            try:
                p = subprocess.Popen(argv, env=full_env, cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
            except OSError as e:
                start_err = 'exec: "%s": %s' % (argv[0], e.strerror)
        if start_err:
            log.close()
            self._set_container_state(c, {"terminated": {
                "exitCode": 128, "reason": "StartError",
                "message": "failed to create containerd task: failed to create shim task: "
                           "OCI runtime create failed: runc create failed: unable to start "
                           "container process: " + start_err,
                "startedAt": "1970-01-01T00:00:00Z", "finishedAt": _now(), "_cid": cid}},
                init, restarts=restarts)
            return 128
        with self.lock:
            self.procs[c["name"]] = p
        self.started_any = True
        reader = threading.Thread(target=_pump, args=(p.stdout, p.stderr, log), daemon=True)
        reader.start()
        def running(pod):
            if init:
                return
            pod["status"].update({"phase": "Running", "podIP": "127.0.0.1",
                                  "podIPs": [{"ip": "127.0.0.1"}]})
            if all(x.get("ready") for x in pod["status"].get("containerStatuses", [])):
                _set_conds(pod, [("Ready", "True", None), ("ContainersReady", "True", None)])
        self._set_container_state(c, {"running": {"startedAt": started, "_cid": cid}}, init,
                                  ready=not init, restarts=restarts, also=running)
        rc = self._wait(p)
        # The container's PID 1 is gone: everything else in it dies too.
        procs.killpg(p.pid, signal.SIGKILL)
        procs.kill_marked("%s/%s/%s" % (self.k.sim_id, self.uid, c["name"]))
        reader.join(2)
        log.close()
        with self.lock:
            self.procs.pop(c["name"], None)
        signal_no = -rc if rc < 0 else None
        code = 128 + signal_no if signal_no else rc
        with open(tm_file, "rb") as f:
            msg = f.read(TERM_MSG_CAP).decode("utf-8", "replace")
        if not msg and code != 0 and c.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            _, texts, _, _ = log.snapshot()
            msg = "".join(texts[-FALLBACK_LINES:])[-FALLBACK_BYTES:]
        term = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                "startedAt": started, "finishedAt": _now(), "_cid": cid}
        if signal_no:
            term["signal"] = signal_no
        if msg:
            term["message"] = msg
        self._set_container_state(c, {"terminated": term}, init, restarts=restarts)
        return code

    def _base_env(self, root):
        path = os.environ.get("PATH", "/usr/bin:/bin")
        if root:
            extra = [os.path.join(root, d) for d in ("usr/local/bin", "usr/bin", "bin")
                     if os.path.isdir(os.path.join(root, d))]
            path = ":".join(extra + [path])
        env = {"PATH": path, "HOSTNAME": self.name, "HOME": os.environ.get("HOME", "/root"),
               "LANG": os.environ.get("LANG", "C.UTF-8"),
               "KUBERNETES_SERVICE_HOST": "127.0.0.1",
               "KUBERNETES_SERVICE_PORT": str(self.k.port or 0)}
        for k in ("TMPDIR", "LD_LIBRARY_PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                env[k] = os.environ[k]
        return env

    def _wait(self, p):
        term_deadline = None
        while True:
            try:
                return p.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                pass
            if self.stop.is_set():
                if self.force:
                    procs.killpg(p.pid, signal.SIGKILL)
                elif term_deadline is None:
                    procs.killpg(p.pid, signal.SIGTERM)
                    term_deadline = time.monotonic() + (self.grace if self.grace is not None else 30)
                elif time.monotonic() >= term_deadline:
                    procs.killpg(p.pid, signal.SIGKILL)

    def _kill_all(self):
        with self.lock:
            ps = list(self.procs.values())
        for p in ps:
            procs.killpg(p.pid, signal.SIGKILL)
        procs.kill_marked("%s/%s/" % (self.k.sim_id, self.uid))


def _pump(out, err, log):
    """One thread polls both pipes so lines keep their arrival order across stdout and
    stderr; a partial line is held until its newline (or EOF) arrives."""
    sel = selectors.DefaultSelector()
    pending = {}
    for s in (out, err):
        os.set_blocking(s.fileno(), False)
        try:  # a roomier pipe: the container blocks less, each read takes more
            fcntl.fcntl(s.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        except (OSError, AttributeError):
            pass
        sel.register(s, selectors.EVENT_READ)
        pending[s] = b""
    try:
        while sel.get_map():
            for key, _ in sel.select(timeout=1.0):
                s = key.fileobj
                try:
                    data = os.read(s.fileno(), PIPE_SIZE)
                except BlockingIOError:
                    continue
                if not data:
                    if pending[s]:
                        log.append(pending[s].decode("utf-8", "surrogateescape"))
                    sel.unregister(s)
                    continue
                buf = pending[s] + data
                end = buf.rfind(b"\n") + 1
                pending[s] = buf[end:]
                if end:
                    # a read's whole lines in one go: one decode (a newline byte is
                    # never inside a UTF-8 sequence), one lock, one write, one wake-up
                    whole = buf[:end].decode("utf-8", "surrogateescape").split("\n")
                    whole.pop()
                    log.append_many([line + "\n" for line in whole])
                if len(pending[s]) > MAX_PARTIAL:  # bounded: flush an endless line in pieces
                    log.append(pending[s].decode("utf-8", "surrogateescape"))
                    pending[s] = b""
    finally:
        sel.close()
        out.close()
        err.close()


_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def expand(s, env):
    """Kubernetes $(VAR) expansion; $$ escapes; unknown references stay as written."""
    def rep(m):
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return _VAR.sub(rep, s)


def map_arg(a, map_path):
    if a.startswith("/"):
        return map_path(a)
    head, eq, tail = a.partition("=")
    if eq and tail.startswith("/") and head and " " not in head:
        return head + "=" + map_path(tail)
    return a


def map_env_value(v, map_path):
    if not v.startswith("/"):
        return v
    return ":".join(map_path(p) if p.startswith("/") else p for p in v.split(":"))


class Kubelet:
    def __init__(self, store, faults, images, state_dir, sim_id, token, ca_path):
        self.store = store
        self.faults = faults
        self.images = images
        self.state_dir = state_dir
        self.sim_id = sim_id
        self.token = token
        self.ca_path = ca_path
        self.port = None
        self.lock = threading.Lock()
        self.workers = {}  # pod uid -> PodWorker
        self.logs = {}  # (pod uid, container) -> [LogBuffer per attempt]
        self.log_lines = 200000  # lines kept per container log (the oldest dropped)
        self.queue = store.subscribe()
        self.thread = threading.Thread(target=self._loop, daemon=True, name="kubelet")

    def start(self):
        self.thread.start()

    def log_buffer(self, worker, cname, attempt):
        path = os.path.join(worker.dir, "%s.%d.log" % (cname, attempt))
        buf = LogBuffer(path, self.log_lines)
        with self.lock:
            self.logs.setdefault((worker.uid, cname), []).append(buf)
        return buf

    def logs_for(self, uid, cname):
        with self.lock:
            return list(self.logs.get((uid, cname), []))

    def _loop(self):
        while True:
            ev = self.queue.get()
            if ev is None:
                return
            if ev.rt is not R.POD:
                continue
            pod = ev.obj
            uid = pod["metadata"]["uid"]
            with self.lock:
                w = self.workers.get(uid)
            if ev.type == "ADDED" and w is None and pod["status"].get("phase") in ("Pending", None):
                w = PodWorker(self, pod)
                with self.lock:
                    self.workers[uid] = w
                w.start()
            elif ev.type == "MODIFIED" and pod["metadata"].get("deletionTimestamp") and w:
                grace = pod["metadata"].get("deletionGracePeriodSeconds")
                w.request_stop(grace if grace is not None else
                               pod["spec"].get("terminationGracePeriodSeconds", 30))
            elif ev.type == "DELETED" and w:
                w.request_stop(0, force=True)

    def worker_done(self, w):
        with self.lock:
            self.workers.pop(w.uid, None)
        # A pod that was being deleted goes away once its containers are dead.
        cur = self.store.try_get(R.POD, w.ns, w.name)
        if cur and cur["metadata"]["uid"] == w.uid and cur["metadata"].get("deletionTimestamp"):
            if cur["status"].get("phase") not in ("Succeeded", "Failed"):
                def fail(p):
                    p["status"]["phase"] = "Failed"
                    for cs in p["status"].get("containerStatuses") or []:
                        if "terminated" not in cs["state"]:
                            cs["state"] = {"terminated": {"exitCode": 137, "reason": "ContainerStatusUnknown",
                                                          "message": "The container could not be located when the pod was terminated",
                                                          "startedAt": None, "finishedAt": _now()}}
                self.store.mutate(R.POD, w.ns, w.name, fail)
            self.store.remove(R.POD, w.ns, w.name)

    def worker_for(self, uid):
        with self.lock:
            return self.workers.get(uid)

    def is_running(self, uid):
        with self.lock:
            return uid in self.workers

    def shutdown(self):
        with self.lock:
            ws = list(self.workers.values())
        for w in ws:
            w.request_stop(0, force=True)
        for w in ws:
            w.join(3)
        procs.kill_marked(self.sim_id + "/")
        self.queue.put(None)
