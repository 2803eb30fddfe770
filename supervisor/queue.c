/*
 * queue.c -- the master's queues: one per distinct prefix in use.
 *
 * [redis] prefix is queue 0; a [type NAME] prefix of its own adds a queue.
 * A queue is where a worker's jobs live, so each runs the duties kept in
 * the queue's keys (rds.c, leader.c, retention.c, control.c).  One prefix,
 * the common case, is one queue: the same connections, timers and calls
 * as a master without this file.  Queues are never removed while the
 * master runs: a prefix that a reload dropped may still hold jobs of
 * workers started before it (their settling needs it), and its duties
 * cost a few calls a second.
 */
#include "master.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

struct sup_queue *sup_queue_get(struct master *m, const char *keys_prefix, const char *prefix)
{
    for (int i = 0; i < m->nq; i++)
        if (!strcmp(m->q[i]->keys_prefix, keys_prefix))
            return m->q[i];
    if (m->nq >= SUP_MAX_QUEUES) {
        klog_error("prefix %s: more than %d prefixes; not served", prefix, SUP_MAX_QUEUES);
        return NULL;
    }
    struct sup_queue *q = calloc(1, sizeof(*q));
    if (!q)
        abort();
    q->idx = m->nq;
    kue_strlcpy(q->prefix, prefix, sizeof(q->prefix));
    kue_strlcpy(q->keys_prefix, keys_prefix, sizeof(q->keys_prefix));
    m->q[m->nq++] = q;
    if (m->rds_started) {
        klog_info("prefix %s: a new queue", prefix);
        if (sup_rds_queue_start(m, q) < 0)
            klog_error("prefix %s: cannot create its Redis connections", prefix);
    }
    return q;
}

int sup_queues_sync(struct master *m, const struct sup_config *cfg)
{
    if (!sup_queue_get(m, cfg->keys_prefix, cfg->prefix))
        return -1;
    for (int i = 0; i < cfg->ntypes; i++)
        if (!sup_queue_get(m, cfg->types[i].keys_prefix, cfg->types[i].prefix))
            return -1;
    return 0;
}

struct sup_queue *sup_proc_queue(struct master *m, const struct sup_proc *p)
{
    return p->queue > 0 && p->queue < m->nq ? m->q[p->queue] : m->q[0];
}

void sup_queues_free(struct master *m)
{
    for (int i = 0; i < m->nq; i++) {
        free(m->q[i]);
        m->q[i] = NULL;
    }
    m->nq = 0;
}
