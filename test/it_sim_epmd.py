"""The host's EPMD outlives the pods and the simulator. In a cluster every pod has its own
network namespace and its own EPMD; in the simulator every node on the machine shares
one, started by whichever BEAM came first, often a pod's, so it carries that pod's
process marker. Killing it with the pod or the simulator made the releases booting
elsewhere at that moment (other tests, other simulators) fail with "Protocol 'inet_tcp':
register/listen error: econnrefused", exit 70."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from simlib import Sim, free_port

EPMD = shutil.which("epmd")


def epmd_answers(port):
    return subprocess.run([EPMD, "-port", str(port), "-names"], capture_output=True,
                          timeout=10).returncode == 0


@unittest.skipUnless(EPMD, "epmd not installed")
class SharedEpmd(unittest.TestCase):
    def test_epmd_a_pod_started_survives_the_pod_and_the_simulator(self):
        port = free_port()
        self.addCleanup(subprocess.run, [EPMD, "-port", str(port), "-kill"],
                        capture_output=True, timeout=10)
        root = tempfile.mkdtemp(prefix="sim-epmd-")
        self.addCleanup(shutil.rmtree, root, True)
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "first-node"},
               "spec": {"restartPolicy": "Never", "containers": [
                   {"name": "main", "image": "busy:1", "command": [
                       "sh", "-c", "%s -port %d -daemon && sleep 120" % (EPMD, port)]}]}}
        path = os.path.join(root, "pod.json")
        with open(path, "w") as f:
            json.dump(pod, f)
        sim = Sim(tls=True, images={"busy:1": root}).start()
        try:
            r = sim.kubectl("create", "-f", path)
            self.assertEqual(r.returncode, 0, r.stderr)
            sim.wait_for("/api/v1/namespaces/default/pods/first-node",
                         lambda p: p["status"].get("phase") == "Running")
            deadline = time.monotonic() + 10
            while not epmd_answers(port) and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertTrue(epmd_answers(port), "the pod's epmd never answered")
            r = sim.kubectl("delete", "pod", "first-node", "--grace-period=0", "--wait=true")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(epmd_answers(port), "deleting the pod killed the host's epmd")
            # a second pod's epmd: the simulator's shutdown must spare it too
            pod["metadata"]["name"] = "second-node"
            with open(path, "w") as f:
                json.dump(pod, f)
            r = sim.kubectl("create", "-f", path)
            self.assertEqual(r.returncode, 0, r.stderr)
            sim.wait_for("/api/v1/namespaces/default/pods/second-node",
                         lambda p: p["status"].get("phase") == "Running")
        finally:
            left = sim.stop()
        self.assertEqual(left, [], "processes left behind by the simulator")
        self.assertTrue(epmd_answers(port), "stopping the simulator killed the host's epmd")


if __name__ == "__main__":
    unittest.main()
