/* relrun: follow every index of an Indexed Job (run --each) — one watch on
 * the Job's pods, each pod filed under its completion index, every pod's log
 * streamed with its index on each line, each index decided by the same rules
 * as a single run (classify.h), then one table and one exit code.
 *
 * Watch callbacks only record what they saw into the index's slot; the loop
 * in each_follow owns every decision and every stream. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "manifest.h"
#include "proc.h"
#include "relrun.h"

/* After the last decision, how long a quiet log stream gets to end. */
#define EACH_DRAIN_MS 15000
/* The annotation (and label) the Job controller puts on an index's pods. */
#define INDEX_KEY "batch.kubernetes.io/job-completion-index"

struct each;

/* One index: the pod followed (the newest retry once the older one is read)
 * and its decision. */
struct slot {
        struct each *f;
        int index;
        char item[64];                 /* the item's JSON, cut for the table */
        struct json_object *item_json; /* borrowed from each.items */
        struct pod_view pod, next;
        struct kube_logs *logs;
        struct classify_timers timers;
        struct outcome o;
        int64_t decided_at, line_at, since;
        unsigned pods; /* pods of this index seen */
        int listed;    /* the Job's status lists it: 1 completedIndexes, -1 failedIndexes */
};

struct each {
        const struct follow_opts *fo;
        struct kube_client *c;
        struct kube_watch *pods, *job, *events;
        struct job_view jv;
        struct json_object *items; /* the parsed --each array */
        struct slot *s;
        size_t n;
        char *expr; /* the relrun.dev/expr annotation (heap) */
        int64_t t0;
        size_t round_bytes; /* log bytes this round of the loop brought */
        bool job_deleted_by_us;
        struct classify_timers none_timers; /* the Job while it has no pod at all */
        /* the line-prefixing stream render_line writes into */
        FILE *out;
        struct buf obuf; /* a chunk with its prefixes, written to stdout at once */
        int prefix;      /* the index of the lines render.c holds */
        bool bol;        /* at the beginning of an output line */
        bool json;       /* -o json: "index":N in the event, else "[N] " */
};

/* ---- the index on every output line ------------------------------------------ */

/* render_line writes whole events into its own buffer and hands them to a
 * FILE: this FILE puts the index at the start of each line on the way to
 * stdout, so render.c needs no knowledge of indexes. */
static ssize_t prefix_write(void *cookie, const char *buf, size_t size)
{
        struct each *f = cookie;
        struct buf *o = &f->obuf;
        size_t i = 0;
        int rc = 0;
        while (i < size) {
                if (f->bol) {
                        if (f->json && buf[i] == '{') {
                                rc |= buf_printf(o, "{\"index\":%d,", f->prefix);
                                i++;
                        } else if (!f->json) {
                                rc |= buf_printf(o, "[%d] ", f->prefix);
                        }
                        f->bol = false;
                        if (i == size)
                                break;
                }
                const char *nl = memchr(buf + i, '\n', size - i);
                size_t k = nl ? (size_t)(nl - (buf + i)) + 1 : size - i;
                if (buf_append(o, buf + i, k) < 0) {
                        /* over the cap: what is held, then this piece, straight out */
                        fwrite(o->data, 1, o->len, stdout);
                        buf_reset(o);
                        fwrite(buf + i, 1, k, stdout);
                }
                i += k;
                if (nl)
                        f->bol = true;
        }
        (void)rc; /* a prefix the cap refused is lost, never a line */
        /* one write for the chunk: stdout is line-buffered */
        fwrite(o->data, 1, o->len, stdout);
        buf_reset(o);
        return (ssize_t)size;
}

static int on_log(void *ud, const struct kube_ts *ts, const char *line, size_t len)
{
        struct slot *s = ud;
        struct each *f = s->f;
        /* render.c holds one index's lines at a time: the prefix goes on
         * when they are written */
        if (f->prefix != s->index) {
                render_flush(f->out);
                f->prefix = s->index;
        }
        render_line(&f->fo->render, ts, line, len, f->out);
        f->round_bytes += len;
        s->line_at = proc_mono_ms();
        return 0;
}

/* ---- what the watches say ---------------------------------------------------- */

/* Older first: creation (whole seconds), then finished before running, then
 * resourceVersion — the order the Job made an index's retries in. */
static int pod_order(const struct pod_view *a, const struct pod_view *b)
{
        int c = kube_ts_cmp(&a->created, &b->created);
        if (c)
                return c;
        bool af = a->finished_at[0], bf = b->finished_at[0];
        if (af != bf)
                return af ? -1 : 1;
        return a->rv < b->rv ? -1 : a->rv > b->rv;
}

static int pod_index(struct json_object *obj)
{
        struct json_object *md, *m, *v;
        if (!json_object_object_get_ex(obj, "metadata", &md))
                return -1;
        const char *where[] = {"annotations", "labels"};
        for (int i = 0; i < 2; i++) {
                if (!json_object_object_get_ex(md, where[i], &m) ||
                    !json_object_object_get_ex(m, INDEX_KEY, &v) ||
                    !json_object_is_type(v, json_type_string))
                        continue;
                const char *t = json_object_get_string(v);
                char *end;
                long n = strtol(t, &end, 10);
                if (end != t && !*end && n >= 0 && n <= MANIFEST_EACH_MAX)
                        return (int)n;
        }
        return -1;
}

static int on_pod(void *ud, enum kube_event_type type, struct json_object *obj)
{
        struct each *f = ud;
        int i = pod_index(obj);
        if (i < 0 || (size_t)i >= f->n)
                return 0; /* not a pod of an index relrun knows */
        struct slot *s = &f->s[i];
        struct pod_view v;
        classify_read_pod(obj, &v);
        if (!v.name[0])
                return 0;
        bool cur = s->pod.set && !strcmp(v.name, s->pod.name);
        if (type == KUBE_EV_DELETED) {
                if (cur) {
                        if (v.task.terminated && !s->pod.task.terminated)
                                s->pod = v;
                        s->pod.deleted = true;
                } else if (s->next.set && !strcmp(v.name, s->next.name)) {
                        s->next.deleted = true;
                }
                return 0;
        }
        if (!s->pod.set || cur) {
                bool deleted = cur && s->pod.deleted;
                if (!s->pod.set)
                        s->pods++;
                classify_carry(&s->pod, &v);
                s->pod = v;
                s->pod.deleted = deleted;
                return 0;
        }
        if (!(s->next.set && !strcmp(v.name, s->next.name)))
                s->pods++;
        /* an older retry listed after a newer one: read it first */
        if (pod_order(&v, &s->pod) < 0 && !s->logs) {
                if (!s->next.set || pod_order(&s->pod, &s->next) > 0)
                        s->next = s->pod;
                s->pod = v;
                return 0;
        }
        if (!s->next.set || !strcmp(v.name, s->next.name) || pod_order(&v, &s->next) >= 0)
                s->next = v;
        return 0;
}

/* status.completedIndexes / failedIndexes ("0-2,5") into the slots. */
static void read_indexes(struct each *f, struct json_object *obj, const char *key, int mark)
{
        struct json_object *st, *v;
        if (!json_object_object_get_ex(obj, "status", &st) ||
            !json_object_object_get_ex(st, key, &v) || !json_object_is_type(v, json_type_string))
                return;
        const char *p = json_object_get_string(v);
        while (*p) {
                char *end;
                long a = strtol(p, &end, 10), b = a;
                if (end == p || a < 0)
                        return;
                p = end;
                if (*p == '-') {
                        b = strtol(p + 1, &end, 10);
                        if (end == p + 1 || b < a)
                                return;
                        p = end;
                }
                for (long i = a; i <= b && (size_t)i < f->n; i++)
                        f->s[i].listed = mark;
                if (*p == ',')
                        p++;
                else if (*p)
                        return;
        }
}

static int on_job(void *ud, enum kube_event_type type, struct json_object *obj)
{
        struct each *f = ud;
        f->jv.seen = true;
        if (type == KUBE_EV_DELETED) {
                f->jv.deleted = true;
                return 0;
        }
        const char *expr = classify_annotation(obj, "relrun.dev/expr");
        if (!f->expr && expr)
                f->expr = strdup(expr);
        classify_read_job(obj, &f->jv);
        read_indexes(f, obj, "completedIndexes", 1);
        read_indexes(f, obj, "failedIndexes", -1);
        return 0;
}

static int on_event(void *ud, enum kube_event_type type, struct json_object *obj)
{
        struct each *f = ud;
        if (type != KUBE_EV_DELETED)
                classify_read_event(obj, &f->jv);
        return 0;
}

/* ---- deciding ----------------------------------------------------------------- */

static long pod_ms(const struct slot *s)
{
        const struct pod_view *p = &s->pod;
        if (!p->set || !p->task.terminated)
                return -1;
        if (p->tm_duration_ms >= 0)
                return p->tm_duration_ms;
        struct kube_ts a, b;
        if (kube_ts_parse(p->started_at, strlen(p->started_at), &a) == 0 &&
            kube_ts_parse(p->finished_at, strlen(p->finished_at), &b) == 0 && b.sec >= a.sec)
                return (long)((b.sec - a.sec) * 1000 + (b.nsec - a.nsec) / 1000000);
        return -1;
}

static void decided(struct each *f, struct slot *s)
{
        s->decided_at = proc_mono_ms();
        if (!f->fo->summary)
                return;
        long ms = pod_ms(s);
        char d[32] = "";
        if (ms >= 0)
                snprintf(d, sizeof d, ", %.1fs", (double)ms / 1000.0);
        fprintf(stderr, "relrun: [%d]%s%s: %s, exit %d%s\n", s->index, s->pod.set ? " pod/" : "",
                s->pod.set ? s->pod.name : "", s->o.what, s->o.code, d);
        fflush(stderr);
}

/* An index without a pod: what the Job says about it — done before relrun
 * looked (its pod gone with a ttl), or never run. */
static void decide_podless(struct each *f, struct slot *s)
{
        struct outcome *o = &s->o;
        memset(o, 0, sizeof *o);
        o->decided = true;
        if (s->listed > 0) {
                snprintf(o->what, sizeof o->what, "succeeded (its pod is gone)");
                return;
        }
        bool deadline = f->jv.failed && !strcmp(f->jv.reason, "DeadlineExceeded");
        if (s->listed < 0 && deadline) {
                /* the Job deletes the pods it stops at its deadline */
                o->code = ERR_TIMEOUT;
                o->failed = "deadline";
                snprintf(o->what, sizeof o->what, "deadline exceeded (its pod is gone)");
                return;
        }
        if (s->listed < 0) {
                o->code = ERR_TASK;
                o->failed = "task failed";
                snprintf(o->what, sizeof o->what, "failed (its pod is gone: exit code unknown)");
                return;
        }
        o->never_ran = true;
        if (f->jv.deleted) {
                o->code = ERR_KILLED;
                o->failed = "killed";
                snprintf(o->what, sizeof o->what, "not run: the job was deleted");
        } else if (deadline) {
                o->code = ERR_TIMEOUT;
                o->failed = "deadline";
                snprintf(o->what, sizeof o->what, "not run: deadline exceeded");
        } else if (f->jv.complete) {
                o->never_ran = false;
                snprintf(o->what, sizeof o->what, "succeeded (its pod is gone)");
        } else {
                o->code = ERR_TASK;
                o->failed = "task failed";
                snprintf(o->what, sizeof o->what, "not run: job failed%s%.200s",
                         f->jv.reason[0] ? ": " : "", f->jv.reason);
        }
}

static int delete_job(struct each *f, struct err *e)
{
        struct buf p, body;
        buf_init(&p, 4096);
        buf_init(&body, 256);
        int r = -1;
        if (jobs_path(&p, f->fo->namespace_, e) == 0 &&
            url_check(buf_putc(&p, '/') | kube_query_escape(&p, f->fo->job), &p, "delete job", e) ==
                0 &&
            buf_puts(&body, "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\","
                            "\"propagationPolicy\":\"Foreground\"}") == 0)
                r = kube_request(f->c, "DELETE", buf_str(&p), buf_str(&body), "delete job", NULL,
                                 NULL, e);
        buf_fini(&p);
        buf_fini(&body);
        return r;
}

/* An index that can never run on its own (image, config, admission): the
 * others would not either, and the Job would run them later with nobody
 * watching — as a single run, it goes unless --keep-failed. */
static void give_up(struct each *f, struct outcome *o)
{
        size_t n = strlen(o->what);
        if (f->job_deleted_by_us || !f->fo->owns_job || f->fo->keep_failed)
                return;
        struct err de;
        f->job_deleted_by_us = true;
        if (delete_job(f, &de) == 0)
                snprintf(o->what + n, sizeof o->what - n,
                         "; job/%s deleted (--keep-failed keeps it)", f->fo->job);
        else
                snprintf(o->what + n, sizeof o->what - n, "; job/%s NOT deleted (%.200s)",
                         f->fo->job, de.msg);
}

static void decide_slot(struct each *f, struct slot *s, int64_t now)
{
        if (!s->pod.set) {
                /* no pod yet is only a wait (parallelism), until the Job ends */
                bool over = f->jv.complete || f->jv.failed || f->jv.deleted;
                if (!over) {
                        s->since = 0;
                        return;
                }
                if (!s->since)
                        s->since = now;
                if (now - s->since < CLASSIFY_POD_LAG_MS && !f->jv.deleted)
                        return;
                decide_podless(f, s);
                decided(f, s);
                return;
        }
        if (s->listed > 0 && s->pod.task.terminated && s->pod.task.exit_code == 0) {
                /* done and counted: a later verdict on the Job (its deadline
                 * over another index) is not this index's */
                memset(&s->o, 0, sizeof s->o);
                s->o.decided = true;
                snprintf(s->o.what, sizeof s->o.what, "succeeded");
                decided(f, s);
                return;
        }
        struct classify_in in = {
            .pod = &s->pod,
            .newer_pod = s->next.set,
            .job = &f->jv,
            .now = now,
            .boot_retries = f->fo->boot_retries,
            .schedule_timeout_ms = f->fo->schedule_timeout_ms,
        };
        s->timers = classify_timers_next(&in, &s->timers);
        classify(&in, &s->timers, &s->o);
        if (!s->o.decided)
                return;
        if (s->o.never_ran)
                give_up(f, &s->o);
        if (s->o.rerun) {
                /* a single run deletes its Job here; that would stop the
                 * other indexes, so the retry is only said */
                size_t k = strlen(s->o.what);
                snprintf(s->o.what + k, sizeof s->o.what - k,
                         "; the Job may run index %d again as a boot retry (exit 70)", s->index);
        }
        decided(f, s);
}

/* The Job made no pod at all: admission, quota, or nothing for the schedule
 * timeout — the single run's rules on "no pod", for every index at once. */
static void decide_no_pods(struct each *f, int64_t now)
{
        for (size_t i = 0; i < f->n; i++)
                if (f->s[i].pods)
                        return;
        struct outcome o;
        struct classify_in in = {
            .pod = NULL,
            .job = &f->jv,
            .now = now,
            .boot_retries = f->fo->boot_retries,
            .schedule_timeout_ms = f->fo->schedule_timeout_ms,
        };
        f->none_timers = classify_timers_next(&in, &f->none_timers);
        classify(&in, &f->none_timers, &o);
        if (!o.decided || !o.never_ran)
                return;
        give_up(f, &o);
        for (size_t i = 0; i < f->n; i++) {
                if (f->s[i].o.decided)
                        continue;
                f->s[i].o = o;
                decided(f, &f->s[i]);
        }
}

/* ---- the loop ----------------------------------------------------------------- */

static bool can_switch(const struct each *f, const struct slot *s)
{
        if (!s->pod.task.terminated && !s->pod.deleted)
                return false;
        if (!f->fo->logs)
                return true; /* wait: no log to finish first */
        if (!s->logs)
                return !s->pod.task.terminated; /* deleted before it ran: no log */
        struct err le;
        return kube_logs_done(s->logs, &le);
}

static void switch_pod(struct each *f, struct slot *s)
{
        if (f->fo->summary)
                fprintf(stderr, "relrun: [%d] pod/%s ended (exit %d); following its retry pod/%s\n",
                        s->index, s->pod.name, s->pod.task.exit_code, s->next.name);
        kube_logs_free(s->logs);
        s->logs = NULL;
        s->pod = s->next;
        memset(&s->next, 0, sizeof s->next);
        memset(&s->timers, 0, sizeof s->timers);
}

static int open_logs(struct each *f, struct slot *s, struct err *e)
{
        const struct pod_view *p = &s->pod;
        if (!f->fo->logs || s->logs || !p->set || p->deleted)
                return 0;
        if (p->task.running || p->task.terminated)
                return kube_logs_new(f->c, f->fo->namespace_, p->name, "task", true, on_log, s,
                                     &s->logs, e);
        /* the task never ran: what the failed init container said */
        if (p->init_exit && p->init.name[0])
                return kube_logs_new(f->c, f->fo->namespace_, p->name, p->init.name, false, on_log,
                                     s, &s->logs, e);
        return 0;
}

static bool logs_over(const struct each *f, const struct slot *s, int64_t now)
{
        struct err le;
        const struct pod_view *p = &s->pod;
        bool will_open = f->fo->logs && p->set && !p->deleted &&
                         (p->task.running || p->task.terminated || p->init_exit);
        if (!s->logs ? !will_open : kube_logs_done(s->logs, &le) || p->deleted)
                return true;
        int64_t quiet = s->line_at > s->decided_at ? s->line_at : s->decided_at;
        return now - quiet > EACH_DRAIN_MS;
}

static int watch(struct each *f, struct buf *path, struct buf *sel, const char *what,
                 const char *coll, bool label, const char *selector, kube_watch_cb cb,
                 struct kube_watch **w, struct err *e)
{
        buf_reset(path);
        buf_reset(sel);
        int urc =
            buf_puts(path, coll[0] == 'j' ? "/apis/batch/v1/namespaces/" : "/api/v1/namespaces/");
        urc |= kube_query_escape(path, f->fo->namespace_);
        urc |= buf_printf(path, "/%s", coll);
        urc |= buf_puts(sel, selector);
        urc |= buf_puts(sel, f->fo->job);
        if (url_check(urc, path, what, e) < 0)
                return -1;
        return kube_watch_new(f->c, buf_str(path), label ? buf_str(sel) : NULL,
                              label ? NULL : buf_str(sel), cb, f, w, e);
}

/* ---- the table and the JSON summary --------------------------------------------- */

static const char *slot_return(const struct slot *s)
{
        return s->o.decided && s->pod.set && s->pod.task.terminated ? s->pod.tm_return : "";
}

static const char *slot_cause(const struct slot *s)
{
        const char *fp = s->o.failed;
        bool own = s->pod.set && s->pod.task.terminated && fp &&
                   (!strcmp(fp, "task failed") || !strcmp(fp, "release never ready"));
        return own ? s->pod.tm_cause : "";
}

static void result_cell(const struct slot *s, char *out, size_t n)
{
        if (!s->o.decided) {
                snprintf(out, n, "%s", s->pod.set ? "running" : "pending");
                return;
        }
        const char *ret = slot_return(s), *cause = slot_cause(s);
        char cut[80], what[124];
        /* one line a row: the whole account is the per-index line above */
        list_expr_cell(s->o.what, what, sizeof what);
        if (s->o.code == 0 && ret[0]) {
                list_expr_cell(ret, cut, 60);
                snprintf(out, n, "%s, returned %s", what, cut);
        } else if (cause[0]) {
                list_expr_cell(cause, cut, 70);
                snprintf(out, n, "%s: %s", what, cut);
        } else {
                snprintf(out, n, "%s", what);
        }
}

static void table(const struct each *f, FILE *out)
{
        size_t w = 4;
        for (size_t i = 0; i < f->n; i++)
                if (strlen(f->s[i].item) > w)
                        w = strlen(f->s[i].item);
        fprintf(out, "INDEX  %-*s  EXIT  DURATION  RESULT\n", (int)w, "ITEM");
        for (size_t i = 0; i < f->n; i++) {
                const struct slot *s = &f->s[i];
                char code[16] = "-", dur[32] = "-", res[300];
                if (s->o.decided)
                        snprintf(code, sizeof code, "%d", s->o.code);
                long ms = pod_ms(s);
                if (ms >= 0)
                        snprintf(dur, sizeof dur, "%.1fs", (double)ms / 1000.0);
                result_cell(s, res, sizeof res);
                fprintf(out, "%-5d  %-*s  %-4s  %-8s  %s\n", s->index, (int)w, s->item, code, dur,
                        res);
        }
        fflush(out);
}

static void add_str(struct json_object *o, const char *k, const char *v)
{
        /* o owns the new string; null when empty */
        json_object_object_add(o, k, v && *v ? json_object_new_string(v) : NULL);
}

/* The summary's "indexes": one object per index, in index order. */
static struct json_object *indexes_json(const struct each *f)
{
        if (!f->s)
                return NULL; /* failed before the slots were made */
        struct json_object *a = json_object_new_array();
        for (size_t i = 0; a && i < f->n; i++) {
                const struct slot *s = &f->s[i];
                struct json_object *o = json_object_new_object();
                if (!o)
                        break;
                const char *phase = !s->o.decided    ? (s->pod.set ? "running" : "pending")
                                    : s->o.code == 0 ? "succeeded"
                                                     : "failed";
                json_object_object_add(o, "index", json_object_new_int(s->index));
                /* a reference of the item for o; the array keeps its own */
                json_object_object_add(o, "item", json_object_get(s->item_json));
                add_str(o, "pod", s->pod.set ? s->pod.name : "");
                add_str(o, "phase", phase);
                add_str(o, "failed_phase", s->o.decided ? s->o.failed : NULL);
                json_object_object_add(o, "exit_code",
                                       s->o.decided ? json_object_new_int(s->o.code) : NULL);
                long ms = pod_ms(s);
                json_object_object_add(o, "duration_ms",
                                       ms >= 0 ? json_object_new_int64(ms) : NULL);
                add_str(o, "return", slot_return(s));
                add_str(o, "cause", slot_cause(s));
                add_str(o, "message", s->o.decided ? s->o.what : "");
                json_object_array_add(a, o); /* a owns o */
        }
        return a;
}

/* The run's outcome: 0 when every index succeeded, else the code of the
 * lowest failing index. */
static int finish(struct each *f)
{
        size_t ok = 0;
        const struct slot *first = NULL;
        for (size_t i = 0; i < f->n; i++) {
                if (f->s[i].o.code == 0)
                        ok++;
                else if (!first)
                        first = &f->s[i];
        }
        char line[1200];
        if (!first)
                snprintf(line, sizeof line, "job/%s: all %zu indexes succeeded", f->fo->job, f->n);
        else
                snprintf(line, sizeof line,
                         "job/%s: %zu of %zu indexes succeeded; index %d failed first: %.300s, "
                         "exit %d",
                         f->fo->job, ok, f->n, first->index, first->o.what, first->o.code);
        int code = first ? first->o.code : 0;
        if (f->fo->summary) {
                bool red = f->fo->color && code != 0;
                table(f, stderr);
                fprintf(stderr, "%srelrun: %s%s\n", red ? "\033[31m" : "", line,
                        red ? "\033[0m" : "");
        }
        struct summary *s = f->fo->sum;
        if (s) {
                s->set = true;
                s->phase = code == 0 ? "succeeded" : "failed";
                s->failed_phase = first ? first->o.failed : NULL;
                s->exit_code = code;
                s->duration_ms = (long)(proc_mono_ms() - f->t0);
                snprintf(s->cause, sizeof s->cause, "%s", first ? slot_cause(first) : "");
                snprintf(s->line, sizeof s->line, "%s", line);
        }
        return code;
}

/* What is known when the run ends before every index is decided. */
static void fill_partial(struct each *f)
{
        struct summary *s = f->fo->sum;
        if (!s)
                return;
        snprintf(s->job, sizeof s->job, "%s", f->fo->job);
        snprintf(s->namespace_, sizeof s->namespace_, "%s", f->fo->namespace_);
        if (f->expr && !s->expr) {
                s->expr = f->expr;
                f->expr = NULL;
        }
        json_object_put(s->indexes);
        s->indexes = indexes_json(f);
}

bool each_job(struct json_object *job, const char **items, size_t *n)
{
        struct json_object *spec, *v;
        if (!json_object_object_get_ex(job, "spec", &spec) ||
            !json_object_object_get_ex(spec, "completionMode", &v) ||
            strcmp(json_object_get_string(v), "Indexed"))
                return false;
        *n = json_object_object_get_ex(spec, "completions", &v) && json_object_get_int(v) > 0
                 ? (size_t)json_object_get_int(v)
                 : 1;
        *items = classify_annotation(job, "relrun.dev/each");
        return true;
}

static int slots_new(struct each *f, const char *items, size_t n, struct err *e)
{
        f->items = items ? json_tokener_parse(items) : NULL;
        /* items that do not fit (an edited annotation) only lose the table's column */
        if (f->items && (!json_object_is_type(f->items, json_type_array) ||
                         json_object_array_length(f->items) != n)) {
                json_object_put(f->items);
                f->items = NULL;
        }
        f->n = n;
        if (f->n == 0 || f->n > MANIFEST_EACH_MAX)
                return err_set(e, ERR_USAGE, "job/%s: %zu indexes, want 1 to %d", f->fo->job, f->n,
                               MANIFEST_EACH_MAX);
        f->s = calloc(f->n, sizeof *f->s);
        if (!f->s)
                return err_set(e, ERR_SOFTWARE, "out of memory");
        for (size_t i = 0; i < f->n; i++) {
                struct slot *s = &f->s[i];
                s->f = f;
                s->index = (int)i;
                s->item_json = f->items ? json_object_array_get_idx(f->items, i) : NULL;
                list_expr_cell(!f->items      ? "-"
                               : s->item_json ? json_object_to_json_string_ext(
                                                    s->item_json, JSON_C_TO_STRING_PLAIN)
                                              : "null",
                               s->item, 40);
        }
        return 0;
}

int each_follow(struct kube_client *c, const struct follow_opts *fo, const char *items, size_t n,
                struct err *e)
{
        struct each f;
        memset(&f, 0, sizeof f);
        err_clear(e);
        f.fo = fo;
        f.c = c;
        f.t0 = proc_mono_ms();
        f.bol = true;
        f.json = fo->render.json;
        buf_init(&f.obuf, 64u << 20);
        struct buf path, sel;
        buf_init(&path, 4096);
        buf_init(&sel, 4096);
        int rc = -1;
        bool all = false;
        static const cookie_io_functions_t io = {.write = prefix_write};

        if (slots_new(&f, items, n, e) < 0)
                goto out;
        f.out = fopencookie(&f, "w", io);
        if (!f.out) {
                err_sys(e, ERR_SOFTWARE, "open the log output");
                goto out;
        }
        setvbuf(f.out, NULL, _IONBF, 0);
        if (watch(&f, &path, &sel, "watch pods", "pods", true,
                  "batch.kubernetes.io/job-name=", on_pod, &f.pods, e) < 0 ||
            watch(&f, &path, &sel, "watch jobs", "jobs", false, "metadata.name=", on_job, &f.job,
                  e) < 0)
                goto out;
        {
                /* FailedCreate (admission, quota): optional, a role without
                 * events only loses the detail */
                struct err we;
                if (watch(&f, &path, &sel, "watch events", "events", false,
                          "involvedObject.kind=Job,involvedObject.name=", on_event, &f.events,
                          &we) < 0)
                        f.events = NULL;
        }

        for (;;) {
                int prc = relrun_interrupted ? 0 : kube_client_poll(c, 250, e);
                render_flush(f.out); /* what this batch of lines brought */
                follow_settle(f.round_bytes);
                f.round_bytes = 0;
                if (relrun_interrupted || prc < 0) {
                        if (relrun_interrupted)
                                err_set(e, 128 + relrun_interrupted,
                                        "interrupted: job/%s keeps running (relrun logs %s -f; "
                                        "relrun cancel %s)",
                                        fo->job, fo->job, fo->job);
                        goto out;
                }
                if (kube_watch_done(f.pods, e) || kube_watch_done(f.job, e)) {
                        if (e->code == 0)
                                err_set(e, ERR_UNAVAILABLE, "watch ended unexpectedly");
                        if (e->code == ERR_UNAVAILABLE)
                                err_prefix(e, "job/%s may still be running (relrun wait %s)",
                                           fo->job, fo->job);
                        goto out;
                }
                if (f.events && kube_watch_done(f.events, NULL)) {
                        kube_watch_free(f.events);
                        f.events = NULL;
                }
                int64_t now = proc_mono_ms();
                bool listed = kube_watch_listed(f.pods) && kube_watch_listed(f.job);
                all = listed;
                for (size_t i = 0; i < f.n; i++) {
                        struct slot *s = &f.s[i];
                        if (!s->o.decided && s->next.set && can_switch(&f, s))
                                switch_pod(&f, s);
                        if (open_logs(&f, s, e) < 0)
                                goto out;
                        if (s->logs && (s->pod.task.terminated || s->pod.deleted))
                                kube_logs_container_done(s->logs);
                        if (listed && !s->o.decided)
                                decide_slot(&f, s, now);
                        if (!s->o.decided || !logs_over(&f, s, now))
                                all = false;
                }
                if (listed && !all)
                        decide_no_pods(&f, now);
                if (all)
                        break;
                if (fo->deadline_ms && now - f.t0 > fo->deadline_ms) {
                        err_set(e, ERR_TIMEOUT, "timed out after %.1fs waiting for job/%s",
                                (double)fo->deadline_ms / 1000.0, fo->job);
                        goto out;
                }
        }
        fill_partial(&f);
        rc = finish(&f);
out:
        if (rc < 0) {
                fill_partial(&f);
                rc = e->code ? e->code : ERR_SOFTWARE;
        }
        if (f.out) {
                render_flush(f.out);
                fclose(f.out);
        }
        buf_fini(&f.obuf);
        fflush(stdout);
        free(f.expr);
        for (size_t i = 0; f.s && i < f.n; i++)
                kube_logs_free(f.s[i].logs);
        free(f.s);
        json_object_put(f.items);
        kube_watch_free(f.events);
        kube_watch_free(f.pods);
        kube_watch_free(f.job);
        buf_fini(&path);
        buf_fini(&sel);
        return rc;
}
