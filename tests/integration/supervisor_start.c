/*
 * supervisor_start.c -- start and stop the real kue-supervisor: the
 * example config, jobs processed, SIGTERM exits 0 with every child gone;
 * -t; bad configs exit 2 with file:line before forking anything.
 */
#include "supervisor_common.h"

static struct sup_t S;

TestSuite(supervisor_start, .fini = sup_fini, .timeout = 60);

Test(supervisor_start, example_config_runs_and_stops)
{
    /* etc/run.ini with the build's plugins and our private Redis, no web
     * (a fixed port could be taken) */
    static const char *const plugins[] = { "echo", "sleep", "flaky", "slideshow", NULL };
    sup_setup(&S, plugins, "");
    char path[700];
    snprintf(path, sizeof(path), "%s/etc/run.ini", kt_srcdir());
    char *run = kt_read_file(path);
    cr_assert(run, "etc/run.ini missing");
    char *web = strstr(run, "[web]");
    cr_assert(web);
    char *next = strstr(web + 1, "[type");
    memmove(web, next, strlen(next) + 1);
    char *text = malloc(strlen(run) + 2048);
    char *types = strstr(run, "[type");
    sprintf(text, "[supervisor]\nplugins = plugins\nrun_dir = run\n[redis]\nurl = %s\n%s", S.redis.url, types);
    kt_write_file(S.ini, text);
    free(text);
    free(run);

    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker ", 5, 5000), "5 workers");
    pid_t kids[8];
    cr_assert_eq(sup_children(S.pid, "kue-supervisor: worker echo#", kids, 8), 2);
    int64_t id = sup_job(&S, "echo", "{\"hello\":1}", 1, 0);
    cr_assert(sup_wait_state(&S, id, "complete", 5000), "echo job completed");
    int64_t t0 = kt_now_ms();
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    cr_assert_lt(kt_now_ms() - t0, 3000, "an idle drain is quick");
    cr_assert_eq(sup_children(S.pid, "", kids, 8), 0);
    cr_assert(sup_log_has(S.log, "stopped after"));
    char pidfile[800];
    snprintf(pidfile, sizeof(pidfile), "%s/run/kue-supervisor.pid", S.dir);
    cr_assert_neq(access(pidfile, F_OK), 0, "pidfile removed");
    S.pid = 0;
}

static int run_bad(const char *body, const char *want, const char *const *plugins)
{
    sup_setup(&S, plugins, body);
    sup_start(&S);
    int st;
    cr_assert_eq(kt_wait(S.pid, 10000, &st), 0, "exits at once");
    S.pid = 0;
    char *log = kt_read_file(S.log);
    cr_assert(log && strstr(log, want), "log lacks \"%s\":\n%s", want, log ? log : "");
    cr_assert(!strstr(log, "started worker"), "forked before validating:\n%s", log);
    free(log);
    kue_free(S.k);
    S.k = NULL;
    kt_cleanup();
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(supervisor_start, bad_configs_exit_2_with_file_line)
{
    static const char *const echo[] = { "echo", NULL };
    /* the common part is 12 lines long (see sup_setup) */
    cr_assert_eq(run_bad("[type echo]\nprocs = 2\n", ":14: [type echo] procs: unknown key", echo), 2);
    cr_assert_eq(run_bad("[type echo]\nprocesses = lots\n", ":14: [type echo] processes:", echo), 2);
    cr_assert_eq(run_bad("[wat]\n", ":13: [wat]: unknown section", echo), 2);
    cr_assert_eq(run_bad("[type missing]\n", ":13: [type missing] handler:", echo), 2);
    cr_assert_eq(run_bad("[type echo]\n[type echo]\n", ":14: [type echo]: duplicate section", echo), 2);
}

Test(supervisor_start, broken_plugin_exits_2)
{
    static const char *const none[] = { NULL };
    sup_setup(&S, none, "\n[type junk]\nprocesses = 1\n");
    char so[800];
    snprintf(so, sizeof(so), "%s/junk.so", S.plugins);
    kt_write_file(so, "this is not an ELF file");
    chmod(so, 0644);
    sup_start(&S);
    int st;
    cr_assert_eq(kt_wait(S.pid, 10000, &st), 0);
    S.pid = 0;
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2, "status %d", st);
    cr_assert(sup_log_has(S.log, ":14: [type junk] handler: "));
}

Test(supervisor_start, check_mode)
{
    static const char *const echo[] = { "echo", NULL };
    sup_setup(&S, echo, "[type echo]\nprocesses = 2\n");
    char bin[600];
    kt_bin("kue-supervisor", bin, sizeof(bin));
    char *argv[] = { bin, "-t", "-c", S.ini, NULL };
    pid_t p = kt_spawn(argv, S.log);
    int st;
    cr_assert_eq(kt_wait(p, 10000, &st), 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    cr_assert(sup_log_has(S.log, "is valid: 1 type(s), 2 worker process(es)"));
    /* -t on a bad file: 2 */
    char bad[700];
    snprintf(bad, sizeof(bad), "%s/bad.ini", S.dir);
    kt_write_file(bad, "[type echo]\nconcurrency = 0\n");
    char *argv2[] = { bin, "-t", "-c", bad, NULL };
    p = kt_spawn(argv2, S.log);
    cr_assert_eq(kt_wait(p, 10000, &st), 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2, "status %d", st);
    snprintf(bad, sizeof(bad), "%s/bad.ini:2: [type echo] concurrency:", S.dir);
    cr_assert(sup_log_has(S.log, bad));
}

Test(supervisor_start, embedded_redis)
{
    static const char *const echo[] = { "echo", NULL };
    sup_setup(&S, echo, "");
    char text[1024];
    snprintf(text, sizeof(text),
             "[supervisor]\nplugins = plugins\nrun_dir = run\n[redis]\nurl = embedded\n"
             "[type echo]\n");
    kt_write_file(S.ini, text);
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker echo#", 1, 5000));
    char sock[700], url[800], err[256];
    snprintf(sock, sizeof(sock), "%s/run/redis.sock", S.dir);
    snprintf(url, sizeof(url), "unix://%s", sock);
    kue_t *k = NULL;
    for (int i = 0; i < 100 && !k; i++) {
        k = kue_connect(url, "q", err, sizeof(err));
        if (!k) kt_sleep_ms(20);
    }
    cr_assert(k, "embedded redis reachable: %s", err);
    kue_free(S.k);
    S.k = k;
    int64_t id = sup_job(&S, "echo", "{}", 1, 0);
    cr_assert(sup_wait_state(&S, id, "complete", 5000));
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    pid_t kids[8];
    cr_assert_eq(sup_children(S.pid, "", kids, 8), 0, "redis-server stopped too");
    S.pid = 0;
    char aof[700];
    snprintf(aof, sizeof(aof), "%s/run/data", S.dir);
    struct stat st;
    cr_assert_eq(stat(aof, &st), 0, "data dir exists");
}
