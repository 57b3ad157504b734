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
        case CMD_CONFIG: return cmd_config(o, e);
        default: return 0;
        }
}

static int help(const struct opts *o)
{
        enum relrun_cmd topic = o->cmd;
        if (o->cmd == CMD_HELP && o->n_pos) {
                static const enum relrun_cmd all[] = {
                    CMD_RUN,     CMD_RENDER, CMD_LOGS,       CMD_WAIT, CMD_LIST,   CMD_CANCEL,
                    CMD_VERSION, CMD_CRON,   CMD_COMPLETION, CMD_EVAL, CMD_REMOTE, CMD_CONFIG};
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
 * line (-o json), --summary-file, and GitHub's error annotation (on stderr,
 * which the runner reads too, so that a step sending the task's log on
 * stdout to a file still shows it). */
static int finish(const struct opts *o, struct summary *s, int rc, struct err *e)
{
        if (!follows(o)) {
                if (rc != 0 && github_actions())
                        summary_github_error(e->msg, stderr);
                return rc;
        }
        summary_finish(s, rc, e);
        if (rc != 0 && github_actions()) {
                char line[1400];
                snprintf(line, sizeof line, "%s%s%s", s->line, s->expr ? " -- expr: " : "",
                         s->expr ? s->expr : "");
                summary_github_error(line, stderr);
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

/* `relrun __complete WORDS...` (the shells' scripts) and kubectl's plugin
 * completion, which runs kubectl_complete-relrun WORDS... and reads cobra's
 * format: the candidates, then ":4" (no file names). */
static int complete(int argc, char **argv)
{
        const char *base = strrchr(argv[0], '/');
        base = base ? base + 1 : argv[0];
        bool kubectl = !strcmp(base, "kubectl_complete-relrun");
        if (!kubectl && (argc < 2 || strcmp(argv[1], "__complete")))
                return -1;
        int skip = kubectl ? 1 : 2;
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return 0;
        completion_complete(argc - skip, argv + skip, stdout);
        curl_global_cleanup();
        if (kubectl)
                puts(":4");
        return 0;
}

int main(int argc, char **argv)
{
        struct opts o;
        struct err e;
        struct summary sum;
        err_clear(&e);
        summary_init(&sum);

        int crc = complete(argc, argv);
        if (crc >= 0)
                return crc;
        opts_set_prog(argv[0]);
        if (opts_parse(argc, argv, &o, &e) < 0) {
                fprintf(stderr, "relrun: ");
                opts_fputs(e.msg, stderr);
                fputc('\n', stderr);
                if (github_actions())
                        summary_github_error(e.msg, stderr);
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

        if (e.msg[0]) {
                fputs("relrun: ", stderr);
                opts_fputs(e.msg, stderr); /* "(relrun logs X -f)" as the user calls it */
                fputc('\n', stderr);
        }
        rc = finish(&o, &sum, rc, &e);
        summary_fini(&sum);
        fflush(stdout);
        return rc;
}
