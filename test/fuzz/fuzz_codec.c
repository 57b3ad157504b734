/* codec: the UTF-8 decoder, strict base64 round-trip, and the JSON scanner's
 * one-shape fast path read as its general path reads. */

#include "buf.h"
#include "codec.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* A decode takes 1-4 bytes of a valid code point, or 0 (invalid). */
        for (size_t i = 0; i < size;) {
                uint32_t cp = 0;
                size_t n = codec_utf8_decode(data + i, size - i, &cp);
                CHECK(n <= 4 && n <= size - i);
                if (n)
                        CHECK(cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff) &&
                              (n == 1) == (cp < 0x80));
                i += n ? n : 1;
        }
        unsigned char *out = malloc(CODEC_BASE64_DECODED_MAX(size) + 1);
        if (!out)
                abort();
        size_t outlen = 0;
        if (codec_base64_decode((const char *)data, size, out, &outlen) == 0) {
                CHECK(outlen <= CODEC_BASE64_DECODED_MAX(size));
                /* What decoded encodes back to the input without whitespace. */
                struct buf b;
                buf_init(&b, 4 * size + 16);
                CHECK(codec_base64_encode(out, outlen, &b) == 0);
                size_t k = 0;
                for (size_t i = 0; i < size; i++)
                        if (!strchr(" \t\r\n", data[i]))
                                CHECK(k < b.len && (uint8_t)b.data[k++] == data[i]);
                CHECK(k == b.len);
                buf_fini(&b);
        }
        free(out);
        /* " " + data takes the general path (the fast one wants '{' first):
         * the same count, flags and members at the same offsets. */
        if (size < 1100) {
                char spaced[1101];
                spaced[0] = ' ';
                memcpy(spaced + 1, data, size);
                struct codec_json_member a[8], b[8];
                unsigned fa = 0, fb = 0;
                int na = codec_json_scan((const char *)data, size, a, 8, &fa);
                int nb = codec_json_scan(spaced, size + 1, b, 8, &fb);
                CHECK(na == nb);
                CHECK(na < 0 || fa == fb);
                for (int i = 0; i < na && i < 8; i++)
                        CHECK(a[i].key - (const char *)data == b[i].key - (spaced + 1) &&
                              a[i].key_len == b[i].key_len && a[i].kind == b[i].kind &&
                              a[i].key_escaped == b[i].key_escaped &&
                              a[i].val - (const char *)data == b[i].val - (spaced + 1) &&
                              a[i].val_len == b[i].val_len && a[i].val_escaped == b[i].val_escaped);
        }
        return 0;
}
