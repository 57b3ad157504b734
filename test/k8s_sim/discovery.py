"""/version, API discovery (legacy and aggregated v2/v2beta1) and the OpenAPI v3 documents
kubectl reads (it checks a PATCH operation for the `fieldValidation` parameter to decide
that the server validates, so `kubectl create -f` skips client-side schema validation)."""

import hashlib
import json

from . import resources as R

VERSION = {
    "major": "1", "minor": "32", "gitVersion": "v1.32.0-sim", "gitCommit": "0" * 40,
    "gitTreeState": "clean", "buildDate": "2024-12-11T00:00:00Z", "goVersion": "go1.23.4",
    "compiler": "gc", "platform": "linux/amd64",
}

AGG_RE_PARTS = ("g=apidiscovery.k8s.io", "as=APIGroupDiscoveryList")


def wants_aggregated(accept):
    """Returns the media type to echo ("application/json;g=...;v=v2;as=...") or None."""
    for part in (accept or "").split(","):
        p = part.strip().replace(" ", "")
        if p.startswith("application/json") and all(x in p for x in AGG_RE_PARTS):
            for v in ("v2", "v2beta1"):
                if ";v=%s;" % v in p + ";":
                    return "application/json;g=apidiscovery.k8s.io;v=%s;as=APIGroupDiscoveryList" % v
    return None


def _types(group, version):
    return [t for t in R.TYPES if t.group == group and t.version == version]


def _legacy_resources(group, version):
    out = []
    for t in _types(group, version):
        out.append({"name": t.resource, "singularName": t.singular, "namespaced": t.namespaced,
                    "kind": t.kind, "verbs": t.verbs, "shortNames": t.short or None,
                    "categories": t.categories or None,
                    "storageVersionHash": hashlib.sha1(t.key.encode()).hexdigest()[:11]})
        for sub in t.subresources:
            kind = {"log": "Pod", "eviction": "Eviction"}.get(sub, t.kind)
            verbs = {"log": ["get"], "eviction": ["create"]}.get(sub, ["get", "patch", "update"])
            out.append({"name": t.resource + "/" + sub, "singularName": "", "namespaced": t.namespaced,
                        "kind": kind, "verbs": verbs,
                        **({"group": "policy", "version": "v1"} if sub == "eviction" else {})})
    for r in out:
        for k in ("shortNames", "categories"):
            if r.get(k) is None:
                r.pop(k, None)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion":
            (group + "/" + version) if group else version, "resources": out}


def legacy(path):
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}
    if path == "/api/v1":
        return _legacy_resources("", "v1")
    if path == "/apis":
        groups = []
        for g, versions in R.GROUPS.items():
            if not g:
                continue
            vs = [{"groupVersion": g + "/" + v, "version": v} for v in versions]
            groups.append({"name": g, "versions": vs, "preferredVersion": vs[0]})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
    parts = path.strip("/").split("/")
    if len(parts) == 2 and parts[0] == "apis" and parts[1] in R.GROUPS:
        g = parts[1]
        vs = [{"groupVersion": g + "/" + v, "version": v} for v in R.GROUPS[g]]
        return {"kind": "APIGroup", "apiVersion": "v1", "name": g, "versions": vs,
                "preferredVersion": vs[0]}
    if len(parts) == 3 and parts[0] == "apis" and parts[2] in R.GROUPS.get(parts[1], []):
        return _legacy_resources(parts[1], parts[2])
    return None


def aggregated(path, media):
    """APIGroupDiscoveryList for /api (the core group) or /apis (named groups)."""
    version = "v2" if ";v=v2;" in media + ";" else "v2beta1"
    groups = [g for g in R.GROUPS if (g == "") == (path == "/api")]
    items = []
    for g in groups:
        versions = []
        for v in R.GROUPS[g]:
            res = []
            for t in _types(g, v):
                d = {"resource": t.resource,
                     "responseKind": {"group": t.group, "version": t.version, "kind": t.kind},
                     "scope": "Namespaced" if t.namespaced else "Cluster",
                     "singularResource": t.singular, "verbs": t.verbs}
                if t.short:
                    d["shortNames"] = t.short
                if t.categories:
                    d["categories"] = t.categories
                subs = []
                for sub in t.subresources:
                    kind = {"log": ("", "v1", "Pod"), "eviction": ("policy", "v1", "Eviction")}.get(
                        sub, (t.group, t.version, t.kind))
                    subs.append({"subresource": sub,
                                 "responseKind": {"group": kind[0], "version": kind[1], "kind": kind[2]},
                                 "verbs": {"log": ["get"], "eviction": ["create"]}.get(
                                     sub, ["get", "patch", "update"])})
                if subs:
                    d["subresources"] = subs
                res.append(d)
            versions.append({"version": v, "resources": res, "freshness": "Current"})
        items.append({"metadata": {"name": g, "creationTimestamp": None}, "versions": versions})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/" + version,
            "metadata": {}, "items": items}


# ---------------------------------------------------------------- OpenAPI v3

def _param(name, where="query", required=False):
    return {"name": name, "in": where, "required": required, "schema": {"type": "string"},
            "uniqueItems": True, "description": name}


def _schema_name(t):
    return "io.k8s.api.%s.%s.%s" % (t.group or "core", t.version, t.kind)


def openapi_gv(group, version):
    paths, schemas = {}, {}
    for t in _types(group, version):
        gvk = {"group": t.group, "version": t.version, "kind": t.kind}
        ref = {"$ref": "#/components/schemas/" + _schema_name(t)}
        body = {"content": {"*/*": {"schema": ref}}, "required": True}
        ok = {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}}
        write_params = [_param("dryRun"), _param("fieldManager"), _param("fieldValidation")]

        def op(action, params, extra=None, t=t, gvk=gvk):
            o = {"operationId": action + t.kind, "tags": [t.group or "core"],
                 "parameters": params, "responses": ok,
                 "x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk}
            o.update(extra or {})
            return o
        prefix = t.path_prefix()
        ns_seg = "/namespaces/{namespace}" if t.namespaced else ""
        common = [_param("pretty")] + ([_param("namespace", "path", True)] if t.namespaced else [])
        paths[prefix + ns_seg + "/" + t.resource] = {
            "parameters": common,
            "get": op("list", [_param("labelSelector"), _param("fieldSelector"), _param("watch")]),
            "post": op("post", write_params, {"requestBody": body}),
        }
        paths[prefix + ns_seg + "/" + t.resource + "/{name}"] = {
            "parameters": common + [_param("name", "path", True)],
            "get": op("get", []),
            "put": op("put", write_params, {"requestBody": body}),
            "patch": op("patch", write_params + [_param("force")], {"requestBody": {
                "content": {m: {"schema": {"type": "object"}} for m in (
                    "application/json-patch+json", "application/merge-patch+json",
                    "application/strategic-merge-patch+json", "application/apply-patch+yaml")},
                "required": True}}),
            "delete": op("delete", [_param("gracePeriodSeconds"), _param("propagationPolicy")]),
        }
        schemas[_schema_name(t)] = {
            "type": "object", "description": t.kind,
            "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                           "metadata": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                           "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                           "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                           "data": {"type": "object", "additionalProperties": {"type": "string"}},
                           "type": {"type": "string"}},
            "x-kubernetes-group-version-kind": [gvk]}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": VERSION["gitVersion"]},
            "paths": paths, "components": {"schemas": schemas}}


def _gv_path(group, version):
    return "api/v1" if not group else "apis/%s/%s" % (group, version)


def openapi_root():
    paths = {}
    for g, versions in R.GROUPS.items():
        for v in versions:
            doc = json.dumps(openapi_gv(g, v), sort_keys=True).encode()
            h = hashlib.sha512(doc).hexdigest()[:64].upper()
            paths[_gv_path(g, v)] = {"serverRelativeURL": "/openapi/v3/%s?hash=%s" % (_gv_path(g, v), h)}
    return {"paths": paths}


def openapi_for(path):
    rel = path[len("/openapi/v3/"):].strip("/")
    for g, versions in R.GROUPS.items():
        for v in versions:
            if rel == _gv_path(g, v):
                return openapi_gv(g, v)
    return None
