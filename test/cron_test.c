/* pkg/cron: CronJob schedules accepted and refused as the API server does,
 * with messages that name the field at fault. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cron.h"

static void test_accepts(void **state)
{
        static const char *ok[] = {
            "* * * * *",
            "0 3 * * *",
            "*/15 * * * *",
            "1-30/5 * * * *",
            "5/15 * * * *",
            "0 0 1 1 *",
            "59 23 31 12 6",
            "0 0 * * 0",
            "0,15,30,45 8-18 * * 1-5",
            "0 9 * JAN-MAR MON-FRI",
            "0 9 * jan,Jul,DEC sun,sat",
            "0 9 * * Mon-fri/2",
            "0 12 ? * ?",
            "  0\t3  *  *  *  ",
            "0 0 1-31/2 */3 *",
            "@yearly",
            "@annually",
            "@monthly",
            "@weekly",
            "@daily",
            "@midnight",
            "@hourly",
            " @hourly ",
        };
        for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
                struct err e;
                err_clear(&e);
                if (cron_check(ok[i], &e) != 0)
                        fail_msg("rejected \"%s\": %s", ok[i], e.msg);
        }
}

static void test_rejects(void **state)
{
        static const struct {
                const char *s, *msg;
        } bad[] = {
            {"", "empty schedule"},
            {"   ", "empty schedule"},
            {"* * * *", "want 5 fields (minute hour day-of-month month day-of-week), got 4"},
            {"0 * * * * *", "want 5 fields (minute hour day-of-month month day-of-week), got 6"},
            {"60 * * * *", "minute \"60\": 60 is out of range 0-59"},
            {"0 24 * * *", "hour \"24\": 24 is out of range 0-23"},
            {"0 0 0 * *", "day-of-month \"0\": 0 is out of range 1-31"},
            {"0 0 32 * *", "day-of-month \"32\": 32 is out of range 1-31"},
            {"0 0 * 13 *", "month \"13\": 13 is out of range 1-12 or JAN-DEC"},
            {"0 0 * 0 *", "month \"0\": 0 is out of range 1-12 or JAN-DEC"},
            {"0 0 * * 7",
             "day-of-week \"7\": 7 is out of range 0-6 or SUN-SAT (Sunday is 0; Kubernetes has "
             "no 7)"},
            {"0 0 * FOO *", "month \"FOO\": unknown name \"FOO\" (want 1-12 or JAN-DEC)"},
            {"0 0 * * MONDAY",
             "day-of-week \"MONDAY\": unknown name \"MONDAY\" (want 0-6 or SUN-SAT (Sunday is 0; "
             "Kubernetes has no 7))"},
            {"MON 0 * * *", "minute \"MON\": \"MON\" is not a number (want 0-59)"},
            {"*/0 * * * *", "minute \"*/0\": a step must be at least 1"},
            {"*/ * * * *", "minute \"*/\": a step is missing after \"/\""},
            {"*/x * * * *", "minute \"*/x\": step \"x\" is not a number"},
            {"0 5-3 * * *", "hour \"5-3\": range start 5 is after its end 3"},
            {"0 1-24 * * *", "hour \"1-24\": 24 is out of range 0-23"},
            {"1,,2 * * * *", "minute \"1,,2\": empty list item"},
            {"1, * * * *", "minute \"1,\": empty list item"},
            {"1- * * * *", "minute \"1-\": a number is missing"},
            {"-1 * * * *", "minute \"-1\": a number is missing"},
            {"1a * * * *", "minute \"1a\": \"1a\" is not a number"},
            {"*-5 * * * *", "minute \"*-5\": \"*\" is not a number (want 0-59)"},
            {"0 3 * * *; rm", "unexpected \";\""},
            {"0 3 * * L", "day-of-week \"L\": unknown name \"L\" (want 0-6 or SUN-SAT (Sunday is "
                          "0; Kubernetes has no 7))"},
            {"0 3 * * 5#2", "unexpected \"#\""},
            {"@every 5m",
             "@every is not valid for a CronJob; use a 5-field line, e.g. \"*/15 * * * *\" for "
             "every 15 minutes"},
            {"@sometimes",
             "unknown macro \"@sometimes\" (want @yearly, @annually, @monthly, @weekly, @daily, "
             "@midnight or @hourly)"},
            {"@Hourly",
             "unknown macro \"@Hourly\" (want @yearly, @annually, @monthly, @weekly, @daily, "
             "@midnight or @hourly)"},
            {"@daily 3", "@daily takes nothing after it"},
            {"CRON_TZ=Europe/Berlin 0 3 * * *",
             "a time zone prefix (CRON_TZ=, TZ=) is rejected by Kubernetes; use --time-zone, "
             "e.g. --time-zone Europe/Berlin"},
            {"TZ=UTC 0 3 * * *", "a time zone prefix (CRON_TZ=, TZ=) is rejected by Kubernetes; "
                                 "use --time-zone, e.g. --time-zone Europe/Berlin"},
        };
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
                struct err e;
                err_clear(&e);
                if (cron_check(bad[i].s, &e) != -1)
                        fail_msg("accepted \"%s\"", bad[i].s);
                assert_int_equal(e.code, ERR_USAGE);
                if (strcmp(e.msg, bad[i].msg))
                        fail_msg("\"%s\":\n got  %s\n want %s", bad[i].s, e.msg, bad[i].msg);
        }
}

static void test_null(void **state)
{
        struct err e;
        err_clear(&e);
        assert_int_equal(cron_check(NULL, &e), -1);
        assert_string_equal(e.msg, "empty schedule");
}

/* The shared table test/cron_schedules.tsv (it_chart.py checks the chart
 * against the same rows): every "ok" row passes, every "bad" row fails. */
static void unescape(const char *in, char *out, size_t n)
{
        size_t j = 0;
        if (!strcmp(in, "<empty>")) {
                out[0] = '\0';
                return;
        }
        for (size_t i = 0; in[i] && j + 1 < n; i++) {
                if (in[i] == '\\' && in[i + 1]) {
                        char c = in[++i];
                        out[j++] = c == 't' ? '\t' : c == 'n' ? '\n' : c;
                } else {
                        out[j++] = in[i];
                }
        }
        out[j] = '\0';
}

static void test_shared_table(void **state)
{
        (void)state;
        char path[4096];
        snprintf(path, sizeof path, "%s", __FILE__);
        char *slash = strrchr(path, '/');
        snprintf(slash ? slash + 1 : path, sizeof path - (size_t)(slash ? slash + 1 - path : 0),
                 "cron_schedules.tsv");
        FILE *f = fopen(path, "r");
        if (!f)
                fail_msg("cannot open %s", path);
        char line[512], sched[512];
        int rows = 0, oks = 0;
        while (fgets(line, sizeof line, f)) {
                line[strcspn(line, "\n")] = '\0';
                if (!line[0] || line[0] == '#')
                        continue;
                char *tab = strchr(line, '\t');
                if (!tab)
                        fail_msg("%s: row without a tab: %s", path, line);
                *tab = '\0';
                unescape(tab + 1, sched, sizeof sched);
                bool want = !strcmp(line, "ok");
                struct err e;
                err_clear(&e);
                int rc = cron_check(sched, &e);
                if (want && rc != 0)
                        fail_msg("\"%s\" rejected: %s", tab + 1, e.msg);
                if (!want && rc == 0)
                        fail_msg("\"%s\" accepted", tab + 1);
                rows++;
                oks += want;
        }
        fclose(f);
        assert_true(rows > 40);
        assert_true(oks > 10 && oks < rows);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_accepts),
            cmocka_unit_test(test_rejects),
            cmocka_unit_test(test_null),
            cmocka_unit_test(test_shared_table),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
