/*
 * /metrics of a supervisor's web process, read by the strict parser of the
 * Prometheus text format in web_common (every family has one # HELP and
 * one # TYPE before its samples, samples of a family are contiguous, names,
 * labels and values are well formed, no series repeats, histograms end at
 * le="+Inf").  And
 * counters never go down while the supervisor runs, even across a worker
 * killed with SIGKILL (Prometheus's rate() would read a drop as a reset).
 */
#include <stdlib.h>
#include <sys/stat.h>

#include <kue/kue.h>
#include "web_common.h"

TestSuite(web_metrics, .timeout = 120);

/* Every counter series of a (a counter family's samples, histogram
 * buckets, sums and counts) is present in b with a value not lower. */
static void monotonic(const wt_prom_t *a, const wt_prom_t *b, const char *when)
{
    for (int i = 0; i < a->ns; i++) {
        const wt_prom_family_t *f = NULL;
        for (int k = 0; k < a->nf; k++)
            if (!strcmp(a->f[k].name, a->s[i].family)) f = &a->f[k];
        if (!f || (strcmp(f->type, "counter") && strcmp(f->type, "histogram"))) continue;
        double v = wt_prom_value(b, a->s[i].key);
        cr_expect(v >= a->s[i].v, "%s: counter %s went from %g to %g", when, a->s[i].key,
                  a->s[i].v, v);
    }
}

static int port;
static wt_prom_t *scr(void)
{
    return wt_prom_scrape(port);
}

static long long want_done;
static int processed_reaches(void *arg)
{
    (void)arg;
    return wt_metric(port, "kue_jobs_processed_total{type=\"echo\"}") >= (double)want_done;
}

/* pid of the echo worker in /workers, 0 if none is ready */
static int echo_pid(void)
{
    wt_resp_t r = wt_get(port, "/workers");
    int pid = 0;
    const char *t = strstr(r.body, "\"type\":\"echo\",\"state\":\"ready\"");
    if (t) {
        const char *p = t;
        while (p > r.body && strncmp(p, "\"pid\":", 6) != 0) p--;
        if (!strncmp(p, "\"pid\":", 6)) pid = atoi(p + 6);
    }
    wt_resp_free(&r);
    return pid;
}

static int old_pid;
static int respawned(void *arg)
{
    (void)arg;
    int p = echo_pid();
    return p > 0 && p != old_pid;
}

Test(web_metrics, strict_exposition_and_monotonic_counters)
{
    kt_redis_t r;
    kt_redis_start(&r, 0);
    wt_sup_t sup;
    wt_sup_start(&sup, "metrics-sup", r.url, "shutdown_timeout = 3s\nrespawn_delay = 100ms\n",
                 "[promotion]\ninterval = 200ms\n[type echo]\nprocesses = 1\nconcurrency = 4\n"
                 "rate = 25/1s\n");
    port = sup.port;
    char err[256];
    kue_t *k = kue_connect(r.url, "q", err, sizeof err);
    cr_assert_not_null(k, "%s", err);

    for (int i = 0; i < 40; i++) {
        kue_job_t *j = kue_job_new("echo", "{\"n\":1}");
        if (i % 10 == 0) kue_job_set_delay(j, 1);    /* a few promotions too */
        cr_assert_gt(kue_job_save(k, j), 0);
        kue_job_free(j);
    }
    want_done = 40;
    cr_assert(kt_wait_until(processed_reaches, NULL, 20000), "40 echo jobs processed");
    wt_prom_t *a = scr();
    cr_expect_eq(wt_prom_value(a, "kue_jobs_processed_total{type=\"echo\"}"), 40);
    /* 40 jobs at 25 per second: some claims were cut short */
    cr_expect_gt(wt_prom_value(a, "kue_rate_limited_total{queue=\"q\",type=\"echo\"}"), 0);

    /* SIGKILL the worker; the master respawns it */
    old_pid = echo_pid();
    cr_assert_gt(old_pid, 0);
    cr_assert_eq(kill(old_pid, SIGKILL), 0);
    cr_assert(kt_wait_until(respawned, NULL, 15000), "the echo worker was not respawned");
    wt_prom_t *b = scr();
    monotonic(a, b, "across the kill");
    cr_expect_eq(wt_prom_value(b, "kue_jobs_processed_total{type=\"echo\"}"), 40);
    cr_expect_geq(wt_prom_value(b, "kue_worker_restarts_total"), 1);

    for (int i = 0; i < 10; i++) {
        kue_job_t *j = kue_job_new("echo", "{\"n\":2}");
        cr_assert_gt(kue_job_save(k, j), 0);
        kue_job_free(j);
    }
    want_done = 50;
    cr_assert(kt_wait_until(processed_reaches, NULL, 20000), "50 echo jobs processed");
    wt_prom_t *c = scr();
    monotonic(b, c, "after more jobs");
    cr_expect_eq(wt_prom_value(c, "kue_jobs_processed_total{type=\"echo\"}"), 50);
    free(a); free(b); free(c);

    cr_expect_eq(wt_sup_stop(&sup), 0);
    kue_free(k);
    kt_redis_stop(&r);
    kt_cleanup();
}

/* An idle drain with a web process takes tens of milliseconds: kue-web
 * does not wait for its events subscriber (blocked until the next message)
 * before exiting.  Best of three, as the machine may be busy. */
Test(web_metrics, idle_drain_with_web_is_fast)
{
    kt_redis_t r;
    kt_redis_start(&r, 0);
    int64_t best = INT64_MAX;
    for (int i = 0; i < 3; i++) {
        wt_sup_t sup;
        wt_sup_start(&sup, "drain-sup", r.url, NULL, "[type echo]\nprocesses = 2\n");
        port = sup.port;
        cr_assert(kt_wait_until(respawned, NULL, 15000), "no echo worker ready");  /* old_pid 0 */
        int64_t t0 = kt_now_ms();
        int st = wt_sup_stop(&sup);
        cr_assert_neq(st, -1, "the supervisor did not drain");
        int64_t took = kt_now_ms() - t0;
        cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "drain exit status %d", st);
        if (took < best) best = took;
    }
    fprintf(stderr, "idle drain with web: best of 3 %lld ms\n", (long long)best);
    cr_expect_lt(best, 200, "idle drain with web took %lld ms", (long long)best);
    kt_redis_stop(&r);
    kt_cleanup();
}
