/*
 * master.c -- the master loop.
 *
 * One libev loop (ev_loop_new: the master reaps its children itself, with
 * waitpid(-1, WNOHANG) in a loop, so orphans are reaped too when it is
 * PID 1 or a subreaper).  Signal watchers only record; the work happens in
 * their callbacks on the loop and in a 100 ms tick (tick_cb), which reaps,
 * brings every type to its process count (sup_table_reconcile), starts the
 * WAITING entries whose backoff has passed, checks each worker's
 * scoreboard slot, escalates stops to SIGKILL and, during a drain, walks
 * the shutdown.  Each process slot changes state only through its state
 * machine (slot.h); supervise.c holds the per-slot work, drain.c the
 * shutdown, reload.c the HUP.
 */
#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kue/kue.h>

#include "log.h"
#include "slot.h"
#include "util.h"

struct master *sup_master;

static unsigned rnd(void)
{
    return (unsigned)random();
}

const char *sup_proc_name(const struct sup_proc *p, char *buf, size_t len)
{
    if (p->kind == SK_WEB)
        snprintf(buf, len, "web");
    else if (p->kind == SK_REDIS)
        snprintf(buf, len, "redis-server");
    else
        snprintf(buf, len, "worker %s#%d", p->type, p->k);
    return buf;
}

int sup_type_index(const struct master *m, const char *name)
{
    for (int i = 0; i < m->cfg->ntypes; i++)
        if (!strcmp(m->cfg->types[i].name, name))
            return i;
    return -1;
}

/* Send sig to a process (workers: to their whole process group). */
void sup_signal_proc(const struct sup_proc *p, int sig)
{
    if (p->pid <= 0)
        return;
    if (p->kind == SK_WORKER && sig == SIGKILL)
        kill(-p->pid, sig);
    kill(p->pid, sig);
}

void sup_stop_proc(struct master *m, int idx, int sig, const char *why)
{
    struct sup_proc *p = &m->tab.p[idx];
    char name[128];
    if (p->state == SS_WAITING) {
        sup_slot_event(p, SE_CANCEL, NULL);
        return;
    }
    int was_running = p->state == SS_RUNNING;
    int64_t grace = p->kind == SK_WORKER ? m->cfg->shutdown_timeout_ms : 5000;
    if (p->kind == SK_REDIS)
        grace = 10000;
    struct sup_ev ev = { .now = kue_mono_ms(), .grace = grace };
    if (sup_slot_event(p, sig == SIGKILL ? SE_KILL : SE_TERM, &ev) != SUP_STEP_DONE)
        return;   /* not running, or already asked */
    if (was_running)
        klog_info("stopping %s (pid %d): %s", sup_proc_name(p, name, sizeof(name)), (int)p->pid, why);
    sup_signal_proc(p, sig);
}

static void ops_stop(void *ud, int i, const char *why)
{
    sup_stop_proc(ud, i, SIGTERM, why);
}

static int ops_ready(void *ud, int i)
{
    struct master *m = ud;
    struct kue_sb_slot s;
    if (kue_sb_read_slot(&m->sb, (uint32_t)i, &s) < 0)
        return 0;
    if (s.state == KUE_SB_READY || s.state == KUE_SB_QUIET)
        return 1;
    /* a worker that never reports still counts after a while, so that a
     * roll cannot stall forever on it */
    return kue_mono_ms() - m->tab.p[i].started > 30000;
}

/* ---- the tick ------------------------------------------------------------ */

/* Bring every type to its process count; stop the types no longer
 * configured. */
static void reconcile_all(struct master *m, int64_t now)
{
    struct sup_ops ops = { ops_ready, ops_stop, m };
    for (int i = 0; i < m->cfg->ntypes; i++) {
        const struct sup_type *t = &m->cfg->types[i];
        sup_table_reconcile(&m->tab, t->name, m->want[i], m->gen, (uint64_t)t->max_jobs,
                            (int)t->max_jobs_jitter, now, &ops, rnd);
    }
    for (int i = 0; i < SUP_TABLE_SIZE; i++) {
        struct sup_proc *p = &m->tab.p[i];
        if (p->kind == SK_WORKER && p->state != SS_FREE && sup_type_index(m, p->type) < 0)
            sup_table_reconcile(&m->tab, p->type, 0, m->gen, 0, 0, now, &ops, rnd);
    }
}

static void check_workers(struct master *m, int64_t now, int64_t wall)
{
    int check_rss = now - m->last_rss_check >= 1000;
    if (check_rss)
        m->last_rss_check = now;
    for (int i = 0; i < SUP_TABLE_SIZE; i++) {
        struct sup_proc *p = &m->tab.p[i];
        if (p->kind == SK_WORKER && (p->state == SS_RUNNING || p->state == SS_STOPPING))
            sup_check_worker(m, i, wall, check_rss);
    }
}

/* One summary line a minute, never one per job. */
static void summary(struct master *m, int64_t now)
{
    if (!m->last_summary)
        m->last_summary = now;
    if (now - m->last_summary < 60000 || !m->sb.hdr)
        return;
    uint64_t pr = m->sb.hdr->promoted_total, rc = m->sb.hdr->recovered_total;
    if (pr != m->last_promoted || rc != m->last_recovered)
        klog_info("last minute: promoted %llu delayed job(s), settled/recovered %llu",
                  (unsigned long long)(pr - m->last_promoted),
                  (unsigned long long)(rc - m->last_recovered));
    m->last_promoted = pr;
    m->last_recovered = rc;
    m->last_summary = now;
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct master *m = w->data;
    (void)loop;
    (void)revents;
    int64_t now = kue_mono_ms();
    int64_t wall = kue_now_ms();
    if (m->sb.hdr)
        m->sb.hdr->master_heartbeat_ms = wall;

    sup_reap(m);                    /* in case a SIGCHLD was coalesced away */
    if (!m->draining)
        reconcile_all(m, now);
    sup_spawn_waiting(m, now);      /* draining: only the embedded redis-server */
    check_workers(m, now, wall);
    sup_escalate(m, now);
    if (m->draining)
        sup_drain_step(m, now);
    summary(m, now);
}

/* ---- signals --------------------------------------------------------------- */

static void ttin(struct master *m, int delta)
{
    int total = 0;
    for (int i = 0; i < m->cfg->ntypes; i++)
        total += m->want[i];
    for (int i = 0; i < m->cfg->ntypes; i++) {
        if (delta > 0 && total + 1 > SUP_MAX_PROCESSES)
            break;
        if (m->want[i] + delta < 0)
            continue;
        m->want[i] += delta;
        total += delta;
    }
    char buf[512] = "";
    size_t off = 0;
    for (int i = 0; i < m->cfg->ntypes && off < sizeof(buf); i++)
        off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s=%d", i ? ", " : "",
                                m->cfg->types[i].name, m->want[i]);
    klog_info("%s: processes now %s", delta > 0 ? "SIGTTIN" : "SIGTTOU", buf);
}

static void forward(struct master *m, int sig)
{
    for (int i = 0; i < SUP_TABLE_SIZE; i++) {
        struct sup_proc *p = &m->tab.p[i];
        if (p->kind != SK_WORKER || p->state != SS_RUNNING)
            continue;
        /* only to workers that installed their handlers (reported
         * state): a TSTP before that would stop the process; new ones
         * read the quiet flag from the scoreboard header */
        struct kue_sb_slot s;
        if (kue_sb_read_slot(&m->sb, (uint32_t)i, &s) == 0 && s.pid == p->pid &&
            s.state != KUE_SB_STARTING && s.state != KUE_SB_FREE)
            kill(p->pid, sig);
    }
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct master *m = w->data;
    (void)loop;
    (void)revents;
    switch (w->signum) {
    case SIGCHLD:
        sup_reap(m);
        if (m->draining)
            sup_drain_step(m, kue_mono_ms());
        break;
    case SIGTERM:
        sup_start_drain(m, m->draining, "SIGTERM");
        break;
    case SIGINT:
        sup_start_drain(m, m->draining, "SIGINT");
        break;
    case SIGQUIT:
        sup_start_drain(m, 1, "SIGQUIT");
        break;
    case SIGHUP:
        if (!m->draining)
            sup_reload_start(m);   /* reload.c: checks run beside the loop */
        break;
    case SIGUSR1:
        klog_info("SIGUSR1: reopening the log file");
        if (m->cfg->log_file[0])
            klog_reopen(m->cfg->log_file);
        break;
    case SIGTSTP:
        if (!m->quiet) {
            klog_info("SIGTSTP: quiet (workers stop taking jobs)");
            m->quiet = 1;
            if (m->sb.hdr)
                m->sb.hdr->quiet = 1;
            forward(m, SIGTSTP);
        }
        break;
    case SIGCONT:
        if (m->quiet) {
            klog_info("SIGCONT: resuming");
            m->quiet = 0;
            if (m->sb.hdr)
                m->sb.hdr->quiet = 0;
            forward(m, SIGCONT);
        }
        break;
    case SIGTTIN:
        if (!m->draining)
            ttin(m, 1);
        break;
    case SIGTTOU:
        if (!m->draining)
            ttin(m, -1);
        break;
    }
}

/* ---- set-up ------------------------------------------------------------------ */

static int pidfile_open(struct master *m, char *err, size_t errlen)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/kue-supervisor.pid", m->cfg->run_dir);
    int fd = sup_rundir_openat(m->run_fd, "kue-supervisor.pid", O_RDWR | O_CREAT, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s%s", path, strerror(errno),
                 errno == ELOOP || errno == EPERM
                     ? " (a symlink, a hard link or a file of another user: refused)" : "");
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        char buf[32] = "";
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        buf[n > 0 ? n : 0] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        snprintf(err, errlen, "another kue-supervisor (pid %s) runs with run_dir %s", buf,
                 m->cfg->run_dir);
        close(fd);
        return -1;
    }
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    m->pidfile_fd = fd;
    return 0;
}

static const int handled_signals[] = {
    SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGTSTP, SIGCONT, SIGTTIN, SIGTTOU
};

int sup_master_run(struct sup_config *cfg);
int sup_master_run(struct sup_config *cfg)
{
    char err[PATH_MAX * 2 + 256];
    struct master *m = calloc(1, sizeof(*m));
    if (!m) {
        fprintf(stderr, "kue-supervisor: out of memory\n");
        return SUP_EXIT_FAIL;
    }
    sup_master = m;
    m->cfg = cfg;
    m->gen = 1;
    m->web_idx = m->redis_idx = -1;
    m->inotify_fd = -1;
    m->pidfile_fd = -1;
    m->run_fd = -1;
    m->mypid = getpid();
    m->exit_code = SUP_EXIT_OK;
    srandom((unsigned)(kue_now_ms() ^ m->mypid));
    if (gethostname(m->hostname, sizeof(m->hostname) - 1) < 0)
        kue_strlcpy(m->hostname, "localhost", sizeof(m->hostname));

    klog_init("master", klog_level_parse(cfg->log_level), !strcmp(cfg->log_format, "json"));
    if (cfg->log_file[0])
        klog_reopen(cfg->log_file);
    if (cfg->user[0] && geteuid() != 0)
        klog_warn("[supervisor] user = %s ignored: not started as root", cfg->user);

    if (sup_find_siblings(m, err, sizeof(err)) < 0)
        goto fail;
    if ((m->run_fd = sup_rundir_open(cfg->run_dir, err, sizeof(err))) < 0)
        goto fail;
    if (pidfile_open(m, err, sizeof(err)) < 0)
        goto fail;
    /* a web address that cannot be bound is fatal at start, named */
    if (cfg->web && sup_check_bind(cfg->web_listen, err, sizeof(err)) < 0) {
        m->exit_code = SUP_EXIT_CONFIG;
        goto fail;
    }
    /* orphans of our children are re-parented to us, and reaped */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        klog_warn("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
    signal(SIGPIPE, SIG_IGN);
    if (kue_sb_create(&m->sb, KUE_SB_MAX_SLOTS) < 0) {
        snprintf(err, sizeof(err), "scoreboard: %s", strerror(errno));
        goto fail;
    }
    fcntl(m->sb.fd, F_SETFD, FD_CLOEXEC);   /* children get it on purpose only */
    m->sb.hdr->started_ms = kue_now_ms();

    m->loop = ev_loop_new(EVFLAG_AUTO);
    if (!m->loop) {
        snprintf(err, sizeof(err), "cannot create the event loop");
        goto fail;
    }
    for (size_t i = 0; i < sizeof(handled_signals) / sizeof(handled_signals[0]); i++) {
        ev_signal_init(&m->sig[i], signal_cb, handled_signals[i]);
        m->sig[i].data = m;
        ev_signal_start(m->loop, &m->sig[i]);
    }
    m->nsig = (int)(sizeof(handled_signals) / sizeof(handled_signals[0]));

    if (cfg->embedded) {
        if (sup_redis_start_wait(m, err, sizeof(err)) < 0)
            goto fail;
    } else {
        kue_strlcpy(m->url_text, cfg->redis_url, sizeof(m->url_text));
    }
    if (sup_rds_start(m, err, sizeof(err)) < 0)
        goto fail;

    for (int i = 0; i < cfg->ntypes; i++) {
        m->want[i] = (int)cfg->types[i].processes;
        sup_fileid_get(cfg->types[i].handler, &m->hid[i]);
    }
    if (cfg->web) {
        int i = sup_table_alloc(&m->tab);
        m->tab.p[i].kind = SK_WEB;
        sup_slot_event(&m->tab.p[i], SE_WANT, &(struct sup_ev){ .at = 0 });
        m->web_idx = i;
    }
    if (cfg->ntypes)
        sup_watch_start(m);

    char url[600], prefixes[SUP_MAX_QUEUES * 64];
    kue_url_format(&m->url, url, sizeof(url));
    if (sup_config_prefix_list(cfg, prefixes, sizeof(prefixes)) < 0)
        kue_strlcpy(prefixes, cfg->prefix, sizeof(prefixes));
    klog_info("kue-supervisor %s starting: %d type(s), Redis %s, prefix %s, pid %d", KUE_VERSION,
              cfg->ntypes, cfg->embedded ? "embedded" : url, prefixes, (int)m->mypid);

    ev_timer_init(&m->tick, tick_cb, 0., 0.1);
    m->tick.data = m;
    ev_timer_start(m->loop, &m->tick);
    ev_run(m->loop, 0);

    int code = m->exit_code;
    sup_reload_abandon(m, "exit");
    sup_pcheck_shutdown(m);   /* no plugin check outlives the master */
    sup_rds_stop(m);
    sup_queues_free(m);
    sup_watch_stop(m);
    if (m->pidfile_fd >= 0) {
        unlinkat(m->run_fd, "kue-supervisor.pid", 0);
        close(m->pidfile_fd);
    }
    return code;

fail:
    if (m->redis_idx >= 0 && m->tab.p[m->redis_idx].pid > 0) {
        kill(m->tab.p[m->redis_idx].pid, SIGTERM);
        waitpid(m->tab.p[m->redis_idx].pid, NULL, 0);
    }
    klog_error("%s", err);
    return m->exit_code ? m->exit_code : SUP_EXIT_FAIL;
}
