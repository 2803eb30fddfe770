/*
 * One kue-web over two queues (--prefix q,p2; docs/kue-web.md#queues):
 * Kue's routes answer for the default queue as before and for p2 with
 * ?queue=p2, each with its own jobs; a queue that is not configured is
 * refused (even one with jobs in Redis); GET /queues lists them; /metrics
 * carries both queues' series, labelled, each family once; /readyz looks
 * at both (and, open without auth, names neither); /events?queue=p2 relays p2's events only; bad --prefix lists
 * are refused at start.
 */
#include <jansson.h>

#include <kue/kue.h>
#include "web_common.h"
#include "../../web/web.h"

static wt_env_t E;
static kue_t *P2;

static void setup(void)
{
    wt_env_open(&E, 0);
    char err[256];
    P2 = kue_connect(E.r.url, "p2", err, sizeof err);
    cr_assert_not_null(P2, "%s", err);
}

static void teardown(void)
{
    if (P2) kue_free(P2);
    P2 = NULL;
    wt_env_close(&E);
}

TestSuite(web_queues, .init = setup, .fini = teardown, .timeout = 90);

static void start_web(void)
{
    wt_web_start_prefix(&E.w, E.r.url, "q,p2", NULL, NULL);
}

/* GET path: 200 and a JSON array of n jobs, all of type type */
static void expect_jobs(const char *path, size_t n, const char *type)
{
    wt_resp_t r = wt_get(E.w.port, path);
    cr_assert_eq(r.status, 200, "%s: %d %s", path, r.status, r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    cr_assert(json_is_array(j), "%s: %s", path, r.body);
    cr_expect_eq(json_array_size(j), n, "%s: %s", path, r.body);
    size_t i;
    json_t *v;
    json_array_foreach(j, i, v) {
        const char *t = json_string_value(json_object_get(v, "type"));
        cr_expect(t && !strcmp(t, type), "%s: a job of type %s: %s", path, t ? t : "?", r.body);
    }
    json_decref(j);
    wt_resp_free(&r);
}

static void expect_body(const char *method, const char *path, int status, const char *body)
{
    wt_resp_t r = wt_request(E.w.port, method, path, NULL, NULL, 0);
    cr_expect_eq(r.status, status, "%s %s: %d %s", method, path, r.status, r.body);
    if (body) cr_expect_str_eq(r.body, body, "%s %s", method, path);
    wt_resp_free(&r);
}

Test(web_queues, kue_routes_per_queue)
{
    for (int i = 0; i < 2; i++) wt_job(E.k, "email", NULL, 0);
    int64_t v = 0;
    for (int i = 0; i < 3; i++) v = wt_job(P2, "video", "{\"n\":1}", 0);
    start_web();

    /* the default queue, as Kue answers */
    expect_jobs("/jobs/0..-1", 2, "email");
    expect_jobs("/jobs/inactive/0..-1", 2, "email");
    expect_jobs("/jobs/0..-1?queue=q", 2, "email");
    expect_body("GET", "/job/types", 200, "[\"email\"]");
    /* p2 */
    expect_jobs("/jobs/0..-1?queue=p2", 3, "video");
    expect_jobs("/jobs/video/inactive/0..-1/desc?queue=p2", 3, "video");
    expect_body("GET", "/job/types?queue=p2", 200, "[\"video\"]");
    expect_body("GET", "/jobs/video/inactive/stats?queue=p2", 200, "{\"count\":3}");
    wt_resp_t r = wt_get(E.w.port, "/stats?queue=p2");
    cr_expect(strstr(r.body, "\"inactiveCount\":3,"), "%s", r.body);
    wt_resp_free(&r);
    char path[96];
    snprintf(path, sizeof path, "/job/%lld?queue=p2", (long long)v);
    r = wt_get(E.w.port, path);
    cr_expect(strstr(r.body, "\"type\":\"video\""), "%s", r.body);
    wt_resp_free(&r);

    /* writes go to the queue named */
    r = wt_post_json(E.w.port, "/job?queue=p2", "{\"type\":\"audio\"}");
    cr_expect_eq(r.status, 200, "%s", r.body);
    wt_resp_free(&r);
    cr_expect_eq(kt_int(E.c, "ZCARD p2:jobs:audio:inactive"), 1);
    cr_expect_eq(kt_int(E.c, "EXISTS q:jobs:audio:inactive"), 0);
    snprintf(path, sizeof path, "/job/%lld/state/failed?queue=p2", (long long)v);
    expect_body("PUT", path, 200, "{\"message\":\"updated state\"}");
    cr_expect_eq(kt_int(E.c, "ZCARD p2:jobs:video:failed"), 1);
    expect_body("PUT", "/pause/video?queue=p2", 200, "{\"message\":\"type video paused\"}");
    r = wt_get(E.w.port, "/workers?queue=p2");
    cr_expect(strstr(r.body, "\"paused\":[\"video\"]"), "%s", r.body);
    wt_resp_free(&r);
    r = wt_get(E.w.port, "/workers");
    cr_expect(strstr(r.body, "\"paused\":[]"), "%s", r.body);
    wt_resp_free(&r);

    /* the queues */
    expect_body("GET", "/queues", 200, "{\"default\":\"q\",\"queues\":[\"q\",\"p2\"]}");
    r = wt_get(E.w.port, "/config");
    cr_expect(strstr(r.body, "\"prefix\":\"q\""), "%s", r.body);
    cr_expect(strstr(r.body, "\"queues\":[\"q\",\"p2\"]"), "%s", r.body);
    wt_resp_free(&r);
}

Test(web_queues, only_configured_queues)
{
    /* a prefix with jobs in Redis, but not one of kue-web's */
    char err[256];
    kue_t *p3 = kue_connect(E.r.url, "p3", err, sizeof err);
    cr_assert_not_null(p3, "%s", err);
    wt_job(p3, "secret", NULL, 0);
    kue_free(p3);
    start_web();
    static const char *const refused[] = {
        "/stats?queue=p3", "/jobs/0..-1?queue=p3", "/job/1?queue=p3", "/job/types?queue=Q",
        "/events?queue=p3", "/throughput?queue=nope", "/metrics?queue=p3", NULL
    };
    for (int i = 0; refused[i]; i++) {
        wt_resp_t r = wt_get(E.w.port, refused[i]);
        cr_expect_eq(r.status, 404, "%s: %d %s", refused[i], r.status, r.body);
        cr_expect(strstr(r.body, "{\"error\":\"no such queue: "), "%s: %s", refused[i], r.body);
        wt_resp_free(&r);
    }
    wt_resp_t r = wt_post_json(E.w.port, "/job?queue=p3", "{\"type\":\"secret\"}");
    cr_expect_eq(r.status, 404, "%s", r.body);
    wt_resp_free(&r);
    cr_expect_eq(kt_int(E.c, "ZCARD p3:jobs:secret:inactive"), 1);
    r = wt_request(E.w.port, "DELETE", "/job/1?queue=p3", NULL, NULL, 0);
    cr_expect_eq(r.status, 404, "%s", r.body);
    wt_resp_free(&r);
    cr_expect_eq(kt_int(E.c, "EXISTS p3:job:1"), 1);
    /* an undecodable name */
    r = wt_get(E.w.port, "/stats?queue=%zz");
    cr_expect_eq(r.status, 400, "%s", r.body);
    wt_resp_free(&r);
    /* empty: the default */
    r = wt_get(E.w.port, "/job/types?queue=");
    cr_expect_eq(r.status, 200, "%s", r.body);
    wt_resp_free(&r);
}

/* A family's # TYPE line occurs once */
static int count_of(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p++) n++;
    return n;
}

static int completes_seen(void *arg)
{
    (void)arg;
    return wt_metric(E.w.port, "kue_events_total{queue=\"q\",event=\"complete\"}") >= 1 &&
           wt_metric(E.w.port, "kue_events_total{queue=\"p2\",event=\"complete\"}") >= 1;
}

/* a "complete" message for job 1 of each queue (no duration: counted, not
 * timed) */
static void publish_completions(void)
{
    freeReplyObject(kt_cmd(E.c, "PUBLISH q:events %s",
                           "{\"id\":1,\"event\":\"complete\",\"args\":[\"complete\",null,null]}"));
    freeReplyObject(kt_cmd(E.c, "PUBLISH p2:events %s",
                           "{\"id\":1,\"event\":\"complete\",\"args\":[\"complete\",null,null]}"));
    cr_assert(kt_wait_until(completes_seen, NULL, 10000), "both relays saw their completion");
}

static int events_up(void *arg)
{
    (void)arg;
    return wt_metric(E.w.port, "kue_events_up{queue=\"q\"}") == 1 &&
           wt_metric(E.w.port, "kue_events_up{queue=\"p2\"}") == 1;
}

Test(web_queues, metrics_readyz_and_events)
{
    wt_job(E.k, "email", NULL, 0);
    for (int i = 0; i < 3; i++) wt_job(P2, "video", NULL, 0);
    start_web();
    cr_assert(kt_wait_until(events_up, NULL, 10000), "both event relays subscribed");
    wt_resp_t r = wt_get(E.w.port, "/metrics");
    cr_assert_eq(r.status, 200);
    static const char *const want[] = {
        "kue_redis_up{queue=\"q\"} 1\n", "kue_redis_up{queue=\"p2\"} 1\n",
        "kue_jobs{queue=\"q\",state=\"inactive\"} 1\n", "kue_jobs{queue=\"p2\",state=\"inactive\"} 3\n",
        "kue_jobs_by_type{queue=\"q\",type=\"email\",state=\"inactive\"} 1\n",
        "kue_jobs_by_type{queue=\"p2\",type=\"video\",state=\"inactive\"} 3\n",
        "kue_type_paused{queue=\"p2\",type=\"video\"} 0\n",
        "kue_work_time_seconds_total{queue=\"p2\"} ", "kue_promotion_lag_seconds{queue=\"q\"} ",
        "kue_events_total{queue=\"p2\",event=\"enqueue\"} ", NULL
    };
    for (int i = 0; want[i]; i++) cr_expect(strstr(r.body, want[i]), "%s in %s", want[i], r.body);
    cr_expect(!strstr(r.body, "kue_jobs_by_type{queue=\"q\",type=\"video\""), "%s", r.body);
    static const char *const fams[] = { "kue_redis_up", "kue_jobs", "kue_jobs_by_type",
                                        "kue_events_up", "kue_events_total",
                                        "kue_job_duration_seconds", NULL };
    char t[96];
    for (int i = 0; fams[i]; i++) {
        snprintf(t, sizeof t, "# TYPE %s ", fams[i]);
        cr_expect_eq(count_of(r.body, t), 1, "%s once: %s", t, r.body);
    }
    wt_resp_free(&r);
    /* a completion in each queue: both have histogram series; every family
     * (histograms among them) is one contiguous block */
    publish_completions();
    wt_prom_t *sc = wt_prom_scrape(E.w.port);
    cr_expect_eq(wt_prom_value(sc, "kue_jobs{queue=\"p2\",state=\"inactive\"}"), 3);
    cr_expect_eq(wt_prom_value(sc, "kue_job_duration_seconds_count{queue=\"q\",type=\"email\"}"), 0);
    cr_expect_eq(wt_prom_value(sc, "kue_job_duration_seconds_count{queue=\"p2\",type=\"video\"}"), 0);
    free(sc);
    wt_resp_t ready = wt_get(E.w.port, "/readyz");
    cr_expect_eq(ready.status, 200, "%s", ready.body);
    cr_expect(strstr(ready.body, "\"queues\":2,\"queues_up\":2}"), "%s", ready.body);
    wt_resp_free(&ready);
    /* the open health routes name no queue and take no ?queue= */
    ready = wt_get(E.w.port, "/readyz?queue=p3");
    cr_expect_eq(ready.status, 200, "%s", ready.body);
    cr_expect(!strstr(ready.body, "p2"), "%s", ready.body);
    wt_resp_free(&ready);
    ready = wt_get(E.w.port, "/healthz?queue=p3");
    cr_expect_eq(ready.status, 200, "%s", ready.body);
    wt_resp_free(&ready);

    /* p2's stream has p2's events only */
    wt_sse_t s;
    wt_sse_open(&s, E.w.port, "/events?queue=p2", NULL);
    int64_t qid = wt_job(E.k, "email", NULL, 0);
    int64_t pid = wt_job(P2, "audio", NULL, 0);
    char needle[96];
    snprintf(needle, sizeof needle, "{\"id\":%lld,\"event\":\"enqueue\",\"args\":[\"enqueue\",\"audio\"]",
             (long long)pid);
    cr_expect(wt_sse_wait(&s, needle, 5000), "p2's enqueue: %s", s.buf);
    cr_expect(!strstr(s.buf, "\"email\""), "q's job %lld on p2's stream: %s", (long long)qid, s.buf);
    wt_sse_close(&s);
    double seen = wt_metric(E.w.port, "kue_events_total{queue=\"p2\",event=\"enqueue\"}");
    cr_expect_geq(seen, 1, "p2 enqueue counted");
}

Test(web_queues, redis_down_fails_readyz_for_every_queue)
{
    start_web();
    kt_redis_stop_keep(&E.r, 1);
    wt_resp_t r = wt_get(E.w.port, "/readyz");
    cr_expect_eq(r.status, 503, "%s", r.body);
    cr_expect(strstr(r.body, "\"redis\":false,") && strstr(r.body, "\"queues\":2,\"queues_up\":0}"),
              "%s", r.body);
    wt_resp_free(&r);
    cr_expect_eq(wt_metric(E.w.port, "kue_redis_up{queue=\"p2\"}"), 0);
}

/* kue-web --prefix LIST: exit 2 and the reason on stderr */
static void refused_list(const char *list, const char *why)
{
    char bin[512], log[600];
    kt_bin("kue-web", bin, sizeof bin);
    snprintf(log, sizeof log, "%s/prefix-%d.log", kt_tmpdir(), (int)kt_now_ms() % 100000);
    char *argv[] = { bin, "--redis", E.r.url, "--prefix", (char *)list, "--listen", "127.0.0.1:0", NULL };
    pid_t pid = kt_spawn(argv, log);
    int st = 0;
    cr_assert_eq(kt_wait(pid, 10000, &st), 0, "kue-web --prefix %s did not exit", list);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 2, "--prefix %s: status %d", list, st);
    char *out = kt_read_file(log);
    cr_expect(out && strstr(out, why), "--prefix %s: %s", list, out ? out : "(no output)");
    free(out);
}

Test(web_queues, bad_prefix_lists_are_refused)
{
    refused_list("q,,p2", "an empty item");
    refused_list("q,", "an empty item");
    refused_list(",q", "an empty item");
    refused_list("q,p2,q", "\"q\" is listed twice");
    refused_list("q,p 2", "blank or control");
    char many[256] = "q0";
    for (int i = 1; i <= WEB_MAX_QUEUES; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), ",q%d", i);
    refused_list(many, "more than 16 queues");
    char longname[200];
    memset(longname, 'x', 128);
    longname[128] = '\0';
    refused_list(longname, "longer than 127 bytes");
}
