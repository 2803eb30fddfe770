/*
 * web_common.h -- helpers of the kue-web tests: start a real kue-web on a
 * free loopback port against a private redis-server, and a small blocking
 * HTTP/1.1 client (Connection: close) to talk to it.
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

typedef struct {
    int status;
    char *headers;      /* raw header block */
    char *body;         /* de-chunked, NUL-terminated */
    size_t body_len;
} wt_resp_t;

static inline void wt_resp_free(wt_resp_t *r)
{
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof *r);
}

static inline int wt_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    cr_assert(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

static inline int wt_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) { close(fd); return -1; }
    return fd;
}

static inline void wt_send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return;     /* the server may close early (413) */
        p += w;
        n -= (size_t)w;
    }
}

static inline char *wt_dechunk(const char *p, size_t n, size_t *outlen)
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

/* One request; extra_headers: "K: V\r\n..." or NULL. */
static inline wt_resp_t wt_request(int port, const char *method, const char *path,
                                   const char *extra_headers, const char *body, size_t body_len)
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
        r.body = wt_dechunk(b, bl, &r.body_len);
    } else {
        r.body = malloc(bl + 1);
        memcpy(r.body, b, bl);
        r.body[bl] = '\0';
        r.body_len = bl;
    }
    free(buf);
    return r;
}

static inline wt_resp_t wt_get(int port, const char *path)
{
    return wt_request(port, "GET", path, NULL, NULL, 0);
}

static inline wt_resp_t wt_post_json(int port, const char *path, const char *json)
{
    return wt_request(port, "POST", path, "Content-Type: application/json\r\n", json,
                      strlen(json));
}

typedef struct {
    int port;
    pid_t pid;
    char log[512];
} wt_web_t;

static int wt_up_port;
static int wt_is_up(void *arg)
{
    int fd = wt_connect(wt_up_port);
    if (fd < 0) return 0;
    close(fd);
    return 1;
}

/* Start kue-web on redis url with extra args (NULL-terminated, may be NULL)
 * and environment entries (may be NULL); wait until it accepts. */
static inline void wt_web_start(wt_web_t *w, const char *url, const char *const *extra,
                                char *const *env)
{
    char bin[512], listen[64];
    kt_bin("kue-web", bin, sizeof bin);
    w->port = wt_free_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", w->port);
    snprintf(w->log, sizeof w->log, "%s/web-%d.log", kt_tmpdir(), w->port);
    char *argv[32];
    int n = 0;
    argv[n++] = bin;
    argv[n++] = "--redis"; argv[n++] = (char *)url;
    argv[n++] = "--prefix"; argv[n++] = "q";
    argv[n++] = "--listen"; argv[n++] = listen;
    argv[n++] = "--log-level"; argv[n++] = "debug";
    for (int i = 0; extra && extra[i] && n < 30; i++) argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    w->pid = kt_spawn_env(argv, env, w->log);
    wt_up_port = w->port;
    if (!kt_wait_until(wt_is_up, NULL, 10000)) {
        char *log = kt_read_file(w->log);
        cr_assert_fail("kue-web did not start: %s", log ? log : "(no log)");
    }
}

static inline int wt_web_stop(wt_web_t *w)
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

#endif
