#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "codec.h"
#include "release.h"

/* The release's kind, read from the two real fixture releases ctest builds
 * (RELRUN_FIXTURE_REL: mix, RELRUN_FIXTURE_ERL_REL: rebar3/relx). */
static const char *fixture_script(const char *env, char *path, size_t n)
{
        const char *rel = getenv(env);
        if (!rel || !*rel)
                fail_msg("%s is not set (ctest sets it; the fixture releases are built by "
                         "the fixture_release and fixture_release_erl tests)",
                         env);
        snprintf(path, n, "%s/bin/live_stream", rel);
        return path;
}

static void test_kind_of_the_mix_fixture(void **state)
{
        (void)state;
        char path[4096];
        struct release_layout l;
        struct err e;
        assert_int_equal(
            release_layout_read(fixture_script("RELRUN_FIXTURE_REL", path, sizeof path), &l, &e),
            0);
        assert_int_equal(l.kind, RELEASE_KIND_MIX);
        assert_true(l.elixir);
        assert_string_equal(l.vsn, "0.1.0");
        assert_true(l.releases_dir);
        assert_true(l.erts_vsn[0] != '\0');
        assert_string_equal(release_start_command(l.kind), "start");
        assert_string_equal(release_kind_name(l.kind), "mix release");
}

static void test_kind_of_the_relx_fixture(void **state)
{
        (void)state;
        char path[4096];
        struct release_layout l;
        struct err e;
        assert_int_equal(release_layout_read(
                             fixture_script("RELRUN_FIXTURE_ERL_REL", path, sizeof path), &l, &e),
                         0);
        assert_int_equal(l.kind, RELEASE_KIND_RELX);
        assert_false(l.elixir); /* an Erlang release: expressions must be Erlang */
        assert_string_equal(l.vsn, "0.1.0");
        assert_true(l.releases_dir);
        assert_string_equal(release_start_command(l.kind), "foreground");
        assert_string_equal(release_kind_name(l.kind), "relx release");
}

static void test_kind_from_script_text(void **state)
{
        (void)state;
        /* the dispatch lines as the two generators write them */
        const char mix[] = "case $1 in\n  start)\n    start\n    ;;\n  start_iex)\n    ;;\n"
                           "  rpc)\n    ;;\n  *)\n    ;;\nesac\n";
        const char relx[] =
            "case \"$1\" in\n    start|daemon|daemon_boot)\n        case \"$1\" in\n"
            "            daemon)\n    ;;\n    console|console_clean|console_boot|foreground)\n"
            "        ;;\n        \"eval\")\nesac\n";
        assert_int_equal(release_kind_of_script(mix, sizeof mix - 1), RELEASE_KIND_MIX);
        assert_int_equal(release_kind_of_script(relx, sizeof relx - 1), RELEASE_KIND_RELX);
        /* words in comments, echo lines or variables are not commands */
        const char other[] =
            "#!/bin/sh\n# start) foreground) daemon)\necho \"usage: foreground|daemon\"\n"
            "exec erl -noshell -s app start\n";
        assert_int_equal(release_kind_of_script(other, sizeof other - 1), RELEASE_KIND_UNKNOWN);
        assert_int_equal(release_kind_of_script("", 0), RELEASE_KIND_UNKNOWN);
        /* a label cut off at the end of the text */
        assert_int_equal(release_kind_of_script("  foreground", 12), RELEASE_KIND_UNKNOWN);
        assert_string_equal(release_start_command(RELEASE_KIND_UNKNOWN), "start");
}

static void test_kind_of_a_missing_script_is_an_error_naming_it(void **state)
{
        (void)state;
        struct release_layout l = {.kind = RELEASE_KIND_MIX};
        struct err e;
        assert_int_equal(release_layout_read("/nonexistent/bin/app", &l, &e), -1);
        assert_int_equal(e.code, ERR_SOFTWARE);
        assert_non_null(strstr(e.msg, "'/nonexistent/bin/app'"));
        assert_non_null(strstr(e.msg, "No such file"));
        assert_int_equal(l.kind, RELEASE_KIND_MIX); /* untouched */
}

static void test_rpc_expr_carries_user_text_only_as_base64(void **state)
{
        (void)state;
        struct buf b, enc;
        buf_init(&b, 256 * 1024);
        buf_init(&enc, 64 * 1024);
        const char *hostile = "\"); System.halt(1); (\"#{System.halt(2)}";
        struct release_call c = {.expr = hostile,
                                 .ready_expr = "Ready.now?()",
                                 .ready_timeout_ms = 1500,
                                 .tag = "RELRUN-abc"};
        assert_int_equal(release_rpc_expr(&c, &b), 0);
        const char *s = buf_str(&b);
        assert_null(strstr(s, "System.halt"));
        assert_null(strstr(s, "Ready.now"));
        assert_null(strstr(s, "RELRUN-abc"));
        codec_base64_encode(hostile, strlen(hostile), &enc);
        assert_non_null(strstr(s, buf_str(&enc)));
        assert_non_null(strstr(s, "ready_timeout: 1500,"));
        assert_non_null(strstr(s, "mode: 2,"));
        assert_non_null(strstr(s, "fast_stop: 1,"));
        /* the node program itself, as base64 of the embedded source */
        buf_reset(&enc);
        codec_base64_encode(release_node_src, release_node_src_len, &enc);
        assert_non_null(strstr(s, buf_str(&enc)));
        assert_non_null(strstr(release_node_src, "group_leader(U, self())"));
        assert_non_null(strstr(release_node_src, "init:get_status() =:= {started, started}"));
        buf_fini(&b);
        buf_fini(&enc);
}

/* The C node's name goes in as base64 too: a name with #{} or quotes cannot
 * run anything on the node (Elixir interpolates #{} inside :"..."). */
static void test_dist_expr_peer_as_base64(void **state)
{
        (void)state;
        struct buf b, enc;
        buf_init(&b, 256 * 1024);
        buf_init(&enc, 1024);
        struct release_call c = {.expr = "1", .ready_timeout_ms = 10, .tag = "T"};
        const char *peer = "relrun_1@#{System.halt(3)}\"";
        assert_int_equal(release_dist_expr(&c, peer, &b), 0);
        assert_null(strstr(buf_str(&b), "System.halt"));
        codec_base64_encode(peer, strlen(peer), &enc);
        assert_non_null(strstr(buf_str(&b), buf_str(&enc)));
        assert_non_null(strstr(buf_str(&b), "mode: 1,"));
        /* --stop sigterm: no stopper on the node, SIGTERM alone stops it */
        buf_reset(&b);
        c.no_fast_stop = true;
        assert_int_equal(release_dist_expr(&c, "relrun_1@h", &b), 0);
        assert_non_null(strstr(buf_str(&b), "fast_stop: 0,"));
        buf_fini(&b);
        buf_fini(&enc);
}

/* A relx release's eval: Erlang text, the user's and ours only as base64,
 * mode 3 (markers on the node's user); no Elixir in it. */
static void test_eval_expr_is_erlang_with_user_text_as_base64(void **state)
{
        (void)state;
        struct buf b, enc;
        buf_init(&b, 256 * 1024);
        buf_init(&enc, 64 * 1024);
        const char *hostile = "\"), erlang:halt(1), (<<\"";
        struct release_call c = {.expr = hostile,
                                 .lang = RELEASE_LANG_ERLANG,
                                 .ready_timeout_ms = 1500,
                                 .tag = "RELRUN-abc"};
        assert_int_equal(release_eval_expr(&c, &b), 0);
        const char *s = buf_str(&b);
        assert_null(strstr(s, "erlang:halt"));
        assert_null(strstr(s, "Base.decode64"));
        assert_null(strstr(s, "Elixir"));
        codec_base64_encode(hostile, strlen(hostile), &enc);
        assert_non_null(strstr(s, buf_str(&enc)));
        assert_non_null(strstr(s, "{mode, 3}, {lang, 1}, {ready_timeout, 1500}"));
        /* erl_eval:eval_str wants a full stop; the value printed is known */
        assert_non_null(strstr(s, "\"RELRUN-abc end\".\n"));
        buf_fini(&b);
        buf_fini(&enc);
}

static void test_program_args_for_the_dist_backend(void **state)
{
        (void)state;
        struct release_call c = {
            .expr = "x.", .lang = RELEASE_LANG_ERLANG, .ready_timeout_ms = 7, .tag = "T"};
        struct release_arg a[RELEASE_ARGS_MAX];
        size_t n = release_program_args(&c, RELEASE_MODE_DIST, "relrun_1@h", 2, a);
        assert_true(n <= RELEASE_ARGS_MAX);
        bool peer = false, lang = false, expr = false;
        for (size_t i = 0; i < n; i++) {
                if (!strcmp(a[i].key, "peer"))
                        peer = !a[i].is_int && a[i].len == 10 && !memcmp(a[i].s, "relrun_1@h", 10);
                if (!strcmp(a[i].key, "lang"))
                        lang = a[i].is_int && a[i].n == 1;
                if (!strcmp(a[i].key, "expr"))
                        expr = !a[i].is_int && a[i].len == 2;
        }
        assert_true(peer && lang && expr);
}

/* relx's script first runs a VM of its own (-dist_listen false) to learn the
 * host part of node names: it can never be the release's node. */
static void test_vm_parse_dist_listen_false(void **state)
{
        (void)state;
        const char cmd[] = "erlexec\0-eval\0halt()\0-dist_listen\0false\0-sname\0"
                           "longname1-app\0";
        struct release_vm vm;
        release_vm_parse(cmd, sizeof cmd, NULL, 0, &vm);
        assert_true(vm.no_listen);
        const char cmd2[] = "bin/app\0-sname\0app\0-setcookie\0c\0";
        release_vm_parse(cmd2, sizeof cmd2, NULL, 0, &vm);
        assert_false(vm.no_listen);
        assert_string_equal(vm.name, "app");
        /* and the erl it asks for the ERTS root: no name, not the node (it was
         * once taken for a release without distribution, 78) */
        const char cmd3[] = "erlexec\0-boot\0no_dot_erlang\0-sasl\0errlog_type\0error\0"
                            "-noshell\0-eval\0io:format(code:root_dir())\0";
        release_vm_parse(cmd3, sizeof cmd3, NULL, 0, &vm);
        assert_true(vm.no_listen);
        const char cmd4[] = "beam.smp\0-boot\0/app/releases/0.1.0/start\0-sname\0app\0";
        release_vm_parse(cmd4, sizeof cmd4, NULL, 0, &vm);
        assert_false(vm.no_listen);
}

static void test_markers(void **state)
{
        (void)state;
        struct release_marker m;
        const char *tag = "RELRUN-abc";
        release_parse_marker(tag, "RELRUN-abc ready", 16, &m);
        assert_int_equal(m.kind, RELEASE_MARK_READY);
        release_parse_marker(tag, "RELRUN-abc not-ready", 20, &m);
        assert_int_equal(m.kind, RELEASE_MARK_NOT_READY);
        const char *ok = "RELRUN-abc result ok e29rLCAiczEifQ=="; /* {ok, "s1"} */
        release_parse_marker(tag, ok, strlen(ok), &m);
        assert_int_equal(m.kind, RELEASE_MARK_RESULT);
        assert_false(m.error_tuple);
        assert_string_equal(m.value, "{ok, \"s1\"}");
        const char *er = "RELRUN-abc result error e2Vycm9yLCA6eH0="; /* {error, :x} */
        release_parse_marker(tag, er, strlen(er), &m);
        assert_true(m.error_tuple);
        assert_string_equal(m.value, "{error, :x}");
        const char *ex = "RELRUN-abc exit 7";
        release_parse_marker(tag, ex, strlen(ex), &m);
        assert_int_equal(m.kind, RELEASE_MARK_EXIT);
        assert_int_equal(m.code, 7);
        /* ** (RuntimeError) boom\n    x.ex:1 */
        const char *ra = "RELRUN-abc raise KiogKFJ1bnRpbWVFcnJvcikgYm9vbQogICAgeC5leDox";
        release_parse_marker(tag, ra, strlen(ra), &m);
        assert_int_equal(m.kind, RELEASE_MARK_RAISE);
        assert_string_equal(m.text, "** (RuntimeError) boom\n    x.ex:1");
        const char *rd = "RELRUN-abc ready JHRpbWUgJG1lc3NhZ2U= local stream_id";
        release_parse_marker(tag, rd, strlen(rd), &m);
        assert_int_equal(m.kind, RELEASE_MARK_READY);
        struct release_console con;
        assert_int_equal(release_console_parse(m.text, strlen(m.text), &con), 0);
        assert_string_equal(con.format, "$time $message");
        assert_false(con.utc);
        assert_string_equal(con.metadata, "stream_id");
        assert_int_equal(release_console_parse("JHRpbWU= utc", 12, &con), 0);
        assert_true(con.utc);
        assert_int_equal(release_console_parse("not base64! utc", 15, &con), -1);
        assert_int_equal(release_console_parse("JHRpbWU= sometimes", 18, &con), -1);
        /* another tag, a prefix of the tag, or plain output: not markers */
        const char *others[] = {"RELRUN-abd ready",  "RELRUN-ab ready",   "RELRUN-abcready",
                                "RELRUN-abc result", "progress 50%",      "RELRUN-abc readyX",
                                "RELRUN-abc exit x", "RELRUN-abc raise !"};
        for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
                release_parse_marker(tag, others[i], strlen(others[i]), &m);
                assert_int_equal(m.kind, RELEASE_MARK_NONE);
        }
}

static void test_result_cut_at_utf8_boundary(void **state)
{
        (void)state;
        /* 4095 'x' then "é" (2 bytes): the cut must not split the character */
        char raw[4100];
        memset(raw, 'x', 4095);
        memcpy(raw + 4095, "\xc3\xa9", 2);
        struct buf line;
        buf_init(&line, 16384);
        assert_int_equal(buf_puts(&line, "T result ok "), 0);
        codec_base64_encode(raw, 4097, &line);
        struct release_marker m;
        release_parse_marker("T", line.data, line.len, &m);
        assert_int_equal(m.kind, RELEASE_MARK_RESULT);
        assert_true(m.truncated);
        assert_int_equal(strlen(m.value), 4095);
        buf_fini(&line);
}

static void test_node_name(void **state)
{
        (void)state;
        char n[64];
        unsetenv("RELEASE_NODE");
        release_node_name("/app/bin/live_stream", n, sizeof n);
        assert_string_equal(n, "live_stream");
        setenv("RELEASE_NODE", "worker_7@pod-abc", 1);
        release_node_name("/app/bin/live_stream", n, sizeof n);
        assert_string_equal(n, "worker_7");
        unsetenv("RELEASE_NODE");
}

static void test_epmd_not_running_is_not_registered(void **state)
{
        (void)state;
        /* a port where nothing listens: "not yet", not an error */
        setenv("ERL_EPMD_PORT", "1", 1);
        struct err e;
        assert_int_equal(release_epmd_registered("live_stream", NULL, &e), 0);
        unsetenv("ERL_EPMD_PORT");
        assert_int_equal(release_epmd_registered("", NULL, &e), -1);
}

/* Command lines as /proc/PID/cmdline has them (NUL-separated), recorded
 * from Elixir 1.14 releases started by bin/NAME start. */
static const char cmd_sname[] =
    "/app/erts-13.1.5/bin/beam.smp\0--\0-root\0/app\0-bindir\0/app/erts-13.1.5/bin\0"
    "-progname\0erl\0--\0-home\0/root\0--\0-noshell\0-s\0elixir\0start_cli\0-mode\0embedded\0"
    "-setcookie\0SECRET_A\0-sname\0live_stream\0-config\0/app/tmp/sys\0-boot\0/app/start\0"
    "-extra\0--no-halt\0-name\0not_me@x";
static const char cmd_name[] =
    "/app/erts-14/bin/beam.smp\0--\0-root\0/app\0--\0-noshell\0-setcookie\0from_secret\0"
    "-name\0my_app@10.1.2.3\0-start_epmd\0false";
static const char env_k8s[] = "HOME=/home/app\0RELEASE_DISTRIBUTION=name\0ERL_EPMD_PORT=4370\0"
                              "RELEASE_NODE=my_app@10.1.2.3\0RELEASE_COOKIE=from_secret";
static const char cmd_none[] = "/app/erts-14/bin/beam.smp\0--\0-noshell\0-setcookie\0c";
static const char env_none[] = "RELEASE_DISTRIBUTION=none";
static const char cmd_noepmd[] = "/usr/lib/erlang/erts-15/bin/beam.smp\0-sname\0w@h\0"
                                 "-start_epmd\0false\0-epmd_module\0my_epmd";

static void test_vm_discovery_from_recorded_cmdlines(void **state)
{
        (void)state;
        struct release_vm vm;
        release_vm_parse(cmd_sname, sizeof cmd_sname, NULL, 0, &vm);
        assert_true(vm.distributed);
        assert_false(vm.longnames);
        assert_string_equal(vm.name, "live_stream"); /* not the one after -extra */
        assert_string_equal(vm.host, "");
        assert_true(vm.have_cookie);
        assert_string_equal(vm.cookie, "SECRET_A");
        assert_false(vm.no_epmd);
        assert_true(release_is_beam(cmd_sname, sizeof cmd_sname));

        release_vm_parse(cmd_name, sizeof cmd_name, env_k8s, sizeof env_k8s, &vm);
        assert_true(vm.longnames);
        assert_string_equal(vm.name, "my_app");
        assert_string_equal(vm.host, "10.1.2.3");
        assert_string_equal(vm.cookie, "from_secret");
        assert_string_equal(vm.home, "/home/app");
        assert_string_equal(vm.release_node, "my_app@10.1.2.3");
        assert_false(vm.dist_none);
        assert_false(vm.no_epmd); /* -start_epmd false: EPMD runs elsewhere, still used */
        assert_int_equal(vm.epmd_port, 4370);

        release_vm_parse(cmd_none, sizeof cmd_none, env_none, sizeof env_none, &vm);
        assert_false(vm.distributed);
        assert_true(vm.dist_none);

        release_vm_parse(cmd_noepmd, sizeof cmd_noepmd, NULL, 0, &vm);
        assert_true(vm.no_epmd);
        assert_string_equal(vm.name, "w");
        assert_string_equal(vm.host, "h");
        assert_false(vm.have_cookie);

        /* the cookie from the environment when the command line has none */
        static const char cmd_nocookie[] = "beam.smp\0-sname\0a";
        release_vm_parse(cmd_nocookie, sizeof cmd_nocookie, env_k8s, sizeof env_k8s, &vm);
        assert_true(vm.have_cookie);
        assert_string_equal(vm.cookie, "from_secret");

        /* a shell script still starting is no VM yet */
        static const char sh[] = "/bin/sh\0/app/bin/my_app\0start";
        assert_false(release_is_beam(sh, sizeof sh));
        static const char trailing_flag[] = "beam.smp\0-sname";
        release_vm_parse(trailing_flag, sizeof trailing_flag, NULL, 0, &vm);
        assert_false(vm.distributed);
}

/* A process caught while it execs the VM (relx's erlexec becoming beam.smp):
 * the command line read must be the VM's own, never the one of the program
 * it replaced (read before the exec, with the executable read after, it gave
 * a VM without -sname: 78 "without distribution", seen in CI). */
static void test_vm_found_while_it_execs_has_its_own_cmdline(void **state)
{
        (void)state;
        char dir[] = "/tmp/relrun-exec-XXXXXX";
        assert_non_null(mkdtemp(dir));
        char beam[64];
        snprintf(beam, sizeof beam, "%s/beam.smp", dir);
        /* a shell named like the emulator, waiting on a pipe */
        char cp[256];
        snprintf(cp, sizeof cp, "cp /bin/sh %s", beam);
        assert_int_equal(system(cp), 0);
        int found = 0, tries = 0;
        for (; tries < 400 && found < 60; tries++) {
                int fds[2];
                assert_int_equal(pipe(fds), 0);
                pid_t pid = fork();
                assert_true(pid >= 0);
                if (pid == 0) {
                        dup2(fds[0], 0);
                        close(fds[1]);
                        /* a long command line before the exec, as erlexec's */
                        static char *argv[2048];
                        int a = 0;
                        argv[a++] = "bash";
                        argv[a++] = "-c";
                        argv[a++] = "exec -a bin/app \"$0\" -c 'read x' -sname app";
                        argv[a++] = beam;
                        while (a < 2040)
                                argv[a++] = "-args_file_and_more_of_erlexec_s_flags";
                        argv[a] = NULL;
                        execv("/bin/bash", argv);
                        _exit(127);
                }
                close(fds[0]);
                struct release_vm vm;
                pid_t vm_pid = 0;
                for (int i = 0; i < 20000; i++) {
                        if (release_vm_find(pid, &vm_pid, &vm) == 1) {
                                found++;
                                assert_int_equal(vm_pid, pid);
                                if (!vm.distributed)
                                        fail_msg("try %d: the VM was read with the command line "
                                                 "of the program it exec'd from",
                                                 tries);
                                assert_string_equal(vm.name, "app");
                                break;
                        }
                }
                close(fds[1]);
                int st;
                waitpid(pid, &st, 0);
        }
        unlink(beam);
        rmdir(dir);
        /* the VM was seen, so the reads raced its exec */
        assert_true(found > 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_rpc_expr_carries_user_text_only_as_base64),
            cmocka_unit_test(test_dist_expr_peer_as_base64),
            cmocka_unit_test(test_markers),
            cmocka_unit_test(test_vm_discovery_from_recorded_cmdlines),
            cmocka_unit_test(test_result_cut_at_utf8_boundary),
            cmocka_unit_test(test_node_name),
            cmocka_unit_test(test_epmd_not_running_is_not_registered),
            cmocka_unit_test(test_eval_expr_is_erlang_with_user_text_as_base64),
            cmocka_unit_test(test_program_args_for_the_dist_backend),
            cmocka_unit_test(test_vm_parse_dist_listen_false),
            cmocka_unit_test(test_vm_found_while_it_execs_has_its_own_cmdline),
            cmocka_unit_test(test_kind_of_the_mix_fixture),
            cmocka_unit_test(test_kind_of_the_relx_fixture),
            cmocka_unit_test(test_kind_from_script_text),
            cmocka_unit_test(test_kind_of_a_missing_script_is_an_error_naming_it),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
