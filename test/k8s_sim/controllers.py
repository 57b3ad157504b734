"""Controllers: the Job controller (pods, backoffLimit, podFailurePolicy,
activeDeadlineSeconds, ttlSecondsAfterFinished, 1.31+ conditions), the garbage collector
(deletion propagation) and the CronJob controller (schedule + manual fire)."""

import datetime
import json
import queue
import threading
import time

from . import events
from . import resources as R
from .errors import ApiError

JOB_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")


INDEX_KEY = "batch.kubernetes.io/job-completion-index"


def _index_of(pod):
    v = (pod["metadata"].get("annotations") or {}).get(INDEX_KEY)
    return int(v) if v is not None and str(v).isdigit() else None


def _ranges(ixs):
    """{0,1,2,5} -> "0-2,5", as status.completedIndexes writes them."""
    out, run = [], []
    for i in sorted(ixs):
        if run and i == run[-1] + 1:
            run.append(i)
        else:
            if run:
                out.append(str(run[0]) if len(run) == 1 else "%d-%d" % (run[0], run[-1]))
            run = [i]
    if run:
        out.append(str(run[0]) if len(run) == 1 else "%d-%d" % (run[0], run[-1]))
    return ",".join(out)


def _now():
    return R.now_rfc3339()


def job_uid_of(pod):
    labels = pod["metadata"].get("labels") or {}
    for k in JOB_LABELS:
        if k in labels:
            return labels[k]
    return None


def _terminal(pod):
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _condition(typ, reason, message):
    t = _now()
    return {"type": typ, "status": "True", "lastProbeTime": t, "lastTransitionTime": t,
            "reason": reason, "message": message}


def _has_cond(obj, typ):
    return any(c.get("type") == typ and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


def _cond_time(obj, typ):
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == typ and c.get("status") == "True":
            return R.parse_time(c.get("lastTransitionTime"))
    return None


class Pods:
    """Graceful pod deletion shared by the API handler, the GC and the Job controller."""

    def __init__(self, store, kubelet):
        self.store = store
        self.kubelet = kubelet

    def delete(self, ns, name, grace=None, uid=None):
        pod = self.store.try_get(R.POD, ns, name)
        if pod is None or (uid and pod["metadata"]["uid"] != uid):
            return None
        if grace is None:
            grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
        if grace <= 0 or _terminal(pod) or not self.kubelet.is_running(pod["metadata"]["uid"]):
            return self.store.remove(R.POD, ns, name)
        if pod["metadata"].get("deletionTimestamp"):
            cur = pod["metadata"].get("deletionGracePeriodSeconds", grace)
            if grace >= cur:
                return pod
        when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=grace)

        def mark(p):
            p["metadata"]["deletionTimestamp"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
            p["metadata"]["deletionGracePeriodSeconds"] = grace
        return self.store.mutate(R.POD, ns, name, mark)


class GarbageCollector:
    def __init__(self, store, pods):
        self.store = store
        self.pods = pods

    def dependents(self, rt, ns, owner_uid):
        objs, _ = self.store.list(rt, ns)
        return [o for o in objs if any(r.get("uid") == owner_uid
                                       for r in o["metadata"].get("ownerReferences") or [])]

    def delete_dependents(self, owner, policy):
        ns, uid = owner["metadata"].get("namespace"), owner["metadata"]["uid"]
        for rt in (R.JOB, R.POD):
            for dep in self.dependents(rt, ns, uid):
                name = dep["metadata"]["name"]
                if policy == "Orphan":
                    self.store.mutate(rt, ns, name, lambda o: o["metadata"].update(
                        {"ownerReferences": [r for r in o["metadata"].get("ownerReferences", [])
                                             if r.get("uid") != uid]}))
                elif rt is R.POD:
                    self.pods.delete(ns, name)
                else:
                    self.delete(rt, ns, name, policy)

    def delete(self, rt, ns, name, policy=None, grace=None, precondition_uid=None):
        """API DELETE for non-pod objects. Returns (status_code, object)."""
        obj = self.store.get(rt, ns, name)
        if precondition_uid and obj["metadata"]["uid"] != precondition_uid:
            raise ApiError(409, "Precondition failed: UID in precondition: %s, UID in object "
                           "meta: %s" % (precondition_uid, obj["metadata"]["uid"]), "Conflict")
        if policy is None:
            # batch/v1 Jobs and CronJobs default to orphaning their dependents.
            policy = "Orphan" if rt in (R.JOB, R.CRONJOB) else "Background"
        if policy == "Foreground":
            def mark(o):
                o["metadata"].setdefault("deletionTimestamp", _now())
                o["metadata"]["deletionGracePeriodSeconds"] = 0
                fins = o["metadata"].setdefault("finalizers", [])
                if "foregroundDeletion" not in fins:
                    fins.append("foregroundDeletion")
            obj = self.store.mutate(rt, ns, name, mark)
            self.delete_dependents(obj, policy)
            self.finish_foreground(rt, ns, name)
            return 200, obj
        self.delete_dependents(obj, policy)
        removed = self.store.remove(rt, ns, name)
        return 200, removed

    def finish_foreground(self, rt, ns, name):
        obj = self.store.try_get(rt, ns, name)
        if not obj or "foregroundDeletion" not in (obj["metadata"].get("finalizers") or []):
            return
        uid = obj["metadata"]["uid"]
        if any(self.dependents(t, ns, uid) for t in (R.JOB, R.POD)):
            return
        self.store.remove(rt, ns, name)


class JobController:
    def __init__(self, store, pods, gc, faults=None, backoff=2.0):
        self.faults = faults
        # The pod failure back-off before a replacement: Kubernetes waits 10 s, 20 s,
        # 40 s ... (capped at 6 min) after a failed pod; shortened here for tests.
        self.backoff = backoff
        self.store = store
        self.pods = pods
        self.gc = gc
        self.queue = store.subscribe()
        self.seen = {}  # job uid -> {"succeeded": set(), "failed": set(), "ignored": set(), "new": {uid: pod}}
        self.create_backoff = {}  # job uid -> (next attempt, attempts) after a forbidden pod
        self.thread = threading.Thread(target=self._loop, daemon=True, name="job-controller")
        self.stopping = False

    def start(self):
        self.thread.start()

    def stop(self):
        self.stopping = True
        self.queue.put(None)

    def _track(self, juid):
        return self.seen.setdefault(juid, {"succeeded": set(), "failed": set(), "ignored": set(),
                                           "new": {}})

    def _observe(self, ev):
        if ev.rt is not R.POD:
            return
        pod = ev.obj
        juid = job_uid_of(pod)
        if not juid:
            return
        t = self._track(juid)
        puid = pod["metadata"]["uid"]
        if puid in t["succeeded"] or puid in t["failed"] or puid in t["ignored"]:
            return
        phase = pod["status"].get("phase")
        if phase == "Succeeded":
            t["succeeded"].add(puid)
        elif phase == "Failed" or ev.type == "DELETED":
            t["new"][puid] = pod

    def _loop(self):
        while not self.stopping:
            try:
                ev = self.queue.get(timeout=0.2)
            except queue.Empty:
                ev = False
            while ev is not None:
                if ev:
                    self._observe(ev)
                try:
                    ev = self.queue.get_nowait()
                except queue.Empty:
                    break
            if ev is None or self.stopping:
                return
            try:
                jobs, _ = self.store.list(R.JOB)
                for job in jobs:
                    self.reconcile(job)
            except Exception:
                import traceback
                traceback.print_exc()

    # -- pod failure policy
    @staticmethod
    def _policy_action(job, pod):
        """Returns (action, message) for a failed pod per spec.podFailurePolicy."""
        rules = ((job["spec"].get("podFailurePolicy") or {}).get("rules")) or []
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        st = pod.get("status") or {}
        for i, rule in enumerate(rules):
            oe = rule.get("onExitCodes")
            if oe:
                vals = set(oe.get("values") or [])
                for cs in (st.get("initContainerStatuses") or []) + (st.get("containerStatuses") or []):
                    if oe.get("containerName") and cs["name"] != oe["containerName"]:
                        continue
                    term = (cs.get("state") or {}).get("terminated")
                    if not term or term.get("exitCode", 0) == 0:
                        continue
                    code = term["exitCode"]
                    hit = code in vals if oe.get("operator") == "In" else code not in vals
                    if hit:
                        return rule.get("action"), (
                            "Container %s for pod %s/%s failed with exit code %d matching %s rule "
                            "at index %d" % (cs["name"], ns, name, code, rule.get("action"), i))
            for pc in rule.get("onPodConditions") or []:
                for c in st.get("conditions") or []:
                    if c.get("type") == pc.get("type") and c.get("status") == pc.get("status", "True"):
                        return rule.get("action"), (
                            "Pod %s/%s has condition %s matching %s rule at index %d" % (
                                ns, name, c["type"], rule.get("action"), i))
        return "Count", None

    def reconcile(self, job):
        meta, spec = job["metadata"], job["spec"]
        ns, name, uid = meta["namespace"], meta["name"], meta["uid"]
        if meta.get("deletionTimestamp"):
            self.gc.finish_foreground(R.JOB, ns, name)
            return
        finished = _has_cond(job, "Complete") or _has_cond(job, "Failed")
        if finished:
            ttl = spec.get("ttlSecondsAfterFinished")
            if ttl is not None:
                t = _cond_time(job, "Complete") or _cond_time(job, "Failed")
                if t and time.time() >= t + ttl:
                    self.gc.delete(R.JOB, ns, name, "Background")
            return
        t = self._track(uid)
        pods, _ = self.store.list(R.POD, ns, "batch.kubernetes.io/controller-uid=" + uid)
        for p in pods:  # pods can reach a terminal phase before their events were seen
            if _terminal(p):
                self._observe(type("E", (), {"rt": R.POD, "obj": p, "type": "MODIFIED"}))
        never = spec["template"]["spec"].get("restartPolicy") == "Never"
        if spec.get("completionMode") == "Indexed":
            return self._reconcile_indexed(job, t, pods, never)
        failure = None
        for puid, pod in list(t["new"].items()):
            action, msg = self._policy_action(job, pod) if never else ("Count", None)
            del t["new"][puid]
            if action == "Ignore":
                t["ignored"].add(puid)
                continue
            t["failed"].add(puid)
            t["last_fail"] = time.time()
            if action == "FailJob" and failure is None:
                failure = ("PodFailurePolicy", msg)
        active = [p for p in pods if not _terminal(p) and not p["metadata"].get("deletionTimestamp")]
        terminating = [p for p in pods if not _terminal(p) and p["metadata"].get("deletionTimestamp")]
        restarts = sum(cs.get("restartCount", 0) for p in active
                       for cs in p["status"].get("containerStatuses") or [])
        succeeded, failed = len(t["succeeded"]), len(t["failed"])
        completions = spec.get("completions") or 1
        parallelism = spec.get("parallelism", 1)
        start = R.parse_time((job.get("status") or {}).get("startTime"))

        if spec.get("suspend"):
            for p in active:
                self.pods.delete(ns, p["metadata"]["name"])
            self._write(job, active=0, terminating=len(terminating), succeeded=succeeded,
                        failed=failed, add=[("Suspended", "JobSuspended", "Job suspended")])
            return

        target = _has_cond(job, "FailureTarget")
        if not target and failure is None:
            ads = spec.get("activeDeadlineSeconds")
            if ads is not None and start and time.time() >= start + ads:
                failure = ("DeadlineExceeded", "Job was active longer than specified deadline")
            elif failed + restarts > spec.get("backoffLimit", 6):
                failure = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        add = []
        if failure and not target:
            add.append(("FailureTarget",) + failure)
            target = True
        if target:
            for p in active:
                self.pods.delete(ns, p["metadata"]["name"])
            if not active and not terminating:
                reason, msg = failure or next(
                    (c["reason"], c["message"]) for c in job["status"]["conditions"]
                    if c["type"] == "FailureTarget")
                add.append(("Failed", reason, msg))
            self._write(job, active=0, terminating=len(active) + len(terminating),
                        succeeded=succeeded, failed=failed, add=add)
            return
        if succeeded >= completions:
            if not _has_cond(job, "SuccessCriteriaMet"):
                add.append(("SuccessCriteriaMet", "CompletionsReached",
                            "Reached expected number of succeeded pods"))
            for p in active:
                self.pods.delete(ns, p["metadata"]["name"])
            done = not active and not terminating
            if done:
                add.append(("Complete", "CompletionsReached", "Reached expected number of succeeded pods"))
            self._write(job, active=len(active), terminating=len(terminating), succeeded=succeeded,
                        failed=failed, add=add, complete=done)
            return
        want = min(parallelism, completions - succeeded)
        # podReplacementPolicy Failed: a replacement waits until the old pod is gone;
        # TerminatingOrFailed replaces a terminating pod at once (they overlap).
        waiting = len(terminating) if spec.get("podReplacementPolicy") == "Failed" else 0
        delay = min(self.backoff * 2 ** max(failed - 1, 0), 360.0) if failed else 0
        if failed and time.time() < t.get("last_fail", 0) + delay:
            waiting = want  # the back-off: no replacement yet
        for _ in range(want - len(active) - waiting):
            self._create_pod(job)
            active.append(None)
        ready = sum(1 for p in active if p and any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in p["status"].get("conditions") or []))
        self._write(job, active=len(active), terminating=len(terminating), succeeded=succeeded,
                    failed=failed, ready=ready, start=True)

    # -- Indexed Jobs (completionMode: Indexed): index i is done once one of its
    # pods succeeded; backoffLimitPerIndex counts each index's failures, FailIndex
    # fails an index at once, FailJob the Job; the Job ends when every index is
    # done or failed (Failed with FailedIndexes when any failed).
    def _reconcile_indexed(self, job, t, pods, never):
        meta, spec = job["metadata"], job["spec"]
        ns = meta["namespace"]
        completions = spec.get("completions") or 1
        parallelism = spec.get("parallelism", 1)
        per_index = spec.get("backoffLimitPerIndex")
        idx = t.setdefault("idx", {})
        counts = t.setdefault("index_failures", {})
        failed_ix = t.setdefault("failed_indexes", set())
        for p in pods:
            i = _index_of(p)
            if i is not None:
                idx[p["metadata"]["uid"]] = i
        failure = None
        for puid, pod in list(t["new"].items()):
            action, msg = self._policy_action(job, pod) if never else ("Count", None)
            del t["new"][puid]
            i = idx.get(puid, _index_of(pod))
            if action == "Ignore":
                t["ignored"].add(puid)
                continue
            t["failed"].add(puid)
            t["last_fail"] = time.time()
            if action == "FailJob" and failure is None:
                failure = ("PodFailurePolicy", msg)
            elif i is not None:
                counts[i] = counts.get(i, 0) + 1
                if action == "FailIndex" or (per_index is not None and counts[i] > per_index):
                    failed_ix.add(i)
        done_ix = {idx[u] for u in t["succeeded"] if u in idx}
        active = [p for p in pods if not _terminal(p) and not p["metadata"].get("deletionTimestamp")]
        terminating = [p for p in pods if not _terminal(p) and p["metadata"].get("deletionTimestamp")]
        extra = {"completedIndexes": _ranges(done_ix), "failedIndexes": _ranges(failed_ix)}
        succeeded, failed = len(done_ix), len(t["failed"])
        target = _has_cond(job, "FailureTarget")
        start = R.parse_time((job.get("status") or {}).get("startTime"))
        ads = spec.get("activeDeadlineSeconds")
        if not target and failure is None and ads is not None and start and time.time() >= start + ads:
            failure = ("DeadlineExceeded", "Job was active longer than specified deadline")
        settled = len(done_ix | failed_ix) >= completions
        if not target and failure is None and settled and failed_ix:
            failure = ("FailedIndexes", "Job has failed indexes")
        add = []
        if failure and not target:
            add.append(("FailureTarget",) + failure)
            target = True
        if target:
            for p in active:
                self.pods.delete(ns, p["metadata"]["name"])
            if not active and not terminating:
                reason, msg = failure or next(
                    (c["reason"], c["message"]) for c in job["status"]["conditions"]
                    if c["type"] == "FailureTarget")
                add.append(("Failed", reason, msg))
            self._write(job, active=0, terminating=len(active) + len(terminating),
                        succeeded=succeeded, failed=failed, add=add, extra=extra)
            return
        if settled:
            if not active and not terminating:
                add.append(("SuccessCriteriaMet", "CompletionsReached",
                            "Reached expected number of succeeded pods"))
                add.append(("Complete", "CompletionsReached", "Reached expected number of succeeded pods"))
            self._write(job, active=len(active), terminating=len(terminating), succeeded=succeeded,
                        failed=failed, add=add, complete=not active and not terminating, extra=extra)
            return
        busy = {_index_of(p) for p in active + terminating}
        delay = min(self.backoff * 2 ** max(failed - 1, 0), 360.0) if failed else 0
        backing_off = failed and time.time() < t.get("last_fail", 0) + delay
        todo = [i for i in range(completions)
                if i not in done_ix and i not in failed_ix and i not in busy]
        room = parallelism - len(active) - (len(terminating) if spec.get("podReplacementPolicy") == "Failed" else 0)
        for i in todo[:max(room, 0)]:
            if backing_off and counts.get(i):
                continue  # this index's replacement waits out the back-off
            self._create_pod(job, index=i)
            active.append(None)
        ready = sum(1 for p in active if p and any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in p["status"].get("conditions") or []))
        self._write(job, active=len(active), terminating=len(terminating), succeeded=succeeded,
                    failed=failed, ready=ready, start=True, extra=extra)

    def _create_pod(self, job, index=None):
        meta, tmpl = job["metadata"], job["spec"]["template"]
        tmeta = tmpl.get("metadata") or {}
        labels = dict(tmeta.get("labels") or {})
        for k in JOB_LABELS:
            labels[k] = meta["uid"]
        labels["batch.kubernetes.io/job-name"] = labels["job-name"] = meta["name"]
        annotations = dict(tmeta.get("annotations") or {})
        pspec = tmpl.get("spec") or {}
        gen = meta["name"] + "-"
        if index is not None:
            # as the real controller: the index as annotation and label, and
            # JOB_COMPLETION_INDEX from the annotation in every container
            annotations[INDEX_KEY] = labels[INDEX_KEY] = str(index)
            gen = "%s-%d-" % (meta["name"], index)
            pspec = json.loads(json.dumps(pspec))
            for c in (pspec.get("initContainers") or []) + (pspec.get("containers") or []):
                c.setdefault("env", []).insert(0, {"name": "JOB_COMPLETION_INDEX", "valueFrom": {
                    "fieldRef": {"fieldPath": "metadata.annotations['%s']" % INDEX_KEY}}})
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"generateName": gen, "labels": labels,
                            "annotations": annotations,
                            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job",
                                                 "name": meta["name"], "uid": meta["uid"],
                                                 "controller": True, "blockOwnerDeletion": True}]},
               "spec": pspec}
        if not pod["metadata"]["annotations"]:
            del pod["metadata"]["annotations"]
        refused = self.faults.take("fail_create", pod=meta["name"]) if self.faults else None
        if refused:
            # Admission refused the pod (a quota, a webhook): the Job only gets an event.
            events.record(self.store, job, "FailedCreate", "Error creating: pods \"%s\" is "
                          "forbidden: %s" % (meta["name"], refused.get(
                              "message", "exceeded quota: compute, requested: limits.cpu=2, "
                              "used: limits.cpu=4, limited: limits.cpu=4")))
            return
        retry = self.create_backoff.get(meta["uid"])
        if retry and time.time() < retry[0]:
            return
        try:
            self.store.create(R.POD, meta["namespace"], pod)
            self.create_backoff.pop(meta["uid"], None)
        except ApiError as e:
            if e.code != 403:
                import traceback
                traceback.print_exc()
                return
            # as the real job controller: a FailedCreate event on the Job (one event,
            # its count bumped on each retry) and a growing back-off between attempts
            n = (retry[1] if retry else 0) + 1
            self.create_backoff[meta["uid"]] = (time.time() + min(0.5 * 2 ** n, 10), n)
            events.record(self.store, job, "FailedCreate", "Error creating: " + str(e),
                          same_reason=True)

    def _write(self, job, active, terminating, succeeded, failed, add=(), ready=None,
               start=False, complete=False, extra=None):
        def fn(j):
            st = j.setdefault("status", {})
            for k, v in (extra or {}).items():
                if v:
                    st[k] = v
                else:
                    st.pop(k, None)
            if start and "startTime" not in st:
                st["startTime"] = _now()
            new = {"active": active, "succeeded": succeeded, "failed": failed,
                   "terminating": terminating, "ready": ready if ready is not None else 0,
                   "uncountedTerminatedPods": {}}
            for k, v in new.items():
                if v or k in ("ready", "uncountedTerminatedPods"):
                    st[k] = v
                else:
                    st.pop(k, None)
            conds = st.setdefault("conditions", [])
            for typ, reason, msg in add:
                if not any(c["type"] == typ for c in conds):
                    conds.append(_condition(typ, reason, msg))
            if not conds:
                st.pop("conditions")
            if complete and "completionTime" not in st:
                st["completionTime"] = _now()
        self.store.mutate(R.JOB, job["metadata"]["namespace"], job["metadata"]["name"], fn)


# ---------------------------------------------------------------- CronJobs

def _cron_field(spec, lo, hi, names=None):
    out = set()
    for part in spec.split(","):
        part = part.strip().lower()
        if names:
            for i, n in enumerate(names):
                part = part.replace(n, str(i + lo))
        step = 1
        if "/" in part:
            part, s = part.split("/", 1)
            step = int(s)
        if part in ("*", "?"):
            a, b = lo, hi
        elif "-" in part:
            a, b = (int(x) for x in part.split("-", 1))
        else:
            a = int(part)
            b = hi if step > 1 else a
        out.update(range(a, b + 1, step))
    return out


MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
          "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
          "@hourly": "0 * * * *"}


def cron_matches(schedule, t):
    """Standard 5-field cron (UTC), with ranges, lists, steps, month/day names and macros."""
    s = MACROS.get(schedule.strip(), schedule.strip())
    f = s.split()
    if len(f) != 5:
        return False
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    dows = _cron_field(f[4], 0, 7, ["sun", "mon", "tue", "wed", "thu", "fri", "sat"])
    if 7 in dows:
        dows.add(0)
    dom_ok = d.day in _cron_field(f[2], 1, 31)
    dow_ok = (d.isoweekday() % 7) in dows
    day_ok = (dom_ok or dow_ok) if f[2] != "*" and f[4] != "*" else (dom_ok and dow_ok)
    return (d.minute in _cron_field(f[0], 0, 59) and d.hour in _cron_field(f[1], 0, 23)
            and day_ok and d.month in _cron_field(f[3], 1, 12, ["jan", "feb", "mar", "apr", "may",
                                                               "jun", "jul", "aug", "sep", "oct",
                                                               "nov", "dec"]))


class CronJobController:
    def __init__(self, store, gc):
        self.store = store
        self.gc = gc
        self.last = {}  # cronjob uid -> last minute considered
        self.thread = threading.Thread(target=self._loop, daemon=True, name="cronjob-controller")
        self.stopping = threading.Event()

    def start(self):
        self.thread.start()

    def stop(self):
        self.stopping.set()

    def _loop(self):
        while not self.stopping.wait(1.0):
            try:
                self.tick(time.time())
            except Exception:
                import traceback
                traceback.print_exc()

    def tick(self, now):
        minute = int(now // 60)
        cjs, _ = self.store.list(R.CRONJOB)
        for cj in cjs:
            uid = cj["metadata"]["uid"]
            prev = self.last.get(uid)
            self.last[uid] = minute
            self._sync_status(cj)
            if prev is None or prev == minute or cj["spec"].get("suspend"):
                continue
            if cj["metadata"].get("deletionTimestamp"):
                continue
            if cron_matches(cj["spec"]["schedule"], minute * 60):
                policy = cj["spec"].get("concurrencyPolicy", "Allow")
                active = self._jobs(cj, active_only=True)
                if active and policy == "Forbid":
                    continue
                if active and policy == "Replace":
                    for j in active:
                        self.gc.delete(R.JOB, j["metadata"]["namespace"], j["metadata"]["name"],
                                       "Background")
                self.fire(cj["metadata"]["namespace"], cj["metadata"]["name"], minute * 60)

    def _jobs(self, cj, active_only=False):
        jobs = self.gc.dependents(R.JOB, cj["metadata"]["namespace"], cj["metadata"]["uid"])
        if active_only:
            jobs = [j for j in jobs if not (_has_cond(j, "Complete") or _has_cond(j, "Failed"))]
        return jobs

    def _sync_status(self, cj):
        jobs = self._jobs(cj)
        active = [j for j in jobs if not (_has_cond(j, "Complete") or _has_cond(j, "Failed"))]
        ok = [j for j in jobs if _has_cond(j, "Complete")]
        bad = [j for j in jobs if _has_cond(j, "Failed")]
        for lst, limit in ((ok, cj["spec"].get("successfulJobsHistoryLimit", 3)),
                           (bad, cj["spec"].get("failedJobsHistoryLimit", 1))):
            lst.sort(key=lambda j: j["metadata"]["creationTimestamp"])
            for j in lst[:max(len(lst) - limit, 0)]:
                self.gc.delete(R.JOB, j["metadata"]["namespace"], j["metadata"]["name"], "Background")

        def fn(o):
            st = o.setdefault("status", {})
            refs = [{"kind": "Job", "namespace": j["metadata"]["namespace"],
                     "name": j["metadata"]["name"], "uid": j["metadata"]["uid"],
                     "apiVersion": "batch/v1", "resourceVersion": j["metadata"]["resourceVersion"]}
                    for j in active]
            if refs:
                st["active"] = refs
            else:
                st.pop("active", None)
            if ok:
                last = max(R.parse_time((j.get("status") or {}).get("completionTime")) or 0 for j in ok)
                if last:
                    st["lastSuccessfulTime"] = datetime.datetime.fromtimestamp(
                        last, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.store.mutate(R.CRONJOB, cj["metadata"]["namespace"], cj["metadata"]["name"], fn)

    def fire(self, ns, name, when=None, job_name=None):
        """Creates a Job from the CronJob's jobTemplate, as the controller does at a tick."""
        cj = self.store.get(R.CRONJOB, ns, name)
        when = when if when is not None else time.time()
        minute = int(when // 60)
        tmpl = cj["spec"]["jobTemplate"]
        tmeta = tmpl.get("metadata") or {}
        ts = datetime.datetime.fromtimestamp(minute * 60, datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        job = {"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"labels": dict(tmeta.get("labels") or {}),
                            "annotations": dict(tmeta.get("annotations") or {},
                                                **{"batch.kubernetes.io/cronjob-scheduled-timestamp": ts}),
                            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob",
                                                 "name": name, "uid": cj["metadata"]["uid"],
                                                 "controller": True, "blockOwnerDeletion": True}]},
               "spec": tmpl.get("spec") or {}}
        created = None
        for i in range(100):
            job["metadata"]["name"] = job_name or "%s-%d" % (name, minute + i)
            try:
                created = self.store.create(R.JOB, ns, job)
                break
            except ApiError as e:
                if e.code != 409 or job_name:
                    raise
        self.store.mutate(R.CRONJOB, ns, name,
                          lambda o: o.setdefault("status", {}).update({"lastScheduleTime": ts}))
        return created
