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

static wt_env_t E;

static void setup(void)
{
    wt_env_open(&E, 0);
}

static void teardown(void)
{
    wt_env_close(&E);
}

TestSuite(web_limits, .init = setup, .fini = teardown, .timeout = 90);

static void make_jobs(const char *type, int n)
{
    kue_job_t *jobs[100];
    int64_t ids[100];
    for (int done = 0; done < n;) {
        int k = n - done < 100 ? n - done : 100;
        for (int i = 0; i < k; i++) jobs[i] = kue_job_new(type, "{\"x\":1}");
        cr_assert_eq(kue_job_save_bulk(E.k, jobs, (size_t)k, ids), (size_t)k, "%s", kue_errstr(E.k));
        for (int i = 0; i < k; i++) kue_job_free(jobs[i]);
        done += k;
    }
}

static size_t array_len(const char *path)
{
    wt_resp_t r = wt_get(E.w.port, path);
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
    wt_web_start(&E.w, E.r.url, NULL, NULL);
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
    char series[128];
    snprintf(series, sizeof series, "kue_events_total{queue=\"q\",event=\"%s\"}", event);
    double v = wt_metric(E.w.port, series);
    return v < 0 ? 0 : (long long)v;
}

static int all_seen(void *arg)
{
    return events_seen("complete") >= *(long long *)arg;
}

Test(web_limits, replay_buffer_is_bounded_in_bytes)
{
    /* (under ASan, freed memory would otherwise sit in its quarantine) */
    char *env[] = { "ASAN_OPTIONS=quarantine_size_mb=0:thread_local_quarantine_size_kb=0", NULL };
    wt_web_start(&E.w, E.r.url, NULL, env);
    long before = rss_kb(E.w.pid);
    redisContext *c = kt_redis_connect(&E.r);
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
    long after = rss_kb(E.w.pid);
    cr_log_info("kue-web RSS: %ld KiB before, %ld KiB after %lld 1 MiB results", before, after, n);
    cr_expect_lt(after - before, 48 * 1024, "RSS grew from %ld to %ld KiB", before, after);

    /* a replay from the start still works: the last events, truncated */
    int fd = wt_connect(E.w.port);
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

/* A connection that sent part of its headers and nothing more. */
static int slow_client(int port)
{
    int fd = wt_connect(port);
    cr_assert(fd >= 0);
    const char *part = "GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    wt_send_all(fd, part, strlen(part));
    return fd;
}

/* Non-zero once the server closed fd (EOF or reset). */
static int closed_by_server(int fd, int timeout_ms)
{
    int64_t end = kt_now_ms() + timeout_ms;
    char b[256];
    while (kt_now_ms() < end) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 50) <= 0) continue;
        ssize_t k = recv(fd, b, sizeof b, 0);
        if (k <= 0) return 1;
    }
    return 0;
}

static int open_stream(int port, char *head, size_t len)
{
    int fd = wt_connect(port);
    cr_assert(fd >= 0);
    const char *req = "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    wt_send_all(fd, req, strlen(req));
    size_t got = 0;
    head[0] = '\0';
    int64_t end = kt_now_ms() + 5000;
    while (kt_now_ms() < end && got < len - 1 && !strstr(head, "\r\n\r\n")) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 50) <= 0) continue;
        ssize_t k = recv(fd, head + got, len - 1 - got, 0);
        if (k <= 0) break;
        got += (size_t)k;
        head[got] = '\0';
    }
    return fd;
}

Test(web_limits, health_answers_with_a_full_pool)
{
    const char *args[] = { "--max-connections", "8", "--max-per-client", "1000",
                           "--max-streams", "3", "--timeout", "2s", NULL };
    wt_web_start(&E.w, E.r.url, args, NULL);

    /* event streams have their own allowance */
    int streams[4];
    char head[2048];
    for (int i = 0; i < 3; i++) {
        streams[i] = open_stream(E.w.port, head, sizeof head);
        cr_assert(strncmp(head, "HTTP/1.1 200", 12) == 0, "stream %d: %s", i, head);
    }
    streams[3] = open_stream(E.w.port, head, sizeof head);
    cr_expect(strncmp(head, "HTTP/1.1 503", 12) == 0, "%s", head);
    for (int i = 0; i < 4; i++) close(streams[i]);

    /* the pool filled by clients that never finish their headers */
    int slow[10];
    for (int i = 0; i < 10; i++) slow[i] = slow_client(E.w.port);
    int64_t t0 = kt_now_ms();
    wt_resp_t r = wt_get(E.w.port, "/healthz");
    int64_t took = kt_now_ms() - t0;
    cr_expect_eq(r.status, 200, "%d %s", r.status, r.body);
    cr_expect_lt(took, 1000, "/healthz took %lld ms", (long long)took);
    wt_resp_free(&r);
    r = wt_get(E.w.port, "/stats");
    cr_expect_eq(r.status, 503, "%d %s", r.status, r.body);
    wt_resp_free(&r);

    /* a client that does not send its headers in time is dropped */
    for (int i = 0; i < 10; i++) {
        cr_expect(closed_by_server(slow[i], 8000), "slow client %d still open", i);
        close(slow[i]);
    }
    /* and the pool is free again */
    r = wt_get(E.w.port, "/stats");
    cr_expect_eq(r.status, 200, "%d %s", r.status, r.body);
    wt_resp_free(&r);
}

Test(web_limits, per_client_connection_limit)
{
    const char *args[] = { "--max-per-client", "4", NULL };
    wt_web_start(&E.w, E.r.url, args, NULL);
    int fds[5];
    for (int i = 0; i < 4; i++) fds[i] = slow_client(E.w.port);
    /* the fifth from the same address is refused at once */
    fds[4] = wt_connect(E.w.port);
    cr_assert(fds[4] >= 0);
    cr_expect(closed_by_server(fds[4], 3000), "a fifth connection was kept");
    for (int i = 0; i < 5; i++) close(fds[i]);
}

/* Send a raw request, return the status (and the head in out). */
static int raw_status(const char *req, char *out, size_t len)
{
    int fd = wt_connect(E.w.port);
    cr_assert(fd >= 0);
    wt_send_all(fd, req, strlen(req));
    size_t got = 0;
    out[0] = '\0';
    int64_t end = kt_now_ms() + 5000;
    while (kt_now_ms() < end && got < len - 1) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 50) <= 0) continue;
        ssize_t k = recv(fd, out + got, len - 1 - got, 0);
        if (k <= 0) break;
        got += (size_t)k;
        out[got] = '\0';
    }
    close(fd);
    return got > 12 ? atoi(out + 9) : -1;
}

static const char *state_of(int64_t id)
{
    static char st[32];
    kue_job_t *j = kue_job_get(E.k, id);
    cr_assert(j, "%s", kue_errstr(E.k));
    snprintf(st, sizeof st, "%s", kue_job_state(j));
    kue_job_free(j);
    return st;
}

Test(web_limits, cross_site_requests_are_refused)
{
    const char *args[] = { "--allowed-hosts", "kue.example.org", NULL };
    wt_web_start(&E.w, E.r.url, args, NULL);
    kue_job_t *j = kue_job_new("x", "{}");
    int64_t id = kue_job_save(E.k, j);
    kue_job_free(j);
    cr_assert_eq(kue_job_set_state(E.k, id, "failed"), 0);
    char req[1024], resp[8192];

    /* GET /inactive/:id from another site: refused, nothing changes */
    const char *cross[] = {
        "Sec-Fetch-Site: cross-site\r\n", "Sec-Fetch-Site: same-site\r\n",
        "Origin: http://evil.example\r\n", "Referer: http://evil.example/page\r\n",
        "Origin: null\r\n",
    };
    for (size_t i = 0; i < sizeof cross / sizeof cross[0]; i++) {
        snprintf(req, sizeof req, "GET /inactive/%lld HTTP/1.1\r\nHost: 127.0.0.1\r\n%s"
                 "Connection: close\r\n\r\n", (long long)id, cross[i]);
        cr_expect_eq(raw_status(req, resp, sizeof resp), 403, "%s: %s", cross[i], resp);
        snprintf(req, sizeof req, "HEAD /inactive/%lld HTTP/1.1\r\nHost: 127.0.0.1\r\n%s"
                 "Connection: close\r\n\r\n", (long long)id, cross[i]);
        cr_expect_eq(raw_status(req, resp, sizeof resp), 403, "HEAD %s: %s", cross[i], resp);
        cr_expect_str_eq(state_of(id), "failed");
    }
    /* a cross-site PUT likewise */
    snprintf(req, sizeof req, "PUT /job/%lld/state/inactive HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             "Origin: http://evil.example\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
             (long long)id);
    cr_expect_eq(raw_status(req, resp, sizeof resp), 403, "%s", resp);
    cr_expect_str_eq(state_of(id), "failed");
    /* same origin (the dashboard's fetch) works */
    snprintf(req, sizeof req, "PUT /job/%lld/state/complete HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
             "Origin: http://127.0.0.1:%d\r\nSec-Fetch-Site: same-origin\r\n"
             "Content-Length: 0\r\nConnection: close\r\n\r\n", (long long)id, E.w.port, E.w.port);
    cr_expect_eq(raw_status(req, resp, sizeof resp), 200, "%s", resp);
    cr_expect_str_eq(state_of(id), "complete");
    /* Kue's GET /inactive/:id from a non-browser client still works */
    snprintf(req, sizeof req, "GET /inactive/%lld HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             "Connection: close\r\n\r\n", (long long)id);
    cr_expect_eq(raw_status(req, resp, sizeof resp), 200, "%s", resp);
    cr_expect_str_eq(state_of(id), "inactive");

    /* Host: a rebinding name is refused, IPs, localhost and allowed_hosts not */
    snprintf(req, sizeof req, "GET /stats HTTP/1.1\r\nHost: rebind.evil.example:%d\r\n"
             "Connection: close\r\n\r\n", E.w.port);
    cr_expect_eq(raw_status(req, resp, sizeof resp), 403, "%s", resp);
    const char *ok_hosts[] = { "localhost", "127.0.0.1", "[::1]", "KUE.example.org", NULL };
    for (int i = 0; ok_hosts[i]; i++) {
        snprintf(req, sizeof req, "GET /stats HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n",
                 ok_hosts[i], E.w.port);
        cr_expect_eq(raw_status(req, resp, sizeof resp), 200, "%s: %s", ok_hosts[i], resp);
    }
    /* health checks do not care */
    snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nHost: probe.internal\r\nConnection: close\r\n\r\n");
    cr_expect_eq(raw_status(req, resp, sizeof resp), 200, "%s", resp);

    /* no framing */
    snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    cr_expect_eq(raw_status(req, resp, sizeof resp), 200, "%s", resp);
    cr_expect(strcasestr(resp, "X-Frame-Options: DENY"), "%.500s", resp);
    cr_expect(strstr(resp, "frame-ancestors 'none'"), "%.500s", resp);
}

Test(web_limits, basic_scheme_is_case_insensitive)
{
    const char *args[] = { "--auth", "admin:s3cret", NULL };
    wt_web_start(&E.w, E.r.url, args, NULL);
    /* admin:s3cret */
    const char *schemes[] = { "Basic", "basic", "BASIC", "bAsIc" };
    char req[512], resp[4096];
    for (int i = 0; i < 4; i++) {
        snprintf(req, sizeof req, "GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: %s "
                 "YWRtaW46czNjcmV0\r\nConnection: close\r\n\r\n", schemes[i]);
        cr_expect_eq(raw_status(req, resp, sizeof resp), 200, "%s: %s", schemes[i], resp);
    }
    snprintf(req, sizeof req, "GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic "
             "YWRtaW46d3Jvbmc=\r\nConnection: close\r\n\r\n");
    cr_expect_eq(raw_status(req, resp, sizeof resp), 401, "%s", resp);
    snprintf(req, sizeof req, "GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
             "YWRtaW46czNjcmV0\r\nConnection: close\r\n\r\n");
    cr_expect_eq(raw_status(req, resp, sizeof resp), 401, "%s", resp);
}
