/*
 * lib_functions.c -- kue's scripts as a Redis function library
 * (libkue/scripts.c): loaded once and run with FCALL on Redis 7; loaded
 * again when the server lost it; EVALSHA where the server has no functions
 * (FCALL renamed away, a user without the permission, or
 * KUE_REDIS_FUNCTIONS=0), for the blocking and asynchronous clients and a
 * whole supervisor; over maxmemory only the scripts that delete run.
 */
#include "supervisor_common.h"

#include <ev.h>
#include <sys/wait.h>

#include <kue/async.h>

#include "scripts.h"

static struct sup_t S;

TestSuite(functions, .fini = sup_fini, .timeout = 60);

static char *const no_functions[] = { "--rename-command", "FCALL", "",
                                      "--rename-command", "FUNCTION", "", NULL };

static int64_t save(kue_t *k, const char *type)
{
    kue_job_t *j = kue_job_new(type, "{\"n\":1}");
    int64_t id = kue_job_save(k, j);
    kue_job_free(j);
    return id;
}

/* The libraries on the server whose name starts with "kue_", and the
 * number of functions of the last one. */
static int kue_libraries(redisContext *c, char *name, size_t len, size_t *nfunctions)
{
    redisReply *r = kt_cmd(c, "FUNCTION LIST");
    int n = 0;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        redisReply *lib = r->element[i];
        for (size_t f = 0; f + 1 < lib->elements; f += 2) {
            if (!strcmp(lib->element[f]->str, "library_name") &&
                !strncmp(lib->element[f + 1]->str, "kue_", 4)) {
                n++;
                if (name) snprintf(name, len, "%s", lib->element[f + 1]->str);
            }
            if (!strcmp(lib->element[f]->str, "functions") && nfunctions)
                *nfunctions = lib->element[f + 1]->elements;
        }
    }
    freeReplyObject(r);
    return n;
}

Test(functions, the_library_is_loaded_once_and_every_call_is_an_fcall)
{
    sup_setup(&S, (const char *const[]){ NULL }, "");
    redisContext *c = kt_redis_connect(&S.redis);
    cr_assert_eq(kue_libraries(c, NULL, 0, NULL), 0);
    freeReplyObject(kt_cmd(c, "CONFIG RESETSTAT"));
    int64_t id = save(S.k, "t");
    cr_assert_gt(id, 0, "%s", kue_errstr(S.k));
    cr_assert_gt(save(S.k, "t"), id);
    cr_assert_eq(kue_count(S.k, "t", "inactive"), 2);
    char name[64];
    size_t nf = 0;
    cr_assert_eq(kue_libraries(c, name, sizeof name, &nf), 1);
    cr_assert_str_eq(name, kue_script_library_name());
    cr_assert_eq(strlen(name), 4 + 16, "%s: kue_ and 16 hex digits", name);
    cr_assert_eq(nf, (size_t)KS__COUNT);
    /* the first call missed the library (Redis counts it, failed, as a call) */
    cr_assert_eq(kt_cmd_calls(c, "fcall"), 3);
    cr_assert_eq(kt_cmd_calls(c, "function|load"), 1, "loaded when the first call missed it");
    cr_assert_eq(kt_cmd_calls(c, "evalsha") + kt_cmd_calls(c, "eval"), 0);
    redisFree(c);
}

/* FUNCTION FLUSH (or a restart without persistence) under a running
 * client: its next call loads the library again and runs. */
Test(functions, a_flushed_library_is_loaded_again)
{
    sup_setup(&S, (const char *const[]){ NULL }, "");
    redisContext *c = kt_redis_connect(&S.redis);
    cr_assert_gt(save(S.k, "t"), 0);
    freeReplyObject(kt_cmd(c, "FUNCTION FLUSH"));
    cr_assert_eq(kue_libraries(c, NULL, 0, NULL), 0);
    cr_assert_gt(save(S.k, "t"), 0, "%s", kue_errstr(S.k));
    cr_assert_eq(kue_libraries(c, NULL, 0, NULL), 1);
    cr_assert_eq(kue_count(S.k, "t", "inactive"), 2);
    redisFree(c);
}

/* A bulk save on a server that lacks the library (new, restarted,
 * flushed) while another client loads it meanwhile, as a worker
 * reconnecting does: the jobs still get their ids in the order given (the
 * round's first call loads the library before the rest is pipelined; had
 * it missed and been sent again after the round, the later calls, run
 * once the library was back, would have taken the lower ids). */
Test(functions, a_bulk_save_keeps_its_order_when_the_library_comes_back_meanwhile)
{
    sup_setup(&S, (const char *const[]){ NULL }, "");
    redisContext *c = kt_redis_connect(&S.redis);
    cr_assert_gt(save(S.k, "t"), 0);
    redisReply *dump = kt_cmd(c, "FUNCTION DUMP");
    cr_assert_eq(dump->type, REDIS_REPLY_STRING);
    freeReplyObject(kt_cmd(c, "FUNCTION FLUSH"));
    freeReplyObject(kt_cmd(c, "CONFIG RESETSTAT"));
    pid_t loader = fork();
    cr_assert_geq(loader, 0);
    if (loader == 0) {
        /* the other client: loads the library as soon as a call missed it */
        redisContext *o = redisConnectUnix(S.redis.sock);
        int64_t deadline = kt_now_ms() + 10000;
        while (o && !o->err && kt_now_ms() < deadline) {
            redisReply *r = redisCommand(o, "INFO commandstats");
            int missed = r && r->type == REDIS_REPLY_STRING && strstr(r->str, "cmdstat_fcall:");
            if (r) freeReplyObject(r);
            if (missed) {
                const char *v[] = { "FUNCTION", "RESTORE", dump->str, "REPLACE" };
                size_t l[] = { 8, 7, dump->len, 7 };
                r = redisCommandArgv(o, 4, v, l);
                _exit(r && r->type == REDIS_REPLY_STATUS ? 0 : 2);
            }
        }
        _exit(1);
    }
    enum { N = 3200 };
    static kue_job_t *jobs[N];
    static int64_t ids[N];
    /* 1 KB of data a job: a round of calls spans many of Redis's reads,
     * so the other client's load lands among them */
    char pad[1001];
    memset(pad, 'x', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    for (int i = 0; i < N; i++) {
        char data[1100];
        snprintf(data, sizeof data, "{\"n\":%d,\"pad\":\"%s\"}", i, pad);
        jobs[i] = kue_job_new("t", data);
    }
    size_t saved = kue_job_save_bulk(S.k, jobs, N, ids);
    for (int i = 0; i < N; i++) kue_job_free(jobs[i]);
    int st;
    cr_assert_eq(kt_wait(loader, 10000, &st), 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the other client did not load the library");
    cr_assert_eq(saved, (size_t)N, "%s", kue_errstr(S.k));
    for (int i = 1; i < N; i++)
        cr_assert_gt(ids[i], ids[i - 1], "job %d got id %lld, job %d id %lld: out of order", i,
                     (long long)ids[i], i - 1, (long long)ids[i - 1]);
    cr_assert_eq(ids[N - 1] - ids[0], N - 1);
    freeReplyObject(dump);
    redisFree(c);
}

struct async_run { int done, ok; };

static void on_saved(kue_async_t *a, int64_t id, const char *err, void *privdata)
{
    (void)a;
    (void)err;
    struct async_run *r = privdata;
    r->done++;
    r->ok += id > 0;
}

/* The asynchronous client loads the library in its handshake, and after a
 * FUNCTION FLUSH its saves (each missing it) are re-sent and all land. */
Test(functions, async_saves_survive_a_flushed_library)
{
    sup_setup(&S, (const char *const[]){ NULL }, "");
    redisContext *c = kt_redis_connect(&S.redis);
    struct ev_loop *loop = ev_loop_new(0);
    char err[256];
    kue_async_t *a = kue_async_connect(loop, S.redis.url, "q", err, sizeof err);
    cr_assert(a, "%s", err);
    struct async_run r = { 0, 0 };
    kue_job_t *jobs[100];
    int64_t t_up = kt_now_ms();
    while (!kue_async_connected(a) && kt_now_ms() - t_up < 5000) ev_run(loop, EVRUN_ONCE);
    cr_assert(kue_async_connected(a));
    for (int round = 0; round < 2; round++) {
        if (round == 1) freeReplyObject(kt_cmd(c, "FUNCTION FLUSH"));
        for (int i = 0; i < 50; i++) {
            jobs[round * 50 + i] = kue_job_new("t", "{}");    /* kept until answered */
            cr_assert_eq(kue_async_save(a, jobs[round * 50 + i], on_saved, &r), 0);
        }
        int64_t t0 = kt_now_ms();
        while (r.done < 50 * (round + 1) && kt_now_ms() - t0 < 10000) ev_run(loop, EVRUN_ONCE);
    }
    cr_assert_eq(r.done, 100);
    cr_assert_eq(r.ok, 100);
    for (int i = 0; i < 100; i++) kue_job_free(jobs[i]);
    cr_assert_eq(kue_count(S.k, "t", "inactive"), 100);
    cr_assert_eq(kue_libraries(c, NULL, 0, NULL), 1);
    kue_async_free(a);
    ev_loop_destroy(loop);
    redisFree(c);
}

/* A server without functions (FCALL and FUNCTION renamed away, as an
 * older Redis answers): the supervisor, its workers and the producers run
 * everything with EVALSHA. */
Test(functions, a_server_without_functions_runs_everything_with_evalsha)
{
    sup_setup(&S, (const char *const[]){ "echo", NULL },
              "[type echo]\nprocesses = 1\nconcurrency = 10\n");
    kt_redis_restart_args(&S.redis, 0, no_functions);
    redisContext *c = kt_redis_connect(&S.redis);
    sup_start(&S);
    enum { N = 200 };
    for (int i = 0; i < N; i++) cr_assert_gt(save(S.k, "echo"), 0, "%s", kue_errstr(S.k));
    kue_job_t *j = kue_job_new("echo", "{}");
    kue_job_set_delay(j, 300);
    cr_assert_gt(kue_job_save(S.k, j), 0);
    kue_job_free(j);
    cr_assert(sup_wait_count(&S, "echo", "complete", N + 1, 20000), "%lld of %d complete",
              kue_count(S.k, "echo", "complete"), N + 1);
    cr_assert_gt(kt_cmd_calls(c, "evalsha"), 0);
    cr_assert_eq(kt_cmd_calls(c, "fcall"), 0);
    cr_assert(sup_log_has(S.log, "no function library"), "the fallback is logged");
    cr_assert_eq(kue_count(S.k, "echo", "active"), 0);
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
    redisFree(c);
}

/* A library that cannot be loaded for now (over maxmemory) sends that
 * call the EVALSHA way, and functions are used again once it can be. */
Test(functions, a_load_refused_for_now_does_not_turn_functions_off)
{
    sup_setup(&S, (const char *const[]){ NULL }, "");
    redisContext *c = kt_redis_connect(&S.redis);
    freeReplyObject(kt_cmd(c, "CONFIG SET maxmemory 1"));
    int64_t id = kue_job_remove(S.k, 12345) == 0 ? 1 : 0;   /* the first call: LOAD refused */
    cr_assert_eq(id, 0, "no such job");
    cr_assert_eq(kue_errcode(S.k), KUE_ERR_NOTFOUND, "%s", kue_errstr(S.k));
    cr_assert_eq(kue_libraries(c, NULL, 0, NULL), 0);
    freeReplyObject(kt_cmd(c, "CONFIG SET maxmemory 0"));
    freeReplyObject(kt_cmd(c, "CONFIG RESETSTAT"));
    cr_assert_gt(save(S.k, "t"), 0, "%s", kue_errstr(S.k));
    cr_assert_eq(kue_libraries(c, NULL, 0, NULL), 1, "functions went off for good");
    cr_assert_gt(kt_cmd_calls(c, "fcall"), 0);
    cr_assert_eq(kt_cmd_calls(c, "evalsha"), 0);
    redisFree(c);
}

/* A user who may not run FCALL or FUNCTION: the same, for libkue. */
Test(functions, a_user_without_the_permission_gets_evalsha)
{
    sup_setup_flags(&S, (const char *const[]){ NULL }, "", KT_TCP);
    redisContext *c = kt_redis_connect(&S.redis);
    freeReplyObject(kt_cmd(c, "ACL SETUSER limited on >secret ~* &* +@all -fcall -function"));
    char url[600], err[256];
    snprintf(url, sizeof url, "redis://limited:secret@127.0.0.1:%d/0", S.redis.port);
    kue_t *k = kue_connect(url, "q", err, sizeof err);
    cr_assert(k, "%s", err);
    freeReplyObject(kt_cmd(c, "CONFIG RESETSTAT"));
    for (int i = 0; i < 3; i++) cr_assert_gt(save(k, "t"), 0, "%s", kue_errstr(k));
    cr_assert_eq(kue_count(k, "t", "inactive"), 3);
    cr_assert_eq(kt_cmd_calls(c, "evalsha"), 3, "after the first refusal, EVALSHA");
    cr_assert_eq(kue_libraries(c, NULL, 0, NULL), 0);
    kue_free(k);
    redisFree(c);
}

/* KUE_REDIS_FUNCTIONS=0 keeps a program on EVALSHA from the start. */
Test(functions, the_environment_can_turn_functions_off)
{
    sup_setup(&S, (const char *const[]){ NULL }, "");
    redisContext *c = kt_redis_connect(&S.redis);
    freeReplyObject(kt_cmd(c, "CONFIG RESETSTAT"));
    char bin[600], log[700];
    kt_bin("kue", bin, sizeof bin);
    snprintf(log, sizeof log, "%s/cli.log", S.dir);
    char *argv[] = { bin, "--redis", S.redis.url, "--prefix", "q", "create", "t", "{}", NULL };
    char *env[] = { "KUE_REDIS_FUNCTIONS=0", NULL };
    int st = -1;
    cr_assert_eq(kt_wait(kt_spawn_env(argv, env, log), 10000, &st), 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "kue create failed: see %s", log);
    cr_assert_eq(kue_count(S.k, "t", "inactive"), 1);
    cr_assert_gt(kt_cmd_calls(c, "evalsha") + kt_cmd_calls(c, "eval"), 0);
    cr_assert_eq(kt_cmd_calls(c, "fcall"), 0);
    cr_assert_eq(kue_libraries(c, NULL, 0, NULL), 0);
    redisFree(c);
}

/* Over maxmemory, a function is refused before it reads anything, except
 * those that only delete (remove, prune): a full Redis can still be
 * emptied. */
Test(functions, over_maxmemory_only_deleting_scripts_run)
{
    sup_setup(&S, (const char *const[]){ NULL }, "");
    redisContext *c = kt_redis_connect(&S.redis);
    int64_t a = save(S.k, "t"), b = save(S.k, "t");
    cr_assert(a > 0 && b > 0);
    freeReplyObject(kt_cmd(c, "CONFIG SET maxmemory 1"));
    cr_assert_eq(save(S.k, "t"), -1, "a save was not refused");
    cr_assert_eq(kue_errcode(S.k), KUE_ERR_SERVER);
    cr_assert(strstr(kue_errstr(S.k), "OOM"), "%s", kue_errstr(S.k));
    cr_assert_eq(kue_job_set_state(S.k, a, "failed"), -1, "a state change ran over maxmemory");
    cr_assert_eq(kue_job_remove(S.k, b), 0, "remove: %s", kue_errstr(S.k));
    freeReplyObject(kt_cmd(c, "CONFIG SET maxmemory 0"));
    cr_assert_eq(kt_int(c, "EXISTS q:job:%lld", (long long)b), 0);
    cr_assert_eq(kue_count(S.k, "t", "inactive"), 1);
    redisFree(c);
}
