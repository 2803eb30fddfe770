/*
 * scoreboard.h -- the table in shared memory where every worker process
 * records its state, the jobs it holds and its counters, and which the
 * master and the web process read (Apache's scoreboard, in spirit).
 *
 * The master creates it (a memfd, so it survives exec) before forking and
 * passes its descriptor to children in the environment variable
 * KUE_SCOREBOARD_FD.  Each worker writes only its own slot; the master
 * writes slot ownership (pid, type, generation) before the child runs.
 * Readers use kue_sb_read_slot(), a seqlock read that retries while a
 * writer is mid-update, so they never see a torn slot.
 *
 * Every child maps the page read-write, so nothing in it bounds a loop or
 * an index: the slot count each process uses is its own copy
 * (kue_scoreboard_t.nslots, from the master's argument or, in a child,
 * from the size of the mapping at attach time), and the memfd is sealed
 * against shrinking and growing, so no child can turn the master's reads
 * into SIGBUS (docs/security.md).
 */
#ifndef KUE_SCOREBOARD_H
#define KUE_SCOREBOARD_H

#include <stdint.h>
#include <sys/types.h>

#define KUE_SB_MAGIC        0x4b554553u   /* "KUES" */
#define KUE_SB_VERSION      4u
#define KUE_SB_MAX_SLOTS    512
#define KUE_SB_MAX_INFLIGHT 256            /* also the upper bound of concurrency */
#define KUE_SB_TYPE_LEN     64

enum kue_sb_state {
    KUE_SB_FREE = 0,     /* unused slot */
    KUE_SB_STARTING,     /* forked, loading plugin / connecting */
    KUE_SB_READY,        /* taking jobs */
    KUE_SB_QUIET,        /* paused: not taking jobs */
    KUE_SB_DRAINING,     /* finishing in-flight jobs before exit */
    KUE_SB_EXITED        /* reaped, waiting for respawn */
};

struct kue_sb_job {
    int64_t id;
    int64_t started_ms;      /* wall clock */
    int64_t deadline_ms;     /* hard timeout (wall clock), 0: none */
};

struct kue_sb_slot {
    uint32_t seq;            /* seqlock: odd while being written */
    uint32_t state;          /* enum kue_sb_state */
    int32_t pid;
    uint32_t generation;     /* config generation that started it */
    char type[KUE_SB_TYPE_LEN];
    int64_t started_ms;
    int64_t heartbeat_ms;    /* updated by the worker at least every second */
    uint64_t jobs_done;
    uint64_t jobs_failed;
    uint64_t rss_kb;
    uint32_t restarts;       /* written by the master: of this slot's process
                              * entry (per type: kue_sb_retired.restarts) */
    uint32_t concurrency;
    uint32_t inflight_n;
    uint32_t redis_up;       /* worker's command connection is up */
    int64_t handler_job;     /* the job whose handler runs now (holds the loop), 0: none */
    int64_t handler_since_ms;  /* wall clock: when that handler was entered */
    int64_t cancel_job;      /* a cancelled job whose plugin has no cancel hook: the
                              * worker asks its master to kill it now, 0: none */
    struct kue_sb_job inflight[KUE_SB_MAX_INFLIGHT];
};

/* Per-type counters that outlive worker processes (and their types): the
 * master moves an exited worker's job counts here when it reaps it, so
 * that per-type totals (live slots plus these) never go down while the
 * supervisor runs; restarts are counted only here, when they happen, so
 * a type that a reload removes keeps its count too. */
struct kue_sb_retired {
    char type[KUE_SB_TYPE_LEN];
    uint64_t jobs_done;
    uint64_t jobs_failed;
    uint64_t restarts;       /* workers of the type restarted after they died */
};

/* Jobs removed by retention in this supervisor, by type (written by the
 * master: the type first, then npruned; counts only grow). */
#define KUE_SB_MAX_PRUNED 64
struct kue_sb_pruned {
    char type[KUE_SB_TYPE_LEN];
    uint64_t complete;
    uint64_t failed;
};

struct kue_sb_header {
    uint32_t magic, version;
    uint32_t nslots;
    int32_t master_pid;
    uint32_t draining;       /* master is draining */
    uint32_t quiet;          /* master is quiet (TSTP) */
    int64_t master_heartbeat_ms;
    int64_t started_ms;
    uint64_t promoted_total;
    int64_t promotion_lag_ms_last;    /* lag of the last promoted job */
    uint64_t recovered_total;         /* jobs settled after a worker died / lease expired */
    uint64_t restarts_total;
    uint32_t redis_up;
    uint32_t counts_seq;     /* seqlock over moves of counts into retired[] */
    uint32_t nretired;
    struct kue_sb_retired retired[KUE_SB_MAX_SLOTS];   /* one per type at most */
    /* the leader lease of the prefix (supervisor/leader.c) */
    uint32_t leader;                  /* 1 while this supervisor holds it */
    uint32_t npruned;
    int64_t leader_token;             /* fencing token of the lease held (or last seen) */
    int64_t leader_since_ms;
    char leader_holder[128];          /* "host:pid:started_ms" of the holder seen last */
    struct kue_sb_pruned pruned[KUE_SB_MAX_PRUNED];   /* retention, by type */
};

typedef struct kue_scoreboard {
    struct kue_sb_header *hdr;
    struct kue_sb_slot *slots;
    int fd;
    size_t size;
    uint32_t nslots;    /* this process's own copy; never read from hdr */
} kue_scoreboard_t;

/* Master: create a scoreboard of nslots in a memfd (fd inheritable). 0/-1. */
int kue_sb_create(kue_scoreboard_t *sb, uint32_t nslots);
/* Child: map the scoreboard from fd (from KUE_SCOREBOARD_FD when fd < 0). */
int kue_sb_attach(kue_scoreboard_t *sb, int fd);
/* The same, mapped read-only (kue-web only reads it). */
int kue_sb_attach_ro(kue_scoreboard_t *sb, int fd);
void kue_sb_detach(kue_scoreboard_t *sb);

/* Writer side: bracket every update of one slot. */
void kue_sb_write_begin(struct kue_sb_slot *s);
void kue_sb_write_end(struct kue_sb_slot *s);
/* Reader side: a consistent copy of slot i.  0 ok, -1 bad index. */
int kue_sb_read_slot(const kue_scoreboard_t *sb, uint32_t i, struct kue_sb_slot *out);

const char *kue_sb_state_name(uint32_t state);

/* Master, after reaping the worker of slot i: add its job counts to its
 * type's retired totals and clear them in the slot, in one step for
 * readers that bracket their reading with the two calls below. */
void kue_sb_retire_counts(kue_scoreboard_t *sb, uint32_t i);
/* Master: a worker of type died and is restarted (its type's restarts in
 * retired[], which only grow). */
void kue_sb_count_restart(kue_scoreboard_t *sb, const char *type);
/* Reader: read slots and retired[] between begin and retry; retry != 0
 * means a move happened meanwhile, so read again. */
uint32_t kue_sb_counts_begin(const kue_scoreboard_t *sb);
int kue_sb_counts_retry(const kue_scoreboard_t *sb, uint32_t begin);

#endif
