"""Just enough of Kubernetes' protobuf encoding to read what kubectl's typed clients send
(`kubectl create namespace|secret|configmap` post application/vnd.kubernetes.protobuf and
do not fall back to JSON). Envelope: b"k8s\\0" + runtime.Unknown{typeMeta, raw}."""

MAGIC = b"k8s\x00"


def _varint(b, i):
    shift = result = 0
    while True:
        c = b[i]
        i += 1
        result |= (c & 0x7F) << shift
        if not c & 0x80:
            return result, i
        shift += 7


def fields(b):
    """{field number: [values]}; length-delimited values stay bytes."""
    out, i = {}, 0
    while i < len(b):
        key, i = _varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 2:
            n, i = _varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError("unsupported wire type %d" % wt)
        out.setdefault(num, []).append(v)
    return out


def _s(f, n):
    return f[n][-1].decode() if n in f else None


def _map(f, n, binary=False):
    out = {}
    for entry in f.get(n, []):
        e = fields(entry)
        k = e[1][-1].decode() if 1 in e else ""
        v = e[2][-1] if 2 in e else b""
        out[k] = v if binary else v.decode()
    return out


def _meta(raw):
    f = fields(raw)
    m = {}
    for n, k in ((1, "name"), (2, "generateName"), (3, "namespace"), (6, "resourceVersion")):
        if f.get(n, [b""])[-1]:  # proto2 encodes unset strings as empty ones
            m[k] = _s(f, n)
    if 11 in f:
        m["labels"] = _map(f, 11)
    if 12 in f:
        m["annotations"] = _map(f, 12)
    if 14 in f:
        m["finalizers"] = [x.decode() for x in f[14]]
    return m


def _namespace(f):
    obj = {"metadata": _meta(f[1][-1]) if 1 in f else {}}
    if 2 in f:
        spec = fields(f[2][-1])
        obj["spec"] = {"finalizers": [x.decode() for x in spec.get(1, [])]}
    return obj


def _secret(f):
    import base64
    obj = {"metadata": _meta(f[1][-1]) if 1 in f else {}}
    if 2 in f:
        obj["data"] = {k: base64.b64encode(v).decode() for k, v in _map(f, 2, True).items()}
    if f.get(3, [b""])[-1]:
        obj["type"] = _s(f, 3)
    if 4 in f:
        obj["stringData"] = _map(f, 4)
    if 5 in f:
        obj["immutable"] = bool(f[5][-1])
    return obj


def _configmap(f):
    import base64
    obj = {"metadata": _meta(f[1][-1]) if 1 in f else {}}
    if 2 in f:
        obj["data"] = _map(f, 2)
    if 3 in f:
        obj["binaryData"] = {k: base64.b64encode(v).decode() for k, v in _map(f, 3, True).items()}
    return obj


DECODERS = {"Namespace": _namespace, "Secret": _secret, "ConfigMap": _configmap}


def decode(body):
    """Returns the object as a JSON-like dict, or raises ValueError for kinds we cannot read."""
    if not body.startswith(MAGIC):
        raise ValueError("missing protobuf envelope")
    unknown = fields(body[len(MAGIC):])
    tm = fields(unknown[1][-1]) if 1 in unknown else {}
    api_version, kind = _s(tm, 1) or "", _s(tm, 2) or ""
    if kind not in DECODERS:
        raise ValueError("cannot decode protobuf %s" % kind)
    obj = DECODERS[kind](fields(unknown.get(2, [b""])[-1]))
    obj["apiVersion"], obj["kind"] = api_version, kind
    if "stringData" in obj:  # the API server folds stringData into data
        import base64
        obj.setdefault("data", {}).update(
            {k: base64.b64encode(v.encode()).decode() for k, v in obj.pop("stringData").items()})
    return obj
