/*
 * worker.c -- the kue-worker event loop.
 *
 * One libev loop (ev_loop_new, never the default loop) and three Redis
 * connections: `cmd` for scripts, `blk` for waiting on the type's token list
 * (with a 2 s timeout, so a drifted token list never stalls us: Kue #130),
 * and `sub` for Kue's "ttl exceeded" events on P:events.  `sub` is opened
 * only when the first job with a ttl starts: every subscriber receives every
 * event of the queue (three per job), so workers of types without ttl jobs
 * stay off the channel and cost Redis nothing per published event.
 *
 * Fetch: while slots are free, run the claim script for all of them at once
 * (n = free slots).  When it returns fewer jobs than asked, the queue is
 * empty: on `blk`, BRPOPLPUSH a token into our wake list P:wake:<host>:<pid>
 * with the claim pipelined behind it (tokens_taken 'w').  Redis runs that
 * claim the moment the wait returns, so a job enqueued for an idle worker
 * reaches its handler after one round trip, not two; the claim uses the
 * token (the token list keeps tracking jobs for Kue workers on the same
 * Redis) and claims nothing when the wait timed out or was unblocked
 * (CLIENT UNBLOCK on drain, pause, quiet).  After a timeout one plain claim
 * follows, for jobs whose tokens went astray.  A job's outcome is not sent directly but through the
 * outbox: a FIFO of script calls kept until Redis answers them and re-sent
 * after a reconnect.  The scripts check the holder (workerId), so a report
 * that did reach Redis before the connection dropped is answered 0 the
 * second time: a job is never completed twice.
 *
 * Jobs in flight keep running while Redis is away; their leases are renewed
 * every lease/3 while connected.  A job's own ttl is enforced here with a
 * timer, and a Kue process's "ttl exceeded" event for a job we hold fails it
 * the same way (the fail script then publishes "ttl exceeded ack").
 */
#include "worker_int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "util.h"

#define KW_WAIT_TIMEOUT_S 2
#define KW_OUTBOX_SOFT_MAX 100000   /* beyond this, progress/log are dropped */

static void kick(struct kw_worker *w) { w->kick = 1; }
static void check_drained(struct kw_worker *w);

/* ---- scoreboard ------------------------------------------------------------ */

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (!f) return 0;
    if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
    fclose(f);
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static uint32_t sb_state(const struct kw_worker *w)
{
    if (w->draining) return KUE_SB_DRAINING;
    if (w->paused || w->quiet) return KUE_SB_QUIET;
    if (!w->started_jobs && !kue_conn_ready(w->cmd)) return KUE_SB_STARTING;
    return KUE_SB_READY;
}

static void sb_sync(struct kw_worker *w)
{
    struct kue_sb_slot *s = w->sbs;
    if (!s) return;
    kue_sb_write_begin(s);
    s->state = sb_state(w);
    s->heartbeat_ms = kue_now_ms();
    s->jobs_done = w->done_ok;
    s->jobs_failed = w->done_failed;
    s->concurrency = (uint32_t)w->cfg->concurrency;
    s->redis_up = (uint32_t)kue_conn_ready(w->cmd);
    uint32_t n = 0;
    for (int i = 1; i <= w->cfg->concurrency; i++) {
        struct kw_job *j = w->slots[i];
        if (!j) continue;
        s->inflight[n].id = j->id;
        s->inflight[n].started_ms = j->started_wall;
        /* The master kills the process past this deadline: the [type]
         * timeout, or the job's own ttl plus a grace second (the ttl timer
         * here fails the job first unless a handler blocks the loop). */
        int64_t dl = w->cfg->timeout_ms ? j->started_wall + w->cfg->timeout_ms : 0;
        if (j->ttl_ms > 0) {
            int64_t tdl = kue_add_sat(kue_add_sat(j->started_wall, j->ttl_ms), 1000);
            if (!dl || tdl < dl) dl = tdl;
        }
        s->inflight[n].deadline_ms = dl;
        n++;
    }
    s->inflight_n = n;
    kue_sb_write_end(s);
}

static void sb_open(struct kw_worker *w)
{
    const char *fd = getenv("KUE_SCOREBOARD_FD");
    if (!fd || !*fd) return;
    if (w->cfg->slot < 0) {
        klog_warn("KUE_SCOREBOARD_FD is set but --slot is not; not using the scoreboard");
        return;
    }
    if (kue_sb_attach(&w->sb, -1) != 0) {
        klog_warn("cannot attach the scoreboard (fd %s): %s", fd, strerror(errno));
        return;
    }
    if ((uint32_t)w->cfg->slot >= w->sb.hdr->nslots) {
        klog_warn("scoreboard slot %d out of range (%u slots)", w->cfg->slot,
                  (unsigned)w->sb.hdr->nslots);
        kue_sb_detach(&w->sb);
        return;
    }
    w->sbs = &w->sb.slots[w->cfg->slot];
    kue_sb_write_begin(w->sbs);
    w->sbs->started_ms = kue_now_ms();
    w->sbs->rss_kb = (uint64_t)rss_kb();
    kue_sb_write_end(w->sbs);
    sb_sync(w);
}

/* ---- the outbox -------------------------------------------------------------- */

static void report_unlink(struct kw_worker *w, struct kw_report *r)
{
    if (r->prev) r->prev->next = r->next; else w->out_head = r->next;
    if (r->next) r->next->prev = r->prev; else w->out_tail = r->prev;
    w->out_n--;
}

static void on_report_reply(redisAsyncContext *ac, void *rep, void *privdata)
{
    struct kw_report *r = privdata;
    struct kw_worker *w = r->w;
    redisReply *reply = rep;
    if (!reply) {            /* connection dropped: re-sent after reconnect */
        r->sent = 0;
        return;
    }
    const char *sname = kue_script_name(r->sid);
    if (reply->type == REDIS_REPLY_ERROR) {
        klog_error("job %lld: %s script failed: %s", (long long)r->job_id, sname, reply->str);
    } else if (r->kind == KR_FAIL) {
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 3) {
            redisReply *st = reply->element[0], *oc = reply->element[1], *dl = reply->element[2];
            if (st->type == REDIS_REPLY_INTEGER && st->integer == 0)
                klog_warn("job %lld: failure not recorded: the job is no longer held by this "
                          "worker", (long long)r->job_id);
            else if (oc->type == REDIS_REPLY_STRING)
                klog_debug("job %lld: attempt failed -> %s (delay %lld ms)", (long long)r->job_id,
                           oc->str, dl->type == REDIS_REPLY_INTEGER ? dl->integer : 0LL);
        }
    }
    report_unlink(w, r);
    free(r);
    check_drained(w);
}

static void report_send(struct kw_worker *w, struct kw_report *r)
{
    if (r->kind == KR_COMPLETE) return;      /* batched: flush_completes() */
    if (r->sent || !kue_conn_ready(w->cmd)) return;
    if (kue_conn_script(w->cmd, r->sid, on_report_reply, r, r->argc, r->argv, r->lens) == 0)
        r->sent = 1;
}

/* Completions are sent in batches: one complete-script call for all the
 * completions of a loop iteration (flushed from the prepare watcher, before
 * any claim of the same iteration, so Redis never sees more jobs active than
 * slots). */
#define KW_COMPLETE_BATCH 64

struct kw_batch {
    struct kw_worker *w;
    int n;
    struct kw_report *r[KW_COMPLETE_BATCH];
};

static void complete_reply(struct kw_worker *w, struct kw_report *r, const redisReply *v)
{
    if (v->type == REDIS_REPLY_ERROR)
        klog_error("job %lld: complete script failed: %s", (long long)r->job_id, v->str);
    else if (v->type == REDIS_REPLY_INTEGER && v->integer == 0)
        klog_warn("job %lld: completion not recorded: the job is no longer held by this "
                  "worker (already reported, or settled elsewhere)", (long long)r->job_id);
    report_unlink(w, r);
    free(r);
}

static void on_batch_reply(redisAsyncContext *ac, void *rep, void *privdata)
{
    struct kw_batch *b = privdata;
    struct kw_worker *w = b->w;
    redisReply *reply = rep;
    if (!reply) {            /* connection dropped: re-sent after reconnect */
        for (int i = 0; i < b->n; i++) b->r[i]->sent = 0;
        w->unsent_completes += b->n;
        free(b);
        return;
    }
    for (int i = 0; i < b->n; i++) {
        if (reply->type == REDIS_REPLY_ARRAY && (size_t)i < reply->elements)
            complete_reply(w, b->r[i], reply->element[i]);
        else
            complete_reply(w, b->r[i], reply);
    }
    free(b);
    check_drained(w);
}

static void flush_completes(struct kw_worker *w)
{
    struct kw_report *r = w->out_head;
    while (w->unsent_completes > 0 && kue_conn_ready(w->cmd)) {
        struct kw_batch *b = calloc(1, sizeof *b);
        if (!b) { klog_error("out of memory batching completions"); abort(); }
        b->w = w;
        const char *av[1 + 4 * KW_COMPLETE_BATCH];
        size_t lens[1 + 4 * KW_COMPLETE_BATCH];
        int argc = 1;
        av[0] = w->cfg->prefix;
        lens[0] = strlen(w->cfg->prefix);
        for (; r && b->n < KW_COMPLETE_BATCH; r = r->next) {
            if (r->kind != KR_COMPLETE || r->sent) continue;
            for (int i = 1; i < r->argc; i++) {    /* id, W, duration, result */
                av[argc] = r->argv[i];
                lens[argc++] = r->lens[i];
            }
            b->r[b->n++] = r;
        }
        if (b->n == 0) { w->unsent_completes = 0; free(b); return; }
        if (kue_conn_script(w->cmd, KS_COMPLETE, on_batch_reply, b, argc, av, lens) != 0) {
            free(b);
            return;
        }
        for (int i = 0; i < b->n; i++) b->r[i]->sent = 1;
        w->unsent_completes -= b->n;
    }
}

static void outbox_flush(struct kw_worker *w)
{
    for (struct kw_report *r = w->out_head; r; r = r->next)
        report_send(w, r);
    flush_completes(w);
}

/* Queue a script call (argv[0] is the prefix, added here). */
static void report(struct kw_worker *w, int kind, kue_script_id sid, int64_t job_id,
                   int argc, const char **argv, const size_t *lens)
{
    if ((kind == KR_PROGRESS || kind == KR_LOG) && w->out_n >= KW_OUTBOX_SOFT_MAX) {
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
    r->prev = w->out_tail;
    if (w->out_tail) w->out_tail->next = r; else w->out_head = r;
    w->out_tail = r;
    w->out_n++;
    if (kind == KR_COMPLETE) w->unsent_completes++;
    else report_send(w, r);
}

/* ---- jobs ---------------------------------------------------------------------- */

static void job_free_fields(struct kw_job *j)
{
    free(j->type);
    free(j->data);
    free(j->backoff);
    json_decref(j->json);
    j->type = j->data = j->backoff = NULL;
    j->json = NULL;
}

/* The job leaves the plugin's hands: keep the shell for a while so that a
 * repeated done() is recognised. */
static void retire(struct kw_worker *w, struct kw_job *j)
{
    job_free_fields(j);
    j->state = KJ_FINISHED;
    struct kw_job *old = w->retired[w->retired_pos];
    w->retired[w->retired_pos] = j;
    w->retired_pos = (w->retired_pos + 1) % KW_RETIRED_RING;
    free(old);
}

static void release_slot(struct kw_worker *w, struct kw_job *j)
{
    if (j->slot > 0 && w->slots[j->slot] == j) {
        w->slots[j->slot] = NULL;
        w->inflight--;
    }
    j->slot = 0;
    ev_timer_stop(w->loop, &j->ttl_timer);
    sb_sync(w);
    kick(w);
}

/* The delay to hand to the fail script for a JavaScript function backoff
 * (the plugin's backoff hook), or -1. */
static int64_t fn_backoff(struct kw_worker *w, struct kw_job *j)
{
    if (!kw_backoff_is_function(j->backoff)) return -1;
    if (!w->plugin.desc.backoff) {
        klog_info("job %lld: its backoff is a JavaScript function (from Node Kue), which a C "
                  "worker cannot run, and plugin %s has no backoff hook: the job's delay "
                  "(%lld ms) is used", (long long)j->id, w->plugin.name, (long long)j->delay_ms);
        return -1;
    }
    int made = j->attempts + 1;
    if (made > j->max_attempts) made = j->max_attempts;
    int64_t ms = w->plugin.desc.backoff(made, j->delay_ms);
    if (ms < 0) ms = 0;
    klog_info("job %lld: JavaScript function backoff replaced by plugin %s's backoff hook: "
              "%lld ms", (long long)j->id, w->plugin.name, (long long)ms);
    return ms;
}

static void report_fail(struct kw_worker *w, struct kw_job *j, const char *error,
                        const char *cause)
{
    size_t elen = strlen(error);
    if (elen > KUE_MAX_ERROR_LEN) elen = KUE_MAX_ERROR_LEN;
    char fnb[24];
    snprintf(fnb, sizeof fnb, "%lld", (long long)fn_backoff(w, j));
    const char *av[] = { j->idstr, j->wid, error, fnb, cause };
    size_t lv[] = { strlen(j->idstr), strlen(j->wid), elen, strlen(fnb), strlen(cause) };
    report(w, KR_FAIL, KS_FAIL, j->id, 5, av, lv);
    w->done_failed++;
}

/* done() of a RUNNING or TAKEN job (host.c has checked the handle). */
void kw_job_finish(struct kw_job *j, const char *error, const char *result_json)
{
    struct kw_worker *w = j->w;
    if (j->state == KJ_TAKEN) {
        klog_warn("job %lld: kue_done() after the worker took the job away (TTL exceeded); "
                  "ignored", (long long)j->id);
        if (j->taken_prev) j->taken_prev->taken_next = j->taken_next;
        else w->taken = j->taken_next;
        if (j->taken_next) j->taken_next->taken_prev = j->taken_prev;
        retire(w, j);
        return;
    }
    if (!error) {
        char dur[24];
        snprintf(dur, sizeof dur, "%lld", (long long)(kue_mono_ms() - j->started_mono));
        char *res = NULL;
        if (result_json && *result_json) {
            char err[200];
            res = kw_json_compact(result_json, err, sizeof err);
            if (!res) {
                /* What Kue stores for a result it cannot encode. */
                klog_warn("job %lld: result is not valid JSON (%s)", (long long)j->id, err);
                res = kw_invalid_result(result_json);
            }
        }
        const char *av[] = { j->idstr, j->wid, dur, res ? res : "" };
        report(w, KR_COMPLETE, KS_COMPLETE, j->id, 4, av, NULL);
        free(res);
        w->done_ok++;
    } else {
        report_fail(w, j, error, "");
    }
    release_slot(w, j);
    retire(w, j);
    check_drained(w);
}

/* Fail the attempt of a running job while its handler still holds it. */
static void take_away(struct kw_job *j, const char *error, const char *cause)
{
    struct kw_worker *w = j->w;
    if (j->state != KJ_RUNNING) return;
    klog_warn("job %lld: %s after %lld ms; attempt failed (a later kue_done() is ignored)",
              (long long)j->id, error, (long long)(kue_mono_ms() - j->started_mono));
    report_fail(w, j, error, cause);
    release_slot(w, j);
    j->state = KJ_TAKEN;
    j->taken_prev = NULL;
    j->taken_next = w->taken;
    if (w->taken) w->taken->taken_prev = j;
    w->taken = j;
    check_drained(w);
}

static void on_ttl(struct ev_loop *loop, ev_timer *t, int revents)
{
    take_away(t->data, "TTL exceeded", "ttl");
}

void kw_report_progress(struct kw_job *j, long pct, const char *data_json)
{
    char p[24];
    snprintf(p, sizeof p, "%ld", pct);
    const char *av[] = { j->idstr, j->wid, p, data_json ? data_json : "" };
    report(j->w, KR_PROGRESS, KS_PROGRESS, j->id, 4, av, NULL);
}

void kw_report_log(struct kw_job *j, const char *line, size_t len)
{
    const char *av[] = { j->idstr, line };
    size_t lv[] = { strlen(j->idstr), len };
    report(j->w, KR_LOG, KS_LOG, j->id, 2, av, lv);
}

/* A claimed job, as the claim script returns it: by position, a missing
 * field nil (libkue/lua/claim.lua). */
enum { CL_ID, CL_PRIORITY, CL_TTL, CL_DATA, CL_ATTEMPTS, CL_MAX_ATTEMPTS, CL_CREATED_AT,
       CL_DELAY, CL_BACKOFF, CL_N };

static const char *field(const redisReply *h, int i)
{
    if ((size_t)i >= h->elements || h->element[i]->type != REDIS_REPLY_STRING) return NULL;
    return h->element[i]->str;
}

static long long num(const char *s, long long dflt)
{
    if (!s || !*s) return dflt;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    return (errno || end == s) ? dflt : v;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d) { klog_error("out of memory"); abort(); }
    return d;
}

/* A job the claim script made active for slot: hand it to the plugin, or
 * fail it at once when it cannot run here. */
static void on_sub_state(kue_conn_t *c, int up, void *privdata);

static void start_job(struct kw_worker *w, int slot, const redisReply *h)
{
    if (h->type != REDIS_REPLY_ARRAY || h->elements < CL_N ||
        h->element[CL_ID]->type != REDIS_REPLY_STRING) {
        klog_error("claim returned a malformed entry; skipped");
        return;
    }
    struct kw_job *j = calloc(1, sizeof *j);
    if (!j) { klog_error("out of memory"); abort(); }
    j->h.api = &kw_host_api;
    j->magic = KW_JOB_MAGIC;
    j->state = KJ_RUNNING;
    j->w = w;
    snprintf(j->idstr, sizeof j->idstr, "%s", h->element[CL_ID]->str);
    j->id = num(j->idstr, -1);
    j->slot = slot;
    /* the identity the script wrote: kue:<host>:<pid>:<type>:<slot> */
    snprintf(j->wid, sizeof j->wid, "kue:%s:%d:%s:%d", w->host, w->pid, w->cfg->type, slot);
    j->type = xstrdup(w->cfg->type);         /* the script claims only this type */
    j->data = xstrdup(field(h, CL_DATA) ? field(h, CL_DATA) : "{}");
    const char *b = field(h, CL_BACKOFF);
    j->backoff = b ? xstrdup(b) : NULL;
    j->priority = (int)num(field(h, CL_PRIORITY), 0);
    j->attempts = (int)num(field(h, CL_ATTEMPTS), 0);
    j->max_attempts = (int)num(field(h, CL_MAX_ATTEMPTS), 1);
    j->created_at = num(field(h, CL_CREATED_AT), 0);
    j->ttl_ms = num(field(h, CL_TTL), 0);
    if (j->ttl_ms < 0 || j->ttl_ms > KUE_MAX_TTL_MS) j->ttl_ms = j->ttl_ms < 0 ? 0 : KUE_MAX_TTL_MS;
    j->delay_ms = num(field(h, CL_DELAY), 0);
    j->started_mono = kue_mono_ms();
    j->started_wall = kue_now_ms();
    ev_timer_init(&j->ttl_timer, on_ttl, 0., 0.);
    j->ttl_timer.data = j;

    w->slots[slot] = j;
    w->inflight++;
    w->started_jobs++;
    sb_sync(w);

    char why[800];
    if (strcmp(j->type, w->cfg->type) != 0 || !kue_pl_serves(&w->plugin, j->type)) {
        snprintf(why, sizeof why, "no handler for job type \"%.128s\" in this worker "
                 "(plugin %s, type %s)", j->type, w->plugin.name, w->cfg->type);
        klog_error("job %lld: %s", (long long)j->id, why);
        kw_job_finish(j, why, NULL);
        return;
    }
    /* Data jansson cannot represent (integers beyond 64 bits, lone
     * surrogates) is JSON all the same: the handler gets it as text and
     * kue_job_json() is NULL.  Only data JSON.parse refuses fails the job. */
    j->json = json_loads(j->data, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    char jerr[160];
    if (!j->json && kue_json_check(j->data, strlen(j->data), jerr, sizeof jerr) != 0) {
        snprintf(why, sizeof why, "invalid job data: not JSON: %s", jerr);
        klog_error("job %lld: %s", (long long)j->id, why);
        kw_job_finish(j, why, NULL);
        return;
    }
    if (j->ttl_ms > 0) {
        /* a Kue process may report "ttl exceeded" for it: listen from now on */
        if (!w->sub) w->sub = kue_conn_new(w->loop, &w->url, "pubsub", on_sub_state, w);
        ev_timer_set(&j->ttl_timer, (double)j->ttl_ms / 1000.0, 0.);
        ev_timer_start(w->loop, &j->ttl_timer);
    }
    klog_debug("job %lld: start (slot %d, attempt %d of %d)", (long long)j->id, slot,
               j->attempts + 1, j->max_attempts);
    w->in_process++;
    w->plugin.desc.process(&j->h);
    w->in_process--;
}

/* ---- fetching ------------------------------------------------------------------------ */

static int fetching_allowed(const struct kw_worker *w)
{
    return !w->draining && !w->paused && !w->quiet;
}

/* Stop a wait for a token (drain, pause, quiet): CLIENT UNBLOCK makes the
 * BRPOPLPUSH return nil at once, and the claim behind it then finds no
 * token in the wake list and takes nothing. */
static void stop_waiting(struct kw_worker *w)
{
    if (!w->wake_pending || w->blk_id <= 0 || !kue_conn_ready(w->cmd)) return;
    char id[24];
    snprintf(id, sizeof id, "%lld", w->blk_id);
    const char *av[] = { "CLIENT", "UNBLOCK", id };
    kue_conn_commandargv(w->cmd, NULL, NULL, 3, av, NULL);
}

static void held_check(struct kw_worker *w);
static void held_done(struct kw_worker *w);

static void claimed(struct kw_worker *w, redisReply *reply)
{
    if (!reply) {                       /* dropped; fetched again after reconnect */
        w->held_check = 1;              /* the claim may have run: look for its jobs */
        held_check(w);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        klog_error("claim script failed: %s", reply->str);
        w->want_wake = 1;               /* the wait's timeout paces the retries */
        kick(w);
        check_drained(w);
        return;
    }
    size_t n = reply->type == REDIS_REPLY_ARRAY ? reply->elements : 0;
    if (n < (size_t)w->claim_n) w->want_wake = 1;
    if (n == 0 && w->poll_next) w->want_wake = 0;   /* timed out: claim once without a token */
    w->poll_next = 0;
    kick(w);
    for (size_t i = 0; i < n && i < (size_t)w->claim_n; i++)
        start_job(w, w->claim_slots[i], reply->element[i]);
    held_check(w);
    check_drained(w);           /* a drain may have waited for this reply */
}

static void on_claim(redisAsyncContext *ac, void *rep, void *privdata)
{
    struct kw_worker *w = privdata;
    w->claim_pending = 0;
    claimed(w, rep);
}

static void on_wake_claim(redisAsyncContext *ac, void *rep, void *privdata)
{
    struct kw_worker *w = privdata;
    w->wake_pending = 0;
    claimed(w, rep);
}

/* The BRPOPLPUSH in front of a wake claim: nil when it timed out or was
 * unblocked; the claim's reply follows on the same connection. */
static void on_wake(redisAsyncContext *ac, void *rep, void *privdata)
{
    struct kw_worker *w = privdata;
    redisReply *reply = rep;
    if (!reply) return;
    if (reply->type == REDIS_REPLY_ERROR) {
        klog_error("waiting for a token failed: %s", reply->str);
        ev_timer_stop(w->loop, &w->blk_retry);
        ev_timer_set(&w->blk_retry, 1., 0.);
        ev_timer_start(w->loop, &w->blk_retry);
        return;
    }
    if (reply->type == REDIS_REPLY_NIL) w->poll_next = 1;
}

static void on_blk_retry(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct kw_worker *w = t->data;
    w->want_wake = 0;
    kick(w);
}

static void fetch(struct kw_worker *w)
{
    if (!kue_conn_ready(w->cmd)) return;
    if (!fetching_allowed(w)) {
        stop_waiting(w);
        return;
    }
    if (w->claim_pending || w->wake_pending || w->held_checking || ev_is_active(&w->blk_retry))
        return;
    long long free_slots = w->cfg->concurrency - w->inflight;
    if (w->cfg->max_jobs) {
        long long left = w->cfg->max_jobs - w->started_jobs;
        if (left <= 0) {
            if (!w->draining) {
                klog_info("processed %lld jobs (--max-jobs): finishing and exiting",
                          w->started_jobs);
                w->draining = 1;
                sb_sync(w);
                check_drained(w);
            }
            return;
        }
        if (free_slots > left) free_slots = left;
    }
    if (free_slots <= 0) return;
    int wake = w->want_wake;
    if (wake && !kue_conn_ready(w->blk)) return;
    /* claim: type, n, host, pid, lease_ms, tokens_taken, slot_1 .. slot_n */
    const char *av[7 + KUE_SB_MAX_INFLIGHT];
    char nbuf[16], pidbuf[16], lease[24], slotbuf[KUE_SB_MAX_INFLIGHT][8];
    int n = 0;
    for (int s = 1; s <= w->cfg->concurrency && n < free_slots; s++) {
        if (w->slots[s]) continue;
        w->claim_slots[n] = s;
        snprintf(slotbuf[n], sizeof slotbuf[n], "%d", s);
        av[7 + n] = slotbuf[n];
        n++;
    }
    if (n == 0) return;
    snprintf(nbuf, sizeof nbuf, "%d", n);
    snprintf(pidbuf, sizeof pidbuf, "%d", w->pid);
    snprintf(lease, sizeof lease, "%lld", (long long)w->cfg->lease_ms);
    av[0] = w->cfg->prefix;
    av[1] = w->cfg->type;
    av[2] = nbuf;
    av[3] = w->host;
    av[4] = pidbuf;
    av[5] = lease;
    av[6] = wake ? "w" : "0";
    if (!wake) {
        if (kue_conn_script(w->cmd, KS_CLAIM, on_claim, w, 7 + n, av, NULL) == 0) {
            w->claim_pending = 1;
            w->claim_n = n;
        }
        return;
    }
    /* The queue was empty: wait for a token on blk, moving it to our wake
     * list, with the claim pipelined behind it.  Redis runs the claim as
     * soon as the wait returns, so a new job costs one round trip from
     * enqueue to handler, not two. */
    char src[KUE_MAX_TYPE_LEN + 160], dst[600], to[16];
    snprintf(src, sizeof src, "%s:%s:jobs", w->cfg->prefix, w->cfg->type);
    snprintf(dst, sizeof dst, "%s:wake:%s:%d", w->cfg->prefix, w->host, w->pid);
    snprintf(to, sizeof to, "%d", KW_WAIT_TIMEOUT_S);
    const char *bv[] = { "BRPOPLPUSH", src, dst, to };
    if (kue_conn_commandargv(w->blk, on_wake, w, 4, bv, NULL) != 0) return;
    w->wake_pending = 1;        /* even if the claim cannot be queued: on_wake_claim clears it */
    w->claim_n = n;
    if (kue_conn_script(w->blk, KS_CLAIM, on_wake_claim, w, 7 + n, av, NULL) != 0)
        w->wake_pending = 0;
}

static void on_prepare(struct ev_loop *loop, ev_prepare *p, int revents)
{
    struct kw_worker *w = p->data;
    flush_completes(w);
    if (!w->kick) return;
    w->kick = 0;
    fetch(w);
}

/* ---- pause, drain, exit ------------------------------------------------------------------- */

static void on_pause_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    kw_resume(t->data);
}

void kw_pause(struct kw_worker *w, int64_t timeout_ms)
{
    if (!w->paused) klog_info("paused by the handler%s", timeout_ms > 0 ? " (with a timeout)" : "");
    w->paused = 1;
    ev_timer_stop(w->loop, &w->pause_timer);
    if (timeout_ms > 0) {
        ev_timer_set(&w->pause_timer, (double)timeout_ms / 1000.0, 0.);
        ev_timer_start(w->loop, &w->pause_timer);
    }
    stop_waiting(w);
    sb_sync(w);
}

void kw_resume(struct kw_worker *w)
{
    ev_timer_stop(w->loop, &w->pause_timer);
    if (w->paused) klog_info("resumed");
    w->paused = 0;
    sb_sync(w);
    kick(w);
}

static void check_drained(struct kw_worker *w)
{
    if (!w->draining || w->inflight > 0 || w->out_n > 0 || w->claim_pending || w->wake_pending)
        return;
    klog_info("drained: %llu jobs completed, %llu failed; exiting",
              (unsigned long long)w->done_ok, (unsigned long long)w->done_failed);
    ev_break(w->loop, EVBREAK_ALL);
}

static void begin_drain(struct kw_worker *w, const char *why)
{
    if (w->draining) return;
    klog_info("%s: no new jobs; finishing %d in flight", why, w->inflight);
    w->draining = 1;
    stop_waiting(w);
    sb_sync(w);
    check_drained(w);
}

static void on_signal(struct ev_loop *loop, ev_signal *s, int revents)
{
    struct kw_worker *w = s->data;
    switch (s->signum) {
    case SIGTERM:
    case SIGINT:
        if (w->draining) {
            klog_warn("second %s: exiting now with %d jobs in flight",
                      s->signum == SIGTERM ? "TERM" : "INT", w->inflight);
            w->exit_code = w->inflight ? KW_EXIT_FAIL : KW_EXIT_OK;
            ev_break(loop, EVBREAK_ALL);
            return;
        }
        begin_drain(w, s->signum == SIGTERM ? "SIGTERM" : "SIGINT");
        break;
    case SIGQUIT:
        klog_info("SIGQUIT: exiting now with %d jobs in flight", w->inflight);
        w->exit_code = w->inflight ? KW_EXIT_FAIL : KW_EXIT_OK;
        ev_break(loop, EVBREAK_ALL);
        break;
    case SIGTSTP:
        klog_info("SIGTSTP: quiet (not taking jobs)");
        w->quiet = 1;
        stop_waiting(w);
        sb_sync(w);
        break;
    case SIGCONT:
        if (w->quiet) klog_info("SIGCONT: taking jobs again");
        w->quiet = 0;
        sb_sync(w);
        kick(w);
        break;
    default:
        break;
    }
}

/* ---- timers and connections ------------------------------------------------------------------ */

static void on_renew(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct kw_worker *w = t->data;
    if (!w->inflight || !kue_conn_ready(w->cmd)) return;
    char lease[24], pid[16];
    snprintf(lease, sizeof lease, "%lld", (long long)w->cfg->lease_ms);
    snprintf(pid, sizeof pid, "%d", (int)w->pid);
    const char *av[] = { w->cfg->prefix, lease, w->host, pid };
    kue_conn_script(w->cmd, KS_RENEW, NULL, NULL, 4, av, NULL);
}

static void on_heartbeat(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct kw_worker *w = t->data;
    if (w->sbs) {
        kue_sb_write_begin(w->sbs);
        w->sbs->rss_kb = (uint64_t)rss_kb();
        kue_sb_write_end(w->sbs);
    }
    sb_sync(w);
    kick(w);        /* safety nets: never stall with free slots, or in a drain */
    check_drained(w);
}

/* ---- jobs Redis says we hold but we do not know (a claim whose reply was
 * lost with the connection): put back in the queue after a reconnect, so
 * they do not wait for their lease to expire. ------------------------------ */

struct orphan {
    struct kw_worker *w;
    int64_t id;
    char idstr[24];
};

static int held_locally(const struct kw_worker *w, int64_t id)
{
    for (int s = 1; s <= w->cfg->concurrency; s++)
        if (w->slots[s] && w->slots[s]->id == id) return 1;
    for (const struct kw_job *j = w->taken; j; j = j->taken_next)
        if (j->id == id) return 1;
    return 0;
}

static void on_orphan_owner(redisAsyncContext *ac, void *rep, void *privdata)
{
    struct orphan *o = privdata;
    struct kw_worker *w = o->w;
    redisReply *r = rep;
    char mine[KUE_MAX_TYPE_LEN + 320];
    int n = snprintf(mine, sizeof mine, "kue:%s:%d:%s:", w->host, w->pid, w->cfg->type);
    if (r && r->type == REDIS_REPLY_STRING && n > 0 && strncmp(r->str, mine, (size_t)n) == 0 &&
        !held_locally(w, o->id)) {
        klog_warn("job %lld: Redis says this worker holds it, but its claim reply was lost "
                  "with the connection; putting it back in the queue", (long long)o->id);
        const char *av[] = { o->idstr, r->str };
        report(w, KR_REQUEUE, KS_REQUEUE, o->id, 2, av, NULL);
    }
    free(o);
    held_done(w);
}

static void held_done(struct kw_worker *w)
{
    if (w->held_checking > 0 && --w->held_checking == 0) kick(w);
}

static void on_held(redisAsyncContext *ac, void *rep, void *privdata)
{
    struct kw_worker *w = privdata;
    redisReply *r = rep;
    if (r && r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements; i++) {
            if (r->element[i]->type != REDIS_REPLY_STRING) continue;
            int64_t id = num(r->element[i]->str, -1);
            if (id <= 0 || held_locally(w, id)) continue;
            struct orphan *o = calloc(1, sizeof *o);
            if (!o) continue;
            o->w = w;
            o->id = id;
            snprintf(o->idstr, sizeof o->idstr, "%lld", (long long)id);
            char key[200];
            snprintf(key, sizeof key, "%s:job:%s", w->cfg->prefix, o->idstr);
            const char *av[] = { "HGET", key, "workerId" };
            if (kue_conn_commandargv(w->cmd, on_orphan_owner, o, 3, av, NULL) != 0) free(o);
            else w->held_checking++;
        }
    }
    held_done(w);
}

/* Jobs Redis says we hold that we do not run: their claim reply was lost
 * with a connection.  Checked only while no claim is in flight on either
 * connection (a job of a pending claim is held but not yet known here), and
 * no claim is sent until the check is over. */
static void held_check(struct kw_worker *w)
{
    if (!w->held_check || w->claim_pending || w->wake_pending || w->held_checking ||
        !kue_conn_ready(w->cmd))
        return;
    char held[600];
    snprintf(held, sizeof held, "%s:held:%s:%d", w->cfg->prefix, w->host, w->pid);
    const char *av[] = { "SMEMBERS", held };
    if (kue_conn_commandargv(w->cmd, on_held, w, 2, av, NULL) == 0) {
        w->held_check = 0;
        w->held_checking = 1;
    }
}

static void on_cmd_state(kue_conn_t *c, int up, void *privdata)
{
    struct kw_worker *w = privdata;
    if (up) {
        /* Load our scripts before anything else on this connection: an
         * EVALSHA answered NOSCRIPT is re-sent as EVAL after later commands
         * ran, which would reorder a complete after the next claim. */
        static const kue_script_id used[] = { KS_CLAIM, KS_COMPLETE, KS_FAIL, KS_PROGRESS,
                                              KS_LOG, KS_RENEW };
        for (size_t i = 0; i < sizeof used / sizeof used[0]; i++)
            kue_conn_command(c, NULL, NULL, "SCRIPT LOAD %s", kue_script_source(used[i]));
        if (w->out_n) klog_info("redis back: re-sending %zu reports", w->out_n);
        outbox_flush(w);
        /* After the flush on the same connection, so reports of jobs that
         * finished while Redis was away are already applied. */
        w->held_checking = 0;   /* callbacks of a check in flight got NULL */
        w->held_check = 1;
        held_check(w);
        on_renew(w->loop, &w->renew_timer, 0);
        kick(w);
    } else {
        w->claim_pending = 0;
    }
    sb_sync(w);
}

static void on_blk_id(redisAsyncContext *ac, void *rep, void *privdata)
{
    struct kw_worker *w = privdata;
    redisReply *r = rep;
    if (r && r->type == REDIS_REPLY_INTEGER) w->blk_id = r->integer;
}

static void on_blk_state(kue_conn_t *c, int up, void *privdata)
{
    struct kw_worker *w = privdata;
    w->blk_id = 0;
    if (up) {
        kue_conn_command(c, on_blk_id, w, "CLIENT ID");
    } else if (w->wake_pending) {
        w->wake_pending = 0;    /* its claim may have run: look for its jobs */
        w->held_check = 1;
        held_check(w);
    }
    kick(w);
}

static void on_event(redisAsyncContext *ac, void *rep, void *privdata)
{
    struct kw_worker *w = privdata;
    redisReply *r = rep;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3) return;
    if (r->element[0]->type != REDIS_REPLY_STRING || strcmp(r->element[0]->str, "message") != 0)
        return;
    const redisReply *m = r->element[2];
    if (m->type != REDIS_REPLY_STRING || !strstr(m->str, "ttl exceeded")) return;
    json_t *o = json_loads(m->str, 0, NULL);
    if (!o) return;
    const char *ev = json_string_value(json_object_get(o, "event"));
    json_t *idv = json_object_get(o, "id");
    int64_t id = -1;
    if (json_is_integer(idv)) id = json_integer_value(idv);
    else if (json_is_string(idv)) id = num(json_string_value(idv), -1);
    if (ev && strcmp(ev, "ttl exceeded") == 0 && id > 0) {
        for (int s = 1; s <= w->cfg->concurrency; s++) {
            struct kw_job *j = w->slots[s];
            if (j && j->id == id) {
                take_away(j, "TTL exceeded", "ttl");
                break;
            }
        }
    }
    json_decref(o);
}

static void on_sub_state(kue_conn_t *c, int up, void *privdata)
{
    struct kw_worker *w = privdata;
    if (up && kue_conn_subscribe(c, w->events_channel, on_event, w) != 0)
        klog_warn("cannot subscribe to %s", w->events_channel);
}

/* ---- main ---------------------------------------------------------------------------------------- */

static void sig_init(struct kw_worker *w, ev_signal *s, int signum)
{
    ev_signal_init(s, on_signal, signum);
    s->data = w;
    ev_signal_start(w->loop, s);
}

int kw_run(const kw_config_t *cfg)
{
    char role[200], err[4600];
    snprintf(role, sizeof role, "worker %s", cfg->name);
    klog_init(role, cfg->log_level, cfg->log_json);

    struct kw_worker *w = calloc(1, sizeof *w);
    if (!w) return KW_EXIT_FAIL;
    w->cfg = cfg;
    w->pid = (int)getpid();
    w->exit_code = KW_EXIT_OK;
    if (gethostname(w->host, sizeof w->host) != 0 || !w->host[0])
        snprintf(w->host, sizeof w->host, "localhost");
    w->host[sizeof w->host - 1] = '\0';
    snprintf(w->events_channel, sizeof w->events_channel, "%s:events", cfg->prefix);
    int rc = KW_EXIT_OK;

    if (kue_url_parse(cfg->redis_url, &w->url, err, sizeof err) != 0) {
        klog_error("--redis: %s", err);
        free(w);
        return KW_EXIT_USAGE;
    }
    if (kue_pl_check_perms(cfg->plugin, err, sizeof err) != 0 ||
        kue_pl_open(cfg->plugin, &w->plugin, err, sizeof err) != 0) {
        klog_error("%s", err);
        free(w);
        return KW_EXIT_CONFIG;
    }
    if (kue_pl_check_type(&w->plugin, cfg->type, err, sizeof err) != 0) {
        klog_error("%s", err);
        kue_pl_close(&w->plugin);
        free(w);
        return KW_EXIT_CONFIG;
    }

    signal(SIGPIPE, SIG_IGN);
    w->loop = ev_loop_new(EVFLAG_AUTO);
    if (!w->loop) {
        klog_error("cannot create an event loop");
        kue_pl_close(&w->plugin);
        free(w);
        return KW_EXIT_FAIL;
    }
    w->ctx.pub.api = &kw_host_api;
    w->ctx.w = w;
    sb_open(w);

    if (w->plugin.desc.init && w->plugin.desc.init(&w->ctx.pub) != 0) {
        klog_error("plugin %s: init() failed; not starting", cfg->plugin);
        rc = KW_EXIT_CONFIG;
        goto out_loop;
    }

    ev_prepare_init(&w->prepare, on_prepare);
    w->prepare.data = w;
    ev_prepare_start(w->loop, &w->prepare);
    double renew = (double)cfg->lease_ms / 3000.0;
    ev_timer_init(&w->renew_timer, on_renew, renew, renew);
    w->renew_timer.data = w;
    ev_timer_start(w->loop, &w->renew_timer);
    ev_timer_init(&w->heartbeat_timer, on_heartbeat, 1., 1.);
    w->heartbeat_timer.data = w;
    ev_timer_start(w->loop, &w->heartbeat_timer);
    ev_timer_init(&w->pause_timer, on_pause_timer, 0., 0.);
    w->pause_timer.data = w;
    ev_timer_init(&w->blk_retry, on_blk_retry, 0., 0.);
    w->blk_retry.data = w;
    sig_init(w, &w->sig_term, SIGTERM);
    sig_init(w, &w->sig_int, SIGINT);
    sig_init(w, &w->sig_quit, SIGQUIT);
    sig_init(w, &w->sig_tstp, SIGTSTP);
    sig_init(w, &w->sig_cont, SIGCONT);
    sig_init(w, &w->sig_hup, SIGHUP);

    w->cmd = kue_conn_new(w->loop, &w->url, "cmd", on_cmd_state, w);
    w->blk = kue_conn_new(w->loop, &w->url, "blocking", on_blk_state, w);
    if (!w->cmd || !w->blk) {
        klog_error("out of memory");
        rc = KW_EXIT_FAIL;
    } else {
        char where[320];
        kue_url_format(&w->url, where, sizeof where);
        klog_info("processing \"%s\" with %s (concurrency %d, redis %s, prefix %s)",
                  cfg->type, w->plugin.name, cfg->concurrency, where, cfg->prefix);
        kick(w);
        ev_run(w->loop, 0);
        rc = w->exit_code;
    }

    if (w->plugin.desc.fini) w->plugin.desc.fini(&w->ctx.pub);
    if (w->sub) kue_conn_free(w->sub);
    kue_conn_free(w->blk);
    kue_conn_free(w->cmd);

out_loop:
    if (w->sbs) {
        kue_sb_write_begin(w->sbs);
        w->sbs->inflight_n = 0;
        w->sbs->redis_up = 0;
        kue_sb_write_end(w->sbs);
        kue_sb_detach(&w->sb);
    }
    for (int s = 1; s <= KUE_SB_MAX_INFLIGHT; s++)
        if (w->slots[s]) { job_free_fields(w->slots[s]); free(w->slots[s]); }
    for (int i = 0; i < KW_RETIRED_RING; i++) free(w->retired[i]);
    while (w->taken) {
        struct kw_job *j = w->taken;
        w->taken = j->taken_next;
        job_free_fields(j);
        free(j);
    }
    while (w->out_head) {
        struct kw_report *r = w->out_head;
        if (r->kind == KR_COMPLETE || r->kind == KR_FAIL)
            klog_warn("job %lld: exiting before Redis recorded its outcome", (long long)r->job_id);
        report_unlink(w, r);
        free(r);
    }
    ev_loop_destroy(w->loop);
    kue_pl_close(&w->plugin);
    free(w);
    return rc;
}
