/*
 * control.c -- the master's part in cancelling a running job
 * (docs/supervision.md, section 7).
 *
 * A cancelled active job is a member of P:cancels, scored by the time (ms,
 * Redis clock) after which it may be killed (libkue/lua/cancel.lua).  The
 * master keeps a copy of that set, read every second and at once when
 * "cancel <id>" arrives on P:control, and on every tick looks for those
 * ids among the jobs its workers hold (scoreboard).  A worker holding one
 * is killed, as for a hard timeout, when
 *
 *   - the grace time has passed (the plugin's cancel hook did not end the
 *     job, or a handler holds the worker's loop and never saw the message),
 *   - or the worker asks for it through its slot (cancel_job: the plugin
 *     has no cancel hook), and the job is in the set.
 *
 * The cancelled job fails with "cancelled" (a failure of a job in
 * P:cancels is final), and the process's other jobs go back to inactive
 * without spending an attempt (settle in requeue mode).  Members whose
 * time passed ten minutes ago are dropped from the set by whichever
 * supervisor reads it.
 *
 * All of it is per queue (queue.c): a job id names a job of one prefix,
 * so a worker is checked against the cancels of its own queue only.
 */
#include "master.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "util.h"

#define CTL_MAX_CANCELS 1024          /* read at most this many members per poll */
#define CTL_POLL_MS 1000
#define CTL_FORGET_MS 600000          /* drop members this long past their time */

struct ctl_cancel {
    int64_t id;
    int64_t kill_at;                  /* ms, Redis clock */
};

static void on_cancels(redisAsyncContext *ac, void *rep, void *priv)
{
    redisReply *r = rep;
    struct sup_queue *q = priv;
    (void)ac;
    q->ctl_inflight = 0;
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return;
    if (!q->ctl_c && !(q->ctl_c = calloc(CTL_MAX_CANCELS, sizeof(*q->ctl_c))))
        return;
    int n = 0;
    for (size_t i = 0; i + 1 < r->elements && n < CTL_MAX_CANCELS; i += 2) {
        if (r->element[i]->type != REDIS_REPLY_STRING ||
            r->element[i + 1]->type != REDIS_REPLY_STRING)
            continue;
        q->ctl_c[n].id = strtoll(r->element[i]->str, NULL, 10);
        q->ctl_c[n].kill_at = (int64_t)strtod(r->element[i + 1]->str, NULL);
        if (q->ctl_c[n].id > 0)
            n++;
    }
    q->ctl_n = n;
}

static void poll_now(struct sup_queue *q)
{
    if (q->ctl_inflight || !q->conn || !kue_conn_ready(q->conn))
        return;
    char key[200], old[24], limit[16];
    kue_key_cancels(key, sizeof(key), q->keys_prefix);   /* the cancelled active jobs */
    snprintf(old, sizeof(old), "(%lld", (long long)(kue_now_ms() - CTL_FORGET_MS));
    snprintf(limit, sizeof(limit), "%d", CTL_MAX_CANCELS);
    const char *prune[] = { "ZREMRANGEBYSCORE", key, "-inf", old };
    kue_conn_commandargv(q->conn, NULL, NULL, 4, prune, NULL);
    const char *read[] = { "ZRANGEBYSCORE", key, "-inf", "+inf", "WITHSCORES", "LIMIT", "0",
                           limit };
    if (kue_conn_commandargv(q->conn, on_cancels, q, 8, read, NULL) == 0)
        q->ctl_inflight = 1;
}

static void poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    poll_now(w->data);
}

static void on_control(redisAsyncContext *ac, void *rep, void *priv)
{
    struct sup_queue *q = priv;
    redisReply *r = rep;
    (void)ac;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_STRING || strcmp(r->element[0]->str, "message") != 0 ||
        r->element[2]->type != REDIS_REPLY_STRING)
        return;
    if (!strncmp(r->element[2]->str, "cancel ", 7))
        poll_now(q);
}

static void sub_state(kue_conn_t *c, int connected, void *priv)
{
    struct sup_queue *q = priv;
    if (!connected)
        return;
    char ch[160];
    kue_key_control(ch, sizeof(ch), q->keys_prefix);   /* cancel and pause messages */
    if (kue_conn_subscribe(c, ch, on_control, q) != 0)
        klog_warn("cannot subscribe to %s; cancels are seen within a second", ch);
    poll_now(q);
}

int sup_control_start(struct master *m, struct sup_queue *q)
{
    ev_timer_init(&q->ctl_poll, poll_cb, CTL_POLL_MS / 1000.0, CTL_POLL_MS / 1000.0);
    q->ctl_poll.data = q;
    ev_timer_start(m->loop, &q->ctl_poll);
    q->ctl_sub = kue_conn_new(m->loop, &q->url, "master-control", sub_state, q);
    return q->ctl_sub ? 0 : -1;
}

void sup_control_stop(struct master *m, struct sup_queue *q)
{
    ev_timer_stop(m->loop, &q->ctl_poll);
    kue_conn_t *c = q->ctl_sub;
    q->ctl_sub = NULL;              /* its pending callbacks see it gone */
    kue_conn_free(c);
    q->ctl_inflight = 0;
    free(q->ctl_c);
    q->ctl_c = NULL;
    q->ctl_n = 0;
}

static const struct ctl_cancel *find(const struct sup_queue *q, int64_t id)
{
    for (int i = 0; i < q->ctl_n; i++)
        if (q->ctl_c[i].id == id)
            return &q->ctl_c[i];
    return NULL;
}

int sup_control_check(struct master *m, int idx, const struct kue_sb_slot *s, int64_t now_wall)
{
    struct sup_proc *p = &m->tab.p[idx];
    struct sup_queue *q = sup_proc_queue(m, p);
    if (!q->ctl_n)
        return 0;
    uint32_t n = s->inflight_n < KUE_SB_MAX_INFLIGHT ? s->inflight_n : KUE_SB_MAX_INFLIGHT;
    for (uint32_t j = 0; j < n; j++) {
        int64_t id = s->inflight[j].id;
        const struct ctl_cancel *c = find(q, id);
        if (!c)
            continue;
        int asked = s->cancel_job == id;
        if (!asked && now_wall < c->kill_at)
            continue;
        char name[128];
        sup_proc_name(p, name, sizeof(name));
        klog_warn("%s (pid %d): job %lld was cancelled %s; killing the worker", name,
                  (int)p->pid, (long long)id,
                  asked ? "and its plugin has no cancel hook" : "and is still running after "
                  "the grace time");
        sup_rds_fail_job(q, id, "cancelled");
        /* the process's other jobs go back without spending an attempt */
        p->settle_requeue = 1;
        snprintf(p->stop_cause, sizeof(p->stop_cause), "worker %d killed: job %lld cancelled",
                 (int)p->pid, (long long)id);
        sup_stop_proc(m, idx, SIGKILL, "job cancelled");
        return 1;
    }
    return 0;
}
