/*
 * pluginload.c -- dlopen a handler plugin and check it before any job runs.
 *
 * The descriptor a plugin returns is copied into kue_pl_t: a plugin built
 * against an older, shorter struct kue_plugin leaves the missing hooks
 * NULL instead of being read past its end.  See pluginload.h.
 */
#include "pluginload.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* Everything up to and including process() must be there. */
#define KUE_PL_MIN_SIZE (offsetof(struct kue_plugin, process) + sizeof(void (*)(void)))

size_t kue_pl_stem(const char *path, char *buf, size_t len)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    const char *dot = strrchr(base, '.');
    if (dot && dot != base) n = (size_t)(dot - base);
    if (len == 0) return 0;
    if (n >= len) n = len - 1;
    memcpy(buf, base, n);
    buf[n] = '\0';
    return n;
}

int kue_pl_read_only(const char *path)
{
    struct statvfs vfs;
    return statvfs(path, &vfs) == 0 && (vfs.f_flag & ST_RDONLY);
}

static int check_one(const char *what, const char *p, const struct stat *st,
                     char *err, size_t errlen)
{
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(err, errlen, "plugin %s %s is writable by %s (mode %04o); refusing to load "
                 "code that others can change (chmod go-w)", what, p,
                 (st->st_mode & S_IWOTH) ? "others" : "group",
                 (unsigned)(st->st_mode & 07777));
        return -1;
    }
    if (st->st_uid != 0 && st->st_uid != geteuid() && !kue_pl_read_only(p)) {
        snprintf(err, errlen, "plugin %s %s is owned by uid %u, not by root or the running "
                 "user (uid %u); refusing to load it", what, p, (unsigned)st->st_uid,
                 (unsigned)geteuid());
        return -1;
    }
    return 0;
}

int kue_pl_open(const char *path, kue_pl_t *pl, char *err, size_t errlen)
{
    memset(pl, 0, sizeof *pl);
    snprintf(pl->path, sizeof pl->path, "%s", path);
    kue_pl_stem(path, pl->stem, sizeof pl->stem);

    pl->fd = -1;
    /* The file is opened once: its permissions are checked on, and dlopen
     * loads, that one inode (through /proc/self/fd/N), so it cannot be
     * swapped between the check and the load. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(err, errlen, "plugin %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "plugin %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "plugin %s: not a regular file", path);
        close(fd);
        return -1;
    }
    if (check_one("file", path, &st, err, errlen) != 0) {
        close(fd);
        return -1;
    }
    char dlpath[64];
    snprintf(dlpath, sizeof dlpath, "/proc/self/fd/%d", fd);
    dlerror();
    pl->dl = dlopen(dlpath, RTLD_NOW | RTLD_LOCAL);
    if (!pl->dl) {
        const char *e = dlerror();
        snprintf(err, errlen, "plugin %s: cannot load: %s", path, e ? e : "unknown dlopen error");
        close(fd);
        return -1;
    }
    pl->fd = fd;   /* kept while loaded: the name stays unique to this file */
    dlerror();
    void *sym = dlsym(pl->dl, KUE_PLUGIN_ENTRY_SYMBOL);
    if (!sym) {
        snprintf(err, errlen, "plugin %s: no symbol %s (define it with KUE_PLUGIN(...) "
                 "from <kue/plugin.h>)", path, KUE_PLUGIN_ENTRY_SYMBOL);
        goto fail;
    }
    kue_plugin_entry_fn *entry;
    memcpy(&entry, &sym, sizeof entry);     /* object pointer -> function pointer */
    const struct kue_plugin *d = entry();
    if (!d) {
        snprintf(err, errlen, "plugin %s: %s() returned NULL", path, KUE_PLUGIN_ENTRY_SYMBOL);
        goto fail;
    }
    if (d->abi != KUE_PLUGIN_ABI) {
        snprintf(err, errlen, "plugin %s: ABI version %u, this kue supports %u (rebuild it "
                 "against this kue's <kue/plugin.h>)", path, (unsigned)d->abi,
                 (unsigned)KUE_PLUGIN_ABI);
        goto fail;
    }
    if (d->size < KUE_PL_MIN_SIZE) {
        snprintf(err, errlen, "plugin %s: descriptor too small (%u bytes, at least %zu needed)",
                 path, (unsigned)d->size, (size_t)KUE_PL_MIN_SIZE);
        goto fail;
    }
    size_t n = d->size < sizeof pl->desc ? d->size : sizeof pl->desc;
    memcpy(&pl->desc, d, n);
    if (!pl->desc.process) {
        snprintf(err, errlen, "plugin %s: no process hook (set .process in KUE_PLUGIN)", path);
        goto fail;
    }

    if (pl->desc.name && *pl->desc.name)
        snprintf(pl->name, sizeof pl->name, "%s", pl->desc.name);
    else {
        const char *base = strrchr(path, '/');
        snprintf(pl->name, sizeof pl->name, "%s", base ? base + 1 : path);
    }

    int nt = 0;
    if (pl->desc.types) {
        for (const char *const *t = pl->desc.types; *t; t++) {
            if (nt == KUE_PL_MAX_TYPES) {
                snprintf(err, errlen, "plugin %s: serves more than %d types", path,
                         KUE_PL_MAX_TYPES);
                goto fail;
            }
            if (!**t) {
                snprintf(err, errlen, "plugin %s: empty type name in .types", path);
                goto fail;
            }
            pl->types[nt++] = *t;
        }
        if (nt == 0) {
            snprintf(err, errlen, "plugin %s: .types is empty (leave it NULL to serve \"%s\")",
                     path, pl->stem);
            goto fail;
        }
    } else {
        if (!pl->stem[0]) {
            snprintf(err, errlen, "plugin %s: no types and no file stem to default to", path);
            goto fail;
        }
        pl->types[nt++] = pl->stem;
    }
    pl->types[nt] = NULL;
    return 0;

fail:
    dlclose(pl->dl);
    pl->dl = NULL;
    close(pl->fd);
    pl->fd = -1;
    return -1;
}

void kue_pl_close(kue_pl_t *pl)
{
    if (pl->dl) dlclose(pl->dl);
    pl->dl = NULL;
    if (pl->fd >= 0) close(pl->fd);
    pl->fd = -1;
}

int kue_pl_serves(const kue_pl_t *pl, const char *type)
{
    for (int i = 0; pl->types[i]; i++)
        if (strcmp(pl->types[i], type) == 0) return 1;
    return 0;
}

int kue_pl_check_type(const kue_pl_t *pl, const char *type, char *err, size_t errlen)
{
    if (kue_pl_serves(pl, type)) return 0;
    char list[512] = "";
    size_t off = 0;
    for (int i = 0; pl->types[i] && off < sizeof list; i++) {
        int w = snprintf(list + off, sizeof list - off, "%s%s", i ? ", " : "", pl->types[i]);
        if (w < 0) break;
        off += (size_t)w;
    }
    snprintf(err, errlen, "plugin %s does not serve type \"%s\" (it serves: %s)",
             pl->path, type, list);
    return -1;
}

int kue_pl_check_perms(const char *path, char *err, size_t errlen)
{
    char real[PATH_MAX];
    struct stat st;
    if (!realpath(path, real)) {
        snprintf(err, errlen, "plugin %s: %s", path, strerror(errno));
        return -1;
    }
    if (stat(real, &st) != 0) {
        snprintf(err, errlen, "plugin %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "plugin %s: not a regular file", path);
        return -1;
    }
    if (check_one("file", real, &st, err, errlen) != 0) return -1;

    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", real);
    char *d = dirname(dir);
    if (stat(d, &st) != 0) {
        snprintf(err, errlen, "plugin directory %s: %s", d, strerror(errno));
        return -1;
    }
    /* A sticky, world-writable directory such as /tmp still lets others
     * replace files they own, so it is refused too. */
    if (check_one("directory", d, &st, err, errlen) != 0) return -1;
    /* Every ancestor as well (as OpenSSH checks the path to
     * authorized_keys): whoever can rename an ancestor can put another
     * tree in its place.  A sticky ancestor (/tmp) is accepted: others
     * cannot rename or remove what they do not own in it. */
    while (strcmp(d, "/") != 0) {
        d = dirname(d);
        if (stat(d, &st) != 0) {
            snprintf(err, errlen, "plugin directory %s: %s", d, strerror(errno));
            return -1;
        }
        if ((st.st_mode & S_ISVTX) && (st.st_uid == 0 || st.st_uid == geteuid())) continue;
        if (check_one("directory", d, &st, err, errlen) != 0) return -1;
    }
    return 0;
}
