/*
 * Interoperability with Node Kue 0.11.6: a job created by the real Kue
 * package is processed by kue-worker, and Kue sees it complete (its
 * "complete" event with the result, and Job.get shows state complete).
 * Skips, saying so, when node or tests/node/node_modules is missing
 * (`sh scripts/node-deps.sh` installs it).
 */
#include "worker_common.h"

TestSuite(worker_node, .timeout = 60);

Test(worker_node, kue_job_processed_by_our_worker)
{
    if (!kt_node_available()) {
        cr_skip_test("node or tests/node/node_modules/kue missing (run sh scripts/node-deps.sh)");
    }
    wt_setup_flags(KT_TCP);
    pid_t w = wt_worker("echo", "echo", 2, wt_log("node"), NULL);
    char port[16];
    snprintf(port, sizeof port, "%d", wt_redis.port);
    char *args[] = { port, "echo", "{\"from\":\"node\",\"n\":42}", NULL };
    char *out = NULL;
    int rc = kt_node_run("worker-interop.js", args, &out, 30000);
    cr_assert_eq(rc, 0, "node script failed (%d): %s", rc, out ? out : "");
    cr_assert(strstr(out, "\"result\":{\"from\":\"node\",\"n\":42}"), "%s", out);
    cr_assert(strstr(out, "\"state\":\"complete\""), "%s", out);
    cr_assert(strstr(out, "\"attempts\":{\"made\":1,\"remaining\":1,\"max\":2}"), "%s", out);
    free(out);
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
    wt_teardown();
}
