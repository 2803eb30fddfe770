/*
 * kue.h -- the public producer API of libkue.
 *
 * libkue stores jobs in Redis exactly as Kue 0.11 (the Node.js job queue)
 * does, so a Node Kue process on the same Redis and prefix reads, processes
 * and displays the jobs written here, and the reverse.  Every state change is
 * one atomic server-side script; see docs/wire.md for the key layout.
 *
 * Conventions
 *  - Functions returning int return 0 on success and -1 on error; the error
 *    text is then available from kue_errstr() and its class from
 *    kue_errcode() (switch on the class, never on the text).  Constructors
 *    return NULL.
 *  - kue_connect() sets SIGPIPE to SIG_IGN when it is at its default, so a
 *    connection the server closed is an error, not a dead process.
 *  - A kue_t is one blocking connection.  It is not thread-safe: use one per
 *    thread.  Calls reconnect transparently once after a dropped connection.
 *  - Strings returned by accessors of a kue_job_t are borrowed: they live as
 *    long as the job object.  Functions documented "caller frees" return
 *    memory to release with free() (or the named destructor).
 */
#ifndef KUE_KUE_H
#define KUE_KUE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KUE_VERSION "0.1.0"

/* Marks the functions libkue exports; everything else in the library is
 * built with hidden visibility (tests/unit/lib_exports.c checks the list). */
#ifndef KUE_API
#define KUE_API __attribute__((visibility("default")))
#endif

/* Hard limits on what is accepted from callers (bytes). */
#define KUE_MAX_TYPE_LEN   128
#define KUE_MAX_DATA_LEN   (16u * 1024u * 1024u)
#define KUE_MAX_ERROR_LEN  (64u * 1024u)
#define KUE_MAX_LOG_LEN    (64u * 1024u)

/* Bounds on times given in ms (docs/data.md).  A delay, ttl or run-at
 * beyond them is refused by kue_job_save(); a backoff that computes more is
 * clamped to KUE_MAX_DELAY_MS, so a due time never overflows. */
#define KUE_MAX_DELAY_MS   315360000000LL      /* ten years */
#define KUE_MAX_TTL_MS     315360000000LL      /* ten years */
#define KUE_MAX_RUN_AT_MS  253402300799999LL   /* 9999-12-31T23:59:59.999Z */
/* The largest priority magnitude accepted (the integers a double holds
 * exactly; a JavaScript producer's Number.MAX_SAFE_INTEGER). */
#define KUE_MAX_PRIORITY_ABS 9007199254740991.0

/* Kue's named priorities; lower runs first. */
#define KUE_PRIORITY_LOW       10
#define KUE_PRIORITY_NORMAL     0
#define KUE_PRIORITY_MEDIUM    -5
#define KUE_PRIORITY_HIGH     -10
#define KUE_PRIORITY_CRITICAL -15

typedef struct kue kue_t;
typedef struct kue_job kue_job_t;

/* Job states as Kue names them. */
typedef enum {
    KUE_STATE_INACTIVE = 0,
    KUE_STATE_ACTIVE,
    KUE_STATE_COMPLETE,
    KUE_STATE_FAILED,
    KUE_STATE_DELAYED,
    KUE_STATE__COUNT,
    KUE_STATE_UNKNOWN = -1
} kue_state_t;

KUE_API const char *kue_state_name(kue_state_t s);        /* "inactive", ... */
KUE_API kue_state_t kue_state_parse(const char *name);    /* KUE_STATE_UNKNOWN if not one of the five */

/* Parse "low|normal|medium|high|critical" or a decimal integer.
 * Returns 0 and stores the value, or -1 for anything else. */
KUE_API int kue_priority_parse(const char *s, int *out);
/* The name of a priority value, or NULL if it is not one of the five. */
KUE_API const char *kue_priority_name(int prio);

/* ---- connection --------------------------------------------------------- */

/* Connect to Redis.  url: "redis://[:password@]host[:port][/db]",
 * "unix:///path.sock[?db=N][&password=P]" (NULL: redis://127.0.0.1:6379/0).
 * prefix: key prefix (NULL: "q").  On failure returns NULL and, when err is
 * not NULL, writes a message to err (errlen bytes). */
KUE_API kue_t *kue_connect(const char *url, const char *prefix, char *err, size_t errlen);
KUE_API void kue_free(kue_t *k);
/* The last error on k (borrowed; empty string if none). */
KUE_API const char *kue_errstr(const kue_t *k);

/* The class of the last error on k, as hiredis pairs err with errstr. */
typedef enum {
    KUE_OK = 0,
    KUE_ERR_IO,          /* Redis unreachable, the connection dropped, or
                          * not serving yet (LOADING, BUSY, MASTERDOWN) */
    KUE_ERR_NOTFOUND,    /* no such job */
    KUE_ERR_INVALID,     /* bad input (type, data, option, state name) */
    KUE_ERR_WRONGSTATE,  /* the job is in a state that forbids the change */
    KUE_ERR_SERVER,      /* Redis answered with an error (OOM, READONLY, ...) */
    KUE_ERR_PROTOCOL,    /* an unexpected reply */
    KUE_ERR_OOM          /* out of memory here */
} kue_errcode_t;
/* Meaningful after a call on k failed (like kue_errstr(), it is not reset
 * by later successful calls; KUE_OK before any error).  k NULL gives
 * KUE_ERR_IO. */
KUE_API kue_errcode_t kue_errcode(const kue_t *k);
KUE_API const char *kue_prefix(const kue_t *k);
/* Enable indexing of job data for full-text search (Kue's reds index).
 * Off by default, as in Kue 0.9+. */
KUE_API void kue_set_search(kue_t *k, int enabled);
/* The key style: "plain" (P:jobs, the default) or "hashtag" ({P}:jobs, as
 * Kue 0.11 writes its keys on ioredis, so that one queue lives in one Redis
 * Cluster hash slot).  Every key and channel follows it (docs/wire.md).
 * Returns 0, or -1 (KUE_ERR_INVALID) for another name, or when a cluster
 * URL (which implies hashtag) is given "plain". */
KUE_API int kue_set_key_style(kue_t *k, const char *style);

/* Bounds of kue_set_wait_replicas() (and of [redis] wait_replicas and
 * wait_timeout in kue-supervisor). */
#define KUE_MAX_WAIT_REPLICAS   64
#define KUE_MAX_WAIT_TIMEOUT_MS 60000
/* Make saves wait for replicas: after each kue_job_save(), and once after a
 * kue_job_save_bulk(), send WAIT n timeout_ms on the connection that saved,
 * so that the call returns once n replicas have the jobs, or after
 * timeout_ms.  n = 0 (the default) turns it off.  When fewer than n replicas
 * confirm (the timeout passed, or the connection dropped during the wait)
 * the save still succeeds, since the jobs are written on the master and a
 * WAIT cannot undo that: the shortfall is counted (kue_wait_shortfalls())
 * and logged on stderr, at most once per 10 s.  Returns 0, or -1
 * (KUE_ERR_INVALID) for n outside 0..KUE_MAX_WAIT_REPLICAS or timeout_ms
 * outside 1..KUE_MAX_WAIT_TIMEOUT_MS (WAIT 0 would wait forever). */
KUE_API int kue_set_wait_replicas(kue_t *k, int n, int timeout_ms);
/* The number of saves (bulk saves count once) whose WAIT ended with fewer
 * replicas than asked, since kue_connect(). */
KUE_API unsigned long long kue_wait_shortfalls(const kue_t *k);

/* ---- building and saving jobs ------------------------------------------- */

/* A new unsaved job.  data: JSON text (NULL: "{}").  The data is validated
 * by kue_job_save(), not here.  Caller frees with kue_job_free(). */
KUE_API kue_job_t *kue_job_new(const char *type, const char *data_json);
KUE_API void kue_job_free(kue_job_t *job);

KUE_API void kue_job_set_priority(kue_job_t *job, int prio);
/* Named or numeric priority; -1 on an unknown name. */
KUE_API int kue_job_set_priority_name(kue_job_t *job, const char *name);
/* Number of attempts (>= 1); -1 if n < 1. */
KUE_API int kue_job_set_attempts(kue_job_t *job, int n);
/* Delay in ms from now (<= 0: none). */
KUE_API void kue_job_set_delay(kue_job_t *job, int64_t delay_ms);
/* Run not before this absolute time (ms since the epoch). */
KUE_API void kue_job_set_run_at(kue_job_t *job, int64_t epoch_ms);
/* Delay, run-at and ttl are checked against KUE_MAX_* by kue_job_save(). */
KUE_API void kue_job_set_ttl(kue_job_t *job, int64_t ttl_ms);
/* Backoff as Kue stores it: "true", or a JSON object such as
 * {"type":"fixed","delay":1000} / {"type":"exponential","delay":200,"maxDelay":5000}.
 * -1 if it is neither. */
KUE_API int kue_job_set_backoff(kue_job_t *job, const char *backoff_json);
KUE_API void kue_job_set_remove_on_complete(kue_job_t *job, int yes);
/* Index only these paths of data (dot-separated, as lodash _.get) for
 * search.  The array is copied. */
KUE_API int kue_job_set_search_keys(kue_job_t *job, const char *const *keys, size_t n);
/* A unique key (1 to KUE_MAX_UNIQUE_LEN bytes, no NUL): while a job of the
 * same type holding this key is inactive, delayed or active, saving this
 * one creates nothing and gives that job's id (kue_job_existing() says
 * which happened).  keep_ms > 0: the key stays held that long after the
 * job completes (a throttle; at most KUE_MAX_DELAY_MS).  NULL clears it.
 * -1 on a bad key or keep_ms.  docs/libkue.md. */
#define KUE_MAX_UNIQUE_LEN 256
KUE_API int kue_job_set_unique(kue_job_t *job, const char *key, int64_t keep_ms);
/* After a save: 1 when no job was created because another job held the
 * unique key (kue_job_id() is that job's id), else 0. */
KUE_API int kue_job_existing(const kue_job_t *job);
/* The job's group (1 to KUE_MAX_GROUP_LEN bytes, no NUL), limited by the
 * type's group_concurrency in kue-supervisor.  NULL clears it; -1 on a bad
 * name. */
#define KUE_MAX_GROUP_LEN 128
KUE_API int kue_job_set_group(kue_job_t *job, const char *group);

/* Save a new job: one atomic step that writes the hash, the indexes, the
 * wake-up token and publishes "enqueue".  Returns the new id (> 0), or -1
 * (bad input or Redis error; nothing is written on error). */
KUE_API int64_t kue_job_save(kue_t *k, kue_job_t *job);
/* Save n jobs: up to 100 per enqueue call, the calls pipelined (two round
 * trips per 1,600 jobs: the first call of each round runs alone and loads
 * the script library where the server lacks it).  Ids follow the order of
 * jobs[]; jobs of one call get consecutive ids.  ids[i]
 * receives each id or -1 (a job that fails validation is skipped).
 * Returns the number saved; kue_errstr() describes the first failure. */
KUE_API size_t kue_job_save_bulk(kue_t *k, kue_job_t *const *jobs, size_t n, int64_t *ids);

/* ---- reading jobs ------------------------------------------------------- */

/* Load a job.  Returns NULL if it does not exist (kue_errstr: job "ID"
 * doesnt exist) or on error.  Caller frees with kue_job_free(). */
KUE_API kue_job_t *kue_job_get(kue_t *k, int64_t id);

KUE_API int64_t     kue_job_id(const kue_job_t *job);
KUE_API const char *kue_job_type(const kue_job_t *job);
KUE_API const char *kue_job_data(const kue_job_t *job);         /* JSON text, as stored */
KUE_API int         kue_job_priority(const kue_job_t *job);
KUE_API const char *kue_job_state(const kue_job_t *job);        /* NULL if unsaved */
KUE_API int         kue_job_attempts_made(const kue_job_t *job);
KUE_API int         kue_job_attempts_max(const kue_job_t *job);
/* Any stored hash field ("created_at", "error", "result", ...) or NULL. */
KUE_API const char *kue_job_field(const kue_job_t *job, const char *name);

/* The job as Kue's toJSON (the HTTP API shape).  string_id: emit "id" as a
 * JSON string (as GET /job/:id does) instead of a number.  Always valid
 * JSON: data, result and progress_data are embedded as stored; a field that
 * is not JSON is given as a JSON string of its text, numbers as JavaScript
 * reads them (null when not a number).  Caller frees (NULL: out of memory). */
KUE_API char *kue_job_to_json(const kue_job_t *job, int string_id);

/* Ids in a state set ordered as Kue's range API: ZRANGE from..to (inclusive,
 * negatives allowed) on P:jobs[:type][:state], then sorted by id (desc
 * reverses).  type and state may be NULL.  *ids is malloc'ed (caller frees). */
KUE_API int kue_range(kue_t *k, const char *type, const char *state,
              long from, long to, int desc, int64_t **ids, size_t *n);

typedef struct {
    long long inactive, active, complete, failed, delayed;
    long long work_time_ms;          /* -1 when P:stats:work-time is missing */
} kue_stats_t;
KUE_API int kue_stats(kue_t *k, kue_stats_t *out);
/* Number of jobs of type (NULL: all types) in state. */
KUE_API long long kue_count(kue_t *k, const char *type, const char *state);
/* Known job types (SMEMBERS P:job:types).  Free with kue_strings_free(). */
KUE_API int kue_types(kue_t *k, char ***types, size_t *n);
/* Claims cut short by a type's rate limit ([type] rate in kue-supervisor),
 * fleet-wide since the counter was created: *pairs holds type, count,
 * type, count ... (*n strings; free with kue_strings_free).  0 or -1. */
KUE_API int kue_rate_limited_counts(kue_t *k, char ***pairs, size_t *n);
/* Log lines of a job, oldest first.  Free with kue_strings_free(). */
KUE_API int kue_job_log(kue_t *k, int64_t id, char ***lines, size_t *n);
KUE_API void kue_strings_free(char **v, size_t n);

/* Full-text search of job data, as Kue's GET /job/search?q=: the words of
 * query (AND), through the reds-compatible index (jobs are indexed only
 * when saved with search on).  *ids: id strings, best match first; free
 * with kue_strings_free().  query NULL searches "undefined", as Kue does. */
KUE_API int kue_search(kue_t *k, const char *query, char ***ids, size_t *n);

/* ---- cron schedules managed at run time (docs/libkue.md) ---------------
 * Kept in P:cron:defs and run by the leading kue-supervisor
 * (docs/kue-supervisor.md, "Leader, cron and retention").  def is a JSON
 * object with the keys of an INI [cron NAME] section: "schedule" and
 * "type" required, "data", "priority", "attempts", "backoff", "ttl",
 * "delay", "timezone", "catch_up", "catch_up_max" optional.  NAME: 1 to
 * 63 characters, no space, '/', '#' or control character; def at most
 * KUE_CRON_DEF_MAX bytes.  The schedule and zone are checked here, the
 * rest by the supervisor (shown as "error" by kue_cron_list). */
#define KUE_CRON_DEF_MAX 16384
KUE_API int kue_cron_put(kue_t *k, const char *name, const char *def);
/* 1 removed, 0 there was none, -1 error. */
KUE_API int kue_cron_del(kue_t *k, const char *name);
/* Every schedule the leader runs or that was added at run time, as a JSON
 * array of {"name", "info" (the leader's view: schedule, type, timezone,
 * catch_up, source, next, last, job, error; null before a leader saw it),
 * "definition" (run-time ones; null for file ones), "last", "job"} in name
 * order, into *json (free()). */
KUE_API int kue_cron_list(kue_t *k, char **json);

/* ---- changing jobs ------------------------------------------------------ */

/* Remove a job with its log, indexes and search entries; publishes
 * "remove".  -1 if it does not exist. */
KUE_API int kue_job_remove(kue_t *k, int64_t id);
/* Move a job to a state (Kue's PUT /job/:id/state/:state).  Moving to
 * inactive pushes a wake-up token and publishes "enqueue".  An active job
 * is running, so moving it to inactive or delayed (queueing it again) is
 * refused with KUE_ERR_WRONGSTATE. */
KUE_API int kue_job_set_state(kue_t *k, int64_t id, const char *state);
/* Retry a failed job: failed -> inactive in one step; -1 (job "ID" is
 * STATE, not failed; KUE_ERR_WRONGSTATE) when it is in another state. */
KUE_API int kue_job_retry(kue_t *k, int64_t id);
/* Change priority and re-score every set the job is in. */
KUE_API int kue_job_update_priority(kue_t *k, int64_t id, int prio);
/* Append a log line. */
KUE_API int kue_job_add_log(kue_t *k, int64_t id, const char *line);
/* Cancel a job (docs/libkue.md, "Cancel and pause").  An inactive or
 * delayed job fails at once with the error "cancelled" and is not retried
 * (*outcome KUE_CANCEL_DONE).  An active job held by a kue worker is
 * marked and its worker told at once, on any host: the plugin's cancel
 * hook is called, and the supervisor running it kills the process after
 * grace_ms (0 .. KUE_MAX_CANCEL_GRACE_MS) if the job has not finished, or
 * at once when the plugin has no cancel hook; the job then fails with
 * "cancelled" (KUE_CANCEL_PENDING).  A job already complete or failed is
 * left as it is (KUE_CANCEL_COMPLETE, KUE_CANCEL_FAILED).  -1: no such
 * job (KUE_ERR_NOTFOUND), an active job held by a Node Kue worker
 * (KUE_ERR_WRONGSTATE), a bad grace (KUE_ERR_INVALID) or a Redis error.
 * outcome may be NULL. */
typedef enum {
    KUE_CANCEL_DONE = 0,     /* was queued: failed now with "cancelled" */
    KUE_CANCEL_PENDING,      /* active: its worker is told, killed after the grace */
    KUE_CANCEL_COMPLETE,     /* had completed already: stays complete */
    KUE_CANCEL_FAILED        /* had failed already: stays failed */
} kue_cancel_t;
#define KUE_MAX_CANCEL_GRACE_MS 86400000LL    /* a day */
#define KUE_CANCEL_GRACE_DEFAULT_MS 5000
KUE_API int kue_job_cancel(kue_t *k, int64_t id, int64_t grace_ms, kue_cancel_t *outcome);
/* Pause a job type on every host: once this returns, no kue worker
 * anywhere claims a job of the type (jobs in flight finish; jobs can still
 * be saved) until kue_type_resume().  Stored in Redis (P:paused), so it
 * holds across restarts and for supervisors started later.  Node Kue
 * workers do not honour it.  0 ok (also when already paused), -1 error. */
KUE_API int kue_type_pause(kue_t *k, const char *type);
KUE_API int kue_type_resume(kue_t *k, const char *type);
/* The paused types (free with kue_strings_free). */
KUE_API int kue_paused_types(kue_t *k, char ***types, size_t *n);
/* Promote due delayed jobs (at most limit) in one atomic step; honours
 * Kue's promotion:lock.  *promoted receives the count, *next_due_ms the
 * promote_at of the earliest remaining delayed job (-1: none). */
KUE_API int kue_promote(kue_t *k, long limit, long *promoted, int64_t *next_due_ms);

/* ---- events ------------------------------------------------------------- */

/* Called for each message on P:events.  id is the job id (Kue sends a
 * number or a string; both are accepted), event the event name, json the
 * whole message (borrowed).  Return non-zero to stop watching. */
typedef int kue_event_fn(int64_t id, const char *event, const char *json, void *privdata);
/* Subscribe on a dedicated connection and call fn for every event until it
 * returns non-zero or the connection fails (-1).  Blocks. */
KUE_API int kue_watch(kue_t *k, kue_event_fn *fn, void *privdata);

#ifdef __cplusplus
}
#endif
#endif
