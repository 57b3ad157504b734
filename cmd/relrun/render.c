/* relrun: pod log lines for people ("HH:MM:SS.mmm level src msg k=v") or
 * passed through unchanged (-o json). Lines that are not relrun-pod's JSON
 * events are shown as they are. */
#include <stdio.h>
#include <string.h>

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

static const char *str_field(struct json_object *o, const char *k)
{
        struct json_object *v;
        if (!json_object_object_get_ex(o, k, &v))
                return NULL;
        return json_object_get_string(v);
}

static bool core_field(const char *k)
{
        return !strcmp(k, "ts") || !strcmp(k, "level") || !strcmp(k, "src") || !strcmp(k, "msg") ||
               !strcmp(k, "node");
}

void render_line(const struct render *r, const char *line, size_t len, FILE *out)
{
        struct json_object *o = NULL;
        if (!r->json && len && line[0] == '{') {
                struct json_tokener *tok = json_tokener_new();
                if (tok) {
                        o = json_tokener_parse_ex(tok, line, (int)len);
                        if (json_tokener_get_error(tok) != json_tokener_success ||
                            !json_object_is_type(o, json_type_object)) {
                                json_object_put(o);
                                o = NULL;
                        }
                        json_tokener_free(tok);
                }
        }
        const char *msg = o ? str_field(o, "msg") : NULL;
        if (!o || !msg) {
                fwrite(line, 1, len, out);
                fputc('\n', out);
                json_object_put(o);
                return;
        }
        const char *ts = str_field(o, "ts");
        const char *level = str_field(o, "level");
        const char *src = str_field(o, "src");
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
        json_object_object_foreach(o, k, v)
        {
                if (core_field(k) || !json_object_is_type(v, json_type_string))
                        continue;
                fprintf(out, " %s%s=%s%s", dim, k, json_object_get_string(v), reset);
        }
        if (nl)
                fputs(nl, out);
        fputc('\n', out);
        json_object_put(o);
}
