/* release: talking to an Elixir/Erlang release: the node program both
 * backends run on it, the marker lines of the script backend, EPMD.
 *
 * The node program (relrun_node.erl, embedded at build time) does readiness
 * and the task in one call: it waits on the node until :init.get_status() is
 * {started, started} (and the user's ready expression is truthy), says
 * "ready" with the node's console format, switches its group leader to the
 * node's :user (so every log line of the task and of the processes it spawns
 * appears once, in the app's format), evaluates the expression, flushes the
 * logger, writes "<tag> done" on the node's :user and reports the outcome.
 * The script backend's marker lines start with a random tag only relrun-pod
 * knows. */
#ifndef RELRUN_RELEASE_H
#define RELRUN_RELEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "err.h"

#define RELEASE_RETURN_MAX 4096

/* The language of the task's text (and of the ready expression). */
enum release_lang { RELEASE_LANG_ELIXIR, RELEASE_LANG_ERLANG };

/* How the node program reports back (its Args "mode"). */
enum release_mode {
        RELEASE_MODE_DIST = 1,   /* the value of the call (a C node's rpc) */
        RELEASE_MODE_SCRIPT = 2, /* marker lines on the rpc's output (mix `rpc`) */
        /* marker lines on the node's own user, that is the app's stdout: relx's
         * `eval` (erl_call) gives the call no output of its own until it returns */
        RELEASE_MODE_USER = 3,
};

struct release_call {
        const char *expr; /* the task */
        enum release_lang lang;
        const char *ready_expr; /* NULL or an expression that must be truthy */
        int64_t ready_timeout_ms;
        bool no_fast_stop; /* the node stops only by SIGTERM: no stopper armed */
        const char *tag;   /* marker prefix, e.g. "RELRUN-3f2a..." */
};

/* The node program's source, NUL-terminated (generated from relrun_node.erl). */
extern const char release_node_src[];
extern const size_t release_node_src_len;
/* relrun-pod --eval's program (relrun_eval.erl), the same way */
extern const char release_eval_src[];
extern const size_t release_eval_src_len;

/* The Elixir text for `bin/app rpc`. Returns -1 only when out is full. */
int release_rpc_expr(const struct release_call *c, struct buf *out);

/* The Erlang text for a relx release's `bin/app eval` (erl_call -e): the same
 * node program in RELEASE_MODE_USER, no Elixir needed on the node. Returns
 * -1 only when out is full. */
int release_eval_expr(const struct release_call *c, struct buf *out);

/* One binding of the node program's Args: an integer or a binary. */
struct release_arg {
        const char *key;
        bool is_int;
        long long n;
        const char *s; /* borrowed */
        size_t len;
};

#define RELEASE_ARGS_MAX 12

/* The node program's Args for mode (and peer: the node whose going away
 * stops the release, "" for the caller's), as terms for a caller that
 * encodes them itself (the dist backend: erl_eval on the node, no text).
 * Returns how many were written to out[RELEASE_ARGS_MAX]; they borrow c. */
size_t release_program_args(const struct release_call *c, enum release_mode mode, const char *peer,
                            int poll_ms, struct release_arg *out);

/* The Elixir text the dist backend evaluates with 'Elixir.Code':eval_string/1
 * on the node. It sends {relrun_ready, Console} to {relrun, self_node} when
 * the task starts (Console: see release_console_parse) and returns
 * {relrun_ok, Inspected, IsErrorTuple} | {relrun_exit, N, _}
 * | {relrun_raise, FormattedError} | {relrun_not_ready}. The node stops itself
 * when self_node disconnects. */
int release_dist_expr(const struct release_call *c, const char *self_node, struct buf *out);

enum release_marker_kind {
        RELEASE_MARK_NONE,      /* not a marker line */
        RELEASE_MARK_READY,     /* boot finished, the task starts now */
        RELEASE_MARK_NOT_READY, /* the ready deadline passed on the node */
        RELEASE_MARK_RESULT,    /* the task returned */
        RELEASE_MARK_EXIT,      /* exit({:shutdown, N}): code */
        RELEASE_MARK_RAISE,     /* raise/throw/exit: text is the formatted error */
};

struct release_marker {
        enum release_marker_kind kind;
        bool error_tuple;                   /* the value matched {:error, _} */
        char value[RELEASE_RETURN_MAX + 1]; /* inspect form, cut at a UTF-8 boundary */
        bool truncated;
        int code;        /* RELEASE_MARK_EXIT */
        char text[8192]; /* RELEASE_MARK_RAISE: the error; READY: the console line */
};

/* Recognise one line of the rpc's stdout (no newline). */
void release_parse_marker(const char *tag, const char *line, size_t n, struct release_marker *m);

/* The console format the node logs with, as the node program reports it
 * ("FORMAT64 utc|local KEY..."): the Logger format string, whether times are
 * UTC, the metadata keys it prints. */
struct release_console {
        char format[1024];
        bool utc;
        char metadata[512]; /* space-separated keys */
};

/* Parse the console line; -1 when it is not one (out untouched). */
int release_console_parse(const char *s, size_t n, struct release_console *out);

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

/* ---- discovery: what the started VM itself says ----
 *
 * relrun-pod is the VM's parent: the command line and environment of its
 * beam.smp are what the release's env.sh produced (RELEASE_NODE=app@$POD_IP,
 * RELEASE_COOKIE from a mounted Secret...), which relrun-pod's own
 * environment does not see. */

struct release_vm {
        bool distributed; /* -name or -sname given */
        bool longnames;   /* -name */
        bool no_epmd;     /* -epmd_module (not erl_epmd): EPMD is not the registry */
        int epmd_port;    /* ERL_EPMD_PORT of the VM, 0 if unset */
        bool dist_none;   /* RELEASE_DISTRIBUTION=none in its environment */
        /* -dist_listen false or -boot no_dot_erlang: a VM nobody can call,
         * such as those relx's script starts first to learn the host part of
         * node names and the ERTS root */
        bool no_listen;
        char name[256];         /* the alive part, as EPMD knows it */
        char host[256];         /* the host part; "" when the VM gave none */
        bool have_cookie;       /* -setcookie or RELEASE_COOKIE seen */
        char cookie[256];       /* never printed */
        char home[1024];        /* $HOME of the VM ("" if unknown): ~/.erlang.cookie */
        char release_node[512]; /* $RELEASE_NODE of the VM, "" if unset */
};

/* Read a VM's command line (NUL-separated arguments, as /proc/PID/cmdline)
 * and environment (NUL-separated NAME=VALUE, as /proc/PID/environ; may be
 * NULL) into *out. Arguments after -extra are the program's, not the VM's.
 * Always succeeds; fields not found stay empty/false. */
void release_vm_parse(const char *cmdline, size_t n, const char *environ, size_t en,
                      struct release_vm *out);

/* Read the release's releases/<vsn>/vm.args (relx writes it from
 * vm.args.src when the release starts; into $RELX_OUT_FILE_PATH when that is
 * a directory) next to the bin script at script, as
 * if its flags were the VM's command line: -sname/-name, -setcookie. 1 when
 * read (and *out filled), 0 when there is none. */
int release_vm_args_read(const char *script, struct release_vm *out);

/* True when the file name of argv[0] of this command line is a BEAM
 * emulator (beam, beam.smp, beam.debug.smp...). */
bool release_is_beam(const char *cmdline, size_t n);

/* The /proc command line of process pid into cmd (cap bytes) when pid is a
 * BEAM, by its argv[0], else by its executable (relx names the VM after its
 * script); the executable is read first, so a process caught while it execs
 * the VM never gives the command line of the program it replaced. Returns
 * its length, 0 when pid is no BEAM (yet), -1 when it is gone. */
ssize_t release_beam_cmdline(pid_t pid, char *cmd, size_t cap);

/* Find the release's VM: pid itself once it has exec'd the emulator, else a
 * process of its process group that has (a release that forks). Reads
 * /proc (the command line's argv[0], else the executable: relx names the VM
 * after its script). Returns 1 and fills *out when found, 0 when not (yet). *vm_pid gets
 * its pid. */
int release_vm_find(pid_t pid, pid_t *vm_pid, struct release_vm *out);

#endif
