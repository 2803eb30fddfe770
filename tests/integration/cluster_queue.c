/*
 * A queue on Redis Cluster (docs/redis-topologies.md): redis-cluster:// URLs,
 * the connection routed to the master of the queue's slot ({q}), MOVED
 * followed after a CLUSTER FAILOVER and after the slot migrates to another
 * master, the fence key that makes scripts wait (TRYAGAIN) while the slot
 * is split between two nodes, and a kill -9 of the queue's master (the
 * cluster promotes its replica).  A real 3 + 3 cluster
 * (tests/common/topology.c) and a real supervisor with its workers, running
 * tests/plugins/faults.c, which logs every run, so that jobs run twice are
 * counted.  KUE_TEST_JOBS sets the number of jobs per event (docs/testing.md).
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <kue/kue.h>
#include "cluster.h"
#include "harness.h"
#include "topology.h"
#include "url.h"

#define DEFAULT_JOBS 10000
#define MAX_JOBS 200000

static kt_cluster_t CL;
static int NJOBS;
static int64_t *IDS;
static kue_t *K;

static void setup(void)
{
    const char *e = getenv("KUE_TEST_JOBS");
    NJOBS = e && *e ? atoi(e) : DEFAULT_JOBS;
    if (NJOBS < 1000) NJOBS = 1000;
    if (NJOBS > MAX_JOBS) NJOBS = MAX_JOBS;
    IDS = calloc((size_t)NJOBS, sizeof *IDS);
    cr_assert_not_null(IDS);
}

static void teardown(void)
{
    if (K) kue_free(K);
    K = NULL;
    free(IDS);
    IDS = NULL;
    kt_cleanup();
}

TestSuite(cluster_queue, .init = setup, .fini = teardown, .timeout = 240);

Test(cluster_queue, urls)
{
    kue_url_t u;
    char err[512];
    cr_assert_eq(kue_url_parse("redis-cluster://:s3cret@10.0.0.1:7000,[::1]:7001,h", &u, err, sizeof err), 0,
                 "%s", err);
    cr_assert_eq(u.nseeds, 3);
    cr_assert_str_eq(u.seeds[0].host, "10.0.0.1");
    cr_assert_eq(u.seeds[0].port, 7000);
    cr_assert_str_eq(u.seeds[1].host, "::1");
    cr_assert_eq(u.seeds[2].port, 6379);
    cr_assert_str_eq(u.password, "s3cret");
    cr_assert_eq(u.nsentinels, 0);
    char f[512];
    kue_url_format(&u, f, sizeof f);
    cr_assert(!strstr(f, "s3cret") && strstr(f, "redis-cluster://:***@10.0.0.1:7000"), "%s", f);
    cr_assert_eq(kue_url_parse("redis-cluster://h:1/", &u, err, sizeof err), 0, "%s", err);
    /* a db is a config error, named with the password masked */
    cr_assert_eq(kue_url_parse("redis-cluster://:pw@h:1/2", &u, err, sizeof err), -1);
    cr_assert(strstr(err, "db 0 only") && !strstr(err, ":pw@"), "%s", err);
    cr_assert_eq(kue_url_parse("redis-cluster://h:1?db=0", &u, err, sizeof err), -1);
    cr_assert(strstr(err, "db 0 only"), "%s", err);
    cr_assert_eq(kue_url_parse("redis-cluster://", &u, err, sizeof err), -1);
    cr_assert_eq(kue_url_parse("redis-cluster://a:1,,b:2", &u, err, sizeof err), -1);
    cr_assert_eq(kue_url_parse("redis-cluster://a:1,a:2,a:3,a:4,a:5,a:6,a:7,a:8,a:9", &u, err, sizeof err), -1);
    cr_assert(strstr(err, "at most 8"), "%s", err);
}

/* A node that was not killed. */
static int live_node(void)
{
    for (int i = 0; i < KT_CLUSTER_NODES; i++)
        if (CL.pid[i] > 0) return i;
    cr_assert_fail("no cluster node left");
    return -1;
}

/* The port of the master serving slot in a live node's CLUSTER SLOTS, or
 * 0 while that node's map does not name one (it can lag the others'). */
struct slot_port { unsigned slot; int port; };
static int slot_port_known(void *arg)
{
    struct slot_port *sp = arg;
    redisContext *c = kt_cluster_node(&CL, live_node());
    redisReply *r = kt_cmd(c, "CLUSTER SLOTS");
    kue_slot_range_t map[64];
    int n = kue_cluster_parse_slots(r, "127.0.0.1", map, 64);
    freeReplyObject(r);
    redisFree(c);
    const kue_slot_range_t *m = kue_cluster_lookup(map, n, sp->slot);
    sp->port = m ? m->port : 0;
    return sp->port > 0;
}

/* Index of the node serving slot as master (ROLE), and of its replica. */
static int owner_of(unsigned slot)
{
    struct slot_port sp = { slot, 0 };
    cr_assert(kt_wait_until(slot_port_known, &sp, 5000), "no master of slot %u in CLUSTER SLOTS", slot);
    for (int i = 0; i < KT_CLUSTER_NODES; i++)
        if (CL.port[i] == sp.port) return i;
    cr_assert_fail("no node on port %d", sp.port);
    return -1;
}

static int replica_of(int master)
{
    for (int i = 0; i < KT_CLUSTER_NODES; i++) {
        if (i == master) continue;
        redisContext *c = kt_cluster_node(&CL, i);
        redisReply *r = kt_cmd(c, "ROLE");
        int yes = !strcmp(r->element[0]->str, "slave") && r->element[2]->integer == CL.port[master];
        freeReplyObject(r);
        redisFree(c);
        if (yes) return i;
    }
    return -1;
}

static void node_id(int i, char *buf, size_t len)
{
    redisContext *c = kt_cluster_node(&CL, i);
    redisReply *r = kt_cmd(c, "CLUSTER MYID");
    snprintf(buf, len, "%s", r->str);
    freeReplyObject(r);
    redisFree(c);
}

static pid_t SUP;
static char SUPLOG[700], RUNLOG[700];

/* The supervisor: 2 workers x 10 of tests/plugins/faults.c (built here),
 * which appends each job's id to RUNLOG when it starts running it. */
static void start_supervisor(void)
{
    char dir[600], ini[700], cmd[2400];
    snprintf(dir, sizeof dir, "%s/sup-cluster", kt_tmpdir());
    mkdir(dir, 0755);
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/plugins && chmod 755 %s/plugins && "
             "cc -shared -fPIC -I%s/include -o %s/plugins/faults.so %s/tests/plugins/faults.c -ljansson -lev",
             dir, dir, kt_srcdir(), dir, kt_srcdir());
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    snprintf(ini, sizeof ini, "%s/workers.ini", dir);
    snprintf(SUPLOG, sizeof SUPLOG, "%s/supervisor.log", dir);
    char text[2048];
    snprintf(text, sizeof text,
             "[supervisor]\nplugins = plugins\nrun_dir = run\nshutdown_timeout = 5s\nlease = 5s\n"
             "recovery_interval = 500ms\n"
             "[redis]\nurl = %s\nprefix = q\n"
             "[promotion]\ninterval = 200ms\n"
             "[type faults]\nprocesses = 2\nconcurrency = 10\n",
             CL.url);
    kt_write_file(ini, text);
    char bin[600];
    kt_bin("kue-supervisor", bin, sizeof bin);
    char *argv[] = { bin, "-c", ini, NULL };
    SUP = kt_spawn(argv, SUPLOG);
}

/* Save n jobs, 100 per call (retrying a batch the cluster refused for the
 * moment: a refused batch saved nothing). */
static void save_jobs(int n, int64_t *ids)
{
    static kue_job_t *jobs[100];
    char data[800];
    snprintf(data, sizeof data, "{\"ms\":0,\"log\":\"%s\"}", RUNLOG);
    for (int done = 0; done < n;) {
        int b = n - done < 100 ? n - done : 100;
        int64_t deadline = kt_now_ms() + 20000;
        for (;;) {
            for (int i = 0; i < b; i++) jobs[i] = kue_job_new("faults", data);
            size_t saved = kue_job_save_bulk(K, jobs, (size_t)b, ids + done);
            for (int i = 0; i < b; i++) kue_job_free(jobs[i]);
            if (saved == (size_t)b) break;
            cr_assert_eq(saved, 0, "a bulk save saved %zu of %d", saved, b);
            cr_assert_lt(kt_now_ms(), deadline, "save %d: %s", done, kue_errstr(K));
            kt_sleep_ms(20);
        }
        done += b;
    }
}

static long long count(const char *state)
{
    long long n = kue_count(K, strcmp(state, "complete") ? NULL : "faults", state);
    return n < 0 ? 0 : n;
}

static int all_done(void *arg)
{
    (void)arg;
    return count("complete") >= NJOBS && kue_count(K, NULL, "active") == 0 &&
           kue_count(K, NULL, "inactive") == 0;
}

static int some_done(void *arg)
{
    (void)arg;
    return count("complete") >= 100;
}

/* Every job complete, none active or queued, none failed, the supervisor
 * and its workers alive; returns the jobs run more than once. */
static long long check_all_complete(const int64_t *ids)
{
    cr_assert(kt_wait_until(all_done, NULL, 90000),
                 "not all done: complete %lld, active %lld, inactive %lld, failed %lld (log %s)",
                 count("complete"), count("active"), count("inactive"), count("failed"), SUPLOG);
    for (int i = 0; i < NJOBS; i += 97) {
        kue_job_t *j = kue_job_get(K, ids[i]);
        cr_assert_not_null(j, "job %lld: %s", (long long)ids[i], kue_errstr(K));
        cr_assert_str_eq(kue_job_field(j, "state"), "complete");
        kue_job_free(j);
    }
    cr_assert_eq(count("complete"), NJOBS, "losses");
    cr_assert_eq(count("failed"), 0);
    int st;
    cr_assert_neq(kt_wait(SUP, 0, &st), 0, "the supervisor exited (log %s)", SUPLOG);
    cr_assert_eq(kt_file_count(SUPLOG, "exited with code"), 0, "a worker exited (log %s)", SUPLOG);
    cr_assert_eq(kt_file_count(SUPLOG, "killed by signal"), 0, "a worker was killed (log %s)", SUPLOG);
    return kt_run_log_extra(RUNLOG, ids, NJOBS);
}

static void connect_queue(void)
{
    char err[512];
    snprintf(RUNLOG, sizeof RUNLOG, "%s/runs.log", kt_tmpdir());
    K = kue_connect(CL.url, "q", err, sizeof err);
    cr_assert_not_null(K, "%s", err);
    cr_assert_eq(kue_set_key_style(K, "plain"), -1, "a cluster is hashtag only");
    cr_assert_eq(kue_set_key_style(K, "hashtag"), 0);
}

static int slot_master_is(void *arg)
{
    int want = *(int *)arg;
    return owner_of(kue_key_slot("{q}", 3)) == want;
}

static int node_is_master(int i)
{
    struct timeval tv = { 0, 300000 };
    redisContext *c = redisConnectWithTimeout("127.0.0.1", CL.port[i], tv);
    int yes = 0;
    if (c && !c->err) {
        redisSetTimeout(c, tv);
        redisReply *r = redisCommand(c, "ROLE");
        yes = r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 && !strcmp(r->element[0]->str, "master");
        if (r) freeReplyObject(r);
    }
    if (c) redisFree(c);
    return yes;
}

struct more_than { long long n; };

static int completed_more(void *arg)
{
    struct more_than *m = arg;
    return kue_count(K, "faults", "complete") > m->n;
}

Test(cluster_queue, failover_of_the_queues_shard)
{
    kt_cluster_start(&CL);
    connect_queue();
    save_jobs(NJOBS / 2, IDS);
    /* the keys are {q}:..., on the master of the slot of {q} */
    unsigned slot = kue_key_slot("{q}", 3);
    int master = owner_of(slot), replica = replica_of(master);
    cr_assert_geq(replica, 0);
    redisContext *mc = kt_cluster_node(&CL, master);
    cr_assert_eq(kt_int(mc, "EXISTS {q}:ids"), 1);
    cr_assert_eq(kt_int(mc, "EXISTS {q}:fence"), 0);
    redisFree(mc);

    start_supervisor();
    cr_assert(kt_wait_until(some_done, NULL, 30000), "no job ran (log %s)", SUPLOG);
    int64_t t0 = kt_now_ms();
    /* a manual failover gives up after 5 s when the replica cannot catch up
     * in time (a loaded machine): ask again then */
    int moved = 0;
    for (int attempt = 0; attempt < 4 && !moved; attempt++) {
        redisContext *rc = kt_cluster_node(&CL, replica);
        redisReply *r = kt_cmd(rc, "CLUSTER FAILOVER");
        cr_assert_str_eq(r->str, "OK");
        freeReplyObject(r);
        redisFree(rc);
        moved = kt_wait_until(slot_master_is, &replica, 8000);
    }
    cr_assert(moved, "the failover did not happen");
    int64_t t_new = kt_now_ms();
    redisContext *nc = kt_cluster_node(&CL, replica);
    struct more_than m = { kt_int(nc, "ZCARD {q}:jobs:faults:complete") };
    redisFree(nc);
    /* On a busy machine the failover (retries included) can outlast the
     * first half of the jobs: the second half, saved now, shows the resume. */
    int rest_saved = m.n >= NJOBS / 2;
    if (rest_saved)
        save_jobs(NJOBS - NJOBS / 2, IDS + NJOBS / 2);
    cr_assert(kt_wait_until(completed_more, &m, 15000), "the workers did not resume (log %s)", SUPLOG);
    int64_t resumed = kt_now_ms() - t_new;
    cr_log_info("CLUSTER FAILOVER: the slot map named the replica %lld ms after the request (%lld "
                "complete then); the next completion %lld ms after that", (long long)(t_new - t0), m.n,
                (long long)resumed);
    cr_expect_lt(resumed, 5000, "the workers resumed %lld ms after the failover", (long long)resumed);
    if (!rest_saved)
        save_jobs(NJOBS - NJOBS / 2, IDS + NJOBS / 2);
    long long twice = check_all_complete(IDS);
    cr_log_info("CLUSTER FAILOVER, %d jobs: %lld run twice, %lld ms in all", NJOBS, twice,
                (long long)(kt_now_ms() - t0));
    cr_assert_eq(twice, 0, "a graceful failover ran %lld job(s) twice", twice);
    /* the old master answered MOVED and the connections followed */
    cr_assert_gt(kt_file_count(SUPLOG, "MOVED"), 0, "no redirection seen (log %s)", SUPLOG);
}

/* kill -9 of the master of the queue's slot while its jobs run: the
 * cluster marks it failed (cluster-node-timeout, 2 s in the harness) and
 * promotes its replica; the producer, the supervisor and the workers find
 * the new master in the slot map.  Everything saved was replicated first
 * (WAIT), so nothing may be lost; completions the dead master had not sent
 * to its replica are lost, and the workers' held-job check (worker/fetch.c)
 * runs those jobs again: counted, not forbidden (at least once). */
Test(cluster_queue, the_queues_master_killed)
{
    kt_cluster_start(&CL);
    connect_queue();
    unsigned slot = kue_key_slot("{q}", 3);
    int master = owner_of(slot), replica = replica_of(master);
    cr_assert_geq(replica, 0);
    save_jobs(NJOBS / 2, IDS);
    /* the replica may still be making its first sync */
    redisContext *mc = kt_cluster_node(&CL, master);
    int64_t synced = kt_now_ms() + 20000;
    while (kt_int(mc, "WAIT 1 1000") != 1)
        cr_assert_lt(kt_now_ms(), synced, "the replica did not acknowledge the jobs");
    redisFree(mc);

    start_supervisor();
    cr_assert(kt_wait_until(some_done, NULL, 30000), "no job ran (log %s)", SUPLOG);
    long long at_kill = count("complete");
    int64_t t_kill = kt_now_ms();
    kill(CL.pid[master], SIGKILL);
    int st;
    kt_wait(CL.pid[master], 2000, &st);
    CL.pid[master] = 0;
    cr_assert_lt(at_kill, NJOBS / 2, "every job had run before the kill");
    int64_t deadline = t_kill + 30000;
    while (!node_is_master(replica)) {
        cr_assert_lt(kt_now_ms(), deadline, "the cluster did not promote the replica");
        kt_sleep_ms(5);
    }
    int64_t t_new = kt_now_ms();
    /* what the new master holds now: the completions it had replicated */
    redisContext *nc = kt_cluster_node(&CL, replica);
    struct more_than m = { kt_int(nc, "ZCARD {q}:jobs:faults:complete") };
    redisFree(nc);
    cr_assert(kt_wait_until(completed_more, &m, 15000), "the workers did not resume (log %s)", SUPLOG);
    int64_t resumed = kt_now_ms() - t_new;
    cr_log_info("kill -9: the replica was master %lld ms after the kill (%lld complete then); "
                "the next completion %lld ms after that", (long long)(t_new - t_kill), m.n,
                (long long)resumed);
    cr_expect_lt(resumed, 5000, "the workers resumed %lld ms after the new master answered",
                 (long long)resumed);
    /* the producer follows too */
    save_jobs(NJOBS - NJOBS / 2, IDS + NJOBS / 2);
    long long twice = check_all_complete(IDS);
    cr_log_info("kill -9, %d jobs: %lld run twice, %lld ms from the kill to the last", NJOBS, twice,
                (long long)(kt_now_ms() - t_kill));
    cr_assert_eq(owner_of(slot), replica);
}

static void migrate_slot(unsigned slot, int from, int to)
{
    char sid[64], tid[64];
    node_id(from, sid, sizeof sid);
    node_id(to, tid, sizeof tid);
    redisContext *s = kt_cluster_node(&CL, from), *t = kt_cluster_node(&CL, to);
    redisReply *r = kt_cmd(t, "CLUSTER SETSLOT %u IMPORTING %s", slot, sid);
    cr_assert_str_eq(r->str, "OK");
    freeReplyObject(r);
    r = kt_cmd(s, "CLUSTER SETSLOT %u MIGRATING %s", slot, tid);
    cr_assert_str_eq(r->str, "OK");
    freeReplyObject(r);
    for (;;) {
        redisReply *keys = kt_cmd(s, "CLUSTER GETKEYSINSLOT %u 100", slot);
        if (keys->elements == 0) { freeReplyObject(keys); break; }
        const char *argv[110];
        size_t n = 0;
        char port[16];
        snprintf(port, sizeof port, "%d", CL.port[to]);
        argv[n++] = "MIGRATE"; argv[n++] = "127.0.0.1"; argv[n++] = port; argv[n++] = "";
        argv[n++] = "0"; argv[n++] = "5000"; argv[n++] = "KEYS";
        for (size_t i = 0; i < keys->elements; i++) argv[n++] = keys->element[i]->str;
        r = redisCommandArgv(s, (int)n, argv, NULL);
        cr_assert(r && r->type == REDIS_REPLY_STATUS, "MIGRATE: %s", r ? r->str : s->errstr);
        freeReplyObject(r);
        freeReplyObject(keys);
    }
    r = kt_cmd(t, "CLUSTER SETSLOT %u NODE %s", slot, tid);
    freeReplyObject(r);
    r = kt_cmd(s, "CLUSTER SETSLOT %u NODE %s", slot, tid);
    freeReplyObject(r);
    redisFree(s);
    redisFree(t);
    /* the other masters learn it through the cluster bus; tell them at once */
    for (int i = 0; i < KT_CLUSTER_NODES; i++) {
        if (i == from || i == to) continue;
        redisContext *o = kt_cluster_node(&CL, i);
        redisReply *role = kt_cmd(o, "ROLE");
        if (!strcmp(role->element[0]->str, "master")) freeReplyObject(kt_cmd(o, "CLUSTER SETSLOT %u NODE %s", slot, tid));
        freeReplyObject(role);
        redisFree(o);
    }
}

Test(cluster_queue, the_queues_slot_migrates)
{
    kt_cluster_start(&CL);
    connect_queue();
    save_jobs(NJOBS / 2, IDS);
    unsigned slot = kue_key_slot("{q}", 3);
    int from = owner_of(slot), to = -1;
    for (int i = 0; i < KT_CLUSTER_NODES && to < 0; i++) {
        if (i == from) continue;
        redisContext *c = kt_cluster_node(&CL, i);
        redisReply *role = kt_cmd(c, "ROLE");
        if (!strcmp(role->element[0]->str, "master")) to = i;
        freeReplyObject(role);
        redisFree(c);
    }
    cr_assert_geq(to, 0);
    start_supervisor();
    cr_assert(kt_wait_until(some_done, NULL, 30000), "no job ran (log %s)", SUPLOG);
    migrate_slot(slot, from, to);
    cr_assert_eq(owner_of(slot), to);
    save_jobs(NJOBS - NJOBS / 2, IDS + NJOBS / 2);
    long long twice = check_all_complete(IDS);
    cr_log_info("slot migration, %d jobs: %lld run twice", NJOBS, twice);
    cr_assert_eq(twice, 0, "a slot migration ran %lld job(s) twice", twice);
    cr_assert_gt(kt_file_count(SUPLOG, "MOVED"), 0, "no redirection seen (log %s)", SUPLOG);
    redisContext *t = kt_cluster_node(&CL, to);
    cr_assert_eq(kt_int(t, "EXISTS {q}:ids"), 1);
    redisFree(t);
}

struct lock_arg { int64_t id; const char *state; };

static int job_state_is(void *arg)
{
    struct lock_arg *a = arg;
    kue_job_t *j = kue_job_get(K, a->id);
    int yes = j && kue_job_field(j, "state") && !strcmp(kue_job_field(j, "state"), a->state);
    kue_job_free(j);
    return yes;
}

static int lock_gone(void *arg)
{
    redisContext *c = arg;
    return kt_int(c, "EXISTS promotion:lock") == 0;
}

/* Kue's promotion:lock lives in another slot; the supervisor takes it as
 * Kue does, so it promotes nothing while a Kue process holds it, and
 * releases it after each round. */
Test(cluster_queue, kues_promotion_lock)
{
    kt_cluster_start(&CL);
    connect_queue();
    int ln = owner_of(kue_key_slot("promotion:lock", 14));
    cr_assert_neq(ln, owner_of(kue_key_slot("{q}", 3)), "the test needs the lock on another master");
    redisContext *lc = kt_cluster_node(&CL, ln);
    redisReply *r = kt_cmd(lc, "SET promotion:lock kue-node-process PX 60000");
    freeReplyObject(r);
    start_supervisor();
    kue_job_t *j = kue_job_new("faults", "{\"ms\":0}");
    kue_job_set_delay(j, 200);
    int64_t id = kue_job_save(K, j);
    kue_job_free(j);
    cr_assert_gt(id, 0, "%s", kue_errstr(K));
    struct lock_arg inactive = { id, "inactive" }, complete = { id, "complete" };
    /* due after 200 ms; promotion runs every 200 ms: not while Kue holds the lock */
    cr_assert(!kt_wait_until(job_state_is, &inactive, 1500), "promoted under Kue's lock");
    cr_assert(!job_state_is(&complete));
    kt_int(lc, "DEL promotion:lock");
    cr_assert(kt_wait_until(job_state_is, &complete, 10000), "not promoted after the lock went (log %s)",
              SUPLOG);
    /* the supervisor's own lock is released after each round */
    cr_assert(kt_wait_until(lock_gone, lc, 5000));
    redisFree(lc);
}
