"""The app's log format learnt from the node: with no --app-format, relrun-pod
asks the node for its console format and time zone before the task and
parses the app's lines (boot lines included) by it, on both backends."""
import datetime
import unittest

import podlib
from podlib import run_pod

BACKENDS = ["script", "dist"]


def on_backend(backend, *args, **kw):
    saved = podlib.RPC["backend"]
    podlib.RPC["backend"] = backend
    try:
        return run_pod(*args, **kw)
    finally:
        podlib.RPC["backend"] = saved


def ts(ev):
    return datetime.datetime.strptime(ev["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")


class FormatFromTheNode(unittest.TestCase):
    def test_levels_metadata_and_times_with_no_flag_in_any_time_zone(self):
        # TZ as a POSIX rule (no tzdata needed): the node logs local time, 9 h
        # ahead of UTC; the events must carry UTC all the same
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                r = on_backend(backend, 'LiveStream.run("f1")', app_format=False,
                               env={"TZ": "JST-9"})
                self.assertEqual(r.code, 0, r.stdout)
                seg = [e for e in r.events if e["msg"] == "segment 3 of f1 arrived late"]
                self.assertEqual(len(seg), 1, r.msgs("app"))
                self.assertEqual(seg[0]["level"], "warning")
                self.assertEqual(seg[0]["stream_id"], "f1")
                # the line's own time, read as the node's local time: beside
                # relrun-pod's own (real UTC) events, not 9 hours away
                ready = r.relrun("ready")[0]
                gap = abs((ts(seg[0]) - ts(ready)).total_seconds())
                self.assertLess(gap, 600, (seg[0]["ts"], ready["ts"]))
                # a boot line, logged before the format was known, parsed too
                self.assertIn("live_stream application started", r.msgs("app"))

    def test_utc_log_is_read_from_the_node(self):
        # the same zone, but the node logs UTC (logger's utc_log, set on the
        # VM's command line): read as local time it would be 9 h off
        r = on_backend("dist", 'LiveStream.run("f5")', app_format=False,
                       env={"TZ": "JST-9", "ELIXIR_ERL_OPTIONS": "-logger utc_log true"})
        self.assertEqual(r.code, 0, r.stdout)
        seg = next(e for e in r.events if e["msg"] == "segment 3 of f5 arrived late")
        gap = abs((ts(seg) - ts(r.relrun("ready")[0])).total_seconds())
        self.assertLess(gap, 600, (seg["ts"], r.relrun("ready")[0]["ts"]))

    def test_io_puts_is_never_glued_to_a_log_event(self):
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                r = on_backend(backend, 'LiveStream.run("f2")', app_format=False)
                self.assertEqual(r.code, 0)
                progress = [e for e in r.events if "progress f2" in e["msg"]]
                self.assertEqual([e["msg"] for e in progress], ["progress f2 50%"])
                # the multi-line message with indented lines stays one event
                self.assertIn("encoder settings:\n  codec=h264\n  preset=fast", r.msgs("app"))

    def test_app_format_flag_stays_an_override(self):
        # a format without $metadata: the metadata stays in the message
        r = on_backend("dist", 'LiveStream.run("f3")', "--app-format",
                       "$date $time [$level] $message\n", app_format=False)
        self.assertEqual(r.code, 0)
        self.assertIn("stream_id=f3 | segment 3 of f3 arrived late", r.msgs("app"))

    def test_boot_failure_with_no_flag_shows_the_last_lines(self):
        r = on_backend("dist", 'LiveStream.run("f4")', app_format=False,
                       env={"LIVE_STREAM_BOOT_FAIL": "1"})
        self.assertEqual(r.code, 70)
        self.assertIn("boot failure requested", r.relrun("exit")[0]["msg"])


if __name__ == "__main__":
    unittest.main()
