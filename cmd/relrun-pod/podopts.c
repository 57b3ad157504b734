#include "podopts.h"

#include <string.h>

#include "cli.h"
#include "expr.h"
#include "release.h"

const char podopts_usage[] =
    "usage: relrun-pod [options] -- EXPR\n"
    "       relrun-pod --install DEST\n"
    "\n"
    "Start an Elixir/Erlang release, wait until it is up, run EXPR on it, stream\n"
    "every log line in one format, stop the release and exit with the task's code.\n"
    "\n"
    "options:\n"
    "  --release PATH         the release's bin script (default $RELRUN_RELEASE)\n"
    "  --ready-timeout D      give up when not ready after D (default 120s); exit 124\n"
    "  --ready-expr EXPR      also wait until EXPR is truthy on the node\n"
    "  --log-format F         json (default), logfmt, text, or a log collector's\n"
    "                         JSON: gcp (Cloud Logging), ecs (Elastic), datadog\n"
    "  --app-format FMT       the app's Logger console format (default: the\n"
    "                         format the node reports, with its utc_log)\n"
    "  --grace D              time the release gets to stop (default 30s), then kill\n"
    "  --rpc auto|dist|script how to reach the node: dist (a hidden C node over\n"
    "                         Erlang distribution), script (the release's own\n"
    "                         bin/NAME rpc) or auto (default: dist, else script)\n"
    "  --lang erlang|elixir   the language of EXPR and --ready-expr (default: Erlang\n"
    "                         for a release with no Elixir in its lib/, else Elixir)\n"
    "  --cookie-file PATH     the node's cookie (default: what the started VM was\n"
    "                         given, -setcookie or its RELEASE_COOKIE; else\n"
    "                         $RELEASE_COOKIE, else the release's releases/COOKIE)\n"
    "  --start-command CMD    the bin script command that runs the release in the\n"
    "                         foreground (default: start for a mix release,\n"
    "                         foreground for a relx/rebar3 one, told from the script)\n"
    "  --stop fast|sigterm    fast (default): after the task the node stops its\n"
    "                         applications (stop callbacks run) and halts at once;\n"
    "                         sigterm: init:stop via SIGTERM (about a second)\n"
    "  --termination-log PATH write the JSON result there (Kubernetes termination message)\n"
    "  --error-exit N         exit N (1-63) when EXPR returns {:error, _}\n"
    "  --indexed              -- EXPR0 EXPR1 ...: run the one of $JOB_COMPLETION_INDEX\n"
    "                         (a pod of an Indexed Job, relrun render --each)\n"
    "  --each JSON_ARRAY      -- EXPR: EXPR with $item replaced by item number\n"
    "                         $JOB_COMPLETION_INDEX (serialised as relrun --each does:\n"
    "                         the Helm chart's each)\n"
    "  --on-term EXPR         drain hook: on SIGTERM while the task runs, first run EXPR\n"
    "                         on the node (given up to --grace), then stop the release\n"
    "  --eval EXPR            next to a running relrun-pod (kubectl exec): run EXPR on\n"
    "                         the task's node, print its output and value, exit 0, 1 on\n"
    "                         a raise, N on exit({:shutdown, N}), 66 no task node, 69\n"
    "                         node not reachable\n"
    "  --remote               likewise: the release's remote console on the task's node\n"
    "  --install DEST         copy this binary to DEST (for an init container) and exit\n"
    "  --normalise            read a log on stdin, write it as uniform events and exit\n"
    "                         (uses --log-format and --app-format)\n"
    "  -h, --help             this text\n"
    "      --version          print the version\n"
    "\n"
    "The node's name and cookie are read from the started VM (its -name/-sname and\n"
    "-setcookie, as the release's env.sh made them), its log format from the node.\n"
    "\n"
    "exit codes: task's own (0-63; System.halt(N) gives N), 64 usage, 70 release\n"
    "failed to start or get ready, 75 stopped by a signal or its VM killed mid-task,\n"
    "78 configuration (no distribution, cookie refused), 124 ready timeout\n";

enum flag {
        F_RELEASE,
        F_READY_TIMEOUT,
        F_READY_EXPR,
        F_LOG_FORMAT,
        F_APP_FORMAT,
        F_GRACE,
        F_RPC,
        F_COOKIE_FILE,
        F_TERMLOG,
        F_ERROR_EXIT,
        F_INSTALL,
        F_STOP,
        F_START_COMMAND,
        F_ON_TERM,
        F_LANG,
        F_EACH,
};

static const struct {
        const char *name;
        enum flag f;
} flags[] = {
    {"--release", F_RELEASE},
    {"--ready-timeout", F_READY_TIMEOUT},
    {"--ready-expr", F_READY_EXPR},
    {"--log-format", F_LOG_FORMAT},
    {"--app-format", F_APP_FORMAT},
    {"--grace", F_GRACE},
    {"--rpc", F_RPC},
    {"--cookie-file", F_COOKIE_FILE},
    {"--termination-log", F_TERMLOG},
    {"--error-exit", F_ERROR_EXIT},
    {"--install", F_INSTALL},
    {"--stop", F_STOP},
    {"--start-command", F_START_COMMAND},
    {"--on-term", F_ON_TERM},
    {"--lang", F_LANG},
    {"--each", F_EACH},
};

static int set_flag(struct podopts *o, enum flag f, const char *name, const char *v, struct err *e)
{
        int64_t n;
        switch (f) {
        case F_RELEASE: o->release = v; return 0;
        case F_READY_EXPR: o->ready_expr = v; return 0;
        case F_APP_FORMAT: o->app_format = v; return 0;
        case F_TERMLOG: o->termination_log = v; return 0;
        case F_INSTALL: o->install_dest = v; return 0;
        case F_COOKIE_FILE: o->cookie_file = v; return 0;
        case F_ON_TERM: o->on_term = *v ? v : NULL; return 0;
        case F_EACH: o->each = v; return 0;
        case F_READY_TIMEOUT: return cli_parse_duration(name, v, &o->ready_timeout_ms, e);
        case F_GRACE: return cli_parse_duration(name, v, &o->grace_ms, e);
        case F_LOG_FORMAT: return logline_out_parse(v, &o->log_format, e);
        case F_ERROR_EXIT:
                if (cli_parse_int(name, v, 1, 63, &n, e) < 0)
                        return -1;
                o->error_exit = (int)n;
                return 0;
        case F_START_COMMAND:
                /* one word: it becomes argv[1] of the script, never a shell line */
                if (!*v ||
                    strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
                        strlen(v) ||
                    v[0] == '-')
                        return err_set(
                            e, ERR_USAGE,
                            "--start-command \"%.60s\": expected one command word of the "
                            "release's bin script, such as start or foreground",
                            v);
                o->start_command = v;
                return 0;
        case F_STOP:
                if (strcmp(v, "fast") == 0)
                        o->fast_stop = true;
                else if (strcmp(v, "sigterm") == 0)
                        o->fast_stop = false;
                else
                        return err_set(e, ERR_USAGE, "--stop \"%s\": expected fast or sigterm", v);
                return 0;
        case F_LANG:
                if (strcmp(v, "erlang") == 0)
                        o->lang = PODOPTS_LANG_ERLANG;
                else if (strcmp(v, "elixir") == 0)
                        o->lang = PODOPTS_LANG_ELIXIR;
                else
                        return err_set(e, ERR_USAGE, "--lang \"%.60s\": expected erlang or elixir",
                                       v);
                return 0;
        case F_RPC:
                if (strcmp(v, "auto") == 0)
                        o->rpc = PODOPTS_RPC_AUTO;
                else if (strcmp(v, "script") == 0)
                        o->rpc = PODOPTS_RPC_SCRIPT;
                else if (strcmp(v, "dist") == 0)
                        o->rpc = PODOPTS_RPC_DIST;
                else
                        return err_set(e, ERR_USAGE, "--rpc \"%s\": expected auto, dist or script",
                                       v);
                return 0;
        }
        return err_set(e, ERR_USAGE, "%s: unknown", name);
}

int podopts_parse(int argc, char **argv, const char *env_release, struct podopts *o, struct err *e)
{
        struct podopts r = {
            .release = env_release && *env_release ? env_release : NULL,
            .ready_timeout_ms = 120 * 1000,
            .grace_ms = 30 * 1000,
            .log_format = LOGLINE_OUT_JSON,
            .rpc = PODOPTS_RPC_AUTO,
            .fast_stop = true,
        };
        const char *positional = NULL;
        int i;
        for (i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (strcmp(a, "--") == 0) {
                        i++;
                        break;
                }
                if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
                        r.help = true;
                        continue;
                }
                if (strcmp(a, "--normalise") == 0 || strcmp(a, "--normalize") == 0) {
                        r.normalise = true;
                        continue;
                }
                if (strcmp(a, "--indexed") == 0) {
                        r.indexed = true;
                        continue;
                }
                if (strcmp(a, "--version") == 0) {
                        r.version = true;
                        continue;
                }
                if (a[0] != '-' || a[1] == '\0') {
                        if (positional)
                                return err_set(
                                    e, ERR_USAGE,
                                    "expected one expression, got a second one: \"%.60s\" "
                                    "(quote the whole expression as one argument)",
                                    a);
                        positional = a;
                        continue;
                }
                size_t k;
                const char *eq = strchr(a, '=');
                size_t nl = eq ? (size_t)(eq - a) : strlen(a);
                for (k = 0; k < sizeof flags / sizeof flags[0]; k++)
                        if (strlen(flags[k].name) == nl && strncmp(a, flags[k].name, nl) == 0)
                                break;
                if (k == sizeof flags / sizeof flags[0])
                        return err_set(e, ERR_USAGE, "unknown option \"%.*s\" (see --help)",
                                       (int)nl, a);
                const char *v;
                if (eq) {
                        v = eq + 1;
                } else {
                        if (i + 1 >= argc)
                                return err_set(e, ERR_USAGE, "%s: needs a value", flags[k].name);
                        v = argv[++i];
                }
                if (set_flag(&r, flags[k].f, flags[k].name, v, e) < 0)
                        return -1;
        }
        if (i < argc && r.indexed && !positional) {
                r.exprs = argv + i;
                r.n_exprs = argc - i;
                positional = argv[i];
        } else if (i < argc) {
                if (positional || argc - i > 1)
                        return err_set(e, ERR_USAGE,
                                       "expected one expression after \"--\", got %d arguments "
                                       "(quote the whole expression as one argument)",
                                       argc - i + (positional ? 1 : 0));
                positional = argv[i];
        }
        r.expr = positional;
        if (r.each) {
                if (r.indexed)
                        return err_set(e, ERR_USAGE,
                                       "--each and --indexed: give one of them (--each makes the "
                                       "expressions from one template)");
                r.indexed = true; /* the expressions come in podopts_pick_index */
        }
        if (!r.help && !r.version && !r.install_dest && !r.normalise) {
                if (!r.expr || !*r.expr)
                        return err_set(e, ERR_USAGE,
                                       "no expression given (relrun-pod [options] -- EXPR)");
                if (!r.release)
                        return err_set(e, ERR_USAGE,
                                       "no release given: pass --release /app/bin/NAME or set "
                                       "RELRUN_RELEASE");
        }
        *o = r;
        return 0;
}

int podopts_pick_index(struct podopts *o, const char *env_index, bool erlang, struct err *e)
{
        if (o->each && !o->exprs) {
                char **list;
                size_t n;
                if (expr_each_lang(o->expr, o->each, erlang ? EXPR_LANG_ERLANG : EXPR_LANG_ELIXIR,
                                   &list, &n, e) < 0)
                        return -1;
                /* kept for the process's life: o->expr points into it */
                o->exprs = list;
                o->n_exprs = (int)n;
        }
        if (!env_index || !*env_index)
                return err_set(e, ERR_CONFIG,
                               "--indexed: $JOB_COMPLETION_INDEX is not set (not a pod of an "
                               "Indexed Job?)");
        int64_t n;
        if (cli_parse_int("$JOB_COMPLETION_INDEX", env_index, 0, o->n_exprs - 1, &n, e) < 0) {
                e->code = ERR_CONFIG;
                return err_prefix(e, "--indexed (%d expressions)", o->n_exprs);
        }
        o->index = (int)n;
        o->expr = o->exprs[n];
        return 0;
}

const char *podopts_start_command(const struct podopts *o, const char **kind)
{
        if (o->start_command) {
                *kind = "--start-command";
                return o->start_command;
        }
        struct release_layout l;
        struct err e;
        /* an unreadable script fails at its start, where the error is reported */
        if (release_layout_read(o->release, &l, &e) < 0)
                l.kind = RELEASE_KIND_UNKNOWN;
        *kind = release_kind_name(l.kind);
        return release_start_command(l.kind);
}
