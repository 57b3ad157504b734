/* kubeconfig: exec credential plugins (client.authentication.k8s.io), run
 * as kubectl runs them: no shell, stdin /dev/null, stdout the ExecCredential,
 * stderr passed through, the whole process group killed after the timeout. */
#include "kubeconfig_internal.h"

#include "codec.h"
#include "proc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define KC_EXEC_OUT_MAX    (1u << 20)
#define KC_EXEC_TIMEOUT_MS 60000

#define API_V1      "client.authentication.k8s.io/v1"
#define API_V1BETA1 "client.authentication.k8s.io/v1beta1"

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
        if (!(d.label = kc_asprintf(e, "%s: output", label)))
                return -1;
        /* A NUL would silently end the strings we copy out: refuse it. */
        if (memchr(buf_str(outb), '\0', outb->len)) {
                err_set(e, ERR_CONFIG, "%s: contains a NUL byte, not an ExecCredential", d.label);
                goto out;
        }
        if (kc_doc_parse(&d, (const unsigned char *)buf_str(outb), outb->len, e) < 0)
                goto out;
        if (!d.root) {
                err_set(e, ERR_CONFIG, "%s: empty, expected an ExecCredential", d.label);
                goto out;
        }
        const char *got_api, *kind, *token, *cert, *key;
        yaml_node_t *status;
        if (kc_get_str(&d, d.root, "apiVersion", "the ExecCredential", &got_api, e) < 0 ||
            kc_get_str(&d, d.root, "kind", "the ExecCredential", &kind, e) < 0 ||
            kc_get_typed(&d, d.root, "status", "the ExecCredential", YAML_MAPPING_NODE, &status,
                         e) < 0)
                goto out;
        if (!kind || strcmp(kind, "ExecCredential")) {
                kc_at(e, &d, d.root, "kind must be ExecCredential");
                goto out;
        }
        if (!got_api || strcmp(got_api, api)) {
                kc_at(e, &d, d.root, "apiVersion must be %s as configured", api);
                goto out;
        }
        if (!status) {
                kc_at(e, &d, d.root, "no status in the ExecCredential");
                goto out;
        }
        if (kc_get_str(&d, status, "token", "status", &token, e) < 0 ||
            kc_get_str(&d, status, "clientCertificateData", "status", &cert, e) < 0 ||
            kc_get_str(&d, status, "clientKeyData", "status", &key, e) < 0)
                goto out;
        if ((cert && *cert) != (key && *key)) {
                kc_at(e, &d, status,
                      "status has only one of clientCertificateData and clientKeyData");
                goto out;
        }
        if (!(token && *token) && !(cert && *cert)) {
                kc_at(e, &d, status, "status has neither a token nor a client certificate");
                goto out;
        }
        if (token && *token) {
                struct err te;
                if (kubeconfig_token_check(token, "the exec plugin", &te) < 0) {
                        kc_at(e, &d, status, "status.token: %s", te.msg);
                        goto out;
                }
                char *t = kc_strdup(token, e);
                if (!t)
                        goto out;
                kc_free_secret_str(r->token);
                r->token = t;
        }
        if (cert && *cert) {
                unsigned char *c = (unsigned char *)kc_strdup(cert, e);
                unsigned char *k = c ? (unsigned char *)kc_strdup(key, e) : NULL;
                if (!k) {
                        free(c);
                        goto out;
                }
                kc_free_secret(r->client_cert, r->client_cert_len);
                kc_free_secret(r->client_key, r->client_key_len);
                r->client_cert = c;
                r->client_cert_len = strlen(cert);
                r->client_key = k;
                r->client_key_len = strlen(key);
        }
        rc = 0;
out:
        kc_doc_fini(&d);
        return rc;
}

/* The plugin's argv and environment. All heap parts are freed by
 * exec_cmd_fini; argv strings are borrowed from the document. */
struct exec_cmd {
        char **argv;
        char **envp;
        char **owned; /* strings we allocated, for envp */
        size_t nowned;
        char *path;
        struct buf info; /* "KUBERNETES_EXEC_INFO=..." */
};

static void exec_cmd_fini(struct exec_cmd *x)
{
        for (size_t i = 0; i < x->nowned; i++)
                free(x->owned[i]);
        free(x->owned);
        free(x->argv);
        free(x->envp);
        free(x->path);
        buf_fini(&x->info);
}

/* argv: the command (resolved like kubectl: a '/' makes it relative to the
 * kubeconfig) and args, which must be strings. */
static int exec_argv(struct kc_doc *d, const char *command, yaml_node_t *args, const char *of,
                     struct exec_cmd *x, struct err *e)
{
        size_t nargs =
            args ? (size_t)(args->data.sequence.items.top - args->data.sequence.items.start) : 0;
        if (!(x->argv = calloc(nargs + 2, sizeof *x->argv)))
                return err_sys(e, ERR_SOFTWARE, "out of memory");
        x->path =
            strchr(command, '/') ? kc_resolve_path(d->dir, command, e) : kc_strdup(command, e);
        if (!x->path)
                return -1;
        x->argv[0] = x->path;
        for (size_t i = 0; i < nargs; i++) {
                yaml_node_t *a = kc_seq_item(d, args, &args->data.sequence.items.start[i]);
                if (!a || a->type != YAML_SCALAR_NODE ||
                    strlen((char *)a->data.scalar.value) != a->data.scalar.length)
                        return kc_at(e, d, a, "args of the exec plugin of %s must be strings", of);
                x->argv[i + 1] = (char *)a->data.scalar.value;
        }
        return 0;
}

/* envp: ours, with the plugin's env entries overriding and
 * KUBERNETES_EXEC_INFO always last and always ours. */
static int exec_envp(struct kc_doc *d, yaml_node_t *env, const char *of, struct exec_cmd *x,
                     struct err *e)
{
        size_t nenv =
            env ? (size_t)(env->data.sequence.items.top - env->data.sequence.items.start) : 0;
        size_t nenviron = 0;
        while (environ && environ[nenviron])
                nenviron++;
        x->envp = calloc(nenviron + nenv + 2, sizeof *x->envp);
        x->owned = calloc(nenv + 1, sizeof *x->owned);
        if (!x->envp || !x->owned)
                return err_sys(e, ERR_SOFTWARE, "out of memory");
        /* First the plugin's entries, so that ours can be checked against them. */
        for (size_t i = 0; i < nenv; i++) {
                yaml_node_t *ev = kc_seq_item(d, env, &env->data.sequence.items.start[i]);
                if (!ev || ev->type != YAML_MAPPING_NODE)
                        return kc_at(e, d, ev,
                                     "env of the exec plugin of %s must be a list of {name, value}",
                                     of);
                const char *name, *value;
                if (kc_get_str(d, ev, "name", "an exec env entry", &name, e) < 0 ||
                    kc_get_str(d, ev, "value", "an exec env entry", &value, e) < 0)
                        return -1;
                if (!name || !*name || strchr(name, '='))
                        return kc_at(e, d, ev,
                                     "an env entry of the exec plugin of %s has no valid name", of);
                if (!(x->owned[x->nowned] = kc_asprintf(e, "%s=%s", name, value ? value : "")))
                        return -1;
                x->nowned++;
        }
        size_t ne = 0;
        for (size_t i = 0; i < nenviron; i++) {
                const char *kv = environ[i];
                const char *eq = strchr(kv, '=');
                size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);
                bool drop = klen == strlen("KUBERNETES_EXEC_INFO") &&
                            !strncmp(kv, "KUBERNETES_EXEC_INFO", klen);
                for (size_t j = 0; j < x->nowned && !drop; j++)
                        drop = !strncmp(kv, x->owned[j], klen) && x->owned[j][klen] == '=';
                if (!drop)
                        x->envp[ne++] = (char *)kv;
        }
        for (size_t i = 0; i < x->nowned; i++)
                x->envp[ne++] = x->owned[i];
        x->envp[ne++] = (char *)buf_str(&x->info);
        return 0;
}

/* The plugin ran: say why it gave nothing, never quoting its output (it may
 * hold a credential). */
static int exec_failed(const char *label, const char *hint, int timeout, const struct err *pe,
                       struct err *e)
{
        if (pe->code == ERR_TIMEOUT)
                return err_set(e, ERR_CONFIG, "%s: no answer within %d ms, killed", label, timeout);
        if (pe->sys_errno == ENOBUFS)
                return err_set(e, ERR_CONFIG, "%s: printed more than %u MiB", label,
                               KC_EXEC_OUT_MAX >> 20);
        if (pe->sys_errno == ENOENT && hint && *hint)
                return err_set(e, ERR_CONFIG, "%s: cannot run: %s; %s", label,
                               strerror(pe->sys_errno), hint);
        errno = pe->sys_errno;
        return err_sys(e, ERR_CONFIG, "%s: cannot run", label);
}

int kc_load_exec(struct kc_doc *d, yaml_node_t *m, const char *of, const struct kc_cluster *ci,
                 const struct kubeconfig_opts *o, struct kubeconfig_rest *r, struct err *e)
{
        const char *api, *command, *hint, *mode;
        bool cluster_info;
        yaml_node_t *args, *env;
        if (kc_get_str(d, m, "apiVersion", "the exec plugin", &api, e) < 0 ||
            kc_get_str(d, m, "command", "the exec plugin", &command, e) < 0 ||
            kc_get_str(d, m, "installHint", "the exec plugin", &hint, e) < 0 ||
            kc_get_str(d, m, "interactiveMode", "the exec plugin", &mode, e) < 0 ||
            kc_get_bool(d, m, "provideClusterInfo", "the exec plugin", &cluster_info, e) < 0 ||
            kc_get_typed(d, m, "args", "the exec plugin", YAML_SEQUENCE_NODE, &args, e) < 0 ||
            kc_get_typed(d, m, "env", "the exec plugin", YAML_SEQUENCE_NODE, &env, e) < 0)
                return -1;
        if (!command || !*command)
                return kc_at(e, d, m, "the exec plugin of %s has no command", of);
        if (!api || (strcmp(api, API_V1) && strcmp(api, API_V1BETA1)))
                return kc_at(e, d, m,
                             "the exec plugin of %s needs apiVersion " API_V1 " or " API_V1BETA1
                             "%s%s%s",
                             of, api ? " (not \"" : "", api ? api : "", api ? "\")" : "");
        if (!mode && !strcmp(api, API_V1))
                return kc_at(e, d, m,
                             "interactiveMode must be specified for %s to use exec "
                             "authentication plugin",
                             of);
        if (mode && strcmp(mode, "Never") && strcmp(mode, "IfAvailable")) {
                if (!strcmp(mode, "Always"))
                        return kc_at(
                            e, d, m,
                            "the exec plugin of %s needs interactiveMode Always, but relrun "
                            "runs plugins without a terminal",
                            of);
                return kc_at(e, d, m, "interactiveMode of %s must be Never, IfAvailable or Always",
                             of);
        }

        int rc = -1;
        struct exec_cmd x = {0};
        buf_init(&x.info, 1u << 20);
        struct buf outb;
        buf_init(&outb, KC_EXEC_OUT_MAX);
        char *label = kc_asprintf(e, "exec plugin '%s' for %s in %s", command, of, d->label);
        if (!label || exec_argv(d, command, args, of, &x, e) < 0)
                goto out;
        if (buf_puts(&x.info, "KUBERNETES_EXEC_INFO=") < 0 ||
            exec_info(&x.info, api, cluster_info, ci, r) < 0) {
                err_sys(e, ERR_SOFTWARE, "%s: cannot build KUBERNETES_EXEC_INFO", label);
                goto out;
        }
        if (exec_envp(d, env, of, &x, e) < 0)
                goto out;
        int timeout = o->exec_timeout_ms > 0 ? o->exec_timeout_ms : KC_EXEC_TIMEOUT_MS;
        struct proc_spec spec = {.path = x.path, .argv = x.argv, .envp = x.envp};
        int status;
        struct err pe;
        err_clear(&pe);
        if (proc_run_capture(&spec, timeout, &outb, &status, &pe) < 0) {
                exec_failed(label, hint, timeout, &pe, e);
                goto out;
        }
        if (WIFSIGNALED(status)) {
                err_set(e, ERR_CONFIG, "%s: killed by signal %d", label, WTERMSIG(status));
                goto out;
        }
        if (WEXITSTATUS(status) != 0) {
                err_set(e, ERR_CONFIG, "%s: exited with status %d", label, WEXITSTATUS(status));
                goto out;
        }
        rc = exec_parse(label, api, &outb, r, e);
out:
        exec_cmd_fini(&x);
        free(label);
        kc_buf_wipe(&outb);
        return rc;
}
