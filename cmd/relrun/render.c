/* relrun: pod log lines for people ("HH:MM:SS.mmm level src msg k=v") or
 * passed through unchanged (-o json). Lines that are not relrun-pod's JSON
 * events (logline_decode) are shown as they are. */
#include <stdio.h>
#include <string.h>

#include "logline.h"
#include "relrun.h"

static const char *level_color(const char *level)
{
        if (!strcmp(level, "error") || !strcmp(level, "critical") || !strcmp(level, "alert") ||
            !strcmp(level, "emergency"))
                return "\033[31m";
        if (!strcmp(level, "warning") || !strcmp(level, "warn"))
                return "\033[33m";
        if (!strcmp(level, "debug"))
                return "\033[2m";
        return "";
}

/* s dimmed, each of its lines on its own: a terminal that shows the next line
 * must not find the dim still on (a field value may hold a newline). */
static void put_dim(FILE *out, const char *dim, const char *reset, const char *s)
{
        for (;;) {
                const char *nl = strchr(s, '\n');
                int n = nl ? (int)(nl - s) : (int)strlen(s);
                fprintf(out, "%s%.*s%s", n ? dim : "", n, s, n ? reset : "");
                if (!nl)
                        return;
                fputc('\n', out);
                s = nl + 1;
        }
}

void render_line(const struct render *r, const char *line, size_t len, FILE *out)
{
        struct logline_decoded d;
        if (r->json || logline_decode(line, len, &d) < 0) {
                fwrite(line, 1, len, out);
                fputc('\n', out);
                return;
        }
        const char *ts = d.ts, *level = d.level, *src = d.src, *msg = d.msg;
        /* "2026-11-23T06:00:00.123Z" -> "06:00:00.123" */
        char hms[16] = "";
        if (ts && strlen(ts) >= 19 && ts[10] == 'T')
                snprintf(hms, sizeof hms, "%.12s", ts + 11);
        if (hms[0] && hms[strlen(hms) - 1] == 'Z')
                hms[strlen(hms) - 1] = '\0';
        const char *col = r->color && level ? level_color(level) : "";
        const char *dim = r->color ? "\033[2m" : "";
        const char *reset = r->color ? "\033[0m" : "";
        /* The first line of a multi-line message (stack trace, report)
         * carries the header and the metadata; the rest follows as is. */
        const char *nl = strchr(msg, '\n');
        int first = nl ? (int)(nl - msg) : (int)strlen(msg);
        fprintf(out, "%s%s%s %s%-7s%s %s%-6s%s %.*s", dim, hms[0] ? hms : "--:--:--.---", reset,
                col, level ? level : "info", *col ? reset : "", dim, src ? src : "", reset, first,
                msg);
        for (size_t i = 0; i < d.nfields; i++) {
                fprintf(out, " %s%s=%s", dim, d.fields[i].key, reset);
                put_dim(out, dim, reset, d.fields[i].val);
        }
        if (nl)
                fputs(nl, out);
        fputc('\n', out);
        logline_decoded_fini(&d);
}
