/*
 * retention.c -- the leader removes complete and failed jobs past their
 * type's limits ([retention], [retention TYPE]; docs/kue-supervisor.md).
 * Per queue, by the leader of that queue: a prune call works on the types
 * of its prefix.
 *
 * One `prune` call works for at most PRUNE_BUDGET_US of Redis time (the
 * script watches the clock), then answers where it stopped; the next call
 * follows from the loop at once, so other clients are served between
 * calls.  When a round removed nothing, the next waits [retention]
 * interval.  The script removes whole jobs with the prelude's drop() (the
 * remove script's logic: hash, log, every index entry, search entries),
 * and only jobs whose hash says complete or failed.
 */
#include "master.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

#define PRUNE_BUDGET_US "1000"
#define PRUNE_ARGS (8 + 5 * SUP_MAX_TYPES)

static void arm(struct master *m, struct sup_queue *q, int64_t ms)
{
    ev_timer_stop(m->loop, &q->ret_timer);
    ev_timer_set(&q->ret_timer, ms <= 0 ? 0. : (double)ms / 1000.0, 0.);
    ev_timer_start(m->loop, &q->ret_timer);
}

static void count(struct master *m, const char *type, const char *state, uint64_t n)
{
    struct kue_sb_header *h = m->sb.hdr;
    if (!h)
        return;
    uint32_t i = 0;
    while (i < h->npruned && strcmp(h->pruned[i].type, type) != 0)
        i++;
    if (i == h->npruned) {
        if (i >= KUE_SB_MAX_PRUNED)
            return;
        kue_strlcpy(h->pruned[i].type, type, sizeof(h->pruned[i].type));
        __atomic_store_n(&h->npruned, i + 1, __ATOMIC_RELEASE);
    }
    if (!strcmp(state, "complete"))
        h->pruned[i].complete += n;
    else
        h->pruned[i].failed += n;
}

static void prune_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct master *m = sup_master;
    struct sup_queue *q = priv;
    redisReply *reply = r;
    (void)ac;
    q->ret_inflight = 0;
    if (m->draining)
        return;
    int64_t interval = m->cfg->retention.interval_ms;
    if (!reply) {
        arm(m, q, interval);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        if (!strncmp(reply->str, "FENCED", 6))
            sup_leader_lost(m, q, "prune answered FENCED");
        else
            klog_error("prune: %s", reply->str);
        q->ret_cursor = 0;
        arm(m, q, interval);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1) {
        arm(m, q, interval);
        return;
    }
    long long next = reply->element[0]->integer;
    long long removed = 0;
    for (size_t i = 1; i + 2 < reply->elements; i += 3) {
        const redisReply *t = reply->element[i], *s = reply->element[i + 1], *n = reply->element[i + 2];
        if (t->type != REDIS_REPLY_STRING || s->type != REDIS_REPLY_STRING ||
            n->type != REDIS_REPLY_INTEGER)
            continue;
        count(m, t->str, s->str, (uint64_t)n->integer);
        removed += n->integer;
        klog_debug("retention: removed %lld %s job(s) of type %s", n->integer, s->str, t->str);
    }
    if (next >= 0) {
        q->ret_cursor = (int)next;
        arm(m, q, 0);
    } else {
        q->ret_cursor = 0;
        arm(m, q, removed > 0 ? 0 : interval);
    }
}

static void fmt_ll(char *buf, size_t len, long long v)
{
    snprintf(buf, len, "%lld", v);
}

static void ret_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct sup_queue *q = w->data;
    struct master *m = sup_master;
    (void)loop;
    (void)revents;
    if (m->draining || q->ret_inflight)
        return;
    const struct sup_config *c = m->cfg;
    if (!sup_is_leader(m, q) || !q->conn || !kue_conn_usable(q->conn)) {
        arm(m, q, c->retention.interval_ms);
        return;
    }
    static char num[PRUNE_ARGS][24];
    const char *argv[PRUNE_ARGS];
    int n = 0;
    argv[n++] = q->keys_prefix;
    argv[n++] = q->leader_token;
    argv[n++] = PRUNE_BUDGET_US;
    fmt_ll(num[n], sizeof(num[n]), q->ret_cursor);
    argv[n] = num[n];
    n++;
    const struct sup_retention *rs[1 + SUP_MAX_TYPES];
    rs[0] = &c->retention;
    for (int i = 0; i < c->nretention; i++)
        rs[1 + i] = &c->ret_types[i];
    for (int i = 0; i <= c->nretention; i++) {
        if (i > 0)
            argv[n++] = rs[i]->type;
        long long v[4] = { rs[i]->keep_complete, (long long)rs[i]->keep_complete_for_ms,
                           rs[i]->keep_failed, (long long)rs[i]->keep_failed_for_ms };
        for (int k = 0; k < 4; k++) {
            fmt_ll(num[n], sizeof(num[n]), v[k]);
            argv[n] = num[n];
            n++;
        }
    }
    if (kue_conn_script(q->conn, KS_PRUNE, prune_reply, q, n, argv, NULL) == 0)
        q->ret_inflight = 1;
    else
        arm(m, q, c->retention.interval_ms);
}

void sup_retention_start(struct master *m, struct sup_queue *q)
{
    ev_init(&q->ret_timer, ret_cb);
    q->ret_timer.data = q;
    arm(m, q, m->cfg->retention.interval_ms);
}

void sup_retention_stop(struct master *m, struct sup_queue *q)
{
    ev_timer_stop(m->loop, &q->ret_timer);
}
