"""Finding and killing the processes the kubelet started, including ones that left the
container's process group (daemons). Every container process gets the environment marker
K8S_SIM_CONTAINER=<sim id>/<pod uid>/<container>; children inherit it through setsid()
and double forks, so /proc/*/environ tells us who belongs to which container."""

import os
import signal

MARKER = "K8S_SIM_CONTAINER"
# Daemons every node on the machine shares: EPMD, started by whichever BEAM came first
# (often a pod's, so it carries that pod's marker). In a cluster each pod has its own;
# here killing it fails every release booting elsewhere at that moment.
SHARED = ("epmd",)


def marked_pids(prefix, spare_comms=SHARED):
    """PIDs whose marker starts with prefix (skipping processes named in spare_comms)."""
    needle = (MARKER + "=" + prefix).encode()
    out = []
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            with open("/proc/%s/environ" % d, "rb") as f:
                env = f.read()
        except OSError:
            continue
        if not any(e.startswith(needle) for e in env.split(b"\0")):
            continue
        if spare_comms:
            try:
                with open("/proc/%s/comm" % d) as f:
                    if f.read().strip() in spare_comms:
                        continue
            except OSError:
                continue
        out.append(int(d))
    return out


def kill_marked(prefix, sig=signal.SIGKILL, spare_comms=SHARED):
    pids = marked_pids(prefix, spare_comms)
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass
    return pids


def killpg(pgid, sig):
    try:
        os.killpg(pgid, sig)
        return True
    except OSError:
        return False
