/*
 * watchdog.c -- an orphaned worker stops itself.
 *
 * The master enforces a type's hard timeout by killing the worker.  When the
 * master is gone (kill -9, crash), the worker gets SIGTERM (PDEATHSIG) and
 * drains -- unless a handler holds its event loop, which then never sees the
 * signal.  This thread, outside the loop, takes the master's place once the
 * worker is orphaned (its parent changed): when a handler has held the loop
 * for the type's timeout, or the drain has not ended that long after the
 * master went away, it stops the worker's process group -- the handler's
 * child processes too, as tini does -- with SIGTERM, and SIGKILL a second
 * later.  Without a [type] timeout the lease is the limit: past it, lease
 * recovery elsewhere runs the jobs again.
 *
 * Between the two signals it settles its own jobs, as the master would have,
 * on a connection of its own (the loop's connections belong to the blocked
 * thread): the job whose handler holds the loop fails with "timeout" and the
 * others go back to inactive without spending an attempt (the worker was
 * being drained: its master's death sent it SIGTERM, and a drain never
 * spends an attempt).  If Redis cannot be reached within a second, the
 * jobs are left to lease recovery.
 */
#include "worker_int.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "log.h"
#include "scripts.h"
#include "util.h"

#define KW_WATCHDOG_TICK_MS 200
#define KW_WATCHDOG_KILL_MS 1000     /* from TERM to KILL */

static pthread_t wd_thread;
static pthread_mutex_t wd_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cv = PTHREAD_COND_INITIALIZER;
static int wd_stop, wd_running;

int64_t kw_orphan_deadline(int64_t orphan_since, int64_t handler_since, int64_t limit)
{
    int64_t dl = orphan_since + limit;
    if (handler_since > 0 && handler_since + limit < dl) dl = handler_since + limit;
    return dl;
}

/* The group the worker leads (the master starts it in its own), or just
 * the worker when run by hand inside someone else's group. */
static void stop_all(int sig)
{
    if (getpgrp() == getpid()) kill(0, sig);
    else kill(getpid(), sig);
}

static void say(const char *msg)
{
    if (write(STDERR_FILENO, msg, strlen(msg)) < 0) { /* nothing better to do */ }
}

/* Wait up to ms; non-zero when asked to stop. */
static int nap(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
    pthread_mutex_lock(&wd_mu);
    while (!wd_stop && pthread_cond_timedwait(&wd_cv, &wd_mu, &ts) != ETIMEDOUT) {}
    int stop = wd_stop;
    pthread_mutex_unlock(&wd_mu);
    return stop;
}

static redisContext *connect_now(const kue_url_t *u)
{
    struct timeval tv = { 1, 0 };
    redisContext *c = u->path[0] ? redisConnectUnixWithTimeout(u->path, tv)
                                 : redisConnectWithTimeout(u->host, u->port, tv);
    if (!c || c->err) {
        if (c) redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    redisReply *r = NULL;
    if (u->password[0] && (!(r = redisCommand(c, "AUTH %s", u->password)) ||
                           r->type == REDIS_REPLY_ERROR))
        goto fail;
    if (r) freeReplyObject(r);
    r = NULL;
    if (u->db && (!(r = redisCommand(c, "SELECT %d", u->db)) || r->type == REDIS_REPLY_ERROR))
        goto fail;
    if (r) freeReplyObject(r);
    return c;
fail:
    if (r) freeReplyObject(r);
    redisFree(c);
    return NULL;
}

/* What the master does for a worker it kills (supervise.c), from here. */
static void settle_here(struct kw_worker *w, int64_t stuck)
{
    redisContext *c = connect_now(&w->url);
    if (!c) {
        say("kue-worker: orphaned: Redis unreachable; its jobs are left to lease recovery\n");
        return;
    }
    char id[24], pid[16], cause[160];
    snprintf(id, sizeof id, "%lld", (long long)stuck);
    snprintf(pid, sizeof pid, "%d", w->pid);
    snprintf(cause, sizeof cause, "worker %d stopped itself: orphaned, %s", w->pid,
             stuck > 0 ? "a handler held its loop past the timeout" : "jobs past the timeout");
    redisReply *r;
    if (stuck > 0) {
        const char *fv[] = { w->cfg->prefix, id, "", "timeout", "-1", "" };
        if ((r = kue_script_call(c, KS_FAIL, 6, fv, NULL))) freeReplyObject(r);
    }
    const char *sv[] = { w->cfg->prefix, w->host, pid, cause, "requeue" };
    if ((r = kue_script_call(c, KS_SETTLE, 5, sv, NULL))) freeReplyObject(r);
    redisFree(c);
}

static void *watch(void *arg)
{
    struct kw_worker *w = arg;
    int64_t limit = w->cfg->timeout_ms > 0 ? w->cfg->timeout_ms : w->cfg->lease_ms;
    int64_t orphan_since = 0;
    while (!nap(KW_WATCHDOG_TICK_MS)) {
        if (getppid() == w->ppid) continue;
        int64_t now = kue_mono_ms();
        if (!orphan_since) orphan_since = now;
        if (now < kw_orphan_deadline(orphan_since, w->handler_since, limit)) continue;
        char msg[300];
        snprintf(msg, sizeof msg, "kue-worker %d: orphaned (the supervisor is gone) and %s for "
                 "%lld ms: stopping its process group\n", (int)getpid(),
                 w->handler_since ? "a handler holds the loop" : "still draining",
                 (long long)limit);
        say(msg);
        int64_t stuck = w->handler_since ? w->handler_job : 0;
        stop_all(SIGTERM);
        int64_t t0 = kue_mono_ms();
        settle_here(w, stuck);
        int64_t left = KW_WATCHDOG_KILL_MS - (kue_mono_ms() - t0);
        if (left > 0 && nap(left)) break;
        stop_all(SIGKILL);
        break;
    }
    return NULL;
}

void kw_watchdog_start(struct kw_worker *w)
{
    if (!w->sbs) return;        /* not started by a supervisor: nobody to outlive */
    w->ppid = getppid();
    /* The thread must not take the signals the loop handles. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    wd_stop = 0;
    int rc = pthread_create(&wd_thread, NULL, watch, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        klog_warn("cannot start the orphan watchdog: %s", strerror(rc));
        return;
    }
    wd_running = 1;
}

void kw_watchdog_stop(void)
{
    if (!wd_running) return;
    pthread_mutex_lock(&wd_mu);
    wd_stop = 1;
    pthread_cond_signal(&wd_cv);
    pthread_mutex_unlock(&wd_mu);
    pthread_join(wd_thread, NULL);
    wd_running = 0;
}
