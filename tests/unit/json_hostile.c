/*
 * json_hostile.c -- what the fuzzers found, kept as unit tests: job hashes
 * and strings anyone can write into Redis must still give valid JSON
 * (invalid UTF-8 becomes U+FFFD, non-finite and huge numbers are bounded),
 * and event ids out of range are refused.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include <kue/kue.h>

#include "kue_internal.h"
#include "../../web/web.h"

static char *job_json(const char *const *kv, size_t n)
{
    size_t lens[32];
    for (size_t i = 0; i < n; i++) lens[i] = strlen(kv[i]);
    kue_job_t *j = kue_job_from_hash(7, kv, lens, n);
    cr_assert(j);
    char *js = kue_job_to_json(j, 0);
    kue_job_free(j);
    return js;
}

Test(json_hostile, non_finite_priority_is_null)
{
    const char *kv[] = { "type", "t", "priority", "-inf" };
    char *js = job_json(kv, 4);
    cr_assert(strstr(js, "\"priority\":null"), "%s", js);
    free(js);
    const char *kv2[] = { "type", "t", "priority", "1e999" };
    js = job_json(kv2, 4);
    cr_assert(strstr(js, "\"priority\":null"), "%s", js);
    free(js);
}

Test(json_hostile, huge_attempts_do_not_overflow)
{
    const char *kv[] = { "type", "t", "attempts", "1e300", "max_attempts", "-1e300" };
    char *js = job_json(kv, 6);
    /* read as Kue's toJSON reads them, Number(field): no int overflow */
    cr_assert(strstr(js, "\"made\":1e+300"), "%s", js);
    cr_assert(strstr(js, "\"max\":-1e+300"), "%s", js);
    free(js);
}

Test(json_hostile, invalid_utf8_becomes_replacement_character)
{
    const char *kv[] = { "type", ("a\xff" "b\xc3"), "error", "\xe2\x82" };
    char *js = job_json(kv, 4);
    /* U+FFFD itself, as JSON.stringify writes it after a UTF-8 decode */
    cr_assert(strstr(js, "\"type\":\"a\xef\xbf\xbd" "b\xef\xbf\xbd\""), "%s", js);
    cr_assert(strstr(js, "\"error\":\"\xef\xbf\xbd\""), "%s", js);
    free(js);
    /* valid sequences pass as they are */
    web_buf_t b;
    web_buf_init(&b);
    web_buf_json_str(&b, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xed\xa0\x80");
    cr_assert_str_eq(b.p, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
                          "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    web_buf_free(&b);
}

Test(json_hostile, event_id_out_of_range)
{
    int64_t id = 0;
    char ev[32];
    const char *m = "{\"id\":1e300,\"event\":\"complete\"}";
    cr_assert_eq(kue_event_parse(m, strlen(m), &id, ev, sizeof ev), -1);
    m = "{\"id\":12.0,\"event\":\"complete\"}";
    cr_assert_eq(kue_event_parse(m, strlen(m), &id, ev, sizeof ev), 0);
    cr_assert_eq(id, 12);
}
