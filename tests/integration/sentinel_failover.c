/*
 * sentinel_failover.c -- kue on a redis-sentinel:// URL: a master, a
 * replica and three sentinels.  A producer and a running supervisor follow
 * a graceful failover (SENTINEL FAILOVER) and a kill -9 of the master:
 * every job completes, none is left active or queued, no kue process exits,
 * and the workers resume soon after the new master answers.  The jobs run
 * in tests/plugins/faults.c, which logs every run, so that jobs run twice
 * are counted: none may run twice in the graceful failover, which the last
 * listed sentinel leads (only the leader publishes the failover's first
 * events, so kue must watch every sentinel).  KUE_TEST_JOBS sets the number
 * of jobs (docs/testing.md).
 */
#include "supervisor_common.h"
#include "topology.h"

static struct sup_t S;
static kt_sentinels_t G;
static int NJOBS;
static int64_t *IDS;
static char RUNLOG[700];

static void fini(void)
{
    free(IDS);
    IDS = NULL;
    sup_fini();
}

TestSuite(sentinel_failover, .fini = fini, .timeout = 240);

#define DEFAULT_JOBS 10000
#define MAX_JOBS 200000


static void build_faults(void)
{
    char src[700], so[700], cmd[2400];
    snprintf(src, sizeof(src), "%s/tests/plugins/faults.c", kt_srcdir());
    snprintf(so, sizeof(so), "%s/faults.so", S.plugins);
    snprintf(cmd, sizeof(cmd), "cc -shared -fPIC -I%s/include -o %s %s -ljansson -lev", kt_srcdir(), so,
             src);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

static void setup(const char *type_body)
{
    memset(&S, 0, sizeof S);
    sup_current = &S;
    kt_sentinels_start(&G);
    snprintf(S.dir, sizeof S.dir, "%s/sent%d", kt_tmpdir(), rand() % 100000);
    mkdir(S.dir, 0755);
    static const char *const plugins[] = { NULL };
    sup_plugins(&S, plugins);
    build_faults();
    snprintf(RUNLOG, sizeof RUNLOG, "%s/runs.log", S.dir);
    const char *e = getenv("KUE_TEST_JOBS");
    NJOBS = e && *e ? atoi(e) : DEFAULT_JOBS;
    if (NJOBS < 1000) NJOBS = 1000;
    if (NJOBS > MAX_JOBS) NJOBS = MAX_JOBS;
    NJOBS -= NJOBS % 100;
    IDS = calloc((size_t)NJOBS, sizeof *IDS);
    cr_assert_not_null(IDS);
    snprintf(S.ini, sizeof S.ini, "%s/workers.ini", S.dir);
    snprintf(S.log, sizeof S.log, "%s/supervisor.log", S.dir);
    char text[2048];
    snprintf(text, sizeof text,
             "[supervisor]\nplugins = plugins\nrun_dir = run\nshutdown_timeout = 5s\n"
             "respawn_delay = 200ms\nlog_level = info\n"
             "[redis]\nurl = %s\nprefix = q\n[promotion]\ninterval = 200ms\n%s",
             G.url, type_body);
    kt_write_file(S.ini, text);
    char err[512];
    S.k = kue_connect(G.url, "q", err, sizeof err);
    cr_assert(S.k, "kue_connect(%s): %s", G.url, err);
}

static void enqueue_all(void)
{
    kue_job_t *jobs[100];
    char data[800];
    snprintf(data, sizeof data, "{\"ms\":5,\"log\":\"%s\"}", RUNLOG);
    for (int done = 0; done < NJOBS; done += 100) {
        for (int i = 0; i < 100; i++) jobs[i] = kue_job_new("faults", data);
        cr_assert_eq(kue_job_save_bulk(S.k, jobs, 100, IDS + done), 100, "save: %s", kue_errstr(S.k));
        for (int i = 0; i < 100; i++) kue_job_free(jobs[i]);
    }
    /* Everything is on the replica before anything fails. */
    int m = kt_sentinels_master(&G);
    redisContext *c = kt_sentinels_node(&G, m);
    cr_assert_eq(kt_int(c, "WAIT 1 5000"), 1);
    redisFree(c);
}

static long long count(const char *state)
{
    long long n = kue_count(S.k, "faults", state);
    return n < 0 ? 0 : n;
}

struct at_least { const char *state; long long want; };

static int reached(void *arg)
{
    struct at_least *a = arg;
    return count(a->state) >= a->want;
}

/* SENTINEL FAILOVER sent to the last listed sentinel, which then leads it. */
static int failover_by_last(int timeout_ms)
{
    int cur = kt_sentinels_master(&G);
    if (cur < 0) return -1;
    struct timeval tv = { 2, 0 };
    redisContext *c = redisConnectWithTimeout("127.0.0.1", G.port[KT_SENTINELS - 1], tv);
    if (!c || c->err) {
        if (c) redisFree(c);
        return -1;
    }
    redisSetTimeout(c, tv);
    redisReply *r = redisCommand(c, "SENTINEL failover %s", KT_MASTER_NAME);
    int ok = r && r->type != REDIS_REPLY_ERROR;
    if (r) freeReplyObject(r);
    redisFree(c);
    int64_t deadline = kt_now_ms() + timeout_ms;
    while (ok && kt_sentinels_master(&G) != 1 - cur) {
        if (kt_now_ms() >= deadline) return -1;
        kt_sleep_ms(20);
    }
    return ok ? 0 : -1;
}

static void run_with(int kill_master)
{
    setup("[type faults]\nprocesses = 2\nconcurrency = 10\n");
    enqueue_all();
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker faults#", 2, 10000));
    pid_t before[4];
    cr_assert_eq(sup_children(S.pid, "kue-supervisor: worker faults#", before, 4), 2);

    struct at_least some = { "complete", NJOBS / 5 };
    cr_assert(kt_wait_until(reached, &some, 30000), "no progress before the failover");

    int old = kt_sentinels_master(&G);
    int64_t t_fail = kt_now_ms();
    if (kill_master) {
        kill(G.node[old].pid, SIGKILL);
        int st;
        kt_wait(G.node[old].pid, 2000, &st);
        G.node[old].pid = 0;
        /* The sentinels notice (1 s) and promote the replica. */
        int64_t deadline = kt_now_ms() + 30000;
        while (kt_sentinels_master(&G) != 1 - old) {
            cr_assert(kt_now_ms() < deadline, "the sentinels did not fail over");
            kt_sleep_ms(50);
        }
    } else {
        cr_assert_eq(failover_by_last(30000), 0, "SENTINEL FAILOVER did not complete");
    }
    int64_t t_new = kt_now_ms();
    long long at_new = count("complete");
    cr_log_info("failover (%s) took %lld ms; %lld complete then", kill_master ? "kill -9" : "graceful",
                (long long)(t_new - t_fail), at_new);

    /* Workers resume: completions move on soon after the new master answers. */
    struct at_least more = { "complete", at_new + 50 };
    cr_assert(kt_wait_until(reached, &more, 15000), "workers did not resume after the failover");
    int64_t resumed = kt_now_ms() - t_new;
    cr_log_info("workers resumed %lld ms after the new master answered", (long long)resumed);
    cr_expect_lt(resumed, 5000, "resume took %lld ms", (long long)resumed);

    struct at_least all = { "complete", NJOBS };
    cr_assert(kt_wait_until(reached, &all, 90000), "only %lld of %d jobs completed (active %lld, "
              "inactive %lld, failed %lld)", count("complete"), NJOBS, count("active"),
              count("inactive"), count("failed"));
    cr_assert_eq(count("active"), 0);
    cr_assert_eq(count("inactive"), 0);
    cr_assert_eq(count("failed"), 0);
    long long extra = kt_run_log_extra(RUNLOG, IDS, NJOBS);
    cr_log_info("%s, %d jobs: %lld run more than once, %lld ms from the failover to the last",
                kill_master ? "kill -9" : "graceful", NJOBS, extra, (long long)(kt_now_ms() - t_fail));
    /* Sentinel does not pause the old master; kue's connections leave it at
     * the failover's first event, before the promotion, so that no claim or
     * completion lands there after it (docs/redis-topologies.md, "What
     * happens in a failover").  A crash may run jobs twice: counted only. */
    if (!kill_master)
        cr_assert_eq(extra, 0, "SENTINEL FAILOVER ran %lld of %d jobs twice", extra, NJOBS);

    /* No kue process exited. */
    cr_assert_eq(kill(S.pid, 0), 0, "the supervisor exited");
    pid_t after[4];
    cr_assert_eq(sup_children(S.pid, "kue-supervisor: worker faults#", after, 4), 2);
    for (int i = 0; i < 2; i++)
        cr_expect(after[i] == before[0] || after[i] == before[1], "a worker was replaced");
    cr_assert_eq(sup_stop(&S, SIGTERM, 15000), 0);
    S.pid = 0;
    kue_free(S.k);
    S.k = NULL;
    kt_sentinels_stop(&G);
}

Test(sentinel_failover, url_errors_name_the_sentinels)
{
    char err[512];
    kue_t *k = kue_connect("redis-sentinel://127.0.0.1:1,127.0.0.1:2/nosuch", "q", err, sizeof err);
    cr_assert_null(k);
    cr_assert(strstr(err, "127.0.0.1:1") && strstr(err, "127.0.0.1:2") && strstr(err, "nosuch"),
              "%s", err);
    k = kue_connect("redis-sentinel://127.0.0.1:26379", "q", err, sizeof err);
    cr_assert_null(k);
    cr_assert(strstr(err, "MASTER_NAME"), "%s", err);
}

Test(sentinel_failover, producer_follows_failover)
{
    kt_sentinels_start(&G);
    char err[512];
    kue_t *k = kue_connect(G.url, "q", err, sizeof err);
    cr_assert(k, "%s", err);
    kue_job_t *j = kue_job_new("t", "{}");
    cr_assert_gt(kue_job_save(k, j), 0, "%s", kue_errstr(k));
    kue_job_free(j);
    cr_assert_eq(kt_sentinels_failover(&G, 30000), 0);
    /* The old connection now points at a replica: the save is refused with
     * READONLY there and retried on the new master. */
    j = kue_job_new("t", "{}");
    int64_t id = kue_job_save(k, j);
    cr_assert_gt(id, 0, "save after failover: %s", kue_errstr(k));
    kue_job_free(j);
    redisContext *c = kt_sentinels_node(&G, kt_sentinels_master(&G));
    char buf[32];
    cr_assert_str_eq(kt_str(c, buf, sizeof buf, "HGET q:job:%lld type", (long long)id), "t");
    redisFree(c);
    kue_free(k);
    kt_sentinels_stop(&G);
}

Test(sentinel_failover, supervisor_graceful_failover)
{
    run_with(0);
}

Test(sentinel_failover, supervisor_master_killed)
{
    run_with(1);
}
