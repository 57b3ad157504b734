/* kube: the pure parts (no I/O): Status bodies, Retry-After and line
 * splitting. Watch events are parsed in kube_watch.c, log timestamps and
 * the resume de-duplication in kube_logs.c. */
#include "kube.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

/* ---- Status ---------------------------------------------------------- */

static const char *jstr(struct json_object *o, const char *key)
{
        struct json_object *v;
        if (!o || !json_object_object_get_ex(o, key, &v) ||
            !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

static void first_line(const char *body, size_t len, char *out, size_t outsz)
{
        size_t i = 0, o = 0;
        while (i < len && isspace((unsigned char)body[i]))
                i++;
        for (; i < len && body[i] != '\n' && body[i] != '\r' && o + 1 < outsz; i++)
                out[o++] = (unsigned char)body[i] < 0x20 ? ' ' : body[i];
        while (o > 0 && out[o - 1] == ' ')
                o--;
        out[o] = '\0';
}

void kube_status_parse(long http, const char *body, size_t len, struct kube_status *st)
{
        memset(st, 0, sizeof *st);
        st->code = http;
        struct json_object *o = NULL;
        if (body && len) {
                struct json_tokener *tok = json_tokener_new();
                if (tok) {
                        o = json_tokener_parse_ex(tok, body,
                                                  (int)(len > INT32_MAX ? INT32_MAX : len));
                        json_tokener_free(tok);
                }
        }
        const char *kind = jstr(o, "kind");
        if (o && json_object_is_type(o, json_type_object) && kind && !strcmp(kind, "Status")) {
                struct json_object *v;
                if (json_object_object_get_ex(o, "code", &v) && json_object_get_int(v) > 0)
                        st->code = json_object_get_int(v);
                const char *r = jstr(o, "reason");
                snprintf(st->reason, sizeof st->reason, "%s", r ? r : "");
                const char *m = jstr(o, "message");
                size_t used = (size_t)snprintf(st->message, sizeof st->message, "%s", m ? m : "");
                struct json_object *det, *causes;
                if (json_object_object_get_ex(o, "details", &det) &&
                    json_object_object_get_ex(det, "causes", &causes) &&
                    json_object_is_type(causes, json_type_array)) {
                        size_t n = json_object_array_length(causes);
                        for (size_t i = 0; i < n && used < sizeof st->message; i++) {
                                struct json_object *c = json_object_array_get_idx(causes, i);
                                const char *f = jstr(c, "field"), *cm = jstr(c, "message");
                                if (!cm)
                                        continue;
                                /* The message usually lists the causes already. */
                                if (m && strstr(m, cm))
                                        continue;
                                used += (size_t)snprintf(
                                    st->message + used, sizeof st->message - used, "%s%s%s%s",
                                    used ? "; " : "", f ? f : "", f ? ": " : "", cm);
                        }
                }
                if (!st->message[0])
                        snprintf(st->message, sizeof st->message, "%s",
                                 st->reason[0] ? st->reason : "unknown error");
        } else if (body && len) {
                first_line(body, len, st->message, sizeof st->message);
        }
        if (!st->message[0])
                snprintf(st->message, sizeof st->message, "HTTP %ld", http);
        json_object_put(o);
}

int kube_http_code(long http)
{
        switch (http) {
        case 401:
        case 403: return ERR_NOPERM;
        case 404: return ERR_NOTFOUND;
        case 409: return ERR_EXISTS;
        case 400:
        case 405:
        case 422: return ERR_USAGE;
        default: return ERR_UNAVAILABLE;
        }
}

int kube_status_err(long http, const char *body, size_t len, const char *what, struct err *e)
{
        struct kube_status st;
        kube_status_parse(http, body, len, &st);
        const char *hint = "";
        if (http == 401)
                hint = " (the credentials were refused: check the kubeconfig user's token or "
                       "certificate)";
        /* A bare "HTTP 503" already says it; otherwise name the code once. */
        if (!strncmp(st.message, "HTTP ", 5))
                return err_set(e, kube_http_code(http), "%s: %s%s", what, st.message, hint);
        return err_set(e, kube_http_code(http), "%s: %s (HTTP %ld)%s", what, st.message, http,
                       hint);
}

int kube_retry_after_parse(const char *value, time_t now, long *ms)
{
        if (!value)
                return -1;
        while (isspace((unsigned char)*value))
                value++;
        size_t n = strlen(value);
        while (n && isspace((unsigned char)value[n - 1]))
                n--;
        if (!n || n > 64)
                return -1;
        char v[65];
        memcpy(v, value, n);
        v[n] = '\0';
        if (isdigit((unsigned char)v[0])) {
                char *end;
                errno = 0;
                unsigned long long s = strtoull(v, &end, 10);
                if (*end || errno)
                        return -1;
                if (s > 86400)
                        s = 86400;
                *ms = (long)s * 1000;
                return 0;
        }
        time_t t = curl_getdate(v, NULL);
        if (t == (time_t)-1)
                return -1;
        *ms = t > now ? (long)(t - now) * 1000 : 0;
        return 0;
}

/* ---- lines ----------------------------------------------------------- */

void kube_lines_init(struct kube_lines *l, size_t max)
{
        buf_init(&l->b, max);
        l->pos = 0;
}

void kube_lines_fini(struct kube_lines *l)
{
        buf_fini(&l->b);
        l->pos = 0;
}

void kube_lines_reset(struct kube_lines *l)
{
        buf_reset(&l->b);
        l->pos = 0;
}

size_t kube_lines_pending(const struct kube_lines *l)
{
        return l->b.len - l->pos;
}

int kube_lines_feed(struct kube_lines *l, const void *p, size_t n)
{
        /* Compact only here: pointers from kube_lines_next stay valid until now. */
        if (l->pos) {
                buf_consume(&l->b, l->pos);
                l->pos = 0;
        }
        return buf_append(&l->b, p, n);
}

bool kube_lines_has_line(const struct kube_lines *l)
{
        return l->b.len > l->pos && memchr(l->b.data + l->pos, '\n', l->b.len - l->pos);
}

bool kube_lines_next(struct kube_lines *l, const char **line, size_t *len)
{
        if (l->b.len <= l->pos)
                return false;
        char *start = l->b.data + l->pos;
        char *nl = memchr(start, '\n', l->b.len - l->pos);
        if (!nl)
                return false;
        size_t n = (size_t)(nl - start);
        l->pos += n + 1;
        if (n && start[n - 1] == '\r')
                n--;
        *line = start;
        *len = n;
        return true;
}

bool kube_lines_rest(struct kube_lines *l, const char **line, size_t *len)
{
        if (l->b.len <= l->pos)
                return false;
        *line = l->b.data + l->pos;
        *len = l->b.len - l->pos;
        l->pos = l->b.len;
        return true;
}
