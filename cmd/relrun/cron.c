/* relrun cron: CronJobs for scheduled tasks — create, render, list, history,
 * trigger (one run now, followed like relrun run), suspend, resume, delete. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "relrun.h"

__attribute__((warn_unused_result)) static int cron_path(struct buf *b, const char *ns,
                                                         const char *name, struct err *e)
{
        int rc = buf_puts(b, "/apis/batch/v1/namespaces/");
        rc |= kube_query_escape(b, ns);
        rc |= buf_puts(b, "/cronjobs");
        if (name) {
                rc |= buf_putc(b, '/');
                rc |= kube_query_escape(b, name);
        }
        return url_check(rc, b, "cronjobs", e);
}

static const char *str_at(struct json_object *o, const char *a, const char *b, const char *c)
{
        struct json_object *v = o;
        const char *keys[] = {a, b, c};
        for (int i = 0; i < 3 && keys[i] && v; i++)
                if (!json_object_object_get_ex(v, keys[i], &v))
                        return NULL;
        return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* create / render: NAME EXPR (or --mfa) with the run flags. */
static int cron_create(const struct opts *o, bool post, struct err *e)
{
        if (o->n_pos < 2 || (o->n_pos < 3 && !o->mfa) || o->n_pos > 3)
                return err_set(e, ERR_USAGE, "cron %s: expected NAME and EXPR (or --mfa)",
                               o->pos[0]);
        struct opts eo = *o;
        eo.pos[0] = o->n_pos > 2 ? o->pos[2] : NULL;
        eo.n_pos = o->n_pos > 2 ? 1 : 0;
        const char *name = o->pos[1];
        char *expr = NULL, *text = NULL;
        struct json_object *cj = NULL;
        struct conn k = {0};
        struct buf p;
        buf_init(&p, 4096);
        int rc = -1;
        if (job_expr(&eo, &expr, e) < 0)
                goto out;
        if (!post) {
                if (job_cron_build(o, expr, o->namespace_, name, &cj, e) < 0 ||
                    job_format(cj, o->output ? o->output : "yaml", &text, e) < 0)
                        goto out;
                fputs(text, stdout);
                rc = 0;
                goto out;
        }
        if (conn_open(o, &k, e) < 0 || job_cron_build(o, expr, k.ns, name, &cj, e) < 0)
                goto out;
        if (cron_path(&p, k.ns, NULL, e) < 0)
                goto out;
        if (kube_request(k.c, "POST", buf_str(&p),
                         json_object_to_json_string_ext(cj, JSON_C_TO_STRING_PLAIN),
                         "create cronjobs", NULL, NULL, e) < 0) {
                if (strstr(e->msg, "already exists"))
                        err_prefix(e, "(relrun cron delete %s first)", name);
                goto out;
        }
        printf("cronjob.batch/%s created\n", name);
        rc = 0;
out:
        free(expr);
        free(text);
        json_object_put(cj);
        buf_fini(&p);
        conn_close(&k);
        return rc < 0 ? fail(e) : 0;
}

static int cron_list(const struct opts *o, struct err *e)
{
        struct conn k;
        if (conn_open(o, &k, e) < 0)
                return fail(e);
        struct buf p;
        buf_init(&p, 4096);
        struct json_object *list = NULL, *items;
        int rc = -1;
        if (cron_path(&p, k.ns, NULL, e) < 0 ||
            list_managed(o, &k, buf_str(&p), "list cronjobs", &list, &items, e) < 0)
                goto out;
        if (!items) {
                if (!o->output || (strcmp(o->output, "json") && strcmp(o->output, "yaml")))
                        fprintf(stderr, "No relrun cronjobs found in %s namespace.\n", k.ns);
                rc = 0;
                goto out;
        }
        printf("%-32s %-16s %-8s %-22s %s\n", "NAME", "SCHEDULE", "SUSPEND", "LAST SCHEDULE",
               "EXPRESSION");
        for (size_t i = 0; i < json_object_array_length(items); i++) {
                struct json_object *cj = json_object_array_get_idx(items, i), *v;
                const char *name = str_at(cj, "metadata", "name", NULL);
                const char *sched = str_at(cj, "spec", "schedule", NULL);
                const char *last = str_at(cj, "status", "lastScheduleTime", NULL);
                const char *expr = str_at(cj, "metadata", "annotations", "relrun.dev/expr");
                bool suspended = json_object_object_get_ex(cj, "spec", &v) &&
                                 json_object_object_get_ex(v, "suspend", &v) &&
                                 json_object_get_boolean(v);
                char ex[84];
                list_expr_cell(expr, ex, sizeof ex);
                printf("%-32s %-16s %-8s %-22s %s\n", name ? name : "", sched ? sched : "",
                       suspended ? "True" : "False", last ? last : "<none>", ex);
        }
        rc = 0;
out:
        json_object_put(list);
        buf_fini(&p);
        conn_close(&k);
        return rc < 0 ? fail(e) : 0;
}

static int cron_delete(const struct opts *o, struct err *e)
{
        if (o->n_pos != 2)
                return err_set(e, ERR_USAGE, "cron delete: expected NAME");
        struct conn k;
        if (conn_open(o, &k, e) < 0)
                return fail(e);
        const char *policy = !strcmp(o->cascade, "foreground") ? "Foreground" : "Background";
        struct buf p, body;
        buf_init(&p, 4096);
        buf_init(&body, 256);
        int rc = cron_path(&p, k.ns, o->pos[1], e);
        if (rc == 0)
                rc = url_check(buf_printf(&p, "?propagationPolicy=%s", policy) |
                                   buf_printf(&body,
                                              "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\","
                                              "\"propagationPolicy\":\"%s\"}",
                                              policy),
                               &p, "delete cronjob", e);
        if (rc == 0)
                rc = kube_request(k.c, "DELETE", buf_str(&p), buf_str(&body), "delete cronjob",
                                  NULL, NULL, e);
        if (rc == 0)
                printf("cronjob.batch/%s deleted\n", o->pos[1]);
        buf_fini(&p);
        buf_fini(&body);
        conn_close(&k);
        return rc < 0 ? fail(e) : 0;
}

static int cron_suspend(const struct opts *o, bool suspend, struct err *e)
{
        if (o->n_pos != 2)
                return err_set(e, ERR_USAGE, "cron %s: expected NAME", o->pos[0]);
        struct conn k;
        if (conn_open(o, &k, e) < 0)
                return fail(e);
        struct buf p;
        buf_init(&p, 4096);
        int rc = cron_path(&p, k.ns, o->pos[1], e);
        if (rc == 0)
                rc = kube_request(k.c, "PATCH", buf_str(&p),
                                  suspend ? "{\"spec\":{\"suspend\":true}}"
                                          : "{\"spec\":{\"suspend\":false}}",
                                  suspend ? "suspend cronjob" : "resume cronjob", NULL, NULL, e);
        if (rc == 0)
                printf("cronjob.batch/%s %s\n", o->pos[1], suspend ? "suspended" : "resumed");
        buf_fini(&p);
        conn_close(&k);
        return rc < 0 ? fail(e) : 0;
}

/* A Job from the CronJob's template, as `kubectl create job --from=cronjob/x`
 * makes it: owned by the CronJob, annotated as a manual run. */
static struct json_object *job_from(struct json_object *cj, const char *ns, struct err *e)
{
        struct json_object *spec, *tmpl, *tspec, *tmeta = NULL, *md;
        if (!json_object_object_get_ex(cj, "spec", &spec) ||
            !json_object_object_get_ex(spec, "jobTemplate", &tmpl) ||
            !json_object_object_get_ex(tmpl, "spec", &tspec) ||
            !json_object_object_get_ex(cj, "metadata", &md)) {
                err_set(e, ERR_UNAVAILABLE, "cronjob has no jobTemplate");
                return NULL;
        }
        json_object_object_get_ex(tmpl, "metadata", &tmeta);
        const char *name = str_at(cj, "metadata", "name", NULL);
        const char *uid = str_at(cj, "metadata", "uid", NULL);
        struct json_object *job = json_object_new_object();
        struct json_object *meta = json_object_new_object();
        char gen[300];
        snprintf(gen, sizeof gen, "%.40s-manual-", name ? name : "cron");
        json_object_object_add(job, "apiVersion", json_object_new_string("batch/v1"));
        json_object_object_add(job, "kind", json_object_new_string("Job"));
        json_object_object_add(meta, "generateName", json_object_new_string(gen));
        json_object_object_add(meta, "namespace", json_object_new_string(ns));
        struct json_object *src, *labels = NULL, *ann = NULL;
        if (tmeta && json_object_object_get_ex(tmeta, "labels", &src))
                json_object_deep_copy(src, &labels, NULL);
        if (!labels)
                labels = json_object_new_object();
        if (tmeta && json_object_object_get_ex(tmeta, "annotations", &src))
                json_object_deep_copy(src, &ann, NULL);
        if (!ann)
                ann = json_object_new_object();
        json_object_object_add(ann, "cronjob.kubernetes.io/instantiate",
                               json_object_new_string("manual"));
        json_object_object_add(meta, "labels", labels); /* meta owns them now */
        json_object_object_add(meta, "annotations", ann);
        if (name && uid) {
                struct json_object *refs = json_object_new_array();
                struct json_object *ref = json_object_new_object();
                json_object_object_add(ref, "apiVersion", json_object_new_string("batch/v1"));
                json_object_object_add(ref, "kind", json_object_new_string("CronJob"));
                json_object_object_add(ref, "name", json_object_new_string(name));
                json_object_object_add(ref, "uid", json_object_new_string(uid));
                json_object_object_add(ref, "controller", json_object_new_boolean(1));
                json_object_array_add(refs, ref);
                json_object_object_add(meta, "ownerReferences", refs);
        }
        json_object_object_add(job, "metadata", meta);
        struct json_object *copy = NULL;
        json_object_deep_copy(tspec, &copy, NULL);
        json_object_object_add(job, "spec", copy);
        return job;
}

/* Run expr instead of the template's: the task container's argument after
 * "--" (relrun-pod's EXPR) and the relrun.dev/expr annotation. */
static int override_expr(struct json_object *job, const char *expr, struct err *e)
{
        struct json_object *spec, *tmpl, *pspec, *ctrs, *md, *ann;
        if (!json_object_object_get_ex(job, "spec", &spec) ||
            !json_object_object_get_ex(spec, "template", &tmpl) ||
            !json_object_object_get_ex(tmpl, "spec", &pspec) ||
            !json_object_object_get_ex(pspec, "containers", &ctrs))
                return err_set(e, ERR_UNAVAILABLE, "cronjob's job template has no containers");
        for (size_t i = 0; i < json_object_array_length(ctrs); i++) {
                struct json_object *c = json_object_array_get_idx(ctrs, i), *nm, *args;
                if (!json_object_object_get_ex(c, "name", &nm) ||
                    strcmp(json_object_get_string(nm), "task") ||
                    !json_object_object_get_ex(c, "args", &args))
                        continue;
                size_t n = json_object_array_length(args);
                for (size_t j = 0; j + 1 < n; j++) {
                        if (strcmp(json_object_get_string(json_object_array_get_idx(args, j)),
                                   "--"))
                                continue;
                        /* args owns the new string; the old one is released */
                        json_object_array_put_idx(args, j + 1, json_object_new_string(expr));
                        if (json_object_object_get_ex(job, "metadata", &md) &&
                            json_object_object_get_ex(md, "annotations", &ann))
                                json_object_object_add(ann, "relrun.dev/expr",
                                                       json_object_new_string(expr));
                        return 0;
                }
        }
        return err_set(e, ERR_USAGE,
                       "cron trigger: the cronjob's task container has no relrun-pod "
                       "expression to replace (not made by relrun?)");
}

static int cron_trigger(const struct opts *o, struct err *e)
{
        if (o->n_pos < 2 || o->n_pos > 3)
                return err_set(e, ERR_USAGE, "cron trigger: expected NAME [EXPR]");
        char *expr = NULL;
        if (o->n_pos == 3 || o->mfa) {
                struct opts eo = *o;
                eo.pos[0] = o->n_pos > 2 ? o->pos[2] : NULL;
                eo.n_pos = o->n_pos > 2 ? 1 : 0;
                if (job_expr(&eo, &expr, e) < 0)
                        return fail(e);
        }
        struct conn k;
        if (conn_open(o, &k, e) < 0) {
                free(expr);
                return fail(e);
        }
        struct buf p;
        buf_init(&p, 4096);
        struct json_object *cj = NULL, *job = NULL;
        int rc = -1;
        if (cron_path(&p, k.ns, o->pos[1], e) < 0)
                goto out;
        if (kube_request(k.c, "GET", buf_str(&p), NULL, "get cronjob", &cj, NULL, e) < 0)
                goto out;
        if (!(job = job_from(cj, k.ns, e)))
                goto out;
        const char *items;
        size_t n;
        bool indexed = each_job(job, &items, &n);
        if (expr && indexed) {
                err_set(e, ERR_USAGE,
                        "cron trigger: cronjob \"%s\" runs one expression per item (--each): "
                        "trigger it without EXPR",
                        o->pos[1]);
                goto out;
        }
        if (expr && override_expr(job, expr, e) < 0)
                goto out;
        struct opts ro = *o;
        ro.boot_retries = 0;
        struct json_object *v;
        /* The template's boot-retry budget decides whether a 70 is final
         * (an Indexed Job's, per index). */
        if (json_object_object_get_ex(job, "spec", &v) &&
            json_object_object_get_ex(v, indexed ? "backoffLimitPerIndex" : "backoffLimit", &v))
                ro.boot_retries = json_object_get_int(v);
        rc = run_job(&ro, &k, job, e);
out:
        free(expr);
        json_object_put(cj);
        json_object_put(job);
        buf_fini(&p);
        conn_close(&k);
        return rc < 0 ? fail(e) : rc;
}

/* ---- history ------------------------------------------------------------ */

/* One run of a CronJob, as its Job and newest pod tell it. */
struct run_row {
        const char *job, *status, *created;
        char started[32];
        long duration_ms; /* -1 unknown */
        int exit_code;    /* -1 unknown (still running, or nothing says) */
        char ret[4100];
};

static bool owned_by(struct json_object *job, const char *name, const char *uid)
{
        struct json_object *md, *refs;
        if (!json_object_object_get_ex(job, "metadata", &md) ||
            !json_object_object_get_ex(md, "ownerReferences", &refs))
                return false;
        for (size_t i = 0; i < json_object_array_length(refs); i++) {
                struct json_object *r = json_object_array_get_idx(refs, i);
                const char *kind = str_at(r, "kind", NULL, NULL);
                const char *n = str_at(r, "name", NULL, NULL);
                const char *u = str_at(r, "uid", NULL, NULL);
                if (kind && n && !strcmp(kind, "CronJob") && !strcmp(n, name) &&
                    (!uid || !u || !strcmp(u, uid)))
                        return true;
        }
        return false;
}

/* The task container's terminated state of the newest pod of job in pods. */
static struct json_object *task_terminated(struct json_object *pods, const char *job)
{
        struct json_object *best = NULL;
        const char *best_at = "";
        for (size_t i = 0; pods && i < json_object_array_length(pods); i++) {
                struct json_object *pod = json_object_array_get_idx(pods, i), *md, *lb, *v;
                if (!json_object_object_get_ex(pod, "metadata", &md) ||
                    !json_object_object_get_ex(md, "labels", &lb) ||
                    !json_object_object_get_ex(lb, "batch.kubernetes.io/job-name", &v) ||
                    strcmp(json_object_get_string(v), job))
                        continue;
                const char *at = str_at(pod, "metadata", "creationTimestamp", NULL);
                if (!at)
                        at = "";
                if (best && strcmp(at, best_at) < 0)
                        continue;
                struct json_object *st, *cs;
                if (!json_object_object_get_ex(pod, "status", &st) ||
                    !json_object_object_get_ex(st, "containerStatuses", &cs))
                        continue;
                for (size_t j = 0; j < json_object_array_length(cs); j++) {
                        struct json_object *c = json_object_array_get_idx(cs, j), *t;
                        const char *cn = str_at(c, "name", NULL, NULL);
                        if (cn && !strcmp(cn, "task") &&
                            json_object_object_get_ex(c, "state", &t) &&
                            json_object_object_get_ex(t, "terminated", &t)) {
                                best = t;
                                best_at = at;
                        }
                }
        }
        return best;
}

static long ts_diff_ms(const char *from, const char *to)
{
        struct kube_ts a, b;
        if (!from || !to || kube_ts_parse(from, strlen(from), &a) < 0 ||
            kube_ts_parse(to, strlen(to), &b) < 0)
                return -1;
        return (long)((b.sec - a.sec) * 1000 + ((long)b.nsec - (long)a.nsec) / 1000000);
}

static void run_row_read(struct json_object *job, struct json_object *pods, struct run_row *r)
{
        memset(r, 0, sizeof *r);
        r->job = str_at(job, "metadata", "name", NULL);
        r->created = str_at(job, "metadata", "creationTimestamp", NULL);
        r->status = job_status(job);
        const char *start = str_at(job, "status", "startTime", NULL);
        snprintf(r->started, sizeof r->started, "%s", start ? start : "<none>");
        r->duration_ms = ts_diff_ms(start, str_at(job, "status", "completionTime", NULL));
        r->exit_code = !strcmp(r->status, "Complete") ? 0 : -1;
        struct json_object *t = task_terminated(pods, r->job ? r->job : ""), *v;
        if (t) {
                if (json_object_object_get_ex(t, "exitCode", &v))
                        r->exit_code = json_object_get_int(v);
                const char *msg = str_at(t, "message", NULL, NULL);
                struct json_object *m = msg && msg[0] == '{' ? json_tokener_parse(msg) : NULL;
                if (m) {
                        const char *ret = str_at(m, "return", NULL, NULL);
                        snprintf(r->ret, sizeof r->ret, "%s", ret ? ret : "");
                        if (json_object_object_get_ex(m, "duration_ms", &v))
                                r->duration_ms = (long)json_object_get_int64(v);
                        json_object_put(m);
                }
        } else if (!strcmp(r->status, "Failed")) {
                /* its pods are gone: a PodFailurePolicy verdict names the code */
                struct json_object *st, *conds;
                if (json_object_object_get_ex(job, "status", &st) &&
                    json_object_object_get_ex(st, "conditions", &conds))
                        for (size_t i = 0; i < json_object_array_length(conds); i++) {
                                const char *m = str_at(json_object_array_get_idx(conds, i),
                                                       "message", NULL, NULL);
                                const char *at = m ? strstr(m, "with exit code ") : NULL;
                                if (at)
                                        r->exit_code = atoi(at + strlen("with exit code "));
                        }
        }
}

static int row_cmp(const void *a, const void *b)
{
        const struct run_row *x = a, *y = b;
        int c = strcmp(x->created ? x->created : "", y->created ? y->created : "");
        return c ? c : strcmp(x->job ? x->job : "", y->job ? y->job : "");
}

static void print_history(const struct run_row *rows, size_t n, bool json)
{
        if (json) {
                struct json_object *a = json_object_new_array();
                for (size_t i = 0; i < n; i++) {
                        const struct run_row *r = &rows[i];
                        struct json_object *o = json_object_new_object();
                        json_object_object_add(o, "job", json_object_new_string(r->job));
                        json_object_object_add(o, "status", json_object_new_string(r->status));
                        json_object_object_add(o, "started",
                                               strcmp(r->started, "<none>")
                                                   ? json_object_new_string(r->started)
                                                   : NULL);
                        json_object_object_add(
                            o, "duration_ms",
                            r->duration_ms >= 0 ? json_object_new_int64(r->duration_ms) : NULL);
                        json_object_object_add(o, "exit_code",
                                               r->exit_code >= 0 ? json_object_new_int(r->exit_code)
                                                                 : NULL);
                        json_object_object_add(o, "return",
                                               r->ret[0] ? json_object_new_string(r->ret) : NULL);
                        json_object_array_add(a, o); /* a owns o */
                }
                puts(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(a);
                return;
        }
        printf("%-40s %-22s %-10s %-9s %-4s %s\n", "JOB", "STARTED", "DURATION", "STATUS", "EXIT",
               "RESULT");
        for (size_t i = 0; i < n; i++) {
                const struct run_row *r = &rows[i];
                char dur[24] = "-", code[16] = "-", ret[84];
                if (r->duration_ms >= 0)
                        snprintf(dur, sizeof dur, "%.1fs", r->duration_ms / 1000.0);
                if (r->exit_code >= 0)
                        snprintf(code, sizeof code, "%d", r->exit_code);
                list_expr_cell(r->ret[0] ? r->ret : "-", ret, sizeof ret);
                printf("%-40s %-22s %-10s %-9s %-4s %s\n", r->job, r->started, dur, r->status, code,
                       ret);
        }
}

/* history NAME: the runs of a CronJob still in the cluster (its Jobs, as the
 * history limits and TTL keep them), oldest first. */
static int cron_history(const struct opts *o, struct err *e)
{
        if (o->n_pos != 2)
                return err_set(e, ERR_USAGE, "cron history: expected NAME");
        if (o->output && strcmp(o->output, "json"))
                return err_set(e, ERR_USAGE, "cron history: -o \"%s\": only json is supported",
                               o->output);
        const char *name = o->pos[1];
        struct conn k;
        if (conn_open(o, &k, e) < 0)
                return fail(e);
        struct buf p;
        buf_init(&p, 4096);
        struct json_object *cj = NULL, *jobs = NULL, *pods = NULL, *items, *pitems = NULL;
        struct run_row *rows = NULL;
        size_t n = 0;
        int rc = -1;
        if (cron_path(&p, k.ns, name, e) < 0 ||
            kube_request(k.c, "GET", buf_str(&p), NULL, "get cronjob", &cj, NULL, e) < 0)
                goto out;
        const char *uid = str_at(cj, "metadata", "uid", NULL);
        buf_reset(&p);
        if (jobs_path(&p, k.ns, e) < 0)
                goto out;
        struct opts lo = *o;
        lo.output = NULL; /* the lists are read here, not printed */
        if (list_managed(&lo, &k, buf_str(&p), "list jobs", &jobs, &items, e) < 0)
                goto out;
        buf_reset(&p);
        if (url_check(buf_puts(&p, "/api/v1/namespaces/") | kube_query_escape(&p, k.ns) |
                          buf_puts(&p, "/pods"),
                      &p, "list pods", e) < 0)
                goto out;
        if (items && list_managed(&lo, &k, buf_str(&p), "list pods", &pods, &pitems, e) < 0)
                goto out;
        size_t total = items ? json_object_array_length(items) : 0;
        rows = calloc(total ? total : 1, sizeof *rows);
        if (!rows) {
                err_set(e, ERR_SOFTWARE, "out of memory");
                goto out;
        }
        for (size_t i = 0; i < total; i++) {
                struct json_object *job = json_object_array_get_idx(items, i);
                if (owned_by(job, name, uid))
                        run_row_read(job, pitems, &rows[n++]);
        }
        qsort(rows, n, sizeof *rows, row_cmp);
        if (n == 0 && !o->output)
                fprintf(stderr, "No runs of cronjob.batch/%s in %s namespace.\n", name, k.ns);
        else
                print_history(rows, n, o->output != NULL);
        rc = 0;
out:
        free(rows);
        json_object_put(cj);
        json_object_put(jobs);
        json_object_put(pods);
        buf_fini(&p);
        conn_close(&k);
        return rc < 0 ? fail(e) : 0;
}

static int cron_dispatch(const struct opts *o, struct err *e)
{
        const char *a = o->pos[0];
        if (!strcmp(a, "create"))
                return cron_create(o, true, e);
        if (!strcmp(a, "render"))
                return cron_create(o, false, e);
        if (!strcmp(a, "list")) {
                if (o->n_pos != 1)
                        return err_set(e, ERR_USAGE, "cron list: takes no arguments");
                return cron_list(o, e);
        }
        if (!strcmp(a, "delete"))
                return cron_delete(o, e);
        if (!strcmp(a, "trigger"))
                return cron_trigger(o, e);
        if (!strcmp(a, "history"))
                return cron_history(o, e);
        if (!strcmp(a, "suspend") || !strcmp(a, "resume"))
                return cron_suspend(o, !strcmp(a, "suspend"), e);
        return err_set(e, ERR_USAGE,
                       "cron: unknown action \"%s\" (create, render, list, history, trigger, "
                       "suspend, resume, delete)",
                       a);
}

int cmd_cron(const struct opts *o, struct err *e)
{
        int rc = cron_dispatch(o, e);
        return rc < 0 ? fail(e) : rc;
}
