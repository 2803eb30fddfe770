/*
 * Redis goes away while jobs run: the worker keeps its in-flight jobs
 * running, queues their outcome, reconnects with backoff and reports after
 * the restart.  No job is lost, none is completed twice, none is left
 * active or leased.
 */
#include "worker_common.h"
#include "scripts.h"

TestSuite(worker_restart, .init = wt_setup, .fini = wt_teardown, .timeout = 90);

#define N 20

struct progress_arg { const int64_t *ids; int n; };

static int progress_reported(void *arg)
{
    struct progress_arg *a = arg;
    char b[32];
    for (int i = 0; i < a->n; i++)
        if (!wt_field(a->ids[i], "progress", b, sizeof b)[0]) return 0;
    return 1;
}

Test(worker_restart, redis_restart_loses_nothing)
{
    wt_teardown();
    wt_setup_flags(KT_AOF);
    int64_t ids[N];
    for (int i = 0; i < N; i++) ids[i] = wt_enqueue("sleep", "{\"ms\":400}");
    const char *log = wt_log("restart");
    pid_t w = wt_worker("sleep", "sleep", 5, log, NULL);
    wt_wait_zcard("q:jobs:sleep:active", 5, 5000);
    /* the claim reply reached the worker: its handlers report progress */
    struct progress_arg pa = { ids, 5 };
    cr_assert(kt_wait_until(progress_reported, &pa, 5000), "handlers never started");

    redisFree(wt_rc);
    wt_rc = NULL;
    kt_redis_stop_keep(&wt_redis, 1);
    cr_assert(kt_wait_file_has(log, "connection lost", 1, 5000), "the worker missed the outage");
    kt_sleep_ms(1500);          /* a window, not a condition: the 400 ms jobs finish meanwhile */
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
    {
        redisReply *hk = kt_cmd(wt_rc, "KEYS q:held:*");
        cr_assert_eq(hk->elements, 0, "a job is still recorded as held");
        freeReplyObject(hk);
    }
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 10000), 0);
    cr_assert(wt_log_has(log, "connection lost"));
    cr_assert(wt_log_has(log, "re-sending"));
}

/* An idle worker waits for a token in BLPOP. */
static int is_waiting(void *arg) { (void)arg; return kt_clients_in(wt_rc, "blpop") > 0; }
static int is_not_waiting(void *arg) { (void)arg; return kt_clients_in(wt_rc, "blpop") == 0; }

/* A claim that ran in Redis but whose reply was lost with the connection:
 * after reconnecting the worker finds the job in its holder set, puts it
 * back in the queue (attempt not counted) and runs it. */
Test(worker_restart, lost_claim_reply_is_requeued)
{
    const char *log = wt_log("orphan");
    pid_t w = wt_worker("echo", "echo", 1, log, NULL);
    /* waiting for a token: the worker's signal handlers are set (a TSTP
     * before that would stop the process) */
    cr_assert(kt_wait_until(is_waiting, NULL, 5000), "the worker never waited");
    kill(w, SIGTSTP);                   /* quiet: the worker will not claim it itself */
    cr_assert(kt_wait_file_has(log, "SIGTSTP", 1, 5000), "TSTP not handled");
    cr_assert(kt_wait_until(is_not_waiting, NULL, 5000), "a quiet worker still waits for a token");
    int64_t id = wt_enqueue("echo", "{\"orphan\":1}");

    char host[256], pid[16];
    gethostname(host, sizeof host);
    snprintf(pid, sizeof pid, "%d", (int)w);
    const char *argv[] = { "q", "echo", "1", host, pid, "30000", "0", "1" };
    redisReply *r = kue_script_call(wt_rc, KS_CLAIM, 8, argv, NULL);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1, "claim by hand failed");
    freeReplyObject(r);
    wt_wait_state(id, "active", 1000);

    r = kt_cmd(wt_rc, "CLIENT KILL TYPE normal");       /* drop the worker's connections */
    freeReplyObject(r);
    wt_wait_state(id, "inactive", 5000);
    kill(w, SIGCONT);
    wt_wait_state(id, "complete", 5000);
    char b[64];
    cr_assert_str_eq(wt_field(id, "attempts", b, sizeof b), "1");
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
    cr_assert(wt_log_has(log, "claim reply was lost"));
}

/* The id of the client blocked in BLPOP (an idle worker's wait), or 0. */
static long long waiting_client(void)
{
    redisReply *r = kt_cmd(wt_rc, "CLIENT LIST");
    long long id = 0;
    const char *p = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, "cmd=blpop") : NULL;
    if (p) {
        while (p > r->str && p[-1] != '\n') p--;          /* start of that line */
        if (!strncmp(p, "id=", 3)) id = atoll(p + 3);
    }
    freeReplyObject(r);
    return id;
}

/* The connection of an idle worker's wait is killed: the worker reconnects it, looks for jobs a lost
 * claim reply may have left it holding, and goes on taking jobs. */
Test(worker_restart, waiting_connection_killed)
{
    const char *log = wt_log("blk");
    pid_t w = wt_worker("echo", "echo", 2, log, NULL);
    cr_assert(kt_wait_until(is_waiting, NULL, 5000), "the worker never waited");
    long long id = waiting_client();
    freeReplyObject(kt_cmd(wt_rc, "CLIENT KILL ID %lld", id));
    cr_assert(kt_wait_until(is_waiting, NULL, 5000), "the worker did not wait again");
    cr_assert_neq(waiting_client(), id, "still the old connection");
    int64_t ids[5];
    for (int i = 0; i < 5; i++) ids[i] = wt_enqueue("echo", "{}");
    for (int i = 0; i < 5; i++) wt_wait_state(ids[i], "complete", 5000);
    cr_assert_eq(kt_int(wt_rc, "LLEN q:echo:jobs"), 0);
    cr_assert_eq(kt_int(wt_rc, "ZCARD q:jobs:active"), 0);
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
}

static int aof_rewritten(void *arg)
{
    (void)arg;
    redisReply *r = kt_cmd(wt_rc, "INFO persistence");
    int done = r->type == REDIS_REPLY_STRING && strstr(r->str, "aof_rewrite_in_progress:0") &&
               strstr(r->str, "aof_rewrite_scheduled:0");
    freeReplyObject(r);
    return done;
}

/* Redis restarts and is still loading its data when the worker reconnects:
 * the outcomes the worker sends then are refused with LOADING, and must be
 * sent again once Redis has loaded, not dropped (a dropped complete leaves
 * its job active for ever, the lease renewed by the live worker). */
Test(worker_restart, outcomes_wait_for_a_loading_redis)
{
    wt_teardown();
    wt_setup_flags(KT_AOF);
    int64_t ids[5];
    for (int i = 0; i < 5; i++) ids[i] = wt_enqueue("sleep", "{\"ms\":300}");
    const char *log = wt_log("loading");
    pid_t w = wt_worker("sleep", "sleep", 5, log, NULL);
    wt_wait_zcard("q:jobs:sleep:active", 5, 5000);
    struct progress_arg pa = { ids, 5 };
    cr_assert(kt_wait_until(progress_reported, &pa, 5000), "handlers never started");
    /* filler keys, all in the AOF's RDB base: loading them takes 4 s
     * (--key-load-delay, 20 ms a key), and Redis answers clients every
     * KiB loaded, with LOADING */
    for (int i = 0; i < 200; i++)
        freeReplyObject(kt_cmd(wt_rc, "SET filler:%d %0100d", i, i));
    freeReplyObject(kt_cmd(wt_rc, "BGREWRITEAOF"));
    cr_assert(kt_wait_until(aof_rewritten, NULL, 5000), "AOF rewrite did not finish");
    redisFree(wt_rc);
    wt_rc = NULL;
    kt_redis_stop_keep(&wt_redis, 1);
    char *slow[] = { "--key-load-delay", "20000", "--loading-process-events-interval-bytes", "1024",
                     NULL };
    kt_redis_restart_args(&wt_redis, KT_AOF, slow);
    wt_rc = kt_redis_connect(&wt_redis);
    wt_wait_zcard("q:jobs:sleep:complete", 5, 15000);
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 10000), 0);
}
