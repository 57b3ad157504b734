"""core/v1 Events as the controllers record them (kubectl describe shows them; relrun
reads a Job's FailedCreate)."""

from . import resources as R


def record(store, obj, reason, message, typ="Warning", component="job-controller",
           same_reason=False):
    """An Event about obj (a stored object); the same one again counts up. With
    same_reason, one event per object and reason: a new message replaces the old
    (the job controller's FailedCreate retries, each naming another pod)."""
    meta = obj["metadata"]
    ns = meta.get("namespace") or "default"
    now = R.now_rfc3339()
    for ev in store.list(R.EVENT, ns)[0]:
        io = ev.get("involvedObject") or {}
        if io.get("uid") == meta.get("uid") and ev.get("reason") == reason and \
                (same_reason or ev.get("message") == message):
            def bump(e):
                e["count"] = e.get("count", 1) + 1
                e["lastTimestamp"] = now
                e["message"] = message
            return store.mutate(R.EVENT, ns, ev["metadata"]["name"], bump)
    ev = {"metadata": {"generateName": meta["name"] + "."},
          "involvedObject": {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"),
                             "name": meta["name"], "namespace": ns, "uid": meta.get("uid")},
          "reason": reason, "message": message, "type": typ, "count": 1,
          "source": {"component": component}, "firstTimestamp": now, "lastTimestamp": now,
          "reportingComponent": component}
    return store.create(R.EVENT, ns, ev)
