#include "codec.h"

#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

size_t codec_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
        if (n == 0)
                return 0;
        unsigned char c = s[0];
        if (c < 0x80) {
                *cp = c;
                return 1;
        }
        size_t len;
        uint32_t v, min;
        if ((c & 0xe0) == 0xc0) {
                len = 2, v = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
                len = 3, v = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
                len = 4, v = c & 0x07, min = 0x10000;
        } else {
                return 0;
        }
        if (n < len)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                v = (v << 6) | (s[i] & 0x3f);
        }
        if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
                return 0;
        *cp = v;
        return len;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int codec_base64_encode(const void *src, size_t n, struct buf *out)
{
        const unsigned char *p = src;
        char q[4];
        for (size_t i = 0; i < n; i += 3) {
                unsigned v = (unsigned)p[i] << 16;
                if (i + 1 < n)
                        v |= (unsigned)p[i + 1] << 8;
                if (i + 2 < n)
                        v |= p[i + 2];
                q[0] = b64[(v >> 18) & 63];
                q[1] = b64[(v >> 12) & 63];
                q[2] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
                q[3] = i + 2 < n ? b64[v & 63] : '=';
                if (buf_append(out, q, 4) < 0)
                        return -1;
        }
        return 0;
}

static int b64_val(unsigned char c)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

int codec_base64_decode(const char *s, size_t n, unsigned char *o, size_t *outlen)
{
        size_t len = 0, q = 0, pad = 0;
        unsigned v[4] = {0, 0, 0, 0};
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
                        continue;
                if (c == '=') {
                        if (q < 2)
                                return -1;
                        pad++;
                        v[q++] = 0;
                } else {
                        int d = b64_val(c);
                        if (d < 0 || pad)
                                return -1;
                        v[q++] = (unsigned)d;
                }
                if (q == 4) {
                        /* Canonical only: the bits padding drops must be 0. */
                        if ((pad == 1 && (v[2] & 3)) || (pad == 2 && (v[1] & 15)))
                                return -1;
                        unsigned w = v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3];
                        o[len++] = (unsigned char)(w >> 16);
                        if (pad < 2)
                                o[len++] = (unsigned char)(w >> 8);
                        if (pad < 1)
                                o[len++] = (unsigned char)w;
                        q = 0;
                }
        }
        if (q != 0)
                return -1;
        *outlen = len;
        return 0;
}

/* ---- JSON ------------------------------------------------------------------- */

/* Bytes that cannot be copied into a JSON string as they are: controls, '"',
 * '\\' and everything from 0x80 (checked as UTF-8). */
static const unsigned char json_special[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

#define ONES  0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Non-zero when one of the 8 bytes in v is special (SWAR: a byte >= 0x80, a
 * byte < 0x20, '"' or '\\'). */
static inline uint64_t special8(uint64_t v)
{
        uint64_t q = v ^ (ONES * '"'), b = v ^ (ONES * '\\');
        return (v | ((v - ONES * 0x20) & ~v) | ((q - ONES) & ~q) | ((b - ONES) & ~b)) & HIGHS;
}

static const char hexd[] = "0123456789abcdef";

/* Output bytes per input byte at most: "\u00XX" is 6. */
#define ESC_BLOCK 8192

/* Escape p[0..be) to w; a UTF-8 sequence that starts before be may be read
 * up to end. w has room for 6 bytes per input byte: the wide copies below
 * store a whole vector before looking at it, which that room allows. */
#ifdef __SSE2__
/* Bits set for the bytes of v that are special: a signed "< ' '" catches the
 * controls and every byte from 0x80 at once. */
static inline unsigned special16(__m128i v)
{
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                              _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                                 _mm_cmplt_epi8(v, _mm_set1_epi8(' ')));
        return (unsigned)_mm_movemask_epi8(m);
}
#endif

/* The length of the UTF-8 sequence at p, 0 when none starts there. Out of
 * line with its own code point: the hot loop then takes no local's address
 * (which would cost a stack canary per call and keep p in memory). */
static __attribute__((noinline)) size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
        uint32_t cp;
        return codec_utf8_decode(p, (size_t)(end - p), &cp);
}

static inline __attribute__((always_inline)) char *
escape_run(char *w, const unsigned char **pp, const unsigned char *be, const unsigned char *end)
{
        const unsigned char *p = *pp;
#ifdef __SSE2__
        /* from here on the output is the input as it is, at offset w - p */
        const unsigned char *plain = p;
#endif
        while (p < be) {
#ifdef __SSE2__
                while (be - p >= 16) {
                        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
                        unsigned mask = special16(v);
                        _mm_storeu_si128((__m128i *)(void *)w, v);
                        if (mask) {
                                unsigned k = (unsigned)__builtin_ctz(mask);
                                p += k;
                                w += k;
                                goto special;
                        }
                        p += 16;
                        w += 16;
                }
                if (p < be && be - plain >= 16) {
                        /* the tail as the last 16 bytes: the ones before p
                         * were copied as they are, so writing them again
                         * changes nothing */
                        const unsigned char *q = be - 16;
                        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
                        if ((special16(v) >> (p - q)) == 0) {
                                _mm_storeu_si128((__m128i *)(void *)(w - (p - q)), v);
                                w += be - p;
                                p = be;
                                break;
                        }
                }
#endif
                uint64_t v;
                while (be - p >= 8) {
                        memcpy(&v, p, 8);
                        if (special8(v))
                                break;
                        memcpy(w, &v, 8);
                        w += 8;
                        p += 8;
                }
                while (p < be && !json_special[*p])
                        *w++ = (char)*p++;
                if (p >= be)
                        break;
#ifdef __SSE2__
        special:;
#endif
                unsigned char c = *p;
                if (c >= 0x80) {
                        /* A sequence may run past be: it still started
                         * before it, so the room is enough. */
                        size_t l = utf8_len(p, end);
                        if (l) {
                                for (size_t k = 0; k < l; k++)
                                        w[k] = (char)p[k];
                                w += l;
                                p += l;
                        } else {
                                memcpy(w, "\xef\xbf\xbd", 3);
                                w += 3;
                                p++;
                        }
#ifdef __SSE2__
                        plain = p;
#endif
                        continue;
                }
                *w++ = '\\';
                switch (c) {
                case '"': *w++ = '"'; break;
                case '\\': *w++ = '\\'; break;
                case '\n': *w++ = 'n'; break;
                case '\r': *w++ = 'r'; break;
                case '\t': *w++ = 't'; break;
                case '\b': *w++ = 'b'; break;
                case '\f': *w++ = 'f'; break;
                default:
                        memcpy(w, "u00", 3);
                        w[3] = hexd[c >> 4];
                        w[4] = hexd[c & 15];
                        w += 5;
                }
                p++;
#ifdef __SSE2__
                plain = p;
#endif
        }
        *pp = p;
        return w;
}

char *codec_json_escape_to(char *dst, const char *s, size_t n)
{
        const unsigned char *p = (const unsigned char *)s;
        return escape_run(dst, &p, p + n, p + n);
}

int codec_json_escape(struct buf *out, const char *s, size_t n)
{
        const unsigned char *p = (const unsigned char *)s, *end = p + n;
        while (p < end) {
                size_t blk = (size_t)(end - p) < ESC_BLOCK ? (size_t)(end - p) : ESC_BLOCK;
                char *w0 = buf_room(out, blk * 6);
                if (!w0)
                        return -1;
                const unsigned char *be = p + blk;
                /* a sequence that started in the block is taken whole */
                char *w = escape_run(w0, &p, be, end);
                buf_grew(out, (size_t)(w - w0));
        }
        return 0;
}

static int hex4(const char *s, uint32_t *v)
{
        uint32_t r = 0;
        for (int i = 0; i < 4; i++) {
                char c = s[i];
                r <<= 4;
                if (c >= '0' && c <= '9')
                        r |= (uint32_t)(c - '0');
                else if (c >= 'a' && c <= 'f')
                        r |= (uint32_t)(c - 'a' + 10);
                else if (c >= 'A' && c <= 'F')
                        r |= (uint32_t)(c - 'A' + 10);
                else
                        return -1;
        }
        *v = r;
        return 0;
}

static size_t utf8_put(char *w, uint32_t cp)
{
        if (cp < 0x80) {
                w[0] = (char)cp;
                return 1;
        }
        if (cp < 0x800) {
                w[0] = (char)(0xc0 | (cp >> 6));
                w[1] = (char)(0x80 | (cp & 0x3f));
                return 2;
        }
        if (cp < 0x10000) {
                w[0] = (char)(0xe0 | (cp >> 12));
                w[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
                w[2] = (char)(0x80 | (cp & 0x3f));
                return 3;
        }
        w[0] = (char)(0xf0 | (cp >> 18));
        w[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        w[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        w[3] = (char)(0x80 | (cp & 0x3f));
        return 4;
}

int codec_json_unescape(struct buf *out, const char *s, size_t n)
{
        /* Never longer than the input: "\uXXXX" (6) gives at most 3 bytes,
         * a pair (12) 4, a lone surrogate (6) U+FFFD's 3. */
        char *w0 = buf_room(out, n), *w = w0;
        if (!w0)
                return -1;
        size_t i = 0;
        while (i < n) {
                const char *bs = memchr(s + i, '\\', n - i);
                size_t run = bs ? (size_t)(bs - (s + i)) : n - i;
                memcpy(w, s + i, run);
                w += run;
                i += run;
                if (i + 1 >= n)
                        break;
                char c = s[i + 1];
                i += 2;
                switch (c) {
                case 'n': *w++ = '\n'; break;
                case 'r': *w++ = '\r'; break;
                case 't': *w++ = '\t'; break;
                case 'b': *w++ = '\b'; break;
                case 'f': *w++ = '\f'; break;
                case 'u': {
                        uint32_t cp, lo;
                        if (i + 4 > n || hex4(s + i, &cp) < 0) {
                                cp = 0xfffd;
                        } else {
                                i += 4;
                                if (cp >= 0xd800 && cp < 0xdc00 && i + 6 <= n && s[i] == '\\' &&
                                    s[i + 1] == 'u' && hex4(s + i + 2, &lo) == 0 && lo >= 0xdc00 &&
                                    lo < 0xe000) {
                                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                                        i += 6;
                                } else if (cp >= 0xd800 && cp < 0xe000) {
                                        cp = 0xfffd;
                                }
                        }
                        w += utf8_put(w, cp);
                        break;
                }
                default: *w++ = c; /* '"', '\\', '/' */
                }
        }
        buf_grew(out, (size_t)(w - w0));
        return 0;
}

int codec_json_unslash(struct buf *out, const char *p, size_t n)
{
        /* A backslash only occurs inside strings, always starting an escape. */
        char *w0 = buf_room(out, n), *w = w0;
        if (!w0)
                return -1;
        size_t i = 0;
        while (i < n) {
                const char *bs = memchr(p + i, '\\', n - i);
                size_t run = bs ? (size_t)(bs - (p + i)) : n - i;
                memcpy(w, p + i, run);
                w += run;
                i += run;
                if (i + 1 >= n) {
                        if (i < n)
                                *w++ = p[i++];
                        break;
                }
                if (p[i + 1] != '/')
                        *w++ = '\\';
                *w++ = p[i + 1];
                i += 2;
        }
        buf_grew(out, (size_t)(w - w0));
        return 0;
}

/* ---- the scanner ---- */

struct jscan {
        const unsigned char *p, *end;
        unsigned flags;
};

/* JSON's whitespace is all below '!': the usual next byte is none of it. */
static inline __attribute__((always_inline)) void skip_ws(struct jscan *s)
{
        while (s->p < s->end && *s->p <= ' ' &&
               (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
                s->p++;
}

#ifdef __SSE2__
/* special16 for the scanner: DEL as well, so that a string found without
 * one of these is printable ASCII (CODEC_JSON_HIGH otherwise). */
static inline unsigned scan_special16(__m128i v)
{
        /* outside 0x20-0x7e: v - 0x20 is 0x5f or more, unsigned (a control
         * wraps around to 0xe0 and up) */
        __m128i y = _mm_sub_epi8(v, _mm_set1_epi8(0x20));
        __m128i out = _mm_cmpeq_epi8(_mm_max_epu8(y, _mm_set1_epi8(0x5f)), y);
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                              _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                                 out);
        return (unsigned)_mm_movemask_epi8(m);
}
#endif

/* special8 with DEL. */
static inline uint64_t scan_special8(uint64_t v)
{
        uint64_t d = v ^ (ONES * 0x7f);
        return special8(v) | (((d - ONES) & ~d) & HIGHS);
}

/* At the opening '"'; leaves s->p after the closing one. */
static __attribute__((noinline)) int scan_string_any(struct jscan *s, const char **in,
                                                     size_t *inlen, bool *escaped)
{
        const unsigned char *p = s->p + 1, *end = s->end;
        *in = (const char *)p;
        *escaped = false;
        for (;;) {
#ifdef __SSE2__
                /* 16 bytes a step, straight to the first special one */
                while (end - p >= 16) {
                        unsigned bits = scan_special16(_mm_loadu_si128((const __m128i *)p));
                        if (bits) {
                                p += __builtin_ctz(bits);
                                goto special;
                        }
                        p += 16;
                }
#endif
                uint64_t v;
                while (end - p >= 8) {
                        memcpy(&v, p, 8);
                        if (scan_special8(v))
                                break;
                        p += 8;
                }
                while (p < end && !json_special[*p] && *p != 0x7f)
                        p++;
                if (p >= end)
                        return -1;
#ifdef __SSE2__
        special:;
#endif
                unsigned char c = *p;
                if (c == '"')
                        break;
                if (c < 0x20)
                        return -1;
                if (c >= 0x7f) {
                        s->flags |= CODEC_JSON_HIGH;
                        uint32_t cp;
                        size_t l = c == 0x7f ? 1 : codec_utf8_decode(p, (size_t)(end - p), &cp);
                        if (!l)
                                return -1;
                        p += l;
                        continue;
                }
                /* '\\' */
                *escaped = true;
                if (end - p < 2)
                        return -1;
                switch (p[1]) {
                case '/': s->flags |= CODEC_JSON_SLASH; /* fall through */
                case '"':
                case '\\':
                case 'b':
                case 'f':
                case 'n':
                case 'r':
                case 't': p += 2; break;
                case 'u': {
                        uint32_t v4;
                        if (end - p < 6 || hex4((const char *)p + 2, &v4) < 0)
                                return -1;
                        p += 6;
                        break;
                }
                default: return -1;
                }
        }
        *inlen = (size_t)((const char *)p - *in);
        s->p = p + 1;
        return 0;
}

/* At the opening '"' of a string: its closing '"' when the string is plain
 * (no escape, control or byte from 0x7f) and closes within 32 bytes, else
 * NULL (scan_string_any then). Pure, on values: the caller keeps its cursor
 * in a register. */
static inline __attribute__((always_inline)) const unsigned char *
scan_plain(const unsigned char *p, const unsigned char *end)
{
#ifdef __SSE2__
        p++;
        if (end - p >= 16) {
                unsigned bits = scan_special16(_mm_loadu_si128((const __m128i *)p));
                if (!bits && end - p >= 32)
                        bits = scan_special16(_mm_loadu_si128((const __m128i *)(p + 16))) << 16;
                if (bits) {
                        const unsigned char *q = p + __builtin_ctz(bits);
                        if (*q == '"')
                                return q;
                }
        }
#else
        (void)p;
        (void)end;
#endif
        return NULL;
}

/* scan_string_any, with the common case in line: a string without escapes
 * or non-ASCII that closes within the next 32 bytes (a key, a short value,
 * a timestamp) costs two vector compares and no call. At the opening '"' at
 * *pp, a cursor of the caller's (in a register once inlined; s->p is only
 * set for the call); leaves *pp after the closing one. */
static inline __attribute__((always_inline)) int
string_at(struct jscan *s, const unsigned char **pp, const char **in, size_t *inlen, bool *escaped)
{
        const unsigned char *p = *pp, *q = scan_plain(p, s->end);
        if (q) {
                *in = (const char *)p + 1;
                *inlen = (size_t)(q - p - 1);
                *escaped = false;
                *pp = q + 1;
                return 0;
        }
        s->p = p;
        if (scan_string_any(s, in, inlen, escaped) < 0)
                return -1;
        *pp = s->p;
        return 0;
}

static inline __attribute__((always_inline)) int scan_string(struct jscan *s, const char **in,
                                                             size_t *inlen, bool *escaped)
{
        return string_at(s, &s->p, in, inlen, escaped);
}

static bool is_digit(unsigned char c)
{
        return c >= '0' && c <= '9';
}

static int scan_number(struct jscan *s)
{
        const unsigned char *p = s->p, *end = s->end;
        if (p < end && *p == '-')
                p++;
        if (p >= end)
                return -1;
        if (*p == '0') {
                p++;
        } else if (is_digit(*p)) {
                while (p < end && is_digit(*p))
                        p++;
        } else {
                return -1;
        }
        if (p < end && *p == '.') {
                p++;
                if (p >= end || !is_digit(*p))
                        return -1;
                while (p < end && is_digit(*p))
                        p++;
        }
        if (p < end && (*p == 'e' || *p == 'E')) {
                p++;
                if (p < end && (*p == '+' || *p == '-'))
                        p++;
                if (p >= end || !is_digit(*p))
                        return -1;
                while (p < end && is_digit(*p))
                        p++;
        }
        s->p = p;
        return 0;
}

static int scan_word(struct jscan *s, const char *w, size_t n)
{
        if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n))
                return -1;
        s->p += n;
        return 0;
}

static int scan_value(struct jscan *s, int depth, enum codec_json_kind *kind);

static inline bool is_ws(unsigned char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* At '{' or '['. Records members of the top-level object only (m != NULL).
 * Works on a local cursor (s->p only around the calls that read it): the
 * members written through m would otherwise make the compiler reload it. */
static inline __attribute__((always_inline)) int container(struct jscan *s, int depth, bool object,
                                                           struct codec_json_member *m, size_t max,
                                                           size_t *count)
{
        if (depth > 64)
                return -1;
        const unsigned char *p = s->p + 1, *const end = s->end;
#define WS()                                                                                       \
        do {                                                                                       \
                while (p < end && *p <= ' ' && is_ws(*p))                                          \
                        p++;                                                                       \
        } while (0)
        char close = object ? '}' : ']';
        size_t nm = 0;
        WS();
        if (p < end && *p == close) {
                s->p = p + 1;
                if (count)
                        *count = 0;
                return 0;
        }
        struct codec_json_member spare; /* a member not recorded */
        for (;;) {
                /* written in place: every field is set below */
                struct codec_json_member *cur = m && nm < max ? &m[nm] : &spare;
                if (object) {
                        if (p >= end || *p != '"' ||
                            string_at(s, &p, &cur->key, &cur->key_len, &cur->key_escaped) < 0)
                                return -1;
                        if (end - p >= 2 && p[0] == ':' && p[1] == '"') {
                                p++; /* compact, a string next: no whitespace to skip */
                        } else {
                                WS();
                                if (p >= end || *p != ':')
                                        return -1;
                                p++;
                                WS();
                        }
                } else {
                        cur->key = NULL;
                        cur->key_len = 0;
                        cur->key_escaped = false;
                }
                if (p >= end)
                        return -1;
                if (*p == '"') {
                        cur->kind = CODEC_JSON_STRING;
                        if (string_at(s, &p, &cur->val, &cur->val_len, &cur->val_escaped) < 0)
                                return -1;
                } else {
                        s->p = p;
                        if (scan_value(s, depth, &cur->kind) < 0)
                                return -1;
                        cur->val = (const char *)p;
                        cur->val_len = (size_t)(s->p - p);
                        cur->val_escaped = false;
                        p = s->p;
                }
                nm++;
                if (end - p >= 2 && p[0] == ',' && p[1] == '"') {
                        p++; /* compact, a string next */
                        continue;
                }
                WS();
                if (p >= end)
                        return -1;
                if (*p == ',') {
                        p++;
                        WS();
                        continue;
                }
                if (*p != close)
                        return -1;
                p++;
                break;
        }
#undef WS
        s->p = p;
        if (count)
                *count = nm;
        return 0;
}

/* A nested value: nothing recorded. */
static int scan_container(struct jscan *s, int depth, bool object)
{
        return container(s, depth, object, NULL, 0, NULL);
}

/* The top-level object, its members recorded: its own copy of the loop, the
 * object's checks made once at compile time. */
static int scan_members(struct jscan *s, struct codec_json_member *m, size_t max, size_t *count)
{
        return container(s, 1, true, m, max, count);
}

static int scan_value(struct jscan *s, int depth, enum codec_json_kind *kind)
{
        switch (*s->p) {
        case '{': *kind = CODEC_JSON_OBJECT; return scan_container(s, depth + 1, true);
        case '[': *kind = CODEC_JSON_ARRAY; return scan_container(s, depth + 1, false);
        case '"': {
                const char *in;
                size_t n;
                bool esc;
                *kind = CODEC_JSON_STRING;
                return scan_string(s, &in, &n, &esc);
        }
        case 't': *kind = CODEC_JSON_TRUE; return scan_word(s, "true", 4);
        case 'f': *kind = CODEC_JSON_FALSE; return scan_word(s, "false", 5);
        case 'n': *kind = CODEC_JSON_NULL; return scan_word(s, "null", 4);
        default: *kind = CODEC_JSON_NUMBER; return scan_number(s);
        }
}

#ifdef __SSE2__
/* The longest line scan_flat reads: its quote map is on the stack. */
#define FLAT_MAX 1024

/* The usual event, {"k":"v",...,"k":"v"}: string members only, no
 * whitespace, escape, control or byte from 0x7f. Such a line is read from a
 * map of where its quotes are, made 16 bytes a step: with no backslash every
 * quote opens or closes a string, so the strings are the quote pairs, and the
 * line is that object exactly when the byte between each pair is the ':' or
 * ',' the shape wants. Nothing waits on a byte loaded at a place found just
 * before (the general scanner's chain from one string to the next). Returns
 * the member count, or -1 when the line is not of this shape; the general
 * scanner then decides. n is 16 to FLAT_MAX, p[0] is '{' and p[n-1] '}'. */
/* The quote bits of the 16 bytes at p; *bad gets a bit for each that is a
 * backslash or outside 0x20-0x7e. */
static inline __attribute__((always_inline)) unsigned flat16(const unsigned char *p, unsigned *bad)
{
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i y = _mm_sub_epi8(v, _mm_set1_epi8(0x20));
        __m128i out = _mm_cmpeq_epi8(_mm_max_epu8(y, _mm_set1_epi8(0x5f)), y);
        *bad |=
            (unsigned)_mm_movemask_epi8(_mm_or_si128(out, _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
        return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')));
}

static int scan_flat(const unsigned char *p, size_t n, struct codec_json_member *m, size_t max)
{
        uint64_t q[FLAT_MAX / 64 + 1];
        unsigned bad = 0;
        size_t full = n / 64, words = (n + 63) / 64;
        for (size_t wi = 0; wi < full; wi++) {
                const unsigned char *b = p + wi * 64;
                q[wi] = (uint64_t)flat16(b, &bad) | (uint64_t)flat16(b + 16, &bad) << 16 |
                        (uint64_t)flat16(b + 32, &bad) << 32 | (uint64_t)flat16(b + 48, &bad) << 48;
        }
        if (words > full) {
                uint64_t acc = 0;
                for (size_t o = full * 64; o < n; o += 16) {
                        /* the last step reads the line's last 16 bytes: the
                         * ones before o are dropped from its quote bits */
                        size_t at = o + 16 <= n ? o : n - 16;
                        acc |= (uint64_t)(flat16(p + at, &bad) >> (o - at)) << (o % 64);
                }
                q[full] = acc;
        }
        if (bad)
                return -1;
        size_t base = 0, nm = 0, want = 1; /* where the next key's '"' must be */
        const uint64_t *wp = q, *const wend = q + words;
        uint64_t w = q[0];
#define NEXT(x)                                                                                    \
        do {                                                                                       \
                while (!w) {                                                                       \
                        if (++wp == wend)                                                          \
                                return -1;                                                         \
                        w = *wp;                                                                   \
                        base += 64;                                                                \
                }                                                                                  \
                x = base + (size_t)__builtin_ctzll(w);                                             \
                w &= w - 1;                                                                        \
        } while (0)
        for (;;) {
                size_t ko, kc, vo, vc; /* key open, key close, value open, value close */
                NEXT(ko);
                NEXT(kc);
                NEXT(vo);
                NEXT(vc);
                /* kc < n - 1 (p[n-1] is '}'): p[kc + 1] is in the line */
                if (ko != want || vo != kc + 2 || p[kc + 1] != ':')
                        return -1;
                if (nm < max) {
                        struct codec_json_member *cur = &m[nm];
                        cur->key = (const char *)p + ko + 1;
                        cur->key_len = kc - ko - 1;
                        cur->key_escaped = false;
                        cur->kind = CODEC_JSON_STRING;
                        cur->val = (const char *)p + vo + 1;
                        cur->val_len = vc - vo - 1;
                        cur->val_escaped = false;
                }
                nm++;
                if (vc + 2 == n) /* the '}' at n - 1, and no quote after */
                        return (int)nm;
                if (p[vc + 1] != ',')
                        return -1;
                want = vc + 2;
        }
#undef NEXT
}
#endif

int codec_json_scan(const char *p, size_t n, struct codec_json_member *m, size_t max,
                    unsigned *flags)
{
#ifdef __SSE2__
        if (n >= 16 && n <= FLAT_MAX && p[0] == '{' && p[n - 1] == '}') {
                int k = scan_flat((const unsigned char *)p, n, m, max);
                if (k >= 0) {
                        if (flags)
                                *flags = 0;
                        return k;
                }
        }
#endif
        struct jscan s = {(const unsigned char *)p, (const unsigned char *)p + n, 0};
        size_t count = 0;
        skip_ws(&s);
        if (s.p >= s.end || *s.p != '{' || scan_members(&s, m, max, &count) < 0)
                return -1;
        skip_ws(&s);
        if (s.p != s.end || count > INT32_MAX)
                return -1;
        if (flags)
                *flags = s.flags;
        return (int)count;
}

int codec_json_string(struct buf *out, const char *s, size_t n)
{
        if (buf_putc(out, '"') < 0 || codec_json_escape(out, s, n) < 0 || buf_putc(out, '"') < 0)
                return -1;
        return 0;
}

size_t codec_utf8_cut(const char *s, size_t n, size_t max)
{
        if (n <= max)
                return n;
        size_t i = max;
        while (i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80)
                i--;
        return i;
}
