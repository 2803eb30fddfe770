/*
 * conn.h -- an asynchronous Redis connection on a libev loop (hiredis
 * 0.14 async API) that reconnects by itself.
 *
 * Used by the worker and the master.  The connection AUTHs and SELECTs the
 * db of its URL before reporting "connected".  While disconnected, commands
 * are refused (-1): callers keep what they must retry and resend it from
 * their state callback.  Replies are borrowed until the callback returns;
 * a NULL reply means the connection dropped before the answer arrived.
 * Reconnects back off from 100 ms to 5 s.  hiredis 0.14 has no command
 * timeouts: a connect attempt is bounded by an ev_timer here.
 * With a redis-sentinel:// URL the connection also leaves the master as soon
 * as a sentinel starts a failover of it and stays disconnected until the new
 * master is named (at most 5 s), so nothing is written to a master that is
 * being replaced (see conn.c).
 * On a cluster, a plain command answered ASK is sent once more, after
 * ASKING, to the node named (its callback runs after those of the commands
 * sent behind it); a script gets the ASK reply (see conn.c).
 */
#ifndef KUE_CONN_H
#define KUE_CONN_H

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include "scripts.h"
#include "url.h"

struct ev_loop;
typedef struct kue_conn kue_conn_t;

/* Called with connected = 1 when ready, 0 when the connection is lost. */
typedef void kue_conn_state_fn(kue_conn_t *c, int connected, void *privdata);

/* name: for logs ("cmd", "blocking", "pubsub").  Starts connecting at once. */
kue_conn_t *kue_conn_new(struct ev_loop *loop, const kue_url_t *url, const char *name,
                         kue_conn_state_fn *fn, void *privdata);
/* Disconnect (pending callbacks get NULL) and free. */
void kue_conn_free(kue_conn_t *c);
int kue_conn_ready(const kue_conn_t *c);
/* Ready and not closing: a command sent now is accepted (during the
 * callbacks of a lost connection, kue_conn_ready() is still true). */
int kue_conn_usable(const kue_conn_t *c);
/* Number of commands sent and not yet answered. */
int kue_conn_pending(const kue_conn_t *c);

int kue_conn_command(kue_conn_t *c, redisCallbackFn *cb, void *privdata, const char *fmt, ...);
int kue_conn_commandargv(kue_conn_t *c, redisCallbackFn *cb, void *privdata,
                         int argc, const char **argv, const size_t *lens);
/* Run the script (at most KUE_SCRIPT_MAX_ARGS arguments, copied): FCALL of
 * kue's function library, or EVALSHA where the server has no functions.
 * When the script or the library is missing it is re-sent once as EVAL
 * (after the commands sent behind it: see kue_conn_runs_scripts) and cb
 * sees that reply.  cb may be NULL. */
int kue_conn_script(kue_conn_t *c, kue_script_id id, redisCallbackFn *cb, void *privdata,
                    int argc, const char **argv, const size_t *lens);
/* This connection runs scripts: each handshake loads kue's function
 * library first (FUNCTION LOAD; on a server without functions, scripts go
 * as EVALSHA), so no script call finds it missing and is re-sent out of
 * order.  Call right after kue_conn_new(). */
void kue_conn_runs_scripts(kue_conn_t *c);
/* Scripts go as FCALL on this connection now (else EVALSHA). */
int kue_conn_fcall(const kue_conn_t *c);
/* SUBSCRIBE to channel: cb is called for the subscribe confirmation and for
 * every message (a NULL reply when the connection drops).  Subscriptions do
 * not survive a reconnect: subscribe again from the state callback. */
int kue_conn_subscribe(kue_conn_t *c, const char *channel, redisCallbackFn *cb, void *privdata);

/* Non-zero when an error reply means "not now" rather than "never": Redis
 * refuses writes (OOM over maxmemory, MISCONF after a failed save, READONLY
 * from a replica or a demoted master), is loading, busy with a script, or
 * its cluster is not ready.  A call refused this way changed nothing (a
 * script is refused before its first write) and can be sent again. */
int kue_reply_transient(const char *err);

#endif
