#include "codec.h"

#include <string.h>

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

/* ---- JSON strings ---- */

/* 1 where a byte cannot be copied as is into a JSON string. */
static unsigned char special[256];

static void init_special(void)
{
        if (special['"'])
                return;
        for (int i = 0; i < 0x20; i++)
                special[i] = 1;
        for (int i = 0x80; i < 0x100; i++)
                special[i] = 1;
        special['\\'] = 1;
        special['"'] = 1;
}

int codec_json_escape(struct buf *out, const char *s, size_t n)
{
        static const char hex[] = "0123456789abcdef";
        const unsigned char *p = (const unsigned char *)s;
        size_t i = 0, run = 0;
        init_special();
        while (i < n) {
                if (!special[p[i]]) {
                        i++;
                        continue;
                }
                if (p[i] >= 0x80) {
                        uint32_t cp;
                        size_t l = codec_utf8_decode(p + i, n - i, &cp);
                        if (l) {
                                i += l;
                                continue;
                        }
                }
                if (buf_append(out, s + run, i - run) < 0)
                        return -1;
                char esc[8];
                size_t el = 2;
                esc[0] = '\\';
                switch (p[i]) {
                case '"': esc[1] = '"'; break;
                case '\\': esc[1] = '\\'; break;
                case '\n': esc[1] = 'n'; break;
                case '\t': esc[1] = 't'; break;
                case '\r': esc[1] = 'r'; break;
                default:
                        if (p[i] >= 0x80) { /* invalid UTF-8: the replacement character */
                                memcpy(esc, "\\ufffd", 6);
                        } else {
                                memcpy(esc, "\\u00", 4);
                                esc[4] = hex[p[i] >> 4];
                                esc[5] = hex[p[i] & 15];
                        }
                        el = 6;
                }
                if (buf_append(out, esc, el) < 0)
                        return -1;
                run = ++i;
        }
        return buf_append(out, s + run, n - run);
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
