#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "proc.h"

/* Read a child's pipe to EOF. */
static size_t slurp(int fd, char *out, size_t cap)
{
        size_t n = 0;
        for (;;) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                poll(&p, 1, 5000);
                ssize_t r = proc_read(fd, out + n, cap - 1 - n);
                if (r == 0)
                        break;
                if (r > 0)
                        n += (size_t)r;
        }
        out[n] = '\0';
        close(fd);
        return n;
}

static void test_spawn_captures_both_streams_and_status(void **state)
{
        (void)state;
        char *argv[] = {"sh", "-c", "echo out; echo err >&2; exit 7", NULL};
        struct proc_spec spec = {.path = "sh", .argv = argv, .capture = true, .new_pgrp = true};
        struct proc p;
        struct err e;
        assert_int_equal(proc_spawn(&spec, &p, &e), 0);
        char out[64], errb[64];
        slurp(p.out_fd, out, sizeof out);
        slurp(p.err_fd, errb, sizeof errb);
        assert_string_equal(out, "out\n");
        assert_string_equal(errb, "err\n");
        int st;
        assert_int_equal(waitpid(p.pid, &st, 0), p.pid);
        assert_int_equal(proc_exit_code(st), 7);
        assert_int_equal(getpgid(0) != p.pid, 1);
}

static void test_exec_failure_is_an_error_not_a_child(void **state)
{
        (void)state;
        char *argv[] = {"/nonexistent/bin/app", "start", NULL};
        struct proc_spec spec = {.path = argv[0], .argv = argv, .capture = true};
        struct proc p;
        struct err e;
        assert_int_equal(proc_spawn(&spec, &p, &e), -1);
        assert_int_equal(e.sys_errno, ENOENT);
        assert_non_null(strstr(e.msg, "cannot run '/nonexistent/bin/app'"));
        int st;
        assert_int_equal(waitpid(-1, &st, WNOHANG), -1); /* nothing left to reap */
}

static void test_signals_arrive_on_the_fd_and_children_see_none_blocked(void **state)
{
        (void)state;
        struct err e;
        int sfd = proc_signalfd(&e);
        assert_true(sfd >= 0);
        /* the child must not inherit our blocked mask: SIGTERM has to kill it */
        char *argv[] = {"sleep", "30", NULL};
        struct proc_spec spec = {.path = "sleep", .argv = argv};
        struct proc p;
        assert_int_equal(proc_spawn(&spec, &p, &e), 0);
        kill(p.pid, SIGTERM);
        struct pollfd pf = {.fd = sfd, .events = POLLIN};
        assert_int_equal(poll(&pf, 1, 5000), 1);
        assert_int_equal(proc_read_signal(sfd), SIGCHLD);
        int st;
        assert_int_equal(proc_reap_one(&st), p.pid);
        assert_int_equal(proc_exit_code(st), 128 + SIGTERM);
        /* a signal to ourselves is read as data, not acted on */
        kill(getpid(), SIGTERM);
        assert_int_equal(poll(&pf, 1, 5000), 1);
        assert_int_equal(proc_read_signal(sfd), SIGTERM);
        assert_int_equal(proc_read_signal(sfd), 0);
        close(sfd);
}

static void test_subreaper_adopts_orphans(void **state)
{
        (void)state;
        struct err e;
        assert_int_equal(proc_become_subreaper(&e), 0);
        /* the shell forks a grandchild and exits at once: we must reap both */
        char *argv[] = {"sh", "-c", "sleep 0.2 & exit 0", NULL};
        struct proc_spec spec = {.path = "sh", .argv = argv};
        struct proc p;
        assert_int_equal(proc_spawn(&spec, &p, &e), 0);
        int reaped = 0, st;
        int64_t until = proc_mono_ms() + 5000;
        while (reaped < 2 && proc_mono_ms() < until) {
                pid_t r = proc_reap_one(&st);
                if (r > 0)
                        reaped++;
                else
                        usleep(10000);
        }
        assert_int_equal(reaped, 2);
}

/* Run to the end: stdout captured, stdin empty (cat ends at once instead of
 * waiting on ours), the exit status as it was; an ignored SIGTERM is not
 * inherited; a program that is not there is an error with its errno. */
static void test_run_capture(void **state)
{
        (void)state;
        signal(SIGTERM, SIG_IGN);
        char *argv[] = {"sh", "-c", "cat; echo out; kill -TERM $$; echo not-reached", NULL};
        struct proc_spec spec = {.path = "sh", .argv = argv};
        struct buf out;
        buf_init(&out, 1024);
        int status = 0;
        struct err e;
        err_clear(&e);
        assert_int_equal(proc_run_capture(&spec, 10000, &out, &status, &e), 0);
        signal(SIGTERM, SIG_DFL);
        assert_string_equal(buf_str(&out), "out\n");
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGTERM);

        buf_reset(&out);
        char *big[] = {"sh", "-c", "head -c 4096 /dev/zero; sleep 30", NULL};
        spec.argv = big;
        assert_int_equal(proc_run_capture(&spec, 10000, &out, &status, &e), -1);
        assert_int_equal(e.sys_errno, ENOBUFS);

        char *none[] = {"relrun-test-no-such-program", NULL};
        spec.path = none[0];
        spec.argv = none;
        assert_int_equal(proc_run_capture(&spec, 10000, &out, &status, &e), -1);
        assert_int_equal(e.sys_errno, ENOENT);
        buf_fini(&out);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_spawn_captures_both_streams_and_status),
            cmocka_unit_test(test_exec_failure_is_an_error_not_a_child),
            cmocka_unit_test(test_signals_arrive_on_the_fd_and_children_see_none_blocked),
            cmocka_unit_test(test_subreaper_adopts_orphans),
            cmocka_unit_test(test_run_capture),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
