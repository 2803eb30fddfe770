/*
 * cron.c -- the leader enqueues the jobs of due cron ticks.
 *
 * Schedules come from the [cron NAME] sections and, at run time, from the
 * hash P:cron:defs (name -> JSON with the same keys; `kue cron add`,
 * PUT /cron/:name).  A section of the file wins over a run-time schedule of
 * the same name.  Each round (at the earliest next tick, at least every
 * second) the leader reads P:cron:defs and, one call at a time, sends the
 * `cron` script for every due tick.  The script records the tick with the
 * job in one step and refuses a tick at or before the recorded one, and
 * its fencing token makes a deposed leader's call fail, so a change of
 * leader neither repeats nor skips a tick (docs/wire.md section 12).
 *
 * A new leader first reads each schedule's last tick (`init` mode, which
 * records now for a schedule never seen).  Due ticks then follow
 * catch_up: all (every missed tick, at most catch_up_max: older ones are
 * recorded as skipped), one (the latest due tick only), none (a tick due
 * more than CRON_GRACE_MS ago is recorded as skipped, not run).
 *
 * P:cron:info (name -> JSON: schedule, type, timezone, catch_up, source,
 * next, error) is what `kue cron ls` and the dashboard show, with
 * P:cron:last and P:cron:job.
 */
#include "master.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cronexpr.h"
#include "json.h"
#include "keys.h"
#include "log.h"
#include "util.h"

#define CRON_GRACE_MS 2000
#define CRON_ROUND_MS 1000
#define CRON_MAX (2 * SUP_MAX_CRON)
#define CRON_DEF_MAX 16384

struct sup_cron_rt {
    struct sup_cron c;
    struct kue_cron_expr e;
    int runtime;            /* from P:cron:defs */
    int known;              /* last read from Redis in this term */
    int64_t last;           /* last tick recorded */
    int64_t job;            /* job made for it */
    int64_t next;           /* next tick (-1: none) */
    char error[256];        /* a run-time definition that is not valid */
};

static void arm(struct master *m, int64_t ms)
{
    ev_timer_stop(m->loop, &m->cron_timer);
    ev_timer_set(&m->cron_timer, ms <= 0 ? 0. : (double)ms / 1000.0, 0.);
    ev_timer_start(m->loop, &m->cron_timer);
}

static struct sup_cron_rt *find(struct master *m, const char *name)
{
    for (int i = 0; i < m->cron_nrt; i++)
        if (!strcmp(m->cron_rt[i].c.name, name))
            return &m->cron_rt[i];
    return NULL;
}

/* A run-time definition (JSON object) into c; 0, or -1 with why. */
static int parse_def(struct sup_cron *c, const char *name, const char *json, size_t len, char *why,
                     size_t wl)
{
    sup_cron_init(c, name);
    kue_jdoc_t *d = kue_jdoc_parse(json, len, why, wl);
    if (!d)
        return -1;
    const kue_jv_t *o = kue_jdoc_root(d);
    int rc = 0;
    if (o->type != KUE_JOBJ) {
        snprintf(why, wl, "not a JSON object");
        rc = -1;
    }
    kue_buf_t b;
    kue_buf_init(&b);
    for (size_t i = 0; rc == 0 && o->type == KUE_JOBJ && i < o->len; i++) {
        const char *k = o->keys[i]->str;
        const kue_jv_t *v = o->items[i];
        kue_buf_reset(&b);
        if (!strcmp(k, "data") || (!strcmp(k, "backoff") && v->type != KUE_JSTR))
            kue_jv_write(&b, v);
        else
            kue_jv_to_string(&b, v);
        if (!strcmp(k, "name"))
            continue;
        rc = sup_cron_set(c, k, b.p ? b.p : "", why, wl);
    }
    kue_buf_free(&b);
    kue_jdoc_free(d);
    int line;
    if (rc == 0)
        rc = sup_cron_check(c, why, wl, &line);
    return rc;
}

/* The list: the file's schedules, then the run-time ones; what is known
 * of a schedule of the same name and schedule is kept. */
static void rebuild(struct master *m, const redisReply *defs)
{
    size_t want = (size_t)m->cfg->ncron + (defs ? defs->elements / 2 : 0);
    if (want > CRON_MAX)
        want = CRON_MAX;
    struct sup_cron_rt *nl = calloc(want ? want : 1, sizeof(*nl));
    if (!nl)
        return;
    int n = 0;
    char why[256];
    for (int i = 0; i < m->cfg->ncron && n < (int)want; i++) {
        struct sup_cron_rt *r = &nl[n];
        r->c = m->cfg->crons[i];
        if (kue_cron_parse(r->c.schedule, &r->e, why, sizeof(why)) < 0)
            continue;
        n++;
    }
    for (size_t i = 0; defs && i + 1 < defs->elements && n < (int)want; i += 2) {
        const redisReply *k = defs->element[i], *v = defs->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING || k->len >= 64 ||
            v->len > CRON_DEF_MAX)
            continue;
        int dup = 0;
        for (int j = 0; j < n; j++)
            dup |= !strcmp(nl[j].c.name, k->str);
        if (dup)
            continue;
        struct sup_cron_rt *r = &nl[n];
        r->runtime = 1;
        if (parse_def(&r->c, k->str, v->str, v->len, r->error, sizeof(r->error)) < 0 ||
            kue_cron_parse(r->c.schedule, &r->e, why, sizeof(why)) < 0) {
            if (!r->error[0])
                kue_strlcpy(r->error, why, sizeof(r->error));
            sup_cron_init(&r->c, k->str);
        }
        /* jobs are made on [redis] prefix: a type served on another one
         * would never see them */
        const struct sup_type *t = sup_config_type(m->cfg, r->c.type);
        if (!r->error[0] && t && strcmp(t->keys_prefix, Q0(m)->keys_prefix) != 0)
            snprintf(r->error, sizeof(r->error), "type %s is on prefix %s; cron makes jobs on "
                     "[redis] prefix %s only", r->c.type, t->prefix, Q0(m)->prefix);
        n++;
    }
    for (int i = 0; i < n; i++) {
        struct sup_cron_rt *o = find(m, nl[i].c.name);
        if (o && o->known && !strcmp(o->c.schedule, nl[i].c.schedule) &&
            !strcmp(o->c.timezone, nl[i].c.timezone)) {
            nl[i].known = 1;
            nl[i].last = o->last;
            nl[i].job = o->job;
        }
        nl[i].next = -1;
    }
    free(m->cron_rt);
    m->cron_rt = nl;
    m->cron_nrt = n;
}

static void info_write(struct master *m)
{
    if (!Q0(m)->conn || !kue_conn_usable(Q0(m)->conn))
        return;
    const char *argv[2 + 2 * CRON_MAX];
    char *vals[CRON_MAX];
    char key[200];
    kue_key_cron_info(key, sizeof(key), Q0(m)->keys_prefix);
    /* the hash is replaced whole: DEL and HSET in one MULTI */
    kue_conn_command(Q0(m)->conn, NULL, NULL, "MULTI");
    kue_conn_command(Q0(m)->conn, NULL, NULL, "DEL %s", key);
    int n = 0;
    argv[n++] = "HSET";
    argv[n++] = key;
    int nv = 0;
    for (int i = 0; i < m->cron_nrt; i++) {
        struct sup_cron_rt *r = &m->cron_rt[i];
        kue_buf_t b;
        kue_buf_init(&b);
        kue_buf_puts(&b, "{\"schedule\":");
        kue_json_str(&b, r->c.schedule, strlen(r->c.schedule));
        kue_buf_puts(&b, ",\"type\":");
        kue_json_str(&b, r->c.type, strlen(r->c.type));
        kue_buf_puts(&b, ",\"timezone\":");
        kue_json_str(&b, r->c.timezone, strlen(r->c.timezone));
        kue_buf_printf(&b, ",\"catch_up\":\"%s\",\"source\":\"%s\",\"next\":%lld,\"last\":%lld,"
                           "\"job\":%lld",
                       r->c.catch_up, r->runtime ? "runtime" : "file", (long long)r->next,
                       (long long)r->last, (long long)r->job);
        if (r->error[0]) {
            kue_buf_puts(&b, ",\"error\":");
            kue_json_str(&b, r->error, strlen(r->error));
        }
        kue_buf_puts(&b, "}");
        vals[nv] = kue_buf_take(&b);
        if (!vals[nv])
            vals[nv] = strdup("{}");
        argv[n++] = r->c.name;
        argv[n++] = vals[nv++];
    }
    if (n > 2)
        kue_conn_commandargv(Q0(m)->conn, NULL, NULL, n, argv, NULL);
    kue_conn_command(Q0(m)->conn, NULL, NULL, "EXEC");
    for (int i = 0; i < nv; i++)
        free(vals[i]);
}

static void step(struct master *m);

static void cron_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct master *m = sup_master;
    redisReply *reply = r;
    (void)ac;
    m->cron_inflight = 0;
    if (m->draining)
        return;
    if (!reply) {
        arm(m, CRON_ROUND_MS);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        if (!strncmp(reply->str, "FENCED", 6))
            sup_leader_lost(m, Q0(m), "cron answered FENCED");
        else
            klog_error("cron: %s", reply->str);
        arm(m, CRON_ROUND_MS);
        return;
    }
    /* the entry may have gone with a rebuild: found again by name */
    struct sup_cron_rt *e = find(m, priv ? (const char *)priv : "");
    if (e && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 3) {
        long long made = reply->element[0]->integer;
        if (made == 1) {
            e->job = reply->element[1]->integer;
            e->last = reply->element[2]->integer;
            klog_debug("cron %s: job %lld for the tick at %lld", e->c.name, (long long)e->job,
                       (long long)e->last);
        } else {
            e->last = reply->element[1]->integer;
            e->job = reply->element[2]->integer;
        }
        e->known = 1;
    }
    step(m);
}

static char *names_kept[CRON_MAX];

static int send(struct master *m, struct sup_cron_rt *e, const char *mode, int64_t tick)
{
    char stick[24], att[24], delay[24], ttl[24];
    snprintf(stick, sizeof(stick), "%lld", (long long)tick);
    snprintf(att, sizeof(att), "%lld", e->c.attempts);
    snprintf(delay, sizeof(delay), "%lld", (long long)e->c.delay_ms);
    snprintf(ttl, sizeof(ttl), "%lld", (long long)e->c.ttl_ms);
    const char *argv[] = { Q0(m)->keys_prefix, Q0(m)->leader_token, e->c.name, stick, mode, e->c.type,
                           e->c.data, e->c.priority, att, delay, ttl, e->c.backoff };
    /* the name outlives a rebuild of the list while the call is out */
    int idx = (int)(e - m->cron_rt);
    free(names_kept[idx]);
    names_kept[idx] = strdup(e->c.name);
    if (kue_conn_script(Q0(m)->conn, KS_CRON, cron_reply, names_kept[idx], 12, argv, NULL) < 0)
        return -1;
    m->cron_inflight = 1;
    return 0;
}

/* The next call to make, or the end of the round. */
static void step(struct master *m)
{
    if (!sup_is_leader(m, Q0(m)) || !Q0(m)->conn || !kue_conn_usable(Q0(m)->conn)) {
        arm(m, CRON_ROUND_MS);
        return;
    }
    int64_t now = kue_now_ms();
    int64_t wait = CRON_ROUND_MS;
    for (int i = 0; i < m->cron_nrt; i++) {
        struct sup_cron_rt *e = &m->cron_rt[i];
        if (e->error[0] || !e->c.schedule[0])
            continue;
        if (!e->known) {
            if (send(m, e, "init", 0) < 0)
                break;
            return;
        }
        int64_t next = kue_cron_next(&e->e, e->c.timezone, e->last);
        e->next = next;
        if (next < 0)
            continue;
        if (next > now) {
            if (next - now < wait)
                wait = next - now;
            continue;
        }
        /* due: which tick, by catch_up */
        int64_t latest = next, t = next, cnt = 1;
        if (e->e.every_ms > 0) {
            cnt = (now - next) / e->e.every_ms + 1;
            latest = next + (cnt - 1) * e->e.every_ms;
        } else {
            while ((t = kue_cron_next(&e->e, e->c.timezone, t)) >= 0 && t <= now &&
                   cnt <= e->c.catch_up_max) {
                latest = t;
                cnt++;
            }
        }
        const char *mode = "run";
        int64_t tick = next;
        if (!strcmp(e->c.catch_up, "all")) {
            if (cnt > e->c.catch_up_max) {
                /* more missed than the bound: the oldest are recorded as
                 * skipped (the tick just before the last catch_up_max) */
                mode = "skip";
                if (e->e.every_ms > 0)
                    tick = latest - e->c.catch_up_max * e->e.every_ms;
                else
                    tick = latest - 1;   /* field schedules: the latest only */
                klog_warn("cron %s: %lld tick(s) missed, more than catch_up_max %lld: the oldest "
                          "are skipped", e->c.name, (long long)cnt, e->c.catch_up_max);
            }
        } else if (!strcmp(e->c.catch_up, "one")) {
            tick = latest;
        } else {   /* none */
            tick = latest;
            if (now - latest > CRON_GRACE_MS)
                mode = "skip";
        }
        if (send(m, e, mode, tick) < 0)
            break;
        return;
    }
    info_write(m);
    arm(m, wait);
}

static void defs_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct master *m = sup_master;
    redisReply *reply = r;
    (void)ac;
    (void)priv;
    m->cron_inflight = 0;
    if (m->draining)
        return;
    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        if (reply && reply->type == REDIS_REPLY_ERROR)
            klog_error("cron: %s", reply->str);
        arm(m, CRON_ROUND_MS);
        return;
    }
    rebuild(m, reply);
    step(m);
}

static void cron_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct master *m = w->data;
    (void)loop;
    (void)revents;
    if (m->draining || m->cron_inflight)
        return;
    if (!sup_is_leader(m, Q0(m)) || !Q0(m)->conn || !kue_conn_usable(Q0(m)->conn)) {
        arm(m, CRON_ROUND_MS);
        return;
    }
    char key[200];
    kue_key_cron_defs(key, sizeof(key), Q0(m)->keys_prefix);
    const char *argv[] = { "HGETALL", key };
    if (kue_conn_commandargv(Q0(m)->conn, defs_reply, NULL, 2, argv, NULL) == 0)
        m->cron_inflight = 1;
    else
        arm(m, CRON_ROUND_MS);
}

void sup_cron_kick(struct master *m)
{
    for (int i = 0; i < m->cron_nrt; i++)
        m->cron_rt[i].known = 0;   /* a new term: read what was recorded */
    if (!m->cron_inflight && !m->draining)
        arm(m, 0);
}

void sup_cron_start(struct master *m)
{
    ev_init(&m->cron_timer, cron_cb);
    m->cron_timer.data = m;
    arm(m, CRON_ROUND_MS);
}

void sup_cron_stop(struct master *m)
{
    ev_timer_stop(m->loop, &m->cron_timer);
}

void sup_cron_free(struct master *m)
{
    free(m->cron_rt);
    m->cron_rt = NULL;
    m->cron_nrt = 0;
    for (int i = 0; i < CRON_MAX; i++) {
        free(names_kept[i]);
        names_kept[i] = NULL;
    }
}
