/* codec: UTF-8, base64 and JSON strings, the encodings several modules check
 * or write. */
#ifndef RELRUN_CODEC_H
#define RELRUN_CODEC_H

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

/* Append s[0..n) as the inside of a JSON string (no quotes): '"', '\\' and
 * control characters escaped, valid UTF-8 copied as is, each byte of invalid
 * UTF-8 as U+FFFD. Returns -1 only when out's cap is reached. */
int codec_json_escape(struct buf *out, const char *s, size_t n);
/* The same between double quotes. */
int codec_json_string(struct buf *out, const char *s, size_t n);

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

#endif
