"""Fan-out, as far as it is built: relrun render --each makes one Indexed Job whose pod
arguments hold one expression per item (the item a serialised term, never text), and
relrun-pod --indexed runs the one of $JOB_COMPLETION_INDEX on the real fixture release.
relrun run --each and cron create --each refuse plainly (following every index is not
built yet)."""
import json
import os
import subprocess
import tempfile
import unittest

from podlib import APP_FORMAT, node_env, pod_argv

RELRUN = os.environ.get("RELRUN_BIN", "")
FLAGS = ["--image", "app:1", "--release", "/app/bin/live_stream"]


@unittest.skipUnless(RELRUN, "relrun not built")
class RenderEach(unittest.TestCase):
    def relrun(self, *args):
        return subprocess.run([RELRUN, *args], capture_output=True, text=True, timeout=60)

    def test_indexed_job_one_expression_per_item(self):
        hostile = '"); System.halt(1); ("'
        r = self.relrun("render", *FLAGS, "-o", "json", "--parallelism", "2", "--each",
                        json.dumps(["s1", {"$atom": "s2"}, hostile]), "LiveStream.run($item)")
        self.assertEqual(r.returncode, 0, r.stderr)
        spec = json.loads(r.stdout)["spec"]
        self.assertEqual((spec["completionMode"], spec["completions"], spec["parallelism"]),
                         ("Indexed", 3, 2))
        args = spec["template"]["spec"]["containers"][0]["args"]
        self.assertIn("--indexed", args[:args.index("--")])
        self.assertEqual(args[args.index("--") + 1:],
                         ['LiveStream.run(("s1"))', "LiveStream.run((:s2))",
                          'LiveStream.run(("\\"); System.halt(1); (\\""))'])

    def test_placeholder_errors(self):
        r = self.relrun("render", *FLAGS, "--each", '["a"]', 'IO.puts("id $item")')
        self.assertEqual(r.returncode, 64, r)
        self.assertIn("--each: $item inside a string, charlist, sigil or comment", r.stderr)
        r = self.relrun("render", *FLAGS, "--each", '["a"]', "LiveStream.run()")
        self.assertEqual(r.returncode, 64, r)
        self.assertIn("--each: the expression does not use $item", r.stderr)
        r = self.relrun("render", *FLAGS, "--each", '{"a": 1}', "f($item)")
        self.assertEqual(r.returncode, 64, r)
        self.assertIn("--each: want a JSON array, got an object", r.stderr)
        r = self.relrun("render", *FLAGS, "--parallelism", "2", "f()")
        self.assertEqual(r.returncode, 64, r)
        self.assertIn("--parallelism: only with --each", r.stderr)

    def test_run_and_cron_refuse_each(self):
        r = self.relrun("--kubeconfig", "/nonexistent", "run", *FLAGS, "--each", '["a"]',
                        "f($item)")
        self.assertEqual(r.returncode, 64, r)
        self.assertIn("run: --each is not supported by relrun run yet", r.stderr)
        r = self.relrun("--kubeconfig", "/nonexistent", "cron", "create", "x", "--schedule",
                        "0 3 * * *", *FLAGS, "--each", '["a"]', "f($item)")
        self.assertEqual(r.returncode, 64, r)
        self.assertIn("cron: --each is not supported by cron create yet", r.stderr)


class PodIndexed(unittest.TestCase):
    def run_indexed(self, index, *exprs):
        env = node_env({"JOB_COMPLETION_INDEX": index} if index is not None else None)
        env.pop("JOB_COMPLETION_INDEX", None) if index is None else None
        term = os.path.join(tempfile.mkdtemp(), "term")
        p = subprocess.run(pod_argv() + ["--app-format", APP_FORMAT, "--termination-log", term,
                                         "--indexed", "--", *exprs],
                           capture_output=True, text=True, env=env, timeout=120)
        with open(term) as f:
            return p, json.load(f)

    def test_the_index_picks_the_expression(self):
        p, t = self.run_indexed("1", "LiveStream.exit_with(3)", "LiveStream.exit_with(4)")
        self.assertEqual(p.returncode, 4, p.stdout + p.stderr)
        self.assertEqual((t["exit_code"], t["expr"]), (4, "LiveStream.exit_with(4)"))
        notes = [json.loads(l)["msg"] for l in p.stdout.splitlines()]
        self.assertIn("index 1 of 2: LiveStream.exit_with(4)", notes)

    def test_no_or_bad_index_is_a_configuration_error(self):
        p, t = self.run_indexed(None, "a", "b")
        self.assertEqual(p.returncode, 78, p)
        self.assertIn("$JOB_COMPLETION_INDEX is not set", t["reason"])
        p, t = self.run_indexed("2", "a", "b")
        self.assertEqual(p.returncode, 78, p)
        self.assertIn("out of range 0..1", t["reason"])


if __name__ == "__main__":
    unittest.main()
