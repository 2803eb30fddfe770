/*
 * config.c -- table-driven INI parsing and validation (see config.h).
 *
 * One reader of ours (parse_text) does the lexing, line by line, and
 * counts lines for the messages; it sees section headers itself, so that
 * a section with no keys ([web], [type echo]) still counts.  Every key of every section is one row of
 * keys[]: its kind, text default, bounds, whether a HUP may change it, and
 * the line printed into the annotated example.  Defaults go through the
 * same setter as file values, so a default can never be out of bounds.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kue/kue.h>

#include "keys.h"
#include "cronexpr.h"
#include "json.h"
#include "pluginload.h"
#include "url.h"
#include "util.h"

enum ck { CK_STR, CK_PATH, CK_DUR, CK_SIZE, CK_BOOL, CK_INT, CK_ENUM, CK_HANDLER, CK_RATE };

#define AP_FIXED   SUP_APPLY_FIXED
#define AP_MASTER  SUP_APPLY_MASTER
#define AP_WORKERS SUP_APPLY_WORKERS
#define AP_WEB     SUP_APPLY_WEB

#define G(m) offsetof(struct sup_config, m), sizeof(((struct sup_config *)0)->m)
#define T(m) offsetof(struct sup_type, m), sizeof(((struct sup_type *)0)->m)
#define R(m) offsetof(struct sup_retention, m), sizeof(((struct sup_retention *)0)->m)
#define C(m) offsetof(struct sup_cron, m), sizeof(((struct sup_cron *)0)->m)
#define MS_YEARS (10LL * 365 * 24 * 3600 * 1000)
#define MS_MAX (7LL * 24 * 3600 * 1000)

struct cfg_key {
    const char *section;    /* "type" stands for every [type NAME] */
    const char *name;
    enum ck kind;
    const char *def;        /* text default; NULL: unset/empty */
    long long min, max;     /* INT: value; DUR: ms; SIZE: bytes */
    const char *choices;    /* ENUM: "a|b|c" */
    size_t off, size;
    unsigned apply;         /* what a change on HUP applies to (AP_*) */
    const char *doc;
};

static const struct cfg_key keys[] = {
    { "supervisor", "plugins", CK_PATH, "./plugins", 0, 0, NULL, G(plugins), AP_MASTER,
      "directory of handler .so files, watched for changes" },
    { "supervisor", "shutdown_timeout", CK_DUR, "25s", 0, MS_MAX, NULL, G(shutdown_timeout_ms), AP_MASTER,
      "drain deadline after SIGTERM; then jobs still running are put back" },
    { "supervisor", "run_dir", CK_PATH, "./run", 0, 0, NULL, G(run_dir), AP_FIXED,
      "pidfile, embedded Redis socket and data" },
    { "supervisor", "log_format", CK_ENUM, "text", 0, 0, "text|json", G(log_format), AP_MASTER | AP_WORKERS | AP_WEB,
      "text | json (one object per line, on stderr)" },
    { "supervisor", "log_level", CK_ENUM, "info", 0, 0, "debug|info|warn|error", G(log_level), AP_MASTER | AP_WORKERS | AP_WEB,
      "debug | info | warn | error" },
    { "supervisor", "log_file", CK_PATH, NULL, 0, 0, NULL, G(log_file), AP_FIXED,
      "append logs to this file (reopened on SIGUSR1); empty: stderr" },
    { "supervisor", "user", CK_STR, NULL, 0, 0, NULL, G(user), AP_FIXED,
      "when started as root: workers and web run as this user" },
    { "supervisor", "group", CK_STR, NULL, 0, 0, NULL, G(group), AP_FIXED,
      "... and group (default: the user's primary group)" },
    { "supervisor", "heartbeat_timeout", CK_DUR, "30s", 0, MS_MAX, NULL, G(heartbeat_timeout_ms), AP_MASTER,
      "a worker whose heartbeat is older is hung: killed and replaced (0: off)" },
    { "supervisor", "respawn_delay", CK_DUR, "1s", 10, 3600000, NULL, G(respawn_delay_ms), AP_MASTER,
      "first respawn backoff after a crash; doubles per crash" },
    { "supervisor", "respawn_max_delay", CK_DUR, "60s", 10, 3600000, NULL, G(respawn_max_delay_ms), AP_MASTER,
      "upper bound of the respawn backoff" },
    { "supervisor", "lease", CK_DUR, "30s", 1000, MS_MAX, NULL, G(lease_ms), AP_WORKERS,
      "lease of a claimed job; renewed by its worker, recovered when it expires" },
    { "supervisor", "recovery_interval", CK_DUR, "5s", 100, 3600000, NULL, G(recovery_interval_ms), AP_MASTER,
      "how often expired leases (jobs of dead hosts) are recovered" },
    { "supervisor", "leader_lease", CK_DUR, "5s", 1000, 3600000, NULL, G(leader_lease_ms), AP_MASTER,
      "lease of the leader of this Redis and prefix (cron, retention); renewed every third" },

    { "redis", "url", CK_STR, "redis://127.0.0.1:6379/0", 0, 0, NULL, G(redis_url), AP_FIXED,
      "redis://[:password@]host[:port][/db], unix:///path.sock?db=N, or embedded" },
    { "redis", "prefix", CK_STR, "q", 0, 0, NULL, G(prefix), AP_FIXED,
      "key prefix (Kue's prefix option)" },
    { "redis", "key_style", CK_ENUM, "plain", 0, 0, "plain|hashtag", G(key_style), AP_FIXED,
      "plain (P:jobs) | hashtag ({P}:jobs, as Kue on ioredis; one queue in one cluster slot)" },
    { "redis", "wait_replicas", CK_INT, "0", 0, KUE_MAX_WAIT_REPLICAS, NULL, G(wait_replicas),
      AP_WORKERS | AP_WEB,
      "saves and job outcomes WAIT for this many replicas (0: off; see docs/redis-topologies.md)" },
    { "redis", "wait_timeout", CK_DUR, "1s", 1, KUE_MAX_WAIT_TIMEOUT_MS, NULL, G(wait_timeout_ms),
      AP_WORKERS | AP_WEB,
      "how long one such WAIT may take; fewer replicas by then: a warning, the write stands" },
    { "redis", "server", CK_STR, "redis-server", 0, 0, NULL, G(redis_server), AP_FIXED,
      "redis-server binary for url = embedded (searched in PATH)" },

    { "promotion", "interval", CK_DUR, "1s", 10, 3600000, NULL, G(promotion_interval_ms), AP_MASTER,
      "upper bound on how late a due delayed job is promoted" },
    { "promotion", "limit", CK_INT, "1000", 1, 1000000, NULL, G(promotion_limit), AP_MASTER,
      "delayed jobs promoted per round" },

    { "search", "enabled", CK_BOOL, "no", 0, 0, NULL, G(search), AP_WEB,
      "Kue-compatible full-text index of job data" },

    { "web", "listen", CK_STR, "127.0.0.1:3000", 0, 0, NULL, G(web_listen), AP_WEB,
      "HOST:PORT of the dashboard and JSON API; no [web] section: no web process" },
    { "web", "title", CK_STR, "Kue", 0, 0, NULL, G(web_title), AP_WEB, "dashboard title" },
    { "web", "auth", CK_STR, NULL, 0, 0, NULL, G(web_auth), AP_WEB, "user:password for HTTP basic auth" },
    { "web", "tls_cert", CK_PATH, NULL, 0, 0, NULL, G(web_tls_cert), AP_WEB, "PEM certificate (with tls_key)" },
    { "web", "tls_key", CK_PATH, NULL, 0, 0, NULL, G(web_tls_key), AP_WEB, "PEM private key" },
    { "web", "allowed_hosts", CK_STR, NULL, 0, 0, NULL, G(web_allowed_hosts), AP_WEB,
      "Host names accepted besides IP addresses, localhost and the listen host (comma-separated)" },
    { "web", "max_connections", CK_INT, "256", 1, 100000, NULL, G(web_max_connections), AP_WEB,
      "open connections (16 more are kept for /healthz and /readyz)" },
    { "web", "max_per_client", CK_INT, "64", 1, 100000, NULL, G(web_max_per_client), AP_WEB,
      "open connections per client address" },
    { "web", "max_streams", CK_INT, "64", 1, 100000, NULL, G(web_max_streams), AP_WEB,
      "open /events streams" },
    { "web", "events_buffer", CK_SIZE, "4M", 0, 1LL << 30, NULL, G(web_events_buffer), AP_WEB,
      "bytes of past events kept for Last-Event-ID replay" },

    { "retention", "keep_complete", CK_INT, "10000", 0, 1000000000, NULL, R(keep_complete), AP_MASTER,
      "newest complete jobs kept per type (0: no count limit)" },
    { "retention", "keep_complete_for", CK_DUR, "7d", 0, MS_YEARS, NULL, R(keep_complete_for_ms), AP_MASTER,
      "complete jobs older than this are removed (0: no age limit)" },
    { "retention", "keep_failed", CK_INT, "100000", 0, 1000000000, NULL, R(keep_failed), AP_MASTER,
      "newest failed jobs kept per type (0: no count limit)" },
    { "retention", "keep_failed_for", CK_DUR, "30d", 0, MS_YEARS, NULL, R(keep_failed_for_ms), AP_MASTER,
      "failed jobs older than this are removed (0: no age limit)" },
    { "retention", "interval", CK_DUR, "1s", 10, 3600000, NULL, R(interval_ms), AP_MASTER,
      "how often the leader looks for jobs to remove" },

    { "cron", "schedule", CK_STR, NULL, 0, 0, NULL, C(schedule), AP_MASTER,
      "5-field cron (min hour day month weekday), or @every 30s, @hourly, @daily, ..." },
    { "cron", "type", CK_STR, NULL, 0, 0, NULL, C(type), AP_MASTER, "job type of the jobs made" },
    { "cron", "data", CK_STR, "{}", 0, 0, NULL, C(data), AP_MASTER, "job data (JSON)" },
    { "cron", "priority", CK_STR, "normal", 0, 0, NULL, C(priority), AP_MASTER,
      "low | normal | medium | high | critical, or an integer" },
    { "cron", "attempts", CK_INT, "1", 1, 1000000, NULL, C(attempts), AP_MASTER, "attempts of each job" },
    { "cron", "backoff", CK_STR, NULL, 0, 0, NULL, C(backoff), AP_MASTER,
      "Kue backoff: true, or {\"type\":\"exponential\",\"delay\":1000}" },
    { "cron", "ttl", CK_DUR, "0", 0, MS_YEARS, NULL, C(ttl_ms), AP_MASTER, "ttl of each job (0: none)" },
    { "cron", "delay", CK_DUR, "0", 0, MS_YEARS, NULL, C(delay_ms), AP_MASTER, "delay of each job" },
    { "cron", "timezone", CK_STR, "UTC", 0, 0, NULL, C(timezone), AP_MASTER,
      "time zone of the schedule (tz database name)" },
    { "cron", "catch_up", CK_ENUM, "one", 0, 0, "none|one|all", C(catch_up), AP_MASTER,
      "ticks missed while no leader ran: none, the latest one, or all (bounded)" },
    { "cron", "catch_up_max", CK_INT, "1000", 1, 100000, NULL, C(catch_up_max), AP_MASTER,
      "catch_up = all: at most this many missed ticks are run" },

    { "type", "handler", CK_HANDLER, NULL, 0, 0, NULL, T(handler), AP_WORKERS,
      "plugin file in the plugins directory (or absolute); default: <type>.so" },
    { "type", "processes", CK_INT, "1", 0, SUP_MAX_PROCESSES, NULL, T(processes), AP_MASTER,
      "worker processes for this type (0: none)" },
    { "type", "concurrency", CK_INT, "1", 1, KUE_SB_MAX_INFLIGHT, NULL, T(concurrency), AP_WORKERS,
      "jobs in flight per process" },
    { "type", "timeout", CK_DUR, "0", 0, MS_MAX, NULL, T(timeout_ms), AP_WORKERS,
      "hard per-job limit: the process is killed, the attempt fails (0: the job's ttl)" },
    { "type", "max_jobs", CK_INT, "0", 0, 1000000000, NULL, T(max_jobs), AP_WORKERS,
      "recycle a process after this many jobs (0: never)" },
    { "type", "max_jobs_jitter", CK_INT, "10", 0, 100, NULL, T(max_jobs_jitter), AP_MASTER,
      "percent of max_jobs added at random, so processes do not recycle together" },
    { "type", "max_rss", CK_SIZE, "0", 0, 1LL << 40, NULL, T(max_rss), AP_MASTER,
      "recycle a process above this resident size (0: off)" },
    { "type", "rate", CK_RATE, "0", 1, SUP_MAX_RATE, NULL, T(rate), AP_WORKERS,
      "N/PERIOD: at most N starts of this type in any PERIOD, fleet-wide (100/1s; 0: no limit)" },
    { "type", "group_concurrency", CK_INT, "0", 0, SUP_MAX_GROUP_CONCURRENCY, NULL,
      T(group_concurrency), AP_WORKERS,
      "at most N active jobs per job group, fleet-wide (0: no limit)" },
    { "type", "prefix", CK_STR, NULL, 0, 0, NULL, T(prefix), AP_WORKERS,
      "key prefix of this type's queue (default: [redis] prefix); one queue per prefix" },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const char *const sections[] = { "supervisor", "redis", "promotion", "search", "web",
                                        "retention" };
#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))

struct parse {
    struct sup_config *cfg;
    const char *name;          /* file name for messages */
    char *err;
    size_t errlen;
    int failed;
    int line;
    /* current section: global name or a type */
    char sect[128];
    int sect_known;            /* 0: unknown section (already reported) */
    struct sup_type *type;     /* current [type NAME], or NULL */
    struct sup_retention *rtype;   /* current [retention TYPE], or NULL */
    struct sup_cron *cron;     /* current [cron NAME], or NULL */
    int gline[NKEYS];          /* line each global key was set on */
    int tline[SUP_MAX_TYPES][NKEYS];
    int rline[SUP_MAX_TYPES][NKEYS];
    int cline[SUP_MAX_CRON][NKEYS];
    int sect_line[NSECTIONS];
    /* input */
    const char *str;
    size_t str_len;
};

static int perr(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int perr(struct parse *p, const char *fmt, ...)
{
    if (p->failed)
        return 0;
    p->failed = 1;
    int n = snprintf(p->err, p->errlen, "%s:%d: ", p->name, p->line);
    if (n < 0 || (size_t)n >= p->errlen)
        return 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return 0;
}

/* An error about a key at a given line (0: the key was left at its
 * default, so there is no line to name). */
static int kerr(struct parse *p, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int kerr(struct parse *p, int line, const char *fmt, ...)
{
    if (p->failed)
        return -1;
    p->failed = 1;
    int n = line > 0 ? snprintf(p->err, p->errlen, "%s:%d: ", p->name, line)
                     : snprintf(p->err, p->errlen, "%s: ", p->name);
    if (n < 0 || (size_t)n >= p->errlen)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static int join_path(char *out, size_t len, const char *dir, const char *rel)
{
    int n = rel[0] == '/' ? snprintf(out, len, "%s", rel)
                          : snprintf(out, len, "%s/%s", dir, rel);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int choice_ok(const char *choices, const char *v)
{
    size_t vl = strlen(v);
    const char *c = choices;
    while (*c) {
        const char *bar = strchr(c, '|');
        size_t l = bar ? (size_t)(bar - c) : strlen(c);
        if (l == vl && !strncmp(c, v, l))
            return 1;
        if (!bar)
            break;
        c = bar + 1;
    }
    return 0;
}

/* Store value v of key k into base (sup_config or sup_type).  0 ok, -1
 * with the reason in why. */
static int set_value(const struct cfg_key *k, void *base, const char *v, const char *dir,
                     char *why, size_t wl)
{
    char *dst = (char *)base + k->off;
    switch (k->kind) {
    case CK_STR:
    case CK_HANDLER:
        if (strlen(v) >= k->size) {
            snprintf(why, wl, "value too long (at most %zu characters)", k->size - 1);
            return -1;
        }
        memcpy(dst, v, strlen(v) + 1);
        return 0;
    case CK_PATH:
        if (!*v) {
            dst[0] = '\0';
            return 0;
        }
        if (kue_path_join(dst, k->size, dir, v) < 0) {   /* "etc/../build" logs as "build" */
            snprintf(why, wl, "path too long");
            return -1;
        }
        return 0;
    case CK_DUR: {
        int64_t ms;
        if (kue_parse_duration(v, &ms) < 0) {
            snprintf(why, wl, "\"%s\" is not a duration (e.g. 250ms, 30s, 5m, 1h)", v);
            return -1;
        }
        if (ms < k->min || ms > k->max) {
            snprintf(why, wl, "%s is out of range (%lldms to %lldms)", v, k->min, k->max);
            return -1;
        }
        memcpy(dst, &ms, sizeof(ms));
        return 0;
    }
    case CK_SIZE: {
        uint64_t b;
        if (kue_parse_size(v, &b) < 0) {
            snprintf(why, wl, "\"%s\" is not a size (e.g. 512K, 256M, 2G)", v);
            return -1;
        }
        if (b > (uint64_t)k->max) {
            snprintf(why, wl, "%s is too large", v);
            return -1;
        }
        memcpy(dst, &b, sizeof(b));
        return 0;
    }
    case CK_BOOL: {
        int b;
        if (kue_parse_bool(v, &b) < 0) {
            snprintf(why, wl, "\"%s\" is not a boolean (yes/no, true/false, on/off, 1/0)", v);
            return -1;
        }
        memcpy(dst, &b, sizeof(b));
        return 0;
    }
    case CK_INT: {
        long long n;
        if (kue_parse_int(v, k->min, k->max, &n) < 0) {
            snprintf(why, wl, "\"%s\" is not an integer from %lld to %lld", v, k->min, k->max);
            return -1;
        }
        memcpy(dst, &n, sizeof(n));
        return 0;
    }
    case CK_RATE: {
        struct sup_rate r = { 0, 0 };
        if (strcmp(v, "0") != 0 && sup_parse_rate(v, &r) < 0) {
            snprintf(why, wl, "\"%s\" is not a rate N/PERIOD with N from 1 to %lld and PERIOD "
                     "from 1ms to 1d (e.g. 100/1s, 5000/1m; 0: no limit)", v, k->max);
            return -1;
        }
        memcpy(dst, &r, sizeof(r));
        return 0;
    }
    case CK_ENUM:
        if (!choice_ok(k->choices, v) || strlen(v) >= k->size) {
            snprintf(why, wl, "\"%s\" is not one of %s", v, k->choices);
            return -1;
        }
        memcpy(dst, v, strlen(v) + 1);
        return 0;
    }
    return -1;
}

static void apply_defaults(const char *section, void *base, const char *dir)
{
    char why[256];
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(keys[i].section, section) != 0)
            continue;
        if (keys[i].def) {
            if (set_value(&keys[i], base, keys[i].def, dir, why, sizeof(why)) < 0)
                abort();   /* a bad default is a bug in keys[] */
        } else {
            memset((char *)base + keys[i].off, 0, keys[i].size);
        }
    }
}

static const char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* "kind" or "kind NAME": the NAME part ("" for the bare kind), or NULL
 * when name is another section. */
static const char *section_kind(const char *name, const char *kind)
{
    size_t kl = strlen(kind);
    if (strncmp(name, kind, kl) != 0 || (name[kl] && name[kl] != ' ' && name[kl] != '\t'))
        return NULL;
    const char *tn = name + kl;
    while (*tn == ' ' || *tn == '\t')
        tn++;
    return tn;
}

/* A kind of [KIND NAME] section: what its NAME may be, and where the
 * sections of that kind already read are (n of them, each stride bytes,
 * the name and line at name_off and line_off), at most cap. */
struct named_kind {
    const char *kind;
    size_t max;                     /* size of the name's field */
    const char *bad, *bad_says;     /* refused besides control characters and '#' */
    const void *arr;
    size_t stride, name_off, line_off;
    int n, cap;
};

/* The checks every [KIND NAME] header shares: a name that fits, of
 * allowed characters, not a duplicate, not one too many.  0, or -1 after
 * an error. */
static int named_section(struct parse *p, const char *full, const char *tn,
                         const struct named_kind *k)
{
    if (!*tn)
        return perr(p, "[%s]: a %s section needs a name: [%s NAME]", k->kind, k->kind, k->kind), -1;
    if (strlen(tn) >= k->max)
        return perr(p, "[%s]: name longer than %zu characters", full, k->max - 1), -1;
    for (const char *c = tn; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == '#' || strchr(k->bad, *c))
            return perr(p, "[%s]: the name contains a control character, '#'%s", full,
                        k->bad_says), -1;
    for (int i = 0; i < k->n; i++) {
        const char *e = (const char *)k->arr + (size_t)i * k->stride;
        if (!strcmp(e + k->name_off, tn)) {
            int first;
            memcpy(&first, e + k->line_off, sizeof(first));
            return perr(p, "[%s]: duplicate section (first at line %d)", full, first), -1;
        }
    }
    if (k->n >= k->cap)
        return perr(p, "[%s]: too many %s sections (at most %d)", full, k->kind, k->cap), -1;
    return 0;
}

/* A section header line: register the section (errors for unknown or
 * duplicate ones).  inih sees the same line and passes the section to the
 * key handler, but we rely on our own record. */
static void section_start(struct parse *p, char *inner)
{
    const char *name = trim(inner);
    struct sup_config *cfg = p->cfg;
    kue_strlcpy(p->sect, name, sizeof(p->sect));
    p->type = NULL;
    p->rtype = NULL;
    p->cron = NULL;
    p->sect_known = 0;
    const char *tn;
    if ((tn = section_kind(name, "type"))) {
        const struct named_kind k = { "type", KUE_SB_TYPE_LEN, "", "", cfg->types,
                                      sizeof(cfg->types[0]), offsetof(struct sup_type, name),
                                      offsetof(struct sup_type, line), cfg->ntypes, SUP_MAX_TYPES };
        if (named_section(p, name, tn, &k) < 0)
            return;
        struct sup_type *t = &cfg->types[cfg->ntypes++];
        memset(t, 0, sizeof(*t));
        apply_defaults("type", t, cfg->dir);
        kue_strlcpy(t->name, tn, sizeof(t->name));
        t->line = p->line;
        p->type = t;
        p->sect_known = 1;
        return;
    }
    if ((tn = section_kind(name, "retention")) && *tn) {
        const struct named_kind k = { "retention", KUE_SB_TYPE_LEN, "", "", cfg->ret_types,
                                      sizeof(cfg->ret_types[0]), offsetof(struct sup_retention, type),
                                      offsetof(struct sup_retention, line), cfg->nretention,
                                      SUP_MAX_TYPES };
        if (named_section(p, name, tn, &k) < 0)
            return;
        struct sup_retention *r = &cfg->ret_types[cfg->nretention++];
        memset(r, 0xff, sizeof(*r));   /* -1: from [retention] */
        kue_strlcpy(r->type, tn, sizeof(r->type));
        r->line = p->line;
        p->rtype = r;
        p->sect_known = 1;
        return;
    }
    if ((tn = section_kind(name, "cron"))) {
        const struct named_kind k = { "cron", sizeof(cfg->crons[0].name), "/ ", ", '/' or a space",
                                      cfg->crons, sizeof(cfg->crons[0]),
                                      offsetof(struct sup_cron, name), offsetof(struct sup_cron, line),
                                      cfg->ncron, SUP_MAX_CRON };
        if (named_section(p, name, tn, &k) < 0)
            return;
        struct sup_cron *c = &cfg->crons[cfg->ncron++];
        memset(c, 0, sizeof(*c));
        apply_defaults("cron", c, cfg->dir);
        kue_strlcpy(c->name, tn, sizeof(c->name));
        c->line = p->line;
        p->cron = c;
        p->sect_known = 1;
        return;
    }
    for (size_t i = 0; i < NSECTIONS; i++)
        if (!strcmp(sections[i], name)) {
            if (p->sect_line[i]) {
                perr(p, "[%s]: duplicate section (first at line %d)", name, p->sect_line[i]);
                return;
            }
            p->sect_line[i] = p->line;
            if (!strcmp(name, "web"))
                cfg->web = 1;
            p->sect_known = 1;
            return;
        }
    perr(p, "[%s]: unknown section (known: supervisor, redis, promotion, search, web, retention, "
         "type NAME, retention TYPE, cron NAME)", name);
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    struct parse *p = user;
    struct sup_config *cfg = p->cfg;
    (void)section;
    if (p->failed)
        return 0;
    if (!p->sect[0] && !p->sect_known)
        return perr(p, "%s: key outside of any section", name);
    if (!p->sect_known)
        return 0;
    const char *ksect = p->type ? "type" : p->rtype ? "retention" : p->cron ? "cron" : p->sect;
    const struct cfg_key *k = NULL;
    size_t ki = 0;
    for (; ki < NKEYS; ki++)
        if (!strcmp(keys[ki].section, ksect) && !strcmp(keys[ki].name, name)) {
            k = &keys[ki];
            break;
        }
    if (!k)
        return perr(p, "[%s] %s: unknown key", p->sect, name);
    if (p->rtype && !strcmp(name, "interval"))
        return perr(p, "[%s] interval: only in [retention]", p->sect);
    int *seen = p->type ? &p->tline[p->type - cfg->types][ki]
              : p->rtype ? &p->rline[p->rtype - cfg->ret_types][ki]
              : p->cron ? &p->cline[p->cron - cfg->crons][ki] : &p->gline[ki];
    if (*seen)
        return perr(p, "[%s] %s: set twice (first at line %d)", p->sect, name, *seen);
    *seen = p->line;
    if (!*value && k->kind != CK_STR && k->kind != CK_PATH)
        return perr(p, "[%s] %s: empty value", p->sect, name);
    char why[512];
    void *base = p->type ? (void *)p->type : p->rtype ? (void *)p->rtype
               : p->cron ? (void *)p->cron : !strcmp(ksect, "retention") ? (void *)&cfg->retention
               : (void *)cfg;
    if (set_value(k, base, value, cfg->dir, why, sizeof(why)) < 0)
        return perr(p, "[%s] %s: %s", p->sect, name, why);
    if (p->cron) {
        struct sup_cron *c = p->cron;
        int *at = !strcmp(name, "schedule") ? &c->schedule_line : !strcmp(name, "type") ? &c->type_line
                : !strcmp(name, "data") ? &c->data_line : !strcmp(name, "priority") ? &c->priority_line
                : !strcmp(name, "timezone") ? &c->timezone_line
                : !strcmp(name, "backoff") ? &c->backoff_line : NULL;
        if (at)
            *at = p->line;
    }
    if (p->type && k->kind == CK_HANDLER)
        p->type->handler_line = p->line;
    if (p->type && !strcmp(name, "prefix"))
        p->type->prefix_line = p->line;
    if (!p->type && !strcmp(name, "plugins"))
        cfg->plugins_line = p->line;
    return 1;
}

static int global_line(const struct parse *p, const char *section, const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].section, section) && !strcmp(keys[i].name, name))
            return p->gline[i];
    return 0;
}

static int check_listen(const char *s, char *why, size_t wl)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s) {
        snprintf(why, wl, "\"%s\" is not HOST:PORT", s);
        return -1;
    }
    long long port;
    if (kue_parse_int(colon + 1, 1, 65535, &port) < 0) {
        snprintf(why, wl, "\"%s\": port must be 1 to 65535", s);
        return -1;
    }
    return 0;
}

/* Search PATH for an executable; 0 and the path in out, or -1. */
static int find_exe(const char *name, char *out, size_t len)
{
    if (strchr(name, '/')) {
        if (access(name, X_OK) < 0)
            return -1;
        kue_strlcpy(out, name, len);
        return 0;
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *c = strchr(path, ':');
        size_t l = c ? (size_t)(c - path) : strlen(path);
        char cand[SUP_PATH_LEN];
        if (l && (size_t)snprintf(cand, sizeof(cand), "%.*s/%s", (int)l, path, name) < sizeof(cand) &&
            access(cand, X_OK) == 0) {
            kue_strlcpy(out, cand, len);
            return 0;
        }
        if (!c)
            break;
        path = c + 1;
    }
    return -1;
}

void sup_cron_init(struct sup_cron *c, const char *name)
{
    memset(c, 0, sizeof(*c));
    apply_defaults("cron", c, "/");
    kue_strlcpy(c->name, name, sizeof(c->name));
}

int sup_cron_set(struct sup_cron *c, const char *name, const char *value, char *why, size_t wl)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].section, "cron") && !strcmp(keys[i].name, name)) {
            char w[512];
            if (set_value(&keys[i], c, value, "/", w, sizeof(w)) < 0) {
                snprintf(why, wl, "%s: %s", name, w);
                return -1;
            }
            return 0;
        }
    snprintf(why, wl, "%s: unknown key", name);
    return -1;
}

int sup_cron_check(struct sup_cron *c, char *why, size_t wl, int *line)
{
    struct kue_cron_expr e;
    char w[400];
    *line = c->schedule_line ? c->schedule_line : c->line;
    if (!c->schedule[0]) {
        snprintf(why, wl, "schedule: missing");
        return -1;
    }
    if (kue_cron_parse(c->schedule, &e, w, sizeof(w)) < 0) {
        snprintf(why, wl, "schedule: %s", w);
        return -1;
    }
    *line = c->type_line ? c->type_line : c->line;
    if (!c->type[0]) {
        snprintf(why, wl, "type: missing");
        return -1;
    }
    *line = c->timezone_line;
    if (!kue_cron_tz_ok(c->timezone)) {
        snprintf(why, wl, "timezone: \"%s\" is not UTC or a zone of the tz database "
                 "(/usr/share/zoneinfo), e.g. Europe/Berlin", c->timezone);
        return -1;
    }
    *line = c->data_line;
    if (kue_json_check(c->data, strlen(c->data), w, sizeof(w)) < 0) {
        snprintf(why, wl, "data: not JSON: %s", w);
        return -1;
    }
    *line = c->priority_line;
    static const struct { const char *name; int v; } prios[] = {
        { "low", 10 }, { "normal", 0 }, { "medium", -5 }, { "high", -10 }, { "critical", -15 },
    };
    long long pv;
    int named = 0;
    for (size_t i = 0; i < sizeof(prios) / sizeof(prios[0]); i++)
        if (!strcmp(c->priority, prios[i].name)) {
            snprintf(c->priority, sizeof(c->priority), "%d", prios[i].v);
            named = 1;
        }
    if (!named && kue_parse_int(c->priority, -1000000000, 1000000000, &pv) < 0) {
        snprintf(why, wl, "priority: \"%s\" is not low, normal, medium, high, critical or an integer",
                 c->priority);
        return -1;
    }
    *line = c->backoff_line;
    if (c->backoff[0] && strcmp(c->backoff, "true") != 0 &&
        (c->backoff[0] != '{' || kue_json_check(c->backoff, strlen(c->backoff), w, sizeof(w)) < 0)) {
        snprintf(why, wl, "backoff: \"%s\" is not true or a JSON object", c->backoff);
        return -1;
    }
    return 0;
}

/* A prefix is a non-empty word without white space, at most 63 bytes
 * (the field's size, checked when it is set). */
#define PREFIX_RULE "must be non-empty, without spaces"
static int prefix_ok(const char *s)
{
    return s[0] && !strpbrk(s, " \t\r\n");
}

/* Each type's effective prefix: its own, or [redis] prefix. */
static void type_prefixes(struct sup_config *cfg)
{
    int style = kue_key_style_parse(cfg->key_style);
    for (int i = 0; i < cfg->ntypes; i++) {
        struct sup_type *t = &cfg->types[i];
        if (!t->prefix_line)
            kue_strlcpy(t->prefix, cfg->prefix, sizeof(t->prefix));
        kue_key_prefix(t->keys_prefix, sizeof(t->keys_prefix), t->prefix, style);
    }
}

static int validate(struct parse *p)
{
    struct sup_config *cfg = p->cfg;
    char why[512];

    /* environment overrides (containers) */
    const char *e;
    int env_url = 0, env_prefix = 0, env_listen = 0;
    if ((e = getenv("KUE_REDIS_URL")) && *e) {
        if (strlen(e) >= sizeof(cfg->redis_url))
            return kerr(p, 0, "environment KUE_REDIS_URL: value too long");
        kue_strlcpy(cfg->redis_url, e, sizeof(cfg->redis_url));
        env_url = 1;
    }
    if ((e = getenv("KUE_PREFIX")) && *e) {
        if (strlen(e) >= sizeof(cfg->prefix))
            return kerr(p, 0, "environment KUE_PREFIX: value too long");
        kue_strlcpy(cfg->prefix, e, sizeof(cfg->prefix));
        env_prefix = 1;
    }
    if ((e = getenv("KUE_WEB_LISTEN")) && *e) {
        if (strlen(e) >= sizeof(cfg->web_listen))
            return kerr(p, 0, "environment KUE_WEB_LISTEN: value too long");
        kue_strlcpy(cfg->web_listen, e, sizeof(cfg->web_listen));
        cfg->web = 1;
        env_listen = 1;
    }

    /* [redis] */
    int line = global_line(p, "redis", "url");
    if (!strcmp(cfg->redis_url, "embedded")) {
        cfg->embedded = 1;
        char exe[SUP_PATH_LEN];
        if (find_exe(cfg->redis_server, exe, sizeof(exe)) < 0)
            return kerr(p, global_line(p, "redis", "server"),
                        "[redis] server: \"%s\" not found or not executable (needed for url = embedded)",
                        cfg->redis_server);
        kue_strlcpy(cfg->redis_server, exe, sizeof(cfg->redis_server));
    } else {
        kue_url_t u;
        if (kue_url_parse(cfg->redis_url, &u, why, sizeof(why)) < 0)
            return env_url ? kerr(p, 0, "environment KUE_REDIS_URL: %s", why)
                           : kerr(p, line, "[redis] url: %s", why);
        /* a cluster implies the hashtag key style (one queue, one slot) */
        if (u.nseeds > 0) {
            if (global_line(p, "redis", "key_style") > 0 && strcmp(cfg->key_style, "hashtag") != 0)
                return kerr(p, global_line(p, "redis", "key_style"),
                            "[redis] key_style: a redis-cluster:// url needs hashtag");
            kue_strlcpy(cfg->key_style, "hashtag", sizeof(cfg->key_style));
        }
    }
    line = global_line(p, "redis", "prefix");
    if (!prefix_ok(cfg->prefix))
        return env_prefix ? kerr(p, 0, "environment KUE_PREFIX: " PREFIX_RULE)
                          : kerr(p, line, "[redis] prefix: " PREFIX_RULE);
    kue_key_prefix(cfg->keys_prefix, sizeof(cfg->keys_prefix), cfg->prefix,
                   kue_key_style_parse(cfg->key_style));
    for (int i = 0; i < cfg->ntypes; i++) {
        struct sup_type *t = &cfg->types[i];
        if (t->prefix_line && !prefix_ok(t->prefix))
            return kerr(p, t->prefix_line, "[type %s] prefix: " PREFIX_RULE, t->name);
    }
    type_prefixes(cfg);

    /* [supervisor] */
    if (!cfg->run_dir[0])
        return kerr(p, global_line(p, "supervisor", "run_dir"), "[supervisor] run_dir: must not be empty");
    if (cfg->respawn_delay_ms > cfg->respawn_max_delay_ms)
        return kerr(p, global_line(p, "supervisor", "respawn_max_delay"),
                    "[supervisor] respawn_max_delay: smaller than respawn_delay");
    if (cfg->user[0] && !getpwnam(cfg->user))
        return kerr(p, global_line(p, "supervisor", "user"), "[supervisor] user: no such user \"%s\"",
                    cfg->user);
    if (cfg->group[0] && !getgrnam(cfg->group))
        return kerr(p, global_line(p, "supervisor", "group"), "[supervisor] group: no such group \"%s\"",
                    cfg->group);
    if (cfg->group[0] && !cfg->user[0])
        return kerr(p, global_line(p, "supervisor", "group"), "[supervisor] group: needs user as well");
    /* the embedded Redis listens on a socket only the supervisor's user
     * can open (run_dir is closed to others): workers running as another
     * user could never connect */
    if (cfg->embedded && cfg->user[0] && geteuid() == 0)
        return kerr(p, global_line(p, "supervisor", "user"),
                    "[supervisor] user: cannot be combined with [redis] url = embedded (the embedded "
                    "Redis socket is private to the supervisor's user); run Redis separately or "
                    "leave user empty");

    /* plugins directory: present, a directory, not writable by others */
    line = cfg->plugins_line;
    struct stat st;
    if (cfg->ntypes > 0) {
        if (stat(cfg->plugins, &st) < 0)
            return kerr(p, line, "[supervisor] plugins: %s: %s", cfg->plugins, strerror(errno));
        if (!S_ISDIR(st.st_mode))
            return kerr(p, line, "[supervisor] plugins: %s: not a directory", cfg->plugins);
        if (st.st_mode & (S_IWGRP | S_IWOTH))
            return kerr(p, line,
                        "[supervisor] plugins: %s is writable by group or others (whoever can write "
                        "it can run code in the workers; chmod go-w)", cfg->plugins);
        /* another owner is fine on a read-only mount (nobody here can change it) */
        if (st.st_uid != 0 && st.st_uid != geteuid() && !kue_pl_read_only(cfg->plugins))
            return kerr(p, line, "[supervisor] plugins: %s is owned by uid %u, not by root or uid %u "
                        "(mount it read-only, or chown it)",
                        cfg->plugins, (unsigned)st.st_uid, (unsigned)geteuid());
    }

    /* types */
    long long total = 0;
    for (int i = 0; i < cfg->ntypes; i++) {
        struct sup_type *t = &cfg->types[i];
        if (!t->handler_line)
            t->handler_line = t->line;
        char rel[SUP_PATH_LEN];
        if (t->handler[0])
            kue_strlcpy(rel, t->handler, sizeof(rel));
        else
            snprintf(rel, sizeof(rel), "%s.so", t->name);
        if (join_path(t->handler, sizeof(t->handler), cfg->plugins, rel) < 0)
            return kerr(p, t->handler_line, "[type %s] handler: path too long", t->name);
        if (stat(t->handler, &st) < 0)
            return kerr(p, t->handler_line, "[type %s] handler: %s: %s", t->name, t->handler,
                        strerror(errno));
        if (!S_ISREG(st.st_mode))
            return kerr(p, t->handler_line, "[type %s] handler: %s: not a regular file", t->name,
                        t->handler);
        total += t->processes;
    }
    if (total > SUP_MAX_PROCESSES)
        return kerr(p, 0, "%lld worker processes in all types; at most %d", total, SUP_MAX_PROCESSES);

    /* [web] */
    if (cfg->web) {
        if (check_listen(cfg->web_listen, why, sizeof(why)) < 0)
            return env_listen ? kerr(p, 0, "environment KUE_WEB_LISTEN: %s", why)
                              : kerr(p, global_line(p, "web", "listen"), "[web] listen: %s", why);
        if (cfg->web_auth[0] && !strchr(cfg->web_auth, ':'))
            return kerr(p, global_line(p, "web", "auth"), "[web] auth: must be user:password");
        if (!cfg->web_tls_cert[0] != !cfg->web_tls_key[0])
            return kerr(p, global_line(p, "web", cfg->web_tls_cert[0] ? "tls_cert" : "tls_key"),
                        "[web] %s: tls_cert and tls_key go together",
                        cfg->web_tls_cert[0] ? "tls_cert" : "tls_key");
        if (cfg->web_tls_cert[0] && access(cfg->web_tls_cert, R_OK) < 0)
            return kerr(p, global_line(p, "web", "tls_cert"), "[web] tls_cert: %s: %s",
                        cfg->web_tls_cert, strerror(errno));
        if (cfg->web_tls_key[0] && access(cfg->web_tls_key, R_OK) < 0)
            return kerr(p, global_line(p, "web", "tls_key"), "[web] tls_key: %s: %s",
                        cfg->web_tls_key, strerror(errno));
    }

    /* [retention TYPE]: keys not set there come from [retention] */
    for (int i = 0; i < cfg->nretention; i++) {
        struct sup_retention *r = &cfg->ret_types[i];
        if (r->keep_complete < 0)
            r->keep_complete = cfg->retention.keep_complete;
        if (r->keep_complete_for_ms < 0)
            r->keep_complete_for_ms = cfg->retention.keep_complete_for_ms;
        if (r->keep_failed < 0)
            r->keep_failed = cfg->retention.keep_failed;
        if (r->keep_failed_for_ms < 0)
            r->keep_failed_for_ms = cfg->retention.keep_failed_for_ms;
        r->interval_ms = cfg->retention.interval_ms;
    }

    /* [cron NAME] */
    for (int i = 0; i < cfg->ncron; i++) {
        struct sup_cron *c = &cfg->crons[i];
        if (sup_cron_check(c, why, sizeof(why), &line) < 0)
            return kerr(p, line, "[cron %s] %s", c->name, why);
        /* schedules live in the keys of [redis] prefix, with its leader */
        const struct sup_type *ct = sup_config_type(cfg, c->type);
        if (ct && strcmp(ct->keys_prefix, cfg->keys_prefix) != 0)
            return kerr(p, c->type_line, "[cron %s] type: type %s is on prefix %s; cron makes jobs "
                        "on [redis] prefix %s only", c->name, c->type, ct->prefix, cfg->prefix);
    }
    return 0;
}

#define LINE_MAX_LEN 4096
#define FILE_MAX_LEN (1024 * 1024)

/* The one INI reader (docs/security.md): lines end with LF or CRLF; a
 * comment line starts with ';' or '#'; " ;" starts a comment after a
 * value; a section header is "[name]" with nothing after it but a
 * comment; a key line is "name = value" (or "name: value").  NUL, other
 * control characters than tab, and a CR that does not end a line are
 * errors, as is a line over LINE_MAX_LEN. */
static void parse_text(struct parse *p, const char *text, size_t len)
{
    size_t off = 0;
    if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
        off = 3;   /* UTF-8 byte order mark */
    char *line = malloc(LINE_MAX_LEN + 1);
    if (!line) {
        perr(p, "out of memory");
        return;
    }
    while (off < len && !p->failed) {
        const char *nl = memchr(text + off, '\n', len - off);
        size_t n = nl ? (size_t)(nl - (text + off)) : len - off;
        p->line++;
        const char *src = text + off;
        off += n + (nl ? 1 : 0);
        if (n && src[n - 1] == '\r')
            n--;
        if (n > LINE_MAX_LEN) {
            perr(p, "line too long (at most %d characters)", LINE_MAX_LEN);
            break;
        }
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)src[i];
            if ((c < 0x20 && c != '\t') || c == 0x7f) {
                perr(p, "control character 0x%02x (%s)", c,
                     c == '\r' ? "lines must end with LF or CRLF" : c == 0 ? "NUL byte"
                                                                        : "not allowed in a config file");
                break;
            }
        }
        if (p->failed)
            break;
        memcpy(line, src, n);
        line[n] = '\0';
        char *l = line;
        while (*l == ' ' || *l == '\t')
            l++;
        size_t ll = strlen(l);
        while (ll && (l[ll - 1] == ' ' || l[ll - 1] == '\t'))
            l[--ll] = '\0';
        if (!*l || *l == ';' || *l == '#')
            continue;
        if (*l == '[') {
            char *end = strchr(l, ']');
            if (!end) {
                perr(p, "syntax error: '[' without ']'");
                break;
            }
            char *after = end + 1;
            while (*after == ' ' || *after == '\t')
                after++;
            if (*after && *after != ';' && *after != '#') {
                perr(p, "syntax error: text after ']'");
                break;
            }
            *end = '\0';
            section_start(p, l + 1);
            continue;
        }
        char *sep = l + strcspn(l, "=:");
        if (!*sep) {
            perr(p, "syntax error (expected [section] or key = value)");
            break;
        }
        char *name = l, *value = sep + 1;
        *sep = '\0';
        size_t nl2 = strlen(name);
        while (nl2 && (name[nl2 - 1] == ' ' || name[nl2 - 1] == '\t'))
            name[--nl2] = '\0';
        if (!*name) {
            perr(p, "syntax error (expected [section] or key = value)");
            break;
        }
        while (*value == ' ' || *value == '\t')
            value++;
        for (char *c = value; *c; c++)
            if (*c == ';' && c > value && (c[-1] == ' ' || c[-1] == '\t')) {
                *c = '\0';
                break;
            }
        size_t vl = strlen(value);
        while (vl && (value[vl - 1] == ' ' || value[vl - 1] == '\t'))
            value[--vl] = '\0';
        handler(p, p->sect, name, value);
    }
    free(line);
}

static int load(struct sup_config *cfg, struct parse *p)
{
    apply_defaults("supervisor", cfg, cfg->dir);
    apply_defaults("redis", cfg, cfg->dir);
    apply_defaults("promotion", cfg, cfg->dir);
    apply_defaults("search", cfg, cfg->dir);
    apply_defaults("web", cfg, cfg->dir);
    apply_defaults("retention", &cfg->retention, cfg->dir);
    cfg->web = 0;

    parse_text(p, p->str, p->str_len);
    if (p->failed)
        return -1;
    return validate(p);
}

/* Zero *cfg without writing to the parts that are zero already: a config
 * fresh from calloc (about 400 KB, room for every type, cron and
 * retention entry, most of it never used) then stays out of memory. */
static void zero_config(struct sup_config *cfg)
{
    static const unsigned char zero[4096];
    unsigned char *p = (unsigned char *)cfg;
    for (size_t off = 0, n = sizeof(*cfg); off < n; off += sizeof zero) {
        size_t len = n - off < sizeof zero ? n - off : sizeof zero;
        if (memcmp(p + off, zero, len) != 0)
            memset(p + off, 0, len);
    }
}

int sup_config_load_string(struct sup_config *cfg, const char *text, const char *name,
                           const char *dir, char *err, size_t errlen)
{
    zero_config(cfg);
    struct parse *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    kue_strlcpy(cfg->file, name, sizeof(cfg->file));
    kue_strlcpy(cfg->dir, dir, sizeof(cfg->dir));
    p->cfg = cfg;
    p->name = name;
    p->err = err;
    p->errlen = errlen;
    p->str = text;
    p->str_len = strlen(text);
    int rc = load(cfg, p);
    free(p);
    return rc;
}

int sup_config_load(struct sup_config *cfg, const char *path, char *err, size_t errlen)
{
    zero_config(cfg);
    kue_strlcpy(cfg->file, path, sizeof(cfg->file));
    /* the directory of the file, absolute: relative paths hang off it */
    char tmp[SUP_PATH_LEN];
    kue_strlcpy(tmp, path, sizeof(tmp));
    char *slash = strrchr(tmp, '/');
    if (slash == tmp)
        tmp[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        strcpy(tmp, ".");
    if (!realpath(tmp, cfg->dir)) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    FILE *fp = fopen(path, "re");
    if (!fp) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct parse *p = calloc(1, sizeof(*p));
    if (!p) {
        fclose(fp);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    p->cfg = cfg;
    p->name = path;
    p->err = err;
    p->errlen = errlen;
    /* the whole file, bounded */
    char *text = malloc(FILE_MAX_LEN + 1);
    size_t len = text ? fread(text, 1, FILE_MAX_LEN + 1, fp) : 0;
    int rc = -1;
    if (!text)
        snprintf(err, errlen, "%s: out of memory", path);
    else if (ferror(fp))
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
    else if (len > FILE_MAX_LEN)
        snprintf(err, errlen, "%s: larger than %d bytes", path, FILE_MAX_LEN);
    else {
        p->str = text;
        p->str_len = len;
        rc = load(cfg, p);
    }
    free(text);
    fclose(fp);
    free(p);
    return rc;
}

#define CHILD_ENV_DROP_N 3
void sup_child_env(char **out, const char *extra)
{
    extern char **environ;
    static const char *const drop[CHILD_ENV_DROP_N] = { "KUE_REDIS_URL=", "KUE_WEB_AUTH=",
                                                        "KUE_SCOREBOARD_FD=" };
    int n = 0;
    for (char **e = environ; e && *e && n < SUP_CHILD_ENV_MAX - 2; e++) {
        int skip = 0;
        for (int i = 0; i < CHILD_ENV_DROP_N; i++)
            if (!strncmp(*e, drop[i], strlen(drop[i])))
                skip = 1;
        if (!skip)
            out[n++] = *e;
    }
    if (extra)
        out[n++] = (char *)extra;
    out[n] = NULL;
}

const char *sup_drop_privileges(const struct sup_config *cfg)
{
    if (geteuid() != 0 || !cfg->user[0])
        return NULL;
    struct passwd *pw = getpwnam(cfg->user);
    if (!pw)
        return "unknown user";
    gid_t gid = pw->pw_gid;
    if (cfg->group[0]) {
        struct group *gr = getgrnam(cfg->group);
        if (!gr)
            return "unknown group";
        gid = gr->gr_gid;
    }
    if (initgroups(cfg->user, gid) < 0 || setgid(gid) < 0 || setuid(pw->pw_uid) < 0)
        return "cannot drop privileges";
    if (setuid(0) == 0)
        return "privileges still held after setuid";
    return NULL;
}

static char checker_bin[PATH_MAX];

void sup_plugin_checker(const char *path)
{
    kue_strlcpy(checker_bin, path ? path : "", sizeof(checker_bin));
}

/* kue-worker, next to our own executable (or as set above). */
static int worker_path(char *out, size_t len)
{
    if (checker_bin[0])
        return (size_t)snprintf(out, len, "%s", checker_bin) < len ? 0 : -1;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    return (size_t)snprintf(out, len, "%s/kue-worker", self) < len ? 0 : -1;
}

pid_t sup_plugin_check_spawn(const struct sup_config *cfg, const char *path, const char *type,
                             int *rfd, char *err, size_t errlen)
{
    char bin[PATH_MAX];
    if (worker_path(bin, sizeof(bin)) < 0 || access(bin, X_OK) < 0) {
        snprintf(err, errlen, "kue-worker not found next to kue-supervisor (it checks plugins)");
        return -1;
    }
    char *argv[] = { "kue-supervisor: plugin check", "--check", "--type", (char *)type,
                     "--plugin", (char *)path, NULL };
    char *env[SUP_CHILD_ENV_MAX];
    sup_child_env(env, NULL);
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    if (pid == 0) {
        /* an exec'd kue-worker, as the configured user: nothing of the
         * master (and none of its privileges) is in the process that runs
         * the plugin's constructors */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int nul = open("/dev/null", O_RDWR);
        if (nul >= 0) {
            dup2(nul, STDIN_FILENO);
            dup2(nul, STDOUT_FILENO);
        }
        dup2(pfd[1], STDERR_FILENO);
        const char *why = sup_drop_privileges(cfg);
        if (why) {
            if (write(STDERR_FILENO, why, strlen(why)) < 0) {}
            _exit(1);
        }
        /* after the drop (a change of credentials clears it): a check
         * never outlives the process that started it */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        execve(bin, argv, env);
        _exit(127);
    }
    close(pfd[1]);
    *rfd = pfd[0];
    return pid;
}

void sup_plugin_check_result(const char *path, int status, int timed_out, char *msg, size_t got,
                             char *err, size_t errlen)
{
    while (got && (msg[got - 1] == '\n' || msg[got - 1] == '\r'))
        msg[--got] = '\0';
    if (timed_out)
        snprintf(err, errlen, "%s: loading took longer than 10 s", path);
    else if (got)
        kue_strlcpy(err, msg, errlen);
    else if (WIFSIGNALED(status))
        snprintf(err, errlen, "%s: loading it crashed (signal %d)", path, WTERMSIG(status));
    else
        snprintf(err, errlen, "%s: cannot load", path);
}

int sup_plugin_check(const struct sup_config *cfg, const char *path, const char *type, char *err,
                     size_t errlen)
{
    int rfd;
    pid_t pid = sup_plugin_check_spawn(cfg, path, type, &rfd, err, errlen);
    if (pid < 0)
        return -1;
    int pfd[2] = { rfd, -1 };
    char msg[1024];
    size_t got = 0;
    int64_t deadline = kue_mono_ms() + 10000;
    for (;;) {
        int64_t left = deadline - kue_mono_ms();
        if (left <= 0)
            break;
        struct pollfd pf = { .fd = pfd[0], .events = POLLIN };
        int n = poll(&pf, 1, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        ssize_t r = read(pfd[0], msg + got, sizeof(msg) - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
        if (got == sizeof(msg) - 1)
            break;
    }
    msg[got] = '\0';
    close(pfd[0]);
    int status = 0;
    pid_t w;
    int64_t wdeadline = kue_mono_ms() + 2000;
    while ((w = waitpid(pid, &status, WNOHANG)) == 0 && kue_mono_ms() < wdeadline)
        usleep(2000);
    if (w == 0) {
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        sup_plugin_check_result(path, status, 1, msg, got, err, errlen);
        return -1;
    }
    if (w == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    sup_plugin_check_result(path, status, 0, msg, got, err, errlen);
    return -1;
}

int sup_config_check_plugins(const struct sup_config *cfg, char *err, size_t errlen)
{
    /* every type's check at once: the wait is that of the slowest, at
     * most 12 s, not the sum */
    struct run { pid_t pid; int fd; char msg[1024]; size_t got; int status, done; };
    int n = cfg->ntypes;
    if (n == 0)
        return 0;
    struct run *r = calloc((size_t)n, sizeof(*r));
    struct pollfd *pf = calloc((size_t)n, sizeof(*pf));
    if (!r || !pf) {
        free(r);
        free(pf);
        snprintf(err, errlen, "%s: out of memory", cfg->file);
        return -1;
    }
    int failed = -1;
    char why[1024] = "";
    for (int i = 0; i < n; i++)
        r[i].fd = -1;
    for (int i = 0; i < n; i++) {
        const struct sup_type *t = &cfg->types[i];
        r[i].pid = sup_plugin_check_spawn(cfg, t->handler, t->name, &r[i].fd, why, sizeof(why));
        if (r[i].pid < 0) {
            r[i].fd = -1;
            r[i].done = 1;
            if (failed < 0)
                failed = i;
            break;
        }
    }
    int64_t deadline = kue_mono_ms() + 10000;
    for (;;) {
        int open_n = 0;
        for (int i = 0; i < n; i++) {
            pf[i].fd = r[i].fd;   /* -1: ignored by poll */
            pf[i].events = POLLIN;
            pf[i].revents = 0;
            open_n += r[i].fd >= 0;
        }
        int64_t left = deadline - kue_mono_ms();
        if (!open_n || left <= 0)
            break;
        int k = poll(pf, (nfds_t)n, (int)left);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        for (int i = 0; i < n; i++) {
            if (r[i].fd < 0 || !pf[i].revents)
                continue;
            ssize_t got = read(r[i].fd, r[i].msg + r[i].got, sizeof(r[i].msg) - 1 - r[i].got);
            if (got < 0 && errno == EINTR)
                continue;
            if (got > 0)
                r[i].got += (size_t)got;
            if (got <= 0 || r[i].got == sizeof(r[i].msg) - 1) {
                close(r[i].fd);
                r[i].fd = -1;
            }
        }
    }
    /* collect every child (killed when still loading at the deadline) */
    int64_t wdeadline = kue_mono_ms() + 2000;
    for (int i = 0; i < n; i++) {
        if (r[i].pid <= 0)
            continue;
        int timed_out = r[i].fd >= 0;
        pid_t w = 0;
        while (!timed_out && (w = waitpid(r[i].pid, &r[i].status, WNOHANG)) == 0 &&
               kue_mono_ms() < wdeadline)
            usleep(2000);
        if (timed_out || w == 0) {
            timed_out = 1;
            kill(r[i].pid, SIGKILL);
            while (waitpid(r[i].pid, &r[i].status, 0) < 0 && errno == EINTR) {}
        }
        if (r[i].fd >= 0)
            close(r[i].fd);
        r[i].msg[r[i].got] = '\0';
        int ok = !timed_out && WIFEXITED(r[i].status) && WEXITSTATUS(r[i].status) == 0;
        if (!ok && (failed < 0 || i < failed)) {
            failed = i;
            sup_plugin_check_result(cfg->types[i].handler, r[i].status, timed_out, r[i].msg,
                                    r[i].got, why, sizeof(why));
        }
    }
    free(r);
    free(pf);
    if (failed < 0)
        return 0;
    const struct sup_type *t = &cfg->types[failed];
    snprintf(err, errlen, "%s:%d: [type %s] handler: %s", cfg->file, t->handler_line, t->name, why);
    return -1;
}

int sup_config_prefixes(const struct sup_config *cfg, const char **out, int max)
{
    int n = 0;
    for (int i = -1; i < cfg->ntypes; i++) {
        const char *kp = i < 0 ? cfg->keys_prefix : cfg->types[i].keys_prefix;
        int seen = 0;
        for (int j = -1; j < i && !seen; j++)
            seen = !strcmp(kp, j < 0 ? cfg->keys_prefix : cfg->types[j].keys_prefix);
        if (seen)
            continue;
        if (out && n < max)
            out[n] = kp;
        n++;
    }
    return n;
}

int sup_config_prefix_list(const struct sup_config *cfg, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = -1; i < cfg->ntypes; i++) {
        const char *pf = i < 0 ? cfg->prefix : cfg->types[i].prefix;
        const char *kp = i < 0 ? cfg->keys_prefix : cfg->types[i].keys_prefix;
        int seen = 0;
        for (int j = -1; j < i && !seen; j++)
            seen = !strcmp(kp, j < 0 ? cfg->keys_prefix : cfg->types[j].keys_prefix);
        if (seen)
            continue;
        int w = snprintf(buf + n, len - n, "%s%s", n ? "," : "", pf);
        if (w < 0 || (size_t)w >= len - n)
            return -1;
        n += (size_t)w;
    }
    return 0;
}

const struct sup_retention *sup_config_retention(const struct sup_config *cfg, const char *type)
{
    for (int i = 0; i < cfg->nretention; i++)
        if (!strcmp(cfg->ret_types[i].type, type))
            return &cfg->ret_types[i];
    return &cfg->retention;
}

int sup_parse_rate(const char *v, struct sup_rate *r)
{
    const char *slash = strchr(v, '/');
    char num[24];
    long long n;
    int64_t ms;
    if (!slash || slash == v || (size_t)(slash - v) >= sizeof num) return -1;
    memcpy(num, v, (size_t)(slash - v));
    num[slash - v] = '\0';
    if (kue_parse_int(num, 1, SUP_MAX_RATE, &n) < 0) return -1;
    if (kue_parse_duration(slash + 1, &ms) < 0 || ms < 1 || ms > SUP_MAX_RATE_PERIOD_MS) return -1;
    r->n = n;
    r->period_ms = ms;
    return 0;
}

const struct sup_type *sup_config_type(const struct sup_config *cfg, const char *name)
{
    for (int i = 0; i < cfg->ntypes; i++)
        if (!strcmp(cfg->types[i].name, name))
            return &cfg->types[i];
    return NULL;
}

static int key_differs(const struct cfg_key *k, const void *a, const void *b)
{
    const char *x = (const char *)a + k->off, *y = (const char *)b + k->off;
    switch (k->kind) {
    case CK_STR: case CK_PATH: case CK_ENUM: case CK_HANDLER:
        return strcmp(x, y) != 0;   /* bytes after the NUL may differ */
    default:
        return memcmp(x, y, k->size) != 0;
    }
}

/* The keys of section (NULL: every global section) that differ between
 * a and b: names appended to buf, the union of their apply bits
 * returned.  Fixed keys set SUP_APPLY_FIXED_CHANGED. */
static unsigned changes(const char *section, const void *a, const void *b, char *buf, size_t len)
{
    unsigned bits = 0;
    size_t n = buf && len ? strlen(buf) : 0;
    for (size_t i = 0; i < NKEYS; i++) {
        const struct cfg_key *k = &keys[i];
        if (section ? strcmp(k->section, section) != 0
                    : !strcmp(k->section, "type") || !strcmp(k->section, "retention") ||
                      !strcmp(k->section, "cron"))
            continue;
        if (!key_differs(k, a, b))
            continue;
        bits |= k->apply ? k->apply : SUP_APPLY_FIXED_CHANGED;
        if (buf && len > n) {
            int w = section ? snprintf(buf + n, len - n, "%s%s", n ? ", " : "", k->name)
                            : snprintf(buf + n, len - n, "%s[%s] %s", n ? ", " : "", k->section,
                                       k->name);
            if (w > 0)
                n = (size_t)w >= len - n ? len - 1 : n + (size_t)w;
        }
    }
    return bits;
}

unsigned sup_config_changes(const struct sup_config *a, const struct sup_config *b, char *buf,
                            size_t len)
{
    if (buf && len)
        buf[0] = '\0';
    unsigned bits = changes(NULL, a, b, buf, len);
    if (a->web != b->web) {
        bits |= SUP_APPLY_WEB;
        if (buf && len) {
            size_t n = strlen(buf);
            snprintf(buf + n, len - n, "%s[web] section %s", n ? ", " : "",
                     b->web ? "added" : "removed");
        }
    }
    return bits;
}

unsigned sup_type_changes(const struct sup_type *a, const struct sup_type *b, char *buf, size_t len)
{
    if (buf && len)
        buf[0] = '\0';
    return changes("type", a, b, buf, len);
}

unsigned sup_config_key_apply(const char *section, const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].section, section) && !strcmp(keys[i].name, name))
            return keys[i].apply;
    return SUP_APPLY_FIXED;
}

int sup_type_changed(const struct sup_type *a, const struct sup_type *b)
{
    /* processes is not a reason to replace the running ones: the count
     * is adjusted by starting or stopping processes */
    return (sup_type_changes(a, b, NULL, 0) & SUP_APPLY_WORKERS) != 0;
}

void sup_config_fixed_changes(const struct sup_config *a, const struct sup_config *b,
                              char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < NKEYS; i++) {
        if (keys[i].apply != SUP_APPLY_FIXED || !strcmp(keys[i].section, "type"))
            continue;
        if (key_differs(&keys[i], a, b)) {
            int w = snprintf(buf + n, len - n, "%s[%s] %s", n ? ", " : "", keys[i].section,
                             keys[i].name);
            if (w < 0 || (size_t)w >= len - n)
                return;
            n += (size_t)w;
        }
    }
}

void sup_config_keep_fixed(struct sup_config *nc, const struct sup_config *old)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].apply == SUP_APPLY_FIXED && strcmp(keys[i].section, "type"))
            memcpy((char *)nc + keys[i].off, (const char *)old + keys[i].off, keys[i].size);
    nc->embedded = old->embedded;
    kue_strlcpy(nc->keys_prefix, old->keys_prefix, sizeof(nc->keys_prefix));
    type_prefixes(nc);   /* from the kept [redis] prefix and key style */
}

void sup_config_print_defaults(void)
{
    const char *last = "";
    for (size_t i = 0; i < NKEYS; i++) {
        const struct cfg_key *k = &keys[i];
        if (!strcmp(k->section, "cron"))
            continue;   /* no defaults to print: docs/kue-supervisor.md, [cron NAME] */
        if (strcmp(k->section, last)) {
            printf("%s[%s]\n", i ? "\n" : "", strcmp(k->section, "type") ? k->section : "type NAME");
            last = k->section;
        }
        printf("; %s\n%s%s = %s\n", k->doc, k->def ? "" : "; ", k->name, k->def ? k->def : "");
    }
}
