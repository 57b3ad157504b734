"""The simulator's pods/exec, proven with the real kubectl: kubectl (>= 1.30) speaks
exec over WebSocket (v5.channel.k8s.io); the command runs with the container's path
mapping and environment, its stdout and stderr arrive apart, stdin and a TTY pass
through, and the exit code comes back in the error channel."""
import json
import os
import pty
import select
import shutil
import subprocess
import tempfile
import time
import unittest

from simlib import Sim

KUBECTL = shutil.which("kubectl")


def read_until(fd, needle, timeout=20):
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
class Exec(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="sim-exec-")
        img = os.path.join(cls.root, "img")
        os.makedirs(os.path.join(img, "data"))
        with open(os.path.join(img, "data", "greeting"), "w") as f:
            f.write("hello from the image\n")
        cls.sim = Sim(tls=True, images={"busy:1": img}).start()
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "busy"},
               "spec": {"restartPolicy": "Never", "containers": [
                   {"name": "main", "image": "busy:1", "command": ["sleep", "120"],
                    "env": [{"name": "GREETING_FILE", "value": "/data/greeting"}]},
                   {"name": "side", "image": "busy:1", "command": ["sleep", "120"]}]}}
        done = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "done"},
                "spec": {"restartPolicy": "Never",
                         "containers": [{"name": "main", "image": "busy:1",
                                         "command": ["true"]}]}}
        for obj in (pod, done):
            path = os.path.join(cls.root, obj["metadata"]["name"] + ".json")
            with open(path, "w") as f:
                json.dump(obj, f)
            r = cls.sim.kubectl("create", "-f", path)
            assert r.returncode == 0, r.stderr
        cls.sim.wait_for("/api/v1/namespaces/default/pods/busy",
                         lambda p: p["status"].get("phase") == "Running")
        cls.sim.wait_for("/api/v1/namespaces/default/pods/done",
                         lambda p: p["status"].get("phase") == "Succeeded")

    @classmethod
    def tearDownClass(cls):
        left = cls.sim.stop()
        shutil.rmtree(cls.root, ignore_errors=True)
        if left:
            raise AssertionError("processes left behind: %s" % left)

    def kubectl(self, *args, **kw):
        return subprocess.run([KUBECTL, "--kubeconfig", self.sim.kubeconfig, *args],
                              capture_output=True, text=True, timeout=60, **kw)

    def test_output_streams_env_paths_and_exit_code(self):
        self.sim.clear_requests()
        r = self.kubectl("exec", "busy", "--", "sh", "-c",
                         'cat "$GREETING_FILE"; echo to-stderr >&2; exit 3')
        self.assertEqual(r.returncode, 3, r)
        self.assertEqual(r.stdout, "hello from the image\n")
        self.assertIn("to-stderr\n", r.stderr)
        self.assertIn("command terminated with exit code 3", r.stderr)
        ok = self.kubectl("exec", "busy", "-c", "side", "--", "sh", "-c", "echo side")
        self.assertEqual((ok.returncode, ok.stdout), (0, "side\n"), ok)
        # the request went over the WebSocket upgrade, as kubectl >= 1.30 makes it
        ex = [q for q in self.sim.requests() if q["path"].endswith("/pods/busy/exec")]
        self.assertEqual([(q["method"], q["code"]) for q in ex], [("GET", 101)] * 2, ex)

    def test_stdin_passes_through_and_closes(self):
        data = "".join("line %d\n" % i for i in range(2000))
        r = self.kubectl("exec", "-i", "busy", "--", "sh", "-c", "wc -l; echo after-eof",
                         input=data)
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(r.stdout.split(), ["2000", "after-eof"])

    def test_stdin_and_stdout_at_once(self):
        # The command echoes its stdin while more of it is still coming: the
        # simulator reads the client's frames and writes the command's output on
        # one TLS connection at the same time. Every byte must come back, in
        # order, with the exit code (a read broken by a concurrent write ends
        # the exec early and the command is killed: 137).
        data = "".join("echoed line %06d of the exec's stdin\n" % i for i in range(60000))
        for attempt in range(3):
            r = subprocess.run([KUBECTL, "--kubeconfig", self.sim.kubeconfig, "exec", "-i", "busy",
                                "--", "cat"], input=data, capture_output=True, text=True,
                               timeout=120)
            self.assertEqual((r.returncode, len(r.stdout)), (0, len(data)), (attempt, r.stderr))
            self.assertEqual(r.stdout, data, attempt)

    def test_tty(self):
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(KUBECTL, [KUBECTL, "--kubeconfig", self.sim.kubeconfig, "exec", "-it",
                               "busy", "--", "sh", "-c", "test -t 0 && echo IS-A-TTY; "
                               "read x; echo got-$x"])
        try:
            out = read_until(fd, b"IS-A-TTY")
            self.assertIn(b"IS-A-TTY", out)
            os.write(fd, b"abc\r")
            out = read_until(fd, b"got-abc")
            self.assertIn(b"got-abc", out)
        finally:
            _, status = os.waitpid(pid, 0)
            os.close(fd)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0)

    def test_errors_a_user_meets(self):
        cases = [
            (["exec", "busy", "-c", "nope", "--", "true"], "container nope is not valid for pod busy"),
            (["exec", "no-such-pod", "--", "true"], 'pods "no-such-pod" not found'),
            (["exec", "done", "--", "true"],
             "cannot exec into a container in a completed pod; current phase is Succeeded"),
        ]
        for args, msg in cases:
            with self.subTest(args=args):
                r = self.kubectl(*args)
                self.assertNotEqual(r.returncode, 0, r)
                self.assertIn(msg, r.stderr)
        r = self.kubectl("exec", "busy", "--", "/no/such/binary")
        self.assertNotEqual(r.returncode, 0, r)
        self.assertIn("/no/such/binary", r.stderr)


if __name__ == "__main__":
    unittest.main()
