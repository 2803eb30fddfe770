/*
 * drain.c -- the master's shutdown (TERM/INT: graceful, QUIT or a second
 * signal: forced): workers are told to finish their jobs (each drain
 * recorded in Redis, so lease recovery never spends an attempt on a
 * drained worker's jobs), killed at the deadline with their jobs put back,
 * then web stops, pending Redis calls get a bounded wait (what is left is
 * kept for the next start), then the embedded redis-server, then exit.
 */
#include "master.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "slot.h"
#include "util.h"

void sup_start_drain(struct master *m, int force, const char *why)
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
    for (int i = 0; i < m->nq; i++)
        sup_leader_drain(m, m->q[i]);
    sup_watch_stop(m);
    /* a reload whose plugin checks still run is not applied, and the
     * watcher's checks are of no use any more: killed (and reaped) */
    sup_reload_abandon(m, why);
    sup_pcheck_cancel(m, 0);
    /* the drain is announced before the first worker is told (and logs) */
    int n = 0;
    for (int i = 0; i < SUP_TABLE_SIZE; i++)
        n += m->tab.p[i].kind == SK_WORKER && m->tab.p[i].state == SS_RUNNING;
    klog_info("%s: draining %d worker(s), deadline %llds%s", why, n,
              (long long)(m->cfg->shutdown_timeout_ms / 1000), force ? " (fast: not waiting)" : "");
    for (int i = 0; i < SUP_TABLE_SIZE; i++) {
        struct sup_proc *p = &m->tab.p[i];
        if (p->kind != SK_WORKER)
            continue;
        if (p->state == SS_WAITING) {
            sup_slot_event(p, SE_CANCEL, NULL);
        } else if (p->state == SS_RUNNING || p->state == SS_STOPPING) {
            char name[128];
            klog_info("stopping %s (pid %d): drain", sup_proc_name(p, name, sizeof(name)),
                      (int)p->pid);
            /* the KILL deadline becomes the drain's: drain_step decides */
            sup_slot_event(p, SE_DRAIN, &(struct sup_ev){ .at = m->drain_deadline + 60000 });
            sup_rds_mark_drained(sup_proc_queue(m, p), p->pid);
            sup_signal_proc(p, SIGTERM);
        }
    }
    sup_drain_step(m, now);
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
            sup_slot_event(p, SE_KILL, &(struct sup_ev){ .now = now });
            sup_signal_proc(p, SIGKILL);
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
    if (sup_rds_busy(m)) {
        if (!m->flush_deadline)
            m->flush_deadline = now + 3000;
        if (now < m->flush_deadline)
            return;
        klog_warn("Redis calls still pending at exit: kept for the next start (lease recovery "
                  "puts the jobs of drained workers back meanwhile, attempts not counted)");
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

