/*
 * keys.c -- the Redis key and channel names and the workerId format
 * (keys.h; docs/wire.md sections 1 and 9).
 */
#include "keys.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 3, 4)))
static int put(char *buf, size_t len, const char *fmt, ...)
{
    if (!buf || len == 0) return -1;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= len ? -1 : n;
}

int kue_key_style_parse(const char *s)
{
    if (s && !strcmp(s, "plain")) return KUE_KEYS_PLAIN;
    if (s && !strcmp(s, "hashtag")) return KUE_KEYS_HASHTAG;
    return -1;
}

const char *kue_key_style_name(int style)
{
    return style == KUE_KEYS_HASHTAG ? "hashtag" : "plain";
}

int kue_key_prefix(char *buf, size_t len, const char *prefix, int style)
{
    return style == KUE_KEYS_HASHTAG ? put(buf, len, "{%s}", prefix) : put(buf, len, "%s", prefix);
}

int kue_key_job(char *buf, size_t len, const char *pfx, const char *id)
{
    return put(buf, len, "%s:job:%s", pfx, id);
}

int kue_key_job_log(char *buf, size_t len, const char *pfx, const char *id)
{
    return put(buf, len, "%s:job:%s:log", pfx, id);
}

int kue_key_jobs(char *buf, size_t len, const char *pfx, const char *type, const char *state)
{
    if (type && *type && state && *state) return put(buf, len, "%s:jobs:%s:%s", pfx, type, state);
    if (state && *state) return put(buf, len, "%s:jobs:%s", pfx, state);
    return put(buf, len, "%s:jobs", pfx);
}

int kue_key_tokens(char *buf, size_t len, const char *pfx, const char *type)
{
    return put(buf, len, "%s:%s:jobs", pfx, type);
}

int kue_key_types(char *buf, size_t len, const char *pfx)
{
    return put(buf, len, "%s:job:types", pfx);
}

int kue_key_work_time(char *buf, size_t len, const char *pfx)
{
    return put(buf, len, "%s:stats:work-time", pfx);
}

int kue_key_search_word(char *buf, size_t len, const char *pfx, const char *code)
{
    return put(buf, len, "%s:search:word:%s", pfx, code);
}

int kue_key_search_tmp(char *buf, size_t len, const char *pfx)
{
    return put(buf, len, "%s:searchtmpkey", pfx);
}

int kue_key_held(char *buf, size_t len, const char *pfx, const char *host, long pid)
{
    return put(buf, len, "%s:held:%s:%ld", pfx, host, pid);
}

int kue_key_wake(char *buf, size_t len, const char *pfx, const char *host, long pid)
{
    return put(buf, len, "%s:wake:%s:%ld", pfx, host, pid);
}

int kue_key_drained(char *buf, size_t len, const char *pfx, const char *host, long pid)
{
    return put(buf, len, "%s:drained:%s:%ld", pfx, host, pid);
}

int kue_key_ids(char *buf, size_t len, const char *pfx)
{
    return put(buf, len, "%s:ids", pfx);
}

int kue_key_fence(char *buf, size_t len, const char *pfx)
{
    return put(buf, len, "%s:fence", pfx);
}

int kue_key_events(char *buf, size_t len, const char *pfx)
{
    return put(buf, len, "%s:events", pfx);
}

int kue_key_delayed(char *buf, size_t len, const char *pfx)
{
    return put(buf, len, "%s:delayed", pfx);
}

int kue_key_paused(char *buf, size_t len, const char *pfx)
{
    return put(buf, len, "%s:paused", pfx);
}

int kue_key_cancels(char *buf, size_t len, const char *pfx)
{
    return put(buf, len, "%s:cancels", pfx);
}

int kue_key_control(char *buf, size_t len, const char *pfx)
{
    return put(buf, len, "%s:control", pfx);
}

int kue_key_leader(char *buf, size_t len, const char *pfx)
{
    return put(buf, len, "%s:leader", pfx);
}

int kue_key_cron_info(char *buf, size_t len, const char *pfx)
{
    return put(buf, len, "%s:cron:info", pfx);
}

int kue_key_cron_defs(char *buf, size_t len, const char *pfx)
{
    return put(buf, len, "%s:cron:defs", pfx);
}

int kue_key_rate_limited(char *buf, size_t len, const char *pfx)
{
    return put(buf, len, "%s:stats:rate-limited", pfx);
}

int kue_lock_owner(char *buf, size_t len, const char *host, long pid)
{
    return put(buf, len, "kue:%s:%ld", host, pid);
}

int kue_worker_id(char *buf, size_t len, const char *host, long pid, const char *type, int n)
{
    if (n < 0) return put(buf, len, "kue:%s:%ld:%s:", host, pid, type);
    return put(buf, len, "kue:%s:%ld:%s:%d", host, pid, type, n);
}
