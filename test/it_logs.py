"""Logs that are never lost: `relrun logs -f`, `wait` and `run` print every line of a
Job's pod, running or long finished, then exit with its code; `-o json` is always
valid JSON lines. Against the simulator, with a pod whose entrypoint is a small
shell script (real processes, real HTTP)."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from simlib import Sim

RELRUN = os.environ.get("RELRUN_BIN", "")

# A pod log of N relrun-pod events (the last one a JSON line with a slash in it),
# some plain lines, then exit 3.
SCRIPT = r"""#!/bin/sh
n="${LINES_N:-2000}"
seq 1 "$n" | sed 's|.*|{"ts":"2026-12-02T07:00:00.000Z","level":"info","src":"app","msg":"line &","path":"/a/b"}|'
echo 'plain stdout line'
echo 'plain stderr line' >&2
exit "${EXIT_CODE:-3}"
"""


class LogsBase(unittest.TestCase):
    sim = None

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(RELRUN):
            raise unittest.SkipTest("relrun not built")
        cls.root = tempfile.mkdtemp(prefix="relrun-it-logs-")
        # one image per pod script: the script stands in for relrun-pod
        images = {}
        for image, script in (("lines", SCRIPT.encode()), ("hostile", HOSTILE), ("ctl", CONTROL),
                              ("prof", PROFILES), ("tm", TERM_CONTROL), ("pairs", PAIRS)):
            img = os.path.join(cls.root, image)
            os.makedirs(os.path.join(img, "usr", "local", "bin"))
            fake = os.path.join(img, "usr", "local", "bin", "relrun-pod")
            with open(fake, "wb") as f:
                f.write(script)
            os.chmod(fake, 0o755)
            images[image + ":test"] = img
        cls.sim = Sim(tls=True, images=images).start()

    @classmethod
    def tearDownClass(cls):
        if cls.sim:
            left = cls.sim.stop()
            shutil.rmtree(cls.root, ignore_errors=True)
            if left:
                raise AssertionError("processes left behind: %s" % left)

    def relrun(self, *args, timeout=120):
        e = dict(os.environ)
        e.pop("KUBECONFIG", None)
        e["NO_COLOR"] = "1"
        p = subprocess.run([RELRUN, "--kubeconfig", self.sim.kubeconfig] + list(args),
                           capture_output=True, timeout=timeout, env=e)
        return p

    def start(self, image="lines:test", lines=2000, code=3):
        p = self.relrun("run", "--image", image, "--release", "/app/bin/x", "--inject", "none",
                        "--env", "LINES_N=%d" % lines, "--env", "EXIT_CODE=%d" % code,
                        "--detach", "A.b()")
        self.assertEqual(p.returncode, 0, p)
        return p.stdout.decode().strip()

    def finished(self, want=0, **start):
        """A Job started (start's arguments) and waited for: its name; wait's code checked."""
        name = self.start(**start)
        w = self.relrun("wait", name, "--timeout", "60s")
        self.assertEqual(w.returncode, want, w)
        return name


HOSTILE = (b"#!/bin/sh\n"
           b"printf 'bad utf8 \\377\\376 here\\n'\n"
           b"printf 'nul \\000 inside\\n'\n"
           b"printf '{\"not\": json\\n'\n"
           b"printf '{\"ts\":\"2026-12-02T07:00:00.000Z\",\"level\":\"info\",\"msg\":\"ok /x\"}\\n'\n"
           b"printf '{\"ts\":\"2026-12-02T07:00:00.000Z\",\"msg\":\"bad \\377 utf8 in json\"}\\n'\n"
           b"printf 'ctl \\001\\033[31m red\\t tab \\\\ back \" quote\\n'\n"
           b"printf 'to stderr\\n' >&2\n"
           b"printf '[1,2]\\n'\n"
           b"printf '%s\\n' '{\"ts\":\"2026-12-02T07:00:00.000Z\",\"msg\":\"esc \\/slash\",\"p\":\"a\\/b\"}'\n"
           b"printf '%s\\n' '{\"a\":1,\"msg\":2}'\n"
           b"printf 'no newline at end'\n"
           b"exit 0\n")

# A pod that tries to drive the user's terminal: retitle it (OSC), clear it
# (CSI), ring it, move back over a line (CR), and the same through an 8-bit C1
# CSI (a lone 0x9b byte, and U+009B in UTF-8), plain and inside relrun-pod events.
CONTROL = (b"#!/bin/sh\n"
           b"printf 'title \\033]0;pwned\\007 done\\n'\n"
           b"printf 'clear \\033[2J\\033[H done\\n'\n"
           b"printf 'c1 \\233 2J done\\n'\n"
           b"printf 'u9b \\302\\2332J done\\n'\n"
           b"printf 'cr hidden\\rshown done\\n'\n"
           b"printf 'keep\\ttab caf\\303\\251 done\\n'\n"
           b"printf '%s\\n' '{\"ts\":\"2026-12-02T07:00:00.000Z\",\"level\":\"info\",\"src\":\"app\","
           b"\"msg\":\"ev \\u001b]2;pwned\\u0007 \\u009b2J\\nsecond \\u001b[31m\","
           b"\"user\":\"\\u001b[8m\"}'\n"
           b"exit 0\n")

# One event in each profile relrun-pod writes (json, gcp, ecs, datadog), each
# with its own words for the level.
PROFILES = (b"#!/bin/sh\n"
            b"cat <<'EOF'\n"
            b'{"ts":"2026-12-02T07:00:01.000Z","level":"warning","src":"app","msg":"json ev","user":"a"}\n'
            b'{"time":"2026-12-02T07:00:02.000Z","severity":"CRITICAL","message":"gcp ev",'
            b'"logging.googleapis.com/labels":{"src":"rpc","node":"n@h","user":"b"}}\n'
            b'{"@timestamp":"2026-12-02T07:00:03.000Z","log.level":"warn","message":"ecs ev",'
            b'"ecs.version":"8.11","log.logger":"app","service.node.name":"n@h","user":"c"}\n'
            b'{"timestamp":"2026-12-02T07:00:04.000Z","status":"err","message":"dd ev",'
            b'"logger.name":"relrun","user":"d"}\n'
            b'{"ts":"2026-12-02T07:00:05.000Z","level":"chatty","msg":"odd level"}\n'
            b"EOF\n"
            b"exit 0\n")


class TestProfilesForPeople(LogsBase):
    def test_every_profile_reads_the_same_for_people(self):
        name = self.finished(image="prof:test")
        p = self.relrun("logs", name)
        self.assertEqual(p.returncode, 0, p)
        lines = p.stdout.decode().splitlines()
        self.assertEqual(lines, [
            "07:00:01.000 warning app    json ev user=a",
            "07:00:02.000 critical rpc    gcp ev user=b",
            "07:00:03.000 warning app    ecs ev user=c",
            "07:00:04.000 error   relrun dd ev user=d",
            "07:00:05.000 chatty         odd level",
        ])

# Each event twice: as it is, then with one character of its message or of a
# field written as a JSON escape ("\u0061" for "a"): the first takes the
# renderer's one-room path for plain lines, the second the general one, and
# people must not see a difference. Shapes: fields, no src, a long src, a
# level longer than its column, no time, a time without a fraction, with
# nanoseconds, an empty field, a level no profile names, a non-string field.
PAIRS_EVENTS = [
    ('{"ts":"2026-12-02T07:00:01.123Z","level":"info","src":"app","msg":"%s","k":"v"}', "m a"),
    ('{"ts":"2026-12-02T07:00:02.000Z","level":"debug","msg":"%s"}', "no src a"),
    ('{"ts":"2026-12-02T07:00:03.5Z","level":"warning","src":"application","msg":"%s"}', "long a"),
    ('{"ts":"2026-12-02T07:00:04Z","level":"emergency","src":"app","msg":"%s"}', "lvl a"),
    ('{"level":"error","src":"rpc","msg":"%s","user":"u"}', "no ts a"),
    ('{"ts":"2026-12-02T07:00:05.123456789Z","level":"info","src":"app","msg":"%s"}', "ns a"),
    ('{"ts":"2026-12-02T07:00:06.000Z","level":"info","src":"app","msg":"%s","e":"","f":"x"}',
     "empty a"),
    ('{"ts":"2026-12-02T07:00:07.000Z","level":"chatty","src":"app","msg":"%s"}', "odd a"),
    ('{"ts":"2026-12-02T07:00:08.000Z","level":"info","src":"app","msg":"%s","n":5,"o":{"a":1}}',
     "num a"),
    ('{"ts":"bad","level":"info","src":"app","msg":"%s"}', "bad ts a"),
]
PAIRS = b"#!/bin/sh\ncat <<'EOF'\n"
for _ev, _msg in PAIRS_EVENTS:
    PAIRS += (_ev % _msg).encode() + b"\n"
    PAIRS += (_ev % _msg.replace("a", "\\u0061")).encode() + b"\n"
    if '"k":"v"' in _ev:  # the escape in a field's value instead
        PAIRS += (_ev % _msg).replace('"k":"v"', '"k":"\\u0076"').encode() + b"\n"
PAIRS += b"EOF\nexit 0\n"


class TestPlainAndEscapedReadTheSame(LogsBase):
    def test_the_one_room_path_writes_what_the_general_one_does(self):
        name = self.finished(image="pairs:test")
        p = self.relrun("logs", name)
        self.assertEqual(p.returncode, 0, p)
        lines = p.stdout.decode().splitlines()
        self.assertEqual(len(lines), 2 * len(PAIRS_EVENTS) + 1, lines)
        self.assertEqual(lines[0], "07:00:01.123 info    app    m a k=v")
        self.assertEqual(lines[1], lines[0])
        self.assertEqual(lines[2], lines[0])  # the field's escape
        got = lines[3:]
        for i in range(0, len(got), 2):
            self.assertEqual(got[i], got[i + 1], "pair %d" % (i // 2 + 1))
        self.assertEqual(got, [x for x in [
            "07:00:02.000 debug          no src a",
            "07:00:03.5   warning application long a",
            "07:00:04     emergency app    lvl a",
            "--:--:--.--- error   rpc    no ts a user=u",
            "07:00:05.123 info    app    ns a",
            "07:00:06.000 info    app    empty a e= f=x",
            "07:00:07.000 chatty  app    odd a",
            "07:00:08.000 info    app    num a",
            "--:--:--.--- info    app    bad ts a",
        ] for _ in (0, 1)])


# A failed task whose termination message (the cause relrun's summary line shows) tries
# to retitle and clear the terminal.
TERM_CONTROL = (b"#!/bin/sh\n"
                b"while [ $# -gt 0 ]; do\n"
                b"  if [ \"$1\" = --termination-log ]; then tm=\"$2\"; fi\n"
                b"  shift\n"
                b"done\n"
                b"printf '%s' '{\"phase\":\"task\",\"cause\":\"** (RuntimeError) "
                b"\\u001b]0;pwned\\u0007 boom \\u001b[2J\\u009b\"}' > \"$tm\"\n"
                b"echo 'task output'\n"
                b"exit 1\n")


class TestTextIsSafe(LogsBase):
    def test_summary_line_shows_the_pods_control_sequences(self):
        p = self.relrun("run", "--image", "tm:test", "--release", "/app/bin/x", "--inject", "none",
                        "A.b()")
        self.assertEqual(p.returncode, 1, p)
        err = p.stderr
        self.assertNotIn(b"\x1b", err)
        self.assertNotIn(b"\x07", err)
        text = err.decode("utf-8")
        self.assertNotIn("\x9b", text)
        self.assertIn("** (RuntimeError) \\x1b]0;pwned\\x07 boom \\x1b[2J\\x9b", text)

    def test_text_output_shows_control_sequences_never_sends_them(self):
        name = self.finished(image="ctl:test")
        for args in (("logs", name), ("logs", name, "-f")):
            p = self.relrun(*args)
            self.assertEqual(p.returncode, 0, p)
            out = p.stdout
            for b in range(0x20):
                if b not in (0x09, 0x0a):
                    self.assertNotIn(bytes([b]), out, "C0 0x%02x reached the terminal" % b)
            self.assertNotIn(b"\x7f", out)
            text = out.decode("utf-8")  # strict: no lone 0x80-0x9f byte either
            for c in range(0x80, 0xa0):
                self.assertNotIn(chr(c), text, "C1 U+%04X reached the terminal" % c)
            # the text is there, each control shown as \xNN
            self.assertIn("title \\x1b]0;pwned\\x07 done", text)
            self.assertIn("clear \\x1b[2J\\x1b[H done", text)
            self.assertIn("c1 \\x9b 2J done", text)
            self.assertIn("u9b \\x9b2J done", text)
            self.assertIn("cr hidden\\x0dshown done", text)
            self.assertIn("keep\ttab caf\u00e9 done", text)
            self.assertIn(" ev \\x1b]2;pwned\\x07 \\x9b2J", text)
            self.assertIn("user=\\x1b[8m", text)
            self.assertIn("\nsecond \\x1b[31m", text)

    def test_json_output_keeps_control_characters_escaped(self):
        name = self.finished(image="ctl:test")
        p = self.relrun("logs", name, "-o", "json")
        self.assertEqual(p.returncode, 0, p)
        self.assertNotIn(b"\x1b", p.stdout)
        msgs = [json.loads(x)["msg"] for x in p.stdout.decode().splitlines()]
        self.assertIn("title \x1b]0;pwned\x07 done", msgs)
        self.assertIn("ev \x1b]2;pwned\x07 \x9b2J\nsecond \x1b[31m", msgs)


class TestLogsFinished(LogsBase):
    def test_follow_a_finished_job_prints_every_line_every_time(self):
        name = self.finished(want=3, lines=2000, code=3)
        want = ["line %d" % i for i in range(1, 2001)]
        # The outcome is known before any log stream opens: every run must still
        # read the whole log, and exit with the task's code.
        for i in range(25):
            p = self.relrun("logs", name, "-f", "-o", "json")
            evs = [json.loads(x) for x in p.stdout.decode().splitlines()]
            msgs = [e["msg"] for e in evs]
            self.assertEqual(msgs[:2000], want, "run %d: %d of 2000 lines" % (i, len(msgs)))
            self.assertIn("plain stdout line", msgs, "run %d" % i)
            self.assertEqual(p.returncode, 3, "run %d: %s" % (i, p.stderr))

    def test_wait_and_logs_without_follow_agree(self):
        name = self.finished(lines=500, code=0)
        a = self.relrun("logs", name)
        b = self.relrun("logs", name, "-f")
        self.assertEqual(a.returncode, 0, a)
        self.assertEqual(b.returncode, 0, b)
        self.assertEqual(a.stdout, b.stdout)
        self.assertEqual(a.stdout.decode().count(" line "), 500)

    def test_run_prints_every_line_of_a_big_log(self):
        p = self.relrun("run", "--image", "lines:test", "--release", "/app/bin/x", "--inject",
                        "none", "--env", "LINES_N=50000", "--env", "EXIT_CODE=4", "-o", "json",
                        "A.b()")
        self.assertEqual(p.returncode, 4, p.stderr)
        lines = p.stdout.decode().splitlines()
        msgs = [json.loads(x).get("msg") for x in lines]
        self.assertEqual(msgs[:50000], ["line %d" % i for i in range(1, 50001)])


class TestJsonOutput(LogsBase):
    def test_json_output_is_valid_json_lines_over_hostile_input(self):
        name = self.finished(image="hostile:test")
        for args in (("logs", name, "-o", "json"), ("logs", name, "-f", "-o", "json")):
            p = self.relrun(*args)
            self.assertEqual(p.returncode, 0, p)
            out = p.stdout
            # strict UTF-8, one JSON object per line, no "\/"
            text = out.decode("utf-8")
            self.assertNotIn("\\/", text)
            evs = []
            for line in text.split("\n")[:-1]:
                ev = json.loads(line)
                self.assertIsInstance(ev, dict, line)
                self.assertIsInstance(ev.get("msg"), str, line)
                evs.append(ev)
            msgs = [e["msg"] for e in evs]
            self.assertIn("bad utf8 \ufffd\ufffd here", msgs)
            self.assertIn("nul \x00 inside", msgs)
            self.assertIn('{"not": json', msgs)
            self.assertIn("ok /x", msgs)
            self.assertIn("ctl \x01\x1b[31m red\t tab \\ back \" quote", msgs)
            self.assertIn("[1,2]", msgs)
            self.assertIn("no newline at end", msgs)
            # an event passes through, its "\/" written "/"; an object that is
            # no event (no string msg) and an event that is not valid UTF-8
            # become events
            esc = next(e for e in evs if e["msg"] == "esc /slash")
            self.assertEqual(esc["p"], "a/b")
            self.assertIn('{"a":1,"msg":2}', msgs)
            self.assertTrue(any(m.startswith('{"ts"') and "bad \ufffd utf8 in json" in m
                                for m in msgs), msgs)
            # a pod line that was not an event: the time the kubelet received it,
            # a level (the log API merges stdout and stderr, so it cannot be
            # the stream's) and the source
            for m in ("to stderr", "[1,2]", "bad utf8 \ufffd\ufffd here"):
                plain = next(e for e in evs if e["msg"] == m)
                self.assertEqual(plain["level"], "info", plain)
                self.assertEqual(plain["src"], "pod", plain)
                self.assertRegex(plain["ts"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertEqual(next(e for e in evs if e["msg"] == "ok /x")["level"], "info")


if __name__ == "__main__":
    unittest.main()
