/* relrun: run release tasks as Kubernetes Jobs (also `kubectl relrun`).
 * main: parse -> help? -> signals -> libcurl -> the subcommand -> exit code. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "relrun.h"

int cmd_run(const struct opts *o, struct err *e);
int cmd_render(const struct opts *o, struct err *e);
int cmd_logs(const struct opts *o, struct err *e);
int cmd_wait(const struct opts *o, struct err *e);
int cmd_list(const struct opts *o, struct err *e);
int cmd_cancel(const struct opts *o, struct err *e);
int cmd_version(const struct opts *o, struct err *e);
int cmd_cron(const struct opts *o, struct err *e);

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
        default: return 0;
        }
}

static int help(const struct opts *o)
{
        enum relrun_cmd topic = o->cmd;
        if (o->cmd == CMD_HELP && o->n_pos) {
                static const enum relrun_cmd all[] = {CMD_RUN,  CMD_RENDER, CMD_LOGS,    CMD_WAIT,
                                                      CMD_LIST, CMD_CANCEL, CMD_VERSION, CMD_CRON};
                topic = CMD_NONE;
                for (size_t i = 0; i < sizeof all / sizeof *all; i++)
                        if (!strcmp(o->pos[0], opts_cmd_name(all[i])))
                                topic = all[i];
        }
        opts_help(topic == CMD_HELP ? CMD_NONE : topic, stdout);
        return 0;
}

int main(int argc, char **argv)
{
        struct opts o;
        struct err e;
        err_clear(&e);

        if (opts_parse(argc, argv, &o, &e) < 0) {
                fprintf(stderr, "relrun: %s\n", e.msg);
                return e.code;
        }
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
        fflush(stdout);
        return rc;
}
