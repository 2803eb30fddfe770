/*
 * config_proc.c -- the supervisor's process-table decisions as data:
 * backoff, exit decisions, reconcile (scale up/down, rolling replacement
 * one at a time), max_jobs jitter.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "../../supervisor/proc.c"
#include "../../supervisor/slot.c"

static struct sup_table tab;
static int ready_all = 1;
static int stops[SUP_TABLE_SIZE];
static int nstops;

static int f_ready(void *ud, int i) { (void)ud; (void)i; return ready_all; }
static void f_stop(void *ud, int i, const char *why)
{
    (void)ud; (void)why;
    stops[nstops++] = i;
    tab.p[i].state = SS_STOPPING;
}
static const struct sup_ops ops = { f_ready, f_stop, NULL };

static void reset(void)
{
    memset(&tab, 0, sizeof(tab));
    nstops = 0;
    ready_all = 1;
}

/* Pretend every WAITING entry got started. */
static void start_all(void)
{
    for (int i = 0; i < SUP_TABLE_SIZE; i++)
        if (tab.p[i].state == SS_WAITING) {
            tab.p[i].state = SS_RUNNING;
            tab.p[i].pid = 1000 + i;
        }
}

static const unsigned ALL = (1u << SS_WAITING) | (1u << SS_RUNNING);

Test(proc, backoff_doubles_and_caps)
{
    cr_assert_eq(sup_backoff_ms(0, 1000, 60000), 0);
    cr_assert_eq(sup_backoff_ms(1, 1000, 60000), 1000);
    cr_assert_eq(sup_backoff_ms(2, 1000, 60000), 2000);
    cr_assert_eq(sup_backoff_ms(3, 1000, 60000), 4000);
    cr_assert_eq(sup_backoff_ms(7, 1000, 60000), 60000);
    cr_assert_eq(sup_backoff_ms(100, 1000, 60000), 60000);
}

Test(proc, exit_decisions)
{
    cr_assert_eq(sup_exit_decide(0), SX_RESPAWN);
    cr_assert_eq(sup_exit_decide(1 << 8), SX_BACKOFF);
    cr_assert_eq(sup_exit_decide(78 << 8), SX_CONFIG);
    cr_assert_eq(sup_exit_decide(SIGKILL), SX_BACKOFF);
    char buf[64];
    sup_status_text(1 << 8, buf, sizeof(buf));
    cr_assert_str_eq(buf, "exited with code 1");
    sup_status_text(SIGKILL, buf, sizeof(buf));
    cr_assert_str_eq(buf, "killed by signal 9");
    sup_status_text(SIGSEGV | 0x80, buf, sizeof(buf));
    cr_assert_str_eq(buf, "killed by signal 11 (core dumped)");
}

Test(proc, job_limit_jitter)
{
    cr_assert_eq(sup_job_limit(0, 10, 5), 0);
    cr_assert_eq(sup_job_limit(100, 0, 5), 100);
    for (unsigned r = 0; r < 100; r++) {
        uint64_t l = sup_job_limit(100, 10, r);
        cr_assert(l >= 100 && l <= 110);
    }
}

Test(proc, scale_up_and_down, .init = reset)
{
    cr_assert_eq(sup_table_reconcile(&tab, "email", 3, 1, 0, 0, 0, &ops, NULL), 3);
    cr_assert_eq(sup_table_count(&tab, "email", ALL, 0), 3);
    cr_assert_eq(sup_table_reconcile(&tab, "email", 3, 1, 0, 0, 0, &ops, NULL), 0);
    start_all();
    int ks = 0;
    for (int i = 0; i < 3; i++) ks |= 1 << tab.p[i].k;
    cr_assert_eq(ks, 2 | 4 | 8, "numbered 1..3");
    sup_table_reconcile(&tab, "email", 1, 1, 0, 0, 0, &ops, NULL);
    cr_assert_eq(nstops, 2);
    cr_assert_eq(sup_table_count(&tab, "email", ALL, 0), 1);
    cr_assert_eq(tab.p[stops[0]].k, 3, "highest number stops first");
    /* another type is not touched */
    sup_table_reconcile(&tab, "sms", 2, 1, 0, 0, 0, &ops, NULL);
    cr_assert_eq(sup_table_count(&tab, "email", ALL, 0), 1);
    cr_assert_eq(sup_table_count(&tab, "sms", ALL, 0), 2);
}

Test(proc, rolling_replacement_one_at_a_time, .init = reset)
{
    sup_table_reconcile(&tab, "email", 2, 1, 0, 0, 0, &ops, NULL);
    start_all();
    for (int i = 0; i < 2; i++) tab.p[i].retire = 1;

    /* one new process first, nobody stopped yet */
    sup_table_reconcile(&tab, "email", 2, 2, 0, 0, 0, &ops, NULL);
    cr_assert_eq(sup_table_count(&tab, "email", ALL, 0), 1);
    cr_assert_eq(nstops, 0);
    start_all();
    ready_all = 0;
    sup_table_reconcile(&tab, "email", 2, 2, 0, 0, 0, &ops, NULL);
    cr_assert_eq(nstops, 0, "no old one stops before the new one is ready");
    ready_all = 1;
    sup_table_reconcile(&tab, "email", 2, 2, 0, 0, 0, &ops, NULL);
    cr_assert_eq(nstops, 1);
    /* while the first old one drains, no second new one: never more than
     * one extra process */
    sup_table_reconcile(&tab, "email", 2, 2, 0, 0, 0, &ops, NULL);
    cr_assert_eq(sup_table_count(&tab, "email", ALL, 0), 1);
    /* it exited: the second new one, then the second old one stops */
    tab.p[stops[0]].state = SS_FREE;
    sup_table_reconcile(&tab, "email", 2, 2, 0, 0, 0, &ops, NULL);
    cr_assert_eq(sup_table_count(&tab, "email", ALL, 0), 2);
    start_all();
    sup_table_reconcile(&tab, "email", 2, 2, 0, 0, 0, &ops, NULL);
    cr_assert_eq(nstops, 2);
    cr_assert_eq(sup_table_count(&tab, "email", 1u << SS_RUNNING, 0), 2);
    cr_assert_eq(sup_table_count(&tab, "email", 1u << SS_RUNNING, 1), 2);
}

Test(proc, crash_looping_replacement_keeps_old_workers, .init = reset)
{
    sup_table_reconcile(&tab, "email", 1, 1, 0, 0, 0, &ops, NULL);
    start_all();
    tab.p[0].retire = 1;
    sup_table_reconcile(&tab, "email", 1, 2, 0, 0, 0, &ops, NULL);
    /* the new one crashed and waits for its backoff */
    int n = -1;
    for (int i = 0; i < SUP_TABLE_SIZE; i++)
        if (tab.p[i].state == SS_WAITING) n = i;
    cr_assert_geq(n, 0);
    tab.p[n].spawn_at = 999999;
    for (int r = 0; r < 5; r++)
        sup_table_reconcile(&tab, "email", 1, 2, 0, 0, 0, &ops, NULL);
    cr_assert_eq(nstops, 0, "old worker kept while the new one cannot start");
    cr_assert_eq(sup_table_count(&tab, "email", ALL, 0), 1);
}

Test(proc, removed_type_stops_everything, .init = reset)
{
    sup_table_reconcile(&tab, "email", 2, 1, 0, 0, 0, &ops, NULL);
    start_all();
    tab.p[0].retire = 1;
    sup_table_reconcile(&tab, "email", 0, 1, 0, 0, 0, &ops, NULL);
    cr_assert_eq(nstops, 2);
    cr_assert_eq(sup_table_count(&tab, "email", ALL, 1), 0);
}

Test(proc, find_pid, .init = reset)
{
    sup_table_reconcile(&tab, "email", 2, 1, 0, 0, 0, &ops, NULL);
    start_all();
    cr_assert_eq(sup_table_find_pid(&tab, 1001), 1);
    cr_assert_eq(sup_table_find_pid(&tab, 4242), -1);
    cr_assert_eq(sup_table_find_pid(&tab, 0), -1);
}

Test(proc, timeout_blames_the_handler_holding_the_loop)
{
    struct kue_sb_slot s;
    memset(&s, 0, sizeof(s));
    struct kue_sb_job late = { .id = 1, .started_ms = 1000, .deadline_ms = 3000 };
    /* not inside a handler: the late job itself */
    cr_assert_eq(sup_timeout_blame(&s, &late), 1);
    /* inside job 4's handler since before the deadline: job 4 */
    s.handler_job = 4;
    s.handler_since_ms = 1200;
    cr_assert_eq(sup_timeout_blame(&s, &late), 4);
    s.handler_since_ms = 3000;
    cr_assert_eq(sup_timeout_blame(&s, &late), 4);
    /* entered after the deadline had passed: the late job was late already */
    s.handler_since_ms = 3001;
    cr_assert_eq(sup_timeout_blame(&s, &late), 1);
}
