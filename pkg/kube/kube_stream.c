/* kube: watch and log streams, each a small state machine ticked by
 * kube_client_poll. */
#include "kube_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A stream retries (connection refused, 5xx, 429) until it has failed without
 * progress for the client's stream window (--retry-window), then gives up. */

enum stream_state {
        ST_DUE,    /* (re)connect when next_ms passes */
        ST_ACTIVE, /* a transfer is running */
        ST_DONE,   /* finished for good */
};

/* ---- watch ------------------------------------------------------------ */

struct kube_watch {
        struct kube_client *c;
        char *path, *label, *field;
        kube_watch_cb cb;
        void *ud;
        enum stream_state state;
        bool listing; /* the next/current transfer is the LIST */
        char *rv;     /* resourceVersion to resume from */
        struct kube_xfer *x;
        int failures;
        int64_t fail_since; /* failing without progress since (ms), 0 if not */
        int attempts;       /* failed attempts since then */
        int64_t next_ms;
        int reconnects;
        struct err err;
};

/* A failed attempt (for the window); progress clears it. */
static void note_failure(int64_t *since, int *attempts)
{
        if (!*since)
                *since = kube_now_ms();
        ++*attempts;
}

static void note_progress(int64_t *since, int *attempts)
{
        *since = 0;
        *attempts = 0;
}

static void watch_finish(struct kube_watch *w, const struct err *why)
{
        w->state = ST_DONE;
        if (why)
                w->err = *why;
        kube_xfer_free(w->x);
        w->x = NULL;
}

static void watch_set_rv(struct kube_watch *w, struct json_object *obj)
{
        struct json_object *md, *rv;
        if (json_object_object_get_ex(obj, "metadata", &md) &&
            json_object_object_get_ex(md, "resourceVersion", &rv) &&
            json_object_is_type(rv, json_type_string) && json_object_get_string_len(rv)) {
                char *n = strdup(json_object_get_string(rv));
                if (n) {
                        free(w->rv);
                        w->rv = n;
                }
        }
}

static void watch_retry(struct kube_watch *w, bool relist, long delay)
{
        kube_xfer_free(w->x);
        w->x = NULL;
        w->listing = relist || !w->rv;
        w->state = ST_DUE;
        w->next_ms = kube_now_ms() + delay;
        w->reconnects++;
}

static void watch_start(struct kube_watch *w)
{
        struct buf p;
        buf_init(&p, 1u << 16);
        buf_puts(&p, w->path);
        char sep = '?';
        if (!w->listing) {
                /* The server ends the watch after timeoutSeconds and we
                 * resume: a silently dead connection cannot hang us. */
                buf_puts(&p, "?watch=1&allowWatchBookmarks=true&timeoutSeconds=300"
                             "&resourceVersion=");
                kube_query_escape(&p, w->rv);
                sep = '&';
        }
        if (w->label) {
                buf_printf(&p, "%clabelSelector=", sep);
                kube_query_escape(&p, w->label);
                sep = '&';
        }
        if (w->field) {
                buf_printf(&p, "%cfieldSelector=", sep);
                kube_query_escape(&p, w->field);
        }
        struct err e;
        err_clear(&e);
        w->x = kube_xfer_start(w->c, "GET", buf_str(&p), NULL, !w->listing, NULL, w, &e);
        buf_fini(&p);
        if (!w->x)
                watch_finish(w, &e);
        else
                w->state = ST_ACTIVE;
}

/* Returns -1 when the watch ended or restarted (stop reading lines). */
static int watch_line(struct kube_watch *w, const char *line, size_t len)
{
        if (!len)
                return 0;
        enum kube_event_type t;
        struct json_object *obj = NULL;
        struct err e;
        err_clear(&e);
        if (kube_watch_event_parse(line, len, &t, &obj, &e) < 0) {
                /* The stream is out of step; resume from the last good point. */
                watch_retry(w, false, kube_backoff_ms(w->c, w->failures++));
                return -1;
        }
        int rc = 0;
        switch (t) {
        case KUBE_EV_BOOKMARK: watch_set_rv(w, obj); break;
        case KUBE_EV_ERROR: {
                struct json_object *code;
                long sc = 0;
                if (json_object_object_get_ex(obj, "code", &code))
                        sc = json_object_get_int(code);
                /* 410 Gone: the resourceVersion expired, relist. Anything else:
                 * resume, and relist when it keeps happening. */
                watch_retry(w, sc == 410 || w->failures >= 3,
                            sc == 410 ? 0 : kube_backoff_ms(w->c, w->failures));
                w->failures++;
                rc = -1;
                break;
        }
        default:
                watch_set_rv(w, obj);
                w->failures = 0;
                note_progress(&w->fail_since, &w->attempts);
                if (w->cb(w->ud, t, obj)) {
                        watch_finish(w, NULL);
                        rc = -1;
                }
                break;
        }
        json_object_put(obj);
        return rc;
}

static void watch_list_done(struct kube_watch *w, struct kube_xfer *x)
{
        struct json_object *list = json_tokener_parse(buf_str(&x->resp));
        struct json_object *items;
        if (!list || !json_object_object_get_ex(list, "items", &items) ||
            !json_object_is_type(items, json_type_array)) {
                json_object_put(list);
                watch_retry(w, true, kube_backoff_ms(w->c, w->failures++));
                return;
        }
        free(w->rv);
        w->rv = NULL;
        watch_set_rv(w, list);
        kube_xfer_free(w->x);
        w->x = NULL;
        size_t n = json_object_array_length(items);
        for (size_t i = 0; i < n; i++) {
                if (w->cb(w->ud, KUBE_EV_ADDED, json_object_array_get_idx(items, i))) {
                        json_object_put(list);
                        watch_finish(w, NULL);
                        return;
                }
        }
        json_object_put(list);
        w->failures = 0;
        note_progress(&w->fail_since, &w->attempts);
        w->listing = !w->rv;
        w->state = ST_DUE;
        w->next_ms = w->rv ? 0 : kube_now_ms() + 1000;
}

static void watch_tick(void *self, int64_t now)
{
        struct kube_watch *w = self;
        if (w->state == ST_DUE && now >= w->next_ms)
                watch_start(w);
        if (w->state != ST_ACTIVE)
                return;
        struct kube_xfer *x = w->x;
        const char *line;
        size_t len;
        if (!w->listing) {
                while (kube_lines_next(&x->lines, &line, &len))
                        if (watch_line(w, line, len) < 0)
                                return;
                if (x->paused) {
                        x->paused = false;
                        curl_easy_pause(x->h, CURLPAUSE_CONT);
                }
        }
        if (!x->done)
                return;
        if (x->result == CURLE_OK && x->http / 100 == 2) {
                if (w->listing) {
                        watch_list_done(w, x);
                } else {
                        /* The server ended the watch (timeout or a cut): resume. */
                        watch_retry(w, false, w->failures ? kube_backoff_ms(w->c, w->failures) : 0);
                        w->failures++;
                }
                return;
        }
        if (x->result == CURLE_OK && x->http == 410) {
                watch_retry(w, true, 0);
                return;
        }
        if (x->result == CURLE_OK && x->http == 401 && kube_refresh_auth(w->c)) {
                watch_retry(w, w->listing, 0);
                return;
        }
        /* A stream that delivered events and then broke is progress. */
        if (x->result != CURLE_OK && x->http / 100 == 2 && !w->listing && w->failures == 0)
                note_progress(&w->fail_since, &w->attempts);
        bool retryable = kube_xfer_retryable(x);
        if (retryable)
                note_failure(&w->fail_since, &w->attempts);
        bool retry = retryable && !kube_stream_window_over(w->c, w->fail_since);
        if (!retry) {
                struct err e;
                /* "watch pods", "list jobs" like kubectl's verbs */
                const char *res = strrchr(w->path, '/');
                char what[128];
                snprintf(what, sizeof what, "%s %s", w->listing ? "list" : "watch",
                         res ? res + 1 : w->path);
                kube_xfer_err(x, what, &e);
                if (retryable) {
                        e.code = ERR_UNAVAILABLE;
                        kube_gave_up(&e, w->attempts, w->fail_since);
                }
                watch_finish(w, &e);
                return;
        }
        long delay =
            x->retry_after_ms >= 0 ? x->retry_after_ms : kube_backoff_ms(w->c, w->failures);
        w->failures++;
        watch_retry(w, w->listing, delay);
}

static int64_t watch_next_due(const void *self)
{
        const struct kube_watch *w = self;
        return w->state == ST_DUE ? w->next_ms : INT64_MAX;
}

static const struct kube_stream_ops watch_ops = {watch_tick, watch_next_due};

int kube_watch_new(struct kube_client *c, const char *path, const char *label_selector,
                   const char *field_selector, kube_watch_cb cb, void *ud, struct kube_watch **out,
                   struct err *e)
{
        struct kube_watch *w = calloc(1, sizeof *w);
        if (!w)
                return err_set(e, ERR_SOFTWARE, "out of memory");
        w->c = c;
        w->path = strdup(path);
        w->label = label_selector ? strdup(label_selector) : NULL;
        w->field = field_selector ? strdup(field_selector) : NULL;
        w->cb = cb;
        w->ud = ud;
        w->state = ST_DUE;
        w->listing = true;
        w->next_ms = 0;
        err_clear(&w->err);
        if (!w->path) {
                kube_watch_free(w);
                return err_set(e, ERR_SOFTWARE, "out of memory");
        }
        kube_stream_register(c, &watch_ops, w);
        *out = w;
        return 0;
}

void kube_watch_free(struct kube_watch *w)
{
        if (!w)
                return;
        kube_stream_unregister(w->c, w);
        kube_xfer_free(w->x);
        free(w->path);
        free(w->label);
        free(w->field);
        free(w->rv);
        free(w);
}

bool kube_watch_done(const struct kube_watch *w, struct err *e)
{
        if (w->state != ST_DONE)
                return false;
        if (e)
                *e = w->err;
        return true;
}

int kube_watch_reconnects(const struct kube_watch *w)
{
        return w->reconnects;
}

/* ---- logs ------------------------------------------------------------- */

struct kube_logs {
        struct kube_client *c;
        char *ns, *pod, *container;
        bool follow;
        kube_logs_cb cb;
        void *ud;
        enum stream_state state;
        struct kube_xfer *x;
        struct kube_log_dedup dedup;
        bool container_done;
        bool conn_after_done; /* the current connection began after the container ended */
        bool got_lines;       /* the current connection delivered something */
        int failures;
        int64_t fail_since; /* failing without progress since (ms), 0 if not */
        int attempts;
        int waits; /* answers "not started yet" in a row */
        int64_t next_ms;
        int reconnects;
        struct err err;
};

static void logs_finish(struct kube_logs *l, const struct err *why)
{
        l->state = ST_DONE;
        if (why)
                l->err = *why;
        kube_xfer_free(l->x);
        l->x = NULL;
}

static void logs_start(struct kube_logs *l)
{
        struct buf p;
        buf_init(&p, 1u << 12);
        buf_puts(&p, "/api/v1/namespaces/");
        kube_query_escape(&p, l->ns);
        buf_puts(&p, "/pods/");
        kube_query_escape(&p, l->pod);
        buf_puts(&p, "/log?timestamps=true&container=");
        kube_query_escape(&p, l->container);
        if (l->follow)
                buf_puts(&p, "&follow=true");
        if (l->dedup.have) {
                /* sinceTime has second precision: start at the second of the last
                 * line and let the de-duplication skip what was printed. */
                time_t t = (time_t)l->dedup.last.sec;
                struct tm tm;
                char since[32];
                gmtime_r(&t, &tm);
                strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm);
                buf_puts(&p, "&sinceTime=");
                kube_query_escape(&p, since);
        }
        kube_log_dedup_resume(&l->dedup);
        struct err e;
        err_clear(&e);
        l->conn_after_done = l->container_done;
        l->got_lines = false;
        l->x = kube_xfer_start(l->c, "GET", buf_str(&p), NULL, true, NULL, l, &e);
        buf_fini(&p);
        if (!l->x)
                logs_finish(l, &e);
        else
                l->state = ST_ACTIVE;
}

static void logs_retry(struct kube_logs *l, long delay)
{
        kube_xfer_free(l->x);
        l->x = NULL;
        l->state = ST_DUE;
        l->next_ms = kube_now_ms() + delay;
        l->reconnects++;
}

/* Returns -1 when the callback stopped the stream. */
static int logs_line(struct kube_logs *l, const char *line, size_t len)
{
        struct kube_ts ts;
        const char *content;
        size_t clen;
        l->got_lines = true;
        if (kube_log_split(line, len, &ts, &content, &clen) < 0) {
                if (l->cb(l->ud, NULL, line, len))
                        goto stop;
                return 0;
        }
        if (!kube_log_dedup_accept(&l->dedup, &ts, content, clen))
                return 0;
        if (l->cb(l->ud, &ts, content, clen))
                goto stop;
        return 0;
stop:
        logs_finish(l, NULL);
        return -1;
}

/* 400 before the container runs ("is waiting to start: ContainerCreating",
 * "PodInitializing"); a wrong container name is the one 400 that stays. */
static bool waiting_to_start(const struct kube_xfer *x)
{
        return x->http == 400 && !strstr(buf_str(&x->resp), "not found in pod") &&
               !strstr(buf_str(&x->resp), "not valid for pod");
}

static void logs_tick(void *self, int64_t now)
{
        struct kube_logs *l = self;
        if (l->state == ST_DUE && now >= l->next_ms)
                logs_start(l);
        if (l->state != ST_ACTIVE)
                return;
        struct kube_xfer *x = l->x;
        const char *line;
        size_t len;
        while (kube_lines_next(&x->lines, &line, &len))
                if (logs_line(l, line, len) < 0)
                        return;
        if (x->paused) {
                x->paused = false;
                curl_easy_pause(x->h, CURLPAUSE_CONT);
        }
        if (!x->done)
                return;
        if (x->http / 100 == 2) {
                bool clean = x->result == CURLE_OK;
                if (clean && (l->conn_after_done || !l->follow)) {
                        /* The whole log is in: a last line without '\n' too. */
                        if (kube_lines_rest(&x->lines, &line, &len) && logs_line(l, line, len) < 0)
                                return;
                        logs_finish(l, NULL);
                        return;
                }
                /* Cut, or ended while the container may still write: resume
                 * (a cut partial line comes again and is not printed now). */
                long delay;
                if (l->got_lines || l->container_done) {
                        l->failures = 0;
                        note_progress(&l->fail_since, &l->attempts);
                        delay = l->container_done ? 0 : 50;
                } else {
                        delay = kube_backoff_ms(l->c, l->waits < 4 ? l->waits : 4);
                        l->waits++;
                }
                logs_retry(l, delay);
                return;
        }
        if (x->result == CURLE_OK && waiting_to_start(x) && l->follow && !l->conn_after_done) {
                logs_retry(l, kube_backoff_ms(l->c, l->waits < 4 ? l->waits : 4));
                l->waits++;
                return;
        }
        if (x->result == CURLE_OK && x->http == 401 && kube_refresh_auth(l->c)) {
                logs_retry(l, 0);
                return;
        }
        if (l->got_lines)
                note_progress(&l->fail_since, &l->attempts);
        bool retryable = kube_xfer_retryable(x);
        if (retryable)
                note_failure(&l->fail_since, &l->attempts);
        bool retry = retryable && !kube_stream_window_over(l->c, l->fail_since);
        if (!retry) {
                struct err e;
                char what[300];
                snprintf(what, sizeof what, "logs of pod '%s'", l->pod);
                kube_xfer_err(x, what, &e);
                if (retryable) {
                        e.code = ERR_UNAVAILABLE;
                        kube_gave_up(&e, l->attempts, l->fail_since);
                }
                logs_finish(l, &e);
                return;
        }
        long delay =
            x->retry_after_ms >= 0 ? x->retry_after_ms : kube_backoff_ms(l->c, l->failures);
        l->failures++;
        logs_retry(l, delay);
}

static int64_t logs_next_due(const void *self)
{
        const struct kube_logs *l = self;
        return l->state == ST_DUE ? l->next_ms : INT64_MAX;
}

static const struct kube_stream_ops logs_ops = {logs_tick, logs_next_due};

int kube_logs_new(struct kube_client *c, const char *namespace_, const char *pod,
                  const char *container, bool follow, kube_logs_cb cb, void *ud,
                  struct kube_logs **out, struct err *e)
{
        struct kube_logs *l = calloc(1, sizeof *l);
        if (!l)
                return err_set(e, ERR_SOFTWARE, "out of memory");
        l->c = c;
        l->ns = strdup(namespace_);
        l->pod = strdup(pod);
        l->container = strdup(container ? container : "task");
        l->follow = follow;
        l->cb = cb;
        l->ud = ud;
        l->state = ST_DUE;
        kube_log_dedup_init(&l->dedup);
        err_clear(&l->err);
        if (!l->ns || !l->pod || !l->container) {
                kube_logs_free(l);
                return err_set(e, ERR_SOFTWARE, "out of memory");
        }
        kube_stream_register(c, &logs_ops, l);
        *out = l;
        return 0;
}

void kube_logs_free(struct kube_logs *l)
{
        if (!l)
                return;
        kube_stream_unregister(l->c, l);
        kube_xfer_free(l->x);
        kube_log_dedup_fini(&l->dedup);
        free(l->ns);
        free(l->pod);
        free(l->container);
        free(l);
}

void kube_logs_container_done(struct kube_logs *l)
{
        l->container_done = true;
}

bool kube_logs_done(const struct kube_logs *l, struct err *e)
{
        if (l->state != ST_DONE)
                return false;
        if (e)
                *e = l->err;
        return true;
}

int kube_logs_reconnects(const struct kube_logs *l)
{
        return l->reconnects;
}
