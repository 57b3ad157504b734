/* logline, the coordinator's side: whatever a pod prints, logline_text_safe
 * hands a terminal valid UTF-8 with no control but tab and newline, and the
 * key and level tables take any bytes. */
#include "fuzz.h"

#include "codec.h"
#include "logline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *s = (const char *)data;
        struct buf out;
        buf_init(&out, 8 * size + 16);
        CHECK(logline_text_safe(&out, s, size) == 0);
        const unsigned char *p = (const unsigned char *)out.data;
        for (size_t i = 0; i < out.len;) {
                uint32_t cp = 0;
                size_t k = codec_utf8_decode(p + i, out.len - i, &cp);
                CHECK(k > 0);
                CHECK(cp >= 0x20 || cp == '\t' || cp == '\n');
                CHECK(cp != 0x7f && (cp < 0x80 || cp > 0x9f));
                i += k;
        }
        /* plain text passes as it is */
        size_t j = 0;
        while (j < size && data[j] >= 0x20 && data[j] < 0x7f)
                j++;
        if (j == size)
                CHECK(out.len == size && (!size || !memcmp(out.data, s, size)));
        /* the plain prefix: as long as the bytes shown as they are */
        j = 0;
        while (j < size &&
               ((data[j] >= 0x20 && data[j] < 0x7f) || data[j] == '\t' || data[j] == '\n'))
                j++;
        CHECK(logline_plain_prefix(s, size) == j);
        buf_fini(&out);

        /* a cap that cuts: -1, and what was written is still safe */
        struct buf small;
        buf_init(&small, size / 2);
        if (logline_text_safe(&small, s, size) < 0)
                CHECK(small.len <= size / 2);
        for (size_t i = 0; i < small.len; i++)
                CHECK(small.data[i] != '\033');
        buf_fini(&small);

        (void)logline_key_role(s, size);
        enum logline_level l;
        if (logline_level_word(s, size, &l) == 0)
                CHECK(l <= LOGLINE_EMERGENCY && size <= 9);
        return 0;
}
