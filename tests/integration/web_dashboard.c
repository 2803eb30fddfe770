/*
 * What the dashboard needs from kue-web besides Kue's API: a "gap" event
 * on /events when Last-Event-ID asks for more than the replay buffer holds
 * (or names an event this process never sent: it restarted), so the page
 * reloads its lists; and a job's backoff in GET /job/:id.
 */
#include <stdlib.h>

#include <kue/kue.h>
#include "web_common.h"

TestSuite(web_dashboard, .timeout = 90);

static wt_sse_t S;

/* GET /events with Last-Event-ID: last; reads until "needle" or 3 s. */
static int sse_from(int port, long long last, const char *needle)
{
    char lei[64];
    snprintf(lei, sizeof lei, "Last-Event-ID: %lld\r\n", last);
    wt_sse_open(&S, port, "/events", lei);
    int found = wt_sse_wait(&S, needle, 3000);
    wt_sse_close(&S);
    return found;
}

#define PROGRESS "kue_events_total{queue=\"q\",event=\"progress\"}"

static int web_port;
static int seen_progress(void *want)
{
    return wt_metric(web_port, PROGRESS) >= (double)*(long long *)want;
}

Test(web_dashboard, gap_event_when_the_replay_buffer_is_passed)
{
    kt_redis_t r;
    kt_redis_start(&r, 0);
    redisContext *c = kt_redis_connect(&r);
    wt_web_t w;
    wt_web_start(&w, r.url, NULL, NULL);
    web_port = w.port;

    /* an id this process never sent (kue-web restarted): gap at once */
    cr_expect(sse_from(w.port, 999999, "event: gap\n"), "restart gap: %s", S.buf);

    /* wait until the subscriber is up: it counts what it sees */
    long long want = 1;
    for (int i = 0; i < 100; i++) {
        freeReplyObject(kt_cmd(c, "PUBLISH q:events %s", "{\"id\":0,\"event\":\"progress\",\"args\":[\"progress\",1,null]}"));
        if (seen_progress(&want)) break;
        kt_sleep_ms(50);
    }
    cr_assert(seen_progress(&want), "the events relay never saw a message");
    long long base = (long long)wt_metric(w.port, PROGRESS);

    /* within the buffer: a plain replay, no gap */
    cr_expect(sse_from(w.port, 0, "id: 1\n"), "replay from the start: %s", S.buf);
    cr_expect(!strstr(S.buf, "event: gap"), "no gap within the buffer: %s", S.buf);

    /* more messages than the replay buffer (4096) holds */
    redisAppendCommand(c, "MULTI");
    for (int i = 0; i < 4500; i++)
        redisAppendCommand(c, "PUBLISH q:events %s", "{\"id\":0,\"event\":\"progress\",\"args\":[\"progress\",2,null]}");
    redisAppendCommand(c, "EXEC");
    for (int i = 0; i < 4502; i++) {
        redisReply *rr = NULL;
        cr_assert_eq(redisGetReply(c, (void **)&rr), REDIS_OK);
        freeReplyObject(rr);
    }
    want = base + 4500;
    cr_assert(kt_wait_until(seen_progress, &want, 10000), "the relay did not see 4500 messages");
    cr_expect(sse_from(w.port, 1, "event: gap\ndata: {\"gap\":true"), "gap after overflow: %s", S.buf);
    /* the gap comes before the replayed events */
    const char *g = strstr(S.buf, "event: gap"), *ev = strstr(S.buf, "\nid: ");
    cr_expect(g && ev && g < ev, "gap first: %s", S.buf);

    cr_expect_eq(wt_web_stop(&w), 0);
    redisFree(c);
    kt_redis_stop(&r);
    kt_cleanup();
}

Test(web_dashboard, job_detail_carries_the_backoff)
{
    kt_redis_t r;
    kt_redis_start(&r, 0);
    char err[256];
    kue_t *k = kue_connect(r.url, "q", err, sizeof err);
    cr_assert_not_null(k, "%s", err);
    kue_job_t *j = kue_job_new("email", "{}");
    cr_assert_eq(kue_job_set_backoff(j, "{\"type\":\"exponential\",\"delay\":2000}"), 0);
    int64_t id = kue_job_save(k, j);
    cr_assert_gt(id, 0);
    kue_job_free(j);
    kue_job_t *plain = kue_job_new("email", "{}");
    int64_t pid = kue_job_save(k, plain);
    kue_job_free(plain);

    wt_web_t w;
    wt_web_start(&w, r.url, NULL, NULL);
    char path[64];
    snprintf(path, sizeof path, "/job/%lld", (long long)id);
    wt_resp_t resp = wt_get(w.port, path);
    cr_expect_eq(resp.status, 200);
    cr_expect(strstr(resp.body, ",\"backoff\":{\"type\":\"exponential\",\"delay\":2000}}"), "%s", resp.body);
    wt_resp_free(&resp);
    snprintf(path, sizeof path, "/job/%lld", (long long)pid);
    resp = wt_get(w.port, path);
    cr_expect(!strstr(resp.body, "backoff"), "no backoff, no field: %s", resp.body);
    wt_resp_free(&resp);

    cr_expect_eq(wt_web_stop(&w), 0);
    kue_free(k);
    kt_redis_stop(&r);
    kt_cleanup();
}
