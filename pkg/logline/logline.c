#include "logline.h"

#include "codec.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

static const char *const level_names[] = {
    "debug", "info", "notice", "warning", "error", "critical", "alert", "emergency",
};

const char *logline_level_name(enum logline_level l)
{
        return (unsigned)l < 8 ? level_names[l] : "info";
}

/* s[0..n) is the lowercase word w, in any case (w is letters only). */
static inline bool word_is(const char *s, const char *w, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (((unsigned char)s[i] | 0x20) != (unsigned char)w[i])
                        return false;
        return true;
}

/* The level s[0..n) names, or -1. */
static int level_word(const char *s, size_t n)
{
        /* by length first: one comparison per line on the hot path */
        enum logline_level l;
        switch (n) {
        case 3:
                if (!word_is(s, "err", 3))
                        return -1;
                l = LOGLINE_ERROR;
                break;
        case 4:
                if (word_is(s, "info", 4))
                        l = LOGLINE_INFO;
                else if (word_is(s, "warn", 4))
                        l = LOGLINE_WARNING;
                else
                        return -1;
                break;
        case 5:
                if (word_is(s, "debug", 5))
                        l = LOGLINE_DEBUG;
                else if (word_is(s, "error", 5))
                        l = LOGLINE_ERROR;
                else if (word_is(s, "alert", 5))
                        l = LOGLINE_ALERT;
                else
                        return -1;
                break;
        case 6:
                if (!word_is(s, "notice", 6))
                        return -1;
                l = LOGLINE_NOTICE;
                break;
        case 7:
                if (!word_is(s, "warning", 7))
                        return -1;
                l = LOGLINE_WARNING;
                break;
        case 8:
                if (!word_is(s, "critical", 8))
                        return -1;
                l = LOGLINE_CRITICAL;
                break;
        case 9:
                if (!word_is(s, "emergency", 9))
                        return -1;
                l = LOGLINE_EMERGENCY;
                break;
        default: return -1;
        }
        return (int)l;
}

int logline_level_parse(const char *s, size_t n, enum logline_level *out)
{
        int l = level_word(s, n);
        if (l < 0)
                return -1;
        *out = (enum logline_level)l;
        return 0;
}

const char *logline_src_name(enum logline_src s)
{
        switch (s) {
        case LOGLINE_SRC_APP: return "app";
        case LOGLINE_SRC_RPC: return "rpc";
        case LOGLINE_SRC_RELRUN: return "relrun";
        }
        return "app";
}

static const char *const out_names[] = {
    [LOGLINE_OUT_JSON] = "json", [LOGLINE_OUT_LOGFMT] = "logfmt", [LOGLINE_OUT_TEXT] = "text",
    [LOGLINE_OUT_GCP] = "gcp",   [LOGLINE_OUT_ECS] = "ecs",       [LOGLINE_OUT_DATADOG] = "datadog",
};

int logline_out_parse(const char *s, enum logline_out *out, struct err *e)
{
        for (size_t i = 0; i < sizeof out_names / sizeof out_names[0]; i++) {
                if (strcmp(s, out_names[i]) == 0) {
                        *out = (enum logline_out)i;
                        return 0;
                }
        }
        return err_set(e, ERR_USAGE, "--log-format \"%s\": expected " LOGLINE_OUT_NAMES, s);
}

const char *logline_out_name(enum logline_out f)
{
        return (unsigned)f < sizeof out_names / sizeof out_names[0] ? out_names[f] : "json";
}

void logline_format_ts(int64_t unix_ms, char *ts)
{
        time_t secs = (time_t)(unix_ms / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        size_t n = strftime(ts, LOGLINE_TS_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(ts + n, LOGLINE_TS_MAX - n, ".%03dZ", (int)(unix_ms % 1000));
}

/* ---- the app's console format ---- */

enum tok_kind {
        TOK_LIT,
        TOK_DATE,
        TOK_TIME,
        TOK_LEVEL,
        TOK_LEVELPAD,
        TOK_META,
        TOK_MSG,
        TOK_NODE,
        TOK_ERLTIME, /* Erlang logger_formatter's RFC 3339 time, with its offset */
        TOK_METAKEY, /* one metadata value, of the key in lit (a logger template's key) */
};

struct tok {
        enum tok_kind kind;
        const char *lit; /* TOK_LIT, TOK_METAKEY: points into logline_format.text */
        size_t lit_len;
        /* what follows, known when the format is compiled, not per line */
        const struct tok *next_lit; /* the next token when it is a literal, else NULL */
        bool next_ph;               /* a placeholder follows directly */
        uint64_t lit8, mask8;       /* TOK_LIT of at most 8 bytes: them as one load sees them */
};

#define MAX_TOKS 32

#define FIX_MAX 64

struct logline_format {
        char *text;
        struct tok toks[MAX_TOKS];
        size_t ntoks;
        bool has_date;
        bool local;         /* the app logs local time: convert to UTC */
        char cache_key[14]; /* "YYYY-MM-DDTHH" whose UTC offset is cache_off */
        long cache_off;
        /* The format's fixed-width start ($date, $time and literals, such as
         * "$date $time [" = 25 bytes) as a template checked 8 bytes a load:
         * per word its offset, which bytes are digits, the exact others. */
        size_t fix_toks; /* tokens it covers; 0 = no template */
        size_t fix_len;
        size_t fix_words;
        size_t fix_off[FIX_MAX / 8 + 1];
        uint64_t fix_dm[FIX_MAX / 8 + 1], fix_lit[FIX_MAX / 8 + 1];
        /* per word, what digits_and derives from them, made once: the word v
         * fits when (v & and) == want and ((v + add) & high) == three */
        struct {
                uint64_t and, want, add, high, three;
        } fix_chk[FIX_MAX / 8 + 1];
        long date_off, time_off; /* where $date, $time sit in it, or -1 */
        /* After the template the common rest "$level" LIT "$metadata" LIT
         * "$message" (literals of 1..8 bytes, the message last, a time in
         * the template): matched by one straight path, no token loop. */
        bool level_meta_msg;
};

void logline_format_set_local(struct logline_format *f, bool local)
{
        f->local = local;
        f->cache_key[0] = '\0';
}

/* The UTC offset (seconds east) in force at the local time "YYYY-MM-DDTHH...",
 * cached per hour (the format is the one mutable cache of a match). */
static long local_offset(struct logline_format *f, const char *ts)
{
        if (memcmp(f->cache_key, ts, 13) == 0)
                return f->cache_off;
        struct tm tm = {0};
        tm.tm_year = atoi(ts) - 1900;
        tm.tm_mon = atoi(ts + 5) - 1;
        tm.tm_mday = atoi(ts + 8);
        tm.tm_hour = atoi(ts + 11);
        tm.tm_isdst = -1;
        struct tm fields = tm;
        time_t t = mktime(&tm);
        f->cache_off = (long)(timegm(&fields) - t);
        memcpy(f->cache_key, ts, 13);
        f->cache_key[13] = '\0';
        return f->cache_off;
}

/* ts holds a local "YYYY-MM-DDTHH:MM:SS.mmm": rewrite it as UTC. */
static __attribute__((noinline)) void local_to_utc(struct logline_format *f, char *ts)
{
        long off = local_offset(f, ts);
        struct tm tm = {0};
        tm.tm_year = atoi(ts) - 1900;
        tm.tm_mon = atoi(ts + 5) - 1;
        tm.tm_mday = atoi(ts + 8);
        tm.tm_hour = atoi(ts + 11);
        tm.tm_min = atoi(ts + 14);
        tm.tm_sec = atoi(ts + 17);
        int ms = atoi(ts + 20);
        int64_t secs = (int64_t)timegm(&tm) - off;
        logline_format_ts(secs * 1000 + ms, ts);
}

static const struct {
        const char *name;
        enum tok_kind kind;
} placeholders[] = {
    /* longest first: "$levelpad" before "$level" */
    {"levelpad", TOK_LEVELPAD}, {"level", TOK_LEVEL},     {"date", TOK_DATE},
    {"time", TOK_TIME},         {"metadata", TOK_META},   {"message", TOK_MSG},
    {"node", TOK_NODE},         {"erltime", TOK_ERLTIME}, {"meta:", TOK_METAKEY},
};

#define ONES8  0x0101010101010101ull
#define HIGHS8 0x8080808080808080ull

/* The template of the format's fixed-width start (see struct logline_format). */
static void compile_fixed(struct logline_format *f)
{
        char ch[FIX_MAX]; /* the exact byte, or 0 for a digit */
        size_t len = 0, i;
        f->date_off = f->time_off = -1;
        for (i = 0; i < f->ntoks; i++) {
                const struct tok *t = &f->toks[i];
                const char *shape = t->kind == TOK_DATE   ? "0000-00-00"
                                    : t->kind == TOK_TIME ? "00:00:00.000"
                                    : t->kind == TOK_LIT  ? t->lit
                                                          : NULL;
                size_t n = t->kind == TOK_LIT ? t->lit_len : shape ? strlen(shape) : 0;
                if (!shape || len + n > FIX_MAX)
                        break;
                if (t->kind == TOK_DATE)
                        f->date_off = (long)len;
                if (t->kind == TOK_TIME)
                        f->time_off = (long)len;
                for (size_t k = 0; k < n; k++)
                        ch[len + k] = t->kind == TOK_LIT ? t->lit[k]
                                      : shape[k] == '0'  ? 0
                                                         : shape[k];
                len += n;
        }
        if (len < 8 || (f->date_off < 0 && f->time_off < 0)) {
                f->fix_toks = 0; /* too short to load, or nothing to gain */
                return;
        }
        f->fix_toks = i;
        f->fix_len = len;
        f->fix_words = 0;
        for (size_t off = 0;; off += 8) {
                if (off + 8 > len)
                        off = len - 8; /* the last word overlaps the one before */
                size_t w = f->fix_words++;
                f->fix_off[w] = off;
                f->fix_dm[w] = f->fix_lit[w] = 0;
                for (size_t k = 0; k < 8; k++) {
                        unsigned char c = (unsigned char)ch[off + k];
                        if (c == 0)
                                f->fix_dm[w] |= (uint64_t)0xff << (8 * k);
                        else
                                f->fix_lit[w] |= (uint64_t)c << (8 * k);
                }
                uint64_t dm = f->fix_dm[w], hi = (ONES8 * 0xf0) & dm;
                f->fix_chk[w].and = hi | ~dm;
                f->fix_chk[w].want = ((ONES8 * 0x30) & dm) | f->fix_lit[w];
                f->fix_chk[w].add = (ONES8 * 0x06) & dm;
                f->fix_chk[w].high = hi;
                f->fix_chk[w].three = (ONES8 * 0x30) & dm;
                if (off + 8 >= len)
                        break;
        }
        const struct tok *t = f->toks + f->fix_toks;
        f->level_meta_msg = f->time_off >= 0 && f->ntoks == f->fix_toks + 5 &&
                            t[0].kind == TOK_LEVEL && t[1].kind == TOK_LIT && t[1].mask8 &&
                            t[2].kind == TOK_META && t[3].kind == TOK_LIT && t[3].mask8 &&
                            t[4].kind == TOK_MSG;
}

int logline_format_new(const char *fmt, struct logline_format **out, struct err *e)
{
        if (!fmt)
                fmt = "\n$time $metadata[$level] $message\n";
        struct logline_format *f = calloc(1, sizeof *f);
        if (!f || !(f->text = strdup(fmt))) {
                free(f);
                return err_set(e, ERR_SOFTWARE, "out of memory");
        }
        /* Newlines around the format only separate events; lines are matched one by one. */
        char *p = f->text;
        while (*p == '\n')
                p++;
        size_t len = strlen(p);
        while (len > 0 && p[len - 1] == '\n')
                p[--len] = '\0';
        bool has_msg = false;
        while (*p) {
                if (f->ntoks == MAX_TOKS)
                        goto toolong;
                struct tok *t = &f->toks[f->ntoks];
                if (*p == '$') {
                        size_t i, n = 0;
                        for (i = 0; i < sizeof placeholders / sizeof placeholders[0]; i++) {
                                n = strlen(placeholders[i].name);
                                if (strncmp(p + 1, placeholders[i].name, n) == 0)
                                        break;
                        }
                        if (i == sizeof placeholders / sizeof placeholders[0]) {
                                err_set(e, ERR_USAGE, "--app-format: unknown placeholder \"%.20s\"",
                                        p);
                                logline_format_free(f);
                                return -1;
                        }
                        t->kind = placeholders[i].kind;
                        has_msg |= t->kind == TOK_MSG;
                        f->has_date |= t->kind == TOK_DATE || t->kind == TOK_ERLTIME;
                        p += 1 + n;
                        if (t->kind == TOK_METAKEY) {
                                /* $meta:KEY, KEY an Erlang atom's letters */
                                t->lit = p;
                                while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                                       (*p >= '0' && *p <= '9') || *p == '_')
                                        p++;
                                t->lit_len = (size_t)(p - t->lit);
                                if (t->lit_len == 0) {
                                        err_set(e, ERR_USAGE, "--app-format: $meta: needs a key");
                                        logline_format_free(f);
                                        return -1;
                                }
                        }
                } else {
                        char *q = strchr(p, '$');
                        size_t n = q ? (size_t)(q - p) : strlen(p);
                        t->kind = TOK_LIT;
                        t->lit = p;
                        t->lit_len = n;
                        p += n;
                }
                f->ntoks++;
        }
        if (!has_msg) {
                logline_format_free(f);
                return err_set(e, ERR_USAGE, "--app-format \"%s\": has no $message", fmt);
        }
        for (size_t i = 0; i + 1 < f->ntoks; i++) {
                f->toks[i].next_lit = f->toks[i + 1].kind == TOK_LIT ? &f->toks[i + 1] : NULL;
                f->toks[i].next_ph = f->toks[i + 1].kind != TOK_LIT;
        }
        for (size_t i = 0; i < f->ntoks; i++) {
                struct tok *t = &f->toks[i];
                if (t->kind != TOK_LIT || t->lit_len > 8)
                        continue;
                /* byte k of the literal in bits 8k.. (load8's order) */
                for (size_t k = 0; k < t->lit_len; k++) {
                        t->lit8 |= (uint64_t)(unsigned char)t->lit[k] << (8 * k);
                        t->mask8 |= (uint64_t)0xff << (8 * k);
                }
        }
        compile_fixed(f);
        *out = f;
        return 0;
toolong:
        logline_format_free(f);
        return err_set(e, ERR_USAGE, "--app-format: too many parts (at most %d)", MAX_TOKS);
}

void logline_format_free(struct logline_format *f)
{
        if (!f)
                return;
        free(f->text);
        free(f);
}

static inline bool digits(const char *p, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)(p[i] - '0') > 9)
                        return false;
        return true;
}

static inline uint64_t load8(const char *p)
{
        uint64_t v;
        memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        v = __builtin_bswap64(v);
#endif
        return v;
}

/* The lowest byte of v that is zero, as a bit 7 of it; 0 when none. (Bits
 * above the first zero byte may be false, the lowest one never is.) */
static inline uint64_t zero_byte(uint64_t v)
{
        return (v - ONES8) & ~v & HIGHS8;
}

/* line[pos..) starts with t's literal: one masked load when 8 bytes are
 * there to read, else byte by byte. */
static inline bool lit_at(const char *line, size_t pos, size_t n, const struct tok *t)
{
        if (n - pos >= 8 && t->mask8)
                return (load8(line + pos) & t->mask8) == t->lit8;
        if (n - pos < t->lit_len)
                return false;
        for (size_t i = 0; i < t->lit_len; i++)
                if (line[pos + i] != t->lit[i])
                        return false;
        return true;
}

/* Find lit in line[pos..n); returns its offset or -1. Its first byte is
 * looked for 8 bytes at a time. */
static inline __attribute__((always_inline)) long find_lit(const char *line, size_t pos, size_t n,
                                                           const struct tok *t)
{
        if (t->lit_len == 0)
                return (long)pos;
        if (n < t->lit_len)
                return -1;
        const uint64_t c0 = ONES8 * (unsigned char)t->lit[0];
        size_t last = n - t->lit_len;
        while (pos + 8 <= n) {
                uint64_t z = zero_byte(load8(line + pos) ^ c0);
                if (!z) {
                        pos += 8;
                        continue;
                }
                pos += (size_t)__builtin_ctzll(z) / 8;
                if (pos > last)
                        return -1;
                if (lit_at(line, pos, n, t))
                        return (long)pos;
                pos++;
        }
        for (; pos <= last; pos++)
                if (line[pos] == t->lit[0] && lit_at(line, pos, n, t))
                        return (long)pos;
        return -1;
}

/* The first byte of p[i..n) that is a or b (n when none), 8 bytes a step. */
static inline size_t find2(const char *p, size_t i, size_t n, char a, char b)
{
        const uint64_t ma = ONES8 * (unsigned char)a, mb = ONES8 * (unsigned char)b;
        while (i + 8 <= n) {
                uint64_t v = load8(p + i), z = zero_byte(v ^ ma) | zero_byte(v ^ mb);
                if (z)
                        return i + (size_t)__builtin_ctzll(z) / 8;
                i += 8;
        }
        while (i < n && p[i] != a && p[i] != b)
                i++;
        return i;
}

static void parse_metadata(const char *p, size_t n, struct logline_event *ev)
{
        /* words split at spaces; "k=v" starts a field, a word without '='
         * (a value with a space in it) extends the last one */
        size_t i = 0;
        while (i < n && ev->nfields < LOGLINE_MAX_FIELDS) {
                while (i < n && p[i] == ' ')
                        i++;
                if (i >= n)
                        break;
                size_t start = i, eq = find2(p, i, n, '=', ' ');
                i = eq < n && p[eq] == '=' ? find2(p, eq + 1, n, ' ', ' ') : eq;
                if (eq >= i || eq == start) {
                        /* no '=' in the word, or no key: glue to the previous field */
                        if (ev->nfields > 0 && i > start) {
                                struct logline_field *f = &ev->fields[ev->nfields - 1];
                                f->val_len = (size_t)(p + i - f->val);
                        }
                        continue;
                }
                struct logline_field *f = &ev->fields[ev->nfields++];
                f->key = p + start;
                f->key_len = eq - start;
                f->val = p + eq + 1;
                f->val_len = i - eq - 1;
                f->raw_json = false;
        }
}

#ifdef __SSE2__
/* parse_metadata's commonest case, metadata of one k=v word (m <= 16 bytes, 16
 * readable at p): the word's '=' and the spaces found by one compare each;
 * taken only when nothing but spaces follows the word. False: not that case,
 * nothing written. */
static inline bool meta_one_field(const char *p, size_t m, struct logline_event *ev)
{
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        unsigned in = m == 16 ? 0xffffu : (1u << m) - 1;
        unsigned eq = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('='))) & in;
        unsigned sp = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(' '))) & in;
        unsigned end = sp ? (unsigned)__builtin_ctz(sp) : (unsigned)m;
        /* the spaces are exactly [end, m), the first '=' inside the word, past its start */
        if (!eq || sp != (in & ~((1u << end) - 1)))
                return false;
        unsigned e = (unsigned)__builtin_ctz(eq);
        if (e == 0 || e >= end)
                return false;
        struct logline_field *f = &ev->fields[0];
        f->key = p;
        f->key_len = e;
        f->val = p + e + 1;
        f->val_len = end - e - 1;
        f->raw_json = false;
        ev->nfields = 1;
        return true;
}
#endif

/* The bytes of v at the positions of dmask (0xff each) are ASCII digits and
 * the others equal those of lit (little-endian loads). */
static inline bool digits_and(uint64_t v, uint64_t dmask, uint64_t lit)
{
        uint64_t hi = (ONES8 * 0xf0) & dmask, three = (ONES8 * 0x30) & dmask;
        /* 0x30-0x3f, then still 0x3X after adding 6: 0x30-0x39 (no carry
         * leaves a byte that passed the first test) */
        return (v & hi) == three && ((v + ((ONES8 * 0x06) & dmask)) & hi) == three &&
               (v & ~dmask) == lit;
}

/* "YYYY-MM-DD" (10 bytes readable): two overlapping loads */
static inline bool is_date(const char *p)
{
        /* bytes 0-7: d d d d - d d - ; bytes 2-9: d d - d d - d d */
        return digits_and(load8(p), 0x00ffff00ffffffffull, 0x2d00002d00000000ull) &&
               digits_and(load8(p + 2), 0xffff00ffff00ffffull, 0x00002d00002d0000ull);
}

/* "HH:MM:SS.mmm" (12 bytes readable) */
static inline bool is_time(const char *p)
{
        /* bytes 0-7: d d : d d : d d ; bytes 4-11: d : d d . d d d */
        return digits_and(load8(p), 0xffff00ffff00ffffull, 0x00003a00003a0000ull) &&
               digits_and(load8(p + 4), 0xffffff00ffff00ffull, 0x0000002e00003a00ull);
}

static inline bool is_letter(char c)
{
        return (unsigned char)(((unsigned char)c | 0x20) - 'a') < 26;
}

/* How many of the 8 bytes of v, from the first, are ASCII letters (SWAR:
 * after folding case, 'a' <= x <= 'z' as two carries into bit 7). */
static inline size_t letters8(uint64_t v)
{
        uint64_t y = (v | (ONES8 * 0x20)) & (ONES8 * 0x7f);
        uint64_t ok = (y + ONES8 * (0x80 - 'a')) & ~(y + ONES8 * (0x80 - 'z' - 1)) & ~v & HIGHS8;
        uint64_t bad = ~ok & HIGHS8;
        return bad ? (size_t)__builtin_ctzll(bad) / 8 : 8;
}

#define W8(w, i) ((uint64_t)(unsigned char)(w)[i] << (8 * (i)))
#define W3(w)    (W8(w, 0) | W8(w, 1) | W8(w, 2))
#define W4(w)    (W3(w) | W8(w, 3))
#define W5(w)    (W4(w) | W8(w, 4))
#define W6(w)    (W5(w) | W8(w, 5))
#define W7(w)    (W6(w) | W8(w, 6))
#define W8W(w)   (W7(w) | W8(w, 7))

/* The level the word at p names (letters, len bytes, 8 bytes readable), or
 * -1: one load, case folded, compared whole. */
static inline int level_at(const char *p, size_t len)
{
        uint64_t v = load8(p) | (ONES8 * 0x20);
        if (len < 8)
                v &= ((uint64_t)1 << (8 * len)) - 1;
        enum logline_level l;
        switch (len) {
        case 3:
                if (v != W3("err"))
                        return -1;
                l = LOGLINE_ERROR;
                break;
        case 4:
                if (v == W4("info"))
                        l = LOGLINE_INFO;
                else if (v == W4("warn"))
                        l = LOGLINE_WARNING;
                else
                        return -1;
                break;
        case 5:
                if (v == W5("debug"))
                        l = LOGLINE_DEBUG;
                else if (v == W5("error"))
                        l = LOGLINE_ERROR;
                else if (v == W5("alert"))
                        l = LOGLINE_ALERT;
                else
                        return -1;
                break;
        case 6:
                if (v != W6("notice"))
                        return -1;
                l = LOGLINE_NOTICE;
                break;
        case 7:
                if (v != W7("warning"))
                        return -1;
                l = LOGLINE_WARNING;
                break;
        case 8:
                if (v != W8W("critical"))
                        return -1;
                l = LOGLINE_CRITICAL;
                break;
        default: return level_word(p, len);
        }
        return (int)l;
}

/* The level word at line[*pos..n): its level, or -1; *pos moves past it. */
static inline __attribute__((always_inline)) int level_scan(const char *line, size_t *pos, size_t n)
{
        size_t s = *pos, e = s;
        int lv;
        if (n - s >= 8) {
                size_t k = letters8(load8(line + s));
                e += k;
                if (k == 8)
                        while (e < n && is_letter(line[e]))
                                e++;
                lv = k < 8 ? level_at(line + s, k) : level_word(line + s, e - s);
        } else {
                while (e < n && is_letter(line[e]))
                        e++;
                lv = level_word(line + s, e - s);
        }
        *pos = e;
        return lv;
}

/* logline_format_ts kept out of the matcher (its locals would cost a stack
 * canary on every line). */
static __attribute__((noinline)) void format_ts_cold(int64_t unix_ms, char *ts)
{
        logline_format_ts(unix_ms, ts);
}

/* The date of now_ms ("YYYY-MM-DD", local when the app logs local time) into
 * ts[0..10). Out of line: the matcher then holds no local array, so no stack
 * canary is set up on every line. */
static __attribute__((noinline)) void today(const struct logline_format *f, int64_t now_ms,
                                            char *ts)
{
        char d[LOGLINE_TS_MAX];
        if (f->local) {
                time_t secs = (time_t)(now_ms / 1000);
                struct tm tm;
                localtime_r(&secs, &tm);
                strftime(d, sizeof d, "%Y-%m-%d", &tm);
        } else {
                logline_format_ts(now_ms, d);
        }
        memcpy(ts, d, 10);
}

/* logger_formatter's time (calendar:system_time_to_rfc3339):
 * "YYYY-MM-DDTHH:MM:SS[.fraction][Z|+HH:MM|-HH:MM]", the separator 'T' or ' '.
 * Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" into ts, converted to UTC by the offset
 * when there is one (*offset true), else as written. Returns the length
 * used, 0 when p does not start with such a time. */
static size_t erltime(const char *p, size_t n, char *ts, bool *offset)
{
        if (n < 19 || !digits(p, 4) || p[4] != '-' || !digits(p + 5, 2) || p[7] != '-' ||
            !digits(p + 8, 2) || (p[10] != 'T' && p[10] != ' ') || !digits(p + 11, 2) ||
            p[13] != ':' || !digits(p + 14, 2) || p[16] != ':' || !digits(p + 17, 2))
                return 0;
        size_t i = 19;
        int ms = 0, scale = 100;
        if (i < n && p[i] == '.') {
                i++;
                size_t d0 = i;
                while (i < n && p[i] >= '0' && p[i] <= '9') {
                        ms += scale * (p[i] - '0');
                        scale /= 10;
                        i++;
                }
                if (i == d0)
                        return 0;
        }
        long off = 0;
        *offset = false;
        if (i < n && (p[i] == 'Z' || p[i] == 'z')) {
                *offset = true;
                i++;
        } else if (i + 6 <= n && (p[i] == '+' || p[i] == '-') && digits(p + i + 1, 2) &&
                   p[i + 3] == ':' && digits(p + i + 4, 2)) {
                *offset = true;
                off = ((p[i + 1] - '0') * 10 + (p[i + 2] - '0')) * 3600L +
                      ((p[i + 4] - '0') * 10 + (p[i + 5] - '0')) * 60L;
                if (p[i] == '-')
                        off = -off;
                i += 6;
        }
        struct tm tm = {0};
        tm.tm_year = atoi(p) - 1900;
        tm.tm_mon = atoi(p + 5) - 1;
        tm.tm_mday = atoi(p + 8);
        tm.tm_hour = atoi(p + 11);
        tm.tm_min = atoi(p + 14);
        tm.tm_sec = atoi(p + 17);
        int64_t secs = (int64_t)timegm(&tm) - off;
        logline_format_ts(secs * 1000 + ms, ts);
        return i;
}

/* The fixture's shape (struct logline_format's level_meta_msg): the
 * template, "$level" LIT, "$metadata" up to LIT, the message to the end. Its
 * own function: no token loop, no keyed fields on the stack. */
static bool match_straight(const struct logline_format *f, const char *line, size_t n,
                           int64_t now_ms, struct logline_event *ev)
{
        if (n < f->fix_len)
                return false;
#define FIX_BAD(w)                                                                                 \
        ((((load8(line + f->fix_off[w]) & f->fix_chk[w].and) ^ f->fix_chk[w].want) |               \
          (((load8(line + f->fix_off[w]) + f->fix_chk[w].add) & f->fix_chk[w].high) ^              \
           f->fix_chk[w].three)))
        uint64_t bad;
        if (f->fix_words == 4) {
                /* "$date $time [": 25 bytes, four words, no loop */
                bad = FIX_BAD(0) | FIX_BAD(1) | FIX_BAD(2) | FIX_BAD(3);
        } else {
                bad = 0;
                for (size_t w = 0; w < f->fix_words; w++)
                        bad |= FIX_BAD(w);
        }
#undef FIX_BAD
        if (bad)
                return false;
        const struct tok *t = f->toks + f->fix_toks;
        size_t pos = f->fix_len;
        int lv = level_scan(line, &pos, n);
        if (lv < 0 || !lit_at(line, pos, n, &t[1]))
                return false;
        pos += t[1].lit_len;
        long at = find_lit(line, pos, n, &t[3]);
        if (at < 0)
                return false;
        if (f->date_off >= 0)
                memcpy(ev->ts, line + f->date_off, 10);
        else
                today(f, now_ms, ev->ts);
        ev->ts[10] = 'T';
        memcpy(ev->ts + 11, line + f->time_off, 12);
        ev->ts[23] = 'Z';
        ev->ts[24] = '\0';
        if (f->local)
                local_to_utc((struct logline_format *)f, ev->ts);
        ev->level = (enum logline_level)lv;
        ev->msg = line + at + t[3].lit_len;
        ev->msg_len = n - ((size_t)at + t[3].lit_len);
        ev->nfields = 0;
        ev->split = false;
        size_t m = (size_t)at - pos;
        if (m == 0)
                return true;
#ifdef __SSE2__
        if (m <= 16 && n - pos >= 16 && meta_one_field(line + pos, m, ev))
                return true;
#endif
        parse_metadata(line + pos, m, ev);
        return true;
}

static bool match_tokens(const struct logline_format *f, const char *line, size_t n, int64_t now_ms,
                         struct logline_event *ev)
{
        size_t pos = 0;
        const char *date = NULL, *time_ = NULL;
        const char *msg = NULL;
        size_t msg_len = 0;
        const char *meta = NULL;
        size_t meta_len = 0;
        enum logline_level level = LOGLINE_INFO;
        bool have_level = false;
        bool erl_time = false, erl_offset = false;
        struct logline_field keyed[LOGLINE_MAX_FIELDS];
        size_t nkeyed = 0;

        const struct tok *t = f->toks, *tend = f->toks + f->ntoks;
        if (f->fix_toks) {
                if (n < f->fix_len)
                        return false;
                /* digits_and per word, its masks made when the format was */
                uint64_t bad = 0;
                for (size_t w = 0; w < f->fix_words; w++) {
                        uint64_t v = load8(line + f->fix_off[w]);
                        bad |=
                            ((v & f->fix_chk[w].and) ^ f->fix_chk[w].want) |
                            (((v + f->fix_chk[w].add) & f->fix_chk[w].high) ^ f->fix_chk[w].three);
                }
                if (bad)
                        return false;
                if (f->date_off >= 0)
                        date = line + f->date_off;
                if (f->time_off >= 0)
                        time_ = line + f->time_off;
                pos = f->fix_len;
                t += f->fix_toks;
        }
        for (; t < tend; t++) {
                switch (t->kind) {
                case TOK_LIT:
                        if (!lit_at(line, pos, n, t))
                                return false;
                        pos += t->lit_len;
                        break;
                case TOK_DATE:
                        if (n - pos < 10 || !is_date(line + pos))
                                return false;
                        date = line + pos;
                        pos += 10;
                        break;
                case TOK_TIME:
                        if (n - pos < 12 || !is_time(line + pos))
                                return false;
                        time_ = line + pos;
                        pos += 12;
                        break;
                case TOK_LEVEL: {
                        int lv = level_scan(line, &pos, n);
                        if (lv < 0)
                                return false;
                        level = (enum logline_level)lv;
                        have_level = true;
                        /* the literal after it ("] ") checked here: one dispatch less */
                        if (t->next_lit) {
                                if (!lit_at(line, pos, n, t->next_lit))
                                        return false;
                                pos += t->next_lit->lit_len;
                                t++;
                        }
                        break;
                }
                case TOK_LEVELPAD:
                        while (pos < n && line[pos] == ' ')
                                pos++;
                        break;
                case TOK_ERLTIME: {
                        size_t used = erltime(line + pos, n - pos, ev->ts, &erl_offset);
                        if (!used)
                                return false;
                        erl_time = true;
                        pos += used;
                        break;
                }
                case TOK_METAKEY: {
                        size_t end = n;
                        if (t->next_lit) {
                                long at = find_lit(line, pos, n, t->next_lit);
                                if (at < 0)
                                        return false;
                                end = (size_t)at; /* the literal: the next token's */
                        } else {
                                while (end > pos && line[end - 1] == ' ')
                                        end--;
                                size_t q = pos;
                                while (q < end && line[q] != ' ')
                                        q++;
                                end = q;
                        }
                        if (nkeyed < LOGLINE_MAX_FIELDS)
                                keyed[nkeyed++] = (struct logline_field){
                                    t->lit, t->lit_len, line + pos, end - pos, false};
                        pos = end;
                        break;
                }
                case TOK_META:
                case TOK_NODE:
                case TOK_MSG: {
                        size_t end = n;
                        if (t->next_lit) {
                                long at = find_lit(line, pos, n, t->next_lit);
                                if (at < 0)
                                        return false;
                                end = (size_t)at;
                        } else if (t->next_ph && t->kind == TOK_META) {
                                /* metadata directly followed by a placeholder: take k=v words */
                                size_t q = pos;
                                end = pos;
                                while (q < n) {
                                        size_t w = q;
                                        while (q < n && line[q] != ' ')
                                                q++;
                                        if (!memchr(line + w, '=', q - w))
                                                break;
                                        if (q < n)
                                                q++;
                                        end = q;
                                }
                        }
                        if (t->kind == TOK_META) {
                                meta = line + pos;
                                meta_len = end - pos;
                        } else if (t->kind == TOK_MSG) {
                                msg = line + pos;
                                msg_len = end - pos;
                        }
                        pos = end;
                        if (t->next_lit) {
                                /* find_lit found the literal right here: skip it */
                                pos += t->next_lit->lit_len;
                                t++;
                        }
                        break;
                }
                }
        }
        if (pos != n && !(msg && msg + msg_len == line + n))
                return false;
        /* A format of only "$message" would claim every line; require some anchor. */
        if (!date && !time_ && !have_level && !erl_time)
                return false;

        if (erl_time) {
                /* ev->ts is set; a time without an offset is local or UTC as told */
                if (!erl_offset && f->local)
                        local_to_utc((struct logline_format *)f, ev->ts);
        } else if (time_) {
                if (date)
                        memcpy(ev->ts, date, 10);
                else
                        today(f, now_ms, ev->ts);
                /* "YYYY-MM-DD" "T" "HH:MM:SS.mmm" "Z": no printf on the hot path */
                ev->ts[10] = 'T';
                memcpy(ev->ts + 11, time_, 12);
                ev->ts[23] = 'Z';
                ev->ts[24] = '\0';
                if (f->local)
                        local_to_utc((struct logline_format *)f, ev->ts);
        } else {
                format_ts_cold(now_ms, ev->ts);
        }
        ev->level = have_level ? level : LOGLINE_INFO;
        ev->msg = msg;
        ev->msg_len = msg_len;
        ev->nfields = 0;
        ev->split = false;
        if (meta)
                parse_metadata(meta, meta_len, ev);
        for (size_t i = 0; i < nkeyed && ev->nfields < LOGLINE_MAX_FIELDS; i++)
                if (keyed[i].val_len > 0)
                        ev->fields[ev->nfields++] = keyed[i];
        return true;
}

bool logline_format_match(const struct logline_format *f, const char *line, size_t n,
                          int64_t now_ms, struct logline_event *ev)
{
        if (f->level_meta_msg)
                return match_straight(f, line, n, now_ms, ev);
        return match_tokens(f, line, n, now_ms, ev);
}

/* ---- encoding ---- */

/* A counted literal, padded: it is copied whole (a few vector moves, no call
 * to memcpy), n bytes of it count. */
#define LIT_PAD 48
struct lit {
        char s[LIT_PAD];
        unsigned char n;
};
#define LIT(x)                                                                                     \
        {                                                                                          \
                x, sizeof(x) - 1                                                                   \
        }

/* One JSON form of the event: the default one, and the profiles that log
 * collectors read (their documented field names and level words). The
 * event's own fields come out in this order: ts, level, [src], msg, [src],
 * node, extra, the metadata fields, split, labels. */
struct profile {
        struct lit ts;          /* '{' and the time's key up to its value */
        struct lit level;       /* the level's key, up to the opening quote of its word */
        struct lit levels[8];   /* the words, by enum logline_level */
        struct lit msg;         /* the message's key up to its value */
        struct lit src;         /* the source's key; {NULL} when it goes in the labels */
        bool src_first;         /* src before msg */
        struct lit node;        /* the node's key; {NULL}: in the labels */
        struct lit extra;       /* a constant member, or "" */
        struct lit labels;      /* the labels object's key (src and node inside), or {NULL} */
        struct lit reserved[8]; /* metadata keys left out: they would repeat a key above */
        uint64_t rlens;         /* bit n: some reserved key is n bytes long */
};

#define RL(n) ((uint64_t)1 << (n))

static const struct profile profiles[] =
    {
        [LOGLINE_OUT_JSON] =
            {
                .ts = LIT("{\"ts\":"),
                .level = LIT(",\"level\":\""),
                .levels = {LIT("debug"), LIT("info"), LIT("notice"), LIT("warning"), LIT("error"),
                           LIT("critical"), LIT("alert"), LIT("emergency")},
                .msg = LIT(",\"msg\":"),
                .src = LIT(",\"src\":\""),
                .src_first = true,
                .node = LIT(",\"node\":"),
                .extra = LIT(""),
                .reserved = {LIT("ts"), LIT("level"), LIT("src"), LIT("msg"), LIT("node"),
                             LIT("split")},
                .rlens = RL(2) | RL(5) | RL(3) | RL(3) | RL(4) | RL(5),
            },
        /* Cloud Logging's structured logging: severity (LogSeverity's names),
         * time (RFC 3339), message; labels in logging.googleapis.com/labels;
         * everything else lands in jsonPayload. */
        [LOGLINE_OUT_GCP] =
            {
                .ts = LIT("{\"time\":"),
                .level = LIT(",\"severity\":\""),
                .levels = {LIT("DEBUG"), LIT("INFO"), LIT("NOTICE"), LIT("WARNING"), LIT("ERROR"),
                           LIT("CRITICAL"), LIT("ALERT"), LIT("EMERGENCY")},
                .msg = LIT(",\"message\":"),
                .extra = LIT(""),
                .labels = LIT(",\"logging.googleapis.com/labels\":{"),
                .reserved = {LIT("time"), LIT("timestamp"),
                             LIT("severity"), LIT("message"), LIT("split"),
                             LIT("logging.googleapis.com/labels")},
                .rlens = RL(4) | RL(9) | RL(8) | RL(7) | RL(5) | RL(29),
            },
        /* Elastic Common Schema as ecs-logging writes it: @timestamp, log.level,
         * message first, dotted names at the top level, ecs.version. */
        [LOGLINE_OUT_ECS] =
            {
                .ts = LIT("{\"@timestamp\":"),
                .level = LIT(",\"log.level\":\""),
                .levels = {LIT("debug"), LIT("info"), LIT("notice"), LIT("warning"), LIT("error"),
                           LIT("critical"), LIT("alert"), LIT("emergency")},
                .msg = LIT(",\"message\":"),
                .src = LIT(",\"log.logger\":\""),
                .node = LIT(",\"service.node.name\":"),
                .extra = LIT(",\"ecs.version\":\"8.11.0\""),
                .reserved = {LIT("@timestamp"), LIT("log.level"), LIT("message"), LIT("log.logger"),
                             LIT("service.node.name"), LIT("ecs.version"), LIT("split")},
                .rlens = RL(10) | RL(9) | RL(7) | RL(10) | RL(17) | RL(11) | RL(5),
            },
        /* Datadog's reserved attributes timestamp, status, message and the
         * standard attribute logger.name; status words as its status remapper
         * reads them (emerg, alert, critical, error, warning, notice, info,
         * debug). */
        [LOGLINE_OUT_DATADOG] =
            {
                .ts = LIT("{\"timestamp\":"),
                .level = LIT(",\"status\":\""),
                .levels = {LIT("debug"), LIT("info"), LIT("notice"), LIT("warning"), LIT("error"),
                           LIT("critical"), LIT("alert"), LIT("emerg")},
                .msg = LIT(",\"message\":"),
                .src = LIT(",\"logger.name\":\""),
                .node = LIT(",\"node\":"),
                .extra = LIT(""),
                .reserved = {LIT("timestamp"), LIT("status"), LIT("message"), LIT("logger.name"),
                             LIT("node"), LIT("split")},
                .rlens = RL(9) | RL(6) | RL(7) | RL(11) | RL(4) | RL(5),
            },
};

static const struct lit src_words[] = {[LOGLINE_SRC_APP] = LIT("app"),
                                       [LOGLINE_SRC_RPC] = LIT("rpc"),
                                       [LOGLINE_SRC_RELRUN] = LIT("relrun")};

static bool reserved_in(const struct profile *pr, const char *k, size_t n)
{
        if (n >= 64 || !((pr->rlens >> n) & 1))
                return false; /* no reserved key has this length: most keys */
        for (size_t i = 0; i < 8 && pr->reserved[i].n; i++)
                if (pr->reserved[i].n == n && memcmp(pr->reserved[i].s, k, n) == 0)
                        return true;
        return false;
}

/* The default form's keys, for logfmt and text. */
static bool reserved_key(const char *k, size_t n)
{
        return reserved_in(&profiles[LOGLINE_OUT_JSON], k, n);
}

/* Writes LIT_PAD bytes at w (the room allows it), keeps l->n of them. */
static inline char *put(char *w, const struct lit *l)
{
        memcpy(w, l->s, LIT_PAD);
        return w + l->n;
}

#ifdef __SSE2__
/* The bytes of v that JSON needs escaped or that start UTF-8 (a signed
 * "< ' '" catches the controls and every byte from 0x80), as bits. */
static inline unsigned json_special16(__m128i v)
{
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                              _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                                 _mm_cmplt_epi8(v, _mm_set1_epi8(' ')));
        return (unsigned)_mm_movemask_epi8(m);
}
#endif

/* Non-zero when a byte of v is one JSON escapes or one from 0x80 (SWAR). */
static inline uint64_t json_special8(uint64_t v)
{
        uint64_t q = v ^ (ONES8 * '"'), b = v ^ (ONES8 * '\\');
        return (v | ((v - ONES8 * 0x20) & ~v) | ((q - ONES8) & ~q) | ((b - ONES8) & ~b)) & HIGHS8;
}

/* s escaped at w (room for 6 bytes a byte): a string of 16 bytes or more
 * that is plain ASCII (most messages) is copied here 16 bytes a step, its
 * tail as its last 16; from the first byte that is not, and for short
 * strings, codec_json_escape_to does it (no UTF-8 sequence starts before). */
static inline char *escape_to(char *w, const char *s, size_t n)
{
#ifdef __SSE2__
        if (n >= 16) {
                size_t i = 0;
                for (; i + 16 <= n; i += 16) {
                        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
                        _mm_storeu_si128((__m128i *)(void *)(w + i), v);
                        if (json_special16(v))
                                return codec_json_escape_to(w + i, s + i, n - i);
                }
                if (i < n) {
                        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + n - 16));
                        if (json_special16(v))
                                return codec_json_escape_to(w + i, s + i, n - i);
                        _mm_storeu_si128((__m128i *)(void *)(w + n - 16), v);
                }
                return w + n;
        }
#endif
        return codec_json_escape_to(w, s, n);
}

/* p[0..n), 8 <= n <= 16, holds nothing JSON escapes (ASCII, no '"', '\\',
 * controls): two overlapping loads. */
static inline bool span_plain(const char *p, size_t n)
{
        uint64_t a = load8(p), b = load8(p + n - 8);
        return !json_special8(a) && !json_special8(b);
}

/* n bytes from s to w, reading and writing only those (n < 16). */
static inline char *copy_exact(char *w, const char *s, size_t n)
{
        if (n >= 8) {
                memcpy(w, s, 8);
                memcpy(w + n - 8, s + n - 8, 8);
        } else if (n >= 4) {
                memcpy(w, s, 4);
                memcpy(w + n - 4, s + n - 4, 4);
        } else if (n > 0) {
                w[0] = s[0];
                w[n >> 1] = s[n >> 1];
                w[n - 1] = s[n - 1];
        }
        return w + n;
}

static inline char *put_jstr(char *w, const char *s, size_t n)
{
        *w++ = '"';
        w = escape_to(w, s, n);
        *w++ = '"';
        return w;
}

/* The most one event can take in any JSON form: every literal of a profile
 * is well under 256 - LIT_PAD bytes (a padded copy may write LIT_PAD bytes
 * past what it keeps); each string may grow 6 times when escaped. */
static size_t json_room(const struct logline_event *ev, size_t ts_len, size_t node_len)
{
        size_t n = 256 + CODEC_JSON_ESCAPED_MAX(ts_len + ev->msg_len + node_len);
        for (size_t i = 0; i < ev->nfields; i++)
                n += 8 + CODEC_JSON_ESCAPED_MAX(ev->fields[i].key_len + ev->fields[i].val_len);
        return n;
}

/* Per profile, level and source: everything from the time's closing quote
 * to the message's value ("level":"info","src":"app","msg":) as one literal,
 * made once at start; n = 0 where it would not fit (then piece by piece). */
#define NPROFILES (sizeof profiles / sizeof profiles[0])
static struct lit mids[NPROFILES][8][3];

static size_t lit_cat(char *d, size_t at, const struct lit *l)
{
        if (at + l->n <= LIT_PAD)
                memcpy(d + at, l->s, l->n);
        return at + l->n;
}

static __attribute__((constructor)) void make_mids(void)
{
        static const struct lit q = LIT("\"");
        for (size_t p = 0; p < NPROFILES; p++)
                for (size_t l = 0; l < 8; l++)
                        for (size_t s = 0; s < 3; s++) {
                                const struct profile *pr = &profiles[p];
                                struct lit *m = &mids[p][l][s];
                                if (!pr->msg.n)
                                        continue; /* not a JSON form */
                                size_t at = lit_cat(m->s, 0, &pr->level);
                                at = lit_cat(m->s, at, &pr->levels[l]);
                                at = lit_cat(m->s, at, &q);
                                if (pr->src.n && pr->src_first) {
                                        at = lit_cat(m->s, at, &pr->src);
                                        at = lit_cat(m->s, at, &src_words[s]);
                                        at = lit_cat(m->s, at, &q);
                                }
                                at = lit_cat(m->s, at, &pr->msg);
                                m->n = at <= LIT_PAD ? (unsigned char)at : 0;
                        }
}

/* The event in place at w, which has json_room bytes. */
static const struct lit lit_quote = LIT("\""), lit_split = LIT(",\"split\":true"),
                        lit_label_src = LIT("\"src\":\""), lit_label_node = LIT(",\"node\":");

/* The length of ev->ts, and whether it needs no escaping (the matcher's
 * "YYYY-MM-DDTHH:MM:SS.mmmZ" always): its first 32 bytes looked at in two
 * loads, no strnlen and no escaper call on the hot path. */
static inline size_t ts_scan(const char *ts, bool *plain)
{
#ifdef __SSE2__
        _Static_assert(LOGLINE_TS_MAX >= 32, "two 16-byte loads of ts");
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)ts);
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(ts + 16));
        __m128i z = _mm_setzero_si128();
        unsigned nul = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(a, z)) |
                       (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(b, z)) << 16;
        if (nul) {
                unsigned k = (unsigned)__builtin_ctz(nul);
                unsigned special = json_special16(a) | json_special16(b) << 16;
                *plain = (special & ((1u << k) - 1)) == 0;
                return k;
        }
#endif
        *plain = false;
        return strnlen(ts, LOGLINE_TS_MAX);
}

static inline __attribute__((always_inline)) char *
json_write(char *w, const struct logline_event *ev, const struct profile *pr, size_t ts_len,
           bool ts_plain, size_t node_len)
{
        unsigned si = (unsigned)ev->src < 3 ? ev->src : 0;
        unsigned li = (unsigned)ev->level < 8 ? ev->level : LOGLINE_INFO;
        const struct lit *src = &src_words[si];
        const struct lit *mid = &mids[pr - profiles][li][si];
        w = put(w, &pr->ts);
        if (ts_plain) {
                /* 32 bytes copied (the room allows it), ts_len of them kept */
                *w++ = '"';
                memcpy(w, ev->ts, 32);
                w += ts_len;
                *w++ = '"';
        } else {
                w = put_jstr(w, ev->ts, ts_len);
        }
        if (mid->n) {
                w = put(w, mid);
        } else {
                w = put(w, &pr->level);
                w = put(w, &pr->levels[li]);
                *w++ = '"';
                if (pr->src.n && pr->src_first) {
                        w = put(w, &pr->src);
                        w = put(w, src);
                        *w++ = '"';
                }
                w = put(w, &pr->msg);
        }
        w = put_jstr(w, ev->msg ? ev->msg : "", ev->msg_len);
        if (pr->src.n && !pr->src_first) {
                w = put(w, &pr->src);
                w = put(w, src);
                *w++ = '"';
        }
        if (ev->node && pr->node.n) {
                w = put(w, &pr->node);
                w = put_jstr(w, ev->node, node_len);
        }
        if (pr->extra.n)
                w = put(w, &pr->extra);
        for (size_t i = 0; i < ev->nfields; i++) {
                const struct logline_field *f = &ev->fields[i];
                if (f->key_len < 64 && ((pr->rlens >> f->key_len) & 1) &&
                    reserved_in(pr, f->key, f->key_len))
                        continue;
                size_t span = f->key_len + 1 + f->val_len;
                if (!f->raw_json && f->val == f->key + f->key_len + 1 && span >= 8 && span <= 16 &&
                    span_plain(f->key, span)) {
                        /* "k=v" as the line has it, nothing in it to escape */
                        memcpy(w, ",\"", 2);
                        w = copy_exact(w + 2, f->key, f->key_len);
                        memcpy(w, "\":\"", 3);
                        w = copy_exact(w + 3, f->val, f->val_len);
                        *w++ = '"';
                        continue;
                }
                *w++ = ',';
                w = put_jstr(w, f->key, f->key_len);
                *w++ = ':';
                if (f->raw_json) {
                        memcpy(w, f->val, f->val_len);
                        w += f->val_len;
                } else {
                        w = put_jstr(w, f->val, f->val_len);
                }
        }
        if (ev->split)
                w = put(w, &lit_split);
        if (pr->labels.n) {
                w = put(w, &pr->labels);
                w = put(w, &lit_label_src);
                w = put(w, src);
                w = put(w, &lit_quote);
                if (ev->node) {
                        w = put(w, &lit_label_node);
                        w = put_jstr(w, ev->node, node_len);
                }
                *w++ = '}';
        }
        *w++ = '}';
        *w++ = '\n';
        return w;
}

/* One room for the whole event, written in place: no per-piece capacity
 * checks on the hot path. */
static int encode_json(const struct logline_event *ev, const struct profile *pr, struct buf *out)
{
        bool ts_plain;
        size_t ts_len = ts_scan(ev->ts, &ts_plain);
        size_t node_len = ev->node ? strlen(ev->node) : 0;
        size_t room = json_room(ev, ts_len, node_len);
        char *w0 = buf_room(out, room);
        if (w0) {
                buf_grew(out, (size_t)(json_write(w0, ev, pr, ts_len, ts_plain, node_len) - w0));
                return 0;
        }
        /* Near the cap the worst case may not fit where the event itself
         * would: write it aside, then append it if it fits. */
        char *tmp = malloc(room);
        if (!tmp)
                return -1;
        size_t n = (size_t)(json_write(tmp, ev, pr, ts_len, ts_plain, node_len) - tmp);
        int r = buf_append(out, tmp, n);
        free(tmp);
        return r;
}

static bool logfmt_needs_quotes(const char *s, size_t n)
{
        if (n == 0)
                return true;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f)
                        return true;
        }
        return false;
}

static int put_logfmt_val(struct buf *out, const char *s, size_t n)
{
        if (!logfmt_needs_quotes(s, n))
                return buf_append(out, s, n);
        return codec_json_string(out, s, n);
}

static int put_logfmt_pair(struct buf *out, const char *k, size_t kn, const char *v, size_t vn)
{
        if (buf_putc(out, ' ') < 0 || buf_append(out, k, kn) < 0 || buf_putc(out, '=') < 0)
                return -1;
        return put_logfmt_val(out, v, vn);
}

static int encode_fields_logfmt(const struct logline_event *ev, struct buf *out)
{
        if (ev->node && put_logfmt_pair(out, "node", 4, ev->node, strlen(ev->node)) < 0)
                return -1;
        for (size_t i = 0; i < ev->nfields; i++) {
                const struct logline_field *f = &ev->fields[i];
                if (reserved_key(f->key, f->key_len))
                        continue;
                if (put_logfmt_pair(out, f->key, f->key_len, f->val, f->val_len) < 0)
                        return -1;
        }
        if (ev->split && buf_puts(out, " split=true") < 0)
                return -1;
        return 0;
}

static int encode_logfmt(const struct logline_event *ev, struct buf *out)
{
        const char *lvl = logline_level_name(ev->level);
        const char *src = logline_src_name(ev->src);
        if (buf_puts(out, "ts=") < 0 || buf_puts(out, ev->ts) < 0 ||
            put_logfmt_pair(out, "level", 5, lvl, strlen(lvl)) < 0 ||
            put_logfmt_pair(out, "src", 3, src, strlen(src)) < 0 ||
            put_logfmt_pair(out, "msg", 3, ev->msg ? ev->msg : "", ev->msg_len) < 0 ||
            encode_fields_logfmt(ev, out) < 0)
                return -1;
        return buf_putc(out, '\n');
}

static int encode_text(const struct logline_event *ev, struct buf *out)
{
        if (buf_printf(out, "%s %-7s %-6s ", ev->ts, logline_level_name(ev->level),
                       logline_src_name(ev->src)) < 0)
                return -1;
        const char *m = ev->msg ? ev->msg : "";
        size_t n = ev->msg_len;
        while (n > 0) {
                const char *nl = memchr(m, '\n', n);
                size_t l = nl ? (size_t)(nl - m) : n;
                if (buf_append(out, m, l) < 0)
                        return -1;
                if (!nl)
                        break;
                /* continuation lines indented, so the text form stays one event per start line */
                if (buf_puts(out, "\n    ") < 0)
                        return -1;
                m += l + 1;
                n -= l + 1;
        }
        if (encode_fields_logfmt(ev, out) < 0)
                return -1;
        return buf_putc(out, '\n');
}

int logline_encode(const struct logline_event *ev, enum logline_out fmt, struct buf *out)
{
        switch (fmt) {
        case LOGLINE_OUT_JSON:
        case LOGLINE_OUT_GCP:
        case LOGLINE_OUT_ECS:
        case LOGLINE_OUT_DATADOG: return encode_json(ev, &profiles[fmt], out);
        case LOGLINE_OUT_LOGFMT: return encode_logfmt(ev, out);
        case LOGLINE_OUT_TEXT: return encode_text(ev, out);
        }
        return -1;
}

/* ---- streams ---- */

struct field_ref {
        size_t k, kl, v, vl;
        bool raw;
};

struct logline_stream {
        struct logline_stream_opts o;
        struct buf line; /* the partial line not yet ended by '\n' */
        bool line_split; /* the line buffer overflowed: its next part continues it */
        int64_t now;     /* receive time of the current read, 0 = not taken yet */
        int64_t now_fmt; /* the time now_ts holds, 0 = none */
        char now_ts[LOGLINE_TS_MAX];
        /* the pending event */
        bool pending;
        char ts[LOGLINE_TS_MAX];
        enum logline_level level;
        struct buf msg;
        struct buf fieldtext;
        struct field_ref fields[LOGLINE_MAX_FIELDS];
        size_t nfields;
        bool split;
        /* Within one feed the pending event may point into the caller's
         * bytes instead (borrowed): evs[cur] is it, matched there in place;
         * a line is matched into the other one. Made owned (copied into the
         * fields above) before feed returns or when it must grow. */
        bool borrowed;
        unsigned cur;
        struct logline_event evs[2];
};

static int64_t real_clock(void *ctx)
{
        (void)ctx;
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

struct logline_stream *logline_stream_new(const struct logline_stream_opts *o)
{
        struct logline_stream *s = calloc(1, sizeof *s);
        if (!s)
                return NULL;
        s->o = *o;
        if (!s->o.clock)
                s->o.clock = real_clock;
        if (!s->o.max_line)
                s->o.max_line = 64 * 1024;
        if (!s->o.max_event)
                s->o.max_event = 256 * 1024;
        buf_init(&s->line, s->o.max_line);
        buf_init(&s->msg, s->o.max_event);
        buf_init(&s->fieldtext, 16 * 1024);
        return s;
}

void logline_stream_set_format(struct logline_stream *s, const struct logline_format *fmt)
{
        s->o.fmt = fmt;
}

void logline_stream_free(struct logline_stream *s)
{
        if (!s)
                return;
        buf_fini(&s->line);
        buf_fini(&s->msg);
        buf_fini(&s->fieldtext);
        free(s);
}

bool logline_stream_pending(const struct logline_stream *s)
{
        return s->pending || s->line.len > 0;
}

/* The pending event from the stream's own storage. Out of line: its event
 * on the stack would cost the borrowed path a stack canary per call. */
static __attribute__((noinline)) int emit_owned(struct logline_stream *s, bool part)
{
        size_t n = s->msg.len;
        if (!part)
                while (n > 0 && (s->msg.data[n - 1] == '\n' || s->msg.data[n - 1] == '\r'))
                        n--;
        struct logline_event ev;
        memcpy(ev.ts, s->ts, sizeof ev.ts);
        ev.level = s->level;
        ev.src = s->o.src;
        ev.node = s->o.node;
        ev.msg = buf_str(&s->msg);
        ev.msg_len = n;
        ev.split = part || s->split;
        ev.nfields = s->nfields;
        const char *ft = buf_str(&s->fieldtext);
        for (size_t i = 0; i < s->nfields; i++) {
                ev.fields[i].key = ft + s->fields[i].k;
                ev.fields[i].key_len = s->fields[i].kl;
                ev.fields[i].val = ft + s->fields[i].v;
                ev.fields[i].val_len = s->fields[i].vl;
                ev.fields[i].raw_json = s->fields[i].raw;
        }
        int r = s->o.emit(s->o.emit_ctx, &ev);
        buf_reset(&s->msg);
        if (part) {
                s->split = true; /* the rest keeps the header and is marked too */
        } else {
                s->pending = false;
                s->split = false;
                s->nfields = 0;
                buf_reset(&s->fieldtext);
        }
        return r;
}

static int emit_pending(struct logline_stream *s, bool part)
{
        if (!s->pending)
                return 0;
        if (s->borrowed) {
                /* never a part: a borrowed event is made owned before it grows */
                struct logline_event *ev = &s->evs[s->cur];
                while (ev->msg_len > 0 &&
                       (ev->msg[ev->msg_len - 1] == '\n' || ev->msg[ev->msg_len - 1] == '\r'))
                        ev->msg_len--;
                ev->src = s->o.src;
                ev->node = s->o.node;
                ev->split = s->split;
                s->pending = false;
                s->borrowed = false;
                s->split = false;
                return s->o.emit(s->o.emit_ctx, ev);
        }
        return emit_owned(s, part);
}

int logline_stream_flush(struct logline_stream *s)
{
        return emit_pending(s, false);
}

static int own(struct logline_stream *s);

/* Append to the pending message, emitting parts when it would pass the cap. */
static int append_msg(struct logline_stream *s, const char *p, size_t n)
{
        if (s->borrowed && own(s) < 0)
                return -1;
        while (n > s->msg.max - s->msg.len) {
                size_t room = s->msg.max - s->msg.len;
                if (buf_append(&s->msg, p, room) < 0)
                        return -1; /* out of memory */
                p += room;
                n -= room;
                if (emit_pending(s, true) < 0)
                        return -1;
        }
        if (n == 0)
                return 0;
        char *w = buf_room(&s->msg, n); /* fits: only out of memory fails */
        if (!w)
                return -1;
        memcpy(w, p, n);
        buf_grew(&s->msg, n);
        return 0;
}

static void begin_pending(struct logline_stream *s, const struct logline_event *ev)
{
        s->pending = true;
        s->split = false;
        memcpy(s->ts, ev->ts, sizeof s->ts);
        s->level = ev->level;
        s->nfields = 0;
        buf_reset(&s->fieldtext);
        buf_reset(&s->msg);
        if (ev->nfields == 0)
                return;
        /* the fields' text in one room: they stay while the event waits */
        size_t total = 0;
        for (size_t i = 0; i < ev->nfields; i++)
                total += ev->fields[i].key_len + ev->fields[i].val_len;
        char *w = buf_room(&s->fieldtext, total);
        if (!w) {
                /* over the fields' cap: the ones that fit */
                for (size_t i = 0; i < ev->nfields; i++) {
                        const struct logline_field *f = &ev->fields[i];
                        struct field_ref *r = &s->fields[s->nfields];
                        r->k = s->fieldtext.len;
                        r->kl = f->key_len;
                        if (buf_append(&s->fieldtext, f->key, f->key_len) < 0)
                                break;
                        r->v = s->fieldtext.len;
                        r->vl = f->val_len;
                        if (buf_append(&s->fieldtext, f->val, f->val_len) < 0)
                                break;
                        r->raw = f->raw_json;
                        s->nfields++;
                }
                return;
        }
        size_t at = s->fieldtext.len;
        for (size_t i = 0; i < ev->nfields; i++) {
                const struct logline_field *f = &ev->fields[i];
                struct field_ref *r = &s->fields[i];
                r->k = at;
                r->kl = f->key_len;
                memcpy(w, f->key, f->key_len);
                w += f->key_len;
                r->v = at + f->key_len;
                r->vl = f->val_len;
                memcpy(w, f->val, f->val_len);
                w += f->val_len;
                at += f->key_len + f->val_len;
                r->raw = f->raw_json;
        }
        s->nfields = ev->nfields;
        buf_grew(&s->fieldtext, total);
}

/* The borrowed pending event copied into the stream's own storage. */
static int own(struct logline_stream *s)
{
        if (!s->borrowed)
                return 0;
        s->borrowed = false;
        const struct logline_event *ev = &s->evs[s->cur];
        bool split = s->split;
        begin_pending(s, ev);
        s->split = split;
        return append_msg(s, ev->msg, ev->msg_len);
}

/* Start the pending event from evs[cur ^ 1]: borrowed when its bytes stay
 * valid until feed returns and it fits the event cap, else owned. */
static int begin_from(struct logline_stream *s, bool borrow)
{
        struct logline_event *ev = &s->evs[s->cur ^ 1];
        if (borrow && ev->msg_len <= s->msg.max) {
                s->cur ^= 1;
                s->pending = true;
                s->borrowed = true;
                s->split = false;
                return 0;
        }
        begin_pending(s, ev);
        return append_msg(s, ev->msg, ev->msg_len);
}

/* One clock reading per read from the child is enough: lines that come in
 * one read arrived together. */
static int64_t stream_now(struct logline_stream *s)
{
        if (!s->now)
                s->now = s->o.clock(s->o.clock_ctx);
        return s->now;
}

static void plain_event(struct logline_stream *s, struct logline_event *ev)
{
        /* one read's lines share its time: format it once */
        int64_t now = stream_now(s);
        if (now != s->now_fmt) {
                logline_format_ts(now, s->now_ts);
                s->now_fmt = now;
        }
        memcpy(ev->ts, s->now_ts, sizeof ev->ts);
        ev->level = s->o.plain_level;
        ev->nfields = 0;
        ev->split = false;
}

/* A line that is a JSON object keeps its fields. Returns 1 if handled. */
static int json_line(struct logline_stream *s, const char *p, size_t n)
{
        struct json_tokener *tok = json_tokener_new();
        if (!tok)
                return 0;
        struct json_object *obj = json_tokener_parse_ex(tok, p, (int)n);
        bool whole = obj && json_tokener_get_parse_end(tok) == n;
        json_tokener_free(tok);
        if (!whole || !json_object_is_type(obj, json_type_object)) {
                json_object_put(obj);
                return 0;
        }
        struct logline_event ev;
        plain_event(s, &ev);
        ev.src = s->o.src;
        ev.node = s->o.node;
        ev.msg = "";
        ev.msg_len = 0;
        ev.level = LOGLINE_INFO;
        json_object_object_foreach(obj, key, val)
        {
                size_t kl = strlen(key);
                bool str = json_object_is_type(val, json_type_string);
                const char *sv = str ? json_object_get_string(val) : NULL;
                if (str && (!strcmp(key, "msg") || !strcmp(key, "message"))) {
                        ev.msg = sv;
                        ev.msg_len = (size_t)json_object_get_string_len(val);
                } else if (str && (!strcmp(key, "level") || !strcmp(key, "severity"))) {
                        if (logline_level_parse(sv, strlen(sv), &ev.level) < 0)
                                ev.level = LOGLINE_INFO;
                } else if (str && (!strcmp(key, "ts") || !strcmp(key, "time") ||
                                   !strcmp(key, "timestamp") || !strcmp(key, "@timestamp"))) {
                        snprintf(ev.ts, sizeof ev.ts, "%s", sv);
                } else if (ev.nfields < LOGLINE_MAX_FIELDS && !reserved_key(key, kl)) {
                        struct logline_field *f = &ev.fields[ev.nfields++];
                        f->key = key;
                        f->key_len = kl;
                        if (str) {
                                f->val = sv;
                                f->val_len = (size_t)json_object_get_string_len(val);
                                f->raw_json = false;
                        } else {
                                f->val =
                                    json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN);
                                f->val_len = strlen(f->val);
                                f->raw_json = true;
                        }
                }
        }
        /* the older pending event first: lines keep their arrival order */
        int r = emit_pending(s, false);
        if (r == 0)
                r = s->o.emit(s->o.emit_ctx, &ev);
        json_object_put(obj);
        return r < 0 ? -1 : 1;
}

/* One whole line (without '\n'). cont: it is the next part of a line that
 * was too long for the line buffer. */
static int process_line(struct logline_stream *s, const char *p, size_t n, bool cont, bool borrow)
{
        if (n > 0 && p[n - 1] == '\r' && !cont)
                n--;
        if (cont && s->pending)
                return append_msg(s, p, n);
        if (n == 0) {
                if (s->pending)
                        return append_msg(s, "\n", 1);
                return 0; /* an empty line outside any event carries nothing */
        }
        if (p[0] == '{') {
                int r = json_line(s, p, n);
                if (r != 0)
                        return r < 0 ? -1 : 0;
        }
        struct logline_event *ev = &s->evs[s->cur ^ 1];
        if (s->o.fmt && logline_format_match(s->o.fmt, p, n, stream_now(s), ev)) {
                if (emit_pending(s, false) < 0)
                        return -1;
                return begin_from(s, borrow);
        }
        /* A line that does not start an event continues the pending one only
         * when it is indented (stack traces, multi-line messages): an IO.puts
         * line is its own event even when the BEAM wrote it in one batch with
         * a log event. */
        if (s->pending && (p[0] == ' ' || p[0] == '\t')) {
                struct logline_event *pe = &s->evs[s->cur];
                if (s->borrowed && borrow && p == pe->msg + pe->msg_len + 1 &&
                    pe->msg_len + 1 + n <= s->msg.max) {
                        /* the next line right after it: the '\n' between is the join */
                        pe->msg_len += 1 + n;
                        return 0;
                }
                if (append_msg(s, "\n", 1) < 0)
                        return -1;
                return append_msg(s, p, n);
        }
        if (emit_pending(s, false) < 0)
                return -1;
        plain_event(s, ev);
        ev->msg = p;
        ev->msg_len = n;
        return begin_from(s, borrow);
}

static int feed_lines(struct logline_stream *s, const char *data, size_t n)
{
        while (n > 0) {
                const char *nl = memchr(data, '\n', n);
                size_t l = nl ? (size_t)(nl - data) : n;
                if (s->line.len == 0 && nl) {
                        /* fast path: a whole line straight from the caller's bytes */
                        bool cont = s->line_split;
                        s->line_split = false;
                        if (process_line(s, data, l, cont, true) < 0)
                                return -1;
                } else {
                        size_t room = s->line.max - s->line.len;
                        size_t take = l < room ? l : room;
                        if (buf_append(&s->line, data, take) < 0)
                                return -1; /* take fits: out of memory */
                        if (take < l || (!nl && s->line.len == s->line.max)) {
                                /* over-long line: emit what we have as a part, keep going */
                                bool cont = s->line_split;
                                s->line_split = true;
                                if (process_line(s, s->line.data, s->line.len, cont, false) < 0)
                                        return -1;
                                buf_reset(&s->line);
                                data += take;
                                n -= take;
                                continue;
                        }
                        if (nl) {
                                bool cont = s->line_split;
                                s->line_split = false;
                                if (process_line(s, s->line.data, s->line.len, cont, false) < 0)
                                        return -1;
                                buf_reset(&s->line);
                        }
                }
                if (!nl)
                        break;
                data += l + 1;
                n -= l + 1;
        }
        return 0;
}

int logline_stream_feed(struct logline_stream *s, const char *data, size_t n)
{
        int r = feed_lines(s, data, n);
        /* the caller's bytes go away: the pending event keeps its own */
        if (own(s) < 0)
                r = -1;
        return r;
}

void logline_stream_chunk_end(struct logline_stream *s)
{
        s->now = 0;
}

int logline_stream_finish(struct logline_stream *s)
{
        if (s->line.len > 0) {
                bool cont = s->line_split;
                s->line_split = false;
                if (process_line(s, s->line.data, s->line.len, cont, false) < 0)
                        return -1;
                buf_reset(&s->line);
        }
        return emit_pending(s, false);
}
