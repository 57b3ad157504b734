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

/* ---- the release's kind, from the release itself ----
 *
 * A mix release's bin script has start (the VM in the foreground), start_iex,
 * rpc, eval; a relx (rebar3) release's has foreground, and its start is the
 * deprecated alias of daemon (run_erl: the VM detaches, its output goes to
 * run_erl's pipes). Either has releases/start_erl.data ("ERTS_VSN REL_VSN")
 * and releases/<vsn>/; Elixir is in the release when lib/elixir-<vsn>/ is. */

enum release_kind { RELEASE_KIND_UNKNOWN, RELEASE_KIND_MIX, RELEASE_KIND_RELX };

struct release_layout {
        enum release_kind kind;
        bool elixir;       /* lib/elixir-* present: the node can evaluate Elixir */
        bool releases_dir; /* releases/<vsn>/ exists */
        char vsn[64];      /* the release's version, "" if start_erl.data is missing */
        char erts_vsn[32]; /* the ERTS version it boots, "" likewise */
};

/* The kind of release whose bin script's text is s (n bytes). */
enum release_kind release_kind_of_script(const char *s, size_t n);

/* Read the release around the bin script at path script (its root is the
 * script's bin/..). -1 with ERR_SOFTWARE when the script cannot be read;
 * otherwise 0 and *out filled, kind RELEASE_KIND_UNKNOWN when the script
 * looks like neither. Not thread-safe (one static read buffer). */
int release_layout_read(const char *script, struct release_layout *out, struct err *e);

/* "mix release", "relx release", "release of unknown kind". */
const char *release_kind_name(enum release_kind k);

/* The bin script command that runs the VM in the foreground on our pipes:
 * "foreground" for relx, "start" otherwise. Static string. */
const char *release_start_command(enum release_kind k);

/* Ask EPMD (ERL_EPMD_PORT or 4369 on loopback) whether name is registered:
 * 1 yes (and *port, if not NULL, is the node's distribution port), 0 no (or
 * EPMD not running yet), -1 on a protocol error. */
int release_epmd_registered(const char *name, int *port, struct err *e);

#endif
