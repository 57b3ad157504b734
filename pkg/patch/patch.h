/* patch: change a JSON document the three ways `kubectl run --overrides`
 * (with --override-type) can, on json-c objects:
 *
 *   merge      RFC 7386 JSON merge patch: objects merge key by key, null
 *              removes a key, anything else (arrays too) replaces
 *   strategic  Kubernetes' strategic merge for the pod-template fields that
 *              matter: like merge, but the lists containers, initContainers,
 *              ephemeralContainers, volumes, env, imagePullSecrets (by
 *              "name"), volumeMounts (by "mountPath") and ports (by
 *              "containerPort") merge item by item; an item with
 *              "$patch": "delete" removes its namesake; an object with
 *              "$patch": "replace" replaces instead of merging
 *   json       RFC 6902 JSON patch: a list of add, remove, replace, move,
 *              copy and test operations on RFC 6901 pointers */
#ifndef RELRUN_PATCH_H
#define RELRUN_PATCH_H

#include <json-c/json.h>

#include "err.h"

enum patch_type {
        PATCH_MERGE,
        PATCH_STRATEGIC,
        PATCH_JSON,
};

/* "merge", "strategic" or "json" into *out. Returns 0, or -1 with ERR_USAGE. */
int patch_type_parse(const char *name, enum patch_type *out, struct err *e);

/* Apply patch (borrowed) to *doc. On success *doc is the patched document
 * (possibly a new object; the old one is released) and owned by the caller as
 * before; on error *doc is unchanged (JSON patch is all or nothing). Errors
 * are ERR_USAGE naming what failed, e.g.
 *   operation 2 (remove "/spec/x"): "x" not found
 *   a JSON patch is a list of operations, got an object */
int patch_apply(json_object **doc, enum patch_type type, json_object *patch, struct err *e);

/* Parse text as JSON and apply it. ERR_USAGE "not JSON: <reason> at byte N"
 * for text that does not parse. */
int patch_apply_text(json_object **doc, enum patch_type type, const char *text, struct err *e);

#endif
