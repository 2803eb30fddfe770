/*
 * Job data exactly as JavaScript sees it (docs/data.md).  Node Kue 0.11
 * stores data jansson refuses (integers beyond 64 bits, a lone surrogate);
 * such jobs are read back byte for byte by libkue, GET /job/:id, the range
 * routes, `kue get` and `kue ls`, run by our workers (the echo plugin's
 * result is the data, unchanged) and read back by Node Kue.  POST /job
 * accepts what Kue accepts and stores what Kue stores.  A damaged job hash
 * stays listed and readable.  The Node parts skip, saying so, when node or
 * tests/node/node_modules/kue is missing.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kue/kue.h>
#include "harness.h"
#include "json.h"
#include "scripts.h"
#include "supervisor_common.h"
#include "web_common.h"

#define NJOBS 4

static struct sup_t S;
static wt_web_t W;

TestSuite(data_fidelity, .fini = sup_fini, .timeout = 90);

struct node_job {
    int64_t id;
    char *stored;       /* the data field Node Kue wrote */
    char *json;         /* JSON.stringify(Job.get(id).toJSON()) */
};

/* Split "id TAB a TAB b" lines (modified in place). */
static int parse_lines(char *txt, struct node_job *out, int max)
{
    int n = 0;
    for (char *line = strtok(txt, "\n"); line && n < max; line = strtok(NULL, "\n")) {
        char *t1 = strchr(line, '\t');
        cr_assert_not_null(t1, "node printed: %s", line);
        char *t2 = strchr(t1 + 1, '\t');
        cr_assert_not_null(t2, "node printed: %s", line);
        *t1 = *t2 = '\0';
        out[n].id = strtoll(line, NULL, 10);
        out[n].stored = t1 + 1;
        out[n].json = t2 + 1;
        n++;
    }
    return n;
}

static char *node_phase(const char *phase, const struct node_job *jobs, int n)
{
    char port[16], ids[NJOBS][24];
    snprintf(port, sizeof port, "%d", S.redis.port);
    char *args[4 + NJOBS] = { port, (char *)phase, NULL };
    for (int i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "%lld", (long long)jobs[i].id);
        args[2 + i] = ids[i];
    }
    args[2 + n] = NULL;
    char *txt = NULL;
    int rc = kt_node_run("data-fidelity.js", args, &txt, 25000);
    cr_assert_eq(rc, 0, "node %s failed (%d): %s", phase, rc, txt ? txt : "");
    return txt;
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static char *run_kue(const char *a1, const char *a2, const char *a3)
{
    char bin[512], url[600], log[600];
    kt_bin("kue", bin, sizeof bin);
    snprintf(url, sizeof url, "KUE_REDIS_URL=%s", S.redis.url);
    snprintf(log, sizeof log, "%s/kue-%s.out", S.dir, a1);
    char *argv[] = { bin, (char *)a1, (char *)a2, (char *)a3, NULL };
    char *env[] = { url, NULL };
    int st = 0;
    cr_assert_eq(kt_wait(kt_spawn_env(argv, env, log), 15000, &st), 0);
    char *out = kt_read_file(log);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "kue %s %s: %s", a1, a2 ? a2 : "",
              out ? out : "");
    return out;
}

Test(data_fidelity, node_data_beyond_jansson_is_read_listed_and_run_unchanged)
{
    if (!kt_node_available())
        cr_skip_test("node or tests/node/node_modules/kue missing (run sh scripts/node-deps.sh)");
    static const char *const plugins[] = { "echo", NULL };
    sup_setup_flags(&S, plugins, "[type echo]\nconcurrency = 2\n", KT_TCP);
    char *created = node_phase("create", NULL, 0);
    struct node_job jobs[NJOBS];
    cr_assert_eq(parse_lines(created, jobs, NJOBS), NJOBS, "node printed: %s", created);
    cr_assert_str_eq(jobs[0].stored, "{\"n\":150000000000000000000}");
    cr_assert_str_eq(jobs[1].stored, "{\"n\":9223372036854776000}");
    cr_assert_str_eq(jobs[2].stored, "{\"s\":\"\\ud800\"}");

    /* libkue: the stored text, and Kue's toJSON byte for byte */
    for (int i = 0; i < NJOBS; i++) {
        kue_job_t *j = kue_job_get(S.k, jobs[i].id);
        cr_assert_not_null(j, "job %lld: %s", (long long)jobs[i].id, kue_errstr(S.k));
        cr_expect_str_eq(kue_job_data(j), jobs[i].stored);
        char *ours = kue_job_to_json(j, 0);
        cr_assert_not_null(ours);
        cr_expect_str_eq(ours, jobs[i].json, "job %lld", (long long)jobs[i].id);
        free(ours);
        kue_job_free(j);
    }

    /* kue-web: GET /job/:id (string id) and a range that lists them all */
    wt_web_start(&W, S.redis.url, NULL, NULL);
    for (int i = 0; i < NJOBS; i++) {
        char path[64];
        snprintf(path, sizeof path, "/job/%lld", (long long)jobs[i].id);
        wt_resp_t r = wt_get(W.port, path);
        cr_expect_eq(r.status, 200, "%s: %d %s", path, r.status, r.body);
        char want[4096];
        snprintf(want, sizeof want, "{\"id\":\"%lld\"%s", (long long)jobs[i].id,
                 strchr(jobs[i].json, ','));
        cr_expect_str_eq(r.body, want);
        wt_resp_free(&r);
    }
    wt_resp_t r = wt_get(W.port, "/jobs/echo/inactive/0..100/asc");
    cr_expect_eq(r.status, 200);
    cr_expect(kue_json_valid(r.body, r.body_len), "%s", r.body);
    cr_expect_eq(count_of(r.body, "\"id\":"), NJOBS, "%s", r.body);
    for (int i = 0; i < NJOBS; i++) cr_expect(strstr(r.body, jobs[i].stored), "%s", jobs[i].stored);
    wt_resp_free(&r);

    /* the CLI */
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)jobs[0].id);
    char *out = run_kue("get", ids, NULL);
    /* kue get prints the GET /job/:id shape: Kue's toJSON with the id as a string */
    const char *after_id = strchr(jobs[0].json, ',');
    cr_assert_not_null(after_id);
    char want[4096];
    snprintf(want, sizeof want, "{\"id\":\"%lld\"%s\n", (long long)jobs[0].id, after_id);
    cr_expect_str_eq(out, want);
    free(out);
    out = run_kue("ls", "--type", "echo");
    cr_expect(strstr(out, "n=150000000000000000000"), "%s", out);
    cr_expect(strstr(out, "n=9223372036854776000"), "%s", out);
    free(out);

    /* our workers run them: the echo result is the data, unchanged */
    sup_start(&S);
    cr_assert(sup_wait_count(&S, "echo", "complete", NJOBS, 20000), "not all completed; failed: %lld",
              kue_count(S.k, "echo", "failed"));
    cr_expect_eq(kue_count(S.k, "echo", "failed"), 0);
    for (int i = 0; i < NJOBS; i++) {
        kue_job_t *j = kue_job_get(S.k, jobs[i].id);
        cr_assert_not_null(j);
        cr_expect_str_eq(kue_job_field(j, "result"), jobs[i].stored, "job %lld",
                         (long long)jobs[i].id);
        kue_job_free(j);
    }

    /* and Node Kue reads the results as the data it wrote */
    char *read = node_phase("read", jobs, NJOBS);
    struct node_job back[NJOBS];
    cr_assert_eq(parse_lines(read, back, NJOBS), NJOBS, "node printed: %s", read);
    for (int i = 0; i < NJOBS; i++) {
        cr_expect_str_eq(back[i].stored, "complete");
        cr_expect_str_eq(back[i].json, jobs[i].stored);
    }
    free(read);
    free(created);
}

/* What Kue stores for a POST /job body (JSON.stringify of the parsed data). */
Test(data_fidelity, post_job_accepts_what_kue_accepts)
{
    static const char *const plugins[] = { "echo", NULL };
    sup_setup(&S, plugins, "");
    wt_web_start(&W, S.redis.url, NULL, NULL);
    wt_resp_t r = wt_post_json(W.port, "/job",
        "{\"type\":\"t\",\"data\":{\"n\":1.5e20,\"m\":9223372036854775808,\"s\":\"\\ud800\","
        "\"x\":0.10,\"a\":1,\"a\":2},\"options\":{\"priority\":7.5,\"delay\":1000.7,"
        "\"removeOnComplete\":\"yes\"}}");
    cr_assert_eq(r.status, 200, "%d %s", r.status, r.body);
    cr_assert(strstr(r.body, "\"id\":"), "%s", r.body);
    int64_t id = strtoll(strstr(r.body, "\"id\":") + 5, NULL, 10);
    wt_resp_free(&r);
    char buf[512];
    cr_expect_str_eq(sup_field(&S, id, "data", buf, sizeof buf),
                     "{\"n\":150000000000000000000,\"m\":9223372036854776000,\"s\":\"\\ud800\","
                     "\"x\":0.1,\"a\":2}");
    /* options keep the values Kue keeps */
    cr_expect_str_eq(sup_field(&S, id, "priority", buf, sizeof buf), "7.5");
    cr_expect_str_eq(sup_field(&S, id, "delay", buf, sizeof buf), "1000.7");
    cr_expect_str_eq(sup_field(&S, id, "removeOnComplete", buf, sizeof buf), "yes");
    /* and scored by it */
    redisContext *c = kt_redis_connect(&S.redis);
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    redisReply *rr = kt_cmd(c, "ZSCORE q:jobs %02d|%s", (int)strlen(ids), ids);
    cr_expect(rr->type == REDIS_REPLY_STRING && !strcmp(rr->str, "7.5"), "score %s",
              rr->type == REDIS_REPLY_STRING ? rr->str : "?");
    freeReplyObject(rr);
    redisFree(c);
    /* GET /job/:id shows it as Kue would */
    char path[64];
    snprintf(path, sizeof path, "/job/%lld", (long long)id);
    r = wt_get(W.port, path);
    cr_expect(strstr(r.body, "\"priority\":7.5,"), "%s", r.body);
    cr_expect(strstr(r.body, "\"delay\":\"1000.7\""), "%s", r.body);
    wt_resp_free(&r);
}

Test(data_fidelity, echo_result_keeps_floats)
{
    static const char *const plugins[] = { "echo", NULL };
    sup_setup(&S, plugins, "[type echo]\n");
    kue_job_t *j = kue_job_new("echo", "{\"x\":0.1,\"y\":1e21,\"z\":[2.50,-0]}");
    int64_t id = kue_job_save(S.k, j);
    kue_job_free(j);
    cr_assert_gt(id, 0, "%s", kue_errstr(S.k));
    sup_start(&S);
    cr_assert(sup_wait_state(&S, id, "complete", 15000));
    char buf[256];
    cr_expect_str_eq(sup_field(&S, id, "result", buf, sizeof buf),
                     "{\"x\":0.1,\"y\":1e+21,\"z\":[2.5,0]}");
}

Test(data_fidelity, damaged_hashes_stay_listed)
{
    static const char *const plugins[] = { "echo", NULL };
    sup_setup(&S, plugins, "");
    redisContext *c = kt_redis_connect(&S.redis);
    /* 1: data not JSON; 2: no type, no priority; 3: fields that are not
     * numbers and bytes that are not UTF-8; 4: a normal job */
    freeReplyObject(kt_cmd(c, "HSET q:job:1 type t state inactive priority 0 data {not-json"));
    freeReplyObject(kt_cmd(c, "HSET q:job:2 state inactive data {}"));
    freeReplyObject(kt_cmd(c, "HSET q:job:3 type t state inactive priority nan attempts abc "
                              "max_attempts -2147483648 progress x error %b data {}",
                           "bad \xff\xfe utf8", (size_t)11));
    freeReplyObject(kt_cmd(c, "HSET q:job:4 type t state inactive priority 0 data {\"a\":1}"));
    freeReplyObject(kt_cmd(c, "HSET q:job:5 type t state inactive priority 1e300 attempts "
                              "2147483647 max_attempts 1 data {}"));
    for (int i = 1; i <= 5; i++) {
        freeReplyObject(kt_cmd(c, "ZADD q:jobs 0 01|%d", i));
        freeReplyObject(kt_cmd(c, "ZADD q:jobs:inactive 0 01|%d", i));
        freeReplyObject(kt_cmd(c, "ZADD q:jobs:t:inactive 0 01|%d", i));
    }
    redisFree(c);
    wt_web_start(&W, S.redis.url, NULL, NULL);
    const char *pages[] = { "/jobs/0..100/asc", "/jobs/inactive/0..100/asc" };
    for (size_t p = 0; p < 2; p++) {
        wt_resp_t r = wt_get(W.port, pages[p]);
        cr_expect_eq(r.status, 200, "%s", pages[p]);
        cr_expect(kue_json_valid(r.body, r.body_len), "%s: %s", pages[p], r.body);
        cr_expect_eq(count_of(r.body, "\"id\":"), 5, "%s: %s", pages[p], r.body);
        cr_expect(strstr(r.body, "\"data\":\"{not-json\""), "%s", r.body);
        cr_expect(strstr(r.body, "\"priority\":null"), "%s", r.body);
        cr_expect(strstr(r.body, "\"priority\":1e+300"), "%s", r.body);
        cr_expect(strstr(r.body, "\"error\":\"bad \xEF\xBF\xBD\xEF\xBF\xBD utf8\""), "%s", r.body);
        cr_expect(strstr(r.body, "\"attempts\":{\"made\":2147483647,\"remaining\":-2147483646,"
                                 "\"max\":1}"), "%s", r.body);
        cr_expect(strstr(r.body, "\"attempts\":{\"made\":0,\"remaining\":-2147483648,"
                                 "\"max\":-2147483648}"), "%s", r.body);
        wt_resp_free(&r);
    }
    for (int i = 1; i <= 5; i++) {
        char path[32];
        snprintf(path, sizeof path, "/job/%d", i);
        wt_resp_t r = wt_get(W.port, path);
        cr_expect_eq(r.status, 200, "%s: %s", path, r.body);
        cr_expect(kue_json_valid(r.body, r.body_len), "%s: %s", path, r.body);
        cr_expect(!strstr(r.body, "\"error\":\"job"), "%s: %s", path, r.body);
        wt_resp_free(&r);
    }
}

/* Events are written as JSON.stringify writes them: '/' is not escaped, and
 * bytes that are not UTF-8 (an error text from a handler) become U+FFFD. */
Test(data_fidelity, events_are_json_stringify_text)
{
    static const char *const none[] = { NULL };
    sup_setup(&S, none, "");
    kue_job_t *j = kue_job_new("a/b", "{}");
    int64_t id = kue_job_save(S.k, j);
    kue_job_free(j);
    cr_assert_gt(id, 0);
    redisContext *c = kt_redis_connect(&S.redis);
    redisContext *sub = kt_redis_connect(&S.redis);
    freeReplyObject(kt_cmd(sub, "SUBSCRIBE q:events"));
    const char *cl[] = { "q", "a/b", "1", "h", "1", "30000", "0", "1" };
    redisReply *r = kue_script_call(c, KS_CLAIM, 8, cl, NULL);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *fa[] = { "q", ids, "kue:h:1:a/b:1", "x/y \"q\" \x01 \x7f \xff\xe2\x82 \xe2\x9c\x93", "-1", "" };
    r = kue_script_call(c, KS_FAIL, 6, fa, NULL);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY, "%s", r && r->type == REDIS_REPLY_ERROR ? r->str : "");
    freeReplyObject(r);
    const char *want[] = {
        ",\"event\":\"start\",\"args\":[\"start\",\"a/b\",null]}",
        ",\"event\":\"error\",\"args\":[\"error\",\"x/y \\\"q\\\" \\u0001 \x7f "
            "\xef\xbf\xbd\xef\xbf\xbd \xe2\x9c\x93\"]}",
    };
    for (int i = 0; i < 2; i++) {
        redisReply *m = NULL;
        cr_assert_eq(redisGetReply(sub, (void **)&m), REDIS_OK);
        char w[256];
        snprintf(w, sizeof w, "{\"id\":%lld%s", (long long)id, want[i]);
        cr_expect_str_eq(m->element[2]->str, w);
        cr_expect(kue_json_valid(m->element[2]->str, m->element[2]->len));
        freeReplyObject(m);
    }
    redisFree(sub);
    redisFree(c);
}

/* A C producer's data is stored as a Node producer's JSON.stringify would
 * store it, whatever jansson thinks of it. */
Test(data_fidelity, libkue_stores_what_node_would_store)
{
    static const char *const none[] = { NULL };
    sup_setup(&S, none, "");
    static const struct { const char *in, *stored; } cases[] = {
        { "{ \"n\" : 1.5e20 }", "{\"n\":150000000000000000000}" },
        { "{\"n\":9223372036854775808}", "{\"n\":9223372036854776000}" },
        { "{\"s\":\"\\uD800\",\"t\":\"\\u00e9\\/\"}", "{\"s\":\"\\ud800\",\"t\":\"\xc3\xa9/\"}" },
        { "[1.0, 0.1, 1e-7, {\"b\":1,\"a\":2,\"b\":3}]", "[1,0.1,1e-7,{\"b\":3,\"a\":2}]" },
        { "\"text\"", "\"text\"" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kue_job_t *j = kue_job_new("t", cases[i].in);
        int64_t id = kue_job_save(S.k, j);
        kue_job_free(j);
        cr_assert_gt(id, 0, "%s: %s", cases[i].in, kue_errstr(S.k));
        char buf[256];
        cr_expect_str_eq(sup_field(&S, id, "data", buf, sizeof buf), cases[i].stored);
    }
    kue_job_t *j = kue_job_new("t", "{\"a\":1,}");
    cr_expect_eq(kue_job_save(S.k, j), -1);
    cr_expect_eq(kue_errcode(S.k), KUE_ERR_INVALID);
    cr_expect(strstr(kue_errstr(S.k), "not valid JSON"), "%s", kue_errstr(S.k));
    kue_job_free(j);
}
