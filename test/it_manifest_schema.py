"""Manifests checked by real tools: the upstream Kubernetes schemas (npm
kubernetes-models, each model's .validate()), an independent YAML parser
(npm yaml, YAML 1.1 and 1.2) reading relrun's YAML back to the same JSON, and
Debian's elixir evaluating --mfa/--args serialisations without running any
interpolated code.

Built objects come from the test-only driver pkg/manifest/manifest_dump.
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from k8s_sim import podsecurity as pss

HERE = os.path.dirname(os.path.abspath(__file__))
from nodelib import NODE_DIR, ensure_node_modules  # noqa: E402
VALIDATE = os.path.join(NODE_DIR, "validate.mjs")
BUILD = os.environ.get("RELRUN_BUILD_DIR", os.path.join(HERE, "..", "build"))
DUMP = os.path.join(BUILD, "pkg", "manifest", "manifest_dump")

BASE = ["--image", "ghcr.io/acme/app:1.2.3", "--release", "/app/bin/my_app",
        "--pod-image", "ghcr.io/relrun/relrun-pod:0.1.0"]
FULL = BASE + ["-n", "streams", "--env", "FOO=bar", "--env", "EMPTY=",
               "--env-from-secret", "app-env", "--cookie-secret", "app-cookie",
               "--cpu", "500m", "--memory", "256Mi", "--service-account", "relrun-task",
               "--timeout", "7200", "--boot-retries", "2", "--ttl", "3600",
               "--log-format", "json", "--grace", "20", "--rpc", "dist", "--error-exit", "3",
               "--label", "team=video", "--annotation", "sidecar.istio.io/inject=false"]
# every pod flag relrun has, and an override as kubectl run --overrides takes it
PLACEMENT = BASE + ["--image-pull-secret", "regcred", "--image-pull-secret", "other",
                    "--pull-policy", "IfNotPresent", "--node-selector", "pool=encoders",
                    "--node-selector", "kubernetes.io/arch=amd64",
                    "--toleration", "dedicated=encoders:NoSchedule",
                    "--toleration", "spot:NoExecute", "--priority-class", "batch-high",
                    "--cpu", "500m", "--cpu-limit", "2", "--memory", "256Mi",
                    "--memory-limit", "1Gi", "--run-as-user", "10001",
                    "--label", "team=video", "--annotation", "a.b/c=d",
                    "--override-type", "strategic", "--overrides", json.dumps(
                        {"spec": {"template": {"spec": {
                            "affinity": {"nodeAffinity": {
                                "requiredDuringSchedulingIgnoredDuringExecution": {
                                    "nodeSelectorTerms": [{"matchExpressions": [
                                        {"key": "zone", "operator": "In",
                                         "values": ["a", "b"]}]}]}}},
                            "containers": [{"name": "task", "env": [
                                {"name": "EXTRA", "value": "1"}]}]}}}})]
TRICKY_EXPR = ('IO.puts("true: yes # no")\n'
               '  LiveStream.run("stream-42", bitrate: 4000, tag: "\\#{x}") # ok\n')

CASES = {
    "job-minimal": BASE + ["M.f()"],
    "job-full": FULL + ['LiveStream.run("stream-42", bitrate: 4000)'],
    "job-inject-none": ["--image", "app:1", "--release", "/app/bin/a", "--inject", "none",
                        "--retry-on-disruption", TRICKY_EXPR],
    "job-yaml-words": BASE + ["--env", "A=true", "--env", "B=1", "--env", "C=0o7",
                              "--env", "D=~", "--env", "E=", "--env", "F=: x",
                              "--env", "G= lead", "--label", "v=1.0", "--annotation",
                              "note=line1\nline2\n", "x(\"null\")"],
    "cron": FULL + ["--cron", "nightly-report", "--schedule", "30 3 * * 1-5",
                    "--time-zone", "Europe/Berlin", "Report.nightly()"],
    "cron-macro": BASE + ["--cron", "hourly", "--schedule", "@hourly", "Report.hourly()"],
    "job-placement": PLACEMENT + ["M.f()"],
    "cron-placement": PLACEMENT + ["--cron", "enc", "--schedule", "*/5 * * * *", "M.f()"],
    "job-override-json": BASE + ["--override-type", "json", "--overrides", json.dumps([
        {"op": "add", "path": "/spec/template/spec/volumes/-",
         "value": {"name": "data", "persistentVolumeClaim": {"claimName": "d"}}},
        {"op": "add", "path": "/spec/template/spec/containers/0/volumeMounts/-",
         "value": {"name": "data", "mountPath": "/data"}}]), "M.f()"],
}


def load(path):
    with open(path) as f:
        return json.load(f)


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=120, **kw)


class ManifestSchema(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(DUMP):
            raise unittest.SkipTest(f"{DUMP} not built")
        ensure_node_modules("kubernetes-models")
        cls.tmp = tempfile.mkdtemp(prefix="relrun-manifest-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def dump(self, name, args, fmt):
        r = run([DUMP, "-o", fmt] + args)
        self.assertEqual(r.returncode, 0, f"{name}: {r.stderr}")
        path = os.path.join(self.tmp, f"{name}.{fmt}")
        with open(path, "w") as f:
            f.write(r.stdout)
        return path

    def validate(self, *paths, stdin=None):
        return run(["node", VALIDATE, *paths], input=stdin)

    def test_built_objects_pass_the_upstream_schemas(self):
        paths = []
        for name, args in CASES.items():
            paths.append(self.dump(name, args, "json"))
            paths.append(self.dump(name, args, "yaml"))
        r = self.validate(*paths)
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        self.assertEqual(r.stdout.count("\nok ") + r.stdout.startswith("ok "), len(paths),
                         r.stdout)
        # and the same objects as one JSON list on stdin
        objs = [load(p) for p in paths if p.endswith(".json")]
        r = self.validate(stdin=json.dumps(objs))
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_built_objects_pass_pod_security(self):
        for name, args in CASES.items():
            with self.subTest(name):
                obj = load(self.dump(name, args, "json"))
                [(_, meta, spec)] = pss.pod_templates(obj)
                self.assertEqual(pss.check(spec, "baseline", meta), [])
                restricted = pss.check(spec, "restricted", meta)
                if "--run-as-user" in args:
                    self.assertEqual(restricted, [])
                else:  # all but the user, which only --run-as-user may set
                    self.assertEqual([v.split(" (")[0] for v in restricted],
                                     ["runAsNonRoot != true"])

    def test_yaml_reads_back_as_the_json(self):
        for name, args in CASES.items():
            with self.subTest(name):
                j = self.dump(name, args, "json")
                y = self.dump(name, args, "yaml")
                r = self.validate("--same-yaml", j, y)
                self.assertEqual(r.returncode, 0, r.stderr)
                obj = load(j)
                if name == "job-yaml-words":
                    env = {e["name"]: e.get("value")
                           for e in obj["spec"]["template"]["spec"]["containers"][0]["env"]}
                    self.assertEqual(env, {"A": "true", "B": "1", "C": "0o7", "D": "~", "E": "",
                                           "F": ": x", "G": " lead"})

    def test_yaml_check_can_fail(self):
        j = os.path.join(self.tmp, "want.json")
        y = os.path.join(self.tmp, "got.yaml")
        with open(j, "w") as f:
            json.dump({"a": "true", "b": "0o7"}, f)
        for text in ("a: true\nb: '0o7'\n", "a: 'true'\nb: 0o7\n"):
            with open(y, "w") as f:
                f.write(text)
            r = self.validate("--same-yaml", j, y)
            self.assertNotEqual(r.returncode, 0, text)
        with open(y, "w") as f:
            f.write("a: 'true'\nb: \"0o7\"\n")
        self.assertEqual(self.validate("--same-yaml", j, y).returncode, 0)

    def test_job_shape(self):
        obj = load(self.dump("job-full", CASES["job-full"], "json"))
        self.assertEqual(obj["metadata"]["generateName"], "relrun-live-stream-run-")
        c = obj["spec"]["template"]["spec"]["containers"][0]
        self.assertEqual(c["args"][-2:], ["--", 'LiveStream.run("stream-42", bitrate: 4000)'])
        self.assertEqual(obj["spec"]["template"]["spec"]["restartPolicy"], "Never")
        rules = obj["spec"]["podFailurePolicy"]["rules"]
        self.assertEqual([r["action"] for r in rules], ["FailJob", "Count", "FailJob"])

    def test_broken_objects_fail_validation(self):
        good = load(self.dump("job-minimal", CASES["job-minimal"], "json"))
        r = self.validate(stdin=json.dumps(good))
        self.assertEqual(r.returncode, 0, r.stderr)

        bad = json.loads(json.dumps(good))
        bad["spec"]["template"]["spec"]["restartPolicy"] = 7
        r = self.validate(stdin=json.dumps(bad))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("restartPolicy", r.stderr)

        bad = json.loads(json.dumps(good))
        bad["spec"]["podFailurePolicy"]["rules"][0]["action"] = "Retry"
        r = self.validate(stdin=json.dumps(bad))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("action", r.stderr)

        bad = json.loads(json.dumps(good))
        bad["spec"]["backoffLimit"] = "0"
        r = self.validate(stdin=json.dumps([good, bad]))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("backoffLimit", r.stderr)

    def test_placement_fields(self):
        obj = load(self.dump("job-placement", CASES["job-placement"], "json"))
        ps = obj["spec"]["template"]["spec"]
        self.assertEqual(ps["imagePullSecrets"], [{"name": "regcred"}, {"name": "other"}])
        self.assertEqual(ps["nodeSelector"], {"pool": "encoders", "kubernetes.io/arch": "amd64"})
        self.assertEqual(ps["tolerations"], [
            {"key": "dedicated", "operator": "Equal", "value": "encoders",
             "effect": "NoSchedule"},
            {"key": "spot", "operator": "Exists", "effect": "NoExecute"}])
        self.assertEqual(ps["priorityClassName"], "batch-high")
        self.assertEqual(ps["securityContext"], {"runAsNonRoot": True, "runAsUser": 10001})
        task = ps["containers"][0]
        self.assertEqual(task["imagePullPolicy"], "IfNotPresent")
        self.assertEqual(task["resources"], {"requests": {"cpu": "500m", "memory": "256Mi"},
                                             "limits": {"cpu": "2", "memory": "1Gi"}})
        # the strategic override merged env by name into the task, kept everything else
        self.assertEqual(task["env"], [{"name": "EXTRA", "value": "1"}])
        self.assertEqual(task["args"][-1], "M.f()")
        self.assertIn("nodeAffinity", ps["affinity"])
        self.assertEqual(len(ps["containers"]), 1)
        cron = load(self.dump("cron-placement", CASES["cron-placement"], "json"))
        self.assertEqual(cron["spec"]["jobTemplate"]["spec"]["template"]["spec"], ps)
        self.assertNotIn("kind", cron["spec"]["jobTemplate"])
        obj = load(self.dump("job-override-json", CASES["job-override-json"], "json"))
        ps = obj["spec"]["template"]["spec"]
        self.assertEqual([v["name"] for v in ps["volumes"]], ["relrun", "data"])
        self.assertEqual(ps["containers"][0]["volumeMounts"][-1],
                         {"name": "data", "mountPath": "/data"})

    def test_usage_errors(self):
        r = run([DUMP] + BASE + ["--memory", "12XB", "M.f()"])
        self.assertEqual(r.returncode, 64)
        self.assertIn('--memory "12XB": not a Kubernetes quantity', r.stderr)
        r = run([DUMP] + BASE + ['M.f("x"'])
        self.assertEqual(r.returncode, 64)
        self.assertIn('expression: unclosed "(" opened at column 4', r.stderr)
        r = run([DUMP] + BASE + ["--mfa", "M.f", "--args", '{"a": 1}'])
        self.assertEqual(r.returncode, 64)
        self.assertIn("--args: want a JSON array, got an object", r.stderr)
        bad = {
            ("--toleration", "dedicated=x"): '--toleration "dedicated=x": want KEY[=VALUE]:EFFECT',
            ("--toleration", "a:Sometimes"): 'effect "Sometimes": want NoSchedule',
            ("--toleration", "a b:NoSchedule"): '"a b" is not a valid taint key',
            ("--node-selector", "pool"): '--node-selector "pool": want key=value',
            ("--node-selector", "pool=a b"): 'is not a valid label value',
            ("--image-pull-secret", "Reg_Cred"): '--image-pull-secret "Reg_Cred": not a DNS-1123',
            ("--pull-policy", "Sometimes"): '--pull-policy "Sometimes": want Always',
            ("--cpu-limit", "lots"): '--cpu-limit "lots": not a Kubernetes quantity',
            ("--priority-class", "High"): '--priority-class "High": not a DNS-1123',
            ("--overrides", "{nope"): "--overrides (merge): not JSON",
            ("--override-type", "yaml"): '--override-type "yaml": want merge, strategic or json',
            ("--overrides", '{"kind": "Pod"}'): "--overrides: the result must stay a Job (kind changed)",
            ("--overrides", '{"spec": null}'): "--overrides: the result has no spec object",
        }
        for (flag, value), msg in bad.items():
            with self.subTest(flag=flag, value=value):
                extra = [flag, value]
                if flag == "--override-type":
                    extra += ["--overrides", "{}"]
                r = run([DUMP] + BASE + extra + ["M.f()"])
                self.assertEqual(r.returncode, 64, r.stderr)
                self.assertIn(msg, r.stderr)
        r = run([DUMP] + BASE + ["--override-type", "json", "--overrides",
                                 '[{"op": "remove", "path": "/spec/nope"}]', "M.f()"])
        self.assertEqual(r.returncode, 64, r.stderr)
        self.assertIn('--overrides (json): operation 1 (remove "/spec/nope"): "nope" not found',
                      r.stderr)


HOSTILE = [
    "#{System.halt(3)}",
    "#{File.write!(\"PWNED\", \"x\")}",
    "\\#{x}",
    "\\\\#{x}",
    "back\\slash \"quoted\" 'single'",
    "line1\nline2\r\n\ttab",
    "ctrl \u0000 \u0001 \u001b[31m \u007f \u0085",
    "unicode ünïcødé 🎉 \u202e bidi \u2028",
    "brackets ( [ { << >> } ] ) ~r/x/ ?a",
    "",
    "#",
    "#{",
    "##{{}}",
]


@unittest.skipIf(shutil.which("elixir") is None, "elixir not installed")
class MfaEvaluates(unittest.TestCase):
    """The serialised calls evaluate to exactly the JSON values; no code in a
    string runs."""

    def test_hostile_strings_round_trip_in_elixir(self):
        if not os.path.exists(DUMP):
            self.skipTest(f"{DUMP} not built")
        lines = []
        for s in HOSTILE:
            r = run([DUMP, "--mfa", "M.f", "--args", json.dumps([s]), "-o", "expr"])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertNotIn("\n", r.stdout)  # one line: controls are escaped
            lines.append(r.stdout)
        r = run([DUMP, "--mfa", "M.g", "--args",
                 json.dumps([123456789012345678901234567890, -1.5e3, True, None,
                             {"k": [1, "#{1+1}"], "z": {}}]), "-o", "expr"])
        self.assertEqual(r.returncode, 0, r.stderr)
        lines.append(r.stdout)
        script = (
            "defmodule M do\n"
            "  def f(s), do: IO.puts(Base.encode16(s))\n"
            "  def g(a, b, c, d, e), do: IO.puts(inspect({a, b, c, d, e}))\n"
            "end\n" + "\n".join(lines) + "\n")
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "t.exs")
            with open(path, "w") as f:
                f.write(script)
            r = run(["elixir", path], cwd=d)
            self.assertEqual(r.returncode, 0, r.stderr + "\n" + script)
            self.assertFalse(os.path.exists(os.path.join(d, "PWNED")))
        out = r.stdout.splitlines()
        self.assertEqual(len(out), len(HOSTILE) + 1, r.stdout)
        for s, hexed in zip(HOSTILE, out):
            self.assertEqual(bytes.fromhex(hexed).decode("utf-8"), s)
        self.assertEqual(out[-1], '{123456789012345678901234567890, -1500.0, true, nil, '
                                  '%{"k" => [1, "\\#{1+1}"], "z" => %{}}}')


if __name__ == "__main__":
    unittest.main()
