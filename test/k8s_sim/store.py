"""Object store: one global resourceVersion counter, a bounded event history for watches,
label and field selectors, and internal subscribers (the controllers and the kubelet)."""

import collections
import copy
import queue
import random
import re
import threading
import uuid

from . import podsecurity
from . import resources as R
from .errors import ApiError, already_exists, conflict, not_found

GEN_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def random_suffix(n=5):
    return "".join(random.choice(GEN_CHARS) for _ in range(n))


# ---------------------------------------------------------------- selectors

def _split_top(s):
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


_SET_RE = re.compile(r"^([^\s!=]+)\s+(in|notin)\s+\((.*)\)$")


def parse_label_selector(s):
    """Returns a predicate over a labels dict. Raises 400 on syntax it cannot read."""
    reqs = []
    for term in _split_top(s or ""):
        m = _SET_RE.match(term)
        if m:
            key, op, vals = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            reqs.append((key, op, vals))
        elif term.startswith("!"):
            reqs.append((term[1:].strip(), "!exists", None))
        elif "!=" in term:
            k, v = term.split("!=", 1)
            reqs.append((k.strip(), "!=", v.strip()))
        elif "==" in term:
            k, v = term.split("==", 1)
            reqs.append((k.strip(), "=", v.strip()))
        elif "=" in term:
            k, v = term.split("=", 1)
            reqs.append((k.strip(), "=", v.strip()))
        elif re.match(r"^[A-Za-z0-9./_-]+$", term):
            reqs.append((term, "exists", None))
        else:
            raise ApiError(400, "unable to parse requirement: %s" % term, "BadRequest")

    def pred(labels):
        labels = labels or {}
        for k, op, v in reqs:
            if op == "=" and labels.get(k) != v:
                return False
            if op == "!=" and labels.get(k) == v:
                return False
            if op == "exists" and k not in labels:
                return False
            if op == "!exists" and k in labels:
                return False
            if op == "in" and labels.get(k) not in v:
                return False
            if op == "notin" and k in labels and labels[k] in v:
                return False
        return True
    return pred


def _field(obj, path):
    cur = obj
    for p in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(p)
    return "" if cur is None else str(cur)


def parse_field_selector(s):
    reqs = []
    for term in _split_top(s or ""):
        if "!=" in term:
            k, v = term.split("!=", 1)
            reqs.append((k.strip(), False, v.strip()))
        elif "=" in term:
            k, v = term.replace("==", "=").split("=", 1)
            reqs.append((k.strip(), True, v.strip()))
        else:
            raise ApiError(400, "invalid selector: '%s'; can't understand '%s'" % (s, term),
                           "BadRequest")
    return lambda obj: all((_field(obj, k) == v) == eq for k, eq, v in reqs)


# ---------------------------------------------------------------- store

class Event:
    __slots__ = ("rv", "type", "rt", "obj")

    def __init__(self, rv, typ, rt, obj):
        self.rv, self.type, self.rt, self.obj = rv, typ, rt, obj


class WatchSub:
    """One watch's own queue: the store hands it the events it matches and wakes
    it alone (no watcher is woken, or scans the history, for another's events)."""
    __slots__ = ("rt", "match", "pending", "wake", "gone", "cap", "wakes", "events")

    def __init__(self, rt, match, cap):
        self.rt, self.match, self.cap = rt, match, cap
        self.pending = collections.deque()
        self.wake = threading.Event()
        self.gone = False  # fell more than cap events behind: 410, as the API does
        self.wakes = 0  # times take() returned with something (for /_sim/watches)
        self.events = 0

    def push(self, ev):
        if len(self.pending) >= self.cap:
            self.gone = True
            self.pending.clear()
        else:
            self.pending.append(ev)
        self.wake.set()

    def take(self, timeout):
        """The events pushed so far, waiting up to timeout for the first."""
        if not self.pending and not self.gone:
            self.wake.wait(timeout)
        self.wake.clear()
        out = []
        while self.pending:
            out.append(self.pending.popleft())
        if out or self.gone:
            self.wakes += 1
            self.events += len(out)
        return out


class Store:
    def __init__(self, history=2000):
        self.cond = threading.Condition(threading.RLock())
        self.rv = 1
        self.objects = {}  # (rt.key, ns, name) -> obj
        self.history = collections.deque(maxlen=history)
        self.compacted_rv = 0  # events with rv <= this are gone from history
        self.subscribers = []
        self.watches = set()
        self.closed = False

    # -- internals
    def _next_rv(self):
        self.rv += 1
        return self.rv

    def _emit(self, typ, rt, obj):
        if len(self.history) == self.history.maxlen:
            self.compacted_rv = self.history[0].rv
        ev = Event(self.rv, typ, rt, copy.deepcopy(obj))
        self.history.append(ev)
        for q in self.subscribers:
            q.put(ev)
        for w in self.watches:
            if w.rt is rt and w.match(ev.obj):
                w.push(ev)
        self.cond.notify_all()

    def subscribe(self):
        q = queue.Queue()
        with self.cond:
            self.subscribers.append(q)
        return q

    def compact(self):
        """Drop all history (tests: make every older resourceVersion expire)."""
        with self.cond:
            self.compacted_rv = self.rv
            self.history.clear()

    # -- verbs
    def get(self, rt, ns, name):
        with self.cond:
            obj = self.objects.get((rt.key, ns, name))
            if obj is None:
                raise not_found(rt, name)
            return copy.deepcopy(obj)

    def try_get(self, rt, ns, name):
        with self.cond:
            obj = self.objects.get((rt.key, ns, name))
            return copy.deepcopy(obj) if obj is not None else None

    def list(self, rt, ns=None, label_selector=None, field_selector=None):
        lp = parse_label_selector(label_selector) if label_selector else None
        fp = parse_field_selector(field_selector) if field_selector else None
        with self.cond:
            out = []
            for (key, ons, _), obj in sorted(self.objects.items()):
                if key != rt.key or (ns is not None and rt.namespaced and ons != ns):
                    continue
                if lp and not lp(obj["metadata"].get("labels")):
                    continue
                if fp and not fp(obj):
                    continue
                out.append(copy.deepcopy(obj))
            return out, str(self.rv)

    def create(self, rt, ns, obj):
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        with self.cond:
            if not meta.get("name") and meta.get("generateName"):
                for _ in range(20):
                    cand = meta["generateName"] + random_suffix()
                    if (rt.key, ns, cand) not in self.objects:
                        meta["name"] = cand
                        break
            name = meta.get("name")
            R.validate(rt, obj, name)
            if rt.namespaced:
                if (R.NAMESPACE.key, None, ns) not in self.objects:
                    raise ApiError(404, 'namespaces "%s" not found' % ns, "NotFound",
                                   {"name": ns, "kind": "namespaces"})
                meta["namespace"] = ns
            else:
                meta.pop("namespace", None)
            if (rt.key, ns if rt.namespaced else None, name) in self.objects:
                raise already_exists(rt, name)
            if rt is R.POD:
                # the PodSecurity admission plugin: the namespace's enforce label
                level, version = podsecurity.namespace_level(
                    self.objects[(R.NAMESPACE.key, None, ns)])
                bad = podsecurity.check(obj.get("spec") or {}, level, meta)
                if bad:
                    raise ApiError(403, podsecurity.forbidden_message(name, level, version, bad),
                                   "Forbidden", {"name": name, "kind": "pods"})
            obj["apiVersion"] = rt.api_version
            obj["kind"] = rt.kind
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = R.now_rfc3339()
            if rt.group:
                meta["generation"] = 1
            for k in ("resourceVersion", "deletionTimestamp", "selfLink"):
                meta.pop(k, None)
            R.apply_defaults(rt, obj)
            meta["resourceVersion"] = str(self._next_rv())
            self.objects[(rt.key, ns if rt.namespaced else None, name)] = obj
            self._emit("ADDED", rt, obj)
            return copy.deepcopy(obj)

    def replace(self, rt, ns, name, obj, check_rv=True, status_only=False):
        """PUT semantics: optimistic concurrency on metadata.resourceVersion when given."""
        with self.cond:
            key = (rt.key, ns if rt.namespaced else None, name)
            old = self.objects.get(key)
            if old is None:
                raise not_found(rt, name)
            new = copy.deepcopy(obj)
            meta = new.setdefault("metadata", {})
            if check_rv and meta.get("resourceVersion") and \
                    meta["resourceVersion"] != old["metadata"]["resourceVersion"]:
                raise conflict(rt, name)
            if status_only:
                merged = copy.deepcopy(old)
                merged["status"] = new.get("status", {})
                new = merged
            else:
                R.validate(rt, new, name)
                for k in ("uid", "creationTimestamp", "namespace", "name", "deletionTimestamp",
                          "deletionGracePeriodSeconds"):
                    if k in old["metadata"]:
                        meta[k] = old["metadata"][k]
                new["apiVersion"], new["kind"] = rt.api_version, rt.kind
                if "status" not in new and "status" in old:
                    new["status"] = old["status"]
                if rt.group and new.get("spec") != old.get("spec"):
                    meta["generation"] = old["metadata"].get("generation", 1) + 1
            new["metadata"]["resourceVersion"] = str(self._next_rv())
            self.objects[key] = new
            self._emit("MODIFIED", rt, new)
            return copy.deepcopy(new)

    def mutate(self, rt, ns, name, fn):
        """Read-modify-write under the lock; fn(obj) edits in place and may return False to
        skip the write. Returns the new object or None when it does not exist."""
        with self.cond:
            key = (rt.key, ns if rt.namespaced else None, name)
            old = self.objects.get(key)
            if old is None:
                return None
            new = copy.deepcopy(old)
            if fn(new) is False:
                return copy.deepcopy(old)
            if new == old:
                return copy.deepcopy(old)
            new["metadata"]["resourceVersion"] = str(self._next_rv())
            self.objects[key] = new
            self._emit("MODIFIED", rt, new)
            return copy.deepcopy(new)

    def remove(self, rt, ns, name):
        """Final removal: emits DELETED. Returns the removed object or None."""
        with self.cond:
            key = (rt.key, ns if rt.namespaced else None, name)
            obj = self.objects.pop(key, None)
            if obj is None:
                return None
            obj["metadata"]["resourceVersion"] = str(self._next_rv())
            self._emit("DELETED", rt, obj)
            return copy.deepcopy(obj)

    # -- watch
    def events_since(self, rv):
        """Events after rv, or None when rv is older than the retained history (410)."""
        if rv < self.compacted_rv:
            return None
        return [e for e in self.history if e.rv > rv]

    def watch(self, rt, match, since_rv):
        """Register a watch of rt's objects for which match(obj) holds, from
        since_rv on (the retained events after it are queued at once). None when
        since_rv is older than the retained history (410). unwatch when done."""
        with self.cond:
            if since_rv < self.compacted_rv:
                return None
            w = WatchSub(rt, match, max(self.history.maxlen or 0, 1000))
            for e in self.history:
                if e.rv > since_rv and e.rt is rt and match(e.obj):
                    w.push(e)
            self.watches.add(w)
            return w

    def unwatch(self, w):
        with self.cond:
            self.watches.discard(w)

    def watch_stats(self):
        """The open watches: resource, wake-ups with events, events delivered."""
        with self.cond:
            return [{"resource": w.rt.key, "wakes": w.wakes, "events": w.events}
                    for w in self.watches]

    def close(self):
        with self.cond:
            self.closed = True
            for w in self.watches:
                w.wake.set()
            self.cond.notify_all()
