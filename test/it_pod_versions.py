"""What differs between the Erlang/Elixir versions of the runtime matrix (test/roots).

Runs on the host's versions as it_pod_versions and in every root of the matrix as
matrix.SUITE.it_pod_versions (podlib runs the release there when RELRUN_ROOT is set).
"""
import re
import subprocess
import tempfile
import time
import unittest

from podlib import RELEASE, beam_running, in_root, node_env, run_pod


def installed(pkg):
    """The Debian version of pkg where the release runs (the root, or the host)."""
    out = subprocess.run(in_root(["dpkg-query", "-W", "-f", "${Version}", pkg]),
                         capture_output=True, text=True, check=True).stdout
    return re.sub(r"^\d+:", "", out).split("+")[0].split(".dfsg")[0]


class Runtime(unittest.TestCase):
    def test_the_release_runs_on_the_installed_otp_and_elixir(self):
        # A matrix entry that ran the host's Erlang would look green and test nothing.
        r = run_pod('{System.version(), List.to_string(:erlang.system_info(:otp_release))}')
        self.assertEqual(r.code, 0, r.stdout + r.stderr)
        elixir, otp = installed("elixir"), installed("erlang-base").split(".")[0]
        self.assertEqual(r.term["return"], f'{{"{elixir}", "{otp}"}}')


class PlainRpcVersusPod(unittest.TestCase):
    """The seed's problem on each version, and relrun-pod's answer to it on the same one."""

    def plain_rpc(self, expr):
        """The shell wrapper's way: bin/app start, wait for pid, bin/app rpc, bin/app stop.
        Returns (the app's own output, the rpc's output)."""
        env = node_env()
        with tempfile.TemporaryFile("w+") as app_out:
            app = subprocess.Popen(in_root([RELEASE, "start"]), stdout=app_out,
                                   stderr=subprocess.STDOUT, text=True, env=env)
            try:
                deadline = time.monotonic() + 60
                while subprocess.run(in_root([RELEASE, "pid"]), capture_output=True,
                                     env=env).returncode != 0:
                    self.assertIsNone(app.poll(), "the release exited before it was up")
                    self.assertLess(time.monotonic(), deadline, "the release never came up")
                    time.sleep(0.1)
                rpc = subprocess.run(in_root([RELEASE, "rpc", expr]), capture_output=True,
                                     text=True, env=env, timeout=60)
                self.assertEqual(rpc.returncode, 0, rpc.stdout + rpc.stderr)
                subprocess.run(in_root([RELEASE, "stop"]), capture_output=True, env=env, timeout=60)
                app.wait(timeout=60)
            finally:
                if app.poll() is None:
                    app.kill()
                    app.wait()
            self.assertFalse(beam_running(env["RELEASE_NODE"]))
            app_out.seek(0)
            return app_out.read(), rpc.stdout + rpc.stderr

    def test_task_lines_reach_the_apps_log_once_only_through_relrun_pod(self):
        line = re.compile(r"(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \[info\] "
                          r"stream_id=w1 \| encode start w1 bitrate=3000$")
        app, _ = self.plain_rpc('LiveStream.run("w1")')
        major, minor = map(int, installed("elixir").split(".")[:2])
        if (major, minor) >= (1, 15):
            # the default handler's remote_gl filter drops, on the app node, the events of
            # a process whose group leader is the rpc helper's: the app's own log, the one
            # a team's log collector reads, never shows the task
            self.assertEqual(len(line.findall(app)), 0, app)
        else:
            self.assertEqual(len(line.findall(app)), 1, app)
        r = run_pod('LiveStream.run("w1")', "--log-format", "text")
        self.assertEqual(r.code, 0, r.stdout)
        self.assertEqual(r.stdout.count("encode start w1 bitrate=3000"), 1, r.stdout)
        self.assertRegex(r.stdout, r"(?m)^\S+Z info +app +encode start w1 bitrate=3000 .*stream_id=w1")


if __name__ == "__main__":
    unittest.main()
