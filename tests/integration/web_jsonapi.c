/*
 * Kue's own JSON API test (tests/node/jsonapi.js, adapted from Kue 0.11's
 * test/jsonapi.js to take a URL) run with mocha against a real kue-web and
 * a private redis-server, search on (as the test's Kue queue has
 * disableSearch: false), so every case runs, search included.  Skips, saying so, without node or
 * tests/node/node_modules (sh scripts/node-deps.sh).
 */
#include <stdlib.h>
#include <sys/stat.h>

#include "web_common.h"

TestSuite(web_jsonapi, .timeout = 120);

Test(web_jsonapi, kue_jsonapi_js_passes)
{
    char mocha[1024], should[1024], spec[1024];
    snprintf(mocha, sizeof mocha, "%s/tests/node/node_modules/mocha/bin/mocha.js", kt_srcdir());
    snprintf(should, sizeof should, "%s/tests/node/node_modules/should", kt_srcdir());
    snprintf(spec, sizeof spec, "%s/tests/node/jsonapi.js", kt_srcdir());
    struct stat sb;
    if (!kt_node_available() || stat(mocha, &sb) != 0 || stat(should, &sb) != 0) {
        cr_skip_test("node, Kue or mocha missing in tests/node/node_modules (run sh scripts/node-deps.sh)");
    }
    kt_redis_t r;
    kt_redis_start(&r, KT_TCP);
    wt_web_t w;
    const char *extra[] = { "--search", "yes", NULL };
    wt_web_start(&w, r.tcp_url, extra, NULL);
    char url[64], rurl[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", w.port);
    snprintf(rurl, sizeof rurl, "redis://127.0.0.1:%d", r.port);
    setenv("KUE_WEB_URL", url, 1);
    setenv("KUE_REDIS_URL", rurl, 1);
    setenv("KUE_WEB_SEARCH", "1", 1);
    char *args[] = { "--require", should, "--timeout", "10000", "--reporter", "spec", "--exit",
                     spec, NULL };
    char *out = NULL;
    int rc = kt_node_run("node_modules/mocha/bin/mocha.js", args, &out, 90000);
    fprintf(stderr, "%s\n", out ? out : "");
    cr_expect_eq(rc, 0, "mocha failed (%d): %s", rc, out ? out : "");
    cr_expect(out && strstr(out, "13 passing"), "%s", out ? out : "");
    cr_expect(out && !strstr(out, "failing"), "%s", out ? out : "");
    free(out);
    cr_expect_eq(wt_web_stop(&w), 0);
    kt_cleanup();
}
