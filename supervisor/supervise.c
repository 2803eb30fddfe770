/*
 * supervise.c -- the master's supervision of each process slot, on top of
 * the slot's state machine (slot.h):
 *
 *   - reaping: a worker that exits is settled (its jobs failed with the
 *     real cause, or put back when we killed it at a drain deadline or for
 *     another job's hard timeout), then restarted with s6's backoff unless
 *     we stopped it; web and the embedded redis-server likewise;
 *   - starting the WAITING entries whose time has come;
 *   - reading each worker's scoreboard slot: a job past its deadline gets
 *     its worker killed (hard timeout, blaming the job whose handler holds
 *     the loop), a stale heartbeat means a hung worker, max_jobs and
 *     max_rss retire a worker (a new one starts first);
 *   - escalating a graceful stop to SIGKILL at its deadline.
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
    /* its job counts live on in its type's totals (counters never go down) */
    kue_sb_retire_counts(&m->sb, (uint32_t)idx);
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
    sup_rds_settle(sup_proc_queue(m, p), p->pid, cause, p->settle_requeue);
    if (p->settle_requeue && held && m->draining)
        m->inflight_at_kill += (int)held;

    if (ours || m->draining) {
        int lvl = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? KLOG_INFO : KLOG_WARN;
        klog(lvl, "%s (pid %d) %s%s", name, (int)p->pid, st,
             held ? " holding jobs" : "");
        sup_slot_event(p, SE_EXIT, NULL);
        return;
    }
    /* it died on its own: respawn, with backoff when it died soon after
     * its start (slot.h) */
    pid_t pid = p->pid;
    int64_t now = kue_mono_ms();
    sup_slot_event(p, SE_CRASH, &(struct sup_ev){ .now = now, .status = status,
                   .base = m->cfg->respawn_delay_ms, .max = m->cfg->respawn_max_delay_ms });
    int64_t delay = p->spawn_at - now;
    if (sup_exit_decide(status) == SX_CONFIG)
        klog_error("%s (pid %d) cannot load its plugin (exit 78); next try in %llds", name,
                   (int)pid, (long long)(delay / 1000));
    else if (p->failures >= 3)
        klog_error("%s (pid %d) %s; type %s is crash-looping (%d crashes in a row), next start "
                   "in %lldms", name, (int)pid, st, p->type, p->failures, (long long)delay);
    else
        klog(sup_exit_decide(status) == SX_RESPAWN && !p->failures ? KLOG_INFO : KLOG_WARN,
             "%s (pid %d) %s; restarting in %lldms", name, (int)pid, st, (long long)delay);
    if (m->sb.hdr)
        m->sb.hdr->restarts_total++;
    /* by type too, kept when a reload removes the type (counters never go
     * down) */
    kue_sb_count_restart(&m->sb, p->type);
}

static void other_exited(struct master *m, int idx, int status)
{
    struct sup_proc *p = &m->tab.p[idx];
    char name[64], st[96];
    sup_proc_name(p, name, sizeof(name));
    sup_status_text(status, st, sizeof(st));
    int ours = p->state == SS_STOPPING;
    if (ours || m->draining) {
        klog_info("%s (pid %d) %s", name, (int)p->pid, st);
        if (p->kind == SK_WEB && m->web_idx == idx && (!m->cfg->web || m->draining))
            m->web_idx = -1;
        if (p->kind == SK_REDIS && m->redis_idx == idx && m->draining)
            m->redis_idx = -1;
        /* web stopped to apply new settings, or redis-server outside a
         * drain: start again at once */
        int again = (p->kind == SK_WEB && m->web_idx == idx) ||
                    (p->kind == SK_REDIS && m->redis_idx == idx);
        sup_slot_event(p, again ? SE_RESTART : SE_EXIT, &(struct sup_ev){ .at = 0 });
        return;
    }
    if (p->kind == SK_WEB && WIFEXITED(status) && WEXITSTATUS(status) == SUP_CHILD_EXIT_CONFIG) {
        /* it cannot listen (address in use, bad TLS files ...): its own
         * error line says why; starting it again would fail the same way */
        klog_error("web (pid %d) cannot serve on %s (exit 78, see the line above); not restarted "
                   "until a reload (HUP)", (int)p->pid, m->cfg->web_listen);
        sup_slot_event(p, SE_EXIT, &(struct sup_ev){ .at = 0 });
        if (m->web_idx == idx)
            m->web_idx = -1;
        return;
    }
    pid_t pid = p->pid;
    int64_t now = kue_mono_ms();
    struct sup_ev ev = { .now = now, .status = status, .base = m->cfg->respawn_delay_ms,
                         .max = m->cfg->respawn_max_delay_ms };
    if (p->kind == SK_REDIS) {
        ev.base = 100;
        ev.max = 5000;
    }
    sup_slot_event(p, SE_CRASH, &ev);
    klog_error("%s (pid %d) %s; restarting in %lldms", name, (int)pid, st,
               (long long)(p->spawn_at - now));
}

void sup_reap(struct master *m)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            break;
        int idx = sup_table_find_pid(&m->tab, pid);
        if (idx < 0 && sup_pcheck_reaped(m, pid, status))
            continue;                   /* a plugin check (supervisor/check.c) */
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

/* ---- the tick's checks ---------------------------------------------------- */

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

void sup_check_worker(struct master *m, int idx, int64_t now_wall, int check_rss)
{
    struct sup_proc *p = &m->tab.p[idx];
    if (p->killed)
        return;
    struct kue_sb_slot s;
    if (kue_sb_read_slot(&m->sb, (uint32_t)idx, &s) < 0 || s.pid != p->pid)
        return;
    char name[128];
    sup_proc_name(p, name, sizeof(name));

    /* a cancelled job: its grace time passed, or its plugin has no hook */
    if (sup_control_check(m, idx, &s, now_wall))
        return;

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
            int64_t blame = sup_timeout_blame(&s, job);
            klog_warn("%s (pid %d): job %lld passed its deadline by %lldms; killing the worker",
                      name, (int)p->pid, (long long)job->id,
                      (long long)(now_wall - job->deadline_ms));
            if (blame != job->id)
                klog_warn("%s (pid %d): the handler of job %lld holds its loop since before "
                          "that deadline: job %lld is the one that timed out", name, (int)p->pid,
                          (long long)blame, (long long)blame);
            sup_rds_fail_job(sup_proc_queue(m, p), blame, "timeout");
            /* the process's other jobs go back without spending an attempt */
            p->settle_requeue = 1;
            snprintf(p->stop_cause, sizeof(p->stop_cause),
                     "worker %d killed: job %lld timed out", (int)p->pid, (long long)blame);
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
            /* the handler holding the loop is the one that hangs: it fails
             * with that cause, the process's other jobs go back as they are */
            if (s.handler_job > 0) {
                sup_rds_fail_job(sup_proc_queue(m, p), s.handler_job, p->stop_cause);
                p->settle_requeue = 1;
            }
            sup_stop_proc(m, idx, SIGKILL, "hung");
            return;
        }
    }

    if (p->state != SS_RUNNING || p->retire)
        return;
    int ti = sup_type_index(m, p->type);
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

void sup_spawn_waiting(struct master *m, int64_t now)
{
    for (int i = 0; i < SUP_TABLE_SIZE; i++) {
        struct sup_proc *p = &m->tab.p[i];
        if (p->state != SS_WAITING || p->spawn_at > now)
            continue;
        if (p->kind == SK_WORKER) {
            int ti = sup_type_index(m, p->type);
            if (ti < 0 || m->draining) {
                sup_slot_event(p, SE_CANCEL, NULL);
                continue;
            }
            p->gen = m->gen;
            if (sup_spawn_worker(m, i, &m->cfg->types[ti]) < 0)
                sup_slot_event(p, SE_START_FAIL, &(struct sup_ev){ .now = now,
                               .base = m->cfg->respawn_delay_ms,
                               .max = m->cfg->respawn_max_delay_ms });
        } else if (p->kind == SK_WEB) {
            if (m->draining || !m->cfg->web) {
                sup_slot_event(p, SE_CANCEL, NULL);
                m->web_idx = -1;
                continue;
            }
            if (sup_spawn_web(m, i) < 0)
                p->spawn_at = now + 1000;
        } else if (p->kind == SK_REDIS) {
            if (m->draining && m->stopping_redis) {
                sup_slot_event(p, SE_CANCEL, NULL);
                m->redis_idx = -1;
                continue;
            }
            if (sup_spawn_redis(m, i) < 0)
                p->spawn_at = now + 1000;
        }
    }
}

void sup_escalate(struct master *m, int64_t now)
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
        sup_slot_event(p, SE_KILL, &(struct sup_ev){ .now = now });
        sup_signal_proc(p, SIGKILL);
    }
}

