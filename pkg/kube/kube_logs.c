/* kube: the pod log stream (follow, resume from the last timestamp), log
 * timestamps and the de-duplication of lines a resumed stream sends again. */
#include "kube_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- timestamps and de-duplication ------------------------------------ */

static int digits(const char *s, size_t n, int *out)
{
        int v = 0;
        for (size_t i = 0; i < n; i++) {
                if (!isdigit((unsigned char)s[i]))
                        return -1;
                v = v * 10 + (s[i] - '0');
        }
        *out = v;
        return 0;
}

/* Days since 1970-01-01 (Howard Hinnant's civil algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        int64_t yoe = y - era * 400;
        int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

int kube_ts_parse(const char *s, size_t n, struct kube_ts *out)
{
        int y, mo, d, h, mi, se;
        if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
            s[13] != ':' || s[16] != ':')
                return -1;
        if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
            digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &se))
                return -1;
        if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
                return -1;
        size_t i = 19;
        int32_t ns = 0;
        if (i < n && s[i] == '.') {
                i++;
                size_t nd = 0;
                int32_t scale = 100000000;
                while (i < n && isdigit((unsigned char)s[i])) {
                        if (nd < 9) {
                                ns += (s[i] - '0') * scale;
                                scale /= 10;
                        }
                        nd++;
                        i++;
                }
                if (!nd)
                        return -1;
        }
        int64_t off = 0;
        if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
                i++;
        } else if (i + 6 <= n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
                int oh, om;
                if (digits(s + i + 1, 2, &oh) || digits(s + i + 4, 2, &om))
                        return -1;
                off = (int64_t)(oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
                i += 6;
        } else {
                return -1;
        }
        if (i != n)
                return -1;
        out->sec = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off;
        out->nsec = ns;
        return 0;
}

int kube_ts_cmp(const struct kube_ts *a, const struct kube_ts *b)
{
        if (a->sec != b->sec)
                return a->sec < b->sec ? -1 : 1;
        if (a->nsec != b->nsec)
                return a->nsec < b->nsec ? -1 : 1;
        return 0;
}

/* The kubelet's timestamps of a followed log share their second for many
 * lines: the date and time are parsed once a second, only the fraction per
 * line. */
struct ts_cache {
        char prefix[19]; /* "YYYY-MM-DDTHH:MM:SS" of sec, all in UTC ('Z') */
        int64_t sec;
        bool valid;
};

static int ts_parse_cached(struct ts_cache *c, const char *s, size_t n, struct kube_ts *out)
{
        if (c->valid && n >= 20 && s[n - 1] == 'Z' && !memcmp(s, c->prefix, 19)) {
                int32_t ns = 0, scale = 100000000;
                size_t i = 19, nd = 0;
                if (s[i] == '.') {
                        for (i++; i < n - 1 && s[i] >= '0' && s[i] <= '9'; i++, nd++) {
                                if (nd < 9) {
                                        ns += (s[i] - '0') * scale;
                                        scale /= 10;
                                }
                        }
                        if (!nd)
                                return -1;
                }
                if (i != n - 1)
                        return kube_ts_parse(s, n, out);
                out->sec = c->sec;
                out->nsec = ns;
                return 0;
        }
        if (kube_ts_parse(s, n, out) < 0)
                return -1;
        c->valid = n >= 20 && s[n - 1] == 'Z';
        if (c->valid) {
                memcpy(c->prefix, s, 19);
                c->sec = out->sec;
        }
        return 0;
}

/* 8 ASCII digits at s as their value, or -1 when one of them is not a digit
 * (SWAR: all 8 at once, the first the most significant). */
static int64_t digits8(const char *s)
{
        uint64_t w;
        memcpy(&w, s, 8);
        const uint64_t lo = 0x0f0f0f0f0f0f0f0fULL, hi = 0xf0f0f0f0f0f0f0f0ULL;
        if ((w & hi) != 0x3030303030303030ULL ||
            ((w + 0x0606060606060606ULL) & hi) != 0x3030303030303030ULL)
                return -1;
        w &= lo;
        w = (w * 10 + (w >> 8)) & 0x00ff00ff00ff00ffULL;
        w = (w * 100 + (w >> 16)) & 0x0000ffff0000ffffULL;
        w = (w * 10000 + (w >> 32)) & 0xffffffffULL;
        return (int64_t)w;
}

static bool same19(const char *a, const char *b)
{
        uint64_t x0, x1, y0, y1;
        uint32_t x2, y2;
        memcpy(&x0, a, 8), memcpy(&y0, b, 8);
        memcpy(&x1, a + 8, 8), memcpy(&y1, b + 8, 8);
        memcpy(&x2, a + 15, 4), memcpy(&y2, b + 15, 4);
        return !((x0 ^ y0) | (x1 ^ y1) | (x2 ^ y2));
}

static int split_cached(struct ts_cache *c, const char *line, size_t len, struct kube_ts *ts,
                        const char **content, size_t *clen)
{
        /* The kubelet's usual form, "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ ", in the
         * second parsed last: the nanoseconds are all there is to read. */
        if (c->valid && len >= 31 && line[30] == ' ' && line[29] == 'Z' && line[19] == '.' &&
            same19(line, c->prefix)) {
                int64_t v = digits8(line + 20);
                if (v >= 0 && line[28] >= '0' && line[28] <= '9') {
                        ts->sec = c->sec;
                        ts->nsec = (int32_t)(v * 10 + (line[28] - '0'));
                        *content = line + 31;
                        *clen = len - 31;
                        return 0;
                }
        }
        const char *sp = memchr(line, ' ', len < 64 ? len : 64);
        size_t tl = sp ? (size_t)(sp - line) : len;
        if (tl > 40 || ts_parse_cached(c, line, tl, ts) < 0)
                return -1;
        *content = sp ? sp + 1 : line + len;
        *clen = sp ? len - tl - 1 : 0;
        return 0;
}

int kube_log_split(const char *line, size_t len, struct kube_ts *ts, const char **content,
                   size_t *clen)
{
        struct ts_cache none = {.valid = false};
        return split_cached(&none, line, len, ts, content, clen);
}

static uint64_t line_hash(const char *s, size_t n)
{
        const uint64_t k = 0x9e3779b97f4a7c15ULL;
        uint64_t h = (uint64_t)n * k;
        size_t i = 0;
        for (; i + 8 <= n; i += 8) {
                uint64_t w;
                memcpy(&w, s + i, 8);
                h = (h ^ w) * k;
                h ^= h >> 31;
        }
        uint64_t w = 0;
        memcpy(&w, s + i, n - i);
        h = (h ^ w ^ (uint64_t)(n - i) << 59) * k;
        h ^= h >> 29;
        h *= 0xbf58476d1ce4e5b9ULL;
        return h ^ (h >> 32);
}

void kube_log_dedup_init(struct kube_log_dedup *d)
{
        memset(d, 0, sizeof *d);
}

void kube_log_dedup_fini(struct kube_log_dedup *d)
{
        free(d->hashes);
        memset(d, 0, sizeof *d);
}

static void remember(struct kube_log_dedup *d, uint64_t h)
{
        if (d->n == d->alloc) {
                /* Bounded: past this many lines in one timestamp, forget the
                 * oldest comparison points rather than grow forever. */
                if (d->alloc >= 65536) {
                        memmove(d->hashes, d->hashes + 1, (d->n - 1) * sizeof *d->hashes);
                        d->n--;
                } else {
                        size_t na = d->alloc ? d->alloc * 2 : 16;
                        uint64_t *p = realloc(d->hashes, na * sizeof *p);
                        if (!p)
                                return;
                        d->hashes = p;
                        d->alloc = na;
                }
        }
        d->hashes[d->n++] = h;
        d->replay = d->n;
}

void kube_log_dedup_settle(struct kube_log_dedup *d)
{
        if (d->held) {
                remember(d, line_hash(d->held, d->held_len));
                d->held = NULL;
        }
}

void kube_log_dedup_resume(struct kube_log_dedup *d)
{
        kube_log_dedup_settle(d);
        d->replay = 0;
}

/* The line printed last is hashed only when that is needed: a next line at
 * its timestamp, a resume, or the end of what the caller holds. The kubelet
 * stamps lines to the nanosecond, so a line's successor usually starts a new
 * timestamp and the line is never hashed. */
static void hold(struct kube_log_dedup *d, const char *content, size_t clen)
{
        d->held = content;
        d->held_len = clen;
}

bool kube_log_dedup_accept(struct kube_log_dedup *d, const struct kube_ts *ts, const char *content,
                           size_t clen)
{
        int c = d->have ? kube_ts_cmp(ts, &d->last) : 1;
        if (c > 0) {
                /* a new timestamp: what was held at the old one is no longer
                 * a comparison point */
                d->have = true;
                d->last = *ts;
                d->n = d->replay = 0;
                hold(d, content, clen);
                return true;
        }
        kube_log_dedup_settle(d);
        bool replaying = d->replay < d->n;
        if (c < 0) {
                /* Older than what was printed last: only a resumed stream
                 * (sinceTime floored to the second) sends those again. A live
                 * stream with a clock step backwards still prints. */
                if (replaying)
                        return false;
                hold(d, content, clen);
                return true;
        }
        if (replaying) {
                uint64_t h = line_hash(content, clen);
                if (d->hashes[d->replay] == h) {
                        d->replay++;
                        return false;
                }
                remember(d, h);
                return true;
        }
        hold(d, content, clen);
        return true;
}

/* ---- logs ------------------------------------------------------------- */

struct kube_logs {
        struct kube_client *c;
        char *ns, *pod, *container;
        bool follow;
        kube_logs_cb cb;
        void *ud;
        enum stream_state state;
        struct kube_xfer *x;
        struct kube_log_dedup dedup;
        bool container_done;
        bool conn_after_done; /* the current connection began after the container ended */
        bool got_lines;       /* the current connection delivered something */
        int failures;
        int64_t fail_since; /* failing without progress since (ms), 0 if not */
        int attempts;
        int waits; /* answers "not started yet" in a row */
        int64_t next_ms;
        int reconnects;
        struct ts_cache tsc;
        struct err err;
};

static void logs_finish(struct kube_logs *l, const struct err *why)
{
        l->state = ST_DONE;
        if (why)
                l->err = *why;
        kube_log_dedup_settle(&l->dedup); /* its line is in the transfer's buffer */
        kube_xfer_free(l->x);
        l->x = NULL;
}

static void logs_start(struct kube_logs *l)
{
        struct buf p;
        buf_init(&p, 1u << 12);
        int rc = buf_puts(&p, "/api/v1/namespaces/");
        rc |= kube_query_escape(&p, l->ns);
        rc |= buf_puts(&p, "/pods/");
        rc |= kube_query_escape(&p, l->pod);
        rc |= buf_puts(&p, "/log?timestamps=true&container=");
        rc |= kube_query_escape(&p, l->container);
        if (l->follow)
                rc |= buf_puts(&p, "&follow=true");
        if (l->dedup.have) {
                /* sinceTime has second precision: start at the second of the last
                 * line and let the de-duplication skip what was printed. */
                time_t t = (time_t)l->dedup.last.sec;
                struct tm tm;
                char since[32];
                gmtime_r(&t, &tm);
                strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm);
                rc |= buf_puts(&p, "&sinceTime=");
                rc |= kube_query_escape(&p, since);
        }
        kube_log_dedup_resume(&l->dedup);
        struct err e;
        err_clear(&e);
        l->conn_after_done = l->container_done;
        l->got_lines = false;
        if (rc)
                err_set(&e, ERR_USAGE, "logs of pod '%s': the request URL is longer than %zu bytes",
                        l->pod, p.max);
        else
                l->x = kube_xfer_start(l->c, "GET", buf_str(&p), NULL, true, NULL, l, &e);
        buf_fini(&p);
        if (!l->x)
                logs_finish(l, &e);
        else
                l->state = ST_ACTIVE;
}

static void logs_retry(struct kube_logs *l, long delay)
{
        kube_log_dedup_settle(&l->dedup);
        kube_xfer_free(l->x);
        l->x = NULL;
        l->state = ST_DUE;
        l->next_ms = proc_mono_ms() + delay;
        l->reconnects++;
}

/* Returns -1 when the callback stopped the stream. */
static int logs_line(struct kube_logs *l, const char *line, size_t len)
{
        struct kube_ts ts;
        const char *content;
        size_t clen;
        l->got_lines = true;
        if (split_cached(&l->tsc, line, len, &ts, &content, &clen) < 0) {
                if (l->cb(l->ud, NULL, line, len))
                        goto stop;
                return 0;
        }
        if (!kube_log_dedup_accept(&l->dedup, &ts, content, clen))
                return 0;
        if (l->cb(l->ud, &ts, content, clen))
                goto stop;
        return 0;
stop:
        logs_finish(l, NULL);
        return -1;
}

/* 400 before the container runs ("is waiting to start: ContainerCreating",
 * "PodInitializing"); a wrong container name is the one 400 that stays. */
static bool waiting_to_start(const struct kube_xfer *x)
{
        return x->http == 400 && !strstr(buf_str(&x->resp), "not found in pod") &&
               !strstr(buf_str(&x->resp), "not valid for pod");
}

static void logs_tick(void *self, int64_t now)
{
        struct kube_logs *l = self;
        if (l->state == ST_DUE && now >= l->next_ms)
                logs_start(l);
        if (l->state != ST_ACTIVE)
                return;
        struct kube_xfer *x = l->x;
        const char *line;
        size_t len;
        while (kube_lines_next(&x->lines, &line, &len))
                if (logs_line(l, line, len) < 0)
                        return;
        /* the lines' storage is reused by the next read */
        kube_log_dedup_settle(&l->dedup);
        if (x->paused) {
                x->paused = false;
                curl_easy_pause(x->h, CURLPAUSE_CONT);
        }
        if (!x->done)
                return;
        if (x->http / 100 == 2) {
                bool clean = x->result == CURLE_OK;
                if (clean && (l->conn_after_done || !l->follow)) {
                        /* The whole log is in: a last line without '\n' too. */
                        if (kube_lines_rest(&x->lines, &line, &len) && logs_line(l, line, len) < 0)
                                return;
                        logs_finish(l, NULL);
                        return;
                }
                /* Cut, or ended while the container may still write: resume
                 * (a cut partial line comes again and is not printed now). */
                long delay;
                if (l->got_lines || l->container_done) {
                        l->failures = 0;
                        kube_progress_note(&l->fail_since, &l->attempts);
                        delay = l->container_done ? 0 : 50;
                } else {
                        delay = kube_backoff_ms(l->c, l->waits < 4 ? l->waits : 4);
                        l->waits++;
                }
                logs_retry(l, delay);
                return;
        }
        if (x->result == CURLE_OK && waiting_to_start(x) && l->follow && !l->conn_after_done) {
                logs_retry(l, kube_backoff_ms(l->c, l->waits < 4 ? l->waits : 4));
                l->waits++;
                return;
        }
        if (x->result == CURLE_OK && x->http == 401 && kube_refresh_auth(l->c)) {
                logs_retry(l, 0);
                return;
        }
        if (l->got_lines)
                kube_progress_note(&l->fail_since, &l->attempts);
        bool retryable = kube_xfer_retryable(x);
        if (retryable)
                kube_fail_note(&l->fail_since, &l->attempts);
        bool retry = retryable && !kube_stream_window_over(l->c, l->fail_since);
        if (!retry) {
                struct err e;
                char what[300];
                snprintf(what, sizeof what, "logs of pod '%s'", l->pod);
                kube_xfer_err(x, what, &e);
                if (retryable) {
                        e.code = ERR_UNAVAILABLE;
                        kube_err_gave_up(&e, l->attempts);
                }
                logs_finish(l, &e);
                return;
        }
        long delay =
            x->retry_after_ms >= 0 ? x->retry_after_ms : kube_backoff_ms(l->c, l->failures);
        l->failures++;
        logs_retry(l, delay);
}

static int64_t logs_next_due(const void *self)
{
        const struct kube_logs *l = self;
        return l->state == ST_DUE ? l->next_ms : INT64_MAX;
}

static const struct kube_stream_ops logs_ops = {logs_tick, logs_next_due};

int kube_logs_new(struct kube_client *c, const char *namespace_, const char *pod,
                  const char *container, bool follow, kube_logs_cb cb, void *ud,
                  struct kube_logs **out, struct err *e)
{
        struct kube_logs *l = calloc(1, sizeof *l);
        if (!l)
                return err_set(e, ERR_SOFTWARE, "out of memory");
        l->c = c;
        l->ns = strdup(namespace_);
        l->pod = strdup(pod);
        l->container = strdup(container ? container : "task");
        l->follow = follow;
        l->cb = cb;
        l->ud = ud;
        l->state = ST_DUE;
        kube_log_dedup_init(&l->dedup);
        err_clear(&l->err);
        if (!l->ns || !l->pod || !l->container) {
                kube_logs_free(l);
                return err_set(e, ERR_SOFTWARE, "out of memory");
        }
        kube_stream_register(c, &logs_ops, l);
        *out = l;
        return 0;
}

void kube_logs_free(struct kube_logs *l)
{
        if (!l)
                return;
        kube_stream_unregister(l->c, l);
        kube_xfer_free(l->x);
        kube_log_dedup_fini(&l->dedup);
        free(l->ns);
        free(l->pod);
        free(l->container);
        free(l);
}

void kube_logs_container_done(struct kube_logs *l)
{
        l->container_done = true;
}

bool kube_logs_done(const struct kube_logs *l, struct err *e)
{
        if (l->state != ST_DONE)
                return false;
        if (e)
                *e = l->err;
        return true;
}

int kube_logs_reconnects(const struct kube_logs *l)
{
        return l->reconnects;
}
