/*
 * control_web.c -- cancel and pause through kue-web (docs/kue-web.md):
 * PUT /job/:id/cancel, PUT /pause/:type, PUT /resume/:type, the
 * kue_type_paused metric, the paused types in /workers, and the
 * cross-site check on the new routes.
 */
#include <kue/kue.h>
#include "web_common.h"

static wt_env_t E;

static void setup(void)
{
    wt_env_open(&E, 1);
}

static void teardown(void)
{
    wt_env_close(&E);
}

TestSuite(control_web, .init = setup, .fini = teardown, .timeout = 60);

static int64_t save(const char *type, int attempts)
{
    kue_job_t *j = kue_job_new(type, "{}");
    kue_job_set_attempts(j, attempts);
    int64_t id = kue_job_save(E.k, j);
    kue_job_free(j);
    cr_assert_gt(id, 0);
    return id;
}

static wt_resp_t put(const char *path)
{
    return wt_request(E.w.port, "PUT", path, NULL, NULL, 0);
}

Test(control_web, cancel_route)
{
    int64_t id = save("email", 3);
    char path[64];
    snprintf(path, sizeof path, "/job/%lld/cancel", (long long)id);
    wt_resp_t r = put(path);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "\"outcome\":\"cancelled\""), "%s", r.body);
    wt_resp_free(&r);
    kue_job_t *j = kue_job_get(E.k, id);
    cr_assert_str_eq(kue_job_state(j), "failed");
    cr_assert_str_eq(kue_job_field(j, "error"), "cancelled");
    kue_job_free(j);
    /* already failed: 409, said so, left as it is */
    r = put(path);
    cr_assert_eq(r.status, 409, "%s", r.body);
    cr_assert(strstr(r.body, "had already failed"), "%s", r.body);
    wt_resp_free(&r);
    /* a grace in the path; a bad one is refused */
    int64_t id2 = save("email", 1);
    snprintf(path, sizeof path, "/job/%lld/cancel/250ms", (long long)id2);
    r = put(path);
    cr_assert_eq(r.status, 200, "%s", r.body);
    wt_resp_free(&r);
    snprintf(path, sizeof path, "/job/%lld/cancel/soon", (long long)id2);
    r = put(path);
    cr_assert_eq(r.status, 400, "%s", r.body);
    wt_resp_free(&r);
    r = put("/job/424242/cancel");
    cr_assert(strstr(r.body, "doesnt exist"), "%s", r.body);
    wt_resp_free(&r);
    /* a cross-site request changes nothing */
    int64_t id3 = save("email", 1);
    snprintf(path, sizeof path, "/job/%lld/cancel", (long long)id3);
    r = wt_request(E.w.port, "PUT", path, "Origin: http://evil.example\r\n", NULL, 0);
    cr_assert_eq(r.status, 403, "%s", r.body);
    wt_resp_free(&r);
    r = wt_request(E.w.port, "PUT", "/pause/email", "Origin: http://evil.example\r\n", NULL, 0);
    cr_assert_eq(r.status, 403, "%s", r.body);
    wt_resp_free(&r);
    j = kue_job_get(E.k, id3);
    cr_assert_str_eq(kue_job_state(j), "inactive");
    kue_job_free(j);
}

Test(control_web, pause_routes_metrics_and_workers)
{
    save("email", 1);
    save("video", 1);
    wt_resp_t r = put("/pause/video");
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "type video paused"), "%s", r.body);
    wt_resp_free(&r);
    char **v;
    size_t n;
    cr_assert_eq(kue_paused_types(E.k, &v, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(v[0], "video");
    kue_strings_free(v, n);

    r = wt_get(E.w.port, "/metrics");
    cr_assert(strstr(r.body, "# TYPE kue_type_paused gauge\n"), "%s", r.body);
    cr_assert(strstr(r.body, "kue_type_paused{queue=\"q\",type=\"video\"} 1\n"), "%s", r.body);
    cr_assert(strstr(r.body, "kue_type_paused{queue=\"q\",type=\"email\"} 0\n"), "%s", r.body);
    wt_resp_free(&r);
    r = wt_get(E.w.port, "/workers");
    cr_assert(strstr(r.body, "\"paused\":[\"video\"]"), "%s", r.body);
    wt_resp_free(&r);

    r = put("/resume/video");
    cr_assert_eq(r.status, 200, "%s", r.body);
    wt_resp_free(&r);
    r = wt_get(E.w.port, "/metrics");
    cr_assert(strstr(r.body, "kue_type_paused{queue=\"q\",type=\"video\"} 0\n"), "%s", r.body);
    wt_resp_free(&r);
    r = wt_get(E.w.port, "/workers");
    cr_assert(strstr(r.body, "\"paused\":[]"), "%s", r.body);
    wt_resp_free(&r);
}
