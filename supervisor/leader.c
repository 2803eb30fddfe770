/*
 * leader.c -- the leader lease of this Redis and prefix.
 *
 * Exactly one supervisor per Redis and prefix is the leader: it runs cron
 * (cron.c) and retention (retention.c).  Promotion and lease recovery stay
 * on every supervisor (their scripts are safe to run anywhere).
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

static void arm(struct master *m, int64_t ms)
{
    if (ms < 1)
        ms = 1;
    ev_timer_stop(m->loop, &m->leader_timer);
    ev_timer_set(&m->leader_timer, (double)ms / 1000.0, 0.);
    ev_timer_start(m->loop, &m->leader_timer);
}

int sup_is_leader(const struct master *m)
{
    return m->leader && !m->draining && kue_mono_ms() < m->leader_valid_mono;
}

static void set_leader(struct master *m, int on, long long token, const char *holder)
{
    int was = m->leader;
    m->leader = on;
    if (on)
        snprintf(m->leader_token, sizeof(m->leader_token), "%lld", token);
    if (m->sb.hdr) {
        m->sb.hdr->leader = (uint32_t)on;
        m->sb.hdr->leader_token = token;
        if (on && !was)
            m->sb.hdr->leader_since_ms = kue_now_ms();
        if (holder)
            kue_strlcpy(m->sb.hdr->leader_holder, holder, sizeof(m->sb.hdr->leader_holder));
    }
    if (on && !was) {
        klog_info("leader of prefix %s (token %lld): running cron and retention", m->cfg->prefix,
                  token);
        sup_cron_kick(m);
    } else if (!on && was) {
        klog_warn("no longer the leader of prefix %s", m->cfg->prefix);
    }
}

void sup_leader_lost(struct master *m, const char *why)
{
    if (m->leader)
        klog_warn("leader lease lost: %s", why);
    set_leader(m, 0, m->sb.hdr ? m->sb.hdr->leader_token : 0, NULL);
    arm(m, 1);
}

static void leader_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct master *m = sup_master;
    redisReply *reply = r;
    (void)ac;
    (void)priv;
    m->leader_inflight = 0;
    if (m->draining)
        return;
    int64_t lease = m->cfg->leader_lease_ms, third = lease / 3;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) {
        if (reply && reply->type == REDIS_REPLY_ERROR)
            klog_error("leader: %s", reply->str);
        if (m->leader && kue_mono_ms() >= m->leader_valid_mono)
            set_leader(m, 0, 0, NULL);
        arm(m, m->leader ? m->leader_valid_mono - kue_mono_ms() : third);
        return;
    }
    long long got = reply->element[0]->integer, token = reply->element[1]->integer;
    if (got == 1) {
        m->leader_valid_mono = m->leader_sent_mono + lease;
        if (m->leader && strtoll(m->leader_token, NULL, 10) != token)
            set_leader(m, 0, token, NULL);   /* re-taken after a lapse: a new term */
        set_leader(m, 1, token, m->leader_id);
        arm(m, third);
        return;
    }
    long long left = reply->element[2]->integer;
    if (m->sb.hdr && reply->elements >= 4 && reply->element[3]->type == REDIS_REPLY_STRING)
        kue_strlcpy(m->sb.hdr->leader_holder, reply->element[3]->str,
                    sizeof(m->sb.hdr->leader_holder));
    if (m->leader)
        set_leader(m, 0, token, NULL);
    else if (m->sb.hdr)
        m->sb.hdr->leader_token = token;
    /* ask again just after the holder's lease runs out */
    arm(m, left + 2 < third ? left + 2 : third);
}

static void leader_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct master *m = w->data;
    (void)loop;
    (void)revents;
    if (m->draining || m->leader_inflight)
        return;
    if (m->leader && kue_mono_ms() >= m->leader_valid_mono)
        set_leader(m, 0, 0, NULL);
    int64_t third = m->cfg->leader_lease_ms / 3;
    if (!m->conn || !kue_conn_usable(m->conn)) {
        arm(m, m->leader ? (m->leader_valid_mono - kue_mono_ms() < third
                                ? m->leader_valid_mono - kue_mono_ms() : third)
                         : third);
        return;
    }
    char lease[24];
    snprintf(lease, sizeof(lease), "%lld", (long long)m->cfg->leader_lease_ms);
    const char *argv[] = { m->cfg->keys_prefix, m->leader_id, lease, "" };
    m->leader_sent_mono = kue_mono_ms();
    if (kue_conn_script(m->conn, KS_LEADER, leader_reply, NULL, 4, argv, NULL) == 0)
        m->leader_inflight = 1;
    else
        arm(m, third);
}

/* The lease was given up (P:leader channel): ask for it now. */
static void released_msg(redisAsyncContext *ac, void *r, void *priv)
{
    struct master *m = sup_master;
    redisReply *reply = r;
    (void)ac;
    (void)priv;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 || m->draining ||
        reply->element[0]->type != REDIS_REPLY_STRING || strcmp(reply->element[0]->str, "message"))
        return;
    if (!m->leader && !m->leader_inflight)
        arm(m, 1);
}

void sup_leader_subscribe(struct master *m, kue_conn_t *c)
{
    char ch[160];
    kue_key_leader(ch, sizeof ch, m->cfg->keys_prefix);
    if (kue_conn_subscribe(c, ch, released_msg, NULL) != 0)
        klog_warn("cannot subscribe to %s; a lease given up is seen when it expires", ch);
}

void sup_leader_start(struct master *m)
{
    snprintf(m->leader_id, sizeof(m->leader_id), "%s:%d:%lld", m->hostname, (int)m->mypid,
             (long long)kue_now_ms());
    ev_init(&m->leader_timer, leader_cb);
    m->leader_timer.data = m;
    arm(m, 1);
    sup_retention_start(m);
    sup_cron_start(m);
}

void sup_leader_drain(struct master *m)
{
    ev_timer_stop(m->loop, &m->leader_timer);
    sup_retention_stop(m);
    sup_cron_stop(m);
    if (!m->leader)
        return;
    set_leader(m, 0, m->sb.hdr ? m->sb.hdr->leader_token : 0, NULL);
    const char *argv[] = { m->cfg->keys_prefix, m->leader_id, "0", "release" };
    sup_rds_call(m, KS_LEADER, "the leader lease", 4, argv);
}

void sup_leader_free(struct master *m)
{
    ev_timer_stop(m->loop, &m->leader_timer);
    sup_retention_stop(m);
    sup_cron_stop(m);
    sup_cron_free(m);
}
