/*
 * Signals: SIGTERM drains (no new jobs, in-flight jobs finish, exit 0, the
 * jobs not started stay queued with their tokens); SIGTSTP makes the worker
 * quiet and SIGCONT resumes it; a handler can pause its type (Kue's
 * ctx.pause) and resume it.
 */
#include "worker_common.h"

TestSuite(worker_signal, .init = wt_setup, .fini = wt_teardown, .timeout = 60);

Test(worker_signal, term_drains_in_flight_jobs)
{
    int64_t ids[6];
    for (int i = 0; i < 6; i++) ids[i] = wt_enqueue("sleep", "{\"ms\":600}");
    const char *log = wt_log("term");
    pid_t w = wt_worker("sleep", "sleep", 3, log, NULL);
    wt_wait_zcard("q:jobs:sleep:active", 3, 5000);
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
    char s[32];
    for (int i = 0; i < 3; i++)
        cr_assert_str_eq(wt_field(ids[i], "state", s, sizeof s), "complete", "job %d", i);
    for (int i = 3; i < 6; i++)
        cr_assert_str_eq(wt_field(ids[i], "state", s, sizeof s), "inactive", "job %d", i);
    cr_assert_eq(kt_int(wt_rc, "LLEN q:sleep:jobs"), 3, "the queued jobs lost their tokens");
    cr_assert_eq(kt_int(wt_rc, "ZCARD q:jobs:active"), 0);
    cr_assert(wt_log_has(log, "drained"));
}

/* Is some client blocked in BLPOP (an idle worker waiting)? */
static int waiting_for_token(void *arg)
{
    (void)arg;
    return kt_clients_in(wt_rc, "blpop") > 0;
}

static int not_waiting_for_token(void *arg) { return !waiting_for_token(arg); }

/* An idle worker waits for a token with the claim pipelined behind it;
 * SIGTERM unblocks the wait (CLIENT UNBLOCK), so it exits at once instead of
 * after the wait's 2 s timeout, claims nothing on the way out, and leaves
 * no token behind in its wake list. */
Test(worker_signal, idle_term_exits_at_once)
{
    const char *log = wt_log("idle");
    pid_t w = wt_worker("echo", "echo", 4, log, NULL);
    /* a few wake-ups first: each job arrives while the worker waits */
    for (int i = 0; i < 5; i++) {
        cr_assert(kt_wait_until(waiting_for_token, NULL, 5000), "worker never waited");
        int64_t id = wt_enqueue("echo", "{}");
        wt_wait_state(id, "complete", 5000);
    }
    cr_assert(kt_wait_until(waiting_for_token, NULL, 5000));
    cr_assert_eq(kt_int(wt_rc, "LLEN q:echo:jobs"), 0, "tokens out of step with jobs");
    int64_t t0 = kt_now_ms();
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
    int64_t took = kt_now_ms() - t0;
    cr_assert_lt(took, 1500, "an idle worker took %lld ms to drain", (long long)took);
    redisReply *r = kt_cmd(wt_rc, "KEYS q:wake:*");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 0, "a wake list was left");
    freeReplyObject(r);
    int64_t id = wt_enqueue("echo", "{}");
    char s[32];
    cr_assert_str_eq(wt_field(id, "state", s, sizeof s), "inactive");
    cr_assert_eq(kt_int(wt_rc, "LLEN q:echo:jobs"), 1);
}

Test(worker_signal, tstp_quiet_cont_resume)
{
    const char *log = wt_log("tstp");
    pid_t w = wt_worker("echo", "echo", 1, log, NULL);
    int64_t first = wt_enqueue("echo", "{}");
    wt_wait_state(first, "complete", 5000);
    cr_assert(kt_wait_until(waiting_for_token, NULL, 5000), "worker never waited");
    kill(w, SIGTSTP);
    cr_assert(kt_wait_file_has(log, "SIGTSTP", 1, 5000), "TSTP not handled");
    cr_assert(kt_wait_until(not_waiting_for_token, NULL, 5000), "a quiet worker still waits");
    int64_t id = wt_enqueue("echo", "{}");
    /* a window, not a condition: longer than one wait for a token, after
     * which an active worker claims once without a token */
    kt_sleep_ms(2500);
    char s[32];
    cr_assert_str_eq(wt_field(id, "state", s, sizeof s), "inactive");
    kill(w, SIGCONT);
    wt_wait_state(id, "complete", 5000);
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
}

/* data.pause: pause the type for that many ms (0: until data.resume). */
static const char *pause_src =
    "#include <jansson.h>\n#include <kue/plugin.h>\n"
    "static void process(kue_handle_t *job) {\n"
    "    json_t *p = json_object_get(kue_job_json(job), \"pause\");\n"
    "    if (json_is_integer(p)) kue_pause(kue_job_ctx(job), json_integer_value(p));\n"
    "    kue_done(job, NULL, NULL);\n"
    "}\n"
    "KUE_PLUGIN(.process = process);\n";

Test(worker_signal, handler_pause_with_timeout)
{
    const char *so = wt_build_plugin("pauser", pause_src);
    pid_t w = wt_worker("pauser", so, 1, wt_log("pause"), NULL);
    int64_t p = wt_enqueue("pauser", "{\"pause\":1500}");
    wt_wait_state(p, "complete", 5000);
    int64_t id = wt_enqueue("pauser", "{}");
    kt_sleep_ms(600);           /* a window inside the 1.5 s pause, not a condition */
    char s[32];
    cr_assert_str_eq(wt_field(id, "state", s, sizeof s), "inactive", "ran while paused");
    wt_wait_state(id, "complete", 5000);        /* resumed by the timeout */
    kill(w, SIGTERM);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
}

Test(worker_signal, max_jobs_recycles)
{
    int64_t ids[5];
    for (int i = 0; i < 5; i++) ids[i] = wt_enqueue("echo", "{}");
    pid_t w = wt_worker("echo", "echo", 2, wt_log("maxjobs"), "--max-jobs", "3", NULL);
    cr_assert_eq(wt_exit_code(w, 5000), 0);
    cr_assert_eq(kt_int(wt_rc, "ZCARD q:jobs:echo:complete"), 3);
    cr_assert_eq(kt_int(wt_rc, "ZCARD q:jobs:echo:inactive"), 2);
    cr_assert_eq(kt_int(wt_rc, "LLEN q:echo:jobs"), 2, "tokens of the queued jobs");
    char s[32];
    cr_assert_str_eq(wt_field(ids[4], "state", s, sizeof s), "inactive");
}
