/*
 * slot.c -- the process-table entry's state machine (see slot.h).
 */
#include "slot.h"

#include <string.h>

typedef int (*sup_action)(struct sup_proc *p, const struct sup_ev *a);

static int a_want(struct sup_proc *p, const struct sup_ev *a)
{
    p->spawn_at = a->at;
    return SUP_STEP_DONE;
}

static int a_start(struct sup_proc *p, const struct sup_ev *a)
{
    p->pid = a->pid;
    p->started = a->now;
    p->kill_at = 0;
    p->killed = 0;
    p->stop_cause[0] = '\0';
    p->settle_requeue = 0;
    return SUP_STEP_DONE;
}

static int a_start_fail(struct sup_proc *p, const struct sup_ev *a)
{
    p->failures++;
    p->spawn_at = a->now + sup_backoff_ms(p->failures, a->base, a->max);
    return SUP_STEP_DONE;
}

static int a_retry_now(struct sup_proc *p, const struct sup_ev *a)
{
    p->failures = 0;
    p->spawn_at = a->now;
    return SUP_STEP_DONE;
}

static int a_free(struct sup_proc *p, const struct sup_ev *a)
{
    (void)p;
    (void)a;
    return SUP_STEP_DONE;
}

static int a_term(struct sup_proc *p, const struct sup_ev *a)
{
    p->kill_at = a->now + a->grace;
    return SUP_STEP_DONE;
}

static int a_kill(struct sup_proc *p, const struct sup_ev *a)
{
    (void)a;
    if (p->killed)
        return SUP_STEP_NOOP;
    p->killed = 1;
    p->kill_at = a->now + a->grace;
    return SUP_STEP_DONE;
}

static int a_noop(struct sup_proc *p, const struct sup_ev *a)
{
    (void)p;
    (void)a;
    return SUP_STEP_NOOP;
}

static int a_drain(struct sup_proc *p, const struct sup_ev *a)
{
    p->kill_at = a->at;
    return SUP_STEP_DONE;
}

static int a_restart(struct sup_proc *p, const struct sup_ev *a)
{
    p->pid = 0;
    p->spawn_at = a->at;
    return SUP_STEP_DONE;
}

/* s6's rule: only a process that died soon after its start is crashing in
 * a row; one that ran normally is restarted at once. */
static int a_crash(struct sup_proc *p, const struct sup_ev *a)
{
    int64_t ran = a->now - p->started;
    int64_t delay = 0;
    if (sup_exit_decide(a->status) == SX_CONFIG) {
        p->failures++;
        delay = a->max;
    } else if (ran < SUP_SOON_MS) {
        p->failures++;
        delay = sup_backoff_ms(p->failures, a->base, a->max);
    } else {
        p->failures = 0;
    }
    p->pid = 0;
    p->spawn_at = a->now + delay;
    p->restarts++;
    return SUP_STEP_DONE;
}

static const struct {
    signed char next;     /* -1: no such transition */
    sup_action act;
} actions[SS_STOPPING + 1][SE_N] = {
    [SS_FREE] = {
        [SE_WANT] = { SS_WAITING, a_want },
        [SE_START] = { -1, 0 }, [SE_START_FAIL] = { -1, 0 }, [SE_RETRY_NOW] = { -1, 0 },
        [SE_CANCEL] = { -1, 0 }, [SE_TERM] = { -1, 0 }, [SE_KILL] = { -1, 0 },
        [SE_DRAIN] = { -1, 0 }, [SE_EXIT] = { -1, 0 }, [SE_RESTART] = { -1, 0 },
        [SE_CRASH] = { -1, 0 },
    },
    [SS_WAITING] = {
        [SE_WANT] = { -1, 0 },
        [SE_START] = { SS_RUNNING, a_start },
        [SE_START_FAIL] = { SS_WAITING, a_start_fail },
        [SE_RETRY_NOW] = { SS_WAITING, a_retry_now },
        [SE_CANCEL] = { SS_FREE, a_free },
        [SE_TERM] = { -1, 0 }, [SE_KILL] = { -1, 0 }, [SE_DRAIN] = { -1, 0 },
        [SE_EXIT] = { -1, 0 }, [SE_RESTART] = { -1, 0 }, [SE_CRASH] = { -1, 0 },
    },
    [SS_RUNNING] = {
        [SE_WANT] = { -1, 0 }, [SE_START] = { -1, 0 }, [SE_START_FAIL] = { -1, 0 },
        [SE_RETRY_NOW] = { -1, 0 }, [SE_CANCEL] = { -1, 0 },
        [SE_TERM] = { SS_STOPPING, a_term },
        [SE_KILL] = { SS_STOPPING, a_kill },
        [SE_DRAIN] = { SS_STOPPING, a_drain },
        [SE_EXIT] = { SS_FREE, a_free },
        [SE_RESTART] = { SS_WAITING, a_restart },
        [SE_CRASH] = { SS_WAITING, a_crash },
    },
    [SS_STOPPING] = {
        [SE_WANT] = { -1, 0 }, [SE_START] = { -1, 0 }, [SE_START_FAIL] = { -1, 0 },
        [SE_RETRY_NOW] = { -1, 0 }, [SE_CANCEL] = { -1, 0 },
        [SE_TERM] = { SS_STOPPING, a_noop },
        [SE_KILL] = { SS_STOPPING, a_kill },
        [SE_DRAIN] = { SS_STOPPING, a_drain },
        [SE_EXIT] = { SS_FREE, a_free },
        [SE_RESTART] = { SS_WAITING, a_restart },
        [SE_CRASH] = { -1, 0 },
    },
};

int sup_slot_event(struct sup_proc *p, enum sup_event ev, const struct sup_ev *a)
{
    static const struct sup_ev none;
    if (p->state < SS_FREE || p->state > SS_STOPPING || (int)ev < 0 || ev >= SE_N)
        return SUP_STEP_INVALID;
    if (actions[p->state][ev].next < 0)
        return SUP_STEP_INVALID;
    int r = actions[p->state][ev].act(p, a ? a : &none);
    p->state = actions[p->state][ev].next;
    return r;
}

const char *sup_state_name(int state)
{
    static const char *const names[] = { "free", "waiting", "running", "stopping" };
    return state >= SS_FREE && state <= SS_STOPPING ? names[state] : "?";
}

const char *sup_event_name(int ev)
{
    static const char *const names[SE_N] = {
        "want", "start", "start-fail", "retry-now", "cancel", "term", "kill", "drain", "exit",
        "restart", "crash"
    };
    return ev >= 0 && ev < SE_N ? names[ev] : "?";
}
