/*
 * conn.c -- one asynchronous Redis connection on a libev loop, reconnecting
 * by itself (hiredis 0.14 async API; see conn.h for the contract).
 *
 * Life of a connection: CONNECTING (a connect timer bounds it, since
 * hiredis 0.14 has no connect timeout of its own) -> HANDSHAKE (AUTH,
 * SELECT, PING, which a server still loading its data refuses, and for a
 * redis-sentinel:// URL a ROLE check) -> READY (the
 * owner's state callback runs with 1) -> on any error the context is gone,
 * the owner hears 0, and a retry timer with exponential backoff (100 ms ..
 * 5 s; 1 s with Sentinel or Cluster, so a failover is followed quickly)
 * starts over.
 *
 * Failover: with a sentinel URL every connect first asks the sentinels for
 * the master (a blocking lookup bounded at about 250 ms per sentinel that
 * does not answer).  Whatever the URL, an error reply that says the server
 * is no longer a writable master (READONLY, MASTERDOWN, LOADING, UNBLOCKED)
 * is handed to its callback as usual and then drops the connection, so the
 * reconnect finds the current master.  And since Sentinel does not pause a
 * master it replaces (it stays writable until the sentinels reconfigure it,
 * up to about 10 s, and whatever reaches it after the replica's promotion is
 * lost), each connection of a sentinel URL also subscribes to the failover
 * events of every sentinel (the "watches": only the sentinel leading a
 * failover publishes its progress).  At the first sign that a failover of
 * our master has begun (+try-failover, +elected-leader, ...), before the
 * replica is promoted, the connection leaves the master: it sends nothing
 * more, takes the replies of what it sent (at most CONN_DRAIN_S) and closes,
 * and it connects nowhere ("held") until +switch-master names the new master,
 * which it then connects to without a lookup.  A -failover-abort-* event or
 * CONN_HOLD_S without +switch-master ends the hold and the sentinels are
 * asked again.  +switch-master alone (a failover whose start no watch saw)
 * drops the connection too.
 *
 * Cluster redirections: MOVED drops the connection (kue_reply_wants_failover)
 * and the reconnect reads the slot map again.  ASK (the queue's slot is
 * being migrated and the key has already left) is followed once, without
 * touching the map: a short-lived connection to the node it names sends
 * ASKING and the command, and the caller's callback gets that node's
 * reply.  If the node cannot be reached within CONN_CONNECT_TIMEOUT, the
 * caller gets the ASK reply itself, which is transient (kue_reply_transient)
 * and retried.  An asked command runs, and is answered, after the commands
 * pipelined behind it.  Scripts are not asked: the importing node refuses
 * any of them with TRYAGAIN while one of its declared keys is missing there,
 * and {P}:fence never exists (docs/wire.md), so a script only ever gets the
 * ASK reply, transient, and is retried until the migration ends.
 *
 * Ownership: the hiredis context belongs to hiredis once connected (it frees
 * it itself after a disconnect); ac->data points back to us and is cleared
 * before we free ourselves, so callbacks that hiredis runs late (NULL
 * replies of a freed context) never touch freed memory.
 */
#include "conn.h"

#include <ev.h>
#include <hiredis/adapters/libev.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "cluster.h"
#include "sentinel.h"

#define CONN_BACKOFF_MIN_MS 100
#define CONN_BACKOFF_MAX_MS 5000
#define CONN_BACKOFF_MAX_FAILOVER_MS 1000   /* sentinel and cluster URLs */
#define CONN_CONNECT_TIMEOUT 5.0
#define CONN_HOLD_S 5.0                     /* longest pause for a failover under way */
#define CONN_DRAIN_S 0.3                    /* replies awaited from a master being left */

struct kue_conn;

/* A subscription to one sentinel's failover events. */
struct conn_watch {
    struct kue_conn *c;
    redisAsyncContext *ac;       /* ac->data points here while it is ours */
    ev_timer retry;
};

struct kue_conn {
    struct ev_loop *loop;
    kue_url_t url;
    char name[32];
    char where[320];             /* printable endpoint, for logs */
    kue_conn_state_fn *fn;
    void *privdata;
    redisAsyncContext *ac;       /* NULL while disconnected */
    int ready;                   /* handshake done */
    int scripts;                 /* load kue's function library in the handshake */
    int fcall;                   /* scripts go as FCALL on this connection (else EVALSHA) */
    int loading;                 /* a FUNCTION LOAD after a miss is under way */
    int pending;                 /* our commands without a reply yet */
    int backoff_ms;
    int failures;                /* consecutive failed attempts (for log throttling) */
    ev_timer retry;              /* next connect attempt */
    ev_timer connect_timeout;
    struct conn_watch watch[KUE_URL_MAX_SENTINELS];  /* sentinel URLs: one per sentinel */
    int held;                    /* a failover of our master is under way: connect nowhere */
    ev_timer hold;               /* bounds held */
    ev_timer drain;              /* bounds leaving a master (conn_leave) */
    char next_host[256];         /* named by +switch-master: connect there next */
    int next_port;
    struct conn_ask *asks;       /* ASK redirections being followed */
};

/* A command in flight.  Scripts keep their arguments for the NOSCRIPT
 * fallback; they live in the same allocation.  Plain commands keep their
 * formatted text, to be sent again after an ASK. */
struct conn_cmd {
    redisCallbackFn *cb;
    void *privdata;
    int script;                  /* -1: plain command; else kue_script_id */
    int retried;                 /* already re-sent as EVAL */
    int asked;                   /* already sent to the node an ASK named */
    int argc;                    /* script arguments (without EVALSHA sha 2 K1 K2) */
    const char **argv;           /* argc + 5: EVALSHA|EVAL, sha|source, "2", KEYS, ARGV */
    size_t *lens;
    char *text;                  /* plain commands: the formatted command */
    size_t textlen;
};

/* An ASK being followed: a connection of its own to the named node. */
struct conn_ask {
    struct conn_ask *next;
    kue_conn_t *c;
    struct conn_cmd *cmd;
    redisAsyncContext *ac;       /* ac->data points here while it is ours */
    ev_timer timeout;
    char err[128];               /* the ASK reply, given back if the node fails */
};

static void cmd_free(struct conn_cmd *cmd)
{
    if (cmd) free(cmd->text);
    free(cmd);
}

static void conn_connect(kue_conn_t *c);

static void schedule_retry(kue_conn_t *c)
{
    double after = c->backoff_ms / 1000.0;
    c->backoff_ms *= 2;
    int max = c->url.nsentinels || c->url.nseeds ? CONN_BACKOFF_MAX_FAILOVER_MS : CONN_BACKOFF_MAX_MS;
    if (c->backoff_ms > max) c->backoff_ms = max;
    ev_timer_stop(c->loop, &c->retry);
    ev_timer_set(&c->retry, after, 0.);
    ev_timer_start(c->loop, &c->retry);
}

static void asks_abort(kue_conn_t *c);

static void lost(kue_conn_t *c, const char *why)
{
    int was_ready = c->ready;
    c->ready = 0;
    c->ac = NULL;
    asks_abort(c);               /* their callbacks get NULL, as the pending ones did */
    c->pending = 0;
    ev_timer_stop(c->loop, &c->connect_timeout);
    ev_timer_stop(c->loop, &c->drain);
    if (was_ready)
        klog_warn("redis %s (%s): connection lost: %s", c->name, c->where, why);
    else if (c->failures++ % 20 == 0)
        klog_warn("redis %s (%s): cannot connect: %s", c->name, c->where, why);
    schedule_retry(c);
    if (was_ready && c->fn) c->fn(c, 0, c->privdata);
}

/* ---- the sentinel watch ---------------------------------------------------- */

/* The failover events a sentinel publishes before it promotes the replica
 * (only the sentinel that leads a failover publishes them, hence one watch
 * per sentinel), and +switch-master, which it publishes once the replica
 * is a master. */
#define WATCH_CHANNELS "+switch-master +try-failover +elected-leader " \
    "+failover-state-select-slave +selected-slave +failover-state-send-slaveof-noone"
#define WATCH_ABORTS "-failover-abort-*"

static void watch_start(kue_conn_t *c);
static void conn_leave(kue_conn_t *c, const char *why);

static void watch_lost(struct conn_watch *w)
{
    kue_conn_t *c = w->c;
    w->ac = NULL;
    ev_timer_stop(c->loop, &w->retry);
    ev_timer_set(&w->retry, 1.0, 0.);
    ev_timer_start(c->loop, &w->retry);
}

/* The master name in an event's "<instance details>": "master NAME IP PORT"
 * for a master, "slave|sentinel ... @ NAME IP PORT" for the others. */
static int event_names(const char *payload, const char *name)
{
    char tok[128];
    const char *at = strstr(payload, " @ ");
    if (at) return sscanf(at + 3, "%127s", tok) == 1 && !strcmp(tok, name);
    return sscanf(payload, "master %127s", tok) == 1 && !strcmp(tok, name);
}

/* Connect now unless held or a connection is still being left (its loss
 * schedules the retry). */
static void connect_now(kue_conn_t *c)
{
    if (c->held || c->ac) return;
    ev_timer_stop(c->loop, &c->retry);
    conn_connect(c);
}

static void hold_end(kue_conn_t *c)
{
    c->held = 0;
    ev_timer_stop(c->loop, &c->hold);
    connect_now(c);
}

static void on_hold_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    kue_conn_t *c = w->data;
    klog_warn("redis %s (%s): sentinel: no new master named within %.0f s; asking the "
              "sentinels again", c->name, c->where, CONN_HOLD_S);
    hold_end(c);
}

/* A sentinel began a failover of our master: stop writing to it now, while
 * the replica still follows it, and connect to nothing until the new master
 * is named (or the failover is abandoned, or CONN_HOLD_S passes). */
static void failover_begins(kue_conn_t *c, const char *event)
{
    if (c->held) return;
    klog_info("redis %s (%s): sentinel: %s for \"%s\"; leaving the master until the new one "
              "is named", c->name, c->where, event, c->url.master_name);
    c->held = 1;
    ev_timer_set(&c->hold, CONN_HOLD_S, 0.);
    ev_timer_start(c->loop, &c->hold);
    conn_leave(c, "a failover began");
}

/* "+switch-master" payload: "<name> <old-ip> <old-port> <new-ip> <new-port>". */
static void master_switched(kue_conn_t *c, const char *payload)
{
    char name[128], oip[256], nip[256];
    int oport, nport;
    if (sscanf(payload, "%127s %255s %d %255s %d", name, oip, &oport, nip, &nport) != 5 ||
        strcmp(name, c->url.master_name) != 0 || nport < 1 || nport > 65535)
        return;
    if (!c->held && !strcmp(nip, c->url.host) && nport == c->url.port) return;
    klog_warn("redis %s (%s): sentinel: master \"%s\" moved to %s:%d; reconnecting", c->name,
              c->where, name, nip, nport);
    snprintf(c->next_host, sizeof c->next_host, "%s", nip);
    c->next_port = nport;
    c->held = 0;
    ev_timer_stop(c->loop, &c->hold);
    conn_leave(c, "the master moved");
    connect_now(c);
}

static void on_watch_msg(redisAsyncContext *ac, void *r, void *privdata)
{
    struct conn_watch *w = ac->data;
    redisReply *reply = r;
    (void)privdata;
    if (!w || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) return;
    for (size_t i = 0; i < reply->elements; i++)
        if (reply->element[i]->type != REDIS_REPLY_STRING) return;
    const char *kind = reply->element[0]->str, *channel, *payload;
    if (!strcmp(kind, "message") && reply->elements == 3) {
        channel = reply->element[1]->str;
        payload = reply->element[2]->str;
    } else if (!strcmp(kind, "pmessage") && reply->elements == 4) {
        channel = reply->element[2]->str;
        payload = reply->element[3]->str;
    } else {
        return;                               /* a subscribe confirmation */
    }
    kue_conn_t *c = w->c;
    if (!strcmp(channel, "+switch-master")) {
        master_switched(c, payload);
    } else if (!event_names(payload, c->url.master_name)) {
        return;
    } else if (!strncmp(channel, "-failover-abort-", 16)) {
        if (!c->held) return;
        klog_warn("redis %s (%s): sentinel: %s; asking the sentinels again", c->name, c->where,
                  channel);
        hold_end(c);
    } else {
        failover_begins(c, channel);
    }
}

static void on_watch_connect(const redisAsyncContext *ac, int status)
{
    struct conn_watch *w = ac->data;
    if (w && status != REDIS_OK) watch_lost(w);     /* hiredis frees ac */
}

static void on_watch_disconnect(const redisAsyncContext *ac, int status)
{
    struct conn_watch *w = ac->data;
    if (w) watch_lost(w);
}

static void on_watch_retry(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct conn_watch *w = t->data;
    watch_start(w->c);
}

static void watch_one(kue_conn_t *c, struct conn_watch *w)
{
    ev_timer_stop(c->loop, &w->retry);
    const kue_hostport_t *s = &c->url.sentinels[w - c->watch];
    redisAsyncContext *ac = redisAsyncConnect(s->host, s->port);
    if (!ac || ac->err) {
        if (ac) redisAsyncFree(ac);
        watch_lost(w);
        return;
    }
    ac->data = w;
    w->ac = ac;
    redisLibevAttach(c->loop, ac);
    redisAsyncSetConnectCallback(ac, on_watch_connect);
    redisAsyncSetDisconnectCallback(ac, on_watch_disconnect);
    if (c->url.sentinel_password[0])
        redisAsyncCommand(ac, NULL, NULL, "AUTH %s", c->url.sentinel_password);
    redisAsyncCommand(ac, on_watch_msg, NULL, "SUBSCRIBE " WATCH_CHANNELS);
    redisAsyncCommand(ac, on_watch_msg, NULL, "PSUBSCRIBE " WATCH_ABORTS);
}

/* One watch on every sentinel not watched yet (a lost one waits for its
 * retry timer). */
static void watch_start(kue_conn_t *c)
{
    for (int i = 0; i < c->url.nsentinels && i < KUE_URL_MAX_SENTINELS; i++)
        if (!c->watch[i].ac && !ev_is_active(&c->watch[i].retry)) watch_one(c, &c->watch[i]);
}

static void watch_stop(kue_conn_t *c)
{
    for (int i = 0; i < KUE_URL_MAX_SENTINELS; i++) {
        struct conn_watch *w = &c->watch[i];
        ev_timer_stop(c->loop, &w->retry);
        if (w->ac) {
            redisAsyncContext *ac = w->ac;
            ac->data = NULL;
            w->ac = NULL;
            redisAsyncFree(ac);
        }
    }
}

/* ---- leaving a master ---------------------------------------------------------- */

static void on_drain_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    kue_conn_t *c = w->data;
    /* the commands still unanswered get NULL, then on_disconnect runs */
    if (c->ac && (c->ac->c.flags & REDIS_DISCONNECTING) && !(c->ac->c.flags & REDIS_FREEING))
        redisAsyncFree(c->ac);
}

/* Stop using the current master: a ready connection sends nothing more but
 * still takes the replies of what it sent (for at most CONN_DRAIN_S), a
 * connection not ready yet is dropped.  The retry follows its loss. */
static void conn_leave(kue_conn_t *c, const char *why)
{
    redisAsyncContext *ac = c->ac;
    if (!ac || (ac->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING))) return;
    if (c->ready) {
        redisAsyncDisconnect(ac);  /* at once if nothing is pending: on_disconnect runs */
        if (c->ac == ac) {
            ev_timer_set(&c->drain, CONN_DRAIN_S, 0.);
            ev_timer_start(c->loop, &c->drain);
        }
    } else {
        ac->data = NULL;
        redisAsyncFree(ac);
        c->ac = NULL;
        lost(c, why);
    }
}

/* ---- the connection ---------------------------------------------------------- */

static char hs_last, hs_role;    /* markers: the handshake's last command */

/* The reply to FUNCTION LOAD of kue's library: from here on this
 * connection's scripts go as FCALL if the library is there, else as
 * EVALSHA (a server older than 7, FUNCTION not allowed to the user).  Not
 * a handshake failure either way. */
static void on_library(redisAsyncContext *ac, void *r, void *privdata)
{
    kue_conn_t *c = ac->data;
    redisReply *reply = r;
    (void)privdata;
    if (!c || !reply || ac != c->ac) return;
    c->loading = 0;
    if (kue_script_load_reply_ok(reply)) {
        c->fcall = 1;
    } else {
        klog_info("redis %s (%s): no function library (%s): scripts run with EVALSHA", c->name,
                  c->where, reply->type == REDIS_REPLY_ERROR ? reply->str : "?");
        c->fcall = 0;
    }
}

static void load_library(kue_conn_t *c, redisAsyncContext *ac)
{
    size_t len;
    const char *lib = kue_script_library(&len);
    const char *v[] = { "FUNCTION", "LOAD", lib };
    size_t l[] = { 8, 4, len };
    if (redisAsyncCommandArgv(ac, on_library, NULL, 3, v, l) == REDIS_OK) c->loading = 1;
}

static void on_handshake(redisAsyncContext *ac, void *r, void *privdata)
{
    kue_conn_t *c = ac->data;
    redisReply *reply = r;
    if (!c || !reply) return;               /* dropped; on_disconnect handles it */
    if (reply->type == REDIS_REPLY_ERROR) {
        /* a server still loading its data answers PING with LOADING:
         * not ready yet, try again after the backoff */
        klog(strncmp(reply->str, "LOADING", 7) ? KLOG_ERROR : KLOG_INFO,
             "redis %s (%s): handshake refused: %s", c->name, c->where, reply->str);
        redisAsyncDisconnect(ac);
        return;
    }
    if (privdata == &hs_role && !kue_role_is_master(reply)) {
        klog_warn("redis %s (%s): not a master (yet); asking the sentinels again", c->name,
                  c->where);
        redisAsyncDisconnect(ac);
        return;
    }
    if (!privdata) return;
    c->ready = 1;
    c->failures = 0;
    c->backoff_ms = CONN_BACKOFF_MIN_MS;
    klog_debug("redis %s (%s): ready", c->name, c->where);
    watch_start(c);
    if (c->fn) c->fn(c, 1, c->privdata);
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    kue_conn_t *c = cac->data;
    if (!c) return;
    ev_timer_stop(c->loop, &c->connect_timeout);
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback. */
        lost(c, cac->errstr[0] ? cac->errstr : "connect failed");
        return;
    }
    redisAsyncContext *ac = c->ac;
    int sentinel = c->url.nsentinels > 0;
    if (c->url.user[0])
        redisAsyncCommand(ac, on_handshake, NULL, "AUTH %s %s", c->url.user, c->url.password);
    else if (c->url.password[0])
        redisAsyncCommand(ac, on_handshake, NULL, "AUTH %s", c->url.password);
    redisAsyncCommand(ac, on_handshake, NULL, "SELECT %d", c->url.db);
    c->fcall = kue_script_functions();
    c->loading = 0;
    if (c->scripts && c->fcall) load_library(c, ac);
    /* not "connected" while the server is still loading its data */
    redisAsyncCommand(ac, on_handshake, sentinel ? NULL : &hs_last, "PING");
    if (sentinel) redisAsyncCommand(ac, on_handshake, &hs_role, "ROLE");
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
    kue_conn_t *c = cac->data;
    if (!c) return;
    lost(c, status == REDIS_OK ? "closed" : (cac->errstr[0] ? cac->errstr : "error"));
}

static void on_connect_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    kue_conn_t *c = w->data;
    if (!c->ac) return;
    redisAsyncContext *ac = c->ac;
    /* Not connected yet, so hiredis will not call on_disconnect. */
    ac->data = NULL;
    redisAsyncFree(ac);
    c->ac = NULL;
    lost(c, "connect timed out");
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    conn_connect(w->data);
}

static void conn_connect(kue_conn_t *c)
{
    if (c->held) return;         /* hold_end() or +switch-master connects */
    if (c->next_host[0]) {       /* the sentinels named it: no lookup */
        snprintf(c->url.host, sizeof c->url.host, "%s", c->next_host);
        c->url.port = c->next_port;
        c->next_host[0] = '\0';
        kue_url_format(&c->url, c->where, sizeof c->where);
    } else if (c->url.nsentinels > 0 || c->url.nseeds > 0) {
        char why[512];
        if ((c->url.nsentinels > 0 ? kue_sentinel_resolve(&c->url, why, sizeof why)
                                   : kue_cluster_resolve(&c->url, why, sizeof why)) != 0) {
            lost(c, why);
            return;
        }
        kue_url_format(&c->url, c->where, sizeof c->where);
    }
    redisAsyncContext *ac = c->url.path[0] ? redisAsyncConnectUnix(c->url.path)
                                           : redisAsyncConnect(c->url.host, c->url.port);
    if (!ac) {
        lost(c, "out of memory");
        return;
    }
    if (ac->err) {
        char why[128];
        snprintf(why, sizeof why, "%s", ac->errstr);
        redisAsyncFree(ac);
        lost(c, why);
        return;
    }
    ac->data = c;
    c->ac = ac;
    redisLibevAttach(c->loop, ac);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    ev_timer_set(&c->connect_timeout, CONN_CONNECT_TIMEOUT, 0.);
    ev_timer_start(c->loop, &c->connect_timeout);
}

kue_conn_t *kue_conn_new(struct ev_loop *loop, const kue_url_t *url, const char *name,
                         kue_conn_state_fn *fn, void *privdata)
{
    kue_conn_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->loop = loop;
    c->url = *url;
    snprintf(c->name, sizeof c->name, "%s", name ? name : "conn");
    kue_url_format(url, c->where, sizeof c->where);
    c->fn = fn;
    c->privdata = privdata;
    c->backoff_ms = CONN_BACKOFF_MIN_MS;
    ev_timer_init(&c->retry, on_retry, 0., 0.);
    c->retry.data = c;
    ev_timer_init(&c->connect_timeout, on_connect_timeout, 0., 0.);
    c->connect_timeout.data = c;
    for (int i = 0; i < KUE_URL_MAX_SENTINELS; i++) {
        c->watch[i].c = c;
        ev_timer_init(&c->watch[i].retry, on_watch_retry, 0., 0.);
        c->watch[i].retry.data = &c->watch[i];
    }
    ev_timer_init(&c->hold, on_hold_timeout, 0., 0.);
    c->hold.data = c;
    ev_timer_init(&c->drain, on_drain_timeout, 0., 0.);
    c->drain.data = c;
    conn_connect(c);
    return c;
}

void kue_conn_free(kue_conn_t *c)
{
    if (!c) return;
    asks_abort(c);
    ev_timer_stop(c->loop, &c->retry);
    ev_timer_stop(c->loop, &c->connect_timeout);
    ev_timer_stop(c->loop, &c->hold);
    ev_timer_stop(c->loop, &c->drain);
    watch_stop(c);
    if (c->ac) {
        redisAsyncContext *ac = c->ac;
        ac->data = NULL;        /* pending callbacks run with NULL, without us */
        c->ac = NULL;
        redisAsyncFree(ac);
    }
    free(c);
}

int kue_conn_ready(const kue_conn_t *c)
{
    return c && c->ready && c->ac;
}

int kue_conn_pending(const kue_conn_t *c)
{
    return c ? c->pending : 0;
}

static int usable(const kue_conn_t *c)
{
    return c->ready && c->ac &&
           !(c->ac->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING));
}

int kue_conn_usable(const kue_conn_t *c) { return c && usable(c); }

static int send_script(kue_conn_t *c, struct conn_cmd *cmd, int as_eval);

/* ---- following ASK ---------------------------------------------------------- */

static void ask_unlink(struct conn_ask *a)
{
    for (struct conn_ask **p = &a->c->asks; *p; p = &(*p)->next)
        if (*p == a) {
            *p = a->next;
            break;
        }
    ev_timer_stop(a->c->loop, &a->timeout);
    a->ac->data = NULL;          /* its late callbacks find nothing */
}

/* Hand the asked command its reply (NULL: the connection was lost) and
 * free it.  The caller has unlinked a and still owns a->ac. */
static void ask_finish(struct conn_ask *a, redisAsyncContext *ac, redisReply *reply)
{
    kue_conn_t *c = a->c;
    struct conn_cmd *cmd = a->cmd;
    if (c->pending > 0) c->pending--;
    if (cmd->cb) cmd->cb(ac, reply, cmd->privdata);     /* may free c */
    cmd_free(cmd);
    free(a);
}

/* The node failed us: the caller gets the ASK reply itself (transient). */
static void ask_fail(struct conn_ask *a)
{
    redisAsyncContext *ac = a->ac;
    ask_unlink(a);
    klog_warn("redis %s (%s): %s: the node did not answer", a->c->name, a->c->where, a->err);
    redisReply r = { .type = REDIS_REPLY_ERROR, .str = a->err, .len = strlen(a->err) };
    ask_finish(a, ac, &r);
}

static void on_ask_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct conn_ask *a = ac->data;
    (void)privdata;
    if (!a) return;
    if (!r) {
        ask_fail(a);
        return;
    }
    ask_unlink(a);
    ask_finish(a, ac, r);
    redisAsyncDisconnect(ac);    /* one command only; hiredis closes it after this callback */
}

static void on_ask_connect(const redisAsyncContext *ac, int status)
{
    struct conn_ask *a = ac->data;
    if (a && status != REDIS_OK) ask_fail(a);          /* hiredis frees ac */
}

static void on_ask_disconnect(const redisAsyncContext *ac, int status)
{
    struct conn_ask *a = ac->data;
    if (a) ask_fail(a);
}

static void on_ask_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct conn_ask *a = w->data;
    redisAsyncContext *ac = a->ac;
    ask_fail(a);
    redisAsyncFree(ac);
}

/* Follow the ASK in reply for the plain command cmd: 0 when the command is
 * on its way to the named node (cmd belongs to the ask now), -1 to answer
 * with reply. */
static int ask_start(kue_conn_t *c, struct conn_cmd *cmd, const redisReply *reply)
{
    unsigned slot;
    char host[256];
    int port;
    if (kue_cluster_redirect(reply, &slot, host, sizeof host, &port) != 2) return -1;
    struct conn_ask *a = calloc(1, sizeof *a);
    if (!a) return -1;
    redisAsyncContext *ac = redisAsyncConnect(host, port);
    if (!ac || ac->err) {
        if (ac) redisAsyncFree(ac);
        free(a);
        return -1;
    }
    a->c = c;
    a->cmd = cmd;
    a->ac = ac;
    snprintf(a->err, sizeof a->err, "%s", reply->str);
    ac->data = a;
    redisLibevAttach(c->loop, ac);
    redisAsyncSetConnectCallback(ac, on_ask_connect);
    redisAsyncSetDisconnectCallback(ac, on_ask_disconnect);
    /* queued until the connection is up; only the last one's reply counts */
    if (c->url.user[0])
        redisAsyncCommand(ac, NULL, NULL, "AUTH %s %s", c->url.user, c->url.password);
    else if (c->url.password[0])
        redisAsyncCommand(ac, NULL, NULL, "AUTH %s", c->url.password);
    redisAsyncCommand(ac, NULL, NULL, "ASKING");
    if (redisAsyncFormattedCommand(ac, on_ask_reply, NULL, cmd->text, cmd->textlen) != REDIS_OK) {
        ac->data = NULL;
        redisAsyncFree(ac);
        free(a);
        return -1;
    }
    cmd->asked = 1;
    ev_timer_init(&a->timeout, on_ask_timeout, CONN_CONNECT_TIMEOUT, 0.);
    a->timeout.data = a;
    ev_timer_start(c->loop, &a->timeout);
    a->next = c->asks;
    c->asks = a;
    c->pending++;
    klog_debug("redis %s (%s): %s: following it", c->name, c->where, reply->str);
    return 0;
}

/* The connection is lost or freed: every ASK being followed ends, its
 * command answered NULL. */
static void asks_abort(kue_conn_t *c)
{
    while (c->asks) {
        struct conn_ask *a = c->asks;
        redisAsyncContext *ac = a->ac;
        ask_unlink(a);
        ask_finish(a, ac, NULL);
        redisAsyncFree(ac);
    }
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct conn_cmd *cmd = privdata;
    kue_conn_t *c = ac->data;
    redisReply *reply = r;
    if (c && c->pending > 0) c->pending--;
    kue_script_reply kind;
    if (reply && cmd->script >= 0 && !cmd->retried && c && usable(c) &&
        (kind = kue_script_reply_kind(reply)) != KUE_SR_OK) {
        /* not run: the script or the library is missing (a restarted or
         * flushed server), or this server has no functions; run it as EVAL
         * (which caches the script), and load the library for the calls
         * that follow */
        if (kind == KUE_SR_NOFCALL) c->fcall = 0;
        if (kind == KUE_SR_NOFUNC && !c->loading) load_library(c, c->ac);
        cmd->retried = 1;
        if (send_script(c, cmd, 1) == 0) return;    /* cmd lives on */
    }
    if (reply && reply->type == REDIS_REPLY_ERROR && cmd->script < 0 && !cmd->asked && c &&
        usable(c) && !strncmp(reply->str, "ASK ", 4) && ask_start(c, cmd, reply) == 0)
        return;                                     /* cmd lives on */
    if (cmd->cb) cmd->cb(ac, reply, cmd->privdata);
    cmd_free(cmd);
    c = ac->data;                           /* the callback may have freed us */
    if (c && usable(c) && kue_reply_wants_failover(reply)) {
        klog_warn("redis %s (%s): %s: reconnecting to the current master", c->name, c->where,
                  reply->str);
        redisAsyncDisconnect(ac);
    }
}

int kue_conn_command(kue_conn_t *c, redisCallbackFn *cb, void *privdata, const char *fmt, ...)
{
    if (!usable(c)) return -1;
    struct conn_cmd *cmd = calloc(1, sizeof *cmd);
    if (!cmd) return -1;
    cmd->cb = cb;
    cmd->privdata = privdata;
    cmd->script = -1;
    va_list ap;
    va_start(ap, fmt);
    int len = redisvFormatCommand(&cmd->text, fmt, ap);
    va_end(ap);
    if (len < 0 ||
        redisAsyncFormattedCommand(c->ac, on_reply, cmd, cmd->text, (size_t)len) != REDIS_OK) {
        cmd_free(cmd);
        return -1;
    }
    cmd->textlen = (size_t)len;
    c->pending++;
    return 0;
}

int kue_conn_commandargv(kue_conn_t *c, redisCallbackFn *cb, void *privdata,
                         int argc, const char **argv, const size_t *lens)
{
    if (!usable(c)) return -1;
    struct conn_cmd *cmd = calloc(1, sizeof *cmd);
    if (!cmd) return -1;
    cmd->cb = cb;
    cmd->privdata = privdata;
    cmd->script = -1;
    int len = redisFormatCommandArgv(&cmd->text, argc, argv, lens);
    if (len < 0 ||
        redisAsyncFormattedCommand(c->ac, on_reply, cmd, cmd->text, (size_t)len) != REDIS_OK) {
        cmd_free(cmd);
        return -1;
    }
    cmd->textlen = (size_t)len;
    c->pending++;
    return 0;
}

static int send_script(kue_conn_t *c, struct conn_cmd *cmd, int as_eval)
{
    const char *body = as_eval   ? kue_script_source(cmd->script)
                       : c->fcall ? kue_script_fname(cmd->script)
                                  : kue_script_sha(cmd->script);
    cmd->argv[0] = as_eval ? "EVAL" : c->fcall ? "FCALL" : "EVALSHA";
    cmd->lens[0] = strlen(cmd->argv[0]);
    cmd->argv[1] = body;
    cmd->lens[1] = strlen(body);
    if (redisAsyncCommandArgv(c->ac, on_reply, cmd, cmd->argc + 3 + KUE_SCRIPT_NKEYS, cmd->argv,
                              cmd->lens) != REDIS_OK)
        return -1;
    c->pending++;
    return 0;
}

int kue_conn_script(kue_conn_t *c, kue_script_id id, redisCallbackFn *cb, void *privdata,
                    int argc, const char **argv, const size_t *lens)
{
    if (!usable(c) || argc < 1 || argc > KUE_SCRIPT_MAX_ARGS) return -1;
    size_t total = KUE_SCRIPT_KEYS_BUF;
    for (int i = 0; i < argc; i++) total += lens ? lens[i] : strlen(argv[i]);
    /* One block: the struct, the pointer and length arrays (with the five
     * leading EVALSHA sha 2 K1 K2 slots), the KEYS and the bytes. */
    size_t head = 3 + KUE_SCRIPT_NKEYS, nv = (size_t)argc + head;
    size_t hdr = sizeof(struct conn_cmd) + nv * (sizeof(char *) + sizeof(size_t));
    struct conn_cmd *cmd = malloc(hdr + total + (size_t)argc);
    if (!cmd) return -1;
    memset(cmd, 0, sizeof *cmd);
    cmd->cb = cb;
    cmd->privdata = privdata;
    cmd->script = (int)id;
    cmd->argc = argc;
    cmd->argv = (const char **)(cmd + 1);
    cmd->lens = (size_t *)(cmd->argv + nv);
    _Static_assert(KUE_SCRIPT_NKEYS == 2, "the key count below");
    cmd->argv[2] = "2";
    cmd->lens[2] = 1;
    char *keys = (char *)(cmd->lens + nv), *p = keys + KUE_SCRIPT_KEYS_BUF;
    for (int i = 0; i < argc; i++) {
        size_t l = lens ? lens[i] : strlen(argv[i]);
        memcpy(p, argv[i], l);
        p[l] = '\0';
        cmd->argv[i + head] = p;
        cmd->lens[i + head] = l;
        p += l + 1;
    }
    if (kue_script_keys(cmd->argv[head], cmd->lens[head], keys, cmd->argv + 3, cmd->lens + 3) != 0) {
        free(cmd);
        return -1;
    }
    if (send_script(c, cmd, 0) != 0) {
        free(cmd);
        return -1;
    }
    return 0;
}

void kue_conn_runs_scripts(kue_conn_t *c)
{
    c->scripts = 1;
}

int kue_conn_fcall(const kue_conn_t *c)
{
    return c->fcall;
}

int kue_conn_subscribe(kue_conn_t *c, const char *channel, redisCallbackFn *cb, void *privdata)
{
    if (!usable(c)) return -1;
    /* hiredis calls cb for every message, so it is not wrapped. */
    return redisAsyncCommand(c->ac, cb, privdata, "SUBSCRIBE %s", channel) == REDIS_OK ? 0 : -1;
}

int kue_reply_transient(const char *err)
{
    static const char *const codes[] = { "OOM ", "MISCONF ", "READONLY ", "LOADING ", "BUSY ",
                                         "MASTERDOWN ", "NOREPLICAS ", "TRYAGAIN ",
                                         "CLUSTERDOWN ", "MOVED ", "ASK " };
    if (!err) return 0;
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        if (!strncmp(err, codes[i], strlen(codes[i]))) return 1;
        /* Redis < 7 wraps an error raised inside a script:
         * "ERR Error running script ...: -OOM command not allowed ..." */
        const char *p = strstr(err, codes[i]);
        if (p && p > err && p[-1] == '-') return 1;
    }
    return 0;
}
