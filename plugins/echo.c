/*
 * echo.c -- the smallest complete handler: completes every job with its
 * data as the result.  Synchronous: kue_done() is called before process()
 * returns.
 *
 *     kue create echo '{"hello":"world"}'   ->  result {"hello":"world"}
 */
#include <kue/plugin.h>

static void process(kue_handle_t *job)
{
    kue_done(job, NULL, kue_job_data_of(job));
}

KUE_PLUGIN(.name = "echo", .process = process);
