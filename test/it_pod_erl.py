"""relrun-pod on the Erlang fixture release (rebar3/relx, test/fixture/live_stream_erl).

Groundwork of Erlang support: the release's kind is told from the release and a relx
release runs in the foreground on relrun-pod's pipes (its `start` is the deprecated
`daemon`, which detached the VM, hid its output behind run_erl and left it running).
"""
import os
import subprocess
import tempfile
import unittest

from it_pod_erl_tasks import erl_env, vm_pids
from podlib import POD, RELEASE, Run

ERL_REL = os.environ.get("RELRUN_FIXTURE_ERL_REL", "")
ERL_RELEASE = os.path.join(ERL_REL, "bin", "live_stream")


def run_erl_pod(expr, *flags, release=ERL_RELEASE, env=None):
    env = erl_env(env)
    term = os.path.join(tempfile.mkdtemp(prefix="relrun-pod-erl-"), "termination-log")
    argv = [POD, "--release", release, "--termination-log", term, *flags, "--", expr]
    p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    return Run(p, p.stdout, p.stderr, term, env["RELEASE_NODE"])


class RelxRelease(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # how the release is started and stopped (the tasks: it_pod_erl_tasks)
        cls.r = run_erl_pod('live_stream:run(<<"s1">>).', "--rpc", "script")

    def test_started_in_the_foreground(self):
        start = self.r.relrun("start")
        self.assertEqual(len(start), 1, self.r.stdout)
        self.assertIn(ERL_RELEASE + " foreground (relx release)", start[0]["msg"])
        # the VM stayed up until relrun-pod stopped it (with `start` it detached, and
        # relrun-pod saw "the release exited (status 0) before it was ready", 70)
        self.assertNotIn("before it was ready", self.r.relrun("exit")[0]["msg"])

    def test_the_apps_own_lines_come_through_relrun_pod(self):
        # with `start` (daemon) they went to run_erl's pipes and never arrived
        app = "\n".join(self.r.msgs("app"))
        self.assertIn("live_stream application started", app)
        self.assertIn("live_stream application stopped", app)  # stopped gracefully

    def test_the_task_ran(self):
        self.assertEqual(self.r.code, 0, self.r.stdout)

    def test_nothing_left_running(self):
        # relx's VM is named after its script: told by its executable
        self.assertEqual(vm_pids(self.r.node), [])
        out = subprocess.run(["pgrep", "-f", "run_erl.*" + ERL_REL], capture_output=True)
        self.assertNotEqual(out.returncode, 0, "a run_erl of the fixture is running")


class StartCommand(unittest.TestCase):
    def test_override_reaches_the_bin_script(self):
        # `version` prints the release's version and exits at once: relrun-pod ran the
        # command it was given, and says so
        r = run_erl_pod('LiveStream.run("s1")', "--start-command", "version", "--rpc", "script",
                        "--ready-timeout", "10s", release=RELEASE)
        self.assertIn(RELEASE + " version (--start-command)", r.relrun("start")[0]["msg"])
        self.assertEqual(r.code, 70, r.stdout)
        self.assertIn("exited (status 0) before it was ready", r.relrun("exit")[0]["msg"])

    def test_a_mix_release_is_started_with_start(self):
        r = run_erl_pod('LiveStream.run("s1")', "--rpc", "script", release=RELEASE)
        self.assertEqual(r.code, 0, r.stdout)
        self.assertIn(RELEASE + " start (mix release)", r.relrun("start")[0]["msg"])

    def test_bad_start_command_is_a_usage_error(self):
        r = run_erl_pod("x", "--start-command", "start; reboot")
        self.assertEqual(r.code, 64)
        self.assertIn('--start-command "start; reboot"', r.stderr)
        self.assertEqual(r.stdout, "")


class EachOnErlang(unittest.TestCase):
    def test_items_become_erlang_terms(self):
        # the chart's form (relrun-pod --each JSON -- TEMPLATE) on an Erlang release:
        # "s1" must be the binary live_stream:run/1 takes, not an Elixir string
        r = run_erl_pod('live_stream:run($item).', "--each", '["s0", "s1"]',
                        env={"JOB_COMPLETION_INDEX": "1"})
        self.assertEqual(r.code, 0, r.stdout)
        self.assertEqual(r.term["expr"], 'live_stream:run((<<"s1"/utf8>>)).')
        self.assertEqual(r.term["return"], '{ok,<<"s1">>}')


if __name__ == "__main__":
    unittest.main()
