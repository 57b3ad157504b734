"""PATCH bodies: JSON merge patch (RFC 7386; also used for strategic merge patch, which
differs only for some lists) and JSON patch (RFC 6902)."""

import copy

from .errors import ApiError


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def _walk(doc, pointer):
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    if not parts:
        raise ApiError(422, "json patch: empty path", "Invalid")
    cur = doc
    for p in parts[:-1]:
        cur = cur[int(p)] if isinstance(cur, list) else cur[p]
    return cur, parts[-1]


def json_patch(doc, ops):
    doc = copy.deepcopy(doc)
    if not isinstance(ops, list):
        raise ApiError(400, "json patch must be a list of operations", "BadRequest")
    for op in ops:
        try:
            kind, path = op["op"], op["path"]
            parent, last = _walk(doc, path)
            if kind in ("add", "replace"):
                if isinstance(parent, list):
                    if last == "-":
                        parent.append(op["value"])
                    elif kind == "add":
                        parent.insert(int(last), op["value"])
                    else:
                        parent[int(last)] = op["value"]
                else:
                    if kind == "replace" and last not in parent:
                        raise KeyError(path)
                    parent[last] = op["value"]
            elif kind == "remove":
                if isinstance(parent, list):
                    del parent[int(last)]
                else:
                    del parent[last]
            elif kind == "test":
                val = parent[int(last)] if isinstance(parent, list) else parent[last]
                if val != op.get("value"):
                    raise ApiError(422, "json patch: test operation failed at %s" % path, "Invalid")
            else:
                raise ApiError(400, "json patch: unsupported op %r" % kind, "BadRequest")
        except (KeyError, IndexError, ValueError, TypeError) as e:
            raise ApiError(422, "the server rejected our request due to an error in our request: "
                           "json patch: %s" % e, "Invalid")
    return doc
