/*
 * kue-web's pure parts, no server and no Redis: Express-compatible routing,
 * URL decoding, JavaScript parseInt, JSON.stringify-compatible output, the
 * listen address parser and the SSE hub's ring and filters.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "../../web/web.h"
#include "../../web/server.h"
#include "json.h"

static web_route_t R;

static web_route_id m(const char *method, const char *path)
{
    return web_route_match(method, path, &R);
}

Test(web_units, kue_routes_in_declaration_order)
{
    cr_expect_eq(m("GET", "/stats"), WEB_R_STATS);
    cr_expect_eq(m("GET", "/stats/"), WEB_R_STATS);
    cr_expect_eq(m("GET", "/Stats"), WEB_R_STATS);
    cr_expect_eq(m("HEAD", "/stats"), WEB_R_STATS);
    cr_expect_eq(m("GET", "/job/search"), WEB_R_SEARCH);

    cr_expect_eq(m("GET", "/jobs/0..3"), WEB_R_RANGE);
    cr_expect_str_eq(R.from, "0");
    cr_expect_str_eq(R.to, "3");
    cr_expect_null(R.order);
    cr_expect_eq(m("GET", "/jobs/-10..-1/desc"), WEB_R_RANGE);
    cr_expect_str_eq(R.from, "-10");
    cr_expect_str_eq(R.to, "-1");
    cr_expect_str_eq(R.order, "desc");
    cr_expect_eq(m("GET", "/jobs/1...5"), WEB_R_RANGE);   /* shortest "from" */
    cr_expect_str_eq(R.from, "1");
    cr_expect_str_eq(R.to, ".5");

    cr_expect_eq(m("GET", "/jobs/email/inactive/0..20/asc"), WEB_R_RANGE_TYPE_STATE);
    cr_expect_str_eq(R.type, "email");
    cr_expect_str_eq(R.state, "inactive");
    cr_expect_str_eq(R.order, "asc");
    cr_expect_eq(m("GET", "/jobs/my%2Ftype/failed/0..1"), WEB_R_RANGE_TYPE_STATE);
    cr_expect_str_eq(R.type, "my/type");
    cr_expect_eq(m("GET", "/jobs/email/inactive/stats"), WEB_R_TYPE_STATE_STATS);
    cr_expect_eq(m("GET", "/jobs/inactive/0..10"), WEB_R_RANGE_STATE);
    cr_expect_str_eq(R.state, "inactive");
    cr_expect_eq(m("GET", "/jobs/inactive/0..10/desc"), WEB_R_RANGE_STATE);
    cr_expect_eq(m("GET", "/jobs/inactive"), WEB_R_NONE);

    cr_expect_eq(m("GET", "/job/types"), WEB_R_TYPES);
    cr_expect_eq(m("GET", "/job/12"), WEB_R_JOB);
    cr_expect_str_eq(R.job_id, "12");
    cr_expect_eq(m("GET", "/job/12/log"), WEB_R_JOB_LOG);
    cr_expect_eq(m("PUT", "/job/12/state/failed"), WEB_R_JOB_STATE);
    cr_expect_str_eq(R.value, "failed");
    cr_expect_eq(m("PUT", "/job/12/priority/-10"), WEB_R_JOB_PRIORITY);
    cr_expect_eq(m("PUT", "/job/12/other/x"), WEB_R_NONE);
    cr_expect_eq(m("PUT", "/job/12/cancel"), WEB_R_JOB_CANCEL);
    cr_expect_str_eq(R.job_id, "12");
    cr_expect_eq(m("PUT", "/job/12/cancel/5s"), WEB_R_JOB_CANCEL);
    cr_expect_str_eq(R.value, "5s");
    cr_expect_eq(m("GET", "/job/12/cancel"), WEB_R_NONE);
    cr_expect_eq(m("PUT", "/pause/my%2Ftype"), WEB_R_PAUSE);
    cr_expect_str_eq(R.type, "my/type");
    cr_expect_eq(m("PUT", "/resume/email"), WEB_R_RESUME);
    cr_expect_eq(m("GET", "/pause/email"), WEB_R_NONE);
    cr_expect_eq(m("DELETE", "/job/12"), WEB_R_JOB_DELETE);
    cr_expect_eq(m("POST", "/job"), WEB_R_JOB_CREATE);
    cr_expect_eq(m("GET", "/inactive/12"), WEB_R_INACTIVE);

    cr_expect_eq(m("GET", "/"), WEB_R_UI);
    cr_expect_eq(m("GET", "/failed"), WEB_R_UI);
    cr_expect_str_eq(R.state, "failed");
    cr_expect_eq(m("GET", "/assets/app.js"), WEB_R_ASSET);
    cr_expect_eq(m("GET", "/metrics"), WEB_R_METRICS);
    cr_expect_eq(m("GET", "/healthz"), WEB_R_HEALTHZ);
    cr_expect_eq(m("GET", "/readyz"), WEB_R_READYZ);
    cr_expect_eq(m("GET", "/events"), WEB_R_EVENTS);
    cr_expect_eq(m("GET", "/workers"), WEB_R_WORKERS);

    cr_expect_eq(m("POST", "/stats"), WEB_R_NONE);
    cr_expect_eq(m("GET", "/job//log"), WEB_R_NONE);
    cr_expect_eq(m("GET", "/jobs/%zz/x/0..1"), WEB_R_BAD_PATH);
    cr_expect_eq(m("GET", "/a/b/c/d/e/f/g/h/i/j"), WEB_R_NONE);
    cr_expect_eq(m("GET", "nope"), WEB_R_NONE);
}

Test(web_units, url_decode)
{
    char out[64];
    cr_expect_eq(web_url_decode("a%20b+c", 7, out, 0), 5);
    cr_expect_str_eq(out, "a b+c");
    cr_expect_eq(web_url_decode("a%20b+c", 7, out, 1), 5);
    cr_expect_str_eq(out, "a b c");
    cr_expect_eq(web_url_decode("%2", 2, out, 0), -1);
    cr_expect_eq(web_url_decode("%g0", 3, out, 0), -1);
}

Test(web_units, js_parse_int_and_ids)
{
    long long v;
    cr_expect_eq(web_js_parse_int("10", &v), 0); cr_expect_eq(v, 10);
    cr_expect_eq(web_js_parse_int(" -5abc", &v), 0); cr_expect_eq(v, -5);
    cr_expect_eq(web_js_parse_int("+7", &v), 0); cr_expect_eq(v, 7);
    cr_expect_eq(web_js_parse_int("high", &v), -1);
    cr_expect_eq(web_js_parse_int("", &v), -1);
    cr_expect_eq(web_js_parse_int("-", &v), -1);
    int64_t id;
    cr_expect_eq(web_parse_id("42", &id), 0); cr_expect_eq(id, 42);
    cr_expect_eq(web_parse_id("0", &id), -1);
    cr_expect_eq(web_parse_id("4a", &id), -1);
    cr_expect_eq(web_parse_id("99999999999999999999", &id), -1);
}

static void dump_eq(const char *in, const char *want)
{
    char *out = kue_json_normalize(in, strlen(in), NULL, 0);
    cr_assert_not_null(out, "%s", in);
    cr_expect_str_eq(out, want, "dump of %s", in);
    free(out);
}

Test(web_units, json_like_json_stringify)
{
    dump_eq("{ \"b\" : 1, \"a\" : [1, 2.0, 0.1, -0.5] }", "{\"b\":1,\"a\":[1,2,0.1,-0.5]}");
    dump_eq("1e21", "1e+21");
    dump_eq("1.5e-7", "1.5e-7");
    dump_eq("123456789012.5", "123456789012.5");
    dump_eq("0.000001", "0.000001");
    dump_eq("\"tab\\t nl\\n quote\\\" slash/ \\u0001 é\"", "\"tab\\t nl\\n quote\\\" slash/ \\u0001 é\"");
    dump_eq("[true,false,null,{}]", "[true,false,null,{}]");
}

Test(web_units, listen_addresses)
{
    char host[64];
    int port;
    cr_expect_eq(web_parse_listen("127.0.0.1:3000", host, sizeof host, &port), 0);
    cr_expect_str_eq(host, "127.0.0.1"); cr_expect_eq(port, 3000);
    cr_expect_eq(web_parse_listen("[::1]:8080", host, sizeof host, &port), 0);
    cr_expect_str_eq(host, "::1"); cr_expect_eq(port, 8080);
    cr_expect_eq(web_parse_listen(":9000", host, sizeof host, &port), 0);
    cr_expect_str_eq(host, "0.0.0.0");
    cr_expect_eq(web_parse_listen("3001", host, sizeof host, &port), 0);
    cr_expect_str_eq(host, "127.0.0.1"); cr_expect_eq(port, 3001);
    cr_expect_eq(web_parse_listen("host:port", host, sizeof host, &port), -1);
    cr_expect_eq(web_parse_listen("h:70000", host, sizeof host, &port), -1);
}

Test(web_units, app_errors_vs_redis_errors)
{
    cr_expect(web_is_app_error(KUE_ERR_NOTFOUND));
    cr_expect(web_is_app_error(KUE_ERR_SERVER));
    cr_expect(web_is_app_error(KUE_ERR_WRONGSTATE));
    cr_expect(!web_is_app_error(KUE_ERR_IO));
    cr_expect(!web_is_app_error(KUE_ERR_PROTOCOL));
}

Test(web_units, queue_lists)
{
    web_queues_t q;
    char err[256];
    cr_assert_eq(web_queues_parse("q", &q, err, sizeof err), 0, "%s", err);
    cr_expect_eq(q.n, 1);
    cr_expect_str_eq(q.name[0], "q");
    cr_assert_eq(web_queues_parse("q,{p2},mail.v2", &q, err, sizeof err), 0, "%s", err);
    cr_expect_eq(q.n, 3);
    cr_expect_eq(web_queue_index(&q, "q"), 0);
    cr_expect_eq(web_queue_index(&q, "{p2}"), 1);
    cr_expect_eq(web_queue_index(&q, "mail.v2"), 2);
    cr_expect_eq(web_queue_index(&q, "Q"), -1);
    cr_expect_eq(web_queue_index(&q, "mail"), -1);
    cr_expect_eq(web_queue_index(&q, NULL), -1);
    static const char *const bad[] = { "", ",", "q,", ",q", "q,,p", "q,q", "q,p\t", "a b",
                                       "q,p\n", NULL };
    for (int i = 0; bad[i]; i++)
        cr_expect_eq(web_queues_parse(bad[i], &q, err, sizeof err), -1, "\"%s\" accepted", bad[i]);
    char list[4096] = "", name[200];
    for (int i = 0; i < WEB_MAX_QUEUES; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%sq%d", i ? "," : "", i);
    cr_expect_eq(web_queues_parse(list, &q, err, sizeof err), 0, "%s", err);
    cr_expect_eq(q.n, WEB_MAX_QUEUES);
    strcat(list, ",one-more");
    cr_expect_eq(web_queues_parse(list, &q, err, sizeof err), -1);
    memset(name, 'x', WEB_QUEUE_NAME_MAX);
    name[WEB_QUEUE_NAME_MAX] = '\0';
    cr_expect_eq(web_queues_parse(name, &q, err, sizeof err), 0, "%s", err);
    strcat(name, "x");
    cr_expect_eq(web_queues_parse(name, &q, err, sizeof err), -1);
    cr_expect_eq(m("GET", "/queues"), WEB_R_QUEUES);
    cr_expect_eq(m("GET", "/queues/"), WEB_R_QUEUES);
    cr_expect_eq(m("PUT", "/queues"), WEB_R_NONE);
}
