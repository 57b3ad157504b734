#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int cli_parse_int(const char *flag, const char *s, int64_t min, int64_t max, int64_t *out,
                  struct err *e)
{
        if (!s || !*s || isspace((unsigned char)*s))
                return err_set(e, ERR_USAGE, "%s: expects a number", flag);
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (*end || errno)
                return err_set(e, ERR_USAGE, "%s \"%s\": not a whole number", flag, s);
        if (v < min || v > max)
                return err_set(e, ERR_USAGE, "%s %lld: out of range %lld..%lld", flag, v,
                               (long long)min, (long long)max);
        *out = v;
        return 0;
}

int cli_parse_duration(const char *flag, const char *s, int64_t *ms, struct err *e)
{
        static const int64_t limit = INT64_C(1) << 50;
        const char *p = s;
        int64_t total = 0;
        if (!s || !*s)
                goto bad;
        while (*p) {
                if (!isdigit((unsigned char)*p))
                        goto bad;
                int64_t n = 0;
                while (isdigit((unsigned char)*p)) {
                        n = n * 10 + (*p++ - '0');
                        if (n > limit)
                                goto bad;
                }
                int64_t unit;
                if (strncmp(p, "ms", 2) == 0) {
                        unit = 1;
                        p += 2;
                } else if (*p == 's') {
                        unit = 1000;
                        p++;
                } else if (*p == 'm') {
                        unit = 60 * 1000;
                        p++;
                } else if (*p == 'h') {
                        unit = 3600 * 1000;
                        p++;
                } else if (*p == '\0' && p != s && total == 0) {
                        unit = 1000; /* a bare number means seconds */
                } else {
                        goto bad;
                }
                total += n * unit;
                if (total > limit)
                        goto bad;
        }
        *ms = total;
        return 0;
bad:
        return err_set(e, ERR_USAGE, "%s \"%s\": not a duration (examples: 30s, 5m, 1h30m, 250ms)",
                       flag, s ? s : "");
}
