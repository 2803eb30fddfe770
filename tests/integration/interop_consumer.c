/*
 * Interoperability, consumer side: jobs created (and some processed) by a
 * real Node Kue 0.11.6 with every option (tests/node/interop-create.js) are
 * read correctly by libkue: kue_job_get and its accessors, kue_job_to_json
 * (byte for byte what Kue's Job.get(...).toJSON() serialises to), kue_range,
 * kue_count, kue_stats, kue_types and kue_job_log; Kue's search index for a
 * job with searchKeys is the one libkue writes for the same job; and the
 * CLI's `kue get ID` prints the same job (skipped, saying so, while the kue
 * binary is not built).
 * Skips, saying so, only when node or tests/node/node_modules/kue is missing.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kue/kue.h>
#include "harness.h"

static kt_redis_t R;
static redisContext *C;
static kue_t *K;
static json_t *OUT;        /* what the node script printed */
static int64_t FULL, DONE, BAD, PLAIN, FN;

static void teardown(void)
{
    if (OUT) json_decref(OUT);
    OUT = NULL;
    kt_store_close(&C, &K);
}

TestSuite(interop_consumer, .fini = teardown, .timeout = 60);

/* Start Redis, let Node Kue create its jobs, connect libkue. */
static void setup_or_skip(void)
{
    if (!kt_node_available())
        cr_skip_test("node or tests/node/node_modules/kue missing (run sh scripts/node-deps.sh)");
    kt_store_open(&R, KT_TCP, &C, &K);
    char port[16];
    snprintf(port, sizeof port, "%d", R.port);
    char *args[] = { port, NULL };
    char *txt = NULL;
    int rc = kt_node_run("interop-create.js", args, &txt, 25000);
    cr_assert_eq(rc, 0, "node script failed (%d): %s", rc, txt ? txt : "");
    json_error_t je;
    OUT = json_loads(txt, 0, &je);
    cr_assert_not_null(OUT, "node output is not JSON (%s): %s", je.text, txt);
    free(txt);
    json_t *ids = json_object_get(OUT, "ids");
    FULL = json_integer_value(json_object_get(ids, "full"));
    DONE = json_integer_value(json_object_get(ids, "done"));
    BAD = json_integer_value(json_object_get(ids, "bad"));
    PLAIN = json_integer_value(json_object_get(ids, "plain"));
    FN = json_integer_value(json_object_get(ids, "fn"));
    cr_assert(FULL > 0 && DONE > 0 && BAD > 0 && PLAIN > 0 && FN > 0, "ids missing");
}

/* Kue's toJSON of id, serialised compactly in its own key order (as
 * JSON.stringify does). Caller frees. */
static char *kue_json(int64_t id)
{
    char k[24];
    snprintf(k, sizeof k, "%lld", (long long)id);
    json_t *j = json_object_get(json_object_get(OUT, "json"), k);
    cr_assert_not_null(j, "node printed no job %s", k);
    return json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
}

/* Re-serialise our JSON through the same encoder (numbers, escapes). */
static char *normal_json(const char *s)
{
    json_error_t je;
    json_t *j = json_loads(s, 0, &je);
    cr_assert_not_null(j, "not JSON (%s): %s", je.text, s);
    char *d = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    json_decref(j);
    return d;
}

static const char *field(const kue_job_t *j, const char *name)
{
    const char *v = kue_job_field(j, name);
    return v ? v : "(none)";
}

Test(interop_consumer, kue_jobs_read_by_libkue)
{
    setup_or_skip();
    int64_t all[] = { FULL, DONE, BAD, PLAIN, FN };
    for (size_t i = 0; i < 5; i++) {
        kue_job_t *j = kue_job_get(K, all[i]);
        cr_assert_not_null(j, "kue_job_get(%lld): %s", (long long)all[i], kue_errstr(K));
        char *ours = kue_job_to_json(j, 0);
        cr_assert_not_null(ours, "kue_job_to_json(%lld) failed", (long long)all[i]);
        char *theirs = kue_json(all[i]);
        /* Kue's JSON.stringify output was parsed and re-encoded; re-encode ours
         * the same way so only the content (and key order) is compared. */
        char *ours_n = normal_json(ours);
        cr_assert_str_eq(ours_n, theirs, "job %lld:\n ours %s\n kue  %s", (long long)all[i], ours, theirs);
        /* The string-id form is what GET /job/:id answers. */
        char *sid = kue_job_to_json(j, 1);
        char want[40];
        snprintf(want, sizeof want, "{\"id\":\"%lld\",", (long long)all[i]);
        cr_assert(!strncmp(sid, want, strlen(want)), "%s", sid);
        free(sid);
        free(ours_n);
        free(ours);
        free(theirs);
        kue_job_free(j);
    }

    /* The full job, field by field. */
    kue_job_t *j = kue_job_get(K, FULL);
    cr_assert_not_null(j);
    cr_assert_eq(kue_job_id(j), FULL);
    cr_assert_str_eq(kue_job_type(j), "email");
    cr_assert_str_eq(kue_job_data(j), "{\"title\":\"convert \xe2\x9c\x93 video\",\"user\":\"tj\","
                                      "\"nested\":{\"k\":\"deep words\"},\"n\":3}");
    cr_assert_eq(kue_job_priority(j), KUE_PRIORITY_HIGH);
    cr_assert_str_eq(kue_job_state(j), "delayed");
    cr_assert_eq(kue_job_attempts_made(j), 0);
    cr_assert_eq(kue_job_attempts_max(j), 4);
    cr_assert_str_eq(field(j, "delay"), "60000");
    cr_assert_str_eq(field(j, "ttl"), "10000");
    cr_assert_str_eq(field(j, "backoff"), "{\"type\":\"exponential\",\"delay\":200,\"maxDelay\":5000}");
    cr_assert_str_eq(field(j, "removeOnComplete"), "true");
    cr_assert_str_eq(field(j, "progress"), "50");
    cr_assert_str_eq(field(j, "progress_data"), "{\"step\":\"half\"}");
    long long created = strtoll(field(j, "created_at"), NULL, 10);
    cr_assert_eq(strtoll(field(j, "promote_at"), NULL, 10) - created, 60000);
    kue_job_free(j);

    /* The processed ones. */
    j = kue_job_get(K, DONE);
    cr_assert_str_eq(kue_job_state(j), "complete");
    cr_assert_eq(kue_job_priority(j), KUE_PRIORITY_LOW);
    cr_assert_eq(kue_job_attempts_made(j), 1);
    cr_assert_eq(kue_job_attempts_max(j), 1);
    cr_assert_str_eq(field(j, "result"), "{\"ok\":true,\"\xc3\xbc\":\"\xe2\x9c\x93\"}");
    cr_assert_str_eq(field(j, "progress"), "100");
    cr_assert_str_eq(field(j, "progress_data"), "{\"half\":true}");
    cr_assert(!strncmp(field(j, "workerId"), "kue:", 4));
    long long duration = strtoll(field(j, "duration"), NULL, 10);
    kue_job_free(j);
    j = kue_job_get(K, BAD);
    cr_assert_str_eq(kue_job_state(j), "failed");
    cr_assert_eq(kue_job_attempts_made(j), 1);
    cr_assert(!strncmp(field(j, "error"), "Error: nope\n", 12), "%s", field(j, "error"));
    cr_assert_neq(strcmp(field(j, "failed_at"), "(none)"), 0);
    kue_job_free(j);
    j = kue_job_get(K, PLAIN);
    cr_assert_str_eq(kue_job_data(j), "{}");
    cr_assert_eq(kue_job_priority(j), 3);
    cr_assert_eq(kue_job_attempts_max(j), 2);
    cr_assert_str_eq(field(j, "backoff"), "true");
    cr_assert_str_eq(kue_job_state(j), "inactive");
    kue_job_free(j);
    j = kue_job_get(K, FN);
    cr_assert_str_eq(kue_job_state(j), "delayed");
    cr_assert(strstr(field(j, "backoff"), "return delay * 2"), "%s", field(j, "backoff"));
    cr_assert_str_eq(field(j, "ttl"), "5000");
    kue_job_free(j);

    /* Logs, exactly as Kue's Job.log(id) reads them. */
    for (size_t i = 0; i < 5; i++) {
        char **lines;
        size_t n;
        cr_assert_eq(kue_job_log(K, all[i], &lines, &n), 0);
        char k[24];
        snprintf(k, sizeof k, "%lld", (long long)all[i]);
        json_t *kl = json_object_get(json_object_get(OUT, "logs"), k);
        cr_assert_eq(n, json_array_size(kl), "job %s: %zu log lines, Kue reads %zu", k, n,
                     json_array_size(kl));
        for (size_t l = 0; l < n; l++)
            cr_assert_str_eq(lines[l], json_string_value(json_array_get(kl, l)));
        kue_strings_free(lines, n);
    }
    char **lines;
    size_t n;
    cr_assert_eq(kue_job_log(K, FULL, &lines, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(lines[0], "hello w\xc3\xb6rld");
    cr_assert_str_eq(lines[1], "{ a: 1 }");
    kue_strings_free(lines, n);
    cr_assert_eq(kue_job_log(K, DONE, &lines, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(lines[0], "working on 1");
    kue_strings_free(lines, n);
    cr_assert_eq(kue_job_log(K, BAD, &lines, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(lines[0], "Error: nope");
    kue_strings_free(lines, n);

    /* Ranges (ids sorted after ZRANGE), counts, stats, types. */
    int64_t *ids;
    size_t m;
    cr_assert_eq(kue_range(K, NULL, NULL, 0, -1, 0, &ids, &m), 0);
    cr_assert_eq(m, 5);
    for (size_t i = 0; i < 5; i++) cr_assert_eq(ids[i], (int64_t)i + 1);
    free(ids);
    cr_assert_eq(kue_range(K, NULL, NULL, 0, -1, 1, &ids, &m), 0);
    cr_assert_eq(ids[0], 5);
    free(ids);
    cr_assert_eq(kue_range(K, NULL, "delayed", 0, -1, 0, &ids, &m), 0);
    cr_assert_eq(m, 2);
    cr_assert_eq(ids[0], FULL < FN ? FULL : FN);
    cr_assert_eq(ids[1], FULL < FN ? FN : FULL);
    free(ids);
    cr_assert_eq(kue_range(K, "work", "complete", 0, -1, 0, &ids, &m), 0);
    cr_assert_eq(m, 1);
    cr_assert_eq(ids[0], DONE);
    free(ids);
    cr_assert_eq(kue_range(K, NULL, "failed", 0, 0, 0, &ids, &m), 0);
    cr_assert_eq(m, 1);
    cr_assert_eq(ids[0], BAD);
    free(ids);
    cr_assert_eq(kue_range(K, "plain", "inactive", 0, -1, 0, &ids, &m), 0);
    cr_assert_eq(m, 1);
    cr_assert_eq(ids[0], PLAIN);
    free(ids);
    cr_assert_eq(kue_count(K, "work", "failed"), 1);
    cr_assert_eq(kue_count(K, "email", "delayed"), 1);
    cr_assert_eq(kue_count(K, NULL, "active"), 0);
    kue_stats_t s;
    cr_assert_eq(kue_stats(K, &s), 0);
    cr_assert_eq(s.inactive, 1);
    cr_assert_eq(s.active, 0);
    cr_assert_eq(s.complete, 1);
    cr_assert_eq(s.failed, 1);
    cr_assert_eq(s.delayed, 2);
    cr_assert_eq(s.work_time_ms, duration, "work time %lld, Kue's completed job took %lld ms",
                 s.work_time_ms, duration);
    char **types;
    size_t nt;
    cr_assert_eq(kue_types(K, &types, &nt), 0);
    cr_assert_eq(nt, 3);
    int seen = 0;
    for (size_t i = 0; i < nt; i++)
        seen |= (strcmp(types[i], "email") == 0) | (strcmp(types[i], "work") == 0) << 1 |
                (strcmp(types[i], "plain") == 0) << 2;
    cr_assert_eq(seen, 7);
    kue_strings_free(types, nt);
}

Test(interop_consumer, kue_search_index_is_ours)
{
    setup_or_skip();
    /* The same job, with the same searchKeys, saved by libkue under prefix p. */
    char err[256];
    kue_t *p = kue_connect(R.url, "p", err, sizeof err);
    cr_assert_not_null(p, "%s", err);
    kue_set_search(p, 1);
    char data[512];
    kt_str(C, data, sizeof data, "HGET q:job:%lld data", (long long)FULL);
    kue_job_t *j = kue_job_new("email", data);
    const char *keys[] = { "title", "nested.k" };
    cr_assert_eq(kue_job_set_search_keys(j, keys, 2), 0);
    int64_t pid = kue_job_save(p, j);
    cr_assert_gt(pid, 0, "%s", kue_errstr(p));
    kue_job_free(j);
    kue_free(p);

    redisReply *a = kt_cmd(C, "ZRANGE q:search:object:%lld 0 -1 WITHSCORES", (long long)FULL);
    redisReply *b = kt_cmd(C, "ZRANGE p:search:object:%lld 0 -1 WITHSCORES", (long long)pid);
    cr_assert_gt(a->elements, 0, "Kue wrote no search index");
    cr_assert_eq(a->elements, b->elements, "Kue indexed %zu words, libkue %zu", a->elements / 2,
                 b->elements / 2);
    for (size_t i = 0; i < a->elements; i++)
        cr_assert_str_eq(a->element[i]->str, b->element[i]->str, "search:object entry %zu", i);
    for (size_t i = 0; i < a->elements; i += 2) {
        char ka[64], kb[64];
        long long fa = FULL;
        cr_assert_not_null(kt_str(C, ka, sizeof ka, "ZSCORE q:search:word:%s %lld",
                                  a->element[i]->str, fa));
        cr_assert_not_null(kt_str(C, kb, sizeof kb, "ZSCORE p:search:word:%s %lld",
                                  a->element[i]->str, (long long)pid));
        cr_assert_str_eq(ka, kb);
    }
    freeReplyObject(a);
    freeReplyObject(b);
    /* Only the searchKeys were indexed: "tj" (user) is not. */
    cr_assert_eq(kt_int(C, "EXISTS q:search:word:TJ"), 0);
}

Test(interop_consumer, cli_get_reads_kue_jobs)
{
    char cli[1024];
    kt_bin("kue", cli, sizeof cli);
    if (access(cli, X_OK) != 0)
        cr_skip_test("%s not built yet: the CLI check of Kue-created jobs was not run", cli);
    setup_or_skip();
    int64_t all[] = { FULL, DONE, BAD, PLAIN, FN };
    for (size_t i = 0; i < 5; i++) {
        char ids[24], env1[512], env2[64], log[512];
        snprintf(ids, sizeof ids, "%lld", (long long)all[i]);
        snprintf(env1, sizeof env1, "KUE_REDIS_URL=%s", R.url);
        snprintf(env2, sizeof env2, "KUE_PREFIX=q");
        snprintf(log, sizeof log, "%s/cli-get-%s.out", kt_tmpdir(), ids);
        char *argv[] = { cli, "get", ids, NULL };
        char *env[] = { env1, env2, NULL };
        pid_t pid = kt_spawn_env(argv, env, log);
        int st = 0;
        cr_assert_eq(kt_wait(pid, 10000, &st), 0, "kue get %s hung", ids);
        char *txt = kt_read_file(log);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "kue get %s: status %d: %s", ids, st,
                  txt ? txt : "");
        json_error_t je;
        json_t *got = json_loads(txt, 0, &je);
        cr_assert_not_null(got, "kue get %s printed no JSON (%s): %s", ids, je.text, txt);
        json_t *want = json_object_get(json_object_get(OUT, "json"), ids);
        /* The id may be printed as a number or, as GET /job/:id does, a string. */
        json_t *gid = json_object_get(got, "id");
        cr_assert(json_integer_value(gid) == all[i] ||
                  (json_is_string(gid) && !strcmp(json_string_value(gid), ids)), "id in %s", txt);
        json_t *g2 = json_deep_copy(got), *w2 = json_deep_copy(want);
        json_object_del(g2, "id");
        json_object_del(w2, "id");
        char *gs = json_dumps(g2, JSON_COMPACT | JSON_SORT_KEYS);
        char *ws = json_dumps(w2, JSON_COMPACT | JSON_SORT_KEYS);
        cr_assert(json_equal(g2, w2), "kue get %s:\n cli %s\n kue %s", ids, gs, ws);
        free(gs);
        free(ws);
        json_decref(g2);
        json_decref(w2);
        json_decref(got);
        free(txt);
    }
}
