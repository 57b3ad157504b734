/* relrun-pod's insides, shared by main.c (the lifecycle) and backend.c (the
 * two ways of calling the node). Not a library: cmd/relrun-pod only. */
#ifndef RELRUN_POD_H
#define RELRUN_POD_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "err.h"
#include "logline.h"
#include "podopts.h"
#include "proc.h"
#include "release.h"

/* One state at a time; pod_step is the only place that changes it
 * (DESIGN.md "relrun-pod's lifecycle, as one table"). */
enum pod_state {
        ST_BOOT,   /* the VM starting: learn its node, wait for it in EPMD */
        ST_CALL,   /* the node program runs: readiness on the node */
        ST_TASK,   /* the task runs */
        ST_LOST,   /* the backend lost the node mid-task: wait for the VM's exit status */
        ST_SETTLE, /* outcome known; the task's last log lines are on their way */
        ST_STOP,   /* the release (and the backend) stopping */
        ST_DRAIN,  /* children gone: read what is left, stop descendants */
        ST_DONE,
};

enum pod_event {
        EV_NODE_SEEN,   /* the node is in EPMD: call it */
        EV_CALL_FAILED, /* the backend could not call the node (d.code, d.retry, d.text) */
        EV_READY,       /* boot finished, the task starts (d.text: the console line) */
        EV_NOT_READY,   /* the ready deadline passed on the node */
        EV_OUTCOME,     /* the task ended: d.code, d.text (reason), d.error, d.result */
        EV_LOST,        /* the backend lost the node while the task ran (d.text) */
        EV_TASK_DONE,   /* the node program's "done" line on the app's stdout */
        EV_APP_EXIT,    /* the release's process exited (d.status) */
        EV_SIGNAL,      /* SIGTERM/SIGINT/... (d.sig) */
        EV_TIMER,
};

struct pod_evdata {
        int code;
        int status;
        int sig;
        bool retry;
        const char *text;
        const char *error;                   /* the task's error, shown as an rpc event */
        const struct release_marker *result; /* the returned value, or NULL */
};

struct child {
        struct proc p;
        bool running;
        int status;
        struct logline_stream *out, *err;
        int64_t last_data;
};

/* The node as discovered: from the VM's command line, else guessed. */
struct pod_node {
        char name[256]; /* alive part, as EPMD knows it */
        char host[256];
        char full[600]; /* name@host */
        bool longnames;
        bool vm_seen; /* name and cookie read from the VM itself */
        bool epmd_seen;
        int port;
        char cookie[256]; /* never printed */
        char cookie_from[128];
        bool no_epmd;
};

struct pod;

/* A backend calls the node program on the node and turns what comes back
 * into events for pod_step. */
struct backend_ops {
        const char *name;
        /* the node is in EPMD: start the call; -1 with e (and *retry) if not */
        int (*start)(struct pod *p, bool *retry, struct err *e);
        /* add the fds to poll; returns how many */
        int (*pollfds)(struct pod *p, struct pollfd *pf, int max);
        /* pf[i] of ours had events */
        void (*ready_fd)(struct pod *p, const struct pollfd *pf);
        /* a child was reaped: true if it was the backend's */
        bool (*reaped)(struct pod *p, pid_t pid, int status);
        /* read whatever is already there (before deciding on an app exit) */
        void (*drain)(struct pod *p);
        /* the outcome is known: let go of the node (its stopper stops it) */
        void (*release)(struct pod *p);
        void (*kill)(struct pod *p);
        /* still has a child running or a pipe open */
        bool (*busy)(const struct pod *p);
        /* at the end: close pipes, flush streams */
        void (*finish)(struct pod *p);
};

extern const struct backend_ops backend_script, backend_dist;

/* A marker line of the node program on the app's stdout (RELEASE_MODE_USER,
 * the script backend on a relx release): n bytes, no newline. */
void backend_user_marker(struct pod *p, const char *line, size_t n);

#define LAST_LINES 12

struct pod_timers {
        int64_t t0, ready_deadline, next_probe, probe_interval;
        int64_t settle_until, lost_until, term_at, stop_deadline, eof_deadline;
        int64_t stop_began, ready_at, task_at;
        int64_t reject_at; /* a refused handshake becomes final then, unless the VM exits */
};

struct pod_outcome {
        bool known;
        int code;
        const char *phase; /* termination "phase": task, boot, ready, killed, config */
        char reason[4096];
        char error[8192]; /* the task's error, printed when the last lines are in */
        bool have_result;
        struct release_marker result;
};

struct pod {
        struct podopts o;
        enum pod_state state;
        int sfd;
        struct logline_format *fmt, *fmt_prev; /* streams borrow fmt_prev until the end */
        bool fmt_from_node;
        char tag[48];
        struct release_call spec;
        struct child app;
        const struct backend_ops *be;
        bool auto_backend; /* --rpc auto: dist, the script backend when dist cannot work */
        struct pod_node node;
        pid_t vm_pid;
        struct pod_timers t;
        struct pod_outcome out; /* while SETTLE: the task's outcome, not yet final */
        bool task_done_seen;
        /* --on-term: `relrun-pod --eval EXPR` as our child, on SIGTERM */
        struct {
                struct child c;
                int64_t started, deadline;
                int sig;
        } hook;
        char rejected[ERR_MSG_MAX + 160]; /* why the node refused us */
        /* Until the node says its console format, the app's output is held
         * (bounded), so boot lines are parsed by it too. */
        struct {
                bool on;
                int64_t until;
                struct buf data;
        } hold;
        int signals;
        struct {
                char lines[LAST_LINES][256];
                unsigned n;
        } last;
        struct buf stdout_buf;
        /* the backends' own state */
        struct {
                struct child rpc; /* bin/NAME rpc */
                struct buf line;  /* its stdout, split by us to spot markers */
                struct buf call;  /* the rpc's Elixir text (relx: the eval's Erlang) */
                int attempts;
                /* relx: `eval` (erl_call), the markers on the app's stdout */
                bool user_markers;
        } script;
        struct {
                struct dist_conn *conn;
                struct dist_pending *pending; /* a connect under way */
        } dist;
};

/* The lifecycle's one transition function. */
void pod_step(struct pod *p, enum pod_event ev, const struct pod_evdata *d);

/* One of relrun-pod's own events (src relrun). */
void pod_note(struct pod *p, enum logline_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* An event of the rpc (src rpc): the task's error. */
void pod_rpc_event(struct pod *p, enum logline_level level, const char *text);
/* Spawn a child with its output on logline streams. */
int pod_start_child(struct pod *p, struct child *c, char *const argv[], enum logline_src src,
                    const char *node, struct err *e);
/* Read what a child's pipe has; false at EOF or when empty. */
bool pod_read_pipe(struct pod *p, struct child *c, int *fd, bool is_out);

#endif
