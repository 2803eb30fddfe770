/*
 * slot.h -- the state machine of one entry of the master's process table
 * (proc.h), in one place: a state, an event, and one transition function
 * driven by a table of actions[state][event].
 *
 *            WANT            START
 *     FREE --------> WAITING -------> RUNNING --TERM/KILL/DRAIN--> STOPPING
 *      ^   <-CANCEL-  |  ^ START_FAIL    |  \                         |
 *      |              |  | RETRY_NOW     |   \--CRASH/RESTART-->      |
 *      |              |  \-- (self) -----/          WAITING           |
 *      \------------------------- EXIT -----------------------------/
 *
 * Every change of `state` is made here, nowhere else.  The machine keeps
 * the entry's bookkeeping (pid, start time, kill deadline, crash count,
 * backoff); the master performs the side effects (fork, signals, settling
 * jobs) and feeds the outcome back as an event.  Nothing here forks,
 * signals or reads a clock, so each transition is unit-tested.
 *
 * Crash-loop backoff (SE_CRASH) follows s6: a process that exits within
 * SUP_SOON_MS of its start counts as a failure in a row and waits
 * respawn_delay, doubled per failure up to respawn_max_delay; one that ran
 * longer (killed from outside after working normally, say) restarts at
 * once and its count starts again.
 */
#ifndef KUE_SUP_SLOT_H
#define KUE_SUP_SLOT_H

#include "proc.h"

enum sup_event {
    SE_WANT = 0,     /* FREE -> WAITING: start at a.at */
    SE_START,        /* WAITING -> RUNNING: forked as a.pid at a.now */
    SE_START_FAIL,   /* WAITING -> WAITING: fork failed; retry after the backoff */
    SE_RETRY_NOW,    /* WAITING -> WAITING: start at once, crash count forgotten */
    SE_CANCEL,       /* WAITING -> FREE: no longer wanted */
    SE_TERM,         /* RUNNING -> STOPPING: TERM sent, KILL due at a.now + a.grace */
    SE_KILL,         /* RUNNING, STOPPING -> STOPPING: KILL sent (a.now, a.grace) */
    SE_DRAIN,        /* RUNNING, STOPPING -> STOPPING: the drain's TERM, KILL due at a.at */
    SE_EXIT,         /* RUNNING, STOPPING -> FREE: reaped, not to be started again */
    SE_RESTART,      /* RUNNING, STOPPING -> WAITING: reaped, start again at a.at */
    SE_CRASH,        /* RUNNING -> WAITING: exited on its own (a.status); s6 backoff */
    SE_N
};

/* The arguments of an event (only those it names are read). */
struct sup_ev {
    int64_t now;          /* monotonic ms */
    int64_t at;           /* SE_WANT, SE_RESTART: start time; SE_DRAIN: KILL due */
    int64_t grace;        /* SE_TERM, SE_KILL */
    pid_t pid;            /* SE_START */
    int status;           /* SE_CRASH: wait status */
    int64_t base, max;    /* SE_START_FAIL, SE_CRASH: backoff bounds */
};

/* Result of sup_slot_event. */
#define SUP_STEP_INVALID (-1)   /* no such transition: the entry is unchanged */
#define SUP_STEP_NOOP      0    /* allowed, nothing to do (e.g. KILL twice) */
#define SUP_STEP_DONE      1

/* A process that exits within this long of its start failed "in a row". */
#define SUP_SOON_MS 1000

int sup_slot_event(struct sup_proc *p, enum sup_event ev, const struct sup_ev *a);

const char *sup_state_name(int state);
const char *sup_event_name(int ev);

#endif
