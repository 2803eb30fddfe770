/*
 * jobs.c -- a job's life in the worker: from the claim's reply to the
 * handler (kw_job_start), its outcome into the outbox (kw_job_finish), the
 * ttl (a timer here, or Kue's "ttl exceeded" event for a job we hold: the
 * attempt fails while the handler still holds the job), and the retired
 * ring that catches a repeated done().
 *
 * `sub` listens on P:events for Kue's "ttl exceeded"; it is opened only
 * when the first job with a ttl starts: every subscriber receives every
 * event of the queue (three per job), so workers of types without ttl jobs
 * stay off the channel and cost Redis nothing per published event.
 */
#include "worker_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "util.h"

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
    kw_sb_sync(w);
    kw_kick(w);
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
    kw_outbox_add(w, KR_FAIL, KS_FAIL, j->id, 5, av, lv);
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
        kw_outbox_add(w, KR_COMPLETE, KS_COMPLETE, j->id, 4, av, NULL);
        free(res);
        w->done_ok++;
    } else {
        report_fail(w, j, error, "");
    }
    release_slot(w, j);
    retire(w, j);
    kw_check_drained(w);
}

/* Fail the attempt of a running job while its handler still holds it. */
void kw_job_take_away(struct kw_job *j, const char *error, const char *cause)
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
    kw_check_drained(w);
}

static void on_ttl(struct ev_loop *loop, ev_timer *t, int revents)
{
    kw_job_take_away(t->data, "TTL exceeded", "ttl");
}

void kw_report_progress(struct kw_job *j, long pct, const char *data_json)
{
    kw_handler_touch(j->w, j);
    char p[24];
    snprintf(p, sizeof p, "%ld", pct);
    const char *av[] = { j->idstr, j->wid, p, data_json ? data_json : "" };
    kw_outbox_add(j->w, KR_PROGRESS, KS_PROGRESS, j->id, 4, av, NULL);
}

void kw_report_log(struct kw_job *j, const char *line, size_t len)
{
    kw_handler_touch(j->w, j);
    const char *av[] = { j->idstr, line };
    size_t lv[] = { strlen(j->idstr), len };
    kw_outbox_add(j->w, KR_LOG, KS_LOG, j->id, 2, av, lv);
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

long long kw_num(const char *s, long long dflt)
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

/* Which handler holds the loop, published in the scoreboard: when a hard
 * timeout kills this process, the master blames that job, not the one
 * whose deadline came first (the loop was not free to finish it).  Known
 * inside process(), and inside any watcher callback from the moment it
 * reports progress or a log line for a job (kw_handler_touch); the
 * callbacks' start time feeds the orphan watchdog. */
static void handler_mark(struct kw_worker *w, int64_t id, int64_t since_wall)
{
    if (!w->sbs) return;
    kue_sb_write_begin(w->sbs);
    w->sbs->handler_job = id;
    w->sbs->handler_since_ms = since_wall;
    kue_sb_write_end(w->sbs);
}

static void handler_enter(struct kw_worker *w, struct kw_job *j)
{
    w->handler_job = j->id;
    w->handler_since = kue_mono_ms();
    handler_mark(w, j->id, kue_now_ms());
}

/* Back in the callbacks that called process(): their job is not known. */
static void handler_leave(struct kw_worker *w)
{
    w->handler_job = 0;
    w->handler_since = w->cb_since_mono;
    handler_mark(w, 0, 0);
}

void kw_handler_touch(struct kw_worker *w, const struct kw_job *j)
{
    if (!w->cb_since_mono || w->handler_job == j->id) return;   /* the latest one counts */
    w->handler_job = j->id;
    handler_mark(w, j->id, w->cb_since_wall);
}

void kw_callbacks_begin(struct kw_worker *w)
{
    w->cb_since_wall = kue_now_ms();
    w->cb_since_mono = kue_mono_ms();
    w->handler_since = w->cb_since_mono;
}

void kw_callbacks_end(struct kw_worker *w)
{
    w->cb_since_mono = 0;
    w->handler_since = 0;
    if (w->handler_job) {
        w->handler_job = 0;
        handler_mark(w, 0, 0);
    }
}

/* A job the claim script made active for slot: hand it to the plugin, or
 * fail it at once when it cannot run here. */

void kw_job_start(struct kw_worker *w, int slot, const redisReply *h)
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
    j->id = kw_num(j->idstr, -1);
    j->slot = slot;
    /* the identity the script wrote: kue:<host>:<pid>:<type>:<slot> */
    kue_worker_id(j->wid, sizeof j->wid, w->host, w->pid, w->cfg->type, slot);
    j->type = xstrdup(w->cfg->type);         /* the script claims only this type */
    j->data = xstrdup(field(h, CL_DATA) ? field(h, CL_DATA) : "{}");
    const char *b = field(h, CL_BACKOFF);
    j->backoff = b ? xstrdup(b) : NULL;
    j->priority = (int)kw_num(field(h, CL_PRIORITY), 0);
    j->attempts = (int)kw_num(field(h, CL_ATTEMPTS), 0);
    j->max_attempts = (int)kw_num(field(h, CL_MAX_ATTEMPTS), 1);
    j->created_at = kw_num(field(h, CL_CREATED_AT), 0);
    j->ttl_ms = kw_num(field(h, CL_TTL), 0);
    if (j->ttl_ms < 0 || j->ttl_ms > KUE_MAX_TTL_MS) j->ttl_ms = j->ttl_ms < 0 ? 0 : KUE_MAX_TTL_MS;
    j->delay_ms = kw_num(field(h, CL_DELAY), 0);
    j->started_mono = kue_mono_ms();
    j->started_wall = kue_now_ms();
    ev_timer_init(&j->ttl_timer, on_ttl, 0., 0.);
    j->ttl_timer.data = j;

    w->slots[slot] = j;
    w->inflight++;
    w->started_jobs++;
    kw_sb_sync(w);

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
        kw_sub_open(w);
        ev_timer_set(&j->ttl_timer, (double)j->ttl_ms / 1000.0, 0.);
        ev_timer_start(w->loop, &j->ttl_timer);
    }
    klog_debug("job %lld: start (slot %d, attempt %d of %d)", (long long)j->id, slot,
               j->attempts + 1, j->max_attempts);
    handler_enter(w, j);
    w->plugin.desc.process(&j->h);
    handler_leave(w);
}

int kw_job_known(const struct kw_worker *w, int64_t id)
{
    for (int s = 1; s <= w->cfg->concurrency; s++)
        if (w->slots[s] && w->slots[s]->id == id) return 1;
    for (const struct kw_job *j = w->taken; j; j = j->taken_next)
        if (j->id == id) return 1;
    /* finished here, its outcome not yet taken by Redis (refused, or held
     * back by a slot migration): still this worker's to settle */
    for (const struct kw_report *r = w->out.head; r; r = r->next)
        if (r->job_id == id) return 1;
    return 0;
}

/* ---- Kue's "ttl exceeded" ---------------------------------------------------- */

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
    else if (json_is_string(idv)) id = kw_num(json_string_value(idv), -1);
    if (ev && strcmp(ev, "ttl exceeded") == 0 && id > 0) {
        for (int s = 1; s <= w->cfg->concurrency; s++) {
            struct kw_job *j = w->slots[s];
            if (j && j->id == id) {
                kw_job_take_away(j, "TTL exceeded", "ttl");
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


void kw_sub_open(struct kw_worker *w)
{
    if (!w->sub) w->sub = kue_conn_new(w->loop, &w->url, "pubsub", on_sub_state, w);
}

/* At exit: every job shell still here. */
void kw_jobs_free(struct kw_worker *w)
{
    for (int s = 1; s <= KUE_SB_MAX_INFLIGHT; s++)
        if (w->slots[s]) { job_free_fields(w->slots[s]); free(w->slots[s]); }
    for (int i = 0; i < KW_RETIRED_RING; i++) free(w->retired[i]);
    while (w->taken) {
        struct kw_job *j = w->taken;
        w->taken = j->taken_next;
        job_free_fields(j);
        free(j);
    }
}
