/* cron: CronJob schedules, checked as the Kubernetes API server checks them. */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cron.h"

struct field {
        const char *name;
        int lo, hi;
        const char *const *names; /* index + lo is the value; NULL: numbers only */
        const char *hint;         /* after "out of range lo-hi" */
};

static const char *const months[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                     "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const struct field fields[5] = {
    {"minute", 0, 59, NULL, ""},
    {"hour", 0, 23, NULL, ""},
    {"day-of-month", 1, 31, NULL, ""},
    {"month", 1, 12, months, " or JAN-DEC"},
    /* robfig/cron (the API server's parser) has no 7 for Sunday. */
    {"day-of-week", 0, 6, days, " or SUN-SAT (Sunday is 0; Kubernetes has no 7)"},
};

#define TOKEN_MAX 64

/* One value: a number within the field's range or one of its names. */
static int value(const struct field *f, const char *field_text, const char *s, size_t n, int *out,
                 struct err *e)
{
        if (n == 0)
                return err_set(e, ERR_USAGE, "%s \"%s\": a number is missing", f->name, field_text);
        if (n >= TOKEN_MAX)
                return err_set(e, ERR_USAGE, "%s \"%s\": value too long", f->name, field_text);
        char tok[TOKEN_MAX];
        memcpy(tok, s, n);
        tok[n] = '\0';
        if (isdigit((unsigned char)tok[0])) {
                long v = 0;
                for (size_t i = 0; i < n; i++) {
                        if (!isdigit((unsigned char)tok[i]))
                                return err_set(e, ERR_USAGE, "%s \"%s\": \"%s\" is not a number",
                                               f->name, field_text, tok);
                        if (v < 100000)
                                v = v * 10 + (tok[i] - '0');
                }
                if (v < f->lo || v > f->hi)
                        return err_set(e, ERR_USAGE, "%s \"%s\": %s is out of range %d-%d%s",
                                       f->name, field_text, tok, f->lo, f->hi, f->hint);
                *out = (int)v;
                return 0;
        }
        if (f->names)
                for (int i = 0; f->names[i]; i++)
                        if (!strcasecmp(tok, f->names[i])) {
                                *out = f->lo + i;
                                return 0;
                        }
        if (f->names)
                return err_set(e, ERR_USAGE, "%s \"%s\": unknown name \"%s\" (want %d-%d%s)",
                               f->name, field_text, tok, f->lo, f->hi, f->hint);
        return err_set(e, ERR_USAGE, "%s \"%s\": \"%s\" is not a number (want %d-%d)", f->name,
                       field_text, tok, f->lo, f->hi);
}

/* One list item: "*", "?", a, a-b, each optionally followed by /step. */
static int item(const struct field *f, const char *field_text, const char *s, size_t n,
                struct err *e)
{
        if (n == 0)
                return err_set(e, ERR_USAGE, "%s \"%s\": empty list item", f->name, field_text);
        const char *slash = memchr(s, '/', n);
        size_t rn = slash ? (size_t)(slash - s) : n;
        if (slash) {
                const char *st = slash + 1;
                size_t sn = n - rn - 1;
                if (sn == 0)
                        return err_set(e, ERR_USAGE, "%s \"%s\": a step is missing after \"/\"",
                                       f->name, field_text);
                long step = 0;
                for (size_t i = 0; i < sn; i++) {
                        if (!isdigit((unsigned char)st[i]))
                                return err_set(e, ERR_USAGE,
                                               "%s \"%s\": step \"%.*s\" is not a number", f->name,
                                               field_text, (int)sn, st);
                        if (step < 100000)
                                step = step * 10 + (st[i] - '0');
                }
                if (step == 0)
                        return err_set(e, ERR_USAGE, "%s \"%s\": a step must be at least 1",
                                       f->name, field_text);
        }
        if (rn == 1 && (s[0] == '*' || s[0] == '?'))
                return 0;
        const char *dash = memchr(s, '-', rn);
        int a, b;
        if (value(f, field_text, s, dash ? (size_t)(dash - s) : rn, &a, e) < 0)
                return -1;
        if (!dash)
                return 0;
        if (value(f, field_text, dash + 1, rn - (size_t)(dash - s) - 1, &b, e) < 0)
                return -1;
        if (a > b)
                return err_set(e, ERR_USAGE, "%s \"%s\": range start %d is after its end %d",
                               f->name, field_text, a, b);
        return 0;
}

static int field(const struct field *f, const char *s, size_t n, struct err *e)
{
        char text[TOKEN_MAX * 2];
        snprintf(text, sizeof text, "%.*s", (int)n, s);
        const char *p = s, *end = s + n;
        for (;;) {
                const char *comma = memchr(p, ',', (size_t)(end - p));
                const char *stop = comma ? comma : end;
                if (item(f, text, p, (size_t)(stop - p), e) < 0)
                        return -1;
                if (!comma)
                        return 0;
                p = comma + 1;
        }
}

int cron_check(const char *s, struct err *e)
{
        static const char *const macros[] = {"@yearly", "@annually", "@monthly", "@weekly",
                                             "@daily",  "@midnight", "@hourly",  NULL};
        if (!s)
                return err_set(e, ERR_USAGE, "empty schedule");
        while (isspace((unsigned char)*s))
                s++;
        if (!*s)
                return err_set(e, ERR_USAGE, "empty schedule");
        if (!strncmp(s, "CRON_TZ=", 8) || !strncmp(s, "TZ=", 3) || strstr(s, "TZ="))
                return err_set(e, ERR_USAGE,
                               "a time zone prefix (CRON_TZ=, TZ=) is rejected by Kubernetes; "
                               "use --time-zone, e.g. --time-zone Europe/Berlin");
        if (s[0] == '@') {
                size_t n = strcspn(s, " \t\r\n");
                if (n == 6 && !strncmp(s, "@every", 6))
                        return err_set(e, ERR_USAGE,
                                       "@every is not valid for a CronJob; use a 5-field line, "
                                       "e.g. \"*/15 * * * *\" for every 15 minutes");
                for (const char *const *m = macros; *m; m++)
                        if (strlen(*m) == n && !strncmp(s, *m, n)) {
                                if (s[n + strspn(s + n, " \t\r\n")])
                                        return err_set(e, ERR_USAGE, "%s takes nothing after it",
                                                       *m);
                                return 0;
                        }
                return err_set(e, ERR_USAGE,
                               "unknown macro \"%.*s\" (want @yearly, @annually, @monthly, "
                               "@weekly, @daily, @midnight or @hourly)",
                               (int)(n > 32 ? 32 : n), s);
        }
        for (const char *p = s; *p; p++)
                if (!isalnum((unsigned char)*p) && !strchr("*/,-? \t\r\n", *p))
                        return err_set(e, ERR_USAGE, "unexpected \"%c\"", *p);
        const char *start[6];
        size_t len[6];
        int n = 0;
        for (const char *p = s; *p;) {
                p += strspn(p, " \t\r\n");
                if (!*p)
                        break;
                size_t k = strcspn(p, " \t\r\n");
                if (n < 6) {
                        start[n] = p;
                        len[n] = k;
                }
                n++;
                p += k;
        }
        if (n != 5)
                return err_set(e, ERR_USAGE,
                               "want 5 fields (minute hour day-of-month month day-of-week), got %d",
                               n);
        for (int i = 0; i < 5; i++) {
                if (len[i] >= TOKEN_MAX)
                        return err_set(e, ERR_USAGE, "%s: field too long", fields[i].name);
                if (field(&fields[i], start[i], len[i], e) < 0)
                        return -1;
        }
        return 0;
}
