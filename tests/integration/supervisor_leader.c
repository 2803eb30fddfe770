/*
 * supervisor_leader.c -- the leader lease, cron and retention with real
 * supervisors on a private Redis:
 *   - three supervisors, `@every 1s` with catch_up = all, the leader
 *     kill -9'd twice: every tick of 30 is enqueued exactly once;
 *   - a draining leader hands the lease over at once;
 *   - retention: count and age limits (with a [retention TYPE] override),
 *     search entries removed, nothing inactive, delayed or active pruned.
 */
#include <stdint.h>

#include "supervisor_common.h"
#include "web_common.h"

static struct sup_t S;

TestSuite(supervisor_leader, .fini = sup_fini, .timeout = 120);

/* Config i (0, 1, 2) of the same Redis: its own run_dir. */
static void other_ini(int i, char *ini, size_t il, char *log, size_t ll)
{
    snprintf(ini, il, "%s/sup%d.ini", S.dir, i);
    snprintf(log, ll, "%s/sup%d.log", S.dir, i);
    char *t = kt_read_file(S.ini);
    char *r = strstr(t, "run_dir = run");
    cr_assert(r);
    char rd[32];
    snprintf(rd, sizeof(rd), "run_dir = rn%d", i % 10);   /* as long as "run" */
    memcpy(r, rd, strlen(rd));
    kt_write_file(ini, t);
    free(t);
}

/* The pid in P:leader's holder ("host:pid:ms"), 0 when none. */
static pid_t leader_pid(redisContext *c)
{
    char buf[256];
    kt_str(c, buf, sizeof(buf), "HGET q:leader holder");
    char *a = strchr(buf, ':');
    return a ? (pid_t)atoi(a + 1) : 0;
}

struct lw { redisContext *c; pid_t not; };

static int new_leader(void *arg)
{
    struct lw *w = arg;
    pid_t p = leader_pid(w->c);
    return p > 0 && p != w->not;
}

static long long ticks(redisContext *c)
{
    return kt_int(c, "LLEN q:tick:jobs");
}

struct tw { redisContext *c; long long want; };

static int ticks_at_least(void *arg)
{
    struct tw *w = arg;
    return ticks(w->c) >= w->want;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

Test(supervisor_leader, cron_tick_exactly_once_across_leader_kills)
{
    static const char *const plugins[] = { NULL };
    /* no worker takes "tick" jobs: every job made stays inactive */
    sup_setup(&S, plugins,
              "[cron beat]\nschedule = @every 1s\ntype = tick\ndata = {\"n\":1}\ncatch_up = all\n");
    sup_replace(S.ini, "[supervisor]\n", "[supervisor]\nleader_lease = 2s\n");
    char ini[3][700], log[3][700];
    pid_t pid[3];
    for (int i = 0; i < 3; i++) {
        other_ini(i, ini[i], sizeof(ini[i]), log[i], sizeof(log[i]));
        pid[i] = sup_start_cfg(ini[i], log[i]);
    }
    redisContext *c = kt_redis_connect(&S.redis);
    struct lw lw = { c, 0 };
    cr_assert(kt_wait_until(new_leader, &lw, 10000), "no leader");
    struct tw tw = { c, 1 };
    cr_assert(kt_wait_until(ticks_at_least, &tw, 10000), "no tick");
    long long first = ticks(c);
    for (int kill_n = 0; kill_n < 2; kill_n++) {
        tw.want = ticks(c) + 8;
        cr_assert(kt_wait_until(ticks_at_least, &tw, 20000));
        pid_t l = leader_pid(c);
        int li = -1;
        for (int i = 0; i < 3; i++)
            if (pid[i] == l)
                li = i;
        cr_assert_geq(li, 0, "leader pid %d is none of ours", (int)l);
        kill(l, SIGKILL);
        int st;
        cr_assert_eq(kt_wait(l, 5000, &st), 0);
        pid[li] = 0;
        lw.not = l;
        int64_t t0 = kt_now_ms();
        cr_assert(kt_wait_until(new_leader, &lw, 10000), "no new leader after kill %d", kill_n + 1);
        cr_log_info("kill %d: new leader after %lld ms", kill_n + 1, (long long)(kt_now_ms() - t0));
        /* the lease (2 s) from the last renewal, plus room for a busy machine */
        cr_expect_leq(kt_now_ms() - t0, 2000 + 2000, "handover much slower than the lease");
        /* the killed one comes back, as a follower */
        pid[li] = sup_start_cfg(ini[li], log[li]);
    }
    tw.want = first + 30;
    cr_assert(kt_wait_until(ticks_at_least, &tw, 40000), "30 ticks");

    /* every job: its tick, each tick once, no gap */
    redisReply *r = kt_cmd(c, "ZRANGE q:jobs:tick:inactive 0 -1");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    size_t n = r->elements;
    int64_t *t = calloc(n, sizeof(*t));
    for (size_t i = 0; i < n; i++) {
        char buf[64];
        kt_str(c, buf, sizeof(buf), "HGET q:job:%s cron_tick", strchr(r->element[i]->str, '|') + 1);
        t[i] = atoll(buf);
    }
    freeReplyObject(r);
    qsort(t, n, sizeof(*t), cmp64);
    cr_assert_geq(n, 30);
    int dup = 0, gap = 0;
    for (size_t i = 1; i < n; i++) {
        dup += t[i] == t[i - 1];
        gap += t[i] - t[i - 1] > 1000;
        cr_expect_eq(t[i] % 1000, 0);
    }
    cr_log_info("%zu ticks from %lld to %lld", n, (long long)t[0], (long long)t[n - 1]);
    cr_expect_eq(dup, 0, "%d ticks enqueued twice", dup);
    cr_expect_eq(gap, 0, "%d ticks skipped", gap);
    cr_expect_eq(kt_int(c, "HGET q:cron:last beat"), t[n - 1], "the last tick is the one recorded");
    free(t);
    for (int i = 0; i < 3; i++)
        if (pid[i] > 0) {
            kill(pid[i], SIGTERM);
            int st;
            cr_expect_eq(kt_wait(pid[i], 10000, &st), 0);
        }
    redisFree(c);
}

Test(supervisor_leader, draining_leader_hands_over_at_once)
{
    static const char *const plugins[] = { NULL };
    sup_setup(&S, plugins, "");
    sup_replace(S.ini, "[supervisor]\n", "[supervisor]\nleader_lease = 30s\n");
    char ini[2][700], log[2][700];
    pid_t pid[2];
    for (int i = 0; i < 2; i++) {
        other_ini(i, ini[i], sizeof(ini[i]), log[i], sizeof(log[i]));
        pid[i] = sup_start_cfg(ini[i], log[i]);
    }
    redisContext *c = kt_redis_connect(&S.redis);
    struct lw lw = { c, 0 };
    cr_assert(kt_wait_until(new_leader, &lw, 10000), "no leader");
    pid_t l = leader_pid(c);
    long long tok = kt_int(c, "HGET q:leader token");
    int li = pid[0] == l ? 0 : 1;
    cr_assert_eq(pid[li], l);
    /* Redis holds the lease as soon as the script ran; the log line
     * follows when its reply reaches the master */
    cr_assert(kt_wait_file_has(log[li], "leader of prefix q", 1, 5000));
    kill(l, SIGTERM);
    int st;
    cr_assert_eq(kt_wait(l, 10000, &st), 0);
    lw.not = l;
    /* well before the 30 s lease: given up, taken by the other */
    cr_assert(kt_wait_until(new_leader, &lw, 12000), "not handed over");
    cr_expect_eq(leader_pid(c), pid[1 - li]);
    cr_expect_gt(kt_int(c, "HGET q:leader token"), tok, "a new fencing token");
    kill(pid[1 - li], SIGTERM);
    cr_expect_eq(kt_wait(pid[1 - li], 10000, &st), 0);
    redisFree(c);
}

/* ---- retention ------------------------------------------------------------- */

static long long zcard(redisContext *c, const char *key)
{
    return kt_int(c, "ZCARD %s", key);
}

struct zw { redisContext *c; const char *key; long long want; };

static int zcard_is(void *arg)
{
    struct zw *w = arg;
    return zcard(w->c, w->key) == w->want;
}

struct fw { redisContext *c; const int64_t *ids; int n, keep; const char *key; };

/* Of n finished jobs, only the newest keep (by id) left in key. */
static int newest_kept(void *arg)
{
    struct fw *f = arg;
    if (zcard(f->c, f->key) != f->keep)
        return 0;
    for (int i = 0; i < f->n; i++)
        if (kt_int(f->c, "EXISTS q:job:%lld", (long long)f->ids[i]) != (i >= f->n - f->keep))
            return 0;
    return 1;
}

Test(supervisor_leader, retention_count_age_search_and_states)
{
    static const char *const plugins[] = { "echo", "flaky", "sleep", NULL };
    sup_setup(&S, plugins,
              "[retention]\nkeep_complete = 5\nkeep_failed = 3\ninterval = 100ms\n"
              "[retention sleep]\nkeep_complete = 0\nkeep_complete_for = 2s\n"
              "[type echo]\nconcurrency = 10\n[type sleep]\nconcurrency = 10\n"
              "[type flaky]\nconcurrency = 4\n");
    redisContext *c = kt_redis_connect(&S.redis);
    /* jobs of a type nobody takes: inactive and delayed, and index entries
     * that wrongly list some of them as complete or failed */
    int64_t idle[10];
    for (int i = 0; i < 10; i++)
        idle[i] = sup_job(&S, "idle", "{}", 1, i < 5 ? 0 : 3600000);
    for (int i = 0; i < 10; i++) {
        freeReplyObject(kt_cmd(c, "ZADD q:jobs:idle:complete 0 %02d|%lld",
                               (int)snprintf(NULL, 0, "%lld", (long long)idle[i]), (long long)idle[i]));
        freeReplyObject(kt_cmd(c, "ZADD q:jobs:idle:failed 0 %02d|%lld",
                               (int)snprintf(NULL, 0, "%lld", (long long)idle[i]), (long long)idle[i]));
    }
    /* one the hash says is active */
    freeReplyObject(kt_cmd(c, "HSET q:job:%lld state active", (long long)idle[0]));
    /* 20 echo jobs, each with search entries */
    int64_t ids[20];
    for (int i = 0; i < 20; i++) {
        ids[i] = sup_job(&S, "echo", "{\"w\":\"alpha\"}", 1, 0);
        freeReplyObject(kt_cmd(c, "ZADD q:search:word:ALF 1 %lld", (long long)ids[i]));
        freeReplyObject(kt_cmd(c, "ZADD q:search:object:%lld 1 ALF", (long long)ids[i]));
    }
    sup_start(&S);
    struct zw w = { c, "q:jobs:echo:complete", 5 };
    struct fw e = { c, ids, 20, 5, w.key };
    cr_assert(kt_wait_until(newest_kept, &e, 15000), "echo complete: %lld, not the newest 5",
              zcard(c, "q:jobs:echo:complete"));
    /* the newest 5 stayed, the others are gone with their search entries */
    for (int i = 0; i < 20; i++) {
        long long ex = kt_int(c, "EXISTS q:job:%lld", (long long)ids[i]);
        cr_expect_eq(ex, i >= 15, "job %d (id %lld) exists: %lld", i, (long long)ids[i], ex);
        cr_expect_eq(kt_int(c, "EXISTS q:search:object:%lld", (long long)ids[i]), i >= 15);
        cr_expect_eq(kt_int(c, "EXISTS q:job:%lld:log", (long long)ids[i]), 0);
    }
    cr_expect_eq(zcard(c, "q:search:word:ALF"), 5);
    cr_expect_eq(zcard(c, "q:jobs:complete"), 5);

    /* failed: keep 3 (flaky fails the first "fail" attempts) */
    int64_t fl[8];
    for (int i = 0; i < 8; i++)
        fl[i] = sup_job(&S, "flaky", "{\"fail\":5}", 1, 0);
    /* the jobs fail one by one, and retention may run in between: wait
     * for the end state (the newest 3 kept), not for any 3 failed */
    struct fw f = { c, fl, 8, 3, "q:jobs:flaky:failed" };
    cr_assert(kt_wait_until(newest_kept, &f, 15000), "flaky failed: %lld, not 3",
              zcard(c, "q:jobs:flaky:failed"));
    cr_assert(sup_wait_count(&S, "flaky", "failed", 3, 5000));
    for (int i = 0; i < 8; i++)
        cr_expect_eq(kt_int(c, "EXISTS q:job:%lld", (long long)fl[i]), i >= 5, "flaky %d", i);

    /* age: kept while young, gone after keep_complete_for (2 s) */
    int64_t aged[6];
    for (int i = 0; i < 6; i++)
        aged[i] = sup_job(&S, "sleep", "{\"ms\":10}", 1, 0);
    cr_assert(sup_wait_count(&S, "sleep", "complete", 6, 10000));
    cr_expect_eq(kt_int(c, "EXISTS q:job:%lld:log", (long long)aged[0]), 1);
    int64_t done_at = kt_now_ms();
    w.key = "q:jobs:sleep:complete";
    w.want = 0;
    cr_assert(kt_wait_until(zcard_is, &w, 10000), "aged jobs not removed");
    int64_t took = kt_now_ms() - done_at;
    cr_log_info("aged jobs removed %lld ms after completing", (long long)took);
    cr_expect_geq(took, 1500, "removed before their 2 s");
    for (int i = 0; i < 6; i++) {
        cr_expect_eq(kt_int(c, "EXISTS q:job:%lld", (long long)aged[i]), 0);
        cr_expect_eq(kt_int(c, "EXISTS q:job:%lld:log", (long long)aged[i]), 0);
    }

    /* nothing inactive or delayed was removed, however listed */
    for (int i = 0; i < 10; i++) {
        char st[32];
        kt_str(c, st, sizeof(st), "HGET q:job:%lld state", (long long)idle[i]);
        cr_expect_str_eq(st, i == 0 ? "active" : i < 5 ? "inactive" : "delayed", "idle job %d", i);
    }
    cr_expect_eq(zcard(c, "q:jobs:idle:inactive"), 5);
    cr_expect_eq(zcard(c, "q:jobs:idle:delayed"), 5);
    /* the metrics counter of the leader (scoreboard): read via /workers is
     * covered in web tests; here the log is enough */
    redisFree(c);
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
}

/* /metrics: kue_leader{prefix} and kue_pruned_total{type,state}; /workers
 * names the leader; GET/PUT/DELETE /cron/:name. */
Test(supervisor_leader, metrics_and_workers_show_the_leader)
{
    static const char *const plugins[] = { "echo", NULL };
    int port = kt_free_port();
    char body[512];
    snprintf(body, sizeof(body),
             "[web]\nlisten = 127.0.0.1:%d\n[retention]\nkeep_complete = 2\ninterval = 100ms\n"
             "[type echo]\nconcurrency = 4\n", port);
    sup_setup(&S, plugins, body);
    sup_start(&S);
    cr_assert(wt_wait_port(port, 15000), "web did not start");
    for (int i = 0; i < 6; i++)
        sup_job(&S, "echo", "{}", 1, 0);
    redisContext *c = kt_redis_connect(&S.redis);
    struct zw w = { c, "q:jobs:echo:complete", 2 };
    cr_assert(kt_wait_until(zcard_is, &w, 15000));
    cr_assert(sup_wait_count(&S, "echo", "complete", 2, 5000));
    int ok = 0;
    for (int tries = 0; tries < 50 && !ok; tries++) {
        wt_resp_t r = wt_get(port, "/metrics");
        ok = r.body && strstr(r.body, "kue_leader{prefix=\"q\"} 1\n") &&
             strstr(r.body, "kue_pruned_total{type=\"echo\",state=\"complete\"} 4\n");
        if (!ok && tries == 49)
            cr_log_error("%s", r.body ? r.body : "(none)");
        wt_resp_free(&r);
        if (!ok)
            kt_sleep_ms(100);
    }
    cr_expect(ok, "kue_leader 1 and kue_pruned_total 4 in /metrics");
    wt_resp_t r = wt_get(port, "/workers");
    char want[128];
    snprintf(want, sizeof(want), ":%d:", (int)S.pid);
    cr_expect(r.body && strstr(r.body, "\"leader\":true"), "%s", r.body);
    cr_expect(r.body && strstr(r.body, want), "the holder names our pid: %s", r.body);
    wt_resp_free(&r);

    /* /cron: PUT, GET, DELETE */
    const char *def = "{\"schedule\":\"@every 1s\",\"type\":\"viaweb\",\"data\":{\"k\":2}}";
    r = wt_request(port, "PUT", "/cron/web1", "Content-Type: application/json\r\n", def, strlen(def));
    cr_expect_eq(r.status, 200, "%s", r.body);
    wt_resp_free(&r);
    const char *bad = "{\"schedule\":\"* * *\",\"type\":\"viaweb\"}";
    r = wt_request(port, "PUT", "/cron/web2", "Content-Type: application/json\r\n", bad, strlen(bad));
    cr_expect_eq(r.status, 400, "%s", r.body);
    cr_expect(r.body && strstr(r.body, "5 fields"), "%s", r.body);
    wt_resp_free(&r);
    cr_expect(sup_wait_count(&S, "viaweb", "inactive", 1, 10000), "no job from PUT /cron");
    r = wt_get(port, "/cron/web1");
    cr_expect_eq(r.status, 200);
    cr_expect(r.body && strstr(r.body, "\"source\":\"runtime\"") && strstr(r.body, "\"next\":"),
              "%s", r.body);
    wt_resp_free(&r);
    r = wt_get(port, "/cron");
    cr_expect(r.body && r.body[0] == '[' && strstr(r.body, "web1"), "%s", r.body);
    wt_resp_free(&r);
    r = wt_request(port, "DELETE", "/cron/web1", NULL, NULL, 0);
    cr_expect_eq(r.status, 200, "%s", r.body);
    wt_resp_free(&r);
    r = wt_request(port, "DELETE", "/cron/web1", NULL, NULL, 0);
    cr_expect_eq(r.status, 404, "%s", r.body);
    wt_resp_free(&r);
    redisFree(c);
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
}

/* kue cron add|ls|rm against a running leader. */
static int kue_run(struct sup_t *s, const char *out, char *const args[])
{
    char bin[600];
    kt_bin("kue", bin, sizeof(bin));
    char *argv[32];
    int n = 0;
    argv[n++] = bin;
    argv[n++] = "--redis";
    argv[n++] = s->redis.url;
    for (int i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t p = kt_spawn(argv, out);
    int st;
    cr_assert_eq(kt_wait(p, 10000, &st), 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int tick_jobs_2(void *arg)
{
    return kue_count(((struct sup_t *)arg)->k, "hb", "inactive") >= 2;
}

Test(supervisor_leader, cron_added_at_run_time)
{
    static const char *const plugins[] = { NULL };
    sup_setup(&S, plugins, "[cron filed]\nschedule = 0 3 * * *\ntype = report\ntimezone = Europe/Berlin\n");
    sup_start(&S);
    char out[700];
    snprintf(out, sizeof(out), "%s/kue.out", S.dir);
    cr_expect_eq(kue_run(&S, out, (char *[]){ "cron", "add", "bad", "--schedule", "61 * * * *",
                                              "--type", "hb", NULL }), 1);
    cr_expect(sup_log_has(out, "minute"), "the reason is named");
    cr_assert_eq(kue_run(&S, out, (char *[]){ "cron", "add", "hb", "--schedule", "@every 1s",
                                              "--type", "hb", "--data", "{\"a\":1}",
                                              "--catch-up", "all", NULL }), 0);
    cr_assert(kt_wait_until(tick_jobs_2, &S, 10000), "no jobs from the run-time schedule");
    cr_assert_eq(kue_run(&S, out, (char *[]){ "cron", "ls", "--json", NULL }), 0);
    char *t = kt_read_file(out);
    cr_expect(t && strstr(t, "\"name\":\"hb\""), "%s", t);
    cr_expect(t && strstr(t, "\"name\":\"filed\""), "%s", t);
    cr_expect(t && strstr(t, "\"source\":\"file\""), "%s", t);
    cr_expect(t && strstr(t, "\"timezone\":\"Europe/Berlin\""), "%s", t);
    free(t);
    cr_assert_eq(kue_run(&S, out, (char *[]){ "cron", "ls", NULL }), 0);
    t = kt_read_file(out);
    cr_expect(t && strstr(t, "@every 1s") && strstr(t, "0 3 * * *"), "%s", t);
    free(t);
    cr_expect_eq(kue_run(&S, out, (char *[]){ "cron", "rm", "hb", NULL }), 0);
    cr_expect_eq(kue_run(&S, out, (char *[]){ "cron", "rm", "hb", NULL }), 1);
    cr_expect_eq(kue_run(&S, out, (char *[]){ "cron", "rm", "filed", NULL }), 1, "file schedules stay");
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
}
