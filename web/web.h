/*
 * web.h -- the kue-web process: Kue's JSON API, the dashboard, metrics,
 * health checks and server-sent events.
 *
 * Layers (each in its own file, all but server.c testable without a socket):
 *   buf.c      response helpers (the buffer and JSON writer are common/)
 *   route.c    pure request routing (Express-compatible path matching)
 *   queues.c   the configured queues (--prefix P1,P2,...) and ?queue=
 *   api.c      Kue's JSON routes on one kue_t
 *   post.c     POST /job (single and bulk) parsing and saving
 *   events.c   the P:events relay (one subscriber per queue, fan-out to SSE clients)
 *   metrics.c  /metrics, /workers, /healthz, /readyz from Redis + scoreboard
 *   server.c   libmicrohttpd glue: threads, limits, auth, TLS
 * Non-static symbols are prefixed web_.
 */
#ifndef KUE_WEB_H
#define KUE_WEB_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#include <string.h>

#include "kue/kue.h"
#include "buf.h"
#include "json.h"
#include "util.h"     /* kue_now_ms, kue_mono_ms, kue_deadline_ts: the one clock */

/* ---- buffer ---------------------------------------------------------------- */

/* The web layer writes into the common buffer (common/buf.h) through these
 * names; JSON goes through the common writer (common/json.h). */
typedef kue_buf_t web_buf_t;

static inline void web_buf_init(web_buf_t *b) { kue_buf_init(b); }
static inline void web_buf_free(web_buf_t *b) { kue_buf_free(b); }
static inline void web_buf_reset(web_buf_t *b) { kue_buf_reset(b); }
static inline void web_buf_put(web_buf_t *b, const char *s, size_t n) { kue_buf_append(b, s, n); }
static inline void web_buf_puts(web_buf_t *b, const char *s) { kue_buf_puts(b, s); }
#define web_buf_printf kue_buf_printf
/* s as a JSON string literal (with quotes), escaped as JSON.stringify does. */
static inline void web_buf_json_strn(web_buf_t *b, const char *s, size_t n) { kue_json_str(b, s, n); }
static inline void web_buf_json_str(web_buf_t *b, const char *s)
{
    kue_json_str(b, s ? s : "", s ? strlen(s) : 0);
}
/* Detach the NUL-terminated contents (caller frees; NULL after an
 * allocation failure); the buffer is reset. */
static inline char *web_buf_take(web_buf_t *b) { return kue_buf_take(b); }

/* ---- routing --------------------------------------------------------------- */

typedef enum {
    WEB_R_NONE = 0,          /* 404 */
    WEB_R_BAD_PATH,          /* undecodable %-escape: 400 */
    /* Kue's JSON API, in Kue's declaration order */
    WEB_R_STATS,             /* GET /stats */
    WEB_R_SEARCH,            /* GET /job/search?q= */
    WEB_R_RANGE,             /* GET /jobs/:from..:to/:order? */
    WEB_R_RANGE_TYPE_STATE,  /* GET /jobs/:type/:state/:from..:to/:order? */
    WEB_R_TYPE_STATE_STATS,  /* GET /jobs/:type/:state/stats */
    WEB_R_RANGE_STATE,       /* GET /jobs/:state/:from..:to/:order? */
    WEB_R_TYPES,             /* GET /job/types */
    WEB_R_JOB,               /* GET /job/:id */
    WEB_R_JOB_LOG,           /* GET /job/:id/log */
    WEB_R_JOB_STATE,         /* PUT /job/:id/state/:state */
    WEB_R_JOB_PRIORITY,      /* PUT /job/:id/priority/:priority */
    WEB_R_JOB_DELETE,        /* DELETE /job/:id */
    WEB_R_JOB_CREATE,        /* POST /job */
    WEB_R_INACTIVE,          /* GET /inactive/:id */
    /* dashboard */
    WEB_R_UI,                /* GET / and /<state> */
    WEB_R_ASSET,             /* GET /assets/:name */
    /* beyond Kue */
    WEB_R_METRICS,           /* GET /metrics */
    WEB_R_HEALTHZ,           /* GET /healthz */
    WEB_R_READYZ,            /* GET /readyz */
    WEB_R_EVENTS,            /* GET /events */
    WEB_R_WORKERS,           /* GET /workers */
    WEB_R_THROUGHPUT,        /* GET /throughput */
    WEB_R_CONFIG,            /* GET /config (title, search, version) */
    WEB_R_CRON_LIST,         /* GET /cron */
    WEB_R_CRON_GET,          /* GET /cron/:name */
    WEB_R_CRON_PUT,          /* PUT /cron/:name (JSON definition) */
    WEB_R_CRON_DELETE,       /* DELETE /cron/:name */
    WEB_R_JOB_CANCEL,        /* PUT /job/:id/cancel[/:grace] */
    WEB_R_PAUSE,             /* PUT /pause/:type */
    WEB_R_RESUME,            /* PUT /resume/:type */
    WEB_R_QUEUES,            /* GET /queues */
    WEB_R__COUNT
} web_route_id;

#define WEB_MAX_SEGS 8
#define WEB_PATH_MAX 4096

typedef struct web_route {
    web_route_id id;
    int is_write;            /* PUT/POST/DELETE */
    /* decoded parameters (NULL when absent); point into store[] */
    const char *type, *state, *from, *to, *order, *job_id, *value, *asset;
    char store[WEB_PATH_MAX + WEB_MAX_SEGS * 2];
} web_route_t;

/* Match method + raw (still %-encoded, query-less) path.  Returns r->id. */
web_route_id web_route_match(const char *method, const char *raw_path, web_route_t *r);
const char *web_route_name(web_route_id id);

/* %-decode n bytes of s into out (size >= n+1).  plus_space: '+' -> ' '
 * (query strings).  Returns the decoded length or -1 on a bad escape. */
long web_url_decode(const char *s, size_t n, char *out, int plus_space);

/* JavaScript parseInt(s, 10): 0 and *out, or -1 when the result is NaN. */
int web_js_parse_int(const char *s, long long *out);
/* A job id from a URL: whole-string positive decimal.  0 ok / -1. */
int web_parse_id(const char *s, int64_t *out);

/* ---- limits (limits.c) ------------------------------------------------------- */

/* The most jobs one GET /jobs/..from..to.. answers (a longer range is cut
 * to its first WEB_MAX_PAGE jobs; Kue's clients and the dashboard ask for
 * pages of at most 500). */
#define WEB_MAX_PAGE 1000

/* Cut the ZRANGE indices from..to (negative: from the end, as Redis) to
 * at most max elements, keeping the start.  When the indices have
 * different signs the set's size count is needed: returns 1 when count
 * < 0 (call again with it), else 0. */
int web_range_clamp(long long *from, long long *to, long long count, long long max);

/* Cross-site checks (docs/security.md).  A Host header (NULL: none) is
 * accepted when its host is an IP literal, "localhost", listen_host, or
 * in allowed (comma-separated names, "*" any): a DNS-rebinding page
 * sends its own name.  A state-changing request is same-origin when
 * Sec-Fetch-Site (if sent) is same-origin or none and Origin (if sent)
 * is http(s)://<Host>; strict (GET /inactive/:id) also holds Referer to
 * that.  Both return 1 when the request may go on. */
int web_host_allowed(const char *host_hdr, const char *listen_host, const char *allowed);
int web_same_origin(const char *host_hdr, const char *origin, const char *sec_fetch_site,
                    const char *referer, int strict);
/* An Authorization header carries "user:password" = expected (the
 * scheme "Basic" in any case, RFC 7617; compared in constant time). */
int web_basic_auth_ok(const char *header, const char *expected);

/* ---- responses ------------------------------------------------------------- */

typedef struct web_resp {
    int status;
    const char *ctype;       /* static string */
    web_buf_t body;
    const char *static_body; /* if set, served instead of body (not freed) */
    size_t static_len;
    const char *extra_header, *extra_value;  /* one optional header */
} web_resp_t;

void web_resp_init(web_resp_t *r);
void web_resp_free(web_resp_t *r);
void web_resp_json(web_resp_t *r, int status);            /* sets ctype/status */
/* {"error":msg} with status */
void web_resp_error(web_resp_t *r, int status, const char *msg);

#define WEB_CT_JSON "application/json; charset=utf-8"
#define WEB_CT_TEXT "text/plain; charset=utf-8"
#define WEB_CT_HTML "text/html; charset=utf-8"
#define WEB_CT_PROM "text/plain; version=0.0.4; charset=utf-8"

/* ---- queues (queues.c) -------------------------------------------------------- */

/* The queues (key prefixes) one kue-web serves: --prefix P1[,P2...]; the
 * first is the default, answered when a request names none. */
#define WEB_MAX_QUEUES 16
#define WEB_QUEUE_NAME_MAX 127     /* what kue_connect accepts */

typedef struct web_queues {
    int n;
    char name[WEB_MAX_QUEUES][WEB_QUEUE_NAME_MAX + 1];
} web_queues_t;

/* Parse a comma-separated list of prefixes into q.  Refuses (-1, with the
 * reason in err) an empty list or item, an item longer than
 * WEB_QUEUE_NAME_MAX or holding a blank or control byte, a duplicate, and
 * more than WEB_MAX_QUEUES items. */
int web_queues_parse(const char *list, web_queues_t *q, char *err, size_t errlen);
/* The index of a configured queue by exact name; -1 when it is not one. */
int web_queue_index(const web_queues_t *q, const char *name);

/* ---- request context -------------------------------------------------------- */

struct kue_scoreboard;

typedef struct web_ctx {
    const char *redis_url;
    const char *prefix;          /* the default queue (queues.name[0]) */
    web_queues_t queues;         /* n == 0 is taken as the one queue "prefix" */
    const char *title;
    int search;
    struct kue_scoreboard *sb;   /* NULL without KUE_SCOREBOARD_FD */
    struct web_events *events[WEB_MAX_QUEUES];   /* per queue; NULL: no relay */
} web_ctx_t;

/* The number of queues of ctx (at least 1) and the name of queue i. */
int web_ctx_nqueues(const web_ctx_t *ctx);
const char *web_ctx_queue(const web_ctx_t *ctx, int i);

typedef struct web_req {
    const char *method;
    const web_route_t *route;
    int queue;                   /* index of the queue asked for (?queue=) */
    const char *query_q;         /* decoded ?q= (search) */
    const char *content_type;
    const char *body;
    size_t body_len;
} web_req_t;

/* Run one JSON API / metrics route on connection k, the one of queue
 * req->queue (may be NULL when Redis could not be reached: the route then
 * answers 503 unless it does not need Redis).  /metrics and /readyz look
 * at every queue: all[i] is the connection of queue i (NULL entries when
 * unreachable; all may be NULL for "k only").  Sets *redis_failed when a
 * Redis error (not an application error) happened on k, so the caller can
 * drop and reconnect it. */
void web_api_handle(const web_ctx_t *ctx, kue_t *k, kue_t *const *all, const web_req_t *req,
                    web_resp_t *resp, int *redis_failed);
/* Does the route work on every queue at once (/metrics, /readyz)? */
int web_route_all_queues(web_route_id id);

/* POST /job: body is the raw request body. */
void web_post_jobs(kue_t *k, const char *content_type, const char *body, size_t len,
                   web_resp_t *resp, int *redis_failed);

/* Is this kue_errcode() an application error (no such job, bad input, a
 * state that forbids the change, an error reply), answered as Kue does
 * rather than with 503? */
int web_is_app_error(kue_errcode_t code);
/* After a failed call on k: is Redis unreachable (not an application
 * error, and a probe fails too)?  The caller then drops k. */
int web_is_redis_error(kue_t *k);

/* ---- metrics, workers, health ----------------------------------------------- */

/* ks[i]: the connection of queue i (NULL: unreachable) */
void web_metrics(const web_ctx_t *ctx, kue_t *const *ks, web_resp_t *resp);
/* GET /workers; k may be NULL (then "paused" is null) */
void web_workers_json(const web_ctx_t *ctx, kue_t *k, web_resp_t *resp);
void web_healthz(const web_ctx_t *ctx, web_resp_t *resp);
void web_readyz(const web_ctx_t *ctx, kue_t *const *ks, web_resp_t *resp);

/* ---- dashboard assets -------------------------------------------------------- */

/* An embedded asset by file name; NULL if none.  *ctype receives its type. */
const char *web_asset(const char *name, size_t *len, const char **ctype);

/* ---- Redis connections (connect.c) ------------------------------------------------ */

/* The key style of every connection (--key-style): set once by main before
 * any thread starts; -1 for an unknown name. */
int web_set_key_style(const char *style);
/* The WAIT after each job created (--wait-replicas, --wait-timeout; -1
 * leaves that one as it is): set once by main before any thread runs. */
int web_set_wait_replicas(int n, int timeout_ms);
/* kue_connect() with that key style. */
kue_t *web_kue_connect(const char *url, const char *prefix, char *err, size_t errlen);

/* ---- events relay -------------------------------------------------------------- */

typedef struct web_events web_events_t;

/* Start the subscriber thread (reconnects by itself). */
web_events_t *web_events_start(const char *redis_url, const char *prefix);
/* The replay buffer's bound in bytes (default WEB_EVENTS_REPLAY_BYTES; at
 * most 4096 events in any case); a message over WEB_EVENT_MAX_BYTES is
 * kept as {"id","event","args":[event],"truncated":true}. */
#define WEB_EVENTS_REPLAY_BYTES (4u << 20)
#define WEB_EVENT_MAX_BYTES (64u << 10)
void web_events_set_replay_bytes(web_events_t *ev, size_t bytes);
/* Stop: end every SSE stream and the keep-alive ticker. */
void web_events_stop(web_events_t *ev);
/* Free after the HTTP server is stopped (no SSE client left). */
void web_events_free(web_events_t *ev);
/* Subscriber connected? */
int web_events_up(web_events_t *ev);
/* Events seen since start, by name (complete, failed, ...). */
uint64_t web_events_count(web_events_t *ev, const char *event);
/* Throughput JSON: {"interval_s":N,"now":ms,"types":{"T":{"complete":[..],"failed":[..]}}} */
void web_events_throughput(web_events_t *ev, web_buf_t *out);

/* Prometheus lines of n relays (evs[i] of queue names[i]; NULL entries
 * skipped): event counters and the sampled duration/wait histograms, each
 * family once, every sample labelled queue="P". */
void web_events_metrics(web_events_t *const *evs, const char *const *names, int n, web_buf_t *out);

/* A relayed event; ring-buffered. */
typedef struct web_event {
    uint64_t seq;
    int64_t id;
    char event[32];
    char type[KUE_MAX_TYPE_LEN + 1];   /* "" when unknown */
    char *json;
} web_event_t;

/* SSE client cursor API (used by server.c).  filter_type/filter_id: "" / 0
 * for none.  last_seq: Last-Event-ID or 0 (start from now). */
typedef struct web_sse web_sse_t;
web_sse_t *web_sse_open(web_events_t *ev, const char *filter_type, int64_t filter_id,
                        uint64_t last_event_id, int has_last_id);
/* Copy pending SSE text into buf (at most max bytes).  Returns bytes written,
 * 0 when nothing is pending (the caller then waits via web_sse_park). */
size_t web_sse_read(web_sse_t *c, char *buf, size_t max);
/* Park: under the hub lock, if nothing is pending call park_fn(arg) (which
 * suspends the connection) and remember it; the hub later calls
 * wake_fn(arg) once when data arrives or a keep-alive is due.
 * Returns 1 if parked, 0 if data is pending (read again). */
int web_sse_park(web_sse_t *c, void (*park_fn)(void *), void (*wake_fn)(void *), void *arg);
void web_sse_close(web_sse_t *c);
/* Wake every parked client (at shutdown). */
void web_events_wake_all(web_events_t *ev);

#endif
