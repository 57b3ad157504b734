/* dist: relrun-pod as a hidden C node (erl_interface): connect to the
 * release's node over Erlang distribution, evaluate an Elixir expression
 * there without blocking, and read the replies from the event loop.
 *
 * No DNS anywhere: the node's port comes from EPMD (release module) and the
 * connection goes to 127.0.0.1, so the static binary needs no NSS. */
#ifndef RELRUN_DIST_H
#define RELRUN_DIST_H

#include <stdbool.h>

#include "err.h"

#define DIST_VALUE_MAX 4096

struct dist_conn;

/* Connect to the node listening on 127.0.0.1:port, as the hidden node
 * "relrun_<pid>@host" (host: the host part the release's node uses, so a
 * node with long names accepts it), with the release's cookie (never
 * printed). *out is freed by dist_close. Errors: ERR_SOFTWARE (refused, not
 * listening yet), or ERR_CONFIG with *rejected set when the node answered
 * and refused the handshake (a wrong cookie). */
int dist_connect(const char *host, int port, const char *cookie, unsigned timeout_ms,
                 struct dist_conn **out, bool *rejected, struct err *e);

/* The same without blocking the caller: the connect and handshake run in a
 * thread. Poll dist_pending_fd; once it is readable, dist_connect_finish
 * gives dist_connect's result and frees p. dist_pending_free gives up on it
 * (waits for the thread, closes what it made; NULL is fine). The cookie is
 * copied and wiped after use. */
struct dist_pending;
int dist_connect_start(const char *host, int port, const char *cookie, unsigned timeout_ms,
                       struct dist_pending **out, struct err *e);
int dist_pending_fd(const struct dist_pending *p);
int dist_connect_finish(struct dist_pending *p, struct dist_conn **out, bool *rejected,
                        struct err *e);
void dist_pending_free(struct dist_pending *p);

/* The socket to poll for replies. */
int dist_fd(const struct dist_conn *c);

/* Our own node name, e.g. "relrun_42@pod". Borrowed. */
const char *dist_self(const struct dist_conn *c);

/* Send 'Elixir.Code':eval_string(Text) to the node's rex server; the answer
 * comes later through dist_receive. */
int dist_eval(struct dist_conn *c, const char *text, struct err *e);

/* One binding of a program's Args: an integer or a binary (borrowed). */
struct dist_arg {
        const char *key;
        bool is_int;
        long long n;
        const char *s;
        size_t len;
};

/* Run the Erlang program src (a sequence of expressions, n bytes) on the
 * node with erl_scan, erl_parse and erl_eval, nothing else (any BEAM, no
 * Elixir): the call is erl_eval:expr/5 of a fixed bootstrap whose bindings
 * carry src as a binary and Args, the proplist of args[0..nargs), as terms.
 * The reply comes like dist_eval's: the program's value V as {V, []}. */
int dist_run_program(struct dist_conn *c, const char *src, size_t n, const struct dist_arg *args,
                     size_t nargs, struct err *e);

enum dist_kind {
        DIST_NOTHING,   /* a tick, or nothing complete yet */
        DIST_READY,     /* boot finished, the task starts; text: the console line */
        DIST_NOT_READY, /* the ready deadline passed on the node */
        DIST_OK,        /* the task returned: value (inspect form), error_tuple */
        DIST_EXIT,      /* exit({:shutdown, N}): code */
        DIST_RAISE,     /* raise/throw/exit: text is the formatted error */
        DIST_BADRPC,    /* the call itself failed: text says why */
        DIST_OUTPUT,    /* {relrun_out, Bin}: a chunk of an eval's output in text */
};

struct dist_reply {
        enum dist_kind kind;
        bool error_tuple;
        bool truncated;
        int code;
        char value[DIST_VALUE_MAX + 1]; /* cut at a UTF-8 boundary */
        char text[8192];                /* error text, cut; DIST_OUTPUT: the chunk */
        size_t text_len;                /* DIST_OUTPUT: its length */
};

/* Read one message when the fd is readable, never blocking: a message not
 * yet whole is left for the next call. Returns 0 (reply->kind says what
 * came, DIST_NOTHING for a tick or a partial message), -1 when the
 * connection is gone. */
int dist_receive(struct dist_conn *c, struct dist_reply *reply, struct err *e);

/* Close the connection (the node sees us go: nodedown). NULL is fine. */
void dist_close(struct dist_conn *c);

#endif
