/*
 * The CLI and the JSON API agree with each other and with their documented
 * exit codes and statuses:
 *  - POST /job with an unknown priority, a bad backoff, attempts, delay or
 *    ttl answers 400 naming the value and what is allowed (not 500);
 *  - `kue create '' '{}'` is a usage error (2), like a missing TYPE;
 *  - `kue --redis http://x ...` is a usage error (2), before or after the
 *    command, and nothing is attempted;
 *  - `kue get ID` prints exactly what GET /job/:id answers ("id" a string).
 */
#include <stdlib.h>
#include <sys/wait.h>

#include <kue/kue.h>
#include "web_common.h"

TestSuite(api_cli_errors, .timeout = 60);

static int run(const char *env, const char *args, char **out)
{
    char bin[512], cmd[2048], log[600];
    kt_bin("kue", bin, sizeof bin);
    snprintf(log, sizeof log, "%s/kue-%lld.out", kt_tmpdir(), (long long)kt_now_ms());
    snprintf(cmd, sizeof cmd, "env %s %s %s >%s 2>&1", env, bin, args, log);
    int st = system(cmd);
    *out = kt_read_file(log);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void post_bad(int port, const char *options, const char *needle)
{
    char body[512];
    snprintf(body, sizeof body, "{\"type\":\"email\",\"data\":{},\"options\":%s}", options);
    wt_resp_t r = wt_post_json(port, "/job", body);
    cr_expect_eq(r.status, 400, "%s -> %d %s", options, r.status, r.body);
    cr_expect(strstr(r.body, needle), "%s -> %s (wanted %s)", options, r.body, needle);
    wt_resp_free(&r);
}

Test(api_cli_errors, post_job_bad_options_are_400_with_the_value)
{
    kt_redis_t r;
    kt_redis_start(&r, 0);
    wt_web_t w;
    wt_web_start(&w, r.url, NULL, NULL);
    post_bad(w.port, "{\"priority\":\"urgent\"}",
             "invalid priority \\\"urgent\\\": use low, normal, medium, high, critical or a finite number");
    post_bad(w.port, "{\"priority\":[1]}", "invalid priority [1]: use low, normal");
    post_bad(w.port, "{\"backoff\":{\"type\":\"linear\"}}",
             "invalid backoff {\\\"type\\\":\\\"linear\\\"}: use true or {\\\"type\\\":\\\"fixed\\\"|\\\"exponential\\\"");
    post_bad(w.port, "{\"backoff\":\"soon\"}", "invalid backoff \\\"soon\\\": use true or");
    post_bad(w.port, "{\"attempts\":-2}", "invalid attempts -2: use an integer of at least 1");
    post_bad(w.port, "{\"delay\":\"later\"}", "invalid delay \\\"later\\\": use a number of milliseconds");
    post_bad(w.port, "{\"ttl\":{}}", "invalid ttl {}: use a number of milliseconds");
    /* nothing was saved */
    redisContext *c = kt_redis_connect(&r);
    cr_expect_eq(kt_int(c, "ZCARD q:jobs"), 0);
    /* a good one still works */
    wt_resp_t ok = wt_post_json(w.port, "/job", "{\"type\":\"email\",\"options\":{\"priority\":\"high\",\"backoff\":true}}");
    cr_expect_eq(ok.status, 200, "%s", ok.body);
    wt_resp_free(&ok);
    redisFree(c);
    cr_expect_eq(wt_web_stop(&w), 0);
    kt_redis_stop(&r);
    kt_cleanup();
}

Test(api_cli_errors, cli_usage_errors_exit_2)
{
    kt_redis_t r;
    kt_redis_start(&r, 0);
    char env[600], *out = NULL;
    snprintf(env, sizeof env, "KUE_REDIS_URL='%s'", r.url);

    cr_expect_eq(run(env, "create '' '{}'", &out), 2, "%s", out);
    cr_expect(out && strstr(out, "kue create: the job TYPE is empty"), "%s", out);
    free(out);
    cr_expect_eq(run(env, "create", &out), 2, "%s", out);
    free(out);

    cr_expect_eq(run("KUE_REDIS_URL=", "--redis http://x stats", &out), 2, "%s", out);
    cr_expect(out && strstr(out, "invalid Redis URL \"http://x\""), "%s", out);
    free(out);
    cr_expect_eq(run("KUE_REDIS_URL=", "create email '{}' --redis http://x", &out), 2, "%s", out);
    free(out);
    /* a good URL that does not answer stays a runtime error (1) */
    cr_expect_eq(run("KUE_REDIS_URL=", "--redis unix:///nonexistent.sock stats", &out), 1, "%s", out);
    free(out);

    redisContext *c = kt_redis_connect(&r);
    cr_expect_eq(kt_int(c, "ZCARD q:jobs"), 0, "nothing created");
    redisFree(c);
    kt_redis_stop(&r);
    kt_cleanup();
}

Test(api_cli_errors, kue_get_prints_the_get_job_shape)
{
    kt_redis_t r;
    kt_redis_start(&r, 0);
    char err[256];
    kue_t *k = kue_connect(r.url, "q", err, sizeof err);
    cr_assert_not_null(k, "%s", err);
    kue_job_t *j = kue_job_new("email", "{\"to\":\"x\",\"n\":1.5}");
    int64_t id = kue_job_save(k, j);
    kue_job_free(j);
    cr_assert_gt(id, 0);
    wt_web_t w;
    wt_web_start(&w, r.url, NULL, NULL);
    char path[64], args[64], env[600];
    snprintf(path, sizeof path, "/job/%lld", (long long)id);
    wt_resp_t resp = wt_get(w.port, path);
    cr_assert_eq(resp.status, 200);
    snprintf(args, sizeof args, "get %lld", (long long)id);
    snprintf(env, sizeof env, "KUE_REDIS_URL='%s'", r.url);
    char *out = NULL;
    cr_assert_eq(run(env, args, &out), 0, "%s", out);
    char want[64];
    snprintf(want, sizeof want, "{\"id\":\"%lld\",", (long long)id);
    cr_expect(out && !strncmp(out, want, strlen(want)), "%s", out);
    /* the same JSON, but the web's extras (fields Kue does not have) */
    cr_expect(out && !strncmp(out, resp.body, strlen(out) - 1), "kue get: %s\nGET /job: %s", out, resp.body);
    free(out);
    wt_resp_free(&resp);
    cr_expect_eq(wt_web_stop(&w), 0);
    kue_free(k);
    kt_redis_stop(&r);
    kt_cleanup();
}
