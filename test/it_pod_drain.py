"""relrun-pod --on-term: the drain hook on SIGTERM, on the real fixture release. The hook
runs on the task's node before the release stops: its log lines, then its effect (a file
LiveStream.checkpoint/1 writes), then the stop callbacks; the termination message says
the task was drained."""
import json
import os
import signal
import subprocess
import tempfile
import unittest

from podlib import APP_FORMAT, beam_running, node_env, pod_argv


class Drain(unittest.TestCase):
    def start(self, env, term, *flags):
        p = subprocess.Popen(pod_argv() + ["--app-format", APP_FORMAT, "--termination-log", term,
                                           *flags, "--", "LiveStream.sleep(60000)"],
                             stdout=subprocess.PIPE, text=True, env=env)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        for line in p.stdout:
            if "sleeping 60000 ms" in json.loads(line)["msg"]:
                break
        return p

    def test_hook_runs_on_the_node_before_the_stop_callbacks(self):
        env = node_env()
        tmp = tempfile.mkdtemp()
        term, mark = os.path.join(tmp, "term"), os.path.join(tmp, "segment")
        p = self.start(env, term, "--on-term", 'LiveStream.checkpoint("%s")' % mark)
        self.assertFalse(os.path.exists(mark))
        p.send_signal(signal.SIGTERM)
        rest, _ = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 75, rest)
        evs = [json.loads(l) for l in rest.splitlines()]
        app = [e["msg"] for e in evs if e["src"] == "app"]
        started, written = ("checkpoint to %s started" % mark, "checkpoint to %s written" % mark)
        stopped = "live_stream application stopped"
        for m in (started, written, stopped):
            self.assertEqual(app.count(m), 1, "%r in %r" % (m, app))
        self.assertLess(app.index(written), app.index(stopped), app)
        with open(mark) as f:
            self.assertEqual(f.read(), "checkpointed\n")
        # the hook's value as an rpc event, relrun-pod's own account of the drain
        self.assertIn(":checkpointed", [e["msg"] for e in evs if e["src"] == "rpc"])
        drain = [e["msg"] for e in evs if e.get("event") == "drain"]
        self.assertEqual(len(drain), 1, evs)
        self.assertRegex(drain[0], r"^--on-term finished with exit 0 after \d+ ms")
        with open(term) as f:
            t = json.load(f)
        self.assertEqual((t["exit_code"], t["phase"]), (75, "killed"))
        self.assertRegex(t["reason"], r"^stopped by SIGTERM; drained: --on-term exit 0 after")
        self.assertFalse(beam_running(env["RELEASE_NODE"]))

    def test_a_failing_hook_still_stops_the_release(self):
        env = node_env()
        term = os.path.join(tempfile.mkdtemp(), "term")
        p = self.start(env, term, "--on-term", 'raise "no checkpoint today"')
        p.send_signal(signal.SIGTERM)
        rest, _ = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 75, rest)
        evs = [json.loads(l) for l in rest.splitlines()]
        self.assertTrue(any("** (RuntimeError) no checkpoint today" in e["msg"]
                            for e in evs if e["src"] == "rpc"), evs)
        self.assertIn("live_stream application stopped", [e["msg"] for e in evs])
        with open(term) as f:
            self.assertIn("drained: --on-term exit 1", json.load(f)["reason"])

    def test_hook_past_the_grace_is_cut_short(self):
        env = node_env()
        term = os.path.join(tempfile.mkdtemp(), "term")
        # the script backend's rpc helper takes ~1 s to go (init:stop): a grace above that
        p = self.start(env, term, "--grace", "3s", "--on-term", "Process.sleep(:infinity)")
        p.send_signal(signal.SIGTERM)
        rest, _ = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 75, rest)
        evs = [json.loads(l) for l in rest.splitlines()]
        self.assertIn("live_stream application stopped", [e["msg"] for e in evs])
        with open(term) as f:
            self.assertIn("drained: --on-term ran out of time", json.load(f)["reason"])

    def test_without_the_hook_nothing_is_drained(self):
        env = node_env()
        term = os.path.join(tempfile.mkdtemp(), "term")
        p = self.start(env, term)
        p.send_signal(signal.SIGTERM)
        rest, _ = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 75, rest)
        self.assertNotIn('"event":"drain"', rest)
        with open(term) as f:
            self.assertEqual(json.load(f)["reason"], "stopped by SIGTERM")


if __name__ == "__main__":
    unittest.main()
