/*
 * post.c -- POST /job, single and bulk, with Kue's rules:
 *   - only an application/json body is parsed; anything else is {} -> 204
 *   - {} or [] -> 204 without a body
 *   - an object -> 200 {"message":"job created","id":N}; no type -> 400
 *     {"error":"Must provide job type"}; a save error -> 500 {"error":msg}
 *   - an array -> one element per input, in order, continuing after errors;
 *     the status is the first error's, else 200
 *   - malformed JSON -> 400 with a JSON error (Kue sends an HTML page)
 *   - a bad option (priority, backoff, attempts, delay, ttl) -> 400 naming
 *     the value and what is allowed (Kue would store it or fail later)
 */
#include "web.h"

#include <ctype.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int is_json_ctype(const char *ct)
{
    if (!ct) return 0;
    while (*ct == ' ' || *ct == '\t') ct++;
    size_t n = strcspn(ct, ";");
    while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t')) n--;
    return n == 16 && strncasecmp(ct, "application/json", 16) == 0;
}

/* JavaScript truthiness of a JSON value. */
static int truthy(const json_t *v)
{
    if (!v) return 0;
    switch (json_typeof(v)) {
    case JSON_NULL: case JSON_FALSE: return 0;
    case JSON_STRING: return json_string_length(v) > 0;
    case JSON_INTEGER: return json_integer_value(v) != 0;
    case JSON_REAL: return json_real_value(v) != 0 && !isnan(json_real_value(v));
    default: return 1;
    }
}

/* A number option (ms, counts): number or numeric string, parseInt-style. */
static int num_opt(const json_t *v, long long *out)
{
    if (json_is_integer(v)) { *out = json_integer_value(v); return 0; }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!isfinite(d) || d > 9e18 || d < -9e18) return -1;
        *out = (long long)d;
        return 0;
    }
    if (json_is_string(v)) return web_js_parse_int(json_string_value(v), out);
    return -1;
}

typedef struct { int status; char msg[600]; } item_err_t;

static void set_err(item_err_t *e, int status, const char *msg)
{
    e->status = status;
    snprintf(e->msg, sizeof e->msg, "%s", msg);
}

/* 400 "invalid NAME VALUE: ALLOWED", the value as JSON, cut short if long. */
static void bad_option(item_err_t *e, const char *name, const json_t *v, const char *allowed)
{
    web_buf_t b;
    web_buf_init(&b);
    web_json_dump(&b, v);
    const char *val = b.p && !b.oom ? b.p : "?";
    int n = (int)strlen(val);
    e->status = 400;
    snprintf(e->msg, sizeof e->msg, "invalid %s %.*s%s: %s", name, n > 120 ? 120 : n, val,
             n > 120 ? "..." : "", allowed);
    web_buf_free(&b);
}

#define ALLOWED_PRIORITY "use low, normal, medium, high, critical or an integer"
#define ALLOWED_BACKOFF \
    "use true or {\"type\":\"fixed\"|\"exponential\",\"delay\":ms,\"maxDelay\":ms}"
#define ALLOWED_MS "use a number of milliseconds"

/* Create one job from obj.  Returns the id (> 0) or 0 with *err set. */
static int64_t create_one(kue_t *k, const json_t *obj, item_err_t *err, int *redis_failed)
{
    const json_t *t = json_is_object(obj) ? json_object_get(obj, "type") : NULL;
    if (!truthy(t)) { set_err(err, 400, "Must provide job type"); return 0; }
    char tbuf[64];
    const char *type;
    if (json_is_string(t)) type = json_string_value(t);
    else if (json_is_integer(t)) { snprintf(tbuf, sizeof tbuf, "%lld", (long long)json_integer_value(t)); type = tbuf; }
    else if (json_is_true(t)) type = "true";
    else { set_err(err, 400, "Must provide job type"); return 0; }
    if (strlen(type) > KUE_MAX_TYPE_LEN) { set_err(err, 400, "job type too long"); return 0; }

    const json_t *d = json_object_get(obj, "data");
    web_buf_t data;
    web_buf_init(&data);
    if (truthy(d)) web_json_dump(&data, d);
    else web_buf_puts(&data, "{}");
    if (data.oom || data.len > KUE_MAX_DATA_LEN) {
        web_buf_free(&data);
        set_err(err, 500, "job data too large");
        return 0;
    }
    kue_job_t *job = kue_job_new(type, data.p);
    web_buf_free(&data);
    if (!job) { set_err(err, 500, "out of memory"); return 0; }

    const json_t *o = json_object_get(obj, "options");
    if (json_is_object(o)) {
        const json_t *v;
        long long n;
        if (truthy(v = json_object_get(o, "attempts"))) {
            if (num_opt(v, &n) == 0 && (n < 1 || n > INT_MAX || kue_job_set_attempts(job, (int)n) < 0)) {
                bad_option(err, "attempts", v, "use an integer of at least 1");
                goto fail;
            }
        }
        if (truthy(v = json_object_get(o, "priority"))) {
            int p;
            if (json_is_string(v)) {
                if (kue_priority_parse(json_string_value(v), &p) < 0) {
                    bad_option(err, "priority", v, ALLOWED_PRIORITY);
                    goto fail;
                }
            } else if (num_opt(v, &n) == 0 && n >= INT_MIN && n <= INT_MAX) {
                p = (int)n;
            } else {
                bad_option(err, "priority", v, ALLOWED_PRIORITY);
                goto fail;
            }
            kue_job_set_priority(job, p);
        }
        if (truthy(v = json_object_get(o, "delay"))) {
            if (num_opt(v, &n) < 0) { bad_option(err, "delay", v, ALLOWED_MS); goto fail; }
            kue_job_set_delay(job, n);
        }
        if (truthy(v = json_object_get(o, "ttl"))) {
            if (num_opt(v, &n) < 0) { bad_option(err, "ttl", v, ALLOWED_MS); goto fail; }
            kue_job_set_ttl(job, n);
        }
        if (truthy(v = json_object_get(o, "backoff"))) {
            web_buf_t bo;
            web_buf_init(&bo);
            web_json_dump(&bo, v);
            int rc = kue_job_set_backoff(job, bo.p ? bo.p : "true");
            web_buf_free(&bo);
            if (rc < 0) { bad_option(err, "backoff", v, ALLOWED_BACKOFF); goto fail; }
        }
        if (truthy(json_object_get(o, "removeOnComplete")))
            kue_job_set_remove_on_complete(job, 1);
        if (json_is_array(v = json_object_get(o, "searchKeys"))) {
            size_t nk = json_array_size(v), m = 0;
            const char **keys = calloc(nk ? nk : 1, sizeof *keys);
            if (!keys) { set_err(err, 500, "out of memory"); goto fail; }
            for (size_t i = 0; i < nk; i++)
                if (json_is_string(json_array_get(v, i)))
                    keys[m++] = json_string_value(json_array_get(v, i));
            kue_job_set_search_keys(job, keys, m);
            free(keys);
        }
    }

    int64_t id = kue_job_save(k, job);
    if (id <= 0) {
        const char *e = kue_errstr(k);
        set_err(err, 500, e && *e ? e : "save failed");
        if (!web_is_app_error(e)) {
            kue_stats_t st;
            if (kue_stats(k, &st) < 0) *redis_failed = 1;
        }
        goto fail;
    }
    kue_job_free(job);
    return id;
fail:
    kue_job_free(job);
    return 0;
}

static void created(web_buf_t *b, int64_t id)
{
    web_buf_printf(b, "{\"message\":\"job created\",\"id\":%lld}", (long long)id);
}

static void errobj(web_buf_t *b, const char *msg)
{
    web_buf_puts(b, "{\"error\":");
    web_buf_json_str(b, msg);
    web_buf_puts(b, "}");
}

void web_post_jobs(kue_t *k, const char *content_type, const char *body, size_t len,
                   web_resp_t *resp, int *redis_failed)
{
    *redis_failed = 0;
    if (!is_json_ctype(content_type) || len == 0 || !body) {
        resp->status = 204;
        web_buf_reset(&resp->body);
        return;
    }
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (!root) {
        char msg[300];
        snprintf(msg, sizeof msg, "invalid JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                 jerr.column);
        web_resp_error(resp, 400, msg);
        return;
    }
    if ((json_is_object(root) && json_object_size(root) == 0) ||
        (json_is_array(root) && json_array_size(root) == 0)) {
        json_decref(root);
        resp->status = 204;
        web_buf_reset(&resp->body);
        return;
    }
    web_buf_t *b = &resp->body;
    web_buf_reset(b);
    web_resp_json(resp, 200);
    item_err_t err;
    if (json_is_object(root)) {
        int64_t id = create_one(k, root, &err, redis_failed);
        if (id > 0) created(b, id);
        else web_resp_error(resp, *redis_failed ? 503 : err.status, err.msg);
        json_decref(root);
        return;
    }
    int status = 200;
    web_buf_puts(b, "[");
    for (size_t i = 0; i < json_array_size(root); i++) {
        if (i) web_buf_puts(b, ",");
        int64_t id = create_one(k, json_array_get(root, i), &err, redis_failed);
        if (id > 0) {
            created(b, id);
        } else {
            errobj(b, err.msg);
            if (status == 200) status = err.status;
        }
    }
    web_buf_puts(b, "]");
    resp->status = status;
    json_decref(root);
}
