/* logline, the coordinator's side: reading back the events relrun-pod wrote
 * (in any of its profiles) and making pod text safe to show on a terminal. */
#include <string.h>

#include "codec.h"
#include "logline.h"

struct key_role {
        const char *key;
        enum logline_role role;
};

/* Every profile's top-level keys (json, gcp, ecs, datadog). A key no profile
 * names is LOGLINE_ROLE_OTHER: a metadata field. */
static const struct key_role key_roles[] = {
    {"ts", LOGLINE_ROLE_TS},
    {"time", LOGLINE_ROLE_TS},
    {"timestamp", LOGLINE_ROLE_TS},
    {"@timestamp", LOGLINE_ROLE_TS},
    {"level", LOGLINE_ROLE_LEVEL},
    {"log.level", LOGLINE_ROLE_LEVEL},
    {"severity", LOGLINE_ROLE_LEVEL},
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
};

enum logline_role logline_key_role(const char *key, size_t n)
{
        /* The first byte rules out most keys of a metadata field at once. */
        for (size_t i = 0; i < sizeof key_roles / sizeof *key_roles; i++) {
                const char *k = key_roles[i].key;
                if (n && k[0] == key[0] && strlen(k) == n && !memcmp(k, key, n))
                        return key_roles[i].role;
        }
        return LOGLINE_ROLE_OTHER;
}

struct level_word {
        const char *word;
        enum logline_level level;
};

/* The collectors' words for a level (gcp "WARNING" and "DEFAULT", datadog
 * "warn", syslog's short forms) as Erlang names it. */
static const struct level_word level_words[] = {
    {"emergency", LOGLINE_EMERGENCY}, {"alert", LOGLINE_ALERT},     {"critical", LOGLINE_CRITICAL},
    {"error", LOGLINE_ERROR},         {"warning", LOGLINE_WARNING}, {"notice", LOGLINE_NOTICE},
    {"info", LOGLINE_INFO},           {"debug", LOGLINE_DEBUG},     {"warn", LOGLINE_WARNING},
    {"err", LOGLINE_ERROR},           {"crit", LOGLINE_CRITICAL},   {"emerg", LOGLINE_EMERGENCY},
    {"fatal", LOGLINE_EMERGENCY},     {"trace", LOGLINE_DEBUG},     {"default", LOGLINE_INFO},
};

int logline_level_word(const char *s, size_t n, enum logline_level *out)
{
        for (size_t i = 0; i < sizeof level_words / sizeof *level_words; i++) {
                const char *w = level_words[i].word;
                if (strlen(w) != n)
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
