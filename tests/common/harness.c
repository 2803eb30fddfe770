/*
 * harness.c -- private redis-servers and child processes for the tests.
 * See harness.h.  Everything here aborts the current test (cr_assert) on a
 * set-up failure: a test that cannot set up must fail, not pass.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KT_MAX_CHILDREN 256

static pid_t children[KT_MAX_CHILDREN];
static int nchildren;
static kt_redis_t *redises[16];
static int nredises;
static int atexit_set;

int64_t kt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void kt_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {}
}

static void remember(pid_t pid)
{
    if (!atexit_set) { atexit(kt_cleanup); atexit_set = 1; }
    for (int i = 0; i < nchildren; i++)
        if (children[i] == 0) { children[i] = pid; return; }
    if (nchildren < KT_MAX_CHILDREN) children[nchildren++] = pid;
}

static void forget(pid_t pid)
{
    for (int i = 0; i < nchildren; i++)
        if (children[i] == pid) children[i] = 0;
}

static int tmpdir_made;
static char tmpdir[64];

/* mkdtemp's template suffix: six 'X' characters. */
static const char *tmpl_suffix(void)
{
    static char x[7];
    if (!x[0]) memset(x, 'X', 6);
    return x;
}

const char *kt_tmpdir(void)
{
    char *dir = tmpdir;
    if (!dir[0]) {
        tmpdir_made = 1;
        snprintf(dir, sizeof tmpdir, "/tmp/kue-test-%s", tmpl_suffix());
        cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
        /* removed at exit too, for suites without a .fini that cleans up */
        if (!atexit_set) { atexit(kt_cleanup); atexit_set = 1; }
    }
    return dir;
}

const char *kt_build(void)
{
    static char buf[PATH_MAX];
    if (!buf[0]) {
        const char *b = getenv("KUE_BUILD");
        if (!b || !*b) b = "build";
        if (!realpath(b, buf)) snprintf(buf, sizeof buf, "%s", b);
    }
    return buf;
}

const char *kt_srcdir(void)
{
    static char buf[PATH_MAX];
    if (!buf[0]) {
        /* The build directory lives in the source tree root. */
        snprintf(buf, sizeof buf, "%s", kt_build());
        char *slash = strrchr(buf, '/');
        if (slash && slash != buf) *slash = '\0';
        char probe[PATH_MAX + 32];
        snprintf(probe, sizeof probe, "%s/include/kue/kue.h", buf);
        if (access(probe, R_OK) != 0 && !getcwd(buf, sizeof buf)) buf[0] = '.';
    }
    return buf;
}

const char *kt_bin(const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/bin/%s", kt_build(), name);
    return buf;
}

/* A loopback port free right now (never 6379 or 26379, the defaults a
 * developer's own servers may use).  Whoever starts a server on it may
 * find it taken meanwhile by a suite running beside this one, and starts
 * again on another. */
int kt_free_port(void)
{
    for (;;) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        cr_assert(fd >= 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        cr_assert(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
        socklen_t l = sizeof a;
        cr_assert(getsockname(fd, (struct sockaddr *)&a, &l) == 0);
        close(fd);
        int p = ntohs(a.sin_port);
        if (p != 6379 && p != 26379) return p;
    }
}

/* Start r's redis-server and wait for its PING: 0, or -1 when it exited at
 * start (its log says why). */
static int redis_launch_try(kt_redis_t *r, int flags, char *const *extra)
{
    char portbuf[16];
    snprintf(portbuf, sizeof portbuf, "%d", r->port);
    char *argv[40];
    int n = 0;
    argv[n++] = "redis-server";
    argv[n++] = "--port"; argv[n++] = portbuf;
    argv[n++] = "--bind"; argv[n++] = "127.0.0.1";
    argv[n++] = "--unixsocket"; argv[n++] = r->sock;
    argv[n++] = "--unixsocketperm"; argv[n++] = "700";
    argv[n++] = "--dir"; argv[n++] = r->dir;
    argv[n++] = "--save"; argv[n++] = "";
    argv[n++] = "--appendonly"; argv[n++] = (flags & KT_AOF) ? "yes" : "no";
    argv[n++] = "--appendfsync"; argv[n++] = "always";
    argv[n++] = "--daemonize"; argv[n++] = "no";
    argv[n++] = "--loglevel"; argv[n++] = "warning";
    argv[n++] = "--logfile"; argv[n++] = "redis.log";
    for (; extra && *extra && n < 38; extra++) argv[n++] = *extra;
    argv[n++] = NULL;

    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* die with the test even if it crashes before its cleanup */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (chdir(r->dir) != 0) _exit(127);
        setpgid(0, 0);
        execvp("redis-server", argv);
        _exit(127);
    }
    r->pid = pid;
    remember(pid);

    /* Wait for PING. */
    int64_t deadline = kt_now_ms() + 10000;
    for (;;) {
        redisContext *c = redisConnectUnix(r->sock);
        if (c && !c->err) {
            redisReply *rep = redisCommand(c, "PING");
            int ok = rep && rep->type == REDIS_REPLY_STATUS;
            if (rep) freeReplyObject(rep);
            redisFree(c);
            if (ok) return 0;
        } else if (c) {
            redisFree(c);
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            forget(pid);
            r->pid = 0;
            return -1;
        }
        cr_assert(kt_now_ms() < deadline, "redis-server did not answer PING in 10 s");
        kt_sleep_ms(10);
    }
}

static void redis_launch(kt_redis_t *r, int flags, char *const *extra)
{
    if (redis_launch_try(r, flags, extra) != 0)
        cr_assert_fail("redis-server exited at start (see %s/redis.log)", r->dir);
}

void kt_redis_start(kt_redis_t *r, int flags)
{
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "%s/redis-%d-%s", kt_tmpdir(), nredises, tmpl_suffix());
    cr_assert_not_null(mkdtemp(r->dir));
    snprintf(r->sock, sizeof r->sock, "%s/redis.sock", r->dir);
    snprintf(r->url, sizeof r->url, "unix://%s", r->sock);
    if (nredises < 16) redises[nredises++] = r;
    /* A port picked free can be taken by a suite running beside this one
     * before the server binds it: the server exits at start, and starts
     * again on another port (a unix-socket-only server has no such race). */
    for (int tries = 1;; tries++) {
        r->port = (flags & KT_TCP) ? kt_free_port() : 0;
        if (r->port)
            snprintf(r->tcp_url, sizeof r->tcp_url, "redis://127.0.0.1:%d/0", r->port);
        if (redis_launch_try(r, flags, NULL) == 0) return;
        cr_assert(r->port && tries < 3, "redis-server exited at start (see %s/redis.log)", r->dir);
        fprintf(stderr, "redis-server on port %d exited at start; again on another port\n", r->port);
    }
}

void kt_redis_restart(kt_redis_t *r, int flags)
{
    kt_redis_restart_args(r, flags, NULL);
}

void kt_redis_restart_args(kt_redis_t *r, int flags, char *const extra[])
{
    if (r->pid > 0) kt_redis_stop_keep(r, 1);
    redis_launch(r, flags, extra);
}

static void rm_rf(const char *path)
{
    DIR *d = opendir(path);
    if (!d) { unlink(path); return; }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) rm_rf(p);
        else unlink(p);
    }
    closedir(d);
    rmdir(path);
}

void kt_redis_stop_keep(kt_redis_t *r, int keep_dir)
{
    if (r->pid > 0) {
        kill(r->pid, SIGTERM);
        int st;
        if (kt_wait(r->pid, 2000, &st) != 0) {
            kill(r->pid, SIGKILL);
            kt_wait(r->pid, 2000, &st);
        }
        r->pid = 0;
    }
    if (!keep_dir && r->dir[0]) {
        rm_rf(r->dir);
        r->dir[0] = '\0';
    }
}

void kt_redis_stop(kt_redis_t *r)
{
    for (int i = 0; i < nredises; i++)
        if (redises[i] == r) redises[i] = NULL;
    kt_redis_stop_keep(r, 0);
}

redisContext *kt_redis_connect(const kt_redis_t *r)
{
    redisContext *c = redisConnectUnix(r->sock);
    cr_assert(c && !c->err, "connect to test redis: %s", c ? c->errstr : "oom");
    return c;
}

void kt_store_open(kt_redis_t *r, int flags, redisContext **c, kue_t **k)
{
    kt_redis_start(r, flags);
    *c = kt_redis_connect(r);
    char err[256];
    *k = kue_connect(r->url, "q", err, sizeof err);
    cr_assert_not_null(*k, "kue_connect: %s", err);
}

void kt_store_close(redisContext **c, kue_t **k)
{
    if (*k) kue_free(*k);
    if (*c) redisFree(*c);
    *k = NULL;
    *c = NULL;
    kt_cleanup();
}

redisReply *kt_cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    cr_assert_not_null(r, "redis command failed: %s", c->errstr);
    return r;
}

long long kt_cmd_calls(redisContext *c, const char *cmd)
{
    redisReply *r = kt_cmd(c, "INFO commandstats");
    char pat[96];
    snprintf(pat, sizeof pat, "cmdstat_%s:calls=", cmd);
    const char *p = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, pat) : NULL;
    long long v = p ? atoll(p + strlen(pat)) : 0;
    freeReplyObject(r);
    return v;
}

int kt_clients_in(redisContext *c, const char *cmd)
{
    redisReply *r = kt_cmd(c, "CLIENT LIST");
    char pat[96];
    snprintf(pat, sizeof pat, " cmd=%s ", cmd);
    int n = 0;
    /* one line per client: count those blocked (flags with 'b') in cmd */
    for (const char *p = r->type == REDIS_REPLY_STRING ? r->str : NULL; p && *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1), p);
        const char *fl = strstr(line, " flags=");
        if (strstr(line, pat) && fl && strcspn(fl + 7, " b") < strcspn(fl + 7, " "))
            n++;
        p = e ? e + 1 : NULL;
    }
    freeReplyObject(r);
    return n;
}

int64_t kt_redis_now_ms(redisContext *c)
{
    redisReply *r = kt_cmd(c, "TIME");
    cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2, "TIME: unexpected reply");
    int64_t ms = strtoll(r->element[0]->str, NULL, 10) * 1000 +
                 strtoll(r->element[1]->str, NULL, 10) / 1000;
    freeReplyObject(r);
    return ms;
}

struct redis_clock { redisContext *c; int64_t at; };

static int redis_clock_reached(void *arg)
{
    struct redis_clock *w = arg;
    return kt_redis_now_ms(w->c) >= w->at;
}

void kt_wait_redis_clock(redisContext *c, int64_t ms)
{
    struct redis_clock w = { c, ms };
    cr_assert(kt_wait_until(redis_clock_reached, &w, 5000), "Redis's clock never reached %lld",
              (long long)ms);
}

void kt_wait_delayed_due(redisContext *c, const char *key)
{
    redisReply *r = kt_cmd(c, "ZRANGE %s -1 -1 WITHSCORES", key);
    cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2, "%s is empty", key);
    int64_t due = (int64_t)strtod(r->element[1]->str, NULL);
    freeReplyObject(r);
    kt_wait_redis_clock(c, due);
}

struct log_wait { const char *path, *needle; int times; };

int kt_file_count(const char *path, const char *needle)
{
    char *t = kt_read_file(path);
    int n = 0;
    for (const char *p = t; p && (p = strstr(p, needle)); p += strlen(needle))
        n++;
    free(t);
    return n;
}

static int log_has_times(void *arg)
{
    struct log_wait *w = arg;
    return kt_file_count(w->path, w->needle) >= w->times;
}

int kt_wait_file_has(const char *path, const char *needle, int times, int timeout_ms)
{
    struct log_wait w = { path, needle, times };
    return kt_wait_until(log_has_times, &w, timeout_ms);
}

long long kt_int(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    cr_assert_not_null(r, "redis command failed: %s", c->errstr);
    long long v = 0;
    if (r->type == REDIS_REPLY_INTEGER) v = r->integer;
    else if (r->type == REDIS_REPLY_STRING) v = strtoll(r->str, NULL, 10);
    else if (r->type == REDIS_REPLY_NIL) v = 0;
    else cr_assert_fail("unexpected reply type %d (%s)", r->type,
                        r->type == REDIS_REPLY_ERROR ? r->str : "");
    freeReplyObject(r);
    return v;
}

char *kt_str(redisContext *c, char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    cr_assert_not_null(r, "redis command failed: %s", c->errstr);
    buf[0] = '\0';
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
        snprintf(buf, len, "%s", r->str);
        freeReplyObject(r);
        return buf;
    }
    freeReplyObject(r);
    return NULL;
}

pid_t kt_spawn_env(char *const argv[], char *const env[], const char *log_path)
{
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (log_path) {
            int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); close(fd); }
        }
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0) { dup2(nul, 0); close(nul); }
        for (int i = 0; env && env[i]; i++) putenv(env[i]);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    remember(pid);
    return pid;
}

pid_t kt_spawn(char *const argv[], const char *log_path)
{
    return kt_spawn_env(argv, NULL, log_path);
}

int kt_wait(pid_t pid, int timeout_ms, int *status)
{
    int64_t deadline = kt_now_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t p = waitpid(pid, &st, WNOHANG);
        if (p == pid) {
            forget(pid);
            if (status) *status = st;
            return 0;
        }
        if (p < 0 && errno == ECHILD) { forget(pid); if (status) *status = 0; return 0; }
        if (kt_now_ms() >= deadline) return -1;
        kt_sleep_ms(5);
    }
}

void kt_cleanup(void)
{
    for (int i = 0; i < nchildren; i++) {
        if (children[i] > 0) {
            kill(children[i], SIGKILL);
            /* Supervisors run their children in their own process group. */
            kill(-children[i], SIGKILL);
        }
    }
    for (int i = 0; i < nchildren; i++) {
        if (children[i] > 0) {
            waitpid(children[i], NULL, 0);
            children[i] = 0;
        }
    }
    nchildren = 0;
    for (int i = 0; i < nredises; i++) {
        if (redises[i]) {
            redises[i]->pid = 0;
            if (redises[i]->dir[0]) rm_rf(redises[i]->dir);
            redises[i]->dir[0] = '\0';
            redises[i] = NULL;
        }
    }
    nredises = 0;
    /* Logs of the processes live in the temporary directory: keep it for a
     * post-mortem with KUE_TEST_KEEP=1. */
    const char *keep = getenv("KUE_TEST_KEEP");
    if (tmpdir_made && !(keep && *keep == '1')) {
        rm_rf(tmpdir);
        tmpdir[0] = '\0';
        tmpdir_made = 0;
    }
}

int kt_wait_until(int (*fn)(void *), void *arg, int timeout_ms)
{
    int64_t deadline = kt_now_ms() + timeout_ms;
    int v;
    while (!(v = fn(arg)) && kt_now_ms() < deadline) kt_sleep_ms(10);
    return v;
}

void kt_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "open %s: %s", path, strerror(errno));
    fputs(text, f);
    cr_assert(fclose(f) == 0);
}

char *kt_read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) buf = realloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    fclose(f);
    return buf;
}

int kt_node_available(void)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/tests/node/node_modules/kue/package.json", kt_srcdir());
    if (access(p, R_OK) != 0) return 0;
    return system("node --version >/dev/null 2>&1") == 0;
}

int kt_node_run(const char *script, char *const args[], char **out, int timeout_ms)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/tests/node/%s", kt_srcdir(), script);
    char outpath[PATH_MAX];
    snprintf(outpath, sizeof outpath, "%s/node-%d-%lld.out", kt_tmpdir(), (int)getpid(),
             (long long)kt_now_ms());
    char *argv[64];
    int n = 0;
    argv[n++] = "node";
    argv[n++] = path;
    for (int i = 0; args && args[i] && n < 62; i++) argv[n++] = args[i];
    argv[n] = NULL;

    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(outpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) { dup2(fd, 1); close(fd); }
        execvp("node", argv);
        _exit(127);
    }
    remember(pid);
    int st = 0;
    if (kt_wait(pid, timeout_ms, &st) != 0) {
        kill(pid, SIGKILL);
        kt_wait(pid, 2000, &st);
        if (out) *out = kt_read_file(outpath);
        unlink(outpath);
        return -1;
    }
    if (out) *out = kt_read_file(outpath);
    unlink(outpath);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
