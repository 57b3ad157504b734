"""API errors in the real `Status` shape (k8s.io/apimachinery metav1.Status)."""

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def status_body(code, message, reason=None, details=None):
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason if reason is not None else REASONS.get(code, ""),
        "code": code,
    }
    if details:
        body["details"] = details
    return body


class ApiError(Exception):
    """Raised anywhere below the HTTP layer; the server turns it into a Status reply."""

    def __init__(self, code, message, reason=None, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.body = status_body(code, message, reason, details)
        self.headers = headers or {}


def qualified(rt):
    """`jobs.batch` / `pods`: how the API names a resource in messages."""
    return rt.resource + ("." + rt.group if rt.group else "")


def not_found(rt, name):
    return ApiError(404, '%s "%s" not found' % (qualified(rt), name), "NotFound",
                    {"name": name, "group": rt.group, "kind": rt.resource})


def already_exists(rt, name):
    return ApiError(409, '%s "%s" already exists' % (qualified(rt), name), "AlreadyExists",
                    {"name": name, "group": rt.group, "kind": rt.resource})


def conflict(rt, name):
    return ApiError(
        409,
        'Operation cannot be fulfilled on %s "%s": the object has been modified; '
        "please apply your changes to the latest version and try again" % (qualified(rt), name),
        "Conflict", {"name": name, "group": rt.group, "kind": rt.resource})


def invalid(rt, name, causes):
    """causes: list of (field, reason, message) e.g. ("spec.x", "FieldValueRequired", "Required value")."""
    parts = ["%s: %s" % (f, m) for f, _, m in causes]
    detail = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    kind_q = rt.kind + ("." + rt.group if rt.group else "")
    return ApiError(
        422, '%s "%s" is invalid: %s' % (kind_q, name, detail), "Invalid",
        {"name": name, "group": rt.group, "kind": rt.kind,
         "causes": [{"reason": r, "message": m, "field": f} for f, r, m in causes]})


def forbidden(user, verb, rt_resource, group, namespace, name=None):
    subject = rt_resource.split("/")[0] + ("." + group if group else "")
    if name:
        subject += ' "%s"' % name
    msg = '%s is forbidden: User "%s" cannot %s resource "%s" in API group "%s"' % (
        subject, user, verb, rt_resource, group)
    if namespace:
        msg += ' in the namespace "%s"' % namespace
    else:
        msg += " at the cluster scope"
    details = {"group": group, "kind": rt_resource.split("/")[0]}
    if name:
        details["name"] = name
    return ApiError(403, msg, "Forbidden", details)


def unauthorized():
    return ApiError(401, "Unauthorized", "Unauthorized")
