"""Watch streams: ADDED/MODIFIED/DELETED from the store's history, resume from a
resourceVersion, 410 Expired as an ERROR event (HTTP 200, like the real API), periodic
BOOKMARKs when asked, timeoutSeconds, and the drop_watch/gone_watch faults."""

import json
import time

from . import resources as R
from .errors import status_body
from .store import parse_field_selector, parse_label_selector


def gone_event(rv, oldest):
    return {"type": "ERROR", "object": status_body(
        410, "too old resource version: %s (%s)" % (rv, oldest), "Expired")}


class Watcher:
    def __init__(self, store, faults, bookmark_interval=2.0):
        self.store = store
        self.faults = faults
        self.bookmark_interval = bookmark_interval

    def serve(self, h, rt, ns):
        q = h.query
        lp = parse_label_selector(q["labelSelector"]) if q.get("labelSelector") else None
        fp = parse_field_selector(q["fieldSelector"]) if q.get("fieldSelector") else None
        timeout = float(q["timeoutSeconds"]) if q.get("timeoutSeconds") else 1800.0
        deadline = time.monotonic() + timeout
        bookmarks = q.get("allowWatchBookmarks") in ("1", "true")
        table = h._table_media()
        rv_param = q.get("resourceVersion", "")

        def matches(obj):
            if rt.namespaced and ns is not None and obj["metadata"].get("namespace") != ns:
                return False
            if lp and not lp(obj["metadata"].get("labels")):
                return False
            return not (fp and not fp(obj))

        first = [True]

        def encode(typ, obj):
            if table and typ != "ERROR" and typ != "BOOKMARK":
                tbl = R.to_table(rt, [obj], obj["metadata"]["resourceVersion"],
                                 q.get("includeObject", "Metadata"), with_columns=first[0])
                tbl["apiVersion"] = "meta.k8s.io/" + table.split("v=")[1].split(";")[0]
                first[0] = False
                obj = tbl
            return json.dumps({"type": typ, "object": obj}) + "\n"

        h.start_stream(table or "application/json")
        if self.faults.take("gone_watch", h.command, h.url_path):
            h.chunk(json.dumps(gone_event(rv_param or "0", self.store.rv)) + "\n")
            return h.end_stream()
        drop = self.faults.take("drop_watch", h.command, h.url_path)
        drop_after = int(drop.get("after", 0)) if drop else None
        sent = 0

        def send(line):
            nonlocal sent
            if drop_after is not None and sent >= drop_after:
                h.cut()
            h.chunk(line)
            sent += 1
            if drop_after is not None and sent >= drop_after:
                h.cut()

        with self.store.cond:
            if rv_param in ("", "0"):
                initial, _ = self.store.list(rt, ns if rt.namespaced else None)
                last = self.store.rv
                initial = [o for o in initial if matches(o)]
            else:
                try:
                    last = int(rv_param)
                except ValueError:
                    h.chunk(json.dumps({"type": "ERROR", "object": status_body(
                        400, 'invalid resource version "%s"' % rv_param, "BadRequest")}) + "\n")
                    return h.end_stream()
                initial = []
            sub = self.store.watch(rt, matches, last)
            oldest = self.store.history[0].rv if self.store.history else self.store.rv
        if sub is None:
            send(json.dumps(gone_event(last, oldest)) + "\n")
            return h.end_stream()
        try:
            for o in initial:
                send(encode("ADDED", o))
            next_bookmark = time.monotonic() + self.bookmark_interval
            while True:
                now = time.monotonic()
                if now >= deadline:
                    break
                wait = min(deadline, next_bookmark if bookmarks else deadline) - now
                evs = sub.take(max(0.01, min(wait, 1.0)))
                if sub.gone:
                    send(json.dumps(gone_event(last, self.store.compacted_rv)) + "\n")
                    break
                for ev in evs:
                    last = ev.rv
                    send(encode(ev.type, ev.obj))
                if self.store.closed or h.client_gone():
                    break
                if bookmarks and time.monotonic() >= next_bookmark:
                    next_bookmark = time.monotonic() + self.bookmark_interval
                    with self.store.cond:
                        if not sub.pending:
                            last = max(last, self.store.rv)
                    send(json.dumps({"type": "BOOKMARK", "object": {
                        "kind": rt.kind, "apiVersion": rt.api_version,
                        "metadata": {"resourceVersion": str(last)}}}) + "\n")
        finally:
            self.store.unwatch(sub)
        h.end_stream()
