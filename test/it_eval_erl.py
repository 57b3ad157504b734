"""relrun-pod --eval on the running task of an Erlang (relx) release: Erlang syntax,
chosen from the release (no Elixir in its lib/), the expression's output and value,
errors and exit codes by the task's contract, the task left alone."""
import json
import os
import signal
import subprocess
import tempfile
import unittest
import uuid

from it_pod_erl_tasks import erl_env
from podlib import POD

ERL_REL = os.environ.get("RELRUN_FIXTURE_ERL_REL", "")
ERL_RELEASE = os.path.join(ERL_REL, "bin", "live_stream")


@unittest.skipUnless(POD and ERL_REL, "relrun-pod or the Erlang fixture not built")
class EvalOnErlangTask(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # the task's container: one HOSTNAME for the task and every eval into it
        cls.env = erl_env({"HOSTNAME": "it-eval-erl-" + uuid.uuid4().hex[:8]})
        cls.term = os.path.join(tempfile.mkdtemp(prefix="relrun-eval-erl-"), "term")
        cls.task = subprocess.Popen([POD, "--release", ERL_RELEASE, "--termination-log",
                                     cls.term, "--", "live_stream:sleep(600000)."],
                                    stdout=subprocess.PIPE, text=True, env=cls.env)
        cls.lines = []
        for line in cls.task.stdout:
            cls.lines.append(json.loads(line))
            if "sleeping 600000 ms" in cls.lines[-1]["msg"]:
                break
        else:
            raise AssertionError("the task never started: %s" % cls.lines)

    @classmethod
    def tearDownClass(cls):
        cls.task.send_signal(signal.SIGTERM)
        cls.rest, _ = cls.task.communicate(timeout=60)

    def eval(self, expr, *flags):
        return subprocess.run([POD, "--release", ERL_RELEASE, *flags, "--eval", expr],
                              capture_output=True, text=True, env=self.env, timeout=60)

    def test_value_and_output_the_erlang_way(self):
        r = self.eval('io:format("hello ~s~n", [<<"erl">>]), {ok, lists:sum([1, 2, 3])}.')
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(r.stdout, "hello erl\n{ok,6}\n")

    def test_the_full_stop_is_optional(self):
        r = self.eval("node()")
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(r.stdout.strip(), self.env["RELEASE_NODE"] + "@" +
                         r.stdout.strip().split("@")[1])

    def test_an_error_is_1_with_the_reason(self):
        r = self.eval("erlang:error(encoder_stuck).")
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("encoder_stuck", r.stderr)

    def test_exit_shutdown_n_is_n(self):
        r = self.eval("exit({shutdown, 4}).")
        self.assertEqual(r.returncode, 4, r)

    def test_elixir_text_on_an_erlang_release_is_a_syntax_error(self):
        # no Elixir here: the text is read as Erlang, and it is not Erlang
        r = self.eval("Enum.sum([1, 2])")
        self.assertEqual(r.returncode, 1, r)

    def test_lang_flag_is_checked(self):
        r = self.eval("1.", "--lang", "cobol")
        self.assertEqual(r.returncode, 64, r)
        self.assertIn("--lang: expected erlang or elixir", r.stderr)

    def test_zz_the_task_is_untouched(self):
        # every eval above ran beside the task: it still sleeps, then stops as any
        # task stopped by SIGTERM does
        self.assertIsNone(self.task.poll())


if __name__ == "__main__":
    unittest.main()
