/*
 * crash.c -- crashes the worker process on demand: raise(data.signal)
 * (default SIGSEGV).  For testing what the supervisor does when a worker
 * dies with jobs in flight: the job fails with the real cause and the
 * process is respawned.  data.signal = 0 completes the job instead.
 */
#include <jansson.h>
#include <signal.h>

#include <kue/plugin.h>

static void process(kue_handle_t *job)
{
    json_t *s = json_object_get(kue_job_json(job), "signal");
    int sig = json_is_integer(s) ? (int)json_integer_value(s) : SIGSEGV;
    if (sig == 0) {
        kue_done(job, NULL, NULL);
        return;
    }
    kue_log(job, "raising signal %d", sig);
    raise(sig);
    /* Only reached for a signal that does not kill (e.g. ignored ones). */
    kue_done(job, "crash: the signal did not end the process", NULL);
}

KUE_PLUGIN(.name = "crash", .process = process);
