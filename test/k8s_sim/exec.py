"""pods/exec over WebSocket, the way kubectl (>= 1.30) speaks it: the channel
protocols v5.channel.k8s.io and v4.channel.k8s.io on top of RFC 6455.

Every binary message starts with a channel byte: 0 stdin, 1 stdout, 2 stderr,
3 error (one JSON Status when the command ends), 4 resize (JSON Width/Height);
v5 adds 255, "close the stream named by the next byte" (stdin's EOF). The
command runs as a local process with the container's path mapping and
environment (kubelet.PodWorker.exec_process), so it sees what the container's
own processes see. SPDY (the older upgrade) is refused with 400, which is what
makes kubectl report an upgrade failure for it."""

import base64
import hashlib
import json
import os
import select
import signal
import struct
import threading
import urllib.parse

from . import procs
from . import resources as R
from .errors import ApiError

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
MAX_FRAME = 16 << 20


class Socket:
    """Frames on one upgraded connection. The client's frames are read by one
    thread while another writes the command's output, and OpenSSL does not
    allow one connection to be read and written from two threads at once: a
    read waits for data with a select on the socket, outside the lock, and
    then reads under the lock the writes take. Reads go straight to the
    connection, not through the handler's buffered reader: clients send
    frames only after the 101, so that reader holds none of them."""

    def __init__(self, h):
        self.conn = h.connection
        self.w = h.wfile
        self.lock = threading.Lock()
        self.closed = False
        self.buf = bytearray()

    def _fill(self):
        pending = getattr(self.conn, "pending", None)  # a TLS socket's decrypted bytes
        if not (pending and pending()):
            select.select([self.conn], [], [])
        with self.lock:
            data = self.conn.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def _read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def recv(self):
        """(opcode, payload) of the next whole message; continuation frames joined."""
        op, msg = None, b""
        while True:
            b0, b1 = self._read_exact(2)
            fin, opcode = b0 & 0x80, b0 & 0x0F
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read_exact(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read_exact(8))[0]
            if n > MAX_FRAME:
                raise EOFError
            mask = self._read_exact(4) if b1 & 0x80 else None
            data = self._read_exact(n)
            if mask:
                data = bytes(c ^ mask[i % 4] for i, c in enumerate(data))
            if opcode >= 8:  # control frames come whole, between fragments too
                return opcode, data
            if opcode != OP_CONT:
                op = opcode
            msg += data
            if fin:
                return op, msg

    def send(self, opcode, payload=b""):
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([n])
        elif n < 65536:
            head += bytes([126]) + struct.pack("!H", n)
        else:
            head += bytes([127]) + struct.pack("!Q", n)
        with self.lock:
            if self.closed:
                return
            try:
                self.w.write(head + payload)
                self.w.flush()
            except OSError:
                self.closed = True

    def channel(self, ch, data):
        self.send(OP_BIN, bytes([ch]) + data)

    def close(self, code=1000):
        self.send(OP_CLOSE, struct.pack("!H", code))
        with self.lock:
            self.closed = True


def _status(code):
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": "command terminated with non-zero exit code: exit status %d" % code,
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def _handshake(h):
    if (h.headers.get("Upgrade") or "").lower() != "websocket":
        raise ApiError(400, "Upgrade request required (this server speaks exec over "
                       "WebSocket only: %s)" % ", ".join(PROTOCOLS), "BadRequest")
    offered = [p.strip() for p in (h.headers.get("Sec-WebSocket-Protocol") or "").split(",")]
    proto = next((p for p in PROTOCOLS if p in offered), None)
    if proto is None:
        raise ApiError(400, "none of the offered subprotocols %r is supported (want one of %s)"
                       % (offered, ", ".join(PROTOCOLS)), "BadRequest")
    key = h.headers.get("Sec-WebSocket-Key") or ""
    accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    h.entry["code"] = 101
    h.send_response(101, "Switching Protocols")
    h.send_header("Upgrade", "websocket")
    h.send_header("Connection", "Upgrade")
    h.send_header("Sec-WebSocket-Accept", accept)
    h.send_header("Sec-WebSocket-Protocol", proto)
    h.end_headers()
    h.wfile.flush()
    h.close_connection = True
    return proto


def serve_exec(sim, h, ns, name):
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(h.path).query, keep_blank_values=True)
    argv = q.get("command") or []
    if not argv:
        raise ApiError(400, "you must specify at least 1 command", "BadRequest")
    want = {k: (q.get(k) or ["false"])[-1] in ("1", "true") for k in
            ("stdin", "stdout", "stderr", "tty")}
    pod = sim.store.get(R.POD, ns, name)
    containers = [c["name"] for c in pod["spec"]["containers"]]
    cname = (q.get("container") or [None])[-1] or containers[0]
    if cname not in containers:
        raise ApiError(400, "container %s is not valid for pod %s" % (cname, name), "BadRequest")
    if pod["status"].get("phase") in ("Succeeded", "Failed"):
        raise ApiError(400, "cannot exec into a container in a completed pod; current phase is "
                       "%s" % pod["status"]["phase"], "BadRequest")
    worker = sim.kubelet.worker_for(pod["metadata"]["uid"])
    running = any(cs.get("name") == cname and "running" in (cs.get("state") or {})
                  for cs in pod["status"].get("containerStatuses") or [])
    if worker is None or not running:
        raise ApiError(400, "unable to upgrade connection: container not found (\"%s\")" % cname,
                       "BadRequest")
    proto = _handshake(h)
    ws = Socket(h)
    try:
        proc, master = worker.exec_process(cname, argv, want["tty"])
    except OSError as e:
        ws.channel(ERROR, json.dumps({"metadata": {}, "status": "Failure", "reason": "InternalError",
                                      "message": 'exec: "%s": %s' % (argv[0], e.strerror)}).encode())
        ws.close()
        return
    _pump(ws, proc, master, want, proto)


def _pump(ws, proc, master, want, proto):
    outs = {}
    if master is not None:
        outs[master] = STDOUT
    else:
        outs[proc.stdout.fileno()] = STDOUT
        outs[proc.stderr.fileno()] = STDERR
    stdin_fd = master if master is not None else (proc.stdin.fileno() if proc.stdin else None)

    def reader():
        """Client to process: stdin, resize, stdin's close, pings, the close frame."""
        nonlocal stdin_fd
        while True:
            try:
                op, data = ws.recv()
            except (EOFError, OSError, ValueError):
                break
            if op == OP_PING:
                ws.send(OP_PONG, data)
            elif op == OP_CLOSE:
                break
            elif op == OP_BIN and data:
                ch, body = data[0], data[1:]
                if ch == STDIN and stdin_fd is not None and want["stdin"]:
                    try:
                        os.write(stdin_fd, body)
                    except OSError:
                        pass
                elif ch == RESIZE and master is not None:
                    _resize(master, body)
                elif ch == CLOSE and body[:1] == bytes([STDIN]) and master is None \
                        and proc.stdin:
                    proc.stdin.close()
                    stdin_fd = None
        # the client went away: the command goes too, as kubelet's exec does
        if proc.poll() is None:
            procs.killpg(proc.pid, signal.SIGKILL)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    open_fds = set(outs)
    while open_fds:
        r, _, _ = select.select(list(open_fds), [], [], 0.5)
        for fd in r:
            try:
                data = os.read(fd, 65536)
            except OSError:  # a pty's master reads EIO once the slave side is gone
                data = b""
            if not data:
                open_fds.discard(fd)
                continue
            if want["stdout"] or outs[fd] == STDERR and want["stderr"]:
                ws.channel(outs[fd], data)
        if not r and proc.poll() is not None and master is not None:
            break
    code = proc.wait()
    code = 128 - code if code < 0 else code
    if master is not None:
        os.close(master)
    ws.channel(ERROR, json.dumps(_status(code)).encode())
    ws.close()


def _resize(fd, body):
    try:
        size = json.loads(body)
        import fcntl
        import termios
        fcntl.ioctl(fd, termios.TIOCSWINSZ,
                    struct.pack("HHHH", int(size.get("Height", 24)), int(size.get("Width", 80)),
                                0, 0))
    except (ValueError, OSError, TypeError):
        pass
