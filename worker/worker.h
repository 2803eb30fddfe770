/*
 * worker.h -- the kue-worker process: one job type, one handler plugin, up
 * to `concurrency` jobs in flight on one libev loop (private header).
 *
 * worker/args.c    command line -> kw_config_t
 * worker/worker.c  the loop: connections, fetch (claim / wait for a token), leases,
 *                  TTL, signals, scoreboard
 * worker/outbox.c  the outbox: outcomes and reports kept until Redis takes them
 * worker/host.c    the services plugins reach through their handles
 *                  (struct kue_host_api): progress, log, done, pause ...
 * worker/main.c    main(): parse, run, exit code
 */
#ifndef KUE_WORKER_H
#define KUE_WORKER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <kue/kue.h>
#include <kue/plugin.h>

/* Exit codes (docs/plugins.md). */
#define KW_EXIT_OK      0
#define KW_EXIT_FAIL    1
#define KW_EXIT_USAGE   2
#define KW_EXIT_CONFIG 78      /* plugin cannot load / init failed: do not respawn */

typedef struct kw_config {
    char redis_url[1024];
    char prefix[132];           /* what keys are built from: P, or {P} with --key-style hashtag */
    char type[KUE_MAX_TYPE_LEN + 1];
    char plugin[4096];
    int concurrency;            /* 1 .. KUE_SB_MAX_INFLIGHT */
    int slot;                   /* scoreboard slot, -1: none */
    int64_t timeout_ms;         /* hard per-job limit (the master kills), 0: none */
    long long max_jobs;         /* recycle after this many jobs, 0: never */
    int64_t lease_ms;
    int log_json;
    int log_level;
    char name[160];             /* for the log role: "email#2" */
    long long rate_n;           /* --rate: starts per period, 0: no limit */
    int64_t rate_period_ms;
    long long group_concurrency; /* active per job group, 0: no limit */
    int wait_replicas;          /* WAIT for this many replicas after outcomes, 0: off */
    int wait_timeout_ms;        /* ... for at most this long */
} kw_config_t;
/* Bounds of --rate and --group-concurrency (as [type] rate and
 * group_concurrency in kue-supervisor). */
#define KW_MAX_RATE 100000
#define KW_MAX_RATE_PERIOD_MS (24LL * 3600 * 1000)
#define KW_MAX_GROUP_CONCURRENCY 10000

/* Parse argv into cfg (defaults filled in).  0 ok; 1 when --help was asked
 * (usage printed); -1 with a message in err. */
int kw_parse_args(int argc, char **argv, kw_config_t *cfg, char *err, size_t errlen);
void kw_usage(FILE *f);

/* Run the worker until it drains; returns the process exit code. */
int kw_run(const kw_config_t *cfg);

/* ---- pure helpers (unit-tested) ------------------------------------------ */

/* Kue's progress: min(100, floor(done*100/total)), 0 when total <= 0. */
long kw_progress_pct(long done, long total);
/* Non-zero when a stored backoff field is JavaScript function source (not
 * "true" and not a JSON object), i.e. written by Node Kue's function backoff. */
int kw_backoff_is_function(const char *backoff);
/* JSON text as a Node handler's JSON.stringify would store it (common/json.h).
 * Returns a malloc'ed string, or NULL when text is not valid JSON (then
 * err, if not NULL, receives the reader's message). */
char *kw_json_compact(const char *text, char *err, size_t errlen);
/* What Kue stores for a result it cannot encode:
 * {"error":true,"message":"Invalid JSON Result: \"...\""} (caller frees;
 * NULL: out of memory). */
char *kw_invalid_result(const char *result_json);

#endif
