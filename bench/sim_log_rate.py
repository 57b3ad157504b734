"""The simulator's live delivery rate: a raw follower (urllib, timestamps=true) on a Job
whose pod prints N lines after 2 s; rate = lines / (time of the last line - time of the first)."""
import os
import sys
import tempfile
import time

# usage: python3 bench/sim_log_rate.py [TEST_DIR [LINES [BUILD]]]
# TEST_DIR: a tree's test/ (its simlib and k8s_sim; default this tree's), LINES (1,000,000),
# BUILD: the build whose relrun starts the Jobs (default build).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
simdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "test")
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
build = sys.argv[3] if len(sys.argv) > 3 else os.path.join(ROOT, "build")
sys.path.insert(0, simdir)
sys.path.insert(0, os.path.join(ROOT, "bench"))
import run as B  # noqa: E402
from simlib import Sim  # noqa: E402
tmp = tempfile.TemporaryDirectory(prefix="sim-log-rate-")
out = tmp.name
img = os.path.join(out, "img")
os.makedirs(os.path.join(img, "usr/local/bin"))
open(os.path.join(img, "usr/local/bin/relrun-pod"), "w").write(B.FOLLOW_SCRIPT)
os.chmod(os.path.join(img, "usr/local/bin/relrun-pod"), 0o755)
paths = {"relrun": os.path.join(build, "cmd", "relrun", "relrun")}
with Sim(tls=True, images={"lines:bench": img}, log_lines=n + 1000) as sim:
    for rep in range(2):
        name = B.follow_start(sim, paths, n, 2)
        pod = sim.wait_for("/api/v1/namespaces/default/pods?labelSelector=batch.kubernetes.io/job-name=%s" % name,
                           lambda b: b["items"] and b["items"][0]["status"].get("phase") == "Running", timeout=60)["items"][0]
        cpu0 = B._proc_cpu_s(sim.proc.pid)
        r = sim.stream("/api/v1/namespaces/default/pods/%s/log?follow=true&timestamps=true" % pod["metadata"]["name"], timeout=120)
        got = 0
        t_first = None
        while True:
            b = r.read1(1 << 20)
            if not b:
                break
            if t_first is None:
                t_first = time.monotonic()
            got += b.count(b"\n")
        t_last = time.monotonic()
        print("lines=%d first->last=%.2f s rate=%.0f lines/s sim-cpu=%.2f s (%.2f us/line)" % (
            got, t_last - t_first, got / (t_last - t_first), B._proc_cpu_s(sim.proc.pid) - cpu0,
            (B._proc_cpu_s(sim.proc.pid) - cpu0) * 1e6 / got), flush=True)
tmp.cleanup()
