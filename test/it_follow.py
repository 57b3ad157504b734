"""Following a Job when its pod cannot run: relrun -> k8s_sim -> kubelet -> relrun-pod ->
the fixture release. Each case as a user meets it: the exit code, the failed phase, the
container and image named, the Job deleted or kept, a progress line in a CI log, the
pending line on a terminal; and a task never runs twice."""
import os
import re
import subprocess
import threading
import time
import unittest

from followlib import POD_IMAGE, RELEASE, TASK_FLAGS, APP_IMAGE, Base

class PodNeverRuns(Base):
    def test_task_image_that_never_pulls(self):
        r = self.relrun("run", "--image", "live-stream:missing", "--pod-image", POD_IMAGE,
                        *RELEASE, "-o", "json", 'LiveStream.run("x")')
        self.assertEqual(r.code, 70, r)
        # Given up at the first back-off (the classifier's unit test has the clock).
        self.assertRegex(r.stderr, r"image pull: task container task \(image live-stream:missing\): "
                                   r"(ImagePullBackOff|ErrImagePull)", r)
        self.assertNotIn("relrun-pod:test", r.stderr.split("created")[-1])
        # the registry's answer, not only "Back-off pulling image"
        self.assertIn('failed to pull and unpack image "live-stream:missing": not found', r.stderr)
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
        # the first line at once, then one about every 15 s (the timeout is 17 s)
        secs = [int(m.group(1)) for l in err for m in [re.match(
            r"relrun: job/\S+: Pending: Unschedulable: .*, (\d+)s$", l.rstrip("\n"))] if m]
        self.assertEqual(len(secs), 2, text)
        self.assertGreaterEqual(secs[1] - secs[0], 14, text)
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
        """Pods of job where relrun-pod started the task (its "ready" event: the release
        is up and the expression fired), from the logs the kubelet keeps."""
        d = os.path.join(self.sim.state_dir, "pods")
        ran = []
        for n in os.listdir(d):
            log = os.path.join(d, n, "task.0.log")
            if n.startswith("default_%s-" % job) and os.path.exists(log):
                with open(log, errors="replace") as f:
                    if '"event":"ready"' in f.read():
                        ran.append(n)
        return ran

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
        time.sleep(6)  # a replacement (after the 2 s back-off) would have run by now
        self.assertEqual(len(self.pods_that_ran_the_task(r.job())), 1, r)


if __name__ == "__main__":
    unittest.main()
