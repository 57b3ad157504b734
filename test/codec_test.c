#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"

static void test_base64_round_trip(void **state)
{
        (void)state;
        const char *cases[] = {"",     "f",     "fo",     "foo",
                               "foob", "fooba", "foobar", "LiveStream.run(\"#{x}\")\n\x01\xff"};
        const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy", NULL};
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                struct buf b;
                buf_init(&b, 1024);
                assert_int_equal(codec_base64_encode(cases[i], strlen(cases[i]), &b), 0);
                if (enc[i])
                        assert_string_equal(buf_str(&b), enc[i]);
                unsigned char d[64];
                size_t dl = 999;
                assert_int_equal(codec_base64_decode(buf_str(&b), b.len, d, &dl), 0);
                assert_int_equal(dl, strlen(cases[i]));
                assert_memory_equal(d, cases[i], dl);
                buf_fini(&b);
        }
}

static void test_base64_strict(void **state)
{
        (void)state;
        unsigned char d[64];
        size_t dl = 7;
        /* wrapped lines (YAML folding) are fine */
        assert_int_equal(codec_base64_decode("Zm9v\nYmFy", 9, d, &dl), 0);
        assert_int_equal(dl, 6);
        assert_memory_equal(d, "foobar", 6);
        const char *bad[] = {"Zm9", "Zm9*", "Z=9v", "Zg==Zg==", "Zh==", "Zm9=x", "===="};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                dl = 7;
                if (codec_base64_decode(bad[i], strlen(bad[i]), d, &dl) != -1)
                        fail_msg("\"%s\" decoded", bad[i]);
                assert_int_equal(dl, 7);
        }
}

static void test_utf8(void **state)
{
        (void)state;
        uint32_t cp = 0;
        assert_int_equal(codec_utf8_decode((const unsigned char *)"a", 1, &cp), 1);
        assert_int_equal(cp, 'a');
        assert_int_equal(codec_utf8_decode((const unsigned char *)"\xc3\xa9", 2, &cp), 2);
        assert_int_equal(cp, 0xe9);
        assert_int_equal(codec_utf8_decode((const unsigned char *)"\xf0\x9f\x98\x80", 4, &cp), 4);
        assert_int_equal(cp, 0x1f600);
        const char *bad[] = {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff", "\xe2\x82"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
                assert_int_equal(
                    codec_utf8_decode((const unsigned char *)bad[i], strlen(bad[i]), &cp), 0);
        assert_int_equal(codec_utf8_decode((const unsigned char *)"", 0, &cp), 0);
}

/* A cut never leaves half a character: "é" is two bytes, "€" three. */
static void test_utf8_cut(void **state)
{
        (void)state;
        const char *s = "a\xc3\xa9\xe2\x82\xac"; /* a é € */
        assert_int_equal(codec_utf8_cut(s, 6, 10), 6);
        assert_int_equal(codec_utf8_cut(s, 6, 6), 6);
        assert_int_equal(codec_utf8_cut(s, 6, 5), 3);
        assert_int_equal(codec_utf8_cut(s, 6, 4), 3);
        assert_int_equal(codec_utf8_cut(s, 6, 3), 3);
        assert_int_equal(codec_utf8_cut(s, 6, 2), 1);
        assert_int_equal(codec_utf8_cut(s, 6, 0), 0);
}

/* What a JSON parser reads back is what went in; bytes that are not UTF-8
 * become U+FFFD instead of making the line unparseable. */
static void test_json_string(void **state)
{
        (void)state;
        struct buf b;
        buf_init(&b, 1024);
        const char in[] = "q\"b\\n\nt\t\x01 \xc3\xa9 \xff";
        assert_int_equal(codec_json_string(&b, in, sizeof in - 1), 0);
        assert_string_equal(buf_str(&b), "\"q\\\"b\\\\n\\nt\\t\\u0001 \xc3\xa9 \\ufffd\"");
        buf_fini(&b);
        buf_init(&b, 4);
        assert_int_equal(codec_json_string(&b, "abcdef", 6), -1);
        buf_fini(&b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_base64_round_trip),
            cmocka_unit_test(test_base64_strict),
            cmocka_unit_test(test_utf8),
            cmocka_unit_test(test_utf8_cut),
            cmocka_unit_test(test_json_string),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
