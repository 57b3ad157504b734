#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"
#include "release.h"

/* The release's kind, read from the two real fixture releases ctest builds
 * (RELRUN_FIXTURE_REL: mix, RELRUN_FIXTURE_ERL_REL: rebar3/relx). */
static const char *fixture_script(const char *env, char *path, size_t n)
{
        const char *rel = getenv(env);
        if (!rel || !*rel)
                fail_msg("%s is not set (ctest sets it; the fixture releases are built by "
                         "the fixture_release and fixture_release_erl tests)",
                         env);
        snprintf(path, n, "%s/bin/live_stream", rel);
        return path;
}

static void test_kind_of_the_mix_fixture(void **state)
{
        (void)state;
        char path[4096];
        struct release_layout l;
        struct err e;
        assert_int_equal(
            release_layout_read(fixture_script("RELRUN_FIXTURE_REL", path, sizeof path), &l, &e),
            0);
        assert_int_equal(l.kind, RELEASE_KIND_MIX);
        assert_true(l.elixir);
        assert_string_equal(l.vsn, "0.1.0");
        assert_true(l.releases_dir);
        assert_true(l.erts_vsn[0] != '\0');
        assert_string_equal(release_start_command(l.kind), "start");
        assert_string_equal(release_kind_name(l.kind), "mix release");
}

static void test_kind_of_the_relx_fixture(void **state)
{
        (void)state;
        char path[4096];
        struct release_layout l;
        struct err e;
        assert_int_equal(release_layout_read(
                             fixture_script("RELRUN_FIXTURE_ERL_REL", path, sizeof path), &l, &e),
                         0);
        assert_int_equal(l.kind, RELEASE_KIND_RELX);
        assert_false(l.elixir); /* an Erlang release: expressions must be Erlang */
        assert_string_equal(l.vsn, "0.1.0");
        assert_true(l.releases_dir);
        assert_string_equal(release_start_command(l.kind), "foreground");
        assert_string_equal(release_kind_name(l.kind), "relx release");
}

static void test_kind_from_script_text(void **state)
{
        (void)state;
        /* the dispatch lines as the two generators write them */
        const char mix[] = "case $1 in\n  start)\n    start\n    ;;\n  start_iex)\n    ;;\n"
                           "  rpc)\n    ;;\n  *)\n    ;;\nesac\n";
        const char relx[] =
            "case \"$1\" in\n    start|daemon|daemon_boot)\n        case \"$1\" in\n"
            "            daemon)\n    ;;\n    console|console_clean|console_boot|foreground)\n"
            "        ;;\n        \"eval\")\nesac\n";
        assert_int_equal(release_kind_of_script(mix, sizeof mix - 1), RELEASE_KIND_MIX);
        assert_int_equal(release_kind_of_script(relx, sizeof relx - 1), RELEASE_KIND_RELX);
        /* words in comments, echo lines or variables are not commands */
        const char other[] =
            "#!/bin/sh\n# start) foreground) daemon)\necho \"usage: foreground|daemon\"\n"
            "exec erl -noshell -s app start\n";
        assert_int_equal(release_kind_of_script(other, sizeof other - 1), RELEASE_KIND_UNKNOWN);
        assert_int_equal(release_kind_of_script("", 0), RELEASE_KIND_UNKNOWN);
        /* a label cut off at the end of the text */
        assert_int_equal(release_kind_of_script("  foreground", 12), RELEASE_KIND_UNKNOWN);
        assert_string_equal(release_start_command(RELEASE_KIND_UNKNOWN), "start");
}

static void test_kind_of_a_missing_script_is_an_error_naming_it(void **state)
{
        (void)state;
        struct release_layout l = {.kind = RELEASE_KIND_MIX};
        struct err e;
        assert_int_equal(release_layout_read("/nonexistent/bin/app", &l, &e), -1);
        assert_int_equal(e.code, ERR_SOFTWARE);
        assert_non_null(strstr(e.msg, "'/nonexistent/bin/app'"));
        assert_non_null(strstr(e.msg, "No such file"));
        assert_int_equal(l.kind, RELEASE_KIND_MIX); /* untouched */
}

static void test_rpc_expr_carries_user_text_only_as_base64(void **state)
{
        (void)state;
        struct buf b, enc;
        buf_init(&b, 64 * 1024);
        buf_init(&enc, 1024);
        const char *hostile = "\"); System.halt(1); (\"#{System.halt(2)}";
        struct release_call c = {.expr = hostile,
                                 .ready_expr = "Ready.now?()",
                                 .ready_timeout_ms = 1500,
                                 .tag = "RELRUN-abc"};
        assert_int_equal(release_rpc_expr(&c, &b), 0);
        const char *s = buf_str(&b);
        assert_null(strstr(s, "System.halt"));
        assert_null(strstr(s, "Ready.now"));
        codec_base64_encode(hostile, strlen(hostile), &enc);
        assert_non_null(strstr(s, buf_str(&enc)));
        assert_non_null(strstr(s, "+ 1500;"));
        assert_non_null(strstr(s, ":erlang.group_leader(Process.whereis(:user), self())"));
        assert_non_null(strstr(s, "\"RELRUN-abc ready\""));
        assert_non_null(strstr(s, ":init.get_status() == {:started, :started}"));
        buf_fini(&b);
        buf_fini(&enc);
}

static void test_markers(void **state)
{
        (void)state;
        struct release_marker m;
        const char *tag = "RELRUN-abc";
        release_parse_marker(tag, "RELRUN-abc ready", 16, &m);
        assert_int_equal(m.kind, RELEASE_MARK_READY);
        release_parse_marker(tag, "RELRUN-abc not-ready", 20, &m);
        assert_int_equal(m.kind, RELEASE_MARK_NOT_READY);
        const char *ok = "RELRUN-abc result ok e29rLCAiczEifQ=="; /* {ok, "s1"} */
        release_parse_marker(tag, ok, strlen(ok), &m);
        assert_int_equal(m.kind, RELEASE_MARK_RESULT);
        assert_false(m.error_tuple);
        assert_string_equal(m.value, "{ok, \"s1\"}");
        const char *er = "RELRUN-abc result error e2Vycm9yLCA6eH0="; /* {error, :x} */
        release_parse_marker(tag, er, strlen(er), &m);
        assert_true(m.error_tuple);
        assert_string_equal(m.value, "{error, :x}");
        /* another tag, a prefix of the tag, or plain output: not markers */
        const char *others[] = {"RELRUN-abd ready",  "RELRUN-ab ready", "RELRUN-abcready",
                                "RELRUN-abc result", "progress 50%",    "RELRUN-abc readyX"};
        for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
                release_parse_marker(tag, others[i], strlen(others[i]), &m);
                assert_int_equal(m.kind, RELEASE_MARK_NONE);
        }
}

static void test_result_cut_at_utf8_boundary(void **state)
{
        (void)state;
        /* 4095 'x' then "é" (2 bytes): the cut must not split the character */
        char raw[4100];
        memset(raw, 'x', 4095);
        memcpy(raw + 4095, "\xc3\xa9", 2);
        struct buf line;
        buf_init(&line, 16384);
        assert_int_equal(buf_puts(&line, "T result ok "), 0);
        codec_base64_encode(raw, 4097, &line);
        struct release_marker m;
        release_parse_marker("T", line.data, line.len, &m);
        assert_int_equal(m.kind, RELEASE_MARK_RESULT);
        assert_true(m.truncated);
        assert_int_equal(strlen(m.value), 4095);
        buf_fini(&line);
}

static void test_node_name(void **state)
{
        (void)state;
        char n[64];
        unsetenv("RELEASE_NODE");
        release_node_name("/app/bin/live_stream", n, sizeof n);
        assert_string_equal(n, "live_stream");
        setenv("RELEASE_NODE", "worker_7@pod-abc", 1);
        release_node_name("/app/bin/live_stream", n, sizeof n);
        assert_string_equal(n, "worker_7");
        unsetenv("RELEASE_NODE");
}

static void test_epmd_not_running_is_not_registered(void **state)
{
        (void)state;
        /* a port where nothing listens: "not yet", not an error */
        setenv("ERL_EPMD_PORT", "1", 1);
        struct err e;
        assert_int_equal(release_epmd_registered("live_stream", NULL, &e), 0);
        unsetenv("ERL_EPMD_PORT");
        assert_int_equal(release_epmd_registered("", NULL, &e), -1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_rpc_expr_carries_user_text_only_as_base64),
            cmocka_unit_test(test_markers),
            cmocka_unit_test(test_result_cut_at_utf8_boundary),
            cmocka_unit_test(test_node_name),
            cmocka_unit_test(test_epmd_not_running_is_not_registered),
            cmocka_unit_test(test_kind_of_the_mix_fixture),
            cmocka_unit_test(test_kind_of_the_relx_fixture),
            cmocka_unit_test(test_kind_from_script_text),
            cmocka_unit_test(test_kind_of_a_missing_script_is_an_error_naming_it),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
