/*
 * supervisor_plugincheck.c -- plugin checks never run plugin code in the
 * master or with its privileges: the check is an exec'd kue-worker
 * running as [supervisor] user (when started as root); the path to the
 * plugins directory is checked up to the root.
 */
#include "supervisor_common.h"

static struct sup_t S;

TestSuite(supervisor_plugincheck, .fini = sup_fini, .timeout = 60);

static int run_t(const char *log)
{
    char bin[600];
    kt_bin("kue-supervisor", bin, sizeof(bin));
    char *argv[] = { bin, "-t", "-c", S.ini, NULL };
    pid_t pid = kt_spawn(argv, log);
    int status;
    cr_assert_eq(kt_wait(pid, 15000, &status), 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Test(supervisor_plugincheck, check_runs_exec_d_as_the_configured_user)
{
    static const char *const none[] = { NULL };
    sup_setup(&S, none, "[type whoami]\n");
    int root = geteuid() == 0;
    if (root) {
        /* nobody must be able to reach the plugin */
        chmod(kt_tmpdir(), 0755);
        sup_replace(S.ini, "[supervisor]\n", "[supervisor]\nuser = nobody\n");
    }
    char out[700];
    snprintf(out, sizeof(out), "%s/out", S.dir);
    mkdir(out, 0777);
    chmod(out, 0777);
    char src[2048];
    snprintf(src, sizeof(src),
             "#include <stdio.h>\n#include <unistd.h>\n#include <kue/plugin.h>\n"
             "__attribute__((constructor)) static void who(void) {\n"
             "  char exe[512] = \"\"; ssize_t n = readlink(\"/proc/self/exe\", exe, 511);\n"
             "  if (n > 0) exe[n] = 0;\n"
             "  FILE *f = fopen(\"%s/who\", \"a\");\n"
             "  if (f) { fprintf(f, \"uid=%%d exe=%%s\\n\", (int)geteuid(), exe); fclose(f); }\n"
             "}\n"
             "static void process(kue_handle_t *j) { kue_done(j, 0, 0); }\n"
             "KUE_PLUGIN(.process = process);\n", out);
    sup_build_plugin(&S, "whoami", src);

    char log[800];
    snprintf(log, sizeof(log), "%s/t.log", S.dir);
    int code = run_t(log);
    char *t = kt_read_file(log);
    cr_assert_eq(code, 0, "%s", t ? t : "");
    free(t);
    char who[800];
    snprintf(who, sizeof(who), "%s/who", out);
    char *w = kt_read_file(who);
    cr_assert(w, "the plugin was not loaded");
    /* loaded by an exec'd kue-worker, not by a fork of the supervisor */
    cr_expect(strstr(w, "/kue-worker\n"), "%s", w);
    cr_expect(!strstr(w, "kue-supervisor"), "%s", w);
    if (root)
        cr_expect(strncmp(w, "uid=65534 ", 10) == 0, "checked as: %s", w);
    free(w);
}

Test(supervisor_plugincheck, writable_ancestor_of_the_plugins_dir_is_refused)
{
    static const char *const plugins[] = { "echo", NULL };
    sup_setup(&S, plugins, "[type echo]\n");
    /* plugins dir at S.dir/a/plugins, with a group-writable S.dir/a */
    char a[700], cmd[2000];
    snprintf(a, sizeof(a), "%s/a", S.dir);
    mkdir(a, 0755);
    snprintf(cmd, sizeof(cmd), "mv %s %s/plugins", S.plugins, a);
    cr_assert_eq(system(cmd), 0);
    sup_replace(S.ini, "plugins = plugins", "plugins = a/plugins");
    char log[800];
    snprintf(log, sizeof(log), "%s/t.log", S.dir);
    cr_assert_eq(run_t(log), 0);
    chmod(a, 0775);
    cr_expect_eq(run_t(log), 2);
    cr_expect(sup_log_has(log, "is writable by group"), "see %s", log);
}

static int check_started(void *arg)
{
    return sup_log_has(S.log, "checking plugin");
}

struct respawn { pid_t old; };
static int echo_respawned(void *arg)
{
    struct respawn *r = arg;
    pid_t now[2] = { 0, 0 };
    return sup_children(S.pid, "kue-supervisor: worker echo#", now, 2) == 1 && now[0] != r->old;
}

Test(supervisor_plugincheck, slow_check_does_not_block_the_master)
{
    static const char *const plugins[] = { "echo", NULL };
    sup_setup(&S, plugins, "[type echo]\n[type slow]\n");
    const char *fast = "#include <kue/plugin.h>\n"
                       "static void process(kue_handle_t *j) { kue_done(j, 0, 0); }\n"
                       "KUE_PLUGIN(.process = process);\n";
    sup_build_plugin(&S, "slow", fast);
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker echo#", 1, 5000));
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker slow#", 1, 5000));
    /* a new file whose loading takes 4 s */
    sup_build_plugin(&S, "slow",
                     "#include <unistd.h>\n#include <kue/plugin.h>\n"
                     "__attribute__((constructor)) static void wait4s(void) { sleep(4); }\n"
                     "static void process(kue_handle_t *j) { kue_done(j, 0, 0); }\n"
                     "KUE_PLUGIN(.process = process);\n");
    cr_assert(kt_wait_until(check_started, NULL, 5000), "no plugin check started");
    /* meanwhile the master goes on: a killed worker is replaced at once */
    pid_t w[2];
    cr_assert_eq(sup_children(S.pid, "kue-supervisor: worker echo#", w, 2), 1);
    int64_t t0 = kt_now_ms();
    kill(w[0], SIGKILL);
    struct respawn r = { w[0] };
    cr_assert(kt_wait_until(echo_respawned, &r, 10000));
    int64_t took = kt_now_ms() - t0;
    cr_expect_lt(took, 2500, "the master was blocked for %lld ms", (long long)took);
    cr_assert_eq(sup_stop(&S, SIGTERM, 15000), 0);
}

Test(supervisor_plugincheck, types_are_checked_at_once)
{
    static const char *const none[] = { NULL };
    sup_setup(&S, none, "[type a]\n[type b]\n[type c]\n");
    const char *slow = "#include <unistd.h>\n#include <kue/plugin.h>\n"
                       "__attribute__((constructor)) static void wait2s(void) { sleep(2); }\n"
                       "static void process(kue_handle_t *j) { kue_done(j, 0, 0); }\n"
                       "KUE_PLUGIN(.process = process);\n";
    sup_build_plugin(&S, "a", slow);
    sup_build_plugin(&S, "b", slow);
    sup_build_plugin(&S, "c", slow);
    char log[800];
    snprintf(log, sizeof(log), "%s/t.log", S.dir);
    int64_t t0 = kt_now_ms();
    cr_assert_eq(run_t(log), 0);
    int64_t took = kt_now_ms() - t0;
    /* one after the other would be 6 s */
    cr_expect_lt(took, 4500, "-t took %lld ms for three 2 s checks", (long long)took);
}
