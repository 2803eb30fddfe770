/*
 * web_common.h -- the fixture of the kue-web tests: a real kue-web on a
 * free loopback port (alone, or as a supervisor's web process) against a
 * private redis-server, a small blocking HTTP/1.1 client (Connection:
 * close), an event-stream reader and a /metrics sample reader.
 */
#ifndef KUE_TEST_WEB_COMMON_H
#define KUE_TEST_WEB_COMMON_H

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

/* ---- HTTP client ------------------------------------------------------------ */

typedef struct {
    int status;
    char *headers;      /* raw header block */
    char *body;         /* de-chunked, NUL-terminated */
    size_t body_len;
} wt_resp_t;

void wt_resp_free(wt_resp_t *r);
/* A loopback TCP port free right now. */
/* A connection to 127.0.0.1:port, -1 if refused. */
int wt_connect(int port);
void wt_send_all(int fd, const char *p, size_t n);
/* One request (asserts an answer within 20 s); extra_headers: "K: V\r\n..."
 * or NULL. */
wt_resp_t wt_request(int port, const char *method, const char *path,
                     const char *extra_headers, const char *body, size_t body_len);
wt_resp_t wt_get(int port, const char *path);
wt_resp_t wt_post_json(int port, const char *path, const char *json);
/* Wait until something accepts on port; non-zero when it did. */
int wt_wait_port(int port, int timeout_ms);

/* ---- kue-web ------------------------------------------------------------------- */

typedef struct {
    int port;
    pid_t pid;
    char log[512];
} wt_web_t;

/* Start kue-web on redis url with prefix "q", extra args (NULL-terminated,
 * may be NULL) and environment entries (may be NULL); wait until it
 * accepts. */
void wt_web_start(wt_web_t *w, const char *url, const char *const *extra, char *const *env);
/* The same with --prefix prefixes ("q", or a list "q,p2"). */
void wt_web_start_prefix(wt_web_t *w, const char *url, const char *prefixes,
                         const char *const *extra, char *const *env);
/* TERM, reap: the exit status, -1 when it had to be killed. */
int wt_web_stop(wt_web_t *w);

/* The usual suite fixture: a private Redis, a raw connection, a libkue
 * connection (prefix "q") and, with web, a kue-web on them.  close stops
 * and frees everything (safe after a partial open) and runs kt_cleanup. */
typedef struct {
    kt_redis_t r;
    redisContext *c;
    kue_t *k;
    wt_web_t w;
} wt_env_t;

void wt_env_open(wt_env_t *e, int web);
void wt_env_close(wt_env_t *e);

/* A job saved through libkue (asserts); data may be NULL ("{}"). */
int64_t wt_job(kue_t *k, const char *type, const char *data, int priority);

/* ---- a supervisor with its web process ------------------------------------------- */

typedef struct {
    pid_t pid;
    int port;            /* of its web process */
    char dir[600], ini[700], log[700];
} wt_sup_t;

/* Write NAME/workers.ini under the test's temporary directory, from
 * "[supervisor] plugins, run_dir, [redis] url/prefix q, [web] listen" and
 * the rest (sections and keys: sup_keys go under [supervisor], more after
 * [web]), start kue-supervisor on it and wait until its web answers. */
void wt_sup_start(wt_sup_t *s, const char *name, const char *redis_url, const char *sup_keys,
                  const char *more);
/* TERM, reap within 15 s: the exit status, -1 on a timeout. */
int wt_sup_stop(wt_sup_t *s);

/* ---- /metrics and /events ------------------------------------------------------------ */

/* The value of one series of GET /metrics, e.g.
 * "kue_events_total{queue=\"q\",event=\"complete\"}"; -1 when absent. */
double wt_metric(int port, const char *series);

/* A /metrics scrape read by a strict parser of the Prometheus text
 * format: every family has one # HELP and one # TYPE before its samples,
 * samples of a family are contiguous, names, labels and values are well
 * formed, no series repeats, histograms end at le="+Inf".  The parser
 * asserts on the first violation, naming the line. */
#define WT_PROM_MAXF 256
#define WT_PROM_MAXS 4096
typedef struct { char name[128], type[16]; int help, typed, has_inf; } wt_prom_family_t;
typedef struct { char key[512]; char family[128]; double v; } wt_prom_series_t;
typedef struct {
    wt_prom_family_t f[WT_PROM_MAXF];
    int nf;
    wt_prom_series_t s[WT_PROM_MAXS];
    int ns;
} wt_prom_t;

void wt_prom_parse(const char *text, wt_prom_t *sc);
/* GET /metrics on port, parsed (caller frees). */
wt_prom_t *wt_prom_scrape(int port);
/* The value of a series ("name{labels}" as written), -1 when absent. */
double wt_prom_value(const wt_prom_t *sc, const char *key);

/* An event stream: GET path with Accept: text/event-stream. */
typedef struct {
    int fd;
    char buf[1 << 16];
    size_t len;
} wt_sse_t;

/* Open and wait for the stream's preamble (asserts); extra_headers as
 * wt_request. */
void wt_sse_open(wt_sse_t *s, int port, const char *path, const char *extra_headers);
/* Read what arrived; non-zero when needle is in what was read so far. */
int wt_sse_has(wt_sse_t *s, const char *needle);
/* Wait up to timeout_ms for needle. */
int wt_sse_wait(wt_sse_t *s, const char *needle, int timeout_ms);
void wt_sse_close(wt_sse_t *s);

#endif
