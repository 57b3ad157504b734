/* relrun: the outcome of run / wait / cron trigger for machines — one JSON
 * object (the last stdout line with -o json, --summary-file) and GitHub
 * Actions' error annotation. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "logline.h"
#include "relrun.h"

void summary_init(struct summary *s)
{
        memset(s, 0, sizeof *s);
        s->duration_ms = -1;
}

void summary_fini(struct summary *s)
{
        free(s->expr);
        s->expr = NULL;
        json_object_put(s->indexes);
        s->indexes = NULL;
}

void summary_finish(struct summary *s, int rc, const struct err *e)
{
        if (s->set)
                return;
        s->exit_code = rc;
        if (rc == 0)
                s->phase = "succeeded";
        else if (rc == ERR_TIMEOUT && s->job[0])
                s->phase = "timeout"; /* wait --timeout: the Job goes on */
        else if (rc > 128 && rc < 128 + 65)
                s->phase = "interrupted";
        else
                s->phase = "error";
        if (rc == ERR_TIMEOUT && s->job[0])
                s->failed_phase = "deadline";
        /* "job/X: " unless the message names the Job itself already */
        char named[260];
        snprintf(named, sizeof named, "job/%.253s", s->job);
        bool prefix = s->job[0] && !strstr(e->msg, named);
        snprintf(s->line, sizeof s->line, "%s%.253s%s%.900s", prefix ? "job/" : "",
                 prefix ? s->job : "", prefix && e->msg[0] ? ": " : "", e->msg);
        s->set = true;
}

static void add_str(struct json_object *o, const char *k, const char *v)
{
        /* o owns the new string; json null when unknown */
        json_object_object_add(o, k, v && *v ? json_object_new_string(v) : NULL);
}

char *summary_json(const struct summary *s)
{
        struct json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        add_str(o, "relrun", "summary");
        add_str(o, "job", s->job);
        add_str(o, "namespace", s->namespace_);
        add_str(o, "pod", s->pod);
        add_str(o, "phase", s->phase);
        add_str(o, "failed_phase", s->failed_phase);
        json_object_object_add(o, "exit_code", json_object_new_int(s->exit_code));
        json_object_object_add(o, "duration_ms",
                               s->duration_ms >= 0 ? json_object_new_int64(s->duration_ms) : NULL);
        add_str(o, "return", s->ret);
        add_str(o, "expr", s->expr);
        add_str(o, "cause", s->cause);
        add_str(o, "message", s->line);
        if (s->indexes) /* a reference for o; s keeps its own */
                json_object_object_add(o, "indexes", json_object_get(s->indexes));
        const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        char *out = t ? strdup(t) : NULL;
        json_object_put(o);
        return out;
}

int summary_write_file(const char *path, const char *text, struct err *e)
{
        size_t n = strlen(path);
        char *tmp = malloc(n + 32);
        if (!tmp)
                return err_set(e, ERR_SOFTWARE, "out of memory");
        /* Beside the target, so that rename() stays on one file system and a
         * reader sees the old file or the whole new one, never half of it. */
        snprintf(tmp, n + 32, "%s.tmp.%ld", path, (long)getpid());
        FILE *f = fopen(tmp, "w");
        int rc = -1;
        if (!f) {
                err_sys(e, ERR_CONFIG, "--summary-file: create '%s'", tmp);
                goto out;
        }
        bool ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
        ok = (fflush(f) == 0) && ok;
        ok = (fsync(fileno(f)) == 0) && ok;
        if (fclose(f) != 0 || !ok) {
                err_sys(e, ERR_CONFIG, "--summary-file: write '%s'", tmp);
                unlink(tmp);
                goto out;
        }
        if (rename(tmp, path) < 0) {
                err_sys(e, ERR_CONFIG, "--summary-file: rename '%s' to '%s'", tmp, path);
                int saved = errno;
                unlink(tmp);
                errno = saved;
                goto out;
        }
        rc = 0;
out:
        free(tmp);
        return rc;
}

void summary_github_error(const char *line, FILE *f)
{
        /* The cause and the return are the pod's text: control sequences shown,
         * never obeyed (logline_text_safe), then the workflow-command data
         * escapes for %, CR and LF. */
        struct buf safe;
        buf_init(&safe, 16 * 1024);
        if (logline_text_safe(&safe, line, strlen(line)) == 0)
                line = buf_str(&safe);
        else
                line = "(the message could not be shown)";
        fputs("::error title=relrun::", f);
        for (const char *p = line; *p; p++) {
                if (*p == '%')
                        fputs("%25", f);
                else if (*p == '\r')
                        fputs("%0D", f);
                else if (*p == '\n')
                        fputs("%0A", f);
                else
                        fputc(*p, f);
        }
        fputc('\n', f);
        buf_fini(&safe);
}
