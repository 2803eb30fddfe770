/*
 * worker_outbox.c -- the outbox report's state machine (worker/outbox.c)
 * transition by transition, and which error replies count as "refused for
 * now" (kue_reply_transient).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../../worker/worker_int.h"

static const struct { int from, ev, to; } allowed[] = {
    { KRS_QUEUED, KRE_SEND, KRS_SENT },
    { KRS_SENT, KRE_LOST, KRS_QUEUED },
    { KRS_SENT, KRE_ANSWERED, KRS_DONE },
    { KRS_SENT, KRE_REFUSED, KRS_HELD },
    { KRS_HELD, KRE_RETRY, KRS_QUEUED },
    { KRS_REPLICATING, KRE_LOST, KRS_QUEUED },
    { KRS_REPLICATING, KRE_REPLICATED, KRS_DONE },
};

static struct kw_report rep(int state, int kind)
{
    struct kw_report r;
    memset(&r, 0, sizeof r);
    r.state = state;
    r.kind = kind;
    return r;
}

Test(worker_outbox, every_pair_is_listed_or_refused)
{
    for (int st = 0; st < KRS_N; st++)
        for (int ev = 0; ev < KRE_N; ev++) {
            int to = -1;
            for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
                if (allowed[i].from == st && allowed[i].ev == ev) to = allowed[i].to;
            struct kw_report r = rep(st, KR_COMPLETE), before = r;
            int got = kw_report_step(&r, ev, 1000, 30000);
            if (to < 0) {
                cr_assert_eq(got, -1, "state %d event %d accepted", st, ev);
                cr_assert(!memcmp(&r, &before, sizeof r));
            } else {
                cr_assert_eq(got, to, "state %d event %d -> %d", st, ev, got);
                cr_assert_eq(r.state, to);
            }
        }
    struct kw_report r = rep(KRS_SENT, KR_FAIL);
    cr_assert_eq(kw_report_step(&r, KRE_N, 0, 0), -1);
}

Test(worker_outbox, an_outcome_waits_for_its_replicas_when_a_wait_follows)
{
    struct kw_report r = rep(KRS_SENT, KR_COMPLETE);
    r.replicate = 1;
    cr_assert_eq(kw_report_step(&r, KRE_ANSWERED, 0, 0), KRS_REPLICATING);
    cr_assert_eq(kw_report_step(&r, KRE_LOST, 0, 0), KRS_QUEUED, "a lost WAIT: sent again");
    cr_assert_eq(kw_report_step(&r, KRE_SEND, 0, 0), KRS_SENT);
    cr_assert_eq(kw_report_step(&r, KRE_ANSWERED, 0, 0), KRS_REPLICATING);
    cr_assert_eq(kw_report_step(&r, KRE_REPLICATED, 0, 0), KRS_DONE);
}

Test(worker_outbox, a_refused_outcome_is_held_until_the_bound)
{
    struct kw_report r = rep(KRS_SENT, KR_COMPLETE);
    cr_assert_eq(kw_report_step(&r, KRE_REFUSED, 1000, 5000), KRS_HELD);
    cr_assert_eq(r.refused_since, 1000);
    for (int64_t t = 1100; t < 6000; t += 700) {
        cr_assert_eq(kw_report_step(&r, KRE_RETRY, t, 5000), KRS_QUEUED);
        cr_assert_eq(kw_report_step(&r, KRE_SEND, t, 5000), KRS_SENT);
        cr_assert_eq(kw_report_step(&r, KRE_REFUSED, t, 5000), KRS_HELD, "at %lld", (long long)t);
        cr_assert_eq(r.refused_since, 1000, "the first refusal counts");
        cr_assert_not(r.gave_up);
    }
    kw_report_step(&r, KRE_RETRY, 6000, 5000);
    kw_report_step(&r, KRE_SEND, 6000, 5000);
    cr_assert_eq(kw_report_step(&r, KRE_REFUSED, 6000, 5000), KRS_DONE);
    cr_assert(r.gave_up);
}

Test(worker_outbox, progress_and_log_are_not_retried)
{
    struct kw_report p = rep(KRS_SENT, KR_PROGRESS), l = rep(KRS_SENT, KR_LOG);
    cr_assert_eq(kw_report_step(&p, KRE_REFUSED, 1000, 5000), KRS_DONE);
    cr_assert_eq(kw_report_step(&l, KRE_REFUSED, 1000, 5000), KRS_DONE);
    cr_assert_not(p.gave_up);
    struct kw_report f = rep(KRS_SENT, KR_FAIL), q = rep(KRS_SENT, KR_REQUEUE);
    cr_assert_eq(kw_report_step(&f, KRE_REFUSED, 1000, 5000), KRS_HELD);
    cr_assert_eq(kw_report_step(&q, KRE_REFUSED, 1000, 5000), KRS_HELD);
}

Test(worker_outbox, transient_errors)
{
    cr_assert(kue_reply_transient("OOM command not allowed when used memory > 'maxmemory'."));
    cr_assert(kue_reply_transient("MISCONF Redis is configured to save RDB snapshots, but ..."));
    cr_assert(kue_reply_transient("READONLY You can't write against a read only replica."));
    cr_assert(kue_reply_transient("LOADING Redis is loading the dataset in memory"));
    cr_assert(kue_reply_transient("BUSY Redis is busy running a script."));
    cr_assert(kue_reply_transient("ERR Error running script (call to f_1): @user_script:9: "
                                  "-OOM command not allowed when used memory > 'maxmemory'"));
    cr_assert_not(kue_reply_transient("ERR unknown command 'FOO'"));
    cr_assert_not(kue_reply_transient("WRONGTYPE Operation against a key holding the wrong kind"));
    cr_assert_not(kue_reply_transient("ERR job \"7\" doesnt exist"));
    cr_assert_not(kue_reply_transient("ERR the BOOM broke"));
    cr_assert_not(kue_reply_transient(NULL));
}

/* worker/watchdog.c: when an orphaned worker stops itself. */
Test(worker_outbox, orphan_deadline)
{
    /* not in a handler: the limit after the master went away */
    cr_assert_eq(kw_orphan_deadline(5000, 0, 1000), 6000);
    /* a handler entered before: the limit after it was entered */
    cr_assert_eq(kw_orphan_deadline(5000, 4500, 1000), 5500);
    /* entered later: the orphan's limit comes first */
    cr_assert_eq(kw_orphan_deadline(5000, 5800, 1000), 6000);
}
