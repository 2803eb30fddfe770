/*
 * leader.c -- the leader lease of each queue (a Redis and prefix).
 *
 * Exactly one supervisor per Redis and prefix is the leader of that queue:
 * it runs the queue's retention (retention.c) and, for queue 0 ([redis]
 * prefix), cron (cron.c).  A lease per prefix, not one for the fleet: the
 * lease and the fencing token every leader-only script checks live in the
 * prefix's keys, so on a cluster they sit in the slot of the keys they
 * guard and the check stays atomic.  Promotion and lease recovery stay on
 * every supervisor (their scripts are safe to run anywhere).  The
 * scoreboard (and so kue-web's /workers) shows the lease of queue 0.
 *
 * The lease is the hash P:leader (docs/wire.md section 12), in the
 * prefix's keys (so in the queue's cluster slot): {holder, token, until,
 * since}.  The `leader` script takes it when it is free or expired, with a
 * new fencing token (HINCRBY, never reused), and renews it for its holder.
 * Every leader-only script is given the token and refuses (FENCED) when it
 * is no longer the current, unexpired one, so a supervisor that lost the
 * lease without knowing it (paused, cut off) cannot act as leader.
 *
 * Timing ([supervisor] leader_lease, default 5 s): the holder renews every
 * lease/3; it counts itself leader until lease after it sent its last
 * successful renewal (its own clock, which only makes it stop early).  A
 * follower asks again when the holder's lease runs out (the script tells
 * it how long that is), so a dead leader is replaced within the lease
 * time of its last renewal.  A draining leader gives the lease up at once
 * and says so on the channel P:leader, to which every master listens.
 */
#include "master.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "util.h"

static void arm(struct master *m, struct sup_queue *q, int64_t ms)
{
    if (ms < 1)
        ms = 1;
    ev_timer_stop(m->loop, &q->leader_timer);
    ev_timer_set(&q->leader_timer, (double)ms / 1000.0, 0.);
    ev_timer_start(m->loop, &q->leader_timer);
}

int sup_is_leader(const struct master *m, const struct sup_queue *q)
{
    return q->leader && !m->draining && kue_mono_ms() < q->leader_valid_mono;
}

/* The scoreboard's copy of the lease of queue 0. */
static void sb_token(struct master *m, struct sup_queue *q, long long token)
{
    if (q->idx == 0 && m->sb.hdr)
        m->sb.hdr->leader_token = token;
    else
        q->leader_seen_token = token;
}

static long long seen_token(const struct master *m, const struct sup_queue *q)
{
    if (q->idx == 0)
        return m->sb.hdr ? m->sb.hdr->leader_token : 0;
    return q->leader_seen_token;
}

static void set_leader(struct master *m, struct sup_queue *q, int on, long long token,
                       const char *holder)
{
    int was = q->leader;
    q->leader = on;
    if (on)
        snprintf(q->leader_token, sizeof(q->leader_token), "%lld", token);
    sb_token(m, q, token);
    if (q->idx == 0 && m->sb.hdr) {
        m->sb.hdr->leader = (uint32_t)on;
        if (on && !was)
            m->sb.hdr->leader_since_ms = kue_now_ms();
        if (holder)
            kue_strlcpy(m->sb.hdr->leader_holder, holder, sizeof(m->sb.hdr->leader_holder));
    }
    if (on && !was) {
        klog_info("leader of prefix %s (token %lld): running %s", q->prefix, token,
                  q->idx == 0 ? "cron and retention" : "retention");
        if (q->idx == 0)
            sup_cron_kick(m);
    } else if (!on && was) {
        klog_warn("no longer the leader of prefix %s", q->prefix);
    }
}

void sup_leader_lost(struct master *m, struct sup_queue *q, const char *why)
{
    if (q->leader)
        klog_warn("leader lease of prefix %s lost: %s", q->prefix, why);
    set_leader(m, q, 0, seen_token(m, q), NULL);
    arm(m, q, 1);
}

static void leader_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct master *m = sup_master;
    struct sup_queue *q = priv;
    redisReply *reply = r;
    (void)ac;
    q->leader_inflight = 0;
    if (m->draining)
        return;
    int64_t lease = m->cfg->leader_lease_ms, third = lease / 3;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) {
        if (reply && reply->type == REDIS_REPLY_ERROR)
            klog_error("leader (prefix %s): %s", q->prefix, reply->str);
        if (q->leader && kue_mono_ms() >= q->leader_valid_mono)
            set_leader(m, q, 0, 0, NULL);
        arm(m, q, q->leader ? q->leader_valid_mono - kue_mono_ms() : third);
        return;
    }
    long long got = reply->element[0]->integer, token = reply->element[1]->integer;
    if (got == 1) {
        q->leader_valid_mono = q->leader_sent_mono + lease;
        if (q->leader && strtoll(q->leader_token, NULL, 10) != token)
            set_leader(m, q, 0, token, NULL);   /* re-taken after a lapse: a new term */
        set_leader(m, q, 1, token, m->leader_id);
        arm(m, q, third);
        return;
    }
    long long left = reply->element[2]->integer;
    if (q->idx == 0 && m->sb.hdr && reply->elements >= 4 &&
        reply->element[3]->type == REDIS_REPLY_STRING)
        kue_strlcpy(m->sb.hdr->leader_holder, reply->element[3]->str,
                    sizeof(m->sb.hdr->leader_holder));
    if (q->leader)
        set_leader(m, q, 0, token, NULL);
    else
        sb_token(m, q, token);
    /* ask again just after the holder's lease runs out */
    arm(m, q, left + 2 < third ? left + 2 : third);
}

static void leader_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct sup_queue *q = w->data;
    struct master *m = sup_master;
    (void)loop;
    (void)revents;
    if (m->draining || q->leader_inflight)
        return;
    if (q->leader && kue_mono_ms() >= q->leader_valid_mono)
        set_leader(m, q, 0, 0, NULL);
    int64_t third = m->cfg->leader_lease_ms / 3;
    if (!q->conn || !kue_conn_usable(q->conn)) {
        arm(m, q, q->leader ? (q->leader_valid_mono - kue_mono_ms() < third
                                   ? q->leader_valid_mono - kue_mono_ms() : third)
                            : third);
        return;
    }
    char lease[24];
    snprintf(lease, sizeof(lease), "%lld", (long long)m->cfg->leader_lease_ms);
    const char *argv[] = { q->keys_prefix, m->leader_id, lease, "" };
    q->leader_sent_mono = kue_mono_ms();
    if (kue_conn_script(q->conn, KS_LEADER, leader_reply, q, 4, argv, NULL) == 0)
        q->leader_inflight = 1;
    else
        arm(m, q, third);
}

/* The lease was given up (P:leader channel): ask for it now. */
static void released_msg(redisAsyncContext *ac, void *r, void *priv)
{
    struct master *m = sup_master;
    struct sup_queue *q = priv;
    redisReply *reply = r;
    (void)ac;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 || m->draining ||
        reply->element[0]->type != REDIS_REPLY_STRING || strcmp(reply->element[0]->str, "message"))
        return;
    if (!q->leader && !q->leader_inflight)
        arm(m, q, 1);
}

void sup_leader_connected(struct master *m, struct sup_queue *q)
{
    if (!m->draining && !q->leader_inflight)
        arm(m, q, 1);
}

void sup_leader_subscribe(struct sup_queue *q, kue_conn_t *c)
{
    char ch[160];
    kue_key_leader(ch, sizeof ch, q->keys_prefix);
    if (kue_conn_subscribe(c, ch, released_msg, q) != 0)
        klog_warn("cannot subscribe to %s; a lease given up is seen when it expires", ch);
}

void sup_leader_start(struct master *m, struct sup_queue *q)
{
    ev_init(&q->leader_timer, leader_cb);
    q->leader_timer.data = q;
    arm(m, q, 1);
    sup_retention_start(m, q);
    if (q->idx == 0)
        sup_cron_start(m);
}

static void stop_duties(struct master *m, struct sup_queue *q)
{
    ev_timer_stop(m->loop, &q->leader_timer);
    sup_retention_stop(m, q);
    if (q->idx == 0)
        sup_cron_stop(m);
}

void sup_leader_drain(struct master *m, struct sup_queue *q)
{
    stop_duties(m, q);
    if (!q->leader)
        return;
    set_leader(m, q, 0, seen_token(m, q), NULL);
    const char *argv[] = { q->keys_prefix, m->leader_id, "0", "release" };
    sup_rds_call(q, KS_LEADER, "the leader lease", 4, argv);
}

void sup_leader_free(struct master *m, struct sup_queue *q)
{
    stop_duties(m, q);
    if (q->idx == 0)
        sup_cron_free(m);
}
