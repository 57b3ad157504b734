/* defaults: relrun's settings files, read with libyaml.
 *
 *   relrun.yaml                 a project's, found in the current directory or
 *                               the nearest parent (as git finds .git)
 *   $XDG_CONFIG_HOME/relrun/config.yaml   the user's ($HOME/.config when
 *                               XDG_CONFIG_HOME is unset)
 *
 * A file is one YAML mapping. Its keys are relrun's long flag names; a value
 * is a scalar, a list of scalars (a repeatable flag given several times) or a
 * mapping of scalars (KEY=VALUE flags: env, label, annotation,
 * node-selector). The key "contexts" maps kubeconfig context names to
 * mappings of the same kind, used only when that context is the one in use:
 *
 *   image: ghcr.io/acme/my_app:1.4.0
 *   release: /app/bin/my_app
 *   env: {POOL_SIZE: "2"}
 *   contexts:
 *     prod:
 *       namespace: streams
 *       node-selector: [pool=encoders]
 *
 * This module reads the structure; which keys exist and what their values
 * mean is the coordinator's (cmd/relrun). */
#ifndef RELRUN_DEFAULTS_H
#define RELRUN_DEFAULTS_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define DEFAULTS_PROJECT_FILE "relrun.yaml"

struct defaults_entry {
        char *key;   /* the flag's long name, as written */
        char **vals; /* n values; a mapping's items as "key=value" */
        size_t n;
        bool list;     /* written as a list or mapping, not one scalar */
        int line;      /* 1-based line of the key */
        char *context; /* NULL: top level; else the contexts: section */
};

struct defaults_file {
        char *path;
        struct defaults_entry *ents; /* in file order */
        size_t n;
};

/* Parse text (len bytes) read from path (used in messages). On success *out
 * is a new file for defaults_free. Errors are ERR_CONFIG naming the file and
 * line, e.g. "relrun.yaml:4: \"env\": a value is a scalar, a list or a
 * mapping of scalars"; "relrun.yaml:7: \"image\" is given twice (first on line 2)". */
int defaults_parse(const char *path, const char *text, size_t len, struct defaults_file **out,
                   struct err *e);

/* Read and parse the file at path. A missing file is not an error: *out is
 * NULL and 0 is returned. Unreadable files are ERR_CONFIG. */
int defaults_load(const char *path, struct defaults_file **out, struct err *e);

/* Free f and everything it owns; NULL is a no-op. */
void defaults_free(struct defaults_file *f);

/* The first relrun.yaml in dir or a parent of it (dir absolute): 1 with its
 * path in out, 0 when there is none (or it does not fit in n bytes). */
int defaults_find_project(const char *dir, char *out, size_t n);

/* The user's file from the values of XDG_CONFIG_HOME and HOME (either may be
 * NULL or empty; a relative XDG_CONFIG_HOME is ignored, as the XDG spec says):
 * 1 with the path in out, 0 when neither gives one. */
int defaults_user_path(const char *xdg_config_home, const char *home, char *out, size_t n);

/* The current-context of a kubeconfig file (its top-level key), into out: 1
 * when the file sets one, 0 when it does not or cannot be read. Nothing else
 * of the file is looked at (no credentials, no exec plugins). */
int defaults_kubeconfig_context(const char *path, char *out, size_t n);

#endif
