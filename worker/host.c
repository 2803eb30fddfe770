/*
 * host.c -- the services a plugin reaches through its handles (struct
 * kue_host_api in include/kue/plugin.h), and the small pure helpers they
 * use.  Every entry point checks the handle first: a plugin that keeps a
 * handle after done() gets a warning, never a crash (finished handles stay
 * valid in the worker's retired ring for a while; see worker_int.h).
 */
#include "worker_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"

long kw_progress_pct(long done, long total)
{
    if (total <= 0 || done <= 0) return 0;
    long long p = (long long)done * 100 / total;
    return p > 100 ? 100 : (long)p;
}

int kw_backoff_is_function(const char *b)
{
    if (!b || !*b || strcmp(b, "true") == 0) return 0;
    /* Kue stores true, a JSON object, or function source; other JSON is
     * treated like `true` (the delay field) by the fail script. */
    return !kue_json_valid(b, strlen(b));
}

char *kw_json_compact(const char *text, char *err, size_t errlen)
{
    /* what a Node handler's JSON.stringify would store: {"x":0.1} stays so */
    return kue_json_normalize(text, strlen(text), err, errlen);
}

char *kw_invalid_result(const char *result_json)
{
    /* {"error":true,"message":"Invalid JSON Result: \"...\""}, by the common
     * writer: a cut or invalid UTF-8 sequence becomes U+FFFD */
    char msg[600];
    snprintf(msg, sizeof msg, "Invalid JSON Result: \"%.500s\"", result_json);
    kue_buf_t b;
    kue_buf_init(&b);
    kue_buf_puts(&b, "{\"error\":true,\"message\":");
    kue_json_str(&b, msg, strlen(msg));
    kue_buf_putc(&b, '}');
    return kue_buf_take(&b);
}

static struct kw_job *J(const kue_handle_t *h)
{
    return (struct kw_job *)(uintptr_t)h;
}

/* Usable for reading: running or taken away (the handler may still read
 * its data until it calls done()). */
static struct kw_job *live(const kue_handle_t *h, const char *what)
{
    struct kw_job *j = J(h);
    if (!h || j->magic != KW_JOB_MAGIC) {
        klog_error("plugin called %s() with an invalid job handle; ignored", what);
        return NULL;
    }
    if (j->state == KJ_FINISHED) {
        klog_warn("job %lld: plugin called %s() after done(); ignored", (long long)j->id, what);
        return NULL;
    }
    return j;
}

static int64_t h_job_id(const kue_handle_t *h) { struct kw_job *j = live(h, "kue_job_id_of"); return j ? j->id : -1; }
static const char *h_job_type(const kue_handle_t *h) { struct kw_job *j = live(h, "kue_job_type_of"); return j ? j->type : ""; }
static const char *h_job_data(const kue_handle_t *h) { struct kw_job *j = live(h, "kue_job_data_of"); return j ? j->data : "{}"; }
static struct json_t *h_job_json(const kue_handle_t *h) { struct kw_job *j = live(h, "kue_job_json"); return j ? j->json : NULL; }
static int h_job_priority(const kue_handle_t *h) { struct kw_job *j = live(h, "kue_job_priority_of"); return j ? j->priority : 0; }
static int h_job_attempts(const kue_handle_t *h) { struct kw_job *j = live(h, "kue_job_attempts_of"); return j ? j->attempts : 0; }
static int h_job_max_attempts(const kue_handle_t *h) { struct kw_job *j = live(h, "kue_job_max_attempts_of"); return j ? j->max_attempts : 1; }
static int64_t h_job_created_at(const kue_handle_t *h) { struct kw_job *j = live(h, "kue_job_created_at_of"); return j ? j->created_at : 0; }

static kue_plugin_ctx_t *h_job_ctx(const kue_handle_t *h)
{
    struct kw_job *j = J(h);
    if (!h || j->magic != KW_JOB_MAGIC) return NULL;
    return &j->w->ctx.pub;
}

static void h_progress(kue_handle_t *h, long done, long total, const char *data_json)
{
    struct kw_job *j = live(h, "kue_progress");
    if (!j) return;
    if (j->state != KJ_RUNNING) return;     /* taken away: the job is not ours */
    char *data = NULL;
    if (data_json && *data_json) {
        char err[200];
        data = kw_json_compact(data_json, err, sizeof err);
        if (!data)
            klog_warn("job %lld: progress data is not valid JSON (%s); stored without it",
                      (long long)j->id, err);
    }
    kw_report_progress(j, kw_progress_pct(done, total), data);
    free(data);
}

__attribute__((format(printf, 2, 0)))
static void h_logv(kue_handle_t *h, const char *fmt, va_list ap)
{
    struct kw_job *j = live(h, "kue_log");
    if (!j || !fmt) return;
    char small[1024];
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(small, sizeof small, fmt, aq);
    va_end(aq);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        kw_report_log(j, small, (size_t)n);
        return;
    }
    size_t cap = (size_t)n + 1 > KUE_MAX_LOG_LEN ? KUE_MAX_LOG_LEN : (size_t)n + 1;
    char *big = malloc(cap);
    if (!big) return;
    vsnprintf(big, cap, fmt, ap);
    kw_report_log(j, big, strlen(big));
    free(big);
}

static void h_done(kue_handle_t *h, const char *error, const char *result_json)
{
    struct kw_job *j = J(h);
    if (!h || j->magic != KW_JOB_MAGIC) {
        klog_error("plugin called kue_done() with an invalid job handle; ignored");
        return;
    }
    if (j->state == KJ_FINISHED) {
        klog_warn("job %lld: kue_done() called again; ignored", (long long)j->id);
        return;
    }
    kw_job_finish(j, error, result_json);
}

static struct kw_plugin_ctx *C(kue_plugin_ctx_t *c)
{
    return (struct kw_plugin_ctx *)(uintptr_t)c;
}

static struct ev_loop *h_loop(kue_plugin_ctx_t *c) { return C(c)->w->loop; }
static void h_pause(kue_plugin_ctx_t *c, int64_t timeout_ms) { kw_pause(C(c)->w, timeout_ms); }
static void h_resume(kue_plugin_ctx_t *c) { kw_resume(C(c)->w); }
static void *h_get_userdata(kue_plugin_ctx_t *c) { return C(c)->userdata; }
static void h_set_userdata(kue_plugin_ctx_t *c, void *p) { C(c)->userdata = p; }
static const char *h_ctx_type(kue_plugin_ctx_t *c) { return C(c)->w->cfg->type; }

const struct kue_host_api kw_host_api = {
    .size = sizeof(struct kue_host_api),
    .job_id = h_job_id,
    .job_type = h_job_type,
    .job_data = h_job_data,
    .job_json = h_job_json,
    .job_priority = h_job_priority,
    .job_attempts = h_job_attempts,
    .job_max_attempts = h_job_max_attempts,
    .job_created_at = h_job_created_at,
    .job_ctx = h_job_ctx,
    .progress = h_progress,
    .logv = h_logv,
    .done = h_done,
    .loop = h_loop,
    .pause = h_pause,
    .resume = h_resume,
    .get_userdata = h_get_userdata,
    .set_userdata = h_set_userdata,
    .ctx_type = h_ctx_type,
};
