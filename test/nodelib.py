"""The npm tools of the tests (test/node): the upstream schemas, helm.

ctest installs them once (its node_modules fixture) before the tests that import this
module; ensure_node_modules covers running one test file by hand."""
import os
import shutil
import subprocess

NODE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node")


def ensure_node_modules(*packages):
    """npm ci when node_modules lacks one of packages; node itself is required."""
    if shutil.which("node") is None:
        raise AssertionError("node is required (Debian nodejs)")
    if all(os.path.isdir(os.path.join(NODE_DIR, "node_modules", p)) for p in packages):
        return
    r = subprocess.run(["npm", "ci", "--prefix", NODE_DIR, "--no-audit", "--no-fund"],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise AssertionError(f"npm ci failed:\n{r.stderr}")
