/* relrun config view: the settings relrun would use here and where each one
 * comes from (a flag, RELRUN_*, relrun.yaml, the user's config.yaml, a
 * default). */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "relrun.h"

static const char *src_name(enum opts_src s)
{
        switch (s) {
        case SRC_DEFAULT: return "default";
        case SRC_USER: return "user file";
        case SRC_PROJECT: return "project file";
        case SRC_ENV: return "environment";
        case SRC_FLAG: return "flag";
        default: return "unset";
        }
}

/* "relrun.yaml:4 (contexts.prod)", "$RELRUN_IMAGE", "--image", "default". */
static void origin(const struct opts_setting *s, char *out, size_t n)
{
        switch (s->src) {
        case SRC_USER:
        case SRC_PROJECT:
                snprintf(out, n, "%s:%d%s%s%s", s->where, s->line, s->context ? " (contexts." : "",
                         s->context ? s->context : "", s->context ? ")" : "");
                break;
        case SRC_ENV: snprintf(out, n, "$%s", s->where); break;
        case SRC_FLAG: snprintf(out, n, "--%s", s->name); break;
        default: snprintf(out, n, "%s", src_name(s->src)); break;
        }
}

/* A value on one line: control characters as \n, \t, \xNN. */
static void put_value(const char *v, FILE *f)
{
        for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
                if (*p == '\n')
                        fputs("\\n", f);
                else if (*p == '\t')
                        fputs("\\t", f);
                else if (*p < 0x20 || *p == 0x7f)
                        fprintf(f, "\\x%02x", *p);
                else
                        fputc(*p, f);
        }
}

static int view_json(const struct opts *o, const struct opts_files *fu)
{
        json_object *root = json_object_new_object(), *files = json_object_new_object(),
                    *list = json_object_new_array();
        if (!root || !files || !list) {
                json_object_put(root);
                json_object_put(files);
                json_object_put(list);
                return -1;
        }
        json_object_object_add(files, "project",
                               fu->project ? json_object_new_string(fu->project) : NULL);
        json_object_object_add(files, "user", fu->user ? json_object_new_string(fu->user) : NULL);
        json_object_object_add(files, "user_exists", json_object_new_boolean(fu->user_exists));
        json_object_object_add(root, "files", files); /* files given away */
        json_object_object_add(root, "context",
                               fu->context ? json_object_new_string(fu->context) : NULL);
        json_object_object_add(root, "context_from",
                               fu->context_from ? json_object_new_string(fu->context_from) : NULL);
        struct opts_setting s;
        for (size_t i = 0; opts_setting_at(o, i, &s); i++) {
                if (s.src == SRC_NONE)
                        continue;
                json_object *it = json_object_new_object(), *vals = json_object_new_array();
                char from[4300];
                origin(&s, from, sizeof from);
                json_object_object_add(it, "name", json_object_new_string(s.name));
                for (size_t k = 0; k < s.n; k++)
                        json_object_array_add(vals, json_object_new_string(s.vals[k]));
                json_object_object_add(it, "values", vals);
                json_object_object_add(it, "source", json_object_new_string(src_name(s.src)));
                json_object_object_add(it, "origin", json_object_new_string(from));
                if (s.src == SRC_USER || s.src == SRC_PROJECT) {
                        json_object_object_add(it, "file", json_object_new_string(s.where));
                        json_object_object_add(it, "line", json_object_new_int(s.line));
                }
                if (s.context)
                        json_object_object_add(it, "context", json_object_new_string(s.context));
                json_object_array_add(list, it);
        }
        json_object_object_add(root, "settings", list); /* list given away */
        puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
                                                      JSON_C_TO_STRING_SPACED |
                                                      JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(root);
        return 0;
}

int cmd_config(const struct opts *o, struct err *e)
{
        if (strcmp(o->pos[0], "view") != 0)
                return err_set(e, ERR_USAGE, "config: unknown action \"%s\" (want view)",
                               o->pos[0]),
                       ERR_USAGE;
        struct opts_files fu;
        opts_files_used(&fu);
        if (o->output && !strcmp(o->output, "json")) {
                if (view_json(o, &fu) < 0)
                        return err_set(e, ERR_SOFTWARE, "config: out of memory"), ERR_SOFTWARE;
                return 0;
        }
        printf("project file  %s\n",
               fu.project ? fu.project : "none (no relrun.yaml here or in a parent directory)");
        printf("user file     %s%s\n", fu.user ? fu.user : "none (no XDG_CONFIG_HOME or HOME)",
               fu.user && !fu.user_exists ? " (not there)" : "");
        if (fu.context)
                printf("context       %s (from %s)\n", fu.context, fu.context_from);
        else
                printf("context       none chosen (no file has a contexts: section, or no "
                       "current-context)\n");
        printf("\n%-20s %-44s %s\n", "SETTING", "VALUE", "FROM");
        struct opts_setting s;
        for (size_t i = 0; opts_setting_at(o, i, &s); i++) {
                if (s.src == SRC_NONE)
                        continue;
                char from[4300];
                origin(&s, from, sizeof from);
                for (size_t k = 0; k < (s.n ? s.n : 1); k++) {
                        printf("%-20s ", k ? "" : s.name);
                        /* pad the value column by hand: it may hold escapes */
                        char val[1024] = "";
                        FILE *m = fmemopen(val, sizeof val - 1, "w");
                        if (m) {
                                if (s.n)
                                        put_value(s.vals[k], m);
                                fclose(m);
                        }
                        printf("%-44s %s\n", val, k ? "" : from);
                }
        }
        return 0;
}
