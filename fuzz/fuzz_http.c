/*
 * fuzz_http.c -- kue-web's request side without a socket: routing and
 * %-decoding of the path (web/route.c), query decoding, the range bound,
 * the Host/Origin checks, Basic auth, the listen address, and the POST /job body
 * (web/post.c) with saving replaced by a stub, so no Redis is needed.
 *
 * Input: a method selector byte, then NUL-separated fields: path, query
 * value, Host, Origin, Sec-Fetch-Site, Referer, listen address, and the
 * rest is the POST body.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kue/kue.h>

#include "server.h"
#include "json_valid.h"
#include "web.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The stub: the fuzzer links it before libkue (see the Makefile). */
static int64_t next_id;
int64_t kue_job_save(kue_t *k, kue_job_t *job)
{
    (void)k;
    (void)job;
    return ++next_id;
}

static const char *field(const char **p, const char *end)
{
    const char *s = *p;
    const char *z = memchr(s, '\0', (size_t)(end - s));
    *p = z ? z + 1 : end;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const methods[] = { "GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH" };
    if (size < 1 || size > 256 * 1024)
        return 0;
    /* a NUL-terminated copy, so each field is a C string */
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = '\0';
    const char *p = buf, *end = buf + size - 1;
    const char *method = methods[data[0] % (sizeof methods / sizeof methods[0])];
    const char *path = field(&p, end);
    const char *query = p < end ? field(&p, end) : "";
    const char *host = p < end ? field(&p, end) : NULL;
    const char *origin = p < end ? field(&p, end) : NULL;
    const char *sfs = p < end ? field(&p, end) : NULL;
    const char *referer = p < end ? field(&p, end) : NULL;
    const char *listen = p < end ? field(&p, end) : "";
    const char *body = p;
    size_t body_len = (size_t)(end - p);

    web_route_t *r = calloc(1, sizeof *r);
    if (r && strlen(path) < WEB_PATH_MAX) {
        web_route_match(method, path, r);
        long long a, b;
        if (r->from && r->to && web_js_parse_int(r->from, &a) == 0 &&
            web_js_parse_int(r->to, &b) == 0) {
            long long f = a, t = b, cnt = (long long)(size * 7);
            if (web_range_clamp(&f, &t, -1, WEB_MAX_PAGE) == 1)
                web_range_clamp(&f, &t, cnt, WEB_MAX_PAGE);
            /* what ZRANGE f t selects in a set of cnt elements */
            long long nf = f < 0 ? f + cnt : f, nt = t < 0 ? t + cnt : t;
            if (nf < 0) nf = 0;
            if (nt >= cnt) nt = cnt - 1;
            if (nt >= nf && (unsigned long long)nt - (unsigned long long)nf >= WEB_MAX_PAGE) {
                fprintf(stderr, "range %lld..%lld cut to %lld..%lld\n", a, b, f, t);
                abort();
            }
        }
        int64_t id;
        if (r->job_id) web_parse_id(r->job_id, &id);
        if (r->value) web_parse_id(r->value, &id);
    }
    free(r);
    size_t ql = strlen(query);
    char *q = malloc(ql + 1);
    if (q) {
        long n = web_url_decode(query, ql, q, 1);
        if (n > (long)ql)
            abort();
        free(q);
    }
    web_host_allowed(host, listen, "kue.example.org, *.nope");
    web_basic_auth_ok(origin, "admin:s3cret");
    web_same_origin(host, origin, sfs, referer, data[0] & 1);
    char lh[256];
    int port;
    web_parse_listen(listen, lh, sizeof lh, &port);

    /* POST /job: the body, with and without a JSON content type */
    web_resp_t resp;
    web_resp_init(&resp);
    int failed = 0;
    web_post_jobs((kue_t *)(uintptr_t)1, (data[0] & 2) ? "text/plain" : "application/json",
                  body, body_len, &resp, &failed);
    if (resp.status != 204 && resp.body.len && !resp.body.oom) {
        /* what is answered is JSON */
        if (!json_valid(resp.body.p, resp.body.len)) {
            fprintf(stderr, "invalid JSON answered: %.*s\n", (int)resp.body.len, resp.body.p);
            abort();
        }
    }
    web_resp_free(&resp);
    free(buf);
    return 0;
}
