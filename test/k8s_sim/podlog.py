"""GET pods/{name}/log: follow, timestamps, sinceTime, sinceSeconds, tailLines, limitBytes,
container, previous; the real API's 400 answers for containers that have not started; the
cut_log fault."""

import bisect
import time

from . import resources as R
from .errors import ApiError

# Lines in one HTTP chunk of a followed log (a real kubelet sends what it has
# read, up to its buffer)
BATCH_LINES = 2048


def _bad(msg):
    return ApiError(400, msg, "BadRequest")


def _pick_container(pod, q):
    spec = pod["spec"]
    names = [c["name"] for c in spec.get("containers") or []]
    init = [c["name"] for c in spec.get("initContainers") or []]
    name = q.get("container")
    if not name:
        default = (pod["metadata"].get("annotations") or {}).get("kubectl.kubernetes.io/default-container")
        if default:
            name = default
        elif len(names) == 1:
            name = names[0]
        else:
            raise _bad("a container name must be specified for pod %s, choose one of: [%s] or one "
                       "of the init containers: [%s]" % (pod["metadata"]["name"], " ".join(names),
                                                         " ".join(init)))
    if name not in names and name not in init:
        raise _bad("container %s is not valid for pod %s" % (name, pod["metadata"]["name"]))
    return name


def _waiting_message(cname, pod, waiting):
    reason = waiting.get("reason") or "ContainerCreating"
    pname = pod["metadata"]["name"]
    if reason == "ErrImagePull":
        tail = "trying and failing to pull image"
    elif reason == "ImagePullBackOff":
        img = next((c.get("image") for c in pod["spec"].get("containers", []) +
                    pod["spec"].get("initContainers", []) if c["name"] == cname), "")
        tail = 'image "%s" can\'t be pulled' % img
    else:
        tail = reason
    return 'container "%s" in pod "%s" is waiting to start: %s' % (cname, pname, tail)


def serve_log(sim, h, ns, name):
    q = h.query
    pod = sim.store.get(R.POD, ns, name)
    cname = _pick_container(pod, q)
    if q.get("previous") in ("1", "true"):
        raise _bad('previous terminated container "%s" in pod "%s" not found' % (cname, name))
    statuses = (pod["status"].get("containerStatuses") or []) + \
        (pod["status"].get("initContainerStatuses") or [])
    cs = next((s for s in statuses if s["name"] == cname), None)
    bufs = sim.kubelet.logs_for(pod["metadata"]["uid"], cname)
    if not bufs:
        waiting = (cs or {}).get("state", {}).get("waiting") or {"reason": "ContainerCreating"}
        raise _bad(_waiting_message(cname, pod, waiting))
    buf = bufs[-1]
    follow = q.get("follow") in ("1", "true")
    stamps = q.get("timestamps") in ("1", "true")
    since_ns = None
    if q.get("sinceTime"):
        since_ns = int(R.parse_time(q["sinceTime"]) * 1e9)
    elif q.get("sinceSeconds"):
        since_ns = time.time_ns() - int(q["sinceSeconds"]) * 1_000_000_000
    tail = int(q["tailLines"]) if q.get("tailLines") not in (None, "") else None
    limit = int(q["limitBytes"]) if q.get("limitBytes") not in (None, "") else None

    def fmt(ns, texts, stamped):
        """The lines to send: no per-line work (ns is strictly increasing, so
        sinceTime is one bisect)."""
        if since_ns is not None:
            k = bisect.bisect_left(ns, since_ns)
            texts, stamped = texts[k:], stamped[k:]
        return stamped if stamps else texts

    ns0, texts0, stamped0, dropped0 = buf.snapshot()
    first = fmt(ns0, texts0, stamped0)
    if tail is not None:
        first = first[-tail:] if tail > 0 else []
    if not follow:
        data = "".join(first).encode("utf-8", "surrogateescape")
        if limit is not None:
            data = data[:limit]
        return h.send_body(200, data, "text/plain")

    cut = sim.faults.take("cut_log", h.command, h.url_path, pod=name)
    cut_after = int(cut.get("after", 0)) if cut else None
    sent = 0
    budget = [limit]

    def send(texts):
        """What is ready goes out in a few large chunks and one flush (the
        cut_log fault still counts lines)."""
        nonlocal sent
        if cut_after is not None:
            if sent >= cut_after:
                h.cut()
            texts = texts[:cut_after - sent]
        datas = []
        for i in range(0, len(texts), BATCH_LINES):
            data = "".join(texts[i:i + BATCH_LINES]).encode("utf-8", "surrogateescape")
            if budget[0] is not None:
                data = data[:budget[0]]
                budget[0] -= len(data)
            datas.append(data)
        h.chunks(datas)
        sent += len(texts)
        if cut_after is not None and sent >= cut_after:
            h.cut()

    h.start_stream("text/plain")
    if first:
        send(first)
    index = dropped0 + len(ns0)
    while budget[0] is None or budget[0] > 0:
        ns, texts, stamped, index, closed = buf.wait_from(index, 1.0)
        if ns:
            send(fmt(ns, texts, stamped))
        if closed and not ns:
            break
        if sim.store.closed or h.client_gone():
            break
    h.end_stream()
