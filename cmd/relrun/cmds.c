/* relrun: the subcommands. Each returns the process exit code and leaves a
 * message in e when relrun itself failed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "classify.h"
#include "relrun.h"

/* A 401 mid-task (an exec plugin's short-lived token expired during an
 * hours-long follow): resolve the kubeconfig again for a fresh token. */
static int refresh_token(void *ud, char **token)
{
        struct conn *k = ud;
        struct kubeconfig_rest *r = NULL;
        struct err e;
        if (kubeconfig_load(&k->ko, &r, &e) < 0)
                return -1;
        char *t = r->token ? strdup(r->token) : NULL;
        kubeconfig_rest_free(r);
        if (!t)
                return -1;
        *token = t;
        return 0;
}

/* k must stay where it is while the client lives (the refresh hook). */
int conn_open(const struct opts *o, struct conn *k, struct err *e)
{
        memset(k, 0, sizeof *k);
        k->ko.kubeconfig = o->kubeconfig;
        k->ko.context = o->context;
        k->ko.namespace_ = o->namespace_;
        if (kubeconfig_load(&k->ko, &k->rest, e) < 0)
                return -1;
        struct kube_client_opts co = {0};
        /* --request-timeout bounds a whole request, its retries included (kubectl
         * has no retries, so there it is the same thing). */
        if (o->request_timeout_ms > 0)
                co.request_timeout_ms = co.retry_budget_ms = (long)o->request_timeout_ms;
        else if (o->request_timeout_ms == 0)
                co.request_timeout_ms = co.retry_budget_ms = 24L * 3600 * 1000;
        co.stream_window_ms = (long)o->retry_window_ms;
        if (kube_client_new(k->rest, &co, &k->c, e) < 0) {
                kubeconfig_rest_free(k->rest);
                k->rest = NULL;
                return -1;
        }
        kube_client_set_refresh(k->c, refresh_token, k);
        /* Ctrl-C and SIGTERM end requests, retries and backoff pauses at once. */
        kube_client_set_interrupt(k->c, &relrun_interrupted);
        k->ns = k->rest->namespace_ && k->rest->namespace_[0] ? k->rest->namespace_ : "default";
        return 0;
}

void conn_close(struct conn *k)
{
        kube_client_free(k->c);
        kubeconfig_rest_free(k->rest);
}

int fail(struct err *e)
{
        return e->code ? e->code : ERR_SOFTWARE;
}

/* Escape sequences on fd: a terminal that takes them, and the user did not
 * say NO_COLOR (the pending-phase line is drawn with them too). */
static bool fancy(int fd)
{
        const char *term = getenv("TERM");
        return isatty(fd) && !getenv("NO_COLOR") && !(term && !strcmp(term, "dumb"));
}

static void follow_defaults(const struct opts *o, const struct conn *k, const char *job,
                            struct follow_opts *fo)
{
        memset(fo, 0, sizeof *fo);
        fo->namespace_ = k->ns;
        fo->job = job;
        fo->tty = fancy(STDERR_FILENO);
        fo->color = fo->tty;
        fo->render.json = o->output && !strcmp(o->output, "json");
        fo->render.color = !fo->render.json && fancy(STDOUT_FILENO);
        fo->boot_retries = o->boot_retries;
        fo->schedule_timeout_ms = o->schedule_timeout_ms;
        fo->keep_failed = o->keep_failed;
        fo->sum = o->sum;
}

int list_managed(const struct opts *o, struct conn *k, const char *path, const char *what,
                 struct json_object **list, struct json_object **items, struct err *e)
{
        struct buf p;
        buf_init(&p, 4096);
        int r = buf_puts(&p, path);
        r |= buf_puts(&p, "?labelSelector=");
        r |= kube_query_escape(&p, "app.kubernetes.io/managed-by=relrun");
        *items = NULL;
        if (url_check(r, &p, what, e) == 0)
                r = kube_request(k->c, "GET", buf_str(&p), NULL, what, list, NULL, e);
        buf_fini(&p);
        if (r < 0)
                return -1;
        if (o->output && (!strcmp(o->output, "json") || !strcmp(o->output, "yaml"))) {
                char *text = NULL;
                if (job_format(*list, o->output, &text, e) < 0)
                        return -1;
                fputs(text, stdout);
                free(text);
                return 0;
        }
        struct json_object *it;
        if (*list && json_object_object_get_ex(*list, "items", &it) && json_object_array_length(it))
                *items = it;
        return 0;
}

void list_expr_cell(const char *expr, char *out, size_t n)
{
        size_t i = 0, max = n - 4;
        const char *s = expr ? expr : "";
        for (; *s && i < max; s++)
                out[i++] = (*s == '\n' || *s == '\t' || *s == '\r') ? ' ' : *s;
        if (*s)
                memcpy(out + i, "...", 3), i += 3;
        out[i] = '\0';
}

int url_check(int rc, const struct buf *b, const char *what, struct err *e)
{
        if (!rc)
                return 0;
        /* Never send a cut URL: it would name another object. */
        return err_set(e, ERR_USAGE, "%s: the request URL would be longer than %zu bytes", what,
                       b->max);
}

int jobs_path(struct buf *b, const char *ns, struct err *e)
{
        int rc = buf_puts(b, "/apis/batch/v1/namespaces/");
        rc |= kube_query_escape(b, ns);
        rc |= buf_puts(b, "/jobs");
        return url_check(rc, b, "jobs", e);
}

/* ---- run / render ------------------------------------------------------ */

int cmd_render(const struct opts *o, struct err *e)
{
        char *expr = NULL, *text = NULL;
        struct json_object *job = NULL;
        int rc = -1;
        if (o->output && strcmp(o->output, "yaml") && strcmp(o->output, "json")) {
                err_set(e, ERR_USAGE, "render: -o \"%s\": expected yaml or json", o->output);
                goto out;
        }
        if (job_expr(o, &expr, e) < 0 || job_build(o, expr, o->namespace_, &job, e) < 0 ||
            job_format(job, o->output ? o->output : "yaml", &text, e) < 0)
                goto out;
        fputs(text, stdout);
        rc = 0;
out:
        free(expr);
        free(text);
        json_object_put(job);
        return rc < 0 ? fail(e) : 0;
}

#define RUN_ID_LABEL "relrun.dev/run-id"

/* Label the Job with an id unique to this invocation, so that a create
 * retried after a lost answer finds the Job instead of making a second. */
static int tag_run(struct json_object *job, char id[17], struct err *e)
{
        unsigned char r[8];
        FILE *f = fopen("/dev/urandom", "rb");
        if (!f || fread(r, 1, sizeof r, f) != sizeof r) {
                if (f)
                        fclose(f);
                return err_sys(e, ERR_SOFTWARE, "read /dev/urandom");
        }
        fclose(f);
        for (int i = 0; i < 8; i++)
                snprintf(id + 2 * i, 3, "%02x", r[i]);
        struct json_object *md, *labels;
        if (!json_object_object_get_ex(job, "metadata", &md))
                return err_set(e, ERR_SOFTWARE, "job manifest without metadata");
        if (!json_object_object_get_ex(md, "labels", &labels)) {
                labels = json_object_new_object();
                json_object_object_add(md, "labels", labels); /* md owns it now */
        }
        json_object_object_add(labels, RUN_ID_LABEL, json_object_new_string(id));
        return 0;
}

/* Create the Job (labelled with a run id, so a retried create finds it) and
 * follow it, or print its name with --detach. Returns the exit code. */
int run_job(const struct opts *o, struct conn *k, struct json_object *job, struct err *e)
{
        struct json_object *created = NULL;
        struct buf path, recheck;
        buf_init(&path, 4096);
        buf_init(&recheck, 4096);
        int rc = -1;
        char run_id[17];
        if (tag_run(job, run_id, e) < 0)
                goto out;
        if (jobs_path(&path, k->ns, e) < 0 || jobs_path(&recheck, k->ns, e) < 0 ||
            url_check(buf_printf(&recheck, "?labelSelector=" RUN_ID_LABEL "%%3D%s", run_id),
                      &recheck, "create jobs", e) < 0)
                goto out;
        if (kube_create(k->c, buf_str(&path),
                        json_object_to_json_string_ext(job, JSON_C_TO_STRING_PLAIN),
                        buf_str(&recheck), "create jobs", &created, e) < 0)
                goto out;
        struct json_object *md, *nm;
        if (!created || !json_object_object_get_ex(created, "metadata", &md) ||
            !json_object_object_get_ex(md, "name", &nm)) {
                err_set(e, ERR_UNAVAILABLE, "create jobs: the API returned no job name");
                goto out;
        }
        const char *name = json_object_get_string(nm);
        if (o->sum) {
                const char *expr = classify_annotation(job, "relrun.dev/expr");
                if (!o->sum->expr && expr)
                        o->sum->expr = strdup(expr);
                snprintf(o->sum->job, sizeof o->sum->job, "%s", name);
                snprintf(o->sum->namespace_, sizeof o->sum->namespace_, "%s", k->ns);
        }
        if (o->detach) {
                printf("%s\n", name);
                if (o->sum) {
                        o->sum->set = true;
                        o->sum->phase = "created";
                        snprintf(o->sum->line, sizeof o->sum->line, "job/%s created", name);
                }
                rc = 0;
                goto out;
        }
        fprintf(stderr, "relrun: job/%s created in namespace %s\n", name, k->ns);
        struct follow_opts fo;
        follow_defaults(o, k, name, &fo);
        fo.logs = true;
        fo.summary = true;
        fo.owns_job = true;
        const char *items;
        size_t n;
        /* an Indexed Job (run --each, cron trigger of one): every index */
        rc = each_job(job, &items, &n) ? each_follow(k->c, &fo, items, n, e)
                                       : follow_job(k->c, &fo, e);
        char named[300];
        snprintf(named, sizeof named, "job/%s", name);
        if (e->msg[0] && !strstr(e->msg, named))
                err_prefix(e, "%s", named);
        else if (!e->msg[0])
                err_clear(e);
out:
        json_object_put(created);
        buf_fini(&path);
        buf_fini(&recheck);
        return rc < 0 ? fail(e) : rc;
}

int cmd_run(const struct opts *o, struct err *e)
{
        char *expr = NULL;
        struct json_object *job = NULL;
        struct conn k = {0};
        int rc = -1;
        if (o->output && strcmp(o->output, "json") && strcmp(o->output, "text")) {
                err_set(e, ERR_USAGE, "run: -o \"%s\": expected json or text", o->output);
                goto out;
        }
        if (job_expr(o, &expr, e) < 0)
                goto out;
        /* --each: the items and $item are checked before any connection */
        if (o->each && job_build(o, expr, NULL, &job, e) < 0)
                goto out;
        json_object_put(job);
        job = NULL;
        if (conn_open(o, &k, e) < 0 || job_build(o, expr, k.ns, &job, e) < 0)
                goto out;
        rc = run_job(o, &k, job, e);
out:
        free(expr);
        json_object_put(job);
        conn_close(&k);
        return rc < 0 ? fail(e) : rc;
}

/* ---- logs / wait ------------------------------------------------------- */

static int print_log(void *ud, const struct kube_ts *ts, const char *line, size_t len)
{
        render_line(ud, ts, line, len, stdout);
        return 0;
}

/* The newest pod of a Job. */
static int newest_pod(struct conn *k, const char *job, char *name, size_t n, struct err *e)
{
        struct buf p;
        buf_init(&p, 4096);
        int rc = buf_puts(&p, "/api/v1/namespaces/");
        rc |= kube_query_escape(&p, k->ns);
        rc |= buf_puts(&p, "/pods?labelSelector=");
        struct buf sel;
        buf_init(&sel, 1024);
        rc |= buf_printf(&sel, "batch.kubernetes.io/job-name=%s", job);
        rc |= kube_query_escape(&p, buf_str(&sel));
        buf_fini(&sel);
        struct json_object *list = NULL, *items;
        if (url_check(rc, &p, "list pods", e) == 0)
                rc = kube_request(k->c, "GET", buf_str(&p), NULL, "list pods", &list, NULL, e);
        buf_fini(&p);
        if (rc < 0)
                return -1;
        const char *best = NULL;
        struct kube_ts best_ts = {0, 0};
        if (list && json_object_object_get_ex(list, "items", &items)) {
                for (size_t i = 0; i < json_object_array_length(items); i++) {
                        struct json_object *it = json_object_array_get_idx(items, i), *md, *v;
                        if (!json_object_object_get_ex(it, "metadata", &md) ||
                            !json_object_object_get_ex(md, "name", &v))
                                continue;
                        const char *nm = json_object_get_string(v);
                        struct kube_ts ts = {0, 0};
                        if (json_object_object_get_ex(md, "creationTimestamp", &v))
                                kube_ts_parse(json_object_get_string(v),
                                              (size_t)json_object_get_string_len(v), &ts);
                        if (!best || kube_ts_cmp(&ts, &best_ts) > 0) {
                                best = nm;
                                best_ts = ts;
                        }
                }
        }
        if (best)
                snprintf(name, n, "%s", best);
        json_object_put(list);
        if (!best)
                return err_set(e, ERR_NOTFOUND,
                               "logs: no pods found for job \"%s\" in namespace %s", job, k->ns);
        return 0;
}

/* GET the Job; *obj (may be NULL) gets it, the caller puts it. */
static int job_get(struct conn *k, const char *job, const char *what, struct json_object **obj,
                   struct err *e)
{
        struct buf p;
        buf_init(&p, 4096);
        int rc = jobs_path(&p, k->ns, e);
        if (rc == 0)
                rc = url_check(buf_putc(&p, '/') | kube_query_escape(&p, job), &p, what, e);
        if (rc == 0)
                rc = kube_request(k->c, "GET", buf_str(&p), NULL, what, obj, NULL, e);
        buf_fini(&p);
        return rc;
}

/* Follow job with fo: every index of an Indexed Job, else its pod. */
static int follow_any(struct conn *k, struct json_object *job, const struct follow_opts *fo,
                      struct err *e)
{
        const char *items;
        size_t n;
        if (job && each_job(job, &items, &n))
                return each_follow(k->c, fo, items, n, e);
        return follow_job(k->c, fo, e);
}

int cmd_logs(const struct opts *o, struct err *e)
{
        struct conn k;
        const char *job = o->pos[0];
        if (conn_open(o, &k, e) < 0)
                return fail(e);
        int rc = -1;
        struct follow_opts fo;
        struct json_object *jobj = NULL;
        follow_defaults(o, &k, job, &fo);
        if (job_get(&k, job, "get job", &jobj, e) < 0)
                goto out;
        if (o->follow) {
                fo.logs = true;
                fo.tty = false;
                /* The task's code, as run and wait give it. */
                rc = follow_any(&k, jobj, &fo, e);
                goto out;
        }
        char pod[256];
        if (newest_pod(&k, job, pod, sizeof pod, e) < 0)
                goto out;
        struct kube_logs *l;
        if (kube_logs_new(k.c, k.ns, pod, "task", false, print_log, &fo.render, &l, e) < 0)
                goto out;
        struct err le;
        err_clear(&le);
        while (!kube_logs_done(l, &le) && !relrun_interrupted)
                if (kube_client_poll(k.c, 250, e) < 0)
                        break;
                else
                        render_flush(stdout);
        render_flush(stdout);
        kube_logs_free(l);
        if (le.code) {
                *e = le;
                goto out;
        }
        rc = 0;
out:
        json_object_put(jobj);
        conn_close(&k);
        return rc < 0 ? fail(e) : rc;
}

int cmd_wait(const struct opts *o, struct err *e)
{
        struct conn k;
        const char *job = o->pos[0];
        if (conn_open(o, &k, e) < 0)
                return fail(e);
        int rc = -1;
        struct json_object *jobj = NULL;
        if (job_get(&k, job, "get job", &jobj, e) < 0)
                goto out;
        struct follow_opts fo;
        follow_defaults(o, &k, job, &fo);
        fo.tty = false;
        fo.summary = true;
        if (o->wait_timeout_old_name)
                fprintf(stderr,
                        "relrun: note: wait --timeout is now --wait-timeout (how long relrun "
                        "waits; the Job goes on); run --timeout is the Job's own deadline\n");
        fo.deadline_ms = o->wait_timeout_ms;
        fo.boot_retries = 1; /* the Job's own retries decide; wait for its verdict */
        rc = follow_any(&k, jobj, &fo, e);
out:
        json_object_put(jobj);
        conn_close(&k);
        return rc < 0 ? fail(e) : rc;
}

/* ---- list / cancel / version ---------------------------------------------- */

const char *job_status(struct json_object *job)
{
        struct json_object *st, *conds, *v;
        if (!json_object_object_get_ex(job, "status", &st))
                return "Pending";
        if (json_object_object_get_ex(st, "conditions", &conds)) {
                for (size_t i = 0; i < json_object_array_length(conds); i++) {
                        struct json_object *c = json_object_array_get_idx(conds, i), *t, *s;
                        if (json_object_object_get_ex(c, "type", &t) &&
                            json_object_object_get_ex(c, "status", &s) &&
                            !strcmp(json_object_get_string(s), "True")) {
                                if (!strcmp(json_object_get_string(t), "Complete"))
                                        return "Complete";
                                if (!strcmp(json_object_get_string(t), "Failed"))
                                        return "Failed";
                        }
                }
        }
        if (json_object_object_get_ex(st, "active", &v) && json_object_get_int(v) > 0)
                return "Running";
        return "Pending";
}

static void age(const char *created, char *out, size_t n)
{
        struct kube_ts ts;
        if (!created || kube_ts_parse(created, strlen(created), &ts) < 0) {
                snprintf(out, n, "<unknown>");
                return;
        }
        long long d = (long long)time(NULL) - ts.sec;
        if (d < 0)
                d = 0;
        if (d < 120)
                snprintf(out, n, "%llds", d);
        else if (d < 7200)
                snprintf(out, n, "%lldm", d / 60);
        else if (d < 172800)
                snprintf(out, n, "%lldh", d / 3600);
        else
                snprintf(out, n, "%lldd", d / 86400);
}

int cmd_list(const struct opts *o, struct err *e)
{
        struct conn k;
        if (conn_open(o, &k, e) < 0)
                return fail(e);
        struct buf p;
        buf_init(&p, 4096);
        struct json_object *list = NULL, *items;
        int rc = -1;
        if (jobs_path(&p, k.ns, e) < 0 ||
            list_managed(o, &k, buf_str(&p), "list jobs", &list, &items, e) < 0)
                goto out;
        bool structured = o->output && (!strcmp(o->output, "json") || !strcmp(o->output, "yaml"));
        bool names = o->output && !strcmp(o->output, "name");
        if (!items) {
                if (!names && !structured)
                        fprintf(stderr, "No relrun jobs found in %s namespace.\n", k.ns);
                rc = 0;
                goto out;
        }
        if (!names)
                printf("%-48s %-9s %-6s %s\n", "NAME", "STATUS", "AGE", "EXPRESSION");
        for (size_t i = 0; i < json_object_array_length(items); i++) {
                struct json_object *j = json_object_array_get_idx(items, i), *md, *v, *ann;
                const char *name = "", *created = NULL, *expr = "";
                if (json_object_object_get_ex(j, "metadata", &md)) {
                        if (json_object_object_get_ex(md, "name", &v))
                                name = json_object_get_string(v);
                        if (json_object_object_get_ex(md, "creationTimestamp", &v))
                                created = json_object_get_string(v);
                        if (json_object_object_get_ex(md, "annotations", &ann) &&
                            json_object_object_get_ex(ann, "relrun.dev/expr", &v))
                                expr = json_object_get_string(v);
                }
                if (names) {
                        printf("job.batch/%s\n", name);
                        continue;
                }
                char a[32], ex[84];
                age(created, a, sizeof a);
                list_expr_cell(expr, ex, sizeof ex);
                printf("%-48s %-9s %-6s %s\n", name, job_status(j), a, ex);
        }
        rc = 0;
out:
        json_object_put(list);
        buf_fini(&p);
        conn_close(&k);
        return rc < 0 ? fail(e) : 0;
}

/* DELETE one Job with an explicit propagation policy (batch/v1 orphans the
 * pods otherwise). */
static int cancel_one(struct conn *k, const char *job, const char *policy, struct err *e)
{
        struct buf p, body;
        buf_init(&p, 4096);
        buf_init(&body, 256);
        int rc = -1;
        if (jobs_path(&p, k->ns, e) < 0)
                goto out;
        if (buf_putc(&p, '/') < 0 || kube_query_escape(&p, job) < 0 ||
            buf_printf(&p, "?propagationPolicy=%s", policy) < 0 ||
            buf_printf(&body,
                       "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\","
                       "\"propagationPolicy\":\"%s\"}",
                       policy) < 0) {
                url_check(-1, &p, "delete job", e);
                goto out;
        }
        rc = kube_request(k->c, "DELETE", buf_str(&p), buf_str(&body), "delete job", NULL, NULL, e);
        if (rc == 0)
                printf("job.batch/%s deleted\n", job);
out:
        buf_fini(&p);
        buf_fini(&body);
        return rc;
}

int cmd_cancel(const struct opts *o, struct err *e)
{
        struct conn k;
        if (conn_open(o, &k, e) < 0)
                return fail(e);
        const char *policy = !strcmp(o->cascade, "foreground") ? "Foreground" : "Background";
        /* Like kubectl delete: every name is tried; the exit code is the first
         * failure's, each failure is reported (the last by main). */
        int rc = 0;
        struct err last;
        err_clear(&last);
        for (size_t i = 0; i < o->n_pos; i++) {
                struct err one;
                err_clear(&one);
                if (cancel_one(&k, o->pos[i], policy, &one) == 0)
                        continue;
                if (last.msg[0])
                        fprintf(stderr, "relrun: %s\n", last.msg);
                last = one;
                if (!rc)
                        rc = fail(&one);
        }
        if (rc) {
                *e = last;
                e->code = rc;
        }
        conn_close(&k);
        return rc;
}

int cmd_version(const struct opts *o, struct err *e)
{
        (void)e;
        curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
        if (o->output && !strcmp(o->output, "json"))
                printf("{\"relrun\":\"%s\",\"libcurl\":\"%s\"}\n", RELRUN_VERSION, v->version);
        else
                printf("relrun %s (libcurl %s)\n", RELRUN_VERSION, v->version);
        return 0;
}
