/*
 * kue_internal.h -- libkue functions shared by kue's own programs (worker,
 * supervisor, web, CLI) but not part of the public producer API.
 */
#ifndef KUE_INTERNAL_H
#define KUE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <hiredis/hiredis.h>
#include <kue/kue.h>

/* A job from a flat [field, value, ...] array of reply r, starting at
 * element `first` (claim replies carry the id first).  Caller frees. */
kue_job_t *kue_job_from_reply(int64_t id, const redisReply *r, size_t first);
kue_job_t *kue_job_from_hash(int64_t id, const char *const *kv, const size_t *lens, size_t n);
/* Load n jobs in one pipelined round trip; out[i] is NULL for a missing or
 * invalid job.  0, or -1 on a connection error. */
int kue_jobs_get(kue_t *k, const int64_t *ids, size_t n, kue_job_t **out);
/* Parse a P:events message: id (number or string) and event name. */
int kue_event_parse(const char *msg, size_t len, int64_t *id, char *event, size_t evlen);
/* Non-zero if s is a backoff Kue understands: "true" or a JSON object with
 * an optional type fixed|exponential and numeric delay/maxDelay. */
int kue_backoff_valid(const char *s);

/* Options kept as the text Kue stores (POST /job): a finite priority within
 * +/-KUE_MAX_PRIORITY_ABS ("7.5"), a delay within [0, KUE_MAX_DELAY_MS]
 * ("1000.7"), removeOnComplete as String(value) ("yes").  -1 otherwise. */
int kue_job_set_priority_text(kue_job_t *j, const char *num);
int kue_job_set_delay_text(kue_job_t *j, const char *num);
int kue_job_set_remove_on_complete_text(kue_job_t *j, const char *text);
/* The message for an option value v refused by the setters above (what:
 * "priority", "delay" or "ttl"). */
const char *kue_job_option_error(double v, const char *what);
/* Publish the events of state changes and removals on k with the id as a
 * JSON string, as Kue does for actions taken through its HTTP API. */
void kue_set_string_event_ids(kue_t *k, int on);
/* The prefix keys are built from: P, or {P} in the hashtag key style
 * (keys.h); kue_prefix() gives P as configured. */
const char *kue_keys_prefix(const kue_t *k);

/* The reply r to "WAIT n timeout_ms" sent after a save (NULL: the
 * connection dropped during the wait).  Returns 0 when at least n replicas
 * confirmed; else counts the shortfall in *count and logs a warning (who:
 * "producer" ...), at most once per 10 s (*last_warn_ms, monotonic), and
 * returns 1.  The jobs are written either way: WAIT cannot undo a write. */
int kue_wait_check(const redisReply *r, int n, int timeout_ms, const char *who,
                   unsigned long long *count, int64_t *last_warn_ms);
/* 0 when n and timeout_ms are within the bounds of kue_set_wait_replicas(),
 * else -1 with a message in err. */
int kue_wait_valid(int n, int timeout_ms, char *err, size_t errlen);

/* At most this many search terms are indexed for one job (ARGV bound). */
#define KUE_SEARCH_MAX_TERMS 2048

#endif
