/*
 * pluginload.h -- loading and checking job handler plugins (the loader side
 * of include/kue/plugin.h).
 *
 * Used by the worker (to run a plugin) and by the supervisor (for
 * `kue-supervisor -t` and before forking, so a bad plugin is a startup error
 * and never a respawn loop).  Every failure comes with a message for a human
 * that names the file and what is wrong:
 *
 *     plugin ./plugins/email.so: ABI version 7, this kue supports 1
 *
 * A loaded plugin keeps its dlopen handle open until kue_pl_close().
 */
#ifndef KUE_PLUGINLOAD_H
#define KUE_PLUGINLOAD_H

#include <stddef.h>
#include <kue/plugin.h>

#define KUE_PL_MAX_TYPES 64

typedef struct kue_pl {
    void *dl;                        /* dlopen handle */
    struct kue_plugin desc;          /* the plugin's descriptor, copied; fields the
                                      * plugin's (smaller) struct lacks are NULL */
    char path[4096];                 /* as given */
    char name[128];                  /* desc.name, or the file name */
    const char *types[KUE_PL_MAX_TYPES + 1]; /* types served, NULL-terminated
                                      * (borrowed from the plugin or from stem) */
    char stem[128];                  /* "email" for ".../email.so" */
    int fd;                          /* the file, open while loaded (-1: none) */
} kue_pl_t;

/* dlopen(path, RTLD_NOW | RTLD_LOCAL), find kue_plugin_entry, check the ABI
 * version, the descriptor size and the process hook, and resolve the types
 * served (default: the file's stem).  0 ok; -1 with a message in err (pl is
 * then left closed).  The descriptor is copied into pl->desc. */
int kue_pl_open(const char *path, kue_pl_t *pl, char *err, size_t errlen);
void kue_pl_close(kue_pl_t *pl);

/* Non-zero if the plugin serves type. */
int kue_pl_serves(const kue_pl_t *pl, const char *type);
/* 0 if it serves type; else -1 with "plugin FILE does not serve type T
 * (it serves: a, b)" in err. */
int kue_pl_check_type(const kue_pl_t *pl, const char *type, char *err, size_t errlen);

/* Refuse a plugin file (or its directory) that is writable by group or
 * others, or not owned by root or the current effective user: whoever can
 * write it can run code as the worker.  Also fails when the file is missing
 * or not a regular file.  On a read-only mount (a container's
 * "-v dir:/plugins:ro") the owner does not matter: nobody here can change
 * it.  Every ancestor directory must be safe as well
 * (a sticky one such as /tmp is accepted).  kue_pl_open() checks the
 * file's permissions again on the very inode it loads.  0 ok; -1 with
 * the reason in err. */
int kue_pl_check_perms(const char *path, char *err, size_t errlen);

/* 1 if path lies on a read-only mount. */
int kue_pl_read_only(const char *path);

/* The stem of a plugin file name: "/a/b/email.so" -> "email".  Returns
 * the length written (truncated to len-1). */
size_t kue_pl_stem(const char *path, char *buf, size_t len);

#endif
