"""The relrun-pod integration tests again, on the dist backend (a hidden C node)."""
import json
import os
import subprocess
import tempfile
import unittest

import podlib

podlib.RPC["backend"] = "dist"

from it_pod import *  # noqa: E402,F401,F403  the same tests, now on dist
from podlib import POD, RELEASE, node_env, run_pod  # noqa: E402


class DistOnly(unittest.TestCase):
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
