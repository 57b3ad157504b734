/* relrun-pod --eval / --remote, run by `kubectl exec` next to the task's
 * relrun-pod. The task's VM is found the way the task's relrun-pod finds it
 * (its command line and environment, release_vm_parse), but by walking
 * /proc: we are not its parent. --eval calls the node as a hidden C node
 * (pkg/dist), so no second BEAM starts; --remote execs the release's own
 * remote console with the node's name and cookie in its environment. */
#include "attach.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "codec.h"
#include "dist.h"
#include "err.h"
#include "proc.h"
#include "release.h"

#define CONNECT_TIMEOUT_MS 5000
#define OUTPUT_MAX         (1024 * 1024)

struct attach_opts {
        const char *release;
        const char *cookie_file;
        const char *expr; /* --eval */
        const char *lang; /* --lang erlang|elixir; NULL: from the release */
        pid_t vm_pid;     /* --vm-pid: the task's relrun-pod knows it (--on-term) */
        bool remote;
};

bool attach_wanted(int argc, char **argv)
{
        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--"))
                        return false;
                if (!strcmp(argv[i], "--eval") || !strncmp(argv[i], "--eval=", 7) ||
                    !strcmp(argv[i], "--remote"))
                        return true;
        }
        return false;
}

static int usage(const char *what, const char *a)
{
        fprintf(stderr, "relrun-pod: %s%s\n", what, a);
        return ERR_USAGE;
}

static int parse(int argc, char **argv, struct attach_opts *o)
{
        const char *env = getenv("RELRUN_RELEASE");
        *o = (struct attach_opts){.release = env && *env ? env : NULL};
        const char *vm_pid = NULL;
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                const char **dst = NULL;
                if (!strcmp(a, "--remote")) {
                        o->remote = true;
                        continue;
                }
                const char *eq = strchr(a, '=');
                size_t nl = eq ? (size_t)(eq - a) : strlen(a);
                if (nl == 6 && !strncmp(a, "--eval", 6))
                        dst = &o->expr;
                else if (nl == 9 && !strncmp(a, "--release", 9))
                        dst = &o->release;
                else if (nl == 13 && !strncmp(a, "--cookie-file", 13))
                        dst = &o->cookie_file;
                else if (nl == 8 && !strncmp(a, "--vm-pid", 8))
                        dst = &vm_pid;
                else if (nl == 6 && !strncmp(a, "--lang", 6))
                        dst = &o->lang;
                else
                        return usage("--eval/--remote takes --release PATH, --cookie-file PATH "
                                     "and --lang erlang|elixir, not: ",
                                     a);
                if (eq)
                        *dst = eq + 1;
                else if (i + 1 < argc)
                        *dst = argv[++i];
                else
                        return usage("needs a value: ", a);
        }
        if (vm_pid) {
                char *end;
                long v = strtol(vm_pid, &end, 10);
                if (*end || v <= 0)
                        return usage("--vm-pid: expected a process id, not ", vm_pid);
                o->vm_pid = (pid_t)v;
        }
        if (o->lang && strcmp(o->lang, "erlang") != 0 && strcmp(o->lang, "elixir") != 0)
                return usage("--lang: expected erlang or elixir, not ", o->lang);
        if (o->remote && o->expr)
                return usage("--eval and --remote exclude each other", "");
        if (o->expr && !*o->expr)
                return usage("--eval: the expression is empty", "");
        return 0;
}

/* ---- finding the task's VM ---- */

static ssize_t slurp(const char *path, char *b, size_t cap)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        size_t got = 0;
        ssize_t r;
        while (got < cap && (r = proc_read(fd, b + got, cap - got)) > 0)
                got += (size_t)r;
        close(fd);
        return (ssize_t)got;
}

/* The value after flag among the VM's own arguments (before -extra). */
static const char *vm_arg(const char *cmd, size_t n, const char *flag, bool *present)
{
        *present = false;
        for (size_t i = 0; i < n;) {
                const char *a = cmd + i;
                size_t l = strnlen(a, n - i);
                i += l + 1;
                if (!strcmp(a, "-extra"))
                        break;
                if (!strcmp(a, flag)) {
                        *present = true;
                        return i < n ? cmd + i : NULL;
                }
        }
        return NULL;
}

static const char *env_of(const char *env, size_t n, const char *name)
{
        size_t nl = strlen(name);
        for (size_t i = 0; i < n;) {
                const char *kv = env + i;
                size_t l = strnlen(kv, n - i);
                i += l + 1;
                if (l > nl && !strncmp(kv, name, nl) && kv[nl] == '=')
                        return kv + nl + 1;
        }
        return NULL;
}

/* <root> of <root>/bin/NAME, resolved; "" when it cannot be. */
static void release_root(const char *release, char *out, size_t n)
{
        char path[PATH_MAX];
        out[0] = '\0';
        if (!release || !realpath(release, path))
                return;
        for (int i = 0; i < 2; i++) {
                char *slash = strrchr(path, '/');
                if (!slash)
                        return;
                *slash = '\0';
        }
        snprintf(out, n, "%s", path[0] ? path : "/");
}

/* True when pid's parent is a relrun-pod (the task's: it starts the VM). */
static bool child_of_relrun_pod(pid_t pid)
{
        char path[64], st[1024], cmd[4096];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        ssize_t n = slurp(path, st, sizeof st - 1);
        if (n <= 0)
                return false;
        st[n] = '\0';
        char *rp = strrchr(st, ')');
        char state;
        int ppid;
        if (!rp || sscanf(rp + 1, " %c %d", &state, &ppid) != 2)
                return false;
        snprintf(path, sizeof path, "/proc/%d/cmdline", ppid);
        n = slurp(path, cmd, sizeof cmd - 1);
        if (n <= 0)
                return false;
        cmd[n] = '\0';
        const char *base = strrchr(cmd, '/');
        return strncmp(base ? base + 1 : cmd, "relrun-pod", 10) == 0;
}

/* The task's VM: a distributed BEAM that is not a hidden helper (rpc,
 * remote console), of this container (the same $HOSTNAME: the simulator
 * runs every pod on one host) and of this release (-root); one a
 * relrun-pod started before any other; then the oldest. only, when not 0,
 * is the one pid to look at. Returns its pid, 0 when none; *vm filled. */
static pid_t find_task_vm(const char *release, pid_t only, struct release_vm *vm, int *beams)
{
        static char cmd[256 * 1024], env[256 * 1024];
        char root[PATH_MAX], path[64];
        release_root(release, root, sizeof root);
        const char *host = getenv("HOSTNAME");
        pid_t best = 0;
        bool best_ours = false;
        *beams = 0;
        DIR *d = opendir("/proc");
        if (!d)
                return 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!isdigit((unsigned char)de->d_name[0]))
                        continue;
                pid_t pid = (pid_t)atoi(de->d_name);
                if (only && pid != only)
                        continue;
                ssize_t n = release_beam_cmdline(pid, cmd, sizeof cmd);
                if (n <= 0)
                        continue;
                bool hidden, remsh, has_root;
                vm_arg(cmd, (size_t)n, "-hidden", &hidden);
                vm_arg(cmd, (size_t)n, "-remsh", &remsh);
                if (hidden || remsh)
                        continue;
                snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
                ssize_t en = slurp(path, env, sizeof env);
                if (en < 0)
                        en = 0;
                const char *theirs = env_of(env, (size_t)en, "HOSTNAME");
                /* the runtime gives every process of a container its
                 * HOSTNAME; a VM without it is not of this one */
                if (host && *host && (!theirs || strcmp(theirs, host) != 0))
                        continue;
                const char *r = vm_arg(cmd, (size_t)n, "-root", &has_root);
                char rr[PATH_MAX];
                if (root[0] && r && realpath(r, rr) && strcmp(rr, root) != 0)
                        continue;
                (*beams)++;
                struct release_vm v;
                release_vm_parse(cmd, (size_t)n, en ? env : NULL, (size_t)en, &v);
                if (v.no_listen)
                        continue; /* a helper VM of the bin script's (relx), not the node */
                bool ours = child_of_relrun_pod(pid);
                if (!best || (ours && !best_ours) || (ours == best_ours && pid < best)) {
                        best = pid;
                        best_ours = ours;
                        *vm = v;
                }
        }
        closedir(d);
        return best;
}

static void hostname(char *out, size_t n, bool full)
{
        char h[256] = "localhost";
        gethostname(h, sizeof h - 1);
        h[sizeof h - 1] = '\0';
        if (!full)
                h[strcspn(h, ".")] = '\0';
        snprintf(out, n, "%s", h);
}

static int read_cookie(const char *path, char *out, size_t n)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        ssize_t r = proc_read(fd, out, n - 1);
        close(fd);
        if (r <= 0)
                return -1;
        out[r] = '\0';
        out[strcspn(out, "\r\n \t")] = '\0';
        return out[0] ? 0 : -1;
}

struct node {
        pid_t pid;
        char name[256], host[256], full[600];
        bool longnames;
        char cookie[256]; /* never printed */
};

/* The task's node, its name and cookie, as the task's relrun-pod learns
 * them. Returns 0, or an exit code with the message printed. */
static int discover(const struct attach_opts *o, const char *mode, struct node *nd)
{
        struct release_vm vm;
        int beams;
        nd->pid = find_task_vm(o->release, o->vm_pid, &vm, &beams);
        if (!nd->pid) {
                fprintf(stderr,
                        "relrun-pod %s: no task node in this container: no running BEAM of the "
                        "release%s%s (the task has not started its release yet, or it has "
                        "finished)\n",
                        mode, o->release ? " " : "", o->release ? o->release : "");
                return ERR_NOTFOUND;
        }
        if (vm.dist_none || !vm.distributed) {
                fprintf(stderr,
                        "relrun-pod %s: the task's node (pid %d) runs without distribution "
                        "(%s): it cannot be reached\n",
                        mode, (int)nd->pid,
                        vm.dist_none ? "RELEASE_DISTRIBUTION=none" : "no -name or -sname");
                return ERR_CONFIG;
        }
        if (vm.no_epmd) {
                fprintf(stderr,
                        "relrun-pod %s: the task's node does not register with EPMD "
                        "(-epmd_module): it cannot be reached\n",
                        mode);
                return ERR_CONFIG;
        }
        snprintf(nd->name, sizeof nd->name, "%s", vm.name);
        if (vm.host[0])
                snprintf(nd->host, sizeof nd->host, "%s", vm.host);
        else
                hostname(nd->host, sizeof nd->host, vm.longnames);
        nd->longnames = vm.longnames;
        snprintf(nd->full, sizeof nd->full, "%s@%s", nd->name, nd->host);
        if (vm.epmd_port > 0) {
                char port[16];
                snprintf(port, sizeof port, "%d", vm.epmd_port);
                setenv("ERL_EPMD_PORT", port, 1);
        }
        /* the same order as the task's relrun-pod: --cookie-file, what the VM
         * was given, its ~/.erlang.cookie, $RELEASE_COOKIE, releases/COOKIE */
        char path[PATH_MAX + 32];
        const char *env = getenv("RELEASE_COOKIE");
        nd->cookie[0] = '\0';
        if (o->cookie_file) {
                if (read_cookie(o->cookie_file, nd->cookie, sizeof nd->cookie) < 0) {
                        fprintf(stderr, "relrun-pod %s: cannot read the cookie file '%s'\n", mode,
                                o->cookie_file);
                        return ERR_CONFIG;
                }
        } else if (vm.have_cookie) {
                snprintf(nd->cookie, sizeof nd->cookie, "%s", vm.cookie);
        } else if (vm.home[0] && (snprintf(path, sizeof path, "%s/.erlang.cookie", vm.home),
                                  read_cookie(path, nd->cookie, sizeof nd->cookie) == 0)) {
        } else if (env && *env) {
                snprintf(nd->cookie, sizeof nd->cookie, "%s", env);
        } else {
                char root[PATH_MAX];
                release_root(o->release, root, sizeof root);
                snprintf(path, sizeof path, "%s/releases/COOKIE", root);
                if (!root[0] || read_cookie(path, nd->cookie, sizeof nd->cookie) < 0) {
                        fprintf(stderr,
                                "relrun-pod %s: no cookie for node '%s': the VM was given none "
                                "and there is no $RELEASE_COOKIE or releases/COOKIE (use "
                                "--cookie-file)\n",
                                mode, nd->full);
                        return ERR_CONFIG;
                }
        }
        return 0;
}

/* ---- --eval ---- */

/* Erlang unless told or the release has Elixir in its lib/ (as the task). */
static bool erlang_expr(const struct attach_opts *o)
{
        if (o->lang)
                return strcmp(o->lang, "erlang") == 0;
        struct release_layout l;
        struct err e;
        return o->release && release_layout_read(o->release, &l, &e) == 0 &&
               l.kind != RELEASE_KIND_UNKNOWN && !l.elixir;
}

static int eval(const struct attach_opts *o)
{
        struct node nd;
        int rc = discover(o, "--eval", &nd);
        if (rc)
                return rc;
        struct err e;
        err_clear(&e);
        int port = 0;
        int r = release_epmd_registered(nd.name, &port, &e);
        if (r != 1) {
                fprintf(stderr,
                        "relrun-pod --eval: node '%s' is not reachable: %s (the task is still "
                        "booting, or its VM is stopping)\n",
                        nd.full, r < 0 ? e.msg : "it is not registered with EPMD");
                return ERR_UNAVAILABLE;
        }
        struct dist_conn *c = NULL;
        bool rejected = false;
        if (dist_connect(nd.host, port, nd.cookie, CONNECT_TIMEOUT_MS, &c, &rejected, &e) < 0) {
                memset(nd.cookie, 0, sizeof nd.cookie);
                fprintf(stderr, "relrun-pod --eval: node '%s' is not reachable: %s\n", nd.full,
                        e.msg);
                return rejected ? ERR_CONFIG : ERR_UNAVAILABLE;
        }
        memset(nd.cookie, 0, sizeof nd.cookie);
        /* the program (pkg/release/relrun_eval.erl) runs the expression and
         * captures its output; the expression and our name travel as values */
        const char *self = dist_self(c);
        struct dist_arg args[] = {
            {.key = "expr", .s = o->expr, .len = strlen(o->expr)},
            {.key = "lang", .is_int = true, .n = erlang_expr(o) ? 1 : 0},
            {.key = "output_max", .is_int = true, .n = OUTPUT_MAX},
            {.key = "peer", .s = self, .len = strlen(self)},
        };
        if (dist_run_program(c, release_eval_src, release_eval_src_len, args,
                             sizeof args / sizeof *args, &e) < 0) {
                fprintf(stderr, "relrun-pod --eval: node '%s': %s\n", nd.full, e.msg);
                rc = ERR_UNAVAILABLE;
                goto out;
        }
        static struct dist_reply rep;
        for (;;) {
                struct pollfd pf = {.fd = dist_fd(c), .events = POLLIN};
                if (poll(&pf, 1, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        rc = ERR_SOFTWARE;
                        break;
                }
                if (dist_receive(c, &rep, &e) < 0) {
                        fflush(stdout);
                        fprintf(stderr,
                                "relrun-pod --eval: node '%s' went away during the eval (%s): "
                                "the task's VM stopped or was killed\n",
                                nd.full, e.msg);
                        rc = ERR_KILLED;
                        break;
                }
                bool done = true;
                switch (rep.kind) {
                case DIST_NOTHING:
                case DIST_READY:
                case DIST_NOT_READY: done = false; break;
                case DIST_OUTPUT:
                        fwrite(rep.text, 1, rep.text_len, stdout);
                        done = false;
                        break;
                case DIST_OK:
                        printf("%s%s\n", rep.value, rep.truncated ? " ...(cut)" : "");
                        rc = 0;
                        break;
                case DIST_EXIT:
                        fflush(stdout);
                        fprintf(stderr, "relrun-pod --eval: exit({:shutdown, %d})\n", rep.code);
                        rc = rep.code;
                        break;
                case DIST_RAISE:
                        fflush(stdout);
                        fprintf(stderr, "%s\n", rep.text);
                        rc = ERR_TASK;
                        break;
                case DIST_BADRPC:
                        fflush(stdout);
                        fprintf(stderr, "relrun-pod --eval: the call failed on node '%s': %s\n",
                                nd.full, rep.text);
                        rc = ERR_SOFTWARE;
                        break;
                }
                if (done)
                        break;
        }
out:
        fflush(stdout);
        dist_close(c);
        return rc;
}

/* ---- --remote ---- */

static int remote(const struct attach_opts *o)
{
        if (!o->release) {
                fprintf(stderr, "relrun-pod --remote: no release given: pass --release "
                                "/app/bin/NAME or set RELRUN_RELEASE\n");
                return ERR_USAGE;
        }
        struct node nd;
        int rc = discover(o, "--remote", &nd);
        if (rc)
                return rc;
        struct release_layout l;
        struct err e;
        if (release_layout_read(o->release, &l, &e) < 0) {
                fprintf(stderr, "relrun-pod --remote: %s\n", e.msg);
                return ERR_CONFIG;
        }
        /* the console's own hidden node finds the task's by these, whatever
         * the release's env.sh would have guessed in this shell */
        setenv("RELEASE_NODE", nd.full, 1);
        setenv("RELEASE_DISTRIBUTION", nd.longnames ? "name" : "sname", 1);
        setenv("RELEASE_COOKIE", nd.cookie, 1);
        memset(nd.cookie, 0, sizeof nd.cookie);
        char *cmd = l.kind == RELEASE_KIND_RELX ? "remote_console" : "remote";
        char *argv[] = {(char *)o->release, cmd, NULL};
        fflush(stdout);
        execv(o->release, argv);
        fprintf(stderr, "relrun-pod --remote: cannot run '%s %s': %s\n", o->release, cmd,
                strerror(errno));
        return ERR_SOFTWARE;
}

int attach_main(int argc, char **argv)
{
        struct attach_opts o;
        int rc = parse(argc, argv, &o);
        if (rc)
                return rc;
        return o.remote ? remote(&o) : eval(&o);
}
