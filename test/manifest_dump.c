/* manifest_dump: a test-only driver for pkg/manifest. Builds one Job or
 * CronJob from its flags and prints it as JSON or YAML; on error prints the
 * message and exits with its code. Used by test/it_manifest_schema.py. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"
#include "manifest.h"

#define LIST_MAX 32

static void add(const char **list, size_t *n, const char *v)
{
        if (*n + 1 < LIST_MAX) {
                list[(*n)++] = v;
                list[*n] = NULL;
        }
}

int main(int argc, char **argv)
{
        static const struct option longopts[] = {
            {"image", 1, 0, 'i'},
            {"release", 1, 0, 'r'},
            {"namespace", 1, 0, 'n'},
            {"env", 1, 0, 'e'},
            {"env-from-secret", 1, 0, 'E'},
            {"cookie-secret", 1, 0, 'c'},
            {"cpu", 1, 0, 'C'},
            {"memory", 1, 0, 'M'},
            {"service-account", 1, 0, 's'},
            {"timeout", 1, 0, 't'},
            {"backoff-limit", 1, 0, 'b'},
            {"boot-retries", 1, 0, 'B'},
            {"ttl", 1, 0, 'T'},
            {"inject", 1, 0, 'I'},
            {"pod-image", 1, 0, 'p'},
            {"log-format", 1, 0, 'l'},
            {"grace", 1, 0, 'g'},
            {"rpc", 1, 0, 'R'},
            {"error-exit", 1, 0, 'x'},
            {"label", 1, 0, 'L'},
            {"annotation", 1, 0, 'A'},
            {"cron", 1, 0, 'k'},
            {"schedule", 1, 0, 'S'},
            {"time-zone", 1, 0, 'z'},
            {"output", 1, 0, 'o'},
            {"retry-on-disruption", 0, 0, 'D'},
            {"mfa", 1, 0, 'm'},
            {"cpu-limit", 1, 0, 1000},
            {"memory-limit", 1, 0, 1001},
            {"image-pull-secret", 1, 0, 1002},
            {"pull-policy", 1, 0, 1003},
            {"node-selector", 1, 0, 1004},
            {"toleration", 1, 0, 1005},
            {"priority-class", 1, 0, 1006},
            {"run-as-user", 1, 0, 1007},
            {"overrides", 1, 0, 1008},
            {"override-type", 1, 0, 1009},
            {"args", 1, 0, 'a'},
            {0, 0, 0, 0},
        };
        struct manifest_job_opts o;
        struct manifest_cron_opts c;
        manifest_job_opts_init(&o);
        manifest_cron_opts_init(&c);
        const char *env[LIST_MAX] = {0}, *from[LIST_MAX] = {0}, *labels[LIST_MAX] = {0},
                   *annots[LIST_MAX] = {0}, *pulls[LIST_MAX] = {0}, *sel[LIST_MAX] = {0},
                   *tols[LIST_MAX] = {0};
        size_t nenv = 0, nfrom = 0, nlabels = 0, nannots = 0, npulls = 0, nsel = 0, ntols = 0;
        const char *output = "json", *mfa = NULL, *args = NULL;
        o.env = env;
        o.env_from_secrets = from;
        o.labels = labels;
        o.annotations = annots;
        o.image_pull_secrets = pulls;
        o.node_selector = sel;
        o.tolerations = tols;
        int ch;
        while ((ch = getopt_long(argc, argv, "n:o:", longopts, NULL)) != -1) {
                switch (ch) {
                case 'i': o.image = optarg; break;
                case 'r': o.release = optarg; break;
                case 'n': o.namespace_ = optarg; break;
                case 'e': add(env, &nenv, optarg); break;
                case 'E': add(from, &nfrom, optarg); break;
                case 'c': o.cookie_secret = optarg; break;
                case 'C': o.cpu = optarg; break;
                case 'M': o.memory = optarg; break;
                case 's': o.service_account = optarg; break;
                case 't': o.active_deadline_seconds = atol(optarg); break;
                case 'b': o.backoff_limit = atoi(optarg); break;
                case 'B': o.boot_retries = atoi(optarg); break;
                case 'T': o.ttl_seconds = atol(optarg); break;
                case 'I':
                        o.inject = strcmp(optarg, "none") == 0 ? MANIFEST_INJECT_NONE
                                                               : MANIFEST_INJECT_INIT;
                        break;
                case 'p': o.pod_image = optarg; break;
                case 'l': o.log_format = optarg; break;
                case 'g': o.grace_seconds = atol(optarg); break;
                case 'R': o.rpc = optarg; break;
                case 'x': o.error_exit = atoi(optarg); break;
                case 'L': add(labels, &nlabels, optarg); break;
                case 'A': add(annots, &nannots, optarg); break;
                case 'k': c.name = optarg; break;
                case 'S': c.schedule = optarg; break;
                case 'z': c.time_zone = optarg; break;
                case 'o': output = optarg; break;
                case 'D': o.retry_on_disruption = true; break;
                case 'm': mfa = optarg; break;
                case 'a': args = optarg; break;
                case 1000: o.cpu_limit = optarg; break;
                case 1001: o.memory_limit = optarg; break;
                case 1002: add(pulls, &npulls, optarg); break;
                case 1003: o.pull_policy = optarg; break;
                case 1004: add(sel, &nsel, optarg); break;
                case 1005: add(tols, &ntols, optarg); break;
                case 1006: o.priority_class = optarg; break;
                case 1007: o.run_as_user = atol(optarg); break;
                case 1008: o.overrides = optarg; break;
                case 1009: o.override_type = optarg; break;
                default: return 64;
                }
        }
        if (optind != argc - (mfa ? 0 : 1)) {
                fprintf(stderr, "usage: manifest_dump [flags] [--cron NAME --schedule S] "
                                "EXPR|--mfa M.f [--args JSON]\n");
                return 64;
        }
        struct err e;
        err_clear(&e);
        char *built = NULL;
        if (mfa && expr_from_mfa(mfa, args, &built, &e) < 0) {
                fprintf(stderr, "manifest_dump: %s\n", e.msg);
                return e.code;
        }
        o.expr = mfa ? built : argv[optind];
        if (strcmp(output, "expr") == 0) { /* the expression alone, NUL-free */
                int bad = expr_check(o.expr, &e);
                if (bad == 0)
                        fputs(o.expr, stdout);
                else
                        fprintf(stderr, "manifest_dump: %s\n", e.msg);
                free(built);
                return bad ? e.code : 0;
        }
        json_object *obj = NULL;
        int rc = c.name ? manifest_cronjob_new(&o, &c, &obj, &e) : manifest_job_new(&o, &obj, &e);
        struct buf b;
        buf_init(&b, 1 << 20);
        if (rc == 0)
                rc = strcmp(output, "yaml") == 0 ? manifest_to_yaml(obj, &b, &e)
                                                 : manifest_to_json(obj, true, &b, &e);
        if (rc < 0) {
                fprintf(stderr, "manifest_dump: %s\n", e.msg);
                free(built);
                json_object_put(obj);
                buf_fini(&b);
                return e.code;
        }
        fwrite(buf_str(&b), 1, b.len, stdout);
        free(built);
        json_object_put(obj);
        buf_fini(&b);
        return 0;
}
