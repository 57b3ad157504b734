"""Pod Security Standards: every Job and CronJob relrun renders passes "baseline" and the
restricted fields that cannot break an image (allowPrivilegeEscalation false, capabilities
drop ALL, seccompProfile RuntimeDefault, on the init container and the task); with
--run-as-user it passes "restricted" whole. The checker (test/k8s_sim/podsecurity.py,
written from the standards' text) is proven able to fail, and the simulator enforces the
namespace label pod-security.kubernetes.io/enforce as the admission plugin does: the Job is
created, its pods are forbidden, a FailedCreate event on the Job carries the message.
"""
import json
import os
import subprocess
import time
import unittest

from k8s_sim import podsecurity as pss
from simlib import Sim

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("RELRUN_BUILD_DIR", os.path.join(HERE, "..", "build"))
RELRUN = os.environ.get("RELRUN_BIN", os.path.join(BUILD, "cmd", "relrun", "relrun"))
BASE = ["--image", "ghcr.io/acme/app:1.2.3", "--release", "/app/bin/my_app",
        "--pod-image", "ghcr.io/relrun/relrun-pod:0.1.0"]
# flag sets a user writes; each rendered as a Job and as a CronJob
FLAG_SETS = {
    "default": [],
    "inject-none": ["--inject", "none"],
    "placement": ["--node-selector", "pool=encoders", "--toleration", "dedicated:NoSchedule",
                  "--image-pull-secret", "regcred", "--pull-policy", "Always",
                  "--priority-class", "high", "--label", "team=video",
                  "--annotation", "note=x", "--cpu", "1", "--cpu-limit", "2",
                  "--memory", "256Mi", "--memory-limit", "1Gi", "--cookie-secret", "c",
                  "--env", "A=1", "--env-from-secret", "e"],
}
RESTRICTED_ONLY = ["runAsNonRoot != true (pod or containers \"relrun-pod\", \"task\" must set "
                   "securityContext.runAsNonRoot=true)"]


def run(args, **kw):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELRUN_")}
    return subprocess.run(args, capture_output=True, text=True, timeout=120, env=env, **kw)


def render(flags, cron=False):
    if cron:
        args = [RELRUN, "cron", "render", "nightly", "--schedule", "@daily", *BASE, *flags,
                "M.f()", "-o", "json"]
    else:
        args = [RELRUN, "render", *BASE, *flags, "M.f()", "-o", "json"]
    r = run(args)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(args)}: {r.stderr}")
    return json.loads(r.stdout)


def violations(obj, level):
    out = []
    for where, meta, spec in pss.pod_templates(obj):
        out += pss.check(spec, level, meta)
    return out


@unittest.skipUnless(os.path.exists(RELRUN), "relrun not built")
class RenderedObjects(unittest.TestCase):
    def test_every_job_and_cronjob_passes_baseline(self):
        for name, flags in FLAG_SETS.items():
            for cron in (False, True):
                with self.subTest(name, cron=cron):
                    obj = render(flags, cron)
                    self.assertTrue(pss.pod_templates(obj), obj)
                    self.assertEqual(violations(obj, "baseline"), [])

    def test_default_job_misses_restricted_only_on_run_as_non_root(self):
        for name, flags in FLAG_SETS.items():
            for cron in (False, True):
                with self.subTest(name, cron=cron):
                    got = violations(render(flags, cron), "restricted")
                    if name == "inject-none":  # one container
                        self.assertEqual(got, ["runAsNonRoot != true (pod or container "
                                               "\"task\" must set "
                                               "securityContext.runAsNonRoot=true)"])
                    else:
                        self.assertEqual(got, RESTRICTED_ONLY)

    def test_run_as_user_passes_restricted(self):
        for name, flags in FLAG_SETS.items():
            for cron in (False, True):
                with self.subTest(name, cron=cron):
                    obj = render(flags + ["--run-as-user", "10001"], cron)
                    self.assertEqual(violations(obj, "restricted"), [])
                    ps = pss.pod_templates(obj)[0][2]
                    self.assertEqual(ps["securityContext"],
                                     {"runAsNonRoot": True, "runAsUser": 10001})
                    for c in ps.get("initContainers", []) + ps["containers"]:
                        self.assertEqual(c["securityContext"], {
                            "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"}})

    def test_run_as_user_refuses_root_and_words(self):
        for bad in ("0", "-1", "root", "99999999999"):
            with self.subTest(bad):
                r = run([RELRUN, "render", *BASE, "--run-as-user", bad, "M.f()"])
                self.assertEqual(r.returncode, 64, r.stderr)
                self.assertIn("--run-as-user", r.stderr)
                self.assertIn(bad, r.stderr)

    def test_an_override_that_breaks_pod_security_is_seen(self):
        # the checker sees what --overrides does: a user's privileged sidecar
        obj = render(["--override-type", "strategic", "--overrides", json.dumps(
            {"spec": {"template": {"spec": {"hostNetwork": True, "containers": [
                {"name": "debug", "image": "busybox",
                 "securityContext": {"privileged": True}}]}}}})])
        got = violations(obj, "baseline")
        self.assertEqual(got, ["host namespaces (hostNetwork=true)",
                               "privileged (container \"debug\" must not set "
                               "securityContext.privileged=true)"])


class Checker(unittest.TestCase):
    """The checker fails what the standards forbid (so a pass above means something)."""

    def test_the_old_default_job_fails_restricted_on_eight_counts(self):
        # relrun's Job before it set securityContexts: 4 checks x 2 containers
        spec = {"initContainers": [{"name": "relrun-pod", "image": "p"}],
                "containers": [{"name": "task", "image": "a"}],
                "volumes": [{"name": "relrun", "emptyDir": {}}]}
        got = pss.check(spec, "restricted")
        both = 'containers "relrun-pod", "task"'
        self.assertEqual(got, [
            f"allowPrivilegeEscalation != false ({both} must set "
            "securityContext.allowPrivilegeEscalation=false)",
            f'unrestricted capabilities ({both} must set securityContext.capabilities.drop=["ALL"])',
            f"runAsNonRoot != true (pod or {both} must set securityContext.runAsNonRoot=true)",
            f'seccompProfile (pod or {both} must set securityContext.seccompProfile.type to '
            '"RuntimeDefault" or "Localhost")'])
        self.assertEqual(pss.check(spec, "baseline"), [])
        self.assertEqual(pss.check(spec, "privileged"), [])

    def test_baseline_violations(self):
        c = {"name": "c", "image": "x"}
        cases = {
            "host namespaces (hostPID=true, hostIPC=true)": {"hostPID": True, "hostIPC": True},
            'privileged (container "c" must not set securityContext.privileged=true)':
                {"containers": [dict(c, securityContext={"privileged": True})]},
            'non-default capabilities (container "c" must not include "NET_ADMIN" in '
            'securityContext.capabilities.add)':
                {"containers": [dict(c, securityContext={"capabilities": {"add": ["NET_ADMIN",
                                                                                  "CHOWN"]}})]},
            'hostPath volumes (volume "h")': {"volumes": [{"name": "h", "hostPath": {"path": "/"}}]},
            'hostPort (container "c" uses hostPort 8080)':
                {"containers": [dict(c, ports=[{"containerPort": 80, "hostPort": 8080}])]},
            'seccompProfile (pod must not set securityContext.seccompProfile.type to '
            '"Unconfined")': {"securityContext": {"seccompProfile": {"type": "Unconfined"}}},
            'procMount (container "c" must not set securityContext.procMount to "Unmasked")':
                {"containers": [dict(c, securityContext={"procMount": "Unmasked"})]},
            "forbidden sysctls (kernel.msgmax)":
                {"securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}},
        }
        for want, extra in cases.items():
            with self.subTest(want):
                spec = dict({"containers": [c]}, **extra)
                self.assertEqual(pss.check(spec, "baseline"), [want])

    def test_restricted_volumes_and_root(self):
        ok = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
        spec = {"securityContext": {"runAsNonRoot": True, "runAsUser": 0,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{"name": "c", "image": "x", "securityContext": ok}],
                "volumes": [{"name": "n", "nfs": {"server": "s", "path": "/"}},
                            {"name": "e", "emptyDir": {}}]}
        self.assertEqual(pss.check(spec, "restricted"), [
            'restricted volume types (volume "n" uses restricted volume type "nfs")',
            "runAsUser=0 (pod must not set runAsUser=0)"])
        spec["volumes"].pop(0)
        spec["securityContext"]["runAsUser"] = 1000
        self.assertEqual(pss.check(spec, "restricted"), [])
        spec["containers"][0]["securityContext"] = dict(ok, capabilities={
            "drop": ["ALL"], "add": ["NET_BIND_SERVICE", "SYS_TIME"]})
        self.assertEqual(pss.check(spec, "restricted"), [
            'non-default capabilities (container "c" must not include "SYS_TIME" in '
            'securityContext.capabilities.add)',
            'unrestricted capabilities (container "c" must not include "SYS_TIME" in '
            'securityContext.capabilities.add)'])


@unittest.skipUnless(os.path.exists(RELRUN), "relrun not built")
class Admission(unittest.TestCase):
    """The simulator's PodSecurity admission, seen through relrun and kubectl."""

    @classmethod
    def setUpClass(cls):
        cls.sim = Sim(tls=True).start()
        for ns, level in (("strict", "restricted"), ("base", "baseline")):
            code, _, body = cls.sim.post("/api/v1/namespaces", {
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": ns, "labels": {pss.ENFORCE_LABEL: level}}})
            assert code == 201, body

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def relrun(self, *args):
        return run([RELRUN, *args, "--kubeconfig", self.sim.kubeconfig])

    def detach(self, ns, *flags):
        r = self.relrun("run", "-n", ns, "--detach", *BASE, *flags, "M.f()")
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.strip().split("/")[-1]

    def events(self, ns, job):
        code, _, body = self.sim.get(f"/api/v1/namespaces/{ns}/events")
        self.assertEqual(code, 200, body)
        return [e for e in body["items"] if e["involvedObject"]["name"] == job]

    def pods(self, ns, job):
        code, _, body = self.sim.get(f"/api/v1/namespaces/{ns}/pods?labelSelector="
                                     f"batch.kubernetes.io/job-name%3D{job}")
        self.assertEqual(code, 200, body)
        return body["items"]

    def wait(self, pred, what, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            v = pred()
            if v:
                return v
            time.sleep(0.05)
        self.fail(f"timed out waiting for {what}")

    def test_restricted_namespace_forbids_the_default_pod(self):
        job = self.detach("strict")
        evs = self.wait(lambda: self.events("strict", job), "a FailedCreate event")
        ev = evs[0]
        self.assertEqual((ev["type"], ev["reason"]), ("Warning", "FailedCreate"))
        self.assertEqual(ev["involvedObject"]["kind"], "Job")
        self.assertEqual(ev["source"]["component"], "job-controller")
        msg = ev["message"]
        self.assertRegex(msg, r'^Error creating: pods "%s-[a-z0-9]{5}" is forbidden: violates '
                         r'PodSecurity "restricted:latest": ' % job)
        self.assertTrue(msg.endswith(RESTRICTED_ONLY[0]), msg)
        self.assertEqual(self.pods("strict", job), [])
        # the Job itself exists and is not failed: the controller keeps trying
        code, _, got = self.sim.get(f"/apis/batch/v1/namespaces/strict/jobs/{job}")
        self.assertEqual(code, 200)
        self.assertFalse([c for c in (got.get("status") or {}).get("conditions") or []
                          if c["type"] in ("Failed", "Complete")])
        self.wait(lambda: self.events("strict", job)[0].get("count", 1) > 1,
                  "the event's count to grow with retries")

    def test_relrun_run_reports_the_refusal_at_once(self):
        # the simulator's FailedCreate event reaches the user through relrun's follower
        r = self.relrun("run", "-n", "strict", *BASE, "M.f()")
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn('violates PodSecurity "restricted:latest": ' + RESTRICTED_ONLY[0],
                      r.stderr)
        self.assertIn("--run-as-user", r.stderr)

    def test_run_as_user_is_admitted_in_restricted(self):
        job = self.detach("strict", "--run-as-user", "10001")
        pods = self.wait(lambda: self.pods("strict", job), "the pod")
        self.assertEqual(pods[0]["spec"]["securityContext"]["runAsUser"], 10001)
        self.assertEqual(self.events("strict", job), [])

    def test_cron_create_with_run_as_user_runs_in_restricted(self):
        r = self.relrun("cron", "create", "nightly", "-n", "strict", "--schedule", "0 3 * * *",
                        *BASE, "--run-as-user", "10001", "--node-selector", "pool=batch",
                        "--image-pull-secret", "regcred", "Report.nightly()")
        self.assertEqual(r.returncode, 0, r.stderr)
        code, _, cj = self.sim.get("/apis/batch/v1/namespaces/strict/cronjobs/nightly")
        self.assertEqual(code, 200, cj)
        ps = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        self.assertEqual(pss.check(ps, "restricted"), [])
        self.assertEqual((ps["nodeSelector"], ps["imagePullSecrets"]),
                         ({"pool": "batch"}, [{"name": "regcred"}]))
        code, _, body = self.sim.fire_cronjob("nightly", "strict", "nightly-manual")
        self.assertIn(code, (200, 201), body)
        pods = self.wait(lambda: self.pods("strict", "nightly-manual"), "the CronJob's pod")
        self.assertEqual(pods[0]["spec"]["securityContext"]["runAsUser"], 10001)
        self.assertEqual(self.events("strict", "nightly-manual"), [])

    def test_baseline_namespace_admits_the_default_pod(self):
        job = self.detach("base")
        self.wait(lambda: self.pods("base", job), "the pod")
        self.assertEqual(self.events("base", job), [])

    def test_kubectl_sees_the_forbidden_pod(self):
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "dbg"},
               "spec": {"hostNetwork": True,
                        "containers": [{"name": "c", "image": "busybox",
                                        "securityContext": {"privileged": True}}]}}
        r = self.sim.kubectl("create", "-n", "base", "-f", "-", input=json.dumps(pod))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('pods "dbg" is forbidden: violates PodSecurity "baseline:latest": '
                      'host namespaces (hostNetwork=true), privileged (container "c" must not '
                      'set securityContext.privileged=true)', r.stderr)


if __name__ == "__main__":
    unittest.main()
