/* kubeconfig: files and their merge, contexts, clusters, users, in-cluster;
 * exec credential plugins are in kubeconfig_exec.c. */
#include "kubeconfig_internal.h"

#include "codec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "buf.h"

#define KC_FILE_MAX        (16u << 20) /* a kubeconfig larger than this is not one */
#define KC_SECRET_FILE_MAX (1u << 20)  /* token, CA, cert, key files */
#define KC_YAML_DEPTH_MAX  64          /* kubeconfigs nest about 5 levels */
#define KC_SA_DIR          "/var/run/secrets/kubernetes.io/serviceaccount"
#define KC_LIST_MAX        480 /* bytes of names/paths quoted in one message */

/* A named entry of clusters/contexts/users and the file that defined it. */
struct kc_entry {
        struct kc_doc *doc;
        yaml_node_t *item; /* the list item ({name:, cluster:}) */
        yaml_node_t *body; /* its cluster/context/user map, NULL when absent */
        const char *name;
};

/* ---- small helpers ---- */

void kc_wipe(void *p, size_t n)
{
        if (p && n)
                explicit_bzero(p, n);
}

void kc_free_secret_str(char *s)
{
        if (s) {
                kc_wipe(s, strlen(s));
                free(s);
        }
}

void kc_free_secret(unsigned char *p, size_t n)
{
        kc_wipe(p, n);
        free(p);
}

/* Zero the buffer's whole allocation, then release it. */
void kc_buf_wipe(struct buf *b)
{
        kc_wipe(b->data, b->alloc);
        buf_fini(b);
}

char *kc_strdup(const char *s, struct err *e)
{
        char *d = strdup(s);
        if (!d)
                err_sys(e, ERR_SOFTWARE, "out of memory");
        return d;
}

char *kc_asprintf(struct err *e, const char *fmt, ...)
{
        struct buf b;
        buf_init(&b, 1u << 20);
        va_list ap;
        va_start(ap, fmt);
        int rc = buf_vprintf(&b, fmt, ap);
        va_end(ap);
        char *s = rc == 0 ? buf_detach(&b) : NULL;
        buf_fini(&b);
        if (!s)
                err_sys(e, ERR_SOFTWARE, "out of memory");
        return s;
}

static bool is_space(unsigned char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Read a whole file into b (capped at max). -1 with errno on failure. */
static int read_file(const char *path, size_t max, struct buf *b)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        unsigned char chunk[16384];
        int rc = 0;
        for (;;) {
                ssize_t n = read(fd, chunk, sizeof chunk);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        rc = -1;
                        break;
                }
                if (n == 0)
                        break;
                if (b->len + (size_t)n > max) {
                        errno = EFBIG;
                        rc = -1;
                        break;
                }
                if (buf_append(b, chunk, (size_t)n) < 0) {
                        rc = -1;
                        break;
                }
        }
        int saved = errno;
        kc_wipe(chunk, sizeof chunk); /* the chunk may hold a token or key */
        close(fd);
        errno = saved;
        return rc;
}

int kubeconfig_token_check(const char *token, const char *where, struct err *e)
{
        for (size_t i = 0; token && token[i]; i++) {
                unsigned char ch = (unsigned char)token[i];
                if (ch < 0x20 || ch == 0x7f)
                        return err_set(e, ERR_CONFIG,
                                       "the token from %s contains a control character (0x%02x "
                                       "at byte %zu): refusing to send it",
                                       where, ch, i);
        }
        return 0;
}

/* The trimmed contents of a token file as a new string. -1 with errno. */
static int read_token_file(const char *path, char **out)
{
        struct buf b;
        buf_init(&b, KC_SECRET_FILE_MAX);
        if (read_file(path, KC_SECRET_FILE_MAX, &b) < 0) {
                int saved = errno;
                kc_buf_wipe(&b);
                errno = saved;
                return -1;
        }
        const char *s = buf_str(&b);
        size_t start = 0, end = b.len;
        while (start < end && is_space((unsigned char)s[start]))
                start++;
        while (end > start && is_space((unsigned char)s[end - 1]))
                end--;
        char *t = malloc(end - start + 1);
        if (!t) {
                kc_buf_wipe(&b);
                errno = ENOMEM;
                return -1;
        }
        memcpy(t, s + start, end - start);
        t[end - start] = '\0';
        kc_buf_wipe(&b);
        *out = t;
        return 0;
}

/* path if absolute, else dir/path. */
char *kc_resolve_path(const char *dir, const char *path, struct err *e)
{
        if (path[0] == '/' || !dir)
                return kc_strdup(path, e);
        return kc_asprintf(e, "%s/%s", dir, path);
}

/* The absolute directory of a file path, for kubectl's relative-path rule. */
static char *dir_of(const char *path, struct err *e)
{
        const char *slash = strrchr(path, '/');
        char *dir;
        if (!slash)
                dir = kc_strdup(".", e);
        else if (slash == path)
                dir = kc_strdup("/", e);
        else
                dir = kc_asprintf(e, "%.*s", (int)(slash - path), path);
        if (!dir || dir[0] == '/')
                return dir;
        char cwd[4096];
        if (!getcwd(cwd, sizeof cwd))
                return dir; /* relative still works while the cwd stays */
        char *abs = strcmp(dir, ".") == 0 ? kc_strdup(cwd, e) : kc_asprintf(e, "%s/%s", cwd, dir);
        free(dir);
        return abs;
}

/* ---- base64 (RFC 4648 §4), strict: pkg/codec ---- */

/* A new buffer (secret: zeroed when freed on error) with the decoded bytes.
 * -1 on bad input (errno EINVAL) or no memory. */
static int b64_decode(const char *s, size_t n, unsigned char **out, size_t *outlen)
{
        unsigned char *o = malloc(CODEC_BASE64_DECODED_MAX(n));
        if (!o)
                return -1;
        if (codec_base64_decode(s, n, o, outlen) < 0) {
                kc_free_secret(o, CODEC_BASE64_DECODED_MAX(n));
                errno = EINVAL;
                return -1;
        }
        *out = o;
        return 0;
}

/* ---- YAML documents ---- */

static const char *node_kind(const yaml_node_t *n)
{
        switch (n->type) {
        case YAML_SCALAR_NODE: return "a string";
        case YAML_SEQUENCE_NODE: return "a list";
        case YAML_MAPPING_NODE: return "a map";
        default: return "nothing";
        }
}

/* ERR_CONFIG "<label>: line L, column C: <msg>". Returns -1. */
int kc_at(struct err *e, const struct kc_doc *d, const yaml_node_t *n, const char *fmt, ...)
{
        char msg[ERR_MSG_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (n)
                return err_set(e, ERR_CONFIG, "%s: line %zu, column %zu: %s", d->label,
                               n->start_mark.line + 1, n->start_mark.column + 1, msg);
        return err_set(e, ERR_CONFIG, "%s: %s", d->label, msg);
}

void kc_doc_fini(struct kc_doc *d)
{
        if (d->loaded) {
                /* Scalars may be tokens, passwords or keys: zero them first. */
                for (yaml_node_t *n = d->doc.nodes.start; n < d->doc.nodes.top; n++)
                        if (n->type == YAML_SCALAR_NODE)
                                kc_wipe(n->data.scalar.value, n->data.scalar.length);
                yaml_document_delete(&d->doc);
        }
        free(d->label);
        free(d->path);
        free(d->dir);
        memset(d, 0, sizeof *d);
}

/* libyaml's scanner costs O(depth) per token, so a file of nested '[' costs
 * seconds per 100 KB; a kubeconfig is a few levels deep. One pass over the
 * events stops at the first level too deep, before the document is built. */
static int depth_check(struct kc_doc *d, const unsigned char *data, size_t len, struct err *e)
{
        yaml_parser_t p;
        if (!yaml_parser_initialize(&p))
                return err_set(e, ERR_SOFTWARE, "%s: out of memory", d->label);
        yaml_parser_set_input_string(&p, data, len);
        int depth = 0, rc = 0;
        for (;;) {
                yaml_event_t ev;
                if (!yaml_parser_parse(&p, &ev))
                        break; /* the load reports the syntax error with its context */
                yaml_event_type_t t = ev.type;
                yaml_mark_t m = ev.start_mark;
                yaml_event_delete(&ev);
                if (t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT) {
                        if (++depth > KC_YAML_DEPTH_MAX) {
                                rc = err_set(e, ERR_CONFIG,
                                             "%s: line %zu, column %zu: nested deeper than %d "
                                             "levels",
                                             d->label, m.line + 1, m.column + 1, KC_YAML_DEPTH_MAX);
                                break;
                        }
                } else if (t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT) {
                        depth--;
                } else if (t == YAML_STREAM_END_EVENT) {
                        break;
                }
        }
        yaml_parser_delete(&p);
        return rc;
}

/* Parse data (a kubeconfig or plugin output; JSON is YAML flow style) into d,
 * which already has its label. The top level must be a map or empty. */
int kc_doc_parse(struct kc_doc *d, const unsigned char *data, size_t len, struct err *e)
{
        if (depth_check(d, data, len, e) < 0)
                return -1;
        yaml_parser_t p;
        if (!yaml_parser_initialize(&p))
                return err_set(e, ERR_SOFTWARE, "%s: out of memory", d->label);
        yaml_parser_set_input_string(&p, data, len);
        int rc = 0;
        if (!yaml_parser_load(&p, &d->doc)) {
                const char *problem = p.problem ? p.problem : "cannot parse YAML";
                yaml_mark_t m = p.problem_mark;
                if (p.context)
                        rc = err_set(e, ERR_CONFIG, "%s: line %zu, column %zu: %s %s", d->label,
                                     m.line + 1, m.column + 1, problem, p.context);
                else
                        rc = err_set(e, ERR_CONFIG, "%s: line %zu, column %zu: %s", d->label,
                                     m.line + 1, m.column + 1, problem);
                yaml_parser_delete(&p);
                return rc;
        }
        yaml_parser_delete(&p);
        d->loaded = true;
        yaml_node_t *root = yaml_document_get_root_node(&d->doc);
        if (root && root->type == YAML_SCALAR_NODE &&
            root->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && root->data.scalar.length == 0)
                root = NULL;
        if (root && root->type != YAML_MAPPING_NODE)
                return kc_at(e, d, root, "expected a map at the top level, got %s",
                             node_kind(root));
        d->root = root;
        return 0;
}

static bool node_is_null(const yaml_node_t *n)
{
        if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
                return false;
        const char *v = (const char *)n->data.scalar.value;
        return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
               !strcmp(v, "NULL");
}

/* The value of key in map, NULL when absent or null. */
/* Look key up in map, then in the maps merged into it with "<<" (YAML 1.1
 * merge keys, which kubectl's YAML reader honours; explicit keys win).
 * *budget bounds the maps visited, since aliases can make merges exponential. */
static yaml_node_t *map_find(struct kc_doc *d, yaml_node_t *map, const char *key, int depth,
                             int *budget)
{
        if (!map || map->type != YAML_MAPPING_NODE || depth > 8 || --*budget < 0)
                return NULL;
        yaml_node_t *merge = NULL;
        for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
             p++) {
                yaml_node_t *k = yaml_document_get_node(&d->doc, p->key);
                if (!k || k->type != YAML_SCALAR_NODE)
                        continue;
                yaml_node_t *v = yaml_document_get_node(&d->doc, p->value);
                if (!strcmp((char *)k->data.scalar.value, "<<") &&
                    k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
                        merge = v;
                        continue;
                }
                if (strcmp((char *)k->data.scalar.value, key))
                        continue;
                return v && !node_is_null(v) ? v : NULL;
        }
        if (!merge)
                return NULL;
        if (merge->type == YAML_MAPPING_NODE)
                return map_find(d, merge, key, depth + 1, budget);
        if (merge->type != YAML_SEQUENCE_NODE)
                return NULL;
        for (yaml_node_item_t *it = merge->data.sequence.items.start;
             it < merge->data.sequence.items.top; it++) {
                yaml_node_t *v =
                    map_find(d, yaml_document_get_node(&d->doc, *it), key, depth + 1, budget);
                if (v)
                        return v;
        }
        return NULL;
}

/* The value of key in map, NULL when absent or null. */
static yaml_node_t *map_get(struct kc_doc *d, yaml_node_t *map, const char *key)
{
        int budget = 64;
        return map_find(d, map, key, 0, &budget);
}

/* A string field: *out is borrowed from the document, NULL when absent.
 * `of` names the owner for messages ("cluster \"c\""). */
int kc_get_str(struct kc_doc *d, yaml_node_t *map, const char *key, const char *of,
               const char **out, struct err *e)
{
        *out = NULL;
        yaml_node_t *v = map_get(d, map, key);
        if (!v)
                return 0;
        if (v->type != YAML_SCALAR_NODE)
                return kc_at(e, d, v, "%s of %s must be a string, got %s", key, of, node_kind(v));
        if (strlen((char *)v->data.scalar.value) != v->data.scalar.length)
                return kc_at(e, d, v, "%s of %s contains a NUL byte", key, of);
        *out = (const char *)v->data.scalar.value;
        return 0;
}

int kc_get_bool(struct kc_doc *d, yaml_node_t *map, const char *key, const char *of, bool *out,
                struct err *e)
{
        *out = false;
        yaml_node_t *v = map_get(d, map, key);
        if (!v)
                return 0;
        static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes",
                                          "YES",  "on",   "On",   "ON"};
        static const char *const no[] = {"false", "False", "FALSE", "no", "No",
                                         "NO",    "off",   "Off",   "OFF"};
        if (v->type == YAML_SCALAR_NODE && v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
                for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
                        if (!strcmp((char *)v->data.scalar.value, yes[i])) {
                                *out = true;
                                return 0;
                        }
                        if (!strcmp((char *)v->data.scalar.value, no[i]))
                                return 0;
                }
        }
        return kc_at(e, d, v, "%s of %s must be true or false", key, of);
}

int kc_get_typed(struct kc_doc *d, yaml_node_t *map, const char *key, const char *of,
                 yaml_node_type_t type, yaml_node_t **out, struct err *e)
{
        *out = NULL;
        yaml_node_t *v = map_get(d, map, key);
        if (!v)
                return 0;
        if (v->type != type) {
                yaml_node_t want = {.type = type};
                return kc_at(e, d, v, "%s of %s must be %s, got %s", key, of, node_kind(&want),
                             node_kind(v));
        }
        *out = v;
        return 0;
}

yaml_node_t *kc_seq_item(struct kc_doc *d, yaml_node_t *seq, yaml_node_item_t *it)
{
        (void)seq;
        return yaml_document_get_node(&d->doc, *it);
}

/* ---- the merged set of kubeconfig files ---- */

struct kc_set {
        struct kc_doc *docs;
        size_t n;
};

static void set_fini(struct kc_set *s)
{
        for (size_t i = 0; i < s->n; i++)
                kc_doc_fini(&s->docs[i]);
        free(s->docs);
        s->docs = NULL;
        s->n = 0;
}

static const char *const kc_lists[][2] = {
    {"clusters", "cluster"}, {"contexts", "context"}, {"users", "user"}};

struct kc_named {
        const char *name;
        size_t idx;
        yaml_node_t *item;
};

static int named_cmp(const void *a, const void *b)
{
        const struct kc_named *x = a, *y = b;
        int c = strcmp(x->name, y->name);
        return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* kubectl rejects a name repeated within one file. Sorted, not pairwise, so a
 * generated file with many entries cannot stall us. */
static int check_duplicates(struct kc_doc *d, yaml_node_t *seq, const char *what, struct err *e)
{
        size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
        if (n < 2)
                return 0;
        struct kc_named *v = calloc(n, sizeof *v);
        if (!v)
                return err_sys(e, ERR_SOFTWARE, "out of memory");
        for (size_t i = 0; i < n; i++) {
                v[i].item = kc_seq_item(d, seq, &seq->data.sequence.items.start[i]);
                v[i].idx = i;
                (void)kc_get_str(d, v[i].item, "name", "", &v[i].name, NULL);
        }
        qsort(v, n, sizeof *v, named_cmp);
        int rc = 0;
        for (size_t i = 1; i < n && !rc; i++)
                if (!strcmp(v[i - 1].name, v[i].name))
                        rc =
                            kc_at(e, d, v[i].item, "duplicate %s name \"%.200s\"", what, v[i].name);
        free(v);
        return rc;
}

/* kubectl rejects a file whose named lists are malformed, used or not. */
static int validate_doc(struct kc_doc *d, struct err *e)
{
        const char *cc;
        if (kc_get_str(d, d->root, "current-context", "the kubeconfig", &cc, e) < 0)
                return -1;
        for (size_t l = 0; l < sizeof kc_lists / sizeof kc_lists[0]; l++) {
                yaml_node_t *seq;
                if (kc_get_typed(d, d->root, kc_lists[l][0], "the kubeconfig", YAML_SEQUENCE_NODE,
                                 &seq, e) < 0)
                        return -1;
                if (!seq)
                        continue;
                for (yaml_node_item_t *it = seq->data.sequence.items.start;
                     it < seq->data.sequence.items.top; it++) {
                        yaml_node_t *item = kc_seq_item(d, seq, it);
                        if (!item || item->type != YAML_MAPPING_NODE)
                                return kc_at(e, d, item, "entries of %s must be maps, got %s",
                                             kc_lists[l][0], item ? node_kind(item) : "nothing");
                        const char *name;
                        yaml_node_t *body;
                        if (kc_get_str(d, item, "name", kc_lists[l][1], &name, e) < 0)
                                return -1;
                        if (!name || !*name)
                                return kc_at(e, d, item, "an entry of %s has no name",
                                             kc_lists[l][0]);
                        char of[300];
                        snprintf(of, sizeof of, "%s \"%.200s\"", kc_lists[l][1], name);
                        if (kc_get_typed(d, item, kc_lists[l][1], of, YAML_MAPPING_NODE, &body, e) <
                            0)
                                return -1;
                }
                if (check_duplicates(d, seq, kc_lists[l][1], e) < 0)
                        return -1;
        }
        return 0;
}

/* Load one file into the set. *missing is set (and 0 returned) when the file
 * does not exist and missing files are allowed. */
static int set_add(struct kc_set *s, const char *path, bool allow_missing, bool *missing,
                   struct err *e)
{
        *missing = false;
        struct buf b;
        buf_init(&b, KC_FILE_MAX);
        if (read_file(path, KC_FILE_MAX, &b) < 0) {
                int saved = errno;
                kc_buf_wipe(&b);
                if (saved == ENOENT && allow_missing) {
                        *missing = true;
                        return 0;
                }
                errno = saved;
                if (saved == EFBIG)
                        return err_set(e, ERR_CONFIG, "kubeconfig '%s': larger than %u MiB", path,
                                       KC_FILE_MAX >> 20);
                return err_sys(e, ERR_CONFIG, "kubeconfig '%s': cannot read", path);
        }
        struct kc_doc *nd = realloc(s->docs, (s->n + 1) * sizeof *nd);
        if (!nd) {
                kc_buf_wipe(&b);
                return err_sys(e, ERR_SOFTWARE, "out of memory");
        }
        s->docs = nd;
        struct kc_doc *d = &s->docs[s->n++];
        memset(d, 0, sizeof *d);
        int rc = -1;
        if (!(d->path = kc_strdup(path, e)) || !(d->dir = dir_of(path, e)) ||
            !(d->label = kc_asprintf(e, "kubeconfig '%s'", path)))
                goto out;
        if (kc_doc_parse(d, (const unsigned char *)buf_str(&b), b.len, e) < 0)
                goto out;
        if (validate_doc(d, e) < 0)
                goto out;
        rc = 0;
out:
        kc_buf_wipe(&b);
        return rc;
}

static bool set_find(struct kc_set *s, size_t list, const char *name, struct kc_entry *out)
{
        for (size_t i = 0; i < s->n; i++) {
                struct kc_doc *d = &s->docs[i];
                yaml_node_t *seq = map_get(d, d->root, kc_lists[list][0]);
                if (!seq)
                        continue;
                for (yaml_node_item_t *it = seq->data.sequence.items.start;
                     it < seq->data.sequence.items.top; it++) {
                        yaml_node_t *item = kc_seq_item(d, seq, it);
                        const char *n = NULL;
                        (void)kc_get_str(d, item, "name", "", &n, NULL);
                        if (n && !strcmp(n, name)) {
                                out->doc = d;
                                out->item = item;
                                out->body = map_get(d, item, kc_lists[list][1]);
                                out->name = n;
                                return true;
                        }
                }
        }
        return false;
}

/* "'/a', '/b'" for messages. */
static void set_paths(struct kc_set *s, struct buf *b)
{
        for (size_t i = 0; i < s->n; i++)
                if (buf_printf(b, "%s'%s'", i ? ", " : "", s->docs[i].path) < 0)
                        return;
}

/* Lists that only feed a message are cut when full: the message then names
 * the first ones, which is what it is for. */
static void list_more(struct buf *b)
{
        if (buf_puts(b, ", ...") < 0)
                return; /* full: the list ends where it is */
}

static void note_tried(struct buf *tried, const char *path)
{
        if (buf_printf(tried, "%s'%s'", tried->len ? ", " : "", path) < 0)
                return; /* full: the message names the first ones */
}

/* The distinct names of a list across the set, quoted, for messages. */
static void set_names(struct kc_set *s, size_t list, struct buf *b)
{
        size_t count = 0, seen = 0;
        for (size_t i = 0; i < s->n; i++) {
                struct kc_doc *d = &s->docs[i];
                yaml_node_t *seq = map_get(d, d->root, kc_lists[list][0]);
                if (!seq)
                        continue;
                for (yaml_node_item_t *it = seq->data.sequence.items.start;
                     it < seq->data.sequence.items.top; it++) {
                        if (b->len > KC_LIST_MAX) {
                                list_more(b);
                                return;
                        }
                        const char *n = NULL;
                        (void)kc_get_str(d, kc_seq_item(d, seq, it), "name", "", &n, NULL);
                        struct kc_entry first;
                        if (++seen > 200) {
                                list_more(b);
                                return;
                        }
                        if (!n || !set_find(s, list, n, &first) ||
                            first.item != kc_seq_item(d, seq, it))
                                continue; /* shadowed by an earlier file */
                        if (buf_printf(b, "%s\"%s\"", count++ ? ", " : "", n) < 0)
                                return;
                }
        }
}

static bool set_is_empty(struct kc_set *s)
{
        for (size_t i = 0; i < s->n; i++) {
                struct kc_doc *d = &s->docs[i];
                if (map_get(d, d->root, "current-context"))
                        return false;
                for (size_t l = 0; l < 3; l++) {
                        yaml_node_t *seq = map_get(d, d->root, kc_lists[l][0]);
                        if (seq && seq->data.sequence.items.top > seq->data.sequence.items.start)
                                return false;
                }
        }
        return true;
}

/* ---- in-cluster ---- */

static const char *env_or(const char *override, const char *name)
{
        const char *v = override ? override : getenv(name);
        return v && *v ? v : NULL;
}

static int load_in_cluster(const struct kubeconfig_opts *o, const char *host, const char *port,
                           struct kubeconfig_rest *r, struct err *e)
{
        const char *sa = o->sa_dir ? o->sa_dir : KC_SA_DIR;
        r->in_cluster = true;
        /* net.JoinHostPort: an IPv6 literal goes in brackets. */
        bool v6 = strchr(host, ':') && host[0] != '[';
        if (!(r->server =
                  kc_asprintf(e, "https://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port)))
                return -1;
        if (!(r->token_file = kc_asprintf(e, "%s/token", sa)))
                return -1;
        if (read_token_file(r->token_file, &r->token) < 0)
                return err_sys(e, ERR_CONFIG,
                               "in-cluster config: cannot read service-account token '%s'",
                               r->token_file);
        if (!*r->token) {
                free(r->token);
                r->token = NULL;
        }
        if (kubeconfig_token_check(r->token, "the service-account token file", e) < 0)
                return err_prefix(e, "in-cluster config: '%s'", r->token_file);
        char *ca = kc_asprintf(e, "%s/ca.crt", sa);
        if (!ca)
                return -1;
        struct buf b;
        buf_init(&b, KC_SECRET_FILE_MAX);
        if (read_file(ca, KC_SECRET_FILE_MAX, &b) < 0) {
                /* An absent CA is tolerated as client-go does; an unreadable one is not. */
                if (errno != ENOENT) {
                        int rc =
                            err_sys(e, ERR_CONFIG, "in-cluster config: cannot read CA '%s'", ca);
                        buf_fini(&b);
                        free(ca);
                        return rc;
                }
        } else if (b.len) {
                r->ca_len = b.len;
                r->ca = (unsigned char *)buf_detach(&b);
                if (!r->ca) {
                        free(ca);
                        return err_sys(e, ERR_SOFTWARE, "out of memory");
                }
        }
        buf_fini(&b);
        free(ca);
        if (!r->namespace_) {
                char *nsf = kc_asprintf(e, "%s/namespace", sa);
                if (!nsf)
                        return -1;
                char *ns = NULL;
                if (read_token_file(nsf, &ns) == 0 && *ns)
                        r->namespace_ = ns;
                else
                        free(ns);
                free(nsf);
        }
        return 0;
}

/* ---- cluster and user ---- */

static int load_cluster(struct kc_entry *c, struct kc_cluster *info, struct kubeconfig_rest *r,
                        struct err *e)
{
        struct kc_doc *d = c->doc;
        yaml_node_t *m = c->body;
        char of[300];
        snprintf(of, sizeof of, "cluster \"%.200s\"", c->name);
        const char *server, *ca_file, *ca_data, *sni;
        bool insecure;
        if (kc_get_str(d, m, "server", of, &server, e) < 0 ||
            kc_get_str(d, m, "certificate-authority", of, &ca_file, e) < 0 ||
            kc_get_str(d, m, "certificate-authority-data", of, &ca_data, e) < 0 ||
            kc_get_str(d, m, "tls-server-name", of, &sni, e) < 0 ||
            kc_get_str(d, m, "proxy-url", of, &info->proxy_url, e) < 0 ||
            kc_get_bool(d, m, "insecure-skip-tls-verify", of, &insecure, e) < 0)
                return -1;
        if (!server || !*server)
                return kc_at(e, d, c->item, "%s has no server", of);
        info->server_raw = server;
        /* A bare host:port means https (a token must never travel over plain http). */
        if (!(r->server = strstr(server, "://") ? kc_strdup(server, e)
                                                : kc_asprintf(e, "https://%s", server)))
                return -1;
        size_t sl = strlen(r->server);
        while (sl > 0 && r->server[sl - 1] == '/' &&
               !(sl >= 3 && !strcmp(r->server + sl - 3, "://")))
                r->server[--sl] = '\0';
        if (ca_data && !*ca_data)
                ca_data = NULL;
        if (ca_file && !*ca_file)
                ca_file = NULL;
        if (ca_file && ca_data)
                return kc_at(e, d, c->item,
                             "%s has both certificate-authority and certificate-authority-data",
                             of);
        if (insecure && (ca_file || ca_data))
                return kc_at(
                    e, d, c->item,
                    "%s sets insecure-skip-tls-verify together with a certificate authority", of);
        r->insecure_skip_tls_verify = insecure;
        if (sni && *sni && !(r->tls_server_name = kc_strdup(sni, e)))
                return -1;
        if (ca_data) {
                if (b64_decode(ca_data, strlen(ca_data), &r->ca, &r->ca_len) < 0) {
                        if (errno == ENOMEM)
                                return err_sys(e, ERR_SOFTWARE, "out of memory");
                        return kc_at(e, d, map_get(d, m, "certificate-authority-data"),
                                     "certificate-authority-data of %s is not valid base64", of);
                }
                if (!r->ca_len) {
                        free(r->ca);
                        r->ca = NULL;
                }
        } else if (ca_file) {
                char *p = kc_resolve_path(d->dir, ca_file, e);
                if (!p)
                        return -1;
                struct buf b;
                buf_init(&b, KC_SECRET_FILE_MAX);
                if (read_file(p, KC_SECRET_FILE_MAX, &b) < 0) {
                        kc_at(e, d, map_get(d, m, "certificate-authority"),
                              "%s: cannot read '%s': %s", of, p, strerror(errno));
                        buf_fini(&b);
                        free(p);
                        return -1;
                }
                free(p);
                r->ca_len = b.len;
                r->ca = (unsigned char *)buf_detach(&b);
                buf_fini(&b);
                if (!r->ca)
                        return err_sys(e, ERR_SOFTWARE, "out of memory");
        }
        return 0;
}

/* A PEM blob from key-data (base64) or key (a file relative to the doc). */
static int load_blob(struct kc_doc *d, yaml_node_t *m, const char *of, const char *file_key,
                     const char *data_key, unsigned char **out, size_t *out_len, struct err *e)
{
        const char *file, *data;
        if (kc_get_str(d, m, file_key, of, &file, e) < 0 ||
            kc_get_str(d, m, data_key, of, &data, e) < 0)
                return -1;
        if (file && !*file)
                file = NULL;
        if (data && !*data)
                data = NULL;
        if (file && data)
                return kc_at(e, d, map_get(d, m, data_key), "%s has both %s and %s", of, file_key,
                             data_key);
        if (data) {
                if (b64_decode(data, strlen(data), out, out_len) < 0) {
                        if (errno == ENOMEM)
                                return err_sys(e, ERR_SOFTWARE, "out of memory");
                        return kc_at(e, d, map_get(d, m, data_key), "%s of %s is not valid base64",
                                     data_key, of);
                }
                if (!*out_len) {
                        free(*out);
                        *out = NULL;
                }
        } else if (file) {
                char *p = kc_resolve_path(d->dir, file, e);
                if (!p)
                        return -1;
                struct buf b;
                buf_init(&b, KC_SECRET_FILE_MAX);
                if (read_file(p, KC_SECRET_FILE_MAX, &b) < 0) {
                        kc_at(e, d, map_get(d, m, file_key), "%s of %s: cannot read '%s': %s",
                              file_key, of, p, strerror(errno));
                        kc_buf_wipe(&b);
                        free(p);
                        return -1;
                }
                free(p);
                *out_len = b.len;
                *out = (unsigned char *)buf_detach(&b);
                buf_fini(&b);
                if (!*out)
                        return err_sys(e, ERR_SOFTWARE, "out of memory");
        }
        return 0;
}

static int load_user(struct kc_entry *u, const struct kc_cluster *ci,
                     const struct kubeconfig_opts *o, struct kubeconfig_rest *r, struct err *e)
{
        struct kc_doc *d = u->doc;
        yaml_node_t *m = u->body;
        char of[300];
        snprintf(of, sizeof of, "user \"%.200s\"", u->name);
        yaml_node_t *ap = map_get(d, m, "auth-provider");
        if (ap) {
                const char *name = NULL;
                if (ap->type == YAML_MAPPING_NODE)
                        (void)kc_get_str(d, ap, "name", "auth-provider", &name, NULL);
                return kc_at(
                    e, d, ap,
                    "%s uses auth-provider%s%s%s, which is not supported, use an exec plugin "
                    "(e.g. gke-gcloud-auth-plugin, kubelogin)",
                    of, name ? " \"" : "", name ? name : "", name ? "\"" : "");
        }
        static const char *const impersonation[] = {"as", "as-uid", "as-groups", "as-user-extra"};
        for (size_t i = 0; i < sizeof impersonation / sizeof impersonation[0]; i++) {
                yaml_node_t *v = map_get(d, m, impersonation[i]);
                if (v)
                        return kc_at(e, d, v, "%s uses impersonation (%s), which is not supported",
                                     of, impersonation[i]);
        }
        const char *token, *token_file, *username, *password;
        yaml_node_t *exec;
        if (kc_get_str(d, m, "token", of, &token, e) < 0 ||
            kc_get_str(d, m, "tokenFile", of, &token_file, e) < 0 ||
            kc_get_str(d, m, "username", of, &username, e) < 0 ||
            kc_get_str(d, m, "password", of, &password, e) < 0 ||
            kc_get_typed(d, m, "exec", of, YAML_MAPPING_NODE, &exec, e) < 0)
                return -1;
        bool has_token = (token && *token) || (token_file && *token_file);
        bool has_basic = (username && *username) || (password && *password);
        if (has_token && has_basic)
                return kc_at(e, d, u->item,
                             "%s has more than one authentication method (token and "
                             "username/password), only one is allowed",
                             of);
        if (load_blob(d, m, of, "client-certificate", "client-certificate-data", &r->client_cert,
                      &r->client_cert_len, e) < 0 ||
            load_blob(d, m, of, "client-key", "client-key-data", &r->client_key, &r->client_key_len,
                      e) < 0)
                return -1;
        if (!r->client_cert != !r->client_key)
                return kc_at(e, d, u->item, "%s has a client %s but no client %s", of,
                             r->client_cert ? "certificate" : "key",
                             r->client_cert ? "key" : "certificate");
        struct err te;
        if (kubeconfig_token_check(token, "the kubeconfig", &te) < 0)
                return kc_at(e, d, map_get(d, m, "token"), "token of %s: %s", of, te.msg);
        if (token && *token && !(r->token = kc_strdup(token, e)))
                return -1;
        /* client-go: the token file, re-read periodically, wins over token. */
        if (token_file && *token_file) {
                if (!(r->token_file = kc_resolve_path(d->dir, token_file, e)))
                        return -1;
                char *t;
                if (read_token_file(r->token_file, &t) < 0)
                        return kc_at(e, d, map_get(d, m, "tokenFile"),
                                     "tokenFile of %s: cannot read '%s': %s", of, r->token_file,
                                     strerror(errno));
                kc_free_secret_str(r->token);
                r->token = t;
                if (kubeconfig_token_check(t, "its tokenFile", &te) < 0)
                        return kc_at(e, d, map_get(d, m, "tokenFile"), "tokenFile of %s ('%s'): %s",
                                     of, r->token_file, te.msg);
        }
        if (username && *username && !(r->username = kc_strdup(username, e)))
                return -1;
        if (password && *password && !(r->password = kc_strdup(password, e)))
                return -1;
        if (exec)
                return kc_load_exec(d, exec, of, ci, o, r, e);
        return 0;
}

/* ---- entry points ---- */

void kubeconfig_rest_free(struct kubeconfig_rest *r)
{
        if (!r)
                return;
        free(r->server);
        free(r->context);
        free(r->cluster);
        free(r->user);
        free(r->namespace_);
        kc_free_secret(r->ca, r->ca_len);
        kc_free_secret(r->client_cert, r->client_cert_len);
        kc_free_secret(r->client_key, r->client_key_len);
        free(r->tls_server_name);
        kc_free_secret_str(r->token);
        free(r->token_file);
        kc_free_secret_str(r->username);
        kc_free_secret_str(r->password);
        free(r->source);
        free(r);
}

int kubeconfig_token_read(const char *path, char **out, struct err *e)
{
        char *t;
        if (!path)
                return err_set(e, ERR_CONFIG, "no token file to read");
        if (read_token_file(path, &t) < 0)
                return err_sys(e, ERR_CONFIG, "cannot read token file '%s'", path);
        if (kubeconfig_token_check(t, "the token file", e) < 0) {
                kc_free_secret_str(t);
                return err_prefix(e, "'%s'", path);
        }
        *out = t;
        return 0;
}

/* Fill r from the merged files; tried lists what was looked at. */
static int resolve(struct kc_set *s, const struct kubeconfig_opts *o, struct kubeconfig_rest *r,
                   struct err *e)
{
        struct buf paths, names;
        buf_init(&paths, 2 * KC_LIST_MAX);
        buf_init(&names, 2 * KC_LIST_MAX);
        int rc = -1;
        set_paths(s, &paths);
        const char *ctx = o->context && *o->context ? o->context : NULL;
        for (size_t i = 0; i < s->n && !ctx; i++) {
                const char *cc = NULL;
                (void)kc_get_str(&s->docs[i], s->docs[i].root, "current-context", "", &cc, NULL);
                if (cc && *cc)
                        ctx = cc;
        }
        if (!ctx) {
                set_names(s, 1, &names);
                err_set(e, ERR_CONFIG,
                        "no context selected: current-context is not set in kubeconfig %s and no "
                        "--context was given (available: %s)",
                        buf_str(&paths), names.len ? buf_str(&names) : "none");
                goto out;
        }
        struct kc_entry c = {0}, cl = {0}, u = {0};
        if (!set_find(s, 1, ctx, &c)) {
                set_names(s, 1, &names);
                err_set(e, ERR_CONFIG, "context \"%s\" not found in kubeconfig %s (available: %s)",
                        ctx, buf_str(&paths), names.len ? buf_str(&names) : "none");
                goto out;
        }
        char of[300];
        snprintf(of, sizeof of, "context \"%.200s\"", c.name);
        const char *cluster, *user, *ns;
        if (kc_get_str(c.doc, c.body, "cluster", of, &cluster, e) < 0 ||
            kc_get_str(c.doc, c.body, "user", of, &user, e) < 0 ||
            kc_get_str(c.doc, c.body, "namespace", of, &ns, e) < 0)
                goto out;
        if (!cluster || !*cluster) {
                kc_at(e, c.doc, c.item, "%s names no cluster", of);
                goto out;
        }
        if (!set_find(s, 0, cluster, &cl)) {
                set_names(s, 0, &names);
                kc_at(e, c.doc, c.item,
                      "cluster \"%s\" of %s not found in kubeconfig %s (available clusters: %s)",
                      cluster, of, buf_str(&paths), names.len ? buf_str(&names) : "none");
                goto out;
        }
        if (user && *user && !set_find(s, 2, user, &u)) {
                set_names(s, 2, &names);
                kc_at(e, c.doc, c.item,
                      "user \"%s\" of %s not found in kubeconfig %s (available users: %s)", user,
                      of, buf_str(&paths), names.len ? buf_str(&names) : "none");
                goto out;
        }
        if (!(r->context = kc_strdup(c.name, e)) || !(r->cluster = kc_strdup(cl.name, e)) ||
            (user && *user && !(r->user = kc_strdup(u.name, e))) ||
            !(r->source = kc_strdup(c.doc->path, e)))
                goto out;
        if (!r->namespace_ && ns && *ns && !(r->namespace_ = kc_strdup(ns, e)))
                goto out;
        struct kc_cluster ci = {0};
        if (load_cluster(&cl, &ci, r, e) < 0)
                goto out;
        if (user && *user && load_user(&u, &ci, o, r, e) < 0)
                goto out;
        rc = 0;
out:
        buf_fini(&paths);
        buf_fini(&names);
        return rc;
}

/* The files kubectl would read, in its order: --kubeconfig, else each of
 * $KUBECONFIG, else ~/.kube/config. tried collects the missing ones. */
static int set_gather(struct kc_set *s, const struct kubeconfig_opts *o, struct buf *tried,
                      struct err *e)
{
        bool missing;
        const char *list = env_or(o->env_kubeconfig, "KUBECONFIG");
        const char *home = env_or(o->home, "HOME");
        if (o->kubeconfig && *o->kubeconfig) {
                if (set_add(s, o->kubeconfig, false, &missing, e) < 0)
                        return -1;
        } else if (list) {
                /* Split on ':', skip empty entries and repeats, tolerate missing files. */
                const char *p = list;
                while (*p) {
                        size_t n = strcspn(p, ":");
                        if (n) {
                                char *one = kc_asprintf(e, "%.*s", (int)n, p);
                                if (!one)
                                        return -1;
                                bool dup = false;
                                for (size_t i = 0; i < s->n && !dup; i++)
                                        dup = !strcmp(s->docs[i].path, one);
                                int arc = dup ? 0 : set_add(s, one, true, &missing, e);
                                if (!dup && (arc < 0 || missing))
                                        note_tried(tried, one);
                                free(one);
                                if (arc < 0)
                                        return -1;
                        }
                        p += n;
                        if (*p == ':')
                                p++;
                }
        } else if (home) {
                char *path = kc_asprintf(e, "%s/.kube/config", home);
                if (!path)
                        return -1;
                int arc = set_add(s, path, true, &missing, e);
                note_tried(tried, path);
                free(path);
                if (arc < 0)
                        return -1;
        }
        return 0;
}

int kubeconfig_context_names(const struct kubeconfig_opts *opts, struct buf *out, struct err *e)
{
        static const struct kubeconfig_opts defaults;
        const struct kubeconfig_opts *o = opts ? opts : &defaults;
        struct kc_set s = {0};
        struct buf tried;
        buf_init(&tried, 2 * KC_LIST_MAX);
        int rc = -1;
        if (set_gather(&s, o, &tried, e) < 0)
                goto out;
        for (size_t i = 0; i < s.n; i++) {
                struct kc_doc *d = &s.docs[i];
                yaml_node_t *seq = d->root ? map_get(d, d->root, "contexts") : NULL;
                if (!seq || seq->type != YAML_SEQUENCE_NODE)
                        continue;
                for (yaml_node_item_t *it = seq->data.sequence.items.start;
                     it < seq->data.sequence.items.top; it++) {
                        const char *n = NULL;
                        yaml_node_t *item = kc_seq_item(d, seq, it);
                        struct kc_entry first;
                        if (!item || item->type != YAML_MAPPING_NODE ||
                            kc_get_str(d, item, "name", "", &n, NULL) < 0 || !n || !*n ||
                            !set_find(&s, 1, n, &first) || first.item != item)
                                continue; /* shadowed by an earlier file */
                        if (buf_puts(out, n) < 0 || buf_putc(out, '\n') < 0) {
                                err_set(e, ERR_SOFTWARE, "context names: too many");
                                goto out;
                        }
                }
        }
        rc = 0;
out:
        set_fini(&s);
        buf_fini(&tried);
        return rc;
}

int kubeconfig_load(const struct kubeconfig_opts *opts, struct kubeconfig_rest **out, struct err *e)
{
        static const struct kubeconfig_opts defaults;
        const struct kubeconfig_opts *o = opts ? opts : &defaults;
        struct kc_set s = {0};
        struct buf tried;
        buf_init(&tried, 2 * KC_LIST_MAX);
        struct kubeconfig_rest *r = calloc(1, sizeof *r);
        int rc = -1;
        if (!r) {
                err_sys(e, ERR_SOFTWARE, "out of memory");
                goto out;
        }
        if (o->namespace_ && *o->namespace_ && !(r->namespace_ = kc_strdup(o->namespace_, e)))
                goto out;

        if (set_gather(&s, o, &tried, e) < 0)
                goto out;

        /* kubectl falls back to the in-cluster config when there is no
         * kubeconfig, or only empty ones, and no --context asks for one. */
        const char *host = env_or(o->env_service_host, "KUBERNETES_SERVICE_HOST");
        const char *port = env_or(o->env_service_port, "KUBERNETES_SERVICE_PORT");
        bool in_cluster = host && port && !(o->context && *o->context);
        if (s.n == 0 || (in_cluster && set_is_empty(&s))) {
                if (in_cluster) {
                        if (load_in_cluster(o, host, port, r, e) < 0)
                                goto out;
                } else if (host && port) {
                        err_set(
                            e, ERR_CONFIG, "no kubeconfig found (tried %s) for --context \"%s\"",
                            tried.len ? buf_str(&tried) : "nothing: $KUBECONFIG and $HOME unset",
                            o->context);
                        goto out;
                } else if (s.n == 0) {
                        err_set(e, ERR_CONFIG,
                                "no kubeconfig found (tried %s) and not running in a cluster "
                                "(KUBERNETES_SERVICE_HOST/PORT not set)",
                                tried.len ? buf_str(&tried)
                                          : "nothing: $KUBECONFIG and $HOME unset");
                        goto out;
                }
        } else if (resolve(&s, o, r, e) < 0) {
                goto out;
        }
        if (!r->namespace_ && !(r->namespace_ = kc_strdup("default", e)))
                goto out;
        *out = r;
        r = NULL;
        rc = 0;
out:
        kubeconfig_rest_free(r);
        set_fini(&s);
        buf_fini(&tried);
        return rc;
}
