/* relrun: the follow decision as a table of rules (see classify.h).
 *
 * The first rule that answers wins: it either decides (a code, a failed
 * phase, a message) or holds (look again later, e.g. while the Job's verdict
 * may still name a better cause). Timers only move in classify_timers_next. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "err.h"

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

static bool is(const char *a, const char *b)
{
        return !strcmp(a, b);
}

/* The item of the array at list whose name is name (NULL: the first). */
static struct json_object *by_name(struct json_object *o, const char *list, const char *name)
{
        struct json_object *arr = get(o, list);
        if (!arr || !json_object_is_type(arr, json_type_array))
                return NULL;
        size_t n = json_object_array_length(arr);
        for (size_t i = 0; i < n; i++) {
                struct json_object *cs = json_object_array_get_idx(arr, i);
                struct json_object *nm = get(cs, "name");
                if (!name || (nm && json_object_is_type(nm, json_type_string) &&
                              is(json_object_get_string(nm), name)))
                        return cs;
        }
        return NULL;
}

static void read_container(struct json_object *pod, struct json_object *cs, const char *spec_list,
                           struct container_view *c)
{
        copy_str(c->name, sizeof c->name, cs, "name");
        struct json_object *sc = by_name(pod, spec_list, c->name);
        copy_str(c->image, sizeof c->image, sc, "image");
        if (!c->image[0])
                copy_str(c->image, sizeof c->image, cs, "image");
        copy_str(c->waiting, sizeof c->waiting, cs, "state.waiting.reason");
        copy_str(c->waiting_msg, sizeof c->waiting_msg, cs, "state.waiting.message");
        c->running = get(cs, "state.running") != NULL;
        struct json_object *t = get(cs, "state.terminated");
        c->terminated = t != NULL;
        struct json_object *ec = get(t, "exitCode");
        c->exit_code = t ? (ec ? json_object_get_int(ec) : 1) : 0;
}

/* The init container that matters: the first one failed or not done yet. */
static void read_init(struct json_object *obj, struct pod_view *p)
{
        struct json_object *arr = get(obj, "status.initContainerStatuses");
        if (!arr || !json_object_is_type(arr, json_type_array))
                return;
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
                struct container_view c;
                memset(&c, 0, sizeof c);
                read_container(obj, json_object_array_get_idx(arr, i), "spec.initContainers", &c);
                if (c.terminated && c.exit_code == 0)
                        continue;
                p->init = c;
                if (c.terminated)
                        p->init_exit = c.exit_code;
                return;
        }
}

static void read_term_message(struct pod_view *p)
{
        p->tm_duration_ms = -1;
        struct json_object *m =
            p->term_message[0] == '{' ? json_tokener_parse(p->term_message) : NULL;
        if (!m)
                return;
        copy_str(p->tm_phase, sizeof p->tm_phase, m, "phase");
        copy_str(p->tm_return, sizeof p->tm_return, m, "return");
        /* relrun-pod's one-line cause of a failure (the exception's first line) */
        copy_str(p->tm_cause, sizeof p->tm_cause, m, "cause");
        char *nl = strchr(p->tm_cause, '\n');
        if (nl)
                *nl = '\0';
        struct json_object *d = get(m, "duration_ms");
        if (d)
                p->tm_duration_ms = (long)json_object_get_int64(d);
        json_object_put(m);
}

void classify_read_pod(struct json_object *obj, struct pod_view *p)
{
        memset(p, 0, sizeof *p);
        p->set = true;
        p->tm_duration_ms = -1;
        copy_str(p->name, sizeof p->name, obj, "metadata.name");
        char created[40];
        copy_str(created, sizeof created, obj, "metadata.creationTimestamp");
        if (kube_ts_parse(created, strlen(created), &p->created) < 0)
                p->created.sec = p->created.nsec = 0;
        char rv[32];
        copy_str(rv, sizeof rv, obj, "metadata.resourceVersion");
        p->rv = strtoull(rv, NULL, 10);
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
                        if (is(type, "PodScheduled") && is(status, "False") &&
                            is(reason, "Unschedulable")) {
                                p->unschedulable = true;
                                copy_str(p->sched_msg, sizeof p->sched_msg, cd, "message");
                        }
                }
        }
        read_init(obj, p);
        struct json_object *cs = by_name(obj, "status.containerStatuses", "task");
        if (!cs) {
                /* Not started yet: still name the task's image. */
                snprintf(p->task.name, sizeof p->task.name, "task");
                copy_str(p->task.image, sizeof p->task.image,
                         by_name(obj, "spec.containers", "task"), "image");
                return;
        }
        read_container(obj, cs, "spec.containers", &p->task);
        struct json_object *t = get(cs, "state.terminated");
        if (t) {
                copy_str(p->term_reason, sizeof p->term_reason, t, "reason");
                copy_str(p->term_message, sizeof p->term_message, t, "message");
                copy_str(p->started_at, sizeof p->started_at, t, "startedAt");
                copy_str(p->finished_at, sizeof p->finished_at, t, "finishedAt");
                read_term_message(p);
        }
}

static void carry_pull_error(const struct container_view *old, struct container_view *c)
{
        if (strcmp(old->name, c->name) || strcmp(old->image, c->image))
                return;
        if (is(c->waiting, "ErrImagePull"))
                snprintf(c->pull_error, sizeof c->pull_error, "%s", c->waiting_msg);
        else if (is(old->waiting, "ErrImagePull") && old->waiting_msg[0])
                snprintf(c->pull_error, sizeof c->pull_error, "%s", old->waiting_msg);
        else
                snprintf(c->pull_error, sizeof c->pull_error, "%s", old->pull_error);
}

void classify_carry(const struct pod_view *old, struct pod_view *p)
{
        if (!old->set || strcmp(old->name, p->name))
                return;
        carry_pull_error(&old->init, &p->init);
        carry_pull_error(&old->task, &p->task);
}

void classify_read_job(struct json_object *obj, struct job_view *j)
{
        j->seen = true;
        struct json_object *conds = get(obj, "status.conditions");
        if (!conds || !json_object_is_type(conds, json_type_array))
                return;
        for (size_t i = 0; i < json_object_array_length(conds); i++) {
                struct json_object *cd = json_object_array_get_idx(conds, i);
                char t[32], s[8];
                copy_str(t, sizeof t, cd, "type");
                copy_str(s, sizeof s, cd, "status");
                if (!is(s, "True"))
                        continue;
                /* Only Complete and Failed are terminal (not FailureTarget,
                 * SuccessCriteriaMet). */
                if (is(t, "Complete")) {
                        j->complete = true;
                } else if (is(t, "FailureTarget")) {
                        /* Not terminal, but it names the cause early
                         * (1.31+: Failed comes after the pods are gone). */
                        copy_str(j->target, sizeof j->target, cd, "reason");
                } else if (is(t, "Failed")) {
                        j->failed = true;
                        copy_str(j->reason, sizeof j->reason, cd, "reason");
                        copy_str(j->message, sizeof j->message, cd, "message");
                }
        }
}

bool classify_read_event(struct json_object *obj, struct job_view *j)
{
        char kind[32], reason[64];
        copy_str(kind, sizeof kind, obj, "involvedObject.kind");
        copy_str(reason, sizeof reason, obj, "reason");
        if (!is(kind, "Job") || !is(reason, "FailedCreate"))
                return false;
        copy_str(j->create_failed, sizeof j->create_failed, obj, "message");
        if (!j->create_failed[0])
                snprintf(j->create_failed, sizeof j->create_failed, "FailedCreate");
        return true;
}

/* ---- timers ------------------------------------------------------------------- */

static bool pulling(const struct container_view *c)
{
        return is(c->waiting, "ErrImagePull") || is(c->waiting, "ImagePullBackOff");
}

/* Since when cond held: kept while it holds, 0 once it does not. */
static int64_t since(bool cond, int64_t prev, int64_t now)
{
        return cond ? (prev ? prev : now) : 0;
}

struct classify_timers classify_timers_next(const struct classify_in *in,
                                            const struct classify_timers *prev)
{
        const struct pod_view *p = in->pod;
        const struct job_view *j = in->job;
        struct classify_timers t;
        bool set = p && p->set;
        t.pull_since =
            since(set && (pulling(&p->init) || pulling(&p->task)), prev->pull_since, in->now);
        t.unsched_since = since(set && p->unschedulable, prev->unsched_since, in->now);
        t.nopod_since =
            since(!set && !j->complete && !j->failed && !j->deleted, prev->nopod_since, in->now);
        t.complete_since = since(j->complete || j->failed, prev->complete_since, in->now);
        t.verdict_since =
            since(set && p->task.terminated && j->failed, prev->verdict_since, in->now);
        t.killed_since = since((set && (p->task.terminated || p->deleted)) || j->deleted,
                               prev->killed_since, in->now);
        return t;
}

/* ---- rules -------------------------------------------------------------------- */

enum verdict {
        NEXT,   /* the rule does not apply */
        HOLD,   /* wait: look again */
        DECIDE, /* o is filled */
};

struct ctx {
        const struct classify_in *in;
        const struct pod_view *p;
        const struct job_view *j;
        const struct classify_timers *t;
        struct outcome *o;
};

static bool held_for(int64_t since_ms, int64_t now, int64_t ms)
{
        return since_ms && now - since_ms >= ms;
}

static enum verdict decide(struct ctx *x, int code, const char *failed, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum verdict decide(struct ctx *x, int code, const char *failed, const char *fmt, ...)
{
        x->o->decided = true;
        x->o->code = code;
        x->o->failed = failed;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(x->o->what, sizeof x->o->what, fmt, ap);
        va_end(ap);
        return DECIDE;
}

/* Who ended a killed task, when the API says. */
static const char *who(const struct ctx *x)
{
        if (x->j->deleted)
                return ": the job was deleted";
        if (x->p->deleted || x->p->deleting)
                return ": the pod was deleted";
        if (is(x->p->reason, "Evicted"))
                return ": the pod was evicted";
        return "";
}

/* Where the task got to, for a deadline. */
static const char *reached(const struct pod_view *p)
{
        if (!p->set || p->unschedulable || (!p->phase[0] && !p->task.waiting[0]))
                return "never scheduled";
        if (strstr(p->task.waiting, "Image") || strstr(p->init.waiting, "Image"))
                return "image pull";
        if (p->task.running || p->task.terminated)
                return "task ran past the deadline";
        return "release never ready";
}

static enum verdict r_deadline(struct ctx *x)
{
        bool pod_over = !x->p->set || x->p->task.terminated || x->p->deleted;
        if ((x->j->failed && is(x->j->reason, "DeadlineExceeded")) ||
            (pod_over && is(x->j->target, "DeadlineExceeded")))
                return decide(x, ERR_TIMEOUT, "deadline", "deadline exceeded (%s)", reached(x->p));
        return NEXT;
}

static enum verdict r_newer_pod(struct ctx *x)
{
        /* Decide on the newer pod, not on this one. */
        return x->in->newer_pod ? HOLD : NEXT;
}

/* The termination message says the task itself started. */
static bool p_ran(const struct pod_view *p)
{
        return is(p->tm_phase, "task") || is(p->tm_phase, "killed");
}

/* The task container terminated: its exit code and termination message. */
static enum verdict terminated(struct ctx *x)
{
        const struct pod_view *p = x->p;
        int c = p->task.exit_code;
        const char *ph = p->tm_phase;
        if (c == 0)
                return decide(x, 0, NULL, "succeeded");
        if (is(p->term_reason, "OOMKilled"))
                return decide(x, ERR_KILLED, "killed", "killed: out of memory (OOMKilled)");
        if (c >= 128)
                return decide(x, ERR_KILLED, "killed", "killed by signal %d%s", c - 128, who(x));
        /* The task ran: never a boot failure, whatever its code says. */
        if (is(ph, "killed") || (c == ERR_KILLED && (is(ph, "task") || !ph[0])))
                return decide(x, ERR_KILLED, "killed", "killed%s", who(x));
        if (is(ph, "task"))
                return decide(x, c, "task failed", "task failed");
        if (c == ERR_SOFTWARE || is(ph, "boot") || is(ph, "ready"))
                return decide(x, c, "release never ready", "release never ready");
        if (c == ERR_TIMEOUT)
                return decide(x, c, "deadline", "deadline: release not ready in time");
        if (c == ERR_USAGE || is(ph, "usage"))
                return decide(x, c, "task failed", "relrun-pod refused its arguments");
        return decide(x, c, "task failed", "task failed");
}

static enum verdict r_terminated(struct ctx *x)
{
        if (!x->p->set || !x->p->task.terminated)
                return NEXT;
        struct outcome keep = *x->o;
        terminated(x);
        const struct outcome *t = x->o;
        /* Killed: the Job's verdict (DeadlineExceeded, deleted) may be on its
         * way and names the real cause. */
        bool hold = t->code == ERR_KILLED && !x->j->failed && !x->j->deleted &&
                    !held_for(x->t->killed_since, x->in->now, CLASSIFY_KILLED_VERDICT_MS);
        /* A boot failure with retries left: the Job makes a new pod. Its
         * verdict may overtake the new pod's events (two watches). */
        if (t->code == ERR_SOFTWARE && is(t->failed, "release never ready") &&
            x->in->boot_retries > 0)
                hold = !x->j->failed ||
                       !held_for(x->t->verdict_since, x->in->now, CLASSIFY_BOOT_VERDICT_MS);
        if (hold) {
                *x->o = keep;
                return HOLD;
        }
        /* The podFailurePolicy counts exit 70 against --boot-retries; it
         * cannot read the termination message that says the task ran. */
        x->o->rerun =
            p_ran(x->p) && x->p->task.exit_code == ERR_SOFTWARE && x->in->boot_retries > 0;
        return DECIDE;
}

static enum verdict r_deleted(struct ctx *x)
{
        bool gone = (x->p->set && x->p->deleted) || x->j->deleted;
        if (!gone)
                return NEXT;
        if (!x->j->deleted && !held_for(x->t->killed_since, x->in->now, CLASSIFY_KILLED_VERDICT_MS))
                return HOLD;
        return decide(x, ERR_KILLED, "killed", "killed: %s deleted before the task ended",
                      x->j->deleted ? "job" : "pod");
}

static const char *create_fix(const char *msg)
{
        if (strstr(msg, "PodSecurity") || strstr(msg, "pod-security"))
                return " (the pod's security context: --run-as-user makes it pass "
                       "\"restricted\")";
        if (strstr(msg, "exceeded quota") || strstr(msg, "must specify"))
                return " (the namespace's ResourceQuota: set --cpu and --memory within it)";
        return "";
}

static enum verdict r_create_failed(struct ctx *x)
{
        /* The Job keeps trying, but admission refuses every pod the same way. */
        if (!x->j->create_failed[0] || (x->p->set && x->p->phase[0]))
                return NEXT;
        x->o->never_ran = true;
        return decide(x, ERR_CONFIG, "pod rejected", "pod rejected: %.380s%s", x->j->create_failed,
                      create_fix(x->j->create_failed));
}

static enum verdict r_init_failed(struct ctx *x)
{
        if (!x->p->set || !x->p->init_exit)
                return NEXT;
        return decide(x, ERR_SOFTWARE, "release never ready",
                      "release never ready: init container failed (exit %d): %s (image %.200s)",
                      x->p->init_exit, x->p->init.name[0] ? x->p->init.name : "?",
                      x->p->init.image[0] ? x->p->init.image : "?");
}

static enum verdict r_pod_failed(struct ctx *x)
{
        if (!x->p->set || !is(x->p->phase, "Failed"))
                return NEXT;
        return decide(x, ERR_KILLED, "killed", "killed: pod failed%s%s",
                      x->p->reason[0] ? ": " : "", x->p->reason);
}

/* The container a waiting reason is on: the init container first (it runs
 * first), then the task. */
static const struct container_view *waiting_on(const struct pod_view *p,
                                               bool (*match)(const char *reason))
{
        if (match(p->init.waiting))
                return &p->init;
        if (match(p->task.waiting))
                return &p->task;
        return NULL;
}

static enum verdict fail_on(struct ctx *x, const struct container_view *c, int code,
                            const char *failed, const char *extra)
{
        x->o->never_ran = true;
        /* After the back-off the message only says "Back-off pulling": the
         * cause is in the last ErrImagePull. */
        bool cause = c->pull_error[0] && !is(c->waiting, "ErrImagePull");
        return decide(x, code, failed, "%s: %s container %s (image %.150s): %s%s%.150s%s%.150s%s%s",
                      failed, c == &x->p->init ? "init" : "task", c->name,
                      c->image[0] ? c->image : "?", c->waiting, c->waiting_msg[0] ? ": " : "",
                      c->waiting_msg, cause ? " (last error: " : "", cause ? c->pull_error : "",
                      cause ? ")" : "", extra);
}

static bool config_reason(const char *r)
{
        return is(r, "CreateContainerConfigError") || is(r, "CreateContainerError");
}

static enum verdict r_config(struct ctx *x)
{
        const struct container_view *c = x->p->set ? waiting_on(x->p, config_reason) : NULL;
        return c ? fail_on(x, c, ERR_CONFIG, "container config", "") : NEXT;
}

static bool bad_image(const char *r)
{
        return is(r, "InvalidImageName") || is(r, "ErrImageNeverPull");
}

static enum verdict r_bad_image(struct ctx *x)
{
        const struct container_view *c = x->p->set ? waiting_on(x->p, bad_image) : NULL;
        return c ? fail_on(x, c, ERR_SOFTWARE, "image pull", "") : NEXT;
}

static bool back_off(const char *r)
{
        return is(r, "ImagePullBackOff");
}

static bool pull_error(const char *r)
{
        return is(r, "ErrImagePull") || back_off(r);
}

static enum verdict r_pull(struct ctx *x)
{
        if (!x->p->set)
                return NEXT;
        /* After the kubelet's first back-off, or a pull failing long enough. */
        const struct container_view *c = waiting_on(x->p, back_off);
        if (!c && held_for(x->t->pull_since, x->in->now, CLASSIFY_PULL_GIVE_UP_MS))
                c = waiting_on(x->p, pull_error);
        return c ? fail_on(x, c, ERR_SOFTWARE, "image pull", "") : NEXT;
}

static int64_t schedule_limit(const struct classify_in *in);

static enum verdict r_unschedulable(struct ctx *x)
{
        int64_t limit = schedule_limit(x->in);
        if (!x->p->set || !x->p->unschedulable || !held_for(x->t->unsched_since, x->in->now, limit))
                return NEXT;
        x->o->never_ran = true;
        return decide(x, ERR_TIMEOUT, "never scheduled",
                      "never scheduled: Unschedulable for %llds (--schedule-timeout): %.300s",
                      (long long)(limit / 1000), x->p->sched_msg);
}

static int64_t schedule_limit(const struct classify_in *in)
{
        return in->schedule_timeout_ms > 0 ? in->schedule_timeout_ms : CLASSIFY_SCHEDULE_TIMEOUT_MS;
}

static enum verdict r_no_pod(struct ctx *x)
{
        /* No pod and no FailedCreate seen (a role without events, a quota
         * message that never came): the same limit as the scheduler's. */
        int64_t limit = schedule_limit(x->in);
        if (x->p->set || !held_for(x->t->nopod_since, x->in->now, limit))
                return NEXT;
        x->o->never_ran = true;
        return decide(x, ERR_TIMEOUT, "never scheduled",
                      "never scheduled: the Job made no pod for %llds (--schedule-timeout); "
                      "its events say why (kubectl describe job)",
                      (long long)(limit / 1000));
}

static int job_exit_code(const struct job_view *j)
{
        /* A PodFailurePolicy verdict says "Container task for pod x failed
         * with exit code N matching ...". */
        const char *m = strstr(j->message, "with exit code ");
        if (!is(j->reason, "PodFailurePolicy") || !m)
                return ERR_TASK;
        long n = strtol(m + strlen("with exit code "), NULL, 10);
        return n > 0 && n < 256 ? (int)n : ERR_TASK;
}

static enum verdict r_job_over(struct ctx *x)
{
        if (!x->j->complete && !x->j->failed)
                return NEXT;
        /* The pod's final state should follow; do not wait forever. */
        if (x->p->set && !held_for(x->t->complete_since, x->in->now, CLASSIFY_POD_LAG_MS))
                return HOLD;
        if (x->j->complete)
                return decide(x, 0, NULL, "succeeded");
        return decide(x, job_exit_code(x->j), "task failed", "job failed%s%s",
                      x->j->reason[0] ? ": " : "", x->j->reason);
}

static const struct rule {
        const char *name;
        enum verdict (*apply)(struct ctx *x);
} rules[] = {
    {"deadline", r_deadline},           /* the Job's deadline passed */
    {"newer pod", r_newer_pod},         /* a boot retry's pod waits its turn */
    {"terminated", r_terminated},       /* the task container's own end */
    {"deleted", r_deleted},             /* pod or Job deleted before it ended */
    {"create failed", r_create_failed}, /* admission refused the pod (FailedCreate) */
    {"init failed", r_init_failed},     /* relrun-pod's init container failed */
    {"pod failed", r_pod_failed},       /* evicted, node lost */
    {"config", r_config},               /* CreateContainerConfigError: a missing Secret */
    {"bad image", r_bad_image},         /* InvalidImageName: never pulls */
    {"pull", r_pull},                   /* ErrImagePull / ImagePullBackOff */
    {"unschedulable", r_unschedulable}, /* --schedule-timeout passed */
    {"job over", r_job_over},           /* Complete/Failed without the pod's last state */
    {"no pod", r_no_pod},               /* no pod at all for --schedule-timeout */
};

void classify(const struct classify_in *in, const struct classify_timers *t, struct outcome *o)
{
        static const struct pod_view none;
        memset(o, 0, sizeof *o);
        struct ctx x = {in, in->pod ? in->pod : &none, in->job, t, o};
        for (size_t i = 0; i < sizeof rules / sizeof *rules; i++) {
                enum verdict v = rules[i].apply(&x);
                if (v == NEXT)
                        continue;
                if (v == DECIDE)
                        o->rule = rules[i].name;
                else
                        memset(o, 0, sizeof *o);
                return;
        }
}

const char *classify_annotation(struct json_object *obj, const char *key)
{
        struct json_object *md, *ann, *v;
        return json_object_object_get_ex(obj, "metadata", &md) &&
                       json_object_object_get_ex(md, "annotations", &ann) &&
                       json_object_object_get_ex(ann, key, &v) &&
                       json_object_is_type(v, json_type_string)
                   ? json_object_get_string(v)
                   : NULL;
}
