/*
 * flaky.c -- fails the first data.fail attempts of a job, then completes:
 * the example for retries and backoff.
 *
 *     kue create flaky '{"fail":2}' --attempts 3 --backoff '{"type":"fixed","delay":500}'
 *
 * It also shows the backoff hook: a job whose backoff Node Kue stored as a
 * JavaScript function gets its retry delay from flaky_backoff() instead
 * (here 100 ms times the attempts made).
 */
#include <jansson.h>
#include <stdio.h>

#include <kue/plugin.h>

static void process(kue_handle_t *job)
{
    json_t *f = json_object_get(kue_job_json(job), "fail");
    int fail = json_is_integer(f) ? (int)json_integer_value(f) : 1;
    int attempt = kue_job_attempts_of(job) + 1;        /* this attempt, 1-based */
    if (attempt <= fail) {
        char err[64];
        snprintf(err, sizeof err, "flaky: attempt %d of %d planned failures", attempt, fail);
        kue_log(job, "failing on purpose (attempt %d)", attempt);
        kue_done(job, err, NULL);
        return;
    }
    char result[64];
    snprintf(result, sizeof result, "{\"attempt\":%d}", attempt);
    kue_done(job, NULL, result);
}

static int64_t flaky_backoff(int attempts, int64_t delay_ms)
{
    (void)delay_ms;
    return 100 * (int64_t)attempts;
}

KUE_PLUGIN(.name = "flaky", .process = process, .backoff = flaky_backoff);
