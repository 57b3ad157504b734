/* manifest: the Kubernetes objects relrun creates — a batch/v1 Job per task
 * and a batch/v1 CronJob for scheduled tasks — as json-c objects, and their
 * JSON and YAML (libyaml emitter) text.
 *
 * The Job (DESIGN.md):
 *   metadata: generateName "relrun-<slug>-", labels app.kubernetes.io/name
 *     relrun, app.kubernetes.io/managed-by relrun, relrun.dev/task <slug>,
 *     annotation relrun.dev/expr <expr>
 *   spec: backoffLimit = max(backoff_limit, boot_retries), and a
 *     podFailurePolicy, rules in order:
 *       1. container "task" exits 70 (release never became ready) -> Count:
 *          a boot failure uses the retry budget;
 *       2. pod condition DisruptionTarget (eviction, preemption, node drain)
 *          -> FailJob, or Ignore with retry_on_disruption: the task may have
 *          run part way, and a task that ran is never blindly retried unless
 *          the caller says it is safe to rerun;
 *       3. container "task" exits with anything else but 0 -> FailJob.
 *   pod: restartPolicy Never, an emptyDir "relrun", with inject init an init
 *     container "relrun-pod" that installs the runner into it, the container
 *     "task" running relrun-pod with the expression as ONE argv element (no
 *     shell anywhere), terminationGracePeriodSeconds = grace + 15.
 *   security: both containers allowPrivilegeEscalation false, capabilities
 *     drop ALL, seccompProfile RuntimeDefault (Pod Security "baseline" and
 *     every "restricted" field that cannot break an image); with run_as_user
 *     the pod runs as that UID with runAsNonRoot ("restricted" whole).
 *
 * All strings in the options are borrowed for the duration of the call. */
#ifndef RELRUN_MANIFEST_H
#define RELRUN_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "buf.h"
#include "err.h"

/* Seconds added to the runner's --grace for terminationGracePeriodSeconds, so
 * the kubelet's SIGKILL comes after the runner's own graceful stop. */
#define MANIFEST_GRACE_MARGIN 15
/* The runner's default --grace when grace_seconds is 0. */
#define MANIFEST_DEFAULT_GRACE 30

enum manifest_inject {
        MANIFEST_INJECT_INIT = 0, /* init container copies relrun-pod into an emptyDir */
        MANIFEST_INJECT_NONE,     /* the app image already has relrun-pod on PATH */
};

struct manifest_job_opts {
        const char *image;      /* --image, required */
        const char *release;    /* --release: the release's bin script, absolute; required */
        const char *expr;       /* the expression, required; must pass expr_check */
        const char *namespace_; /* metadata.namespace; NULL leaves it to the API path */
        const char *slug;       /* task slug for names/labels; NULL derives it with expr_slug */

        const char *const *env;              /* "K=V" strings, NULL-terminated; may be NULL */
        const char *const *env_from_secrets; /* secret names for envFrom; NULL-terminated */
        const char *cookie_secret; /* secret holding the release cookie -> RELEASE_COOKIE */
        const char *cookie_key;    /* key in that secret; NULL means "cookie" */

        const char *cpu;          /* Kubernetes quantity: request, and limit unless cpu_limit */
        const char *memory;       /* Kubernetes quantity: request, and limit unless memory_limit */
        const char *cpu_limit;    /* --cpu-limit: the limit apart from the request; NULL */
        const char *memory_limit; /* --memory-limit */
        const char *service_account; /* NULL for the namespace's default */

        /* Placement and pulling (kubectl's names). */
        const char *const *image_pull_secrets; /* Secret names, NULL-terminated */
        const char *pull_policy;               /* Always | IfNotPresent | Never; NULL unset */
        const char *const *node_selector;      /* "key=value", NULL-terminated */
        const char *const *tolerations;        /* "KEY[=VALUE]:EFFECT", NULL-terminated */
        const char *priority_class;            /* priorityClassName; NULL unset */
        /* The pod's user: > 0 sets runAsUser and runAsNonRoot (Pod Security
         * "restricted" then passes whole); -1 leaves the image's user. */
        long run_as_user;

        /* Applied last to the Job (to a CronJob's jobTemplate), as kubectl
         * run --overrides: a JSON text, override_type "merge" (RFC 7386,
         * the default), "strategic" (lists of containers, initContainers,
         * volumes, env, volumeMounts, imagePullSecrets merged by name) or
         * "json" (RFC 6902). NULL for none. */
        const char *overrides;
        const char *override_type;

        long active_deadline_seconds; /* --timeout; 0 means none */
        int backoff_limit;            /* --backoff-limit, >= 0 */
        int boot_retries;             /* --boot-retries, >= 0 */
        long ttl_seconds;             /* --ttl (ttlSecondsAfterFinished); -1 means unset */
        bool retry_on_disruption;     /* DisruptionTarget -> Ignore instead of FailJob */

        enum manifest_inject inject;
        const char *pod_image; /* relrun-pod image; required with MANIFEST_INJECT_INIT */

        /* Flags passed to relrun-pod; NULL/0 leaves the runner's default. */
        const char *log_format;     /* --log-format json|logfmt|text */
        const char *app_format;     /* --app-format, the app's Logger format string */
        long ready_timeout_seconds; /* --ready-timeout Ns */
        const char *ready_expr;     /* --ready-expr */
        /* --each: one expression per index of an Indexed Job (expr stays the
         * template, for the name and the annotation); each_n 0 for none */
        const char *const *each;
        size_t each_n;
        const char *each_items; /* the --each JSON array as given: annotation
                                   relrun.dev/each (the items for relrun's table),
                                   with each_n only; NULL: none */
        int parallelism;        /* --parallelism; 0: all indexes at once */
        const char *on_term;    /* --on-term: the drain hook (terminationGracePeriod 2x grace) */
        long grace_seconds;     /* --grace Ns */
        const char *rpc;        /* --rpc auto|dist|script; NULL: relrun-pod's default (auto) */
        const char *lang;       /* --lang erlang|elixir; NULL: relrun-pod decides */
        int error_exit;         /* --error-exit N, 1..63 */

        const char *const *labels;      /* extra "key=value" labels, NULL-terminated */
        const char *const *annotations; /* extra "key=value" annotations, NULL-terminated */
};

/* The most items of one --each Job (each is one argument of the pod). */
#define MANIFEST_EACH_MAX 1000

/* Concurrency policy NULL means "Forbid": a scheduled task does not start
 * while the previous run of it still runs (Kubernetes' default is Allow). */
struct manifest_cron_opts {
        const char *name;               /* metadata.name: DNS-1123 label, at most 52 chars */
        const char *schedule;           /* 5-field cron line or @hourly/@daily/... */
        const char *time_zone;          /* IANA name, e.g. "Europe/Berlin"; NULL for none */
        const char *concurrency_policy; /* Allow | Forbid | Replace; NULL means Forbid */
        long starting_deadline_seconds; /* -1 means unset */
        int successful_jobs_history;    /* -1 means unset (Kubernetes keeps 3) */
        int failed_jobs_history;        /* -1 means unset (Kubernetes keeps 1) */
        bool suspend;
};

/* Defaults for the numeric fields whose 0 is meaningful: ttl and run_as_user -1, the rest 0,
 * inject init, strings NULL. Fill in the rest after. */
void manifest_job_opts_init(struct manifest_job_opts *o);
/* starting deadline and history limits -1 (unset), suspend false. */
void manifest_cron_opts_init(struct manifest_cron_opts *o);

/* Build the Job. On success *out is a new object (json_object_put). Errors are
 * ERR_USAGE naming the flag and the value, e.g.
 *   --memory "12XB": not a Kubernetes quantity
 *   --env "1X=y": "1X" is not an environment variable name
 *   expression: unclosed "(" opened at column 12 */
int manifest_job_new(const struct manifest_job_opts *o, json_object **out, struct err *e);

/* Build the CronJob whose jobTemplate is the Job of job (its labels,
 * annotations and spec; no generateName), labelled relrun.dev/cron <name>.
 * Same ownership and errors as manifest_job_new. */
int manifest_cronjob_new(const struct manifest_job_opts *job, const struct manifest_cron_opts *cron,
                         json_object **out, struct err *e);

/* Append obj as JSON to out: pretty (2-space indent) or one line; with a
 * trailing newline either way. Errors: ERR_SOFTWARE when out's cap is hit. */
int manifest_to_json(json_object *obj, bool pretty, struct buf *out, struct err *e);

/* Append obj as one YAML document to out (block style, keys in insertion
 * order, 2-space indent). Strings a YAML 1.1 or 1.2 reader would take for
 * another type ("true", "yes", "1", "0o7", "1e3", "null", "~", "") are
 * quoted; so is anything libyaml cannot write plain (": ", " #", leading
 * indicators, spaces at the ends); multi-line strings use literal blocks when
 * that is exact. Re-parsing gives the same JSON. Errors: ERR_SOFTWARE. */
int manifest_to_yaml(json_object *obj, struct buf *out, struct err *e);

/* Validators the coordinator may also use for its own flags. Each returns 0
 * or -1 with ERR_USAGE "<flag> \"<value>\": <reason>". */
int manifest_check_quantity(const char *flag, const char *value, struct err *e);
int manifest_check_dns_label(const char *flag, const char *value, size_t max, struct err *e);
int manifest_check_dns_subdomain(const char *flag, const char *value, struct err *e);

#endif
