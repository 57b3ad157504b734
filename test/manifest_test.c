/* pkg/manifest: the Job and CronJob objects field by field, validation of
 * names and quantities, and JSON/YAML output that re-parses to the same
 * objects (YAML read back with libyaml's parser). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <yaml.h>

#include "manifest.h"

/* ---- helpers ------------------------------------------------------------- */

/* Walk a dotted path: "spec.template.spec.containers.0.args". */
static json_object *at(json_object *o, const char *path)
{
        char p[256];
        snprintf(p, sizeof p, "%s", path);
        char *save = NULL;
        for (char *t = strtok_r(p, ".", &save); t && o; t = strtok_r(NULL, ".", &save)) {
                if (json_object_is_type(o, json_type_array)) {
                        o = json_object_array_get_idx(o, (size_t)atoi(t));
                } else {
                        /* keys containing dots are written with '|' in paths */
                        for (char *c = t; *c; c++)
                                if (*c == '|')
                                        *c = '.';
                        json_object *v = NULL;
                        o = json_object_object_get_ex(o, t, &v) ? v : NULL;
                }
        }
        return o;
}

static void assert_str_at(json_object *o, const char *path, const char *want)
{
        json_object *v = at(o, path);
        if (!v || !json_object_is_type(v, json_type_string))
                fail_msg("%s: missing or not a string", path);
        assert_string_equal(json_object_get_string(v), want);
}

static void assert_int_at(json_object *o, const char *path, int64_t want)
{
        json_object *v = at(o, path);
        if (!v || !json_object_is_type(v, json_type_int))
                fail_msg("%s: missing or not an integer", path);
        assert_int_equal(json_object_get_int64(v), want);
}

static void assert_absent(json_object *o, const char *path)
{
        if (at(o, path))
                fail_msg("%s: present but should not be", path);
}

/* Compare a JSON array of strings with a NULL-terminated list. */
static void assert_strs_at(json_object *o, const char *path, const char *const *want)
{
        json_object *a = at(o, path);
        if (!a || !json_object_is_type(a, json_type_array))
                fail_msg("%s: missing or not an array", path);
        size_t n = 0;
        while (want[n])
                n++;
        assert_int_equal(json_object_array_length(a), n);
        for (size_t i = 0; i < n; i++)
                assert_string_equal(json_object_get_string(json_object_array_get_idx(a, i)),
                                    want[i]);
}

static void base_opts(struct manifest_job_opts *o)
{
        manifest_job_opts_init(o);
        o->image = "ghcr.io/acme/app:1.2.3";
        o->release = "/app/bin/my_app";
        o->expr = "LiveStream.run(\"stream-42\", bitrate: 4000)";
        o->pod_image = "ghcr.io/relrun/relrun-pod:0.1.0";
}

/* ---- YAML read back with libyaml's parser ---------------------------------- */

static bool matches_int(const char *s)
{
        if (*s == '-' || *s == '+')
                s++;
        return *s && strspn(s, "0123456789") == strlen(s);
}

/* Resolve a plain scalar as a YAML 1.1 reader would; quoted and block
 * scalars are strings. */
static json_object *resolve(const char *s, size_t n, yaml_scalar_style_t style)
{
        if (style != YAML_PLAIN_SCALAR_STYLE)
                return json_object_new_string_len(s, (int)n);
        static const char *nulls[] = {"", "~", "null", "Null", "NULL", NULL};
        static const char *trues[] = {"true", "True", "TRUE", "yes", "Yes", "YES",
                                      "on",   "On",   "ON",   "y",   "Y",   NULL};
        static const char *falses[] = {"false", "False", "FALSE", "no", "No", "NO",
                                       "off",   "Off",   "OFF",   "n",  "N",  NULL};
        for (const char **w = nulls; *w; w++)
                if (strcmp(s, *w) == 0)
                        return json_object_new_null();
        for (const char **w = trues; *w; w++)
                if (strcmp(s, *w) == 0)
                        return json_object_new_boolean(1);
        for (const char **w = falses; *w; w++)
                if (strcmp(s, *w) == 0)
                        return json_object_new_boolean(0);
        if (matches_int(s))
                return json_object_new_int64(strtoll(s, NULL, 10));
        char *end;
        double d = strtod(s, &end);
        if (*s && *end == '\0' && strpbrk(s, "0123456789") && !strpbrk(s, "xXpP"))
                return json_object_new_double(d);
        if (strchr("0123456789.+-", s[0]) && strpbrk(s, "0123456789") &&
            strspn(s, "0123456789abcdefABCDEFxXoObB_.:+-") == n)
                fail_msg("plain scalar \"%s\" would be read as a number by some YAML reader", s);
        return json_object_new_string_len(s, (int)n);
}

static json_object *parse_node(yaml_parser_t *p, yaml_event_t *ev);

static json_object *parse_yaml_value(yaml_parser_t *p)
{
        yaml_event_t ev;
        if (!yaml_parser_parse(p, &ev))
                fail_msg("yaml parse: %s at line %zu", p->problem, p->problem_mark.line + 1);
        json_object *o = parse_node(p, &ev);
        yaml_event_delete(&ev);
        return o;
}

static json_object *parse_node(yaml_parser_t *p, yaml_event_t *ev)
{
        switch (ev->type) {
        case YAML_SCALAR_EVENT:
                return resolve((const char *)ev->data.scalar.value, ev->data.scalar.length,
                               ev->data.scalar.style);
        case YAML_SEQUENCE_START_EVENT: {
                json_object *a = json_object_new_array();
                for (;;) {
                        yaml_event_t e2;
                        assert_true(yaml_parser_parse(p, &e2));
                        if (e2.type == YAML_SEQUENCE_END_EVENT) {
                                yaml_event_delete(&e2);
                                return a;
                        }
                        json_object_array_add(a, parse_node(p, &e2));
                        yaml_event_delete(&e2);
                }
        }
        case YAML_MAPPING_START_EVENT: {
                json_object *m = json_object_new_object();
                for (;;) {
                        yaml_event_t k;
                        assert_true(yaml_parser_parse(p, &k));
                        if (k.type == YAML_MAPPING_END_EVENT) {
                                yaml_event_delete(&k);
                                return m;
                        }
                        assert_int_equal(k.type, YAML_SCALAR_EVENT);
                        char *key =
                            strndup((const char *)k.data.scalar.value, k.data.scalar.length);
                        yaml_event_delete(&k);
                        assert_false(json_object_object_get_ex(m, key, NULL));
                        json_object_object_add(m, key, parse_yaml_value(p));
                        free(key);
                }
        }
        default: fail_msg("unexpected yaml event %d", ev->type); return NULL;
        }
}

/* Parse exactly one document. */
static json_object *yaml_to_json(const char *text, size_t n)
{
        yaml_parser_t p;
        yaml_event_t ev;
        assert_true(yaml_parser_initialize(&p));
        yaml_parser_set_input_string(&p, (const unsigned char *)text, n);
        assert_true(yaml_parser_parse(&p, &ev));
        assert_int_equal(ev.type, YAML_STREAM_START_EVENT);
        yaml_event_delete(&ev);
        assert_true(yaml_parser_parse(&p, &ev));
        assert_int_equal(ev.type, YAML_DOCUMENT_START_EVENT);
        yaml_event_delete(&ev);
        json_object *o = parse_yaml_value(&p);
        assert_true(yaml_parser_parse(&p, &ev));
        assert_int_equal(ev.type, YAML_DOCUMENT_END_EVENT);
        yaml_event_delete(&ev);
        assert_true(yaml_parser_parse(&p, &ev));
        assert_int_equal(ev.type, YAML_STREAM_END_EVENT);
        yaml_event_delete(&ev);
        yaml_parser_delete(&p);
        return o;
}

static void assert_yaml_roundtrip(json_object *obj)
{
        struct buf b;
        struct err e;
        buf_init(&b, 1 << 20);
        if (manifest_to_yaml(obj, &b, &e) != 0)
                fail_msg("to yaml: %s", e.msg);
        json_object *back = yaml_to_json(buf_str(&b), b.len);
        if (!json_object_equal(obj, back))
                fail_msg("yaml round trip differs:\n%s\nback: %s\nwant: %s", buf_str(&b),
                         json_object_to_json_string(back), json_object_to_json_string(obj));
        json_object_put(back);
        buf_fini(&b);
}

/* ---- the Job --------------------------------------------------------------- */

static void test_job_fields(void **state)
{
        struct manifest_job_opts o;
        base_opts(&o);
        const char *env[] = {"FOO=bar", "EMPTY=", "EQ=a=b", NULL};
        const char *from[] = {"app-env", "db.credentials", NULL};
        const char *labels[] = {"team=video", NULL};
        const char *annots[] = {"sidecar.istio.io/inject=false", NULL};
        o.namespace_ = "streams";
        o.env = env;
        o.env_from_secrets = from;
        o.cookie_secret = "app-cookie";
        o.cpu = "500m";
        o.memory = "256Mi";
        o.service_account = "relrun-task";
        o.active_deadline_seconds = 7200;
        o.backoff_limit = 0;
        o.boot_retries = 2;
        o.ttl_seconds = 3600;
        o.log_format = "json";
        o.ready_timeout_seconds = 120;
        o.grace_seconds = 20;
        o.rpc = "dist";
        o.error_exit = 3;
        o.labels = labels;
        o.annotations = annots;

        json_object *job = NULL;
        struct err e;
        if (manifest_job_new(&o, &job, &e) != 0)
                fail_msg("%s", e.msg);
        assert_str_at(job, "apiVersion", "batch/v1");
        assert_str_at(job, "kind", "Job");
        assert_str_at(job, "metadata.generateName", "relrun-live-stream-run-");
        assert_str_at(job, "metadata.namespace", "streams");
        assert_absent(job, "metadata.name");
        assert_str_at(job, "metadata.labels.app|kubernetes|io/managed-by", "relrun");
        assert_str_at(job, "metadata.labels.app|kubernetes|io/name", "relrun");
        assert_str_at(job, "metadata.labels.relrun|dev/task", "live-stream-run");
        assert_str_at(job, "metadata.labels.team", "video");
        assert_str_at(job, "metadata.annotations.relrun|dev/expr", o.expr);
        assert_str_at(job, "metadata.annotations.sidecar|istio|io/inject", "false");

        assert_int_at(job, "spec.backoffLimit", 2);
        assert_int_at(job, "spec.activeDeadlineSeconds", 7200);
        assert_int_at(job, "spec.ttlSecondsAfterFinished", 3600);
        assert_str_at(job, "spec.podFailurePolicy.rules.0.action", "FailJob");
        assert_str_at(job, "spec.podFailurePolicy.rules.0.onPodConditions.0.type",
                      "DisruptionTarget");
        assert_str_at(job, "spec.podFailurePolicy.rules.0.onPodConditions.0.status", "True");
        assert_str_at(job, "spec.podFailurePolicy.rules.1.action", "Count");
        assert_str_at(job, "spec.podFailurePolicy.rules.1.onExitCodes.containerName", "task");
        assert_str_at(job, "spec.podFailurePolicy.rules.1.onExitCodes.operator", "In");
        assert_int_at(job, "spec.podFailurePolicy.rules.1.onExitCodes.values.0", 70);
        assert_str_at(job, "spec.podFailurePolicy.rules.2.action", "FailJob");
        assert_str_at(job, "spec.podFailurePolicy.rules.2.onExitCodes.containerName", "task");
        assert_str_at(job, "spec.podFailurePolicy.rules.2.onExitCodes.operator", "NotIn");
        assert_int_at(job, "spec.podFailurePolicy.rules.2.onExitCodes.values.0", 0);
        assert_int_at(job, "spec.podFailurePolicy.rules.2.onExitCodes.values.1", 70);
        assert_absent(job, "spec.podFailurePolicy.rules.3");

        const char *t = "spec.template.metadata.labels.";
        char path[128];
        snprintf(path, sizeof path, "%srelrun|dev/task", t);
        assert_str_at(job, path, "live-stream-run");
        assert_str_at(job, "spec.template.metadata.annotations.sidecar|istio|io/inject", "false");
        assert_absent(job, "spec.template.metadata.annotations.relrun|dev/expr");

        assert_str_at(job, "spec.template.spec.restartPolicy", "Never");
        assert_str_at(job, "spec.template.spec.serviceAccountName", "relrun-task");
        assert_int_at(job, "spec.template.spec.terminationGracePeriodSeconds", 20 + 15);
        assert_str_at(job, "spec.template.spec.volumes.0.name", "relrun");
        assert_true(json_object_is_type(at(job, "spec.template.spec.volumes.0.emptyDir"),
                                        json_type_object));

        assert_str_at(job, "spec.template.spec.initContainers.0.name", "relrun-pod");
        assert_str_at(job, "spec.template.spec.initContainers.0.image", o.pod_image);
        const char *init_cmd[] = {"/relrun-pod", "--install", "/relrun/relrun-pod", NULL};
        assert_strs_at(job, "spec.template.spec.initContainers.0.command", init_cmd);
        assert_str_at(job, "spec.template.spec.initContainers.0.volumeMounts.0.mountPath",
                      "/relrun");

        const char *c = "spec.template.spec.containers.0.";
#define C(p) (snprintf(path, sizeof path, "%s%s", c, p), path)
        assert_absent(job, "spec.template.spec.containers.1");
        assert_str_at(job, C("name"), "task");
        assert_str_at(job, C("image"), "ghcr.io/acme/app:1.2.3");
        const char *cmd[] = {"/relrun/relrun-pod", NULL};
        assert_strs_at(job, C("command"), cmd);
        const char *args[] = {"--release",
                              "/app/bin/my_app",
                              "--log-format",
                              "json",
                              "--ready-timeout",
                              "120s",
                              "--grace",
                              "20s",
                              "--rpc",
                              "dist",
                              "--error-exit",
                              "3",
                              "--termination-log",
                              "/dev/termination-log",
                              "--",
                              "LiveStream.run(\"stream-42\", bitrate: 4000)",
                              NULL};
        assert_strs_at(job, C("args"), args);
        assert_str_at(job, C("env.0.name"), "FOO");
        assert_str_at(job, C("env.0.value"), "bar");
        assert_str_at(job, C("env.1.name"), "EMPTY");
        assert_str_at(job, C("env.1.value"), "");
        assert_str_at(job, C("env.2.value"), "a=b");
        assert_str_at(job, C("env.3.name"), "RELEASE_COOKIE");
        assert_str_at(job, C("env.3.valueFrom.secretKeyRef.name"), "app-cookie");
        assert_str_at(job, C("env.3.valueFrom.secretKeyRef.key"), "cookie");
        assert_absent(job, C("env.3.value"));
        assert_str_at(job, C("envFrom.0.secretRef.name"), "app-env");
        assert_str_at(job, C("envFrom.1.secretRef.name"), "db.credentials");
        assert_str_at(job, C("resources.requests.cpu"), "500m");
        assert_str_at(job, C("resources.limits.cpu"), "500m");
        assert_str_at(job, C("resources.requests.memory"), "256Mi");
        assert_str_at(job, C("resources.limits.memory"), "256Mi");
        assert_str_at(job, C("terminationMessagePath"), "/dev/termination-log");
        assert_str_at(job, C("terminationMessagePolicy"), "FallbackToLogsOnError");
        assert_str_at(job, C("volumeMounts.0.name"), "relrun");
        assert_str_at(job, C("volumeMounts.0.mountPath"), "/relrun");
#undef C
        assert_yaml_roundtrip(job);
        json_object_put(job);
}

static void test_job_minimal_and_inject_none(void **state)
{
        struct manifest_job_opts o;
        base_opts(&o);
        o.inject = MANIFEST_INJECT_NONE;
        o.pod_image = NULL;
        o.backoff_limit = 4;
        o.boot_retries = 1;
        o.retry_on_disruption = true;
        o.expr = "IO.puts(\"a\")\nSystem.halt(0) # $(rm -rf /) `x` ; && |";
        json_object *job = NULL;
        struct err e;
        if (manifest_job_new(&o, &job, &e) != 0)
                fail_msg("%s", e.msg);
        assert_str_at(job, "metadata.generateName", "relrun-io-puts-");
        assert_absent(job, "metadata.namespace");
        assert_int_at(job, "spec.backoffLimit", 4);
        assert_absent(job, "spec.activeDeadlineSeconds");
        assert_absent(job, "spec.ttlSecondsAfterFinished");
        assert_str_at(job, "spec.podFailurePolicy.rules.0.action", "Ignore");
        assert_absent(job, "spec.template.spec.initContainers");
        assert_absent(job, "spec.template.spec.volumes");
        assert_absent(job, "spec.template.spec.serviceAccountName");
        assert_int_at(job, "spec.template.spec.terminationGracePeriodSeconds", 30 + 15);
        const char *cmd[] = {"relrun-pod", NULL};
        assert_strs_at(job, "spec.template.spec.containers.0.command", cmd);
        /* the expression is one argv element, untouched: no shell anywhere */
        const char *args[] = {"--release",
                              "/app/bin/my_app",
                              "--termination-log",
                              "/dev/termination-log",
                              "--",
                              o.expr,
                              NULL};
        assert_strs_at(job, "spec.template.spec.containers.0.args", args);
        assert_absent(job, "spec.template.spec.containers.0.env");
        assert_absent(job, "spec.template.spec.containers.0.envFrom");
        assert_absent(job, "spec.template.spec.containers.0.resources");
        assert_absent(job, "spec.template.spec.containers.0.volumeMounts");
        assert_yaml_roundtrip(job);
        json_object_put(job);

        /* an explicit slug and a custom cookie key */
        base_opts(&o);
        o.slug = "nightly-report";
        o.cookie_secret = "cookie";
        o.cookie_key = "RELEASE_COOKIE";
        assert_int_equal(manifest_job_new(&o, &job, &e), 0);
        assert_str_at(job, "metadata.generateName", "relrun-nightly-report-");
        assert_str_at(job, "spec.template.spec.containers.0.env.0.valueFrom.secretKeyRef.key",
                      "RELEASE_COOKIE");
        json_object_put(job);
}

/* --on-term: relrun-pod gets the drain hook as one argv element; the pod's
 * grace period covers the hook's grace and then the stop's. */
static void test_job_on_term(void **state)
{
        (void)state;
        struct manifest_job_opts o;
        base_opts(&o);
        o.grace_seconds = 20;
        o.on_term = "LiveStream.checkpoint(\"s1\") # $(x) ;";
        json_object *job = NULL;
        struct err e;
        if (manifest_job_new(&o, &job, &e) != 0)
                fail_msg("%s", e.msg);
        assert_int_at(job, "spec.template.spec.terminationGracePeriodSeconds", 2 * 20 + 15);
        const char *args[] = {"--release",
                              "/app/bin/my_app",
                              "--grace",
                              "20s",
                              "--on-term",
                              "LiveStream.checkpoint(\"s1\") # $(x) ;",
                              "--termination-log",
                              "/dev/termination-log",
                              "--",
                              "LiveStream.run(\"stream-42\", bitrate: 4000)",
                              NULL};
        assert_strs_at(job, "spec.template.spec.containers.0.args", args);
        json_object_put(job);
        o.on_term = "Foo.bar(";
        job = NULL;
        assert_int_equal(manifest_job_new(&o, &job, &e), -1);
        assert_int_equal(e.code, ERR_USAGE);
        assert_non_null(strstr(e.msg, "--on-term"));
        assert_null(job);
}

/* --each: one Indexed Job, index i runs each[i]; a failed index fails
 * alone (FailIndex), boot retries count per index. */
static void test_job_each_indexed(void **state)
{
        (void)state;
        struct manifest_job_opts o;
        base_opts(&o);
        o.expr = "LiveStream.run($item)";
        const char *each[] = {"LiveStream.run((\"s1\"))", "LiveStream.run((\"s2\"))",
                              "LiveStream.run((\"s3\"))"};
        o.each = each;
        o.each_n = 3;
        o.parallelism = 2;
        o.boot_retries = 2;
        json_object *job = NULL;
        struct err e;
        if (manifest_job_new(&o, &job, &e) != 0)
                fail_msg("%s", e.msg);
        assert_str_at(job, "spec.completionMode", "Indexed");
        assert_int_at(job, "spec.completions", 3);
        assert_int_at(job, "spec.parallelism", 2);
        assert_int_at(job, "spec.backoffLimitPerIndex", 2);
        assert_absent(job, "spec.backoffLimit");
        assert_str_at(job, "spec.podFailurePolicy.rules.0.action", "FailIndex");
        assert_str_at(job, "spec.podFailurePolicy.rules.1.action", "Count");
        assert_str_at(job, "spec.podFailurePolicy.rules.2.action", "FailIndex");
        const char *args[] = {"--release",
                              "/app/bin/my_app",
                              "--indexed",
                              "--termination-log",
                              "/dev/termination-log",
                              "--",
                              "LiveStream.run((\"s1\"))",
                              "LiveStream.run((\"s2\"))",
                              "LiveStream.run((\"s3\"))",
                              NULL};
        assert_strs_at(job, "spec.template.spec.containers.0.args", args);
        /* no items given: no annotation */
        assert_absent(job, "metadata.annotations.relrun|dev/each");
        json_object_put(job);
        /* parallelism 0 (or above the count): all at once; the items as given
         * in relrun.dev/each (relrun's table reads them back) */
        o.parallelism = 0;
        o.each_items = "[\"s1\", \"s2\", \"s3\"]";
        if (manifest_job_new(&o, &job, &e) != 0)
                fail_msg("%s", e.msg);
        assert_int_at(job, "spec.parallelism", 3);
        assert_str_at(job, "metadata.annotations.relrun|dev/each", o.each_items);
        assert_absent(job, "spec.template.metadata.annotations.relrun|dev/each");
        json_object_put(job);
        /* each item is checked as an expression */
        each[1] = "LiveStream.run((\"s2\")";
        job = NULL;
        assert_int_equal(manifest_job_new(&o, &job, &e), -1);
        assert_non_null(strstr(e.msg, "--each item 1"));
        assert_null(job);
}

static void test_cronjob(void **state)
{
        struct manifest_job_opts o;
        struct manifest_cron_opts c;
        base_opts(&o);
        o.namespace_ = "batch";
        manifest_cron_opts_init(&c);
        c.name = "nightly-report";
        c.schedule = "30 3 * * 1-5";
        c.time_zone = "Europe/Berlin";
        c.starting_deadline_seconds = 300;
        c.successful_jobs_history = 5;
        c.failed_jobs_history = 2;
        json_object *cj = NULL;
        struct err e;
        if (manifest_cronjob_new(&o, &c, &cj, &e) != 0)
                fail_msg("%s", e.msg);
        assert_str_at(cj, "apiVersion", "batch/v1");
        assert_str_at(cj, "kind", "CronJob");
        assert_str_at(cj, "metadata.name", "nightly-report");
        assert_str_at(cj, "metadata.namespace", "batch");
        assert_absent(cj, "metadata.generateName");
        assert_str_at(cj, "metadata.labels.relrun|dev/cron", "nightly-report");
        assert_str_at(cj, "metadata.labels.app|kubernetes|io/managed-by", "relrun");
        assert_str_at(cj, "spec.schedule", "30 3 * * 1-5");
        assert_str_at(cj, "spec.timeZone", "Europe/Berlin");
        assert_str_at(cj, "spec.concurrencyPolicy", "Forbid");
        assert_int_at(cj, "spec.startingDeadlineSeconds", 300);
        assert_int_at(cj, "spec.successfulJobsHistoryLimit", 5);
        assert_int_at(cj, "spec.failedJobsHistoryLimit", 2);
        assert_true(json_object_is_type(at(cj, "spec.suspend"), json_type_boolean));
        assert_false(json_object_get_boolean(at(cj, "spec.suspend")));
        assert_str_at(cj, "spec.jobTemplate.metadata.labels.relrun|dev/task", "live-stream-run");
        assert_str_at(cj, "spec.jobTemplate.metadata.labels.relrun|dev/cron", "nightly-report");
        assert_str_at(cj, "spec.jobTemplate.metadata.annotations.relrun|dev/expr", o.expr);
        assert_absent(cj, "spec.jobTemplate.metadata.generateName");
        assert_int_at(cj, "spec.jobTemplate.spec.backoffLimit", 0);
        assert_str_at(cj, "spec.jobTemplate.spec.template.spec.containers.0.args.5", o.expr);
        assert_str_at(cj, "spec.jobTemplate.spec.template.metadata.labels.relrun|dev/cron",
                      "nightly-report");
        assert_yaml_roundtrip(cj);
        json_object_put(cj);

        manifest_cron_opts_init(&c);
        c.name = "hourly";
        c.schedule = "@hourly";
        c.concurrency_policy = "Replace";
        c.suspend = true;
        assert_int_equal(manifest_cronjob_new(&o, &c, &cj, &e), 0);
        assert_str_at(cj, "spec.concurrencyPolicy", "Replace");
        assert_true(json_object_get_boolean(at(cj, "spec.suspend")));
        assert_absent(cj, "spec.timeZone");
        assert_absent(cj, "spec.startingDeadlineSeconds");
        json_object_put(cj);
}

/* ---- validation -------------------------------------------------------------- */

static void assert_job_err(const struct manifest_job_opts *o, const char *msg)
{
        json_object *job = (json_object *)0x1;
        struct err e;
        err_clear(&e);
        assert_int_equal(manifest_job_new(o, &job, &e), -1);
        assert_ptr_equal(job, (json_object *)0x1); /* untouched on error */
        assert_int_equal(e.code, ERR_USAGE);
        assert_string_equal(e.msg, msg);
}

static void test_quantities(void **state)
{
        static const char *good[] = {"500m",  "1",         "0.5",   "2",    "256Mi", "1Gi",
                                     "1.5Gi", "128974848", "129e6", "129M", "123Ki", "1E3",
                                     "+1",    ".5",        "100n",  NULL};
        static const char *bad[] = {"12XB", "",   "-1",   "1.2.3", "Mi",  "1 Gi", "1gi",
                                    "1mi",  "1e", "0x10", "1Gi ",  "abc", "1KiB", NULL};
        struct err e;
        for (const char **p = good; *p; p++)
                if (manifest_check_quantity("--cpu", *p, &e) != 0)
                        fail_msg("rejected %s: %s", *p, e.msg);
        for (const char **p = bad; *p; p++)
                if (manifest_check_quantity("--cpu", *p, &e) != -1)
                        fail_msg("accepted quantity \"%s\"", *p);

        struct manifest_job_opts o;
        base_opts(&o);
        o.memory = "12XB";
        assert_job_err(&o,
                       "--memory \"12XB\": not a Kubernetes quantity (like 500m, 1, 256Mi, 1Gi)");
        base_opts(&o);
        o.cpu = "half";
        assert_job_err(&o, "--cpu \"half\": not a Kubernetes quantity (like 500m, 1, 256Mi, 1Gi)");
}

/* Placement, pulling and the Pod Security fields, on both containers. */
static void test_pod_placement_and_security(void **state)
{
        (void)state;
        static const char *const pulls[] = {"regcred", NULL};
        static const char *const sel[] = {"pool=encoders", NULL};
        static const char *const tols[] = {"dedicated=encoders:NoSchedule", "spot:NoExecute", NULL};
        struct manifest_job_opts o;
        base_opts(&o);
        o.image_pull_secrets = pulls;
        o.node_selector = sel;
        o.tolerations = tols;
        o.pull_policy = "Always";
        o.priority_class = "batch-high";
        o.memory = "256Mi";
        o.memory_limit = "1Gi";
        o.cpu_limit = "2";
        json_object *job = NULL;
        struct err e;
        err_clear(&e);
        assert_int_equal(manifest_job_new(&o, &job, &e), 0);
        const char *ps = "spec.template.spec";
        char path[128];
#define P(sub) (snprintf(path, sizeof path, "%s.%s", ps, sub), path)
        assert_str_at(job, P("imagePullSecrets.0.name"), "regcred");
        assert_str_at(job, P("nodeSelector.pool"), "encoders");
        assert_str_at(job, P("tolerations.0.operator"), "Equal");
        assert_str_at(job, P("tolerations.0.value"), "encoders");
        assert_str_at(job, P("tolerations.1.operator"), "Exists");
        assert_absent(job, P("tolerations.1.value"));
        assert_str_at(job, P("tolerations.1.effect"), "NoExecute");
        assert_str_at(job, P("priorityClassName"), "batch-high");
        assert_absent(job, P("securityContext")); /* the image's user without --run-as-user */
        assert_str_at(job, P("containers.0.imagePullPolicy"), "Always");
        assert_absent(job, P("initContainers.0.imagePullPolicy"));
        /* a limit apart from the request; a limit alone has no request */
        assert_str_at(job, P("containers.0.resources.requests.memory"), "256Mi");
        assert_str_at(job, P("containers.0.resources.limits.memory"), "1Gi");
        assert_str_at(job, P("containers.0.resources.limits.cpu"), "2");
        assert_absent(job, P("containers.0.resources.requests.cpu"));
        static const char *const all[] = {"ALL", NULL};
        for (int i = 0; i < 2; i++) {
                const char *c = i ? "containers.0" : "initContainers.0";
                char sub[96];
                snprintf(sub, sizeof sub, "%s.securityContext.capabilities.drop", c);
                assert_strs_at(job, P(sub), all);
                snprintf(sub, sizeof sub, "%s.securityContext.seccompProfile.type", c);
                assert_str_at(job, P(sub), "RuntimeDefault");
                snprintf(sub, sizeof sub, "%s.securityContext.allowPrivilegeEscalation", c);
                json_object *v = at(job, P(sub));
                assert_true(json_object_is_type(v, json_type_boolean));
                assert_false(json_object_get_boolean(v));
        }
        json_object_put(job);

        base_opts(&o);
        o.run_as_user = 10001;
        assert_int_equal(manifest_job_new(&o, &job, &e), 0);
        assert_int_at(job, P("securityContext.runAsUser"), 10001);
        assert_true(json_object_get_boolean(at(job, P("securityContext.runAsNonRoot"))));
        json_object_put(job);
#undef P

        base_opts(&o);
        o.run_as_user = 0;
        assert_job_err(&o, "--run-as-user 0: want a numeric non-root UID (1-2147483647)");
        base_opts(&o);
        static const char *const bad_tol[] = {"dedicated=encoders", NULL};
        o.tolerations = bad_tol;
        assert_job_err(&o, "--toleration \"dedicated=encoders\": want KEY[=VALUE]:EFFECT, e.g. "
                           "dedicated=encoder:NoSchedule");
        base_opts(&o);
        o.pull_policy = "always";
        assert_job_err(&o, "--pull-policy \"always\": want Always, IfNotPresent or Never");
}

/* --overrides: merge by default, kind kept, the CronJob's jobTemplate patched as a Job. */
static void test_overrides(void **state)
{
        (void)state;
        struct manifest_job_opts o;
        base_opts(&o);
        o.overrides = "{\"spec\":{\"backoffLimit\":3,\"template\":{\"spec\":{\"hostname\":\"h\","
                      "\"restartPolicy\":null}}}}";
        json_object *job = NULL;
        struct err e;
        err_clear(&e);
        assert_int_equal(manifest_job_new(&o, &job, &e), 0);
        assert_int_at(job, "spec.backoffLimit", 3);
        assert_str_at(job, "spec.template.spec.hostname", "h");
        assert_absent(job, "spec.template.spec.restartPolicy");
        assert_str_at(job, "spec.template.spec.containers.0.name", "task");
        json_object_put(job);

        struct manifest_cron_opts c;
        manifest_cron_opts_init(&c);
        c.name = "nightly";
        c.schedule = "@daily";
        o.override_type = "json";
        o.overrides = "[{\"op\":\"replace\",\"path\":\"/spec/backoffLimit\",\"value\":2}]";
        assert_int_equal(manifest_cronjob_new(&o, &c, &job, &e), 0);
        assert_int_at(job, "spec.jobTemplate.spec.backoffLimit", 2);
        assert_absent(job, "spec.jobTemplate.kind");
        assert_str_at(job, "kind", "CronJob");
        json_object_put(job);

        o.overrides = "{\"kind\":\"Pod\"}";
        o.override_type = NULL;
        assert_job_err(&o, "--overrides: the result must stay a Job (kind changed)");
        o.overrides = "[1]";
        o.override_type = "merge";
        assert_job_err(&o, "--overrides (merge): a merge patch is an object, got a list");
}

static void test_names_rejected(void **state)
{
        struct manifest_job_opts o;
        const char *bad_env[] = {"1X=y", NULL};
        const char *dash_env[] = {"MY-VAR=1", NULL};
        const char *no_eq[] = {"FOO", NULL};
        const char *twice[] = {"A=1", "A=2", NULL};
        const char *cookie_env[] = {"RELEASE_COOKIE=x", NULL};
        const char *bad_secret[] = {"Bad_Secret", NULL};
        const char *bad_label[] = {"team=video stream", NULL};
        const char *reserved[] = {"relrun.dev/task=x", NULL};
        const char *bad_key[] = {"-x=1", NULL};

        base_opts(&o);
        o.env = bad_env;
        assert_job_err(&o, "--env \"1X=y\": \"1X\" is not an environment variable name "
                           "([A-Za-z_][A-Za-z0-9_]*)");
        o.env = dash_env;
        assert_job_err(&o, "--env \"MY-VAR=1\": \"MY-VAR\" is not an environment variable name "
                           "([A-Za-z_][A-Za-z0-9_]*)");
        o.env = no_eq;
        assert_job_err(&o, "--env \"FOO\": want NAME=value");
        o.env = twice;
        assert_job_err(&o, "--env \"A=2\": \"A\" is given twice");
        o.env = cookie_env;
        o.cookie_secret = "c";
        assert_job_err(&o, "--env \"RELEASE_COOKIE=x\": RELEASE_COOKIE comes from --cookie-secret");

        base_opts(&o);
        o.env_from_secrets = bad_secret;
        assert_job_err(&o, "--env-from-secret \"Bad_Secret\": not a DNS-1123 subdomain (lowercase "
                           "letters, digits, '-' and '.', at most 253 characters)");
        base_opts(&o);
        o.namespace_ = "Prod";
        assert_job_err(&o, "--namespace \"Prod\": not a DNS-1123 label (lowercase letters, digits "
                           "and '-', at most 63 characters, starting and ending alphanumeric)");
        base_opts(&o);
        o.service_account = "sa-";
        assert_job_err(&o, "--service-account \"sa-\": not a DNS-1123 subdomain (lowercase "
                           "letters, digits, '-' and '.', at most 253 characters)");
        base_opts(&o);
        o.labels = bad_label;
        assert_job_err(&o, "--label \"team=video stream\": \"video stream\" is not a valid label "
                           "value (at most 63 of [A-Za-z0-9-_.], starting and ending "
                           "alphanumeric)");
        o.labels = reserved;
        assert_job_err(&o, "--label \"relrun.dev/task=x\": \"relrun.dev/task\" is already set by "
                           "relrun");
        o.labels = bad_key;
        assert_job_err(&o, "--label \"-x=1\": \"-x\" is not a valid key ([prefix/]name)");

        base_opts(&o);
        o.image = NULL;
        assert_job_err(&o, "--image: required");
        base_opts(&o);
        o.image = "app 1";
        assert_job_err(&o, "--image \"app 1\": an image reference has no spaces or control "
                           "characters");
        base_opts(&o);
        o.pod_image = NULL;
        assert_job_err(&o, "--pod-image: required");
        base_opts(&o);
        o.release = "bin/my_app";
        assert_job_err(&o, "--release \"bin/my_app\": want the absolute path of the release's bin "
                           "script, like /app/bin/my_app");
        base_opts(&o);
        o.expr = "LiveStream.run(\"x\"";
        assert_job_err(&o, "expression: unclosed \"(\" opened at column 15");
        base_opts(&o);
        o.log_format = "xml";
        assert_job_err(&o, "--log-format \"xml\": want json, logfmt, text, gcp, ecs or datadog");
        base_opts(&o);
        o.rpc = "ssh";
        assert_job_err(&o, "--rpc \"ssh\": want auto, dist or script");
        base_opts(&o);
        o.error_exit = 64;
        assert_job_err(&o, "--error-exit 64: want 1..63");
        base_opts(&o);
        o.backoff_limit = -1;
        assert_job_err(&o, "--backoff-limit -1: must not be negative");
        base_opts(&o);
        o.slug = "Not_A_Label";
        assert_job_err(&o, "task name \"Not_A_Label\": not a DNS-1123 label (lowercase letters, "
                           "digits and '-', at most 40 characters, starting and ending "
                           "alphanumeric)");

        struct manifest_cron_opts c;
        json_object *cj = NULL;
        struct err e;
        base_opts(&o);
        manifest_cron_opts_init(&c);
        c.name = "a-very-long-cron-job-name-that-is-longer-than-52-chars";
        c.schedule = "@daily";
        assert_int_equal(manifest_cronjob_new(&o, &c, &cj, &e), -1);
        assert_non_null(strstr(e.msg, "cron name \"a-very-long"));
        c.name = "ok";
        c.schedule = "* * * *";
        assert_int_equal(manifest_cronjob_new(&o, &c, &cj, &e), -1);
        assert_string_equal(e.msg, "--schedule \"* * * *\": want 5 fields (minute hour "
                                   "day-of-month month day-of-week), got 4");
        c.schedule = "@sometimes";
        assert_int_equal(manifest_cronjob_new(&o, &c, &cj, &e), -1);
        c.schedule = "0 3 * * *; rm";
        assert_int_equal(manifest_cronjob_new(&o, &c, &cj, &e), -1);
        assert_string_equal(e.msg, "--schedule \"0 3 * * *; rm\": unexpected \";\"");
        c.schedule = "0 3 * * *";
        c.concurrency_policy = "Never";
        assert_int_equal(manifest_cronjob_new(&o, &c, &cj, &e), -1);
        assert_string_equal(e.msg, "--concurrency-policy \"Never\": want Allow, Forbid or Replace");
        c.concurrency_policy = NULL;
        c.time_zone = "../etc/passwd";
        assert_int_equal(manifest_cronjob_new(&o, &c, &cj, &e), -1);
        assert_null(cj);
}

/* ---- output ---------------------------------------------------------------- */

static const char *tricky[] = {"true",
                               "True",
                               "TRUE",
                               "false",
                               "yes",
                               "Yes",
                               "no",
                               "NO",
                               "on",
                               "off",
                               "y",
                               "Y",
                               "n",
                               "N",
                               "null",
                               "Null",
                               "~",
                               "",
                               "1",
                               "-1",
                               "+1",
                               "0",
                               "00",
                               "007",
                               "0o7",
                               "0x1F",
                               "0b101",
                               "1e3",
                               "1E3",
                               "1.5",
                               ".5",
                               "1.",
                               "-.5",
                               ".inf",
                               "-.Inf",
                               ".NaN",
                               "1_000",
                               "1:20",
                               "190:20:30",
                               "2001-12-14",
                               "2001-12-14t21:59:43.10-05:00",
                               "=",
                               "<<",
                               ":",
                               ":colon",
                               "a: b",
                               "a:b",
                               "a #b",
                               "a#b",
                               "#comment",
                               "- dash",
                               "-",
                               "--",
                               "---",
                               "...",
                               "?",
                               "? x",
                               "[x]",
                               "{x: 1}",
                               "*alias",
                               "&anchor",
                               "!tag",
                               "!!str",
                               "|",
                               ">",
                               "'single'",
                               "\"double\"",
                               "%percent",
                               "@at",
                               "`back",
                               ",comma",
                               " leading",
                               "trailing ",
                               "  ",
                               "multi\nline",
                               "multi\nline\n",
                               "\n\nleading newlines",
                               "trailing newlines\n\n\n",
                               "  indented\nsecond",
                               "trailing space \nnext",
                               "tab\there",
                               "\t",
                               "ünïcødé 🎉",
                               "line\u2028sep",
                               "nel\xc2\x85x",
                               "bom\ufeffx",
                               "bell\a",
                               "del\x7f",
                               "256Mi",
                               "500m",
                               "LiveStream.run(\"stream-42\", bitrate: 4000)",
                               "IO.puts(\"a\")\n# comment\n  Enum.map([1], fn x -> x end)\n",
                               "{\"json\": [1]}",
                               "key: value\n- item\n",
                               "a\\b\\\\c",
                               NULL};

static void test_yaml_tricky_strings(void **state)
{
        json_object *o = json_object_new_object();
        json_object *list = json_object_new_array();
        for (size_t i = 0; tricky[i]; i++) {
                json_object *m = json_object_new_object();
                /* as a key and as a value */
                json_object_object_add(m, tricky[i], json_object_new_string(tricky[i]));
                json_object_array_add(list, m);
        }
        json_object_object_add(o, "strings", list);
        json_object_object_add(o, "nul", json_object_new_string_len("a\0b", 3));
        json_object_object_add(o, "int", json_object_new_int64(-42));
        json_object_object_add(o, "big", json_object_new_int64(INT64_MAX));
        json_object_object_add(o, "bool", json_object_new_boolean(1));
        json_object_object_add(o, "null", NULL);
        json_object_object_add(o, "empty_map", json_object_new_object());
        json_object_object_add(o, "empty_list", json_object_new_array());
        json_object *nested = json_object_new_array();
        json_object *inner = json_object_new_array();
        json_object_array_add(inner, json_object_new_string("x"));
        json_object_array_add(inner, json_object_new_array());
        json_object_array_add(nested, inner);
        json_object_array_add(nested, json_object_new_object());
        json_object_object_add(o, "nested", nested);
        assert_yaml_roundtrip(o);

        /* what a reader sees: quoted where a type would be guessed, plain
         * where that is what kubectl prints */
        struct buf b;
        struct err e;
        buf_init(&b, 1 << 20);
        assert_int_equal(manifest_to_yaml(o, &b, &e), 0);
        const char *want[] = {"- 'true': 'true'\n",
                              "- 'null': 'null'\n",
                              "- '1': '1'\n",
                              "- '0o7': '0o7'\n",
                              "- '1e3': '1e3'\n",
                              "- '~': '~'\n",
                              "- '': ''\n",
                              "- '2001-12-14': '2001-12-14'\n",
                              "- 256Mi: 256Mi\n",
                              "- 500m: 500m\n",
                              "int: -42\n",
                              "bool: true\n",
                              "'null': null\n",
                              "empty_map: {}\n",
                              "empty_list: []\n",
                              "- ':colon': ':colon'\n",
                              "- a:b: a:b\n",
                              "- 'a: b': 'a: b'\n",
                              "- ? |-\n    multi\n    line\n  : |-\n    multi\n    line\n",
                              NULL};
        for (const char **w = want; *w; w++) {
                if (!strstr(buf_str(&b), *w)) {
                        fprintf(stderr, "%s", buf_str(&b));
                        fail_msg("want \"%s\" in the YAML above", *w);
                }
        }
        buf_fini(&b);
        json_object_put(o);
}

static void test_yaml_literal_block(void **state)
{
        json_object *o = json_object_new_object();
        json_object_object_add(o, "expr",
                               json_object_new_string("IO.puts(\"a\")\nLiveStream.run(\"x\")"));
        struct buf b;
        struct err e;
        buf_init(&b, 4096);
        assert_int_equal(manifest_to_yaml(o, &b, &e), 0);
        assert_string_equal(buf_str(&b), "expr: |-\n  IO.puts(\"a\")\n  LiveStream.run(\"x\")\n");
        buf_fini(&b);
        json_object_put(o);
}

static void test_output_json_and_caps(void **state)
{
        struct manifest_job_opts o;
        base_opts(&o);
        o.expr = "M.f(\"</script> \\\\ \\\" ü\")";
        json_object *job = NULL;
        struct err e;
        assert_int_equal(manifest_job_new(&o, &job, &e), 0);
        struct buf b;
        buf_init(&b, 1 << 20);
        assert_int_equal(manifest_to_json(job, false, &b, &e), 0);
        assert_int_equal(b.data[b.len - 1], '\n');
        assert_null(memchr(b.data, '\n', b.len - 1)); /* one line */
        assert_non_null(strstr(buf_str(&b), "</script>"));
        json_object *back = json_tokener_parse(buf_str(&b));
        assert_true(json_object_equal(job, back));
        json_object_put(back);

        buf_reset(&b);
        assert_int_equal(manifest_to_json(job, true, &b, &e), 0);
        assert_non_null(strstr(buf_str(&b), "\n  \"kind\": \"Job\",\n"));
        back = json_tokener_parse(buf_str(&b));
        assert_true(json_object_equal(job, back));
        json_object_put(back);
        buf_fini(&b);

        /* output larger than the buffer's cap is an error, not a truncation */
        buf_init(&b, 100);
        assert_int_equal(manifest_to_yaml(job, &b, &e), -1);
        assert_string_equal(e.msg, "yaml: output too large");
        buf_fini(&b);
        buf_init(&b, 100);
        assert_int_equal(manifest_to_json(job, true, &b, &e), -1);
        assert_string_equal(e.msg, "json: output too large");
        buf_fini(&b);
        json_object_put(job);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_job_fields),
            cmocka_unit_test(test_job_minimal_and_inject_none),
            cmocka_unit_test(test_cronjob),
            cmocka_unit_test(test_quantities),
            cmocka_unit_test(test_names_rejected),
            cmocka_unit_test(test_pod_placement_and_security),
            cmocka_unit_test(test_overrides),
            cmocka_unit_test(test_yaml_tricky_strings),
            cmocka_unit_test(test_yaml_literal_block),
            cmocka_unit_test(test_output_json_and_caps),
            cmocka_unit_test(test_job_on_term),
            cmocka_unit_test(test_job_each_indexed),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
