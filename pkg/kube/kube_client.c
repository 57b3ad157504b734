/* kube: the client, its transfers and plain requests. */
#include "kube_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

static void *memdup(const void *p, size_t n)
{
        if (!p || !n)
                return NULL;
        void *q = malloc(n);
        if (q)
                memcpy(q, p, n);
        return q;
}

static char *xstrdup(const char *s)
{
        return s ? strdup(s) : NULL;
}

/* Split scheme://host[:port][/prefix]. host keeps IPv6 brackets. */
static int split_server(const char *server, char *scheme, size_t ssz, char *host, size_t hsz,
                        long *port, const char **prefix)
{
        const char *p = strstr(server, "://");
        if (!p || (size_t)(p - server) >= ssz)
                return -1;
        memcpy(scheme, server, (size_t)(p - server));
        scheme[p - server] = '\0';
        for (char *s = scheme; *s; s++)
                *s = (char)tolower((unsigned char)*s);
        p += 3;
        const char *hend;
        if (*p == '[') {
                hend = strchr(p, ']');
                if (!hend)
                        return -1;
                hend++;
        } else {
                hend = p + strcspn(p, ":/");
        }
        if (hend == p || (size_t)(hend - p) >= hsz)
                return -1;
        memcpy(host, p, (size_t)(hend - p));
        host[hend - p] = '\0';
        *port = !strcmp(scheme, "https") ? 443 : 80;
        p = hend;
        if (*p == ':') {
                char *end;
                *port = strtol(p + 1, &end, 10);
                if (end == p + 1 || *port <= 0 || *port > 65535)
                        return -1;
                p = end;
        }
        *prefix = p;
        return 0;
}

/* Each client its own jitter: CI runners started together must not retry
 * in step, as they would with rand()'s one fixed seed. */
static void seed_jitter(struct kube_client *c)
{
        uint64_t s = 0;
        if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s)
                s = (uint64_t)proc_wall_ms() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)c;
        c->rng = s ? s : 0x9e3779b97f4a7c15ULL;
}

/* xorshift64*: plenty for spreading retries. */
static uint64_t next_random(struct kube_client *c)
{
        c->rng ^= c->rng >> 12;
        c->rng ^= c->rng << 25;
        c->rng ^= c->rng >> 27;
        return c->rng * 0x2545f4914f6cdd1dULL;
}

void kube_server_redact(const char *server, char *out, size_t n)
{
        /* The "user:password@" of the authority becomes "***@". */
        const char *p = strstr(server, "://");
        const char *auth = p ? p + 3 : server;
        const char *at = auth + strcspn(auth, "/?#");
        const char *u = memchr(auth, '@', (size_t)(at - auth));
        if (!u) {
                snprintf(out, n, "%s", server);
                return;
        }
        const char *last = u;
        while ((u = memchr(u + 1, '@', (size_t)(at - u - 1))))
                last = u;
        snprintf(out, n, "%.*s***%s", (int)(auth - server), server, last);
}

int kube_client_new(const struct kubeconfig_rest *rest, const struct kube_client_opts *opts,
                    struct kube_client **out, struct err *e)
{
        if (!rest || !rest->server || !rest->server[0])
                return err_set(e, ERR_CONFIG, "no API server in the configuration");
        char scheme[16], host[256];
        long port;
        const char *prefix;
        char shown[512];
        kube_server_redact(rest->server, shown, sizeof shown);
        if (strcmp(shown, rest->server))
                return err_set(e, ERR_CONFIG,
                               "server '%s': credentials in the URL are not supported (and never "
                               "sent or printed); put them in the kubeconfig's user entry",
                               shown);
        if (split_server(rest->server, scheme, sizeof scheme, host, sizeof host, &port, &prefix) <
                0 ||
            (strcmp(scheme, "https") && strcmp(scheme, "http")))
                return err_set(e, ERR_CONFIG, "server '%s': not an http(s) URL", rest->server);
        bool plain = !strcmp(scheme, "http");
        if (plain && ((rest->token && rest->token[0]) || rest->token_file || rest->password))
                return err_set(e, ERR_CONFIG,
                               "server '%s' is plain http: refusing to send credentials "
                               "(bearer token or password) without TLS; use an https server",
                               rest->server);

        if (kubeconfig_token_check(rest->token, "the configuration", e) < 0)
                return -1;
        struct kube_client *c = calloc(1, sizeof *c);
        if (!c)
                return err_set(e, ERR_SOFTWARE, "out of memory");
        if (opts)
                c->opts = *opts;
        if (c->opts.request_timeout_ms <= 0)
                c->opts.request_timeout_ms = 30000;
        if (c->opts.max_attempts <= 0)
                c->opts.max_attempts = 6;
        if (c->opts.retry_budget_ms <= 0)
                c->opts.retry_budget_ms = 60000;
        if (c->opts.backoff_base_ms <= 0)
                c->opts.backoff_base_ms = 200;
        if (c->opts.stream_window_ms <= 0)
                c->opts.stream_window_ms = KUBE_STREAM_WINDOW_MS;
        snprintf(c->ua, sizeof c->ua, "relrun/%s", RELRUN_VERSION);
        seed_jitter(c);

        struct buf b;
        buf_init(&b, 4096);
        int brc;
        if (!plain && rest->tls_server_name && rest->tls_server_name[0]) {
                /* libcurl has no separate SNI name: address the server by the
                 * TLS name (SNI and certificate check use it) and connect to
                 * the real host. */
                brc = buf_printf(&b, "%s://%s:%ld%s", scheme, rest->tls_server_name, port, prefix);
                char ct[600];
                snprintf(ct, sizeof ct, "%s:%ld:%s:%ld", rest->tls_server_name, port, host, port);
                c->connect_to = curl_slist_append(NULL, ct);
        } else {
                brc = buf_puts(&b, rest->server);
        }
        if (brc < 0) {
                buf_fini(&b);
                kube_client_free(c);
                return err_set(e, ERR_CONFIG, "server '%.200s...': longer than %zu bytes",
                               rest->server, b.max);
        }
        while (b.len && b.data[b.len - 1] == '/')
                b.data[--b.len] = '\0';
        c->base = buf_detach(&b);
        c->server = strdup(rest->server);

        /* Loopback never goes through a proxy (Go's net/http agrees). */
        const char *np = getenv("NO_PROXY");
        if (!np || !*np)
                np = getenv("no_proxy");
        snprintf(c->noproxy, sizeof c->noproxy, "%s%slocalhost,127.0.0.1,::1", np ? np : "",
                 np && *np ? "," : "");

        c->ca = memdup(rest->ca, rest->ca_len);
        c->ca_len = c->ca ? rest->ca_len : 0;
        c->cert = memdup(rest->client_cert, rest->client_cert_len);
        c->cert_len = c->cert ? rest->client_cert_len : 0;
        c->key = memdup(rest->client_key, rest->client_key_len);
        c->key_len = c->key ? rest->client_key_len : 0;
        c->insecure = rest->insecure_skip_tls_verify;
        c->token = xstrdup(rest->token);
        c->token_file = xstrdup(rest->token_file);
        c->username = xstrdup(rest->username);
        c->password = xstrdup(rest->password);
        c->m = curl_multi_init();
        if (!c->base || !c->server || !c->m ||
            (rest->tls_server_name && !plain && !c->connect_to)) {
                kube_client_free(c);
                return err_set(e, ERR_SOFTWARE, "cannot set up libcurl");
        }
        *out = c;
        return 0;
}

static void wipe_free(char *s)
{
        if (!s)
                return;
        volatile char *p = s;
        while (*p)
                *p++ = 0;
        free(s);
}

void kube_client_free(struct kube_client *c)
{
        if (!c)
                return;
        while (c->xfers)
                kube_xfer_free(c->xfers);
        while (c->streams) {
                struct kube_stream_reg *r = c->streams;
                c->streams = r->next;
                free(r);
        }
        if (c->m)
                curl_multi_cleanup(c->m);
        curl_slist_free_all(c->connect_to);
        free(c->base);
        free(c->server);
        free(c->ca);
        free(c->cert);
        if (c->key)
                memset(c->key, 0, c->key_len);
        free(c->key);
        wipe_free(c->token);
        free(c->token_file);
        free(c->username);
        wipe_free(c->password);
        free(c);
}

/* After a 401 a projected token may have been rotated: the file again, read
 * as kubeconfig reads it; NULL when it is empty or unreadable. */
static char *reread_token_file(const char *path)
{
        char *t = NULL;
        struct err e;
        if (kubeconfig_token_read(path, &t, &e) < 0)
                return NULL;
        if (!*t) {
                free(t);
                return NULL;
        }
        return t;
}

void kube_client_set_refresh(struct kube_client *c, kube_refresh_fn fn, void *ud)
{
        c->refresh = fn;
        c->refresh_ud = ud;
}

bool kube_refresh_auth(struct kube_client *c)
{
        int64_t now = proc_mono_ms();
        if (c->refreshed_ms && now - c->refreshed_ms < 5000)
                return false;
        c->refreshed_ms = now;
        char *t = c->token_file ? reread_token_file(c->token_file) : NULL;
        if ((!t || (c->token && !strcmp(t, c->token))) && c->refresh) {
                wipe_free(t);
                t = NULL;
                if (c->refresh(c->refresh_ud, &t) < 0)
                        t = NULL;
        }
        /* A re-read or refreshed token with CR/LF would inject headers. */
        if (!t || (c->token && !strcmp(t, c->token)) ||
            kubeconfig_token_check(t, "a refresh", NULL) < 0) {
                wipe_free(t);
                return false;
        }
        wipe_free(c->token);
        c->token = t;
        return true;
}

/* ---- transfers -------------------------------------------------------- */

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
        struct kube_xfer *x = ud;
        size_t len = size * n;
        /* A new status line starts a new response (after a 100 or redirect). */
        if (len > 5 && !strncmp(p, "HTTP/", 5))
                x->retry_after_ms = -1;
        if (len > 12 && !strncasecmp(p, "Retry-After:", 12)) {
                char v[80];
                size_t vl = len - 12 < sizeof v - 1 ? len - 12 : sizeof v - 1;
                memcpy(v, p + 12, vl);
                v[vl] = '\0';
                long ms;
                if (kube_retry_after_parse(v, time(NULL), &ms) == 0)
                        x->retry_after_ms = ms;
        }
        return len;
}

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
        struct kube_xfer *x = ud;
        size_t len = size * n;
        long code = 0;
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
        if (x->stream && code / 100 == 2) {
                if (kube_lines_feed(&x->lines, p, len) == 0)
                        return len;
                if (kube_lines_has_line(&x->lines)) {
                        /* Back-pressure: deliver what is complete, then go on. */
                        x->paused = true;
                        return CURL_WRITEFUNC_PAUSE;
                }
                x->toolong = true;
                return 0;
        }
        /* A body past the cap is cut, not an error: the status decides. */
        if (buf_append(&x->resp, p, len) < 0 && !x->stream)
                x->toolong = true;
        return len;
}

void kube_err_gave_up(struct err *e, int attempts)
{
        char tail[64];
        snprintf(tail, sizeof tail, " (gave up after %d attempt%s)", attempts,
                 attempts == 1 ? "" : "s");
        size_t ml = strlen(e->msg);
        if (ml + strlen(tail) < sizeof e->msg)
                memcpy(e->msg + ml, tail, strlen(tail) + 1);
}

bool kube_stream_window_over(const struct kube_client *c, int64_t since_ms)
{
        return since_ms && proc_mono_ms() - since_ms >= c->opts.stream_window_ms;
}

long kube_backoff_ms(struct kube_client *c, int attempt)
{
        long d = c->opts.backoff_base_ms;
        for (int i = 0; i < attempt && d < 5000; i++)
                d *= 2;
        if (d > 5000)
                d = 5000;
        /* Full jitter on the upper half keeps clients from marching in step. */
        return d / 2 + (long)(next_random(c) % (uint64_t)(d / 2 + 1));
}

struct kube_xfer *kube_xfer_start(struct kube_client *c, const char *method, const char *path,
                                  const char *body, bool stream, kube_xfer_done_fn on_done,
                                  void *owner, struct err *e)
{
        struct kube_xfer *x = calloc(1, sizeof *x);
        if (!x) {
                err_set(e, ERR_SOFTWARE, "out of memory");
                return NULL;
        }
        x->c = c;
        x->stream = stream;
        x->on_done = on_done;
        x->owner = owner;
        x->retry_after_ms = -1;
        buf_init(&x->resp, stream ? 1u << 20 : KUBE_BODY_MAX);
        kube_lines_init(&x->lines, KUBE_STREAM_MAX);
        x->h = curl_easy_init();
        struct buf url;
        buf_init(&url, 1u << 16);
        if (!x->h || buf_printf(&url, "%s%s", c->base, path) < 0) {
                buf_fini(&url);
                kube_xfer_free(x);
                err_set(e, ERR_SOFTWARE, "cannot set up a request for '%s'", path);
                return NULL;
        }
        CURL *h = x->h;
        curl_easy_setopt(h, CURLOPT_URL, buf_str(&url));
        buf_fini(&url);
        curl_easy_setopt(h, CURLOPT_PRIVATE, x);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf);
        curl_easy_setopt(h, CURLOPT_USERAGENT, c->ua);
        curl_easy_setopt(h, CURLOPT_NOPROXY, c->noproxy);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        long total = c->attempt_ms > 0 ? c->attempt_ms : c->opts.request_timeout_ms;
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, !stream && total < 10000 ? total : 10000L);
        curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
        /* An API server that vanishes without a FIN (a failover, a dead
         * load balancer) leaves a watch silent: probes find it in about a
         * minute, not the kernel's two hours, and the stream resumes. */
        curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 15L);
        curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 5L);
        curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
        if (!stream)
                curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, total);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
        if (stream) /* a busy log comes in a few large reads, not many 16 KiB ones */
                curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L << 10);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
        if (c->opts.verbose)
                curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
        if (c->connect_to)
                curl_easy_setopt(h, CURLOPT_CONNECT_TO, c->connect_to);
        if (c->ca) {
                struct curl_blob blob = {c->ca, c->ca_len, CURL_BLOB_COPY};
                curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
        }
        if (c->cert) {
                struct curl_blob blob = {c->cert, c->cert_len, CURL_BLOB_COPY};
                curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &blob);
                curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
        }
        if (c->key) {
                struct curl_blob blob = {c->key, c->key_len, CURL_BLOB_COPY};
                curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &blob);
                curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
        }
        if (c->insecure) {
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
                curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
        }
        if (c->username && c->password) {
                curl_easy_setopt(h, CURLOPT_USERNAME, c->username);
                curl_easy_setopt(h, CURLOPT_PASSWORD, c->password);
        }
        x->hdrs = curl_slist_append(x->hdrs, "Accept: application/json");
        if (c->token && c->token[0]) {
                struct buf a;
                buf_init(&a, 32768);
                if (buf_printf(&a, "Authorization: Bearer %s", c->token) == 0)
                        x->hdrs = curl_slist_append(x->hdrs, buf_str(&a));
                memset(a.data, 0, a.alloc);
                buf_fini(&a);
        }
        if (!strcmp(method, "GET")) {
                curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        } else {
                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        }
        if (body) {
                x->body_out = strdup(body);
                x->hdrs = curl_slist_append(
                    x->hdrs, !strcmp(method, "PATCH") ? "Content-Type: application/merge-patch+json"
                                                      : "Content-Type: application/json");
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, x->body_out);
                curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        }
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, x->hdrs);
        if (curl_multi_add_handle(c->m, h) != CURLM_OK) {
                kube_xfer_free(x);
                err_set(e, ERR_SOFTWARE, "cannot start a request for '%s'", path);
                return NULL;
        }
        x->next = c->xfers;
        c->xfers = x;
        return x;
}

void kube_xfer_free(struct kube_xfer *x)
{
        if (!x)
                return;
        struct kube_client *c = x->c;
        for (struct kube_xfer **pp = &c->xfers; *pp; pp = &(*pp)->next) {
                if (*pp == x) {
                        *pp = x->next;
                        break;
                }
        }
        if (x->h) {
                curl_multi_remove_handle(c->m, x->h);
                curl_easy_cleanup(x->h);
        }
        if (x->hdrs) {
                /* The Authorization header lives here. */
                for (struct curl_slist *s = x->hdrs; s; s = s->next)
                        memset(s->data, 0, strlen(s->data));
                curl_slist_free_all(x->hdrs);
        }
        free(x->body_out);
        buf_fini(&x->resp);
        kube_lines_fini(&x->lines);
        free(x);
}

bool kube_xfer_retryable(const struct kube_xfer *x)
{
        if (x->result != CURLE_OK) {
                switch (x->result) {
                case CURLE_UNSUPPORTED_PROTOCOL:
                case CURLE_URL_MALFORMAT:
                case CURLE_PEER_FAILED_VERIFICATION:
                case CURLE_SSL_CACERT_BADFILE:
                case CURLE_SSL_CERTPROBLEM:
                case CURLE_SSL_CIPHER:
                case CURLE_SSL_ISSUER_ERROR:
                case CURLE_SSL_CRL_BADFILE:
                case CURLE_WRITE_ERROR:
                case CURLE_OUT_OF_MEMORY: return false;
                default: return true;
                }
        }
        return x->http == 429 || x->http >= 500 || x->http == 0;
}

int kube_xfer_err(const struct kube_xfer *x, const char *what, struct err *e)
{
        if (x->result != CURLE_OK) {
                const char *detail = x->errbuf[0] ? x->errbuf : curl_easy_strerror(x->result);
                int code = ERR_UNAVAILABLE;
                switch (x->result) {
                case CURLE_PEER_FAILED_VERIFICATION:
                case CURLE_SSL_CACERT_BADFILE:
                case CURLE_SSL_CERTPROBLEM:
                case CURLE_SSL_ISSUER_ERROR:
                case CURLE_UNSUPPORTED_PROTOCOL:
                case CURLE_URL_MALFORMAT: code = ERR_CONFIG; break;
                case CURLE_WRITE_ERROR:
                        if (x->toolong)
                                detail = "response line larger than 16 MiB";
                        break;
                default: break;
                }
                return err_set(e, code, "%s: %s: %s", what, x->c->server, detail);
        }
        return kube_status_err(x->http, buf_str(&x->resp), x->resp.len, what, e);
}

/* ---- the loop --------------------------------------------------------- */

void kube_stream_register(struct kube_client *c, const struct kube_stream_ops *ops, void *self)
{
        struct kube_stream_reg *r = calloc(1, sizeof *r);
        if (!r)
                return;
        r->ops = ops;
        r->self = self;
        /* Append: streams tick in creation order. */
        struct kube_stream_reg **pp = &c->streams;
        while (*pp)
                pp = &(*pp)->next;
        *pp = r;
}

void kube_stream_unregister(struct kube_client *c, void *self)
{
        for (struct kube_stream_reg **pp = &c->streams; *pp; pp = &(*pp)->next) {
                if ((*pp)->self == self) {
                        struct kube_stream_reg *r = *pp;
                        *pp = r->next;
                        free(r);
                        return;
                }
        }
}

static void collect_done(struct kube_client *c)
{
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(c->m, &left))) {
                if (msg->msg != CURLMSG_DONE)
                        continue;
                struct kube_xfer *x = NULL;
                curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
                if (!x)
                        continue;
                x->done = true;
                x->result = msg->data.result;
                curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->http);
        }
}

static void tick_streams(struct kube_client *c)
{
        int64_t now = proc_mono_ms();
        /* A tick may unregister its own stream; walk on a saved next. */
        for (struct kube_stream_reg *r = c->streams, *n; r; r = n) {
                n = r->next;
                r->ops->tick(r->self, now);
        }
}

void kube_client_set_interrupt(struct kube_client *c, const volatile sig_atomic_t *flag)
{
        c->interrupt = flag;
}

static int interrupted(const struct kube_client *c, struct err *e)
{
        if (!c->interrupt || !*c->interrupt)
                return 0;
        int sig = *c->interrupt;
        return err_set(e, 128 + sig, "interrupted (signal %d)", sig);
}

int kube_client_poll(struct kube_client *c, long timeout_ms, struct err *e)
{
        int running;
        if (interrupted(c, e) < 0)
                return -1;
        /* In slices, so that an interrupt is seen at once whatever waits. */
        if (c->interrupt && timeout_ms > KUBE_POLL_SLICE_MS)
                timeout_ms = KUBE_POLL_SLICE_MS;
        tick_streams(c);
        int64_t now = proc_mono_ms();
        for (struct kube_stream_reg *r = c->streams; r; r = r->next) {
                int64_t due = r->ops->next_due(r->self);
                if (due != INT64_MAX && due - now < timeout_ms)
                        timeout_ms = due - now < 0 ? 0 : (long)(due - now);
        }
        if (curl_multi_perform(c->m, &running) != CURLM_OK)
                return err_set(e, ERR_SOFTWARE, "libcurl multi interface failed");
        collect_done(c);
        tick_streams(c);
        bool any_done = false;
        for (struct kube_xfer *x = c->xfers; x; x = x->next)
                any_done |= x->done || x->paused;
        if (!any_done && timeout_ms > 0) {
                CURLMcode mc = curl_multi_poll(c->m, NULL, 0, (int)timeout_ms, NULL);
                if (mc != CURLM_OK && interrupted(c, e) < 0)
                        return -1;
                if (mc != CURLM_OK)
                        return err_set(e, ERR_SOFTWARE, "libcurl poll failed: %s",
                                       curl_multi_strerror(mc));
                if (curl_multi_perform(c->m, &running) != CURLM_OK)
                        return err_set(e, ERR_SOFTWARE, "libcurl multi interface failed");
                collect_done(c);
                tick_streams(c);
        }
        return interrupted(c, e);
}

/* ---- plain requests ---------------------------------------------------- */

int kube_query_escape(struct buf *b, const char *s)
{
        static const char hex[] = "0123456789ABCDEF";
        for (; *s; s++) {
                unsigned char ch = (unsigned char)*s;
                if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
                        if (buf_putc(b, (char)ch) < 0)
                                return -1;
                } else {
                        char enc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
                        if (buf_append(b, enc, 3) < 0)
                                return -1;
                }
        }
        return 0;
}

/* Wait ms while the other transfers keep going. */
static int pause_ms(struct kube_client *c, long ms, struct err *e)
{
        int64_t until = proc_mono_ms() + ms;
        for (;;) {
                int64_t left = until - proc_mono_ms();
                if (left <= 0)
                        return 0;
                if (kube_client_poll(c, (long)left, e) < 0)
                        return -1;
        }
}

/* One attempt, waited for while the streams go on. NULL with e set when it
 * could not even start. */
static struct kube_xfer *attempt_once(struct kube_client *c, const char *method, const char *path,
                                      const char *body, int64_t start, struct err *e)
{
        /* An attempt never runs past the request's retry budget. */
        long left = c->opts.retry_budget_ms - (long)(proc_mono_ms() - start);
        c->attempt_ms = left < c->opts.request_timeout_ms ? (left > 1 ? left : 1) : 0;
        struct kube_xfer *x = kube_xfer_start(c, method, path, body, false, NULL, NULL, e);
        c->attempt_ms = 0;
        if (!x)
                return NULL;
        while (!x->done)
                if (kube_client_poll(c, 1000, e) < 0) {
                        kube_xfer_free(x);
                        return NULL;
                }
        return x;
}

static int parse_body(struct kube_xfer *x, const char *what, struct json_object **out,
                      struct err *e)
{
        struct json_object *o = NULL;
        if (x->resp.len) {
                o = json_tokener_parse(buf_str(&x->resp));
                if (!o)
                        return err_set(e, ERR_UNAVAILABLE, "%s: the API answered with invalid JSON",
                                       what);
        }
        if (out)
                *out = o;
        else
                json_object_put(o);
        return 0;
}

/* The request surely never reached the API: nothing to check before a retry. */
static bool not_sent(const struct kube_xfer *x)
{
        switch (x->result) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_SSL_CONNECT_ERROR: return true;
        case CURLE_OK: return x->http == 429;
        default: return false;
        }
}

/* GET recheck (a list); 1 with *out = its first item, 0 when empty, -1 when
 * the check itself failed (*x_out keeps the failed transfer for the caller). */
static int recheck_created(struct kube_client *c, const char *recheck, const char *what,
                           struct json_object **out, struct kube_xfer **x_out, int64_t start,
                           struct err *e)
{
        struct kube_xfer *x = attempt_once(c, "GET", recheck, NULL, start, e);
        *x_out = NULL;
        if (!x)
                return -1;
        if (x->result != CURLE_OK || x->http / 100 != 2) {
                *x_out = x;
                return -1;
        }
        struct json_object *list = NULL, *items;
        if (parse_body(x, what, &list, e) < 0) {
                kube_xfer_free(x);
                return -1;
        }
        kube_xfer_free(x);
        int found = 0;
        if (list && json_object_object_get_ex(list, "items", &items) &&
            json_object_is_type(items, json_type_array) && json_object_array_length(items)) {
                if (out)
                        *out = json_object_get(json_object_array_get_idx(items, 0));
                found = 1;
        }
        json_object_put(list);
        return found;
}

static int request_loop(struct kube_client *c, const char *method, const char *path,
                        const char *body, const char *recheck, const char *what,
                        struct json_object **out, long *http, struct err *e)
{
        int64_t start = proc_mono_ms();
        bool reread = false, check = false;
        for (int attempt = 0;; attempt++) {
                struct kube_xfer *x = NULL;
                if (check) {
                        /* The last create may have gone through: look before
                         * creating again, so a task never runs twice. */
                        int r = recheck_created(c, recheck, what, out, &x, start, e);
                        if (r == 1) {
                                if (http)
                                        *http = 201;
                                return 0;
                        }
                        if (r == 0) {
                                check = false;
                        } else if (!x) {
                                return err_prefix(e, "%s", what);
                        }
                }
                if (!x) {
                        x = attempt_once(c, method, path, body, start, e);
                        if (!x)
                                return err_prefix(e, "%s", what);
                        if (x->result == CURLE_OK && x->http / 100 == 2) {
                                int rc = parse_body(x, what, out, e);
                                if (rc == 0 && http)
                                        *http = x->http;
                                kube_xfer_free(x);
                                return rc;
                        }
                        if (x->result == CURLE_OK && x->http == 401 && !reread &&
                            kube_refresh_auth(c)) {
                                reread = true;
                                kube_xfer_free(x);
                                attempt--;
                                continue;
                        }
                        if (recheck && kube_xfer_retryable(x) && !not_sent(x))
                                check = true;
                }
                bool retry = kube_xfer_retryable(x);
                long delay =
                    x->retry_after_ms >= 0 ? x->retry_after_ms : kube_backoff_ms(c, attempt);
                int64_t spent = proc_mono_ms() - start;
                if (!retry || attempt + 1 >= c->opts.max_attempts ||
                    spent + delay > c->opts.retry_budget_ms) {
                        kube_xfer_err(x, what, e);
                        if (retry) {
                                e->code = ERR_UNAVAILABLE;
                                kube_err_gave_up(e, attempt + 1);
                        }
                        kube_xfer_free(x);
                        return -1;
                }
                kube_xfer_free(x);
                if (pause_ms(c, delay, e) < 0)
                        return -1;
        }
}

int kube_request(struct kube_client *c, const char *method, const char *path, const char *body,
                 const char *what, struct json_object **out, long *http, struct err *e)
{
        return request_loop(c, method, path, body, NULL, what, out, http, e);
}

int kube_create(struct kube_client *c, const char *path, const char *body, const char *recheck,
                const char *what, struct json_object **out, struct err *e)
{
        return request_loop(c, "POST", path, body, recheck, what, out, NULL, e);
}
