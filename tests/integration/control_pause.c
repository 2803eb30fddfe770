/*
 * control_pause.c -- pausing a job type on every host (kue pause / resume,
 * kue_type_pause, docs/supervision.md section 7): two supervisors on one
 * Redis, the second started after the pause; 1,000 jobs wait when the
 * pause is acknowledged, no claim happens after it, jobs can still be
 * saved, `kue stats` shows the pause, and everything runs after resume.
 */
#include "supervisor_common.h"

#include "scripts.h"

static struct sup_t S;

TestSuite(control_pause, .fini = sup_fini, .timeout = 120);

/* Jobs whose started_at (Redis clock) is later than after, among ids 1..n. */
static long long started_after(redisContext *c, int64_t after, int n)
{
    return kt_int(c, "EVAL %s 0 %lld %d",
                  "local k = 0 for i = 1, tonumber(ARGV[2]) do "
                  "local s = redis.call('HGET', 'q:job:' .. i, 'started_at') "
                  "if s and tonumber(s) > tonumber(ARGV[1]) then k = k + 1 end end return k",
                  (long long)after, n);
}

static int no_active(void *a)
{
    return kue_count(((struct sup_t *)a)->k, "sleep", "active") == 0;
}

Test(control_pause, no_claim_after_the_pause_on_two_supervisors_and_all_run_after_resume)
{
    static const char *const sleep_[] = { "sleep", NULL };
    static const char *const body = "[type sleep]\nprocesses = 2\nconcurrency = 4\n";
    sup_setup(&S, sleep_, body);
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker sleep#", 2, 5000));

    enum { N = 1000 };
    kue_job_t *jobs[N];
    int64_t ids[N];
    for (int i = 0; i < N; i++)
        jobs[i] = kue_job_new("sleep", "{\"ms\":20}");
    cr_assert_eq(kue_job_save_bulk(S.k, jobs, N, ids), N, "%s", kue_errstr(S.k));
    for (int i = 0; i < N; i++)
        kue_job_free(jobs[i]);
    cr_assert_eq(ids[0], 1);
    cr_assert_eq(kue_type_pause(S.k, "sleep"), 0, "%s", kue_errstr(S.k));
    /* acknowledged: from here on no claim may succeed */
    redisContext *c = kt_redis_connect(&S.redis);
    int64_t acked = kt_redis_now_ms(c);
    long long waiting = kue_count(S.k, "sleep", "inactive");
    cr_log_info("%lld of %d jobs waiting when the pause was acknowledged", waiting, N);
    cr_assert_gt(waiting, N / 2, "the workers ran most jobs before the pause");

    /* a second supervisor, started after the pause */
    char dir2[700], ini2[800], log2[800], cmd[2000];
    snprintf(dir2, sizeof(dir2), "%s/second", S.dir);
    snprintf(ini2, sizeof(ini2), "%s/workers.ini", dir2);
    snprintf(log2, sizeof(log2), "%s/supervisor.log", dir2);
    mkdir(dir2, 0755);
    snprintf(cmd, sizeof(cmd), "cp -r %s %s/plugins", S.plugins, dir2);
    cr_assert_eq(system(cmd), 0);
    char text[2000];
    snprintf(text, sizeof(text), "[supervisor]\nplugins = plugins\nrun_dir = run\n"
             "shutdown_timeout = 5s\nlog_level = debug\n[redis]\nurl = %s\nprefix = q\n%s",
             S.redis.url, body);
    kt_write_file(ini2, text);
    pid_t second = sup_start_cfg(ini2, log2);
    cr_assert(sup_wait_children(second, "kue-supervisor: worker sleep#", 2, 5000));
    /* each of its workers asked, and was told the type is paused */
    cr_assert(kt_wait_file_has(log2, "is paused", 2, 5000), "the second supervisor's workers "
              "did not see the pause");
    /* jobs in flight at the pause finish */
    cr_assert(kt_wait_until(no_active, &S, 5000));
    /* producers can still save jobs */
    int64_t late = sup_job(&S, "sleep", "{\"ms\":1}", 1, 0);
    cr_assert_gt(late, N);
    /* a safety-net claim round of every worker comes within 2 s */
    int64_t t0 = kt_now_ms();
    while (kt_now_ms() - t0 < 2500 && started_after(c, acked, N + 1) == 0)
        kt_sleep_ms(100);
    cr_assert_eq(started_after(c, acked, N + 1), 0, "jobs were claimed after the pause");
    cr_assert_eq(kue_count(S.k, "sleep", "inactive"), waiting + 1);

    /* kue stats shows it */
    char bin[600], out[800];
    kt_bin("kue", bin, sizeof(bin));
    snprintf(out, sizeof(out), "%s/stats.out", S.dir);
    char *argv[] = { bin, "--redis", S.redis.url, "stats", NULL };
    int st;
    cr_assert_eq(kt_wait(kt_spawn(argv, out), 10000, &st), 0);
    cr_assert(sup_log_has(out, "paused    sleep\n"), "%s", kt_read_file(out));

    t0 = kt_now_ms();
    cr_assert_eq(kue_type_resume(S.k, "sleep"), 0, "%s", kue_errstr(S.k));
    cr_assert(sup_wait_count(&S, "sleep", "complete", N + 1, 60000), "%lld complete",
              kue_count(S.k, "sleep", "complete"));
    cr_log_info("after resume: %d jobs ran in %lld ms", (int)(waiting + 1),
                (long long)(kt_now_ms() - t0));
    cr_assert(sup_log_has(log2, "resumed"));
    cr_assert_eq(kue_count(S.k, "sleep", "failed"), 0);
    redisFree(c);
    kill(second, SIGTERM);
    cr_assert_eq(kt_wait(second, 10000, &st), 0);
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
}

/* An idle worker (waiting for a token) stops claiming at once: a job saved
 * after the pause stays inactive, and runs at once after resume. */
Test(control_pause, idle_workers_notice_at_once)
{
    static const char *const echo[] = { "echo", NULL };
    sup_setup(&S, echo, "[type echo]\nprocesses = 1\n");
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker echo#1", 1, 5000));
    cr_assert(sup_wait_idle(&S, 1, 5000));
    cr_assert_eq(kue_type_pause(S.k, "echo"), 0);
    /* told on P:control, it leaves its wait */
    cr_assert(sup_wait_idle(&S, 0, 1000), "the idle worker still waits for a token");
    int64_t id = sup_job(&S, "echo", "{}", 1, 0);
    cr_assert(!sup_wait_state(&S, id, "complete", 1500), "a paused type ran a job");
    char buf[32];
    cr_assert_str_eq(sup_field(&S, id, "state", buf, sizeof(buf)), "inactive");
    int64_t t0 = kt_now_ms();
    cr_assert_eq(kue_type_resume(S.k, "echo"), 0);
    cr_assert(sup_wait_state(&S, id, "complete", 3000));
    cr_log_info("resume to complete: %lld ms", (long long)(kt_now_ms() - t0));
    cr_assert_lt(kt_now_ms() - t0, 1000);
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
}

/* The claim script of a paused type claims nothing, answers "paused", and
 * gives back the token a worker's wait popped: after resume every job is
 * claimed with its token. */
Test(control_pause, claim_of_a_paused_type_keeps_its_tokens)
{
    static const char *const none[] = { NULL };
    sup_setup(&S, none, "");
    for (int i = 0; i < 3; i++)
        sup_job(&S, "t", "{}", 1, 0);
    redisContext *c = kt_redis_connect(&S.redis);
    cr_assert_eq(kt_int(c, "LLEN q:t:jobs"), 3);
    cr_assert_eq(kue_type_pause(S.k, "t"), 0);
    cr_assert_eq(kue_type_pause(S.k, "t"), 0, "pausing twice is not an error");
    freeReplyObject(kt_cmd(c, "BLPOP q:wake:h:1 q:t:jobs 1"));
    cr_assert_eq(kt_int(c, "LLEN q:t:jobs"), 2);
    const char *woke[] = { "q", "t", "3", "h", "1", "30000", "1", "1", "2", "3",
                           "0", "0", "0", "1", "0" };
    redisReply *r = kue_script_call(c, KS_CLAIM, 15, woke, NULL);
    cr_assert(r && r->type == REDIS_REPLY_STRING && !strcmp(r->str, "paused"));
    freeReplyObject(r);
    cr_assert_eq(kt_int(c, "LLEN q:t:jobs"), 3, "the token the wait popped was lost");
    cr_assert_eq(kt_int(c, "EXISTS q:parked:t"), 0, "a paused type's worker was parked");
    const char *plain[] = { "q", "t", "3", "h", "1", "30000", "0", "1", "2", "3" };
    r = kue_script_call(c, KS_CLAIM, 10, plain, NULL);
    cr_assert(r && r->type == REDIS_REPLY_STRING && !strcmp(r->str, "paused"));
    freeReplyObject(r);
    cr_assert_eq(kue_count(S.k, "t", "inactive"), 3);
    cr_assert_eq(kue_type_resume(S.k, "t"), 0);
    r = kue_script_call(c, KS_CLAIM, 10, plain, NULL);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 3);
    freeReplyObject(r);
    cr_assert_eq(kt_int(c, "LLEN q:t:jobs"), 0);
    cr_assert_eq(kue_count(S.k, "t", "active"), 3);
    redisFree(c);
}
