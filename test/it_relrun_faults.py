"""relrun end to end when the API server fails it: 5xx and 429 on create, dropped and
expired watches, cut log streams, 5xx forever, --request-timeout."""
import json
import unittest

from relrunlib import Base


class ApiFaults(Base):
    def test_5xx_on_create_is_retried(self):
        self.sim.clear_requests()
        self.sim.fault(kind="status", code=503, count=2, method="POST", path_regex="/jobs$")
        r = self.run_task('LiveStream.run("f1")', "-o", "json")
        self.assertEqual(r.code, 0, r)
        self.assert_full_log(r, "f1")
        reqs = [q for q in self.sim.requests() if q["path"].endswith("/jobs") and
                (q["method"] == "POST" or "relrun.dev/run-id" in
                 q["query"].get("labelSelector", ""))]
        # a 503 may have created the Job after all: every retry looks first
        self.assertEqual([q["method"] for q in reqs], ["POST", "GET", "POST", "GET", "POST"])
        run_id = reqs[1]["query"]["labelSelector"].split("=")[1]
        mine = [j for j in self.jobs() if j["metadata"]["labels"].get("relrun.dev/run-id") == run_id]
        self.assertEqual(len(mine), 1)

    def test_429_plain_text_retry_after(self):
        self.sim.fault(kind="429", retry_after=1, plain=True, count=1, method="POST",
                       path_regex="/jobs$")
        self.sim.clear_requests()
        r = self.run_task('LiveStream.run("f2")', "-o", "json")
        self.assertEqual(r.code, 0, r)
        self.assert_full_log(r, "f2")
        posts = [q for q in self.sim.requests() if q["method"] == "POST" and
                 q["path"].endswith("/jobs")]
        self.assertEqual([q["code"] for q in posts], [429, 201])
        self.assertGreaterEqual(posts[1]["time"] - posts[0]["time"], 0.9)

    def test_dropped_watch(self):
        self.sim.fault(kind="drop_watch", after=1, count=3, path_regex="/pods$")
        r = self.run_task('LiveStream.run("f3")', "-o", "json")
        self.assertEqual(r.code, 0, r)
        self.assert_full_log(r, "f3")

    def test_gone_watch_relists(self):
        self.sim.fault(kind="gone_watch", count=2)
        r = self.run_task('LiveStream.run("f4")', "-o", "json")
        self.assertEqual(r.code, 0, r)
        self.assert_full_log(r, "f4")

    def test_cut_log_stream(self):
        self.sim.fault(kind="cut_log", after=3, count=3)
        r = self.run_task('LiveStream.run("f5")', "-o", "json")
        self.assertEqual(r.code, 0, r)
        self.assert_full_log(r, "f5")
        fired = [f for f in self.sim.faults()["fired"] if f["kind"] == "cut_log"]
        self.assertTrue(fired)

    def test_cut_log_stream_during_a_flood(self):
        self.sim.fault(kind="cut_log", after=50, count=4)
        r = self.run_task("LiveStream.flood(400)", "-o", "json")
        self.assertEqual(r.code, 0, r)
        msgs = [m for m in r.msgs("app") if m.startswith("flood line ")]
        self.assertEqual(msgs, ["flood line %d" % i for i in range(1, 401)])

    def test_slow_container_creating(self):
        self.sim.fault(kind="slow_start", seconds=3, pod_regex="live-stream-run")
        r = self.run_task('LiveStream.run("slow")', "-o", "json")
        self.assertEqual(r.code, 0, r)
        self.assert_full_log(r, "slow")
        self.assertGreater(r.elapsed, 3)

    def test_5xx_forever_gives_69(self):
        self.sim.fault(kind="status", code=500, count=-1, path_regex="/jobs$")
        r = self.run_task('LiveStream.run("x")', "--request-timeout", "5s")
        self.assertEqual(r.code, 69, r)
        self.assertIn("create jobs", r.stderr)

    def test_request_timeout_bounds_the_retries(self):
        # A Retry-After longer than --request-timeout is not waited for: one attempt,
        # then the error (it was six attempts and 17.8 s for --request-timeout 2s).
        self.sim.clear_requests()
        self.sim.fault(kind="429", retry_after=30, count=-1, path_regex="/jobs$")
        r = self.run_task('LiveStream.run("x")', "--request-timeout", "2s")
        self.assertEqual(r.code, 69, r)
        self.assertIn("create jobs", r.stderr)
        self.assertIn("(gave up after 1 attempt)", r.stderr)
        posts = [q for q in self.sim.requests() if q["method"] == "POST"]
        self.assertEqual(len(posts), 1, posts)


if __name__ == "__main__":
    unittest.main()
