/*
 * async.c -- the non-blocking producer (include/kue/async.h): enqueue
 * calls pipelined on one common/conn.c connection, one callback per save.
 *
 * Saves made in one loop iteration share one enqueue call (up to
 * KUE_ENQ_BATCH_MAX_JOBS jobs, libkue/enqbatch.c): they collect in the open
 * batch, which an ev_prepare watcher sends before the loop blocks (or at
 * once when it is full).  The script gives the jobs consecutive ids and
 * returns the first.
 *
 * Each save in flight is a struct save on a list, oldest first; a sent
 * batch is the privdata of its command in hiredis.  The reply callback
 * takes each save off the list, stores its id in the job and calls the
 * user.  When the connection drops, hiredis calls every pending command
 * back with a NULL reply before conn.c reports the loss, so each save is
 * answered exactly once, and before the state callback hears connected = 0.
 *
 * With wait_replicas, a WAIT is pipelined behind each enqueue call with the
 * same batch as privdata: the call's reply is kept in the batch (settle)
 * and the saves are answered from the WAIT's reply callback (both come back,
 * NULL or not, in order).
 *
 * kue_async_free() answers the saves still on the list itself and then
 * orphans them (s->a = NULL): hiredis still holds the sent batches, and
 * hands them back with a NULL reply when the connection is freed -- at
 * once, or, when kue_async_free() runs inside a hiredis callback, as soon
 * as that callback returns.  Only then are the orphans freed, without a
 * second call.  The open batch is not hiredis's: kue_async_free() frees it.
 */
#include <kue/async.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "kue_internal.h"
#include "enqueue.h"
#include "keys.h"
#include "scripts.h"
#include "url.h"

#define ATOMIC_NOTE "(the enqueue script is atomic: the job was saved whole, with its id, or not at all)"
static const char err_lost[] =
    KUE_ASYNC_ERR_UNKNOWN "the connection to Redis was lost before the reply " ATOMIC_NOTE;
static const char err_freed[] =
    KUE_ASYNC_ERR_UNKNOWN "kue_async_free() was called before the reply " ATOMIC_NOTE;
static const char err_unsent[] =
    "not saved: the connection to Redis was lost before the save was sent";

struct save {
    struct save *prev, *next;
    kue_async_t *a;              /* NULL once kue_async_free() answered it */
    kue_job_t *job;
    kue_saved_fn *cb;
    void *privdata;
    size_t bytes;
};

/* The saves of one enqueue call, in record order.  With wait_replicas the
 * call's outcome (ids or err) is kept here until its WAIT returns. */
struct batch {
    size_t n;
    int waiting;                 /* a WAIT follows the call: answer on its reply */
    const char *err;             /* NULL: saved (ids); else a static text or errbuf */
    char errbuf[512];
    int64_t ids[KUE_ENQ_BATCH_MAX_JOBS];
    struct save *saves[KUE_ENQ_BATCH_MAX_JOBS];
};

struct kue_async {
    kue_conn_t *conn;
    char prefix[KUE_KEY_PREFIX_MAX];   /* effective: P or {P} (keys.h) */
    char name[128];                    /* as configured */
    int cluster;                       /* redis-cluster:// (hashtag only) */
    char where[320];             /* printable endpoint, for messages */
    int search;
    int wait_n, wait_ms;         /* kue_async_set_wait_replicas(); wait_n 0: off */
    unsigned long long wait_short;
    int64_t wait_warned_ms;
    int closing;                 /* kue_async_free() running */
    kue_async_state_fn *state_fn;
    void *state_privdata;
    struct save inflight;        /* list head; next is the oldest */
    size_t pending, pending_bytes;
    kue_enq_args_t *args;        /* scratch for one save (large: off the stack) */
    struct ev_loop *loop;
    ev_prepare flush_w;          /* sends the open batch before the loop blocks */
    kue_enq_batch_t records;     /* the open batch's arguments */
    struct batch *open;          /* its saves; NULL when none */
    char err[512];
    kue_errcode_t code;        /* class of err */
};

static int refuse(kue_async_t *a, kue_errcode_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(kue_async_t *a, kue_errcode_t code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->err, sizeof a->err, fmt, ap);
    va_end(ap);
    a->code = code;
    return -1;
}

static void take_off(kue_async_t *a, struct save *s)
{
    s->prev->next = s->next;
    s->next->prev = s->prev;
    s->prev = s->next = NULL;
    a->pending--;
    a->pending_bytes -= s->bytes;
}

/* Keep the outcome of a batch's enqueue call (reply NULL: lost, with the
 * message lost): the ids, or the error without the script's class word. */
static void settle(struct batch *bt, const redisReply *reply, const char *lost)
{
    bt->err = NULL;
    if (!reply)
        bt->err = lost;
    else if (kue_enq_reply_id(reply, 0) != 0)
        ;
    else if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(bt->errbuf, sizeof bt->errbuf, "%s",
                 !strncmp(reply->str, "INVALID ", 8) ? reply->str + 8 : reply->str);
        bt->err = bt->errbuf;
    } else
        bt->err = "unexpected reply from the enqueue script";
    for (size_t i = 0; i < bt->n; i++) bt->ids[i] = bt->err ? 0 : kue_enq_reply_id(reply, i);
}

/* Answer the saves of a settled batch and free it.  A callback may free a:
 * the saves after it were then answered by kue_async_free() (s->a == NULL). */
static void answer(struct batch *bt)
{
    for (size_t i = 0; i < bt->n; i++) {
        struct save *s = bt->saves[i];
        kue_async_t *a = s->a;
        if (!a) {                /* answered by kue_async_free() */
            free(s);
            continue;
        }
        take_off(a, s);
        int64_t id = bt->ids[i];
        kue_job_t *job = s->job;
        kue_saved_fn *cb = s->cb;
        void *priv = s->privdata;
        free(s);
        kue_job_set_saving(job, 0);
        if (id != 0) kue_job_set_saved(job, id);
        if (id < 0) id = -id;
        cb(a, id, bt->err, priv);    /* may free job, save again, or free a */
    }
    free(bt);
}

static void on_saved(redisAsyncContext *ac, void *r, void *privdata)
{
    struct batch *bt = privdata;
    settle(bt, r, err_lost);
    if (!bt->waiting) answer(bt);
}

/* The WAIT after a batch's enqueue call: the saves are answered now.  A
 * shortfall is only noted: the jobs are written (async.h). */
static void on_waited(redisAsyncContext *ac, void *r, void *privdata)
{
    struct batch *bt = privdata;
    kue_async_t *a = NULL;
    for (size_t i = 0; i < bt->n && !a; i++) a = bt->saves[i]->a;
    if (a && !bt->err)
        kue_wait_check(r, a->wait_n, a->wait_ms, "async producer", &a->wait_short,
                       &a->wait_warned_ms);
    answer(bt);
}

/* Send the open batch.  If it cannot be sent (the connection is gone),
 * its saves are answered: not saved. */
static void flush(kue_async_t *a)
{
    struct batch *bt = a->open;
    if (!bt) return;
    a->open = NULL;
    ev_prepare_stop(a->loop, &a->flush_w);
    const char **argv;
    const size_t *lens;
    int argc = kue_enq_batch_args(&a->records, &argv, &lens);
    int rc = kue_conn_script(a->conn, KS_ENQUEUE, on_saved, bt, argc, argv, lens);
    kue_enq_batch_reset(&a->records);
    if (rc != 0) {
        settle(bt, NULL, err_unsent);
        answer(bt);
        return;
    }
    /* pipelined behind the call: the saves are answered when it returns */
    if (a->wait_n > 0 &&
        kue_conn_command(a->conn, on_waited, bt, "WAIT %d %d", a->wait_n, a->wait_ms) == 0)
        bt->waiting = 1;
}

static void on_flush(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)revents;
    flush(w->data);
}

static void on_state(kue_conn_t *c, int connected, void *privdata)
{
    kue_async_t *a = privdata;
    /* Without functions, load the script ahead of the first save: saves
     * pipelined before the first NOSCRIPT reply would otherwise each be
     * re-sent with the whole source (a fresh or restarted Redis).  The reply
     * is not needed: a failure only leaves the EVAL fallback to do the work.
     * (With functions, the handshake loaded the library.) */
    if (connected) {
        if (!kue_conn_fcall(c))
            kue_conn_command(c, NULL, NULL, "SCRIPT LOAD %s", kue_script_source(KS_ENQUEUE));
    } else {
        flush(a);                /* unsent saves: answered before the loss is reported */
    }
    if (a->state_fn) a->state_fn(a, connected, a->state_privdata);
}

kue_async_t *kue_async_connect(struct ev_loop *loop, const char *url, const char *prefix,
                               char *err, size_t errlen)
{
    if (!loop) {
        if (err) snprintf(err, errlen, "no event loop");
        return NULL;
    }
    /* One blocking connection checks URL, prefix, reachability and
     * password, with kue_connect()'s messages (and sets SIGPIPE). */
    kue_t *k = kue_connect(url, prefix, err, errlen);
    if (!k) return NULL;
    kue_async_t *a = calloc(1, sizeof *a);
    kue_url_t u;
    char uerr[256];
    if (!a || !(a->args = malloc(sizeof *a->args)) ||
        kue_url_parse(url, &u, uerr, sizeof uerr) != 0) {
        if (err) snprintf(err, errlen, "%s", a ? uerr : "out of memory");
        if (a) free(a->args);
        free(a);
        kue_free(k);
        return NULL;
    }
    snprintf(a->name, sizeof a->name, "%s", kue_prefix(k));
    snprintf(a->prefix, sizeof a->prefix, "%s", kue_keys_prefix(k));
    snprintf(u.route, sizeof u.route, "%s", a->prefix);     /* cluster.h */
    a->cluster = u.nseeds > 0;
    kue_free(k);
    a->loop = loop;
    ev_prepare_init(&a->flush_w, on_flush);
    a->flush_w.data = a;
    kue_enq_batch_init(&a->records);
    kue_url_format(&u, a->where, sizeof a->where);
    a->inflight.next = a->inflight.prev = &a->inflight;
    a->conn = kue_conn_new(loop, &u, "producer", on_state, a);
    if (!a->conn) {
        if (err) snprintf(err, errlen, "out of memory");
        free(a->args);
        free(a);
        return NULL;
    }
    kue_conn_runs_scripts(a->conn);
    return a;
}

void kue_async_set_state_fn(kue_async_t *a, kue_async_state_fn *fn, void *privdata)
{
    a->state_fn = fn;
    a->state_privdata = privdata;
}

int kue_async_connected(const kue_async_t *a)
{
    return a && !a->closing && kue_conn_ready(a->conn);
}

int kue_async_save(kue_async_t *a, kue_job_t *job, kue_saved_fn *cb, void *privdata)
{
    if (a->closing) return refuse(a, KUE_ERR_INVALID, "kue_async_free() is running: save refused");
    if (!job || !cb)
        return refuse(a, KUE_ERR_INVALID, "kue_async_save() needs a job and a callback");
    if (kue_job_id(job) > 0)
        return refuse(a, KUE_ERR_INVALID, "job %lld is already saved", (long long)kue_job_id(job));
    if (kue_job_saving(job)) return refuse(a, KUE_ERR_INVALID, "job is already being saved");
    kue_enq_args_t *e = a->args;
    if (kue_enq_build(a->prefix, a->search, job, e, a->err, sizeof a->err) != 0) {
        a->code = KUE_ERR_INVALID;
        kue_enq_free(e);
        return -1;
    }
    int rc = -1;
    struct save *s = NULL;
    if (a->pending >= KUE_ASYNC_MAX_PENDING)
        refuse(a, KUE_ERR_IO,
               "%zu saves in flight, the limit (KUE_ASYNC_MAX_PENDING): wait for their callbacks",
               a->pending);
    else if (a->pending > 0 && a->pending_bytes + e->bytes > KUE_ASYNC_MAX_PENDING_BYTES)
        refuse(a, KUE_ERR_IO, "%zu bytes of saves in flight: %zu more would pass the limit of %u bytes "
               "(KUE_ASYNC_MAX_PENDING_BYTES): wait for their callbacks",
               a->pending_bytes, e->bytes, KUE_ASYNC_MAX_PENDING_BYTES);
    else if (!kue_conn_ready(a->conn))
        refuse(a, KUE_ERR_IO, "not connected to Redis at %s (reconnecting)", a->where);
    else if (!kue_conn_usable(a->conn))
        refuse(a, KUE_ERR_IO, "cannot send to Redis at %s: the connection is closing (reconnecting)",
               a->where);
    else if (!(s = calloc(1, sizeof *s)))
        refuse(a, KUE_ERR_OOM, "out of memory");
    else {
        if (a->open && !kue_enq_batch_fits(&a->records, e)) flush(a);
        if (!a->open) {
            if (!(a->open = calloc(1, sizeof *a->open))) abort();
            ev_prepare_start(a->loop, &a->flush_w);
        }
        kue_enq_batch_add(&a->records, e);
        a->open->saves[a->open->n++] = s;
        s->a = a;
        s->job = job;
        s->cb = cb;
        s->privdata = privdata;
        s->bytes = e->bytes;
        s->prev = a->inflight.prev;
        s->next = &a->inflight;
        a->inflight.prev->next = s;
        a->inflight.prev = s;
        a->pending++;
        a->pending_bytes += s->bytes;
        kue_job_set_saving(job, 1);
        s = NULL;
        rc = 0;
        if (a->open->n == KUE_ENQ_BATCH_MAX_JOBS) flush(a);
    }
    free(s);
    kue_enq_free(e);
    return rc;
}

size_t kue_async_pending(const kue_async_t *a) { return a ? a->pending : 0; }
void kue_async_set_search(kue_async_t *a, int enabled) { a->search = enabled != 0; }

int kue_async_set_key_style(kue_async_t *a, const char *style)
{
    int ks = kue_key_style_parse(style);
    if (ks < 0) {
        return refuse(a, KUE_ERR_INVALID, "key style \"%.32s\": expected plain or hashtag",
                      style ? style : "");
    }
    if (a->cluster && ks != KUE_KEYS_HASHTAG)
        return refuse(a, KUE_ERR_INVALID, "a redis-cluster:// URL needs the hashtag key style");
    kue_key_prefix(a->prefix, sizeof a->prefix, a->name, ks);
    return 0;
}
int kue_async_set_wait_replicas(kue_async_t *a, int n, int timeout_ms)
{
    char why[128];
    if (kue_wait_valid(n, timeout_ms, why, sizeof why) != 0)
        return refuse(a, KUE_ERR_INVALID, "%s", why);
    a->wait_n = n;
    a->wait_ms = timeout_ms;
    return 0;
}

unsigned long long kue_async_wait_shortfalls(const kue_async_t *a) { return a ? a->wait_short : 0; }

const char *kue_async_errstr(const kue_async_t *a) { return a ? a->err : "no connection"; }
kue_errcode_t kue_async_errcode(const kue_async_t *a) { return a ? a->code : KUE_ERR_IO; }

void kue_async_free(kue_async_t *a)
{
    if (!a || a->closing) return;
    a->closing = 1;
    while (a->inflight.next != &a->inflight) {
        struct save *s = a->inflight.next;
        take_off(a, s);
        kue_job_t *job = s->job;
        kue_saved_fn *cb = s->cb;
        void *priv = s->privdata;
        s->a = NULL;             /* hiredis hands it back to on_saved, which frees it */
        kue_job_set_saving(job, 0);
        cb(a, 0, err_freed, priv);
    }
    if (a->open) {               /* never sent: its saves are ours to free */
        for (size_t i = 0; i < a->open->n; i++) free(a->open->saves[i]);
        free(a->open);
        a->open = NULL;
    }
    ev_prepare_stop(a->loop, &a->flush_w);
    kue_enq_batch_free(&a->records);
    kue_conn_free(a->conn);
    free(a->args);
    free(a);
}
