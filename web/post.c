/*
 * post.c -- POST /job, single and bulk, with Kue's rules:
 *   - only an application/json body is parsed; anything else is {} -> 204
 *   - {} or [] -> 204 without a body
 *   - an object -> 200 {"message":"job created","id":N}; no type -> 400
 *     {"error":"Must provide job type"}; a save error -> 500 {"error":msg}
 *   - an array -> one element per input, in order, continuing after errors;
 *     the status is the first error's, else 200
 *   - malformed JSON -> 400 with a JSON error (Kue sends an HTML page)
 *   - a bad option (priority, backoff, attempts, delay, ttl, or a number
 *     beyond kue's limits) -> 400 naming the value and what is allowed (Kue
 *     would store it or fail later)
 */
#include "web.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kue_internal.h"

static int is_json_ctype(const char *ct)
{
    if (!ct) return 0;
    while (*ct == ' ' || *ct == '\t') ct++;
    size_t n = strcspn(ct, ";");
    while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t')) n--;
    return n == 16 && strncasecmp(ct, "application/json", 16) == 0;
}

/* A number option (ms, counts): a number, or a string read parseInt-style.
 * -1 when it is neither, or not finite. */
static int num_opt(const kue_jv_t *v, double *out)
{
    if (v->type == KUE_JNUM) {
        if (!isfinite(v->num)) return -1;
        *out = v->num;
        return 0;
    }
    long long n;
    if (v->type == KUE_JSTR && web_js_parse_int(v->str, &n) == 0) {
        *out = (double)n;
        return 0;
    }
    return -1;
}

/* A number as JSON.stringify prints it (the text Kue stores for it). */
static void num_text(double d, char *out, size_t len)
{
    kue_buf_t b;
    kue_buf_init(&b);
    kue_json_num(&b, d);
    snprintf(out, len, "%s", b.p && !b.oom ? b.p : "0");
    kue_buf_free(&b);
}

typedef struct { int status; char msg[600]; } item_err_t;

static void set_err(item_err_t *e, int status, const char *msg)
{
    e->status = status;
    snprintf(e->msg, sizeof e->msg, "%s", msg);
}

/* 400 "invalid NAME VALUE: ALLOWED", the value as JSON, cut short if long. */
static void bad_option(item_err_t *e, const char *name, const kue_jv_t *v, const char *allowed)
{
    web_buf_t b;
    web_buf_init(&b);
    kue_jv_write(&b, v);
    const char *val = b.p && !b.oom ? b.p : "?";
    int n = (int)strlen(val);
    e->status = 400;
    snprintf(e->msg, sizeof e->msg, "invalid %s %.*s%s: %s", name, n > 120 ? 120 : n, val,
             n > 120 ? "..." : "", allowed);
    web_buf_free(&b);
}

#define ALLOWED_PRIORITY "use low, normal, medium, high, critical or a finite number"
#define ALLOWED_BACKOFF \
    "use true or {\"type\":\"fixed\"|\"exponential\",\"delay\":ms,\"maxDelay\":ms}"
#define ALLOWED_MS "use a number of milliseconds"

/* Create one job from obj.  Returns the id (> 0) or 0 with *err set. */
static int64_t create_one(kue_t *k, const kue_jv_t *obj, item_err_t *err, int *redis_failed)
{
    const kue_jv_t *t = kue_jv_get(obj, "type");
    if (!kue_jv_truthy(t)) { set_err(err, 400, "Must provide job type"); return 0; }
    char tbuf[64];
    const char *type;
    if (t->type == KUE_JSTR) type = t->str;
    else if (t->type == KUE_JNUM) { num_text(t->num, tbuf, sizeof tbuf); type = tbuf; }
    else if (t->type == KUE_JTRUE) type = "true";
    else { set_err(err, 400, "Must provide job type"); return 0; }
    if (strlen(type) > KUE_MAX_TYPE_LEN) { set_err(err, 400, "job type too long"); return 0; }

    /* The data as Kue stores it: JSON.stringify of the parsed value. */
    const kue_jv_t *d = kue_jv_get(obj, "data");
    web_buf_t data;
    web_buf_init(&data);
    if (kue_jv_truthy(d)) kue_jv_write(&data, d);
    else web_buf_puts(&data, "{}");
    if (data.oom || data.len > KUE_MAX_DATA_LEN) {
        web_buf_free(&data);
        set_err(err, 500, "job data too large");
        return 0;
    }
    kue_job_t *job = kue_job_new(type, data.p);
    web_buf_free(&data);
    if (!job) { set_err(err, 500, "out of memory"); return 0; }

    const kue_jv_t *o = kue_jv_get(obj, "options");
    if (o && o->type == KUE_JOBJ) {
        const kue_jv_t *v;
        double n;
        char txt[64];
        if (kue_jv_truthy(v = kue_jv_get(o, "attempts"))) {
            if (num_opt(v, &n) == 0 && (n < 1 || n > INT_MAX || kue_job_set_attempts(job, (int)n) < 0)) {
                bad_option(err, "attempts", v, "use an integer of at least 1");
                goto fail;
            }
        }
        if (kue_jv_truthy(v = kue_jv_get(o, "priority"))) {
            int p;
            if (v->type == KUE_JSTR && kue_priority_parse(v->str, &p) == 0) {
                kue_job_set_priority(job, p);
            } else if (v->type == KUE_JNUM || v->type == KUE_JSTR) {
                /* any number Kue would store, kept as given (7.5 stays 7.5) */
                n = v->type == KUE_JNUM ? v->num : kue_js_number(v->str);
                num_text(n, txt, sizeof txt);
                if (!isfinite(n) || kue_job_set_priority_text(job, txt) < 0) {
                    if (v->type == KUE_JSTR && !isfinite(n))
                        bad_option(err, "priority", v, ALLOWED_PRIORITY);
                    else
                        set_err(err, 400, kue_job_option_error(n, "priority"));
                    goto fail;
                }
            } else {
                bad_option(err, "priority", v, ALLOWED_PRIORITY);
                goto fail;
            }
        }
        if (kue_jv_truthy(v = kue_jv_get(o, "delay"))) {
            if (num_opt(v, &n) < 0) { bad_option(err, "delay", v, ALLOWED_MS); goto fail; }
            num_text(n, txt, sizeof txt);
            if (kue_job_set_delay_text(job, txt) < 0) {
                set_err(err, 400, kue_job_option_error(n, "delay"));
                goto fail;
            }
        }
        if (kue_jv_truthy(v = kue_jv_get(o, "ttl"))) {
            if (num_opt(v, &n) < 0) { bad_option(err, "ttl", v, ALLOWED_MS); goto fail; }
            if (n < 0 || n > KUE_MAX_TTL_MS) {
                set_err(err, 400, kue_job_option_error(n, "ttl"));
                goto fail;
            }
            kue_job_set_ttl(job, (int64_t)n);
        }
        if (kue_jv_truthy(v = kue_jv_get(o, "backoff"))) {
            web_buf_t bo;
            web_buf_init(&bo);
            kue_jv_write(&bo, v);
            int rc = bo.oom ? -1 : kue_job_set_backoff(job, bo.p ? bo.p : "true");
            web_buf_free(&bo);
            if (rc < 0) { bad_option(err, "backoff", v, ALLOWED_BACKOFF); goto fail; }
        }
        if (kue_jv_truthy(v = kue_jv_get(o, "removeOnComplete"))) {
            /* Kue stores String(value): "yes" stays "yes" */
            web_buf_t rs;
            web_buf_init(&rs);
            kue_jv_to_string(&rs, v);
            int rc = rs.oom ? -1 : kue_job_set_remove_on_complete_text(job, rs.p ? rs.p : "true");
            web_buf_free(&rs);
            if (rc < 0) { set_err(err, 500, "invalid removeOnComplete"); goto fail; }
        }
        if ((v = kue_jv_get(o, "unique"))) {
            double keep = 0;
            const kue_jv_t *uf = kue_jv_get(o, "unique_for");
            if (kue_jv_truthy(uf) && (num_opt(uf, &keep) < 0 || keep < 0 || keep > KUE_MAX_DELAY_MS)) {
                bad_option(err, "unique_for", uf, "use a number of milliseconds up to ten years");
                goto fail;
            }
            if (v->type != KUE_JSTR || kue_job_set_unique(job, v->str, (int64_t)keep) < 0) {
                bad_option(err, "unique", v, "use a string of 1 to 256 bytes");
                goto fail;
            }
        }
        if ((v = kue_jv_get(o, "group"))) {
            if (v->type != KUE_JSTR || kue_job_set_group(job, v->str) < 0) {
                bad_option(err, "group", v, "use a string of 1 to 128 bytes");
                goto fail;
            }
        }
        if ((v = kue_jv_get(o, "searchKeys")) && v->type == KUE_JARR) {
            size_t nk = v->len, m = 0;
            const char **keys = calloc(nk ? nk : 1, sizeof *keys);
            if (!keys) { set_err(err, 500, "out of memory"); goto fail; }
            for (size_t i = 0; i < nk; i++)
                if (v->items[i]->type == KUE_JSTR) keys[m++] = v->items[i]->str;
            kue_job_set_search_keys(job, keys, m);
            free(keys);
        }
    }

    int64_t id = kue_job_save(k, job);
    if (id <= 0) {
        const char *e = kue_errstr(k);
        set_err(err, 500, e && *e ? e : "save failed");
        if (web_is_redis_error(k)) *redis_failed = 1;
        goto fail;
    }
    if (kue_job_existing(job)) id = -id;     /* the holder of its unique key */
    kue_job_free(job);
    return id;
fail:
    kue_job_free(job);
    return 0;
}

/* id < 0: no job was created, job -id holds the unique key (docs/kue-web.md) */
static void created(web_buf_t *b, int64_t id)
{
    if (id < 0)
        web_buf_printf(b, "{\"message\":\"job exists\",\"id\":%lld,\"existing\":true}",
                       (long long)-id);
    else
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
    char jerr[200];
    kue_jdoc_t *doc = kue_jdoc_parse(body, len, jerr, sizeof jerr);
    if (!doc) {
        char msg[300];
        snprintf(msg, sizeof msg, "invalid JSON: %s", jerr);
        web_resp_error(resp, 400, msg);
        return;
    }
    const kue_jv_t *root = kue_jdoc_root(doc);
    if ((root->type == KUE_JOBJ || root->type == KUE_JARR) && root->len == 0) {
        kue_jdoc_free(doc);
        resp->status = 204;
        web_buf_reset(&resp->body);
        return;
    }
    web_buf_t *b = &resp->body;
    web_buf_reset(b);
    web_resp_json(resp, 200);
    item_err_t err;
    if (root->type != KUE_JARR) {
        int64_t id = create_one(k, root, &err, redis_failed);
        if (id != 0) created(b, id);
        else web_resp_error(resp, *redis_failed ? 503 : err.status, err.msg);
        kue_jdoc_free(doc);
        return;
    }
    int status = 200;
    web_buf_puts(b, "[");
    for (size_t i = 0; i < root->len; i++) {
        if (i) web_buf_puts(b, ",");
        int64_t id = create_one(k, root->items[i], &err, redis_failed);
        if (id != 0) {
            created(b, id);
        } else {
            errobj(b, err.msg);
            if (status == 200) status = err.status;
        }
    }
    web_buf_puts(b, "]");
    resp->status = status;
    kue_jdoc_free(doc);
}
