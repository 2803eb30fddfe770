/*
 * supervisor_reload.c -- SIGHUP with a broken config keeps the running
 * workers; with a good one the counts change; replacing a plugin file
 * rolls that type's workers without losing a job, and a broken new file
 * leaves the old workers running.  TTIN/TTOU add and remove a worker.
 */
#include "supervisor_common.h"

static struct sup_t S;
static const char *const plugins[] = { "echo", "sleep", NULL };

TestSuite(supervisor_reload, .fini = sup_fini, .timeout = 60);

static void write_body(const char *body)
{
    char *t = kt_read_file(S.ini);
    char *p = strstr(t, "[type");
    *p = '\0';
    char *n = malloc(strlen(t) + strlen(body) + 1);
    sprintf(n, "%s%s", t, body);
    kt_write_file(S.ini, n);
    free(n);
    free(t);
}

Test(supervisor_reload, hup_broken_config_keeps_workers)
{
    sup_setup(&S, plugins, "[type echo]\nprocesses = 2\n");
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker echo#", 2, 5000));
    pid_t before[4], after[4];
    sup_children(S.pid, "kue-supervisor: worker echo#", before, 4);

    write_body("[type echo]\nprocesses = two\n");
    kill(S.pid, SIGHUP);
    cr_assert(kt_wait_file_has(S.log, "reload failed, keeping the running configuration", 1, 5000));
    cr_assert(sup_log_has(S.log, "[type echo] processes:"));
    cr_assert_eq(sup_children(S.pid, "kue-supervisor: worker echo#", after, 4), 2);
    cr_assert(after[0] == before[0] || after[0] == before[1]);
    int64_t id = sup_job(&S, "echo", "{}", 1, 0);
    cr_assert(sup_wait_state(&S, id, "complete", 3000), "still processing");

    /* a good one: 3 echo workers and a new type */
    write_body("[type echo]\nprocesses = 3\n[type sleep]\n");
    kill(S.pid, SIGHUP);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker echo#", 3, 5000));
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker sleep#", 1, 5000));
    /* unchanged settings: the old echo workers were kept */
    pid_t now[4];
    sup_children(S.pid, "kue-supervisor: worker echo#", now, 4);
    int kept = 0;
    for (int i = 0; i < 3; i++)
        kept += now[i] == before[0] || now[i] == before[1];
    cr_assert_eq(kept, 2);
    /* a type removed: its worker stops */
    write_body("[type echo]\nprocesses = 3\n");
    kill(S.pid, SIGHUP);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker sleep#", 0, 5000));
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
}

Test(supervisor_reload, ttin_ttou)
{
    sup_setup(&S, plugins, "[type echo]\nprocesses = 1\n");
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker echo#", 1, 5000));
    kill(S.pid, SIGTTIN);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker echo#", 2, 5000));
    kill(S.pid, SIGTTOU);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker echo#", 1, 5000));
    kill(S.pid, SIGTTOU);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker echo#", 0, 5000));
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
}

static void replace_plugin(const char *from, const char *name)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "cp %s %s/.%s.tmp && mv %s/.%s.tmp %s/%s.so", from, S.plugins, name,
             S.plugins, name, S.plugins, name);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

Test(supervisor_reload, plugin_replacement_rolls_workers)
{
    sup_setup(&S, plugins, "[type sleep]\nprocesses = 2\nconcurrency = 2\n");
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker sleep#", 2, 5000));
    cr_assert(sup_wait_idle(&S, 2, 5000), "both workers up and waiting for jobs");
    pid_t before[4];
    sup_children(S.pid, "kue-supervisor: worker sleep#", before, 4);
    int64_t ids[8];
    for (int i = 0; i < 8; i++)
        ids[i] = sup_job(&S, "sleep", "{\"ms\":400}", 1, 0);

    /* a broken file: nothing changes */
    char junk[700];
    snprintf(junk, sizeof(junk), "%s/junk", S.dir);
    kt_write_file(junk, "not a plugin");
    replace_plugin(junk, "sleep");
    cr_assert(kt_wait_file_has(S.log, "changed but cannot be used", 1, 5000));
    pid_t mid[4];
    cr_assert_eq(sup_children(S.pid, "kue-supervisor: worker sleep#", mid, 4), 2);
    cr_assert((mid[0] == before[0] || mid[0] == before[1]) && (mid[1] == before[0] || mid[1] == before[1]));

    /* a good new build: both replaced, one at a time, no job lost */
    char good[700];
    snprintf(good, sizeof(good), "%s/plugins/sleep.so", kt_build());
    replace_plugin(good, "sleep");
    int64_t t0 = kt_now_ms();
    int replaced = 0;
    while (kt_now_ms() - t0 < 8000 && !replaced) {
        pid_t cur[8];
        int n = sup_children(S.pid, "kue-supervisor: worker sleep#", cur, 8);
        cr_assert_leq(n, 3, "one extra process at most while rolling");
        int old = 0;
        for (int i = 0; i < n && i < 8; i++)
            old += cur[i] == before[0] || cur[i] == before[1];
        replaced = n == 2 && old == 0;
        kt_sleep_ms(20);
    }
    cr_assert(replaced, "workers rolled");
    cr_assert(sup_log_has(S.log, "replacing 2 worker(s) of type sleep"));
    for (int i = 0; i < 8; i++)
        cr_assert(sup_wait_state(&S, ids[i], "complete", 5000), "job %lld", (long long)ids[i]);
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
}

Test(supervisor_reload, tstp_quiet_cont_resume)
{
    sup_setup(&S, plugins, "[type echo]\nprocesses = 1\n");
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker echo#", 1, 5000));
    int64_t a = sup_job(&S, "echo", "{}", 1, 0);
    cr_assert(sup_wait_state(&S, a, "complete", 3000));
    /* the worker is waiting for a token, so its signal handlers are set */
    cr_assert(sup_wait_idle(&S, 1, 5000));
    kill(S.pid, SIGTSTP);
    /* the master forwarded TSTP and the worker ended its wait for a token
     * without starting another one */
    cr_assert(kt_wait_file_has(S.log, "SIGTSTP", 2, 5000), "TSTP not forwarded to the worker");
    cr_assert(sup_wait_idle(&S, 0, 5000), "a quiet worker still waits for jobs");
    int64_t b = sup_job(&S, "echo", "{}", 1, 0);
    char buf[32];
    cr_assert_str_eq(sup_field(&S, b, "state", buf, sizeof(buf)), "inactive", "quiet: not taken");
    cr_assert_eq(sup_idle(&S), 0, "a quiet worker waits for jobs again");
    kill(S.pid, SIGCONT);
    cr_assert(sup_wait_state(&S, b, "complete", 3000), "resumed");
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
}
