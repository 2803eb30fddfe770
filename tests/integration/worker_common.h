/*
 * worker_common.h -- helpers shared by the tests/integration/worker_*.c
 * suites: start the real kue-worker binary against a private redis-server,
 * enqueue jobs with libkue, build throwaway plugins from C source, and poll
 * Redis until a condition holds.  Header-only (static functions), because
 * every test source file is its own test binary.
 */
#ifndef KUE_TEST_WORKER_COMMON_H
#define KUE_TEST_WORKER_COMMON_H

#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kue/kue.h>
#include "harness.h"

static kt_redis_t wt_redis;
static redisContext *wt_rc;
static kue_t *wt_kue;

static inline void wt_setup_flags(int flags)
{
    kt_redis_start(&wt_redis, flags);
    wt_rc = kt_redis_connect(&wt_redis);
    char err[256];
    wt_kue = kue_connect(wt_redis.url, "q", err, sizeof err);
    cr_assert_not_null(wt_kue, "kue_connect: %s", err);
}

static inline void wt_setup(void) { wt_setup_flags(0); }

static inline void wt_teardown(void)
{
    if (wt_kue) kue_free(wt_kue);
    wt_kue = NULL;
    if (wt_rc) redisFree(wt_rc);
    wt_rc = NULL;
    kt_cleanup();
}

static inline const char *wt_plugin(const char *name)
{
    static char buf[8][1024];
    static int i;
    char *b = buf[i++ % 8];
    if (name[0] == '/') snprintf(b, 1024, "%s", name);
    else snprintf(b, 1024, "%s/plugins/%s.so", kt_build(), name);
    return b;
}

/* Log file for a worker, in the test's temp dir. */
static inline const char *wt_log(const char *tag)
{
    static char buf[8][512];
    static int i;
    char *b = buf[i++ % 8];
    snprintf(b, 512, "%s/worker-%s-%d.log", kt_tmpdir(), tag, (int)getpid());
    return b;
}

/* Start kue-worker for type with plugin (name in build/plugins or a
 * path); extra arguments NULL-terminated. */
static inline pid_t wt_worker(const char *type, const char *plugin, int concurrency,
                       const char *log, ...)
{
    static char bin[1024];
    kt_bin("kue-worker", bin, sizeof bin);
    char conc[16];
    snprintf(conc, sizeof conc, "%d", concurrency);
    char *argv[64];
    int n = 0;
    argv[n++] = bin;
    argv[n++] = "--redis"; argv[n++] = wt_redis.url;
    argv[n++] = "--prefix"; argv[n++] = "q";
    argv[n++] = "--type"; argv[n++] = (char *)type;
    argv[n++] = "--plugin"; argv[n++] = (char *)wt_plugin(plugin);
    argv[n++] = "--concurrency"; argv[n++] = conc;
    va_list ap;
    va_start(ap, log);
    char *a;
    while ((a = va_arg(ap, char *)) && n < 62) argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    return kt_spawn(argv, log);
}

/* Enqueue a job; returns its id. */
static inline int64_t wt_enqueue_opts(const char *type, const char *data, int prio, int attempts,
                               const char *backoff, int64_t ttl)
{
    kue_job_t *j = kue_job_new(type, data);
    cr_assert_not_null(j);
    kue_job_set_priority(j, prio);
    if (attempts > 1) cr_assert_eq(kue_job_set_attempts(j, attempts), 0);
    if (backoff) cr_assert_eq(kue_job_set_backoff(j, backoff), 0, "backoff %s", backoff);
    if (ttl > 0) kue_job_set_ttl(j, ttl);
    int64_t id = kue_job_save(wt_kue, j);
    cr_assert_gt(id, 0, "save: %s", kue_errstr(wt_kue));
    kue_job_free(j);
    return id;
}

static inline int64_t wt_enqueue(const char *type, const char *data)
{
    return wt_enqueue_opts(type, data, 0, 1, NULL, 0);
}

/* HGET q:job:<id> <field> into buf ("" when missing). */
static inline const char *wt_field(int64_t id, const char *f, char *buf, size_t len)
{
    redisReply *r = kt_cmd(wt_rc, "HGET q:job:%lld %s", (long long)id, f);
    buf[0] = '\0';
    if (r->type == REDIS_REPLY_STRING) snprintf(buf, len, "%s", r->str);
    freeReplyObject(r);
    return buf;
}

struct wt_wait { int64_t id; const char *state; };

static inline int wt_state_is(void *arg)
{
    struct wt_wait *w = arg;
    char s[32];
    return strcmp(wt_field(w->id, "state", s, sizeof s), w->state) == 0;
}

/* Wait until job id is in state; asserts. */
static inline void wt_wait_state(int64_t id, const char *state, int timeout_ms)
{
    struct wt_wait w = { id, state };
    char s[32];
    cr_assert(kt_wait_until(wt_state_is, &w, timeout_ms),
              "job %lld: state \"%s\" after %d ms, expected \"%s\"", (long long)id,
              wt_field(id, "state", s, sizeof s), timeout_ms, state);
}

struct wt_count { const char *key; long long n; };

static inline int wt_zcard_is(void *arg)
{
    struct wt_count *c = arg;
    return kt_int(wt_rc, "ZCARD %s", c->key) == c->n;
}

static inline void wt_wait_zcard(const char *key, long long n, int timeout_ms)
{
    struct wt_count c = { key, n };
    cr_assert(kt_wait_until(wt_zcard_is, &c, timeout_ms), "ZCARD %s = %lld after %d ms, want %lld",
              key, kt_int(wt_rc, "ZCARD %s", key), timeout_ms, n);
}

/* Promote due delayed jobs (the supervisor's job, done by hand here). */
static inline void wt_promote(void)
{
    long n;
    int64_t next;
    kue_promote(wt_kue, 1000, &n, &next);
}

/* Build a plugin from C source into the temp dir; returns its path. */
static inline const char *wt_build_plugin(const char *name, const char *src)
{
    static char so[8][512];
    static int i;
    char *out = so[i++ % 8];
    char c[512], cmd[2048];
    snprintf(c, sizeof c, "%s/%s.c", kt_tmpdir(), name);
    snprintf(out, 512, "%s/%s.so", kt_tmpdir(), name);
    kt_write_file(c, src);
    snprintf(cmd, sizeof cmd, "cc -shared -fPIC -I%s/include -o %s %s -ljansson -lev 2>&1",
             kt_srcdir(), out, c);
    cr_assert_eq(system(cmd), 0, "cannot build test plugin %s", name);
    return out;
}

/* Wait for the worker to exit; returns its exit code (asserts it exited). */
static inline int wt_exit_code(pid_t pid, int timeout_ms)
{
    int st = 0;
    cr_assert_eq(kt_wait(pid, timeout_ms, &st), 0, "worker %d did not exit in %d ms",
                 (int)pid, timeout_ms);
    cr_assert(WIFEXITED(st), "worker %d killed by signal %d", (int)pid,
              WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    return WEXITSTATUS(st);
}

static inline int wt_log_has(const char *log, const char *needle)
{
    char *t = kt_read_file(log);
    int yes = t && strstr(t, needle);
    free(t);
    return yes;
}

#endif
