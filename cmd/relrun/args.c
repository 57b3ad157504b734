/* relrun: the command line — subcommands, flags (kubectl's where they
 * overlap) and the help of each subcommand. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "relrun.h"

enum {
        O_CONTEXT = 256,
        O_KUBECONFIG,
        O_REQUEST_TIMEOUT,
        O_IMAGE,
        O_RELEASE,
        O_MFA,
        O_ARGS,
        O_ENV,
        O_ENV_FROM_SECRET,
        O_COOKIE_SECRET,
        O_CPU,
        O_MEMORY,
        O_SERVICE_ACCOUNT,
        O_TIMEOUT,
        O_BACKOFF_LIMIT,
        O_BOOT_RETRIES,
        O_TTL,
        O_DETACH,
        O_INJECT,
        O_POD_IMAGE,
        O_ERROR_EXIT,
        O_READY_TIMEOUT,
        O_GRACE,
        O_RPC,
        O_LOG_FORMAT,
        O_CASCADE,
        O_APP_FORMAT,
        O_READY_EXPR,
        O_SCHEDULE,
        O_TIME_ZONE,
        O_CONCURRENCY,
        O_STARTING_DEADLINE,
        O_SUCCESSFUL_HISTORY,
        O_FAILED_HISTORY,
        O_SUSPEND,
        O_SUMMARY_FILE,
        /* following a Job */
        O_SCHEDULE_TIMEOUT,
        O_KEEP_FAILED,
        O_RETRY_WINDOW,
};

/* Which flags each subcommand takes, beyond the global ones. */
#define F_RUN    (1u << 0)
#define F_RENDER (1u << 1)
#define F_LOGS   (1u << 2)
#define F_WAIT   (1u << 3)
#define F_CANCEL (1u << 4)
#define F_CRON   (1u << 5)
#define F_ALL    (~0u)
#define F_TASK   (F_RUN | F_RENDER | F_CRON)

struct flag {
        struct option opt;
        unsigned cmds;
};

static const struct flag flags[] = {
    {{"help", no_argument, NULL, 'h'}, F_ALL},
    {{"namespace", required_argument, NULL, 'n'}, F_ALL},
    {{"context", required_argument, NULL, O_CONTEXT}, F_ALL},
    {{"kubeconfig", required_argument, NULL, O_KUBECONFIG}, F_ALL},
    {{"output", required_argument, NULL, 'o'}, F_ALL},
    {{"request-timeout", required_argument, NULL, O_REQUEST_TIMEOUT}, F_ALL},
    {{"image", required_argument, NULL, O_IMAGE}, F_TASK},
    {{"release", required_argument, NULL, O_RELEASE}, F_TASK},
    {{"mfa", required_argument, NULL, O_MFA}, F_TASK},
    {{"args", required_argument, NULL, O_ARGS}, F_TASK},
    {{"env", required_argument, NULL, O_ENV}, F_TASK},
    {{"env-from-secret", required_argument, NULL, O_ENV_FROM_SECRET}, F_TASK},
    {{"cookie-secret", required_argument, NULL, O_COOKIE_SECRET}, F_TASK},
    {{"cpu", required_argument, NULL, O_CPU}, F_TASK},
    {{"memory", required_argument, NULL, O_MEMORY}, F_TASK},
    {{"service-account", required_argument, NULL, O_SERVICE_ACCOUNT}, F_TASK},
    {{"timeout", required_argument, NULL, O_TIMEOUT}, F_TASK | F_WAIT},
    {{"backoff-limit", required_argument, NULL, O_BACKOFF_LIMIT}, F_TASK},
    {{"boot-retries", required_argument, NULL, O_BOOT_RETRIES}, F_TASK},
    {{"ttl", required_argument, NULL, O_TTL}, F_TASK},
    {{"detach", no_argument, NULL, O_DETACH}, F_RUN | F_CRON},
    {{"inject", required_argument, NULL, O_INJECT}, F_TASK},
    {{"pod-image", required_argument, NULL, O_POD_IMAGE}, F_TASK},
    {{"error-exit", required_argument, NULL, O_ERROR_EXIT}, F_TASK},
    {{"ready-timeout", required_argument, NULL, O_READY_TIMEOUT}, F_TASK},
    {{"grace", required_argument, NULL, O_GRACE}, F_TASK},
    {{"rpc", required_argument, NULL, O_RPC}, F_TASK},
    {{"log-format", required_argument, NULL, O_LOG_FORMAT}, F_TASK},
    {{"app-format", required_argument, NULL, O_APP_FORMAT}, F_TASK},
    {{"ready-expr", required_argument, NULL, O_READY_EXPR}, F_TASK},
    {{"follow", no_argument, NULL, 'f'}, F_LOGS},
    {{"cascade", required_argument, NULL, O_CASCADE}, F_CANCEL | F_CRON},
    {{"schedule", required_argument, NULL, O_SCHEDULE}, F_CRON},
    {{"time-zone", required_argument, NULL, O_TIME_ZONE}, F_CRON},
    {{"concurrency-policy", required_argument, NULL, O_CONCURRENCY}, F_CRON},
    {{"starting-deadline", required_argument, NULL, O_STARTING_DEADLINE}, F_CRON},
    {{"successful-history", required_argument, NULL, O_SUCCESSFUL_HISTORY}, F_CRON},
    {{"failed-history", required_argument, NULL, O_FAILED_HISTORY}, F_CRON},
    {{"suspend", no_argument, NULL, O_SUSPEND}, F_CRON},
    {{"summary-file", required_argument, NULL, O_SUMMARY_FILE}, F_RUN | F_WAIT | F_CRON},
    {{"schedule-timeout", required_argument, NULL, O_SCHEDULE_TIMEOUT}, F_RUN | F_WAIT | F_CRON},
    {{"keep-failed", no_argument, NULL, O_KEEP_FAILED}, F_RUN | F_CRON},
    {{"retry-window", required_argument, NULL, O_RETRY_WINDOW}, F_RUN | F_WAIT | F_CRON},
};
#define N_FLAGS (sizeof flags / sizeof flags[0])

static const struct {
        const char *name;
        enum relrun_cmd cmd;
        unsigned bit;
        int min_pos, max_pos;
} cmds[] = {
    {"run", CMD_RUN, F_RUN, 0, 1},
    {"render", CMD_RENDER, F_RENDER, 0, 1},
    {"logs", CMD_LOGS, F_LOGS, 1, 1},
    {"wait", CMD_WAIT, F_WAIT, 1, 1},
    {"list", CMD_LIST, 1u << 10, 0, 0},
    {"cancel", CMD_CANCEL, F_CANCEL, 1, 1},
    {"version", CMD_VERSION, 1u << 11, 0, 0},
    {"cron", CMD_CRON, F_CRON, 1, 3},
    {"completion", CMD_COMPLETION, 1u << 13, 1, 1},
    {"eval", CMD_EVAL, 1u << 14, 2, 2},
    {"remote", CMD_REMOTE, 1u << 15, 1, 1},
    {"help", CMD_HELP, 1u << 12, 0, 1},
};
#define N_CMDS (sizeof cmds / sizeof cmds[0])

size_t opts_flags(enum relrun_cmd cmd, struct opts_flag *out, size_t max)
{
        unsigned bit = 0;
        for (size_t i = 0; i < N_CMDS; i++)
                if (cmds[i].cmd == cmd)
                        bit = cmds[i].bit;
        size_t n = 0;
        for (size_t i = 0; i < N_FLAGS && n < max; i++) {
                if (!(flags[i].cmds & bit) && flags[i].cmds != F_ALL)
                        continue;
                out[n].name = flags[i].opt.name;
                out[n].value = flags[i].opt.has_arg == required_argument;
                out[n].short_ = flags[i].opt.val < 256 ? (char)flags[i].opt.val : 0;
                /* -f is logs' own short flag only */
                n++;
        }
        return n;
}

const char *opts_cmd_name(enum relrun_cmd cmd)
{
        for (size_t i = 0; i < N_CMDS; i++)
                if (cmds[i].cmd == cmd)
                        return cmds[i].name;
        return "relrun";
}

static const char *env_or(const char *name, const char *dflt)
{
        const char *v = getenv(name);
        return v && *v ? v : dflt;
}

static int duration_flag(const char *flag, const char *v, int64_t *ms, struct err *e)
{
        return cli_parse_duration(flag, v, ms, e);
}

static int set_flag(struct opts *o, int c, const char *v, struct err *e)
{
        switch (c) {
        case 'n': o->namespace_ = v; return 0;
        case O_CONTEXT: o->context = v; return 0;
        case O_KUBECONFIG: o->kubeconfig = v; return 0;
        case 'o':
                if (strcmp(v, "json") && strcmp(v, "yaml") && strcmp(v, "wide") &&
                    strcmp(v, "name") && strcmp(v, "text"))
                        return err_set(e, ERR_USAGE,
                                       "-o \"%s\": expected json, yaml, text, wide or name", v);
                o->output = v;
                return 0;
        case O_REQUEST_TIMEOUT:
                /* kubectl: "0" means no timeout; a bare number is seconds. */
                if (!strcmp(v, "0")) {
                        o->request_timeout_ms = 0;
                        return 0;
                }
                return duration_flag("--request-timeout", v, &o->request_timeout_ms, e);
        case O_IMAGE: o->image = v; return 0;
        case O_RELEASE: o->release = v; return 0;
        case O_MFA: o->mfa = v; return 0;
        case O_ARGS: o->args = v; return 0;
        case O_ENV:
                if (o->n_env >= OPTS_MAX_LIST)
                        return err_set(e, ERR_USAGE, "--env: at most %d", OPTS_MAX_LIST);
                if (!strchr(v, '='))
                        return err_set(e, ERR_USAGE, "--env \"%s\": expected NAME=VALUE", v);
                o->env[o->n_env++] = v;
                return 0;
        case O_ENV_FROM_SECRET:
                if (o->n_env_from_secret >= OPTS_MAX_LIST)
                        return err_set(e, ERR_USAGE, "--env-from-secret: at most %d",
                                       OPTS_MAX_LIST);
                o->env_from_secret[o->n_env_from_secret++] = v;
                return 0;
        case O_COOKIE_SECRET: o->cookie_secret = v; return 0;
        case O_CPU: o->cpu = v; return 0;
        case O_MEMORY: o->memory = v; return 0;
        case O_SERVICE_ACCOUNT: o->service_account = v; return 0;
        case O_TIMEOUT: return duration_flag("--timeout", v, &o->timeout_ms, e);
        case O_BACKOFF_LIMIT:
                return cli_parse_int("--backoff-limit", v, 0, 1000, &o->backoff_limit, e);
        case O_BOOT_RETRIES: return cli_parse_int("--boot-retries", v, 0, 100, &o->boot_retries, e);
        case O_TTL: return duration_flag("--ttl", v, &o->ttl_ms, e);
        case O_DETACH: o->detach = true; return 0;
        case O_INJECT:
                if (strcmp(v, "init") && strcmp(v, "none"))
                        return err_set(e, ERR_USAGE, "--inject \"%s\": expected init or none", v);
                o->inject = v;
                return 0;
        case O_POD_IMAGE: o->pod_image = v; return 0;
        case O_ERROR_EXIT: return cli_parse_int("--error-exit", v, 1, 63, &o->error_exit, e);
        case O_READY_TIMEOUT: return duration_flag("--ready-timeout", v, &o->ready_timeout_ms, e);
        case O_GRACE: return duration_flag("--grace", v, &o->grace_ms, e);
        case O_RPC:
                if (strcmp(v, "script") && strcmp(v, "dist"))
                        return err_set(e, ERR_USAGE, "--rpc \"%s\": expected script or dist", v);
                o->rpc = v;
                return 0;
        case O_LOG_FORMAT:
                if (strcmp(v, "json") && strcmp(v, "logfmt") && strcmp(v, "text"))
                        return err_set(e, ERR_USAGE,
                                       "--log-format \"%s\": expected json, logfmt or text", v);
                o->log_format = v;
                return 0;
        case O_APP_FORMAT: o->app_format = v; return 0;
        case O_READY_EXPR: o->ready_expr = v; return 0;
        case 'f': o->follow = true; return 0;
        case O_SCHEDULE: o->schedule = v; return 0;
        case O_TIME_ZONE: o->time_zone = v; return 0;
        case O_CONCURRENCY:
                if (strcmp(v, "Allow") && strcmp(v, "Forbid") && strcmp(v, "Replace"))
                        return err_set(e, ERR_USAGE,
                                       "--concurrency-policy \"%s\": expected Allow, Forbid or "
                                       "Replace",
                                       v);
                o->concurrency_policy = v;
                return 0;
        case O_STARTING_DEADLINE:
                return duration_flag("--starting-deadline", v, &o->starting_deadline_ms, e);
        case O_SUCCESSFUL_HISTORY:
                return cli_parse_int("--successful-history", v, 0, 1000, &o->successful_history, e);
        case O_FAILED_HISTORY:
                return cli_parse_int("--failed-history", v, 0, 1000, &o->failed_history, e);
        case O_SUSPEND: o->suspend = true; return 0;
        case O_SCHEDULE_TIMEOUT:
                return duration_flag("--schedule-timeout", v, &o->schedule_timeout_ms, e);
        case O_KEEP_FAILED: o->keep_failed = true; return 0;
        case O_RETRY_WINDOW: return duration_flag("--retry-window", v, &o->retry_window_ms, e);
        case O_SUMMARY_FILE:
                if (!*v)
                        return err_set(e, ERR_USAGE, "--summary-file: empty path");
                o->summary_file = v;
                return 0;
        case O_CASCADE:
                if (strcmp(v, "background") && strcmp(v, "foreground"))
                        return err_set(e, ERR_USAGE,
                                       "--cascade \"%s\": expected background or foreground", v);
                o->cascade = v;
                return 0;
        }
        return err_set(e, ERR_USAGE, "internal: unhandled flag %d", c);
}

int opts_parse(int argc, char **argv, struct opts *o, struct err *e)
{
        memset(o, 0, sizeof *o);
        o->request_timeout_ms = -1;
        o->ttl_ms = -1;
        o->starting_deadline_ms = -1;
        o->successful_history = -1;
        o->failed_history = -1;
        o->timeout_ms = 0;
        o->inject = "init";
        o->cascade = "background";
        o->image = env_or("RELRUN_IMAGE", NULL);
        o->release = env_or("RELRUN_RELEASE", NULL);
        o->pod_image = env_or("RELRUN_POD_IMAGE", "ghcr.io/relrun/relrun-pod:" RELRUN_VERSION);

        if (argc == 2 && !strcmp(argv[1], "--version")) {
                o->cmd = CMD_VERSION;
                return 0;
        }
        /* The subcommand is the first argument that is not a flag; global
         * flags may come before it (kubectl allows both orders). */
        int sub = 0;
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (!strcmp(a, "--"))
                        break;
                if (a[0] != '-') {
                        sub = i;
                        break;
                }
                /* Skip a flag's separate value. */
                if (!strchr(a, '=') &&
                    (!strcmp(a, "-n") || !strcmp(a, "-o") || !strcmp(a, "--namespace") ||
                     !strcmp(a, "--context") || !strcmp(a, "--kubeconfig") ||
                     !strcmp(a, "--output") || !strcmp(a, "--request-timeout")))
                        i++;
        }
        unsigned bit = 0;
        int min_pos = 0, max_pos = 0;
        if (sub) {
                for (size_t i = 0; i < N_CMDS; i++) {
                        if (!strcmp(argv[sub], cmds[i].name)) {
                                o->cmd = cmds[i].cmd;
                                bit = cmds[i].bit;
                                min_pos = cmds[i].min_pos;
                                max_pos = cmds[i].max_pos;
                        }
                }
                if (o->cmd == CMD_NONE)
                        return err_set(e, ERR_USAGE, "unknown command \"%s\" (see relrun help)",
                                       argv[sub]);
        }

        struct option longopts[N_FLAGS + 1];
        size_t n = 0;
        for (size_t i = 0; i < N_FLAGS; i++)
                if (flags[i].cmds & bit || flags[i].cmds == F_ALL)
                        longopts[n++] = flags[i].opt;
        memset(&longopts[n], 0, sizeof longopts[n]);
        const char *shortopts = o->cmd == CMD_LOGS ? "+:hn:o:f" : "+:hn:o:";

        /* "+": stop at the first positional so that it can be counted; then
         * go on after it (flags may follow positionals, as in kubectl). */
        opterr = 0;
        optind = 1;
        int pos_start = 1;
        for (;;) {
                int c = getopt_long(argc, argv, shortopts, longopts, NULL);
                if (c == -1) {
                        if (optind >= argc)
                                break;
                        if (!strcmp(argv[optind - 1], "--") && optind - 1 >= pos_start) {
                                /* Everything after "--" is positional. */
                                for (int i = optind; i < argc; i++) {
                                        if (o->n_pos >= 8)
                                                return err_set(e, ERR_USAGE, "too many arguments");
                                        o->pos[o->n_pos++] = argv[i];
                                }
                                break;
                        }
                        if (optind != sub) {
                                if (o->n_pos >= 8)
                                        return err_set(e, ERR_USAGE, "too many arguments");
                                o->pos[o->n_pos++] = argv[optind];
                        }
                        optind++;
                        pos_start = optind;
                        continue;
                }
                if (c == 'h') {
                        o->help = true;
                        continue;
                }
                if (c == '?') {
                        const char *bad = argv[optind - 1];
                        if (optopt && optopt < 256)
                                return err_set(
                                    e, ERR_USAGE, "%s: unknown flag \"-%c\" (see relrun %s --help)",
                                    opts_cmd_name(o->cmd), optopt, opts_cmd_name(o->cmd));
                        return err_set(e, ERR_USAGE,
                                       "%s: unknown flag \"%s\" (see relrun %s --help)",
                                       opts_cmd_name(o->cmd), bad, opts_cmd_name(o->cmd));
                }
                if (c == ':')
                        return err_set(e, ERR_USAGE, "%s: flag \"%s\" needs a value",
                                       opts_cmd_name(o->cmd), argv[optind - 1]);
                if (set_flag(o, c, optarg, e) < 0)
                        return -1;
        }
        if (o->help || o->cmd == CMD_HELP || o->cmd == CMD_NONE)
                return 0;
        if ((int)o->n_pos < min_pos || (int)o->n_pos > max_pos) {
                if (o->cmd == CMD_CRON)
                        return err_set(e, ERR_USAGE,
                                       "cron: expected an action: create, render, list, "
                                       "history, trigger, suspend, resume or delete (see "
                                       "relrun cron --help)");
                if (o->cmd == CMD_RUN || o->cmd == CMD_RENDER)
                        return err_set(
                            e, ERR_USAGE,
                            "%s: expected one expression (or --mfa M.f --args JSON), got "
                            "%zu arguments; quote the expression",
                            opts_cmd_name(o->cmd), o->n_pos);
                if (o->cmd == CMD_EVAL)
                        return err_set(e, ERR_USAGE,
                                       "eval: expected JOB or POD and one expression, got %zu "
                                       "arguments; quote the expression",
                                       o->n_pos);
                return err_set(e, ERR_USAGE,
                               "%s: expected %s, got %zu arguments (see relrun %s --help)",
                               opts_cmd_name(o->cmd), min_pos ? "a job name" : "no arguments",
                               o->n_pos, opts_cmd_name(o->cmd));
        }
        return 0;
}

static const char global_help[] =
    "Global flags (kubectl-compatible):\n"
    "  -n, --namespace NS       namespace (default: the context's, else \"default\")\n"
    "      --context NAME       kubeconfig context to use (default: current-context)\n"
    "      --kubeconfig PATH    kubeconfig file (default: $KUBECONFIG, ~/.kube/config,\n"
    "                           in-cluster service account)\n"
    "  -o, --output FORMAT      json: machine output; yaml (render, list); text (default)\n"
    "      --request-timeout D  per-request timeout, e.g. 10s (default 30s; 0: none)\n"
    "  -h, --help               this help\n";

static const char task_help[] =
    "Task flags:\n"
    "      --image IMAGE        the release's container image (default $RELRUN_IMAGE)\n"
    "      --release PATH       the release's bin script in the image, e.g.\n"
    "                           /app/bin/my_app (default $RELRUN_RELEASE)\n"
    "      --mfa M.f            call Module.function instead of a raw EXPR ...\n"
    "      --args JSON          ... with these arguments (a JSON array), escaped safely\n"
    "      --env K=V            environment variable for the task (repeatable)\n"
    "      --env-from-secret S  all keys of Secret S as environment (repeatable)\n"
    "      --cookie-secret S    Secret S (key \"cookie\") becomes RELEASE_COOKIE\n"
    "      --cpu Q              CPU request and limit, e.g. 500m\n"
    "      --memory Q           memory request and limit, e.g. 512Mi\n"
    "      --service-account SA pod service account\n"
    "      --timeout D          activeDeadlineSeconds of the Job, e.g. 90s, 5m, 1h\n"
    "      --backoff-limit N    Job backoffLimit (default 0)\n"
    "      --boot-retries N     new pods when the release fails to boot (default 0)\n"
    "      --ttl D              ttlSecondsAfterFinished: delete the Job D after it ends\n"
    "      --inject init|none   init: copy relrun-pod in from --pod-image (default);\n"
    "                           none: the image already has relrun-pod\n"
    "      --pod-image IMAGE    relrun-pod image (default $RELRUN_POD_IMAGE or\n"
    "                           ghcr.io/relrun/relrun-pod:" RELRUN_VERSION ")\n"
    "      --error-exit N       exit N (1-63) when EXPR returns {:error, _}\n"
    "      --ready-timeout D    give up when the release is not ready after D\n"
    "      --grace D            time the release gets to stop after the task\n"
    "      --rpc script|dist    how relrun-pod reaches the node (default script)\n"
    "      --log-format F       relrun-pod's log format: json (default), logfmt, text\n"
    "      --app-format FMT     the app's Logger console format, e.g.\n"
    "                           '$time $metadata[$level] $message' (Elixir's default)\n"
    "      --ready-expr EXPR    also wait until EXPR is truthy on the node\n";

static const char ci_help[] =
    "Machine output (CI):\n"
    "  -o json                  stdout carries the pod's JSON log lines unchanged, then\n"
    "                           as its LAST line one summary object:\n"
    "                           {\"relrun\":\"summary\",\"job\":..,\"namespace\":..,\"pod\":..,\n"
    "                            \"phase\":\"succeeded|failed|created|timeout|interrupted|\n"
    "                            error\",\"failed_phase\":null|\"never scheduled\"|\n"
    "                            \"image pull\"|\"release never ready\"|\"task failed\"|\n"
    "                            \"killed\"|\"deadline\",\"exit_code\":N,\"duration_ms\":N,\n"
    "                            \"return\":..,\"expr\":..,\"message\":..}\n"
    "                           (select it with: tail -n1 | jq 'select(.relrun==\"summary\")')\n"
    "      --summary-file PATH  also write that summary object to PATH (atomically),\n"
    "                           whatever the outcome\n"
    "  GITHUB_ACTIONS=true      on a non-zero exit, print a '::error title=relrun::...'\n"
    "                           annotation on stdout\n"
    "  Colours and the pending-phase line appear only on a terminal, never with\n"
    "  NO_COLOR set or TERM=dumb.\n";

static const char follow_help[] =
    "Following the Job:\n"
    "      --schedule-timeout D give up on a pod the scheduler cannot place after D\n"
    "                           (exit 124; default 15m, time for a cluster autoscaler)\n"
    "      --keep-failed        keep the Job when its pod never ran (an image that\n"
    "                           does not pull, a missing Secret, admission refused);\n"
    "                           by default relrun deletes it so the task cannot run\n"
    "                           later unwatched\n"
    "      --retry-window D     keep retrying an unreachable or failing API server for\n"
    "                           D before giving up (exit 69; default 10m); the task\n"
    "                           goes on meanwhile\n";

static const char exit_help[] =
    "Exit codes: 0 ok; 1-63 the task's own code; 64 usage; 69 API unreachable;\n"
    "70 release failed to start; 75 killed from outside; 77 auth refused;\n"
    "78 config error; 124 deadline passed; 130/143 relrun itself interrupted\n"
    "(SIGINT/SIGTERM).\n";

void opts_help(enum relrun_cmd cmd, FILE *f)
{
        switch (cmd) {
        case CMD_RUN:
                fputs(
                    "usage: relrun run [flags] EXPR\n"
                    "       relrun run [flags] --mfa Module.fun --args JSON\n\n"
                    "Create a Job that runs EXPR in a fresh pod of the release, follow its\n"
                    "pod, stream its logs to stdout and exit with the task's exit code.\n"
                    "A summary line goes to stderr. -o json passes the pod's JSON log\n"
                    "lines through unchanged.\n\n"
                    "      --detach             print the Job name and exit 0 without following\n",
                    f);
                fputs(task_help, f);
                fputs(follow_help, f);
                fputs(ci_help, f);
                fputs(global_help, f);
                fputs(exit_help, f);
                break;
        case CMD_RENDER:
                fputs("usage: relrun render [flags] EXPR [-o yaml|json]\n\n"
                      "Print the Job manifest for EXPR (yaml by default); nothing is posted.\n"
                      "Secrets appear as references only.\n\n",
                      f);
                fputs(task_help, f);
                fputs(global_help, f);
                break;
        case CMD_LOGS:
                fputs("usage: relrun logs JOB [-f]\n\n"
                      "Print the task log of JOB's newest pod.\n\n"
                      "  -f, --follow             keep streaming until the task ends\n",
                      f);
                fputs(global_help, f);
                break;
        case CMD_WAIT:
                fputs("usage: relrun wait JOB [--timeout D]\n\n"
                      "Wait until JOB is Complete or Failed and exit with the task's code.\n\n"
                      "      --timeout D          give up after D (exit 124)\n",
                      f);
                fputs(follow_help, f);
                fputs(ci_help, f);
                fputs(global_help, f);
                fputs(exit_help, f);
                break;
        case CMD_LIST:
                fputs("usage: relrun list [-o json|yaml|name]\n\n"
                      "List the Jobs relrun created: name, status, age, expression.\n\n",
                      f);
                fputs(global_help, f);
                break;
        case CMD_CANCEL:
                fputs("usage: relrun cancel JOB [--cascade background|foreground]\n\n"
                      "Delete JOB and its pods (the task gets SIGTERM and its grace period).\n\n"
                      "      --cascade P          propagation policy (default background)\n",
                      f);
                fputs(global_help, f);
                break;
        case CMD_VERSION:
                fputs("usage: relrun version [-o json]\n\nPrint relrun's version.\n\n", f);
                fputs(global_help, f);
                break;
        case CMD_CRON:
                fputs(
                    "usage: relrun cron create NAME --schedule CRON [flags] EXPR\n"
                    "       relrun cron render NAME --schedule CRON [flags] EXPR [-o yaml|json]\n"
                    "       relrun cron list\n"
                    "       relrun cron history NAME [-o json]\n"
                    "       relrun cron trigger NAME [EXPR] [--detach] [--summary-file PATH]\n"
                    "       relrun cron suspend|resume NAME\n"
                    "       relrun cron delete NAME\n\n"
                    "CronJobs that run EXPR on a schedule; trigger runs one now and follows\n"
                    "it like relrun run (same exit codes, -o json and --summary-file too);\n"
                    "history lists its runs still in the cluster, oldest first: start,\n"
                    "duration, status, exit code and the task's return value;\n"
                    "trigger NAME EXPR (or --mfa/--args) runs EXPR instead of the CronJob's.\n\n"
                    "Schedule flags:\n"
                    "      --schedule CRON      minute hour day-of-month month day-of-week\n"
                    "                           (0-59 0-23 1-31 1-12|JAN-DEC 0-6|SUN-SAT; *, ?,\n"
                    "                           lists a,b, ranges a-b, steps */15 1-30/5) or\n"
                    "                           @yearly @annually @monthly @weekly @daily\n"
                    "                           @midnight @hourly; checked before anything is "
                    "sent\n"
                    "      --time-zone TZ       IANA time zone, e.g. Europe/Berlin (default UTC)\n"
                    "      --concurrency-policy P  Allow, Forbid (default) or Replace\n"
                    "      --starting-deadline D   skip a run that could not start within D\n"
                    "      --successful-history N  finished Jobs to keep (Kubernetes: 3)\n"
                    "      --failed-history N      failed Jobs to keep (Kubernetes: 1)\n"
                    "      --suspend            create it suspended\n"
                    "      --detach             trigger: print the Job name, do not follow\n"
                    "      --cascade P          delete: background (default) or foreground\n",
                    f);
                fputs(task_help, f);
                fputs(follow_help, f);
                fputs(ci_help, f);
                fputs(global_help, f);
                break;
        case CMD_EVAL:
                fputs("usage: relrun eval JOB|POD EXPR\n\n"
                      "Run EXPR on the node of a running task and print what it printed and\n"
                      "its result; the exit code follows the task contract (0 ok, 1 raise,\n"
                      "N for exit({:shutdown, N}), 70 node not reachable). JOB means its\n"
                      "running pod. In the pod, the task container's own relrun-pod connects\n"
                      "to the node over distribution: no second BEAM. The exec goes through\n"
                      "`kubectl exec` (Debian's libcurl has no WebSocket): kubectl must be on\n"
                      "PATH (or $RELRUN_KUBECTL) and may use pods/exec.\n\n"
                      "Exit codes of relrun itself: 64 no such job or pod, 69 the pod is not\n"
                      "running, 78 kubectl missing.\n\n",
                      f);
                fputs(global_help, f);
                break;
        case CMD_REMOTE:
                fputs("usage: relrun remote JOB|POD\n\n"
                      "An interactive remote console on a running task's node: the release's\n"
                      "own remote console (`bin/app remote`: iex attached to the node, for mix;\n"
                      "`remote_console` for relx), the terminal passed through. Leaving the\n"
                      "console leaves the task running. Through `kubectl exec -it`, as eval.\n\n",
                      f);
                fputs(global_help, f);
                break;
        case CMD_COMPLETION:
                fputs("usage: relrun completion bash|zsh\n\n"
                      "Print a shell completion script: subcommands, each one's flags, the\n"
                      "values of -o and of every flag that takes one of a fixed set of values.\n\n"
                      "  bash:  source <(relrun completion bash)\n"
                      "  zsh:   source <(relrun completion zsh)\n",
                      f);
                fputs(global_help, f);
                break;
        default:
                fputs("relrun: run release tasks as Kubernetes Jobs (also: kubectl relrun)\n\n"
                      "usage: relrun COMMAND [flags]\n\n"
                      "Commands:\n"
                      "  run EXPR        create a Job for EXPR, follow it, exit with its code\n"
                      "  render EXPR     print the Job manifest (-o yaml|json), post nothing\n"
                      "  logs JOB [-f]   print (or follow) a task's log\n"
                      "  wait JOB        wait for a Job to end, exit with the task's code\n"
                      "  list            Jobs created by relrun\n"
                      "  cancel JOB      delete a Job and its pods\n"
                      "  cron ...        scheduled tasks: create, render, list, trigger, suspend,\n"
                      "                  resume, delete\n"
                      "  eval JOB EXPR   run EXPR on a running task's node, print the result\n"
                      "  remote JOB      a remote console on a running task's node\n"
                      "  version         print the version\n"
                      "  completion SH   shell completion script (bash, zsh)\n"
                      "  help [COMMAND]  this help, or a command's\n\n"
                      "Example:\n"
                      "  relrun run --image my-app:1.4 --release /app/bin/my_app \\\n"
                      "    'MyApp.Tasks.reindex(\"users\")'\n\n",
                      f);
                fputs(global_help, f);
                fputs(exit_help, f);
                break;
        }
}
