/*
 * Pure parsers: durations, sizes, booleans, zids, Redis URLs, priorities,
 * JSON compaction, SHA1 of scripts.
 */
#include <criterion/criterion.h>
#include <string.h>

#include <kue/kue.h>
#include "buf.h"
#include "json.h"
#include "kue_internal.h"
#include "sha1.h"
#include "url.h"
#include "util.h"

Test(util, durations)
{
    int64_t ms;
    cr_assert_eq(kue_parse_duration("250ms", &ms), 0); cr_assert_eq(ms, 250);
    cr_assert_eq(kue_parse_duration("30s", &ms), 0); cr_assert_eq(ms, 30000);
    cr_assert_eq(kue_parse_duration("5m", &ms), 0); cr_assert_eq(ms, 300000);
    cr_assert_eq(kue_parse_duration("2h", &ms), 0); cr_assert_eq(ms, 7200000);
    cr_assert_eq(kue_parse_duration("1500", &ms), 0); cr_assert_eq(ms, 1500);
    cr_assert_eq(kue_parse_duration("", &ms), -1);
    cr_assert_eq(kue_parse_duration("-1s", &ms), -1);
    cr_assert_eq(kue_parse_duration("10 parsecs", &ms), -1);
    cr_assert_eq(kue_parse_duration("99999999999999999999h", &ms), -1);
}

Test(util, sizes)
{
    uint64_t b;
    cr_assert_eq(kue_parse_size("512", &b), 0); cr_assert_eq(b, 512);
    cr_assert_eq(kue_parse_size("64K", &b), 0); cr_assert_eq(b, 65536);
    cr_assert_eq(kue_parse_size("512M", &b), 0); cr_assert_eq(b, 512ULL << 20);
    cr_assert_eq(kue_parse_size("2G", &b), 0); cr_assert_eq(b, 2ULL << 30);
    cr_assert_eq(kue_parse_size("2T", &b), -1);
    cr_assert_eq(kue_parse_size("M", &b), -1);
}

Test(util, bools_and_ints)
{
    int v;
    cr_assert_eq(kue_parse_bool("yes", &v), 0); cr_assert_eq(v, 1);
    cr_assert_eq(kue_parse_bool("Off", &v), 0); cr_assert_eq(v, 0);
    cr_assert_eq(kue_parse_bool("maybe", &v), -1);
    long long i;
    cr_assert_eq(kue_parse_int("42", 0, 100, &i), 0); cr_assert_eq(i, 42);
    cr_assert_eq(kue_parse_int("101", 0, 100, &i), -1);
    cr_assert_eq(kue_parse_int("4x", 0, 100, &i), -1);
}

Test(util, zid_matches_kue)
{
    char buf[32];
    kue_zid(5, buf, sizeof buf); cr_assert_str_eq(buf, "01|5");
    kue_zid(42, buf, sizeof buf); cr_assert_str_eq(buf, "02|42");
    kue_zid(123, buf, sizeof buf); cr_assert_str_eq(buf, "03|123");
    kue_zid(1234567890, buf, sizeof buf); cr_assert_str_eq(buf, "10|1234567890");
    cr_assert_eq(kue_zid_id("03|123"), 123);
    cr_assert_eq(kue_zid_id("12"), 12);           /* pre-0.10.3 bare ids */
    cr_assert_eq(kue_zid_id("01|x"), -1);
}

Test(url, redis_urls)
{
    kue_url_t u;
    char err[256];
    cr_assert_eq(kue_url_parse("redis://127.0.0.1:6390/3", &u, err, sizeof err), 0);
    cr_assert_str_eq(u.host, "127.0.0.1"); cr_assert_eq(u.port, 6390); cr_assert_eq(u.db, 3);
    cr_assert_eq(kue_url_parse("redis://:s3cr%40t@localhost", &u, err, sizeof err), 0);
    cr_assert_str_eq(u.password, "s3cr@t"); cr_assert_eq(u.port, 6379); cr_assert_eq(u.db, 0);
    cr_assert_eq(kue_url_parse("unix:///tmp/r.sock?db=2&password=pw", &u, err, sizeof err), 0);
    cr_assert_str_eq(u.path, "/tmp/r.sock"); cr_assert_eq(u.db, 2); cr_assert_str_eq(u.password, "pw");
    cr_assert_eq(kue_url_parse(NULL, &u, err, sizeof err), 0);
    cr_assert_eq(u.port, 6379);
    cr_assert_eq(kue_url_parse("http://x", &u, err, sizeof err), -1);
    cr_assert(strstr(err, "invalid Redis URL"));
    cr_assert_eq(kue_url_parse("redis://h:99999", &u, err, sizeof err), -1);
    cr_assert_eq(kue_url_parse("redis://h/abc", &u, err, sizeof err), -1);
    cr_assert_eq(kue_url_parse("unix://relative.sock", &u, err, sizeof err), -1);
}

Test(model, priorities_and_states)
{
    int p;
    cr_assert_eq(kue_priority_parse("critical", &p), 0); cr_assert_eq(p, -15);
    cr_assert_eq(kue_priority_parse("LOW", &p), 0); cr_assert_eq(p, 10);
    cr_assert_eq(kue_priority_parse("-7", &p), 0); cr_assert_eq(p, -7);
    cr_assert_eq(kue_priority_parse("urgent", &p), -1);
    cr_assert_str_eq(kue_priority_name(-10), "high");
    cr_assert_null(kue_priority_name(3));
    cr_assert_eq(kue_state_parse("delayed"), KUE_STATE_DELAYED);
    cr_assert_eq(kue_state_parse("bogus"), KUE_STATE_UNKNOWN);
    cr_assert(kue_backoff_valid("true"));
    cr_assert(kue_backoff_valid("{\"type\":\"exponential\",\"delay\":200,\"maxDelay\":5000}"));
    cr_assert(!kue_backoff_valid("{\"type\":\"linear\"}"));
    cr_assert(!kue_backoff_valid("function(a,d){return d}"));
}

Test(json, compact_keeps_strings)
{
    const char *in = "{ \"a\" : [1, 2.50, \"x y\\\" z\"] }";
    char *c = kue_json_compact(in, strlen(in));
    /* numbers as JSON.stringify prints them: 2.50 is stored as 2.5 */
    cr_assert_str_eq(c, "{\"a\":[1,2.5,\"x y\\\" z\"]}");
    free(c);
    cr_assert_null(kue_json_compact("{bad", 4));
}

Test(json, compact_floats)
{
    const char *in = "{\"x\":0.1,\"y\":[1.0,1e21,1.5e-7,0.30000000000000004,-0.0,1E2]}";
    char *c = kue_json_compact(in, strlen(in));
    cr_assert_str_eq(c, "{\"x\":0.1,\"y\":[1,1e+21,1.5e-7,0.30000000000000004,0,100]}");
    free(c);
}

Test(sha1, known_vectors)
{
    char h[41];
    kue_sha1_hex("abc", 3, h);
    cr_assert_str_eq(h, "a9993e364706816aba3e25717850c26c9cd0d89d");
    kue_sha1_hex("", 0, h);
    cr_assert_str_eq(h, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    kue_sha1_hex(m, strlen(m), h);
    cr_assert_str_eq(h, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}
