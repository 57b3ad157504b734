/* The two ways relrun-pod calls the node program on the release's node:
 * script (the release's own `bin/NAME rpc`) and dist (a hidden C node over
 * Erlang distribution). Both turn what comes back into pod_step events. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dist.h"
#include "pod.h"

/* ---- script ---- */

static void on_marker(struct pod *p, const struct release_marker *m)
{
        struct pod_evdata d = {0};
        switch (m->kind) {
        case RELEASE_MARK_READY:
                d.text = m->text;
                pod_step(p, EV_READY, &d);
                break;
        case RELEASE_MARK_NOT_READY: pod_step(p, EV_NOT_READY, &d); break;
        case RELEASE_MARK_RESULT:
                d.result = m;
                if (m->error_tuple && p->o.error_exit) {
                        d.code = p->o.error_exit;
                        d.text = "error";
                } else {
                        d.text = "task succeeded";
                }
                pod_step(p, EV_OUTCOME, &d);
                break;
        case RELEASE_MARK_EXIT:
                d.code = m->code;
                pod_step(p, EV_OUTCOME, &d);
                break;
        case RELEASE_MARK_RAISE:
                d.code = ERR_TASK;
                d.error = m->text;
                pod_step(p, EV_OUTCOME, &d);
                break;
        case RELEASE_MARK_NONE: break;
        }
}

/* The value relx's eval prints when the node program returns: "\"<tag> end\"". */
static bool is_eval_value(const struct pod *p, const struct buf *line)
{
        size_t tl = strlen(p->tag);
        return line->len == tl + 7 && line->data[0] == '"' &&
               memcmp(line->data + 1, p->tag, tl) == 0 &&
               memcmp(line->data + 1 + tl, " end\"\n", 6) == 0;
}

void backend_user_marker(struct pod *p, const char *line, size_t n)
{
        static struct release_marker m;
        release_parse_marker(p->tag, line, n, &m);
        on_marker(p, &m);
}

/* The rpc's stdout: marker lines are ours, everything else is the rpc's output. */
static void rpc_stdout(struct pod *p, const char *s, size_t n)
{
        while (n > 0) {
                const char *nl = memchr(s, '\n', n);
                size_t l = nl ? (size_t)(nl - s) + 1 : n;
                if (buf_append(&p->script.line, s, l) < 0) {
                        /* an over-long line cannot be a marker: pass it on as it is */
                        logline_stream_feed(p->script.rpc.out, p->script.line.data,
                                            p->script.line.len);
                        buf_reset(&p->script.line);
                        if (buf_append(&p->script.line, s, l) < 0) {
                                logline_stream_feed(p->script.rpc.out, s, l); /* longer still */
                                s += l;
                                n -= l;
                                continue;
                        }
                }
                if (nl && p->script.user_markers && is_eval_value(p, &p->script.line)) {
                        /* erl_call's print of the eval's value: ours, not the task's */
                        buf_reset(&p->script.line);
                } else if (nl) {
                        static struct release_marker m;
                        release_parse_marker(p->tag, p->script.line.data, p->script.line.len - 1,
                                             &m);
                        if (m.kind != RELEASE_MARK_NONE)
                                on_marker(p, &m);
                        else
                                logline_stream_feed(p->script.rpc.out, p->script.line.data,
                                                    p->script.line.len);
                        buf_reset(&p->script.line);
                }
                s += l;
                n -= l;
        }
}

static bool script_read(struct pod *p, int *fd, bool is_out)
{
        if (!is_out)
                return pod_read_pipe(p, &p->script.rpc, fd, false);
        static char chunk[65536];
        ssize_t r = proc_read(*fd, chunk, sizeof chunk);
        if (r < 0)
                return false;
        if (r == 0) {
                if (p->script.line.len)
                        rpc_stdout(p, "\n", 1);
                logline_stream_finish(p->script.rpc.out);
                close(*fd);
                *fd = -1;
                return false;
        }
        p->script.rpc.last_data = proc_mono_ms();
        rpc_stdout(p, chunk, (size_t)r);
        return true;
}

static int script_start(struct pod *p, bool *retry, struct err *e)
{
        *retry = false;
        /* a relx release's rpc takes "Mod Fun Args" only: its eval runs Erlang text */
        char *argv[] = {(char *)p->o.release, p->script.user_markers ? "eval" : "rpc",
                        (char *)buf_str(&p->script.call), NULL};
        p->script.attempts++;
        buf_reset(&p->script.line);
        return pod_start_child(p, &p->script.rpc, argv, LOGLINE_SRC_RPC, NULL, e);
}

static int script_pollfds(struct pod *p, struct pollfd *pf, int max)
{
        int n = 0;
        if (p->script.rpc.p.out_fd >= 0 && n < max)
                pf[n++] = (struct pollfd){.fd = p->script.rpc.p.out_fd, .events = POLLIN};
        if (p->script.rpc.p.err_fd >= 0 && n < max)
                pf[n++] = (struct pollfd){.fd = p->script.rpc.p.err_fd, .events = POLLIN};
        return n;
}

static void script_ready_fd(struct pod *p, const struct pollfd *pf)
{
        if (pf->fd == p->script.rpc.p.out_fd)
                script_read(p, &p->script.rpc.p.out_fd, true);
        else if (pf->fd == p->script.rpc.p.err_fd)
                script_read(p, &p->script.rpc.p.err_fd, false);
}

static void script_drain(struct pod *p)
{
        while (p->script.rpc.p.out_fd >= 0 && script_read(p, &p->script.rpc.p.out_fd, true))
                ;
}

static bool script_reaped(struct pod *p, pid_t pid, int status)
{
        if (!p->script.rpc.running || pid != p->script.rpc.p.pid)
                return false;
        p->script.rpc.running = false;
        p->script.rpc.status = status;
        /* markers may still sit in the pipe: read it dry first */
        script_drain(p);
        struct pod_evdata d = {.code = proc_exit_code(status)};
        char why[128];
        snprintf(why, sizeof why, "the rpc ended (status %d) without reporting an outcome", d.code);
        d.text = why;
        if (p->state == ST_CALL) {
                /* registered but not reachable yet (nodedown): try again */
                d.retry = true;
                pod_step(p, EV_CALL_FAILED, &d);
        } else if (p->state == ST_TASK) {
                pod_step(p, EV_LOST, &d);
        }
        return true;
}

/* The rpc helper is a client with nothing to save: the task stops with the
 * node. A SIGTERM would make it log its own shutdown (OTP >= 26), a line that
 * is not the task's. */
static void script_stop(struct pod *p)
{
        if (p->script.rpc.running)
                kill(-p->script.rpc.p.pid, SIGKILL);
}

static void script_kill(struct pod *p)
{
        if (p->script.rpc.running)
                kill(-p->script.rpc.p.pid, SIGKILL);
}

static bool script_busy(const struct pod *p)
{
        return p->script.rpc.running || p->script.rpc.p.out_fd >= 0 || p->script.rpc.p.err_fd >= 0;
}

static void script_finish(struct pod *p)
{
        int *fds[] = {&p->script.rpc.p.out_fd, &p->script.rpc.p.err_fd};
        for (int i = 0; i < 2; i++)
                if (*fds[i] >= 0) {
                        close(*fds[i]);
                        *fds[i] = -1;
                }
        if (p->script.rpc.out) {
                logline_stream_finish(p->script.rpc.out);
                logline_stream_finish(p->script.rpc.err);
        }
}

const struct backend_ops backend_script = {
    .name = "script",
    .start = script_start,
    .pollfds = script_pollfds,
    .ready_fd = script_ready_fd,
    .reaped = script_reaped,
    .drain = script_drain,
    .release = script_stop,
    .kill = script_kill,
    .busy = script_busy,
    .finish = script_finish,
};

/* ---- dist ---- */

/* The handshake runs in its own thread, so a long bound costs the loop
 * nothing; a short one, under load, gives up on a handshake the node still
 * completes (and logs as rejected), then tries a second time. */
#define CONNECT_TMO_MS 10000

static int dist_start(struct pod *p, bool *retry, struct err *e)
{
        *retry = true;
        return dist_connect_start(p->node.host, p->node.port, p->node.cookie, CONNECT_TMO_MS,
                                  &p->dist.pending, e);
}

/* The connect finished: send the call, or say why not. */
static void dist_connected(struct pod *p)
{
        struct err e;
        bool rejected = false;
        struct dist_pending *pend = p->dist.pending;
        p->dist.pending = NULL;
        struct pod_evdata d = {.retry = true};
        if (dist_connect_finish(pend, &p->dist.conn, &rejected, &e) < 0) {
                d.retry = !rejected;
                d.code = e.code;
                d.text = e.msg;
                pod_step(p, EV_CALL_FAILED, &d);
                return;
        }
        /* the node program as terms for erl_eval: no Elixir needed on the node */
        struct release_arg ra[RELEASE_ARGS_MAX];
        struct dist_arg da[RELEASE_ARGS_MAX];
        size_t n =
            release_program_args(&p->spec, RELEASE_MODE_DIST, dist_self(p->dist.conn), 2, ra);
        for (size_t i = 0; i < n; i++)
                da[i] = (struct dist_arg){.key = ra[i].key,
                                          .is_int = ra[i].is_int,
                                          .n = ra[i].n,
                                          .s = ra[i].s,
                                          .len = ra[i].len};
        if (dist_run_program(p->dist.conn, release_node_src, release_node_src_len, da, n, &e) < 0) {
                dist_close(p->dist.conn);
                p->dist.conn = NULL;
                d.code = e.code;
                d.text = e.msg;
                pod_step(p, EV_CALL_FAILED, &d);
        }
}

static int dist_pollfds(struct pod *p, struct pollfd *pf, int max)
{
        if (max < 1)
                return 0;
        if (p->dist.pending) {
                pf[0] = (struct pollfd){.fd = dist_pending_fd(p->dist.pending), .events = POLLIN};
                return 1;
        }
        if (!p->dist.conn)
                return 0;
        pf[0] = (struct pollfd){.fd = dist_fd(p->dist.conn), .events = POLLIN};
        return 1;
}

static void on_reply(struct pod *p, const struct dist_reply *r)
{
        struct pod_evdata d = {0};
        static struct release_marker m;
        switch (r->kind) {
        case DIST_NOTHING:
        case DIST_OUTPUT: return;
        case DIST_READY:
                d.text = r->text;
                pod_step(p, EV_READY, &d);
                return;
        case DIST_NOT_READY: pod_step(p, EV_NOT_READY, &d); return;
        case DIST_OK:
                memset(&m, 0, sizeof m);
                m.kind = RELEASE_MARK_RESULT;
                m.error_tuple = r->error_tuple;
                m.truncated = r->truncated;
                memcpy(m.value, r->value, sizeof m.value);
                d.result = &m;
                if (r->error_tuple && p->o.error_exit) {
                        d.code = p->o.error_exit;
                        d.text = "error";
                } else {
                        d.text = "task succeeded";
                }
                pod_step(p, EV_OUTCOME, &d);
                return;
        case DIST_EXIT:
                d.code = r->code;
                d.error = r->text[0] ? r->text : NULL;
                pod_step(p, EV_OUTCOME, &d);
                return;
        case DIST_RAISE:
                d.code = ERR_TASK;
                d.error = r->text;
                pod_step(p, EV_OUTCOME, &d);
                return;
        case DIST_BADRPC:
                if (p->state == ST_CALL) {
                        pod_rpc_event(p, LOGLINE_ERROR, r->text);
                        d.code = ERR_SOFTWARE;
                        d.text = "the node refused the call";
                        pod_step(p, EV_CALL_FAILED, &d);
                } else {
                        d.code = ERR_TASK;
                        d.error = r->text;
                        pod_step(p, EV_OUTCOME, &d);
                }
                return;
        }
}

static void dist_ready_fd(struct pod *p, const struct pollfd *pf)
{
        if (p->dist.pending && pf->fd == dist_pending_fd(p->dist.pending)) {
                dist_connected(p);
                return;
        }
        if (!p->dist.conn)
                return;
        static struct dist_reply r;
        struct err e;
        if (dist_receive(p->dist.conn, &r, &e) == 0) {
                on_reply(p, &r);
                return;
        }
        dist_close(p->dist.conn);
        p->dist.conn = NULL;
        struct pod_evdata d = {.text = "lost the connection to the node", .retry = true};
        if (p->state == ST_CALL)
                pod_step(p, EV_CALL_FAILED, &d);
        else if (p->state == ST_TASK)
                pod_step(p, EV_LOST, &d);
}

static bool dist_reaped(struct pod *p, pid_t pid, int status)
{
        (void)p;
        (void)pid;
        (void)status;
        return false;
}

static void dist_drain(struct pod *p)
{
        (void)p;
}

static void dist_release(struct pod *p)
{
        dist_pending_free(p->dist.pending);
        p->dist.pending = NULL;
        /* the node sees us go: its armed stopper stops it */
        dist_close(p->dist.conn);
        p->dist.conn = NULL;
}

static bool dist_busy(const struct pod *p)
{
        (void)p;
        return false;
}

static void dist_finish(struct pod *p)
{
        dist_release(p);
}

const struct backend_ops backend_dist = {
    .name = "dist",
    .start = dist_start,
    .pollfds = dist_pollfds,
    .ready_fd = dist_ready_fd,
    .reaped = dist_reaped,
    .drain = dist_drain,
    .release = dist_release,
    .kill = dist_release,
    .busy = dist_busy,
    .finish = dist_finish,
};
