/*
 * proc.h -- the master's process table and the supervision decisions made
 * on it, as plain data (unit-tested without forking).
 *
 * Entry i of the table is also scoreboard slot i.  An entry goes
 *
 *   FREE -> WAITING (spawn_at) -> RUNNING -> (exit) -> WAITING (backoff) ...
 *                                    \-> STOPPING (we sent TERM/KILL) -> FREE
 *
 * and its state changes only through sup_slot_event() (slot.h).
 *
 * A worker to be replaced (plugin or settings changed, max_jobs, max_rss)
 * is marked `retire`: a new process of its type starts first, and only
 * when every non-retired process of the type is ready is one retired
 * process told to stop (one at a time, so capacity never drops).
 */
#ifndef KUE_SUP_PROC_H
#define KUE_SUP_PROC_H

#include <stdint.h>
#include <sys/types.h>

#include "scoreboard.h"

enum sup_state { SS_FREE = 0, SS_WAITING, SS_RUNNING, SS_STOPPING };
enum sup_kind { SK_WORKER = 0, SK_WEB, SK_REDIS };

struct sup_proc {
    int state;                  /* enum sup_state */
    int kind;                   /* enum sup_kind */
    pid_t pid;                  /* RUNNING, STOPPING */
    char type[KUE_SB_TYPE_LEN]; /* workers: job type */
    int k;                      /* workers: 1-based number within the type */
    uint32_t gen;               /* config generation it was started with */
    int retire;                 /* replace it (a new one starts first) */
    int64_t spawn_at;           /* WAITING: when to start (monotonic ms) */
    int64_t started;            /* RUNNING: when it started (monotonic ms) */
    int64_t kill_at;            /* STOPPING: escalate to SIGKILL then */
    int killed;                 /* SIGKILL sent */
    int failures;               /* consecutive crashes */
    uint64_t job_limit;         /* max_jobs with jitter, 0: none */
    unsigned restarts;
    char stop_cause[160];       /* set when we kill it: settle cause */
    int settle_requeue;         /* drain deadline: put jobs back */
    int queue;                  /* workers: index of its queue (master.h) */
};

#define SUP_TABLE_SIZE KUE_SB_MAX_SLOTS

struct sup_table {
    struct sup_proc p[SUP_TABLE_SIZE];
};

/* What the table needs from its owner, so decisions can be tested. */
struct sup_ops {
    /* Is process i ready (taking jobs)? */
    int (*ready)(void *ud, int i);
    /* Ask process i to stop gracefully (SIGTERM); the owner moves it to
     * STOPPING. */
    void (*stop)(void *ud, int i, const char *why);
    void *ud;
};

/* Allocate a FREE entry; -1 when full. */
int sup_table_alloc(struct sup_table *t);
/* Index of the entry holding pid, or -1. */
int sup_table_find_pid(const struct sup_table *t, pid_t pid);
/* Entries of kind worker and type in any of the given states (bitmask of
 * 1 << state), retired ones counted only when with_retired. */
int sup_table_count(const struct sup_table *t, const char *type, unsigned states, int with_retired);

/* Bring type to `want` processes (see the header comment): allocates
 * WAITING entries (spawn_at = now, job_limit from max_jobs/jitter) for
 * missing processes, stops extras, and retires one old process at a time.
 * rnd supplies randomness (jitter).  Returns the number of entries added. */
int sup_table_reconcile(struct sup_table *t, const char *type, int want, uint32_t gen,
                        uint64_t max_jobs, int jitter_pct, int64_t now,
                        const struct sup_ops *ops, unsigned (*rnd)(void));

/* Backoff after `failures` consecutive crashes: base, 2*base, 4*base ...
 * at most max. */
int64_t sup_backoff_ms(int failures, int64_t base, int64_t max);

/* What to do when a RUNNING process exits on its own. */
enum sup_exit_action {
    SX_RESPAWN = 0,      /* at once (clean exit, e.g. recycled itself) */
    SX_BACKOFF,          /* crash: respawn after the backoff */
    SX_CONFIG,           /* exit 78: cannot load its plugin; wait long */
};
enum sup_exit_action sup_exit_decide(int status);

/* "exited with code 1", "killed by signal 9 (core dumped)". */
void sup_status_text(int status, char *buf, size_t len);

/* The job to blame when `late` passed its hard deadline in worker slot s:
 * the job whose handler holds the worker's loop (s->handler_job) if it has
 * held it since before that deadline (the loop was not free to finish
 * `late`), else `late` itself. */
int64_t sup_timeout_blame(const struct kue_sb_slot *s, const struct kue_sb_job *late);

/* max_jobs plus up to jitter_pct percent of it, at random. */
uint64_t sup_job_limit(uint64_t max_jobs, int jitter_pct, unsigned r);

#endif
