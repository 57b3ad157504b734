"""The Kubernetes API simulator (test/k8s_sim) is faithful enough for the real kubectl, and
its controllers, kubelet and faults behave as the other end-to-end tests rely on."""

import http.client
import json
import os
import re
import select
import shutil
import socket
import subprocess
import tempfile
import textwrap
import time
import unittest
import urllib.error

from simlib import Sim

KUBECTL = shutil.which("kubectl")

SCRIPTS = {
    # Prints lines on stdout and stderr, writes its termination message, exits 3.
    "fail.sh": """\
        #!/bin/sh
        echo "first line"
        sleep 0.05
        echo "to stderr" >&2
        sleep 0.05
        echo "third line"
        printf 'boom: exit 3' > "$1"
        exit 3
        """,
    "ok.sh": """\
        #!/bin/sh
        echo "hello from $HOSTNAME node=$RELEASE_NODE"
        exit 0
        """,
    # Ticks slowly, then blocks; on SIGTERM notes it in $1 and exits 143.
    "ticker.sh": """\
        #!/bin/sh
        trap 'echo term > "$1"; exit 143' TERM
        i=1
        while [ $i -le ${N:-5} ]; do echo "tick $i"; i=$((i+1)); sleep 0.1; done
        sleep 60 & wait
        """,
    "count.sh": """\
        #!/bin/sh
        i=1
        while [ $i -le 8 ]; do echo "line $i"; i=$((i+1)); sleep 0.08; done
        """,
    # 3000 lines at once, then a last line without its newline.
    "burst.sh": """\
        #!/bin/sh
        seq 3000
        printf 'no newline'
        """,
    # Ignores SIGTERM: only SIGKILL after the grace period stops it.
    "stubborn.sh": """\
        #!/bin/sh
        trap '' TERM
        echo started
        while :; do sleep 0.1; done
        """,
    "init.sh": """\
        #!/bin/sh
        echo "from init" > "$1"
        """,
    "main.sh": """\
        #!/bin/sh
        cat "$1"
        echo "secret=$SECRET_VALUE ns=$MY_NS cwd=$(pwd)"
        """,
}


def job_manifest(name, script, args=(), backoff=0, extra_spec=None, env=None, grace=None,
                 image="img:1", pod_extra=None):
    c = {"name": "task", "image": image, "command": ["/app/" + script], "args": list(args)}
    if env:
        c["env"] = env
    spec = {"restartPolicy": "Never", "containers": [c]}
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    spec.update(pod_extra or {})
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
           "spec": {"backoffLimit": backoff, "template": {"spec": spec}}}
    job["spec"].update(extra_spec or {})
    return job


@unittest.skipUnless(KUBECTL, "kubectl not installed")
class SimKubectlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="it-sim-")
        root = os.path.join(cls.tmp, "image")
        os.makedirs(os.path.join(root, "app"))
        for name, body in SCRIPTS.items():
            p = os.path.join(root, "app", name)
            with open(p, "w") as f:
                f.write(textwrap.dedent(body))
            os.chmod(p, 0o755)
        cls.sim = Sim(tls=True, images={"img:1": root}, bookmark_interval=0.3).start()

    @classmethod
    def tearDownClass(cls):
        left = cls.sim.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert not left, "processes left behind: %s" % left

    def setUp(self):
        self.sim.clear_faults()

    # ---------------------------------------------------------------- helpers
    def kubectl(self, *args, ok=True, **kw):
        r = self.sim.kubectl(*args, **kw)
        if ok:
            self.assertEqual(r.returncode, 0, "kubectl %s: %s%s" % (args, r.stdout, r.stderr))
        return r

    def namespace(self, name):
        self.kubectl("create", "namespace", name)
        return name

    def create(self, ns, obj):
        path = os.path.join(self.tmp, "%s-%s.json" % (ns, obj["metadata"]["name"]))
        with open(path, "w") as f:
            json.dump(obj, f)
        return self.kubectl("create", "-n", ns, "-f", path)

    def pods(self, ns, job):
        _, _, body = self.sim.get("/api/v1/namespaces/%s/pods?labelSelector=batch.kubernetes.io/job-name=%s"
                                  % (ns, job))
        return body["items"]

    def wait_pod_phase(self, ns, job, phases, timeout=10):
        body = self.sim.wait_for(
            "/api/v1/namespaces/%s/pods?labelSelector=job-name=%s" % (ns, job),
            lambda b: b["items"] and b["items"][0]["status"].get("phase") in phases, timeout)
        return body["items"][0]

    # ---------------------------------------------------------------- kubectl
    def test_tls13_suite_is_the_one_a_kube_apiserver_picks(self):
        # An OpenSSL client (Python's here, libcurl's in relrun) offers AES-256-GCM first; Go's
        # TLS server answers a client that prefers AES-GCM with its own first choice, as the
        # simulator must for the bench's CPU figures to mean what they would on a cluster.
        ctx = self.sim.ssl_context()
        with socket.create_connection(("127.0.0.1", self.sim.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                self.assertEqual(s.version(), "TLSv1.3")
                self.assertEqual(s.cipher()[0], "TLS_AES_128_GCM_SHA256")

    def test_version(self):
        r = self.kubectl("version", "-o", "json")
        v = json.loads(r.stdout)
        self.assertEqual(v["serverVersion"]["gitVersion"], "v1.32.0-sim")
        self.assertEqual(v["serverVersion"]["minor"], "32")

    def test_get_jobs_empty_then_one(self):
        ns = self.namespace("getjobs")
        r = self.kubectl("get", "jobs", "-n", ns)
        self.assertEqual(r.stdout, "")
        self.assertIn("No resources found in getjobs namespace.", r.stderr)
        self.create(ns, job_manifest("one", "ok.sh"))
        self.kubectl("wait", "-n", ns, "--for=condition=complete", "job/one", "--timeout=15s")
        r = self.kubectl("get", "jobs", "-n", ns)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"])
        self.assertEqual(lines[1].split()[:3], ["one", "Complete", "1/1"])
        r = self.kubectl("get", "job", "one", "-n", ns, "-o", "jsonpath={.status.succeeded}")
        self.assertEqual(r.stdout, "1")
        r = self.kubectl("logs", "-n", ns, "job/one")
        pod = self.pods(ns, "one")[0]["metadata"]["name"]
        self.assertEqual(r.stdout, "hello from %s node=%s\n" % (pod, pod.replace("-", "_")))

    def test_create_wait_failed_logs_and_termination_message(self):
        ns = self.namespace("failing")
        r = self.create(ns, job_manifest("bad", "fail.sh", ["/dev/termination-log"]))
        self.assertEqual(r.stdout.strip(), "job.batch/bad created")
        r = self.kubectl("wait", "-n", ns, "--for=condition=failed", "job/bad", "--timeout=15s")
        self.assertIn("job.batch/bad condition met", r.stdout)
        r = self.kubectl("logs", "-n", ns, "job/bad")
        self.assertEqual(r.stdout, "first line\nto stderr\nthird line\n")
        r = self.kubectl("logs", "-n", ns, "job/bad", "--timestamps")
        for line in r.stdout.splitlines():
            stamp, _, _ = line.partition(" ")
            self.assertRegex(stamp, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
        pod = self.pods(ns, "bad")[0]
        term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
        self.assertEqual((term["exitCode"], term["reason"], term["message"]), (3, "Error", "boom: exit 3"))
        self.assertEqual(pod["status"]["phase"], "Failed")
        for k in ("batch.kubernetes.io/job-name", "job-name", "controller-uid",
                  "batch.kubernetes.io/controller-uid"):
            self.assertIn(k, pod["metadata"]["labels"])
        self.assertEqual(pod["metadata"]["ownerReferences"][0]["kind"], "Job")
        _, _, job = self.sim.get("/apis/batch/v1/namespaces/%s/jobs/bad" % ns)
        conds = [(c["type"], c["reason"]) for c in job["status"]["conditions"]]
        self.assertEqual(conds, [("FailureTarget", "BackoffLimitExceeded"),
                                 ("Failed", "BackoffLimitExceeded")])
        self.assertEqual(job["status"]["failed"], 1)
        # AlreadyExists through kubectl, and 422 Invalid with causes.
        r = self.create(ns, job_manifest("bad", "fail.sh")) if False else self.sim.kubectl(
            "create", "-n", ns, "-f", os.path.join(self.tmp, "%s-bad.json" % ns))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('jobs.batch "bad" already exists', r.stderr)
        code, _, body = self.sim.post("/apis/batch/v1/namespaces/%s/jobs" % ns,
                                      {"apiVersion": "batch/v1", "kind": "Job",
                                       "metadata": {"name": "nocontainers"},
                                       "spec": {"template": {"spec": {"restartPolicy": "Never"}}}})
        self.assertEqual(code, 422)
        self.assertEqual(body["reason"], "Invalid")
        self.assertEqual(body["details"]["causes"][0]["field"], "spec.template.spec.containers")
        self.assertEqual(body["message"],
                         'Job.batch "nocontainers" is invalid: spec.template.spec.containers: Required value')

    def test_backoff_limit_makes_new_pods(self):
        ns = self.namespace("backoff")
        self.create(ns, job_manifest("retry", "fail.sh", ["/dev/termination-log"], backoff=1))
        self.kubectl("wait", "-n", ns, "--for=condition=failed", "job/retry", "--timeout=15s")
        pods = self.pods(ns, "retry")
        self.assertEqual(len(pods), 2)
        self.assertTrue(all(p["status"]["phase"] == "Failed" for p in pods))

    def test_pod_failure_policy_fail_job(self):
        ns = self.namespace("pfp")
        policy = {"podFailurePolicy": {"rules": [
            {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [3]}}]}}
        self.create(ns, job_manifest("pfp", "fail.sh", ["/dev/termination-log"], backoff=5,
                                     extra_spec=policy))
        self.kubectl("wait", "-n", ns, "--for=condition=failed", "job/pfp", "--timeout=15s")
        _, _, job = self.sim.get("/apis/batch/v1/namespaces/%s/jobs/pfp" % ns)
        failed = [c for c in job["status"]["conditions"] if c["type"] == "Failed"][0]
        self.assertEqual(failed["reason"], "PodFailurePolicy")
        self.assertRegex(failed["message"], r"^Container task for pod pfp/pfp-\w{5} failed with exit "
                                            r"code 3 matching FailJob rule at index 0$")
        self.assertEqual(len(self.pods(ns, "pfp")), 1)

    def test_active_deadline_kills_pods(self):
        ns = self.namespace("deadline")
        marker = os.path.join(self.tmp, "deadline-term")
        self.create(ns, job_manifest("dl", "ticker.sh", [marker], grace=5,
                                     extra_spec={"activeDeadlineSeconds": 1}))
        self.kubectl("wait", "-n", ns, "--for=condition=failed", "job/dl", "--timeout=15s")
        _, _, job = self.sim.get("/apis/batch/v1/namespaces/%s/jobs/dl" % ns)
        failed = [c for c in job["status"]["conditions"] if c["type"] == "Failed"][0]
        self.assertEqual((failed["reason"], failed["message"]),
                         ("DeadlineExceeded", "Job was active longer than specified deadline"))
        self.assertTrue(os.path.exists(marker), "the pod's process never saw SIGTERM")
        self.assertEqual(self.pods(ns, "dl"), [])

    def test_get_pods_watch(self):
        ns = self.namespace("watchpods")
        w = self.sim.kubectl_popen("get", "pods", "-n", ns, "-w", "--output-watch-events")
        seen = b""
        try:
            self.sim.wait_request(lambda q: q["query"].get("watch") and q["path"].endswith(
                "/namespaces/%s/pods" % ns))
            self.create(ns, job_manifest("w", "ok.sh"))
            self.kubectl("wait", "-n", ns, "--for=condition=complete", "job/w", "--timeout=15s")
            # until the watcher has printed the pod's last state (it may trail the Job's);
            # raw reads, so that nothing waits in a buffer select cannot see
            deadline = time.monotonic() + 15
            while " Completed " not in seen.decode() and time.monotonic() < deadline:
                if select.select([w.stdout], [], [], 0.5)[0]:
                    chunk = os.read(w.stdout.fileno(), 65536)
                    if not chunk:
                        break
                    seen += chunk
        finally:
            w.terminate()
            out, err = w.communicate(timeout=5)
            out = seen.decode() + out
        rows = [line.split() for line in out.splitlines()]
        self.assertEqual(rows[0][:3], ["EVENT", "NAME", "READY"], out + err)
        pod = self.pods(ns, "w")[0]["metadata"]["name"]
        events = [(r[0], r[1], r[3]) for r in rows[1:]]
        self.assertEqual(events[0], ("ADDED", pod, "Pending"))
        statuses = [e[2] for e in events if e[0] == "MODIFIED"]
        self.assertIn("ContainerCreating", statuses)
        self.assertEqual(statuses[-1], "Completed")

    def test_logs_follow_every_line_in_order(self):
        ns = self.namespace("follow")
        self.create(ns, job_manifest("f", "count.sh"))
        self.wait_pod_phase(ns, "f", ("Running", "Succeeded"))
        r = self.kubectl("logs", "-f", "-n", ns, "job/f", timeout=20)
        self.assertEqual(r.stdout.splitlines(), ["line %d" % i for i in range(1, 9)])

    def test_log_stamps_each_line_strictly_increasing(self):
        ns = self.namespace("stamps")
        self.create(ns, job_manifest("b", "burst.sh"))
        self.wait_pod_phase(ns, "b", ("Succeeded",))
        name = self.pods(ns, "b")[0]["metadata"]["name"]
        base = "/api/v1/namespaces/%s/pods/%s/log" % (ns, name)
        code, _, text = self.sim.get(base + "?timestamps=true")
        self.assertEqual(code, 200)
        self.assertFalse(text.endswith("\n"))
        stamps, lines = zip(*(line.split(" ", 1) for line in text.split("\n")))
        self.assertEqual(list(lines), [str(i) for i in range(1, 3001)] + ["no newline"])
        keys = []
        for st in stamps:
            m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{0,8}[1-9]))?Z", st)
            self.assertTrue(m, st)  # RFC3339Nano: trailing zeros trimmed
            keys.append((m.group(1), int((m.group(2) or "").ljust(9, "0"))))
        self.assertTrue(all(a < b for a, b in zip(keys, keys[1:])), "not strictly increasing")
        # sinceTime (whole seconds): exactly the lines stamped at or after it
        for sec in sorted({k[0] for k in keys}) + ["2999-01-01T00:00:00"]:
            code, _, got = self.sim.get(base + "?sinceTime=%sZ" % sec)
            self.assertEqual(code, 200)
            want = [line for k, line in zip(keys, lines) if k[0] >= sec]
            self.assertEqual(got.split("\n") if got else [], want)
        self.assertEqual(self.sim.get(base)[2], "\n".join(lines))

    def test_log_stamps_across_a_second(self):
        from k8s_sim.logs import Stamper, rfc3339nano
        stamp = Stamper()
        texts = ["l%d\n" % i for i in range(40)]
        for ns0 in (1_700_000_000_999_999_980, 1_700_000_001_000_000_000, 1_700_000_000_123_456_700):
            self.assertEqual(stamp.stamp_lines(ns0, texts),
                             [rfc3339nano(ns0 + i) + " " + t for i, t in enumerate(texts)])

    def test_delete_foreground_terminates_pod(self):
        ns = self.namespace("fg")
        marker = os.path.join(self.tmp, "fg-term")
        self.create(ns, job_manifest("fg", "ticker.sh", [marker], grace=5))
        pod = self.wait_pod_phase(ns, "fg", ("Running",))
        r = self.kubectl("delete", "-n", ns, "job", "fg", "--cascade=foreground", timeout=30)
        self.assertIn('job.batch "fg" deleted', r.stdout)
        self.assertTrue(os.path.exists(marker), "no SIGTERM reached the container")
        code, _, _ = self.sim.get("/api/v1/namespaces/%s/pods/%s" % (ns, pod["metadata"]["name"]))
        self.assertEqual(code, 404)
        code, _, _ = self.sim.get("/apis/batch/v1/namespaces/%s/jobs/fg" % ns)
        self.assertEqual(code, 404)
        self.assertEqual(self.sim.processes(), [])

    def test_sigkill_after_grace(self):
        ns = self.namespace("stubborn")
        self.create(ns, job_manifest("st", "stubborn.sh", grace=1))
        pod = self.wait_pod_phase(ns, "st", ("Running",))
        t0 = time.monotonic()
        self.kubectl("delete", "-n", ns, "pod", pod["metadata"]["name"], timeout=30)
        # the grace period was given (not killed at once); the kill after it is what
        # let kubectl's wait for the pod's deletion end (stubborn.sh ignores SIGTERM)
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)
        self.kubectl("delete", "-n", ns, "job", "st", "--wait=true", timeout=30)
        self.assertEqual(self.sim.processes(pod["metadata"]["uid"]), [])

    def test_delete_orphan_keeps_pods(self):
        ns = self.namespace("orphan")
        self.create(ns, job_manifest("o", "ok.sh"))
        self.kubectl("wait", "-n", ns, "--for=condition=complete", "job/o", "--timeout=15s")
        self.kubectl("delete", "-n", ns, "job", "o", "--cascade=orphan")
        pods = self.pods(ns, "o")
        self.assertEqual(len(pods), 1)
        self.assertEqual(pods[0]["metadata"].get("ownerReferences", []), [])

    def test_init_container_emptydir_secret_env(self):
        ns = self.namespace("initc")
        self.kubectl("create", "secret", "generic", "creds", "-n", ns, "--from-literal=token=s3cr3t")
        job = job_manifest("ic", "main.sh", ["/data/msg"], env=[
            {"name": "SECRET_VALUE", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
            {"name": "MY_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}])
        spec = job["spec"]["template"]["spec"]
        spec["volumes"] = [{"name": "data", "emptyDir": {}}]
        spec["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
        spec["containers"][0]["workingDir"] = "/data"
        spec["initContainers"] = [{"name": "prep", "image": "img:1", "command": ["/app/init.sh"],
                                   "args": ["/data/msg"],
                                   "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]
        self.create(ns, job)
        self.kubectl("wait", "-n", ns, "--for=condition=complete", "job/ic", "--timeout=15s")
        r = self.kubectl("logs", "-n", ns, "job/ic")
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], "from init")
        self.assertRegex(lines[1], r"^secret=s3cr3t ns=initc cwd=/.*/volumes/data$")
        pod = self.pods(ns, "ic")[0]
        self.assertEqual(pod["status"]["initContainerStatuses"][0]["state"]["terminated"]["exitCode"], 0)
        r = self.kubectl("logs", "-n", ns, "job/ic", "-c", "prep")
        self.assertEqual(r.stdout, "")

    def test_unknown_image_stays_pending(self):
        ns = self.namespace("noimage")
        self.create(ns, job_manifest("ni", "ok.sh", image="nowhere:1"))
        body = self.sim.wait_for(
            "/api/v1/namespaces/%s/pods?labelSelector=job-name=ni" % ns,
            lambda b: b["items"] and (b["items"][0]["status"].get("containerStatuses") or [{}])[0]
            .get("state", {}).get("waiting", {}).get("reason") in ("ErrImagePull", "ImagePullBackOff"))
        pod = body["items"][0]
        self.assertEqual(pod["status"]["phase"], "Pending")
        r = self.kubectl("logs", "-n", ns, pod["metadata"]["name"], ok=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('container "task" in pod "%s" is waiting to start' % pod["metadata"]["name"], r.stderr)
        self.kubectl("delete", "-n", ns, "job", "ni")

    def test_cronjob_patch_and_fire(self):
        ns = self.namespace("cron")
        cj = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"},
              "spec": {"schedule": "0 3 * * *", "jobTemplate": {
                  "metadata": {"labels": {"app": "nightly"}},
                  "spec": job_manifest("x", "ok.sh")["spec"]}}}
        self.create(ns, cj)
        r = self.kubectl("get", "cronjobs", "-n", ns)
        self.assertEqual(r.stdout.splitlines()[1].split()[:4], ["nightly", "0", "3", "*"])
        self.kubectl("patch", "-n", ns, "cronjob", "nightly", "--type=merge", "-p",
                     '{"spec":{"suspend":true}}')
        r = self.kubectl("get", "cronjob", "nightly", "-n", ns, "-o", "jsonpath={.spec.suspend}")
        self.assertEqual(r.stdout, "true")
        code, _, job = self.sim.fire_cronjob("nightly", ns)
        self.assertEqual(code, 201)
        self.assertEqual(job["metadata"]["ownerReferences"][0]["kind"], "CronJob")
        self.assertEqual(job["metadata"]["labels"]["app"], "nightly")
        self.kubectl("wait", "-n", ns, "--for=condition=complete", "job/" + job["metadata"]["name"],
                     "--timeout=15s")

    def test_eviction_disruption_target_ignored_by_policy(self):
        ns = self.namespace("evict")
        policy = {"podFailurePolicy": {"rules": [
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}}
        self.create(ns, job_manifest("ev", "ticker.sh", ["/dev/null"], grace=1, extra_spec=policy,
                                     env=[{"name": "N", "value": "1"}]))
        first = self.wait_pod_phase(ns, "ev", ("Running",))
        code, _, _ = self.sim.post("/api/v1/namespaces/%s/pods/%s/eviction" % (ns, first["metadata"]["name"]),
                                   {"apiVersion": "policy/v1", "kind": "Eviction",
                                    "metadata": {"name": first["metadata"]["name"], "namespace": ns}})
        self.assertEqual(code, 201)
        # The evicted pod does not count against backoffLimit 0: a replacement runs.
        body = self.sim.wait_for(
            "/api/v1/namespaces/%s/pods?labelSelector=job-name=ev" % ns,
            lambda b: any(p["metadata"]["uid"] != first["metadata"]["uid"] and
                          p["status"].get("phase") == "Running" for p in b["items"]))
        self.assertTrue(body["items"])
        _, _, job = self.sim.get("/apis/batch/v1/namespaces/%s/jobs/ev" % ns)
        self.assertNotIn("failed", job["status"])
        self.kubectl("delete", "-n", ns, "job", "ev")

    def test_fallback_to_logs_on_error_ttl_and_entrypoint(self):
        ns = self.namespace("fallback")
        job = job_manifest("fb", "fail.sh", ["/tmp/not-the-termination-log"],
                           extra_spec={"ttlSecondsAfterFinished": 1})
        c = job["spec"]["template"]["spec"]["containers"][0]
        c["terminationMessagePolicy"] = "FallbackToLogsOnError"
        self.create(ns, job)
        self.kubectl("wait", "-n", ns, "--for=condition=failed", "job/fb", "--timeout=15s")
        term = self.pods(ns, "fb")[0]["status"]["containerStatuses"][0]["state"]["terminated"]
        self.assertEqual(term["message"], "first line\nto stderr\nthird line\n")
        # ttlSecondsAfterFinished: the job and its pod go away on their own.
        self.sim.wait_for("/apis/batch/v1/namespaces/%s/jobs" % ns, lambda b: b["items"] == [], timeout=10)
        self.sim.wait_for("/api/v1/namespaces/%s/pods" % ns, lambda b: b["items"] == [], timeout=10)
        # An image's default entrypoint runs when the container sets no command.
        self.sim.add_image("entry:1", os.path.join(self.tmp, "image"), ["/app/ok.sh"])
        job = job_manifest("ep", "ok.sh", image="entry:1")
        del job["spec"]["template"]["spec"]["containers"][0]["command"]
        self.create(ns, job)
        self.kubectl("wait", "-n", ns, "--for=condition=complete", "job/ep", "--timeout=15s")
        self.assertIn("hello from ep-", self.kubectl("logs", "-n", ns, "job/ep").stdout)

    # ---------------------------------------------------------------- auth
    def test_bad_token_is_401(self):
        r = self.kubectl("get", "jobs", context="sim-badtoken", ok=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Unauthorized", r.stderr)
        code, _, body = self.sim.get("/api/v1/namespaces/default/pods", token=False)
        self.assertEqual(code, 401)
        self.assertEqual((body["kind"], body["reason"], body["code"]), ("Status", "Unauthorized", 401))

    def test_client_certificate_context(self):
        self.sim.clear_requests()
        r = self.kubectl("get", "pods", "-n", "default", context="sim-cert")
        self.assertIn("No resources found", r.stderr)
        reqs = [q for q in self.sim.requests() if q["path"] == "/api/v1/namespaces/default/pods"]
        self.assertEqual(reqs[-1]["auth"], "cert")
        self.assertFalse(reqs[-1]["bearer"])
        self.assertEqual(reqs[-1]["user"], "sim-cert-user")
        code, _, _ = self.sim.get("/api/v1/namespaces/default/pods", token=False, client_cert=True)
        self.assertEqual(code, 200)

    # ---------------------------------------------------------------- faults (raw HTTP)
    def test_fault_status_503(self):
        self.sim.fault(kind="status", code=503, count=1, method="GET", path_regex="/jobs$")
        code, _, body = self.sim.get("/apis/batch/v1/namespaces/default/jobs")
        self.assertEqual(code, 503)
        self.assertEqual((body["kind"], body["status"], body["reason"], body["code"]),
                         ("Status", "Failure", "ServiceUnavailable", 503))
        code, _, _ = self.sim.get("/apis/batch/v1/namespaces/default/jobs")
        self.assertEqual(code, 200)

    def test_fault_429_plain_and_status(self):
        self.sim.fault(kind="429", retry_after=2, plain=True)
        code, headers, body = self.sim.get("/api/v1/namespaces/default/pods")
        self.assertEqual((code, headers["Retry-After"]), (429, "2"))
        self.assertTrue(headers["Content-Type"].startswith("text/plain"))
        self.assertEqual(body, "Too many requests, please try again later.\n")
        self.sim.fault(kind="429", retry_after=1)
        code, headers, body = self.sim.get("/api/v1/namespaces/default/pods")
        self.assertEqual((code, headers["Retry-After"], body["reason"]), (429, "1", "TooManyRequests"))
        self.assertEqual(self.sim.get("/api/v1/namespaces/default/pods")[0], 200)

    def test_fault_forbid(self):
        self.sim.fault(kind="forbid", verb="create", resource="jobs")
        code, _, body = self.sim.post("/apis/batch/v1/namespaces/default/jobs", job_manifest("nope", "ok.sh"))
        self.assertEqual(code, 403)
        self.assertEqual(body["reason"], "Forbidden")
        self.assertEqual(body["message"], 'jobs.batch is forbidden: User "sim-user" cannot create '
                         'resource "jobs" in API group "batch" in the namespace "default"')
        self.sim.fault(kind="forbid", verb="get", resource="pods", user="system:serviceaccount:default:relrun")
        r = self.kubectl("get", "pod", "-n", "default", "somepod", ok=False)
        self.assertIn('pods "somepod" is forbidden: User "system:serviceaccount:default:relrun" cannot get '
                      'resource "pods" in API group "" in the namespace "default"', r.stderr)
        self.sim.fault(kind="forbid", resource="pods/log")
        code, _, body = self.sim.get("/api/v1/namespaces/default/pods/p/log")
        self.assertEqual((code, body["message"]), (403, 'pods "p" is forbidden: User "sim-user" cannot get '
                         'resource "pods/log" in API group "" in the namespace "default"'))

    def _read_stream(self, path):
        """Whole body of a streaming GET and how it ended: "clean" (terminating chunk) or
        "cut" (connection closed mid-stream)."""
        with self.sim.stream(path) as resp:
            try:
                return resp.read().decode(), "clean"
            except http.client.IncompleteRead as e:
                return e.partial.decode(), "cut"

    def _watch_lines(self, path):
        text, end = self._read_stream(path)
        return [json.loads(line) for line in text.splitlines()], end

    def test_fault_drop_watch(self):
        self.sim.fault(kind="drop_watch", after=2, path_regex="/namespaces$")
        lines, end = self._watch_lines("/api/v1/namespaces?watch=1&resourceVersion=0")
        self.assertEqual(end, "cut")
        self.assertEqual([e["type"] for e in lines], ["ADDED", "ADDED"])

    def test_fault_gone_watch_and_real_expiry(self):
        self.sim.fault(kind="gone_watch")
        lines, end = self._watch_lines("/api/v1/namespaces/default/pods?watch=1&resourceVersion=1")
        self.assertEqual(end, "clean")
        self.assertEqual(len(lines), 1)
        self.assertEqual(lines[0]["type"], "ERROR")
        self.assertEqual((lines[0]["object"]["code"], lines[0]["object"]["reason"]), (410, "Expired"))
        # A resourceVersion older than the retained history expires the same way.
        _, _, lst = self.sim.get("/api/v1/namespaces")
        self.sim.compact()
        lines, end = self._watch_lines("/api/v1/namespaces?watch=1&resourceVersion=1")
        self.assertEqual([(e["type"], e["object"]["code"]) for e in lines], [("ERROR", 410)])
        self.assertRegex(lines[0]["object"]["message"], r"^too old resource version: 1 \(\d+\)$")

    def test_watch_resume_and_bookmarks(self):
        ns = self.namespace("resume")
        _, _, lst = self.sim.get("/api/v1/namespaces/%s/secrets" % ns)
        rv = lst["metadata"]["resourceVersion"]
        self.kubectl("create", "secret", "generic", "a", "-n", ns, "--from-literal=k=v")
        self.kubectl("create", "secret", "generic", "b", "-n", ns, "--from-literal=k=v")
        lines, end = self._watch_lines("/api/v1/namespaces/%s/secrets?watch=1&resourceVersion=%s"
                                       "&allowWatchBookmarks=true&timeoutSeconds=1" % (ns, rv))
        self.assertEqual(end, "clean")
        self.assertEqual([(e["type"], e["object"]["metadata"].get("name")) for e in lines[:2]],
                         [("ADDED", "a"), ("ADDED", "b")])
        marks = [e for e in lines[2:] if e["type"] == "BOOKMARK"]
        self.assertTrue(marks, lines)
        self.assertEqual(marks[0]["object"]["kind"], "Secret")
        self.assertGreaterEqual(int(marks[0]["object"]["metadata"]["resourceVersion"]),
                                int(lines[1]["object"]["metadata"]["resourceVersion"]))

    def test_fault_cut_log_and_slow_start(self):
        ns = self.namespace("cutlog")
        self.sim.fault(kind="slow_start", seconds=1.5, pod_regex="^cl-")
        self.create(ns, job_manifest("cl", "ticker.sh", ["/dev/null"], grace=1,
                                     env=[{"name": "N", "value": "6"}]))
        pod = self.sim.wait_for("/api/v1/namespaces/%s/pods?labelSelector=job-name=cl" % ns,
                                lambda b: b["items"] and b["items"][0]["status"].get("containerStatuses"))["items"][0]
        name = pod["metadata"]["name"]
        self.assertEqual(pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
                         "ContainerCreating")
        code, _, body = self.sim.get("/api/v1/namespaces/%s/pods/%s/log" % (ns, name))
        self.assertEqual(code, 400)
        self.assertEqual((body["reason"], body["message"]), (
            "BadRequest", 'container "task" in pod "%s" is waiting to start: ContainerCreating' % name))
        t0 = time.monotonic()
        self.wait_pod_phase(ns, "cl", ("Running",))
        self.assertGreater(time.monotonic() - t0, 0.8)
        self.sim.fault(kind="cut_log", after=2)
        text, end = self._read_stream("/api/v1/namespaces/%s/pods/%s/log?follow=true" % (ns, name))
        self.assertEqual((text, end), ("tick 1\ntick 2\n", "cut"))
        # Without the fault the stream carries every line; tailLines and timestamps work.
        code, _, text = self.sim.get("/api/v1/namespaces/%s/pods/%s/log?tailLines=2&timestamps=true" % (ns, name))
        self.assertEqual(code, 200)
        self.assertEqual(len(text.splitlines()), 2)
        self.assertRegex(text.splitlines()[0], r"^\d{4}-\d\d-\d\dT[\d:.]+Z tick \d$")
        self.kubectl("delete", "-n", ns, "job", "cl")

    def test_label_and_field_selectors(self):
        ns = self.namespace("selectors")
        for name, labels in (("a", {"app": "x", "tier": "web"}), ("b", {"app": "x"}), ("c", {"app": "y"})):
            code, _, _ = self.sim.post("/api/v1/namespaces/%s/configmaps" % ns,
                                       {"metadata": {"name": name, "labels": labels}})
            self.assertEqual(code, 201)

        def names(q):
            code, _, body = self.sim.get("/api/v1/namespaces/%s/configmaps?%s" % (ns, q))
            self.assertEqual(code, 200, body)
            return [o["metadata"]["name"] for o in body["items"]]
        self.assertEqual(names("labelSelector=app%3Dx,tier%3Dweb"), ["a"])
        self.assertEqual(names("labelSelector=app%3Dx,!tier"), ["b"])
        self.assertEqual(names("labelSelector=app%20in%20(x,y),app!%3Dx"), ["c"])
        self.assertEqual(names("fieldSelector=metadata.name%3Db"), ["b"])
        r = self.kubectl("get", "configmaps", "-n", ns, "-l", "app=x", "-o", "name")
        self.assertEqual(r.stdout.split(), ["configmap/a", "configmap/b"])

    def test_request_log(self):
        self.sim.clear_requests()
        self.sim.get("/api/v1/namespaces/default/pods?labelSelector=a%3Db")
        reqs = self.sim.requests()
        self.assertEqual(reqs[-1]["path"], "/api/v1/namespaces/default/pods")
        self.assertEqual(reqs[-1]["query"], {"labelSelector": "a=b"})
        self.assertEqual((reqs[-1]["auth"], reqs[-1]["bearer"], reqs[-1]["tls"]), ("bearer", True, True))


@unittest.skipUnless(KUBECTL, "kubectl not installed")
class SimPlainHttpTest(unittest.TestCase):
    def test_plain_http_and_no_leftovers(self):
        tmp = tempfile.mkdtemp(prefix="it-sim-http-")
        try:
            os.makedirs(os.path.join(tmp, "app"))
            with open(os.path.join(tmp, "app", "hang.sh"), "w") as f:
                f.write("#!/bin/sh\n(sleep 60 &) ; echo up; sleep 60\n")
            os.chmod(os.path.join(tmp, "app", "hang.sh"), 0o755)
            sim = Sim(tls=False, images={"img:1": tmp})
            with sim:
                self.assertTrue(sim.url.startswith("http://"))
                r = sim.kubectl("get", "namespaces")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("default", r.stdout)
                reqs = sim.requests()
                self.assertTrue(reqs and all(not q["tls"] for q in reqs))
                # client-go never sends the kubeconfig's token over plain http; the request
                # log lets tests assert that (plain-HTTP mode serves such requests anonymously).
                self.assertFalse(any(q["bearer"] for q in reqs))
                self.assertEqual({q["auth"] for q in reqs}, {"anonymous"})
                code, _, _ = sim.post("/apis/batch/v1/namespaces/default/jobs",
                                      job_manifest("hang", "hang.sh"))
                self.assertEqual(code, 201)
                sim.wait_for("/api/v1/namespaces/default/pods?labelSelector=job-name=hang",
                             lambda b: b["items"] and b["items"][0]["status"].get("phase") == "Running")
                deadline = time.monotonic() + 5
                while len(sim.processes()) < 3 and time.monotonic() < deadline:
                    time.sleep(0.05)
                self.assertGreaterEqual(len(sim.processes()), 2)
            # Sim.__exit__ raised nothing: the simulator killed its pods' processes,
            # including the one that left the process group's parent.
            self.assertEqual(sim.leftovers, [])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
