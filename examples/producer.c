/*
 * producer.c -- the C producer of the README: one "email" job, high
 * priority, three attempts with exponential backoff.  It connects to
 * $KUE_REDIS_URL (as the kue CLI does; `make run` prints nothing but uses
 * unix://$PWD/build/run/redis.sock), else redis://127.0.0.1:6379/0.
 *
 *   cc -o producer examples/producer.c $(pkg-config --cflags --libs kue)
 *   KUE_REDIS_URL=unix://$PWD/build/run/redis.sock ./producer
 */
#include <kue/kue.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    const char *url = getenv("KUE_REDIS_URL");
    if (!url || !*url) url = "redis://127.0.0.1:6379/0";
    char err[256];
    kue_t *k = kue_connect(url, "q", err, sizeof err);
    if (!k) { fprintf(stderr, "%s: %s\n", url, err); return 1; }
    kue_job_t *job = kue_job_new("email", "{\"title\":\"welcome\",\"to\":\"a@b.c\"}");
    kue_job_set_priority_name(job, "high");
    kue_job_set_attempts(job, 3);
    kue_job_set_backoff(job, "{\"type\":\"exponential\",\"delay\":1000}");
    int64_t id = kue_job_save(k, job);          /* one round trip */
    if (id < 0) fprintf(stderr, "%s\n", kue_errstr(k));
    else printf("created job %lld\n", (long long)id);
    kue_job_free(job);
    kue_free(k);
    return id < 0;
}
