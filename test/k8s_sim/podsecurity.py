"""Pod Security Standards (baseline, restricted), as the PodSecurity admission plugin checks
them, for the simulator's admission of pods and for the tests' checks of every rendered Job,
CronJob and chart object.

Written from the standards' text (kubernetes.io/docs/concepts/security/pod-security-standards):

baseline   no hostNetwork/hostPID/hostIPC, no privileged containers, capabilities added only
           from the default set, no hostPath volumes, no hostPorts, no Unconfined seccomp,
           no unmasked /proc, only the safe sysctls, no custom SELinux user/role or type
           outside container_t/container_init_t/container_kvm_t, AppArmor only
           runtime/default or localhost/*
restricted baseline plus: volumes only configMap, csi, downwardAPI, emptyDir, ephemeral,
           persistentVolumeClaim, projected, secret; allowPrivilegeEscalation false;
           runAsNonRoot true (pod or every container) and no runAsUser 0; seccompProfile
           RuntimeDefault or Localhost (pod or every container); capabilities drop ALL and
           add at most NET_BIND_SERVICE -- for every container, init containers included

check(pod_spec, level, pod_metadata=None) returns the violations in the admission plugin's
order and wording ("allowPrivilegeEscalation != false (containers \"a\", \"b\" must set
securityContext.allowPrivilegeEscalation=false)"); forbidden_message() words the 403.
"""

LEVELS = ("privileged", "baseline", "restricted")
ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
ENFORCE_VERSION_LABEL = "pod-security.kubernetes.io/enforce-version"

BASELINE_CAPS = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                 "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
                "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies",
                "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
                "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"}
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                      "persistentVolumeClaim", "projected", "secret"}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t"}


def _containers(spec):
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(key) or []:
            yield c


def _sc(obj):
    return obj.get("securityContext") or {}


def _quoted(names):
    return ", ".join('"%s"' % n for n in names)


def _who(names, pod_too=False):
    """'container "a"' or 'containers "a", "b"', optionally prefixed by 'pod or '."""
    word = "container" if len(names) == 1 else "containers"
    return ("pod or " if pod_too else "") + word + " " + _quoted(names)


def check(spec, level, meta=None):
    """The violations of pod spec (a PodSpec dict) against level, [] when it passes."""
    if level not in LEVELS:
        raise ValueError("unknown Pod Security level %r" % level)
    if level == "privileged":
        return []
    meta = meta or {}
    psc = _sc(spec)
    cs = list(_containers(spec))
    out = []
    restricted = level == "restricted"

    if restricted:
        bad = [c["name"] for c in cs if _sc(c).get("allowPrivilegeEscalation") is not False]
        if bad:
            out.append("allowPrivilegeEscalation != false (%s must set "
                       "securityContext.allowPrivilegeEscalation=false)" % _who(bad))

    # appArmorProfile: annotations and the securityContext field
    bad_aa = []
    for k, v in (meta.get("annotations") or {}).items():
        if k.startswith("container.apparmor.security.beta.kubernetes.io/"):
            if v != "runtime/default" and not v.startswith("localhost/"):
                bad_aa.append('%s="%s"' % (k, v))
    for obj in [spec] + cs:
        t = (_sc(obj).get("appArmorProfile") or {}).get("type")
        if t and t not in ("RuntimeDefault", "Localhost"):
            bad_aa.append('%s "%s"' % ("pod" if obj is spec else "container " + obj["name"], t))
    if bad_aa:
        out.append("forbidden AppArmor profile%s (%s)" % ("s" if len(bad_aa) > 1 else "",
                                                          ", ".join(bad_aa)))

    # capabilities_baseline
    added = []
    for c in cs:
        for cap in ((_sc(c).get("capabilities") or {}).get("add") or []):
            if cap not in BASELINE_CAPS and (c["name"], cap) not in added:
                added.append((c["name"], cap))
    if added:
        names = []
        for n, _ in added:
            if n not in names:
                names.append(n)
        caps = []
        for _, cap in added:
            if cap not in caps:
                caps.append(cap)
        out.append("non-default capabilities (%s must not include %s in "
                   "securityContext.capabilities.add)" % (_who(names), _quoted(caps)))

    if restricted:
        no_drop = [c["name"] for c in cs
                   if "ALL" not in ((_sc(c).get("capabilities") or {}).get("drop") or [])]
        bad_add = []
        for c in cs:
            for cap in ((_sc(c).get("capabilities") or {}).get("add") or []):
                if cap != "NET_BIND_SERVICE":
                    bad_add.append((c["name"], cap))
        parts = []
        if no_drop:
            parts.append('%s must set securityContext.capabilities.drop=["ALL"]' % _who(no_drop))
        if bad_add:
            names = sorted({n for n, _ in bad_add}, key=[c["name"] for c in cs].index)
            caps = []
            for _, cap in bad_add:
                if cap not in caps:
                    caps.append(cap)
            parts.append("%s must not include %s in securityContext.capabilities.add"
                         % (_who(names), _quoted(caps)))
        if parts:
            out.append("unrestricted capabilities (%s)" % "; ".join(parts))

    hostns = [k + "=true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k)]
    if hostns:
        out.append("host namespaces (%s)" % ", ".join(hostns))

    hostpath = [v["name"] for v in spec.get("volumes") or [] if "hostPath" in v]
    if hostpath:
        out.append("hostPath volumes (%s %s)" % ("volume" if len(hostpath) == 1 else "volumes",
                                                 _quoted(hostpath)))

    ports = []
    for c in cs:
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                ports.append((c["name"], p["hostPort"]))
    if ports:
        names = []
        for n, _ in ports:
            if n not in names:
                names.append(n)
        out.append("hostPort (%s %s %s %s)" % (
            _who(names), "uses" if len(names) == 1 else "use",
            "hostPort" if len(ports) == 1 else "hostPorts", ", ".join(str(p) for _, p in ports)))

    priv = [c["name"] for c in cs if _sc(c).get("privileged")]
    if priv:
        out.append("privileged (%s must not set securityContext.privileged=true)" % _who(priv))

    unmasked = [c["name"] for c in cs if _sc(c).get("procMount") not in (None, "Default")]
    if unmasked:
        kinds = []
        for c in cs:
            pm = _sc(c).get("procMount")
            if pm not in (None, "Default") and pm not in kinds:
                kinds.append(pm)
        out.append("procMount (%s must not set securityContext.procMount to %s)"
                   % (_who(unmasked), _quoted(kinds)))

    if restricted:
        bad_vols = []
        for v in spec.get("volumes") or []:
            kinds = [k for k in v if k != "name"]
            for k in kinds:
                if k not in RESTRICTED_VOLUMES:
                    bad_vols.append((v["name"], k))
        if bad_vols:
            out.append("restricted volume types (%s)" % ", ".join(
                'volume "%s" uses restricted volume type "%s"' % bv for bv in bad_vols))

        # runAsNonRoot: the pod's setting, overridable per container
        pod_nonroot = psc.get("runAsNonRoot")
        explicit_false = [c["name"] for c in cs if _sc(c).get("runAsNonRoot") is False]
        unset = [c["name"] for c in cs if _sc(c).get("runAsNonRoot") is None]
        parts = []
        if pod_nonroot is False:
            parts.append("pod must not set securityContext.runAsNonRoot=false")
        if explicit_false:
            parts.append("%s must not set securityContext.runAsNonRoot=false"
                         % _who(explicit_false))
        if pod_nonroot is not True and unset and pod_nonroot is not False:
            parts.append("%s must set securityContext.runAsNonRoot=true" % _who(unset, True))
        if parts:
            out.append("runAsNonRoot != true (%s)" % "; ".join(parts))

        root = []
        if psc.get("runAsUser") == 0:
            root.append("pod")
        root_c = [c["name"] for c in cs if _sc(c).get("runAsUser") == 0]
        if root or root_c:
            parts = (["pod must not set runAsUser=0"] if root else []) + (
                ["%s must not set runAsUser=0" % _who(root_c)] if root_c else [])
            out.append("runAsUser=0 (%s)" % "; ".join(parts))

    bad_se = []
    for obj in [spec] + cs:
        se = _sc(obj).get("seLinuxOptions") or {}
        if se.get("type", "") not in SELINUX_TYPES or se.get("user") or se.get("role"):
            bad_se.append("pod" if obj is spec else obj["name"])
    if bad_se:
        out.append("seLinuxOptions (%s set forbidden securityContext.seLinuxOptions)"
                   % ", ".join(bad_se))

    # seccompProfile: baseline forbids Unconfined; restricted needs RuntimeDefault/Localhost
    def sp(obj):
        return (_sc(obj).get("seccompProfile") or {}).get("type")
    unconf = (["pod"] if sp(spec) == "Unconfined" else []) + [
        c["name"] for c in cs if sp(c) == "Unconfined"]
    if restricted:
        pod_ok = sp(spec) in ("RuntimeDefault", "Localhost")
        missing = [c["name"] for c in cs if sp(c) is None and not pod_ok]
        parts = []
        if unconf and unconf[0] == "pod":
            parts.append('pod must not set securityContext.seccompProfile.type to "Unconfined"')
        unc_c = [n for n in unconf if n != "pod"]
        if unc_c:
            parts.append('%s must not set securityContext.seccompProfile.type to "Unconfined"'
                         % _who(unc_c))
        if missing:
            parts.append('%s must set securityContext.seccompProfile.type to "RuntimeDefault" '
                         'or "Localhost"' % _who(missing, True))
        if parts:
            out.append("seccompProfile (%s)" % "; ".join(parts))
    elif unconf:
        out.append('seccompProfile (%s must not set securityContext.seccompProfile.type to '
                   '"Unconfined")' % ("pod" if unconf == ["pod"] else
                                      _who([n for n in unconf if n != "pod"])))

    bad_sys = [s.get("name") for s in psc.get("sysctls") or [] if s.get("name") not in SAFE_SYSCTLS]
    if bad_sys:
        out.append("forbidden sysctls (%s)" % ", ".join(bad_sys))
    return out


def namespace_level(ns_obj):
    """(level, version) the namespace enforces; ("privileged", "latest") when unlabelled."""
    labels = ((ns_obj or {}).get("metadata") or {}).get("labels") or {}
    level = labels.get(ENFORCE_LABEL, "privileged")
    if level not in LEVELS:
        level = "restricted"  # the plugin treats an invalid level as the most restrictive
    return level, labels.get(ENFORCE_VERSION_LABEL, "latest")


def forbidden_message(pod_name, level, version, violations):
    return 'pods "%s" is forbidden: violates PodSecurity "%s:%s": %s' % (
        pod_name, level, version, ", ".join(violations))


def pod_templates(obj):
    """(where, metadata, PodSpec) of each pod an object makes: Pod, Job, CronJob, Deployment-
    like objects with spec.template; nothing for other kinds."""
    kind = obj.get("kind")
    if kind == "Pod":
        return [("Pod", obj.get("metadata") or {}, obj.get("spec") or {})]
    if kind == "CronJob":
        t = ((obj.get("spec") or {}).get("jobTemplate") or {}).get("spec", {}).get("template")
    else:
        t = (obj.get("spec") or {}).get("template")
    if not t:
        return []
    return [("%s %s" % (kind, (obj.get("metadata") or {}).get("name") or
                        (obj.get("metadata") or {}).get("generateName")),
             t.get("metadata") or {}, t.get("spec") or {})]
