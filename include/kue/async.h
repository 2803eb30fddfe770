/*
 * async.h -- the non-blocking producer of libkue: save jobs from a libev
 * loop, many in flight on one connection.
 *
 * kue_job_save() waits for each reply.  kue_async_save() sends the same
 * enqueue call (same validation, same error texts, same Redis writes,
 * search indexing included) and returns at once; the reply arrives as a
 * callback on the loop.  Saves made in one loop iteration share one
 * enqueue call (up to 100 jobs, sent before the loop next blocks, or at
 * once when full), which gives them consecutive ids and is atomic as a
 * whole; calls issued before earlier replies come back are pipelined on
 * one connection, in order.  Callbacks run in the order of the saves.
 *
 *     static void saved(kue_async_t *a, int64_t id, const char *err, void *p)
 *     {
 *         kue_job_t *job = p;
 *         if (id > 0) printf("saved %lld\n", (long long)id);
 *         else fprintf(stderr, "%s\n", err);
 *         kue_job_free(job);
 *     }
 *     ...
 *     kue_async_t *a = kue_async_connect(EV_DEFAULT, url, "q", err, sizeof err);
 *     kue_async_set_state_fn(a, on_state, NULL);   // save from here when connected
 *     ev_run(EV_DEFAULT, 0);
 *
 * Connection.  kue_async_connect() first checks the URL, the prefix, that
 * Redis answers and accepts the password, with one short blocking
 * connection (at most 2 s), so configuration errors are reported there,
 * with kue_connect()'s messages.  The non-blocking connection then comes
 * up on the loop: saves are accepted once the state callback has reported
 * connected = 1 (or kue_async_connected() is true).  It reconnects by
 * itself after a loss (backoff 100 ms .. 5 s) and reports each change to
 * the state callback.  Losses are also logged on stderr.  Each connection
 * first loads the enqueue script (SCRIPT LOAD), so that saves pipelined
 * into a fresh or restarted Redis are not each answered NOSCRIPT and
 * re-sent with the whole script.
 *
 * Connection loss.  Every save still waiting for its reply gets its
 * callback, once, with an error beginning KUE_ASYNC_ERR_UNKNOWN: the
 * request may or may not have reached Redis.  (A save not yet sent when
 * the connection is lost is answered "not saved: ...".)  The enqueue script is
 * atomic, so such a job is either fully saved (hash, indexes, token,
 * event, with its id) or not at all; it is never half-written.  Saving it
 * again may create a second copy.  Only after those callbacks does the
 * state callback hear connected = 0.  While disconnected, kue_async_save()
 * refuses at once (-1); nothing is queued for later.
 *
 * Bounds.  At most KUE_ASYNC_MAX_PENDING saves, and at most
 * KUE_ASYNC_MAX_PENDING_BYTES bytes of enqueue arguments (about the job
 * data), are in flight on one kue_async_t; a save beyond either is refused
 * (-1) until callbacks have run.  In-flight memory is about twice those
 * bytes (the copy kept for the script fallback, and the unsent output).
 *
 * No reply timeout: hiredis 0.14 has none, so a Redis that stops answering
 * without closing the connection (a paused process) leaves saves pending
 * until the connection fails; kue_async_free() ends them.
 *
 * Threads: a kue_async_t is used from the thread that runs its loop.
 */
#ifndef KUE_ASYNC_H
#define KUE_ASYNC_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>
#include <kue/kue.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The bounds on what one kue_async_t has in flight. */
#define KUE_ASYNC_MAX_PENDING        65536
#define KUE_ASYNC_MAX_PENDING_BYTES  (64u * 1024u * 1024u)

/* The start of the error of a save whose outcome is unknown (connection
 * lost, or kue_async_free(), before the reply). */
#define KUE_ASYNC_ERR_UNKNOWN "outcome unknown: "

typedef struct kue_async kue_async_t;

/* The reply to one kue_async_save(): id > 0 when the job was saved (the
 * job's kue_job_id() is set before the call), else id 0 and err (borrowed,
 * valid during the call).  err starting with KUE_ASYNC_ERR_UNKNOWN: see
 * "Connection loss" above; any other error is Redis's or the script's
 * answer, and the job was not saved.
 * The callback may call kue_job_free() on its job, kue_async_save() (to
 * chain saves), and kue_async_free(). */
typedef void kue_saved_fn(kue_async_t *a, int64_t id, const char *err, void *privdata);

/* Called with connected = 1 when saves are accepted (first connection and
 * every reconnect) and 0 when the connection is lost. */
typedef void kue_async_state_fn(kue_async_t *a, int connected, void *privdata);

/* Connect on loop.  url and prefix as kue_connect().  On failure returns
 * NULL and, when err is not NULL, writes a message to err (errlen bytes).
 * Sets SIGPIPE to SIG_IGN when it is at its default, as kue_connect(). */
KUE_API kue_async_t *kue_async_connect(struct ev_loop *loop, const char *url, const char *prefix,
                               char *err, size_t errlen);
/* Set (or clear, fn NULL) the state callback.  Set it before running the
 * loop to hear the first connection. */
KUE_API void kue_async_set_state_fn(kue_async_t *a, kue_async_state_fn *fn, void *privdata);
/* Non-zero while saves are accepted. */
KUE_API int kue_async_connected(const kue_async_t *a);

/* Send a new job's save.  Returns 0 when it is in flight: cb (not NULL)
 * will be called exactly once, from the loop (never from inside
 * kue_async_save), with privdata.  Returns -1 when refused, with the
 * reason in kue_async_errstr() and nothing written or called: bad input
 * (kue_job_save()'s checks and messages), a job already saved or already
 * in flight, a bound reached, not connected, or kue_async_free() running.
 * Ownership: the caller keeps the job and must keep it alive and unchanged
 * until cb runs (cb may free it). */
KUE_API int kue_async_save(kue_async_t *a, kue_job_t *job, kue_saved_fn *cb, void *privdata);

/* Saves in flight (sent, callback not yet called). */
KUE_API size_t kue_async_pending(const kue_async_t *a);
/* Index job data for search, as kue_set_search().  Off by default. */
KUE_API void kue_async_set_search(kue_async_t *a, int enabled);
/* The key style, as kue_set_key_style(); set it before the first save.
 * Returns 0, or -1 with the reason in kue_async_errstr(). */
KUE_API int kue_async_set_key_style(kue_async_t *a, const char *style);
/* Make saves wait for replicas, as kue_set_wait_replicas(): each enqueue
 * call is followed by WAIT n timeout_ms, pipelined on the same connection,
 * and the saves of that call are answered when the WAIT returns.  Fewer
 * replicas than n (the timeout, or a connection lost during the wait) do
 * not fail the saves, which are written on the master: the callback gets
 * the id, the shortfall is counted (kue_async_wait_shortfalls()) and logged
 * on stderr at most once per 10 s.  Saves queue behind a WAIT that waits,
 * so a replica that is down costs up to timeout_ms per enqueue call.
 * Returns 0, or -1 with the reason in kue_async_errstr(). */
KUE_API int kue_async_set_wait_replicas(kue_async_t *a, int n, int timeout_ms);
/* Enqueue calls whose WAIT ended with fewer replicas than asked. */
KUE_API unsigned long long kue_async_wait_shortfalls(const kue_async_t *a);
/* Why the last kue_async_save() was refused (borrowed; "" if none). */
KUE_API const char *kue_async_errstr(const kue_async_t *a);
/* Its class (kue.h): KUE_ERR_INVALID for bad input or misuse, KUE_ERR_IO
 * when not connected or a bound on saves in flight is reached (retry
 * later), KUE_ERR_OOM. */
KUE_API kue_errcode_t kue_async_errcode(const kue_async_t *a);
/* Close the connection and free a.  Each save still in flight gets its
 * callback first, with an error beginning KUE_ASYNC_ERR_UNKNOWN; saves
 * issued from those callbacks are refused.  Nothing is left on the loop.
 * May be called from a kue_async callback. */
KUE_API void kue_async_free(kue_async_t *a);

#ifdef __cplusplus
}
#endif
#endif
