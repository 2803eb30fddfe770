/*
 * worker_int.h -- structures shared by worker.c (the loop) and host.c (the
 * services behind plugin handles).  Private to worker/.
 */
#ifndef KUE_WORKER_INT_H
#define KUE_WORKER_INT_H

#include <ev.h>
#include <jansson.h>

#include "conn.h"
#include "keys.h"
#include "pluginload.h"
#include "scoreboard.h"
#include "worker.h"

#define KW_JOB_MAGIC 0x6b75656aU      /* "kuej" */
#define KW_RETIRED_RING 1024          /* finished handles kept to catch late done() */

enum kw_job_state {
    KJ_RUNNING = 1,     /* in a slot, handler working */
    KJ_TAKEN,           /* failed by the worker (TTL); the handler still holds it */
    KJ_FINISHED         /* done() seen; kept a while so a repeated done() is caught */
};

struct kw_worker;

/* One job handed to the plugin.  The handle is the first member, so the
 * kue_handle_t * a plugin holds is the job.  Lifetime: from claim until the
 * handler calls done() (or until exit, if a taken-away handler never does),
 * then while KW_RETIRED_RING more jobs finish (the retired ring), so that a
 * repeated done() finds a FINISHED job instead of freed memory. */
struct kw_job {
    kue_handle_t h;
    uint32_t magic;
    int state;                  /* enum kw_job_state */
    struct kw_worker *w;
    int64_t id;
    char idstr[24];
    char wid[KUE_MAX_TYPE_LEN + 320];  /* workerId kue:host:pid:type:slot */
    int slot;                   /* 1-based while it holds a slot, else 0 */
    char *type, *data, *backoff;
    json_t *json;
    int priority, attempts, max_attempts;
    int64_t created_at, ttl_ms, delay_ms;
    int64_t started_mono, started_wall;
    ev_timer ttl_timer;
    int cancelled;              /* a cancel for it arrived (control.c) */
    struct kw_job *taken_prev, *taken_next;   /* w->taken, while KJ_TAKEN */
};

/* A script call that must reach Redis (complete, fail) or should (progress,
 * log): kept until its reply arrives, re-sent after a reconnect, retried
 * while Redis refuses writes (worker/outbox.c). */
enum kw_report_kind { KR_COMPLETE, KR_FAIL, KR_PROGRESS, KR_LOG, KR_REQUEUE };

enum kw_report_state {
    KRS_QUEUED = 0,     /* waiting for the connection or the next batch */
    KRS_SENT,           /* on the current connection, awaiting its reply */
    KRS_HELD,           /* refused for now (OOM, READONLY ...): waiting to retry */
    KRS_DONE,           /* answered, or given up: freed by the outbox */
    KRS_REPLICATING,    /* answered, a WAIT for replicas follows it (--wait-replicas) */
    KRS_N
};
enum kw_report_event {
    KRE_SEND = 0,       /* QUEUED -> SENT */
    KRE_LOST,           /* SENT -> QUEUED: the connection dropped */
    KRE_ANSWERED,       /* SENT -> DONE */
    KRE_REFUSED,        /* SENT -> HELD, or DONE (given up past the bound) */
    KRE_RETRY,          /* HELD -> QUEUED */
    KRE_REPLICATED,     /* REPLICATING -> DONE: its WAIT returned (LOST: -> QUEUED) */
    KRE_N
};

struct kw_report {
    struct kw_report *prev, *next;
    struct kw_worker *w;
    int kind;                   /* enum kw_report_kind */
    int state;                  /* enum kw_report_state */
    kue_script_id sid;
    int64_t job_id;
    int64_t refused_since;      /* monotonic ms of the first refusal, 0: none */
    int gave_up;                /* refused past the bound: left to the lease */
    int replicate;              /* ANSWERED goes to REPLICATING, not DONE */
    int resent;                 /* sent again after its WAIT was lost */
    uint64_t wait_seq;          /* the WAIT that follows it (kw_outbox.wait_sent) */
    int argc;
    const char **argv;
    size_t *lens;               /* argv and lens live in this allocation */
};

struct kw_outbox {
    struct kw_report *head, *tail;
    size_t n;
    int queued_completes;       /* KR_COMPLETE reports QUEUED for the next batch */
    int refusals;               /* refusals in a row: paces the retries */
    ev_timer retry;
    /* --wait-replicas: one WAIT per loop iteration after the outcomes sent
     * in it; WAITs are numbered in the order sent, and answered in it */
    uint64_t wait_sent;         /* WAITs sent (the next one's number) */
    uint64_t wait_answered;     /* WAIT replies seen */
    int wait_owed;              /* an outcome went out since the last WAIT */
    unsigned long long wait_short;  /* WAITs that fell short */
    int64_t wait_warned_ms;
};

/* The fetch cycle (worker/fetch.c). */
enum kw_fetch_state {
    KF_IDLE = 0,        /* nothing in flight: the next GO decides */
    KF_CLAIMING,        /* a claim on cmd */
    KF_WAITING,         /* BLPOP of our wake list and the type's tokens on blk */
    KF_CHECKING,        /* looking for held jobs whose claim reply was lost */
    KF_BACKOFF,         /* the wait failed, or the rate window is full */
    KF_N
};
enum kw_fetch_event {
    KFE_GO = 0,         /* the loop is about to block: take jobs if slots are free */
    KFE_REPLY,          /* a claim's reply (kw_fetch_in: lost, error, got, asked, parked) */
    KFE_WAIT_NIL,       /* the wait timed out or was unblocked */
    KFE_WAIT_ERROR,     /* the wait failed */
    KFE_RETRY,          /* the backoff's timer */
    KFE_CHECK_MORE,     /* the check sent one more command */
    KFE_CHECK_DONE,     /* one of the check's replies came */
    KFE_CMD_UP,         /* cmd connected (again) */
    KFE_CMD_DOWN,
    KFE_BLK_DOWN,
    KFE_SEND_FAILED,    /* what the last action asked could not be sent */
    KFE_TOKEN,          /* the wait popped a token of the type */
    KFE_HANDED,         /* the wait popped a job handed off to us (started) */
    KFE_N
};
enum kw_fetch_action {
    KFA_NONE = 0,
    KFA_CLAIM,          /* send a claim for in.free_slots slots */
    KFA_WAIT,           /* send the wait */
    KFA_CHECK,          /* send the held check */
    KFA_UNBLOCK,        /* end the wait (CLIENT UNBLOCK) */
    KFA_RETRY_LATER,    /* arm the backoff's timer */
    KFA_UNPARK          /* a claim of no new job: leave the parked list, take
                         * what was handed off meanwhile */
};

struct kw_fetch {
    int state;          /* enum kw_fetch_state */
    int want_wake;      /* the last claim found the queue empty: wait next */
    int check_due;      /* a claim reply was lost: check before claiming again */
    int checks;         /* CHECKING: replies still to come */
    int park_slot;      /* registered as parked with this slot (0: not) */
    int tokens;         /* tokens the wait popped, for the next claim */
    int64_t retry_ms;   /* BACKOFF: how long (0: one second) */
};

/* What the machine sees of the worker and of a claim's reply. */
struct kw_fetch_in {
    int allowed;        /* not draining, paused or quiet */
    int cmd_up, blk_up;
    int free_slots;     /* KFE_GO: slots to offer (after --max-jobs) */
    int lost, error;    /* KFE_REPLY: connection dropped / error reply */
    int got, asked;     /* KFE_REPLY: jobs returned, new jobs asked for */
    int parked;         /* KFE_REPLY: the claim registered us with this slot (0: no) */
    int64_t wait_ms;    /* KFE_REPLY: > 0, the type's rate window is full for this long */
};

struct kw_plugin_ctx {
    kue_plugin_ctx_t pub;       /* first: the kue_plugin_ctx_t * a plugin holds */
    struct kw_worker *w;
    void *userdata;
};

struct kw_worker {
    const kw_config_t *cfg;
    struct ev_loop *loop;
    kue_url_t url;
    kue_pl_t plugin;
    struct kw_plugin_ctx ctx;
    char host[256];
    int pid;
    char events_channel[160];

    kue_conn_t *cmd, *blk, *sub, *ctl;
    int type_paused;            /* the type is paused fleet-wide (P:paused) */

    struct kw_job *slots[KUE_SB_MAX_INFLIGHT + 1];   /* 1-based; RUNNING jobs */
    int inflight;
    struct kw_job *taken;       /* taken away, handler not done yet (freed at exit) */
    int claim_slots[KUE_SB_MAX_INFLIGHT];            /* slots offered to the pending claim */
    int claim_n;                /* new jobs it asks for */
    int claim_cap;              /* replies it may return (n, or 1 for an unpark) */
    int claim_park;             /* it asked to be parked when short */
    char wake_key[600];         /* P:wake:<host>:<pid>, our hand-off list */
    struct kw_job *retired[KW_RETIRED_RING];
    unsigned retired_pos;

    struct kw_outbox out;
    int lease_given_up;         /* an outcome was given up: renew no more, drain */

    struct kw_fetch fetch;
    long long blk_id;           /* CLIENT ID of blk (for CLIENT UNBLOCK), 0 if unknown */
    int kick;                   /* send KFE_GO before the loop blocks */
    int paused, quiet, draining;
    long long started_jobs;
    uint64_t done_ok, done_failed;
    int exit_code;
    int ppid;                   /* the supervisor that started us (another parent
                                 * means orphaned), 0: not started by one */
    _Atomic int64_t handler_job;    /* the job whose handler runs now, 0: none known */
    _Atomic int64_t handler_since;  /* monotonic ms the loop's current callback (or
                                     * process()) began, 0: the loop is waiting
                                     * (read by the orphan watchdog thread) */
    int64_t cb_since_mono, cb_since_wall;   /* this round of callbacks began, 0: none */

    ev_prepare prepare;
    ev_timer renew_timer, heartbeat_timer, pause_timer, blk_retry;
    ev_signal sig_term, sig_int, sig_quit, sig_tstp, sig_cont, sig_hup, sig_pipe;

    kue_scoreboard_t sb;
    struct kue_sb_slot *sbs;    /* our slot, or NULL */
};

extern const struct kue_host_api kw_host_api;

/* worker.c: the loop */
void kw_kick(struct kw_worker *w);          /* KFE_GO before the loop blocks */
void kw_sb_sync(struct kw_worker *w);       /* our scoreboard slot from the state */
void kw_begin_drain(struct kw_worker *w, const char *why);   /* why NULL: no log line */

/* jobs.c */
void kw_callbacks_begin(struct kw_worker *w);   /* around each round of watcher callbacks */
void kw_callbacks_end(struct kw_worker *w);
void kw_handler_touch(struct kw_worker *w, const struct kw_job *j);   /* a callback works for j */
void kw_job_start(struct kw_worker *w, int slot, const redisReply *claimed);
int kw_job_known(const struct kw_worker *w, int64_t id);     /* running, taken away, or its
                                                                outcome in the outbox */
void kw_jobs_free(struct kw_worker *w);
void kw_sub_open(struct kw_worker *w);      /* listen for Kue's "ttl exceeded" */
long long kw_num(const char *s, long long dflt);

/* control.c: cancel and pause messages on P:control */
void kw_control_open(struct kw_worker *w);
void kw_control_poll(struct kw_worker *w);      /* while paused: is it still? */
void kw_type_paused(struct kw_worker *w, int paused);
/* jobs.c: fail the attempt of a running job while its handler holds it */
void kw_job_take_away(struct kw_job *j, const char *error, const char *cause);

/* fetch.c */
void kw_fetch_init(struct kw_worker *w);
void kw_fetch_event(struct kw_worker *w, int ev, const struct kw_fetch_in *reply);
void kw_fetch_stop_waiting(struct kw_worker *w);
int kw_handoff_start(struct kw_worker *w, const char *msg, size_t len);   /* 0, -1: malformed */
/* The machine: apply ev; returns the action (enum kw_fetch_action) for the
 * caller to perform, -1 when ev is not allowed in f's state. */
int kw_fetch_step(struct kw_fetch *f, int ev, const struct kw_fetch_in *in);
const char *kw_fetch_state_name(int state);

/* services for host.c */
void kw_job_finish(struct kw_job *j, const char *error, const char *result_json);
void kw_report_progress(struct kw_job *j, long pct, const char *data_json);
void kw_report_log(struct kw_job *j, const char *line, size_t len);
void kw_pause(struct kw_worker *w, int64_t timeout_ms);
void kw_resume(struct kw_worker *w);
void kw_check_drained(struct kw_worker *w);
/* Redis refused an outcome for longer than the lease: stop renewing the
 * lease and drain, so the job is released by the lease's rules. */
void kw_lease_give_up(struct kw_worker *w);

/* watchdog.c: a thread that stops an orphaned worker whose loop is held
 * by a handler (or whose drain outlasts the type's timeout). */
void kw_watchdog_start(struct kw_worker *w);
void kw_watchdog_stop(void);
/* When the watchdog stops an orphan: limit after it was orphaned, or after
 * the handler holding its loop was entered, whichever comes first
 * (monotonic ms; handler_since 0: not in a handler). */
int64_t kw_orphan_deadline(int64_t orphan_since, int64_t handler_since, int64_t limit);

/* outbox.c */
void kw_outbox_init(struct kw_worker *w);
void kw_outbox_add(struct kw_worker *w, int kind, kue_script_id sid, int64_t job_id,
                   int argc, const char **argv, const size_t *lens);
void kw_outbox_flush(struct kw_worker *w);            /* everything QUEUED */
void kw_outbox_flush_completes(struct kw_worker *w);  /* the completions' batch */
void kw_outbox_flush_wait(struct kw_worker *w);       /* the WAIT owed for outcomes sent */
void kw_outbox_free(struct kw_worker *w);
/* The report's state machine: apply ev; returns the new state, -1 when the
 * event is not allowed in its state (the report is unchanged).  bound: how
 * long a refused outcome is retried (ms). */
int kw_report_step(struct kw_report *r, int ev, int64_t now, int64_t bound);

#endif
