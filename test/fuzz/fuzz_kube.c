/* kube: what the API server sends — watch lines (split anywhere), Status
 * bodies, log lines with timestamps, Retry-After — never crashes the parsers;
 * a resumed log prints nothing twice. */

#include "fuzz.h"
#include "kube.h"

static void lines(const uint8_t *d, size_t n, size_t step)
{
        struct kube_lines l;
        kube_lines_init(&l, 4096);
        for (size_t i = 0; i < n; i += step) {
                size_t k = n - i < step ? n - i : step;
                while (kube_lines_feed(&l, d + i, k) < 0) {
                        const char *line;
                        size_t len;
                        if (!kube_lines_has_line(&l)) {
                                kube_lines_reset(&l); /* one line too long */
                                continue;
                        }
                        while (kube_lines_next(&l, &line, &len)) {
                                enum kube_event_type t;
                                struct json_object *obj = NULL;
                                struct err e;
                                if (kube_watch_event_parse(line, len, &t, &obj, &e) == 0)
                                        json_object_put(obj);
                        }
                }
        }
        const char *line;
        size_t len;
        while (kube_lines_next(&l, &line, &len)) {
                CHECK(!memchr(line, '\n', len));
                enum kube_event_type t;
                struct json_object *obj = NULL;
                struct err e;
                if (kube_watch_event_parse(line, len, &t, &obj, &e) == 0) {
                        CHECK(obj);
                        json_object_put(obj);
                }
        }
        kube_lines_rest(&l, &line, &len);
        kube_lines_fini(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (!size)
                return 0;
        size_t step = 1 + data[0] % 64;
        lines(data + 1, size - 1, step);

        struct kube_status st;
        kube_status_parse(400 + data[0], (const char *)data + 1, size - 1, &st);
        CHECK(memchr(st.reason, '\0', sizeof st.reason));
        CHECK(memchr(st.message, '\0', sizeof st.message));
        struct err e;
        CHECK(kube_status_err(500, (const char *)data + 1, size - 1, "fuzz", &e) == -1);

        /* A log, printed, then replayed from its last second as a resumed
         * stream sends it: nothing twice. (Timestamps that step back print on
         * a live stream by design, so the log keeps them in order.) */
        struct kube_log_dedup d;
        kube_log_dedup_init(&d);
        int again = 0;
        for (int pass = 0; pass < 2; pass++) {
                if (pass)
                        kube_log_dedup_resume(&d);
                struct kube_ts prev = {0, 0};
                const char *p = (const char *)data + 1, *end = p + size - 1;
                while (p < end) {
                        const char *nl = memchr(p, '\n', (size_t)(end - p));
                        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
                        struct kube_ts ts;
                        const char *c;
                        size_t cl;
                        if (kube_log_split(p, len, &ts, &c, &cl) == 0 &&
                            kube_ts_cmp(&ts, &prev) >= 0) {
                                prev = ts;
                                if (kube_log_dedup_accept(&d, &ts, c, cl) && pass)
                                        again++;
                        }
                        p += len + 1;
                }
        }
        CHECK(again == 0);
        kube_log_dedup_fini(&d);

        char *s = fuzz_cstr(data + 1, size - 1);
        if (s) {
                long ms;
                if (kube_retry_after_parse(s, 1764658800, &ms) == 0)
                        CHECK(ms >= 0);
                struct kube_ts ts;
                kube_ts_parse(s, strlen(s), &ts);
                free(s);
        }
        return 0;
}
