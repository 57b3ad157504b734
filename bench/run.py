#!/usr/bin/env python3
"""relrun benchmarks: every comparison runs side by side in one invocation and reports
medians over repeated runs and ratios against the baseline.

    python3 bench/run.py all --runs 5            # everything (< 10 min on 2 cores)
    python3 bench/run.py inpod --runs 5          # 1. in-pod: shell wrapper vs relrun-pod
    python3 bench/run.py normalise --runs 3      # 2. log normaliser vs cat
    python3 bench/run.py coord --runs 5 --concurrent 100   # 3. relrun vs a kubectl script
    python3 bench/run.py inpod --root sid        # 1. on a root of the runtime matrix (test/roots)

Options common to all: --build DIR (default build-bench, then build), --json FILE (raw
results), --keep (keep bench/out/ scratch files). Python standard library only; the
simulator comes from test/simlib.py. Every process a run starts is in its own process
group and is killed (with everything the run's process tree spawned) when the run ends,
and again on exit or SIGINT/SIGTERM.

See bench/README.md for what each number means and the recorded results.
"""

import argparse
import atexit
import calendar
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# RELRUN_BENCH_SIM_DIR: another tree's test/ (its simlib and k8s_sim), e.g. to measure the
# simulator before a change: git archive OLD test | tar -x -C /tmp/old
sys.path.insert(0, os.environ.get("RELRUN_BENCH_SIM_DIR") or os.path.join(ROOT, "test"))

APP_FORMAT = "$date $time [$level] $metadata| $message"
TASK = 'LiveStream.run("b", sleep: 200)'
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
EPMD_PORT = 4369

# ------------------------------------------------------------------ process hygiene

_groups = {}  # pgid -> Popen (leader still unreaped or just reaped)
_members = {}  # pid -> starttime, every process seen in a measured run's tree


def _starttime(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            s = f.read()
    except OSError:
        return None
    return int(s[s.rindex(b")") + 2:].split()[19])


def spawn(argv, **kw):
    """Popen in a new session (so its own process group), registered for cleanup."""
    p = subprocess.Popen(argv, start_new_session=True, **kw)
    _groups[p.pid] = p
    return p


def kill_run(p, members=()):
    """Kill a run's process group and every process its tree spawned (checked by start
    time, so a recycled pid is never hit), then reap the leader."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except OSError:
        pass
    for pid, st in list(members):
        if _starttime(pid) == st:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        _members.pop(pid, None)
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        pass
    _groups.pop(p.pid, None)


def cleanup():
    for p in list(_groups.values()):
        kill_run(p)
    for pid, st in list(_members.items()):
        if _starttime(pid) == st:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    _members.clear()


def _on_signal(sig, _frame):
    cleanup()
    sys.exit(128 + sig)


atexit.register(cleanup)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# ------------------------------------------------------------------ probes


class TreeSampler(threading.Thread):
    """Every `interval` s: find every process descended from `root` (by parent pid,
    remembered once seen, so reparented orphans stay counted), sum the resident set
    (/proc/PID/statm) of the app node (the BEAM whose argv has `-sname NODE`, and its
    children) and of everything else ("extra"), and note when the app BEAM exited
    (gone from /proc or a zombie)."""

    def __init__(self, root, node, interval=0.01, more_roots=(), skip_roots=False, uss=False):
        super().__init__(daemon=True)
        self.uss = uss  # also sum private memory (USS, /proc/PID/smaps_rollup)
        self.skip = set((root,) + tuple(more_roots)) if skip_roots else set()
        self.root, self.node, self.interval = root, node, interval
        self.members = {r: _starttime(r) for r in (root,) + tuple(more_roots)}
        _members.update(self.members)
        self.ppid = {}
        self.app_side = set()
        self.app_pid = None
        self.app_seen = None
        self.app_exit = None
        self.samples = []  # (t, extra_kb, app_kb, n_procs)
        self.stopping = threading.Event()
        self.notmember = set()

    def _stat(self, pid):
        try:
            with open("/proc/%d/stat" % pid, "rb") as f:
                s = f.read()
        except OSError:
            return None
        rest = s[s.rindex(b")") + 2:].split()
        return rest[0], int(rest[1]), int(rest[19])  # state, ppid, starttime

    def _is_app(self, pid):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            return False
        if not argv or not argv[0].endswith(b"beam.smp"):
            return False
        for i, a in enumerate(argv[:-1]):
            if a in (b"-sname", b"-name") and argv[i + 1].split(b"@")[0] == self.node.encode():
                return True
        return False

    def scan(self):
        t = time.monotonic()
        new = {}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            pid = int(d)
            if pid in self.members or pid in self.notmember:
                continue
            st = self._stat(pid)
            if st:
                new[pid] = st
        changed = True
        while changed:
            changed = False
            for pid, (state, ppid, start) in list(new.items()):
                if ppid in self.members:
                    self.members[pid] = start
                    _members[pid] = start
                    self.ppid[pid] = ppid
                    del new[pid]
                    changed = True
        self.notmember.update(new)
        if self.app_pid is None:  # argv changes on exec: look again until found
            for pid in self.members:
                if pid != self.root and self.node and self._is_app(pid):
                    self.app_pid, self.app_seen = pid, t
                    break
        if self.app_pid is not None:
            for pid in self.members:
                q = pid
                while q in self.ppid and q not in self.app_side and q != self.app_pid:
                    q = self.ppid[q]
                if q == self.app_pid or q in self.app_side:
                    self.app_side.add(pid)
        extra = app = n = uss = 0
        for pid in list(self.members):
            try:
                with open("/proc/%d/statm" % pid, "rb") as f:
                    rss = int(f.read().split()[1]) * PAGE_KB
            except OSError:
                rss = None
            if pid == self.app_pid and self.app_exit is None:
                st = self._stat(pid)
                if rss is None or st is None or st[0] == b"Z":
                    self.app_exit = t
            if not rss or pid in self.skip:
                continue
            if self.uss:
                uss += _private_kb(pid)
            n += 1
            if pid in self.app_side:
                app += rss
            else:
                extra += rss
        self.samples.append((t, extra, app, n, uss))

    def run(self):
        while not self.stopping.is_set():
            t = time.monotonic()
            try:
                self.scan()
            except Exception as e:  # a probe must never take the harness down
                log("sampler:", e)
            self.stopping.wait(max(0.0, self.interval - (time.monotonic() - t)))

    def stop(self):
        self.stopping.set()
        self.join(5)

    def peak_extra(self, t_from, t_to):
        xs = [s[1] for s in self.samples if t_from <= s[0] <= t_to]
        return max(xs) if xs else None

    def peak_app(self, t_from, t_to):
        xs = [s[2] for s in self.samples if t_from <= s[0] <= t_to]
        return max(xs) if xs else None

    def member_list(self):
        return list(self.members.items())


def _private_kb(pid):
    """Unique set size: pages only this process maps (shared libraries' pages excluded)."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            return sum(int(l.split()[1]) for l in f if l.startswith(("Private_Clean:", "Private_Dirty:")))
    except (OSError, ValueError, IndexError):
        return 0


class EpmdPoller(threading.Thread):
    """Asks EPMD (NAMES_REQ on port 4369) every `interval` s whether NODE is registered;
    once it is, connects to the node's distribution port until that succeeds. Records
    both instants (time.monotonic())."""

    def __init__(self, node, interval=0.001):
        super().__init__(daemon=True)
        self.node, self.interval = node, interval
        self.registered = None
        self.reachable = None
        self.port = None
        self.stopping = threading.Event()
        self.pat = re.compile(rb"^name %s at port (\d+)$" % re.escape(node.encode()), re.M)

    def names(self):
        with socket.create_connection(("127.0.0.1", EPMD_PORT), timeout=1) as s:
            s.sendall(b"\x00\x01n")
            data = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
        return data[4:]

    def run(self):
        while not self.stopping.is_set() and self.reachable is None:
            try:
                if self.registered is None:
                    m = self.pat.search(self.names())
                    if m:
                        self.registered = time.monotonic()
                        self.port = int(m.group(1))
                if self.port is not None:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        self.reachable = time.monotonic()
            except OSError:
                pass
            time.sleep(self.interval)

    def stop(self):
        self.stopping.set()
        self.join(5)


class LineReader(threading.Thread):
    """Reads a pipe line by line; records (arrival time, line)."""

    def __init__(self, f):
        super().__init__(daemon=True)
        self.f = f
        self.lines = []

    def run(self):
        for line in iter(self.f.readline, b""):
            self.lines.append((time.monotonic(), line.decode("utf-8", "replace")))

    def first(self, pred):
        for t, line in self.lines:
            if pred(line):
                return t
        return None

    def count(self, pred):
        return sum(1 for _, line in self.lines if pred(line))


def ensure_epmd(build):
    """EPMD is a machine-wide daemon shared by every node; start it before measuring so
    no run pays for (or owns) it. Left running, like any release would leave it."""
    try:
        socket.create_connection(("127.0.0.1", EPMD_PORT), timeout=1).close()
        return
    except OSError:
        pass
    epmd = shutil.which("epmd")
    subprocess.run([epmd, "-daemon"], check=True)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", EPMD_PORT), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("epmd did not come up")


# ------------------------------------------------------------------ 1. in-pod

WRAPPER = """#!/bin/bash
# The shell wrapper users write today (DESIGN.md: the baseline), verbatim.
bin/live_stream start & until bin/live_stream pid; do sleep 1; done; bin/live_stream rpc %s; bin/live_stream stop
"""


def shq(s):
    return "'" + s.replace("'", "'\\''") + "'"


def in_root(paths, argv, cwd=None):
    """argv run in the matrix root of --root (test/roots: paths are the same inside, the
    harness runs under test/roots/inroot), in cwd; unchanged without --root. chroot and
    env exec, so the run's first process is still the one the samplers follow."""
    if not paths.get("chroot"):
        return argv
    return ["chroot", paths["chroot"], "env", "-C", cwd or "/"] + argv


def inpod_once(variant, paths, out):
    node = "bench" + uuid.uuid4().hex[:10]
    env = dict(os.environ, RELEASE_NODE=node, ERL_CRASH_DUMP_SECONDS="0")
    rel = paths["rel"]
    if variant == "wrapper":
        script = os.path.join(out, "wrapper.sh")
        if not os.path.exists(script):
            with open(script, "w") as f:
                f.write(WRAPPER % shq(TASK))
            os.chmod(script, 0o755)
        argv = in_root(paths, ["/bin/bash", script], rel)
        stderr = subprocess.STDOUT
    else:
        argv = in_root(paths, [paths["pod"], "--release", os.path.join(rel, "bin", "live_stream"),
                               "--app-format", APP_FORMAT, "--rpc", variant.rsplit("-", 1)[1], "--", TASK])
        stderr = subprocess.PIPE
    epmd = EpmdPoller(node)
    epmd.start()
    wall0 = time.time()
    t0 = time.monotonic()
    p = spawn(argv, cwd=rel, env=env, stdout=subprocess.PIPE, stderr=stderr)
    tree = TreeSampler(p.pid, node)
    tree.start()
    reader = LineReader(p.stdout)
    reader.start()
    errs = LineReader(p.stderr) if p.stderr else None
    if errs:
        errs.start()
    try:
        rc = p.wait(90)
    except subprocess.TimeoutExpired:
        rc = None
    t_client = time.monotonic()
    deadline = time.monotonic() + 30
    while tree.app_pid is not None and tree.app_exit is None and time.monotonic() < deadline:
        time.sleep(0.005)
    tree.stop()
    epmd.stop()
    kill_run(p, tree.member_list())
    reader.join(5)
    if errs:
        errs.join(5)

    def ms(t):
        return None if t is None else round((t - t0) * 1000, 1)

    is_start = lambda l: "encode start b" in l  # noqa: E731
    is_done = lambda l: "encode done b" in l  # noqa: E731
    t_first = reader.first(is_start)
    t_done = reader.first(is_done)
    if variant == "wrapper":
        t_task = t_first
        ok = rc == 0 and t_done is not None
    else:
        t_task = reader.first(lambda l: '"event":"ready"' in l)
        ok = rc == 0 and reader.first(lambda l: '"event":"result"' in l) is not None
    t_booted = boot_time(reader, wall0 - t0)
    t_podsaw = reader.first(lambda l: '"event":"rpc"' in l)  # relrun-pod: "node registered, calling it"
    r = {
        "variant": variant, "rc": rc, "ok": ok, "node": node,
        "app_started_ms": ms(t_booted), "pod_saw_node_ms": ms(t_podsaw),
        "registered_ms": ms(epmd.registered), "reachable_ms": ms(epmd.reachable),
        "task_running_ms": ms(t_task), "first_task_line_ms": ms(t_first),
        "task_done_ms": ms(t_done), "client_exit_ms": ms(t_client),
        "vm_exit_ms": ms(tree.app_exit), "app_pid": tree.app_pid,
        "extra_rss_kb": tree.peak_extra(t_task, t_done) if t_task and t_done else None,
        "app_rss_kb": tree.peak_app(t_task, t_done) if t_task and t_done else None,
        "start_lines": reader.count(is_start), "done_lines": reader.count(is_done),
        "samples": len(tree.samples),
        "stderr": "".join(l for _, l in errs.lines)[-2000:] if errs else "",
    }
    if r["task_running_ms"] is not None and r["registered_ms"] is not None:
        r["reach_to_task_ms"] = round(r["task_running_ms"] - r["registered_ms"], 1)
    if r["task_running_ms"] is not None and r["reachable_ms"] is not None:
        r["connect_to_task_ms"] = round(r["task_running_ms"] - r["reachable_ms"], 1)
    if r["task_running_ms"] is not None and r["app_started_ms"] is not None:
        r["app_started_to_task_ms"] = round(r["task_running_ms"] - r["app_started_ms"], 1)
    if r["pod_saw_node_ms"] is not None and r["registered_ms"] is not None:
        r["registered_to_pod_saw_ms"] = round(r["pod_saw_node_ms"] - r["registered_ms"], 1)
    if not ok:
        r["tail"] = "".join(l for _, l in reader.lines[-15:])
    return r


def boot_time(reader, offset):
    """When the app logged "live_stream application started", by the app's own log
    timestamp (ms), on the monotonic clock. Not the line's arrival: relrun-pod holds a
    log event back up to 20 ms waiting for continuation lines."""
    for _, line in reader.lines:
        if "live_stream application started" not in line:
            continue
        m = re.search(r'"ts":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z"', line)
        if m:
            wall = calendar.timegm(time.strptime(m.group(1)[:19], "%Y-%m-%dT%H:%M:%S")) + int(m.group(1)[20:]) / 1000
        else:
            m = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.(\d{3}) ", line)
            if not m:
                return None
            wall = time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) + int(m.group(2)) / 1000
        return wall - offset
    return None


def dist_available(paths):
    """The dist backend is 'available' once relrun-pod accepts --rpc dist (before it lands
    the option exits 64 at once, without starting anything)."""
    p = subprocess.run(in_root(paths, [paths["pod"], "--rpc", "dist", "--release", "/nonexistent/bin/x",
                                       "--ready-timeout", "1s", "--", "1"]), capture_output=True, text=True,
                       timeout=30, env=dict(os.environ, RELEASE_NODE="benchprobe"))
    if p.returncode == 64:
        return False, p.stderr.strip()
    return True, ""


def bench_inpod(paths, runs, out):
    ensure_epmd(paths["build"])
    variants = ["wrapper", "relrun-pod-script"]
    avail, why = dist_available(paths)
    notes = {}
    if avail:
        variants.append("relrun-pod-dist")
    else:
        notes["relrun-pod-dist"] = "not available: " + why
    results = {v: [] for v in variants}
    # warm the page cache and EPMD once, unmeasured
    inpod_once("relrun-pod-script", paths, out)
    for i in range(runs):
        for v in variants:  # interleaved, so drift hits every variant alike
            r = inpod_once(v, paths, out)
            results[v].append(r)
            log("inpod run %d %-18s rc=%s reg=%s pod-saw=%s booted=%s task=%s reach->task=%s total=%s extra=%s kB lines=%s/%s"
                % (i + 1, v, r["rc"], r["registered_ms"], r["pod_saw_node_ms"], r["app_started_ms"],
                   r["task_running_ms"], r.get("reach_to_task_ms"), r["vm_exit_ms"], r["extra_rss_kb"],
                   r["start_lines"], r["done_lines"]))
            if not r["ok"]:
                log("  FAILED:", r.get("tail", ""), r["stderr"])
    return summarise_inpod(results, notes)


INPOD_KEYS = ["registered_ms", "reachable_ms", "task_running_ms", "reach_to_task_ms",
              "app_started_ms", "app_started_to_task_ms", "pod_saw_node_ms", "registered_to_pod_saw_ms",
              "connect_to_task_ms", "first_task_line_ms", "task_done_ms", "vm_exit_ms",
              "client_exit_ms", "extra_rss_kb", "app_rss_kb", "start_lines", "done_lines"]


def summarise_inpod(results, notes):
    summary = {}
    for v, rs in results.items():
        good = [r for r in rs if r["ok"]]
        s = {"runs": len(rs), "ok": len(good)}
        for k in INPOD_KEYS:
            s[k] = med([r.get(k) for r in good])
            s[k + "_range"] = _range([r.get(k) for r in good])
        summary[v] = s
    base = summary.get("wrapper")
    for v, s in summary.items():
        if base:
            for k in ("task_running_ms", "reach_to_task_ms", "vm_exit_ms", "extra_rss_kb"):
                if s.get(k) is not None and base.get(k):
                    s[k + "_ratio"] = round(s[k] / base[k], 3)
    for v, why in notes.items():
        summary[v] = {"runs": 0, "ok": 0, "note": why}
    return {"summary": summary, "runs": results}


def _range(xs):
    xs = [x for x in xs if x is not None]
    return [min(xs), max(xs)] if xs else None


def fmt_inpod(res):
    s = res["summary"]
    base = s.get("wrapper", {})
    rows = [("", "runs ok", "node registered", "task running", "registered → task",
             "app booted → task", "registered → relrun-pod saw it", "VM exited (total)", "total vs wrapper", "extra RSS during task",
             "task lines (start/done)")]
    for v, x in s.items():
        if x.get("note"):
            rows.append((v, "–", x["note"], "", "", "", "", "", "", "", ""))
            continue
        rows.append((
            v, "%d/%d" % (x["ok"], x["runs"]),
            _ms(x["registered_ms"]), _ms(x["task_running_ms"]), _ms_r(x, "reach_to_task_ms"),
            _ms_r(x, "app_started_to_task_ms"), _ms_r(x, "registered_to_pod_saw_ms") or "–",
            _ms_r(x, "vm_exit_ms"),
            "%.2fx" % (x["vm_exit_ms"] / base["vm_exit_ms"]) if base.get("vm_exit_ms") and x["vm_exit_ms"] else "",
            _mb(x["extra_rss_kb"]),
            "%s/%s" % (_n(x["start_lines"]), _n(x["done_lines"])),
        ))
    return table(rows)


def _ms(v):
    return "" if v is None else "%.0f ms" % v if v >= 10 else "%.1f ms" % v


def _ms_r(x, k):
    """median (min–max)"""
    if x.get(k) is None:
        return ""
    lo, hi = x[k + "_range"]
    return "%s (%.0f–%.0f)" % (_ms(x[k]), lo, hi)


def _mb(kb):
    return "" if kb is None else "%.1f MB" % (kb / 1024)


def _n(v):
    return "" if v is None else ("%g" % v)


def table(rows):
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    for r in rows[1:]:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


# ------------------------------------------------------------------ 2. normaliser

LEVELS = ["info", "info", "info", "debug", "warning", "error", "notice"]


def gen_chunk(n=10000):
    """n lines in the fixture's app format: mostly single-line events with and without
    metadata, every 50th event a stack trace (an error line + 4 indented lines), every
    40th line a plain (unformatted) line such as IO.puts output."""
    lines = []
    i = 0
    while len(lines) < n:
        ms = i % 1000
        ts = "2026-11-23 11:%02d:%02d.%03d" % ((i // 60000) % 60, (i // 1000) % 60, ms)
        lvl = LEVELS[i % len(LEVELS)]
        if i % 50 == 49:
            lines.append('%s [error] stream_id=s%d | Task #PID<0.%d.0> started from #PID<0.95.0> terminating' % (ts, i % 97, i % 9999))
            lines.append("** (RuntimeError) encoder crashed at segment %d" % i)
            lines.append("    (live_stream 0.1.0) lib/live_stream.ex:33: LiveStream.fail/0")
            lines.append("    (elixir 1.14.0) lib/task/supervised.ex:89: Task.Supervised.invoke_mfa/2")
            lines.append("    (stdlib 4.3) proc_lib.erl:240: :proc_lib.init_p_do_apply/3")
        elif i % 40 == 39:
            lines.append("progress s%d %d%%" % (i % 97, i % 100))
        elif i % 3 == 0:
            lines.append("%s [%s] | uploader for s%d running, %d segments queued" % (ts, lvl, i % 97, i % 31))
        else:
            lines.append("%s [%s] stream_id=s%d | encode segment %d of s%d bitrate=%d ok" % (ts, lvl, i % 97, i, i % 97, 3000 + i % 1000))
        i += 1
    lines = lines[:n]
    while lines[-1].startswith("    ") or lines[-1].startswith("**"):
        lines.pop()  # end on a whole event
    return "".join(l + "\n" for l in lines)


def gen_log(path, lines):
    chunk = gen_chunk()
    per = chunk.count("\n")
    reps = -(-lines // per)
    with open(path, "w") as f:
        for _ in range(reps):
            f.write(chunk)
    return reps * per, os.path.getsize(path), chunk, reps


def _time_v(path):
    r = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.strip().rpartition(": ")
            if k == "Maximum resident set size (kbytes)":
                r["maxrss_kb"] = int(v)
            elif k == "User time (seconds)":
                r["user_s"] = float(v)
            elif k == "System time (seconds)":
                r["sys_s"] = float(v)
    return r


def normalise_once(tool, sink, inp, paths, out):
    """Producer reads the log on stdin; sink 'pipe' = `wc -l` reading its stdout (also
    counts the lines that came out), 'null' = /dev/null. Wall time from spawning the
    producer until producer and consumer exited."""
    argv = ["cat"] if tool == "cat" else [paths["pod"], "--normalise", "--app-format", APP_FORMAT]
    tv = os.path.join(out, "time-v.txt")
    timer = ["/usr/bin/time", "-v", "-o", tv] if os.path.exists("/usr/bin/time") else []
    with open(inp, "rb") as fin:
        t0 = time.monotonic()
        if sink == "null":
            with open(os.devnull, "wb") as fout:
                p = spawn(timer + argv, stdin=fin, stdout=fout)
                _, status, ru = os.wait4(p.pid, 0)
                p.returncode = os.waitstatus_to_exitcode(status)
            count = None
        else:
            p = spawn(timer + argv, stdin=fin, stdout=subprocess.PIPE)
            c = spawn(["wc", "-l"], stdin=p.stdout, stdout=subprocess.PIPE)
            p.stdout.close()
            _, status, ru = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(status)
            count = int(c.communicate()[0].split()[0])
            c.wait()
            kill_run(c)
        wall = time.monotonic() - t0
    kill_run(p)
    r = {"tool": tool, "sink": sink, "rc": p.returncode, "wall_s": wall, "out_lines": count}
    if timer:
        r.update(_time_v(tv))
        r["rss_from"] = "/usr/bin/time -v"
    else:
        r.update(maxrss_kb=ru.ru_maxrss, user_s=ru.ru_utime, sys_s=ru.ru_stime, rss_from="wait4")
    return r


TIME = "/usr/bin/time" if os.path.exists("/usr/bin/time") else None


def timed(argv, path):
    """Wrap argv in /usr/bin/time: a child forked from this (large) Python process would
    inherit its peak RSS into ru_maxrss; one forked from `time` does not."""
    return [TIME, "-f", "%e %U %S %M", "-o", path] + argv if TIME else argv


def read_timed(path, ru):
    """(user s, sys s, max RSS kB): CPU from wait4's rusage of `time` (it includes the
    timed command; microseconds, where `time` prints 10 ms steps), peak RSS from `time`."""
    if TIME:
        with open(path) as f:
            last = f.read().split("\n")
        vals = [l for l in last if re.match(r"^[\d.]+ [\d.]+ [\d.]+ \d+$", l)][-1].split()
        return ru.ru_utime, ru.ru_stime, int(vals[3])
    return ru.ru_utime, ru.ru_stime, ru.ru_maxrss


def bench_normalise(paths, runs, out, small, big):
    sizes = {}
    for n in (small, big):
        path = os.path.join(out, "app-%d.log" % n)
        lines, size, chunk, reps = gen_log(path, n)
        sizes[n] = {"path": path, "lines": lines, "bytes": size}
        log("generated %s: %d lines, %.1f MB" % (path, lines, size / 1e6))
    # events per chunk: a line in the app format starts one; indented and plain lines
    # continue it (DESIGN.md "The uniform log line"), so a stack trace is one event
    ev_chunk = len(re.findall(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \[", chunk, re.M))
    for n in sizes:
        sizes[n]["events"] = ev_chunk * (sizes[n]["lines"] // chunk.count("\n"))
        subprocess.run(["cat", sizes[n]["path"]], stdout=subprocess.DEVNULL)  # warm the page cache
    results = []
    for n, info in sizes.items():
        reps = runs if n == small else max(1, min(runs, 3))
        for i in range(reps):
            for sink in ("pipe", "null"):
                for tool in ("cat", "normalise"):
                    r = normalise_once(tool, sink, info["path"], paths, out)
                    r.update(lines=info["lines"], bytes=info["bytes"], run=i + 1)
                    r["lines_per_s"] = info["lines"] / r["wall_s"]
                    r["mb_per_s"] = info["bytes"] / 1e6 / r["wall_s"]
                    if tool == "cat":
                        r["lines_ok"] = r["out_lines"] in (None, info["lines"])
                    else:  # one event per app-format line, at most one per input line
                        r["lines_ok"] = r["out_lines"] is None or info["events"] <= r["out_lines"] <= info["lines"]
                    want = info["lines"] if tool == "cat" else info["events"]
                    r["ok"] = r["rc"] == 0 and r["lines_ok"]
                    results.append(r)
                    log("normalise %dk %-4s %-9s %.3f s %.2fM lines/s %.0f MB/s rss %s kB out=%s%s"
                        % (n // 1000, sink, tool, r["wall_s"], r["lines_per_s"] / 1e6, r["mb_per_s"],
                           r.get("maxrss_kb"), r["out_lines"], "" if r["ok"] else " FAILED (want %d)" % want))
    verify = {n: verify_normalise(paths, info) for n, info in sizes.items()}
    summary = []
    for n, info in sizes.items():
        for sink in ("pipe", "null"):
            row = {"lines": info["lines"], "bytes": info["bytes"], "events": info["events"], "sink": sink}
            for tool in ("cat", "normalise"):
                rs = [r for r in results if r["lines"] == info["lines"] and r["sink"] == sink and r["tool"] == tool]
                row[tool] = {"runs": len(rs), "ok": sum(r["ok"] for r in rs),
                             "wall_s": med([r["wall_s"] for r in rs]),
                             "cpu_s": med([r.get("user_s", 0) + r.get("sys_s", 0) for r in rs]),
                             "lines_per_s": med([r["lines_per_s"] for r in rs]),
                             "mb_per_s": med([r["mb_per_s"] for r in rs]),
                             "maxrss_kb": med([r.get("maxrss_kb") for r in rs])}
            row["slowdown"] = row["normalise"]["wall_s"] / row["cat"]["wall_s"]
            summary.append(row)
    return {"summary": summary, "runs": results, "events_per_chunk": ev_chunk, "verify": verify}


def verify_normalise(paths, info):
    """Unmeasured pass: every input line must come out, as an event or inside one (a
    multi-line event's message keeps its lines joined by \n); events that start with a
    continuation line were split from the event they belong to."""
    fin = open(info["path"], "rb")
    p = spawn([paths["pod"], "--normalise", "--app-format", APP_FORMAT], stdin=fin, stdout=subprocess.PIPE)
    events = lines = split = 0
    for raw in p.stdout:  # streamed: this process stays small
        e = json.loads(raw)
        events += 1
        lines += 1 + e["msg"].count("\n")
        if e["msg"].startswith(("    ", "** ", "progress ")):
            split += 1
    p.stdout.close()
    kill_run(p)
    fin.close()
    r = {"input_lines": info["lines"], "lines_out": lines, "events_out": events,
         "events_expected": info["events"], "split_events": split,
         "no_line_lost": lines == info["lines"]}
    log("verify %d lines: %s" % (info["lines"], r))
    return r


def callgrind_normalise(paths, lines, out):
    """Instructions per input line under `valgrind --tool=callgrind` (the normaliser on
    the generated log, JSON out to /dev/null; the same for `cat`), and the output checked:
    the count does not depend on the machine's load, wall time does."""
    path = os.path.join(out, "app-%d.log" % lines)
    if not os.path.exists(path):
        gen_log(path, lines)
    with open(path, "rb") as f:
        n = sum(1 for _ in f)
    res = {"lines": n, "command": {}}
    for tool, argv in (("normalise", [paths["pod"], "--normalise", "--app-format", APP_FORMAT]),
                       ("cat", ["cat"])):
        cg = os.path.join(out, "callgrind.%s" % tool)
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + cg] + argv
        with open(path, "rb") as fin, open(os.devnull, "wb") as fout:
            p = subprocess.run(cmd, stdin=fin, stdout=fout, stderr=subprocess.PIPE, text=True)
        m = re.search(r"Collected : (\d+)", p.stderr)
        if p.returncode != 0 or not m:
            raise RuntimeError("callgrind %s failed: %s" % (tool, p.stderr[-400:]))
        res[tool] = {"instructions": int(m.group(1)), "per_line": int(m.group(1)) / n}
        res["command"][tool] = " ".join(cmd) + " < " + os.path.basename(path) + " > /dev/null"
        log("callgrind %s: %.0f instructions per line" % (tool, res[tool]["per_line"]))
    return res


def fmt_callgrind(res):
    rows = [("log", "tool", "instructions", "per line")]
    for tool in ("normalise", "cat"):
        rows.append(("%.1fM lines" % (res["lines"] / 1e6),
                     "relrun-pod --normalise" if tool == "normalise" else "cat",
                     "{:,}".format(res[tool]["instructions"]),
                     ("%.0f" if res[tool]["per_line"] >= 10 else "%.2f") % res[tool]["per_line"]))
    return table(rows)


def fmt_normalise(res):
    rows = [("log", "sink", "tool", "runs ok", "wall (median)", "lines/s", "MB/s", "CPU s",
             "peak RSS", "normalise / cat")]
    for row in res["summary"]:
        for tool in ("cat", "normalise"):
            x = row[tool]
            rows.append(("%.1fM lines, %.0f MB" % (row["lines"] / 1e6, row["bytes"] / 1e6),
                         "pipe → wc -l" if row["sink"] == "pipe" else "/dev/null",
                         "cat" if tool == "cat" else "relrun-pod --normalise",
                         "%d/%d" % (x["ok"], x["runs"]), "%.3f s" % x["wall_s"],
                         "%.2fM" % (x["lines_per_s"] / 1e6), "%.0f" % x["mb_per_s"],
                         "%.2f" % x["cpu_s"], _mb(x["maxrss_kb"]),
                         "%.2fx" % row["slowdown"] if tool == "normalise" else ""))
    return table(rows)


# ------------------------------------------------------------------ 3. coordinator

KUBECTL_SCRIPT = """#!/bin/bash
# What a user writes today with the manifest `relrun render` prints (fixed name).
kubectl create -f job.yaml
kubectl logs -f job/%(name)s
kubectl wait --for=condition=complete job/%(name)s
"""

TASK_LINES = ["encode start {id}", "encoder settings:", "segment 3 of {id} arrived late",
              "progress {id} 50%", "uploader for {id} running", "encode done {id}"]


def coord_flags(extra=()):
    return ["--image", "live-stream:bench", "--pod-image", "relrun-pod:bench",
            "--release", "/app/bin/live_stream", "--app-format", APP_FORMAT] + list(extra)


def image_roots(paths, tmp):
    app = os.path.join(tmp, "live-stream")
    os.makedirs(app)
    os.symlink(paths["rel"], os.path.join(app, "app"))
    pod = os.path.join(tmp, "relrun-pod")
    os.makedirs(pod)
    os.symlink(paths["pod"], os.path.join(pod, "relrun-pod"))
    return {"live-stream:bench": app, "relrun-pod:bench": pod}


def count_task_lines(text, tid):
    """How often each of the task's log messages appears in the client's output."""
    return [text.count(m.format(id=tid)) for m in TASK_LINES]


def client_once(variant, sim, paths, out, i):
    tid = "k%d" % i
    expr = 'LiveStream.run("%s", sleep: 200)' % tid
    env = dict(os.environ, HOME=sim.kube_home, KUBECACHEDIR=os.path.join(sim.kube_home, "cache"))
    env.pop("KUBECONFIG", None)
    if variant == "kubectl":
        name = "bench-kubectl-%d-%s" % (i, uuid.uuid4().hex[:5])
        y = subprocess.run([paths["relrun"], "render"] + coord_flags() + [expr], capture_output=True,
                           text=True, check=True).stdout
        y = y.replace("generateName: relrun-live-stream-run-", "name: " + name)
        d = os.path.join(out, name)
        os.makedirs(d)
        with open(os.path.join(d, "job.yaml"), "w") as f:
            f.write(y)
        with open(os.path.join(d, "run.sh"), "w") as f:
            f.write(KUBECTL_SCRIPT % {"name": name})
        env["KUBECONFIG"] = sim.kubeconfig
        argv, cwd = ["/bin/bash", os.path.join(d, "run.sh")], d
    else:
        argv, cwd = [paths["relrun"], "--kubeconfig", sim.kubeconfig, "run"] + coord_flags() + [expr], out
    fo = tempfile.TemporaryFile(dir=out)
    tpath = os.path.join(out, "time-%s-%d.txt" % (variant, i))
    t0 = time.monotonic()
    p = spawn(timed(argv, tpath), cwd=cwd, env=env, stdout=fo, stderr=subprocess.STDOUT)
    tree = TreeSampler(p.pid, None, skip_roots=bool(TIME), uss=True)
    tree.start()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    user, sys_, maxrss = read_timed(tpath, ru)
    tree.stop()
    kill_run(p, tree.member_list())
    fo.seek(0)
    text = fo.read().decode("utf-8", "replace")
    fo.close()
    counts = count_task_lines(text, tid)
    r = {"variant": variant, "rc": p.returncode, "wall_s": wall, "cpu_s": user + sys_,
         "user_s": user, "sys_s": sys_, "maxrss_kb": maxrss,
         "tree_peak_rss_kb": max((s[1] for s in tree.samples), default=None),
         "tree_peak_uss_kb": max((s[4] for s in tree.samples), default=None),
         "procs": len(tree.members) - len(tree.skip), "line_counts": counts,
         "ok": p.returncode == 0 and counts == [1] * len(TASK_LINES)}
    if not r["ok"]:
        r["tail"] = text[-3000:]
    return r


def concurrent_batch(sim, paths, out, n):
    """n `relrun run` at once; every 10th task exits 7 (exit({:shutdown, 7})), the others
    run LiveStream.run with sleep: 0. Each must exit with its task's code and print each of
    its task's log lines exactly once."""
    global _mem0
    _mem0 = None
    _mem_available_kb()  # this batch's baseline
    env = dict(os.environ)
    env.pop("KUBECONFIG", None)
    procs = {}
    t0 = time.monotonic()
    for i in range(n):
        tid = "c%d" % i
        if i % 10 == 9:
            expr, want = "LiveStream.exit_with(7)", 7
        else:
            expr, want = 'LiveStream.run("%s", sleep: 0)' % tid, 0
        fo = tempfile.TemporaryFile(dir=out)
        argv = [paths["relrun"], "--kubeconfig", sim.kubeconfig, "run", "-o", "json"] + \
            coord_flags(["--ready-timeout", "600s"]) + [expr]
        tpath = os.path.join(out, "time-c%d.txt" % i)
        p = spawn(timed(argv, tpath), cwd=out, env=env, stdout=fo, stderr=subprocess.PIPE)
        procs[p.pid] = {"p": p, "fo": fo, "tid": tid, "want": want, "i": i, "tpath": tpath}
    t_spawned = time.monotonic() - t0
    tree = TreeSampler(next(iter(procs)), None, interval=0.1, more_roots=list(procs)[1:],
                       skip_roots=bool(TIME), uss=True)
    tree.start()
    mem_min = _mem_available_kb()
    pending = set(procs)
    deadline = time.monotonic() + 480
    while pending and time.monotonic() < deadline:
        for pid in list(pending):
            rpid, status, ru = os.wait4(pid, os.WNOHANG)
            if rpid:
                x = procs[pid]
                x["p"].returncode = os.waitstatus_to_exitcode(status)
                x["t"] = time.monotonic() - t0
                x["ru"] = read_timed(x["tpath"], ru)
                pending.discard(pid)
        mem_min = min(mem_min, _mem_available_kb())
        time.sleep(0.05)
    wall = time.monotonic() - t0
    tree.stop()
    for pid in pending:
        kill_run(procs[pid]["p"])
    results = []
    for pid, x in procs.items():
        p = x["p"]
        x["fo"].seek(0)
        text = x["fo"].read().decode("utf-8", "replace")
        x["fo"].close()
        err = p.stderr.read().decode("utf-8", "replace") if p.returncode is not None else ""
        kill_run(p)
        msgs = []
        for line in text.splitlines():  # the task's own lines: src app (or rpc)
            try:
                e = json.loads(line)
            except ValueError:
                msgs.append(line)
                continue
            if e.get("src") != "relrun":
                msgs.append(e.get("msg", ""))
        counts, merged = [], []
        if x["want"] == 0:  # each task line once, in an event of its own or not
            for t in TASK_LINES:
                t = t.format(id=x["tid"])
                counts.append(sum(m.count(t) for m in msgs))
                merged.append(sum(1 for m in msgs if t in m and not m.startswith(t)))
        ok_code = p.returncode == x["want"]
        ok_lines = counts == [1] * len(counts)
        r = {"i": x["i"], "rc": p.returncode, "want": x["want"], "t_s": x.get("t"),
             "cpu_s": (x["ru"][0] + x["ru"][1]) if "ru" in x else None,
             "maxrss_kb": x["ru"][2] if "ru" in x else None,
             "line_counts": counts, "merged": sum(merged), "ok": ok_code and ok_lines}
        if not r["ok"] or r["merged"]:
            r["stderr"] = err[-1500:]
            r["output"] = text[-12000:]
        results.append(r)
    done = [r for r in results if r["rc"] is not None]
    s = {"n": n, "wall_s": round(wall, 1), "spawn_s": round(t_spawned, 2),
         "completed": len(done), "exit_code_right": sum(r["rc"] == r["want"] for r in results),
         "lines_complete": sum(r["line_counts"] == [1] * len(r["line_counts"]) for r in results if r["want"] == 0),
         "tasks_with_lines": sum(1 for r in results if r["want"] == 0),
         "ok": sum(r["ok"] for r in results),
         "client_cpu_s_total": round(sum(r["cpu_s"] or 0 for r in results), 2),
         "client_cpu_s_median": med([r["cpu_s"] for r in results]),
         "client_maxrss_kb_median": med([r["maxrss_kb"] for r in results]),
         "clients_peak_rss_sum_kb": max((x[1] for x in tree.samples), default=None),
         "clients_peak_uss_sum_kb": max((x[4] for x in tree.samples), default=None),
         "machine_mem_used_peak_mb": round((_mem_available_kb(at_start=True) - mem_min) / 1024),
         "finish_s_median": med([r["t_s"] for r in results]), "finish_s_max": max((r["t_s"] or 0) for r in results),
         "merged_tasks": sum(1 for r in results if r.get("merged")),
         "failures": [r for r in results if not r["ok"] or r.get("merged")][:8]}
    return s


_mem0 = None


def _mem_available_kb(at_start=False):
    global _mem0
    if at_start and _mem0 is not None:
        return _mem0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                v = int(line.split()[1])
                if _mem0 is None:
                    _mem0 = v
                return v


def bench_coord(paths, runs, out, concurrent):
    from simlib import Sim
    ensure_epmd(paths["build"])
    imgs = os.path.join(out, "images")
    os.makedirs(imgs)
    res = {}
    with Sim(tls=True, images=image_roots(paths, imgs)) as sim:
        # warm kubectl's discovery cache and the page cache, unmeasured (a user's second run)
        client_once("kubectl", sim, paths, out, 0)
        client_once("relrun", sim, paths, out, 0)
        per = {"kubectl": [], "relrun": []}
        for i in range(runs):
            for v in ("kubectl", "relrun"):
                r = client_once(v, sim, paths, out, i + 1)
                per[v].append(r)
                log("coord run %d %-7s rc=%s wall=%.2f s cpu=%.3f s maxrss=%d kB tree-peak=%s kB lines=%s"
                    % (i + 1, v, r["rc"], r["wall_s"], r["cpu_s"], r["maxrss_kb"], r["tree_peak_rss_kb"],
                       r["line_counts"]))
                if not r["ok"]:
                    log("  FAILED:", r.get("tail", ""))
        summary = {}
        for v, rs in per.items():
            summary[v] = {"runs": len(rs), "ok": sum(r["ok"] for r in rs)}
            for k in ("wall_s", "cpu_s", "user_s", "sys_s", "maxrss_kb", "tree_peak_rss_kb",
                      "tree_peak_uss_kb", "procs"):
                summary[v][k] = med([r[k] for r in rs])
        for k in ("cpu_s", "maxrss_kb", "tree_peak_rss_kb", "tree_peak_uss_kb", "wall_s"):
            if summary["relrun"][k]:
                summary["relrun"][k + "_factor"] = round(summary["kubectl"][k] / summary["relrun"][k], 2)
        res["summary"] = summary
        res["runs"] = per
        if concurrent:
            res["concurrent"] = []
            n = concurrent
            while n >= 1:
                log("concurrent: %d x relrun run ..." % n)
                c = concurrent_batch(sim, paths, out, n)
                log("concurrent %d: %s" % (n, {k: v for k, v in c.items() if k != "failures"}))
                for f in c["failures"]:
                    log("  failure:", f)
                res["concurrent"].append(c)
                if c["ok"] == n or n < 10:
                    break
                n //= 2  # report what happened, then find the largest batch that works
    return res


def fmt_coord(res):
    s = res["summary"]
    rows = [("client, per task", "runs ok", "wall", "CPU (user+sys)", "peak RSS (largest process)",
             "peak RSS (sum of the client's processes)", "peak private memory (USS sum)", "processes")]
    for v, label in (("kubectl", "kubectl script (create, logs -f, wait)"), ("relrun", "relrun run")):
        x = s[v]
        rows.append((label, "%d/%d" % (x["ok"], x["runs"]), "%.2f s" % x["wall_s"],
                     "%.0f ms" % (x["cpu_s"] * 1000), _mb(x["maxrss_kb"]), _mb(x["tree_peak_rss_kb"]),
                     _mb(x["tree_peak_uss_kb"]), "%g" % x["procs"]))
    r = s["relrun"]
    rows.append(("kubectl / relrun", "", "%.2fx" % (s["kubectl"]["wall_s"] / r["wall_s"]),
                 "%.1fx" % r.get("cpu_s_factor", 0), "%.1fx" % r.get("maxrss_kb_factor", 0),
                 "%.1fx" % r.get("tree_peak_rss_kb_factor", 0), "%.1fx" % r.get("tree_peak_uss_kb_factor", 0), ""))
    txt = table(rows)
    if res.get("concurrent"):
        rows = [("concurrent relrun run", "completed", "exit code right", "all task lines once",
                 "tasks with a line glued to another event",
                 "wall", "finish (median / max)", "client CPU total", "client RSS (median each / peak sum)",
                 "client private memory (peak sum)",
                 "machine memory used at peak")]
        for c in res["concurrent"]:
            rows.append((str(c["n"]), "%d/%d" % (c["completed"], c["n"]),
                         "%d/%d" % (c["exit_code_right"], c["n"]),
                         "%d/%d" % (c["lines_complete"], c["tasks_with_lines"]),
                         str(c.get("merged_tasks", 0)), "%.1f s" % c["wall_s"],
                         "%.1f / %.1f s" % (c["finish_s_median"] or 0, c["finish_s_max"]),
                         "%.2f s" % c["client_cpu_s_total"],
                         "%s / %s" % (_mb(c["client_maxrss_kb_median"]), _mb(c["clients_peak_rss_sum_kb"])),
                         _mb(c["clients_peak_uss_sum_kb"]),
                         "%d MB" % c["machine_mem_used_peak_mb"]))
        txt += "\n\n" + table(rows)
    return txt


# ------------------------------------------------------------------ 4. eval latency

EVAL_EXPR = "Enum.sum(1..100)"
EVAL_TASK = "Process.sleep(600_000)"


def bench_eval(paths, runs, out):
    """One running task in the simulator; the same expression evaluated on its node by
    relrun eval, by kubectl exec of relrun-pod --eval, and by kubectl exec of the
    release's own bin/live_stream rpc, interleaved run by run."""
    from simlib import Sim
    ensure_epmd(paths["build"])
    imgs = os.path.join(out, "images")
    os.makedirs(imgs)
    res = {"expr": EVAL_EXPR}
    with Sim(tls=True, images=image_roots(paths, imgs)) as sim:
        env = dict(os.environ, HOME=sim.kube_home, KUBECACHEDIR=os.path.join(sim.kube_home, "cache"))
        env.pop("KUBECONFIG", None)
        relrun = [paths["relrun"], "--kubeconfig", sim.kubeconfig]
        r = subprocess.run(relrun + ["run", "--detach"] + coord_flags() + [EVAL_TASK],
                           capture_output=True, text=True, env=env, check=True)
        job = r.stdout.split()[0].split("/")[-1]
        pod = None
        for _ in range(600):
            pods = sim.get("/api/v1/namespaces/default/pods?labelSelector="
                           "batch.kubernetes.io%%2Fjob-name%%3D%s" % job)[2]["items"]
            if pods:
                pod = pods[0]["metadata"]["name"]
                e = subprocess.run(relrun + ["eval", job, EVAL_EXPR], capture_output=True,
                                   text=True, env=env)
                if e.returncode == 0:
                    break
            time.sleep(0.2)
        else:
            sys.exit("eval: the task never became reachable")
        kubectl = ["kubectl", "--kubeconfig", sim.kubeconfig, "exec", pod, "--container", "task",
                   "--"]
        variants = {
            "relrun-eval": relrun + ["eval", job, EVAL_EXPR],
            "kubectl-exec-relrun-pod": kubectl + ["/relrun/relrun-pod", "--release",
                                                   "/app/bin/live_stream", "--eval", EVAL_EXPR],
            "kubectl-exec-rpc": kubectl + ["/app/bin/live_stream", "rpc",
                                           "IO.inspect(%s)" % EVAL_EXPR],
        }
        # the relrun-pod path in the pod: the Job's own command
        cmd = sim.get("/api/v1/namespaces/default/pods/%s" % pod)[2]["spec"]["containers"][0]["command"]
        variants["kubectl-exec-relrun-pod"][len(kubectl)] = cmd[0]
        for v in variants.values():  # warm kubectl's discovery cache, unmeasured
            subprocess.run(v, capture_output=True, env=env)
        per = {v: [] for v in variants}
        for i in range(runs):
            for v, argv in variants.items():
                tpath = os.path.join(out, "time-eval-%s-%d.txt" % (v, i))
                fo = tempfile.TemporaryFile(dir=out)
                t0 = time.monotonic()
                p = spawn(timed(argv, tpath), env=env, stdout=fo, stderr=subprocess.STDOUT)
                _, status, ru = os.wait4(p.pid, 0)
                wall = time.monotonic() - t0
                p.returncode = os.waitstatus_to_exitcode(status)
                user, sys_, _ = read_timed(tpath, ru)
                fo.seek(0)
                text = fo.read()
                fo.close()
                ok = p.returncode == 0 and "5050" in text.decode("utf-8", "replace")
                per[v].append({"wall_s": wall, "cpu_s": user + sys_, "ok": ok, "rc": p.returncode})
                log("eval run %d %-24s rc=%s wall=%.3f s ok=%s" % (i + 1, v, p.returncode, wall, ok))
        subprocess.run(relrun + ["cancel", job], capture_output=True, env=env)
        summary = {}
        for v, rs in per.items():
            summary[v] = {"runs": len(rs), "ok": sum(r["ok"] for r in rs),
                          "wall_s": med([r["wall_s"] for r in rs]),
                          "wall_s_min": min(r["wall_s"] for r in rs),
                          "wall_s_max": max(r["wall_s"] for r in rs),
                          "client_cpu_s": med([r["cpu_s"] for r in rs])}
        res["summary"] = summary
        res["runs"] = per
    return res


def fmt_eval(res):
    s = res["summary"]
    base = s["kubectl-exec-rpc"]["wall_s"]
    rows = [("on the same running task: %s" % res["expr"], "runs ok", "wall (median)",
             "min / max", "client CPU", "rpc / this")]
    for v, label in (("kubectl-exec-rpc", "kubectl exec ... bin/live_stream rpc (baseline)"),
                     ("kubectl-exec-relrun-pod", "kubectl exec ... relrun-pod --eval"),
                     ("relrun-eval", "relrun eval JOB")):
        x = s[v]
        rows.append((label, "%d/%d" % (x["ok"], x["runs"]), "%.0f ms" % (x["wall_s"] * 1000),
                     "%.0f / %.0f ms" % (x["wall_s_min"] * 1000, x["wall_s_max"] * 1000),
                     "%.0f ms" % (x["client_cpu_s"] * 1000), "%.2fx" % (base / x["wall_s"])))
# ------------------------------------------------------------------ 3b. following a big log

# A pod that prints N relrun-pod events as fast as it can (after DELAY_S, so that the
# follower is attached before the first line when following live).
FOLLOW_SCRIPT = r"""#!/bin/sh
sleep "${DELAY_S:-0}"
seq 1 "${LINES_N:-1000}" | sed 's|.*|{"ts":"2026-12-02T07:00:00.000Z","level":"info","src":"app","msg":"bench line & of the log","node":"live_stream@pod"}|'
exit 0
"""
FOLLOW_VARIANTS = ["kubectl", "relrun-json", "relrun-text"]


def follow_before(path):
    """--relrun-before: an earlier relrun build's followers run beside this one's, interleaved
    run by run (a change's effect measured in one run of the bench)."""
    if not os.access(path, os.X_OK):
        sys.exit("bench: --relrun-before %s: not an executable" % path)
    FOLLOW_VARIANTS.extend(["relrun-json-before", "relrun-text-before"])


def _proc_cpu_s(pid):
    """utime+stime of a live process (the simulator) in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")


def follower_argv(variant, sim, paths, name):
    if variant == "kubectl":
        return ["kubectl", "--kubeconfig", sim.kubeconfig, "logs", "-f", "job/" + name]
    relrun = paths["relrun_before"] if variant.endswith("-before") else paths["relrun"]
    argv = [relrun, "--kubeconfig", sim.kubeconfig, "logs", name, "-f"]
    return argv + (["-o", "json"] if variant.startswith("relrun-json") else [])


def follow_start(sim, paths, lines, delay):
    env = dict(os.environ)
    env.pop("KUBECONFIG", None)
    p = subprocess.run([paths["relrun"], "--kubeconfig", sim.kubeconfig, "run", "--image", "lines:bench",
                        "--release", "/app/bin/x", "--inject", "none", "--ttl", "none",
                        "--env", "LINES_N=%d" % lines, "--env", "DELAY_S=%s" % delay, "--detach", "A.b()"],
                       capture_output=True, text=True, env=env, check=True)
    return p.stdout.strip()


def follow_once(variant, sim, paths, out, name, lines):
    env = dict(os.environ, HOME=sim.kube_home, KUBECACHEDIR=os.path.join(sim.kube_home, "cache"),
               NO_COLOR="1")
    env.pop("KUBECONFIG", None)
    fo = tempfile.TemporaryFile(dir=out)
    tpath = os.path.join(out, "time-follow-%s.txt" % variant)
    sim_cpu0 = _proc_cpu_s(sim.proc.pid)
    t0 = time.monotonic()
    p = spawn(timed(follower_argv(variant, sim, paths, name), tpath), cwd=out, env=env, stdout=fo,
              stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    sim_cpu = _proc_cpu_s(sim.proc.pid) - sim_cpu0
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode("utf-8", "replace")
    kill_run(p)
    user, sys_, maxrss = read_timed(tpath, ru)
    fo.seek(0)
    got = 0
    while True:
        b = fo.read(1 << 20)
        if not b:
            break
        got += b.count(b"\n")
    fo.close()
    r = {"variant": variant, "rc": p.returncode, "wall_s": wall, "cpu_s": user + sys_, "user_s": user,
         "sys_s": sys_, "maxrss_kb": maxrss, "lines": got, "ok": p.returncode == 0 and got == lines,
         "sim_cpu_s": sim_cpu}
    if not r["ok"]:
        r["stderr"] = err[-2000:]
    return r


def paired_ratio(rs, base):
    """The median over runs of one variant's CPU over another's in the same run."""
    r = [a["cpu_s"] / b["cpu_s"] for a, b in zip(rs, base) if a["ok"] and b["ok"] and b["cpu_s"]]
    return med(r) if r else None


def bench_follow(paths, runs, out, lines):
    """relrun logs -f (as -o json and as text) against kubectl logs -f, on a Job whose pod
    prints `lines` lines: live (a Job of its own per follower, attached before the first
    line) and replayed (the same finished Job for all)."""
    from simlib import Sim
    img = os.path.join(out, "lines-image")
    os.makedirs(os.path.join(img, "usr", "local", "bin"))
    with open(os.path.join(img, "usr", "local", "bin", "relrun-pod"), "w") as f:
        f.write(FOLLOW_SCRIPT)
    os.chmod(os.path.join(img, "usr", "local", "bin", "relrun-pod"), 0o755)
    res = {"lines": lines, "live": {v: [] for v in FOLLOW_VARIANTS},
           "replay": {v: [] for v in FOLLOW_VARIANTS}}
    kw = {"log_lines": lines + 1000} if lines + 1000 > 200000 else {}  # an older simlib has no log_lines
    with Sim(tls=True, images={"lines:bench": img}, **kw) as sim:
        warm = follow_start(sim, paths, 10, 0)  # kubectl's discovery cache, unmeasured
        for v in FOLLOW_VARIANTS:
            follow_once(v, sim, paths, out, warm, 10)
        for i in range(runs):
            last = None
            for v in FOLLOW_VARIANTS:
                name = follow_start(sim, paths, lines, 2)
                r = follow_once(v, sim, paths, out, name, lines)
                res["live"][v].append(r)
                log("follow live   run %d %-11s rc=%s wall=%.2f s cpu=%.3f s maxrss=%d kB lines=%d sim-cpu=%.2f s"
                    % (i + 1, v, r["rc"], r["wall_s"], r["cpu_s"], r["maxrss_kb"], r["lines"], r["sim_cpu_s"]))
                if not r["ok"]:
                    log("  FAILED:", r.get("stderr", ""))
                last = name
            for v in FOLLOW_VARIANTS:
                r = follow_once(v, sim, paths, out, last, lines)
                res["replay"][v].append(r)
                log("follow replay run %d %-11s rc=%s wall=%.2f s cpu=%.3f s maxrss=%d kB lines=%d sim-cpu=%.2f s"
                    % (i + 1, v, r["rc"], r["wall_s"], r["cpu_s"], r["maxrss_kb"], r["lines"], r["sim_cpu_s"]))
                if not r["ok"]:
                    log("  FAILED:", r.get("stderr", ""))
    summary = {}
    for mode in ("live", "replay"):
        summary[mode] = {}
        for v, rs in res[mode].items():
            x = {"runs": len(rs), "ok": sum(r["ok"] for r in rs)}
            for k in ("wall_s", "cpu_s", "user_s", "sys_s", "maxrss_kb", "sim_cpu_s"):
                x[k] = med([r[k] for r in rs])
            x["cpu_us_per_line"] = x["cpu_s"] * 1e6 / lines if x["cpu_s"] is not None else None
            x["sim_lines_per_s"] = lines / x["wall_s"] if x["wall_s"] else None
            # The runs interleave, so the ratio within each run cancels the machine's drift
            # from run to run (kubectl's CPU alone moves by 1.5x between runs here).
            x["cpu_vs_kubectl_paired"] = paired_ratio(rs, res[mode]["kubectl"])
            if v + "-before" in res[mode]:
                x["cpu_vs_before_paired"] = paired_ratio(rs, res[mode][v + "-before"])
            summary[mode][v] = x
    res["summary"] = summary
    return res


def bench_sim_tasks(paths, out, sizes):
    """The simulator's own CPU per task with n tasks at once: n `relrun run` of a Job whose
    pod prints 20 lines (each client watches its Job and pod and follows the log)."""
    from simlib import Sim
    img = os.path.join(out, "lines-image-tasks")
    os.makedirs(os.path.join(img, "usr", "local", "bin"))
    with open(os.path.join(img, "usr", "local", "bin", "relrun-pod"), "w") as f:
        f.write(FOLLOW_SCRIPT)
    os.chmod(os.path.join(img, "usr", "local", "bin", "relrun-pod"), 0o755)
    env = dict(os.environ, NO_COLOR="1")
    env.pop("KUBECONFIG", None)
    res = []
    for n in sizes:
        with Sim(tls=True, images={"lines:bench": img}) as sim:
            cpu0 = _proc_cpu_s(sim.proc.pid)
            t0 = time.monotonic()
            procs = []
            for i in range(n):
                fo = tempfile.TemporaryFile(dir=out)
                argv = [paths["relrun"], "--kubeconfig", sim.kubeconfig, "run", "--image", "lines:bench",
                        "--release", "/app/bin/x", "--inject", "none", "--ready-timeout", "600s",
                        "--env", "LINES_N=20", "--env", "DELAY_S=1", "A.b()"]
                procs.append((spawn(argv, cwd=out, env=env, stdout=fo, stderr=subprocess.DEVNULL), fo))
            ok = 0
            for p, fo in procs:
                try:
                    rc = p.wait(timeout=max(60, 900 - (time.monotonic() - t0)))
                except subprocess.TimeoutExpired:
                    rc = None
                kill_run(p)
                fo.seek(0)
                ok += rc == 0 and fo.read().count(b" of the log") == 20
                fo.close()
            wall = time.monotonic() - t0
            cpu = _proc_cpu_s(sim.proc.pid) - cpu0
        r = {"n": n, "ok": ok, "wall_s": round(wall, 1), "sim_cpu_s": round(cpu, 2),
             "sim_cpu_ms_per_task": round(cpu * 1000 / n, 1)}
        log("sim tasks: %s" % r)
        res.append(r)
    return res


def fmt_sim_tasks(res):
    rows = [("concurrent tasks", "ok", "wall", "simulator CPU", "simulator CPU per task")]
    for r in res:
        rows.append((str(r["n"]), "%d/%d" % (r["ok"], r["n"]), "%.1f s" % r["wall_s"],
                     "%.2f s" % r["sim_cpu_s"], "%.1f ms" % r["sim_cpu_ms_per_task"]))
    return table(rows)


def _ratio(x):
    return "%.3fx" % x if x is not None else "—"


def fmt_follow(res):
    n = res["lines"]
    rows = [("follower (%d lines)" % n, "mode", "runs ok", "wall", "CPU (user+sys)", "CPU / line",
             "peak RSS", "wall vs kubectl", "CPU vs kubectl", "CPU vs kubectl, paired",
             "CPU vs before, paired", "simulator CPU", "lines/s")]
    for mode in ("live", "replay"):
        s = res["summary"][mode]
        k = s["kubectl"]
        for v in FOLLOW_VARIANTS:
            x = s[v]
            rows.append((v if v != "kubectl" else "kubectl logs -f", mode, "%d/%d" % (x["ok"], x["runs"]),
                         "%.2f s" % x["wall_s"], "%.3f s" % x["cpu_s"], "%.2f µs" % x["cpu_us_per_line"],
                         _mb(x["maxrss_kb"]),
                         "%.2fx" % (x["wall_s"] / k["wall_s"]), "%.2fx" % (x["cpu_s"] / k["cpu_s"]),
                         _ratio(x["cpu_vs_kubectl_paired"]), _ratio(x.get("cpu_vs_before_paired")),
                         "%.2f s" % x["sim_cpu_s"], "%.0f" % x["sim_lines_per_s"]))
    return table(rows)


# ------------------------------------------------------------------ each


def bench_each(paths, runs, out, lines):
    """What following a fan-out costs the coordinator: relrun run of one task logging
    `lines` lines, against run --each of the same task as one index and split over four
    indexes (the same lines in total, four pods' logs at once, each line prefixed),
    -o json to a file, interleaved run by run; relrun's own wall time and CPU."""
    from simlib import Sim
    ensure_epmd(paths["build"])
    imgs = os.path.join(out, "images")
    os.makedirs(imgs)
    q = lines // 4
    variants = {
        "single": ["LiveStream.flood(%d)" % lines],
        "each-1": ["--each", "[%d]" % lines, "LiveStream.flood($item)"],
        "each-4": ["--each", json.dumps([q] * 4), "LiveStream.flood($item)"],
    }
    res = {"lines": lines}
    with Sim(tls=True, images=image_roots(paths, imgs)) as sim:
        env = dict(os.environ, NO_COLOR="1")
        env.pop("KUBECONFIG", None)
        relrun = [paths["relrun"], "--kubeconfig", sim.kubeconfig, "run"] + coord_flags(["-o", "json"])
        per = {v: [] for v in variants}
        for i in range(runs):
            for v, args in variants.items():
                tpath = os.path.join(out, "time-each-%s-%d.txt" % (v, i))
                fo = tempfile.TemporaryFile(dir=out)
                t0 = time.monotonic()
                p = spawn(timed(relrun + args, tpath), env=env, stdout=fo, stderr=subprocess.DEVNULL)
                _, status, ru = os.wait4(p.pid, 0)
                wall = time.monotonic() - t0
                rc = os.waitstatus_to_exitcode(status)
                user, sys_, rss = read_timed(tpath, ru)
                fo.seek(0)
                got = fo.read().decode("utf-8", "replace").count("flood line ")
                fo.close()
                want = lines if v != "each-4" else 4 * q
                per[v].append({"wall_s": wall, "cpu_s": user + sys_, "rss_kb": rss,
                               "ok": rc == 0 and got == want, "rc": rc, "lines": got})
                log("each run %d %-7s rc=%s wall=%.2f s cpu=%.2f s lines=%d" %
                    (i + 1, v, rc, wall, user + sys_, got))
    res["summary"] = {v: {"runs": len(rs), "ok": sum(r["ok"] for r in rs),
                          "wall_s": med([r["wall_s"] for r in rs]),
                          "cpu_s": med([r["cpu_s"] for r in rs]),
                          "rss_kb": med([r["rss_kb"] for r in rs])} for v, rs in per.items()}
    res["runs"] = per
    return res


def fmt_each(res):
    s = res["summary"]
    base = s["single"]["cpu_s"]
    rows = [("relrun run -o json, %d log lines in all" % res["lines"], "runs ok", "wall",
             "relrun CPU", "CPU / single", "peak RSS")]
    for v, label in (("single", "one task (baseline)"), ("each-1", "--each, one index"),
                     ("each-4", "--each, four indexes at once")):
        x = s[v]
        rows.append((label, "%d/%d" % (x["ok"], x["runs"]), "%.1f s" % x["wall_s"],
                     "%.2f s" % x["cpu_s"], "%.2fx" % (x["cpu_s"] / base if base else 0),
                     _mb(x["rss_kb"])))
    return table(rows)


# ------------------------------------------------------------------ main


def find_paths(build):
    cands = [build] if build else [os.path.join(ROOT, "build-bench"), os.path.join(ROOT, "build")]
    for b in cands:
        b = os.path.abspath(b)
        pod = os.path.join(b, "cmd", "relrun-pod", "relrun-pod")
        if os.path.exists(pod):
            return {"build": b, "pod": pod, "relrun": os.path.join(b, "cmd", "relrun", "relrun"),
                    "rel": os.path.join(b, "fixture", "rel")}
    sys.exit("no build with cmd/relrun-pod/relrun-pod in %s; build first (see bench/README.md)" % cands)


def enter_root(a, paths):
    """--root: the fixture built in that root (ctest's matrix.SUITE.fixture), and the
    harness re-run under test/roots/inroot, which binds the tree at the same paths."""
    if a.what != "inpod":
        sys.exit("--root: only for inpod (the normaliser and the coordinator do not depend on the runtime)")
    suite = os.path.basename(a.root.rstrip("/"))
    root = a.root if "/" in a.root else os.path.join(
        os.environ.get("RELRUN_ROOTS_DIR", "/var/cache/relrun/roots"), suite)
    paths["chroot"] = os.path.abspath(root)
    paths["rel"] = os.path.join(paths["build"], "fixture-" + suite, "rel")
    paths["suite"] = suite
    if not os.path.exists(os.path.join(paths["rel"], "bin", "live_stream")):
        sys.exit("no fixture release for %s in %s: build the root and the release first: "
                 "(cd %s && ctest -R 'matrix.%s.(root|fixture)')" % (suite, paths["rel"], paths["build"], suite))
    if os.environ.get("RELRUN_BENCH_IN_ROOT") == paths["chroot"]:
        return
    os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
    argv = [os.path.join(ROOT, "test", "roots", "inroot"), "--ro", ROOT, "--rw", paths["build"],
            "--rw", os.path.join(HERE, "out"), paths["chroot"], "--", sys.executable] + sys.argv
    os.environ["RELRUN_BENCH_IN_ROOT"] = paths["chroot"]
    os.execv(argv[0], argv)


def git_state():
    def git(*a):
        return subprocess.run(["git", "-C", ROOT] + list(a), capture_output=True, text=True).stdout.strip()
    return {"head": git("rev-parse", "--short", "HEAD"),
            "dirty": git("status", "--porcelain", "--", "cmd", "pkg").splitlines()}


def runtime(paths):
    """OTP and Elixir the fixture runs on (the root's with --root), as Debian packaged them."""
    p = subprocess.run(in_root(paths, ["dpkg-query", "-W", "-f", "${Package} ${Version}\\n",
                                       "erlang-base", "elixir"]), capture_output=True, text=True)
    return p.stdout.strip().replace("\n", ", ")


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpus": os.cpu_count(), "cpu": cpu, "mem_gib": round(mem, 1),
            "kernel": platform.release(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["all", "inpod", "normalise", "coord", "follow", "sim", "eval",
                                     "each"])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--build")
    ap.add_argument("--json")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--lines", type=int, default=1_000_000, help="normalise: small log size")
    ap.add_argument("--big-lines", type=int, default=4_000_000, help="normalise: large log size")
    ap.add_argument("--concurrent", type=int, default=100, help="coord: concurrent relrun runs")
    ap.add_argument("--sim-tasks", default="10,100,300",
                    help="coord/sim: concurrent task counts for the simulator's cost per task ('': skip)")
    ap.add_argument("--relrun-before", help="follow: an earlier relrun binary, followed beside this build's")
    ap.add_argument("--follow-lines", type=int, default=1_000_000,
                    help="coord/follow: lines of the log followed live and replayed (0: skip)")
    ap.add_argument("--callgrind", action="store_true",
                    help="normalise: only count instructions per line under callgrind (--lines)")
    ap.add_argument("--each-lines", type=int, default=100_000, help="each: log lines in all")
    ap.add_argument("--root", help="inpod: run the release and relrun-pod in this root of the runtime "
                    "matrix (a suite name: $RELRUN_ROOTS_DIR/SUITE, default /var/cache/relrun/roots)")
    a = ap.parse_args()
    sys.setswitchinterval(0.0005)  # probe threads timestamp within ~0.5 ms
    paths = find_paths(a.build)
    if a.relrun_before:
        follow_before(a.relrun_before)
        paths["relrun_before"] = os.path.abspath(a.relrun_before)
    if a.root:
        enter_root(a, paths)
    os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
    out = tempfile.mkdtemp(prefix="run-", dir=os.path.join(HERE, "out"))
    report = {"machine": machine(), "git": git_state(), "command": " ".join(["python3", "bench/run.py"] + sys.argv[1:]),
              "build": paths["build"], "root": paths.get("chroot"), "runtime": runtime(paths),
              "binaries_built": {k: time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(os.path.getmtime(paths[k])))
                                 for k in ("pod", "relrun")}}
    t0 = time.monotonic()
    try:
        if a.what in ("all", "inpod"):
            report["inpod"] = bench_inpod(paths, a.runs, out)
            print("\n## 1. in-pod (%s, medians of %d runs; %s)\n" % (TASK, a.runs, report["runtime"]))
            print(fmt_inpod(report["inpod"]), flush=True)
        if a.what == "normalise" and a.callgrind:
            report["normalise_callgrind"] = callgrind_normalise(paths, a.lines, out)
            print("\n## 2. log normaliser, instructions (callgrind)\n")
            print(fmt_callgrind(report["normalise_callgrind"]), flush=True)
        elif a.what in ("all", "normalise"):
            report["normalise"] = bench_normalise(paths, a.runs, out, a.lines, a.big_lines)
            print("\n## 2. log normaliser\n")
            print(fmt_normalise(report["normalise"]), flush=True)
        if a.what in ("all", "coord"):
            report["coord"] = bench_coord(paths, a.runs, out, a.concurrent)
            print("\n## 3. coordinator vs kubectl script\n")
            print(fmt_coord(report["coord"]), flush=True)
        if a.what in ("all", "eval"):
            report["eval"] = bench_eval(paths, a.runs, out)
            print("\n## 4. eval latency\n")
            print(fmt_eval(report["eval"]), flush=True)
        if a.what in ("all", "coord", "follow") and a.follow_lines:
            report["follow"] = bench_follow(paths, a.runs, out, a.follow_lines)
            print("\n## 3b. following a big log: relrun logs -f vs kubectl logs -f\n")
            print(fmt_follow(report["follow"]), flush=True)
        if a.what in ("all", "coord", "sim") and a.sim_tasks:
            report["sim_tasks"] = bench_sim_tasks(paths, out, [int(x) for x in a.sim_tasks.split(",")])
            print("\n## 3c. the simulator's own cost per task\n")
            print(fmt_sim_tasks(report["sim_tasks"]), flush=True)
        if a.what == "each":  # not in all: a fan-out's cost, measured on its own
            report["each"] = bench_each(paths, a.runs, out, a.each_lines)
            print("\n## 5. fan-out: following every index\n")
            print(fmt_each(report["each"]), flush=True)
    finally:
        report["wall_s"] = round(time.monotonic() - t0, 1)
        path = a.json or os.path.join(out, "results.json")
        with open(path, "w") as f:
            json.dump(report, f, indent=1)
        log("raw results: %s (%.0f s)" % (path, report["wall_s"]))
        if not a.keep:
            for name in os.listdir(out):
                if name != "results.json":
                    p = os.path.join(out, name)
                    shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)


if __name__ == "__main__":
    main()
