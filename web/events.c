/*
 * events.c -- relay of P:events to server-sent-event clients.
 *
 * One hub per queue (kue-web --prefix P1,P2: GET /events?queue=P2 reads
 * P2's hub); what follows is one hub.
 * One subscriber thread (kue_watch on its own connection, reconnecting by
 * itself) appends every message to a ring buffer; SSE clients read the ring
 * from their own cursor.  The ring (the replay buffer for Last-Event-ID) is
 * bounded in bytes as well as in entries: the oldest events go first, and a
 * message larger than WEB_EVENT_MAX_BYTES (a job's big result) is kept as
 * its id and event name only, marked "truncated" (docs/security.md).  A client with nothing to read parks: server.c
 * suspends its libmicrohttpd connection, and the hub resumes it when an event
 * arrives or a keep-alive is due, so no server thread ever blocks on a quiet
 * stream.  The hub also counts events and keeps per-type completions per
 * second (the dashboard's throughput chart); job types come from "enqueue"
 * and "remove" messages, or from a rate-limited lookup of the job.
 *
 * Lock order: hub mutex, then libmicrohttpd's own (suspend/resume are called
 * with the hub mutex held; libmicrohttpd never calls us holding its own).
 */
#include "web.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RING 4096
#define TYPE_CACHE 8192
#define TP_WINDOW 600          /* seconds of throughput history kept */
#define TP_REPORT 300          /* seconds reported */
#define TP_TYPES 64
#define KEEPALIVE_MS 15000
#define LOOKUPS_PER_S 100

static const char *const counted[] = {
    "enqueue", "start", "promotion", "progress", "error", "failed attempt", "failed",
    "complete", "remove", "ttl exceeded", "ttl exceeded ack", NULL
};
#define NCOUNTED 11

static const double hist_le[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
                                  60, 300, 1800 };
#define NHIST ((int)(sizeof hist_le / sizeof hist_le[0]))

struct hist { uint64_t b[NHIST]; uint64_t count; double sum; };

struct tp_type {
    char name[KUE_MAX_TYPE_LEN + 1];
    int64_t stamp[TP_WINDOW];
    uint32_t complete[TP_WINDOW], failed[TP_WINDOW];
    struct hist duration, wait;   /* sampled from completed jobs */
};

struct type_entry { int64_t id; char type[KUE_MAX_TYPE_LEN + 1]; };

struct web_sse {
    web_events_t *ev;
    uint64_t cursor;
    char ftype[KUE_MAX_TYPE_LEN + 1];
    int64_t fid;
    int hello_sent;
    int gap;                    /* events were missed: say so before the next ones */
    int ka_due;
    int parked;
    void (*wake_fn)(void *);
    void *arg;
    web_buf_t pending;
    size_t pending_off;
    struct web_sse *next, *prev;
};

struct web_events {
    pthread_mutex_t mu;
    pthread_cond_t tick_cv;
    char *url, *prefix;
    pthread_t watcher, ticker;
    int stop;
    atomic_int up;
    web_event_t ring[RING];
    uint64_t next_seq;          /* seq of the next event; the first is 1 */
    uint64_t oldest_seq;        /* oldest event still in the ring */
    size_t ring_bytes, ring_max_bytes;
    web_sse_t *clients;
    int nfilter_type;           /* clients filtering by type */
    uint64_t counts[NCOUNTED + 1];
    struct type_entry *tcache;
    struct tp_type *tp;
    int ntp;
    kue_t *lookup;
    int64_t lookup_sec;
    int lookups_this_sec;
};

/* The hubs of this process (one per queue): each lives until exit when
 * its subscriber thread cannot be joined (see web_events_free).  Only the
 * main thread starts and frees hubs. */
static web_events_t *hubs[WEB_MAX_QUEUES];

static void hub_keep(web_events_t *ev, web_events_t *was)
{
    for (int i = 0; i < WEB_MAX_QUEUES; i++)
        if (hubs[i] == was) { hubs[i] = ev; return; }
}

/* ---- type cache ------------------------------------------------------------ */

static struct type_entry *tslot(web_events_t *ev, int64_t id)
{
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ull;
    return &ev->tcache[(h >> 40) % TYPE_CACHE];
}

static void type_put(web_events_t *ev, int64_t id, const char *type)
{
    struct type_entry *e = tslot(ev, id);
    e->id = id;
    snprintf(e->type, sizeof e->type, "%s", type);
}

/* The job's type (cache, else a rate-limited lookup).  With times != NULL
 * (a completion) the job is always looked up when the rate allows, and
 * times[0] receives its duration and times[1] its queue wait in seconds
 * (-1 when unknown).  Called without the hub lock held. */
static void type_get(web_events_t *ev, int64_t id, char *out, size_t len, int may_lookup,
                     double *times)
{
    out[0] = '\0';
    if (times) times[0] = times[1] = -1;
    pthread_mutex_lock(&ev->mu);
    struct type_entry *e = tslot(ev, id);
    if (e->id == id) snprintf(out, len, "%s", e->type);
    pthread_mutex_unlock(&ev->mu);
    if ((out[0] && !times) || !may_lookup) return;
    int64_t sec = kue_now_ms() / 1000;
    if (sec != ev->lookup_sec) { ev->lookup_sec = sec; ev->lookups_this_sec = 0; }
    if (ev->lookups_this_sec++ >= LOOKUPS_PER_S) return;
    if (!ev->lookup) {
        char err[256];
        ev->lookup = web_kue_connect(ev->url, ev->prefix, err, sizeof err);
        if (!ev->lookup) return;
    }
    kue_job_t *job = kue_job_get(ev->lookup, id);
    if (!job) {
        if (!web_is_app_error(kue_errcode(ev->lookup))) { kue_free(ev->lookup); ev->lookup = NULL; }
        return;
    }
    snprintf(out, len, "%s", kue_job_type(job) ? kue_job_type(job) : "");
    if (times) {
        const char *d = kue_job_field(job, "duration");
        const char *st = kue_job_field(job, "started_at");
        const char *pa = kue_job_field(job, "promote_at");
        if (!pa) pa = kue_job_field(job, "created_at");
        if (d) times[0] = atof(d) / 1000.0;
        if (st && pa) times[1] = (atof(st) - atof(pa)) / 1000.0;
    }
    kue_job_free(job);
    pthread_mutex_lock(&ev->mu);
    type_put(ev, id, out);
    pthread_mutex_unlock(&ev->mu);
}

/* ---- throughput ------------------------------------------------------------ */

static struct tp_type *tp_find(web_events_t *ev, const char *type)
{
    if (!type[0]) type = "(unknown)";
    for (int i = 0; i < ev->ntp; i++)
        if (strcmp(ev->tp[i].name, type) == 0) return &ev->tp[i];
    if (ev->ntp >= TP_TYPES) return NULL;
    struct tp_type *t = &ev->tp[ev->ntp++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", type);
    return t;
}

static void observe(struct hist *h, double v)
{
    if (v < 0) v = 0;
    for (int i = 0; i < NHIST; i++)
        if (v <= hist_le[i]) h->b[i]++;
    h->count++;
    h->sum += v;
}

static void tp_count(web_events_t *ev, const char *type, int failed)
{
    struct tp_type *t = tp_find(ev, type);
    if (!t) return;
    int64_t sec = kue_now_ms() / 1000;
    int s = (int)(sec % TP_WINDOW);
    if (t->stamp[s] != sec) { t->stamp[s] = sec; t->complete[s] = 0; t->failed[s] = 0; }
    if (failed) t->failed[s]++; else t->complete[s]++;
}

void web_events_throughput(web_events_t *ev, web_buf_t *b)
{
    int64_t now = kue_now_ms(), sec = now / 1000;
    pthread_mutex_lock(&ev->mu);
    web_buf_printf(b, "{\"interval_s\":1,\"window_s\":%d,\"now\":%lld,\"types\":{", TP_REPORT,
                   (long long)now);
    for (int i = 0; i < ev->ntp; i++) {
        struct tp_type *t = &ev->tp[i];
        if (i) web_buf_puts(b, ",");
        web_buf_json_str(b, t->name);
        for (int f = 0; f < 2; f++) {
            web_buf_puts(b, f ? ",\"failed\":[" : ":{\"complete\":[");
            for (int64_t x = sec - TP_REPORT + 1; x <= sec; x++) {
                int s = (int)(x % TP_WINDOW);
                uint32_t v = t->stamp[s] == x ? (f ? t->failed[s] : t->complete[s]) : 0;
                web_buf_printf(b, x == sec - TP_REPORT + 1 ? "%u" : ",%u", v);
            }
            web_buf_puts(b, "]");
        }
        web_buf_puts(b, "}");
    }
    web_buf_puts(b, "}}");
    pthread_mutex_unlock(&ev->mu);
}

/* ---- the subscriber ----------------------------------------------------------- */

static void wake_parked(web_events_t *ev, int keepalive)
{
    for (web_sse_t *c = ev->clients; c; c = c->next) {
        if (keepalive) c->ka_due = 1;
        if (c->parked) {
            c->parked = 0;
            c->wake_fn(c->arg);
        }
    }
}

/* The ring's copy of a message: as is, or reduced to its id and event
 * name when larger than WEB_EVENT_MAX_BYTES. */
static char *event_copy(int64_t id, const char *event, const char *json)
{
    if (strlen(json) <= WEB_EVENT_MAX_BYTES) return strdup(json);
    web_buf_t b;
    web_buf_init(&b);
    web_buf_printf(&b, "{\"id\":%lld,\"event\":", (long long)id);
    web_buf_json_str(&b, event);
    web_buf_puts(&b, ",\"args\":[");
    web_buf_json_str(&b, event);
    web_buf_puts(&b, "],\"truncated\":true}");
    if (b.oom) { web_buf_free(&b); return NULL; }
    return web_buf_take(&b);
}

void web_events_set_replay_bytes(web_events_t *ev, size_t bytes)
{
    if (!ev) return;
    pthread_mutex_lock(&ev->mu);
    ev->ring_max_bytes = bytes;
    pthread_mutex_unlock(&ev->mu);
}

static int on_event(int64_t id, const char *event, const char *json, void *privdata)
{
    web_events_t *ev = privdata;
    char type[KUE_MAX_TYPE_LEN + 1] = "";
    double times[2] = { -1, -1 };
    int is_done = strcmp(event, "complete") == 0, is_failed = strcmp(event, "failed") == 0;
    if (strcmp(event, "enqueue") == 0 || strcmp(event, "remove") == 0) {
        kue_jdoc_t *d = kue_jdoc_parse(json, strlen(json), NULL, 0);
        const kue_jv_t *args = kue_jv_get(kue_jdoc_root(d), "args");
        if (args && args->type == KUE_JARR && args->len > 1 && args->items[1]->type == KUE_JSTR)
            snprintf(type, sizeof type, "%s", args->items[1]->str);
        kue_jdoc_free(d);
        if (type[0] && id > 0) {
            pthread_mutex_lock(&ev->mu);
            type_put(ev, id, type);
            pthread_mutex_unlock(&ev->mu);
        }
    } else if (id > 0) {
        int need = is_done || is_failed || ev->nfilter_type > 0;
        type_get(ev, id, type, sizeof type, need, is_done ? times : NULL);
    }

    pthread_mutex_lock(&ev->mu);
    int k;
    for (k = 0; counted[k]; k++)
        if (strcmp(counted[k], event) == 0) break;
    ev->counts[k]++;
    if (is_done || is_failed) tp_count(ev, type, is_failed);
    if (is_done && (times[0] >= 0 || times[1] >= 0)) {
        struct tp_type *t = tp_find(ev, type);
        if (t && times[0] >= 0) observe(&t->duration, times[0]);
        if (t && times[1] >= 0) observe(&t->wait, times[1]);
    }
    char *copy = event_copy(id, event, json);
    size_t need = copy ? strlen(copy) + 1 : 0;
    /* make room: entries and bytes */
    while (ev->oldest_seq < ev->next_seq &&
           (ev->next_seq - ev->oldest_seq >= RING || ev->ring_bytes + need > ev->ring_max_bytes)) {
        web_event_t *old = &ev->ring[ev->oldest_seq % RING];
        if (old->json) ev->ring_bytes -= strlen(old->json) + 1;
        free(old->json);
        old->json = NULL;
        ev->oldest_seq++;
    }
    web_event_t *e = &ev->ring[ev->next_seq % RING];
    e->seq = ev->next_seq++;
    e->id = id;
    snprintf(e->event, sizeof e->event, "%s", event);
    snprintf(e->type, sizeof e->type, "%s", type);
    e->json = copy;
    ev->ring_bytes += need;
    wake_parked(ev, 0);
    int stop = ev->stop;
    pthread_mutex_unlock(&ev->mu);
    return stop;
}

static void sleep_ms_unless_stopped(web_events_t *ev, int ms)
{
    struct timespec ts;
    kue_deadline_ts(&ts, ms);
    pthread_mutex_lock(&ev->mu);
    while (!ev->stop)
        if (pthread_cond_timedwait(&ev->tick_cv, &ev->mu, &ts) == ETIMEDOUT) break;
    pthread_mutex_unlock(&ev->mu);
}

static int stopping(web_events_t *ev)
{
    pthread_mutex_lock(&ev->mu);
    int s = ev->stop;
    pthread_mutex_unlock(&ev->mu);
    return s;
}

static void *watcher_main(void *arg)
{
    web_events_t *ev = arg;
    int backoff = 100;
    while (!stopping(ev)) {
        char err[256];
        kue_t *k = web_kue_connect(ev->url, ev->prefix, err, sizeof err);
        if (k) {
            atomic_store(&ev->up, 1);
            backoff = 100;
            kue_watch(k, on_event, ev);
            atomic_store(&ev->up, 0);
            kue_free(k);
        }
        sleep_ms_unless_stopped(ev, backoff);
        if (backoff < 2000) backoff *= 2;
    }
    return NULL;
}

static void *ticker_main(void *arg)
{
    web_events_t *ev = arg;
    while (!stopping(ev)) {
        sleep_ms_unless_stopped(ev, KEEPALIVE_MS);
        pthread_mutex_lock(&ev->mu);
        if (!ev->stop) wake_parked(ev, 1);
        pthread_mutex_unlock(&ev->mu);
    }
    return NULL;
}

web_events_t *web_events_start(const char *redis_url, const char *prefix)
{
    web_events_t *ev = calloc(1, sizeof *ev);
    if (!ev) return NULL;
    ev->tcache = calloc(TYPE_CACHE, sizeof *ev->tcache);
    ev->tp = calloc(TP_TYPES, sizeof *ev->tp);
    ev->url = redis_url ? strdup(redis_url) : NULL;
    ev->prefix = strdup(prefix ? prefix : "q");
    ev->next_seq = 1;
    ev->oldest_seq = 1;
    ev->ring_max_bytes = WEB_EVENTS_REPLAY_BYTES;
    if (!ev->tcache || !ev->tp || !ev->prefix) goto fail;
    pthread_mutex_init(&ev->mu, NULL);
    pthread_cond_init(&ev->tick_cv, NULL);
    if (pthread_create(&ev->watcher, NULL, watcher_main, ev) != 0) goto fail;
    hub_keep(ev, NULL);
    if (pthread_create(&ev->ticker, NULL, ticker_main, ev) != 0) {
        /* cannot run without keep-alives (stop joins the ticker) */
        pthread_mutex_lock(&ev->mu);
        ev->stop = 1;
        pthread_mutex_unlock(&ev->mu);
        pthread_detach(ev->watcher);
        return NULL;
    }
    return ev;
fail:
    free(ev->tcache);
    free(ev->tp);
    free(ev->url);
    free(ev->prefix);
    free(ev);
    return NULL;
}

void web_events_stop(web_events_t *ev)
{
    if (!ev) return;
    pthread_mutex_lock(&ev->mu);
    ev->stop = 1;
    pthread_cond_broadcast(&ev->tick_cv);
    wake_parked(ev, 1);
    pthread_mutex_unlock(&ev->mu);
    pthread_join(ev->ticker, NULL);
}

void web_events_free(web_events_t *ev)
{
    if (!ev) return;
    /* The watcher may be blocked reading its subscription until the next
     * message (on an idle queue: for ever).  Join it if it has stopped;
     * otherwise leave it (and the hub) to the exiting process at once:
     * waiting for it would only delay every shutdown. */
    if (pthread_tryjoin_np(ev->watcher, NULL) != 0) {
        pthread_detach(ev->watcher);
        return;
    }
    if (ev->lookup) kue_free(ev->lookup);
    for (int i = 0; i < RING; i++) free(ev->ring[i].json);
    free(ev->tcache);
    free(ev->tp);
    free(ev->url);
    free(ev->prefix);
    hub_keep(NULL, ev);
    free(ev);
}

int web_events_up(web_events_t *ev)
{
    return ev && atomic_load(&ev->up);
}

uint64_t web_events_count(web_events_t *ev, const char *event)
{
    if (!ev) return 0;
    int k;
    for (k = 0; counted[k]; k++)
        if (strcmp(counted[k], event) == 0) break;
    pthread_mutex_lock(&ev->mu);
    uint64_t v = ev->counts[k];
    pthread_mutex_unlock(&ev->mu);
    return v;
}

static void sample(web_buf_t *b, const char *name, const char *queue)
{
    web_buf_printf(b, "%s{queue=", name);
    web_buf_json_str(b, queue);
}

static void hist_out(web_buf_t *b, const char *name, const char *queue, const char *type,
                     const struct hist *h)
{
    char bucket[96];
    snprintf(bucket, sizeof bucket, "%s_bucket", name);
    for (int i = 0; i <= NHIST; i++) {
        sample(b, bucket, queue);
        web_buf_puts(b, ",type=");
        web_buf_json_str(b, type);
        if (i < NHIST)
            web_buf_printf(b, ",le=\"%g\"} %llu\n", hist_le[i], (unsigned long long)h->b[i]);
        else
            web_buf_printf(b, ",le=\"+Inf\"} %llu\n", (unsigned long long)h->count);
    }
    web_buf_printf(b, "%s_sum{queue=", name);
    web_buf_json_str(b, queue);
    web_buf_puts(b, ",type=");
    web_buf_json_str(b, type);
    web_buf_printf(b, "} %.6f\n", h->sum);
    web_buf_printf(b, "%s_count{queue=", name);
    web_buf_json_str(b, queue);
    web_buf_puts(b, ",type=");
    web_buf_json_str(b, type);
    web_buf_printf(b, "} %llu\n", (unsigned long long)h->count);
}

static void events_counts(web_events_t *ev, const char *queue, web_buf_t *b)
{
    pthread_mutex_lock(&ev->mu);
    for (int k = 0; k <= NCOUNTED; k++) {
        sample(b, "kue_events_total", queue);
        web_buf_puts(b, ",event=");
        web_buf_json_str(b, counted[k] ? counted[k] : "other");
        web_buf_printf(b, "} %llu\n", (unsigned long long)ev->counts[k]);
    }
    pthread_mutex_unlock(&ev->mu);
}

static void events_hists(web_events_t *ev, const char *queue, int wait, web_buf_t *b)
{
    const char *name = wait ? "kue_job_queue_wait_seconds" : "kue_job_duration_seconds";
    pthread_mutex_lock(&ev->mu);
    for (int i = 0; i < ev->ntp; i++)
        hist_out(b, name, queue, ev->tp[i].name, wait ? &ev->tp[i].wait : &ev->tp[i].duration);
    pthread_mutex_unlock(&ev->mu);
}

void web_events_metrics(web_events_t *const *evs, const char *const *names, int n, web_buf_t *b)
{
    web_buf_puts(b, "# HELP kue_events_total Messages seen on the events channel by this web process.\n"
                    "# TYPE kue_events_total counter\n");
    for (int q = 0; q < n; q++)
        if (evs[q]) events_counts(evs[q], names[q], b);
    web_buf_puts(b, "# HELP kue_job_duration_seconds Run time of completed jobs (sampled from completion events).\n"
                    "# TYPE kue_job_duration_seconds histogram\n");
    for (int q = 0; q < n; q++)
        if (evs[q]) events_hists(evs[q], names[q], 0, b);
    web_buf_puts(b, "# HELP kue_job_queue_wait_seconds Time from due to start of completed jobs (sampled).\n"
                    "# TYPE kue_job_queue_wait_seconds histogram\n");
    for (int q = 0; q < n; q++)
        if (evs[q]) events_hists(evs[q], names[q], 1, b);
}

void web_events_wake_all(web_events_t *ev)
{
    if (!ev) return;
    pthread_mutex_lock(&ev->mu);
    wake_parked(ev, 1);
    pthread_mutex_unlock(&ev->mu);
}

/* ---- SSE clients ---------------------------------------------------------------- */

web_sse_t *web_sse_open(web_events_t *ev, const char *filter_type, int64_t filter_id,
                        uint64_t last_event_id, int has_last_id)
{
    web_sse_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->ev = ev;
    snprintf(c->ftype, sizeof c->ftype, "%s", filter_type ? filter_type : "");
    c->fid = filter_id;
    web_buf_init(&c->pending);
    pthread_mutex_lock(&ev->mu);
    c->cursor = has_last_id ? last_event_id + 1 : ev->next_seq;
    /* an id this process never sent: it restarted, the client missed events */
    if (c->cursor > ev->next_seq) { c->cursor = ev->next_seq; c->gap = 1; }
    c->next = ev->clients;
    if (ev->clients) ev->clients->prev = c;
    ev->clients = c;
    if (c->ftype[0]) ev->nfilter_type++;
    pthread_mutex_unlock(&ev->mu);
    return c;
}

static void fill_locked(web_sse_t *c)
{
    web_events_t *ev = c->ev;
    web_buf_t *b = &c->pending;
    if (!c->hello_sent) {
        web_buf_printf(b, "retry: 2000\n: kue events, from seq %llu\n\n",
                       (unsigned long long)c->cursor);
        c->hello_sent = 1;
    }
    uint64_t oldest = ev->oldest_seq;
    if (c->cursor < oldest) { c->cursor = oldest; c->gap = 1; }
    if (c->gap) {
        /* the replay buffer no longer holds what the client asked for: an
         * explicit "gap" event tells it to reload its lists */
        web_buf_printf(b, "event: gap\ndata: {\"gap\":true,\"resume_seq\":%llu}\n\n",
                       (unsigned long long)c->cursor);
        c->gap = 0;
    }
    while (c->cursor < ev->next_seq && b->len < 64 * 1024) {
        web_event_t *e = &ev->ring[c->cursor % RING];
        c->cursor++;
        if (c->fid && e->id != c->fid) continue;
        if (c->ftype[0] && strcmp(c->ftype, e->type) != 0) continue;
        web_buf_printf(b, "id: %llu\ndata: ", (unsigned long long)e->seq);
        /* a message is one JSON line; never let a newline end the field */
        for (const char *p = e->json ? e->json : "{}"; *p; p++)
            if (*p != '\n' && *p != '\r') web_buf_put(b, p, 1);
        web_buf_puts(b, "\n\n");
    }
    if (c->ka_due && b->len == 0) web_buf_puts(b, ": keep-alive\n\n");
    c->ka_due = 0;
}

size_t web_sse_read(web_sse_t *c, char *buf, size_t max)
{
    web_events_t *ev = c->ev;
    pthread_mutex_lock(&ev->mu);
    if (c->pending_off >= c->pending.len) {
        web_buf_reset(&c->pending);
        c->pending_off = 0;
        fill_locked(c);
    }
    size_t n = c->pending.len - c->pending_off;
    if (n > max) n = max;
    if (n) memcpy(buf, c->pending.p + c->pending_off, n);
    c->pending_off += n;
    pthread_mutex_unlock(&ev->mu);
    return n;
}

int web_sse_park(web_sse_t *c, void (*park_fn)(void *), void (*wake_fn)(void *), void *arg)
{
    web_events_t *ev = c->ev;
    pthread_mutex_lock(&ev->mu);
    if (c->pending_off < c->pending.len || c->cursor < ev->next_seq || c->ka_due ||
        !c->hello_sent || ev->stop) {
        pthread_mutex_unlock(&ev->mu);
        return 0;
    }
    c->wake_fn = wake_fn;
    c->arg = arg;
    park_fn(arg);
    c->parked = 1;
    pthread_mutex_unlock(&ev->mu);
    return 1;
}

void web_sse_close(web_sse_t *c)
{
    if (!c) return;
    web_events_t *ev = c->ev;
    pthread_mutex_lock(&ev->mu);
    if (c->prev) c->prev->next = c->next; else ev->clients = c->next;
    if (c->next) c->next->prev = c->prev;
    if (c->ftype[0]) ev->nfilter_type--;
    pthread_mutex_unlock(&ev->mu);
    web_buf_free(&c->pending);
    free(c);
}
