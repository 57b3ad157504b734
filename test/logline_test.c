#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"
#include "logline.h"

/* 2026-11-23T06:00:00.123Z */
#define FIXED_NOW INT64_C(1795413600123)

static int64_t fixed_clock(void *ctx)
{
        (void)ctx;
        return FIXED_NOW;
}

struct sink {
        struct buf out;
        int events;
        enum logline_out fmt;
};

static int sink_emit(void *ctx, const struct logline_event *ev)
{
        struct sink *k = ctx;
        k->events++;
        return logline_encode(ev, k->fmt, &k->out);
}

static const char *fixture_fmt = "$date $time [$level] $metadata| $message\n";

static struct logline_stream *mk_stream(struct sink *k, const struct logline_format *f,
                                        enum logline_src src, size_t max_event)
{
        buf_init(&k->out, 1 << 24);
        k->events = 0;
        struct logline_stream_opts o = {
            .src = src,
            .plain_level = src == LOGLINE_SRC_RPC ? LOGLINE_ERROR : LOGLINE_INFO,
            .fmt = f,
            .node = "live_stream@pod",
            .emit = sink_emit,
            .emit_ctx = k,
            .clock = fixed_clock,
            .max_line = 64,
            .max_event = max_event,
        };
        struct logline_stream *s = logline_stream_new(&o);
        assert_non_null(s);
        return s;
}

static struct logline_format *mk_fmt(const char *fmt)
{
        struct logline_format *f = NULL;
        struct err e;
        assert_int_equal(logline_format_new(fmt, &f, &e), 0);
        return f;
}

static void test_match_fixture_format(void **state)
{
        (void)state;
        struct logline_format *f = mk_fmt(fixture_fmt);
        struct logline_event ev = {0};
        const char *line = "2026-11-23 11:18:16.254 [warning] stream_id=s1 | segment 3 late";
        assert_true(logline_format_match(f, line, strlen(line), FIXED_NOW, &ev));
        assert_string_equal(ev.ts, "2026-11-23T11:18:16.254Z");
        assert_int_equal(ev.level, LOGLINE_WARNING);
        assert_int_equal(ev.nfields, 1);
        assert_memory_equal(ev.fields[0].key, "stream_id", 9);
        assert_int_equal(ev.fields[0].val_len, 2);
        assert_memory_equal(ev.fields[0].val, "s1", 2);
        assert_int_equal(ev.msg_len, strlen("segment 3 late"));
        assert_memory_equal(ev.msg, "segment 3 late", ev.msg_len);

        const char *nometa = "2026-11-23 11:18:16.254 [info] | started";
        assert_true(logline_format_match(f, nometa, strlen(nometa), FIXED_NOW, &ev));
        assert_int_equal(ev.nfields, 0);
        assert_int_equal(ev.level, LOGLINE_INFO);

        const char *bad[] = {
            "11:18:16.254 [info] hello",              /* Elixir default, not the app's */
            "2026-11-23 11:18:16.254 [bogus] | x",    /* unknown level */
            "2026-11-23 11:18:16 [info] | no millis", /* time shape */
            "progress s1 50%",
            "    lib/live_stream.ex:31: LiveStream.fail/0",
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
                assert_false(logline_format_match(f, bad[i], strlen(bad[i]), FIXED_NOW, &ev));
        logline_format_free(f);
}

/* The template's digits: a byte just past '9' (':' to '?', which share the
 * digits' high nibble) or just before '0' in any digit's place is no match,
 * nor is any literal byte changed. */
static void test_match_template_bytes(void **state)
{
        (void)state;
        struct logline_format *f = mk_fmt(fixture_fmt);
        struct logline_event ev = {0};
        const char good[] = "2026-11-23 11:18:16.254 [info] | x";
        assert_true(logline_format_match(f, good, strlen(good), FIXED_NOW, &ev));
        char line[sizeof good];
        for (size_t i = 0; i < 25; i++) {
                static const char repl[] = ":;<=>?/ a";
                for (size_t r = 0; r < sizeof repl - 1; r++) {
                        if (repl[r] == good[i])
                                continue;
                        memcpy(line, good, sizeof good);
                        line[i] = repl[r];
                        assert_false(logline_format_match(f, line, strlen(line), FIXED_NOW, &ev));
                }
        }
        logline_format_free(f);
}

/* The fixture's shape ("[$level] $metadata| $message" after the template)
 * takes a straight path; a format of the same meaning that is not that shape
 * (its "] " split by $levelpad) goes through the token loop: both agree on
 * every line, matched or not. */
static void test_match_straight_path_agrees(void **state)
{
        (void)state;
        struct logline_format *f = mk_fmt(fixture_fmt);
        struct logline_format *g = mk_fmt("$date $time [$level]$levelpad$metadata| $message");
        const char *lines[] = {
            "2026-11-23 11:18:16.254 [warning] stream_id=s1 | segment 3 late",
            "2026-11-23 11:18:16.254 [info] | started",
            "2026-11-23 11:18:16.254 [info] |",
            "2026-11-23 11:18:16.254 [info] | ",
            "2026-11-23 11:18:16.254 [debug] a=1 b=two words | m | with | bars",
            "2026-11-23 11:18:16.254 [critical] k=v |x",
            "2026-11-23 11:18:16.254 [emergency] k=v | long level word",
            "2026-11-23 11:18:16.254 [ERROR]  two=spaces | m",
            "2026-11-23 11:18:16.254 [err] x=1 no bar at all",
            "2026-11-23 11:18:16.254 [bogus] | unknown level",
            "2026-11-23 11:18:16.254 [info) | wrong literal",
            "2026-11-23 11:18:16.254 [info]",
            "2026-11-23 11:18:16.254 [info] ",
            "2026-11-23 11:18:16.254 [",
            "2026-11-23 11:18:16.254 [i] | one letter",
            "2026-11-23 11:18:16.254 [notice] a=1 b=2 c=3 d=4|| m",
            /* one k=v word (the straight path's one-compare case), each edge */
            "2026-11-23 11:18:16.254 [info] k= | a message long enough",
            "2026-11-23 11:18:16.254 [info] a=b=c | a message long enough",
            "2026-11-23 11:18:16.254 [info]  k=v | a message long enough",
            "2026-11-23 11:18:16.254 [info] =v | a message long enough",
            "2026-11-23 11:18:16.254 [info] kv | a message long enough",
            "2026-11-23 11:18:16.254 [info] k=v   | a message long enough",
            "2026-11-23 11:18:16.254 [info] k=v x | a message long enough",
            "2026-11-23 11:18:16.254 [info] k=v x=y | a message long enough",
            "2026-11-23 11:18:16.254 [info] abcdefg=12345678| a message long enough",
            "2026-11-23 11:18:16.254 [info] abcdefg=1234567 | a message long enough",
            "2026-11-23 11:18:16.254 [info] abcdefg=123456789 | a message long enough",
            "2026-11-23 11:18:16.254 [info] k=v| m",
            "2026-11-23 11:18:16.254 [info] k=v |",
        };
        for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
                struct logline_event a = {0}, b = {0};
                size_t n = strlen(lines[i]);
                bool ma = logline_format_match(f, lines[i], n, FIXED_NOW, &a);
                bool mb = logline_format_match(g, lines[i], n, FIXED_NOW, &b);
                assert_int_equal(ma, mb);
                if (!ma)
                        continue;
                assert_string_equal(a.ts, b.ts);
                assert_int_equal(a.level, b.level);
                assert_int_equal(a.msg_len, b.msg_len);
                assert_memory_equal(a.msg, b.msg, a.msg_len);
                assert_int_equal(a.nfields, b.nfields);
                for (size_t k = 0; k < a.nfields; k++) {
                        assert_int_equal(a.fields[k].key_len, b.fields[k].key_len);
                        assert_memory_equal(a.fields[k].key, b.fields[k].key, a.fields[k].key_len);
                        assert_int_equal(a.fields[k].val_len, b.fields[k].val_len);
                        assert_memory_equal(a.fields[k].val, b.fields[k].val, a.fields[k].val_len);
                }
        }
        logline_format_free(f);
        logline_format_free(g);
}

/* Metadata words of every shape, and the date/time/level/literal checks
 * that look at 8 bytes at once, off by one byte in every place. */
static void test_match_metadata_and_shapes(void **state)
{
        (void)state;
        struct logline_format *f = mk_fmt(fixture_fmt);
        struct logline_event ev = {0};
        const char *line = "2026-11-23 11:18:16.254 [ERROR] a=1 request_id=F1x9 text=two words "
                           "=x empty= long_key_name=some_long_value_here | m";
        assert_true(logline_format_match(f, line, strlen(line), FIXED_NOW, &ev));
        assert_int_equal(ev.level, LOGLINE_ERROR);
        static const char *const want[][2] = {{"a", "1"},
                                              {"request_id", "F1x9"},
                                              {"text", "two words =x"},
                                              {"empty", ""},
                                              {"long_key_name", "some_long_value_here"}};
        assert_int_equal(ev.nfields, 5);
        for (size_t i = 0; i < 5; i++) {
                assert_int_equal(ev.fields[i].key_len, strlen(want[i][0]));
                assert_memory_equal(ev.fields[i].key, want[i][0], ev.fields[i].key_len);
                assert_int_equal(ev.fields[i].val_len, strlen(want[i][1]));
                assert_memory_equal(ev.fields[i].val, want[i][1], ev.fields[i].val_len);
        }
        assert_int_equal(ev.msg_len, 1);
        /* one byte changed anywhere in the header: no match */
        const char *good = "2026-11-23 11:18:16.254 [info] | x";
        for (size_t at = 0; at < 31; at++) {
                char b[64];
                strcpy(b, good);
                if (b[at] == '[' || (b[at] >= 'a' && b[at] <= 'z'))
                        continue; /* the level word: another case, checked above */
                b[at] = b[at] == 'Z' ? 'Y' : 'Z';
                assert_false(logline_format_match(f, b, strlen(b), FIXED_NOW, &ev));
        }
        assert_true(logline_format_match(f, good, strlen(good), FIXED_NOW, &ev));
        /* every level word in any case, and near misses */
        static const struct {
                const char *w;
                int level; /* -1: no match */
        } words[] = {
            {"debug", LOGLINE_DEBUG},
            {"info", LOGLINE_INFO},
            {"notice", LOGLINE_NOTICE},
            {"warning", LOGLINE_WARNING},
            {"warn", LOGLINE_WARNING},
            {"error", LOGLINE_ERROR},
            {"err", LOGLINE_ERROR},
            {"critical", LOGLINE_CRITICAL},
            {"alert", LOGLINE_ALERT},
            {"emergency", LOGLINE_EMERGENCY},
            {"INFO", LOGLINE_INFO},
            {"Warning", LOGLINE_WARNING},
            {"EMERGENCY", LOGLINE_EMERGENCY},
            {"inf", -1},
            {"infos", -1},
            {"warnings", -1},
            {"criticalx", -1},
            {"er", -1},
            {"info1", -1},
            {"in_o", -1},
        };
        for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
                char b[80];
                snprintf(b, sizeof b, "2026-11-23 11:18:16.254 [%s] | x", words[i].w);
                bool m = logline_format_match(f, b, strlen(b), FIXED_NOW, &ev);
                assert_int_equal(m, words[i].level >= 0);
                if (m)
                        assert_int_equal(ev.level, words[i].level);
        }
        /* short lines: the checks never read past the end */
        for (size_t n = 0; n < strlen(good); n++) {
                char *cut = malloc(n ? n : 1);
                memcpy(cut, good, n);
                assert_false(logline_format_match(f, cut, n, FIXED_NOW, &ev) && n < 32);
                free(cut);
        }
        logline_format_free(f);
}

static void test_match_default_format_adds_today(void **state)
{
        (void)state;
        struct logline_format *f = mk_fmt(NULL);
        struct logline_event ev = {0};
        const char *line = "11:23:13.315 request_id=abc [error] about to fail";
        assert_true(logline_format_match(f, line, strlen(line), FIXED_NOW, &ev));
        assert_string_equal(ev.ts, "2026-11-23T11:23:13.315Z");
        assert_int_equal(ev.level, LOGLINE_ERROR);
        assert_int_equal(ev.nfields, 1);
        assert_memory_equal(ev.msg, "about to fail", ev.msg_len);
        const char *warn = "11:23:13.315 [warn] old name";
        assert_true(logline_format_match(f, warn, strlen(warn), FIXED_NOW, &ev));
        assert_int_equal(ev.level, LOGLINE_WARNING);
        logline_format_free(f);
}

/* An Erlang logger_formatter template, as the node program reports it:
 * RFC 3339 times with their offset (applied, whatever TZ relrun-pod has),
 * one metadata key. */
static void test_match_erlang_template(void **state)
{
        (void)state;
        struct logline_format *f = mk_fmt("$erltime $level <$meta:stream_id> $message\n");
        logline_format_set_local(f, true); /* the offset, not the TZ, decides */
        struct logline_event ev = {0};
        const char *line = "2026-12-03T00:32:06.796246+09:00 warning <s1> segment 3 late";
        assert_true(logline_format_match(f, line, strlen(line), FIXED_NOW, &ev));
        assert_string_equal(ev.ts, "2026-12-02T15:32:06.796Z");
        assert_int_equal(ev.level, LOGLINE_WARNING);
        assert_int_equal(ev.nfields, 1);
        assert_memory_equal(ev.fields[0].key, "stream_id", 9);
        assert_memory_equal(ev.fields[0].val, "s1", 2);
        assert_memory_equal(ev.msg, "segment 3 late", ev.msg_len);
        const char *utc = "2026-12-02T15:32:06Z notice <-> stopping";
        assert_true(logline_format_match(f, utc, strlen(utc), FIXED_NOW, &ev));
        assert_string_equal(ev.ts, "2026-12-02T15:32:06.000Z");
        assert_int_equal(ev.level, LOGLINE_NOTICE);
        const char *west = "2026-12-02T10:32:06.5-05:00 error <x> late";
        assert_true(logline_format_match(f, west, strlen(west), FIXED_NOW, &ev));
        assert_string_equal(ev.ts, "2026-12-02T15:32:06.500Z");
        /* an io:format line, an Elixir one, a continuation: no events */
        const char *bad[] = {"progress s1 50%", "11:23:13.315 [error] x", "  codec=h264",
                             "2026-12-02T15:32 info <s1> cut"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
                assert_false(logline_format_match(f, bad[i], strlen(bad[i]), FIXED_NOW, &ev));
        logline_format_free(f);
        struct logline_format *g;
        struct err e;
        assert_int_equal(logline_format_new("$erltime $meta: $message", &g, &e), -1);
        assert_non_null(strstr(e.msg, "$meta: needs a key"));
}

static void test_format_errors(void **state)
{
        (void)state;
        struct logline_format *f = NULL;
        struct err e;
        assert_int_equal(logline_format_new("$time $bogus $message", &f, &e), -1);
        assert_int_equal(e.code, ERR_USAGE);
        assert_non_null(strstr(e.msg, "$bogus"));
        assert_int_equal(logline_format_new("$time [$level]", &f, &e), -1);
        assert_non_null(strstr(e.msg, "has no $message"));
        assert_null(f);
}

static const char *app_log = "2026-11-23 11:18:15.943 [info] | live_stream application started\n"
                             "2026-11-23 11:18:16.254 [info] stream_id=s1 | encoder settings:\n"
                             "  codec=h264\n"
                             "  preset=fast\n"
                             "2026-11-23 11:18:16.254 [warning] stream_id=s1 | segment 3 \"late\"\n"
                             "2026-11-23 11:18:16.455 [error] | crash\n"
                             "    lib/live_stream.ex:31: LiveStream.fail/0\n"
                             "\n"
                             "2026-11-23 11:18:16.500 [info] | last line without newline";

static const char *app_json =
    "{\"ts\":\"2026-11-23T11:18:15.943Z\",\"level\":\"info\",\"src\":\"app\","
    "\"msg\":\"live_stream application started\",\"node\":\"live_stream@pod\"}\n"
    "{\"ts\":\"2026-11-23T11:18:16.254Z\",\"level\":\"info\",\"src\":\"app\","
    "\"msg\":\"encoder settings:\\n  codec=h264\\n  preset=fast\",\"node\":\"live_stream@pod\","
    "\"stream_id\":\"s1\"}\n"
    "{\"ts\":\"2026-11-23T11:18:16.254Z\",\"level\":\"warning\",\"src\":\"app\","
    "\"msg\":\"segment 3 \\\"late\\\"\",\"node\":\"live_stream@pod\",\"stream_id\":\"s1\"}\n"
    "{\"ts\":\"2026-11-23T11:18:16.455Z\",\"level\":\"error\",\"src\":\"app\","
    "\"msg\":\"crash\\n    lib/live_stream.ex:31: LiveStream.fail/0\","
    "\"node\":\"live_stream@pod\"}\n"
    "{\"ts\":\"2026-11-23T11:18:16.500Z\",\"level\":\"info\",\"src\":\"app\","
    "\"msg\":\"last line without newline\",\"node\":\"live_stream@pod\"}\n";

/* The whole log arrives as one read: the expected events. */
static void test_stream_whole(void **state)
{
        (void)state;
        struct logline_format *f = mk_fmt(fixture_fmt);
        struct sink k = {.fmt = LOGLINE_OUT_JSON};
        struct logline_stream *s = mk_stream(&k, f, LOGLINE_SRC_APP, 0);
        assert_int_equal(logline_stream_feed(s, app_log, strlen(app_log)), 0);
        logline_stream_chunk_end(s);
        assert_true(logline_stream_pending(s));
        assert_int_equal(logline_stream_finish(s), 0);
        assert_false(logline_stream_pending(s));
        assert_string_equal(buf_str(&k.out), app_json);
        assert_int_equal(k.events, 5);
        logline_stream_free(s);
        buf_fini(&k.out);
        logline_format_free(f);
}

/* Byte by byte, and at random split points: the same events. */
static void test_stream_any_split(void **state)
{
        (void)state;
        struct logline_format *f = mk_fmt(fixture_fmt);
        size_t n = strlen(app_log);
        srand(42);
        for (int round = 0; round < 300; round++) {
                struct sink k = {.fmt = LOGLINE_OUT_JSON};
                struct logline_stream *s = mk_stream(&k, f, LOGLINE_SRC_APP, 0);
                size_t i = 0;
                while (i < n) {
                        size_t step = round == 0 ? 1 : 1 + (size_t)rand() % 40;
                        if (step > n - i)
                                step = n - i;
                        assert_int_equal(logline_stream_feed(s, app_log + i, step), 0);
                        i += step;
                }
                assert_int_equal(logline_stream_finish(s), 0);
                assert_string_equal(buf_str(&k.out), app_json);
                logline_stream_free(s);
                buf_fini(&k.out);
        }
        logline_format_free(f);
}

/* CRLF lines, continuation lines, a plain line and an event past a small cap:
 * one read or one byte at a time, the same events (the pending event borrows
 * a read's bytes and must come out the same as when it owns them). */
static void test_stream_one_read_or_bytes_agree(void **state)
{
        (void)state;
        static const char log[] =
            "2026-11-23 11:18:15.943 [info] a=1 | first\r\n"
            "  cont one\r\n"
            "\tcont two\n"
            "plain io line\n"
            "  indented after plain\n"
            "2026-11-23 11:18:16.000 [error] | long message that goes past the cap of forty\n"
            "    and a continuation that adds more bytes than the cap allows\n"
            "2026-11-23 11:18:17.000 [info] | end\n";
        struct logline_format *f = mk_fmt(fixture_fmt);
        for (size_t cap = 40; cap <= 4096; cap *= 102) {
                struct sink whole = {.fmt = LOGLINE_OUT_JSON}, bytes = {.fmt = LOGLINE_OUT_JSON};
                struct logline_stream *a = mk_stream(&whole, f, LOGLINE_SRC_APP, cap);
                struct logline_stream *b = mk_stream(&bytes, f, LOGLINE_SRC_APP, cap);
                assert_int_equal(logline_stream_feed(a, log, sizeof log - 1), 0);
                for (size_t i = 0; i < sizeof log - 1; i++)
                        assert_int_equal(logline_stream_feed(b, log + i, 1), 0);
                assert_int_equal(logline_stream_finish(a), 0);
                assert_int_equal(logline_stream_finish(b), 0);
                assert_string_equal(buf_str(&whole.out), buf_str(&bytes.out));
                const char *out = buf_str(&whole.out);
                assert_non_null(strstr(out, "\"msg\":\"first\\n  cont one\\n\\tcont two\""));
                assert_non_null(strstr(out, "\"msg\":\"plain io line\\n  indented after plain\""));
                assert_int_equal(strstr(out, "\\r") == NULL, true);
                assert_non_null(strstr(out, "\"msg\":\"end\""));
                if (cap == 40)
                        assert_non_null(strstr(out, "\"split\":true"));
                else
                        assert_null(strstr(out, "\"split\":true"));
                logline_stream_free(a);
                logline_stream_free(b);
                buf_fini(&whole.out);
                buf_fini(&bytes.out);
        }
        logline_format_free(f);
}

/* A plain line in a later read is not glued to the event before it (IO.puts
 * after a Logger call), but an indented one is. */
static void test_stream_chunk_rule(void **state)
{
        (void)state;
        struct logline_format *f = mk_fmt(fixture_fmt);
        struct sink k = {.fmt = LOGLINE_OUT_TEXT};
        struct logline_stream *s = mk_stream(&k, f, LOGLINE_SRC_APP, 0);
        const char *a = "2026-11-23 11:18:16.254 [info] | one\n";
        assert_int_equal(logline_stream_feed(s, a, strlen(a)), 0);
        logline_stream_chunk_end(s);
        assert_int_equal(logline_stream_feed(s, "progress 50%\n", 13), 0);
        logline_stream_chunk_end(s);
        assert_int_equal(logline_stream_feed(s, "  indented goes with progress\n", 30), 0);
        logline_stream_chunk_end(s);
        assert_int_equal(logline_stream_flush(s), 0);
        assert_string_equal(buf_str(&k.out),
                            "2026-11-23T11:18:16.254Z info    app    one node=live_stream@pod\n"
                            "2026-11-23T06:00:00.123Z info    app    progress 50%\n"
                            "      indented goes with progress node=live_stream@pod\n");
        logline_stream_free(s);
        buf_fini(&k.out);
        logline_format_free(f);
}

/* One read that holds a log event and an IO.puts line (the BEAM batches
 * writes under load): the plain line is an event of its own; only an indented
 * line continues the event. */
static void test_stream_plain_line_in_the_same_read(void **state)
{
        (void)state;
        struct logline_format *f = mk_fmt(fixture_fmt);
        struct sink k = {.fmt = LOGLINE_OUT_TEXT};
        struct logline_stream *s = mk_stream(&k, f, LOGLINE_SRC_APP, 0);
        const char *a = "2026-11-23 11:18:16.254 [info] | one\n"
                        "  indented goes with one\n"
                        "progress 50%\n";
        assert_int_equal(logline_stream_feed(s, a, strlen(a)), 0);
        logline_stream_chunk_end(s);
        assert_int_equal(logline_stream_finish(s), 0);
        assert_int_equal(k.events, 2);
        assert_string_equal(buf_str(&k.out), "2026-11-23T11:18:16.254Z info    app    one\n"
                                             "      indented goes with one node=live_stream@pod\n"
                                             "2026-11-23T06:00:00.123Z info    app    progress 50% "
                                             "node=live_stream@pod\n");
        logline_stream_free(s);
        buf_fini(&k.out);
        logline_format_free(f);
}

/* A JSON line after a plain one: both come out in the order they arrived. */
static void test_stream_json_keeps_arrival_order(void **state)
{
        (void)state;
        struct sink k = {.fmt = LOGLINE_OUT_TEXT};
        struct logline_stream *s = mk_stream(&k, NULL, LOGLINE_SRC_APP, 0);
        const char *a = "plain first\n{\"message\":\"json second\"}\n";
        assert_int_equal(logline_stream_feed(s, a, strlen(a)), 0);
        assert_int_equal(logline_stream_finish(s), 0);
        const char *out = buf_str(&k.out);
        const char *first = strstr(out, "plain first"), *second = strstr(out, "json second");
        assert_non_null(first);
        assert_non_null(second);
        assert_true(first < second);
        assert_int_equal(k.events, 2);
        logline_stream_free(s);
        buf_fini(&k.out);
}

static void test_stream_rpc_stderr_plain(void **state)
{
        (void)state;
        struct sink k = {.fmt = LOGLINE_OUT_LOGFMT};
        struct logline_stream *s = mk_stream(&k, NULL, LOGLINE_SRC_RPC, 0);
        const char *err = "** (RuntimeError) encoder crashed\n    lib/live_stream.ex:31: x\n";
        assert_int_equal(logline_stream_feed(s, err, strlen(err)), 0);
        assert_int_equal(logline_stream_finish(s), 0);
        assert_string_equal(
            buf_str(&k.out),
            "ts=2026-11-23T06:00:00.123Z level=error src=rpc "
            "msg=\"** (RuntimeError) encoder crashed\\n    lib/live_stream.ex:31: x\" "
            "node=live_stream@pod\n");
        assert_int_equal(k.events, 1);
        logline_stream_free(s);
        buf_fini(&k.out);
}

static void test_stream_json_passthrough(void **state)
{
        (void)state;
        struct sink k = {.fmt = LOGLINE_OUT_JSON};
        struct logline_stream *s = mk_stream(&k, NULL, LOGLINE_SRC_APP, 0);
        const char *j =
            "{\"time\":\"2026-01-01T00:00:00Z\",\"severity\":\"WARN\",\"message\":\"m\","
            "\"count\":3,\"ok\":true,\"user\":\"u\"}\n{not json\n";
        assert_int_equal(logline_stream_feed(s, j, strlen(j)), 0);
        assert_int_equal(logline_stream_finish(s), 0);
        assert_string_equal(
            buf_str(&k.out),
            "{\"ts\":\"2026-01-01T00:00:00Z\",\"level\":\"warning\",\"src\":\"app\","
            "\"msg\":\"m\",\"node\":\"live_stream@pod\",\"count\":3,\"ok\":true,"
            "\"user\":\"u\"}\n"
            "{\"ts\":\"2026-11-23T06:00:00.123Z\",\"level\":\"info\",\"src\":\"app\","
            "\"msg\":\"{not json\",\"node\":\"live_stream@pod\"}\n");
        logline_stream_free(s);
        buf_fini(&k.out);
}

/* An event past the cap comes out in marked parts; together they hold every byte. */
static void test_stream_overlong_split(void **state)
{
        (void)state;
        struct sink k = {.fmt = LOGLINE_OUT_LOGFMT};
        struct logline_stream *s = mk_stream(&k, NULL, LOGLINE_SRC_APP, 100);
        char big[1001];
        for (int i = 0; i < 1000; i++)
                big[i] = (char)('a' + i % 26);
        big[1000] = '\n';
        /* fed in small pieces so the 64-byte line buffer overflows many times */
        for (int i = 0; i < 1001; i += 7)
                assert_int_equal(logline_stream_feed(s, big + i, i + 7 > 1001 ? 1001 - i : 7), 0);
        assert_int_equal(logline_stream_finish(s), 0);
        assert_int_equal(k.events, 10);
        /* reassemble the msg values */
        char joined[1100] = "";
        const char *p = buf_str(&k.out);
        int parts = 0;
        while ((p = strstr(p, "msg="))) {
                p += 4;
                size_t l = strcspn(p, " ");
                strncat(joined, p, l);
                p += l;
                parts++;
        }
        assert_int_equal(parts, 10);
        assert_int_equal(strlen(joined), 1000);
        assert_memory_equal(joined, big, 1000);
        assert_non_null(strstr(buf_str(&k.out), "split=true"));
        logline_stream_free(s);
        buf_fini(&k.out);
}

/* Messages of 16 bytes and more are copied 16 bytes a step in the encoder
 * and handed to the escaper at the first byte that is not plain: a special
 * byte (or a UTF-8 sequence, or an invalid byte) at every position of every
 * length from 15 to 40 comes out as the escaper alone writes it. */
static void test_encode_escapes_every_offset(void **state)
{
        (void)state;
        static const char *const specials[] = {"\"",       "\\",   "\n",          "\x01",
                                               "\xc3\xa9", "\xff", "\xe2\x82\xac"};
        struct buf b, want;
        buf_init(&b, 4096);
        buf_init(&want, 4096);
        struct logline_event ev = {.level = LOGLINE_INFO, .src = LOGLINE_SRC_APP};
        strcpy(ev.ts, "2026-11-23T06:00:00.123Z");
        char msg[64];
        for (size_t len = 15; len <= 40; len++)
                for (size_t sp = 0; sp < sizeof specials / sizeof specials[0]; sp++)
                        for (size_t at = 0; at + strlen(specials[sp]) <= len; at++) {
                                memset(msg, 'a' + (int)(len % 26), len);
                                memcpy(msg + at, specials[sp], strlen(specials[sp]));
                                ev.msg = msg;
                                ev.msg_len = len;
                                buf_reset(&b);
                                assert_int_equal(logline_encode(&ev, LOGLINE_OUT_JSON, &b), 0);
                                buf_reset(&want);
                                assert_int_equal(buf_puts(&want, "{\"ts\":\"2026-11-23T06:00:00."
                                                                 "123Z\",\"level\":\"info\","
                                                                 "\"src\":\"app\",\"msg\":\""),
                                                 0);
                                assert_int_equal(codec_json_escape(&want, msg, len), 0);
                                assert_int_equal(buf_puts(&want, "\"}\n"), 0);
                                assert_string_equal(buf_str(&b), buf_str(&want));
                        }
        buf_fini(&b);
        buf_fini(&want);
}

/* A metadata field as the line has it ("k=v", the value right after the
 * '=') is written from there when nothing in it needs escaping: every split
 * of 8 to 17 bytes into key and value, with a special byte at every place or
 * none, comes out as the same field held apart writes it. */
static void test_encode_field_in_place(void **state)
{
        (void)state;
        static const char *const specials[] = {"", "\"", "\\", "\t", "\xc3\xa9", "\xff"};
        struct buf b, want;
        buf_init(&b, 4096);
        buf_init(&want, 4096);
        struct logline_event ev = {
            .level = LOGLINE_INFO, .src = LOGLINE_SRC_APP, .msg = "m", .msg_len = 1, .nfields = 1};
        strcpy(ev.ts, "2026-11-23T06:00:00.123Z");
        char line[32], key[32], val[32];
        for (size_t span = 8; span <= 17; span++)
                for (size_t kl = 1; kl + 1 < span; kl++)
                        for (size_t sp = 0; sp < sizeof specials / sizeof specials[0]; sp++)
                                for (size_t at = 0; at + strlen(specials[sp]) <= span; at++) {
                                        size_t vl = span - kl - 1;
                                        memset(line, 'k', kl);
                                        line[kl] = '=';
                                        memset(line + kl + 1, 'v', vl);
                                        if (at != kl &&
                                            (at > kl || at + strlen(specials[sp]) <= kl))
                                                memcpy(line + at, specials[sp],
                                                       strlen(specials[sp]));
                                        memcpy(key, line, kl);
                                        memcpy(val, line + kl + 1, vl);
                                        ev.fields[0] = (struct logline_field){
                                            line, kl, line + kl + 1, vl, false};
                                        buf_reset(&b);
                                        assert_int_equal(logline_encode(&ev, LOGLINE_OUT_JSON, &b),
                                                         0);
                                        ev.fields[0] =
                                            (struct logline_field){key, kl, val, vl, false};
                                        buf_reset(&want);
                                        assert_int_equal(
                                            logline_encode(&ev, LOGLINE_OUT_JSON, &want), 0);
                                        assert_string_equal(buf_str(&b), buf_str(&want));
                                }
        buf_fini(&b);
        buf_fini(&want);
}

static void test_encode_escapes(void **state)
{
        (void)state;
        struct buf b;
        buf_init(&b, 4096);
        struct logline_event ev = {.level = LOGLINE_DEBUG, .src = LOGLINE_SRC_RELRUN};
        strcpy(ev.ts, "2026-11-23T06:00:00.123Z");
        const char msg[] = "tab\there \x01 bad\xff utf8 \xc3\xa9 quote\" back\\";
        ev.msg = msg;
        ev.msg_len = sizeof msg - 1;
        assert_int_equal(logline_encode(&ev, LOGLINE_OUT_JSON, &b), 0);
        assert_string_equal(buf_str(&b),
                            "{\"ts\":\"2026-11-23T06:00:00.123Z\",\"level\":\"debug\",\"src\":"
                            "\"relrun\",\"msg\":\"tab\\there \\u0001 bad\xef\xbf\xbd utf8 \xc3\xa9 "
                            "quote\\\" back\\\\\"}\n");
        buf_reset(&b);
        ev.msg = "plain";
        ev.msg_len = 5;
        ev.split = true;
        assert_int_equal(logline_encode(&ev, LOGLINE_OUT_LOGFMT, &b), 0);
        assert_string_equal(buf_str(&b), "ts=2026-11-23T06:00:00.123Z level=debug src=relrun "
                                         "msg=plain split=true\n");
        buf_fini(&b);
}

/* An app event with metadata, a node and a split mark, as each profile
 * writes it: the collector's own field names, src and node where it reads
 * them. */
static void test_encode_profiles(void **state)
{
        (void)state;
        struct buf b;
        buf_init(&b, 4096);
        struct logline_event ev = {.level = LOGLINE_WARNING, .src = LOGLINE_SRC_APP};
        strcpy(ev.ts, "2026-11-23T06:00:00.123Z");
        ev.msg = "disk \"low\"";
        ev.msg_len = strlen(ev.msg);
        ev.node = "live_stream@pod";
        ev.fields[0] = (struct logline_field){"stream_id", 9, "s1", 2, false};
        ev.fields[1] = (struct logline_field){"exit_code", 9, "3", 1, true};
        /* the profile's own key as metadata would repeat it: left out */
        ev.fields[2] = (struct logline_field){"message", 7, "dup", 3, false};
        ev.nfields = 3;
        ev.split = true;
        static const struct {
                enum logline_out fmt;
                const char *want;
        } cases[] = {
            {LOGLINE_OUT_GCP,
             "{\"time\":\"2026-11-23T06:00:00.123Z\",\"severity\":\"WARNING\",\"message\":\"disk "
             "\\\"low\\\"\",\"stream_id\":\"s1\",\"exit_code\":3,\"split\":true,"
             "\"logging.googleapis.com/labels\":{\"src\":\"app\",\"node\":\"live_stream@pod\"}}\n"},
            {LOGLINE_OUT_ECS,
             "{\"@timestamp\":\"2026-11-23T06:00:00.123Z\",\"log.level\":\"warning\",\"message\":"
             "\"disk "
             "\\\"low\\\"\",\"log.logger\":\"app\",\"service.node.name\":\"live_stream@pod\","
             "\"ecs.version\":\"8.11.0\",\"stream_id\":\"s1\",\"exit_code\":3,\"split\":true}\n"},
            {LOGLINE_OUT_DATADOG,
             "{\"timestamp\":\"2026-11-23T06:00:00.123Z\",\"status\":\"warning\",\"message\":"
             "\"disk \\\"low\\\"\",\"logger.name\":\"app\",\"node\":\"live_stream@pod\","
             "\"stream_id\":\"s1\",\"exit_code\":3,\"split\":true}\n"},
            {LOGLINE_OUT_JSON,
             "{\"ts\":\"2026-11-23T06:00:00.123Z\",\"level\":\"warning\",\"src\":\"app\",\"msg\":"
             "\"disk \\\"low\\\"\",\"node\":\"live_stream@pod\",\"stream_id\":\"s1\","
             "\"exit_code\":3,\"message\":\"dup\",\"split\":true}\n"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                buf_reset(&b);
                assert_int_equal(logline_encode(&ev, cases[i].fmt, &b), 0);
                assert_string_equal(buf_str(&b), cases[i].want);
        }
        buf_fini(&b);
}

static int count_of(const char *hay, const char *needle)
{
        int n = 0;
        for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
                n++;
        return n;
}

/* Metadata named like one of a profile's own keys never repeats that key
 * (a collector would take either). */
static void test_encode_profiles_never_repeat_a_key(void **state)
{
        (void)state;
        static const struct {
                enum logline_out fmt;
                const char *keys[8];
        } cases[] = {
            {LOGLINE_OUT_JSON, {"ts", "level", "src", "msg", "node", "split"}},
            {LOGLINE_OUT_GCP,
             {"time", "timestamp", "severity", "message", "split",
              "logging.googleapis.com/labels"}},
            {LOGLINE_OUT_ECS,
             {"@timestamp", "log.level", "message", "log.logger", "service.node.name",
              "ecs.version", "split"}},
            {LOGLINE_OUT_DATADOG,
             {"timestamp", "status", "message", "logger.name", "node", "split"}},
        };
        struct buf b;
        buf_init(&b, 1 << 16);
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
                struct logline_event ev = {.level = LOGLINE_INFO, .src = LOGLINE_SRC_APP};
                strcpy(ev.ts, "2026-11-23T06:00:00.123Z");
                ev.msg = "m";
                ev.msg_len = 1;
                ev.node = "n@h";
                ev.split = true;
                for (size_t i = 0; i < 8 && cases[c].keys[i]; i++)
                        ev.fields[ev.nfields++] = (struct logline_field){
                            cases[c].keys[i], strlen(cases[c].keys[i]), "dup", 3, false};
                /* and one that is not reserved anywhere */
                ev.fields[ev.nfields++] = (struct logline_field){"stream_id", 9, "s1", 2, false};
                buf_reset(&b);
                assert_int_equal(logline_encode(&ev, cases[c].fmt, &b), 0);
                for (size_t i = 0; i < 8 && cases[c].keys[i]; i++) {
                        char k[64];
                        snprintf(k, sizeof k, "\"%s\":", cases[c].keys[i]);
                        assert_true(count_of(buf_str(&b), k) <= 1);
                }
                assert_int_equal(count_of(buf_str(&b), "\"dup\""), 0);
                assert_int_equal(count_of(buf_str(&b), "\"stream_id\":\"s1\""), 1);
        }
        buf_fini(&b);
}

/* Every level in every profile's word, and a relrun event without a node. */
static void test_encode_profile_levels(void **state)
{
        (void)state;
        static const char *const gcp[] = {"DEBUG", "INFO",     "NOTICE", "WARNING",
                                          "ERROR", "CRITICAL", "ALERT",  "EMERGENCY"};
        static const char *const dd[] = {"debug", "info",     "notice", "warning",
                                         "error", "critical", "alert",  "emerg"};
        static const char *const ecs[] = {"debug", "info",     "notice", "warning",
                                          "error", "critical", "alert",  "emergency"};
        struct buf b;
        buf_init(&b, 4096);
        for (int l = LOGLINE_DEBUG; l <= LOGLINE_EMERGENCY; l++) {
                struct logline_event ev = {.level = (enum logline_level)l,
                                           .src = LOGLINE_SRC_RELRUN};
                strcpy(ev.ts, "2026-11-23T06:00:00.123Z");
                ev.msg = "ready";
                ev.msg_len = 5;
                char want[512];
                buf_reset(&b);
                assert_int_equal(logline_encode(&ev, LOGLINE_OUT_GCP, &b), 0);
                snprintf(want, sizeof want,
                         "{\"time\":\"2026-11-23T06:00:00.123Z\",\"severity\":\"%s\",\"message\":"
                         "\"ready\",\"logging.googleapis.com/labels\":{\"src\":\"relrun\"}}\n",
                         gcp[l]);
                assert_string_equal(buf_str(&b), want);
                buf_reset(&b);
                assert_int_equal(logline_encode(&ev, LOGLINE_OUT_DATADOG, &b), 0);
                snprintf(want, sizeof want,
                         "{\"timestamp\":\"2026-11-23T06:00:00.123Z\",\"status\":\"%s\","
                         "\"message\":\"ready\",\"logger.name\":\"relrun\"}\n",
                         dd[l]);
                assert_string_equal(buf_str(&b), want);
                buf_reset(&b);
                assert_int_equal(logline_encode(&ev, LOGLINE_OUT_ECS, &b), 0);
                snprintf(want, sizeof want,
                         "{\"@timestamp\":\"2026-11-23T06:00:00.123Z\",\"log.level\":\"%s\","
                         "\"message\":\"ready\",\"log.logger\":\"relrun\",\"ecs.version\":"
                         "\"8.11.0\"}\n",
                         ecs[l]);
                assert_string_equal(buf_str(&b), want);
        }
        enum logline_out o;
        struct err e;
        const char *names[] = {"gcp", "ecs", "datadog"};
        enum logline_out outs[] = {LOGLINE_OUT_GCP, LOGLINE_OUT_ECS, LOGLINE_OUT_DATADOG};
        for (int i = 0; i < 3; i++) {
                assert_int_equal(logline_out_parse(names[i], &o, &e), 0);
                assert_int_equal(o, outs[i]);
                assert_string_equal(logline_out_name(o), names[i]);
        }
        buf_fini(&b);
}

/* Near the cap, an event that fits is written even though its worst case
 * (every byte escaped) would not; one that does not fit leaves out as it was. */
static void test_encode_near_cap(void **state)
{
        (void)state;
        struct logline_event ev = {.level = LOGLINE_INFO, .src = LOGLINE_SRC_APP};
        strcpy(ev.ts, "2026-11-23T06:00:00.123Z");
        ev.msg = "0123456789012345678901234567890123456789";
        ev.msg_len = 40;
        const char *want = "{\"ts\":\"2026-11-23T06:00:00.123Z\",\"level\":\"info\",\"src\":"
                           "\"app\",\"msg\":\"0123456789012345678901234567890123456789\"}\n";
        struct buf b;
        buf_init(&b, strlen(want));
        assert_int_equal(logline_encode(&ev, LOGLINE_OUT_JSON, &b), 0);
        assert_string_equal(buf_str(&b), want);
        assert_int_equal(logline_encode(&ev, LOGLINE_OUT_JSON, &b), -1);
        assert_string_equal(buf_str(&b), want);
        buf_fini(&b);
}

static void test_level_and_out_parse(void **state)
{
        (void)state;
        enum logline_level l;
        assert_int_equal(logline_level_parse("WARNING", 7, &l), 0);
        assert_int_equal(l, LOGLINE_WARNING);
        assert_int_equal(logline_level_parse("emergency", 9, &l), 0);
        assert_int_equal(l, LOGLINE_EMERGENCY);
        assert_int_equal(logline_level_parse("verbose", 7, &l), -1);
        enum logline_out o;
        struct err e;
        assert_int_equal(logline_out_parse("logfmt", &o, &e), 0);
        assert_int_equal(o, LOGLINE_OUT_LOGFMT);
        assert_int_equal(logline_out_parse("yaml", &o, &e), -1);
        assert_int_equal(e.code, ERR_USAGE);
        assert_non_null(strstr(e.msg, "\"yaml\""));
}

/* What reaches the terminal from text s, as a C string (freed by the caller's
 * buf_fini). */
static const char *safe(struct buf *b, const char *s, size_t n)
{
        buf_reset(b);
        assert_int_equal(logline_text_safe(b, s, n), 0);
        return buf_str(b);
}
#define SAFE(b, lit) safe(b, lit, sizeof(lit) - 1)

static void test_text_safe_shows_controls(void **state)
{
        (void)state;
        struct buf b;
        buf_init(&b, 1 << 16);
        assert_string_equal(SAFE(&b, "plain\ttext\nnext"), "plain\ttext\nnext");
        assert_string_equal(SAFE(&b, "\033]0;pwned\007x"), "\\x1b]0;pwned\\x07x");
        assert_string_equal(SAFE(&b, "\033[2J\033[H"), "\\x1b[2J\\x1b[H");
        assert_string_equal(SAFE(&b, "a\rb\bc\x7f"), "a\\x0db\\x08c\\x7f");
        /* C1: a lone byte (an 8-bit terminal's CSI) and U+009B in UTF-8 */
        assert_string_equal(SAFE(&b, "\x9b"
                                     "2J"),
                            "\\x9b2J");
        assert_string_equal(SAFE(&b, "\xc2\x9b"
                                     "2J \xc2\x80"),
                            "\\x9b2J \\x80");
        /* UTF-8 text stays; other invalid bytes become U+FFFD */
        assert_string_equal(SAFE(&b, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
                            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
        assert_string_equal(SAFE(&b, "\xff\xc3"), "\xef\xbf\xbd\xef\xbf\xbd");
        assert_string_equal(SAFE(&b, "\xc2\xa0nbsp"), "\xc2\xa0nbsp");
        /* NUL is a control too */
        assert_string_equal(safe(&b, "a\0b", 3), "a\\x00b");
        buf_fini(&b);
}

static void test_text_safe_every_byte(void **state)
{
        (void)state;
        struct buf b;
        buf_init(&b, 1 << 16);
        for (unsigned c = 0; c < 256; c++) {
                char in = (char)c;
                const char *o = safe(&b, &in, 1);
                for (size_t i = 0; i < b.len; i++) {
                        unsigned char x = (unsigned char)o[i];
                        assert_true(x >= 0x20 || x == '\t' || x == '\n');
                        assert_true(x != 0x7f);
                }
        }
        /* a byte to show at every place of a longer line (16 bytes a step,
         * then the tail) */
        static const struct {
                char c;
                const char *shown;
        } bad[] = {{'\033', "\\x1b"}, {'\r', "\\x0d"},   {'\0', "\\x00"},
                   {'\x7f', "\\x7f"}, {'\x9b', "\\x9b"}, {'\xff', "\xef\xbf\xbd"}};
        const char text[] = "a plain line of forty bytes, tab\tand nl\n";
        size_t tn = sizeof text - 1;
        assert_int_equal(logline_plain_prefix(text, tn), tn);
        for (size_t k = 0; k < sizeof bad / sizeof *bad; k++)
                for (size_t at = 0; at < tn; at++) {
                        char in[64], want[80];
                        memcpy(in, text, tn);
                        in[at] = bad[k].c;
                        assert_int_equal(logline_plain_prefix(in, tn), at);
                        snprintf(want, sizeof want, "%.*s%s%s", (int)at, text, bad[k].shown,
                                 text + at + 1);
                        assert_string_equal(safe(&b, in, tn), want);
                }
        /* at its cap: -1, and what was written is still safe */
        struct buf small;
        buf_init(&small, 5);
        assert_int_equal(logline_text_safe(&small, "ab\033[2J", 6), -1);
        assert_true(small.len <= 5);
        assert_null(memchr(small.data, '\033', small.len));
        buf_fini(&small);
        buf_fini(&b);
}

static void test_key_roles(void **state)
{
        (void)state;
        struct {
                const char *k;
                enum logline_role r;
        } cases[] = {
            {"ts", LOGLINE_ROLE_TS},
            {"time", LOGLINE_ROLE_TS},
            {"timestamp", LOGLINE_ROLE_TS},
            {"@timestamp", LOGLINE_ROLE_TS},
            {"level", LOGLINE_ROLE_LEVEL},
            {"severity", LOGLINE_ROLE_LEVEL},
            {"log.level", LOGLINE_ROLE_LEVEL},
            {"status", LOGLINE_ROLE_LEVEL},
            {"src", LOGLINE_ROLE_SRC},
            {"log.logger", LOGLINE_ROLE_SRC},
            {"logger.name", LOGLINE_ROLE_SRC},
            {"msg", LOGLINE_ROLE_MSG},
            {"message", LOGLINE_ROLE_MSG},
            {"node", LOGLINE_ROLE_NODE},
            {"service.node.name", LOGLINE_ROLE_NODE},
            {"logging.googleapis.com/labels", LOGLINE_ROLE_LABELS},
            {"ecs.version", LOGLINE_ROLE_SKIP},
            {"user", LOGLINE_ROLE_OTHER},
            {"t", LOGLINE_ROLE_OTHER},
            {"tss", LOGLINE_ROLE_OTHER},
            {"Message", LOGLINE_ROLE_OTHER},
            {"", LOGLINE_ROLE_OTHER},
            /* a role key's length with other bytes */
            {"xs", LOGLINE_ROLE_OTHER},
            {"abc", LOGLINE_ROLE_OTHER},
            {"sra", LOGLINE_ROLE_OTHER},
            {"tame", LOGLINE_ROLE_OTHER},
            {"nope", LOGLINE_ROLE_OTHER},
            {"lever", LOGLINE_ROLE_OTHER},
            {"statu5", LOGLINE_ROLE_OTHER},
            {"massage", LOGLINE_ROLE_OTHER},
            {"severit_", LOGLINE_ROLE_OTHER},
            {"timestamq", LOGLINE_ROLE_OTHER},
            {"log.levex", LOGLINE_ROLE_OTHER},
            {"@timestame", LOGLINE_ROLE_OTHER},
            {"log.loggex", LOGLINE_ROLE_OTHER},
            {"logger.namx", LOGLINE_ROLE_OTHER},
            {"ecs.versioN", LOGLINE_ROLE_OTHER},
            {"service.node.nam_", LOGLINE_ROLE_OTHER},
            {"logging.googleapis.com/label_", LOGLINE_ROLE_OTHER},
        };
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
                assert_int_equal(logline_key_role(cases[i].k, strlen(cases[i].k)), cases[i].r);
        /* the length counts, not a NUL: "msg" inside a longer key is not msg */
        assert_int_equal(logline_key_role("msgs", 3), LOGLINE_ROLE_MSG);
        assert_int_equal(logline_key_role("msgs", 4), LOGLINE_ROLE_OTHER);
}

static void test_level_words(void **state)
{
        (void)state;
        struct {
                const char *w;
                enum logline_level l;
        } cases[] = {
            {"WARNING", LOGLINE_WARNING}, {"warn", LOGLINE_WARNING},
            {"Err", LOGLINE_ERROR},       {"ERROR", LOGLINE_ERROR},
            {"crit", LOGLINE_CRITICAL},   {"CRITICAL", LOGLINE_CRITICAL},
            {"emerg", LOGLINE_EMERGENCY}, {"fatal", LOGLINE_EMERGENCY},
            {"ALERT", LOGLINE_ALERT},     {"notice", LOGLINE_NOTICE},
            {"DEFAULT", LOGLINE_INFO},    {"info", LOGLINE_INFO},
            {"trace", LOGLINE_DEBUG},     {"DEBUG", LOGLINE_DEBUG},
        };
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
                enum logline_level l = LOGLINE_EMERGENCY + 1;
                assert_int_equal(logline_level_word(cases[i].w, strlen(cases[i].w), &l), 0);
                assert_int_equal(l, cases[i].l);
        }
        enum logline_level l = LOGLINE_NOTICE;
        assert_int_equal(logline_level_word("verbose", 7, &l), -1);
        assert_int_equal(logline_level_word("inf", 3, &l), -1);
        assert_int_equal(logline_level_word("info ", 5, &l), -1);
        assert_int_equal(l, LOGLINE_NOTICE);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_match_fixture_format),
            cmocka_unit_test(test_match_straight_path_agrees),
            cmocka_unit_test(test_match_template_bytes),
            cmocka_unit_test(test_match_metadata_and_shapes),
            cmocka_unit_test(test_match_default_format_adds_today),
            cmocka_unit_test(test_match_erlang_template),
            cmocka_unit_test(test_format_errors),
            cmocka_unit_test(test_stream_whole),
            cmocka_unit_test(test_stream_any_split),
            cmocka_unit_test(test_stream_one_read_or_bytes_agree),
            cmocka_unit_test(test_stream_chunk_rule),
            cmocka_unit_test(test_stream_plain_line_in_the_same_read),
            cmocka_unit_test(test_stream_json_keeps_arrival_order),
            cmocka_unit_test(test_stream_rpc_stderr_plain),
            cmocka_unit_test(test_stream_json_passthrough),
            cmocka_unit_test(test_stream_overlong_split),
            cmocka_unit_test(test_encode_escapes),
            cmocka_unit_test(test_encode_field_in_place),
            cmocka_unit_test(test_encode_escapes_every_offset),
            cmocka_unit_test(test_encode_profiles),
            cmocka_unit_test(test_encode_profiles_never_repeat_a_key),
            cmocka_unit_test(test_encode_profile_levels),
            cmocka_unit_test(test_encode_near_cap),
            cmocka_unit_test(test_level_and_out_parse),
            cmocka_unit_test(test_text_safe_shows_controls),
            cmocka_unit_test(test_text_safe_every_byte),
            cmocka_unit_test(test_key_roles),
            cmocka_unit_test(test_level_words),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
