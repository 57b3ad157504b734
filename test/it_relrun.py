"""relrun (the coordinator) end to end: relrun -> k8s_sim -> kubelet runs relrun-pod ->
the fixture release -> logs back -> exit code. Also the failure paths a user meets:
API faults, bad kubeconfig, auth refused, bad expressions, plain http."""
import json
import os
import re
import shutil
import subprocess
import sys
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

    @classmethod
    def setUpClass(cls):
        if not have_all():
            raise unittest.SkipTest("relrun, relrun-pod or the fixture release not built")
        cls.root, imgs = images()
        cls.sim = Sim(tls=cls.tls, images=imgs).start()
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

    def jobs(self):
        return self.sim.get("/apis/batch/v1/namespaces/default/jobs")[2]["items"]


class RunOk(Base):
    def test_logs_in_order_once_and_exit_0(self):
        r = self.run_task('LiveStream.run("s1")', "-o", "json")
        self.assertEqual(r.code, 0, r)
        self.assert_full_log(r, "s1")
        self.assertRegex(r.stderr, r"job/relrun-live-stream-run-\w+ pod/relrun-live-stream-run-"
                                   r"\w+-\w+: succeeded, exit 0, [0-9.]+s, returned "
                                   r"\{:ok, \"s1\"\}")
        # json lines pass through unchanged: every stdout line is a JSON event
        for line in r.stdout.splitlines():
            json.loads(line)

    def test_watch_events_larger_than_64k(self):
        big = ["--env", "BIG1=" + "a" * 100000, "--env", "BIG2=" + "b" * 100000]
        r = self.run_task('LiveStream.run("big")', *big, "-o", "json")
        self.assertEqual(r.code, 0, r)
        self.assert_full_log(r, "big")

    def test_human_output(self):
        r = self.run_task('LiveStream.run("s2")')
        self.assertEqual(r.code, 0, r)
        self.assertRegex(r.stdout, r"(?m)^\d\d:\d\d:\d\d\.\d{3} warning +app +segment 3 of s2 "
                                   r"arrived late stream_id=s2$")
        # a multi-line message: header and metadata on its first line, the rest as is
        self.assertRegex(r.stdout, r"(?m)^\d\d:\d\d:\d\d\.\d{3} info +app +encoder settings: "
                                   r"stream_id=s2\n  codec=h264\n  preset=fast$")
        self.assertNotIn("\033[", r.stdout)  # NO_COLOR and not a TTY
        self.assertNotIn("Pending", r.stderr)  # no phase display on a pipe

    def test_mfa_args(self):
        r = self.relrun("run", *TASK_FLAGS, "-o", "json", "--mfa", "LiveStream.run",
                        "--args", '["s#{1}"]')
        self.assertEqual(r.code, 0, r)
        self.assert_full_log(r, "s#{1}")

    def test_detach_then_wait_logs_list(self):
        r = self.run_task('LiveStream.exit_with(5)', "--detach")
        self.assertEqual(r.code, 0, r)
        name = r.stdout.strip()
        self.assertRegex(name, r"^relrun-live-stream-exit-with-\w+$")
        w = self.relrun("wait", name, "--timeout", "60s")
        self.assertEqual(w.code, 5, w)
        self.assertIn("task failed, exit 5", w.stderr)
        lg = self.relrun("logs", name, "-o", "json")
        self.assertEqual(lg.code, 0, lg)
        self.assertIn("exit", [e.get("event") for e in lg.events()])
        ls = self.relrun("list")
        self.assertEqual(ls.code, 0, ls)
        self.assertRegex(ls.stdout, r"(?m)^%s +Failed +\d+s +LiveStream\.exit_with\(5\)$" % name)

    def test_logs_follow_and_list_json(self):
        r = self.run_task('LiveStream.sleep(1500)', "--detach")
        self.assertEqual(r.code, 0, r)
        name = r.stdout.strip()
        lg = self.relrun("logs", name, "-f", "-o", "json")
        self.assertEqual(lg.code, 0, lg)
        self.assertIn("sleeping 1500 ms", lg.msgs("app"))
        kinds = [e.get("event") for e in lg.events() if e.get("src") == "relrun"]
        self.assertEqual(kinds[-1], "exit", lg)
        ls = self.relrun("list", "-o", "json")
        self.assertEqual(ls.code, 0, ls)
        names = [j["metadata"]["name"] for j in json.loads(ls.stdout)["items"]]
        self.assertIn(name, names)

    def test_interrupt_leaves_the_job_running(self):
        import signal
        p = subprocess.Popen([RELRUN, "--kubeconfig", self.sim.kubeconfig, "run", *TASK_FLAGS,
                              "-o", "json", "LiveStream.sleep(20000)"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            for line in p.stdout:
                if "sleeping 20000 ms" in line:
                    break
            p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        self.outputs += [out, err]
        self.assertEqual(p.returncode, 130, err)
        m = re.search(r"interrupted: job/(\S+) keeps running", err)
        self.assertTrue(m, err)
        name = m.group(1)
        job = [j for j in self.jobs() if j["metadata"]["name"] == name]
        self.assertEqual(len(job), 1)
        self.assertEqual(self.relrun("cancel", name, "--cascade", "foreground").code, 0)

    def test_wait_timeout_gives_124(self):
        r = self.run_task("LiveStream.sleep(4000)", "--detach")
        self.assertEqual(r.code, 0, r)
        name = r.stdout.strip()
        w = self.relrun("wait", name, "--timeout", "1s")
        self.assertEqual(w.code, 124, w)
        self.assertIn("timed out after 1.0s waiting for job/" + name, w.stderr)
        w = self.relrun("wait", name)
        self.assertEqual(w.code, 0, w)
        self.assertIn("succeeded, exit 0", w.stderr)

    def test_wait_after_the_pods_are_gone(self):
        r = self.run_task("LiveStream.exit_with(9)", "--detach")
        name = r.stdout.strip()
        self.assertEqual(self.relrun("wait", name).code, 9)
        ns = "/api/v1/namespaces/default/pods"
        for p in self.sim.get(ns + "?labelSelector=batch.kubernetes.io/job-name=" + name)[2]["items"]:
            self.sim.delete(ns + "/" + p["metadata"]["name"])
        self.sim.wait_for(ns + "?labelSelector=batch.kubernetes.io/job-name=" + name,
                          lambda b: not b["items"])
        # the Job's PodFailurePolicy verdict still names the code
        w = self.relrun("wait", name)
        self.assertEqual(w.code, 9, w)

    def test_wait_unknown_job(self):
        r = self.relrun("wait", "no-such-job")
        self.assertEqual(r.code, 64, r)
        self.assertIn("not found", r.stderr)

    def test_cancel_running_task_gives_75(self):
        p = subprocess.Popen([RELRUN, "--kubeconfig", self.sim.kubeconfig, "run", *TASK_FLAGS,
                              "LiveStream.sleep(30000)"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            name = None
            while time.monotonic() < deadline and not name:
                for j in self.jobs():
                    if "sleep" in j["metadata"]["name"] and j.get("status", {}).get("active"):
                        name = j["metadata"]["name"]
                time.sleep(0.2)
            self.assertIsNotNone(name)
            time.sleep(2)  # let the task start
            c = self.relrun("cancel", name)
            self.assertEqual(c.code, 0, c)
            self.assertIn("job.batch/%s deleted" % name, c.stdout)
            out, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        self.outputs += [out, err]
        self.assertEqual(p.returncode, 75, out + err)
        self.assertIn("killed", err)
        reqs = [q for q in self.sim.requests() if q["method"] == "DELETE"]
        self.assertTrue(reqs and reqs[-1]["query"].get("propagationPolicy") == "Background",
                        reqs)


class Terminal(Base):
    """On a terminal: the pending phase on stderr, colours on stdout unless NO_COLOR."""

    def run_on_pty(self, env_extra):
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
                              'LiveStream.run("tty")'], stdout=out_s, stderr=err_s,
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

    def test_pending_phase_and_colour(self):
        self.sim.fault(kind="slow_start", seconds=2, pod_regex="live-stream-run")
        code, out, err = self.run_on_pty({})
        self.assertEqual(code, 0, out + err)
        self.assertRegex(err, r"Pending: (Init:)?ContainerCreating")
        self.assertIn("\033[33m", out)  # the warning line in yellow
        self.assertIn("segment 3 of tty arrived late", out)

    def test_no_color(self):
        code, out, err = self.run_on_pty({"NO_COLOR": "1"})
        self.assertEqual(code, 0, out + err)
        self.assertIn("segment 3 of tty arrived late", out)
        self.assertNotIn("\033[", out)


class RunFails(Base):
    def test_raise_exits_1(self):
        r = self.run_task("LiveStream.fail()", "-o", "json")
        self.assertEqual(r.code, 1, r)
        self.assertIn("about to fail", r.msgs("app"))
        self.assertIn("task failed, exit 1", r.stderr)

    def test_shutdown_3_exits_3(self):
        r = self.run_task("LiveStream.exit_with(3)")
        self.assertEqual(r.code, 3, r)
        self.assertIn("exit 3", r.stderr)

    def test_release_never_ready_with_boot_retries(self):
        r = self.relrun("run", "--image", APP_IMAGE, "--release", "/app/bin/no_such_release",
                        "--pod-image", POD_IMAGE, "--boot-retries", "1", "-o", "json",
                        'LiveStream.run("x")')
        self.assertEqual(r.code, 70, r)
        self.assertIn("release never ready, exit 70", r.stderr)
        # both attempts' logs, each once
        exits = [e for e in r.events() if e.get("event") == "exit"]
        self.assertEqual(len(exits), 2, r)
        self.assertIn("following the Job's new pod", r.stderr)

    def test_plain_log_lines_and_no_termination_message(self):
        # An image whose relrun-pod is not ours: plain text logs, no termination
        # message (FallbackToLogsOnError gives the log tail), exit 3.
        img = os.path.join(self.root, "plain-image")
        os.makedirs(os.path.join(img, "usr", "local", "bin"), exist_ok=True)
        fake = os.path.join(img, "usr", "local", "bin", "relrun-pod")
        with open(fake, "w") as f:
            f.write("#!/bin/sh\necho 'plain line one'\necho '{not json'\n"
                    "echo 'to stderr' >&2\nexit 3\n")
        os.chmod(fake, 0o755)
        self.sim.add_image("plain:test", img)
        r = self.relrun("run", "--image", "plain:test", "--release", "/app/bin/x",
                        "--inject", "none", "A.b()")
        self.assertEqual(r.code, 3, r)
        for line in ("plain line one", "{not json", "to stderr"):
            self.assertIn(line + "\n", r.stdout)
        self.assertIn("task failed, exit 3", r.stderr)

    def test_init_container_fails(self):
        img = os.path.join(self.root, "broken-pod-image")
        os.makedirs(img, exist_ok=True)
        fake = os.path.join(img, "relrun-pod")
        with open(fake, "w") as f:
            f.write("#!/bin/sh\necho 'cannot install: disk full' >&2\nexit 2\n")
        os.chmod(fake, 0o755)
        self.sim.add_image("broken-pod:test", img)
        r = self.relrun("run", "--image", APP_IMAGE, "--release", "/app/bin/live_stream",
                        "--pod-image", "broken-pod:test", 'LiveStream.run("x")')
        self.assertEqual(r.code, 70, r)
        self.assertIn("cannot install: disk full", r.stdout)
        self.assertIn("init container failed (exit 2)", r.stderr)

    def test_deadline_gives_124(self):
        r = self.run_task("LiveStream.sleep(60000)", "--timeout", "3s")
        self.assertEqual(r.code, 124, r)
        self.assertIn("deadline exceeded", r.stderr)

    def test_bad_expression_posts_nothing(self):
        self.sim.clear_requests()
        r = self.run_task('LiveStream.run("s1"')
        self.assertEqual(r.code, 64, r)
        self.assertIn('unclosed "("', r.stderr)
        self.assertEqual([q for q in self.sim.requests() if q["method"] == "POST"], [])

    def test_usage_errors(self):
        for args in (["run"], ["frobnicate"], ["run", "--no-such-flag", "X.y()"],
                     ["wait"], ["run", "--timeout", "soon", "X.y()"],
                     ["run", *TASK_FLAGS, "--mfa", "nope", "--args", "[1]"]):
            r = self.relrun(*args)
            self.assertEqual(r.code, 64, (args, r))
            self.assertTrue(r.stderr.startswith("relrun: "), r)


class ApiFaults(Base):
    def test_5xx_on_create_is_retried(self):
        self.sim.clear_requests()
        self.sim.fault(kind="status", code=503, count=2, method="POST", path_regex="/jobs$")
        r = self.run_task('LiveStream.run("f1")', "-o", "json")
        self.assertEqual(r.code, 0, r)
        self.assert_full_log(r, "f1")
        reqs = [q for q in self.sim.requests() if q["path"].endswith("/jobs") and
                (q["method"] == "POST" or "relrun.dev/run-id" in
                 q["query"].get("labelSelector", ""))]
        # a 503 may have created the Job after all: every retry looks first
        self.assertEqual([q["method"] for q in reqs], ["POST", "GET", "POST", "GET", "POST"])
        run_id = reqs[1]["query"]["labelSelector"].split("=")[1]
        mine = [j for j in self.jobs() if j["metadata"]["labels"].get("relrun.dev/run-id") == run_id]
        self.assertEqual(len(mine), 1)

    def test_429_plain_text_retry_after(self):
        self.sim.fault(kind="429", retry_after=1, plain=True, count=1, method="POST",
                       path_regex="/jobs$")
        self.sim.clear_requests()
        r = self.run_task('LiveStream.run("f2")', "-o", "json")
        self.assertEqual(r.code, 0, r)
        self.assert_full_log(r, "f2")
        posts = [q for q in self.sim.requests() if q["method"] == "POST" and
                 q["path"].endswith("/jobs")]
        self.assertEqual([q["code"] for q in posts], [429, 201])
        self.assertGreaterEqual(posts[1]["time"] - posts[0]["time"], 0.9)

    def test_dropped_watch(self):
        self.sim.fault(kind="drop_watch", after=1, count=3, path_regex="/pods$")
        r = self.run_task('LiveStream.run("f3")', "-o", "json")
        self.assertEqual(r.code, 0, r)
        self.assert_full_log(r, "f3")

    def test_gone_watch_relists(self):
        self.sim.fault(kind="gone_watch", count=2)
        r = self.run_task('LiveStream.run("f4")', "-o", "json")
        self.assertEqual(r.code, 0, r)
        self.assert_full_log(r, "f4")

    def test_cut_log_stream(self):
        self.sim.fault(kind="cut_log", after=3, count=3)
        r = self.run_task('LiveStream.run("f5")', "-o", "json")
        self.assertEqual(r.code, 0, r)
        self.assert_full_log(r, "f5")
        fired = [f for f in self.sim.faults()["fired"] if f["kind"] == "cut_log"]
        self.assertTrue(fired)

    def test_cut_log_stream_during_a_flood(self):
        self.sim.fault(kind="cut_log", after=50, count=4)
        r = self.run_task("LiveStream.flood(400)", "-o", "json")
        self.assertEqual(r.code, 0, r)
        msgs = [m for m in r.msgs("app") if m.startswith("flood line ")]
        self.assertEqual(msgs, ["flood line %d" % i for i in range(1, 401)])

    def test_slow_container_creating(self):
        self.sim.fault(kind="slow_start", seconds=3, pod_regex="live-stream-run")
        r = self.run_task('LiveStream.run("slow")', "-o", "json")
        self.assertEqual(r.code, 0, r)
        self.assert_full_log(r, "slow")
        self.assertGreater(r.elapsed, 3)

    def test_5xx_forever_gives_69(self):
        self.sim.fault(kind="status", code=500, count=-1, path_regex="/jobs$")
        r = self.run_task('LiveStream.run("x")', "--request-timeout", "5s")
        self.assertEqual(r.code, 69, r)
        self.assertIn("create jobs", r.stderr)


class AuthAndConfig(Base):
    def test_forbidden_create(self):
        self.sim.fault(kind="forbid", verb="create", resource="jobs")
        r = self.run_task('LiveStream.run("x")')
        self.assertEqual(r.code, 77, r)
        self.assertRegex(r.stderr, r"relrun: create jobs: .*forbidden.*cannot create")

    def test_bad_token_401(self):
        r = self.run_task('LiveStream.run("x")', context="sim-badtoken")
        self.assertEqual(r.code, 77, r)
        self.assertIn("Unauthorized", r.stderr)

    def test_client_certificate(self):
        r = self.run_task('LiveStream.exit_with(4)', context="sim-cert")
        self.assertEqual(r.code, 4, r)

    def test_unknown_context(self):
        r = self.run_task('LiveStream.run("x")', context="nope")
        self.assertEqual(r.code, 78, r)
        self.assertIn("nope", r.stderr)

    def test_bad_kubeconfig(self):
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write("apiVersion: v1\nclusters: [\n")
        try:
            r = self.relrun("--kubeconfig", f.name, "run", *TASK_FLAGS, 'LiveStream.run("x")',
                            kubeconfig=False)
        finally:
            os.unlink(f.name)
        self.assertEqual(r.code, 78, r)
        self.assertIn(f.name, r.stderr)

    def kubeconfig_with(self, extra_cluster_line, server=None):
        with open(self.sim.kubeconfig) as f:
            text = f.read()
        out = []
        for line in text.splitlines():
            if server and line.strip().startswith("server:"):
                line = "    server: " + server
            out.append(line)
            if line.strip().startswith("server:"):
                out.append("    " + extra_cluster_line)
        f = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
        f.write("\n".join(out) + "\n")
        f.close()
        self.addCleanup(os.unlink, f.name)
        return f.name

    def test_tls_server_name(self):
        # Connect to 127.0.0.1 but verify the certificate as "localhost".
        kc = self.kubeconfig_with("tls-server-name: localhost")
        r = self.relrun("--kubeconfig", kc, "list", kubeconfig=False)
        self.assertEqual(r.code, 0, r)
        # A name the certificate does not carry fails verification: a config error.
        kc = self.kubeconfig_with("tls-server-name: wrong.example")
        r = self.relrun("--kubeconfig", kc, "list", kubeconfig=False)
        self.assertEqual(r.code, 78, r)

    def test_unreachable_server_gives_69(self):
        kc = self.kubeconfig_with("tls-server-name: localhost", server="https://127.0.0.1:1")
        r = self.relrun("--kubeconfig", kc, "list", kubeconfig=False, timeout=120)
        self.assertEqual(r.code, 69, r)
        self.assertIn("list jobs", r.stderr)

    def test_expired_exec_token_is_refreshed(self):
        # An exec plugin whose first token is already refused (expired): relrun asks it
        # again after the 401 and goes on.
        d = tempfile.mkdtemp(prefix="relrun-exec-")
        self.addCleanup(shutil.rmtree, d, True)
        plugin = os.path.join(d, "plugin")
        with open(plugin, "w") as f:
            f.write("#!/bin/sh\n"
                    "n=$(cat %s/count 2>/dev/null || echo 0); echo $((n+1)) > %s/count\n"
                    "if [ \"$n\" = 0 ]; then t=expired-token; else t=%s; fi\n"
                    "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\","
                    "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"%%s\"}}' $t\n"
                    % (d, d, self.sim.token))
        os.chmod(plugin, 0o755)
        with open(self.sim.kubeconfig) as f:
            ca = next(l for l in f.read().splitlines() if "certificate-authority-data" in l)
        kc = os.path.join(d, "kubeconfig")
        with open(kc, "w") as f:
            f.write("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
                    "    server: %s\n%s\nusers:\n- name: u\n  user:\n    exec:\n"
                    "      apiVersion: client.authentication.k8s.io/v1beta1\n"
                    "      command: %s\n      interactiveMode: Never\n"
                    "contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n"
                    "current-context: x\n" % (self.sim.url, ca, plugin))
        r = self.relrun("--kubeconfig", kc, "list", kubeconfig=False)
        self.assertEqual(r.code, 0, r)
        with open(os.path.join(d, "count")) as f:
            self.assertEqual(f.read().strip(), "2")

    def test_user_agent(self):
        self.sim.clear_requests()
        self.relrun("list")
        agents = {q["user_agent"] for q in self.sim.requests() if q["auth"] != "control"}
        self.assertTrue(agents and all(a.startswith("relrun/") for a in agents), agents)


class ApiGoesAway(unittest.TestCase):
    def test_api_gone_mid_follow_gives_69(self):
        if not have_all():
            self.skipTest("relrun, relrun-pod or the fixture release not built")
        root, imgs = images()
        self.addCleanup(shutil.rmtree, root, True)
        sim = Sim(images=imgs).start()
        try:
            base = [RELRUN, "--kubeconfig", sim.kubeconfig]
            r = subprocess.run(base + ["run", "--detach", *TASK_FLAGS, "LiveStream.sleep(60000)"],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            w = subprocess.Popen(base + ["wait", "--retry-window", "5s", r.stdout.strip()],
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            time.sleep(2)
            sim.proc.kill()  # the API server dies: connections reset, then refused
            out, err = w.communicate(timeout=120)
        finally:
            sim.stop()
        self.assertEqual(w.returncode, 69, out + err)
        self.assertRegex(err, r"relrun: watch (pods|jobs): .*gave up after \d+ attempts")
        self.assertNotIn(sim.token, out + err)


class PlainHttp(Base):
    tls = False

    def test_token_not_sent_over_http(self):
        self.sim.clear_requests()
        r = self.run_task('LiveStream.run("x")')
        self.assertEqual(r.code, 78, r)
        self.assertIn("plain http", r.stderr)
        self.assertEqual([q for q in self.sim.requests() if q["bearer"]], [])


class Cron(Base):
    def test_create_list_trigger_delete(self):
        r = self.relrun("cron", "create", "nightly-encode", "--schedule", "0 3 * * *",
                        *TASK_FLAGS, 'LiveStream.exit_with(6)')
        self.assertEqual(r.code, 0, r)
        self.assertIn("cronjob.batch/nightly-encode created", r.stdout)
        again = self.relrun("cron", "create", "nightly-encode", "--schedule", "0 3 * * *",
                            *TASK_FLAGS, 'LiveStream.exit_with(6)')
        self.assertEqual(again.code, 64, again)
        self.assertIn("already exists", again.stderr)
        ls = self.relrun("cron", "list")
        self.assertEqual(ls.code, 0, ls)
        self.assertRegex(ls.stdout, r"(?m)^nightly-encode +0 3 \* \* \* +False +<none> +"
                                    r"LiveStream\.exit_with\(6\)$")
        # trigger runs one now and follows it like run: logs, then the task's code
        t = self.relrun("cron", "trigger", "nightly-encode", "-o", "json")
        self.assertEqual(t.code, 6, t)
        self.assertIn("exit", [e.get("event") for e in t.events()])
        self.assertRegex(t.stderr, r"job/nightly-encode-manual-\w+ pod/")
        job = [j for j in self.jobs() if j["metadata"]["name"].startswith("nightly-encode-manual-")]
        self.assertEqual(len(job), 1)
        self.assertEqual(job[0]["metadata"]["ownerReferences"][0]["kind"], "CronJob")
        for action, want in (("suspend", True), ("resume", False)):
            r = self.relrun("cron", action, "nightly-encode")
            self.assertEqual(r.code, 0, r)
            _, _, cj = self.sim.get("/apis/batch/v1/namespaces/default/cronjobs/nightly-encode")
            self.assertEqual(cj["spec"]["suspend"], want)
        d = self.relrun("cron", "delete", "nightly-encode")
        self.assertEqual(d.code, 0, d)
        code, _, _ = self.sim.get("/apis/batch/v1/namespaces/default/cronjobs/nightly-encode")
        self.assertEqual(code, 404)

    @needs_kubectl
    def test_render_is_accepted_by_kubectl(self):
        r = self.relrun("cron", "render", "hourly-report", "--schedule", "@hourly",
                        "--time-zone", "Europe/Berlin", *TASK_FLAGS, 'LiveStream.run("h")',
                        kubeconfig=False)
        self.assertEqual(r.code, 0, r)
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(r.stdout)
        self.addCleanup(os.unlink, f.name)
        k = self.sim.kubectl("create", "-f", f.name)
        self.assertEqual(k.returncode, 0, k.stderr)
        self.assertIn("cronjob.batch/hourly-report created", k.stdout)

    def test_usage(self):
        for args in (["cron"], ["cron", "frob"], ["cron", "create", "x"],
                     ["cron", "create", "x", "A.b()"]):
            r = self.relrun(*args, *TASK_FLAGS[:0])
            self.assertEqual(r.code, 64, (args, r))


class RenderAndKubectl(Base):
    @needs_kubectl
    def test_render_yaml_accepted_by_kubectl(self):
        r = self.relrun("render", *TASK_FLAGS, "--cookie-secret", "app-cookie",
                        "--env-from-secret", "app-env", "--env", "MODE=batch",
                        'LiveStream.run("k1")', "-o", "yaml", kubeconfig=False)
        self.assertEqual(r.code, 0, r)
        self.assertIn("app-cookie", r.stdout)  # a reference to the secret, no value
        self.assertIn("secretKeyRef", r.stdout)
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(r.stdout)
        try:
            k = self.sim.kubectl("create", "-f", f.name)
        finally:
            os.unlink(f.name)
        self.assertEqual(k.returncode, 0, k.stderr)
        self.assertRegex(k.stdout, r"job.batch/relrun-live-stream-run-\w+ created")

    def test_render_json(self):
        r = self.relrun("render", *TASK_FLAGS, "--timeout", "90s", 'LiveStream.run("k2")',
                        "-o", "json", kubeconfig=False)
        self.assertEqual(r.code, 0, r)
        job = json.loads(r.stdout)
        self.assertEqual(job["kind"], "Job")
        self.assertEqual(job["spec"]["activeDeadlineSeconds"], 90)

    @needs_kubectl
    def test_kubectl_plugin(self):
        path = os.path.join(BUILD, "cmd", "relrun")
        env = dict(os.environ, PATH=path + os.pathsep + os.environ["PATH"])
        k = subprocess.run(["kubectl", "relrun", "version"], capture_output=True, text=True,
                           env=env, timeout=60)
        self.assertEqual(k.returncode, 0, k.stderr)
        self.assertRegex(k.stdout, r"^relrun \d+\.\d+\.\d+")
        k = subprocess.run(["kubectl", "relrun", "--kubeconfig", self.sim.kubeconfig, "run",
                            *TASK_FLAGS, "LiveStream.exit_with(7)"], capture_output=True,
                           text=True, env=env, timeout=120)
        self.outputs += [k.stdout, k.stderr]
        self.assertEqual(k.returncode, 7, k.stdout + k.stderr)

    def test_install_creates_kubectl_plugin(self):
        prefix = tempfile.mkdtemp(prefix="relrun-install-")
        self.addCleanup(shutil.rmtree, prefix, True)
        # only relrun's own install rules (cmd/relrun's cmake_install.cmake)
        p = subprocess.run(["cmake", "--install", os.path.join(BUILD, "cmd", "relrun"),
                            "--prefix", prefix], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        plugin = os.path.join(prefix, "bin", "kubectl-relrun")
        self.assertTrue(os.path.islink(plugin) or os.path.isfile(plugin))
        v = subprocess.run([plugin, "version"], capture_output=True, text=True)
        self.assertEqual(v.returncode, 0, v.stderr)
        self.assertTrue(v.stdout.startswith("relrun "))

    def test_help_covers_every_flag(self):
        r = self.relrun("run", "--help", kubeconfig=False)
        self.assertEqual(r.code, 0, r)
        for flag in ("--image", "--release", "--env", "--env-from-secret", "--cookie-secret",
                     "--cpu", "--memory", "--service-account", "--timeout", "--backoff-limit",
                     "--boot-retries", "--ttl", "--detach", "--inject", "--pod-image",
                     "--error-exit", "--ready-timeout", "--grace", "--rpc", "--namespace",
                     "--context", "--kubeconfig", "--output", "--request-timeout", "--mfa",
                     "--args"):
            self.assertIn(flag, r.stdout)
        for sub in ("render", "logs", "wait", "list", "cancel", "version"):
            r = self.relrun(sub, "--help", kubeconfig=False)
            self.assertEqual(r.code, 0, r)
            self.assertIn("usage: relrun " + sub, r.stdout)


if __name__ == "__main__":
    unittest.main()
