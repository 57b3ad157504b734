{{/*
The objects built here mirror pkg/manifest (manifest.c) field for field, so a
task rendered by this chart equals what `relrun render` (Jobs) and relrun's
CronJob builder print for the same inputs. test/it_chart.py compares them; keep
both in step.
*/}}

{{/*
relrun.slug: the task slug of an expression, as expr_slug() in pkg/expr:
the leading call head (Mod.Sub.fun), CamelCase and "." "_" split into
lowercase words joined by "-", at most 40 characters cut at a word boundary,
"task" when nothing usable is left.
*/}}
{{- define "relrun.slug" -}}
{{- $s := regexReplaceAll "^[ \\t\\n\\v\\f\\r]+" . "" | trimPrefix ":" -}}
{{- $s = regexFind "^[A-Za-z0-9_.]*" $s -}}
{{- $s = regexReplaceAll "([a-z0-9])([A-Z])" $s "${1}-${2}" -}}
{{- $s = regexReplaceAll "([A-Z])([A-Z][a-z])" $s "${1}-${2}" -}}
{{- $s = regexReplaceAll "[^A-Za-z0-9]+" $s "-" | trimAll "-" | lower -}}
{{- if gt (len $s) 40 -}}
{{- $head := substr 0 41 $s -}}
{{- if contains "-" $head -}}
{{- $s = regexReplaceAll "-[^-]*$" $head "" -}}
{{- else -}}
{{- $s = substr 0 40 $s -}}
{{- end -}}
{{- end -}}
{{- $s = trimAll "-" $s -}}
{{- $s | default "task" -}}
{{- end -}}

{{/*
relrun.seconds: a duration (integer seconds, or "90s", "5m", "1h30m") as
whole seconds. Argument: (list VALUE "what" ).
*/}}
{{- define "relrun.seconds" -}}
{{- $v := index . 0 -}}
{{- $what := index . 1 -}}
{{- if kindIs "string" $v -}}
{{- if not (regexMatch "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$" $v) -}}
{{- fail (printf "%s %q: not a duration (examples: 90, 30s, 5m, 1h30m)" $what $v) -}}
{{- end -}}
{{- $n := 0 -}}
{{- range regexFindAll "[0-9]+[hms]" $v -1 -}}
{{- $num := int (trimSuffix "h" (trimSuffix "m" (trimSuffix "s" .))) -}}
{{- if hasSuffix "h" . }}{{ $n = add $n (mul $num 3600) }}{{ else if hasSuffix "m" . }}{{ $n = add $n (mul $num 60) }}{{ else }}{{ $n = add $n $num }}{{ end -}}
{{- end -}}
{{- $n -}}
{{- else -}}
{{- if lt (float64 $v) 0.0 -}}
{{- fail (printf "%s: must not be negative" $what) -}}
{{- end -}}
{{- int64 $v -}}
{{- end -}}
{{- end -}}

{{/*
relrun.task: the task with the chart's defaults filled in and its checks
done, as YAML (fromYaml it). Argument: (dict "t" TASK "v" .Values "i" INDEX).
*/}}
{{- define "relrun.task" -}}
{{- $t := .t -}}
{{- $v := .v -}}
{{- $where := printf "tasks[%d]" (int .i) -}}
{{- $name := required (printf "%s.name is required" $where) $t.name -}}
{{- $where = printf "tasks[%d] (%s)" (int .i) $name -}}
{{- $expr := required (printf "%s: expression is required" $where) $t.expression -}}
{{- $inject := $t.inject | default $v.inject | default "init" -}}
{{- if not (has $inject (list "init" "none")) -}}
{{- fail (printf "%s: inject %q: want init or none" $where $inject) -}}
{{- end -}}
name: {{ $name | toJson }}
expression: {{ $expr | toJson }}
slug: {{ include "relrun.slug" $expr | toJson }}
{{- $img := ternary $t.image $v.image (hasKey $t "image") -}}
{{- if and (kindIs "map" $img) (kindIs "map" $v.image) (hasKey $t "image") -}}
{{- $img = mergeOverwrite (deepCopy $v.image) $t.image -}}
{{- end -}}
{{- $pull := "" -}}
{{- if kindIs "map" $img -}}
{{- $repo := required (printf "%s: image.repository is required" $where) $img.repository -}}
{{- $pull = $img.pullPolicy | default "" -}}
{{- if $img.digest -}}
{{- $img = printf "%s@%s" $repo $img.digest -}}
{{- else -}}
{{- $img = printf "%s:%s" $repo (required (printf "%s: image.tag is required (or image.digest)" $where) (toString ($img.tag | default ""))) -}}
{{- end -}}
{{- end }}
image: {{ required (printf "%s: image is required (set image or tasks[].image)" $where) $img | toJson }}
{{- with $pull }}
pullPolicy: {{ . | toJson }}
{{- end }}
release: {{ required (printf "%s: release is required, e.g. /app/bin/my_app (set release or tasks[].release)" $where) ($t.release | default $v.release) | toJson }}
inject: {{ $inject }}
{{- if eq $inject "init" }}
podImage: {{ required (printf "%s: podImage is required with inject init" $where) ($t.podImage | default $v.podImage) | toJson }}
{{- end }}
{{- with ($t.logFormat | default $v.logFormat) }}
logFormat: {{ . | toJson }}
{{- end }}
{{- with ($t.appFormat | default $v.appFormat) }}
appFormat: {{ . | toJson }}
{{- end }}
{{- if hasKey $t "schedule" }}
{{- with include "relrun.cronError" $t.schedule }}
{{- fail (printf "%s: schedule %q: %s" $where (toString $t.schedule) .) }}
{{- end }}
schedule: {{ $t.schedule | toJson }}
{{- else }}
{{- range list "timeZone" "concurrencyPolicy" "startingDeadlineSeconds" "successfulJobsHistoryLimit" "failedJobsHistoryLimit" "suspend" }}
{{- if hasKey $t . }}
{{- fail (printf "%s: %s applies to scheduled tasks only (set schedule)" $where .) }}
{{- end }}
{{- end }}
{{- end }}
backoffLimit: {{ max (int ($t.backoffLimit | default 0)) (int ($t.bootRetries | default 0)) }}
{{- if hasKey $t "each" }}
{{- if or (not (kindIs "slice" $t.each)) (empty $t.each) }}
{{- fail (printf "%s: each: want a list of items (the values of $item)" $where) }}
{{- end }}
{{- if gt (len $t.each) 1000 }}
{{- fail (printf "%s: each: %d items, at most 1000 in one Job" $where (len $t.each)) }}
{{- end }}
{{- if not (contains "$item" $expr) }}
{{- fail (printf "%s: each: the expression does not use $item" $where) }}
{{- end }}
each: {{ $t.each | toJson | toJson }}
completions: {{ len $t.each }}
parallelism: {{ min (len $t.each) (int ($t.parallelism | default (len $t.each))) }}
{{- else if hasKey $t "parallelism" }}
{{- fail (printf "%s: parallelism: only with each" $where) }}
{{- end }}
{{- if $t.timeout }}
timeout: {{ include "relrun.seconds" (list $t.timeout (printf "%s: timeout" $where)) }}
{{- end }}
{{- if and (hasKey $t "ttl") (not (kindIs "invalid" $t.ttl)) }}
ttl: {{ include "relrun.seconds" (list $t.ttl (printf "%s: ttl" $where)) }}
{{- else if and (not (hasKey $t "ttl")) (not $t.schedule) }}
{{- /* one-off Jobs: gone a day after they end, as relrun run's default; ttl: null keeps them */}}
ttl: 86400
{{- end }}
{{- if $t.readyTimeout }}
readyTimeout: {{ include "relrun.seconds" (list $t.readyTimeout (printf "%s: readyTimeout" $where)) }}
{{- end }}
grace: {{ include "relrun.seconds" (list ($t.grace | default 0) (printf "%s: grace" $where)) }}
{{- range list "imagePullSecrets" "nodeSelector" "tolerations" "affinity" "podAnnotations" "podLabels" "podSecurityContext" "securityContext" "resources" "priorityClassName" }}
{{- $val := ternary (get $t .) (get $v .) (hasKey $t .) }}
{{- if $val }}
{{ . }}: {{ $val | toJson }}
{{- end }}
{{- end }}
{{- end -}}

{{/* relrun.labels: the labels every object of a task carries. (dict "s" SETTINGS "cron" NAME-or-"") */}}
{{- define "relrun.labels" -}}
app.kubernetes.io/name: relrun
app.kubernetes.io/managed-by: relrun
relrun.dev/task: {{ .s.slug | toJson }}
{{- if .cron }}
relrun.dev/cron: {{ .cron | toJson }}
{{- end }}
{{ include "relrun.helmLabels" .root }}
{{- end -}}

{{/* relrun.helmLabels: Helm's standard labels, on every object. (the root context) */}}
{{- define "relrun.helmLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" | toJson }}
app.kubernetes.io/instance: {{ .Release.Name | toJson }}
app.kubernetes.io/version: {{ .Chart.AppVersion | toJson }}
{{- end -}}

{{/* relrun.fullname: the release's name for its own objects (the coordinator's ServiceAccount, Role, RoleBinding). */}}
{{- define "relrun.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* relrun.serviceAccountName: serviceAccount.name, else named after the release. */}}
{{- define "relrun.serviceAccountName" -}}
{{- .Values.serviceAccount.name | default (include "relrun.fullname" .) -}}
{{- end -}}

{{/* relrun.resources: {requests, limits} as given; the short form {cpu, memory} is both. */}}
{{- define "relrun.resources" -}}
{{- $r := . -}}
{{- if or (hasKey $r "requests") (hasKey $r "limits") -}}
{{- pick $r "requests" "limits" | toYaml -}}
{{- else -}}
{{- range list "requests" "limits" }}
{{ . }}:
  {{- with $r.cpu }}
  cpu: {{ . | toJson }}
  {{- end }}
  {{- with $r.memory }}
  memory: {{ . | toJson }}
  {{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* relrun.containerSecurity: relrun's default securityContext of both containers (Pod Security "baseline" plus the restricted fields no image minds). */}}
{{- define "relrun.containerSecurity" -}}
allowPrivilegeEscalation: false
capabilities:
  drop:
  - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
relrun.jobSpec: the batch/v1 JobSpec of a task (pkg/manifest build_job).
Argument: (dict "t" TASK "s" SETTINGS "cron" NAME-or-"" "root" $).
*/}}
{{- define "relrun.jobSpec" -}}
{{- $t := .t -}}
{{- $s := .s -}}
{{- $init := eq $s.inject "init" -}}
{{- $res := $s.resources | default dict -}}
{{- $hasRes := or $res.cpu $res.memory $res.requests $res.limits -}}
{{- $sc := $s.securityContext | default (include "relrun.containerSecurity" . | fromYaml) -}}
{{- $fail := ternary "FailIndex" "FailJob" (hasKey $s "each") -}}
{{- if hasKey $s "each" }}
{{- /* one Indexed Job: index i runs item i; retries count per index */}}
completionMode: Indexed
completions: {{ $s.completions }}
parallelism: {{ $s.parallelism }}
backoffLimitPerIndex: {{ $s.backoffLimit }}
{{- else }}
backoffLimit: {{ $s.backoffLimit }}
{{- end }}
{{- with $s.timeout }}
activeDeadlineSeconds: {{ . }}
{{- end }}
{{- if hasKey $s "ttl" }}
ttlSecondsAfterFinished: {{ $s.ttl }}
{{- end }}
podFailurePolicy:
  rules:
  # disruption first: an evicted pod's container also exits non-zero
  - action: {{ ternary "Ignore" $fail (eq ($t.retryOnDisruption | default false) true) }}
    onPodConditions:
    - type: DisruptionTarget
      status: "True"
  # the release never became ready (exit 70): uses the boot retry budget
  - action: Count
    onExitCodes:
      containerName: task
      operator: In
      values:
      - 70
  # the task ran and failed: never retried blindly
  - action: {{ $fail }}
    onExitCodes:
      containerName: task
      operator: NotIn
      values:
      - 0
      - 70
podReplacementPolicy: Failed
template:
  metadata:
    labels:
      {{- include "relrun.labels" (dict "s" $s "cron" .cron "root" .root) | nindent 6 }}
      {{- with $s.podLabels }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    {{- with $s.podAnnotations }}
    annotations:
      {{- toYaml . | nindent 6 }}
    {{- end }}
  spec:
    restartPolicy: Never
    {{- with $t.serviceAccount }}
    serviceAccountName: {{ . | toJson }}
    {{- end }}
    {{- with $s.priorityClassName }}
    priorityClassName: {{ . | toJson }}
    {{- end }}
    {{- with $s.nodeSelector }}
    nodeSelector:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $s.tolerations }}
    tolerations:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $s.imagePullSecrets }}
    imagePullSecrets:
    {{- range . }}
    - name: {{ if kindIs "map" . }}{{ .name | toJson }}{{ else }}{{ . | toJson }}{{ end }}
    {{- end }}
    {{- end }}
    {{- with $s.podSecurityContext }}
    securityContext:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $s.affinity }}
    affinity:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    terminationGracePeriodSeconds: {{ add (mul (eq (int $s.grace) 0 | ternary 30 (int $s.grace)) ($t.onTerm | empty | ternary 1 2)) 15 }}
    {{- if $init }}
    initContainers:
    - name: relrun-pod
      image: {{ $s.podImage | toJson }}
      command:
      - /relrun-pod
      - --install
      - /relrun/relrun-pod
      {{- if $hasRes }}
      resources:
        {{- include "relrun.resources" $res | trim | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $sc | nindent 8 }}
      terminationMessagePolicy: FallbackToLogsOnError
      volumeMounts:
      - name: relrun
        mountPath: /relrun
    {{- end }}
    containers:
    - name: task
      image: {{ $s.image | toJson }}
      command:
      - {{ $init | ternary "/relrun/relrun-pod" "relrun-pod" }}
      args:
      - --release
      - {{ $s.release | toJson }}
      {{- with $s.logFormat }}
      - --log-format
      - {{ . | toJson }}
      {{- end }}
      {{- with $s.appFormat }}
      - --app-format
      - {{ . | toJson }}
      {{- end }}
      {{- with $s.readyTimeout }}
      - --ready-timeout
      - {{ printf "%ds" (int64 .) | toJson }}
      {{- end }}
      {{- with $t.readyExpr }}
      - --ready-expr
      - {{ . | toJson }}
      {{- end }}
      {{- if gt (int $s.grace) 0 }}
      - --grace
      - {{ printf "%ds" (int64 $s.grace) | toJson }}
      {{- end }}
      {{- with $t.rpc }}
      - --rpc
      - {{ . | toJson }}
      {{- end }}
      {{- with $t.onTerm }}
      - --on-term
      - {{ . | toJson }}
      {{- end }}
      {{- with $t.lang }}
      - --lang
      - {{ . | toJson }}
      {{- end }}
      {{- with $t.errorExit }}
      - --error-exit
      - {{ printf "%d" (int .) | toJson }}
      {{- end }}
      - --termination-log
      - /dev/termination-log
      {{- with $s.each }}
      {{- /* relrun-pod makes index i's expression from item i (pkg/expr, as relrun --each) */}}
      - --each
      - {{ . | toJson }}
      {{- end }}
      - --
      - {{ $s.expression | toJson }}
      {{- if or $t.env $t.cookieSecret }}
      env:
      {{- range $k, $val := $t.env }}
      - name: {{ $k | toJson }}
        value: {{ $val | toString | toJson }}
      {{- end }}
      {{- with $t.cookieSecret }}
      - name: RELEASE_COOKIE
        valueFrom:
          secretKeyRef:
            name: {{ . | toJson }}
            key: cookie
      {{- end }}
      {{- end }}
      {{- with $t.envFromSecrets }}
      envFrom:
      {{- range . }}
      - secretRef:
          name: {{ . | toJson }}
      {{- end }}
      {{- end }}
      {{- with $s.pullPolicy }}
      imagePullPolicy: {{ . | toJson }}
      {{- end }}
      {{- if $hasRes }}
      resources:
        {{- include "relrun.resources" $res | trim | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $sc | nindent 8 }}
      terminationMessagePath: /dev/termination-log
      terminationMessagePolicy: FallbackToLogsOnError
      {{- if $init }}
      volumeMounts:
      - name: relrun
        mountPath: /relrun
      {{- end }}
    {{- if $init }}
    volumes:
    - name: relrun
      emptyDir: {}
    {{- end }}
{{- end -}}

{{/* relrun.coordinatorLabels: labels of the coordinator's RBAC objects (as manifests/rbac.yaml, plus Helm's). */}}
{{- define "relrun.coordinatorLabels" -}}
app.kubernetes.io/name: relrun
app.kubernetes.io/component: coordinator
{{ include "relrun.helmLabels" . }}
{{- end -}}

{{/*
relrun.cronError: "" when a CronJob may have this schedule, else why not --
exactly pkg/cron's cron_check (test/cron_schedules.tsv drives both tests):
@yearly @annually @monthly @weekly @daily @midnight @hourly, or 5 fields
(minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or JAN-DEC,
day-of-week 0-6 or SUN-SAT, names in any case) of comma lists of *, ?, N or
N-M, each with an optional /STEP (STEP >= 1); no time zone prefix.
*/}}
{{- define "relrun.cronError" -}}
{{- $s := regexReplaceAll "^[ \t\n\v\f\r]+" (toString .) "" -}}
{{- $macros := list "@yearly" "@annually" "@monthly" "@weekly" "@daily" "@midnight" "@hourly" -}}
{{- if not $s -}}
empty schedule
{{- else if or (hasPrefix "CRON_TZ=" $s) (hasPrefix "TZ=" $s) (contains "TZ=" $s) -}}
a time zone prefix (CRON_TZ=, TZ=) is rejected by Kubernetes; use timeZone
{{- else if hasPrefix "@" $s -}}
{{- $m := regexFind "^[^ \t\r\n]*" $s -}}
{{- if eq $m "@every" -}}
@every is not valid for a CronJob; use a 5-field line, e.g. "*/15 * * * *"
{{- else if not (has $m $macros) -}}
unknown macro {{ $m | quote }} (want {{ join ", " $macros }})
{{- else if regexMatch "[^ \t\r\n]" (trimPrefix $m $s) -}}
{{ $m }} takes nothing after it
{{- end -}}
{{- else if regexMatch "[^A-Za-z0-9*/,?\\- \t\r\n]" $s -}}
unexpected {{ regexFind "[^A-Za-z0-9*/,?\\- \t\r\n]" $s | quote }}
{{- else -}}
{{- $fields := regexSplit "[ \t\r\n]+" (regexReplaceAll "[ \t\r\n]+$" $s "") -1 -}}
{{- if ne (len $fields) 5 -}}
want 5 fields (minute hour day-of-month month day-of-week), got {{ len $fields }}
{{- else -}}
{{- $specs := list (list "minute" 0 59 "") (list "hour" 0 23 "") (list "day-of-month" 1 31 "") (list "month" 1 12 "jan feb mar apr may jun jul aug sep oct nov dec") (list "day-of-week" 0 6 "sun mon tue wed thu fri sat") -}}
{{- $err := "" -}}
{{- range $i, $f := $fields -}}
{{- $spec := index $specs $i -}}
{{- $name := index $spec 0 -}}
{{- if and (not $err) (ge (len $f) 64) -}}
{{- $err = printf "%s: field too long" $name -}}
{{- end -}}
{{- range $item := splitList "," $f -}}
{{- if not $err -}}
{{- $range := regexFind "^[^/]*" $item -}}
{{- if not $item -}}
{{- $err = printf "%s %q: empty list item" $name $f -}}
{{- else if contains "/" $item -}}
{{- $step := trimPrefix (printf "%s/" $range) $item -}}
{{- if not (regexMatch "^[0-9]+$" $step) -}}
{{- $err = printf "%s %q: step %q is not a number" $name $f $step -}}
{{- else if regexMatch "^0+$" $step -}}
{{- $err = printf "%s %q: a step must be at least 1" $name $f -}}
{{- end -}}
{{- end -}}
{{- if and (not $err) (not (has $range (list "*" "?"))) -}}
{{- $a := regexFind "^[^-]*" $range -}}
{{- $va := include "relrun.cronValue" (list $a $spec) -}}
{{- if hasPrefix "!" $va -}}
{{- $err = printf "%s %q: %s" $name $f (trimPrefix "!" $va) -}}
{{- else if contains "-" $range -}}
{{- $vb := include "relrun.cronValue" (list (trimPrefix (printf "%s-" $a) $range) $spec) -}}
{{- if hasPrefix "!" $vb -}}
{{- $err = printf "%s %q: %s" $name $f (trimPrefix "!" $vb) -}}
{{- else if gt (atoi $va) (atoi $vb) -}}
{{- $err = printf "%s %q: range start %s is after its end %s" $name $f $va $vb -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $err -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* relrun.cronValue: (list TOKEN SPEC) -> the value as digits, or "!why". */}}
{{- define "relrun.cronValue" -}}
{{- $t := index . 0 -}}
{{- $spec := index . 1 -}}
{{- $lo := index $spec 1 -}}
{{- $hi := index $spec 2 -}}
{{- $names := splitList " " (index $spec 3) -}}
{{- if not $t -}}
!a number is missing
{{- else if regexMatch "^[0-9]" $t -}}
{{- if not (regexMatch "^[0-9]+$" $t) -}}
!{{ $t | quote }} is not a number
{{- else -}}
{{- $d := regexReplaceAll "^0+" $t "" | default "0" -}}
{{- if or (gt (len $d) 6) (lt (atoi $d) $lo) (gt (atoi $d) $hi) -}}
!{{ $t }} is out of range {{ $lo }}-{{ $hi }}
{{- else -}}
{{ atoi $d }}
{{- end -}}
{{- end -}}
{{- else if and (index $spec 3) (has (lower $t) $names) -}}
{{- $v := 0 -}}
{{- range $i, $n := $names }}{{ if eq $n (lower $t) }}{{ $v = add $i $lo }}{{ end }}{{ end -}}
{{ $v }}
{{- else -}}
!unknown value {{ $t | quote }} (want {{ $lo }}-{{ $hi }})
{{- end -}}
{{- end -}}
