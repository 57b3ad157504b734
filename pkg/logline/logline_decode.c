/* logline, the coordinator's side: reading back the events relrun-pod wrote
 * (in any of its profiles) and making pod text safe to show on a terminal. */
#include <string.h>

#include "codec.h"
#include "logline.h"

struct key_role {
        const char *key;
        size_t len;
        enum logline_role role;
};
#define K(lit) lit, sizeof(lit) - 1

/* Every profile's top-level keys (json, gcp, ecs, datadog). A key no profile
 * names is LOGLINE_ROLE_OTHER: a metadata field. */
static const struct key_role key_roles[] = {
    {K("ts"), LOGLINE_ROLE_TS},
    {K("time"), LOGLINE_ROLE_TS},
    {K("timestamp"), LOGLINE_ROLE_TS},
    {K("@timestamp"), LOGLINE_ROLE_TS},
    {K("level"), LOGLINE_ROLE_LEVEL},
    {K("log.level"), LOGLINE_ROLE_LEVEL},
    {K("severity"), LOGLINE_ROLE_LEVEL},
    {K("status"), LOGLINE_ROLE_LEVEL},
    {K("src"), LOGLINE_ROLE_SRC},
    {K("log.logger"), LOGLINE_ROLE_SRC},
    {K("logger.name"), LOGLINE_ROLE_SRC},
    {K("msg"), LOGLINE_ROLE_MSG},
    {K("message"), LOGLINE_ROLE_MSG},
    {K("node"), LOGLINE_ROLE_NODE},
    {K("service.node.name"), LOGLINE_ROLE_NODE},
    {K("logging.googleapis.com/labels"), LOGLINE_ROLE_LABELS},
    {K("ecs.version"), LOGLINE_ROLE_SKIP},
};

enum logline_role logline_key_role(const char *key, size_t n)
{
        /* Length and first byte rule out most keys before a compare. */
        for (size_t i = 0; i < sizeof key_roles / sizeof *key_roles; i++) {
                const char *k = key_roles[i].key;
                if (key_roles[i].len == n && k[0] == key[0] && !memcmp(k, key, n))
                        return key_roles[i].role;
        }
        return LOGLINE_ROLE_OTHER;
}

struct level_word {
        const char *word;
        size_t len;
        enum logline_level level;
};

/* The collectors' words for a level (gcp "WARNING" and "DEFAULT", datadog
 * "warn", syslog's short forms) as Erlang names it. */
static const struct level_word level_words[] = {
    {K("emergency"), LOGLINE_EMERGENCY}, {K("alert"), LOGLINE_ALERT},
    {K("critical"), LOGLINE_CRITICAL},   {K("error"), LOGLINE_ERROR},
    {K("warning"), LOGLINE_WARNING},     {K("notice"), LOGLINE_NOTICE},
    {K("info"), LOGLINE_INFO},           {K("debug"), LOGLINE_DEBUG},
    {K("warn"), LOGLINE_WARNING},        {K("err"), LOGLINE_ERROR},
    {K("crit"), LOGLINE_CRITICAL},       {K("emerg"), LOGLINE_EMERGENCY},
    {K("fatal"), LOGLINE_EMERGENCY},     {K("trace"), LOGLINE_DEBUG},
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

int logline_text_safe(struct buf *out, const char *s, size_t n)
{
        const unsigned char *p = (const unsigned char *)s;
        size_t i = 0;
        while (i < n) {
                size_t run = i;
                while (run < n && plain_byte(p[run]))
                        run++;
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
