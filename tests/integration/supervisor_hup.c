/*
 * supervisor_hup.c -- a HUP reload never holds the master's loop: the new
 * file's plugins are checked beside it, and the new configuration applies
 * only once every check passed.  While a slow check runs, a killed worker
 * is replaced and a delayed job is promoted and run; a failing check keeps
 * the running configuration; a second HUP abandons the pending reload (its
 * checks killed and reaped, the newest file wins); TERM while a reload is
 * pending drains, and no check outlives the master.
 */
#include "supervisor_common.h"

#include <errno.h>

static struct sup_t S;
static const char *const plugins[] = { "echo", NULL };

TestSuite(supervisor_hup, .fini = sup_fini, .timeout = 90);

/* A plugin whose loading takes secs seconds (good, or without its
 * descriptor when bad). */
static void build_slow(const char *name, int secs, int bad)
{
    char src[1024];
    snprintf(src, sizeof(src),
             "#include <unistd.h>\n#include <kue/plugin.h>\n"
             "__attribute__((constructor)) static void slow(void) { sleep(%d); }\n"
             "%s",
             secs,
             bad ? "int not_a_plugin;\n"
                 : "static void process(kue_handle_t *j) { kue_done(j, 0, 0); }\n"
                   "KUE_PLUGIN(.process = process);\n");
    sup_build_plugin(&S, name, src);
}

/* The config's [type] sections become body. */
static void write_types(const char *body)
{
    char *t = kt_read_file(S.ini);
    cr_assert(t);
    char *p = strstr(t, "[type");
    cr_assert(p);
    *p = '\0';
    char *n = malloc(strlen(t) + strlen(body) + 1);
    sprintf(n, "%s%s", t, body);
    kt_write_file(S.ini, n);
    free(n);
    free(t);
}

static int log_has(void *needle)
{
    return sup_log_has(S.log, needle);
}

/* A child of the master that checks the plugin of type ("kue-supervisor:
 * plugin check --check --type TYPE ..."), 0 when none runs. */
static pid_t check_pid(const char *type)
{
    pid_t kids[64];
    int n = sup_children(S.pid, "kue-supervisor: plugin check", kids, 64);
    for (int i = 0; i < n && i < 64; i++) {
        char path[64], buf[1024];
        snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)kids[i]);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[len] = '\0';
        for (size_t k = 0; k + 1 < len; k += strlen(buf + k) + 1)
            if (!strcmp(buf + k, "--type") && !strcmp(buf + k + 7, type))
                return kids[i];
    }
    return 0;
}

/* Wait (5 s at most) for the check of type to run; its pid. */
static pid_t wait_check(const char *type)
{
    pid_t pid = 0;
    int64_t end = kt_now_ms() + 5000;
    while (!(pid = check_pid(type)) && kt_now_ms() < end)
        kt_sleep_ms(20);
    cr_assert_gt(pid, 0, "no check of %s runs", type);
    return pid;
}

/* A live process whose command line is a plugin check's. */
static int is_check(pid_t pid)
{
    char path[64], buf[128] = "";
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return !strncmp(buf, "kue-supervisor: plugin check", 28);
}

/* Children of the master that are plugin checks, or zombies. */
static int checks_or_zombies(void *arg)
{
    (void)arg;
    pid_t kids[64];
    int n = sup_children(S.pid, "kue-supervisor: plugin check", kids, 64);
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        int pid = atoi(e->d_name);
        char path[64], buf[512];
        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        FILE *f = pid > 0 ? fopen(path, "r") : NULL;
        if (!f)
            continue;
        size_t r = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[r] = '\0';
        char *rp = strrchr(buf, ')'), st;
        int ppid;
        if (rp && sscanf(rp + 2, "%c %d", &st, &ppid) == 2 && ppid == S.pid && st == 'Z')
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

static int no_checks_left(void *arg)
{
    return checks_or_zombies(arg) == 0;
}

struct respawn { pid_t old; };

static int echo_respawned(void *arg)
{
    struct respawn *r = arg;
    pid_t now[2] = { 0, 0 };
    return sup_children(S.pid, "kue-supervisor: worker echo#", now, 2) == 1 && now[0] != r->old;
}

static void start_echo(void)
{
    sup_setup(&S, plugins, "[type echo]\nprocesses = 1\n");
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker echo#", 1, 10000));
}

Test(supervisor_hup, slow_check_keeps_the_master_serving)
{
    start_echo();
    build_slow("slow", 5, 0);
    write_types("[type echo]\nprocesses = 1\n[type slow]\nprocesses = 1\n");
    int64_t hup = kt_now_ms();
    kill(S.pid, SIGHUP);
    wait_check("slow");

    /* while the check of slow loads its plugin (5 s), the loop serves:
     * a killed worker is replaced at once ... */
    pid_t w[2];
    cr_assert_eq(sup_children(S.pid, "kue-supervisor: worker echo#", w, 2), 1);
    int64_t t0 = kt_now_ms();
    kill(w[0], SIGKILL);
    struct respawn r = { w[0] };
    cr_assert(kt_wait_until(echo_respawned, &r, 10000), "the killed worker was not replaced");
    int64_t respawn_ms = kt_now_ms() - t0;
    /* ... and a delayed job is promoted and run */
    int64_t id = sup_job(&S, "echo", "{}", 1, 300);
    t0 = kt_now_ms();
    cr_assert(sup_wait_state(&S, id, "complete", 10000), "the delayed job did not run");
    int64_t job_ms = kt_now_ms() - t0;
    cr_log_info("during a 5 s plugin check on HUP: worker replaced in %lld ms, delayed job "
                "(300 ms) run in %lld ms", (long long)respawn_ms, (long long)job_ms);
    cr_expect_lt(respawn_ms, 2500, "the master was blocked for %lld ms", (long long)respawn_ms);
    cr_expect_lt(job_ms, 3000, "the delayed job took %lld ms", (long long)job_ms);
    /* all that happened before the reload applied */
    cr_assert(!sup_log_has(S.log, "reloaded (generation"), "applied before its check passed");
    cr_assert_eq(sup_children(S.pid, "kue-supervisor: worker slow#", NULL, 0), 0);

    /* then it applies: the new type starts */
    cr_assert(kt_wait_until(log_has, "reloaded (generation 2)", 20000), "never applied");
    int64_t applied = kt_now_ms() - hup;
    cr_expect_geq(applied, 4500, "applied after %lld ms, before the check ended", (long long)applied);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker slow#", 1, 10000));
    cr_assert(kt_wait_until(no_checks_left, NULL, 5000), "a plugin check is left");
    cr_assert_eq(sup_stop(&S, SIGTERM, 20000), 0);
    S.pid = 0;
}

Test(supervisor_hup, failing_check_keeps_the_running_config)
{
    start_echo();
    build_slow("bad", 2, 1);
    write_types("[type echo]\nprocesses = 2\n[type bad]\n");
    kill(S.pid, SIGHUP);
    cr_assert(kt_wait_until(log_has, "reload: checking 2 plugin(s)", 5000));
    /* the line of an invalid file, naming the file, the type and why */
    char needle[800];
    snprintf(needle, sizeof(needle), "reload failed, keeping the running configuration: %s:",
             S.ini);
    cr_assert(kt_wait_until(log_has, needle, 15000), "no failure logged");
    char *t = kt_read_file(S.log);
    char *line = strstr(t, needle);
    cr_assert(line);
    *strchrnul(line, '\n') = '\0';
    cr_expect(strstr(line, ": [type bad] handler: plugin "), "%s", line);
    cr_expect(strstr(line, "bad.so: no symbol"), "%s", line);
    free(t);
    cr_assert(!sup_log_has(S.log, "reloaded (generation"));
    /* the running configuration stays: one echo worker, and it works */
    int64_t id = sup_job(&S, "echo", "{}", 1, 0);
    cr_assert(sup_wait_state(&S, id, "complete", 5000));
    cr_assert_eq(sup_children(S.pid, "kue-supervisor: worker echo#", NULL, 0), 1);
    cr_assert(kt_wait_until(no_checks_left, NULL, 5000), "a plugin check is left");

    /* the file fixed: the next HUP applies it */
    write_types("[type echo]\nprocesses = 2\n");
    kill(S.pid, SIGHUP);
    cr_assert(kt_wait_until(log_has, "reloaded (generation 2)", 10000));
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker echo#", 2, 10000));
    cr_assert_eq(sup_stop(&S, SIGTERM, 20000), 0);
    S.pid = 0;
}

Test(supervisor_hup, second_hup_abandons_the_pending_reload)
{
    start_echo();
    build_slow("slow", 6, 0);
    write_types("[type echo]\nprocesses = 1\n[type slow]\n");
    int64_t hup1 = kt_now_ms();
    kill(S.pid, SIGHUP);
    pid_t slow_check = wait_check("slow");

    /* the newest file wins: no slow, two echo workers */
    write_types("[type echo]\nprocesses = 2\n");
    kill(S.pid, SIGHUP);
    cr_assert(kt_wait_until(log_has, "SIGHUP again: the pending reload of", 5000));
    cr_assert(kt_wait_until(log_has, "reloaded (generation 2)", 5000));
    cr_expect_lt(kt_now_ms() - hup1, 5500, "waited for the abandoned check");
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker echo#", 2, 10000));
    /* the abandoned check was killed and reaped */
    cr_assert(kt_wait_until(no_checks_left, NULL, 5000), "a plugin check is left");
    cr_expect(!is_check(slow_check), "the check of slow still runs");
    /* until its plugin would have loaded and a bit more, nothing of the
     * first file applies (a window in which something must not happen) */
    while (kt_now_ms() < hup1 + 7500) {
        cr_assert_eq(sup_children(S.pid, "kue-supervisor: worker slow#", NULL, 0), 0);
        kt_sleep_ms(100);
    }
    cr_assert(!sup_log_has(S.log, "reloaded (generation 3)"));
    cr_assert(!sup_log_has(S.log, "[type slow]"));
    cr_assert_eq(sup_stop(&S, SIGTERM, 20000), 0);
    S.pid = 0;
}

Test(supervisor_hup, term_while_pending_drains)
{
    start_echo();
    build_slow("slow", 30, 0);
    write_types("[type echo]\nprocesses = 1\n[type slow]\n");
    kill(S.pid, SIGHUP);
    pid_t slow_check = wait_check("slow");
    int64_t t0 = kt_now_ms();
    cr_assert_eq(sup_stop(&S, SIGTERM, 20000), 0);
    int64_t took = kt_now_ms() - t0;
    cr_expect_lt(took, 10000, "the drain waited for the check (%lld ms)", (long long)took);
    cr_assert(sup_log_has(S.log, "SIGTERM: the pending reload of"));
    cr_assert(!sup_log_has(S.log, "reloaded (generation"));
    /* the check did not outlive the master */
    int64_t end = kt_now_ms() + 3000;
    while (is_check(slow_check) && kt_now_ms() < end)
        kt_sleep_ms(20);
    cr_expect(!is_check(slow_check), "the check of slow outlived the master");
    S.pid = 0;
}

/* The check runs as [supervisor] user when the master is root: the
 * parent-death signal is set after that drop (a change of credentials
 * clears it), so a check dies with a master killed with kill -9. */
Test(supervisor_hup, check_dies_with_a_killed_master)
{
    static const char *const none[] = { NULL };
    sup_setup(&S, none, "");
    if (geteuid() == 0) {
        chmod(kt_tmpdir(), 0755);   /* nobody must be able to reach the plugin */
        sup_replace(S.ini, "[supervisor]\n", "[supervisor]\nuser = nobody\n");
    }
    build_slow("slow", 30, 0);
    sup_start(&S);
    cr_assert(kt_wait_until(log_has, "kue-supervisor " KUE_VERSION " starting", 10000));
    char *t = kt_read_file(S.ini);
    char *n = malloc(strlen(t) + 64);
    sprintf(n, "%s[type slow]\n", t);
    kt_write_file(S.ini, n);
    free(n);
    free(t);
    kill(S.pid, SIGHUP);
    pid_t slow_check = wait_check("slow");
    kill(S.pid, SIGKILL);
    cr_assert_geq(kt_wait(S.pid, 5000, NULL), 0);
    S.pid = 0;
    int64_t end = kt_now_ms() + 5000;
    while (is_check(slow_check) && kt_now_ms() < end)
        kt_sleep_ms(20);
    cr_expect(!is_check(slow_check), "the check outlived the master killed with kill -9");
    if (is_check(slow_check))
        kill(slow_check, SIGKILL);
}
