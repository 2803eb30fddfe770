/*
 * sentinel_failover.c -- kue on a redis-sentinel:// URL: a master, a
 * replica and three sentinels.  A producer and a running supervisor follow
 * a graceful failover (SENTINEL FAILOVER) and a kill -9 of the master:
 * every job completes, none is left active or queued, no kue process exits,
 * and the workers resume soon after the new master answers.
 */
#include "supervisor_common.h"
#include "topology.h"

static struct sup_t S;
static kt_sentinels_t G;

static void fini(void)
{
    sup_fini();
}

TestSuite(sentinel_failover, .fini = fini, .timeout = 120);

#define NJOBS 3000

static void setup(const char *type_body)
{
    memset(&S, 0, sizeof S);
    sup_current = &S;
    kt_sentinels_start(&G);
    snprintf(S.dir, sizeof S.dir, "%s/sent%d", kt_tmpdir(), rand() % 100000);
    mkdir(S.dir, 0755);
    static const char *const plugins[] = { "sleep", NULL };
    sup_plugins(&S, plugins);
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
    int64_t ids[100];
    for (int done = 0; done < NJOBS; done += 100) {
        for (int i = 0; i < 100; i++) jobs[i] = kue_job_new("sleep", "{\"ms\":20}");
        cr_assert_eq(kue_job_save_bulk(S.k, jobs, 100, ids), 100, "save: %s", kue_errstr(S.k));
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
    long long n = kue_count(S.k, "sleep", state);
    return n < 0 ? 0 : n;
}

struct at_least { const char *state; long long want; };

static int reached(void *arg)
{
    struct at_least *a = arg;
    return count(a->state) >= a->want;
}

/* Sum of the attempts of the complete jobs, from the server directly. */
static long long attempts_total(void)
{
    redisContext *c = kt_sentinels_node(&G, kt_sentinels_master(&G));
    redisReply *ids = kt_cmd(c, "ZRANGE q:jobs:sleep:complete 0 -1");
    long long sum = 0;
    for (size_t i = 0; i < ids->elements; i++) {
        char buf[32];
        const char *zid = ids->element[i]->str, *bar = strchr(zid, '|');
        kt_str(c, buf, sizeof buf, "HGET q:job:%s attempts", bar ? bar + 1 : zid);
        sum += atoll(buf);
    }
    freeReplyObject(ids);
    redisFree(c);
    return sum;
}

static void run_with(int kill_master)
{
    setup("[type sleep]\nprocesses = 2\nconcurrency = 10\n");
    enqueue_all();
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker sleep#", 2, 10000));
    pid_t before[4];
    cr_assert_eq(sup_children(S.pid, "kue-supervisor: worker sleep#", before, 4), 2);

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
        cr_assert_eq(kt_sentinels_failover(&G, 30000), 0, "SENTINEL FAILOVER did not complete");
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
    cr_assert(kt_wait_until(reached, &all, 60000), "only %lld of %d jobs completed (active %lld, "
              "inactive %lld, failed %lld)", count("complete"), NJOBS, count("active"),
              count("inactive"), count("failed"));
    cr_assert_eq(count("active"), 0);
    cr_assert_eq(count("inactive"), 0);
    cr_assert_eq(count("failed"), 0);
    long long total = attempts_total();
    cr_assert_geq(total, NJOBS, "attempts of the complete jobs: %lld", total);
    long long extra = total - NJOBS;
    cr_log_info("jobs run more than once: %lld", extra);
    if (!kill_master)
        cr_expect_eq(extra, 0, "a graceful failover ran %lld job(s) twice", extra);

    /* No kue process exited. */
    cr_assert_eq(kill(S.pid, 0), 0, "the supervisor exited");
    pid_t after[4];
    cr_assert_eq(sup_children(S.pid, "kue-supervisor: worker sleep#", after, 4), 2);
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
