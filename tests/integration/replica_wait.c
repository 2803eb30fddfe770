/*
 * replica_wait.c -- [redis] wait_replicas: a master and one replica on
 * loopback.  With wait_replicas = 1 a save (blocking, bulk, asynchronous)
 * returns only once the replica holds the job, and a supervisor's workers
 * send one WAIT per batch of outcomes, not one per job.  With the replica
 * stopped (SIGSTOP) a save returns after wait_timeout, the shortfall is
 * counted and logged, and nothing is lost: every job is on the master, and
 * on the replica once it runs again.
 */
#include "supervisor_common.h"

#include <ev.h>
#include <signal.h>
#include <kue/async.h>

static struct sup_t S;
static kt_redis_t R;                 /* the replica */

static void fini(void)
{
    if (R.pid > 0) kill(R.pid, SIGCONT);
    sup_fini();
}

TestSuite(replica_wait, .fini = fini, .timeout = 120);

static int replica_synced(void *arg)
{
    (void)arg;
    redisContext *c = kt_redis_connect(&R);
    redisReply *r = redisCommand(c, "ROLE");
    int ok = r && r->type == REDIS_REPLY_ARRAY && r->elements >= 4 &&
             r->element[3]->type == REDIS_REPLY_STRING && !strcmp(r->element[3]->str, "connected");
    if (r) freeReplyObject(r);
    redisFree(c);
    return ok;
}

/* The master (S.redis, over TCP too) with the supervisor's config body,
 * and R replicating it. */
static void setup(const char *body, const char *redis_keys)
{
    static const char *const plugins[] = { "echo", NULL };
    sup_setup_flags(&S, plugins, body, KT_TCP);
    if (redis_keys) {
        char to[256];
        snprintf(to, sizeof to, "prefix = q\n%s", redis_keys);
        sup_replace(S.ini, "prefix = q\n", to);
    }
    memset(&R, 0, sizeof R);
    kt_redis_start(&R, KT_TCP);
    redisContext *c = kt_redis_connect(&R);
    freeReplyObject(kt_cmd(c, "REPLICAOF 127.0.0.1 %d", S.redis.port));
    redisFree(c);
    cr_assert(kt_wait_until(replica_synced, NULL, 10000), "the replica did not sync");
}

struct replica_count { const char *key; long long want; };

static int replica_has(void *arg)
{
    struct replica_count *w = arg;
    redisContext *c = kt_redis_connect(&R);
    long long n = kt_int(c, "ZCARD %s", w->key);
    redisFree(c);
    return n >= w->want;
}

static char *replica_state(redisContext *rc, int64_t id, char *buf, size_t len)
{
    return kt_str(rc, buf, len, "HGET q:job:%lld state", (long long)id);
}

Test(replica_wait, a_save_returns_once_the_replica_has_the_job)
{
    setup("", NULL);
    cr_assert_eq(kue_set_wait_replicas(S.k, -1, 1000), -1);
    cr_assert_eq(kue_errcode(S.k), KUE_ERR_INVALID);
    cr_assert_eq(kue_set_wait_replicas(S.k, 1, 0), -1, "WAIT 0 would wait forever");
    cr_assert_eq(kue_set_wait_replicas(S.k, 1, 5000), 0);
    redisContext *mc = kt_redis_connect(&S.redis), *rc = kt_redis_connect(&R);
    long long waits = kt_cmd_calls(mc, "wait");
    char st[32];
    for (int i = 0; i < 50; i++) {
        kue_job_t *j = kue_job_new("echo", "{}");
        int64_t id = kue_job_save(S.k, j);
        cr_assert_gt(id, 0, "%s", kue_errstr(S.k));
        /* read at once, no polling: the save waited for it */
        cr_assert_str_eq(replica_state(rc, id, st, sizeof st), "inactive", "job %lld", (long long)id);
        kue_job_free(j);
    }
    cr_assert_eq(kt_cmd_calls(mc, "wait") - waits, 50, "one WAIT per save");
    kue_job_t *jobs[1000];
    int64_t ids[1000];
    for (int i = 0; i < 1000; i++) jobs[i] = kue_job_new("echo", "{}");
    cr_assert_eq(kue_job_save_bulk(S.k, jobs, 1000, ids), 1000, "%s", kue_errstr(S.k));
    cr_assert_eq(kt_cmd_calls(mc, "wait") - waits, 51, "one WAIT per bulk save");
    cr_assert_str_eq(replica_state(rc, ids[999], st, sizeof st), "inactive");
    cr_assert_eq(kt_int(rc, "ZCARD q:jobs:echo:inactive"), 1050);
    for (int i = 0; i < 1000; i++) kue_job_free(jobs[i]);
    cr_assert_eq(kue_wait_shortfalls(S.k), 0);
    redisFree(mc);
    redisFree(rc);
}

/* ---- the asynchronous producer ---------------------------------------------------- */

struct async_run {
    redisContext *rc;        /* the replica, checked in each callback */
    int want, answered, ok, on_replica;
    int64_t t0, last_ms;
    kue_job_t **jobs;
};

static void saved(kue_async_t *a, int64_t id, const char *err, void *privdata)
{
    struct async_run *r = privdata;
    kue_job_free(r->jobs[r->answered]);      /* answered in the order saved */
    r->answered++;
    r->last_ms = kt_now_ms() - r->t0;
    if (id > 0) {
        r->ok++;
        char st[32];
        if (r->rc && !strcmp(replica_state(r->rc, id, st, sizeof st), "inactive")) r->on_replica++;
    } else {
        fprintf(stderr, "save: %s\n", err);
    }
    if (r->answered == r->want) ev_break(EV_DEFAULT, EVBREAK_ALL);
}

static void on_state(kue_async_t *a, int connected, void *privdata)
{
    struct async_run *r = privdata;
    if (!connected || r->t0) return;
    r->t0 = kt_now_ms();
    r->jobs = calloc((size_t)r->want, sizeof *r->jobs);
    for (int i = 0; i < r->want; i++) {
        r->jobs[i] = kue_job_new("echo", "{}");
        cr_assert_eq(kue_async_save(a, r->jobs[i], saved, r), 0, "%s", kue_async_errstr(a));
    }
}

static void on_guard(struct ev_loop *loop, ev_timer *t, int revents)
{
    ev_break(loop, EVBREAK_ALL);
}

static void run_async(kue_async_t *a, struct async_run *r)
{
    kue_async_set_state_fn(a, on_state, r);
    ev_timer guard;
    ev_timer_init(&guard, on_guard, 30., 0.);
    ev_timer_start(EV_DEFAULT, &guard);
    ev_run(EV_DEFAULT, 0);
    ev_timer_stop(EV_DEFAULT, &guard);
    cr_assert_eq(r->answered, r->want, "only %d of %d saves answered", r->answered, r->want);
    free(r->jobs);
}

Test(replica_wait, the_async_producer_answers_once_the_replica_has_the_jobs)
{
    setup("", NULL);
    char err[256];
    kue_async_t *a = kue_async_connect(EV_DEFAULT, S.redis.url, "q", err, sizeof err);
    cr_assert_not_null(a, "%s", err);
    cr_assert_eq(kue_async_set_wait_replicas(a, 1, 0), -1);
    cr_assert_eq(kue_async_set_wait_replicas(a, 1, 5000), 0);
    redisContext *mc = kt_redis_connect(&S.redis);
    long long waits = kt_cmd_calls(mc, "wait");
    struct async_run r = { .rc = kt_redis_connect(&R), .want = 350 };
    run_async(a, &r);
    cr_assert_eq(r.ok, 350);
    cr_assert_eq(r.on_replica, 350, "answered before the replica had the job");
    /* 350 saves of one loop iteration: 4 enqueue calls, 4 WAITs */
    cr_assert_eq(kt_cmd_calls(mc, "wait") - waits, 4);
    cr_assert_eq(kue_async_wait_shortfalls(a), 0);
    kue_async_free(a);
    redisFree(r.rc);
    redisFree(mc);
}

/* ---- a replica that does not answer ----------------------------------------------- */

Test(replica_wait, a_stopped_replica_costs_the_timeout_and_loses_nothing)
{
    setup("", NULL);
    cr_assert_eq(kue_set_wait_replicas(S.k, 1, 300), 0);
    char err[256];
    kue_async_t *a = kue_async_connect(EV_DEFAULT, S.redis.url, "q", err, sizeof err);
    cr_assert_not_null(a, "%s", err);
    cr_assert_eq(kue_async_set_wait_replicas(a, 1, 300), 0);
    cr_assert_eq(kill(R.pid, SIGSTOP), 0);

    kue_job_t *j = kue_job_new("echo", "{}");
    int64_t t0 = kt_now_ms();
    int64_t id = kue_job_save(S.k, j);
    int64_t took = kt_now_ms() - t0;
    cr_assert_gt(id, 0, "the save stands: %s", kue_errstr(S.k));
    cr_assert_geq(took, 290, "returned after %lld ms, before the timeout", (long long)took);
    cr_assert_lt(took, 5000, "returned after %lld ms", (long long)took);
    cr_assert_eq(kue_wait_shortfalls(S.k), 1);
    kue_job_free(j);

    struct async_run r = { .want = 20 };
    run_async(a, &r);
    cr_assert_eq(r.ok, 20, "the saves stand");
    cr_assert_geq(r.last_ms, 290, "answered after %lld ms", (long long)r.last_ms);
    cr_assert_eq(kue_async_wait_shortfalls(a), 1, "one enqueue call, one WAIT");
    kue_async_free(a);

    cr_assert_eq(kue_count(S.k, "echo", "inactive"), 21, "every job is on the master");
    cr_assert_eq(kill(R.pid, SIGCONT), 0);
    cr_assert(kt_wait_until(replica_has, &(struct replica_count){ "q:jobs:echo:inactive", 21 },
                            10000), "and on the replica once it runs");
}

/* ---- workers -------------------------------------------------------------------------- */

#define WJOBS 2000

static void enqueue(int n)
{
    kue_job_t *jobs[100];
    int64_t ids[100];
    for (int done = 0; done < n; done += 100) {
        int k = n - done < 100 ? n - done : 100;
        for (int i = 0; i < k; i++) jobs[i] = kue_job_new("echo", "{}");
        cr_assert_eq(kue_job_save_bulk(S.k, jobs, (size_t)k, ids), (size_t)k, "%s", kue_errstr(S.k));
        for (int i = 0; i < k; i++) kue_job_free(jobs[i]);
    }
}

Test(replica_wait, workers_wait_once_per_batch_of_outcomes)
{
    setup("[type echo]\nprocesses = 2\nconcurrency = 20\n",
          "wait_replicas = 1\nwait_timeout = 5s\n");
    redisContext *mc = kt_redis_connect(&S.redis), *rc = kt_redis_connect(&R);
    enqueue(WJOBS);
    long long waits = kt_cmd_calls(mc, "wait");
    sup_start(&S);
    cr_assert(sup_wait_count(&S, "echo", "complete", WJOBS, 60000), "not every job completed");
    long long used = kt_cmd_calls(mc, "wait") - waits;
    cr_assert_gt(used, 0, "the workers sent no WAIT");
    cr_assert_lt(used, WJOBS / 2, "%lld WAITs for %d jobs: not batched", used, WJOBS);
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    /* the workers drained: every outcome they sent was confirmed */
    cr_assert_eq(kt_int(rc, "ZCARD q:jobs:echo:complete"), WJOBS, "the replica lacks completions");
    cr_assert_eq(kt_file_count(S.log, "wait_replicas = 1"), 0, "a WAIT fell short");
    redisFree(mc);
    redisFree(rc);
}

Test(replica_wait, workers_go_on_without_the_replica_and_warn)
{
    setup("[type echo]\nprocesses = 1\nconcurrency = 10\n",
          "wait_replicas = 1\nwait_timeout = 200ms\n");
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker echo#", 1, 10000));
    cr_assert_eq(kill(R.pid, SIGSTOP), 0);
    enqueue(60);
    cr_assert(sup_wait_count(&S, "echo", "complete", 60, 30000), "the jobs did not complete");
    cr_assert(kt_wait_file_has(S.log, "wait_replicas = 1: 0 of 1 replicas confirmed", 1, 10000),
              "no warning in %s", S.log);
    cr_assert_eq(kill(R.pid, SIGCONT), 0);
    cr_assert(kt_wait_until(replica_has, &(struct replica_count){ "q:jobs:echo:complete", 60 },
                            10000), "the replica did not catch up");
    cr_assert_eq(kue_count(S.k, "echo", "active"), 0);
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
}

/* ---- kue create ---------------------------------------------------------------------- */

static int run_cli(const char *log, const char *a1, const char *a2, const char *a3)
{
    char bin[600];
    kt_bin("kue", bin, sizeof bin);
    char *argv[] = { bin, "--redis", S.redis.url, "create", "echo", "{}", (char *)a1, (char *)a2,
                     (char *)a3, NULL };
    pid_t pid = kt_spawn(argv, log);
    int st;
    cr_assert_eq(kt_wait(pid, 10000, &st), 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(replica_wait, kue_create_waits_and_warns)
{
    setup("", NULL);
    char log[700];
    snprintf(log, sizeof log, "%s/cli.log", S.dir);
    cr_assert_eq(run_cli(log, "--wait-replicas", "x", NULL), 2);
    cr_assert_eq(run_cli(log, "--wait-timeout", "0", "--wait-replicas=1"), 2, "WAIT 0 waits forever");
    redisContext *mc = kt_redis_connect(&S.redis);
    long long waits = kt_cmd_calls(mc, "wait");
    cr_assert_eq(run_cli(log, "--wait-replicas=1", NULL, NULL), 0);
    cr_assert_eq(kt_cmd_calls(mc, "wait") - waits, 1);
    cr_assert_eq(kt_file_count(log, "replicas confirmed"), 0);
    cr_assert_eq(kill(R.pid, SIGSTOP), 0);
    cr_assert_eq(run_cli(log, "--wait-replicas=1", "--wait-timeout=200ms", NULL), 0, "the job stands");
    cr_assert_eq(kt_file_count(log, "0 of 1 replicas confirmed within 200 ms"), 1);
    cr_assert_eq(kill(R.pid, SIGCONT), 0);
    cr_assert_eq(kue_count(S.k, "echo", "inactive"), 2);
    redisFree(mc);
}
