#include "dist.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
        size_t cut = (size_t)len;
        if (cut > n - 1) {
                cut = n - 1;
                while (cut > 0 && ((unsigned char)tmp[cut] & 0xc0) == 0x80)
                        cut--;
        }
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
