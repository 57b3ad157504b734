"""relrun eval / remote end to end: through the simulator's pods/exec (the real
kubectl speaks it) into the task container's relrun-pod, onto the running task's
node. Also what a user meets when the target is wrong."""
import fcntl
import json
import os
import pty
import select
import shutil
import struct
import subprocess
import termios
import time
import unittest

from relrunlib import POD_BIN, REL, RELRUN, TASK_FLAGS, Base

KUBECTL = shutil.which("kubectl")


@unittest.skipUnless(KUBECTL, "kubectl not installed")
class EvalErrors(Base):
    def test_no_such_job_or_pod(self):
        r = self.relrun("eval", "no-such-task", "1 + 1")
        self.assertEqual(r.code, 66, r)  # not found, not usage
        self.assertIn('eval: no job or pod named "no-such-task" in namespace default', r.stderr)
        r = self.relrun("remote", "no-such-task")
        self.assertEqual(r.code, 66, r)
        self.assertIn('remote: no job or pod named "no-such-task"', r.stderr)

    def test_finished_task_is_not_running(self):
        done = self.run_task("LiveStream.exit_with(3)", "-o", "json")
        self.assertEqual(done.code, 3, done)
        job = [json.loads(l) for l in done.stdout.splitlines() if '"relrun":"summary"' in l][0]["job"]
        for target in (job,):
            r = self.relrun("eval", target, "1 + 1")
            self.assertEqual(r.code, 69, r)
            self.assertRegex(r.stderr, r"eval: pod/%s-\w+ is not running \(phase Failed, the task "
                                       r"exited with 3\)" % job)

    def test_kubectl_missing(self):
        r = self.run_task("LiveStream.sleep(8000)", "--detach")
        self.assertEqual(r.code, 0, r)
        job = r.stdout.split()[0].split("/")[-1]
        self.sim.wait_for("/api/v1/namespaces/default/pods?labelSelector=batch.kubernetes.io%%2Fjob-name%%3D%s" % job,
                          lambda l: any(cs.get("name") == "task" and "running" in cs["state"]
                                        for p in l["items"]
                                        for cs in p["status"].get("containerStatuses") or []),
                          timeout=60)
        e = self.relrun("eval", job, "1 + 1", env={"RELRUN_KUBECTL": "/no/such/kubectl"})
        self.assertEqual(e.code, 78, e)
        self.assertIn('cannot run "/no/such/kubectl": relrun eval runs `kubectl exec`', e.stderr)
        self.relrun("cancel", job)


# The task waits on its node for the eval that ends it (no sleep to race against).
WAITING_TASK = ("Process.register(self(), :it_eval_task); "
                "receive do {:go, n} -> exit({:shutdown, n}) after 90_000 -> :timed_out end")


def read_until(fd, needle, timeout=30):
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf and time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf


@unittest.skipUnless(KUBECTL, "kubectl not installed")
class EvalLive(Base):
    def start_waiting_task(self, *flags):
        before = {j["metadata"]["name"] for j in self.jobs()}
        env = dict(os.environ, NO_COLOR="1")
        env.pop("KUBECONFIG", None)
        run = subprocess.Popen([RELRUN, "--kubeconfig", self.sim.kubeconfig, "run", *TASK_FLAGS,
                                "-o", "json", *flags, WAITING_TASK], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
        self.addCleanup(lambda: run.poll() is None and run.kill())
        job = None
        for _ in range(600):
            new = [j["metadata"]["name"] for j in self.jobs()
                   if j["metadata"]["name"] not in before]
            if new:
                job = new[0]
                break
            time.sleep(0.1)
        self.assertIsNotNone(job, "no Job created")
        # until the task itself runs on the node: booting is 69 (not reachable) or false
        for _ in range(300):
            r = self.relrun("eval", job, "Process.whereis(:it_eval_task) != nil")
            if r.code == 0 and r.stdout.strip() == "true":
                break
            self.assertIn(r.code, (0, 66, 69), r)
            time.sleep(0.2)
        else:
            self.fail("the task never ran: %r" % (r,))
        return run, job

    def finish(self, run, job, code):
        r = self.relrun("eval", job, "send(:it_eval_task, {:go, %d})" % code)
        self.assertEqual((r.code, r.stdout), (0, "{:go, %d}\n" % code), r)
        out, err = run.communicate(timeout=120)
        self.outputs += [out, err]
        self.assertEqual(run.returncode, code, err + out)
        return out

    def test_eval_on_the_running_task(self):
        run, job = self.start_waiting_task()
        # output and result; the node is the task's own
        r = self.relrun("eval", job, 'IO.puts("out of eval"); {node(), LiveStream.error(:nope)}')
        self.assertEqual(r.code, 0, r)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], "out of eval", r)
        self.assertRegex(lines[1], r"^\{:%s_\w+@[^,]+, \{:error, :nope\}\}$" % job.replace("-", "_"))
        # a raise: 1 with the exception; a syntax error likewise; exit({:shutdown, N}): N
        r = self.relrun("eval", job, 'raise ArgumentError, "bad arg from eval"')
        self.assertEqual(r.code, 1, r)
        self.assertIn("** (ArgumentError) bad arg from eval", r.stderr)
        r = self.relrun("eval", job, "1 +")
        self.assertEqual(r.code, 1, r)
        self.assertIn("TokenMissingError", r.stderr)
        r = self.relrun("eval", job, "exit({:shutdown, 4})")
        self.assertEqual(r.code, 4, r)
        # the pod by name works as the Job does
        pod = [p["metadata"]["name"] for p in self.sim.get(
            "/api/v1/namespaces/default/pods")[2]["items"]
            if p["metadata"]["name"].startswith(job)][0]
        r = self.relrun("eval", pod, "1 + 1")
        self.assertEqual((r.code, r.stdout), (0, "2\n"), r)
        # none of that touched the task: it ends with the code it is told
        out = self.finish(run, job, 3)
        summary = [json.loads(l) for l in out.splitlines() if '"relrun":"summary"' in l]
        self.assertEqual(summary[-1]["exit_code"], 3, out)

    def test_remote_console(self):
        run, job = self.start_waiting_task()
        m, s = pty.openpty()
        # a terminal has a size: 40x200, so iex neither wraps the line typed below
        # nor works from a 0x0 window
        fcntl.ioctl(s, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
        env = dict(os.environ, TERM="xterm")
        env.pop("KUBECONFIG", None)
        p = subprocess.Popen([RELRUN, "--kubeconfig", self.sim.kubeconfig, "remote", job],
                             stdin=s, stdout=s, stderr=s, env=env, start_new_session=True)
        os.close(s)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        try:
            buf = read_until(m, b"iex(")
            self.assertIn(b"iex(", buf)
            os.write(m, b"IO.puts(Process.whereis(:it_eval_task) != nil)\r")
            buf = read_until(m, b"true\r\n")
            self.assertIn(b"true\r\n", buf)
            # leave the console: job control, q (quits the console's own node only)
            os.write(m, b"\x07")
            self.assertIn(b"-->", read_until(m, b"-->"))
            os.write(m, b"q\r")
            self.assertEqual(p.wait(timeout=60), 0)
        finally:
            os.close(m)
        # the task is untouched by the console's exit
        self.finish(run, job, 5)

    def test_drain_hook_on_pod_delete(self):
        mark = os.path.join(self.root, "drain-mark-%d" % os.getpid())
        run, job = self.start_waiting_task("--on-term", 'LiveStream.checkpoint("%s")' % mark)
        pod = [p["metadata"]["name"] for p in self.sim.get(
            "/api/v1/namespaces/default/pods")[2]["items"]
            if p["metadata"]["name"].startswith(job)][0]
        # a node drain: the pod deleted with its grace period, SIGTERM to relrun-pod
        self.sim.delete("/api/v1/namespaces/default/pods/%s" % pod)
        out, err = run.communicate(timeout=120)
        self.outputs += [out, err]
        self.assertEqual(run.returncode, 75, err + out)
        evs = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
        app = [e.get("msg") for e in evs if e.get("src") == "app"]
        written = "checkpoint to %s written" % mark
        self.assertIn(written, app, out)
        self.assertIn("live_stream application stopped", app, out)
        self.assertLess(app.index(written), app.index("live_stream application stopped"))
        self.assertTrue(os.path.exists(mark))
        # relrun-pod's last word (and its termination message) says it was drained
        exits = [e["msg"] for e in evs if e.get("src") == "relrun" and e.get("event") == "exit"]
        self.assertRegex(exits[-1], r"^exit 75: stopped by SIGTERM; drained: --on-term exit 0 ")


class EvalInPod(unittest.TestCase):
    """relrun-pod --eval where no task runs: its own message and code."""

    @unittest.skipUnless(POD_BIN and REL, "relrun-pod or the fixture release not built")
    def test_no_task_node(self):
        env = dict(os.environ, HOSTNAME="it-eval-no-such-pod")
        r = subprocess.run([POD_BIN, "--release", os.path.join(REL, "bin", "live_stream"),
                            "--eval", "1 + 1"], capture_output=True, text=True, env=env,
                           timeout=60)
        self.assertEqual(r.returncode, 66, r)
        self.assertIn("relrun-pod --eval: no task node in this container", r.stderr)
        r = subprocess.run([POD_BIN, "--eval", "1", "--remote"], capture_output=True, text=True,
                           env=env, timeout=60)
        self.assertEqual(r.returncode, 64, r)
        self.assertIn("--eval and --remote exclude each other", r.stderr)


if __name__ == "__main__":
    unittest.main()
