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

#include "err.h"

struct proc_spec {
        const char *path;  /* executable; looked up in PATH when it has no '/' */
        char *const *argv; /* argv[0] included, NULL-terminated */
        char *const *envp; /* NULL: our environment */
        bool capture;      /* stdout and stderr on non-blocking pipes */
        bool new_pgrp;     /* own process group, so the whole group can be signalled */
        bool packet;       /* capture pipes in packet mode (O_DIRECT): each read returns
                            * one write of the child, writes over PIPE_BUF in parts */
};

struct proc {
        pid_t pid;
        int out_fd; /* -1 when not captured */
        int err_fd;
};

/* Start a child. A failing exec (no such file, not executable) is reported
 * here as an error with its errno, not as a child that exits 127. */
int proc_spawn(const struct proc_spec *spec, struct proc *out, struct err *e);

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
