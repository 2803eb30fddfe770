/*
 * spawn.c -- starting children: fork, the child's fixed init order, exec.
 *
 * Every child is a fresh program (kue-worker, kue-web, redis-server) found
 * next to our own executable (or, for redis-server, in PATH), so nothing
 * of the master -- its loop, its Redis connection, its signal handlers --
 * leaks into a child beyond what is passed on purpose: the scoreboard
 * descriptor (workers) and stderr.  Between fork and exec the child runs
 * only async-signal-safe calls, in this order:
 *
 *   1. signal dispositions to default, signal mask empty
 *   2. own process group (workers: a hard kill reaches a handler's helpers)
 *   3. PR_SET_PDEATHSIG(SIGTERM), then exit if the master is already gone
 *   4. stdin from /dev/null, every other descriptor closed except stderr,
 *      stdout and (workers) the scoreboard
 *   5. drop privileges ([supervisor] user/group, when root)
 *   6. exec
 */
#include "master.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "log.h"
#include "slot.h"
#include "util.h"

int sup_find_siblings(struct master *m, char *err, size_t errlen)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
        snprintf(err, errlen, "readlink /proc/self/exe: %s", strerror(errno));
        return -1;
    }
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    kue_strlcpy(m->self_dir, self, sizeof(m->self_dir));
    snprintf(m->worker_bin, sizeof(m->worker_bin), "%s/kue-worker", m->self_dir);
    snprintf(m->web_bin, sizeof(m->web_bin), "%s/kue-web", m->self_dir);
    if (m->cfg->ntypes > 0 && access(m->worker_bin, X_OK) < 0) {
        snprintf(err, errlen, "%s: %s (kue-worker is expected next to kue-supervisor)",
                 m->worker_bin, strerror(errno));
        return -1;
    }
    if (m->cfg->web && access(m->web_bin, X_OK) < 0) {
        snprintf(err, errlen, "%s: %s (kue-web is expected next to kue-supervisor)", m->web_bin,
                 strerror(errno));
        return -1;
    }
    return 0;
}

static void child_fail(const char *what)
{
    /* async-signal-safe: write(2) only */
    char buf[256];
    size_t n = 0;
    const char *pre = "kue-supervisor child: ";
    for (const char *s = pre; *s && n < sizeof(buf) - 2; s++) buf[n++] = *s;
    for (const char *s = what; *s && n < sizeof(buf) - 2; s++) buf[n++] = *s;
    buf[n++] = '\n';
    if (write(STDERR_FILENO, buf, n) < 0) {}
    _exit(1);
}

static void close_fds_except(int keep)
{
    /* close_range would be simpler; /proc keeps older kernels working */
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        for (int fd = 3; fd < 1024; fd++)
            if (fd != keep)
                close(fd);
        return;
    }
    int dfd = dirfd(d);
    int fds[1024], n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 1024) {
        int fd = atoi(e->d_name);
        if (fd > 2 && fd != keep && fd != dfd)
            fds[n++] = fd;
    }
    closedir(d);
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

static void drop_privileges(const struct sup_config *cfg)
{
    if (geteuid() != 0 || !cfg->user[0])
        return;
    struct passwd *pw = getpwnam(cfg->user);
    if (!pw)
        child_fail("unknown user");
    gid_t gid = pw->pw_gid;
    if (cfg->group[0]) {
        struct group *gr = getgrnam(cfg->group);
        if (!gr)
            child_fail("unknown group");
        gid = gr->gr_gid;
    }
    if (initgroups(cfg->user, gid) < 0 || setgid(gid) < 0 || setuid(pw->pw_uid) < 0)
        child_fail("cannot drop privileges");
    if (setuid(0) == 0)
        child_fail("privileges still held after setuid");
}

/* Fork and run the fixed init; in the child execv(path, argv) never
 * returns.  Returns the pid in the parent, -1 on fork failure. */
static pid_t spawn(struct master *m, const char *path, char *const argv[], int keep_fd,
                   int own_pgrp, int drop, int sbslot)
{
    pid_t parent = m->mypid;
    pid_t pid = fork();
    if (pid != 0)
        return pid;

    /* 1 */
    sigset_t all;
    sigemptyset(&all);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        sigaction(s, &sa, NULL);   /* fails harmlessly for KILL/STOP/RT gaps */
    sigprocmask(SIG_SETMASK, &all, NULL);
    /* 2 */
    if (own_pgrp)
        setpgid(0, 0);
    /* 3 */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
        child_fail("PR_SET_PDEATHSIG failed");
    if (getppid() != parent)
        _exit(1);
    /* 4 */
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0 && nul != STDIN_FILENO) {
        dup2(nul, STDIN_FILENO);
        close(nul);
    }
    close_fds_except(keep_fd);
    if (keep_fd >= 0) {
        int fl = fcntl(keep_fd, F_GETFD);
        if (fl >= 0)
            fcntl(keep_fd, F_SETFD, fl & ~FD_CLOEXEC);
    }
    if (sbslot >= 0 && m->sb.slots) {
        /* the slot is ours now: the master wrote it before forking */
        struct kue_sb_slot *s = &m->sb.slots[sbslot];
        kue_sb_write_begin(s);
        s->pid = (int32_t)getpid();
        kue_sb_write_end(s);
    }
    /* 5 */
    if (drop)
        drop_privileges(m->cfg);
    /* 6 */
    execv(path, argv);
    child_fail("exec failed");
    return -1;
}

int sup_spawn_worker(struct master *m, int idx, const struct sup_type *t)
{
    struct sup_proc *p = &m->tab.p[idx];
    const struct sup_config *c = m->cfg;
    char title[160], name[128], conc[16], slot[16], tmo[24], lease[24];
    snprintf(name, sizeof(name), "%s#%d", t->name, p->k);
    snprintf(title, sizeof(title), "kue-supervisor: worker %s", name);
    snprintf(conc, sizeof(conc), "%lld", t->concurrency);
    snprintf(slot, sizeof(slot), "%d", idx);
    snprintf(tmo, sizeof(tmo), "%lld", (long long)t->timeout_ms);
    snprintf(lease, sizeof(lease), "%lld", (long long)c->lease_ms);
    char *argv[] = {
        title, "--redis", m->url_text, "--prefix", (char *)c->prefix, "--type", (char *)t->name,
        "--plugin", (char *)t->handler, "--concurrency", conc, "--slot", slot,
        "--timeout", tmo, "--lease", lease, "--log-format", (char *)c->log_format,
        "--log-level", (char *)c->log_level, "--name", name, NULL
    };

    /* scoreboard ownership, before the child runs */
    struct kue_sb_slot *s = &m->sb.slots[idx];
    kue_sb_write_begin(s);
    uint32_t seq = s->seq;
    memset((char *)s + sizeof(s->seq), 0, sizeof(*s) - sizeof(s->seq));
    s->seq = seq;
    s->state = KUE_SB_STARTING;
    s->generation = p->gen;
    kue_strlcpy(s->type, t->name, sizeof(s->type));
    s->started_ms = kue_now_ms();
    s->concurrency = (uint32_t)t->concurrency;
    s->restarts = p->restarts;
    kue_sb_write_end(s);

    char env[32];
    snprintf(env, sizeof(env), "%d", m->sb.fd);
    setenv("KUE_SCOREBOARD_FD", env, 1);
    pid_t pid = spawn(m, m->worker_bin, argv, m->sb.fd, 1, 1, idx);
    if (pid < 0) {
        klog_error("fork for worker %s: %s", name, strerror(errno));
        return -1;
    }
    sup_slot_event(p, SE_START, &(struct sup_ev){ .now = kue_mono_ms(), .pid = pid });
    kue_sb_write_begin(s);
    s->pid = pid;
    kue_sb_write_end(s);
    klog_info("started worker %s (pid %d)", name, (int)pid);
    return 0;
}

int sup_spawn_web(struct master *m, int idx)
{
    struct sup_proc *p = &m->tab.p[idx];
    const struct sup_config *c = m->cfg;
    char *argv[24];
    int n = 0;
    argv[n++] = "kue-supervisor: web";
    argv[n++] = "--redis";
    argv[n++] = m->url_text;
    argv[n++] = "--prefix";
    argv[n++] = (char *)c->prefix;
    argv[n++] = "--listen";
    argv[n++] = (char *)c->web_listen;
    argv[n++] = "--title";
    argv[n++] = (char *)c->web_title;
    if (c->web_auth[0]) {
        argv[n++] = "--auth";
        argv[n++] = (char *)c->web_auth;
    }
    if (c->web_tls_cert[0]) {
        argv[n++] = "--tls-cert";
        argv[n++] = (char *)c->web_tls_cert;
        argv[n++] = "--tls-key";
        argv[n++] = (char *)c->web_tls_key;
    }
    argv[n++] = "--search";
    argv[n++] = c->search ? "yes" : "no";
    argv[n] = NULL;
    char env[32];
    snprintf(env, sizeof(env), "%d", m->sb.fd);
    setenv("KUE_SCOREBOARD_FD", env, 1);
    pid_t pid = spawn(m, m->web_bin, argv, m->sb.fd, 1, 1, -1);
    if (pid < 0) {
        klog_error("fork for web: %s", strerror(errno));
        return -1;
    }
    sup_slot_event(p, SE_START, &(struct sup_ev){ .now = kue_mono_ms(), .pid = pid });
    klog_info("started web on %s (pid %d)", c->web_listen, (int)pid);
    return 0;
}

int sup_spawn_redis(struct master *m, int idx)
{
    struct sup_proc *p = &m->tab.p[idx];
    const struct sup_config *c = m->cfg;
    char data[PATH_MAX + 8], logf[PATH_MAX + 16];
    snprintf(data, sizeof(data), "%s/data", c->run_dir);
    snprintf(logf, sizeof(logf), "%s/redis.log", c->run_dir);
    if (mkdir(data, 0700) < 0 && errno != EEXIST) {
        klog_error("mkdir %s: %s", data, strerror(errno));
        return -1;
    }
    char *argv[] = {
        (char *)c->redis_server, "--port", "0", "--unixsocket", m->redis_sock,
        "--unixsocketperm", "700", "--dir", data, "--appendonly", "yes", "--save", "",
        "--daemonize", "no", "--logfile", logf, "--loglevel", "notice", NULL
    };
    pid_t pid = spawn(m, c->redis_server, argv, -1, 1, 0, -1);
    if (pid < 0) {
        klog_error("fork for redis-server: %s", strerror(errno));
        return -1;
    }
    sup_slot_event(p, SE_START, &(struct sup_ev){ .now = kue_mono_ms(), .pid = pid });
    klog_info("started embedded redis-server (pid %d) on %s", (int)pid, m->redis_sock);
    return 0;
}

/* Start the embedded redis-server and wait (blocking: nothing else runs
 * yet) until it answers PING, at most 10 s. */
int sup_redis_start_wait(struct master *m, char *err, size_t errlen)
{
    int idx = sup_table_alloc(&m->tab);
    if (idx < 0) {
        snprintf(err, errlen, "process table full");
        return -1;
    }
    m->tab.p[idx].kind = SK_REDIS;
    sup_slot_event(&m->tab.p[idx], SE_WANT, &(struct sup_ev){ .at = 0 });
    m->redis_idx = idx;
    if (snprintf(m->redis_sock, sizeof(m->redis_sock), "%s/redis.sock", m->cfg->run_dir) >= 100) {
        snprintf(err, errlen, "[supervisor] run_dir: %s is too long for a unix socket path",
                 m->cfg->run_dir);
        return -1;
    }
    snprintf(m->url_text, sizeof(m->url_text), "unix://%s", m->redis_sock);
    if (sup_spawn_redis(m, idx) < 0) {
        snprintf(err, errlen, "cannot start redis-server");
        return -1;
    }
    int64_t deadline = kue_mono_ms() + 10000;
    while (kue_mono_ms() < deadline) {
        int status;
        pid_t w = waitpid(m->tab.p[idx].pid, &status, WNOHANG);
        if (w == m->tab.p[idx].pid) {
            char st[64];
            sup_status_text(status, st, sizeof(st));
            sup_slot_event(&m->tab.p[idx], SE_EXIT, NULL);
            snprintf(err, errlen, "embedded redis-server %s (see %s/redis.log)", st, m->cfg->run_dir);
            return -1;
        }
        struct timeval tv = { 0, 200000 };
        redisContext *c = redisConnectUnixWithTimeout(m->redis_sock, tv);
        if (c && !c->err) {
            redisReply *r = redisCommand(c, "PING");
            int ok = r && r->type == REDIS_REPLY_STATUS;
            if (r)
                freeReplyObject(r);
            redisFree(c);
            if (ok) {
                klog_info("embedded redis-server ready");
                return 0;
            }
        } else if (c) {
            redisFree(c);
        }
        usleep(20000);
    }
    snprintf(err, errlen, "embedded redis-server did not answer PING within 10 s");
    return -1;
}
