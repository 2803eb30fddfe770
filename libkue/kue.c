/*
 * kue.c -- the producer API (include/kue/kue.h): blocking connection,
 * the job model, saving through the enqueue script, reading jobs back in
 * Kue's shapes, and the administrative state changes.
 *
 * Every write goes through one Lua script (libkue/lua), so a job is never
 * half-written; reads are plain commands.  A dropped connection is
 * re-established once per call before the call gives up.
 */
#include <kue/kue.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "buf.h"
#include "cluster.h"
#include "cronexpr.h"
#include "enqueue.h"
#include "json.h"
#include "keys.h"
#include "kue_internal.h"
#include "log.h"
#include "scripts.h"
#include "search.h"
#include "sentinel.h"
#include "url.h"
#include "util.h"

#define KUE_CONNECT_TIMEOUT_MS 2000
#define KUE_COMMAND_TIMEOUT_MS 10000
#define KUE_MAX_SEARCH_KEYS 64

_Static_assert(KUE_ENQ_MAX_ARGS <= KUE_SCRIPT_MAX_ARGS,
               "the enqueue script's largest call must fit a script call");

struct kue {
    redisContext *c;
    kue_url_t url;
    char prefix[KUE_KEY_PREFIX_MAX];   /* effective: P or {P} (keys.h) */
    char name[128];                    /* as configured: P */
    int key_style;
    char err[512];
    kue_errcode_t code;         /* class of err */
    int search;
    int64_t sentinel_check_ms;  /* sentinel URLs: next check of the master's address */
    int string_ids;             /* events of set_state/remove carry "id":"N" */
    int reroute;                /* a MOVED reply: find the queue's master again */
    int wait_n, wait_ms;        /* kue_set_wait_replicas(); wait_n 0: off */
    unsigned long long wait_short;  /* saves whose WAIT fell short */
    int64_t wait_warned_ms;     /* last shortfall warning (monotonic) */
};

struct kue_field { char *name; char *value; };

struct kue_job {
    int64_t id;                 /* 0: not saved */
    char *type;
    char *data;
    int priority;
    int max_attempts;
    int64_t delay_ms, run_at_ms, ttl_ms;
    char *backoff;
    int remove_on_complete;
    /* options kept as the text Kue would store (NULL: from the ints above) */
    char *priority_s, *delay_s, *roc_s;
    char **search_keys;
    size_t nsearch_keys;
    char *unique, *group;       /* NULL: none */
    int64_t unique_for_ms;
    int existing;               /* the last save found the unique key held */
    int saving;                 /* a non-blocking save is in flight */
    /* loaded jobs: every hash field */
    struct kue_field *fields;
    size_t nfields;
};

/* ---- errors and names ---------------------------------------------------- */

static int set_err(kue_t *k, kue_errcode_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int set_err(kue_t *k, kue_errcode_t code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->err, sizeof k->err, fmt, ap);
    va_end(ap);
    k->code = code;
    return -1;
}

/* An error reply: the scripts' replies start with a class word (see
 * libkue/lua/prelude.lua, err_reply), which becomes the code and is not
 * part of the text.  A server that is not serving yet (LOADING, BUSY,
 * MASTERDOWN) is unavailable, as an unreachable one; any other error reply
 * is the server's. */
static int set_reply_err(kue_t *k, const char *msg)
{
    static const struct { const char *word; kue_errcode_t code; int strip; } classes[] = {
        { "NOTFOUND ", KUE_ERR_NOTFOUND, 1 }, { "WRONGSTATE ", KUE_ERR_WRONGSTATE, 1 },
        { "INVALID ", KUE_ERR_INVALID, 1 }, { "LOADING ", KUE_ERR_IO, 0 },
        { "BUSY ", KUE_ERR_IO, 0 }, { "MASTERDOWN ", KUE_ERR_IO, 0 },
        /* Redis Cluster: the queue's slot moved or is moving (cluster.h) */
        { "MOVED ", KUE_ERR_IO, 0 }, { "ASK ", KUE_ERR_IO, 0 }, { "TRYAGAIN ", KUE_ERR_IO, 0 },
        { "CLUSTERDOWN ", KUE_ERR_IO, 0 },
    };
    if (!strncmp(msg, "MOVED ", 6)) k->reroute = 1;     /* the next call reconnects */
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++) {
        size_t l = strlen(classes[i].word);
        if (!strncmp(msg, classes[i].word, l))
            return set_err(k, classes[i].code, "%s", msg + (classes[i].strip ? l : 0));
    }
    return set_err(k, KUE_ERR_SERVER, "%s", msg);
}

const char *kue_errstr(const kue_t *k) { return k ? k->err : "no connection"; }
kue_errcode_t kue_errcode(const kue_t *k) { return k ? k->code : KUE_ERR_IO; }
void kue_set_string_event_ids(kue_t *k, int on) { k->string_ids = on != 0; }
const char *kue_prefix(const kue_t *k) { return k->name; }
const char *kue_keys_prefix(const kue_t *k) { return k->prefix; }

int kue_set_key_style(kue_t *k, const char *style)
{
    int ks = kue_key_style_parse(style);
    if (ks < 0)
        return set_err(k, KUE_ERR_INVALID, "key style \"%.32s\": expected plain or hashtag",
                       style ? style : "");
    if (k->url.nseeds > 0 && ks != KUE_KEYS_HASHTAG)
        return set_err(k, KUE_ERR_INVALID, "a redis-cluster:// URL needs the hashtag key style");
    k->key_style = ks;
    kue_key_prefix(k->prefix, sizeof k->prefix, k->name, ks);
    snprintf(k->url.route, sizeof k->url.route, "%s", k->prefix);
    return 0;
}
void kue_set_search(kue_t *k, int enabled) { k->search = enabled != 0; }

/* ---- waiting for replicas -------------------------------------------------- */

#define WAIT_WARN_EVERY_MS 10000

int kue_wait_valid(int n, int timeout_ms, char *err, size_t errlen)
{
    if (n < 0 || n > KUE_MAX_WAIT_REPLICAS) {
        snprintf(err, errlen, "wait replicas %d: expected 0 .. %d", n, KUE_MAX_WAIT_REPLICAS);
        return -1;
    }
    if (timeout_ms < 1 || timeout_ms > KUE_MAX_WAIT_TIMEOUT_MS) {
        snprintf(err, errlen, "wait timeout %d ms: expected 1 .. %d", timeout_ms,
                 KUE_MAX_WAIT_TIMEOUT_MS);
        return -1;
    }
    return 0;
}

int kue_wait_check(const redisReply *r, int n, int timeout_ms, const char *who,
                   unsigned long long *count, int64_t *last_warn_ms)
{
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer >= n) return 0;
    ++*count;
    int64_t now = kue_mono_ms();
    if (*last_warn_ms && now - *last_warn_ms < WAIT_WARN_EVERY_MS) return 1;
    *last_warn_ms = now;
    char why[256];
    if (!r)
        snprintf(why, sizeof why, "the connection dropped during the wait");
    else if (r->type == REDIS_REPLY_INTEGER)
        snprintf(why, sizeof why, "%lld of %d replicas confirmed within %d ms", r->integer, n,
                 timeout_ms);
    else
        snprintf(why, sizeof why, "WAIT failed: %.200s", r->type == REDIS_REPLY_ERROR ? r->str : "?");
    klog_warn("%s: wait_replicas = %d: %s; the write stands on the master but may be lost "
              "if it fails now (%llu such waits so far)", who, n, why, *count);
    return 1;
}

int kue_set_wait_replicas(kue_t *k, int n, int timeout_ms)
{
    char why[128];
    if (kue_wait_valid(n, timeout_ms, why, sizeof why) != 0)
        return set_err(k, KUE_ERR_INVALID, "%s", why);
    k->wait_n = n;
    k->wait_ms = timeout_ms;
    return 0;
}

unsigned long long kue_wait_shortfalls(const kue_t *k) { return k ? k->wait_short : 0; }

/* After a save: WAIT on the connection that ran it (WAIT counts the
 * replicas that have this connection's last write), never on a new one.
 * The reply timeout is raised for a wait longer than half of it. */
static void wait_replicas(kue_t *k)
{
    if (k->wait_n <= 0) return;
    if (!k->c || k->c->err) {       /* dropped after the save: nothing confirmed */
        kue_wait_check(NULL, k->wait_n, k->wait_ms, "producer", &k->wait_short, &k->wait_warned_ms);
        return;
    }
    int longer = k->wait_ms > KUE_COMMAND_TIMEOUT_MS / 2;
    if (longer) {
        struct timeval tv = { (k->wait_ms + KUE_COMMAND_TIMEOUT_MS) / 1000, 0 };
        redisSetTimeout(k->c, tv);
    }
    redisReply *r = redisCommand(k->c, "WAIT %d %d", k->wait_n, k->wait_ms);
    if (longer && !k->c->err) {
        struct timeval tv = { KUE_COMMAND_TIMEOUT_MS / 1000, 0 };
        redisSetTimeout(k->c, tv);
    }
    kue_wait_check(r, k->wait_n, k->wait_ms, "producer", &k->wait_short, &k->wait_warned_ms);
    if (r) freeReplyObject(r);
}

static const char *const state_names[KUE_STATE__COUNT] = {
    "inactive", "active", "complete", "failed", "delayed"
};

const char *kue_state_name(kue_state_t s)
{
    return (unsigned)s < KUE_STATE__COUNT ? state_names[s] : "unknown";
}

kue_state_t kue_state_parse(const char *name)
{
    for (int i = 0; name && i < KUE_STATE__COUNT; i++)
        if (!strcmp(name, state_names[i])) return (kue_state_t)i;
    return KUE_STATE_UNKNOWN;
}

static const struct { const char *name; int value; } prio_names[] = {
    { "low", KUE_PRIORITY_LOW }, { "normal", KUE_PRIORITY_NORMAL },
    { "medium", KUE_PRIORITY_MEDIUM }, { "high", KUE_PRIORITY_HIGH },
    { "critical", KUE_PRIORITY_CRITICAL },
};

int kue_priority_parse(const char *s, int *out)
{
    if (!s) return -1;
    for (size_t i = 0; i < sizeof prio_names / sizeof prio_names[0]; i++)
        if (!strcasecmp(s, prio_names[i].name)) { *out = prio_names[i].value; return 0; }
    long long v;
    if (kue_parse_int(s, -1000000000LL, 1000000000LL, &v) != 0) return -1;
    *out = (int)v;
    return 0;
}

const char *kue_priority_name(int prio)
{
    for (size_t i = 0; i < sizeof prio_names / sizeof prio_names[0]; i++)
        if (prio_names[i].value == prio) return prio_names[i].name;
    return NULL;
}

/* ---- connection ---------------------------------------------------------- */

static redisReply *raw_command(kue_t *k, const char *fmt, ...);

/* One command of the connection handshake (AUTH, SELECT); on failure the
 * connection is dropped and the error names the server and the step. */
static int handshake(kue_t *k, const char *where, const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(k->c, fmt, ap);
    va_end(ap);
    if (r && r->type != REDIS_REPLY_ERROR) {
        freeReplyObject(r);
        return 0;
    }
    set_err(k, KUE_ERR_IO, "Redis at %s %s: %s", where, what, r ? r->str : k->c->errstr);
    if (r) freeReplyObject(r);
    redisFree(k->c);
    k->c = NULL;
    return -1;
}

static int do_connect(kue_t *k)
{
    struct timeval tv = { KUE_CONNECT_TIMEOUT_MS / 1000, (KUE_CONNECT_TIMEOUT_MS % 1000) * 1000 };
    if (k->c) { redisFree(k->c); k->c = NULL; }
    char why[512];
    if (kue_sentinel_resolve(&k->url, why, sizeof why) != 0)
        return set_err(k, KUE_ERR_IO, "cannot find the Redis master: %s", why);
    if (kue_cluster_resolve(&k->url, why, sizeof why) != 0)
        return set_err(k, KUE_ERR_IO, "cannot find the queue's cluster node: %s", why);
    redisContext *c = k->url.path[0] ? redisConnectUnixWithTimeout(k->url.path, tv)
                                     : redisConnectWithTimeout(k->url.host, k->url.port, tv);
    char where[400];
    kue_url_format(&k->url, where, sizeof where);
    if (!c) return set_err(k, KUE_ERR_IO, "cannot connect to Redis at %s: out of memory", where);
    if (c->err) {
        set_err(k, KUE_ERR_IO, "cannot connect to Redis at %s: %s", where, c->errstr);
        redisFree(c);
        return -1;
    }
    struct timeval ct = { KUE_COMMAND_TIMEOUT_MS / 1000, 0 };
    redisSetTimeout(c, ct);
    k->c = c;
    k->sentinel_check_ms = kue_now_ms() + 1000;
    if (k->url.user[0]) {
        if (handshake(k, where, "refused the password", "AUTH %s %s", k->url.user,
                      k->url.password) != 0)
            return -1;
    } else if (k->url.password[0] &&
               handshake(k, where, "refused the password", "AUTH %s", k->url.password) != 0) {
        return -1;
    }
    if (handshake(k, where, "SELECT failed", "SELECT %d", k->url.db) != 0) return -1;
    if (k->url.nsentinels > 0) {
        redisReply *r = redisCommand(k->c, "ROLE");
        int ok = kue_role_is_master(r);
        if (r) freeReplyObject(r);
        if (!ok) {
            set_err(k, KUE_ERR_IO, "Redis at %s is not a master (a failover is in progress?)", where);
            redisFree(k->c);
            k->c = NULL;
            return -1;
        }
    }
    return 0;
}

kue_t *kue_connect(const char *url, const char *prefix, char *err, size_t errlen)
{
    /* A write to a connection the server closed must be an error, not a
     * process-killing SIGPIPE; leave a disposition the program chose. */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, NULL);
    }
    kue_t *k = calloc(1, sizeof *k);
    if (!k) return NULL;
    if (!prefix || !*prefix) prefix = "q";
    if (strlen(prefix) >= sizeof k->name || strpbrk(prefix, " \t\r\n")) {
        if (err) snprintf(err, errlen, "invalid prefix \"%.64s\"", prefix);
        free(k);
        return NULL;
    }
    snprintf(k->name, sizeof k->name, "%s", prefix);
    if (kue_url_parse(url, &k->url, err, errlen) != 0) {
        free(k);
        return NULL;
    }
    /* a cluster implies the hashtag style: the queue is one slot, the
     * connection goes to its master (cluster.h) */
    k->key_style = k->url.nseeds > 0 ? KUE_KEYS_HASHTAG : KUE_KEYS_PLAIN;
    kue_key_prefix(k->prefix, sizeof k->prefix, k->name, k->key_style);
    snprintf(k->url.route, sizeof k->url.route, "%s", k->prefix);
    if (do_connect(k) != 0) {
        if (err && k->err[0]) snprintf(err, errlen, "%s", k->err);
        free(k);
        return NULL;
    }
    return k;
}

void kue_free(kue_t *k)
{
    if (!k) return;
    if (k->c) redisFree(k->c);
    free(k);
}

/* With a sentinel URL, ask the sentinels at most once a second whether the
 * master moved: a master that a failover replaced stays writable until the
 * sentinels reconfigure it, and what is written to it then is lost. */
static void sentinel_check(kue_t *k)
{
    int64_t now = kue_now_ms();
    if (now < k->sentinel_check_ms) return;
    k->sentinel_check_ms = now + 1000;
    kue_url_t probe = k->url;
    if (kue_sentinel_resolve(&probe, NULL, 0) == 0 &&
        (strcmp(probe.host, k->url.host) != 0 || probe.port != k->url.port)) {
        redisFree(k->c);
        k->c = NULL;
    }
}

/* Make sure a usable connection exists (reconnect once if it dropped). */
static int ensure(kue_t *k)
{
    if (k->c && k->reroute) {
        redisFree(k->c);
        k->c = NULL;
    }
    k->reroute = 0;
    if (k->c && !k->c->err && k->url.nsentinels > 0) sentinel_check(k);
    if (k->c && !k->c->err) return 0;
    return do_connect(k);
}

static redisReply *check_reply(kue_t *k, redisReply *r)
{
    if (!r) {
        set_err(k, KUE_ERR_IO, "Redis connection lost: %s", k->c ? k->c->errstr : "not connected");
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        set_reply_err(k, r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* An ASK reply (the queue's slot is being migrated and the key has moved
 * already): the command once more on the node it names, after ASKING.
 * NULL when r is no ASK or that node cannot be reached. */
static redisReply *asked(kue_t *k, const redisReply *r, const char *fmt, va_list ap)
{
    unsigned slot;
    char host[256];
    int port;
    if (kue_cluster_redirect(r, &slot, host, sizeof host, &port) != 2) return NULL;
    struct timeval tv = { KUE_CONNECT_TIMEOUT_MS / 1000, (KUE_CONNECT_TIMEOUT_MS % 1000) * 1000 };
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    if (!c || c->err) {
        if (c) redisFree(c);
        return NULL;
    }
    struct timeval ct = { KUE_COMMAND_TIMEOUT_MS / 1000, 0 };
    redisSetTimeout(c, ct);
    redisReply *a = NULL;
    if (k->url.password[0])
        a = k->url.user[0] ? redisCommand(c, "AUTH %s %s", k->url.user, k->url.password)
                           : redisCommand(c, "AUTH %s", k->url.password);
    if (a) freeReplyObject(a);
    a = redisCommand(c, "ASKING");
    if (a) freeReplyObject(a);
    redisReply *out = redisvCommand(c, fmt, ap);
    redisFree(c);
    return out;
}

static redisReply *raw_command(kue_t *k, const char *fmt, ...)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (ensure(k) != 0) return NULL;
        va_list ap;
        va_start(ap, fmt);
        redisReply *r = redisvCommand(k->c, fmt, ap);
        va_end(ap);
        if (r && r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "ASK ", 4)) {
            va_start(ap, fmt);
            redisReply *x = asked(k, r, fmt, ap);
            va_end(ap);
            if (x) {
                freeReplyObject(r);
                r = x;
            }
        }
        if (attempt == 0 && kue_reply_wants_failover(r)) {
            freeReplyObject(r);         /* not run: retry on the current master */
            r = NULL;
        }
        if (r || attempt == 1) return check_reply(k, r);
        /* connection dropped: retry once on a fresh one */
        redisFree(k->c);
        k->c = NULL;
    }
    return NULL;
}

/* Run a script; replies of type error become kue_errstr().  Caller frees. */
static redisReply *script(kue_t *k, kue_script_id id, int argc, const char **argv,
                          const size_t *lens)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (ensure(k) != 0) return NULL;
        redisReply *r = kue_script_call(k->c, id, argc, argv, lens);
        if (attempt == 0 && kue_reply_wants_failover(r)) {
            freeReplyObject(r);         /* not run: retry on the current master */
            r = NULL;
        }
        if (r || attempt == 1) return check_reply(k, r);
        redisFree(k->c);
        k->c = NULL;
    }
    return NULL;
}

/* ---- building jobs ------------------------------------------------------- */

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d) abort();
    return d;
}

kue_job_t *kue_job_new(const char *type, const char *data_json)
{
    kue_job_t *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->type = xstrdup(type);
    j->data = xstrdup(data_json ? data_json : "{}");
    j->max_attempts = 1;
    return j;
}

void kue_job_free(kue_job_t *j)
{
    if (!j) return;
    free(j->type);
    free(j->data);
    free(j->backoff);
    free(j->priority_s);
    free(j->delay_s);
    free(j->roc_s);
    free(j->unique);
    free(j->group);
    for (size_t i = 0; i < j->nsearch_keys; i++) free(j->search_keys[i]);
    free(j->search_keys);
    for (size_t i = 0; i < j->nfields; i++) {
        free(j->fields[i].name);
        free(j->fields[i].value);
    }
    free(j->fields);
    free(j);
}

static void set_text(char **slot, const char *text)
{
    free(*slot);
    *slot = text ? xstrdup(text) : NULL;
}

void kue_job_set_priority(kue_job_t *j, int prio)
{
    j->priority = prio;
    set_text(&j->priority_s, NULL);
}

int kue_job_set_priority_name(kue_job_t *j, const char *name)
{
    if (kue_priority_parse(name, &j->priority) != 0) return -1;
    set_text(&j->priority_s, NULL);
    return 0;
}

const char *kue_job_option_error(double v, const char *what)
{
    if (!isfinite(v)) return !strcmp(what, "priority") ? "invalid priority: not a finite number"
                           : !strcmp(what, "delay") ? "invalid delay: not a finite number"
                           : "invalid ttl: not a finite number";
    if (!strcmp(what, "priority")) return "invalid priority: beyond +/-9007199254740991";
    if (!strcmp(what, "delay")) return "invalid delay: negative or more than ten years "
                                       "(315360000000 ms)";
    return "invalid ttl: negative or more than ten years (315360000000 ms)";
}

/* A finite number text as JSON writes it; -1 if not one. */
static int number_text(const char *text, double *v)
{
    if (!text || !(*text == '-' || (*text >= '0' && *text <= '9')) ||
        kue_json_check(text, strlen(text), NULL, 0) != 0)
        return -1;
    *v = strtod(text, NULL);
    return isfinite(*v) ? 0 : -1;
}

int kue_job_set_priority_text(kue_job_t *j, const char *text)
{
    double v;
    if (number_text(text, &v) < 0 || fabs(v) > KUE_MAX_PRIORITY_ABS) return -1;
    j->priority = v > INT_MAX ? INT_MAX : v < INT_MIN ? INT_MIN : (int)v;
    set_text(&j->priority_s, text);
    return 0;
}

int kue_job_set_delay_text(kue_job_t *j, const char *text)
{
    double v;
    if (number_text(text, &v) < 0 || v < 0 || v > (double)KUE_MAX_DELAY_MS) return -1;
    j->delay_ms = (int64_t)v;
    j->run_at_ms = 0;
    set_text(&j->delay_s, v > 0 ? text : NULL);
    return 0;
}

int kue_job_set_remove_on_complete_text(kue_job_t *j, const char *text)
{
    if (!text || strlen(text) > KUE_MAX_TYPE_LEN) return -1;
    j->remove_on_complete = *text != '\0';
    set_text(&j->roc_s, *text ? text : NULL);
    return 0;
}

int kue_job_set_unique(kue_job_t *j, const char *key, int64_t keep_ms)
{
    if (key && (!*key || strlen(key) > KUE_MAX_UNIQUE_LEN || keep_ms < 0 ||
                keep_ms > KUE_MAX_DELAY_MS))
        return -1;
    set_text(&j->unique, key);
    j->unique_for_ms = key ? keep_ms : 0;
    return 0;
}

int kue_job_existing(const kue_job_t *j) { return j->existing; }

int kue_job_set_group(kue_job_t *j, const char *group)
{
    if (group && (!*group || strlen(group) > KUE_MAX_GROUP_LEN)) return -1;
    set_text(&j->group, group);
    return 0;
}

int kue_job_set_attempts(kue_job_t *j, int n)
{
    if (n < 1) return -1;
    j->max_attempts = n;
    return 0;
}

void kue_job_set_delay(kue_job_t *j, int64_t delay_ms)
{
    j->delay_ms = delay_ms > 0 ? delay_ms : 0;
    j->run_at_ms = 0;
    set_text(&j->delay_s, NULL);
}

void kue_job_set_run_at(kue_job_t *j, int64_t epoch_ms)
{
    j->run_at_ms = epoch_ms > 0 ? epoch_ms : 0;
    j->delay_ms = 0;
    set_text(&j->delay_s, NULL);
}

void kue_job_set_ttl(kue_job_t *j, int64_t ttl_ms) { j->ttl_ms = ttl_ms > 0 ? ttl_ms : 0; }

/* A backoff delay: a number within [0, KUE_MAX_DELAY_MS]. */
static int backoff_ms_ok(const kue_jv_t *d)
{
    return !d || (d->type == KUE_JNUM && d->num >= 0 && d->num <= (double)KUE_MAX_DELAY_MS);
}

int kue_backoff_valid(const char *s)
{
    if (!s) return 0;
    if (!strcmp(s, "true")) return 1;
    kue_jdoc_t *doc = kue_jdoc_parse(s, strlen(s), NULL, 0);
    if (!doc) return 0;
    const kue_jv_t *v = kue_jdoc_root(doc);
    int ok = v->type == KUE_JOBJ;
    const kue_jv_t *t = kue_jv_get(v, "type");
    if (ok && t && !(t->type == KUE_JSTR && (!strcmp(t->str, "fixed") ||
                                             !strcmp(t->str, "exponential"))))
        ok = 0;
    if (ok && !(backoff_ms_ok(kue_jv_get(v, "delay")) && backoff_ms_ok(kue_jv_get(v, "maxDelay"))))
        ok = 0;
    kue_jdoc_free(doc);
    return ok;
}

int kue_job_set_backoff(kue_job_t *j, const char *backoff_json)
{
    if (!kue_backoff_valid(backoff_json)) return -1;
    char *c = kue_json_compact(backoff_json, strlen(backoff_json));
    if (!c) return -1;
    free(j->backoff);
    j->backoff = c;
    return 0;
}

void kue_job_set_remove_on_complete(kue_job_t *j, int yes)
{
    j->remove_on_complete = yes != 0;
    set_text(&j->roc_s, NULL);
}

int kue_job_set_search_keys(kue_job_t *j, const char *const *keys, size_t n)
{
    if (n > KUE_MAX_SEARCH_KEYS) return -1;
    for (size_t i = 0; i < j->nsearch_keys; i++) free(j->search_keys[i]);
    free(j->search_keys);
    j->search_keys = n ? calloc(n, sizeof *j->search_keys) : NULL;
    if (n && !j->search_keys) abort();
    for (size_t i = 0; i < n; i++) j->search_keys[i] = xstrdup(keys[i]);
    j->nsearch_keys = n;
    return 0;
}

/* ---- saving -------------------------------------------------------------- */

static int enq_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int enq_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

void kue_enq_free(kue_enq_args_t *a)
{
    free(a->data);
    free(a->terms);
    free(a->counts);
    a->data = NULL;
    a->terms = NULL;
    a->counts = NULL;
}

static void enq_push(kue_enq_args_t *a, const char *s)
{
    size_t l = strlen(s);
    a->argv[a->argc] = s;
    a->lens[a->argc++] = l;
    a->bytes += l;
}

int kue_enq_build(const char *prefix, int search, const kue_job_t *j, kue_enq_args_t *a,
                  char *err, size_t errlen)
{
    /* Only the scalars: the argument arrays are filled up to argc. */
    a->argc = 0;
    a->bytes = 0;
    a->terms = NULL;
    a->nterms = 0;
    a->data = NULL;
    a->counts = NULL;
    size_t tl = strlen(j->type);
    if (tl == 0) return enq_err(err, errlen, "job type is empty");
    if (tl > KUE_MAX_TYPE_LEN)
        return enq_err(err, errlen, "job type longer than %d bytes", KUE_MAX_TYPE_LEN);
    for (size_t i = 0; i < tl; i++)
        if ((unsigned char)j->type[i] < 0x20)
            return enq_err(err, errlen, "job type contains a control character");
    size_t dl = strlen(j->data);
    if (dl > KUE_MAX_DATA_LEN)
        return enq_err(err, errlen, "job data is %zu bytes, more than the limit of %u", dl,
                       KUE_MAX_DATA_LEN);
    if (j->delay_ms > KUE_MAX_DELAY_MS)
        return enq_err(err, errlen, "delay of %lld ms is more than the limit of %lld ms (ten years)",
                       (long long)j->delay_ms, KUE_MAX_DELAY_MS);
    if (j->run_at_ms > KUE_MAX_RUN_AT_MS)
        return enq_err(err, errlen, "run-at %lld is after the year 9999", (long long)j->run_at_ms);
    if (j->ttl_ms > KUE_MAX_TTL_MS)
        return enq_err(err, errlen, "ttl of %lld ms is more than the limit of %lld ms (ten years)",
                       (long long)j->ttl_ms, KUE_MAX_TTL_MS);
    /* Stored as a Node producer's JSON.stringify would store it; any text
     * JSON.parse accepts is accepted (big integers, lone surrogates). */
    char jerr[160];
    a->data = kue_json_normalize(j->data, dl, jerr, sizeof jerr);
    if (!a->data) return enq_err(err, errlen, "job data is not valid JSON: %s", jerr);
    if (strlen(a->data) > KUE_MAX_DATA_LEN)
        return enq_err(err, errlen, "job data is more than the limit of %u bytes", KUE_MAX_DATA_LEN);

    if (search) {
        /* Kue indexes the whole data, or the value at each searchKeys path. */
        kue_buf_t keys;
        kue_buf_init(&keys);
        if (j->nsearch_keys) {
            kue_buf_putc(&keys, '[');
            for (size_t i = 0; i < j->nsearch_keys; i++) {
                if (i) kue_buf_putc(&keys, ',');
                kue_json_str(&keys, j->search_keys[i], strlen(j->search_keys[i]));
            }
            kue_buf_putc(&keys, ']');
        }
        if (keys.oom || kue_search_job_terms(a->data, strlen(a->data), keys.p, &a->terms,
                                             &a->nterms) != 0)
            a->nterms = 0;
        kue_buf_free(&keys);
        if (a->nterms > KUE_SEARCH_MAX_TERMS) a->nterms = KUE_SEARCH_MAX_TERMS;
        if (a->nterms) {
            a->counts = calloc(a->nterms, sizeof *a->counts);
            if (!a->counts) abort();
        }
    }

    if (j->priority_s) snprintf(a->prio, sizeof a->prio, "%s", j->priority_s);
    else snprintf(a->prio, sizeof a->prio, "%d", j->priority);
    snprintf(a->maxa, sizeof a->maxa, "%d", j->max_attempts);
    if (j->delay_s) snprintf(a->delay, sizeof a->delay, "%s", j->delay_s);
    else snprintf(a->delay, sizeof a->delay, "%lld", (long long)j->delay_ms);
    snprintf(a->ttl, sizeof a->ttl, "%lld", (long long)j->ttl_ms);
    snprintf(a->runat, sizeof a->runat, "%lld", (long long)j->run_at_ms);
    snprintf(a->nsearch, sizeof a->nsearch, "%zu", a->nterms);
    snprintf(a->ufor, sizeof a->ufor, "%lld", (long long)j->unique_for_ms);
    const char *v0[] = { prefix, j->type, a->data, a->prio, a->maxa, a->delay, a->ttl,
                         j->backoff ? j->backoff : "", j->remove_on_complete ? (j->roc_s ? j->roc_s : "true") : "",
                         a->runat, j->unique ? j->unique : "", a->ufor, j->group ? j->group : "",
                         a->nsearch };
    for (size_t i = 0; i < sizeof v0 / sizeof v0[0]; i++) enq_push(a, v0[i]);
    for (size_t i = 0; i < a->nterms; i++) {
        snprintf(a->counts[i], sizeof a->counts[i], "%ld", a->terms[i].count);
        enq_push(a, a->terms[i].code);
        enq_push(a, a->counts[i]);
    }
    return 0;
}

static int enq_build(kue_t *k, const kue_job_t *j, kue_enq_args_t *a)
{
    int rc = kue_enq_build(k->prefix, k->search, j, a, k->err, sizeof k->err);
    if (rc != 0) k->code = KUE_ERR_INVALID;
    return rc;
}

void kue_job_set_saved(kue_job_t *j, int64_t id)
{
    j->existing = id < 0;
    j->id = id < 0 ? -id : id;
}

int64_t kue_enq_reply_id(const redisReply *r, size_t i)
{
    if (r->type == REDIS_REPLY_INTEGER) return r->integer > 0 ? r->integer + (int64_t)i : 0;
    if (r->type == REDIS_REPLY_ARRAY && i < r->elements &&
        r->element[i]->type == REDIS_REPLY_INTEGER)
        return r->element[i]->integer;
    return 0;
}
void kue_job_set_saving(kue_job_t *j, int saving) { j->saving = saving != 0; }
int kue_job_saving(const kue_job_t *j) { return j->saving; }

int64_t kue_job_save(kue_t *k, kue_job_t *j)
{
    if (j->id > 0) return set_err(k, KUE_ERR_INVALID, "job %lld is already saved", (long long)j->id);
    kue_enq_args_t a;
    if (enq_build(k, j, &a) != 0) { kue_enq_free(&a); return -1; }
    redisReply *r = script(k, KS_ENQUEUE, a.argc, a.argv, a.lens);
    kue_enq_free(&a);
    if (!r) return -1;
    int64_t id = kue_enq_reply_id(r, 0);
    freeReplyObject(r);
    if (id == 0) return set_err(k, KUE_ERR_PROTOCOL, "unexpected reply from the enqueue script");
    kue_job_set_saved(j, id);
    wait_replicas(k);
    return j->id;
}

/* Up to BULK_ROUND enqueue calls of KUE_ENQ_BATCH_MAX_JOBS jobs each make
 * a round: the first runs on its own (bulk_send), the others are pipelined
 * before their replies are read, so the output buffer stays bounded
 * (about BULK_ROUND MiB at most). */
#define BULK_ROUND 16

struct bulk_round {
    size_t idx[BULK_ROUND][KUE_ENQ_BATCH_MAX_JOBS];   /* job indexes of each call */
    size_t cnt[BULK_ROUND];
    int sent[BULK_ROUND];     /* 2: run on its own, 1: pipelined, 0: not sent */
};

static void bulk_note(char *first, size_t len, const char *msg)
{
    if (!first[0]) snprintf(first, len, "%s", msg);
}

/* The reply of one bulk call: the first of its consecutive ids. */
static size_t bulk_assign(kue_job_t *const *jobs, int64_t *ids, const size_t *idx, size_t cnt,
                          const redisReply *r, char *first, size_t len)
{
    if (kue_enq_reply_id(r, 0) == 0) {
        bulk_note(first, len, r->type == REDIS_REPLY_ERROR ? r->str
                                                            : "unexpected reply from the enqueue script");
        return 0;
    }
    size_t n = 0;
    for (size_t j = 0; j < cnt; j++) {
        int64_t id = kue_enq_reply_id(r, j);
        if (id == 0) continue;
        kue_job_set_saved(jobs[idx[j]], id);
        ids[idx[j]] = jobs[idx[j]]->id;
        n++;
    }
    return n;
}

/* Send call x of a round.  The first one runs on its own, through
 * script(): a server that lacks the script library (new, restarted,
 * flushed) gets it loaded before the rest of the round is pipelined.
 * Otherwise the first calls would miss it and be sent again after the
 * round, while later ones, run once another client had loaded it, took
 * the lower ids: the jobs would run out of their order.  2: done here
 * (saved counted, errors noted), 1: appended, 0: not sent. */
static int bulk_send(kue_t *k, const struct bulk_round *rd, int x, int argc, const char **argv,
                     const size_t *lens, kue_job_t *const *jobs, int64_t *ids, size_t *saved,
                     char *first, size_t flen)
{
    if (x > 0) return k->c && kue_script_append(k->c, KS_ENQUEUE, argc, argv, lens) == 0;
    redisReply *r = script(k, KS_ENQUEUE, argc, argv, lens);
    if (!r) {
        bulk_note(first, flen, k->err);
        return 2;
    }
    *saved += bulk_assign(jobs, ids, rd->idx[0], rd->cnt[0], r, first, flen);
    freeReplyObject(r);
    return 2;
}

size_t kue_job_save_bulk(kue_t *k, kue_job_t *const *jobs, size_t n, int64_t *ids)
{
    size_t saved = 0;
    char first[512] = "";
    for (size_t i = 0; i < n; i++) ids[i] = -1;
    if (ensure(k) != 0) return 0;
    kue_enq_args_t *a = malloc(sizeof *a);
    struct bulk_round *rd = malloc(sizeof *rd);
    if (!a || !rd) abort();
    kue_enq_batch_t b;
    kue_enq_batch_init(&b);
    const char **argv;
    const size_t *lens;
    size_t i = 0;
    while (i < n) {
        /* Build and send up to BULK_ROUND calls. */
        int nb = 0;
        rd->cnt[0] = 0;
        kue_enq_batch_reset(&b);
        while (i < n && nb < BULK_ROUND) {
            if (jobs[i]->id > 0) {
                char msg[64];
                snprintf(msg, sizeof msg, "job %lld is already saved", (long long)jobs[i]->id);
                bulk_note(first, sizeof first, msg);
                i++;
                continue;
            }
            if (enq_build(k, jobs[i], a) != 0) {
                bulk_note(first, sizeof first, k->err);
                kue_enq_free(a);
                i++;
                continue;
            }
            if (!kue_enq_batch_fits(&b, a)) {
                int argc = kue_enq_batch_args(&b, &argv, &lens);
                rd->sent[nb] = bulk_send(k, rd, nb, argc, argv, lens, jobs, ids, &saved, first,
                                         sizeof first);
                nb++;
                kue_enq_batch_reset(&b);
                if (nb == BULK_ROUND) {             /* job i goes in the next round */
                    kue_enq_free(a);
                    break;
                }
                rd->cnt[nb] = 0;
            }
            kue_enq_batch_add(&b, a);
            kue_enq_free(a);
            rd->idx[nb][rd->cnt[nb]++] = i++;
        }
        if (nb < BULK_ROUND && b.njobs > 0) {
            int argc = kue_enq_batch_args(&b, &argv, &lens);
            rd->sent[nb] = bulk_send(k, rd, nb, argc, argv, lens, jobs, ids, &saved, first,
                                     sizeof first);
            nb++;
        }
        /* Read their replies in order; calls that found the script missing
         * (a flushed script cache or function library, or a server without
         * functions) are re-sent after that, loading the script, and
         * so are calls refused because the master moved (MOVED, READONLY
         * ...: not run), on the current master. */
        int retry[BULK_ROUND], nretry = 0;
        for (int x = 0; x < nb; x++) {
            if (rd->sent[x] == 2) continue;
            if (!rd->sent[x]) {
                bulk_note(first, sizeof first, "cannot send to Redis");
                continue;
            }
            redisReply *r = NULL;
            if (redisGetReply(k->c, (void **)&r) != REDIS_OK || !r) {
                set_err(k, KUE_ERR_IO, "Redis connection lost: %s", k->c->errstr);
                bulk_note(first, sizeof first, k->err);
                redisFree(k->c);
                k->c = NULL;
                i = n;
                nretry = 0;
                break;
            }
            if (kue_reply_wants_failover(r)) k->reroute = 1;   /* script() reconnects */
            if (kue_script_rerun(r) || kue_reply_wants_failover(r)) retry[nretry++] = x;
            else saved += bulk_assign(jobs, ids, rd->idx[x], rd->cnt[x], r, first, sizeof first);
            freeReplyObject(r);
        }
        for (int t = 0; t < nretry; t++) {
            int x = retry[t];
            kue_enq_batch_reset(&b);
            for (size_t j = 0; j < rd->cnt[x]; j++) {
                if (enq_build(k, jobs[rd->idx[x][j]], a) == 0) kue_enq_batch_add(&b, a);
                kue_enq_free(a);
            }
            int argc = kue_enq_batch_args(&b, &argv, &lens);
            redisReply *r = b.njobs == rd->cnt[x] ? script(k, KS_ENQUEUE, argc, argv, lens) : NULL;
            if (!r) {
                bulk_note(first, sizeof first, k->err);
                continue;
            }
            saved += bulk_assign(jobs, ids, rd->idx[x], rd->cnt[x], r, first, sizeof first);
            freeReplyObject(r);
        }
    }
    kue_enq_batch_free(&b);
    free(rd);
    free(a);
    if (saved > 0) wait_replicas(k);
    snprintf(k->err, sizeof k->err, "%s", first);
    return saved;
}

/* ---- reading ------------------------------------------------------------- */

static void job_set_field(kue_job_t *j, const char *name, size_t nl, const char *val, size_t vl)
{
    struct kue_field *f = realloc(j->fields, (j->nfields + 1) * sizeof *f);
    if (!f) abort();
    j->fields = f;
    f[j->nfields].name = strndup(name, nl);
    f[j->nfields].value = strndup(val, vl);
    if (!f[j->nfields].name || !f[j->nfields].value) abort();
    j->nfields++;
}

const char *kue_job_field(const kue_job_t *j, const char *name)
{
    for (size_t i = 0; i < j->nfields; i++)
        if (!strcmp(j->fields[i].name, name)) return j->fields[i].value;
    return NULL;
}

/* JavaScript's Number(field) || dflt (the way Kue reads counters). */
static double field_num(const kue_job_t *j, const char *name, double dflt)
{
    const char *v = kue_job_field(j, name);
    double d = v ? kue_js_number(v) : NAN;
    return (isnan(d) || d == 0) ? dflt : d;
}

/* A stored number as an int, saturated (a damaged field cannot overflow). */
static int field_int(const kue_job_t *j, const char *name, int dflt)
{
    double d = field_num(j, name, dflt);
    if (d >= INT_MAX) return INT_MAX;
    if (d <= INT_MIN) return INT_MIN;
    return isfinite(d) ? (int)d : dflt;
}

kue_job_t *kue_job_from_hash(int64_t id, const char *const *kv, const size_t *lens, size_t n)
{
    kue_job_t *j = calloc(1, sizeof *j);
    if (!j) abort();
    j->id = id;
    for (size_t i = 0; i + 1 < n; i += 2)
        job_set_field(j, kv[i], lens[i], kv[i + 1], lens[i + 1]);
    j->type = xstrdup(kue_job_field(j, "type"));
    j->data = xstrdup(kue_job_field(j, "data") ? kue_job_field(j, "data") : "{}");
    j->priority = field_int(j, "priority", 0);
    j->max_attempts = field_int(j, "max_attempts", 1);
    return j;
}

kue_job_t *kue_job_from_reply(int64_t id, const redisReply *r, size_t first)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < first) return NULL;
    size_t n = r->elements - first;
    const char **kv = calloc(n + 1, sizeof *kv);
    size_t *lens = calloc(n + 1, sizeof *lens);
    if (!kv || !lens) abort();
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = r->element[first + i];
        kv[i] = e->type == REDIS_REPLY_STRING ? e->str : "";
        lens[i] = e->type == REDIS_REPLY_STRING ? e->len : 0;
    }
    kue_job_t *j = kue_job_from_hash(id, kv, lens, n);
    free(kv);
    free(lens);
    return j;
}

static kue_job_t *job_from_hgetall(kue_t *k, int64_t id, redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
        set_err(k, KUE_ERR_NOTFOUND, "job \"%lld\" doesnt exist", (long long)id);
        return NULL;
    }
    /* A damaged hash (no type, fields that are not numbers, data that is
     * not JSON) is still a job: it is returned with what can be read. */
    return kue_job_from_reply(id, r, 0);
}

kue_job_t *kue_job_get(kue_t *k, int64_t id)
{
    char key[KUE_KEY_PREFIX_MAX + 32], sid[24];
    snprintf(sid, sizeof sid, "%lld", (long long)id);
    kue_key_job(key, sizeof key, k->prefix, sid);
    redisReply *r = raw_command(k, "HGETALL %s", key);
    if (!r) return NULL;
    kue_job_t *j = job_from_hgetall(k, id, r);
    freeReplyObject(r);
    return j;
}

static int jobs_get_once(kue_t *k, const int64_t *ids, size_t n, kue_job_t **out)
{
    if (ensure(k) != 0) return -1;
    for (size_t i = 0; i < n; i++) {
        char key[KUE_KEY_PREFIX_MAX + 32], sid[24];
        snprintf(sid, sizeof sid, "%lld", (long long)ids[i]);
        kue_key_job(key, sizeof key, k->prefix, sid);
        redisAppendCommand(k->c, "HGETALL %s", key);
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        redisReply *r = NULL;
        out[i] = NULL;
        if (redisGetReply(k->c, (void **)&r) != REDIS_OK || !r) {
            set_err(k, KUE_ERR_IO, "Redis connection lost: %s", k->c->errstr);
            for (size_t x = 0; x < i; x++) { kue_job_free(out[x]); out[x] = NULL; }
            redisFree(k->c);
            k->c = NULL;
            return -1;
        }
        if (r->type == REDIS_REPLY_ARRAY) out[i] = job_from_hgetall(k, ids[i], r);
        freeReplyObject(r);
    }
    return rc;
}

int kue_jobs_get(kue_t *k, const int64_t *ids, size_t n, kue_job_t **out)
{
    int rc = jobs_get_once(k, ids, n, out);
    if (rc < 0 && !k->c) rc = jobs_get_once(k, ids, n, out);
    return rc;
}

int64_t kue_job_id(const kue_job_t *j) { return j->id; }
const char *kue_job_type(const kue_job_t *j) { return j->type; }
const char *kue_job_data(const kue_job_t *j) { return j->data; }
int kue_job_priority(const kue_job_t *j) { return j->priority; }
const char *kue_job_state(const kue_job_t *j) { return kue_job_field(j, "state"); }
int kue_job_attempts_made(const kue_job_t *j) { return field_int(j, "attempts", 0); }
int kue_job_attempts_max(const kue_job_t *j) { return j->max_attempts > 0 ? j->max_attempts : 1; }

/* Append ,"name": and the value of a JSON-valued hash field as stored
 * (a field that is not JSON as a string of its text). */
static void put_json_field(kue_buf_t *b, const char *name, const char *v)
{
    if (!v) return;
    kue_buf_printf(b, ",\"%s\":", name);
    kue_json_stored(b, v, strlen(v));
}

static void put_str_field(kue_buf_t *b, const char *name, const char *v)
{
    if (!v) return;
    kue_buf_printf(b, ",\"%s\":", name);
    kue_json_str(b, v, strlen(v));
}

char *kue_job_to_json(const kue_job_t *j, int string_id)
{
    kue_buf_t b;
    kue_buf_init(&b);
    if (string_id) kue_buf_printf(&b, "{\"id\":\"%lld\"", (long long)j->id);
    else kue_buf_printf(&b, "{\"id\":%lld", (long long)j->id);
    put_str_field(&b, "type", kue_job_field(j, "type"));
    put_json_field(&b, "data", kue_job_field(j, "data"));
    put_json_field(&b, "result", kue_job_field(j, "result"));
    /* Number(priority): null when missing or not a number, as in Kue */
    const char *prio = kue_job_field(j, "priority");
    kue_buf_puts(&b, ",\"priority\":");
    kue_json_num(&b, prio ? kue_js_number(prio) : NAN);
    const char *progress = kue_job_field(j, "progress");
    if (progress && *progress) put_str_field(&b, "progress", progress);
    else kue_buf_puts(&b, ",\"progress\":0");        /* Kue: _progress || 0 */
    put_json_field(&b, "progress_data", kue_job_field(j, "progress_data"));
    static const char *const strs[] = { "state", "error", "created_at", "promote_at",
                                        "updated_at", "failed_at", "started_at", "duration",
                                        "delay", "workerId", "ttl" };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        put_str_field(&b, strs[i], kue_job_field(j, strs[i]));
    /* in doubles, as Kue's toJSON computes them from Number(field): no
     * overflow whatever is stored (INT_MIN, INT_MAX, 1e300, "abc") */
    double att = kue_js_number(kue_job_field(j, "attempts"));
    double maxn = kue_js_number(kue_job_field(j, "max_attempts"));
    double made = field_num(j, "attempts", 0);
    double max = field_num(j, "max_attempts", 1);
    double remaining = att > 0 ? maxn - att : max;
    kue_buf_puts(&b, ",\"attempts\":{\"made\":");
    kue_json_num(&b, made);
    kue_buf_puts(&b, ",\"remaining\":");
    kue_json_num(&b, remaining);
    kue_buf_puts(&b, ",\"max\":");
    kue_json_num(&b, max);
    kue_buf_puts(&b, "}}");
    return kue_buf_take(&b);
}

/* ---- ranges, counts ------------------------------------------------------ */

static void state_key(kue_t *k, const char *type, const char *state, char *buf, size_t len)
{
    kue_key_jobs(buf, len, k->prefix, type, state);
}

static int cmp_id_asc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_id_desc(const void *a, const void *b) { return cmp_id_asc(b, a); }

int kue_range(kue_t *k, const char *type, const char *state, long from, long to, int desc,
              int64_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    char key[512];
    if (type && strlen(type) > KUE_MAX_TYPE_LEN) return set_err(k, KUE_ERR_INVALID, "type too long");
    if (state && strlen(state) > 64) return set_err(k, KUE_ERR_INVALID, "state too long");
    state_key(k, type, state, key, sizeof key);
    redisReply *r = raw_command(k, "ZRANGE %s %ld %ld", key, from, to);
    if (!r) return -1;
    if (r->type != REDIS_REPLY_ARRAY) { freeReplyObject(r); return set_err(k, KUE_ERR_PROTOCOL, "unexpected reply"); }
    int64_t *v = calloc(r->elements + 1, sizeof *v);
    if (!v) abort();
    size_t m = 0;
    for (size_t i = 0; i < r->elements; i++) {
        int64_t id = r->element[i]->type == REDIS_REPLY_STRING ? kue_zid_id(r->element[i]->str) : -1;
        if (id >= 0) v[m++] = id;
    }
    freeReplyObject(r);
    qsort(v, m, sizeof *v, desc ? cmp_id_desc : cmp_id_asc);
    *ids = v;
    *n = m;
    return 0;
}

long long kue_count(kue_t *k, const char *type, const char *state)
{
    char key[512];
    if ((type && strlen(type) > KUE_MAX_TYPE_LEN) || (state && strlen(state) > 64))
        return set_err(k, KUE_ERR_INVALID, "name too long");
    state_key(k, type, state, key, sizeof key);
    redisReply *r = raw_command(k, "ZCARD %s", key);
    if (!r) return -1;
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    return v;
}

static int stats_once(kue_t *k, kue_stats_t *out)
{
    if (ensure(k) != 0) return -1;
    static const char *const states[] = { "inactive", "active", "complete", "failed", "delayed" };
    char key[KUE_KEY_PREFIX_MAX + 32];
    for (int i = 0; i < 5; i++) {
        kue_key_jobs(key, sizeof key, k->prefix, NULL, states[i]);
        redisAppendCommand(k->c, "ZCARD %s", key);
    }
    kue_key_work_time(key, sizeof key, k->prefix);
    redisAppendCommand(k->c, "GET %s", key);
    long long v[6];
    int rc = 0;
    for (int i = 0; i < 6; i++) {
        redisReply *r = NULL;
        if (redisGetReply(k->c, (void **)&r) != REDIS_OK || !r) {
            set_err(k, KUE_ERR_IO, "Redis connection lost: %s", k->c->errstr);
            redisFree(k->c);
            k->c = NULL;
            return -1;
        }
        if (r->type == REDIS_REPLY_INTEGER) v[i] = r->integer;
        else if (r->type == REDIS_REPLY_STRING) v[i] = strtoll(r->str, NULL, 10);
        else if (r->type == REDIS_REPLY_NIL) v[i] = -1;
        else { v[i] = 0; rc = set_err(k, KUE_ERR_PROTOCOL, "%s", r->type == REDIS_REPLY_ERROR ? r->str : "bad reply"); }
        freeReplyObject(r);
    }
    out->inactive = v[0]; out->active = v[1]; out->complete = v[2];
    out->failed = v[3]; out->delayed = v[4]; out->work_time_ms = v[5];
    return rc;
}

/* Pipelined reads are retried once on a fresh connection when the old one
 * turned out to be dead (the failed attempt frees k->c). */
int kue_stats(kue_t *k, kue_stats_t *out)
{
    int rc = stats_once(k, out);
    if (rc < 0 && !k->c) rc = stats_once(k, out);
    return rc;
}

static int string_array(kue_t *k, redisReply *r, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (r->type != REDIS_REPLY_ARRAY) { freeReplyObject(r); return set_err(k, KUE_ERR_PROTOCOL, "unexpected reply"); }
    char **v = calloc(r->elements + 1, sizeof *v);
    if (!v) abort();
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        v[i] = strndup(e->type == REDIS_REPLY_STRING ? e->str : "",
                       e->type == REDIS_REPLY_STRING ? e->len : 0);
        if (!v[i]) abort();
    }
    *n = r->elements;
    *out = v;
    freeReplyObject(r);
    return 0;
}

int kue_types(kue_t *k, char ***types, size_t *n)
{
    char key[KUE_KEY_PREFIX_MAX + 32];
    kue_key_types(key, sizeof key, k->prefix);
    redisReply *r = raw_command(k, "SMEMBERS %s", key);
    if (!r) return -1;
    return string_array(k, r, types, n);
}

/* P:stats:rate-limited (docs/wire.md section 11) */
static const char *key_rate_limited(const kue_t *k, char *buf, size_t len)
{
    kue_key_rate_limited(buf, len, k->prefix);
    return buf;
}

int kue_rate_limited_counts(kue_t *k, char ***pairs, size_t *n)
{
    char key[160];          /* prefix (< 128) + the name */
    redisReply *r = raw_command(k, "HGETALL %s", key_rate_limited(k, key, sizeof key));
    if (!r) return -1;
    return string_array(k, r, pairs, n);
}

/* P:paused: the set of paused types (libkue/lua/pause.lua). */
static const char *paused_key(const kue_t *k, char *buf, size_t len)
{
    kue_key_paused(buf, len, k->prefix);
    return buf;
}

int kue_paused_types(kue_t *k, char ***types, size_t *n)
{
    char key[KUE_MAX_TYPE_LEN + 64];
    redisReply *r = raw_command(k, "SMEMBERS %s", paused_key(k, key, sizeof key));
    if (!r) return -1;
    return string_array(k, r, types, n);
}

int kue_job_log(kue_t *k, int64_t id, char ***lines, size_t *n)
{
    char key[KUE_KEY_PREFIX_MAX + 32], sid[24];
    snprintf(sid, sizeof sid, "%lld", (long long)id);
    kue_key_job_log(key, sizeof key, k->prefix, sid);
    redisReply *r = raw_command(k, "LRANGE %s 0 -1", key);
    if (!r) return -1;
    return string_array(k, r, lines, n);
}

void kue_strings_free(char **v, size_t n)
{
    if (!v) return;
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* ---- search -------------------------------------------------------------- */

int kue_search(kue_t *k, const char *query, char ***ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    if (query && strlen(query) > KUE_MAX_LOG_LEN) return set_err(k, KUE_ERR_INVALID, "search query too long");
    kue_search_term_t *terms = NULL;
    size_t nt = 0;
    if (kue_search_query(query, query ? strlen(query) : 0, &terms, &nt) != 0)
        return set_err(k, KUE_ERR_INVALID, "search query could not be tokenised");
    if (nt == 0) {          /* reds answers [] without asking Redis */
        free(terms);
        *ids = calloc(1, sizeof **ids);
        if (!*ids) abort();
        return 0;
    }
    if (nt > KUE_SEARCH_MAX_TERMS) nt = KUE_SEARCH_MAX_TERMS;
    if (ensure(k) != 0) { free(terms); return -1; }
    /* reds: MULTI ZINTERSTORE tmp n words...; ZREVRANGE tmp 0 -1;
     * ZREMRANGEBYRANK tmp 0 -1; EXEC (atomic, so threads may share tmp) */
    size_t argc = 3 + nt;
    const char **argv = calloc(argc, sizeof *argv);
    size_t *lens = calloc(argc, sizeof *lens);
    char **keys = calloc(nt, sizeof *keys);
    if (!argv || !lens || !keys) abort();
    char tmp[KUE_KEY_PREFIX_MAX + 32], cnt[24];
    kue_key_search_tmp(tmp, sizeof tmp, k->prefix);
    snprintf(cnt, sizeof cnt, "%zu", nt);
    argv[0] = "ZINTERSTORE"; argv[1] = tmp; argv[2] = cnt;
    for (size_t i = 0; i < nt; i++) {
        size_t kl = strlen(k->prefix) + strlen(terms[i].code) + 16;
        if (!(keys[i] = malloc(kl))) abort();
        kue_key_search_word(keys[i], kl, k->prefix, terms[i].code);
        argv[3 + i] = keys[i];
    }
    for (size_t i = 0; i < argc; i++) lens[i] = strlen(argv[i]);
    redisAppendCommand(k->c, "MULTI");
    redisAppendCommandArgv(k->c, (int)argc, argv, lens);
    redisAppendCommand(k->c, "ZREVRANGE %s 0 -1", tmp);
    redisAppendCommand(k->c, "ZREMRANGEBYRANK %s 0 -1", tmp);
    redisAppendCommand(k->c, "EXEC");
    int rc = 0;
    for (int i = 0; i < 5; i++) {
        redisReply *r = NULL;
        if (redisGetReply(k->c, (void **)&r) != REDIS_OK || !r) {
            rc = set_err(k, KUE_ERR_IO, "Redis connection lost: %s", k->c->errstr);
            redisFree(k->c);
            k->c = NULL;
            break;
        }
        if (i == 4) {
            if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
                r->element[1]->type == REDIS_REPLY_ARRAY) {
                redisReply *ids_r = r->element[1];
                r->element[1] = NULL;          /* keep it past freeing r */
                freeReplyObject(r);
                rc = string_array(k, ids_r, ids, n);
                continue;
            }
            rc = set_err(k, KUE_ERR_PROTOCOL, "search failed: %s", r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
        }
        freeReplyObject(r);
    }
    for (size_t i = 0; i < nt; i++) free(keys[i]);
    free(keys);
    free(argv);
    free(lens);
    free(terms);
    return rc;
}

/* ---- changing jobs ------------------------------------------------------- */

static int simple_script(kue_t *k, kue_script_id s, int argc, const char **argv)
{
    redisReply *r = script(k, s, argc, argv, NULL);
    if (!r) return -1;
    freeReplyObject(r);
    return 0;
}

int kue_job_remove(kue_t *k, int64_t id)
{
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *argv[] = { k->prefix, ids, k->string_ids ? "s" : "" };
    return simple_script(k, KS_REMOVE, 3, argv);
}

int kue_job_set_state(kue_t *k, int64_t id, const char *state)
{
    if (kue_state_parse(state) == KUE_STATE_UNKNOWN)
        return set_err(k, KUE_ERR_INVALID, "invalid state \"%.32s\" (inactive, active, complete, failed or delayed)",
                       state ? state : "");
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *argv[] = { k->prefix, ids, state, "", k->string_ids ? "s" : "" };
    return simple_script(k, KS_SET_STATE, 5, argv);
}

int kue_job_retry(kue_t *k, int64_t id)
{
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *argv[] = { k->prefix, ids, "inactive", "failed", k->string_ids ? "s" : "" };
    return simple_script(k, KS_SET_STATE, 5, argv);
}

int kue_job_cancel(kue_t *k, int64_t id, int64_t grace_ms, kue_cancel_t *outcome)
{
    if (grace_ms < 0 || grace_ms > KUE_MAX_CANCEL_GRACE_MS)
        return set_err(k, KUE_ERR_INVALID, "cancel grace %lld ms out of range (0 to %lld ms)",
                       (long long)grace_ms, (long long)KUE_MAX_CANCEL_GRACE_MS);
    char ids[24], gs[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    snprintf(gs, sizeof gs, "%lld", (long long)grace_ms);
    const char *argv[] = { k->prefix, ids, gs, k->string_ids ? "s" : "" };
    redisReply *r = script(k, KS_CANCEL, 4, argv, NULL);
    if (!r) return -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        return set_err(k, KUE_ERR_PROTOCOL, "cancel: unexpected reply");
    }
    const char *o = r->element[0]->str;
    kue_cancel_t c = !strcmp(o, "cancelled") ? KUE_CANCEL_DONE
                   : !strcmp(o, "cancelling") ? KUE_CANCEL_PENDING
                   : !strcmp(o, "complete") ? KUE_CANCEL_COMPLETE : KUE_CANCEL_FAILED;
    freeReplyObject(r);
    if (outcome) *outcome = c;
    return 0;
}

static int type_pause(kue_t *k, const char *type, int on)
{
    if (!type || !*type || strlen(type) > KUE_MAX_TYPE_LEN)
        return set_err(k, KUE_ERR_INVALID, "invalid job type (1 to %d bytes)", KUE_MAX_TYPE_LEN);
    const char *argv[] = { k->prefix, type, on ? "1" : "0" };
    return simple_script(k, KS_PAUSE, 3, argv);
}

int kue_type_pause(kue_t *k, const char *type) { return type_pause(k, type, 1); }
int kue_type_resume(kue_t *k, const char *type) { return type_pause(k, type, 0); }

int kue_job_update_priority(kue_t *k, int64_t id, int prio)
{
    char ids[24], ps[16];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    snprintf(ps, sizeof ps, "%d", prio);
    const char *argv[] = { k->prefix, ids, ps };
    return simple_script(k, KS_SET_PRIORITY, 3, argv);
}

int kue_job_add_log(kue_t *k, int64_t id, const char *line)
{
    if (strlen(line) > KUE_MAX_LOG_LEN) return set_err(k, KUE_ERR_INVALID, "log line too long");
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *argv[] = { k->prefix, ids, line };
    redisReply *r = script(k, KS_LOG, 3, argv, NULL);
    if (!r) return -1;
    int ok = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);
    return ok ? 0 : set_err(k, KUE_ERR_NOTFOUND, "job \"%lld\" doesnt exist", (long long)id);
}

int kue_promote(kue_t *k, long limit, long *promoted, int64_t *next_due_ms)
{
    char lim[24];
    snprintf(lim, sizeof lim, "%ld", limit > 0 ? limit : 1000);
    const char *argv[] = { k->prefix, lim, k->url.nseeds > 0 ? "cluster" : "" };
    redisReply *r = script(k, KS_PROMOTE, 3, argv, NULL);
    if (!r) return -1;
    int ok = r->type == REDIS_REPLY_ARRAY && r->elements >= 2;
    if (ok) {
        if (promoted) *promoted = (long)r->element[0]->integer;
        if (next_due_ms) *next_due_ms = r->element[1]->integer;
    }
    freeReplyObject(r);
    return ok ? 0 : set_err(k, KUE_ERR_PROTOCOL, "unexpected reply from the promote script");
}

/* ---- events -------------------------------------------------------------- */

int kue_event_parse(const char *msg, size_t len, int64_t *id, char *event, size_t evlen)
{
    /* the common reader: a result with integers beyond 64 bits or a lone
     * surrogate is an event like any other */
    kue_jdoc_t *d = kue_jdoc_parse(msg, len, NULL, 0);
    if (!d) return -1;
    const kue_jv_t *v = kue_jdoc_root(d);
    const kue_jv_t *jid = kue_jv_get(v, "id");
    const kue_jv_t *jev = kue_jv_get(v, "event");
    int rc = 0;
    if (jid && jid->type == KUE_JNUM && jid->num >= 0 && jid->num < 9.2e18) *id = (int64_t)jid->num;
    else if (jid && jid->type == KUE_JSTR) *id = strtoll(jid->str, NULL, 10);
    else rc = -1;
    if (jev && jev->type == KUE_JSTR) snprintf(event, evlen, "%s", jev->str);
    else rc = -1;
    kue_jdoc_free(d);
    return rc;
}

int kue_watch(kue_t *k, kue_event_fn *fn, void *privdata)
{
    kue_t sub = *k;
    sub.c = NULL;
    if (do_connect(&sub) != 0) { snprintf(k->err, sizeof k->err, "%s", sub.err); return -1; }
    struct timeval none = { 0, 0 };
    redisSetTimeout(sub.c, none);
    char ch[KUE_KEY_PREFIX_MAX + 16];
    kue_key_events(ch, sizeof ch, k->prefix);
    redisReply *r = redisCommand(sub.c, "SUBSCRIBE %s", ch);
    if (!r) { set_err(k, KUE_ERR_IO, "subscribe failed: %s", sub.c->errstr); redisFree(sub.c); return -1; }
    freeReplyObject(r);
    int rc = -1;
    for (;;) {
        r = NULL;
        if (redisGetReply(sub.c, (void **)&r) != REDIS_OK || !r) {
            set_err(k, KUE_ERR_IO, "Redis connection lost: %s", sub.c->errstr);
            break;
        }
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
            r->element[2]->type == REDIS_REPLY_STRING) {
            int64_t id = 0;
            char ev[64] = "";
            if (kue_event_parse(r->element[2]->str, r->element[2]->len, &id, ev, sizeof ev) == 0 &&
                fn(id, ev, r->element[2]->str, privdata)) {
                freeReplyObject(r);
                rc = 0;
                break;
            }
        }
        freeReplyObject(r);
    }
    redisFree(sub.c);
    return rc;
}

/* ---- cron schedules managed at run time ----------------------------------- */

static int cron_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 63) return 0;
    for (const char *c = name; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == ' ' || *c == '/' || *c == '#') return 0;
    return 1;
}

int kue_cron_put(kue_t *k, const char *name, const char *def)
{
    if (!cron_name_ok(name))
        return set_err(k, KUE_ERR_INVALID, "cron name: 1 to 63 characters, no space, '/', '#' or control character");
    size_t n = def ? strlen(def) : 0;
    if (n == 0 || n > KUE_CRON_DEF_MAX)
        return set_err(k, KUE_ERR_INVALID, "cron definition: 1 to %d bytes", KUE_CRON_DEF_MAX);
    char why[256];
    kue_jdoc_t *d = kue_jdoc_parse(def, n, why, sizeof why);
    if (!d) return set_err(k, KUE_ERR_INVALID, "cron definition: not JSON: %s", why);
    const kue_jv_t *o = kue_jdoc_root(d);
    const kue_jv_t *sc = kue_jv_get(o, "schedule"), *ty = kue_jv_get(o, "type");
    const kue_jv_t *tz = kue_jv_get(o, "timezone");
    struct kue_cron_expr e;
    int rc = 0;
    if (o->type != KUE_JOBJ)
        rc = set_err(k, KUE_ERR_INVALID, "cron definition: not a JSON object");
    else if (!sc || sc->type != KUE_JSTR || kue_cron_parse(sc->str, &e, why, sizeof why) < 0)
        rc = set_err(k, KUE_ERR_INVALID, "schedule: %s", sc && sc->type == KUE_JSTR ? why : "missing");
    else if (!ty || ty->type != KUE_JSTR || !ty->len)
        rc = set_err(k, KUE_ERR_INVALID, "type: missing");
    else if (tz && (tz->type != KUE_JSTR || !kue_cron_tz_ok(tz->str)))
        rc = set_err(k, KUE_ERR_INVALID, "timezone: not UTC or a zone of the tz database");
    kue_jdoc_free(d);
    if (rc) return rc;
    redisReply *r = raw_command(k, "HSET %s:cron:defs %s %b", k->prefix, name, def, n);
    if (!r) return -1;
    freeReplyObject(r);
    return 0;
}

int kue_cron_del(kue_t *k, const char *name)
{
    if (!cron_name_ok(name)) return set_err(k, KUE_ERR_INVALID, "cron name not valid");
    redisReply *r = raw_command(k, "HDEL %s:cron:defs %s", k->prefix, name);
    if (!r) return -1;
    int n = r->type == REDIS_REPLY_INTEGER && r->integer > 0;
    freeReplyObject(r);
    return n;
}

static const redisReply *hash_get(const redisReply *h, const char *field)
{
    for (size_t i = 0; h && h->type == REDIS_REPLY_ARRAY && i + 1 < h->elements; i += 2)
        if (h->element[i]->type == REDIS_REPLY_STRING && !strcmp(h->element[i]->str, field))
            return h->element[i + 1];
    return NULL;
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int kue_cron_list(kue_t *k, char **json)
{
    *json = NULL;
    static const char *const keys[4] = { "info", "defs", "last", "job" };
    redisReply *h[4] = { NULL };
    for (int i = 0; i < 4; i++) {
        h[i] = raw_command(k, "HGETALL %s:cron:%s", k->prefix, keys[i]);
        if (!h[i]) {
            for (int j = 0; j < i; j++) freeReplyObject(h[j]);
            return -1;
        }
    }
    size_t cap = (h[0]->elements + h[1]->elements) / 2 + 1, n = 0;
    const char **names = calloc(cap, sizeof *names);
    for (int i = 0; i < 2 && names; i++)
        for (size_t e = 0; h[i]->type == REDIS_REPLY_ARRAY && e + 1 < h[i]->elements; e += 2) {
            const char *nm = h[i]->element[e]->str;
            int dup = 0;
            for (size_t j = 0; j < n; j++) dup |= !strcmp(names[j], nm);
            if (!dup && n < cap) names[n++] = nm;
        }
    kue_buf_t b;
    kue_buf_init(&b);
    kue_buf_putc(&b, '[');
    if (names) qsort(names, n, sizeof *names, cmp_cstr);
    for (size_t i = 0; i < n; i++) {
        if (i) kue_buf_putc(&b, ',');
        kue_buf_puts(&b, "{\"name\":");
        kue_json_str(&b, names[i], strlen(names[i]));
        for (int f = 0; f < 4; f++) {
            const redisReply *v = hash_get(h[f], names[i]);
            static const char *const out[4] = { "info", "definition", "last", "job" };
            kue_buf_printf(&b, ",\"%s\":", out[f]);
            if (!v || v->type != REDIS_REPLY_STRING) kue_buf_puts(&b, "null");
            else if (f < 2 && kue_json_valid(v->str, v->len)) kue_buf_append(&b, v->str, v->len);
            else if (f < 2) kue_json_str(&b, v->str, v->len);
            else kue_buf_printf(&b, "%lld", strtoll(v->str, NULL, 10));
        }
        kue_buf_putc(&b, '}');
    }
    kue_buf_putc(&b, ']');
    free(names);
    for (int i = 0; i < 4; i++) freeReplyObject(h[i]);
    *json = kue_buf_take(&b);
    if (!*json) return set_err(k, KUE_ERR_OOM, "out of memory");
    return 0;
}
