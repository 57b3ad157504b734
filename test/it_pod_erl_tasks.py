"""relrun-pod runs Erlang tasks on the Erlang fixture release (rebar3/relx,
test/fixture/live_stream_erl), on both backends: the expression in Erlang syntax
(chosen because the release has no Elixir), the value printed the Erlang way, the exit
contract (error/throw/exit 1, exit({shutdown, N}) N, erlang:halt(N) N, SIGTERM 75 with
the stop callbacks run), the app's logger_formatter template learned from the node (so
levels, times and metadata are right), and nothing left running afterwards.
"""
import json
import os
import signal
import subprocess
import tempfile
import unittest
from datetime import datetime, timezone

from podlib import POD, RELEASE, Run, node_env

ERL_REL = os.environ.get("RELRUN_FIXTURE_ERL_REL", "")
ERL_RELEASE = os.path.join(ERL_REL, "bin", "live_stream")


def vm_pids(node):
    """The BEAMs running as node NODE. relx's VM has its script's name as argv[0],
    so a BEAM is told by its executable, not by its command line."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            exe = os.readlink(f"/proc/{d}/exe")
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if os.path.basename(exe).startswith("beam") and node.encode() in argv:
            pids.append(int(d))
    return pids


def erl_env(extra=None):
    """node_env, and the files relx writes from vm.args.src and sys.config at every
    start in a directory of this run's: runs in parallel would race on the release's
    own releases/<vsn>/vm.args (one started with the other's node name)."""
    env = node_env(extra)
    env.setdefault("RELX_OUT_FILE_PATH", tempfile.mkdtemp(prefix="relx-out-"))
    return env


class Backend:
    """The tests, run once per backend (the subclasses below)."""
    backend = None

    @classmethod
    def pod(cls, expr, *flags, env=None):
        env = erl_env(env)
        term = os.path.join(tempfile.mkdtemp(prefix="relrun-pod-erl-"), "termination-log")
        argv = [POD, "--release", ERL_RELEASE, "--rpc", cls.backend, "--termination-log", term,
                *flags, "--", expr]
        p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
        return Run(p, p.stdout, p.stderr, term, env["RELEASE_NODE"])

    @classmethod
    def setUpClass(cls):
        # the node logs local time with its offset: Tokyo, 9 h off UTC
        cls.ok = cls.pod('live_stream:run(<<"s1">>).', env={"TZ": "Asia/Tokyo"})

    def app_events(self, r):
        return [e for e in r.events if e["src"] == "app"]

    def test_success_exit_code_and_erlang_value(self):
        self.assertEqual(self.ok.code, 0, self.ok.stdout + self.ok.stderr)
        self.assertEqual(self.ok.term["return"], '{ok,<<"s1">>}')
        self.assertEqual(self.ok.term["phase"], "task")
        self.assertIn("task returned {ok,<<\"s1\">>}", self.ok.relrun("result")[0]["msg"])
        self.assertEqual(self.ok.stderr, "")

    def test_every_task_line_once_with_its_level(self):
        evs = self.app_events(self.ok)
        want = [("encode start s1 bitrate=3000", "info"),
                ("encoder settings:\n  codec=h264\n  preset=fast", "info"),
                ("segment 3 of s1 arrived late", "warning"),
                ("segment 4 of s1 corrupt, re-encoding it", "error"),
                ("progress s1 50%", "info"),          # io:format of the task
                ("uploader for s1 running", "info"),  # a process the task spawned
                ("encode done s1", "info")]           # logged right before returning
        for msg, level in want:
            got = [e for e in evs if e["msg"] == msg]
            self.assertEqual(len(got), 1, (msg, [e["msg"] for e in evs]))
            self.assertEqual(got[0]["level"], level, got[0])
        # the template's metadata as a field, not in the message
        self.assertEqual([e for e in evs if e["msg"] == "encode done s1"][0]["stream_id"], "s1")
        # no line still carries the app's own header
        self.assertFalse([e for e in evs if " info <" in e["msg"]], evs)

    def test_times_are_the_lines_own_in_utc(self):
        # the app printed "...T00:32:06.79+09:00" for 15:32:06.79Z; read as UTC it would
        # be 9 hours off the time relrun-pod itself saw
        ready = datetime.fromisoformat(self.ok.relrun("ready")[0]["ts"].replace("Z", "+00:00"))
        done = [e for e in self.app_events(self.ok) if e["msg"] == "encode done s1"][0]
        ts = datetime.fromisoformat(done["ts"].replace("Z", "+00:00"))
        self.assertLess(abs((ts - ready).total_seconds()), 600, (ts, ready))
        self.assertEqual(ts.tzinfo, timezone.utc)

    def test_stop_callbacks_ran_and_nothing_left_running(self):
        app = [e["msg"] for e in self.app_events(self.ok)]
        self.assertIn("live_stream application stopped", app)
        self.assertEqual(vm_pids(self.ok.node), [])

    def test_error_is_1_with_the_reason(self):
        r = self.pod("live_stream:fail().")
        self.assertEqual(r.code, 1, r.stdout)
        self.assertIn("encoder_crashed", r.term["cause"])
        msgs = r.msgs()
        # the task's last line comes before its error
        about = msgs.index("about to fail")
        err = [i for i, m in enumerate(msgs) if "encoder_crashed" in m and "bitstream" in m]
        self.assertTrue(err and err[0] > about, msgs)
        self.assertEqual(vm_pids(r.node), [])

    def test_throw_and_exit_are_1(self):
        for expr in ["throw(nope).", "exit(gone)."]:
            r = self.pod(expr)
            self.assertEqual(r.code, 1, (expr, r.stdout))

    def test_exit_shutdown_n_gives_n(self):
        r = self.pod("live_stream:exit_with(3).")
        self.assertEqual(r.code, 3, r.stdout)
        self.assertEqual(r.term["exit_code"], 3)

    def test_halt_n_gives_n(self):
        r = self.pod("live_stream:halt_with(4).")
        self.assertEqual(r.code, 4, r.stdout)
        self.assertIn("halting with 4", r.msgs("app"))
        self.assertEqual(vm_pids(r.node), [])

    def test_erlang_syntax_error_is_the_tasks_failure(self):
        r = self.pod("live_stream:run(<<\"s1\">>")
        self.assertEqual(r.code, 1, r.stdout)
        self.assertEqual(vm_pids(r.node), [])

    def test_heart_does_not_restart_the_release_when_it_is_stopped(self):
        # -heart in vm.args: heart restarts the VM (HEART_COMMAND) when it goes without
        # init telling heart, as the fast stop's halt does; heart then says "Erlang has
        # closed" and waits 5 s to run the command (relrun-pod's cleanup of what the
        # release left running happens to kill it first; a shut-down heart may still be
        # exiting then, so that is not what this counts)
        marker = os.path.join(tempfile.mkdtemp(), "restarted")
        r = self.pod('live_stream:run(<<"s1">>).',
                     env={"LIVE_STREAM_VM_ARGS": "-heart",
                          "HEART_COMMAND": f"touch {marker}"})
        self.assertEqual(r.code, 0, r.stdout)
        app = "\n".join(r.msgs("app"))
        self.assertIn("heart_beat_kill_pid", app)  # heart was on
        self.assertEqual(app.count("encode done s1"), 1)
        self.assertIn("live_stream application stopped", app)
        self.assertNotIn("Erlang has closed", app)
        self.assertFalse(os.path.exists(marker))
        self.assertEqual(vm_pids(r.node), [])

    def test_sigterm_mid_task_is_75_and_stop_callbacks_run(self):
        env = erl_env()
        term = os.path.join(tempfile.mkdtemp(), "term")
        p = subprocess.Popen([POD, "--release", ERL_RELEASE, "--rpc", self.backend,
                              "--termination-log", term, "--", "live_stream:sleep(60000)."],
                             stdout=subprocess.PIPE, text=True, env=env)
        seen = []
        for line in p.stdout:
            seen.append(json.loads(line)["msg"])
            if "sleeping 60000 ms" in seen[-1]:
                break
        self.assertIn("sleeping 60000 ms", seen)
        self.assertTrue(vm_pids(env["RELEASE_NODE"]))
        p.send_signal(signal.SIGTERM)
        rest, _ = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 75)
        msgs = [json.loads(l)["msg"] for l in rest.splitlines()]
        self.assertEqual(msgs.count("live_stream application stopped"), 1, msgs)
        with open(term) as f:
            self.assertEqual(json.load(f)["phase"], "killed")
        self.assertEqual(vm_pids(env["RELEASE_NODE"]), [])


class ScriptBackend(Backend, unittest.TestCase):
    backend = "script"

    def test_the_relx_eval_is_used_and_its_value_not_shown(self):
        # relx's rpc takes only "Mod Fun Args"; its eval's printed value is ours
        self.assertEqual(self.ok.msgs("rpc"), [], self.ok.stdout)
        self.assertFalse([m for m in self.ok.msgs() if "RELRUN-" in m], self.ok.stdout)


class DistBackend(Backend, unittest.TestCase):
    backend = "dist"


class Language(unittest.TestCase):
    def test_lang_elixir_on_a_release_without_elixir_fails_as_the_task(self):
        r = DistBackend.pod('LiveStream.run("s1")', "--lang", "elixir")
        self.assertEqual(r.code, 1, r.stdout)
        self.assertIn("Elixir.Code", r.term["cause"])

    def test_lang_erlang_on_a_mix_release(self):
        # an Erlang expression on an Elixir release: evaluated by erl_eval there too
        for backend in ("script", "dist"):
            env = node_env()
            term = os.path.join(tempfile.mkdtemp(), "term")
            p = subprocess.run([POD, "--release", RELEASE, "--rpc", backend, "--lang", "erlang",
                                "--termination-log", term, "--",
                                "'Elixir.LiveStream':run(<<\"s1\">>)."],
                               capture_output=True, text=True, env=env, timeout=120)
            self.assertEqual(p.returncode, 0, (backend, p.stdout))
            with open(term) as f:
                self.assertEqual(json.load(f)["return"], '{ok,<<"s1">>}')

    def test_bad_lang_is_a_usage_error(self):
        r = DistBackend.pod("x.", "--lang", "cobol")
        self.assertEqual(r.code, 64)
        self.assertIn('--lang "cobol": expected erlang or elixir', r.stderr)


if __name__ == "__main__":
    unittest.main()
