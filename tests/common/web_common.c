/*
 * web_common.c -- the kue-web test fixture (web_common.h).
 */
#include "web_common.h"

#include <ctype.h>
#include <math.h>
#include <sys/stat.h>

void wt_resp_free(wt_resp_t *r)
{
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof *r);
}

int wt_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) { close(fd); return -1; }
    return fd;
}

void wt_send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return;     /* the server may close early (413) */
        p += w;
        n -= (size_t)w;
    }
}

static char *dechunk(const char *p, size_t n, size_t *outlen)
{
    char *out = malloc(n + 1);
    size_t o = 0, i = 0;
    while (i < n) {
        char *end;
        unsigned long sz = strtoul(p + i, &end, 16);
        const char *nl = memchr(p + i, '\n', n - i);
        if (!nl) break;
        i = (size_t)(nl - p) + 1;
        if (sz == 0 || end == p) break;
        if (i + sz > n) sz = n - i;
        memcpy(out + o, p + i, sz);
        o += sz;
        i += sz + 2;
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

wt_resp_t wt_request(int port, const char *method, const char *path, const char *extra_headers,
                     const char *body, size_t body_len)
{
    wt_resp_t r = { 0 };
    int fd = wt_connect(port);
    cr_assert(fd >= 0, "connect to kue-web on %d: %s", port, strerror(errno));
    size_t hcap = 1024 + strlen(method) + strlen(path) + (extra_headers ? strlen(extra_headers) : 0);
    char *head = malloc(hcap);
    int hl = snprintf(head, hcap,
                      "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s"
                      "Content-Length: %zu\r\n\r\n",
                      method, path, extra_headers ? extra_headers : "", body ? body_len : 0);
    wt_send_all(fd, head, (size_t)hl);
    free(head);
    if (body) wt_send_all(fd, body, body_len);
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    int64_t deadline = kt_now_ms() + 20000;
    for (;;) {
        struct pollfd p = { fd, POLLIN, 0 };
        int left = (int)(deadline - kt_now_ms());
        cr_assert(left > 0, "kue-web did not answer %s %s", method, path);
        if (poll(&p, 1, left) <= 0) continue;
        if (len + 4096 > cap) { cap *= 2; buf = realloc(buf, cap); }
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n <= 0) break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    char *sep = strstr(buf, "\r\n\r\n");
    cr_assert_not_null(sep, "no HTTP response to %s %s: %s", method, path, buf);
    r.status = atoi(buf + 9);
    r.headers = strndup(buf, (size_t)(sep - buf) + 2);
    const char *b = sep + 4;
    size_t bl = len - (size_t)(b - buf);
    if (strcasestr(r.headers, "Transfer-Encoding: chunked")) {
        r.body = dechunk(b, bl, &r.body_len);
    } else {
        r.body = malloc(bl + 1);
        memcpy(r.body, b, bl);
        r.body[bl] = '\0';
        r.body_len = bl;
    }
    free(buf);
    return r;
}

wt_resp_t wt_get(int port, const char *path)
{
    return wt_request(port, "GET", path, NULL, NULL, 0);
}

wt_resp_t wt_post_json(int port, const char *path, const char *json)
{
    return wt_request(port, "POST", path, "Content-Type: application/json\r\n", json,
                      strlen(json));
}

static int port_accepts(void *arg)
{
    int fd = wt_connect(*(int *)arg);
    if (fd < 0) return 0;
    close(fd);
    return 1;
}

int wt_wait_port(int port, int timeout_ms)
{
    return kt_wait_until(port_accepts, &port, timeout_ms);
}

/* ---- kue-web ------------------------------------------------------------------- */

/* A plain connection to a unix:// or redis://host:port URL, or NULL (other
 * forms, or nothing answers). */
static redisContext *url_conn(const char *url)
{
    struct timeval tv = { 1, 0 };
    redisContext *c = NULL;
    char host[128];
    int port = 0;
    if (!strncmp(url, "unix://", 7)) c = redisConnectUnixWithTimeout(url + 7, tv);
    else if (sscanf(url, "redis://%127[^:/]:%d", host, &port) == 2) c = redisConnectWithTimeout(host, port, tv);
    if (c && c->err) { redisFree(c); c = NULL; }
    if (c) redisSetTimeout(c, tv);
    return c;
}

/* Subscribers of the events channels of the comma-separated prefixes (in
 * either key style), or -1. */
static long long events_subscribers(redisContext *c, const char *prefixes)
{
    long long n = 0;
    char list[256];
    snprintf(list, sizeof list, "%s", prefixes);
    for (char *save = NULL, *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        redisReply *r = redisCommand(c, "PUBSUB NUMSUB %s:events {%s}:events", p, p);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 4) { if (r) freeReplyObject(r); return -1; }
        n += r->element[1]->integer + r->element[3]->integer;
        freeReplyObject(r);
    }
    return n;
}

/* kue-web logged that it listens (at --log-level debug), or it exited:
 * 1, 0 for an exit, and a test failure after timeout_ms. */
static int web_listening(wt_web_t *w, int timeout_ms)
{
    int64_t deadline = kt_now_ms() + timeout_ms;
    for (;;) {
        if (kt_wait_file_has(w->log, "listening on", 1, 0) && wt_wait_port(w->port, 0)) return 1;
        int st;
        if (kt_wait(w->pid, 0, &st) == 0) return 0;
        if (kt_now_ms() >= deadline) {
            char *log = kt_read_file(w->log);
            cr_assert_fail("kue-web did not start: %s", log ? log : "(no log)");
        }
        kt_sleep_ms(10);
    }
}

void wt_web_start_prefix(wt_web_t *w, const char *url, const char *prefixes,
                         const char *const *extra, char *const *env)
{
    char bin[512], listen[64];
    kt_bin("kue-web", bin, sizeof bin);
    /* kue-web's events relays subscribe from their own threads, around the
     * time it starts listening: a test that publishes at once would go
     * unseen.  So the start waits (up to 10 s) for one subscriber more per
     * queue than before; not when Redis does not answer (a test of a web
     * without Redis) or the URL is of another form. */
    redisContext *rc = url_conn(url);
    int nq = 1;
    for (const char *c = prefixes; *c; c++) nq += *c == ',';
    long long subs_before = rc ? events_subscribers(rc, prefixes) : -1;
    /* A port picked free can be taken by a suite running beside this one
     * before kue-web binds it: it exits, and starts again on another. */
    for (int tries = 1;; tries++) {
        w->port = kt_free_port();
        snprintf(listen, sizeof listen, "127.0.0.1:%d", w->port);
        snprintf(w->log, sizeof w->log, "%s/web-%d.log", kt_tmpdir(), w->port);
        char *argv[32];
        int n = 0;
        argv[n++] = bin;
        argv[n++] = "--redis"; argv[n++] = (char *)url;
        argv[n++] = "--prefix"; argv[n++] = (char *)prefixes;
        argv[n++] = "--listen"; argv[n++] = listen;
        argv[n++] = "--log-level"; argv[n++] = "debug";
        for (int i = 0; extra && extra[i] && n < 30; i++) argv[n++] = (char *)extra[i];
        argv[n] = NULL;
        w->pid = kt_spawn_env(argv, env, w->log);
        if (web_listening(w, 10000)) {
            int64_t deadline = kt_now_ms() + 10000;
            while (subs_before >= 0 && events_subscribers(rc, prefixes) < subs_before + nq &&
                   kt_now_ms() < deadline)
                kt_sleep_ms(5);
            if (rc) redisFree(rc);
            return;
        }
        char *log = kt_read_file(w->log);
        cr_assert(tries < 3 && log && strstr(log, "in use"), "kue-web did not start: %s",
                  log ? log : "(no log)");
        free(log);
        fprintf(stderr, "kue-web on port %d exited at start; again on another port\n", w->port);
    }
}

void wt_web_start(wt_web_t *w, const char *url, const char *const *extra, char *const *env)
{
    wt_web_start_prefix(w, url, "q", extra, env);
}

int wt_web_stop(wt_web_t *w)
{
    int status = -1;
    kill(w->pid, SIGTERM);
    if (kt_wait(w->pid, 10000, &status) < 0) {
        kill(w->pid, SIGKILL);
        kt_wait(w->pid, 5000, &status);
        return -1;
    }
    return status;
}

void wt_env_open(wt_env_t *e, int web)
{
    memset(e, 0, sizeof *e);
    kt_redis_start(&e->r, 0);
    e->c = kt_redis_connect(&e->r);
    char err[256];
    e->k = kue_connect(e->r.url, "q", err, sizeof err);
    cr_assert_not_null(e->k, "%s", err);
    if (web) wt_web_start(&e->w, e->r.url, NULL, NULL);
}

void wt_env_close(wt_env_t *e)
{
    if (e->w.pid > 0) wt_web_stop(&e->w);
    e->w.pid = 0;
    if (e->k) kue_free(e->k);
    if (e->c) redisFree(e->c);
    e->k = NULL;
    e->c = NULL;
    kt_cleanup();
}

int64_t wt_job(kue_t *k, const char *type, const char *data, int priority)
{
    kue_job_t *j = kue_job_new(type, data ? data : "{}");
    kue_job_set_priority(j, priority);
    int64_t id = kue_job_save(k, j);
    cr_assert_gt(id, 0, "%s", kue_errstr(k));
    kue_job_free(j);
    return id;
}

/* ---- a supervisor with its web process ------------------------------------------- */

void wt_sup_start(wt_sup_t *s, const char *name, const char *redis_url, const char *sup_keys,
                  const char *more)
{
    snprintf(s->dir, sizeof s->dir, "%s/%s", kt_tmpdir(), name);
    mkdir(s->dir, 0755);
    snprintf(s->ini, sizeof s->ini, "%s/workers.ini", s->dir);
    snprintf(s->log, sizeof s->log, "%s/supervisor.log", s->dir);
    s->port = kt_free_port();
    size_t cap = 4096 + (sup_keys ? strlen(sup_keys) : 0) + (more ? strlen(more) : 0);
    char *conf = malloc(cap);
    snprintf(conf, cap,
             "[supervisor]\nplugins = %s/plugins\nrun_dir = run\n%s"
             "[redis]\nurl = %s\nprefix = q\n[web]\nlisten = 127.0.0.1:%d\n%s",
             kt_build(), sup_keys ? sup_keys : "", redis_url, s->port, more ? more : "");
    kt_write_file(s->ini, conf);
    free(conf);
    char bin[600];
    kt_bin("kue-supervisor", bin, sizeof bin);
    char *argv[] = { bin, "-c", s->ini, NULL };
    s->pid = kt_spawn(argv, s->log);
    if (!wt_wait_port(s->port, 15000)) {
        char *log = kt_read_file(s->log);
        cr_assert_fail("the supervisor's web did not start: %s", log ? log : "(no log)");
    }
}

int wt_sup_stop(wt_sup_t *s)
{
    int status = -1;
    kill(s->pid, SIGTERM);
    if (kt_wait(s->pid, 15000, &status) < 0) return -1;
    return status;
}

/* ---- /metrics and /events ------------------------------------------------------------ */

double wt_metric(int port, const char *series)
{
    wt_resp_t r = wt_get(port, "/metrics");
    double v = -1;
    size_t n = strlen(series);
    for (const char *p = r.body; p && *p;) {
        if (!strncmp(p, series, n) && p[n] == ' ') {
            v = strtod(p + n + 1, NULL);
            break;
        }
        p = strchr(p, '\n');
        if (p) p++;
    }
    wt_resp_free(&r);
    return v;
}

int wt_sse_has(wt_sse_t *s, const char *needle)
{
    struct pollfd p = { s->fd, POLLIN, 0 };
    while (s->fd >= 0 && s->len < sizeof s->buf - 1 && poll(&p, 1, 0) > 0) {
        ssize_t n = recv(s->fd, s->buf + s->len, sizeof s->buf - 1 - s->len, 0);
        if (n <= 0) break;
        s->len += (size_t)n;
        s->buf[s->len] = '\0';
    }
    return strstr(s->buf, needle) != NULL;
}

struct sse_wait { wt_sse_t *s; const char *needle; };

static int sse_has_cb(void *arg)
{
    struct sse_wait *w = arg;
    return wt_sse_has(w->s, w->needle);
}

int wt_sse_wait(wt_sse_t *s, const char *needle, int timeout_ms)
{
    struct sse_wait w = { s, needle };
    return kt_wait_until(sse_has_cb, &w, timeout_ms);
}

void wt_sse_open(wt_sse_t *s, int port, const char *path, const char *extra_headers)
{
    s->len = 0;
    s->buf[0] = '\0';
    s->fd = wt_connect(port);
    cr_assert(s->fd >= 0, "connect to kue-web on %d", port);
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n%s\r\n",
                     path, extra_headers ? extra_headers : "");
    cr_assert(n > 0 && (size_t)n < sizeof req);
    wt_send_all(s->fd, req, (size_t)n);
    cr_assert(wt_sse_wait(s, "retry: 2000", 5000), "no event-stream preamble on %s: %s", path,
              s->buf);
}

void wt_sse_close(wt_sse_t *s)
{
    if (s->fd >= 0) close(s->fd);
    s->fd = -1;
}

/* ---- the Prometheus text format, strictly ------------------------------------------- */


static int name_ok(const char *p, size_t n)
{
    if (!n || !(isalpha((unsigned char)p[0]) || p[0] == '_' || p[0] == ':')) return 0;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)p[i]) || p[i] == '_' || p[i] == ':')) return 0;
    return 1;
}

static wt_prom_family_t *fam(wt_prom_t *sc, const char *name, int create)
{
    for (int i = 0; i < sc->nf; i++)
        if (!strcmp(sc->f[i].name, name)) return &sc->f[i];
    if (!create) return NULL;
    cr_assert_lt(sc->nf, WT_PROM_MAXF);
    wt_prom_family_t *f = &sc->f[sc->nf++];
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    return f;
}

/* Parses text into sc; asserts on the first violation (naming the line). */
void wt_prom_parse(const char *text, wt_prom_t *sc)
{
    memset(sc, 0, sizeof *sc);
    char last[128] = "";
    int lineno = 0;
    cr_assert(*text && text[strlen(text) - 1] == '\n', "exposition must end with a newline");
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = (size_t)(nl - p);
        char line[2048];
        cr_assert_lt(len, sizeof line);
        memcpy(line, p, len);
        line[len] = '\0';
        p = nl + 1;
        lineno++;
        cr_assert(len > 0, "line %d: empty line", lineno);
        if (line[0] == '#') {
            char kw[8], name[128];
            int off = 0;
            cr_assert(sscanf(line, "# %7s %127s %n", kw, name, &off) == 2,
                      "line %d: a comment that is neither HELP nor TYPE: %s", lineno, line);
            cr_assert(name_ok(name, strlen(name)), "line %d: bad name %s", lineno, name);
            wt_prom_family_t *f = fam(sc, name, 1);
            if (!strcmp(kw, "HELP")) {
                cr_assert(!f->help, "line %d: second HELP for %s", lineno, name);
                cr_assert(off > 0 && line[off], "line %d: empty HELP for %s", lineno, name);
                f->help = 1;
            } else if (!strcmp(kw, "TYPE")) {
                cr_assert(!f->typed, "line %d: second TYPE for %s", lineno, name);
                const char *t = line + off;
                cr_assert(!strcmp(t, "counter") || !strcmp(t, "gauge") || !strcmp(t, "histogram") ||
                          !strcmp(t, "summary") || !strcmp(t, "untyped"),
                          "line %d: bad TYPE %s", lineno, t);
                snprintf(f->type, sizeof f->type, "%s", t);
                f->typed = 1;
            } else {
                cr_assert_fail("line %d: a comment that is neither HELP nor TYPE: %s", lineno, line);
            }
            continue;
        }
        /* a sample: name{labels} value */
        size_t n = strcspn(line, "{ ");
        cr_assert(name_ok(line, n), "line %d: bad metric name: %s", lineno, line);
        char name[128];
        cr_assert_lt(n, sizeof name);
        memcpy(name, line, n);
        name[n] = '\0';
        char family[128];
        snprintf(family, sizeof family, "%s", name);
        wt_prom_family_t *f = fam(sc, name, 0);
        static const char *const sfx[] = { "_bucket", "_sum", "_count" };
        for (int i = 0; !f && i < 3; i++) {
            size_t sl = strlen(sfx[i]);
            if (n > sl && !strcmp(name + n - sl, sfx[i])) {
                snprintf(family, sizeof family, "%.*s", (int)(n - sl), name);
                f = fam(sc, family, 0);
                if (f && strcmp(f->type, "histogram") && strcmp(f->type, "summary")) f = NULL;
            }
        }
        cr_assert_not_null(f, "line %d: sample of %s before its # HELP/# TYPE", lineno, name);
        cr_assert(f->help && f->typed, "line %d: family %s lacks %s", lineno, f->name,
                  f->help ? "# TYPE" : "# HELP");
        if (strcmp(last, f->name) != 0) {
            /* a family's samples are contiguous */
            for (int i = 0; i < sc->ns; i++)
                cr_assert(strcmp(sc->s[i].family, f->name) != 0,
                          "line %d: samples of %s are split", lineno, f->name);
            snprintf(last, sizeof last, "%s", f->name);
        }
        const char *q = line + n;
        if (*q == '{') {
            q++;
            while (*q != '}') {
                size_t ln = strcspn(q, "=");
                cr_assert(name_ok(q, ln), "line %d: bad label name: %s", lineno, line);
                q += ln;
                cr_assert(q[0] == '=' && q[1] == '"', "line %d: label value not quoted: %s", lineno, line);
                q += 2;
                int inf = !strncmp(q, "+Inf\"", 5) && !strncmp(q - 4, "le=\"", 4);
                if (inf) f->has_inf = 1;
                while (*q && *q != '"') {
                    if (*q == '\\') {
                        cr_assert(q[1] == '\\' || q[1] == '"' || q[1] == 'n',
                                  "line %d: bad escape: %s", lineno, line);
                        q++;
                    }
                    q++;
                }
                cr_assert(*q == '"', "line %d: unterminated label value: %s", lineno, line);
                q++;
                if (*q == ',') q++;
                else cr_assert(*q == '}', "line %d: bad label list: %s", lineno, line);
            }
            q++;
        }
        cr_assert(*q == ' ', "line %d: no space before the value: %s", lineno, line);
        q++;
        char *end;
        double v = strtod(q, &end);
        cr_assert(end != q && (*end == '\0' || *end == ' '), "line %d: bad value: %s", lineno, line);
        if (!strcmp(f->type, "counter"))
            cr_assert(v >= 0 && !isnan(v), "line %d: negative counter: %s", lineno, line);
        cr_assert_lt(sc->ns, WT_PROM_MAXS);
        wt_prom_series_t *s = &sc->s[sc->ns];
        snprintf(s->key, sizeof s->key, "%.*s", (int)(q - 1 - line), line);
        for (int i = 0; i < sc->ns; i++)
            cr_assert(strcmp(sc->s[i].key, s->key) != 0, "line %d: series repeated: %s", lineno, s->key);
        snprintf(s->family, sizeof s->family, "%s", f->name);
        s->v = v;
        sc->ns++;
    }
    for (int i = 0; i < sc->nf; i++) {
        cr_assert(sc->f[i].help && sc->f[i].typed, "family %s lacks # HELP or # TYPE", sc->f[i].name);
        if (!strcmp(sc->f[i].type, "histogram")) {
            int has_samples = 0;
            for (int k = 0; k < sc->ns; k++) has_samples |= !strcmp(sc->s[k].family, sc->f[i].name);
            cr_assert(!has_samples || sc->f[i].has_inf, "histogram %s without le=\"+Inf\"", sc->f[i].name);
        }
    }
}

double wt_prom_value(const wt_prom_t *sc, const char *key)
{
    for (int i = 0; i < sc->ns; i++)
        if (!strcmp(sc->s[i].key, key)) return sc->s[i].v;
    return -1;
}

wt_prom_t *wt_prom_scrape(int port)
{
    wt_resp_t r = wt_get(port, "/metrics");
    cr_assert_eq(r.status, 200, "%s", r.body);
    wt_prom_t *sc = malloc(sizeof *sc);
    cr_assert_not_null(sc);
    wt_prom_parse(r.body, sc);
    wt_resp_free(&r);
    return sc;
}
