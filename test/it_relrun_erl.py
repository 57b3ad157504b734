"""relrun end to end on the Erlang fixture release (rebar3/relx): relrun -> k8s_sim ->
kubelet runs relrun-pod -> the relx release -> logs back -> exit code. The expression is
Erlang, raw or built by --lang erlang --mfa/--args; relrun-pod tells the release's kind
and language from the release."""
import json
import os
import shutil
import tempfile
import unittest
import uuid

from relrunlib import POD_BIN, POD_IMAGE, RELRUN, Base
from simlib import Sim

ERL_REL = os.environ.get("RELRUN_FIXTURE_ERL_REL", "")
ERL_IMAGE = "live-stream-erl:test"
FLAGS = ["--image", ERL_IMAGE, "--release", "/app/bin/live_stream", "--pod-image", POD_IMAGE]


class RunErlang(Base):
    @classmethod
    def setUpClass(cls):
        if not all(os.path.exists(p) for p in (RELRUN, POD_BIN,
                                               os.path.join(ERL_REL, "bin", "live_stream"))):
            raise unittest.SkipTest("relrun, relrun-pod or the Erlang fixture not built")
        cls.root = tempfile.mkdtemp(prefix="relrun-it-erl-")
        app = os.path.join(cls.root, "app-image")
        os.makedirs(app)
        os.symlink(os.path.abspath(ERL_REL), os.path.join(app, "app"))
        pod = os.path.join(cls.root, "pod-image")
        os.makedirs(pod)
        shutil.copy(POD_BIN, os.path.join(pod, "relrun-pod"))
        cls.sim = Sim(tls=True, images={ERL_IMAGE: app, POD_IMAGE: pod}).start()
        cls.outputs = []

    def node(self):
        # one EPMD for every test on this host: a node name of its own, and relx's
        # per-start vm.args in a directory of its own (the release is shared)
        return ["--env", "RELEASE_NODE=e" + uuid.uuid4().hex[:12],
                "--env", "RELX_OUT_FILE_PATH=" + tempfile.mkdtemp(prefix="relx-out-")]

    def test_erlang_expression_runs_and_its_value_is_the_summarys(self):
        r = self.relrun("run", *FLAGS, *self.node(), "-o", "json",
                        'live_stream:run(<<"e1">>).')
        self.assertEqual(r.code, 0, r)
        app = "\n" + "\n".join(r.msgs("app")) + "\n"
        for m in ["encode start e1 bitrate=3000", "segment 3 of e1 arrived late",
                  "progress e1 50%", "uploader for e1 running", "encode done e1"]:
            self.assertEqual(app.count("\n" + m + "\n"), 1, (m, r))
        levels = {e["msg"]: e["level"] for e in r.events() if e.get("src") == "app"}
        self.assertEqual(levels["segment 3 of e1 arrived late"], "warning")
        self.assertEqual(levels["segment 4 of e1 corrupt, re-encoding it"], "error")
        self.assertIn('succeeded, exit 0', r.stderr)
        self.assertIn('returned {ok,<<"e1">>}', r.stderr)

    def test_mfa_with_erlang_terms_and_the_exit_code(self):
        r = self.relrun("run", *FLAGS, *self.node(), "-o", "json", "--lang", "erlang",
                        "--mfa", "live_stream:run", "--args",
                        '["e2", {"$kw": {}}, "ignored"]')
        # live_stream:run/3 does not exist: the task's own failure, 1
        self.assertEqual(r.code, 1, r)
        self.assertIn("undef", r.stderr + r.stdout)
        r = self.relrun("run", *FLAGS, *self.node(), "-o", "json", "--lang", "erlang",
                        "--mfa", "live_stream:exit_with", "--args", "[3]")
        self.assertEqual(r.code, 3, r)
        r = self.relrun("run", *FLAGS, *self.node(), "-o", "json", "--lang", "erlang",
                        "--mfa", "live_stream:error", "--args", '[{"$atom": "no_disk"}]',
                        "--error-exit", "5")
        self.assertEqual(r.code, 5, r)

    def test_erlang_text_without_lang_is_refused_with_the_hint(self):
        expr = "maps:get(a, #{a => 1})."
        r = self.relrun("render", *FLAGS, expr, "-o", "json")
        self.assertEqual(r.code, 64, r)
        self.assertIn("add --lang erlang", r.stderr)
        r = self.relrun("render", *FLAGS, "--lang", "erlang", expr, "-o", "json")
        self.assertEqual(r.code, 0, r)
        args = json.loads(r.stdout)["spec"]["template"]["spec"]["containers"][0]["args"]
        self.assertIn("--lang", args)
        self.assertEqual(args[args.index("--lang") + 1], "erlang")
        self.assertEqual(args[-1], expr)


if __name__ == "__main__":
    unittest.main()
