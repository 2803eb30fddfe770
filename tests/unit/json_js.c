/*
 * The JSON reader and writer against what JavaScript does: JSON.parse's
 * grammar (numbers of any size, lone surrogates, raw bytes), JSON.stringify's
 * output (shortest round-trip numbers, escapes, key order), and the repair
 * of bytes that are not UTF-8 (docs/data.md).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "json.h"
#include "kue_internal.h"
#include "log.h"

static void norm_eq(const char *in, const char *want)
{
    char err[160];
    char *out = kue_json_normalize(in, strlen(in), err, sizeof err);
    cr_assert_not_null(out, "%s: %s", in, err);
    cr_expect_str_eq(out, want, "JSON.stringify(JSON.parse(%s))", in);
    free(out);
}

static void refused(const char *in)
{
    char err[160];
    cr_expect_neq(kue_json_check(in, strlen(in), err, sizeof err), 0, "accepted %s", in);
    cr_expect(err[0], "no message for %s", in);
}

static void num_eq(double d, const char *want)
{
    kue_buf_t b;
    kue_buf_init(&b);
    kue_json_num(&b, d);
    cr_expect_str_eq(b.p, want, "%.17g", d);
    kue_buf_free(&b);
}

Test(json_js, accepts_what_json_parse_accepts)
{
    /* what jansson refuses: integers beyond 64 bits, lone surrogates */
    norm_eq("{\"n\":150000000000000000000}", "{\"n\":150000000000000000000}");
    norm_eq("{\"n\":9223372036854776000}", "{\"n\":9223372036854776000}");
    norm_eq("[1.5e20]", "[150000000000000000000]");
    norm_eq("\"\\ud800\"", "\"\\ud800\"");
    norm_eq("\"a\\uDC00b\"", "\"a\\udc00b\"");
    norm_eq("\"\\ud83d\\ude00\"", "\"\xF0\x9F\x98\x80\"");
    norm_eq("\"\\u0000\"", "\"\\u0000\"");
    norm_eq("{\"\\u0000\":1}", "{\"\\u0000\":1}");
    norm_eq(" 5 ", "5");
    norm_eq("\"x\"", "\"x\"");
    norm_eq("null", "null");
    norm_eq("1e400", "null");            /* Infinity */
    norm_eq("-0", "0");
    norm_eq("\"\\/\\u0041\"", "\"/A\"");
    cr_expect(kue_json_valid("{\"n\":150000000000000000000}", 27));
}

Test(json_js, refuses_what_json_parse_refuses)
{
    refused("");
    refused("{bad");
    refused("[1,]");
    refused("{\"a\":1,}");
    refused("01");
    refused("1.");
    refused(".5");
    refused("+1");
    refused("NaN");
    refused("Infinity");
    refused("'x'");
    refused("\"tab\there\"");
    refused("\"\\x41\"");
    refused("\"\\u12\"");
    refused("[1] [2]");
    refused("{\"a\" 1}");
    refused("tru");
}

Test(json_js, nesting_is_bounded)
{
    size_t d = KUE_JSON_MAX_DEPTH;
    char *s = malloc(2 * d + 3);
    memset(s, '[', d);
    memset(s + d, ']', d);
    s[2 * d] = '\0';
    cr_expect(kue_json_valid(s, 2 * d));
    memset(s, '[', d + 1);
    memset(s + d + 1, ']', d + 1);
    s[2 * d + 2] = '\0';
    cr_expect(!kue_json_valid(s, 2 * d + 2));
    free(s);
}

Test(json_js, numbers_as_json_stringify)
{
    num_eq(0.1, "0.1");
    num_eq(0.1 + 0.2, "0.30000000000000004");
    num_eq(1e21, "1e+21");
    num_eq(1e20, "100000000000000000000");
    num_eq(123456789012.5, "123456789012.5");
    num_eq(0.000001, "0.000001");
    num_eq(1e-7, "1e-7");
    num_eq(-1.5e-7, "-1.5e-7");
    num_eq(2.0, "2");
    num_eq(-0.0, "0");
    num_eq(7.5, "7.5");
    num_eq(1000.7, "1000.7");
    num_eq(5e-324, "5e-324");
    num_eq(1.7976931348623157e308, "1.7976931348623157e+308");
    num_eq(9007199254740993.0, "9007199254740992");
    num_eq(2.2250738585072014e-308, "2.2250738585072014e-308");
    num_eq(123e-20, "1.23e-18");
    num_eq(1.5e300, "1.5e+300");
    num_eq(999999999999999900000.0, "999999999999999900000");
    num_eq(4.35, "4.35");
    num_eq(-1e-6, "-0.000001");
    num_eq(NAN, "null");
    num_eq(INFINITY, "null");
    num_eq(-INFINITY, "null");
}

Test(json_js, objects_as_javascript_orders_them)
{
    /* the last of repeated keys, at the first one's place */
    norm_eq("{\"a\":1,\"b\":2,\"a\":3}", "{\"a\":3,\"b\":2}");
    /* array-index keys first, ascending; then insertion order */
    norm_eq("{\"b\":1,\"2\":2,\"1\":3,\"01\":4,\"a\":5}", "{\"1\":3,\"2\":2,\"b\":1,\"01\":4,\"a\":5}");
    norm_eq("{\"4294967295\":1,\"4294967294\":2}", "{\"4294967294\":2,\"4294967295\":1}");
}

Test(json_js, strings_as_json_stringify)
{
    norm_eq("\"tab\\t nl\\n q\\\" bs\\\\ \\u0001 \\u001f \\u007f \\u2028 \xC3\xA9\"",
            "\"tab\\t nl\\n q\\\" bs\\\\ \\u0001 \\u001f \x7f \xE2\x80\xA8 \xC3\xA9\"");
    kue_buf_t b;
    kue_buf_init(&b);
    kue_json_str(&b, "a\"b\\\n\x01", 6);
    cr_expect_str_eq(b.p, "\"a\\\"b\\\\\\n\\u0001\"");
    kue_buf_free(&b);
}

Test(json_js, invalid_utf8_becomes_replacement_characters)
{
    kue_buf_t b;
    kue_buf_init(&b);
    /* a lone continuation byte, a cut 3-byte sequence, an overlong form, an
     * encoded surrogate: one U+FFFD per maximal ill-formed part */
    kue_json_str(&b, "a\x80" "b\xE2\x82" "c\xC0\xAF" "d\xED\xA0\x80", 12);
    cr_expect_str_eq(b.p, "\"a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\xEF\xBF\xBD\xEF\xBF\xBD"
                          "d\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
    kue_buf_reset(&b);
    /* raw JSON text: kept byte for byte, only the bad bytes replaced */
    const char *raw = "{\"s\":\"x\xFFy\",\"n\":150000000000000000000}";
    cr_expect(kue_json_valid(raw, strlen(raw)));
    kue_json_raw(&b, raw, strlen(raw));
    cr_expect_str_eq(b.p, "{\"s\":\"x\xEF\xBF\xBDy\",\"n\":150000000000000000000}");
    kue_buf_reset(&b);
    /* parsed strings decode such bytes as a JavaScript reader does */
    kue_buf_free(&b);
    norm_eq("\"x\xFFy\"", "\"x\xEF\xBF\xBDy\"");
}

Test(json_js, stored_fields_always_give_json)
{
    kue_buf_t b;
    kue_buf_init(&b);
    kue_json_stored(&b, "{\"a\": 1}", 8);
    cr_expect_str_eq(b.p, "{\"a\": 1}");
    kue_buf_reset(&b);
    kue_json_stored(&b, "not json {", 10);
    cr_expect_str_eq(b.p, "\"not json {\"");
    kue_buf_free(&b);
}

Test(json_js, javascript_number_and_string_conversions)
{
    cr_expect_eq(kue_js_number("7.5"), 7.5);
    cr_expect_eq(kue_js_number(" 42 "), 42);
    cr_expect_eq(kue_js_number(""), 0);
    cr_expect_eq(kue_js_number("0x10"), 16);
    cr_expect_eq(kue_js_number("1e300"), 1e300);
    cr_expect(isnan(kue_js_number("nan")));
    cr_expect(isnan(kue_js_number("inf")));
    cr_expect(isnan(kue_js_number("12abc")));
    cr_expect(isinf(kue_js_number("Infinity")));
    char *s = kue_json_to_js_string("\"yes\"", 5);
    cr_expect_str_eq(s, "yes");
    free(s);
    s = kue_json_to_js_string("[1,null,[2.50,\"x\"]]", 19);
    cr_expect_str_eq(s, "1,,2.5,x");
    free(s);
    s = kue_json_to_js_string("{\"a\":1}", 7);
    cr_expect_str_eq(s, "[object Object]");
    free(s);
}

Test(json_js, buffer_reports_running_out)
{
    kue_buf_t b;
    kue_buf_init(&b);
    b.max = 4;
    kue_buf_puts(&b, "abc");
    cr_expect(!b.oom);
    kue_buf_puts(&b, "de");
    cr_expect(b.oom);
    kue_buf_puts(&b, "f");
    cr_expect_str_eq(b.p, "abc");
    cr_expect_null(kue_buf_take(&b));
    kue_buf_free(&b);
}

Test(json_js, pretty_layout_as_json_stringify_with_indent)
{
    const char *in = "{\"a\":[1,{\"b\":150000000000000000000}],\"e\":{},\"s\":\"\\ud800\"}";
    kue_jdoc_t *d = kue_jdoc_parse(in, strlen(in), NULL, 0);
    cr_assert_not_null(d);
    kue_buf_t b;
    kue_buf_init(&b);
    kue_jv_write_pretty(&b, kue_jdoc_root(d), 2);
    cr_expect_str_eq(b.p, "{\n  \"a\": [\n    1,\n    {\n      \"b\": 150000000000000000000\n    }\n  ],\n"
                          "  \"e\": {},\n  \"s\": \"\\ud800\"\n}");
    kue_buf_free(&b);
    kue_jdoc_free(d);
}

/* Events whose arguments jansson refuses are events all the same (kue
 * watch, the web relay). */
Test(json_js, events_with_big_results_are_parsed)
{
    const char *m = "{\"id\":\"4\",\"event\":\"complete\",\"args\":[\"complete\","
                    "{\"n\":150000000000000000000,\"s\":\"\\ud800\"},null]}";
    int64_t id = 0;
    char ev[32] = "";
    cr_assert_eq(kue_event_parse(m, strlen(m), &id, ev, sizeof ev), 0);
    cr_expect_eq(id, 4);
    cr_expect_str_eq(ev, "complete");
    const char *n = "{\"id\":17,\"event\":\"enqueue\",\"args\":[\"enqueue\",\"t\"]}";
    cr_assert_eq(kue_event_parse(n, strlen(n), &id, ev, sizeof ev), 0);
    cr_expect_eq(id, 17);
    cr_expect_neq(kue_event_parse("{\"id\":1}", 8, &id, ev, sizeof ev), 0);
}

/* JSON log lines come from the common writer: valid JSON whatever the
 * message holds (quotes, control characters, bytes that are not UTF-8),
 * and a message longer than a line is cut, still as valid JSON. */
Test(json_js, json_log_lines_are_valid_json)
{
    char path[] = "/tmp/kue-json-log-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    klog_init("test \"role\"", KLOG_DEBUG, 1);
    klog(KLOG_INFO, "job 5: error \"x/y\" \x01 \xff\xe2\x82 \xe2\x9c\x93 done");
    char big[2000];
    memset(big, '"', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    klog(KLOG_WARN, "%s", big);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    klog_init("test", KLOG_INFO, 0);
    char text[16384];
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    close(fd);
    unlink(path);
    cr_assert_gt(n, 0);
    text[n] = '\0';
    char *nl = strchr(text, '\n');
    cr_assert_not_null(nl);
    *nl = '\0';
    cr_expect(kue_json_valid(text, strlen(text)), "%s", text);
    cr_expect(strstr(text, "\"msg\":\"job 5: error \\\"x/y\\\" \\u0001 \xEF\xBF\xBD\xEF\xBF\xBD "
                           "\xE2\x9c\x93 done\"}"), "%s", text);
    cr_expect(strstr(text, "\"role\":\"test \\\"role\\\"\""), "%s", text);
    char *second = nl + 1;
    nl = strchr(second, '\n');
    cr_assert_not_null(nl);
    *nl = '\0';
    cr_expect(kue_json_valid(second, strlen(second)), "%.200s", second);
    cr_expect_lt(strlen(second), 4096);
}
