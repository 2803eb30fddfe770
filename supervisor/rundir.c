/*
 * rundir.c -- the run directory and the checks -t adds before a start.
 *
 * run_dir holds the pidfile and, with url = embedded, Redis's socket, log
 * and data; the supervisor may run as root.  Whoever can write to it
 * could plant a symlink there and have root write through it, so a
 * run_dir that group or others can write, or that another user owns, is
 * refused, and every file in it is opened relative to one directory
 * descriptor with O_NOFOLLOW (docs/security.md).
 */
#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static int dir_safe(const char *path, const struct stat *st, char *err, size_t errlen)
{
    if (!S_ISDIR(st->st_mode)) {
        snprintf(err, errlen, "[supervisor] run_dir: %s is not a directory", path);
        return -1;
    }
    if (st->st_uid != geteuid()) {
        snprintf(err, errlen,
                 "[supervisor] run_dir: %s is owned by uid %u, not by the supervisor's uid %u "
                 "(its files are written with the supervisor's privileges)",
                 path, (unsigned)st->st_uid, (unsigned)geteuid());
        return -1;
    }
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(err, errlen,
                 "[supervisor] run_dir: %s is writable by group or others (whoever can write it "
                 "can redirect the supervisor's writes; chmod go-w)", path);
        return -1;
    }
    return 0;
}

static int mkdir_p(const char *path)
{
    char tmp[PATH_MAX];
    kue_strlcpy(tmp, path, sizeof(tmp));
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

int sup_rundir_open(const char *path, char *err, size_t errlen)
{
    err[0] = '\0';
    if (mkdir_p(path) < 0) {
        snprintf(err, errlen, "[supervisor] run_dir: %s: %s", path, strerror(errno));
        return -1;
    }
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "[supervisor] run_dir: %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || dir_safe(path, &st, err, errlen) < 0) {
        if (!err[0])
            snprintf(err, errlen, "[supervisor] run_dir: %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int sup_rundir_openat(int dirfd, const char *name, int flags, mode_t mode)
{
    int fd = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
        st.st_uid != geteuid()) {
        close(fd);
        errno = EPERM;
        return -1;
    }
    return fd;
}

int sup_rundir_check(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        if (dir_safe(path, &st, err, errlen) < 0)
            return -1;
        if (access(path, W_OK | X_OK) < 0) {
            snprintf(err, errlen, "[supervisor] run_dir: %s: %s", path, strerror(errno));
            return -1;
        }
        return 0;
    }
    if (errno != ENOENT) {
        snprintf(err, errlen, "[supervisor] run_dir: %s: %s", path, strerror(errno));
        return -1;
    }
    /* missing: it is created at start, so its nearest existing ancestor
     * must be writable */
    char tmp[PATH_MAX];
    kue_strlcpy(tmp, path, sizeof(tmp));
    for (;;) {
        char *slash = strrchr(tmp, '/');
        if (!slash)
            break;
        if (slash == tmp)
            slash[1] = '\0';
        else
            *slash = '\0';
        if (stat(tmp, &st) == 0) {
            if (access(tmp, W_OK | X_OK) < 0) {
                snprintf(err, errlen, "[supervisor] run_dir: %s does not exist and cannot be "
                         "created in %s: %s", path, tmp, strerror(errno));
                return -1;
            }
            return 0;
        }
        if (slash == tmp)
            break;
    }
    snprintf(err, errlen, "[supervisor] run_dir: %s: no existing parent directory", path);
    return -1;
}

int sup_check_bind(const char *listen, char *err, size_t errlen)
{
    char host[256];
    const char *port;
    if (listen[0] == '[') {
        const char *rb = strchr(listen, ']');
        if (!rb || rb[1] != ':' || (size_t)(rb - listen - 1) >= sizeof(host))
            goto bad;
        memcpy(host, listen + 1, (size_t)(rb - listen - 1));
        host[rb - listen - 1] = '\0';
        port = rb + 2;
    } else {
        const char *colon = strrchr(listen, ':');
        if (!colon || (size_t)(colon - listen) >= sizeof(host))
            goto bad;
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = '\0';
        port = colon + 1;
    }
    struct addrinfo hints = { 0 }, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
    if (gai != 0 || !ai) {
        snprintf(err, errlen, "[web] listen: %s: %s", listen, gai_strerror(gai));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc = -1;
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        rc = bind(fd, ai->ai_addr, ai->ai_addrlen);
    }
    if (rc < 0)
        snprintf(err, errlen, "[web] listen: cannot listen on %s: %s%s", listen, strerror(errno),
                 errno == EADDRINUSE ? " (another program uses this port; stop it or choose "
                                       "another [web] listen)" : "");
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return rc < 0 ? -1 : 0;
bad:
    snprintf(err, errlen, "[web] listen: \"%s\" is not HOST:PORT", listen);
    return -1;
}
