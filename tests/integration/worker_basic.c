/*
 * kue-worker basics against a real redis-server: synchronous (echo) and
 * asynchronous (sleep, slideshow) handlers, and what lands in Redis as
 * Kue 0.11 writes it: state, result, progress, progress_data, duration,
 * workerId, attempts, log lines, indexes; invalid job data; done() called
 * twice; the worker's scoreboard slot.
 */
#include "worker_common.h"
#include "scoreboard.h"

TestSuite(worker_basic, .init = wt_setup, .fini = wt_teardown, .timeout = 60);

Test(worker_basic, sync_echo_completes_as_kue_writes_it)
{
    int64_t id = wt_enqueue("echo", "{\"hello\":\"world\",\"n\":1}");
    const char *log = wt_log("echo");
    pid_t w = wt_worker("echo", "echo", 1, log, NULL);
    wt_wait_state(id, "complete", 5000);
    char b[400], wid[400];
    cr_assert_str_eq(wt_field(id, "result", b, sizeof b), "{\"hello\":\"world\",\"n\":1}");
    cr_assert_str_eq(wt_field(id, "progress", b, sizeof b), "100");
    cr_assert_str_eq(wt_field(id, "attempts", b, sizeof b), "1");
    cr_assert_neq(wt_field(id, "duration", b, sizeof b)[0], '\0');
    cr_assert_neq(wt_field(id, "started_at", b, sizeof b)[0], '\0');
    /* workerId kue:<host>:<pid>:<type>:<n> */
    char host[256];
    gethostname(host, sizeof host);
    snprintf(b, sizeof b, "kue:%s:%d:echo:1", host, (int)w);
    cr_assert_str_eq(wt_field(id, "workerId", wid, sizeof wid), b);
    char zid[32];
    snprintf(zid, sizeof zid, "%02d|%lld", (int)snprintf(NULL, 0, "%lld", (long long)id),
             (long long)id);
    cr_assert_eq(kt_int(wt_rc, "ZCARD q:jobs:complete"), 1);
    cr_assert_eq(kt_int(wt_rc, "ZCARD q:jobs:echo:complete"), 1);
    redisReply *r = kt_cmd(wt_rc, "ZSCORE q:jobs:echo:complete %s", zid);
    cr_assert_eq(r->type, REDIS_REPLY_STRING, "zid %s not in the per-type complete set", zid);
    freeReplyObject(r);
    cr_assert_eq(kt_int(wt_rc, "ZCARD q:jobs:active"), 0);
    cr_assert_eq(kt_int(wt_rc, "ZCARD q:jobs:echo:active"), 0);
    {
        redisReply *hk = kt_cmd(wt_rc, "KEYS q:held:*");
        cr_assert_eq(hk->elements, 0, "a job is still recorded as held");
        freeReplyObject(hk);
    }
    cr_assert_eq(kt_int(wt_rc, "EXISTS q:held:%s:%d", host, (int)w), 0);
    /* Kue's total work time: the one job's duration */
    char dur[32];
    cr_assert_not_null(kt_str(wt_rc, b, sizeof b, "GET q:stats:work-time"), "no q:stats:work-time");
    cr_assert_str_eq(b, wt_field(id, "duration", dur, sizeof dur));

    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
}

Test(worker_basic, async_sleep_progress_and_logs)
{
    int64_t id = wt_enqueue("sleep", "{\"ms\":300}");
    pid_t w = wt_worker("sleep", "sleep", 2, wt_log("sleep"), NULL);
    wt_wait_state(id, "complete", 5000);
    char b[256];
    cr_assert_str_eq(wt_field(id, "result", b, sizeof b), "{\"slept\":300}");
    cr_assert_str_eq(wt_field(id, "progress", b, sizeof b), "100");
    cr_assert_geq(atoll(wt_field(id, "duration", b, sizeof b)), 250);
    cr_assert_eq(kt_int(wt_rc, "LLEN q:job:%lld:log", (long long)id), 10);
    cr_assert_str_eq(kt_str(wt_rc, b, sizeof b, "LINDEX q:job:%lld:log 0", (long long)id),
                     "slept 30 of 300 ms");
    cr_assert_str_eq(kt_str(wt_rc, b, sizeof b, "LINDEX q:job:%lld:log -1", (long long)id),
                     "slept 300 of 300 ms");
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
}

Test(worker_basic, slideshow_progress_data)
{
    int64_t id = wt_enqueue("slideshow", "{\"title\":\"welcome\",\"slides\":4,\"ms\":20}");
    pid_t w = wt_worker("slideshow", "slideshow", 1, wt_log("slides"), NULL);
    wt_wait_state(id, "complete", 5000);
    char b[256];
    cr_assert_str_eq(wt_field(id, "result", b, sizeof b), "{\"slides\":4}");
    cr_assert_str_eq(wt_field(id, "progress_data", b, sizeof b), "{\"slide\":4}");
    cr_assert_eq(kt_int(wt_rc, "LLEN q:job:%lld:log", (long long)id), 5);
    cr_assert_str_eq(kt_str(wt_rc, b, sizeof b, "LINDEX q:job:%lld:log 0", (long long)id),
                     "converting slideshow \"welcome\" (4 slides)");
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
}

Test(worker_basic, many_jobs_concurrency_many)
{
    int64_t ids[200];
    for (int i = 0; i < 200; i++) ids[i] = wt_enqueue("echo", "{}");
    pid_t w = wt_worker("echo", "echo", 8, wt_log("many"), NULL);
    wt_wait_zcard("q:jobs:echo:complete", 200, 10000);
    for (int i = 0; i < 200; i++) {
        char b[16];
        cr_assert_str_eq(wt_field(ids[i], "state", b, sizeof b), "complete");
    }
    cr_assert_eq(kt_int(wt_rc, "LLEN q:echo:jobs"), 0, "tokens left behind");
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
}

Test(worker_basic, invalid_json_data_fails_the_job_and_goes_on)
{
    int64_t bad = wt_enqueue("echo", "{}");
    int64_t good = wt_enqueue("echo", "{\"ok\":true}");
    kt_int(wt_rc, "HSET q:job:%lld data %s", (long long)bad, "{not json");
    const char *log = wt_log("badjson");
    pid_t w = wt_worker("echo", "echo", 1, log, NULL);
    wt_wait_state(bad, "failed", 5000);
    wt_wait_state(good, "complete", 5000);
    char b[512];
    wt_field(bad, "error", b, sizeof b);
    cr_assert(strstr(b, "invalid job data") != NULL, "error field: %s", b);
    cr_assert_gt(kt_int(wt_rc, "LLEN q:job:%lld:log", (long long)bad), 0);
    kt_str(wt_rc, b, sizeof b, "LINDEX q:job:%lld:log -1", (long long)bad);
    cr_assert(strstr(b, "invalid job data") != NULL, "log line: %s", b);
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
    cr_assert(wt_log_has(log, "invalid job data"));
}

static const char *twice_src =
    "#include <kue/plugin.h>\n"
    "static kue_handle_t *last;\n"
    "static void process(kue_handle_t *job) {\n"
    "    if (last) kue_done(last, \"late\", NULL); /* a finished job's handle */\n"
    "    kue_done(job, NULL, \"{\\\"first\\\":true}\");\n"
    "    kue_done(job, \"second call\", NULL);\n"
    "    kue_log(job, \"after done\");\n"
    "    last = job;\n"
    "}\n"
    "KUE_PLUGIN(.process = process);\n";

Test(worker_basic, done_twice_is_ignored_with_a_warning)
{
    const char *so = wt_build_plugin("twice", twice_src);
    int64_t a = wt_enqueue("twice", "{}");
    int64_t b2 = wt_enqueue("twice", "{}");
    const char *log = wt_log("twice");
    pid_t w = wt_worker("twice", so, 1, log, NULL);
    wt_wait_state(a, "complete", 5000);
    wt_wait_state(b2, "complete", 5000);
    char b[256];
    cr_assert_str_eq(wt_field(a, "result", b, sizeof b), "{\"first\":true}");
    cr_assert_str_eq(wt_field(a, "error", b, sizeof b), "");
    cr_assert_eq(kt_int(wt_rc, "LLEN q:job:%lld:log", (long long)a), 0);
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
    cr_assert(wt_log_has(log, "kue_done() called again; ignored"));
}

struct sbw { kue_scoreboard_t *sb; int64_t id; };

static int sb_shows_job(void *arg)
{
    struct sbw *s = arg;
    struct kue_sb_slot slot;
    if (kue_sb_read_slot(s->sb, 2, &slot) != 0) return 0;
    return slot.inflight_n == 1 && slot.inflight[0].id == s->id && slot.state == KUE_SB_READY &&
           slot.redis_up == 1;
}

static int sb_shows_done(void *arg)
{
    struct sbw *s = arg;
    struct kue_sb_slot slot;
    if (kue_sb_read_slot(s->sb, 2, &slot) != 0) return 0;
    return slot.inflight_n == 0 && slot.jobs_done == 1;
}

Test(worker_basic, scoreboard_slot)
{
    kue_scoreboard_t sb;
    cr_assert_eq(kue_sb_create(&sb, 4), 0);
    char fdenv[64];
    snprintf(fdenv, sizeof fdenv, "KUE_SCOREBOARD_FD=%d", sb.fd);
    char *env[] = { fdenv, NULL };
    static char bin[1024];
    kt_bin("kue-worker", bin, sizeof bin);
    char *argv[] = { bin, "--redis", wt_redis.url, "--type", "sleep", "--plugin",
                     (char *)wt_plugin("sleep"), "--slot", "2", "--timeout", "30s", NULL };
    int64_t id = wt_enqueue("sleep", "{\"ms\":1500}");
    pid_t w = kt_spawn_env(argv, env, wt_log("sb"));
    struct sbw s = { &sb, id };
    cr_assert(kt_wait_until(sb_shows_job, &s, 5000), "slot 2 does not show job %lld",
              (long long)id);
    struct kue_sb_slot slot;
    kue_sb_read_slot(&sb, 2, &slot);
    cr_assert_eq(slot.inflight[0].deadline_ms - slot.inflight[0].started_ms, 30000);
    cr_assert_lt(kt_now_ms() - slot.heartbeat_ms, 3000);
    cr_assert(kt_wait_until(sb_shows_done, &s, 5000), "slot 2 does not count the job done");
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
    kue_sb_detach(&sb);
}
