#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
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
        /* An ignored signal stays ignored across exec: undo what we ignore. */
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        for (int s = 1; s < NSIG; s++)
                if (s != SIGKILL && s != SIGSTOP)
                        sigaction(s, &dfl, NULL);
        if (spec->new_pgrp)
                setpgid(0, 0);
        if (out_w >= 0 && dup2(out_w, 1) < 0)
                goto fail;
        if (err_w >= 0 && dup2(err_w, 2) < 0)
                goto fail;
        if (spec->stdin_null) {
                int fd = open("/dev/null", O_RDONLY);
                if (fd < 0 || dup2(fd, 0) < 0)
                        goto fail;
                if (fd != 0)
                        close(fd);
        }
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
        if (spec->capture && (capture_pipe(outp, spec->packet) < 0 ||
                              (!spec->stdout_only && capture_pipe(errp, spec->packet) < 0))) {
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
                if (errp[0] >= 0)
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

static void kill_group_reap(pid_t pid, int *status)
{
        kill(-pid, SIGKILL);
        while (waitpid(pid, status, 0) < 0 && errno == EINTR)
                ;
}

int proc_run_capture(const struct proc_spec *spec, int timeout_ms, struct buf *out, int *status,
                     struct err *e)
{
        struct proc_spec s = *spec;
        s.capture = s.stdout_only = s.stdin_null = s.new_pgrp = true;
        s.packet = false;
        struct proc p;
        if (proc_spawn(&s, &p, e) < 0)
                return -1;
        int64_t deadline = proc_mono_ms() + timeout_ms;
        int rc = 0;
        char chunk[4096];
        for (;;) {
                int64_t left = deadline - proc_mono_ms();
                if (left <= 0) {
                        rc = err_set(e, ERR_TIMEOUT, "'%s' did not finish within %d ms, killed",
                                     spec->path, timeout_ms);
                        break;
                }
                struct pollfd pf = {.fd = p.out_fd, .events = POLLIN};
                int pr = poll(&pf, 1, left > INT32_MAX ? INT32_MAX : (int)left);
                if (pr < 0 && errno == EINTR)
                        continue;
                if (pr < 0) {
                        rc = err_sys(e, ERR_SOFTWARE, "poll");
                        break;
                }
                if (pr == 0)
                        continue; /* the deadline check above ends it */
                ssize_t n = proc_read(p.out_fd, chunk, sizeof chunk);
                if (n < 0 && errno == EAGAIN)
                        continue;
                if (n < 0) {
                        rc = err_sys(e, ERR_SOFTWARE, "read from '%s'", spec->path);
                        break;
                }
                if (n == 0)
                        break;
                if (buf_append(out, chunk, (size_t)n) < 0) {
                        errno = ENOBUFS;
                        rc = err_sys(e, ERR_SOFTWARE, "'%s' printed more than %zu bytes",
                                     spec->path, out->max);
                        break;
                }
        }
        explicit_bzero(chunk, sizeof chunk);
        close_quietly(p.out_fd);
        if (rc < 0) {
                kill_group_reap(p.pid, status);
                return -1;
        }
        /* stdout closed; the program still has until the deadline to exit. */
        for (;;) {
                pid_t w = waitpid(p.pid, status, WNOHANG);
                if (w == p.pid)
                        return 0;
                if (w < 0 && errno != EINTR) {
                        err_sys(e, ERR_SOFTWARE, "waitpid");
                        kill_group_reap(p.pid, status);
                        return -1;
                }
                if (proc_mono_ms() >= deadline) {
                        kill_group_reap(p.pid, status);
                        return err_set(e, ERR_TIMEOUT, "'%s' did not finish within %d ms, killed",
                                       spec->path, timeout_ms);
                }
                struct timespec ts = {0, 5 * 1000000};
                nanosleep(&ts, NULL);
        }
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
