/* The follow decision (cmd/relrun/classify.c), fed pod and Job objects as the
 * API server sends them (recorded from kubelet/controller output and trimmed
 * to the fields that matter). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "classify.h"
#include "err.h"

#define POD_HEAD                                                                                   \
        "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"relrun-x-abcde\","       \
        "\"creationTimestamp\":\"2026-12-02T07:00:00Z\",\"labels\":{\"batch.kubernetes.io/"        \
        "job-name\":\"relrun-x\"}},\"spec\":{\"initContainers\":[{\"name\":\"relrun-pod\","        \
        "\"image\":\"ghcr.io/relrun/relrun-pod:0.1\"}],\"containers\":[{\"name\":\"task\","        \
        "\"image\":\"registry.example/live-stream:1.4\"}]},"

static const char pod_init_backoff[] =
    POD_HEAD "\"status\":{\"phase\":\"Pending\",\"conditions\":[{\"type\":\"PodScheduled\","
             "\"status\":\"True\"}],\"initContainerStatuses\":[{\"name\":\"relrun-pod\","
             "\"image\":\"ghcr.io/relrun/relrun-pod:0.1\",\"ready\":false,\"restartCount\":0,"
             "\"state\":{\"waiting\":{\"reason\":\"ImagePullBackOff\",\"message\":\"Back-off "
             "pulling image \\\"ghcr.io/relrun/relrun-pod:0.1\\\"\"}}}],\"containerStatuses\":[{"
             "\"name\":\"task\",\"image\":\"registry.example/live-stream:1.4\",\"ready\":false,"
             "\"restartCount\":0,\"state\":{\"waiting\":{\"reason\":\"PodInitializing\"}}}]}}";

static const char pod_task_errpull[] =
    POD_HEAD "\"status\":{\"phase\":\"Pending\",\"initContainerStatuses\":[{\"name\":"
             "\"relrun-pod\",\"state\":{\"terminated\":{\"exitCode\":0,\"reason\":\"Completed\"}}}"
             "],\"containerStatuses\":[{\"name\":\"task\",\"state\":{\"waiting\":{\"reason\":"
             "\"ErrImagePull\",\"message\":\"failed to pull and unpack image "
             "\\\"registry.example/live-stream:1.4\\\": not found\"}}}]}}";

static const char pod_config_error[] =
    POD_HEAD "\"status\":{\"phase\":\"Pending\",\"initContainerStatuses\":[{\"name\":"
             "\"relrun-pod\",\"state\":{\"terminated\":{\"exitCode\":0,\"reason\":\"Completed\"}}}"
             "],\"containerStatuses\":[{\"name\":\"task\",\"state\":{\"waiting\":{\"reason\":"
             "\"CreateContainerConfigError\",\"message\":\"secret \\\"db-creds\\\" not found\"}}}"
             "]}}";

static const char pod_unschedulable[] =
    POD_HEAD "\"status\":{\"phase\":\"Pending\",\"conditions\":[{\"type\":\"PodScheduled\","
             "\"status\":\"False\",\"reason\":\"Unschedulable\",\"message\":\"0/3 nodes are "
             "available: 3 Insufficient cpu.\"}]}}";

static const char pod_running[] =
    POD_HEAD "\"status\":{\"phase\":\"Running\",\"containerStatuses\":[{\"name\":\"task\","
             "\"state\":{\"running\":{\"startedAt\":\"2026-12-02T07:00:02Z\"}}}]}}";

#define POD_TERMINATED(code, reason, msg)                                                          \
        POD_HEAD "\"status\":{\"phase\":\"Failed\",\"containerStatuses\":[{\"name\":\"task\","     \
                 "\"state\":{\"terminated\":{\"exitCode\":" code ",\"reason\":\"" reason "\","     \
                 "\"message\":\"" msg "\",\"startedAt\":\"2026-12-02T07:00:02Z\","                 \
                 "\"finishedAt\":\"2026-12-02T07:00:05Z\"}}}]}}"

static const char pod_ok[] =
    POD_HEAD "\"status\":{\"phase\":\"Succeeded\",\"containerStatuses\":[{\"name\":\"task\","
             "\"state\":{\"terminated\":{\"exitCode\":0,\"reason\":\"Completed\",\"message\":"
             "\"{\\\"exit_code\\\":0,\\\"duration_ms\\\":1234,\\\"return\\\":\\\":ok\\\","
             "\\\"phase\\\":\\\"task\\\"}\"}}}]}}";

static const char job_running[] =
    "{\"kind\":\"Job\",\"metadata\":{\"name\":\"relrun-x\"},\"status\":{\"active\":1}}";
static const char job_failed_deadline[] =
    "{\"kind\":\"Job\",\"metadata\":{\"name\":\"relrun-x\"},\"status\":{\"conditions\":[{"
    "\"type\":\"Failed\",\"status\":\"True\",\"reason\":\"DeadlineExceeded\",\"message\":\"Job "
    "was active longer than specified deadline\"}]}}";
static const char job_failed_boot[] =
    "{\"kind\":\"Job\",\"metadata\":{\"name\":\"relrun-x\"},\"status\":{\"conditions\":[{"
    "\"type\":\"Failed\",\"status\":\"True\",\"reason\":\"BackoffLimitExceeded\"}]}}";
static const char job_complete[] =
    "{\"kind\":\"Job\",\"metadata\":{\"name\":\"relrun-x\"},\"status\":{\"conditions\":[{"
    "\"type\":\"SuccessCriteriaMet\",\"status\":\"True\"},{\"type\":\"Complete\",\"status\":"
    "\"True\"}]}}";
static const char job_failed_policy[] =
    "{\"kind\":\"Job\",\"metadata\":{\"name\":\"relrun-x\"},\"status\":{\"conditions\":[{"
    "\"type\":\"Failed\",\"status\":\"True\",\"reason\":\"PodFailurePolicy\",\"message\":"
    "\"Container task for pod default/relrun-x-abcde failed with exit code 3 matching "
    "FailJob rule at index 1\"}]}}";

static const char event_pod_security[] =
    "{\"kind\":\"Event\",\"involvedObject\":{\"kind\":\"Job\",\"name\":\"relrun-x\"},"
    "\"reason\":\"FailedCreate\",\"type\":\"Warning\",\"message\":\"Error creating: pods "
    "\\\"relrun-x-abcde\\\" is forbidden: violates PodSecurity \\\"restricted:latest\\\": "
    "runAsNonRoot != true (pod or container \\\"task\\\" must set "
    "securityContext.runAsNonRoot=true)\"}";
static const char event_quota[] =
    "{\"kind\":\"Event\",\"involvedObject\":{\"kind\":\"Job\",\"name\":\"relrun-x\"},"
    "\"reason\":\"FailedCreate\",\"message\":\"Error creating: pods \\\"relrun-x-abcde\\\" is "
    "forbidden: exceeded quota: compute, requested: limits.cpu=2, used: limits.cpu=3, "
    "limited: limits.cpu=4\"}";
static const char event_scheduled[] =
    "{\"kind\":\"Event\",\"involvedObject\":{\"kind\":\"Pod\",\"name\":\"relrun-x-abcde\"},"
    "\"reason\":\"Scheduled\",\"message\":\"Successfully assigned\"}";

/* One follower's view, advanced through looks like follow.c does. */
struct run {
        struct pod_view pod;
        struct job_view job;
        struct classify_timers timers;
        struct classify_in in;
        struct outcome o;
};

static void start(struct run *r, int64_t boot_retries)
{
        memset(r, 0, sizeof *r);
        r->in.pod = &r->pod;
        r->in.job = &r->job;
        r->in.boot_retries = boot_retries;
}

static struct json_object *parse(const char *text)
{
        struct json_object *o = json_tokener_parse(text);
        assert_non_null(o);
        return o;
}

static void see_pod(struct run *r, const char *text)
{
        struct json_object *o = parse(text);
        classify_read_pod(o, &r->pod);
        json_object_put(o);
}

static void see_job(struct run *r, const char *text)
{
        struct json_object *o = parse(text);
        classify_read_job(o, &r->job);
        json_object_put(o);
}

/* A look at time now (ms); returns whether it decided. */
static bool look(struct run *r, int64_t now)
{
        r->in.now = now;
        r->timers = classify_timers_next(&r->in, &r->timers);
        classify(&r->in, &r->timers, &r->o);
        return r->o.decided;
}

static void assert_has(const char *s, const char *part)
{
        if (!strstr(s, part))
                fail_msg("\"%s\" not in \"%s\"", part, s);
}

static void test_success_reads_the_termination_message(void **state)
{
        (void)state;
        struct run r;
        start(&r, 0);
        see_job(&r, job_running);
        see_pod(&r, pod_ok);
        assert_true(look(&r, 1000));
        assert_int_equal(r.o.code, 0);
        assert_null(r.o.failed);
        assert_string_equal(r.pod.tm_return, ":ok");
        assert_int_equal(r.pod.tm_duration_ms, 1234);
}

static void test_init_image_back_off_names_the_init_container(void **state)
{
        (void)state;
        struct run r;
        start(&r, 0);
        see_job(&r, job_running);
        see_pod(&r, pod_init_backoff);
        /* After the first back-off: at once, not after two minutes. */
        assert_true(look(&r, 1000));
        assert_int_equal(r.o.code, ERR_SOFTWARE);
        assert_string_equal(r.o.failed, "image pull");
        assert_true(r.o.never_ran);
        assert_has(r.o.what, "init container relrun-pod");
        assert_has(r.o.what, "ghcr.io/relrun/relrun-pod:0.1");
        assert_has(r.o.what, "ImagePullBackOff");
}

static void test_task_image_err_pull_waits_then_names_the_task(void **state)
{
        (void)state;
        struct run r;
        start(&r, 0);
        see_job(&r, job_running);
        see_pod(&r, pod_task_errpull);
        assert_false(look(&r, 1000));
        assert_false(look(&r, 1000 + CLASSIFY_PULL_GIVE_UP_MS - 1));
        assert_true(look(&r, 1000 + CLASSIFY_PULL_GIVE_UP_MS));
        assert_string_equal(r.o.failed, "image pull");
        assert_has(r.o.what, "task container task");
        assert_has(r.o.what, "registry.example/live-stream:1.4");
        assert_has(r.o.what, "not found");
        /* The init container completed: not the one named. */
        assert_null(strstr(r.o.what, "relrun-pod"));
}

static const char pod_init_errpull[] =
    POD_HEAD "\"status\":{\"phase\":\"Pending\",\"initContainerStatuses\":[{\"name\":"
             "\"relrun-pod\",\"state\":{\"waiting\":{\"reason\":\"ErrImagePull\",\"message\":"
             "\"failed to pull and unpack image \\\"ghcr.io/relrun/relrun-pod:0.1\\\": 401 "
             "Unauthorized\"}}}]}}";

/* The back-off's message only says "Back-off pulling": the summary keeps the
 * cause the ErrImagePull before it gave. */
static void test_back_off_keeps_the_last_pull_error(void **state)
{
        (void)state;
        struct run r;
        start(&r, 0);
        see_job(&r, job_running);
        see_pod(&r, pod_init_errpull);
        assert_false(look(&r, 10));
        struct pod_view old = r.pod;
        see_pod(&r, pod_init_backoff);
        classify_carry(&old, &r.pod);
        assert_true(look(&r, 20));
        assert_has(r.o.what, "ImagePullBackOff: Back-off pulling image");
        assert_has(r.o.what, "(last error: failed to pull and unpack image");
        assert_has(r.o.what, "401 Unauthorized)");
        /* another pod's history is not this one's */
        old.set = true;
        snprintf(old.name, sizeof old.name, "other");
        see_pod(&r, pod_init_backoff);
        classify_carry(&old, &r.pod);
        assert_true(look(&r, 30));
        assert_null(strstr(r.o.what, "last error"));
}

static void test_pull_timer_restarts_when_the_pull_recovers(void **state)
{
        (void)state;
        struct run r;
        start(&r, 0);
        see_job(&r, job_running);
        see_pod(&r, pod_task_errpull);
        assert_false(look(&r, 0 + 1));
        see_pod(&r, pod_running);
        assert_false(look(&r, 20000));
        see_pod(&r, pod_task_errpull);
        assert_false(look(&r, 25000));
        assert_false(look(&r, 25000 + CLASSIFY_PULL_GIVE_UP_MS - 1));
}

static void test_missing_secret_is_a_config_error(void **state)
{
        (void)state;
        struct run r;
        start(&r, 0);
        see_job(&r, job_running);
        see_pod(&r, pod_config_error);
        assert_true(look(&r, 10));
        assert_int_equal(r.o.code, ERR_CONFIG);
        assert_string_equal(r.o.failed, "container config");
        assert_true(r.o.never_ran);
        assert_has(r.o.what, "CreateContainerConfigError");
        assert_has(r.o.what, "secret \"db-creds\" not found");
}

static void test_unschedulable_gives_up_after_the_schedule_timeout(void **state)
{
        (void)state;
        struct run r;
        start(&r, 0);
        r.in.schedule_timeout_ms = 5000;
        see_job(&r, job_running);
        see_pod(&r, pod_unschedulable);
        assert_false(look(&r, 100));
        assert_false(look(&r, 5099));
        assert_true(look(&r, 5100));
        assert_int_equal(r.o.code, ERR_TIMEOUT);
        assert_string_equal(r.o.failed, "never scheduled");
        assert_true(r.o.never_ran);
        assert_has(r.o.what, "Insufficient cpu");
        /* The default is long enough for an autoscaler. */
        start(&r, 0);
        see_pod(&r, pod_unschedulable);
        assert_false(look(&r, 1));
        assert_false(look(&r, 10 * 60 * 1000));
        assert_true(look(&r, 1 + CLASSIFY_SCHEDULE_TIMEOUT_MS));
}

static void test_task_phase_is_never_a_boot_failure(void **state)
{
        (void)state;
        struct run r;
        start(&r, 2);
        see_job(&r, job_running);
        /* The VM died under the task: relrun-pod says the task ran. */
        see_pod(&r,
                POD_TERMINATED("70", "Error", "{\\\"exit_code\\\":70,\\\"phase\\\":\\\"task\\\"}"));
        assert_true(look(&r, 10));
        assert_int_equal(r.o.code, ERR_SOFTWARE);
        assert_string_equal(r.o.failed, "task failed");
        /* ... and the Job's boot retries would run it again: say so. */
        assert_true(r.o.rerun);
        start(&r, 0);
        see_pod(&r,
                POD_TERMINATED("70", "Error", "{\\\"exit_code\\\":70,\\\"phase\\\":\\\"task\\\"}"));
        assert_true(look(&r, 10));
        assert_false(r.o.rerun); /* no boot retries: nothing runs again */
        start(&r, 2);
        see_job(&r, job_running);
        see_pod(&r, POD_TERMINATED("70", "Error",
                                   "{\\\"exit_code\\\":70,\\\"phase\\\":\\\"killed\\\"}"));
        r.job.failed = true; /* no verdict wait needed for the sake of the test */
        assert_true(look(&r, 10));
        assert_int_equal(r.o.code, ERR_KILLED);
        assert_string_equal(r.o.failed, "killed");
}

static void test_boot_failure_with_retries_waits_for_the_verdict(void **state)
{
        (void)state;
        struct run r;
        start(&r, 1);
        see_job(&r, job_running);
        see_pod(&r,
                POD_TERMINATED("70", "Error", "{\\\"exit_code\\\":70,\\\"phase\\\":\\\"boot\\\"}"));
        assert_false(look(&r, 10));
        assert_false(look(&r, 60000)); /* the Job may still retry */
        see_job(&r, job_failed_boot);
        assert_false(look(&r, 60001));
        assert_true(look(&r, 60001 + CLASSIFY_BOOT_VERDICT_MS));
        assert_int_equal(r.o.code, ERR_SOFTWARE);
        assert_string_equal(r.o.failed, "release never ready");
        /* A newer pod: decide on that one. */
        start(&r, 1);
        see_pod(&r, POD_TERMINATED("70", "Error", ""));
        r.in.newer_pod = true;
        assert_false(look(&r, 10));
        assert_false(look(&r, 100000));
}

static void test_killed_waits_for_the_deadline_verdict(void **state)
{
        (void)state;
        struct run r;
        start(&r, 0);
        see_job(&r, job_running);
        see_pod(&r, POD_TERMINATED("143", "Error", ""));
        assert_false(look(&r, 10));
        see_job(&r, job_failed_deadline);
        assert_true(look(&r, 20));
        assert_int_equal(r.o.code, ERR_TIMEOUT);
        assert_string_equal(r.o.failed, "deadline");
        assert_has(r.o.what, "task ran past the deadline");
        /* No verdict: killed after the wait. */
        start(&r, 0);
        see_job(&r, job_running);
        see_pod(&r, POD_TERMINATED("137", "Error", ""));
        assert_false(look(&r, 10));
        assert_true(look(&r, 10 + CLASSIFY_KILLED_VERDICT_MS));
        assert_int_equal(r.o.code, ERR_KILLED);
        assert_has(r.o.what, "signal 9");
}

static void test_failed_create_names_the_admission_and_the_fix(void **state)
{
        (void)state;
        struct run r;
        start(&r, 0);
        see_job(&r, job_running);
        struct json_object *ev = parse(event_scheduled);
        assert_false(classify_read_event(ev, &r.job));
        json_object_put(ev);
        assert_false(look(&r, 10));
        ev = parse(event_pod_security);
        assert_true(classify_read_event(ev, &r.job));
        json_object_put(ev);
        assert_true(look(&r, 20));
        assert_int_equal(r.o.code, ERR_CONFIG);
        assert_string_equal(r.o.failed, "pod rejected");
        assert_true(r.o.never_ran);
        assert_has(r.o.what, "violates PodSecurity");
        assert_has(r.o.what, "--run-as-user");
        start(&r, 0);
        ev = parse(event_quota);
        assert_true(classify_read_event(ev, &r.job));
        json_object_put(ev);
        assert_true(look(&r, 20));
        assert_has(r.o.what, "exceeded quota");
        assert_has(r.o.what, "--cpu");
}

static void test_no_pod_at_all_gives_up_after_the_schedule_timeout(void **state)
{
        (void)state;
        struct run r;
        start(&r, 0);
        r.in.schedule_timeout_ms = 60000;
        see_job(&r, job_running);
        assert_false(look(&r, 1));
        assert_false(look(&r, 60000));
        assert_true(look(&r, 60001));
        assert_int_equal(r.o.code, ERR_TIMEOUT);
        assert_string_equal(r.o.failed, "never scheduled");
        assert_true(r.o.never_ran);
        assert_has(r.o.what, "made no pod for 60s");
        /* a pod showing up restarts nothing: it is followed */
        start(&r, 0);
        r.in.schedule_timeout_ms = 60000;
        assert_false(look(&r, 1));
        see_pod(&r, pod_running);
        assert_false(look(&r, 70000));
}

static void test_job_verdict_without_the_pod(void **state)
{
        (void)state;
        struct run r;
        start(&r, 0);
        see_job(&r, job_complete);
        assert_true(look(&r, 10)); /* no pod left at all */
        assert_int_equal(r.o.code, 0);
        start(&r, 0);
        see_pod(&r, pod_running);
        see_job(&r, job_failed_policy);
        assert_false(look(&r, 10));
        assert_true(look(&r, 10 + CLASSIFY_POD_LAG_MS));
        assert_int_equal(r.o.code, 3);
        assert_string_equal(r.o.failed, "task failed");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_success_reads_the_termination_message),
            cmocka_unit_test(test_init_image_back_off_names_the_init_container),
            cmocka_unit_test(test_task_image_err_pull_waits_then_names_the_task),
            cmocka_unit_test(test_pull_timer_restarts_when_the_pull_recovers),
            cmocka_unit_test(test_back_off_keeps_the_last_pull_error),
            cmocka_unit_test(test_missing_secret_is_a_config_error),
            cmocka_unit_test(test_unschedulable_gives_up_after_the_schedule_timeout),
            cmocka_unit_test(test_task_phase_is_never_a_boot_failure),
            cmocka_unit_test(test_boot_failure_with_retries_waits_for_the_verdict),
            cmocka_unit_test(test_killed_waits_for_the_deadline_verdict),
            cmocka_unit_test(test_failed_create_names_the_admission_and_the_fix),
            cmocka_unit_test(test_no_pod_at_all_gives_up_after_the_schedule_timeout),
            cmocka_unit_test(test_job_verdict_without_the_pod),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
