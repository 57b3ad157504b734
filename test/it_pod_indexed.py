"""relrun-pod --indexed on the real fixture release: the expressions after "--" are one
per index of an Indexed Job, $JOB_COMPLETION_INDEX picks the one to run."""
import json
import os
import subprocess
import tempfile
import unittest

from podlib import APP_FORMAT, node_env, pod_argv


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
