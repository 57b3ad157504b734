/* relrun: the coordinator's internal interfaces (cmd/relrun only). */
#ifndef RELRUN_RELRUN_H
#define RELRUN_RELRUN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#include "err.h"
#include "kube.h"
#include "kubeconfig.h"

enum relrun_cmd {
        CMD_NONE,
        CMD_RUN,
        CMD_RENDER,
        CMD_LOGS,
        CMD_WAIT,
        CMD_LIST,
        CMD_CANCEL,
        CMD_VERSION,
        CMD_CRON,
        CMD_HELP,
        CMD_COMPLETION,
        CMD_EVAL,
        CMD_REMOTE,
        CMD_CONFIG,
};

#define OPTS_MAX_LIST        64
#define OPTS_TTL_UNSET       (-1)
#define OPTS_TTL_NONE        (-2)
#define RELRUN_DEFAULT_TTL_S 86400L /* run's ttlSecondsAfterFinished: a day */

struct summary;

/* Everything the command line says; strings borrow argv. */
struct opts {
        enum relrun_cmd cmd;
        bool help;
        /* global, kubectl-compatible */
        const char *namespace_;
        const char *context;
        const char *kubeconfig;
        const char *output; /* NULL, "json", "yaml", "wide", "name" */
        int64_t request_timeout_ms;
        /* run / render */
        const char *image;
        const char *release;
        const char *mfa;
        const char *args;
        const char *env[OPTS_MAX_LIST + 1];
        size_t n_env;
        const char *env_from_secret[OPTS_MAX_LIST + 1];
        size_t n_env_from_secret;
        const char *cookie_secret;
        const char *cpu;
        const char *memory;
        const char *cpu_limit;
        const char *memory_limit;
        const char *service_account;
        /* pod placement, pulling, security (kubectl's names); lists repeatable */
        const char *image_pull_secret[OPTS_MAX_LIST + 1];
        size_t n_image_pull_secret;
        const char *node_selector[OPTS_MAX_LIST + 1];
        size_t n_node_selector;
        const char *toleration[OPTS_MAX_LIST + 1];
        size_t n_toleration;
        const char *label[OPTS_MAX_LIST + 1];
        size_t n_label;
        const char *annotation[OPTS_MAX_LIST + 1];
        size_t n_annotation;
        const char *pull_policy;
        const char *priority_class;
        int64_t run_as_user; /* -1 unset */
        const char *overrides;
        const char *override_type;
        int64_t timeout_ms;         /* run/render/cron --timeout: the Job's activeDeadlineSeconds */
        int64_t wait_timeout_ms;    /* wait --wait-timeout: how long the client waits; 0 none */
        bool wait_timeout_old_name; /* given as wait --timeout */
        int64_t backoff_limit;
        int64_t boot_retries;
        int64_t ttl_ms; /* OPTS_TTL_UNSET, OPTS_TTL_NONE (--ttl none) or ms */
        bool detach;
        const char *inject; /* "init" | "none" */
        const char *pod_image;
        int64_t error_exit;
        int64_t ready_timeout_ms;
        int64_t grace_ms;
        const char *rpc;
        const char *lang; /* --lang erlang|elixir; NULL: the pod tells from the release */
        const char *log_format;
        const char *app_format;
        const char *ready_expr;
        const char *on_term; /* --on-term EXPR */
        const char *each;    /* --each JSON_ARRAY */
        int64_t parallelism;
        /* logs / cancel */
        bool follow;
        const char *cascade; /* background | foreground */
        /* cron */
        const char *schedule;
        const char *time_zone;
        const char *concurrency_policy;
        int64_t starting_deadline_ms; /* -1 unset */
        int64_t successful_history;   /* -1 unset */
        int64_t failed_history;       /* -1 unset */
        bool suspend;
        /* run / wait / cron trigger */
        const char *summary_file;
        int64_t schedule_timeout_ms; /* 0: the default */
        bool keep_failed;
        int64_t retry_window_ms; /* 0: the default */
        struct summary *sum;     /* main's; the subcommand fills it in */
        /* positional */
        const char *pos[8];
        size_t n_pos;
};

/* args.c: parse argv into o. Returns 0, or -1 with ERR_USAGE. */
int opts_parse(int argc, char **argv, struct opts *o, struct err *e);
/* Print the help of cmd (CMD_NONE: the overview) to f, naming the program
 * as it was called (opts_set_prog). */
void opts_help(enum relrun_cmd cmd, FILE *f);
/* From argv[0]: "kubectl relrun" when run as kubectl's plugin. */
void opts_set_prog(const char *argv0);
const char *opts_prog(void);
/* fputs with "relrun <subcommand>" written as the program was called. */
void opts_fputs(const char *text, FILE *f);
const char *opts_cmd_name(enum relrun_cmd cmd);
/* The flags cmd accepts, the global ones included, in the parser's order. */
struct opts_flag {
        const char *name; /* long name without "--" */
        bool value;       /* takes a value */
        char short_;      /* 'n', 'o', 'h', 'f' or 0 */
};
size_t opts_flags(enum relrun_cmd cmd, struct opts_flag *out, size_t max);

/* Where each setting of the last opts_parse came from (relrun config view).
 * Precedence, highest first: a flag, the environment (RELRUN_*), the project
 * file (relrun.yaml from the current directory upward), the user's file
 * ($XDG_CONFIG_HOME/relrun/config.yaml); in a file a contexts.<name> section
 * wins over its top level. A repeatable flag takes its whole list from the
 * highest source that sets it. */
enum opts_src {
        SRC_NONE,
        SRC_DEFAULT,
        SRC_USER,
        SRC_PROJECT,
        SRC_ENV,
        SRC_FLAG,
};
struct opts_setting {
        const char *name;        /* long flag name */
        enum opts_src src;       /* SRC_NONE: not set by anything */
        const char *where;       /* file path or variable name; NULL for flags, defaults */
        int line;                /* in the file, 0 otherwise */
        const char *context;     /* the file's contexts: section, or NULL */
        const char *const *vals; /* n values (a list flag's list; "true" for switches) */
        size_t n;
};
/* The i-th flag's setting (i < opts_settings_count()); false past the end. */
bool opts_setting_at(const struct opts *o, size_t i, struct opts_setting *out);
/* The files and context the last opts_parse used (NULL when none). */
struct opts_files {
        const char *project; /* found relrun.yaml, or NULL */
        const char *user;    /* the user's file path (whether or not it exists) */
        bool user_exists;
        const char *context;      /* the context whose sections applied, or NULL */
        const char *context_from; /* "--context", "RELRUN_CONTEXT", a file, "kubeconfig" */
};
void opts_files_used(struct opts_files *out);

/* job.c: the Job for a run, from options and the expression. */
int job_build(const struct opts *o, const char *expr, const char *namespace_,
              struct json_object **out, struct err *e);
/* The CronJob named name for a scheduled EXPR. */
int job_cron_build(const struct opts *o, const char *expr, const char *namespace_, const char *name,
                   struct json_object **out, struct err *e);
/* Text of obj as "json" or "yaml" into a new heap string. */
int job_format(struct json_object *obj, const char *format, char **out, struct err *e);
/* The expression of a run/render: the positional EXPR or --mfa/--args. *out
 * is a new string. ERR_USAGE for a bad or missing expression. */
int job_expr(const struct opts *o, char **out, struct err *e);

/* render.c: one pod log line for people or machines. */
struct render {
        bool json;  /* JSON lines: events as they are, other lines made events */
        bool color; /* ANSI colours */
};
/* Render one line (ts: the kubelet's time of it, NULL if unknown). Output is
 * collected and written to out in large pieces: render_flush writes the rest
 * (call it when a batch of lines is done and before exiting). */
void render_line(const struct render *r, const struct kube_ts *ts, const char *line, size_t len,
                 FILE *out);
void render_flush(FILE *out);

/* follow.c: follow a Job until it ends. */
struct follow_opts {
        const char *namespace_;
        const char *job;
        bool logs;    /* stream the task's logs to stdout */
        bool summary; /* one-line summary on stderr */
        bool tty;     /* stderr is a terminal: show the pending phase */
        bool color;   /* stderr takes colour: a failed summary in red */
        struct render render;
        int64_t deadline_ms; /* 0: none (wait --timeout) */
        int64_t boot_retries;
        int64_t schedule_timeout_ms; /* 0: the classifier's default */
        bool owns_job;               /* run created it: may delete it (never ran, rerun) */
        bool keep_failed;            /* --keep-failed: keep a Job whose pod never ran */
        struct summary *sum;         /* filled with the outcome; may be NULL */
};
/* Returns the exit code for the run (DESIGN table); writes a message to e on
 * failures of relrun itself (its code is the return value then). */
int follow_job(struct kube_client *c, const struct follow_opts *fo, struct err *e);
/* After a round of a follow loop that brought some log but little, wait
 * FOLLOW_SETTLE_MS so that the next read finds more: a live pod's log comes
 * in many small pieces and every round costs a poll, reads and a write
 * whatever it brings. A wait below what a person sees; a signal ends it. */
#define FOLLOW_SETTLE_MS    5
#define FOLLOW_SETTLE_BYTES (128u << 10)
void follow_settle(size_t bytes);
/* each.c: follow every index of the Indexed Job fo->job: n indexes, items
 * the --each JSON array they were made from (NULL: unknown, the table shows
 * none). Each pod's log with its index on every line ("[i] ", or "index":i
 * in -o json), with fo->summary a line per index as it ends, then the table;
 * fo->sum gets the indexes. Returns 0 when every index succeeded, else the
 * code of the lowest failing index, or relrun's own failure code with e set. */
int each_follow(struct kube_client *c, const struct follow_opts *fo, const char *items, size_t n,
                struct err *e);
/* Whether job (a Job object) is an Indexed Job: *n its completions, *items
 * its relrun.dev/each annotation (borrowed from job) or NULL. */
bool each_job(struct json_object *job, const char **items, size_t *n);

/* cmds.c: the API connection of a subcommand and shared steps. */
struct conn {
        struct kubeconfig_opts ko;
        struct kubeconfig_rest *rest;
        struct kube_client *c;
        const char *ns;
};
/* Resolve the kubeconfig and make the client; k must not move while open. */
int conn_open(const struct opts *o, struct conn *k, struct err *e);
void conn_close(struct conn *k);
/* The exit code for a failure in e. */
int fail(struct err *e);
/* GET the objects relrun manages at path (a list URL, what names the step in
 * errors). With -o json|yaml they are printed as they are and *items is NULL;
 * otherwise *items is the list's items, NULL when there are none. Put *list. */
int list_managed(const struct opts *o, struct conn *k, const char *path, const char *what,
                 struct json_object **list, struct json_object **items, struct err *e);
/* expr on one line for a table: control characters as spaces, cut to fit n
 * bytes (with "..."). */
void list_expr_cell(const char *expr, char *out, size_t n);
/* A Job's state word: Complete, Failed (a True condition), Running, Pending. */
const char *job_status(struct json_object *job);
/* "/apis/batch/v1/namespaces/<ns>/jobs" */
__attribute__((warn_unused_result)) int jobs_path(struct buf *b, const char *ns, struct err *e);
/* rc (buf_* results or'ed together) as an error: ERR_USAGE "what: the request
 * URL would be longer than N bytes" when non-zero. Returns 0 or -1. */
int url_check(int rc, const struct buf *b, const char *what, struct err *e);
/* Create job and follow it (or --detach); returns the exit code. */
int run_job(const struct opts *o, struct conn *k, struct json_object *job, struct err *e);

/* The subcommands (cmds.c, cron.c, completion.c, exec.c); each returns the exit code. */
int cmd_run(const struct opts *o, struct err *e);
int cmd_render(const struct opts *o, struct err *e);
int cmd_logs(const struct opts *o, struct err *e);
int cmd_wait(const struct opts *o, struct err *e);
int cmd_list(const struct opts *o, struct err *e);
int cmd_cancel(const struct opts *o, struct err *e);
int cmd_version(const struct opts *o, struct err *e);
int cmd_cron(const struct opts *o, struct err *e);
int cmd_completion(const struct opts *o, struct err *e);
/* relrun __complete WORDS... (the words after the program's name, the last
 * the one being completed): one candidate a line on out. Job, CronJob and
 * namespace names come from the API, contexts from the kubeconfig; errors
 * give no candidates. Returns 0. */
int completion_complete(int n, char **w, FILE *out);
/* exec.c: eval and remote, through kubectl exec. */
int cmd_eval(const struct opts *o, struct err *e);
int cmd_remote(const struct opts *o, struct err *e);
int cmd_config(const struct opts *o, struct err *e);

/* summary.c: the outcome of run, wait and cron trigger as one JSON object,
 * for -o json (the last stdout line), --summary-file and GitHub Actions.
 *
 *   {"relrun":"summary","job":..,"namespace":..,"pod":..,"phase":..,
 *    "failed_phase":..,"exit_code":N,"duration_ms":N,"return":..,"expr":..,
 *    "cause":..,"message":..}
 *
 * run --each adds "indexes":[{"index":N,"item":..,"pod":..,"phase":..,
 * "failed_phase":..,"exit_code":N,"duration_ms":N,"return":..,"cause":..,
 * "message":..}, ...] (phase also running or pending when relrun stopped
 * first); the top level is the whole run's.
 *
 * phase: succeeded | failed (the task or its pod failed) | created (--detach)
 * | timeout (wait --wait-timeout gave up; the Job goes on) | interrupted | error
 * (relrun itself failed: API, auth, usage). failed_phase: null or one of
 * never scheduled, image pull, container config, pod rejected, release never ready, task failed,
 * killed, deadline. cause: null, or why a failed task failed in one line (the
 * first line of the exception it raised, the release that could not start). */
struct summary {
        bool set; /* a Job was followed to an outcome (or created, --detach) */
        char job[254];
        char namespace_[254];
        char pod[254];
        const char *phase;
        const char *failed_phase;
        int exit_code;
        long duration_ms; /* -1: unknown */
        char ret[4100];
        char cause[600];
        char *expr;                  /* heap; NULL unknown */
        char line[1200];             /* the human one-line summary, without "relrun: " */
        struct json_object *indexes; /* run --each: one object per index; NULL otherwise */
};
void summary_init(struct summary *s);
void summary_fini(struct summary *s);
/* Fill what is still unknown after the subcommand ended with rc and e. */
void summary_finish(struct summary *s, int rc, const struct err *e);
/* The JSON object as one line (no newline); a new heap string or NULL. */
char *summary_json(const struct summary *s);
/* Write text to path atomically (a temp file beside it, then rename). */
int summary_write_file(const char *path, const char *text, struct err *e);
/* "::error title=relrun::<line>" with GitHub's workflow-command escaping. */
void summary_github_error(const char *line, FILE *f);

/* Set by the signal handler; the loops stop following. */
extern volatile sig_atomic_t relrun_interrupted; /* the signal number */

#endif
