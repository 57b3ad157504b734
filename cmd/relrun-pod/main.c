/* relrun-pod: the in-pod entrypoint. Starts the release, waits until it is
 * really up, runs the task on it, streams every log line in one format,
 * stops the release and exits with the task's code. See DESIGN.md. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "codec.h"
#include "dist.h"
#include "err.h"
#include "logline.h"
#include "podopts.h"
#include "proc.h"
#include "release.h"

#define IDLE_FLUSH_MS   20    /* a held-back event goes out after this much quiet */
#define SETTLE_MAX_MS   200   /* after the task, how long its last log lines may trail */
#define PROBE_MAX_MS    4     /* EPMD probe interval, growing from 1 ms */
#define AUTO_GIVE_UP_MS 20000 /* --rpc auto: node still not in EPMD, try the script backend */
#define SELF_STOP_MS    3000  /* how long the node gets to stop itself before SIGTERM */
#define EOF_WAIT_MS     300   /* after the release exits, how long its pipes may stay open */
#define LAST_LINES      12
#define READ_CHUNK      65536
#define OUT_FLUSH_AT    65536

enum phase {
        PH_BOOT,   /* release starting, waiting for its node in EPMD */
        PH_CALL,   /* rpc running: readiness on the node, then the task */
        PH_SETTLE, /* the task ended; its last log lines may still be on their way */
        PH_STOP,   /* outcome known, release (and rpc) stopping */
        PH_DRAIN,  /* children gone, reading what is left in the pipes */
        PH_DONE,
};

struct child {
        struct proc p;
        bool running;
        int status;
        struct logline_stream *out, *err;
        int64_t last_data;
};

struct pod {
        struct podopts o;
        int sfd;
        struct logline_format *fmt;
        char name[256]; /* the node's short name, as EPMD knows it */
        char node[600]; /* name@host */
        char tag[48];
        struct release_call spec; /* the task as both backends send it */
        struct buf call;          /* the script backend's rpc text */

        struct child app, rpc;
        enum podopts_rpc backend; /* script or dist, once chosen */
        struct dist_conn *dist;   /* the dist backend's connection to the node */
        char cookie[256];         /* the node's cookie: never printed */
        char host[256];           /* host part of the node's name */
        int dist_port;
        char dist_error[ERR_MSG_MAX];
        struct buf rpc_line; /* the rpc's stdout, split by us to spot markers */
        enum phase phase;
        int64_t t0, ready_deadline, next_probe, probe_interval, stop_deadline, eof_deadline;
        int64_t stop_began, settle_until, term_at; /* term_at: when to SIGTERM the app, 0 = sent */
        bool node_seen;
        int rpc_attempts;
        bool ready_seen, have_result;
        int64_t ready_at, task_at;
        struct release_marker result;

        int exit_code;
        const char *fail_phase; /* termination "phase": task, boot, ready, killed */
        char reason[ERR_MSG_MAX];
        int settle_code; /* the task's outcome while PH_SETTLE lasts */
        char settle_reason[ERR_MSG_MAX];
        char task_error[512]; /* first line of the first error the call printed */
        int signals;

        char last[LAST_LINES][256];
        unsigned nlast;
        struct buf out;
};

static struct pod pod;

/* ---- output ---- */

static void out_flush(void)
{
        if (pod.out.len && proc_write_all(1, pod.out.data, pod.out.len) < 0 && errno == EPIPE) {
                /* nobody reads our stdout any more; keep running the task regardless */
        }
        buf_reset(&pod.out);
}

static void out_event(const struct logline_event *ev)
{
        if (ev->src == LOGLINE_SRC_RPC && ev->level >= LOGLINE_ERROR && !pod.task_error[0] &&
            ev->msg_len) {
                /* The cause a failed task's summary names: "** (ArgumentError) ..." */
                const char *nl = memchr(ev->msg, '\n', ev->msg_len);
                size_t n = nl ? (size_t)(nl - ev->msg) : ev->msg_len;
                n = codec_utf8_cut(ev->msg, n, sizeof pod.task_error - 1);
                memcpy(pod.task_error, ev->msg, n);
                pod.task_error[n] = '\0';
        }
        if (pod.out.len > OUT_FLUSH_AT)
                out_flush();
        if (logline_encode(ev, pod.o.log_format, &pod.out) < 0) {
                out_flush();
                logline_encode(ev, pod.o.log_format, &pod.out);
        }
}

static void note(enum logline_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One of relrun-pod's own events (src relrun). */
static void note(enum logline_level level, const char *event, const char *fmt, ...)
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
        out_event(&ev);
}

static int emit_app(void *ctx, const struct logline_event *ev)
{
        (void)ctx;
        char *slot = pod.last[pod.nlast++ % LAST_LINES];
        snprintf(slot, sizeof pod.last[0], "%.*s", (int)(ev->msg_len < 255 ? ev->msg_len : 255),
                 ev->msg);
        out_event(ev);
        return 0;
}

static int emit_plain(void *ctx, const struct logline_event *ev)
{
        (void)ctx;
        out_event(ev);
        return 0;
}

/* The last app lines, oldest first, for a boot failure message. */
static void last_lines(struct buf *b)
{
        unsigned n = pod.nlast < LAST_LINES ? pod.nlast : LAST_LINES;
        /* context for a message: a full buffer ends it where it is */
        if (n == 0) {
                if (buf_puts(b, " (the release printed nothing)") < 0)
                        return;
                return;
        }
        if (buf_puts(b, "; last lines of the release:") < 0)
                return;
        for (unsigned i = pod.nlast - n; i < pod.nlast; i++)
                if (buf_printf(b, "\n  %s", pod.last[i % LAST_LINES]) < 0)
                        return;
}

/* ---- outcome ---- */

static int64_t elapsed(void)
{
        return proc_mono_ms() - pod.t0;
}

/* SIGKILL both children's process groups (the release's includes its port
 * programs); the graceful paths signal the processes themselves. */
static void kill_children(void)
{
        if (pod.rpc.running)
                kill(-pod.rpc.p.pid, SIGKILL);
        if (pod.app.running)
                kill(-pod.app.p.pid, SIGKILL);
}

/* The outcome is known: record it and start stopping. The first outcome wins. */
static void finish(int code, const char *phase, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void finish(int code, const char *phase, const char *fmt, ...)
{
        if (pod.phase >= PH_STOP)
                return;
        pod.exit_code = code;
        pod.fail_phase = phase;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(pod.reason, sizeof pod.reason, fmt, ap);
        va_end(ap);
        pod.phase = PH_STOP;
        int64_t now = proc_mono_ms();
        pod.stop_began = now;
        pod.stop_deadline = now + pod.o.grace_ms;
        if (pod.rpc.running)
                kill(-pod.rpc.p.pid, SIGTERM);
        if (pod.dist) {
                /* the node sees us go: its armed stopper stops it */
                dist_close(pod.dist);
                pod.dist = NULL;
        }
        if (!pod.app.running)
                return;
        /* Once the task started, the node stops itself as soon as the rpc's
         * node is gone (the wrapper armed that before "ready"): its
         * applications stop, their stop callbacks run, the VM halts, in
         * milliseconds. SIGTERM (init:stop, about a second) is the fallback. */
        int64_t self_stop = pod.o.grace_ms < SELF_STOP_MS ? pod.o.grace_ms : SELF_STOP_MS;
        if (pod.ready_seen && pod.o.fast_stop) {
                pod.term_at = now + self_stop;
                note(LOGLINE_INFO, "stop", "stopping the release (grace %lld ms)",
                     (long long)pod.o.grace_ms);
        } else {
                pod.term_at = 0;
                note(LOGLINE_INFO, "stop", "stopping the release with SIGTERM (grace %lld ms)",
                     (long long)pod.o.grace_ms);
                kill(pod.app.p.pid, SIGTERM);
        }
}

/* The task ended with this outcome; finish once its last log lines are in. */
static void settle(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void settle(int code, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(pod.settle_reason, sizeof pod.settle_reason, fmt, ap);
        va_end(ap);
        pod.settle_code = code;
        pod.phase = PH_SETTLE;
        pod.stop_began = proc_mono_ms();
        pod.settle_until = pod.stop_began + SETTLE_MAX_MS;
}

static void settled(void)
{
        if (pod.have_result)
                note(LOGLINE_INFO, "result", "task returned %s%s after %lld ms", pod.result.value,
                     pod.result.truncated ? "..." : "", (long long)(pod.task_at - pod.ready_at));
        int64_t began = pod.stop_began;
        finish(pod.settle_code, "task", "%s", pod.settle_reason);
        pod.stop_began = began;
}

/* ---- children ---- */

static int start_child(struct child *c, char *const argv[], enum logline_src src, const char *node,
                       struct err *e)
{
        /* The app's output in packet mode: one read is one write of the
         * release (one Logger event, one IO.puts), however late we read, so
         * the continuation rule of logline sees the writes as they were made. */
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
            .fmt = src == LOGLINE_SRC_APP ? pod.fmt : NULL,
            .node = node,
            .emit = src == LOGLINE_SRC_APP ? emit_app : emit_plain,
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

static void start_rpc(void)
{
        struct err e;
        char *argv[] = {(char *)pod.o.release, "rpc", (char *)buf_str(&pod.call), NULL};
        pod.rpc_attempts++;
        buf_reset(&pod.rpc_line);
        if (start_child(&pod.rpc, argv, LOGLINE_SRC_RPC, NULL, &e) < 0) {
                finish(ERR_SOFTWARE, "boot", "%s", e.msg);
                return;
        }
        pod.phase = PH_CALL;
        if (pod.rpc_attempts == 1)
                note(LOGLINE_INFO, "rpc", "node %s registered after %lld ms, calling it", pod.node,
                     (long long)elapsed());
}

static void on_marker(const struct release_marker *m)
{
        switch (m->kind) {
        case RELEASE_MARK_READY:
                pod.ready_seen = true;
                pod.ready_at = elapsed();
                note(LOGLINE_INFO, "ready", "release ready after %lld ms, task started",
                     (long long)pod.ready_at);
                break;
        case RELEASE_MARK_NOT_READY:
                finish(ERR_TIMEOUT, "ready",
                       "release not ready within %lld ms (boot did not finish%s)",
                       (long long)pod.o.ready_timeout_ms,
                       pod.o.ready_expr ? " or --ready-expr stayed false" : "");
                break;
        case RELEASE_MARK_RESULT:
                pod.result = *m;
                pod.have_result = true;
                pod.task_at = elapsed();
                break;
        case RELEASE_MARK_NONE: break;
        }
}

/* An error the task raised, reported by the dist backend: shown like the
 * script backend's rpc prints it. */
static void rpc_event(enum logline_level level, const char *text)
{
        struct logline_event ev = {.level = level, .src = LOGLINE_SRC_RPC, .msg = text};
        ev.msg_len = strlen(text);
        while (ev.msg_len > 0 && text[ev.msg_len - 1] == '\n')
                ev.msg_len--;
        logline_format_ts(proc_wall_ms(), ev.ts);
        out_event(&ev);
}

static void use_script(const char *why)
{
        note(LOGLINE_WARNING, "rpc", "dist backend unavailable (%s), using the script backend",
             why);
        pod.backend = PODOPTS_RPC_SCRIPT;
        start_rpc();
}

/* Connect over distribution and send the call; on failure fall back (auto)
 * or try again until the ready deadline (dist). */
static void start_dist(void)
{
        struct err e;
        struct buf text;
        buf_init(&text, 256 * 1024);
        pod.rpc_attempts++;
        if (dist_connect(pod.host, pod.dist_port, pod.cookie, 1000, &pod.dist, &e) < 0 ||
            release_dist_expr(&pod.spec, dist_self(pod.dist), &text) < 0 ||
            dist_eval(pod.dist, buf_str(&text), &e) < 0) {
                dist_close(pod.dist);
                pod.dist = NULL;
                snprintf(pod.dist_error, sizeof pod.dist_error, "%s", e.msg);
                if (pod.backend == PODOPTS_RPC_AUTO) {
                        use_script(e.msg);
                } else {
                        pod.node_seen = false;
                        pod.next_probe = proc_mono_ms() + 50;
                }
                buf_fini(&text);
                return;
        }
        buf_fini(&text);
        if (pod.backend == PODOPTS_RPC_AUTO)
                pod.backend = PODOPTS_RPC_DIST;
        pod.phase = PH_CALL;
        note(LOGLINE_INFO, "rpc", "node %s registered after %lld ms, calling it over distribution",
             pod.node, (long long)elapsed());
}

static void on_dist_reply(const struct dist_reply *r)
{
        struct release_marker m = {.kind = RELEASE_MARK_READY};
        switch (r->kind) {
        case DIST_NOTHING: return;
        case DIST_READY: on_marker(&m); return;
        case DIST_NOT_READY:
                m.kind = RELEASE_MARK_NOT_READY;
                on_marker(&m);
                return;
        case DIST_OK:
                m.kind = RELEASE_MARK_RESULT;
                m.error_tuple = r->error_tuple;
                m.truncated = r->truncated;
                memcpy(m.value, r->value, sizeof m.value);
                on_marker(&m);
                if (r->error_tuple && pod.o.error_exit)
                        settle(pod.o.error_exit, "task returned %s (--error-exit %d)", r->value,
                               pod.o.error_exit);
                else
                        settle(0, "task succeeded");
                return;
        case DIST_EXIT:
                if (r->text[0])
                        rpc_event(LOGLINE_ERROR, r->text);
                settle(r->code, "task exited with code %d", r->code);
                return;
        case DIST_RAISE:
                rpc_event(LOGLINE_ERROR, r->text);
                settle(ERR_TASK, "task failed with exit code 1");
                return;
        case DIST_BADRPC:
                rpc_event(LOGLINE_ERROR, r->text);
                if (pod.ready_seen)
                        settle(ERR_TASK, "the call failed: %.300s", r->text);
                else
                        finish(ERR_SOFTWARE, "boot", "the node refused the call: %.300s", r->text);
                return;
        }
}

static void read_dist(void)
{
        struct dist_reply r;
        struct err e;
        if (dist_receive(pod.dist, &r, &e) == 0) {
                on_dist_reply(&r);
                return;
        }
        dist_close(pod.dist);
        pod.dist = NULL;
        if (pod.phase >= PH_SETTLE)
                return;
        if (pod.ready_seen)
                finish(ERR_SOFTWARE, "task", "lost the connection to the node while the task ran");
        else if (pod.app.running)
                pod.phase = PH_BOOT, pod.node_seen = false, pod.next_probe = proc_mono_ms() + 20;
}

/* The rpc's stdout: marker lines are ours, everything else is the rpc's output. */
static void rpc_stdout(const char *p, size_t n)
{
        while (n > 0) {
                const char *nl = memchr(p, '\n', n);
                size_t l = nl ? (size_t)(nl - p) + 1 : n;
                if (buf_append(&pod.rpc_line, p, l) < 0) {
                        /* an over-long line cannot be a marker: pass it on as it is */
                        logline_stream_feed(pod.rpc.out, pod.rpc_line.data, pod.rpc_line.len);
                        buf_reset(&pod.rpc_line);
                        if (buf_append(&pod.rpc_line, p, l) < 0)
                                logline_stream_feed(pod.rpc.out, p, l); /* longer still */
                }
                if (nl) {
                        struct release_marker m;
                        release_parse_marker(pod.tag, pod.rpc_line.data, pod.rpc_line.len - 1, &m);
                        if (m.kind != RELEASE_MARK_NONE)
                                on_marker(&m);
                        else
                                logline_stream_feed(pod.rpc.out, pod.rpc_line.data,
                                                    pod.rpc_line.len);
                        buf_reset(&pod.rpc_line);
                }
                p += l;
                n -= l;
        }
}

/* Read what a child's pipe has. Returns false when there is nothing more for
 * now: at EOF (fd closed and set to -1) or when the pipe is empty. */
static bool read_pipe(struct child *c, int *fd, bool is_out)
{
        static char chunk[READ_CHUNK];
        ssize_t r = proc_read(*fd, chunk, sizeof chunk);
        if (r < 0)
                return false;
        struct logline_stream *s = is_out ? c->out : c->err;
        if (r == 0) {
                if (c == &pod.rpc && is_out && pod.rpc_line.len)
                        rpc_stdout("\n", 1);
                logline_stream_finish(s);
                close(*fd);
                *fd = -1;
                return false;
        }
        c->last_data = proc_mono_ms();
        if (c == &pod.rpc && is_out)
                rpc_stdout(chunk, (size_t)r);
        else
                logline_stream_feed(s, chunk, (size_t)r);
        /* A read ends a burst unless it is full: a whole buffer, or one
         * PIPE_BUF packet that may be the first part of a larger write. */
        if ((size_t)r < sizeof chunk && r != PIPE_BUF)
                logline_stream_chunk_end(s);
        return true;
}

static void on_app_exit(int status)
{
        pod.app.running = false;
        pod.app.status = status;
        pod.eof_deadline = proc_mono_ms() + EOF_WAIT_MS;
        int code = proc_exit_code(status);
        if (pod.phase >= PH_SETTLE) {
                note(LOGLINE_INFO, "stop",
                     "release stopped (status %d) %lld ms after the task ended", code,
                     (long long)(proc_mono_ms() - pod.stop_began));
                return;
        }
        if (pod.phase == PH_CALL && pod.ready_seen && pod.rpc.running) {
                /* With the script backend the node stops itself as soon as the
                 * rpc's node disconnects, which can be noticed before the rpc
                 * process is reaped: the rpc's exit decides the outcome. */
                note(LOGLINE_INFO, "stop", "release stopped (status %d) as the rpc ended", code);
                return;
        }
        struct buf b;
        buf_init(&b, 8192);
        last_lines(&b);
        if (pod.ready_seen)
                finish(ERR_SOFTWARE, "task", "the release exited (status %d) while the task ran%s",
                       code, buf_str(&b));
        else
                finish(ERR_SOFTWARE, "boot", "the release exited (status %d) before it was ready%s",
                       code, buf_str(&b));
        buf_fini(&b);
}

static void on_rpc_exit(int status)
{
        pod.rpc.running = false;
        int code = proc_exit_code(status);
        if (pod.phase >= PH_SETTLE)
                return;
        /* Markers may still sit in the pipe: read it dry first. */
        while (pod.rpc.p.out_fd >= 0 && read_pipe(&pod.rpc, &pod.rpc.p.out_fd, true))
                ;
        if (pod.phase >= PH_SETTLE)
                return;
        if (!pod.ready_seen) {
                /* The node was registered but did not take the call yet (nodedown):
                 * try again while the release lives and time is left. */
                if (pod.app.running && proc_mono_ms() < pod.ready_deadline) {
                        pod.phase = PH_BOOT;
                        pod.node_seen = true;
                        pod.next_probe = proc_mono_ms() + 20 * pod.rpc_attempts;
                        return;
                }
                finish(ERR_TIMEOUT, "ready",
                       "the release's node did not take the call within %lld ms",
                       (long long)pod.o.ready_timeout_ms);
                return;
        }
        if (code == 0 && !pod.have_result)
                settle(ERR_TASK, "the rpc ended without reporting a result");
        else if (code == 0 && pod.result.error_tuple && pod.o.error_exit)
                settle(pod.o.error_exit, "task returned %s (--error-exit %d)", pod.result.value,
                       pod.o.error_exit);
        else if (code == 0)
                settle(0, "task succeeded");
        else if (!pod.app.running && proc_exit_code(pod.app.status) != 0)
                settle(code, "task failed with exit code %d; the release exited (status %d)", code,
                       proc_exit_code(pod.app.status));
        else
                settle(code, "task failed with exit code %d", code);
}

static void reap(void)
{
        int status;
        pid_t p;
        while ((p = proc_reap_one(&status)) > 0) {
                if (pod.app.running && p == pod.app.p.pid)
                        on_app_exit(status);
                else if (pod.rpc.running && p == pod.rpc.p.pid)
                        on_rpc_exit(status);
                /* anything else is an orphan we adopted as subreaper: just reaped */
        }
}

static void on_signal(int sig)
{
        if (sig == SIGCHLD) {
                reap();
                return;
        }
        pod.signals++;
        if (pod.signals == 1 && pod.phase < PH_SETTLE) {
                note(LOGLINE_WARNING, "signal", "got %s, stopping the release", strsignal(sig));
                finish(ERR_KILLED, "killed", "stopped by %s", strsignal(sig));
        } else if (pod.signals >= 2 || pod.phase >= PH_STOP) {
                note(LOGLINE_WARNING, "signal", "got %s again, killing", strsignal(sig));
                if (pod.phase < PH_STOP || pod.exit_code == 0)
                        pod.exit_code = ERR_KILLED;
                kill_children();
        }
}

/* ---- timers ---- */

static void on_timers(int64_t now)
{
        struct child *cs[] = {&pod.app, &pod.rpc};
        for (int i = 0; i < 2; i++) {
                struct child *c = cs[i];
                if (c->out && now - c->last_data >= IDLE_FLUSH_MS) {
                        logline_stream_flush(c->out);
                        logline_stream_flush(c->err);
                }
        }
        switch (pod.phase) {
        case PH_BOOT:
                if (now >= pod.ready_deadline) {
                        finish(ERR_TIMEOUT, "ready", "release not ready within %lld ms%s%s",
                               (long long)pod.o.ready_timeout_ms,
                               pod.dist_error[0] ? "; last distribution error: " : "",
                               pod.dist_error);
                } else if (now >= pod.next_probe) {
                        struct err e;
                        int r = pod.node_seen
                                    ? 1
                                    : release_epmd_registered(pod.name, &pod.dist_port, &e);
                        bool script = pod.backend == PODOPTS_RPC_SCRIPT;
                        /* After a while without the node in EPMD (a custom node name,
                         * RELEASE_DISTRIBUTION=none) the rpc itself is the probe. */
                        if (r == 1 && !script) {
                                start_dist();
                        } else if (r == 1 || (script && now - pod.t0 > 5000)) {
                                start_rpc();
                        } else if (pod.backend == PODOPTS_RPC_AUTO &&
                                   now - pod.t0 > AUTO_GIVE_UP_MS) {
                                use_script("the node is not in EPMD");
                        } else {
                                /* an EPMD query costs ~0.1 ms: probe often, so the
                                 * task starts within a few ms of the node */
                                pod.next_probe = now + pod.probe_interval;
                                if (pod.probe_interval < PROBE_MAX_MS)
                                        pod.probe_interval++;
                        }
                }
                break;
        case PH_SETTLE:
                if (!pod.app.running || now - pod.app.last_data >= IDLE_FLUSH_MS ||
                    now >= pod.settle_until)
                        settled();
                break;
        case PH_STOP:
                if (pod.term_at && now >= pod.term_at && pod.app.running) {
                        note(LOGLINE_INFO, "stop", "the release did not stop by itself, SIGTERM");
                        kill(pod.app.p.pid, SIGTERM);
                        pod.term_at = 0;
                }
                if (now >= pod.stop_deadline && (pod.app.running || pod.rpc.running)) {
                        note(LOGLINE_WARNING, "stop",
                             "the release did not stop within %lld ms, killing",
                             (long long)pod.o.grace_ms);
                        kill_children();
                        pod.stop_deadline = now + 60 * 1000;
                }
                break;
        default: break;
        }
}

static int64_t next_timer(int64_t now)
{
        int64_t t = now + 1000;
        struct child *cs[] = {&pod.app, &pod.rpc};
        for (int i = 0; i < 2; i++)
                if (cs[i]->out &&
                    (logline_stream_pending(cs[i]->out) || logline_stream_pending(cs[i]->err)))
                        if (cs[i]->last_data + IDLE_FLUSH_MS < t)
                                t = cs[i]->last_data + IDLE_FLUSH_MS;
        if (pod.phase == PH_BOOT) {
                if (pod.next_probe < t)
                        t = pod.next_probe;
                if (pod.ready_deadline < t)
                        t = pod.ready_deadline;
        }
        if (pod.phase == PH_SETTLE && pod.settle_until < t)
                t = pod.settle_until;
        if (pod.phase == PH_SETTLE && pod.app.last_data + IDLE_FLUSH_MS < t)
                t = pod.app.last_data + IDLE_FLUSH_MS;
        if (pod.phase == PH_STOP && pod.stop_deadline < t)
                t = pod.stop_deadline;
        if (pod.phase == PH_STOP && pod.term_at && pod.term_at < t)
                t = pod.term_at;
        if (!pod.app.running && pod.eof_deadline && pod.eof_deadline < t)
                t = pod.eof_deadline;
        return t;
}

/* ---- the loop ---- */

static bool pipes_open(void)
{
        return pod.app.p.out_fd >= 0 || pod.app.p.err_fd >= 0 || pod.rpc.p.out_fd >= 0 ||
               pod.rpc.p.err_fd >= 0;
}

static void close_pipes(void)
{
        struct child *cs[] = {&pod.app, &pod.rpc};
        for (int i = 0; i < 2; i++) {
                struct child *c = cs[i];
                if (c->p.out_fd >= 0) {
                        close(c->p.out_fd);
                        c->p.out_fd = -1;
                }
                if (c->p.err_fd >= 0) {
                        close(c->p.err_fd);
                        c->p.err_fd = -1;
                }
                if (c->out) {
                        logline_stream_finish(c->out);
                        logline_stream_finish(c->err);
                }
        }
}

static void loop(void)
{
        while (pod.phase != PH_DONE) {
                struct pollfd pf[6];
                int *fds[6];
                struct child *owner[6];
                bool is_out[6];
                int n = 0;
                pf[n++] = (struct pollfd){.fd = pod.sfd, .events = POLLIN};
                pf[n++] =
                    (struct pollfd){.fd = pod.dist ? dist_fd(pod.dist) : -1, .events = POLLIN};
                struct child *cs[] = {&pod.app, &pod.rpc};
                for (int i = 0; i < 2; i++) {
                        int *both[] = {&cs[i]->p.out_fd, &cs[i]->p.err_fd};
                        for (int j = 0; j < 2; j++) {
                                if (*both[j] < 0)
                                        continue;
                                fds[n] = both[j];
                                owner[n] = cs[i];
                                is_out[n] = j == 0;
                                pf[n++] = (struct pollfd){.fd = *both[j], .events = POLLIN};
                        }
                }
                int64_t now = proc_mono_ms();
                int64_t wait = next_timer(now) - now;
                out_flush();
                int r = poll(pf, (nfds_t)n, wait < 0 ? 0 : (int)wait);
                if (r < 0 && errno != EINTR) {
                        finish(ERR_SOFTWARE, "boot", "poll: %s", strerror(errno));
                        break;
                }
                for (int i = 2; r > 0 && i < n; i++)
                        if (pf[i].revents && *fds[i] >= 0)
                                read_pipe(owner[i], fds[i], is_out[i]);
                if (r > 0 && pf[1].revents && pod.dist)
                        read_dist();
                if (r > 0 && pf[0].revents) {
                        int sig;
                        while ((sig = proc_read_signal(pod.sfd)) > 0)
                                on_signal(sig);
                }
                now = proc_mono_ms();
                on_timers(now);
                if (pod.phase >= PH_STOP && !pod.app.running && !pod.rpc.running) {
                        pod.phase = PH_DRAIN;
                        if (!pipes_open() || (pod.eof_deadline && now >= pod.eof_deadline)) {
                                close_pipes();
                                pod.phase = PH_DONE;
                        }
                }
        }
        out_flush();
}

/* ---- start and end ---- */

static void make_tag(void)
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
        char *p = pod.tag + sprintf(pod.tag, "RELRUN-");
        for (size_t i = 0; i < sizeof rnd; i++)
                p += sprintf(p, "%02x", rnd[i]);
}

/* Append s as a JSON string, cut to at most max bytes at a UTF-8 boundary. */
static int json_str_cut(struct buf *b, const char *s, size_t max)
{
        return codec_json_string(b, s, codec_utf8_cut(s, strlen(s), max));
}

/* Why a failed task failed, in one line for the coordinator's summary: the
 * error the call raised, else what went wrong around it (the release never
 * started, was not ready, was killed). "" on success. */
static const char *cause(void)
{
        if (pod.exit_code == 0)
                return "";
        if (pod.task_error[0])
                return pod.task_error;
        /* "task failed with exit code 3" says no more than the code itself */
        bool bare = (!strncmp(pod.reason, "task failed with exit code ", 27) ||
                     !strncmp(pod.reason, "task exited with code ", 22)) &&
                    !strchr(pod.reason, ';');
        return bare ? "" : pod.reason;
}

/* The Kubernetes termination message: at most 4096 bytes of JSON. */
static void write_termination_log(void)
{
        if (!pod.o.termination_log)
                return;
        const char *ret = pod.have_result ? pod.result.value : "";
        const char *expr = pod.o.expr ? pod.o.expr : "";
        struct buf b;
        buf_init(&b, 64 * 1024);
        for (size_t cut = 4096; cut >= 64; cut /= 2) {
                buf_reset(&b);
                int r = buf_printf(
                    &b, "{\"exit_code\":%d,\"phase\":\"%s\",\"duration_ms\":%lld,\"return\":",
                    pod.exit_code, pod.fail_phase ? pod.fail_phase : "task", (long long)elapsed());
                r |= json_str_cut(&b, ret, cut);
                r |= buf_puts(&b, ",\"expr\":");
                r |= json_str_cut(&b, expr, cut / 2);
                r |= buf_puts(&b, ",\"reason\":");
                r |= json_str_cut(&b, pod.reason, cut / 4);
                r |= buf_puts(&b, ",\"cause\":");
                r |= json_str_cut(&b, cause(), cut / 4);
                r |= buf_puts(&b, "}");
                if (r) { /* out of memory: the code at least */
                        buf_reset(&b);
                        if (buf_printf(&b, "{\"exit_code\":%d}", pod.exit_code) < 0)
                                break;
                }
                if (b.len <= 4096)
                        break;
        }
        int fd = open(pod.o.termination_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || proc_write_all(fd, b.data, b.len) < 0)
                note(LOGLINE_WARNING, "exit", "cannot write the termination log '%s': %s",
                     pod.o.termination_log, strerror(errno));
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
static int normalise(void)
{
        struct err e;
        buf_init(&pod.out, 8 * 1024 * 1024);
        if (logline_format_new(pod.o.app_format, &pod.fmt, &e) < 0) {
                fprintf(stderr, "relrun-pod: %s\n", e.msg);
                return ERR_USAGE;
        }
        struct logline_stream_opts so = {.src = LOGLINE_SRC_APP,
                                         .plain_level = LOGLINE_INFO,
                                         .fmt = pod.fmt,
                                         .emit = emit_plain};
        struct logline_stream *s = logline_stream_new(&so);
        static char chunk[READ_CHUNK];
        for (;;) {
                struct pollfd pf = {.fd = 0, .events = POLLIN};
                if (logline_stream_pending(s) && poll(&pf, 1, IDLE_FLUSH_MS) == 0) {
                        logline_stream_flush(s);
                        out_flush();
                        continue;
                }
                ssize_t r = proc_read(0, chunk, sizeof chunk);
                if (r <= 0)
                        break;
                logline_stream_feed(s, chunk, (size_t)r);
                if ((size_t)r < sizeof chunk)
                        logline_stream_chunk_end(s);
                if (pod.out.len > OUT_FLUSH_AT)
                        out_flush();
        }
        logline_stream_finish(s);
        out_flush();
        logline_stream_free(s);
        return 0;
}

/* The host part of the node's name, as the release's env.sh makes it. */
static void node_host(char *out, size_t n)
{
        const char *rn = getenv("RELEASE_NODE");
        const char *at = rn ? strchr(rn, '@') : NULL;
        if (at) {
                snprintf(out, n, "%s", at + 1);
                return;
        }
        char host[256] = "localhost";
        gethostname(host, sizeof host - 1);
        host[sizeof host - 1] = '\0';
        const char *d = getenv("RELEASE_DISTRIBUTION");
        if (!d || strcmp(d, "name") != 0)
                host[strcspn(host, ".")] = '\0'; /* sname: the short host name */
        snprintf(out, n, "%s", host);
}

/* The node's cookie: --cookie-file, $RELEASE_COOKIE, or the release's
 * releases/COOKIE, as its bin script does. Never printed. */
static int load_cookie(struct err *e)
{
        const char *d = getenv("RELEASE_DISTRIBUTION");
        if (d && strcmp(d, "none") == 0)
                return err_set(e, ERR_CONFIG, "RELEASE_DISTRIBUTION=none");
        const char *env = getenv("RELEASE_COOKIE");
        char path[4096];
        if (!pod.o.cookie_file && env && *env) {
                snprintf(pod.cookie, sizeof pod.cookie, "%s", env);
                return 0;
        }
        if (pod.o.cookie_file) {
                snprintf(path, sizeof path, "%s", pod.o.cookie_file);
        } else {
                /* <root>/bin/<name> -> <root>/releases/COOKIE */
                snprintf(path, sizeof path, "%s", pod.o.release);
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
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return err_sys(e, ERR_CONFIG, "cannot read the cookie file '%s'", path);
        ssize_t r = proc_read(fd, pod.cookie, sizeof pod.cookie - 1);
        close(fd);
        if (r <= 0)
                return err_set(e, ERR_CONFIG, "the cookie file '%s' is empty", path);
        pod.cookie[r] = '\0';
        pod.cookie[strcspn(pod.cookie, "\r\n \t")] = '\0';
        if (!pod.cookie[0])
                return err_set(e, ERR_CONFIG, "the cookie file '%s' is empty", path);
        return 0;
}

static int setup(struct err *e)
{
        pod.t0 = proc_mono_ms();
        pod.app.p.out_fd = pod.app.p.err_fd = pod.rpc.p.out_fd = pod.rpc.p.err_fd = -1;
        buf_init(&pod.out, 8 * 1024 * 1024);
        buf_init(&pod.rpc_line, 64 * 1024);
        buf_init(&pod.call, 256 * 1024);
        if (logline_format_new(pod.o.app_format, &pod.fmt, e) < 0)
                return -1;
        if ((pod.sfd = proc_signalfd(e)) < 0 || proc_become_subreaper(e) < 0)
                return -1;
        release_node_name(pod.o.release, pod.name, sizeof pod.name);
        node_host(pod.host, sizeof pod.host);
        snprintf(pod.node, sizeof pod.node, "%s@%s", pod.name, pod.host);
        pod.backend = pod.o.rpc;
        if (pod.backend != PODOPTS_RPC_SCRIPT && load_cookie(e) < 0) {
                if (pod.backend == PODOPTS_RPC_DIST)
                        return -1;
                note(LOGLINE_WARNING, "rpc",
                     "dist backend unavailable (%s), using the script backend", e->msg);
                pod.backend = PODOPTS_RPC_SCRIPT;
        }
        make_tag();
        pod.spec = (struct release_call){.expr = pod.o.expr,
                                         .ready_expr = pod.o.ready_expr,
                                         .ready_timeout_ms = pod.o.ready_timeout_ms,
                                         .tag = pod.tag};
        /* built up front for either backend: it is also the length check */
        if (release_rpc_expr(&pod.spec, &pod.call) < 0)
                return err_set(e, ERR_USAGE, "expression too long");
        pod.ready_deadline = pod.t0 + pod.o.ready_timeout_ms;
        pod.probe_interval = 1;
        pod.next_probe = pod.t0;
        return 0;
}

static void start_release(void)
{
        struct err e;
        const char *kind, *cmd = podopts_start_command(&pod.o, &kind);
        char *argv[] = {(char *)pod.o.release, (char *)cmd, NULL};
        note(LOGLINE_INFO, "start", "starting %s %s (%s)", pod.o.release, cmd, kind);
        if (start_child(&pod.app, argv, LOGLINE_SRC_APP, pod.node, &e) < 0)
                finish(ERR_SOFTWARE, "boot", "cannot start the release: %s", e.msg);
        pod.phase = pod.phase < PH_STOP ? PH_BOOT : pod.phase;
}

static void report(void)
{
        enum logline_level lvl = pod.exit_code == 0 ? LOGLINE_INFO : LOGLINE_ERROR;
        note(lvl, "exit", "exit %d: %s (phase %s, %lld ms)", pod.exit_code, pod.reason,
             pod.fail_phase ? pod.fail_phase : "task", (long long)elapsed());
        out_flush();
        write_termination_log();
        out_flush();
}

int main(int argc, char **argv)
{
        struct err e;
        err_clear(&e);
        if (podopts_parse(argc, argv, getenv("RELRUN_RELEASE"), &pod.o, &e) < 0) {
                fprintf(stderr, "relrun-pod: %s\n", e.msg);
                return ERR_USAGE;
        }
        if (pod.o.help) {
                fputs(podopts_usage, stdout);
                return 0;
        }
        if (pod.o.version) {
                printf("relrun-pod %s\n", RELRUN_VERSION);
                return 0;
        }
        if (pod.o.install_dest)
                return install(pod.o.install_dest);
        if (pod.o.normalise)
                return normalise();
        if (setup(&e) < 0) {
                fprintf(stderr, "relrun-pod: %s\n", e.msg);
                return e.code ? e.code : ERR_SOFTWARE;
        }
        start_release();
        loop();
        report();
        return pod.exit_code;
}
