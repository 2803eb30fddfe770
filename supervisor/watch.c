/*
 * watch.c -- the plugins directory under inotify.
 *
 * A write or a rename into the directory marks the types whose handler is
 * that file; 300 ms later (so a copy in progress can finish) each marked
 * type whose file really changed (device, inode, mtime, size) is checked
 * in a child process (sup_plugin_check: loads, right ABI, serves the
 * type).  A good file retires that type's workers, which the tick replaces
 * one by one; a broken one is reported and the running workers stay.
 *
 * Replace plugins by rename (install(1), mv): rewriting a .so in place
 * changes code under the feet of the workers that have it mapped.
 */
#include "master.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "slot.h"

int sup_fileid_get(const char *path, struct sup_fileid *id)
{
    struct stat st;
    memset(id, 0, sizeof(*id));
    if (stat(path, &st) < 0)
        return -1;
    id->dev = st.st_dev;
    id->ino = st.st_ino;
    id->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    id->size = st.st_size;
    return 0;
}

int sup_fileid_eq(const struct sup_fileid *a, const struct sup_fileid *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->mtime_ns == b->mtime_ns && a->size == b->size;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Check every type marked dirty whose file differs from what runs.  The
 * check runs beside the loop (check.c); sup_plugin_checked() acts on it. */
void sup_check_plugins_changed(struct master *m)
{
    for (int i = 0; i < m->cfg->ntypes; i++) {
        if (!m->plugin_dirty[i])
            continue;
        const struct sup_type *t = &m->cfg->types[i];
        if (sup_pcheck_busy(m, t->name))
            continue;   /* stays dirty: looked at again when that check ends */
        m->plugin_dirty[i] = 0;
        struct sup_fileid id;
        if (sup_fileid_get(t->handler, &id) < 0) {
            klog_warn("plugin %s of type %s is gone; its running workers stay", t->handler, t->name);
            continue;
        }
        if (sup_fileid_eq(&id, &m->hid[i]) || sup_fileid_eq(&id, &m->hid_bad[i]))
            continue;
        char err[1024];
        if (sup_pcheck_start(m, i, &id, err, sizeof(err)) < 0) {
            m->hid_bad[i] = id;
            klog_error("plugin %s changed but cannot be checked, keeping the running workers of "
                       "%s: %s", t->handler, t->name, err);
        }
    }
}

void sup_plugin_checked(struct master *m, int i, const struct sup_fileid *id, int ok,
                        const char *err)
{
    const struct sup_type *t = &m->cfg->types[i];
    if (!ok) {
        m->hid_bad[i] = *id;
        klog_error("plugin %s changed but cannot be used, keeping the running workers of %s: %s",
                   t->handler, t->name, err);
    } else {
        m->hid[i] = *id;
        int n = 0;
        for (int j = 0; j < SUP_TABLE_SIZE; j++) {
            struct sup_proc *p = &m->tab.p[j];
            if (p->kind != SK_WORKER || strcmp(p->type, t->name))
                continue;
            if (p->state == SS_RUNNING && !p->retire) {
                p->retire = 1;
                n++;
            } else if (p->state == SS_WAITING) {
                /* a crash-looping type may be fixed by the new file */
                sup_slot_event(p, SE_RETRY_NOW, &(struct sup_ev){ .now = 0 });
            }
        }
        klog_info("plugin %s changed: replacing %d worker(s) of type %s", t->handler, n, t->name);
    }
    /* changes that came in while this check ran */
    sup_check_plugins_changed(m);
}

static void plugin_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    sup_check_plugins_changed(w->data);
}

static void inotify_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct master *m = w->data;
    (void)revents;
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    int any = 0;
    for (;;) {
        ssize_t n = read(m->inotify_fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *e = (struct inotify_event *)p;
            p += sizeof(*e) + e->len;
            for (int i = 0; i < m->cfg->ntypes; i++) {
                const struct sup_type *t = &m->cfg->types[i];
                if ((e->mask & IN_Q_OVERFLOW) ||
                    (e->len && !strcmp(e->name, base_name(t->handler)))) {
                    m->plugin_dirty[i] = 1;
                    any = 1;
                }
            }
            if (e->len && !any && strlen(e->name) > 3 &&
                !strcmp(e->name + strlen(e->name) - 3, ".so"))
                klog_debug("plugin file %s appeared; no [type] uses it", e->name);
        }
    }
    if (any) {
        ev_timer_stop(loop, &m->plugin_timer);
        ev_timer_set(&m->plugin_timer, 0.3, 0.);
        ev_timer_start(loop, &m->plugin_timer);
    }
}

int sup_watch_start(struct master *m)
{
    ev_init(&m->plugin_timer, plugin_timer_cb);
    m->plugin_timer.data = m;
    m->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (m->inotify_fd < 0) {
        klog_warn("inotify: %s; plugin changes are only seen on SIGHUP", strerror(errno));
        return -1;
    }
    if (inotify_add_watch(m->inotify_fd, m->cfg->plugins,
                          IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_ATTRIB) < 0) {
        klog_warn("inotify on %s: %s; plugin changes are only seen on SIGHUP", m->cfg->plugins,
                  strerror(errno));
        close(m->inotify_fd);
        m->inotify_fd = -1;
        return -1;
    }
    ev_io_init(&m->inotify_w, inotify_cb, m->inotify_fd, EV_READ);
    m->inotify_w.data = m;
    ev_io_start(m->loop, &m->inotify_w);
    return 0;
}

void sup_watch_stop(struct master *m)
{
    ev_timer_stop(m->loop, &m->plugin_timer);
    if (m->inotify_fd >= 0) {
        ev_io_stop(m->loop, &m->inotify_w);
        close(m->inotify_fd);
        m->inotify_fd = -1;
    }
}

void sup_watch_restart(struct master *m)
{
    sup_watch_stop(m);
    sup_watch_start(m);
}
