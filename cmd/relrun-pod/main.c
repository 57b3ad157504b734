/* relrun-pod: the in-pod entrypoint. Starts the release, learns its node
 * from the started VM, waits until it is really up, runs the task on it,
 * streams every log line in one format, stops the release and exits with the
 * task's code. See DESIGN.md; the lifecycle is pod_step's table. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "codec.h"
#include "dist.h"
#include "err.h"
#include "logline.h"
#include "attach.h"
#include "pod.h"
#include "podopts.h"
#include "proc.h"
#include "release.h"

#define IDLE_FLUSH_MS 20   /* a held-back event goes out after this much quiet */
#define SETTLE_MAX_MS 1000 /* after the task, how long we wait for its "done" line */
#define LOST_WAIT_MS  2000 /* the node lost mid-task: how long the VM gets to exit */
#define PROBE_MAX_MS  4    /* EPMD probe interval, growing from 1 ms */
#define VM_GUESS_MS   1000 /* the VM's command line unreadable: guess the node after this */
/* relx's script first runs a VM of its own (the host part of node names) */
#define VM_GUESS_RELX_MS 10000
#define CALL_GRACE_MS    5000 /* the node program reports not-ready itself; our backstop */
#define SELF_STOP_MS     3000 /* how long the node gets to stop itself before SIGTERM */
#define EOF_WAIT_MS      300  /* after the release exits, how long its pipes may stay open */
#define DESCENDANTS_MS   1000 /* what the release left behind gets this long after SIGTERM */
/* Boot lines wait at most this long for the node's format (it comes with
 * "ready"): a busy machine boots a release in 5-7 s; one stuck in its boot
 * still shows its lines after this. */
#define HOLD_MAX_MS    10000
#define HOLD_MAX_BYTES (1024 * 1024)
#define REJECT_WAIT_MS 300  /* a refused handshake: does the VM exit (boot failure) meanwhile? */
#define BOOT_STOP_MS   3000 /* a release stopped before it was ready: kill after this */
#define READ_CHUNK     65536
#define OUT_FLUSH_AT   65536
#define OUT_PIPE_ROOM  (1 << 20)

static struct pod pod;

/* ---- output ---- */

static void out_flush(struct pod *p)
{
        if (p->stdout_buf.len && proc_write_all(1, p->stdout_buf.data, p->stdout_buf.len) < 0 &&
            errno == EPIPE) {
                /* nobody reads our stdout any more; keep running the task regardless */
        }
        buf_reset(&p->stdout_buf);
}

/* The runtime reads our stdout through a pipe (a FIFO) and may lag: with
 * 1 MiB of room instead of 64 KiB a burst of events goes out while it
 * catches up, in fewer and larger rounds, rather than holding up the task's
 * log. Only grown, never shrunk; where the limit (fs.pipe-max-size) is
 * lower the pipe stays as it is. */
static void widen_stdout_pipe(void)
{
        struct stat st;
        if (fstat(1, &st) == 0 && S_ISFIFO(st.st_mode)) {
                int have = fcntl(1, F_GETPIPE_SZ);
                if (have >= 0 && have < OUT_PIPE_ROOM)
                        (void)fcntl(1, F_SETPIPE_SZ, OUT_PIPE_ROOM);
        }
}

static void out_event(struct pod *p, const struct logline_event *ev)
{
        if (p->stdout_buf.len > OUT_FLUSH_AT)
                out_flush(p);
        if (logline_encode(ev, p->o.log_format, &p->stdout_buf) < 0) {
                out_flush(p);
                logline_encode(ev, p->o.log_format, &p->stdout_buf);
        }
}

void pod_note(struct pod *p, enum logline_level level, const char *event, const char *fmt, ...)
{
        char msg[8192];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        struct logline_event ev = {.level = level, .src = LOGLINE_SRC_RELRUN, .msg = msg};
        ev.msg_len = strlen(msg);
        logline_format_ts(proc_wall_ms(), ev.ts);
        ev.fields[0] = (struct logline_field){"event", 5, event, strlen(event), false};
        ev.nfields = 1;
        out_event(p, &ev);
}

void pod_rpc_event(struct pod *p, enum logline_level level, const char *text)
{
        struct logline_event ev = {.level = level, .src = LOGLINE_SRC_RPC, .msg = text};
        ev.msg_len = strlen(text);
        while (ev.msg_len > 0 && text[ev.msg_len - 1] == '\n')
                ev.msg_len--;
        logline_format_ts(proc_wall_ms(), ev.ts);
        out_event(p, &ev);
}

static int emit_app(void *ctx, const struct logline_event *ev)
{
        struct pod *p = ctx;
        char *slot = p->last.lines[p->last.n++ % LAST_LINES];
        snprintf(slot, sizeof p->last.lines[0], "%.*s",
                 (int)(ev->msg_len < 255 ? ev->msg_len : 255), ev->msg);
        out_event(p, ev);
        return 0;
}

static int emit_plain(void *ctx, const struct logline_event *ev)
{
        out_event(ctx, ev);
        return 0;
}

/* The last app lines, oldest first, for a boot failure message. */
static void last_lines(struct pod *p, struct buf *b)
{
        unsigned n = p->last.n < LAST_LINES ? p->last.n : LAST_LINES;
        /* context for a message: a full buffer ends it where it is */
        if (n == 0) {
                if (buf_puts(b, " (the release printed nothing)") < 0)
                        return;
                return;
        }
        if (buf_puts(b, "; last lines of the release:") < 0)
                return;
        for (unsigned i = p->last.n - n; i < p->last.n; i++)
                if (buf_printf(b, "\n  %.200s", p->last.lines[i % LAST_LINES]) < 0)
                        return;
}

static const char *signame(int sig)
{
        static char b[32];
        const char *a = sigabbrev_np(sig);
        if (a)
                snprintf(b, sizeof b, "SIG%s", a);
        else
                snprintf(b, sizeof b, "signal %d", sig);
        return b;
}

/* ---- children ---- */

int pod_start_child(struct pod *p, struct child *c, char *const argv[], enum logline_src src,
                    const char *node, struct err *e)
{
        /* The app's output in packet mode: one read is one write of the
         * release (one Logger event, one IO.puts), however late we read. */
        struct proc_spec spec = {.path = argv[0],
                                 .argv = argv,
                                 .capture = true,
                                 .new_pgrp = true,
                                 .packet = src == LOGLINE_SRC_APP};
        if (proc_spawn(&spec, &c->p, e) < 0)
                return -1;
        c->running = true;
        c->last_data = proc_mono_ms();
        struct logline_stream_opts so = {
            .src = src,
            .plain_level = LOGLINE_INFO,
            .fmt = src == LOGLINE_SRC_APP ? p->fmt : NULL,
            .node = node,
            .emit = src == LOGLINE_SRC_APP ? emit_app : emit_plain,
            .emit_ctx = p,
        };
        logline_stream_free(c->out);
        logline_stream_free(c->err);
        c->out = logline_stream_new(&so);
        so.plain_level = LOGLINE_ERROR;
        c->err = logline_stream_new(&so);
        if (!c->out || !c->err)
                return err_set(e, ERR_SOFTWARE, "out of memory");
        return 0;
}

/* The app's stdout: the node program's "<tag> done" line marks the end of
 * the task's output; it is ours, not the app's. So are its other marker
 * lines when the script backend runs a relx release's eval (they come this
 * way, RELEASE_MODE_USER). A marker starts a line. */
static void app_stdout(struct pod *p, struct logline_stream *s, const char *b, size_t n)
{
        char mark[64];
        size_t ml = (size_t)snprintf(mark, sizeof mark, "%s ", p->tag);
        bool user = p->be == &backend_script && p->script.user_markers;
        while (n > 0) {
                const char *at = memmem(b, n, mark, ml);
                while (at && at > b && at[-1] != '\n')
                        at = memmem(at + 1, n - (size_t)(at + 1 - b), mark, ml);
                const char *nl = at ? memchr(at, '\n', n - (size_t)(at - b)) : NULL;
                if (!nl) {
                        logline_stream_feed(s, b, n);
                        return;
                }
                size_t ll = (size_t)(nl - at);
                bool done = ll == ml + 4 && memcmp(at + ml, "done", 4) == 0;
                size_t used = (size_t)(nl + 1 - b);
                if (!done && !user) {
                        logline_stream_feed(s, b, used);
                } else {
                        logline_stream_feed(s, b, (size_t)(at - b));
                        logline_stream_flush(s);
                        if (done)
                                pod_step(p, EV_TASK_DONE, NULL);
                        else
                                backend_user_marker(p, at, ll);
                }
                b += used;
                n -= used;
        }
}

/* A read of the app's stdout that carries a marker of the node program's
 * (RELEASE_MODE_USER): never held, "ready" is what ends the holding. */
static bool user_marker_in(const struct pod *p, const char *b, size_t n)
{
        return p->be == &backend_script && p->script.user_markers &&
               memmem(b, n, p->tag, strlen(p->tag)) != NULL;
}

/* Feed what was held back, in arrival order, by the format known now.
 * Records: one byte (1 stdout, 2 stderr), the length (size_t), the bytes. */
static void release_held(struct pod *p)
{
        if (!p->hold.on)
                return;
        p->hold.on = false;
        size_t i = 0;
        while (i + 1 + sizeof(size_t) <= p->hold.data.len) {
                char which = p->hold.data.data[i];
                size_t n;
                memcpy(&n, p->hold.data.data + i + 1, sizeof n);
                const char *b = p->hold.data.data + i + 1 + sizeof n;
                if (which == 1)
                        app_stdout(p, p->app.out, b, n);
                else
                        logline_stream_feed(p->app.err, b, n);
                logline_stream_chunk_end(which == 1 ? p->app.out : p->app.err);
                i += 1 + sizeof n + n;
        }
        buf_fini(&p->hold.data);
}

static bool hold(struct pod *p, bool is_out, const char *b, size_t n)
{
        char which = is_out ? 1 : 2;
        size_t at = p->hold.data.len;
        if (buf_append(&p->hold.data, &which, 1) < 0 ||
            buf_append(&p->hold.data, &n, sizeof n) < 0 || buf_append(&p->hold.data, b, n) < 0) {
                p->hold.data.len = at;
                return false;
        }
        return true;
}

bool pod_read_pipe(struct pod *p, struct child *c, int *fd, bool is_out)
{
        static char chunk[READ_CHUNK];
        ssize_t r = proc_read(*fd, chunk, sizeof chunk);
        if (r < 0)
                return false;
        struct logline_stream *s = is_out ? c->out : c->err;
        bool marker = c == &p->app && is_out && r > 0 && user_marker_in(p, chunk, (size_t)r);
        if (c == &p->app && p->hold.on && !marker) {
                if (r > 0 && hold(p, is_out, chunk, (size_t)r)) {
                        c->last_data = proc_mono_ms();
                        return true;
                }
                release_held(p);
        }
        if (r == 0) {
                logline_stream_finish(s);
                close(*fd);
                *fd = -1;
                return false;
        }
        c->last_data = proc_mono_ms();
        if (c == &p->app && is_out)
                app_stdout(p, s, chunk, (size_t)r);
        else
                logline_stream_feed(s, chunk, (size_t)r);
        /* A read ends a burst unless it is full: a whole buffer, or one
         * PIPE_BUF packet that may be the first part of a larger write. */
        if ((size_t)r < sizeof chunk && r != PIPE_BUF)
                logline_stream_chunk_end(s);
        return true;
}

static int64_t elapsed(struct pod *p)
{
        return proc_mono_ms() - p->t.t0;
}

/* ---- the lifecycle ---- */

/* The outcome is final: record it and start stopping. */
static void finish(struct pod *p, int code, const char *phase, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void finish(struct pod *p, int code, const char *phase, const char *fmt, ...)
{
        release_held(p);
        p->out.known = true;
        p->out.code = code;
        p->out.phase = phase;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->out.reason, sizeof p->out.reason, fmt, ap);
        va_end(ap);
        bool was_task = p->state == ST_SETTLE;
        p->state = ST_STOP;
        int64_t now = proc_mono_ms();
        if (!was_task)
                p->t.stop_began = now;
        bool called = p->t.ready_at > 0;
        /* A VM that never became ready is still booting, and init takes
         * SIGTERM only once the boot finished: it gets a short while. */
        int64_t grace = p->o.grace_ms;
        if (!called && grace > BOOT_STOP_MS)
                grace = BOOT_STOP_MS;
        p->t.stop_deadline = now + grace;
        if (p->be)
                p->be->release(p);
        if (!p->app.running)
                return;
        /* Once the task started, the node stops itself as soon as relrun-pod's
         * node (or the rpc's) is gone: the node program armed that before
         * "ready". Its applications stop, their stop callbacks run, the VM
         * halts, in milliseconds. SIGTERM (init:stop, about a second) is the
         * fallback. */
        int64_t self_stop = p->o.grace_ms < SELF_STOP_MS ? p->o.grace_ms : SELF_STOP_MS;
        if (called && p->o.fast_stop) {
                p->t.term_at = now + self_stop;
                pod_note(p, LOGLINE_INFO, "stop", "stopping the release (grace %lld ms)",
                         (long long)p->o.grace_ms);
        } else {
                p->t.term_at = 0;
                pod_note(p, LOGLINE_INFO, "stop",
                         "stopping the release with SIGTERM (grace %lld ms)", (long long)grace);
                kill(p->app.p.pid, SIGTERM);
        }
}

static void kill_children(struct pod *p)
{
        if (p->be)
                p->be->kill(p);
        if (p->app.running)
                kill(-p->app.p.pid, SIGKILL);
        if (p->hook.c.running)
                kill(-p->hook.c.p.pid, SIGKILL);
}

/* The task's last lines are in: show its error and result, then stop. */
static void settled(struct pod *p)
{
        logline_stream_flush(p->app.out);
        logline_stream_flush(p->app.err);
        if (p->out.error[0])
                pod_rpc_event(p, LOGLINE_ERROR, p->out.error);
        if (p->out.have_result)
                pod_note(p, LOGLINE_INFO, "result", "task returned %s%s after %lld ms",
                         p->out.result.value, p->out.result.truncated ? "..." : "",
                         (long long)(p->t.task_at - p->t.ready_at));
        char reason[sizeof p->out.reason];
        snprintf(reason, sizeof reason, "%s", p->out.reason);
        finish(p, p->out.code, "task", "%s", reason);
}

/* The first line of a formatted error, for the termination message. */
static void first_line(char *out, size_t n, const char *text)
{
        while (*text == '\n')
                text++;
        size_t l = strcspn(text, "\n");
        snprintf(out, n, "%.*s", (int)(l < 600 ? l : 600), text);
}

static void on_outcome(struct pod *p, const struct pod_evdata *d)
{
        struct pod_outcome *o = &p->out;
        o->code = d->code;
        p->t.task_at = elapsed(p);
        p->t.stop_began = proc_mono_ms();
        o->error[0] = '\0';
        if (d->error)
                snprintf(o->error, sizeof o->error, "%s", d->error);
        if (d->result) {
                o->have_result = true;
                o->result = *d->result;
        }
        char line[700];
        if (d->result && d->code)
                snprintf(o->reason, sizeof o->reason, "task returned %.600s (--error-exit %d)",
                         d->result->value, d->code);
        else if (d->result)
                snprintf(o->reason, sizeof o->reason, "task succeeded");
        else if (d->error && d->code == ERR_TASK) {
                first_line(line, sizeof line, d->error);
                snprintf(o->reason, sizeof o->reason, "task failed: %s", line);
        } else
                snprintf(o->reason, sizeof o->reason, "task exited with code %d", d->code);
        p->state = ST_SETTLE;
        p->t.settle_until = proc_mono_ms() + SETTLE_MAX_MS;
        if (p->task_done_seen)
                settled(p);
}

/* The VM exited while the task ran: System.halt(N) gives N; a signal (an
 * OOM kill) is "killed", never a boot failure. */
static void vm_exit_mid_task(struct pod *p, int status)
{
        if (WIFSIGNALED(status)) {
                pod_note(p, LOGLINE_ERROR, "killed", "the release's VM was killed by %s mid-task",
                         signame(WTERMSIG(status)));
                finish(p, ERR_KILLED, "killed",
                       "the release's VM was killed by %s while the task ran",
                       signame(WTERMSIG(status)));
                return;
        }
        int code = proc_exit_code(status);
        logline_stream_flush(p->app.out);
        finish(p, code, "task", "the VM exited with status %d while the task ran (%s)", code,
               p->spec.lang == RELEASE_LANG_ERLANG ? "erlang:halt" : "System.halt");
}

static void boot_failed(struct pod *p, int status)
{
        /* its last words may still be in the pipes or held back: out with
         * them first, they are what the message quotes */
        while (p->app.p.out_fd >= 0 && pod_read_pipe(p, &p->app, &p->app.p.out_fd, true))
                ;
        while (p->app.p.err_fd >= 0 && pod_read_pipe(p, &p->app, &p->app.p.err_fd, false))
                ;
        release_held(p);
        logline_stream_flush(p->app.out);
        logline_stream_flush(p->app.err);
        struct buf b;
        buf_init(&b, 8192);
        last_lines(p, &b);
        finish(p, ERR_SOFTWARE, "boot", "the release exited (status %d) before it was ready%s",
               proc_exit_code(status), buf_str(&b));
        buf_fini(&b);
}

static void on_signal_stop(struct pod *p, int sig)
{
        pod_note(p, LOGLINE_WARNING, "signal", "got %s, stopping the release", signame(sig));
        finish(p, ERR_KILLED, "killed", "stopped by %s", signame(sig));
}

/* ---- the drain hook (--on-term) ----
 *
 * On SIGTERM while the task runs, the hook runs first: ourselves as
 * `relrun-pod --eval EXPR` (attach.c), its output as rpc events, for at most
 * --grace. The task goes on meanwhile; if it ends (the hook made it return),
 * that is its outcome. Otherwise the release stops as on any SIGTERM. */

static bool hook_running(const struct pod *p)
{
        return p->hook.c.running;
}

static void hook_start(struct pod *p, int sig)
{
        struct err e;
        char *argv[16], vm_pid[24];
        int n = 0;
        argv[n++] = "/proc/self/exe";
        if (p->vm_pid > 0) {
                /* the node we run the task on, not another one of this release */
                snprintf(vm_pid, sizeof vm_pid, "%d", (int)p->vm_pid);
                argv[n++] = "--vm-pid";
                argv[n++] = vm_pid;
        }
        argv[n++] = "--release";
        argv[n++] = (char *)p->o.release;
        if (p->o.cookie_file) {
                argv[n++] = "--cookie-file";
                argv[n++] = (char *)p->o.cookie_file;
        }
        /* the hook is in the task's language (--lang, or the release's) */
        argv[n++] = "--lang";
        argv[n++] = p->spec.lang == RELEASE_LANG_ERLANG ? "erlang" : "elixir";
        argv[n++] = "--eval";
        argv[n++] = (char *)p->o.on_term;
        argv[n] = NULL;
        p->hook.sig = sig;
        p->hook.started = proc_mono_ms();
        p->hook.deadline = p->hook.started + p->o.grace_ms;
        pod_note(p, LOGLINE_WARNING, "signal",
                 "got %s, draining: running --on-term on the node (up to %lld ms)", signame(sig),
                 (long long)p->o.grace_ms);
        p->hook.c.p.out_fd = p->hook.c.p.err_fd = -1;
        if (pod_start_child(p, &p->hook.c, argv, LOGLINE_SRC_RPC, p->node.full, &e) < 0) {
                pod_note(p, LOGLINE_ERROR, "drain", "cannot run --on-term: %s", e.msg);
                on_signal_stop(p, sig);
        }
}

/* What the hook printed, to the end. */
static void hook_drain_pipes(struct pod *p)
{
        struct child *c = &p->hook.c;
        while (c->p.out_fd >= 0 && pod_read_pipe(p, c, &c->p.out_fd, true))
                ;
        while (c->p.err_fd >= 0 && pod_read_pipe(p, c, &c->p.err_fd, false))
                ;
        if (c->out) {
                logline_stream_flush(c->out);
                logline_stream_flush(c->err);
        }
}

/* The hook ended (code >= 0) or ran out of time (code < 0): stop. */
static void hook_done(struct pod *p, int code)
{
        int64_t took = proc_mono_ms() - p->hook.started;
        hook_drain_pipes(p);
        if (p->state != ST_TASK && p->state != ST_LOST)
                return; /* the task ended meanwhile: its outcome stands */
        const char *sig = signame(p->hook.sig);
        if (code < 0) {
                pod_note(p, LOGLINE_WARNING, "drain",
                         "--on-term still running after %lld ms (the grace), stopping the "
                         "release",
                         (long long)took);
                finish(p, ERR_KILLED, "killed",
                       "stopped by %s; drained: --on-term ran out of time after %lld ms", sig,
                       (long long)took);
                return;
        }
        pod_note(p, code ? LOGLINE_WARNING : LOGLINE_INFO, "drain",
                 "--on-term finished with exit %d after %lld ms, stopping the release", code,
                 (long long)took);
        finish(p, ERR_KILLED, "killed", "stopped by %s; drained: --on-term exit %d after %lld ms",
               sig, code, (long long)took);
}

static void on_task_signal(struct pod *p, int sig)
{
        if (p->o.on_term && p->state == ST_TASK && !p->hook.started && sig == SIGTERM) {
                hook_start(p, sig);
                return;
        }
        if (hook_running(p)) {
                pod_note(p, LOGLINE_WARNING, "drain", "got %s during --on-term, stopping now",
                         signame(sig));
                kill(-p->hook.c.p.pid, SIGKILL);
        }
        on_signal_stop(p, sig);
}

/* A signal once the outcome is known keeps it: the first one is noted, the
 * next ones kill what is left. */
static void on_late_signal(struct pod *p, int sig)
{
        if (p->signals == 1 && p->out.phase && strcmp(p->out.phase, "killed") != 0) {
                pod_note(p, LOGLINE_WARNING, "signal",
                         "got %s after the outcome was known: keeping exit %d, still stopping",
                         signame(sig), p->out.code);
                return;
        }
        pod_note(p, LOGLINE_WARNING, "signal", "got %s again, killing", signame(sig));
        kill_children(p);
}

static void start_call(struct pod *p);
static void probe(struct pod *p, int64_t now);

void pod_step(struct pod *p, enum pod_event ev, const struct pod_evdata *d)
{
        static const struct pod_evdata none;
        if (!d)
                d = &none;
        int64_t now = proc_mono_ms();
        switch (p->state) {
        case ST_BOOT:
                switch (ev) {
                case EV_NODE_SEEN: start_call(p); return;
                case EV_APP_EXIT: boot_failed(p, d->status); return;
                case EV_SIGNAL: on_signal_stop(p, d->sig); return;
                case EV_TIMER:
                        if (now >= p->t.ready_deadline) {
                                if (!p->node.epmd_seen)
                                        finish(p, ERR_TIMEOUT, "ready",
                                               "node '%s' did not register with EPMD within %lld "
                                               "ms",
                                               p->node.full, (long long)p->o.ready_timeout_ms);
                                else
                                        finish(p, ERR_TIMEOUT, "ready",
                                               "the node '%s' did not take the call within %lld "
                                               "ms",
                                               p->node.full, (long long)p->o.ready_timeout_ms);
                        } else if (now >= p->t.next_probe) {
                                probe(p, now);
                        }
                        return;
                default: return;
                }
        case ST_CALL:
                switch (ev) {
                case EV_READY:
                        p->state = ST_TASK;
                        p->t.ready_at = elapsed(p);
                        if (d->text && d->text[0]) {
                                struct release_console c;
                                if (release_console_parse(d->text, strlen(d->text), &c) == 0 &&
                                    !p->o.app_format) {
                                        struct logline_format *f;
                                        struct err e;
                                        if (logline_format_new(c.format, &f, &e) == 0) {
                                                logline_format_set_local(f, !c.utc);
                                                /* streams borrow the format: keep the old one
                                                 * alive until the end */
                                                logline_stream_set_format(p->app.out, f);
                                                logline_stream_set_format(p->app.err, f);
                                                p->fmt_from_node = true;
                                                logline_format_free(p->fmt_prev);
                                                p->fmt_prev = p->fmt;
                                                p->fmt = f;
                                        }
                                }
                        }
                        /* what was held for the format goes out by it now */
                        release_held(p);
                        pod_note(p, LOGLINE_INFO, "ready",
                                 "release ready after %lld ms, task started",
                                 (long long)p->t.ready_at);
                        return;
                case EV_NOT_READY:
                        finish(p, ERR_TIMEOUT, "ready",
                               "release not ready within %lld ms (boot did not finish%s)",
                               (long long)p->o.ready_timeout_ms,
                               p->o.ready_expr ? " or --ready-expr stayed false" : "");
                        return;
                case EV_CALL_FAILED:
                        if (!d->retry) {
                                if (p->auto_backend && p->be == &backend_dist &&
                                    d->code == ERR_CONFIG && !p->o.cookie_file &&
                                    strcmp(p->node.cookie_from, "the VM's command line") != 0) {
                                        pod_note(p, LOGLINE_WARNING, "rpc",
                                                 "dist backend unavailable (%s; cookie from %s), "
                                                 "using the script backend",
                                                 d->text, p->node.cookie_from);
                                        p->be = &backend_script;
                                        start_call(p);
                                        return;
                                }
                                if (d->code == ERR_CONFIG) {
                                        /* a node that is going down refuses us too: it is
                                         * the cookie only if the VM lives on */
                                        snprintf(p->rejected, sizeof p->rejected,
                                                 "%s; cookie from %s", d->text,
                                                 p->node.cookie_from);
                                        p->t.reject_at = now + REJECT_WAIT_MS;
                                        return;
                                }
                                finish(p, d->code ? d->code : ERR_SOFTWARE, "boot", "%s", d->text);
                                return;
                        }
                        if (!p->app.running || now >= p->t.ready_deadline) {
                                finish(p, ERR_TIMEOUT, "ready",
                                       "the node '%s' did not take the call within %lld ms (%s)",
                                       p->node.full, (long long)p->o.ready_timeout_ms, d->text);
                                return;
                        }
                        p->state = ST_BOOT;
                        p->t.next_probe =
                            now + 20 * (p->script.attempts < 10 ? p->script.attempts : 10);
                        return;
                case EV_APP_EXIT: boot_failed(p, d->status); return;
                case EV_SIGNAL: on_signal_stop(p, d->sig); return;
                case EV_TIMER:
                        if (p->t.reject_at && now >= p->t.reject_at) {
                                /* a node on its way down leaves EPMD; one that stays
                                 * there, on the same port, refused our cookie */
                                struct err e;
                                int port = -1;
                                p->t.reject_at = 0;
                                if (p->app.running &&
                                    release_epmd_registered(p->node.name, &port, &e) == 1 &&
                                    port == p->node.port) {
                                        finish(p, ERR_CONFIG, "config", "%s", p->rejected);
                                } else {
                                        p->state = ST_BOOT;
                                        p->t.next_probe = now + 20;
                                }
                        } else if (now >= p->t.ready_deadline + CALL_GRACE_MS)
                                finish(p, ERR_TIMEOUT, "ready", "release not ready within %lld ms",
                                       (long long)p->o.ready_timeout_ms);
                        return;
                default: return;
                }
        case ST_TASK:
        case ST_LOST:
                switch (ev) {
                case EV_OUTCOME: on_outcome(p, d); return;
                case EV_TASK_DONE: p->task_done_seen = true; return;
                case EV_LOST:
                        p->state = ST_LOST;
                        p->t.lost_until = now + LOST_WAIT_MS;
                        snprintf(p->out.reason, sizeof p->out.reason, "%s", d->text);
                        return;
                case EV_APP_EXIT:
                        /* a result already on its way (the node stopped itself right
                         * after the task): read it before deciding */
                        p->be->drain(p);
                        if (p->state == ST_SETTLE) {
                                pod_step(p, ev, d);
                                return;
                        }
                        vm_exit_mid_task(p, d->status);
                        return;
                case EV_SIGNAL: on_task_signal(p, d->sig); return;
                case EV_TIMER:
                        if (hook_running(p) && now >= p->hook.deadline) {
                                kill(-p->hook.c.p.pid, SIGKILL);
                                hook_done(p, -1);
                                return;
                        }
                        if (p->state == ST_LOST && now >= p->t.lost_until)
                                finish(p, ERR_KILLED, "killed", "%s while the task ran",
                                       p->out.reason);
                        return;
                default: return;
                }
        case ST_SETTLE:
                switch (ev) {
                case EV_TASK_DONE:
                case EV_APP_EXIT: settled(p); return;
                case EV_SIGNAL:
                        settled(p);
                        on_late_signal(p, d->sig);
                        return;
                case EV_TIMER:
                        if (now >= p->t.settle_until)
                                settled(p);
                        return;
                default: return;
                }
        case ST_STOP:
                switch (ev) {
                case EV_SIGNAL: on_late_signal(p, d->sig); return;
                case EV_APP_EXIT:
                        pod_note(p, LOGLINE_INFO, "stop",
                                 "release stopped (status %d) %lld ms after the task ended",
                                 proc_exit_code(d->status),
                                 (long long)(proc_mono_ms() - p->t.stop_began));
                        return;
                case EV_TIMER:
                        if (p->t.term_at && now >= p->t.term_at && p->app.running) {
                                pod_note(p, LOGLINE_INFO, "stop",
                                         "the release did not stop by itself, SIGTERM");
                                kill(p->app.p.pid, SIGTERM);
                                p->t.term_at = 0;
                        }
                        if (now >= p->t.stop_deadline &&
                            (p->app.running || (p->be && p->be->busy(p)))) {
                                pod_note(p, LOGLINE_WARNING, "stop",
                                         "the release did not stop in time, killing");
                                kill_children(p);
                                p->t.stop_deadline = now + 60 * 1000;
                        }
                        return;
                default: return;
                }
        case ST_DRAIN:
                if (ev == EV_SIGNAL)
                        on_late_signal(p, d->sig);
                return;
        case ST_DONE: return;
        }
}

/* ---- the node: discovery, EPMD, the call ---- */

static void short_hostname(char *out, size_t n, bool full)
{
        char host[256] = "localhost";
        gethostname(host, sizeof host - 1);
        host[sizeof host - 1] = '\0';
        if (!full)
                host[strcspn(host, ".")] = '\0';
        snprintf(out, n, "%s", host);
}

static int read_cookie_file(const char *path, char *out, size_t n, struct err *e)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return err_sys(e, ERR_CONFIG, "cannot read the cookie file '%s'", path);
        ssize_t r = proc_read(fd, out, n - 1);
        close(fd);
        if (r < 0)
                return err_sys(e, ERR_CONFIG, "cannot read the cookie file '%s'", path);
        out[r > 0 ? r : 0] = '\0';
        out[strcspn(out, "\r\n \t")] = '\0';
        if (!out[0])
                return err_set(e, ERR_CONFIG, "the cookie file '%s' is empty", path);
        return 0;
}

/* Without the VM's word: --cookie-file, $RELEASE_COOKIE, or the release's
 * releases/COOKIE, as its bin script does. Never printed. */
static int guess_cookie(struct pod *p, struct err *e)
{
        const char *env = getenv("RELEASE_COOKIE");
        if (!p->o.cookie_file && env && *env) {
                snprintf(p->node.cookie, sizeof p->node.cookie, "%s", env);
                snprintf(p->node.cookie_from, sizeof p->node.cookie_from, "$RELEASE_COOKIE");
                return 0;
        }
        char path[4096];
        if (p->o.cookie_file) {
                snprintf(path, sizeof path, "%s", p->o.cookie_file);
        } else {
                /* <root>/bin/<name> -> <root>/releases/COOKIE */
                snprintf(path, sizeof path, "%s", p->o.release);
                for (int i = 0; i < 2; i++) {
                        char *slash = strrchr(path, '/');
                        if (slash)
                                *slash = '\0';
                        else
                                snprintf(path, sizeof path, "..");
                }
                size_t l = strlen(path);
                snprintf(path + l, sizeof path - l, "/releases/COOKIE");
        }
        if (read_cookie_file(path, p->node.cookie, sizeof p->node.cookie, e) < 0)
                return -1;
        snprintf(p->node.cookie_from, sizeof p->node.cookie_from, "%s",
                 p->o.cookie_file ? "--cookie-file" : "releases/COOKIE");
        return 0;
}

static void set_full_name(struct pod *p)
{
        snprintf(p->node.full, sizeof p->node.full, "%s@%s", p->node.name, p->node.host);
}

/* What the started VM says: its -name/-sname, -setcookie, environment. */
static void learn_from_vm(struct pod *p, const struct release_vm *vm)
{
        struct pod_node *n = &p->node;
        n->vm_seen = true;
        if (vm->dist_none || !vm->distributed) {
                pod_note(p, LOGLINE_ERROR, "config",
                         "the release's VM runs without distribution (%s): relrun-pod cannot "
                         "call it",
                         vm->dist_none ? "RELEASE_DISTRIBUTION=none" : "no -name or -sname");
                finish(p, ERR_CONFIG, "config",
                       "the release's node has no distribution (%s); relrun-pod needs "
                       "RELEASE_DISTRIBUTION=sname or name",
                       vm->dist_none ? "RELEASE_DISTRIBUTION=none" : "no -name or -sname");
                return;
        }
        snprintf(n->name, sizeof n->name, "%s", vm->name);
        n->longnames = vm->longnames;
        if (vm->host[0])
                snprintf(n->host, sizeof n->host, "%s", vm->host);
        else
                short_hostname(n->host, sizeof n->host, vm->longnames);
        set_full_name(p);
        n->no_epmd = vm->no_epmd;
        if (vm->epmd_port > 0) {
                /* the VM registers with the EPMD its environment names */
                char port[16];
                snprintf(port, sizeof port, "%d", vm->epmd_port);
                setenv("ERL_EPMD_PORT", port, 1);
        }
        struct err e;
        if (!p->o.cookie_file && vm->have_cookie) {
                snprintf(n->cookie, sizeof n->cookie, "%s", vm->cookie);
                snprintf(n->cookie_from, sizeof n->cookie_from, "the VM's command line");
        } else if (!p->o.cookie_file && vm->home[0]) {
                char path[1100];
                snprintf(path, sizeof path, "%s/.erlang.cookie", vm->home);
                if (read_cookie_file(path, n->cookie, sizeof n->cookie, &e) == 0)
                        snprintf(n->cookie_from, sizeof n->cookie_from, "%.100s", path);
        }
        if (p->vm_pid > 0)
                pod_note(p, LOGLINE_INFO, "node",
                         "the release's VM (pid %d) runs as node '%s' (%s names)", (int)p->vm_pid,
                         n->full, n->longnames ? "long" : "short");
        else
                pod_note(p, LOGLINE_INFO, "node",
                         "the release's vm.args names node '%s' (%s names); its VM was not found",
                         n->full, n->longnames ? "long" : "short");
        if (n->no_epmd && p->be == &backend_dist) {
                if (p->auto_backend) {
                        pod_note(p, LOGLINE_WARNING, "rpc",
                                 "dist backend unavailable (the node does not use EPMD), using "
                                 "the script backend");
                        p->be = &backend_script;
                } else {
                        finish(p, ERR_CONFIG, "config",
                               "the node '%s' does not register with EPMD (-epmd_module): use "
                               "--rpc script",
                               n->full);
                }
        }
}

/* A guess when the VM's command line cannot be read: $RELEASE_NODE, else
 * the script's name (how the release's env.sh decides). */
static void guess_node(struct pod *p)
{
        release_node_name(p->o.release, p->node.name, sizeof p->node.name);
        const char *rn = getenv("RELEASE_NODE");
        const char *at = rn ? strchr(rn, '@') : NULL;
        const char *d = getenv("RELEASE_DISTRIBUTION");
        p->node.longnames = d && strcmp(d, "name") == 0;
        if (at)
                snprintf(p->node.host, sizeof p->node.host, "%s", at + 1);
        else
                short_hostname(p->node.host, sizeof p->node.host, p->node.longnames);
        set_full_name(p);
}

static void probe(struct pod *p, int64_t now)
{
        if (!p->node.vm_seen) {
                struct release_vm vm;
                if (p->app.running && release_vm_find(p->app.p.pid, &p->vm_pid, &vm) == 1) {
                        learn_from_vm(p, &vm);
                        if (p->state != ST_BOOT)
                                return;
                } else if (now - p->t.t0 <
                           (p->script.user_markers ? VM_GUESS_RELX_MS : VM_GUESS_MS)) {
                        p->t.next_probe = now + 1;
                        return;
                } else if (release_vm_args_read(p->o.release, &vm) == 1 && vm.distributed) {
                        /* relx: the vm.args it wrote for this start */
                        p->vm_pid = 0;
                        learn_from_vm(p, &vm);
                        if (p->state != ST_BOOT)
                                return;
                } else {
                        p->node.vm_seen = true; /* stop looking: go by the guess */
                        pod_note(p, LOGLINE_WARNING, "node",
                                 "could not read the release's VM command line; looking for "
                                 "node '%s'",
                                 p->node.full);
                }
                if (!p->node.cookie[0] && p->be == &backend_dist) {
                        struct err e;
                        if (guess_cookie(p, &e) < 0) {
                                if (!p->auto_backend) {
                                        finish(p, ERR_CONFIG, "config", "%s", e.msg);
                                        return;
                                }
                                pod_note(p, LOGLINE_WARNING, "rpc",
                                         "dist backend unavailable (%s), using the script "
                                         "backend",
                                         e.msg);
                                p->be = &backend_script;
                        }
                }
        }
        struct err e;
        int r = p->node.no_epmd ? 0 : release_epmd_registered(p->node.name, &p->node.port, &e);
        if (r == 1 || (p->node.no_epmd && now - p->t.t0 > 200)) {
                p->node.epmd_seen = r == 1;
                pod_step(p, EV_NODE_SEEN, NULL);
                return;
        }
        /* an EPMD query costs ~0.1 ms: probe often, so the task starts
         * within a few ms of the node */
        p->t.next_probe = now + p->t.probe_interval;
        if (p->t.probe_interval < PROBE_MAX_MS)
                p->t.probe_interval++;
}

static void start_call(struct pod *p)
{
        struct err e;
        bool retry = false;
        if (p->be->start(p, &retry, &e) < 0) {
                struct pod_evdata d = {.code = e.code, .retry = retry, .text = e.msg};
                p->state = ST_CALL;
                pod_step(p, EV_CALL_FAILED, &d);
                return;
        }
        p->state = ST_CALL;
        if (p->script.attempts <= 1 || p->be == &backend_dist)
                pod_note(p, LOGLINE_INFO, "rpc", "node %s %s after %lld ms, calling it %s",
                         p->node.full, p->node.epmd_seen ? "registered" : "started",
                         (long long)elapsed(p),
                         p->be == &backend_dist ? "over distribution" : "with the release's rpc");
}

/* ---- signals, children, timers ---- */

static void reap(struct pod *p)
{
        int status;
        pid_t pid;
        while ((pid = proc_reap_one(&status)) > 0) {
                if (p->app.running && pid == p->app.p.pid) {
                        p->app.running = false;
                        p->app.status = status;
                        p->t.eof_deadline = proc_mono_ms() + EOF_WAIT_MS;
                        struct pod_evdata d = {.status = status};
                        pod_step(p, EV_APP_EXIT, &d);
                } else if (p->hook.c.running && pid == p->hook.c.p.pid) {
                        p->hook.c.running = false;
                        hook_done(p, proc_exit_code(status));
                } else if (p->be && p->be->reaped(p, pid, status)) {
                        /* the backend's */
                }
                /* anything else is an orphan we adopted as subreaper: just reaped */
        }
}

static void on_signal(struct pod *p, int sig)
{
        if (sig == SIGCHLD) {
                reap(p);
                return;
        }
        p->signals++;
        struct pod_evdata d = {.sig = sig};
        pod_step(p, EV_SIGNAL, &d);
}

static void flush_idle(struct pod *p, int64_t now)
{
        if (p->hold.on && now >= p->hold.until)
                release_held(p);
        struct child *cs[] = {&p->app, &p->script.rpc, &p->hook.c};
        for (int i = 0; i < 3; i++) {
                struct child *c = cs[i];
                if (c->out && now - c->last_data >= IDLE_FLUSH_MS) {
                        logline_stream_flush(c->out);
                        logline_stream_flush(c->err);
                }
        }
}

static int64_t next_timer(struct pod *p, int64_t now)
{
        int64_t t = now + 1000;
#define SOONER(x)                                                                                  \
        do {                                                                                       \
                if ((x) < t)                                                                       \
                        t = (x);                                                                   \
        } while (0)
        struct child *cs[] = {&p->app, &p->script.rpc, &p->hook.c};
        for (int i = 0; i < 3; i++)
                if (cs[i]->out &&
                    (logline_stream_pending(cs[i]->out) || logline_stream_pending(cs[i]->err)))
                        SOONER(cs[i]->last_data + IDLE_FLUSH_MS);
        switch (p->state) {
        case ST_BOOT:
                SOONER(p->t.next_probe);
                SOONER(p->t.ready_deadline);
                break;
        case ST_CALL:
                SOONER(p->t.ready_deadline + CALL_GRACE_MS);
                if (p->t.reject_at)
                        SOONER(p->t.reject_at);
                break;
        case ST_TASK:
                if (hook_running(p))
                        SOONER(p->hook.deadline);
                break;
        case ST_LOST: SOONER(p->t.lost_until); break;
        case ST_SETTLE: SOONER(p->t.settle_until); break;
        case ST_STOP:
                SOONER(p->t.stop_deadline);
                if (p->t.term_at)
                        SOONER(p->t.term_at);
                break;
        default: break;
        }
        if (!p->app.running && p->t.eof_deadline)
                SOONER(p->t.eof_deadline);
        if (p->hold.on)
                SOONER(p->hold.until);
#undef SOONER
        return t;
}

static bool pipes_open(const struct pod *p)
{
        return p->app.p.out_fd >= 0 || p->app.p.err_fd >= 0 || (p->be && p->be->busy(p));
}

static void close_pipes(struct pod *p)
{
        int *fds[] = {&p->app.p.out_fd, &p->app.p.err_fd};
        for (int i = 0; i < 2; i++)
                if (*fds[i] >= 0) {
                        close(*fds[i]);
                        *fds[i] = -1;
                }
        if (p->app.out) {
                logline_stream_finish(p->app.out);
                logline_stream_finish(p->app.err);
        }
        if (p->be)
                p->be->finish(p);
}

static void loop(struct pod *p)
{
        while (p->state != ST_DONE) {
                struct pollfd pf[8];
                int n = 0;
                pf[n++] = (struct pollfd){.fd = p->sfd, .events = POLLIN};
                int app0 = n;
                if (p->app.p.out_fd >= 0)
                        pf[n++] = (struct pollfd){.fd = p->app.p.out_fd, .events = POLLIN};
                if (p->app.p.err_fd >= 0)
                        pf[n++] = (struct pollfd){.fd = p->app.p.err_fd, .events = POLLIN};
                int hook0 = n;
                if (p->hook.c.running && p->hook.c.p.out_fd >= 0)
                        pf[n++] = (struct pollfd){.fd = p->hook.c.p.out_fd, .events = POLLIN};
                if (p->hook.c.running && p->hook.c.p.err_fd >= 0)
                        pf[n++] = (struct pollfd){.fd = p->hook.c.p.err_fd, .events = POLLIN};
                int be0 = n;
                if (p->be)
                        n += p->be->pollfds(p, pf + n, 8 - n);
                int64_t now = proc_mono_ms();
                int64_t wait = next_timer(p, now) - now;
                out_flush(p);
                int r = poll(pf, (nfds_t)n, wait < 0 ? 0 : (int)wait);
                if (r < 0 && errno != EINTR) {
                        finish(p, ERR_SOFTWARE, "boot", "poll: %s", strerror(errno));
                        break;
                }
                /* the app's output first: its lines come before what the
                 * backend says about the task */
                for (int i = app0; r > 0 && i < be0; i++) {
                        if (!pf[i].revents)
                                continue;
                        if (i >= hook0 && pf[i].fd == p->hook.c.p.out_fd)
                                pod_read_pipe(p, &p->hook.c, &p->hook.c.p.out_fd, true);
                        else if (i >= hook0 && pf[i].fd == p->hook.c.p.err_fd)
                                pod_read_pipe(p, &p->hook.c, &p->hook.c.p.err_fd, false);
                        else if (pf[i].fd == p->app.p.out_fd)
                                pod_read_pipe(p, &p->app, &p->app.p.out_fd, true);
                        else if (pf[i].fd == p->app.p.err_fd)
                                pod_read_pipe(p, &p->app, &p->app.p.err_fd, false);
                }
                for (int i = be0; r > 0 && i < n; i++)
                        if (pf[i].revents && p->be)
                                p->be->ready_fd(p, &pf[i]);
                if (r > 0 && pf[0].revents) {
                        int sig;
                        while ((sig = proc_read_signal(p->sfd)) > 0)
                                on_signal(p, sig);
                }
                now = proc_mono_ms();
                flush_idle(p, now);
                pod_step(p, EV_TIMER, NULL);
                if (p->state == ST_STOP && !p->app.running && !p->script.rpc.running)
                        p->state = ST_DRAIN;
                if (p->state == ST_DRAIN) {
                        if (!pipes_open(p) || (p->t.eof_deadline && now >= p->t.eof_deadline)) {
                                close_pipes(p);
                                p->state = ST_DONE;
                        }
                }
        }
        out_flush(p);
}

/* ---- descendants ---- */

/* Our descendants as /proc says (not zombies): orphans the release left
 * behind became ours as subreaper (a daemon it started in its own session),
 * and whatever they started in turn. */
static int list_descendants(pid_t self, pid_t *out, int max)
{
        enum { MAXP = 32768 };
        static pid_t pids[MAXP], ppids[MAXP];
        char path[64], st[512];
        int np = 0;
        DIR *d = opendir("/proc");
        if (!d)
                return 0;
        struct dirent *de;
        while (np < MAXP && (de = readdir(d))) {
                if (de->d_name[0] < '0' || de->d_name[0] > '9')
                        continue;
                snprintf(path, sizeof path, "/proc/%.40s/stat", de->d_name);
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                ssize_t r = read(fd, st, sizeof st - 1);
                close(fd);
                if (r <= 0)
                        continue;
                st[r] = '\0';
                char *rp = strrchr(st, ')'), *lp = strchr(st, '(');
                char state;
                int ppid;
                if (!rp || !lp || sscanf(rp + 1, " %c %d", &state, &ppid) != 2 || state == 'Z')
                        continue;
                /* EPMD, which the first VM on a host starts as a daemon, serves
                 * every node there: it is not the release's to stop */
                if (rp - lp - 1 == 4 && memcmp(lp + 1, "epmd", 4) == 0)
                        continue;
                pids[np] = (pid_t)atoi(de->d_name);
                ppids[np++] = (pid_t)ppid;
        }
        closedir(d);
        int n = 0;
        for (int i = 0; i < np && n < max; i++) {
                /* walk up the parents; a chain is short */
                pid_t up = ppids[i];
                for (int hops = 0; hops < 64 && up > 1 && up != self; hops++) {
                        int j;
                        for (j = 0; j < np && pids[j] != up; j++)
                                ;
                        up = j < np ? ppids[j] : 0;
                }
                if (up == self)
                        out[n++] = pids[i];
        }
        return n;
}

/* Stop every descendant still alive: SIGTERM, then SIGKILL after
 * DESCENDANTS_MS. Their own children become ours as they die: loop. */
static void stop_descendants(struct pod *p)
{
        pid_t self = getpid(), kids[256];
        int64_t until = proc_mono_ms() + DESCENDANTS_MS;
        int stopped = -1, quiet = 0;
        bool killing = false;
        for (;;) {
                int status;
                while (proc_reap_one(&status) > 0)
                        ;
                int n = list_descendants(self, kids, 256);
                if (n == 0) {
                        /* one more look: an orphan may be on its way to us */
                        if (quiet++ >= 2)
                                break;
                        struct timespec q = {0, 5 * 1000 * 1000};
                        nanosleep(&q, NULL);
                        continue;
                }
                quiet = 0;
                if (!killing && proc_mono_ms() >= until)
                        killing = true;
                if (stopped < 0)
                        stopped = n;
                for (int i = 0; i < n; i++)
                        kill(kids[i], killing ? SIGKILL : SIGTERM);
                struct timespec ts = {0, 10 * 1000 * 1000};
                nanosleep(&ts, NULL);
                if (killing && proc_mono_ms() > until + 2000)
                        break;
        }
        if (stopped > 0)
                pod_note(p, LOGLINE_INFO, "stop", "stopped %d process%s the release left running",
                         stopped, stopped == 1 ? "" : "es");
}

/* ---- start and end ---- */

static void make_tag(struct pod *p)
{
        unsigned char rnd[12] = {0};
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
                ssize_t r = read(fd, rnd, sizeof rnd);
                (void)r;
                close(fd);
        }
        int64_t t = proc_mono_ms() ^ ((int64_t)getpid() << 20);
        memcpy(rnd, &t, sizeof t < sizeof rnd ? sizeof t : sizeof rnd);
        char *q = p->tag + sprintf(p->tag, "RELRUN-");
        for (size_t i = 0; i < sizeof rnd; i++)
                q += sprintf(q, "%02x", rnd[i]);
}

/* Append s as a JSON string, cut to at most max bytes at a UTF-8 boundary. */
static int json_str_cut(struct buf *b, const char *s, size_t max)
{
        return codec_json_string(b, s, codec_utf8_cut(s, strlen(s), max));
}

/* Why a failed task failed, in one line for the coordinator's summary: the
 * error the task raised, else what went wrong around it (the release never
 * started, was not ready, was killed). "" on success. */
static const char *cause(struct pod *p, char *line, size_t n)
{
        if (p->out.code == 0)
                return "";
        if (p->out.error[0]) {
                first_line(line, n, p->out.error);
                return line;
        }
        /* "task exited with code 3" says no more than the code itself */
        const char *r = p->out.reason;
        bool bare = (!strncmp(r, "task failed with exit code ", 27) ||
                     !strncmp(r, "task exited with code ", 22)) &&
                    !strchr(r, ';');
        return bare ? "" : r;
}

/* The Kubernetes termination message: at most 4096 bytes of JSON. */
static void write_termination_log(struct pod *p)
{
        if (!p->o.termination_log)
                return;
        const char *ret = p->out.have_result ? p->out.result.value : "";
        const char *expr = p->o.expr ? p->o.expr : "";
        struct buf b;
        char line[700];
        buf_init(&b, 64 * 1024);
        for (size_t cut = 4096; cut >= 64; cut /= 2) {
                buf_reset(&b);
                int r = buf_printf(
                    &b, "{\"exit_code\":%d,\"phase\":\"%s\",\"duration_ms\":%lld,\"return\":",
                    p->out.code, p->out.phase ? p->out.phase : "task", (long long)elapsed(p));
                r |= json_str_cut(&b, ret, cut);
                r |= buf_puts(&b, ",\"expr\":");
                r |= json_str_cut(&b, expr, cut / 2);
                r |= buf_puts(&b, ",\"reason\":");
                r |= json_str_cut(&b, p->out.reason, cut / 4);
                r |= buf_puts(&b, ",\"cause\":");
                r |= json_str_cut(&b, cause(p, line, sizeof line), cut / 4);
                r |= buf_puts(&b, "}");
                if (r) { /* out of memory: the code at least */
                        buf_reset(&b);
                        if (buf_printf(&b, "{\"exit_code\":%d}", p->out.code) < 0)
                                break;
                }
                if (b.len <= 4096)
                        break;
        }
        int fd = open(p->o.termination_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || proc_write_all(fd, b.data, b.len) < 0)
                pod_note(p, LOGLINE_WARNING, "exit", "cannot write the termination log '%s': %s",
                         p->o.termination_log, strerror(errno));
        if (fd >= 0)
                close(fd);
        buf_fini(&b);
}

static int install(const char *dest)
{
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", dest);
        int in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
        if (in < 0 || out < 0) {
                fprintf(stderr, "relrun-pod: install '%s': %s\n", dest, strerror(errno));
                return ERR_SOFTWARE;
        }
        char b[65536];
        ssize_t r;
        while ((r = proc_read(in, b, sizeof b)) > 0)
                if (proc_write_all(out, b, (size_t)r) < 0)
                        break;
        if (r != 0 || fchmod(out, 0755) < 0 || close(out) < 0 || rename(tmp, dest) < 0) {
                fprintf(stderr, "relrun-pod: install '%s': %s\n", dest, strerror(errno));
                unlink(tmp);
                return ERR_SOFTWARE;
        }
        close(in);
        return 0;
}

/* --normalise: the log normaliser alone, stdin to stdout. */
static int normalise(struct pod *p)
{
        struct err e;
        buf_init(&p->stdout_buf, 8 * 1024 * 1024);
        if (logline_format_new(p->o.app_format, &p->fmt, &e) < 0) {
                fprintf(stderr, "relrun-pod: %s\n", e.msg);
                return ERR_USAGE;
        }
        struct logline_stream_opts so = {.src = LOGLINE_SRC_APP,
                                         .plain_level = LOGLINE_INFO,
                                         .fmt = p->fmt,
                                         .emit = emit_plain,
                                         .emit_ctx = p};
        struct logline_stream *s = logline_stream_new(&so);
        static char chunk[READ_CHUNK];
        for (;;) {
                struct pollfd pf = {.fd = 0, .events = POLLIN};
                if (logline_stream_pending(s) && poll(&pf, 1, IDLE_FLUSH_MS) == 0) {
                        logline_stream_flush(s);
                        out_flush(p);
                        continue;
                }
                ssize_t r = proc_read(0, chunk, sizeof chunk);
                if (r <= 0)
                        break;
                logline_stream_feed(s, chunk, (size_t)r);
                if ((size_t)r < sizeof chunk)
                        logline_stream_chunk_end(s);
                if (p->stdout_buf.len > OUT_FLUSH_AT)
                        out_flush(p);
        }
        logline_stream_finish(s);
        out_flush(p);
        logline_stream_free(s);
        return 0;
}

/* The task's language: --lang, else Erlang for a release (a mix or relx one,
 * or one with releases/) without Elixir in its lib/. */
static bool task_erlang(const struct podopts *o)
{
        if (o->lang != PODOPTS_LANG_AUTO)
                return o->lang == PODOPTS_LANG_ERLANG;
        struct release_layout l;
        struct err e;
        return release_layout_read(o->release, &l, &e) == 0 && !l.elixir &&
               (l.kind != RELEASE_KIND_UNKNOWN || l.releases_dir);
}

static int setup(struct pod *p, struct err *e)
{
        p->t.t0 = proc_mono_ms();
        p->app.p.out_fd = p->app.p.err_fd = p->script.rpc.p.out_fd = p->script.rpc.p.err_fd = -1;
        p->hook.c.p.out_fd = p->hook.c.p.err_fd = -1;
        buf_init(&p->stdout_buf, 8 * 1024 * 1024);
        buf_init(&p->script.line, 64 * 1024);
        buf_init(&p->script.call, 256 * 1024);
        if (logline_format_new(p->o.app_format, &p->fmt, e) < 0)
                return -1;
        make_tag(p);
        /* the release's kind and language, from the release itself */
        struct release_layout l;
        struct err le;
        bool layout = release_layout_read(p->o.release, &l, &le) == 0;
        bool relx = layout && l.kind == RELEASE_KIND_RELX;
        bool erlang = task_erlang(&p->o);
        p->script.user_markers = relx;
        /* relx's eval waits RELX_RPC_TIMEOUT (60 s) for the call: a task may run for days */
        if (relx)
                setenv("RELX_RPC_TIMEOUT", "1000000", 0); /* s; erl_call: ms in an int */
        p->spec = (struct release_call){.expr = p->o.expr,
                                        .lang = erlang ? RELEASE_LANG_ERLANG : RELEASE_LANG_ELIXIR,
                                        .ready_expr = p->o.ready_expr,
                                        .ready_timeout_ms = p->o.ready_timeout_ms,
                                        .no_fast_stop = !p->o.fast_stop,
                                        .tag = p->tag};
        /* built up front for either backend: it is also the length check */
        if ((relx ? release_eval_expr(&p->spec, &p->script.call)
                  : release_rpc_expr(&p->spec, &p->script.call)) < 0)
                return err_set(e, ERR_USAGE, "expression too long");
        p->be = p->o.rpc == PODOPTS_RPC_SCRIPT ? &backend_script : &backend_dist;
        p->auto_backend = p->o.rpc == PODOPTS_RPC_AUTO;
        guess_node(p);
        /* the one case known before the VM starts: no backend can call a
         * node without distribution */
        const char *d = getenv("RELEASE_DISTRIBUTION");
        if (d && strcmp(d, "none") == 0)
                return err_set(e, ERR_CONFIG,
                               "RELEASE_DISTRIBUTION=none: the release's node has no "
                               "distribution, so relrun-pod cannot call it (use sname or name)");
        if (p->o.cookie_file) {
                if (read_cookie_file(p->o.cookie_file, p->node.cookie, sizeof p->node.cookie, e) <
                    0)
                        return -1;
                snprintf(p->node.cookie_from, sizeof p->node.cookie_from, "--cookie-file");
        }
        if ((p->sfd = proc_signalfd(e)) < 0 || proc_become_subreaper(e) < 0)
                return -1;
        p->t.ready_deadline = p->t.t0 + p->o.ready_timeout_ms;
        /* --app-format is the app's format: nothing to wait for */
        p->hold.on = !p->o.app_format;
        /* relx's script runs a VM of its own before the release's: longer */
        p->hold.until = p->t.t0 + (relx ? VM_GUESS_RELX_MS : HOLD_MAX_MS);
        buf_init(&p->hold.data, HOLD_MAX_BYTES);
        p->t.probe_interval = 1;
        p->t.next_probe = p->t.t0;
        return 0;
}

static void start_release(struct pod *p)
{
        struct err e;
        const char *kind, *cmd = podopts_start_command(&p->o, &kind);
        char *argv[] = {(char *)p->o.release, (char *)cmd, NULL};
        pod_note(p, LOGLINE_INFO, "start", "starting %s %s (%s)", p->o.release, cmd, kind);
        p->state = ST_BOOT;
        if (pod_start_child(p, &p->app, argv, LOGLINE_SRC_APP, p->node.full, &e) < 0)
                finish(p, ERR_SOFTWARE, "boot", "cannot start the release: %s", e.msg);
}

static void report(struct pod *p)
{
        enum logline_level lvl = p->out.code == 0 ? LOGLINE_INFO : LOGLINE_ERROR;
        const char *phase = p->out.phase ? p->out.phase : "task";
        char msg[8192], code[16], ms[24];
        snprintf(msg, sizeof msg, "exit %d: %s (phase %s, %lld ms)", p->out.code, p->out.reason,
                 phase, (long long)elapsed(p));
        snprintf(code, sizeof code, "%d", p->out.code);
        snprintf(ms, sizeof ms, "%lld", (long long)elapsed(p));
        /* the outcome as fields too, for a collector to filter on */
        struct logline_event ev = {.level = lvl, .src = LOGLINE_SRC_RELRUN, .msg = msg};
        ev.msg_len = strlen(msg);
        logline_format_ts(proc_wall_ms(), ev.ts);
        ev.fields[0] = (struct logline_field){"event", 5, "exit", 4, false};
        ev.fields[1] = (struct logline_field){"exit_code", 9, code, strlen(code), true};
        ev.fields[2] = (struct logline_field){"phase", 5, phase, strlen(phase), false};
        ev.fields[3] = (struct logline_field){"duration_ms", 11, ms, strlen(ms), true};
        ev.nfields = 4;
        out_event(p, &ev);
        out_flush(p);
        write_termination_log(p);
        out_flush(p);
}

int main(int argc, char **argv)
{
        struct pod *p = &pod;
        struct err e;
        err_clear(&e);
        if (attach_wanted(argc, argv))
                return attach_main(argc, argv);
        if (podopts_parse(argc, argv, getenv("RELRUN_RELEASE"), &p->o, &e) < 0) {
                fprintf(stderr, "relrun-pod: %s\n", e.msg);
                return ERR_USAGE;
        }
        if (p->o.help) {
                fputs(podopts_usage, stdout);
                return 0;
        }
        if (p->o.version) {
                printf("relrun-pod %s\n", RELRUN_VERSION);
                return 0;
        }
        if (p->o.install_dest)
                return install(p->o.install_dest);
        widen_stdout_pipe();
        if (p->o.normalise)
                return normalise(p);
        p->t.t0 = proc_mono_ms(); /* setup sets it again; an error before needs it */
        if ((p->o.indexed && podopts_pick_index(&p->o, getenv("JOB_COMPLETION_INDEX"),
                                                task_erlang(&p->o), &e) < 0) ||
            setup(p, &e) < 0) {
                if (e.code == ERR_USAGE || !e.code) {
                        fprintf(stderr, "relrun-pod: %s\n", e.msg);
                        return e.code ? e.code : ERR_SOFTWARE;
                }
                /* a configuration error: an event and a termination message too */
                p->out.code = e.code;
                p->out.phase = e.code == ERR_CONFIG ? "config" : "boot";
                snprintf(p->out.reason, sizeof p->out.reason, "%s", e.msg);
                report(p);
                return p->out.code;
        }
        if (p->o.indexed)
                pod_note(p, LOGLINE_INFO, "start", "index %d of %d: %s", p->o.index, p->o.n_exprs,
                         p->o.expr);
        start_release(p);
        loop(p);
        stop_descendants(p);
        report(p);
        return p->out.code;
}
