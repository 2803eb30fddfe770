/*
 * control.c -- operator control that reaches every worker process on every
 * host: cancelling a running job and pausing a type (docs/supervision.md,
 * section 7).
 *
 * `ctl` subscribes to P:control, where libkue/lua/cancel.lua publishes
 * "cancel <id>" and libkue/lua/pause.lua "pause <type>" / "resume <type>".
 * Operators send these rarely, so every worker listens from its start.
 *
 *  - cancel of a job this process runs: the plugin's cancel hook is
 *    called (the handler should finish with kue_done(job, "cancelled",
 *    NULL)); a plugin without one asks its master to kill the process at
 *    once, through its scoreboard slot (cancel_job).  The master also
 *    kills it when the grace time passes (supervisor/control.c), which
 *    covers a handler that holds the loop and never sees the message.
 *  - pause: the claim script claims nothing of a paused type and answers
 *    'paused' (so no claim anywhere succeeds once the pause is stored);
 *    the message only ends an idle worker's wait at once.  While paused,
 *    the worker asks Redis every second whether the pause is still there,
 *    in case the resume message was lost with a connection.
 */
#include "worker_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "util.h"

/* P:control: the channel of cancel and pause messages. */
static void control_channel(const struct kw_worker *w, char *buf, size_t len)
{
    kue_key_control(buf, len, w->cfg->prefix);
}

/* P:paused: the set of paused types. */
static void paused_key(const struct kw_worker *w, char *buf, size_t len)
{
    kue_key_paused(buf, len, w->cfg->prefix);
}

void kw_type_paused(struct kw_worker *w, int paused)
{
    if (paused == w->type_paused) return;
    w->type_paused = paused;
    if (paused) {
        klog_info("type \"%s\" is paused (kue pause): taking no new jobs; %d in flight go on",
                  w->cfg->type, w->inflight);
        kw_fetch_stop_waiting(w);
    } else {
        klog_info("type \"%s\" resumed: taking jobs again", w->cfg->type);
        kw_kick(w);
    }
    kw_sb_sync(w);
}

static void cancel_job(struct kw_worker *w, int64_t id)
{
    struct kw_job *j = NULL;
    for (int s = 1; s <= w->cfg->concurrency; s++)
        if (w->slots[s] && w->slots[s]->id == id) j = w->slots[s];
    if (!j || j->cancelled) return;
    j->cancelled = 1;
    if (w->plugin.desc.cancel) {
        klog_info("job %lld: cancelled; calling the plugin's cancel hook", (long long)id);
        kw_handler_touch(w, j);
        w->plugin.desc.cancel(&j->h);
        return;
    }
    if (w->sbs) {
        klog_warn("job %lld: cancelled and plugin %s has no cancel hook: asking the supervisor "
                  "to stop this process", (long long)id, w->plugin.name);
        kue_sb_write_begin(w->sbs);
        w->sbs->cancel_job = id;
        kue_sb_write_end(w->sbs);
        return;
    }
    /* run by hand, without a supervisor to kill us: the job's attempt is
     * failed here and the handler's later kue_done() is ignored */
    kw_job_take_away(j, "cancelled", "");
}

static void on_control(redisAsyncContext *ac, void *rep, void *privdata)
{
    struct kw_worker *w = privdata;
    redisReply *r = rep;
    (void)ac;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_STRING || strcmp(r->element[0]->str, "message") != 0 ||
        r->element[2]->type != REDIS_REPLY_STRING)
        return;
    const char *m = r->element[2]->str;
    if (!strncmp(m, "cancel ", 7)) {
        long long id = kw_num(m + 7, -1);
        if (id > 0) cancel_job(w, id);
    } else if (!strncmp(m, "pause ", 6)) {
        if (!strcmp(m + 6, w->cfg->type)) kw_type_paused(w, 1);
    } else if (!strncmp(m, "resume ", 7)) {
        if (!strcmp(m + 7, w->cfg->type)) kw_type_paused(w, 0);
    }
}

static void on_ctl_state(kue_conn_t *c, int up, void *privdata)
{
    struct kw_worker *w = privdata;
    char ch[160];
    control_channel(w, ch, sizeof ch);
    if (up && kue_conn_subscribe(c, ch, on_control, w) != 0)
        klog_warn("cannot subscribe to %s", ch);
    /* a resume may have been missed while the connection was down */
    if (up && w->type_paused) kw_control_poll(w);
}

void kw_control_open(struct kw_worker *w)
{
    if (!w->ctl) w->ctl = kue_conn_new(w->loop, &w->url, "control", on_ctl_state, w);
}

static void on_paused(redisAsyncContext *ac, void *rep, void *privdata)
{
    struct kw_worker *w = privdata;
    redisReply *r = rep;
    (void)ac;
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 0) kw_type_paused(w, 0);
}

void kw_control_poll(struct kw_worker *w)
{
    if (!w->type_paused || !kue_conn_ready(w->cmd)) return;
    char key[200];
    paused_key(w, key, sizeof key);
    const char *av[] = { "SISMEMBER", key, w->cfg->type };
    kue_conn_commandargv(w->cmd, on_paused, w, 3, av, NULL);
}
