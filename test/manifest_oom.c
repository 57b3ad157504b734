/* pkg/manifest when json-c runs out of memory: each allocation of the Job and
 * CronJob builders fails in turn (the json-c constructors are wrapped at link
 * time, -Wl,--wrap), and every time the builder says "build manifest: ..." and
 * hands nothing out. Under the sanitizer build LeakSanitizer then proves that
 * no half-built object was lost on the way (the ownership hand-overs of
 * manifest.c). Registered by test/CMakeLists.txt as unit_manifest_oom. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "manifest.h"

static long fail_at = -1; /* the allocation that fails, counting from 0; -1: none */
static long calls;

static bool fail_now(void)
{
        return fail_at >= 0 && calls++ == fail_at;
}

json_object *__real_json_object_new_object(void);
json_object *__real_json_object_new_array(void);
json_object *__real_json_object_new_string(const char *s);
json_object *__real_json_object_new_int64(int64_t i);

json_object *__wrap_json_object_new_object(void);
json_object *__wrap_json_object_new_array(void);
json_object *__wrap_json_object_new_string(const char *s);
json_object *__wrap_json_object_new_int64(int64_t i);

json_object *__wrap_json_object_new_object(void)
{
        return fail_now() ? NULL : __real_json_object_new_object();
}

json_object *__wrap_json_object_new_array(void)
{
        return fail_now() ? NULL : __real_json_object_new_array();
}

json_object *__wrap_json_object_new_string(const char *s)
{
        return fail_now() ? NULL : __real_json_object_new_string(s);
}

json_object *__wrap_json_object_new_int64(int64_t i)
{
        return fail_now() ? NULL : __real_json_object_new_int64(i);
}

static void full_opts(struct manifest_job_opts *o)
{
        static const char *const env[] = {"A=1", "B=two", NULL};
        static const char *const from[] = {"app-env", NULL};
        static const char *const pulls[] = {"regcred", NULL};
        static const char *const sel[] = {"pool=encoders", NULL};
        static const char *const tols[] = {"dedicated=encoders:NoSchedule", "spot:NoExecute", NULL};
        static const char *const labels[] = {"team=video", NULL};
        static const char *const annots[] = {"a.b/c=d", NULL};
        manifest_job_opts_init(o);
        o->image = "ghcr.io/acme/app:1.2.3";
        o->release = "/app/bin/my_app";
        o->expr = "LiveStream.run(\"stream-42\", bitrate: 4000)";
        o->pod_image = "ghcr.io/relrun/relrun-pod:0.1.0";
        o->env = env;
        o->env_from_secrets = from;
        o->cookie_secret = "app-cookie";
        o->cpu = "500m";
        o->memory = "256Mi";
        o->ttl_seconds = 3600;
        o->active_deadline_seconds = 600;
        o->boot_retries = 2;
        o->ready_expr = "MyApp.ready?()";
        o->image_pull_secrets = pulls;
        o->node_selector = sel;
        o->tolerations = tols;
        o->labels = labels;
        o->annotations = annots;
        o->pull_policy = "Always";
        o->priority_class = "batch-high";
        o->cpu_limit = "2";
        o->memory_limit = "1Gi";
        o->run_as_user = 10001;
}

/* Fail allocation 0, 1, 2, ... until the builder gets through once. */
static void every_allocation_fails_once(bool cron)
{
        struct manifest_job_opts o;
        full_opts(&o);
        struct manifest_cron_opts c;
        manifest_cron_opts_init(&c);
        c.name = "nightly";
        c.schedule = "0 3 * * *";
        c.time_zone = "Europe/Berlin";
        long n = 0;
        for (;; n++) {
                fail_at = n;
                calls = 0;
                json_object *out = NULL;
                struct err e;
                err_clear(&e);
                int rc =
                    cron ? manifest_cronjob_new(&o, &c, &out, &e) : manifest_job_new(&o, &out, &e);
                bool failed = calls > n; /* the failing allocation was reached */
                fail_at = -1;
                if (!failed) {
                        assert_int_equal(rc, 0);
                        assert_non_null(out);
                        json_object_put(out);
                        break;
                }
                if (rc == 0) {
                        /* A failed optional step may be survivable; the object
                         * must then still be whole enough to free. */
                        json_object_put(out);
                        continue;
                }
                assert_int_equal(rc, -1);
                assert_null(out);
                assert_int_equal(e.code, ERR_SOFTWARE);
                if (strncmp(e.msg, "build manifest: ", 16))
                        fail_msg("allocation %ld: \"%s\"", n, e.msg);
        }
        assert_true(n > 20); /* the builders really allocate that often */
}

static void test_job_oom(void **state)
{
        (void)state;
        every_allocation_fails_once(false);
}

static void test_cronjob_oom(void **state)
{
        (void)state;
        every_allocation_fails_once(true);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_job_oom),
            cmocka_unit_test(test_cronjob_oom),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
