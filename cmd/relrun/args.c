/* relrun: the command line — subcommands, flags (kubectl's where they
 * overlap) and the help of each subcommand. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "defaults.h"
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
        O_ON_TERM,
        O_EACH,
        O_PARALLELISM,
        O_LANG,
        O_SCHEDULE,
        O_TIME_ZONE,
        O_CONCURRENCY,
        O_STARTING_DEADLINE,
        O_SUCCESSFUL_HISTORY,
        O_FAILED_HISTORY,
        O_SUSPEND,
        O_SUMMARY_FILE,
        O_IMAGE_PULL_SECRET,
        O_PULL_POLICY,
        O_NODE_SELECTOR,
        O_TOLERATION,
        O_LABEL,
        O_ANNOTATION,
        O_PRIORITY_CLASS,
        O_CPU_LIMIT,
        O_MEMORY_LIMIT,
        O_RUN_AS_USER,
        O_OVERRIDES,
        O_OVERRIDE_TYPE,
        O_WAIT_TIMEOUT,
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
#define F_CONFIG (1u << 16)
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
    {{"cpu-limit", required_argument, NULL, O_CPU_LIMIT}, F_TASK},
    {{"memory-limit", required_argument, NULL, O_MEMORY_LIMIT}, F_TASK},
    {{"image-pull-secret", required_argument, NULL, O_IMAGE_PULL_SECRET}, F_TASK},
    {{"pull-policy", required_argument, NULL, O_PULL_POLICY}, F_TASK},
    {{"node-selector", required_argument, NULL, O_NODE_SELECTOR}, F_TASK},
    {{"toleration", required_argument, NULL, O_TOLERATION}, F_TASK},
    {{"label", required_argument, NULL, O_LABEL}, F_TASK},
    {{"annotation", required_argument, NULL, O_ANNOTATION}, F_TASK},
    {{"priority-class", required_argument, NULL, O_PRIORITY_CLASS}, F_TASK},
    {{"run-as-user", required_argument, NULL, O_RUN_AS_USER}, F_TASK},
    {{"overrides", required_argument, NULL, O_OVERRIDES}, F_TASK},
    {{"override-type", required_argument, NULL, O_OVERRIDE_TYPE}, F_TASK},
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
    {{"on-term", required_argument, NULL, O_ON_TERM}, F_TASK},
    {{"each", required_argument, NULL, O_EACH}, F_TASK},
    {{"parallelism", required_argument, NULL, O_PARALLELISM}, F_TASK},
    {{"lang", required_argument, NULL, O_LANG}, F_TASK},
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
    {{"wait-timeout", required_argument, NULL, O_WAIT_TIMEOUT}, F_WAIT},
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
    {"cancel", CMD_CANCEL, F_CANCEL, 1, 8},
    {"version", CMD_VERSION, 1u << 11, 0, 0},
    {"cron", CMD_CRON, F_CRON, 1, 3},
    {"completion", CMD_COMPLETION, 1u << 13, 1, 1},
    {"config", CMD_CONFIG, F_CONFIG, 1, 1},
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

/* ---- where each setting comes from -------------------------------------- */

/* The source being applied, and what each flag got from which source. */
struct origin {
        enum opts_src src;
        const char *where;
        int line;
        const char *context;
        const char *val[1]; /* a scalar flag's value ("true"/"false" for switches) */
};
static struct origin origins[N_FLAGS];
static struct origin cur;
/* Kept for the whole run: the options borrow their strings. */
static struct defaults_file *user_file, *project_file;
static char project_path[4096], user_path[4096];
static struct opts_files files_used;

/* The variables that stand for a flag (below a flag, above the files). */
static const struct {
        int c;
        const char *var;
} env_flags[] = {
    {O_IMAGE, "RELRUN_IMAGE"},         {O_RELEASE, "RELRUN_RELEASE"},
    {O_POD_IMAGE, "RELRUN_POD_IMAGE"}, {O_APP_FORMAT, "RELRUN_APP_FORMAT"},
    {'n', "RELRUN_NAMESPACE"},         {O_CONTEXT, "RELRUN_CONTEXT"},
};
#define N_ENV_FLAGS (sizeof env_flags / sizeof env_flags[0])

static int flag_index(int c)
{
        for (size_t i = 0; i < N_FLAGS; i++)
                if (flags[i].opt.val == c)
                        return (int)i;
        return -1;
}

static int flag_named(const char *name)
{
        for (size_t i = 0; i < N_FLAGS; i++)
                if (!strcmp(flags[i].opt.name, name))
                        return (int)i;
        return -1;
}

/* A repeatable flag's list in o; NULL for the others. */
static const char **list_of(struct opts *o, int c, size_t **n)
{
        switch (c) {
        case O_ENV: *n = &o->n_env; return o->env;
        case O_ENV_FROM_SECRET: *n = &o->n_env_from_secret; return o->env_from_secret;
        case O_IMAGE_PULL_SECRET: *n = &o->n_image_pull_secret; return o->image_pull_secret;
        case O_NODE_SELECTOR: *n = &o->n_node_selector; return o->node_selector;
        case O_TOLERATION: *n = &o->n_toleration; return o->toleration;
        case O_LABEL: *n = &o->n_label; return o->label;
        case O_ANNOTATION: *n = &o->n_annotation; return o->annotation;
        default: return NULL;
        }
}

static void switch_off(struct opts *o, int c)
{
        switch (c) {
        case O_DETACH: o->detach = false; break;
        case O_SUSPEND: o->suspend = false; break;
        case 'f': o->follow = false; break;
        default: break;
        }
}

static int set_flag(struct opts *o, int c, const char *v, struct err *e);

/* set_flag from the source in cur, remembered for config view. A list takes
 * its whole value from one source: the first item from a higher one drops
 * what the lower ones gave. */
static int apply(struct opts *o, int c, const char *v, struct err *e)
{
        int i = flag_index(c);
        size_t *n;
        const char **list = list_of(o, c, &n);
        if (i >= 0 && list &&
            (origins[i].src != cur.src || origins[i].context != cur.context ||
             origins[i].where != cur.where)) {
                *n = 0;
                list[0] = NULL;
        }
        if (set_flag(o, c, v, e) < 0)
                return -1;
        if (i >= 0) {
                origins[i] = cur;
                origins[i].val[0] = v ? v : "true";
        }
        return 0;
}

/* The settings of one file: its top level, then the section of ctx. */
static int apply_file(struct opts *o, struct defaults_file *f, enum opts_src src, const char *ctx,
                      unsigned bit, struct err *e)
{
        for (int pass = 0; f && pass < 2; pass++) {
                for (size_t k = 0; k < f->n; k++) {
                        struct defaults_entry *en = &f->ents[k];
                        if (pass == 0 ? en->context != NULL
                                      : !ctx || !en->context || strcmp(ctx, en->context) != 0)
                                continue;
                        int i = flag_named(en->key);
                        if (i < 0)
                                return err_set(e, ERR_CONFIG,
                                               "%s:%d: unknown setting \"%s\" (the keys are "
                                               "relrun's long flag names: image, release, "
                                               "namespace, app-format, ...)",
                                               f->path, en->line, en->key);
                        if (!strcmp(en->key, "help") || !strcmp(en->key, "mfa") ||
                            !strcmp(en->key, "args"))
                                return err_set(e, ERR_CONFIG,
                                               "%s:%d: \"%s\" cannot have a default; give it "
                                               "on the command line",
                                               f->path, en->line, en->key);
                        int c = flags[i].opt.val;
                        size_t *n;
                        const char *v = en->n ? en->vals[0] : "";
                        bool sw = flags[i].opt.has_arg == no_argument;
                        if (sw && (en->list || en->n != 1 ||
                                   (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)))
                                return err_set(e, ERR_CONFIG, "%s:%d: \"%s\": want true or false",
                                               f->path, en->line, en->key);
                        if (!sw && en->list && !list_of(o, c, &n))
                                return err_set(e, ERR_CONFIG,
                                               "%s:%d: \"%s\" takes one value, not a list", f->path,
                                               en->line, en->key);
                        if (!(flags[i].cmds & bit) && flags[i].cmds != F_ALL) {
                                /* another command's setting: checked all the same, so a
                                 * file is wrong or right whatever the command */
                                static struct opts scratch;
                                memset(&scratch, 0, sizeof scratch);
                                for (size_t j = 0; !sw && j < en->n; j++) {
                                        if (set_flag(&scratch, c, en->vals[j], e) < 0) {
                                                e->code = ERR_CONFIG;
                                                return err_prefix(e, "%s:%d", f->path, en->line);
                                        }
                                }
                                continue;
                        }
                        cur = (struct origin){src, f->path, en->line, en->context, {NULL}};
                        if (sw) {
                                if (!strcmp(v, "true")) {
                                        if (apply(o, c, NULL, e) < 0)
                                                return -1;
                                } else {
                                        switch_off(o, c);
                                        origins[i] = cur;
                                        origins[i].val[0] = "false";
                                }
                                continue;
                        }
                        const char **list = list_of(o, c, &n);
                        if (list && en->n == 0) { /* "label: []": none, whatever came before */
                                *n = 0;
                                list[0] = NULL;
                                origins[i] = cur;
                                continue;
                        }
                        for (size_t j = 0; j < en->n; j++) {
                                if (apply(o, c, en->vals[j], e) < 0) {
                                        e->code = ERR_CONFIG;
                                        return err_prefix(e, "%s:%d", f->path, en->line);
                                }
                        }
                }
        }
        return 0;
}

static const char *file_value(struct defaults_file *f, const char *key)
{
        for (size_t k = 0; f && k < f->n; k++)
                if (!f->ents[k].context && !strcmp(f->ents[k].key, key) && f->ents[k].n == 1 &&
                    !f->ents[k].list)
                        return f->ents[k].vals[0];
        return NULL;
}

static bool has_sections(struct defaults_file *f)
{
        for (size_t k = 0; f && k < f->n; k++)
                if (f->ents[k].context)
                        return true;
        return false;
}

/* A flag's value in argv before parsing ("--name V" or "--name=V"). */
static const char *argv_value(int argc, char **argv, const char *name)
{
        size_t n = strlen(name);
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (!strcmp(a, "--"))
                        break;
                if (a[0] == '-' && a[1] == '-' && !strncmp(a + 2, name, n)) {
                        if (a[2 + n] == '=')
                                return a + 3 + n;
                        if (!a[2 + n] && i + 1 < argc)
                                return argv[i + 1];
                }
        }
        return NULL;
}

/* The kubeconfig context whose file sections apply: --context, then
 * RELRUN_CONTEXT, then a file's context: key, then (only when a file has
 * sections) the kubeconfig's current-context, read without its credentials. */
static const char *pick_context(int argc, char **argv)
{
        static char kctx[256];
        const char *c = argv_value(argc, argv, "context");
        if (c) {
                files_used.context_from = "--context";
                return c;
        }
        c = getenv("RELRUN_CONTEXT");
        if (c && *c) {
                files_used.context_from = "RELRUN_CONTEXT";
                return c;
        }
        struct defaults_file *fs[2] = {project_file, user_file};
        for (int i = 0; i < 2; i++) {
                if ((c = file_value(fs[i], "context"))) {
                        files_used.context_from = fs[i]->path;
                        return c;
                }
        }
        if (!has_sections(project_file) && !has_sections(user_file))
                return NULL;
        const char *kc = argv_value(argc, argv, "kubeconfig");
        if (!kc)
                kc = file_value(project_file, "kubeconfig");
        if (!kc)
                kc = file_value(user_file, "kubeconfig");
        char path[4096];
        if (kc) {
                if (defaults_kubeconfig_context(kc, kctx, sizeof kctx))
                        goto found;
                return NULL;
        }
        const char *list = getenv("KUBECONFIG");
        if (list && *list) {
                /* kubectl: current-context from the first file that sets it */
                for (const char *p = list; *p;) {
                        size_t n = strcspn(p, ":");
                        if (n && n < sizeof path) {
                                memcpy(path, p, n);
                                path[n] = '\0';
                                if (defaults_kubeconfig_context(path, kctx, sizeof kctx))
                                        goto found;
                        }
                        p += n + (p[n] == ':');
                }
                return NULL;
        }
        const char *home = getenv("HOME");
        if (home && snprintf(path, sizeof path, "%s/.kube/config", home) < (int)sizeof path &&
            defaults_kubeconfig_context(path, kctx, sizeof kctx))
                goto found;
        return NULL;
found:
        files_used.context_from = "kubeconfig current-context";
        return kctx;
}

/* Load the files, then apply user file, project file and environment, each
 * over the one before; the command line goes last (opts_parse). */
static int apply_defaults(int argc, char **argv, struct opts *o, unsigned bit, struct err *e)
{
        char cwd[4096];
        if (getcwd(cwd, sizeof cwd) &&
            defaults_find_project(cwd, project_path, sizeof project_path))
                files_used.project = project_path;
        if (defaults_user_path(getenv("XDG_CONFIG_HOME"), getenv("HOME"), user_path,
                               sizeof user_path))
                files_used.user = user_path;
        if (files_used.user && defaults_load(user_path, &user_file, e) < 0)
                return -1;
        files_used.user_exists = user_file != NULL;
        if (files_used.project && defaults_load(project_path, &project_file, e) < 0)
                return -1;
        const char *ctx = pick_context(argc, argv);
        files_used.context = ctx;
        if (apply_file(o, user_file, SRC_USER, ctx, bit, e) < 0 ||
            apply_file(o, project_file, SRC_PROJECT, ctx, bit, e) < 0)
                return -1;
        for (size_t i = 0; i < N_ENV_FLAGS; i++) {
                const char *v = getenv(env_flags[i].var);
                int k = flag_index(env_flags[i].c);
                if (!v || !*v || k < 0 || (!(flags[k].cmds & bit) && flags[k].cmds != F_ALL))
                        continue;
                cur = (struct origin){SRC_ENV, env_flags[i].var, 0, NULL, {NULL}};
                if (apply(o, env_flags[i].c, v, e) < 0)
                        return err_prefix(e, "$%s", env_flags[i].var);
        }
        return 0;
}

bool opts_setting_at(const struct opts *o, size_t i, struct opts_setting *out)
{
        if (i >= N_FLAGS)
                return false;
        memset(out, 0, sizeof *out);
        out->name = flags[i].opt.name;
        out->src = origins[i].src;
        out->where = origins[i].where;
        out->line = origins[i].line;
        out->context = origins[i].context;
        size_t *n;
        const char **list = list_of((struct opts *)o, flags[i].opt.val, &n);
        if (list && out->src != SRC_NONE) {
                out->vals = list;
                out->n = *n;
        } else if (out->src != SRC_NONE) {
                out->vals = origins[i].val;
                out->n = 1;
        }
        return true;
}

void opts_files_used(struct opts_files *out)
{
        *out = files_used;
}

/* Is -h or --help among the arguments (before "--")? */
static bool wants_help(int argc, char **argv)
{
        for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
                if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
                        return true;
        return false;
}

static int duration_flag(const char *flag, const char *v, int64_t *ms, struct err *e)
{
        return cli_parse_duration(flag, v, ms, e);
}

/* Append v to a repeatable flag's list; want (e.g. "KEY=VALUE") asks for a '='. */
static int list_add(const char *flag, const char **list, size_t *n, const char *v, const char *want,
                    struct err *e)
{
        if (*n >= OPTS_MAX_LIST)
                return err_set(e, ERR_USAGE, "%s: at most %d", flag, OPTS_MAX_LIST);
        if (want && !strchr(v, '='))
                return err_set(e, ERR_USAGE, "%s \"%s\": expected %s", flag, v, want);
        list[(*n)++] = v;
        list[*n] = NULL;
        return 0;
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
        case O_ENV: return list_add("--env", o->env, &o->n_env, v, "NAME=VALUE", e);
        case O_ENV_FROM_SECRET:
                return list_add("--env-from-secret", o->env_from_secret, &o->n_env_from_secret, v,
                                NULL, e);
        case O_IMAGE_PULL_SECRET:
                return list_add("--image-pull-secret", o->image_pull_secret,
                                &o->n_image_pull_secret, v, NULL, e);
        case O_NODE_SELECTOR:
                return list_add("--node-selector", o->node_selector, &o->n_node_selector, v,
                                "KEY=VALUE", e);
        case O_TOLERATION:
                if (!strchr(v, ':'))
                        return err_set(e, ERR_USAGE,
                                       "--toleration \"%s\": expected KEY[=VALUE]:EFFECT, e.g. "
                                       "dedicated=encoder:NoSchedule",
                                       v);
                return list_add("--toleration", o->toleration, &o->n_toleration, v, NULL, e);
        case O_LABEL: return list_add("--label", o->label, &o->n_label, v, "KEY=VALUE", e);
        case O_ANNOTATION:
                return list_add("--annotation", o->annotation, &o->n_annotation, v, "KEY=VALUE", e);
        case O_PULL_POLICY:
                if (strcmp(v, "Always") && strcmp(v, "IfNotPresent") && strcmp(v, "Never"))
                        return err_set(e, ERR_USAGE,
                                       "--pull-policy \"%s\": expected Always, IfNotPresent or "
                                       "Never",
                                       v);
                o->pull_policy = v;
                return 0;
        case O_PRIORITY_CLASS: o->priority_class = v; return 0;
        case O_CPU_LIMIT: o->cpu_limit = v; return 0;
        case O_MEMORY_LIMIT: o->memory_limit = v; return 0;
        case O_RUN_AS_USER:
                return cli_parse_int("--run-as-user", v, 1, 2147483647, &o->run_as_user, e);
        case O_OVERRIDES: o->overrides = v; return 0;
        case O_OVERRIDE_TYPE:
                if (strcmp(v, "merge") && strcmp(v, "strategic") && strcmp(v, "json"))
                        return err_set(e, ERR_USAGE,
                                       "--override-type \"%s\": expected merge, strategic or json",
                                       v);
                o->override_type = v;
                return 0;
        case O_COOKIE_SECRET: o->cookie_secret = v; return 0;
        case O_CPU: o->cpu = v; return 0;
        case O_MEMORY: o->memory = v; return 0;
        case O_SERVICE_ACCOUNT: o->service_account = v; return 0;
        case O_TIMEOUT:
                /* On wait it always was the client's own deadline, which a
                 * reader of run's --timeout (the Job's) would not guess. */
                if (o->cmd == CMD_WAIT) {
                        o->wait_timeout_old_name = true;
                        return duration_flag("--timeout", v, &o->wait_timeout_ms, e);
                }
                return duration_flag("--timeout", v, &o->timeout_ms, e);
        case O_WAIT_TIMEOUT: return duration_flag("--wait-timeout", v, &o->wait_timeout_ms, e);
        case O_BACKOFF_LIMIT:
                return cli_parse_int("--backoff-limit", v, 0, 1000, &o->backoff_limit, e);
        case O_BOOT_RETRIES: return cli_parse_int("--boot-retries", v, 0, 100, &o->boot_retries, e);
        case O_TTL:
                if (!strcmp(v, "none")) {
                        o->ttl_ms = OPTS_TTL_NONE;
                        return 0;
                }
                return duration_flag("--ttl", v, &o->ttl_ms, e);
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
                if (strcmp(v, "auto") && strcmp(v, "dist") && strcmp(v, "script"))
                        return err_set(e, ERR_USAGE, "--rpc \"%s\": expected auto, dist or script",
                                       v);
                o->rpc = v;
                return 0;
        case O_LOG_FORMAT:
                if (strcmp(v, "json") && strcmp(v, "logfmt") && strcmp(v, "text") &&
                    strcmp(v, "gcp") && strcmp(v, "ecs") && strcmp(v, "datadog"))
                        return err_set(e, ERR_USAGE,
                                       "--log-format \"%s\": expected json, logfmt, text, gcp, "
                                       "ecs or datadog",
                                       v);
                o->log_format = v;
                return 0;
        case O_APP_FORMAT: o->app_format = v; return 0;
        case O_READY_EXPR: o->ready_expr = v; return 0;
        case O_ON_TERM: o->on_term = v; return 0;
        case O_EACH: o->each = v; return 0;
        case O_PARALLELISM: return cli_parse_int("--parallelism", v, 1, 1000, &o->parallelism, e);
        case O_LANG:
                if (strcmp(v, "erlang") && strcmp(v, "elixir"))
                        return err_set(e, ERR_USAGE, "--lang \"%s\": expected erlang or elixir", v);
                o->lang = v;
                return 0;
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

/* A Job named as kubectl and relrun list -o name print it: "job.batch/x",
 * "job/x", "jobs/x" or just "x". */
static const char *job_name(const char *a)
{
        static const char *const kinds[] = {"job.batch/", "jobs.batch/", "job/", "jobs/"};
        for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
                if (!strncmp(a, kinds[i], strlen(kinds[i])))
                        return a + strlen(kinds[i]);
        return a;
}

int opts_parse(int argc, char **argv, struct opts *o, struct err *e)
{
        memset(o, 0, sizeof *o);
        o->request_timeout_ms = -1;
        o->ttl_ms = OPTS_TTL_UNSET;
        o->run_as_user = -1;
        o->starting_deadline_ms = -1;
        o->successful_history = -1;
        o->failed_history = -1;
        o->timeout_ms = 0;
        o->inject = "init";
        o->cascade = "background";
        o->pod_image = "ghcr.io/relrun/relrun-pod:" RELRUN_VERSION;
        memset(origins, 0, sizeof origins);
        memset(&files_used, 0, sizeof files_used);
        defaults_free(user_file);
        defaults_free(project_file);
        user_file = project_file = NULL;
        int pi = flag_index(O_POD_IMAGE);
        origins[pi] = (struct origin){SRC_DEFAULT, NULL, 0, NULL, {o->pod_image}};

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

        /* Defaults from the files and the environment; the flags then win. */
        if (o->cmd != CMD_NONE && o->cmd != CMD_HELP && o->cmd != CMD_VERSION &&
            o->cmd != CMD_COMPLETION && !wants_help(argc, argv) &&
            apply_defaults(argc, argv, o, o->cmd == CMD_CONFIG ? F_ALL : bit, e) < 0)
                return -1;
        cur = (struct origin){SRC_FLAG, NULL, 0, NULL, {NULL}};

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
                if (apply(o, c, optarg, e) < 0)
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
                if (o->cmd == CMD_CONFIG)
                        return err_set(e, ERR_USAGE,
                                       "config: expected one action, view (see relrun config "
                                       "--help)");
                return err_set(e, ERR_USAGE,
                               "%s: expected %s, got %zu arguments (see relrun %s --help)",
                               opts_cmd_name(o->cmd),
                               !min_pos            ? "no arguments"
                               : max_pos > min_pos ? "job names"
                                                   : "a job name",
                               o->n_pos, opts_cmd_name(o->cmd));
        }
        if (o->cmd == CMD_LOGS || o->cmd == CMD_WAIT || o->cmd == CMD_CANCEL)
                for (size_t i = 0; i < o->n_pos; i++)
                        if (!*(o->pos[i] = job_name(o->pos[i])))
                                return err_set(e, ERR_USAGE, "%s: empty job name",
                                               opts_cmd_name(o->cmd));
        return 0;
}

static const char global_help[] =
    "Global flags (kubectl-compatible):\n"
    "  -n, --namespace NS       namespace (default: the context's, else \"default\")\n"
    "      --context NAME       kubeconfig context to use (default: current-context)\n"
    "      --kubeconfig PATH    kubeconfig file (default: $KUBECONFIG, ~/.kube/config,\n"
    "                           in-cluster service account)\n"
    "  -o, --output FORMAT      json: machine output; yaml (render, list); text (default:\n"
    "                           a pod's control characters shown as \\xNN, never obeyed)\n"
    "      --request-timeout D  give up on an API request after D, its retries\n"
    "                           included, e.g. 10s (default: 30s an attempt, retried\n"
    "                           for up to 60s; 0: no limit); watches and log streams\n"
    "                           are not cut by it\n"
    "  -h, --help               this help\n";

static const char task_help[] =
    "Task flags:\n"
    "      --image IMAGE        the release's container image (default $RELRUN_IMAGE)\n"
    "      --release PATH       the release's bin script in the image, e.g.\n"
    "                           /app/bin/my_app (default $RELRUN_RELEASE)\n"
    "      --mfa M.f            call Module.function instead of a raw EXPR ...\n"
    "                           (--lang erlang: module:function)\n"
    "      --args JSON          ... with these arguments (a JSON array), escaped safely\n"
    "      --lang erlang|elixir the language of EXPR (and --ready-expr); default: the\n"
    "                           pod tells from the release (Erlang when it has no\n"
    "                           Elixir). erlang: live_stream:run(<<\"s1\">>).\n"
    "      --env K=V            environment variable for the task (repeatable)\n"
    "      --env-from-secret S  all keys of Secret S as environment (repeatable)\n"
    "      --cookie-secret S    Secret S (key \"cookie\") becomes RELEASE_COOKIE\n"
    "      --cpu Q              CPU request and limit, e.g. 500m\n"
    "      --memory Q           memory request and limit, e.g. 512Mi\n"
    "      --cpu-limit Q        CPU limit apart from the request (--cpu)\n"
    "      --memory-limit Q     memory limit apart from the request (--memory)\n"
    "      --service-account SA pod service account\n"
    "      --image-pull-secret S  Secret S pulls the images (repeatable)\n"
    "      --pull-policy P      the task image's pull policy: Always, IfNotPresent, Never\n"
    "      --node-selector K=V  run only on nodes labelled K=V (repeatable)\n"
    "      --toleration KEY[=VALUE]:EFFECT  tolerate a taint; no VALUE: any value\n"
    "                           (operator Exists); EFFECT NoSchedule, PreferNoSchedule\n"
    "                           or NoExecute (repeatable)\n"
    "      --label K=V          label of the Job and its pod (repeatable)\n"
    "      --annotation K=V     annotation of the Job and its pod (repeatable)\n"
    "      --priority-class PC  the pod's priorityClassName\n"
    "      --run-as-user UID    run the pod as numeric UID with runAsNonRoot (passes Pod\n"
    "                           Security \"restricted\"; the default Job passes \"baseline\")\n"
    "      --overrides JSON     applied last to the Job (a CronJob's jobTemplate), as\n"
    "                           kubectl run: affinity, volumes, sidecars, ...\n"
    "      --override-type T    merge (RFC 7386, default), strategic (lists of\n"
    "                           containers, volumes, env merged by name) or json (RFC 6902)\n"
    "      --timeout D          the Job's own deadline (activeDeadlineSeconds): the\n"
    "                           task is stopped after D, exit 124; e.g. 90s, 5m, 1h\n"
    "      --backoff-limit N    Job backoffLimit (default 0)\n"
    "      --boot-retries N     new pods when the release fails to boot (default 0)\n"
    "      --ttl D|none         ttlSecondsAfterFinished: delete the Job D after it ends\n"
    "                           (run and render: default 24h; none: keep it)\n"
    "      --inject init|none   init: copy relrun-pod in from --pod-image (default);\n"
    "                           none: the image already has relrun-pod\n"
    "      --pod-image IMAGE    relrun-pod image (default $RELRUN_POD_IMAGE or\n"
    "                           ghcr.io/relrun/relrun-pod:" RELRUN_VERSION ")\n"
    "      --error-exit N       exit N (1-63) when EXPR returns {:error, _}\n"
    "      --ready-timeout D    give up when the release is not ready after D\n"
    "      --grace D            time the release gets to stop after the task\n"
    "      --rpc auto|dist|script how relrun-pod reaches the node (default auto:\n"
    "                           dist, a hidden C node; else bin/NAME rpc)\n"
    "      --log-format F       relrun-pod's log format: json (default), logfmt, text,\n"
    "                           gcp, ecs, datadog (a log collector's field names)\n"
    "      --app-format FMT     the app's Logger console format, e.g.\n"
    "                           '$time $metadata[$level] $message' (Elixir's default)\n"
    "      --ready-expr EXPR    also wait until EXPR is truthy on the node\n";

static const char task_help2[] =
    "      --on-term EXPR       drain hook: when the pod gets SIGTERM (a node drain, a\n"
    "                           delete) while the task runs, relrun-pod first runs EXPR\n"
    "                           on the task's node for up to --grace, then stops the\n"
    "                           release (the pod's grace period covers both)\n"
    "      --each JSON_ARRAY    fan-out: one Indexed Job, index i runs EXPR with $item\n"
    "                           as the array's element i, an Elixir term serialised as\n"
    "                           --args does (never text); $item must stand in code, not\n"
    "                           inside quotes. run follows every index: each log line\n"
    "                           prefixed \"[i] \" (-o json: an \"index\":i field), a line\n"
    "                           per index as it ends, then a table (index, item, exit,\n"
    "                           duration, result); exit 0 only if every index\n"
    "                           succeeded, else the code of the lowest failing index\n"
    "      --parallelism N      --each: indexes running at once (default: all)\n";

static const char ci_help[] =
    "Machine output (CI):\n"
    "  -o json                  stdout carries the pod's JSON log lines unchanged, then\n"
    "                           as its LAST line one summary object:\n"
    "                           {\"relrun\":\"summary\",\"job\":..,\"namespace\":..,\"pod\":..,\n"
    "                            \"phase\":\"succeeded|failed|created|timeout|interrupted|\n"
    "                            error\",\"failed_phase\":null|\"never scheduled\"|\n"
    "                            \"image pull\"|\"release never ready\"|\"task failed\"|\n"
    "                            \"killed\"|\"deadline\",\"exit_code\":N,\"duration_ms\":N,\n"
    "                            \"return\":..,\"expr\":..,\"cause\":..,\"message\":..}\n"
    "                           (select it with: tail -n1 | jq 'select(.relrun==\"summary\")')\n"
    "                           a fan-out (an Indexed Job) adds \"indexes\":[{\"index\":N,\n"
    "                           \"item\":..,\"pod\":..,\"phase\":..,\"exit_code\":N,\n"
    "                           \"duration_ms\":N,\"return\":..,..}, ...], one per index\n"
    "      --summary-file PATH  also write that summary object to PATH (atomically),\n"
    "                           whatever the outcome\n"
    "  GITHUB_ACTIONS=true      on a non-zero exit, print a '::error title=relrun::...'\n"
    "                           annotation on stderr\n"
    "  Colours and the pending-phase line appear only on a terminal, never with\n"
    "  NO_COLOR set or TERM=dumb.\n";

static const char follow_help[] =
    "Following the Job:\n"
    "      --schedule-timeout D give up on a pod the scheduler cannot place after D\n"
    "                           (exit 124; default 15m, time for a cluster autoscaler)\n"
    "      --retry-window D     keep retrying an unreachable or failing API server for\n"
    "                           D before giving up (exit 69; default 10m); the task\n"
    "                           goes on meanwhile\n";

/* run and cron trigger create the Job, so they may delete it too. */
static const char keep_failed_help[] =
    "      --keep-failed        keep the Job when its pod never ran (an image that\n"
    "                           does not pull, a missing Secret, admission refused);\n"
    "                           by default relrun deletes it so the task cannot run\n"
    "                           later unwatched\n";

static const char exit_help[] =
    "Exit codes: 0 ok; 1-63 the task's own code; 64 usage; 66 no such Job or\n"
    "CronJob; 69 API unreachable; 70 release failed to start; 73 already exists;\n"
    "75 killed from outside; 77 auth refused; 78 config error; 124 deadline passed;\n"
    "130/143 relrun itself interrupted (SIGINT/SIGTERM).\n";

static void help_text(enum relrun_cmd cmd, FILE *f)
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
                fputs(task_help2, f);
                fputs(follow_help, f);
                fputs(keep_failed_help, f);
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
                fputs(task_help2, f);
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
                fputs("usage: relrun wait JOB [--wait-timeout D]\n\n"
                      "Wait until JOB is Complete or Failed and exit with the task's code.\n\n"
                      "      --wait-timeout D     stop waiting after D (exit 124); the Job goes\n"
                      "                           on (its own deadline is run --timeout)\n"
                      "      --timeout D          the old name of --wait-timeout, still accepted\n",
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
                fputs("usage: relrun cancel JOB... [--cascade background|foreground]\n\n"
                      "Delete each JOB and its pods (the task gets SIGTERM and its grace\n"
                      "period). A JOB may be named as `relrun list -o name` prints it\n"
                      "(job.batch/NAME).\n\n"
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
                fputs(task_help2, f);
                fputs(follow_help, f);
                fputs(keep_failed_help, f);
                fputs(ci_help, f);
                fputs(global_help, f);
                break;
        case CMD_CONFIG:
                fputs("usage: relrun config view [-o json] [--context NAME]\n\n"
                      "Print the settings relrun would use here and where each comes from.\n"
                      "Precedence, highest first: a flag; the environment (RELRUN_IMAGE,\n"
                      "RELRUN_RELEASE, RELRUN_POD_IMAGE, RELRUN_APP_FORMAT, RELRUN_NAMESPACE,\n"
                      "RELRUN_CONTEXT); relrun.yaml in the current directory or the nearest\n"
                      "parent; $XDG_CONFIG_HOME/relrun/config.yaml (default ~/.config). In a\n"
                      "file the keys are long flag names (image: ..., env: [A=1] or {A: 1}),\n"
                      "and contexts: {NAME: {...}} applies only with that kubeconfig context.\n"
                      "A list flag takes its whole list from the highest source that sets it.\n"
                      "Errors in a file name it and the line (exit 78).\n",
                      f);
                fputs(global_help, f);
                break;
        case CMD_EVAL:
                fputs("usage: relrun eval JOB|POD EXPR\n\n"
                      "Run EXPR (Elixir) on the node of a running task and print what it\n"
                      "printed, then its value (inspect form); the task goes on. The exit code\n"
                      "follows the task contract: 0 a value, 1 a raise or a syntax error (the\n"
                      "exception on stderr), N for exit({:shutdown, N}). JOB means its running\n"
                      "pod. In the pod, the task container's own relrun-pod finds the task's\n"
                      "VM and connects to it over distribution: no second BEAM. Log lines of\n"
                      "EXPR go to the task's log, as the task's own do. The exec goes through\n"
                      "`kubectl exec` (Debian's libcurl has no WebSocket): kubectl must be on\n"
                      "PATH (or $RELRUN_KUBECTL) and may use pods/exec.\n\n"
                      "Other exit codes: 66 no such job or pod, or no task node in the pod yet\n"
                      "(the release not started) or any more; 69 the pod is not running, or\n"
                      "its node not reachable (still booting, stopping); 75 the node went down\n"
                      "during the eval; 78 kubectl missing, or the node refused the cookie.\n\n",
                      f);
                fputs(global_help, f);
                break;
        case CMD_REMOTE:
                fputs("usage: relrun remote JOB|POD\n\n"
                      "An interactive remote console on a running task's node: the release's\n"
                      "own remote console (`bin/app remote`: iex attached to the node, for mix;\n"
                      "`remote_console` for relx), the terminal passed through. Leaving the\n"
                      "console (Ctrl-G then q, or Ctrl-C then a) leaves the task running;\n"
                      "System.halt() typed in it would stop the task's node. Through\n"
                      "`kubectl exec -it`, as eval; exit codes as eval's.\n\n",
                      f);
                fputs(global_help, f);
                break;
        case CMD_COMPLETION:
                fputs("usage: relrun completion bash|zsh|fish\n\n"
                      "Print a shell completion script: subcommands, each one's flags, the\n"
                      "values of -o and of every flag that takes one of a fixed set of values.\n\n"
                      "  bash:  source <(relrun completion bash)\n"
                      "  zsh:   source <(relrun completion zsh)\n"
                      "  fish:  relrun completion fish | source\n"
                      "Job and CronJob names, contexts and namespaces come from the cluster\n"
                      "and the kubeconfig as you type. `kubectl relrun` completes through\n"
                      "kubectl_complete-relrun (installed beside kubectl-relrun).\n",
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
                      "  cancel JOB...   delete Jobs and their pods\n"
                      "  cron ...        scheduled tasks: create, render, list, trigger, suspend,\n"
                      "                  resume, delete\n"
                      "  eval JOB EXPR   run EXPR on a running task's node, print the result\n"
                      "  remote JOB      a remote console on a running task's node\n"
                      "  version         print the version\n"
                      "  completion SH   shell completion script (bash, zsh, fish)\n"
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

/* "kubectl relrun" when kubectl runs us as its plugin, else "relrun". */
static const char *prog = "relrun";

void opts_set_prog(const char *argv0)
{
        const char *base = argv0 ? strrchr(argv0, '/') : NULL;
        base = base ? base + 1 : argv0;
        if (base && !strcmp(base, "kubectl-relrun"))
                prog = "kubectl relrun";
}

const char *opts_prog(void)
{
        return prog;
}

/* text with each "relrun SUBCOMMAND" said as the user calls it. */
void opts_fputs(const char *text, FILE *f)
{
        static const char *const subs[] = {"run ", "render ", "logs ",       "wait ",
                                           "list", "cancel ", "version",     "cron ",
                                           "help", "COMMAND", "completion ", "[flags]"};
        const char *p = text;
        while (*p) {
                const char *r = strstr(p, "relrun ");
                if (!r) {
                        fputs(p, f);
                        return;
                }
                bool at_start = r == text || strchr(" (`\n", r[-1]);
                bool cmd = false;
                for (size_t i = 0; i < sizeof subs / sizeof *subs && at_start && !cmd; i++)
                        cmd = !strncmp(r + 7, subs[i], strlen(subs[i]));
                fwrite(p, 1, (size_t)(r - p), f);
                fputs(cmd ? prog : "relrun", f);
                fputc(' ', f);
                p = r + 7;
        }
}

void opts_help(enum relrun_cmd cmd, FILE *f)
{
        char *text = NULL;
        size_t n = 0;
        FILE *m = open_memstream(&text, &n);
        if (!m) {
                help_text(cmd, f);
                return;
        }
        help_text(cmd, m);
        if (fclose(m) != 0 || !text) {
                free(text);
                help_text(cmd, f);
                return;
        }
        opts_fputs(text, f);
        free(text);
}
