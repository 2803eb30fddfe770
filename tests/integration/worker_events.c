/*
 * Events on q:events as Kue 0.11 publishes them while our worker runs jobs
 * (start, progress with data, complete with result, error, failed attempt,
 * failed), and a Redis URL with a password and a db (AUTH + SELECT on every
 * worker connection).
 */
#include "worker_common.h"

#include <sys/time.h>

TestSuite(worker_events, .init = wt_setup, .fini = wt_teardown, .timeout = 60);

static redisContext *subscribe(void)
{
    redisContext *s = kt_redis_connect(&wt_redis);
    redisReply *r = kt_cmd(s, "SUBSCRIBE q:events");
    freeReplyObject(r);
    struct timeval tv = { 0, 100000 };
    redisSetTimeout(s, tv);
    return s;
}

/* Collect messages into buf (one per line) until one contains until. */
static void collect(redisContext *s, char *buf, size_t len, const char *until, int timeout_ms)
{
    int64_t deadline = kt_now_ms() + timeout_ms;
    size_t off = 0;
    buf[0] = '\0';
    while (kt_now_ms() < deadline) {
        redisReply *r = NULL;
        if (redisGetReply(s, (void **)&r) != REDIS_OK || !r) {
            s->err = 0;
            continue;
        }
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
            r->element[2]->type == REDIS_REPLY_STRING) {
            int n = snprintf(buf + off, len - off, "%s\n", r->element[2]->str);
            if (n > 0 && (size_t)n < len - off) off += (size_t)n;
            int done = strstr(r->element[2]->str, until) != NULL;
            freeReplyObject(r);
            if (done) return;
            continue;
        }
        freeReplyObject(r);
    }
    cr_assert_fail("no event containing %s; got:\n%s", until, buf);
}

Test(worker_events, progress_and_complete)
{
    redisContext *s = subscribe();
    int64_t id = wt_enqueue("slideshow", "{\"slides\":2,\"ms\":10}");
    pid_t w = wt_worker("slideshow", "slideshow", 1, wt_log("ev"), NULL);
    char buf[8192], want[256];
    collect(s, buf, sizeof buf, "\"event\":\"complete\"", 5000);
    snprintf(want, sizeof want, "{\"id\":%lld,\"event\":\"start\",\"args\":[\"start\",\"slideshow\",null]}",
             (long long)id);
    cr_assert(strstr(buf, want), "no %s in:\n%s", want, buf);
    snprintf(want, sizeof want, "{\"id\":%lld,\"event\":\"progress\",\"args\":[\"progress\",50,{\"slide\":1}]}",
             (long long)id);
    cr_assert(strstr(buf, want), "no %s in:\n%s", want, buf);
    snprintf(want, sizeof want, "{\"id\":%lld,\"event\":\"complete\",\"args\":[\"complete\",{\"slides\":2},null]}",
             (long long)id);
    cr_assert(strstr(buf, want), "no %s in:\n%s", want, buf);
    redisFree(s);
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
}

Test(worker_events, failed_attempt_and_failed)
{
    redisContext *s = subscribe();
    int64_t id = wt_enqueue_opts("flaky", "{\"fail\":5}", 0, 2, NULL, 0);
    pid_t w = wt_worker("flaky", "flaky", 1, wt_log("evf"), NULL);
    char buf[8192], want[256];
    collect(s, buf, sizeof buf, "\"event\":\"failed\"", 5000);
    snprintf(want, sizeof want, "{\"id\":%lld,\"event\":\"failed attempt\",\"args\":[\"failed attempt\","
             "\"flaky: attempt 1 of 5 planned failures\",1]}", (long long)id);
    cr_assert(strstr(buf, want), "no %s in:\n%s", want, buf);
    snprintf(want, sizeof want, "{\"id\":%lld,\"event\":\"failed\",\"args\":[\"failed\","
             "\"flaky: attempt 2 of 5 planned failures\",null]}", (long long)id);
    cr_assert(strstr(buf, want), "no %s in:\n%s", want, buf);
    snprintf(want, sizeof want, "{\"id\":%lld,\"event\":\"error\",", (long long)id);
    cr_assert(strstr(buf, want), "no error event in:\n%s", buf);
    redisFree(s);
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
}

Test(worker_events, password_and_db)
{
    redisReply *r = kt_cmd(wt_rc, "CONFIG SET requirepass s3cret");
    freeReplyObject(r);
    char url[600];
    snprintf(url, sizeof url, "%s%sdb=3&password=s3cret", wt_redis.url,
             strchr(wt_redis.url, '?') ? "&" : "?");
    if (strstr(wt_redis.url, "?db=")) {     /* replace an existing db parameter */
        snprintf(url, sizeof url, "%.*s?db=3&password=s3cret",
                 (int)(strstr(wt_redis.url, "?db=") - wt_redis.url), wt_redis.url);
    }
    char err[256];
    kue_t *k = kue_connect(url, "q", err, sizeof err);
    cr_assert_not_null(k, "%s", err);
    kue_job_t *j = kue_job_new("echo", "{\"db\":3}");
    int64_t id = kue_job_save(k, j);
    kue_job_free(j);
    cr_assert_gt(id, 0, "%s", kue_errstr(k));

    static char bin[1024];
    kt_bin("kue-worker", bin, sizeof bin);
    char *argv[] = { bin, "--redis", url, "--type", "echo", "--plugin", (char *)wt_plugin("echo"),
                     NULL };
    pid_t w = kt_spawn(argv, wt_log("auth"));
    int64_t deadline = kt_now_ms() + 5000;
    kue_job_t *got = NULL;
    while (kt_now_ms() < deadline) {
        got = kue_job_get(k, id);
        if (got && kue_job_state(got) && strcmp(kue_job_state(got), "complete") == 0) break;
        kue_job_free(got);
        got = NULL;
        kt_sleep_ms(20);
    }
    cr_assert_not_null(got, "job in db 3 not completed");
    cr_assert_str_eq(kue_job_field(got, "result"), "{\"db\":3}");
    kue_job_free(got);
    kue_free(k);
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
    r = kt_cmd(wt_rc, "AUTH s3cret");       /* so the teardown's connection still works */
    freeReplyObject(r);
}
