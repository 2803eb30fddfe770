/*
 * Interoperability, parity: the same producer sequence is done once by a
 * real Node Kue 0.11.6 (tests/node/interop-ops.js, Redis db 1) and once by
 * libkue (db 2) on one redis-server, search on in both; then the two
 * keyspaces are compared: key names, key types, hash fields and values
 * (timestamps only for presence), zset members and scores, log lines, set
 * members, string values and wake-up token list lengths.
 *
 * The sequence (ids 1..9 on both sides):
 *   create A email high, attempts 3, fixed backoff, ttl      -> 2 log lines -> complete
 *   create B email low, delay 60 s, removeOnComplete        -> priority critical
 *   create C sms -7, backoff true                           -> log -> priority medium
 *   create D sms attempts 2, exponential backoff            -> log -> failed -> inactive
 *   create E email                                          -> active (no ttl)
 *   create F video, searchKeys [file], ttl                  -> active (ttl)
 *   create G sms                                            -> failed
 *   create H email, delay 30 s                              -> log -> remove
 *   create I video                                          -> delayed
 *
 * Where Kue and libkue deliberately differ, the Kue side uses the
 * semantically equivalent operation and the difference is asserted exactly:
 *  - State moves: kue_job_set_state(S) is Kue's job.state(S) (what
 *    PUT /job/:id/state/:state does before its re-save).  Kue's job.complete()
 *    additionally writes progress=100 and job.failed() writes failed_at; the
 *    HTTP route's extra job.save() re-indexes the whole data for search
 *    (ignoring searchKeys, which Job.get does not restore) and pushes a
 *    second token when the state is inactive.  So the Kue side calls
 *    job.state(S) / job.inactive() on the saved job objects.
 *  - Priority: Kue can only re-save the job (Job.get, priority(), save(),
 *    as PUT /job/:id/priority does); that re-save of an inactive job pushes
 *    one more wake-up token.  libkue never pushes a token on a re-save, so
 *    q:sms:jobs (C was inactive) is expected exactly one shorter here.
 *  - Logs: libkue takes the finished line; the Kue side formats it with
 *    util.format (e.g. '%s=%j'), and the lines must be equal.
 *  - Neither side logs to or moves the removed job: Kue would recreate its
 *    hash (an updated_at-only hash, Kue #559) and accept invalid states;
 *    libkue refuses both.
 *  - Scores that are times (P:jobs:delayed = promote_at, P:jobs:active with a
 *    ttl = now + ttl) are compared as present only.
 *
 * Skips, saying so, only when node or tests/node/node_modules/kue is missing.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kue/kue.h>
#include "harness.h"

#define KUE_DB 1
#define LIB_DB 2

static kt_redis_t R;
static redisContext *CK, *CL;   /* connections to the Kue db and the libkue db */
static kue_t *K;

static void teardown(void)
{
    if (K) kue_free(K);
    if (CK) redisFree(CK);
    if (CL) redisFree(CL);
    K = NULL;
    CK = CL = NULL;
    kt_cleanup();
}

TestSuite(interop_parity, .fini = teardown, .timeout = 60);

static redisContext *connect_db(int db)
{
    redisContext *c = kt_redis_connect(&R);
    redisReply *r = kt_cmd(c, "SELECT %d", db);
    cr_assert_eq(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    return c;
}

/* ---- the libkue side of the sequence ------------------------------------ */

struct spec {
    const char *type, *data, *backoff, *search_key;
    int prio, attempts, roc;
    int64_t delay, ttl;
};

static int64_t make(const struct spec *s)
{
    kue_job_t *j = kue_job_new(s->type, s->data);
    kue_job_set_priority(j, s->prio);
    if (s->attempts) cr_assert_eq(kue_job_set_attempts(j, s->attempts), 0);
    if (s->delay) kue_job_set_delay(j, s->delay);
    if (s->ttl) kue_job_set_ttl(j, s->ttl);
    if (s->backoff) cr_assert_eq(kue_job_set_backoff(j, s->backoff), 0);
    if (s->roc) kue_job_set_remove_on_complete(j, 1);
    if (s->search_key) cr_assert_eq(kue_job_set_search_keys(j, &s->search_key, 1), 0);
    int64_t id = kue_job_save(K, j);
    cr_assert_gt(id, 0, "save: %s", kue_errstr(K));
    kue_job_free(j);
    return id;
}

static void ok(int rc, const char *what)
{
    cr_assert_eq(rc, 0, "%s: %s", what, kue_errstr(K));
}

static void libkue_sequence(void)
{
    /* Data as JSON.stringify writes it (Kue re-serialises; libkue keeps the
     * caller's text minus whitespace). */
    static const struct spec specs[] = {
        { "email", "{\"title\":\"hi \xe2\x9c\x93 there\",\"n\":1}", "{\"type\":\"fixed\",\"delay\":1000}",
          NULL, KUE_PRIORITY_HIGH, 3, 0, 0, 5000 },
        { "email", "{\"title\":\"later\"}", NULL, NULL, KUE_PRIORITY_LOW, 0, 1, 60000, 0 },
        { "sms", "{\"to\":\"+100\",\"body\":\"Gr\xc3\xbc\xc3\x9f" "e\"}", "true", NULL, -7, 0, 0, 0, 0 },
        { "sms", "{}", "{\"type\":\"exponential\",\"delay\":200,\"maxDelay\":4000}", NULL,
          KUE_PRIORITY_NORMAL, 2, 0, 0, 0 },
        { "email", "{\"title\":\"x\"}", NULL, NULL, KUE_PRIORITY_NORMAL, 0, 0, 0, 0 },
        { "video", "{\"file\":\"a.avi\",\"user\":\"tj\"}", NULL, "file", KUE_PRIORITY_NORMAL, 0, 0, 0, 2000 },
        { "sms", "{\"n\":7}", NULL, NULL, KUE_PRIORITY_NORMAL, 0, 0, 0, 0 },
        { "email", "{\"title\":\"remove me\"}", NULL, NULL, KUE_PRIORITY_NORMAL, 0, 0, 30000, 0 },
        { "video", "{\"file\":\"b.avi\"}", NULL, NULL, KUE_PRIORITY_NORMAL, 0, 0, 0, 0 },
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        cr_assert_eq(make(&specs[i]), (int64_t)i + 1);
    ok(kue_job_add_log(K, 1, "first line"), "log");
    ok(kue_job_add_log(K, 1, "second 2"), "log");
    ok(kue_job_add_log(K, 3, "x"), "log");
    ok(kue_job_add_log(K, 4, "k={\"a\":1}"), "log");
    ok(kue_job_add_log(K, 8, "bye"), "log");
    ok(kue_job_update_priority(K, 2, KUE_PRIORITY_CRITICAL), "priority");
    ok(kue_job_update_priority(K, 3, KUE_PRIORITY_MEDIUM), "priority");
    ok(kue_job_set_state(K, 1, "complete"), "state");
    ok(kue_job_set_state(K, 4, "failed"), "state");
    ok(kue_job_set_state(K, 4, "inactive"), "state");
    ok(kue_job_set_state(K, 5, "active"), "state");
    ok(kue_job_set_state(K, 6, "active"), "state");
    ok(kue_job_set_state(K, 7, "failed"), "state");
    ok(kue_job_set_state(K, 9, "delayed"), "state");
    ok(kue_job_remove(K, 8), "remove");
}

/* ---- comparing the two keyspaces ----------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted key names of a db (caller frees with kue_strings_free). */
static char **keys_of(redisContext *c, size_t *n)
{
    redisReply *r = kt_cmd(c, "KEYS *");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    char **v = calloc(r->elements + 1, sizeof *v);
    for (size_t i = 0; i < r->elements; i++) v[i] = strdup(r->element[i]->str);
    *n = r->elements;
    freeReplyObject(r);
    qsort(v, *n, sizeof *v, cmp_str);
    return v;
}

static int is_time_field(const char *f)
{
    static const char *const t[] = { "created_at", "promote_at", "updated_at", "started_at", "failed_at" };
    for (size_t i = 0; i < 5; i++)
        if (!strcmp(f, t[i])) return 1;
    return 0;
}

/* A field/member -> value reply (HGETALL or ZRANGE WITHSCORES) as sorted
 * "name\0value" pairs: returns the pair count, *out pairs of pointers. */
static size_t pairs(redisReply *r, const char ***out)
{
    size_t n = r->elements / 2;
    const char **v = calloc(2 * n + 2, sizeof *v);
    for (size_t i = 0; i < n; i++) {
        v[2 * i] = r->element[2 * i]->str;
        v[2 * i + 1] = r->element[2 * i + 1]->str;
    }
    /* insertion sort by name, moving the value along */
    for (size_t i = 1; i < n; i++)
        for (size_t k = i; k > 0 && strcmp(v[2 * k - 2], v[2 * k]) > 0; k--) {
            const char *a = v[2 * k], *b = v[2 * k + 1];
            v[2 * k] = v[2 * k - 2]; v[2 * k + 1] = v[2 * k - 1];
            v[2 * k - 2] = a; v[2 * k - 1] = b;
        }
    *out = v;
    return n;
}

/* Is this zset's score a time (compared as present only)? */
static int time_scored(const char *key, const char *member, redisContext *c)
{
    if (!strcmp(key, "q:jobs:delayed")) return 1;
    if (strcmp(key, "q:jobs:active")) return 0;
    /* active: a time only when the job has a ttl */
    const char *bar = strchr(member, '|');
    char ttl[32];
    return bar && kt_str(c, ttl, sizeof ttl, "HGET q:job:%s ttl", bar + 1) != NULL;
}

static void compare_pairs(const char *key, const char *kind, redisReply *a, redisReply *b)
{
    const char **pa, **pb;
    size_t na = pairs(a, &pa), nb = pairs(b, &pb);
    for (size_t i = 0; i < na || i < nb; i++) {
        const char *fa = i < na ? pa[2 * i] : "(none)", *fb = i < nb ? pb[2 * i] : "(none)";
        cr_assert_str_eq(fb, fa, "%s %s: Kue has %s %s, libkue %s", kind, key, kind, fa, fb);
        const char *va = pa[2 * i + 1], *vb = pb[2 * i + 1];
        if (!strcmp(kind, "field") && is_time_field(fa)) {
            cr_assert(strtoll(va, NULL, 10) > 1600000000000LL && strtoll(vb, NULL, 10) > 1600000000000LL,
                      "%s %s: %s / %s", key, fa, va, vb);
            continue;
        }
        if (!strcmp(kind, "member") && time_scored(key, fa, CL)) {
            cr_assert(strtod(va, NULL) > 1.6e12 && strtod(vb, NULL) > 1.6e12, "%s %s: %s / %s", key, fa, va, vb);
            continue;
        }
        cr_assert_str_eq(vb, va, "%s %s %s: Kue %s, libkue %s", key, kind, fa, va, vb);
    }
    free(pa);
    free(pb);
}

/* Expected LLEN(libkue) - LLEN(Kue) for a token list (see the header). */
static long long token_diff(const char *key)
{
    return !strcmp(key, "q:sms:jobs") ? -1 : 0;
}

static void compare_key(const char *key)
{
    char ta[32], tb[32];
    kt_str(CK, ta, sizeof ta, "TYPE %s", key);
    kt_str(CL, tb, sizeof tb, "TYPE %s", key);
    cr_assert_str_eq(tb, ta, "%s: Kue has a %s, libkue a %s", key, ta, tb);
    redisReply *a = NULL, *b = NULL;
    if (!strcmp(ta, "string")) {
        a = kt_cmd(CK, "GET %s", key);
        b = kt_cmd(CL, "GET %s", key);
        cr_assert_str_eq(b->str, a->str, "%s", key);
    } else if (!strcmp(ta, "hash")) {
        a = kt_cmd(CK, "HGETALL %s", key);
        b = kt_cmd(CL, "HGETALL %s", key);
        compare_pairs(key, "field", a, b);
    } else if (!strcmp(ta, "zset")) {
        a = kt_cmd(CK, "ZRANGE %s 0 -1 WITHSCORES", key);
        b = kt_cmd(CL, "ZRANGE %s 0 -1 WITHSCORES", key);
        compare_pairs(key, "member", a, b);
        /* and the same order (scores, then member bytes) */
        for (size_t i = 0; i < a->elements && i < b->elements && !strstr(key, ":delayed") &&
                           strcmp(key, "q:jobs:active"); i += 2)
            cr_assert_str_eq(b->element[i]->str, a->element[i]->str, "%s order at %zu", key, i / 2);
    } else if (!strcmp(ta, "set")) {
        a = kt_cmd(CK, "SORT %s ALPHA", key);
        b = kt_cmd(CL, "SORT %s ALPHA", key);
        cr_assert_eq(a->elements, b->elements, "%s", key);
        for (size_t i = 0; i < a->elements; i++)
            cr_assert_str_eq(b->element[i]->str, a->element[i]->str, "%s", key);
    } else if (!strcmp(ta, "list")) {
        size_t kl = strlen(key);
        if (kl > 5 && !strcmp(key + kl - 5, ":jobs")) {           /* q:<type>:jobs tokens */
            long long la = kt_int(CK, "LLEN %s", key), lb = kt_int(CL, "LLEN %s", key);
            cr_assert_eq(lb - la, token_diff(key), "%s: Kue has %lld tokens, libkue %lld", key, la, lb);
            a = kt_cmd(CK, "LRANGE %s 0 -1", key);
            b = kt_cmd(CL, "LRANGE %s 0 -1", key);
            for (size_t i = 0; i < a->elements; i++) cr_assert_str_eq(a->element[i]->str, "1");
            for (size_t i = 0; i < b->elements; i++) cr_assert_str_eq(b->element[i]->str, "1");
        } else {                                                   /* q:job:<id>:log */
            a = kt_cmd(CK, "LRANGE %s 0 -1", key);
            b = kt_cmd(CL, "LRANGE %s 0 -1", key);
            cr_assert_eq(b->elements, a->elements, "%s: Kue %zu lines, libkue %zu", key, a->elements,
                         b->elements);
            for (size_t i = 0; i < a->elements; i++)
                cr_assert_str_eq(b->element[i]->str, a->element[i]->str, "%s line %zu", key, i);
        }
    } else {
        cr_assert_fail("%s: unexpected type %s", key, ta);
    }
    freeReplyObject(a);
    freeReplyObject(b);
}

Test(interop_parity, same_operations_same_redis_contents)
{
    if (!kt_node_available())
        cr_skip_test("node or tests/node/node_modules/kue missing (run sh scripts/node-deps.sh)");
    kt_redis_start(&R, KT_TCP);
    CK = connect_db(KUE_DB);
    CL = connect_db(LIB_DB);
    char port[16], db[8], url[128], err[256];
    snprintf(port, sizeof port, "%d", R.port);
    snprintf(db, sizeof db, "%d", KUE_DB);
    char *args[] = { port, db, NULL };
    char *txt = NULL;
    int rc = kt_node_run("interop-ops.js", args, &txt, 25000);
    cr_assert_eq(rc, 0, "node script failed (%d): %s", rc, txt ? txt : "");
    cr_assert(txt && strstr(txt, "\"ok\":true"), "%s", txt ? txt : "");
    free(txt);

    snprintf(url, sizeof url, "redis://127.0.0.1:%d/%d", R.port, LIB_DB);
    K = kue_connect(url, "q", err, sizeof err);
    cr_assert_not_null(K, "kue_connect: %s", err);
    kue_set_search(K, 1);
    libkue_sequence();

    size_t na, nb;
    char **ka = keys_of(CK, &na), **kb = keys_of(CL, &nb);
    /* Same key names, reported by the first one missing on either side. */
    for (size_t i = 0, k = 0; i < na || k < nb;) {
        int c = i >= na ? 1 : k >= nb ? -1 : strcmp(ka[i], kb[k]);
        cr_assert(c == 0, "key %s only in the %s db", c < 0 ? ka[i] : kb[k], c < 0 ? "Kue" : "libkue");
        i++;
        k++;
    }
    cr_assert_gt(na, 20, "suspiciously few keys: %zu", na);
    for (size_t i = 0; i < na; i++) compare_key(ka[i]);

    /* A few anchors, so an empty or identical-but-wrong pair fails too. */
    char b[64];
    cr_assert_str_eq(kt_str(CL, b, sizeof b, "HGET q:job:1 state"), "complete");
    cr_assert_str_eq(kt_str(CL, b, sizeof b, "HGET q:job:4 state"), "inactive");
    cr_assert_eq(kt_int(CL, "EXISTS q:job:8"), 0);
    cr_assert_str_eq(kt_str(CL, b, sizeof b, "ZSCORE q:jobs:email:delayed 01|2"), "-15");
    cr_assert_eq(kt_int(CK, "LLEN q:sms:jobs"), 5);
    kue_strings_free(ka, na);
    kue_strings_free(kb, nb);
}
