/* pkg/patch: JSON merge patch (the RFC 7386 appendix cases), JSON patch (the
 * RFC 6902 operations, errors that leave the document alone) and strategic
 * merge of pod-template lists by name, as kubectl --overrides applies them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "patch.h"

static json_object *parse(const char *s)
{
        json_object *o = json_tokener_parse(s);
        if (!o && strcmp(s, "null") != 0)
                fail_msg("bad test JSON: %s", s);
        return o;
}

/* Apply patch to doc and compare with want (all JSON texts). */
static void check(enum patch_type t, const char *doc, const char *patch, const char *want)
{
        json_object *d = parse(doc), *w = parse(want);
        struct err e;
        err_clear(&e);
        if (patch_apply_text(&d, t, patch, &e) < 0)
                fail_msg("patch %s failed: %s", patch, e.msg);
        if (!json_object_equal(d, w))
                fail_msg("patch %s of %s:\n got  %s\n want %s", patch, doc,
                         json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN), want);
        json_object_put(d);
        json_object_put(w);
}

/* The patch fails with a message containing msg and leaves doc as it was. */
static void check_err(enum patch_type t, const char *doc, const char *patch, const char *msg)
{
        json_object *d = parse(doc), *orig = parse(doc), *before = d;
        struct err e;
        err_clear(&e);
        if (patch_apply_text(&d, t, patch, &e) == 0)
                fail_msg("patch %s should fail", patch);
        assert_int_equal(e.code, ERR_USAGE);
        if (!strstr(e.msg, msg))
                fail_msg("patch %s: message \"%s\" lacks \"%s\"", patch, e.msg, msg);
        assert_ptr_equal(d, before);
        assert_true(json_object_equal(d, orig));
        json_object_put(d);
        json_object_put(orig);
}

static void test_merge_rfc7386(void **state)
{
        (void)state;
        check(PATCH_MERGE, "{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
        check(PATCH_MERGE, "{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}");
        check(PATCH_MERGE, "{\"a\":\"b\"}", "{\"a\":null}", "{}");
        check(PATCH_MERGE, "{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}");
        check(PATCH_MERGE, "{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
        check(PATCH_MERGE, "{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}");
        check(PATCH_MERGE, "{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}",
              "{\"a\":{\"b\":\"d\"}}");
        check(PATCH_MERGE, "{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}");
        check(PATCH_MERGE, "{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}");
        check(PATCH_MERGE, "[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}");
        check(PATCH_MERGE, "{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}");
        /* a list in a merge patch replaces the list: containers are not merged */
        check(PATCH_MERGE, "{\"containers\":[{\"name\":\"task\",\"image\":\"a\"}]}",
              "{\"containers\":[{\"name\":\"side\"}]}", "{\"containers\":[{\"name\":\"side\"}]}");
        check_err(PATCH_MERGE, "{}", "[1]", "a merge patch is an object, got a list");
        check_err(PATCH_MERGE, "{}", "{\"a\":", "not JSON");
        check_err(PATCH_MERGE, "{}", "{} x", "not JSON: text after the value");
}

static void test_json_patch_ops(void **state)
{
        (void)state;
        check(PATCH_JSON, "{\"foo\":\"bar\"}",
              "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\"}]",
              "{\"foo\":\"bar\",\"baz\":\"qux\"}");
        check(PATCH_JSON, "{\"foo\":[\"bar\",\"baz\"]}",
              "[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":\"qux\"}]",
              "{\"foo\":[\"bar\",\"qux\",\"baz\"]}");
        check(PATCH_JSON, "{\"foo\":[1]}", "[{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":2}]",
              "{\"foo\":[1,2]}");
        check(PATCH_JSON, "{\"baz\":\"qux\",\"foo\":\"bar\"}",
              "[{\"op\":\"remove\",\"path\":\"/baz\"}]", "{\"foo\":\"bar\"}");
        check(PATCH_JSON, "{\"foo\":[\"bar\",\"qux\",\"baz\"]}",
              "[{\"op\":\"remove\",\"path\":\"/foo/1\"}]", "{\"foo\":[\"bar\",\"baz\"]}");
        check(PATCH_JSON, "{\"baz\":\"qux\",\"foo\":\"bar\"}",
              "[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":\"boo\"}]",
              "{\"baz\":\"boo\",\"foo\":\"bar\"}");
        check(PATCH_JSON, "{\"foo\":{\"bar\":\"baz\",\"waldo\":\"fred\"},\"qux\":{\"corge\":1}}",
              "[{\"op\":\"move\",\"from\":\"/foo/waldo\",\"path\":\"/qux/thud\"}]",
              "{\"foo\":{\"bar\":\"baz\"},\"qux\":{\"corge\":1,\"thud\":\"fred\"}}");
        check(PATCH_JSON, "{\"foo\":[\"all\",\"grass\",\"cows\",\"eat\"]}",
              "[{\"op\":\"move\",\"from\":\"/foo/1\",\"path\":\"/foo/3\"}]",
              "{\"foo\":[\"all\",\"cows\",\"eat\",\"grass\"]}");
        check(PATCH_JSON, "{\"a\":{\"b\":[1]}}",
              "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/c\"},"
              "{\"op\":\"add\",\"path\":\"/c/b/-\",\"value\":2}]",
              "{\"a\":{\"b\":[1]},\"c\":{\"b\":[1,2]}}");
        check(PATCH_JSON, "{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}",
              "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"qux\"},"
              "{\"op\":\"test\",\"path\":\"/foo/1\",\"value\":2}]",
              "{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}");
        /* ~1 is "/", ~0 is "~": annotation keys have slashes */
        check(PATCH_JSON, "{\"m\":{}}",
              "[{\"op\":\"add\",\"path\":\"/m/sidecar.istio.io~1inject\",\"value\":\"false\"},"
              "{\"op\":\"add\",\"path\":\"/m/a~0b\",\"value\":null}]",
              "{\"m\":{\"sidecar.istio.io/inject\":\"false\",\"a~b\":null}}");
        check(PATCH_JSON, "{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"\",\"value\":[1]}]", "[1]");
        check(PATCH_JSON, "{\"a\":1}", "[]", "{\"a\":1}");
}

static void test_json_patch_errors(void **state)
{
        (void)state;
        const char *doc = "{\"foo\":\"bar\",\"l\":[1,2]}";
        check_err(PATCH_JSON, doc, "{\"op\":\"add\"}",
                  "a JSON patch is a list of operations, got an object");
        check_err(PATCH_JSON, doc, "[{\"op\":\"add\",\"path\":\"/baz/bat\",\"value\":\"qux\"}]",
                  "operation 1 (add \"/baz/bat\"): the parent of \"bat\" does not exist");
        /* the first operation worked, the second fails: nothing changes */
        check_err(
            PATCH_JSON, doc,
            "[{\"op\":\"add\",\"path\":\"/x\",\"value\":1},{\"op\":\"remove\",\"path\":\"/nope\"}]",
            "operation 2 (remove \"/nope\"): \"nope\" not found");
        check_err(PATCH_JSON, doc, "[{\"op\":\"test\",\"path\":\"/foo\",\"value\":\"baz\"}]",
                  "test failed");
        check_err(PATCH_JSON, doc, "[{\"op\":\"add\",\"path\":\"/l/3\",\"value\":1}]",
                  "index \"3\" is out of range");
        check_err(PATCH_JSON, doc, "[{\"op\":\"add\",\"path\":\"/l/01\",\"value\":1}]",
                  "index \"01\" is out of range");
        check_err(PATCH_JSON, doc, "[{\"op\":\"frobnicate\",\"path\":\"/foo\"}]",
                  "op \"frobnicate\": want add, remove, replace, move, copy or test");
        check_err(PATCH_JSON, doc, "[{\"path\":\"/foo\"}]", "\"op\" (a string) is missing");
        check_err(PATCH_JSON, doc, "[{\"op\":\"add\",\"path\":\"/x\"}]", "\"value\" is missing");
        check_err(PATCH_JSON, doc, "[{\"op\":\"add\",\"path\":\"x\",\"value\":1}]",
                  "a JSON pointer starts with \"/\"");
        check_err(PATCH_JSON, doc, "[{\"op\":\"add\",\"path\":\"/a~2\",\"value\":1}]",
                  "must be followed by 0 or 1");
        check_err(PATCH_JSON, doc, "[{\"op\":\"move\",\"from\":\"/l\",\"path\":\"/l/0\"}]",
                  "into itself");
        check_err(PATCH_JSON, doc, "[{\"op\":\"replace\",\"path\":\"/nope\",\"value\":1}]",
                  "nothing there to replace");
}

static void test_strategic_pod_lists(void **state)
{
        (void)state;
        const char *pod =
            "{\"spec\":{\"containers\":[{\"name\":\"task\",\"image\":\"app:1\","
            "\"env\":[{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"B\",\"value\":\"2\"}],"
            "\"volumeMounts\":[{\"name\":\"relrun\",\"mountPath\":\"/relrun\"}]}],"
            "\"volumes\":[{\"name\":\"relrun\",\"emptyDir\":{}}],"
            "\"tolerations\":[{\"key\":\"a\",\"operator\":\"Exists\"}]}}";
        /* a sidecar is added, task keeps its fields, env B changes, C is added */
        check(PATCH_STRATEGIC, pod,
              "{\"spec\":{\"containers\":[{\"name\":\"task\",\"env\":[{\"name\":\"B\",\"value\":"
              "\"3\"},"
              "{\"name\":\"C\",\"value\":\"4\"}]},{\"name\":\"proxy\",\"image\":\"envoy\"}]}}",
              "{\"spec\":{\"containers\":[{\"name\":\"task\",\"image\":\"app:1\","
              "\"env\":[{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"B\",\"value\":\"3\"},"
              "{\"name\":\"C\",\"value\":\"4\"}],"
              "\"volumeMounts\":[{\"name\":\"relrun\",\"mountPath\":\"/relrun\"}]},"
              "{\"name\":\"proxy\",\"image\":\"envoy\"}],"
              "\"volumes\":[{\"name\":\"relrun\",\"emptyDir\":{}}],"
              "\"tolerations\":[{\"key\":\"a\",\"operator\":\"Exists\"}]}}");
        /* volumes by name, mounts by mountPath; tolerations have no key: replaced */
        check(PATCH_STRATEGIC, pod,
              "{\"spec\":{\"volumes\":[{\"name\":\"data\",\"persistentVolumeClaim\":{\"claimName\":"
              "\"d\"}}],"
              "\"containers\":[{\"name\":\"task\",\"volumeMounts\":[{\"name\":\"data\","
              "\"mountPath\":\"/data\"}]}],"
              "\"tolerations\":[{\"key\":\"b\",\"operator\":\"Exists\"}]}}",
              "{\"spec\":{\"containers\":[{\"name\":\"task\",\"image\":\"app:1\","
              "\"env\":[{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"B\",\"value\":\"2\"}],"
              "\"volumeMounts\":[{\"name\":\"relrun\",\"mountPath\":\"/relrun\"},"
              "{\"name\":\"data\",\"mountPath\":\"/data\"}]}],"
              "\"volumes\":[{\"name\":\"relrun\",\"emptyDir\":{}},"
              "{\"name\":\"data\",\"persistentVolumeClaim\":{\"claimName\":\"d\"}}],"
              "\"tolerations\":[{\"key\":\"b\",\"operator\":\"Exists\"}]}}");
        /* $patch: delete removes an item; $patch: replace replaces a map */
        check(PATCH_STRATEGIC,
              "{\"env\":[{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"B\",\"value\":\"2\"}],"
              "\"sel\":{\"a\":\"1\"}}",
              "{\"env\":[{\"name\":\"A\",\"$patch\":\"delete\"}],"
              "\"sel\":{\"$patch\":\"replace\",\"b\":\"2\"}}",
              "{\"env\":[{\"name\":\"B\",\"value\":\"2\"}],\"sel\":{\"b\":\"2\"}}");
        /* the same patch as a plain merge replaces the whole list */
        check(PATCH_MERGE, "{\"env\":[{\"name\":\"A\",\"value\":\"1\"}]}",
              "{\"env\":[{\"name\":\"B\",\"value\":\"2\"}]}",
              "{\"env\":[{\"name\":\"B\",\"value\":\"2\"}]}");
        check(PATCH_STRATEGIC, "{\"env\":[{\"name\":\"A\",\"value\":\"1\"}]}",
              "{\"env\":[{\"name\":\"B\",\"value\":\"2\"}]}",
              "{\"env\":[{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"B\",\"value\":\"2\"}]}");
}

static void test_type_names(void **state)
{
        (void)state;
        enum patch_type t;
        struct err e;
        assert_int_equal(patch_type_parse("merge", &t, &e), 0);
        assert_int_equal(t, PATCH_MERGE);
        assert_int_equal(patch_type_parse("strategic", &t, &e), 0);
        assert_int_equal(t, PATCH_STRATEGIC);
        assert_int_equal(patch_type_parse("json", &t, &e), 0);
        assert_int_equal(t, PATCH_JSON);
        assert_int_equal(patch_type_parse("yaml", &t, &e), -1);
        assert_int_equal(e.code, ERR_USAGE);
        assert_string_equal(e.msg, "--override-type \"yaml\": want merge, strategic or json");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_merge_rfc7386),     cmocka_unit_test(test_json_patch_ops),
            cmocka_unit_test(test_json_patch_errors), cmocka_unit_test(test_strategic_pod_lists),
            cmocka_unit_test(test_type_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
