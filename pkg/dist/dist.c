#include "dist.h"

#include "codec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <ei.h>

struct dist_conn {
        ei_cnode ec;
        int fd;
};

static int ei_ready;

int dist_connect(const char *host, int port, const char *cookie, unsigned timeout_ms,
                 struct dist_conn **out, bool *rejected, struct err *e)
{
        *rejected = false;
        if (!ei_ready) {
                if (ei_init() != 0)
                        return err_set(e, ERR_SOFTWARE, "erl_interface: ei_init failed");
                ei_ready = 1;
        }
        struct dist_conn *c = calloc(1, sizeof *c);
        if (!c)
                return err_set(e, ERR_SOFTWARE, "out of memory");
        char alive[64], node[320];
        snprintf(alive, sizeof alive, "relrun_%ld", (long)getpid());
        snprintf(node, sizeof node, "%s@%s", alive, host);
        struct in_addr lo = {.s_addr = htonl(INADDR_LOOPBACK)};
        /* creation: any non-zero value that differs between incarnations */
        unsigned creation = ((unsigned)time(NULL) ^ (unsigned)getpid()) % 0x7fffffff + 1;
        if (ei_connect_xinit(&c->ec, host, alive, node, &lo, cookie, creation) < 0) {
                free(c);
                return err_set(e, ERR_SOFTWARE, "erl_interface: cannot set up node \"%s\"", node);
        }
        c->fd = ei_xconnect_host_port_tmo(&c->ec, &lo, port, timeout_ms);
        if (c->fd < 0) {
                int why = erl_errno;
                free(c);
                if (why == EIO) {
                        /* the node answered and refused us: the cookie, or our name */
                        *rejected = true;
                        return err_set(e, ERR_CONFIG,
                                       "the node on port %d rejected the distribution handshake "
                                       "(wrong cookie?)",
                                       port);
                }
                errno = why;
                return err_sys(e, ERR_SOFTWARE, "connect to the node on port %d", port);
        }
        *out = c;
        return 0;
}

/* A connect in its own thread: ei's handshake blocks, the caller's loop must
 * not. The thread writes one byte to a pipe when it is done. */
struct dist_pending {
        pthread_t th;
        int pipe[2];
        char host[256];
        int port;
        char cookie[256];
        unsigned timeout_ms;
        int r;
        bool rejected;
        struct dist_conn *conn;
        struct err e;
};

static void *connect_thread(void *arg)
{
        struct dist_pending *p = arg;
        p->r =
            dist_connect(p->host, p->port, p->cookie, p->timeout_ms, &p->conn, &p->rejected, &p->e);
        char one = 1;
        ssize_t w = write(p->pipe[1], &one, 1);
        (void)w;
        return NULL;
}

int dist_connect_start(const char *host, int port, const char *cookie, unsigned timeout_ms,
                       struct dist_pending **out, struct err *e)
{
        if (!ei_ready) {
                /* once, before any thread: ei_init is not thread-safe */
                if (ei_init() != 0)
                        return err_set(e, ERR_SOFTWARE, "erl_interface: ei_init failed");
                ei_ready = 1;
        }
        struct dist_pending *p = calloc(1, sizeof *p);
        if (!p)
                return err_set(e, ERR_SOFTWARE, "out of memory");
        snprintf(p->host, sizeof p->host, "%s", host);
        snprintf(p->cookie, sizeof p->cookie, "%s", cookie);
        p->port = port;
        p->timeout_ms = timeout_ms;
        if (pipe2(p->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
                free(p);
                return err_sys(e, ERR_SOFTWARE, "pipe");
        }
        int r = pthread_create(&p->th, NULL, connect_thread, p);
        if (r != 0) {
                close(p->pipe[0]);
                close(p->pipe[1]);
                free(p);
                errno = r;
                return err_sys(e, ERR_SOFTWARE, "cannot start the connect thread");
        }
        *out = p;
        return 0;
}

int dist_pending_fd(const struct dist_pending *p)
{
        return p->pipe[0];
}

int dist_connect_finish(struct dist_pending *p, struct dist_conn **out, bool *rejected,
                        struct err *e)
{
        pthread_join(p->th, NULL);
        close(p->pipe[0]);
        close(p->pipe[1]);
        int r = p->r;
        *rejected = p->rejected;
        if (r == 0)
                *out = p->conn;
        else if (e)
                *e = p->e;
        memset(p->cookie, 0, sizeof p->cookie);
        free(p);
        return r;
}

void dist_pending_free(struct dist_pending *p)
{
        if (!p)
                return;
        struct dist_conn *c = NULL;
        bool rejected;
        if (dist_connect_finish(p, &c, &rejected, NULL) == 0)
                dist_close(c);
}

int dist_fd(const struct dist_conn *c)
{
        return c->fd;
}

const char *dist_self(const struct dist_conn *c)
{
        return ei_thisnodename(&c->ec);
}

int dist_eval(struct dist_conn *c, const char *text, struct err *e)
{
        ei_x_buff args;
        if (ei_x_new(&args) < 0)
                return err_set(e, ERR_SOFTWARE, "out of memory");
        int r = ei_x_encode_list_header(&args, 1) |
                ei_x_encode_binary(&args, text, (int)strlen(text)) | ei_x_encode_empty_list(&args);
        if (r == 0)
                r = ei_rpc_to(&c->ec, c->fd, "Elixir.Code", "eval_string", args.buff, args.index);
        ei_x_free(&args);
        if (r < 0)
                return err_set(e, ERR_SOFTWARE, "sending the call to the node failed");
        return 0;
}

/* The bootstrap, as the abstract format erl_eval takes (what erl_parse makes
 * of the text in the comment), so no text of ours is parsed on the node:
 *   {element(2, erl_eval:exprs(
 *        element(2, erl_parse:parse_exprs(
 *            element(2, erl_scan:string(unicode:characters_to_list(Src))))),
 *        [{'Args', Args}])), []}
 * ~a are the variable names, which ei_x_format would read as atoms. It is
 * evaluated by erl_eval:expr(Expr, Bindings, none, none, value), which
 * returns the value alone (exprs/2 would send the bindings back, Src too). */
#define REMOTE(m, f) "{remote,1,{atom,1," m "},{atom,1," f "}}"
#define ELEMENT2(x)  "{call,1," REMOTE("erlang", "element") ",[{integer,1,2}," x "]}"
static const char bootstrap_fmt[] =
    "{tuple,1,[" ELEMENT2("{call,1," REMOTE("erl_eval", "exprs") ",[" ELEMENT2(
        "{call,1," REMOTE("erl_parse", "parse_exprs") ",[" ELEMENT2(
            "{call,1," REMOTE("erl_scan", "string") ",[{call,1," REMOTE(
                "unicode",
                "characters_to_list") ",[{var,1,~a}]}]}") "]}") ","
                                                                "{cons,1,{tuple,1,[{atom,1,~a},{"
                                                                "var,1,~a}]},{nil,1}}]}") ",{nil,1}"
                                                                                          "]}";
#undef ELEMENT2
#undef REMOTE

int dist_run_program(struct dist_conn *c, const char *src, size_t n, const struct dist_arg *args,
                     size_t nargs, struct err *e)
{
        ei_x_buff x;
        if (ei_x_new(&x) < 0)
                return err_set(e, ERR_SOFTWARE, "out of memory");
        /* [Expr, Bindings, none, none, value]; Bindings an orddict: 'Args' sorts
         * before 'Src' */
        int r = ei_x_encode_list_header(&x, 5);
        r |= ei_x_format_wo_ver(&x, bootstrap_fmt, "Src", "Args", "Args");
        r |= ei_x_encode_list_header(&x, 2);
        r |= ei_x_encode_tuple_header(&x, 2) | ei_x_encode_atom(&x, "Args");
        r |= ei_x_encode_list_header(&x, (long)nargs);
        for (size_t i = 0; i < nargs; i++) {
                r |= ei_x_encode_tuple_header(&x, 2) | ei_x_encode_atom(&x, args[i].key);
                if (args[i].is_int)
                        r |= ei_x_encode_longlong(&x, args[i].n);
                else
                        r |= ei_x_encode_binary(&x, args[i].s, (long)args[i].len);
        }
        r |= ei_x_encode_empty_list(&x);
        r |= ei_x_encode_tuple_header(&x, 2) | ei_x_encode_atom(&x, "Src");
        r |= ei_x_encode_binary(&x, src, (long)n);
        r |= ei_x_encode_empty_list(&x);
        r |= ei_x_encode_atom(&x, "none") | ei_x_encode_atom(&x, "none");
        r |= ei_x_encode_atom(&x, "value") | ei_x_encode_empty_list(&x);
        if (r == 0)
                r = ei_rpc_to(&c->ec, c->fd, "erl_eval", "expr", x.buff, x.index);
        ei_x_free(&x);
        if (r < 0)
                return err_set(e, ERR_SOFTWARE, "sending the call to the node failed");
        return 0;
}

/* Copy a binary at *idx into out (cap n, cut at a UTF-8 boundary). */
static int take_binary(const char *buf, int *idx, char *out, size_t n, bool *truncated)
{
        int type, size;
        if (ei_get_type(buf, idx, &type, &size) < 0 || type != ERL_BINARY_EXT)
                return -1;
        char *tmp = malloc((size_t)size + 1);
        long len;
        if (!tmp || ei_decode_binary(buf, idx, tmp, &len) < 0) {
                free(tmp);
                return -1;
        }
        size_t cut = codec_utf8_cut(tmp, (size_t)len, n - 1);
        memcpy(out, tmp, cut);
        out[cut] = '\0';
        if (truncated)
                *truncated = cut < (size_t)len;
        free(tmp);
        return 0;
}

static void print_term(const char *buf, int idx, char *out, size_t n)
{
        char *s = NULL;
        if (ei_s_print_term(&s, buf, &idx) >= 0 && s)
                snprintf(out, n, "%s", s);
        else
                snprintf(out, n, "(undecodable reply)");
        free(s);
}

/* The result of our wrapper: {relrun_ok, Text, Bool} | {relrun_exit, N, Text}
 * | {relrun_raise, Text} | {relrun_not_ready}. */
static int decode_result(const char *buf, int *idx, struct dist_reply *r)
{
        int arity;
        char tag[MAXATOMLEN_UTF8];
        if (ei_decode_tuple_header(buf, idx, &arity) < 0 || ei_decode_atom(buf, idx, tag) < 0)
                return -1;
        if (!strcmp(tag, "relrun_not_ready") && arity == 1) {
                r->kind = DIST_NOT_READY;
        } else if (!strcmp(tag, "relrun_ok") && arity == 3) {
                int b;
                if (take_binary(buf, idx, r->value, sizeof r->value, &r->truncated) < 0 ||
                    ei_decode_boolean(buf, idx, &b) < 0)
                        return -1;
                r->error_tuple = b;
                r->kind = DIST_OK;
        } else if (!strcmp(tag, "relrun_exit") && arity == 3) {
                long n;
                if (ei_decode_long(buf, idx, &n) < 0 ||
                    take_binary(buf, idx, r->text, sizeof r->text, NULL) < 0)
                        return -1;
                r->code = (int)(n & 0xff);
                r->kind = DIST_EXIT;
        } else if (!strcmp(tag, "relrun_raise") && arity == 2) {
                if (take_binary(buf, idx, r->text, sizeof r->text, NULL) < 0)
                        return -1;
                r->kind = DIST_RAISE;
        } else {
                return -1;
        }
        return 0;
}

static int decode(const char *buf, struct dist_reply *r)
{
        int idx = 0, version, arity;
        char tag[MAXATOMLEN_UTF8];
        if (ei_decode_version(buf, &idx, &version) < 0 ||
            ei_decode_tuple_header(buf, &idx, &arity) < 0 || ei_decode_atom(buf, &idx, tag) < 0)
                return -1;
        if (arity == 1 && !strcmp(tag, "relrun_ready")) {
                r->kind = DIST_READY;
                return 0;
        }
        if (arity == 2 && !strcmp(tag, "relrun_ready")) {
                /* {relrun_ready, ConsoleLine}: the node's log format */
                if (take_binary(buf, &idx, r->text, sizeof r->text, NULL) < 0)
                        r->text[0] = '\0';
                r->kind = DIST_READY;
                return 0;
        }
        if (arity == 2 && !strcmp(tag, "relrun_out")) {
                /* a chunk of output, sent by relrun-pod --eval's wrapper */
                if (take_binary(buf, &idx, r->text, sizeof r->text, NULL) < 0)
                        return -1;
                r->text_len = strlen(r->text);
                r->kind = DIST_OUTPUT;
                return 0;
        }
        if (arity != 2 || strcmp(tag, "rex") != 0)
                return -1;
        /* {rex, Reply}: eval_string's {Value, Binding}, or {badrpc, Reason} */
        int at = idx, inner;
        if (ei_decode_tuple_header(buf, &idx, &inner) < 0 || inner != 2)
                return -1;
        int peek = idx;
        if (ei_decode_atom(buf, &peek, tag) == 0 && !strcmp(tag, "badrpc")) {
                r->kind = DIST_BADRPC;
                print_term(buf, peek, r->text, sizeof r->text);
                return 0;
        }
        if (decode_result(buf, &idx, r) < 0) {
                r->kind = DIST_BADRPC;
                print_term(buf, at, r->text, sizeof r->text);
        }
        return 0;
}

int dist_receive(struct dist_conn *c, struct dist_reply *r, struct err *e)
{
        memset(r, 0, sizeof *r);
        r->kind = DIST_NOTHING;
        /* Only a whole packet (4-byte length, then that many bytes) is read:
         * ei would wait for the rest of a partial one, and the loop must not
         * block. A packet larger than the socket buffer cannot be waited for
         * this way: ours are a few KiB. */
        int avail = 0;
        unsigned char hdr[4];
        if (ioctl(c->fd, FIONREAD, &avail) < 0)
                return err_sys(e, ERR_SOFTWARE, "the connection to the node");
        if (avail == 0) {
                /* readable with nothing to read: the node closed the connection */
                if (recv(c->fd, hdr, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
                        return err_set(e, ERR_SOFTWARE, "the connection to the node was lost");
                return 0;
        }
        if (avail < 4 || recv(c->fd, hdr, 4, MSG_PEEK | MSG_DONTWAIT) != 4)
                return 0;
        size_t want =
            4 + ((size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3]);
        if ((size_t)avail < want && want <= 4 * 1024 * 1024)
                return 0;
        ei_x_buff x;
        if (ei_x_new(&x) < 0)
                return err_set(e, ERR_SOFTWARE, "out of memory");
        erlang_msg msg;
        int got = ei_xreceive_msg_tmo(c->fd, &msg, &x, 1000);
        int ret = 0;
        if (got == ERL_TICK) {
                ret = 0;
        } else if (got == ERL_ERROR) {
                if (erl_errno != ETIMEDOUT && erl_errno != EAGAIN)
                        ret = err_set(e, ERR_SOFTWARE, "the connection to the node was lost");
        } else if (msg.msgtype == ERL_SEND || msg.msgtype == ERL_REG_SEND) {
                if (decode(x.buff, r) < 0)
                        r->kind = DIST_NOTHING; /* a message that is not ours: ignore */
        }
        ei_x_free(&x);
        return ret;
}

void dist_close(struct dist_conn *c)
{
        if (!c)
                return;
        ei_close_connection(c->fd);
        free(c);
}
