/* Unit tests for pkg/kube's pure parts: Status bodies, Retry-After, the line
 * splitter under every split of the input, watch events, log timestamps and
 * the de-duplication of a resumed log stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "kube.h"
#include "kube_internal.h"

/* ---- Status ------------------------------------------------------------ */

static void status_forbidden(void **state)
{
        (void)state;
        const char *body =
            "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
            "\"message\":\"jobs.batch is forbidden: User \\\"x\\\" cannot create resource "
            "\\\"jobs\\\" in API group \\\"batch\\\" in the namespace \\\"default\\\"\","
            "\"reason\":\"Forbidden\",\"details\":{\"group\":\"batch\",\"kind\":\"jobs\"},"
            "\"code\":403}";
        struct err e;
        err_clear(&e);
        assert_int_equal(kube_status_err(403, body, strlen(body), "create jobs", &e), -1);
        assert_int_equal(e.code, ERR_NOPERM);
        assert_non_null(strstr(e.msg, "create jobs: jobs.batch is forbidden: User \"x\" cannot "
                                      "create resource \"jobs\""));
        struct kube_status st;
        kube_status_parse(403, body, strlen(body), &st);
        assert_string_equal(st.reason, "Forbidden");
        assert_int_equal(st.code, 403);
}

static void status_causes(void **state)
{
        (void)state;
        const char *body =
            "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"Job.batch \\\"x\\\" "
            "is invalid\",\"reason\":\"Invalid\",\"details\":{\"causes\":[{\"reason\":"
            "\"FieldValueInvalid\",\"message\":\"Invalid value: -1: must be >= 0\","
            "\"field\":\"spec.backoffLimit\"}]},\"code\":422}";
        struct kube_status st;
        kube_status_parse(422, body, strlen(body), &st);
        assert_int_equal(st.code, 422);
        assert_non_null(strstr(st.message, "is invalid"));
        assert_non_null(strstr(st.message, "spec.backoffLimit: Invalid value: -1: must be >= 0"));
        struct err e;
        kube_status_err(422, body, strlen(body), "create jobs", &e);
        assert_int_equal(e.code, ERR_USAGE);
}

static void status_plain_text(void **state)
{
        (void)state;
        const char *body = "Too many requests, please try again later.\n<html>junk</html>";
        struct kube_status st;
        kube_status_parse(429, body, strlen(body), &st);
        assert_string_equal(st.message, "Too many requests, please try again later.");
        assert_int_equal(st.code, 429);
        kube_status_parse(503, "", 0, &st);
        assert_string_equal(st.message, "HTTP 503");
        struct err e;
        kube_status_err(401, "{\"kind\":\"Status\",\"message\":\"Unauthorized\",\"code\":401}", 55,
                        "list jobs", &e);
        assert_int_equal(e.code, ERR_NOPERM);
        assert_non_null(strstr(e.msg, "list jobs: Unauthorized"));
        /* A JSON body that is not a Status is text, not a crash. */
        kube_status_parse(500, "[1,2", 4, &st);
        assert_string_equal(st.message, "[1,2");
        assert_int_equal(kube_http_code(404), ERR_NOTFOUND);
        assert_int_equal(kube_http_code(409), ERR_EXISTS);
        assert_int_equal(kube_http_code(422), ERR_USAGE);
        assert_int_equal(kube_http_code(502), ERR_UNAVAILABLE);
}

/* ---- Retry-After ------------------------------------------------------- */

static void retry_after(void **state)
{
        (void)state;
        long ms = -1;
        assert_int_equal(kube_retry_after_parse("2", 0, &ms), 0);
        assert_int_equal(ms, 2000);
        assert_int_equal(kube_retry_after_parse(" 0 \r\n", 0, &ms), 0);
        assert_int_equal(ms, 0);
        time_t base = curl_getdate("Wed, 21 Oct 2015 07:28:00 GMT", NULL);
        assert_true(base > 0);
        assert_int_equal(kube_retry_after_parse("Wed, 21 Oct 2015 07:28:03 GMT\r\n", base, &ms), 0);
        assert_int_equal(ms, 3000);
        /* A date in the past means now. */
        assert_int_equal(kube_retry_after_parse("Wed, 21 Oct 2015 07:27:00 GMT", base, &ms), 0);
        assert_int_equal(ms, 0);
        assert_int_equal(kube_retry_after_parse("soon", base, &ms), -1);
        assert_int_equal(kube_retry_after_parse("", base, &ms), -1);
        assert_int_equal(kube_retry_after_parse("5x", base, &ms), -1);
}

/* ---- lines and watch events --------------------------------------------- */

/* Three events, one larger than 64 KiB, CRLF on one, a blank keep-alive. */
static char *make_stream(size_t *len)
{
        struct buf b;
        buf_init(&b, 1u << 24);
        assert_int_equal(buf_puts(&b,
                                  "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\","
                                  "\"resourceVersion\":\"10\"}}}\n"),
                         0);
        assert_int_equal(buf_puts(&b,
                                  "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"b\","
                                  "\"resourceVersion\":\"11\",\"annotations\":{\"big\":\""),
                         0);
        for (int i = 0; i < 100000; i++)
                assert_int_equal(buf_putc(&b, (char)('a' + i % 26)), 0);
        assert_int_equal(buf_puts(&b, "\"}}}}\r\n\n"), 0);
        assert_int_equal(
            buf_puts(&b, "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":"
                         "\"12\"}}}\n"),
            0);
        assert_int_equal(
            buf_puts(&b, "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,"
                         "\"reason\":\"Expired\"}}\n"),
            0);
        *len = b.len;
        return buf_detach(&b);
}

struct seen {
        int n;
        enum kube_event_type types[8];
        char names[8][16];
        size_t biglen;
};

static void drain(struct kube_lines *l, struct seen *s)
{
        const char *line;
        size_t len;
        while (kube_lines_next(l, &line, &len)) {
                if (!len)
                        continue;
                enum kube_event_type t;
                struct json_object *obj;
                struct err e;
                assert_int_equal(kube_watch_event_parse(line, len, &t, &obj, &e), 0);
                assert_true(s->n < 8);
                s->types[s->n] = t;
                struct json_object *md, *v;
                s->names[s->n][0] = '\0';
                if (json_object_object_get_ex(obj, "metadata", &md) &&
                    json_object_object_get_ex(md, "name", &v))
                        snprintf(s->names[s->n], 16, "%s", json_object_get_string(v));
                if (json_object_object_get_ex(obj, "metadata", &md) &&
                    json_object_object_get_ex(md, "annotations", &v) &&
                    json_object_object_get_ex(v, "big", &v))
                        s->biglen = (size_t)json_object_get_string_len(v);
                s->n++;
                json_object_put(obj);
        }
}

static void check_seen(const struct seen *s)
{
        assert_int_equal(s->n, 4);
        assert_int_equal(s->types[0], KUBE_EV_ADDED);
        assert_string_equal(s->names[0], "a");
        assert_int_equal(s->types[1], KUBE_EV_MODIFIED);
        assert_string_equal(s->names[1], "b");
        assert_int_equal(s->biglen, 100000);
        assert_int_equal(s->types[2], KUBE_EV_BOOKMARK);
        assert_int_equal(s->types[3], KUBE_EV_ERROR);
}

static void lines_byte_by_byte(void **state)
{
        (void)state;
        size_t len;
        char *stream = make_stream(&len);
        struct kube_lines l;
        kube_lines_init(&l, 1u << 24);
        struct seen s = {0};
        for (size_t i = 0; i < len; i++) {
                assert_int_equal(kube_lines_feed(&l, stream + i, 1), 0);
                drain(&l, &s);
        }
        check_seen(&s);
        assert_int_equal(kube_lines_pending(&l), 0);
        kube_lines_fini(&l);
        free(stream);
}

static void lines_random_splits(void **state)
{
        (void)state;
        size_t len;
        char *stream = make_stream(&len);
        srand(12345);
        for (int round = 0; round < 200; round++) {
                struct kube_lines l;
                kube_lines_init(&l, 1u << 24);
                struct seen s = {0};
                size_t i = 0;
                while (i < len) {
                        size_t n = 1 + (size_t)rand() % (round % 2 ? 70000 : 300);
                        if (n > len - i)
                                n = len - i;
                        assert_int_equal(kube_lines_feed(&l, stream + i, n), 0);
                        i += n;
                        /* Sometimes let chunks pile up before reading. */
                        if (rand() % 3)
                                drain(&l, &s);
                }
                drain(&l, &s);
                check_seen(&s);
                kube_lines_fini(&l);
        }
        free(stream);
}

static void lines_cap_and_rest(void **state)
{
        (void)state;
        struct kube_lines l;
        kube_lines_init(&l, 16);
        assert_int_equal(kube_lines_feed(&l, "0123456789\nabc", 14), 0);
        /* Over the cap with a complete line pending: deliver it first. */
        assert_int_equal(kube_lines_feed(&l, "defgh", 5), -1);
        assert_true(kube_lines_has_line(&l));
        const char *line;
        size_t len;
        assert_true(kube_lines_next(&l, &line, &len));
        assert_int_equal(len, 10);
        assert_memory_equal(line, "0123456789", 10);
        assert_int_equal(kube_lines_feed(&l, "defgh", 5), 0);
        assert_false(kube_lines_next(&l, &line, &len));
        /* One line longer than the cap cannot be held. */
        assert_int_equal(kube_lines_feed(&l, "0123456789", 10), -1);
        assert_false(kube_lines_has_line(&l));
        assert_true(kube_lines_rest(&l, &line, &len));
        assert_int_equal(len, 8);
        assert_memory_equal(line, "abcdefgh", 8);
        assert_false(kube_lines_rest(&l, &line, &len));
        kube_lines_fini(&l);
}

static void watch_event_errors(void **state)
{
        (void)state;
        enum kube_event_type t;
        struct json_object *obj = NULL;
        struct err e;
        assert_int_equal(kube_watch_event_parse("{\"type\":\"ADDED\"", 15, &t, &obj, &e), -1);
        assert_int_equal(
            kube_watch_event_parse("{\"type\":\"NOPE\",\"object\":{}}", 27, &t, &obj, &e), -1);
        assert_non_null(strstr(e.msg, "NOPE"));
        assert_int_equal(kube_watch_event_parse("not json", 8, &t, &obj, &e), -1);
        assert_null(obj);
}

/* ---- timestamps and dedup ----------------------------------------------- */

static void timestamps(void **state)
{
        (void)state;
        struct kube_ts a, b;
        assert_int_equal(kube_ts_parse("1970-01-01T00:00:00Z", 20, &a), 0);
        assert_int_equal(a.sec, 0);
        assert_int_equal(a.nsec, 0);
        const char *s = "2026-11-23T06:00:00.123456789Z";
        assert_int_equal(kube_ts_parse(s, strlen(s), &a), 0);
        assert_int_equal(a.sec, 1795413600);
        assert_int_equal(a.nsec, 123456789);
        /* RFC3339Nano trims trailing zeros: .1 is later than .12 is false. */
        assert_int_equal(kube_ts_parse("2026-11-23T06:00:00.1Z", 22, &a), 0);
        assert_int_equal(kube_ts_parse("2026-11-23T06:00:00.12Z", 23, &b), 0);
        assert_int_equal(kube_ts_cmp(&a, &b), -1);
        assert_int_equal(kube_ts_parse("2026-11-23T07:00:00+01:00", 25, &b), 0);
        assert_int_equal(b.sec, 1795413600);
        assert_int_equal(kube_ts_parse("2026-11-23 06:00:00Z", 20, &a), -1);
        assert_int_equal(kube_ts_parse("2026-11-23T06:00:00", 19, &a), -1);
        assert_int_equal(kube_ts_parse("2026-13-23T06:00:00Z", 20, &a), -1);

        const char *line = "2026-11-23T06:00:00.5Z {\"msg\":\"hi there\"}";
        const char *content;
        size_t clen;
        assert_int_equal(kube_log_split(line, strlen(line), &a, &content, &clen), 0);
        assert_int_equal(a.nsec, 500000000);
        assert_int_equal(clen, strlen("{\"msg\":\"hi there\"}"));
        assert_memory_equal(content, "{\"msg\":\"hi there\"}", clen);
        assert_int_equal(kube_log_split("plain text line", 15, &a, &content, &clen), -1);
        /* An empty log line is still a line. */
        assert_int_equal(kube_log_split("2026-11-23T06:00:00Z ", 21, &a, &content, &clen), 0);
        assert_int_equal(clen, 0);
}

struct logline {
        const char *ts;
        const char *msg;
};

/* Feed lines through dedup as a stream would; appends accepted messages. */
static void feed(struct kube_log_dedup *d, const struct logline *ls, size_t n, struct buf *out)
{
        for (size_t i = 0; i < n; i++) {
                struct kube_ts ts;
                assert_int_equal(kube_ts_parse(ls[i].ts, strlen(ls[i].ts), &ts), 0);
                if (kube_log_dedup_accept(d, &ts, ls[i].msg, strlen(ls[i].msg)))
                        assert_int_equal(buf_printf(out, "%s|", ls[i].msg), 0);
        }
}

/* The server's answer to sinceTime = floor(ts of the last line printed). */
static size_t since(const struct logline *all, size_t n, const struct kube_log_dedup *d)
{
        for (size_t i = 0; i < n; i++) {
                struct kube_ts ts;
                kube_ts_parse(all[i].ts, strlen(all[i].ts), &ts);
                if (ts.sec >= d->last.sec)
                        return i;
        }
        return n;
}

static void dedup_resume_everywhere(void **state)
{
        (void)state;
        /* Same-timestamp duplicates, identical contents at one timestamp, lines
         * in the same second with different fractions. */
        static const struct logline all[] = {
            {"2026-11-23T06:00:00.100Z", "a"}, {"2026-11-23T06:00:00.100Z", "a"},
            {"2026-11-23T06:00:00.100Z", "b"}, {"2026-11-23T06:00:00.5Z", "c"},
            {"2026-11-23T06:00:01Z", "d"},     {"2026-11-23T06:00:01Z", "d"},
            {"2026-11-23T06:00:01Z", "d"},     {"2026-11-23T06:00:01.25Z", ""},
            {"2026-11-23T06:00:02.9Z", "e"},   {"2026-11-23T06:00:02.9Z", "f"},
        };
        const size_t n = sizeof all / sizeof all[0];
        struct buf want;
        buf_init(&want, 4096);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(buf_printf(&want, "%s|", all[i].msg), 0);
        /* Cut after every prefix, and twice in a row. */
        for (size_t cut1 = 1; cut1 <= n; cut1++) {
                for (size_t extra = 0; extra <= n - cut1; extra++) {
                        struct kube_log_dedup d;
                        kube_log_dedup_init(&d);
                        struct buf out;
                        buf_init(&out, 4096);
                        feed(&d, all, cut1, &out);
                        kube_log_dedup_resume(&d);
                        size_t s1 = since(all, n, &d);
                        /* Second connection reads up to cut1+extra, then is cut. */
                        size_t upto = cut1 + extra;
                        feed(&d, all + s1, upto - s1, &out);
                        kube_log_dedup_resume(&d);
                        size_t s2 = since(all, n, &d);
                        feed(&d, all + s2, n - s2, &out);
                        assert_string_equal(buf_str(&out), buf_str(&want));
                        buf_fini(&out);
                        kube_log_dedup_fini(&d);
                }
        }
        buf_fini(&want);
}

static void dedup_live_stream_keeps_repeats(void **state)
{
        (void)state;
        /* Without a resume, identical lines at one timestamp all print. */
        static const struct logline all[] = {
            {"2026-11-23T06:00:00Z", "x"},
            {"2026-11-23T06:00:00Z", "x"},
            {"2026-11-23T06:00:00Z", "x"},
        };
        struct kube_log_dedup d;
        kube_log_dedup_init(&d);
        struct buf out;
        buf_init(&out, 256);
        feed(&d, all, 3, &out);
        assert_string_equal(buf_str(&out), "x|x|x|");
        /* A resume that replays only two of them prints nothing; a fourth new
         * one at the same timestamp prints. */
        kube_log_dedup_resume(&d);
        static const struct logline more[] = {
            {"2026-11-23T06:00:00Z", "x"},
            {"2026-11-23T06:00:00Z", "x"},
            {"2026-11-23T06:00:00Z", "x"},
            {"2026-11-23T06:00:00Z", "x"},
        };
        feed(&d, more, 4, &out);
        assert_string_equal(buf_str(&out), "x|x|x|x|");
        buf_fini(&out);
        kube_log_dedup_fini(&d);
}

/* A stream's lines live in its read buffer, which the next read reuses: what
 * the de-duplication keeps of a line outlives that storage. */
static void dedup_settle_outlives_the_buffer(void **state)
{
        (void)state;
        struct kube_ts t1, t2;
        assert_int_equal(kube_ts_parse("2026-11-23T06:00:00.5Z", 22, &t1), 0);
        assert_int_equal(kube_ts_parse("2026-11-23T06:00:01.5Z", 22, &t2), 0);
        struct kube_log_dedup d;
        kube_log_dedup_init(&d);
        char b[16];
        memcpy(b, "one", 4);
        assert_true(kube_log_dedup_accept(&d, &t1, b, 3));
        memcpy(b, "two", 4);
        assert_true(kube_log_dedup_accept(&d, &t2, b, 3));
        kube_log_dedup_settle(&d);
        memcpy(b, "XXX", 4);
        kube_log_dedup_resume(&d);
        /* the resumed stream sends "two" again: not printed; "three" is new */
        memcpy(b, "two", 4);
        assert_false(kube_log_dedup_accept(&d, &t2, b, 3));
        memcpy(b, "three", 6);
        assert_true(kube_log_dedup_accept(&d, &t2, b, 5));
        /* a resume settles what it holds: "three" is skipped when sent again */
        kube_log_dedup_resume(&d);
        memcpy(b, "zzzzz", 6);
        assert_false(kube_log_dedup_accept(&d, &t2, "two", 3));
        assert_false(kube_log_dedup_accept(&d, &t2, "three", 5));
        assert_true(kube_log_dedup_accept(&d, &t2, "three", 5));
        kube_log_dedup_fini(&d);
}

static void query_escape(void **state)
{
        (void)state;
        struct buf b;
        buf_init(&b, 256);
        assert_int_equal(kube_query_escape(&b, "batch.kubernetes.io/job-name=a b&c"), 0);
        assert_string_equal(buf_str(&b), "batch.kubernetes.io%2Fjob-name%3Da%20b%26c");
        buf_fini(&b);
}

/* The client refuses to carry a bearer token over plain http. */
static void no_token_over_http(void **state)
{
        (void)state;
        struct kubeconfig_rest r = {0};
        r.server = "http://127.0.0.1:1";
        r.token = "sekrit-token";
        struct kube_client *c = NULL;
        struct err e;
        err_clear(&e);
        assert_int_equal(kube_client_new(&r, NULL, &c, &e), -1);
        assert_null(c);
        assert_int_equal(e.code, ERR_CONFIG);
        assert_non_null(strstr(e.msg, "plain http"));
        assert_null(strstr(e.msg, "sekrit"));
        r.token = NULL;
        assert_int_equal(kube_client_new(&r, NULL, &c, &e), 0);
        kube_client_free(c);
        r.server = "ftp://x";
        assert_int_equal(kube_client_new(&r, NULL, &c, &e), -1);
        assert_int_equal(e.code, ERR_CONFIG);
}

/* user:password@ in a server URL is refused and never printed. */
static void userinfo_never_printed(void **state)
{
        (void)state;
        char out[128];
        kube_server_redact("https://admin:hunter2@k.example:6443/x@y", out, sizeof out);
        assert_string_equal(out, "https://***@k.example:6443/x@y");
        kube_server_redact("https://a@b:c@k.example", out, sizeof out);
        assert_string_equal(out, "https://***@k.example");
        kube_server_redact("https://k.example/p@q", out, sizeof out);
        assert_string_equal(out, "https://k.example/p@q");
        struct kubeconfig_rest r = {0};
        r.server = "https://admin:hunter2@127.0.0.1:1";
        struct kube_client *c = NULL;
        struct err e;
        err_clear(&e);
        assert_int_equal(kube_client_new(&r, NULL, &c, &e), -1);
        assert_int_equal(e.code, ERR_CONFIG);
        assert_null(strstr(e.msg, "hunter2"));
        assert_null(strstr(e.msg, "admin"));
        assert_non_null(strstr(e.msg, "https://***@127.0.0.1:1"));
        /* and a token with CR/LF, from wherever it came */
        r.server = "https://127.0.0.1:1";
        r.token = "abc\r\nX-Evil: 1";
        assert_int_equal(kube_client_new(&r, NULL, &c, &e), -1);
        assert_int_equal(e.code, ERR_CONFIG);
        assert_null(strstr(e.msg, "Evil"));
}

/* Backoff doubles from the base, is jittered within its upper half and never
 * passes 5 s, so a retry storm spreads out and a long outage is polled. */
static void backoff_bounds(void **state)
{
        (void)state;
        struct kubeconfig_rest r = {0};
        r.server = "http://127.0.0.1:1";
        struct kube_client *c = NULL;
        struct err e;
        struct kube_client_opts o = {0};
        o.backoff_base_ms = 200;
        assert_int_equal(kube_client_new(&r, &o, &c, &e), 0);
        for (int attempt = 0; attempt < 12; attempt++) {
                long want = 200L << (attempt < 5 ? attempt : 5);
                if (want > 5000)
                        want = 5000;
                long lo = want, hi = 0;
                for (int i = 0; i < 200; i++) {
                        long d = kube_backoff_ms(c, attempt);
                        assert_true(d >= want / 2 && d <= want);
                        lo = d < lo ? d : lo;
                        hi = d > hi ? d : hi;
                }
                assert_true(hi - lo > want / 8); /* really jittered */
        }
        kube_client_free(c);
}

/* The first retry delays of a new client, computed in a child process as a
 * parallel CI runner would (a forked copy of the same program state). */
static void child_delays(int fd)
{
        struct kubeconfig_rest r = {0};
        r.server = "http://127.0.0.1:1";
        struct kube_client *c = NULL;
        struct err e;
        long d[8] = {0};
        if (kube_client_new(&r, NULL, &c, &e) == 0)
                for (int i = 0; i < 8; i++)
                        d[i] = kube_backoff_ms(c, 5);
        kube_client_free(c);
        ssize_t w = write(fd, d, sizeof d);
        _exit(w == (ssize_t)sizeof d ? 0 : 1);
}

/* Two runners that start alike do not retry in lockstep: each client seeds
 * its own jitter. */
static void jitter_differs_between_processes(void **state)
{
        (void)state;
        long d[2][8];
        for (int k = 0; k < 2; k++) {
                int p[2];
                assert_int_equal(pipe(p), 0);
                pid_t pid = fork();
                assert_true(pid >= 0);
                if (pid == 0) {
                        close(p[0]);
                        child_delays(p[1]);
                }
                close(p[1]);
                assert_int_equal(read(p[0], d[k], sizeof d[k]), (ssize_t)sizeof d[k]);
                close(p[0]);
                int st;
                assert_int_equal(waitpid(pid, &st, 0), pid);
                assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        }
        assert_true(d[0][0] >= 2500 && d[0][0] <= 5000);
        assert_memory_not_equal(d[0], d[1], sizeof d[0]);
}

int main(void)
{
        curl_global_init(CURL_GLOBAL_DEFAULT);
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(status_forbidden),
            cmocka_unit_test(status_causes),
            cmocka_unit_test(status_plain_text),
            cmocka_unit_test(retry_after),
            cmocka_unit_test(lines_byte_by_byte),
            cmocka_unit_test(lines_random_splits),
            cmocka_unit_test(lines_cap_and_rest),
            cmocka_unit_test(watch_event_errors),
            cmocka_unit_test(timestamps),
            cmocka_unit_test(dedup_resume_everywhere),
            cmocka_unit_test(dedup_live_stream_keeps_repeats),
            cmocka_unit_test(dedup_settle_outlives_the_buffer),
            cmocka_unit_test(query_escape),
            cmocka_unit_test(no_token_over_http),
            cmocka_unit_test(userinfo_never_printed),
            cmocka_unit_test(jitter_differs_between_processes),
            cmocka_unit_test(backoff_bounds),
        };
        int rc = cmocka_run_group_tests(tests, NULL, NULL);
        curl_global_cleanup();
        return rc;
}
