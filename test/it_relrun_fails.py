"""relrun end to end when things fail: the task (raise, exit N, deadline), the release
(never ready, boot retries), bad expressions and flags. API faults: it_relrun_faults."""
import json
import os
import unittest

from relrunlib import APP_IMAGE, POD_IMAGE, TASK_FLAGS, Base


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
        self.assertIn("init container failed (exit 2): relrun-pod", r.stderr)

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

    def test_overlong_name_sends_no_cut_url(self):
        # a name too long for the request URL is refused, never sent cut short
        self.sim.clear_requests()
        for args in (["wait", "x" * 5000], ["cancel", "x" * 5000], ["logs", "x" * 5000]):
            r = self.relrun(*args)
            self.assertEqual(r.code, 64, (args[0], r))
            self.assertIn("the request URL would be longer than", r.stderr)
        self.assertEqual([q["path"] for q in self.sim.requests() if "xxxx" in q["path"]], [])

    def test_usage_errors(self):
        for args in (["run"], ["frobnicate"], ["run", "--no-such-flag", "X.y()"],
                     ["wait"], ["run", "--timeout", "soon", "X.y()"],
                     ["run", *TASK_FLAGS, "--mfa", "nope", "--args", "[1]"]):
            r = self.relrun(*args)
            self.assertEqual(r.code, 64, (args, r))
            self.assertTrue(r.stderr.startswith("relrun: "), r)


class ManyPods(Base):
    # the Job controller's back-off between pods, 2 s doubling by default here
    # (10 s in Kubernetes), made short: six retries take seconds, not two minutes
    sim_options = {"job_backoff": 0.05}

    def test_wait_on_a_failed_job_with_many_pods(self):
        # boot retries leave several failed pods, most created within one second:
        # wait returns the Job's verdict and names the pod run named last
        r = self.relrun("run", "--image", APP_IMAGE, "--release", "/app/bin/no_such_release",
                        "--pod-image", POD_IMAGE, "--boot-retries", "6", "-o", "json",
                        'LiveStream.run("x")', timeout=300)
        self.assertEqual(r.code, 70, r)
        ran = json.loads(r.stdout.splitlines()[-1])
        pods = self.sim.get("/api/v1/namespaces/default/pods?labelSelector=batch.kubernetes.io/"
                            "job-name=" + ran["job"])[2]["items"]
        self.assertEqual(len(pods), 7)
        w = self.relrun("wait", ran["job"], "-o", "json", "--wait-timeout", "60s", timeout=120)
        self.assertEqual(w.code, 70, w)
        waited = json.loads(w.stdout.splitlines()[-1])
        self.assertEqual(waited["pod"], ran["pod"], (ran, waited))
        self.assertEqual(waited["failed_phase"], "release never ready", waited)
        self.assertNotIn("following the Job's new pod", w.stderr)


if __name__ == "__main__":
    unittest.main()
