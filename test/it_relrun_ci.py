"""relrun in CI and cron, end to end through the simulator to the fixture release:
the JSON summary (-o json, --summary-file), GitHub Actions annotations, --detach then
wait, cron schedules checked before anything is posted, cron trigger with another
expression, suspend/resume, shell completion, --help against the parser's flag table,
and an --app-format with a trailing newline."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

# The simulator set-up with the fixture release and relrun-pod images, and the
# helpers around it; a library, so that no test class of another file runs here again.
from relrunlib import APP_FORMAT, APP_IMAGE, POD_IMAGE, RELRUN, TASK_FLAGS, Base

needs_kubectl = unittest.skipUnless(shutil.which("kubectl"), "kubectl not installed")
SOURCE = os.environ.get("RELRUN_SOURCE_DIR", os.path.join(os.path.dirname(__file__), ".."))

SUMMARY_KEYS = {"relrun", "job", "namespace", "pod", "phase", "failed_phase", "exit_code",
                "duration_ms", "return", "expr", "cause", "message"}


def summary_of(r):
    """What a CI script does: the last stdout line is the summary object."""
    last = r.stdout.rstrip("\n").splitlines()[-1]
    s = json.loads(last)
    assert s.get("relrun") == "summary", last
    return s


class Summary(Base):
    def summary_path(self):
        d = tempfile.mkdtemp(prefix="relrun-summary-")
        self.addCleanup(shutil.rmtree, d, True)
        return d, os.path.join(d, "summary.json")

    def read_file(self, d, path):
        # written whole and atomically: no temp file left beside it
        self.assertEqual(os.listdir(d), ["summary.json"])
        with open(path) as f:
            text = f.read()
        self.assertTrue(text.endswith("}\n"), text)
        return json.loads(text)

    def test_json_last_line_is_the_summary(self):
        d, path = self.summary_path()
        r = self.run_task('LiveStream.run("c1")', "-o", "json", "--summary-file", path)
        self.assertEqual(r.code, 0, r)
        self.assert_full_log(r, "c1")
        lines = r.stdout.splitlines()
        objs = [json.loads(line) for line in lines]  # every stdout line is JSON
        self.assertEqual([o.get("relrun") for o in objs].count("summary"), 1, r)
        s = summary_of(r)
        self.assertEqual(set(s), SUMMARY_KEYS)
        self.assertRegex(s["job"], r"^relrun-live-stream-run-\w+$")
        self.assertTrue(s["pod"].startswith(s["job"] + "-"), s)
        self.assertEqual((s["namespace"], s["phase"], s["failed_phase"], s["exit_code"]),
                         ("default", "succeeded", None, 0))
        self.assertEqual(s["return"], '{:ok, "c1"}')
        self.assertEqual(s["expr"], 'LiveStream.run("c1")')
        self.assertIsInstance(s["duration_ms"], int)
        self.assertGreater(s["duration_ms"], 0)
        self.assertIn("succeeded, exit 0", s["message"])
        self.assertEqual(self.read_file(d, path), s)
        # the pod's own lines come through unchanged before it
        self.assertEqual(objs[-2].get("event"), "exit")

    def test_ci_script_gates_on_the_summary(self):
        d, path = self.summary_path()
        script = ('"$RELRUN" --kubeconfig "$KC" run %s -o json \'LiveStream.exit_with(3)\' '
                  '> out.jsonl; code=$?; tail -n1 out.jsonl | python3 -c "import json,sys; '
                  's=json.load(sys.stdin); print(s[\'phase\'], s[\'failed_phase\'], '
                  's[\'exit_code\'])"; exit $code') % " ".join("'%s'" % a for a in TASK_FLAGS)
        env = dict(os.environ, RELRUN=os.path.abspath(RELRUN), KC=self.sim.kubeconfig, NO_COLOR="1")
        env.pop("KUBECONFIG", None)
        p = subprocess.run(["sh", "-c", script], cwd=d, capture_output=True, text=True,
                           env=env, timeout=120)
        self.outputs += [p.stdout, p.stderr]
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertEqual(p.stdout, "failed task failed 3\n", p.stderr)

    def test_summary_file_in_failures(self):
        cases = [
            # (expr, extra flags, exit code, phase, failed_phase, cause)
            ("LiveStream.exit_with(3)", [], 3, "failed", "task failed", None),
            ("LiveStream.fail()", [], 1, "failed", "task failed",
             "** (RuntimeError) encoder crashed"),
            ("LiveStream.sleep(60000)", ["--timeout", "3s"], 124, "failed", "deadline", None),
        ]
        for expr, flags, code, phase, failed, cause in cases:
            with self.subTest(expr=expr):
                d, path = self.summary_path()
                r = self.run_task(expr, *flags, "-o", "json", "--summary-file", path)
                self.assertEqual(r.code, code, r)
                s = self.read_file(d, path)
                self.assertEqual((s["phase"], s["failed_phase"], s["exit_code"], s["expr"]),
                                 (phase, failed, code, expr), s)
                self.assertEqual(summary_of(r), s)
                self.assertIsNone(s["return"])
                # the cause, in the JSON and in the line people read
                self.assertEqual(s["cause"], cause, s)
                if cause:
                    self.assertTrue(s["message"].endswith(": " + cause), s)
                    self.assertIn(": " + cause + "\n", r.stderr)

    def test_summary_file_release_never_ready(self):
        d, path = self.summary_path()
        r = self.relrun("run", "--image", APP_IMAGE, "--release", "/app/bin/no_such_release",
                        "--pod-image", POD_IMAGE, "--summary-file", path, 'LiveStream.run("x")')
        self.assertEqual(r.code, 70, r)
        s = self.read_file(d, path)
        self.assertEqual((s["phase"], s["failed_phase"], s["exit_code"]),
                         ("failed", "release never ready", 70), s)
        # the cause names the release that is not there
        self.assertIn("/app/bin/no_such_release", s["cause"], s)
        self.assertIn("/app/bin/no_such_release", s["message"], s)
        # without -o json stdout has no summary line
        self.assertNotIn('"relrun":"summary"', r.stdout)

    def test_summary_file_when_relrun_itself_fails(self):
        d, path = self.summary_path()
        # a bad expression: nothing posted, still a summary
        r = self.run_task('LiveStream.run("s1"', "--summary-file", path, "-o", "json")
        self.assertEqual(r.code, 64, r)
        s = self.read_file(d, path)
        self.assertEqual((s["phase"], s["exit_code"], s["job"]), ("error", 64, None), s)
        self.assertIn('unclosed "("', s["message"])
        self.assertEqual(summary_of(r), s)
        # an old file is replaced
        d2, path2 = self.summary_path()
        with open(path2, "w") as f:
            f.write("old")
        r = self.relrun("--kubeconfig", self.kubeconfig_unreachable(), "run", *TASK_FLAGS,
                        "--summary-file", path2, "X.y()", kubeconfig=False)
        self.assertEqual(r.code, 69, r)
        s = self.read_file(d2, path2)
        self.assertEqual((s["phase"], s["exit_code"]), ("error", 69), s)
        self.assertIn("create jobs", s["message"])

    def kubeconfig_unreachable(self):
        with open(self.sim.kubeconfig) as f:
            text = f.read()
        text = re.sub(r"server: \S+", "server: https://127.0.0.1:1", text)
        d = tempfile.mkdtemp(prefix="relrun-kc-")
        self.addCleanup(shutil.rmtree, d, True)
        p = os.path.join(d, "config")
        with open(p, "w") as f:
            f.write(text)
        return p

    def test_summary_file_unwritable_is_an_error(self):
        r = self.run_task("LiveStream.exit_with(0)", "--summary-file",
                          "/nonexistent-dir/summary.json")
        self.assertNotEqual(r.code, 0, r)
        self.assertIn("--summary-file", r.stderr)

    def test_detach_then_wait_gives_the_task_code(self):
        r = self.run_task("LiveStream.exit_with(3)", "--detach")
        self.assertEqual(r.code, 0, r)
        self.assertRegex(r.stdout, r"^relrun-live-stream-exit-with-\w+\n$")  # the name only
        name = r.stdout.strip()
        d, path = self.summary_path()
        w = self.relrun("wait", name, "-o", "json", "--summary-file", path)
        self.assertEqual(w.code, 3, w)
        s = summary_of(w)
        self.assertEqual((s["job"], s["phase"], s["failed_phase"], s["exit_code"], s["expr"]),
                         (name, "failed", "task failed", 3, "LiveStream.exit_with(3)"), s)
        self.assertEqual(self.read_file(d, path), s)

    def test_wait_timeout_summary(self):
        r = self.run_task("LiveStream.sleep(30000)", "--detach")
        self.assertEqual(r.code, 0, r)
        name = r.stdout.strip()
        self.addCleanup(self.relrun, "cancel", name)
        d, path = self.summary_path()
        w = self.relrun("wait", name, "--wait-timeout", "1s", "--summary-file", path)
        self.assertEqual(w.code, 124, w)
        s = self.read_file(d, path)
        self.assertEqual((s["job"], s["phase"], s["failed_phase"], s["exit_code"]),
                         (name, "timeout", "deadline", 124), s)

    def test_github_actions_error_annotation(self):
        # % and a newline in the expression reach the annotation escaped; it goes to
        # stderr, so a step that sends the task's log (stdout) to a file still shows it
        expr = "LiveStream.exit_with(3)\n# 100%"
        r = self.run_task(expr, "-o", "json", env={"GITHUB_ACTIONS": "true"})
        self.assertEqual(r.code, 3, r)
        self.assertNotIn("::error", r.stdout)
        errs = [line for line in r.stderr.splitlines() if line.startswith("::")]
        self.assertEqual(len(errs), 1, r)
        self.assertRegex(errs[0], r"^::error title=relrun::job/relrun-live-stream-exit-with-\w+ "
                                  r"pod/\S+: task failed, exit 3, [0-9.]+s -- expr: "
                                  r"LiveStream\.exit_with\(3\)%0A# 100%25$")
        self.assertEqual(summary_of(r)["exit_code"], 3)  # the summary stays last
        # a raise: the annotation names the exception
        f = self.run_task("LiveStream.fail()", env={"GITHUB_ACTIONS": "true"})
        self.assertEqual(f.code, 1, f)
        self.assertRegex(f.stderr, r"(?m)^::error title=relrun::job/\S+ pod/\S+: task failed, "
                                   r"exit 1, [0-9.]+s: \*\* \(RuntimeError\) encoder crashed -- ")
        # the cause is the pod's text: its control sequences are shown, never obeyed
        # (an ESC would reach the CI log's terminal renderer)
        c = self.run_task('raise "bad \\e]0;pwned\\a \\e[2J end"', env={"GITHUB_ACTIONS": "true"})
        self.assertEqual(c.code, 1, c)
        note = [line for line in c.stderr.splitlines() if line.startswith("::error")]
        self.assertEqual(len(note), 1, c)
        self.assertNotRegex(note[0], "[\x00-\x08\x0b-\x1f\x7f]", note)
        self.assertIn("bad \\x1b]0;pwned\\x07 \\x1b[2J end", note[0])
        # success: no annotation; not on GitHub: none either
        ok = self.run_task("LiveStream.exit_with(0)", env={"GITHUB_ACTIONS": "true"})
        self.assertEqual(ok.code, 0, ok)
        self.assertNotIn("::error", ok.stdout + ok.stderr)
        plain = self.run_task("LiveStream.exit_with(3)", env={"GITHUB_ACTIONS": "false"})
        self.assertEqual(plain.code, 3, plain)
        self.assertNotIn("::error", plain.stdout + plain.stderr)
        # a usage error is annotated too
        u = self.relrun("run", "--no-such-flag", "X.y()", env={"GITHUB_ACTIONS": "true"})
        self.assertEqual(u.code, 64, u)
        self.assertIn('::error title=relrun::run: unknown flag "--no-such-flag"', u.stderr)


class NoColorOnTerminal(Base):
    def test_no_color_also_means_no_pending_line(self):
        self.sim.fault(kind="slow_start", seconds=2, pod_regex="live-stream-run")
        code, out, err = self.run_on_pty({"NO_COLOR": "1"})
        self.assertEqual(code, 0, out + err)
        self.assertIn("segment 3 of tty arrived late", out)
        self.assertNotIn("Pending", err)
        self.assertNotIn("\033[", out + err)


class CronCi(Base):
    def test_bad_schedules_are_refused_before_posting(self):
        self.sim.clear_requests()
        cases = [
            ("0 24 * * *", 'hour "24": 24 is out of range 0-23'),
            ("61 * * * *", 'minute "61": 61 is out of range 0-59'),
            ("0 3 * * 7", 'day-of-week "7": 7 is out of range 0-6'),
            ("0 3 * FOO *", 'month "FOO": unknown name "FOO"'),
            ("*/0 * * * *", 'minute "*/0": a step must be at least 1'),
            ("* * * *", "want 5 fields (minute hour day-of-month month day-of-week), got 4"),
            ("@every 5m", "@every is not valid for a CronJob"),
            ("CRON_TZ=Europe/Berlin 0 3 * * *",
             "a time zone prefix (CRON_TZ=, TZ=) is rejected by Kubernetes; use --time-zone"),
        ]
        for sched, msg in cases:
            with self.subTest(schedule=sched):
                r = self.relrun("cron", "create", "bad-sched", "--schedule", sched, *TASK_FLAGS,
                                "LiveStream.run(\"x\")")
                self.assertEqual(r.code, 64, r)
                self.assertIn('--schedule "%s": %s' % (sched, msg), r.stderr)
        self.assertEqual([q for q in self.sim.requests() if q["method"] == "POST"], [])
        for sched in ("*/15 * * * *", "1-30/5 9-17 * jan-MAR Mon-Fri", "@midnight"):
            r = self.relrun("cron", "render", "ok", "--schedule", sched, *TASK_FLAGS,
                            "LiveStream.run(\"x\")", "-o", "json", kubeconfig=False)
            self.assertEqual(r.code, 0, r)
            self.assertEqual(json.loads(r.stdout)["spec"]["schedule"], sched)

    def test_trigger_with_another_expression(self):
        r = self.relrun("cron", "create", "override-me", "--schedule", "0 3 * * *", *TASK_FLAGS,
                        "LiveStream.exit_with(6)")
        self.assertEqual(r.code, 0, r)
        self.addCleanup(self.relrun, "cron", "delete", "override-me")
        d = tempfile.mkdtemp(prefix="relrun-summary-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "s.json")
        t = self.relrun("cron", "trigger", "override-me", 'LiveStream.run("ov1")', "-o", "json",
                        "--summary-file", path)
        self.assertEqual(t.code, 0, t)  # not the CronJob's 6
        self.assert_full_log(t, "ov1")
        s = summary_of(t)
        self.assertEqual((s["expr"], s["return"], s["exit_code"]),
                         ('LiveStream.run("ov1")', '{:ok, "ov1"}', 0), s)
        self.assertRegex(s["job"], r"^override-me-manual-\w+$")
        with open(path) as f:
            self.assertEqual(json.load(f), s)
        job = [j for j in self.jobs() if j["metadata"]["name"] == s["job"]][0]
        self.assertEqual(job["metadata"]["annotations"]["relrun.dev/expr"],
                         'LiveStream.run("ov1")')
        # its exit code comes back
        t2 = self.relrun("cron", "trigger", "override-me", "LiveStream.exit_with(4)")
        self.assertEqual(t2.code, 4, t2)
        self.assertIn("task failed, exit 4", t2.stderr)
        # the CronJob itself is unchanged: a plain trigger still runs exit_with(6)
        t3 = self.relrun("cron", "trigger", "override-me", "-o", "json")
        self.assertEqual(t3.code, 6, t3)
        self.assertEqual(summary_of(t3)["expr"], "LiveStream.exit_with(6)")
        bad = self.relrun("cron", "trigger", "override-me", 'LiveStream.run("x"')
        self.assertEqual(bad.code, 64, bad)

    @needs_kubectl
    def test_suspend_resume_seen_by_kubectl(self):
        r = self.relrun("cron", "create", "pausable", "--schedule", "@hourly", *TASK_FLAGS,
                        "LiveStream.run(\"p\")")
        self.assertEqual(r.code, 0, r)
        self.addCleanup(self.relrun, "cron", "delete", "pausable")
        for action, want in (("suspend", "true"), ("resume", "false"), ("suspend", "true")):
            a = self.relrun("cron", action, "pausable")
            self.assertEqual(a.code, 0, a)
            self.assertIn("cronjob.batch/pausable %sed" % action.rstrip("e"), a.stdout)
            k = self.sim.kubectl("get", "cronjob", "pausable", "-o", "jsonpath={.spec.suspend}")
            self.assertEqual(k.returncode, 0, k.stderr)
            self.assertEqual(k.stdout.strip(), want)
        missing = self.relrun("cron", "suspend", "no-such-cron")
        self.assertNotEqual(missing.code, 0, missing)


class AppFormat(Base):
    def test_trailing_newline_is_accepted(self):
        flags = [f for f in TASK_FLAGS if f != APP_FORMAT]
        flags = flags[:flags.index("--app-format") + 1] + [APP_FORMAT + "\n"]
        r = self.relrun("render", *flags, 'LiveStream.run("n")', "-o", "json", kubeconfig=False)
        self.assertEqual(r.code, 0, r)
        args = json.loads(r.stdout)["spec"]["template"]["spec"]["containers"][0]["args"]
        self.assertEqual(args[args.index("--app-format") + 1], APP_FORMAT)
        r = self.relrun("run", *flags, "-o", "json", 'LiveStream.run("nl")')
        self.assertEqual(r.code, 0, r)
        self.assert_full_log(r, "nl")
        # the app's lines were parsed with the format: their levels came through
        levels = {e["msg"]: e.get("level") for e in r.events() if e.get("src") == "app"}
        self.assertEqual(levels.get("segment 3 of nl arrived late"), "warning", r)
        # a newline inside the format is still refused
        bad = self.relrun("render", "--image", APP_IMAGE, "--release", "/app/bin/live_stream",
                          "--app-format", "$time\n$message", "A.b()", kubeconfig=False)
        self.assertEqual(bad.code, 64, bad)
        self.assertIn("--app-format: control characters", bad.stderr)


def parser_table():
    """{subcommand: set of long flags} from args.c's flag table, as the parser reads it."""
    with open(os.path.join(SOURCE, "cmd", "relrun", "args.c")) as f:
        src = f.read()
    bits = {}
    for name, expr in re.findall(r"#define (F_\w+)\s+\(([^)]*)\)", src):
        bits[name] = expr
    def value(expr):
        v = 0
        for part in expr.split("|"):
            part = part.strip()
            m = re.fullmatch(r"1u << (\d+)", part)
            if m:
                v |= 1 << int(m.group(1))
            elif part == "~0u":
                v |= (1 << 32) - 1
            else:
                v |= value(bits[part])
        return v
    flags = re.findall(r'\{\{"([\w-]+)", (\w+), NULL, [^}]*\}, ([^}]+)\}', src)
    table = re.search(r"\} cmds\[\] = \{(.*?)\};", src, re.S).group(1)
    cmds = re.findall(r'\{"(\w+)", CMD_\w+, ([^,]+),', table)
    assert len(flags) > 30 and len(cmds) >= 10, (len(flags), cmds)
    out = {}
    for cmd, bit in cmds:
        b = value(bit)
        out[cmd] = {"--" + n for n, _, mask in flags
                    if value(mask) & b or value(mask) == (1 << 32) - 1}
    return out


class HelpAndCompletion(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(RELRUN):
            self.skipTest("relrun not built")

    def relrun(self, *args):
        return subprocess.run([RELRUN, *args], capture_output=True, text=True, timeout=30)

    def test_help_lists_exactly_the_accepted_flags(self):
        table = parser_table()
        self.assertIn("--summary-file", table["run"])
        self.assertIn("--summary-file", table["wait"])
        self.assertNotIn("--summary-file", table["render"])
        for cmd, accepted in table.items():
            if cmd == "help":
                continue
            with self.subTest(cmd=cmd):
                h = self.relrun(cmd, "--help")
                self.assertEqual(h.returncode, 0, h.stderr)
                self.assertTrue(h.stdout.startswith("usage: relrun " + cmd), h.stdout)
                shown = set(re.findall(r"(?<![\w-])--[a-z][\w-]*", h.stdout))
                self.assertEqual(accepted - shown, set(), "accepted but not in --help")
                self.assertEqual(shown - accepted, set(), "in --help but not accepted")
                # and the parser really takes each: unknown flags are a usage error
                for flag in sorted(accepted):
                    if flag == "--help":
                        continue
                    p = self.relrun(cmd, flag, *self.value_for(flag), "--help")
                    self.assertEqual(p.returncode, 0, (flag, p.stderr))

    @staticmethod
    def value_for(flag):
        takes = {"--inject": "init", "--rpc": "script", "--log-format": "json",
                 "--cascade": "background", "--concurrency-policy": "Forbid", "--output": "json",
                 "--env": "A=B", "--label": "a=b", "--annotation": "a=b",
                 "--node-selector": "a=b", "--toleration": "k:NoSchedule",
                 "--pull-policy": "Always", "--override-type": "merge", "--run-as-user": "1000",
                 "--lang": "elixir"}
        none = {"--detach", "--suspend", "--follow", "--help", "--keep-failed"}
        if flag in none:
            return []
        if flag in takes:
            return [takes[flag]]
        if flag in ("--timeout", "--ttl", "--ready-timeout", "--grace", "--starting-deadline",
                    "--request-timeout", "--wait-timeout", "--retry-window",
                    "--schedule-timeout"):
            return ["5s"]
        if flag in ("--backoff-limit", "--boot-retries", "--error-exit", "--parallelism",
                    "--successful-history", "--failed-history"):
            return ["1"]
        return ["x"]

    def complete(self, script, *words):
        """Call the completion function as bash would for `words` (the last is the one
        being completed); returns the candidates."""
        cmd = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _relrun; '
               'printf "%s\\n" "${COMPREPLY[@]}"')
        p = subprocess.run(["bash", "-c", cmd, "bash", script, *words], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        return [w for w in p.stdout.splitlines() if w]

    def test_bash_completion(self):
        c = self.relrun("completion", "bash")
        self.assertEqual(c.returncode, 0, c.stderr)
        d = tempfile.mkdtemp(prefix="relrun-compl-")
        self.addCleanup(shutil.rmtree, d, True)
        script = os.path.join(d, "relrun.bash")
        with open(script, "w") as f:
            f.write(c.stdout)
        self.assertIn("complete -F _relrun relrun kubectl-relrun", c.stdout)
        cases = [
            (["relrun", "ru"], ["run"]),
            (["relrun", "c"], ["cancel", "cron", "completion", "config"]),
            (["relrun", "run", "--inj"], ["--inject"]),
            (["relrun", "run", "--inject", ""], ["init", "none"]),
            (["relrun", "run", "--rpc", ""], ["auto", "dist", "script"]),
            (["relrun", "run", "--log-format", "l"], ["logfmt"]),
            (["relrun", "-n", "prod", "run", "-o", ""], ["json", "text"]),
            (["relrun", "render", "--output", ""], ["yaml", "json"]),
            (["relrun", "list", "-o", ""], ["json", "yaml", "name"]),
            (["relrun", "wait", "--su"], ["--summary-file"]),
            (["relrun", "logs", "--fo"], ["--follow"]),
            (["relrun", "cron", ""], ["create", "render", "list", "history", "trigger", "suspend",
                                      "resume", "delete"]),
            (["relrun", "cron", "create", "--concurrency-policy", ""],
             ["Allow", "Forbid", "Replace"]),
            (["relrun", "cancel", "--cascade", "f"], ["foreground"]),
            (["relrun", "completion", ""], ["bash", "zsh", "fish"]),
            (["relrun", "--kubec"], ["--kubeconfig"]),
            (["kubectl-relrun", "ver"], ["version"]),
            # a free value: nothing is made up for it
            (["relrun", "run", "--image", ""], []),
        ]
        for words, want in cases:
            with self.subTest(words=words):
                self.assertEqual(self.complete(script, *words), want)
        # every flag of run is offered after "--"
        offered = set(self.complete(script, "relrun", "run", "--"))
        self.assertEqual(offered, parser_table()["run"])
        bad = self.relrun("completion", "tcsh")
        self.assertEqual(bad.returncode, 64, bad)

    @unittest.skipUnless(shutil.which("zsh"), "zsh not installed: zsh script not checked")
    def test_zsh_completion_syntax(self):
        c = self.relrun("completion", "zsh")
        self.assertEqual(c.returncode, 0, c.stderr)
        self.assertTrue(c.stdout.startswith("#compdef relrun"), c.stdout[:80])
        p = subprocess.run(["zsh", "-n"], input=c.stdout, capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)


if __name__ == "__main__":
    unittest.main()
