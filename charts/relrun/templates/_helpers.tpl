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
image: {{ required (printf "%s: image is required (set image or tasks[].image)" $where) ($t.image | default $v.image) | toJson }}
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
{{- if $t.schedule }}
schedule: {{ $t.schedule | toJson }}
{{- else }}
{{- range list "timeZone" "concurrencyPolicy" "startingDeadlineSeconds" "successfulJobsHistoryLimit" "failedJobsHistoryLimit" "suspend" }}
{{- if hasKey $t . }}
{{- fail (printf "%s: %s applies to scheduled tasks only (set schedule)" $where .) }}
{{- end }}
{{- end }}
{{- end }}
backoffLimit: {{ max (int ($t.backoffLimit | default 0)) (int ($t.bootRetries | default 0)) }}
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
{{- end -}}

{{/* relrun.labels: the labels every object of a task carries. (dict "s" SETTINGS "cron" NAME-or-"") */}}
{{- define "relrun.labels" -}}
app.kubernetes.io/name: relrun
app.kubernetes.io/managed-by: relrun
relrun.dev/task: {{ .s.slug | toJson }}
{{- if .cron }}
relrun.dev/cron: {{ .cron | toJson }}
{{- end }}
{{- end -}}

{{/* relrun.resources: requests = limits. */}}
{{- define "relrun.resources" -}}
{{- $r := . -}}
{{- range list "requests" "limits" }}
{{ . }}:
  {{- with $r.cpu }}
  cpu: {{ . | toJson }}
  {{- end }}
  {{- with $r.memory }}
  memory: {{ . | toJson }}
  {{- end }}
{{- end }}
{{- end -}}

{{/*
relrun.jobSpec: the batch/v1 JobSpec of a task (pkg/manifest build_job).
Argument: (dict "t" TASK "s" SETTINGS "cron" NAME-or-"").
*/}}
{{- define "relrun.jobSpec" -}}
{{- $t := .t -}}
{{- $s := .s -}}
{{- $init := eq $s.inject "init" -}}
{{- $res := $t.resources | default dict -}}
{{- $hasRes := or $res.cpu $res.memory -}}
backoffLimit: {{ $s.backoffLimit }}
{{- with $s.timeout }}
activeDeadlineSeconds: {{ . }}
{{- end }}
{{- if hasKey $s "ttl" }}
ttlSecondsAfterFinished: {{ $s.ttl }}
{{- end }}
podFailurePolicy:
  rules:
  # disruption first: an evicted pod's container also exits non-zero
  - action: {{ ternary "Ignore" "FailJob" (eq ($t.retryOnDisruption | default false) true) }}
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
  - action: FailJob
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
      {{- include "relrun.labels" (dict "s" $s "cron" .cron) | nindent 6 }}
  spec:
    restartPolicy: Never
    {{- with $t.serviceAccount }}
    serviceAccountName: {{ . | toJson }}
    {{- end }}
    terminationGracePeriodSeconds: {{ add (eq (int $s.grace) 0 | ternary 30 (int $s.grace)) 15 }}
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
      {{- with $t.errorExit }}
      - --error-exit
      - {{ printf "%d" (int .) | toJson }}
      {{- end }}
      - --termination-log
      - /dev/termination-log
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
      {{- if $hasRes }}
      resources:
        {{- include "relrun.resources" $res | trim | nindent 8 }}
      {{- end }}
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

{{/* relrun.coordinatorLabels: labels of the coordinator's RBAC objects (as manifests/rbac.yaml). */}}
{{- define "relrun.coordinatorLabels" -}}
app.kubernetes.io/name: relrun
app.kubernetes.io/component: coordinator
{{- end -}}
