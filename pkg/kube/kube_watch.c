/* kube: the watch stream (LIST, then WATCH from its resourceVersion,
 * resumed on a cut and relisted on 410 Gone) and the parser of its events. */
#include "kube_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- watch events ---------------------------------------------------- */

int kube_watch_event_parse(const char *line, size_t len, enum kube_event_type *type,
                           struct json_object **obj, struct err *e)
{
        while (len && isspace((unsigned char)*line)) {
                line++;
                len--;
        }
        if (!len)
                return err_set(e, ERR_UNAVAILABLE, "watch: empty event");
        struct json_tokener *tok = json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH);
        if (!tok)
                return err_set(e, ERR_SOFTWARE, "watch: out of memory");
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        struct json_object *o = json_tokener_parse_ex(tok, line, (int)len);
        enum json_tokener_error jerr = json_tokener_get_error(tok);
        json_tokener_free(tok);
        if (!o || jerr != json_tokener_success) {
                json_object_put(o);
                return err_set(e, ERR_UNAVAILABLE, "watch: event is not JSON (%zu bytes)", len);
        }
        struct json_object *tv, *ob;
        const char *t =
            json_object_object_get_ex(o, "type", &tv) && json_object_is_type(tv, json_type_string)
                ? json_object_get_string(tv)
                : NULL;
        if (!t || !json_object_object_get_ex(o, "object", &ob) ||
            !json_object_is_type(ob, json_type_object)) {
                json_object_put(o);
                return err_set(e, ERR_UNAVAILABLE, "watch: line is not an event");
        }
        enum kube_event_type ty;
        if (!strcmp(t, "ADDED"))
                ty = KUBE_EV_ADDED;
        else if (!strcmp(t, "MODIFIED"))
                ty = KUBE_EV_MODIFIED;
        else if (!strcmp(t, "DELETED"))
                ty = KUBE_EV_DELETED;
        else if (!strcmp(t, "BOOKMARK"))
                ty = KUBE_EV_BOOKMARK;
        else if (!strcmp(t, "ERROR"))
                ty = KUBE_EV_ERROR;
        else {
                err_set(e, ERR_UNAVAILABLE, "watch: unknown event type '%.32s'", t);
                json_object_put(o);
                return -1;
        }
        *obj = json_object_get(ob);
        *type = ty;
        json_object_put(o);
        return 0;
}

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
        bool listed; /* the first list was delivered */
        struct err err;
};

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
        w->next_ms = proc_mono_ms() + delay;
        w->reconnects++;
}

static void watch_start(struct kube_watch *w)
{
        struct buf p;
        buf_init(&p, 1u << 16);
        int rc = buf_puts(&p, w->path);
        char sep = '?';
        if (!w->listing) {
                /* The server ends the watch after timeoutSeconds and we
                 * resume: a silently dead connection cannot hang us. */
                rc |= buf_puts(&p, "?watch=1&allowWatchBookmarks=true&timeoutSeconds=300"
                                   "&resourceVersion=");
                rc |= kube_query_escape(&p, w->rv);
                sep = '&';
        }
        if (w->label) {
                rc |= buf_printf(&p, "%clabelSelector=", sep);
                rc |= kube_query_escape(&p, w->label);
                sep = '&';
        }
        if (w->field) {
                rc |= buf_printf(&p, "%cfieldSelector=", sep);
                rc |= kube_query_escape(&p, w->field);
        }
        struct err e;
        err_clear(&e);
        if (rc)
                /* never a cut URL: it would watch something else */
                err_set(&e, ERR_USAGE, "watch %s: the request URL is longer than %zu bytes",
                        w->path, p.max);
        else
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
                kube_progress_note(&w->fail_since, &w->attempts);
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
        w->listed = true;
        w->failures = 0;
        kube_progress_note(&w->fail_since, &w->attempts);
        w->listing = !w->rv;
        w->state = ST_DUE;
        w->next_ms = w->rv ? 0 : proc_mono_ms() + 1000;
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
                kube_progress_note(&w->fail_since, &w->attempts);
        bool retryable = kube_xfer_retryable(x);
        if (retryable)
                kube_fail_note(&w->fail_since, &w->attempts);
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
                        kube_err_gave_up(&e, w->attempts);
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

bool kube_watch_listed(const struct kube_watch *w)
{
        return w->listed;
}

int kube_watch_reconnects(const struct kube_watch *w)
{
        return w->reconnects;
}
