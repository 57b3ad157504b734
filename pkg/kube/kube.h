/* kube: a small Kubernetes API client on libcurl.
 *
 * One client owns one curl multi handle. Plain requests (kube_request) and
 * long-running streams (kube_watch, kube_logs) are all transfers on that
 * handle and all make progress inside kube_client_poll, so a caller can follow
 * a pod watch, a job watch and a log stream at once in one loop.
 *
 * Retries: connection errors, 5xx and 429 are retried with exponential backoff
 * and jitter (Retry-After honoured, in seconds or as an HTTP-date), bounded in
 * attempts and time; then ERR_UNAVAILABLE. Status errors become messages
 * prefixed with what was being done ("create jobs: ...") and DESIGN exit codes:
 * 401/403 -> ERR_NOPERM, 400/404/409/422 -> ERR_USAGE.
 *
 * Secrets: a bearer token or basic-auth password is never sent over plain
 * http (kube_client_new refuses with ERR_CONFIG) and never appears in an
 * error message. */
#ifndef RELRUN_KUBE_H
#define RELRUN_KUBE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <json-c/json.h>

#include "buf.h"
#include "err.h"
#include "kubeconfig.h"

/* ---- client ---------------------------------------------------------- */

struct kube_client;

struct kube_client_opts {
        long request_timeout_ms; /* per plain request attempt; 0: 30 s */
        int max_attempts;        /* per request incl. the first; 0: 6 */
        long retry_budget_ms;    /* total time for one request, attempts and waits
                                  * between them; no attempt runs past it; 0: 60 s */
        long backoff_base_ms;    /* first backoff; 0: 200 ms (doubles, jittered, max 5 s) */
        long stream_window_ms;   /* how long a watch or log stream keeps retrying an
                                    unreachable or failing server without progress;
                                    0: KUBE_STREAM_WINDOW_MS */
        bool verbose;            /* libcurl verbose to stderr (debugging only) */
};

/* A control-plane upgrade or a failover takes minutes: streams ride it out. */
#define KUBE_STREAM_WINDOW_MS (10L * 60 * 1000)

/* New client for the resolved connection (borrowed: the client copies what it
 * needs). opts may be NULL. Errors: ERR_CONFIG for a token or password on a
 * plain-http server or a malformed server URL; ERR_SOFTWARE if libcurl fails.
 * curl_global_init must have been called. */
int kube_client_new(const struct kubeconfig_rest *rest, const struct kube_client_opts *opts,
                    struct kube_client **out, struct err *e);

/* server with any userinfo ("user:password@") replaced by "***" into out
 * (n bytes, cut to fit): the form every message shows. */
void kube_server_redact(const char *server, char *out, size_t n);

/* Fresh credentials after a 401 (an exec plugin's token expired mid-task).
 * Return 0 with *token a new malloc'd token (the client takes it), or -1. */
typedef int (*kube_refresh_fn)(void *ud, char **token);

/* Install the refresh hook; requests and streams that get a 401 call it (at
 * most once every few seconds) and retry once with the new token. */
void kube_client_set_refresh(struct kube_client *c, kube_refresh_fn fn, void *ud);

/* Interrupt everything at once when *flag becomes non-zero (a signal number,
 * set by the caller's signal handler): kube_client_poll, and so every request,
 * retry and backoff pause, returns -1 with e->code 128 + *flag within about
 * KUBE_POLL_SLICE_MS. flag is borrowed; NULL turns it off. */
#define KUBE_POLL_SLICE_MS 100
void kube_client_set_interrupt(struct kube_client *c, const volatile sig_atomic_t *flag);

/* Frees the client and every stream still attached. NULL is a no-op. */
void kube_client_free(struct kube_client *c);

/* Drive every transfer for at most timeout_ms (0: just what is ready now).
 * Stream callbacks run from here. Returns 0, or -1 with e set if libcurl's
 * multi interface itself failed (transfer errors go to the streams). */
int kube_client_poll(struct kube_client *c, long timeout_ms, struct err *e);

/* ---- plain requests -------------------------------------------------- */

/* One JSON request, retried as described above. method: "GET", "POST",
 * "PUT", "PATCH" (merge patch), "DELETE". path starts with "/" and carries
 * the query ("/api/v1/namespaces/x/pods?labelSelector=a%3Db"). body may be
 * NULL. what names the action for messages ("create jobs").
 * On success (2xx) *out gets the parsed body (NULL if empty; the caller puts
 * it), and *http the status code (either may be NULL). Streams keep running
 * while this waits. */
int kube_request(struct kube_client *c, const char *method, const char *path, const char *body,
                 const char *what, struct json_object **out, long *http, struct err *e);

/* POST that is safe to retry. A POST whose answer was lost (a timeout, a
 * cut connection, a 5xx) may still have created the object; retrying blindly
 * would run a task twice. So the body must carry a label unique to this call,
 * and before each retry that follows such a failure the list at recheck (a
 * GET of the collection with a labelSelector for that label) is asked first;
 * when it holds the object, that item is the result. Otherwise like
 * kube_request with method "POST". */
int kube_create(struct kube_client *c, const char *path, const char *body, const char *recheck,
                const char *what, struct json_object **out, struct err *e);

/* Percent-encode s for a query value into b. */
__attribute__((warn_unused_result)) int kube_query_escape(struct buf *b, const char *s);

/* ---- Status errors --------------------------------------------------- */

struct kube_status {
        long code;         /* Status.code or the HTTP status */
        char reason[64];   /* "Forbidden", "NotFound", ... or "" */
        char message[768]; /* Status.message plus details.causes, or the body's first line */
};

/* Parse a response body into *st. When the body is a JSON Status its fields
 * are used; otherwise the first line of plain text (a 429 from a proxy) or
 * "HTTP <n>". Never fails. */
void kube_status_parse(long http, const char *body, size_t len, struct kube_status *st);

/* Fill e from a failed response: "<what>: <message>" with the DESIGN code for
 * the status. Returns -1. */
int kube_status_err(long http, const char *body, size_t len, const char *what, struct err *e);

/* The exit code for an HTTP status that will not be retried: 401/403
 * ERR_NOPERM, 404 ERR_NOTFOUND, 409 ERR_EXISTS, other 4xx ERR_USAGE, the rest
 * ERR_UNAVAILABLE. */
int kube_http_code(long http);

/* Retry-After: delta-seconds or an HTTP-date (relative to now). Writes the
 * delay in ms (>= 0) and returns 0, or -1 when the value is not understood. */
int kube_retry_after_parse(const char *value, time_t now, long *ms);

/* ---- line splitting (watch and log streams) -------------------------- */

/* Complete '\n'-terminated lines out of arbitrary chunks, bounded by max
 * bytes of pending data. Caller storage. */
struct kube_lines {
        struct buf b;
        size_t pos; /* start of the first undelivered byte */
};

void kube_lines_init(struct kube_lines *l, size_t max);
void kube_lines_fini(struct kube_lines *l);
/* Drop everything (a new connection starts clean). */
void kube_lines_reset(struct kube_lines *l);
/* Append a chunk. Returns 0, or -1 (nothing appended) if the cap would be
 * passed; then either deliver lines first (kube_lines_has_line) or, if none is
 * complete, the one line is too long. */
int kube_lines_feed(struct kube_lines *l, const void *p, size_t n);
bool kube_lines_has_line(const struct kube_lines *l);
/* Next complete line without its '\n' (nor a '\r' before it). The pointer is
 * valid until the next feed. Returns false when no complete line is pending. */
bool kube_lines_next(struct kube_lines *l, const char **line, size_t *len);
/* Take the pending partial line (at EOF). Returns false if none. */
bool kube_lines_rest(struct kube_lines *l, const char **line, size_t *len);
/* Bytes pending (complete or not). */
size_t kube_lines_pending(const struct kube_lines *l);

/* ---- watch ----------------------------------------------------------- */

enum kube_event_type {
        KUBE_EV_ADDED,
        KUBE_EV_MODIFIED,
        KUBE_EV_DELETED,
        KUBE_EV_BOOKMARK,
        KUBE_EV_ERROR,
};

/* Parse one watch line {"type":..,"object":{..}}. *obj is a new reference
 * the caller puts. Errors: ERR_UNAVAILABLE for a line that is not an event. */
int kube_watch_event_parse(const char *line, size_t len, enum kube_event_type *type,
                           struct json_object **obj, struct err *e);

struct kube_watch;

/* Called for every object: the initial list (as ADDED, also again after a
 * relist on 410 Gone) and every ADDED/MODIFIED/DELETED event. obj is
 * borrowed. Return 0 to continue, non-zero to stop the watch. */
typedef int (*kube_watch_cb)(void *ud, enum kube_event_type type, struct json_object *obj);

/* List-then-watch the collection at path ("/api/v1/namespaces/x/pods"),
 * narrowed by label and field selectors (NULL for none): GET the list,
 * deliver each item, then watch from the list's resourceVersion with
 * bookmarks. A dropped stream resumes from the last resourceVersion seen; an
 * ERROR event carrying 410 relists. Fatal errors (401/403/404, retries
 * exhausted) end the watch: kube_watch_failed then says why. The watch is
 * owned by the client until kube_watch_free. */
int kube_watch_new(struct kube_client *c, const char *path, const char *label_selector,
                   const char *field_selector, kube_watch_cb cb, void *ud, struct kube_watch **out,
                   struct err *e);
void kube_watch_free(struct kube_watch *w);
/* True once the watch stopped for good; *e (if not NULL) gets the reason
 * (ERR_OK code when the callback stopped it). */
bool kube_watch_done(const struct kube_watch *w, struct err *e);
/* True once the first list was delivered to the callback: from then on an
 * object not seen does not exist (a pod not yet listed is not a pod gone). */
bool kube_watch_listed(const struct kube_watch *w);
/* Reconnections so far (dropped streams and relists), for tests and -v. */
int kube_watch_reconnects(const struct kube_watch *w);

/* ---- logs ------------------------------------------------------------ */

/* A log timestamp (RFC 3339 with up to nanoseconds). */
struct kube_ts {
        int64_t sec;
        int32_t nsec;
};

/* Parse "2026-11-23T06:00:00.123456789Z" (or with a numeric offset).
 * Returns 0, or -1 when it is not one. */
int kube_ts_parse(const char *s, size_t n, struct kube_ts *out);
int kube_ts_cmp(const struct kube_ts *a, const struct kube_ts *b);

/* Split a "timestamps=true" log line into its timestamp and the content after
 * the single space. Returns -1 when the line does not start with one. */
int kube_log_split(const char *line, size_t len, struct kube_ts *ts, const char **content,
                   size_t *clen);

/* Which lines were printed, so that a resumed stream (sinceTime at the last
 * timestamp, floored to the second) prints nothing twice and loses nothing:
 * lines older than the last timestamp are skipped, and at the last timestamp
 * as many lines as were printed there are skipped when their content matches
 * in order. */
struct kube_log_dedup {
        bool have;
        struct kube_ts last;
        uint64_t *hashes; /* contents printed at `last`, in order */
        size_t n, alloc;
        size_t replay;    /* position in hashes during a resumed stream */
        const char *held; /* the last line accepted, not hashed yet (or NULL) */
        size_t held_len;
};

void kube_log_dedup_init(struct kube_log_dedup *d);
void kube_log_dedup_fini(struct kube_log_dedup *d);
/* A new connection starts: replaying from the beginning of `last`. */
void kube_log_dedup_resume(struct kube_log_dedup *d);
/* Decide for one line: true when it is new (and remember it), false when it
 * was printed before. The content of the line accepted last is read again
 * later: it must stay as it is until the next accept, settle or resume. */
bool kube_log_dedup_accept(struct kube_log_dedup *d, const struct kube_ts *ts, const char *content,
                           size_t clen);
/* Take what accept holds of the last line into the dedup's own memory (before
 * the caller reuses the line's storage). */
void kube_log_dedup_settle(struct kube_log_dedup *d);

struct kube_logs;

/* One log line, timestamp already removed (ts NULL when the line had none).
 * Borrowed. Return 0 to continue, non-zero to stop. */
typedef int (*kube_logs_cb)(void *ud, const struct kube_ts *ts, const char *line, size_t len);

/* Follow the logs of container in pod: follow=true&timestamps=true. While
 * the API answers 400 "waiting to start"/ContainerCreating or an empty 200
 * before the container runs, it retries. A stream that ends while the
 * container may still run resumes with sinceTime; the stream counts as
 * complete only when it ended cleanly after kube_logs_container_done was
 * called. follow=false fetches once (still retried). Owned by the client until
 * kube_logs_free. */
int kube_logs_new(struct kube_client *c, const char *namespace_, const char *pod,
                  const char *container, bool follow, kube_logs_cb cb, void *ud,
                  struct kube_logs **out, struct err *e);
void kube_logs_free(struct kube_logs *l);
/* The container terminated: the next clean end of stream is the end. */
void kube_logs_container_done(struct kube_logs *l);
bool kube_logs_done(const struct kube_logs *l, struct err *e);
int kube_logs_reconnects(const struct kube_logs *l);

#endif
