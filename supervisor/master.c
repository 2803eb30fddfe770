/*
 * master.c -- the master loop.
 *
 * One libev loop (ev_loop_new: the master reaps its children itself, with
 * waitpid(-1, WNOHANG) in a loop, so orphans are reaped too when it is
 * PID 1 or a subreaper).  Signal watchers only record; the work happens in
 * their callbacks on the loop and in a 100 ms tick, which
 *
 *   - brings every type to its process count (sup_table_reconcile) and
 *     starts the WAITING entries whose backoff has passed;
 *   - reads the scoreboard: a job past its deadline gets its worker killed
 *     (hard timeout), a stale heartbeat means a hung worker, max_jobs and
 *     max_rss retire a worker (a new one starts first);
 *   - escalates a graceful stop to SIGKILL at its deadline;
 *   - during a drain, walks the shutdown: workers, then web, then pending
 *     Redis calls, then the embedded redis-server, then exit.
 */
#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kue/kue.h>

#include "log.h"
#include "util.h"

struct master *sup_master;

static unsigned rnd(void)
{
    return (unsigned)random();
}

const char *sup_proc_name(const struct sup_proc *p, char *buf, size_t len)
{
    if (p->kind == SK_WEB)
        snprintf(buf, len, "web");
    else if (p->kind == SK_REDIS)
        snprintf(buf, len, "redis-server");
    else
        snprintf(buf, len, "worker %s#%d", p->type, p->k);
    return buf;
}

static int type_index(const struct master *m, const char *name)
{
    for (int i = 0; i < m->cfg->ntypes; i++)
        if (!strcmp(m->cfg->types[i].name, name))
            return i;
    return -1;
}

/* Send sig to a process (workers: to their whole process group). */
static void signal_proc(const struct sup_proc *p, int sig)
{
    if (p->pid <= 0)
        return;
    if (p->kind == SK_WORKER && sig == SIGKILL)
        kill(-p->pid, sig);
    kill(p->pid, sig);
}

void sup_stop_proc(struct master *m, int idx, int sig, const char *why)
{
    struct sup_proc *p = &m->tab.p[idx];
    char name[128];
    if (p->state == SS_WAITING) {
        p->state = SS_FREE;
        return;
    }
    if (p->state != SS_RUNNING && p->state != SS_STOPPING)
        return;
    if (sig == SIGKILL) {
        if (p->killed)
            return;
        p->killed = 1;
    } else if (p->state == SS_STOPPING) {
        return;   /* already asked */
    }
    if (p->state == SS_RUNNING)
        klog_info("stopping %s (pid %d): %s", sup_proc_name(p, name, sizeof(name)), (int)p->pid, why);
    p->state = SS_STOPPING;
    int64_t grace = p->kind == SK_WORKER ? m->cfg->shutdown_timeout_ms : 5000;
    if (p->kind == SK_REDIS)
        grace = 10000;
    p->kill_at = kue_mono_ms() + grace;
    signal_proc(p, sig);
}

static void ops_stop(void *ud, int i, const char *why)
{
    sup_stop_proc(ud, i, SIGTERM, why);
}

static int ops_ready(void *ud, int i)
{
    struct master *m = ud;
    struct kue_sb_slot s;
    if (kue_sb_read_slot(&m->sb, (uint32_t)i, &s) < 0)
        return 0;
    if (s.state == KUE_SB_READY || s.state == KUE_SB_QUIET)
        return 1;
    /* a worker that never reports still counts after a while, so that a
     * roll cannot stall forever on it */
    return kue_mono_ms() - m->tab.p[i].started > 30000;
}

/* ---- exits ---------------------------------------------------------------- */

static void worker_exited(struct master *m, int idx, int status)
{
    struct sup_proc *p = &m->tab.p[idx];
    char name[128], st[96], cause[256];
    sup_proc_name(p, name, sizeof(name));
    sup_status_text(status, st, sizeof(st));

    struct kue_sb_slot s;
    uint32_t held = 0;
    if (kue_sb_read_slot(&m->sb, (uint32_t)idx, &s) == 0)
        held = s.inflight_n;
    struct kue_sb_slot *ws = &m->sb.slots[idx];
    kue_sb_write_begin(ws);
    ws->state = KUE_SB_EXITED;
    ws->inflight_n = 0;
    ws->pid = 0;
    kue_sb_write_end(ws);

    int ours = p->state == SS_STOPPING;
    if (p->stop_cause[0])
        snprintf(cause, sizeof(cause), "%s", p->stop_cause);
    else
        snprintf(cause, sizeof(cause), "worker %d %s", (int)p->pid, st);
    sup_rds_settle(m, p->pid, cause, p->settle_requeue);
    if (p->settle_requeue && held)
        m->inflight_at_kill += (int)held;

    int64_t ran = kue_mono_ms() - p->started;
    if (ours || m->draining) {
        int lvl = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? KLOG_INFO : KLOG_WARN;
        klog(lvl, "%s (pid %d) %s%s", name, (int)p->pid, st,
             held ? " holding jobs" : "");
        p->state = SS_FREE;
        return;
    }
    /* it died on its own: respawn, with backoff when it crashed */
    enum sup_exit_action a = sup_exit_decide(status);
    if (ran >= SUP_HEALTHY_MS)
        p->failures = 0;
    if (a == SX_RESPAWN && ran < 1000)
        a = SX_BACKOFF;   /* exiting 0 at once, again and again, is a loop too */
    int64_t delay = 0;
    if (a == SX_BACKOFF) {
        p->failures++;
        delay = sup_backoff_ms(p->failures, m->cfg->respawn_delay_ms, m->cfg->respawn_max_delay_ms);
    } else if (a == SX_CONFIG) {
        p->failures++;
        delay = m->cfg->respawn_max_delay_ms;
    } else {
        p->failures = 0;
    }
    if (a == SX_CONFIG)
        klog_error("%s (pid %d) cannot load its plugin (exit 78); next try in %llds", name,
                   (int)p->pid, (long long)(delay / 1000));
    else if (p->failures >= 3)
        klog_error("%s (pid %d) %s; type %s is crash-looping (%d crashes in a row), next start "
                   "in %lldms", name, (int)p->pid, st, p->type, p->failures, (long long)delay);
    else
        klog(a == SX_RESPAWN ? KLOG_INFO : KLOG_WARN, "%s (pid %d) %s; restarting in %lldms", name,
             (int)p->pid, st, (long long)delay);
    p->state = SS_WAITING;
    p->pid = 0;
    p->spawn_at = kue_mono_ms() + delay;
    p->restarts++;
    if (m->sb.hdr)
        m->sb.hdr->restarts_total++;
}

static void other_exited(struct master *m, int idx, int status)
{
    struct sup_proc *p = &m->tab.p[idx];
    char name[64], st[96];
    sup_proc_name(p, name, sizeof(name));
    sup_status_text(status, st, sizeof(st));
    int ours = p->state == SS_STOPPING;
    int64_t ran = kue_mono_ms() - p->started;
    if (ours || m->draining) {
        klog_info("%s (pid %d) %s", name, (int)p->pid, st);
        p->state = SS_FREE;
        if (p->kind == SK_WEB && m->web_idx == idx && (!m->cfg->web || m->draining))
            m->web_idx = -1;
        if (p->kind == SK_WEB && m->web_idx == idx) {
            /* stopped to apply new settings: start again at once */
            p->state = SS_WAITING;
            p->spawn_at = 0;
        }
        if (p->kind == SK_REDIS && m->redis_idx == idx && m->draining)
            m->redis_idx = -1;
        else if (p->kind == SK_REDIS) {
            p->state = SS_WAITING;
            p->spawn_at = 0;
        }
        return;
    }
    if (p->kind == SK_WEB && WIFEXITED(status) && WEXITSTATUS(status) == SUP_CHILD_EXIT_CONFIG) {
        /* it cannot listen (address in use, bad TLS files ...): its own
         * error line says why; starting it again would fail the same way */
        klog_error("web (pid %d) cannot serve on %s (exit 78, see the line above); not restarted "
                   "until a reload (HUP)", (int)p->pid, m->cfg->web_listen);
        p->state = SS_FREE;
        p->pid = 0;
        if (m->web_idx == idx)
            m->web_idx = -1;
        return;
    }
    if (ran >= SUP_HEALTHY_MS)
        p->failures = 0;
    p->failures++;
    int64_t delay = sup_backoff_ms(p->failures, m->cfg->respawn_delay_ms, m->cfg->respawn_max_delay_ms);
    if (p->kind == SK_REDIS)
        delay = sup_backoff_ms(p->failures, 100, 5000);
    klog_error("%s (pid %d) %s; restarting in %lldms", name, (int)p->pid, st, (long long)delay);
    p->state = SS_WAITING;
    p->pid = 0;
    p->spawn_at = kue_mono_ms() + delay;
    p->restarts++;
}

static void reap(struct master *m)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            break;
        int idx = sup_table_find_pid(&m->tab, pid);
        if (idx < 0 && sup_pcheck_reaped(m, pid, status))
            continue;
        if (idx < 0) {
            char st[96];
            sup_status_text(status, st, sizeof(st));
            klog_debug("reaped orphan pid %d (%s)", (int)pid, st);
            continue;
        }
        if (m->tab.p[idx].kind == SK_WORKER)
            worker_exited(m, idx, status);
        else
            other_exited(m, idx, status);
    }
}

/* ---- the tick ------------------------------------------------------------ */

static uint64_t rss_bytes(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    unsigned long size = 0, res = 0;
    int n = fscanf(f, "%lu %lu", &size, &res);
    fclose(f);
    return n == 2 ? (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

static void check_worker(struct master *m, int idx, int64_t now_wall, int check_rss)
{
    struct sup_proc *p = &m->tab.p[idx];
    if (p->killed)
        return;
    struct kue_sb_slot s;
    if (kue_sb_read_slot(&m->sb, (uint32_t)idx, &s) < 0 || s.pid != p->pid)
        return;
    char name[128];
    sup_proc_name(p, name, sizeof(name));

    /* quiet (TSTP) reaches workers started after it once they can take
     * the signal, i.e. once they report being ready */
    if (m->quiet && s.state == KUE_SB_READY && p->state == SS_RUNNING)
        kill(p->pid, SIGTSTP);

    /* hard timeout: 500 ms of grace for the worker's own bookkeeping */
    uint32_t n = s.inflight_n < KUE_SB_MAX_INFLIGHT ? s.inflight_n : KUE_SB_MAX_INFLIGHT;
    int64_t later_deadline = 0;
    for (uint32_t j = 0; j < n; j++) {
        const struct kue_sb_job *job = &s.inflight[j];
        if (job->deadline_ms <= 0)
            continue;
        if (now_wall > job->deadline_ms + 500) {
            klog_warn("%s (pid %d): job %lld passed its deadline by %lldms; killing the worker",
                      name, (int)p->pid, (long long)job->id,
                      (long long)(now_wall - job->deadline_ms));
            sup_rds_fail_job(m, job->id, "timeout");
            snprintf(p->stop_cause, sizeof(p->stop_cause),
                     "worker %d killed: job %lld timed out", (int)p->pid, (long long)job->id);
            sup_stop_proc(m, idx, SIGKILL, "hard timeout");
            return;
        }
        if (job->deadline_ms > later_deadline)
            later_deadline = job->deadline_ms;
    }

    /* hung: no heartbeat for heartbeat_timeout (a job still inside its
     * deadline is the timeout's business, not this check's) */
    if (m->cfg->heartbeat_timeout_ms > 0 && !later_deadline) {
        int64_t hb = s.heartbeat_ms > s.started_ms ? s.heartbeat_ms : s.started_ms;
        if (hb > 0 && now_wall - hb > m->cfg->heartbeat_timeout_ms) {
            klog_error("%s (pid %d) hung: no heartbeat for %llds; killing it", name, (int)p->pid,
                       (long long)((now_wall - hb) / 1000));
            snprintf(p->stop_cause, sizeof(p->stop_cause),
                     "worker %d killed: hung (no heartbeat for %llds)", (int)p->pid,
                     (long long)((now_wall - hb) / 1000));
            sup_stop_proc(m, idx, SIGKILL, "hung");
            return;
        }
    }

    if (p->state != SS_RUNNING || p->retire)
        return;
    int ti = type_index(m, p->type);
    if (ti < 0)
        return;
    const struct sup_type *t = &m->cfg->types[ti];
    if (p->job_limit && s.jobs_done + s.jobs_failed >= p->job_limit) {
        klog_info("%s (pid %d) ran %llu jobs (max_jobs): replacing it", name, (int)p->pid,
                  (unsigned long long)(s.jobs_done + s.jobs_failed));
        p->retire = 1;
        return;
    }
    if (check_rss && t->max_rss) {
        uint64_t rss = rss_bytes(p->pid);
        if (rss > t->max_rss) {
            klog_info("%s (pid %d) resident size %lluK above max_rss %lluK: replacing it", name,
                      (int)p->pid, (unsigned long long)(rss >> 10),
                      (unsigned long long)(t->max_rss >> 10));
            p->retire = 1;
        }
    }
}

static void spawn_waiting(struct master *m, int64_t now)
{
    for (int i = 0; i < SUP_TABLE_SIZE; i++) {
        struct sup_proc *p = &m->tab.p[i];
        if (p->state != SS_WAITING || p->spawn_at > now)
            continue;
        if (p->kind == SK_WORKER) {
            int ti = type_index(m, p->type);
            if (ti < 0 || m->draining) {
                p->state = SS_FREE;
                continue;
            }
            p->gen = m->gen;
            if (sup_spawn_worker(m, i, &m->cfg->types[ti]) < 0) {
                p->failures++;
                p->spawn_at = now + sup_backoff_ms(p->failures, m->cfg->respawn_delay_ms,
                                                   m->cfg->respawn_max_delay_ms);
            }
        } else if (p->kind == SK_WEB) {
            if (m->draining || !m->cfg->web) {
                p->state = SS_FREE;
                m->web_idx = -1;
                continue;
            }
            if (sup_spawn_web(m, i) < 0)
                p->spawn_at = now + 1000;
        } else if (p->kind == SK_REDIS) {
            if (m->draining && m->stopping_redis) {
                p->state = SS_FREE;
                m->redis_idx = -1;
                continue;
            }
            if (sup_spawn_redis(m, i) < 0)
                p->spawn_at = now + 1000;
        }
    }
}

static void escalate(struct master *m, int64_t now)
{
    for (int i = 0; i < SUP_TABLE_SIZE; i++) {
        struct sup_proc *p = &m->tab.p[i];
        if (p->state != SS_STOPPING || p->killed || now < p->kill_at)
            continue;
        char name[128];
        klog_warn("%s (pid %d) did not stop in time: SIGKILL", sup_proc_name(p, name, sizeof(name)),
                  (int)p->pid);
        if (p->kind == SK_WORKER) {
            p->settle_requeue = 1;
            if (!p->stop_cause[0])
                snprintf(p->stop_cause, sizeof(p->stop_cause),
                         "worker %d killed: did not stop in time", (int)p->pid);
        }
        p->killed = 1;
        signal_proc(p, SIGKILL);
    }
}

void sup_drain_step(struct master *m, int64_t now)
{
    int workers = 0, web = 0, redis = 0;
    for (int i = 0; i < SUP_TABLE_SIZE; i++) {
        const struct sup_proc *p = &m->tab.p[i];
        if (p->state != SS_RUNNING && p->state != SS_STOPPING)
            continue;
        if (p->kind == SK_WORKER)
            workers++;
        else if (p->kind == SK_WEB)
            web++;
        else
            redis++;
    }
    if (!m->forced && now >= m->drain_deadline && workers) {
        klog_warn("drain deadline passed with %d worker(s) running: killing them and putting "
                  "their jobs back", workers);
        m->forced = 1;
    }
    if (m->forced) {
        for (int i = 0; i < SUP_TABLE_SIZE; i++) {
            struct sup_proc *p = &m->tab.p[i];
            if (p->kind != SK_WORKER || p->killed ||
                (p->state != SS_RUNNING && p->state != SS_STOPPING))
                continue;
            p->settle_requeue = 1;
            snprintf(p->stop_cause, sizeof(p->stop_cause),
                     "worker %d killed at the drain deadline", (int)p->pid);
            if (p->state == SS_RUNNING)
                p->state = SS_STOPPING;
            p->killed = 1;
            signal_proc(p, SIGKILL);
        }
    }
    if (workers)
        return;
    if (web) {
        for (int i = 0; i < SUP_TABLE_SIZE; i++)
            if (m->tab.p[i].kind == SK_WEB)
                sup_stop_proc(m, i, SIGTERM, "shutting down");
        return;
    }
    /* settle calls still on their way: wait for them, a bounded time */
    if (sup_rds_busy(m) && m->conn) {
        if (!m->flush_deadline)
            m->flush_deadline = now + 3000;
        if (now < m->flush_deadline)
            return;
        klog_warn("Redis calls still pending at exit (jobs will be recovered by lease expiry)");
    }
    if (redis) {
        if (!m->stopping_redis) {
            m->stopping_redis = 1;
            sup_rds_stop(m);
            for (int i = 0; i < SUP_TABLE_SIZE; i++)
                if (m->tab.p[i].kind == SK_REDIS)
                    sup_stop_proc(m, i, SIGTERM, "shutting down");
        }
        return;
    }
    if (m->forced && (m->requeued > 0 || m->inflight_at_kill > 0))
        m->exit_code = SUP_EXIT_FORCED;
    klog_info("stopped after %lldms (exit %d%s)", (long long)(now - m->drain_started), m->exit_code,
              m->requeued ? ", jobs were put back" : "");
    ev_break(m->loop, EVBREAK_ALL);
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct master *m = w->data;
    (void)loop;
    (void)revents;
    int64_t now = kue_mono_ms();
    int64_t wall = kue_now_ms();
    if (m->sb.hdr)
        m->sb.hdr->master_heartbeat_ms = wall;

    reap(m);   /* in case a SIGCHLD was coalesced away */
    if (!m->draining) {
        struct sup_ops ops = { ops_ready, ops_stop, m };
        for (int i = 0; i < m->cfg->ntypes; i++) {
            const struct sup_type *t = &m->cfg->types[i];
            sup_table_reconcile(&m->tab, t->name, m->want[i], m->gen, (uint64_t)t->max_jobs,
                                (int)t->max_jobs_jitter, now, &ops, rnd);
        }
        /* types no longer configured */
        for (int i = 0; i < SUP_TABLE_SIZE; i++) {
            struct sup_proc *p = &m->tab.p[i];
            if (p->kind == SK_WORKER && p->state != SS_FREE && type_index(m, p->type) < 0)
                sup_table_reconcile(&m->tab, p->type, 0, m->gen, 0, 0, now, &ops, rnd);
        }
        spawn_waiting(m, now);
    } else {
        spawn_waiting(m, now);   /* only the embedded redis-server restarts */
    }
    int check_rss = now - m->last_rss_check >= 1000;
    if (check_rss)
        m->last_rss_check = now;
    for (int i = 0; i < SUP_TABLE_SIZE; i++) {
        struct sup_proc *p = &m->tab.p[i];
        if (p->kind == SK_WORKER && (p->state == SS_RUNNING || p->state == SS_STOPPING))
            check_worker(m, i, wall, check_rss);
    }
    escalate(m, now);
    if (m->draining)
        sup_drain_step(m, now);

    /* one summary line a minute, never one per job */
    if (!m->last_summary)
        m->last_summary = now;
    if (now - m->last_summary >= 60000 && m->sb.hdr) {
        uint64_t pr = m->sb.hdr->promoted_total, rc = m->sb.hdr->recovered_total;
        if (pr != m->last_promoted || rc != m->last_recovered)
            klog_info("last minute: promoted %llu delayed job(s), settled/recovered %llu",
                      (unsigned long long)(pr - m->last_promoted),
                      (unsigned long long)(rc - m->last_recovered));
        m->last_promoted = pr;
        m->last_recovered = rc;
        m->last_summary = now;
    }
}

/* ---- signals --------------------------------------------------------------- */

static void start_drain(struct master *m, int force, const char *why)
{
    int64_t now = kue_mono_ms();
    if (m->draining) {
        if (!m->forced && force) {
            klog_warn("%s: not waiting for in-flight jobs any longer", why);
            m->forced = 1;
        }
        sup_drain_step(m, now);
        return;
    }
    m->draining = 1;
    m->forced = force;
    m->drain_started = now;
    m->drain_deadline = now + m->cfg->shutdown_timeout_ms;
    if (m->sb.hdr)
        m->sb.hdr->draining = 1;
    sup_rds_timers(m, 0);
    sup_watch_stop(m);
    int n = 0;
    for (int i = 0; i < SUP_TABLE_SIZE; i++) {
        struct sup_proc *p = &m->tab.p[i];
        if (p->kind != SK_WORKER)
            continue;
        if (p->state == SS_WAITING) {
            p->state = SS_FREE;
        } else if (p->state == SS_RUNNING || p->state == SS_STOPPING) {
            if (p->state == SS_RUNNING)
                n++;
            p->state = SS_RUNNING;   /* re-arm the deadline as the drain's */
            sup_stop_proc(m, i, SIGTERM, "drain");
            p->kill_at = m->drain_deadline + 60000;   /* drain_step decides */
        }
    }
    klog_info("%s: draining %d worker(s), deadline %llds%s", why, n,
              (long long)(m->cfg->shutdown_timeout_ms / 1000), force ? " (fast: not waiting)" : "");
    sup_drain_step(m, now);
}

static void reload(struct master *m);

static void ttin(struct master *m, int delta)
{
    int total = 0;
    for (int i = 0; i < m->cfg->ntypes; i++)
        total += m->want[i];
    for (int i = 0; i < m->cfg->ntypes; i++) {
        if (delta > 0 && total + 1 > SUP_MAX_PROCESSES)
            break;
        if (m->want[i] + delta < 0)
            continue;
        m->want[i] += delta;
        total += delta;
    }
    char buf[512] = "";
    size_t off = 0;
    for (int i = 0; i < m->cfg->ntypes && off < sizeof(buf); i++)
        off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s=%d", i ? ", " : "",
                                m->cfg->types[i].name, m->want[i]);
    klog_info("%s: processes now %s", delta > 0 ? "SIGTTIN" : "SIGTTOU", buf);
}

static void forward(struct master *m, int sig)
{
    for (int i = 0; i < SUP_TABLE_SIZE; i++) {
        struct sup_proc *p = &m->tab.p[i];
        if (p->kind != SK_WORKER || p->state != SS_RUNNING)
            continue;
        /* only to workers that installed their handlers (reported
         * state): a TSTP before that would stop the process; new ones
         * read the quiet flag from the scoreboard header */
        struct kue_sb_slot s;
        if (kue_sb_read_slot(&m->sb, (uint32_t)i, &s) == 0 && s.pid == p->pid &&
            s.state != KUE_SB_STARTING && s.state != KUE_SB_FREE)
            kill(p->pid, sig);
    }
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct master *m = w->data;
    (void)loop;
    (void)revents;
    switch (w->signum) {
    case SIGCHLD:
        reap(m);
        if (m->draining)
            sup_drain_step(m, kue_mono_ms());
        break;
    case SIGTERM:
        start_drain(m, m->draining, "SIGTERM");
        break;
    case SIGINT:
        start_drain(m, m->draining, "SIGINT");
        break;
    case SIGQUIT:
        start_drain(m, 1, "SIGQUIT");
        break;
    case SIGHUP:
        if (!m->draining)
            reload(m);
        break;
    case SIGUSR1:
        klog_info("SIGUSR1: reopening the log file");
        if (m->cfg->log_file[0])
            klog_reopen(m->cfg->log_file);
        break;
    case SIGTSTP:
        if (!m->quiet) {
            klog_info("SIGTSTP: quiet (workers stop taking jobs)");
            m->quiet = 1;
            if (m->sb.hdr)
                m->sb.hdr->quiet = 1;
            forward(m, SIGTSTP);
        }
        break;
    case SIGCONT:
        if (m->quiet) {
            klog_info("SIGCONT: resuming");
            m->quiet = 0;
            if (m->sb.hdr)
                m->sb.hdr->quiet = 0;
            forward(m, SIGCONT);
        }
        break;
    case SIGTTIN:
        if (!m->draining)
            ttin(m, 1);
        break;
    case SIGTTOU:
        if (!m->draining)
            ttin(m, -1);
        break;
    }
}

/* ---- reload (HUP) ---------------------------------------------------------- */

static void reload(struct master *m)
{
    char err[2048];
    struct sup_config *nc = calloc(1, sizeof(*nc));
    if (!nc) {
        klog_error("SIGHUP: out of memory; keeping the running configuration");
        return;
    }
    klog_info("SIGHUP: reloading %s", m->cfg->file);
    if (sup_config_load(nc, m->cfg->file, err, sizeof(err)) < 0 ||
        sup_config_check_plugins(nc, err, sizeof(err)) < 0) {
        klog_error("reload failed, keeping the running configuration: %s", err);
        free(nc);
        return;
    }
    char fixed[512];
    sup_config_fixed_changes(m->cfg, nc, fixed, sizeof(fixed));
    if (fixed[0])
        klog_warn("reload: %s changed; these take effect only after a restart", fixed);
    /* keys that cannot change at run time keep their running values */
    sup_config_keep_fixed(nc, m->cfg);

    /* what to apply comes from the key table: each key says whether a
     * change is the master's, replaces workers, or restarts web */
    struct sup_config *oc = m->cfg;
    char changed[1024];
    unsigned g = sup_config_changes(oc, nc, changed, sizeof(changed));
    if (changed[0])
        klog_info("reload: changed: %s", changed);
    int want[SUP_MAX_TYPES];
    struct sup_fileid hid[SUP_MAX_TYPES];
    memset(hid, 0, sizeof(hid));
    int rolled = 0;
    for (int i = 0; i < nc->ntypes; i++) {
        const struct sup_type *t = &nc->types[i];
        const struct sup_type *o = sup_config_type(oc, t->name);
        int oi = o ? (int)(o - oc->types) : -1;
        want[i] = (int)t->processes;
        struct sup_fileid id;
        sup_fileid_get(t->handler, &id);
        hid[i] = id;
        if (!o)
            continue;
        char tch[512];
        unsigned tb = sup_type_changes(o, t, tch, sizeof(tch));
        int file = !sup_fileid_eq(&id, &m->hid[oi]);
        if (tch[0])
            klog_info("reload: [type %s] changed: %s", t->name, tch);
        if (!(tb & SUP_APPLY_WORKERS) && !file && !(g & SUP_APPLY_WORKERS))
            continue;
        int n = 0;
        for (int j = 0; j < SUP_TABLE_SIZE; j++) {
            struct sup_proc *p = &m->tab.p[j];
            if (p->kind == SK_WORKER && p->state == SS_RUNNING && !strcmp(p->type, t->name) &&
                !p->retire) {
                p->retire = 1;
                n++;
            }
        }
        if (n)
            klog_info("reload: replacing %d worker(s) of type %s (%s)", n, t->name,
                      tb & SUP_APPLY_WORKERS ? "its settings changed"
                      : file               ? "its plugin file changed"
                                           : "settings of every worker changed");
        rolled += n;
    }
    int web_changed = (g & SUP_APPLY_WEB) != 0;

    m->cfg = nc;
    m->gen++;
    memcpy(m->want, want, sizeof(want));
    memcpy(m->hid, hid, sizeof(hid));
    memset(m->hid_bad, 0, sizeof(m->hid_bad));
    memset(m->plugin_dirty, 0, sizeof(m->plugin_dirty));
    klog_set_level(klog_level_parse(nc->log_level));
    klog_init("master", klog_level_parse(nc->log_level), !strcmp(nc->log_format, "json"));
    if (strcmp(oc->plugins, nc->plugins))
        sup_watch_restart(m);

    if (web_changed || (nc->web && m->web_idx < 0)) {
        if (m->web_idx >= 0) {
            klog_info("reload: restarting web (its settings changed)");
            sup_stop_proc(m, m->web_idx, SIGTERM, "configuration changed");
        }
        if (nc->web && m->web_idx < 0) {
            int i = sup_table_alloc(&m->tab);
            if (i >= 0) {
                m->tab.p[i].kind = SK_WEB;
                m->tab.p[i].state = SS_WAITING;
                m->web_idx = i;
            }
        }
    }
    if (oc->promotion_interval_ms != nc->promotion_interval_ms ||
        oc->recovery_interval_ms != nc->recovery_interval_ms)
        sup_rds_timers(m, 1);
    free(oc);
    klog_info("reloaded (generation %u): %d type(s), %d worker(s) to replace", m->gen, nc->ntypes,
              rolled);
}

/* ---- set-up ------------------------------------------------------------------ */

static int pidfile_open(struct master *m, char *err, size_t errlen)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/kue-supervisor.pid", m->cfg->run_dir);
    int fd = sup_rundir_openat(m->run_fd, "kue-supervisor.pid", O_RDWR | O_CREAT, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s%s", path, strerror(errno),
                 errno == ELOOP || errno == EPERM
                     ? " (a symlink, a hard link or a file of another user: refused)" : "");
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        char buf[32] = "";
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        buf[n > 0 ? n : 0] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        snprintf(err, errlen, "another kue-supervisor (pid %s) runs with run_dir %s", buf,
                 m->cfg->run_dir);
        close(fd);
        return -1;
    }
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    m->pidfile_fd = fd;
    return 0;
}

static const int handled_signals[] = {
    SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGTSTP, SIGCONT, SIGTTIN, SIGTTOU
};

int sup_master_run(struct sup_config *cfg);
int sup_master_run(struct sup_config *cfg)
{
    char err[PATH_MAX * 2 + 256];
    struct master *m = calloc(1, sizeof(*m));
    if (!m) {
        fprintf(stderr, "kue-supervisor: out of memory\n");
        return SUP_EXIT_FAIL;
    }
    sup_master = m;
    m->cfg = cfg;
    m->gen = 1;
    m->web_idx = m->redis_idx = -1;
    m->inotify_fd = -1;
    m->pidfile_fd = -1;
    m->run_fd = -1;
    m->mypid = getpid();
    m->exit_code = SUP_EXIT_OK;
    srandom((unsigned)(kue_now_ms() ^ m->mypid));
    if (gethostname(m->hostname, sizeof(m->hostname) - 1) < 0)
        kue_strlcpy(m->hostname, "localhost", sizeof(m->hostname));

    klog_init("master", klog_level_parse(cfg->log_level), !strcmp(cfg->log_format, "json"));
    if (cfg->log_file[0])
        klog_reopen(cfg->log_file);
    if (cfg->user[0] && geteuid() != 0)
        klog_warn("[supervisor] user = %s ignored: not started as root", cfg->user);

    if (sup_find_siblings(m, err, sizeof(err)) < 0)
        goto fail;
    if ((m->run_fd = sup_rundir_open(cfg->run_dir, err, sizeof(err))) < 0)
        goto fail;
    if (pidfile_open(m, err, sizeof(err)) < 0)
        goto fail;
    /* a web address that cannot be bound is fatal at start, named */
    if (cfg->web && sup_check_bind(cfg->web_listen, err, sizeof(err)) < 0) {
        m->exit_code = SUP_EXIT_CONFIG;
        goto fail;
    }
    /* orphans of our children are re-parented to us, and reaped */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        klog_warn("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
    signal(SIGPIPE, SIG_IGN);
    if (kue_sb_create(&m->sb, KUE_SB_MAX_SLOTS) < 0) {
        snprintf(err, sizeof(err), "scoreboard: %s", strerror(errno));
        goto fail;
    }
    fcntl(m->sb.fd, F_SETFD, FD_CLOEXEC);   /* children get it on purpose only */
    m->sb.hdr->started_ms = kue_now_ms();

    m->loop = ev_loop_new(EVFLAG_AUTO);
    if (!m->loop) {
        snprintf(err, sizeof(err), "cannot create the event loop");
        goto fail;
    }
    for (size_t i = 0; i < sizeof(handled_signals) / sizeof(handled_signals[0]); i++) {
        ev_signal_init(&m->sig[i], signal_cb, handled_signals[i]);
        m->sig[i].data = m;
        ev_signal_start(m->loop, &m->sig[i]);
    }
    m->nsig = (int)(sizeof(handled_signals) / sizeof(handled_signals[0]));

    if (cfg->embedded) {
        if (sup_redis_start_wait(m, err, sizeof(err)) < 0)
            goto fail;
    } else {
        kue_strlcpy(m->url_text, cfg->redis_url, sizeof(m->url_text));
    }
    if (sup_rds_start(m, err, sizeof(err)) < 0)
        goto fail;

    for (int i = 0; i < cfg->ntypes; i++) {
        m->want[i] = (int)cfg->types[i].processes;
        sup_fileid_get(cfg->types[i].handler, &m->hid[i]);
    }
    if (cfg->web) {
        int i = sup_table_alloc(&m->tab);
        m->tab.p[i].kind = SK_WEB;
        m->tab.p[i].state = SS_WAITING;
        m->web_idx = i;
    }
    if (cfg->ntypes)
        sup_watch_start(m);

    char url[600];
    kue_url_format(&m->url, url, sizeof(url));
    klog_info("kue-supervisor %s starting: %d type(s), Redis %s, prefix %s, pid %d", KUE_VERSION,
              cfg->ntypes, cfg->embedded ? "embedded" : url, cfg->prefix, (int)m->mypid);

    ev_timer_init(&m->tick, tick_cb, 0., 0.1);
    m->tick.data = m;
    ev_timer_start(m->loop, &m->tick);
    ev_run(m->loop, 0);

    int code = m->exit_code;
    sup_rds_stop(m);
    sup_watch_stop(m);
    if (m->pidfile_fd >= 0) {
        unlinkat(m->run_fd, "kue-supervisor.pid", 0);
        close(m->pidfile_fd);
    }
    return code;

fail:
    if (m->redis_idx >= 0 && m->tab.p[m->redis_idx].pid > 0) {
        kill(m->tab.p[m->redis_idx].pid, SIGTERM);
        waitpid(m->tab.p[m->redis_idx].pid, NULL, 0);
    }
    klog_error("%s", err);
    return m->exit_code ? m->exit_code : SUP_EXIT_FAIL;
}
