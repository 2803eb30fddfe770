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

static long rss_kb(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kb) == 1) break;
    fclose(f);
    return kb;
}

static long long events_seen(const char *event)
{
    wt_resp_t r = wt_get(W.port, "/metrics");
    char needle[128];
    snprintf(needle, sizeof needle, "kue_events_total{event=\"%s\"} ", event);
    const char *p = r.body ? strstr(r.body, needle) : NULL;
    long long n = p ? atoll(p + strlen(needle)) : 0;
    wt_resp_free(&r);
    return n;
}

static int all_seen(void *arg)
{
    return events_seen("complete") >= *(long long *)arg;
}

Test(web_limits, replay_buffer_is_bounded_in_bytes)
{
    wt_web_start(&W, R.url, NULL, NULL);
    long before = rss_kb(W.pid);
    redisContext *c = kt_redis_connect(&R);
    size_t big = 1 << 20;
    char *msg = malloc(big + 200);
    long long n = 300;
    for (long long i = 1; i <= n; i++) {
        int h = snprintf(msg, 200, "{\"id\":%lld,\"event\":\"complete\",\"args\":[\"complete\",\"", i);
        memset(msg + h, 'r', big);
        strcpy(msg + h + big, "\"]}");
        freeReplyObject(kt_cmd(c, "PUBLISH q:events %s", msg));
        /* paced, so that Redis's pub/sub output limit never drops web */
        if (i % 8 == 0)
            cr_assert(kt_wait_until(all_seen, &i, 20000), "web saw %lld of %lld",
                      events_seen("complete"), i);
    }
    free(msg);
    redisFree(c);
    cr_assert(kt_wait_until(all_seen, &n, 30000), "web saw %lld of %lld", events_seen("complete"), n);
    long after = rss_kb(W.pid);
    cr_log_info("kue-web RSS: %ld KiB before, %ld KiB after %lld 1 MiB results", before, after, n);
    cr_expect_lt(after - before, 48 * 1024, "RSS grew from %ld to %ld KiB", before, after);

    /* a replay from the start still works: the last events, truncated */
    int fd = wt_connect(W.port);
    const char *req = "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nLast-Event-ID: 0\r\n\r\n";
    wt_send_all(fd, req, strlen(req));
    char buf[8192] = "";
    size_t len = 0;
    int64_t end = kt_now_ms() + 5000;
    while (kt_now_ms() < end && len < sizeof buf - 1 && !strstr(buf, "\"truncated\":true")) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 100) <= 0) continue;
        ssize_t k = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (k <= 0) break;
        len += (size_t)k;
        buf[len] = '\0';
    }
    close(fd);
    cr_expect(strstr(buf, "\"event\":\"complete\",\"args\":[\"complete\"],\"truncated\":true"), "%s", buf);
}
