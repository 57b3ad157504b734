/* relrun: the follow decision — what the pod and its Job say about a run.
 *
 * Pure: views are read from the API's JSON (classify_read_pod, _job), timers
 * advance from one look to the next (classify_timers_next), and classify
 * answers "wait" or "decided, with this code and this message" from the views,
 * the time and the timers alone. It prints nothing, asks nothing and keeps
 * no state, so every rule is tested by feeding it recorded objects. */
#ifndef RELRUN_CLASSIFY_H
#define RELRUN_CLASSIFY_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "kube.h"

/* How long each wait lasts before the next rule decides (ms). */
enum {
        /* ErrImagePull without the kubelet's first back-off yet. */
        CLASSIFY_PULL_GIVE_UP_MS = 30000,
        /* A killed or deleted pod: the Job's verdict may follow and name the
         * real cause (DeadlineExceeded, job deleted). */
        CLASSIFY_KILLED_VERDICT_MS = 3000,
        /* A boot failure with retries left whose Job already failed: the new
         * pod's events may trail the verdict (two watches). */
        CLASSIFY_BOOT_VERDICT_MS = 1000,
        /* The Job is over but its pod's last state has not arrived. */
        CLASSIFY_POD_LAG_MS = 5000,
        /* --schedule-timeout default: a cluster autoscaler adds a node in a
         * few minutes. */
        CLASSIFY_SCHEDULE_TIMEOUT_MS = 15 * 60 * 1000,
};

#define CLASSIFY_NAME_MAX 254

/* One container as the pod's status says it (with its image from spec). */
struct container_view {
        char name[64];
        char image[256];
        char waiting[64]; /* state.waiting.reason */
        char waiting_msg[256];
        char pull_error[256]; /* the last ErrImagePull message (classify_carry) */
        bool running, terminated;
        int exit_code;
};

struct pod_view {
        bool set;
        char name[CLASSIFY_NAME_MAX];
        struct kube_ts created;
        unsigned long long rv; /* metadata.resourceVersion, when it is a number */
        char phase[32];
        char reason[64]; /* status.reason: Evicted, DeadlineExceeded */
        bool unschedulable;
        char sched_msg[256];
        struct container_view init; /* the init container not done yet, or the failed one */
        int init_exit;              /* init container failed with this (0: no) */
        struct container_view task; /* the container named "task" */
        bool deleted;               /* a DELETED event (set by the caller) */
        bool deleting;              /* metadata.deletionTimestamp: someone deleted it */
        char term_reason[64];       /* Completed, Error, OOMKilled */
        char term_message[4100];
        char tm_phase[16]; /* the termination message's phase: task, boot, ready, killed */
        char tm_return[4100];
        char tm_cause[600];  /* why a failed task failed, one line; "" when none */
        long tm_duration_ms; /* -1 unknown */
        char started_at[40], finished_at[40];
};

struct job_view {
        bool seen, complete, failed, deleted;
        char reason[64];
        char message[256];
        char target[64];         /* FailureTarget reason */
        char create_failed[512]; /* a FailedCreate event's message (Pod Security, quota) */
};

struct classify_timers {
        int64_t pull_since;     /* an image pull failing since (ms), 0 if not */
        int64_t unsched_since;  /* Unschedulable since */
        int64_t nopod_since;    /* the Job runs but has no pod since */
        int64_t complete_since; /* the Job over, its pod's last state missing */
        int64_t verdict_since;  /* the Job failed while a boot retry was possible */
        int64_t killed_since;   /* the pod killed or deleted, no Job verdict yet */
};

struct classify_in {
        const struct pod_view *pod; /* the pod followed (pod->set false: none yet) */
        bool newer_pod;             /* a newer pod of the Job waits its turn */
        const struct job_view *job;
        int64_t now; /* ms, same clock as the timers */
        int64_t boot_retries;
        int64_t schedule_timeout_ms; /* 0: CLASSIFY_SCHEDULE_TIMEOUT_MS */
};

struct outcome {
        bool decided;
        int code;
        const char *failed; /* the summary's failed_phase; NULL on success */
        const char *rule;   /* the rule that decided (tests, -v) */
        bool never_ran;     /* the pod never ran the task: nobody needs the Job */
        bool rerun;         /* the task ran, yet the Job counts it as a boot failure
                               and would run it again (exit 70 with boot retries) */
        char what[512];     /* "succeeded", "task failed", ... */
};

/* Read a pod object into *p (all of it replaced). */
void classify_read_pod(struct json_object *obj, struct pod_view *p);
/* A newer view of the same pod keeps what only an older one said: the last
 * ErrImagePull message, which ImagePullBackOff replaces with "Back-off
 * pulling image" (the cause: not found, unauthorized). */
void classify_carry(const struct pod_view *old, struct pod_view *p);
/* Add what a Job object's conditions say to *j (flags only ever get set). */
void classify_read_job(struct json_object *obj, struct job_view *j);

/* The string annotation key of a Job or pod (metadata.annotations), or NULL
 * when it has none; borrowed from obj. */
const char *classify_annotation(struct json_object *obj, const char *key);
/* Note a core/v1 Event; returns true when it concerns the Job (FailedCreate). */
bool classify_read_event(struct json_object *obj, struct job_view *j);

/* The timers after a look at in, from the previous ones. */
struct classify_timers classify_timers_next(const struct classify_in *in,
                                            const struct classify_timers *prev);
/* The decision for in with timers t (already advanced); o->decided false:
 * wait and look again. */
void classify(const struct classify_in *in, const struct classify_timers *t, struct outcome *o);

#endif
