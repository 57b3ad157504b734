#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void close_quietly(int fd)
{
        if (fd >= 0) {
                int saved = errno;
                close(fd);
                errno = saved;
        }
}

/* A pipe for a child's output; in packet mode when asked and the kernel has it
 * (Linux 3.4+), else a plain one. */
static int capture_pipe(int fds[2], bool packet)
{
        if (packet && pipe2(fds, O_CLOEXEC | O_DIRECT) == 0)
                return 0;
        return pipe2(fds, O_CLOEXEC);
}

/* In the child, after fork: async-signal-safe calls only. */
static void child_exec(const struct proc_spec *spec, int out_w, int err_w, int report_w)
{
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigaction(SIGPIPE, &dfl, NULL);
        if (spec->new_pgrp)
                setpgid(0, 0);
        if (out_w >= 0 && (dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0))
                goto fail;
        if (spec->envp)
                environ = (char **)spec->envp;
        if (strchr(spec->path, '/'))
                execv(spec->path, spec->argv);
        else
                execvp(spec->path, spec->argv);
fail:;
        int e = errno;
        ssize_t w = write(report_w, &e, sizeof e);
        (void)w;
        _exit(127);
}

int proc_spawn(const struct proc_spec *spec, struct proc *out, struct err *e)
{
        int outp[2] = {-1, -1}, errp[2] = {-1, -1}, rep[2] = {-1, -1};
        if (spec->capture &&
            (capture_pipe(outp, spec->packet) < 0 || capture_pipe(errp, spec->packet) < 0)) {
                err_sys(e, ERR_SOFTWARE, "pipe");
                goto fail;
        }
        if (pipe2(rep, O_CLOEXEC) < 0) {
                err_sys(e, ERR_SOFTWARE, "pipe");
                goto fail;
        }
        pid_t pid = fork();
        if (pid < 0) {
                err_sys(e, ERR_SOFTWARE, "fork");
                goto fail;
        }
        if (pid == 0)
                child_exec(spec, outp[1], errp[1], rep[1]);
        if (spec->new_pgrp)
                setpgid(pid, pid); /* both sides set it: no race with an early kill() */
        close_quietly(rep[1]);
        rep[1] = -1;
        int child_errno = 0;
        ssize_t r;
        do
                r = read(rep[0], &child_errno, sizeof child_errno);
        while (r < 0 && errno == EINTR);
        close_quietly(rep[0]);
        rep[0] = -1;
        if (r == (ssize_t)sizeof child_errno) {
                int st;
                waitpid(pid, &st, 0);
                errno = child_errno;
                err_sys(e, ERR_SOFTWARE, "cannot run '%s'", spec->path);
                goto fail;
        }
        out->pid = pid;
        out->out_fd = outp[0];
        out->err_fd = errp[0];
        close_quietly(outp[1]);
        close_quietly(errp[1]);
        if (spec->capture) {
                fcntl(outp[0], F_SETFL, fcntl(outp[0], F_GETFL) | O_NONBLOCK);
                fcntl(errp[0], F_SETFL, fcntl(errp[0], F_GETFL) | O_NONBLOCK);
        }
        return 0;
fail:
        close_quietly(outp[0]);
        close_quietly(outp[1]);
        close_quietly(errp[0]);
        close_quietly(errp[1]);
        close_quietly(rep[0]);
        close_quietly(rep[1]);
        return -1;
}

int proc_signalfd(struct err *e)
{
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGCHLD);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGHUP);
        sigaddset(&set, SIGQUIT);
        if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
                return err_sys(e, ERR_SOFTWARE, "sigprocmask");
        signal(SIGPIPE, SIG_IGN);
        int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
        if (fd < 0)
                return err_sys(e, ERR_SOFTWARE, "signalfd");
        return fd;
}

int proc_read_signal(int sfd)
{
        struct signalfd_siginfo si;
        ssize_t r = read(sfd, &si, sizeof si);
        if (r == (ssize_t)sizeof si)
                return (int)si.ssi_signo;
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        return -1;
}

int proc_become_subreaper(struct err *e)
{
        if (getpid() == 1)
                return 0;
        if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
                return err_sys(e, ERR_SOFTWARE, "prctl(PR_SET_CHILD_SUBREAPER)");
        return 0;
}

pid_t proc_reap_one(int *status)
{
        pid_t p;
        do
                p = waitpid(-1, status, WNOHANG);
        while (p < 0 && errno == EINTR);
        return p;
}

int proc_exit_code(int status)
{
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return 1;
}

int64_t proc_mono_ms(void)
{
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int64_t proc_wall_ms(void)
{
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

ssize_t proc_read(int fd, char *p, size_t n)
{
        ssize_t r;
        do
                r = read(fd, p, n);
        while (r < 0 && errno == EINTR);
        return r;
}

int proc_write_all(int fd, const char *p, size_t n)
{
        while (n > 0) {
                ssize_t w = write(fd, p, n);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                /* stdout made non-blocking by someone else: wait for room */
                                struct timespec ts = {0, 1000000};
                                nanosleep(&ts, NULL);
                                continue;
                        }
                        return -1;
                }
                p += w;
                n -= (size_t)w;
        }
        return 0;
}
