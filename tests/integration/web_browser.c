/*
 * The dashboard in real headless Chromium: tests/browser/dashboard.js loads
 * it with jobs in every state, switches tabs, scrolls for more, watches a
 * live count change, opens a failed job and retries it, filters, removes
 * exactly the rows a filter shows, checks the Workers view, the throughput
 * chart and the phone layout; this test then checks Redis.  The web process
 * is the one a real kue-supervisor runs (so the Workers view has workers
 * with jobs in flight).  A second run with Redis stopped checks the page
 * says so.  A kue-web over two queues checks the queue selector.
 * Screenshots go to $KUE_BUILD/screenshots/.  Skips, saying so,
 * without /usr/bin/chromium or playwright-core in tests/node.
 */
#include <stdlib.h>
#include <sys/stat.h>

#include <kue/kue.h>
#include "web_common.h"

TestSuite(web_browser, .timeout = 180);

static int processed(void *arg)
{
    redisContext *c = arg;
    return kt_int(c, "ZCARD q:jobs:echo:complete") == 30 &&
           kt_int(c, "ZCARD q:jobs:sleep:complete") == 3 &&
           kt_int(c, "ZCARD q:jobs:sleep:active") == 2;
}

static void need_chromium(void)
{
    char pw[1024];
    snprintf(pw, sizeof pw, "%s/tests/node/node_modules/playwright-core/package.json", kt_srcdir());
    const char *exe = getenv("CHROMIUM") ? getenv("CHROMIUM") : "/usr/bin/chromium";
    struct stat sb;
    if (stat(exe, &sb) != 0 || stat(pw, &sb) != 0 || !kt_node_available()) {
        cr_skip_test("chromium or tests/node/node_modules/playwright-core missing "
                     "(apt-get install chromium; sh scripts/node-deps.sh)");
    }
}

Test(web_browser, dashboard_in_chromium)
{
    need_chromium();
    struct stat sb;
    kt_redis_t r;
    kt_redis_start(&r, 0);
    redisContext *c = kt_redis_connect(&r);
    char err[256];
    kue_t *k = kue_connect(r.url, "q", err, sizeof err);
    cr_assert_not_null(k, "%s", err);

    static const int prios[] = { KUE_PRIORITY_LOW, KUE_PRIORITY_NORMAL, KUE_PRIORITY_HIGH };
    char data[128];
    for (int i = 0; i < 70; i++) {
        snprintf(data, sizeof data, "{\"title\":\"welcome mail %d\",\"to\":\"user%d@example.com\"}", i, i);
        wt_job(k, "email", data, prios[i % 3]);
    }
    for (int i = 0; i < 5; i++) {
        snprintf(data, sizeof data, "{\"title\":\"transcode %d\",\"file\":\"v%d.mp4\"}", i, i);
        wt_job(k, "video", data, 0);
    }
    int64_t failed[4];
    for (int i = 0; i < 4; i++) {
        snprintf(data, sizeof data, "{\"title\":\"broken upload %d\"}", i);
        failed[i] = wt_job(k, "video", data, 0);
        cr_assert_eq(kue_job_set_state(k, failed[i], "failed"), 0);
        freeReplyObject(kt_cmd(c, "HSET q:job:%lld error %s", (long long)failed[i],
                               "Error: ffmpeg exited with 1\n    at transcode (video.js:12:9)"));
        freeReplyObject(kt_cmd(c, "HSET q:job:%lld failed_at %lld", (long long)failed[i],
                               (long long)kt_now_ms() - 90000));
        kue_job_add_log(k, failed[i], "starting ffmpeg");
        kue_job_add_log(k, failed[i], "ffmpeg exited with 1");
    }
    int64_t active = wt_job(k, "video", "{\"title\":\"long transcode\"}", 0);
    cr_assert_eq(kue_job_set_state(k, active, "active"), 0);
    freeReplyObject(kt_cmd(c, "HSET q:job:%lld progress 40", (long long)active));
    freeReplyObject(kt_cmd(c, "HSET q:job:%lld started_at %lld", (long long)active,
                           (long long)kt_now_ms() - 30000));
    for (int i = 0; i < 3; i++) {
        int64_t id = wt_job(k, "email", "{\"title\":\"sent\"}", 0);
        cr_assert_eq(kue_job_set_state(k, id, "complete"), 0);
        freeReplyObject(kt_cmd(c, "HSET q:job:%lld duration 1234", (long long)id));
    }
    /* more than a page of complete jobs, two of them matching "hello" */
    int64_t hello[2] = { 0, 0 };
    for (int i = 0; i < 62; i++) {
        if (i == 20 || i == 57) snprintf(data, sizeof data, "{\"title\":\"hello world %d\"}", i);
        else snprintf(data, sizeof data, "{\"title\":\"receipt %d\"}", i);
        int64_t id = wt_job(k, "receipt", data, 0);
        if (i == 20) hello[0] = id;
        if (i == 57) hello[1] = id;
        cr_assert_eq(kue_job_set_state(k, id, "complete"), 0);
    }
    /* a job with a backoff, for the detail view */
    kue_job_t *bj = kue_job_new("video", "{\"title\":\"retry with backoff\"}");
    kue_job_set_attempts(bj, 3);
    cr_assert_eq(kue_job_set_backoff(bj, "{\"type\":\"exponential\",\"delay\":2000}"), 0);
    int64_t backoff_id = kue_job_save(k, bj);
    cr_assert_gt(backoff_id, 0);
    kue_job_free(bj);
    cr_assert_eq(kue_job_set_state(k, backoff_id, "failed"), 0);
    kue_job_t *d = kue_job_new("email", "{\"title\":\"reminder tomorrow\"}");
    kue_job_set_delay(d, 86400000);
    cr_assert_gt(kue_job_save(k, d), 0);
    kue_job_free(d);

    /* a supervisor with its web process; "sleep" keeps two jobs in flight,
     * "echo" and "sleep" complete jobs for the throughput chart, and
     * "flaky" (a type that sorts between them) fails jobs later in the run */
    wt_sup_t sup;
    wt_sup_start(&sup, "browser-sup", r.url, "shutdown_timeout = 3s\n",
                 "[type sleep]\nprocesses = 1\nconcurrency = 3\n"
                 "[type echo]\nprocesses = 1\nconcurrency = 4\n"
                 "[type flaky]\nprocesses = 1\nconcurrency = 4\n"
                 "[cron hourly-report]\nschedule = @every 1h\ntype = echo\n");
    for (int i = 0; i < 2; i++) wt_job(k, "sleep", "{\"title\":\"long nap\",\"ms\":600000}", 0);
    for (int i = 0; i < 30; i++) {
        snprintf(data, sizeof data, "{\"title\":\"ping %d\"}", i);
        wt_job(k, "echo", data, 0);
    }
    for (int i = 0; i < 3; i++) wt_job(k, "sleep", "{\"title\":\"short nap\",\"ms\":20}", 0);
    cr_assert(kt_wait_until(processed, c, 20000), "echo/sleep jobs were not processed");

    char url[64], shots[1024], script[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", sup.port);
    snprintf(shots, sizeof shots, "%s/screenshots", kt_build());
    mkdir(shots, 0755);
    snprintf(script, sizeof script, "../browser/dashboard.js");
    char *args[] = { url, shots, NULL };
    char *out = NULL;
    int rc = kt_node_run(script, args, &out, 170000);
    fprintf(stderr, "browser: %s\n", out ? out : "(no output)");
    cr_assert_eq(rc, 0, "dashboard.js failed (%d): %s", rc, out ? out : "");
    cr_assert(out && strstr(out, "\"ok\":true"), "%s", out ? out : "");

    /* the retried job is queued again, in Redis */
    const char *p = strstr(out, "\"retried\":");
    cr_assert_not_null(p);
    long long retried = atoll(p + 10);
    int known = 0;
    for (int i = 0; i < 4; i++) known |= failed[i] == retried;
    cr_expect(known, "retried id %lld is one of the failed jobs", retried);
    char buf[64];
    cr_expect_str_eq(kt_str(c, buf, sizeof buf, "HGET q:job:%lld state", retried), "inactive");
    cr_expect_eq(kt_int(c, "ZCARD q:jobs:video:failed"), 4);   /* 3 broken uploads + backoff */
    cr_expect_eq(kt_int(c, "ZCARD q:jobs:video:inactive"), 6);
    /* "Remove 2 shown" with the filter "hello" removed exactly those two */
    cr_expect_eq(kt_int(c, "EXISTS q:job:%lld", (long long)hello[0]), 0);
    cr_expect_eq(kt_int(c, "EXISTS q:job:%lld", (long long)hello[1]), 0);
    cr_expect_eq(kt_int(c, "ZCARD q:jobs:receipt:complete"), 60);
    /* the active jobs were never retried; the page's flaky jobs failed */
    cr_expect_eq(kt_int(c, "ZCARD q:jobs:sleep:active"), 2);
    cr_expect_eq(kt_int(c, "ZCARD q:jobs:flaky:failed"), 4);
    /* the job made with the form */
    p = strstr(out, "\"created\":");
    cr_assert_not_null(p);
    long long created = atoll(p + 10);
    cr_expect_str_eq(kt_str(c, buf, sizeof buf, "HGET q:job:%lld type", created), "report");
    cr_expect_str_eq(kt_str(c, buf, sizeof buf, "HGET q:job:%lld priority", created), "-15");
    free(out);

    char shot[1200];
    static const char *const names[] = { "desktop-queued", "desktop-detail", "desktop-workers",
                                         "desktop-complete-filter", "phone-failed",
                                         "phone-workers", "phone-complete", NULL };
    for (int i = 0; names[i]; i++) {
        snprintf(shot, sizeof shot, "%s/dashboard-%s.png", shots, names[i]);
        cr_expect_eq(stat(shot, &sb), 0, "screenshot %s", shot);
    }
    cr_expect_neq(wt_sup_stop(&sup), -1, "supervisor drained");
    kue_free(k);
    redisFree(c);

    /* Redis down: the list says so instead of "No queued jobs." */
    kt_redis_stop(&r);
    wt_web_t w;
    wt_web_start(&w, r.url, NULL, NULL);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", w.port);
    char mode[] = "redis-down";
    char *args2[] = { url, shots, mode, NULL };
    out = NULL;
    rc = kt_node_run(script, args2, &out, 60000);
    fprintf(stderr, "browser (redis down): %s\n", out ? out : "(no output)");
    cr_expect_eq(rc, 0, "dashboard.js redis-down failed (%d): %s", rc, out ? out : "");
    free(out);
    cr_expect_eq(wt_web_stop(&w), 0);
    kt_cleanup();
}

/* One kue-web over the queues q and p2, jobs with the same ids in both:
 * the selector, and every view following it. */
Test(web_browser, queue_selector_in_chromium)
{
    need_chromium();
    wt_env_t e;
    wt_env_open(&e, 0);
    char err[256];
    kue_t *p2 = kue_connect(e.r.url, "p2", err, sizeof err);
    cr_assert_not_null(p2, "%s", err);
    char data[64];
    for (int i = 0; i < 3; i++) {
        snprintf(data, sizeof data, "{\"title\":\"q job %d\"}", i);
        wt_job(e.k, "email", data, 0);
    }
    for (int i = 0; i < 5; i++) {
        snprintf(data, sizeof data, "{\"title\":\"p2 job %d\"}", i);
        wt_job(p2, "video", data, 0);
    }
    wt_web_start_prefix(&e.w, e.r.url, "q,p2", NULL, NULL);
    char url[64], shots[1024], mode[] = "queues";
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", e.w.port);
    snprintf(shots, sizeof shots, "%s/screenshots", kt_build());
    mkdir(shots, 0755);
    char *args[] = { url, shots, mode, NULL };
    char *out = NULL;
    int rc = kt_node_run("../browser/dashboard.js", args, &out, 90000);
    fprintf(stderr, "browser (queues): %s\n", out ? out : "(no output)");
    cr_expect_eq(rc, 0, "dashboard.js queues failed (%d): %s", rc, out ? out : "");
    cr_expect(out && strstr(out, "\"ok\":true"), "%s", out ? out : "");
    free(out);
    /* the live job went to p2 only */
    cr_expect_eq(kt_int(e.c, "ZCARD p2:jobs:video:inactive"), 6);
    cr_expect_eq(kt_int(e.c, "ZCARD q:jobs:inactive"), 3);
    kue_free(p2);
    wt_env_close(&e);
}
