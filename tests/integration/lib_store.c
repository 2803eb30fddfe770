/*
 * The job store against a private redis-server: what each operation leaves
 * in Redis (keys, fields, scores, tokens, events), checked command by
 * command against docs/wire.md.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kue/kue.h>
#include "buf.h"
#include "harness.h"
#include "kue_internal.h"
#include "scripts.h"
#include "search.h"

static kt_redis_t R;
static redisContext *C;
static kue_t *K;

static void setup(void) { kt_store_open(&R, 0, &C, &K); }
static void teardown(void) { kt_store_close(&C, &K); }

TestSuite(store, .init = setup, .fini = teardown, .timeout = 30);

static int64_t enqueue(const char *type, const char *data, int prio, int attempts)
{
    kue_job_t *j = kue_job_new(type, data);
    kue_job_set_priority(j, prio);
    cr_assert_eq(kue_job_set_attempts(j, attempts), 0);
    int64_t id = kue_job_save(K, j);
    cr_assert_gt(id, 0, "save: %s", kue_errstr(K));
    kue_job_free(j);
    return id;
}

static char *hget(int64_t id, const char *field, char *buf, size_t len)
{
    return kt_str(C, buf, len, "HGET q:job:%lld %s", (long long)id, field);
}

static double zscore(const char *key, const char *member)
{
    redisReply *r = kt_cmd(C, "ZSCORE %s %s", key, member);
    cr_assert_eq(r->type, REDIS_REPLY_STRING, "%s has no member %s", key, member);
    double d = strtod(r->str, NULL);
    freeReplyObject(r);
    return d;
}

/* Claim n jobs of type as worker host "h" pid 1. Caller frees. */
static redisReply *claim(const char *type, int n)
{
    char ns[8];
    snprintf(ns, sizeof ns, "%d", n);
    const char *argv[32] = { "q", type, ns, "h", "1", "30000", "0" };
    int argc = 7;
    static char slots[16][8];
    for (int i = 0; i < n && i < 16; i++) {
        snprintf(slots[i], sizeof slots[i], "%d", i + 1);
        argv[argc++] = slots[i];
    }
    redisReply *r = kue_script_call(C, KS_CLAIM, argc, argv, NULL);
    cr_assert_not_null(r);
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "claim: %s", r->type == REDIS_REPLY_ERROR ? r->str : "?");
    return r;
}

static long long run_script(kue_script_id s, int argc, const char **argv)
{
    redisReply *r = kue_script_call(C, s, argc, argv, NULL);
    cr_assert_not_null(r);
    cr_assert_neq(r->type, REDIS_REPLY_ERROR, "%s: %s", kue_script_name(s), r->str);
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer
                : r->type == REDIS_REPLY_ARRAY ? r->element[0]->integer : 0;
    freeReplyObject(r);
    return v;
}

Test(store, enqueue_writes_what_kue_writes)
{
    redisContext *sub = kt_redis_connect(&R);
    freeReplyObject(kt_cmd(sub, "SUBSCRIBE q:events"));
    int64_t id = enqueue("email", "{ \"title\": \"héllo ✓\", \"to\": \"a@b.c\" }", KUE_PRIORITY_HIGH, 3);
    cr_assert_eq(id, 1);
    char b[256];
    cr_assert_str_eq(hget(id, "type", b, sizeof b), "email");
    cr_assert_str_eq(hget(id, "data", b, sizeof b), "{\"title\":\"héllo ✓\",\"to\":\"a@b.c\"}");
    cr_assert_str_eq(hget(id, "priority", b, sizeof b), "-10");
    cr_assert_str_eq(hget(id, "max_attempts", b, sizeof b), "3");
    cr_assert_str_eq(hget(id, "state", b, sizeof b), "inactive");
    char created[32], promote[32];
    hget(id, "created_at", created, sizeof created);
    hget(id, "promote_at", promote, sizeof promote);
    cr_assert_str_eq(created, promote);
    cr_assert_gt(strtoll(created, NULL, 10), 1700000000000LL);
    cr_assert_null(hget(id, "attempts", b, sizeof b));
    cr_assert_null(hget(id, "delay", b, sizeof b));
    cr_assert_eq(kt_int(C, "HLEN q:job:1"), 8);
    cr_assert_eq(zscore("q:jobs", "01|1"), -10);
    cr_assert_eq(zscore("q:jobs:inactive", "01|1"), -10);
    cr_assert_eq(zscore("q:jobs:email:inactive", "01|1"), -10);
    cr_assert_eq(kt_int(C, "LLEN q:email:jobs"), 1);
    cr_assert_eq(kt_int(C, "SISMEMBER q:job:types email"), 1);
    cr_assert_eq(kt_int(C, "GET q:ids"), 1);

    redisReply *m = NULL;
    cr_assert_eq(redisGetReply(sub, (void **)&m), REDIS_OK);
    cr_assert_str_eq(m->element[2]->str, "{\"id\":1,\"event\":\"enqueue\",\"args\":[\"enqueue\",\"email\"]}");
    freeReplyObject(m);
    redisFree(sub);
}

Test(store, delayed_job_scores_and_no_token)
{
    kue_job_t *j = kue_job_new("video", "{}");
    kue_job_set_delay(j, 60000);
    int64_t id = kue_job_save(K, j);
    kue_job_free(j);
    char b[64], c[64];
    cr_assert_str_eq(hget(id, "state", b, sizeof b), "delayed");
    cr_assert_str_eq(hget(id, "delay", b, sizeof b), "60000");
    long long created = strtoll(hget(id, "created_at", b, sizeof b), NULL, 10);
    long long promote = strtoll(hget(id, "promote_at", c, sizeof c), NULL, 10);
    cr_assert_eq(promote - created, 60000);
    cr_assert_eq(zscore("q:jobs:delayed", "01|1"), (double)promote);
    cr_assert_eq(zscore("q:jobs:video:delayed", "01|1"), 0);
    cr_assert_eq(kt_int(C, "EXISTS q:video:jobs"), 0);

    /* Not due: promotion moves nothing and reports the due time. */
    long n = -1;
    int64_t next = 0;
    cr_assert_eq(kue_promote(K, 1000, &n, &next), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(next, promote);
    /* Due now. */
    freeReplyObject(kt_cmd(C, "ZADD q:jobs:delayed %lld 01|1", (long long)created - 1));
    cr_assert_eq(kue_promote(K, 1000, &n, &next), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(next, -1);
    cr_assert_str_eq(hget(id, "state", b, sizeof b), "inactive");
    cr_assert_eq(kt_int(C, "LLEN q:video:jobs"), 1);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:video:delayed"), 0);
    /* Idempotent: a second pass finds nothing. */
    cr_assert_eq(kue_promote(K, 1000, &n, &next), 0);
    cr_assert_eq(n, 0);
}

/* A large round: 4,500 due jobs of two types (several variadic
 * chunk, more than Lua can unpack at once) and a stale entry, in one call. */
Test(store, promotion_of_many_jobs_in_one_round)
{
    enum { N = 4500 };
    kue_job_t **jobs = calloc(N, sizeof *jobs);
    int64_t *ids = calloc(N, sizeof *ids);
    for (int i = 0; i < N; i++) {
        jobs[i] = kue_job_new(i % 3 ? "img" : "pdf", "{}");
        kue_job_set_priority(jobs[i], i % 2 ? -10 : 0);
        kue_job_set_delay(jobs[i], 1);
    }
    cr_assert_eq(kue_job_save_bulk(K, jobs, N, ids), (size_t)N, "%s", kue_errstr(K));
    freeReplyObject(kt_cmd(C, "ZADD q:jobs:delayed 0 03|999999"));  /* hash gone */
    kt_wait_delayed_due(C, "q:jobs:delayed");
    long n = -1;
    int64_t next = 0;
    cr_assert_eq(kue_promote(K, 5000, &n, &next), 0, "%s", kue_errstr(K));
    cr_assert_eq(n, N);
    cr_assert_eq(next, -1);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:delayed"), 0);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:img:delayed") + kt_int(C, "ZCARD q:jobs:pdf:delayed"), 0);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:inactive"), N);
    long long pdf = kt_int(C, "ZCARD q:jobs:pdf:inactive");
    cr_assert_eq(pdf, (N + 2) / 3);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:img:inactive"), N - pdf);
    cr_assert_eq(kt_int(C, "LLEN q:pdf:jobs"), pdf);
    cr_assert_eq(kt_int(C, "LLEN q:img:jobs"), N - pdf);
    char b[32], z[48];
    cr_assert_str_eq(hget(ids[1], "state", b, sizeof b), "inactive");
    snprintf(b, sizeof b, "%lld", (long long)ids[1]);
    snprintf(z, sizeof z, "%02d|%s", (int)strlen(b), b);
    cr_assert_eq(zscore("q:jobs:img:inactive", z), -10);
    for (int i = 0; i < N; i++) kue_job_free(jobs[i]);
    free(jobs);
    free(ids);
}

Test(store, promotion_waits_for_kue_lock)
{
    kue_job_t *j = kue_job_new("video", "{}");
    kue_job_set_run_at(j, 1000);     /* long past: due at once */
    int64_t id = kue_job_save(K, j);
    kue_job_free(j);
    char b[32];
    cr_assert_str_eq(hget(id, "state", b, sizeof b), "inactive");   /* run_at in the past */

    j = kue_job_new("video", "{}");
    kue_job_set_delay(j, 1);
    id = kue_job_save(K, j);
    kue_job_free(j);
    kt_wait_delayed_due(C, "q:jobs:delayed");
    freeReplyObject(kt_cmd(C, "SET promotion:lock abc PX 5000"));
    long n = -1;
    cr_assert_eq(kue_promote(K, 1000, &n, NULL), 0);
    cr_assert_eq(n, 0, "promoted while a Kue process held promotion:lock");
    freeReplyObject(kt_cmd(C, "DEL promotion:lock"));
    cr_assert_eq(kue_promote(K, 1000, &n, NULL), 0);
    cr_assert_eq(n, 1);
}

Test(store, claim_priority_then_fifo)
{
    enqueue("t", "{}", KUE_PRIORITY_LOW, 1);        /* 1 */
    enqueue("t", "{}", KUE_PRIORITY_NORMAL, 1);     /* 2 */
    enqueue("t", "{}", KUE_PRIORITY_CRITICAL, 1);   /* 3 */
    enqueue("t", "{}", KUE_PRIORITY_NORMAL, 1);     /* 4 */
    for (int i = 5; i <= 11; i++) enqueue("t", "{}", KUE_PRIORITY_NORMAL, 1);
    redisReply *r = claim("t", 4);
    cr_assert_eq(r->elements, 4);
    const char *want[] = { "3", "2", "4", "5" };
    for (int i = 0; i < 4; i++)
        cr_assert_str_eq(r->element[i]->element[0]->str, want[i]);
    freeReplyObject(r);
    char b[64];
    cr_assert_str_eq(hget(3, "state", b, sizeof b), "active");
    cr_assert_str_eq(hget(3, "workerId", b, sizeof b), "kue:h:1:t:1");
    cr_assert_str_eq(hget(2, "workerId", b, sizeof b), "kue:h:1:t:2");
    cr_assert_eq(zscore("q:jobs:active", "01|3"), -15);
    cr_assert_eq(zscore("q:jobs:t:active", "01|3"), -15);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:inactive"), 7);
    cr_assert_eq(kt_int(C, "SCARD q:held:h:1"), 4);
    cr_assert_eq(kt_int(C, "ZCARD q:leases"), 1, "one lease per worker process");
    cr_assert_gt(kt_int(C, "ZSCORE q:leases h:1"), kt_now_ms() + 20000);
    /* 11 tokens pushed, 4 claimed (tokens_taken 0): 7 left, one per job. */
    cr_assert_eq(kt_int(C, "LLEN q:t:jobs"), 7);
    /* ids 10 and 11 sort after 9 (zid), not before 2 */
    r = claim("t", 10);
    cr_assert_eq(r->elements, 7);
    cr_assert_str_eq(r->element[4]->element[0]->str, "10");
    cr_assert_str_eq(r->element[5]->element[0]->str, "11");
    cr_assert_str_eq(r->element[0]->element[0]->str, "6");
    cr_assert_str_eq(r->element[6]->element[0]->str, "1");
    freeReplyObject(r);
    cr_assert_eq(kt_int(C, "LLEN q:t:jobs"), 0);
}

Test(store, claim_skips_stale_entries)
{
    int64_t id = enqueue("t", "{}", 0, 1);
    /* A leaked per-type entry whose hash is gone (Kue #661) */
    freeReplyObject(kt_cmd(C, "ZADD q:jobs:t:inactive -20 02|99"));
    redisReply *r = claim("t", 5);
    cr_assert_eq(r->elements, 1);
    cr_assert_eq(strtoll(r->element[0]->element[0]->str, NULL, 10), id);
    freeReplyObject(r);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:t:inactive"), 0);
}

Test(store, complete_once_only)
{
    int64_t id = enqueue("t", "{}", 0, 2);
    freeReplyObject(claim("t", 1));
    const char *argv[] = { "q", "1", "kue:h:1:t:1", "12", "{\"ok\":true}" };
    const char *wrong[] = { "q", "1", "kue:h:2:t:1", "12", "" };
    cr_assert_eq(run_script(KS_COMPLETE, 5, wrong), 0, "completed by a worker that did not hold it");
    cr_assert_eq(run_script(KS_COMPLETE, 5, argv), 1);
    cr_assert_eq(run_script(KS_COMPLETE, 5, argv), 0, "completed twice");
    char b[64];
    cr_assert_str_eq(hget(id, "state", b, sizeof b), "complete");
    cr_assert_str_eq(hget(id, "result", b, sizeof b), "{\"ok\":true}");
    cr_assert_str_eq(hget(id, "progress", b, sizeof b), "100");
    cr_assert_str_eq(hget(id, "duration", b, sizeof b), "12");
    cr_assert_str_eq(hget(id, "attempts", b, sizeof b), "1");
    cr_assert_eq(kt_int(C, "GET q:stats:work-time"), 12);
    cr_assert_eq(zscore("q:jobs:complete", "01|1"), 0);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:active"), 0);
    cr_assert_eq(kt_int(C, "EXISTS q:held:h:1"), 0);
}

Test(store, remove_on_complete)
{
    kue_job_t *j = kue_job_new("t", "{}");
    kue_job_set_remove_on_complete(j, 1);
    int64_t id = kue_job_save(K, j);
    kue_job_free(j);
    freeReplyObject(claim("t", 1));
    const char *argv[] = { "q", "1", "kue:h:1:t:1", "3", "" };
    cr_assert_eq(run_script(KS_COMPLETE, 5, argv), 1);
    cr_assert_eq(kt_int(C, "EXISTS q:job:%lld", (long long)id), 0);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs"), 0);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:complete"), 0);
}

/* One complete call for several jobs of two types: each answered on its
 * own, the indexes of the whole batch updated together, a
 * removeOnComplete job gone from everything, a wrong holder ignored. */
Test(store, complete_batch_of_two_types)
{
    int64_t a1 = enqueue("a", "{}", 0, 1), a2 = enqueue("a", "{}", -10, 1);
    kue_job_t *j = kue_job_new("b", "{}");
    kue_job_set_remove_on_complete(j, 1);
    int64_t b1 = kue_job_save(K, j);
    kue_job_free(j);
    int64_t b2 = enqueue("b", "{}", 5, 1);
    freeReplyObject(claim("a", 2));        /* a2 on slot 1, a1 on slot 2 */
    freeReplyObject(claim("b", 2));        /* b1 on slot 1, b2 on slot 2 */
    char s1[16], s2[16], s3[16], s4[16];
    snprintf(s1, sizeof s1, "%lld", (long long)a1);
    snprintf(s2, sizeof s2, "%lld", (long long)a2);
    snprintf(s3, sizeof s3, "%lld", (long long)b1);
    snprintf(s4, sizeof s4, "%lld", (long long)b2);
    const char *argv[] = { "q",
                           s1, "kue:h:1:a:2", "5", "{\"r\":1}",
                           s2, "kue:h:1:a:1", "7", "",
                           s3, "kue:h:1:b:1", "11", "",
                           s4, "kue:h:1:b:9", "13", "" };   /* b2: wrong slot */
    redisReply *r = kue_script_call(C, KS_COMPLETE, 17, argv, NULL);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 4);
    long long want[] = { 1, 1, 1, 0 };
    for (int i = 0; i < 4; i++) cr_assert_eq(r->element[i]->integer, want[i], "job %d", i);
    freeReplyObject(r);
    char b[64], z[40];
    cr_assert_str_eq(hget(a1, "state", b, sizeof b), "complete");
    cr_assert_str_eq(hget(a1, "result", b, sizeof b), "{\"r\":1}");
    cr_assert_str_eq(hget(a2, "duration", b, sizeof b), "7");
    cr_assert_str_eq(hget(b2, "state", b, sizeof b), "active");
    snprintf(z, sizeof z, "%02d|%s", (int)strlen(s2), s2);
    cr_assert_eq(zscore("q:jobs:complete", z), -10);
    cr_assert_eq(zscore("q:jobs:a:complete", z), -10);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:a:active"), 0);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:a:complete"), 2);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:b:active"), 1);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:b:complete"), 0, "the removed job left an entry");
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:complete"), 2);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:active"), 1);
    cr_assert_eq(kt_int(C, "EXISTS q:job:%lld", (long long)b1), 0);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs"), 3, "the removed job is still in q:jobs");
    cr_assert_eq(kt_int(C, "SCARD q:held:h:1"), 1, "only b2 is still held");
    cr_assert_eq(kt_int(C, "SISMEMBER q:held:h:1 %s", s4), 1);
    cr_assert_eq(kt_int(C, "GET q:stats:work-time"), 5 + 7 + 11);
}

static redisReply *fail(int64_t id, const char *err)
{
    char ids[16];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *argv[] = { "q", ids, "", err, "-1", "" };
    redisReply *r = kue_script_call(C, KS_FAIL, 6, argv, NULL);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY);
    return r;
}

Test(store, fail_retry_then_final)
{
    int64_t id = enqueue("t", "{}", 0, 2);
    freeReplyObject(claim("t", 1));
    redisReply *r = fail(id, "boom\n  at line 2");
    cr_assert_eq(r->element[0]->integer, 1);
    cr_assert_str_eq(r->element[1]->str, "inactive");
    freeReplyObject(r);
    char b[64];
    cr_assert_str_eq(hget(id, "state", b, sizeof b), "inactive");
    cr_assert_str_eq(hget(id, "attempts", b, sizeof b), "1");
    cr_assert_str_eq(hget(id, "error", b, sizeof b), "boom\n  at line 2");
    cr_assert_not_null(hget(id, "failed_at", b, sizeof b));
    cr_assert_str_eq(kt_str(C, b, sizeof b, "LINDEX q:job:1:log 0"), "boom");
    cr_assert_eq(kt_int(C, "LLEN q:t:jobs"), 1);
    freeReplyObject(claim("t", 1));
    r = fail(id, "again");
    cr_assert_str_eq(r->element[1]->str, "failed");
    freeReplyObject(r);
    cr_assert_str_eq(hget(id, "state", b, sizeof b), "failed");
    cr_assert_str_eq(hget(id, "attempts", b, sizeof b), "2");
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:t:failed"), 1);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:inactive"), 0);
    /* a failure report for a job not active is ignored */
    r = fail(id, "late");
    cr_assert_eq(r->element[0]->integer, 0);
    freeReplyObject(r);
}

static void backoff_case(const char *backoff, int64_t delay_field, const long long *want, int n)
{
    kue_job_t *j = kue_job_new("b", "{}");
    kue_job_set_attempts(j, n + 1);
    cr_assert_eq(kue_job_set_backoff(j, backoff), 0);
    int64_t id = kue_job_save(K, j);
    kue_job_free(j);
    if (delay_field)
        freeReplyObject(kt_cmd(C, "HSET q:job:%lld delay %lld", (long long)id, (long long)delay_field));
    for (int i = 0; i < n; i++) {
        if (i > 0) {   /* make it due and promote */
            freeReplyObject(kt_cmd(C, "ZADD q:jobs:delayed 1 %s", "01|1"));
            long p;
            cr_assert_eq(kue_promote(K, 10, &p, NULL), 0);
            cr_assert_eq(p, 1);
        }
        freeReplyObject(claim("b", 1));
        redisReply *r = fail(id, "x");
        cr_assert_str_eq(r->element[1]->str, "delayed", "attempt %d: %s", i + 1, r->element[1]->str);
        cr_assert_eq(r->element[2]->integer, want[i], "attempt %d: delay %lld, want %lld", i + 1,
                     r->element[2]->integer, want[i]);
        freeReplyObject(r);
        char b[64], c[64];
        cr_assert_eq(strtoll(hget(id, "delay", b, sizeof b), NULL, 10), want[i]);
        long long fa = strtoll(hget(id, "failed_at", b, sizeof b), NULL, 10);
        cr_assert_eq(strtoll(hget(id, "promote_at", c, sizeof c), NULL, 10), fa + want[i]);
        cr_assert_eq(zscore("q:jobs:delayed", "01|1"), (double)(fa + want[i]));
    }
}

Test(store, backoff_exponential_matches_kue)
{
    const long long want[] = { 100, 300, 700, 1500 };
    backoff_case("{\"type\":\"exponential\",\"delay\":200}", 0, want, 4);
}

Test(store, backoff_exponential_capped)
{
    /* cap is maxDelay - delay/2 = 500 - 100 */
    const long long want[] = { 100, 300, 400, 400 };
    backoff_case("{\"type\":\"exponential\",\"delay\":200,\"maxDelay\":500}", 0, want, 4);
}

Test(store, backoff_fixed_and_true)
{
    const long long want[] = { 1000, 1000 };
    backoff_case("{\"type\":\"fixed\",\"delay\":1000}", 0, want, 2);
}

Test(store, backoff_true_uses_delay_field)
{
    const long long want[] = { 250, 250 };
    backoff_case("true", 250, want, 2);
}

Test(store, backoff_js_function_falls_back)
{
    int64_t id = enqueue("b", "{}", 0, 3);
    freeReplyObject(kt_cmd(C, "HSET q:job:%lld backoff %s", (long long)id,
                           "function(attempts, delay){ return delay * 3; }"));
    freeReplyObject(kt_cmd(C, "HSET q:job:%lld delay 40", (long long)id));
    freeReplyObject(claim("b", 1));
    /* without a handler hook: the delay field */
    redisReply *r = fail(id, "x");
    cr_assert_str_eq(r->element[1]->str, "delayed");
    cr_assert_eq(r->element[2]->integer, 40);
    freeReplyObject(r);
    /* with the hook's answer */
    freeReplyObject(kt_cmd(C, "ZADD q:jobs:delayed 1 01|1"));
    long p;
    kue_promote(K, 10, &p, NULL);
    freeReplyObject(claim("b", 1));
    const char *argv[] = { "q", "1", "", "x", "777", "" };
    r = kue_script_call(C, KS_FAIL, 6, argv, NULL);
    cr_assert_eq(r->element[2]->integer, 777);
    freeReplyObject(r);
}

Test(store, requeue_and_settle)
{
    enqueue("t", "{}", 0, 3);
    enqueue("t", "{}", 0, 1);
    freeReplyObject(claim("t", 2));
    const char *rq[] = { "q", "1", "" };
    cr_assert_eq(run_script(KS_REQUEUE, 3, rq), 1);
    char b[64];
    cr_assert_str_eq(hget(1, "state", b, sizeof b), "inactive");
    cr_assert_null(hget(1, "attempts", b, sizeof b), "requeue counted an attempt");
    const char *st[] = { "q", "h", "1", "worker 1 killed by signal 9", "fail" };
    cr_assert_eq(run_script(KS_SETTLE, 5, st), 1);
    cr_assert_str_eq(hget(2, "state", b, sizeof b), "failed");
    cr_assert_str_eq(hget(2, "error", b, sizeof b), "worker 1 killed by signal 9");
    cr_assert_eq(kt_int(C, "EXISTS q:held:h:1"), 0);
    cr_assert_eq(kt_int(C, "ZCARD q:leases"), 0, "settle left the process lease");
}

Test(store, expired_lease_recovered)
{
    enqueue("t", "{}", 0, 2);
    freeReplyObject(claim("t", 1));
    const char *rc[] = { "q", "100" };
    cr_assert_eq(run_script(KS_RECOVER, 2, rc), 0, "recovered a live lease");
    /* renew extends the process lease; an expired one is recovered */
    const char *rn[] = { "q", "60000", "h", "1" };
    cr_assert_eq(run_script(KS_RENEW, 4, rn), 1);
    cr_assert_gt(kt_int(C, "ZSCORE q:leases h:1"), kt_now_ms() + 50000);
    freeReplyObject(kt_cmd(C, "ZADD q:leases 1 h:1"));
    cr_assert_eq(run_script(KS_RECOVER, 2, rc), 1);
    cr_assert_eq(kt_int(C, "ZCARD q:leases"), 0);
    cr_assert_eq(kt_int(C, "EXISTS q:held:h:1"), 0);
    char b[64];
    cr_assert_str_eq(hget(1, "state", b, sizeof b), "inactive");
    cr_assert_str_eq(hget(1, "error", b, sizeof b), "lease expired");
    cr_assert_str_eq(hget(1, "attempts", b, sizeof b), "1");
}

Test(store, progress_and_log)
{
    kue_job_t *j = kue_job_new("t", "{}");
    kue_job_set_ttl(j, 5000);
    int64_t id = kue_job_save(K, j);
    kue_job_free(j);
    freeReplyObject(claim("t", 1));
    double before = zscore("q:jobs:active", "01|1");
    cr_assert_gt(before, 100000);
    kt_wait_redis_clock(C, (int64_t)before - 5000 + 1);    /* Redis's clock moved on */
    const char *pa[] = { "q", "1", "kue:h:1:t:1", "50", "{\"step\":\"half\"}" };
    cr_assert_eq(run_script(KS_PROGRESS, 5, pa), 1);
    char b[64];
    cr_assert_str_eq(hget(id, "progress", b, sizeof b), "50");
    cr_assert_str_eq(hget(id, "progress_data", b, sizeof b), "{\"step\":\"half\"}");
    cr_assert_gt(zscore("q:jobs:active", "01|1"), before, "progress did not refresh the ttl deadline");
    cr_assert_eq(kue_job_add_log(K, id, "hello 1"), 0);
    char **lines; size_t n;
    cr_assert_eq(kue_job_log(K, id, &lines, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(lines[0], "hello 1");
    kue_strings_free(lines, n);
    /* logging to a removed job does not recreate it (Kue #559) */
    cr_assert_eq(kue_job_remove(K, id), 0);
    cr_assert_eq(kue_job_add_log(K, id, "late"), -1);
    cr_assert_eq(kt_int(C, "EXISTS q:job:1"), 0);
    cr_assert_eq(kt_int(C, "EXISTS q:job:1:log"), 0);
}

Test(store, remove_set_state_priority)
{
    int64_t id = enqueue("t", "{}", 0, 1);
    cr_assert_eq(kue_job_update_priority(K, id, -15), 0);
    cr_assert_eq(zscore("q:jobs", "01|1"), -15);
    cr_assert_eq(zscore("q:jobs:inactive", "01|1"), -15);
    cr_assert_eq(zscore("q:jobs:t:inactive", "01|1"), -15);
    cr_assert_eq(kue_job_set_state(K, id, "failed"), 0);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:inactive"), 0);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:t:inactive"), 0);
    cr_assert_eq(zscore("q:jobs:failed", "01|1"), -15);
    cr_assert_eq(kue_job_set_state(K, id, "bogus"), -1);
    cr_assert(strstr(kue_errstr(K), "invalid state"));
    cr_assert_eq(kue_job_set_state(K, 999, "inactive"), -1);
    cr_assert_str_eq(kue_errstr(K), "job \"999\" doesnt exist");
    cr_assert_eq(kue_job_set_state(K, id, "inactive"), 0);
    cr_assert_eq(kt_int(C, "LLEN q:t:jobs"), 2);
    cr_assert_eq(kue_job_remove(K, id), 0);
    redisReply *r = kt_cmd(C, "KEYS q:jobs*");
    cr_assert_eq(r->elements, 0, "index entries left after remove");
    freeReplyObject(r);
    cr_assert_eq(kue_job_remove(K, id), -1);
    cr_assert_str_eq(kue_errstr(K), "job \"1\" doesnt exist");
}

Test(store, job_json_shape)
{
    int64_t id = enqueue("email", "{\"title\":\"x\"}", -10, 3);
    kue_job_t *j = kue_job_get(K, id);
    cr_assert_not_null(j, "%s", kue_errstr(K));
    char *s = kue_job_to_json(j, 1);
    cr_assert(!strncmp(s, "{\"id\":\"1\",\"type\":\"email\",\"data\":{\"title\":\"x\"},\"priority\":-10,"
                          "\"progress\":0,\"state\":\"inactive\",\"created_at\":\"", 103), "%s", s);
    cr_assert(strstr(s, ",\"attempts\":{\"made\":0,\"remaining\":3,\"max\":3}}"), "%s", s);
    cr_assert(!strstr(s, "\"error\""));
    free(s);
    s = kue_job_to_json(j, 0);
    cr_assert(!strncmp(s, "{\"id\":1,", 8));
    free(s);
    kue_job_free(j);
    cr_assert_null(kue_job_get(K, 42));
    cr_assert_str_eq(kue_errstr(K), "job \"42\" doesnt exist");
}

Test(store, range_sorted_by_id_and_stats)
{
    for (int i = 0; i < 12; i++) enqueue(i % 2 ? "a" : "b", "{}", i == 11 ? -15 : 0, 1);
    int64_t *ids; size_t n;
    cr_assert_eq(kue_range(K, NULL, NULL, 0, 3, 0, &ids, &n), 0);
    cr_assert_eq(n, 4);
    /* rank picks 12 (critical) first, then the page is sorted by id */
    cr_assert_eq(ids[0], 1); cr_assert_eq(ids[1], 2); cr_assert_eq(ids[2], 3); cr_assert_eq(ids[3], 12);
    free(ids);
    cr_assert_eq(kue_range(K, "a", "inactive", 0, -1, 1, &ids, &n), 0);
    cr_assert_eq(n, 6);
    cr_assert_eq(ids[0], 12);
    free(ids);
    kue_stats_t st;
    cr_assert_eq(kue_stats(K, &st), 0);
    cr_assert_eq(st.inactive, 12);
    cr_assert_eq(st.work_time_ms, -1);
    cr_assert_eq(kue_count(K, "b", "inactive"), 6);
    char **types; size_t nt;
    cr_assert_eq(kue_types(K, &types, &nt), 0);
    cr_assert_eq(nt, 2);
    kue_strings_free(types, nt);
}

Test(store, bad_input_writes_nothing)
{
    kue_job_t *j = kue_job_new("t", "{not json");
    cr_assert_eq(kue_job_save(K, j), -1);
    cr_assert(strstr(kue_errstr(K), "not valid JSON"), "%s", kue_errstr(K));
    kue_job_free(j);
    j = kue_job_new("", "{}");
    cr_assert_eq(kue_job_save(K, j), -1);
    kue_job_free(j);
    j = kue_job_new("t", "{}");
    cr_assert_eq(kue_job_set_priority_name(j, "urgent"), -1);
    cr_assert_eq(kue_job_set_attempts(j, 0), -1);
    cr_assert_eq(kue_job_set_backoff(j, "{\"type\":\"linear\"}"), -1);
    kue_job_free(j);
    cr_assert_eq(kt_int(C, "DBSIZE"), 0, "bad input left keys behind");
}

Test(store, bulk_save_one_round_trip)
{
    kue_job_t *jobs[300];
    int64_t ids[300];
    for (int i = 0; i < 300; i++) jobs[i] = kue_job_new("bulk", i == 7 ? "{oops" : "{\"i\":1}");
    /* exercise the path of a server that lost the scripts */
    freeReplyObject(kt_cmd(C, "SCRIPT FLUSH"));
    freeReplyObject(kt_cmd(C, "FUNCTION FLUSH"));
    size_t saved = kue_job_save_bulk(K, jobs, 300, ids);
    cr_assert_eq(saved, 299);
    cr_assert_eq(ids[7], -1);
    cr_assert_gt(ids[299], 0);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:bulk:inactive"), 299);
    cr_assert_eq(kt_int(C, "LLEN q:bulk:jobs"), 299);
    for (int i = 0; i < 300; i++) kue_job_free(jobs[i]);
}

/* Bulk saves put up to 100 jobs in one enqueue call: consecutive ids, and
 * Redis holds exactly what one-by-one saves write (types, delays,
 * priorities, tokens, the earliest due time announced once per call). */
Test(store, bulk_save_batches_jobs_per_call)
{
    enum { N = 250 };
    kue_job_t *jobs[N];
    int64_t ids[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = kue_job_new(i % 2 ? "odd" : "even", "{\"n\":1}");
        kue_job_set_priority(jobs[i], (i % 5) * 5 - 10);
        if (i % 10 == 3) kue_job_set_delay(jobs[i], 60000 + i);
    }
    kue_job_t *one = kue_job_new("odd", "{\"n\":1}");     /* reference: a single save */
    kue_job_set_priority(one, -5);
    int64_t ref = kue_job_save(K, one);
    cr_assert_gt(ref, 0);
    freeReplyObject(kt_cmd(C, "CONFIG RESETSTAT"));
    cr_assert_eq(kue_job_save_bulk(K, jobs, N, ids), (size_t)N, "%s", kue_errstr(K));
    cr_assert_eq(kt_cmd_calls(C, "fcall") + kt_cmd_calls(C, "evalsha"), 3,
                 "250 jobs should take 3 enqueue calls");
    for (int i = 0; i < N; i++) {
        cr_assert_eq(ids[i], ref + 1 + i, "job %d: id %lld", i, (long long)ids[i]);
        cr_assert_eq(kue_job_id(jobs[i]), ids[i]);
    }
    cr_assert_eq(kt_int(C, "ZCARD q:jobs"), N + 1);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:delayed"), N / 10);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:inactive"), N + 1 - N / 10);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:odd:inactive") + kt_int(C, "ZCARD q:jobs:even:inactive"),
                 N + 1 - N / 10);
    cr_assert_eq(kt_int(C, "LLEN q:odd:jobs"), kt_int(C, "ZCARD q:jobs:odd:inactive"));
    cr_assert_eq(kt_int(C, "LLEN q:even:jobs"), kt_int(C, "ZCARD q:jobs:even:inactive"));
    cr_assert_eq(kt_int(C, "SCARD q:job:types"), 2);
    /* job 1 (odd, priority -5, not delayed) matches the reference save */
    redisReply *a = kt_cmd(C, "HGETALL q:job:%lld", (long long)ref);
    redisReply *b = kt_cmd(C, "HGETALL q:job:%lld", (long long)ids[1]);
    cr_assert_eq(a->elements, b->elements);
    for (size_t f = 0; f + 1 < a->elements; f += 2) {
        const char *name = a->element[f]->str;
        if (!strcmp(name, "created_at") || !strcmp(name, "updated_at") ||
            !strcmp(name, "promote_at"))
            continue;
        cr_assert_str_eq(b->element[f]->str, name, "field order");
        cr_assert_str_eq(b->element[f + 1]->str, a->element[f + 1]->str, "field %s", name);
    }
    freeReplyObject(a);
    freeReplyObject(b);
    char buf[64], z[32];
    cr_assert_str_eq(hget(ids[3], "state", buf, sizeof buf), "delayed");
    cr_assert_str_eq(hget(ids[3], "delay", buf, sizeof buf), "60003");
    snprintf(z, sizeof z, "%02d|%lld", (int)snprintf(buf, sizeof buf, "%lld", (long long)ids[3]),
             (long long)ids[3]);
    cr_assert_eq(zscore("q:jobs:odd:delayed", z), 5);     /* its priority: (3 % 5) * 5 - 10 */
    for (int i = 0; i < N; i++) kue_job_free(jobs[i]);
    kue_job_free(one);
}

Test(store, unreachable_and_wrong_password)
{
    char err[256];
    kue_t *k = kue_connect("redis://127.0.0.1:1/0", NULL, err, sizeof err);
    cr_assert_null(k);
    cr_assert(strstr(err, "cannot connect to Redis at redis://127.0.0.1:1/0"), "%s", err);
    freeReplyObject(kt_cmd(C, "CONFIG SET requirepass sekret"));
    char url[512];
    snprintf(url, sizeof url, "%s?password=wrong", R.url);
    k = kue_connect(url, NULL, err, sizeof err);
    cr_assert_null(k);
    cr_assert(strstr(err, "refused the password"), "%s", err);
    snprintf(url, sizeof url, "%s?password=sekret&db=3", R.url);
    k = kue_connect(url, "other", err, sizeof err);
    cr_assert_not_null(k, "%s", err);
    kue_job_t *j = kue_job_new("t", "{}");
    cr_assert_gt(kue_job_save(k, j), 0);
    kue_job_free(j);
    kue_free(k);
    freeReplyObject(kt_cmd(C, "AUTH sekret"));
    freeReplyObject(kt_cmd(C, "SELECT 3"));
    cr_assert_eq(kt_int(C, "EXISTS other:job:1"), 1);
}

Test(store, reconnects_after_redis_restart)
{
    enqueue("t", "{}", 0, 1);
    kt_redis_restart(&R, 0);
    redisFree(C);
    C = kt_redis_connect(&R);
    int64_t id = enqueue("t", "{}", 0, 1);
    cr_assert_eq(id, 1, "fresh server without persistence starts ids again");
}

Test(store, search_index_written_and_removed)
{
    kue_set_search(K, 1);
    int64_t id = enqueue("video", "{\"title\":\"convert avi video\",\"user\":\"tj\"}", 0, 1);
    /* docs/wire.md section 8: TTL KNFRT AF FT USR TJ */
    const char *codes[] = { "TTL", "KNFRT", "AF", "FT", "USR", "TJ" };
    for (size_t i = 0; i < 6; i++)
        cr_assert_eq(kt_int(C, "ZSCORE q:search:word:%s %lld", codes[i], (long long)id), 1,
                     "code %s not indexed", codes[i]);
    cr_assert_eq(kt_int(C, "ZCARD q:search:object:%lld", (long long)id), 6);
    cr_assert_eq(kue_job_remove(K, id), 0);
    redisReply *r = kt_cmd(C, "KEYS q:search:*");
    cr_assert_eq(r->elements, 0, "search entries left after remove");
    freeReplyObject(r);
    /* search off: nothing indexed */
    kue_set_search(K, 0);
    enqueue("video", "{\"title\":\"convert\"}", 0, 1);
    r = kt_cmd(C, "KEYS q:search:*");
    cr_assert_eq(r->elements, 0);
    freeReplyObject(r);
}

Test(store, search_many_terms_indexed)
{
    /* More terms than fit a 1024-argument call: every one is indexed. */
    kue_buf_t b = { 0 };
    kue_buf_puts(&b, "{\"title\":\"");
    for (int i = 0; i < 3000; i++) {
        char w[16];
        int x = i, p = 0;
        w[p++] = 'k';
        do { w[p++] = "bcdfghjklmnpqrstvwxz"[x % 20]; w[p++] = 'a'; x /= 20; } while (x);
        w[p] = '\0';
        kue_buf_printf(&b, "%s ", w);
    }
    kue_buf_puts(&b, "\"}");
    kue_search_term_t *terms;
    size_t nterms;
    cr_assert_eq(kue_search_job_terms(b.p, b.len, NULL, &terms, &nterms), 0);
    free(terms);
    cr_assert_gt(nterms, 600, "only %zu distinct codes", nterms);
    cr_assert_leq(nterms, KUE_SEARCH_MAX_TERMS);
    kue_set_search(K, 1);
    kue_job_t *j = kue_job_new("doc", b.p);
    int64_t id = kue_job_save(K, j);
    cr_assert_gt(id, 0, "save: %s", kue_errstr(K));
    kue_job_free(j);
    kue_buf_free(&b);
    cr_assert_eq(kt_int(C, "ZCARD q:search:object:%lld", (long long)id), (long long)nterms);
}

Test(store, search_query_and_semantics)
{
    kue_set_search(K, 1);
    enqueue("video", "{\"title\":\"convert avi video\"}", 0, 1);   /* 1 */
    enqueue("video", "{\"title\":\"convert mp4\"}", 0, 1);         /* 2 */
    enqueue("video", "{\"title\":\"upload avi\"}", 0, 1);          /* 3 */
    char **ids; size_t n;
    cr_assert_eq(kue_search(K, "converting", &ids, &n), 0, "%s", kue_errstr(K));
    cr_assert_eq(n, 2);
    kue_strings_free(ids, n);
    cr_assert_eq(kue_search(K, "convert AVI", &ids, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(ids[0], "1");
    kue_strings_free(ids, n);
    cr_assert_eq(kue_search(K, "nothing here", &ids, &n), 0);
    cr_assert_eq(n, 0);
    kue_strings_free(ids, n);
    cr_assert_eq(kue_search(K, "the", &ids, &n), 0);     /* only a stop word */
    cr_assert_eq(n, 0);
    kue_strings_free(ids, n);
    cr_assert_eq(kt_int(C, "EXISTS q:searchtmpkey"), 0, "scratch key left behind");
}

Test(store, complete_batch_mixed)
{
    for (int i = 0; i < 3; i++) enqueue("t", "{}", 0, 1);
    freeReplyObject(claim("t", 3));      /* jobs 1, 2, 3 on slots 1, 2, 3 */
    const char *argv[] = { "q", "1", "kue:h:1:t:1", "5", "{\"a\":1}",
                                "2", "kue:h:9:t:2", "5", "",          /* not its holder */
                                "3", "kue:h:1:t:3", "7", "" };
    redisReply *r = kue_script_call(C, KS_COMPLETE, 13, argv, NULL);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 3);
    cr_assert_eq(r->element[0]->integer, 1);
    cr_assert_eq(r->element[1]->integer, 0);
    cr_assert_eq(r->element[2]->integer, 1);
    freeReplyObject(r);
    char b[32];
    cr_assert_str_eq(hget(1, "state", b, sizeof b), "complete");
    cr_assert_str_eq(hget(2, "state", b, sizeof b), "active");
    cr_assert_str_eq(hget(3, "state", b, sizeof b), "complete");
    cr_assert_eq(kt_int(C, "GET q:stats:work-time"), 12);
    cr_assert_eq(kt_int(C, "SCARD q:held:h:1"), 1);
}

/* Claim n (<= 64) jobs of type t as worker h:1, slots 1..n. Caller frees. */
static redisReply *claim_many(const char *t, int n)
{
    static char slots[64][8];
    char ns[8];
    snprintf(ns, sizeof ns, "%d", n);
    const char *argv[7 + 64] = { "q", t, ns, "h", "1", "30000", "0" };
    for (int i = 0; i < n && i < 64; i++) {
        snprintf(slots[i], sizeof slots[i], "%d", i + 1);
        argv[7 + i] = slots[i];
    }
    redisReply *r = kue_script_call(C, KS_CLAIM, 7 + n, argv, NULL);
    cr_assert_not_null(r);
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    return r;
}

/* Complete jobs ids[0..n) in one call (any holder, the given duration);
 * every one must be done. */
static void complete_all(const int64_t *ids, int n, const char *duration)
{
    const char *argv[1 + 4 * 64] = { "q" };
    static char idbuf[64][24];
    cr_assert(n <= 64);
    for (int i = 0; i < n; i++) {
        snprintf(idbuf[i], sizeof idbuf[i], "%lld", (long long)ids[i]);
        argv[1 + 4 * i] = idbuf[i];
        argv[2 + 4 * i] = "";
        argv[3 + 4 * i] = duration;
        argv[4 + 4 * i] = "";
    }
    redisReply *d = kue_script_call(C, KS_COMPLETE, 1 + 4 * n, argv, NULL);
    cr_assert_eq(d->type, REDIS_REPLY_ARRAY);
    cr_assert_eq((int)d->elements, n);
    for (size_t i = 0; i < d->elements; i++) cr_assert_eq(d->element[i]->integer, 1, "job %lld", (long long)ids[i]);
    freeReplyObject(d);
}

/* Every member of key is a zid (digits '|' digits): nothing else was left. */
static void only_zids(const char *key, long long want)
{
    redisReply *r = kt_cmd(C, "ZRANGE %s 0 -1", key);
    cr_assert_eq((long long)r->elements, want, "%s: %zu members", key, r->elements);
    for (size_t i = 0; i < r->elements; i++) {
        const char *m = r->element[i]->str;
        cr_assert(strlen(m) > 3 && strlen(m) < 24 && m[2] == '|', "%s holds %.40s", key, m);
    }
    freeReplyObject(r);
}

/* The active sets become skiplists once a claim leaves them with 32 or more
 * members (docs/wire.md section 3), with no member but the jobs' own ever
 * visible; a small set stays as Redis made it. */
Test(store, claim_keeps_large_active_sets_as_skiplists)
{
    for (int i = 0; i < 40; i++) enqueue("sk", "{}", 0, 1);
    freeReplyObject(claim_many("sk", 2));
    char b[32];
    cr_assert_str_eq(kt_str(C, b, sizeof b, "OBJECT ENCODING q:jobs:active"), "listpack");
    only_zids("q:jobs:sk:active", 2);
    redisReply *r = claim_many("sk", 38);
    cr_assert_eq(r->elements, 38);
    freeReplyObject(r);
    cr_assert_str_eq(kt_str(C, b, sizeof b, "OBJECT ENCODING q:jobs:active"), "skiplist");
    cr_assert_str_eq(kt_str(C, b, sizeof b, "OBJECT ENCODING q:jobs:sk:active"), "skiplist");
    only_zids("q:jobs:active", 40);
    only_zids("q:jobs:sk:active", 40);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:sk:inactive"), 0);
    /* completing them all leaves no active set behind */
    int64_t ids[40];
    for (int i = 0; i < 40; i++) ids[i] = i + 1;
    complete_all(ids, 40, "1");
    cr_assert_eq(kt_int(C, "EXISTS q:jobs:active q:jobs:sk:active"), 0);
    only_zids("q:jobs:sk:complete", 40);
}

/* A single plain save takes the enqueue script's one-job path; two saved
 * together take the batch path.  Both must write the same hash (the same
 * fields in the same order, the same values but the times), the same index
 * entries and one token per job. */
static kue_job_t *variant(int v)
{
    kue_job_t *j = kue_job_new("fp", v == 3 ? "{\"s\":\"caf\\u00e9 \\\"q\\\"\"}" : "{\"a\":1}");
    kue_job_set_priority(j, v == 1 ? -10 : v == 2 ? 7 : 0);
    cr_assert_eq(kue_job_set_attempts(j, v + 1), 0);
    if (v == 1) kue_job_set_ttl(j, 2500);
    if (v == 2) cr_assert_eq(kue_job_set_backoff(j, "{\"type\":\"exponential\",\"delay\":100}"), 0);
    if (v >= 2) kue_job_set_remove_on_complete(j, 1);
    return j;
}

static void same_job(int64_t a, int64_t b)
{
    redisReply *ra = kt_cmd(C, "HGETALL q:job:%lld", (long long)a);
    redisReply *rb = kt_cmd(C, "HGETALL q:job:%lld", (long long)b);
    cr_assert_eq(ra->elements, rb->elements, "job %lld has %zu fields, job %lld %zu", (long long)a,
                 ra->elements, (long long)b, rb->elements);
    for (size_t i = 0; i < ra->elements; i += 2) {
        const char *f = ra->element[i]->str;
        cr_assert_str_eq(f, rb->element[i]->str, "field %zu", i / 2);
        if (!strcmp(f, "created_at") || !strcmp(f, "updated_at") || !strcmp(f, "promote_at")) continue;
        cr_assert_str_eq(ra->element[i + 1]->str, rb->element[i + 1]->str, "field %s", f);
    }
    freeReplyObject(ra);
    freeReplyObject(rb);
    char za[32], zb[32];
    snprintf(za, sizeof za, "%02d|%lld", (int)snprintf(NULL, 0, "%lld", (long long)a), (long long)a);
    snprintf(zb, sizeof zb, "%02d|%lld", (int)snprintf(NULL, 0, "%lld", (long long)b), (long long)b);
    const char *keys[] = { "q:jobs", "q:jobs:inactive", "q:jobs:fp:inactive" };
    for (size_t k = 0; k < 3; k++) cr_assert_eq(zscore(keys[k], za), zscore(keys[k], zb), "%s", keys[k]);
}

Test(store, one_job_saves_as_a_batch_does)
{
    for (int v = 0; v < 4; v++) {
        kue_job_t *one = variant(v);
        int64_t a = kue_job_save(K, one);
        cr_assert_gt(a, 0, "save: %s", kue_errstr(K));
        kue_job_t *two[2] = { variant(v), variant(v) };
        int64_t ids[2];
        cr_assert_eq(kue_job_save_bulk(K, two, 2, ids), 2, "bulk: %s", kue_errstr(K));
        same_job(a, ids[0]);
        kue_job_free(one);
        kue_job_free(two[0]);
        kue_job_free(two[1]);
    }
    cr_assert_eq(kt_int(C, "LLEN q:fp:jobs"), 12);
    cr_assert_eq(kt_int(C, "SISMEMBER q:job:types fp"), 1);
    cr_assert_eq(kt_int(C, "GET q:ids"), 12);
}

/* A claim of one job at a time looks at the active sets' encoding for one
 * id in 16, so such sets still become skiplists soon after 32 members. */
Test(store, single_claims_still_make_skiplists)
{
    for (int i = 0; i < 64; i++) enqueue("one", "{}", 0, 1);
    for (int i = 0; i < 64; i++) {
        redisReply *r = claim_many("one", 1);
        cr_assert_eq(r->elements, 1);
        freeReplyObject(r);
    }
    char b[32];
    cr_assert_str_eq(kt_str(C, b, sizeof b, "OBJECT ENCODING q:jobs:active"), "skiplist");
    cr_assert_str_eq(kt_str(C, b, sizeof b, "OBJECT ENCODING q:jobs:one:active"), "skiplist");
    only_zids("q:jobs:active", 64);
    only_zids("q:jobs:one:active", 64);
}

/* One complete call for jobs held by several processes (pid 1 and pid 12:
 * the second's workerIds start with the first's digits) empties each
 * process's holder set of exactly its own jobs. */
Test(store, complete_releases_each_holder_of_a_mixed_batch)
{
    for (int i = 0; i < 6; i++) enqueue("mx", "{}", 0, 1);
    const char *pids[3] = { "1", "12", "1" };
    for (int p = 0; p < 3; p++) {
        const char *argv[] = { "q", "mx", "2", "h", pids[p], "30000", "0", p == 2 ? "3" : "1", p == 2 ? "4" : "2" };
        redisReply *r = kue_script_call(C, KS_CLAIM, 9, argv, NULL);
        cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
        cr_assert_eq(r->elements, 2);
        freeReplyObject(r);
    }
    cr_assert_eq(kt_int(C, "SCARD q:held:h:1"), 4);
    cr_assert_eq(kt_int(C, "SCARD q:held:h:12"), 2);
    /* complete 1, 3, 2, 5 (pid 1, pid 12, pid 1, pid 1) in one call */
    const int64_t ids[4] = { 1, 3, 2, 5 };
    complete_all(ids, 4, "3");
    cr_assert_eq(kt_int(C, "SCARD q:held:h:1"), 1);
    cr_assert_eq(kt_int(C, "SISMEMBER q:held:h:1 6"), 1);
    cr_assert_eq(kt_int(C, "SCARD q:held:h:12"), 1);
    cr_assert_eq(kt_int(C, "SISMEMBER q:held:h:12 4"), 1);
}

/* Every function refuses a call whose KEYS are not the prefix's P:ids and
 * P:fence (Redis Cluster routes a call by its KEYS), also right after a
 * good call with the same prefix, and accepts another prefix's own. */
Test(store, calls_must_declare_their_prefix_keys)
{
    enqueue("dk", "{}", 0, 1);                 /* loads the library */
    redisReply *l = kt_cmd(C, "FUNCTION LIST");
    cr_assert_eq(l->type, REDIS_REPLY_ARRAY);
    cr_assert_geq(l->elements, 1);
    char lib[64] = "";
    redisReply *e = l->element[0];
    for (size_t i = 0; i + 1 < e->elements; i += 2)
        if (!strcmp(e->element[i]->str, "library_name")) snprintf(lib, sizeof lib, "%s", e->element[i + 1]->str);
    freeReplyObject(l);
    cr_assert_neq(lib[0], '\0');
    const struct { const char *k1, *k2, *prefix; int ok; } c[] = {
        { "q:ids", "q:fence", "q", 1 },
        { "x:ids", "q:fence", "q", 0 },
        { "q:ids", "x:fence", "q", 0 },
        { "q:ids", "q:fence", "x", 0 },
        { "x:ids", "x:fence", "x", 1 },
        { "x:ids", "x:fence", "q", 0 },
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        redisReply *r = kt_cmd(C, "FCALL %s_claim 2 %s %s %s dk 1 h 1 30000 0 1", lib, c[i].k1, c[i].k2,
                               c[i].prefix);
        if (c[i].ok) cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "case %zu: %s", i, r->type == REDIS_REPLY_ERROR ? r->str : "");
        else {
            cr_assert_eq(r->type, REDIS_REPLY_ERROR, "case %zu was accepted", i);
            cr_assert(strstr(r->str, "declared keys"), "case %zu: %s", i, r->str);
        }
        freeReplyObject(r);
    }
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:dk:active"), 1);    /* claimed by case 0 only */
}

/* A claim's key names and texts are kept per worker between calls: the
 * same pid claiming for another type, or from another host, must still
 * write its own type's sets and its own workerId and holder set. */
Test(store, claims_of_one_pid_for_other_types_and_hosts)
{
    int64_t a1 = enqueue("ca", "{}", 0, 1), b1 = enqueue("cb", "{}", 0, 1), a2 = enqueue("ca", "{}", 0, 1),
            a3 = enqueue("ca", "{}", 0, 1);
    const char *who[4][2] = { { "ca", "h" }, { "cb", "h" }, { "ca", "h2" }, { "ca", "h" } };
    int64_t want[4] = { a1, b1, a2, a3 };
    for (int i = 0; i < 4; i++) {
        const char *argv[] = { "q", who[i][0], "1", who[i][1], "7", "30000", "0", "1" };
        redisReply *r = kue_script_call(C, KS_CLAIM, 8, argv, NULL);
        cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
        cr_assert_eq(r->elements, 1, "claim %d", i);
        cr_assert_eq(strtoll(r->element[0]->element[0]->str, NULL, 10), want[i]);
        freeReplyObject(r);
    }
    char b[64];
    cr_assert_str_eq(hget(a1, "workerId", b, sizeof b), "kue:h:7:ca:1");
    cr_assert_str_eq(hget(b1, "workerId", b, sizeof b), "kue:h:7:cb:1");
    cr_assert_str_eq(hget(a2, "workerId", b, sizeof b), "kue:h2:7:ca:1");
    cr_assert_str_eq(hget(a3, "workerId", b, sizeof b), "kue:h:7:ca:1");
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:ca:active"), 3);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:cb:active"), 1);
    cr_assert_eq(kt_int(C, "SCARD q:held:h:7"), 3);
    cr_assert_eq(kt_int(C, "SCARD q:held:h2:7"), 1);
    cr_assert_eq(kt_int(C, "ZCARD q:leases"), 2);
}

/* One complete call for jobs of two types, interleaved: each job leaves
 * its own type's active set for its own type's complete set. */
Test(store, complete_of_mixed_types_uses_each_types_sets)
{
    int64_t a1 = enqueue("ta", "{}", 0, 1), b1 = enqueue("tb", "{}", 3, 1), a2 = enqueue("ta", "{}", -5, 1),
            b2 = enqueue("tb", "{}", 0, 1);
    freeReplyObject(claim("ta", 2));
    freeReplyObject(claim("tb", 2));
    const int64_t order[4] = { b1, a1, b2, a2 };
    complete_all(order, 4, "1");
    cr_assert_eq(kt_int(C, "EXISTS q:jobs:active q:jobs:ta:active q:jobs:tb:active"), 0);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:complete"), 4);
    char za[16];
    snprintf(za, sizeof za, "%02d|%lld", (int)snprintf(NULL, 0, "%lld", (long long)a2), (long long)a2);
    cr_assert_eq(zscore("q:jobs:ta:complete", za), -5);
    snprintf(za, sizeof za, "%02d|%lld", (int)snprintf(NULL, 0, "%lld", (long long)b1), (long long)b1);
    cr_assert_eq(zscore("q:jobs:tb:complete", za), 3);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:ta:complete"), 2);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:tb:complete"), 2);
    cr_assert_eq(kt_int(C, "SCARD q:held:h:1"), 0);
}
