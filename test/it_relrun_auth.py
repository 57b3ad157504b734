"""relrun end to end against authentication and configuration: refused and expired
credentials, client certificates, contexts, bad kubeconfigs, TLS server names, an API
that goes away, and no token over plain http."""
import os
import shutil
import subprocess
import tempfile
import unittest

from simlib import Sim
from relrunlib import RELRUN, TASK_FLAGS, Base, have_all, images


class AuthAndConfig(Base):
    def test_forbidden_create(self):
        self.sim.fault(kind="forbid", verb="create", resource="jobs")
        r = self.run_task('LiveStream.run("x")')
        self.assertEqual(r.code, 77, r)
        self.assertRegex(r.stderr, r"relrun: create jobs: .*forbidden.*cannot create")

    def test_bad_token_401(self):
        r = self.run_task('LiveStream.run("x")', context="sim-badtoken")
        self.assertEqual(r.code, 77, r)
        self.assertIn("Unauthorized", r.stderr)

    def test_client_certificate(self):
        r = self.run_task('LiveStream.exit_with(4)', context="sim-cert")
        self.assertEqual(r.code, 4, r)

    def test_unknown_context(self):
        r = self.run_task('LiveStream.run("x")', context="nope")
        self.assertEqual(r.code, 78, r)
        self.assertIn("nope", r.stderr)

    def test_bad_kubeconfig(self):
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write("apiVersion: v1\nclusters: [\n")
        try:
            r = self.relrun("--kubeconfig", f.name, "run", *TASK_FLAGS, 'LiveStream.run("x")',
                            kubeconfig=False)
        finally:
            os.unlink(f.name)
        self.assertEqual(r.code, 78, r)
        self.assertIn(f.name, r.stderr)

    def kubeconfig_with(self, extra_cluster_line, server=None):
        with open(self.sim.kubeconfig) as f:
            text = f.read()
        out = []
        for line in text.splitlines():
            if server and line.strip().startswith("server:"):
                line = "    server: " + server
            out.append(line)
            if line.strip().startswith("server:"):
                out.append("    " + extra_cluster_line)
        f = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
        f.write("\n".join(out) + "\n")
        f.close()
        self.addCleanup(os.unlink, f.name)
        return f.name

    def test_tls_server_name(self):
        # Connect to 127.0.0.1 but verify the certificate as "localhost".
        kc = self.kubeconfig_with("tls-server-name: localhost")
        r = self.relrun("--kubeconfig", kc, "list", kubeconfig=False)
        self.assertEqual(r.code, 0, r)
        # A name the certificate does not carry fails verification: a config error.
        kc = self.kubeconfig_with("tls-server-name: wrong.example")
        r = self.relrun("--kubeconfig", kc, "list", kubeconfig=False)
        self.assertEqual(r.code, 78, r)

    def test_unreachable_server_gives_69(self):
        kc = self.kubeconfig_with("tls-server-name: localhost", server="https://127.0.0.1:1")
        r = self.relrun("--kubeconfig", kc, "list", kubeconfig=False, timeout=120)
        self.assertEqual(r.code, 69, r)
        self.assertIn("list jobs", r.stderr)

    def test_expired_exec_token_is_refreshed(self):
        # An exec plugin whose first token is already refused (expired): relrun asks it
        # again after the 401 and goes on.
        d = tempfile.mkdtemp(prefix="relrun-exec-")
        self.addCleanup(shutil.rmtree, d, True)
        plugin = os.path.join(d, "plugin")
        with open(plugin, "w") as f:
            f.write("#!/bin/sh\n"
                    "n=$(cat %s/count 2>/dev/null || echo 0); echo $((n+1)) > %s/count\n"
                    "if [ \"$n\" = 0 ]; then t=expired-token; else t=%s; fi\n"
                    "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\","
                    "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"%%s\"}}' $t\n"
                    % (d, d, self.sim.token))
        os.chmod(plugin, 0o755)
        with open(self.sim.kubeconfig) as f:
            ca = next(l for l in f.read().splitlines() if "certificate-authority-data" in l)
        kc = os.path.join(d, "kubeconfig")
        with open(kc, "w") as f:
            f.write("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
                    "    server: %s\n%s\nusers:\n- name: u\n  user:\n    exec:\n"
                    "      apiVersion: client.authentication.k8s.io/v1beta1\n"
                    "      command: %s\n      interactiveMode: Never\n"
                    "contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n"
                    "current-context: x\n" % (self.sim.url, ca, plugin))
        r = self.relrun("--kubeconfig", kc, "list", kubeconfig=False)
        self.assertEqual(r.code, 0, r)
        with open(os.path.join(d, "count")) as f:
            self.assertEqual(f.read().strip(), "2")

    def test_user_agent(self):
        self.sim.clear_requests()
        self.relrun("list")
        agents = {q["user_agent"] for q in self.sim.requests() if q["auth"] != "control"}
        self.assertTrue(agents and all(a.startswith("relrun/") for a in agents), agents)


class ApiGoesAway(unittest.TestCase):
    def test_api_gone_mid_follow_gives_69(self):
        if not have_all():
            self.skipTest("relrun, relrun-pod or the fixture release not built")
        root, imgs = images()
        self.addCleanup(shutil.rmtree, root, True)
        sim = Sim(images=imgs).start()
        try:
            base = [RELRUN, "--kubeconfig", sim.kubeconfig]
            r = subprocess.run(base + ["run", "--detach", *TASK_FLAGS, "LiveStream.sleep(60000)"],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            w = subprocess.Popen(base + ["wait", "--retry-window", "5s", r.stdout.strip()],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            # wait is following: its watches are open
            sim.wait_request(lambda q: q["query"].get("watch") and "/pods" in q["path"])
            sim.proc.kill()  # the API server dies: connections reset, then refused
            out, err = w.communicate(timeout=120)
        finally:
            sim.stop()
        self.assertEqual(w.returncode, 69, out + err)
        self.assertRegex(err, r"relrun: watch (pods|jobs): .*gave up after \d+ attempts?")
        self.assertNotIn(sim.token, out + err)


class PlainHttp(Base):
    tls = False

    def test_token_not_sent_over_http(self):
        self.sim.clear_requests()
        r = self.run_task('LiveStream.run("x")')
        self.assertEqual(r.code, 78, r)
        self.assertIn("plain http", r.stderr)
        self.assertEqual([q for q in self.sim.requests() if q["bearer"]], [])


if __name__ == "__main__":
    unittest.main()
