/*
 * Pure parts of the worker: the kue-worker command line, Kue's progress
 * percentage, recognising a JavaScript function backoff, JSON compaction.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "../../worker/worker.h"

Test(worker_units, progress_pct_as_kue)
{
    cr_assert_eq(kw_progress_pct(1, 3), 33);
    cr_assert_eq(kw_progress_pct(2, 3), 66);
    cr_assert_eq(kw_progress_pct(3, 3), 100);
    cr_assert_eq(kw_progress_pct(5, 3), 100);
    cr_assert_eq(kw_progress_pct(1, 0), 0);
    cr_assert_eq(kw_progress_pct(-1, 10), 0);
}

Test(worker_units, function_backoff_detection)
{
    cr_assert_not(kw_backoff_is_function(NULL));
    cr_assert_not(kw_backoff_is_function(""));
    cr_assert_not(kw_backoff_is_function("true"));
    cr_assert_not(kw_backoff_is_function("{\"type\":\"fixed\",\"delay\":1000}"));
    cr_assert(kw_backoff_is_function("function (attempts, delay) { return delay * 2; }"));
    cr_assert(kw_backoff_is_function("(a, d) => a * 1000"));
}

Test(worker_units, json_compact)
{
    char err[200];
    char *s = kw_json_compact("{ \"b\": 1,  \"a\" : [1, 2] }", err, sizeof err);
    cr_assert_str_eq(s, "{\"b\":1,\"a\":[1,2]}");
    free(s);
    s = kw_json_compact("42", err, sizeof err);
    cr_assert_str_eq(s, "42");
    free(s);
    cr_assert_null(kw_json_compact("{oops", err, sizeof err));
    cr_assert_neq(err[0], '\0');
    /* a result as a Node handler's JSON.stringify stores it */
    s = kw_json_compact("{\"x\":0.10, \"n\":150000000000000000000, \"s\":\"\\ud800\"}", err,
                        sizeof err);
    cr_assert_str_eq(s, "{\"x\":0.1,\"n\":150000000000000000000,\"s\":\"\\ud800\"}");
    free(s);
}

Test(worker_units, invalid_result_as_kue_stores_it)
{
    char *s = kw_invalid_result("{oops \"q\"");
    cr_assert_str_eq(s, "{\"error\":true,\"message\":\"Invalid JSON Result: \\\"{oops \\\"q\\\"\\\"\"}");
    free(s);
    /* a long result is cut at 500 bytes; a character cut in half is U+FFFD,
     * so the stored JSON stays valid */
    char big[700];
    memset(big, 'a', 499);
    strcpy(big + 499, "\xe2\x9c\x93 rest");
    s = kw_invalid_result(big);
    cr_assert_not_null(s);
    cr_assert(strstr(s, "a\xef\xbf\xbd\\\"\"}"), "%s", s + strlen(s) - 20);
    free(s);
}

Test(worker_units, args)
{
    kw_config_t c;
    char err[256];
    char *ok[] = { "kue-worker", "--type", "email", "--plugin", "/p/email.so", "--concurrency", "8",
                   "--lease", "9s", "--timeout", "30s", "--max-jobs", "100", "--slot", "3",
                   "--log-level", "debug", "--log-format", "json", "--name", "email#2", NULL };
    cr_assert_eq(kw_parse_args(21, ok, &c, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(c.type, "email");
    cr_assert_eq(c.concurrency, 8);
    cr_assert_eq(c.lease_ms, 9000);
    cr_assert_eq(c.timeout_ms, 30000);
    cr_assert_eq(c.max_jobs, 100);
    cr_assert_eq(c.slot, 3);
    cr_assert_eq(c.log_level, KLOG_DEBUG);
    cr_assert_eq(c.log_json, 1);
    cr_assert_str_eq(c.name, "email#2");
    cr_assert_str_eq(c.prefix, "q");

    char *no_type[] = { "kue-worker", "--plugin", "x.so", NULL };
    cr_assert_eq(kw_parse_args(3, no_type, &c, err, sizeof err), -1);
    cr_assert(strstr(err, "--type"), "%s", err);
    char *bad_conc[] = { "kue-worker", "--type", "a", "--plugin", "x.so", "--concurrency", "0", NULL };
    cr_assert_eq(kw_parse_args(7, bad_conc, &c, err, sizeof err), -1);
    cr_assert(strstr(err, "concurrency"), "%s", err);
    char *unknown[] = { "kue-worker", "--type", "a", "--plugin", "x.so", "--bogus", NULL };
    cr_assert_eq(kw_parse_args(6, unknown, &c, err, sizeof err), -1);
}
