/*
 * /metrics of a supervisor's web process, read by the strict parser of the
 * Prometheus text format in web_common (every family has one # HELP and
 * one # TYPE before its samples, samples of a family are contiguous, names,
 * labels and values are well formed, no series repeats, histograms end at
 * le="+Inf").  And
 * counters never go down while the supervisor runs, even across a worker
 * killed with SIGKILL (Prometheus's rate() would read a drop as a reset),
 * or a reload that removes a type whose workers were restarted.
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

/* pid of a ready worker of type in /workers, 0 if none is ready */
static int ready_pid(const char *type)
{
    wt_resp_t r = wt_get(port, "/workers");
    int pid = 0;
    char needle[128];
    snprintf(needle, sizeof needle, "\"type\":\"%s\",\"state\":\"ready\"", type);
    const char *t = strstr(r.body, needle);
    if (t) {
        const char *p = t;
        while (p > r.body && strncmp(p, "\"pid\":", 6) != 0) p--;
        if (!strncmp(p, "\"pid\":", 6)) pid = atoi(p + 6);
    }
    wt_resp_free(&r);
    return pid;
}

static int echo_pid(void)
{
    return ready_pid("echo");
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

static int sleep_respawned(void *arg)
{
    (void)arg;
    int p = ready_pid("sleep");
    return p > 0 && p != old_pid;
}

static const char *sup_log;
static int log_has(void *needle)
{
    char *t = kt_read_file(sup_log);
    int r = t && strstr(t, needle);
    free(t);
    return r;
}

/* *pid is gone (exited and reaped) */
static int reaped(void *arg)
{
    return kill(*(int *)arg, 0) < 0;
}

static int two_echo_ready(void *arg)
{
    (void)arg;
    wt_resp_t r = wt_get(port, "/workers");
    int n = 0;
    for (const char *p = r.body; (p = strstr(p, "\"type\":\"echo\",\"state\":\"ready\"")); p++)
        n++;
    wt_resp_free(&r);
    return n == 2;
}

/* A type with restarts removed by a reload, its process entry (and
 * scoreboard slot) then taken by a worker of another type: its
 * kue_worker_restarts_by_type_total stays, and the family's sum is
 * kue_worker_restarts_total. */
Test(web_metrics, restarts_by_type_survive_the_removal_of_the_type)
{
    kt_redis_t r;
    kt_redis_start(&r, 0);
    char dir[600], ini[700], log[700], conf[2048];
    snprintf(dir, sizeof dir, "%s/restarts-sup", kt_tmpdir());
    mkdir(dir, 0755);
    snprintf(ini, sizeof ini, "%s/workers.ini", dir);
    snprintf(log, sizeof log, "%s/supervisor.log", dir);
    sup_log = log;
    port = kt_free_port();
#define RESTARTS_CONF "[supervisor]\nplugins = %s/plugins\nrun_dir = run\nshutdown_timeout = 3s\n" \
                      "respawn_delay = 100ms\n[redis]\nurl = %s\nprefix = q\n" \
                      "[web]\nlisten = 127.0.0.1:%d\n[type echo]\nprocesses = 1\n%s"
    snprintf(conf, sizeof conf, RESTARTS_CONF, kt_build(), r.url, port, "[type sleep]\nprocesses = 1\n");
    kt_write_file(ini, conf);
    char bin[600];
    kt_bin("kue-supervisor", bin, sizeof bin);
    char *argv[] = { bin, "-c", ini, NULL };
    pid_t sup = kt_spawn(argv, log);
    cr_assert(wt_wait_port(port, 15000), "web did not start");
    old_pid = 0;
    cr_assert(kt_wait_until(sleep_respawned, NULL, 15000), "no sleep worker ready");
    old_pid = ready_pid("sleep");
    cr_assert_eq(kill(old_pid, SIGKILL), 0);
    cr_assert(kt_wait_until(sleep_respawned, NULL, 15000), "the sleep worker was not respawned");
    int sleep_pid = ready_pid("sleep");
    cr_assert_gt(sleep_pid, 0);
    wt_prom_t *a = scr();
    cr_expect_eq(wt_prom_value(a, "kue_worker_restarts_by_type_total{type=\"sleep\"}"), 1);

    /* sleep removed; then one more echo worker, in the freed entry */
    snprintf(conf, sizeof conf, RESTARTS_CONF, kt_build(), r.url, port, "");
    kt_write_file(ini, conf);
    kill(sup, SIGHUP);
    cr_assert(kt_wait_until(log_has, "reloaded (generation 2)", 15000), "not reloaded");
    cr_assert(kt_wait_until(reaped, &sleep_pid, 15000), "the sleep worker did not stop");
    kill(sup, SIGTTIN);
    cr_assert(kt_wait_until(two_echo_ready, NULL, 15000), "no second echo worker");
    wt_prom_t *b = scr();
    monotonic(a, b, "across the removal of a type");
    cr_expect_eq(wt_prom_value(b, "kue_worker_restarts_by_type_total{type=\"sleep\"}"), 1);
    double sum = 0;
    for (int i = 0; i < b->ns; i++)
        if (!strcmp(b->s[i].family, "kue_worker_restarts_by_type_total"))
            sum += b->s[i].v;
    cr_expect_eq(sum, wt_prom_value(b, "kue_worker_restarts_total"));
    free(a);
    free(b);

    kill(sup, SIGTERM);
    int st = 0;
    cr_expect_eq(kt_wait(sup, 15000, &st), 0);
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
