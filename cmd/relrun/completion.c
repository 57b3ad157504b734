/* relrun completion bash|zsh: a shell completion script made from the
 * parser's own flag table (args.c), so it cannot drift from what relrun
 * accepts. zsh runs the bash function through bashcompinit. */
#include <stdio.h>
#include <string.h>

#include "relrun.h"

static const enum relrun_cmd all_cmds[] = {CMD_RUN,  CMD_RENDER,     CMD_LOGS, CMD_WAIT,
                                           CMD_LIST, CMD_CANCEL,     CMD_CRON, CMD_VERSION,
                                           CMD_HELP, CMD_COMPLETION, CMD_EVAL, CMD_REMOTE};
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
    {"--rpc", "script dist"},
    {"--log-format", "json logfmt text"},
    {"--cascade", "background foreground"},
    {"--concurrency-policy", "Allow Forbid Replace"},
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
        fputs("        *) words=\"\" ;;\n"
              "        esac\n"
              "        COMPREPLY=($(compgen -W \"$words\" -- \"$cur\")); return 0 ;;\n"
              "    esac\n"
              "    case \"$cmd\" in\n"
              "    cron) [ $npos -eq 0 ] && words=\"create render list history trigger suspend "
              "resume "
              "delete\" ;;\n"
              "    help) [ $npos -eq 0 ] && words=\"",
              f);
        for (size_t i = 0; i < N_ALL; i++)
                fprintf(f, "%s%s", opts_cmd_name(all_cmds[i]), i + 1 < N_ALL ? " " : "");
        fputs("\" ;;\n"
              "    completion) [ $npos -eq 0 ] && words=\"bash zsh\" ;;\n"
              "    esac\n"
              "    [ -n \"$words\" ] && COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
              "    return 0\n"
              "}\n",
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
        err_set(e, ERR_USAGE, "completion: \"%s\": expected bash or zsh", shell);
        return ERR_USAGE;
}
