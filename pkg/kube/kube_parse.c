/* kube: the pure parts (no I/O): Status bodies, Retry-After, line splitting,
 * watch events, log timestamps and the resume de-duplication. */
#include "kube.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

/* ---- Status ---------------------------------------------------------- */

static const char *jstr(struct json_object *o, const char *key)
{
        struct json_object *v;
        if (!o || !json_object_object_get_ex(o, key, &v) ||
            !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

static void first_line(const char *body, size_t len, char *out, size_t outsz)
{
        size_t i = 0, o = 0;
        while (i < len && isspace((unsigned char)body[i]))
                i++;
        for (; i < len && body[i] != '\n' && body[i] != '\r' && o + 1 < outsz; i++)
                out[o++] = (unsigned char)body[i] < 0x20 ? ' ' : body[i];
        while (o > 0 && out[o - 1] == ' ')
                o--;
        out[o] = '\0';
}

void kube_status_parse(long http, const char *body, size_t len, struct kube_status *st)
{
        memset(st, 0, sizeof *st);
        st->code = http;
        struct json_object *o = NULL;
        if (body && len) {
                struct json_tokener *tok = json_tokener_new();
                if (tok) {
                        o = json_tokener_parse_ex(tok, body,
                                                  (int)(len > INT32_MAX ? INT32_MAX : len));
                        json_tokener_free(tok);
                }
        }
        const char *kind = jstr(o, "kind");
        if (o && json_object_is_type(o, json_type_object) && kind && !strcmp(kind, "Status")) {
                struct json_object *v;
                if (json_object_object_get_ex(o, "code", &v) && json_object_get_int(v) > 0)
                        st->code = json_object_get_int(v);
                const char *r = jstr(o, "reason");
                snprintf(st->reason, sizeof st->reason, "%s", r ? r : "");
                const char *m = jstr(o, "message");
                size_t used = (size_t)snprintf(st->message, sizeof st->message, "%s", m ? m : "");
                struct json_object *det, *causes;
                if (json_object_object_get_ex(o, "details", &det) &&
                    json_object_object_get_ex(det, "causes", &causes) &&
                    json_object_is_type(causes, json_type_array)) {
                        size_t n = json_object_array_length(causes);
                        for (size_t i = 0; i < n && used < sizeof st->message; i++) {
                                struct json_object *c = json_object_array_get_idx(causes, i);
                                const char *f = jstr(c, "field"), *cm = jstr(c, "message");
                                if (!cm)
                                        continue;
                                /* The message usually lists the causes already. */
                                if (m && strstr(m, cm))
                                        continue;
                                used += (size_t)snprintf(
                                    st->message + used, sizeof st->message - used, "%s%s%s%s",
                                    used ? "; " : "", f ? f : "", f ? ": " : "", cm);
                        }
                }
                if (!st->message[0])
                        snprintf(st->message, sizeof st->message, "%s",
                                 st->reason[0] ? st->reason : "unknown error");
        } else if (body && len) {
                first_line(body, len, st->message, sizeof st->message);
        }
        if (!st->message[0])
                snprintf(st->message, sizeof st->message, "HTTP %ld", http);
        json_object_put(o);
}

int kube_http_code(long http)
{
        switch (http) {
        case 401:
        case 403: return ERR_NOPERM;
        case 400:
        case 404:
        case 405:
        case 409:
        case 422: return ERR_USAGE;
        default: return ERR_UNAVAILABLE;
        }
}

int kube_status_err(long http, const char *body, size_t len, const char *what, struct err *e)
{
        struct kube_status st;
        kube_status_parse(http, body, len, &st);
        const char *hint = "";
        if (http == 401)
                hint = " (the credentials were refused: check the kubeconfig user's token or "
                       "certificate)";
        /* A bare "HTTP 503" already says it; otherwise name the code once. */
        if (!strncmp(st.message, "HTTP ", 5))
                return err_set(e, kube_http_code(http), "%s: %s%s", what, st.message, hint);
        return err_set(e, kube_http_code(http), "%s: %s (HTTP %ld)%s", what, st.message, http,
                       hint);
}

int kube_retry_after_parse(const char *value, time_t now, long *ms)
{
        if (!value)
                return -1;
        while (isspace((unsigned char)*value))
                value++;
        size_t n = strlen(value);
        while (n && isspace((unsigned char)value[n - 1]))
                n--;
        if (!n || n > 64)
                return -1;
        char v[65];
        memcpy(v, value, n);
        v[n] = '\0';
        if (isdigit((unsigned char)v[0])) {
                char *end;
                errno = 0;
                unsigned long long s = strtoull(v, &end, 10);
                if (*end || errno)
                        return -1;
                if (s > 86400)
                        s = 86400;
                *ms = (long)s * 1000;
                return 0;
        }
        time_t t = curl_getdate(v, NULL);
        if (t == (time_t)-1)
                return -1;
        *ms = t > now ? (long)(t - now) * 1000 : 0;
        return 0;
}

/* ---- lines ----------------------------------------------------------- */

void kube_lines_init(struct kube_lines *l, size_t max)
{
        buf_init(&l->b, max);
        l->pos = 0;
}

void kube_lines_fini(struct kube_lines *l)
{
        buf_fini(&l->b);
        l->pos = 0;
}

void kube_lines_reset(struct kube_lines *l)
{
        buf_reset(&l->b);
        l->pos = 0;
}

size_t kube_lines_pending(const struct kube_lines *l)
{
        return l->b.len - l->pos;
}

int kube_lines_feed(struct kube_lines *l, const void *p, size_t n)
{
        /* Compact only here: pointers from kube_lines_next stay valid until now. */
        if (l->pos) {
                buf_consume(&l->b, l->pos);
                l->pos = 0;
        }
        return buf_append(&l->b, p, n);
}

bool kube_lines_has_line(const struct kube_lines *l)
{
        return l->b.len > l->pos && memchr(l->b.data + l->pos, '\n', l->b.len - l->pos);
}

bool kube_lines_next(struct kube_lines *l, const char **line, size_t *len)
{
        if (l->b.len <= l->pos)
                return false;
        char *start = l->b.data + l->pos;
        char *nl = memchr(start, '\n', l->b.len - l->pos);
        if (!nl)
                return false;
        size_t n = (size_t)(nl - start);
        l->pos += n + 1;
        if (n && start[n - 1] == '\r')
                n--;
        *line = start;
        *len = n;
        return true;
}

bool kube_lines_rest(struct kube_lines *l, const char **line, size_t *len)
{
        if (l->b.len <= l->pos)
                return false;
        *line = l->b.data + l->pos;
        *len = l->b.len - l->pos;
        l->pos = l->b.len;
        return true;
}

/* ---- watch events ---------------------------------------------------- */

int kube_watch_event_parse(const char *line, size_t len, enum kube_event_type *type,
                           struct json_object **obj, struct err *e)
{
        while (len && isspace((unsigned char)*line)) {
                line++;
                len--;
        }
        if (!len)
                return err_set(e, ERR_UNAVAILABLE, "watch: empty event");
        struct json_tokener *tok = json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH);
        if (!tok)
                return err_set(e, ERR_SOFTWARE, "watch: out of memory");
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        struct json_object *o = json_tokener_parse_ex(tok, line, (int)len);
        enum json_tokener_error jerr = json_tokener_get_error(tok);
        json_tokener_free(tok);
        if (!o || jerr != json_tokener_success) {
                json_object_put(o);
                return err_set(e, ERR_UNAVAILABLE, "watch: event is not JSON (%zu bytes)", len);
        }
        const char *t = jstr(o, "type");
        struct json_object *ob;
        if (!t || !json_object_object_get_ex(o, "object", &ob) ||
            !json_object_is_type(ob, json_type_object)) {
                json_object_put(o);
                return err_set(e, ERR_UNAVAILABLE, "watch: line is not an event");
        }
        enum kube_event_type ty;
        if (!strcmp(t, "ADDED"))
                ty = KUBE_EV_ADDED;
        else if (!strcmp(t, "MODIFIED"))
                ty = KUBE_EV_MODIFIED;
        else if (!strcmp(t, "DELETED"))
                ty = KUBE_EV_DELETED;
        else if (!strcmp(t, "BOOKMARK"))
                ty = KUBE_EV_BOOKMARK;
        else if (!strcmp(t, "ERROR"))
                ty = KUBE_EV_ERROR;
        else {
                err_set(e, ERR_UNAVAILABLE, "watch: unknown event type '%.32s'", t);
                json_object_put(o);
                return -1;
        }
        *obj = json_object_get(ob);
        *type = ty;
        json_object_put(o);
        return 0;
}

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

int kube_log_split(const char *line, size_t len, struct kube_ts *ts, const char **content,
                   size_t *clen)
{
        const char *sp = memchr(line, ' ', len < 64 ? len : 64);
        size_t tl = sp ? (size_t)(sp - line) : len;
        if (tl > 40 || kube_ts_parse(line, tl, ts) < 0)
                return -1;
        *content = sp ? sp + 1 : line + len;
        *clen = sp ? len - tl - 1 : 0;
        return 0;
}

static uint64_t fnv1a(const char *s, size_t n)
{
        uint64_t h = 14695981039346656037ULL;
        for (size_t i = 0; i < n; i++) {
                h ^= (unsigned char)s[i];
                h *= 1099511628211ULL;
        }
        /* Mix in the length so that the empty line and "" differ from nothing. */
        return h ^ (uint64_t)n;
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

void kube_log_dedup_resume(struct kube_log_dedup *d)
{
        d->replay = 0;
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

bool kube_log_dedup_accept(struct kube_log_dedup *d, const struct kube_ts *ts, const char *content,
                           size_t clen)
{
        uint64_t h = fnv1a(content, clen);
        if (!d->have) {
                d->have = true;
                d->last = *ts;
                d->n = 0;
                remember(d, h);
                return true;
        }
        bool replaying = d->replay < d->n;
        int c = kube_ts_cmp(ts, &d->last);
        if (c < 0) {
                /* Older than what was printed last: only a resumed stream
                 * (sinceTime floored to the second) sends those again. A live
                 * stream with a clock step backwards still prints. */
                if (replaying)
                        return false;
                remember(d, h);
                return true;
        }
        if (c == 0) {
                if (replaying && d->hashes[d->replay] == h) {
                        d->replay++;
                        return false;
                }
                remember(d, h);
                return true;
        }
        d->last = *ts;
        d->n = 0;
        remember(d, h);
        return true;
}
