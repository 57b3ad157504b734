"""The resource types the simulator serves: names, discovery facts, defaulting, validation,
and the server-side Table form that `kubectl get` asks for."""

import datetime
import re
import time

from .errors import invalid


class ResourceType:
    def __init__(self, group, version, resource, kind, namespaced, singular, short=(),
                 categories=(), subresources=(), verbs=None):
        self.group = group
        self.version = version
        self.resource = resource
        self.kind = kind
        self.namespaced = namespaced
        self.singular = singular
        self.short = list(short)
        self.categories = list(categories)
        self.subresources = list(subresources)
        self.verbs = verbs or ["create", "delete", "deletecollection", "get", "list", "patch",
                               "update", "watch"]

    @property
    def api_version(self):
        return self.group + "/" + self.version if self.group else self.version

    @property
    def key(self):
        return self.resource + ("." + self.group if self.group else "")

    def path_prefix(self):
        return "/apis/%s/%s" % (self.group, self.version) if self.group else "/api/v1"


TYPES = [
    ResourceType("", "v1", "namespaces", "Namespace", False, "namespace", ["ns"],
                 subresources=["status"],
                 verbs=["create", "delete", "get", "list", "patch", "update", "watch"]),
    ResourceType("", "v1", "pods", "Pod", True, "pod", ["po"], ["all"],
                 subresources=["log", "status", "eviction", "exec"]),
    ResourceType("", "v1", "secrets", "Secret", True, "secret"),
    ResourceType("", "v1", "configmaps", "ConfigMap", True, "configmap", ["cm"]),
    ResourceType("", "v1", "events", "Event", True, "event", ["ev"]),
    ResourceType("batch", "v1", "jobs", "Job", True, "job", [], ["all"], subresources=["status"]),
    ResourceType("batch", "v1", "cronjobs", "CronJob", True, "cronjob", ["cj"], ["all"],
                 subresources=["status"]),
    # stored only, for the coordinator's RBAC objects (manifests/rbac.yaml, the chart)
    ResourceType("", "v1", "serviceaccounts", "ServiceAccount", True, "serviceaccount", ["sa"]),
    ResourceType("rbac.authorization.k8s.io", "v1", "roles", "Role", True, "role"),
    ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True,
                 "rolebinding"),
]

BY_PATH = {(t.group, t.version, t.resource): t for t in TYPES}
BY_KEY = {t.key: t for t in TYPES}
POD = BY_KEY["pods"]
JOB = BY_KEY["jobs.batch"]
CRONJOB = BY_KEY["cronjobs.batch"]
NAMESPACE = BY_KEY["namespaces"]
EVENT = BY_KEY["events"]
GROUPS = {"": ["v1"], "batch": ["v1"], "rbac.authorization.k8s.io": ["v1"]}

NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s):
    if not s:
        return None
    s = s.replace("Z", "+00:00")
    if "." in s:
        head, tail = s.split(".", 1)
        frac = re.match(r"(\d+)(.*)", tail)
        s = head + "." + frac.group(1)[:6].ljust(6, "0") + frac.group(2)
    return datetime.datetime.fromisoformat(s).timestamp()


def _container_causes(containers, base, causes):
    names = set()
    for i, c in enumerate(containers):
        p = "%s[%d]" % (base, i)
        if not isinstance(c, dict):
            causes.append((p, "FieldValueInvalid", "Invalid value: must be an object"))
            continue
        if not c.get("name"):
            causes.append((p + ".name", "FieldValueRequired", "Required value"))
        elif c["name"] in names:
            causes.append((p + ".name", "FieldValueDuplicate",
                           'Duplicate value: "%s"' % c["name"]))
        names.add(c.get("name"))
        if not c.get("image"):
            causes.append((p + ".image", "FieldValueRequired", "Required value"))


def _pod_spec_causes(spec, base, causes, job=False):
    if not isinstance(spec, dict):
        causes.append((base, "FieldValueRequired", "Required value"))
        return
    containers = spec.get("containers")
    if not containers:
        causes.append((base + ".containers", "FieldValueRequired", "Required value"))
    else:
        _container_causes(containers, base + ".containers", causes)
    _container_causes(spec.get("initContainers") or [], base + ".initContainers", causes)
    rp = spec.get("restartPolicy")
    if job:
        if rp is None:
            causes.append((base + ".restartPolicy", "FieldValueRequired",
                           'Required value: valid values: "OnFailure", "Never"'))
        elif rp not in ("OnFailure", "Never"):
            causes.append((base + ".restartPolicy", "FieldValueNotSupported",
                           'Unsupported value: "%s": supported values: "OnFailure", "Never"' % rp))


def validate(rt, obj, name):
    """Raise 422 Invalid with causes for what the real API would refuse (a useful subset)."""
    causes = []
    meta = obj.get("metadata") or {}
    if not name:
        causes.append(("metadata.name", "FieldValueRequired",
                       "Required value: name or generateName is required"))
    elif not NAME_RE.match(name) or len(name) > 253:
        causes.append(("metadata.name", "FieldValueInvalid",
                       'Invalid value: "%s": a lowercase RFC 1123 subdomain must consist of lower '
                       "case alphanumeric characters, '-' or '.', and must start and end with an "
                       "alphanumeric character" % name))
    for k, v in (meta.get("labels") or {}).items():
        if not isinstance(v, str):
            causes.append(("metadata.labels", "FieldValueInvalid", "Invalid value: label values must be strings"))
    if rt is JOB:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            causes.append(("spec.template.spec.containers", "FieldValueRequired", "Required value"))
        else:
            _pod_spec_causes((spec.get("template") or {}).get("spec"), "spec.template.spec",
                             causes, job=True)
            prp = spec.get("podReplacementPolicy")
            if prp is not None and prp not in ("Failed", "TerminatingOrFailed"):
                causes.append(("spec.podReplacementPolicy", "FieldValueNotSupported",
                               'Unsupported value: "%s": supported values: "Failed", '
                               '"TerminatingOrFailed"' % prp))
            elif prp == "TerminatingOrFailed" and spec.get("podFailurePolicy"):
                causes.append(("spec.podReplacementPolicy", "FieldValueNotSupported",
                               'Unsupported value: "TerminatingOrFailed": supported values: '
                               '"Failed"'))
            if name and len(name) > 63:
                causes.append(("metadata.name", "FieldValueInvalid",
                               'Invalid value: "%s": must be no more than 63 characters' % name))
    elif rt is CRONJOB:
        spec = obj.get("spec")
        if not isinstance(spec, dict) or not spec.get("schedule"):
            causes.append(("spec.schedule", "FieldValueRequired", "Required value"))
        jt = (spec or {}).get("jobTemplate") if isinstance(spec, dict) else None
        _pod_spec_causes(((jt or {}).get("spec") or {}).get("template", {}).get("spec"),
                         "spec.jobTemplate.spec.template.spec", causes, job=True)
    elif rt is POD:
        _pod_spec_causes(obj.get("spec"), "spec", causes)
    if causes:
        raise invalid(rt, name or "", causes)


def _default_containers(spec):
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("imagePullPolicy",
                     "Always" if c.get("image", "").endswith(":latest") or ":" not in c.get("image", "")
                     else "IfNotPresent")
        c.setdefault("resources", {})


def default_pod_spec(spec):
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    _default_containers(spec)


def apply_defaults(rt, obj):
    """Defaulting done by the apiserver at create time."""
    if rt is POD:
        spec = obj.setdefault("spec", {})
        default_pod_spec(spec)
        obj.setdefault("status", {"phase": "Pending", "qosClass": "BestEffort"})
    elif rt is JOB:
        spec = obj.setdefault("spec", {})
        uid = obj["metadata"]["uid"]
        spec.setdefault("parallelism", 1)
        spec.setdefault("completions", 1)
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        # Failed is the only value allowed with a podFailurePolicy, and its default there.
        spec.setdefault("podReplacementPolicy",
                        "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed")
        if not spec.get("manualSelector"):
            spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
            tmeta = spec.setdefault("template", {}).setdefault("metadata", {})
            labels = tmeta.setdefault("labels", {})
            labels.update({"batch.kubernetes.io/controller-uid": uid,
                           "batch.kubernetes.io/job-name": obj["metadata"]["name"],
                           "controller-uid": uid, "job-name": obj["metadata"]["name"]})
        default_pod_spec(spec.setdefault("template", {}).setdefault("spec", {}))
        obj.setdefault("status", {})
        obj["metadata"].setdefault("labels", {}).update(
            {"batch.kubernetes.io/controller-uid": uid,
             "batch.kubernetes.io/job-name": obj["metadata"]["name"],
             "controller-uid": uid, "job-name": obj["metadata"]["name"]})
    elif rt is CRONJOB:
        spec = obj.setdefault("spec", {})
        spec.setdefault("suspend", False)
        spec.setdefault("concurrencyPolicy", "Allow")
        spec.setdefault("successfulJobsHistoryLimit", 3)
        spec.setdefault("failedJobsHistoryLimit", 1)
        default_pod_spec(spec.setdefault("jobTemplate", {}).setdefault("spec", {})
                         .setdefault("template", {}).setdefault("spec", {}))
        obj.setdefault("status", {})
    elif rt is NAMESPACE:
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        obj.setdefault("status", {"phase": "Active"})
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
    elif rt.kind == "Secret":
        obj.setdefault("type", "Opaque")
        if obj.get("stringData"):
            import base64
            obj.setdefault("data", {}).update(
                {k: base64.b64encode(v.encode()).decode() for k, v in obj.pop("stringData").items()})


# ---------------------------------------------------------------- Table (kubectl get)

def _age(obj):
    t = parse_time(obj.get("metadata", {}).get("creationTimestamp"))
    return _human(time.time() - t) if t else "<unknown>"


def _human(secs):
    secs = int(max(secs, 0))
    if secs < 120:
        return "%ds" % secs
    if secs < 600:
        return "%dm%ds" % (secs // 60, secs % 60) if secs % 60 else "%dm" % (secs // 60)
    if secs < 3 * 3600:
        return "%dm" % (secs // 60)
    if secs < 48 * 3600:
        return "%dh" % (secs // 3600)
    return "%dd" % (secs // 86400)


def pod_status_reason(pod):
    st = pod.get("status") or {}
    reason = st.get("reason") or st.get("phase") or "Pending"
    for cs in st.get("initContainerStatuses") or []:
        state = cs.get("state") or {}
        if "terminated" in state and state["terminated"].get("exitCode") == 0:
            continue
        if "terminated" in state:
            reason = "Init:" + (state["terminated"].get("reason") or "Error")
            return reason
        if "waiting" in state and state["waiting"].get("reason") not in (None, "PodInitializing"):
            return "Init:" + state["waiting"]["reason"]
        n = len(pod["spec"].get("initContainers") or [])
        done = sum(1 for x in st.get("initContainerStatuses") or []
                   if (x.get("state") or {}).get("terminated", {}).get("exitCode") == 0)
        return "Init:%d/%d" % (done, n)
    for cs in st.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if "waiting" in state and state["waiting"].get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state:
            reason = state["terminated"].get("reason") or (
                "Signal:%d" % state["terminated"]["signal"] if state["terminated"].get("signal")
                else "ExitCode:%d" % state["terminated"].get("exitCode", 0))
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    return reason


def _pod_row(pod):
    st = pod.get("status") or {}
    css = st.get("containerStatuses") or []
    total = len(pod["spec"].get("containers") or [])
    ready = sum(1 for c in css if c.get("ready"))
    restarts = sum(c.get("restartCount", 0) for c in css)
    return [pod["metadata"]["name"], "%d/%d" % (ready, total), pod_status_reason(pod), restarts,
            _age(pod), st.get("podIP") or "<none>", pod["spec"].get("nodeName") or "<none>",
            "<none>", "<none>"]


def job_state(job):
    st = job.get("status") or {}
    conds = {c["type"]: c for c in st.get("conditions") or [] if c.get("status") == "True"}
    if "Complete" in conds:
        return "Complete"
    if "Failed" in conds:
        return "Failed"
    if job["metadata"].get("deletionTimestamp"):
        return "Terminating"
    if "SuccessCriteriaMet" in conds:
        return "SuccessCriteriaMet"
    if "FailureTarget" in conds:
        return "FailureTarget"
    if "Suspended" in conds:
        return "Suspended"
    return "Running"


def _job_row(job):
    st = job.get("status") or {}
    completions = job["spec"].get("completions")
    comp = "%d/%s" % (st.get("succeeded", 0), completions if completions is not None else "1")
    start = parse_time(st.get("startTime"))
    end = parse_time(st.get("completionTime")) or time.time()
    dur = _human(end - start) if start else ""
    c = job["spec"]["template"]["spec"]["containers"]
    sel = ",".join("%s=%s" % kv for kv in sorted((job["spec"].get("selector") or {})
                                                   .get("matchLabels", {}).items()))
    return [job["metadata"]["name"], job_state(job), comp, dur, _age(job),
            ",".join(x.get("name", "") for x in c), ",".join(x.get("image", "") for x in c), sel]


def _cronjob_row(cj):
    st = cj.get("status") or {}
    last = parse_time(st.get("lastScheduleTime"))
    c = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    return [cj["metadata"]["name"], cj["spec"].get("schedule", ""),
            cj["spec"].get("timeZone") or "<none>", str(bool(cj["spec"].get("suspend"))),
            len(st.get("active") or []), _human(time.time() - last) if last else "<none>",
            _age(cj), ",".join(x.get("name", "") for x in c),
            ",".join(x.get("image", "") for x in c), "<none>"]


def _col(name, typ="string", priority=0, fmt=""):
    return {"name": name, "type": typ, "format": fmt, "description": name, "priority": priority}


COLUMNS = {
    "Pod": ([_col("Name", fmt="name"), _col("Ready"), _col("Status"), _col("Restarts", "string"),
             _col("Age"), _col("IP", priority=1), _col("Node", priority=1),
             _col("Nominated Node", priority=1), _col("Readiness Gates", priority=1)], _pod_row),
    "Job": ([_col("Name", fmt="name"), _col("Status"), _col("Completions"), _col("Duration"),
             _col("Age"), _col("Containers", priority=1), _col("Images", priority=1),
             _col("Selector", priority=1)], _job_row),
    "CronJob": ([_col("Name", fmt="name"), _col("Schedule"), _col("Timezone"), _col("Suspend"),
                 _col("Active", "integer"), _col("Last Schedule"), _col("Age"),
                 _col("Containers", priority=1), _col("Images", priority=1),
                 _col("Selector", priority=1)], _cronjob_row),
    "Namespace": ([_col("Name", fmt="name"), _col("Status"), _col("Age")],
                  lambda o: [o["metadata"]["name"], (o.get("status") or {}).get("phase", "Active"),
                             _age(o)]),
    "Secret": ([_col("Name", fmt="name"), _col("Type"), _col("Data", "integer"), _col("Age")],
               lambda o: [o["metadata"]["name"], o.get("type", "Opaque"), len(o.get("data") or {}),
                          _age(o)]),
}


def _partial(obj):
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata", {})}


def to_table(rt, objs, rv, include_object="Metadata", with_columns=True):
    cols, rowfn = COLUMNS.get(rt.kind, ([_col("Name", fmt="name"), _col("Age")],
                                        lambda o: [o["metadata"]["name"], _age(o)]))
    rows = []
    for o in objs:
        row = {"cells": rowfn(o)}
        if include_object == "Object":
            row["object"] = o
        elif include_object != "None":
            row["object"] = _partial(o)
        rows.append(row)
    table = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": rv},
             "rows": rows}
    # Watch events after the first carry no column definitions, as the real server does.
    table["columnDefinitions"] = cols if with_columns else []
    return table
