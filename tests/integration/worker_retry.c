/*
 * Retries and backoff with the flaky plugin: immediate retries, failing for
 * good after max attempts, fixed and exponential backoff delays as Kue
 * computes them (delay field, promote_at = failed_at + delay), and a
 * JavaScript function backoff stored by Node Kue replaced by the plugin's
 * backoff hook.  Promotion of delayed jobs is the supervisor's work; here
 * the test promotes by hand.
 */
#include "worker_common.h"

TestSuite(worker_retry, .init = wt_setup, .fini = wt_teardown, .timeout = 60);

/* Promote until the job has left this delayed period: it is no longer
 * delayed, or it already failed again and is delayed with a new
 * promote_at (a fast worker can do that between two polls; promoting once
 * more would then skip the next delayed period the test wants to see). */
struct promo { int64_t id; long long promote_at; };

static int promoted(void *arg)
{
    struct promo *p = arg;
    char s[32], pa[32];
    if (!strcmp(wt_field(p->id, "state", s, sizeof s), "delayed") &&
        atoll(wt_field(p->id, "promote_at", pa, sizeof pa)) == p->promote_at)
        wt_promote();
    wt_field(p->id, "promote_at", pa, sizeof pa);
    return strcmp(wt_field(p->id, "state", s, sizeof s), "delayed") != 0 ||
           atoll(pa) != p->promote_at;
}

static void promote_until_moved(int64_t id)
{
    char pa[32];
    struct promo p = { id, atoll(wt_field(id, "promote_at", pa, sizeof pa)) };
    cr_assert(kt_wait_until(promoted, &p, 10000), "job %lld stayed delayed", (long long)id);
}

Test(worker_retry, immediate_retries_until_success)
{
    int64_t id = wt_enqueue_opts("flaky", "{\"fail\":2}", 0, 3, NULL, 0);
    pid_t w = wt_worker("flaky", "flaky", 1, wt_log("retry"), NULL);
    wt_wait_state(id, "complete", 5000);
    char b[256];
    cr_assert_str_eq(wt_field(id, "attempts", b, sizeof b), "3");
    cr_assert_str_eq(wt_field(id, "result", b, sizeof b), "{\"attempt\":3}");
    cr_assert_str_eq(wt_field(id, "error", b, sizeof b), "flaky: attempt 2 of 2 planned failures");
    cr_assert_neq(wt_field(id, "failed_at", b, sizeof b)[0], '\0');
    /* handler log line + the error's first line, per failed attempt */
    cr_assert_eq(kt_int(wt_rc, "LLEN q:job:%lld:log", (long long)id), 4);
    cr_assert_str_eq(kt_str(wt_rc, b, sizeof b, "LINDEX q:job:%lld:log 0", (long long)id),
                     "failing on purpose (attempt 1)");
    cr_assert_str_eq(kt_str(wt_rc, b, sizeof b, "LINDEX q:job:%lld:log 1", (long long)id),
                     "flaky: attempt 1 of 2 planned failures");
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
}

Test(worker_retry, fails_for_good_after_max_attempts)
{
    int64_t id = wt_enqueue_opts("flaky", "{\"fail\":5}", 0, 2, NULL, 0);
    pid_t w = wt_worker("flaky", "flaky", 1, wt_log("final"), NULL);
    wt_wait_state(id, "failed", 5000);
    kt_sleep_ms(200);           /* a window: no further attempt follows */
    char b[256];
    cr_assert_str_eq(wt_field(id, "state", b, sizeof b), "failed");
    cr_assert_str_eq(wt_field(id, "attempts", b, sizeof b), "2");
    cr_assert_str_eq(wt_field(id, "error", b, sizeof b), "flaky: attempt 2 of 5 planned failures");
    cr_assert_eq(kt_int(wt_rc, "ZCARD q:jobs:flaky:failed"), 1);
    cr_assert_eq(kt_int(wt_rc, "ZCARD q:jobs:failed"), 1);
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
}

static long long ll_field(int64_t id, const char *f)
{
    char b[64];
    return atoll(wt_field(id, f, b, sizeof b));
}

Test(worker_retry, fixed_backoff)
{
    int64_t id = wt_enqueue_opts("flaky", "{\"fail\":1}", 0, 2,
                                 "{\"type\":\"fixed\",\"delay\":300}", 0);
    pid_t w = wt_worker("flaky", "flaky", 1, wt_log("fixed"), NULL);
    wt_wait_state(id, "delayed", 5000);
    cr_assert_eq(ll_field(id, "delay"), 300);
    cr_assert_eq(ll_field(id, "promote_at") - ll_field(id, "failed_at"), 300);
    promote_until_moved(id);
    wt_wait_state(id, "complete", 5000);
    cr_assert_eq(ll_field(id, "attempts"), 2);
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
}

Test(worker_retry, exponential_backoff)
{
    int64_t id = wt_enqueue_opts("flaky", "{\"fail\":2}", 0, 3,
                                 "{\"type\":\"exponential\",\"delay\":200}", 0);
    pid_t w = wt_worker("flaky", "flaky", 1, wt_log("exp"), NULL);
    wt_wait_state(id, "delayed", 5000);
    cr_assert_eq(ll_field(id, "delay"), 100);          /* 200/2 * (2^1 - 1) */
    cr_assert_eq(ll_field(id, "promote_at") - ll_field(id, "failed_at"), 100);
    promote_until_moved(id);
    wt_wait_state(id, "delayed", 5000);
    cr_assert_eq(ll_field(id, "attempts"), 2);
    cr_assert_eq(ll_field(id, "delay"), 300);          /* 200/2 * (2^2 - 1) */
    promote_until_moved(id);
    wt_wait_state(id, "complete", 5000);
    cr_assert_eq(ll_field(id, "attempts"), 3);
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
}

Test(worker_retry, javascript_function_backoff_uses_the_hook)
{
    int64_t id = wt_enqueue_opts("flaky", "{\"fail\":1}", 0, 2,
                                 "{\"type\":\"fixed\",\"delay\":9000}", 0);
    /* What Node Kue stores for .backoff(function (attempts, delay) {...}) */
    redisReply *r = kt_cmd(wt_rc, "HSET q:job:%lld backoff %s", (long long)id,
                           "function (attempts, delay) { return attempts * 1000; }");
    freeReplyObject(r);
    const char *log = wt_log("fnbackoff");
    pid_t w = wt_worker("flaky", "flaky", 1, log, NULL);
    wt_wait_state(id, "delayed", 5000);
    cr_assert_eq(ll_field(id, "delay"), 100);          /* flaky's hook: 100 * attempts */
    promote_until_moved(id);
    wt_wait_state(id, "complete", 5000);
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
    cr_assert(wt_log_has(log, "JavaScript function backoff replaced"));
}
