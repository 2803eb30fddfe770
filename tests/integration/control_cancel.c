/*
 * control_cancel.c -- cancelling jobs (kue cancel, kue_job_cancel,
 * docs/supervision.md section 7): a queued job fails at once and is not
 * retried; a running job's worker is told at once and its plugin's cancel
 * hook ends it; a handler that holds the loop is killed after the grace
 * time, and its co-tenants go back without spending an attempt; the
 * worker may run under a second supervisor; a plugin built against the
 * header before the hook existed still loads, and its worker is killed at
 * once.  The jobs run in tests/plugins/cancel.c, compiled here.
 */
#include "supervisor_common.h"

#include "scripts.h"

static struct sup_t S;

TestSuite(control_cancel, .fini = sup_fini, .timeout = 90);

/* Build tests/plugins/cancel.c into dir as cancel.so; old_abi: against
 * the plugin header of the first release (no cancel hook). */
static void build_cancel(const char *dir, int old_abi)
{
    char src[700], so[700], cmd[3000], inc[800] = "";
    snprintf(src, sizeof(src), "%s/tests/plugins/cancel.c", kt_srcdir());
    snprintf(so, sizeof(so), "%s/cancel.so", dir);
    if (old_abi)
        snprintf(inc, sizeof(inc), "-DKUE_TEST_OLD_ABI -I%s/tests/plugins/abi1", kt_srcdir());
    snprintf(cmd, sizeof(cmd), "cc -shared -fPIC %s -I%s/include -o %s %s -ljansson -lev", inc,
             kt_srcdir(), so, src);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

static void start_cancel(int concurrency, int old_abi)
{
    static const char *const none[] = { NULL };
    char body[200];
    snprintf(body, sizeof(body), "[type cancel]\nprocesses = 1\nconcurrency = %d\n", concurrency);
    sup_setup(&S, none, body);
    build_cancel(S.plugins, old_abi);
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker cancel#1", 1, 5000));
}

static pid_t worker_pid(pid_t sup)
{
    pid_t p[4];
    return sup_children(sup, "kue-supervisor: worker cancel#1", p, 4) == 1 ? p[0] : -1;
}

/* Inactive and delayed jobs fail at once with "cancelled", attempts left
 * or not; a complete job stays complete and the caller is told; an
 * unknown id is an error. */
Test(control_cancel, queued_jobs_fail_at_once_and_finished_ones_stay)
{
    static const char *const none[] = { NULL };
    sup_setup(&S, none, "");
    int64_t q = sup_job(&S, "nobody", "{}", 3, 0);
    int64_t d = sup_job(&S, "nobody", "{}", 3, 60000);
    kue_cancel_t out = -1;
    cr_assert_eq(kue_job_cancel(S.k, q, 5000, &out), 0, "%s", kue_errstr(S.k));
    cr_assert_eq(out, KUE_CANCEL_DONE);
    cr_assert_eq(kue_job_cancel(S.k, d, 5000, &out), 0, "%s", kue_errstr(S.k));
    cr_assert_eq(out, KUE_CANCEL_DONE);
    char buf[64];
    for (int i = 0; i < 2; i++) {
        int64_t id = i ? d : q;
        cr_assert_str_eq(sup_field(&S, id, "state", buf, sizeof(buf)), "failed");
        cr_assert_str_eq(sup_field(&S, id, "error", buf, sizeof(buf)), "cancelled");
    }
    cr_assert_eq(kue_count(S.k, "nobody", "inactive"), 0);
    cr_assert_eq(kue_count(S.k, "nobody", "delayed"), 0);
    cr_assert_eq(kue_count(S.k, "nobody", "failed"), 2);
    /* a second cancel: already failed, left as it is */
    cr_assert_eq(kue_job_cancel(S.k, q, 5000, &out), 0);
    cr_assert_eq(out, KUE_CANCEL_FAILED);
    /* complete before the cancel: stays complete */
    int64_t c = sup_job(&S, "nobody", "{}", 1, 0);
    cr_assert_eq(kue_job_set_state(S.k, c, "complete"), 0);
    cr_assert_eq(kue_job_cancel(S.k, c, 5000, &out), 0);
    cr_assert_eq(out, KUE_CANCEL_COMPLETE);
    cr_assert_str_eq(sup_field(&S, c, "state", buf, sizeof(buf)), "complete");
    cr_assert_str_empty(sup_field(&S, c, "error", buf, sizeof(buf)));
    /* active under a Node Kue worker: it cannot be told */
    int64_t node = sup_job(&S, "nobody", "{}", 1, 0);
    cr_assert_eq(kue_job_set_state(S.k, node, "active"), 0);
    redisContext *rc = kt_redis_connect(&S.redis);
    char hset[200];
    snprintf(hset, sizeof(hset), "HSET q:job:%lld workerId node-worker-1", (long long)node);
    freeReplyObject(kt_cmd(rc, hset));
    redisFree(rc);
    cr_assert_eq(kue_job_cancel(S.k, node, 5000, &out), -1);
    cr_assert_eq(kue_errcode(S.k), KUE_ERR_WRONGSTATE);
    cr_assert(strstr(kue_errstr(S.k), "not held by a kue worker"), "%s", kue_errstr(S.k));
    cr_assert_str_eq(sup_field(&S, node, "state", buf, sizeof(buf)), "active");
    cr_assert_eq(kue_job_cancel(S.k, 999999, 5000, &out), -1);
    cr_assert_eq(kue_errcode(S.k), KUE_ERR_NOTFOUND);
    cr_assert_eq(kue_job_cancel(S.k, q, -1, &out), -1);
    cr_assert_eq(kue_errcode(S.k), KUE_ERR_INVALID);

    /* the CLI says what happened, and exits 1 for a finished job */
    char bin[600], log[700];
    kt_bin("kue", bin, sizeof(bin));
    snprintf(log, sizeof(log), "%s/cli.out", S.dir);
    int64_t q2 = sup_job(&S, "nobody", "{}", 1, 0);
    char a1[24], a2[24];
    snprintf(a1, sizeof(a1), "%lld", (long long)q2);
    snprintf(a2, sizeof(a2), "%lld", (long long)c);
    char *argv[] = { bin, "--redis", S.redis.url, "cancel", a1, a2, "--grace", "2s", NULL };
    int st;
    cr_assert_eq(kt_wait(kt_spawn(argv, log), 10000, &st), 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    char want[64];
    snprintf(want, sizeof(want), "%lld cancelled", (long long)q2);
    cr_assert(sup_log_has(log, want), "%s", kt_read_file(log));
    cr_assert(sup_log_has(log, "had already completed"), "%s", kt_read_file(log));
}

/* A cooperative handler: the cancel hook ends the job within the grace
 * time, the job fails for good (attempts were left), the worker lives on
 * and its other jobs go on. */
Test(control_cancel, cooperative_handler_stops_the_job)
{
    start_cancel(3, 0);
    int64_t ids[3];
    for (int i = 0; i < 3; i++)
        ids[i] = sup_job(&S, "cancel", "{\"ms\":60000}", 3, 0);
    for (int i = 0; i < 3; i++)
        cr_assert(sup_wait_state(&S, ids[i], "active", 5000));
    pid_t w = worker_pid(S.pid);
    kue_cancel_t out;
    int64_t t0 = kt_now_ms();
    cr_assert_eq(kue_job_cancel(S.k, ids[0], 30000, &out), 0, "%s", kue_errstr(S.k));
    cr_assert_eq(out, KUE_CANCEL_PENDING);
    cr_assert(sup_wait_state(&S, ids[0], "failed", 5000), "the cancelled job did not fail");
    int64_t took = kt_now_ms() - t0;
    cr_log_info("cooperative cancel: failed %lld ms after the call", (long long)took);
    cr_assert_lt(took, 500, "the worker was not told at once (%lld ms)", (long long)took);
    char buf[256];
    cr_assert_str_eq(sup_field(&S, ids[0], "error", buf, sizeof(buf)), "cancelled");
    cr_assert_str_eq(sup_field(&S, ids[0], "attempts", buf, sizeof(buf)), "1");
    cr_assert_eq(worker_pid(S.pid), w, "the worker was killed");
    for (int i = 1; i < 3; i++)
        cr_assert_str_eq(sup_field(&S, ids[i], "state", buf, sizeof(buf)), "active");
    cr_assert(sup_log_has(S.log, "calling the plugin's cancel hook"));
    cr_assert_eq(sup_stop(&S, SIGQUIT, 10000) >= 0, 1);
    S.pid = 0;
}

/* A handler that spins holds the loop and never sees the cancel: its
 * worker is killed once the grace time is over, the job fails with
 * "cancelled" for good, and the three co-tenant jobs go back without
 * spending an attempt and complete on the next worker. */
static void kill_case(int64_t grace, int old_abi, const char *data)
{
    start_cancel(4, old_abi);
    int64_t ids[3];
    for (int i = 0; i < 3; i++)
        ids[i] = sup_job(&S, "cancel", "{\"ms\":3000}", 3, 0);
    for (int i = 0; i < 3; i++)
        cr_assert(sup_wait_state(&S, ids[i], "active", 5000));
    int64_t spin = sup_job(&S, "cancel", data, 3, 0);
    cr_assert(sup_wait_state(&S, spin, "active", 5000));
    pid_t w = worker_pid(S.pid);
    kue_cancel_t out;
    int64_t t0 = kt_now_ms();
    cr_assert_eq(kue_job_cancel(S.k, spin, grace, &out), 0, "%s", kue_errstr(S.k));
    cr_assert_eq(out, KUE_CANCEL_PENDING);
    cr_assert(sup_wait_state(&S, spin, "failed", 10000), "the spinning job was not failed");
    int64_t took = kt_now_ms() - t0;
    cr_log_info("%s (grace %lld ms): failed after %lld ms", data, (long long)grace,
                (long long)took);
    if (!old_abi)
        cr_assert_geq(took, grace - 50, "killed before the grace time");
    cr_assert_lt(took, grace + 3000);
    char buf[256];
    cr_assert_str_eq(sup_field(&S, spin, "error", buf, sizeof(buf)), "cancelled");
    cr_assert_str_eq(sup_field(&S, spin, "attempts", buf, sizeof(buf)), "1");
    /* (the job's failure is written just before the SIGKILL) */
    cr_assert(sup_wait_replaced(S.pid, "kue-supervisor: worker cancel#", w, 5000),
              "worker %d was not killed and replaced", (int)w);
    for (int i = 0; i < 3; i++) {
        cr_assert(sup_wait_state(&S, ids[i], "complete", 15000), "job %lld not completed",
                  (long long)ids[i]);
        cr_assert_str_eq(sup_field(&S, ids[i], "attempts", buf, sizeof(buf)), "1",
                         "job %lld spent an attempt", (long long)ids[i]);
        cr_assert_str_empty(sup_field(&S, ids[i], "error", buf, sizeof(buf)));
    }
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
}

Test(control_cancel, spinning_handler_is_killed_after_the_grace_and_cotenants_keep_attempts)
{
    kill_case(1000, 0, "{\"spin\":true}");
}

/* A plugin built against the previous plugin.h (no cancel hook, smaller
 * descriptor) loads and runs jobs; a cancel of one of its jobs kills its
 * worker at once (the worker asks its master), long before the grace
 * time, and the co-tenants keep their attempts. */
Test(control_cancel, plugin_of_the_previous_abi_loads_and_is_killed_at_once)
{
    start_cancel(4, 1);
    int64_t j = sup_job(&S, "cancel", "{\"ms\":10}", 1, 0);
    cr_assert(sup_wait_state(&S, j, "complete", 5000), "a job of the old plugin did not run");
    sup_stop(&S, SIGTERM, 10000);
    sup_fini();
    kill_case(60000, 1, "{\"ms\":60000}");
    cr_assert(sup_log_has(S.log, "has no cancel hook"));
}

/* The job runs under a second supervisor on the same Redis: that one
 * kills its worker; the first one, which runs other types, kills nothing. */
Test(control_cancel, job_held_by_a_second_supervisor)
{
    static const char *const echo[] = { "echo", NULL };
    sup_setup(&S, echo, "[type echo]\nprocesses = 1\n");
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker echo#1", 1, 5000));

    char dir2[700], plugins2[800], ini2[800], log2[800];
    snprintf(dir2, sizeof(dir2), "%s/second", S.dir);
    snprintf(plugins2, sizeof(plugins2), "%s/plugins", dir2);
    snprintf(ini2, sizeof(ini2), "%s/workers.ini", dir2);
    snprintf(log2, sizeof(log2), "%s/supervisor.log", dir2);
    mkdir(dir2, 0755);
    mkdir(plugins2, 0755);
    build_cancel(plugins2, 0);
    char text[2000];
    snprintf(text, sizeof(text),
             "[supervisor]\nplugins = plugins\nrun_dir = run\nshutdown_timeout = 5s\n"
             "log_level = debug\n[redis]\nurl = %s\nprefix = q\n"
             "[type cancel]\nprocesses = 1\nconcurrency = 2\n", S.redis.url);
    kt_write_file(ini2, text);
    pid_t second = sup_start_cfg(ini2, log2);
    cr_assert(sup_wait_children(second, "kue-supervisor: worker cancel#1", 1, 5000));

    int64_t spin = sup_job(&S, "cancel", "{\"spin\":true}", 2, 0);
    cr_assert(sup_wait_state(&S, spin, "active", 5000));
    kue_cancel_t out;
    cr_assert_eq(kue_job_cancel(S.k, spin, 300, &out), 0, "%s", kue_errstr(S.k));
    cr_assert_eq(out, KUE_CANCEL_PENDING);
    cr_assert(sup_wait_state(&S, spin, "failed", 10000), "the job was not failed");
    char buf[64];
    cr_assert_str_eq(sup_field(&S, spin, "error", buf, sizeof(buf)), "cancelled");
    cr_assert(sup_log_has(log2, "was cancelled"), "the second supervisor did not kill it");
    cr_assert(!sup_log_has(S.log, "was cancelled"));
    /* its worker is back and takes jobs */
    int64_t after = sup_job(&S, "cancel", "{\"ms\":10}", 1, 0);
    cr_assert(sup_wait_state(&S, after, "complete", 10000));
    kill(second, SIGTERM);
    int st;
    cr_assert_eq(kt_wait(second, 10000, &st), 0);
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
}

/* While a job is marked cancelled, a failure of it is final and says
 * "cancelled", whoever reports it (the handler with another error, the
 * settle of its dead worker, in requeue mode too); an operator's move
 * clears the mark. */
Test(control_cancel, a_cancelled_job_fails_for_good_whoever_reports_it)
{
    static const char *const none[] = { NULL };
    sup_setup(&S, none, "");
    redisContext *c = kt_redis_connect(&S.redis);
    int64_t id[3];
    for (int i = 0; i < 3; i++)
        id[i] = sup_job(&S, "t", "{}", 5, 0);
    const char *claim[] = { "q", "t", "3", "h", "7", "30000", "0", "1", "2", "3" };
    redisReply *r = kue_script_call(c, KS_CLAIM, 10, claim, NULL);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 3);
    freeReplyObject(r);
    kue_cancel_t out;
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(kue_job_cancel(S.k, id[i], 60000, &out), 0, "%s", kue_errstr(S.k));
        cr_assert_eq(out, KUE_CANCEL_PENDING);
    }
    cr_assert_eq(kt_int(c, "ZCARD q:cancels"), 3);
    /* the handler fails it with its own error */
    char s0[24];
    snprintf(s0, sizeof(s0), "%lld", (long long)id[0]);
    const char *fail[] = { "q", s0, "", "boom", "-1", "" };
    freeReplyObject(kue_script_call(c, KS_FAIL, 6, fail, NULL));
    /* the worker died: settle in requeue mode */
    const char *settle[] = { "q", "h", "7", "worker 7 killed", "requeue" };
    freeReplyObject(kue_script_call(c, KS_SETTLE, 5, settle, NULL));
    char buf[64];
    for (int i = 0; i < 3; i++) {
        cr_assert_str_eq(sup_field(&S, id[i], "state", buf, sizeof(buf)), "failed",
                         "job %lld", (long long)id[i]);
        cr_assert_str_eq(sup_field(&S, id[i], "error", buf, sizeof(buf)), "cancelled");
    }
    cr_assert_eq(kt_int(c, "ZCARD q:cancels"), 0);
    /* an operator's move clears a mark */
    int64_t j = sup_job(&S, "t", "{}", 1, 0);
    const char *claim1[] = { "q", "t", "1", "h", "8", "30000", "0", "1" };
    freeReplyObject(kue_script_call(c, KS_CLAIM, 8, claim1, NULL));
    cr_assert_eq(kue_job_cancel(S.k, j, 60000, &out), 0);
    cr_assert_eq(kue_job_set_state(S.k, j, "complete"), 0);
    cr_assert_eq(kt_int(c, "ZCARD q:cancels"), 0);
    redisFree(c);
}

/* A worker run by hand (no supervisor to kill it) whose plugin has no
 * cancel hook fails the job's attempt itself, at once, and lives on. */
Test(control_cancel, worker_without_a_supervisor_fails_the_job_itself)
{
    static const char *const none[] = { NULL };
    sup_setup(&S, none, "");
    build_cancel(S.plugins, 1);
    char bin[600], so[800], log[800];
    kt_bin("kue-worker", bin, sizeof(bin));
    snprintf(so, sizeof(so), "%s/cancel.so", S.plugins);
    snprintf(log, sizeof(log), "%s/worker.log", S.dir);
    char *argv[] = { bin, "--redis", S.redis.url, "--type", "cancel", "--plugin", so,
                     "--concurrency", "2", NULL };
    pid_t w = kt_spawn(argv, log);
    int64_t id = sup_job(&S, "cancel", "{\"ms\":60000}", 3, 0);
    cr_assert(sup_wait_state(&S, id, "active", 5000));
    kue_cancel_t out;
    cr_assert_eq(kue_job_cancel(S.k, id, 60000, &out), 0, "%s", kue_errstr(S.k));
    cr_assert_eq(out, KUE_CANCEL_PENDING);
    cr_assert(sup_wait_state(&S, id, "failed", 3000));
    char buf[64];
    cr_assert_str_eq(sup_field(&S, id, "error", buf, sizeof(buf)), "cancelled");
    cr_assert_eq(kill(w, 0), 0, "the worker is gone");
    int64_t next = sup_job(&S, "cancel", "{\"ms\":10}", 1, 0);
    cr_assert(sup_wait_state(&S, next, "complete", 5000));
    kill(w, SIGTERM);
    int st;
    cr_assert_eq(kt_wait(w, 10000, &st), 0);
}
