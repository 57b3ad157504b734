"""What it_follow and it_outage share: the images, one relrun run as a result, a base
class that starts the simulator (one per class, or one per test for outages)."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from simlib import Sim

RELRUN = os.environ.get("RELRUN_BIN", "")
POD_BIN = os.environ.get("RELRUN_POD_BIN", "")
REL = os.environ.get("RELRUN_FIXTURE_REL", "")

APP_IMAGE = "live-stream:test"
POD_IMAGE = "relrun-pod:test"
APP_FORMAT = "$date $time [$level] $metadata| $message"
RELEASE = ["--release", "/app/bin/live_stream", "--app-format", APP_FORMAT]
TASK_FLAGS = ["--image", APP_IMAGE, "--pod-image", POD_IMAGE] + RELEASE
# A task that logs "tick 1".."tick N" over a while.
TICKS = 'Enum.each(1..%d, fn i -> IO.puts("tick #{i}"); Process.sleep(%d) end)'


def have_all():
    return all(os.path.exists(p) for p in (RELRUN, POD_BIN, os.path.join(REL, "bin", "live_stream")))


def images():
    root = tempfile.mkdtemp(prefix="relrun-follow-")
    app = os.path.join(root, "app-image")
    os.makedirs(app)
    os.symlink(os.path.abspath(REL), os.path.join(app, "app"))
    pod = os.path.join(root, "pod-image")
    os.makedirs(pod)
    shutil.copy(POD_BIN, os.path.join(pod, "relrun-pod"))
    return root, {APP_IMAGE: app, POD_IMAGE: pod}


class Run:
    def __init__(self, code, out, err, elapsed):
        self.code, self.stdout, self.stderr, self.elapsed = code, out, err, elapsed

    def summary(self):
        last = self.stdout.strip().splitlines()[-1]
        s = json.loads(last)
        assert s.get("relrun") == "summary", last
        return s

    def ticks(self):
        out = []
        for line in self.stdout.splitlines():
            if line.startswith("{"):
                m = re.fullmatch(r"tick (\d+)", json.loads(line).get("msg", ""))
                if m:
                    out.append(int(m.group(1)))
        return out

    def job(self):
        m = re.search(r"job/(\S+) created", self.stderr)
        return m.group(1) if m else None

    def __repr__(self):
        return "exit %s after %.1fs\n--- stdout\n%s\n--- stderr\n%s" % (
            self.code, self.elapsed, self.stdout, self.stderr)


class Base(unittest.TestCase):
    own_sim = False  # a simulator per test (outages), else one per class

    @classmethod
    def setUpClass(cls):
        if not have_all():
            raise unittest.SkipTest("relrun, relrun-pod or the fixture release not built")
        cls.root, cls.imgs = images()
        cls.sim = None if cls.own_sim else Sim(images=cls.imgs).start()

    @classmethod
    def tearDownClass(cls):
        if cls.sim:
            left = cls.sim.stop()
            if left:
                raise AssertionError("processes left behind: %s" % left)
        shutil.rmtree(cls.root, ignore_errors=True)

    def setUp(self):
        if self.own_sim:
            self.sim = Sim(images=self.imgs).start()
            self.addCleanup(self.sim.stop)

    def tearDown(self):
        if not self.own_sim:
            self.sim.clear_faults()

    def argv(self, *args):
        return [RELRUN, "--kubeconfig", self.sim.kubeconfig] + list(args)

    def env(self):
        e = dict(os.environ, NO_COLOR="1")
        e.pop("KUBECONFIG", None)
        return e

    def relrun(self, *args, timeout=120):
        t = time.monotonic()
        p = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout,
                           env=self.env())
        r = Run(p.returncode, p.stdout, p.stderr, time.monotonic() - t)
        self.assertNotIn(self.sim.token, p.stdout + p.stderr)
        return r

    def popen(self, *args):
        return subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=self.env())

    def job_state(self, name):
        """None when the Job is gone, else its object."""
        code, _, body = self.sim.get("/apis/batch/v1/namespaces/default/jobs/" + name)
        return body if code == 200 else None

    def assert_deleted(self, name):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            j = self.job_state(name)
            if j is None or j["metadata"].get("deletionTimestamp"):
                return
            time.sleep(0.1)
        self.fail("job/%s still there, not being deleted" % name)

    def delete_requests(self, name):
        return [q for q in self.sim.requests()
                if q["method"] == "DELETE" and q["path"].endswith("/jobs/" + name)]
