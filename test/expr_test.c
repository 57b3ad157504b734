/* pkg/expr: the raw-expression checker, --mfa/--args serialisation, slugs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "expr.h"

static void assert_ok(const char *s)
{
        struct err e;
        err_clear(&e);
        if (expr_check(s, &e) != 0)
                fail_msg("rejected %s: %s", s, e.msg);
}

static void assert_rejected(const char *s, const char *msg)
{
        struct err e;
        err_clear(&e);
        if (expr_check(s, &e) != -1)
                fail_msg("accepted %s", s);
        assert_int_equal(e.code, ERR_USAGE);
        assert_string_equal(e.msg, msg);
}

static void test_check_accepts(void **state)
{
        static const char *ok[] = {
            "LiveStream.run(\"stream-42\", bitrate: 4000)",
            "IO.puts(\"hi\")\nLiveStream.run(\"s\")\n",
            "Enum.each([1, 2, 3], fn x ->\n  IO.inspect(x)\nend)",
            "~r/a(b/i |> Regex.match?(\"ab\")",
            "~s(string with \"quotes\" and [ )",
            "~w[a b c]a",
            "~S|no #{interp here|",
            "~r{a\\}b}",
            "~S\"\"\"\nraw ( [ {\n\"\"\"",
            "~HTML\"<div>\"",
            "?( + ?) + ?[ + ?\" + ?\\\\ + ?\\n + ?#",
            "String.ends_with?(\"a)\", \")\") and not valid?(x)",
            "IO.puts(\"brackets ([{ inside\")",
            "IO.puts('charlist ) ]')",
            "IO.puts(\"#{Enum.join([\"a\", \"#{1 + (2 * 3)}\"], \"}\")}\")",
            "\"\"\"\nheredoc ( with \"quotes\" and #{1 + 1}\n\"\"\"",
            "'''\ncharlist heredoc )\n'''",
            "x = 1 # trailing comment with ( and \"\nIO.inspect(x)",
            "<<1, 2, x::binary>> <> <<3>>",
            "Bitwise.<<<(1, 2) + (1 >>> 2)",
            "%{\"k\" => [1, {2, 3}], k2: %{}}",
            "Kernel.\"foo\"()",
            ":\"quoted atom (\"",
            "f(\"\\\"(\")",
            "\"ünïcødé 🎉\"",
            "a ~> b ~>> c",
            "\tIO.puts(1)\t",
            NULL,
        };
        for (const char **p = ok; *p; p++)
                assert_ok(*p);
}

static void test_check_rejects(void **state)
{
        assert_rejected("", "expression: empty");
        assert_rejected("  \n ", "expression: empty");
        assert_rejected("LiveStream.run(\"x\"", "expression: unclosed \"(\" opened at column 15");
        assert_rejected("Foo.bar(1,\n  [2, 3)\n",
                        "expression: unexpected \")\" at line 2, column 8 "
                        "(expected \"]\" to close \"[\" at line 2, "
                        "column 3)");
        assert_rejected("f(1))", "expression: unexpected \")\" at column 5");
        assert_rejected("x\n  )", "expression: unexpected \")\" at line 2, column 3");
        assert_rejected("f(\"abc)", "expression: unclosed string opened at column 3");
        assert_rejected("f('abc)", "expression: unclosed charlist opened at column 3");
        assert_rejected("\"\"\"\nabc\n\"\"",
                        "expression: unclosed heredoc \"\"\" opened at line 1, "
                        "column 1");
        assert_rejected("~r/abc", "expression: unclosed sigil ~r/ opened at column 1");
        assert_rejected("~s(a(b)c)", "expression: unexpected \")\" at column 9");
        assert_rejected("\"#{f(1}\"", "expression: unexpected \"}\" at column 7 (expected \")\" "
                                      "to close \"(\" at column 5)");
        assert_rejected("\"a #{b\"", "expression: unclosed string opened at column 7");
        assert_rejected("<<1, 2", "expression: unclosed \"<<\" opened at column 1");
        assert_rejected("[1 >> 2]", "expression: unexpected \">>\" at column 4 (expected \"]\" to "
                                    "close \"[\" at column 1)");
        assert_rejected("x = ?", "expression: incomplete character literal \"?\" at column 5");
        assert_rejected("~x", "expression: sigil \"~x\" without a delimiter at column 1");
        assert_rejected("f(\x01)", "expression: control character 0x01 at column 3");
        assert_rejected("f()\r\n", "expression: control character 0x0D at line 1, column 4");
        assert_rejected("ab\x7f", "expression: control character 0x7F at column 3");
        assert_rejected("é\xc2\x85", "expression: control character U+0085 at column 2");
        assert_rejected("\"a\xe2\x80\xae\"", "expression: bidirectional formatting character "
                                             "U+202E at column 3");
        assert_rejected("ab\xc3(", "expression: invalid UTF-8 at column 3");
        assert_rejected("\xc0\xaf", "expression: invalid UTF-8 at column 1");     /* overlong */
        assert_rejected("\xed\xa0\x80", "expression: invalid UTF-8 at column 1"); /* surrogate */

        struct err e;
        assert_int_equal(expr_check_n("f(\0)", 4, &e), -1);
        assert_string_equal(e.msg, "expression: NUL byte at column 3");

        /* nesting and length bounds */
        char *deep = malloc(1001);
        memset(deep, '(', 1000);
        deep[1000] = '\0';
        assert_int_equal(expr_check(deep, &e), -1);
        assert_string_equal(e.msg, "expression: nested deeper than 256 at column 257");
        free(deep);
        char *big = malloc(EXPR_MAX + 2);
        memset(big, 'a', EXPR_MAX + 1);
        big[EXPR_MAX + 1] = '\0';
        assert_int_equal(expr_check(big, &e), -1);
        assert_string_equal(e.msg, "expression: longer than 65536 bytes");
        big[EXPR_MAX] = '\0';
        assert_int_equal(expr_check(big, &e), 0);
        free(big);
}

static void assert_mfa(const char *mfa, const char *args, const char *want)
{
        struct err e;
        err_clear(&e);
        char *out = (char *)0x1;
        if (expr_from_mfa(mfa, args, &out, &e) != 0)
                fail_msg("%s %s: %s", mfa, args ? args : "(null)", e.msg);
        assert_string_equal(out, want);
        free(out);
}

static void assert_mfa_err(const char *mfa, const char *args, const char *msg)
{
        struct err e;
        err_clear(&e);
        char *out = NULL;
        assert_int_equal(expr_from_mfa(mfa, args, &out, &e), -1);
        assert_null(out);
        assert_int_equal(e.code, ERR_USAGE);
        assert_string_equal(e.msg, msg);
}

/* json-c reads NaN and Infinity; JSON and Elixir have neither (this was a
 * heap over-read in the serialiser). */
/* --each: one expression per item, the item a term in code, never text in
 * quotes. */
static void test_each(void **state)
{
        (void)state;
        char **v = NULL;
        size_t n = 0;
        struct err e;
        assert_int_equal(
            expr_each("LiveStream.run($item, bitrate: 1)",
                      "[\"s1\", {\"$atom\": \"s2\"}, \"\\\"); System.halt(1); (\\\"\", "
                      "12345678901234567890123]",
                      &v, &n, &e),
            0);
        assert_int_equal(n, 4);
        assert_string_equal(v[0], "LiveStream.run((\"s1\"), bitrate: 1)");
        assert_string_equal(v[1], "LiveStream.run((:s2), bitrate: 1)");
        /* a hostile string stays one string */
        assert_string_equal(v[2], "LiveStream.run((\"\\\"); System.halt(1); (\\\"\"), bitrate: 1)");
        assert_string_equal(v[3], "LiveStream.run((12345678901234567890123), bitrate: 1)");
        expr_each_free(v, n);
        /* twice, and inside an interpolation (code) */
        assert_int_equal(expr_each("{$item, \"id #{$item}\"}", "[1]", &v, &n, &e), 0);
        assert_string_equal(v[0], "{(1), \"id #{(1)}\"}");
        expr_each_free(v, n);
        /* $items is another name, not the placeholder */
        assert_int_equal(expr_each("f($items)", "[1]", &v, &n, &e), -1);
        assert_string_equal(e.msg, "--each: the expression does not use $item");
        const char *in_quotes[] = {"f(\"$item\")", "f('$item')", "f(~s($item))", "f($item) # $item",
                                   NULL};
        for (int i = 0; in_quotes[i]; i++) {
                assert_int_equal(expr_each(in_quotes[i], "[1]", &v, &n, &e), -1);
                assert_int_equal(e.code, ERR_USAGE);
                assert_non_null(strstr(e.msg, "$item inside a string, charlist, sigil or comment"));
        }
        assert_int_equal(expr_each("f($item)", "{\"a\": 1}", &v, &n, &e), -1);
        assert_string_equal(e.msg, "--each: want a JSON array, got an object");
        assert_int_equal(expr_each("f($item)", "[]", &v, &n, &e), -1);
        assert_string_equal(e.msg, "--each: the array is empty");
        assert_int_equal(expr_each("f($item", "[1]", &v, &n, &e), -1);
        assert_non_null(strstr(e.msg, "unclosed \"(\""));
}

/* --each for an Erlang release: items as Erlang terms, $item found in
 * Erlang's code ($i there is a character, "..." and '...' are literals). */
static void test_each_erlang(void **state)
{
        (void)state;
        char **v = NULL;
        size_t n = 0;
        struct err e;
        assert_int_equal(expr_each_lang("live_stream:run($item).",
                                        "[\"s1\", {\"$atom\": \"fast\"}, {\"a\": 1}, "
                                        "\"\\\"), halt(1), (\\\"\"]",
                                        EXPR_LANG_ERLANG, &v, &n, &e),
                         0);
        assert_int_equal(n, 4);
        assert_string_equal(v[0], "live_stream:run((<<\"s1\"/utf8>>)).");
        assert_string_equal(v[1], "live_stream:run((fast)).");
        assert_string_equal(v[2], "live_stream:run((#{<<\"a\"/utf8>> => 1})).");
        /* a hostile string stays one binary */
        assert_string_equal(v[3], "live_stream:run((<<\"\\\"), halt(1), (\\\"\"/utf8>>)).");
        expr_each_free(v, n);
        const char *in_quotes[] = {"f(\"$item\").", "f('$item').", "f(1). % $item", NULL};
        for (int i = 0; in_quotes[i]; i++) {
                assert_int_equal(expr_each_lang(in_quotes[i], "[1]", EXPR_LANG_ERLANG, &v, &n, &e),
                                 -1);
                assert_non_null(strstr(e.msg, "$item inside a string, quoted atom or comment"));
        }
        /* $i is a character literal, not the placeholder */
        assert_int_equal(expr_each_lang("f($i).", "[1]", EXPR_LANG_ERLANG, &v, &n, &e), -1);
        assert_string_equal(e.msg, "--each: the expression does not use $item");
}

static void test_mfa_refuses_nan_and_infinity(void **state)
{
        (void)state;
        static const char tail[] =
            " is NaN or Infinity, which JSON does not have (and Elixir floats cannot be): "
            "write a number or a string";
        char want[256];
        snprintf(want, sizeof want, "--args: [0][\"a\"]%s", tail);
        assert_mfa_err("M.f", "[{\"a\":NaN}]", want);
        snprintf(want, sizeof want, "--args: [1]%s", tail);
        assert_mfa_err("M.f", "[1, Infinity]", want);
        snprintf(want, sizeof want, "--args: [0][2][0]%s", tail);
        assert_mfa_err("M.f", "[[1, 2, [-Infinity]]]", want);
        assert_mfa("M.f", "[1.5e300, \"NaN\"]", "M.f(1.5e300, \"NaN\")");
}

static void test_mfa_values(void **state)
{
        assert_mfa("LiveStream.run", "[\"stream-42\", {\"bitrate\": 4000}]",
                   "LiveStream.run(\"stream-42\", %{\"bitrate\" => 4000})");
        assert_mfa("LiveStream.run", NULL, "LiveStream.run()");
        assert_mfa("A.B.C.valid?", "[]", "A.B.C.valid?()");
        assert_mfa(":erlang.halt", "[0]", ":erlang.halt(0)");
        assert_mfa(":my_mod@x.f!", " [ 1 , 2 ] ", ":my_mod@x.f!(1, 2)");
        assert_mfa("M.f", "[true, false, null, [], {}, [[1], {\"a\": [null]}]]",
                   "M.f(true, false, nil, [], %{}, [[1], %{\"a\" => [nil]}])");
        /* numbers keep their digits; floats get the fraction Elixir needs */
        assert_mfa("M.f", "[123456789012345678901234567890, -9223372036854775809, -0, 0]",
                   "M.f(123456789012345678901234567890, -9223372036854775809, -0, 0)");
        assert_mfa("M.f", "[1.5, -0.0, 1e3, 2E-2, 1.25e+2, 0.1]",
                   "M.f(1.5, -0.0, 1.0e3, 2.0e-2, 1.25e+2, 0.1)");
        /* insertion order of keys, nested maps; a trailing object stays a map */
        assert_mfa("M.f", "[{\"z\": 1, \"a\": {\"k\": \"v\"}}]",
                   "M.f(%{\"z\" => 1, \"a\" => %{\"k\" => \"v\"}})");
}

static void test_mfa_hostile_strings(void **state)
{
        assert_mfa("M.f", "[\"#{System.halt()}\"]", "M.f(\"\\#{System.halt()}\")");
        assert_mfa("M.f", "[\"a#b#\", \"##{{\"]", "M.f(\"a#b#\", \"#\\#{{\")");
        assert_mfa("M.f", "[\"back\\\\slash \\\"quote\\\"\"]",
                   "M.f(\"back\\\\slash \\\"quote\\\"\")");
        assert_mfa("M.f", "[\"line1\\nline2\\ttab\\rcr\"]", "M.f(\"line1\\nline2\\ttab\\rcr\")");
        assert_mfa("M.f", "[\"\\u0000\\u0001\\u001f\\u007f\\u0085\"]",
                   "M.f(\"\\u{0}\\u{1}\\u{1F}\\u{7F}\\u{85}\")");
        assert_mfa("M.f", "[\"ünï \\u00e9 \\ud83c\\udf89 🎉\"]", "M.f(\"ünï é 🎉 🎉\")");
        assert_mfa("M.f", "[\"\\u202e evil\"]", "M.f(\"\\u{202E} evil\")");
        assert_mfa("M.f", "[{\"#{k}\": \"\\\\#{v}\"}]", "M.f(%{\"\\#{k}\" => \"\\\\\\#{v}\"})");
        assert_mfa("M.f", "[\"\\/ ' ) ] } >>\"]", "M.f(\"/ ' ) ] } >>\")");
}

/* JSON has no atoms, tuples or keyword lists: one-member tagged objects
 * write them, everything else stays as before. */
static void test_mfa_atoms_tuples_keywords(void **state)
{
        (void)state;
        /* the README's example, on the fixture's LiveStream.run/2 */
        assert_mfa("LiveStream.run", "[\"stream-42\", {\"$kw\": {\"bitrate\": 4000}}]",
                   "LiveStream.run(\"stream-42\", [bitrate: 4000])");
        assert_mfa("M.f",
                   "[{\"$atom\": \"ok\"}, {\"$atom\": \"valid?\"}, {\"$atom\": \"Elixir.Foo\"}]",
                   "M.f(:ok, :valid?, :\"Elixir.Foo\")");
        assert_mfa("M.f", "[{\"$atom\": \"#{x} y\"}]", "M.f(:\"\\#{x} y\")");
        assert_mfa("M.f", "[{\"$tuple\": [{\"$atom\": \"ok\"}, 1]}, {\"$tuple\": []}]",
                   "M.f({:ok, 1}, {})");
        assert_mfa(
            "M.f",
            "[{\"$kw\": {\"mode\": {\"$atom\": \"fast\"}, \"a b\": [1], \"x\": {\"k\": 2}}}]",
            "M.f([mode: :fast, \"a b\": [1], x: %{\"k\" => 2}])");
        assert_mfa("M.f", "[{\"$kw\": {}}]", "M.f([])");
        /* a "$" key among others, or an unknown one, is a map key as before */
        assert_mfa("M.f", "[{\"$price\": 1}, {\"a\": 1, \"$atom\": \"x\"}]",
                   "M.f(%{\"$price\" => 1}, %{\"a\" => 1, \"$atom\" => \"x\"})");
        assert_mfa_err("M.f", "[{\"$atom\": 1}]",
                       "--args: argument 1: {\"$atom\": ...} takes a string (the atom's name)");
        assert_mfa_err("M.f", "[{\"$atom\": \"\"}]", "--args: argument 1: an empty atom name");
        assert_mfa_err("M.f", "[{\"$kw\": [1]}]",
                       "--args: argument 1: {\"$kw\": ...} takes an object (the keyword list)");
        assert_mfa_err(
            "M.f", "[{\"$tuple\": {}}]",
            "--args: argument 1: {\"$tuple\": ...} takes an array (the tuple's elements)");
        assert_mfa_err("M.f", "[{\"$atom\": \"a\", \"b\": 1}]",
                       "--args: argument 1: {\"$atom\": ...} must be the object's only member");
}

static void test_mfa_errors(void **state)
{
        assert_mfa_err("", NULL, "--mfa: empty");
        assert_mfa_err("run", NULL, "--mfa \"run\": want Module.function or :module.function");
        assert_mfa_err("liveStream.run", NULL,
                       "--mfa \"liveStream.run\": want Module.function or :module.function");
        assert_mfa_err("Live..run", NULL,
                       "--mfa \"Live..run\": want Module.function or :module.function");
        assert_mfa_err("System.cmd(\"rm\")", NULL,
                       "--mfa \"System.cmd(\"rm\")\": \"cmd(\"rm\")\" is not a function name "
                       "([a-z_][a-zA-Z0-9_]*[?!]?)");
        assert_mfa_err(
            "M.Run", NULL,
            "--mfa \"M.Run\": \"Run\" is not a function name ([a-z_][a-zA-Z0-9_]*[?!]?)");
        assert_mfa_err(
            "M.f?x", NULL,
            "--mfa \"M.f?x\": \"f?x\" is not a function name ([a-z_][a-zA-Z0-9_]*[?!]?)");
        assert_mfa_err(":Erl.f", NULL,
                       "--mfa \":Erl.f\": want Module.function or :module.function");
        assert_mfa_err("M.f", "{\"a\": 1}", "--args: want a JSON array, got an object");
        assert_mfa_err("M.f", "\"x\"", "--args: want a JSON array, got a string");
        assert_mfa_err("M.f", "[1, 2", "--args: invalid JSON at offset 5: unexpected end of input");
        assert_mfa_err("M.f", "[1, x]", "--args: invalid JSON at offset 4: unexpected character");
        assert_mfa_err("M.f", "[1] [2]", "--args: invalid JSON at offset 4: unexpected character");
        assert_mfa_err("M.f", "['a']", "--args: invalid JSON at offset 1: unexpected character");
        assert_mfa_err("M.f", "[\"\\ud800\"]",
                       "--args: argument 1: unpaired surrogate \\uD800 in a string");
        assert_mfa_err("M.f", "[1, 1e999]",
                       "--args: argument 2: number 1e999 is out of range for "
                       "a float");
}

static void assert_slug(const char *expr, const char *want)
{
        char b[64];
        size_t n = expr_slug(expr, b, sizeof b);
        assert_string_equal(b, want);
        assert_int_equal(n, strlen(want));
}

static void test_slug(void **state)
{
        assert_slug("LiveStream.run(\"x\")", "live-stream-run");
        assert_slug("  :erlang.halt()", "erlang-halt");
        assert_slug("IO.puts(1)", "io-puts");
        assert_slug("MyApp.HTTPServer.start_link", "my-app-http-server-start-link");
        assert_slug("Mod.valid?(x)", "mod-valid");
        assert_slug("Mod2.run3", "mod2-run3");
        assert_slug("\"just a string\"", "task");
        assert_slug("", "task");
        assert_slug("__x__", "x");
        assert_slug("VeryLongModuleName.AnotherVeryLongSegment.yet_another_function_name()",
                    "very-long-module-name-another-very-long");
        char small[8];
        assert_int_equal(expr_slug("LiveStream.run", small, sizeof small), 4);
        assert_string_equal(small, "live");
        /* each result is a DNS-1123 label */
        static const char *odd[] = {"A.B", "9x", "x__y", "É.f", "_.a_", "A_B.c", NULL};
        for (const char **p = odd; *p; p++) {
                char b[64];
                size_t n = expr_slug(*p, b, sizeof b);
                assert_true(n >= 1 && n <= EXPR_SLUG_MAX);
                assert_true(b[0] != '-' && b[n - 1] != '-');
                for (size_t i = 0; i < n; i++)
                        assert_non_null(strchr("abcdefghijklmnopqrstuvwxyz0123456789-", b[i]));
                assert_null(strstr(b, "--"));
        }
}

/* Append code point cp as UTF-8. */
static size_t put_utf8(char *p, unsigned cp)
{
        if (cp < 0x80) {
                p[0] = (char)cp;
                return 1;
        }
        if (cp < 0x800) {
                p[0] = (char)(0xc0 | (cp >> 6));
                p[1] = (char)(0x80 | (cp & 0x3f));
                return 2;
        }
        if (cp < 0x10000) {
                p[0] = (char)(0xe0 | (cp >> 12));
                p[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
                p[2] = (char)(0x80 | (cp & 0x3f));
                return 3;
        }
        p[0] = (char)(0xf0 | (cp >> 18));
        p[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        p[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        p[3] = (char)(0x80 | (cp & 0x3f));
        return 4;
}

/* Undo the Elixir escapes expr_from_mfa uses; fails on anything else. */
static size_t elixir_unescape(const char *s, size_t n, char *out)
{
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '#' && i + 1 < n && s[i + 1] == '{')
                        fail_msg("unescaped #{ in %.*s", (int)n, s);
                if (s[i] == '"')
                        fail_msg("unescaped quote in %.*s", (int)n, s);
                if (s[i] != '\\') {
                        out[o++] = s[i];
                        continue;
                }
                char c = s[++i];
                switch (c) {
                case '\\':
                case '"':
                case '#': out[o++] = c; break;
                case 'n': out[o++] = '\n'; break;
                case 't': out[o++] = '\t'; break;
                case 'r': out[o++] = '\r'; break;
                case 'u': {
                        assert_int_equal(s[i + 1], '{');
                        char *end;
                        unsigned long cp = strtoul(s + i + 2, &end, 16);
                        assert_int_equal(*end, '}');
                        o += put_utf8(out + o, (unsigned)cp);
                        i = (size_t)(end - s);
                        break;
                }
                default: fail_msg("unknown escape \\%c", c);
                }
        }
        return o;
}

/* Random strings of the nastiest characters survive the trip exactly. */
static void test_mfa_random_strings(void **state)
{
        static const unsigned alphabet[] = {'"',  '\\', '#',    '{',    '}',    '\n',    '\t',
                                            '\r', 0x01, 0x00,   0x7f,   'a',    ' ',     0xe9,
                                            0x85, 0x9f, 0x202e, 0x2028, 0xfeff, 0x1f389, '\''};
        srand(42);
        for (int round = 0; round < 2000; round++) {
                char raw[256], json[1024], args[1100];
                size_t rn = 0, jn = 0;
                int len = rand() % 24;
                for (int k = 0; k < len; k++) {
                        unsigned cp =
                            alphabet[(size_t)rand() % (sizeof alphabet / sizeof *alphabet)];
                        rn += put_utf8(raw + rn, cp);
                        if (cp < 0x20 || cp == '"' || cp == '\\')
                                jn += (size_t)snprintf(json + jn, sizeof json - jn, "\\u%04x", cp);
                        else
                                jn += put_utf8(json + jn, cp);
                }
                json[jn] = '\0';
                snprintf(args, sizeof args, "[\"%s\"]", json);
                char *out = NULL;
                struct err e;
                if (expr_from_mfa("M.f", args, &out, &e) != 0)
                        fail_msg("%s: %s", args, e.msg);
                size_t on = strlen(out);
                assert_true(on >= 7);
                assert_memory_equal(out, "M.f(\"", 5);
                assert_memory_equal(out + on - 2, "\")", 2);
                assert_null(strchr(out, '\n'));
                char back[1024];
                size_t bn = elixir_unescape(out + 5, on - 7, back);
                assert_int_equal(bn, rn);
                assert_memory_equal(back, raw, rn);
                free(out);
        }
}

/* ---- Erlang (--lang erlang) ---- */

static void assert_erl(const char *mfa, const char *args, const char *want)
{
        struct err e;
        err_clear(&e);
        char *out = NULL;
        if (expr_from_mfa_lang(mfa, args, EXPR_LANG_ERLANG, &out, &e) != 0)
                fail_msg("%s %s: %s", mfa, args ? args : "(null)", e.msg);
        assert_string_equal(out, want);
        free(out);
}

static void assert_erl_err(const char *mfa, const char *args, const char *msg)
{
        struct err e;
        err_clear(&e);
        char *out = NULL;
        assert_int_equal(expr_from_mfa_lang(mfa, args, EXPR_LANG_ERLANG, &out, &e), -1);
        assert_int_equal(e.code, ERR_USAGE);
        assert_string_equal(e.msg, msg);
        assert_null(out);
}

static void test_erlang_mfa_terms(void **state)
{
        (void)state;
        /* the README's example, on the Erlang fixture's live_stream:run/2 */
        assert_erl("live_stream:run", "[\"s1\", {\"bitrate\": 4000}]",
                   "live_stream:run(<<\"s1\"/utf8>>, #{<<\"bitrate\"/utf8>> => 4000}).");
        assert_erl("live_stream:fail", NULL, "live_stream:fail().");
        assert_erl("m@x:f_2", "[true, false, null, [], {}, [[1], {\"a\": [null]}]]",
                   "m@x:f_2(true, false, undefined, [], #{}, [[1], #{<<\"a\"/utf8>> => "
                   "[undefined]}]).");
        assert_erl("m:f", "[123456789012345678901234567890, 1e3, -0.5]",
                   "m:f(123456789012345678901234567890, 1.0e3, -0.5).");
        /* atoms bare when Erlang reads them so, else quoted; reserved words quoted */
        assert_erl("m:f",
                   "[{\"$atom\": \"ok\"}, {\"$atom\": \"Ok\"}, {\"$atom\": \"end\"}, "
                   "{\"$atom\": \"it's\"}, {\"$atom\": \"Elixir.Foo\"}]",
                   "m:f(ok, 'Ok', 'end', 'it\\'s', 'Elixir.Foo').");
        /* keywords as a proplist, tuples */
        assert_erl("m:f",
                   "[{\"$kw\": {\"bitrate\": 4000, \"a b\": {\"$atom\": \"x\"}}}, "
                   "{\"$tuple\": [{\"$atom\": \"ok\"}, 1]}]",
                   "m:f([{bitrate, 4000}, {'a b', x}], {ok, 1}).");
}

/* No JSON text can become Erlang code: quotes and backslashes are escaped,
 * everything outside printable ASCII is \x{H}. */
static void test_erlang_mfa_hostile_strings(void **state)
{
        (void)state;
        assert_erl("m:f", "[\"\\\"/utf8>>), erlang:halt(1), <<\\\"\"]",
                   "m:f(<<\"\\\"/utf8>>), erlang:halt(1), <<\\\"\"/utf8>>).");
        assert_erl("m:f", "[\"back\\\\slash\"]", "m:f(<<\"back\\\\slash\"/utf8>>).");
        assert_erl("m:f", "[\"l1\\nl2\\t\\u0000\\u007f \\u00e9 \\u202e \\ud83c\\udf89\"]",
                   "m:f(<<\"l1\\nl2\\t\\x{0}\\x{7F} \\x{E9} \\x{202E} \\x{1F389}\"/utf8>>).");
        /* a quoted atom escapes its quote; # and ~ and $ are plain characters */
        assert_erl("m:f", "[{\"$atom\": \"')), halt(), ('\"}, \"#{x} ~p $a %c\"]",
                   "m:f('\\')), halt(), (\\'', <<\"#{x} ~p $a %c\"/utf8>>).");
}

static void test_erlang_mfa_errors(void **state)
{
        (void)state;
        const char *bad[] = {"LiveStream.run", "live_stream", "Mod:f", "m:F",  "m:f:g",
                             "m:end",          "m:",          ":f",    "m:f()"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                char msg[256];
                snprintf(msg, sizeof msg,
                         "--mfa \"%s\": want module:function (Erlang atoms, "
                         "[a-z][a-zA-Z0-9_@]*) with --lang erlang",
                         bad[i]);
                assert_erl_err(bad[i], "[]", msg);
        }
        assert_erl_err("m:f", "[{\"$atom\": \"\"}]", "--args: argument 1: an empty atom name");
}

/* Erlang's syntax: # is code (maps, records), % a comment, $c a character,
 * '...' an atom. */
static void test_erlang_check(void **state)
{
        (void)state;
        const char *ok[] = {
            "live_stream:run(<<\"s1\">>).",
            "maps:get(a, #{a => 1}).",
            "X = $(, Y = $\\), {X, Y}.",
            "lists:seq(1, 3). % a comment with ( [ {",
            "'weird atom ('(1).",
            "R#rec{f = 1}, ?MODULE.",
            "<<X:8, Rest/binary>> = <<1, 2>>, X >= 1.",
        };
        struct err e;
        for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
                if (expr_check_lang(ok[i], EXPR_LANG_ERLANG, &e) != 0)
                        fail_msg("rejected %s: %s", ok[i], e.msg);
        /* the Elixir checker reads #{ as a comment: the same text is unbalanced there */
        assert_int_equal(expr_check_lang("maps:get(a, #{a => 1}).", EXPR_LANG_ELIXIR, &e), -1);
        const char *bad[][2] = {
            {"live_stream:run(<<\"s1\">>", "expression: unclosed \"(\" opened at column 16"},
            {"io:format(\"x).", "expression: unclosed string opened at column 11"},
            {"f('x).", "expression: unclosed quoted atom opened at column 3"},
            {"f(#{a => 1)).", "expression: unexpected \")\" at column 11 (expected \"}\" to "
                              "close \"{\" at column 4)"},
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                assert_int_equal(expr_check_lang(bad[i][0], EXPR_LANG_ERLANG, &e), -1);
                assert_string_equal(e.msg, bad[i][1]);
        }
}

/* Random bytes never crash the checker, and a rejection always says why. */
static void test_check_random_input(void **state)
{
        static const char alphabet[] = "()[]{}<>\"'#?~\\ \n\tazAZ:|/=-\x01\xc3\xa9\xe2\x80\xae";
        srand(7);
        int rejected = 0;
        for (int round = 0; round < 20000; round++) {
                char s[64];
                size_t n = (size_t)(rand() % 40) + 1;
                for (size_t k = 0; k < n; k++)
                        s[k] = alphabet[(size_t)rand() % (sizeof alphabet - 1)];
                struct err e;
                err_clear(&e);
                int rc = expr_check_n(s, n, &e);
                if (rc != 0) {
                        assert_int_equal(rc, -1);
                        assert_int_equal(e.code, ERR_USAGE);
                        assert_true(strncmp(e.msg, "expression: ", 12) == 0);
                        rejected++;
                }
        }
        assert_true(rejected > 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_check_accepts),
            cmocka_unit_test(test_check_rejects),
            cmocka_unit_test(test_mfa_values),
            cmocka_unit_test(test_mfa_refuses_nan_and_infinity),
            cmocka_unit_test(test_mfa_hostile_strings),
            cmocka_unit_test(test_mfa_atoms_tuples_keywords),
            cmocka_unit_test(test_mfa_errors),
            cmocka_unit_test(test_slug),
            cmocka_unit_test(test_each),
            cmocka_unit_test(test_each_erlang),
            cmocka_unit_test(test_mfa_random_strings),
            cmocka_unit_test(test_check_random_input),
            cmocka_unit_test(test_erlang_mfa_terms),
            cmocka_unit_test(test_erlang_mfa_hostile_strings),
            cmocka_unit_test(test_erlang_mfa_errors),
            cmocka_unit_test(test_erlang_check),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
