/*
 * stamp.c -- the bench's no-op handler plugin: it writes "id ns" (the job id
 * and CLOCK_REALTIME in nanoseconds at handler start) to the file named by
 * KUE_BENCH_STAMPS, then completes the job with no result.  Built by
 * bench/run.sh; used for the latency and promotion-lag phases.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <kue/plugin.h>

static int fd = -1;

static int init(kue_plugin_ctx_t *ctx)
{
    (void)ctx;
    const char *p = getenv("KUE_BENCH_STAMPS");
    if (p && *p) fd = open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    return 0;
}

static void process(kue_handle_t *job)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (fd >= 0) {
        char b[64];
        int n = snprintf(b, sizeof b, "%lld %lld\n", (long long)kue_job_id_of(job),
                         (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
        if (write(fd, b, (size_t)n) < 0) { /* a lost stamp shows as a missing sample */ }
    }
    kue_done(job, NULL, NULL);
}

KUE_PLUGIN(.name = "stamp", .init = init, .process = process);
