#include "buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
        b->data = NULL;
        b->len = 0;
        b->alloc = 0;
        b->max = max;
}

void buf_fini(struct buf *b)
{
        free(b->data);
        b->data = NULL;
        b->len = 0;
        b->alloc = 0;
}

static int buf_reserve(struct buf *b, size_t n)
{
        if (n > b->max - b->len) {
                errno = ENOBUFS;
                return -1;
        }
        size_t need = b->len + n + 1;
        if (need <= b->alloc)
                return 0;
        size_t na = b->alloc ? b->alloc : 64;
        while (na < need)
                na *= 2;
        if (na > b->max + 1)
                na = b->max + 1;
        char *p = realloc(b->data, na);
        if (!p) {
                errno = ENOMEM;
                return -1;
        }
        b->data = p;
        b->alloc = na;
        return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
        if (buf_reserve(b, n) < 0)
                return -1;
        if (n)
                memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
}

char *buf_room_grow(struct buf *b, size_t n)
{
        if (buf_reserve(b, n) < 0)
                return NULL;
        return b->data + b->len;
}

int buf_puts(struct buf *b, const char *s)
{
        return buf_append(b, s, strlen(s));
}

int buf_putc(struct buf *b, char c)
{
        return buf_append(b, &c, 1);
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
        va_list ap2;
        va_copy(ap2, ap);
        int n = vsnprintf(NULL, 0, fmt, ap2);
        va_end(ap2);
        if (n < 0)
                return -1;
        if (buf_reserve(b, (size_t)n) < 0)
                return -1;
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        b->len += (size_t)n;
        return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = buf_vprintf(b, fmt, ap);
        va_end(ap);
        return r;
}

void buf_consume(struct buf *b, size_t n)
{
        if (n >= b->len) {
                buf_reset(b);
                return;
        }
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
        b->data[b->len] = '\0';
}

const char *buf_str(const struct buf *b)
{
        return b->data ? b->data : "";
}

char *buf_detach(struct buf *b)
{
        char *s = b->data ? b->data : strdup("");
        b->data = NULL;
        b->len = 0;
        b->alloc = 0;
        return s;
}
