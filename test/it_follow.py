"""Following a Job when its pod cannot run, and when the API server goes away: relrun ->
k8s_sim -> kubelet -> relrun-pod -> the fixture release. Each case as a user meets it:
the exit code, the failed phase, the container and image named, the Job deleted or
kept, a progress line in a CI log, every log line once across an outage, Ctrl-C at once."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
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


class PodNeverRuns(Base):
    def test_task_image_that_never_pulls(self):
        r = self.relrun("run", "--image", "live-stream:missing", "--pod-image", POD_IMAGE,
                        *RELEASE, "-o", "json", 'LiveStream.run("x")')
        self.assertEqual(r.code, 70, r)
        # After the first back-off, not after two minutes of back-off.
        self.assertLess(r.elapsed, 30, r)
        self.assertRegex(r.stderr, r"image pull: task container task \(image live-stream:missing\): "
                                   r"(ImagePullBackOff|ErrImagePull)", r)
        self.assertNotIn("relrun-pod:test", r.stderr.split("created")[-1])
        s = r.summary()
        self.assertEqual((s["phase"], s["failed_phase"], s["exit_code"]), ("failed", "image pull", 70))
        # The Job goes (foreground), so the task cannot run later unwatched; and it says so.
        self.assertIn("job/%s deleted" % r.job(), r.stderr)
        self.assert_deleted(r.job())
        dels = self.delete_requests(r.job())
        self.assertTrue(dels, "no DELETE of the job")

    def test_pod_image_that_never_pulls_is_the_init_container(self):
        r = self.relrun("run", "--image", APP_IMAGE, "--pod-image", "relrun-pod:missing",
                        "--keep-failed", *RELEASE, 'LiveStream.run("x")')
        self.assertEqual(r.code, 70, r)
        self.assertRegex(r.stderr, r"image pull: init container \S+ \(image relrun-pod:missing\)", r)
        # --keep-failed: left for inspection, and the summary says so.
        self.assertIn("job/%s left in the cluster (--keep-failed)" % r.job(), r.stderr)
        j = self.job_state(r.job())
        self.assertIsNotNone(j, r)
        self.assertNotIn("deletionTimestamp", j["metadata"])
        self.assertEqual(self.delete_requests(r.job()), [])

    def test_invalid_image_name_fails_at_once(self):
        r = self.relrun("run", "--image", "Live-Stream:test", "--pod-image", POD_IMAGE,
                        *RELEASE, 'LiveStream.run("x")')
        self.assertEqual(r.code, 70, r)
        self.assertRegex(r.stderr, r"image pull: task container task \(image Live-Stream:test\): "
                                   r"InvalidImageName", r)

    def test_missing_secret_is_a_config_error(self):
        r = self.relrun("run", *TASK_FLAGS, "--env-from-secret", "db-creds", "-o", "json",
                        'LiveStream.run("x")')
        self.assertEqual(r.code, 78, r)
        self.assertRegex(r.stderr, r"container config: task container task .*"
                                   r"CreateContainerConfigError: secret \"db-creds\" not found", r)
        self.assertEqual(r.summary()["failed_phase"], "container config")
        self.assert_deleted(r.job())

    def test_failed_create_names_the_quota_and_the_flag(self):
        self.sim.fault(kind="fail_create", count=-1)
        r = self.relrun("run", *TASK_FLAGS, "-o", "json", 'LiveStream.run("x")')
        self.assertEqual(r.code, 78, r)
        self.assertIn("pod rejected: Error creating: pods", r.stderr)
        self.assertIn("exceeded quota", r.stderr)
        self.assertIn("--cpu and --memory", r.stderr)
        self.assertEqual(r.summary()["failed_phase"], "pod rejected")
        self.assert_deleted(r.job())

    def test_unschedulable_says_why_at_once_then_gives_up(self):
        # On a pipe: the scheduler's message at once, a progress line about every 15 s.
        p = self.popen("run", *TASK_FLAGS, "--cpu", "64", "--schedule-timeout", "17s",
                       'LiveStream.run("x")')
        err = []
        t = threading.Thread(target=lambda: err.extend(p.stderr), daemon=True)
        t.start()
        seen = None
        deadline = time.monotonic() + 10
        while seen is None and time.monotonic() < deadline:
            seen = next((l for l in err if "Unschedulable" in l), None)
            time.sleep(0.1)
        self.assertIsNotNone(seen, "".join(err))
        self.assertIn("Insufficient cpu", seen)
        out = p.stdout.read()
        p.wait(60)
        t.join(5)
        text = "".join(err)
        self.assertEqual(p.returncode, 124, text + out)
        self.assertRegex(text, r"never scheduled: Unschedulable for 17s \(--schedule-timeout\)")
        progress = [l for l in err if re.match(r"relrun: job/\S+: Pending: Unschedulable: .*, 1[5-7]s$",
                                               l.rstrip("\n"))]
        self.assertEqual(len(progress), 1, text)
        self.assertRegex(text, r"job/\S+ deleted")

    def test_unschedulable_until_a_node_comes(self):
        self.sim.fault(kind="unschedulable", seconds=3)
        r = self.relrun("run", *TASK_FLAGS, "-o", "json", 'LiveStream.run("x")')
        self.assertEqual(r.code, 0, r)
        self.assertIn("Unschedulable", r.stderr)  # said at once, even on a pipe

    def test_terminal_pending_line_has_elapsed_time_and_image(self):
        import pty
        import select
        self.sim.fault(kind="slow_start", seconds=3, pod_regex="live-stream-run")
        err_m, err_s = pty.openpty()
        env = self.env()
        env.pop("NO_COLOR", None)
        env["TERM"] = "xterm"
        p = subprocess.Popen(self.argv("run", *TASK_FLAGS, 'LiveStream.run("tty")'),
                             stdout=subprocess.DEVNULL, stderr=err_s, stdin=subprocess.DEVNULL,
                             env=env)
        os.close(err_s)
        err = b""
        while True:
            ready, _, _ = select.select([err_m], [], [], 60)
            try:
                data = os.read(err_m, 65536) if ready else b""
            except OSError:
                data = b""
            if not data:
                break
            err += data
        os.close(err_m)
        self.assertEqual(p.wait(30), 0, err)
        text = err.decode(errors="replace")
        shown = re.findall(r"Pending: Init:ContainerCreating \(image relrun-pod:test\) \.\.\. (\d+)s",
                           text)
        # redrawn as the seconds pass, on one line
        self.assertGreaterEqual(len(set(shown)), 2, text)
        self.assertIn("\r\033[K", text)

    def test_help_states_the_defaults(self):
        r = self.relrun("run", "--help")
        self.assertRegex(r.stdout, r"--schedule-timeout D[^\n]*\n[^\n]*default 15m")
        self.assertRegex(r.stdout, r"--retry-window D[^\n]*\n[^\n]*default 10m")
        self.assertIn("130/143", r.stdout)


class NeverTwice(Base):
    def pods_that_ran_the_task(self, job):
        """Pods of job whose task container started (the kubelet keeps its log file)."""
        d = os.path.join(self.sim.state_dir, "pods")
        return [n for n in os.listdir(d) if n.startswith("default_%s-" % job) and
                os.path.exists(os.path.join(d, n, "task.0.log"))]

    def test_job_asks_for_no_overlapping_replacement(self):
        r = self.relrun("run", "--detach", *TASK_FLAGS, "--boot-retries", "2", 'LiveStream.run("x")')
        self.assertEqual(r.code, 0, r)
        job = self.job_state(r.stdout.strip())
        self.assertEqual(job["spec"]["podReplacementPolicy"], "Failed")
        self.relrun("cancel", r.stdout.strip())

    def test_a_task_that_ran_and_exited_70_is_not_run_again(self):
        # 70 is the boot-failure code the Job's podFailurePolicy counts against
        # --boot-retries; the termination message says the task ran.
        r = self.relrun("run", *TASK_FLAGS, "--boot-retries", "2", "-o", "json",
                        "LiveStream.exit_with(70)")
        self.assertEqual(r.code, 70, r)
        s = r.summary()
        self.assertEqual(s["failed_phase"], "task failed", r)
        self.assertIn("deleted so that its boot retries do not run the task again", r.stderr)
        self.assert_deleted(r.job())
        time.sleep(3)  # a replacement would have started by now
        self.assertEqual(len(self.pods_that_ran_the_task(r.job())), 1, r)


class Outage(Base):
    own_sim = True

    def start_ticking(self, n, every_ms, *flags):
        p = self.popen("run", *TASK_FLAGS, "-o", "json", *flags, TICKS % (n, every_ms))
        out = []
        t = threading.Thread(target=lambda: out.extend(p.stdout), daemon=True)
        t.start()
        deadline = time.monotonic() + 60
        while not any('"tick 3"' in l for l in out):
            self.assertLess(time.monotonic(), deadline, "no tick 3: %s" % out)
            self.assertIsNone(p.poll(), "".join(out))
            time.sleep(0.05)
        return p, out, t

    def test_outage_of_ten_seconds_loses_and_doubles_nothing(self):
        p, out, t = self.start_ticking(40, 400, "--retry-window", "60s")
        self.sim.outage(10)
        time.sleep(1)
        # The API is really away: connections refused.
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", self.sim.port), timeout=2).close()
        err = p.stderr.read()
        p.wait(120)
        t.join(5)
        r = Run(p.returncode, "".join(out), err, 0)
        self.assertEqual(r.code, 0, r)
        self.assertEqual(r.ticks(), list(range(1, 41)), r)
        self.assertEqual(r.summary()["phase"], "succeeded")

    def test_giving_up_says_the_task_may_still_run(self):
        p, out, t = self.start_ticking(100, 300, "--retry-window", "3s")
        self.sim.outage(12)
        err = p.stderr.read()
        p.wait(60)
        t.join(5)
        self.assertEqual(p.returncode, 69, err)
        self.assertIn("gave up after", err)
        job = re.search(r"job/(\S+) created", err).group(1)
        self.assertIn("the task may still be running", err)
        self.assertIn("relrun logs %s -f" % job, err)
        self.assertIn("relrun wait %s" % job, err)

    def test_ctrl_c_and_sigterm_during_the_outage_end_at_once(self):
        for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
            with self.subTest(sig=sig):
                p, out, t = self.start_ticking(200, 300)
                self.sim.outage(6)
                time.sleep(2.5)  # relrun is retrying, between backoff sleeps
                t0 = time.monotonic()
                p.send_signal(sig)
                err = p.stderr.read()
                p.wait(30)
                took = time.monotonic() - t0
                t.join(5)
                self.assertEqual(p.returncode, code, err)
                self.assertLess(took, 2, err)
                self.assertIn("interrupted", err)
                time.sleep(4)  # the API back for the next round

    def test_ctrl_c_while_a_create_is_retried(self):
        self.sim.fault(kind="status", code=503, count=-1, method="POST", path_regex="/jobs$")
        p = self.popen("run", *TASK_FLAGS, 'LiveStream.run("x")')
        time.sleep(1.5)
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 130, err)
        self.assertLess(time.monotonic() - t0, 2, err)


if __name__ == "__main__":
    unittest.main()
