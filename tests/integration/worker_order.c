/*
 * Fetch order and the concurrency limit: with concurrency 1 jobs run by
 * priority (critical first), FIFO within one priority; with concurrency N
 * never more than N jobs are in flight, seen both by the handler and in
 * Redis's active set.
 */
#include "worker_common.h"

TestSuite(worker_order, .init = wt_setup, .fini = wt_teardown, .timeout = 60);

/* Appends each job's data.tag to the file named by data.file. */
static const char *order_src =
    "#include <stdio.h>\n#include <jansson.h>\n#include <kue/plugin.h>\n"
    "static void process(kue_handle_t *job) {\n"
    "    json_t *d = kue_job_json(job);\n"
    "    FILE *f = fopen(json_string_value(json_object_get(d, \"file\")), \"a\");\n"
    "    if (f) { fprintf(f, \"%s\\n\", json_string_value(json_object_get(d, \"tag\"))); fclose(f); }\n"
    "    kue_done(job, NULL, NULL);\n"
    "}\n"
    "KUE_PLUGIN(.process = process);\n";

Test(worker_order, priority_then_fifo)
{
    const char *so = wt_build_plugin("order", order_src);
    char file[512], data[1024];
    snprintf(file, sizeof file, "%s/order.txt", kt_tmpdir());
    struct { const char *tag; int prio; } jobs[] = {
        { "low1", KUE_PRIORITY_LOW }, { "normal1", 0 }, { "crit1", KUE_PRIORITY_CRITICAL },
        { "high1", KUE_PRIORITY_HIGH }, { "normal2", 0 }, { "low2", KUE_PRIORITY_LOW },
        { "crit2", KUE_PRIORITY_CRITICAL }, { "normal3", 0 }, { "medium1", KUE_PRIORITY_MEDIUM },
    };
    int n = (int)(sizeof jobs / sizeof jobs[0]);
    for (int i = 0; i < n; i++) {
        snprintf(data, sizeof data, "{\"file\":\"%s\",\"tag\":\"%s\"}", file, jobs[i].tag);
        wt_enqueue_opts("order", data, jobs[i].prio, 1, NULL, 0);
    }
    pid_t w = wt_worker("order", so, 1, wt_log("order"), NULL);
    wt_wait_zcard("q:jobs:order:complete", n, 5000);
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
    char *got = kt_read_file(file);
    cr_assert_str_eq(got, "crit1\ncrit2\nhigh1\nmedium1\nnormal1\nnormal2\nnormal3\nlow1\nlow2\n");
    free(got);
}

/* Async: holds each job 100 ms; tracks the largest number in flight and
 * fails the job if the worker ever gave it more than data.max. */
static const char *conc_src =
    "#include <stdio.h>\n#include <stdlib.h>\n#include <ev.h>\n#include <jansson.h>\n"
    "#include <kue/plugin.h>\n"
    "static int inflight, peak;\n"
    "struct t { ev_timer w; kue_handle_t *job; };\n"
    "static void fire(struct ev_loop *l, ev_timer *w, int r) {\n"
    "    (void)r; struct t *t = (struct t *)w; ev_timer_stop(l, w);\n"
    "    char res[64]; snprintf(res, sizeof res, \"{\\\"peak\\\":%d}\", peak);\n"
    "    inflight--; kue_done(t->job, NULL, res); free(t);\n"
    "}\n"
    "static void process(kue_handle_t *job) {\n"
    "    int max = (int)json_integer_value(json_object_get(kue_job_json(job), \"max\"));\n"
    "    if (++inflight > peak) peak = inflight;\n"
    "    if (inflight > max) { inflight--; kue_done(job, \"too many in flight\", NULL); return; }\n"
    "    struct t *t = calloc(1, sizeof *t); t->job = job;\n"
    "    ev_timer_init(&t->w, fire, 0.1, 0.);\n"
    "    ev_timer_start(kue_loop(kue_job_ctx(job)), &t->w);\n"
    "}\n"
    "KUE_PLUGIN(.process = process);\n";

struct sampler { int max_seen; };

static int sample_active(void *arg)
{
    struct sampler *s = arg;
    long long a = kt_int(wt_rc, "ZCARD q:jobs:conc:active");
    if (a > s->max_seen) s->max_seen = (int)a;
    return kt_int(wt_rc, "ZCARD q:jobs:conc:complete") + kt_int(wt_rc, "ZCARD q:jobs:conc:failed") == 30;
}

Test(worker_order, concurrency_never_exceeded)
{
    const char *so = wt_build_plugin("conc", conc_src);
    for (int i = 0; i < 30; i++) wt_enqueue("conc", "{\"max\":4}");
    pid_t w = wt_worker("conc", so, 4, wt_log("conc"), NULL);
    struct sampler s = { 0 };
    cr_assert(kt_wait_until(sample_active, &s, 10000), "jobs did not finish");
    cr_assert_eq(kt_int(wt_rc, "ZCARD q:jobs:conc:failed"), 0, "the handler saw > 4 in flight");
    cr_assert_leq(s.max_seen, 4, "Redis showed %d active", s.max_seen);
    cr_assert_geq(s.max_seen, 2, "jobs did not run concurrently (max %d)", s.max_seen);
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
}
