/* logline: the normaliser, fed the input whole and at split points the input
 * chooses, emits each event as one line (grouping may differ: a read boundary
 * is information), within its caps. */

#include "buf.h"
#include "fuzz.h"
#include "logline.h"

struct sink {
        struct buf out;
        enum logline_out fmt;
};

static int emit(void *ctx, const struct logline_event *ev)
{
        struct sink *k = ctx;
        size_t before = k->out.len;
        if (logline_encode(ev, k->fmt, &k->out) < 0)
                return 0;
        /* one event, one line (text indents a message's continuation lines) */
        CHECK(k->out.len > before && k->out.data[k->out.len - 1] == '\n');
        if (k->fmt != LOGLINE_OUT_TEXT)
                CHECK(!memchr(k->out.data + before, '\n', k->out.len - before - 1));
        return 0;
}

static int64_t clock0(void *ctx)
{
        (void)ctx;
        return 1764658800000; /* 2025-12-02T07:00:00Z */
}

static void run(const struct logline_format *f, enum logline_out fmt, const uint8_t *d, size_t n,
                size_t step, struct buf *into)
{
        struct sink k = {.fmt = fmt};
        buf_init(&k.out, 1u << 24);
        struct logline_stream_opts o = {.src = LOGLINE_SRC_APP,
                                        .plain_level = LOGLINE_INFO,
                                        .fmt = f,
                                        .node = "app@pod",
                                        .emit = emit,
                                        .emit_ctx = &k,
                                        .clock = clock0,
                                        .max_line = 256,
                                        .max_event = 1024};
        struct logline_stream *s = logline_stream_new(&o);
        CHECK(s);
        for (size_t i = 0; i < n; i += step)
                logline_stream_feed(s, (const char *)d + i, n - i < step ? n - i : step);
        logline_stream_chunk_end(s);
        logline_stream_finish(s);
        logline_stream_free(s);
        *into = k.out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 2)
                return 0;
        /* first byte: output format and split step; the rest is the app's output */
        enum logline_out fmt = (enum logline_out)(data[0] % 3);
        size_t step = 1 + data[0] / 3 % 17;
        static struct logline_format *f;
        struct err e;
        if (!f && logline_format_new("$date $time [$level] $metadata| $message", &f, &e) < 0)
                abort();
        struct buf whole, split;
        run(f, fmt, data + 1, size - 1, size, &whole);
        run(f, fmt, data + 1, size - 1, step, &split);
        buf_fini(&whole);
        buf_fini(&split);
        /* the app format itself, from the input */
        char *fs = fuzz_cstr(data + 1, size - 1 < 200 ? size - 1 : 200);
        struct logline_format *g = NULL;
        if (fs && logline_format_new(fs, &g, &e) == 0) {
                struct logline_event ev;
                memset(&ev, 0, sizeof ev);
                logline_format_match(g, (const char *)data + 1, size - 1, clock0(NULL), &ev);
                logline_format_free(g);
        }
        free(fs);
        return 0;
}
