/* release: talking to an Elixir/Erlang release through its own bin script
 * (the "script" backend) and EPMD.
 *
 * The call is wrapped so one `bin/app rpc` does readiness and the task: it
 * waits on the app node until :init.get_status() is {started, started} (and
 * the user's ready expression is truthy), says "ready" on the rpc's stdout,
 * switches its group leader to the app node's :user (so every log line of
 * the task and of the processes it spawns appears once, in the app's format),
 * evaluates the expression, and reports the inspected return value. Marker
 * lines start with a random tag only relrun-pod knows. */
#ifndef RELRUN_RELEASE_H
#define RELRUN_RELEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define RELEASE_RETURN_MAX 4096

struct release_call {
        const char *expr;       /* the task */
        const char *ready_expr; /* NULL or an expression that must be truthy */
        int64_t ready_timeout_ms;
        const char *tag; /* marker prefix, e.g. "RELRUN-3f2a..." */
};

/* The Elixir text for `bin/app rpc`. Returns -1 only when out is full. */
int release_rpc_expr(const struct release_call *c, struct buf *out);

/* The Elixir text the dist backend evaluates with 'Elixir.Code':eval_string/1
 * on the node. It sends {relrun_ready} to {relrun, self_node} when the task
 * starts and returns {relrun_ok, Inspected, IsErrorTuple} | {relrun_exit, N, _}
 * | {relrun_raise, FormattedError} | {relrun_not_ready}. The node stops itself
 * when self_node disconnects. */
int release_dist_expr(const struct release_call *c, const char *self_node, struct buf *out);

enum release_marker_kind {
        RELEASE_MARK_NONE,      /* not a marker line */
        RELEASE_MARK_READY,     /* boot finished, the task starts now */
        RELEASE_MARK_NOT_READY, /* the ready deadline passed on the node */
        RELEASE_MARK_RESULT,    /* the task returned */
};

struct release_marker {
        enum release_marker_kind kind;
        bool error_tuple;                   /* the value matched {:error, _} */
        char value[RELEASE_RETURN_MAX + 1]; /* inspect form, cut at a UTF-8 boundary */
        bool truncated;
};

/* Recognise one line of the rpc's stdout (no newline). */
void release_parse_marker(const char *tag, const char *line, size_t n, struct release_marker *m);

/* The node's short name: $RELEASE_NODE before any '@', else the script's
 * file name (how the release's env.sh decides). out gets at most n bytes. */
void release_node_name(const char *release_path, char *out, size_t n);

/* Ask EPMD (ERL_EPMD_PORT or 4369 on loopback) whether name is registered:
 * 1 yes (and *port, if not NULL, is the node's distribution port), 0 no (or
 * EPMD not running yet), -1 on a protocol error. */
int release_epmd_registered(const char *name, int *port, struct err *e);

#endif
