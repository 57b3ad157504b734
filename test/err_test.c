#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"

static void test_set_prefix_sys(void **state)
{
        (void)state;
        struct err e;
        err_clear(&e);
        assert_int_equal(err_set(&e, ERR_CONFIG, "line %d: unknown key \"%s\"", 12, "foo"), -1);
        assert_int_equal(e.code, ERR_CONFIG);
        assert_int_equal(err_prefix(&e, "kubeconfig '%s'", "/x"), -1);
        assert_string_equal(e.msg, "kubeconfig '/x': line 12: unknown key \"foo\"");
        assert_int_equal(e.code, ERR_CONFIG);
        errno = ENOENT;
        assert_int_equal(err_sys(&e, ERR_CONFIG, "open '%s'", "/y"), -1);
        assert_string_equal(e.msg, "open '/y': No such file or directory");
        assert_int_equal(e.sys_errno, ENOENT);
        assert_int_equal(errno, ENOENT); /* kept for the caller */
        assert_int_equal(err_set(NULL, 1, "ignored"), -1);
}

static void test_long_messages_are_cut_not_overflowed(void **state)
{
        (void)state;
        struct err e;
        char big[3000];
        memset(big, 'a', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        err_set(&e, ERR_USAGE, "%s", big);
        assert_int_equal(strlen(e.msg), ERR_MSG_MAX - 1);
        err_prefix(&e, "%s", big);
        assert_int_equal(strlen(e.msg), ERR_MSG_MAX - 1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_set_prefix_sys),
            cmocka_unit_test(test_long_messages_are_cut_not_overflowed),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
