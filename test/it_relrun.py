"""relrun (the coordinator) end to end: relrun -> k8s_sim -> kubelet runs relrun-pod ->
the fixture release -> logs back -> exit code: the runs that succeed, on a pipe and on a
terminal. The failure paths are in it_relrun_fails.py, auth and configuration in
it_relrun_auth.py, cron and render in it_relrun_cron_render.py (split to balance ctest -j)."""
import json
import os
import re
import shlex
import subprocess
import unittest

from relrunlib import RELRUN, SOURCE, TASK_FLAGS, Base


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

    def test_error_tuple_hint(self):
        # {:error, _} is a return, exit 0, unless --error-exit maps it: the summary says so
        r = self.run_task('LiveStream.error("disk full")')
        self.assertEqual(r.code, 0, r)
        self.assertIn('returned {:error, "disk full"} (exit 0: with --error-exit N an '
                      '{:error, _} return exits N)', r.stderr)
        r = self.run_task('LiveStream.error("disk full")', "--error-exit", "3")
        self.assertEqual(r.code, 3, r)
        ok = self.run_task('LiveStream.run("h")')
        self.assertNotIn("--error-exit", ok.stderr)

    def test_readme_mfa_example(self):
        # the README's --mfa line, as it is written there, on the fixture release
        with open(os.path.join(SOURCE, "README.md")) as f:
            lines = [ln.strip() for ln in f if ln.strip().startswith("relrun run --mfa ")]
        self.assertTrue(lines, "README has no relrun run --mfa example")
        argv = shlex.split(lines[0])
        self.assertEqual(argv[-1], "...")  # where the image flags go
        r = self.relrun(*argv[1:-1], *TASK_FLAGS, "-o", "json")
        self.assertEqual(r.code, 0, r)
        self.assertIn("encode start stream-42 bitrate=4000", r.msgs("app"))
        done = [e for e in r.events() if e.get("event") == "result"]
        self.assertIn('{:ok, "stream-42"}', done[0]["msg"], done)

    def test_detach_then_wait_logs_list(self):
        r = self.run_task('LiveStream.exit_with(5)', "--detach")
        self.assertEqual(r.code, 0, r)
        name = r.stdout.strip()
        self.assertRegex(name, r"^relrun-live-stream-exit-with-\w+$")
        w = self.relrun("wait", name, "--wait-timeout", "60s")
        self.assertEqual(w.code, 5, w)
        self.assertIn("task failed, exit 5", w.stderr)
        lg = self.relrun("logs", name, "-o", "json")
        self.assertEqual(lg.code, 0, lg)
        self.assertIn("exit", [e.get("event") for e in lg.events()])
        ls = self.relrun("list")
        self.assertEqual(ls.code, 0, ls)
        self.assertRegex(ls.stdout, r"(?m)^%s +Failed +\d+s +LiveStream\.exit_with\(5\)$" % name)
        # what list -o name prints, logs and wait take as it is
        ln = self.relrun("list", "-o", "name")
        self.assertIn("job.batch/" + name, ln.stdout.splitlines())
        self.assertEqual(self.relrun("logs", "job.batch/" + name).code, 0)
        self.assertEqual(self.relrun("wait", "job/" + name).code, 5)

    def test_cancel_several_and_missing_names(self):
        names = []
        for i in range(2):
            r = self.run_task("LiveStream.sleep(60000)", "--detach")
            self.assertEqual(r.code, 0, r)
            names.append(r.stdout.strip())
        c = self.relrun("cancel", names[0], "job.batch/no-such-job", "job.batch/" + names[1])
        # every name is tried; the missing one fails with "not found" (66), not usage (64)
        self.assertEqual(c.code, 66, c)
        self.assertEqual(c.stdout.splitlines(), ["job.batch/%s deleted" % n for n in names])
        self.assertIn("no-such-job", c.stderr)
        self.assertIn("not found", c.stderr)
        left = {j["metadata"]["name"] for j in self.jobs()}
        self.assertFalse(left & set(names), left)

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
        self.assertNotIn("job/%s: job/" % m.group(1), err)
        name = m.group(1)
        # the summary names the Job once ("job/X: interrupted: job/X" was the bug)
        s = json.loads(out.rstrip("\n").splitlines()[-1])
        self.assertEqual(s["phase"], "interrupted", s)
        self.assertEqual(s["message"].count("job/" + name), 1, s)
        job = [j for j in self.jobs() if j["metadata"]["name"] == name]
        self.assertEqual(len(job), 1)
        self.assertEqual(self.relrun("cancel", name, "--cascade", "foreground").code, 0)

    def test_wait_timeout_gives_124(self):
        r = self.run_task("LiveStream.sleep(4000)", "--detach")
        self.assertEqual(r.code, 0, r)
        name = r.stdout.strip()
        w = self.relrun("wait", name, "--wait-timeout", "1s")
        self.assertEqual(w.code, 124, w)
        self.assertIn("timed out after 1.0s waiting for job/" + name, w.stderr)
        self.assertNotIn("note:", w.stderr)
        # the old name still works, and says what it is now
        w = self.relrun("wait", name, "--timeout", "1s")
        self.assertEqual(w.code, 124, w)
        self.assertIn("wait --timeout is now --wait-timeout", w.stderr)
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
        # not found has its own code: a script can tell it from a mistyped flag (64)
        for args in (["wait", "no-such-job"], ["logs", "no-such-job"],
                     ["cancel", "no-such-job"]):
            r = self.relrun(*args)
            self.assertEqual(r.code, 66, (args, r))
            self.assertIn("not found", r.stderr)

    def test_cancel_running_task_gives_75(self):
        p = subprocess.Popen([RELRUN, "--kubeconfig", self.sim.kubeconfig, "run", *TASK_FLAGS,
                              "LiveStream.sleep(30000)"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            for line in p.stdout:  # the task has started
                if "sleeping 30000 ms" in line:
                    break
            body = self.sim.wait_for("/apis/batch/v1/namespaces/default/jobs", lambda b: [
                j for j in b["items"] if "sleep" in j["metadata"]["name"]])
            name = [j for j in body["items"] if "sleep" in j["metadata"]["name"]][0]["metadata"][
                "name"]
            # named as `relrun list -o name` prints it
            c = self.relrun("cancel", "job.batch/" + name)
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

    def test_pending_phase_and_colour(self):
        self.sim.fault(kind="slow_start", seconds=2, pod_regex="live-stream-run")
        code, out, err = self.run_on_pty({})
        self.assertEqual(code, 0, out + err)
        self.assertRegex(err, r"Pending: (Init:)?ContainerCreating")
        self.assertIn("\033[33m", out)  # the warning line in yellow
        self.assertIn("segment 3 of tty arrived late", out)

    def test_failure_in_red_and_no_dim_across_lines(self):
        # a JSON line from the task whose field holds a newline, then a raise
        expr = ('IO.puts(~s({"msg":"with trace","trace":"frame 1\\\\nframe 2"})); '
                'LiveStream.fail()')
        code, out, err = self.run_on_pty({}, expr)
        self.assertEqual(code, 1, out + err)
        self.assertRegex(err, r"\033\[31mrelrun: job/\S+ pod/\S+: task failed, exit 1, .*"
                              r"encoder crashed\033\[0m")
        self.assertIn("with trace", out)
        self.assertIn("frame 2", out)  # the field's second line
        for line in out.replace("\r", "").split("\n"):
            # every dim span is closed on the line that opened it
            self.assertLessEqual(line.rfind("\033[2m"), line.rfind("\033[0m"), repr(line))

    def test_no_color(self):
        code, out, err = self.run_on_pty({"NO_COLOR": "1"})
        self.assertEqual(code, 0, out + err)
        self.assertIn("segment 3 of tty arrived late", out)
        self.assertNotIn("\033[", out)


if __name__ == "__main__":
    unittest.main()
