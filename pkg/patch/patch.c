#include "patch.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 100

static int oom(struct err *e)
{
        return err_set(e, ERR_SOFTWARE, "patch: out of memory");
}

static json_object *copy(json_object *o)
{
        json_object *c = NULL;
        if (o == NULL)
                return NULL;
        if (json_object_deep_copy(o, &c, NULL) < 0)
                return NULL;
        return c;
}

int patch_type_parse(const char *name, enum patch_type *out, struct err *e)
{
        if (name && !strcmp(name, "merge"))
                *out = PATCH_MERGE;
        else if (name && !strcmp(name, "strategic"))
                *out = PATCH_STRATEGIC;
        else if (name && !strcmp(name, "json"))
                *out = PATCH_JSON;
        else
                return err_set(e, ERR_USAGE,
                               "--override-type \"%s\": want merge, strategic or json",
                               name ? name : "");
        return 0;
}

/* ---- merge and strategic merge -------------------------------------------- */

/* The merge key of a list in a pod template, or NULL: replace the list. */
static const char *merge_key(const char *field)
{
        static const char *const by_name[] = {"containers",
                                              "initContainers",
                                              "ephemeralContainers",
                                              "volumes",
                                              "env",
                                              "imagePullSecrets",
                                              NULL};
        for (const char *const *f = by_name; *f; f++)
                if (!strcmp(field, *f))
                        return "name";
        if (!strcmp(field, "volumeMounts"))
                return "mountPath";
        if (!strcmp(field, "ports"))
                return "containerPort";
        return NULL;
}

static const char *directive(json_object *o)
{
        json_object *d;
        if (json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "$patch", &d))
                return json_object_get_string(d);
        return NULL;
}

/* A new object: the merge of patch into target (both borrowed; target may be
 * NULL). NULL when memory runs out or the depth cap is hit. */
static json_object *merge(json_object *target, json_object *patch, bool strategic, int depth);

/* merge_list(NULL, ...) starts from an empty list */
static json_object *empty_or_copy(json_object *o)
{
        return o ? copy(o) : json_object_new_array();
}

/* Strategic merge of two lists by key: a new list. */
static json_object *merge_list(json_object *target, json_object *patch, const char *key, int depth)
{
        json_object *out = empty_or_copy(target);
        if (!out)
                return NULL;
        size_t n = json_object_array_length(patch);
        for (size_t i = 0; i < n; i++) {
                json_object *item = json_object_array_get_idx(patch, i), *kv;
                if (!json_object_is_type(item, json_type_object) ||
                    !json_object_object_get_ex(item, key, &kv)) {
                        /* no key: nothing to match it with, so it is added */
                        if (json_object_array_add(out, copy(item)) < 0)
                                goto fail;
                        continue;
                }
                size_t found = SIZE_MAX, m = json_object_array_length(out);
                for (size_t j = 0; j < m && found == SIZE_MAX; j++) {
                        json_object *cur = json_object_array_get_idx(out, j), *ck;
                        if (json_object_object_get_ex(cur, key, &ck) && json_object_equal(ck, kv))
                                found = j;
                }
                const char *d = directive(item);
                if (d && !strcmp(d, "delete")) {
                        if (found != SIZE_MAX)
                                json_object_array_del_idx(out, found, 1);
                        continue;
                }
                json_object *merged =
                    merge(found == SIZE_MAX ? NULL : json_object_array_get_idx(out, found), item,
                          true, depth + 1);
                if (!merged)
                        goto fail;
                int rc = found == SIZE_MAX ? json_object_array_add(out, merged)
                                           : json_object_array_put_idx(out, found, merged);
                if (rc < 0) {
                        json_object_put(merged);
                        goto fail;
                }
        }
        return out;
fail:
        json_object_put(out);
        return NULL;
}

static json_object *merge(json_object *target, json_object *patch, bool strategic, int depth)
{
        if (depth > MAX_DEPTH)
                return NULL;
        if (!json_object_is_type(patch, json_type_object))
                return copy(patch);
        const char *d = strategic ? directive(patch) : NULL;
        json_object *out =
            json_object_is_type(target, json_type_object) && !(d && !strcmp(d, "replace"))
                ? copy(target)
                : json_object_new_object();
        if (!out)
                return NULL;
        json_object_object_foreach(patch, key, val)
        {
                if (strategic && !strcmp(key, "$patch"))
                        continue;
                if (val == NULL) {
                        json_object_object_del(out, key);
                        continue;
                }
                json_object *cur = NULL, *v;
                json_object_object_get_ex(out, key, &cur);
                const char *mk = strategic ? merge_key(key) : NULL;
                if (mk && json_object_is_type(val, json_type_array) &&
                    json_object_is_type(cur, json_type_array))
                        v = merge_list(cur, val, mk, depth);
                else if (mk && json_object_is_type(val, json_type_array))
                        v = merge_list(NULL, val, mk, depth);
                else
                        v = merge(cur, val, strategic, depth + 1);
                if (!v || json_object_object_add(out, key, v) < 0) {
                        json_object_put(v);
                        json_object_put(out);
                        return NULL;
                }
        }
        return out;
}

/* ---- JSON patch (RFC 6902) on JSON pointers (RFC 6901) -------------------- */

struct ptr {
        char *tok[64];
        size_t n;
        char buf[1024];
};

/* Split "/a/b~1c" into unescaped tokens. */
static int ptr_parse(const char *s, struct ptr *p, const char *what, int op, struct err *e)
{
        p->n = 0;
        if (!*s)
                return 0;
        if (*s != '/')
                return err_set(e, ERR_USAGE,
                               "operation %d: %s \"%s\": a JSON pointer starts with \"/\"", op,
                               what, s);
        if (strlen(s) >= sizeof p->buf)
                return err_set(e, ERR_USAGE, "operation %d: %s: pointer too long", op, what);
        char *w = p->buf;
        for (const char *r = s; *r;) {
                if (*r == '/') {
                        if (p->n >= sizeof p->tok / sizeof p->tok[0])
                                return err_set(e, ERR_USAGE, "operation %d: %s: too deep", op,
                                               what);
                        if (p->n)
                                *w++ = '\0';
                        p->tok[p->n++] = w;
                        r++;
                        continue;
                }
                if (*r == '~') {
                        if (r[1] != '0' && r[1] != '1')
                                return err_set(e, ERR_USAGE,
                                               "operation %d: %s \"%s\": \"~\" must be followed "
                                               "by 0 or 1",
                                               op, what, s);
                        *w++ = r[1] == '0' ? '~' : '/';
                        r += 2;
                        continue;
                }
                *w++ = *r++;
        }
        *w = '\0';
        return 0;
}

/* An array index token: "0" or digits without a leading zero. */
static bool index_of(const char *t, size_t *out)
{
        if (!*t || (t[0] == '0' && t[1]) || strspn(t, "0123456789") != strlen(t) || strlen(t) > 9)
                return false;
        *out = (size_t)strtoul(t, NULL, 10);
        return true;
}

/* The value at the first n tokens of p, or NULL. */
static json_object *walk(json_object *doc, const struct ptr *p, size_t n)
{
        json_object *o = doc;
        for (size_t i = 0; i < n && o; i++) {
                if (json_object_is_type(o, json_type_object)) {
                        json_object *v;
                        o = json_object_object_get_ex(o, p->tok[i], &v) ? v : NULL;
                } else if (json_object_is_type(o, json_type_array)) {
                        size_t idx;
                        o = index_of(p->tok[i], &idx) && idx < json_object_array_length(o)
                                ? json_object_array_get_idx(o, idx)
                                : NULL;
                } else {
                        o = NULL;
                }
        }
        return o;
}

struct op_ctx {
        int n;          /* the operation's number, from 1 */
        const char *op; /* its name */
        const char *path;
        struct err *e;
};

__attribute__((format(printf, 2, 3))) static int op_err(const struct op_ctx *c, const char *fmt,
                                                        ...)
{
        char what[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        return err_set(c->e, ERR_USAGE, "operation %d (%s \"%s\"): %s", c->n, c->op, c->path, what);
}

/* Insert v (owned) into array a at idx (idx == length appends). */
static int array_insert(json_object *a, size_t idx, json_object *v)
{
        size_t n = json_object_array_length(a);
        json_object *tail[256];
        if (n - idx > sizeof tail / sizeof tail[0]) {
                json_object_put(v);
                return -1;
        }
        for (size_t i = idx; i < n; i++)
                tail[i - idx] = json_object_get(json_object_array_get_idx(a, i));
        if (n > idx)
                json_object_array_del_idx(a, idx, n - idx);
        int rc = json_object_array_add(a, v);
        if (rc < 0)
                json_object_put(v);
        for (size_t i = 0; i < n - idx; i++)
                if (json_object_array_add(a, tail[i]) < 0)
                        json_object_put(tail[i]);
        return rc;
}

/* add v (owned) at p in *doc; an empty pointer replaces the root. */
static int ptr_add(json_object **doc, const struct ptr *p, json_object *v, const struct op_ctx *c)
{
        if (p->n == 0) {
                json_object_put(*doc);
                *doc = v;
                return 0;
        }
        json_object *parent = walk(*doc, p, p->n - 1);
        const char *last = p->tok[p->n - 1];
        if (json_object_is_type(parent, json_type_object)) {
                if (json_object_object_add(parent, last, v) < 0) {
                        json_object_put(v);
                        return oom(c->e);
                }
                return 0;
        }
        if (json_object_is_type(parent, json_type_array)) {
                size_t idx, len = json_object_array_length(parent);
                if (!strcmp(last, "-"))
                        idx = len;
                else if (!index_of(last, &idx) || idx > len) {
                        json_object_put(v);
                        return op_err(c, "index \"%s\" is out of range", last);
                }
                if (array_insert(parent, idx, v) < 0)
                        return op_err(c, "cannot insert at \"%s\"", last);
                return 0;
        }
        json_object_put(v);
        return op_err(c, "the parent of \"%s\" does not exist or is not an object or array", last);
}

/* remove the value at p; *out (if not NULL) gets a reference to it. */
static int ptr_remove(json_object *doc, const struct ptr *p, json_object **out,
                      const struct op_ctx *c)
{
        if (p->n == 0)
                return op_err(c, "%s", "cannot remove the whole document");
        json_object *parent = walk(doc, p, p->n - 1), *v = NULL;
        const char *last = p->tok[p->n - 1];
        if (json_object_is_type(parent, json_type_object) &&
            json_object_object_get_ex(parent, last, &v)) {
                if (out)
                        *out = json_object_get(v);
                json_object_object_del(parent, last);
                return 0;
        }
        size_t idx;
        if (json_object_is_type(parent, json_type_array) && index_of(last, &idx) &&
            idx < json_object_array_length(parent)) {
                if (out)
                        *out = json_object_get(json_object_array_get_idx(parent, idx));
                json_object_array_del_idx(parent, idx, 1);
                return 0;
        }
        return op_err(c, "\"%s\" not found", last);
}

static const char *str_member(json_object *o, const char *key)
{
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

/* Is there a value (null included) at p? */
static bool exists(json_object *doc, const struct ptr *p)
{
        if (p->n == 0)
                return true;
        json_object *parent = walk(doc, p, p->n - 1);
        size_t idx;
        if (json_object_is_type(parent, json_type_object))
                return json_object_object_get_ex(parent, p->tok[p->n - 1], NULL);
        if (json_object_is_type(parent, json_type_array))
                return index_of(p->tok[p->n - 1], &idx) && idx < json_object_array_length(parent);
        return false;
}

static int json_patch_one(json_object **doc, json_object *opj, int n, struct err *e)
{
        struct op_ctx c = {.n = n, .op = "?", .path = "", .e = e};
        if (!json_object_is_type(opj, json_type_object))
                return err_set(e, ERR_USAGE, "operation %d: not an object", n);
        const char *op = str_member(opj, "op"), *path = str_member(opj, "path");
        if (!op)
                return err_set(e, ERR_USAGE, "operation %d: \"op\" (a string) is missing", n);
        c.op = op;
        if (!path)
                return err_set(e, ERR_USAGE, "operation %d (%s): \"path\" (a string) is missing", n,
                               op);
        c.path = path;
        struct ptr p, from;
        if (ptr_parse(path, &p, "path", n, e) < 0)
                return -1;
        json_object *value = NULL;
        bool has_value = json_object_object_get_ex(opj, "value", &value);
        bool needs_value = !strcmp(op, "add") || !strcmp(op, "replace") || !strcmp(op, "test");
        if (needs_value && !has_value)
                return op_err(&c, "%s", "\"value\" is missing");
        if (!strcmp(op, "add"))
                return ptr_add(doc, &p, copy(value), &c);
        if (!strcmp(op, "remove"))
                return ptr_remove(*doc, &p, NULL, &c);
        if (!strcmp(op, "replace")) {
                if (!exists(*doc, &p))
                        return op_err(&c, "%s", "nothing there to replace");
                if (p.n && ptr_remove(*doc, &p, NULL, &c) < 0)
                        return -1;
                return ptr_add(doc, &p, copy(value), &c);
        }
        if (!strcmp(op, "test")) {
                if (!exists(*doc, &p) || !json_object_equal(walk(*doc, &p, p.n), value))
                        return op_err(&c, "%s", "test failed: the value differs");
                return 0;
        }
        if (!strcmp(op, "move") || !strcmp(op, "copy")) {
                const char *f = str_member(opj, "from");
                if (!f)
                        return op_err(&c, "%s", "\"from\" (a string) is missing");
                if (ptr_parse(f, &from, "from", n, e) < 0)
                        return -1;
                if (!exists(*doc, &from))
                        return op_err(&c, "from \"%s\" not found", f);
                if (!strcmp(op, "copy"))
                        return ptr_add(doc, &p, copy(walk(*doc, &from, from.n)), &c);
                size_t fl = strlen(f);
                if (!strncmp(path, f, fl) && path[fl] == '/')
                        return op_err(&c, "cannot move \"%s\" into itself", f);
                if (!strcmp(path, f))
                        return 0;
                json_object *v = NULL;
                if (ptr_remove(*doc, &from, &v, &c) < 0)
                        return -1;
                return ptr_add(doc, &p, v, &c);
        }
        return err_set(e, ERR_USAGE,
                       "operation %d: op \"%s\": want add, remove, replace, move, copy or test", n,
                       op);
}

static const char *type_word(json_object *o)
{
        switch (json_object_get_type(o)) {
        case json_type_object: return "an object";
        case json_type_array: return "a list";
        case json_type_string: return "a string";
        case json_type_null: return "null";
        case json_type_boolean: return "a boolean";
        default: return "a number";
        }
}

int patch_apply(json_object **doc, enum patch_type type, json_object *patch, struct err *e)
{
        json_object *out = NULL;
        switch (type) {
        case PATCH_MERGE:
        case PATCH_STRATEGIC:
                if (!json_object_is_type(patch, json_type_object))
                        return err_set(e, ERR_USAGE, "a merge patch is an object, got %s",
                                       type_word(patch));
                out = merge(*doc, patch, type == PATCH_STRATEGIC, 0);
                if (!out)
                        return oom(e);
                break;
        case PATCH_JSON: {
                if (!json_object_is_type(patch, json_type_array))
                        return err_set(e, ERR_USAGE, "a JSON patch is a list of operations, got %s",
                                       type_word(patch));
                out = copy(*doc);
                if (!out)
                        return oom(e);
                size_t n = json_object_array_length(patch);
                for (size_t i = 0; i < n; i++) {
                        if (json_patch_one(&out, json_object_array_get_idx(patch, i), (int)i + 1,
                                           e) < 0) {
                                json_object_put(out);
                                return -1;
                        }
                }
                break;
        }
        default: return err_set(e, ERR_USAGE, "unknown patch type");
        }
        json_object_put(*doc);
        *doc = out;
        return 0;
}

int patch_apply_text(json_object **doc, enum patch_type type, const char *text, struct err *e)
{
        struct json_tokener *tok = json_tokener_new_ex(MAX_DEPTH);
        if (!tok)
                return oom(e);
        size_t len = strlen(text);
        json_object *patch = json_tokener_parse_ex(tok, text, (int)len);
        enum json_tokener_error jerr = json_tokener_get_error(tok);
        size_t off = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);
        if (jerr != json_tokener_success || strspn(text + off, " \t\r\n") != len - off) {
                json_object_put(patch);
                return err_set(e, ERR_USAGE, "not JSON: %s at byte %zu",
                               jerr == json_tokener_success ? "text after the value"
                                                            : json_tokener_error_desc(jerr),
                               off);
        }
        int rc = patch_apply(doc, type, patch, e);
        json_object_put(patch);
        return rc;
}
