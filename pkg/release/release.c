#include "release.h"

#include "codec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

size_t release_program_args(const struct release_call *c, enum release_mode mode, const char *peer,
                            int poll_ms, struct release_arg *out)
{
        size_t n = 0;
#define INT_ARG(k, v) out[n++] = (struct release_arg){.key = (k), .is_int = true, .n = (v)}
#define BIN_ARG(k, v, l)                                                                           \
        out[n++] = (struct release_arg)                                                            \
        {                                                                                          \
                .key = (k), .s = (v), .len = (l)                                                   \
        }
        INT_ARG("mode", mode);
        INT_ARG("lang", c->lang == RELEASE_LANG_ERLANG ? 1 : 0);
        INT_ARG("ready_timeout", c->ready_timeout_ms);
        INT_ARG("poll_ms", poll_ms);
        INT_ARG("fast_stop", c->no_fast_stop ? 0 : 1);
        BIN_ARG("tag", c->tag, strlen(c->tag));
        BIN_ARG("peer", peer, strlen(peer));
        BIN_ARG("ready_expr", c->ready_expr ? c->ready_expr : "",
                c->ready_expr ? strlen(c->ready_expr) : 0);
        BIN_ARG("expr", c->expr, strlen(c->expr));
#undef INT_ARG
#undef BIN_ARG
        return n;
}

/* The Args as literal text: integers as digits, binaries as base64 decoded
 * on the node (Elixir keywords or an Erlang proplist). */
static int args_text(const struct release_call *c, enum release_mode mode, const char *peer,
                     bool erlang, int poll_ms, struct buf *out)
{
        struct release_arg a[RELEASE_ARGS_MAX];
        size_t n = release_program_args(c, mode, peer, poll_ms, a);
        int r = buf_puts(out, erlang ? "[" : "");
        for (size_t i = 0; i < n; i++) {
                const char *sep = i + 1 < n ? ", " : "";
                if (a[i].is_int) {
                        r |= buf_printf(out, erlang ? "{%s, %lld}%s" : "%s: %lld%s", a[i].key,
                                        a[i].n, sep);
                        continue;
                }
                r |= buf_printf(out, erlang ? "{%s, base64:decode(<<\"" : "%s: Base.decode64!(\"",
                                a[i].key);
                r |= codec_base64_encode(a[i].s, a[i].len, out);
                r |= buf_printf(out, erlang ? "\">>)}%s" : "\")%s", sep);
        }
        r |= buf_puts(out, erlang ? "]" : "");
        return r;
}

/* The node program (relrun_node.erl, embedded at build time) runs under a
 * small bootstrap that scans, parses and evaluates it with erl_eval.
 * Everything put into the text travels as base64 or integers, so no quoting
 * or interpolation of the user's text (or of our node name) can happen, and
 * syntax errors are reported against the user's own text. */
static int bootstrap(const struct release_call *c, enum release_mode mode, const char *peer,
                     int poll_ms, struct buf *out)
{
        int r = buf_puts(out, "(fn -> {:ok, relrun_t, _} = :erl_scan.string(String.to_charlist("
                              "Base.decode64!(\"");
        r |= codec_base64_encode(release_node_src, release_node_src_len, out);
        r |= buf_puts(out, "\"))); {:ok, relrun_e} = :erl_parse.parse_exprs(relrun_t); "
                           "{:value, relrun_v, _} = :erl_eval.exprs(relrun_e, "
                           ":erl_eval.add_binding(:Args, [");
        r |= args_text(c, mode, peer, false, poll_ms, out);
        r |= buf_puts(out, "], :erl_eval.new_bindings())); relrun_v end).()");
        return r ? -1 : 0;
}

int release_rpc_expr(const struct release_call *c, struct buf *out)
{
        /* the rpc's own node is the peer: the node program takes node(group_leader()) */
        if (bootstrap(c, RELEASE_MODE_SCRIPT, "", 5, out) < 0)
                return -1;
        return buf_puts(out, "; :ok") ? -1 : 0;
}

int release_eval_expr(const struct release_call *c, struct buf *out)
{
        /* erl_call -e evaluates with erl_eval:eval_str: Erlang text ending in a
         * full stop; it prints the value, a string known to relrun-pod */
        int r = buf_puts(out, "{ok, RelrunT, _} = erl_scan:string(unicode:characters_to_list("
                              "base64:decode(<<\"");
        r |= codec_base64_encode(release_node_src, release_node_src_len, out);
        r |= buf_puts(out, "\">>))), {ok, RelrunE} = erl_parse:parse_exprs(RelrunT), "
                           "{value, _, _} = erl_eval:exprs(RelrunE, [{'Args', ");
        r |= args_text(c, RELEASE_MODE_USER, "", true, 5, out);
        r |= buf_puts(out, "}]), \"");
        r |= buf_puts(out, c->tag);
        r |= buf_puts(out, " end\".\n");
        return r ? -1 : 0;
}

int release_dist_expr(const struct release_call *c, const char *self_node, struct buf *out)
{
        return bootstrap(c, RELEASE_MODE_DIST, self_node, 2, out);
}

/* Decode base64 p[0..n) into out (cap max+1 with the NUL), cut at a UTF-8
 * boundary. Returns -1 when it is not base64. */
static int b64_text(const char *p, size_t n, char *out, size_t max, bool *truncated)
{
        unsigned char *v = malloc(CODEC_BASE64_DECODED_MAX(n) + 1);
        size_t vl;
        if (!v || codec_base64_decode(p, n, v, &vl) < 0) {
                free(v);
                return -1;
        }
        size_t cut = codec_utf8_cut((const char *)v, vl, max);
        memcpy(out, v, cut);
        out[cut] = '\0';
        if (truncated)
                *truncated = cut < vl;
        free(v);
        return 0;
}

static bool word(const char *p, size_t rest, const char *w)
{
        size_t l = strlen(w);
        return rest >= l && memcmp(p, w, l) == 0 && (rest == l || p[l] == ' ');
}

void release_parse_marker(const char *tag, const char *line, size_t n, struct release_marker *m)
{
        memset(m, 0, sizeof *m);
        m->kind = RELEASE_MARK_NONE;
        size_t tl = strlen(tag);
        if (n < tl + 1 || memcmp(line, tag, tl) != 0 || line[tl] != ' ')
                return;
        const char *p = line + tl + 1;
        size_t rest = n - tl - 1;
        if (word(p, rest, "ready")) {
                m->kind = RELEASE_MARK_READY;
                size_t skip = rest > 6 ? 6 : rest;
                size_t cl = rest - skip < sizeof m->text - 1 ? rest - skip : sizeof m->text - 1;
                memcpy(m->text, p + skip, cl);
                m->text[cl] = '\0';
        } else if (rest == 9 && memcmp(p, "not-ready", 9) == 0) {
                m->kind = RELEASE_MARK_NOT_READY;
        } else if (rest > 7 && memcmp(p, "result ", 7) == 0) {
                p += 7;
                rest -= 7;
                const char *sp = memchr(p, ' ', rest);
                if (!sp)
                        return;
                m->error_tuple = (size_t)(sp - p) == 5 && memcmp(p, "error", 5) == 0;
                size_t bl = rest - (size_t)(sp + 1 - p);
                if (b64_text(sp + 1, bl, m->value, RELEASE_RETURN_MAX, &m->truncated) < 0)
                        m->value[0] = '\0';
                m->kind = RELEASE_MARK_RESULT;
        } else if (rest > 5 && memcmp(p, "exit ", 5) == 0) {
                char num[16];
                size_t l = rest - 5 < sizeof num - 1 ? rest - 5 : sizeof num - 1;
                memcpy(num, p + 5, l);
                num[l] = '\0';
                char *endp;
                long code = strtol(num, &endp, 10);
                if (*endp != '\0' || endp == num)
                        return;
                m->code = (int)(code & 0xff);
                m->kind = RELEASE_MARK_EXIT;
        } else if (rest > 6 && memcmp(p, "raise ", 6) == 0) {
                if (b64_text(p + 6, rest - 6, m->text, sizeof m->text - 1, NULL) < 0)
                        return;
                m->kind = RELEASE_MARK_RAISE;
        }
}

int release_console_parse(const char *s, size_t n, struct release_console *out)
{
        struct release_console c = {0};
        const char *sp = memchr(s, ' ', n);
        size_t fl = sp ? (size_t)(sp - s) : n;
        if (b64_text(s, fl, c.format, sizeof c.format - 1, NULL) < 0)
                return -1;
        if (!sp)
                return -1;
        const char *p = sp + 1;
        size_t rest = n - fl - 1;
        if (word(p, rest, "utc"))
                c.utc = true;
        else if (!word(p, rest, "local"))
                return -1;
        const char *keys = memchr(p, ' ', rest);
        if (keys) {
                size_t kl = n - (size_t)(keys + 1 - s);
                if (kl >= sizeof c.metadata)
                        kl = sizeof c.metadata - 1;
                memcpy(c.metadata, keys + 1, kl);
                c.metadata[kl] = '\0';
        }
        *out = c;
        return 0;
}

void release_node_name(const char *release_path, char *out, size_t n)
{
        const char *node = getenv("RELEASE_NODE");
        const char *name;
        size_t len;
        if (node && *node) {
                name = node;
                const char *at = strchr(node, '@');
                len = at ? (size_t)(at - node) : strlen(node);
        } else {
                const char *slash = strrchr(release_path, '/');
                name = slash ? slash + 1 : release_path;
                len = strlen(name);
        }
        if (len >= n)
                len = n - 1;
        memcpy(out, name, len);
        out[len] = '\0';
}

/* EPMD's PORT_PLEASE2_REQ: a 2-byte length, 122, the name; the answer starts
 * with 119 and a result byte, 0 when the node is registered. */
int release_epmd_registered(const char *name, int *port_out, struct err *e)
{
        const char *ps = getenv("ERL_EPMD_PORT");
        int port = ps && *ps ? atoi(ps) : 4369;
        size_t nl = strlen(name);
        if (nl == 0 || nl > 255)
                return err_set(e, ERR_SOFTWARE, "node name \"%s\": bad length", name);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return err_sys(e, ERR_SOFTWARE, "socket");
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int ret = 0;
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
                goto out; /* EPMD not up yet: not registered */
        unsigned char req[260];
        req[0] = (unsigned char)((nl + 1) >> 8);
        req[1] = (unsigned char)(nl + 1);
        req[2] = 122;
        memcpy(req + 3, name, nl);
        if (write(fd, req, nl + 3) != (ssize_t)(nl + 3))
                goto out;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 1000) <= 0) {
                ret = err_set(e, ERR_SOFTWARE, "epmd did not answer");
                goto out;
        }
        /* 119, result, then (when 0) the node's port in two bytes */
        unsigned char resp[4];
        size_t got = 0;
        while (got < sizeof resp) {
                ssize_t r = read(fd, resp + got, sizeof resp - got);
                if (r <= 0)
                        break;
                got += (size_t)r;
        }
        if (got < 2 || resp[0] != 119) {
                ret = got == 0 ? 0 : err_set(e, ERR_SOFTWARE, "epmd: unexpected answer");
                goto out;
        }
        ret = resp[1] == 0 && got == 4 ? 1 : 0;
        if (ret == 1 && port_out)
                *port_out = resp[2] << 8 | resp[3];
out:
        close(fd);
        return ret;
}
