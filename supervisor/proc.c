/*
 * proc.c -- process table decisions (see proc.h).  Nothing here forks,
 * signals or reads a clock: the master passes time in and applies the
 * decisions through struct sup_ops, so every rule is unit-tested.
 */
#include "proc.h"
#include "slot.h"

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

int sup_table_alloc(struct sup_table *t)
{
    for (int i = 0; i < SUP_TABLE_SIZE; i++)
        if (t->p[i].state == SS_FREE) {
            memset(&t->p[i], 0, sizeof(t->p[i]));
            return i;
        }
    return -1;
}

int sup_table_find_pid(const struct sup_table *t, pid_t pid)
{
    if (pid <= 0)
        return -1;
    for (int i = 0; i < SUP_TABLE_SIZE; i++)
        if (t->p[i].state != SS_FREE && t->p[i].state != SS_WAITING && t->p[i].pid == pid)
            return i;
    return -1;
}

int sup_table_count(const struct sup_table *t, const char *type, unsigned states, int with_retired)
{
    int n = 0;
    for (int i = 0; i < SUP_TABLE_SIZE; i++) {
        const struct sup_proc *p = &t->p[i];
        if (p->state == SS_FREE || p->kind != SK_WORKER || strcmp(p->type, type))
            continue;
        if (!(states & (1u << p->state)))
            continue;
        if (p->retire && !with_retired)
            continue;
        n++;
    }
    return n;
}

/* The smallest number k >= 1 not used by a live process of the type. */
static int free_k(const struct sup_table *t, const char *type)
{
    for (int k = 1;; k++) {
        int used = 0;
        for (int i = 0; i < SUP_TABLE_SIZE && !used; i++) {
            const struct sup_proc *p = &t->p[i];
            used = p->state != SS_FREE && p->kind == SK_WORKER && p->k == k &&
                   !strcmp(p->type, type);
        }
        if (!used)
            return k;
    }
}

uint64_t sup_job_limit(uint64_t max_jobs, int jitter_pct, unsigned r)
{
    if (!max_jobs)
        return 0;
    uint64_t span = max_jobs * (uint64_t)jitter_pct / 100;
    return max_jobs + (span ? r % (span + 1) : 0);
}

int sup_table_reconcile(struct sup_table *t, const char *type, int want, uint32_t gen,
                        uint64_t max_jobs, int jitter_pct, int64_t now,
                        const struct sup_ops *ops, unsigned (*rnd)(void))
{
    const unsigned live_states = (1u << SS_WAITING) | (1u << SS_RUNNING);
    int live = sup_table_count(t, type, live_states, 0);
    int added = 0;

    /* too many: drop waiting ones first, then stop the highest numbers */
    while (live > want) {
        int victim = -1;
        for (int i = 0; i < SUP_TABLE_SIZE; i++) {
            struct sup_proc *p = &t->p[i];
            if (p->state == SS_FREE || p->kind != SK_WORKER || p->retire || strcmp(p->type, type))
                continue;
            if (p->state == SS_WAITING) {
                victim = i;
                break;
            }
            if (p->state == SS_RUNNING && (victim < 0 || p->k > t->p[victim].k))
                victim = i;
        }
        if (victim < 0)
            break;
        if (t->p[victim].state == SS_WAITING)
            sup_slot_event(&t->p[victim], SE_CANCEL, NULL);
        else
            ops->stop(ops->ud, victim, "scaled down");
        live--;
    }

    /* retired processes not yet told to stop */
    int old = 0;
    for (int i = 0; i < SUP_TABLE_SIZE; i++) {
        const struct sup_proc *p = &t->p[i];
        if (p->state == SS_RUNNING && p->kind == SK_WORKER && p->retire && !strcmp(p->type, type))
            old++;
    }

    /* too few: while replacing, one extra process at a time (surge 1).  A
     * replaced process still draining counts: it runs, holds its jobs and
     * its memory until it exits, so the next new one waits for that. */
    int draining = old ? sup_table_count(t, type, 1u << SS_STOPPING, 1) : 0;
    while (live < want && (old == 0 || live + old + draining < want + 1)) {
        int i = sup_table_alloc(t);
        if (i < 0)
            break;
        struct sup_proc *p = &t->p[i];
        sup_slot_event(p, SE_WANT, &(struct sup_ev){ .at = now });
        p->kind = SK_WORKER;
        snprintf(p->type, sizeof(p->type), "%s", type);
        p->k = free_k(t, type);
        p->gen = gen;
        p->job_limit = sup_job_limit(max_jobs, jitter_pct, rnd ? rnd() : 0);
        live++;
        added++;
    }

    /* one retired process stops once every new one is ready */
    if (old > 0) {
        int unready = 0;
        for (int i = 0; i < SUP_TABLE_SIZE; i++) {
            const struct sup_proc *p = &t->p[i];
            if (p->state == SS_FREE || p->kind != SK_WORKER || p->retire || strcmp(p->type, type))
                continue;
            if (p->state == SS_WAITING || (p->state == SS_RUNNING && !ops->ready(ops->ud, i)))
                unready++;
        }
        if (unready == 0 || want == 0) {
            for (int i = 0; i < SUP_TABLE_SIZE; i++) {
                struct sup_proc *p = &t->p[i];
                if (p->state == SS_RUNNING && p->kind == SK_WORKER && p->retire &&
                    !strcmp(p->type, type)) {
                    ops->stop(ops->ud, i, "replaced");
                    if (want > 0)
                        break;
                }
            }
        }
    }
    return added;
}

int64_t sup_backoff_ms(int failures, int64_t base, int64_t max)
{
    if (failures <= 0)
        return 0;
    int64_t d = base;
    for (int i = 1; i < failures && d < max; i++)
        d *= 2;
    return d > max ? max : d;
}

enum sup_exit_action sup_exit_decide(int status)
{
    if (WIFEXITED(status)) {
        if (WEXITSTATUS(status) == 0)
            return SX_RESPAWN;
        if (WEXITSTATUS(status) == 78)
            return SX_CONFIG;
    }
    return SX_BACKOFF;
}

void sup_status_text(int status, char *buf, size_t len)
{
    if (WIFEXITED(status))
        snprintf(buf, len, "exited with code %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d%s", WTERMSIG(status),
                 WCOREDUMP(status) ? " (core dumped)" : "");
    else
        snprintf(buf, len, "stopped (status 0x%x)", (unsigned)status);
}

int64_t sup_timeout_blame(const struct kue_sb_slot *s, const struct kue_sb_job *late)
{
    if (s->handler_job > 0 && s->handler_since_ms > 0 && s->handler_since_ms <= late->deadline_ms)
        return s->handler_job;
    return late->id;
}
