"""relrun-pod asks the release instead of guessing: the node's name, host and
cookie come from the started VM, as the release's env.sh made them (the
fixture's rel/env.sh.eex has the patterns people use in Kubernetes)."""
import json
import os
import subprocess
import tempfile
import unittest

import podlib
from podlib import POD, RELEASE, beam_running, k8s_env, node_env, run_pod

BACKENDS = ["script", "dist"]


class EnvShPatterns(unittest.TestCase):
    def check_first_attempt(self, r, backend):
        self.assertEqual(r.code, 0, r.stdout + r.stderr)
        self.assertIn("encode done d1", r.msgs("app"))
        # no fallback, no retry, no rejected connection in the app's own log
        self.assertEqual([m for m in r.msgs("relrun") if "unavailable" in m], [])
        self.assertEqual(len(r.relrun("rpc")), 1, r.msgs("relrun"))
        app = "\n".join(r.msgs("app"))
        self.assertNotIn("rejected", app)
        self.assertNotIn("Connection attempt", app)
        via = "over distribution" if backend == "dist" else "with the release's rpc"
        self.assertIn(via, r.relrun("rpc")[0]["msg"])
        self.assertFalse(beam_running(r.node))

    def test_k8s_long_names_pod_address_cookie_from_a_secret(self):
        for backend in BACKENDS + ["auto"]:
            with self.subTest(backend=backend):
                env, name = k8s_env("k8s")
                podlib.RPC["backend"] = backend
                try:
                    r = run_pod('LiveStream.run("d1")', "--ready-timeout", "60s", full_env=env)
                finally:
                    podlib.RPC["backend"] = "script"
                self.check_first_attempt(r, "script" if backend == "script" else "dist")
                node = r.relrun("node")[0]["msg"]
                self.assertIn("'%s@127.0.0.1'" % name, node)
                self.assertIn("long names", node)
                with open(env["LIVE_STREAM_COOKIE_FILE"]) as f:
                    self.assertNotIn(f.read().strip(), r.stdout + r.stderr)

    def test_k8s_short_names_cookie_from_a_secret(self):
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                env, name = k8s_env("k8s-sname")
                podlib.RPC["backend"] = backend
                try:
                    r = run_pod('LiveStream.run("d1")', full_env=env)
                finally:
                    podlib.RPC["backend"] = "script"
                self.check_first_attempt(r, backend)
                self.assertIn("short names", r.relrun("node")[0]["msg"])

    def test_distribution_none_in_env_sh_is_78_at_once(self):
        # only the VM's environment says so: relrun-pod sees it there
        for backend in BACKENDS + ["auto"]:
            with self.subTest(backend=backend):
                env, _ = k8s_env("none")
                podlib.RPC["backend"] = backend
                try:
                    r = run_pod('LiveStream.run("d2")', "--ready-timeout", "60s", full_env=env)
                finally:
                    podlib.RPC["backend"] = "script"
                self.assertEqual(r.code, 78, r.stdout)
                self.assertEqual(r.term["phase"], "config")
                self.assertIn("RELEASE_DISTRIBUTION=none", r.term["reason"])
                self.assertIn("RELEASE_DISTRIBUTION=none", r.relrun("exit")[0]["msg"])
                # decided from the VM, not after waiting: no call was ever tried
                self.assertEqual(r.relrun("rpc"), [])

    def test_a_node_that_never_registers_is_named(self):
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                # relrun-pod asks an EPMD where the node never shows up
                env, name = k8s_env("epmd-elsewhere", extra={"ERL_EPMD_PORT": "1"})
                env["LIVE_STREAM_ENV_SH"] = "epmd-elsewhere"
                env["RELEASE_NODE"] = name
                podlib.RPC["backend"] = backend
                try:
                    r = run_pod('LiveStream.run("d3")', "--ready-timeout", "2s", full_env=env)
                finally:
                    podlib.RPC["backend"] = "script"
                self.assertEqual(r.code, 124, r.stdout)
                self.assertRegex(r.term["reason"],
                                 r"node '%s@[^']+' did not register with EPMD within 2000 ms"
                                 % name)
                self.assertNotIn("registered after", "\n".join(r.msgs("relrun")))
                self.assertFalse(beam_running(name))


def detached_release():
    """The fixture release behind a bin script that starts its VM in a session of its
    own: relrun-pod cannot find the VM among its process group, so it cannot read
    the VM's command line and must go by what its own environment says."""
    tmp = tempfile.mkdtemp(prefix="relrun-detached-")
    for d in os.listdir(podlib.REL):
        if d != "bin":
            os.symlink(os.path.join(podlib.REL, d), os.path.join(tmp, d))
    os.mkdir(os.path.join(tmp, "bin"))
    path = os.path.join(tmp, "bin", "live_stream")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n"
                'case "$1" in\n'
                'start) shift; exec setsid -w %s start "$@" ;;\n'
                'rpc | eval | remote | stop | pid | version) exec %s "$@" ;;\n'
                "esac\n" % (RELEASE, RELEASE))
    os.chmod(path, 0o755)
    return path


class VmUnreadable(unittest.TestCase):
    def test_auto_falls_back_to_script_at_the_first_refusal(self):
        # The Job's env names the node (RELEASE_NODE), the release's env.sh reads the
        # cookie from a mounted Secret: with the VM out of sight relrun-pod's cookie
        # (the release's releases/COOKIE) is wrong. auto must take the script backend
        # after that one refused handshake, not after the ready timeout.
        env, name = k8s_env("k8s-sname")
        env["RELEASE_NODE"] = name
        env["RELEASE_DISTRIBUTION"] = "sname"
        saved = podlib.RELEASE
        podlib.RELEASE = detached_release()
        podlib.RPC["backend"] = "auto"
        try:
            r = run_pod('LiveStream.run("d4")', "--ready-timeout", "60s", full_env=env)
        finally:
            podlib.RPC["backend"] = "script"
            podlib.RELEASE = saved
            pid = podlib.beam_pid(name)
            if pid:
                os.kill(pid, 9)
        self.assertEqual(r.code, 0, r.stdout + r.stderr)
        self.assertIn("encode done d4", r.msgs("app"))
        relrun = r.msgs("relrun")
        self.assertTrue(any("could not read the release's VM command line" in m
                            for m in relrun), relrun)
        fallback = [i for i, m in enumerate(relrun) if "using the script backend" in m]
        self.assertEqual(len(fallback), 1, relrun)
        self.assertIn("releases/COOKIE", relrun[fallback[0]])  # where the wrong cookie came from
        # one handshake, refused once: the node logged a single attempt
        self.assertEqual(len(podlib.refused_attempts(r)), 1, r.msgs("app"))
        self.assertNotIn("did not take the call", r.stdout)
        with open(env["LIVE_STREAM_COOKIE_FILE"]) as f:
            self.assertNotIn(f.read().strip(), r.stdout + r.stderr)
        self.assertFalse(beam_running(name))


if __name__ == "__main__":
    unittest.main()
