/*
 * The hand-off (docs/wire.md section 13): a worker whose claim found its
 * queue empty parks (P:parked:<type>), and a one-job save that meets it
 * makes the job active for it in the same call and pushes the job to its
 * wake list, which the worker's wait takes.  What a user relies on: the
 * job is run at once and exactly as a claimed one; a registration of a
 * process that is gone, a paused type or waiting jobs mean no hand-off; a
 * job handed to a process that died is recovered like any job it held; a
 * drained worker leaves nothing parked.
 */
#include <unistd.h>

#include "worker_common.h"
#include "../../libkue/scripts.h"

TestSuite(worker_handoff, .init = wt_setup, .fini = wt_teardown, .timeout = 60);

static long long parked(void) { return kt_int(wt_rc, "LLEN q:parked:echo"); }

static int is_parked(void *arg)
{
    (void)arg;
    return parked() == 1 && kt_clients_in(wt_rc, "blpop") == 1;
}

/* A fake registration of process host:pid, with a lease ending in
 * lease_ms (0: no lease at all). */
static void fake_parked(const char *type, const char *host, long pid, int slot, int64_t lease_ms)
{
    if (lease_ms)
        freeReplyObject(kt_cmd(wt_rc, "ZADD q:leases %lld %s:%ld",
                               (long long)(kt_redis_now_ms(wt_rc) + lease_ms), host, pid));
    freeReplyObject(kt_cmd(wt_rc, "LPUSH q:parked:%s %s|%ld|%d|30000", type, host, pid, slot));
}

Test(worker_handoff, a_parked_worker_gets_the_job_in_the_save)
{
    const char *log = wt_log("handoff");
    pid_t w = wt_worker("echo", "echo", 2, log, NULL);
    cr_assert(kt_wait_until(is_parked, NULL, 5000), "the idle worker never parked");
    char host[256], reg[512], want[512], b[512];
    gethostname(host, sizeof host);
    kt_str(wt_rc, reg, sizeof reg, "LINDEX q:parked:echo 0");
    snprintf(want, sizeof want, "%s|%d|1|", host, (int)w);
    cr_assert(!strncmp(reg, want, strlen(want)), "registration %s, not %s...", reg, want);

    /* stopped, the worker cannot claim: only the save can make it active */
    kill(w, SIGSTOP);
    int64_t id = wt_enqueue("echo", "{\"x\":1}");
    cr_assert_str_eq(wt_field(id, "state", b, sizeof b), "active", "not handed off by the save");
    snprintf(want, sizeof want, "kue:%s:%d:echo:1", host, (int)w);
    cr_assert_str_eq(wt_field(id, "workerId", b, sizeof b), want);
    char created[32];
    cr_assert_str_eq(wt_field(id, "started_at", b, sizeof b),
                     wt_field(id, "created_at", created, sizeof created));
    cr_assert_eq(kt_int(wt_rc, "LLEN q:echo:jobs"), 0, "a handed-off job has a token");
    cr_assert_eq(kt_int(wt_rc, "ZCARD q:jobs:echo:inactive"), 0);
    cr_assert_eq(kt_int(wt_rc, "ZCARD q:jobs:echo:active"), 1);
    cr_assert_eq(kt_int(wt_rc, "ZCARD q:jobs:active"), 1);
    cr_assert_eq(kt_int(wt_rc, "SISMEMBER q:held:%s:%d %lld", host, (int)w, (long long)id), 1);
    cr_assert_eq(parked(), 0, "the registration was not spent");
    /* the next save finds nobody parked: a plain inactive job with its token */
    int64_t id2 = wt_enqueue("echo", "{\"x\":2}");
    cr_assert_str_eq(wt_field(id2, "state", b, sizeof b), "inactive");
    cr_assert_eq(kt_int(wt_rc, "LLEN q:echo:jobs"), 1);

    kill(w, SIGCONT);
    wt_wait_state(id, "complete", 5000);
    wt_wait_state(id2, "complete", 5000);
    cr_assert_str_eq(wt_field(id, "result", b, sizeof b), "{\"x\":1}");
    cr_assert_str_eq(wt_field(id, "attempts", b, sizeof b), "1");
    cr_assert_eq(kt_int(wt_rc, "LLEN q:echo:jobs"), 0, "a token was left");
    cr_assert(kt_wait_until(is_parked, NULL, 5000), "idle again, the worker did not park");

    /* a drain leaves the parked list and no wake list */
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
    cr_assert_eq(parked(), 0, "a drained worker stayed parked");
    redisReply *r = kt_cmd(wt_rc, "KEYS q:wake:*");
    cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 0, "a wake list was left");
    freeReplyObject(r);
}

/* Many jobs one at a time through one idle worker: each is handed off
 * (no token ever) and each runs once. */
Test(worker_handoff, one_job_after_another)
{
    pid_t w = wt_worker("echo", "echo", 1, wt_log("seq"), NULL);
    cr_assert(kt_wait_until(is_parked, NULL, 5000));
    for (int i = 0; i < 50; i++) {
        int64_t id = wt_enqueue("echo", "{}");
        wt_wait_state(id, "complete", 5000);
        cr_assert(kt_wait_until(is_parked, NULL, 5000), "job %d: not parked again", i);
    }
    cr_assert_eq(kt_int(wt_rc, "GET q:ids"), 50);
    cr_assert_eq(kt_int(wt_rc, "ZCARD q:jobs:complete"), 50);
    cr_assert_eq(kt_int(wt_rc, "LLEN q:echo:jobs"), 0);
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
}

/* Registrations of processes without a live lease (exited and settled,
 * or their host gone) are dropped on the way; the job waits for a token. */
Test(worker_handoff, a_registration_without_a_live_lease_is_dropped)
{
    fake_parked("echo", "gone", 4000001, 1, 0);
    fake_parked("echo", "gone", 4000002, 1, -1000);
    int64_t id = wt_enqueue("echo", "{}");
    char b[64];
    cr_assert_str_eq(wt_field(id, "state", b, sizeof b), "inactive");
    cr_assert_eq(kt_int(wt_rc, "LLEN q:echo:jobs"), 1);
    cr_assert_eq(parked(), 0, "stale registrations were kept");
    cr_assert_eq(kt_int(wt_rc, "EXISTS q:wake:gone:4000001 q:wake:gone:4000002"), 0);
    /* garbage in the list is dropped too */
    freeReplyObject(kt_cmd(wt_rc, "LPUSH q:parked:echo not-a-registration"));
    cr_assert_str_eq(wt_field(wt_enqueue("echo", "{}"), "state", b, sizeof b), "inactive");
    cr_assert_eq(parked(), 0);
}

/* A paused type, or jobs of the type already waiting (they go first):
 * no hand-off, and the parked worker stays parked. */
Test(worker_handoff, paused_or_waiting_jobs_mean_no_hand_off)
{
    fake_parked("echo", "h", 4000003, 1, 60000);
    cr_assert_eq(kue_type_pause(wt_kue, "echo"), 0);
    char b[64];
    int64_t id = wt_enqueue("echo", "{}");
    cr_assert_str_eq(wt_field(id, "state", b, sizeof b), "inactive", "a paused type's job ran");
    cr_assert_eq(parked(), 1);
    cr_assert_eq(kue_type_resume(wt_kue, "echo"), 0);
    int64_t id2 = wt_enqueue("echo", "{}");
    cr_assert_str_eq(wt_field(id2, "state", b, sizeof b), "inactive", "it overtook a waiting job");
    cr_assert_eq(parked(), 1);
    cr_assert_eq(kt_int(wt_rc, "LLEN q:echo:jobs"), 2);
}

/* A job handed to a process that died before taking it is held by that
 * process: when its lease expires, recovery settles it like any job it
 * held (an attempt spent, retried) and removes its wake list. */
Test(worker_handoff, a_job_handed_to_a_dead_process_is_recovered)
{
    fake_parked("echo", "dead", 4000004, 1, 400);
    int64_t id = wt_enqueue_opts("echo", "{}", 0, 2, NULL, 0);
    char b[128];
    cr_assert_str_eq(wt_field(id, "state", b, sizeof b), "active");
    cr_assert_str_eq(wt_field(id, "workerId", b, sizeof b), "kue:dead:4000004:echo:1");
    cr_assert_eq(kt_int(wt_rc, "LLEN q:wake:dead:4000004"), 1);
    /* the hand-off renewed the lease for lease_ms, as a claim does: let it
     * end sooner than 30 s */
    cr_assert_gt(kt_int(wt_rc, "ZSCORE q:leases dead:4000004"), kt_redis_now_ms(wt_rc) + 20000);
    freeReplyObject(kt_cmd(wt_rc, "ZADD q:leases %lld dead:4000004",
                           (long long)kt_redis_now_ms(wt_rc) + 300));
    kt_wait_redis_clock(wt_rc, kt_redis_now_ms(wt_rc) + 500);
    const char *rv[] = { "q", "100" };
    redisReply *r = kue_script_call(wt_rc, KS_RECOVER, 2, rv, NULL);
    cr_assert(r && r->type == REDIS_REPLY_INTEGER && r->integer == 1, "recover settled nothing");
    freeReplyObject(r);
    cr_assert_eq(kt_int(wt_rc, "EXISTS q:wake:dead:4000004 q:held:dead:4000004"), 0);
    cr_assert_str_eq(wt_field(id, "state", b, sizeof b), "inactive");
    cr_assert_str_eq(wt_field(id, "attempts", b, sizeof b), "1");
    pid_t w = wt_worker("echo", "echo", 1, wt_log("dead"), NULL);
    wt_wait_state(id, "complete", 5000);
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
}

/* The claim script's side: a short claim with park '1' registers the
 * first slot left over and renews the lease; the next claim offers that
 * slot first as unpark_slot, leaves the list, and returns what a save
 * handed off meanwhile, in that slot, even when the registration it took
 * named another (one whose claim reply was lost). */
Test(worker_handoff, the_claim_parks_and_unparks)
{
    const char *park[] = { "q", "t", "2", "h", "7", "30000", "0", "1", "2", "0", "0", "0",
                           "1", "0" };
    redisReply *r = kue_script_call(wt_rc, KS_CLAIM, 14, park, NULL);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 0);
    freeReplyObject(r);
    char b[128];
    cr_assert_str_eq(kt_str(wt_rc, b, sizeof b, "LINDEX q:parked:t 0"), "h|7|1|30000");
    cr_assert_gt(kt_int(wt_rc, "ZSCORE q:leases h:7"), kt_redis_now_ms(wt_rc));
    int64_t id = wt_enqueue("t", "{\"a\":\"\\u0000 b\"}");
    cr_assert_str_eq(wt_field(id, "workerId", b, sizeof b), "kue:h:7:t:1");
    cr_assert_eq(kt_int(wt_rc, "LLEN q:wake:h:7"), 1);
    /* the worker may take no job now (n = 0): leave the list, and the job
     * goes back to the queue, attempt not counted */
    const char *unpark[] = { "q", "t", "0", "h", "7", "30000", "0", "0", "0", "0", "0", "1" };
    r = kue_script_call(wt_rc, KS_CLAIM, 12, unpark, NULL);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 0, "a job was returned");
    freeReplyObject(r);
    cr_assert_eq(kt_int(wt_rc, "EXISTS q:wake:h:7 q:parked:t"), 0);
    cr_assert_str_eq(wt_field(id, "state", b, sizeof b), "inactive");
    cr_assert_str_eq(wt_field(id, "attempts", b, sizeof b), "");
    cr_assert_eq(kt_int(wt_rc, "SCARD q:held:h:7"), 0);
    cr_assert_eq(kt_int(wt_rc, "LLEN q:t:jobs"), 1, "put back without its token");
    /* a wait pops its token; the claim after it counts that token */
    freeReplyObject(kt_cmd(wt_rc, "LPOP q:t:jobs"));
    const char *take[] = { "q", "t", "1", "h", "7", "30000", "1", "1", "0", "0", "0", "1", "0" };
    r = kue_script_call(wt_rc, KS_CLAIM, 13, take, NULL);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    cr_assert_eq(atoll(r->element[0]->element[0]->str), id);
    cr_assert_str_eq(r->element[0]->element[3]->str, "{\"a\":\"\\u0000 b\"}");
    freeReplyObject(r);
    cr_assert_eq(kt_int(wt_rc, "LLEN q:t:jobs"), 0, "a token too many was trimmed or left");
    cr_assert_eq(kt_int(wt_rc, "LLEN q:parked:t"), 0, "a full claim parked");

    /* a registration naming slot 2 while the worker offers slot 3 first */
    fake_parked("t", "h", 7, 2, 60000);
    int64_t id2 = wt_enqueue("t", "{}");
    cr_assert_str_eq(wt_field(id2, "workerId", b, sizeof b), "kue:h:7:t:2");
    const char *next[] = { "q", "t", "1", "h", "7", "30000", "0", "3", "0", "0", "0", "1", "3" };
    r = kue_script_call(wt_rc, KS_CLAIM, 13, next, NULL);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    freeReplyObject(r);
    cr_assert_str_eq(wt_field(id2, "workerId", b, sizeof b), "kue:h:7:t:3", "not in the slot offered");
    cr_assert_eq(kt_int(wt_rc, "EXISTS q:wake:h:7"), 0);
    /* that claim was not short (1 of 1): not parked again */
    cr_assert_eq(kt_int(wt_rc, "LLEN q:parked:t"), 0);
}

/* With a lease shorter than the wait, the worker waits half its lease
 * before it parks again: whenever it is parked, its lease is live, so a
 * save never drops its registration as stale. */
Test(worker_handoff, a_short_lease_still_gets_hand_offs)
{
    pid_t w = wt_worker("echo", "echo", 1, wt_log("lease"), "--lease", "1s", NULL);
    cr_assert(kt_wait_until(is_parked, NULL, 5000));
    char host[256], owner[300];
    gethostname(host, sizeof host);
    snprintf(owner, sizeof owner, "%s:%d", host, (int)w);
    int64_t end = kt_redis_now_ms(wt_rc) + 3000, seen = 0;
    while (kt_redis_now_ms(wt_rc) < end) {
        if (!is_parked(NULL)) continue;
        long long lease = kt_int(wt_rc, "ZSCORE q:leases %s", owner);
        cr_assert_gt(lease, kt_redis_now_ms(wt_rc), "parked with its lease run out");
        seen++;
    }
    cr_assert_gt(seen, 0);
    int64_t id = wt_enqueue("echo", "{}");
    wt_wait_state(id, "complete", 5000);
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
}

/* A worker that popped a token and may take no job now (drain, pause,
 * quiet) gives it back with a claim of no job: Node Kue workers still
 * find one token per waiting job. */
Test(worker_handoff, a_token_popped_by_a_worker_that_stops_goes_back)
{
    wt_enqueue("t", "{}");
    cr_assert_eq(kt_int(wt_rc, "LLEN q:t:jobs"), 1);
    freeReplyObject(kt_cmd(wt_rc, "BLPOP q:wake:h:8 q:t:jobs 1"));
    cr_assert_eq(kt_int(wt_rc, "LLEN q:t:jobs"), 0);
    const char *none[] = { "q", "t", "0", "h", "8", "30000", "1", "0", "0", "0", "0", "0" };
    redisReply *r = kue_script_call(wt_rc, KS_CLAIM, 12, none, NULL);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 0);
    freeReplyObject(r);
    cr_assert_eq(kt_int(wt_rc, "LLEN q:t:jobs"), 1, "the token was not given back");
    cr_assert_eq(kt_int(wt_rc, "ZCARD q:jobs:t:inactive"), 1);
}

static int64_t save_delayed(const char *type, const char *group)
{
    kue_job_t *j = kue_job_new(type, "{\"d\":1}");
    kue_job_set_delay(j, 1);
    kue_job_set_attempts(j, 3);
    if (group) cr_assert_eq(kue_job_set_group(j, group), 0);
    int64_t id = kue_job_save(wt_kue, j);
    cr_assert_gt(id, 0, "save: %s", kue_errstr(wt_kue));
    kue_job_free(j);
    return id;
}

/* A promoted job meets a parked worker as a saved one does: handed off by
 * the promotion (events promotion, enqueue, start), no token.  A job of a
 * group is not: the claim's group admission decides. */
Test(worker_handoff, a_promotion_hands_off_too)
{
    pid_t w = wt_worker("echo", "echo", 1, wt_log("promo"), NULL);
    cr_assert(kt_wait_until(is_parked, NULL, 5000));
    kill(w, SIGSTOP);
    int64_t id = save_delayed("echo", NULL);
    int64_t gid = save_delayed("echo", "g1");
    kt_wait_delayed_due(wt_rc, "q:jobs:delayed");
    wt_promote();
    char host[256], want[400], b[400];
    gethostname(host, sizeof host);
    snprintf(want, sizeof want, "kue:%s:%d:echo:1", host, (int)w);
    cr_assert_str_eq(wt_field(id, "state", b, sizeof b), "active", "not handed off by the promotion");
    cr_assert_str_eq(wt_field(id, "workerId", b, sizeof b), want);
    cr_assert_str_eq(wt_field(gid, "state", b, sizeof b), "inactive", "a group's job skipped admission");
    cr_assert_eq(kt_int(wt_rc, "LLEN q:echo:jobs"), 1, "one token: the group's job only");
    cr_assert_eq(kt_int(wt_rc, "ZCARD q:jobs:echo:delayed"), 0);
    cr_assert_eq(kt_int(wt_rc, "ZCARD q:jobs:delayed"), 0);
    kill(w, SIGCONT);
    wt_wait_state(id, "complete", 5000);
    wt_wait_state(gid, "complete", 5000);
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
}

/* The master settles a dead worker (settle): a job handed off to it goes
 * back to the queue, its wake list goes, and with its lease gone its
 * registration is skipped by the next save. */
Test(worker_handoff, settling_a_dead_worker_covers_its_hand_off)
{
    fake_parked("echo", "gone", 4000005, 1, 60000);
    fake_parked("echo", "gone", 4000005, 1, 60000);     /* a second, stale one */
    int64_t id = wt_enqueue("echo", "{}");
    char b[64];
    cr_assert_str_eq(wt_field(id, "state", b, sizeof b), "active");
    cr_assert_eq(kt_int(wt_rc, "LLEN q:wake:gone:4000005"), 1);
    const char *sv[] = { "q", "gone", "4000005", "worker died", "requeue" };
    redisReply *r = kue_script_call(wt_rc, KS_SETTLE, 5, sv, NULL);
    cr_assert(r && r->type == REDIS_REPLY_INTEGER && r->integer == 1, "settled nothing");
    freeReplyObject(r);
    cr_assert_str_eq(wt_field(id, "state", b, sizeof b), "inactive");
    cr_assert_eq(kt_int(wt_rc, "LLEN q:echo:jobs"), 1, "requeued without its token");
    cr_assert_eq(kt_int(wt_rc, "EXISTS q:wake:gone:4000005 q:held:gone:4000005"), 0);
    cr_assert_eq(kt_int(wt_rc, "LLEN q:parked:echo"), 1);
    /* the registration left over meets a save: dropped, no hand-off (and
     * jobs are waiting anyway) */
    freeReplyObject(kt_cmd(wt_rc, "DEL q:jobs:echo:inactive"));
    int64_t id2 = wt_enqueue("echo", "{}");
    cr_assert_str_eq(wt_field(id2, "state", b, sizeof b), "inactive", "handed to a settled worker");
    cr_assert_eq(kt_int(wt_rc, "LLEN q:parked:echo"), 0);
}
