/*
 * The dashboard in real headless Chromium: tests/browser/dashboard.js loads
 * it with jobs in every state, switches tabs, scrolls for more, watches a
 * live count change, opens a failed job and retries it; this test then
 * checks Redis.  Screenshots go to $KUE_BUILD/screenshots/.  Skips, saying
 * so, without /usr/bin/chromium or playwright-core in tests/node.
 */
#include <stdlib.h>
#include <sys/stat.h>

#include <kue/kue.h>
#include "web_common.h"

TestSuite(web_browser, .timeout = 180);

static int64_t job(kue_t *k, const char *type, const char *data, int prio)
{
    kue_job_t *j = kue_job_new(type, data);
    kue_job_set_priority(j, prio);
    int64_t id = kue_job_save(k, j);
    cr_assert_gt(id, 0, "%s", kue_errstr(k));
    kue_job_free(j);
    return id;
}

Test(web_browser, dashboard_in_chromium)
{
    char pw[1024];
    snprintf(pw, sizeof pw, "%s/tests/node/node_modules/playwright-core/package.json", kt_srcdir());
    const char *exe = getenv("CHROMIUM") ? getenv("CHROMIUM") : "/usr/bin/chromium";
    struct stat sb;
    if (stat(exe, &sb) != 0 || stat(pw, &sb) != 0 || !kt_node_available()) {
        cr_skip_test("chromium or tests/node/node_modules/playwright-core missing "
                     "(apt-get install chromium; sh scripts/node-deps.sh)");
    }
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
        job(k, "email", data, prios[i % 3]);
    }
    for (int i = 0; i < 5; i++) {
        snprintf(data, sizeof data, "{\"title\":\"transcode %d\",\"file\":\"v%d.mp4\"}", i, i);
        job(k, "video", data, 0);
    }
    int64_t failed[4];
    for (int i = 0; i < 4; i++) {
        snprintf(data, sizeof data, "{\"title\":\"broken upload %d\"}", i);
        failed[i] = job(k, "video", data, 0);
        cr_assert_eq(kue_job_set_state(k, failed[i], "failed"), 0);
        freeReplyObject(kt_cmd(c, "HSET q:job:%lld error %s", (long long)failed[i],
                               "Error: ffmpeg exited with 1\n    at transcode (video.js:12:9)"));
        freeReplyObject(kt_cmd(c, "HSET q:job:%lld failed_at %lld", (long long)failed[i],
                               (long long)kt_now_ms() - 90000));
        kue_job_add_log(k, failed[i], "starting ffmpeg");
        kue_job_add_log(k, failed[i], "ffmpeg exited with 1");
    }
    int64_t active = job(k, "video", "{\"title\":\"long transcode\"}", 0);
    cr_assert_eq(kue_job_set_state(k, active, "active"), 0);
    freeReplyObject(kt_cmd(c, "HSET q:job:%lld progress 40", (long long)active));
    freeReplyObject(kt_cmd(c, "HSET q:job:%lld started_at %lld", (long long)active,
                           (long long)kt_now_ms() - 30000));
    for (int i = 0; i < 3; i++) {
        int64_t id = job(k, "email", "{\"title\":\"sent\"}", 0);
        cr_assert_eq(kue_job_set_state(k, id, "complete"), 0);
        freeReplyObject(kt_cmd(c, "HSET q:job:%lld duration 1234", (long long)id));
    }
    kue_job_t *d = kue_job_new("email", "{\"title\":\"reminder tomorrow\"}");
    kue_job_set_delay(d, 86400000);
    cr_assert_gt(kue_job_save(k, d), 0);
    kue_job_free(d);

    wt_web_t w;
    wt_web_start(&w, r.url, NULL, NULL);
    char url[64], shots[1024], script[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", w.port);
    snprintf(shots, sizeof shots, "%s/screenshots", kt_build());
    mkdir(shots, 0755);
    snprintf(script, sizeof script, "../browser/dashboard.js");
    char *args[] = { url, shots, NULL };
    char *out = NULL;
    int rc = kt_node_run(script, args, &out, 150000);
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
    cr_expect_eq(kt_int(c, "ZCARD q:jobs:failed"), 3);
    cr_expect_eq(kt_int(c, "ZCARD q:jobs:video:inactive"), 6);
    /* the job made with the form */
    p = strstr(out, "\"created\":");
    cr_assert_not_null(p);
    long long created = atoll(p + 10);
    cr_expect_str_eq(kt_str(c, buf, sizeof buf, "HGET q:job:%lld type", created), "report");
    cr_expect_str_eq(kt_str(c, buf, sizeof buf, "HGET q:job:%lld priority", created), "-15");
    free(out);

    char shot[1200];
    snprintf(shot, sizeof shot, "%s/dashboard-detail.png", shots);
    cr_expect_eq(stat(shot, &sb), 0, "screenshot %s", shot);
    cr_expect_eq(wt_web_stop(&w), 0);
    kue_free(k);
    redisFree(c);
    kt_cleanup();
}
