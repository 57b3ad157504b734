/* relrun: run release tasks as Kubernetes Jobs (also `kubectl relrun`).
 * main: parse -> help? -> signals -> libcurl -> the subcommand -> exit code. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "relrun.h"

static void on_signal(int sig)
{
        relrun_interrupted = sig;
}

/* SIGINT/SIGTERM only set a flag; the follow loop looks at it every poll. */
static void setup_signals(void)
{
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
}

static int dispatch(const struct opts *o, struct err *e)
{
        switch (o->cmd) {
        case CMD_RUN: return cmd_run(o, e);
        case CMD_RENDER: return cmd_render(o, e);
        case CMD_LOGS: return cmd_logs(o, e);
        case CMD_WAIT: return cmd_wait(o, e);
        case CMD_LIST: return cmd_list(o, e);
        case CMD_CANCEL: return cmd_cancel(o, e);
        case CMD_VERSION: return cmd_version(o, e);
        case CMD_CRON: return cmd_cron(o, e);
        case CMD_COMPLETION: return cmd_completion(o, e);
        case CMD_EVAL: return cmd_eval(o, e);
        case CMD_REMOTE: return cmd_remote(o, e);
        default: return 0;
        }
}

static int help(const struct opts *o)
{
        enum relrun_cmd topic = o->cmd;
        if (o->cmd == CMD_HELP && o->n_pos) {
                static const enum relrun_cmd all[] = {
                    CMD_RUN,     CMD_RENDER, CMD_LOGS,       CMD_WAIT, CMD_LIST,  CMD_CANCEL,
                    CMD_VERSION, CMD_CRON,   CMD_COMPLETION, CMD_EVAL, CMD_REMOTE};
                topic = CMD_NONE;
                for (size_t i = 0; i < sizeof all / sizeof *all; i++)
                        if (!strcmp(o->pos[0], opts_cmd_name(all[i])))
                                topic = all[i];
        }
        opts_help(topic == CMD_HELP ? CMD_NONE : topic, stdout);
        return 0;
}

static bool github_actions(void)
{
        const char *v = getenv("GITHUB_ACTIONS");
        return v && !strcmp(v, "true");
}

/* run, wait and cron trigger follow a task and have a summary. */
static bool follows(const struct opts *o)
{
        return o->cmd == CMD_RUN || o->cmd == CMD_WAIT ||
               (o->cmd == CMD_CRON && o->n_pos && !strcmp(o->pos[0], "trigger"));
}

/* The machine-readable ends of a run: the JSON summary as the last stdout
 * line (-o json), --summary-file, and GitHub's error annotation. */
static int finish(const struct opts *o, struct summary *s, int rc, struct err *e)
{
        if (!follows(o)) {
                if (rc != 0 && github_actions())
                        summary_github_error(e->msg, stdout);
                return rc;
        }
        summary_finish(s, rc, e);
        if (rc != 0 && github_actions()) {
                char line[1400];
                snprintf(line, sizeof line, "%s%s%s", s->line, s->expr ? " -- expr: " : "",
                         s->expr ? s->expr : "");
                summary_github_error(line, stdout);
        }
        char *json = summary_json(s);
        if (!json) {
                fprintf(stderr, "relrun: summary: out of memory\n");
                return rc ? rc : ERR_SOFTWARE;
        }
        if (o->output && !strcmp(o->output, "json") && !(o->detach && rc == 0))
                printf("%s\n", json);
        if (o->summary_file) {
                struct err we;
                err_clear(&we);
                if (summary_write_file(o->summary_file, json, &we) < 0) {
                        fprintf(stderr, "relrun: %s\n", we.msg);
                        rc = rc ? rc : we.code;
                }
        }
        free(json);
        return rc;
}

int main(int argc, char **argv)
{
        struct opts o;
        struct err e;
        struct summary sum;
        err_clear(&e);
        summary_init(&sum);

        if (opts_parse(argc, argv, &o, &e) < 0) {
                fprintf(stderr, "relrun: %s\n", e.msg);
                if (github_actions())
                        summary_github_error(e.msg, stdout);
                return e.code;
        }
        o.sum = &sum;
        if (o.cmd == CMD_WAIT && o.n_pos)
                snprintf(sum.job, sizeof sum.job, "%s", o.pos[0]);
        if (o.help || o.cmd == CMD_HELP)
                return help(&o);
        if (o.cmd == CMD_NONE) {
                opts_help(CMD_NONE, stderr);
                return ERR_USAGE;
        }

        /* Task logs stream: a line reaches a pipe (CI, tee) when it happens. */
        setvbuf(stdout, NULL, _IOLBF, 0);
        setup_signals();
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                fprintf(stderr, "relrun: cannot initialise libcurl\n");
                return ERR_SOFTWARE;
        }
        int rc = dispatch(&o, &e);
        curl_global_cleanup();

        if (e.msg[0])
                fprintf(stderr, "relrun: %s\n", e.msg);
        rc = finish(&o, &sum, rc, &e);
        summary_fini(&sum);
        fflush(stdout);
        return rc;
}
