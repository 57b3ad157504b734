#include "manifest.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "cron.h"
#include "expr.h"
#include "patch.h"

#define POD_MOUNT       "/relrun"
#define POD_BIN         POD_MOUNT "/relrun-pod"
#define TERMINATION_LOG "/dev/termination-log"
#define LABEL_NAME      "app.kubernetes.io/name"
#define LABEL_MANAGED   "app.kubernetes.io/managed-by"
#define LABEL_TASK      "relrun.dev/task"
#define LABEL_CRON      "relrun.dev/cron"
#define ANNOT_EXPR      "relrun.dev/expr"
#define ANNOT_EACH      "relrun.dev/each"
#define EXIT_BOOT       70 /* DESIGN: the release failed to start or become ready */

/* ---- validation --------------------------------------------------------- */

static bool all_chars(const char *s, size_t n, const char *extra)
{
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (!isalnum(c) && !strchr(extra, c))
                        return false;
        }
        return true;
}

static bool is_dns_label(const char *s, size_t n, size_t max)
{
        if (n == 0 || n > max)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '-'))
                        return false;
        }
        return s[0] != '-' && s[n - 1] != '-';
}

int manifest_check_dns_label(const char *flag, const char *value, size_t max, struct err *e)
{
        if (!value || !is_dns_label(value, strlen(value), max))
                return err_set(e, ERR_USAGE,
                               "%s \"%s\": not a DNS-1123 label (lowercase letters, digits and "
                               "'-', at most %zu characters, starting and ending alphanumeric)",
                               flag, value ? value : "", max);
        return 0;
}

int manifest_check_dns_subdomain(const char *flag, const char *value, struct err *e)
{
        size_t n = value ? strlen(value) : 0;
        bool ok = n > 0 && n <= 253;
        for (const char *p = value; ok;) {
                const char *dot = strchr(p, '.');
                size_t len = dot ? (size_t)(dot - p) : strlen(p);
                ok = is_dns_label(p, len, 63);
                if (!dot)
                        break;
                p = dot + 1;
        }
        if (!ok)
                return err_set(e, ERR_USAGE,
                               "%s \"%s\": not a DNS-1123 subdomain (lowercase letters, digits, "
                               "'-' and '.', at most 253 characters)",
                               flag, value ? value : "");
        return 0;
}

int manifest_check_quantity(const char *flag, const char *value, struct err *e)
{
        static const char *suffixes[] = {"",  "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u",
                                         "m", "k",  "M",  "G",  "T",  "P",  "E",  NULL};
        const char *p = value ? value : "";
        if (*p == '+')
                p++;
        size_t digits = 0, dots = 0;
        while (isdigit((unsigned char)*p) || *p == '.') {
                if (*p == '.')
                        dots++;
                else
                        digits++;
                p++;
        }
        bool ok = digits > 0 && dots <= 1 && strlen(value ? value : "") <= 64;
        if (ok && (*p == 'e' || *p == 'E') && p[1]) { /* decimal exponent: 1e3, 5E-2 */
                const char *q = p + 1;
                if (*q == '+' || *q == '-')
                        q++;
                ok = *q && strspn(q, "0123456789") == strlen(q);
        } else if (ok) {
                bool found = false;
                for (const char **s = suffixes; *s && !found; s++)
                        found = strcmp(p, *s) == 0;
                ok = found;
        }
        if (!ok)
                return err_set(e, ERR_USAGE,
                               "%s \"%s\": not a Kubernetes quantity (like 500m, 1, 256Mi, 1Gi)",
                               flag, value ? value : "");
        return 0;
}

static bool is_env_name(const char *s, size_t n)
{
        if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
                return false;
        return all_chars(s, n, "_");
}

/* A label or annotation key: [prefix/]name, prefix a DNS subdomain, name at
 * most 63 of [A-Za-z0-9-_.] starting and ending alphanumeric. */
static bool is_qualified_name(const char *s, size_t n)
{
        const char *slash = memchr(s, '/', n);
        if (slash) {
                size_t plen = (size_t)(slash - s);
                char prefix[254];
                if (plen == 0 || plen > 253)
                        return false;
                memcpy(prefix, s, plen);
                prefix[plen] = '\0';
                if (manifest_check_dns_subdomain("", prefix, NULL) < 0)
                        return false;
                n -= plen + 1;
                s = slash + 1;
        }
        if (n == 0 || n > 63 || !all_chars(s, n, "-_."))
                return false;
        return isalnum((unsigned char)s[0]) && isalnum((unsigned char)s[n - 1]);
}

static bool is_label_value(const char *s)
{
        size_t n = strlen(s);
        if (n == 0)
                return true;
        return n <= 63 && all_chars(s, n, "-_.") && isalnum((unsigned char)s[0]) &&
               isalnum((unsigned char)s[n - 1]);
}

static bool has_control(const char *s)
{
        for (; *s; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f)
                        return true;
        return false;
}

/* Elixir's config form ends the format with "\n" ("$time $message\n");
 * relrun-pod ignores trailing newlines, so they are dropped, not refused. */
static size_t app_format_len(const char *s)
{
        size_t n = strlen(s);
        while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
                n--;
        return n;
}

static int check_image(const char *flag, const char *v, struct err *e)
{
        if (!v || !*v)
                return err_set(e, ERR_USAGE, "%s: required", flag);
        for (const char *p = v; *p; p++)
                if ((unsigned char)*p <= 0x20 || *p == 0x7f)
                        return err_set(e, ERR_USAGE,
                                       "%s \"%s\": an image reference has no spaces or "
                                       "control characters",
                                       flag, v);
        return 0;
}

/* ---- json-c helpers ------------------------------------------------------- */

/* Each helper adds a new value to obj; ownership moves into obj. They return
 * -1 only when memory runs out. */
static int add(json_object *obj, const char *key, json_object *v)
{
        if (!v)
                return -1;
        if (json_object_object_add(obj, key, v) < 0) {
                json_object_put(v);
                return -1;
        }
        return 0;
}

static int add_str(json_object *obj, const char *key, const char *s)
{
        return add(obj, key, json_object_new_string(s));
}

static int add_int(json_object *obj, const char *key, int64_t v)
{
        return add(obj, key, json_object_new_int64(v));
}

static int push(json_object *arr, json_object *v)
{
        if (!v)
                return -1;
        if (json_object_array_add(arr, v) < 0) {
                json_object_put(v);
                return -1;
        }
        return 0;
}

static int push_str(json_object *arr, const char *s)
{
        return push(arr, json_object_new_string(s));
}

/* ["a", "b", ...] from a NULL-terminated list. */
static json_object *str_array(const char *const *list)
{
        json_object *a = json_object_new_array();
        for (; a && *list; list++) {
                if (push_str(a, *list) < 0) {
                        json_object_put(a);
                        return NULL;
                }
        }
        return a;
}

static int oom(struct err *e)
{
        errno = ENOMEM;
        return err_sys(e, ERR_SOFTWARE, "build manifest");
}

/* ---- the Job -------------------------------------------------------------- */

struct job_parts {
        char slug[EXPR_SLUG_MAX + 1];
        json_object *labels;      /* the relrun labels plus extras */
        json_object *annotations; /* relrun.dev/expr plus extras */
        json_object *pod_annotations;
        json_object *spec; /* JobSpec */
};

static void job_parts_free(struct job_parts *p)
{
        json_object_put(p->labels);
        json_object_put(p->annotations);
        json_object_put(p->pod_annotations);
        json_object_put(p->spec);
        memset(p, 0, sizeof *p);
}

/* Split "k=v" into obj[k] = v after checking both. */
static int add_pairs(json_object *obj, const char *const *list, const char *flag, bool label,
                     struct err *e)
{
        for (; list && *list; list++) {
                const char *kv = *list;
                const char *eq = strchr(kv, '=');
                if (!eq)
                        return err_set(e, ERR_USAGE, "%s \"%s\": want key=value", flag, kv);
                size_t kn = (size_t)(eq - kv);
                char key[320];
                if (kn >= sizeof key || !is_qualified_name(kv, kn))
                        return err_set(e, ERR_USAGE,
                                       "%s \"%s\": \"%.*s\" is not a valid key ([prefix/]name)",
                                       flag, kv, (int)(kn > 100 ? 100 : kn), kv);
                memcpy(key, kv, kn);
                key[kn] = '\0';
                if (label && !is_label_value(eq + 1))
                        return err_set(
                            e, ERR_USAGE,
                            "%s \"%s\": \"%s\" is not a valid label value (at most 63 of "
                            "[A-Za-z0-9-_.], starting and ending alphanumeric)",
                            flag, kv, eq + 1);
                if (json_object_object_get_ex(obj, key, NULL))
                        return err_set(e, ERR_USAGE, "%s \"%s\": \"%s\" is already set%s", flag, kv,
                                       key,
                                       strncmp(key, "relrun.dev/", 11) == 0 ||
                                               strncmp(key, "app.kubernetes.io/", 18) == 0
                                           ? " by relrun"
                                           : "");
                if (add_str(obj, key, eq + 1) < 0)
                        return oom(e);
        }
        return 0;
}

static json_object *env_var(const char *name, const char *value)
{
        json_object *v = json_object_new_object();
        if (v && (add_str(v, "name", name) < 0 || add_str(v, "value", value) < 0)) {
                json_object_put(v);
                return NULL;
        }
        return v;
}

static int build_env(const struct manifest_job_opts *o, json_object *env, struct err *e)
{
        for (const char *const *p = o->env; p && *p; p++) {
                const char *eq = strchr(*p, '=');
                size_t n = eq ? (size_t)(eq - *p) : strlen(*p);
                char name[256];
                if (!eq)
                        return err_set(e, ERR_USAGE, "--env \"%s\": want NAME=value", *p);
                if (n >= sizeof name || !is_env_name(*p, n))
                        return err_set(e, ERR_USAGE,
                                       "--env \"%s\": \"%.*s\" is not an environment variable name "
                                       "([A-Za-z_][A-Za-z0-9_]*)",
                                       *p, (int)(n > 100 ? 100 : n), *p);
                memcpy(name, *p, n);
                name[n] = '\0';
                for (size_t i = 0; i < json_object_array_length(env); i++) {
                        json_object *v = json_object_array_get_idx(env, i), *nm;
                        json_object_object_get_ex(v, "name", &nm);
                        if (strcmp(json_object_get_string(nm), name) == 0)
                                return err_set(e, ERR_USAGE, "--env \"%s\": \"%s\" is given twice",
                                               *p, name);
                }
                if (o->cookie_secret && strcmp(name, "RELEASE_COOKIE") == 0)
                        return err_set(e, ERR_USAGE,
                                       "--env \"%s\": RELEASE_COOKIE comes from --cookie-secret",
                                       *p);
                if (push(env, env_var(name, eq + 1)) < 0)
                        return oom(e);
        }
        if (o->cookie_secret) {
                /* {name: RELEASE_COOKIE, valueFrom: {secretKeyRef: {name, key}}} */
                json_object *v = json_object_new_object(), *from = json_object_new_object(),
                            *ref = json_object_new_object();
                int rc = v && from && ref ? 0 : -1;
                if (rc == 0)
                        rc = add_str(ref, "name", o->cookie_secret) < 0 ||
                                     add_str(ref, "key", o->cookie_key ? o->cookie_key : "cookie") <
                                         0
                                 ? -1
                                 : 0;
                if (rc == 0) {
                        rc = add(from, "secretKeyRef", ref); /* ref given away */
                        ref = NULL;
                }
                if (rc == 0)
                        rc = add_str(v, "name", "RELEASE_COOKIE");
                if (rc == 0) {
                        rc = add(v, "valueFrom", from); /* from given away, even on failure */
                        from = NULL;
                }
                if (rc == 0) {
                        rc = push(env, v);
                        v = NULL;
                }
                json_object_put(ref);
                json_object_put(from);
                json_object_put(v);
                if (rc < 0)
                        return oom(e);
        }
        return 0;
}

static int check_opts(const struct manifest_job_opts *o, struct err *e)
{
        if (check_image("--image", o->image, e) < 0)
                return -1;
        if (!o->release || o->release[0] != '/' || has_control(o->release))
                return err_set(e, ERR_USAGE,
                               "--release \"%s\": want the absolute path of the "
                               "release's bin script, like /app/bin/my_app",
                               o->release ? o->release : "");
        if (expr_check_lang(
                o->expr,
                o->lang && !strcmp(o->lang, "erlang") ? EXPR_LANG_ERLANG : EXPR_LANG_ELIXIR, e) < 0)
                return -1;
        if (o->namespace_ && manifest_check_dns_label("--namespace", o->namespace_, 63, e) < 0)
                return -1;
        if (o->slug && manifest_check_dns_label("task name", o->slug, EXPR_SLUG_MAX, e) < 0)
                return -1;
        for (const char *const *p = o->env_from_secrets; p && *p; p++)
                if (manifest_check_dns_subdomain("--env-from-secret", *p, e) < 0)
                        return -1;
        if (o->cookie_secret &&
            manifest_check_dns_subdomain("--cookie-secret", o->cookie_secret, e) < 0)
                return -1;
        if (o->cookie_key) {
                size_t n = strlen(o->cookie_key);
                if (n == 0 || n > 253 || !all_chars(o->cookie_key, n, "-._"))
                        return err_set(e, ERR_USAGE,
                                       "--cookie-key \"%s\": not a secret key ([-._a-zA-Z0-9]+)",
                                       o->cookie_key);
        }
        if (o->cpu && manifest_check_quantity("--cpu", o->cpu, e) < 0)
                return -1;
        if (o->memory && manifest_check_quantity("--memory", o->memory, e) < 0)
                return -1;
        if (o->cpu_limit && manifest_check_quantity("--cpu-limit", o->cpu_limit, e) < 0)
                return -1;
        if (o->memory_limit && manifest_check_quantity("--memory-limit", o->memory_limit, e) < 0)
                return -1;
        for (const char *const *p = o->image_pull_secrets; p && *p; p++)
                if (manifest_check_dns_subdomain("--image-pull-secret", *p, e) < 0)
                        return -1;
        if (o->pull_policy && strcmp(o->pull_policy, "Always") != 0 &&
            strcmp(o->pull_policy, "IfNotPresent") != 0 && strcmp(o->pull_policy, "Never") != 0)
                return err_set(e, ERR_USAGE,
                               "--pull-policy \"%s\": want Always, IfNotPresent or Never",
                               o->pull_policy);
        if (o->priority_class &&
            manifest_check_dns_subdomain("--priority-class", o->priority_class, e) < 0)
                return -1;
        if (o->run_as_user == 0 || o->run_as_user < -1 || o->run_as_user > INT32_MAX)
                return err_set(e, ERR_USAGE,
                               "--run-as-user %ld: want a numeric non-root UID (1-2147483647)",
                               o->run_as_user);
        if (o->override_type && strcmp(o->override_type, "merge") != 0 &&
            strcmp(o->override_type, "strategic") != 0 && strcmp(o->override_type, "json") != 0)
                return err_set(e, ERR_USAGE,
                               "--override-type \"%s\": want merge, strategic or json",
                               o->override_type);
        if (o->service_account &&
            manifest_check_dns_subdomain("--service-account", o->service_account, e) < 0)
                return -1;
        if (o->active_deadline_seconds < 0)
                return err_set(e, ERR_USAGE, "--timeout: must not be negative");
        if (o->backoff_limit < 0)
                return err_set(e, ERR_USAGE, "--backoff-limit %d: must not be negative",
                               o->backoff_limit);
        if (o->boot_retries < 0)
                return err_set(e, ERR_USAGE, "--boot-retries %d: must not be negative",
                               o->boot_retries);
        if (o->ttl_seconds < -1)
                return err_set(e, ERR_USAGE, "--ttl: must not be negative");
        if (o->inject != MANIFEST_INJECT_INIT && o->inject != MANIFEST_INJECT_NONE)
                return err_set(e, ERR_USAGE, "--inject: want init or none");
        if (o->inject == MANIFEST_INJECT_INIT && check_image("--pod-image", o->pod_image, e) < 0)
                return -1;
        if (o->log_format && strcmp(o->log_format, "json") != 0 &&
            strcmp(o->log_format, "logfmt") != 0 && strcmp(o->log_format, "text") != 0 &&
            strcmp(o->log_format, "gcp") != 0 && strcmp(o->log_format, "ecs") != 0 &&
            strcmp(o->log_format, "datadog") != 0)
                return err_set(e, ERR_USAGE,
                               "--log-format \"%s\": want json, logfmt, text, gcp, ecs or datadog",
                               o->log_format);
        if (o->rpc && strcmp(o->rpc, "auto") && strcmp(o->rpc, "script") && strcmp(o->rpc, "dist"))
                return err_set(e, ERR_USAGE, "--rpc \"%s\": want auto, dist or script", o->rpc);
        if (o->lang && strcmp(o->lang, "erlang") && strcmp(o->lang, "elixir"))
                return err_set(e, ERR_USAGE, "--lang \"%s\": want erlang or elixir", o->lang);
        if (o->error_exit < 0 || o->error_exit > 63)
                return err_set(e, ERR_USAGE, "--error-exit %d: want 1..63", o->error_exit);
        if (o->ready_timeout_seconds < 0 || o->grace_seconds < 0)
                return err_set(e, ERR_USAGE, "%s: must not be negative",
                               o->grace_seconds < 0 ? "--grace" : "--ready-timeout");
        if (o->app_format) {
                size_t n = app_format_len(o->app_format);
                for (size_t i = 0; i < n; i++)
                        if ((unsigned char)o->app_format[i] < 0x20 || o->app_format[i] == 0x7f)
                                return err_set(e, ERR_USAGE,
                                               "--app-format: control characters (a newline is "
                                               "allowed only at the end)");
        }
        enum expr_lang lang =
            o->lang && !strcmp(o->lang, "erlang") ? EXPR_LANG_ERLANG : EXPR_LANG_ELIXIR;
        if (o->ready_expr && expr_check_lang(o->ready_expr, lang, e) < 0)
                return err_prefix(e, "--ready-expr");
        if (o->each_n > MANIFEST_EACH_MAX)
                return err_set(e, ERR_USAGE, "--each: %zu items, at most %d in one Job", o->each_n,
                               MANIFEST_EACH_MAX);
        for (size_t i = 0; i < o->each_n; i++)
                if (expr_check_lang(o->each[i], lang, e) < 0)
                        return err_prefix(e, "--each item %zu", i);
        if (o->parallelism < 0)
                return err_set(e, ERR_USAGE, "--parallelism: must not be negative");
        if (o->on_term && expr_check_lang(o->on_term, lang, e) < 0)
                return err_prefix(e, "--on-term");
        return 0;
}

/* ["--release", R, ...flags..., "--termination-log", T, "--", EXPR] */
static json_object *pod_args(const struct manifest_job_opts *o)
{
        json_object *a = json_object_new_array();
        char num[32];
        int rc = a ? 0 : -1;
#define ARG(s)                                                                                     \
        do {                                                                                       \
                if (rc == 0)                                                                       \
                        rc = push_str(a, (s));                                                     \
        } while (0)
        ARG("--release");
        ARG(o->release);
        if (o->log_format) {
                ARG("--log-format");
                ARG(o->log_format);
        }
        if (o->app_format) {
                ARG("--app-format");
                if (rc == 0)
                        rc = push(a, json_object_new_string_len(
                                         o->app_format, (int)app_format_len(o->app_format)));
        }
        if (o->ready_timeout_seconds > 0) {
                snprintf(num, sizeof num, "%lds", o->ready_timeout_seconds);
                ARG("--ready-timeout");
                ARG(num);
        }
        if (o->ready_expr) {
                ARG("--ready-expr");
                ARG(o->ready_expr);
        }
        if (o->grace_seconds > 0) {
                snprintf(num, sizeof num, "%lds", o->grace_seconds);
                ARG("--grace");
                ARG(num);
        }
        if (o->rpc) {
                ARG("--rpc");
                ARG(o->rpc);
        }
        if (o->on_term) {
                ARG("--on-term");
                ARG(o->on_term);
        }
        if (o->lang) {
                ARG("--lang");
                ARG(o->lang);
        }
        if (o->error_exit > 0) {
                snprintf(num, sizeof num, "%d", o->error_exit);
                ARG("--error-exit");
                ARG(num);
        }
        if (o->each_n)
                ARG("--indexed"); /* relrun-pod takes the one of $JOB_COMPLETION_INDEX */
        ARG("--termination-log");
        ARG(TERMINATION_LOG);
        ARG("--");
        if (o->each_n)
                for (size_t i = 0; i < o->each_n; i++)
                        ARG(o->each[i]);
        else
                ARG(o->expr); /* one argv element, whatever it contains */
#undef ARG
        if (rc < 0) {
                json_object_put(a);
                return NULL;
        }
        return a;
}

static json_object *mount(void)
{
        json_object *m = json_object_new_object();
        if (m && (add_str(m, "name", "relrun") < 0 || add_str(m, "mountPath", POD_MOUNT) < 0)) {
                json_object_put(m);
                return NULL;
        }
        return m;
}

static json_object *one(json_object *v)
{
        json_object *a = json_object_new_array();
        if (a && push(a, v) == 0)
                return a;
        json_object_put(a);
        if (!a)
                json_object_put(v);
        return NULL;
}

/* requests from --cpu/--memory; limits from --cpu-limit/--memory-limit, else
 * the request (a request given alone is also the limit, as before). */
static json_object *resources(const struct manifest_job_opts *o)
{
        json_object *r = json_object_new_object();
        const char *kinds[] = {"requests", "limits"};
        const char *cpu[] = {o->cpu, o->cpu_limit ? o->cpu_limit : o->cpu};
        const char *mem[] = {o->memory, o->memory_limit ? o->memory_limit : o->memory};
        for (int i = 0; r && i < 2; i++) {
                if (!cpu[i] && !mem[i])
                        continue;
                json_object *q = json_object_new_object();
                if (!q || (cpu[i] && add_str(q, "cpu", cpu[i]) < 0) ||
                    (mem[i] && add_str(q, "memory", mem[i]) < 0) || add(r, kinds[i], q) < 0) {
                        json_object_put(q);
                        json_object_put(r);
                        return NULL;
                }
        }
        return r;
}

static bool has_resources(const struct manifest_job_opts *o)
{
        return o->cpu || o->memory || o->cpu_limit || o->memory_limit;
}

/* What Pod Security "restricted" asks of every container that no image can
 * mind: no privilege escalation, no capabilities, the runtime's seccomp
 * profile. runAsNonRoot is the pod's, and only with a numeric user: an image
 * whose USER is a name would fail CreateContainerConfigError. */
static json_object *container_security(void)
{
        json_object *sc = json_object_new_object(), *caps = json_object_new_object(),
                    *drop = json_object_new_array(), *sp = json_object_new_object();
        int rc = !sc || !caps || !drop || !sp || push_str(drop, "ALL") < 0 ||
                 add(sc, "allowPrivilegeEscalation", json_object_new_boolean(0)) < 0;
        if (!rc) {
                rc = add(caps, "drop", drop) < 0;
                drop = NULL;
        }
        if (!rc) {
                rc = add(sc, "capabilities", caps) < 0;
                caps = NULL;
        }
        if (!rc)
                rc = add_str(sp, "type", "RuntimeDefault") < 0;
        if (!rc) {
                rc = add(sc, "seccompProfile", sp) < 0;
                sp = NULL;
        }
        json_object_put(drop);
        json_object_put(caps);
        json_object_put(sp);
        if (rc) {
                json_object_put(sc);
                return NULL;
        }
        return sc;
}

static json_object *task_container(const struct manifest_job_opts *o, struct err *e)
{
        json_object *c = json_object_new_object();
        json_object *env = json_object_new_array();
        if (!c || !env) {
                json_object_put(c);
                json_object_put(env);
                oom(e);
                return NULL;
        }
        const char *cmd[] = {o->inject == MANIFEST_INJECT_INIT ? POD_BIN : "relrun-pod", NULL};
        if (build_env(o, env, e) < 0) {
                json_object_put(env);
                json_object_put(c);
                return NULL;
        }
        int rc = add_str(c, "name", "task") < 0 || add_str(c, "image", o->image) < 0 ||
                 add(c, "command", str_array(cmd)) < 0 || add(c, "args", pod_args(o)) < 0;
        if (json_object_array_length(env) > 0) {
                if (!rc)
                        rc = add(c, "env", env) < 0; /* env given away */
                else
                        json_object_put(env);
        } else {
                json_object_put(env);
        }
        if (!rc && o->env_from_secrets && *o->env_from_secrets) {
                json_object *from = json_object_new_array();
                rc = from ? 0 : 1;
                for (const char *const *p = o->env_from_secrets; !rc && *p; p++) {
                        json_object *ref = json_object_new_object(),
                                    *src = json_object_new_object();
                        rc = !ref || !src || add_str(ref, "name", *p) < 0;
                        if (!rc) {
                                rc = add(src, "secretRef", ref) < 0;
                                ref = NULL;
                        }
                        if (!rc) {
                                rc = push(from, src) < 0;
                                src = NULL;
                        }
                        json_object_put(ref);
                        json_object_put(src);
                }
                if (!rc)
                        rc = add(c, "envFrom", from) < 0;
                else
                        json_object_put(from);
        }
        if (!rc && o->pull_policy)
                rc = add_str(c, "imagePullPolicy", o->pull_policy) < 0;
        if (!rc && has_resources(o))
                rc = add(c, "resources", resources(o)) < 0;
        if (!rc)
                rc = add(c, "securityContext", container_security()) < 0;
        if (!rc)
                rc = add_str(c, "terminationMessagePath", TERMINATION_LOG) < 0 ||
                     add_str(c, "terminationMessagePolicy", "FallbackToLogsOnError") < 0;
        if (!rc && o->inject == MANIFEST_INJECT_INIT)
                rc = add(c, "volumeMounts", one(mount())) < 0;
        if (rc) {
                json_object_put(c);
                oom(e);
                return NULL;
        }
        return c;
}

static json_object *init_container(const struct manifest_job_opts *o)
{
        const char *cmd[] = {"/relrun-pod", "--install", POD_BIN, NULL};
        json_object *c = json_object_new_object();
        if (!c || add_str(c, "name", "relrun-pod") < 0 || add_str(c, "image", o->pod_image) < 0 ||
            add(c, "command", str_array(cmd)) < 0 ||
            (has_resources(o) && add(c, "resources", resources(o)) < 0) ||
            add(c, "securityContext", container_security()) < 0 ||
            add_str(c, "terminationMessagePolicy", "FallbackToLogsOnError") < 0 ||
            add(c, "volumeMounts", one(mount())) < 0) {
                json_object_put(c);
                return NULL;
        }
        return c;
}

static json_object *exit_code_rule(const char *action, const char *op, const int *codes, size_t n)
{
        json_object *r = json_object_new_object(), *on = json_object_new_object(),
                    *vals = json_object_new_array();
        int rc = !r || !on || !vals;
        for (size_t i = 0; !rc && i < n; i++)
                rc = push(vals, json_object_new_int(codes[i])) < 0;
        if (!rc)
                rc = add_str(on, "containerName", "task") < 0 || add_str(on, "operator", op) < 0;
        if (!rc) {
                rc = add(on, "values", vals) < 0;
                vals = NULL;
        }
        if (!rc)
                rc = add_str(r, "action", action) < 0;
        if (!rc) {
                rc = add(r, "onExitCodes", on) < 0;
                on = NULL;
        }
        json_object_put(vals);
        json_object_put(on);
        if (rc) {
                json_object_put(r);
                return NULL;
        }
        return r;
}

static json_object *condition_rule(const char *action, const char *type)
{
        json_object *r = json_object_new_object(), *c = json_object_new_object();
        if (!r || !c || add_str(c, "type", type) < 0 || add_str(c, "status", "True") < 0 ||
            add_str(r, "action", action) < 0) {
                json_object_put(r);
                json_object_put(c);
                return NULL;
        }
        if (add(r, "onPodConditions", one(c)) < 0) {
                json_object_put(r);
                return NULL;
        }
        return r;
}

static json_object *pod_failure_policy(const struct manifest_job_opts *o)
{
        static const int boot[] = {EXIT_BOOT};
        static const int ok_or_boot[] = {0, EXIT_BOOT};
        /* fan-out: a failed index fails alone, the others go on */
        const char *fail = o->each_n ? "FailIndex" : "FailJob";
        json_object *p = json_object_new_object(), *rules = json_object_new_array();
        /* Disruption first: an evicted pod's container also exits non-zero, and
         * the cause, not the symptom, decides. */
        if (!p || !rules ||
            push(rules, condition_rule(o->retry_on_disruption ? "Ignore" : fail,
                                       "DisruptionTarget")) < 0 ||
            push(rules, exit_code_rule("Count", "In", boot, 1)) < 0 ||
            push(rules, exit_code_rule(fail, "NotIn", ok_or_boot, 2)) < 0) {
                json_object_put(p);
                json_object_put(rules);
                return NULL;
        }
        if (add(p, "rules", rules) < 0) {
                json_object_put(p);
                return NULL;
        }
        return p;
}

static json_object *copy(json_object *o)
{
        json_object *c = NULL;
        if (json_object_deep_copy(o, &c, NULL) < 0)
                return NULL;
        return c;
}

/* "KEY[=VALUE]:EFFECT" as a Toleration: with a value operator Equal, without
 * Exists (any value of the taint KEY). */
static int add_toleration(json_object *list, const char *spec, struct err *e)
{
        const char *colon = strrchr(spec, ':');
        if (!colon || !colon[1])
                return err_set(e, ERR_USAGE,
                               "--toleration \"%s\": want KEY[=VALUE]:EFFECT, e.g. "
                               "dedicated=encoder:NoSchedule",
                               spec);
        const char *effect = colon + 1;
        if (strcmp(effect, "NoSchedule") != 0 && strcmp(effect, "PreferNoSchedule") != 0 &&
            strcmp(effect, "NoExecute") != 0)
                return err_set(e, ERR_USAGE,
                               "--toleration \"%s\": effect \"%s\": want NoSchedule, "
                               "PreferNoSchedule or NoExecute",
                               spec, effect);
        const char *eq = memchr(spec, '=', (size_t)(colon - spec));
        size_t kn = (size_t)((eq ? eq : colon) - spec);
        char key[320], val[64];
        if (kn >= sizeof key || !is_qualified_name(spec, kn))
                return err_set(e, ERR_USAGE,
                               "--toleration \"%s\": \"%.*s\" is not a valid taint key "
                               "([prefix/]name)",
                               spec, (int)(kn > 100 ? 100 : kn), spec);
        memcpy(key, spec, kn);
        key[kn] = '\0';
        if (eq) {
                size_t vn = (size_t)(colon - eq - 1);
                if (vn >= sizeof val)
                        vn = sizeof val - 1;
                memcpy(val, eq + 1, vn);
                val[vn] = '\0';
                if ((size_t)(colon - eq - 1) >= sizeof val || !is_label_value(val))
                        return err_set(e, ERR_USAGE,
                                       "--toleration \"%s\": the value is not a valid label value "
                                       "(at most 63 of [A-Za-z0-9-_.])",
                                       spec);
        }
        json_object *t = json_object_new_object();
        if (!t || add_str(t, "key", key) < 0 ||
            add_str(t, "operator", eq ? "Equal" : "Exists") < 0 ||
            (eq && add_str(t, "value", val) < 0) || add_str(t, "effect", effect) < 0) {
                json_object_put(t);
                return oom(e);
        }
        return push(list, t) < 0 ? oom(e) : 0;
}

/* nodeSelector, tolerations, imagePullSecrets and the pod securityContext. */
static int placement(const struct manifest_job_opts *o, json_object *ps, struct err *e)
{
        if (o->node_selector && *o->node_selector) {
                json_object *sel = json_object_new_object();
                if (!sel || add(ps, "nodeSelector", sel) < 0) /* sel given away */
                        return oom(e);
                if (add_pairs(sel, o->node_selector, "--node-selector", true, e) < 0)
                        return -1;
        }
        if (o->tolerations && *o->tolerations) {
                json_object *list = json_object_new_array();
                if (!list || add(ps, "tolerations", list) < 0)
                        return oom(e);
                for (const char *const *t = o->tolerations; *t; t++)
                        if (add_toleration(list, *t, e) < 0)
                                return -1;
        }
        if (o->image_pull_secrets && *o->image_pull_secrets) {
                json_object *list = json_object_new_array();
                if (!list || add(ps, "imagePullSecrets", list) < 0)
                        return oom(e);
                for (const char *const *n = o->image_pull_secrets; *n; n++) {
                        json_object *ref = json_object_new_object();
                        if (!ref || add_str(ref, "name", *n) < 0) {
                                json_object_put(ref);
                                return oom(e);
                        }
                        if (push(list, ref) < 0) /* ref given away */
                                return oom(e);
                }
        }
        if (o->run_as_user > 0) {
                json_object *sc = json_object_new_object();
                if (!sc || add(ps, "securityContext", sc) < 0 ||
                    add(sc, "runAsNonRoot", json_object_new_boolean(1)) < 0 ||
                    add_int(sc, "runAsUser", o->run_as_user) < 0)
                        return oom(e);
        }
        return 0;
}

static int build_job(const struct manifest_job_opts *o, const char *cron, struct job_parts *p,
                     struct err *e)
{
        memset(p, 0, sizeof *p);
        if (check_opts(o, e) < 0)
                return -1;
        if (o->slug)
                snprintf(p->slug, sizeof p->slug, "%s", o->slug);
        else
                expr_slug(o->expr, p->slug, sizeof p->slug);

        p->labels = json_object_new_object();
        p->annotations = json_object_new_object();
        p->pod_annotations = json_object_new_object();
        p->spec = json_object_new_object();
        if (!p->labels || !p->annotations || !p->pod_annotations || !p->spec ||
            add_str(p->labels, LABEL_NAME, "relrun") < 0 ||
            add_str(p->labels, LABEL_MANAGED, "relrun") < 0 ||
            add_str(p->labels, LABEL_TASK, p->slug) < 0 ||
            (cron && add_str(p->labels, LABEL_CRON, cron) < 0) ||
            add_str(p->annotations, ANNOT_EXPR, o->expr) < 0 ||
            (o->each_n && o->each_items && add_str(p->annotations, ANNOT_EACH, o->each_items) < 0))
                goto oom;
        if (add_pairs(p->labels, o->labels, "--label", true, e) < 0 ||
            add_pairs(p->annotations, o->annotations, "--annotation", false, e) < 0 ||
            add_pairs(p->pod_annotations, o->annotations, "--annotation", false, e) < 0)
                goto fail;

        json_object *pod = json_object_new_object();
        if (!pod || add(p->spec, "template", pod) < 0) /* pod given away */
                goto oom;
        json_object *pmeta = json_object_new_object();
        if (add(pod, "metadata", pmeta) < 0 || add(pmeta, "labels", copy(p->labels)) < 0)
                goto oom;
        if (json_object_object_length(p->pod_annotations) > 0 &&
            add(pmeta, "annotations", copy(p->pod_annotations)) < 0)
                goto oom;

        json_object *ps = json_object_new_object();
        if (add(pod, "spec", ps) < 0 || add_str(ps, "restartPolicy", "Never") < 0)
                goto oom;
        if (o->service_account && add_str(ps, "serviceAccountName", o->service_account) < 0)
                goto oom;
        if (o->priority_class && add_str(ps, "priorityClassName", o->priority_class) < 0)
                goto oom;
        if (placement(o, ps, e) < 0)
                goto fail;
        long grace = o->grace_seconds > 0 ? o->grace_seconds : MANIFEST_DEFAULT_GRACE;
        /* a drain hook gets the grace, then the release's stop does */
        if (add_int(ps, "terminationGracePeriodSeconds",
                    grace * (o->on_term ? 2 : 1) + MANIFEST_GRACE_MARGIN) < 0)
                goto oom;
        if (o->inject == MANIFEST_INJECT_INIT &&
            add(ps, "initContainers", one(init_container(o))) < 0)
                goto oom;
        json_object *task = task_container(o, e);
        if (!task)
                goto fail;
        if (add(ps, "containers", one(task)) < 0)
                goto oom;
        if (o->inject == MANIFEST_INJECT_INIT) {
                json_object *vol = json_object_new_object();
                if (add(ps, "volumes", one(vol)) < 0 || add_str(vol, "name", "relrun") < 0 ||
                    add(vol, "emptyDir", json_object_new_object()) < 0)
                        goto oom;
        }
        /* the pod template ahead of the policy reads badly; move it to the end */
        json_object_get(pod);
        json_object_object_del(p->spec, "template");

        int backoff = o->backoff_limit > o->boot_retries ? o->backoff_limit : o->boot_retries;
        if (o->each_n) {
                /* one Indexed Job: index i runs each[i]; retries count per index */
                long par = o->parallelism > 0 && (size_t)o->parallelism < o->each_n
                               ? o->parallelism
                               : (long)o->each_n;
                if (add_str(p->spec, "completionMode", "Indexed") < 0 ||
                    add_int(p->spec, "completions", (long)o->each_n) < 0 ||
                    add_int(p->spec, "parallelism", par) < 0 ||
                    add_int(p->spec, "backoffLimitPerIndex", backoff) < 0)
                        goto oom_pod;
        } else if (add_int(p->spec, "backoffLimit", backoff) < 0) {
                goto oom_pod;
        }
        if (o->active_deadline_seconds > 0 &&
            add_int(p->spec, "activeDeadlineSeconds", o->active_deadline_seconds) < 0)
                goto oom_pod;
        if (o->ttl_seconds >= 0 && add_int(p->spec, "ttlSecondsAfterFinished", o->ttl_seconds) < 0)
                goto oom_pod;
        if (add(p->spec, "podFailurePolicy", pod_failure_policy(o)) < 0)
                goto oom_pod;
        /* A boot retry's pod starts only once the last one is gone: never two
         * tasks at once (the podFailurePolicy needs it anyway; say it). */
        if (add_str(p->spec, "podReplacementPolicy", "Failed") < 0)
                goto oom_pod;
        if (add(p->spec, "template", pod) < 0) /* pod given away */
                goto oom;
        return 0;
oom_pod:
        json_object_put(pod);
oom:
        oom(e);
fail:
        job_parts_free(p);
        return -1;
}

static json_object *type_meta(const char *kind)
{
        json_object *o = json_object_new_object();
        if (o && (add_str(o, "apiVersion", "batch/v1") < 0 || add_str(o, "kind", kind) < 0)) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

/* --overrides on *obj (a Job, or a CronJob's jobTemplate), kind and
 * apiVersion kept: an override changes the Job, it does not make another
 * kind of object. */
static int overrides(const struct manifest_job_opts *o, json_object **obj, struct err *e)
{
        if (!o->overrides)
                return 0;
        enum patch_type t = PATCH_MERGE;
        if (o->override_type && patch_type_parse(o->override_type, &t, e) < 0)
                return -1;
        json_object *before = copy(*obj);
        if (!before)
                return oom(e);
        int rc = patch_apply_text(obj, t, o->overrides, e);
        if (rc < 0)
                err_prefix(e, "--overrides (%s)", o->override_type ? o->override_type : "merge");
        for (int i = 0; rc == 0 && i < 2; i++) {
                const char *key = i ? "kind" : "apiVersion";
                json_object *a = NULL, *b = NULL;
                json_object_object_get_ex(before, key, &a);
                if (!json_object_is_type(*obj, json_type_object) ||
                    !json_object_object_get_ex(*obj, key, &b) || !json_object_equal(a, b))
                        rc = err_set(
                            e, ERR_USAGE, "--overrides: the result must stay a %s (%s changed)",
                            json_object_get_string(json_object_object_get(before, "kind")), key);
        }
        if (rc == 0 && !json_object_is_type(json_object_object_get(*obj, "spec"), json_type_object))
                rc = err_set(e, ERR_USAGE, "--overrides: the result has no spec object");
        json_object_put(before);
        return rc;
}

int manifest_job_new(const struct manifest_job_opts *o, json_object **out, struct err *e)
{
        struct job_parts p;
        if (build_job(o, NULL, &p, e) < 0)
                return -1;
        char gen[EXPR_SLUG_MAX + 16];
        snprintf(gen, sizeof gen, "relrun-%s-", p.slug);
        json_object *job = type_meta("Job"), *meta = json_object_new_object();
        int rc = !job || !meta;
        if (!rc) {
                rc = add(job, "metadata", meta) < 0; /* meta given away */
                meta = NULL;
        }
        json_object *m = json_object_object_get(job, "metadata");
        if (!rc)
                rc = add_str(m, "generateName", gen) < 0 ||
                     (o->namespace_ && add_str(m, "namespace", o->namespace_) < 0);
        if (!rc) {
                rc = add(m, "labels", p.labels) < 0 || add(m, "annotations", p.annotations) < 0 ||
                     add(job, "spec", p.spec) < 0;
                p.labels = p.annotations = p.spec = NULL; /* given away */
        }
        json_object_put(meta);
        job_parts_free(&p);
        if (rc) {
                json_object_put(job);
                return oom(e);
        }
        if (overrides(o, &job, e) < 0) {
                json_object_put(job);
                return -1;
        }
        *out = job;
        return 0;
}

void manifest_job_opts_init(struct manifest_job_opts *o)
{
        memset(o, 0, sizeof *o);
        o->ttl_seconds = -1;
        o->run_as_user = -1;
        o->inject = MANIFEST_INJECT_INIT;
}

void manifest_cron_opts_init(struct manifest_cron_opts *o)
{
        memset(o, 0, sizeof *o);
        o->starting_deadline_seconds = -1;
        o->successful_jobs_history = -1;
        o->failed_jobs_history = -1;
}

static int check_schedule(const char *s, struct err *e)
{
        if (!s || !*s)
                return err_set(e, ERR_USAGE, "--schedule: required");
        if (cron_check(s, e) < 0)
                return err_prefix(e, "--schedule \"%s\"", s);
        return 0;
}

static int check_cron(const struct manifest_cron_opts *c, struct err *e)
{
        /* the controller appends "-<11 digits>" to name its Jobs (63 - 11) */
        if (manifest_check_dns_label("cron name", c->name, 52, e) < 0)
                return -1;
        if (check_schedule(c->schedule, e) < 0)
                return -1;
        if (c->time_zone) {
                const char *tz = c->time_zone;
                size_t n = strlen(tz);
                if (n == 0 || n > 64 || !all_chars(tz, n, "_+-/") || tz[0] == '/' ||
                    strstr(tz, ".."))
                        return err_set(
                            e, ERR_USAGE,
                            "--time-zone \"%s\": not a time zone name like Europe/Berlin", tz);
        }
        const char *cp = c->concurrency_policy;
        if (cp && strcmp(cp, "Allow") != 0 && strcmp(cp, "Forbid") != 0 &&
            strcmp(cp, "Replace") != 0)
                return err_set(e, ERR_USAGE,
                               "--concurrency-policy \"%s\": want Allow, Forbid or Replace", cp);
        if (c->starting_deadline_seconds < -1 || c->successful_jobs_history < -1 ||
            c->failed_jobs_history < -1)
                return err_set(e, ERR_USAGE, "cron: negative deadline or history limit");
        return 0;
}

int manifest_cronjob_new(const struct manifest_job_opts *job, const struct manifest_cron_opts *c,
                         json_object **out, struct err *e)
{
        if (check_cron(c, e) < 0)
                return -1;
        struct job_parts p;
        if (build_job(job, c->name, &p, e) < 0)
                return -1;
        json_object *cj = type_meta("CronJob");
        json_object *meta = json_object_new_object(), *spec = json_object_new_object(),
                    *tmpl = json_object_new_object(), *tmeta = json_object_new_object();
        int rc = !cj || !meta || !spec || !tmpl || !tmeta;
        /* everything below is added to a parent that is itself owned: the parents
         * are attached last so a failure frees each exactly once */
        if (!rc)
                rc = add_str(meta, "name", c->name) < 0 ||
                     (job->namespace_ && add_str(meta, "namespace", job->namespace_) < 0) ||
                     add(meta, "labels", copy(p.labels)) < 0 ||
                     add(meta, "annotations", copy(p.annotations)) < 0;
        if (!rc)
                rc = add_str(spec, "schedule", c->schedule) < 0 ||
                     (c->time_zone && add_str(spec, "timeZone", c->time_zone) < 0) ||
                     add_str(spec, "concurrencyPolicy",
                             c->concurrency_policy ? c->concurrency_policy : "Forbid") < 0 ||
                     (c->starting_deadline_seconds >= 0 &&
                      add_int(spec, "startingDeadlineSeconds", c->starting_deadline_seconds) < 0) ||
                     (c->successful_jobs_history >= 0 && add_int(spec, "successfulJobsHistoryLimit",
                                                                 c->successful_jobs_history) < 0) ||
                     (c->failed_jobs_history >= 0 &&
                      add_int(spec, "failedJobsHistoryLimit", c->failed_jobs_history) < 0) ||
                     add(spec, "suspend", json_object_new_boolean(c->suspend)) < 0;
        /* One hand-over at a time: add() owns what it is given, even when it
         * fails, and what was not handed over yet is freed below. */
        if (!rc) {
                rc = add(tmeta, "labels", p.labels) < 0;
                p.labels = NULL;
        }
        if (!rc) {
                rc = add(tmeta, "annotations", p.annotations) < 0;
                p.annotations = NULL;
        }
        if (!rc) {
                rc = add(tmpl, "metadata", tmeta) < 0;
                tmeta = NULL;
        }
        if (!rc) {
                rc = add(tmpl, "spec", p.spec) < 0;
                p.spec = NULL;
        }
        if (!rc && job->overrides) {
                /* the jobTemplate patched as the Job it stands for, so one
                 * override means the same to run, render and cron */
                rc =
                    add_str(tmpl, "apiVersion", "batch/v1") < 0 || add_str(tmpl, "kind", "Job") < 0;
                if (!rc && overrides(job, &tmpl, e) < 0) {
                        json_object_put(meta);
                        json_object_put(spec);
                        json_object_put(tmpl);
                        job_parts_free(&p);
                        json_object_put(cj);
                        return -1;
                }
                if (!rc) {
                        json_object_object_del(tmpl, "apiVersion");
                        json_object_object_del(tmpl, "kind");
                }
        }
        if (!rc) {
                rc = add(spec, "jobTemplate", tmpl) < 0;
                tmpl = NULL;
        }
        if (!rc) {
                rc = add(cj, "metadata", meta) < 0;
                meta = NULL;
        }
        if (!rc) {
                rc = add(cj, "spec", spec) < 0;
                spec = NULL;
        }
        json_object_put(meta);
        json_object_put(spec);
        json_object_put(tmpl);
        json_object_put(tmeta);
        job_parts_free(&p);
        if (rc) {
                json_object_put(cj);
                return oom(e);
        }
        *out = cj;
        return 0;
}

/* ---- output ---------------------------------------------------------------- */

static int out_err(struct err *e, const char *what)
{
        if (errno == ENOBUFS)
                return err_set(e, ERR_SOFTWARE, "%s: output too large", what);
        return err_sys(e, ERR_SOFTWARE, "%s", what);
}

int manifest_to_json(json_object *obj, bool pretty, struct buf *out, struct err *e)
{
        int flags =
            JSON_C_TO_STRING_NOSLASHESCAPE |
            (pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED : JSON_C_TO_STRING_PLAIN);
        size_t len;
        const char *s = json_object_to_json_string_length(obj, flags, &len);
        if (!s)
                return err_set(e, ERR_SOFTWARE, "json: out of memory");
        if (buf_append(out, s, len) < 0 || buf_putc(out, '\n') < 0)
                return out_err(e, "json");
        return 0;
}

/* Would a YAML 1.1 or 1.2 reader (PyYAML, go-yaml v2/v3, libyaml-based ones)
 * resolve this plain scalar to something other than a string? Errs towards
 * yes: quoting a string never changes it. */
static bool yaml_ambiguous(const char *s, size_t n)
{
        static const char *words[] = {"~",     "null",  "Null", "NULL",  "y",     "Y",     "yes",
                                      "Yes",   "YES",   "n",    "N",     "no",    "No",    "NO",
                                      "true",  "True",  "TRUE", "false", "False", "FALSE", "on",
                                      "On",    "ON",    "off",  "Off",   "OFF",   "<<",    "=",
                                      ".inf",  ".Inf",  ".INF", "-.inf", "-.Inf", "-.INF", "+.inf",
                                      "+.Inf", "+.INF", ".nan", ".NaN",  ".NAN",  NULL};
        /* ":sym" is a Symbol to Ruby's Psych */
        if (n == 0 || s[0] == ':')
                return true;
        for (const char **w = words; *w; w++)
                if (strlen(*w) == n && memcmp(*w, s, n) == 0)
                        return true;
        /* numbers in every notation: 1, -1, 0o7, 0x1F, 0b1, 1_000, 1:20, 1.5,
         * .5, 1e3, 6.8523015e+5 */
        /* YAML 1.1 timestamps: 2001-12-14, 2001-12-14t21:59:43.10-05:00 */
        if (n >= 5 && isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) &&
            isdigit((unsigned char)s[2]) && isdigit((unsigned char)s[3]) && s[4] == '-')
                return true;
        size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
        if (i < n && s[i] == '.')
                i++;
        if (i >= n || !isdigit((unsigned char)s[i]))
                return false;
        for (size_t k = 0; k < n; k++)
                if (!isxdigit((unsigned char)s[k]) && !strchr("xXoObB_.:+-", s[k]))
                        return false;
        return true;
}

struct emit {
        yaml_emitter_t em;
        yaml_event_t ev;
        struct buf *out;
        int buf_errno;
};

static int yaml_write(void *data, unsigned char *p, size_t n)
{
        struct emit *m = data;
        if (buf_append(m->out, p, n) < 0) {
                m->buf_errno = errno;
                return 0;
        }
        return 1;
}

static int emit_scalar(struct emit *m, const char *s, size_t n, yaml_scalar_style_t style,
                       bool plain_implicit)
{
        if (!yaml_scalar_event_initialize(&m->ev, NULL, NULL, (yaml_char_t *)s, (int)n,
                                          plain_implicit, 1, style))
                return -1;
        return yaml_emitter_emit(&m->em, &m->ev) ? 0 : -1;
}

static int emit_string(struct emit *m, const char *s, size_t n)
{
        if (yaml_ambiguous(s, n))
                return emit_scalar(m, s, n, YAML_SINGLE_QUOTED_SCALAR_STYLE, false);
        /* U+0085, U+2028 and U+2029 are line breaks to a YAML 1.1 reader */
        if (memmem(s, n, "\xc2\x85", 2) || memmem(s, n, "\xe2\x80\xa8", 3) ||
            memmem(s, n, "\xe2\x80\xa9", 3))
                return emit_scalar(m, s, n, YAML_DOUBLE_QUOTED_SCALAR_STYLE, false);
        if (memchr(s, '\n', n)) /* libyaml falls back to double quotes if inexact */
                return emit_scalar(m, s, n, YAML_LITERAL_SCALAR_STYLE, false);
        return emit_scalar(m, s, n, YAML_ANY_SCALAR_STYLE, true);
}

static int emit_node(struct emit *m, json_object *o, int depth)
{
        if (depth > 100)
                return -1;
        switch (json_object_get_type(o)) {
        case json_type_object: {
                bool empty = json_object_object_length(o) == 0;
                if (!yaml_mapping_start_event_initialize(&m->ev, NULL, NULL, 1,
                                                         empty ? YAML_FLOW_MAPPING_STYLE
                                                               : YAML_BLOCK_MAPPING_STYLE) ||
                    !yaml_emitter_emit(&m->em, &m->ev))
                        return -1;
                json_object_object_foreach(o, key, val)
                {
                        if (emit_string(m, key, strlen(key)) < 0 ||
                            emit_node(m, val, depth + 1) < 0)
                                return -1;
                }
                if (!yaml_mapping_end_event_initialize(&m->ev) ||
                    !yaml_emitter_emit(&m->em, &m->ev))
                        return -1;
                return 0;
        }
        case json_type_array: {
                size_t n = json_object_array_length(o);
                if (!yaml_sequence_start_event_initialize(&m->ev, NULL, NULL, 1,
                                                          n ? YAML_BLOCK_SEQUENCE_STYLE
                                                            : YAML_FLOW_SEQUENCE_STYLE) ||
                    !yaml_emitter_emit(&m->em, &m->ev))
                        return -1;
                for (size_t i = 0; i < n; i++)
                        if (emit_node(m, json_object_array_get_idx(o, i), depth + 1) < 0)
                                return -1;
                if (!yaml_sequence_end_event_initialize(&m->ev) ||
                    !yaml_emitter_emit(&m->em, &m->ev))
                        return -1;
                return 0;
        }
        case json_type_string:
                return emit_string(m, json_object_get_string(o),
                                   (size_t)json_object_get_string_len(o));
        case json_type_int: {
                char num[32];
                if (json_object_get_int64(o) == INT64_MAX && json_object_get_uint64(o) > INT64_MAX)
                        snprintf(num, sizeof num, "%" PRIu64, json_object_get_uint64(o));
                else
                        snprintf(num, sizeof num, "%" PRId64, json_object_get_int64(o));
                return emit_scalar(m, num, strlen(num), YAML_PLAIN_SCALAR_STYLE, true);
        }
        case json_type_double: {
                const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
                double d = json_object_get_double(o);
                if (d != d)
                        t = ".nan";
                else if (d > 1e308 * 10)
                        t = ".inf";
                else if (d < -1e308 * 10)
                        t = "-.inf";
                return emit_scalar(m, t, strlen(t), YAML_PLAIN_SCALAR_STYLE, true);
        }
        case json_type_boolean: {
                const char *t = json_object_get_boolean(o) ? "true" : "false";
                return emit_scalar(m, t, strlen(t), YAML_PLAIN_SCALAR_STYLE, true);
        }
        case json_type_null:
        default: return emit_scalar(m, "null", 4, YAML_PLAIN_SCALAR_STYLE, true);
        }
}

int manifest_to_yaml(json_object *obj, struct buf *out, struct err *e)
{
        struct emit m = {.out = out};
        if (!yaml_emitter_initialize(&m.em))
                return err_set(e, ERR_SOFTWARE, "yaml: out of memory");
        yaml_emitter_set_output(&m.em, yaml_write, &m);
        yaml_emitter_set_unicode(&m.em, 1);
        yaml_emitter_set_indent(&m.em, 2);
        yaml_emitter_set_width(&m.em, -1);
        yaml_emitter_set_break(&m.em, YAML_LN_BREAK);
        int rc = 0;
        if (!yaml_stream_start_event_initialize(&m.ev, YAML_UTF8_ENCODING) ||
            !yaml_emitter_emit(&m.em, &m.ev) ||
            !yaml_document_start_event_initialize(&m.ev, NULL, NULL, NULL, 1) ||
            !yaml_emitter_emit(&m.em, &m.ev) || emit_node(&m, obj, 0) < 0 ||
            !yaml_document_end_event_initialize(&m.ev, 1) || !yaml_emitter_emit(&m.em, &m.ev) ||
            !yaml_stream_end_event_initialize(&m.ev) || !yaml_emitter_emit(&m.em, &m.ev) ||
            !yaml_emitter_flush(&m.em)) {
                if (m.buf_errno == ENOBUFS)
                        rc = err_set(e, ERR_SOFTWARE, "yaml: output too large");
                else
                        rc = err_set(e, ERR_SOFTWARE, "yaml: %s",
                                     m.em.problem ? m.em.problem : "cannot emit (invalid UTF-8?)");
        }
        yaml_emitter_delete(&m.em);
        return rc;
}
