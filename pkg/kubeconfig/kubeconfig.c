#include "kubeconfig.h"

#include "codec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <yaml.h>

#include "buf.h"

#define KC_FILE_MAX        (16u << 20) /* a kubeconfig larger than this is not one */
#define KC_SECRET_FILE_MAX (1u << 20)  /* token, CA, cert, key files */
#define KC_EXEC_OUT_MAX    (1u << 20)
#define KC_EXEC_TIMEOUT_MS 60000
#define KC_SA_DIR          "/var/run/secrets/kubernetes.io/serviceaccount"
#define KC_LIST_MAX        480 /* bytes of names/paths quoted in one message */

#define API_V1      "client.authentication.k8s.io/v1"
#define API_V1BETA1 "client.authentication.k8s.io/v1beta1"

/* One parsed YAML document: a kubeconfig file or an exec plugin's output. */
struct kc_doc {
        char *label; /* "kubeconfig '/x/config'", the subject of every message */
        char *path;  /* the file as named, NULL for plugin output */
        char *dir;   /* absolute directory relative paths resolve against */
        yaml_document_t doc;
        bool loaded;
        yaml_node_t *root; /* a mapping, or NULL for an empty document */
};

/* A named entry of clusters/contexts/users and the file that defined it. */
struct kc_entry {
        struct kc_doc *doc;
        yaml_node_t *item; /* the list item ({name:, cluster:}) */
        yaml_node_t *body; /* its cluster/context/user map, NULL when absent */
        const char *name;
};

/* What the cluster entry says, kept for the exec plugin's cluster info. */
struct kc_cluster {
        const char *server_raw;
        const char *proxy_url;
};

/* ---- small helpers ---- */

static void wipe(void *p, size_t n)
{
        if (p && n)
                explicit_bzero(p, n);
}

static void free_secret_str(char *s)
{
        if (s) {
                wipe(s, strlen(s));
                free(s);
        }
}

static void free_secret(unsigned char *p, size_t n)
{
        wipe(p, n);
        free(p);
}

/* Zero the buffer's whole allocation, then release it. */
static void buf_wipe(struct buf *b)
{
        wipe(b->data, b->alloc);
        buf_fini(b);
}

static char *xstrdup(const char *s, struct err *e)
{
        char *d = strdup(s);
        if (!d)
                err_sys(e, ERR_SOFTWARE, "out of memory");
        return d;
}

static char *xasprintf(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *xasprintf(struct err *e, const char *fmt, ...)
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
        wipe(chunk, sizeof chunk); /* the chunk may hold a token or key */
        close(fd);
        errno = saved;
        return rc;
}

/* The trimmed contents of a token file as a new string. -1 with errno. */
static int read_token_file(const char *path, char **out)
{
        struct buf b;
        buf_init(&b, KC_SECRET_FILE_MAX);
        if (read_file(path, KC_SECRET_FILE_MAX, &b) < 0) {
                int saved = errno;
                buf_wipe(&b);
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
                buf_wipe(&b);
                errno = ENOMEM;
                return -1;
        }
        memcpy(t, s + start, end - start);
        t[end - start] = '\0';
        buf_wipe(&b);
        *out = t;
        return 0;
}

/* path if absolute, else dir/path. */
static char *resolve_path(const char *dir, const char *path, struct err *e)
{
        if (path[0] == '/' || !dir)
                return xstrdup(path, e);
        return xasprintf(e, "%s/%s", dir, path);
}

/* The absolute directory of a file path, for kubectl's relative-path rule. */
static char *dir_of(const char *path, struct err *e)
{
        const char *slash = strrchr(path, '/');
        char *dir;
        if (!slash)
                dir = xstrdup(".", e);
        else if (slash == path)
                dir = xstrdup("/", e);
        else
                dir = xasprintf(e, "%.*s", (int)(slash - path), path);
        if (!dir || dir[0] == '/')
                return dir;
        char cwd[4096];
        if (!getcwd(cwd, sizeof cwd))
                return dir; /* relative still works while the cwd stays */
        char *abs = strcmp(dir, ".") == 0 ? xstrdup(cwd, e) : xasprintf(e, "%s/%s", cwd, dir);
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
                free_secret(o, CODEC_BASE64_DECODED_MAX(n));
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
static int at(struct err *e, const struct kc_doc *d, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int at(struct err *e, const struct kc_doc *d, const yaml_node_t *n, const char *fmt, ...)
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

static void doc_fini(struct kc_doc *d)
{
        if (d->loaded) {
                /* Scalars may be tokens, passwords or keys: zero them first. */
                for (yaml_node_t *n = d->doc.nodes.start; n < d->doc.nodes.top; n++)
                        if (n->type == YAML_SCALAR_NODE)
                                wipe(n->data.scalar.value, n->data.scalar.length);
                yaml_document_delete(&d->doc);
        }
        free(d->label);
        free(d->path);
        free(d->dir);
        memset(d, 0, sizeof *d);
}

/* Parse data (a kubeconfig or plugin output; JSON is YAML flow style) into d,
 * which already has its label. The top level must be a map or empty. */
static int doc_parse(struct kc_doc *d, const unsigned char *data, size_t len, struct err *e)
{
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
                return at(e, d, root, "expected a map at the top level, got %s", node_kind(root));
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
static int get_str(struct kc_doc *d, yaml_node_t *map, const char *key, const char *of,
                   const char **out, struct err *e)
{
        *out = NULL;
        yaml_node_t *v = map_get(d, map, key);
        if (!v)
                return 0;
        if (v->type != YAML_SCALAR_NODE)
                return at(e, d, v, "%s of %s must be a string, got %s", key, of, node_kind(v));
        if (strlen((char *)v->data.scalar.value) != v->data.scalar.length)
                return at(e, d, v, "%s of %s contains a NUL byte", key, of);
        *out = (const char *)v->data.scalar.value;
        return 0;
}

static int get_bool(struct kc_doc *d, yaml_node_t *map, const char *key, const char *of, bool *out,
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
        return at(e, d, v, "%s of %s must be true or false", key, of);
}

static int get_typed(struct kc_doc *d, yaml_node_t *map, const char *key, const char *of,
                     yaml_node_type_t type, yaml_node_t **out, struct err *e)
{
        *out = NULL;
        yaml_node_t *v = map_get(d, map, key);
        if (!v)
                return 0;
        if (v->type != type) {
                yaml_node_t want = {.type = type};
                return at(e, d, v, "%s of %s must be %s, got %s", key, of, node_kind(&want),
                          node_kind(v));
        }
        *out = v;
        return 0;
}

static yaml_node_t *seq_item(struct kc_doc *d, yaml_node_t *seq, yaml_node_item_t *it)
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
                doc_fini(&s->docs[i]);
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
                v[i].item = seq_item(d, seq, &seq->data.sequence.items.start[i]);
                v[i].idx = i;
                (void)get_str(d, v[i].item, "name", "", &v[i].name, NULL);
        }
        qsort(v, n, sizeof *v, named_cmp);
        int rc = 0;
        for (size_t i = 1; i < n && !rc; i++)
                if (!strcmp(v[i - 1].name, v[i].name))
                        rc = at(e, d, v[i].item, "duplicate %s name \"%.200s\"", what, v[i].name);
        free(v);
        return rc;
}

/* kubectl rejects a file whose named lists are malformed, used or not. */
static int validate_doc(struct kc_doc *d, struct err *e)
{
        const char *cc;
        if (get_str(d, d->root, "current-context", "the kubeconfig", &cc, e) < 0)
                return -1;
        for (size_t l = 0; l < sizeof kc_lists / sizeof kc_lists[0]; l++) {
                yaml_node_t *seq;
                if (get_typed(d, d->root, kc_lists[l][0], "the kubeconfig", YAML_SEQUENCE_NODE,
                              &seq, e) < 0)
                        return -1;
                if (!seq)
                        continue;
                for (yaml_node_item_t *it = seq->data.sequence.items.start;
                     it < seq->data.sequence.items.top; it++) {
                        yaml_node_t *item = seq_item(d, seq, it);
                        if (!item || item->type != YAML_MAPPING_NODE)
                                return at(e, d, item, "entries of %s must be maps, got %s",
                                          kc_lists[l][0], item ? node_kind(item) : "nothing");
                        const char *name;
                        yaml_node_t *body;
                        if (get_str(d, item, "name", kc_lists[l][1], &name, e) < 0)
                                return -1;
                        if (!name || !*name)
                                return at(e, d, item, "an entry of %s has no name", kc_lists[l][0]);
                        char of[300];
                        snprintf(of, sizeof of, "%s \"%.200s\"", kc_lists[l][1], name);
                        if (get_typed(d, item, kc_lists[l][1], of, YAML_MAPPING_NODE, &body, e) < 0)
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
                buf_wipe(&b);
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
                buf_wipe(&b);
                return err_sys(e, ERR_SOFTWARE, "out of memory");
        }
        s->docs = nd;
        struct kc_doc *d = &s->docs[s->n++];
        memset(d, 0, sizeof *d);
        int rc = -1;
        if (!(d->path = xstrdup(path, e)) || !(d->dir = dir_of(path, e)) ||
            !(d->label = xasprintf(e, "kubeconfig '%s'", path)))
                goto out;
        if (doc_parse(d, (const unsigned char *)buf_str(&b), b.len, e) < 0)
                goto out;
        if (validate_doc(d, e) < 0)
                goto out;
        rc = 0;
out:
        buf_wipe(&b);
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
                        yaml_node_t *item = seq_item(d, seq, it);
                        const char *n = NULL;
                        (void)get_str(d, item, "name", "", &n, NULL);
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
                                (void)buf_puts(b, ", ...");
                                return;
                        }
                        const char *n = NULL;
                        (void)get_str(d, seq_item(d, seq, it), "name", "", &n, NULL);
                        struct kc_entry first;
                        if (++seen > 200) {
                                (void)buf_puts(b, ", ...");
                                return;
                        }
                        if (!n || !set_find(s, list, n, &first) ||
                            first.item != seq_item(d, seq, it))
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
                  xasprintf(e, "https://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port)))
                return -1;
        if (!(r->token_file = xasprintf(e, "%s/token", sa)))
                return -1;
        if (read_token_file(r->token_file, &r->token) < 0)
                return err_sys(e, ERR_CONFIG,
                               "in-cluster config: cannot read service-account token '%s'",
                               r->token_file);
        if (!*r->token) {
                free(r->token);
                r->token = NULL;
        }
        char *ca = xasprintf(e, "%s/ca.crt", sa);
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
                char *nsf = xasprintf(e, "%s/namespace", sa);
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
        if (get_str(d, m, "server", of, &server, e) < 0 ||
            get_str(d, m, "certificate-authority", of, &ca_file, e) < 0 ||
            get_str(d, m, "certificate-authority-data", of, &ca_data, e) < 0 ||
            get_str(d, m, "tls-server-name", of, &sni, e) < 0 ||
            get_str(d, m, "proxy-url", of, &info->proxy_url, e) < 0 ||
            get_bool(d, m, "insecure-skip-tls-verify", of, &insecure, e) < 0)
                return -1;
        if (!server || !*server)
                return at(e, d, c->item, "%s has no server", of);
        info->server_raw = server;
        /* A bare host:port means https (a token must never travel over plain http). */
        if (!(r->server =
                  strstr(server, "://") ? xstrdup(server, e) : xasprintf(e, "https://%s", server)))
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
                return at(e, d, c->item,
                          "%s has both certificate-authority and certificate-authority-data", of);
        if (insecure && (ca_file || ca_data))
                return at(e, d, c->item,
                          "%s sets insecure-skip-tls-verify together with a certificate authority",
                          of);
        r->insecure_skip_tls_verify = insecure;
        if (sni && *sni && !(r->tls_server_name = xstrdup(sni, e)))
                return -1;
        if (ca_data) {
                if (b64_decode(ca_data, strlen(ca_data), &r->ca, &r->ca_len) < 0) {
                        if (errno == ENOMEM)
                                return err_sys(e, ERR_SOFTWARE, "out of memory");
                        return at(e, d, map_get(d, m, "certificate-authority-data"),
                                  "certificate-authority-data of %s is not valid base64", of);
                }
                if (!r->ca_len) {
                        free(r->ca);
                        r->ca = NULL;
                }
        } else if (ca_file) {
                char *p = resolve_path(d->dir, ca_file, e);
                if (!p)
                        return -1;
                struct buf b;
                buf_init(&b, KC_SECRET_FILE_MAX);
                if (read_file(p, KC_SECRET_FILE_MAX, &b) < 0) {
                        at(e, d, map_get(d, m, "certificate-authority"), "%s: cannot read '%s': %s",
                           of, p, strerror(errno));
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
        if (get_str(d, m, file_key, of, &file, e) < 0 || get_str(d, m, data_key, of, &data, e) < 0)
                return -1;
        if (file && !*file)
                file = NULL;
        if (data && !*data)
                data = NULL;
        if (file && data)
                return at(e, d, map_get(d, m, data_key), "%s has both %s and %s", of, file_key,
                          data_key);
        if (data) {
                if (b64_decode(data, strlen(data), out, out_len) < 0) {
                        if (errno == ENOMEM)
                                return err_sys(e, ERR_SOFTWARE, "out of memory");
                        return at(e, d, map_get(d, m, data_key), "%s of %s is not valid base64",
                                  data_key, of);
                }
                if (!*out_len) {
                        free(*out);
                        *out = NULL;
                }
        } else if (file) {
                char *p = resolve_path(d->dir, file, e);
                if (!p)
                        return -1;
                struct buf b;
                buf_init(&b, KC_SECRET_FILE_MAX);
                if (read_file(p, KC_SECRET_FILE_MAX, &b) < 0) {
                        at(e, d, map_get(d, m, file_key), "%s of %s: cannot read '%s': %s",
                           file_key, of, p, strerror(errno));
                        buf_wipe(&b);
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

/* Run argv[0] without a shell: stdin /dev/null, stdout captured into out
 * (capped), stderr inherited, default signal dispositions and an empty mask
 * (the caller may block signals for its event loop). *spawn_errno is the
 * posix_spawn failure (e.g. ENOENT), 0 when the plugin ran. On return the
 * child has been reaped; *status is its wait status. */
enum exec_result { EXEC_OK, EXEC_SPAWN, EXEC_TOOBIG, EXEC_TIMEOUT, EXEC_SYS };

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void kill_reap(pid_t pid, int *status)
{
        kill(pid, SIGKILL);
        while (waitpid(pid, status, 0) < 0 && errno == EINTR)
                ;
}

static enum exec_result exec_run(char *const argv[], char *const envp[], int timeout_ms,
                                 struct buf *out, int *status, int *sys_errno)
{
        *status = 0;
        *sys_errno = 0;
        int pfd[2];
        if (pipe2(pfd, O_CLOEXEC) < 0) {
                *sys_errno = errno;
                return EXEC_SYS;
        }
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawnattr_init(&attr);
        sigset_t none, all;
        sigemptyset(&none);
        sigfillset(&all);
        sigdelset(&all, SIGKILL);
        sigdelset(&all, SIGSTOP);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &all);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        pid_t pid;
        int rc = strchr(argv[0], '/') ? posix_spawn(&pid, argv[0], &fa, &attr, argv, envp)
                                      : posix_spawnp(&pid, argv[0], &fa, &attr, argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        close(pfd[1]);
        if (rc != 0) {
                close(pfd[0]);
                *sys_errno = rc;
                return EXEC_SPAWN;
        }
        int64_t deadline = now_ms() + timeout_ms;
        enum exec_result res = EXEC_OK;
        char chunk[4096];
        for (;;) {
                int64_t left = deadline - now_ms();
                if (left <= 0) {
                        res = EXEC_TIMEOUT;
                        break;
                }
                struct pollfd p = {.fd = pfd[0], .events = POLLIN};
                int pr = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
                if (pr < 0 && errno == EINTR)
                        continue;
                if (pr < 0) {
                        *sys_errno = errno;
                        res = EXEC_SYS;
                        break;
                }
                if (pr == 0)
                        continue; /* the deadline check above ends it */
                ssize_t n = read(pfd[0], chunk, sizeof chunk);
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (n < 0) {
                        *sys_errno = errno;
                        res = EXEC_SYS;
                        break;
                }
                if (n == 0)
                        break;
                if (buf_append(out, chunk, (size_t)n) < 0) {
                        res = EXEC_TOOBIG;
                        break;
                }
        }
        wipe(chunk, sizeof chunk);
        close(pfd[0]);
        if (res != EXEC_OK) {
                kill_reap(pid, status);
                return res;
        }
        /* stdout closed; the plugin still has until the deadline to exit. */
        for (;;) {
                pid_t w = waitpid(pid, status, WNOHANG);
                if (w == pid)
                        return EXEC_OK;
                if (w < 0 && errno != EINTR) {
                        *sys_errno = errno;
                        kill_reap(pid, status);
                        return EXEC_SYS;
                }
                if (now_ms() >= deadline) {
                        kill_reap(pid, status);
                        return EXEC_TIMEOUT;
                }
                struct timespec ts = {0, 5 * 1000000};
                nanosleep(&ts, NULL);
        }
}

/* The ExecCredential handed to the plugin in KUBERNETES_EXEC_INFO. */
static int exec_info(struct buf *b, const char *api, bool cluster_info, const struct kc_cluster *ci,
                     const struct kubeconfig_rest *r)
{
        int rc = buf_puts(b, "{\"apiVersion\":");
        rc |= codec_json_string(b, api, strlen(api));
        rc |= buf_puts(b, ",\"kind\":\"ExecCredential\",\"spec\":{");
        if (cluster_info) {
                rc |= buf_puts(b, "\"cluster\":{\"server\":");
                rc |= codec_json_string(b, r->server, strlen(r->server));
                if (r->tls_server_name) {
                        rc |= buf_puts(b, ",\"tls-server-name\":");
                        rc |= codec_json_string(b, r->tls_server_name, strlen(r->tls_server_name));
                }
                if (r->insecure_skip_tls_verify)
                        rc |= buf_puts(b, ",\"insecure-skip-tls-verify\":true");
                if (r->ca) {
                        rc |= buf_puts(b, ",\"certificate-authority-data\":\"");
                        rc |= codec_base64_encode(r->ca, r->ca_len, b);
                        rc |= buf_putc(b, '"');
                }
                if (ci->proxy_url && *ci->proxy_url) {
                        rc |= buf_puts(b, ",\"proxy-url\":");
                        rc |= codec_json_string(b, ci->proxy_url, strlen(ci->proxy_url));
                }
                rc |= buf_puts(b, "},");
        }
        rc |= buf_puts(b, "\"interactive\":false}}");
        return rc ? -1 : 0;
}

/* Read status.token or status.clientCertificateData/clientKeyData from the
 * plugin's stdout (JSON, parsed as YAML flow). Messages never quote it. */
static int exec_parse(const char *label, const char *api, struct buf *outb,
                      struct kubeconfig_rest *r, struct err *e)
{
        struct kc_doc d = {0};
        int rc = -1;
        if (!(d.label = xasprintf(e, "%s: output", label)))
                return -1;
        /* A NUL would silently end the strings we copy out: refuse it. */
        if (memchr(buf_str(outb), '\0', outb->len)) {
                err_set(e, ERR_CONFIG, "%s: contains a NUL byte, not an ExecCredential", d.label);
                goto out;
        }
        if (doc_parse(&d, (const unsigned char *)buf_str(outb), outb->len, e) < 0)
                goto out;
        if (!d.root) {
                err_set(e, ERR_CONFIG, "%s: empty, expected an ExecCredential", d.label);
                goto out;
        }
        const char *got_api, *kind, *token, *cert, *key;
        yaml_node_t *status;
        if (get_str(&d, d.root, "apiVersion", "the ExecCredential", &got_api, e) < 0 ||
            get_str(&d, d.root, "kind", "the ExecCredential", &kind, e) < 0 ||
            get_typed(&d, d.root, "status", "the ExecCredential", YAML_MAPPING_NODE, &status, e) <
                0)
                goto out;
        if (!kind || strcmp(kind, "ExecCredential")) {
                at(e, &d, d.root, "kind must be ExecCredential");
                goto out;
        }
        if (!got_api || strcmp(got_api, api)) {
                at(e, &d, d.root, "apiVersion must be %s as configured", api);
                goto out;
        }
        if (!status) {
                at(e, &d, d.root, "no status in the ExecCredential");
                goto out;
        }
        if (get_str(&d, status, "token", "status", &token, e) < 0 ||
            get_str(&d, status, "clientCertificateData", "status", &cert, e) < 0 ||
            get_str(&d, status, "clientKeyData", "status", &key, e) < 0)
                goto out;
        if ((cert && *cert) != (key && *key)) {
                at(e, &d, status, "status has only one of clientCertificateData and clientKeyData");
                goto out;
        }
        if (!(token && *token) && !(cert && *cert)) {
                at(e, &d, status, "status has neither a token nor a client certificate");
                goto out;
        }
        if (token && *token) {
                char *t = xstrdup(token, e);
                if (!t)
                        goto out;
                free_secret_str(r->token);
                r->token = t;
        }
        if (cert && *cert) {
                unsigned char *c = (unsigned char *)xstrdup(cert, e);
                unsigned char *k = c ? (unsigned char *)xstrdup(key, e) : NULL;
                if (!k) {
                        free(c);
                        goto out;
                }
                free_secret(r->client_cert, r->client_cert_len);
                free_secret(r->client_key, r->client_key_len);
                r->client_cert = c;
                r->client_cert_len = strlen(cert);
                r->client_key = k;
                r->client_key_len = strlen(key);
        }
        rc = 0;
out:
        doc_fini(&d);
        return rc;
}

static int load_exec(struct kc_doc *d, yaml_node_t *m, const char *of, const struct kc_cluster *ci,
                     const struct kubeconfig_opts *o, struct kubeconfig_rest *r, struct err *e)
{
        const char *api, *command, *hint, *mode;
        bool cluster_info;
        yaml_node_t *args, *env;
        if (get_str(d, m, "apiVersion", "the exec plugin", &api, e) < 0 ||
            get_str(d, m, "command", "the exec plugin", &command, e) < 0 ||
            get_str(d, m, "installHint", "the exec plugin", &hint, e) < 0 ||
            get_str(d, m, "interactiveMode", "the exec plugin", &mode, e) < 0 ||
            get_bool(d, m, "provideClusterInfo", "the exec plugin", &cluster_info, e) < 0 ||
            get_typed(d, m, "args", "the exec plugin", YAML_SEQUENCE_NODE, &args, e) < 0 ||
            get_typed(d, m, "env", "the exec plugin", YAML_SEQUENCE_NODE, &env, e) < 0)
                return -1;
        if (!command || !*command)
                return at(e, d, m, "the exec plugin of %s has no command", of);
        if (!api || (strcmp(api, API_V1) && strcmp(api, API_V1BETA1)))
                return at(e, d, m,
                          "the exec plugin of %s needs apiVersion " API_V1 " or " API_V1BETA1
                          "%s%s%s",
                          of, api ? " (not \"" : "", api ? api : "", api ? "\")" : "");
        if (!mode && !strcmp(api, API_V1))
                return at(e, d, m,
                          "interactiveMode must be specified for %s to use exec "
                          "authentication plugin",
                          of);
        if (mode && strcmp(mode, "Never") && strcmp(mode, "IfAvailable")) {
                if (!strcmp(mode, "Always"))
                        return at(e, d, m,
                                  "the exec plugin of %s needs interactiveMode Always, but relrun "
                                  "runs plugins without a terminal",
                                  of);
                return at(e, d, m, "interactiveMode of %s must be Never, IfAvailable or Always",
                          of);
        }

        int rc = -1;
        size_t nargs =
            args ? (size_t)(args->data.sequence.items.top - args->data.sequence.items.start) : 0;
        size_t nenv =
            env ? (size_t)(env->data.sequence.items.top - env->data.sequence.items.start) : 0;
        size_t nenviron = 0;
        while (environ && environ[nenviron])
                nenviron++;
        char **argv = calloc(nargs + 2, sizeof *argv);
        char **envp = calloc(nenviron + nenv + 2, sizeof *envp);
        char **owned = calloc(nenv + 3, sizeof *owned); /* strings we allocated */
        size_t nowned = 0, ne = 0;
        char *path = NULL, *label = NULL;
        struct buf info, outb;
        buf_init(&info, 1u << 20);
        buf_init(&outb, KC_EXEC_OUT_MAX);
        if (!argv || !envp || !owned) {
                err_sys(e, ERR_SOFTWARE, "out of memory");
                goto out;
        }
        /* kubectl resolves a command containing a '/' against the kubeconfig. */
        if (!(path = strchr(command, '/') ? resolve_path(d->dir, command, e) : xstrdup(command, e)))
                goto out;
        if (!(label = xasprintf(e, "exec plugin '%s' for %s in %s", command, of, d->label)))
                goto out;
        argv[0] = path;
        for (size_t i = 0; i < nargs; i++) {
                yaml_node_t *a = seq_item(d, args, &args->data.sequence.items.start[i]);
                if (!a || a->type != YAML_SCALAR_NODE ||
                    strlen((char *)a->data.scalar.value) != a->data.scalar.length) {
                        at(e, d, a, "args of the exec plugin of %s must be strings", of);
                        goto out;
                }
                argv[i + 1] = (char *)a->data.scalar.value;
        }
        /* Plugin env entries override ours; KUBERNETES_EXEC_INFO is always ours. */
        const char **names = calloc(nenv + 1, sizeof *names);
        const char **values = calloc(nenv + 1, sizeof *values);
        if (!names || !values) {
                free(names);
                free(values);
                err_sys(e, ERR_SOFTWARE, "out of memory");
                goto out;
        }
        for (size_t i = 0; i < nenv; i++) {
                yaml_node_t *ev = seq_item(d, env, &env->data.sequence.items.start[i]);
                if (!ev || ev->type != YAML_MAPPING_NODE) {
                        free(names);
                        free(values);
                        at(e, d, ev, "env of the exec plugin of %s must be a list of {name, value}",
                           of);
                        goto out;
                }
                if (get_str(d, ev, "name", "an exec env entry", &names[i], e) < 0 ||
                    get_str(d, ev, "value", "an exec env entry", &values[i], e) < 0) {
                        free(names);
                        free(values);
                        goto out;
                }
                if (!names[i] || !*names[i] || strchr(names[i], '=')) {
                        free(names);
                        free(values);
                        at(e, d, ev, "an env entry of the exec plugin of %s has no valid name", of);
                        goto out;
                }
        }
        for (size_t i = 0; i < nenviron; i++) {
                const char *kv = environ[i];
                const char *eq = strchr(kv, '=');
                size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);
                bool drop = klen == strlen("KUBERNETES_EXEC_INFO") &&
                            !strncmp(kv, "KUBERNETES_EXEC_INFO", klen);
                for (size_t j = 0; j < nenv && !drop; j++)
                        drop = strlen(names[j]) == klen && !strncmp(kv, names[j], klen);
                if (!drop)
                        envp[ne++] = (char *)kv;
        }
        for (size_t i = 0; i < nenv; i++) {
                char *kv = xasprintf(e, "%s=%s", names[i], values[i] ? values[i] : "");
                if (!kv) {
                        free(names);
                        free(values);
                        goto out;
                }
                owned[nowned++] = kv;
                envp[ne++] = kv;
        }
        free(names);
        free(values);
        if (buf_puts(&info, "KUBERNETES_EXEC_INFO=") < 0 ||
            exec_info(&info, api, cluster_info, ci, r) < 0) {
                err_sys(e, ERR_SOFTWARE, "%s: cannot build KUBERNETES_EXEC_INFO", label);
                goto out;
        }
        envp[ne++] = (char *)buf_str(&info);

        int timeout = o->exec_timeout_ms > 0 ? o->exec_timeout_ms : KC_EXEC_TIMEOUT_MS;
        int status, sys;
        switch (exec_run(argv, envp, timeout, &outb, &status, &sys)) {
        case EXEC_SPAWN:
                errno = sys;
                if (sys == ENOENT && hint && *hint)
                        err_set(e, ERR_CONFIG, "%s: cannot run: %s; %s", label, strerror(sys),
                                hint);
                else
                        err_sys(e, ERR_CONFIG, "%s: cannot run", label);
                goto out;
        case EXEC_TOOBIG:
                err_set(e, ERR_CONFIG, "%s: printed more than %u MiB", label,
                        KC_EXEC_OUT_MAX >> 20);
                goto out;
        case EXEC_TIMEOUT:
                err_set(e, ERR_CONFIG, "%s: no answer within %d ms, killed", label, timeout);
                goto out;
        case EXEC_SYS:
                errno = sys;
                err_sys(e, ERR_CONFIG, "%s: cannot run", label);
                goto out;
        case EXEC_OK: break;
        }
        /* Its stdout may hold a credential: name the command, not the output. */
        if (WIFSIGNALED(status)) {
                err_set(e, ERR_CONFIG, "%s: killed by signal %d", label, WTERMSIG(status));
                goto out;
        }
        if (WEXITSTATUS(status) != 0) {
                err_set(e, ERR_CONFIG, "%s: exited with status %d", label, WEXITSTATUS(status));
                goto out;
        }
        if (exec_parse(label, api, &outb, r, e) < 0)
                goto out;
        rc = 0;
out:
        for (size_t i = 0; i < nowned; i++)
                free(owned[i]);
        free(owned);
        free(argv);
        free(envp);
        free(path);
        free(label);
        buf_fini(&info);
        buf_wipe(&outb);
        return rc;
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
                        (void)get_str(d, ap, "name", "auth-provider", &name, NULL);
                return at(e, d, ap,
                          "%s uses auth-provider%s%s%s, which is not supported, use an exec plugin "
                          "(e.g. gke-gcloud-auth-plugin, kubelogin)",
                          of, name ? " \"" : "", name ? name : "", name ? "\"" : "");
        }
        static const char *const impersonation[] = {"as", "as-uid", "as-groups", "as-user-extra"};
        for (size_t i = 0; i < sizeof impersonation / sizeof impersonation[0]; i++) {
                yaml_node_t *v = map_get(d, m, impersonation[i]);
                if (v)
                        return at(e, d, v, "%s uses impersonation (%s), which is not supported", of,
                                  impersonation[i]);
        }
        const char *token, *token_file, *username, *password;
        yaml_node_t *exec;
        if (get_str(d, m, "token", of, &token, e) < 0 ||
            get_str(d, m, "tokenFile", of, &token_file, e) < 0 ||
            get_str(d, m, "username", of, &username, e) < 0 ||
            get_str(d, m, "password", of, &password, e) < 0 ||
            get_typed(d, m, "exec", of, YAML_MAPPING_NODE, &exec, e) < 0)
                return -1;
        bool has_token = (token && *token) || (token_file && *token_file);
        bool has_basic = (username && *username) || (password && *password);
        if (has_token && has_basic)
                return at(e, d, u->item,
                          "%s has more than one authentication method (token and "
                          "username/password), only one is allowed",
                          of);
        if (load_blob(d, m, of, "client-certificate", "client-certificate-data", &r->client_cert,
                      &r->client_cert_len, e) < 0 ||
            load_blob(d, m, of, "client-key", "client-key-data", &r->client_key, &r->client_key_len,
                      e) < 0)
                return -1;
        if (!r->client_cert != !r->client_key)
                return at(e, d, u->item, "%s has a client %s but no client %s", of,
                          r->client_cert ? "certificate" : "key",
                          r->client_cert ? "key" : "certificate");
        if (token && *token && !(r->token = xstrdup(token, e)))
                return -1;
        /* client-go: the token file, re-read periodically, wins over token. */
        if (token_file && *token_file) {
                if (!(r->token_file = resolve_path(d->dir, token_file, e)))
                        return -1;
                char *t;
                if (read_token_file(r->token_file, &t) < 0)
                        return at(e, d, map_get(d, m, "tokenFile"),
                                  "tokenFile of %s: cannot read '%s': %s", of, r->token_file,
                                  strerror(errno));
                free_secret_str(r->token);
                r->token = t;
        }
        if (username && *username && !(r->username = xstrdup(username, e)))
                return -1;
        if (password && *password && !(r->password = xstrdup(password, e)))
                return -1;
        if (exec)
                return load_exec(d, exec, of, ci, o, r, e);
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
        free_secret(r->ca, r->ca_len);
        free_secret(r->client_cert, r->client_cert_len);
        free_secret(r->client_key, r->client_key_len);
        free(r->tls_server_name);
        free_secret_str(r->token);
        free(r->token_file);
        free_secret_str(r->username);
        free_secret_str(r->password);
        free(r->source);
        free(r);
}

int kubeconfig_rest_reload_token(struct kubeconfig_rest *r, struct err *e)
{
        if (!r || !r->token_file)
                return err_set(e, ERR_CONFIG, "no token file to re-read");
        char *t;
        if (read_token_file(r->token_file, &t) < 0)
                return err_sys(e, ERR_CONFIG, "cannot re-read token file '%s'", r->token_file);
        free_secret_str(r->token);
        r->token = t;
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
                (void)get_str(&s->docs[i], s->docs[i].root, "current-context", "", &cc, NULL);
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
        if (get_str(c.doc, c.body, "cluster", of, &cluster, e) < 0 ||
            get_str(c.doc, c.body, "user", of, &user, e) < 0 ||
            get_str(c.doc, c.body, "namespace", of, &ns, e) < 0)
                goto out;
        if (!cluster || !*cluster) {
                at(e, c.doc, c.item, "%s names no cluster", of);
                goto out;
        }
        if (!set_find(s, 0, cluster, &cl)) {
                set_names(s, 0, &names);
                at(e, c.doc, c.item,
                   "cluster \"%s\" of %s not found in kubeconfig %s (available clusters: %s)",
                   cluster, of, buf_str(&paths), names.len ? buf_str(&names) : "none");
                goto out;
        }
        if (user && *user && !set_find(s, 2, user, &u)) {
                set_names(s, 2, &names);
                at(e, c.doc, c.item,
                   "user \"%s\" of %s not found in kubeconfig %s (available users: %s)", user, of,
                   buf_str(&paths), names.len ? buf_str(&names) : "none");
                goto out;
        }
        if (!(r->context = xstrdup(c.name, e)) || !(r->cluster = xstrdup(cl.name, e)) ||
            (user && *user && !(r->user = xstrdup(u.name, e))) ||
            !(r->source = xstrdup(c.doc->path, e)))
                goto out;
        if (!r->namespace_ && ns && *ns && !(r->namespace_ = xstrdup(ns, e)))
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
        if (o->namespace_ && *o->namespace_ && !(r->namespace_ = xstrdup(o->namespace_, e)))
                goto out;

        bool missing;
        const char *list = env_or(o->env_kubeconfig, "KUBECONFIG");
        const char *home = env_or(o->home, "HOME");
        if (o->kubeconfig && *o->kubeconfig) {
                if (set_add(&s, o->kubeconfig, false, &missing, e) < 0)
                        goto out;
        } else if (list) {
                /* Split on ':', skip empty entries and repeats, tolerate missing files. */
                const char *p = list;
                while (*p) {
                        size_t n = strcspn(p, ":");
                        if (n) {
                                char *one = xasprintf(e, "%.*s", (int)n, p);
                                if (!one)
                                        goto out;
                                bool dup = false;
                                for (size_t i = 0; i < s.n && !dup; i++)
                                        dup = !strcmp(s.docs[i].path, one);
                                int arc = dup ? 0 : set_add(&s, one, true, &missing, e);
                                if (!dup && (arc < 0 || missing))
                                        (void)buf_printf(&tried, "%s'%s'", tried.len ? ", " : "",
                                                         one);
                                free(one);
                                if (arc < 0)
                                        goto out;
                        }
                        p += n;
                        if (*p == ':')
                                p++;
                }
        } else if (home) {
                char *path = xasprintf(e, "%s/.kube/config", home);
                if (!path)
                        goto out;
                int arc = set_add(&s, path, true, &missing, e);
                (void)buf_printf(&tried, "'%s'", path);
                free(path);
                if (arc < 0)
                        goto out;
        }

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
        if (!r->namespace_ && !(r->namespace_ = xstrdup("default", e)))
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
