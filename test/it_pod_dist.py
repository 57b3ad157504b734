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
    def test_wrong_cookie_is_reported_once_at_once_78(self):
        path = os.path.join(tempfile.mkdtemp(), "cookie")
        with open(path, "w") as f:
            f.write("wrong-cookie\n")
        r = run_pod('LiveStream.run("c1")', "--ready-timeout", "30s", "--cookie-file", path)
        self.assertEqual(r.code, 78, r.stdout)
        self.assertEqual(r.term["phase"], "config")
        exit_ev = r.relrun("exit")[0]
        self.assertIn("wrong cookie", exit_ev["msg"])
        self.assertIn("--cookie-file", exit_ev["msg"])     # where the cookie came from
        # reported once, at once: no retries
        self.assertEqual(sum("wrong cookie" in m for m in r.msgs("relrun")), 1, r.msgs("relrun"))
        self.assertLessEqual(len(podlib.refused_attempts(r)), 1, r.msgs("app"))
        self.assertNotIn("wrong-cookie", r.stdout + r.stderr)  # the cookie is never printed
        self.assertNotIn("encode start c1", "\n".join(r.msgs("app")))

    def test_default_is_dist(self):
        env = node_env()
        p = subprocess.run([POD, "--release", RELEASE, "--", "LiveStream.run(\"c3\")"],
                           capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertIn("calling it over distribution", p.stdout)


if __name__ == "__main__":
    unittest.main()
