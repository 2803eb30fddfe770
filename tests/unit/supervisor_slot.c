/*
 * supervisor_slot.c -- the process-table entry's state machine
 * (supervisor/slot.c), transition by transition: every (state, event) pair
 * is either a listed transition with its effect on the entry, or refused
 * with the entry unchanged.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "../../supervisor/proc.c"
#include "../../supervisor/slot.c"

static struct sup_proc in(int state)
{
    struct sup_proc p;
    memset(&p, 0, sizeof(p));
    p.state = state;
    p.pid = state == SS_RUNNING || state == SS_STOPPING ? 4242 : 0;
    p.started = 10000;
    return p;
}

/* The allowed transitions: (from, event) -> to. */
static const struct { int from, ev, to; } allowed[] = {
    { SS_FREE, SE_WANT, SS_WAITING },
    { SS_WAITING, SE_START, SS_RUNNING },
    { SS_WAITING, SE_START_FAIL, SS_WAITING },
    { SS_WAITING, SE_RETRY_NOW, SS_WAITING },
    { SS_WAITING, SE_CANCEL, SS_FREE },
    { SS_RUNNING, SE_TERM, SS_STOPPING },
    { SS_RUNNING, SE_KILL, SS_STOPPING },
    { SS_RUNNING, SE_DRAIN, SS_STOPPING },
    { SS_RUNNING, SE_EXIT, SS_FREE },
    { SS_RUNNING, SE_RESTART, SS_WAITING },
    { SS_RUNNING, SE_CRASH, SS_WAITING },
    { SS_STOPPING, SE_TERM, SS_STOPPING },
    { SS_STOPPING, SE_KILL, SS_STOPPING },
    { SS_STOPPING, SE_DRAIN, SS_STOPPING },
    { SS_STOPPING, SE_EXIT, SS_FREE },
    { SS_STOPPING, SE_RESTART, SS_WAITING },
};

Test(slot, every_pair_is_listed_or_refused)
{
    struct sup_ev a = { .now = 20000, .at = 21000, .grace = 500, .pid = 77, .base = 100,
                        .max = 1000 };
    int seen = 0;
    for (int st = SS_FREE; st <= SS_STOPPING; st++) {
        for (int ev = 0; ev < SE_N; ev++) {
            int to = -1;
            for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
                if (allowed[i].from == st && allowed[i].ev == ev)
                    to = allowed[i].to;
            struct sup_proc p = in(st), before = p;
            int r = sup_slot_event(&p, ev, &a);
            if (to < 0) {
                cr_assert_eq(r, SUP_STEP_INVALID, "%s + %s accepted", sup_state_name(st),
                             sup_event_name(ev));
                cr_assert(!memcmp(&p, &before, sizeof(p)), "%s + %s changed the entry",
                          sup_state_name(st), sup_event_name(ev));
            } else {
                cr_assert_neq(r, SUP_STEP_INVALID, "%s + %s refused", sup_state_name(st),
                              sup_event_name(ev));
                cr_assert_eq(p.state, to, "%s + %s -> %s", sup_state_name(st),
                             sup_event_name(ev), sup_state_name(p.state));
                seen++;
            }
        }
    }
    cr_assert_eq(seen, (int)(sizeof(allowed) / sizeof(allowed[0])));
    struct sup_proc p = in(SS_RUNNING);
    cr_assert_eq(sup_slot_event(&p, SE_N, &a), SUP_STEP_INVALID);
    p.state = 9;
    cr_assert_eq(sup_slot_event(&p, SE_EXIT, &a), SUP_STEP_INVALID);
}

Test(slot, want_then_start_records_the_process)
{
    struct sup_proc p = in(SS_FREE);
    sup_slot_event(&p, SE_WANT, &(struct sup_ev){ .at = 500 });
    cr_assert_eq(p.spawn_at, 500);
    p.killed = 1;
    snprintf(p.stop_cause, sizeof(p.stop_cause), "old");
    p.settle_requeue = 1;
    cr_assert_eq(sup_slot_event(&p, SE_START, &(struct sup_ev){ .now = 600, .pid = 99 }),
                 SUP_STEP_DONE);
    cr_assert_eq(p.pid, 99);
    cr_assert_eq(p.started, 600);
    cr_assert_eq(p.killed, 0);
    cr_assert_str_empty(p.stop_cause);
    cr_assert_eq(p.settle_requeue, 0);
}

Test(slot, start_failure_backs_off_and_retry_now_forgets)
{
    struct sup_proc p = in(SS_WAITING);
    struct sup_ev a = { .now = 1000, .base = 100, .max = 1000 };
    sup_slot_event(&p, SE_START_FAIL, &a);
    cr_assert_eq(p.spawn_at, 1100);
    sup_slot_event(&p, SE_START_FAIL, &a);
    cr_assert_eq(p.spawn_at, 1200);
    cr_assert_eq(p.failures, 2);
    sup_slot_event(&p, SE_RETRY_NOW, &(struct sup_ev){ .now = 1001 });
    cr_assert_eq(p.failures, 0);
    cr_assert_eq(p.spawn_at, 1001);
}

Test(slot, term_once_kill_once)
{
    struct sup_proc p = in(SS_RUNNING);
    cr_assert_eq(sup_slot_event(&p, SE_TERM, &(struct sup_ev){ .now = 100, .grace = 50 }),
                 SUP_STEP_DONE);
    cr_assert_eq(p.kill_at, 150);
    /* asked already: a second TERM does nothing */
    cr_assert_eq(sup_slot_event(&p, SE_TERM, &(struct sup_ev){ .now = 120, .grace = 50 }),
                 SUP_STEP_NOOP);
    cr_assert_eq(p.kill_at, 150);
    cr_assert_eq(sup_slot_event(&p, SE_KILL, &(struct sup_ev){ .now = 160 }), SUP_STEP_DONE);
    cr_assert_eq(p.killed, 1);
    cr_assert_eq(sup_slot_event(&p, SE_KILL, &(struct sup_ev){ .now = 170 }), SUP_STEP_NOOP);
    cr_assert_eq(p.state, SS_STOPPING);
}

Test(slot, drain_rearms_the_kill_deadline_without_leaving_stopping)
{
    struct sup_proc p = in(SS_RUNNING);
    sup_slot_event(&p, SE_TERM, &(struct sup_ev){ .now = 100, .grace = 50 });
    cr_assert_eq(sup_slot_event(&p, SE_DRAIN, &(struct sup_ev){ .at = 90000 }), SUP_STEP_DONE);
    cr_assert_eq(p.state, SS_STOPPING);
    cr_assert_eq(p.kill_at, 90000);
    struct sup_proc q = in(SS_RUNNING);
    sup_slot_event(&q, SE_DRAIN, &(struct sup_ev){ .at = 5000 });
    cr_assert_eq(q.state, SS_STOPPING);
    cr_assert_eq(q.kill_at, 5000);
}

Test(slot, exit_and_restart)
{
    struct sup_proc p = in(SS_STOPPING);
    sup_slot_event(&p, SE_RESTART, &(struct sup_ev){ .at = 0 });
    cr_assert_eq(p.state, SS_WAITING);
    cr_assert_eq(p.pid, 0);
    cr_assert_eq(p.spawn_at, 0);
    cr_assert_eq(p.restarts, 0u);
}

/* s6's rule: the backoff grows only for a process that died soon after
 * its start. */
Test(slot, crash_soon_after_start_backs_off)
{
    struct sup_proc p = in(SS_RUNNING);
    struct sup_ev a = { .status = 11, .base = 1000, .max = 60000 };   /* killed by SIGSEGV */
    int64_t want[] = { 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000 };
    for (int i = 0; i < 8; i++) {
        a.now = p.started + 200;
        cr_assert_eq(sup_slot_event(&p, SE_CRASH, &a), SUP_STEP_DONE);
        cr_assert_eq(p.state, SS_WAITING);
        cr_assert_eq(p.spawn_at - a.now, want[i], "crash %d: delay %lld", i + 1,
                     (long long)(p.spawn_at - a.now));
        cr_assert_eq(p.failures, i + 1);
        sup_slot_event(&p, SE_START, &(struct sup_ev){ .now = p.spawn_at, .pid = 100 + i });
    }
    cr_assert_eq(p.restarts, 8u);
}

Test(slot, killed_after_running_normally_restarts_at_once)
{
    struct sup_proc p = in(SS_RUNNING);
    struct sup_ev a = { .status = SIGKILL, .base = 1000, .max = 60000 };
    /* a storm: killed from outside every 2 s, ten times */
    for (int i = 0; i < 10; i++) {
        a.now = p.started + 2000;
        sup_slot_event(&p, SE_CRASH, &a);
        cr_assert_eq(p.spawn_at, a.now, "kill %d: delay %lld", i + 1,
                     (long long)(p.spawn_at - a.now));
        cr_assert_eq(p.failures, 0);
        sup_slot_event(&p, SE_START, &(struct sup_ev){ .now = p.spawn_at, .pid = 100 + i });
    }
    /* a crash loop after a healthy run starts counting from one */
    a.now = p.started + 10;
    sup_slot_event(&p, SE_CRASH, &a);
    cr_assert_eq(p.failures, 1);
    cr_assert_eq(p.spawn_at - a.now, 1000);
}

Test(slot, exit_78_waits_the_longest)
{
    struct sup_proc p = in(SS_RUNNING);
    sup_slot_event(&p, SE_CRASH, &(struct sup_ev){ .now = p.started + 5000, .status = 78 << 8,
                   .base = 1000, .max = 60000 });
    cr_assert_eq(p.spawn_at - (p.started + 5000), 60000);
    cr_assert_eq(p.failures, 1);
}

Test(slot, a_quick_clean_exit_is_a_loop_too)
{
    struct sup_proc p = in(SS_RUNNING);
    sup_slot_event(&p, SE_CRASH, &(struct sup_ev){ .now = p.started + 10, .status = 0,
                   .base = 1000, .max = 60000 });
    cr_assert_eq(p.spawn_at - (p.started + 10), 1000);
    struct sup_proc q = in(SS_RUNNING);
    sup_slot_event(&q, SE_CRASH, &(struct sup_ev){ .now = q.started + 5000, .status = 0,
                   .base = 1000, .max = 60000 });
    cr_assert_eq(q.spawn_at, q.started + 5000);
}
