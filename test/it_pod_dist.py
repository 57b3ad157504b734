"""The relrun-pod integration tests again, on the dist backend (a hidden C node)."""
import json
import os
import subprocess
import tempfile
import unittest

import it_pod
import podlib
from podlib import POD, RELEASE, node_env, run_pod


class _OnDist:
    """Runs a class of it_pod with --rpc dist, and puts the default back after."""

    @classmethod
    def setUpClass(cls):
        podlib.RPC["backend"] = "dist"
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        podlib.RPC["backend"] = "script"


# The same tests, now on dist; it_pod's own classes are not in this module, so they
# do not run here a second time on the script backend.
for _name in dir(it_pod):
    _cls = getattr(it_pod, _name)
    if isinstance(_cls, type) and issubclass(_cls, unittest.TestCase) and _name.startswith("Pod"):
        globals()[_name + "Dist"] = type(_name + "Dist", (_OnDist, _cls), {})


class DistOnly(_OnDist, unittest.TestCase):
    def test_wrong_cookie_is_a_clear_failure_with_dist(self):
        path = os.path.join(tempfile.mkdtemp(), "cookie")
        with open(path, "w") as f:
            f.write("wrong-cookie\n")
        r = run_pod('LiveStream.run("c1")', "--ready-timeout", "3s", "--cookie-file", path)
        self.assertEqual(r.code, 124)
        self.assertIn("wrong cookie", r.relrun("exit")[0]["msg"])
        self.assertNotIn("wrong-cookie", r.stdout + r.stderr)  # the cookie is never printed

    def test_auto_falls_back_to_script_with_a_reason(self):
        env = node_env({"RELEASE_DISTRIBUTION": "none"})
        p = subprocess.run([POD, "--release", RELEASE, "--rpc", "auto", "--ready-timeout", "2s",
                            "--", "LiveStream.run(\"c2\")"],
                           capture_output=True, text=True, env=env, timeout=60)
        events = [json.loads(l) for l in p.stdout.splitlines()]
        warn = [e for e in events if e["src"] == "relrun" and "using the script backend" in e["msg"]]
        self.assertEqual(len(warn), 1, p.stdout)
        self.assertIn("RELEASE_DISTRIBUTION=none", warn[0]["msg"])

    def test_default_is_dist(self):
        env = node_env()
        p = subprocess.run([POD, "--release", RELEASE, "--", "LiveStream.run(\"c3\")"],
                           capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertIn("calling it over distribution", p.stdout)


if __name__ == "__main__":
    unittest.main()
