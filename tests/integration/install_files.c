/*
 * Install and deployment files, as a new user meets them:
 *  - `make install PREFIX=<temporary prefix>` after a build writes a kue.pc
 *    for that prefix; examples/producer.c and examples/async_producer.c
 *    (the README's C producers) build with `pkg-config --cflags --libs kue`
 *    and, run with KUE_REDIS_URL set, save their jobs in a private
 *    redis-server;
 *  - every shipped INI in etc/ passes `kue-supervisor -t`, with the
 *    install paths pointed at the temporary prefix;
 *  - a plugins directory owned by another user (a host directory mounted
 *    into a container) is refused on a writable mount and accepted, and
 *    runs jobs, on a read-only one (root and unshare(1) needed, else skipped).
 */
#include <criterion/criterion.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kue/kue.h>
#include "harness.h"

TestSuite(install_files, .timeout = 180);

/* Extra compiler flags and make arguments matching this build (a
 * sanitized libkue needs the sanitizer runtime in the program too): the
 * Makefile passes its SANITIZE list as KUE_TEST_SANITIZE. */
#ifndef KUE_TEST_SANITIZE
#define KUE_TEST_SANITIZE ""
#endif

static void san_flags(char *cflags, size_t cn, char *make, size_t mn)
{
    const char *s = KUE_TEST_SANITIZE;
    snprintf(cflags, cn, "%s%s", s[0] ? "-fsanitize=" : "", s);
    snprintf(make, mn, "%s%s", s[0] ? "SANITIZE=" : "", s);
}

static int sh(const char *cmd, const char *log)
{
    char full[40000];
    snprintf(full, sizeof full, "( %s ) >%s 2>&1", cmd, log);
    int st = system(full);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void install_into(const char *prefix)
{
    char cmd[20000], log[1024], sanc[128], sanm[128];
    san_flags(sanc, sizeof sanc, sanm, sizeof sanm);
    snprintf(log, sizeof log, "%s.install.log", prefix);
    snprintf(cmd, sizeof cmd,
             "cd %s && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s O=%s %s install PREFIX=%s",
             kt_srcdir(), kt_build(), sanm, prefix);
    int rc = sh(cmd, log);
    char *out = kt_read_file(log);
    cr_assert_eq(rc, 0, "%s: %s", cmd, out ? out : "");
    free(out);
}

/* Replace every "from" in text by "to" (a new string). */
static char *subst(const char *text, const char *from, const char *to)
{
    size_t n = 0, fl = strlen(from), tl = strlen(to);
    for (const char *p = text; (p = strstr(p, from)); p += fl) n++;
    char *out = malloc(strlen(text) + n * (tl + 1) + 1), *o = out;
    const char *p = text, *q;
    while ((q = strstr(p, from))) {
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        memcpy(o, to, tl);
        o += tl;
        p = q + fl;
    }
    strcpy(o, p);
    return out;
}

static int check_ini(const char *path, char **out)
{
    char bin[1024], cmd[4096], log[1200];
    kt_bin("kue-supervisor", bin, sizeof bin);
    snprintf(log, sizeof log, "%s.log", path);
    snprintf(cmd, sizeof cmd, "env -u KUE_REDIS_URL -u KUE_PREFIX -u KUE_WEB_LISTEN %s -t -c %s",
             bin, path);
    int rc = sh(cmd, log);
    *out = kt_read_file(log);
    return rc;
}

Test(install_files, pkgconfig_for_a_new_prefix_builds_the_producer)
{
    char prefix[1024];
    snprintf(prefix, sizeof prefix, "%s/prefix", kt_tmpdir());
    install_into(prefix);

    char pc[1200];
    snprintf(pc, sizeof pc, "%s/lib/pkgconfig/kue.pc", prefix);
    char *text = kt_read_file(pc);
    cr_assert_not_null(text, "%s not installed", pc);
    char want[1200];
    snprintf(want, sizeof want, "prefix=%s\n", prefix);
    cr_expect(strstr(text, want), "kue.pc for %s: %s", prefix, text);
    free(text);
    /* the unit's Documentation= file is installed */
    char doc[1200];
    struct stat sb;
    snprintf(doc, sizeof doc, "%s/share/doc/kue/README.md", prefix);
    cr_expect_eq(stat(doc, &sb), 0, "%s", doc);

    /* the README's producer, built the README's way */
    char cmd[20000], log[1200], prog[1200], sanc[128], sanm[128];
    san_flags(sanc, sizeof sanc, sanm, sizeof sanm);
    snprintf(prog, sizeof prog, "%s/producer", prefix);
    snprintf(log, sizeof log, "%s/cc.log", prefix);
    snprintf(cmd, sizeof cmd,
             "export PKG_CONFIG_PATH=%s/lib/pkgconfig; "
             "cc %s -o %s %s/examples/producer.c $(pkg-config --cflags --libs kue)",
             prefix, sanc, prog, kt_srcdir());
    int rc = sh(cmd, log);
    char *out = kt_read_file(log);
    cr_assert_eq(rc, 0, "%s: %s", cmd, out ? out : "");
    free(out);

    kt_redis_t r;
    kt_redis_start(&r, 0);
    snprintf(log, sizeof log, "%s/producer.log", prefix);
    snprintf(cmd, sizeof cmd, "LD_LIBRARY_PATH=%s/lib KUE_REDIS_URL='%s' %s", prefix, r.url, prog);
    rc = sh(cmd, log);
    out = kt_read_file(log);
    cr_assert_eq(rc, 0, "%s: %s", cmd, out ? out : "");
    long long id = 0;
    cr_assert(out && sscanf(out, "created job %lld", &id) == 1, "%s", out ? out : "");
    free(out);
    redisContext *c = kt_redis_connect(&r);
    char buf[64];
    cr_expect_str_eq(kt_str(c, buf, sizeof buf, "HGET q:job:%lld type", id), "email");
    cr_expect_str_eq(kt_str(c, buf, sizeof buf, "HGET q:job:%lld priority", id), "-10");
    cr_expect_eq(kt_int(c, "ZCARD q:jobs:email:inactive"), 1);

    /* the README's non-blocking producer, the same way */
    snprintf(prog, sizeof prog, "%s/async_producer", prefix);
    snprintf(log, sizeof log, "%s/cc-async.log", prefix);
    snprintf(cmd, sizeof cmd,
             "export PKG_CONFIG_PATH=%s/lib/pkgconfig; "
             "cc %s -o %s %s/examples/async_producer.c $(pkg-config --cflags --libs kue)",
             prefix, sanc, prog, kt_srcdir());
    rc = sh(cmd, log);
    out = kt_read_file(log);
    cr_assert_eq(rc, 0, "%s: %s", cmd, out ? out : "");
    free(out);
    snprintf(log, sizeof log, "%s/async_producer.log", prefix);
    snprintf(cmd, sizeof cmd, "LD_LIBRARY_PATH=%s/lib KUE_REDIS_URL='%s' %s", prefix, r.url, prog);
    rc = sh(cmd, log);
    out = kt_read_file(log);
    cr_expect_eq(rc, 0, "%s: %s", cmd, out ? out : "");
    cr_expect(out && strstr(out, "saved 1000 of 1000 jobs"), "%s", out ? out : "");
    free(out);
    cr_expect_eq(kt_int(c, "ZCARD q:jobs:email:inactive"), 1001);
    redisFree(c);
    kt_redis_stop(&r);
    kt_cleanup();
}

Test(install_files, every_shipped_ini_passes_the_config_check)
{
    char prefix[1024];
    snprintf(prefix, sizeof prefix, "%s/prefix-ini", kt_tmpdir());
    install_into(prefix);
    char run[1200], plugins[1200], buildplugins[1200];
    snprintf(run, sizeof run, "%s/run", kt_tmpdir());
    mkdir(run, 0755);
    snprintf(plugins, sizeof plugins, "%s/lib/kue/plugins", prefix);
    snprintf(buildplugins, sizeof buildplugins, "%s/plugins", kt_build());

    static const char *const inis[] = { "workers.ini", "docker.ini", "run.ini", NULL };
    int have_kue_user = getpwnam("kue") != NULL;
    for (int i = 0; inis[i]; i++) {
        char src[1200];
        snprintf(src, sizeof src, "%s/etc/%s", kt_srcdir(), inis[i]);
        char *text = kt_read_file(src);
        cr_assert_not_null(text, "%s", src);
        /* the install paths of a default install, pointed at the prefix */
        char *a = subst(text, "/usr/local/lib/kue/plugins", plugins);
        char *b = subst(a, "/var/lib/kue", run);
        char *d = subst(b, "/run/kue", run);
        char *e = subst(d, "../build/plugins", buildplugins);
        char *f = subst(e, "../build/run", run);
        /* the image creates user kue; this machine may have none */
        char *g = have_kue_user ? strdup(f) : subst(f, "\nuser = kue\ngroup = kue\n", "\n");
        char path[1300];
        snprintf(path, sizeof path, "%s/%s", kt_tmpdir(), inis[i]);
        kt_write_file(path, g);
        char *out = NULL;
        int rc = check_ini(path, &out);
        cr_expect_eq(rc, 0, "kue-supervisor -t on etc/%s: %s", inis[i], out ? out : "");
        free(out);
        free(text); free(a); free(b); free(d); free(e); free(f); free(g);
    }
}

static redisContext *ro_c;
static long long ro_id;
static int ro_done(void *arg)
{
    (void)arg;
    char buf[32];
    return strcmp(kt_str(ro_c, buf, sizeof buf, "HGET q:job:%lld state", ro_id), "complete") == 0;
}

Test(install_files, read_only_plugins_of_another_owner)
{
    if (geteuid() != 0 || system("unshare -m true >/dev/null 2>&1") != 0)
        cr_skip_test("needs root and unshare -m (a private mount namespace)");
    char dir[512], cmd[20000];
    snprintf(dir, sizeof dir, "%s/host-plugins", kt_tmpdir());
    mkdir(dir, 0755);
    snprintf(cmd, sizeof cmd,
             "cp %s/plugins/echo.so %s/ && chown -R 1000:1000 %s && chmod 755 %s %s/echo.so",
             kt_build(), dir, dir, dir, dir);
    cr_assert_eq(system(cmd), 0, "%s", cmd);

    kt_redis_t r;
    kt_redis_start(&r, 0);
    char ini[600], text[4096];
    snprintf(ini, sizeof ini, "%s/ro.ini", kt_tmpdir());
    snprintf(text, sizeof text,
             "[supervisor]\nplugins = %s\nrun_dir = %s/ro-run\nshutdown_timeout = 2s\n"
             "[redis]\nurl = %s\nprefix = q\n[type echo]\nprocesses = 1\n",
             dir, kt_tmpdir(), r.url);
    kt_write_file(ini, text);

    /* a writable mount: refused, saying why and what to do */
    char *out = NULL;
    int rc = check_ini(ini, &out);
    cr_expect_eq(rc, 2, "%s", out ? out : "");
    cr_expect(out && strstr(out, "owned by uid 1000") && strstr(out, "read-only"), "%s", out ? out : "");
    free(out);

    /* the same directory mounted read-only: checked, and it runs jobs */
    char bin[512];
    kt_bin("kue-supervisor", bin, sizeof bin);
    char script[16384];
    snprintf(script, sizeof script, "mount --bind %s %s && mount -o remount,bind,ro %s && %s -t -c %s",
             dir, dir, dir, bin, ini);
    char log[1200];
    snprintf(log, sizeof log, "%s/ro-check.log", kt_tmpdir());
    snprintf(cmd, sizeof cmd, "unshare -m sh -c '%s'", script);
    rc = sh(cmd, log);
    out = kt_read_file(log);
    cr_expect_eq(rc, 0, "read-only mount: %s", out ? out : "");
    free(out);

    snprintf(script, sizeof script, "mount --bind %s %s && mount -o remount,bind,ro %s && exec %s -c %s",
             dir, dir, dir, bin, ini);
    char *argv[] = { "unshare", "-m", "sh", "-c", script, NULL };
    snprintf(log, sizeof log, "%s/ro-sup.log", kt_tmpdir());
    pid_t sup = kt_spawn(argv, log);
    char err[256];
    kue_t *k = kue_connect(r.url, "q", err, sizeof err);
    cr_assert_not_null(k, "%s", err);
    kue_job_t *j = kue_job_new("echo", "{\"x\":1}");
    ro_id = kue_job_save(k, j);
    kue_job_free(j);
    cr_assert_gt(ro_id, 0);
    ro_c = kt_redis_connect(&r);
    int ok = kt_wait_until(ro_done, NULL, 15000);
    out = kt_read_file(log);
    cr_expect(ok, "the echo job ran from the read-only plugins: %s", out ? out : "");
    free(out);
    kill(sup, SIGTERM);
    int st = 0;
    cr_expect_eq(kt_wait(sup, 10000, &st), 0);
    redisFree(ro_c);
    kue_free(k);
    kt_redis_stop(&r);
    kt_cleanup();
}

/* The container and systemd files agree with each other and with make
 * install. */
Test(install_files, container_and_unit_files_agree)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/etc/Dockerfile", kt_srcdir());
    char *df = kt_read_file(path);
    cr_assert_not_null(df);
    cr_expect(!strstr(df, "criterion"), "the image build installs test-only packages");
    cr_expect(strstr(df, "COPY etc/docker.ini /etc/kue/workers.ini"), "the image's INI is etc/docker.ini");
    const char *ex = strstr(df, "\nEXPOSE ");
    cr_assert_not_null(ex);
    int port = atoi(ex + 8);
    snprintf(path, sizeof path, "%s/etc/docker.ini", kt_srcdir());
    char *ini = kt_read_file(path);
    cr_assert_not_null(ini);
    char want[64];
    snprintf(want, sizeof want, "[web]\nlisten = 0.0.0.0:%d\n", port);
    cr_expect(strstr(ini, want), "EXPOSE %d without %s in docker.ini", port, want);

    snprintf(path, sizeof path, "%s/.dockerignore", kt_srcdir());
    char *ign = kt_read_file(path);
    cr_assert_not_null(ign, ".dockerignore missing");
    cr_expect(strstr(ign, "\nbuild\n") && strstr(ign, "\nbuild-*\n"),
              "build directories (with Redis data) in the image context: %s", ign);

    snprintf(path, sizeof path, "%s/etc/kue-supervisor.service", kt_srcdir());
    char *unit = kt_read_file(path);
    cr_assert_not_null(unit);
    snprintf(path, sizeof path, "%s/etc/workers.ini", kt_srcdir());
    char *w = kt_read_file(path);
    cr_assert_not_null(w);
    /* run_dir is the unit's state directory, not relative to /etc/kue */
    cr_expect(strstr(unit, "\nStateDirectory=kue\n"), "%s", unit);
    cr_expect(strstr(w, "\nrun_dir = /var/lib/kue\n"), "workers.ini run_dir under systemd");
    cr_expect(strstr(w, "\nplugins = /usr/local/lib/kue/plugins\n"), "workers.ini plugins");
    /* Documentation= names a file make install installs (checked in the
     * pkgconfig test: share/doc/kue/README.md) */
    cr_expect(strstr(unit, "\nDocumentation=file:///usr/local/share/doc/kue/README.md\n"), "%s", unit);
    free(df); free(ini); free(ign); free(unit); free(w);
}
