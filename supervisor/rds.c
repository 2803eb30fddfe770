/*
 * rds.c -- the master's Redis work, all asynchronous (common/conn.h) so the
 * loop never waits for Redis.  Everything here is per queue (queue.c: one
 * per distinct prefix), each with its own connections:
 *
 *  - promotion: `promote` returns the earliest due time still delayed; the
 *    next round is armed for it, never later than a quarter of
 *    [promotion] interval (new delayed jobs are only seen by polling), and
 *    at once while a round hit the limit;
 *  - recovery: `recover` every [supervisor] recovery_interval settles jobs
 *    whose lease expired (their host died with its supervisor);
 *  - settling: `settle` for every dead worker, `fail` for a job killed by
 *    its hard timeout.  These must not be lost, so they wait in a FIFO while
 *    the connection is down and are sent in order once it is up; a call
 *    Redis refuses for now (OOM, MISCONF, READONLY: kue_reply_transient)
 *    goes back to the head of the FIFO, which is sent again 500 ms later;
 *  - the drain record: when a drain begins, P:drained:<host>:<pid> marks
 *    each worker, so that lease recovery (recover.lua) puts the jobs of a
 *    drained process back without spending an attempt even when no settle
 *    reaches Redis;
 *  - the journal: calls still queued when the master exits (Redis was
 *    away) are written to <run_dir>/pending-calls and sent first by the
 *    next master started with that run_dir, each on the queue of the
 *    prefix its arguments name.
 */
#include "master.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "keys.h"
#include "scripts.h"
#include "util.h"

#define RQ_MAX     4096
#define RQ_ARGS    6

struct sup_rq {
    struct sup_rq *next;
    int raw;                 /* a plain command (argv[0] is its name), not a script */
    kue_script_id script;
    int argc;
    char *argv[RQ_ARGS];
    int requeue;             /* settle with mode requeue */
    char what[64];           /* for logs: "worker 1234" */
    struct sup_queue *q;
};

static void rq_free(struct sup_rq *q)
{
    for (int i = 0; i < q->argc; i++)
        free(q->argv[i]);
    free(q);
}

static void rq_flush(struct sup_queue *qu);

static void rq_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct master *m = sup_master;
    struct sup_rq *q = priv;
    struct sup_queue *qu = q->q;
    redisReply *reply = r;
    (void)ac;
    qu->rq_inflight--;
    int refused = reply && reply->type == REDIS_REPLY_ERROR && kue_reply_transient(reply->str);
    const char *name = q->raw ? q->argv[0] : kue_script_name(q->script);
    if (refused) {
        klog_warn("%s for %s refused by Redis (%s); trying again", name, q->what, reply->str);
        if (!ev_is_active(&qu->rq_retry)) {
            ev_timer_set(&qu->rq_retry, 0.5, 0.);
            ev_timer_start(m->loop, &qu->rq_retry);
        }
    }
    if (!reply || refused) {
        /* connection dropped before the answer: the call may or may not
         * have run; settle and fail are idempotent, so send it again */
        q->next = qu->rq_head;
        qu->rq_head = q;
        if (!qu->rq_tail)
            qu->rq_tail = q;
        qu->rq_len++;
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        klog_error("%s for %s: %s", name, q->what, reply->str);
    } else if (!q->raw && q->script == KS_SETTLE && reply->type == REDIS_REPLY_INTEGER) {
        if (reply->integer > 0) {
            klog_info("%s: %s %lld job(s) (%s)", q->what, q->requeue ? "put back" : "settled",
                      reply->integer, q->argv[3]);
            if (m->sb.hdr)
                m->sb.hdr->recovered_total += (uint64_t)reply->integer;
            if (q->requeue && m->draining)
                m->requeued += (uint64_t)reply->integer;
        }
    }
    rq_free(q);
    rq_flush(qu);
    /* the last settle of a drain answered: go on at once, not on the next
     * tick -- from the loop, since the drain may free this connection */
    if (m->draining && !sup_rds_busy(m) && !ev_is_active(&m->drain_kick)) {
        ev_timer_set(&m->drain_kick, 0., 0.);
        ev_timer_start(m->loop, &m->drain_kick);
    }
}

static void drain_kick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    sup_drain_step(w->data, kue_mono_ms());
}

static void rq_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    rq_flush(w->data);
}

static void rq_flush(struct sup_queue *qu)
{
    if (ev_is_active(&qu->rq_retry))
        return;   /* Redis refused a call: wait for the retry */
    while (qu->rq_head && qu->conn && kue_conn_ready(qu->conn)) {
        struct sup_rq *q = qu->rq_head;
        int rc = q->raw ? kue_conn_commandargv(qu->conn, rq_reply, q, q->argc,
                                               (const char **)q->argv, NULL)
                        : kue_conn_script(qu->conn, q->script, rq_reply, q, q->argc,
                                          (const char **)q->argv, NULL);
        if (rc < 0)
            return;
        qu->rq_head = q->next;
        if (!qu->rq_head)
            qu->rq_tail = NULL;
        qu->rq_len--;
        qu->rq_inflight++;
    }
}

static void rq_push_raw(struct sup_queue *qu, int raw, kue_script_id script, int requeue,
                        const char *what, int argc, const char *const *argv)
{
    if (qu->rq_len >= RQ_MAX) {
        klog_error("Redis unreachable and %d calls queued: dropping %s for %s (its jobs will be "
                   "recovered when their lease expires)", RQ_MAX, kue_script_name(script), what);
        return;
    }
    struct sup_rq *q = calloc(1, sizeof(*q));
    if (!q)
        abort();
    q->q = qu;
    q->raw = raw;
    q->script = script;
    q->requeue = requeue;
    kue_strlcpy(q->what, what, sizeof(q->what));
    q->argc = argc;
    for (int i = 0; i < argc; i++)
        if (!(q->argv[i] = strdup(argv[i])))
            abort();
    if (qu->rq_tail)
        qu->rq_tail->next = q;
    else
        qu->rq_head = q;
    qu->rq_tail = q;
    qu->rq_len++;
    rq_flush(qu);
}

static void rq_push(struct sup_queue *qu, kue_script_id script, int requeue, const char *what,
                    int argc, const char *const *argv)
{
    rq_push_raw(qu, 0, script, requeue, what, argc, argv);
}

void sup_rds_call(struct sup_queue *q, kue_script_id script, const char *what, int argc,
                  const char *const *argv)
{
    rq_push(q, script, 0, what, argc, argv);
}

/* A drained process's record: a day is far longer than any lease, and
 * settle or recover deletes it first. */
#define DRAINED_TTL_MS "86400000"

void sup_rds_mark_drained(struct sup_queue *q, pid_t pid)
{
    struct master *m = sup_master;
    char key[600], what[64], now[24];
    kue_key_drained(key, sizeof(key), q->keys_prefix, m->hostname, (long)pid);
    snprintf(what, sizeof(what), "worker %d", (int)pid);
    snprintf(now, sizeof(now), "%lld", (long long)kue_now_ms());
    const char *argv[] = { "SET", key, now, "PX", DRAINED_TTL_MS };
    rq_push_raw(q, 1, KS_SETTLE, 0, what, 5, argv);
}

/* ---- the journal of calls left at exit -------------------------------- */

static void journal_path(const struct master *m, char *buf, size_t len)
{
    snprintf(buf, len, "%s/pending-calls", m->cfg->run_dir);
}

/* One call per line: "raw" or the script name, the settle mode flag, then
 * the arguments, tab-separated (tabs and newlines inside become spaces). */
static void journal_write(struct master *m)
{
    int len = 0;
    for (int i = 0; i < m->nq; i++)
        len += m->q[i]->rq_len;
    if (!len)
        return;
    char path[PATH_MAX + 32];
    journal_path(m, path, sizeof(path));
    FILE *f = fopen(path, "a");
    if (!f) {
        klog_error("%s: %s; %d Redis call(s) lost (their jobs wait for lease recovery)", path,
                   strerror(errno), len);
        return;
    }
    int n = 0;
    for (int qi = 0; qi < m->nq; qi++)
    for (struct sup_rq *q = m->q[qi]->rq_head; q; q = q->next, n++) {
        fprintf(f, "%s\t%d", q->raw ? "raw" : kue_script_name(q->script), q->requeue);
        for (int i = 0; i < q->argc; i++) {
            fputc('\t', f);
            for (const char *c = q->argv[i]; *c; c++)
                fputc(*c == '\t' || *c == '\n' ? ' ' : *c, f);
        }
        fputc('\n', f);
    }
    fclose(f);
    klog_warn("Redis unreachable at exit: %d call(s) kept in %s for the next start", n, path);
}

/* The queue of a kept call: a script's first argument is its effective
 * prefix, a raw command's first is a key that starts with it.  A prefix
 * no longer configured gets its queue back, so the call still lands. */
static struct sup_queue *journal_queue(struct master *m, int raw, const char *arg)
{
    if (!raw)
        for (int i = 0; i < m->nq; i++)
            if (!strcmp(m->q[i]->keys_prefix, arg))
                return m->q[i];
    struct sup_queue *best = NULL;
    for (int i = 0; i < m->nq; i++) {
        size_t l = strlen(m->q[i]->keys_prefix);
        if (raw && !strncmp(arg, m->q[i]->keys_prefix, l) && arg[l] == ':' &&
            (!best || l > strlen(best->keys_prefix)))
            best = m->q[i];
    }
    if (best || raw)
        return best ? best : m->q[0];
    char plain[64];
    size_t l = strlen(arg);
    if (arg[0] == '{' && l > 2 && arg[l - 1] == '}')
        snprintf(plain, sizeof(plain), "%.*s", (int)(l - 2), arg + 1);
    else
        kue_strlcpy(plain, arg, sizeof(plain));
    return sup_queue_get(m, arg, plain);
}

static void journal_replay(struct master *m)
{
    char path[PATH_MAX + 32];
    journal_path(m, path, sizeof(path));
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        char *field[RQ_ARGS + 2], *rest = line, *t;
        int nf = 0;
        while (nf < RQ_ARGS + 2 && (t = strsep(&rest, "\t")))   /* empty fields count */
            field[nf++] = t;
        if (nf < 3 || rest)
            continue;
        int raw = !strcmp(field[0], "raw");
        kue_script_id id = KS__COUNT;
        for (int i = 0; i < KS__COUNT && !raw; i++)
            if (!strcmp(kue_script_name((kue_script_id)i), field[0]))
                id = (kue_script_id)i;
        if (!raw && id != KS_SETTLE && id != KS_FAIL)
            continue;
        char what[64];
        snprintf(what, sizeof(what), "a call kept at the last exit");
        struct sup_queue *q = journal_queue(m, raw, field[2]);
        if (!q)
            continue;
        rq_push_raw(q, raw, raw ? KS_SETTLE : id, atoi(field[1]), what, nf - 2,
                    (const char *const *)field + 2);
        n++;
    }
    fclose(f);
    unlink(path);
    if (n)
        klog_info("%d Redis call(s) kept at the last exit (%s) are sent first", n, path);
}

void sup_rds_settle(struct sup_queue *q, pid_t pid, const char *cause, int requeue)
{
    char spid[24], what[64];
    snprintf(spid, sizeof(spid), "%d", (int)pid);
    snprintf(what, sizeof(what), "worker %d", (int)pid);
    const char *argv[] = { q->keys_prefix, sup_master->hostname, spid, cause,
                           requeue ? "requeue" : "fail" };
    rq_push(q, KS_SETTLE, requeue, what, 5, argv);
}

void sup_rds_fail_job(struct sup_queue *q, int64_t id, const char *error)
{
    char sid[24], what[64];
    snprintf(sid, sizeof(sid), "%lld", (long long)id);
    snprintf(what, sizeof(what), "job %lld", (long long)id);
    const char *argv[] = { q->keys_prefix, sid, "", error, "-1", "" };
    rq_push(q, KS_FAIL, 0, what, 6, argv);
}

int sup_rds_busy(const struct master *m)
{
    for (int i = 0; i < m->nq; i++)
        if (m->q[i]->conn && (m->q[i]->rq_head != NULL || m->q[i]->rq_inflight > 0))
            return 1;
    return 0;
}

/* ---- promotion -------------------------------------------------------- */

static int64_t promo_poll_ms(const struct master *m)
{
    int64_t p = m->cfg->promotion_interval_ms / 4;
    return p < 10 ? 10 : p;
}

static void promo_arm_at(struct master *m, struct sup_queue *q, double ms)
{
    if (ms < 0.05)
        ms = 0.05;
    ev_timer_stop(m->loop, &q->promo_timer);
    ev_now_update(m->loop);
    ev_timer_set(&q->promo_timer, ms / 1000.0, 0.);
    ev_timer_start(m->loop, &q->promo_timer);
}

static void promo_arm(struct master *m, struct sup_queue *q, int64_t ms)
{
    promo_arm_at(m, q, ms < 1 ? 1. : (double)ms);
}

/* Milliseconds until `due` (ms, Redis clock), from this host's clock to the
 * microsecond, plus 0.05 ms so the round lands just after it.  (libev's
 * epoll backend rounds a wait up to the next millisecond on top.) */
static double due_in_ms(int64_t due)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double now = (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
    return (double)due - now + 0.05;
}

/* ---- Kue's promotion lock on a cluster ----------------------------------
 * On a single server the promote script itself does nothing while Kue's
 * unprefixed promotion:lock exists.  On a cluster that key lives in its own
 * hash slot, usually on another master, where the script cannot read it; the
 * master then takes the lock as Kue does (SET NX PX, released only if still
 * ours) through a connection routed to that slot, so a Kue process and kue
 * never promote at the same time (docs/redis-topologies.md).  The lock is
 * one for all prefixes, as in Kue: each queue takes it with a value of its
 * own, so the rounds of two queues take turns. */
#define PROMO_LOCK_TTL_MS "5000"
static const char promo_unlock_lua[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

static void promo_unlock(struct master *m, struct sup_queue *q)
{
    if (!q->promo_locked)
        return;
    q->promo_locked = 0;
    const char *av[] = { "EVAL", promo_unlock_lua, "1", KUE_KEY_PROMOTION_LOCK, q->lock_token };
    if (m->lock && kue_conn_usable(m->lock))
        kue_conn_commandargv(m->lock, NULL, NULL, 5, av, NULL);   /* else it expires */
}

static void promo_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct master *m = sup_master;
    struct sup_queue *q = priv;
    redisReply *reply = r;
    (void)ac;
    q->promo_inflight = 0;
    promo_unlock(m, q);
    if (m->draining)
        return;
    int64_t next = promo_poll_ms(m);
    if (!reply) {
        promo_arm(m, q, next);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        klog_error("promote (prefix %s): %s", q->prefix, reply->str);
        promo_arm(m, q, m->cfg->promotion_interval_ms);
        return;
    }
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 3) {
        long long n = reply->element[0]->integer;
        long long due = reply->element[1]->integer;
        long long locked = reply->element[2]->integer;
        if (n > 0 && m->sb.hdr) {
            m->sb.hdr->promoted_total += (uint64_t)n;
            if (reply->elements >= 4)
                m->sb.hdr->promotion_lag_ms_last = reply->element[3]->integer;
            klog_debug("promoted %lld delayed job(s) (prefix %s)", n, q->prefix);
        }
        if (n >= m->cfg->promotion_limit && !locked) {
            next = 1;
        } else if (due >= 0 && !locked) {
            double d = due_in_ms(due);
            /* a round that moved nothing although the job looks due here:
             * this host's clock runs ahead of Redis's; retry every ms */
            if (n == 0 && d < 1.)
                d = 1.;
            if (d < (double)next) {
                promo_arm_at(m, q, d);
                return;
            }
        }
    }
    promo_arm(m, q, next);
}

static void promo_send(struct master *m, struct sup_queue *q);

/* The answer to SET promotion:lock NX: OK, ours; nil, a Kue process (or
 * another queue's round) holds it. */
static void lock_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct master *m = sup_master;
    struct sup_queue *q = priv;
    redisReply *reply = r;
    (void)ac;
    if (reply && reply->type == REDIS_REPLY_STATUS) {
        q->promo_locked = 1;
        if (!m->draining && q->conn) {
            promo_send(m, q);
            return;
        }
        promo_unlock(m, q);
    }
    q->promo_inflight = 0;
    if (reply && reply->type == REDIS_REPLY_ERROR)
        klog_error("promotion lock: %s", reply->str);
    if (!m->draining)
        promo_arm(m, q, m->nq > 1 && reply && reply->type == REDIS_REPLY_NIL ? 10 : promo_poll_ms(m));
}

static void promo_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct sup_queue *q = w->data;
    struct master *m = sup_master;
    (void)loop;
    (void)revents;
    if (m->draining || q->promo_inflight)
        return;
    if (!q->conn || !kue_conn_ready(q->conn) || (m->lock && !kue_conn_ready(m->lock))) {
        promo_arm(m, q, promo_poll_ms(m));
        return;
    }
    if (m->lock) {
        const char *av[] = { "SET", KUE_KEY_PROMOTION_LOCK, q->lock_token, "NX", "PX", PROMO_LOCK_TTL_MS };
        if (kue_conn_commandargv(m->lock, lock_reply, q, 6, av, NULL) == 0)
            q->promo_inflight = 1;
        else
            promo_arm(m, q, promo_poll_ms(m));
        return;
    }
    promo_send(m, q);
}

static void promo_send(struct master *m, struct sup_queue *q)
{
    char limit[24];
    snprintf(limit, sizeof(limit), "%lld", m->cfg->promotion_limit);
    const char *argv[] = { q->keys_prefix, limit, m->url.nseeds > 0 ? "cluster" : "" };
    if (kue_conn_script(q->conn, KS_PROMOTE, promo_reply, q, 3, argv, NULL) == 0) {
        q->promo_inflight = 1;
    } else {
        q->promo_inflight = 0;
        promo_unlock(m, q);
        promo_arm(m, q, promo_poll_ms(m));
    }
}

/* A job just became delayed (P:delayed carries its due time, Redis clock):
 * bring the next round forward if it is due before the armed one. */
static void delayed_msg(redisAsyncContext *ac, void *r, void *priv)
{
    struct master *m = sup_master;
    struct sup_queue *q = priv;
    redisReply *reply = r;
    (void)ac;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
        reply->element[2]->type != REDIS_REPLY_STRING || m->draining)
        return;
    if (strcmp(reply->element[0]->str, "message") != 0)
        return;
    int64_t due = strtoll(reply->element[2]->str, NULL, 10);
    double d = due_in_ms(due);
    if (q->promo_inflight)
        return;   /* its reply arms the timer from the full picture */
    double left = ev_is_active(&q->promo_timer) ? ev_timer_remaining(m->loop, &q->promo_timer) : 1e9;
    if (d / 1000.0 < left)
        promo_arm_at(m, q, d);
}

static void sub_state(kue_conn_t *c, int connected, void *priv)
{
    struct sup_queue *q = priv;
    if (!connected)
        return;
    char ch[160];
    kue_key_delayed(ch, sizeof ch, q->keys_prefix);
    if (kue_conn_subscribe(c, ch, delayed_msg, q) != 0)
        klog_warn("cannot subscribe to %s; promotion falls back to polling", ch);
    sup_leader_subscribe(q, c);
}

/* ---- recovery --------------------------------------------------------- */

static void recover_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct master *m = sup_master;
    struct sup_queue *q = priv;
    redisReply *reply = r;
    (void)ac;
    q->recover_inflight = 0;
    if (!reply)
        return;
    if (reply->type == REDIS_REPLY_ERROR)
        klog_error("recover (prefix %s): %s", q->prefix, reply->str);
    else if (reply->type == REDIS_REPLY_INTEGER && reply->integer > 0) {
        klog_warn("recovered %lld job(s) whose lease expired (prefix %s)", reply->integer,
                  q->prefix);
        if (m->sb.hdr)
            m->sb.hdr->recovered_total += (uint64_t)reply->integer;
    }
}

static void recover_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct sup_queue *q = w->data;
    struct master *m = sup_master;
    (void)loop;
    (void)revents;
    if (m->draining || q->recover_inflight || !q->conn || !kue_conn_ready(q->conn))
        return;
    char limit[24];
    snprintf(limit, sizeof(limit), "%lld", m->cfg->promotion_limit);
    const char *argv[] = { q->keys_prefix, limit };
    if (kue_conn_script(q->conn, KS_RECOVER, recover_reply, q, 2, argv, NULL) == 0)
        q->recover_inflight = 1;
}

static void queue_timers(struct master *m, struct sup_queue *q, int on)
{
    ev_timer_stop(m->loop, &q->promo_timer);
    ev_timer_stop(m->loop, &q->recover_timer);
    if (!on)
        return;
    promo_arm(m, q, 1);
    double r = (double)m->cfg->recovery_interval_ms / 1000.0;
    ev_timer_set(&q->recover_timer, r, r);
    ev_timer_start(m->loop, &q->recover_timer);
}

void sup_rds_timers(struct master *m, int on)
{
    for (int i = 0; i < m->nq; i++)
        if (m->q[i]->conn)
            queue_timers(m, m->q[i], on);
}

/* The scoreboard's redis_up: every queue's connection is up. */
static void redis_up(struct master *m)
{
    if (!m->sb.hdr)
        return;
    int up = 1;
    for (int i = 0; i < m->nq; i++)
        up &= m->q[i]->up || !m->q[i]->conn;
    m->sb.hdr->redis_up = (uint32_t)up;
}

static void conn_state(kue_conn_t *c, int connected, void *priv)
{
    struct sup_queue *q = priv;
    struct master *m = sup_master;
    (void)c;
    q->up = connected;
    redis_up(m);
    if (connected) {
        if (m->nq > 1)
            klog_info("connected to Redis (prefix %s)", q->prefix);
        else
            klog_info("connected to Redis");
        rq_flush(q);
        if (!m->draining) {
            promo_arm(m, q, 1);
            sup_leader_connected(m, q);
        }
    } else {
        q->promo_inflight = 0;
        q->recover_inflight = 0;
        klog_warn("lost the connection to Redis%s%s; reconnecting", m->nq > 1 ? " for prefix " : "",
                  m->nq > 1 ? q->prefix : "");
    }
}

int sup_rds_queue_start(struct master *m, struct sup_queue *q)
{
    q->url = m->url;
    kue_strlcpy(q->url.route, q->keys_prefix, sizeof(q->url.route));
    ev_init(&q->promo_timer, promo_cb);
    q->promo_timer.data = q;
    ev_init(&q->recover_timer, recover_cb);
    q->recover_timer.data = q;
    ev_init(&q->rq_retry, rq_retry_cb);
    q->rq_retry.data = q;
    char owner[300];
    kue_lock_owner(owner, sizeof(owner), m->hostname, (long)m->mypid);
    if (q->idx == 0)
        kue_strlcpy(q->lock_token, owner, sizeof(q->lock_token));
    else
        snprintf(q->lock_token, sizeof(q->lock_token), "%s:%d", owner, q->idx);
    q->conn = kue_conn_new(m->loop, &q->url, q->idx ? "master-queue" : "master", conn_state, q);
    q->sub = kue_conn_new(m->loop, &q->url, "master-sub", sub_state, q);
    if (!q->conn || !q->sub)
        return -1;
    kue_conn_runs_scripts(q->conn);
    rq_flush(q);
    if (!m->draining) {
        queue_timers(m, q, 1);
        sup_leader_start(m, q);
    }
    return sup_control_start(m, q);
}

int sup_rds_start(struct master *m, char *err, size_t errlen)
{
    if (kue_url_parse(m->url_text, &m->url, err, errlen) < 0)
        return -1;
    kue_strlcpy(m->url.route, m->cfg->keys_prefix, sizeof(m->url.route));
    ev_init(&m->drain_kick, drain_kick_cb);
    m->drain_kick.data = m;
    snprintf(m->leader_id, sizeof(m->leader_id), "%s:%d:%lld", m->hostname, (int)m->mypid,
             (long long)kue_now_ms());
    if (sup_queues_sync(m, m->cfg) < 0) {
        snprintf(err, errlen, "too many prefixes");
        return -1;
    }
    if (m->url.nseeds > 0) {
        kue_url_t lu = m->url;
        kue_strlcpy(lu.route, KUE_KEY_PROMOTION_LOCK, sizeof(lu.route));
        m->lock = kue_conn_new(m->loop, &lu, "promotion-lock", NULL, m);
        if (!m->lock) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    journal_replay(m);   /* before anything else reaches the connections */
    m->rds_started = 1;
    for (int i = 0; i < m->nq; i++)
        if (!m->q[i]->conn && sup_rds_queue_start(m, m->q[i]) < 0) {
            snprintf(err, errlen, "cannot create the Redis connection");
            return -1;
        }
    return 0;
}

void sup_rds_queue_stop(struct master *m, struct sup_queue *q)
{
    sup_control_stop(m, q);
    queue_timers(m, q, 0);
    sup_leader_free(m, q);
    ev_timer_stop(m->loop, &q->rq_retry);
    /* Freeing a connection runs its pending callbacks with no reply; each
     * pointer is cleared first so that those callbacks see it gone. */
    kue_conn_t **conns[] = { &q->conn, &q->sub };
    for (size_t i = 0; i < sizeof conns / sizeof conns[0]; i++) {
        kue_conn_t *c = *conns[i];
        *conns[i] = NULL;
        kue_conn_free(c);
    }
}

void sup_rds_stop(struct master *m)
{
    for (int i = 0; i < m->nq; i++)
        sup_rds_queue_stop(m, m->q[i]);
    ev_timer_stop(m->loop, &m->drain_kick);
    /* a lock still held expires by itself */
    kue_conn_t *l = m->lock;
    m->lock = NULL;
    kue_conn_free(l);
    m->rds_started = 0;
    /* pending callbacks got NULL replies and re-queued their calls */
    journal_write(m);
    for (int i = 0; i < m->nq; i++) {
        struct sup_queue *qu = m->q[i];
        while (qu->rq_head) {
            struct sup_rq *q = qu->rq_head;
            qu->rq_head = q->next;
            rq_free(q);
        }
        qu->rq_tail = NULL;
        qu->rq_len = 0;
    }
}
