#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli.h"

static void test_durations(void **state)
{
        (void)state;
        static const struct {
                const char *s;
                int64_t ms;
        } ok[] = {{"250ms", 250},     {"30s", 30000}, {"5m", 300000},        {"1h", 3600000},
                  {"1h30m", 5400000}, {"90", 90000},  {"1m30s500ms", 90500}, {"0s", 0}};
        for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
                int64_t ms = -1;
                struct err e;
                assert_int_equal(cli_parse_duration("--grace", ok[i].s, &ms, &e), 0);
                assert_int_equal(ms, ok[i].ms);
        }
        const char *bad[] = {"", "s", "10x", "-5s", "1.5s", "5 m", "1h30", "99999999999999999h"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                int64_t ms = 7;
                struct err e;
                assert_int_equal(cli_parse_duration("--timeout", bad[i], &ms, &e), -1);
                assert_int_equal(e.code, ERR_USAGE);
                assert_non_null(strstr(e.msg, "--timeout"));
                assert_int_equal(ms, 7); /* out-parameter untouched on error */
        }
}

static void test_ints(void **state)
{
        (void)state;
        int64_t v = 0;
        struct err e;
        assert_int_equal(cli_parse_int("--backoff-limit", "6", 0, 100, &v, &e), 0);
        assert_int_equal(v, 6);
        assert_int_equal(cli_parse_int("--backoff-limit", "101", 0, 100, &v, &e), -1);
        assert_string_equal(e.msg, "--backoff-limit 101: out of range 0..100");
        assert_int_equal(cli_parse_int("--backoff-limit", "6x", 0, 100, &v, &e), -1);
        assert_int_equal(cli_parse_int("--backoff-limit", " 6", 0, 100, &v, &e), -1);
        assert_int_equal(cli_parse_int("--backoff-limit", "", 0, 100, &v, &e), -1);
        assert_int_equal(v, 6);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_durations),
            cmocka_unit_test(test_ints),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
