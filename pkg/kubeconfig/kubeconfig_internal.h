/* kubeconfig internals shared by kubeconfig.c (files, merging, clusters,
 * users) and kubeconfig_exec.c (exec credential plugins). */
#ifndef RELRUN_KUBECONFIG_INTERNAL_H
#define RELRUN_KUBECONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <yaml.h>

#include "buf.h"
#include "err.h"
#include "kubeconfig.h"

/* One parsed YAML document: a kubeconfig file or an exec plugin's output. */
struct kc_doc {
        char *label; /* "kubeconfig '/x/config'", the subject of every message */
        char *path;  /* the file as named, NULL for plugin output */
        char *dir;   /* absolute directory relative paths resolve against */
        yaml_document_t doc;
        bool loaded;
        yaml_node_t *root; /* a mapping, or NULL for an empty document */
};

/* What the cluster entry says, kept for the exec plugin's cluster info. */
struct kc_cluster {
        const char *server_raw;
        const char *proxy_url;
};

/* Secrets: zeroed before they are freed. NULL is fine. */
void kc_wipe(void *p, size_t n);
void kc_free_secret_str(char *s);
void kc_free_secret(unsigned char *p, size_t n);
/* Zero the buffer's whole allocation, then release it. */
void kc_buf_wipe(struct buf *b);

/* strdup / asprintf that set "out of memory" in e. */
char *kc_strdup(const char *s, struct err *e);
char *kc_asprintf(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* path made absolute against dir (kubectl resolves relative paths against
 * the file that names them). */
char *kc_resolve_path(const char *dir, const char *path, struct err *e);

/* Parse data as one YAML document into d (d->label set by the caller). */
int kc_doc_parse(struct kc_doc *d, const unsigned char *data, size_t len, struct err *e);
/* Free what d holds; its scalars are zeroed first. */
void kc_doc_fini(struct kc_doc *d);
/* ERR_CONFIG "<label>: line L, column C: <msg>". Returns -1. */
int kc_at(struct err *e, const struct kc_doc *d, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* map[key] as a string, bool or node of the given type; *out NULL/false when
 * absent or null; ERR_CONFIG naming key and of when it has another type. */
int kc_get_str(struct kc_doc *d, yaml_node_t *map, const char *key, const char *of,
               const char **out, struct err *e);
int kc_get_bool(struct kc_doc *d, yaml_node_t *map, const char *key, const char *of, bool *out,
                struct err *e);
int kc_get_typed(struct kc_doc *d, yaml_node_t *map, const char *key, const char *of,
                 yaml_node_type_t type, yaml_node_t **out, struct err *e);
yaml_node_t *kc_seq_item(struct kc_doc *d, yaml_node_t *seq, yaml_node_item_t *it);

/* Run the exec plugin of user "of" (the map m in d) and put the credential it
 * returns into r (token, or client certificate and key). ci and r's cluster
 * fields go to the plugin as KUBERNETES_EXEC_INFO when it asks for them. */
int kc_load_exec(struct kc_doc *d, yaml_node_t *m, const char *of, const struct kc_cluster *ci,
                 const struct kubeconfig_opts *o, struct kubeconfig_rest *r, struct err *e);

#endif
