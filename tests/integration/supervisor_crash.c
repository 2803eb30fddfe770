/*
 * supervisor_crash.c -- a worker killed mid-job: the job is settled at once
 * with the real cause, retried and completed, and the worker respawned; a
 * crash-looping type backs off while another keeps processing; a hard
 * timeout kills a worker whose job ran too long.
 */
#include "supervisor_common.h"

static struct sup_t S;

TestSuite(supervisor_crash, .fini = sup_fini, .timeout = 60);

Test(supervisor_crash, kill9_settles_and_retries)
{
    static const char *const plugins[] = { "sleep", NULL };
    sup_setup(&S, plugins, "[type sleep]\nprocesses = 1\nconcurrency = 1\n");
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker sleep#1", 1, 5000));
    pid_t w[4];
    cr_assert_eq(sup_children(S.pid, "kue-supervisor: worker sleep#1", w, 4), 1);
    int64_t id = sup_job(&S, "sleep", "{\"ms\":800}", 2, 0);
    cr_assert(sup_wait_state(&S, id, "active", 3000));
    int64_t t0 = kt_now_ms();
    kill(w[0], SIGKILL);
    /* settled at once: no longer active well before any lease expiry */
    struct sup_state_arg a = { &S, id, "active" };
    int still = 1;
    while (kt_now_ms() - t0 < 2000 && (still = sup_state_is(&a)))
        kt_sleep_ms(10);
    cr_assert(!still, "job left active after its worker died");
    cr_log_info("job settled %lld ms after kill -9", (long long)(kt_now_ms() - t0));
    char err[512];
    sup_field(&S, id, "error", err, sizeof(err));
    char want[64];
    snprintf(want, sizeof(want), "worker %d killed by signal 9", (int)w[0]);
    cr_assert(strstr(err, want), "error \"%s\" lacks \"%s\"", err, want);
    cr_assert(sup_wait_state(&S, id, "complete", 6000), "retried and completed");
    char buf[32];
    cr_assert_str_eq(sup_field(&S, id, "attempts", buf, sizeof(buf)), "2");
    pid_t w2[4];
    cr_assert_eq(sup_children(S.pid, "kue-supervisor: worker sleep#1", w2, 4), 1, "respawned");
    cr_assert_neq(w2[0], w[0]);
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
}

Test(supervisor_crash, crash_loop_backs_off_others_keep_going)
{
    static const char *const plugins[] = { "crash", "echo", NULL };
    sup_setup(&S, plugins, "[type crash]\nprocesses = 1\n[type echo]\nprocesses = 1\nconcurrency = 5\n");
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker ", 2, 5000));
    for (int i = 0; i < 20; i++)
        sup_job(&S, "crash", "{\"signal\":11}", 1, 0);
    int64_t t0 = kt_now_ms();
    int n = 0;
    while (kt_now_ms() - t0 < 3500) {
        sup_job(&S, "echo", "{}", 1, 0);
        n++;
        kt_sleep_ms(20);
    }
    cr_assert(sup_wait_count(&S, "echo", "complete", n, 3000), "echo kept processing");
    /* backoff 200ms, 400, 800, 1600 ...: in ~3.5 s at most ~5 crashes */
    long long failed = kue_count(S.k, "crash", "failed");
    cr_assert(failed >= 2 && failed <= 6, "crashes: %lld", failed);
    cr_assert(sup_log_has(S.log, "is crash-looping"));
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
}

Test(supervisor_crash, hard_timeout_kills_hung_handler)
{
    static const char *const none[] = { NULL };
    sup_setup(&S, none, "[type hang]\nprocesses = 1\ntimeout = 700ms\n");
    sup_build_plugin(&S, "hang",
                     "#include <unistd.h>\n#include <kue/plugin.h>\n"
                     "static void process(kue_handle_t *j) { (void)j; for (;;) pause(); }\n"
                     "KUE_PLUGIN(.process = process);\n");
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker hang#1", 1, 5000));
    pid_t w[4];
    sup_children(S.pid, "kue-supervisor: worker hang#1", w, 4);
    int64_t id = sup_job(&S, "hang", "{}", 1, 0);
    cr_assert(sup_wait_state(&S, id, "failed", 4000), "timed-out job failed");
    char err[256];
    sup_field(&S, id, "error", err, sizeof(err));
    cr_assert(strstr(err, "timeout"), "error: %s", err);
    cr_assert(sup_wait_replaced(S.pid, "kue-supervisor: worker hang#", w[0], 5000),
              "worker replaced");
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
}

Test(supervisor_crash, stale_heartbeat_means_hung)
{
    static const char *const plugins[] = { "crash", NULL };
    sup_setup(&S, plugins, "[type crash]\nprocesses = 1\n");
    /* the worker writes its heartbeat every second: 3 s without one is
     * hung, not a worker slow to be scheduled on a loaded machine */
    sup_replace(S.ini, "log_level = debug", "log_level = debug\nheartbeat_timeout = 3s");
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker crash#1", 1, 5000));
    pid_t w[4];
    sup_children(S.pid, "kue-supervisor: worker crash#1", w, 4);
    cr_assert(sup_wait_idle(&S, 1, 5000), "the worker never waited for jobs");
    /* SIGSTOP: the process stays, its loop (and heartbeat) stops */
    int64_t id = sup_job(&S, "crash", "{\"signal\":19}", 1, 0);
    cr_assert(sup_wait_state(&S, id, "failed", 15000), "job of the hung worker settled");
    char err[256];
    sup_field(&S, id, "error", err, sizeof(err));
    cr_assert(strstr(err, "hung"), "error: %s", err);
    cr_assert(sup_log_has(S.log, "hung: no heartbeat"));
    cr_assert(sup_wait_replaced(S.pid, "kue-supervisor: worker crash#", w[0], 5000),
              "the hung worker was not replaced");
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
}

Test(supervisor_crash, max_jobs_recycles_new_one_first)
{
    static const char *const plugins[] = { "echo", NULL };
    sup_setup(&S, plugins, "[type echo]\nprocesses = 1\nmax_jobs = 5\nmax_jobs_jitter = 0\n");
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker echo#", 1, 5000));
    pid_t w[4];
    sup_children(S.pid, "kue-supervisor: worker echo#", w, 4);
    int64_t ids[12];
    for (int i = 0; i < 12; i++)
        ids[i] = sup_job(&S, "echo", "{}", 1, 0);
    for (int i = 0; i < 12; i++)
        cr_assert(sup_wait_state(&S, ids[i], "complete", 5000));
    pid_t w2[4] = { w[0] };
    int64_t t0 = kt_now_ms();
    while (kt_now_ms() - t0 < 3000) {
        int n = sup_children(S.pid, "kue-supervisor: worker echo#", w2, 4);
        cr_assert_leq(n, 2, "one extra process at most");
        if (n == 1 && w2[0] != w[0])
            break;
        kt_sleep_ms(10);
    }
    cr_assert_neq(w[0], w2[0], "recycled");
    cr_assert(sup_log_has(S.log, "(max_jobs): replacing it"));
    cr_assert_eq(kue_count(S.k, "echo", "failed"), 0);
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
}

/* Redis goes away mid-run and a worker dies meanwhile: the master keeps
 * the settle call until Redis is back, then the job is failed with its
 * real cause, retried and completed; nothing is lost. */
Test(supervisor_crash, worker_dies_while_redis_is_down)
{
    static const char *const plugins[] = { "sleep", NULL };
    sup_setup_flags(&S, plugins, "[type sleep]\nprocesses = 1\nconcurrency = 2\n", KT_AOF);
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker sleep#1", 1, 5000));
    pid_t w[4];
    cr_assert_eq(sup_children(S.pid, "kue-supervisor: worker sleep#1", w, 4), 1);
    int64_t id = sup_job(&S, "sleep", "{\"ms\":4000}", 2, 0);
    int64_t other = sup_job(&S, "sleep", "{\"ms\":10}", 1, 2000);   /* delayed 2 s */
    cr_assert(sup_wait_state(&S, id, "active", 3000));

    kt_redis_stop_keep(&S.redis, 1);
    kill(w[0], SIGKILL);
    /* the master saw the death and keeps the settle call for later */
    cr_assert(kt_wait_file_has(S.log, "killed by signal 9", 1, 5000), "death not noticed");
    cr_assert_eq(kill(S.pid, 0), 0, "the master died while Redis was away");
    kt_redis_restart(&S.redis, KT_AOF);

    cr_assert(sup_wait_state(&S, id, "complete", 15000), "job not retried after Redis came back");
    char err[512];
    sup_field(&S, id, "error", err, sizeof(err));
    char want[64];
    snprintf(want, sizeof(want), "worker %d killed by signal 9", (int)w[0]);
    cr_assert(strstr(err, want), "error \"%s\" lacks \"%s\"", err, want);
    char buf[32];
    cr_assert_str_eq(sup_field(&S, id, "attempts", buf, sizeof(buf)), "2");
    cr_assert(sup_wait_state(&S, other, "complete", 10000), "delayed job lost across the outage");
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
}

/* A worker killed from outside after running normally is not crash-
 * looping: it is restarted at once, however often it happens (s6's rule;
 * the backoff grows only for processes that die soon after their start). */
Test(supervisor_crash, killed_after_running_normally_restarts_at_once)
{
    static const char *const plugins[] = { "echo", NULL };
    sup_setup(&S, plugins, "[type echo]\nprocesses = 1\n");
    sup_replace(S.ini, "respawn_delay = 200ms", "respawn_delay = 2s");
    sup_replace(S.ini, "respawn_max_delay = 5s", "respawn_max_delay = 60s");
    sup_start(&S);
    const char *name = "kue-supervisor: worker echo#1";
    cr_assert(sup_wait_children(S.pid, name, 1, 5000));
    for (int round = 1; round <= 3; round++) {
        pid_t w[4];
        cr_assert_eq(sup_children(S.pid, name, w, 4), 1);
        /* it has run normally for a while: past the "soon after start" mark */
        int64_t up = kt_now_ms();
        while (kt_now_ms() - up < 1300)
            kt_sleep_ms(50);
        kill(w[0], SIGKILL);
        int64_t t0 = kt_now_ms();
        int back = sup_wait_replaced(S.pid, name, w[0], 5000) != 0;
        int64_t took = kt_now_ms() - t0;
        cr_log_info("kill %d: a new worker after %lld ms", round, (long long)took);
        cr_assert(back && took < 1000, "kill %d: no worker for %lld ms", round, (long long)took);
    }
    cr_assert_not(sup_log_has(S.log, "is crash-looping"));
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
}
