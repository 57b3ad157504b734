/* relrun: pod log lines for people ("HH:MM:SS.mmm level src msg k=v") or for
 * machines (-o json: always JSON lines).
 *
 * Each line is scanned once (codec_json_scan: no allocation, no locale) and
 * the output goes to one reused buffer that is written in large pieces
 * (render_flush). relrun-pod's events are read in every profile it writes:
 * json (ts, level, src, msg, node), gcp (time, severity, message,
 * logging.googleapis.com/labels), ecs (@timestamp, log.level, message,
 * log.logger, service.node.name) and datadog (timestamp, status, message,
 * logger.name). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "logline.h"
#include "relrun.h"

#define RENDER_FLUSH_AT (256u << 10)
#define MAX_MEMBERS     32

static struct buf pending = {NULL, 0, 0, 64u << 20}; /* what is not written yet */
static struct buf scratch = {NULL, 0, 0, 64u << 20}; /* unescaped values */

void render_flush(FILE *out)
{
        if (pending.len) {
                fwrite(pending.data, 1, pending.len, out);
                buf_reset(&pending);
                fflush(out);
        }
}

static bool key_is(const struct codec_json_member *m, const char *k, size_t n)
{
        return m->key_len == n && !m->key_escaped && !memcmp(m->key, k, n);
}
#define KEY_IS(m, lit) key_is(m, lit, sizeof(lit) - 1)

/* What a top-level key is, in any profile relrun-pod writes (logline's table);
 * a key written with escapes is no profile's. */
static enum logline_role role_of(const struct codec_json_member *m)
{
        return m->key_escaped ? LOGLINE_ROLE_OTHER : logline_key_role(m->key, m->key_len);
}

static const char *level_color_of(const char *level)
{
        if (!strcmp(level, "error") || !strcmp(level, "critical") || !strcmp(level, "alert") ||
            !strcmp(level, "emergency"))
                return "\033[31m";
        if (!strcmp(level, "warning"))
                return "\033[33m";
        if (!strcmp(level, "debug"))
                return "\033[2m";
        return "";
}

struct text {
        const char *p;
        size_t n;
        bool plain; /* known to be printable ASCII: nothing put_safe would
                     * change, no newline (a JSON string as it is has none) */
};

/* The line being rendered holds only printable ASCII: so does every string
 * of it that needs no unescaping (the usual event), and it is written as it
 * is without a look at each piece. */
static bool line_plain;

/* A string member's text: as it is, or unescaped into scratch. The pointer
 * stays valid until scratch is reset (once per line). */
static inline struct text text_of(const char *v, size_t n, bool escaped)
{
        struct text t = {v, n, line_plain};
        if (escaped) {
                size_t at = scratch.len;
                if (codec_json_unescape(&scratch, v, n) == 0) {
                        t.p = scratch.data + at;
                        t.n = scratch.len - at;
                        t.plain = false;
                }
        }
        return t;
}

static FILE *sink; /* render_line's out, for when pending cannot take more */

static __attribute__((noinline)) void put_grow(const char *s, size_t n)
{
        if (buf_append(&pending, s, n) == 0)
                return;
        /* out of memory: what is held, then this piece, straight out */
        if (sink) {
                fwrite(pending.data, 1, pending.len, sink);
                buf_reset(&pending);
                fwrite(s, 1, n, sink);
        }
}

/* The common case in line, in place: a line is a dozen small pieces, most of
 * a size known here. (pending is written with fwrite only: no NUL kept.) */
static inline __attribute__((always_inline)) void put(const char *s, size_t n)
{
        if (pending.data && n < pending.alloc - pending.len) {
                memcpy(pending.data + pending.len, s, n);
                pending.len += n;
                return;
        }
        put_grow(s, n);
}

/* Room for n bytes and 16 more at the end of pending, or NULL. */
static inline char *room16(size_t n)
{
        return pending.data && n + 16 < pending.alloc - pending.len ? pending.data + pending.len
                                                                    : NULL;
}

/* Text from the pod, for a terminal: its control sequences shown, never
 * obeyed (a pod must not retitle or clear the user's terminal). */
static void put_safe(const char *s, size_t n)
{
        /* the common case, plain text, in one piece */
        if (logline_plain_prefix(s, n) == n) {
                put(s, n);
                return;
        }
        size_t at = pending.len;
        if (logline_text_safe(&pending, s, n) == 0)
                return;
        /* out of memory: what is held goes out, then this piece once more
         * (what fits of it: each byte written whole or not at all) */
        pending.len = at;
        if (sink) {
                fwrite(pending.data, 1, pending.len, sink);
                buf_reset(&pending);
        }
        (void)logline_text_safe(&pending, s, n);
}

static inline __attribute__((always_inline)) void put_text(struct text t)
{
        if (t.plain) {
                if (t.n) /* no call for the colour codes' "" */
                        put(t.p, t.n);
        } else {
                put_safe(t.p, t.n);
        }
}

/* t dimmed, each of its lines on its own: a terminal that shows the next line
 * must not find the dim still on (a field value may hold a newline). */
#define TEXT(lit) ((struct text){lit, sizeof(lit) - 1, true})

static void put_dim(struct text dim, struct text reset, struct text t)
{
        if (t.plain) {
                if (t.n) {
                        put_text(dim);
                        put_text(t);
                        put_text(reset);
                }
                return;
        }
        const char *s = t.p;
        size_t n = t.n;
        for (;;) {
                const char *nl = memchr(s, '\n', n);
                size_t k = nl ? (size_t)(nl - s) : n;
                if (k) {
                        put_text(dim);
                        put_safe(s, k);
                        put_text(reset);
                }
                if (!nl)
                        return;
                put("\n", 1);
                s = nl + 1;
                n -= k + 1;
        }
}
#define PUTS(lit) put(lit, sizeof(lit) - 1)

/* Plain t padded to width (at most 16) at w, which has room for t.n + 16. */
static inline char *pad_plain(char *w, struct text t, size_t width)
{
        memset(w, ' ', 16);
        memcpy(w, t.p, t.n);
        return w + (t.n < width ? width : t.n);
}

static void put_padded(struct text t, size_t width)
{
        size_t n = t.n;
        char *w = room16(n);
        if (w && t.plain) {
                pending.len = (size_t)(pad_plain(w, t, width) - pending.data);
                return;
        }
        put_text(t);
        static const char spaces[] = "                ";
        if (n < width)
                put(spaces, width - n < sizeof spaces - 1 ? width - n : sizeof spaces - 1);
}

/* The 12 columns of a time: "2026-11-23T06:00:00.123456Z" -> "06:00:00.123",
 * padded; "--:--:--.---" for a text that is no time (false). *n gets how many
 * of ts's bytes, from its 12th, they show. */
static bool hms_of(struct text ts, size_t *n)
{
        if (ts.n < 19 || ts.p[10] != 'T')
                return false;
        size_t k = ts.n - 11 < 12 ? ts.n - 11 : 12;
        while (k && (ts.p[11 + k - 1] == 'Z' || ts.p[11 + k - 1] == '+'))
                k--;
        *n = k;
        return true;
}

/* Plain ts's 12 columns at w (room for 12). */
static inline char *hms_plain(char *w, struct text ts)
{
        size_t n;
        if (!hms_of(ts, &n)) {
                memcpy(w, "--:--:--.---", 12);
        } else {
                memcpy(w, ts.p + 11, n);
                memset(w + n, ' ', 12 - n);
        }
        return w + 12;
}

static void put_hms(struct text ts)
{
        char *w = room16(12);
        if (w && ts.plain) {
                pending.len = (size_t)(hms_plain(w, ts) - pending.data);
                return;
        }
        size_t n;
        if (!hms_of(ts, &n)) {
                PUTS("--:--:--.---");
                return;
        }
        put_text((struct text){ts.p + 11, n, ts.plain});
        if (n < 12)
                put("            ", 12 - n);
}

/* The kubelet's time of the line, as relrun-pod writes "ts". */
static void put_ts_json(const struct kube_ts *ts)
{
        struct kube_ts now;
        if (!ts) {
                struct timespec t;
                clock_gettime(CLOCK_REALTIME, &t);
                now.sec = t.tv_sec;
                now.nsec = (int32_t)t.tv_nsec;
                ts = &now;
        }
        time_t s = (time_t)ts->sec;
        struct tm tm;
        gmtime_r(&s, &tm);
        char b[40];
        int n = snprintf(b, sizeof b, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                         (int)(ts->nsec / 1000000));
        if (n > 0)
                put(b, (size_t)n);
}

/* A pod line that is not an event becomes one. The log API merges stdout
 * and stderr, so the stream is not known here: level info, src "pod". */
static void json_wrap(const struct kube_ts *ts, const char *line, size_t len)
{
        PUTS("{\"ts\":\"");
        put_ts_json(ts);
        PUTS("\",\"level\":\"info\",\"src\":\"pod\",\"msg\":\"");
        if (codec_json_escape(&pending, line, len) < 0)
                PUTS("(line too long)");
        PUTS("\"}\n");
}

static bool has_message(const struct codec_json_member *m, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (m[i].kind == CODEC_JSON_STRING && role_of(&m[i]) == LOGLINE_ROLE_MSG)
                        return true;
        return false;
}

static void render_json(const struct kube_ts *ts, const char *line, size_t len)
{
        struct codec_json_member m[MAX_MEMBERS];
        unsigned flags = 0;
        int n = len && line[0] == '{' ? codec_json_scan(line, len, m, MAX_MEMBERS, &flags) : -1;
        if (n < 0 || !has_message(m, (size_t)n < MAX_MEMBERS ? (size_t)n : MAX_MEMBERS)) {
                json_wrap(ts, line, len);
                return;
        }
        /* An event already: passed through as it is, "\/" written as "/". */
        if (flags & CODEC_JSON_SLASH)
                codec_json_unslash(&pending, line, len);
        else
                put(line, len);
        PUTS("\n");
}

/* " key=value", dimmed; a value's lines each closed on their own line. */
static void put_field(struct text dim, struct text reset, const struct codec_json_member *m)
{
        struct text k = text_of(m->key, m->key_len, m->key_escaped);
        struct text v = text_of(m->val, m->val_len, m->val_escaped);
        PUTS(" ");
        put_text(dim);
        put_text(k);
        PUTS("=");
        put_text(reset);
        put_dim(dim, reset, v);
}

/* The text of the member that has role r, "" when none has. */
static inline struct text role_text(const struct codec_json_member *m, const int *at,
                                    enum logline_role r)
{
        struct text none = {"", 0, true};
        return at[r] < 0 ? none : text_of(m[at[r]].val, m[at[r]].val_len, m[at[r]].val_escaped);
}

/* The common line, for a file or a pipe: no colour, every piece plain (no
 * escape, printable ASCII), no labels object, a level word known. Written with
 * one room check, piece by piece as the general path below lays them out
 * (the same helpers); false when the line is not such a one. fields: the
 * bytes of the metadata fields, " k=v" each. */
static bool people_plain(const struct codec_json_member *m, size_t nm,
                         const enum logline_role *roles, size_t fields, struct text ts,
                         const char *level, struct text src, struct text msg)
{
        size_t ln = strlen(level);
        size_t need =
            12 + 1 + (ln < 16 ? 16 : ln) + 1 + (src.n < 16 ? 16 : src.n) + 1 + msg.n + fields + 1;
        char *w = room16(need);
        if (!w)
                return false;
        w = hms_plain(w, ts);
        *w++ = ' ';
        w = pad_plain(w, (struct text){level, ln, true}, 7);
        *w++ = ' ';
        w = pad_plain(w, src, 6);
        *w++ = ' ';
        memcpy(w, msg.p, msg.n);
        w += msg.n;
        for (size_t i = 0; i < nm; i++) {
                if (roles[i] != LOGLINE_ROLE_OTHER || m[i].kind != CODEC_JSON_STRING)
                        continue;
                *w++ = ' ';
                memcpy(w, m[i].key, m[i].key_len);
                w += m[i].key_len;
                *w++ = '=';
                memcpy(w, m[i].val, m[i].val_len);
                w += m[i].val_len;
        }
        *w++ = '\n';
        pending.len = (size_t)(w - pending.data);
        return true;
}

static void render_people(const struct render *r, const char *line, size_t len)
{
        struct codec_json_member m[MAX_MEMBERS];
        unsigned flags = 0;
        int n = len && line[0] == '{' ? codec_json_scan(line, len, m, MAX_MEMBERS, &flags) : -1;
        size_t nm = n < 0 ? 0 : (size_t)n < MAX_MEMBERS ? (size_t)n : MAX_MEMBERS;
        int at[LOGLINE_ROLE_SKIP + 1];
        for (int i = 0; i <= LOGLINE_ROLE_SKIP; i++)
                at[i] = -1;
        enum logline_role roles[MAX_MEMBERS];
        size_t fields = 0;      /* " k=v" each, when written as they are */
        bool fields_raw = true; /* no field's key or value has an escape */
        for (size_t i = 0; i < nm; i++) {
                roles[i] = role_of(&m[i]);
                bool str = m[i].kind == CODEC_JSON_STRING;
                if ((str || roles[i] == LOGLINE_ROLE_LABELS) && at[roles[i]] < 0)
                        at[roles[i]] = (int)i;
                if (str && roles[i] == LOGLINE_ROLE_OTHER) {
                        fields += 2 + m[i].key_len + m[i].val_len;
                        fields_raw &= !m[i].key_escaped && !m[i].val_escaped;
                }
        }
        if (at[LOGLINE_ROLE_MSG] < 0) {
                put_safe(line, len);
                PUTS("\n");
                return;
        }
        buf_reset(&scratch);
        line_plain = !(flags & CODEC_JSON_HIGH);
        struct text msg = role_text(m, at, LOGLINE_ROLE_MSG);
        struct text ts = role_text(m, at, LOGLINE_ROLE_TS);
        struct text src = role_text(m, at, LOGLINE_ROLE_SRC);
        struct text lv = {"", 0, true};
        struct codec_json_member lab[8];
        int nl = -1;
        if (at[LOGLINE_ROLE_LABELS] >= 0 && m[at[LOGLINE_ROLE_LABELS]].kind == CODEC_JSON_OBJECT) {
                /* gcp: src and node ride in the labels */
                nl = codec_json_scan(m[at[LOGLINE_ROLE_LABELS]].val,
                                     m[at[LOGLINE_ROLE_LABELS]].val_len, lab, 8, NULL);
                for (int i = 0; i < nl && i < 8; i++)
                        if (lab[i].kind == CODEC_JSON_STRING && KEY_IS(&lab[i], "src") && !src.n)
                                src = text_of(lab[i].val, lab[i].val_len, lab[i].val_escaped);
        }
        const char *level = "info";
        if (at[LOGLINE_ROLE_LEVEL] >= 0) {
                enum logline_level l;
                if (logline_level_word(m[at[LOGLINE_ROLE_LEVEL]].val,
                                       m[at[LOGLINE_ROLE_LEVEL]].val_len, &l) == 0) {
                        level = logline_level_name(l);
                } else {
                        lv = role_text(m, at, LOGLINE_ROLE_LEVEL);
                        level = NULL;
                }
        }
        if (!r->color && line_plain && level && nl < 0 && fields_raw && msg.plain && ts.plain &&
            src.plain && people_plain(m, nm, roles, fields, ts, level, src, msg))
                return;
        struct text col = {"", 0, true};
        if (r->color && level) {
                col.p = level_color_of(level);
                col.n = strlen(col.p);
        }
        struct text dim = r->color ? TEXT("\033[2m") : TEXT("");
        struct text reset = r->color ? TEXT("\033[0m") : TEXT("");
        put_text(dim);
        put_hms(ts);
        put_text(reset);
        PUTS(" ");
        put_text(col);
        if (level)
                put_padded((struct text){level, strlen(level), true}, 7);
        else
                put_padded(lv, 7);
        if (col.n)
                put_text(reset);
        PUTS(" ");
        put_text(dim);
        put_padded(src, 6);
        put_text(reset);
        PUTS(" ");
        /* The first line of a multi-line message (stack trace, report)
         * carries the header and the metadata; the rest follows as is. */
        const char *nlp = msg.plain ? NULL : memchr(msg.p, '\n', msg.n);
        size_t first = nlp ? (size_t)(nlp - msg.p) : msg.n;
        put_text((struct text){msg.p, first, msg.plain});
        for (size_t i = 0; i < nm; i++) {
                if (roles[i] != LOGLINE_ROLE_OTHER || m[i].kind != CODEC_JSON_STRING)
                        continue;
                put_field(dim, reset, &m[i]);
        }
        for (int i = 0; i < nl && i < 8; i++) {
                if (lab[i].kind != CODEC_JSON_STRING || KEY_IS(&lab[i], "src") ||
                    KEY_IS(&lab[i], "node"))
                        continue;
                put_field(dim, reset, &lab[i]);
        }
        if (nlp)
                put_text((struct text){nlp, msg.n - first, msg.plain});
        PUTS("\n");
}

void render_line(const struct render *r, const struct kube_ts *ts, const char *line, size_t len,
                 FILE *out)
{
        sink = out;
        if (r->json)
                render_json(ts, line, len);
        else
                render_people(r, line, len);
        if (pending.len >= RENDER_FLUSH_AT) {
                fwrite(pending.data, 1, pending.len, out);
                buf_reset(&pending);
        }
}
