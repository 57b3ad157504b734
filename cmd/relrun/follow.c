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

#include "relrun.h"

#define POD_NAME_MAX 254

struct pod_view {
        bool set;
        char name[POD_NAME_MAX];
        struct kube_ts created;
        char phase[32];
        char reason[64]; /* status.reason: Evicted, DeadlineExceeded */
        bool unschedulable;
        char sched_msg[200];
        char init_waiting[64]; /* init container waiting reason */
        int init_exit;         /* init container failed with this (0: no) */
        char init_name[64];    /* the init container that failed */
        char waiting[64];      /* task container waiting reason */
        char waiting_msg[200];
        bool running, terminated, deleted;
        bool deleting; /* metadata.deletionTimestamp: someone deleted it */
        int exit_code;
        char term_reason[64]; /* Completed, Error, OOMKilled */
        char term_message[4100];
        char started_at[40], finished_at[40];
};

struct job_view {
        bool seen, complete, failed, deleted;
        char reason[64];
        char message[256];
        char target[64]; /* FailureTarget reason */
        char *expr;      /* the relrun.dev/expr annotation (heap) */
};

struct follower {
        const struct follow_opts *fo;
        struct kube_client *c;
        struct kube_watch *pods, *job;
        struct kube_logs *logs;
        struct pod_view pod;  /* the pod being followed */
        struct pod_view next; /* a newer pod (a boot retry) waiting its turn */
        struct job_view jv;
        char shown[300]; /* pending phase on the terminal */
        int64_t t0;
        int64_t pull_since; /* image pull failing since (ms), 0 if not */
        int64_t complete_since;
        int64_t verdict_since; /* the Job failed while a boot retry was possible */
        int64_t killed_since;  /* the pod was killed or deleted (ms), 0 if not */
        unsigned long lines;
        int64_t line_at; /* when the log stream last delivered a line (ms) */
};

volatile sig_atomic_t relrun_interrupted;

/* ---- reading objects ------------------------------------------------------ */

static struct json_object *get(struct json_object *o, const char *path)
{
        /* "a.b.c" */
        char key[64];
        while (o && *path) {
                size_t n = strcspn(path, ".");
                if (n >= sizeof key)
                        return NULL;
                memcpy(key, path, n);
                key[n] = '\0';
                struct json_object *v;
                if (!json_object_object_get_ex(o, key, &v))
                        return NULL;
                o = v;
                path += n + (path[n] == '.');
        }
        return o;
}

static void copy_str(char *dst, size_t n, struct json_object *o, const char *path)
{
        struct json_object *v = get(o, path);
        snprintf(dst, n, "%s",
                 v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "");
}

static struct json_object *container_status(struct json_object *pod, const char *list,
                                            const char *name)
{
        struct json_object *arr = get(pod, list);
        if (!arr || !json_object_is_type(arr, json_type_array))
                return NULL;
        size_t n = json_object_array_length(arr);
        for (size_t i = 0; i < n; i++) {
                struct json_object *cs = json_object_array_get_idx(arr, i);
                struct json_object *nm = get(cs, "name");
                if (!name || (nm && !strcmp(json_object_get_string(nm), name)))
                        return cs;
        }
        return NULL;
}

static void read_pod(struct json_object *obj, struct pod_view *p)
{
        memset(p, 0, sizeof *p);
        p->set = true;
        copy_str(p->name, sizeof p->name, obj, "metadata.name");
        char created[40];
        copy_str(created, sizeof created, obj, "metadata.creationTimestamp");
        if (kube_ts_parse(created, strlen(created), &p->created) < 0)
                p->created.sec = p->created.nsec = 0;
        copy_str(p->phase, sizeof p->phase, obj, "status.phase");
        copy_str(p->reason, sizeof p->reason, obj, "status.reason");
        p->deleting = get(obj, "metadata.deletionTimestamp") != NULL;
        struct json_object *conds = get(obj, "status.conditions");
        if (conds && json_object_is_type(conds, json_type_array)) {
                for (size_t i = 0; i < json_object_array_length(conds); i++) {
                        struct json_object *cd = json_object_array_get_idx(conds, i);
                        char type[32], status[8], reason[32];
                        copy_str(type, sizeof type, cd, "type");
                        copy_str(status, sizeof status, cd, "status");
                        copy_str(reason, sizeof reason, cd, "reason");
                        if (!strcmp(type, "PodScheduled") && !strcmp(status, "False") &&
                            !strcmp(reason, "Unschedulable")) {
                                p->unschedulable = true;
                                copy_str(p->sched_msg, sizeof p->sched_msg, cd, "message");
                        }
                }
        }
        struct json_object *ics = container_status(obj, "status.initContainerStatuses", NULL);
        if (ics) {
                copy_str(p->init_waiting, sizeof p->init_waiting, ics, "state.waiting.reason");
                struct json_object *ec = get(ics, "state.terminated.exitCode");
                if (ec && json_object_get_int(ec) != 0) {
                        p->init_exit = json_object_get_int(ec);
                        copy_str(p->init_name, sizeof p->init_name, ics, "name");
                }
        }
        struct json_object *cs = container_status(obj, "status.containerStatuses", "task");
        if (!cs)
                return;
        copy_str(p->waiting, sizeof p->waiting, cs, "state.waiting.reason");
        copy_str(p->waiting_msg, sizeof p->waiting_msg, cs, "state.waiting.message");
        p->running = get(cs, "state.running") != NULL;
        struct json_object *t = get(cs, "state.terminated");
        if (t) {
                p->terminated = true;
                struct json_object *ec = get(t, "exitCode");
                p->exit_code = ec ? json_object_get_int(ec) : 1;
                copy_str(p->term_reason, sizeof p->term_reason, t, "reason");
                copy_str(p->term_message, sizeof p->term_message, t, "message");
                copy_str(p->started_at, sizeof p->started_at, t, "startedAt");
                copy_str(p->finished_at, sizeof p->finished_at, t, "finishedAt");
        }
}

static int on_pod(void *ud, enum kube_event_type type, struct json_object *obj)
{
        struct follower *f = ud;
        struct pod_view v;
        read_pod(obj, &v);
        if (!v.name[0])
                return 0;
        if (type == KUBE_EV_DELETED) {
                if (f->pod.set && !strcmp(v.name, f->pod.name)) {
                        /* Keep what the last state said; mark it gone. */
                        if (v.terminated && !f->pod.terminated)
                                f->pod = v;
                        f->pod.deleted = true;
                }
                return 0;
        }
        if (!f->pod.set || !strcmp(v.name, f->pod.name)) {
                bool deleted = f->pod.deleted && !strcmp(v.name, f->pod.name);
                f->pod = v;
                f->pod.deleted = deleted;
                return 0;
        }
        /* An older pod than the one chosen (the list came in name order):
         * follow pods in creation order while nothing was read yet. */
        if (kube_ts_cmp(&v.created, &f->pod.created) < 0 && !f->logs) {
                if (!f->next.set || kube_ts_cmp(&f->pod.created, &f->next.created) > 0)
                        f->next = f->pod;
                f->pod = v;
                return 0;
        }
        /* Another pod of the Job: follow the newest one next. */
        /* creationTimestamp has whole seconds: on a tie the pod that shows
         * up later is the newer one. */
        if (kube_ts_cmp(&v.created, &f->pod.created) >= 0 &&
            (!f->next.set || !strcmp(v.name, f->next.name) ||
             kube_ts_cmp(&v.created, &f->next.created) >= 0))
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
        /* The key has dots, so not through get(). */
        struct json_object *ann = get(obj, "metadata.annotations"), *ex;
        if (!f->jv.expr && ann && json_object_object_get_ex(ann, "relrun.dev/expr", &ex) &&
            json_object_is_type(ex, json_type_string))
                f->jv.expr = strdup(json_object_get_string(ex));
        struct json_object *conds = get(obj, "status.conditions");
        if (!conds || !json_object_is_type(conds, json_type_array))
                return 0;
        for (size_t i = 0; i < json_object_array_length(conds); i++) {
                struct json_object *cd = json_object_array_get_idx(conds, i);
                char t[32], s[8];
                copy_str(t, sizeof t, cd, "type");
                copy_str(s, sizeof s, cd, "status");
                if (strcmp(s, "True"))
                        continue;
                /* Only Complete and Failed are terminal (not FailureTarget,
                 * SuccessCriteriaMet). */
                if (!strcmp(t, "Complete")) {
                        f->jv.complete = true;
                } else if (!strcmp(t, "FailureTarget")) {
                        /* Not terminal, but it names the cause early
                         * (1.31+: Failed comes after the pods are gone). */
                        copy_str(f->jv.target, sizeof f->jv.target, cd, "reason");
                } else if (!strcmp(t, "Failed")) {
                        f->jv.failed = true;
                        copy_str(f->jv.reason, sizeof f->jv.reason, cd, "reason");
                        copy_str(f->jv.message, sizeof f->jv.message, cd, "message");
                }
        }
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
        f->lines++;
        if ((f->lines & 1023) == 1)
                f->line_at = kube_now_ms();
        return 0;
}

/* ---- the outcome ------------------------------------------------------------ */

struct outcome {
        bool decided;
        int code;
        const char *failed; /* the summary's failed_phase; NULL on success */
        char what[512];     /* "succeeded", "task failed", ... */
};

static const char *term_phase(const struct pod_view *p, char *ret, size_t rn, long *dur_ms)
{
        static char phase[16];
        phase[0] = '\0';
        ret[0] = '\0';
        *dur_ms = -1;
        struct json_object *m =
            p->term_message[0] == '{' ? json_tokener_parse(p->term_message) : NULL;
        if (m) {
                copy_str(phase, sizeof phase, m, "phase");
                copy_str(ret, rn, m, "return");
                struct json_object *d = get(m, "duration_ms");
                if (d)
                        *dur_ms = (long)json_object_get_int64(d);
                json_object_put(m);
        }
        return phase;
}

/* Who ended a killed task, when the API says. */
static const char *who(const struct follower *f)
{
        if (f->jv.deleted)
                return ": the job was deleted";
        if (f->pod.deleted || f->pod.deleting)
                return ": the pod was deleted";
        if (!strcmp(f->pod.reason, "Evicted"))
                return ": the pod was evicted";
        return "";
}

static void decide_terminated(const struct follower *f, struct outcome *o)
{
        const struct pod_view *p = &f->pod;
        char ret[256];
        long dur;
        const char *phase = term_phase(p, ret, sizeof ret, &dur);
        int x = p->exit_code;
        o->decided = true;
        o->failed = NULL;
        if (x == 0) {
                o->code = 0;
                snprintf(o->what, sizeof o->what, "succeeded");
        } else if (!strcmp(p->term_reason, "OOMKilled")) {
                o->code = ERR_KILLED;
                o->failed = "killed";
                snprintf(o->what, sizeof o->what, "killed: out of memory (OOMKilled)");
        } else if (x >= 128) {
                o->code = ERR_KILLED;
                o->failed = "killed";
                snprintf(o->what, sizeof o->what, "killed by signal %d%s", x - 128, who(f));
        } else if (x == ERR_SOFTWARE || !strcmp(phase, "boot") || !strcmp(phase, "ready")) {
                o->code = x;
                o->failed = "release never ready";
                snprintf(o->what, sizeof o->what, "release never ready");
        } else if (x == ERR_KILLED || !strcmp(phase, "killed")) {
                o->code = ERR_KILLED;
                o->failed = "killed";
                snprintf(o->what, sizeof o->what, "killed%s", who(f));
        } else if (x == ERR_TIMEOUT) {
                o->code = x;
                o->failed = "deadline";
                snprintf(o->what, sizeof o->what, "deadline: release not ready in time");
        } else if (x == ERR_USAGE || !strcmp(phase, "usage")) {
                o->code = x;
                o->failed = "task failed";
                snprintf(o->what, sizeof o->what, "relrun-pod refused its arguments");
        } else {
                o->code = x;
                o->failed = "task failed";
                snprintf(o->what, sizeof o->what, "task failed");
        }
}

/* The task's code when its pod is gone (TTL, GC): a PodFailurePolicy verdict
 * says "Container task for pod x failed with exit code N matching ...". */
static int job_exit_code(const struct job_view *j)
{
        const char *m = strstr(j->message, "with exit code ");
        if (strcmp(j->reason, "PodFailurePolicy") || !m)
                return ERR_TASK;
        long n = strtol(m + strlen("with exit code "), NULL, 10);
        return n > 0 && n < 256 ? (int)n : ERR_TASK;
}

/* Where the task got to, for a deadline or a failure before it ran. */
static const char *reached(const struct follower *f)
{
        const struct pod_view *p = &f->pod;
        if (!p->set || p->unschedulable || (!p->phase[0] && !p->waiting[0]))
                return "never scheduled";
        if (strstr(p->waiting, "Image") || strstr(p->init_waiting, "Image"))
                return "image pull";
        if (p->running || p->terminated)
                return "task ran past the deadline";
        return "release never ready";
}

/* True once a kill has been seen for long enough without a Job verdict. */
static bool killed_grace(struct follower *f, int64_t now)
{
        if (!f->killed_since)
                f->killed_since = now;
        return now - f->killed_since > 3000;
}

static void decide(struct follower *f, struct outcome *o)
{
        const struct pod_view *p = &f->pod;
        /* Until both lists are in, a pod not seen is only not seen yet. */
        if (!kube_watch_listed(f->pods) || !kube_watch_listed(f->job))
                return;
        bool pod_over = !p->set || p->terminated || p->deleted;
        bool deadline = (f->jv.failed && !strcmp(f->jv.reason, "DeadlineExceeded")) ||
                        (pod_over && !strcmp(f->jv.target, "DeadlineExceeded"));
        /* A newer pod exists: decide on it, not on this one. */
        if (f->next.set && !deadline)
                return;
        if (deadline) {
                o->decided = true;
                o->code = ERR_TIMEOUT;
                o->failed = "deadline";
                snprintf(o->what, sizeof o->what, "deadline exceeded (%s)", reached(f));
                return;
        }
        int64_t now = kube_now_ms();
        if (p->set && p->terminated) {
                struct outcome t;
                decide_terminated(f, &t);
                /* Killed: the Job's verdict (DeadlineExceeded, deleted) may
                 * be on its way and names the real cause. */
                if (t.code == ERR_KILLED && !f->jv.failed && !f->jv.deleted &&
                    !killed_grace(f, now))
                        return;
                /* A boot failure with retries left: the Job makes a new pod.
                 * Its verdict may overtake the new pod's events (two
                 * watches), so give them a moment to arrive. */
                if (t.code == ERR_SOFTWARE && f->fo->boot_retries > 0) {
                        if (!f->jv.failed)
                                return;
                        if (!f->verdict_since)
                                f->verdict_since = now;
                        if (now - f->verdict_since < 1000)
                                return;
                }
                *o = t;
                return;
        }
        if (((p->set && p->deleted) || f->jv.deleted) && (f->jv.deleted || killed_grace(f, now))) {
                o->decided = true;
                o->code = ERR_KILLED;
                o->failed = "killed";
                snprintf(o->what, sizeof o->what, "killed: %s deleted before the task ended",
                         f->jv.deleted ? "job" : "pod");
                return;
        }
        if (p->set && p->init_exit) {
                o->decided = true;
                o->code = ERR_SOFTWARE;
                o->failed = "release never ready";
                snprintf(o->what, sizeof o->what,
                         "release never ready: init container failed (exit %d)", p->init_exit);
                return;
        }
        if (p->set && !strcmp(p->phase, "Failed")) {
                o->decided = true;
                o->code = ERR_KILLED;
                o->failed = "killed";
                snprintf(o->what, sizeof o->what, "killed: pod failed%s%s",
                         p->reason[0] ? ": " : "", p->reason);
                return;
        }
        static const char *fatal_waits[] = {"InvalidImageName", "ErrImageNeverPull",
                                            "CreateContainerConfigError", "CreateContainerError"};
        for (size_t i = 0; i < sizeof fatal_waits / sizeof *fatal_waits; i++) {
                if (!strcmp(p->waiting, fatal_waits[i]) ||
                    !strcmp(p->init_waiting, fatal_waits[i])) {
                        o->decided = true;
                        o->code = ERR_SOFTWARE;
                        o->failed =
                            strstr(fatal_waits[i], "Image") ? "image pull" : "release never ready";
                        snprintf(o->what, sizeof o->what, "%s: %s%s%s",
                                 strstr(fatal_waits[i], "Image") ? "image pull"
                                                                 : "container config",
                                 fatal_waits[i], p->waiting_msg[0] ? ": " : "", p->waiting_msg);
                        return;
                }
        }
        bool pulling = strstr(p->waiting, "ImagePull") || strstr(p->init_waiting, "ImagePull") ||
                       !strcmp(p->waiting, "ErrImagePull") ||
                       !strcmp(p->init_waiting, "ErrImagePull");
        f->pull_since = pulling ? (f->pull_since ? f->pull_since : now) : 0;
        if (pulling && now - f->pull_since > 120000) {
                o->decided = true;
                o->code = ERR_SOFTWARE;
                o->failed = "image pull";
                snprintf(o->what, sizeof o->what, "image pull: %s for 2 minutes%s%s",
                         p->waiting[0] ? p->waiting : p->init_waiting,
                         p->waiting_msg[0] ? ": " : "", p->waiting_msg);
                return;
        }
        if (f->jv.complete || f->jv.failed) {
                /* The pod's final state should follow; do not wait forever. */
                f->complete_since = f->complete_since ? f->complete_since : now;
                if (now - f->complete_since < 5000 && p->set)
                        return;
                o->decided = true;
                o->code = f->jv.complete ? 0 : job_exit_code(&f->jv);
                o->failed = f->jv.complete ? NULL : "task failed";
                snprintf(o->what, sizeof o->what, "%s%s%s",
                         f->jv.complete ? "succeeded" : "job failed",
                         f->jv.failed && f->jv.reason[0] ? ": " : "", f->jv.reason);
        }
}

static void show_phase(struct follower *f)
{
        if (!f->fo->tty || f->lines)
                return;
        const struct pod_view *p = &f->pod;
        char s[sizeof f->shown];
        if (p->running || p->terminated) {
                clear_shown(f);
                return;
        }
        if (!p->set)
                snprintf(s, sizeof s, "Pending: waiting for the pod of job/%s", f->fo->job);
        else if (p->unschedulable)
                snprintf(s, sizeof s, "Pending: Unschedulable: %.200s", p->sched_msg);
        else if (p->init_waiting[0])
                snprintf(s, sizeof s, "Pending: Init:%s", p->init_waiting);
        else if (p->waiting[0])
                snprintf(s, sizeof s, "Pending: %s", p->waiting);
        else
                snprintf(s, sizeof s, "%s", p->phase[0] ? p->phase : "Pending");
        if (strcmp(s, f->shown)) {
                fprintf(stderr, "\r\033[K%s ...", s);
                fflush(stderr);
                snprintf(f->shown, sizeof f->shown, "%s", s);
        }
}

static double pod_seconds(const struct follower *f)
{
        char ret[8];
        long dur;
        term_phase(&f->pod, ret, sizeof ret, &dur);
        if (dur >= 0)
                return (double)dur / 1000.0;
        struct kube_ts a, b;
        if (kube_ts_parse(f->pod.started_at, strlen(f->pod.started_at), &a) == 0 &&
            kube_ts_parse(f->pod.finished_at, strlen(f->pod.finished_at), &b) == 0 &&
            b.sec >= a.sec)
                return (double)(b.sec - a.sec) + (double)(b.nsec - a.nsec) / 1e9;
        return (double)(kube_now_ms() - f->t0) / 1000.0;
}

/* The outcome for people (one line on stderr) and for machines (fo->sum). */
static void summary(struct follower *f, const struct outcome *o)
{
        clear_shown(f);
        char ret[4100] = "";
        long dur;
        if (f->pod.terminated)
                term_phase(&f->pod, ret, sizeof ret, &dur);
        double secs = pod_seconds(f);
        char line[1200];
        int n = snprintf(line, sizeof line, "job/%s%s%s: %s, exit %d, %.1fs", f->fo->job,
                         f->pod.set ? " pod/" : "", f->pod.set ? f->pod.name : "", o->what, o->code,
                         secs);
        if (o->code == 0 && ret[0] && n > 0 && (size_t)n < sizeof line)
                snprintf(line + n, sizeof line - (size_t)n, ", returned %.200s%s", ret,
                         strlen(ret) > 200 ? "..." : "");
        if (f->fo->summary)
                fprintf(stderr, "relrun: %s\n", line);
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
        if (f->jv.expr && !s->expr) {
                s->expr = f->jv.expr;
                f->jv.expr = NULL;
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
        if (!f->pod.terminated && !f->pod.deleted)
                return false;
        if (!f->fo->logs)
                return true;
        if (!f->logs)
                return !f->pod.terminated; /* deleted before it ran: no log to read */
        struct err le;
        return kube_logs_done(f->logs, &le);
}

static void switch_pod(struct follower *f)
{
        if (f->pod.set && f->fo->summary) {
                clear_shown(f);
                fprintf(stderr, "relrun: pod/%s ended (exit %d); following the Job's new pod/%s\n",
                        f->pod.name, f->pod.exit_code, f->next.name);
        }
        kube_logs_free(f->logs);
        f->logs = NULL;
        f->pod = f->next;
        memset(&f->next, 0, sizeof f->next);
        f->pull_since = 0;
}

int follow_job(struct kube_client *c, const struct follow_opts *fo, struct err *e)
{
        struct follower f;
        memset(&f, 0, sizeof f);
        err_clear(e);
        f.fo = fo;
        f.c = c;
        f.t0 = kube_now_ms();
        struct buf path, sel;
        buf_init(&path, 4096);
        buf_init(&sel, 4096);
        int rc = -1;
        struct outcome o = {0};
        int64_t decided_at = 0;

        buf_puts(&path, "/api/v1/namespaces/");
        kube_query_escape(&path, fo->namespace_);
        buf_puts(&path, "/pods");
        buf_printf(&sel, "batch.kubernetes.io/job-name=%s", fo->job);
        if (kube_watch_new(c, buf_str(&path), buf_str(&sel), NULL, on_pod, &f, &f.pods, e) < 0)
                goto out;
        buf_reset(&path);
        buf_reset(&sel);
        buf_puts(&path, "/apis/batch/v1/namespaces/");
        kube_query_escape(&path, fo->namespace_);
        buf_puts(&path, "/jobs");
        buf_printf(&sel, "metadata.name=%s", fo->job);
        if (kube_watch_new(c, buf_str(&path), NULL, buf_str(&sel), on_job, &f, &f.job, e) < 0)
                goto out;

        for (;;) {
                if (relrun_interrupted) {
                        clear_shown(&f);
                        /* 128 + the signal, as a shell reports it. */
                        err_set(
                            e, 128 + relrun_interrupted,
                            "interrupted: job/%s keeps running (relrun logs %s -f; relrun cancel "
                            "%s)",
                            fo->job, fo->job, fo->job);
                        goto out;
                }
                if (kube_client_poll(c, 250, e) < 0)
                        goto out;
                render_flush(stdout);
                if (kube_watch_done(f.pods, e) || kube_watch_done(f.job, e)) {
                        if (e->code == 0)
                                err_set(e, ERR_UNAVAILABLE, "watch ended unexpectedly");
                        clear_shown(&f);
                        goto out;
                }
                if (f.next.set && !o.decided && can_switch(&f))
                        switch_pod(&f);
                if (!o.decided)
                        show_phase(&f);
                if (fo->logs && f.pod.set && !f.logs && (f.pod.running || f.pod.terminated) &&
                    !f.pod.deleted) {
                        if (kube_logs_new(c, fo->namespace_, f.pod.name, "task", true, on_log, &f,
                                          &f.logs, e) < 0)
                                goto out;
                }
                /* The task never ran: what the failed init container said. */
                if (fo->logs && f.pod.set && !f.logs && f.pod.init_exit && f.pod.init_name[0] &&
                    !f.pod.deleted) {
                        if (kube_logs_new(c, fo->namespace_, f.pod.name, f.pod.init_name, false,
                                          on_log, &f, &f.logs, e) < 0)
                                goto out;
                }
                if (f.logs && (f.pod.terminated || f.pod.deleted))
                        kube_logs_container_done(f.logs);
                if (!o.decided) {
                        decide(&f, &o);
                        if (o.decided)
                                decided_at = kube_now_ms();
                }
                if (o.decided) {
                        /* Let the log stream deliver its last lines first:
                         * all of them, however long that takes, unless it
                         * stalls. */
                        struct err le;
                        bool will_open = fo->logs && f.pod.set && !f.pod.deleted &&
                                         (f.pod.running || f.pod.terminated || f.pod.init_exit);
                        bool logs_over =
                            f.logs ? kube_logs_done(f.logs, &le) || f.pod.deleted : !will_open;
                        int64_t quiet_since = f.line_at > decided_at ? f.line_at : decided_at;
                        if (logs_over || kube_now_ms() - quiet_since > 15000)
                                break;
                }
                if (fo->deadline_ms && kube_now_ms() - f.t0 > fo->deadline_ms) {
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
                if (f.jv.expr && !fo->sum->expr) {
                        fo->sum->expr = f.jv.expr;
                        f.jv.expr = NULL;
                }
        }
        free(f.jv.expr);
        kube_logs_free(f.logs);
        kube_watch_free(f.pods);
        kube_watch_free(f.job);
        buf_fini(&path);
        buf_fini(&sel);
        return rc;
}
