/*
 * api.c -- Kue's JSON routes (docs/kue-web.md) on one kue_t.
 *
 * Kue answers almost every error with HTTP 200 and {"error": "..."}; we do
 * the same for application errors ("job \"5\" doesnt exist").  When Redis
 * itself is unreachable the answer is 503 with a JSON error instead, and the
 * caller reconnects for the next request.
 */
#include "web.h"

#include "json.h"
#include "kue_internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int web_is_app_error(kue_errcode_t code)
{
    switch (code) {
    case KUE_ERR_NOTFOUND: case KUE_ERR_INVALID: case KUE_ERR_WRONGSTATE: case KUE_ERR_SERVER:
        return 1;
    default:
        return 0;
    }
}

int web_is_redis_error(kue_t *k)
{
    if (web_is_app_error(kue_errcode(k))) return 0;
    kue_stats_t st;
    return kue_stats(k, &st) < 0;
}

/* A call on k failed: answer with Kue's convention (200 {"error"}), 409 for
 * a change the job's state forbids, or 503 when Redis is unreachable. */
static void fail(kue_t *k, web_resp_t *resp, int *redis_failed, int app_status)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", kue_errstr(k));
    if (!msg[0]) snprintf(msg, sizeof msg, "unknown error");
    kue_errcode_t code = kue_errcode(k);
    if (web_is_redis_error(k)) {
        *redis_failed = 1;
        char m2[640];
        snprintf(m2, sizeof m2, "redis unavailable: %s", msg);
        web_resp_error(resp, 503, m2);
        return;
    }
    web_resp_error(resp, code == KUE_ERR_WRONGSTATE ? 409 : app_status, msg);
}

static void doesnt_exist(web_resp_t *resp, const char *raw)
{
    web_buf_t m;
    web_buf_init(&m);
    web_buf_printf(&m, "job \"%s\" doesnt exist", raw ? raw : "");
    web_resp_error(resp, 200, m.p ? m.p : "job doesnt exist");
    web_buf_free(&m);
}

static void message(web_resp_t *resp, const char *a, const char *mid, const char *b)
{
    web_buf_t m;
    web_buf_init(&m);
    web_buf_puts(&m, a);
    if (mid) web_buf_puts(&m, mid);
    if (b) web_buf_puts(&m, b);
    web_buf_reset(&resp->body);
    web_resp_json(resp, 200);
    web_buf_puts(&resp->body, "{\"message\":");
    web_buf_json_str(&resp->body, m.p ? m.p : "");
    web_buf_puts(&resp->body, "}");
    web_buf_free(&m);
}

static void strings_json(web_buf_t *b, char **v, size_t n)
{
    web_buf_puts(b, "[");
    for (size_t i = 0; i < n; i++) {
        if (i) web_buf_puts(b, ",");
        web_buf_json_str(b, v[i]);
    }
    web_buf_puts(b, "]");
}

static void do_stats(kue_t *k, web_resp_t *resp, int *rf)
{
    kue_stats_t s;
    if (kue_stats(k, &s) < 0) { fail(k, resp, rf, 200); return; }
    web_buf_t *b = &resp->body;
    web_buf_printf(b, "{\"inactiveCount\":%lld,\"completeCount\":%lld,\"activeCount\":%lld,"
                      "\"failedCount\":%lld,\"delayedCount\":%lld,\"workTime\":",
                   s.inactive, s.complete, s.active, s.failed, s.delayed);
    if (s.work_time_ms < 0) web_buf_puts(b, "null");
    else web_buf_printf(b, "%lld", s.work_time_ms);
    web_buf_puts(b, "}");
}

static void do_range(kue_t *k, const web_route_t *r, web_resp_t *resp, int *rf)
{
    long long from, to;
    if (web_js_parse_int(r->from, &from) < 0 || web_js_parse_int(r->to, &to) < 0 ||
        from < LONG_MIN || from > LONG_MAX || to < LONG_MIN || to > LONG_MAX) {
        web_resp_error(resp, 200, "ERR value is not an integer or out of range");
        return;
    }
    /* bounded page (docs/security.md) */
    if (web_range_clamp(&from, &to, -1, WEB_MAX_PAGE) == 1) {
        long long count = kue_count(k, r->type, r->state);
        if (count < 0) { fail(k, resp, rf, 200); return; }
        web_range_clamp(&from, &to, count, WEB_MAX_PAGE);
    }
    int desc = r->order && strcmp(r->order, "desc") == 0;
    int64_t *ids = NULL;
    size_t n = 0;
    if (kue_range(k, r->type, r->state, (long)from, (long)to, desc, &ids, &n) < 0) {
        fail(k, resp, rf, 200);
        return;
    }
    web_buf_t *b = &resp->body;
    web_buf_puts(b, "[");
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        kue_job_t *job = kue_job_get(k, ids[i]);
        if (!job) {
            /* removed meanwhile: Kue skips it; a connection error fails the page */
            if (kue_errcode(k) != KUE_ERR_NOTFOUND) {
                free(ids);
                web_buf_reset(b);
                fail(k, resp, rf, 200);
                return;
            }
            continue;
        }
        char *js = kue_job_to_json(job, 0);
        kue_job_free(job);
        if (!js) {
            free(ids);
            web_resp_error(resp, 500, "out of memory");
            return;
        }
        if (!first) web_buf_puts(b, ",");
        first = 0;
        web_buf_puts(b, js);
        free(js);
    }
    web_buf_puts(b, "]");
    free(ids);
}

static void do_job(kue_t *k, const web_route_t *r, web_resp_t *resp, int *rf)
{
    int64_t id;
    if (web_parse_id(r->job_id, &id) < 0) { doesnt_exist(resp, r->job_id); return; }
    kue_job_t *job = kue_job_get(k, id);
    if (!job) { fail(k, resp, rf, 200); return; }
    char *js = kue_job_to_json(job, 1);
    /* Kue's shape plus the backoff option (the dashboard's detail shows it):
     * the stored JSON as it is, or as a string when it is not JSON */
    const char *bo = kue_job_field(job, "backoff");
    if (!js) { kue_job_free(job); web_resp_error(resp, 500, "out of memory"); return; }
    size_t n = strlen(js);
    if (bo && *bo && n && js[n - 1] == '}') {
        web_buf_put(&resp->body, js, n - 1);
        web_buf_puts(&resp->body, ",\"backoff\":");
        if (kue_json_check(bo, strlen(bo), NULL, 0) == 0)
            web_buf_puts(&resp->body, bo);
        else
            web_buf_json_str(&resp->body, bo);
        web_buf_puts(&resp->body, "}");
    } else {
        web_buf_puts(&resp->body, js);
    }
    kue_job_free(job);
    free(js);
}

static void do_log(kue_t *k, const web_route_t *r, web_resp_t *resp, int *rf)
{
    int64_t id;
    if (web_parse_id(r->job_id, &id) < 0) { web_buf_puts(&resp->body, "[]"); return; }
    char **lines = NULL;
    size_t n = 0;
    if (kue_job_log(k, id, &lines, &n) < 0) { fail(k, resp, rf, 200); return; }
    strings_json(&resp->body, lines, n);
    kue_strings_free(lines, n);
}

static void do_types(kue_t *k, web_resp_t *resp, int *rf)
{
    char **v = NULL;
    size_t n = 0;
    if (kue_types(k, &v, &n) < 0) { fail(k, resp, rf, 200); return; }
    strings_json(&resp->body, v, n);
    kue_strings_free(v, n);
}

static void do_search(const web_ctx_t *ctx, kue_t *k, const web_req_t *req, web_resp_t *resp,
                      int *rf)
{
    char **v = NULL;
    size_t n = 0;
    const char *q = req->query_q ? req->query_q : "undefined";
    if (kue_search(k, q, &v, &n) < 0) { fail(k, resp, rf, 200); return; }
    strings_json(&resp->body, v, n);
    kue_strings_free(v, n);
}

static void do_set_state(kue_t *k, const web_route_t *r, const char *state, web_resp_t *resp,
                         int *rf, int restart)
{
    int64_t id;
    if (web_parse_id(r->job_id, &id) < 0) { doesnt_exist(resp, r->job_id); return; }
    if (kue_job_set_state(k, id, state) < 0) { fail(k, resp, rf, 200); return; }
    if (restart) message(resp, "job ", r->job_id, " inactive");
    else message(resp, "updated state", NULL, NULL);
}

static void do_priority(kue_t *k, const web_route_t *r, web_resp_t *resp, int *rf)
{
    long long p;
    if (web_js_parse_int(r->value, &p) < 0 || p < INT_MIN || p > INT_MAX) {
        web_resp_error(resp, 200, "invalid priority");
        return;
    }
    int64_t id;
    if (web_parse_id(r->job_id, &id) < 0) { doesnt_exist(resp, r->job_id); return; }
    if (kue_job_update_priority(k, id, (int)p) < 0) { fail(k, resp, rf, 200); return; }
    message(resp, "updated priority", NULL, NULL);
}

static void do_delete(kue_t *k, const web_route_t *r, web_resp_t *resp, int *rf)
{
    int64_t id;
    if (web_parse_id(r->job_id, &id) < 0) { doesnt_exist(resp, r->job_id); return; }
    if (kue_job_remove(k, id) < 0) { fail(k, resp, rf, 200); return; }
    message(resp, "job ", r->job_id, " removed");
}

/* PUT /job/:id/cancel[/:grace] (grace a duration, default 5s) */
static void do_cancel(kue_t *k, const web_route_t *r, web_resp_t *resp, int *rf)
{
    int64_t grace = KUE_CANCEL_GRACE_DEFAULT_MS;
    if (r->value && (kue_parse_duration(r->value, &grace) != 0 ||
                     grace > KUE_MAX_CANCEL_GRACE_MS)) {
        web_resp_error(resp, 400, "invalid grace (a duration up to 1d: 250ms, 5s, 2m)");
        return;
    }
    int64_t id;
    if (web_parse_id(r->job_id, &id) < 0) { doesnt_exist(resp, r->job_id); return; }
    kue_cancel_t out;
    if (kue_job_cancel(k, id, grace, &out) < 0) { fail(k, resp, rf, 200); return; }
    static const char *const what[] = { "cancelled", "cancelling", "complete", "failed" };
    web_buf_t *b = &resp->body;
    if (out == KUE_CANCEL_COMPLETE || out == KUE_CANCEL_FAILED) {
        /* finished before the cancel arrived: left as it is */
        resp->status = 409;
        web_buf_printf(b, "{\"error\":\"job %lld had already %s\",\"outcome\":\"%s\"}",
                       (long long)id, out == KUE_CANCEL_COMPLETE ? "completed" : "failed",
                       what[out]);
        return;
    }
    web_buf_printf(b, "{\"message\":\"job %lld %s\",\"outcome\":\"%s\"}", (long long)id,
                   what[out], what[out]);
}

/* PUT /pause/:type, PUT /resume/:type */
static void do_pause(kue_t *k, const web_route_t *r, int on, web_resp_t *resp, int *rf)
{
    if ((on ? kue_type_pause(k, r->type) : kue_type_resume(k, r->type)) < 0) {
        fail(k, resp, rf, 200);
        return;
    }
    message(resp, "type ", r->type, on ? " paused" : " resumed");
}

static void do_type_state_stats(kue_t *k, const web_route_t *r, web_resp_t *resp, int *rf)
{
    long long c = kue_count(k, r->type, r->state);
    if (c < 0) { fail(k, resp, rf, 200); return; }
    web_buf_printf(&resp->body, "{\"count\":%lld}", c);
}

/* "queues":["P1",...] */
static void queues_json(const web_ctx_t *ctx, web_buf_t *b)
{
    web_buf_puts(b, "\"queues\":[");
    for (int i = 0; i < web_ctx_nqueues(ctx); i++) {
        if (i) web_buf_puts(b, ",");
        web_buf_json_str(b, web_ctx_queue(ctx, i));
    }
    web_buf_puts(b, "]");
}

static void do_config(const web_ctx_t *ctx, web_resp_t *resp)
{
    web_buf_t *b = &resp->body;
    web_buf_puts(b, "{\"title\":");
    web_buf_json_str(b, ctx->title ? ctx->title : "Kue");
    web_buf_puts(b, ",\"prefix\":");
    web_buf_json_str(b, web_ctx_queue(ctx, 0));
    web_buf_printf(b, ",\"search\":%s,\"version\":", ctx->search ? "true" : "false");
    web_buf_json_str(b, KUE_VERSION);
    web_buf_printf(b, ",\"scoreboard\":%s,", ctx->sb ? "true" : "false");
    queues_json(ctx, b);
    web_buf_puts(b, "}");
}

/* GET /queues: {"default":"P1","queues":["P1","P2"]} */
static void do_queues(const web_ctx_t *ctx, web_resp_t *resp)
{
    web_buf_t *b = &resp->body;
    web_buf_puts(b, "{\"default\":");
    web_buf_json_str(b, web_ctx_queue(ctx, 0));
    web_buf_puts(b, ",");
    queues_json(ctx, b);
    web_buf_puts(b, "}");
}

/* GET /cron, GET|PUT|DELETE /cron/:name: run-time schedules through
 * libkue (docs/kue-web.md). */
static void do_cron(kue_t *k, const web_req_t *req, web_resp_t *resp, int *rf)
{
    const web_route_t *r = req->route;
    if (r->id == WEB_R_CRON_PUT) {
        char *def = malloc(req->body_len + 1);
        if (!def) { web_resp_error(resp, 500, "out of memory"); return; }
        memcpy(def, req->body ? req->body : "", req->body_len);
        def[req->body_len] = '\0';
        int rc = strlen(def) == req->body_len ? kue_cron_put(k, r->type, def) : -2;
        free(def);
        if (rc == -2) { web_resp_error(resp, 400, "cron definition: NUL byte"); return; }
        if (rc < 0) { fail(k, resp, rf, 400); return; }
        message(resp, "cron ", r->type, " saved");
        return;
    }
    if (r->id == WEB_R_CRON_DELETE) {
        int rc = kue_cron_del(k, r->type);
        if (rc < 0) { fail(k, resp, rf, 400); return; }
        if (rc == 0) { web_resp_error(resp, 404, "no run-time cron schedule of that name"); return; }
        message(resp, "cron ", r->type, " removed");
        return;
    }
    char *list;
    if (kue_cron_list(k, &list) < 0) { fail(k, resp, rf, 200); return; }
    if (r->id == WEB_R_CRON_LIST) {
        web_buf_puts(&resp->body, list);
        free(list);
        return;
    }
    /* one entry: the list is small (at most 128 schedules) */
    char err[128];
    kue_jdoc_t *d = kue_jdoc_parse(list, strlen(list), err, sizeof err);
    const kue_jv_t *a = d ? kue_jdoc_root(d) : NULL;
    int found = 0;
    for (size_t i = 0; a && a->type == KUE_JARR && i < a->len && !found; i++) {
        const kue_jv_t *nm = kue_jv_get(a->items[i], "name");
        if (nm && nm->type == KUE_JSTR && !strcmp(nm->str, r->type)) {
            web_buf_put(&resp->body, a->items[i]->src, a->items[i]->srclen);
            found = 1;
        }
    }
    kue_jdoc_free(d);
    free(list);   /* after: the values point into it */
    if (!found) web_resp_error(resp, 404, "no cron schedule of that name");
}

static int needs_redis(web_route_id id)
{
    switch (id) {
    case WEB_R_HEALTHZ: case WEB_R_READYZ: case WEB_R_WORKERS: case WEB_R_THROUGHPUT:
    case WEB_R_CONFIG: case WEB_R_METRICS: case WEB_R_QUEUES:
        return 0;
    default:
        return 1;
    }
}

int web_route_all_queues(web_route_id id)
{
    return id == WEB_R_METRICS || id == WEB_R_READYZ;
}

void web_api_handle(const web_ctx_t *ctx, kue_t *k, kue_t *const *all, const web_req_t *req,
                    web_resp_t *resp, int *redis_failed)
{
    const web_route_t *r = req->route;
    int qi = req->queue >= 0 && req->queue < web_ctx_nqueues(ctx) ? req->queue : 0;
    kue_t *only[WEB_MAX_QUEUES] = { 0 };
    if (!all) {           /* k is the one connection there is */
        only[qi] = k;
        all = only;
    }
    *redis_failed = 0;
    web_resp_json(resp, 200);
    /* actions through Kue's HTTP API publish the id as a string, as Kue */
    if (k) kue_set_string_event_ids(k, 1);
    if (!k && needs_redis(r->id)) {
        web_resp_error(resp, 503, "redis unavailable");
        *redis_failed = 1;
        return;
    }
    switch (r->id) {
    case WEB_R_STATS: do_stats(k, resp, redis_failed); break;
    case WEB_R_SEARCH: do_search(ctx, k, req, resp, redis_failed); break;
    case WEB_R_RANGE: case WEB_R_RANGE_TYPE_STATE: case WEB_R_RANGE_STATE:
        do_range(k, r, resp, redis_failed);
        break;
    case WEB_R_TYPE_STATE_STATS: do_type_state_stats(k, r, resp, redis_failed); break;
    case WEB_R_TYPES: do_types(k, resp, redis_failed); break;
    case WEB_R_JOB: do_job(k, r, resp, redis_failed); break;
    case WEB_R_JOB_LOG: do_log(k, r, resp, redis_failed); break;
    case WEB_R_JOB_STATE: do_set_state(k, r, r->value, resp, redis_failed, 0); break;
    case WEB_R_JOB_PRIORITY: do_priority(k, r, resp, redis_failed); break;
    case WEB_R_JOB_DELETE: do_delete(k, r, resp, redis_failed); break;
    case WEB_R_JOB_CANCEL: do_cancel(k, r, resp, redis_failed); break;
    case WEB_R_PAUSE: do_pause(k, r, 1, resp, redis_failed); break;
    case WEB_R_RESUME: do_pause(k, r, 0, resp, redis_failed); break;
    case WEB_R_INACTIVE: do_set_state(k, r, "inactive", resp, redis_failed, 1); break;
    case WEB_R_JOB_CREATE:
        web_post_jobs(k, req->content_type, req->body, req->body_len, resp, redis_failed);
        break;
    case WEB_R_METRICS: web_metrics(ctx, all, resp); break;
    case WEB_R_HEALTHZ: web_healthz(ctx, resp); break;
    case WEB_R_READYZ: web_readyz(ctx, all, resp); break;
    case WEB_R_WORKERS: web_workers_json(ctx, k, resp); break;
    case WEB_R_THROUGHPUT:
        if (ctx->events[qi]) web_events_throughput(ctx->events[qi], &resp->body);
        else web_buf_puts(&resp->body, "{\"interval_s\":1,\"types\":{}}");
        break;
    case WEB_R_CONFIG: do_config(ctx, resp); break;
    case WEB_R_QUEUES: do_queues(ctx, resp); break;
    case WEB_R_CRON_LIST: case WEB_R_CRON_GET: case WEB_R_CRON_PUT: case WEB_R_CRON_DELETE:
        do_cron(k, req, resp, redis_failed);
        break;
    default:
        web_resp_error(resp, 404, "not found");
        break;
    }
}
