#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "podopts.h"

#define ARGV(...) ((char *[]){"relrun-pod", __VA_ARGS__, NULL})
#define ARGC(v)   ((int)(sizeof(v) / sizeof(v[0])) - 1)

static int parse(char **argv, int argc, const char *env_release, struct podopts *o, struct err *e)
{
        (void)argc; /* counted from the NULL terminator, argv[0] included */
        int n = 0;
        while (argv[n])
                n++;
        err_clear(e);
        return podopts_parse(n, argv, env_release, o, e);
}

static void test_defaults(void **state)
{
        (void)state;
        char **v = ARGV("--", "LiveStream.run(\"s1\")");
        struct podopts o;
        struct err e;
        assert_int_equal(parse(v, 2, "/app/bin/my_app", &o, &e), 0);
        assert_string_equal(o.release, "/app/bin/my_app");
        assert_string_equal(o.expr, "LiveStream.run(\"s1\")");
        assert_int_equal(o.ready_timeout_ms, 120000);
        assert_int_equal(o.grace_ms, 30000);
        assert_int_equal(o.log_format, LOGLINE_OUT_JSON);
        assert_int_equal(o.rpc, PODOPTS_RPC_AUTO);
        assert_null(o.cookie_file);
        assert_int_equal(o.error_exit, 0);
        assert_true(o.fast_stop);
        assert_null(o.termination_log);
        assert_null(o.ready_expr);
        assert_int_equal(o.lang, PODOPTS_LANG_AUTO); /* told from the release */
}

static void test_lang(void **state)
{
        (void)state;
        struct podopts o;
        struct err e;
        assert_int_equal(parse(ARGV("--lang", "erlang", "--", "m:f()."), 0, "/r", &o, &e), 0);
        assert_int_equal(o.lang, PODOPTS_LANG_ERLANG);
        assert_int_equal(parse(ARGV("--lang=elixir", "--", "M.f()"), 0, "/r", &o, &e), 0);
        assert_int_equal(o.lang, PODOPTS_LANG_ELIXIR);
        assert_int_equal(parse(ARGV("--lang", "lfe", "--", "x"), 0, "/r", &o, &e), -1);
        assert_int_equal(e.code, ERR_USAGE);
        assert_string_equal(e.msg, "--lang \"lfe\": expected erlang or elixir");
}

static void test_all_flags_both_spellings(void **state)
{
        (void)state;
        char *v[] = {"relrun-pod",
                     "--release=/r/bin/a",
                     "--ready-timeout",
                     "1m30s",
                     "--ready-expr=:ok",
                     "--log-format",
                     "logfmt",
                     "--app-format=$time $message",
                     "--grace=250ms",
                     "--rpc",
                     "dist",
                     "--termination-log",
                     "/dev/termination-log",
                     "--error-exit=7",
                     "--cookie-file=/etc/cookie",
                     "Mod.f(1)",
                     NULL};
        struct podopts o;
        struct err e;
        assert_int_equal(parse(v, ARGC(v), NULL, &o, &e), 0);
        assert_string_equal(o.release, "/r/bin/a");
        assert_int_equal(o.ready_timeout_ms, 90000);
        assert_string_equal(o.ready_expr, ":ok");
        assert_int_equal(o.log_format, LOGLINE_OUT_LOGFMT);
        assert_string_equal(o.app_format, "$time $message");
        assert_int_equal(o.grace_ms, 250);
        assert_int_equal(o.rpc, PODOPTS_RPC_DIST);
        assert_string_equal(o.termination_log, "/dev/termination-log");
        assert_int_equal(o.error_exit, 7);
        assert_string_equal(o.cookie_file, "/etc/cookie");
        assert_string_equal(o.expr, "Mod.f(1)");
}

static void test_expression_after_dashes_may_look_like_a_flag(void **state)
{
        (void)state;
        char **v = ARGV("--release", "/a", "--", "--help");
        struct podopts o;
        struct err e;
        assert_int_equal(parse(v, 4, NULL, &o, &e), 0);
        assert_string_equal(o.expr, "--help");
        assert_false(o.help);
}

static void expect_usage(char **argv, int argc, const char *needle)
{
        struct podopts o;
        struct err e;
        assert_int_equal(parse(argv, argc, "/app/bin/x", &o, &e), -1);
        assert_int_equal(e.code, ERR_USAGE);
        if (!strstr(e.msg, needle))
                fail_msg("message \"%s\" lacks \"%s\"", e.msg, needle);
}

static void test_errors_name_the_flag(void **state)
{
        (void)state;
        expect_usage(ARGV("--grace"), 1, "--grace: needs a value");
        expect_usage(ARGV("--grace", "forever", "--", "x"), 4, "--grace \"forever\"");
        expect_usage(ARGV("--ready-timeout", "-5s", "--", "x"), 4, "--ready-timeout");
        expect_usage(ARGV("--log-format", "xml", "--", "x"), 4, "--log-format \"xml\"");
        expect_usage(ARGV("--rpc", "ssh", "--", "x"), 4, "--rpc \"ssh\"");
        expect_usage(ARGV("--stop", "now", "--", "x"), 4, "--stop \"now\"");
        expect_usage(ARGV("--error-exit", "0", "--", "x"), 4, "--error-exit 0: out of range");
        expect_usage(ARGV("--error-exit", "3x", "--", "x"), 4, "--error-exit \"3x\"");
        expect_usage(ARGV("--nope", "--", "x"), 3, "unknown option \"--nope\"");
        expect_usage(ARGV("a", "b"), 2, "second one");
        expect_usage(ARGV("--", "a", "b"), 3, "got 2 arguments");
        expect_usage(ARGV("--grace", "1s"), 2, "no expression");
        expect_usage(ARGV("--", ""), 2, "no expression");
}

static void test_release_required(void **state)
{
        (void)state;
        char **v = ARGV("--", "x");
        struct podopts o;
        struct err e;
        assert_int_equal(parse(v, 2, NULL, &o, &e), -1);
        assert_non_null(strstr(e.msg, "RELRUN_RELEASE"));
        assert_int_equal(parse(v, 2, "", &o, &e), -1);
}

static void test_help_version_install_need_no_expression(void **state)
{
        (void)state;
        struct podopts o;
        struct err e;
        assert_int_equal(parse(ARGV("--help"), 1, NULL, &o, &e), 0);
        assert_true(o.help);
        assert_int_equal(parse(ARGV("--version"), 1, NULL, &o, &e), 0);
        assert_true(o.version);
        assert_int_equal(parse(ARGV("--install", "/relrun/relrun-pod"), 2, NULL, &o, &e), 0);
        assert_string_equal(o.install_dest, "/relrun/relrun-pod");
        assert_non_null(strstr(podopts_usage, "--termination-log"));
}

static void test_start_command(void **state)
{
        (void)state;
        struct podopts o;
        struct err e;
        const char *kind;
        char **v = ARGV("--start-command", "console", "--", "x");
        assert_int_equal(parse(v, 4, "/app/bin/my_app", &o, &e), 0);
        assert_string_equal(o.start_command, "console");
        assert_string_equal(podopts_start_command(&o, &kind), "console");
        assert_string_equal(kind, "--start-command");
        /* not given: by the release's kind; an unreadable script keeps "start" (its
         * start then fails with the path named) */
        char **d = ARGV("--", "x");
        assert_int_equal(parse(d, 2, "/nonexistent/bin/app", &o, &e), 0);
        assert_null(o.start_command);
        assert_string_equal(podopts_start_command(&o, &kind), "start");
        assert_string_equal(kind, "release of unknown kind");
        /* one word of the script, never a shell line or a flag */
        const char *bad[] = {"", "start; rm -rf /", "fore ground", "-x", "$(id)"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                char **b = ARGV("--start-command", (char *)bad[i], "--", "x");
                assert_int_equal(parse(b, 4, "/app/bin/my_app", &o, &e), -1);
                assert_int_equal(e.code, ERR_USAGE);
                assert_non_null(strstr(e.msg, "--start-command \""));
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_defaults),
            cmocka_unit_test(test_lang),
            cmocka_unit_test(test_all_flags_both_spellings),
            cmocka_unit_test(test_expression_after_dashes_may_look_like_a_flag),
            cmocka_unit_test(test_errors_name_the_flag),
            cmocka_unit_test(test_release_required),
            cmocka_unit_test(test_help_version_install_need_no_expression),
            cmocka_unit_test(test_start_command),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
