/* pkg/defaults: relrun.yaml and the user's config.yaml read as a user writes
 * them (scalars, lists, KEY: VALUE mappings, per-context sections), errors
 * that name the file and line, the lookup from a directory upward, the XDG
 * path, and a kubeconfig's current-context read without its credentials. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "defaults.h"

static struct defaults_file *parse_ok(const char *text)
{
        struct defaults_file *f = NULL;
        struct err e;
        err_clear(&e);
        if (defaults_parse("relrun.yaml", text, strlen(text), &f, &e) < 0)
                fail_msg("parse failed: %s\n%s", e.msg, text);
        return f;
}

static void parse_err(const char *text, const char *msg)
{
        struct defaults_file *f = (struct defaults_file *)0x1;
        struct err e;
        err_clear(&e);
        if (defaults_parse("relrun.yaml", text, strlen(text), &f, &e) == 0)
                fail_msg("accepted:\n%s", text);
        assert_ptr_equal(f, (struct defaults_file *)0x1);
        assert_int_equal(e.code, ERR_CONFIG);
        if (strcmp(e.msg, msg) != 0)
                fail_msg("message \"%s\", want \"%s\"", e.msg, msg);
}

static const struct defaults_entry *entry(const struct defaults_file *f, const char *key,
                                          const char *ctx)
{
        for (size_t i = 0; i < f->n; i++)
                if (!strcmp(f->ents[i].key, key) &&
                    (ctx ? f->ents[i].context && !strcmp(f->ents[i].context, ctx)
                         : !f->ents[i].context))
                        return &f->ents[i];
        fail_msg("no entry %s (context %s)", key, ctx ? ctx : "-");
        return NULL;
}

static void test_a_users_file(void **state)
{
        (void)state;
        struct defaults_file *f = parse_ok("# the project's defaults\n"
                                           "image: ghcr.io/acme/my_app:1.4.0\n"
                                           "release: /app/bin/my_app\n"
                                           "app-format: \"$time $metadata[$level] $message\\n\"\n"
                                           "backoff-limit: 2\n"
                                           "detach: true\n"
                                           "env:\n"
                                           "  POOL_SIZE: \"2\"\n"
                                           "  EMPTY:\n"
                                           "label: [team=video, tier=batch]\n"
                                           "toleration:\n"
                                           "  - dedicated=encoders:NoSchedule\n"
                                           "contexts:\n"
                                           "  prod:\n"
                                           "    namespace: streams\n"
                                           "    image: ghcr.io/acme/my_app:1.3.9\n"
                                           "  kind-dev: {namespace: dev}\n");
        assert_int_equal(f->n, 11);
        const struct defaults_entry *en = entry(f, "image", NULL);
        assert_int_equal(en->line, 2);
        assert_int_equal(en->n, 1);
        assert_false(en->list);
        assert_string_equal(en->vals[0], "ghcr.io/acme/my_app:1.4.0");
        assert_string_equal(entry(f, "app-format", NULL)->vals[0],
                            "$time $metadata[$level] $message\n");
        assert_string_equal(entry(f, "backoff-limit", NULL)->vals[0], "2");
        assert_string_equal(entry(f, "detach", NULL)->vals[0], "true");
        en = entry(f, "env", NULL);
        assert_true(en->list);
        assert_int_equal(en->n, 2);
        assert_string_equal(en->vals[0], "POOL_SIZE=2");
        assert_string_equal(en->vals[1], "EMPTY=");
        en = entry(f, "label", NULL);
        assert_int_equal(en->n, 2);
        assert_string_equal(en->vals[1], "tier=batch");
        assert_int_equal(entry(f, "toleration", NULL)->line, 11);
        en = entry(f, "image", "prod");
        assert_string_equal(en->vals[0], "ghcr.io/acme/my_app:1.3.9");
        assert_int_equal(en->line, 16);
        assert_string_equal(entry(f, "namespace", "kind-dev")->vals[0], "dev");
        assert_string_equal(f->path, "relrun.yaml");
        defaults_free(f);

        /* an empty file or an empty document: no settings */
        f = parse_ok("");
        assert_int_equal(f->n, 0);
        defaults_free(f);
        f = parse_ok("# nothing yet\n---\n");
        assert_int_equal(f->n, 0);
        defaults_free(f);
        defaults_free(NULL);
}

static void test_errors_name_file_and_line(void **state)
{
        (void)state;
        parse_err("image: a\nrelease: /x\nimage: b\n",
                  "relrun.yaml:3: \"image\" is given twice (first on line 1)");
        parse_err("image:\n", "relrun.yaml:1: \"image\": no value (remove the line to unset it)");
        parse_err("env:\n  - A=1\n  - [B=2]\n",
                  "relrun.yaml:3: \"env\": a list item is one scalar value");
        parse_err("env:\n  A: {B: 1}\n",
                  "relrun.yaml:2: \"env\": a mapping's values are scalars (KEY: VALUE)");
        parse_err("- image\n",
                  "relrun.yaml:1: want a mapping of settings (image: ..., release: ...)");
        parse_err("image: &i a\nrelease: *i\n",
                  "relrun.yaml:2: aliases (*name) are not supported here");
        parse_err("image: a\n---\nimage: b\n", "relrun.yaml:2: one YAML document only");
        parse_err("contexts: [prod]\n",
                  "relrun.yaml:1: \"contexts\": want a mapping of context names to settings");
        parse_err("contexts:\n  prod: streams\n",
                  "relrun.yaml:2: contexts: \"prod\": want a mapping of settings");
        parse_err("contexts:\n  prod:\n    contexts: {}\n",
                  "relrun.yaml:3: \"contexts\" inside a context's section");
        parse_err("contexts:\n  prod:\n    image: a\n    image: b\n",
                  "relrun.yaml:4: \"image\" is given twice (first on line 3)");
        /* libyaml's own message and line for text that is not YAML */
        struct defaults_file *f = NULL;
        struct err e;
        const char *bad = "image: a\nrelease: [/x\n";
        assert_int_equal(defaults_parse("/p/relrun.yaml", bad, strlen(bad), &f, &e), -1);
        assert_int_equal(e.code, ERR_CONFIG);
        assert_true(strncmp(e.msg, "/p/relrun.yaml:", 15) == 0);
        /* the same key in two sections is not a duplicate */
        f = parse_ok("image: a\ncontexts:\n  prod: {image: b}\n  dev: {image: c}\n");
        assert_int_equal(f->n, 3);
        defaults_free(f);
}

static char tmpdir[256];

static void write_file(const char *path, const char *text)
{
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        fputs(text, fp);
        fclose(fp);
}

static void test_lookup_upward_and_user_path(void **state)
{
        (void)state;
        snprintf(tmpdir, sizeof tmpdir, "/tmp/relrun-defaults-XXXXXX");
        assert_non_null(mkdtemp(tmpdir));
        char a[300], b[300], c[300], path[700], got[700];
        snprintf(a, sizeof a, "%s/proj", tmpdir);
        snprintf(b, sizeof b, "%s/proj/apps", tmpdir);
        snprintf(c, sizeof c, "%s/proj/apps/enc/", tmpdir);
        assert_int_equal(mkdir(a, 0700), 0);
        assert_int_equal(mkdir(b, 0700), 0);
        assert_int_equal(mkdir(c, 0700), 0);
        /* none anywhere up to / (the temp dir has none; / should not either) */
        snprintf(path, sizeof path, "/relrun.yaml");
        if (access(path, F_OK) != 0)
                assert_int_equal(defaults_find_project(c, got, sizeof got), 0);
        snprintf(path, sizeof path, "%s/relrun.yaml", a);
        write_file(path, "image: a\n");
        assert_int_equal(defaults_find_project(c, got, sizeof got), 1);
        assert_string_equal(got, path);
        /* the nearest one wins, as git finds .git */
        snprintf(path, sizeof path, "%s/relrun.yaml", b);
        write_file(path, "image: b\n");
        assert_int_equal(defaults_find_project(c, got, sizeof got), 1);
        assert_string_equal(got, path);
        assert_int_equal(defaults_find_project(b, got, sizeof got), 1);
        assert_string_equal(got, path);
        /* a directory named relrun.yaml is not a file */
        snprintf(path, sizeof path, "%s/relrun.yaml", c);
        assert_int_equal(mkdir(path, 0700), 0);
        assert_int_equal(defaults_find_project(c, got, sizeof got), 1);
        snprintf(path, sizeof path, "%s/relrun.yaml", b);
        assert_string_equal(got, path);
        assert_int_equal(defaults_find_project("relative/dir", got, sizeof got), 0);
        assert_int_equal(defaults_find_project(c, got, 8), 0); /* does not fit */

        struct defaults_file *f = (struct defaults_file *)0x1;
        struct err e;
        snprintf(path, sizeof path, "%s/none.yaml", tmpdir);
        assert_int_equal(defaults_load(path, &f, &e), 0);
        assert_null(f);
        snprintf(path, sizeof path, "%s/relrun.yaml", b);
        assert_int_equal(defaults_load(path, &f, &e), 0);
        assert_string_equal(f->ents[0].vals[0], "b");
        assert_string_equal(f->path, path);
        defaults_free(f);
        snprintf(path, sizeof path, "%s/bad.yaml", tmpdir);
        write_file(path, "image: a\nimage: b\n");
        assert_int_equal(defaults_load(path, &f, &e), -1);
        char want[900];
        snprintf(want, sizeof want, "%s:2: \"image\" is given twice (first on line 1)", path);
        assert_string_equal(e.msg, want);

        assert_int_equal(defaults_user_path("/x/cfg", "/home/u", got, sizeof got), 1);
        assert_string_equal(got, "/x/cfg/relrun/config.yaml");
        assert_int_equal(defaults_user_path(NULL, "/home/u", got, sizeof got), 1);
        assert_string_equal(got, "/home/u/.config/relrun/config.yaml");
        assert_int_equal(defaults_user_path("relative", "/home/u", got, sizeof got), 1);
        assert_string_equal(got, "/home/u/.config/relrun/config.yaml");
        assert_int_equal(defaults_user_path("", "", got, sizeof got), 0);
        assert_int_equal(defaults_user_path(NULL, NULL, got, sizeof got), 0);
}

static void test_kubeconfig_current_context(void **state)
{
        (void)state;
        char path[512], got[128];
        snprintf(path, sizeof path, "%s/kubeconfig", tmpdir);
        write_file(path, "apiVersion: v1\nkind: Config\nclusters:\n- name: a\n  cluster:\n"
                         "    server: https://x\ncontexts:\n- name: prod\n  context: {cluster: a}\n"
                         "users:\n- name: u\n  user:\n    exec: {command: /bin/false}\n"
                         "current-context: prod\n");
        assert_int_equal(defaults_kubeconfig_context(path, got, sizeof got), 1);
        assert_string_equal(got, "prod");
        write_file(path, "apiVersion: v1\nclusters: []\n");
        assert_int_equal(defaults_kubeconfig_context(path, got, sizeof got), 0);
        write_file(path, "current-context: \"\"\n");
        assert_int_equal(defaults_kubeconfig_context(path, got, sizeof got), 0);
        snprintf(path, sizeof path, "%s/missing", tmpdir);
        assert_int_equal(defaults_kubeconfig_context(path, got, sizeof got), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_a_users_file),
            cmocka_unit_test(test_errors_name_file_and_line),
            cmocka_unit_test(test_lookup_upward_and_user_path),
            cmocka_unit_test(test_kubeconfig_current_context),
        };
        int rc = cmocka_run_group_tests(tests, NULL, NULL);
        if (tmpdir[0]) {
                char cmd[300];
                snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
                if (system(cmd) != 0)
                        fprintf(stderr, "could not remove %s\n", tmpdir);
        }
        return rc;
}
