#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"

static void test_append_grow_and_cap(void **state)
{
        (void)state;
        struct buf b;
        buf_init(&b, 10);
        assert_string_equal(buf_str(&b), "");
        assert_int_equal(buf_puts(&b, "hello"), 0);
        assert_int_equal(buf_printf(&b, "%d%d", 12, 34), 0);
        assert_string_equal(buf_str(&b), "hello1234");
        /* 2 more bytes would pass the cap of 10: refused whole, contents kept */
        assert_int_equal(buf_puts(&b, "xy"), -1);
        assert_int_equal(errno, ENOBUFS);
        assert_string_equal(buf_str(&b), "hello1234");
        assert_int_equal(buf_putc(&b, '!'), 0);
        assert_int_equal(b.len, 10);
        assert_int_equal(buf_printf(&b, "%s", "z"), -1);
        buf_fini(&b);
}

static void test_consume_reset_detach(void **state)
{
        (void)state;
        struct buf b;
        buf_init(&b, 1 << 20);
        for (int i = 0; i < 1000; i++)
                assert_int_equal(buf_printf(&b, "%03d,", i), 0);
        assert_int_equal(b.len, 4000);
        buf_consume(&b, 3996);
        assert_string_equal(buf_str(&b), "999,");
        buf_consume(&b, 100);
        assert_int_equal(b.len, 0);
        assert_int_equal(buf_puts(&b, "keep"), 0);
        char *s = buf_detach(&b);
        assert_string_equal(s, "keep");
        assert_null(b.data);
        free(s);
        s = buf_detach(&b); /* an empty buffer detaches as "" */
        assert_string_equal(s, "");
        free(s);
        buf_fini(&b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_append_grow_and_cap),
            cmocka_unit_test(test_consume_reset_detach),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
