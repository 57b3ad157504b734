#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

static void esc(const char *in, size_t n, const char *want)
{
        struct buf b;
        buf_init(&b, 1 << 20);
        assert_int_equal(codec_json_escape(&b, in, n), 0);
        assert_string_equal(buf_str(&b), want);
        buf_fini(&b);
}

#define ESC(lit, want) esc(lit, sizeof(lit) - 1, want)

static void test_json_escape(void **state)
{
        (void)state;
        ESC("", "");
        ESC("plain /path text, longer than eight bytes",
            "plain /path text, longer than eight bytes");
        ESC("q\"b\\n\n\r\t\b\f", "q\\\"b\\\\n\\n\\r\\t\\b\\f");
        ESC("nul\0x\x01\x1f\x7f", "nul\\u0000x\\u0001\\u001f\x7f");
        ESC("bad \xff\xfe utf8 \xc3\xa9 ok \xe2\x82 cut",
            "bad \xef\xbf\xbd\xef\xbf\xbd utf8 \xc3\xa9 ok \xef\xbf\xbd\xef\xbf\xbd cut");
        ESC("\xed\xa0\x80 surrogate", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd surrogate");
        /* every special byte at every offset of an 8-byte word */
        for (size_t at = 0; at < 17; at++) {
                char in[32], want[64];
                memset(in, 'a', sizeof in);
                in[at] = '"';
                memset(want, 'a', sizeof want);
                want[at] = '\\';
                want[at + 1] = '"';
                want[33] = '\0';
                esc(in, 32, want);
        }
        /* a long text crosses the escaper's blocks, a multi-byte character
         * on the boundary too */
        struct buf b, in;
        buf_init(&b, 1 << 20);
        buf_init(&in, 1 << 20);
        for (int i = 0; i < 5000; i++)
                assert_int_equal(buf_puts(&in, "x\xc3\xa9\n"), 0);
        assert_int_equal(codec_json_escape(&b, in.data, in.len), 0);
        assert_int_equal(b.len, 5000 * 5);
        assert_memory_equal(b.data + b.len - 5, "x\xc3\xa9\\n", 5);
        /* the cap: -1, and what is there ends on a whole escape */
        struct buf small;
        buf_init(&small, 10);
        assert_int_equal(codec_json_escape(&small, in.data, in.len), -1);
        buf_fini(&small);
        buf_fini(&b);
        buf_fini(&in);
}

/* The escaper one byte at a time, as the JSON spec says: what the fast one
 * must equal. */
static size_t ref_escape(const unsigned char *p, size_t n, char *w0)
{
        char *w = w0;
        for (size_t i = 0; i < n;) {
                unsigned char c = p[i];
                uint32_t cp;
                size_t l;
                if (c >= 0x80) {
                        if ((l = codec_utf8_decode(p + i, n - i, &cp)) != 0) {
                                memcpy(w, p + i, l);
                                w += l;
                                i += l;
                        } else {
                                memcpy(w, "\xef\xbf\xbd", 3);
                                w += 3;
                                i++;
                        }
                        continue;
                }
                if (c == '"' || c == '\\') {
                        *w++ = '\\';
                        *w++ = (char)c;
                } else if (c < 0x20) {
                        const char *named = c == '\n'   ? "\\n"
                                            : c == '\r' ? "\\r"
                                            : c == '\t' ? "\\t"
                                            : c == '\b' ? "\\b"
                                            : c == '\f' ? "\\f"
                                                        : NULL;
                        if (named) {
                                memcpy(w, named, 2);
                                w += 2;
                        } else {
                                w += sprintf(w, "\\u%04x", c);
                        }
                } else {
                        *w++ = (char)c;
                }
                i++;
        }
        return (size_t)(w - w0);
}

/* Random texts of every length up to 80, mostly plain with specials, UTF-8
 * and broken UTF-8 sprinkled at random places: the wide paths (16 and 8
 * bytes a step, the tail read as the last 16 bytes) write exactly what the
 * byte-at-a-time escaper writes, and never past the room they were given. */
static void test_json_escape_to_matches_reference(void **state)
{
        (void)state;
        static const char *const bits[] = {
            "\"",       "\\",           "\n",   "\x01",     "\x7f",
            "\xc3\xa9", "\xe2\x82\xac", "\xff", "\xe2\x82", "\xf0\x9f\x98\x80"};
        unsigned seed = 12345;
        for (int round = 0; round < 20000; round++) {
                unsigned char in[96];
                size_t n = 0, len = (size_t)(round % 81);
                while (n < len) {
                        seed = seed * 1103515245u + 12345u;
                        unsigned r = (seed >> 16) % 64;
                        if (r < 54) {
                                in[n++] = (unsigned char)('a' + r % 26);
                        } else {
                                const char *b = bits[r - 54];
                                size_t bl = strlen(b);
                                if (n + bl > len)
                                        bl = len - n;
                                memcpy(in + n, b, bl);
                                n += bl;
                        }
                }
                char want[96 * 6], got[96 * 6 + 16];
                size_t wl = ref_escape(in, n, want);
                memset(got, '#', sizeof got);
                char *end = codec_json_escape_to(got, (const char *)in, n);
                assert_int_equal((size_t)(end - got), wl);
                assert_memory_equal(got, want, wl);
                for (size_t i = n * 6; i < sizeof got; i++)
                        assert_int_equal(got[i], '#'); /* nothing past the room */
        }
}

static int scan(const char *s, struct codec_json_member *m, size_t max, unsigned *fl)
{
        return codec_json_scan(s, strlen(s), m, max, fl);
}

static void test_json_scan(void **state)
{
        (void)state;
        struct codec_json_member m[4];
        unsigned fl = 99;
        assert_int_equal(scan(" {\"ts\":\"a\\/b\",\"n\":-1.5e3,\"o\":{\"x\":[1,{},[]]},\"t\":true,"
                              "\"f\":false,\"z\":null} ",
                              m, 4, &fl),
                         6);
        assert_int_equal(fl, CODEC_JSON_SLASH);
        assert_memory_equal(m[0].key, "ts", 2);
        assert_int_equal(m[0].kind, CODEC_JSON_STRING);
        assert_int_equal(m[0].val_len, 4);
        assert_true(m[0].val_escaped);
        assert_int_equal(m[1].kind, CODEC_JSON_NUMBER);
        assert_int_equal(m[1].val_len, 6);
        assert_int_equal(m[2].kind, CODEC_JSON_OBJECT);
        assert_int_equal(m[2].val_len, strlen("{\"x\":[1,{},[]]}"));
        assert_int_equal(m[3].kind, CODEC_JSON_TRUE);
        assert_int_equal(scan("{}", m, 4, &fl), 0);
        assert_int_equal(fl, 0);
        assert_int_equal(scan("{\"msg\":\"caf\xc3\xa9 \\u00e9\\ud83d\\ude00\"}", m, 4, NULL), 1);
        const char *bad[] = {"",
                             "[1,2]",
                             "\"s\"",
                             "{",
                             "{\"a\"}",
                             "{\"a\":}",
                             "{\"a\":1,}",
                             "{\"a\":1}x",
                             "{\"a\":1}{}",
                             "{a:1}",
                             "{\"a\":01}",
                             "{\"a\":1.}",
                             "{\"a\":-}",
                             "{\"a\":tru}",
                             "{\"a\":\"\x01\"}",
                             "{\"a\":\"\xff\"}",
                             "{\"a\":\"\\x\"}",
                             "{\"a\":\"\\u12g4\"}",
                             "{\"a\":\"unterminated}",
                             "{\"a\":[1,2}",
                             "{\"not\": json"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
                assert_int_equal(scan(bad[i], m, 4, NULL), -1);
        /* NUL inside the text is not JSON */
        assert_int_equal(codec_json_scan("{\"a\":\"\0\"}", 9, m, 4, NULL), -1);
        /* nesting is bounded, not a stack overflow */
        char deep[400];
        memset(deep, '[', sizeof deep);
        memcpy(deep, "{\"a\":", 5);
        deep[sizeof deep - 1] = '\0';
        assert_int_equal(scan(deep, m, 4, NULL), -1);
        /* every prefix of a valid object is invalid */
        const char *ok = "{\"k\":[\"v\\n\",{\"x\":null}],\"e\":\"\xc3\xa9\"}";
        for (size_t i = 0; i < strlen(ok); i++)
                assert_int_equal(codec_json_scan(ok, i, m, 4, NULL), -1);
        assert_int_equal(scan(ok, m, 4, NULL), 2);
}

/* A special byte at every offset of strings of every length up to 48: the
 * scanner's wide steps (16 and 8 bytes) and its byte steps agree. */
static void test_json_scan_every_offset(void **state)
{
        (void)state;
        struct codec_json_member m[2];
        char b[96];
        for (size_t len = 0; len <= 48; len++) {
                memcpy(b, "{\"a\":\"", 6);
                memset(b + 6, 'x', len);
                memcpy(b + 6 + len, "\"}", 2);
                assert_int_equal(codec_json_scan(b, len + 8, m, 2, NULL), 1);
                assert_int_equal(m[0].val_len, len);
                assert_false(m[0].val_escaped);
                /* cut anywhere inside the string: not JSON */
                assert_int_equal(codec_json_scan(b, 6 + len, m, 2, NULL), -1);
                for (size_t k = 0; k < len; k++) {
                        static const char *bad[] = {"\x01", "\x1f", "\xff", "\x80", "\"", "\\q"};
                        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                                memset(b + 6, 'x', len);
                                memcpy(b + 6 + k, bad[i], strlen(bad[i]));
                                memcpy(b + 6 + len, "\"}", 2);
                                assert_int_equal(codec_json_scan(b, len + 8, m, 2, NULL), -1);
                        }
                        if (k + 2 > len)
                                continue;
                        /* non-ASCII and DEL are flagged: a renderer that
                         * sees no flag writes the strings without a look */
                        static const char *good[] = {"\xc3\xa9", "\\n", "\\/", "\x7fx"};
                        static const unsigned want[] = {CODEC_JSON_HIGH, 0, CODEC_JSON_SLASH,
                                                        CODEC_JSON_HIGH};
                        for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
                                unsigned fl = 0;
                                memset(b + 6, 'x', len);
                                memcpy(b + 6 + k, good[i], 2);
                                memcpy(b + 6 + len, "\"}", 2);
                                assert_int_equal(codec_json_scan(b, len + 8, m, 2, &fl), 1);
                                assert_int_equal(m[0].val_len, len);
                                assert_int_equal(m[0].val_escaped, i == 1 || i == 2);
                                assert_int_equal(fl, want[i]);
                        }
                }
        }
}

/* codec_json_scan of s[0..n) reads the same as of " " + s, which the scanner
 * reads the general way (the one-shape fast path wants '{' first): the same
 * count, flags and members, at the same offsets. */
static void scan_as_general(const char *s, size_t n)
{
        static char spaced[2048];
        assert_true(n < sizeof spaced);
        spaced[0] = ' ';
        memcpy(spaced + 1, s, n);
        struct codec_json_member a[8], b[8];
        memset(a, 0xa5, sizeof a);
        memset(b, 0xa5, sizeof b);
        unsigned fa = 99, fb = 99;
        int na = codec_json_scan(s, n, a, 8, &fa);
        int nb = codec_json_scan(spaced, n + 1, b, 8, &fb);
        assert_int_equal(na, nb);
        if (na < 0)
                return;
        assert_int_equal(fa, fb);
        for (int i = 0; i < na && i < 8; i++) {
                assert_int_equal(a[i].key - s, b[i].key - (spaced + 1));
                assert_int_equal(a[i].key_len, b[i].key_len);
                assert_int_equal(a[i].key_escaped, b[i].key_escaped);
                assert_int_equal(a[i].kind, b[i].kind);
                assert_int_equal(a[i].val - s, b[i].val - (spaced + 1));
                assert_int_equal(a[i].val_len, b[i].val_len);
                assert_int_equal(a[i].val_escaped, b[i].val_escaped);
        }
}

/* The usual event's shape, {"k":"v",...}, is read from a map of its quotes
 * made 16 bytes a step (up to 1024 bytes): lines of that shape with keys and
 * values of lengths around every 16- and 64-byte edge, and each with one byte
 * replaced at every offset by one that breaks or changes the shape, read as
 * the general scanner reads them. */
static void test_json_scan_flat_as_general(void **state)
{
        (void)state;
        static const size_t lens[] = {0,  1,  2,  13, 14, 15, 16, 17,  31,
                                      32, 33, 47, 62, 63, 64, 65, 200, 500};
        static const char repl[] = {'"',    ':',    ',', ' ', '\\', '\x01',
                                    '\x7f', '\xc3', '{', '}', 'x',  '1'};
        char line[1400];
        size_t nl = sizeof lens / sizeof lens[0];
        for (size_t members = 1; members <= 9; members++) {
                for (size_t a = 0; a < nl; a++) {
                        size_t n = 0;
                        line[n++] = '{';
                        for (size_t k = 0; k < members; k++) {
                                size_t kl = lens[(a + k) % nl] % 40, vl = lens[(a + 3 * k) % nl];
                                if (n + kl + vl + 8 > 1300)
                                        break;
                                if (k)
                                        line[n++] = ',';
                                line[n++] = '"';
                                memset(line + n, 'k', kl);
                                n += kl;
                                memcpy(line + n, "\":\"", 3);
                                n += 3;
                                memset(line + n, 'v', vl);
                                n += vl;
                                line[n++] = '"';
                        }
                        line[n++] = '}';
                        struct codec_json_member m[8];
                        assert_true(codec_json_scan(line, n, m, 8, NULL) >= 1);
                        scan_as_general(line, n);
                        for (size_t i = 0; i < n; i++) {
                                char was = line[i];
                                for (size_t r = 0; r < sizeof repl; r++) {
                                        line[i] = repl[r];
                                        scan_as_general(line, n);
                                }
                                line[i] = was;
                        }
                        for (size_t cut = 0; cut < n; cut++)
                                scan_as_general(line, cut);
                        /* a byte put in at every offset */
                        char ins[sizeof line + 1];
                        for (size_t i = 0; i <= n; i++) {
                                memcpy(ins, line, i);
                                memcpy(ins + i + 1, line + i, n - i);
                                for (size_t r = 0; r < sizeof repl; r++) {
                                        ins[i] = repl[r];
                                        scan_as_general(ins, n + 1);
                                }
                        }
                }
        }
}

static void test_json_unescape_unslash(void **state)
{
        (void)state;
        struct buf b;
        buf_init(&b, 1024);
        const char *s = "a\\/b\\n\\\"\\\\ \\u00e9 \\ud83d\\ude00 \\ud800x";
        assert_int_equal(codec_json_unescape(&b, s, strlen(s)), 0);
        assert_string_equal(buf_str(&b), "a/b\n\"\\ \xc3\xa9 \xf0\x9f\x98\x80 \xef\xbf\xbdx");
        buf_reset(&b);
        const char *t = "{\"p\":\"\\/x\\\\/y\\\\\\/\"}";
        assert_int_equal(codec_json_unslash(&b, t, strlen(t)), 0);
        assert_string_equal(buf_str(&b), "{\"p\":\"/x\\\\/y\\\\/\"}");
        buf_fini(&b);
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
        assert_string_equal(buf_str(&b), "\"q\\\"b\\\\n\\nt\\t\\u0001 \xc3\xa9 \xef\xbf\xbd\"");
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
            cmocka_unit_test(test_json_escape),
            cmocka_unit_test(test_json_escape_to_matches_reference),
            cmocka_unit_test(test_json_scan),
            cmocka_unit_test(test_json_scan_every_offset),
            cmocka_unit_test(test_json_scan_flat_as_general),
            cmocka_unit_test(test_json_unescape_unslash),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
