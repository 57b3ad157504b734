"""Fan-out, as far as it is built: relrun render --each makes one Indexed Job whose pod
arguments hold one expression per item (the item a serialised term, never text); the
simulator's Job controller runs it in Indexed mode (relrun-pod --indexed picks its item:
it_pod_indexed.py). relrun run --each and cron create --each refuse plainly (following
every index is not built yet)."""
import json
import os
import subprocess
import unittest

from relrunlib import KUBECTL, TASK_FLAGS, Base

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


@unittest.skipUnless(KUBECTL, "kubectl not installed")
class SimIndexed(Base):
    """The rendered Indexed Job through the simulator's Job controller in Indexed mode,
    created by the real kubectl: one pod per index with JOB_COMPLETION_INDEX, a failed
    index failing alone (FailIndex), the Job Failed with FailedIndexes."""

    def test_each_index_runs_its_item(self):
        r = self.relrun("render", *TASK_FLAGS, "-o", "json", "--parallelism", "2", "--each",
                        "[0, 3, 0]", "if $item == 0, do: :fine, else: LiveStream.exit_with($item)",
                        kubeconfig=False)
        self.assertEqual(r.code, 0, r)
        job = json.loads(r.stdout)
        job["metadata"]["name"] = "fan-out"
        del job["metadata"]["generateName"]
        path = os.path.join(self.root, "fan-out.json")
        with open(path, "w") as f:
            json.dump(job, f)
        c = self.sim.kubectl("create", "-f", path)
        self.assertEqual(c.returncode, 0, c.stderr)
        j = self.sim.wait_for("/apis/batch/v1/namespaces/default/jobs/fan-out",
                              lambda j: any(c["type"] in ("Complete", "Failed") and
                                            c["status"] == "True"
                                            for c in (j.get("status") or {}).get("conditions") or []),
                              timeout=120)
        failed = [c for c in j["status"]["conditions"] if c["type"] == "Failed"]
        self.assertEqual([c["reason"] for c in failed], ["FailedIndexes"], j["status"])
        self.assertEqual((j["status"].get("completedIndexes"), j["status"].get("failedIndexes")),
                         ("0,2", "1"))
        pods = self.sim.get("/api/v1/namespaces/default/pods?labelSelector="
                            "batch.kubernetes.io%2Fjob-name%3Dfan-out")[2]["items"]
        by_index = {}
        for p in pods:
            i = p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
            self.assertTrue(p["metadata"]["name"].startswith("fan-out-%s-" % i), p["metadata"])
            code = [cs["state"]["terminated"]["exitCode"] for cs in p["status"]["containerStatuses"]]
            by_index.setdefault(int(i), []).append(code[0])
            log = self.sim.kubectl("logs", p["metadata"]["name"], "-c", "task")
            item = 3 if i == "1" else 0
            self.assertIn("index %s of 3: if (%d) == 0" % (i, item), log.stdout)
        # index 1 failed once and was not retried (FailIndex); the others ran to the end
        self.assertEqual(by_index, {0: [0], 1: [3], 2: [0]})


if __name__ == "__main__":
    unittest.main()
