"""relrun-pod's exit contract on the real fixture release, both backends:
what the task, the VM and signals turn into (DESIGN.md's exit-code table)."""
import json
import os
import signal
import subprocess
import tempfile
import unittest

import podlib
from podlib import APP_FORMAT, POD, RELEASE, beam_pid, beam_running, node_env, pod_argv, run_pod

BACKENDS = ["script", "dist"]


def each_backend(test):
    """Run the test body once per backend, as a subTest each."""
    def wrapper(self):
        saved = podlib.RPC["backend"]
        try:
            for b in BACKENDS:
                podlib.RPC["backend"] = b
                with self.subTest(backend=b):
                    test(self)
        finally:
            podlib.RPC["backend"] = saved
    wrapper.__name__ = test.__name__
    return wrapper


def start_pod(expr, env, *flags):
    """relrun-pod in the background; returns (Popen, termination-log path)."""
    term = os.path.join(tempfile.mkdtemp(prefix="relrun-pod-test-"), "term")
    p = subprocess.Popen(pod_argv() + ["--app-format", APP_FORMAT, "--termination-log", term,
                                       *flags, "--", expr],
                         stdout=subprocess.PIPE, text=True, env=env)
    return p, term


def read_until(p, pred):
    """Events from p's stdout up to and including the first that pred accepts."""
    seen = []
    for line in p.stdout:
        seen.append(json.loads(line))
        if pred(seen[-1]):
            return seen
    raise AssertionError("never came: %r" % seen)


def events(text):
    return [json.loads(l) for l in text.splitlines() if l.strip()]


class ExitContract(unittest.TestCase):
    @each_backend
    def test_system_halt_n_gives_n(self):
        r = run_pod("LiveStream.halt(3)")
        self.assertEqual(r.code, 3, r.stdout)
        self.assertEqual(r.term["exit_code"], 3)
        self.assertEqual(r.term["phase"], "task")
        self.assertIn("System.halt", r.term["reason"])
        self.assertIn("halting with 3", r.msgs("app"))
        self.assertFalse(beam_running(r.node))

    @each_backend
    def test_vm_killed_mid_task_is_75_killed_with_the_signal(self):
        # an OOM kill: never 70, which the Job's podFailurePolicy retries as a boot failure
        env = node_env()
        p, term = start_pod("LiveStream.sleep(60000)", env)
        read_until(p, lambda e: "sleeping 60000 ms" in e["msg"])
        os.kill(beam_pid(env["RELEASE_NODE"]), signal.SIGKILL)
        rest, _ = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 75, rest)
        with open(term) as f:
            t = json.load(f)
        self.assertEqual(t["exit_code"], 75)
        self.assertEqual(t["phase"], "killed")
        self.assertIn("SIGKILL", t["reason"])
        last = events(rest)[-1]
        self.assertEqual(last["event"], "exit")
        self.assertIn("SIGKILL", last["msg"])

    @each_backend
    def test_signal_after_the_outcome_keeps_it(self):
        # the task succeeded; the release's stop callback is slow; a SIGTERM
        # now (the pod deleted while it stops) must not turn 0 into 75
        env = node_env({"LIVE_STREAM_STOP_DELAY_MS": "1500"})
        p, term = start_pod('LiveStream.run("k1")', env)
        read_until(p, lambda e: e.get("event") == "result")
        p.send_signal(signal.SIGTERM)
        rest, _ = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, rest)
        with open(term) as f:
            t = json.load(f)
        self.assertEqual(t["exit_code"], 0)
        self.assertEqual(t["phase"], "task")
        msgs = [e["msg"] for e in events(rest)]
        self.assertIn("live_stream application stopped", msgs)  # the stop went on
        self.assertTrue(any("keeping exit 0" in m for m in msgs), msgs)
        self.assertFalse(beam_running(env["RELEASE_NODE"]))

    def test_distribution_none_is_78_at_once_on_every_backend(self):
        for backend in ["script", "dist", "auto"]:
            with self.subTest(backend=backend):
                term = os.path.join(tempfile.mkdtemp(), "term")
                p = subprocess.run([POD, "--release", RELEASE, "--rpc", backend,
                                    "--termination-log", term, "--", 'LiveStream.run("n1")'],
                                   capture_output=True, text=True, timeout=60,
                                   env=node_env({"RELEASE_DISTRIBUTION": "none"}))
                self.assertEqual(p.returncode, 78, p.stdout + p.stderr)
                ev = events(p.stdout)
                self.assertEqual(ev[-1]["event"], "exit")
                self.assertEqual(ev[-1]["level"], "error")
                self.assertIn("RELEASE_DISTRIBUTION=none", ev[-1]["msg"])
                # at once: the release was not even started
                self.assertNotIn("start", [e.get("event") for e in ev])
                with open(term) as f:
                    t = json.load(f)
                self.assertEqual(t["exit_code"], 78)
                self.assertEqual(t["phase"], "config")
                self.assertIn("RELEASE_DISTRIBUTION=none", t["reason"])

    @each_backend
    def test_raise_puts_the_exceptions_first_line_in_the_reason(self):
        r = run_pod("LiveStream.fail()")
        self.assertEqual(r.code, 1)
        self.assertIn("** (RuntimeError) encoder crashed", r.term["reason"])
        self.assertNotIn("\n", r.term["reason"])

    @each_backend
    def test_last_log_line_comes_before_the_error_and_the_result(self):
        r = run_pod("LiveStream.fail_after_log(30)")
        self.assertEqual(r.code, 1, r.stdout)
        msgs = [e["msg"] for e in r.events]
        last = msgs.index("last line before the raise")
        err = next(i for i, e in enumerate(r.events)
                   if e["src"] == "rpc" and "RuntimeError" in e["msg"])
        self.assertLess(last, err, msgs)
        self.assertEqual([m for m in msgs if m.startswith("work ")],
                         ["work %d" % i for i in range(1, 31)])
        r = run_pod("LiveStream.flood(300)")
        self.assertEqual(r.code, 0)
        msgs = [e["msg"] for e in r.events]
        result = next(i for i, e in enumerate(r.events) if e.get("event") == "result")
        self.assertLess(msgs.index("flood line 300"), result)

    @each_backend
    def test_a_daemon_the_release_started_is_stopped(self):
        # relrun-pod is not PID 1 here: the daemon (own session, outside the
        # release's process group) is stopped all the same
        pidfile = os.path.join(tempfile.mkdtemp(), "daemon.pid")
        r = run_pod('LiveStream.daemon("%s")' % pidfile)
        self.assertEqual(r.code, 0, r.stdout)
        with open(pidfile) as f:
            pid = int(f.read())
        try:
            self.assertFalse(os.path.exists("/proc/%d" % pid), "daemon %d still runs" % pid)
            self.assertTrue(any("left running" in m for m in r.msgs("relrun")), r.msgs("relrun"))
        finally:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


if __name__ == "__main__":
    unittest.main()
