/*
 * worker.c -- the kue-worker process: one libev loop (ev_loop_new, never
 * the default loop) and three Redis connections: `cmd` for scripts, `blk`
 * for waiting on the type's token list, and `sub` for Kue's "ttl exceeded"
 * events (opened with the first ttl job).
 *
 *   worker/fetch.c   the fetch cycle (claim, wait for a token, check held
 *                    jobs, back off): a state machine
 *   worker/jobs.c    a job from its claim to its outcome, ttl
 *   worker/outbox.c  outcomes and reports kept until Redis takes them
 *   worker/watchdog.c  an orphaned worker stops itself
 *   this file        the loop: scoreboard, signals, pause, drain, leases,
 *                    connections, kw_run()
 *
 * Jobs in flight keep running while Redis is away; their leases are renewed
 * every lease/3 while connected.
 */
#include "worker_int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

void kw_kick(struct kw_worker *w) { w->kick = 1; }

/* ---- scoreboard ------------------------------------------------------------ */

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (!f) return 0;
    if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
    fclose(f);
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static uint32_t sb_state(const struct kw_worker *w)
{
    if (w->draining) return KUE_SB_DRAINING;
    if (w->paused || w->quiet || w->type_paused) return KUE_SB_QUIET;
    if (!w->started_jobs && !kue_conn_ready(w->cmd)) return KUE_SB_STARTING;
    return KUE_SB_READY;
}

void kw_sb_sync(struct kw_worker *w)
{
    struct kue_sb_slot *s = w->sbs;
    if (!s) return;
    kue_sb_write_begin(s);
    s->state = sb_state(w);
    s->heartbeat_ms = kue_now_ms();
    s->jobs_done = w->done_ok;
    s->jobs_failed = w->done_failed;
    s->concurrency = (uint32_t)w->cfg->concurrency;
    s->redis_up = (uint32_t)kue_conn_ready(w->cmd);
    uint32_t n = 0;
    for (int i = 1; i <= w->cfg->concurrency; i++) {
        struct kw_job *j = w->slots[i];
        if (!j) continue;
        s->inflight[n].id = j->id;
        s->inflight[n].started_ms = j->started_wall;
        /* The master kills the process past this deadline: the [type]
         * timeout, or the job's own ttl plus a grace second (the ttl timer
         * here fails the job first unless a handler blocks the loop). */
        int64_t dl = w->cfg->timeout_ms ? j->started_wall + w->cfg->timeout_ms : 0;
        if (j->ttl_ms > 0) {
            int64_t tdl = kue_add_sat(kue_add_sat(j->started_wall, j->ttl_ms), 1000);
            if (!dl || tdl < dl) dl = tdl;
        }
        s->inflight[n].deadline_ms = dl;
        n++;
    }
    s->inflight_n = n;
    kue_sb_write_end(s);
}

static void sb_open(struct kw_worker *w)
{
    const char *fd = getenv("KUE_SCOREBOARD_FD");
    if (!fd || !*fd) return;
    if (w->cfg->slot < 0) {
        klog_warn("KUE_SCOREBOARD_FD is set but --slot is not; not using the scoreboard");
        return;
    }
    if (kue_sb_attach(&w->sb, -1) != 0) {
        klog_warn("cannot attach the scoreboard (fd %s): %s", fd, strerror(errno));
        return;
    }
    if ((uint32_t)w->cfg->slot >= w->sb.nslots) {
        klog_warn("scoreboard slot %d out of range (%u slots)", w->cfg->slot,
                  (unsigned)w->sb.nslots);
        kue_sb_detach(&w->sb);
        return;
    }
    w->sbs = &w->sb.slots[w->cfg->slot];
    kue_sb_write_begin(w->sbs);
    w->sbs->started_ms = kue_now_ms();
    w->sbs->rss_kb = (uint64_t)rss_kb();
    kue_sb_write_end(w->sbs);
    kw_sb_sync(w);
}

/* Every watcher callback runs from here: the worker then knows the loop is
 * busy, and since when (jobs.c: which handler holds it). */
static void invoke_pending(struct ev_loop *loop)
{
    struct kw_worker *w = ev_userdata(loop);
    kw_callbacks_begin(w);
    ev_invoke_pending(loop);
    kw_callbacks_end(w);
}

static void on_prepare(struct ev_loop *loop, ev_prepare *p, int revents)
{
    struct kw_worker *w = p->data;
    kw_outbox_flush_completes(w);
    if (w->kick) {
        w->kick = 0;
        kw_fetch_event(w, KFE_GO, NULL);
    }
    /* after the claim: its reply is not held up by a WAIT that waits */
    kw_outbox_flush_wait(w);
}

/* ---- pause, drain, exit ------------------------------------------------------------------- */

static void on_pause_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    kw_resume(t->data);
}

void kw_pause(struct kw_worker *w, int64_t timeout_ms)
{
    if (!w->paused) klog_info("paused by the handler%s", timeout_ms > 0 ? " (with a timeout)" : "");
    w->paused = 1;
    ev_timer_stop(w->loop, &w->pause_timer);
    if (timeout_ms > 0) {
        ev_timer_set(&w->pause_timer, (double)timeout_ms / 1000.0, 0.);
        ev_timer_start(w->loop, &w->pause_timer);
    }
    kw_fetch_stop_waiting(w);
    kw_sb_sync(w);
}

void kw_resume(struct kw_worker *w)
{
    ev_timer_stop(w->loop, &w->pause_timer);
    if (w->paused) klog_info("resumed");
    w->paused = 0;
    kw_sb_sync(w);
    kw_kick(w);
}

void kw_check_drained(struct kw_worker *w)
{
    if (!w->draining || w->inflight > 0 || w->out.n > 0 || w->fetch.state == KF_CLAIMING ||
        w->fetch.state == KF_WAITING)
        return;
    klog_info("drained: %llu jobs completed, %llu failed; exiting",
              (unsigned long long)w->done_ok, (unsigned long long)w->done_failed);
    ev_break(w->loop, EVBREAK_ALL);
}

void kw_begin_drain(struct kw_worker *w, const char *why)
{
    if (w->draining) return;
    if (why) klog_info("%s: no new jobs; finishing %d in flight", why, w->inflight);
    w->draining = 1;
    kw_fetch_stop_waiting(w);
    kw_sb_sync(w);
    kw_check_drained(w);
}

void kw_lease_give_up(struct kw_worker *w)
{
    if (w->lease_given_up) return;
    w->lease_given_up = 1;
    w->exit_code = KW_EXIT_FAIL;
    kw_begin_drain(w, "an outcome Redis would not take was given up");
}

static void on_signal(struct ev_loop *loop, ev_signal *s, int revents)
{
    struct kw_worker *w = s->data;
    switch (s->signum) {
    case SIGTERM:
    case SIGINT:
        if (w->draining) {
            klog_warn("second %s: exiting now with %d jobs in flight",
                      s->signum == SIGTERM ? "TERM" : "INT", w->inflight);
            w->exit_code = w->inflight ? KW_EXIT_FAIL : KW_EXIT_OK;
            ev_break(loop, EVBREAK_ALL);
            return;
        }
        kw_begin_drain(w, s->signum == SIGTERM ? "SIGTERM" : "SIGINT");
        break;
    case SIGQUIT:
        klog_info("SIGQUIT: exiting now with %d jobs in flight", w->inflight);
        w->exit_code = w->inflight ? KW_EXIT_FAIL : KW_EXIT_OK;
        ev_break(loop, EVBREAK_ALL);
        break;
    case SIGTSTP:
        klog_info("SIGTSTP: quiet (not taking jobs)");
        w->quiet = 1;
        kw_fetch_stop_waiting(w);
        kw_sb_sync(w);
        break;
    case SIGCONT:
        if (w->quiet) klog_info("SIGCONT: taking jobs again");
        w->quiet = 0;
        kw_sb_sync(w);
        kw_kick(w);
        break;
    default:
        break;
    }
}

/* ---- timers and connections ------------------------------------------------------------------ */

static void on_renew(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct kw_worker *w = t->data;
    if (!w->inflight || !kue_conn_ready(w->cmd) || w->lease_given_up) return;
    char lease[24], pid[16];
    snprintf(lease, sizeof lease, "%lld", (long long)w->cfg->lease_ms);
    snprintf(pid, sizeof pid, "%d", (int)w->pid);
    const char *av[] = { w->cfg->prefix, lease, w->host, pid };
    kue_conn_script(w->cmd, KS_RENEW, NULL, NULL, 4, av, NULL);
}

static void on_heartbeat(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct kw_worker *w = t->data;
    if (w->sbs) {
        kue_sb_write_begin(w->sbs);
        w->sbs->rss_kb = (uint64_t)rss_kb();
        kue_sb_write_end(w->sbs);
    }
    kw_sb_sync(w);
    if (w->ppid && getppid() != w->ppid && !w->draining)
        kw_begin_drain(w, "the supervisor is gone");
    kw_control_poll(w);
    kw_kick(w);        /* safety nets: never stall with free slots, or in a drain */
    kw_check_drained(w);
}

static void on_cmd_state(kue_conn_t *c, int up, void *privdata)
{
    struct kw_worker *w = privdata;
    if (up) {
        /* Without functions, load our scripts before anything else on this
         * connection: an EVALSHA answered NOSCRIPT is re-sent as EVAL after
         * later commands ran, which would reorder a complete after the
         * next claim.  (With functions, the handshake loaded them all.) */
        if (!kue_conn_fcall(c)) {
            static const kue_script_id used[] = { KS_CLAIM, KS_COMPLETE, KS_FAIL, KS_PROGRESS,
                                                  KS_LOG, KS_RENEW };
            for (size_t i = 0; i < sizeof used / sizeof used[0]; i++)
                kue_conn_command(c, NULL, NULL, "SCRIPT LOAD %s", kue_script_source(used[i]));
        }
        if (w->out.n) klog_info("redis back: re-sending %zu reports", w->out.n);
        kw_outbox_flush(w);
        /* After the flush on the same connection, so reports of jobs that
         * finished while Redis was away are already applied. */
        kw_fetch_event(w, KFE_CMD_UP, NULL);
        on_renew(w->loop, &w->renew_timer, 0);
        kw_kick(w);
    } else {
        kw_fetch_event(w, KFE_CMD_DOWN, NULL);
    }
    kw_sb_sync(w);
}

static void on_blk_id(redisAsyncContext *ac, void *rep, void *privdata)
{
    struct kw_worker *w = privdata;
    redisReply *r = rep;
    if (r && r->type == REDIS_REPLY_INTEGER) w->blk_id = r->integer;
}

static void on_blk_state(kue_conn_t *c, int up, void *privdata)
{
    struct kw_worker *w = privdata;
    w->blk_id = 0;
    if (up)
        kue_conn_command(c, on_blk_id, w, "CLIENT ID");
    else
        kw_fetch_event(w, KFE_BLK_DOWN, NULL);   /* a wait's claim may have run */
    kw_kick(w);
}

/* ---- main ---------------------------------------------------------------------------------------- */

static void sig_init(struct kw_worker *w, ev_signal *s, int signum)
{
    ev_signal_init(s, on_signal, signum);
    s->data = w;
    ev_signal_start(w->loop, s);
}

/* The worker, its URL and plugin (not yet its loop); NULL with *rc set. */
static struct kw_worker *worker_new(const kw_config_t *cfg, int *rc)
{
    char err[4600];
    struct kw_worker *w = calloc(1, sizeof *w);
    *rc = KW_EXIT_FAIL;
    if (!w) return NULL;
    w->cfg = cfg;
    w->pid = (int)getpid();
    w->exit_code = KW_EXIT_OK;
    if (gethostname(w->host, sizeof w->host) != 0 || !w->host[0])
        snprintf(w->host, sizeof w->host, "localhost");
    w->host[sizeof w->host - 1] = '\0';
    kue_key_events(w->events_channel, sizeof w->events_channel, cfg->prefix);
    if (kue_url_parse(cfg->redis_url, &w->url, err, sizeof err) != 0) {
        klog_error("--redis: %s", err);
        *rc = KW_EXIT_USAGE;
        free(w);
        return NULL;
    }
    snprintf(w->url.route, sizeof w->url.route, "%s", cfg->prefix);   /* a cluster's slot: cluster.h */
    if (kue_pl_check_perms(cfg->plugin, err, sizeof err) != 0 ||
        kue_pl_open(cfg->plugin, &w->plugin, err, sizeof err) != 0) {
        klog_error("%s", err);
        *rc = KW_EXIT_CONFIG;
        free(w);
        return NULL;
    }
    if (kue_pl_check_type(&w->plugin, cfg->type, err, sizeof err) != 0) {
        klog_error("%s", err);
        *rc = KW_EXIT_CONFIG;
        kue_pl_close(&w->plugin);
        free(w);
        return NULL;
    }
    return w;
}

/* Timers, signals, the watchdog and the connections. */
static int watchers_start(struct kw_worker *w)
{
    ev_prepare_init(&w->prepare, on_prepare);
    w->prepare.data = w;
    ev_prepare_start(w->loop, &w->prepare);
    double renew = (double)w->cfg->lease_ms / 3000.0;
    ev_timer_init(&w->renew_timer, on_renew, renew, renew);
    w->renew_timer.data = w;
    ev_timer_start(w->loop, &w->renew_timer);
    ev_timer_init(&w->heartbeat_timer, on_heartbeat, 1., 1.);
    w->heartbeat_timer.data = w;
    ev_timer_start(w->loop, &w->heartbeat_timer);
    ev_timer_init(&w->pause_timer, on_pause_timer, 0., 0.);
    w->pause_timer.data = w;
    kw_fetch_init(w);
    sig_init(w, &w->sig_term, SIGTERM);
    sig_init(w, &w->sig_int, SIGINT);
    sig_init(w, &w->sig_quit, SIGQUIT);
    sig_init(w, &w->sig_tstp, SIGTSTP);
    sig_init(w, &w->sig_cont, SIGCONT);
    sig_init(w, &w->sig_hup, SIGHUP);
    kw_watchdog_start(w);
    w->cmd = kue_conn_new(w->loop, &w->url, "cmd", on_cmd_state, w);
    w->blk = kue_conn_new(w->loop, &w->url, "blocking", on_blk_state, w);
    /* both run scripts (the claim goes behind the wait on the blocking
     * one): the library is loaded before anything else on them */
    if (w->cmd) kue_conn_runs_scripts(w->cmd);
    if (w->blk) kue_conn_runs_scripts(w->blk);
    kw_control_open(w);
    return w->cmd && w->blk ? 0 : -1;
}

static void worker_free(struct kw_worker *w)
{
    kw_watchdog_stop();
    /* Freeing a connection runs its pending callbacks with no reply, and
     * those look at the other connections: each pointer is cleared before
     * its connection goes. */
    kue_conn_t **conns[] = { &w->sub, &w->ctl, &w->blk, &w->cmd };
    for (size_t i = 0; i < sizeof conns / sizeof conns[0]; i++) {
        kue_conn_t *c = *conns[i];
        *conns[i] = NULL;
        kue_conn_free(c);
    }
    if (w->sbs) {
        kue_sb_write_begin(w->sbs);
        w->sbs->inflight_n = 0;
        w->sbs->redis_up = 0;
        kue_sb_write_end(w->sbs);
        kue_sb_detach(&w->sb);
    }
    kw_jobs_free(w);
    kw_outbox_free(w);
    ev_loop_destroy(w->loop);
    kue_pl_close(&w->plugin);
    free(w);
}

int kw_run(const kw_config_t *cfg)
{
    char role[200];
    snprintf(role, sizeof role, "worker %s", cfg->name);
    klog_init(role, cfg->log_level, cfg->log_json);
    int rc;
    struct kw_worker *w = worker_new(cfg, &rc);
    if (!w) return rc;

    signal(SIGPIPE, SIG_IGN);
    w->loop = ev_loop_new(EVFLAG_AUTO);
    if (!w->loop) {
        klog_error("cannot create an event loop");
        kue_pl_close(&w->plugin);
        free(w);
        return KW_EXIT_FAIL;
    }
    ev_set_userdata(w->loop, w);
    ev_set_invoke_pending_cb(w->loop, invoke_pending);
    w->ctx.pub.api = &kw_host_api;
    w->ctx.w = w;
    kw_outbox_init(w);
    sb_open(w);
    if (w->plugin.desc.init && w->plugin.desc.init(&w->ctx.pub) != 0) {
        klog_error("plugin %s: init() failed; not starting", cfg->plugin);
        worker_free(w);
        return KW_EXIT_CONFIG;
    }

    if (watchers_start(w) != 0) {
        klog_error("out of memory");
        rc = KW_EXIT_FAIL;
    } else {
        char where[320];
        kue_url_format(&w->url, where, sizeof where);
        klog_info("processing \"%s\" with %s (concurrency %d, redis %s, prefix %s)",
                  cfg->type, w->plugin.name, cfg->concurrency, where, cfg->prefix);
        kw_kick(w);
        ev_run(w->loop, 0);
        rc = w->exit_code;
    }
    if (w->plugin.desc.fini) w->plugin.desc.fini(&w->ctx.pub);
    worker_free(w);
    return rc;
}
