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

/* The expressions travel base64-encoded, so no quoting or interpolation of
 * the user's text can happen in the wrapper, and syntax errors are reported
 * against the user's own text. */

/* Both backends: wait until the node's boot finished (and the user's ready
 * expression holds), polling on the node itself. Defines relrun_eval and
 * relrun_wait. */
static int prelude(const struct release_call *c, int poll_ms, struct buf *out)
{
        int r = buf_printf(
            out,
            "relrun_deadline = System.monotonic_time(:millisecond) + %lld; "
            "relrun_eval = fn b64 -> elem(Code.eval_string(Base.decode64!(b64)), 0) end; ",
            (long long)c->ready_timeout_ms);
        r |= buf_puts(out, "relrun_up = fn -> :init.get_status() == {:started, :started}");
        if (c->ready_expr) {
                r |= buf_puts(out, " and (try do relrun_eval.(\"");
                r |= codec_base64_encode(c->ready_expr, strlen(c->ready_expr), out);
                r |= buf_puts(out,
                              "\") not in [false, nil] rescue _ -> false catch _, _ -> false end)");
        }
        r |= buf_puts(out, " end; ");
        r |= buf_printf(out,
                        "relrun_wait = fn w -> cond do relrun_up.() -> :ok; "
                        "System.monotonic_time(:millisecond) >= relrun_deadline -> :timeout; "
                        "true -> Process.sleep(%d); w.(w) end end; ",
                        poll_ms);
        return r;
}

/* Armed before the task: when relrun_peer (the rpc's node, or relrun-pod's
 * C node) goes away — the call returned, or relrun-pod stopped it — stop the
 * applications in reverse start order so their stop callbacks run (logging
 * stays up to the end), then halt: milliseconds instead of init:stop's second. */
static const char stopper[] = "spawn(fn -> :erlang.group_leader(Process.whereis(:user), self()); "
                              ":erlang.monitor_node(relrun_peer, true); "
                              "receive do {:nodedown, ^relrun_peer} -> "
                              "for {a, _, _} <- Application.started_applications(), "
                              "a not in [:kernel, :stdlib, :elixir, :compiler, :logger, :sasl], "
                              "do: Application.stop(a); "
                              "if Code.ensure_loaded?(Logger), do: Logger.flush(); "
                              ":erlang.halt(0) end end); ";

/* the task's last log lines reach the app's stdout before its result */
static const char flush_logs[] = "if Code.ensure_loaded?(Logger), do: Logger.flush(); ";

int release_rpc_expr(const struct release_call *c, struct buf *out)
{
        int r = buf_puts(out, "relrun_gl = Process.group_leader(); ");
        r |= prelude(c, 5, out);
        r |= buf_printf(out,
                        "case relrun_wait.(relrun_wait) do "
                        ":timeout -> IO.puts(relrun_gl, \"%s not-ready\"); "
                        ":ok -> relrun_peer = node(relrun_gl); ",
                        c->tag);
        r |= buf_puts(out, stopper);
        r |= buf_printf(out,
                        "IO.puts(relrun_gl, \"%s ready\"); "
                        ":erlang.group_leader(Process.whereis(:user), self()); "
                        "relrun_value = relrun_eval.(\"",
                        c->tag);
        r |= codec_base64_encode(c->expr, strlen(c->expr), out);
        r |= buf_puts(out, "\"); :erlang.group_leader(relrun_gl, self()); ");
        r |= buf_puts(out, flush_logs);
        r |= buf_printf(
            out,
            "relrun_text = inspect(relrun_value, limit: 50, printable_limit: %d); "
            "IO.puts(relrun_gl, \"%s result \" <> "
            "(if match?({:error, _}, relrun_value), do: \"error \", else: \"ok \") <> "
            "Base.encode64(binary_part(relrun_text, 0, min(byte_size(relrun_text), %d)))) "
            "end; :ok",
            RELEASE_RETURN_MAX, c->tag, RELEASE_RETURN_MAX + 4);
        return r ? -1 : 0;
}

int release_dist_expr(const struct release_call *c, const char *self_node, struct buf *out)
{
        /* Runs in a process of the node's rex server, whose group leader is
         * already the node's user: the task's output and logs stay there. */
        int r = buf_puts(out, "(fn -> ");
        r |= prelude(c, 2, out);
        r |= buf_printf(out,
                        "case relrun_wait.(relrun_wait) do "
                        ":timeout -> {:relrun_not_ready}; "
                        ":ok -> relrun_peer = :\"%s\"; ",
                        self_node);
        r |= buf_puts(out, stopper);
        r |= buf_puts(out, "send({:relrun, relrun_peer}, {:relrun_ready}); "
                           ":erlang.group_leader(Process.whereis(:user), self()); "
                           "try do relrun_value = relrun_eval.(\"");
        r |= codec_base64_encode(c->expr, strlen(c->expr), out);
        r |= buf_puts(out, "\"); ");
        r |= buf_puts(out, flush_logs);
        r |=
            buf_printf(out,
                       "relrun_text = inspect(relrun_value, limit: 50, printable_limit: %d); "
                       "{:relrun_ok, binary_part(relrun_text, 0, min(byte_size(relrun_text), %d)), "
                       "match?({:error, _}, relrun_value)} "
                       "catch :exit, {:shutdown, n} when is_integer(n) -> ",
                       RELEASE_RETURN_MAX, RELEASE_RETURN_MAX + 4);
        r |= buf_puts(out, flush_logs);
        r |= buf_puts(out, "{:relrun_exit, n, \"\"}; kind, reason -> ");
        r |= buf_puts(out, flush_logs);
        r |= buf_puts(out, "{:relrun_raise, Exception.format(kind, reason, __STACKTRACE__)} "
                           "end end end).()");
        return r ? -1 : 0;
}

void release_parse_marker(const char *tag, const char *line, size_t n, struct release_marker *m)
{
        m->kind = RELEASE_MARK_NONE;
        m->error_tuple = false;
        m->truncated = false;
        m->value[0] = '\0';
        size_t tl = strlen(tag);
        if (n < tl + 1 || memcmp(line, tag, tl) != 0 || line[tl] != ' ')
                return;
        const char *p = line + tl + 1;
        size_t rest = n - tl - 1;
        if (rest == 5 && memcmp(p, "ready", 5) == 0) {
                m->kind = RELEASE_MARK_READY;
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
                unsigned char *v = malloc(CODEC_BASE64_DECODED_MAX(bl));
                size_t vl;
                if (v && codec_base64_decode(sp + 1, bl, v, &vl) == 0) {
                        size_t cut = codec_utf8_cut((const char *)v, vl, RELEASE_RETURN_MAX);
                        memcpy(m->value, v, cut);
                        m->value[cut] = '\0';
                        m->truncated = cut < vl;
                }
                free(v);
                m->kind = RELEASE_MARK_RESULT;
        }
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
