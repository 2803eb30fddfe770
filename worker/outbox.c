/*
 * outbox.c -- the worker's outbox: every script call that must reach Redis
 * (complete, fail, requeue) or should (progress, log), kept in a FIFO until
 * Redis answers it.
 *
 * Each report is a small state machine (kw_report_step, one action per
 * state and event):
 *
 *   QUEUED --send--> SENT --answered--> DONE (freed)
 *     ^  ^            |  \
 *     |  \---lost-----/   \--refused--> HELD --retry--> QUEUED
 *     |                     (OOM, MISCONF, READONLY ...)
 *     \-- a refusal older than the bound: DONE, given up
 *
 * - QUEUED: waiting for the connection, or, for completions, for the next
 *   batch: the completions of one loop iteration go in one complete call,
 *   flushed from the prepare watcher before any claim of the same
 *   iteration, so Redis never sees more jobs active than slots.
 * - SENT: on the current connection.  A dropped connection sends it again
 *   after the reconnect; the scripts check the holder (workerId), so a
 *   call that did reach Redis is answered 0 the second time and a job is
 *   never completed twice.
 * - HELD: Redis refused it for now (kue_reply_transient: a refused script
 *   changed nothing).  Outcomes (complete, fail, requeue) are sent again
 *   after 100 ms, doubling to 1 s, for as long as the lease: within it the
 *   worker's outcome is the one that counts.  Past it the outcome is given
 *   up and the lease decides: the worker stops renewing and drains, its
 *   master settles its jobs (or lease recovery does).  Progress and log
 *   lines are not retried.
 * - REPLICATING (--wait-replicas N): an outcome answered by its script
 *   stays until the WAIT sent after it returns, once per loop iteration
 *   for every outcome sent in it (kw_outbox_flush_wait, pipelined behind
 *   the scripts and the claim).  If the connection drops first it goes
 *   back to QUEUED and is sent again: Redis may have lost it with a master
 *   that crashed before replicating it, and on the same master the holder
 *   check answers the repeat with 0.  A WAIT that returns fewer replicas is
 *   logged and counted, and the outcome is done: the write stands on the
 *   master and WAIT cannot undo it.
 */
#include "worker_int.h"

#include <stdlib.h>
#include <string.h>

#include "kue_internal.h"
#include "log.h"
#include "util.h"

#define KW_OUTBOX_SOFT_MAX 100000   /* beyond this, progress/log are dropped */
#define KW_COMPLETE_BATCH 64
#define KW_RETRY_MIN_MS 100
#define KW_RETRY_MAX_MS 1000

/* ---- the report's state machine (pure) ------------------------------------- */

typedef int (*kw_report_action)(struct kw_report *r, int64_t now, int64_t bound);

static int r_send(struct kw_report *r, int64_t now, int64_t bound)
{
    (void)r; (void)now; (void)bound;
    return KRS_SENT;
}

static int r_lost(struct kw_report *r, int64_t now, int64_t bound)
{
    (void)r; (void)now; (void)bound;
    return KRS_QUEUED;
}

static int r_done(struct kw_report *r, int64_t now, int64_t bound)
{
    (void)r; (void)now; (void)bound;
    return KRS_DONE;
}

static int r_answered(struct kw_report *r, int64_t now, int64_t bound)
{
    (void)now; (void)bound;
    return r->replicate ? KRS_REPLICATING : KRS_DONE;
}

static int r_refused(struct kw_report *r, int64_t now, int64_t bound)
{
    if (r->kind == KR_PROGRESS || r->kind == KR_LOG) return KRS_DONE;   /* not retried */
    if (!r->refused_since) r->refused_since = now;
    if (now - r->refused_since >= bound) {
        r->gave_up = 1;
        return KRS_DONE;
    }
    return KRS_HELD;
}

static int r_retry(struct kw_report *r, int64_t now, int64_t bound)
{
    (void)r; (void)now; (void)bound;
    return KRS_QUEUED;
}

static const kw_report_action report_actions[KRS_N][KRE_N] = {
    [KRS_QUEUED] = { [KRE_SEND] = r_send },
    [KRS_SENT] = { [KRE_LOST] = r_lost, [KRE_ANSWERED] = r_answered, [KRE_REFUSED] = r_refused },
    [KRS_HELD] = { [KRE_RETRY] = r_retry },
    [KRS_DONE] = { 0 },
    [KRS_REPLICATING] = { [KRE_LOST] = r_lost, [KRE_REPLICATED] = r_done },
};

int kw_report_step(struct kw_report *r, int ev, int64_t now, int64_t bound)
{
    if (r->state < 0 || r->state >= KRS_N || ev < 0 || ev >= KRE_N) return -1;
    kw_report_action a = report_actions[r->state][ev];
    if (!a) return -1;
    r->state = a(r, now, bound);
    return r->state;
}

/* ---- the FIFO --------------------------------------------------------------- */

static void unlink_report(struct kw_outbox *o, struct kw_report *r)
{
    if (r->prev) r->prev->next = r->next; else o->head = r->next;
    if (r->next) r->next->prev = r->prev; else o->tail = r->prev;
    o->n--;
}

static void arm_retry(struct kw_worker *w)
{
    struct kw_outbox *o = &w->out;
    if (ev_is_active(&o->retry)) return;
    int64_t ms = KW_RETRY_MIN_MS;
    for (int i = 1; i < o->refusals && ms < KW_RETRY_MAX_MS; i++) ms *= 2;
    if (ms > KW_RETRY_MAX_MS) ms = KW_RETRY_MAX_MS;
    ev_timer_set(&o->retry, (double)ms / 1000.0, 0.);
    ev_timer_start(w->loop, &o->retry);
}

/* A refused report: held for a retry, or given up (then freed here). */
static void refused(struct kw_worker *w, struct kw_report *r, const char *err)
{
    struct kw_outbox *o = &w->out;
    const char *sname = kue_script_name(r->sid);
    int first = !r->refused_since;
    int st = kw_report_step(r, KRE_REFUSED, kue_mono_ms(), w->cfg->lease_ms);
    if (st == KRS_HELD) {
        if (first)
            klog_warn("job %lld: Redis refused the %s call (%s); keeping it and trying again",
                      (long long)r->job_id, sname, err);
        o->refusals++;
        arm_retry(w);
        return;
    }
    if (r->gave_up) {
        klog_error("job %lld: Redis refused the %s call for %lld ms (%s); giving the outcome "
                   "up: the job is left to its lease", (long long)r->job_id, sname,
                   (long long)w->cfg->lease_ms, err);
        kw_lease_give_up(w);
    } else {
        klog_warn("job %lld: Redis refused the %s call (%s); dropped", (long long)r->job_id,
                  sname, err);
    }
    unlink_report(o, r);
    free(r);
}

static void on_retry(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct kw_worker *w = t->data;
    for (struct kw_report *r = w->out.head; r; r = r->next) {
        if (r->state != KRS_HELD) continue;
        kw_report_step(r, KRE_RETRY, 0, 0);
        if (r->kind == KR_COMPLETE) w->out.queued_completes++;
    }
    kw_outbox_flush(w);
}

/* ---- waiting for replicas ------------------------------------------------------ */

static int is_outcome(const struct kw_report *r)
{
    return r->kind == KR_COMPLETE || r->kind == KR_FAIL || r->kind == KR_REQUEUE;
}

/* r was just sent: the next WAIT covers it. */
static void sent(struct kw_worker *w, struct kw_report *r)
{
    kw_report_step(r, KRE_SEND, 0, 0);
    if (w->cfg->wait_replicas <= 0 || !is_outcome(r)) return;
    r->wait_seq = w->out.wait_sent;
    w->out.wait_owed = 1;
}

/* r's script answered (written: an error reply changed nothing): done, or
 * REPLICATING when the WAIT after it was sent.  Frees r when done. */
static void answered(struct kw_worker *w, struct kw_report *r, int written)
{
    r->replicate = written && w->cfg->wait_replicas > 0 && is_outcome(r) &&
                   r->wait_seq < w->out.wait_sent;
    if (kw_report_step(r, KRE_ANSWERED, 0, 0) == KRS_REPLICATING) return;
    unlink_report(&w->out, r);
    free(r);
}

static void on_waited(redisAsyncContext *ac, void *rep, void *privdata)
{
    struct kw_worker *w = privdata;
    struct kw_outbox *o = &w->out;
    uint64_t seq = o->wait_answered++;
    if (rep)
        kue_wait_check(rep, w->cfg->wait_replicas, w->cfg->wait_timeout_ms, "worker",
                       &o->wait_short, &o->wait_warned_ms);
    struct kw_report *next;
    for (struct kw_report *r = o->head; r; r = next) {
        next = r->next;
        if (r->state != KRS_REPLICATING || r->wait_seq > seq) continue;
        if (!rep) {          /* dropped before the replicas confirmed: send it again */
            kw_report_step(r, KRE_LOST, 0, 0);
            r->resent = 1;
            if (r->kind == KR_COMPLETE) o->queued_completes++;
            continue;
        }
        kw_report_step(r, KRE_REPLICATED, 0, 0);
        unlink_report(o, r);
        free(r);
    }
    kw_check_drained(w);
}

void kw_outbox_flush_wait(struct kw_worker *w)
{
    struct kw_outbox *o = &w->out;
    if (!o->wait_owed || w->cfg->wait_replicas <= 0) return;
    if (kue_conn_command(w->cmd, on_waited, w, "WAIT %d %d", w->cfg->wait_replicas,
                         w->cfg->wait_timeout_ms) != 0)
        return;          /* the connection is going: its replies come back NULL */
    o->wait_owed = 0;
    o->wait_sent++;
}

static void on_report_reply(redisAsyncContext *ac, void *rep, void *privdata)
{
    struct kw_report *r = privdata;
    struct kw_worker *w = r->w;
    redisReply *reply = rep;
    if (!reply) {            /* connection dropped: sent again after the reconnect */
        kw_report_step(r, KRE_LOST, 0, 0);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR && kue_reply_transient(reply->str)) {
        refused(w, r, reply->str);
        kw_check_drained(w);
        return;
    }
    w->out.refusals = 0;
    const char *sname = kue_script_name(r->sid);
    if (reply->type == REDIS_REPLY_ERROR) {
        klog_error("job %lld: %s script failed: %s", (long long)r->job_id, sname, reply->str);
    } else if (r->kind == KR_FAIL) {
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 3) {
            redisReply *st = reply->element[0], *oc = reply->element[1], *dl = reply->element[2];
            if (st->type == REDIS_REPLY_INTEGER && st->integer == 0 && r->resent)
                klog_debug("job %lld: failure re-sent after a lost WAIT was recorded already",
                           (long long)r->job_id);
            else if (st->type == REDIS_REPLY_INTEGER && st->integer == 0)
                klog_warn("job %lld: failure not recorded: the job is no longer held by this "
                          "worker", (long long)r->job_id);
            else if (oc->type == REDIS_REPLY_STRING)
                klog_debug("job %lld: attempt failed -> %s (delay %lld ms)", (long long)r->job_id,
                           oc->str, dl->type == REDIS_REPLY_INTEGER ? dl->integer : 0LL);
        }
    }
    answered(w, r, reply->type != REDIS_REPLY_ERROR);
    kw_check_drained(w);
}

static void send_one(struct kw_worker *w, struct kw_report *r)
{
    if (r->kind == KR_COMPLETE) return;      /* batched: kw_outbox_flush_completes() */
    if (r->state != KRS_QUEUED || !kue_conn_ready(w->cmd)) return;
    if (kue_conn_script(w->cmd, r->sid, on_report_reply, r, r->argc, r->argv, r->lens) == 0)
        sent(w, r);
}

/* ---- completions in batches --------------------------------------------------- */

struct kw_batch {
    struct kw_worker *w;
    int n;
    struct kw_report *r[KW_COMPLETE_BATCH];
};

static void complete_answered(struct kw_worker *w, struct kw_report *r, const redisReply *v)
{
    if (v->type == REDIS_REPLY_ERROR)
        klog_error("job %lld: complete script failed: %s", (long long)r->job_id, v->str);
    else if (v->type == REDIS_REPLY_INTEGER && v->integer == 0 && r->resent)
        klog_debug("job %lld: completion re-sent after a lost WAIT was recorded already",
                   (long long)r->job_id);
    else if (v->type == REDIS_REPLY_INTEGER && v->integer == 0)
        klog_warn("job %lld: completion not recorded: the job is no longer held by this "
                  "worker (already reported, or settled elsewhere)", (long long)r->job_id);
    answered(w, r, v->type != REDIS_REPLY_ERROR);
}

static void on_batch_reply(redisAsyncContext *ac, void *rep, void *privdata)
{
    struct kw_batch *b = privdata;
    struct kw_worker *w = b->w;
    redisReply *reply = rep;
    if (!reply) {            /* connection dropped: sent again after the reconnect */
        for (int i = 0; i < b->n; i++) kw_report_step(b->r[i], KRE_LOST, 0, 0);
        w->out.queued_completes += b->n;
        free(b);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR && kue_reply_transient(reply->str)) {
        for (int i = 0; i < b->n; i++) refused(w, b->r[i], reply->str);
        free(b);
        kw_check_drained(w);
        return;
    }
    w->out.refusals = 0;
    for (int i = 0; i < b->n; i++) {
        if (reply->type == REDIS_REPLY_ARRAY && (size_t)i < reply->elements)
            complete_answered(w, b->r[i], reply->element[i]);
        else
            complete_answered(w, b->r[i], reply);
    }
    free(b);
    kw_check_drained(w);
}

void kw_outbox_flush_completes(struct kw_worker *w)
{
    struct kw_outbox *o = &w->out;
    struct kw_report *r = o->head;
    while (o->queued_completes > 0 && kue_conn_ready(w->cmd)) {
        struct kw_batch *b = calloc(1, sizeof *b);
        if (!b) { klog_error("out of memory batching completions"); abort(); }
        b->w = w;
        const char *av[1 + 4 * KW_COMPLETE_BATCH];
        size_t lens[1 + 4 * KW_COMPLETE_BATCH];
        int argc = 1;
        av[0] = w->cfg->prefix;
        lens[0] = strlen(w->cfg->prefix);
        for (; r && b->n < KW_COMPLETE_BATCH; r = r->next) {
            if (r->kind != KR_COMPLETE || r->state != KRS_QUEUED) continue;
            for (int i = 1; i < r->argc; i++) {    /* id, W, duration, result */
                av[argc] = r->argv[i];
                lens[argc++] = r->lens[i];
            }
            b->r[b->n++] = r;
        }
        if (b->n == 0) { o->queued_completes = 0; free(b); return; }
        if (kue_conn_script(w->cmd, KS_COMPLETE, on_batch_reply, b, argc, av, lens) != 0) {
            free(b);
            return;
        }
        for (int i = 0; i < b->n; i++) sent(w, b->r[i]);
        o->queued_completes -= b->n;
    }
}

void kw_outbox_flush(struct kw_worker *w)
{
    for (struct kw_report *r = w->out.head; r; r = r->next)
        send_one(w, r);
    kw_outbox_flush_completes(w);
}

void kw_outbox_add(struct kw_worker *w, int kind, kue_script_id sid, int64_t job_id,
                   int argc, const char **argv, const size_t *lens)
{
    struct kw_outbox *o = &w->out;
    if ((kind == KR_PROGRESS || kind == KR_LOG) && o->n >= KW_OUTBOX_SOFT_MAX) {
        klog_warn("job %lld: %d reports waiting for Redis; dropping a %s",
                  (long long)job_id, KW_OUTBOX_SOFT_MAX, kind == KR_LOG ? "log line" : "progress");
        return;
    }
    int n = argc + 1;
    size_t bytes = strlen(w->cfg->prefix) + 1;
    for (int i = 0; i < argc; i++) bytes += (lens ? lens[i] : strlen(argv[i])) + 1;
    struct kw_report *r = malloc(sizeof *r + (size_t)n * (sizeof(char *) + sizeof(size_t)) + bytes);
    if (!r) {
        klog_error("out of memory queueing a report for job %lld", (long long)job_id);
        abort();
    }
    memset(r, 0, sizeof *r);
    r->w = w;
    r->kind = kind;
    r->state = KRS_QUEUED;
    r->sid = sid;
    r->job_id = job_id;
    r->argc = n;
    r->argv = (const char **)(r + 1);
    r->lens = (size_t *)(r->argv + n);
    char *p = (char *)(r->lens + n);
    for (int i = 0; i < n; i++) {
        const char *s = i == 0 ? w->cfg->prefix : argv[i - 1];
        size_t l = i == 0 ? strlen(s) : (lens ? lens[i - 1] : strlen(s));
        memcpy(p, s, l);
        p[l] = '\0';
        r->argv[i] = p;
        r->lens[i] = l;
        p += l + 1;
    }
    r->prev = o->tail;
    if (o->tail) o->tail->next = r; else o->head = r;
    o->tail = r;
    o->n++;
    if (kind == KR_COMPLETE) o->queued_completes++;
    else send_one(w, r);
}

void kw_outbox_init(struct kw_worker *w)
{
    ev_init(&w->out.retry, on_retry);
    w->out.retry.data = w;
}

void kw_outbox_free(struct kw_worker *w)
{
    struct kw_outbox *o = &w->out;
    ev_timer_stop(w->loop, &o->retry);
    while (o->head) {
        struct kw_report *r = o->head;
        if (r->kind == KR_COMPLETE || r->kind == KR_FAIL)
            klog_warn("job %lld: exiting before Redis recorded its outcome", (long long)r->job_id);
        unlink_report(o, r);
        free(r);
    }
}
