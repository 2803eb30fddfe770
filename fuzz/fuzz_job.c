/*
 * fuzz_job.c -- a job hash as Redis returns it (NUL-separated field,
 * value, field, value ...) decoded by libkue and written as JSON by
 * kue_job_to_json (both id styles), and any JSON text parsed and
 * re-encoded by the JSON.stringify-compatible reader and writer
 * (common/json.c), also laid out over lines.  Every output must parse as
 * JSON.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kue/kue.h>

#include "json.h"
#include "kue_internal.h"
#include "json_valid.h"
#include "web.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must_parse(const char *what, const char *s, size_t n)
{
    if (!json_valid(s, n)) {
        fprintf(stderr, "%s produced invalid JSON: %.*s\n", what, (int)(n > 400 ? 400 : n), s);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256 * 1024)
        return 0;
    /* the hash */
    const char *kv[256];
    size_t lens[256], n = 0;
    const char *s = (const char *)data, *end = s + size;
    while (s < end && n < 256) {
        const char *z = memchr(s, '\0', (size_t)(end - s));
        size_t l = z ? (size_t)(z - s) : (size_t)(end - s);
        kv[n] = s;
        lens[n] = l;
        n++;
        s += l + 1;
    }
    kue_job_t *job = kue_job_from_hash(1234, kv, lens, n);
    if (job) {
        for (int string_id = 0; string_id < 2; string_id++) {
            char *js = kue_job_to_json(job, string_id);
            if (js) {
                must_parse("kue_job_to_json", js, strlen(js));
                free(js);
            }
        }
        kue_job_free(job);
    }
    /* JSON re-encoding */
    kue_jdoc_t *d = kue_jdoc_parse((const char *)data, size, NULL, 0);
    if (d) {
        for (int pretty = 0; pretty < 2; pretty++) {
            web_buf_t b;
            web_buf_init(&b);
            if (pretty)
                kue_jv_write_pretty(&b, kue_jdoc_root(d), 2);
            else
                kue_jv_write(&b, kue_jdoc_root(d));
            if (!b.oom)
                must_parse("kue_jv_write", b.p ? b.p : "null", b.p ? b.len : 4);
            web_buf_free(&b);
        }
        kue_jdoc_free(d);
    }
    /* a raw string escaped as JSON.stringify does */
    web_buf_t b;
    web_buf_init(&b);
    web_buf_json_strn(&b, (const char *)data, size);
    if (!b.oom)
        must_parse("web_buf_json_strn", b.p, b.len);
    web_buf_free(&b);
    return 0;
}
