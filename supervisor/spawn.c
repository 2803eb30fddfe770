/*
 * spawn.c -- starting children: fork, the child's fixed init order, exec.
 *
 * Every child is a fresh program (kue-worker, kue-web, redis-server) found
 * next to our own executable (or, for redis-server, in PATH), so nothing
 * of the master -- its loop, its Redis connection, its signal handlers --
 * leaks into a child beyond what is passed on purpose: the scoreboard
 * descriptor, the settings descriptor and stderr.
 *
 * Settings (the Redis URL with its password, the web credentials, log
 * format and level, lease ...) go through a sealed memfd
 * (common/settings.h), never through argv: a child's command line is only
 * "TITLE --settings-fd N", and its environment is the master's minus the
 * variables that may carry secrets (KUE_REDIS_URL, KUE_WEB_AUTH).
 * Between fork and exec the child runs only async-signal-safe calls, in
 * this order:
 *
 *   1. signal dispositions to default, signal mask empty
 *   2. own process group (workers: a hard kill reaches a handler's helpers)
 *   3. stdin from /dev/null, every other descriptor closed except stderr,
 *      stdout, the scoreboard and the settings
 *   4. drop privileges ([supervisor] user/group, when root)
 *   5. PR_SET_PDEATHSIG(SIGTERM), then exit if the master is already gone
 *      (after 4: the kernel clears it when the credentials change)
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
#include "settings.h"
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

static void close_fds_except(int keep, int keep2)
{
    /* close_range would be simpler; /proc keeps older kernels working */
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        for (int fd = 3; fd < 1024; fd++)
            if (fd != keep && fd != keep2)
                close(fd);
        return;
    }
    int dfd = dirfd(d);
    int fds[1024], n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 1024) {
        int fd = atoi(e->d_name);
        if (fd > 2 && fd != keep && fd != keep2 && fd != dfd)
            fds[n++] = fd;
    }
    closedir(d);
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

static void keep_open(int fd)
{
    if (fd < 0)
        return;
    int fl = fcntl(fd, F_GETFD);
    if (fl >= 0)
        fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
}

/* Fork and run the fixed init; in the child execve(path, argv, env) never
 * returns.  Returns the pid in the parent, -1 on fork failure. */
static pid_t spawn(struct master *m, const char *path, char *const argv[], int keep_fd,
                   int settings_fd, int own_pgrp, int drop, int sbslot)
{
    char *env[SUP_CHILD_ENV_MAX];
    char sbvar[48];
    snprintf(sbvar, sizeof(sbvar), "KUE_SCOREBOARD_FD=%d", keep_fd);
    sup_child_env(env, keep_fd >= 0 ? sbvar : NULL);
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
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0 && nul != STDIN_FILENO) {
        dup2(nul, STDIN_FILENO);
        close(nul);
    }
    close_fds_except(keep_fd, settings_fd);
    keep_open(keep_fd);
    keep_open(settings_fd);
    if (sbslot >= 0 && m->sb.slots) {
        /* the slot is ours now: the master wrote it before forking */
        struct kue_sb_slot *s = &m->sb.slots[sbslot];
        kue_sb_write_begin(s);
        s->pid = (int32_t)getpid();
        kue_sb_write_end(s);
    }
    /* 4 */
    if (drop) {
        const char *why = sup_drop_privileges(m->cfg);
        if (why)
            child_fail(why);
    }
    /* 5 */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
        child_fail("PR_SET_PDEATHSIG failed");
    if (getppid() != parent)
        _exit(1);
    /* 6 */
    execve(path, argv, env);
    child_fail("exec failed");
    return -1;
}

/* A PEM file, whole (at most 32 KiB); NULL with why. */
static char *read_pem(const char *path, char *why, size_t wl)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(why, wl, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 32 * 1024, len = 0;
    char *buf = malloc(cap + 1);
    while (buf && len < cap) {
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    if (!buf || len == 0 || len == cap || memchr(buf, '\0', len)) {
        snprintf(why, wl, "%s: %s", path, !buf ? "out of memory" : len == cap ? "larger than 32 KiB"
                                                                             : "empty or not PEM text");
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

/* The settings memfd for a child (see settings.h); -1 after logging. */
static int settings_fd(const char *who, const char *const *opts, int n)
{
    int fd = kue_settings_create(opts, n);
    if (fd < 0)
        klog_error("settings for %s: %s", who, strerror(errno));
    return fd;
}

int sup_spawn_worker(struct master *m, int idx, const struct sup_type *t)
{
    struct sup_proc *p = &m->tab.p[idx];
    const struct sup_config *c = m->cfg;
    char title[160], name[128], conc[16], slot[16], tmo[24], lease[24], rate[48], gconc[24];
    char waitn[24], waitms[24];
    snprintf(waitn, sizeof(waitn), "%lld", c->wait_replicas);
    snprintf(waitms, sizeof(waitms), "%lldms", (long long)c->wait_timeout_ms);
    snprintf(name, sizeof(name), "%s#%d", t->name, p->k);
    snprintf(title, sizeof(title), "kue-supervisor: worker %s", name);
    snprintf(conc, sizeof(conc), "%lld", t->concurrency);
    snprintf(slot, sizeof(slot), "%d", idx);
    snprintf(tmo, sizeof(tmo), "%lld", (long long)t->timeout_ms);
    snprintf(lease, sizeof(lease), "%lld", (long long)c->lease_ms);
    if (t->rate.n > 0)
        snprintf(rate, sizeof(rate), "%lld/%lldms", t->rate.n, (long long)t->rate.period_ms);
    else
        snprintf(rate, sizeof(rate), "0");
    snprintf(gconc, sizeof(gconc), "%lld", t->group_concurrency);
    const char *opts[] = {
        "--redis", m->url_text, "--prefix", t->prefix, "--key-style", c->key_style, "--type", t->name,
        "--plugin", t->handler, "--concurrency", conc, "--slot", slot,
        "--timeout", tmo, "--lease", lease, "--log-format", c->log_format,
        "--log-level", c->log_level, "--name", name, "--rate", rate,
        "--group-concurrency", gconc, "--wait-replicas", waitn, "--wait-timeout", waitms
    };
    int sfd = settings_fd(name, opts, (int)(sizeof(opts) / sizeof(opts[0])));
    if (sfd < 0)
        return -1;
    char sfdtext[16];
    snprintf(sfdtext, sizeof(sfdtext), "%d", sfd);
    char *argv[] = { title, "--settings-fd", sfdtext, NULL };

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

    struct sup_queue *q = sup_queue_get(m, t->keys_prefix, t->prefix);
    p->queue = q ? q->idx : 0;
    pid_t pid = spawn(m, m->worker_bin, argv, m->sb.fd, sfd, 1, 1, idx);
    close(sfd);
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
    const char *opts[48];
    int n = 0;
    opts[n++] = "--redis";
    opts[n++] = m->url_text;
    /* every prefix in use, [redis] prefix first */
    char prefixes[SUP_MAX_QUEUES * 64];
    if (sup_config_prefix_list(c, prefixes, sizeof(prefixes)) < 0)
        kue_strlcpy(prefixes, c->prefix, sizeof(prefixes));
    opts[n++] = "--prefix";
    opts[n++] = prefixes;
    opts[n++] = "--key-style";
    opts[n++] = c->key_style;
    char waitn[24], waitms[24];
    snprintf(waitn, sizeof(waitn), "%lld", c->wait_replicas);
    snprintf(waitms, sizeof(waitms), "%lldms", (long long)c->wait_timeout_ms);
    opts[n++] = "--wait-replicas";
    opts[n++] = waitn;
    opts[n++] = "--wait-timeout";
    opts[n++] = waitms;
    opts[n++] = "--listen";
    opts[n++] = c->web_listen;
    opts[n++] = "--title";
    opts[n++] = c->web_title;
    if (c->web_auth[0]) {
        opts[n++] = "--auth";
        opts[n++] = c->web_auth;
    }
    /* the key is read here, with the master's privileges, and handed
     * over with the rest: web (as [supervisor] user) needs no access */
    char *cert = NULL, *key = NULL;
    if (c->web_tls_cert[0]) {
        char why[256];
        if (!(cert = read_pem(c->web_tls_cert, why, sizeof(why))) ||
            !(key = read_pem(c->web_tls_key, why, sizeof(why)))) {
            klog_error("web: %s", why);
            free(cert);
            return -1;
        }
        opts[n++] = "--tls-cert-pem";
        opts[n++] = cert;
        opts[n++] = "--tls-key-pem";
        opts[n++] = key;
    }
    opts[n++] = "--search";
    opts[n++] = c->search ? "yes" : "no";
    opts[n++] = "--log-format";
    opts[n++] = c->log_format;
    opts[n++] = "--log-level";
    opts[n++] = c->log_level;
    char maxc[24], maxpc[24], maxs[24], evb[24];
    snprintf(maxc, sizeof(maxc), "%lld", c->web_max_connections);
    snprintf(maxpc, sizeof(maxpc), "%lld", c->web_max_per_client);
    snprintf(maxs, sizeof(maxs), "%lld", c->web_max_streams);
    snprintf(evb, sizeof(evb), "%llu", (unsigned long long)c->web_events_buffer);
    opts[n++] = "--max-connections";
    opts[n++] = maxc;
    opts[n++] = "--max-per-client";
    opts[n++] = maxpc;
    opts[n++] = "--max-streams";
    opts[n++] = maxs;
    opts[n++] = "--events-buffer";
    opts[n++] = evb;
    if (c->web_allowed_hosts[0]) {
        opts[n++] = "--allowed-hosts";
        opts[n++] = c->web_allowed_hosts;
    }
    int sfd = settings_fd("web", opts, n);
    if (key) {
        memset(key, 0, strlen(key));
        free(key);
    }
    free(cert);
    if (sfd < 0)
        return -1;
    char sfdtext[16];
    snprintf(sfdtext, sizeof(sfdtext), "%d", sfd);
    char *argv[] = { "kue-supervisor: web", "--settings-fd", sfdtext, NULL };
    pid_t pid = spawn(m, m->web_bin, argv, m->sb.fd, sfd, 1, 1, -1);
    close(sfd);
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
    if (mkdirat(m->run_fd, "data", 0700) < 0 && errno != EEXIST) {
        klog_error("mkdir %s: %s", data, strerror(errno));
        return -1;
    }
    /* redis-server opens these by name: nothing in run_dir may point
     * elsewhere (run_dir itself is ours and closed to others) */
    struct stat st;
    if (fstatat(m->run_fd, "data", &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode) ||
        st.st_uid != geteuid()) {
        klog_error("%s: not a directory of ours (a symlink?): refused", data);
        return -1;
    }
    if (fstatat(m->run_fd, "redis.log", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        (!S_ISREG(st.st_mode) || st.st_nlink != 1)) {
        klog_error("%s: not a regular file (a symlink or a hard link?): refused", logf);
        return -1;
    }
    char *argv[] = {
        (char *)c->redis_server, "--port", "0", "--unixsocket", m->redis_sock,
        "--unixsocketperm", "700", "--dir", data, "--appendonly", "yes", "--save", "",
        "--daemonize", "no", "--logfile", logf, "--loglevel", "notice", NULL
    };
    pid_t pid = spawn(m, c->redis_server, argv, -1, -1, 1, 0, -1);
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
