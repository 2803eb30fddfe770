/*
 * cancel.c -- a test plugin for cancelling running jobs
 * (tests/integration/control_cancel.c), built by the test itself.  The
 * job's data picks what the handler does:
 *
 *   {"ms": N}        wait N ms on the event loop, complete; a cancel stops
 *                    the wait and fails the job with "cancelled"
 *   {"spin": true}   hold the event loop forever (a busy loop)
 *
 * Built with -DKUE_TEST_OLD_ABI against tests/plugins/abi1/kue/plugin.h
 * (the header before the cancel hook existed), it has no cancel hook: the
 * test checks such a plugin still loads and its worker is killed at once.
 */
#include <ev.h>
#include <jansson.h>
#include <stdlib.h>

#include <kue/plugin.h>

struct nap {
    ev_timer timer;              /* first: the watcher pointer is the struct */
    kue_handle_t *job;
    struct nap *next;
};

static struct nap *naps;         /* the waits in flight, for the cancel hook */

static void unlink_nap(struct nap *n)
{
    for (struct nap **p = &naps; *p; p = &(*p)->next)
        if (*p == n) {
            *p = n->next;
            return;
        }
}

static void wake(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct nap *n = (struct nap *)w;
    (void)revents;
    ev_timer_stop(loop, w);
    unlink_nap(n);
    kue_done(n->job, NULL, NULL);
    free(n);
}

static void process(kue_handle_t *job)
{
    json_t *d = kue_job_json(job);
    if (json_is_true(json_object_get(d, "spin"))) {
        volatile unsigned long x = 0;
        for (;;)
            x++;
    }
    struct nap *n = calloc(1, sizeof(*n));
    if (!n) {
        kue_done(job, "out of memory", NULL);
        return;
    }
    n->job = job;
    n->next = naps;
    naps = n;
    ev_timer_init(&n->timer, wake, (double)json_integer_value(json_object_get(d, "ms")) / 1000.0,
                  0.);
    ev_timer_start(kue_loop(kue_job_ctx(job)), &n->timer);
}

#ifndef KUE_TEST_OLD_ABI
static void cancel(kue_handle_t *job)
{
    for (struct nap *n = naps; n; n = n->next)
        if (n->job == job) {
            ev_timer_stop(kue_loop(kue_job_ctx(job)), &n->timer);
            unlink_nap(n);
            kue_log(job, "stopped by the cancel hook");
            kue_done(job, "cancelled", NULL);
            free(n);
            return;
        }
}

KUE_PLUGIN(.process = process, .cancel = cancel);
#else
KUE_PLUGIN(.process = process);
#endif
