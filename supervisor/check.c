/*
 * check.c -- plugin checks that do not block the master's loop.
 *
 * A check is an exec'd "kue-worker --check" as [supervisor] user (see
 * sup_plugin_check_spawn).  It runs while the loop goes on: its stderr is
 * read by an ev_io, its exit is taken by the master's reaper
 * (sup_pcheck_reaped), a 12 s timer kills it, and when both the output and
 * the exit are in, its owner decides:
 *
 *   - the plugin watcher (a changed file): watch.c's sup_plugin_checked().
 *     A reload in between voids the result (the type is looked at again
 *     under the new configuration);
 *   - a pending HUP reload (one check per type of the new file):
 *     reload.c's sup_reload_checked().
 *
 * A check that is no longer wanted (its reload abandoned, a drain) is
 * killed at once; its pid is kept until the reaper takes it, so it is
 * reaped quietly and never left a zombie.  At exit every check left is
 * killed and waited for (sup_pcheck_shutdown).
 */
#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

enum pc_owner { PC_WATCH, PC_RELOAD };

struct pcheck {
    int used;
    enum pc_owner owner;
    struct master *m;
    pid_t pid;
    int fd;
    ev_io io;
    ev_timer timer;
    char out[1024];
    size_t got;
    int eof, reaped, status, timed_out;
    uint32_t gen;                 /* watcher: the generation it was started in */
    uint32_t seq;                 /* reload: which HUP */
    int ti;                       /* reload: the type's index in the new file */
    char type[KUE_SB_TYPE_LEN];
    char path[SUP_PATH_LEN];
    struct sup_fileid id;
};

/* one check per type for the watcher, one per type for a pending reload */
#define NCHECKS (2 * SUP_MAX_TYPES)
static struct pcheck checks[NCHECKS];

/* checks killed before their end, not reaped yet */
#define NKILLED (4 * SUP_MAX_TYPES)
static pid_t killed[NKILLED];
static int nkilled;

/* Stop watching check c: its pipe closed, its timer stopped. */
static void unwatch(struct pcheck *c)
{
    struct master *m = c->m;
    if (c->fd >= 0) {
        ev_io_stop(m->loop, &c->io);
        close(c->fd);
        c->fd = -1;
    }
    ev_timer_stop(m->loop, &c->timer);
}

static void finish(struct pcheck *c)
{
    struct master *m = c->m;
    unwatch(c);
    int ok = !c->timed_out && WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0;
    char err[1024] = "";
    if (!ok)
        sup_plugin_check_result(c->path, c->status, c->timed_out, c->out, c->got, err, sizeof(err));
    c->used = 0;
    if (c->owner == PC_RELOAD) {
        sup_reload_checked(m, c->seq, c->ti, ok, err);
        return;
    }
    int ti = -1;
    for (int i = 0; i < m->cfg->ntypes; i++)
        if (!strcmp(m->cfg->types[i].name, c->type))
            ti = i;
    if (ti < 0)
        return;
    if (c->gen != m->gen || strcmp(m->cfg->types[ti].handler, c->path)) {
        m->plugin_dirty[ti] = 1;   /* the configuration changed meanwhile */
        sup_check_plugins_changed(m);
        return;
    }
    sup_plugin_checked(m, ti, &c->id, ok, err);
}

static void maybe_finish(struct pcheck *c)
{
    if (c->used && c->eof && c->reaped)
        finish(c);
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct pcheck *c = w->data;
    (void)revents;
    for (;;) {
        char tmp[512];
        ssize_t r = read(c->fd, tmp, sizeof(tmp));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EAGAIN)
            return;
        if (r <= 0) {
            c->eof = 1;
            ev_io_stop(loop, w);
            break;
        }
        size_t room = sizeof(c->out) - 1 - c->got;
        size_t n = (size_t)r < room ? (size_t)r : room;
        memcpy(c->out + c->got, tmp, n);
        c->got += n;
        c->out[c->got] = '\0';
    }
    maybe_finish(c);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct pcheck *c = w->data;
    (void)loop;
    (void)revents;
    c->timed_out = 1;
    c->eof = 1;
    if (!c->reaped)
        kill(c->pid, SIGKILL);   /* reaped as usual */
    maybe_finish(c);
}

int sup_pcheck_busy(const struct master *m, const char *type)
{
    (void)m;
    for (int i = 0; i < NCHECKS; i++)
        if (checks[i].used && checks[i].owner == PC_WATCH && !strcmp(checks[i].type, type))
            return 1;
    return 0;
}

static struct pcheck *start(struct master *m, const struct sup_config *cfg, int ti,
                            char *err, size_t errlen)
{
    const struct sup_type *t = &cfg->types[ti];
    struct pcheck *c = NULL;
    for (int i = 0; i < NCHECKS && !c; i++)
        if (!checks[i].used)
            c = &checks[i];
    if (!c) {
        snprintf(err, errlen, "too many plugin checks at once");
        return NULL;
    }
    int fd;
    pid_t pid = sup_plugin_check_spawn(cfg, t->handler, t->name, &fd, err, errlen);
    if (pid < 0)
        return NULL;
    memset(c, 0, sizeof(*c));
    c->used = 1;
    c->m = m;
    c->pid = pid;
    c->fd = fd;
    c->ti = ti;
    kue_strlcpy(c->type, t->name, sizeof(c->type));
    kue_strlcpy(c->path, t->handler, sizeof(c->path));
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    ev_io_init(&c->io, io_cb, fd, EV_READ);
    c->io.data = c;
    ev_io_start(m->loop, &c->io);
    ev_timer_init(&c->timer, timer_cb, 12., 0.);
    c->timer.data = c;
    ev_timer_start(m->loop, &c->timer);
    klog_debug("checking plugin %s for type %s (pid %d)", t->handler, t->name, (int)pid);
    return c;
}

int sup_pcheck_start(struct master *m, int ti, const struct sup_fileid *id, char *err,
                     size_t errlen)
{
    struct pcheck *c = start(m, m->cfg, ti, err, errlen);
    if (!c)
        return -1;
    c->owner = PC_WATCH;
    c->gen = m->gen;
    c->id = *id;
    return 0;
}

int sup_pcheck_start_reload(struct master *m, const struct sup_config *nc, int ti, uint32_t seq,
                            char *err, size_t errlen)
{
    struct pcheck *c = start(m, nc, ti, err, errlen);
    if (!c)
        return -1;
    c->owner = PC_RELOAD;
    c->seq = seq;
    return 0;
}

/* Kill check c and forget it; its pid waits in killed[] for the reaper. */
static void cancel(struct pcheck *c)
{
    unwatch(c);
    if (!c->reaped) {
        kill(c->pid, SIGKILL);
        if (nkilled < NKILLED)
            killed[nkilled++] = c->pid;
        /* else: the reaper takes it as an orphan */
    }
    c->used = 0;
}

int sup_pcheck_cancel(struct master *m, int reload_only)
{
    (void)m;
    int n = 0;
    for (int i = 0; i < NCHECKS; i++) {
        struct pcheck *c = &checks[i];
        if (c->used && (!reload_only || c->owner == PC_RELOAD)) {
            cancel(c);
            n++;
        }
    }
    return n;
}

void sup_pcheck_shutdown(struct master *m)
{
    sup_pcheck_cancel(m, 0);
    int64_t deadline = kue_mono_ms() + 2000;
    while (nkilled > 0) {
        int status;
        pid_t w = waitpid(killed[nkilled - 1], &status, WNOHANG);
        if (w == 0 && kue_mono_ms() < deadline) {
            usleep(2000);
            continue;
        }
        if (w == 0)
            klog_warn("plugin check pid %d did not end after SIGKILL", (int)killed[nkilled - 1]);
        nkilled--;
    }
}

int sup_pcheck_reaped(struct master *m, pid_t pid, int status)
{
    (void)m;
    for (int i = 0; i < nkilled; i++)
        if (killed[i] == pid) {
            killed[i] = killed[--nkilled];
            return 1;
        }
    for (int i = 0; i < NCHECKS; i++) {
        struct pcheck *c = &checks[i];
        if (c->used && c->pid == pid && !c->reaped) {
            c->reaped = 1;
            c->status = status;
            maybe_finish(c);
            return 1;
        }
    }
    return 0;
}
