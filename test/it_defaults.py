"""The defaults file: relrun.yaml found from the current directory upward (as git finds
.git), then $XDG_CONFIG_HOME/relrun/config.yaml; keys are the long flag names; contexts.NAME
sections apply with that kubeconfig context; precedence flag > environment (RELRUN_*) >
project file > user file; `relrun config view` says where each setting came from; errors
name the file and the line (exit 78). And a real run that takes --image, --release,
--pod-image and --app-format from relrun.yaml alone.
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("RELRUN_BUILD_DIR", os.path.join(HERE, "..", "build"))
RELRUN = os.environ.get("RELRUN_BIN", os.path.join(BUILD, "cmd", "relrun", "relrun"))
POD_BIN = os.environ.get("RELRUN_POD_BIN", "")
REL = os.environ.get("RELRUN_FIXTURE_REL", "")


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


@unittest.skipUnless(os.path.exists(RELRUN), "relrun not built")
class Defaults(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="relrun-defaults-")
        self.home = os.path.join(self.tmp, "home")
        self.xdg = os.path.join(self.tmp, "xdg")
        self.proj = os.path.join(self.tmp, "proj")
        self.sub = os.path.join(self.proj, "apps", "encoder")
        os.makedirs(self.home)
        os.makedirs(self.sub)
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("RELRUN_") and k not in ("KUBECONFIG",
                                                                  "XDG_CONFIG_HOME")}
        self.env.update(HOME=self.home, XDG_CONFIG_HOME=self.xdg)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def relrun(self, *args, cwd=None, env=None):
        return subprocess.run([RELRUN, *args], capture_output=True, text=True, timeout=60,
                              cwd=cwd or self.sub, env=dict(self.env, **(env or {})))

    def user(self, text):
        write(os.path.join(self.xdg, "relrun", "config.yaml"), text)

    def project(self, text, where=None):
        write(os.path.join(where or self.proj, "relrun.yaml"), text)

    def render(self, *args, **kw):
        r = self.relrun("render", *args, "M.f()", "-o", "json", **kw)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def view(self, *args, **kw):
        r = self.relrun("config", "view", "-o", "json", *args, **kw)
        self.assertEqual(r.returncode, 0, r.stderr)
        v = json.loads(r.stdout)
        v["by_name"] = {s["name"]: s for s in v["settings"]}
        return v

    @staticmethod
    def task(job):
        return job["spec"]["template"]["spec"]["containers"][0]

    # ---------------------------------------------------------------- lookup
    def test_project_file_found_from_a_subdirectory(self):
        self.project("image: proj/app:1\nrelease: /app/bin/app\n")
        job = self.render()
        self.assertEqual(self.task(job)["image"], "proj/app:1")
        self.assertEqual(self.task(job)["args"][:2], ["--release", "/app/bin/app"])
        # the nearest relrun.yaml wins, as the nearest .git does
        self.project("image: apps/app:2\nrelease: /app/bin/app\n",
                     where=os.path.join(self.proj, "apps"))
        self.assertEqual(self.task(self.render())["image"], "apps/app:2")
        # and outside the project there is none
        r = self.relrun("render", "M.f()", cwd=self.home)
        self.assertEqual(r.returncode, 64)
        self.assertIn("--image is required", r.stderr)

    def test_log_format_profile_from_the_project_file(self):
        # a team on Cloud Logging sets the collector profile once for every task
        self.project("image: proj/app:1\nrelease: /app/bin/app\nlog-format: gcp\n")
        args = self.task(self.render())["args"]
        self.assertEqual(args[args.index("--log-format") + 1], "gcp")
        # a flag still wins
        args = self.task(self.render("--log-format", "ecs"))["args"]
        self.assertEqual(args[args.index("--log-format") + 1], "ecs")
        # a word relrun-pod does not know is refused where it is written
        self.project("image: proj/app:1\nrelease: /app/bin/app\nlog-format: splunk\n")
        r = self.relrun("render", "M.f()")
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn('relrun.yaml:3: --log-format "splunk": expected json, logfmt, text, gcp, '
                      'ecs or datadog', r.stderr)

    def test_user_file_under_xdg_then_home(self):
        self.user("image: user/app:1\nrelease: /app/bin/app\n")
        self.assertEqual(self.task(self.render())["image"], "user/app:1")
        v = self.view()
        self.assertEqual(v["files"]["user"], os.path.join(self.xdg, "relrun", "config.yaml"))
        self.assertTrue(v["files"]["user_exists"])
        self.assertIsNone(v["files"]["project"])
        # without XDG_CONFIG_HOME: ~/.config/relrun/config.yaml
        write(os.path.join(self.home, ".config", "relrun", "config.yaml"),
              "image: home/app:1\nrelease: /app/bin/app\n")
        env = dict(self.env)
        del env["XDG_CONFIG_HOME"]
        r = subprocess.run([RELRUN, "render", "M.f()", "-o", "json"], capture_output=True,
                           text=True, cwd=self.sub, env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.task(json.loads(r.stdout))["image"], "home/app:1")

    # ---------------------------------------------------------------- precedence
    def test_flag_over_env_over_project_over_user(self):
        self.user("image: user/app:1\nrelease: /user/bin/app\npod-image: user/pod:1\n"
                  "backoff-limit: 4\n")
        self.project("image: proj/app:1\nrelease: /proj/bin/app\n")
        job = self.render()
        self.assertEqual(self.task(job)["image"], "proj/app:1")  # project over user
        self.assertEqual(self.task(job)["args"][1], "/proj/bin/app")
        self.assertEqual(job["spec"]["template"]["spec"]["initContainers"][0]["image"],
                         "user/pod:1")  # only the user file sets it
        self.assertEqual(job["spec"]["backoffLimit"], 4)
        env = {"RELRUN_IMAGE": "env/app:1"}
        self.assertEqual(self.task(self.render(env=env))["image"], "env/app:1")
        job = self.render("--image", "flag/app:1", env=env)
        self.assertEqual(self.task(job)["image"], "flag/app:1")
        self.assertEqual(job["spec"]["backoffLimit"], 4)
        v = self.view(env=env)["by_name"]
        self.assertEqual((v["image"]["source"], v["image"]["origin"], v["image"]["values"]),
                         ("environment", "$RELRUN_IMAGE", ["env/app:1"]))
        proj = os.path.join(self.proj, "relrun.yaml")
        self.assertEqual((v["release"]["source"], v["release"]["file"], v["release"]["line"]),
                         ("project file", proj, 2))
        self.assertEqual(v["release"]["origin"], f"{proj}:2")
        self.assertEqual((v["backoff-limit"]["source"], v["backoff-limit"]["line"]),
                         ("user file", 4))
        # nothing overrides the built-in default here, and view says so
        del self.env["XDG_CONFIG_HOME"]
        v = self.view()["by_name"]
        self.assertEqual((v["pod-image"]["source"], v["pod-image"]["values"]),
                         ("default", ["ghcr.io/relrun/relrun-pod:0.1.0"]))

    def test_a_list_comes_whole_from_the_highest_source(self):
        self.user("image: a:1\nrelease: /app/bin/a\nlabel: [owner=me]\nenv: {A: '1'}\n")
        self.project("label:\n  - team=video\n  - tier=batch\n")
        job = self.render()
        labels = job["metadata"]["labels"]
        self.assertEqual((labels.get("team"), labels.get("tier"), labels.get("owner")),
                         ("video", "batch", None))
        self.assertEqual(self.task(job)["env"], [{"name": "A", "value": "1"}])
        # an empty list in the project file drops the user's list
        self.project("label: []\nenv: {}\n")
        job = self.render()
        self.assertNotIn("owner", job["metadata"]["labels"])
        self.assertNotIn("env", self.task(job))
        self.assertEqual(self.view()["by_name"]["label"]["values"], [])
        self.project("label:\n  - team=video\n  - tier=batch\n")
        job = self.render("--label", "team=audio", "--env", "B=2")
        labels = job["metadata"]["labels"]
        self.assertEqual((labels.get("team"), labels.get("tier")), ("audio", None))
        self.assertEqual(self.task(job)["env"], [{"name": "B", "value": "2"}])

    def test_context_sections(self):
        self.project("image: a:1\nrelease: /app/bin/a\n"
                     "contexts:\n"
                     "  prod:\n"
                     "    namespace: streams\n"
                     "    node-selector: {pool: encoders}\n"
                     "    image: a:1-prod\n"
                     "  dev: {namespace: dev}\n")
        job = self.render()  # no context chosen: the top level alone
        self.assertEqual(self.task(job)["image"], "a:1")
        self.assertNotIn("nodeSelector", job["spec"]["template"]["spec"])
        job = self.render("--context", "prod")
        self.assertEqual(self.task(job)["image"], "a:1-prod")
        self.assertEqual(job["metadata"]["namespace"], "streams")
        self.assertEqual(job["spec"]["template"]["spec"]["nodeSelector"], {"pool": "encoders"})
        self.assertEqual(self.render(env={"RELRUN_CONTEXT": "dev"})["metadata"]["namespace"],
                         "dev")
        # the kubeconfig's current-context chooses when nothing else does; its
        # credentials are not touched (the exec plugin would fail)
        kc = os.path.join(self.tmp, "kubeconfig")
        write(kc, "apiVersion: v1\nkind: Config\ncurrent-context: prod\n"
                  "contexts:\n- name: prod\n  context: {cluster: c, user: u}\n"
                  "clusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}\n"
                  "users:\n- name: u\n  user:\n    exec: {apiVersion: "
                  "client.authentication.k8s.io/v1, command: /bin/false}\n")
        job = self.render(env={"KUBECONFIG": kc})
        self.assertEqual(job["metadata"]["namespace"], "streams")
        v = self.view(env={"KUBECONFIG": kc})
        self.assertEqual((v["context"], v["context_from"]),
                         ("prod", "kubeconfig current-context"))
        self.assertEqual(v["by_name"]["namespace"]["context"], "prod")
        self.assertEqual(v["by_name"]["namespace"]["line"], 5)
        # a flag still wins over the context's section
        job = self.render("-n", "other", "--context", "prod")
        self.assertEqual(job["metadata"]["namespace"], "other")

    def test_another_commands_settings_are_ignored(self):
        # cron flags in the file do not break run/render, and apply to cron
        self.project("image: a:1\nrelease: /app/bin/a\nschedule: '30 3 * * *'\n"
                     "time-zone: Europe/Berlin\ndetach: true\n")
        self.render()
        r = self.relrun("cron", "render", "nightly", "M.f()", "-o", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        spec = json.loads(r.stdout)["spec"]
        self.assertEqual((spec["schedule"], spec["timeZone"]), ("30 3 * * *", "Europe/Berlin"))

    def test_text_view_names_files_and_origins(self):
        self.project("image: a:1\nrelease: /app/bin/a\napp-format: \"$time $message\\n\"\n")
        r = self.relrun("config", "view")
        self.assertEqual(r.returncode, 0, r.stderr)
        proj = os.path.join(self.proj, "relrun.yaml")
        self.assertIn(f"project file  {proj}\n", r.stdout)
        self.assertIn("(not there)", r.stdout)
        lines = {ln.split()[0]: ln for ln in r.stdout.splitlines()[4:] if ln.strip()}
        self.assertTrue(lines["image"].endswith(f"{proj}:1"), lines["image"])
        self.assertIn("$time $message\\n", lines["app-format"])  # one line, escaped
        self.assertTrue(lines["pod-image"].endswith("default"))

    def test_config_usage(self):
        for args in (["config"], ["config", "view", "more"]):
            with self.subTest(args):
                r = self.relrun(*args)
                self.assertEqual(r.returncode, 64)
                self.assertIn("config: expected one action, view", r.stderr)
        r = self.relrun("config", "show")
        self.assertEqual(r.returncode, 64)
        self.assertIn('config: unknown action "show" (want view)', r.stderr)
        r = self.relrun("help", "config")
        self.assertEqual(r.returncode, 0)
        self.assertIn("usage: relrun config view", r.stdout)
        for var in ("RELRUN_IMAGE", "RELRUN_RELEASE", "RELRUN_POD_IMAGE", "RELRUN_APP_FORMAT",
                    "RELRUN_NAMESPACE", "RELRUN_CONTEXT", "relrun.yaml",
                    "$XDG_CONFIG_HOME/relrun/config.yaml"):
            self.assertIn(var, r.stdout)

    # ---------------------------------------------------------------- errors
    def test_errors_name_the_file_and_line(self):
        proj = os.path.join(self.proj, "relrun.yaml")
        cases = {
            "image: a\nimgae: b\n": f'{proj}:2: unknown setting "imgae"',
            "image: a\nbackoff-limit: lots\n": f'{proj}:2: --backoff-limit "lots"',
            "image: a\nimage: b\n": f'{proj}:2: "image" is given twice (first on line 1)',
            "image: [a, b]\n": f'{proj}:1: "image" takes one value, not a list',
            "detach: sometimes\n": f'{proj}:1: "detach": want true or false',
            "mfa: M.f\n": f'{proj}:1: "mfa" cannot have a default',
            "image: a\nrelease: [/x\n": f"{proj}:",
            "pull-policy: always\n": f'{proj}:1: --pull-policy "always"',
            "contexts:\n  prod:\n    namespace: [a, b]\n":
                f'{proj}:3: "namespace" takes one value, not a list',
        }
        for text, msg in cases.items():
            with self.subTest(text):
                self.project(text)
                for args in (["render", "M.f()"], ["config", "view"], ["list"]):
                    r = self.relrun(*args, "--context", "prod")
                    self.assertEqual(r.returncode, 78, f"{args}: {r.stderr}")
                    self.assertIn(msg, r.stderr)
        # the user's file is named the same way
        os.remove(proj)
        self.user("image: a\n\nnamespace: Bad_NS\nnope: 1\n")
        r = self.relrun("render", "M.f()")
        self.assertEqual(r.returncode, 78)
        self.assertIn(os.path.join(self.xdg, "relrun", "config.yaml") + ':4: unknown setting "nope"',
                      r.stderr)
        # help still works with a broken file
        r = self.relrun("render", "--help")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_environment_variables(self):
        self.project("image: a:1\nrelease: /app/bin/a\n")
        env = {"RELRUN_NAMESPACE": "from-env", "RELRUN_APP_FORMAT": "$time $message",
               "RELRUN_POD_IMAGE": "env/pod:2", "RELRUN_RELEASE": "/env/bin/a"}
        job = self.render(env=env)
        self.assertEqual(job["metadata"]["namespace"], "from-env")
        args = self.task(job)["args"]
        self.assertEqual(args[:2], ["--release", "/env/bin/a"])
        self.assertEqual(args[args.index("--app-format") + 1], "$time $message")
        self.assertEqual(job["spec"]["template"]["spec"]["initContainers"][0]["image"],
                         "env/pod:2")
        v = self.view(env=env)["by_name"]
        self.assertEqual(v["namespace"]["origin"], "$RELRUN_NAMESPACE")


def have_fixture():
    return all(os.path.exists(p) for p in (RELRUN, POD_BIN, os.path.join(REL, "bin",
                                                                          "live_stream")))


@unittest.skipUnless(have_fixture(), "relrun, relrun-pod or the fixture release not built")
class RunFromTheFile(unittest.TestCase):
    """`relrun run EXPR` with nothing but the expression on the command line."""

    def test_run_takes_image_release_and_format_from_relrun_yaml(self):
        from simlib import Sim
        with tempfile.TemporaryDirectory(prefix="relrun-defaults-run-") as d:
            app = os.path.join(d, "app-image")
            os.makedirs(app)
            os.symlink(os.path.abspath(REL), os.path.join(app, "app"))
            pod = os.path.join(d, "pod-image")
            os.makedirs(pod)
            shutil.copy(POD_BIN, os.path.join(pod, "relrun-pod"))
            with Sim(tls=True, images={"live-stream:test": app, "relrun-pod:test": pod}) as sim:
                proj = os.path.join(d, "proj")
                write(os.path.join(proj, "relrun.yaml"),
                      f"kubeconfig: {sim.kubeconfig}\n"
                      "image: live-stream:test\n"
                      "release: /app/bin/live_stream\n"
                      "pod-image: relrun-pod:test\n"
                      "app-format: \"$date $time [$level] $metadata| $message\"\n"
                      "label: [team=video]\n")
                env = {k: v for k, v in os.environ.items()
                       if not k.startswith("RELRUN_") and k != "KUBECONFIG"}
                env.update(HOME=d, XDG_CONFIG_HOME=os.path.join(d, "xdg"))
                r = subprocess.run([RELRUN, "run", "-o", "json",
                                    'LiveStream.run("stream-7", bitrate: 3000)'],
                                   capture_output=True, text=True, timeout=120, cwd=proj, env=env)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                events = [json.loads(ln) for ln in r.stdout.splitlines() if ln.startswith("{")]
                msgs = [e.get("msg") for e in events if e.get("src") == "app"]
                self.assertIn("encode start stream-7 bitrate=3000", msgs)
                # the app's own format was parsed: levels came from the lines
                self.assertTrue(any(e.get("level") == "warning" for e in events
                                    if e.get("src") == "app"), r.stdout)
                summary = events[-1]
                self.assertEqual((summary.get("relrun"), summary.get("exit_code")),
                                 ("summary", 0))
                code, _, job = sim.get(f"/apis/batch/v1/namespaces/default/jobs/{summary['job']}")
                self.assertEqual(code, 200)
                self.assertEqual(job["metadata"]["labels"]["team"], "video")
                # --overrides reaches the real pod: a strategic merge adds an env var
                # to the task container, and the task sees it
                override = {"spec": {"template": {"spec": {"containers": [
                    {"name": "task", "env": [{"name": "EXTRA", "value": "from-override"}]}]}}}}
                r = subprocess.run([RELRUN, "run", "-o", "json", "--override-type", "strategic",
                                    "--overrides", json.dumps(override),
                                    'IO.puts("extra=" <> System.get_env("EXTRA", "none"))'],
                                   capture_output=True, text=True, timeout=120, cwd=proj, env=env)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertIn("extra=from-override", r.stdout)


if __name__ == "__main__":
    unittest.main()
