#include "defaults.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yaml.h>

#define FILE_MAX    (1u << 20) /* a settings file is small; refuse anything bigger */
#define ENTRIES_MAX 512
#define VALUES_MAX  256

struct parse {
        yaml_parser_t p;
        yaml_event_t ev;
        bool have_ev;
        const char *path;
        struct defaults_file *f;
        struct err *e;
};

static int oom(struct err *e)
{
        return err_set(e, ERR_SOFTWARE, "out of memory");
}

__attribute__((format(printf, 3, 4))) static int line_err(struct parse *ps, int line,
                                                          const char *fmt, ...)
{
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        return err_set(ps->e, ERR_CONFIG, "%s:%d: %s", ps->path, line, msg);
}

/* The next event into ps->ev (the previous one is released). */
static int next(struct parse *ps)
{
        if (ps->have_ev)
                yaml_event_delete(&ps->ev);
        ps->have_ev = false;
        if (!yaml_parser_parse(&ps->p, &ps->ev))
                return err_set(ps->e, ERR_CONFIG, "%s:%zu: %s", ps->path,
                               ps->p.problem_mark.line + 1,
                               ps->p.problem ? ps->p.problem : "not YAML");
        ps->have_ev = true;
        if (ps->ev.type == YAML_ALIAS_EVENT)
                return line_err(ps, (int)ps->ev.start_mark.line + 1,
                                "aliases (*name) are not supported here");
        return 0;
}

static int line_of(struct parse *ps)
{
        return (int)ps->ev.start_mark.line + 1;
}

static const char *scalar(struct parse *ps)
{
        return (const char *)ps->ev.data.scalar.value;
}

/* A plain ~, null or empty scalar: no value. */
static bool is_null(struct parse *ps)
{
        const char *s = scalar(ps);
        return ps->ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
               (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
                !strcmp(s, "NULL"));
}

static int add_val(struct defaults_entry *en, const char *a, const char *b, struct err *e)
{
        if (en->n >= VALUES_MAX)
                return err_set(e, ERR_CONFIG, "\"%s\": too many values", en->key);
        char **v = realloc(en->vals, (en->n + 1) * sizeof *v);
        if (!v)
                return oom(e);
        en->vals = v;
        size_t len = strlen(a) + (b ? strlen(b) + 1 : 0) + 1;
        char *s = malloc(len);
        if (!s)
                return oom(e);
        snprintf(s, len, b ? "%s=%s" : "%s", a, b ? b : "");
        en->vals[en->n++] = s;
        return 0;
}

static struct defaults_entry *find(struct defaults_file *f, const char *key, const char *ctx)
{
        for (size_t i = 0; i < f->n; i++) {
                struct defaults_entry *en = &f->ents[i];
                if (!strcmp(en->key, key) &&
                    ((!ctx && !en->context) || (ctx && en->context && !strcmp(ctx, en->context))))
                        return en;
        }
        return NULL;
}

/* One key's value; ps->ev is the event after the key. */
static int value(struct parse *ps, struct defaults_entry *en)
{
        const int line = en->line;
        switch (ps->ev.type) {
        case YAML_SCALAR_EVENT:
                if (is_null(ps))
                        return line_err(ps, line, "\"%s\": no value (remove the line to unset it)",
                                        en->key);
                return add_val(en, scalar(ps), NULL, ps->e);
        case YAML_SEQUENCE_START_EVENT:
                en->list = true;
                for (;;) {
                        if (next(ps) < 0)
                                return -1;
                        if (ps->ev.type == YAML_SEQUENCE_END_EVENT)
                                return 0;
                        if (ps->ev.type != YAML_SCALAR_EVENT || is_null(ps))
                                return line_err(ps, line_of(ps),
                                                "\"%s\": a list item is one scalar value", en->key);
                        if (add_val(en, scalar(ps), NULL, ps->e) < 0)
                                return -1;
                }
        case YAML_MAPPING_START_EVENT:
                en->list = true;
                for (;;) {
                        if (next(ps) < 0)
                                return -1;
                        if (ps->ev.type == YAML_MAPPING_END_EVENT)
                                return 0;
                        if (ps->ev.type != YAML_SCALAR_EVENT)
                                return line_err(ps, line_of(ps), "\"%s\": a key is a scalar",
                                                en->key);
                        char *k = strdup(scalar(ps));
                        if (!k)
                                return oom(ps->e);
                        int rc = next(ps);
                        if (rc == 0 && (ps->ev.type != YAML_SCALAR_EVENT))
                                rc = line_err(ps, line_of(ps),
                                              "\"%s\": a mapping's values are scalars (KEY: VALUE)",
                                              en->key);
                        if (rc == 0)
                                rc = add_val(en, k, is_null(ps) ? "" : scalar(ps), ps->e);
                        free(k);
                        if (rc < 0)
                                return -1;
                }
        default: return line_err(ps, line, "\"%s\": unexpected value", en->key);
        }
}

/* A mapping of settings (the top level, or one context's); ps->ev is its
 * MAPPING_START. ctx NULL at the top level. */
static int settings(struct parse *ps, const char *ctx)
{
        for (;;) {
                if (next(ps) < 0)
                        return -1;
                if (ps->ev.type == YAML_MAPPING_END_EVENT)
                        return 0;
                if (ps->ev.type != YAML_SCALAR_EVENT)
                        return line_err(ps, line_of(ps), "a key is a flag's long name (a scalar)");
                int line = line_of(ps);
                const char *key = scalar(ps);
                if (!*key)
                        return line_err(ps, line, "an empty key");
                struct defaults_entry *dup = find(ps->f, key, ctx);
                if (dup) {
                        return line_err(ps, line, "\"%.200s\" is given twice (first on line %d)",
                                        key, dup->line);
                }
                if (!strcmp(key, "contexts")) {
                        if (ctx)
                                return line_err(ps, line,
                                                "\"contexts\" inside a context's section");
                        if (next(ps) < 0)
                                return -1;
                        if (ps->ev.type != YAML_MAPPING_START_EVENT)
                                return line_err(ps, line,
                                                "\"contexts\": want a mapping of context "
                                                "names to settings");
                        for (;;) {
                                if (next(ps) < 0)
                                        return -1;
                                if (ps->ev.type == YAML_MAPPING_END_EVENT)
                                        break;
                                if (ps->ev.type != YAML_SCALAR_EVENT || is_null(ps))
                                        return line_err(ps, line_of(ps),
                                                        "contexts: a context name is a scalar");
                                char *name = strdup(scalar(ps));
                                if (!name)
                                        return oom(ps->e);
                                int cline = line_of(ps);
                                int rc = next(ps);
                                if (rc == 0 && ps->ev.type != YAML_MAPPING_START_EVENT)
                                        rc = line_err(ps, cline,
                                                      "contexts: \"%s\": want a mapping of "
                                                      "settings",
                                                      name);
                                if (rc == 0)
                                        rc = settings(ps, name);
                                free(name);
                                if (rc < 0)
                                        return -1;
                        }
                        continue;
                }
                if (ps->f->n >= ENTRIES_MAX)
                        return line_err(ps, line, "too many settings");
                struct defaults_entry *ents =
                    realloc(ps->f->ents, (ps->f->n + 1) * sizeof *ps->f->ents);
                if (!ents)
                        return oom(ps->e);
                ps->f->ents = ents;
                struct defaults_entry *en = &ents[ps->f->n];
                memset(en, 0, sizeof *en);
                en->line = line;
                en->key = strdup(key);
                en->context = ctx ? strdup(ctx) : NULL;
                ps->f->n++; /* owned by f from here, freed with it */
                if (!en->key || (ctx && !en->context))
                        return oom(ps->e);
                if (next(ps) < 0 || value(ps, en) < 0)
                        return -1;
        }
}

int defaults_parse(const char *path, const char *text, size_t len, struct defaults_file **out,
                   struct err *e)
{
        struct parse ps = {.path = path, .e = e};
        ps.f = calloc(1, sizeof *ps.f);
        if (!ps.f || !(ps.f->path = strdup(path))) {
                free(ps.f);
                return oom(e);
        }
        if (!yaml_parser_initialize(&ps.p)) {
                defaults_free(ps.f);
                return oom(e);
        }
        yaml_parser_set_input_string(&ps.p, (const unsigned char *)text, len);
        int rc = next(&ps); /* STREAM_START */
        if (rc == 0)
                rc = next(&ps);
        if (rc == 0 && ps.ev.type == YAML_DOCUMENT_START_EVENT) {
                rc = next(&ps);
                if (rc == 0 && ps.ev.type == YAML_MAPPING_START_EVENT)
                        rc = settings(&ps, NULL);
                else if (rc == 0 && !(ps.ev.type == YAML_SCALAR_EVENT && is_null(&ps)))
                        rc = line_err(&ps, line_of(&ps),
                                      "want a mapping of settings (image: ..., release: ...)");
                if (rc == 0)
                        rc = next(&ps); /* DOCUMENT_END */
                if (rc == 0)
                        rc = next(&ps);
                if (rc == 0 && ps.ev.type != YAML_STREAM_END_EVENT)
                        rc = line_err(&ps, line_of(&ps), "one YAML document only");
        }
        if (ps.have_ev)
                yaml_event_delete(&ps.ev);
        yaml_parser_delete(&ps.p);
        if (rc < 0) {
                defaults_free(ps.f);
                return -1;
        }
        *out = ps.f;
        return 0;
}

/* The file's text, NUL-terminated; *text NULL when it does not exist. */
static int slurp(const char *path, char **text, size_t *len, struct err *e)
{
        FILE *fp = fopen(path, "r");
        *text = NULL;
        if (!fp) {
                if (errno == ENOENT || errno == ENOTDIR)
                        return 0;
                return err_sys(e, ERR_CONFIG, "%s", path);
        }
        char *buf = malloc(FILE_MAX + 1);
        if (!buf) {
                fclose(fp);
                return oom(e);
        }
        size_t n = fread(buf, 1, FILE_MAX + 1, fp);
        int bad = ferror(fp);
        fclose(fp);
        if (bad) {
                free(buf);
                return err_set(e, ERR_CONFIG, "%s: cannot read it", path);
        }
        if (n > FILE_MAX) {
                free(buf);
                return err_set(e, ERR_CONFIG, "%s: larger than %u bytes", path, FILE_MAX);
        }
        buf[n] = '\0';
        *text = buf;
        *len = n;
        return 0;
}

int defaults_load(const char *path, struct defaults_file **out, struct err *e)
{
        char *text;
        size_t len = 0;
        if (slurp(path, &text, &len, e) < 0)
                return -1;
        if (!text) {
                *out = NULL;
                return 0;
        }
        int rc = defaults_parse(path, text, len, out, e);
        free(text);
        return rc;
}

void defaults_free(struct defaults_file *f)
{
        if (!f)
                return;
        for (size_t i = 0; i < f->n; i++) {
                for (size_t j = 0; j < f->ents[i].n; j++)
                        free(f->ents[i].vals[j]);
                free(f->ents[i].vals);
                free(f->ents[i].key);
                free(f->ents[i].context);
        }
        free(f->ents);
        free(f->path);
        free(f);
}

int defaults_find_project(const char *dir, char *out, size_t n)
{
        char cur[4096];
        if (!dir || dir[0] != '/' || strlen(dir) >= sizeof cur)
                return 0;
        snprintf(cur, sizeof cur, "%s", dir);
        for (;;) {
                size_t len = strlen(cur);
                while (len > 1 && cur[len - 1] == '/')
                        cur[--len] = '\0';
                char cand[4200];
                snprintf(cand, sizeof cand, "%s%s" DEFAULTS_PROJECT_FILE, cur, len == 1 ? "" : "/");
                struct stat st;
                if (stat(cand, &st) == 0 && S_ISREG(st.st_mode)) {
                        if (strlen(cand) >= n)
                                return 0;
                        memcpy(out, cand, strlen(cand) + 1);
                        return 1;
                }
                if (len == 1)
                        return 0;
                char *slash = strrchr(cur, '/');
                if (slash == cur)
                        cur[1] = '\0';
                else
                        *slash = '\0';
        }
}

int defaults_user_path(const char *xdg, const char *home, char *out, size_t n)
{
        int w;
        if (xdg && xdg[0] == '/')
                w = snprintf(out, n, "%s/relrun/config.yaml", xdg);
        else if (home && *home)
                w = snprintf(out, n, "%s/.config/relrun/config.yaml", home);
        else
                return 0;
        return w > 0 && (size_t)w < n;
}

int defaults_kubeconfig_context(const char *path, char *out, size_t n)
{
        char *text;
        size_t len = 0;
        struct err e;
        if (slurp(path, &text, &len, &e) < 0 || !text)
                return 0;
        yaml_parser_t p;
        yaml_event_t ev;
        int found = 0, depth = 0;
        bool key = true, want = false, done = false;
        if (!yaml_parser_initialize(&p)) {
                free(text);
                return 0;
        }
        yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
        while (!done && yaml_parser_parse(&p, &ev)) {
                switch (ev.type) {
                case YAML_MAPPING_START_EVENT:
                case YAML_SEQUENCE_START_EVENT:
                        if (depth == 1)
                                key = true; /* a nested value at the top: next is a key */
                        depth++;
                        want = false;
                        break;
                case YAML_MAPPING_END_EVENT:
                case YAML_SEQUENCE_END_EVENT: depth--; break;
                case YAML_SCALAR_EVENT:
                        if (depth != 1)
                                break;
                        if (key) {
                                want =
                                    !strcmp((const char *)ev.data.scalar.value, "current-context");
                                key = false;
                        } else {
                                if (want && ev.data.scalar.length > 0 &&
                                    ev.data.scalar.length < n) {
                                        memcpy(out, ev.data.scalar.value,
                                               ev.data.scalar.length + 1);
                                        found = 1;
                                        done = true;
                                }
                                key = true;
                        }
                        break;
                case YAML_STREAM_END_EVENT:
                case YAML_DOCUMENT_END_EVENT: done = true; break;
                default: break;
                }
                yaml_event_delete(&ev);
        }
        yaml_parser_delete(&p);
        free(text);
        return found;
}
