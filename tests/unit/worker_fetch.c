/*
 * worker_fetch.c -- the worker's fetch cycle (worker/fetch.c) as a state
 * machine, transition by transition: every (state, event) pair either has
 * its listed effect or is refused with the machine unchanged.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../../worker/worker_int.h"

static const struct kw_fetch_in ready = { .allowed = 1, .cmd_up = 1, .blk_up = 1,
                                          .free_slots = 4 };

static struct kw_fetch in_state(int st)
{
    struct kw_fetch f;
    memset(&f, 0, sizeof f);
    f.state = st;
    if (st == KF_CHECKING) f.checks = 1;
    return f;
}

/* Pairs the table has no action for. */
Test(worker_fetch, refused_pairs_change_nothing)
{
    const struct { int st, ev; } refused[] = {
        { KF_IDLE, KFE_SEND_FAILED }, { KF_BACKOFF, KFE_SEND_FAILED },
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        struct kw_fetch f = in_state(refused[i].st), before = f;
        cr_assert_eq(kw_fetch_step(&f, refused[i].ev, &ready), -1);
        cr_assert(!memcmp(&f, &before, sizeof f));
    }
    struct kw_fetch f = in_state(KF_IDLE);
    cr_assert_eq(kw_fetch_step(&f, KFE_N, &ready), -1);
    f.state = KF_N;
    cr_assert_eq(kw_fetch_step(&f, KFE_GO, &ready), -1);
}

/* Every pair, with a worker ready to take jobs and a plain reply: the next
 * state (-1: refused) and the action. */
Test(worker_fetch, every_pair)
{
    enum { I = KF_IDLE, C = KF_CLAIMING, W = KF_WAITING, K = KF_CHECKING, B = KF_BACKOFF };
    /* GO, REPLY, WAIT_NIL, WAIT_ERROR, RETRY, CHECK_MORE, CHECK_DONE, CMD_UP, CMD_DOWN,
     * BLK_DOWN, SEND_FAILED, TOKEN, HANDED */
    static const int next[KF_N][KFE_N] = {
        [I] = { C, I, I, I, I, I, I, I, I, I, -1, I, I },
        [C] = { C, I, C, C, C, C, C, C, I, C, I, C, C },
        [W] = { W, W, I, B, W, W, W, W, W, I, I, I, I },
        [K] = { K, K, K, K, K, K, I, I, K, K, I, K, K },
        [B] = { B, B, B, B, I, B, B, B, B, B, -1, B, B },
    };
    for (int st = 0; st < KF_N; st++)
        for (int ev = 0; ev < KFE_N; ev++) {
            struct kw_fetch f = in_state(st), before = f;
            int a = kw_fetch_step(&f, ev, &ready);
            if (next[st][ev] < 0) {
                cr_assert_eq(a, -1, "%s + event %d accepted", kw_fetch_state_name(st), ev);
                cr_assert(!memcmp(&f, &before, sizeof f));
                continue;
            }
            cr_assert_eq(f.state, next[st][ev], "%s + event %d -> %s, not %s",
                         kw_fetch_state_name(st), ev, kw_fetch_state_name(f.state),
                         kw_fetch_state_name(next[st][ev]));
            int want = KFA_NONE;
            if (st == I && ev == KFE_GO) want = KFA_CLAIM;
            if (st == W && ev == KFE_WAIT_ERROR) want = KFA_RETRY_LATER;
            cr_assert_eq(a, want, "%s + event %d: action %d", kw_fetch_state_name(st), ev, a);
        }
}

Test(worker_fetch, idle_go_claims_for_free_slots)
{
    struct kw_fetch f = in_state(KF_IDLE);
    cr_assert_eq(kw_fetch_step(&f, KFE_GO, &ready), KFA_CLAIM);
    cr_assert_eq(f.state, KF_CLAIMING);
    /* in flight: another GO does nothing */
    cr_assert_eq(kw_fetch_step(&f, KFE_GO, &ready), KFA_NONE);
    cr_assert_eq(f.state, KF_CLAIMING);
}

Test(worker_fetch, idle_go_does_nothing_when_it_cannot)
{
    struct kw_fetch_in in = ready;
    struct kw_fetch f = in_state(KF_IDLE);
    in.cmd_up = 0;
    cr_assert_eq(kw_fetch_step(&f, KFE_GO, &in), KFA_NONE);
    in = ready;
    in.allowed = 0;
    cr_assert_eq(kw_fetch_step(&f, KFE_GO, &in), KFA_NONE);
    in = ready;
    in.free_slots = 0;
    cr_assert_eq(kw_fetch_step(&f, KFE_GO, &in), KFA_NONE);
    f.want_wake = 1;
    in = ready;
    in.blk_up = 0;
    cr_assert_eq(kw_fetch_step(&f, KFE_GO, &in), KFA_NONE);
    cr_assert_eq(f.state, KF_IDLE);
}

Test(worker_fetch, a_short_claim_makes_the_next_one_wait)
{
    struct kw_fetch f = in_state(KF_CLAIMING);
    struct kw_fetch_in r = { .got = 1, .asked = 4 };
    cr_assert_eq(kw_fetch_step(&f, KFE_REPLY, &r), KFA_NONE);
    cr_assert_eq(f.state, KF_IDLE);
    cr_assert(f.want_wake);
    cr_assert_eq(kw_fetch_step(&f, KFE_GO, &ready), KFA_WAIT);
    cr_assert_eq(f.state, KF_WAITING);
    /* a full claim keeps claiming plainly */
    struct kw_fetch g = in_state(KF_CLAIMING);
    struct kw_fetch_in full = { .got = 4, .asked = 4 };
    kw_fetch_step(&g, KFE_REPLY, &full);
    cr_assert_not(g.want_wake);
    cr_assert_eq(kw_fetch_step(&g, KFE_GO, &ready), KFA_CLAIM);
}

/* A worker parked with slot, waiting; then the wait ends with ev. */
static struct kw_fetch wait_ends(int slot, int ev)
{
    struct kw_fetch f = in_state(KF_WAITING);
    f.want_wake = 1;
    f.park_slot = slot;
    cr_assert_eq(kw_fetch_step(&f, ev, NULL), KFA_NONE);
    cr_assert_eq(f.state, KF_IDLE);
    cr_assert_not(f.want_wake);
    return f;
}

Test(worker_fetch, a_timed_out_wait_is_followed_by_one_plain_claim)
{
    struct kw_fetch f = wait_ends(2, KFE_WAIT_NIL);
    cr_assert_eq(f.tokens, 0);
    cr_assert_eq(f.park_slot, 2, "still parked until the claim leaves the list");
    cr_assert_eq(kw_fetch_step(&f, KFE_GO, &ready), KFA_CLAIM);
    struct kw_fetch_in none = { .got = 0, .asked = 4, .parked = 3 };
    kw_fetch_step(&f, KFE_REPLY, &none);          /* still empty: parked again, wait */
    cr_assert(f.want_wake);
    cr_assert_eq(f.park_slot, 3);
    cr_assert_eq(kw_fetch_step(&f, KFE_GO, &ready), KFA_WAIT);
}

/* A token (a job saved without a hand-off): the next claim counts it. */
Test(worker_fetch, a_token_is_counted_by_the_next_claim)
{
    struct kw_fetch f = wait_ends(1, KFE_TOKEN);
    cr_assert_eq(f.tokens, 1);
    cr_assert_eq(f.park_slot, 1);
    cr_assert_eq(kw_fetch_step(&f, KFE_GO, &ready), KFA_CLAIM);
    struct kw_fetch_in one = { .got = 1, .asked = 4, .parked = 2 };
    kw_fetch_step(&f, KFE_REPLY, &one);
    cr_assert_eq(f.park_slot, 2);
    cr_assert(f.want_wake);
}

/* A hand-off: the job came with the wake-up; the registration is spent. */
Test(worker_fetch, a_hand_off_ends_the_wait_and_the_registration)
{
    struct kw_fetch f = wait_ends(1, KFE_HANDED);
    cr_assert_eq(f.park_slot, 0);
    cr_assert_eq(f.tokens, 0);
    cr_assert_eq(kw_fetch_step(&f, KFE_GO, &ready), KFA_CLAIM, "free slots: claim plainly");
}

/* Parked, but not taking jobs (drain, pause, quiet, no free slot): one
 * claim of no new job leaves the list; not parked, nothing is sent. */
Test(worker_fetch, parked_and_not_allowed_unparks_once)
{
    struct kw_fetch_in in = ready;
    in.allowed = 0;
    struct kw_fetch f = in_state(KF_IDLE);
    f.park_slot = 1;
    cr_assert_eq(kw_fetch_step(&f, KFE_GO, &in), KFA_UNPARK);
    cr_assert_eq(f.state, KF_CLAIMING);
    struct kw_fetch_in r = { .got = 1, .asked = 0 };    /* it brought a hand-off */
    kw_fetch_step(&f, KFE_REPLY, &r);
    cr_assert_eq(f.state, KF_IDLE);
    cr_assert_eq(f.park_slot, 0);
    cr_assert_eq(kw_fetch_step(&f, KFE_GO, &in), KFA_NONE);
    in = ready;
    in.free_slots = 0;
    f.park_slot = 2;
    cr_assert_eq(kw_fetch_step(&f, KFE_GO, &in), KFA_UNPARK);
    /* not parked, but holding a token a wait popped: it goes back */
    struct kw_fetch g = in_state(KF_IDLE);
    g.tokens = 1;
    in = ready;
    in.allowed = 0;
    cr_assert_eq(kw_fetch_step(&g, KFE_GO, &in), KFA_UNPARK);
    /* an error reply: the registration is not trusted either way */
    struct kw_fetch_in err = { .error = 1, .parked = 2 };
    kw_fetch_step(&f, KFE_REPLY, &err);
    cr_assert_eq(f.park_slot, 0);
}

Test(worker_fetch, a_claim_error_waits_next)
{
    struct kw_fetch f = in_state(KF_CLAIMING);
    struct kw_fetch_in err = { .error = 1, .asked = 4 };
    kw_fetch_step(&f, KFE_REPLY, &err);
    cr_assert_eq(f.state, KF_IDLE);
    cr_assert(f.want_wake);
}

Test(worker_fetch, a_failed_wait_backs_off)
{
    struct kw_fetch f = in_state(KF_WAITING);
    f.want_wake = 1;
    cr_assert_eq(kw_fetch_step(&f, KFE_WAIT_ERROR, NULL), KFA_RETRY_LATER);
    cr_assert_eq(f.state, KF_BACKOFF);
    cr_assert_eq(f.retry_ms, 0, "one second");
    cr_assert_eq(kw_fetch_step(&f, KFE_GO, &ready), KFA_NONE);
    kw_fetch_step(&f, KFE_RETRY, NULL);
    cr_assert_eq(f.state, KF_IDLE);
    cr_assert_not(f.want_wake);
    cr_assert_eq(kw_fetch_step(&f, KFE_GO, &ready), KFA_CLAIM);
}

Test(worker_fetch, drain_pause_or_quiet_ends_a_wait)
{
    struct kw_fetch f = in_state(KF_WAITING);
    cr_assert_eq(kw_fetch_step(&f, KFE_GO, &ready), KFA_NONE);
    struct kw_fetch_in in = ready;
    in.allowed = 0;
    cr_assert_eq(kw_fetch_step(&f, KFE_GO, &in), KFA_UNBLOCK);
    cr_assert_eq(f.state, KF_WAITING);
}

Test(worker_fetch, a_lost_claim_reply_means_a_check_before_the_next_claim)
{
    struct kw_fetch f = in_state(KF_CLAIMING);
    struct kw_fetch_in lost = { .lost = 1, .asked = 4 };
    kw_fetch_step(&f, KFE_REPLY, &lost);
    cr_assert_eq(f.state, KF_IDLE);
    cr_assert(f.check_due);
    /* the check runs first, even while not taking jobs */
    struct kw_fetch_in in = ready;
    in.allowed = 0;
    cr_assert_eq(kw_fetch_step(&f, KFE_GO, &in), KFA_CHECK);
    cr_assert_eq(f.state, KF_CHECKING);
    cr_assert_not(f.check_due);
    cr_assert_eq(kw_fetch_step(&f, KFE_GO, &ready), KFA_NONE);   /* no claim meanwhile */
    kw_fetch_step(&f, KFE_CHECK_MORE, NULL);
    kw_fetch_step(&f, KFE_CHECK_MORE, NULL);
    kw_fetch_step(&f, KFE_CHECK_DONE, NULL);
    kw_fetch_step(&f, KFE_CHECK_DONE, NULL);
    cr_assert_eq(f.state, KF_CHECKING);
    kw_fetch_step(&f, KFE_CHECK_DONE, NULL);
    cr_assert_eq(f.state, KF_IDLE);
    cr_assert_eq(kw_fetch_step(&f, KFE_GO, &ready), KFA_CLAIM);
}

Test(worker_fetch, connections_dropping)
{
    /* cmd drops under a claim: idle, with a check due */
    struct kw_fetch f = in_state(KF_CLAIMING);
    kw_fetch_step(&f, KFE_CMD_DOWN, NULL);
    cr_assert_eq(f.state, KF_IDLE);
    cr_assert(f.check_due);
    /* its lost reply arrives later: nothing more */
    struct kw_fetch_in lost = { .lost = 1 };
    kw_fetch_step(&f, KFE_REPLY, &lost);
    cr_assert_eq(f.state, KF_IDLE);
    /* blk drops under a wait */
    struct kw_fetch g = in_state(KF_WAITING);
    kw_fetch_step(&g, KFE_BLK_DOWN, NULL);
    cr_assert_eq(g.state, KF_IDLE);
    cr_assert(g.check_due);
    /* cmd comes back during a check: the check starts over */
    struct kw_fetch h = in_state(KF_CHECKING);
    h.checks = 3;
    kw_fetch_step(&h, KFE_CMD_UP, NULL);
    cr_assert_eq(h.state, KF_IDLE);
    cr_assert_eq(h.checks, 0);
    cr_assert(h.check_due);
}

Test(worker_fetch, nothing_sent_means_idle)
{
    int from[] = { KF_CLAIMING, KF_WAITING, KF_CHECKING };
    for (int i = 0; i < 3; i++) {
        struct kw_fetch f = in_state(from[i]);
        cr_assert_eq(kw_fetch_step(&f, KFE_SEND_FAILED, NULL), KFA_NONE);
        cr_assert_eq(f.state, KF_IDLE);
        cr_assert_eq(f.check_due, from[i] == KF_CHECKING);
    }
}

/* A claim cut short by the type's rate limit: BACKOFF with a timer for the
 * time the reply named, no wait for tokens (they are there: waiting on
 * them would spin), then a plain claim. */
Test(worker_fetch, full_rate_window_waits_for_the_time_named)
{
    {
        struct kw_fetch f = in_state(KF_CLAIMING);
        struct kw_fetch_in r = ready;
        r.asked = 4;
        r.got = 1;
        r.wait_ms = 250;
        cr_assert_eq(kw_fetch_step(&f, KFE_REPLY, &r), KFA_RETRY_LATER);
        cr_assert_eq(f.state, KF_BACKOFF);
        cr_assert_eq(f.retry_ms, 250);
        cr_assert_eq(f.want_wake, 0);
        cr_assert_eq(kw_fetch_step(&f, KFE_GO, &ready), KFA_NONE);   /* no polling */
        cr_assert_eq(f.state, KF_BACKOFF);
        cr_assert_eq(kw_fetch_step(&f, KFE_RETRY, &ready), KFA_NONE);
        cr_assert_eq(f.state, KF_IDLE);
        cr_assert_eq(f.retry_ms, 0);
        cr_assert_eq(kw_fetch_step(&f, KFE_GO, &ready), KFA_CLAIM);
    }
    /* a lost reply still means a check, whatever it said */
    struct kw_fetch f = in_state(KF_CLAIMING);
    struct kw_fetch_in r = ready;
    r.lost = 1;
    r.wait_ms = 250;
    cr_assert_eq(kw_fetch_step(&f, KFE_REPLY, &r), KFA_NONE);
    cr_assert_eq(f.check_due, 1);
}
