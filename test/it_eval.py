"""relrun eval / remote end to end: through the simulator's pods/exec (the real
kubectl speaks it) into the task container's relrun-pod, onto the running task's
node. Also what a user meets when the target is wrong."""
import json
import os
import shutil
import time
import unittest

from relrunlib import TASK_FLAGS, Base

KUBECTL = shutil.which("kubectl")


@unittest.skipUnless(KUBECTL, "kubectl not installed")
class EvalErrors(Base):
    def test_no_such_job_or_pod(self):
        r = self.relrun("eval", "no-such-task", "1 + 1")
        self.assertEqual(r.code, 66, r)  # not found, not usage
        self.assertIn('eval: no job or pod named "no-such-task" in namespace default', r.stderr)
        r = self.relrun("remote", "no-such-task")
        self.assertEqual(r.code, 66, r)
        self.assertIn('remote: no job or pod named "no-such-task"', r.stderr)

    def test_finished_task_is_not_running(self):
        done = self.run_task("LiveStream.exit_with(3)", "-o", "json")
        self.assertEqual(done.code, 3, done)
        job = [json.loads(l) for l in done.stdout.splitlines() if '"relrun":"summary"' in l][0]["job"]
        for target in (job,):
            r = self.relrun("eval", target, "1 + 1")
            self.assertEqual(r.code, 69, r)
            self.assertRegex(r.stderr, r"eval: pod/%s-\w+ is not running \(phase Failed, the task "
                                       r"exited with 3\)" % job)

    def test_kubectl_missing(self):
        r = self.run_task("LiveStream.sleep(8000)", "--detach")
        self.assertEqual(r.code, 0, r)
        job = r.stdout.split()[0].split("/")[-1]
        self.sim.wait_for("/api/v1/namespaces/default/pods?labelSelector=batch.kubernetes.io%%2Fjob-name%%3D%s" % job,
                          lambda l: any(cs.get("name") == "task" and "running" in cs["state"]
                                        for p in l["items"]
                                        for cs in p["status"].get("containerStatuses") or []),
                          timeout=60)
        e = self.relrun("eval", job, "1 + 1", env={"RELRUN_KUBECTL": "/no/such/kubectl"})
        self.assertEqual(e.code, 78, e)
        self.assertIn('cannot run "/no/such/kubectl": relrun eval runs `kubectl exec`', e.stderr)
        self.relrun("cancel", job)


if __name__ == "__main__":
    unittest.main()
