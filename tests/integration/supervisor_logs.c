/*
 * What the supervisor's log says on start and on Ctrl-C: paths from the
 * configuration are normalised (a run_dir of "../run" in etc/ logs as
 * .../run, not .../etc/../run), and "SIGINT: draining N worker(s)" comes
 * before the lines of the workers it stops.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

TestSuite(supervisor_logs, .timeout = 60);

static const char *log_path;
static int has(void *needle)
{
    char *t = kt_read_file(log_path);
    int r = t && strstr(t, needle);
    free(t);
    return r;
}

Test(supervisor_logs, normalised_paths_and_drain_announced_first)
{
    char dir[600], etc[700], plugins[700], ini[800], log[800], cmd[2048];
    snprintf(dir, sizeof dir, "%s/app", kt_tmpdir());
    snprintf(etc, sizeof etc, "%s/etc", dir);
    snprintf(plugins, sizeof plugins, "%s/plugins", dir);
    mkdir(dir, 0755);
    mkdir(etc, 0755);
    mkdir(plugins, 0755);
    snprintf(cmd, sizeof cmd, "cp %s/plugins/echo.so %s/ && chmod 755 %s", kt_build(), plugins, plugins);
    cr_assert_eq(system(cmd), 0);
    snprintf(ini, sizeof ini, "%s/workers.ini", etc);
    kt_write_file(ini, "[supervisor]\nplugins = ../plugins\nrun_dir = ./../run\nshutdown_timeout = 5s\n"
                       "[redis]\nurl = embedded\n[type echo]\nprocesses = 2\n");
    snprintf(log, sizeof log, "%s/supervisor.log", dir);
    log_path = log;
    char bin[600];
    kt_bin("kue-supervisor", bin, sizeof bin);
    char *argv[] = { bin, "-c", ini, NULL };
    pid_t sup = kt_spawn(argv, log);
    cr_assert(kt_wait_until(has, "processing \"echo\"", 15000), "workers did not start");
    kill(sup, SIGINT);
    int st = 0;
    cr_assert_eq(kt_wait(sup, 15000, &st), 0);
    char *text = kt_read_file(log);
    cr_assert_not_null(text);

    char want[900];
    snprintf(want, sizeof want, "on %s/run/redis.sock", dir);
    cr_expect(strstr(text, want), "embedded Redis at a normalised path (%s): %s", want, text);
    cr_expect(!strstr(text, "/../") && !strstr(text, "/./"), "a path with dots in the log: %s", text);

    const char *drain = strstr(text, "SIGINT: draining 2 worker(s)");
    const char *stop = strstr(text, "stopping worker");
    const char *term = strstr(text, "SIGTERM: no new jobs");
    cr_expect(drain, "%s", text);
    cr_expect(drain && stop && drain < stop, "drain announced before the workers are stopped: %s", text);
    cr_expect(drain && term && drain < term, "drain announced before the workers' lines: %s", text);
    free(text);
    kt_cleanup();
}
