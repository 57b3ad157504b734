"""Helpers for tests that run relrun-pod on the real fixture release."""
import atexit
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import uuid

POD = os.environ.get("RELRUN_POD_BIN", "")
# The runtime matrix (test/roots/README.md): with RELRUN_ROOT set, the test runs under
# test/roots/inroot, which binds the build and source trees and /tmp at the same paths
# inside that Debian root, and everything of the release runs there as `chroot ROOT
# ...`. Paths need no mapping: they mean the same files on both sides.
ROOT = os.environ.get("RELRUN_ROOT", "")
REL = os.environ.get("RELRUN_FIXTURE_REL", "")
RELEASE = os.path.join(REL, "bin", "live_stream")
APP_FORMAT = "$date $time [$level] $metadata| $message\n"
# The backend under test: it_pod runs script, it_pod_dist runs the same tests on dist.
RPC = {"backend": "script"}
ELIXIR_DEFAULT_LINE = re.compile(r"^\n?\d\d:\d\d:\d\d\.\d{3} .*\[(debug|info|notice|warn|warning|error)\]")


def in_root(argv):
    """argv as a command that runs in the matrix root (unchanged outside the matrix)."""
    return ["chroot", ROOT, *argv] if ROOT else list(argv)


def _chrooted_pod():
    """In the matrix, POD is a two-line script that execs relrun-pod in the root, so
    every test that runs POD (through pod_argv, run_pod or directly) runs it there;
    the exec keeps one process, so the test's signals reach relrun-pod itself."""
    tmp = tempfile.mkdtemp(prefix="relrun-pod-root-")
    atexit.register(shutil.rmtree, tmp, True)
    path = os.path.join(tmp, "relrun-pod")
    with open(path, "w") as f:
        f.write("#!/bin/sh\nexec " + shlex.join(in_root([POD])) + ' "$@"\n')
    os.chmod(path, 0o755)
    return path


if ROOT and POD:
    POD = _chrooted_pod()


def node_env(extra=None):
    """A unique node name per run: tests run in parallel on one EPMD."""
    env = dict(os.environ)
    env["RELEASE_NODE"] = "t" + uuid.uuid4().hex[:12]
    env["ERL_CRASH_DUMP_SECONDS"] = "0"  # a boot failure writes no erl_crash.dump
    env.update(extra or {})
    return env


def _ms(ts):
    """Milliseconds since midnight of an event's RFC 3339 UTC time stamp."""
    h, m, s = ts.split("T")[1].rstrip("Z").split(":")
    return (int(h) * 60 + int(m)) * 60000 + round(float(s) * 1000)


def refused_attempts(run):
    """The handshakes the node logged as refused, as the times of their reports. One
    refusal can be printed twice in the same millisecond while the node boots (OTP's
    handler and Logger's both installed); that is not a second attempt: relrun-pod's
    retry comes at least REJECT_WAIT_MS (300 ms) later."""
    stamps = sorted(_ms(e["ts"]) for e in run.events
                    if e["src"] == "app" and "Connection attempt" in e["msg"])
    return [t for i, t in enumerate(stamps) if i == 0 or t - stamps[i - 1] > 100]


def beam_pid(node):
    """The pid of the BEAM running as node NAME (short or long name), or None."""
    out = subprocess.run(["pgrep", "-f", "--", f"beam.* -s?name {node}(@[^ ]*)?( |$)"],
                         capture_output=True, text=True)
    pids = [int(x) for x in out.stdout.split()]
    return pids[0] if pids else None


def beam_running(node):
    """True while a BEAM of that node name is alive."""
    return beam_pid(node) is not None


def k8s_env(pattern="k8s", cookie=None, extra=None):
    """The environment for the release's env.sh PATTERN (see the fixture's
    rel/env.sh.eex): the node's name, address and cookie exist only inside the
    release's environment, never in relrun-pod's. Returns (env, node name)."""
    env = node_env(extra)
    name = env.pop("RELEASE_NODE")
    env.pop("RELEASE_COOKIE", None)
    env.pop("RELEASE_DISTRIBUTION", None)
    env["LIVE_STREAM_ENV_SH"] = pattern
    env["LIVE_STREAM_NODE"] = name
    path = os.path.join(tempfile.mkdtemp(prefix="relrun-secret-"), "cookie")
    with open(path, "w") as f:
        f.write((cookie or "k8s-" + uuid.uuid4().hex) + "\n")
    env["LIVE_STREAM_COOKIE_FILE"] = path
    return env, name


class Run:
    def __init__(self, proc, stdout, stderr, term_path, node):
        self.code = proc.returncode
        self.stdout = stdout
        self.stderr = stderr
        self.node = node
        self.events = [json.loads(line) for line in stdout.splitlines() if line.strip()] \
            if stdout.startswith("{") else []
        self.term = None
        if term_path and os.path.exists(term_path):
            with open(term_path, "rb") as f:
                self.raw_term = f.read()
            self.term = json.loads(self.raw_term)

    def msgs(self, src=None):
        return [e["msg"] for e in self.events if src is None or e["src"] == src]

    def relrun(self, event):
        return [e for e in self.events if e["src"] == "relrun" and e.get("event") == event]


def pod_argv():
    return [POD, "--release", RELEASE, "--rpc", RPC["backend"]]


def run_pod(expr, *flags, env=None, timeout=120, app_format=True, term=True, full_env=None):
    """Run relrun-pod on the fixture release. env: extra variables on top of
    node_env(); full_env: the whole environment (k8s_env), used as it is."""
    env = dict(full_env) if full_env is not None else node_env(env)
    tmp = tempfile.mkdtemp(prefix="relrun-pod-test-")
    term_path = os.path.join(tmp, "termination-log") if term else None
    argv = pod_argv()
    if app_format:
        argv += ["--app-format", APP_FORMAT]
    if term_path:
        argv += ["--termination-log", term_path]
    argv += list(flags)
    if expr is not None:
        argv += ["--", expr]
    p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    return Run(p, p.stdout, p.stderr, term_path,
               env.get("RELEASE_NODE") or env.get("LIVE_STREAM_NODE"))
