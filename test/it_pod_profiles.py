"""relrun-pod --log-format gcp|ecs|datadog on the real fixture release: every line of
the pod (the app's lines, relrun's own events, the exit event with its fields) is one
JSON object in the collector's documented field names and level words; relrun renders
each profile back for people (`relrun run` against the simulator, whose kubelet
replays a pod log written in the profile)."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from podlib import POD, RELEASE, run_pod
from simlib import Sim

RELRUN = os.environ.get("RELRUN_BIN", "")
EXPR = 'LiveStream.run("s1", bitrate: 4000)'

# key of: time, level, message, src, node; the level words the collector reads
PROFILES = {
    "gcp": {"ts": "time", "level": "severity", "msg": "message", "src": None, "node": None,
            "words": {"DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT",
                      "EMERGENCY"},
            "warning": "WARNING", "info": "INFO"},
    "ecs": {"ts": "@timestamp", "level": "log.level", "msg": "message", "src": "log.logger",
            "node": "service.node.name",
            "words": {"debug", "info", "notice", "warning", "error", "critical", "alert",
                      "emergency"},
            "warning": "warning", "info": "info"},
    "datadog": {"ts": "timestamp", "level": "status", "msg": "message", "src": "logger.name",
                "node": "node",
                "words": {"debug", "info", "notice", "warning", "error", "critical", "alert",
                          "emerg"},
                "warning": "warning", "info": "info"},
}
TS_RE = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"


_runs = {}


def run_in(prof):
    """The fixture's task run once per profile, shared by the tests."""
    if prof not in _runs:
        _runs[prof] = run_pod(EXPR, "--log-format", prof)
    return _runs[prof]


def src_of(prof, ev):
    p = PROFILES[prof]
    if p["src"] is None:
        return ev["logging.googleapis.com/labels"]["src"]
    return ev[p["src"]]


class PodProfiles(unittest.TestCase):
    runs = {}

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(POD) or not os.path.exists(RELEASE):
            raise unittest.SkipTest("relrun-pod or the fixture release not built")
        for prof in PROFILES:
            cls.runs[prof] = run_in(prof)

    def events(self, prof):
        r = self.runs[prof]
        self.assertEqual(r.code, 0, r.stdout + r.stderr)
        self.assertEqual(r.stderr, "")
        lines = r.stdout.splitlines()
        self.assertGreater(len(lines), 8)
        return [json.loads(line) for line in lines]  # every line valid JSON

    def test_every_event_in_the_collectors_field_names_and_level_words(self):
        for prof, p in PROFILES.items():
            with self.subTest(profile=prof):
                for ev in self.events(prof):
                    self.assertRegex(ev[p["ts"]], TS_RE)
                    self.assertIn(ev[p["level"]], p["words"], ev)
                    self.assertIsInstance(ev[p["msg"]], str)
                    self.assertIn(src_of(prof, ev), ["app", "rpc", "relrun"])
                    # relrun's own keys never leak into a profile
                    for k in ("ts", "level", "msg", "src"):
                        self.assertNotIn(k, ev, ev)
                    if prof == "ecs":
                        self.assertEqual(ev["ecs.version"], "8.11.0")

    def test_app_lines_keep_level_metadata_and_node(self):
        for prof, p in PROFILES.items():
            with self.subTest(profile=prof):
                evs = self.events(prof)
                ev = next(e for e in evs
                          if e[p["msg"]].split("\n")[0] == "segment 3 of s1 arrived late")
                self.assertEqual(ev[p["level"]], p["warning"])
                self.assertEqual(src_of(prof, ev), "app")
                self.assertEqual(ev["stream_id"], "s1")
                node = (ev["logging.googleapis.com/labels"]["node"] if prof == "gcp"
                        else ev[p["node"]])
                self.assertEqual(node.split("@")[0], self.runs[prof].node)
                msgs = "\n".join(e[p["msg"]] for e in evs if src_of(prof, e) == "app")
                self.assertEqual(msgs.count("encode done s1"), 1)

    def test_relrun_events_and_the_exit_event_with_its_fields(self):
        for prof, p in PROFILES.items():
            with self.subTest(profile=prof):
                evs = [e for e in self.events(prof) if src_of(prof, e) == "relrun"]
                kinds = [e.get("event") for e in evs]
                for k in ("start", "ready", "exit"):
                    self.assertIn(k, kinds)
                last = evs[-1]
                self.assertEqual(last["event"], "exit")
                self.assertEqual(last["exit_code"], 0)
                self.assertEqual(last["phase"], "task")
                self.assertIsInstance(last["duration_ms"], int)
                self.assertEqual(last[p["level"]], p["info"])
                self.assertTrue(last[p["msg"]].startswith("exit 0: "), last)

    def test_a_failed_task_exits_with_an_error_level_word(self):
        r = run_pod("exit({:shutdown, 3})", "--log-format", "gcp")
        self.assertEqual(r.code, 3, r.stdout + r.stderr)
        last = json.loads(r.stdout.splitlines()[-1])
        self.assertEqual(last["event"], "exit")
        self.assertEqual(last["exit_code"], 3)
        self.assertEqual(last["severity"], "ERROR")


# The pod log replayed by a fake relrun-pod: relrun renders it for people.
SCRIPT = """#!/bin/sh
cat <<'RELRUN_EOF'
%s
RELRUN_EOF
exit 0
"""


class RenderProfiles(unittest.TestCase):
    sim = None

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(RELRUN) or not os.path.exists(POD) or not os.path.exists(RELEASE):
            raise unittest.SkipTest("relrun, relrun-pod or the fixture release not built")
        cls.root = tempfile.mkdtemp(prefix="relrun-it-profiles-")
        images = {}
        cls.logs = {}
        for prof in ["json"] + list(PROFILES):
            r = run_in(prof)
            assert r.code == 0, r.stdout + r.stderr
            cls.logs[prof] = r.stdout
            img = os.path.join(cls.root, prof)
            os.makedirs(os.path.join(img, "usr", "local", "bin"))
            fake = os.path.join(img, "usr", "local", "bin", "relrun-pod")
            with open(fake, "w") as f:
                f.write(SCRIPT % r.stdout.rstrip("\n"))
            os.chmod(fake, 0o755)
            images["%s:test" % prof] = img
        cls.sim = Sim(tls=True, images=images).start()

    @classmethod
    def tearDownClass(cls):
        if cls.sim:
            left = cls.sim.stop()
            shutil.rmtree(cls.root, ignore_errors=True)
            if left:
                raise AssertionError("processes left behind: %s" % left)

    def rendered(self, prof):
        e = dict(os.environ)
        e.pop("KUBECONFIG", None)
        e["NO_COLOR"] = "1"
        p = subprocess.run([RELRUN, "--kubeconfig", self.sim.kubeconfig, "run", "--image",
                            "%s:test" % prof, "--release", "/app/bin/x", "--inject", "none",
                            "A.b()"], capture_output=True, text=True, timeout=120, env=e)
        self.assertEqual(p.returncode, 0, p)
        return [l for l in p.stdout.splitlines() if l]

    ERLANG = {"emerg": "emergency", "default": "info"}

    def expected(self, prof):
        """(level, src, message) of each event of the profile's pod log, from its JSON."""
        out = []
        for line in self.logs[prof].splitlines():
            ev = json.loads(line)
            if prof == "json":
                lv, src, msg = ev["level"], ev["src"], ev["msg"]
            else:
                p = PROFILES[prof]
                lv, src, msg = ev[p["level"]].lower(), src_of(prof, ev), ev[p["msg"]]
            out.append((self.ERLANG.get(lv, lv), src, msg))
        return out

    @staticmethod
    def shape(line):
        """(level, src, message) of a rendered line: "HH:MM:SS.mmm level   src    msg"."""
        parts = line.split(None, 3)
        return parts[1], parts[2], parts[3] if len(parts) > 3 else ""

    def test_every_profile_renders_like_relruns_own_json(self):
        for prof in ["json"] + list(PROFILES):
            with self.subTest(profile=prof):
                lines = self.rendered(prof)
                for l in lines:
                    self.assertFalse(l.startswith("{"), "not rendered: %s" % l)
                body = [l for l in lines if l[:2].isdigit() and l[2] == ":"]
                seg = [self.shape(l) for l in body if "segment 3 of s1 arrived late" in l]
                self.assertEqual(len(seg), 1, lines)
                level, src, msg = seg[0]
                self.assertEqual((level, src), ("warning", "app"))
                self.assertIn("stream_id=s1", msg)
                ex = [self.shape(l) for l in body if " exit 0: " in l]
                self.assertEqual(len(ex), 1, lines)
                self.assertEqual(ex[0][:2], ("info", "relrun"))
                # every event of the pod log rendered once, in order, with its level
                # as Erlang names it, its source and its message's first line (the
                # metadata follows it on the rendered line)
                want = self.expected(prof)
                self.assertEqual(len(body), len(want), lines)
                for l, (lv, src, msg) in zip(body, want):
                    got = self.shape(l)
                    self.assertEqual(got[:2], (lv, src), l)
                    self.assertTrue(got[2].startswith(msg.split("\n")[0].strip()), (l, msg))


if __name__ == "__main__":
    unittest.main()
