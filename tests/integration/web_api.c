/*
 * kue-web's JSON API (Kue's routes, docs/kue-web.md) against a real
 * server process and a private redis-server: each route's status and body,
 * and what it changed in Redis.
 */
#include <jansson.h>
#include <signal.h>

#include <kue/kue.h>
#include "web_common.h"

static wt_env_t E;

static void setup(void)
{
    wt_env_open(&E, 1);
}

static void teardown(void)
{
    wt_env_close(&E);
}

TestSuite(web_api, .init = setup, .fini = teardown, .timeout = 60);

static json_t *body_json(const wt_resp_t *r)
{
    json_error_t e;
    json_t *j = json_loads(r->body, JSON_DECODE_ANY, &e);
    cr_assert_not_null(j, "not JSON (%s): %s", e.text, r->body);
    return j;
}

static int64_t add_job(const char *type, const char *data, int prio)
{
    return wt_job(E.k, type, data, prio);
}

static void expect(int port, const char *method, const char *path, int status, const char *body)
{
    wt_resp_t r = wt_request(port, method, path, NULL, NULL, 0);
    cr_expect_eq(r.status, status, "%s %s: status %d, body %s", method, path, r.status, r.body);
    if (body) cr_expect_str_eq(r.body, body, "%s %s", method, path);
    wt_resp_free(&r);
}

Test(web_api, post_single_then_get_by_string_id)
{
    wt_resp_t r = wt_post_json(E.w.port, "/job",
        "{\"type\":\"email\",\"data\":{\"title\":\"hi\",\"n\":0.1,\"to\":\"a@b.c\"},"
        "\"options\":{\"priority\":\"high\",\"attempts\":3}}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(r.body, "{\"message\":\"job created\",\"id\":1}");
    cr_assert(strcasestr(r.headers, "Content-Type: application/json"));
    wt_resp_free(&r);

    char buf[256];
    cr_expect_str_eq(kt_str(E.c, buf, sizeof buf, "HGET q:job:1 type"), "email");
    cr_expect_str_eq(kt_str(E.c, buf, sizeof buf, "HGET q:job:1 priority"), "-10");
    cr_expect_str_eq(kt_str(E.c, buf, sizeof buf, "HGET q:job:1 max_attempts"), "3");
    cr_expect_str_eq(kt_str(E.c, buf, sizeof buf, "HGET q:job:1 data"),
                     "{\"title\":\"hi\",\"n\":0.1,\"to\":\"a@b.c\"}");
    cr_expect_eq(kt_int(E.c, "ZCARD q:jobs:email:inactive"), 1);

    r = wt_get(E.w.port, "/job/1");
    cr_assert_eq(r.status, 200);
    json_t *j = body_json(&r);
    cr_expect(json_is_string(json_object_get(j, "id")), "GET /job/:id has a string id: %s", r.body);
    cr_expect_str_eq(json_string_value(json_object_get(j, "id")), "1");
    cr_expect_eq(json_integer_value(json_object_get(j, "priority")), -10);
    cr_expect_str_eq(json_string_value(json_object_get(j, "state")), "inactive");
    cr_expect(json_is_string(json_object_get(j, "created_at")));
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(j, "attempts"), "max")), 3);
    json_decref(j);
    wt_resp_free(&r);

    expect(E.w.port, "GET", "/job/999", 200, "{\"error\":\"job \\\"999\\\" doesnt exist\"}");
    expect(E.w.port, "GET", "/job/abc", 200, "{\"error\":\"job \\\"abc\\\" doesnt exist\"}");
}

Test(web_api, post_bulk_rules)
{
    wt_resp_t r = wt_post_json(E.w.port, "/job",
        "[{\"type\":\"a\"},{\"data\":{\"x\":1}},{\"type\":\"b\",\"options\":{\"delay\":60000}}]");
    cr_expect_eq(r.status, 400);
    cr_expect_str_eq(r.body, "[{\"message\":\"job created\",\"id\":1},"
                             "{\"error\":\"Must provide job type\"},"
                             "{\"message\":\"job created\",\"id\":2}]");
    wt_resp_free(&r);
    cr_expect_eq(kt_int(E.c, "ZCARD q:jobs:delayed"), 1);

    r = wt_post_json(E.w.port, "/job", "[{\"type\":\"a\"},{\"type\":\"a\"}]");
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(r.body, "[{\"message\":\"job created\",\"id\":3},"
                             "{\"message\":\"job created\",\"id\":4}]");
    wt_resp_free(&r);

    r = wt_post_json(E.w.port, "/job", "{\"data\":{}}");
    cr_expect_eq(r.status, 400);
    cr_expect_str_eq(r.body, "{\"error\":\"Must provide job type\"}");
    wt_resp_free(&r);

    /* a bad option is 400, naming the value (tests/integration/api_cli_errors.c) */
    r = wt_post_json(E.w.port, "/job", "{\"type\":\"a\",\"options\":{\"priority\":\"urgent\"}}");
    cr_expect_eq(r.status, 400, "%s", r.body);
    cr_expect(strstr(r.body, "urgent"), "%s", r.body);
    wt_resp_free(&r);
}

/* unique and group options (docs/kue-web.md): a second save of the key
 * answers the holder's id with "existing":true and creates nothing */
Test(web_api, post_unique_and_group)
{
    wt_resp_t r = wt_post_json(E.w.port, "/job",
        "{\"type\":\"u\",\"options\":{\"unique\":\"k\",\"group\":\"acme\"}}");
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(r.body, "{\"message\":\"job created\",\"id\":1}");
    wt_resp_free(&r);
    r = wt_post_json(E.w.port, "/job", "[{\"type\":\"u\",\"options\":{\"unique\":\"k\"}},"
                                     "{\"type\":\"u\",\"options\":{\"unique\":\"j\"}}]");
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(r.body, "[{\"message\":\"job exists\",\"id\":1,\"existing\":true},"
                             "{\"message\":\"job created\",\"id\":2}]");
    wt_resp_free(&r);
    char buf[64];
    cr_expect_str_eq(kt_str(E.c, buf, sizeof buf, "HGET q:job:1 group"), "acme");
    cr_expect_str_eq(kt_str(E.c, buf, sizeof buf, "GET q:unique:1:u:k"), "1");
    cr_expect_eq(kt_int(E.c, "ZCARD q:jobs:u:inactive"), 2);
    r = wt_post_json(E.w.port, "/job", "{\"type\":\"u\",\"options\":{\"unique\":7}}");
    cr_expect_eq(r.status, 400, "%s", r.body);
    wt_resp_free(&r);
    r = wt_post_json(E.w.port, "/job", "{\"type\":\"u\",\"options\":{\"group\":\"\"}}");
    cr_expect_eq(r.status, 400, "%s", r.body);
    wt_resp_free(&r);
}

Test(web_api, post_empty_is_204_and_malformed_is_400)
{
    const char *empties[] = { "{}", "[]", "" };
    for (int i = 0; i < 3; i++) {
        wt_resp_t r = wt_post_json(E.w.port, "/job", empties[i]);
        cr_expect_eq(r.status, 204, "body '%s' -> %d", empties[i], r.status);
        cr_expect_eq(r.body_len, 0);
        wt_resp_free(&r);
    }
    /* not JSON content: body-parser leaves {} -> 204, nothing created */
    wt_resp_t r = wt_request(E.w.port, "POST", "/job", "Content-Type: text/plain\r\n",
                             "{\"type\":\"x\"}", 12);
    cr_expect_eq(r.status, 204);
    wt_resp_free(&r);
    cr_expect_eq(kt_int(E.c, "EXISTS q:ids"), 0);

    r = wt_post_json(E.w.port, "/job", "{\"type\":");
    cr_expect_eq(r.status, 400);
    json_t *j = body_json(&r);
    cr_expect(json_is_string(json_object_get(j, "error")), "%s", r.body);
    json_decref(j);
    wt_resp_free(&r);
    r = wt_post_json(E.w.port, "/job", "\"just a string\"");
    cr_expect_eq(r.status, 400);
    wt_resp_free(&r);
}

Test(web_api, ranges_pick_by_rank_then_sort_by_id)
{
    int64_t a = add_job("email", "{\"title\":\"low\"}", KUE_PRIORITY_LOW);        /* 1 */
    int64_t b = add_job("email", "{\"title\":\"crit\"}", KUE_PRIORITY_CRITICAL);  /* 2 */
    int64_t c = add_job("video", NULL, KUE_PRIORITY_NORMAL);                      /* 3 */
    int64_t d = add_job("email", NULL, KUE_PRIORITY_HIGH);                        /* 4 */
    (void)a; (void)c;

    /* ranks 0..1 of q:jobs:inactive are b (-15) and d (-10); page sorted by id */
    wt_resp_t r = wt_get(E.w.port, "/jobs/inactive/0..1");
    cr_assert_eq(r.status, 200);
    json_t *j = body_json(&r);
    cr_assert_eq(json_array_size(j), 2, "%s", r.body);
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(j, 0), "id")), b);
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(j, 1), "id")), d);
    cr_expect(json_is_integer(json_object_get(json_array_get(j, 0), "id")), "range ids are numbers");
    json_decref(j);
    wt_resp_free(&r);

    r = wt_get(E.w.port, "/jobs/0..3/desc");
    j = body_json(&r);
    cr_assert_eq(json_array_size(j), 4);
    for (int i = 0; i < 4; i++)
        cr_expect_eq(json_integer_value(json_object_get(json_array_get(j, (size_t)i), "id")), 4 - i);
    json_decref(j);
    wt_resp_free(&r);

    r = wt_get(E.w.port, "/jobs/email/inactive/0..20/asc");
    j = body_json(&r);
    cr_assert_eq(json_array_size(j), 3, "%s", r.body);
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(j, 0), "id")), 1);
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(j, 2), "id")), 4);
    json_decref(j);
    wt_resp_free(&r);

    expect(E.w.port, "GET", "/jobs/email/inactive/stats", 200, "{\"count\":3}");
    expect(E.w.port, "GET", "/jobs/nope/failed/stats", 200, "{\"count\":0}");
    expect(E.w.port, "GET", "/jobs/a..b", 200,
           "{\"error\":\"ERR value is not an integer or out of range\"}");
    expect(E.w.port, "GET", "/jobs/inactive/5..9", 200, "[]");

    r = wt_get(E.w.port, "/job/types");
    j = body_json(&r);
    cr_expect_eq(json_array_size(j), 2);
    json_decref(j);
    wt_resp_free(&r);

    r = wt_get(E.w.port, "/stats");
    cr_expect_str_eq(r.body, "{\"inactiveCount\":4,\"completeCount\":0,\"activeCount\":0,"
                             "\"failedCount\":0,\"delayedCount\":0,\"workTime\":null}");
    wt_resp_free(&r);
}

Test(web_api, state_priority_remove_restart_log)
{
    int64_t id = add_job("email", NULL, 0);
    cr_assert_eq(id, 1);
    char buf[64];

    expect(E.w.port, "PUT", "/job/1/state/failed", 200, "{\"message\":\"updated state\"}");
    cr_expect_str_eq(kt_str(E.c, buf, sizeof buf, "HGET q:job:1 state"), "failed");
    cr_expect_eq(kt_int(E.c, "ZCARD q:jobs:failed"), 1);
    cr_expect_eq(kt_int(E.c, "ZCARD q:jobs:email:inactive"), 0);

    expect(E.w.port, "GET", "/inactive/1", 200, "{\"message\":\"job 1 inactive\"}");
    cr_expect_str_eq(kt_str(E.c, buf, sizeof buf, "HGET q:job:1 state"), "inactive");
    cr_expect_eq(kt_int(E.c, "ZCARD q:jobs:failed"), 0);

    expect(E.w.port, "PUT", "/job/1/priority/abc", 200, "{\"error\":\"invalid priority\"}");
    expect(E.w.port, "PUT", "/job/1/priority/-5", 200, "{\"message\":\"updated priority\"}");
    cr_expect_str_eq(kt_str(E.c, buf, sizeof buf, "HGET q:job:1 priority"), "-5");
    cr_expect_str_eq(kt_str(E.c, buf, sizeof buf, "ZSCORE q:jobs:inactive 01|1"), "-5");
    expect(E.w.port, "PUT", "/job/77/state/active", 200, "{\"error\":\"job \\\"77\\\" doesnt exist\"}");

    cr_assert_eq(kue_job_add_log(E.k, 1, "first line"), 0);
    cr_assert_eq(kue_job_add_log(E.k, 1, "second \"quoted\""), 0);
    expect(E.w.port, "GET", "/job/1/log", 200, "[\"first line\",\"second \\\"quoted\\\"\"]");
    expect(E.w.port, "GET", "/job/42/log", 200, "[]");

    expect(E.w.port, "DELETE", "/job/1", 200, "{\"message\":\"job 1 removed\"}");
    cr_expect_eq(kt_int(E.c, "EXISTS q:job:1"), 0);
    cr_expect_eq(kt_int(E.c, "EXISTS q:job:1:log"), 0);
    expect(E.w.port, "DELETE", "/job/1", 200, "{\"error\":\"job \\\"1\\\" doesnt exist\"}");
}

Test(web_api, unknown_routes_and_bad_paths)
{
    wt_resp_t r = wt_get(E.w.port, "/nope");
    cr_expect_eq(r.status, 404);
    json_t *j = body_json(&r);
    cr_expect(json_is_string(json_object_get(j, "error")));
    json_decref(j);
    wt_resp_free(&r);
    expect(E.w.port, "POST", "/stats", 404, NULL);
    expect(E.w.port, "PATCH", "/job/1", 404, NULL);
    expect(E.w.port, "GET", "/jobs/%zz/inactive/0..1", 400, NULL);
    /* trailing slash and case, as Express */
    expect(E.w.port, "GET", "/STATS/", 200, NULL);
}

Test(web_api, dashboard_and_assets)
{
    const char *pages[] = { "/", "/failed", "/inactive", "/active", "/complete", "/delayed" };
    for (int i = 0; i < 6; i++) {
        wt_resp_t r = wt_get(E.w.port, pages[i]);
        cr_expect_eq(r.status, 200, "%s", pages[i]);
        cr_expect(strcasestr(r.headers, "Content-Type: text/html"), "%s", pages[i]);
        cr_expect(strstr(r.body, "assets/app.js"), "%s", pages[i]);
        wt_resp_free(&r);
    }
    wt_resp_t r = wt_get(E.w.port, "/assets/app.js");
    cr_expect_eq(r.status, 200);
    cr_expect(strcasestr(r.headers, "Content-Type: text/javascript"));
    wt_resp_free(&r);
    expect(E.w.port, "GET", "/assets/app.css", 200, NULL);
    expect(E.w.port, "GET", "/assets/missing.js", 404, NULL);
    expect(E.w.port, "GET", "/assets/..%2Fweb.h", 404, NULL);
}

Test(web_api, metrics_health_workers)
{
    add_job("email", NULL, 0);
    add_job("email", NULL, 0);
    add_job("video", NULL, 0);
    wt_resp_t r = wt_get(E.w.port, "/metrics");
    cr_assert_eq(r.status, 200);
    cr_expect(strcasestr(r.headers, "Content-Type: text/plain; version=0.0.4"));
    cr_expect(strstr(r.body, "kue_redis_up{queue=\"q\"} 1\n"), "%s", r.body);
    cr_expect(strstr(r.body, "kue_jobs{queue=\"q\",state=\"inactive\"} 3\n"));
    cr_expect(strstr(r.body, "kue_jobs_by_type{queue=\"q\",type=\"email\",state=\"inactive\"} 2\n"), "%s", r.body);
    cr_expect(strstr(r.body, "kue_jobs_by_type{queue=\"q\",type=\"video\",state=\"inactive\"} 1\n"));
    cr_expect(strstr(r.body, "kue_promotion_lag_seconds"));
    wt_resp_free(&r);

    expect(E.w.port, "GET", "/healthz", 200, "{\"status\":\"ok\"}");
    expect(E.w.port, "GET", "/readyz", 200,
           "{\"ready\":true,\"redis\":true,\"workers\":null,\"draining\":false,"
           "\"queues\":1,\"queues_up\":1}");
    r = wt_get(E.w.port, "/workers");
    cr_expect_eq(r.status, 200);
    cr_expect(strstr(r.body, "\"scoreboard\":false"), "%s", r.body);
    wt_resp_free(&r);
    r = wt_get(E.w.port, "/config");
    cr_expect(strstr(r.body, "\"title\":\"Kue\""), "%s", r.body);
    wt_resp_free(&r);
}

static wt_sse_t S;

static void sse_open(const char *path)
{
    wt_sse_open(&S, E.w.port, path, NULL);
}

static int sse_has(const char *needle)
{
    return wt_sse_has(&S, needle);
}

static int sse_wait(const char *needle, int ms)
{
    return wt_sse_wait(&S, needle, ms);
}

Test(web_api, events_are_relayed_as_sse)
{
    /* the subscriber connects in the background: wait until it sees traffic */
    sse_open("/events");
    cr_expect(strcasestr(S.buf, "Content-Type: text/event-stream"), "%s", S.buf);
    int64_t id = 0;
    for (int i = 0; i < 50 && !sse_has("\"event\":\"enqueue\""); i++) {
        id = add_job("email", NULL, 0);
        kt_sleep_ms(100);
    }
    cr_expect(sse_wait("\"event\":\"enqueue\"", 5000), "%s", S.buf);
    cr_expect(sse_has("data: {\"id\":"), "%s", S.buf);
    wt_sse_close(&S);

    /* filtered by type: only video events */
    sse_open("/events?type=video");
    add_job("email", NULL, 0);
    int64_t v = add_job("video", NULL, 0);
    char needle[64];
    snprintf(needle, sizeof needle, "\"id\":%lld,", (long long)v);
    cr_expect(sse_wait(needle, 5000), "%s", S.buf);
    cr_expect(!strstr(S.buf, "[\"enqueue\",\"email\"]"), "type filter leaked: %s", S.buf);
    wt_sse_close(&S);

    /* one job's events; a reconnect with Last-Event-ID replays what it missed */
    int64_t one = add_job("email", NULL, 0);
    char path[64];
    snprintf(path, sizeof path, "/events?id=%lld", (long long)one);
    sse_open(path);
    cr_assert_eq(kue_job_add_log(E.k, one, "x"), 0);
    cr_assert_eq(kue_job_set_state(E.k, one, "failed"), 0);
    cr_assert_eq(kue_job_set_state(E.k, one, "inactive"), 0);
    snprintf(needle, sizeof needle, "{\"id\":%lld,\"event\":\"enqueue\"", (long long)one);
    cr_expect(sse_wait(needle, 5000), "%s", S.buf);
    int64_t other = add_job("email", NULL, 0);
    /* an event of `one` published after `other`'s enqueue: once it is
     * through, a leaked event of `other` would be too (the relay keeps
     * the channel's order) */
    cr_assert_eq(kue_job_remove(E.k, one), 0);
    snprintf(needle, sizeof needle, "{\"id\":%lld,\"event\":\"remove\"", (long long)one);
    cr_expect(sse_wait(needle, 5000), "%s", S.buf);
    char oth[64];
    snprintf(oth, sizeof oth, "{\"id\":%lld,", (long long)other);
    cr_expect(!sse_has(oth), "id filter leaked job %lld: %s", (long long)other, S.buf);
    wt_sse_close(&S);
    const char *idl = strstr(S.buf, "id: ");
    cr_assert_not_null(idl, "%s", S.buf);
    long long seq = atoll(idl + 4);
    char lei[64];
    snprintf(lei, sizeof lei, "Last-Event-ID: %lld\r\n", seq - 1);
    wt_sse_open(&S, E.w.port, "/events", lei);
    char seqs[32];
    snprintf(seqs, sizeof seqs, "id: %lld\n", seq);
    cr_expect(sse_wait(seqs, 5000), "replay from Last-Event-ID: %s", S.buf);
    wt_sse_close(&S);

    /* a progress event from a Kue producer with a string id passes through */
    sse_open("/events");
    redisReply *rr = kt_cmd(E.c, "PUBLISH q:events %s",
                            "{\"id\":\"7\",\"event\":\"progress\",\"args\":[\"progress\",50,null]}");
    freeReplyObject(rr);
    cr_expect(sse_wait("\"progress\",50", 5000), "%s", S.buf);
    wt_sse_close(&S);
    (void)id;

    wt_resp_t r = wt_get(E.w.port, "/metrics");
    cr_expect(strstr(r.body, "kue_events_up{queue=\"q\"} 1"), "%s", r.body);
    cr_expect(strstr(r.body, "kue_events_total{queue=\"q\",event=\"enqueue\"}"));
    wt_resp_free(&r);
}

Test(web_api, redis_down_503_then_recovers)
{
    add_job("email", NULL, 0);
    expect(E.w.port, "GET", "/stats", 200, NULL);
    kt_redis_stop_keep(&E.r, 1);
    wt_resp_t r = wt_get(E.w.port, "/stats");
    cr_expect_eq(r.status, 503, "%s", r.body);
    json_t *j = body_json(&r);
    cr_expect(json_is_string(json_object_get(j, "error")));
    json_decref(j);
    wt_resp_free(&r);
    expect(E.w.port, "GET", "/job/1", 503, NULL);
    expect(E.w.port, "GET", "/readyz", 503, NULL);
    expect(E.w.port, "GET", "/healthz", 200, NULL);
    r = wt_get(E.w.port, "/metrics");
    cr_expect_eq(r.status, 200);
    cr_expect(strstr(r.body, "kue_redis_up{queue=\"q\"} 0\n"), "%s", r.body);
    wt_resp_free(&r);

    redisFree(E.c);
    E.c = NULL;
    kt_redis_restart(&E.r, 0);
    E.c = kt_redis_connect(&E.r);
    /* the server reconnects by itself */
    int ok = 0;
    for (int i = 0; i < 50 && !ok; i++) {
        r = wt_get(E.w.port, "/stats");
        ok = r.status == 200;
        wt_resp_free(&r);
        if (!ok) kt_sleep_ms(100);
    }
    cr_expect(ok, "kue-web did not recover after Redis came back");
    /* Every server thread is back within its reconnect back-off (250 ms):
     * a POST may still see 503 from a thread that has not retried yet. */
    ok = 0;
    for (int i = 0; i < 20 && !ok; i++) {
        r = wt_post_json(E.w.port, "/job", "{\"type\":\"after\"}");
        ok = r.status == 200;
        if (!ok) cr_expect_eq(r.status, 503, "%s", r.body);
        wt_resp_free(&r);
        if (!ok) kt_sleep_ms(100);
    }
    cr_expect(ok, "POST /job never succeeded after Redis came back");
    cr_expect_eq(kt_int(E.c, "SISMEMBER q:job:types after"), 1);
}

Test(web_api, clean_exit_on_term)
{
    int status = wt_web_stop(&E.w);
    E.w.pid = 0;
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
}
