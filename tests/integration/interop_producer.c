/*
 * Interoperability, producer side: jobs created with libkue are processed
 * by a real Node Kue 0.11.6 worker (queue.process, tests/node/interop-worker.js)
 * on the same Redis and prefix.  Checked: priority order, delays honoured,
 * attempts and retries (immediate, fixed, exponential and `true` backoff),
 * removeOnComplete, ttl, unicode data round-tripping into the result, and the
 * final hashes, state sets and Kue's own view (Job.get(...).toJSON()) being
 * what Kue leaves for jobs it created itself (docs/wire.md sections 2-7).
 * Skips, saying so, only when node or tests/node/node_modules/kue is missing.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kue/kue.h>
#include "harness.h"

static kt_redis_t R;
static redisContext *C;
static kue_t *K;

static void teardown(void) { kt_store_close(&C, &K); }

TestSuite(interop_producer, .fini = teardown, .timeout = 60);

static void setup_or_skip(void)
{
    if (!kt_node_available())
        cr_skip_test("node or tests/node/node_modules/kue missing (run sh scripts/node-deps.sh)");
    kt_store_open(&R, KT_TCP, &C, &K);
}

struct spec {
    const char *type, *data, *backoff;
    int prio, attempts, roc;
    int64_t delay, ttl;
};

static int64_t make(const struct spec *s)
{
    kue_job_t *j = kue_job_new(s->type, s->data);
    kue_job_set_priority(j, s->prio);
    if (s->attempts) cr_assert_eq(kue_job_set_attempts(j, s->attempts), 0);
    if (s->delay) kue_job_set_delay(j, s->delay);
    if (s->backoff) cr_assert_eq(kue_job_set_backoff(j, s->backoff), 0, "backoff %s", s->backoff);
    if (s->roc) kue_job_set_remove_on_complete(j, 1);
    if (s->ttl) kue_job_set_ttl(j, s->ttl);
    int64_t id = kue_job_save(K, j);
    cr_assert_gt(id, 0, "save: %s", kue_errstr(K));
    kue_job_free(j);
    return id;
}

static char *hget(int64_t id, const char *field, char *buf, size_t len)
{
    return kt_str(C, buf, len, "HGET q:job:%lld %s", (long long)id, field);
}

static long long hget_ll(int64_t id, const char *field)
{
    char b[64];
    cr_assert_not_null(hget(id, field, b, sizeof b), "job %lld has no %s", (long long)id, field);
    return strtoll(b, NULL, 10);
}

/* The job's hash field names, sorted, comma-separated. */
static void hkeys(int64_t id, char *out, size_t len)
{
    redisReply *r = kt_cmd(C, "HKEYS q:job:%lld", (long long)id);
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    const char *v[64];
    size_t n = r->elements < 64 ? r->elements : 64;
    for (size_t i = 0; i < n; i++) v[i] = r->element[i]->str;
    for (size_t i = 1; i < n; i++)
        for (size_t k = i; k > 0 && strcmp(v[k - 1], v[k]) > 0; k--) {
            const char *t = v[k]; v[k] = v[k - 1]; v[k - 1] = t;
        }
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        strncat(out, v[i], len - strlen(out) - 1);
        if (i + 1 < n) strncat(out, ",", len - strlen(out) - 1);
    }
    freeReplyObject(r);
}

/* ZSCORE as a string ("" when not a member). */
static const char *zscore(const char *key, int64_t id, char *buf, size_t len)
{
    char z[32];
    snprintf(z, sizeof z, "%02d|%lld", snprintf(NULL, 0, "%lld", (long long)id), (long long)id);
    redisReply *r = kt_cmd(C, "ZSCORE %s %s", key, z);
    snprintf(buf, len, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
    return buf;
}

/* The Kue toJSON object node printed for id. */
static json_t *kjob(json_t *out, int64_t id)
{
    char k[24];
    snprintf(k, sizeof k, "%lld", (long long)id);
    json_t *j = json_object_get(json_object_get(out, "jobs"), k);
    cr_assert_not_null(j, "node printed no job %s", k);
    return j;
}

static void assert_attempts(json_t *out, int64_t id, int made, int remaining, int max)
{
    json_t *a = json_object_get(kjob(out, id), "attempts");
    cr_assert_not_null(a, "job %lld: no attempts in Kue's toJSON", (long long)id);
    cr_assert_eq(json_integer_value(json_object_get(a, "made")), made, "job %lld made", (long long)id);
    cr_assert_eq(json_integer_value(json_object_get(a, "remaining")), remaining,
                 "job %lld remaining", (long long)id);
    cr_assert_eq(json_integer_value(json_object_get(a, "max")), max, "job %lld max", (long long)id);
}

static const char *kstr(json_t *out, int64_t id, const char *field)
{
    const char *s = json_string_value(json_object_get(kjob(out, id), field));
    return s ? s : "";
}

/* Start times (node's Date.now) of the runs of id, in order; returns the count. */
static int runs_of(json_t *out, int64_t id, long long *starts, int max)
{
    json_t *runs = json_object_get(out, "runs");
    size_t i;
    json_t *r;
    int n = 0;
    json_array_foreach(runs, i, r) {
        if (json_integer_value(json_object_get(r, "id")) != id) continue;
        cr_assert_eq(json_integer_value(json_object_get(r, "made")), n,
                     "job %lld run %d saw %lld attempts made", (long long)id, n,
                     (long long)json_integer_value(json_object_get(r, "made")));
        if (n < max) starts[n] = (long long)json_number_value(json_object_get(r, "start"));
        n++;
    }
    return n;
}

/* A job that completed: state, sets and scores as Kue's completion leaves them. */
static void assert_complete(int64_t id, const char *type, int prio, const char *attempts)
{
    char b[256], key[128];
    cr_assert_str_eq(hget(id, "state", b, sizeof b), "complete", "job %lld", (long long)id);
    cr_assert_str_eq(hget(id, "progress", b, sizeof b), "100");
    cr_assert_str_eq(hget(id, "attempts", b, sizeof b), attempts, "job %lld", (long long)id);
    cr_assert_not_null(hget(id, "duration", b, sizeof b));
    cr_assert_not_null(hget(id, "started_at", b, sizeof b));
    hget(id, "workerId", b, sizeof b);
    char wid[64];
    snprintf(wid, sizeof wid, ":%s:", type);   /* kue:<host>:<pid>:<type>:<n> */
    cr_assert(!strncmp(b, "kue:", 4) && strstr(b, wid), "workerId %s", b);
    char ps[16];
    snprintf(ps, sizeof ps, "%d", prio);
    cr_assert_str_eq(zscore("q:jobs:complete", id, b, sizeof b), ps);
    snprintf(key, sizeof key, "q:jobs:%s:complete", type);
    cr_assert_str_eq(zscore(key, id, b, sizeof b), ps);
    cr_assert_str_eq(zscore("q:jobs", id, b, sizeof b), ps);
    static const char *const others[] = { "inactive", "active", "failed", "delayed" };
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "q:jobs:%s", others[i]);
        cr_assert_str_eq(zscore(key, id, b, sizeof b), "", "job %lld still in %s", (long long)id, key);
        snprintf(key, sizeof key, "q:jobs:%s:%s", type, others[i]);
        cr_assert_str_eq(zscore(key, id, b, sizeof b), "", "job %lld still in %s", (long long)id, key);
    }
}

Test(interop_producer, libkue_jobs_processed_by_node_kue)
{
    setup_or_skip();
    /* Five priorities, created lowest first so priority order != id order. */
    static const char *const names[] = { "low", "normal", "medium", "high", "critical" };
    int64_t prio_id[5];
    for (int i = 0; i < 5; i++) {
        char data[64];
        snprintf(data, sizeof data, "{\"p\":\"%s\"}", names[i]);
        kue_job_t *j = kue_job_new("prio", data);
        cr_assert_eq(kue_job_set_priority_name(j, names[i]), 0);
        prio_id[i] = kue_job_save(K, j);
        cr_assert_gt(prio_id[i], 0, "%s", kue_errstr(K));
        kue_job_free(j);
    }
    /* Canonical JSON (as JSON.stringify writes it), so the result Kue writes
     * back from job.data is byte-identical to the data we stored. */
    const char *uni_data = "{\"text\":\"h\xc3\xa9llo \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e "
                           "\xf0\x9f\x9a\x80\",\"quote\":\"a\\\"b\\\\c\\n\",\"list\":[1,2.5,-3],"
                           "\"nested\":{\"ok\":true,\"none\":null}}";
    const struct spec uni = { "misc", uni_data, NULL, KUE_PRIORITY_NORMAL, 0, 0, 0, 0 };
    const struct spec late = { "misc", "{\"result\":{\"late\":true}}", NULL, KUE_PRIORITY_HIGH, 0, 0, 600, 0 };
    const struct spec roc = { "misc", "{\"result\":\"gone\"}", NULL, KUE_PRIORITY_LOW, 0, 1, 0, 0 };
    const struct spec r3 = { "retry", "{\"fail\":2,\"result\":3}", NULL, KUE_PRIORITY_MEDIUM, 3, 0, 0, 0 };
    const struct spec f2 = { "retry", "{\"fail\":9}", NULL, KUE_PRIORITY_NORMAL, 2, 0, 0, 0 };
    const struct spec f1 = { "retry", "{\"fail\":1}", NULL, KUE_PRIORITY_LOW, 0, 0, 0, 0 };
    const struct spec fixed = { "backoff", "{\"fail\":1,\"result\":\"fixed\"}",
                                "{\"type\":\"fixed\",\"delay\":300}", KUE_PRIORITY_NORMAL, 2, 0, 0, 0 };
    const struct spec expo = { "backoff", "{\"fail\":2,\"result\":\"exp\"}",
                               "{\"type\":\"exponential\",\"delay\":200}", KUE_PRIORITY_NORMAL, 3, 0, 0, 0 };
    const struct spec btrue = { "backoff", "{\"fail\":1,\"result\":\"true\"}", "true",
                                KUE_PRIORITY_CRITICAL, 2, 0, 200, 0 };
    const struct spec withttl = { "misc", "{\"result\":\"ttl\"}", NULL, KUE_PRIORITY_NORMAL, 0, 0, 0, 5000 };
    int64_t tid = make(&withttl);
    int64_t uid = make(&uni), lid = make(&late), rid = make(&roc), r3id = make(&r3),
            f2id = make(&f2), f1id = make(&f1), fxid = make(&fixed), exid = make(&expo),
            btid = make(&btrue);

    /* Before any worker: the delayed ones wait in q:jobs:delayed at promote_at. */
    char b[512], c[512];
    cr_assert_str_eq(hget(lid, "state", b, sizeof b), "delayed");
    snprintf(c, sizeof c, "%lld", hget_ll(lid, "promote_at"));
    cr_assert_str_eq(zscore("q:jobs:delayed", lid, b, sizeof b), c);
    cr_assert_eq(hget_ll(lid, "promote_at") - hget_ll(lid, "created_at"), 600);
    cr_assert_str_eq(hget(btid, "state", b, sizeof b), "delayed");
    long long late_promote = hget_ll(lid, "promote_at");

    char port[16];
    snprintf(port, sizeof port, "%d", R.port);
    char ids[16][24];
    char *args[24] = { port, "15" };
    int na = 2;
    int64_t all[] = { prio_id[0], prio_id[1], prio_id[2], prio_id[3], prio_id[4], uid, lid, rid,
                      r3id, f2id, f1id, fxid, exid, btid, tid };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        snprintf(ids[i], sizeof ids[i], "%lld", (long long)all[i]);
        args[na++] = ids[i];
    }
    args[na] = NULL;
    char *txt = NULL;
    int rc = kt_node_run("interop-worker.js", args, &txt, 25000);
    cr_assert_eq(rc, 0, "node worker failed (%d): %s", rc, txt ? txt : "");
    json_error_t je;
    json_t *out = json_loads(txt, 0, &je);
    cr_assert_not_null(out, "node output is not JSON (%s): %s", je.text, txt);
    free(txt);

    /* 1. Priority order: critical, high, medium, normal, low. */
    {
        json_t *runs = json_object_get(out, "runs");
        size_t i;
        json_t *r;
        int k = 4;
        json_array_foreach(runs, i, r) {
            if (strcmp(json_string_value(json_object_get(r, "type")), "prio")) continue;
            cr_assert_geq(k, 0, "more prio runs than jobs");
            cr_assert_eq(json_integer_value(json_object_get(r, "id")), prio_id[k],
                         "prio run order: expected %s (id %lld) next, got id %lld", names[k],
                         (long long)prio_id[k], (long long)json_integer_value(json_object_get(r, "id")));
            k--;
        }
        cr_assert_eq(k, -1, "not every prio job ran");
        for (int p = 0; p < 5; p++) {
            int prio;
            cr_assert_eq(kue_priority_parse(names[p], &prio), 0);
            snprintf(c, sizeof c, "{\"p\":\"%s\"}", names[p]);
            assert_complete(prio_id[p], "prio", prio, "1");
            cr_assert_str_eq(hget(prio_id[p], "result", b, sizeof b), c);
            hkeys(prio_id[p], b, sizeof b);
            cr_assert_str_eq(b, "attempts,created_at,data,duration,max_attempts,priority,progress,"
                                "promote_at,result,started_at,state,type,updated_at,workerId");
            assert_attempts(out, prio_id[p], 1, 0, 1);
            cr_assert_str_eq(kstr(out, prio_id[p], "state"), "complete");
        }
    }

    /* 2. Unicode data: Kue parsed it and wrote it back as the result unchanged. */
    assert_complete(uid, "misc", 0, "1");
    cr_assert_str_eq(hget(uid, "result", b, sizeof b), uni_data);
    cr_assert_str_eq(hget(uid, "data", b, sizeof b), uni_data);
    {
        json_t *d = json_object_get(kjob(out, uid), "data");
        cr_assert_str_eq(json_string_value(json_object_get(d, "text")),
                         "h\xc3\xa9llo \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x9a\x80");
        cr_assert_str_eq(json_string_value(json_object_get(d, "quote")), "a\"b\\c\n");
        json_t *res = json_object_get(kjob(out, uid), "result");
        cr_assert(json_equal(d, res), "Kue's result differs from its data");
    }

    /* 3. The delayed job ran only after promote_at (same clock for both). */
    {
        long long st[4];
        cr_assert_eq(runs_of(out, lid, st, 4), 1);
        cr_assert_geq(st[0], late_promote, "delayed job ran %lld ms before promote_at",
                      late_promote - st[0]);
        cr_assert_geq(hget_ll(lid, "started_at"), late_promote);
        assert_complete(lid, "misc", KUE_PRIORITY_HIGH, "1");
        cr_assert_str_eq(hget(lid, "result", b, sizeof b), "{\"late\":true}");
        cr_assert_str_eq(hget(lid, "delay", b, sizeof b), "600");
        hkeys(lid, b, sizeof b);
        cr_assert_str_eq(b, "attempts,created_at,data,delay,duration,max_attempts,priority,progress,"
                            "promote_at,result,started_at,state,type,updated_at,workerId");
        cr_assert_str_eq(kstr(out, lid, "delay"), "600");
    }

    /* 4. removeOnComplete: Kue ran it and removed the hash, log and indexes. */
    {
        long long st[2];
        cr_assert_eq(runs_of(out, rid, st, 2), 1);
        cr_assert_eq(kt_int(C, "EXISTS q:job:%lld q:job:%lld:log", (long long)rid, (long long)rid), 0);
        cr_assert_str_eq(zscore("q:jobs", rid, b, sizeof b), "");
        cr_assert_str_eq(zscore("q:jobs:complete", rid, b, sizeof b), "");
        cr_assert_str_eq(zscore("q:jobs:misc:complete", rid, b, sizeof b), "");
        snprintf(c, sizeof c, "job \"%lld\" doesnt exist", (long long)rid);
        cr_assert_str_eq(kstr(out, rid, "error"), c);
    }

    /* 5. Attempts without backoff: immediate retries, then complete or failed. */
    {
        long long st[4];
        cr_assert_eq(runs_of(out, r3id, st, 4), 3);
        assert_complete(r3id, "retry", KUE_PRIORITY_MEDIUM, "3");
        cr_assert_str_eq(hget(r3id, "result", b, sizeof b), "3");
        assert_attempts(out, r3id, 3, 0, 3);
        char **lines;
        size_t n;
        cr_assert_eq(kue_job_log(K, r3id, &lines, &n), 0);
        cr_assert_eq(n, 2);
        cr_assert_str_eq(lines[0], "Error: boom 0");
        cr_assert_str_eq(lines[1], "Error: boom 1");
        kue_strings_free(lines, n);

        cr_assert_eq(runs_of(out, f2id, st, 4), 2);
        cr_assert_str_eq(hget(f2id, "state", b, sizeof b), "failed");
        cr_assert_str_eq(hget(f2id, "attempts", b, sizeof b), "2");
        cr_assert(!strncmp(hget(f2id, "error", b, sizeof b), "Error: boom 1\n", 14), "error %s", b);
        cr_assert_str_eq(zscore("q:jobs:failed", f2id, b, sizeof b), "0");
        cr_assert_str_eq(zscore("q:jobs:retry:failed", f2id, b, sizeof b), "0");
        cr_assert_str_eq(zscore("q:jobs:inactive", f2id, b, sizeof b), "");
        hkeys(f2id, b, sizeof b);
        cr_assert_str_eq(b, "attempts,created_at,data,error,failed_at,max_attempts,priority,"
                            "promote_at,started_at,state,type,updated_at,workerId");
        assert_attempts(out, f2id, 2, 0, 2);
        cr_assert_str_eq(kstr(out, f2id, "state"), "failed");

        cr_assert_eq(runs_of(out, f1id, st, 4), 1);
        cr_assert_str_eq(hget(f1id, "state", b, sizeof b), "failed");
        cr_assert_str_eq(hget(f1id, "attempts", b, sizeof b), "1");
        cr_assert_str_eq(zscore("q:jobs:failed", f1id, b, sizeof b), "10");
        assert_attempts(out, f1id, 1, 0, 1);
    }

    /* 6. Backoff: the retry waited in delayed for exactly the computed delay
     *    (promote_at = failed_at + delay, docs/wire.md section 7). */
    {
        long long st[4];
        cr_assert_eq(runs_of(out, fxid, st, 4), 2);
        assert_complete(fxid, "backoff", 0, "2");
        cr_assert_str_eq(hget(fxid, "delay", b, sizeof b), "300");
        cr_assert_eq(hget_ll(fxid, "promote_at") - hget_ll(fxid, "failed_at"), 300);
        cr_assert_geq(st[1], hget_ll(fxid, "promote_at"));
        cr_assert_str_eq(hget(fxid, "backoff", b, sizeof b), "{\"type\":\"fixed\",\"delay\":300}");
        cr_assert_str_eq(hget(fxid, "result", b, sizeof b), "\"fixed\"");

        cr_assert_eq(runs_of(out, exid, st, 4), 3);
        assert_complete(exid, "backoff", 0, "3");
        /* 200/2 * (2^1 - 1) = 100, then 200/2 * (2^2 - 1) = 300 */
        cr_assert_str_eq(hget(exid, "delay", b, sizeof b), "300");
        cr_assert_eq(hget_ll(exid, "promote_at") - hget_ll(exid, "failed_at"), 300);
        cr_assert_geq(st[1] - st[0], 100 - 20, "first exponential retry after %lld ms", st[1] - st[0]);
        cr_assert_geq(st[2], hget_ll(exid, "promote_at"));
        assert_attempts(out, exid, 3, 0, 3);

        cr_assert_eq(runs_of(out, btid, st, 4), 2);
        assert_complete(btid, "backoff", KUE_PRIORITY_CRITICAL, "2");
        cr_assert_str_eq(hget(btid, "delay", b, sizeof b), "200");
        cr_assert_eq(hget_ll(btid, "promote_at") - hget_ll(btid, "failed_at"), 200);
        cr_assert_geq(st[1], hget_ll(btid, "promote_at"));
        cr_assert_str_eq(hget(btid, "backoff", b, sizeof b), "true");
    }

    /* 7. A ttl Kue honoured (active score was the deadline) and kept. */
    assert_complete(tid, "misc", 0, "1");
    cr_assert_str_eq(hget(tid, "ttl", b, sizeof b), "5000");
    cr_assert_str_eq(hget(tid, "result", b, sizeof b), "\"ttl\"");
    cr_assert_str_eq(kstr(out, tid, "ttl"), "5000");

    /* 8. Nothing left behind in the transient states; work time counted. */
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:inactive"), 0);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:active"), 0);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:delayed"), 0);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:complete"), 12);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:failed"), 2);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs"), 14);
    kue_stats_t s;
    cr_assert_eq(kue_stats(K, &s), 0);
    cr_assert_eq(s.complete, 12);
    cr_assert_eq(s.failed, 2);
    cr_assert_geq(s.work_time_ms, 0, "Kue wrote no q:stats:work-time");
    json_decref(out);
}
