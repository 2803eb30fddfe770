/*
 * sleep.c -- the asynchronous example: waits data.ms milliseconds on the
 * worker's event loop (an ev_timer, never sleep()), reporting progress and
 * a log line ten times on the way, then completes with {"slept":ms}.
 *
 *     data: {"ms": 2000}            (default 1000)
 *
 * process() starts a timer and returns at once; the worker keeps running
 * other jobs (up to its concurrency) while this one waits.  The per-job
 * state lives in a malloc'ed struct freed when the job is done.
 */
#include <ev.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include <kue/plugin.h>

#define STEPS 10

struct nap {
    ev_timer timer;            /* first: the watcher pointer is the struct */
    kue_handle_t *job;
    long long ms;
    int step;
};

static void tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct nap *n = (struct nap *)w;
    (void)revents;
    n->step++;
    kue_progress(n->job, n->step, STEPS, NULL);
    kue_log(n->job, "slept %lld of %lld ms", n->ms * n->step / STEPS, n->ms);
    if (n->step < STEPS) return;            /* the repeating timer fires again */
    ev_timer_stop(loop, w);
    char result[64];
    snprintf(result, sizeof result, "{\"slept\":%lld}", n->ms);
    kue_done(n->job, NULL, result);
    free(n);
}

static void process(kue_handle_t *job)
{
    json_t *ms = json_object_get(kue_job_json(job), "ms");
    long long total = json_is_integer(ms) ? json_integer_value(ms) : 1000;
    if (total < 0) {
        kue_done(job, "data.ms must not be negative", NULL);
        return;
    }
    struct nap *n = calloc(1, sizeof *n);
    if (!n) {
        kue_done(job, "out of memory", NULL);
        return;
    }
    n->job = job;
    n->ms = total;
    double step = (double)total / 1000.0 / STEPS;
    ev_timer_init(&n->timer, tick, step, step > 0 ? step : 0.001);
    ev_timer_start(kue_loop(kue_job_ctx(job)), &n->timer);
}

KUE_PLUGIN(.name = "sleep", .process = process);
