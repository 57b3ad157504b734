"""Fault injection, armed with POST /_sim/faults and cleared with DELETE /_sim/faults.

A fault is a JSON object with `kind` and optional `count` (default 1; -1 = forever),
`method` (e.g. "GET") and `path_regex` (re.search on the request path). Kinds:

  status      {"code": 503, "message": "..."}            reply with a Status of that code
  429         {"retry_after": 1, "plain": false}         429 + Retry-After; plain=true gives a
                                                         text/plain body instead of a Status
  forbid      {"verb": "create", "resource": "jobs"}     403 Status like RBAC's (verb/resource
                                                         optional = any; "user" overrides)
  drop_watch  {"after": N}                               close a watch after N events, no final chunk
  gone_watch  {}                                         watch answers one ERROR event (410 Expired)
  cut_log     {"after": N}                               close a follow log after N lines, no final chunk
  slow_start  {"seconds": S, "pod_regex": "..."}         pod stays ContainerCreating for S seconds
  unschedulable {"seconds": S, "pod_regex": "..."}       pod stays Unschedulable (PodScheduled=False)
                                                         for S seconds, then is placed
  fail_create {"message": "...", "pod_regex": JOB}       the Job controller's pod create is refused:
                                                         a FailedCreate event on the Job (use
                                                         count -1: it retries every reconcile)
Outages are not faults: POST /_sim/outage {"seconds": S} closes the listener and every
connection (connections refused) for S seconds; see app.py.
"""

import re
import threading

KINDS = ("status", "429", "forbid", "drop_watch", "gone_watch", "cut_log", "slow_start",
         "unschedulable", "fail_create")


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.items = []
        self.fired = []  # log of faults that triggered: {"kind", "path"}

    def add(self, spec):
        if not isinstance(spec, dict) or str(spec.get("kind")) not in KINDS:
            raise ValueError("fault kind must be one of %s" % ", ".join(KINDS))
        spec = dict(spec)
        spec["kind"] = str(spec["kind"])
        spec.setdefault("count", 1)
        if spec.get("path_regex"):
            re.compile(spec["path_regex"])
        with self.lock:
            self.items.append(spec)
        return spec

    def clear(self):
        with self.lock:
            self.items.clear()

    def snapshot(self):
        with self.lock:
            return {"armed": [dict(f) for f in self.items], "fired": list(self.fired)}

    def take(self, kind, method=None, path=None, verb=None, resource=None, pod=None):
        """Consume one matching fault of this kind; returns its spec or None."""
        with self.lock:
            for f in self.items:
                if f["kind"] != kind or f["count"] == 0:
                    continue
                if f.get("method") and method and f["method"].upper() != method.upper():
                    continue
                if f.get("path_regex") and (path is None or not re.search(f["path_regex"], path)):
                    continue
                if f.get("verb") and verb and f["verb"] != verb:
                    continue
                if f.get("resource") and resource and f["resource"] != resource:
                    continue
                if f.get("pod_regex") and (pod is None or not re.search(f["pod_regex"], pod)):
                    continue
                if f["count"] > 0:
                    f["count"] -= 1
                self.fired.append({"kind": kind, "path": path, "pod": pod})
                if f["count"] == 0:
                    self.items.remove(f)
                return dict(f)
        return None
