"""relrun cron history end to end: the runs of a CronJob (scheduled by the
controller and triggered by hand) with their start, duration, status, exit code
and return value, read back from the simulator's Jobs and pods."""
import json
import unittest

from relrunlib import TASK_FLAGS, Base

JOBS = "/apis/batch/v1/namespaces/default/jobs/"


def finished(job):
    return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
               for c in (job.get("status") or {}).get("conditions") or [])


class CronHistory(Base):
    def test_history_lists_every_run_with_its_outcome(self):
        r = self.relrun("cron", "create", "hist", "--schedule", "0 3 * * *", *TASK_FLAGS,
                        "LiveStream.exit_with(6)")
        self.assertEqual(r.code, 0, r)
        self.addCleanup(self.relrun, "cron", "delete", "hist", "--cascade", "foreground")
        # a scheduled run, as the CronJob controller makes it, that nobody follows
        self.sim.fire_cronjob("hist", job_name="hist-29000001")
        self.sim.wait_for(JOBS + "hist-29000001", finished, timeout=60)
        # a run by hand with another expression, followed
        t = self.relrun("cron", "trigger", "hist", 'LiveStream.run("h2")')
        self.assertEqual(t.code, 0, t)
        # a Job that is not this CronJob's stays out of its history
        other = self.run_task("LiveStream.exit_with(4)")
        self.assertEqual(other.code, 4, other)

        h = self.relrun("cron", "history", "hist", "-o", "json")
        self.assertEqual(h.code, 0, h)
        rows = json.loads(h.stdout)
        self.assertEqual(len(rows), 2, rows)
        first, second = rows
        self.assertEqual(first["job"], "hist-29000001")
        self.assertEqual((first["status"], first["exit_code"], first["return"]),
                         ("Failed", 6, None), first)
        self.assertRegex(second["job"], r"^hist-manual-\w+$")
        self.assertEqual((second["status"], second["exit_code"], second["return"]),
                         ("Complete", 0, '{:ok, "h2"}'), second)
        for row in rows:
            self.assertRegex(row["started"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", row)
            self.assertIsInstance(row["duration_ms"], int, row)
            self.assertGreater(row["duration_ms"], 0, row)

        table = self.relrun("cron", "history", "hist")
        self.assertEqual(table.code, 0, table)
        lines = table.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["JOB", "STARTED", "DURATION", "STATUS", "EXIT",
                                            "RESULT"])
        self.assertEqual(len(lines), 3, table.stdout)
        self.assertRegex(lines[1], r"^hist-29000001 +\S+ +\d+\.\ds +Failed +6 +-$")
        self.assertRegex(lines[2], r'^hist-manual-\w+ +\S+ +\d+\.\ds +Complete +0 +'
                                   r'\{:ok, "h2"\}$')

    def test_no_runs_and_no_such_cronjob(self):
        r = self.relrun("cron", "create", "never-ran", "--schedule", "0 3 * * *", *TASK_FLAGS,
                        "LiveStream.run(\"n\")")
        self.assertEqual(r.code, 0, r)
        self.addCleanup(self.relrun, "cron", "delete", "never-ran")
        h = self.relrun("cron", "history", "never-ran")
        self.assertEqual((h.code, h.stdout), (0, ""), h)
        self.assertIn("No runs of cronjob.batch/never-ran in default namespace", h.stderr)
        j = self.relrun("cron", "history", "never-ran", "-o", "json")
        self.assertEqual((j.code, json.loads(j.stdout)), (0, []), j)
        missing = self.relrun("cron", "history", "no-such-cron")
        self.assertNotEqual(missing.code, 0, missing)
        self.assertIn("no-such-cron", missing.stderr)
        self.assertIn("not found", missing.stderr)

    def test_usage(self):
        for args in (["cron", "history"], ["cron", "history", "a", "b"],
                     ["cron", "history", "a", "-o", "yaml"]):
            r = self.relrun(*args)
            self.assertEqual(r.code, 64, (args, r))


if __name__ == "__main__":
    unittest.main()
