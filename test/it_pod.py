"""relrun-pod end to end on the real fixture release (script backend)."""
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import unittest

from podlib import (APP_FORMAT, ELIXIR_DEFAULT_LINE, POD, RELEASE, beam_running, node_env,
                    pod_argv, run_pod)


class PodSuccess(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.r = run_pod('LiveStream.run("s1", bitrate: 4000)')

    def test_exit_code_and_termination_log(self):
        self.assertEqual(self.r.code, 0, self.r.stdout + self.r.stderr)
        t = self.r.term
        self.assertEqual(t["exit_code"], 0)
        self.assertEqual(t["phase"], "task")
        self.assertEqual(t["return"], '{:ok, "s1"}')
        self.assertEqual(t["expr"], 'LiveStream.run("s1", bitrate: 4000)')
        self.assertGreater(t["duration_ms"], 0)
        self.assertLessEqual(len(self.r.raw_term), 4096)

    def test_every_line_is_one_uniform_json_event(self):
        lines = self.r.stdout.splitlines()
        self.assertGreater(len(lines), 8)
        for line in lines:
            ev = json.loads(line)
            self.assertRegex(ev["ts"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertIn(ev["level"], ["debug", "info", "notice", "warning", "error"])
            self.assertIn(ev["src"], ["app", "rpc", "relrun"])
            self.assertFalse(ELIXIR_DEFAULT_LINE.match(ev["msg"]), ev)
        self.assertEqual(self.r.stderr, "")

    def test_task_logs_appear_exactly_once_in_the_apps_format(self):
        # Counted as whole lines across all app events: how lines group into
        # events when separate writes arrive in one read is logline's unit test.
        lines = "\n" + "\n".join(self.r.msgs("app")) + "\n"
        for want in ["encode start s1 bitrate=4000",
                     "encoder settings:\n  codec=h264\n  preset=fast",
                     "segment 3 of s1 arrived late",
                     "progress s1 50%",             # IO.puts from the task
                     "uploader for s1 running",     # a process the task spawned
                     "encode done s1"]:             # logged right before returning
            self.assertEqual(lines.count("\n" + want + "\n"), 1, f"{want!r} in {lines}")
        # nothing of the task leaks through the rpc helper
        self.assertEqual([m for m in self.r.msgs("rpc")], [])

    def test_levels_and_metadata_parsed(self):
        ev = next(e for e in self.r.events
                  if e["msg"].split("\n")[0] == "segment 3 of s1 arrived late")
        self.assertEqual(ev["level"], "warning")
        self.assertEqual(ev["stream_id"], "s1")
        self.assertEqual(ev["node"].split("@")[0], self.r.node)

    def test_runner_events_in_order(self):
        kinds = [e.get("event") for e in self.r.events if e["src"] == "relrun"]
        for k in ["start", "rpc", "ready", "result", "stop", "exit"]:
            self.assertIn(k, kinds)
        self.assertLess(kinds.index("start"), kinds.index("ready"))
        self.assertLess(kinds.index("ready"), kinds.index("result"))
        self.assertEqual(kinds[-1], "exit")
        self.assertIn('{:ok, "s1"}', self.r.relrun("result")[0]["msg"])

    def test_release_stopped(self):
        self.assertIn("live_stream application stopped", self.r.msgs("app"))
        self.assertFalse(beam_running(self.r.node))


class PodFailures(unittest.TestCase):
    def test_task_raises_exits_1_with_the_error_in_the_stream(self):
        r = run_pod("LiveStream.fail()")
        self.assertEqual(r.code, 1)
        self.assertEqual(r.msgs("app").count("about to fail"), 1)
        errs = [e for e in r.events if e["src"] == "rpc" and "RuntimeError" in e["msg"]]
        self.assertEqual(len(errs), 1)
        self.assertEqual(errs[0]["level"], "error")
        self.assertIn("lib/live_stream.ex", errs[0]["msg"])  # stack trace kept whole
        self.assertEqual(r.term["exit_code"], 1)
        self.assertEqual(r.term["phase"], "task")

    def test_exit_shutdown_n_gives_n(self):
        r = run_pod("LiveStream.exit_with(3)")
        self.assertEqual(r.code, 3)
        self.assertEqual(r.term["exit_code"], 3)

    def test_syntax_error_in_expression(self):
        r = run_pod('LiveStream.run("s1"')
        self.assertEqual(r.code, 1)
        rpc = "\n".join(r.msgs("rpc"))
        self.assertRegex(rpc, r"(TokenMissingError|SyntaxError)")
        self.assertIn('LiveStream.run("s1"', rpc)  # the user's own text, not our wrapper
        self.assertFalse(beam_running(r.node))

    def test_error_tuple_mapped_by_error_exit(self):
        self.assertEqual(run_pod("LiveStream.error(:disk_full)").code, 0)
        r = run_pod("LiveStream.error(:disk_full)", "--error-exit", "5")
        self.assertEqual(r.code, 5)
        self.assertEqual(r.term["return"], "{:error, :disk_full}")

    def test_release_that_fails_to_boot(self):
        r = run_pod('LiveStream.run("s1")', env={"LIVE_STREAM_BOOT_FAIL": "1"})
        self.assertEqual(r.code, 70)
        self.assertEqual(r.term["phase"], "boot")
        exit_ev = r.relrun("exit")[0]
        self.assertIn("before it was ready", exit_ev["msg"])
        self.assertIn("boot failure requested", exit_ev["msg"])  # the last app lines
        self.assertEqual(exit_ev["level"], "error")

    def test_ready_timeout(self):
        r = run_pod('LiveStream.run("s1")', "--ready-timeout", "1s",
                    env={"LIVE_STREAM_BOOT_DELAY_MS": "20000"})
        self.assertEqual(r.code, 124)
        self.assertEqual(r.term["phase"], "ready")
        self.assertNotIn("encode start s1 bitrate=3000", r.msgs("app"))
        self.assertFalse(beam_running(r.node))

    def test_ready_expr_never_true(self):
        r = run_pod('LiveStream.run("s1")', "--ready-timeout", "1500ms", "--ready-expr", "false")
        self.assertEqual(r.code, 124)
        self.assertNotIn("encode start s1 bitrate=3000", r.msgs("app"))

    def test_ready_expr_true(self):
        r = run_pod('LiveStream.run("s2")', "--ready-expr",
                    "Process.whereis(LiveStream.Ticker) != nil")
        self.assertEqual(r.code, 0)
        self.assertIn("encode done s2", r.msgs("app"))


class PodStop(unittest.TestCase):
    def test_both_stops_run_the_stop_callbacks(self):
        for how in ["fast", "sigterm"]:
            r = run_pod('LiveStream.run("s9")', "--stop", how)
            self.assertEqual(r.code, 0, how)
            self.assertEqual(r.msgs("app").count("live_stream application stopped"), 1, how)
            self.assertEqual(r.msgs("app").count("encode done s9"), 1, how)
            self.assertFalse(beam_running(r.node), how)
            self.assertTrue(any("release stopped (status 0)" in m for m in r.msgs("relrun")), how)


class PodStream(unittest.TestCase):
    def test_flood_nothing_lost_nothing_doubled(self):
        r = run_pod("LiveStream.flood(3000)")
        self.assertEqual(r.code, 0)
        got = [m for m in r.msgs("app") if m.startswith("flood line ")]
        self.assertEqual(got, [f"flood line {i}" for i in range(1, 3001)])
        self.assertEqual(r.term["return"], "{:ok, 3000}")

    def test_big_return_value_capped_in_termination_log(self):
        r = run_pod("LiveStream.big(20000)")
        self.assertEqual(r.code, 0)
        self.assertLessEqual(len(r.raw_term), 4096)
        self.assertTrue(r.term["return"].startswith('"xxxx'))

    def test_logfmt_and_text(self):
        r = run_pod('LiveStream.run("s3")', "--log-format", "logfmt")
        self.assertEqual(r.code, 0)
        lines = r.stdout.splitlines()
        self.assertTrue(all(l.startswith("ts=") and " src=" in l for l in lines), lines[:3])
        self.assertTrue(any('msg="encoder settings:\\n  codec=h264\\n  preset=fast' in l
                            for l in lines))
        r = run_pod('LiveStream.run("s4")', "--log-format", "text")
        self.assertEqual(r.code, 0)
        self.assertRegex(r.stdout, r"(?m)^\S+Z warning app    segment 3 of s4 arrived late")

    def test_background_logs_of_the_app_stream_too(self):
        # The app's own periodic worker logs while the task runs: each tick once, in
        # order, parsed with its level.
        r = run_pod("LiveStream.sleep(600)", env={"LIVE_STREAM_TICK_MS": "50"})
        self.assertEqual(r.code, 0)
        ticks = [e for e in r.events if e["src"] == "app" and e["msg"].startswith("tick ")]
        nums = [int(e["msg"].split()[1]) for e in ticks]
        self.assertGreaterEqual(len(nums), 5, r.msgs("app"))
        self.assertEqual(nums, list(range(nums[0], nums[0] + len(nums))))
        self.assertTrue(all(e["level"] == "debug" for e in ticks))

    def test_default_app_format_keeps_unparsed_lines_once(self):
        # Without --app-format the app's lines do not match Elixir's default
        # format: they still come out, once each, as plain info lines.
        r = run_pod('LiveStream.run("s5")', app_format=False)
        self.assertEqual(r.code, 0)
        matches = [m for m in r.msgs("app") if "encode done s5" in m]
        self.assertEqual(len(matches), 1)


class PodSignals(unittest.TestCase):
    def test_sigterm_mid_task_stops_release_and_exits_75(self):
        env = node_env()
        tmp = tempfile.mkdtemp()
        term = os.path.join(tmp, "term")
        p = subprocess.Popen(pod_argv() + ["--app-format", APP_FORMAT,
                                           "--termination-log", term, "--",
                                           "LiveStream.sleep(60000)"],
                             stdout=subprocess.PIPE, text=True, env=env)
        lines = []
        for line in p.stdout:
            lines.append(json.loads(line))
            if "sleeping 60000 ms" in lines[-1]["msg"]:
                break
        self.assertTrue(beam_running(env["RELEASE_NODE"]))
        p.send_signal(signal.SIGTERM)
        rest, _ = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 75)
        events = [json.loads(l) for l in rest.splitlines()]
        msgs = [e["msg"] for e in events]
        self.assertIn("live_stream application stopped", msgs)  # graceful: stop callbacks ran
        # the task's stop is the node's, not the rpc helper's: that client is not told
        # to shut down (OTP >= 26 would log "SIGTERM received - shutting down" for it)
        self.assertEqual([e["msg"] for e in events if e["src"] == "rpc"], [], events)
        self.assertFalse(beam_running(env["RELEASE_NODE"]))
        with open(term) as f:
            t = json.load(f)
        self.assertEqual(t["exit_code"], 75)
        self.assertEqual(t["phase"], "killed")
        # no rpc helper BEAM left behind either
        out = subprocess.run(["pgrep", "-f", f"rpc-.*-{env['RELEASE_NODE']}"], capture_output=True)
        self.assertNotEqual(out.returncode, 0)

    def test_second_signal_kills_at_once(self):
        env = node_env({"LIVE_STREAM_BOOT_DELAY_MS": "0"})
        p = subprocess.Popen(pod_argv() + ["--grace", "60s", "--", "LiveStream.sleep(60000)"],
                             stdout=subprocess.PIPE, text=True, env=env)
        for line in p.stdout:
            if "sleeping 60000 ms" in line:
                break
        p.send_signal(signal.SIGTERM)
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=20)
        self.assertEqual(p.returncode, 75)
        time.sleep(0.2)
        self.assertFalse(beam_running(env["RELEASE_NODE"]))


class PodUsage(unittest.TestCase):
    def run_raw(self, *args, env=None):
        return subprocess.run([POD, *args], capture_output=True, text=True,
                              env=env or node_env(), timeout=30)

    def test_no_expression(self):
        r = self.run_raw("--release", RELEASE)
        self.assertEqual(r.returncode, 64)
        self.assertIn("no expression", r.stderr)

    def test_bad_flags(self):
        for args, want in [(["--log-format", "yaml", "--", "x"], '--log-format "yaml"'),
                           (["--grace", "soon", "--", "x"], '--grace "soon": not a duration'),
                           (["--bogus", "--", "x"], 'unknown option "--bogus"'),
                           (["--error-exit", "99", "--", "x"], "--error-exit 99: out of range"),
                           (["--rpc", "ssh", "--", "x"], '--rpc "ssh"'),
                           (["--stop", "later", "--", "x"], '--stop "later"')]:
            r = self.run_raw("--release", RELEASE, *args)
            self.assertEqual(r.returncode, 64, args)
            self.assertIn(want, r.stderr)
            self.assertEqual(r.stdout, "")

    def test_missing_release_binary(self):
        r = self.run_raw("--release", "/nonexistent/bin/app", "--", "x")
        self.assertEqual(r.returncode, 70)
        self.assertIn("/nonexistent/bin/app", r.stdout)

    def test_normalise_keeps_arrival_order(self):
        # a JSON line after a plain one must not overtake it
        r = subprocess.run([POD, "--normalise"], input='plain first\n{"message":"json second"}\n',
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([json.loads(l)["msg"] for l in r.stdout.splitlines()],
                         ["plain first", "json second"])

    def test_burst_goes_out_while_the_reader_lags(self):
        # The runtime reads the pod's stdout through a pipe and may lag: a
        # burst of events (here ~400 KB of JSON, past a pipe's default 64 KiB)
        # is written into the pipe's room and the normaliser finishes, rather
        # than waiting on the reader. Nothing reads the pipe until it exits.
        r, w = os.pipe()
        try:
            with tempfile.TemporaryFile() as inp:
                inp.write("".join("burst line %d of the task's log\n" % i
                                  for i in range(4000)).encode())
                inp.seek(0)
                p = subprocess.Popen([POD, "--normalise"], stdin=inp, stdout=w,
                                     stderr=subprocess.PIPE)
            os.close(w)
            w = None
            try:
                rc = p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                self.fail("relrun-pod --normalise blocked on its stdout pipe while nobody read it")
            self.assertEqual(rc, 0, p.stderr.read())
            out = b""
            while True:
                b = os.read(r, 1 << 20)
                if not b:
                    break
                out += b
            msgs = [json.loads(l)["msg"] for l in out.decode().splitlines()]
            self.assertEqual(msgs, ["burst line %d of the task's log" % i for i in range(4000)])
        finally:
            os.close(r)
            if w is not None:
                os.close(w)

    def test_help_and_install(self):
        r = self.run_raw("--help")
        self.assertEqual(r.returncode, 0)
        for flag in ["--release", "--ready-timeout", "--log-format", "--grace", "--rpc",
                     "--termination-log", "--error-exit", "--install", "--app-format"]:
            self.assertIn(flag, r.stdout)
        # each flag described once: the help's left column has no repeats
        listed = re.findall(r"^  (?:-\w, )?(--[a-z-]+)", r.stdout, re.M)
        self.assertEqual(sorted(listed), sorted(set(listed)), listed)
        dest = os.path.join(tempfile.mkdtemp(), "relrun-pod")
        r = self.run_raw("--install", dest)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.access(dest, os.X_OK))
        self.assertEqual(subprocess.run([dest, "--version"], capture_output=True,
                                        text=True).stdout.split()[0], "relrun-pod")


if __name__ == "__main__":
    unittest.main()
