/*
 * supervisor_drain.c -- SIGTERM drains: in-flight jobs finish and the
 * supervisor exits 0; past shutdown_timeout the workers are killed, their
 * jobs go back to inactive without counting the attempt, and it exits 3.
 * A second SIGTERM and SIGQUIT skip the wait.
 */
#include "supervisor_common.h"

static struct sup_t S;
static const char *const plugins[] = { "sleep", NULL };

TestSuite(supervisor_drain, .fini = sup_fini, .timeout = 60);

Test(supervisor_drain, jobs_finish_exit_0)
{
    sup_setup(&S, plugins, "[type sleep]\nprocesses = 2\nconcurrency = 3\n");
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker sleep#", 2, 5000));
    int64_t ids[6];
    for (int i = 0; i < 6; i++)
        ids[i] = sup_job(&S, "sleep", "{\"ms\":1200}", 1, 0);
    cr_assert(sup_wait_count(&S, "sleep", "active", 6, 3000), "all 6 running");
    int64_t t0 = kt_now_ms();
    int code = sup_stop(&S, SIGTERM, 10000);
    int64_t took = kt_now_ms() - t0;
    S.pid = 0;
    cr_assert_eq(code, 0, "clean drain exits 0");
    cr_assert_lt(took, 4000);
    for (int i = 0; i < 6; i++)
        cr_assert(sup_wait_state(&S, ids[i], "complete", 10), "job %lld completed", (long long)ids[i]);
    cr_log_info("drain with 6 jobs of 1.2 s in flight took %lld ms", (long long)took);
}

Test(supervisor_drain, deadline_puts_jobs_back_exit_3)
{
    sup_setup(&S, plugins, "[type sleep]\nprocesses = 1\nconcurrency = 2\n");
    /* shutdown_timeout = 5s in the common part: override */
    sup_replace(S.ini, "shutdown_timeout = 5s", "shutdown_timeout = 1s");
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker sleep#", 1, 5000));
    int64_t a = sup_job(&S, "sleep", "{\"ms\":30000}", 3, 0);
    int64_t b = sup_job(&S, "sleep", "{\"ms\":30000}", 3, 0);
    cr_assert(sup_wait_count(&S, "sleep", "active", 2, 3000));
    int64_t t0 = kt_now_ms();
    int code = sup_stop(&S, SIGTERM, 10000);
    int64_t took = kt_now_ms() - t0;
    S.pid = 0;
    cr_assert_eq(code, 3, "forced drain exits 3");
    cr_assert(took >= 900 && took < 3500, "took %lld ms", (long long)took);
    char buf[64];
    cr_assert_str_eq(sup_field(&S, a, "state", buf, sizeof(buf)), "inactive");
    cr_assert_str_eq(sup_field(&S, b, "state", buf, sizeof(buf)), "inactive");
    sup_field(&S, a, "attempts", buf, sizeof(buf));
    cr_assert(!buf[0] || !strcmp(buf, "0"), "attempt not counted: %s", buf);
    cr_assert(sup_log_has(S.log, "drain deadline passed"));
}

Test(supervisor_drain, second_term_skips_the_wait)
{
    sup_setup(&S, plugins, "[type sleep]\nprocesses = 1\n");
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker sleep#", 1, 5000));
    int64_t a = sup_job(&S, "sleep", "{\"ms\":30000}", 1, 0);
    cr_assert(sup_wait_state(&S, a, "active", 3000));
    kill(S.pid, SIGTERM);
    cr_assert(kt_wait_file_has(S.log, "draining", 1, 5000), "the first TERM did not start a drain");
    int64_t t0 = kt_now_ms();
    int code = sup_stop(&S, SIGTERM, 10000);
    S.pid = 0;
    cr_assert_eq(code, 3);
    cr_assert_lt(kt_now_ms() - t0, 1500);
    char buf[64];
    cr_assert_str_eq(sup_field(&S, a, "state", buf, sizeof(buf)), "inactive");
}

Test(supervisor_drain, quit_is_fast)
{
    sup_setup(&S, plugins, "[type sleep]\nprocesses = 1\n");
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker sleep#", 1, 5000));
    int64_t a = sup_job(&S, "sleep", "{\"ms\":30000}", 1, 0);
    cr_assert(sup_wait_state(&S, a, "active", 3000));
    int64_t t0 = kt_now_ms();
    int code = sup_stop(&S, SIGQUIT, 10000);
    S.pid = 0;
    cr_assert_eq(code, 3);
    cr_assert_lt(kt_now_ms() - t0, 1500);
    char buf[64];
    cr_assert_str_eq(sup_field(&S, a, "state", buf, sizeof(buf)), "inactive");
}
