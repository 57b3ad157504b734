/* podopts: relrun-pod's command line, parsed into a struct (no printing). */
#ifndef RELRUN_PODOPTS_H
#define RELRUN_PODOPTS_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "logline.h"

enum podopts_rpc { PODOPTS_RPC_AUTO, PODOPTS_RPC_SCRIPT, PODOPTS_RPC_DIST };

/* The task's language: auto (Erlang when the release has no Elixir in lib/). */
enum podopts_lang { PODOPTS_LANG_AUTO, PODOPTS_LANG_ELIXIR, PODOPTS_LANG_ERLANG };

struct podopts {
        const char *release;         /* path to bin/<app> */
        const char *expr;            /* the task */
        const char *ready_expr;      /* NULL or an expression */
        const char *app_format;      /* NULL = Elixir's default console format */
        const char *termination_log; /* NULL = none */
        const char *install_dest;    /* --install DEST: copy ourselves, nothing else */
        const char *cookie_file;     /* NULL: $RELEASE_COOKIE, else releases/COOKIE */
        const char *start_command;   /* NULL: by the release's kind (podopts_start_command) */
        const char *on_term;         /* NULL or the drain hook run on SIGTERM */
        int64_t ready_timeout_ms;    /* default 120 s */
        int64_t grace_ms;            /* default 30 s */
        int error_exit;              /* 0 = {:error, _} is a success */
        enum logline_out log_format; /* default json */
        enum podopts_rpc rpc;
        bool fast_stop;     /* --stop fast (default) or sigterm */
        bool normalise;     /* --normalise: stdin to uniform events, nothing else */
        bool indexed;       /* --indexed: one expression per Job completion index */
        const char *each;   /* --each JSON_ARRAY: the items; expr is the $item template */
        char *const *exprs; /* --indexed: the expressions after "--" */
        int n_exprs;
        int index; /* --indexed: the one picked (podopts_pick_index) */
        enum podopts_lang lang;
        bool help;
        bool version;
};

/* Parse argv (argv[0] skipped). Flags take "--flag value" or "--flag=value";
 * the expression is the one argument after "--" or the only positional one.
 * env_release is $RELRUN_RELEASE (default for --release), may be NULL.
 * ERR_USAGE with a message naming the flag on error. Strings point into argv. */
int podopts_parse(int argc, char **argv, const char *env_release, struct podopts *o, struct err *e);

/* --indexed: pick the expression of env_index ($JOB_COMPLETION_INDEX) into
 * o->expr and o->index. ERR_CONFIG when it is unset or not one of them.
 * --each: the expressions are made first from the template and the items
 * (pkg/expr expr_each, as relrun render --each makes them; they live until
 * the process ends); ERR_USAGE when the template or the items are bad. */
int podopts_pick_index(struct podopts *o, const char *env_index, bool erlang, struct err *e);

/* The bin script command that starts the release in the foreground:
 * --start-command if given, else by the release's kind (relx: foreground,
 * mix and anything else: start). kind gets a phrase for the log ("relx
 * release", "--start-command"). Reads the release's bin script. */
const char *podopts_start_command(const struct podopts *o, const char **kind);

/* The --help text. */
extern const char podopts_usage[];

#endif
