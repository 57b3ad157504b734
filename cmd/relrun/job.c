/* relrun: the Job of a run — options to pkg/manifest, the expression from
 * EXPR or --mfa/--args (pkg/expr). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"
#include "manifest.h"
#include "relrun.h"

int job_expr(const struct opts *o, char **out, struct err *e)
{
        enum expr_lang lang =
            o->lang && !strcmp(o->lang, "erlang") ? EXPR_LANG_ERLANG : EXPR_LANG_ELIXIR;
        if (o->mfa) {
                if (o->n_pos)
                        return err_set(e, ERR_USAGE, "give either EXPR or --mfa/--args, not both");
                return expr_from_mfa_lang(o->mfa, o->args, lang, out, e);
        }
        if (o->args)
                return err_set(e, ERR_USAGE, "--args needs --mfa Module.function");
        if (!o->n_pos)
                return err_set(e, ERR_USAGE,
                               "%s: no expression given (relrun %s [flags] EXPR, or --mfa M.f "
                               "--args JSON)",
                               opts_cmd_name(o->cmd), opts_cmd_name(o->cmd));
        if (expr_check_lang(o->pos[0], lang, e) < 0) {
                /* Erlang text read as Elixir: #{...} looks like a comment there */
                struct err ee;
                if (!o->lang && expr_check_lang(o->pos[0], EXPR_LANG_ERLANG, &ee) == 0) {
                        char msg[ERR_MSG_MAX];
                        snprintf(msg, sizeof msg, "%s", e->msg);
                        return err_set(e, ERR_USAGE,
                                       "%.900s (read as Elixir; as Erlang it is balanced: "
                                       "add --lang erlang)",
                                       msg);
                }
                return -1;
        }
        char *s = strdup(o->pos[0]);
        if (!s)
                return err_set(e, ERR_SOFTWARE, "out of memory");
        *out = s;
        return 0;
}

static long secs(int64_t ms)
{
        return ms <= 0 ? 0 : (long)((ms + 999) / 1000);
}

static int job_opts(const struct opts *o, const char *expr, const char *namespace_,
                    struct manifest_job_opts *m, struct err *e)
{
        if (!o->image)
                return err_set(e, ERR_USAGE, "%s: --image is required (or set RELRUN_IMAGE)",
                               opts_cmd_name(o->cmd));
        if (!o->release)
                return err_set(e, ERR_USAGE,
                               "%s: --release is required, e.g. --release /app/bin/my_app (or set "
                               "RELRUN_RELEASE)",
                               opts_cmd_name(o->cmd));
        manifest_job_opts_init(m);
        m->image = o->image;
        m->release = o->release;
        m->expr = expr;
        m->namespace_ = namespace_;
        m->env = o->n_env ? o->env : NULL;
        m->env_from_secrets = o->n_env_from_secret ? o->env_from_secret : NULL;
        m->cookie_secret = o->cookie_secret;
        m->cpu = o->cpu;
        m->memory = o->memory;
        m->cpu_limit = o->cpu_limit;
        m->memory_limit = o->memory_limit;
        m->service_account = o->service_account;
        m->image_pull_secrets = o->n_image_pull_secret ? o->image_pull_secret : NULL;
        m->node_selector = o->n_node_selector ? o->node_selector : NULL;
        m->tolerations = o->n_toleration ? o->toleration : NULL;
        m->labels = o->n_label ? o->label : NULL;
        m->annotations = o->n_annotation ? o->annotation : NULL;
        m->pull_policy = o->pull_policy;
        m->priority_class = o->priority_class;
        m->run_as_user = (long)o->run_as_user;
        m->overrides = o->overrides;
        m->override_type = o->override_type;
        m->active_deadline_seconds = secs(o->timeout_ms);
        m->backoff_limit = (int)o->backoff_limit;
        m->boot_retries = (int)o->boot_retries;
        m->ttl_seconds = o->ttl_ms < 0 ? -1 : (long)(o->ttl_ms / 1000);
        m->inject = !strcmp(o->inject, "none") ? MANIFEST_INJECT_NONE : MANIFEST_INJECT_INIT;
        m->pod_image = o->pod_image;
        m->log_format = o->log_format;
        m->app_format = o->app_format;
        m->ready_expr = o->ready_expr;
        m->on_term = o->on_term;
        m->parallelism = (int)o->parallelism;
        m->ready_timeout_seconds = secs(o->ready_timeout_ms);
        m->grace_seconds = secs(o->grace_ms);
        m->rpc = o->rpc;
        m->lang = o->lang;
        m->error_exit = (int)o->error_exit;
        return 0;
}

/* --each: one expression per item into m (*each holds them: expr_each_free). */
static int job_each(const struct opts *o, const char *expr, struct manifest_job_opts *m,
                    char ***each, size_t *n, struct err *e)
{
        if (!o->each)
                return o->parallelism ? err_set(e, ERR_USAGE, "--parallelism: only with --each")
                                      : 0;
        enum expr_lang lang =
            o->lang && !strcmp(o->lang, "erlang") ? EXPR_LANG_ERLANG : EXPR_LANG_ELIXIR;
        if (expr_each_lang(expr, o->each, lang, each, n, e) < 0)
                return -1;
        m->each = (const char *const *)*each;
        m->each_n = *n;
        m->each_items = o->each;
        return 0;
}

int job_build(const struct opts *o, const char *expr, const char *namespace_,
              struct json_object **out, struct err *e)
{
        struct manifest_job_opts m;
        if (job_opts(o, expr, namespace_, &m, e) < 0)
                return -1;
        /* Finished one-off Jobs do not pile up: gone a day after they end
         * unless --ttl says otherwise (a CronJob's history limits do that job
         * for its Jobs). */
        if (o->ttl_ms == OPTS_TTL_UNSET)
                m.ttl_seconds = RELRUN_DEFAULT_TTL_S;
        char **each = NULL;
        size_t n = 0;
        if (job_each(o, expr, &m, &each, &n, e) < 0)
                return -1;
        int rc = manifest_job_new(&m, out, e);
        expr_each_free(each, n);
        return rc;
}

int job_cron_build(const struct opts *o, const char *expr, const char *namespace_, const char *name,
                   struct json_object **out, struct err *e)
{
        struct manifest_job_opts m;
        struct manifest_cron_opts c;
        if (!o->schedule)
                return err_set(e, ERR_USAGE,
                               "cron: --schedule is required, e.g. "
                               "--schedule '0 3 * * *'");
        if (job_opts(o, expr, namespace_, &m, e) < 0)
                return -1;
        manifest_cron_opts_init(&c);
        c.name = name;
        c.schedule = o->schedule;
        c.time_zone = o->time_zone;
        c.concurrency_policy = o->concurrency_policy;
        c.starting_deadline_seconds =
            o->starting_deadline_ms < 0 ? -1 : (long)(o->starting_deadline_ms / 1000);
        c.successful_jobs_history = (int)o->successful_history;
        c.failed_jobs_history = (int)o->failed_history;
        c.suspend = o->suspend;
        char **each = NULL;
        size_t n = 0;
        if (job_each(o, expr, &m, &each, &n, e) < 0)
                return -1;
        int rc = manifest_cronjob_new(&m, &c, out, e);
        expr_each_free(each, n);
        return rc;
}

int job_format(struct json_object *obj, const char *format, char **out, struct err *e)
{
        struct buf b;
        buf_init(&b, 64u << 20);
        int rc = format && !strcmp(format, "json") ? manifest_to_json(obj, true, &b, e)
                                                   : manifest_to_yaml(obj, &b, e);
        if (rc < 0) {
                buf_fini(&b);
                return -1;
        }
        *out = buf_detach(&b);
        return 0;
}
