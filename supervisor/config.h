/*
 * config.h -- the supervisor's configuration: one table of keys drives
 * parsing, defaults, bounds, reloadability and the annotated example.
 *
 * sup_config_load() reads an INI file (inih) into a struct sup_config and
 * validates everything that can be checked without forking a worker:
 * unknown sections and keys, values, bounds, paths, the plugins directory
 * permissions, the Redis URL and the web address.  Errors name the place:
 *
 *     workers.ini:12: [type email] processes: "many" is not an integer
 *
 * Relative paths are resolved against the directory of the config file;
 * a type's handler is a file name in the plugins directory (or an absolute
 * path).  Environment overrides (KUE_REDIS_URL, KUE_PREFIX, KUE_WEB_LISTEN)
 * are applied by sup_config_load() after the file.
 */
#ifndef KUE_SUP_CONFIG_H
#define KUE_SUP_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "scoreboard.h"

#define SUP_MAX_TYPES     64
#define SUP_PATH_LEN      1024
#define SUP_MAX_PROCESSES 256   /* all types together; half the scoreboard */

/* [type] rate = N/PERIOD (n 0: no limit) */
#define SUP_MAX_RATE 100000
#define SUP_MAX_RATE_PERIOD_MS (24LL * 3600 * 1000)
#define SUP_MAX_GROUP_CONCURRENCY 10000
struct sup_rate {
    long long n;
    int64_t period_ms;
};
/* "N/PERIOD" into r; -1 if it is not one within the bounds above. */
int sup_parse_rate(const char *v, struct sup_rate *r);

struct sup_type {
    char name[KUE_SB_TYPE_LEN];
    char handler[SUP_PATH_LEN];     /* absolute, resolved */
    long long processes;
    long long concurrency;
    int64_t timeout_ms;             /* 0: the job's ttl only */
    long long max_jobs;             /* 0: never recycle by count */
    long long max_jobs_jitter;      /* percent */
    uint64_t max_rss;               /* bytes, 0: off */
    struct sup_rate rate;           /* fleet-wide starts per period */
    long long group_concurrency;    /* active per job group, 0: no limit */
    char prefix[64];                /* its queue: [redis] prefix unless set */
    char keys_prefix[68];           /* prefix or {prefix} (keys.h) */
    int prefix_line;                /* line of prefix=, 0: the default */
    int line;                       /* line of the [type NAME] header */
    int handler_line;               /* line of handler=, or the header's */
};

/* Retention limits ([retention], [retention TYPE]); 0: no limit of that
 * kind.  In a [retention TYPE] section, -1 until filled from [retention]. */
struct sup_retention {
    char type[KUE_SB_TYPE_LEN];     /* "" in [retention] */
    long long keep_complete;
    int64_t keep_complete_for_ms;
    long long keep_failed;
    int64_t keep_failed_for_ms;
    int64_t interval_ms;            /* [retention] only */
    int line;
};

/* A schedule of [cron NAME] (supervisor/cron.h parses the schedule). */
#define SUP_MAX_CRON     64
#define SUP_CRON_DATA    4096
struct sup_cron {
    char name[64];
    char schedule[128];
    char type[KUE_SB_TYPE_LEN];
    char data[SUP_CRON_DATA];       /* JSON */
    char priority[16];
    long long attempts;
    char backoff[256];              /* as Kue stores it: true, or a JSON object */
    int64_t ttl_ms;
    int64_t delay_ms;
    char timezone[64];
    char catch_up[8];               /* none | one | all */
    long long catch_up_max;         /* bound of catch_up = all */
    int line;
    int schedule_line, type_line, data_line, priority_line, timezone_line, backoff_line;
};

struct sup_config {
    char file[SUP_PATH_LEN];        /* as given */
    char dir[SUP_PATH_LEN];         /* its directory (absolute) */

    /* [supervisor] */
    char plugins[SUP_PATH_LEN];
    int plugins_line;
    int64_t shutdown_timeout_ms;
    char run_dir[SUP_PATH_LEN];
    char log_format[8];
    char log_level[8];
    char log_file[SUP_PATH_LEN];    /* empty: stderr as inherited */
    char user[64];
    char group[64];
    int64_t heartbeat_timeout_ms;   /* 0: off */
    int64_t respawn_delay_ms;       /* first backoff step */
    int64_t respawn_max_delay_ms;
    int64_t lease_ms;
    int64_t recovery_interval_ms;
    int64_t leader_lease_ms;

    /* [redis] */
    char redis_url[512];
    char prefix[64];
    char key_style[8];              /* plain | hashtag */
    char keys_prefix[68];           /* prefix or {prefix}: what keys are built from (keys.h) */
    long long wait_replicas;        /* WAIT for this many replicas after writes, 0: off */
    int64_t wait_timeout_ms;        /* ... at most this long */
    char redis_server[SUP_PATH_LEN];  /* binary for url = embedded */
    int embedded;

    /* [promotion] */
    int64_t promotion_interval_ms;
    long long promotion_limit;

    /* [search] */
    int search;

    /* [web] */
    int web;                        /* section present (or KUE_WEB_LISTEN) */
    char web_listen[128];
    char web_title[128];
    char web_auth[256];
    char web_tls_cert[SUP_PATH_LEN];
    char web_tls_key[SUP_PATH_LEN];
    char web_allowed_hosts[512];
    long long web_max_connections;
    long long web_max_per_client;
    long long web_max_streams;
    uint64_t web_events_buffer;

    int ntypes;
    struct sup_type types[SUP_MAX_TYPES];

    /* [retention], then [retention TYPE] overrides */
    struct sup_retention retention;
    int nretention;
    struct sup_retention ret_types[SUP_MAX_TYPES];

    /* [cron NAME] */
    int ncron;
    struct sup_cron crons[SUP_MAX_CRON];
};

/* Check a cron section (also those added at run time): 0, or -1 with
 * "key: why" in why and the line of that key (0: none) in *line.  Turns a
 * priority name into its number. */
int sup_cron_check(struct sup_cron *c, char *why, size_t wl, int *line);
/* A schedule added at run time: defaults, then key = value (the keys of
 * [cron NAME]); 0, or -1 with "key: why". */
void sup_cron_init(struct sup_cron *c, const char *name);
int sup_cron_set(struct sup_cron *c, const char *key, const char *value, char *why, size_t wl);

/* The distinct prefixes in use, [redis] prefix first, then those of the
 * types in the order they first appear: their number, each effective
 * prefix (keys_prefix) in out[i] when out is not NULL. */
int sup_config_prefixes(const struct sup_config *cfg, const char **out, int max);
/* The same as the configured prefixes joined by commas (kue-web's
 * --prefix); -1 when it does not fit. */
int sup_config_prefix_list(const struct sup_config *cfg, char *buf, size_t len);

/* The retention limits of a type (its override, or [retention]). */
const struct sup_retention *sup_config_retention(const struct sup_config *cfg, const char *type);

/* Load and validate path into *cfg (which the caller allocates; it is
 * fully overwritten).  0 ok; -1 with "file:line: [section] key: why" in
 * err.  Does not load plugins: see sup_config_check_plugins(). */
int sup_config_load(struct sup_config *cfg, const char *path, char *err, size_t errlen);

/* The same from a string (tests); dir resolves relative paths and name is
 * used in messages. */
int sup_config_load_string(struct sup_config *cfg, const char *text, const char *name,
                           const char *dir, char *err, size_t errlen);

/* Load each type's plugin once (in a short-lived child process, so that
 * nothing of a plugin stays in the master) and check its ABI.  0 ok; -1
 * with "file:line: [type T] handler: why" in err. */
int sup_config_check_plugins(const struct sup_config *cfg, char *err, size_t errlen);

/* Check one plugin file (also used by the plugin watcher) in an exec'd
 * "kue-worker --check" running as [supervisor] user/group, so no plugin
 * code ever runs in the master or with its privileges.  Waits at most
 * 12 s.  0 ok, -1 with a message in err. */
int sup_plugin_check(const struct sup_config *cfg, const char *path, const char *type, char *err,
                     size_t errlen);
/* The same in two halves, for a caller that must not wait (the master's
 * loop): start the check (its stderr on *rfd), and, once it exited, its
 * message from what was read and the wait status. */
pid_t sup_plugin_check_spawn(const struct sup_config *cfg, const char *path, const char *type,
                             int *rfd, char *err, size_t errlen);
void sup_plugin_check_result(const char *path, int status, int timed_out, char *msg, size_t got,
                             char *err, size_t errlen);

/* The kue-worker that checks plugins (default: next to our executable;
 * tests set it). */
void sup_plugin_checker(const char *path);

/* For children (between fork and exec): the environment to pass, ours
 * minus the variables that may carry secrets (KUE_REDIS_URL,
 * KUE_WEB_AUTH) and KUE_SCOREBOARD_FD, plus extra when not NULL; and the
 * drop to [supervisor] user/group when root (NULL ok, else why not). */
#define SUP_CHILD_ENV_MAX 512
void sup_child_env(char **out, const char *extra);
const char *sup_drop_privileges(const struct sup_config *cfg);

/* What a change of a key applies to on HUP (each row of the key table
 * says; docs/security.md lists them): */
#define SUP_APPLY_FIXED          0u   /* nothing: needs a restart */
#define SUP_APPLY_MASTER         1u   /* the master's own behaviour */
#define SUP_APPLY_WORKERS        2u   /* workers (of the type) are replaced */
#define SUP_APPLY_WEB            4u   /* kue-web is restarted */
#define SUP_APPLY_FIXED_CHANGED  8u   /* (result only) a fixed key changed */

/* Global keys that differ between a and b: the union of their SUP_APPLY_*
 * bits, their names ("[supervisor] lease, [web] title") in buf when
 * buf is not NULL. */
unsigned sup_config_changes(const struct sup_config *a, const struct sup_config *b, char *buf,
                            size_t len);
/* The same for the keys of one [type NAME] ("concurrency, timeout"). */
unsigned sup_type_changes(const struct sup_type *a, const struct sup_type *b, char *buf, size_t len);
/* The apply bits of one key (tests, docs). */
unsigned sup_config_key_apply(const char *section, const char *name);

const struct sup_type *sup_config_type(const struct sup_config *cfg, const char *name);
/* Non-zero when the running settings of type a differ from b (a worker of
 * the old settings must be replaced). */
int sup_type_changed(const struct sup_type *a, const struct sup_type *b);
/* Names of keys that differ between a and b but cannot change on reload
 * (written to buf, comma-separated; empty when none). */
void sup_config_fixed_changes(const struct sup_config *a, const struct sup_config *b,
                              char *buf, size_t len);

/* Copy the values of keys that cannot change at run time from old into
 * nc (a reload keeps them until a restart). */
void sup_config_keep_fixed(struct sup_config *nc, const struct sup_config *old);

/* Print the annotated default configuration (every key with its default
 * and description) to stdout: what etc/workers.ini is generated from. */
void sup_config_print_defaults(void);

#endif
