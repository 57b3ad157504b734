/* kubeconfig: real files in a temp dir, real exec plugin processes. */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kubeconfig.h"

/* base64 of the PEM-ish test blobs */
#define CA_PEM   "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n"
#define CA_B64   "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNBCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K"
#define CERT_PEM "CERT-PEM\n"
#define CERT_B64 "Q0VSVC1QRU0K"
#define KEY_PEM  "KEY-PEM-s3cr3t\n"
#define KEY_B64  "S0VZLVBFTS1zM2NyM3QK"
#define TOKEN    "tok-SECRET-4f2a9"
#define PASSWORD "pw-SECRET-77"

struct fx {
        char dir[64];
        struct kubeconfig_opts o;
        struct kubeconfig_rest *r;
        struct err e;
        char nohome[96];
        char nosa[96];
};

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(p);
}

static int setup(void **state)
{
        struct fx *f = calloc(1, sizeof *f);
        snprintf(f->dir, sizeof f->dir, "/tmp/kubeconfig_test.XXXXXX");
        if (!mkdtemp(f->dir))
                return -1;
        snprintf(f->nohome, sizeof f->nohome, "%s/nohome", f->dir);
        snprintf(f->nosa, sizeof f->nosa, "%s/nosa", f->dir);
        /* Never look at the real environment of whoever runs the tests. */
        f->o.env_kubeconfig = "";
        f->o.home = f->nohome;
        f->o.sa_dir = f->nosa;
        f->o.env_service_host = "";
        f->o.env_service_port = "";
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;
        kubeconfig_rest_free(f->r);
        nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        free(f);
        return 0;
}

/* Write dir/name (creating subdirectories); returns the path (static ring). */
static const char *put(struct fx *f, const char *name, const char *content)
{
        static char ring[8][PATH_MAX + 64];
        static int next;
        char *path = ring[next++ % 8];
        snprintf(path, PATH_MAX + 64, "%s/%s", f->dir, name);
        for (char *s = path + strlen(f->dir) + 1; (s = strchr(s, '/')); s++) {
                *s = '\0';
                mkdir(path, 0700);
                *s = '/';
        }
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        fputs(content, fp);
        fclose(fp);
        return path;
}

static const char *put_exec(struct fx *f, const char *name, const char *script)
{
        const char *p = put(f, name, script);
        assert_int_equal(chmod(p, 0700), 0);
        return p;
}

static int load(struct fx *f)
{
        kubeconfig_rest_free(f->r);
        f->r = NULL;
        err_clear(&f->e);
        return kubeconfig_load(&f->o, &f->r, &f->e);
}

static void expect_fail(struct fx *f, const char *needle)
{
        assert_int_equal(load(f), -1);
        assert_null(f->r);
        assert_int_equal(f->e.code, ERR_CONFIG);
        if (!strstr(f->e.msg, needle))
                fail_msg("message '%s' lacks '%s'", f->e.msg, needle);
}

static void no_secret(struct fx *f)
{
        assert_null(strstr(f->e.msg, TOKEN));
        assert_null(strstr(f->e.msg, PASSWORD));
        assert_null(strstr(f->e.msg, "s3cr3t"));
        assert_null(strstr(f->e.msg, KEY_B64));
}

static const char *basic_config = "apiVersion: v1\n"
                                  "kind: Config\n"
                                  "current-context: dev\n"
                                  "clusters:\n"
                                  "- name: dev-cluster\n"
                                  "  cluster:\n"
                                  "    server: https://dev.example:6443/\n"
                                  "    certificate-authority-data: " CA_B64 "\n"
                                  "    tls-server-name: api.dev\n"
                                  "    proxy-url: http://proxy:3128\n"
                                  "contexts:\n"
                                  "- name: dev\n"
                                  "  context:\n"
                                  "    cluster: dev-cluster\n"
                                  "    user: dev-user\n"
                                  "    namespace: streams\n"
                                  "- name: bare\n"
                                  "  context:\n"
                                  "    cluster: dev-cluster\n"
                                  "users:\n"
                                  "- name: dev-user\n"
                                  "  user:\n"
                                  "    token: " TOKEN "\n";

/* ---- loading ---- */

static void single_file(void **state)
{
        struct fx *f = *state;
        f->o.kubeconfig = put(f, "config", basic_config);
        assert_int_equal(load(f), 0);
        struct kubeconfig_rest *r = f->r;
        assert_string_equal(r->server, "https://dev.example:6443");
        assert_string_equal(r->context, "dev");
        assert_string_equal(r->cluster, "dev-cluster");
        assert_string_equal(r->user, "dev-user");
        assert_string_equal(r->namespace_, "streams");
        assert_string_equal(r->token, TOKEN);
        assert_string_equal(r->tls_server_name, "api.dev");
        assert_string_equal(r->source, f->o.kubeconfig);
        assert_false(r->in_cluster);
        assert_false(r->insecure_skip_tls_verify);
        assert_int_equal(r->ca_len, strlen(CA_PEM));
        assert_memory_equal(r->ca, CA_PEM, strlen(CA_PEM));
        assert_null(r->client_cert);
        assert_null(r->token_file);
}

/* A CR/LF in a token would inject HTTP headers: refused (78) whether the token
 * comes from the kubeconfig, a tokenFile or an exec plugin, never printed. */
static void token_control_characters_refused(void **state)
{
        struct fx *f = *state;
        static const char head[] = "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                                   "clusters:\n- name: k\n  cluster:\n"
                                   "    server: https://k.example\n"
                                   "contexts:\n- name: c\n  context: {cluster: k, user: u}\n"
                                   "users:\n- name: u\n  user:\n";
        char cfg[2048];
        snprintf(cfg, sizeof cfg, "%s    token: \"" TOKEN "\\r\\nX-Evil: 1\"\n", head);
        f->o.kubeconfig = put(f, "config", cfg);
        expect_fail(f, "contains a control character (0x0d at byte");
        no_secret(f);
        if (!strstr(f->e.msg, "line 14, column 12"))
                fail_msg("no line in '%s'", f->e.msg);
        /* tokenFile: the trailing newline is trimmed, an inner one is not */
        put(f, "tok", TOKEN "\nX-Evil: 1\n");
        snprintf(cfg, sizeof cfg, "%s    tokenFile: tok\n", head);
        f->o.kubeconfig = put(f, "config", cfg);
        expect_fail(f, "tokenFile of user \"u\"");
        assert_non_null(strstr(f->e.msg, "0x0a"));
        no_secret(f);
        put(f, "tok", TOKEN "\n");
        assert_int_equal(load(f), 0);
        assert_string_equal(f->r->token, TOKEN);
        /* exec plugin */
        put_exec(f, "p",
                 "#!/bin/sh\nprintf '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
                 "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"" TOKEN
                 "\\\\u0007\"}}\\n'\n");
        snprintf(cfg, sizeof cfg,
                 "%s    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
                 "      command: %s/p\n      interactiveMode: Never\n",
                 head, f->dir);
        f->o.kubeconfig = put(f, "config", cfg);
        expect_fail(f, "the token from the exec plugin contains a control character (0x07");
        no_secret(f);
        struct err e;
        assert_int_equal(kubeconfig_token_check("abc.DEF-_~+/=", "x", &e), 0);
        assert_int_equal(kubeconfig_token_check("a\x7f", "x", &e), -1);
        assert_int_equal(e.code, ERR_CONFIG);
}

/* 200 KB of '[' used to cost libyaml's scanner half a minute of CPU before
 * the error: the nesting is bounded and named where it goes too deep. */
static void deep_nesting_refused(void **state)
{
        struct fx *f = *state;
        size_t n = 200 * 1024;
        char *cfg = malloc(n + 64);
        assert_non_null(cfg);
        int head = snprintf(cfg, 64, "apiVersion: v1\nclusters: ");
        memset(cfg + head, '[', n);
        cfg[head + (int)n] = '\0';
        f->o.kubeconfig = put(f, "config", cfg);
        free(cfg);
        expect_fail(f, "line 2, column 74: nested deeper than 64 levels");
        /* block style the same */
        char block[16384] = "apiVersion: v1\nclusters:\n";
        for (int i = 0; i < 80; i++) {
                size_t len = strlen(block);
                snprintf(block + len, sizeof block - len, "%*s- \n", 2 * i, "");
        }
        f->o.kubeconfig = put(f, "config", block);
        expect_fail(f, "nested deeper than 64 levels");
}

static void home_config_used_when_no_env(void **state)
{
        struct fx *f = *state;
        put(f, "home/.kube/config", basic_config);
        char home[PATH_MAX + 8];
        snprintf(home, sizeof home, "%s/home", f->dir);
        f->o.home = home;
        assert_int_equal(load(f), 0);
        assert_string_equal(f->r->context, "dev");
}

static void kubeconfig_flag_beats_env(void **state)
{
        struct fx *f = *state;
        const char *a = put(f, "a", basic_config);
        char env[PATH_MAX + 8];
        snprintf(env, sizeof env, "%s/nonexistent", f->dir);
        f->o.env_kubeconfig = env;
        f->o.kubeconfig = a;
        assert_int_equal(load(f), 0);
        assert_string_equal(f->r->source, a);
}

/* What completion offers for --context: every context once, across the
 * merged files, in their order; a missing file in the list is skipped. */
static void context_names(void **state)
{
        struct fx *f = *state;
        const char *a = put(f, "a", "contexts:\n- name: prod\n  context: {cluster: k}\n");
        const char *b = put(f, "b",
                            "contexts:\n- name: staging\n  context: {cluster: k}\n"
                            "- name: prod\n  context: {cluster: other}\n");
        char list[3 * PATH_MAX];
        snprintf(list, sizeof list, "%s:%s/missing:%s", a, f->dir, b);
        f->o.env_kubeconfig = list;
        struct buf out;
        buf_init(&out, 4096);
        assert_int_equal(kubeconfig_context_names(&f->o, &out, &f->e), 0);
        assert_string_equal(buf_str(&out), "prod\nstaging\n");
        buf_fini(&out);
        /* --kubeconfig names one file */
        f->o.kubeconfig = b;
        buf_init(&out, 4096);
        assert_int_equal(kubeconfig_context_names(&f->o, &out, &f->e), 0);
        assert_string_equal(buf_str(&out), "staging\nprod\n");
        buf_fini(&out);
}

static void merge_first_wins(void **state)
{
        struct fx *f = *state;
        const char *a = put(f, "a",
                            "clusters:\n"
                            "- name: shared\n"
                            "  cluster: {server: https://from-a}\n"
                            "contexts:\n"
                            "- name: ctx\n"
                            "  context: {cluster: shared, user: ua, namespace: ns-a}\n"
                            "users:\n"
                            "- name: ua\n"
                            "  user: {token: token-a}\n");
        const char *b = put(f, "b",
                            "current-context: ctx\n"
                            "clusters:\n"
                            "- name: shared\n"
                            "  cluster: {server: https://from-b}\n"
                            "- name: only-b\n"
                            "  cluster: {server: https://only-b}\n"
                            "contexts:\n"
                            "- name: ctx\n"
                            "  context: {cluster: only-b, user: ub}\n"
                            "- name: ctx-b\n"
                            "  context: {cluster: only-b, user: ub}\n"
                            "users:\n"
                            "- name: ub\n"
                            "  user: {token: token-b}\n");
        const char *c = put(f, "c", "current-context: ctx-b\n");
        char env[4 * PATH_MAX];
        snprintf(env, sizeof env, "%s/missing::%s:%s:%s", f->dir, a, b, c);
        f->o.env_kubeconfig = env;
        assert_int_equal(load(f), 0);
        /* current-context from b (a sets none, c comes later); context, cluster
         * and user from a, the first file defining each name. */
        assert_string_equal(f->r->context, "ctx");
        assert_string_equal(f->r->server, "https://from-a");
        assert_string_equal(f->r->token, "token-a");
        assert_string_equal(f->r->namespace_, "ns-a");
        assert_string_equal(f->r->source, a);
        /* Names only b defines are still visible. */
        f->o.context = "ctx-b";
        assert_int_equal(load(f), 0);
        assert_string_equal(f->r->server, "https://only-b");
        assert_string_equal(f->r->token, "token-b");
        assert_string_equal(f->r->namespace_, "default");
}

static void merge_current_context_from_first_that_sets_it(void **state)
{
        struct fx *f = *state;
        const char *a = put(f, "a", "current-context: bare\n");
        const char *b = put(f, "b", basic_config);
        char env[3 * PATH_MAX];
        snprintf(env, sizeof env, "%s:%s", a, b);
        f->o.env_kubeconfig = env;
        assert_int_equal(load(f), 0);
        assert_string_equal(f->r->context, "bare");
        assert_null(f->r->user);
        assert_null(f->r->token);
}

static void yaml_merge_keys(void **state)
{
        struct fx *f = *state;
        f->o.kubeconfig = put(f, "config",
                              "current-context: c\n"
                              "base: &base {cluster: k, namespace: shared-ns}\n"
                              "contexts:\n"
                              "- name: c\n"
                              "  context:\n"
                              "    <<: *base\n"
                              "    user: u\n"
                              "    namespace: own-ns\n"
                              "- name: d\n"
                              "  context: {<<: [*base]}\n"
                              "clusters: [{name: k, cluster: {server: https://k}}]\n"
                              "users: [{name: u, user: {token: t}}]\n");
        assert_int_equal(load(f), 0);
        assert_string_equal(f->r->server, "https://k");
        assert_string_equal(f->r->namespace_, "own-ns"); /* explicit key wins */
        assert_string_equal(f->r->token, "t");
        f->o.context = "d";
        assert_int_equal(load(f), 0);
        assert_string_equal(f->r->namespace_, "shared-ns");
        assert_null(f->r->user);
}

static void many_entries_load_fast(void **state)
{
        struct fx *f = *state;
        /* 50k users: a pairwise duplicate check would take seconds. */
        size_t cap = 4u << 20, len = 0;
        char *cfg = malloc(cap);
        len += (size_t)snprintf(cfg, cap,
                                "current-context: c\n"
                                "contexts: [{name: c, context: {cluster: k, user: u49999}}]\n"
                                "clusters: [{name: k, cluster: {server: https://k}}]\n"
                                "users:\n");
        for (int i = 0; i < 50000; i++)
                len += (size_t)snprintf(cfg + len, cap - len, "- {name: u%d, user: {token: t%d}}\n",
                                        i, i);
        f->o.kubeconfig = put(f, "config", cfg);
        assert_int_equal(load(f), 0);
        assert_string_equal(f->r->token, "t49999");
        /* The same with a repeat is rejected, naming the later entry. */
        snprintf(cfg + len, cap - len, "- {name: u7, user: {}}\n");
        put(f, "config", cfg);
        expect_fail(f, "line 50005, column 3: duplicate user name \"u7\"");
        free(cfg);
}

static void kubeconfig_flag_missing_file(void **state)
{
        struct fx *f = *state;
        char path[PATH_MAX + 16];
        snprintf(path, sizeof path, "%s/nope", f->dir);
        f->o.kubeconfig = path;
        expect_fail(f, path);
        assert_non_null(strstr(f->e.msg, "No such file"));
}

static void env_only_missing_files(void **state)
{
        struct fx *f = *state;
        char env[PATH_MAX * 2];
        snprintf(env, sizeof env, "%s/x:%s/y", f->dir, f->dir);
        f->o.env_kubeconfig = env;
        expect_fail(f, "no kubeconfig found");
        assert_non_null(strstr(f->e.msg, "/x'"));
        assert_non_null(strstr(f->e.msg, "/y'"));
        assert_non_null(strstr(f->e.msg, "not running in a cluster"));
}

static void nothing_at_all(void **state)
{
        struct fx *f = *state;
        expect_fail(f, "no kubeconfig found (tried '");
        assert_non_null(strstr(f->e.msg, "nohome/.kube/config"));
}

static void unreadable_file_in_list(void **state)
{
        struct fx *f = *state;
        const char *a = put(f, "a", basic_config);
        char env[PATH_MAX * 2];
        snprintf(env, sizeof env, "%s:%s", f->dir, a); /* a directory is not a file */
        f->o.env_kubeconfig = env;
        expect_fail(f, "cannot read");
        assert_non_null(strstr(f->e.msg, f->dir));
}

/* ---- contexts ---- */

static void unknown_context(void **state)
{
        struct fx *f = *state;
        f->o.kubeconfig = put(f, "config", basic_config);
        f->o.context = "prod";
        expect_fail(f, "context \"prod\" not found in kubeconfig");
        assert_non_null(strstr(f->e.msg, "\"dev\", \"bare\""));
        assert_non_null(strstr(f->e.msg, f->o.kubeconfig));
}

static void no_current_context(void **state)
{
        struct fx *f = *state;
        f->o.kubeconfig = put(f, "config", strstr(basic_config, "clusters:"));
        expect_fail(f, "current-context is not set");
        assert_non_null(strstr(f->e.msg, "\"dev\""));
}

static void missing_cluster_and_user(void **state)
{
        struct fx *f = *state;
        f->o.kubeconfig = put(f, "config",
                              "current-context: c\n"
                              "contexts:\n"
                              "- name: c\n"
                              "  context: {cluster: ghost, user: u}\n"
                              "- name: d\n"
                              "  context: {cluster: real, user: ghost-user}\n"
                              "clusters:\n"
                              "- name: real\n"
                              "  cluster: {server: https://x}\n");
        expect_fail(f, "cluster \"ghost\" of context \"c\" not found");
        assert_non_null(strstr(f->e.msg, "line 3, column 3"));
        f->o.context = "d";
        expect_fail(f, "user \"ghost-user\" of context \"d\" not found");
}

static void namespace_precedence(void **state)
{
        struct fx *f = *state;
        f->o.kubeconfig = put(f, "config", basic_config);
        /* 1. -n beats the context's namespace */
        f->o.namespace_ = "from-flag";
        assert_int_equal(load(f), 0);
        assert_string_equal(f->r->namespace_, "from-flag");
        /* 2. the context's namespace */
        f->o.namespace_ = NULL;
        assert_int_equal(load(f), 0);
        assert_string_equal(f->r->namespace_, "streams");
        /* 4. "default" when the context has none */
        f->o.context = "bare";
        assert_int_equal(load(f), 0);
        assert_string_equal(f->r->namespace_, "default");
        /* 3. in-cluster: the service account's namespace file */
        f->o.kubeconfig = NULL;
        f->o.context = NULL;
        put(f, "sa/token", TOKEN "\n");
        put(f, "sa/namespace", "jobs-ns\n");
        char sa[128];
        snprintf(sa, sizeof sa, "%s/sa", f->dir);
        f->o.sa_dir = sa;
        f->o.env_service_host = "10.0.0.1";
        f->o.env_service_port = "443";
        assert_int_equal(load(f), 0);
        assert_string_equal(f->r->namespace_, "jobs-ns");
        f->o.namespace_ = "from-flag";
        assert_int_equal(load(f), 0);
        assert_string_equal(f->r->namespace_, "from-flag");
        f->o.namespace_ = NULL;
        char nsfile[PATH_MAX + 16];
        snprintf(nsfile, sizeof nsfile, "%s/namespace", sa);
        unlink(nsfile);
        assert_int_equal(load(f), 0);
        assert_string_equal(f->r->namespace_, "default");
}

/* ---- cluster and user material ---- */

static void relative_paths_against_defining_file(void **state)
{
        struct fx *f = *state;
        put(f, "kc/ca.pem", CA_PEM);
        put(f, "kc/certs/client.pem", CERT_PEM);
        put(f, "kc/certs/client.key", KEY_PEM);
        put(f, "kc/token", "  " TOKEN "\n\n");
        const char *first = put(f, "first/config", "current-context: c\n");
        const char *kc = put(f, "kc/config",
                             "contexts:\n"
                             "- name: c\n"
                             "  context: {cluster: k, user: u}\n"
                             "clusters:\n"
                             "- name: k\n"
                             "  cluster:\n"
                             "    server: https://k\n"
                             "    certificate-authority: ca.pem\n"
                             "users:\n"
                             "- name: u\n"
                             "  user:\n"
                             "    client-certificate: certs/client.pem\n"
                             "    client-key: ./certs/client.key\n"
                             "    tokenFile: token\n");
        char env[3 * PATH_MAX];
        snprintf(env, sizeof env, "%s:%s", first, kc);
        f->o.env_kubeconfig = env;
        assert_int_equal(load(f), 0);
        assert_int_equal(f->r->ca_len, strlen(CA_PEM));
        assert_memory_equal(f->r->ca, CA_PEM, strlen(CA_PEM));
        assert_int_equal(f->r->client_cert_len, strlen(CERT_PEM));
        assert_memory_equal(f->r->client_cert, CERT_PEM, strlen(CERT_PEM));
        assert_int_equal(f->r->client_key_len, strlen(KEY_PEM));
        assert_memory_equal(f->r->client_key, KEY_PEM, strlen(KEY_PEM));
        assert_string_equal(f->r->token, TOKEN); /* trimmed */
        char want[PATH_MAX + 16];
        snprintf(want, sizeof want, "%s/kc/token", f->dir);
        assert_string_equal(f->r->token_file, want);

        /* A rotated token is picked up on reload. */
        put(f, "kc/token", "rotated\n");
        char *t = NULL;
        assert_int_equal(kubeconfig_token_read(f->r->token_file, &t, &f->e), 0);
        assert_string_equal(t, "rotated");
        free(t);
        t = NULL;
        unlink(want);
        assert_int_equal(kubeconfig_token_read(f->r->token_file, &t, &f->e), -1);
        assert_null(t);
        assert_non_null(strstr(f->e.msg, want));
}

static void missing_referenced_file(void **state)
{
        struct fx *f = *state;
        f->o.kubeconfig = put(f, "config",
                              "current-context: c\n"
                              "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
                              "clusters: [{name: k, cluster: {server: https://k}}]\n"
                              "users:\n"
                              "- name: u\n"
                              "  user:\n"
                              "    tokenFile: gone\n");
        expect_fail(f, "tokenFile of user \"u\": cannot read '");
        assert_non_null(strstr(f->e.msg, "line 7"));
}

static void base64_data(void **state)
{
        struct fx *f = *state;
        f->o.kubeconfig = put(f, "config",
                              "current-context: c\n"
                              "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
                              "clusters: [{name: k, cluster: {server: 'https://k'}}]\n"
                              "users:\n"
                              "- name: u\n"
                              "  user:\n"
                              "    client-certificate-data: " CERT_B64 "\n"
                              "    client-key-data: >-\n"
                              "      S0VZLVBFTS1z\n"
                              "      M2NyM3QK\n");
        assert_int_equal(load(f), 0);
        assert_int_equal(f->r->client_cert_len, strlen(CERT_PEM));
        assert_memory_equal(f->r->client_cert, CERT_PEM, strlen(CERT_PEM));
        assert_int_equal(f->r->client_key_len, strlen(KEY_PEM));
        assert_memory_equal(f->r->client_key, KEY_PEM, strlen(KEY_PEM));
        assert_null(f->r->token);
}

static void bad_base64_names_field(void **state)
{
        struct fx *f = *state;
        static const char *const bad[] = {
            "S0VZ!!!!", "S0VZL", "S0V=", "S0VZLV==S0VZ", "S===", "S0VZLVBFTS1zM2NyM3QK="};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                char cfg[1024];
                snprintf(cfg, sizeof cfg,
                         "current-context: c\n"
                         "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
                         "clusters: [{name: k, cluster: {server: https://k}}]\n"
                         "users:\n"
                         "- name: u\n"
                         "  user:\n"
                         "    client-certificate-data: " CERT_B64 "\n"
                         "    client-key-data: \"%s\"\n",
                         bad[i]);
                f->o.kubeconfig = put(f, "config", cfg);
                expect_fail(f, "client-key-data of user \"u\" is not valid base64");
                assert_non_null(strstr(f->e.msg, "line 8, column 22"));
                assert_null(strstr(f->e.msg, bad[i]));
        }
        f->o.kubeconfig = put(f, "config",
                              "current-context: c\n"
                              "contexts: [{name: c, context: {cluster: k}}]\n"
                              "clusters:\n"
                              "- name: k\n"
                              "  cluster:\n"
                              "    server: https://k\n"
                              "    certificate-authority-data: 'LS0t LS0t ?'\n");
        expect_fail(f, "certificate-authority-data of cluster \"k\" is not valid base64");
}

static void cluster_rules(void **state)
{
        struct fx *f = *state;
        const char *head = "current-context: c\n"
                           "contexts: [{name: c, context: {cluster: k}}]\n"
                           "clusters:\n"
                           "- name: k\n"
                           "  cluster:\n";
        char cfg[4096];
        snprintf(cfg, sizeof cfg,
                 "%s    insecure-skip-tls-verify: true\n    server: k.example:443//\n", head);
        f->o.kubeconfig = put(f, "config", cfg);
        assert_int_equal(load(f), 0);
        assert_true(f->r->insecure_skip_tls_verify);
        assert_string_equal(f->r->server, "https://k.example:443");
        assert_null(f->r->user);

        snprintf(cfg, sizeof cfg, "%s    certificate-authority-data: x\n", head);
        f->o.kubeconfig = put(f, "config", cfg);
        expect_fail(f, "cluster \"k\" has no server");

        snprintf(cfg, sizeof cfg,
                 "%s    server: https://k\n    insecure-skip-tls-verify: true\n"
                 "    certificate-authority-data: " CA_B64 "\n",
                 head);
        f->o.kubeconfig = put(f, "config", cfg);
        expect_fail(f, "insecure-skip-tls-verify together with a certificate authority");

        snprintf(cfg, sizeof cfg, "%s    server: https://k\n    insecure-skip-tls-verify: maybe\n",
                 head);
        f->o.kubeconfig = put(f, "config", cfg);
        expect_fail(
            f,
            "line 7, column 31: insecure-skip-tls-verify of cluster \"k\" must be true or false");
}

static void in_cluster(void **state)
{
        struct fx *f = *state;
        put(f, "sa/token", TOKEN "\n");
        put(f, "sa/ca.crt", CA_PEM);
        put(f, "sa/namespace", "batch\n");
        char sa[128];
        snprintf(sa, sizeof sa, "%s/sa", f->dir);
        f->o.sa_dir = sa;
        /* The real variables, as in a pod. */
        setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
        setenv("KUBERNETES_SERVICE_PORT", "443", 1);
        f->o.env_service_host = NULL;
        f->o.env_service_port = NULL;
        int rc = load(f);
        unsetenv("KUBERNETES_SERVICE_HOST");
        unsetenv("KUBERNETES_SERVICE_PORT");
        assert_int_equal(rc, 0);
        assert_true(f->r->in_cluster);
        assert_string_equal(f->r->server, "https://10.96.0.1:443");
        assert_string_equal(f->r->token, TOKEN);
        assert_string_equal(f->r->namespace_, "batch");
        assert_int_equal(f->r->ca_len, strlen(CA_PEM));
        assert_memory_equal(f->r->ca, CA_PEM, strlen(CA_PEM));
        assert_null(f->r->context);
        assert_null(f->r->cluster);
        assert_null(f->r->user);
        char tf[PATH_MAX + 16];
        snprintf(tf, sizeof tf, "%s/token", sa);
        assert_string_equal(f->r->token_file, tf);

        /* IPv6 service host goes in brackets. */
        f->o.env_service_host = "fd00:10:96::1";
        f->o.env_service_port = "6443";
        assert_int_equal(load(f), 0);
        assert_string_equal(f->r->server, "https://[fd00:10:96::1]:6443");

        /* An empty kubeconfig does not stop the in-cluster fallback ... */
        put(f, "nohome/.kube/config", "# nothing yet\n");
        assert_int_equal(load(f), 0);
        assert_true(f->r->in_cluster);
        /* ... unless a --context asks for one from it. */
        f->o.context = "dev";
        expect_fail(f, "context \"dev\" not found");
        f->o.context = NULL;

        /* A kubeconfig wins over in-cluster. */
        put(f, "nohome/.kube/config", basic_config);
        assert_int_equal(load(f), 0);
        assert_false(f->r->in_cluster);
        assert_string_equal(f->r->server, "https://dev.example:6443");

        /* No token file: a clear error naming it. */
        snprintf(sa, sizeof sa, "%s/empty-sa", f->dir);
        f->o.home = f->nosa;
        expect_fail(f, "cannot read service-account token '");
        assert_non_null(strstr(f->e.msg, "empty-sa/token"));
}

/* ---- exec plugins ---- */

static void exec_cfg(struct fx *f, const char *command, const char *extra)
{
        char cfg[4096];
        snprintf(cfg, sizeof cfg,
                 "current-context: c\n"
                 "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
                 "clusters:\n"
                 "- name: k\n"
                 "  cluster:\n"
                 "    server: https://k.example\n"
                 "    certificate-authority-data: " CA_B64 "\n"
                 "users:\n"
                 "- name: u\n"
                 "  user:\n"
                 "    exec:\n"
                 "      apiVersion: client.authentication.k8s.io/v1\n"
                 "      interactiveMode: Never\n"
                 "      command: %s\n"
                 "%s",
                 command, extra);
        f->o.kubeconfig = put(f, "config", cfg);
}

static void exec_token(void **state)
{
        struct fx *f = *state;
        /* The token is built from an arg and an env var, and the plugin checks it
         * got the ExecCredential with cluster info, so all three are proven. */
        put_exec(f, "bin/plugin",
                 "#!/bin/sh\n"
                 "case \"$KUBERNETES_EXEC_INFO\" in\n"
                 "*'\"kind\":\"ExecCredential\"'*'\"server\":\"https://k.example\"'*"
                 "'\"interactive\":false'*) ;;\n"
                 "*) echo \"bad exec info: $KUBERNETES_EXEC_INFO\" >&2; exit 3;;\n"
                 "esac\n"
                 "[ \"$2\" = 'two words' ] || exit 4\n"
                 "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",'\n"
                 "printf '\"kind\":\"ExecCredential\",\"status\":{\"token\":\"%s-%s\","
                 "\"expirationTimestamp\":\"2030-01-01T00:00:00Z\"}}\\n' \"$1\" \"$PART\"\n");
        exec_cfg(f, "bin/plugin", /* relative: resolved against the kubeconfig's dir */
                 "      args: [tok, two words]\n"
                 "      provideClusterInfo: true\n"
                 "      env:\n"
                 "      - {name: PART, value: SECRET}\n");
        assert_int_equal(load(f), 0);
        assert_string_equal(f->r->token, "tok-SECRET");
        assert_string_equal(f->r->user, "u");
}

static void exec_cluster_info_only_when_asked(void **state)
{
        struct fx *f = *state;
        put_exec(f, "p",
                 "#!/bin/sh\n"
                 "case \"$KUBERNETES_EXEC_INFO\" in *'\"cluster\"'*) exit 5;; esac\n"
                 "echo '{\"apiVersion\": \"client.authentication.k8s.io/v1beta1\",\n"
                 "\t\"kind\": \"ExecCredential\", \"status\": {\"token\": \"t1\"}}'\n");
        char cmd[PATH_MAX + 8];
        snprintf(cmd, sizeof cmd, "%s/p", f->dir);
        char cfg[8192];
        snprintf(
            cfg, sizeof cfg,
            "current-context: c\n"
            "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
            "clusters: [{name: k, cluster: {server: https://k}}]\n"
            "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, "
            "command: %s}}}]\n",
            cmd);
        f->o.kubeconfig = put(f, "config", cfg);
        assert_int_equal(load(f), 0);
        assert_string_equal(f->r->token, "t1");
}

static void exec_client_cert(void **state)
{
        struct fx *f = *state;
        put_exec(f, "p",
                 "#!/bin/sh\n"
                 "cat <<'EOF'\n"
                 "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
                 "\"status\":{\"clientCertificateData\":\"-----BEGIN CERTIFICATE-----\\nC\\n\","
                 "\"clientKeyData\":\"-----BEGIN KEY-----\\nK\\n\"}}\n"
                 "EOF\n");
        exec_cfg(f, "./p", "");
        assert_int_equal(load(f), 0);
        assert_null(f->r->token);
        assert_string_equal((char *)f->r->client_cert, "-----BEGIN CERTIFICATE-----\nC\n");
        assert_int_equal(f->r->client_cert_len, strlen("-----BEGIN CERTIFICATE-----\nC\n"));
        assert_string_equal((char *)f->r->client_key, "-----BEGIN KEY-----\nK\n");
}

static void exec_fails(void **state)
{
        struct fx *f = *state;
        /* Prints a credential-looking line, then fails: the message names the
         * command and its status, never its output. */
        put_exec(f, "fail", "#!/bin/sh\necho '" TOKEN "'\nexit 1\n");
        exec_cfg(f, "./fail", "");
        expect_fail(f, "exec plugin './fail' for user \"u\"");
        assert_non_null(strstr(f->e.msg, "exited with status 1"));
        no_secret(f);

        put_exec(f, "garbage", "#!/bin/sh\necho 'this is {not: [json " TOKEN "'\n");
        exec_cfg(f, "./garbage", "");
        expect_fail(f, "exec plugin './garbage'");
        no_secret(f);

        put_exec(f, "nostatus",
                 "#!/bin/sh\necho '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
                 "\"kind\":\"ExecCredential\",\"spec\":{}}'\n");
        exec_cfg(f, "./nostatus", "");
        expect_fail(f, "no status");

        put_exec(f, "wrongapi",
                 "#!/bin/sh\necho '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\","
                 "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"x\"}}'\n");
        exec_cfg(f, "./wrongapi", "");
        expect_fail(f, "apiVersion must be client.authentication.k8s.io/v1");

        put_exec(f, "list", "#!/bin/sh\necho '[1, 2, 3]'\n");
        exec_cfg(f, "./list", "");
        expect_fail(f, "expected a map at the top level, got a list");

        put_exec(f, "empty", "#!/bin/sh\nexit 0\n");
        exec_cfg(f, "./empty", "");
        expect_fail(f, "empty");

        put_exec(f, "killed", "#!/bin/sh\nkill -9 $$\n");
        exec_cfg(f, "./killed", "");
        expect_fail(f, "killed by signal 9");
}

static void exec_not_found_shows_hint(void **state)
{
        struct fx *f = *state;
        exec_cfg(f, "relrun-test-no-such-plugin",
                 "      installHint: install it with 'apt install the-plugin'\n");
        expect_fail(f, "exec plugin 'relrun-test-no-such-plugin'");
        assert_non_null(strstr(f->e.msg, "No such file or directory"));
        assert_non_null(strstr(f->e.msg, "install it with 'apt install the-plugin'"));
}

static void exec_timeout_and_cap(void **state)
{
        struct fx *f = *state;
        put_exec(f, "slow", "#!/bin/sh\nexec sleep 10\n");
        exec_cfg(f, "./slow", "");
        f->o.exec_timeout_ms = 300;
        expect_fail(f, "no answer within 300 ms");

        /* 2 MiB of output is cut at 1 MiB and the plugin killed. */
        put_exec(f, "big", "#!/bin/sh\nexec head -c 2097152 /dev/zero\n");
        exec_cfg(f, "./big", "");
        f->o.exec_timeout_ms = 0;
        expect_fail(f, "printed more than 1 MiB");
}

/* True once pid has exited (gone, or a zombie nobody reaped yet). */
static bool process_gone(pid_t pid)
{
        char path[64], stat[512];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        FILE *fp = fopen(path, "r");
        if (!fp)
                return true;
        size_t n = fread(stat, 1, sizeof stat - 1, fp);
        fclose(fp);
        stat[n] = '\0';
        const char *rp = strrchr(stat, ')');
        return !rp || rp[1] != ' ' || rp[2] == 'Z' || rp[2] == 'X';
}

/* A hung plugin is killed with what it started: a helper it left running
 * (holding our pipe or not) must not outlive relrun. */
static void exec_timeout_kills_the_plugins_children(void **state)
{
        struct fx *f = *state;
        put_exec(f, "hang",
                 "#!/bin/sh\nsleep 30 &\necho $! > \"$(dirname \"$0\")/child.pid\"\nwait\n");
        exec_cfg(f, "./hang", "");
        f->o.exec_timeout_ms = 1000;
        expect_fail(f, "no answer within 1000 ms, killed");
        char pidpath[PATH_MAX];
        snprintf(pidpath, sizeof pidpath, "%s/child.pid", f->dir);
        FILE *fp = fopen(pidpath, "r");
        if (!fp)
                fail_msg("the plugin did not start its child within 1 s");
        int pid = 0;
        assert_int_equal(fscanf(fp, "%d", &pid), 1);
        fclose(fp);
        assert_true(pid > 1);
        /* SIGKILL is delivered asynchronously: give it a moment, not a verdict. */
        for (int i = 0; i < 200 && !process_gone(pid); i++)
                usleep(10000);
        if (!process_gone(pid)) {
                kill(pid, SIGKILL);
                fail_msg("the plugin's child %d still runs after the plugin was killed", pid);
        }
}

static void exec_config_errors(void **state)
{
        struct fx *f = *state;
        char cfg[2048];
        const char *head = "current-context: c\n"
                           "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
                           "clusters: [{name: k, cluster: {server: https://k}}]\n"
                           "users:\n"
                           "- name: u\n"
                           "  user:\n";
        snprintf(cfg, sizeof cfg,
                 "%s    exec: {apiVersion: client.authentication.k8s.io/v1alpha1, command: x}\n",
                 head);
        f->o.kubeconfig = put(f, "config", cfg);
        expect_fail(f, "needs apiVersion client.authentication.k8s.io/v1");

        snprintf(cfg, sizeof cfg,
                 "%s    exec: {apiVersion: client.authentication.k8s.io/v1, command: x}\n", head);
        f->o.kubeconfig = put(f, "config", cfg);
        expect_fail(f, "interactiveMode must be specified");

        snprintf(cfg, sizeof cfg,
                 "%s    exec: {apiVersion: client.authentication.k8s.io/v1, command: x, "
                 "interactiveMode: Never, args: {a: b}}\n",
                 head);
        f->o.kubeconfig = put(f, "config", cfg);
        expect_fail(f, "args of the exec plugin must be a list, got a map");

        snprintf(cfg, sizeof cfg,
                 "%s    auth-provider:\n      name: gcp\n      config: {access-token: " TOKEN "}\n",
                 head);
        f->o.kubeconfig = put(f, "config", cfg);
        expect_fail(f, "auth-provider \"gcp\", which is not supported, use an exec plugin");
        no_secret(f);
}

/* ---- errors: positions, types, secrets ---- */

static void yaml_errors_have_position(void **state)
{
        struct fx *f = *state;
        f->o.kubeconfig = put(f, "config",
                              "current-context: c\n"
                              "users:\n"
                              "- name: u\n"
                              "  user:\n"
                              "    token: " TOKEN "\n"
                              "   password: [unclosed\n");
        assert_int_equal(load(f), -1);
        assert_int_equal(f->e.code, ERR_CONFIG);
        char want[PATH_MAX + 32];
        snprintf(want, sizeof want, "kubeconfig '%s': line 6, column ", f->o.kubeconfig);
        if (!strstr(f->e.msg, want))
                fail_msg("'%s' lacks '%s'", f->e.msg, want);
        no_secret(f);
}

static void wrong_types(void **state)
{
        struct fx *f = *state;
        f->o.kubeconfig = put(f, "config", "clusters:\n  a: b\n");
        expect_fail(f, "line 2, column 3: clusters of the kubeconfig must be a list, got a map");
        f->o.kubeconfig = put(f, "config", "- just\n- a list\n");
        expect_fail(f, "line 1, column 1: expected a map at the top level, got a list");
        f->o.kubeconfig = put(f, "config", "contexts:\n- name: c\n  context: [a]\n");
        expect_fail(f, "context of context \"c\" must be a map, got a list");
        f->o.kubeconfig = put(f, "config", "users:\n- user: {}\n");
        expect_fail(f, "line 2, column 3: an entry of users has no name");
        f->o.kubeconfig = put(f, "config", "users:\n- name: u\n- name: u\n");
        expect_fail(f, "line 3, column 3: duplicate user name \"u\"");
        f->o.kubeconfig = put(f, "config", "current-context: [x]\n");
        expect_fail(f, "current-context of the kubeconfig must be a string, got a list");
        f->o.kubeconfig = put(f, "config",
                              "current-context: c\n"
                              "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
                              "clusters: [{name: k, cluster: {server: https://k}}]\n"
                              "users: [{name: u, user: {token: {" TOKEN ": 1}}}]\n");
        expect_fail(f, "token of user \"u\" must be a string, got a map");
        no_secret(f);
}

static void errors_never_show_secrets(void **state)
{
        struct fx *f = *state;
        f->o.kubeconfig = put(f, "config",
                              "current-context: c\n"
                              "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
                              "clusters: [{name: k, cluster: {server: https://k}}]\n"
                              "users:\n"
                              "- name: u\n"
                              "  user:\n"
                              "    token: " TOKEN "\n"
                              "    username: admin\n"
                              "    password: " PASSWORD "\n");
        expect_fail(f, "more than one authentication method");
        no_secret(f);
        f->o.kubeconfig = put(f, "config",
                              "current-context: c\n"
                              "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
                              "clusters: [{name: k, cluster: {server: https://k}}]\n"
                              "users:\n"
                              "- name: u\n"
                              "  user:\n"
                              "    client-key-data: " KEY_B64 "\n");
        expect_fail(f, "has a client key but no client certificate");
        no_secret(f);
        /* Basic auth alone loads. */
        f->o.kubeconfig =
            put(f, "config",
                "current-context: c\n"
                "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
                "clusters: [{name: k, cluster: {server: https://k}}]\n"
                "users: [{name: u, user: {username: admin, password: " PASSWORD "}}]\n");
        assert_int_equal(load(f), 0);
        assert_string_equal(f->r->username, "admin");
        assert_string_equal(f->r->password, PASSWORD);
}

/* Truncated and garbled copies of a valid kubeconfig: every load returns 0
 * or a clean ERR_CONFIG with a message (the sanitizer build checks memory). */
static void fuzz_garbled(void **state)
{
        struct fx *f = *state;
        put(f, "ca.pem", CA_PEM);
        const char *valid =
            "apiVersion: v1\n"
            "current-context: dev\n"
            "clusters:\n"
            "- name: dev-cluster\n"
            "  cluster:\n"
            "    server: https://dev.example:6443/\n"
            "    certificate-authority: ca.pem\n"
            "- name: other\n"
            "  cluster: {server: \"https://o\", certificate-authority-data: " CA_B64 "}\n"
            "contexts:\n"
            "- name: dev\n"
            "  context: &ctx\n"
            "    cluster: dev-cluster\n"
            "    user: dev-user\n"
            "    namespace: streams\n"
            "- {name: alias, context: *ctx}\n"
            "users:\n"
            "- name: dev-user\n"
            "  user:\n"
            "    token: " TOKEN "\n"
            "    client-certificate-data: " CERT_B64 "\n"
            "    client-key-data: " KEY_B64 "\n";
        size_t n = strlen(valid);
        char path[PATH_MAX + 16];
        snprintf(path, sizeof path, "%s/fuzz", f->dir);
        f->o.kubeconfig = path;
        char *copy = malloc(n + 1);
        uint32_t seed = 12345;
        int ok = 0, failed = 0;
        for (size_t iter = 0; iter < n + 3000; iter++) {
                size_t len = n;
                memcpy(copy, valid, n);
                if (iter < n) {
                        len = iter; /* every truncation */
                } else {
                        int flips = 1 + (int)(iter % 4);
                        for (int k = 0; k < flips; k++) {
                                seed = seed * 1103515245u + 12345u;
                                size_t pos = (seed >> 8) % n;
                                seed = seed * 1103515245u + 12345u;
                                static const char chars[] = ":-[]{}&*!|>'\"#\n\t =,?%@`\\\x01\xff";
                                copy[pos] = (seed >> 16) & 1
                                                ? chars[(seed >> 8) % (sizeof chars - 1)]
                                                : (char)(seed >> 8);
                        }
                }
                FILE *fp = fopen(path, "w");
                assert_non_null(fp);
                fwrite(copy, 1, len, fp);
                fclose(fp);
                int rc = load(f);
                if (rc == 0) {
                        assert_non_null(f->r);
                        assert_non_null(f->r->server);
                        assert_non_null(f->r->namespace_);
                        ok++;
                } else {
                        assert_int_equal(rc, -1);
                        assert_null(f->r);
                        assert_int_equal(f->e.code, ERR_CONFIG);
                        assert_true(strlen(f->e.msg) > 0);
                        assert_non_null(strstr(f->e.msg, "kubeconfig '"));
                        failed++;
                }
        }
        free(copy);
        /* Both outcomes are exercised, so the loop tests something. */
        assert_true(ok > 10);
        assert_true(failed > 100);
        /* The intact file loads with the alias context sharing the anchor. */
        f->o.context = "alias";
        put(f, "fuzz", valid);
        assert_int_equal(load(f), 0);
        assert_string_equal(f->r->namespace_, "streams");
        assert_int_equal(f->r->ca_len, strlen(CA_PEM));
}

static void free_null(void **state)
{
        (void)state;
        kubeconfig_rest_free(NULL);
        struct err e;
        char *t = NULL;
        assert_int_equal(kubeconfig_token_read(NULL, &t, &e), -1);
        assert_int_equal(e.code, ERR_CONFIG);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        const struct CMUnitTest tests[] = {
            T(single_file),
            T(home_config_used_when_no_env),
            T(kubeconfig_flag_beats_env),
            T(merge_first_wins),
            T(context_names),
            T(merge_current_context_from_first_that_sets_it),
            T(yaml_merge_keys),
            T(many_entries_load_fast),
            T(kubeconfig_flag_missing_file),
            T(env_only_missing_files),
            T(nothing_at_all),
            T(unreadable_file_in_list),
            T(unknown_context),
            T(no_current_context),
            T(missing_cluster_and_user),
            T(namespace_precedence),
            T(relative_paths_against_defining_file),
            T(missing_referenced_file),
            T(base64_data),
            T(bad_base64_names_field),
            T(cluster_rules),
            T(in_cluster),
            T(exec_token),
            T(exec_cluster_info_only_when_asked),
            T(exec_client_cert),
            T(exec_fails),
            T(exec_not_found_shows_hint),
            T(exec_timeout_and_cap),
            T(exec_timeout_kills_the_plugins_children),
            T(exec_config_errors),
            T(yaml_errors_have_position),
            T(wrong_types),
            T(errors_never_show_secrets),
            T(fuzz_garbled),
            T(free_null),
            T(token_control_characters_refused),
            T(deep_nesting_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
