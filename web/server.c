/*
 * server.c -- the libmicrohttpd side of kue-web.
 *
 * A small pool of server threads (libmicrohttpd's thread pool over epoll);
 * each thread owns one kue_t, created on its first request and dropped after
 * a Redis failure so the next request reconnects.  Request bodies and
 * headers are size-limited (413), connections are counted and time out.
 * Server-sent-event streams never hold a thread: a quiet stream's connection
 * is suspended and resumed by the events hub.
 *
 * What one client can hold (docs/security.md): at most max_per_client
 * connections per address; event streams count against their own, smaller
 * allowance (max_streams); a connection must send its headers within the
 * short idle timeout; and libmicrohttpd admits WEB_HEALTH_RESERVE
 * connections beyond max_connections, on which only /healthz and /readyz
 * are served (others get 503), so health checks answer with a full pool.
 */
#include "web.h"
#include "server.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#if MHD_VERSION < 0x00097002
typedef int MHD_Result;
#else
typedef enum MHD_Result MHD_Result;
#endif

struct web_server {
    struct MHD_Daemon *d;
    web_ctx_t *ctx;
    web_server_opts_t o;
    char *auth;               /* "user:pass" or NULL */
    char *cert, *key;         /* PEM text */
    pthread_key_t kue_key;
    int port;
    char listen_host[256];    /* host part of the listen address */
    atomic_uint nconn;        /* open connections */
    atomic_uint nstreams;     /* open event streams */
};

#define WEB_HEALTH_RESERVE 16
#define WEB_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define WEB_STREAM_TIMEOUT_S 60   /* > the hub's 15 s keep-alive */

struct conn_state {
    web_buf_t body;
    int too_big;
    int early;                /* a response was queued on the first call */
};

/* ---- per-thread Redis connections ----------------------------------------------- */

/* One connection per queue, each made on the first request for its queue. */
struct tkue {
    kue_t *k[WEB_MAX_QUEUES];
    int64_t retry_at[WEB_MAX_QUEUES];
    unsigned seen_ok[WEB_MAX_QUEUES];
};

/* Bumped by any thread that connects: the others then retry at once
 * instead of waiting out their back-off. */
static _Atomic unsigned connect_ok_gen;

static void tkue_free(void *p)
{
    struct tkue *t = p;
    if (t)
        for (int i = 0; i < WEB_MAX_QUEUES; i++) kue_free(t->k[i]);
    free(t);
}

static kue_t *thread_kue(web_server_t *s, int q)
{
    struct tkue *t = pthread_getspecific(s->kue_key);
    if (!t) {
        t = calloc(1, sizeof *t);
        if (!t) return NULL;
        pthread_setspecific(s->kue_key, t);
    }
    unsigned gen = atomic_load(&connect_ok_gen);
    if (!t->k[q] && (kue_mono_ms() >= t->retry_at[q] || gen != t->seen_ok[q])) {
        char err[256];
        t->k[q] = web_kue_connect(s->ctx->redis_url, web_ctx_queue(s->ctx, q), err, sizeof err);
        if (!t->k[q]) {
            klog_warn("redis connect failed (queue %s): %s", web_ctx_queue(s->ctx, q), err);
            t->retry_at[q] = kue_mono_ms() + 250;
            t->seen_ok[q] = atomic_load(&connect_ok_gen);
        } else {
            kue_set_search(t->k[q], s->ctx->search);
            t->seen_ok[q] = atomic_fetch_add(&connect_ok_gen, 1) + 1;
        }
    }
    return t->k[q];
}

static void thread_kue_drop(web_server_t *s, int q)
{
    struct tkue *t = pthread_getspecific(s->kue_key);
    if (t && t->k[q]) {
        kue_free(t->k[q]);
        t->k[q] = NULL;
    }
}

/* ---- responses ------------------------------------------------------------------- */

static MHD_Result send_resp(struct MHD_Connection *c, web_resp_t *r, int cache)
{
    struct MHD_Response *mr;
    if (r->static_body)
        mr = MHD_create_response_from_buffer(r->static_len, (void *)r->static_body,
                                             MHD_RESPMEM_PERSISTENT);
    else
        mr = MHD_create_response_from_buffer(r->status == 204 ? 0 : r->body.len,
                                             r->body.p ? r->body.p : (void *)"",
                                             MHD_RESPMEM_MUST_COPY);
    if (!mr) return MHD_NO;
    if (r->status != 204) MHD_add_response_header(mr, "Content-Type", r->ctype);
    MHD_add_response_header(mr, "Cache-Control", cache ? "no-cache" : "no-store");
    MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(mr, "X-Frame-Options", "DENY");
    if (r->extra_header) MHD_add_response_header(mr, r->extra_header, r->extra_value);
    MHD_Result ret = MHD_queue_response(c, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
    return ret;
}

static MHD_Result send_error(struct MHD_Connection *c, int status, const char *msg)
{
    web_resp_t r;
    web_resp_init(&r);
    web_resp_error(&r, status, msg);
    MHD_Result ret = send_resp(c, &r, 0);
    web_resp_free(&r);
    return ret;
}

static MHD_Result send_busy(struct MHD_Connection *c)
{
    static const char body[] = "{\"error\":\"server busy: too many connections\"}";
    struct MHD_Response *mr = MHD_create_response_from_buffer(sizeof body - 1, (void *)body,
                                                              MHD_RESPMEM_PERSISTENT);
    if (!mr) return MHD_NO;
    MHD_add_response_header(mr, "Content-Type", WEB_CT_JSON);
    MHD_add_response_header(mr, "Connection", "close");
    MHD_add_response_header(mr, "Retry-After", "1");
    MHD_Result ret = MHD_queue_response(c, 503, mr);
    MHD_destroy_response(mr);
    return ret;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    web_server_t *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) atomic_fetch_add(&s->nconn, 1);
    else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) atomic_fetch_sub(&s->nconn, 1);
}

/* ---- auth -------------------------------------------------------------------------- */

static int authorized(web_server_t *s, struct MHD_Connection *c)
{
    if (!s->auth) return 1;
    return web_basic_auth_ok(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"),
                             s->auth);
}

static MHD_Result send_unauthorized(struct MHD_Connection *c)
{
    static const char body[] = "{\"error\":\"unauthorized\"}";
    struct MHD_Response *mr = MHD_create_response_from_buffer(sizeof body - 1, (void *)body,
                                                              MHD_RESPMEM_PERSISTENT);
    if (!mr) return MHD_NO;
    MHD_add_response_header(mr, "Content-Type", WEB_CT_JSON);
    MHD_Result ret = MHD_queue_basic_auth_fail_response(c, "kue", mr);
    MHD_destroy_response(mr);
    return ret;
}

/* ---- server-sent events -------------------------------------------------------------- */

struct sse_state {
    web_sse_t *sse;
    struct MHD_Connection *conn;
    struct web_server *srv;
    int counted;
};

static void sse_park(void *arg)
{
    struct sse_state *st = arg;
    MHD_suspend_connection(st->conn);
}

static void sse_wake(void *arg)
{
    struct sse_state *st = arg;
    MHD_resume_connection(st->conn);
}

static ssize_t sse_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct sse_state *st = cls;
    for (int i = 0; i < 4; i++) {
        size_t n = web_sse_read(st->sse, buf, max);
        if (n) return (ssize_t)n;
        if (web_sse_park(st->sse, sse_park, sse_wake, st)) return 0;
    }
    return MHD_CONTENT_READER_END_OF_STREAM;
}

static void sse_free(void *cls)
{
    struct sse_state *st = cls;
    web_sse_close(st->sse);
    if (st->counted) atomic_fetch_sub(&st->srv->nstreams, 1);
    free(st);
}

static const char *arg_raw(struct MHD_Connection *c, const char *name, char *out, size_t len)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    if (!v) return NULL;
    size_t n = strlen(v);
    if (n >= len) return NULL;
    if (web_url_decode(v, n, out, 1) < 0) return NULL;
    return out;
}

static MHD_Result start_sse(web_server_t *s, struct MHD_Connection *c, int q)
{
    web_events_t *hub = s->ctx->events[q];
    if (!hub) return send_error(c, 503, "events relay not running");
    if (atomic_fetch_add(&s->nstreams, 1) >= s->o.max_streams) {
        atomic_fetch_sub(&s->nstreams, 1);
        return send_error(c, 503, "too many event streams");
    }
    int counted = 1;
    char type[KUE_MAX_TYPE_LEN + 1], idbuf[32];
    const char *ftype = arg_raw(c, "type", type, sizeof type);
    const char *fid = arg_raw(c, "id", idbuf, sizeof idbuf);
    int64_t id = 0;
    if (fid && *fid && web_parse_id(fid, &id) < 0)
        return send_error(c, 400, "invalid id filter");
    const char *lei = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
    char *end = NULL;
    unsigned long long last = lei ? strtoull(lei, &end, 10) : 0;
    int has_last = lei && end && end != lei && *end == '\0';
    struct sse_state *st = calloc(1, sizeof *st);
    if (!st) { atomic_fetch_sub(&s->nstreams, 1); return send_error(c, 500, "out of memory"); }
    st->conn = c;
    st->srv = s;
    st->counted = counted;
    st->sse = web_sse_open(hub, ftype, id, last, has_last);
    if (!st->sse) {
        atomic_fetch_sub(&s->nstreams, 1);
        free(st);
        return send_error(c, 500, "out of memory");
    }
    MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)WEB_STREAM_TIMEOUT_S);
    struct MHD_Response *mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
                                                                sse_reader, st, sse_free);
    if (!mr) { sse_free(st); return MHD_NO; }
    MHD_add_response_header(mr, "Content-Type", "text/event-stream; charset=utf-8");
    MHD_add_response_header(mr, "Cache-Control", "no-cache");
    MHD_add_response_header(mr, "X-Accel-Buffering", "no");
    MHD_Result ret = MHD_queue_response(c, 200, mr);
    MHD_destroy_response(mr);
    return ret;
}

/* ---- the access handler ------------------------------------------------------------------ */

struct hsum { size_t n; };

static MHD_Result sum_headers(void *cls, enum MHD_ValueKind kind, const char *key,
                              const char *value)
{
    struct hsum *h = cls;
    h->n += strlen(key) + (value ? strlen(value) : 0) + 4;
    return MHD_YES;
}

/* ?queue=NAME: the index of a configured queue (absent or empty: the
 * default, 0); -1 after answering 404 (not a configured queue) or 400. */
static int request_queue(web_server_t *s, struct MHD_Connection *c, MHD_Result *ret)
{
    const char *raw = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "queue");
    if (!raw || !*raw) return 0;
    char name[WEB_QUEUE_NAME_MAX + 1];
    const char *v = arg_raw(c, "queue", name, sizeof name);
    int q = v ? web_queue_index(&s->ctx->queues, v) : -1;
    if (q < 0 && s->ctx->queues.n == 0 && v && !strcmp(v, web_ctx_queue(s->ctx, 0))) q = 0;
    if (q >= 0) return q;
    if (!v) {
        *ret = send_error(c, 400, "invalid queue parameter");
        return -1;
    }
    web_buf_t m;
    web_buf_init(&m);
    web_buf_printf(&m, "no such queue: %s (see GET /queues)", v);
    *ret = send_error(c, 404, m.p ? m.p : "no such queue");
    web_buf_free(&m);
    return -1;
}

static int public_route(web_route_id id)
{
    return id == WEB_R_HEALTHZ || id == WEB_R_READYZ;
}

static MHD_Result dispatch(web_server_t *s, struct MHD_Connection *c, const char *url,
                           const char *method, struct conn_state *cs)
{
    web_route_t *r = malloc(sizeof *r);
    if (!r) return MHD_NO;
    web_route_id id = web_route_match(method, url, r);
    MHD_Result ret = MHD_NO;
    int qi = 0;
    web_resp_t resp;
    web_resp_init(&resp);

    if (id == WEB_R_BAD_PATH) {
        ret = send_error(c, 400, "Failed to decode param");
    } else if (id == WEB_R_NONE) {
        web_buf_t m;
        web_buf_init(&m);
        web_buf_printf(&m, "Cannot %s %s", method, url);
        ret = send_error(c, 404, m.p ? m.p : "not found");
        web_buf_free(&m);
    } else if (id == WEB_R_UI || id == WEB_R_ASSET) {
        const char *ct;
        size_t len;
        const char *data = web_asset(id == WEB_R_UI ? "index.html" : r->asset, &len, &ct);
        if (!data) {
            ret = send_error(c, 404, "no such asset");
        } else {
            resp.static_body = data;
            resp.static_len = len;
            resp.ctype = ct;
            if (id == WEB_R_UI) {
                resp.extra_header = "Content-Security-Policy";
                resp.extra_value = "default-src 'self'; img-src 'self' data:; "
                                   "style-src 'self'; script-src 'self'; frame-ancestors 'none'";
            }
            ret = send_resp(c, &resp, 1);
        }
    } else if (!public_route(id) && (qi = request_queue(s, c, &ret)) < 0) {
        /* (the open health routes ignore ?queue=: no oracle of queue names) */
        /* answered */
    } else if (id == WEB_R_EVENTS) {
        ret = start_sse(s, c, qi);
    } else {
        web_req_t req = { 0 };
        char q[1024];
        req.method = method;
        req.route = r;
        req.queue = qi;
        req.query_q = arg_raw(c, "q", q, sizeof q);
        req.content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
        req.body = cs->body.p;
        req.body_len = cs->body.len;
        kue_t *all[WEB_MAX_QUEUES] = { 0 };
        int every = web_route_all_queues(id);
        for (int i = 0; every && i < web_ctx_nqueues(s->ctx); i++) all[i] = thread_kue(s, i);
        kue_t *k = every ? all[qi] : thread_kue(s, qi);
        int failed = 0;
        web_api_handle(s->ctx, k, every ? all : NULL, &req, &resp, &failed);
        if (failed) thread_kue_drop(s, qi);
        ret = send_resp(c, &resp, 0);
        klog_debug("%s %s -> %d", method, url, resp.status);
    }
    web_resp_free(&resp);
    free(r);
    return ret;
}

static MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                             const char *method, const char *version, const char *upload_data,
                             size_t *upload_data_size, void **con_cls)
{
    web_server_t *s = cls;
    struct conn_state *cs = *con_cls;
    if (!cs) {
        cs = calloc(1, sizeof *cs);
        if (!cs) return MHD_NO;
        web_buf_init(&cs->body);
        *con_cls = cs;
        struct hsum h = { strlen(url) };
        MHD_get_connection_values(c, MHD_HEADER_KIND, sum_headers, &h);
        if (h.n > s->o.max_header) {
            cs->early = 1;
            return send_error(c, 413, "request headers too large");
        }
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > s->o.max_body) {
            cs->early = 1;
            return send_error(c, 413, "request body too large");
        }
        web_route_t *r = malloc(sizeof *r);
        if (!r) return MHD_NO;
        web_route_id id = web_route_match(method, url, r);
        int is_write = r->is_write;
        free(r);
        const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
        if (!public_route(id) && !web_host_allowed(host, s->listen_host, s->o.allowed_hosts)) {
            cs->early = 1;
            klog_warn("refused a request for Host \"%.100s\" (not the listen address, an IP or "
                      "[web] allowed_hosts)", host);
            return send_error(c, 403, "Host not allowed (see [web] allowed_hosts)");
        }
        if ((is_write || id == WEB_R_INACTIVE) &&
            !web_same_origin(host, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin"),
                             MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-Fetch-Site"),
                             MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Referer"),
                             id == WEB_R_INACTIVE)) {
            cs->early = 1;
            return send_error(c, 403, "cross-site request refused");
        }
        if (!public_route(id) && atomic_load(&s->nconn) > s->o.max_connections) {
            /* the reserve above max_connections is for health checks */
            cs->early = 1;
            return send_busy(c);
        }
        if (!public_route(id) && !authorized(s, c)) {
            cs->early = 1;
            return send_unauthorized(c);
        }
        return MHD_YES;
    }
    if (cs->early) {
        *upload_data_size = 0;    /* discard */
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!cs->too_big) {
            if (cs->body.len + *upload_data_size > s->o.max_body) {
                cs->too_big = 1;
                web_buf_free(&cs->body);
            } else {
                web_buf_put(&cs->body, upload_data, *upload_data_size);
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (cs->too_big) return send_error(c, 413, "request body too large");
    if (cs->body.oom) return send_error(c, 500, "out of memory");
    return dispatch(s, c, url, method, cs);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct conn_state *cs = *con_cls;
    if (!cs) return;
    web_buf_free(&cs->body);
    free(cs);
    *con_cls = NULL;
}

/* Keep the URL and arguments raw: route.c decodes per segment. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    return strlen(s);
}

__attribute__((format(printf, 2, 0)))
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = '\0';
    klog_debug("microhttpd: %s", msg);
}

static char *slurp(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(err, errlen, "%s: %s", path, strerror(errno)); return NULL; }
    web_buf_t b;
    web_buf_init(&b);
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) web_buf_put(&b, tmp, n);
    fclose(f);
    if (b.oom || !b.p) { web_buf_free(&b); snprintf(err, errlen, "%s: empty", path); return NULL; }
    return web_buf_take(&b);
}

int web_parse_listen(const char *listen, char *host, size_t hostlen, int *port)
{
    if (!listen || !*listen) listen = "127.0.0.1:3000";
    const char *colon;
    if (listen[0] == '[') {
        const char *rb = strchr(listen, ']');
        if (!rb || rb[1] != ':') return -1;
        size_t n = (size_t)(rb - listen - 1);
        if (n >= hostlen) return -1;
        memcpy(host, listen + 1, n);
        host[n] = '\0';
        colon = rb + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon) {           /* a bare port */
            snprintf(host, hostlen, "127.0.0.1");
            colon = listen - 1;
        } else {
            size_t n = (size_t)(colon - listen);
            if (n >= hostlen) return -1;
            memcpy(host, listen, n);
            host[n] = '\0';
            if (!host[0]) snprintf(host, hostlen, "0.0.0.0");
        }
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || p < 0 || p > 65535) return -1;
    *port = (int)p;
    return 0;
}

web_server_t *web_server_start(web_ctx_t *ctx, const web_server_opts_t *o, char *err,
                               size_t errlen)
{
    web_server_t *s = calloc(1, sizeof *s);
    if (!s) { snprintf(err, errlen, "out of memory"); return NULL; }
    s->ctx = ctx;
    s->o = *o;
    if (!s->o.max_body) s->o.max_body = 1024 * 1024;
    if (!s->o.max_header) s->o.max_header = 16 * 1024;
    if (!s->o.max_connections) s->o.max_connections = 256;
    if (!s->o.max_per_client) s->o.max_per_client = 64;
    if (!s->o.max_streams) s->o.max_streams = 64;
    if (!s->o.timeout_s) s->o.timeout_s = 10;
    if (!s->o.threads) s->o.threads = 4;
    if (o->auth && *o->auth) s->auth = strdup(o->auth);
    pthread_key_create(&s->kue_key, tkue_free);

    char host[256];
    int port;
    if (web_parse_listen(o->listen, host, sizeof host, &port) < 0) {
        snprintf(err, errlen, "bad listen address \"%s\" (want HOST:PORT)", o->listen);
        goto fail;
    }
    snprintf(s->listen_host, sizeof s->listen_host, "%s", host);
    struct addrinfo hints = { 0 }, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    int gai = getaddrinfo(host, portstr, &hints, &ai);
    if (gai != 0 || !ai) {
        snprintf(err, errlen, "listen address %s: %s", host, gai_strerror(gai));
        goto fail;
    }

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    int tls_pem = o->tls_cert_pem && o->tls_key_pem;
    if (o->tls_cert || o->tls_key || tls_pem) {
        if (!tls_pem && (!o->tls_cert || !o->tls_key)) {
            snprintf(err, errlen, "TLS needs both a certificate and a key");
            freeaddrinfo(ai);
            goto fail;
        }
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            snprintf(err, errlen, "this libmicrohttpd has no TLS support");
            freeaddrinfo(ai);
            goto fail;
        }
        if (tls_pem) {
            /* read by the supervisor before it dropped privileges */
            s->cert = strdup(o->tls_cert_pem);
            s->key = strdup(o->tls_key_pem);
            if (!s->cert || !s->key) {
                snprintf(err, errlen, "out of memory");
                freeaddrinfo(ai);
                goto fail;
            }
        } else if (!(s->cert = slurp(o->tls_cert, err, errlen)) ||
                   !(s->key = slurp(o->tls_key, err, errlen))) {
            freeaddrinfo(ai);
            goto fail;
        }
        flags |= MHD_USE_TLS;
    }
    struct MHD_OptionItem opts[24];
    int n = 0;
    opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL };
    opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_SOCK_ADDR, 0, ai->ai_addr };
    opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)s->o.threads, NULL };
    opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_LIMIT,
                                         (intptr_t)(s->o.max_connections + WEB_HEALTH_RESERVE), NULL };
    opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                         (intptr_t)s->o.max_per_client, NULL };
    opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, s };
    opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)s->o.timeout_s, NULL };
    opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                         (intptr_t)(s->o.max_header * 2 + 128 * 1024), NULL };
    opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL };
    opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)no_unescape, NULL };
    if (s->cert) {
        opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, s->cert };
        opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, s->key };
        /* TLS 1.2 and 1.3 only (GnuTLS priority string) */
        opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0,
                                             (void *)WEB_TLS_PRIORITIES };
    }
    opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, opts,
                            MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->d) {
        snprintf(err, errlen, "cannot listen on %s: %s", o->listen ? o->listen : "127.0.0.1:3000",
                 errno ? strerror(errno) : "libmicrohttpd refused the options");
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : port;
    return s;
fail:
    free(s->auth);
    free(s->cert);
    free(s->key);
    pthread_key_delete(s->kue_key);
    free(s);
    return NULL;
}

int web_server_port(const web_server_t *s)
{
    return s->port;
}

void web_server_stop(web_server_t *s)
{
    if (!s) return;
    MHD_stop_daemon(s->d);
    pthread_key_delete(s->kue_key);
    if (s->auth) memset(s->auth, 0, strlen(s->auth));
    if (s->key) memset(s->key, 0, strlen(s->key));
    free(s->auth);
    free(s->cert);
    free(s->key);
    free(s);
}
