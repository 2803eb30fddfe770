/*
 * fetch.c -- the worker's fetch cycle: how jobs are taken from Redis.
 *
 * One state machine (kw_fetch_step, actions[state][event]) decides; the
 * rest of this file performs what it decides (sends a claim, a wait, a
 * check) and turns replies into events.
 *
 *            GO (slots free)                     reply
 *   IDLE ----------------------> CLAIMING ------------------> IDLE
 *     |  GO, the queue was empty     token, hand-off, nil       ^
 *     +------------------------> WAITING ---------------------->+
 *     |                            |  wait failed               |
 *     |                            +--------> BACKOFF --retry-->+
 *     |  GO, a check is due               all replies           |
 *     +------------------------> CHECKING --------------------->+
 *
 * - CLAIMING: the claim script for all free slots at once (n = free slots),
 *   on `cmd`.  Fewer jobs than asked means the queue is empty: the claim
 *   also parks us (P:parked:<type>, with the first slot left over) and the
 *   next fetch waits.  The claim after a wait offers the parked slot first
 *   and leaves the parked list (docs/wire.md section 13).
 * - WAITING: on `blk`, BLPOP of our wake list P:wake:<host>:<pid> and the
 *   type's tokens, 2 s timeout (half the lease when that is shorter; so
 *   a drifted token list never stalls us: Kue #130).  A save that found us parked made its job active for us and
 *   pushed it to the wake list: the wait's reply is the job, started at
 *   once (HANDED), with no claim on the way.  A token (a Node Kue
 *   producer's job, a bulk-saved or retried one) makes the next claim count
 *   it as taken; nil (timed out, or unblocked by CLIENT UNBLOCK on drain,
 *   pause, quiet) a plain claim.  Not allowed to claim while parked: an
 *   UNPARK claim of no new job leaves the list and puts a job handed off
 *   meanwhile back in the queue.
 * - BACKOFF: the wait itself failed (an error reply): one second before
 *   the next one.  Also after a claim cut short by the type's rate limit:
 *   the claim's reply says when the window has room, and a timer set for
 *   then ends the BACKOFF (no polling; docs/wire.md section 11).
 * - CHECKING: a claim whose reply was lost with a connection may have run:
 *   a job handed off to us that no wait took is started, and the jobs Redis
 *   says we hold (P:held:<host>:<pid>) but we do not run are put back in
 *   the queue, so they do not wait for their lease to expire.  Only from
 *   IDLE (a job of a claim in flight is held but not yet known here), and
 *   no claim is sent until the check is over.
 */
#include "worker_int.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

#define KW_WAIT_TIMEOUT_S 2

/* ---- the machine (pure) ------------------------------------------------------ */

typedef int (*kw_fetch_action_fn)(struct kw_fetch *f, const struct kw_fetch_in *in);

static int f_ignore(struct kw_fetch *f, const struct kw_fetch_in *in)
{
    (void)f; (void)in;
    return KFA_NONE;
}

static int f_go(struct kw_fetch *f, const struct kw_fetch_in *in)
{
    if (!in->cmd_up) return KFA_NONE;
    if (f->check_due) {
        f->check_due = 0;
        f->checks = 1;
        f->state = KF_CHECKING;
        return KFA_CHECK;
    }
    if (!in->allowed || in->free_slots <= 0) {
        /* parked, or holding a token a wait popped, but taking no job now:
         * leave the list, give the token back */
        if (f->park_slot <= 0 && f->tokens <= 0) return KFA_NONE;
        f->state = KF_CLAIMING;
        return KFA_UNPARK;
    }
    if (f->want_wake) {
        if (!in->blk_up) return KFA_NONE;
        f->state = KF_WAITING;
        return KFA_WAIT;
    }
    f->state = KF_CLAIMING;
    return KFA_CLAIM;
}

/* A drain, pause or quiet while waiting: end the wait now. */
static int f_go_waiting(struct kw_fetch *f, const struct kw_fetch_in *in)
{
    (void)f;
    return in->allowed ? KFA_NONE : KFA_UNBLOCK;
}

static int f_reply(struct kw_fetch *f, const struct kw_fetch_in *in)
{
    f->state = KF_IDLE;
    if (in->lost) {                 /* the claim may have run: look for its jobs */
        f->check_due = 1;
        return KFA_NONE;
    }
    f->park_slot = in->error ? 0 : in->parked;   /* the claim left the list, maybe parked again */
    if (in->wait_ms > 0 && !in->error) {         /* rate window full */
        f->want_wake = 0;
        f->retry_ms = in->wait_ms;
        f->state = KF_BACKOFF;
        return KFA_RETRY_LATER;
    }
    /* an error: the wait's timeout paces the retries */
    f->want_wake = in->error || in->got < in->asked;
    return KFA_NONE;
}

/* The reply of a claim the machine no longer waits for (its connection
 * dropped first): only what it says about lost jobs counts. */
static int f_stale_reply(struct kw_fetch *f, const struct kw_fetch_in *in)
{
    if (in->lost) f->check_due = 1;
    return KFA_NONE;
}

/* The wait ended: timed out or unblocked (nil), a token, or a job handed
 * off to us; claim plainly next (a claim that finds nothing parks again). */
static int f_wait_nil(struct kw_fetch *f, const struct kw_fetch_in *in)
{
    (void)in;
    f->want_wake = 0;
    f->state = KF_IDLE;
    return KFA_NONE;
}

static int f_token(struct kw_fetch *f, const struct kw_fetch_in *in)
{
    f->tokens++;
    return f_wait_nil(f, in);
}

static int f_handed(struct kw_fetch *f, const struct kw_fetch_in *in)
{
    f->park_slot = 0;               /* the save took our registration */
    return f_wait_nil(f, in);
}

static int f_wait_error(struct kw_fetch *f, const struct kw_fetch_in *in)
{
    (void)in;
    f->want_wake = 0;
    f->retry_ms = 0;
    f->state = KF_BACKOFF;
    return KFA_RETRY_LATER;
}

static int f_retry(struct kw_fetch *f, const struct kw_fetch_in *in)
{
    (void)in;
    f->want_wake = 0;
    f->retry_ms = 0;
    if (f->state == KF_BACKOFF) f->state = KF_IDLE;
    return KFA_NONE;
}

static int f_check_more(struct kw_fetch *f, const struct kw_fetch_in *in)
{
    (void)in;
    f->checks++;
    return KFA_NONE;
}

static int f_check_done(struct kw_fetch *f, const struct kw_fetch_in *in)
{
    (void)in;
    if (f->checks > 0 && --f->checks == 0) f->state = KF_IDLE;
    return KFA_NONE;
}

/* A new connection: what was sent on the old one is gone; look for jobs
 * of claims whose replies were lost. */
static int f_cmd_up(struct kw_fetch *f, const struct kw_fetch_in *in)
{
    (void)in;
    f->check_due = 1;
    if (f->state == KF_CHECKING) {
        f->checks = 0;
        f->state = KF_IDLE;
    }
    return KFA_NONE;
}

static int f_lost(struct kw_fetch *f, const struct kw_fetch_in *in)
{
    (void)in;
    f->check_due = 1;
    f->state = KF_IDLE;
    return KFA_NONE;
}

static int f_send_failed(struct kw_fetch *f, const struct kw_fetch_in *in)
{
    (void)in;
    if (f->state == KF_CHECKING) {
        f->checks = 0;
        f->check_due = 1;
    }
    f->state = KF_IDLE;
    return KFA_NONE;
}

#define IGN f_ignore
static const kw_fetch_action_fn fetch_actions[KF_N][KFE_N] = {
    /*            GO            REPLY          WAIT_NIL    WAIT_ERROR    RETRY    CHECK_MORE
     *            CHECK_DONE    CMD_UP         CMD_DOWN    BLK_DOWN      SEND_FAILED
     *            TOKEN         HANDED */
    [KF_IDLE] = { f_go,         f_stale_reply, IGN,        IGN,          f_retry, IGN,
                  IGN,          f_cmd_up,      IGN,        IGN,          NULL,
                  IGN,          IGN },
    [KF_CLAIMING] = { IGN,      f_reply,       IGN,        IGN,          f_retry, IGN,
                  IGN,          f_cmd_up,      f_lost,     IGN,          f_send_failed,
                  IGN,          IGN },
    [KF_WAITING] = { f_go_waiting, f_stale_reply, f_wait_nil, f_wait_error, f_retry, IGN,
                  IGN,          f_cmd_up,      IGN,        f_lost,       f_send_failed,
                  f_token,      f_handed },
    [KF_CHECKING] = { IGN,      f_stale_reply, IGN,        IGN,          f_retry, f_check_more,
                  f_check_done, f_cmd_up,      IGN,        IGN,          f_send_failed,
                  IGN,          IGN },
    [KF_BACKOFF] = { IGN,       f_stale_reply, IGN,        IGN,          f_retry, IGN,
                  IGN,          f_cmd_up,      IGN,        IGN,          NULL,
                  IGN,          IGN },
};
#undef IGN

int kw_fetch_step(struct kw_fetch *f, int ev, const struct kw_fetch_in *in)
{
    static const struct kw_fetch_in none;
    if (f->state < 0 || f->state >= KF_N || ev < 0 || ev >= KFE_N) return -1;
    kw_fetch_action_fn a = fetch_actions[f->state][ev];
    if (!a) return -1;
    return a(f, in ? in : &none);
}

const char *kw_fetch_state_name(int state)
{
    static const char *const names[KF_N] = { "idle", "claiming", "waiting", "checking",
                                             "backoff" };
    return state >= 0 && state < KF_N ? names[state] : "?";
}

/* ---- performing it ------------------------------------------------------------- */

static void send_claim(struct kw_worker *w, int free_slots);
static void send_wait(struct kw_worker *w);
static void send_check(struct kw_worker *w);

/* Slots to offer to the next claim; --max-jobs reached starts a drain. */
static int slots_to_offer(struct kw_worker *w)
{
    long long free_slots = w->cfg->concurrency - w->inflight;
    if (w->cfg->max_jobs) {
        long long left = w->cfg->max_jobs - w->started_jobs;
        if (left <= 0) {
            if (!w->draining) {
                klog_info("processed %lld jobs (--max-jobs): finishing and exiting",
                          w->started_jobs);
                kw_begin_drain(w, NULL);
            }
            return 0;
        }
        if (free_slots > left) free_slots = left;
    }
    return (int)free_slots;
}

/* Stop a wait (drain, pause, quiet): CLIENT UNBLOCK makes the BLPOP return
 * nil at once; the next step leaves the parked list (UNPARK). */
void kw_fetch_stop_waiting(struct kw_worker *w)
{
    if (w->fetch.state != KF_WAITING || w->blk_id <= 0 || !kue_conn_ready(w->cmd)) return;
    char id[24];
    snprintf(id, sizeof id, "%lld", w->blk_id);
    const char *av[] = { "CLIENT", "UNBLOCK", id };
    kue_conn_commandargv(w->cmd, NULL, NULL, 3, av, NULL);
}

void kw_fetch_event(struct kw_worker *w, int ev, const struct kw_fetch_in *reply)
{
    struct kw_fetch_in in = reply ? *reply : (struct kw_fetch_in){ 0 };
    in.allowed = !w->draining && !w->paused && !w->quiet && !w->type_paused;
    in.cmd_up = kue_conn_ready(w->cmd);
    in.blk_up = kue_conn_ready(w->blk);
    if (ev == KFE_GO && w->fetch.state == KF_IDLE && in.cmd_up && in.allowed)
        in.free_slots = slots_to_offer(w);
    in.allowed = !w->draining && !w->paused && !w->quiet && !w->type_paused;    /* max_jobs may drain */
    int before = w->fetch.state;
    int a = kw_fetch_step(&w->fetch, ev, &in);
    if (a < 0) {
        klog_warn("fetch: event %d in state %s ignored", ev, kw_fetch_state_name(before));
        return;
    }
    switch (a) {
    case KFA_CLAIM: send_claim(w, in.free_slots); break;
    case KFA_UNPARK: send_claim(w, 0); break;
    case KFA_WAIT: send_wait(w); break;
    case KFA_CHECK: send_check(w); break;
    case KFA_UNBLOCK: kw_fetch_stop_waiting(w); break;
    case KFA_RETRY_LATER:
        ev_timer_stop(w->loop, &w->blk_retry);
        ev_timer_set(&w->blk_retry, w->fetch.retry_ms > 0 ? (double)w->fetch.retry_ms / 1000. : 1.,
                     0.);
        ev_timer_start(w->loop, &w->blk_retry);
        break;
    default: break;
    }
    /* back to IDLE by a reply or a timer: look at once for the next step */
    if (ev != KFE_GO && before != KF_IDLE && w->fetch.state == KF_IDLE) kw_kick(w);
}

/* ---- claims -------------------------------------------------------------------- */

static void wake_key(struct kw_worker *w)
{
    if (!w->wake_key[0])
        kue_key_wake(w->wake_key, sizeof w->wake_key, w->cfg->prefix, w->host, w->pid);
}

static void claimed(struct kw_worker *w, redisReply *reply)
{
    struct kw_fetch_in in = { .asked = w->claim_n };
    if (!reply) {
        in.lost = 1;
    } else if (reply->type == REDIS_REPLY_ERROR) {
        klog_error("claim script failed: %s", reply->str);
        in.error = 1;
    } else if (reply->type == REDIS_REPLY_STRING && !strcmp(reply->str, "paused")) {
        kw_type_paused(w, 1);        /* the type is paused fleet-wide (control.c) */
    } else if (reply->type == REDIS_REPLY_ARRAY) {
        in.got = (int)reply->elements;
        /* the rate window is full: the ms until it has room follow the jobs */
        if (in.got > 0 && reply->element[in.got - 1]->type == REDIS_REPLY_INTEGER) {
            in.wait_ms = reply->element[in.got - 1]->integer;
            if (in.wait_ms < 1) in.wait_ms = 1;
            in.got--;
        }
        if (in.got > w->claim_cap) in.got = w->claim_cap;
        /* short: the script parked us with the first slot left over */
        if (w->claim_park && !in.wait_ms && in.got < w->claim_n)
            in.parked = w->claim_slots[in.got];
    }
    kw_fetch_event(w, KFE_REPLY, &in);
    for (int i = 0; i < in.got; i++)
        kw_job_start(w, w->claim_slots[i], reply->element[i]);
    kw_check_drained(w);        /* a drain may have waited for this reply */
}

static void on_claim(redisAsyncContext *ac, void *rep, void *privdata)
{
    claimed(privdata, rep);
}

/* A job handed off to us (a save made it active for us while we were
 * parked, prelude.lua "hand-off"): "slot\0id\0priority\0ttl\0attempts\0
 * max_attempts\0created_at\0delay\0backoff\0data", '' for a field the job
 * lacks.  Started in its slot; one whose slot is not free (a registration
 * we lost track of) goes back to the queue.  Returns 0, or -1 when the
 * message is malformed. */
int kw_handoff_start(struct kw_worker *w, const char *m, size_t len)
{
    enum { NF = 10 };
    const char *f[NF];
    size_t fl[NF];
    const char *p = m, *end = m + len;
    for (int i = 0; i < NF; i++) {
        const char *z = i < NF - 1 ? memchr(p, '\0', (size_t)(end - p)) : end;
        if (!z) return -1;
        f[i] = p;
        fl[i] = (size_t)(z - p);
        p = z < end ? z + 1 : end;
    }
    long long slot = kw_num(f[0], -1);
    if (fl[1] == 0 || fl[1] > 20 || kw_num(f[1], -1) <= 0 || slot < 1) return -1;
    if (slot > w->cfg->concurrency || w->slots[slot]) {
        char wid[KUE_MAX_TYPE_LEN + 320], idstr[24];
        kue_worker_id(wid, sizeof wid, w->host, w->pid, w->cfg->type, (int)slot);
        snprintf(idstr, sizeof idstr, "%.*s", (int)fl[1], f[1]);
        klog_warn("job %s was handed off to slot %lld, which is not free; putting it back in "
                  "the queue", idstr, slot);
        const char *av[] = { idstr, wid };
        kw_outbox_add(w, KR_REQUEUE, KS_REQUEUE, kw_num(idstr, -1), 2, av, NULL);
        return 0;
    }
    /* as a claim reply entry: id, priority, ttl, data, attempts,
     * max_attempts, created_at, delay, backoff (data may be '') */
    static const int from[9] = { 1, 2, 3, 9, 4, 5, 6, 7, 8 };
    redisReply el[9], *elp[9], arr;
    memset(el, 0, sizeof el);
    for (int i = 0; i < 9; i++) {
        int k = from[i];
        el[i].type = fl[k] || k == 9 ? REDIS_REPLY_STRING : REDIS_REPLY_NIL;
        el[i].str = (char *)f[k];
        el[i].len = fl[k];
        elp[i] = &el[i];
    }
    memset(&arr, 0, sizeof arr);
    arr.type = REDIS_REPLY_ARRAY;
    arr.elements = 9;
    arr.element = elp;
    kw_job_start(w, (int)slot, &arr);
    return 0;
}

/* The wait's reply: [key, element] from our wake list (a job) or the
 * type's tokens; nil when it timed out or was unblocked. */
static void on_wake(redisAsyncContext *ac, void *rep, void *privdata)
{
    struct kw_worker *w = privdata;
    redisReply *reply = rep;
    if (!reply) return;                     /* the connection dropped: BLK_DOWN */
    if (reply->type == REDIS_REPLY_ERROR) {
        klog_error("waiting for a job failed: %s", reply->str);
        kw_fetch_event(w, KFE_WAIT_ERROR, NULL);
    } else if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
               reply->element[0]->type == REDIS_REPLY_STRING &&
               reply->element[1]->type == REDIS_REPLY_STRING) {
        if (strcmp(reply->element[0]->str, w->wake_key) != 0) {
            kw_fetch_event(w, KFE_TOKEN, NULL);
            return;
        }
        kw_fetch_event(w, KFE_HANDED, NULL);
        if (kw_handoff_start(w, reply->element[1]->str, reply->element[1]->len) != 0)
            klog_error("a malformed hand-off in %s was dropped (its job is held by this "
                       "process: the held check puts it back)", w->wake_key);
        kw_check_drained(w);
    } else {
        kw_fetch_event(w, KFE_WAIT_NIL, NULL);
    }
}

static void on_blk_retry(struct ev_loop *loop, ev_timer *t, int revents)
{
    kw_fetch_event(t->data, KFE_RETRY, NULL);
    kw_kick(t->data);
}

/* A claim of up to free_slots new jobs (0: an UNPARK, only leaving the
 * parked list, putting back what was handed off meanwhile and the tokens
 * a wait popped).  The parked slot, if any, is offered first: a job handed
 * off to it meanwhile comes back first. */
static void send_claim(struct kw_worker *w, int free_slots)
{
    /* claim: type, n, host, pid, lease_ms, tokens_taken, slot_1 .. slot_n,
     * rate_n, rate_period_ms, group_concurrency, park, unpark_slot */
    const char *av[12 + KUE_SB_MAX_INFLIGHT];
    char nbuf[16], pidbuf[16], lease[24], taken[16], slotbuf[KUE_SB_MAX_INFLIGHT][8];
    char rate_n[24], rate_p[24], gconc[24], unpark[8];
    struct kw_fetch *f = &w->fetch;
    int n = 0, ps = f->park_slot;
    if (ps > 0 && (ps > w->cfg->concurrency || w->slots[ps])) ps = 0;   /* not ours to offer */
    if (ps > 0) w->claim_slots[n++] = ps;
    for (int s = 1; s <= w->cfg->concurrency && n < free_slots; s++)
        if (!w->slots[s] && s != ps) w->claim_slots[n++] = s;
    if (free_slots <= 0) n = 0;                 /* an unpark: the parked slot only */
    if (n == 0 && ps <= 0 && f->tokens <= 0) {
        f->park_slot = 0;
        kw_fetch_event(w, KFE_SEND_FAILED, NULL);
        return;
    }
    for (int i = 0; i < n; i++) {
        snprintf(slotbuf[i], sizeof slotbuf[i], "%d", w->claim_slots[i]);
        av[7 + i] = slotbuf[i];
    }
    snprintf(nbuf, sizeof nbuf, "%d", n);
    snprintf(pidbuf, sizeof pidbuf, "%d", w->pid);
    snprintf(lease, sizeof lease, "%lld", (long long)w->cfg->lease_ms);
    snprintf(taken, sizeof taken, "%d", f->tokens);
    snprintf(unpark, sizeof unpark, "%d", ps);
    av[0] = w->cfg->prefix;
    av[1] = w->cfg->type;
    av[2] = nbuf;
    av[3] = w->host;
    av[4] = pidbuf;
    av[5] = lease;
    av[6] = taken;
    w->claim_n = n;
    w->claim_cap = n > 0 ? n : 1;
    /* only types without a rate limit or group concurrency park */
    w->claim_park = n > 0 && w->cfg->rate_n <= 0 && w->cfg->group_concurrency <= 0;
    snprintf(rate_n, sizeof rate_n, "%lld", w->cfg->rate_n);
    snprintf(rate_p, sizeof rate_p, "%lld", (long long)w->cfg->rate_period_ms);
    snprintf(gconc, sizeof gconc, "%lld", w->cfg->group_concurrency);
    av[7 + n] = rate_n;
    av[8 + n] = rate_p;
    av[9 + n] = gconc;
    av[10 + n] = w->claim_park ? "1" : "0";
    av[11 + n] = unpark;
    f->tokens = 0;                              /* counted by this claim */
    if (kue_conn_script(w->cmd, KS_CLAIM, on_claim, w, 12 + n, av, NULL) != 0)
        kw_fetch_event(w, KFE_SEND_FAILED, NULL);
}

/* Wait for a job: our wake list first (a hand-off), then the type's tokens. */
static void send_wait(struct kw_worker *w)
{
    wake_key(w);
    char src[KUE_MAX_TYPE_LEN + 160], to[16];
    kue_key_tokens(src, sizeof src, w->cfg->prefix, w->cfg->type);
    /* the claim after a timeout parks us again and renews our lease: with a
     * lease under twice the timeout, wait half the lease, so a save never
     * finds our registration with the lease run out */
    long long ms = KW_WAIT_TIMEOUT_S * 1000LL;
    if (w->cfg->lease_ms / 2 < ms) ms = w->cfg->lease_ms / 2 > 100 ? w->cfg->lease_ms / 2 : 100;
    snprintf(to, sizeof to, "%lld.%03lld", ms / 1000, ms % 1000);
    const char *bv[] = { "BLPOP", w->wake_key, src, to };
    if (kue_conn_commandargv(w->blk, on_wake, w, 4, bv, NULL) != 0)
        kw_fetch_event(w, KFE_SEND_FAILED, NULL);
}

/* ---- the held check ------------------------------------------------------------ */

struct orphan {
    struct kw_worker *w;
    int64_t id;
    char idstr[24];
};

static void on_orphan_owner(redisAsyncContext *ac, void *rep, void *privdata)
{
    struct orphan *o = privdata;
    struct kw_worker *w = o->w;
    redisReply *r = rep;
    char mine[KUE_MAX_TYPE_LEN + 320];
    int n = kue_worker_id(mine, sizeof mine, w->host, w->pid, w->cfg->type, -1);
    if (r && r->type == REDIS_REPLY_STRING && n > 0 && strncmp(r->str, mine, (size_t)n) == 0 &&
        !kw_job_known(w, o->id)) {
        klog_warn("job %lld: Redis says this worker holds it, but its claim reply was lost "
                  "with the connection; putting it back in the queue", (long long)o->id);
        const char *av[] = { o->idstr, r->str };
        kw_outbox_add(w, KR_REQUEUE, KS_REQUEUE, o->id, 2, av, NULL);
    }
    free(o);
    kw_fetch_event(w, KFE_CHECK_DONE, NULL);
}

static void on_held(redisAsyncContext *ac, void *rep, void *privdata)
{
    struct kw_worker *w = privdata;
    redisReply *r = rep;
    if (r && r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements; i++) {
            if (r->element[i]->type != REDIS_REPLY_STRING) continue;
            int64_t id = kw_num(r->element[i]->str, -1);
            if (id <= 0 || kw_job_known(w, id)) continue;
            struct orphan *o = calloc(1, sizeof *o);
            if (!o) continue;
            o->w = w;
            o->id = id;
            snprintf(o->idstr, sizeof o->idstr, "%lld", (long long)id);
            char key[KUE_KEY_PREFIX_MAX + 32];
            kue_key_job(key, sizeof key, w->cfg->prefix, o->idstr);
            const char *av[] = { "HGET", key, "workerId" };
            if (kue_conn_commandargv(w->cmd, on_orphan_owner, o, 3, av, NULL) != 0) free(o);
            else kw_fetch_event(w, KFE_CHECK_MORE, NULL);
        }
    }
    kw_fetch_event(w, KFE_CHECK_DONE, NULL);
}

/* A hand-off no wait took (its registration outlived a lost reply). */
static void on_check_wake(redisAsyncContext *ac, void *rep, void *privdata)
{
    struct kw_worker *w = privdata;
    redisReply *r = rep;
    if (r && r->type == REDIS_REPLY_STRING && kw_handoff_start(w, r->str, r->len) != 0)
        klog_error("a malformed hand-off in %s was dropped", w->wake_key);
    kw_fetch_event(w, KFE_CHECK_DONE, NULL);
}

static void send_check(struct kw_worker *w)
{
    char held[600];
    kue_key_held(held, sizeof held, w->cfg->prefix, w->host, w->pid);
    wake_key(w);
    const char *lv[] = { "LPOP", w->wake_key };
    const char *av[] = { "SMEMBERS", held };
    if (kue_conn_commandargv(w->cmd, on_check_wake, w, 2, lv, NULL) != 0) {
        kw_fetch_event(w, KFE_SEND_FAILED, NULL);
        return;
    }
    kw_fetch_event(w, KFE_CHECK_MORE, NULL);
    if (kue_conn_commandargv(w->cmd, on_held, w, 2, av, NULL) != 0)
        kw_fetch_event(w, KFE_SEND_FAILED, NULL);
}

void kw_fetch_init(struct kw_worker *w)
{
    memset(&w->fetch, 0, sizeof w->fetch);
    ev_timer_init(&w->blk_retry, on_blk_retry, 0., 0.);
    w->blk_retry.data = w;
}
