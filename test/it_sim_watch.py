"""The simulator's watch fan-out: an event reaches the watches it matches and wakes no
other (a busy cluster of many tasks, each watching its own Job's pods, must not cost every
watcher a wake-up per event). Real HTTP against the simulator, no relrun."""
import json
import threading
import time
import unittest

from simlib import Sim

N = 30


def cm(name, job):
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": {"job-name": job}}, "data": {"k": "v"}}


class WatchFanOut(unittest.TestCase):
    def test_events_wake_only_matching_watches(self):
        with Sim(tls=True) as sim:
            streams, got = [], [[] for _ in range(N)]

            def read(i, s):
                try:
                    for line in s:
                        ev = json.loads(line)
                        if ev["type"] != "BOOKMARK":
                            got[i].append((ev["type"], ev["object"]["metadata"]["name"]))
                except OSError:
                    pass  # the simulator stopped under it

            threads = []
            for i in range(N):
                s = sim.stream("/api/v1/namespaces/default/configmaps?watch=1"
                               "&labelSelector=job-name%%3Dj%d&timeoutSeconds=300" % i, timeout=300)
                streams.append(s)
                t = threading.Thread(target=read, args=(i, s), daemon=True)
                t.start()
                threads.append(t)
            sim.wait_for("/_sim/watches", lambda b: len(b["watches"]) == N)
            # 20 events for watch 0 (creates and updates), one for watch 1
            for k in range(10):
                code, _, body = sim.post("/api/v1/namespaces/default/configmaps", cm("a%d" % k, "j0"))
                self.assertEqual(code, 201, body)
                code, _, body = sim.request("PUT", "/api/v1/namespaces/default/configmaps/a%d" % k,
                                            cm("a%d" % k, "j0"))
                self.assertEqual(code, 200, body)
            code, _, body = sim.post("/api/v1/namespaces/default/configmaps", cm("b", "j1"))
            self.assertEqual(code, 201, body)
            deadline = time.monotonic() + 20
            while (len(got[0]) < 20 or len(got[1]) < 1) and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertEqual(len(got[0]), 20, got[0])
            self.assertEqual(got[0][:2], [("ADDED", "a0"), ("MODIFIED", "a0")])
            self.assertEqual(got[1], [("ADDED", "b")])
            _, _, body = sim.get("/_sim/watches", token=False)
            ws = body["watches"]
            self.assertEqual(len(ws), N)
            self.assertEqual(sorted(w["events"] for w in ws), [0] * (N - 2) + [1, 20])
            # the 28 watches that match nothing were never woken
            self.assertEqual(sum(1 for w in ws if w["wakes"] == 0), N - 2)
            for i in range(2, N):
                self.assertEqual(got[i], [], i)
        # the simulator has stopped: every stream ends
        for t in threads:
            t.join(30)


if __name__ == "__main__":
    unittest.main()
