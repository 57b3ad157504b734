"""relrun-pod's image without a Docker engine: manifests/build-image makes an OCI layout
with umoci, checked here by Debian's skopeo (`skopeo inspect`, `skopeo copy`) and umoci
(`umoci stat`): FROM scratch plus the one static binary, numeric non-root user, entrypoint
/relrun-pod, tagged as relrun's default --pod-image; and the binary in the layer does the
init container's job (`/relrun-pod --install DEST`).
"""
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("RELRUN_SOURCE_DIR", os.path.join(HERE, ".."))
BUILD = os.environ.get("RELRUN_BUILD_DIR", os.path.join(SOURCE, "build"))
RELRUN = os.environ.get("RELRUN_BIN", os.path.join(BUILD, "cmd", "relrun", "relrun"))
POD = os.environ.get("RELRUN_POD_BIN", os.path.join(BUILD, "cmd", "relrun-pod", "relrun-pod"))
SCRIPT = os.path.join(SOURCE, "manifests", "build-image")
STATIC = os.environ.get("RELRUN_POD_STATIC", "ON").upper() not in ("OFF", "0", "FALSE")


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=120, **kw)


def version():
    with open(os.path.join(SOURCE, "CMakeLists.txt")) as f:
        for line in f:
            if line.startswith("project(relrun VERSION "):
                return line.split()[2]
    raise AssertionError("no project version in CMakeLists.txt")


@unittest.skipUnless(shutil.which("umoci") and shutil.which("skopeo"),
                     "umoci and skopeo are needed (Debian packages; .ci/packages lists them)")
@unittest.skipUnless(os.path.exists(POD), "relrun-pod not built")
class Image(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="relrun-image-")
        cls.layout = os.path.join(cls.tmp, "oci")
        cls.tag = version()
        if STATIC:
            r = run([SCRIPT, "-b", POD, "-o", cls.layout])
            if r.returncode != 0:
                raise AssertionError(f"build-image failed:\n{r.stdout}{r.stderr}")
            cls.out = r.stdout

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        if not STATIC:
            self.skipTest("this build links relrun-pod dynamically (sanitizers)")

    def ref(self):
        return f"oci:{self.layout}:{self.tag}"

    def blob(self, digest):
        algo, hexd = digest.split(":")
        with open(os.path.join(self.layout, "blobs", algo, hexd), "rb") as f:
            data = f.read()
        self.assertEqual(hashlib.sha256(data).hexdigest(), hexd)  # content-addressed
        return data

    def test_skopeo_inspects_the_image(self):
        r = run(["skopeo", "inspect", self.ref()])
        self.assertEqual(r.returncode, 0, r.stderr)
        info = json.loads(r.stdout)
        self.assertEqual((info["Os"], info["Architecture"]), ("linux", "amd64"))
        self.assertEqual(len(info["Layers"]), 1)  # FROM scratch: one layer, the binary
        self.assertEqual(info["Labels"]["org.opencontainers.image.version"], self.tag)
        r = run(["skopeo", "inspect", "--config", self.ref()])
        self.assertEqual(r.returncode, 0, r.stderr)
        cfg = json.loads(r.stdout)["config"]
        self.assertEqual(cfg["Entrypoint"], ["/relrun-pod"])
        uid, gid = cfg["User"].split(":")
        self.assertTrue(uid.isdigit() and int(uid) > 0, cfg["User"])  # runAsNonRoot holds
        self.assertTrue(gid.isdigit())
        self.assertNotIn("Env", cfg)

    def test_umoci_stat_shows_the_history(self):
        r = run(["umoci", "stat", "--image", f"{self.layout}:{self.tag}", "--json"])
        self.assertEqual(r.returncode, 0, r.stderr)
        hist = json.loads(r.stdout)["history"]
        self.assertEqual([h.get("empty_layer", False) for h in hist], [False, True])
        self.assertTrue(all("manifests/build-image" in h["created_by"] for h in hist))

    def test_the_layer_is_the_static_binary_alone(self):
        with open(os.path.join(self.layout, "index.json")) as f:
            index = json.load(f)
        [m] = [m for m in index["manifests"]
               if m["annotations"]["org.opencontainers.image.ref.name"] == self.tag]
        manifest = json.loads(self.blob(m["digest"]))
        [layer] = manifest["layers"]
        data = self.blob(layer["digest"])
        if layer["mediaType"].endswith("gzip"):
            data = gzip.decompress(data)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            files = [t for t in tar.getmembers() if not t.isdir()]
            self.assertEqual([t.name.lstrip("./") for t in files], ["relrun-pod"])
            member = files[0]
            self.assertEqual(member.mode & 0o777, 0o755)  # any user may run it
            binary = tar.extractfile(member).read()
        self.assertEqual(binary[:4], b"\x7fELF")
        path = os.path.join(self.tmp, "relrun-pod")
        with open(path, "wb") as f:
            f.write(binary)
        os.chmod(path, 0o755)
        r = run(["file", "-b", path])
        self.assertIn("statically linked", r.stdout)
        self.assertIn("stripped", r.stdout)
        self.assertLess(len(binary), os.path.getsize(POD))
        # what the init container does with it: copy itself into the shared emptyDir
        dest = os.path.join(self.tmp, "emptydir", "relrun-pod")
        os.makedirs(os.path.dirname(dest))
        r = run([path, "--install", dest])
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(dest, "rb") as f:
            self.assertEqual(f.read(), binary)
        self.assertTrue(os.access(dest, os.X_OK))

    def test_publishing_is_one_skopeo_copy(self):
        # a registry is docker://...; an archive shows the same copy works offline
        archive = os.path.join(self.tmp, "relrun-pod.tar")
        r = run(["skopeo", "copy", self.ref(), f"oci-archive:{archive}:{self.tag}"])
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run(["skopeo", "inspect", f"oci-archive:{archive}:{self.tag}"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(json.loads(r.stdout)["Layers"]), 1)
        self.assertIn(f"skopeo copy oci:{self.layout}:{self.tag} docker://", self.out)

    def test_the_tag_is_the_default_pod_image(self):
        if not os.path.exists(RELRUN):
            self.skipTest("relrun not built")
        env = {k: v for k, v in os.environ.items() if not k.startswith("RELRUN_")}
        r = run([RELRUN, "render", "--image", "a:1", "--release", "/app/bin/a", "M.f()",
                 "-o", "json"], env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        init = json.loads(r.stdout)["spec"]["template"]["spec"]["initContainers"][0]
        self.assertEqual(init["image"], f"ghcr.io/relrun/relrun-pod:{self.tag}")

    def test_a_second_build_adds_a_tag_to_the_layout(self):
        r = run([SCRIPT, "-b", POD, "-o", self.layout, "-t", "edge"])
        self.assertEqual(r.returncode, 0, r.stderr)
        for tag in (self.tag, "edge"):
            r = run(["skopeo", "inspect", f"oci:{self.layout}:{tag}"])
            self.assertEqual(r.returncode, 0, r.stderr)


@unittest.skipUnless(shutil.which("umoci"), "umoci is needed")
class Refusals(unittest.TestCase):
    def test_bad_input_is_refused_clearly(self):
        with tempfile.TemporaryDirectory() as d:
            dyn = shutil.which("true")  # a dynamically linked binary
            r = run([SCRIPT, "-b", dyn, "-o", os.path.join(d, "x")])
            self.assertEqual(r.returncode, 1)
            self.assertIn("is not statically linked", r.stderr)
            self.assertFalse(os.path.exists(os.path.join(d, "x")))
            r = run([SCRIPT, "-b", os.path.join(d, "nope")])
            self.assertEqual(r.returncode, 1)
            self.assertIn("not found", r.stderr)
            r = run([SCRIPT, "-t", "bad tag"])
            self.assertEqual(r.returncode, 1)
            self.assertIn('tag "bad tag"', r.stderr)
            os.makedirs(os.path.join(d, "notalayout"))
            with open(os.path.join(d, "notalayout", "f"), "w"):
                pass
            if os.path.exists(POD) and STATIC:
                r = run([SCRIPT, "-b", POD, "-o", os.path.join(d, "notalayout")])
                self.assertEqual(r.returncode, 1)
                self.assertIn("is not an OCI layout", r.stderr)
            r = run([SCRIPT, "extra"])
            self.assertEqual(r.returncode, 64)


if __name__ == "__main__":
    unittest.main()
