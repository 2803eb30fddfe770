/*
 * Numbers from outside are bounded, a running job is never queued again,
 * and errors come with a class (docs/data.md):
 *  - ttl, delay, run-at and priority beyond the documented limits are
 *    refused by libkue, POST /job and the CLI with a clear error; a backoff
 *    that computes more than the delay limit is clamped, never wrapped;
 *  - a ttl a producer stored beyond any limit cannot disable the [type]
 *    timeout (the deadline saturates instead of overflowing);
 *  - an active job cannot be moved to inactive or delayed, nor retried,
 *    through libkue, kue-web (409) or the CLI;
 *  - kue_errcode() classes.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kue/kue.h>
#include "harness.h"
#include "scripts.h"
#include "supervisor_common.h"
#include "web_common.h"

static struct sup_t S;
static wt_web_t W;

TestSuite(data_limits, .fini = sup_fini, .timeout = 60);

static int64_t save(kue_job_t *j)
{
    int64_t id = kue_job_save(S.k, j);
    kue_job_free(j);
    return id;
}

Test(data_limits, libkue_refuses_times_beyond_the_limits)
{
    static const char *const none[] = { NULL };
    sup_setup(&S, none, "");
    kue_job_t *j = kue_job_new("t", "{}");
    kue_job_set_ttl(j, INT64_MAX);
    cr_expect_eq(save(j), -1);
    cr_expect_eq(kue_errcode(S.k), KUE_ERR_INVALID);
    cr_expect(strstr(kue_errstr(S.k), "ttl"), "%s", kue_errstr(S.k));

    j = kue_job_new("t", "{}");
    kue_job_set_delay(j, INT64_MAX - 5);
    cr_expect_eq(save(j), -1);
    cr_expect(strstr(kue_errstr(S.k), "delay"), "%s", kue_errstr(S.k));

    j = kue_job_new("t", "{}");
    kue_job_set_run_at(j, INT64_MAX);
    cr_expect_eq(save(j), -1);
    cr_expect(strstr(kue_errstr(S.k), "run-at"), "%s", kue_errstr(S.k));

    /* at the limits: accepted, and the due time is what was asked */
    j = kue_job_new("t", "{}");
    kue_job_set_delay(j, KUE_MAX_DELAY_MS);
    kue_job_set_ttl(j, KUE_MAX_TTL_MS);
    int64_t before = kt_now_ms();
    int64_t id = save(j);
    cr_assert_gt(id, 0, "%s", kue_errstr(S.k));
    char b[64];
    long long pa = strtoll(sup_field(&S, id, "promote_at", b, sizeof b), NULL, 10);
    cr_expect(pa >= before + KUE_MAX_DELAY_MS && pa <= kt_now_ms() + KUE_MAX_DELAY_MS, "%lld", pa);
    cr_expect_eq(kue_count(S.k, NULL, "delayed"), 1);

    cr_expect_eq(kue_job_set_backoff(j = kue_job_new("t", "{}"),
                                     "{\"type\":\"exponential\",\"delay\":1e308}"), -1);
    kue_job_free(j);
}

Test(data_limits, a_huge_backoff_is_clamped_not_wrapped)
{
    static const char *const none[] = { NULL };
    sup_setup(&S, none, "");
    kue_job_t *j = kue_job_new("t", "{}");
    kue_job_set_attempts(j, 3);
    int64_t id = save(j);
    cr_assert_gt(id, 0);
    redisContext *c = kt_redis_connect(&S.redis);
    /* what a Node producer may store: .backoff({type:'exponential',delay:1e308}) */
    freeReplyObject(kt_cmd(c, "HSET q:job:%lld backoff %s delay 1e308", (long long)id,
                           "{\"type\":\"exponential\",\"delay\":1e308}"));
    const char *cl[] = { "q", "t", "1", "h", "1", "30000", "0", "1" };
    redisReply *r = kue_script_call(c, KS_CLAIM, 8, cl, NULL);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY, "claim");
    freeReplyObject(r);
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *fa[] = { "q", ids, "kue:h:1:t:1", "boom", "-1", "" };
    int64_t before = kt_now_ms();
    r = kue_script_call(c, KS_FAIL, 6, fa, NULL);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY, "fail: %s", r && r->type == REDIS_REPLY_ERROR ? r->str : "?");
    freeReplyObject(r);
    char b[64];
    cr_expect_str_eq(sup_field(&S, id, "state", b, sizeof b), "delayed");
    char want[32];
    snprintf(want, sizeof want, "%lld", KUE_MAX_DELAY_MS);
    cr_expect_str_eq(sup_field(&S, id, "delay", b, sizeof b), want);
    long long pa = strtoll(sup_field(&S, id, "promote_at", b, sizeof b), NULL, 10);
    cr_expect(pa >= before + KUE_MAX_DELAY_MS && pa <= kt_now_ms() + KUE_MAX_DELAY_MS,
              "promote_at %lld", pa);
    /* and it is not promoted now */
    long promoted = -1;
    cr_assert_eq(kue_promote(S.k, 100, &promoted, NULL), 0);
    cr_expect_eq(promoted, 0);
    redisFree(c);
}

Test(data_limits, post_job_refuses_numbers_beyond_the_limits)
{
    static const char *const none[] = { NULL };
    sup_setup(&S, none, "");
    wt_web_start(&W, S.redis.url, NULL, NULL);
    static const struct { const char *opts, *word; } bad[] = {
        { "\"ttl\":9223372036854774784", "ttl" },
        { "\"ttl\":315360000001", "ttl" },
        { "\"delay\":1e308", "delay" },
        { "\"delay\":-5", "delay" },
        { "\"priority\":1e300", "priority" },
        { "\"priority\":\"nan\"", "priority" },
        { "\"priority\":\"Infinity\"", "priority" },
        { "\"attempts\":2147483648", "attempts" },
        { "\"backoff\":{\"type\":\"fixed\",\"delay\":1e308}", "backoff" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"type\":\"t\",\"options\":{%s}}", bad[i].opts);
        wt_resp_t r = wt_post_json(W.port, "/job", body);
        cr_expect(r.status == 400 || r.status == 500, "%s: %d %s", body, r.status, r.body);
        cr_expect(strstr(r.body, "\"error\":") && strstr(r.body, bad[i].word), "%s: %s", body, r.body);
        wt_resp_free(&r);
    }
    cr_expect_eq(kue_count(S.k, NULL, NULL), 0, "a refused job was saved");
    wt_resp_t r = wt_post_json(W.port, "/job",
                               "{\"type\":\"t\",\"options\":{\"ttl\":315360000000,\"priority\":-7.25}}");
    cr_expect_eq(r.status, 200, "%s", r.body);
    wt_resp_free(&r);
}

Test(data_limits, cli_refuses_a_run_at_beyond_the_limit)
{
    static const char *const none[] = { NULL };
    sup_setup(&S, none, "");
    char bin[512], url[600], log[600];
    kt_bin("kue", bin, sizeof bin);
    snprintf(url, sizeof url, "KUE_REDIS_URL=%s", S.redis.url);
    snprintf(log, sizeof log, "%s/kue-runat.out", S.dir);
    char *argv[] = { bin, "create", "t", "{}", "--run-at", "9223372036854775807", NULL };
    char *env[] = { url, NULL };
    int st = 0;
    cr_assert_eq(kt_wait(kt_spawn_env(argv, env, log), 15000, &st), 0);
    char *out = kt_read_file(log);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) != 0, "accepted: %s", out);
    cr_expect(out && (strstr(out, "run-at") || strstr(out, "run_at")), "%s", out ? out : "");
    free(out);
    cr_expect_eq(kue_count(S.k, NULL, NULL), 0);
}

/* A producer's ttl beyond any bound must not disable the [type] timeout:
 * the deadline saturates, the master kills the worker at the timeout. */
Test(data_limits, a_huge_ttl_cannot_disable_the_type_timeout)
{
    static const char *const plugins[] = { "sleep", NULL };
    sup_setup(&S, plugins, "[type sleep]\ntimeout = 700ms\n");
    int64_t id = save(kue_job_new("sleep", "{\"ms\":6000}"));
    cr_assert_gt(id, 0);
    redisContext *c = kt_redis_connect(&S.redis);
    freeReplyObject(kt_cmd(c, "HSET q:job:%lld ttl 9223372036854774784", (long long)id));
    redisFree(c);
    sup_start(&S);
    cr_assert(sup_wait_state(&S, id, "failed", 4500), "the job ran past the type timeout");
    char b[128];
    cr_expect(strstr(sup_field(&S, id, "error", b, sizeof b), "imeout"), "%s", b);
}

/* ---- a running job is never queued again ------------------------------------------ */

static int64_t active_job(void)
{
    int64_t id = save(kue_job_new("t", "{}"));
    cr_assert_gt(id, 0);
    cr_assert_eq(kue_job_set_state(S.k, id, "active"), 0, "%s", kue_errstr(S.k));
    return id;
}

Test(data_limits, libkue_refuses_to_queue_an_active_job)
{
    static const char *const none[] = { NULL };
    sup_setup(&S, none, "");
    int64_t id = active_job();
    cr_expect_eq(kue_job_set_state(S.k, id, "inactive"), -1);
    cr_expect_eq(kue_errcode(S.k), KUE_ERR_WRONGSTATE);
    cr_expect(strstr(kue_errstr(S.k), "is active"), "%s", kue_errstr(S.k));
    cr_expect_eq(kue_job_set_state(S.k, id, "delayed"), -1);
    cr_expect_eq(kue_errcode(S.k), KUE_ERR_WRONGSTATE);
    cr_expect_eq(kue_job_retry(S.k, id), -1);
    cr_expect_eq(kue_errcode(S.k), KUE_ERR_WRONGSTATE);
    char b[32];
    cr_expect_str_eq(sup_field(&S, id, "state", b, sizeof b), "active");
    cr_expect_eq(kue_count(S.k, "t", "inactive"), 0);
    /* finishing it is allowed; and then it may be queued again */
    cr_expect_eq(kue_job_set_state(S.k, id, "failed"), 0);
    cr_expect_eq(kue_job_retry(S.k, id), 0, "%s", kue_errstr(S.k));
    /* the other classes */
    cr_expect_eq(kue_job_set_state(S.k, 999, "inactive"), -1);
    cr_expect_eq(kue_errcode(S.k), KUE_ERR_NOTFOUND);
    cr_expect_str_eq(kue_errstr(S.k), "job \"999\" doesnt exist");
    cr_expect_eq(kue_job_set_state(S.k, id, "sideways"), -1);
    cr_expect_eq(kue_errcode(S.k), KUE_ERR_INVALID);
    cr_expect_eq(kue_job_remove(S.k, 999), -1);
    cr_expect_eq(kue_errcode(S.k), KUE_ERR_NOTFOUND);
    cr_expect_null(kue_job_get(S.k, 999));
    cr_expect_eq(kue_errcode(S.k), KUE_ERR_NOTFOUND);
    /* an error reply of the server itself */
    redisContext *c = kt_redis_connect(&S.redis);
    freeReplyObject(kt_cmd(c, "SET q:job:types x"));
    redisFree(c);
    char **types = NULL;
    size_t nt = 0;
    cr_expect_eq(kue_types(S.k, &types, &nt), -1);
    cr_expect_eq(kue_errcode(S.k), KUE_ERR_SERVER);
    cr_expect(strstr(kue_errstr(S.k), "WRONGTYPE"), "%s", kue_errstr(S.k));
    /* and a server that is gone */
    kt_redis_stop(&S.redis);
    cr_expect_eq(kue_count(S.k, NULL, "active"), -1);
    cr_expect_eq(kue_errcode(S.k), KUE_ERR_IO, "%s", kue_errstr(S.k));
}

Test(data_limits, kue_web_answers_409_for_an_active_job)
{
    static const char *const none[] = { NULL };
    sup_setup(&S, none, "");
    wt_web_start(&W, S.redis.url, NULL, NULL);
    int64_t id = active_job();
    char path[64];
    snprintf(path, sizeof path, "/inactive/%lld", (long long)id);
    wt_resp_t r = wt_get(W.port, path);
    cr_expect_eq(r.status, 409, "%s: %d %s", path, r.status, r.body);
    cr_expect(strstr(r.body, "is active"), "%s", r.body);
    wt_resp_free(&r);
    static const char *const to[] = { "inactive", "delayed" };
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "/job/%lld/state/%s", (long long)id, to[i]);
        r = wt_request(W.port, "PUT", path, NULL, NULL, 0);
        cr_expect_eq(r.status, 409, "%s: %d %s", path, r.status, r.body);
        cr_expect(strstr(r.body, "\"error\":"), "%s", r.body);
        wt_resp_free(&r);
    }
    char b[32];
    cr_expect_str_eq(sup_field(&S, id, "state", b, sizeof b), "active");
    /* other changes of an active job keep Kue's answers */
    snprintf(path, sizeof path, "/job/%lld/state/complete", (long long)id);
    r = wt_request(W.port, "PUT", path, NULL, NULL, 0);
    cr_expect_eq(r.status, 200, "%s", r.body);
    cr_expect_str_eq(r.body, "{\"message\":\"updated state\"}");
    wt_resp_free(&r);
    r = wt_get(W.port, "/job/999");
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(r.body, "{\"error\":\"job \\\"999\\\" doesnt exist\"}");
    wt_resp_free(&r);
}

/* HTTP actions publish the id as a string, as Kue does. */
Test(data_limits, kue_web_events_carry_string_ids)
{
    static const char *const none[] = { NULL };
    sup_setup_flags(&S, none, "", 0);
    wt_web_start(&W, S.redis.url, NULL, NULL);
    int64_t id = save(kue_job_new("t", "{}"));
    cr_assert_eq(kue_job_set_state(S.k, id, "failed"), 0);
    redisContext *sub = kt_redis_connect(&S.redis);
    freeReplyObject(kt_cmd(sub, "SUBSCRIBE q:events"));
    char path[64];
    snprintf(path, sizeof path, "/inactive/%lld", (long long)id);
    wt_resp_t r = wt_get(W.port, path);
    cr_expect_eq(r.status, 200, "%s", r.body);
    wt_resp_free(&r);
    snprintf(path, sizeof path, "/job/%lld", (long long)id);
    r = wt_request(W.port, "DELETE", path, NULL, NULL, 0);
    cr_expect_eq(r.status, 200, "%s", r.body);
    wt_resp_free(&r);
    char want1[96], want2[96];
    snprintf(want1, sizeof want1, "{\"id\":\"%lld\",\"event\":\"enqueue\"", (long long)id);
    snprintf(want2, sizeof want2, "{\"id\":\"%lld\",\"event\":\"remove\"", (long long)id);
    int seen1 = 0, seen2 = 0;
    for (int i = 0; i < 2; i++) {
        redisReply *m = NULL;
        cr_assert_eq(redisGetReply(sub, (void **)&m), REDIS_OK);
        cr_assert(m->type == REDIS_REPLY_ARRAY && m->elements == 3);
        seen1 |= !strncmp(m->element[2]->str, want1, strlen(want1));
        seen2 |= !strncmp(m->element[2]->str, want2, strlen(want2));
        freeReplyObject(m);
    }
    cr_expect(seen1 && seen2, "events without string ids");
    redisFree(sub);
    /* libkue's own calls keep numeric ids */
}

Test(data_limits, cli_refuses_to_retry_an_active_job)
{
    static const char *const none[] = { NULL };
    sup_setup(&S, none, "");
    int64_t id = active_job();
    char bin[512], url[600], log[600], ids[24];
    kt_bin("kue", bin, sizeof bin);
    snprintf(url, sizeof url, "KUE_REDIS_URL=%s", S.redis.url);
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    char *env[] = { url, NULL };
    char *cmds[3][5] = {
        { bin, "retry", ids, NULL },
        { bin, "retry", "--force", ids, NULL },
        { bin, "state", ids, "inactive", NULL },
    };
    for (int i = 0; i < 3; i++) {
        snprintf(log, sizeof log, "%s/kue-retry-%d.out", S.dir, i);
        int st = 0;
        cr_assert_eq(kt_wait(kt_spawn_env(cmds[i], env, log), 15000, &st), 0);
        char *out = kt_read_file(log);
        cr_expect(WIFEXITED(st) && WEXITSTATUS(st) != 0, "%s %s accepted: %s", cmds[i][1],
                  cmds[i][2], out);
        cr_expect(out && strstr(out, "is active"), "%s", out ? out : "");
        cr_expect(out && !strstr(out, "--force retries"), "%s", out ? out : "");
        free(out);
    }
    char b[32];
    cr_expect_str_eq(sup_field(&S, id, "state", b, sizeof b), "active");
}

/* A stored ttl beyond any limit gives a deadline score in the future, not
 * a wrapped negative one. */
Test(data_limits, a_huge_stored_ttl_does_not_wrap_the_active_score)
{
    static const char *const none[] = { NULL };
    sup_setup(&S, none, "");
    int64_t id = save(kue_job_new("t", "{}"));
    cr_assert_gt(id, 0);
    redisContext *c = kt_redis_connect(&S.redis);
    freeReplyObject(kt_cmd(c, "HSET q:job:%lld ttl 9223372036854774784", (long long)id));
    const char *cl[] = { "q", "t", "1", "h", "1", "30000", "0", "1" };
    redisReply *r = kue_script_call(c, KS_CLAIM, 8, cl, NULL);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    r = kt_cmd(c, "ZSCORE q:jobs:active %02d|%s", (int)strlen(ids), ids);
    cr_assert_eq(r->type, REDIS_REPLY_STRING);
    double score = strtod(r->str, NULL);
    cr_expect(score > (double)kt_now_ms() && score <= (double)kt_now_ms() + (double)KUE_MAX_TTL_MS,
              "active score %s", r->str);
    freeReplyObject(r);
    redisFree(c);
}
