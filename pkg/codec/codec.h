/* codec: UTF-8, base64 and JSON text: the encodings several modules check or
 * write. codec_json_escape is the project's one JSON string escaper. */
#ifndef RELRUN_CODEC_H
#define RELRUN_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Decode one code point at s[0..n). Returns its length (1-4), or 0 when the
 * bytes are not valid UTF-8 (overlong forms, surrogates, > U+10FFFF, a
 * truncated sequence, n == 0). */
size_t codec_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* The length of the longest prefix of s[0..n) of at most max bytes that does
 * not end inside a UTF-8 sequence (n when n <= max). */
size_t codec_utf8_cut(const char *s, size_t n, size_t max);

/* Standard, padded base64 (RFC 4648 section 4) of p[0..n) appended to out.
 * Returns -1 only when out's cap is reached. */
int codec_base64_encode(const void *p, size_t n, struct buf *out);

/* Room codec_base64_decode needs for n input bytes. */
#define CODEC_BASE64_DECODED_MAX(n) ((n) / 4 * 3 + 3)

/* Decode standard, padded base64 into out (CODEC_BASE64_DECODED_MAX(n)
 * bytes of room), writing its length to *outlen. Whitespace is skipped (YAML
 * folds a wrapped scalar's line breaks into spaces); anything else outside
 * the alphabet, bad padding, data after padding, non-zero padding bits or a
 * length that is not a multiple of 4 is an error: -1, *outlen untouched. */
int codec_base64_decode(const char *s, size_t n, unsigned char *out, size_t *outlen);

/* ---- JSON ---------------------------------------------------------------- */

/* Append s[0..n) to out as the inside of a JSON string (no quotes): '"' and
 * '\\' escaped, control characters as \n \r \t \b \f or \u00XX (NUL
 * included), '/' left as it is, every byte that is not part of valid UTF-8
 * replaced by U+FFFD. Returns 0, or -1 when out's cap is reached (out then
 * holds what fitted before the cut, never half an escape). */
int codec_json_escape(struct buf *out, const char *s, size_t n);
/* Room codec_json_escape_to needs for n input bytes. */
#define CODEC_JSON_ESCAPED_MAX(n) ((n)*6)

/* codec_json_escape into caller storage: writes the inside of the JSON string
 * for s[0..n) at dst, which has CODEC_JSON_ESCAPED_MAX(n) bytes of room (the
 * escaper may store a little past what it finally keeps, never past that
 * room), and returns the end of what it wrote. No NUL is added. For encoders
 * that reserve one room per record and write in place. */
char *codec_json_escape_to(char *dst, const char *s, size_t n);
/* The same between double quotes. */
int codec_json_string(struct buf *out, const char *s, size_t n);

/* Append the decoded text of a JSON string's inside (escapes undone; \u
 * pairs joined, a lone surrogate becomes U+FFFD). s must have passed
 * codec_json_scan. Returns 0, or -1 at out's cap. */
int codec_json_unescape(struct buf *out, const char *s, size_t n);

enum codec_json_kind {
        CODEC_JSON_STRING,
        CODEC_JSON_NUMBER,
        CODEC_JSON_OBJECT,
        CODEC_JSON_ARRAY,
        CODEC_JSON_TRUE,
        CODEC_JSON_FALSE,
        CODEC_JSON_NULL,
};

/* One member of the top-level object, pointing into the scanned text. */
struct codec_json_member {
        const char *key; /* inside the quotes, escapes not undone */
        size_t key_len;
        const char *val; /* a string's inside, or the value's whole text */
        size_t val_len;
        enum codec_json_kind kind;
        bool key_escaped, val_escaped; /* a backslash inside */
};

#define CODEC_JSON_SLASH 1u /* the text writes "\/" somewhere */
#define CODEC_JSON_HIGH  2u /* a string holds a byte from 0x7f (DEL, non-ASCII) as it is */

/* Check that p[0..n) is exactly one JSON object (RFC 8259, strict UTF-8,
 * whitespace around it allowed, nesting at most 64 deep) and record its first
 * max top-level members in m, in order. No allocation. Returns the number of
 * members (all of them, even past max), or -1 when the text is not such an
 * object. *flags (may be NULL) gets CODEC_JSON_SLASH when "\/" occurs and
 * CODEC_JSON_HIGH when a string holds a byte from 0x7f unescaped: without it
 * every string that has no escape is printable ASCII. */
int codec_json_scan(const char *p, size_t n, struct codec_json_member *m, size_t max,
                    unsigned *flags);

/* Append p[0..n), which passed codec_json_scan, with every "\/" escape
 * written as "/". Returns 0, or -1 at out's cap. */
int codec_json_unslash(struct buf *out, const char *p, size_t n);

#endif
