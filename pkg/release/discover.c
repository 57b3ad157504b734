/* Discovery of the node's name, host and cookie from the started VM. */
#include "release.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void copy(char *dst, size_t cap, const char *s, size_t n)
{
        if (n >= cap)
                n = cap - 1;
        memcpy(dst, s, n);
        dst[n] = '\0';
}

/* NAME or NAME@HOST into the alive and host parts. */
static void set_node(struct release_vm *vm, const char *v)
{
        const char *at = strchr(v, '@');
        copy(vm->name, sizeof vm->name, v, at ? (size_t)(at - v) : strlen(v));
        if (at)
                copy(vm->host, sizeof vm->host, at + 1, strlen(at + 1));
        else
                vm->host[0] = '\0';
}

void release_vm_parse(const char *cmdline, size_t n, const char *environ, size_t en,
                      struct release_vm *out)
{
        struct release_vm vm = {0};
        /* one argument at a time; a flag's value is the next argument */
        const char *prev = NULL;
        for (size_t i = 0; i < n;) {
                const char *a = cmdline + i;
                size_t l = strnlen(a, n - i);
                i += l + 1;
                if (l == 0)
                        continue;
                if (strcmp(a, "-extra") == 0)
                        break;
                if (prev) {
                        if (!strcmp(prev, "-name") || !strcmp(prev, "-sname")) {
                                vm.distributed = true;
                                vm.longnames = prev[1] == 'n';
                                set_node(&vm, a);
                        } else if (!strcmp(prev, "-setcookie")) {
                                vm.have_cookie = true;
                                copy(vm.cookie, sizeof vm.cookie, a, l);
                        } else if (!strcmp(prev, "-epmd_module") && strcmp(a, "erl_epmd") != 0) {
                                vm.no_epmd = true;
                        } else if (!strcmp(prev, "-dist_listen")) {
                                vm.no_listen |= !strcmp(a, "false");
                        } else if (!strcmp(prev, "-boot")) {
                                /* relx's script asks an erl of its own (no name)
                                 * for the ERTS root and version: not the node */
                                vm.no_listen |= !strcmp(a, "no_dot_erlang");
                        }
                        prev = NULL;
                        /* a flag's value is not a flag itself */
                        continue;
                }
                if (!strcmp(a, "-name") || !strcmp(a, "-sname") || !strcmp(a, "-setcookie") ||
                    !strcmp(a, "-epmd_module") || !strcmp(a, "-dist_listen") || !strcmp(a, "-boot"))
                        prev = a;
        }
        for (size_t i = 0; environ && i < en;) {
                const char *kv = environ + i;
                size_t l = strnlen(kv, en - i);
                i += l + 1;
                if (!strncmp(kv, "RELEASE_DISTRIBUTION=", 21))
                        vm.dist_none = !strcmp(kv + 21, "none");
                else if (!strncmp(kv, "RELEASE_COOKIE=", 15) && !vm.have_cookie && kv[15]) {
                        vm.have_cookie = true;
                        copy(vm.cookie, sizeof vm.cookie, kv + 15, l - 15);
                } else if (!strncmp(kv, "RELEASE_NODE=", 13))
                        copy(vm.release_node, sizeof vm.release_node, kv + 13, l - 13);
                else if (!strncmp(kv, "ERL_EPMD_PORT=", 14))
                        vm.epmd_port = atoi(kv + 14);
                else if (!strncmp(kv, "HOME=", 5))
                        copy(vm.home, sizeof vm.home, kv + 5, l - 5);
        }
        *out = vm;
}

bool release_is_beam(const char *cmdline, size_t n)
{
        size_t l = strnlen(cmdline, n);
        const char *slash = memrchr(cmdline, '/', l);
        const char *base = slash ? slash + 1 : cmdline;
        return strncmp(base, "beam", 4) == 0;
}

/* Read a /proc file whole (up to cap bytes); returns its length or -1. */
static ssize_t slurp(const char *path, char *buf, size_t cap)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        size_t got = 0;
        while (got < cap) {
                ssize_t r = read(fd, buf + got, cap - got);
                if (r <= 0)
                        break;
                got += (size_t)r;
        }
        close(fd);
        return (ssize_t)got;
}

ssize_t release_beam_cmdline(pid_t pid, char *cmd, size_t cap)
{
        /* the executable first: once it is the emulator the exec is done and
         * the command line read after it is the VM's own, not the one of the
         * program it replaced (erlexec's, with no -sname: a race once gave 78) */
        char path[64], exe[4096];
        snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
        ssize_t el = readlink(path, exe, sizeof exe - 1);
        snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
        ssize_t n = slurp(path, cmd, cap);
        if (n <= 0)
                return -1;
        if (release_is_beam(cmd, (size_t)n))
                return n;
        /* relx's erlexec gives the VM its script's name as argv[0]
         * (bin/<app>): the executable itself says it is the emulator */
        if (el <= 0)
                return 0;
        exe[el] = '\0';
        return release_is_beam(exe, (size_t)el) ? n : 0;
}

/* The process group of pid, from /proc/PID/stat (field 5, after the
 * parenthesised command, which may itself hold spaces or parentheses). */
static pid_t pgrp_of(pid_t pid)
{
        char path[64], st[1024];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        ssize_t n = slurp(path, st, sizeof st - 1);
        if (n <= 0)
                return -1;
        st[n] = '\0';
        char *rp = strrchr(st, ')');
        int ppid, pgrp;
        char state;
        if (!rp || sscanf(rp + 1, " %c %d %d", &state, &ppid, &pgrp) != 3)
                return -1;
        return pgrp;
}

static int try_pid(pid_t pid, struct release_vm *out)
{
        static char cmd[256 * 1024], env[256 * 1024];
        char path[64];
        ssize_t n = release_beam_cmdline(pid, cmd, sizeof cmd);
        if (n <= 0)
                return 0;
        snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
        ssize_t en = slurp(path, env, sizeof env);
        struct release_vm vm;
        release_vm_parse(cmd, (size_t)n, en > 0 ? env : NULL, en > 0 ? (size_t)en : 0, &vm);
        if (vm.no_listen)
                return 0; /* a helper of the script's, not the release's node */
        *out = vm;
        return 1;
}

int release_vm_find(pid_t pid, pid_t *vm_pid, struct release_vm *out)
{
        if (try_pid(pid, out)) {
                *vm_pid = pid;
                return 1;
        }
        DIR *d = opendir("/proc");
        if (!d)
                return 0;
        struct dirent *de;
        int found = 0;
        while (!found && (de = readdir(d))) {
                if (!isdigit((unsigned char)de->d_name[0]))
                        continue;
                pid_t p = (pid_t)atoi(de->d_name);
                if (p != pid && pgrp_of(p) == pid && try_pid(p, out)) {
                        *vm_pid = p;
                        found = 1;
                }
        }
        closedir(d);
        return found;
}

int release_vm_args_read(const char *script, struct release_vm *out)
{
        struct release_layout l;
        struct err e;
        if (release_layout_read(script, &l, &e) < 0 || !l.vsn[0])
                return 0;
        /* the root is the script's bin/.. */
        char path[4096];
        snprintf(path, sizeof path, "%s", script);
        for (int i = 0; i < 2; i++) {
                char *slash = strrchr(path, '/');
                if (slash)
                        *slash = '\0';
                else
                        snprintf(path, sizeof path, "%s", i == 0 ? ".." : ".");
        }
        size_t pl = strlen(path);
        if (snprintf(path + pl, sizeof path - pl, "/releases/%s/vm.args", l.vsn) >=
            (int)(sizeof path - pl))
                return 0;
        /* relx writes it to $RELX_OUT_FILE_PATH instead when that is a directory */
        const char *outdir = getenv("RELX_OUT_FILE_PATH");
        struct stat st;
        if (outdir && *outdir && stat(outdir, &st) == 0 && S_ISDIR(st.st_mode) &&
            snprintf(path, sizeof path, "%s/vm.args", outdir) >= (int)sizeof path)
                return 0;
        static char text[64 * 1024], args[64 * 1024];
        ssize_t n = slurp(path, text, sizeof text - 1);
        if (n <= 0)
                return 0;
        text[n] = '\0';
        /* one flag and its value a line; # starts a comment */
        size_t an = 0;
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
                char *hash = strchr(line, '#');
                if (hash)
                        *hash = '\0';
                for (char *w = line; *w;) {
                        while (*w == ' ' || *w == '\t' || *w == '\r')
                                w++;
                        size_t wl = strcspn(w, " \t\r");
                        if (wl == 0)
                                break;
                        if (an + wl + 1 > sizeof args)
                                return 0;
                        memcpy(args + an, w, wl);
                        an += wl;
                        args[an++] = '\0';
                        w += wl;
                }
        }
        release_vm_parse(args, an, NULL, 0, out);
        return 1;
}
