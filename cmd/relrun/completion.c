/* relrun completion bash|zsh|fish: a shell completion script made from the
 * parser's own flag table (args.c), so it cannot drift from what relrun
 * accepts. zsh runs the bash function through bashcompinit. What only the
 * cluster knows (Job and CronJob names) and the kubeconfig's contexts come
 * from `relrun __complete WORDS...`, which fish and kubectl's plugin
 * completion (kubectl_complete-relrun) use for everything. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relrun.h"

static const enum relrun_cmd all_cmds[] = {
    CMD_RUN,     CMD_RENDER, CMD_LOGS,       CMD_WAIT, CMD_LIST,   CMD_CANCEL, CMD_CRON,
    CMD_VERSION, CMD_HELP,   CMD_COMPLETION, CMD_EVAL, CMD_REMOTE, CMD_CONFIG};
#define N_ALL (sizeof all_cmds / sizeof *all_cmds)

/* The -o values each command takes (the parser accepts the union). */
static const char *output_values(enum relrun_cmd c)
{
        switch (c) {
        case CMD_RUN: return "json text";
        case CMD_RENDER: return "yaml json";
        case CMD_LIST: return "json yaml name";
        case CMD_CRON: return "json yaml";
        default: return "json";
        }
}

/* Flags whose values are a fixed set. */
static const struct {
        const char *flag;
        const char *values;
} enums[] = {
    {"--inject", "init none"},
    {"--rpc", "auto dist script"},
    {"--lang", "erlang elixir"},
    {"--log-format", "json logfmt text gcp ecs datadog"},
    {"--cascade", "background foreground"},
    {"--concurrency-policy", "Allow Forbid Replace"},
    {"--pull-policy", "Always IfNotPresent Never"},
    {"--override-type", "merge strategic json"},
};

static void flag_words(enum relrun_cmd c, FILE *f)
{
        struct opts_flag fl[96];
        size_t n = opts_flags(c, fl, sizeof fl / sizeof *fl);
        for (size_t i = 0; i < n; i++) {
                if (fl[i].short_)
                        fprintf(f, "-%c ", fl[i].short_);
                fprintf(f, "--%s%s", fl[i].name, i + 1 < n ? " " : "");
        }
}

static void value_flags(FILE *f)
{
        /* cron takes every flag that has a value (the task's, the
         * schedule's, --timeout, --cascade, --summary-file). */
        struct opts_flag fl[96];
        size_t n = opts_flags(CMD_CRON, fl, sizeof fl / sizeof *fl);
        const char *sep = "";
        for (size_t i = 0; i < n; i++) {
                if (!fl[i].value)
                        continue;
                fprintf(f, "%s--%s", sep, fl[i].name);
                if (fl[i].short_)
                        fprintf(f, "|-%c", fl[i].short_);
                sep = "|";
        }
}

static void bash_script(FILE *f)
{
        fputs("# relrun bash completion: source <(relrun completion bash)\n"
              "_relrun()\n"
              "{\n"
              "    [ -n \"${ZSH_VERSION:-}\" ] && setopt localoptions ksharrays\n"
              "    local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"\" cmd=\"\"\n"
              "    local i npos=0 words\n"
              "    [ \"$COMP_CWORD\" -gt 0 ] && prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n"
              "    COMPREPLY=()\n"
              "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
              "        case \"${COMP_WORDS[i]}\" in\n"
              "        ",
              f);
        value_flags(f);
        fputs(") ((i++)) ;;\n"
              "        -*) ;;\n"
              "        *) if [ -z \"$cmd\" ]; then cmd=\"${COMP_WORDS[i]}\"; else npos=$((npos + "
              "1)); fi ;;\n"
              "        esac\n"
              "    done\n"
              "    case \"$prev\" in\n"
              "    -o|--output)\n"
              "        case \"$cmd\" in\n",
              f);
        for (size_t i = 0; i < N_ALL; i++)
                fprintf(f, "        %s) words=\"%s\" ;;\n", opts_cmd_name(all_cmds[i]),
                        output_values(all_cmds[i]));
        fputs("        *) words=\"json yaml text wide name\" ;;\n"
              "        esac\n"
              "        COMPREPLY=($(compgen -W \"$words\" -- \"$cur\")); return 0 ;;\n"
              "    --context|-n|--namespace)\n"
              "        words=$(\"${COMP_WORDS[0]}\" __complete \"${COMP_WORDS[@]:1:COMP_CWORD}\" "
              "2>/dev/null)\n"
              "        COMPREPLY=($(compgen -W \"$words\" -- \"$cur\")); return 0 ;;\n",
              f);
        for (size_t i = 0; i < sizeof enums / sizeof *enums; i++)
                fprintf(f, "    %s) COMPREPLY=($(compgen -W \"%s\" -- \"$cur\")); return 0 ;;\n",
                        enums[i].flag, enums[i].values);
        fputs(
            "    --kubeconfig|--summary-file) COMPREPLY=($(compgen -f -- \"$cur\")); return 0 ;;\n"
            "    ",
            f);
        value_flags(f);
        fputs(") return 0 ;;\n"
              "    esac\n"
              "    if [ -z \"$cmd\" ]; then\n"
              "        case \"$cur\" in\n"
              "        -*) words=\"",
              f);
        flag_words(CMD_NONE, f);
        fputs("\" ;;\n"
              "        *) words=\"",
              f);
        for (size_t i = 0; i < N_ALL; i++)
                fprintf(f, "%s%s", opts_cmd_name(all_cmds[i]), i + 1 < N_ALL ? " " : "");
        fputs("\" ;;\n"
              "        esac\n"
              "        COMPREPLY=($(compgen -W \"$words\" -- \"$cur\")); return 0\n"
              "    fi\n"
              "    case \"$cur\" in\n"
              "    -*)\n"
              "        case \"$cmd\" in\n",
              f);
        for (size_t i = 0; i < N_ALL; i++) {
                fprintf(f, "        %s) words=\"", opts_cmd_name(all_cmds[i]));
                flag_words(all_cmds[i], f);
                fputs("\" ;;\n", f);
        }
        fputs(
            "        *) words=\"\" ;;\n"
            "        esac\n"
            "        COMPREPLY=($(compgen -W \"$words\" -- \"$cur\")); return 0 ;;\n"
            "    esac\n"
            "    case \"$cmd\" in\n"
            "    logs|wait|cancel|eval|remote) words=$(\"${COMP_WORDS[0]}\" __complete "
            "\"${COMP_WORDS[@]:1:COMP_CWORD}\" 2>/dev/null) ;;\n"
            "    cron) if [ $npos -eq 0 ]; then\n"
            "            words=\"create render list history trigger suspend resume delete\"\n"
            "        else\n"
            "            words=$(\"${COMP_WORDS[0]}\" __complete \"${COMP_WORDS[@]:1:COMP_CWORD}\" "
            "2>/dev/null)\n"
            "        fi ;;\n"
            "    help) [ $npos -eq 0 ] && words=\"",
            f);
        for (size_t i = 0; i < N_ALL; i++)
                fprintf(f, "%s%s", opts_cmd_name(all_cmds[i]), i + 1 < N_ALL ? " " : "");
        fputs("\" ;;\n"
              "    completion) [ $npos -eq 0 ] && words=\"bash zsh fish\" ;;\n"
              "    esac\n"
              "    [ -n \"$words\" ] && COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
              "    return 0\n"
              "}\n",
              f);
}

/* ---- relrun __complete: the candidates for the last word ---------------- */

static bool takes_value(const char *w)
{
        static const enum relrun_cmd every[] = {CMD_NONE, CMD_RUN,  CMD_RENDER, CMD_LOGS,
                                                CMD_WAIT, CMD_LIST, CMD_CANCEL, CMD_CRON};
        if (!strcmp(w, "-n") || !strcmp(w, "-o"))
                return true;
        if (strncmp(w, "--", 2) || strchr(w, '='))
                return false;
        for (size_t k = 0; k < sizeof every / sizeof *every; k++) {
                struct opts_flag fl[96];
                size_t n = opts_flags(every[k], fl, sizeof fl / sizeof *fl);
                for (size_t i = 0; i < n; i++)
                        if (fl[i].value && !strcmp(fl[i].name, w + 2))
                                return true;
        }
        return false;
}

static void put_if(FILE *out, const char *cand, size_t len, const char *cur)
{
        if (len >= strlen(cur) && !strncmp(cand, cur, strlen(cur)))
                fprintf(out, "%.*s\n", (int)len, cand);
}

/* Each space-separated word of list that starts with cur. */
static void put_words(FILE *out, const char *list, const char *cur)
{
        for (const char *p = list; *p;) {
                size_t n = strcspn(p, " ");
                if (n)
                        put_if(out, p, n, cur);
                p += n;
                p += strspn(p, " ");
        }
}

/* The names of what relrun manages at a list path (jobs, cronjobs), or of
 * every namespace: a quick GET, silently nothing on any error. */
static void put_names(const struct opts *o, const char *what, const char *cur, FILE *out)
{
        struct conn k;
        struct err e;
        err_clear(&e);
        if (conn_open(o, &k, &e) < 0)
                return;
        struct buf p;
        buf_init(&p, 4096);
        int rc = 0;
        if (!strcmp(what, "namespaces")) {
                rc = buf_puts(&p, "/api/v1/namespaces");
        } else {
                rc |= buf_puts(&p, "/apis/batch/v1/namespaces/");
                rc |= kube_query_escape(&p, k.ns);
                rc |= buf_printf(&p, "/%s?labelSelector=", what);
                rc |= kube_query_escape(&p, "app.kubernetes.io/managed-by=relrun");
        }
        struct json_object *list = NULL, *items;
        if (rc == 0 && kube_request(k.c, "GET", buf_str(&p), NULL, what, &list, NULL, &e) == 0 &&
            list && json_object_object_get_ex(list, "items", &items)) {
                for (size_t i = 0; i < json_object_array_length(items); i++) {
                        struct json_object *it = json_object_array_get_idx(items, i), *md, *nm;
                        if (json_object_object_get_ex(it, "metadata", &md) &&
                            json_object_object_get_ex(md, "name", &nm))
                                put_if(out, json_object_get_string(nm),
                                       (size_t)json_object_get_string_len(nm), cur);
                }
        }
        json_object_put(list);
        buf_fini(&p);
        conn_close(&k);
}

static void put_contexts(const struct opts *o, const char *cur, FILE *out)
{
        struct kubeconfig_opts ko = {.kubeconfig = o->kubeconfig};
        struct buf names;
        buf_init(&names, 1u << 16);
        struct err e;
        if (kubeconfig_context_names(&ko, &names, &e) == 0)
                for (const char *p = buf_str(&names); *p;) {
                        size_t n = strcspn(p, "\n");
                        put_if(out, p, n, cur);
                        p += n + (p[n] == '\n');
                }
        buf_fini(&names);
}

int completion_complete(int n, char **w, FILE *out)
{
        static const char *const actions =
            "create render list history trigger suspend resume delete";
        const char *cur = n ? w[n - 1] : "";
        struct opts o;
        memset(&o, 0, sizeof o);
        o.request_timeout_ms = 3000; /* a shell waits for this */
        o.ttl_ms = OPTS_TTL_UNSET;
        enum relrun_cmd cmd = CMD_NONE;
        const char *cmd_name = NULL;
        const char *pos[8];
        size_t npos = 0;
        const char *prev = NULL;
        for (int i = 0; i < n - 1; i++) {
                const char *a = w[i];
                if (a[0] == '-' && a[1]) {
                        if (takes_value(a) && i + 1 < n - 1) {
                                const char *v = w[++i];
                                if (!strcmp(a, "-n") || !strcmp(a, "--namespace"))
                                        o.namespace_ = v;
                                else if (!strcmp(a, "--context"))
                                        o.context = v;
                                else if (!strcmp(a, "--kubeconfig"))
                                        o.kubeconfig = v;
                        } else if (takes_value(a)) {
                                prev = a; /* its value is the word being completed */
                        }
                        continue;
                }
                if (!cmd_name) {
                        cmd_name = a;
                        for (size_t k = 0; k < N_ALL; k++)
                                if (!strcmp(a, opts_cmd_name(all_cmds[k])))
                                        cmd = all_cmds[k];
                } else if (npos < 8) {
                        pos[npos++] = a;
                }
        }
        if (prev) {
                if (!strcmp(prev, "-o") || !strcmp(prev, "--output"))
                        put_words(out, output_values(cmd), cur);
                else if (!strcmp(prev, "--context"))
                        put_contexts(&o, cur, out);
                else if (!strcmp(prev, "-n") || !strcmp(prev, "--namespace"))
                        put_names(&o, "namespaces", cur, out);
                for (size_t k = 0; k < sizeof enums / sizeof *enums; k++)
                        if (!strcmp(prev, enums[k].flag))
                                put_words(out, enums[k].values, cur);
                return 0;
        }
        if (cur[0] == '-') {
                struct opts_flag fl[96];
                size_t nf = opts_flags(cmd, fl, sizeof fl / sizeof *fl);
                for (size_t i = 0; i < nf; i++) {
                        char word[64];
                        snprintf(word, sizeof word, "--%s", fl[i].name);
                        put_if(out, word, strlen(word), cur);
                }
                return 0;
        }
        if (!cmd_name) {
                for (size_t k = 0; k < N_ALL; k++)
                        put_if(out, opts_cmd_name(all_cmds[k]), strlen(opts_cmd_name(all_cmds[k])),
                               cur);
                return 0;
        }
        switch (cmd) {
        case CMD_LOGS:
        case CMD_WAIT:
        case CMD_EVAL:
        case CMD_REMOTE:
                if (npos == 0)
                        put_names(&o, "jobs", cur, out);
                break;
        case CMD_CANCEL: put_names(&o, "jobs", cur, out); break;
        case CMD_CRON:
                if (npos == 0)
                        put_words(out, actions, cur);
                else if (npos == 1 && strcmp(pos[0], "create") && strcmp(pos[0], "render") &&
                         strcmp(pos[0], "list"))
                        put_names(&o, "cronjobs", cur, out);
                break;
        case CMD_HELP:
                if (npos == 0)
                        for (size_t k = 0; k < N_ALL; k++)
                                put_if(out, opts_cmd_name(all_cmds[k]),
                                       strlen(opts_cmd_name(all_cmds[k])), cur);
                break;
        case CMD_COMPLETION:
                if (npos == 0)
                        put_words(out, "bash zsh fish", cur);
                break;
        default: break;
        }
        return 0;
}

/* fish asks relrun itself for every word: one rule, no table to keep. */
static void fish_script(FILE *f)
{
        fputs("# relrun fish completion: relrun completion fish | source\n"
              "function __relrun_complete\n"
              "    set -l words (commandline -opc) (commandline -ct)\n"
              "    $words[1] __complete $words[2..-1] 2>/dev/null\n"
              "end\n"
              "complete -c relrun -f -a '(__relrun_complete)'\n"
              "complete -c kubectl-relrun -f -a '(__relrun_complete)'\n",
              f);
}

int cmd_completion(const struct opts *o, struct err *e)
{
        const char *shell = o->pos[0];
        if (!strcmp(shell, "bash")) {
                bash_script(stdout);
                fputs("complete -F _relrun relrun kubectl-relrun\n", stdout);
                return 0;
        }
        if (!strcmp(shell, "zsh")) {
                fputs("#compdef relrun kubectl-relrun\n"
                      "# relrun zsh completion: source <(relrun completion zsh)\n"
                      "autoload -U +X bashcompinit && bashcompinit\n",
                      stdout);
                bash_script(stdout);
                fputs("complete -F _relrun relrun kubectl-relrun\n", stdout);
                return 0;
        }
        if (!strcmp(shell, "fish")) {
                fish_script(stdout);
                return 0;
        }
        err_set(e, ERR_USAGE, "completion: \"%s\": expected bash, zsh or fish", shell);
        return ERR_USAGE;
}
