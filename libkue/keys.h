/*
 * keys.h -- every Redis key and channel name kue reads or writes, and the
 * workerId format, built in one place (docs/wire.md sections 1 and 9).
 *
 * All names are "<prefix>:<name>".  The prefix given here is the effective
 * one: the configured prefix P for the plain key style, or "{P}" for the
 * hashtag style Kue uses on ioredis (kue_key_prefix() builds it), so that a
 * change of key style is a change of this one string.  The Lua scripts get
 * the same effective prefix as ARGV[1] and build their keys with key() in
 * libkue/lua/prelude.lua.
 *
 * Each builder writes a NUL-terminated name into buf and returns its length,
 * or -1 when it does not fit (buf then holds a truncated name).  Internal to
 * libkue and the programs (hidden visibility).
 */
#ifndef KUE_KEYS_H
#define KUE_KEYS_H

#include <stddef.h>

/* The key styles ([redis] key_style). */
typedef enum { KUE_KEYS_PLAIN = 0, KUE_KEYS_HASHTAG = 1 } kue_key_style;

/* The longest effective prefix: a configured prefix is at most 127 bytes,
 * the hashtag adds two. */
#define KUE_KEY_PREFIX_MAX 132

/* Kue's promotion lock: the one key without a prefix (docs/wire.md). */
#define KUE_KEY_PROMOTION_LOCK "promotion:lock"

/* "plain" or "hashtag" -> style; -1 for anything else. */
int kue_key_style_parse(const char *s);
const char *kue_key_style_name(int style);

/* The effective prefix of a configured prefix: P or {P}. */
int kue_key_prefix(char *buf, size_t len, const char *prefix, int style);

/* P:job:<id> and P:job:<id>:log (id in decimal text). */
int kue_key_job(char *buf, size_t len, const char *pfx, const char *id);
int kue_key_job_log(char *buf, size_t len, const char *pfx, const char *id);
/* P:jobs, P:jobs:S, P:jobs:T:S (type and state may be NULL or empty). */
int kue_key_jobs(char *buf, size_t len, const char *pfx, const char *type, const char *state);
/* P:T:jobs, the wake-up tokens of type T. */
int kue_key_tokens(char *buf, size_t len, const char *pfx, const char *type);
/* P:job:types, P:stats:work-time. */
int kue_key_types(char *buf, size_t len, const char *pfx);
int kue_key_work_time(char *buf, size_t len, const char *pfx);
/* P:search:word:<code>, P:searchtmpkey. */
int kue_key_search_word(char *buf, size_t len, const char *pfx, const char *code);
int kue_key_search_tmp(char *buf, size_t len, const char *pfx);
/* kue's own keys of one worker process: P:held:H:PID, P:wake:H:PID,
 * P:drained:H:PID. */
int kue_key_held(char *buf, size_t len, const char *pfx, const char *host, long pid);
int kue_key_wake(char *buf, size_t len, const char *pfx, const char *host, long pid);
int kue_key_drained(char *buf, size_t len, const char *pfx, const char *host, long pid);
/* The two keys every script call declares (KEYS[1], KEYS[2]; the scripts
 * build the names they touch from ARGV[1] = P): P:ids, Kue's id counter,
 * and P:fence, which is never written.  Both lie in the queue's hash slot,
 * so Redis Cluster routes the call to the queue's master and checks it
 * there; and since P:fence never exists, a call made while that slot is
 * being migrated is refused with TRYAGAIN before it runs (the keys of the
 * queue may then lie on two nodes), instead of running half on one node
 * (docs/redis-topologies.md). */
#define KUE_SCRIPT_NKEYS 2
int kue_key_ids(char *buf, size_t len, const char *pfx);
int kue_key_fence(char *buf, size_t len, const char *pfx);
/* Channels: P:events (Kue's job events), P:delayed (kue's due times). */
int kue_key_events(char *buf, size_t len, const char *pfx);
int kue_key_delayed(char *buf, size_t len, const char *pfx);
/* kue's operator keys (docs/wire.md sections 11 and 12, docs/supervision.md):
 * P:paused (set of paused types), P:cancels (pending cancels), P:control
 * (channel to the workers), P:leader (the lease hash and its channel),
 * P:cron:info, P:cron:defs, P:stats:rate-limited. */
int kue_key_paused(char *buf, size_t len, const char *pfx);
int kue_key_cancels(char *buf, size_t len, const char *pfx);
int kue_key_control(char *buf, size_t len, const char *pfx);
int kue_key_leader(char *buf, size_t len, const char *pfx);
int kue_key_cron_info(char *buf, size_t len, const char *pfx);
int kue_key_cron_defs(char *buf, size_t len, const char *pfx);
int kue_key_rate_limited(char *buf, size_t len, const char *pfx);

/* The workerId a claim writes: kue:<host>:<pid>:<type>:<n>; n < 0 gives the
 * stem "kue:<host>:<pid>:<type>:" every slot of that process shares. */
int kue_worker_id(char *buf, size_t len, const char *host, long pid, const char *type, int n);
/* The value a supervisor writes into KUE_KEY_PROMOTION_LOCK while it holds
 * it (a cluster only): kue:<host>:<pid>. */
int kue_lock_owner(char *buf, size_t len, const char *host, long pid);

#endif
