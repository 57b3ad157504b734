"""The API server away while relrun follows a Job (a control-plane upgrade): connections
refused for seconds, ridden out with every log line once; giving up says the task may
still run and how to re-attach; Ctrl-C and SIGTERM end at once, even mid-retry."""
import re
import signal
import socket
import threading
import time
import unittest

from followlib import TASK_FLAGS, TICKS, Base, Run

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

    def refused(self):
        try:
            socket.create_connection(("127.0.0.1", self.sim.port), timeout=2).close()
        except ConnectionRefusedError:
            return True
        return False

    def interrupt_during_the_outage(self, sig, code):
        p, out, t = self.start_ticking(200, 300)
        self.sim.outage(30)
        time.sleep(2.5)  # relrun is retrying, between backoff sleeps
        self.assertTrue(self.refused())
        p.send_signal(sig)
        err = p.stderr.read()
        p.wait(60)
        # It ended while the API was still away: it did not wait for a retry to
        # succeed or for the retry window to pass.
        self.assertTrue(self.refused(), "the outage was over before relrun ended: %s" % err)
        t.join(5)
        self.assertEqual(p.returncode, code, err)
        job = re.search(r"job/(\S+) created", err).group(1)
        self.assertIn("interrupted: job/%s keeps running" % job, err)

    def test_ctrl_c_during_the_outage(self):
        self.interrupt_during_the_outage(signal.SIGINT, 130)

    def test_sigterm_during_the_outage(self):
        self.interrupt_during_the_outage(signal.SIGTERM, 143)

    def test_ctrl_c_while_a_create_is_retried(self):
        self.sim.fault(kind="status", code=503, count=-1, method="POST", path_regex="/jobs$")
        p = self.popen("run", *TASK_FLAGS, 'LiveStream.run("x")')
        deadline = time.monotonic() + 30
        while not any(f["kind"] == "status" for f in self.sim.faults()["fired"]):
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
        # 130, not the 69 of a create that ran out of retries
        self.assertEqual(p.returncode, 130, err)
        self.assertIn("interrupted", err)


if __name__ == "__main__":
    unittest.main()
