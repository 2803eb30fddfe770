/*
 * async_producer.c -- the README's non-blocking producer: 1000 "email" jobs
 * saved from a libev loop, 50 in flight at a time.  Connects to
 * $KUE_REDIS_URL, else redis://127.0.0.1:6379/0.
 *
 *   cc -o async_producer examples/async_producer.c $(pkg-config --cflags --libs kue)
 *   KUE_REDIS_URL=unix://$PWD/build/run/redis.sock ./async_producer
 */
#include <kue/async.h>
#include <stdio.h>
#include <stdlib.h>

static long next, done, failed, total = 1000;

static void saved(kue_async_t *a, int64_t id, const char *err, void *job);

static void send_one(kue_async_t *a)
{
    if (next == total) return;
    char data[32];
    snprintf(data, sizeof data, "{\"n\":%ld}", next);
    kue_job_t *job = kue_job_new("email", data);
    if (kue_async_save(a, job, saved, job) == 0) next++;
    else { fprintf(stderr, "%s\n", kue_async_errstr(a)); kue_job_free(job); }
}

static void saved(kue_async_t *a, int64_t id, const char *err, void *job)
{
    kue_job_free(job);                       /* the job is ours again */
    if (id == 0) { fprintf(stderr, "not saved: %s\n", err); failed++; }
    if (++done == total) ev_break(EV_DEFAULT, EVBREAK_ALL);
    else send_one(a);                        /* the chain goes on */
}

static void on_state(kue_async_t *a, int connected, void *privdata)
{
    (void)privdata;
    if (connected)
        for (int i = 0; i < 50; i++) send_one(a);   /* 50 saves in flight */
}

int main(void)
{
    const char *url = getenv("KUE_REDIS_URL");
    if (!url || !*url) url = "redis://127.0.0.1:6379/0";
    char err[256];
    kue_async_t *a = kue_async_connect(EV_DEFAULT, url, "q", err, sizeof err);
    if (!a) { fprintf(stderr, "%s: %s\n", url, err); return 1; }
    kue_async_set_state_fn(a, on_state, NULL);
    ev_run(EV_DEFAULT, 0);
    kue_async_free(a);
    printf("saved %ld of %ld jobs\n", done - failed, total);
    return failed != 0;
}
