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
    """RFC3339Nano stamps for runs of consecutive nanoseconds: the part down to the
    second is made once a second, the rest in one comprehension per run."""

    def __init__(self):
        self.sec = None
        self.base = ""

    def _base(self, secs):
        if secs != self.sec:
            self.sec = secs
            self.base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
        return self.base

    def __call__(self, ns):
        secs, frac = divmod(ns, 1_000_000_000)
        base = self._base(secs)
        if not frac:
            return base + "Z"
        return "%s.%sZ" % (base, ("%09d" % frac).rstrip("0"))

    def stamp_lines(self, ns0, texts):
        """[stamp(ns0 + i) + " " + texts[i]]: one string per line, made in bulk."""
        out = []
        i = 0
        n = len(texts)
        while i < n:
            secs, frac = divmod(ns0 + i, 1_000_000_000)
            base = self._base(secs)
            if not frac:
                out.append(base + "Z " + texts[i])
                i += 1
                continue
            # the lines up to the end of this second share base
            j = min(n, i + 1_000_000_000 - frac)
            pre = base + "."
            # "%09d" never ends in "." and frac > 0 here, so rstrip("0") stops in
            # the fraction
            out += [("%s%09d" % (pre, f)).rstrip("0") + "Z " + t
                    for f, t in zip(range(frac, frac + j - i), texts[i:j])]
            i = j
        return out


class LogBuffer:
    """Three parallel lists (no tuple per line): ns[i] the line's time (strictly
    increasing), texts[i] the line as the container wrote it (its "\n" kept unless it
    was a partial last line), stamped[i] = its RFC3339Nano stamp + " " + texts[i], made
    once and sent many times."""

    def __init__(self, path, max_lines=200000):
        self.cond = threading.Condition()
        self.ns = []
        self.texts = []
        self.stamped = []
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
            n = len(texts)
            # the lines of one read a nanosecond apart: in order, each its own time
            ns0 = max(time.time_ns(), self.ns[-1] + 1 if self.ns else 0)
            stamped = self.stamp.stamp_lines(ns0, texts)
            self.ns += range(ns0, ns0 + n)
            self.texts += texts
            self.stamped += stamped
            # Over the cap: drop the oldest in one go (a quarter more than needed,
            # so that the lists are not shifted on every line).
            over = len(self.ns) - self.max_lines
            if over > 0:
                over = min(len(self.ns), over + self.max_lines // 4)
                del self.ns[:over]
                del self.texts[:over]
                del self.stamped[:over]
                self.dropped += over
            data = "".join(stamped)
            if not data.endswith("\n"):  # a partial last line: the file keeps lines
                data += "\n"
            self.file.write(data)
            self.file.flush()
            self.cond.notify_all()

    def close(self):
        with self.cond:
            if not self.closed:
                self.closed = True
                self.file.close()
            self.cond.notify_all()

    def snapshot(self):
        """(ns, texts, stamped, dropped): copies of the lines kept."""
        with self.cond:
            return list(self.ns), list(self.texts), list(self.stamped), self.dropped

    def wait_from(self, index, timeout):
        """Lines from absolute index (counting dropped ones); returns
        (ns, texts, stamped, next, closed)."""
        with self.cond:
            rel = index - self.dropped
            if rel >= len(self.ns) and not self.closed:
                self.cond.wait(timeout)
                rel = index - self.dropped
            rel = max(rel, 0)
            return (self.ns[rel:], self.texts[rel:], self.stamped[rel:],
                    self.dropped + len(self.ns), self.closed)
