/*
 * web_limits.c -- what one client can cost kue-web (docs/security.md):
 * bounded /jobs pages, the event replay buffer bounded in bytes, the
 * per-address connection limit and the event-stream allowance with
 * /healthz still answering, and the cross-site checks (Host, Origin,
 * Sec-Fetch-Site, framing).
 */
#include <jansson.h>
#include <signal.h>

#include <kue/kue.h>
#include "web_common.h"

static kt_redis_t R;
static kue_t *K;
static wt_web_t W;

static void setup(void)
{
    kt_redis_start(&R, 0);
    char err[256];
    K = kue_connect(R.url, "q", err, sizeof err);
    cr_assert_not_null(K, "%s", err);
    W.pid = 0;
}

static void teardown(void)
{
    if (W.pid > 0) wt_web_stop(&W);
    W.pid = 0;
    if (K) kue_free(K);
    K = NULL;
    kt_cleanup();
}

TestSuite(web_limits, .init = setup, .fini = teardown, .timeout = 90);

static void make_jobs(const char *type, int n)
{
    kue_job_t *jobs[100];
    int64_t ids[100];
    for (int done = 0; done < n;) {
        int k = n - done < 100 ? n - done : 100;
        for (int i = 0; i < k; i++) jobs[i] = kue_job_new(type, "{\"x\":1}");
        cr_assert_eq(kue_job_save_bulk(K, jobs, (size_t)k, ids), (size_t)k, "%s", kue_errstr(K));
        for (int i = 0; i < k; i++) kue_job_free(jobs[i]);
        done += k;
    }
}

static size_t array_len(const char *path)
{
    wt_resp_t r = wt_get(W.port, path);
    cr_assert_eq(r.status, 200, "%s: %d %s", path, r.status, r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    cr_assert(json_is_array(j), "%s: %.200s", path, r.body);
    size_t n = json_array_size(j);
    json_decref(j);
    wt_resp_free(&r);
    return n;
}

Test(web_limits, jobs_ranges_are_bounded_pages)
{
    make_jobs("bulk", 1500);
    wt_web_start(&W, R.url, NULL, NULL);
    /* everything asked for: one page of 1000 */
    cr_expect_eq(array_len("/jobs/inactive/0..-1"), 1000);
    cr_expect_eq(array_len("/jobs/0..-1"), 1000);
    cr_expect_eq(array_len("/jobs/bulk/inactive/0..1499/asc"), 1000);
    cr_expect_eq(array_len("/jobs/inactive/-1500..-1"), 1000);
    /* the pages clients use are untouched */
    cr_expect_eq(array_len("/jobs/inactive/0..499/asc"), 500);
    cr_expect_eq(array_len("/jobs/bulk/inactive/-50..-1/desc"), 50);
    cr_expect_eq(array_len("/jobs/inactive/1400..2000"), 100);
    cr_expect_eq(array_len("/jobs/inactive/1000..-1"), 500);
    cr_expect_eq(array_len("/jobs/inactive/-1..0"), 0);
}
