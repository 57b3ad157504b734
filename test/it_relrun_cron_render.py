"""relrun cron end to end, and what relrun render prints checked by kubectl, the kubectl
plugin lookup, the install and every --help."""
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

from relrunlib import RELRUN, TASK_FLAGS, Base, needs_kubectl, BUILD


class Cron(Base):
    def test_create_list_trigger_delete(self):
        r = self.relrun("cron", "create", "nightly-encode", "--schedule", "0 3 * * *",
                        *TASK_FLAGS, 'LiveStream.exit_with(6)')
        self.assertEqual(r.code, 0, r)
        self.assertIn("cronjob.batch/nightly-encode created", r.stdout)
        again = self.relrun("cron", "create", "nightly-encode", "--schedule", "0 3 * * *",
                            *TASK_FLAGS, 'LiveStream.exit_with(6)')
        self.assertEqual(again.code, 73, again)  # its own code, not usage (64)
        self.assertIn("already exists", again.stderr)
        ls = self.relrun("cron", "list")
        self.assertEqual(ls.code, 0, ls)
        self.assertRegex(ls.stdout, r"(?m)^nightly-encode +0 3 \* \* \* +False +<none> +"
                                    r"LiveStream\.exit_with\(6\)$")
        # trigger runs one now and follows it like run: logs, then the task's code
        t = self.relrun("cron", "trigger", "nightly-encode", "-o", "json")
        self.assertEqual(t.code, 6, t)
        self.assertIn("exit", [e.get("event") for e in t.events()])
        self.assertRegex(t.stderr, r"job/nightly-encode-manual-\w+ pod/")
        job = [j for j in self.jobs() if j["metadata"]["name"].startswith("nightly-encode-manual-")]
        self.assertEqual(len(job), 1)
        self.assertEqual(job[0]["metadata"]["ownerReferences"][0]["kind"], "CronJob")
        for action, want in (("suspend", True), ("resume", False)):
            r = self.relrun("cron", action, "nightly-encode")
            self.assertEqual(r.code, 0, r)
            _, _, cj = self.sim.get("/apis/batch/v1/namespaces/default/cronjobs/nightly-encode")
            self.assertEqual(cj["spec"]["suspend"], want)
        d = self.relrun("cron", "delete", "nightly-encode")
        self.assertEqual(d.code, 0, d)
        code, _, _ = self.sim.get("/apis/batch/v1/namespaces/default/cronjobs/nightly-encode")
        self.assertEqual(code, 404)

    @needs_kubectl
    def test_render_is_accepted_by_kubectl(self):
        r = self.relrun("cron", "render", "hourly-report", "--schedule", "@hourly",
                        "--time-zone", "Europe/Berlin", *TASK_FLAGS, 'LiveStream.run("h")',
                        kubeconfig=False)
        self.assertEqual(r.code, 0, r)
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(r.stdout)
        self.addCleanup(os.unlink, f.name)
        k = self.sim.kubectl("create", "-f", f.name)
        self.assertEqual(k.returncode, 0, k.stderr)
        self.assertIn("cronjob.batch/hourly-report created", k.stdout)

    def test_usage(self):
        for args in (["cron"], ["cron", "frob"], ["cron", "create", "x"],
                     ["cron", "create", "x", "A.b()"]):
            r = self.relrun(*args, *TASK_FLAGS[:0])
            self.assertEqual(r.code, 64, (args, r))


class RenderAndKubectl(Base):
    @needs_kubectl
    def test_render_yaml_accepted_by_kubectl(self):
        r = self.relrun("render", *TASK_FLAGS, "--cookie-secret", "app-cookie",
                        "--env-from-secret", "app-env", "--env", "MODE=batch",
                        'LiveStream.run("k1")', "-o", "yaml", kubeconfig=False)
        self.assertEqual(r.code, 0, r)
        self.assertIn("app-cookie", r.stdout)  # a reference to the secret, no value
        self.assertIn("secretKeyRef", r.stdout)
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(r.stdout)
        try:
            k = self.sim.kubectl("create", "-f", f.name)
        finally:
            os.unlink(f.name)
        self.assertEqual(k.returncode, 0, k.stderr)
        self.assertRegex(k.stdout, r"job.batch/relrun-live-stream-run-\w+ created")

    def test_render_json(self):
        r = self.relrun("render", *TASK_FLAGS, "--timeout", "90s", 'LiveStream.run("k2")',
                        "-o", "json", kubeconfig=False)
        self.assertEqual(r.code, 0, r)
        job = json.loads(r.stdout)
        self.assertEqual(job["kind"], "Job")
        self.assertEqual(job["spec"]["activeDeadlineSeconds"], 90)

    def test_default_ttl(self):
        # finished Jobs do not pile up: a day unless --ttl says otherwise
        def ttl(*flags):
            r = self.relrun("render", *TASK_FLAGS, *flags, "X.y()", "-o", "json",
                            kubeconfig=False)
            self.assertEqual(r.code, 0, r)
            return json.loads(r.stdout)["spec"].get("ttlSecondsAfterFinished")
        self.assertEqual(ttl(), 86400)
        self.assertEqual(ttl("--ttl", "1h"), 3600)
        self.assertEqual(ttl("--ttl", "0"), 0)
        self.assertIsNone(ttl("--ttl", "none"))
        # a CronJob's Jobs keep to its history limits, no ttl unless asked
        r = self.relrun("cron", "render", "n", "--schedule", "0 3 * * *", *TASK_FLAGS, "X.y()",
                        "-o", "json", kubeconfig=False)
        self.assertEqual(r.code, 0, r)
        self.assertNotIn("ttlSecondsAfterFinished",
                         json.loads(r.stdout)["spec"]["jobTemplate"]["spec"])

    def test_rpc_values(self):
        # auto is relrun-pod's default; relrun accepts it like the other two
        for rpc in ("auto", "dist", "script"):
            r = self.relrun("render", *TASK_FLAGS, "--rpc", rpc, "X.y()", "-o", "json",
                            kubeconfig=False)
            self.assertEqual(r.code, 0, r)
            args = json.loads(r.stdout)["spec"]["template"]["spec"]["containers"][0]["args"]
            self.assertIn("--rpc", args)
            self.assertEqual(args[args.index("--rpc") + 1], rpc)
        bad = self.relrun("render", *TASK_FLAGS, "--rpc", "ssh", "X.y()", kubeconfig=False)
        self.assertEqual(bad.code, 64, bad)
        self.assertIn('--rpc "ssh": expected auto, dist or script', bad.stderr)
        # the help states the one default
        h = self.relrun("run", "--help", kubeconfig=False)
        self.assertIn("--rpc auto|dist|script", h.stdout)
        self.assertIn("(default auto", h.stdout)

    @needs_kubectl
    def test_kubectl_plugin(self):
        path = os.path.join(BUILD, "cmd", "relrun")
        env = dict(os.environ, PATH=path + os.pathsep + os.environ["PATH"])
        k = subprocess.run(["kubectl", "relrun", "version"], capture_output=True, text=True,
                           env=env, timeout=60)
        self.assertEqual(k.returncode, 0, k.stderr)
        self.assertRegex(k.stdout, r"^relrun \d+\.\d+\.\d+")
        # its help and errors name the command as the user typed it
        h = subprocess.run(["kubectl", "relrun", "--help"], capture_output=True, text=True,
                           env=env, timeout=60)
        self.assertIn("usage: kubectl relrun COMMAND", h.stdout)
        self.assertNotIn("usage: relrun", h.stdout)
        h = subprocess.run(["kubectl", "relrun", "wait", "--help"], capture_output=True,
                           text=True, env=env, timeout=60)
        self.assertIn("usage: kubectl relrun wait JOB", h.stdout)
        u = subprocess.run(["kubectl", "relrun", "frob"], capture_output=True, text=True,
                           env=env, timeout=60)
        self.assertEqual(u.returncode, 64, u.stderr)
        self.assertIn("(see kubectl relrun help)", u.stderr)
        k = subprocess.run(["kubectl", "relrun", "--kubeconfig", self.sim.kubeconfig, "run",
                            *TASK_FLAGS, "LiveStream.exit_with(7)"], capture_output=True,
                           text=True, env=env, timeout=120)
        self.outputs += [k.stdout, k.stderr]
        self.assertEqual(k.returncode, 7, k.stdout + k.stderr)

    def test_install_creates_kubectl_plugin(self):
        prefix = tempfile.mkdtemp(prefix="relrun-install-")
        self.addCleanup(shutil.rmtree, prefix, True)
        # only relrun's own install rules (cmd/relrun's cmake_install.cmake)
        p = subprocess.run(["cmake", "--install", os.path.join(BUILD, "cmd", "relrun"),
                            "--prefix", prefix], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        plugin = os.path.join(prefix, "bin", "kubectl-relrun")
        self.assertTrue(os.path.islink(plugin) or os.path.isfile(plugin))
        v = subprocess.run([plugin, "version"], capture_output=True, text=True)
        self.assertEqual(v.returncode, 0, v.stderr)
        self.assertTrue(v.stdout.startswith("relrun "))
        # kubectl's plugin completion, the shells' completion files and the man page
        self.assertTrue(os.path.exists(os.path.join(prefix, "bin", "kubectl_complete-relrun")))
        share = os.path.join(prefix, "share")
        with open(os.path.join(share, "bash-completion", "completions", "relrun")) as f:
            self.assertIn("complete -F _relrun relrun kubectl-relrun", f.read())
        with open(os.path.join(share, "zsh", "site-functions", "_relrun")) as f:
            self.assertTrue(f.read().startswith("#compdef relrun"))
        with open(os.path.join(share, "fish", "vendor_completions.d", "relrun.fish")) as f:
            self.assertIn("complete -c relrun", f.read())
        man = os.path.join(share, "man", "man1", "relrun.1")
        with open(man) as f:
            page = f.read()
        self.assertTrue(page.startswith(".TH RELRUN 1"), page[:80])
        # the man page is the help text: every command's usage is in it
        for c in ("run", "render", "logs", "wait", "list", "cancel", "cron", "completion"):
            self.assertIn("usage: relrun " + c, page)
        if shutil.which("man"):
            m = subprocess.run(["man", "-l", man], capture_output=True, text=True,
                               env=dict(os.environ, MANPAGER="cat", MANWIDTH="80"))
            self.assertEqual(m.returncode, 0, m.stderr)
            self.assertIn("--wait-timeout", m.stdout)

    def test_help_covers_every_flag(self):
        r = self.relrun("run", "--help", kubeconfig=False)
        self.assertEqual(r.code, 0, r)
        for flag in ("--image", "--release", "--env", "--env-from-secret", "--cookie-secret",
                     "--cpu", "--memory", "--service-account", "--timeout", "--backoff-limit",
                     "--boot-retries", "--ttl", "--detach", "--inject", "--pod-image",
                     "--error-exit", "--ready-timeout", "--grace", "--rpc", "--namespace",
                     "--context", "--kubeconfig", "--output", "--request-timeout", "--mfa",
                     "--args"):
            self.assertIn(flag, r.stdout)
        for sub in ("render", "logs", "wait", "list", "cancel", "version"):
            r = self.relrun(sub, "--help", kubeconfig=False)
            self.assertEqual(r.code, 0, r)
            self.assertIn("usage: relrun " + sub, r.stdout)


class Completion(Base):
    """Completion that knows the cluster and the kubeconfig: relrun __complete, which
    the bash/zsh scripts call for names, fish for everything, kubectl through
    kubectl_complete-relrun."""

    def complete(self, *words, prog=None):
        argv = [prog] if prog else [RELRUN, "__complete"]
        p = subprocess.run(argv + ["--kubeconfig", self.sim.kubeconfig, *words],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout.splitlines()

    def test_job_cron_and_context_names(self):
        r = self.run_task("LiveStream.exit_with(0)", "--detach")
        self.assertEqual(r.code, 0, r)
        job = r.stdout.strip()
        c = self.relrun("cron", "create", "nightly-x", "--schedule", "0 3 * * *", *TASK_FLAGS,
                        "LiveStream.exit_with(0)")
        self.assertEqual(c.code, 0, c)
        self.assertIn(job, self.complete("logs", ""))
        self.assertEqual(self.complete("wait", job[:-2]), [job])
        self.assertIn(job, self.complete("cancel", "other", ""))
        self.assertEqual(self.complete("cron", "trigger", "night"), ["nightly-x"])
        self.assertEqual(self.complete("cron", "tr"), ["trigger"])
        self.assertIn("default", self.complete("-n", ""))
        contexts = self.complete("--context", "")
        self.assertTrue(contexts, "no contexts from the simulator's kubeconfig")
        self.assertIn("sim-cert", contexts)
        self.assertEqual(self.complete("--context", "sim-c"), ["sim-cert"])
        self.assertEqual(self.complete("run", "--rpc", ""), ["auto", "dist", "script"])
        self.assertIn("--wait-timeout", self.complete("wait", "--w"))
        self.assertEqual(self.complete("comp"), ["completion"])
        # kubectl's plugin completion protocol: candidates, then the directive
        kc = os.path.join(os.path.dirname(RELRUN), "kubectl_complete-relrun")
        out = self.complete("logs", "", prog=kc)
        self.assertEqual(out[-1], ":4")
        self.assertIn(job, out)
        # through kubectl itself: `kubectl relrun logs <TAB>` runs kubectl_complete-relrun
        if shutil.which("kubectl"):
            env = dict(os.environ, KUBECONFIG=self.sim.kubeconfig,
                       PATH=os.path.dirname(RELRUN) + os.pathsep + os.environ["PATH"])
            k = subprocess.run(["kubectl", "__complete", "relrun", "logs", ""],
                               capture_output=True, text=True, env=env, timeout=60)
            self.assertIn(job, k.stdout.splitlines(), k.stderr)
        # the bash script asks relrun for Job names
        script = tempfile.NamedTemporaryFile("w", suffix=".bash", delete=False)
        self.addCleanup(os.unlink, script.name)
        script.write(self.relrun("completion", "bash", kubeconfig=False).stdout)
        script.close()
        cmd = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _relrun; '
               'printf "%s\\n" "${COMPREPLY[@]}"')
        b = subprocess.run(["bash", "-c", cmd, "bash", script.name, RELRUN, "--kubeconfig",
                            self.sim.kubeconfig, "wait", job[:-1]],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(b.stdout.split(), [job], b.stderr)
        self.relrun("cron", "delete", "nightly-x")

    @unittest.skipUnless(shutil.which("fish"), "fish not installed: fish script not run")
    def test_fish(self):
        d = tempfile.mkdtemp(prefix="relrun-fish-")
        self.addCleanup(shutil.rmtree, d, True)
        script = os.path.join(d, "relrun.fish")
        with open(script, "w") as f:
            f.write(self.relrun("completion", "fish", kubeconfig=False).stdout)
        env = dict(os.environ, PATH=os.path.dirname(RELRUN) + os.pathsep + os.environ["PATH"],
                   XDG_CONFIG_HOME=d, XDG_DATA_HOME=d)
        p = subprocess.run(["fish", "--no-config", "-c",
                            'source $argv[1]; complete -C "relrun comp"; '
                            'complete -C "relrun run --rpc "; complete -C "kubectl-relrun ver"',
                            script], capture_output=True, text=True, env=env, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.split(), ["completion", "auto", "dist", "script", "version"])


class Demo(unittest.TestCase):
    def test_demo_prints_the_command_it_runs(self):
        if not BUILD or not os.path.exists(os.path.join(BUILD, "fixture", "rel")):
            self.skipTest("no build with the fixture release")
        demo = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo.py")
        p = subprocess.run([sys.executable, demo, BUILD, "LiveStream.exit_with(3)"],
                           capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, NO_COLOR="1"))
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        first = p.stdout.splitlines()[0]
        self.assertTrue(first.startswith("$ "), first)
        argv = shlex.split(first[2:])
        self.assertTrue(argv[0].endswith("cmd/relrun/relrun"), argv)
        # every flag it passes is shown, those the simulator needs too
        for flag in ("--kubeconfig", "--image", "--pod-image", "--release", "--app-format"):
            self.assertIn(flag, argv)
        self.assertEqual(argv[-1], "LiveStream.exit_with(3)")
        self.assertIn("relrun exited with 3", p.stdout)


if __name__ == "__main__":
    unittest.main()
