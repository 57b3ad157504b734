/* err: the error detail every fallible relrun function fills in.
 *
 * Functions return 0 on success and -1 on error; the detail goes into a
 * caller-supplied struct err. Callers may prefix context on the way up:
 * "load kubeconfig '/x': line 12: unknown key". */
#ifndef RELRUN_ERR_H
#define RELRUN_ERR_H

#include <stddef.h>

/* The exit codes of DESIGN.md; a library classifies, cmd/ exits. */
enum err_code {
        ERR_OK = 0,
        ERR_TASK = 1,         /* the task itself failed */
        ERR_USAGE = 64,       /* bad flag, bad expression */
        ERR_NOTFOUND = 66,    /* the named Job, CronJob or namespace does not exist */
        ERR_UNAVAILABLE = 69, /* API unreachable or failing after retries */
        ERR_SOFTWARE = 70,    /* release failed to start or become ready; internal */
        ERR_EXISTS = 73,      /* an object of that name exists already */
        ERR_KILLED = 75,      /* killed from outside */
        ERR_NOPERM = 77,      /* authentication or authorisation refused */
        ERR_CONFIG = 78,      /* kubeconfig, missing context */
        ERR_TIMEOUT = 124,    /* a deadline passed */
};

#define ERR_MSG_MAX 1024

struct err {
        int code;      /* enum err_code, or a task's own exit code */
        int sys_errno; /* errno at the failure, 0 if none */
        char msg[ERR_MSG_MAX];
};

/* Reset to "no error". */
void err_clear(struct err *e);

/* Set code and message (printf-style); clears sys_errno. Always returns -1 so
 * callers can write `return err_set(e, ERR_CONFIG, "...")`. e may be NULL. */
int err_set(struct err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Like err_set, appending ": <strerror(errno)>" and recording errno. errno is
 * preserved across the call. Returns -1. */
int err_sys(struct err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefix the message with context and ": ". Keeps code and errno. Returns -1. */
int err_prefix(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
