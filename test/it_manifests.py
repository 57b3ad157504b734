"""manifests/ stays true: the example Job and CronJob are byte for byte what the
built relrun prints today (`relrun render`, `relrun cron render`), every file
passes the upstream schemas (npm kubernetes-models), and the real kubectl
creates the objects in the API simulator.

Regenerate the examples after an intended change to the manifests relrun builds:

    cd test && RELRUN_REGENERATE=1 RELRUN_BIN=../build/cmd/relrun/relrun \\
        RELRUN_BUILD_DIR=../build python3 -m unittest it_manifests
"""
import json
import os
import subprocess
import unittest

from k8s_sim import podsecurity as pss
from simlib import Sim

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("RELRUN_SOURCE_DIR", os.path.join(HERE, ".."))
BUILD = os.environ.get("RELRUN_BUILD_DIR", os.path.join(SOURCE, "build"))
RELRUN = os.environ.get("RELRUN_BIN", os.path.join(BUILD, "cmd", "relrun", "relrun"))
MANIFESTS = os.path.join(SOURCE, "manifests")
from nodelib import NODE_DIR, ensure_node_modules  # noqa: E402
VALIDATE = os.path.join(NODE_DIR, "validate.mjs")
REGEN = "cd test && RELRUN_REGENERATE=1 RELRUN_BIN=../build/cmd/relrun/relrun " \
        "RELRUN_BUILD_DIR=../build python3 -m unittest it_manifests"

# The commands that print the examples; manifests/README.md quotes them.
TASK_FLAGS = ["--image", "ghcr.io/acme/my_app:1.4.0", "--release", "/app/bin/my_app",
              "--pod-image", "ghcr.io/relrun/relrun-pod:0.1.0",
              "--cookie-secret", "my-app-cookie", "--env-from-secret", "my-app-env",
              "--cpu", "500m", "--memory", "512Mi", "--image-pull-secret", "ghcr-pull"]
EXAMPLES = {
    # relrun render [flags] EXPR -o yaml
    "example-job.yaml": (RELRUN, ["render", *TASK_FLAGS, "--timeout", "6h", "--ttl", "24h",
                                  "--boot-retries", "2", "--memory-limit", "1Gi",
                                  "--node-selector", "pool=encoders",
                                  "--toleration", "dedicated=encoders:NoSchedule",
                                  "--run-as-user", "1000",
                                  'LiveStream.run("stream-42", bitrate: 4000)', "-o", "yaml"]),
    # relrun cron render NAME --schedule CRON [flags] EXPR -o yaml
    "example-cronjob.yaml": (RELRUN, ["cron", "render", "nightly-report",
                                      "--schedule", "30 3 * * *", "--time-zone", "Europe/Berlin",
                                      *TASK_FLAGS, "--timeout", "1h", "--ttl", "24h",
                                      "--label", "team=reports", "--priority-class", "batch-low",
                                      "Report.nightly()", "-o", "yaml"]),
}


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=120, **kw)


def generate(name):
    prog, args = EXAMPLES[name]
    # RELRUN_IMAGE, RELRUN_POD_IMAGE, ... must not leak into the examples
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELRUN_")}
    r = run([prog, *args], env=env)
    if r.returncode != 0:
        raise AssertionError(f"{os.path.basename(prog)} {' '.join(args)}: {r.stderr}")
    return r.stdout


class Manifests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(RELRUN):
            raise unittest.SkipTest(f"{RELRUN} not built")
        ensure_node_modules("kubernetes-models")

    def path(self, name):
        return os.path.join(MANIFESTS, name)

    def read(self, name):
        with open(self.path(name)) as f:
            return f.read()

    def test_examples_are_what_relrun_prints(self):
        for name in EXAMPLES:
            with self.subTest(name):
                want = generate(name)
                if os.environ.get("RELRUN_REGENERATE"):
                    with open(self.path(name), "w") as f:
                        f.write(want)
                with open(self.path(name)) as f:
                    have = f.read()
                if have != want:
                    self.fail(f"manifests/{name} is not what relrun prints any more; "
                              f"run `{REGEN}` to regenerate it, then review the diff")

    def test_examples_show_what_users_rely_on(self):
        # the examples are documentation: a user reads the shape here
        text = self.read("example-job.yaml")
        self.assertTrue(text.startswith("apiVersion: batch/v1\nkind: Job\n"), text[:80])
        for needle in ("generateName: relrun-live-stream-run-", "relrun.dev/expr:",
                       "- /relrun/relrun-pod", "podFailurePolicy:", "name: relrun-pod",
                       "secretKeyRef:", "activeDeadlineSeconds: 21600",
                       "ttlSecondsAfterFinished: 86400"):
            self.assertIn(needle, text)
        text = self.read("example-cronjob.yaml")
        self.assertTrue(text.startswith("apiVersion: batch/v1\nkind: CronJob\n"), text[:80])
        for needle in ("name: nightly-report", "schedule: 30 3 * * *",
                       "timeZone: Europe/Berlin", "concurrencyPolicy: Forbid",
                       "relrun.dev/cron: nightly-report", "jobTemplate:"):
            self.assertIn(needle, text)

    def test_examples_pass_pod_security(self):
        # the Job runs as --run-as-user 1000: "restricted" whole; the CronJob
        # keeps the image's user: "baseline" and all of restricted but the user
        for name, level in (("example-job.yaml", "restricted"),
                            ("example-cronjob.yaml", "baseline")):
            with self.subTest(name):
                script = ("import {parse} from 'yaml'; import {readFileSync} from 'fs';"
                          "console.log(JSON.stringify(parse(readFileSync(process.argv[1], "
                          "'utf8'))));")
                r = run(["node", "--input-type=module", "-e", script, self.path(name)],
                        cwd=NODE_DIR)
                self.assertEqual(r.returncode, 0, r.stderr)
                [(_, meta, spec)] = pss.pod_templates(json.loads(r.stdout))
                self.assertEqual(pss.check(spec, level, meta), [])
                if level == "baseline":
                    self.assertEqual(len(pss.check(spec, "restricted", meta)), 1)

    def test_every_manifest_passes_the_upstream_schemas(self):
        files = [self.path(n) for n in ("rbac.yaml", "example-job.yaml", "example-cronjob.yaml")]
        r = run(["node", VALIDATE, *files])
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        # rbac.yaml holds three objects, each example one
        self.assertEqual(r.stdout.count("ok "), 5, r.stdout)

    def test_rbac_is_least_privilege(self):
        script = ("import {parseAllDocuments} from 'yaml'; import {readFileSync} from 'fs';"
                  "const d = parseAllDocuments(readFileSync(process.argv[1], 'utf8'));"
                  "console.log(JSON.stringify(d.map(x => x.toJS())));")
        r = run(["node", "--input-type=module", "-e", script, self.path("rbac.yaml")],
                cwd=NODE_DIR)
        self.assertEqual(r.returncode, 0, r.stderr)
        objs = {o["kind"]: o for o in json.loads(r.stdout)}
        self.assertEqual(sorted(objs), ["Role", "RoleBinding", "ServiceAccount"])
        self.assertEqual(objs["Role"]["rules"], [
            {"apiGroups": ["batch"], "resources": ["jobs"],
             "verbs": ["create", "get", "list", "watch", "delete"]},
            {"apiGroups": ["batch"], "resources": ["cronjobs"],
             "verbs": ["create", "get", "list", "watch", "delete", "patch", "update"]},
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["events"], "verbs": ["list", "watch"]},
        ])
        self.assertEqual(objs["RoleBinding"]["roleRef"],
                         {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                          "name": "relrun"})
        self.assertEqual(objs["RoleBinding"]["subjects"],
                         [{"kind": "ServiceAccount", "name": objs["ServiceAccount"]["metadata"]
                           ["name"]}])

    def test_kubectl_creates_the_examples(self):
        with Sim(tls=True) as sim:
            for name, kind, obj in (("example-job.yaml", "job", None),
                                    ("example-cronjob.yaml", "cronjob", "nightly-report")):
                with self.subTest(name):
                    r = sim.kubectl("create", "-f", self.path(name), "-o", "name")
                    self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
                    created = r.stdout.strip()
                    self.assertTrue(created.startswith(f"{kind}.batch/relrun-live-stream-run-"
                                                       if obj is None else
                                                       f"{kind}.batch/{obj}"), created)
                    r = sim.kubectl("get", created, "-o",
                                    "jsonpath={.metadata.annotations.relrun\\.dev/expr}")
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertIn(r.stdout, ('LiveStream.run("stream-42", bitrate: 4000)',
                                             "Report.nightly()"))

    def test_kubectl_creates_the_rbac(self):
        with Sim(tls=True) as sim:
            r = sim.kubectl("create", "-f", self.path("rbac.yaml"), "-o", "name")
            self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
            self.assertEqual(sorted(r.stdout.split()),
                             ["role.rbac.authorization.k8s.io/relrun",
                              "rolebinding.rbac.authorization.k8s.io/relrun",
                              "serviceaccount/relrun"])
            r = sim.kubectl("get", "role", "relrun", "-o", "jsonpath={.rules[*].resources}")
            self.assertEqual(r.returncode, 0, r.stderr)
            for res in ("jobs", "cronjobs", "pods", "pods/log"):
                self.assertIn('"%s"' % res, r.stdout)

    def test_dockerfile_copies_the_static_runner(self):
        text = self.read("Dockerfile")
        lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
        self.assertEqual(lines, ["FROM scratch", "COPY relrun-pod /relrun-pod",
                                 "USER 65532:65532", 'ENTRYPOINT ["/relrun-pod"]'])
        self.assertIn("docker build -f manifests/Dockerfile", text)
        # FROM scratch has no libc: the binary it copies must be static
        pod = os.environ.get("RELRUN_POD_BIN",
                             os.path.join(BUILD, "cmd", "relrun-pod", "relrun-pod"))
        if not os.path.exists(pod):
            self.skipTest(f"{pod} not built")
        if os.environ.get("RELRUN_POD_STATIC", "ON").upper() in ("OFF", "0", "FALSE"):
            # ASan/UBSan need the dynamic runtime; run-tests checks the static
            # binary of the main build with file and ldd.
            self.skipTest("this build links relrun-pod dynamically (sanitizers)")
        with open(pod, "rb") as f:
            elf = f.read()
        self.assertEqual(elf[:5], b"\x7fELF\x02")  # ELF64, little-endian below
        phoff = int.from_bytes(elf[0x20:0x28], "little")
        phentsize = int.from_bytes(elf[0x36:0x38], "little")
        phnum = int.from_bytes(elf[0x38:0x3a], "little")
        types = [int.from_bytes(elf[phoff + i * phentsize:phoff + i * phentsize + 4], "little")
                 for i in range(phnum)]
        self.assertTrue(types, "no program headers")
        self.assertNotIn(3, types, f"{pod} has a PT_INTERP: dynamically linked")


if __name__ == "__main__":
    unittest.main()
