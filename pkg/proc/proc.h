/* proc: child processes with pipes, signals read as data, reaping, clocks.
 *
 * Signals are blocked and read from a signalfd (s6, tini): handlers do no
 * work. After fork() the child makes only async-signal-safe calls, then
 * exec()s or _exit()s. */
#ifndef RELRUN_PROC_H
#define RELRUN_PROC_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "err.h"

struct proc_spec {
        const char *path;  /* executable; looked up in PATH when it has no '/' */
        char *const *argv; /* argv[0] included, NULL-terminated */
        char *const *envp; /* NULL: our environment */
        bool capture;      /* stdout and stderr on non-blocking pipes */
        bool new_pgrp;     /* own process group, so the whole group can be signalled */
        bool packet;       /* capture pipes in packet mode (O_DIRECT): each read returns
                            * one write of the child, writes over PIPE_BUF in parts */
        bool stdout_only;  /* with capture: stderr stays ours (err_fd is -1) */
        bool stdin_null;   /* stdin from /dev/null */
};

struct proc {
        pid_t pid;
        int out_fd; /* -1 when not captured */
        int err_fd;
};

/* Start a child. A failing exec (no such file, not executable) is reported
 * here as an error with its errno, not as a child that exits 127. */
int proc_spawn(const struct proc_spec *spec, struct proc *out, struct err *e);

/* Run spec->path to its end with its stdout captured into out (up to out's
 * cap), stdin from /dev/null, stderr ours, in its own process group (the
 * capture, stdout_only, stdin_null and new_pgrp members of spec are implied).
 * The bytes read pass through a stack buffer that is zeroed afterwards: they
 * may be a credential. When timeout_ms pass, or out is full, the whole group
 * is killed with SIGKILL (what the program started and left behind
 * included), and the child is reaped. On 0, *status is its wait status.
 * Errors: ERR_TIMEOUT when the deadline passed; otherwise ERR_SOFTWARE with
 * sys_errno ENOBUFS when out is full, or the errno of the failing exec (ENOENT:
 * no such program) or system call. */
int proc_run_capture(const struct proc_spec *spec, int timeout_ms, struct buf *out, int *status,
                     struct err *e);

/* Block SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT and return a non-blocking,
 * close-on-exec signalfd that reads them; ignores SIGPIPE. The mask is
 * undone in children by proc_spawn. */
int proc_signalfd(struct err *e);

/* Read one pending signal from the signalfd: its number, 0 when none, -1 on error. */
int proc_read_signal(int sfd);

/* Become a child subreaper unless we are PID 1 already, so orphans of our
 * children (daemons, grandchildren) are reaped by us. */
int proc_become_subreaper(struct err *e);

/* Reap one exited child without blocking: returns its pid and status, 0 when
 * none is waiting, -1 when there are no children at all. */
pid_t proc_reap_one(int *status);

/* The exit code a shell would report: the status, or 128+signal. */
int proc_exit_code(int status);

/* Monotonic and wall clocks in milliseconds. */
int64_t proc_mono_ms(void);
int64_t proc_wall_ms(void);

/* Read whatever is there from a non-blocking fd into p (up to n): bytes read,
 * 0 at EOF, -1 with errno EAGAIN when nothing is available. */
ssize_t proc_read(int fd, char *p, size_t n);

/* Write all of p to a blocking fd, retrying on EINTR. */
int proc_write_all(int fd, const char *p, size_t n);

#endif
