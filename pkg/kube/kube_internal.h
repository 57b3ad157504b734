/* kube internals shared by kube_client.c, kube_watch.c and kube_logs.c. */
#ifndef RELRUN_KUBE_INTERNAL_H
#define RELRUN_KUBE_INTERNAL_H

#include <curl/curl.h>

#include "kube.h"
#include "proc.h"

#define KUBE_STREAM_MAX (16u << 20) /* one watch event or log line */
#define KUBE_BODY_MAX   (64u << 20) /* a plain response (a big list) */

struct kube_xfer;
typedef void (*kube_xfer_done_fn)(struct kube_xfer *x);

/* One HTTP transfer on the client's multi handle. */
struct kube_xfer {
        struct kube_client *c;
        CURL *h;
        struct curl_slist *hdrs;
        char *body_out;
        bool stream;     /* 200 bodies go to lines, not resp */
        struct buf resp; /* non-stream body, or a stream's error body */
        struct kube_lines lines;
        bool paused;         /* the write callback asked libcurl to wait */
        bool toolong;        /* a single line passed KUBE_STREAM_MAX */
        long http;           /* status of the final response */
        long retry_after_ms; /* -1 when absent */
        bool done;
        CURLcode result;
        char errbuf[CURL_ERROR_SIZE];
        kube_xfer_done_fn on_done; /* NULL for synchronous requests */
        void *owner;
        struct kube_xfer *next; /* client's list of active transfers */
};

/* A stream retries (connection refused, 5xx, 429) until it has failed without
 * progress for the client's stream window (--retry-window), then gives up.
 * A failed attempt starts or extends the failing spell; progress ends it. */
static inline void kube_fail_note(int64_t *since, int *attempts)
{
        if (!*since)
                *since = proc_mono_ms();
        ++*attempts;
}

static inline void kube_progress_note(int64_t *since, int *attempts)
{
        *since = 0;
        *attempts = 0;
}

enum stream_state {
        ST_DUE,    /* (re)connect when next_ms passes */
        ST_ACTIVE, /* a transfer is running */
        ST_DONE,   /* finished for good */
};

/* Streams register a tick that starts due reconnections and drains lines. */
struct kube_stream_ops {
        void (*tick)(void *self, int64_t now);
        int64_t (*next_due)(const void *self); /* ms, or INT64_MAX */
};

struct kube_stream_reg {
        const struct kube_stream_ops *ops;
        void *self;
        struct kube_stream_reg *next;
};

struct kube_client {
        CURLM *m;
        char *base;   /* scheme://host:port[/prefix], host replaced by tls-server-name */
        char *server; /* as configured, for messages */
        struct curl_slist *connect_to;
        unsigned char *ca, *cert, *key;
        size_t ca_len, cert_len, key_len;
        bool insecure;
        char *token;
        char *token_file;
        char *username, *password;
        struct kube_client_opts opts;
        char ua[64];
        char noproxy[512];
        struct kube_xfer *xfers;
        struct kube_stream_reg *streams;
        kube_refresh_fn refresh;
        void *refresh_ud;
        int64_t refreshed_ms; /* last credential refresh, to not loop on 401 */
        uint64_t rng;         /* retry jitter, seeded per client from getrandom() */
        long attempt_ms;      /* the current plain attempt's timeout (what is left of its
                               * retry budget); 0: opts.request_timeout_ms */
        const volatile sig_atomic_t *interrupt;
};

/* Start a transfer: method, path (with query), body (copied) or NULL.
 * stream: long-running, no total timeout. Returns NULL with e set. */
struct kube_xfer *kube_xfer_start(struct kube_client *c, const char *method, const char *path,
                                  const char *body, bool stream, kube_xfer_done_fn on_done,
                                  void *owner, struct err *e);
/* Remove from the multi handle and free. NULL is a no-op. */
void kube_xfer_free(struct kube_xfer *x);
/* Classify a finished transfer's failure: true when worth retrying. */
bool kube_xfer_retryable(const struct kube_xfer *x);
/* Describe a finished, failed transfer into e ("what: ..."). */
int kube_xfer_err(const struct kube_xfer *x, const char *what, struct err *e);
/* Append " (gave up after N attempts)" to e's message when it fits. */
void kube_err_gave_up(struct err *e, int attempts);
/* A stream failing since since_ms (0: not failing) has used up its window. */
bool kube_stream_window_over(const struct kube_client *c, int64_t since_ms);
/* Backoff for the attempt'th retry (0-based), jittered. */
long kube_backoff_ms(struct kube_client *c, int attempt);

/* After a 401: fresh credentials (token file re-read, then the refresh
 * hook), at most once per few seconds. True when the token changed. */
bool kube_refresh_auth(struct kube_client *c);

void kube_stream_register(struct kube_client *c, const struct kube_stream_ops *ops, void *self);
void kube_stream_unregister(struct kube_client *c, void *self);

#endif
