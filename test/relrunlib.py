"""The set-up every relrun end-to-end test shares: the simulator with the fixture release
and relrun-pod images, relrun run as a subprocess, and the checks on what it printed
(it_relrun*.py, it_relrun_ci.py)."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from simlib import Sim

RELRUN = os.environ.get("RELRUN_BIN", "")
KUBECTL = shutil.which("kubectl")
needs_kubectl = unittest.skipUnless(KUBECTL, "kubectl not installed")
POD_BIN = os.environ.get("RELRUN_POD_BIN", "")
REL = os.environ.get("RELRUN_FIXTURE_REL", "")
BUILD = os.environ.get("RELRUN_BUILD_DIR", "")
SOURCE = os.environ.get("RELRUN_SOURCE_DIR", os.path.join(os.path.dirname(__file__), ".."))

APP_IMAGE = "live-stream:test"
POD_IMAGE = "relrun-pod:test"
APP_FORMAT = "$date $time [$level] $metadata| $message"
TASK_FLAGS = ["--image", APP_IMAGE, "--release", "/app/bin/live_stream",
              "--pod-image", POD_IMAGE, "--app-format", APP_FORMAT]

# The messages LiveStream.run/1 logs, in the order it logs them.
RUN_MSGS = ["encode start {id} bitrate=3000",
            "encoder settings:\n  codec=h264\n  preset=fast",
            "segment 3 of {id} arrived late",
            "uploader for {id} running",
            "encode done {id}"]


def have_all():
    return all(os.path.exists(p) for p in (RELRUN, POD_BIN, os.path.join(REL, "bin", "live_stream")))


def images():
    """Image roots: the app image has the fixture release at /app, the relrun-pod image
    the runner at /relrun-pod."""
    root = tempfile.mkdtemp(prefix="relrun-it-")
    app = os.path.join(root, "app-image")
    os.makedirs(app)
    os.symlink(os.path.abspath(REL), os.path.join(app, "app"))
    pod = os.path.join(root, "pod-image")
    os.makedirs(pod)
    shutil.copy(POD_BIN, os.path.join(pod, "relrun-pod"))
    return root, {APP_IMAGE: app, POD_IMAGE: pod}


class Result:
    def __init__(self, p, elapsed):
        self.code = p.returncode
        self.stdout = p.stdout
        self.stderr = p.stderr
        self.elapsed = elapsed

    def events(self):
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]

    def msgs(self, src="app"):
        return [e["msg"] for e in self.events() if e.get("src") == src]

    def __repr__(self):
        return "exit %s\n--- stdout\n%s\n--- stderr\n%s" % (self.code, self.stdout, self.stderr)


class Base(unittest.TestCase):
    sim = None
    tls = True
    sim_options = {}  # more keyword arguments for the class's simulator

    @classmethod
    def setUpClass(cls):
        if not have_all():
            raise unittest.SkipTest("relrun, relrun-pod or the fixture release not built")
        cls.root, imgs = images()
        cls.sim = Sim(tls=cls.tls, images=imgs, **cls.sim_options).start()
        cls.outputs = []

    @classmethod
    def tearDownClass(cls):
        if cls.sim:
            left = cls.sim.stop()
            shutil.rmtree(cls.root, ignore_errors=True)
            if left:
                raise AssertionError("processes left behind: %s" % left)

    def tearDown(self):
        self.sim.clear_faults()
        # The token never shows up in anything relrun printed.
        for out in self.outputs:
            self.assertNotIn(self.sim.token, out)
        self.outputs.clear()

    def relrun(self, *args, kubeconfig=True, env=None, timeout=120, context=None):
        argv = [RELRUN]
        if kubeconfig:
            argv += ["--kubeconfig", self.sim.kubeconfig]
        if context:
            argv += ["--context", context]
        argv += list(args)
        e = dict(os.environ)
        e.pop("KUBECONFIG", None)
        e["NO_COLOR"] = "1"
        e.update(env or {})
        t = time.monotonic()
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=e)
        r = Result(p, time.monotonic() - t)
        self.outputs += [r.stdout, r.stderr]
        return r

    def run_task(self, expr, *flags, **kw):
        return self.relrun("run", *TASK_FLAGS, *flags, expr, **kw)

    def assert_full_log(self, r, sid):
        msgs = r.msgs("app")
        want = [m.format(id=sid) for m in RUN_MSGS]
        # Whole lines across all app events, once each and in order. How lines
        # group into events when the release's writes coalesce is logline's test.
        text = "\n" + "\n".join(msgs) + "\n"
        at = []
        for m in want:
            self.assertEqual(text.count("\n" + m + "\n"), 1, "%r once in %r\n%r" % (m, msgs, r))
            at.append(text.index("\n" + m + "\n"))
        self.assertEqual(at, sorted(at), r)
        # the runner's own events: each once, the exit last
        kinds = [e.get("event") for e in r.events() if e.get("src") == "relrun"]
        for k in ("start", "ready", "result", "exit"):
            self.assertEqual(kinds.count(k), 1, "%s in %s" % (k, kinds))
        self.assertEqual(kinds[-1], "exit")
        # no line of the pod log twice
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), len(set(lines)), r)

    def run_on_pty(self, env_extra, expr='LiveStream.run("tty")'):
        """relrun run EXPR with stdout and stderr on terminals."""
        import pty
        import select
        out_m, out_s = pty.openpty()
        err_m, err_s = pty.openpty()
        env = dict(os.environ)
        env.pop("NO_COLOR", None)
        env.pop("KUBECONFIG", None)
        env["TERM"] = "xterm"
        env.update(env_extra)
        p = subprocess.Popen([RELRUN, "--kubeconfig", self.sim.kubeconfig, "run", *TASK_FLAGS,
                              expr], stdout=out_s, stderr=err_s,
                             stdin=subprocess.DEVNULL, env=env)
        os.close(out_s)
        os.close(err_s)
        bufs = {out_m: b"", err_m: b""}
        open_fds = [out_m, err_m]
        deadline = time.monotonic() + 120
        while open_fds and time.monotonic() < deadline:
            ready, _, _ = select.select(open_fds, [], [], 1)
            for fd in ready:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    data = b""
                if not data:
                    open_fds.remove(fd)
                    os.close(fd)
                else:
                    bufs[fd] += data
        code = p.wait(timeout=30)
        out, err = bufs[out_m].decode(errors="replace"), bufs[err_m].decode(errors="replace")
        self.outputs += [out, err]
        return code, out, err

    def jobs(self):
        return self.sim.get("/apis/batch/v1/namespaces/default/jobs")[2]["items"]
