#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"
#include "release.h"

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
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
