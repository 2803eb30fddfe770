/*
 * supervisor_faults.c -- failures of Redis writes, worker kills and
 * orphans (docs/supervision.md): an outcome Redis refuses for a while is
 * kept and retried; a hard timeout blames the job whose handler holds the
 * loop and puts the others back without spending an attempt; an orphaned
 * worker stuck in a handler stops itself and its handler's children; a
 * forced drain during a Redis outage spends no attempt.
 *
 * The jobs run in tests/plugins/faults.c, compiled here.
 */
#include "supervisor_common.h"

#include <fcntl.h>

#include "scripts.h"

static struct sup_t S;

TestSuite(supervisor_faults, .fini = sup_fini, .timeout = 90);

static void build_faults(struct sup_t *s)
{
    char src[700], so[700], cmd[2400];
    snprintf(src, sizeof(src), "%s/tests/plugins/faults.c", kt_srcdir());
    snprintf(so, sizeof(so), "%s/faults.so", s->plugins);
    snprintf(cmd, sizeof(cmd), "cc -shared -fPIC -I%s/include -o %s %s -ljansson -lev",
             kt_srcdir(), so, src);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

/* How many lines of the run log name each id: *twice gets the ids run more
 * than once, the return value how many ids ran at all. */
static int runs(const char *path, const int64_t *ids, int n, int *twice)
{
    char *t = kt_read_file(path);
    int ran = 0;
    *twice = 0;
    for (int i = 0; i < n; i++) {
        int c = 0;
        for (char *p = t; p && *p;) {
            char *e = strchr(p, '\n');
            if (atoll(p) == ids[i])
                c++;
            p = e ? e + 1 : p + strlen(p);
        }
        ran += c > 0;
        *twice += c > 1;
    }
    free(t);
    return ran;
}

/* Redis refuses writes for a second mid-run (maxmemory 1): completions it
 * refuses are kept and sent again; afterwards no job is left active and
 * none ran twice. */
Test(supervisor_faults, refused_writes_are_retried)
{
    static const char *const none[] = { NULL };
    sup_setup(&S, none, "[type faults]\nprocesses = 1\nconcurrency = 10\n");
    build_faults(&S);
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker faults#1", 1, 5000));
    char log[700], data[900];
    snprintf(log, sizeof(log), "%s/runs", S.dir);
    snprintf(data, sizeof(data), "{\"ms\":300,\"log\":\"%s\"}", log);
    enum { N = 60 };
    int64_t ids[N];
    for (int i = 0; i < N; i++)
        ids[i] = sup_job(&S, "faults", data, 1, 0);
    cr_assert(sup_wait_count(&S, "faults", "complete", 5, 10000));

    redisContext *c = kt_redis_connect(&S.redis);
    freeReplyObject(kt_cmd(c, "CONFIG SET maxmemory 1"));
    int64_t t0 = kt_now_ms();
    while (kt_now_ms() - t0 < 1000)      /* the outage lasts one second */
        kt_sleep_ms(50);
    freeReplyObject(kt_cmd(c, "CONFIG SET maxmemory 0"));

    int done = sup_wait_count(&S, "faults", "complete", N, 20000);
    long long active = kue_count(S.k, "faults", "active");
    long long complete = kue_count(S.k, "faults", "complete");
    int twice;
    int ran = runs(log, ids, N, &twice);
    cr_log_info("after the outage: %lld complete, %lld active, %d ran, %d ran twice", complete,
                active, ran, twice);
    cr_assert(sup_log_has(S.log, "OOM"), "no write was refused: the outage missed the run");
    cr_assert(done, "%lld of %d complete", complete, N);
    cr_assert_eq(active, 0);
    cr_assert_eq(twice, 0);
    cr_assert_eq(ran, N);
    redisFree(c);
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
}

/* Three asynchronous jobs of 1.5 s run when a job that spins forever
 * arrives (spin: the data of that job): the hard timeout blames the
 * spinning job (its handler holds the loop), not the first job whose
 * deadline passed; the three go back to inactive without spending an
 * attempt and complete on the next worker. */
static void blame_case(const char *spin_data)
{
    static const char *const none[] = { NULL };
    sup_setup(&S, none, "[type faults]\nprocesses = 1\nconcurrency = 4\ntimeout = 2s\n");
    build_faults(&S);
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker faults#1", 1, 5000));
    int64_t ids[3];
    for (int i = 0; i < 3; i++)
        ids[i] = sup_job(&S, "faults", "{\"ms\":1500}", 3, 0);
    for (int i = 0; i < 3; i++)
        cr_assert(sup_wait_state(&S, ids[i], "active", 3000));
    int64_t spin = sup_job(&S, "faults", spin_data, 1, 0);
    cr_assert(sup_wait_state(&S, spin, "failed", 10000), "the spinning job was not failed");
    char buf[512];
    cr_assert_str_eq(sup_field(&S, spin, "error", buf, sizeof(buf)), "timeout");
    for (int i = 0; i < 3; i++) {
        cr_assert(sup_wait_state(&S, ids[i], "complete", 10000), "job %lld not completed",
                  (long long)ids[i]);
        /* one attempt: the one that completed */
        cr_assert_str_eq(sup_field(&S, ids[i], "attempts", buf, sizeof(buf)), "1",
                         "job %lld spent an attempt", (long long)ids[i]);
        cr_assert_str_empty(sup_field(&S, ids[i], "error", buf, sizeof(buf)),
                            "job %lld was blamed: %s", (long long)ids[i], buf);
    }
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
}

/* ... spinning inside process() */
Test(supervisor_faults, timeout_blames_the_job_holding_the_loop)
{
    blame_case("{\"spin\":true}");
}

/* ... spinning later, in a watcher callback of its own, after a log line */
Test(supervisor_faults, timeout_blames_the_job_holding_the_loop_from_a_callback)
{
    blame_case("{\"spin_after\":100}");
}

/* The drain tests: a 1 s drain deadline and a 2 s lease. */
static void drain_setup(struct sup_t *s)
{
    static const char *const plugins[] = { "sleep", NULL };
    sup_setup_flags(s, plugins, "[type sleep]\nprocesses = 1\nconcurrency = 1\n", KT_AOF);
    sup_replace(s->ini, "shutdown_timeout = 5s",
                "shutdown_timeout = 1s\nlease = 2s\nrecovery_interval = 200ms");
}

static int attempts_of(struct sup_t *s, int64_t id)
{
    char buf[32];
    return atoi(sup_field(s, id, "attempts", buf, sizeof(buf)));
}

/* Redis is away for a whole forced drain: the put-back calls are kept in
 * the run directory and sent first by the next master; the job then runs
 * with its attempt unspent. */
Test(supervisor_faults, forced_drain_in_an_outage_spends_no_attempt)
{
    drain_setup(&S);
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker sleep#1", 1, 5000));
    int64_t id = sup_job(&S, "sleep", "{\"ms\":3000}", 3, 0);
    cr_assert(sup_wait_state(&S, id, "active", 3000));
    kt_redis_stop_keep(&S.redis, 1);
    int code = sup_stop(&S, SIGTERM, 15000);
    cr_assert_neq(code, -1, "the master did not exit");
    cr_log_info("master exit %d", code);
    kt_redis_restart(&S.redis, KT_AOF);
    sup_start(&S);
    cr_assert(sup_wait_state(&S, id, "complete", 15000), "job not run again");
    char err[256];
    cr_assert_str_empty(sup_field(&S, id, "error", err, sizeof(err)), "error: %s", err);
    cr_assert_eq(attempts_of(&S, id), 1, "a drain spent an attempt");
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
}

static int drained_recorded(void *arg)
{
    redisContext *c = arg;
    redisReply *r = kt_cmd(c, "KEYS q:drained:*");
    int n = r->type == REDIS_REPLY_ARRAY ? (int)r->elements : 0;
    freeReplyObject(r);
    return n > 0;
}

/* Redis goes away during a forced drain and the host never comes back:
 * lease recovery (run elsewhere) finds the drain recorded and puts the job
 * back as it was, without an attempt. */
Test(supervisor_faults, lease_recovery_of_a_drained_worker_spends_no_attempt)
{
    drain_setup(&S);
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker sleep#1", 1, 5000));
    int64_t id = sup_job(&S, "sleep", "{\"ms\":5000}", 3, 0);
    cr_assert(sup_wait_state(&S, id, "active", 3000));
    redisContext *c = kt_redis_connect(&S.redis);
    kill(S.pid, SIGTERM);
    int recorded = kt_wait_until(drained_recorded, c, 900);
    redisFree(c);
    kt_redis_stop_keep(&S.redis, 1);
    int st;
    cr_assert_eq(kt_wait(S.pid, 15000, &st), 0, "the master did not exit");
    S.pid = 0;
    cr_assert(recorded, "the drain was not recorded in Redis");
    /* this host is gone for good: its kept calls are never sent */
    char journal[700];
    snprintf(journal, sizeof(journal), "%s/run/pending-calls", S.dir);
    unlink(journal);
    kt_redis_restart(&S.redis, KT_AOF);

    c = kt_redis_connect(&S.redis);
    int64_t t0 = kt_now_ms();
    long long n = 0;
    while (kt_now_ms() - t0 < 8000 && n == 0) {      /* the 2 s lease expires */
        const char *argv[] = { "q", "100" };
        redisReply *r = kue_script_call(c, KS_RECOVER, 2, argv, NULL);
        cr_assert(r && r->type == REDIS_REPLY_INTEGER, "recover: %s",
                  r && r->type == REDIS_REPLY_ERROR ? r->str : "no reply");
        n = r->integer;
        freeReplyObject(r);
        if (!n)
            kt_sleep_ms(100);
    }
    cr_assert_eq(n, 1, "lease recovery found nothing");
    char buf[256];
    cr_assert_str_eq(sup_field(&S, id, "state", buf, sizeof(buf)), "inactive");
    cr_assert_eq(attempts_of(&S, id), 0, "lease recovery spent an attempt");
    cr_assert_str_empty(sup_field(&S, id, "error", buf, sizeof(buf)), "error: %s", buf);
    redisReply *r = kt_cmd(c, "KEYS q:drained:*");
    cr_assert_eq(r->elements, 0u, "the drain record outlived the recovery");
    freeReplyObject(r);
    redisFree(c);
}

static int gone(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
}

struct two { pid_t a, b; };

static int both_gone(void *arg)
{
    struct two *t = arg;
    return gone(t->a) && gone(t->b);
}

/* The master is kill -9'd while a worker's handler holds its loop (and has
 * started a child process): the orphaned worker enforces the type's
 * timeout itself and stops, and the handler's child with it; as the master
 * would have, it fails the stuck job with "timeout" and puts its other job
 * back without spending an attempt. */
Test(supervisor_faults, orphan_stuck_in_a_handler_stops_itself_and_its_children)
{
    static const char *const none[] = { NULL };
    sup_setup(&S, none, "[type faults]\nprocesses = 1\nconcurrency = 2\ntimeout = 3s\n");
    build_faults(&S);
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker faults#1", 1, 5000));
    pid_t w[4];
    cr_assert_eq(sup_children(S.pid, "kue-supervisor: worker faults#1", w, 4), 1);
    char pidfile[700], data[800];
    snprintf(pidfile, sizeof(pidfile), "%s/child.pid", S.dir);
    snprintf(data, sizeof(data), "{\"child\":\"%s\"}", pidfile);
    int64_t other = sup_job(&S, "faults", "{\"ms\":20000}", 3, 0);
    cr_assert(sup_wait_state(&S, other, "active", 3000));
    int64_t stuck = sup_job(&S, "faults", data, 1, 0);
    pid_t child = 0;
    int64_t t0 = kt_now_ms();
    while (kt_now_ms() - t0 < 5000 && child <= 0) {
        char *t = kt_read_file(pidfile);
        child = t ? atoi(t) : 0;
        free(t);
        if (child <= 0)
            kt_sleep_ms(10);
    }
    cr_assert_gt(child, 0, "the handler's child did not start");
    kill(S.pid, SIGKILL);
    int st;
    kt_wait(S.pid, 5000, &st);
    S.pid = 0;
    struct two t = { w[0], child };
    int ok = kt_wait_until(both_gone, &t, 8000);
    int worker_gone = gone(w[0]), child_gone = gone(child);
    kill(w[0], SIGKILL);          /* whatever happened, leave nothing behind */
    kill(child, SIGKILL);
    cr_assert(ok, "orphans still running 8 s after the master died: worker %s, child %s",
              worker_gone ? "gone" : "running", child_gone ? "gone" : "running");
    char buf[256];
    cr_assert_str_eq(sup_field(&S, stuck, "state", buf, sizeof(buf)), "failed");
    cr_assert_str_eq(sup_field(&S, stuck, "error", buf, sizeof(buf)), "timeout");
    cr_assert_str_eq(sup_field(&S, other, "state", buf, sizeof(buf)), "inactive");
    cr_assert_eq(atoi(sup_field(&S, other, "attempts", buf, sizeof(buf))), 0);
}

/* Calls kept in <run_dir>/pending-calls at the last exit are sent first by
 * the next master, empty arguments included, and the file is removed. */
Test(supervisor_faults, kept_calls_are_sent_first)
{
    static const char *const plugins[] = { "echo", NULL };
    sup_setup(&S, plugins, "[type echo]\nprocesses = 1\n");
    char run[700], journal[800];
    snprintf(run, sizeof(run), "%s/run", S.dir);
    mkdir(run, 0755);
    snprintf(journal, sizeof(journal), "%s/pending-calls", run);
    kt_write_file(journal, "raw\t0\tSET\tq:kept\tv1\tPX\t100000\n"
                           "raw\t0\tSET\tq:empty\t\tPX\t100000\n"
                           "settle\t1\tq\tnohost\t99999\tgone\trequeue\n");
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker echo#1", 1, 5000));
    redisContext *c = kt_redis_connect(&S.redis);
    char buf[64];
    int64_t t0 = kt_now_ms();
    while (kt_now_ms() - t0 < 3000 && !kt_int(c, "EXISTS q:empty"))
        kt_sleep_ms(20);
    cr_assert_str_eq(kt_str(c, buf, sizeof(buf), "GET q:kept"), "v1");
    cr_assert_eq(kt_int(c, "EXISTS q:empty"), 1, "an empty argument was lost");
    cr_assert_str_eq(kt_str(c, buf, sizeof(buf), "GET q:empty"), "");
    char *left = kt_read_file(journal);
    cr_assert_null(left, "the journal was not removed");
    redisFree(c);
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
}

/* A handler that hangs a worker of a type without a timeout: the
 * heartbeat check kills it, the hanging job fails with the cause, and the
 * other job in flight goes back without spending an attempt.  The worker
 * writes its heartbeat every second, so heartbeat_timeout is 3 s (a
 * worker merely slow to be scheduled on a loaded machine is not hung);
 * the other job takes 8 s, so that it is still in flight when the worker
 * is killed (at most about 3 s after the spin began), and its run log
 * shows it ran again. */
Test(supervisor_faults, hung_worker_blames_the_job_holding_the_loop)
{
    static const char *const none[] = { NULL };
    sup_setup(&S, none, "[type faults]\nprocesses = 1\nconcurrency = 2\n");
    sup_replace(S.ini, "log_level = debug", "log_level = debug\nheartbeat_timeout = 3s");
    build_faults(&S);
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker faults#1", 1, 5000));
    char log[700], data[900];
    snprintf(log, sizeof(log), "%s/runs", S.dir);
    snprintf(data, sizeof(data), "{\"ms\":8000,\"log\":\"%s\"}", log);
    int64_t slow = sup_job(&S, "faults", data, 3, 0);
    cr_assert(sup_wait_state(&S, slow, "active", 5000));
    int64_t spin = sup_job(&S, "faults", "{\"spin\":true}", 1, 0);
    cr_assert(sup_wait_state(&S, spin, "failed", 15000), "the hanging job was not failed");
    char buf[512];
    cr_assert(strstr(sup_field(&S, spin, "error", buf, sizeof(buf)), "hung"), "error: %s", buf);
    cr_assert(sup_wait_state(&S, slow, "complete", 20000));
    char line[32];
    snprintf(line, sizeof(line), "%lld\n", (long long)slow);
    cr_assert_eq(kt_file_count(log, line), 2, "the other job did not run again after the kill");
    cr_assert_str_eq(sup_field(&S, slow, "attempts", buf, sizeof(buf)), "1");
    cr_assert_str_empty(sup_field(&S, slow, "error", buf, sizeof(buf)), "error: %s", buf);
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
}

/* A worker dies while Redis refuses writes: the master keeps the settle
 * call and sends it again until Redis takes it. */
Test(supervisor_faults, refused_settle_is_retried)
{
    static const char *const plugins[] = { "sleep", NULL };
    sup_setup(&S, plugins, "[type sleep]\nprocesses = 1\n");
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker sleep#1", 1, 5000));
    pid_t w[4];
    cr_assert_eq(sup_children(S.pid, "kue-supervisor: worker sleep#1", w, 4), 1);
    int64_t id = sup_job(&S, "sleep", "{\"ms\":3000}", 2, 0);
    cr_assert(sup_wait_state(&S, id, "active", 3000));
    redisContext *c = kt_redis_connect(&S.redis);
    freeReplyObject(kt_cmd(c, "CONFIG SET maxmemory 1"));
    kill(w[0], SIGKILL);
    int64_t t0 = kt_now_ms();
    while (kt_now_ms() - t0 < 1000)      /* the outage lasts one second */
        kt_sleep_ms(50);
    freeReplyObject(kt_cmd(c, "CONFIG SET maxmemory 0"));
    redisFree(c);
    cr_assert(sup_wait_state(&S, id, "complete", 10000), "job not settled and retried");
    cr_assert(sup_log_has(S.log, "refused by Redis"), "the settle was not refused");
    char err[512], want[64];
    sup_field(&S, id, "error", err, sizeof(err));
    snprintf(want, sizeof(want), "worker %d killed by signal 9", (int)w[0]);
    cr_assert(strstr(err, want), "error \"%s\" lacks \"%s\"", err, want);
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
}
