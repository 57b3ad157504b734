"""TLS material (a CA made at start with the openssl CLI), the kubeconfig the simulator
writes, and request authentication (bearer token or client certificate)."""

import base64
import os
import secrets
import ssl
import subprocess

from .errors import unauthorized

TOKEN_USER = "sim-user"
CERT_USER = "sim-cert-user"
BAD_TOKEN = "this-token-is-wrong"
ANONYMOUS_PATHS = ("/version", "/healthz", "/livez", "/readyz")


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def _ec_key_and_csr(d, name, cn, org=None):
    subj = "/CN=%s" % cn + ("/O=%s" % org if org else "")
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", name + ".key", "-out", name + ".csr", "-subj", subj, cwd=d)


def _sign(d, name, ext):
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write(ext)
    _openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-set_serial", str(secrets.randbits(63) | 1), "-days", "2", "-sha256",
             "-extfile", name + ".ext", "-out", name + ".crt", cwd=d)


def make_pki(d):
    """CA, server cert (localhost, 127.0.0.1, ::1) and a client cert, all under d."""
    os.makedirs(d, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-sha256",
             "-subj", "/CN=k8s-sim-ca",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature", cwd=d)
    _ec_key_and_csr(d, "server", "k8s-sim-apiserver")
    _sign(d, "server", "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,"
          "keyEncipherment\nextendedKeyUsage=serverAuth\n"
          "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n")
    _ec_key_and_csr(d, "client", CERT_USER, "system:masters")
    _sign(d, "client", "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,"
          "keyEncipherment\nextendedKeyUsage=clientAuth\n")
    return {k: os.path.join(d, k + ".crt") for k in ("ca", "server", "client")}


def server_context(pki_dir):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(pki_dir, "server.crt"), os.path.join(pki_dir, "server.key"))
    ctx.load_verify_locations(os.path.join(pki_dir, "ca.crt"))
    ctx.verify_mode = ssl.CERT_OPTIONAL  # token clients send no certificate
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def _b64file(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def kubeconfig_yaml(url, token, pki_dir=None):
    """A kubeconfig (YAML, written by hand: no PyYAML here) with contexts sim, sim-cert
    (TLS only) and sim-badtoken; current context sim, namespace default."""
    ca = ""
    if pki_dir:
        ca = "    certificate-authority-data: %s\n" % _b64file(os.path.join(pki_dir, "ca.crt"))
    out = ["apiVersion: v1", "kind: Config", "preferences: {}", "clusters:", "- name: sim",
           "  cluster:", "    server: %s" % url]
    if ca:
        out.append(ca.rstrip("\n"))
    out += ["users:", "- name: sim-user", "  user:", "    token: %s" % token,
            "- name: sim-badtoken", "  user:", "    token: %s" % BAD_TOKEN]
    if pki_dir:
        out += ["- name: sim-cert", "  user:",
                "    client-certificate-data: %s" % _b64file(os.path.join(pki_dir, "client.crt")),
                "    client-key-data: %s" % _b64file(os.path.join(pki_dir, "client.key"))]
    out += ["contexts:"]
    ctxs = [("sim", "sim-user"), ("sim-badtoken", "sim-badtoken")]
    if pki_dir:
        ctxs.append(("sim-cert", "sim-cert"))
    for name, user in ctxs:
        out += ["- name: %s" % name, "  context:", "    cluster: sim", "    user: %s" % user,
                "    namespace: default"]
    out += ["current-context: sim", ""]
    return "\n".join(out)


class Authenticator:
    def __init__(self, token, allow_anonymous=False):
        self.token = token
        # Plain-HTTP mode: client-go never sends a bearer token over http, so requests
        # without credentials are served as system:anonymous (like the old insecure port).
        self.allow_anonymous = allow_anonymous

    def authenticate(self, headers, peercert, path):
        """Returns (user, kind) where kind is bearer|cert|anonymous; raises 401."""
        auth = headers.get("Authorization")
        if auth:
            scheme, _, cred = auth.partition(" ")
            if scheme.lower() == "bearer" and secrets.compare_digest(cred.strip(), self.token):
                return TOKEN_USER, "bearer"
            raise unauthorized()
        if peercert:
            for rdn in peercert.get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        return v, "cert"
        if path in ANONYMOUS_PATHS or self.allow_anonymous:
            return "system:anonymous", "anonymous"
        raise unauthorized()
