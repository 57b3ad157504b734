"""Container logs: lines timestamped on arrival (stdout and stderr interleaved in arrival
order), kept in memory and mirrored to a file, readable while they grow."""

import threading
import time


def rfc3339nano(ns):
    """Go's time.RFC3339Nano: nine fraction digits with trailing zeros trimmed."""
    secs, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    f = ("%09d" % frac).rstrip("0")
    return base + ("." + f if f else "") + "Z"


class LogBuffer:
    def __init__(self, path, max_lines=200000):
        self.cond = threading.Condition()
        self.lines = []  # (ns, text) text keeps its "\n" unless it was a partial last line
        self.closed = False
        self.max_lines = max_lines
        self.dropped = 0
        # The bytes as the container wrote them (invalid UTF-8 too, as a real
        # kubelet keeps them): surrogateescape round-trips them.
        self.file = open(path, "a", encoding="utf-8", errors="surrogateescape")

    def append(self, text):
        ns = time.time_ns()
        with self.cond:
            if self.closed:
                return
            self.lines.append((ns, text))
            if len(self.lines) > self.max_lines:
                del self.lines[0]
                self.dropped += 1
            self.file.write(rfc3339nano(ns) + " " + text + ("" if text.endswith("\n") else "\n"))
            self.file.flush()
            self.cond.notify_all()

    def close(self):
        with self.cond:
            if not self.closed:
                self.closed = True
                self.file.close()
            self.cond.notify_all()

    def snapshot(self):
        with self.cond:
            return list(self.lines), self.dropped

    def wait_from(self, index, timeout):
        """Lines from absolute index (counting dropped ones); returns (lines, next, closed)."""
        with self.cond:
            rel = index - self.dropped
            if rel >= len(self.lines) and not self.closed:
                self.cond.wait(timeout)
                rel = index - self.dropped
            rel = max(rel, 0)
            out = self.lines[rel:]
            return out, self.dropped + len(self.lines), self.closed
