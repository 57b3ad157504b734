"""relrun-pod --indexed on the real fixture release: the expressions after "--" are one
per index of an Indexed Job, $JOB_COMPLETION_INDEX picks the one to run. relrun-pod
--each JSON -- TEMPLATE (the Helm chart's form) makes them itself, as relrun --each."""
import json
import os
import subprocess
import tempfile
import unittest

from podlib import APP_FORMAT, node_env, pod_argv


class PodIndexed(unittest.TestCase):
    def run_indexed(self, index, *exprs, mode=("--indexed",)):
        env = node_env({"JOB_COMPLETION_INDEX": index} if index is not None else None)
        env.pop("JOB_COMPLETION_INDEX", None) if index is None else None
        term = os.path.join(tempfile.mkdtemp(), "term")
        p = subprocess.run(pod_argv() + ["--app-format", APP_FORMAT, "--termination-log", term,
                                         *mode, "--", *exprs],
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

    def test_each_substitutes_the_item_of_the_index(self):
        items = json.dumps([3, {"$atom": "x"}, '"); System.halt(9); ("'])
        tmpl = "if $item == 3, do: LiveStream.exit_with($item), else: IO.inspect($item)"
        p, t = self.run_indexed("0", tmpl, mode=("--each", items))
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertEqual(t["expr"], "if (3) == 3, do: LiveStream.exit_with((3)), else: "
                                    "IO.inspect((3))")
        # a hostile string item stays a string: printed, never run
        p, t = self.run_indexed("2", tmpl, mode=("--each", items))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn('System.halt(9)', t["return"])
        notes = [json.loads(l)["msg"] for l in p.stdout.splitlines()]
        self.assertTrue(any(n.startswith("index 2 of 3: ") for n in notes), notes)

    def test_each_template_errors_are_usage_errors(self):
        env = node_env({"JOB_COMPLETION_INDEX": "0"})
        p = subprocess.run(pod_argv() + ["--each", '["a"]', "--", 'IO.puts("$item")'],
                           capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(p.returncode, 64, p)
        self.assertIn("$item inside a string", p.stderr)
        p = subprocess.run(pod_argv() + ["--each", '["a"]', "--indexed", "--", "f($item)"],
                           capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(p.returncode, 64, p)
        self.assertIn("--each and --indexed", p.stderr)


if __name__ == "__main__":
    unittest.main()
