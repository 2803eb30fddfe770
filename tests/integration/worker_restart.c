/*
 * Redis goes away while jobs run: the worker keeps its in-flight jobs
 * running, queues their outcome, reconnects with backoff and reports after
 * the restart.  No job is lost, none is completed twice, none is left
 * active or leased.
 */
#include "worker_common.h"

TestSuite(worker_restart, .init = wt_setup, .fini = wt_teardown, .timeout = 90);

#define N 20

Test(worker_restart, redis_restart_loses_nothing)
{
    wt_teardown();
    wt_setup_flags(KT_AOF);
    int64_t ids[N];
    for (int i = 0; i < N; i++) ids[i] = wt_enqueue("sleep", "{\"ms\":400}");
    const char *log = wt_log("restart");
    pid_t w = wt_worker("sleep", "sleep", 5, log, NULL);
    wt_wait_zcard("q:jobs:sleep:active", 5, 5000);
    kt_sleep_ms(100);

    redisFree(wt_rc);
    wt_rc = NULL;
    kt_redis_stop_keep(&wt_redis, 1);
    kt_sleep_ms(1500);                  /* the in-flight jobs finish meanwhile */
    kt_redis_restart(&wt_redis, KT_AOF);
    wt_rc = kt_redis_connect(&wt_redis);

    wt_wait_zcard("q:jobs:sleep:complete", N, 30000);
    char b[64];
    for (int i = 0; i < N; i++) {
        cr_assert_str_eq(wt_field(ids[i], "state", b, sizeof b), "complete", "job %d", i);
        cr_assert_str_eq(wt_field(ids[i], "attempts", b, sizeof b), "1", "job %d ran twice", i);
    }
    cr_assert_eq(kt_int(wt_rc, "ZCARD q:jobs:active"), 0);
    cr_assert_eq(kt_int(wt_rc, "ZCARD q:jobs:failed"), 0);
    cr_assert_eq(kt_int(wt_rc, "ZCARD q:jobs:inactive"), 0);
    cr_assert_eq(kt_int(wt_rc, "ZCARD q:leases"), 0);
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 10000), 0);
    cr_assert(wt_log_has(log, "connection lost"));
    cr_assert(wt_log_has(log, "re-sending"));
}
