"""Fan-out: relrun render --each makes one Indexed Job whose pod arguments hold one
expression per item (the item a serialised term, never text); the simulator's Job
controller runs it in Indexed mode (relrun-pod --indexed picks its item:
it_pod_indexed.py); relrun run --each follows every index through the simulator (each
line prefixed with its index, a table, the exit rule, the JSON summary's indexes)."""
import json
import os
import re
import signal
import subprocess
import tempfile
import unittest

from relrunlib import KUBECTL, RELRUN, RUN_MSGS, TASK_FLAGS, Base, needs_kubectl

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

    def test_run_each_checks_before_connecting(self):
        # the item errors are usage errors before any kubeconfig is read
        r = self.relrun("--kubeconfig", "/nonexistent", "run", *FLAGS, "--each", '["a"]',
                        "f()")
        self.assertEqual(r.returncode, 64, r)
        self.assertIn("--each: the expression does not use $item", r.stderr)
        r = self.relrun("--kubeconfig", "/nonexistent", "run", *FLAGS, "--each", "[]",
                        "f($item)")
        self.assertEqual(r.returncode, 64, r)
        self.assertIn("--each", r.stderr)


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


TABLE_HEAD = re.compile(r"^INDEX\s+ITEM\s+EXIT\s+DURATION\s+RESULT$", re.M)


def table_rows(stderr):
    """The per-index table's rows: {index: (item, exit, duration, result)}."""
    m = TABLE_HEAD.search(stderr)
    if not m:
        return {}
    rows = {}
    for line in stderr[m.end():].splitlines()[1:]:
        r = re.match(r"^(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(.*)$", line)
        if not r:
            break
        rows[int(r.group(1))] = r.groups()[1:]
    return rows


class RunEach(Base):
    """relrun run --each through the simulator: every index's pod followed, its log lines
    prefixed, a row per index, the exit code of the first failing index."""

    def test_three_items_succeed(self):
        r = self.run_task("LiveStream.run($item)", "--parallelism", "2", "--each",
                          '["e1", "e2", "e3"]')
        self.assertEqual(r.code, 0, r)
        lines = r.stdout.splitlines()
        # every line of the pods' logs carries its index
        self.assertEqual([l for l in lines if not re.match(r"^\[[0-2]\] ", l)], [], r)
        for i, sid in enumerate(["e1", "e2", "e3"]):
            mine = [l[4:] for l in lines if l.startswith("[%d] " % i)]
            for msg in RUN_MSGS:
                first, *rest = msg.format(id=sid).split("\n")
                self.assertEqual(len([l for l in mine if " %s " % first in l + " "]), 1,
                                 "%r once in [%d]\n%r" % (first, i, r))
                for cont in rest:  # a multi-line event: its later lines prefixed too
                    self.assertIn(cont, mine, r)
            others = [s for s in ("e1", "e2", "e3") if s != sid]
            self.assertFalse([l for l in mine if any("start " + o + " " in l for o in others)], r)
        self.assertEqual(len(lines), len(set(lines)), r)
        rows = table_rows(r.stderr)
        self.assertEqual(sorted(rows), [0, 1, 2], r)
        for i, sid in enumerate(["e1", "e2", "e3"]):
            item, code, dur, result = rows[i]
            self.assertEqual((item, code), ('"%s"' % sid, "0"), r)
            self.assertRegex(dur, r"^\d+\.\ds$")
            self.assertTrue(result.startswith("succeeded"), r)
        self.assertIn("all 3 indexes succeeded", r.stderr)

    def test_one_item_fails_json(self):
        summary = os.path.join(tempfile.mkdtemp(prefix="relrun-each-"), "s.json")
        r = self.run_task("if $item == 0, do: :fine, else: LiveStream.exit_with($item)",
                          "-o", "json", "--summary-file", summary, "--each", "[0, 3, 0]")
        self.assertEqual(r.code, 3, r)
        lines = r.stdout.splitlines()
        events = [json.loads(l) for l in lines[:-1]]
        self.assertTrue(events, r)
        # every event carries its index, and each index's runner said it ended
        self.assertEqual({type(e.get("index")) for e in events}, {int}, r)
        exits = {e["index"]: e for e in events if e.get("event") == "exit"}
        self.assertEqual(sorted(exits), [0, 1, 2], r)
        last = json.loads(lines[-1])
        with open(summary) as f:
            self.assertEqual(json.load(f), last)
        self.assertEqual((last["relrun"], last["phase"], last["exit_code"]),
                         ("summary", "failed", 3), last)
        idx = last["indexes"]
        self.assertEqual([(x["index"], x["item"], x["phase"], x["exit_code"]) for x in idx],
                         [(0, 0, "succeeded", 0), (1, 3, "failed", 3), (2, 0, "succeeded", 0)],
                         last)
        self.assertEqual([x["return"] for x in idx], [":fine", None, ":fine"], last)
        self.assertEqual(idx[1]["failed_phase"], "task failed", last)
        self.assertTrue(all(x["pod"] and x["duration_ms"] is not None for x in idx), last)
        # the people's table on stderr too: the failed index and the others
        rows = table_rows(r.stderr)
        self.assertEqual([(rows[i][0], rows[i][1]) for i in range(3)],
                         [("0", "0"), ("3", "3"), ("0", "0")], r)
        self.assertTrue(rows[1][3].startswith("task failed"), r)
        self.assertIn("2 of 3 indexes succeeded; index 1 failed first", r.stderr)


    def test_interrupt_leaves_the_job_running(self):
        p = subprocess.Popen([RELRUN, "--kubeconfig", self.sim.kubeconfig, "run", *TASK_FLAGS,
                              "-o", "json", "--each", "[0, 20000]",
                              "if $item == 0, do: :quick, else: LiveStream.sleep($item)"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            for line in p.stdout:
                if "sleeping 20000 ms" in line:
                    self.assertEqual(json.loads(line)["index"], 1, line)
                    break
            p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        self.outputs += [out, err]
        self.assertEqual(p.returncode, 130, err)
        m = re.search(r"interrupted: job/(\S+) keeps running", err)
        self.assertTrue(m, err)
        name = m.group(1)
        s = json.loads(out.rstrip("\n").splitlines()[-1])
        self.assertEqual((s["phase"], s["exit_code"]), ("interrupted", 130), s)
        self.assertEqual([x["index"] for x in s["indexes"]], [0, 1], s)
        self.assertEqual(s["indexes"][1]["phase"], "running", s)
        self.assertEqual(s["indexes"][1]["item"], 20000, s)
        job = [j for j in self.jobs() if j["metadata"]["name"] == name]
        self.assertEqual(len(job), 1)
        self.assertFalse([c for c in (job[0].get("status") or {}).get("conditions") or []
                          if c["type"] in ("Complete", "Failed") and c["status"] == "True"],
                         job[0].get("status"))
        self.assertEqual(self.relrun("cancel", name, "--cascade", "foreground").code, 0)

    def test_cron_create_each(self):
        r = self.relrun("cron", "create", "nightly-fan", "--schedule", "0 3 * * *",
                        *TASK_FLAGS, "--parallelism", "2", "--each", '["n1", "n2", "n3"]',
                        "LiveStream.run($item)")
        self.assertEqual(r.code, 0, r)
        self.assertIn("cronjob.batch/nightly-fan created", r.stdout)
        _, _, cj = self.sim.get("/apis/batch/v1/namespaces/default/cronjobs/nightly-fan")
        spec = cj["spec"]["jobTemplate"]["spec"]
        self.assertEqual((spec["completionMode"], spec["completions"], spec["parallelism"]),
                         ("Indexed", 3, 2), spec)
        self.assertIn("backoffLimitPerIndex", spec)
        args = spec["template"]["spec"]["containers"][0]["args"]
        self.assertIn("--indexed", args[:args.index("--")])
        self.assertEqual(args[args.index("--") + 1:],
                         ['LiveStream.run(("n1"))', 'LiveStream.run(("n2"))',
                          'LiveStream.run(("n3"))'])
        d = self.relrun("cron", "delete", "nightly-fan")
        self.assertEqual(d.code, 0, d)
        bad = self.relrun("cron", "create", "nightly-bad", "--schedule", "0 3 * * *",
                          *TASK_FLAGS, "--each", '["n1"]', "LiveStream.run()")
        self.assertEqual(bad.code, 64, bad)
        self.assertIn("--each: the expression does not use $item", bad.stderr)

    def test_cron_trigger_follows_every_index(self):
        expr = "if $item == 0, do: :ok, else: LiveStream.exit_with($item)"
        r = self.relrun("cron", "create", "fan-trigger", "--schedule", "0 3 * * *",
                        *TASK_FLAGS, "--each", "[0, 4]", expr)
        self.assertEqual(r.code, 0, r)
        self.addCleanup(self.relrun, "cron", "delete", "fan-trigger")
        bad = self.relrun("cron", "trigger", "fan-trigger", "LiveStream.run(1)")
        self.assertEqual(bad.code, 64, bad)
        self.assertIn("runs one expression per item (--each)", bad.stderr)
        t = self.relrun("cron", "trigger", "fan-trigger", "-o", "json")
        self.assertEqual(t.code, 4, t)
        s = json.loads(t.stdout.splitlines()[-1])
        self.assertEqual([(x["index"], x["item"], x["exit_code"]) for x in s["indexes"]],
                         [(0, 0, 0), (1, 4, 4)], s)
        rows = table_rows(t.stderr)
        self.assertEqual([rows[i][:2] for i in (0, 1)], [("0", "0"), ("4", "4")], t)

    def test_detach_then_logs_and_wait_follow_every_index(self):
        r = self.run_task("if $item == 0, do: :ok, else: LiveStream.exit_with($item)",
                          "--detach", "--each", "[5, 0]")
        self.assertEqual(r.code, 0, r)
        name = r.stdout.strip()
        lg = self.relrun("logs", name, "-f")
        self.assertEqual(lg.code, 5, lg)
        lines = lg.stdout.splitlines()
        self.assertEqual([l for l in lines if not re.match(r"^\[[01]\] ", l)], [], lg)
        for i in (0, 1):
            self.assertEqual(len([l for l in lines if l.startswith("[%d] " % i) and
                                  " exit " in l and "event=exit" in l]), 1, lg)
        w = self.relrun("wait", name, "-o", "json")
        self.assertEqual(w.code, 5, w)
        self.assertEqual(w.stdout.count("\n"), 1, w)  # wait prints no log, only the summary
        s = json.loads(w.stdout)
        self.assertEqual([(x["item"], x["phase"], x["exit_code"]) for x in s["indexes"]],
                         [(5, "failed", 5), (0, "succeeded", 0)], s)
        self.assertIn("1 of 2 indexes succeeded; index 0 failed first", w.stderr)

    def test_wait_reads_the_job_status_when_the_pods_are_gone(self):
        # pods removed after the run (a ttl, a node cleanup): wait still tells
        # each index apart from the Job's completedIndexes/failedIndexes
        r = self.run_task("if $item == 0, do: :ok, else: LiveStream.exit_with($item)",
                          "--each", "[0, 3]")
        self.assertEqual(r.code, 3, r)
        name = re.search(r"job/(\S+) created", r.stderr).group(1)
        pods = "/api/v1/namespaces/default/pods"
        for p in self.sim.get(pods + "?labelSelector=batch.kubernetes.io%2Fjob-name%3D" +
                              name)[2]["items"]:
            code, _, _ = self.sim.delete(pods + "/" + p["metadata"]["name"])
            self.assertIn(code, (200, 202))
        self.sim.wait_for(pods + "?labelSelector=batch.kubernetes.io%2Fjob-name%3D" + name,
                          lambda b: not b["items"])
        w = self.relrun("wait", name, "-o", "json")
        self.assertEqual(w.code, 1, w)  # the failed index's own code is gone with its pod
        s = json.loads(w.stdout)
        self.assertEqual([(x["phase"], x["exit_code"], x["pod"]) for x in s["indexes"]],
                         [("succeeded", 0, None), ("failed", 1, None)], s)
        self.assertIn("its pod is gone", s["indexes"][1]["message"])

    def test_an_image_that_never_pulls_ends_every_index(self):
        # index 0 never runs; left alone the Job would run the rest unwatched:
        # it goes, and the indexes still waiting for a pod say they never ran
        flags = ["live-stream:missing" if f == TASK_FLAGS[1] else f for f in TASK_FLAGS]
        r = self.relrun("run", *flags, "-o", "json", "--parallelism", "1",
                        "--each", '["a", "b", "c"]', "LiveStream.run($item)")
        self.assertEqual(r.code, 70, r)
        s = json.loads(r.stdout.splitlines()[-1])
        self.assertEqual(s["indexes"][0]["failed_phase"], "image pull", s)
        self.assertIn("deleted (--keep-failed keeps it)", s["indexes"][0]["message"])
        for x in s["indexes"][1:]:
            self.assertEqual(x["phase"], "failed", s)
            self.assertIsNone(x["duration_ms"], s)
        name = s["job"]
        self.sim.wait_for("/apis/batch/v1/namespaces/default/jobs",
                          lambda b: name not in [j["metadata"]["name"] for j in b["items"]],
                          timeout=60)

    def test_deadline_ends_the_indexes_still_running(self):
        r = self.run_task("if $item == 0, do: :quick, else: LiveStream.sleep($item)",
                          "-o", "json", "--timeout", "6s", "--each", "[0, 60000]")
        self.assertEqual(r.code, 124, r)
        s = json.loads(r.stdout.splitlines()[-1])
        self.assertEqual([(x["phase"], x["exit_code"]) for x in s["indexes"]],
                         [("succeeded", 0), ("failed", 124)], s)
        self.assertEqual(s["indexes"][1]["failed_phase"], "deadline", s)
        self.assertEqual((s["failed_phase"], s["exit_code"]), ("deadline", 124), s)
        # the index that finished in time is reported by wait the same way
        w = self.relrun("wait", s["job"], "-o", "json")
        self.assertEqual(w.code, 124, w)
        self.assertEqual([x["phase"] for x in json.loads(w.stdout)["indexes"]],
                         ["succeeded", "failed"], w)

    def test_a_task_exit_70_with_boot_retries_is_said_to_be_retried(self):
        r = self.run_task("LiveStream.exit_with($item)", "--boot-retries", "1",
                          "--each", "[70]")
        self.assertEqual(r.code, 70, r)
        self.assertIn("[0] pod/", r.stderr)
        self.assertIn("the Job may run index 0 again as a boot retry (exit 70)", r.stderr)
        self.relrun("cancel", re.search(r"job/(\S+) created", r.stderr).group(1))

    @needs_kubectl
    def test_cron_render_each_accepted_by_kubectl(self):
        r = self.relrun("cron", "render", "fan-render", "--schedule", "@daily", *TASK_FLAGS,
                        "--each", '[{"id": "a"}, {"id": "b"}]', "LiveStream.run($item[\"id\"])",
                        kubeconfig=False)
        self.assertEqual(r.code, 0, r)
        path = os.path.join(self.root, "fan-render.yaml")
        with open(path, "w") as f:
            f.write(r.stdout)
        k = self.sim.kubectl("create", "-f", path)
        self.assertEqual(k.returncode, 0, k.stderr)
        self.assertIn("cronjob.batch/fan-render created", k.stdout)
        _, _, cj = self.sim.get("/apis/batch/v1/namespaces/default/cronjobs/fan-render")
        spec = cj["spec"]["jobTemplate"]["spec"]
        self.assertEqual((spec["completionMode"], spec["completions"]), ("Indexed", 2), spec)
        self.assertEqual(spec["podFailurePolicy"]["rules"][-1]["action"], "FailIndex", spec)


if __name__ == "__main__":
    unittest.main()
