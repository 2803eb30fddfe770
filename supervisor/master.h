/*
 * master.h -- the supervisor's state, shared by its files (private).
 *
 *   master.c  the loop: signals, the tick, set-up
 *   reload.c  HUP: the new file read and validated at once, its plugins
 *             checked beside the loop, applied when every check passed
 *   slot.c    the state machine of one process-table entry
 *   supervise.c  reaping, respawning, hard timeouts, heartbeats, recycling
 *   drain.c   the shutdown
 *   spawn.c   fork + child init + exec of workers, web, redis-server
 *   queue.c   the queues: one per distinct prefix in use
 *   rds.c     the master's Redis work per queue: promotion, lease recovery,
 *             settling the jobs of dead workers (async, queued while
 *             disconnected)
 *   control.c kills the workers of cancelled jobs
 *   watch.c   inotify on the plugins directory
 *   check.c   plugin checks beside the loop (an exec'd kue-worker --check)
 *   rundir.c  run_dir safety, files in it, -t's bind check
 */
#ifndef KUE_SUP_MASTER_H
#define KUE_SUP_MASTER_H

#include <ev.h>
#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "conn.h"
#include "proc.h"
#include "scoreboard.h"
#include "url.h"

/* Exit codes of the master (docs/kue-supervisor.md, "Exit codes"). */
#define SUP_EXIT_OK      0
#define SUP_EXIT_FAIL    1
#define SUP_EXIT_CONFIG  2
#define SUP_EXIT_FORCED  3
/* A child (worker or web) that exits 78 (EX_CONFIG) cannot work with its
 * settings; it is not restarted in a loop. */
#define SUP_CHILD_EXIT_CONFIG 78

struct sup_fileid {
    dev_t dev;
    ino_t ino;
    int64_t mtime_ns;
    off_t size;
};

struct sup_rq;   /* a queued Redis script call (rds.c) */
struct sup_reload;   /* a HUP reload whose plugin checks run (reload.c) */
struct ctl_cancel;  /* a cancelled job (control.c) */

/* A queue: one distinct prefix in use ([redis] prefix, [type NAME]
 * prefix).  The master runs its per-queue duties on each: promotion,
 * lease recovery, settling dead workers' jobs, the leader lease and
 * retention, cancels.  Queue 0 is [redis] prefix; queues are only added
 * (a reload that brings a new prefix adds one), so an index kept in a
 * process slot stays valid.  Each has its own connections, routed on a
 * cluster to the master of its slot. */
#define SUP_MAX_QUEUES (SUP_MAX_TYPES + 1)
struct sup_queue {
    int idx;
    char prefix[64];             /* as configured: logs, kue-web */
    char keys_prefix[68];        /* what keys are built from (keys.h) */
    kue_url_t url;               /* the master's, routed by keys_prefix */
    kue_conn_t *conn;            /* scripts */
    kue_conn_t *sub;             /* P:delayed, P:leader */
    int up;                      /* conn connected */

    /* rds.c: settle FIFO, promotion, recovery */
    struct sup_rq *rq_head, *rq_tail;
    int rq_len;
    int rq_inflight;
    ev_timer rq_retry;           /* Redis refused a queued call: send again then */
    int promo_inflight, recover_inflight;
    int promo_locked;            /* this round holds promotion:lock */
    char lock_token[320];        /* our value of it: kue:<host>:<pid>[:<queue>] */
    ev_timer promo_timer, recover_timer;

    /* leader.c: the leader lease of this queue */
    char leader_token[24];       /* fencing token while leader */
    int leader;                  /* holds the lease (until leader_valid_mono) */
    int64_t leader_valid_mono;
    int64_t leader_sent_mono;
    int leader_inflight;
    long long leader_seen_token; /* queues other than 0: last token seen */
    ev_timer leader_timer;

    /* retention.c */
    ev_timer ret_timer;
    int ret_inflight;
    int ret_cursor;

    /* control.c: cancelled jobs of this queue */
    kue_conn_t *ctl_sub;
    ev_timer ctl_poll;
    int ctl_inflight;
    int ctl_n;
    struct ctl_cancel *ctl_c;
};

struct master {
    struct ev_loop *loop;
    struct sup_config *cfg;
    uint32_t gen;
    struct sup_table tab;
    kue_scoreboard_t sb;
    char self_dir[PATH_MAX - 64];
    char worker_bin[PATH_MAX];
    char web_bin[PATH_MAX];
    char hostname[256];
    pid_t mypid;

    /* per type of cfg->types[] */
    int want[SUP_MAX_TYPES];
    struct sup_fileid hid[SUP_MAX_TYPES];       /* plugin file the workers run */
    struct sup_fileid hid_bad[SUP_MAX_TYPES];   /* last file found broken */
    int plugin_dirty[SUP_MAX_TYPES];

    /* Redis */
    char url_text[600];          /* what children get */
    kue_url_t url;
    struct sup_queue *q[SUP_MAX_QUEUES];   /* q[0]: [redis] prefix */
    int nq;
    int rds_started;             /* queues added from now on start at once */
    kue_conn_t *lock;            /* cluster: the node of Kue's promotion:lock */
    ev_timer drain_kick;         /* next drain step, outside Redis callbacks */

    /* the leader lease (leader.c, one per queue), cron (cron.c, with the
     * lease of queue 0), retention (retention.c, per queue) */
    char leader_id[320];         /* host:pid:started_ms */
    ev_timer cron_timer;
    int cron_inflight;
    struct sup_cron_rt *cron_rt; /* per schedule: last tick, last job, next */
    int cron_nrt;

    /* special children: table indexes, -1 none */
    int web_idx, redis_idx;
    char redis_sock[128];

    /* lifecycle */
    int draining;                /* TERM/INT/QUIT seen */
    int forced;                  /* deadline passed / second signal / QUIT */
    int64_t drain_started, drain_deadline, flush_deadline, redis_stop_at;
    int stopping_redis;
    int quiet;
    struct sup_reload *reload;   /* pending HUP reload, NULL: none */
    uint32_t reload_seq;         /* HUPs seen: tells a check's reload apart */
    int exit_code;
    uint64_t requeued;           /* jobs put back at the deadline */
    int inflight_at_kill;
    int64_t last_rss_check;
    int64_t last_summary;
    uint64_t last_promoted, last_recovered;

    ev_signal sig[16];
    int nsig;
    ev_timer tick;
    ev_timer plugin_timer;
    ev_io inotify_w;
    int inotify_fd;
    int pidfile_fd;
    int run_fd;                  /* run_dir, O_DIRECTORY */
};

extern struct master *sup_master;

/* The queue of [redis] prefix (cron's, the scoreboard's leader). */
#define Q0(m) ((m)->q[0])

/* master.c */
const char *sup_proc_name(const struct sup_proc *p, char *buf, size_t len);
void sup_stop_proc(struct master *m, int idx, int sig, const char *why);
/* Send sig to a process (workers: KILL to their whole process group). */
void sup_signal_proc(const struct sup_proc *p, int sig);
int sup_type_index(const struct master *m, const char *name);   /* -1: not configured */

/* supervise.c */
void sup_reap(struct master *m);
void sup_spawn_waiting(struct master *m, int64_t now);
void sup_check_worker(struct master *m, int idx, int64_t now_wall, int check_rss);
void sup_escalate(struct master *m, int64_t now);

/* drain.c */
void sup_start_drain(struct master *m, int force, const char *why);

/* spawn.c */
int sup_spawn_worker(struct master *m, int idx, const struct sup_type *t);
int sup_spawn_web(struct master *m, int idx);
int sup_spawn_redis(struct master *m, int idx);
int sup_redis_start_wait(struct master *m, char *err, size_t errlen);
int sup_find_siblings(struct master *m, char *err, size_t errlen);

/* rundir.c: run_dir opened once (refused when others can write it or
 * another user owns it); files in it through sup_rundir_openat
 * (O_NOFOLLOW, a regular file of ours with one link). */
int sup_rundir_open(const char *path, char *err, size_t errlen);
int sup_rundir_openat(int dirfd, const char *name, int flags, mode_t mode);
/* -t: run_dir safe and writable (or creatable). */
int sup_rundir_check(const char *path, char *err, size_t errlen);
/* -t and start: the web address can be bound now. */
int sup_check_bind(const char *listen, char *err, size_t errlen);

/* check.c: plugin checks run beside the loop (see there) */
/* The watcher's check of type ti of the running configuration. */
int sup_pcheck_start(struct master *m, int ti, const struct sup_fileid *id, char *err,
                     size_t errlen);
/* A pending reload's check of type ti of nc (reported to
 * sup_reload_checked with seq). */
int sup_pcheck_start_reload(struct master *m, const struct sup_config *nc, int ti, uint32_t seq,
                            char *err, size_t errlen);
/* The watcher checks type now. */
int sup_pcheck_busy(const struct master *m, const char *type);
/* Kill the running checks (only the reload's when reload_only): they
 * report nothing and are reaped quietly.  How many. */
int sup_pcheck_cancel(struct master *m, int reload_only);
/* At exit: kill every check left and wait for it (at most 2 s). */
void sup_pcheck_shutdown(struct master *m);
/* From the reaper: 1 when pid was a plugin check (then taken). */
int sup_pcheck_reaped(struct master *m, pid_t pid, int status);

/* reload.c: SIGHUP */
/* Read and validate the file now; check its plugins beside the loop; a
 * reload still pending is abandoned (the newest file wins). */
void sup_reload_start(struct master *m);
/* The end of check ti of reload seq: the first failure ends the reload
 * (the running configuration stays); the last success applies it. */
void sup_reload_checked(struct master *m, uint32_t seq, int ti, int ok, const char *err);
/* Abandon a pending reload (its checks killed); why goes in the log. */
void sup_reload_abandon(struct master *m, const char *why);

/* rds.c (queue.c: the queues themselves) */
int sup_rds_start(struct master *m, char *err, size_t errlen);
void sup_rds_stop(struct master *m);
void sup_rds_settle(struct sup_queue *q, pid_t pid, const char *cause, int requeue);
void sup_rds_fail_job(struct sup_queue *q, int64_t id, const char *error);
/* Record that worker pid is being drained (P:drained:<host>:<pid>): lease
 * recovery then puts its jobs back without spending an attempt. */
void sup_rds_mark_drained(struct sup_queue *q, pid_t pid);
/* A script call that must reach Redis before the exit (the drain waits
 * for it, at most 3 s). */
void sup_rds_call(struct sup_queue *q, kue_script_id script, const char *what, int argc,
                  const char *const *argv);
/* Non-zero while queued or sent calls of any queue await an answer. */
int sup_rds_busy(const struct master *m);
void sup_rds_timers(struct master *m, int on);
/* Start / stop one queue's connections and timers (rds.c). */
int sup_rds_queue_start(struct master *m, struct sup_queue *q);
void sup_rds_queue_stop(struct master *m, struct sup_queue *q);

/* queue.c */
/* The queue of an effective prefix, added (and started once the master's
 * Redis work runs) when new; NULL when SUP_MAX_QUEUES are in use. */
struct sup_queue *sup_queue_get(struct master *m, const char *keys_prefix, const char *prefix);
/* Every prefix of cfg has its queue: 0, or -1 (logged). */
int sup_queues_sync(struct master *m, const struct sup_config *cfg);
/* The queue a worker runs on (kept in its slot when it was started). */
struct sup_queue *sup_proc_queue(struct master *m, const struct sup_proc *p);
void sup_queues_free(struct master *m);

/* leader.c: the leader lease of each queue */
void sup_leader_start(struct master *m, struct sup_queue *q);
/* Drain: give the lease up (the next leader takes over at once), stop
 * cron and retention. */
void sup_leader_drain(struct master *m, struct sup_queue *q);
void sup_leader_free(struct master *m, struct sup_queue *q);
/* The queue's connection is up: ask for (or renew) the lease now, not a
 * third of the lease after a try that found it down. */
void sup_leader_connected(struct master *m, struct sup_queue *q);
/* On the subscriber connection (each time it is up): P:leader. */
void sup_leader_subscribe(struct sup_queue *q, kue_conn_t *c);
/* Holds the lease of q now (renewed within its time). */
int sup_is_leader(const struct master *m, const struct sup_queue *q);
/* A leader-only script answered FENCED: the lease is gone. */
void sup_leader_lost(struct master *m, struct sup_queue *q, const char *why);

/* retention.c */
void sup_retention_start(struct master *m, struct sup_queue *q);
void sup_retention_stop(struct master *m, struct sup_queue *q);
/* cron.c */
void sup_cron_start(struct master *m);
void sup_cron_stop(struct master *m);
void sup_cron_free(struct master *m);
/* A new leader: run the due ticks now. */
void sup_cron_kick(struct master *m);
/* control.c: cancelled jobs (P:cancels, P:control), per queue */
int sup_control_start(struct master *m, struct sup_queue *q);
void sup_control_stop(struct master *m, struct sup_queue *q);
/* Kill worker idx when it holds a cancelled job whose grace time passed
 * (or whose plugin has no cancel hook); 1 when it did. */
int sup_control_check(struct master *m, int idx, const struct kue_sb_slot *s, int64_t now_wall);

/* watch.c */
int sup_watch_start(struct master *m);
void sup_watch_stop(struct master *m);
void sup_watch_restart(struct master *m);
int sup_fileid_get(const char *path, struct sup_fileid *id);
int sup_fileid_eq(const struct sup_fileid *a, const struct sup_fileid *b);
void sup_check_plugins_changed(struct master *m);
/* The end of a check of type ti's file id (ok, or err says why). */
void sup_plugin_checked(struct master *m, int ti, const struct sup_fileid *id, int ok,
                        const char *err);

/* One step of the drain: kill at the deadline, stop the web process,
 * wait (bounded) for pending Redis calls, stop Redis, exit the loop. */
void sup_drain_step(struct master *m, int64_t now);

#endif
