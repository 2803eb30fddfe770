/*
 * check.c -- plugin checks that do not block the master's loop.
 *
 * When the watcher sees a changed plugin file, the check (an exec'd
 * "kue-worker --check" as [supervisor] user, see sup_plugin_check_spawn)
 * runs while the loop goes on: its stderr is read by an ev_io, its exit
 * is taken by the master's reaper (sup_pcheck_reaped), a 12 s timer kills
 * it, and when both the output and the exit are in, watch.c's
 * sup_plugin_checked() decides.  A reload in between voids the result
 * (the type is looked at again under the new configuration).
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

struct pcheck {
    int used;
    struct master *m;
    pid_t pid;
    int fd;
    ev_io io;
    ev_timer timer;
    char out[1024];
    size_t got;
    int eof, reaped, status, timed_out;
    uint32_t gen;
    char type[KUE_SB_TYPE_LEN];
    char path[SUP_PATH_LEN];
    struct sup_fileid id;
};

static struct pcheck checks[SUP_MAX_TYPES];

static void finish(struct pcheck *c)
{
    struct master *m = c->m;
    if (c->fd >= 0) {
        ev_io_stop(m->loop, &c->io);
        close(c->fd);
        c->fd = -1;
    }
    ev_timer_stop(m->loop, &c->timer);
    int ok = !c->timed_out && WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0;
    char err[1024] = "";
    if (!ok)
        sup_plugin_check_result(c->path, c->status, c->timed_out, c->out, c->got, err, sizeof(err));
    c->used = 0;
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
    kill(c->pid, SIGKILL);   /* reaped as usual */
    maybe_finish(c);
}

int sup_pcheck_busy(const struct master *m, const char *type)
{
    (void)m;
    for (int i = 0; i < SUP_MAX_TYPES; i++)
        if (checks[i].used && !strcmp(checks[i].type, type))
            return 1;
    return 0;
}

int sup_pcheck_start(struct master *m, int ti, const struct sup_fileid *id, char *err,
                     size_t errlen)
{
    const struct sup_type *t = &m->cfg->types[ti];
    struct pcheck *c = NULL;
    for (int i = 0; i < SUP_MAX_TYPES && !c; i++)
        if (!checks[i].used)
            c = &checks[i];
    if (!c) {
        snprintf(err, errlen, "too many plugin checks at once");
        return -1;
    }
    int fd;
    pid_t pid = sup_plugin_check_spawn(m->cfg, t->handler, t->name, &fd, err, errlen);
    if (pid < 0)
        return -1;
    memset(c, 0, sizeof(*c));
    c->used = 1;
    c->m = m;
    c->pid = pid;
    c->fd = fd;
    c->gen = m->gen;
    c->id = *id;
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
    return 0;
}

int sup_pcheck_reaped(struct master *m, pid_t pid, int status)
{
    (void)m;
    for (int i = 0; i < SUP_MAX_TYPES; i++) {
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
