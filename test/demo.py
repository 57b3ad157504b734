"""The main job, end to end on this machine: a Kubernetes API simulator on loopback
whose kubelet runs containers as local processes, and the real relrun in front of it.

    relrun run --kubeconfig SIM --image live-stream:demo --pod-image relrun-pod:demo \
        --release /app/bin/live_stream --app-format FMT \
        'LiveStream.run("stream-42", bitrate: 4000)'

(it prints the command line exactly as it runs it)

relrun creates the Job, follows its pod, streams the task's logs from relrun-pod
(which starts the real fixture release inside the "pod"), and exits with the
task's exit code."""
import os
import shlex
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simlib import Sim  # noqa: E402

APP_FORMAT = "$date $time [$level] $metadata| $message"


def image_roots(build, tmp):
    """Map the two images to local directories, as a registry would hold them."""
    app = os.path.join(tmp, "live-stream")
    os.makedirs(app)
    os.symlink(os.path.join(build, "fixture", "rel"), os.path.join(app, "app"))
    pod = os.path.join(tmp, "relrun-pod")
    os.makedirs(pod)
    os.symlink(os.path.join(build, "cmd", "relrun-pod", "relrun-pod"),
               os.path.join(pod, "relrun-pod"))
    return {"live-stream:demo": app, "relrun-pod:demo": pod}


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
    expr = sys.argv[2] if len(sys.argv) > 2 else 'LiveStream.run("stream-42", bitrate: 4000)'
    relrun = os.path.join(build, "cmd", "relrun", "relrun")
    with tempfile.TemporaryDirectory(prefix="relrun-demo-") as tmp, \
            Sim(tls=True, images=image_roots(build, tmp)) as sim:
        argv = [relrun, "run", "--kubeconfig", sim.kubeconfig,
                "--image", "live-stream:demo", "--pod-image", "relrun-pod:demo",
                "--release", "/app/bin/live_stream", "--app-format", APP_FORMAT, expr]
        # the command line as it runs, the simulator's kubeconfig included
        print("$ " + shlex.join([os.path.relpath(relrun)] + argv[1:]), flush=True)
        code = subprocess.run(argv).returncode
        print("relrun exited with %d" % code, flush=True)
        return code


if __name__ == "__main__":
    sys.exit(main())
