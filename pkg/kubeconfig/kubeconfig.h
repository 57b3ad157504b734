/* kubeconfig: where the Kubernetes API is and how to authenticate, resolved
 * like kubectl does (libyaml).
 *
 * Sources, in kubectl's precedence: --kubeconfig, else $KUBECONFIG (a
 * ':'-separated list merged by kubectl's rules: the first file to set a map key
 * wins, current-context from the first file that sets it), else
 * $HOME/.kube/config; when none exists and the process runs in a pod, the
 * in-cluster config (KUBERNETES_SERVICE_HOST/PORT, the service-account token,
 * CA and namespace under /var/run/secrets/kubernetes.io/serviceaccount).
 *
 * CONTRACT (shared with pkg/kube and cmd/relrun; change only together). */
#ifndef RELRUN_KUBECONFIG_H
#define RELRUN_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

struct kubeconfig_opts {
        const char *kubeconfig; /* --kubeconfig, or NULL */
        const char *context;    /* --context, or NULL for current-context */
        const char *namespace_; /* -n, or NULL */
        /* Overrides for tests; NULL means the real thing ($KUBECONFIG, $HOME,
         * /var/run/secrets/kubernetes.io/serviceaccount). */
        const char *env_kubeconfig;
        const char *home;
        const char *sa_dir;
        /* Added: more test overrides (NULL = the real environment; "" = unset). */
        const char *env_service_host; /* $KUBERNETES_SERVICE_HOST */
        const char *env_service_port; /* $KUBERNETES_SERVICE_PORT */
        /* Added: how long an exec credential plugin may run; 0 = 60 s. */
        int exec_timeout_ms;
};

/* The resolved connection. All strings and blobs are owned by the struct. */
struct kubeconfig_rest {
        char *server;     /* "https://host:port", no trailing slash */
        char *context;    /* context used; NULL in-cluster */
        char *cluster;    /* cluster name; NULL in-cluster */
        char *user;       /* user (authinfo) name; NULL in-cluster */
        char *namespace_; /* resolved: -n, context, in-cluster file, "default" */
        bool in_cluster;
        /* TLS: PEM blobs, read from *-data (base64-decoded) or from the files. */
        unsigned char *ca;
        size_t ca_len;
        unsigned char *client_cert;
        size_t client_cert_len;
        unsigned char *client_key;
        size_t client_key_len;
        bool insecure_skip_tls_verify;
        char *tls_server_name;
        /* Auth: bearer token (token, tokenFile, or the exec plugin's status.token;
         * an exec plugin may also return clientCertificateData/clientKeyData, which
         * land in client_cert/client_key). NULL when none. Never print it. */
        char *token;
        char *token_file; /* kept to re-read on 401, NULL if none */
        char *username;   /* basic auth, rarely used */
        char *password;
        /* Added: the kubeconfig file that defined the context used, NULL
         * in-cluster. For messages ("using context x from '/y'"). */
        char *source;
};

/* Resolve the connection. opts may be NULL (all defaults). An exec plugin
 * named by the user entry is run (no shell, stdout captured up to 1 MiB,
 * stderr passed through, killed after exec_timeout_ms). On success *out is a
 * new struct for kubeconfig_rest_free. Errors: ERR_CONFIG for a missing/unreadable/malformed
 * file, unknown context/cluster/user, failing exec plugin; the message names
 * the file and line ("kubeconfig '/x': line 12: ..."), never a secret. */
int kubeconfig_load(const struct kubeconfig_opts *opts, struct kubeconfig_rest **out,
                    struct err *e);

/* A bearer token goes into an HTTP header as it is: a CR or LF in it would
 * inject headers (kubectl refuses such tokens too). Returns 0 when token has
 * no control character (C0, DEL), else -1 with ERR_CONFIG "the token from
 * <where> contains a control character (0x0d at byte 12)"; the token itself
 * never appears in the message. */
int kubeconfig_token_check(const char *token, const char *where, struct err *e);

/* The context names of the kubeconfig files kubeconfig_load would read
 * (opts->kubeconfig, $KUBECONFIG or ~/.kube/config, merged: an earlier file's
 * name wins), each followed by '\n', appended to out. For completion: files
 * that are missing are skipped; a malformed one is an error (ERR_CONFIG). */
int kubeconfig_context_names(const struct kubeconfig_opts *opts, struct buf *out, struct err *e);

/* Free r and everything it owns; secrets (token, password, key, certs) are
 * zeroed first. NULL is a no-op. */
void kubeconfig_rest_free(struct kubeconfig_rest *r);

/* The token in the file at path (tokenFile, the service-account token),
 * trimmed as on load, as a new string (possibly empty) for the caller to wipe
 * and free: what a client re-reads when a 401 says a projected token was
 * rotated. -1 with ERR_CONFIG when path is NULL or cannot be read. */
int kubeconfig_token_read(const char *path, char **out, struct err *e);

#endif
