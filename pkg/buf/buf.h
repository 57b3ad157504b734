/* buf: a growable byte buffer with a hard cap (curl's dynbuf "toobig").
 *
 * The data is always NUL-terminated so it can be used as a C string; len does
 * not count the terminator. Caller storage: buf_init / buf_fini. */
#ifndef RELRUN_BUF_H
#define RELRUN_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
        char *data; /* NULL until the first append; use buf_str() for a C string */
        size_t len;
        size_t alloc;
        size_t max; /* len never exceeds this */
};

/* Empty buffer that may hold at most max bytes. */
void buf_init(struct buf *b, size_t max);
/* Release the memory; the buffer may be reused after buf_init. */
void buf_fini(struct buf *b);
/* Forget the contents, keep the memory. */
static inline void buf_reset(struct buf *b)
{
        b->len = 0;
        if (b->data)
                b->data[0] = '\0';
}

/* Append n bytes. Returns 0, or -1 (nothing appended) if the cap would be
 * passed or memory ran out (errno ENOBUFS or ENOMEM). */
#define BUF_MUST_CHECK __attribute__((warn_unused_result))
BUF_MUST_CHECK int buf_append(struct buf *b, const void *p, size_t n);
BUF_MUST_CHECK int buf_puts(struct buf *b, const char *s);
BUF_MUST_CHECK int buf_putc(struct buf *b, char c);
BUF_MUST_CHECK int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
BUF_MUST_CHECK int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Room for n more bytes: returns where they go (data + len), or NULL (errno
 * ENOBUFS or ENOMEM) past the cap. Write at most n bytes there, then
 * buf_grew with how many were written. For encoders that write in place;
 * inline, as the room is nearly always there already. */
char *buf_room_grow(struct buf *b, size_t n);
static inline char *buf_room(struct buf *b, size_t n)
{
        /* alloc > len always holds once data is set (room for the NUL) */
        if (b->data && n < b->alloc - b->len)
                return b->data + b->len;
        return buf_room_grow(b, n);
}
/* Count n bytes written at buf_room's pointer (n <= the room asked for). */
static inline void buf_grew(struct buf *b, size_t n)
{
        b->len += n;
        b->data[b->len] = '\0';
}

/* Drop the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);

/* The contents as a C string ("" when empty); borrowed. */
const char *buf_str(const struct buf *b);

/* Take the heap string out (caller frees with free()); the buffer is emptied.
 * Returns NULL on allocation failure. */
char *buf_detach(struct buf *b);

#endif
