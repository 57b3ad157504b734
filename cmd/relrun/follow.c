/* relrun: follow a Job — watch its pods and the Job itself, stream the task's
 * logs once it runs, read the exit code and termination message, decide the
 * outcome, summarise. All in one curl multi loop (kube_client_poll).
 *
 * Watch callbacks only record what they saw into views; the loop below owns
 * every decision and every stream it starts or stops. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "classify.h"
#include "logline.h"
#include "proc.h"
#include "relrun.h"

/* After a decision, how long the log stream gets to deliver its last lines. */
#define LOG_DRAIN_MS 15000
/* A progress line off a terminal while the pod is pending (CI logs). */
#define PROGRESS_EVERY_MS 15000

struct follower {
        const struct follow_opts *fo;
        struct kube_client *c;
        struct kube_watch *pods, *job, *events;
        struct kube_logs *logs;
        struct pod_view pod;  /* the pod being followed */
        struct pod_view next; /* a newer pod (a boot retry) waiting its turn */
        struct job_view jv;
        char *expr; /* the relrun.dev/expr annotation (heap) */
        struct classify_timers timers;
        char shown[400];    /* pending phase on the terminal */
        char progress[400]; /* the last progress line off a terminal */
        int64_t t0;
        int64_t progress_at; /* when it was printed */
        unsigned long lines;
        int64_t line_at;    /* when the log stream last delivered a line (ms) */
        size_t round_bytes; /* log bytes this round of the loop brought */
};

volatile sig_atomic_t relrun_interrupted;

/* Which of two pods of the Job is the newer one. creationTimestamp has whole
 * seconds and boot retries come faster than that: within a second, the one
 * that finished later (or has not finished), then the later resourceVersion,
 * so that wait, which lists them at once, names the pod run followed last. */
static int pod_cmp(const struct pod_view *a, const struct pod_view *b)
{
        int c = kube_ts_cmp(&a->created, &b->created);
        if (c)
                return c;
        bool af = a->finished_at[0], bf = b->finished_at[0];
        if (af != bf)
                return af ? -1 : 1;
        c = strcmp(a->finished_at, b->finished_at);
        if (c)
                return c < 0 ? -1 : 1;
        return a->rv < b->rv ? -1 : a->rv > b->rv;
}

static int on_pod(void *ud, enum kube_event_type type, struct json_object *obj)
{
        struct follower *f = ud;
        struct pod_view v;
        classify_read_pod(obj, &v);
        if (!v.name[0])
                return 0;
        if (type == KUBE_EV_DELETED) {
                if (f->pod.set && !strcmp(v.name, f->pod.name)) {
                        /* Keep what the last state said; mark it gone. */
                        if (v.task.terminated && !f->pod.task.terminated)
                                f->pod = v;
                        f->pod.deleted = true;
                }
                return 0;
        }
        if (!f->pod.set || !strcmp(v.name, f->pod.name)) {
                bool deleted = f->pod.deleted && !strcmp(v.name, f->pod.name);
                classify_carry(&f->pod, &v);
                f->pod = v;
                f->pod.deleted = deleted;
                return 0;
        }
        /* An older pod than the one chosen (the list came in name order):
         * follow pods in creation order while nothing was read yet. */
        if (pod_cmp(&v, &f->pod) < 0 && !f->logs) {
                if (!f->next.set || pod_cmp(&f->pod, &f->next) > 0)
                        f->next = f->pod;
                f->pod = v;
                return 0;
        }
        /* Another pod of the Job: follow the newest one next. */
        if (pod_cmp(&v, &f->pod) >= 0 &&
            (!f->next.set || !strcmp(v.name, f->next.name) || pod_cmp(&v, &f->next) >= 0))
                f->next = v;
        return 0;
}

static int on_job(void *ud, enum kube_event_type type, struct json_object *obj)
{
        struct follower *f = ud;
        f->jv.seen = true;
        if (type == KUBE_EV_DELETED) {
                f->jv.deleted = true;
                return 0;
        }
        const char *expr = classify_annotation(obj, "relrun.dev/expr");
        if (!f->expr && expr)
                f->expr = strdup(expr);
        classify_read_job(obj, &f->jv);
        return 0;
}

static int on_event(void *ud, enum kube_event_type type, struct json_object *obj)
{
        struct follower *f = ud;
        if (type != KUBE_EV_DELETED)
                classify_read_event(obj, &f->jv);
        return 0;
}

/* ---- logs ----------------------------------------------------------------- */

static void clear_shown(struct follower *f)
{
        if (f->shown[0]) {
                fputs("\r\033[K", stderr);
                fflush(stderr);
                f->shown[0] = '\0';
        }
}

static int on_log(void *ud, const struct kube_ts *ts, const char *line, size_t len)
{
        struct follower *f = ud;
        clear_shown(f);
        render_line(&f->fo->render, ts, line, len, stdout);
        f->round_bytes += len;
        f->lines++;
        if ((f->lines & 1023) == 1)
                f->line_at = proc_mono_ms();
        return 0;
}

/* What the pod waits for, with the image it waits on. */
static void pending_text(const struct follower *f, char *s, size_t n)
{
        const struct pod_view *p = &f->pod;
        const struct container_view *c = p->init.waiting[0] ? &p->init : &p->task;
        if (!p->set)
                snprintf(s, n, "Pending: waiting for the pod of job/%s", f->fo->job);
        else if (p->unschedulable)
                snprintf(s, n, "Pending: Unschedulable: %.250s", p->sched_msg);
        else if (c->waiting[0])
                snprintf(s, n, "Pending: %s%s (image %.200s)", c == &p->init ? "Init:" : "",
                         c->waiting, c->image[0] ? c->image : "?");
        else
                snprintf(s, n, "%s", p->phase[0] ? p->phase : "Pending");
}

/* While the pod is pending: on a terminal one line redrawn with the elapsed
 * time; off a terminal (CI) a plain line about every PROGRESS_EVERY_MS, and
 * at once when the scheduler says why it cannot place the pod. */
static void show_phase(struct follower *f)
{
        const struct pod_view *p = &f->pod;
        if (f->lines || (!f->fo->tty && !f->fo->summary))
                return;
        if (p->task.running || p->task.terminated) {
                clear_shown(f);
                return;
        }
        char s[300];
        pending_text(f, s, sizeof s);
        int64_t now = proc_mono_ms();
        long secs = (long)((now - f->t0) / 1000);
        if (!f->fo->tty) {
                bool news = p->unschedulable && strcmp(s, f->progress);
                if (!news && now - (f->progress_at ? f->progress_at : f->t0) < PROGRESS_EVERY_MS)
                        return;
                fprintf(stderr, "relrun: job/%s: %s, %lds\n", f->fo->job, s, secs);
                fflush(stderr);
                snprintf(f->progress, sizeof f->progress, "%s", s);
                f->progress_at = now;
                return;
        }
        char line[sizeof f->shown];
        snprintf(line, sizeof line, "%s ... %lds", s, secs);
        if (strcmp(line, f->shown)) {
                fprintf(stderr, "\r\033[K%s", line);
                fflush(stderr);
                snprintf(f->shown, sizeof f->shown, "%s", line);
        }
}

static double pod_seconds(const struct follower *f)
{
        if (f->pod.tm_duration_ms >= 0)
                return (double)f->pod.tm_duration_ms / 1000.0;
        struct kube_ts a, b;
        if (kube_ts_parse(f->pod.started_at, strlen(f->pod.started_at), &a) == 0 &&
            kube_ts_parse(f->pod.finished_at, strlen(f->pod.finished_at), &b) == 0 &&
            b.sec >= a.sec)
                return (double)(b.sec - a.sec) + (double)(b.nsec - a.nsec) / 1e9;
        return (double)(proc_mono_ms() - f->t0) / 1000.0;
}

/* The outcome for people (one line on stderr) and for machines (fo->sum). */
static void summary(struct follower *f, const struct outcome *o)
{
        clear_shown(f);
        const char *ret = f->pod.task.terminated ? f->pod.tm_return : "";
        double secs = pod_seconds(f);
        char line[1200];
        int n = snprintf(line, sizeof line, "job/%s%s%s: %s, exit %d, %.1fs", f->fo->job,
                         f->pod.set ? " pod/" : "", f->pod.set ? f->pod.name : "", o->what, o->code,
                         secs);
        /* The pod's own account is the cause when its failure is the verdict
         * (a deadline or a kill already says who ended it). */
        const char *cause =
            f->pod.task.terminated && o->failed &&
                    (!strcmp(o->failed, "task failed") || !strcmp(o->failed, "release never ready"))
                ? f->pod.tm_cause
                : "";
        if (o->code == 0 && ret[0] && n > 0 && (size_t)n < sizeof line)
                snprintf(line + n, sizeof line - (size_t)n, ", returned %.200s%s%s", ret,
                         strlen(ret) > 200 ? "..." : "",
                         !strncmp(ret, "{:error,", 8)
                             ? " (exit 0: with --error-exit N an {:error, _} return exits N)"
                             : "");
        else if (cause[0] && n > 0 && (size_t)n < sizeof line)
                snprintf(line + n, sizeof line - (size_t)n, ": %s", cause);
        if (f->fo->summary) {
                /* a failure in red where colour is wanted (the pending line's rule);
                 * the cause and the return are the pod's words: shown, never obeyed */
                bool red = f->fo->color && o->code != 0;
                struct buf safe;
                buf_init(&safe, 4 * sizeof line);
                if (logline_text_safe(&safe, line, strlen(line)) < 0)
                        buf_reset(&safe);
                fprintf(stderr, "%srelrun: %s%s\n", red ? "\033[31m" : "", buf_str(&safe),
                        red ? "\033[0m" : "");
                buf_fini(&safe);
        }
        struct summary *s = f->fo->sum;
        if (!s)
                return;
        s->set = true;
        snprintf(s->job, sizeof s->job, "%s", f->fo->job);
        snprintf(s->namespace_, sizeof s->namespace_, "%s", f->fo->namespace_);
        snprintf(s->pod, sizeof s->pod, "%s", f->pod.set ? f->pod.name : "");
        s->phase = o->code == 0 ? "succeeded" : "failed";
        s->failed_phase = o->failed;
        s->exit_code = o->code;
        s->duration_ms = (long)(secs * 1000.0 + 0.5);
        snprintf(s->ret, sizeof s->ret, "%s", ret);
        snprintf(s->cause, sizeof s->cause, "%s", cause);
        if (f->expr && !s->expr) {
                s->expr = f->expr;
                f->expr = NULL;
        }
        snprintf(s->line, sizeof s->line, "%s", line);
}

/* ---- the loop ----------------------------------------------------------------- */

/* A newer pod (the Job retrying a boot failure) is followed once the current
 * one is over and its log is read to the end. */
static bool can_switch(struct follower *f)
{
        if (!f->pod.set)
                return true;
        if (!f->pod.task.terminated && !f->pod.deleted)
                return false;
        if (!f->fo->logs)
                return true;
        if (!f->logs)
                return !f->pod.task.terminated; /* deleted before it ran: no log to read */
        struct err le;
        return kube_logs_done(f->logs, &le);
}

static void switch_pod(struct follower *f)
{
        /* Said while it happens (run, logs -f); wait reads a finished Job's
         * pods at once, where it is only noise. */
        if (f->pod.set && f->fo->summary && f->fo->logs) {
                clear_shown(f);
                fprintf(stderr, "relrun: pod/%s ended (exit %d); following the Job's new pod/%s\n",
                        f->pod.name, f->pod.task.exit_code, f->next.name);
        }
        kube_logs_free(f->logs);
        f->logs = NULL;
        f->pod = f->next;
        memset(&f->next, 0, sizeof f->next);
        memset(&f->timers, 0, sizeof f->timers);
}

static void interrupted(const struct follower *f, struct err *e)
{
        /* 128 + the signal, as a shell reports it. */
        err_set(e, 128 + relrun_interrupted,
                "interrupted: job/%s keeps running (relrun logs %s -f; relrun cancel %s)",
                f->fo->job, f->fo->job, f->fo->job);
}

/* relrun lost the API, not the task: say so and how to pick it up again. */
static void still_running(const struct follower *f, struct err *e)
{
        char msg[sizeof e->msg];
        snprintf(msg, sizeof msg,
                 "%.700s; the task may still be running: re-attach with 'relrun logs %s -f' "
                 "or 'relrun wait %s'",
                 e->msg, f->fo->job, f->fo->job);
        snprintf(e->msg, sizeof e->msg, "%s", msg);
}

static void decide(struct follower *f, struct outcome *o)
{
        /* Until both lists are in, a pod not seen is only not seen yet. */
        if (!kube_watch_listed(f->pods) || !kube_watch_listed(f->job))
                return;
        struct classify_in in = {
            .pod = &f->pod,
            .newer_pod = f->next.set,
            .job = &f->jv,
            .now = proc_mono_ms(),
            .boot_retries = f->fo->boot_retries,
            .schedule_timeout_ms = f->fo->schedule_timeout_ms,
        };
        f->timers = classify_timers_next(&in, &f->timers);
        classify(&in, &f->timers, o);
}

/* DELETE the Job with foreground propagation (its pods go first). */
static int delete_job(struct follower *f, struct err *e)
{
        struct buf p, body;
        buf_init(&p, 4096);
        buf_init(&body, 256);
        int r = -1;
        if (buf_puts(&p, "/apis/batch/v1/namespaces/") == 0 &&
            kube_query_escape(&p, f->fo->namespace_) == 0 && buf_puts(&p, "/jobs/") == 0 &&
            kube_query_escape(&p, f->fo->job) == 0 &&
            buf_puts(&body, "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\","
                            "\"propagationPolicy\":\"Foreground\"}") == 0)
                r = kube_request(f->c, "DELETE", buf_str(&p), buf_str(&body), "delete job", NULL,
                                 NULL, e);
        else
                err_set(e, ERR_SOFTWARE, "delete job: path too long");
        buf_fini(&p);
        buf_fini(&body);
        return r;
}

/* The pod never ran the task and never will on its own (an image that does
 * not pull, a missing Secret, admission): left alone, the Job would run the
 * task later with nobody watching, so it goes unless --keep-failed. */
static void give_up(struct follower *f, struct outcome *o)
{
        size_t n = strlen(o->what);
        char *w = o->what + n;
        size_t room = sizeof o->what - n;
        if (!f->fo->owns_job || f->fo->keep_failed) {
                snprintf(w, room, "; job/%s left in the cluster%s", f->fo->job,
                         f->fo->keep_failed ? " (--keep-failed)" : "");
                return;
        }
        struct err de;
        if (delete_job(f, &de) == 0)
                snprintf(w, room, "; job/%s deleted (--keep-failed keeps it)", f->fo->job);
        else
                snprintf(w, room, "; job/%s NOT deleted (%.200s): relrun cancel %s", f->fo->job,
                         de.msg, f->fo->job);
}

/* The task ran and ended with 70: the Job's boot retries would run it again. */
static void stop_rerun(struct follower *f, struct outcome *o)
{
        size_t n = strlen(o->what);
        struct err de;
        if (!f->fo->owns_job)
                snprintf(o->what + n, sizeof o->what - n,
                         "; job/%s may run the task again as a boot retry", f->fo->job);
        else if (delete_job(f, &de) == 0)
                snprintf(o->what + n, sizeof o->what - n,
                         "; job/%s deleted so that its boot retries do not run the task again",
                         f->fo->job);
        else
                snprintf(o->what + n, sizeof o->what - n,
                         "; job/%s NOT deleted (%.200s): its boot retries may run the task again "
                         "(relrun cancel %s)",
                         f->fo->job, de.msg, f->fo->job);
}

/* FailedCreate events of the Job (Pod Security, ResourceQuota). Optional: an
 * RBAC role without events only loses this detail. */
static void watch_events(struct follower *f, struct buf *path, struct buf *sel)
{
        struct err we;
        buf_reset(path);
        buf_reset(sel);
        if (buf_puts(path, "/api/v1/namespaces/") < 0 ||
            kube_query_escape(path, f->fo->namespace_) < 0 || buf_puts(path, "/events") < 0 ||
            buf_printf(sel, "involvedObject.kind=Job,involvedObject.name=%s", f->fo->job) < 0)
                return;
        if (kube_watch_new(f->c, buf_str(path), NULL, buf_str(sel), on_event, f, &f->events, &we) <
            0)
                f->events = NULL;
}

void follow_settle(size_t bytes)
{
        if (bytes == 0 || bytes >= FOLLOW_SETTLE_BYTES)
                return;
        struct timespec ts = {0, FOLLOW_SETTLE_MS * 1000000L};
        nanosleep(&ts, NULL); /* a signal ends it early: the loop sees it next */
}

int follow_job(struct kube_client *c, const struct follow_opts *fo, struct err *e)
{
        struct follower f;
        memset(&f, 0, sizeof f);
        err_clear(e);
        f.fo = fo;
        f.c = c;
        f.t0 = proc_mono_ms();
        struct buf path, sel;
        buf_init(&path, 4096);
        buf_init(&sel, 4096);
        int rc = -1;
        struct outcome o = {0};
        int64_t decided_at = 0;

        int urc = buf_puts(&path, "/api/v1/namespaces/");
        urc |= kube_query_escape(&path, fo->namespace_);
        urc |= buf_puts(&path, "/pods");
        urc |= buf_printf(&sel, "batch.kubernetes.io/job-name=%s", fo->job);
        if (url_check(urc, &path, "watch pods", e) < 0)
                goto out;
        if (kube_watch_new(c, buf_str(&path), buf_str(&sel), NULL, on_pod, &f, &f.pods, e) < 0)
                goto out;
        buf_reset(&path);
        buf_reset(&sel);
        urc = buf_puts(&path, "/apis/batch/v1/namespaces/");
        urc |= kube_query_escape(&path, fo->namespace_);
        urc |= buf_puts(&path, "/jobs");
        urc |= buf_printf(&sel, "metadata.name=%s", fo->job);
        if (url_check(urc, &path, "watch jobs", e) < 0)
                goto out;
        if (kube_watch_new(c, buf_str(&path), NULL, buf_str(&sel), on_job, &f, &f.job, e) < 0)
                goto out;
        watch_events(&f, &path, &sel);

        for (;;) {
                if (relrun_interrupted || kube_client_poll(c, 250, e) < 0) {
                        if (relrun_interrupted)
                                interrupted(&f, e);
                        clear_shown(&f);
                        goto out;
                }
                render_flush(stdout);
                follow_settle(f.round_bytes);
                f.round_bytes = 0;
                if (kube_watch_done(f.pods, e) || kube_watch_done(f.job, e)) {
                        if (e->code == 0)
                                err_set(e, ERR_UNAVAILABLE, "watch ended unexpectedly");
                        if (e->code == ERR_UNAVAILABLE)
                                still_running(&f, e);
                        clear_shown(&f);
                        goto out;
                }
                if (f.events && kube_watch_done(f.events, NULL)) {
                        kube_watch_free(f.events);
                        f.events = NULL;
                }
                if (f.next.set && !o.decided && can_switch(&f))
                        switch_pod(&f);
                if (!o.decided)
                        show_phase(&f);
                if (fo->logs && f.pod.set && !f.logs &&
                    (f.pod.task.running || f.pod.task.terminated) && !f.pod.deleted) {
                        if (kube_logs_new(c, fo->namespace_, f.pod.name, "task", true, on_log, &f,
                                          &f.logs, e) < 0)
                                goto out;
                }
                /* The task never ran: what the failed init container said. */
                if (fo->logs && f.pod.set && !f.logs && f.pod.init_exit && f.pod.init.name[0] &&
                    !f.pod.deleted) {
                        if (kube_logs_new(c, fo->namespace_, f.pod.name, f.pod.init.name, false,
                                          on_log, &f, &f.logs, e) < 0)
                                goto out;
                }
                if (f.logs && (f.pod.task.terminated || f.pod.deleted))
                        kube_logs_container_done(f.logs);
                if (!o.decided) {
                        decide(&f, &o);
                        if (o.decided) {
                                decided_at = proc_mono_ms();
                                if (o.never_ran)
                                        give_up(&f, &o);
                                if (o.rerun)
                                        stop_rerun(&f, &o);
                        }
                }
                if (o.decided) {
                        /* Let the log stream deliver its last lines first:
                         * all of them, however long that takes, unless it
                         * stalls. */
                        struct err le;
                        bool will_open =
                            fo->logs && f.pod.set && !f.pod.deleted &&
                            (f.pod.task.running || f.pod.task.terminated || f.pod.init_exit);
                        bool logs_over =
                            f.logs ? kube_logs_done(f.logs, &le) || f.pod.deleted : !will_open;
                        int64_t quiet_since = f.line_at > decided_at ? f.line_at : decided_at;
                        if (logs_over || proc_mono_ms() - quiet_since > LOG_DRAIN_MS)
                                break;
                }
                if (fo->deadline_ms && proc_mono_ms() - f.t0 > fo->deadline_ms) {
                        clear_shown(&f);
                        err_set(e, ERR_TIMEOUT, "timed out after %.1fs waiting for job/%s",
                                (double)fo->deadline_ms / 1000.0, fo->job);
                        goto out;
                }
        }
        render_flush(stdout);
        if (f.logs) {
                struct err le;
                /* A deleted pod's log may be gone before its last read. */
                if (kube_logs_done(f.logs, &le) && le.code && le.msg[0] &&
                    !(f.pod.deleted || f.pod.deleting || f.jv.deleted))
                        fprintf(stderr, "relrun: warning: %s\n", le.msg);
        }
        summary(&f, &o);
        rc = o.code;
out:
        render_flush(stdout);
        if (rc < 0)
                rc = e->code ? e->code : ERR_SOFTWARE;
        if (fo->sum && !fo->sum->set) {
                /* Not decided (wait --timeout, interrupted, API gone): what is known. */
                snprintf(fo->sum->job, sizeof fo->sum->job, "%s", fo->job);
                snprintf(fo->sum->namespace_, sizeof fo->sum->namespace_, "%s", fo->namespace_);
                snprintf(fo->sum->pod, sizeof fo->sum->pod, "%s", f.pod.set ? f.pod.name : "");
                if (f.expr && !fo->sum->expr) {
                        fo->sum->expr = f.expr;
                        f.expr = NULL;
                }
        }
        free(f.expr);
        kube_watch_free(f.events);
        kube_logs_free(f.logs);
        kube_watch_free(f.pods);
        kube_watch_free(f.job);
        buf_fini(&path);
        buf_fini(&sel);
        return rc;
}
