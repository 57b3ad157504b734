"""python3 -m k8s_sim --port 0 --tls --state-dir DIR --image-map IMAGE=ROOTDIR ..."""

import argparse
import json
import os
import signal
import sys
import threading

# The TLS 1.3 suite a kube-apiserver picks (openssl.cnf): OpenSSL reads its configuration
# once, when ssl is first imported; the variable is gone again before the simulator runs
# a pod or the openssl CLI (neither is to see this configuration).
_conf = os.environ.get("OPENSSL_CONF")
os.environ["OPENSSL_CONF"] = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                          "openssl.cnf")
import ssl  # noqa: E402,F401
if _conf is None:
    del os.environ["OPENSSL_CONF"]
else:
    os.environ["OPENSSL_CONF"] = _conf

from .app import Simulator  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(prog="k8s_sim", description="Kubernetes API simulator for tests")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--tls", action="store_true", help="serve HTTPS (CA made at start)")
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--image-map", action="append", default=[], metavar="IMAGE=ROOTDIR")
    ap.add_argument("--image-entrypoint", action="append", default=[], metavar="IMAGE=JSON_ARGV",
                    help="default command for an image whose containers set none")
    ap.add_argument("--token", help="bearer token (default: random)")
    ap.add_argument("--bookmark-interval", type=float, default=2.0)
    ap.add_argument("--history", type=int, default=2000, help="watch events kept for resume")
    ap.add_argument("--job-backoff", type=float, default=2.0,
                    help="seconds before a failed pod's replacement, doubling (Kubernetes: 10)")
    ap.add_argument("--log-lines", type=int, default=200000,
                    help="lines kept per container log in memory (the oldest dropped first)")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    images = {}
    for m in a.image_map:
        image, sep, root = m.rpartition("=")
        if not sep or not image:
            ap.error("--image-map wants IMAGE=ROOTDIR, got %r" % m)
        images[image] = root
    entries = {}
    for m in a.image_entrypoint:
        image, _, argv_json = m.partition("=")
        entries[image] = json.loads(argv_json)
    sim = Simulator(a.state_dir, a.port, a.host, a.tls, images, entries, a.token, a.verbose,
                    a.bookmark_interval, a.history, a.job_backoff, a.log_lines)
    stop = threading.Event()
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, lambda *_: stop.set())
    sim.start()
    print("k8s_sim listening on %s" % sim.url, file=sys.stderr, flush=True)
    while not stop.wait(0.5):
        pass
    sim.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
