/*
 * settings.c -- the settings channel from the supervisor to its children
 * (see settings.h).
 */
#include "settings.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util.h"

#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#define F_SEAL_SEAL 0x0001
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#define F_SEAL_WRITE 0x0008
#endif

int kue_settings_create(const char *const *strs, int n)
{
    size_t total = 0;
    if (n < 0 || n > KUE_SETTINGS_MAX_ARGS) {
        errno = E2BIG;
        return -1;
    }
    for (int i = 0; i < n; i++)
        total += strlen(strs[i]) + 1;
    if (total > KUE_SETTINGS_MAX_BYTES) {
        errno = E2BIG;
        return -1;
    }
    int fd = memfd_create("kue-settings", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(strs[i]) + 1, off = 0;
        while (off < len) {
            ssize_t w = write(fd, strs[i] + off, len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                int e = errno;
                close(fd);
                errno = e ? e : EIO;
                return -1;
            }
            off += (size_t)w;
        }
    }
    /* the child gets a read-only view: sealed against any change */
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0 ||
        lseek(fd, 0, SEEK_SET) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Kept for the life of the process (and reachable, for leak checkers). */
static char **volatile kept_argv;
static char *volatile kept_buf;

int kue_settings_argv(int *argcp, char ***argvp, char *err, size_t errlen)
{
    char **argv = *argvp;
    if (*argcp != 3 || strcmp(argv[1], "--settings-fd") != 0)
        return 0;
    long long fd;
    if (kue_parse_int(argv[2], 3, 1 << 20, &fd) < 0) {
        snprintf(err, errlen, "--settings-fd: \"%s\" is not a descriptor", argv[2]);
        return -1;
    }
    char *buf = malloc(KUE_SETTINGS_MAX_BYTES + 1);
    char **nargv = calloc(KUE_SETTINGS_MAX_ARGS + 2, sizeof(char *));
    if (!buf || !nargv) {
        free(buf);
        free(nargv);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t got = 0;
    for (;;) {
        ssize_t r = pread((int)fd, buf + got, KUE_SETTINGS_MAX_BYTES + 1 - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "--settings-fd %lld: %s", fd, strerror(errno));
            free(buf);
            free(nargv);
            return -1;
        }
        if (r == 0 || got + (size_t)r > KUE_SETTINGS_MAX_BYTES) {
            got += (size_t)r;
            break;
        }
        got += (size_t)r;
    }
    close((int)fd);
    if (got > KUE_SETTINGS_MAX_BYTES || (got && buf[got - 1] != '\0')) {
        snprintf(err, errlen, "--settings-fd: settings too large or not terminated");
        free(buf);
        free(nargv);
        return -1;
    }
    int n = 0;
    nargv[n++] = argv[0];
    for (size_t off = 0; off < got; off += strlen(buf + off) + 1) {
        if (n > KUE_SETTINGS_MAX_ARGS) {
            snprintf(err, errlen, "--settings-fd: more than %d settings", KUE_SETTINGS_MAX_ARGS);
            free(buf);
            free(nargv);
            return -1;
        }
        nargv[n++] = buf + off;
    }
    nargv[n] = NULL;
    *argcp = n;
    *argvp = nargv;
    kept_argv = nargv;
    kept_buf = buf;
    return 0;
}
