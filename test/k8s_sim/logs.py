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


class Stamper:
    """rfc3339nano for many lines: the part down to the second is made once a second."""

    def __init__(self):
        self.sec = None
        self.base = ""

    def __call__(self, ns):
        secs, frac = divmod(ns, 1_000_000_000)
        if secs != self.sec:
            self.sec = secs
            self.base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
        if not frac:
            return self.base + "Z"
        return "%s.%sZ" % (self.base, ("%09d" % frac).rstrip("0"))


class LogBuffer:
    def __init__(self, path, max_lines=200000):
        self.cond = threading.Condition()
        # (ns, text, stamp): text keeps its "\n" unless it was a partial last line;
        # stamp is ns as the log API writes it (made once, sent many times)
        self.lines = []
        self.closed = False
        self.max_lines = max_lines
        self.dropped = 0
        self.stamp = Stamper()
        # The bytes as the container wrote them (invalid UTF-8 too, as a real
        # kubelet keeps them): surrogateescape round-trips them.
        self.file = open(path, "a", encoding="utf-8", errors="surrogateescape")

    def append(self, text):
        self.append_many([text])

    def append_many(self, texts):
        """Lines of one read from the container: one lock, one file write, one wake-up."""
        if not texts:
            return
        with self.cond:
            if self.closed:
                return
            out = []
            # the lines of one read a nanosecond apart: in order, each its own time
            ns0 = max(time.time_ns(), self.lines[-1][0] + 1 if self.lines else 0)
            for i, text in enumerate(texts):
                ns = ns0 + i
                st = self.stamp(ns)
                self.lines.append((ns, text, st))
                out.append(st + " " + text + ("" if text.endswith("\n") else "\n"))
            # Over the cap: drop the oldest in one go (a quarter more than needed,
            # so that the list is not shifted on every line).
            over = len(self.lines) - self.max_lines
            if over > 0:
                over = min(len(self.lines), over + self.max_lines // 4)
                del self.lines[:over]
                self.dropped += over
            self.file.write("".join(out))
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
