/*
 * supervisor_promote.c -- delayed jobs are promoted on time by the master
 * (lag well under [promotion] interval); two supervisors on one Redis
 * process 10,000 jobs, each exactly once; as PID 1 in a new PID namespace
 * the supervisor reaps orphaned grandchildren.
 */
#include <stdint.h>

#include "supervisor_common.h"

static struct sup_t S;

TestSuite(supervisor_promote, .fini = sup_fini, .timeout = 90);

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

Test(supervisor_promote, delayed_jobs_on_time)
{
    static const char *const plugins[] = { "echo", NULL };
    /* interval 1s: the documented bound on lateness */
    sup_setup(&S, plugins, "[type echo]\nprocesses = 1\nconcurrency = 20\n");
    sup_replace(S.ini, "interval = 200ms", "interval = 1s");
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker echo#", 1, 5000));
    cr_assert(sup_wait_idle(&S, 1, 5000), "the worker never waited for jobs");
    enum { N = 60 };
    int64_t ids[N], lag[N];
    for (int i = 0; i < N; i++) {
        ids[i] = sup_job(&S, "echo", "{}", 1, 300 + (i * 37) % 1500);
        kt_sleep_ms(5);         /* pacing: the jobs are created over 0.3 s */
    }
    for (int i = 0; i < N; i++)
        cr_assert(sup_wait_state(&S, ids[i], "complete", 5000), "job %d", i);
    for (int i = 0; i < N; i++) {
        char a[32], b[32];
        sup_field(&S, ids[i], "started_at", a, sizeof(a));
        sup_field(&S, ids[i], "promote_at", b, sizeof(b));
        lag[i] = atoll(a) - atoll(b);
    }
    qsort(lag, N, sizeof(lag[0]), cmp64);
    int64_t p50 = lag[N / 2], p99 = lag[N - 1];
    cr_log_info("promotion lag (promote_at -> started): p50 %lld ms, p99 %lld ms",
                (long long)p50, (long long)p99);
    cr_assert_lt(p99, 1000, "p99 lag %lld ms", (long long)p99);
    cr_assert_lt(p50, 400, "p50 lag %lld ms", (long long)p50);
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
}

/* The master listens on P:delayed. */
static int delayed_subscribed(void *arg)
{
    struct sup_t *s = arg;
    redisContext *c = kt_redis_connect(&s->redis);
    redisReply *r = kt_cmd(c, "PUBSUB NUMSUB q:delayed");
    int yes = r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[1]->integer == 1;
    freeReplyObject(r);
    redisFree(c);
    return yes;
}

/* A new delayed job is announced on P:delayed, so the master promotes it
 * when due even if its next poll (interval / 4) is seconds away. */
Test(supervisor_promote, new_delayed_job_not_left_to_polling)
{
    static const char *const plugins[] = { "echo", NULL };
    sup_setup(&S, plugins, "[type echo]\nprocesses = 1\nconcurrency = 4\n");
    sup_replace(S.ini, "interval = 200ms", "interval = 40s");   /* polls every 10 s */
    /* a job already due: promoted by the start-up round */
    int64_t early = sup_job(&S, "echo", "{}", 1, 1);
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker echo#", 1, 5000));
    /* the start-up round has run; the next poll is 10 s away */
    cr_assert(sup_wait_state(&S, early, "complete", 5000), "no start-up promotion round");
    cr_assert(kt_wait_until(delayed_subscribed, &S, 5000), "the master never subscribed");
    int64_t id = sup_job(&S, "echo", "{}", 1, 400);
    cr_assert(sup_wait_state(&S, id, "complete", 3000),
              "a job due in 400 ms waited for the 10 s poll");
    char a[32], b[32];
    sup_field(&S, id, "started_at", a, sizeof(a));
    sup_field(&S, id, "promote_at", b, sizeof(b));
    cr_log_info("lag of a job announced on P:delayed: %lld ms", atoll(a) - atoll(b));
    cr_assert_lt(atoll(a) - atoll(b), 1000);
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
}

Test(supervisor_promote, two_supervisors_exactly_once)
{
    static const char *const plugins[] = { "echo", NULL };
    sup_setup(&S, plugins, "[type echo]\nprocesses = 2\nconcurrency = 20\n");
    /* a second config: same Redis, its own run_dir */
    char ini2[700], log2[700];
    snprintf(ini2, sizeof(ini2), "%s/second.ini", S.dir);
    snprintf(log2, sizeof(log2), "%s/second.log", S.dir);
    char *t = kt_read_file(S.ini);
    char *r = strstr(t, "run_dir = run");
    memcpy(r, "run_dir = ru2", strlen("run_dir = ru2"));
    kt_write_file(ini2, t);
    free(t);

    enum { N = 10000 };
    kue_job_t **jobs = calloc(N, sizeof(*jobs));
    int64_t *ids = calloc(N, sizeof(*ids));
    for (int i = 0; i < N; i++)
        jobs[i] = kue_job_new("echo", "{\"n\":1}");
    cr_assert_eq(kue_job_save_bulk(S.k, jobs, N, ids), (size_t)N, "%s", kue_errstr(S.k));
    for (int i = 0; i < N; i++)
        kue_job_free(jobs[i]);
    free(jobs);

    int64_t t0 = kt_now_ms();
    sup_start(&S);
    pid_t second = sup_start_cfg(ini2, log2);
    cr_assert(sup_wait_count(&S, "echo", "complete", N, 60000), "all completed");
    int64_t took = kt_now_ms() - t0;
    cr_log_info("two supervisors: %d jobs in %lld ms", N, (long long)took);

    redisContext *c = kt_redis_connect(&S.redis);
    for (int i = 0; i < N; i++)
        redisAppendCommand(c, "HMGET q:job:%lld attempts state", (long long)ids[i]);
    int twice = 0;
    for (int i = 0; i < N; i++) {
        redisReply *rep;
        cr_assert_eq(redisGetReply(c, (void **)&rep), REDIS_OK);
        const char *att = rep->element[0]->str;
        if (!att || strcmp(att, "1") || strcmp(rep->element[1]->str, "complete"))
            twice++;
        freeReplyObject(rep);
    }
    redisFree(c);
    free(ids);
    cr_assert_eq(twice, 0, "%d jobs not completed exactly once", twice);
    cr_assert_eq(kue_count(S.k, "echo", "failed"), 0);
    /* both did some of the work */
    cr_assert(sup_log_has(S.log, "started worker echo#1"));
    cr_assert(sup_log_has(log2, "started worker echo#1"));
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    kill(second, SIGTERM);
    int st;
    cr_assert_eq(kt_wait(second, 10000, &st), 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    S.pid = 0;
}

Test(supervisor_promote, pid1_reaps_orphans)
{
    if (access("/usr/bin/unshare", X_OK) != 0)
        cr_skip_test("unshare not available");
    static const char *const none[] = { NULL };
    sup_setup(&S, none, "[type orphan]\nprocesses = 1\nconcurrency = 4\n");
    /* each job leaves an orphan: sh backgrounds a short sleep and exits */
    sup_build_plugin(&S, "orphan",
                     "#include <stdlib.h>\n#include <kue/plugin.h>\n"
                     "static void process(kue_handle_t *j) {\n"
                     "  int r = system(\"sleep 0.2 &\");\n"
                     "  kue_done(j, r == 0 ? NULL : \"system failed\", NULL); }\n"
                     "KUE_PLUGIN(.process = process);\n");
    char bin[600];
    kt_bin("kue-supervisor", bin, sizeof(bin));
    char *argv[] = { "/usr/bin/unshare", "--pid", "--fork", "--kill-child", bin, "-c", S.ini, NULL };
    pid_t u = kt_spawn(argv, S.log);
    S.pid = u;
    /* the supervisor is unshare's child; it is PID 1 inside */
    pid_t sup[2];
    int64_t t0 = kt_now_ms();
    while (sup_children(u, "", sup, 2) < 1 && kt_now_ms() - t0 < 5000)
        kt_sleep_ms(20);
    cr_assert(sup_wait_children(sup[0], "kue-supervisor: worker orphan#", 1, 5000));
    int64_t ids[10];
    for (int i = 0; i < 10; i++)
        ids[i] = sup_job(&S, "orphan", "{}", 1, 0);
    for (int i = 0; i < 10; i++)
        cr_assert(sup_wait_state(&S, ids[i], "complete", 5000));
    /* each job leaves one orphan; each must be reaped */
    cr_assert(kt_wait_file_has(S.log, "reaped orphan", 10, 5000), "orphans not reaped");
    /* no zombie left under the supervisor */
    DIR *d = opendir("/proc");
    struct dirent *e;
    int zombies = 0;
    while ((e = readdir(d))) {
        int pid = atoi(e->d_name);
        if (pid <= 0) continue;
        char path[64], buf[512];
        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        char *rp = strrchr(buf, ')');
        char st; int ppid;
        if (rp && sscanf(rp + 2, "%c %d", &st, &ppid) == 2 && ppid == sup[0] && st == 'Z')
            zombies++;
    }
    closedir(d);
    cr_assert_eq(zombies, 0, "%d zombies under the PID-1 supervisor", zombies);
    cr_assert(sup_log_has(S.log, "reaped orphan"), "orphans reaped by the master");
    cr_assert(sup_log_has(S.log, "[master 1]"), "the master ran as PID 1");
    kill(sup[0], SIGTERM);
    int st;
    cr_assert_eq(kt_wait(u, 10000, &st), 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    S.pid = 0;
}

Test(supervisor_promote, node_kue_delayed_job)
{
    if (!kt_node_available())
        cr_skip_test("node or the kue package not available");
    static const char *const plugins[] = { "echo", NULL };
    sup_setup_flags(&S, plugins, "[type echo]\nprocesses = 1\n", KT_TCP);
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker echo#", 1, 5000));
    /* Node Kue only creates the job (it promotes nothing: no process()) */
    char js[700], out[700], mods[700], envp[800];
    snprintf(js, sizeof(js), "%s/delayed.js", S.dir);
    snprintf(out, sizeof(out), "%s/node.out", S.dir);
    kt_write_file(js,
        "var kue = require('kue');\n"
        "var q = kue.createQueue({ prefix: 'q', redis: { port: +process.argv[2], host: '127.0.0.1' } });\n"
        "var t0 = Date.now();\n"
        "var timer = setTimeout(function () { console.log('timeout'); process.exit(1); }, 10000);\n"
        "var job = q.create('echo', { from: 'node' }).delay(700).save(function (err) {\n"
        "  if (err) { console.log('error ' + err); process.exit(1); } });\n"
        "job.on('complete', function () {\n"
        "  clearTimeout(timer); console.log('complete after ' + (Date.now() - t0));\n"
        "  q.shutdown(200, function () { process.exit(0); }); });\n");
    snprintf(mods, sizeof(mods), "%s/tests/node/node_modules", kt_srcdir());
    snprintf(envp, sizeof(envp), "NODE_PATH=%s", mods);
    char port[16];
    snprintf(port, sizeof(port), "%d", S.redis.port);
    char *argv[] = { "node", js, port, NULL };
    char *env[] = { envp, NULL };
    pid_t n = kt_spawn_env(argv, env, out);
    int st;
    cr_assert_eq(kt_wait(n, 15000, &st), 0);
    char *o = kt_read_file(out);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "node: %s", o ? o : "");
    int after = 0;
    cr_assert(o && sscanf(strstr(o, "complete after") ? strstr(o, "complete after") : "", "complete after %d", &after) == 1, "%s", o);
    cr_log_info("Node Kue delayed job (700 ms) completed after %d ms", after);
    cr_assert(after >= 650 && after < 2000, "completed after %d ms", after);
    free(o);
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
}
