/* relrun eval / remote: reach the node of a running task through the API's
 * pods/exec. Debian's libcurl 7.88 has no WebSocket client, so the exec
 * itself is `kubectl exec` (found on PATH, or $RELRUN_KUBECTL), given the
 * same kubeconfig, context and namespace relrun resolved. In the pod the
 * command is the task container's own relrun-pod: `--eval` connects to the
 * node over distribution (no second BEAM), `--remote` opens the release's
 * remote console. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "relrun.h"

#define TASK_CONTAINER "task"

static const char *str_of(struct json_object *o, const char *key)
{
        struct json_object *v;
        return o && json_object_object_get_ex(o, key, &v) &&
                       json_object_is_type(v, json_type_string)
                   ? json_object_get_string(v)
                   : NULL;
}

static struct json_object *obj_of(struct json_object *o, const char *key)
{
        struct json_object *v;
        return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static struct json_object *task_container(struct json_object *pod)
{
        struct json_object *cs = obj_of(obj_of(pod, "spec"), "containers");
        for (size_t i = 0; cs && i < json_object_array_length(cs); i++) {
                struct json_object *c = json_object_array_get_idx(cs, i);
                const char *n = str_of(c, "name");
                if (n && !strcmp(n, TASK_CONTAINER))
                        return c;
        }
        return NULL;
}

/* "running", or the state the task container is in ("waiting: ...",
 * "terminated: exit 3"), into out. */
static bool task_running(struct json_object *pod, char *out, size_t n)
{
        const char *phase = str_of(obj_of(pod, "status"), "phase");
        struct json_object *cs = obj_of(obj_of(pod, "status"), "containerStatuses");
        for (size_t i = 0; cs && i < json_object_array_length(cs); i++) {
                struct json_object *c = json_object_array_get_idx(cs, i);
                const char *nm = str_of(c, "name");
                if (!nm || strcmp(nm, TASK_CONTAINER))
                        continue;
                struct json_object *st = obj_of(c, "state"), *v;
                if ((v = obj_of(st, "running"))) {
                        snprintf(out, n, "running");
                        return true;
                }
                if ((v = obj_of(st, "terminated"))) {
                        snprintf(out, n, "phase %s, the task exited with %d",
                                 phase ? phase : "unknown",
                                 json_object_get_int(obj_of(v, "exitCode")));
                        return false;
                }
                if ((v = obj_of(st, "waiting"))) {
                        const char *r = str_of(v, "reason");
                        snprintf(out, n, "phase %s, the task is waiting: %s",
                                 phase ? phase : "unknown", r ? r : "unknown");
                        return false;
                }
        }
        snprintf(out, n, "phase %s, the task has not started", phase ? phase : "unknown");
        return false;
}

static int get_obj(struct conn *k, const char *path, const char *what, struct json_object **out,
                   bool *missing, struct err *e)
{
        *missing = false;
        struct err ge;
        err_clear(&ge);
        if (kube_request(k->c, "GET", path, NULL, what, out, NULL, &ge) == 0)
                return 0;
        if (strstr(ge.msg, "not found")) {
                *missing = true;
                return 0;
        }
        *e = ge;
        return -1;
}

/* The pod named target, or the running (else newest) pod of the Job named
 * target. *pod is the caller's. */
static int find_pod(struct conn *k, const char *cmd, const char *target, struct json_object **pod,
                    struct err *e)
{
        struct buf p;
        buf_init(&p, 1024);
        bool missing;
        int rc = -1;
        struct json_object *list = NULL;
        if (buf_puts(&p, "/api/v1/namespaces/") < 0 || kube_query_escape(&p, k->ns) < 0 ||
            buf_puts(&p, "/pods/") < 0 || kube_query_escape(&p, target) < 0)
                goto oom;
        if (get_obj(k, buf_str(&p), "get pod", pod, &missing, e) < 0)
                goto out;
        if (!missing) {
                rc = 0;
                goto out;
        }
        buf_reset(&p);
        if (buf_puts(&p, "/api/v1/namespaces/") < 0 || kube_query_escape(&p, k->ns) < 0 ||
            buf_puts(&p, "/pods?labelSelector=batch.kubernetes.io%2Fjob-name%3D") < 0 ||
            kube_query_escape(&p, target) < 0)
                goto oom;
        if (kube_request(k->c, "GET", buf_str(&p), NULL, "list pods", &list, NULL, e) < 0)
                goto out;
        struct json_object *items = obj_of(list, "items"), *best = NULL;
        const char *best_at = NULL;
        bool best_running = false;
        for (size_t i = 0; items && i < json_object_array_length(items); i++) {
                struct json_object *it = json_object_array_get_idx(items, i);
                char st[160];
                bool running = task_running(it, st, sizeof st);
                const char *at = str_of(obj_of(it, "metadata"), "creationTimestamp");
                if (!best || (running && !best_running) ||
                    (running == best_running && at && best_at && strcmp(at, best_at) > 0)) {
                        best = it;
                        best_at = at;
                        best_running = running;
                }
        }
        if (best) {
                *pod = json_object_get(best);
                rc = 0;
                goto out;
        }
        err_set(e, ERR_NOTFOUND, "%s: no job or pod named \"%s\" in namespace %s", cmd, target,
                k->ns);
        goto out;
oom:
        err_set(e, ERR_SOFTWARE, "out of memory");
out:
        json_object_put(list);
        buf_fini(&p);
        return rc;
}

/* The task container's relrun-pod (command[0]) and the release it runs
 * (the value after --release in its args). */
static int pod_task(const char *cmd, struct json_object *pod, const char **relrun_pod,
                    const char **release, struct err *e)
{
        const char *name = str_of(obj_of(pod, "metadata"), "name");
        struct json_object *c = task_container(pod);
        struct json_object *command = obj_of(c, "command"), *args = obj_of(c, "args");
        if (!c || !command || !json_object_array_length(command))
                return err_set(e, ERR_USAGE,
                               "%s: pod/%s has no \"task\" container started by relrun-pod "
                               "(not made by relrun?)",
                               cmd, name ? name : "?");
        *relrun_pod = json_object_get_string(json_object_array_get_idx(command, 0));
        *release = NULL;
        for (size_t i = 0; args && i + 1 < json_object_array_length(args); i++) {
                const char *a = json_object_get_string(json_object_array_get_idx(args, i));
                if (!strcmp(a, "--"))
                        break;
                if (!strcmp(a, "--release"))
                        *release = json_object_get_string(json_object_array_get_idx(args, i + 1));
        }
        return 0;
}

/* name, or the first executable PATH entry of that name. */
static bool executable(const char *name)
{
        if (strchr(name, '/'))
                return access(name, X_OK) == 0;
        const char *path = getenv("PATH");
        for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
                size_t n = strcspn(p, ":");
                char full[4096];
                if (n &&
                    snprintf(full, sizeof full, "%.*s/%s", (int)n, p, name) < (int)sizeof full &&
                    access(full, X_OK) == 0)
                        return true;
                p += n + (p[n] == ':');
        }
        return false;
}

/* Run kubectl with argv (NULL-terminated) and wait; returns its exit code,
 * which kubectl exec makes the remote command's. */
static int run_kubectl(const char *cmd, char **argv, struct err *e)
{
        if (!executable(argv[0]))
                return err_set(e, ERR_CONFIG,
                               "cannot run \"%s\": relrun %s runs `kubectl exec` (install "
                               "kubectl or set RELRUN_KUBECTL)",
                               argv[0], cmd);
        pid_t pid = fork();
        if (pid < 0)
                return err_sys(e, ERR_SOFTWARE, "fork");
        if (pid == 0) {
                execvp(argv[0], argv);
                _exit(127);
        }
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return err_sys(e, ERR_SOFTWARE, "wait for kubectl");
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return WEXITSTATUS(status);
}

static int exec_task(const struct opts *o, bool remote, struct err *e)
{
        const char *cmd = remote ? "remote" : "eval";
        if (o->n_pos != (remote ? 1u : 2u))
                return err_set(e, ERR_USAGE, "%s: expected %s", cmd,
                               remote ? "JOB or POD" : "JOB or POD and EXPR");
        const char *target = o->pos[0];
        struct conn k;
        if (conn_open(o, &k, e) < 0)
                return fail(e);
        struct json_object *pod = NULL;
        const char *relrun_pod = NULL, *release = NULL;
        int rc = -1;
        char state[200];
        if (find_pod(&k, cmd, target, &pod, e) < 0 ||
            pod_task(cmd, pod, &relrun_pod, &release, e) < 0)
                goto out;
        const char *pod_name = str_of(obj_of(pod, "metadata"), "name");
        if (!task_running(pod, state, sizeof state)) {
                err_set(e, ERR_UNAVAILABLE, "%s: pod/%s is not running (%s)", cmd, pod_name, state);
                goto out;
        }
        const char *kubectl = getenv("RELRUN_KUBECTL");
        char *argv[32];
        size_t n = 0;
        argv[n++] = (char *)(kubectl && *kubectl ? kubectl : "kubectl");
        if (o->kubeconfig) {
                argv[n++] = "--kubeconfig";
                argv[n++] = (char *)o->kubeconfig;
        }
        if (o->context) {
                argv[n++] = "--context";
                argv[n++] = (char *)o->context;
        }
        argv[n++] = "--namespace";
        argv[n++] = (char *)k.ns;
        argv[n++] = "exec";
        if (remote)
                argv[n++] = "-it";
        argv[n++] = (char *)pod_name;
        argv[n++] = "--container";
        argv[n++] = TASK_CONTAINER;
        argv[n++] = "--";
        argv[n++] = (char *)relrun_pod;
        if (release) {
                argv[n++] = "--release";
                argv[n++] = (char *)release;
        }
        argv[n++] = remote ? "--remote" : "--eval";
        if (!remote)
                argv[n++] = (char *)o->pos[1];
        argv[n] = NULL;
        fflush(stdout);
        rc = run_kubectl(cmd, argv, e);
out:
        json_object_put(pod);
        conn_close(&k);
        return rc < 0 ? fail(e) : rc;
}

int cmd_eval(const struct opts *o, struct err *e)
{
        return exec_task(o, false, e);
}

int cmd_remote(const struct opts *o, struct err *e)
{
        return exec_task(o, true, e);
}
