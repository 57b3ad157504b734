#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void err_clear(struct err *e)
{
        if (!e)
                return;
        e->code = 0;
        e->sys_errno = 0;
        e->msg[0] = '\0';
}

int err_set(struct err *e, int code, const char *fmt, ...)
{
        if (!e)
                return -1;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        e->code = code;
        e->sys_errno = 0;
        return -1;
}

int err_sys(struct err *e, int code, const char *fmt, ...)
{
        int saved = errno;
        if (!e)
                return -1;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < sizeof e->msg)
                snprintf(e->msg + n, sizeof e->msg - (size_t)n, ": %s", strerror(saved));
        e->code = code;
        e->sys_errno = saved;
        errno = saved;
        return -1;
}

int err_prefix(struct err *e, const char *fmt, ...)
{
        if (!e)
                return -1;
        char pre[ERR_MSG_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(pre, sizeof pre, fmt, ap);
        va_end(ap);
        char both[2 * ERR_MSG_MAX + 8];
        snprintf(both, sizeof both, "%s: %s", pre, e->msg);
        size_t n = strlen(both);
        if (n >= sizeof e->msg)
                n = sizeof e->msg - 1;
        memcpy(e->msg, both, n);
        e->msg[n] = '\0';
        return -1;
}
