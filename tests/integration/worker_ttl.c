/*
 * Kue's ttl: a job running longer than its ttl fails its attempt with
 * "TTL exceeded" and the worker takes the next job (Kue #636 had workers
 * stall here); the handler's late kue_done() is ignored with a warning.  A
 * Kue process's "ttl exceeded" event for a job we hold fails it the same
 * way and is answered with "ttl exceeded ack".
 */
#include "worker_common.h"

#include <sys/time.h>

TestSuite(worker_ttl, .init = wt_setup, .fini = wt_teardown, .timeout = 60);

Test(worker_ttl, own_ttl_fails_the_attempt_and_goes_on)
{
    int64_t slow = wt_enqueue_opts("sleep", "{\"ms\":800}", 0, 1, NULL, 200);
    int64_t next = wt_enqueue("sleep", "{\"ms\":10}");
    const char *log = wt_log("ttl");
    pid_t w = wt_worker("sleep", "sleep", 1, log, NULL);
    wt_wait_state(slow, "failed", 5000);
    char b[256];
    cr_assert_str_eq(wt_field(slow, "error", b, sizeof b), "TTL exceeded");
    cr_assert_str_eq(wt_field(slow, "ttl", b, sizeof b), "200");
    wt_wait_state(next, "complete", 5000);
    /* the slow handler calls kue_done() at 800 ms: ignored */
    cr_assert(kt_wait_file_has(log, "kue_done() after the worker took the job away", 1, 5000),
              "the late kue_done() was not reported");
    cr_assert_str_eq(wt_field(slow, "state", b, sizeof b), "failed");
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
}

struct ack { redisContext *sub; int64_t id; int seen; };

static int got_ack(void *arg)
{
    struct ack *a = arg;
    redisReply *r = NULL;
    if (redisGetReply(a->sub, (void **)&r) != REDIS_OK || !r) {
        a->sub->err = 0;            /* read timeout: keep polling */
        return 0;
    }
    char want[128];
    snprintf(want, sizeof want, "{\"id\":%lld,\"event\":\"ttl exceeded ack\"", (long long)a->id);
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 && r->element[2]->type == REDIS_REPLY_STRING &&
        strstr(r->element[2]->str, want))
        a->seen = 1;
    freeReplyObject(r);
    return a->seen;
}

static int events_subscribers_is(void *want)
{
    redisReply *r = kt_cmd(wt_rc, "PUBSUB NUMSUB q:events");
    int yes = r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
              r->element[1]->integer == (long long)(intptr_t)want;
    freeReplyObject(r);
    return yes;
}

Test(worker_ttl, kue_ttl_exceeded_event_is_acked)
{
    int64_t id = wt_enqueue("sleep", "{\"ms\":1500}");
    /* Kue's scanner only reports jobs with a ttl (active score = deadline) */
    freeReplyObject(kt_cmd(wt_rc, "HSET q:job:%lld ttl 10000", (long long)id));
    const char *log = wt_log("kuettl");
    pid_t w = wt_worker("sleep", "sleep", 1, log, NULL);
    wt_wait_state(id, "active", 5000);
    /* the worker subscribes to P:events once it runs a job with a ttl */
    cr_assert(kt_wait_until(events_subscribers_is, (void *)1, 5000), "the worker did not subscribe");

    struct ack a = { kt_redis_connect(&wt_redis), id, 0 };
    redisReply *r = kt_cmd(a.sub, "SUBSCRIBE q:events");
    freeReplyObject(r);
    struct timeval tv = { 0, 100000 };
    redisSetTimeout(a.sub, tv);

    char msg[128];
    snprintf(msg, sizeof msg, "{\"id\":%lld,\"event\":\"ttl exceeded\",\"args\":[\"ttl exceeded\"]}",
             (long long)id);
    r = kt_cmd(wt_rc, "PUBLISH q:events %s", msg);
    freeReplyObject(r);
    cr_assert(kt_wait_until(got_ack, &a, 3000), "no ttl exceeded ack");
    wt_wait_state(id, "failed", 3000);
    char b[64];
    cr_assert_str_eq(wt_field(id, "error", b, sizeof b), "TTL exceeded");
    redisFree(a.sub);
    /* the handler's own kue_done() comes late, and is ignored */
    cr_assert(kt_wait_file_has(log, "kue_done() after the worker took the job away", 1, 5000),
              "the late kue_done() was not reported");
    cr_assert_str_eq(wt_field(id, "state", b, sizeof b), "failed");
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
}

/* Every subscriber of P:events receives every event of the queue, so a
 * worker listens only once it runs a job with a ttl. */
Test(worker_ttl, subscribes_only_for_ttl_jobs)
{
    const char *log = wt_log("numsub");
    pid_t w = wt_worker("echo", "echo", 2, log, NULL);
    int64_t id = wt_enqueue("echo", "{}");
    wt_wait_state(id, "complete", 5000);
    redisReply *r = kt_cmd(wt_rc, "PUBSUB NUMSUB q:events");
    cr_assert_eq(r->element[1]->integer, 0, "a worker without ttl jobs subscribed to P:events");
    freeReplyObject(r);
    kue_job_t *j = kue_job_new("echo", "{}");
    kue_job_set_ttl(j, 5000);
    id = kue_job_save(wt_kue, j);
    kue_job_free(j);
    cr_assert_gt(id, 0);
    wt_wait_state(id, "complete", 5000);
    cr_assert(kt_wait_until(events_subscribers_is, (void *)1, 2000),
              "a worker that ran a ttl job did not subscribe");
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
}
