/* What kind of release a bin script belongs to, read from the release itself. */
#include "release.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* relx's extended script is ~36 KB, mix's ~5 KB; a script larger than this is
 * read only this far, which is where the command dispatch of both sits. */
#define SCRIPT_MAX (256 * 1024)

/* Whether a line of a shell `case` is a label naming command cmd: "  start)",
 * "  console|console_clean|foreground)", "  \"eval\")". */
static bool label_has(const char *line, size_t n, const char *cmd)
{
        size_t i = 0, len = strlen(cmd);
        while (i < n && (line[i] == ' ' || line[i] == '\t'))
                i++;
        size_t end = i;
        while (end < n && line[end] != ')' && line[end] != '(' && line[end] != ' ' &&
               line[end] != '$')
                end++;
        if (end == i || end >= n || line[end] != ')')
                return false;
        while (i < end) {
                size_t j = i;
                while (j < end && line[j] != '|')
                        j++;
                size_t a = i, b = j;
                if (b - a >= 2 && line[a] == '"' && line[b - 1] == '"') {
                        a++;
                        b--;
                }
                if (b - a == len && memcmp(line + a, cmd, len) == 0)
                        return true;
                i = j + 1;
        }
        return false;
}

static bool script_has_command(const char *s, size_t n, const char *cmd)
{
        const char *p = s, *end = s + n;
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
                if (label_has(p, len, cmd))
                        return true;
                p += len + 1;
        }
        return false;
}

static int read_script(const char *path, char *buf, size_t cap, size_t *n, struct err *e)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return err_sys(e, ERR_SOFTWARE, "read release script '%s'", path);
        size_t got = 0;
        while (got < cap) {
                ssize_t r = read(fd, buf + got, cap - got);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0) {
                        err_sys(e, ERR_SOFTWARE, "read release script '%s'", path);
                        close(fd);
                        return -1;
                }
                if (r == 0)
                        break;
                got += (size_t)r;
        }
        close(fd);
        *n = got;
        return 0;
}

/* releases/start_erl.data: "ERTS_VSN REL_VSN", written by mix and relx alike. */
static void read_start_erl(const char *root, struct release_layout *l)
{
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/releases/start_erl.data", root) >= (int)sizeof path)
                return;
        FILE *f = fopen(path, "re");
        if (!f)
                return;
        char erts[sizeof l->erts_vsn], vsn[sizeof l->vsn];
        if (fscanf(f, "%31s %63s", erts, vsn) == 2) {
                memcpy(l->erts_vsn, erts, sizeof erts);
                memcpy(l->vsn, vsn, sizeof vsn);
        }
        fclose(f);
}

static bool has_elixir(const char *root)
{
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/lib", root) >= (int)sizeof path)
                return false;
        DIR *d = opendir(path);
        if (!d)
                return false;
        bool found = false;
        struct dirent *de;
        while (!found && (de = readdir(d)) != NULL)
                found = strncmp(de->d_name, "elixir-", 7) == 0;
        closedir(d);
        return found;
}

static bool is_dir(const char *root, const char *sub, const char *vsn)
{
        char path[PATH_MAX];
        struct stat st;
        if (snprintf(path, sizeof path, "%s/%s/%s", root, sub, vsn) >= (int)sizeof path)
                return false;
        return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

enum release_kind release_kind_of_script(const char *s, size_t n)
{
        /* relx: `start` is the deprecated alias of `daemon` (run_erl), the VM in
         * the foreground is `foreground`. mix: `start` is the foreground one and
         * there is no `foreground`. */
        if (script_has_command(s, n, "foreground") && script_has_command(s, n, "daemon"))
                return RELEASE_KIND_RELX;
        if (script_has_command(s, n, "start") && script_has_command(s, n, "start_iex") &&
            script_has_command(s, n, "rpc"))
                return RELEASE_KIND_MIX;
        return RELEASE_KIND_UNKNOWN;
}

int release_layout_read(const char *script, struct release_layout *out, struct err *e)
{
        static char buf[SCRIPT_MAX];
        struct release_layout l = {0};
        size_t n = 0;
        if (read_script(script, buf, sizeof buf, &n, e) < 0)
                return -1;
        l.kind = release_kind_of_script(buf, n);

        /* the release's root is the script's bin/.. */
        char root[PATH_MAX];
        size_t len = strlen(script);
        if (len >= sizeof root)
                return err_set(e, ERR_SOFTWARE, "release script path too long");
        memcpy(root, script, len + 1);
        for (int up = 0; up < 2; up++) {
                char *slash = strrchr(root, '/');
                if (!slash) { /* "live_stream" (run from bin/) or "bin" */
                        memcpy(root, up == 0 ? ".." : ".", up == 0 ? 3 : 2);
                        break;
                }
                if (slash == root) { /* "/live_stream" or "/bin" */
                        root[1] = '\0';
                        break;
                }
                *slash = '\0';
        }
        read_start_erl(root, &l);
        l.releases_dir = l.vsn[0] && is_dir(root, "releases", l.vsn);
        l.elixir = has_elixir(root);
        *out = l;
        return 0;
}

const char *release_kind_name(enum release_kind k)
{
        switch (k) {
        case RELEASE_KIND_MIX: return "mix release";
        case RELEASE_KIND_RELX: return "relx release";
        case RELEASE_KIND_UNKNOWN: break;
        }
        return "release of unknown kind";
}

const char *release_start_command(enum release_kind k)
{
        return k == RELEASE_KIND_RELX ? "foreground" : "start";
}
