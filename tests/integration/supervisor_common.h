/*
 * supervisor_common.h -- helpers of the kue-supervisor integration tests:
 * write a config around a private redis-server, start the real supervisor,
 * find its workers in /proc, create jobs with libkue, poll job state.
 * Everything started goes through kt_spawn, so kt_cleanup() (the suites'
 * .fini) kills it.
 */
#ifndef KUE_TEST_SUPERVISOR_COMMON_H
#define KUE_TEST_SUPERVISOR_COMMON_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kue/kue.h>

#include "harness.h"

#define SU __attribute__((unused)) static

struct sup_t {
    kt_redis_t redis;
    char dir[512];        /* test directory */
    char plugins[600];    /* private plugins dir (copies of build plugins) */
    char ini[600];
    char log[600];
    pid_t pid;
    kue_t *k;
};

static struct sup_t *sup_current;

/* A private plugins directory holding copies of the named build plugins
 * ("echo", "sleep" ...). */
SU void sup_plugins(struct sup_t *s, const char *const *names)
{
    snprintf(s->plugins, sizeof(s->plugins), "%s/plugins", s->dir);
    mkdir(s->plugins, 0755);
    chmod(s->plugins, 0755);
    for (; *names; names++) {
        char cmd[2048];
        snprintf(cmd, sizeof(cmd), "cp %s/plugins/%s.so %s/%s.so", kt_build(), *names, s->plugins,
                 *names);
        cr_assert_eq(system(cmd), 0, "%s", cmd);
    }
}

/* Set up redis + dir; body is the part of the config after [redis]. */
SU void sup_setup_flags(struct sup_t *s, const char *const *plugins, const char *body, int flags)
{
    memset(s, 0, sizeof(*s));
    sup_current = s;
    kt_redis_start(&s->redis, flags);
    snprintf(s->dir, sizeof(s->dir), "%s/sup%d", kt_tmpdir(), rand() % 100000);
    mkdir(s->dir, 0755);
    sup_plugins(s, plugins);
    snprintf(s->ini, sizeof(s->ini), "%s/workers.ini", s->dir);
    snprintf(s->log, sizeof(s->log), "%s/supervisor.log", s->dir);
    char *text = malloc(strlen(body) + 4096);
    sprintf(text,
            "[supervisor]\nplugins = plugins\nrun_dir = run\nshutdown_timeout = 5s\n"
            "respawn_delay = 200ms\nrespawn_max_delay = 5s\nlog_level = debug\n"
            "[redis]\nurl = %s\nprefix = q\n[promotion]\ninterval = 200ms\n%s",
            s->redis.url, body);
    kt_write_file(s->ini, text);
    free(text);
    char err[256];
    s->k = kue_connect(s->redis.url, "q", err, sizeof(err));
    cr_assert(s->k, "kue_connect: %s", err);
}

SU void sup_setup(struct sup_t *s, const char *const *plugins, const char *body)
{
    sup_setup_flags(s, plugins, body, 0);
}

SU pid_t sup_start_cfg(const char *ini, const char *log)
{
    char bin[600];
    kt_bin("kue-supervisor", bin, sizeof(bin));
    char *argv[] = { bin, "-c", (char *)ini, NULL };
    return kt_spawn(argv, log);
}

SU void sup_start(struct sup_t *s)
{
    s->pid = sup_start_cfg(s->ini, s->log);
}

/* Children of pid whose command line starts with prefix
 * ("kue-supervisor: worker echo#").  Returns how many, pids in out. */
SU int sup_children(pid_t parent, const char *prefix, pid_t *out, int max)
{
    DIR *d = opendir("/proc");
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        int pid = atoi(e->d_name);
        if (pid <= 0)
            continue;
        char path[64], buf[512];
        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t r = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[r] = '\0';
        char *rp = strrchr(buf, ')');
        char st;
        int ppid;
        if (!rp || sscanf(rp + 2, "%c %d", &st, &ppid) != 2 || ppid != parent || st == 'Z')
            continue;
        snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
        f = fopen(path, "r");
        if (!f)
            continue;
        r = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[r] = '\0';
        if (!strncmp(buf, prefix, strlen(prefix))) {
            if (n < max)
                out[n] = pid;
            n++;
        }
    }
    if (d)
        closedir(d);
    return n;
}

struct sup_count_arg { pid_t parent; const char *prefix; int want; };

static int sup_count_is(void *a)
{
    struct sup_count_arg *c = a;
    pid_t pids[64];
    return sup_children(c->parent, c->prefix, pids, 64) == c->want;
}

/* Wait until the supervisor has exactly want children matching prefix. */
SU int sup_wait_children(pid_t parent, const char *prefix, int want, int timeout_ms)
{
    struct sup_count_arg a = { parent, prefix, want };
    return kt_wait_until(sup_count_is, &a, timeout_ms);
}

struct sup_replaced_arg { pid_t parent; const char *prefix; pid_t old, now; };

static int sup_is_replaced(void *a)
{
    struct sup_replaced_arg *r = a;
    pid_t pids[4];
    if (sup_children(r->parent, r->prefix, pids, 4) != 1 || pids[0] == r->old) return 0;
    r->now = pids[0];
    return 1;
}

/* Wait until the one child matching prefix is another process than old
 * (a killed worker's jobs can be settled before it is gone): its pid, or
 * 0 at the timeout.  Give the type's prefix ("...worker T#"): a
 * replacement started while the old process still exits has the next
 * number. */
SU pid_t sup_wait_replaced(pid_t parent, const char *prefix, pid_t old, int timeout_ms)
{
    struct sup_replaced_arg a = { parent, prefix, old, 0 };
    return kt_wait_until(sup_is_replaced, &a, timeout_ms) ? a.now : 0;
}

SU int64_t sup_job(struct sup_t *s, const char *type, const char *data, int attempts, int64_t delay)
{
    kue_job_t *j = kue_job_new(type, data);
    cr_assert(j);
    if (attempts > 1)
        kue_job_set_attempts(j, attempts);
    if (delay > 0)
        kue_job_set_delay(j, delay);
    int64_t id = kue_job_save(s->k, j);
    cr_assert_gt(id, 0, "save: %s", kue_errstr(s->k));
    kue_job_free(j);
    return id;
}

/* The job's field (copied into buf), or "" */
SU const char *sup_field(struct sup_t *s, int64_t id, const char *field, char *buf, size_t len)
{
    buf[0] = '\0';
    kue_job_t *j = kue_job_get(s->k, id);
    if (!j)
        return buf;
    const char *v = kue_job_field(j, field);
    if (v)
        snprintf(buf, len, "%s", v);
    kue_job_free(j);
    return buf;
}

struct sup_state_arg { struct sup_t *s; int64_t id; const char *state; };

static int sup_state_is(void *a)
{
    struct sup_state_arg *x = a;
    char buf[32];
    return !strcmp(sup_field(x->s, x->id, "state", buf, sizeof(buf)), x->state);
}

SU int sup_wait_state(struct sup_t *s, int64_t id, const char *state, int timeout_ms)
{
    struct sup_state_arg a = { s, id, state };
    return kt_wait_until(sup_state_is, &a, timeout_ms);
}

struct sup_cnt_arg { struct sup_t *s; const char *type; const char *state; long long want; };

static int sup_cnt_is(void *a)
{
    struct sup_cnt_arg *x = a;
    return kue_count(x->s->k, x->type, x->state) >= x->want;
}

/* Wait until at least want jobs of type are in state. */
SU int sup_wait_count(struct sup_t *s, const char *type, const char *state, long long want, int timeout_ms)
{
    struct sup_cnt_arg a = { s, type, state, want };
    return kt_wait_until(sup_cnt_is, &a, timeout_ms);
}

/* Worker processes waiting for a token (an idle worker's BLPOP):
 * a worker there has started, set its signal handlers and found nothing
 * to claim. */
SU int sup_idle(struct sup_t *s)
{
    redisContext *c = kt_redis_connect(&s->redis);
    int n = kt_clients_in(c, "blpop");
    redisFree(c);
    return n;
}

struct sup_idle_arg { struct sup_t *s; int want; };

static int sup_idle_is(void *a)
{
    struct sup_idle_arg *x = a;
    return sup_idle(x->s) == x->want;
}

/* Wait until exactly want worker processes wait for a token. */
SU int sup_wait_idle(struct sup_t *s, int want, int timeout_ms)
{
    struct sup_idle_arg a = { s, want };
    return kt_wait_until(sup_idle_is, &a, timeout_ms);
}

SU int sup_log_has(const char *log, const char *needle)
{
    char *t = kt_read_file(log);
    int r = t && strstr(t, needle);
    free(t);
    return r;
}

/* Stop the supervisor with sig and return its exit code (-1 timeout). */
SU int sup_stop(struct sup_t *s, int sig, int timeout_ms)
{
    kill(s->pid, sig);
    int st;
    if (kt_wait(s->pid, timeout_ms, &st) < 0)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Replace the first occurrence of from with to in file path. */
SU void sup_replace(const char *path, const char *from, const char *to)
{
    char *t = kt_read_file(path);
    cr_assert(t);
    char *p = strstr(t, from);
    cr_assert(p, "%s not in %s", from, path);
    char *n = malloc(strlen(t) + strlen(to) + 1);
    sprintf(n, "%.*s%s%s", (int)(p - t), t, to, p + strlen(from));
    kt_write_file(path, n);
    free(n);
    free(t);
}

/* Build a plugin from C source into the private plugins dir. */
SU void sup_build_plugin(struct sup_t *s, const char *name, const char *src)
{
    char c[700], so[700], cmd[3000];
    snprintf(c, sizeof(c), "%s/%s.c", s->dir, name);
    snprintf(so, sizeof(so), "%s/%s.so", s->plugins, name);
    kt_write_file(c, src);
    snprintf(cmd, sizeof(cmd), "cc -shared -fPIC -I%s/include -o %s %s", kt_srcdir(), so, c);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

/* SIGKILL every descendant of pid (workers live in process groups of
 * their own, so killing the supervisor's group is not enough), then run
 * kt_cleanup().  The suites' .fini. */
SU void sup_kill_tree(pid_t pid)
{
    pid_t kids[256];
    int n = sup_children(pid, "", kids, 256);
    for (int i = 0; i < n && i < 256; i++) {
        sup_kill_tree(kids[i]);
        kill(kids[i], SIGKILL);
    }
}

SU void sup_fini(void)
{
    if (sup_current && sup_current->pid > 0)
        sup_kill_tree(sup_current->pid);
    if (sup_current && sup_current->k) {
        kue_free(sup_current->k);
        sup_current->k = NULL;
    }
    kt_cleanup();
}

#endif
