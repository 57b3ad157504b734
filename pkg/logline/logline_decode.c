/* logline, the coordinator's side: reading back the events relrun-pod wrote
 * (in any of its profiles) and making pod text safe to show on a terminal. */
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "codec.h"
#include "logline.h"

/* Every profile's top-level keys (json, gcp, ecs, datadog), by length and
 * then one compare of a known size (five keys a line). A key no profile
 * names is LOGLINE_ROLE_OTHER: a metadata field. */
#define IS(lit) (!memcmp(key, lit, sizeof(lit) - 1))

enum logline_role logline_key_role(const char *key, size_t n)
{
        enum logline_role r = LOGLINE_ROLE_OTHER;
        switch (n) {
        case 2: r = IS("ts") ? LOGLINE_ROLE_TS : r; break;
        case 3: r = IS("src") ? LOGLINE_ROLE_SRC : IS("msg") ? LOGLINE_ROLE_MSG : r; break;
        case 4: r = IS("time") ? LOGLINE_ROLE_TS : IS("node") ? LOGLINE_ROLE_NODE : r; break;
        case 5: r = IS("level") ? LOGLINE_ROLE_LEVEL : r; break;
        case 6: r = IS("status") ? LOGLINE_ROLE_LEVEL : r; break;
        case 7: r = IS("message") ? LOGLINE_ROLE_MSG : r; break;
        case 8: r = IS("severity") ? LOGLINE_ROLE_LEVEL : r; break;
        case 9:
                r = IS("timestamp") ? LOGLINE_ROLE_TS : IS("log.level") ? LOGLINE_ROLE_LEVEL : r;
                break;
        case 10:
                r = IS("@timestamp") ? LOGLINE_ROLE_TS : IS("log.logger") ? LOGLINE_ROLE_SRC : r;
                break;
        case 11:
                r = IS("logger.name")   ? LOGLINE_ROLE_SRC
                    : IS("ecs.version") ? LOGLINE_ROLE_SKIP
                                        : r;
                break;
        case 17: r = IS("service.node.name") ? LOGLINE_ROLE_NODE : r; break;
        case 29: r = IS("logging.googleapis.com/labels") ? LOGLINE_ROLE_LABELS : r; break;
        default: break;
        }
        return r;
}
#undef IS

#define K(lit) lit, sizeof(lit) - 1

struct level_word {
        const char *word;
        size_t len;
        enum logline_level level;
};

/* The collectors' words for a level (gcp "WARNING" and "DEFAULT", datadog
 * "warn", syslog's short forms) as Erlang names it. */
static const struct level_word level_words[] = {
    /* the most frequent first: each line looks its level up */
    {K("info"), LOGLINE_INFO},       {K("debug"), LOGLINE_DEBUG},
    {K("warning"), LOGLINE_WARNING}, {K("error"), LOGLINE_ERROR},
    {K("notice"), LOGLINE_NOTICE},   {K("critical"), LOGLINE_CRITICAL},
    {K("alert"), LOGLINE_ALERT},     {K("emergency"), LOGLINE_EMERGENCY},
    {K("warn"), LOGLINE_WARNING},    {K("err"), LOGLINE_ERROR},
    {K("crit"), LOGLINE_CRITICAL},   {K("emerg"), LOGLINE_EMERGENCY},
    {K("fatal"), LOGLINE_EMERGENCY}, {K("trace"), LOGLINE_DEBUG},
    {K("default"), LOGLINE_INFO},
};

int logline_level_word(const char *s, size_t n, enum logline_level *out)
{
        for (size_t i = 0; i < sizeof level_words / sizeof *level_words; i++) {
                const char *w = level_words[i].word;
                if (level_words[i].len != n)
                        continue;
                size_t j = 0;
                while (j < n && (s[j] | 0x20) == w[j])
                        j++;
                if (j == n) {
                        *out = level_words[i].level;
                        return 0;
                }
        }
        return -1;
}

/* Bytes that go to a terminal as they are: printable ASCII, tab, newline. */
static bool plain_byte(unsigned char c)
{
        return (c >= 0x20 && c < 0x7f) || c == '\t' || c == '\n';
}

static int put_hex(struct buf *out, unsigned v)
{
        static const char hex[] = "0123456789abcdef";
        char b[4] = {'\\', 'x', hex[(v >> 4) & 0xf], hex[v & 0xf]};
        return buf_append(out, b, sizeof b);
}

size_t logline_plain_prefix(const char *s, size_t n)
{
        const unsigned char *p = (const unsigned char *)s;
        size_t i = 0;
#ifdef __SSE2__
        /* 16 a step: printable ASCII is 0x20-0x7e as signed bytes (0x80 and
         * up are negative), or a tab, or a newline */
        const __m128i lo = _mm_set1_epi8(0x1f), hi = _mm_set1_epi8(0x7f);
        const __m128i tab = _mm_set1_epi8('\t'), nl = _mm_set1_epi8('\n');
        for (; i + 16 <= n; i += 16) {
                __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
                __m128i ok = _mm_and_si128(_mm_cmpgt_epi8(v, lo), _mm_cmplt_epi8(v, hi));
                ok = _mm_or_si128(ok, _mm_or_si128(_mm_cmpeq_epi8(v, tab), _mm_cmpeq_epi8(v, nl)));
                unsigned bad = ~(unsigned)_mm_movemask_epi8(ok) & 0xffffu;
                if (bad)
                        return i + (size_t)__builtin_ctz(bad);
        }
#endif
        while (i < n && plain_byte(p[i]))
                i++;
        return i;
}

int logline_text_safe(struct buf *out, const char *s, size_t n)
{
        const unsigned char *p = (const unsigned char *)s;
        size_t i = 0;
        while (i < n) {
                size_t run = i + logline_plain_prefix(s + i, n - i);
                if (run > i && buf_append(out, p + i, run - i) < 0)
                        return -1;
                i = run;
                if (i == n)
                        break;
                if (p[i] < 0x80) { /* C0 control (ESC included) or DEL */
                        if (put_hex(out, p[i]) < 0)
                                return -1;
                        i++;
                        continue;
                }
                uint32_t cp;
                size_t k = codec_utf8_decode(p + i, n - i, &cp);
                if (k && cp >= 0x80 && cp <= 0x9f) {
                        /* C1 control written in UTF-8 (U+009B is a CSI) */
                        if (put_hex(out, cp) < 0)
                                return -1;
                } else if (k) {
                        if (buf_append(out, p + i, k) < 0)
                                return -1;
                } else if (p[i] <= 0x9f) {
                        /* a lone byte 0x80-0x9f: a C1 control to an 8-bit terminal */
                        if (put_hex(out, p[i]) < 0)
                                return -1;
                        k = 1;
                } else {
                        if (buf_append(out, "\xef\xbf\xbd", 3) < 0)
                                return -1;
                        k = 1;
                }
                i += k;
        }
        return 0;
}
