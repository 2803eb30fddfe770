/*
 * kue-web limits, basic auth, TLS and the supervisor scoreboard: bodies and
 * headers over the limit (413), auth on and off, HTTPS with a certificate
 * made here, /workers and /metrics from a scoreboard handed over in
 * KUE_SCOREBOARD_FD.  TLS is checked with openssl s_client.
 */
#include <jansson.h>
#include <signal.h>
#include <sys/wait.h>

#include <kue/kue.h>
#include "scoreboard.h"
#include "web_common.h"

static wt_env_t E;

static void setup(void)
{
    wt_env_open(&E, 0);
}

static void teardown(void)
{
    wt_env_close(&E);
}

TestSuite(web_security, .init = setup, .fini = teardown, .timeout = 60);

Test(web_security, body_and_header_limits)
{
    const char *args[] = { "--max-body", "1K", NULL };
    wt_web_start(&E.w, E.r.url, args, NULL);

    /* a body under the limit works */
    wt_resp_t r = wt_post_json(E.w.port, "/job", "{\"type\":\"small\"}");
    cr_expect_eq(r.status, 200, "%s", r.body);
    wt_resp_free(&r);

    /* over the limit, announced by Content-Length */
    size_t n = 4096;
    char *big = malloc(n + 1);
    memset(big, 'x', n);
    memcpy(big, "{\"type\":\"big\",\"data\":\"", 22);
    memcpy(big + n - 3, "\"}", 3);
    big[n] = '\0';
    r = wt_post_json(E.w.port, "/job", big);
    cr_expect_eq(r.status, 413, "%s", r.body);
    cr_expect(strstr(r.body, "\"error\""), "%s", r.body);
    wt_resp_free(&r);

    /* over the limit, chunked (no Content-Length): caught while reading */
    int fd = wt_connect(E.w.port);
    cr_assert(fd >= 0);
    const char *head = "POST /job HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                       "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    wt_send_all(fd, head, strlen(head));
    char chunk[64];
    int cl = snprintf(chunk, sizeof chunk, "%zx\r\n", n);
    wt_send_all(fd, chunk, (size_t)cl);
    wt_send_all(fd, big, n);
    wt_send_all(fd, "\r\n0\r\n\r\n", 7);
    char resp[4096];
    size_t len = 0;
    int64_t end = kt_now_ms() + 10000;
    while (kt_now_ms() < end && len < sizeof resp - 1) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 200) <= 0) continue;
        ssize_t k = recv(fd, resp + len, sizeof resp - 1 - len, 0);
        if (k <= 0) break;
        len += (size_t)k;
    }
    resp[len] = '\0';
    close(fd);
    cr_expect(strncmp(resp, "HTTP/1.1 413", 12) == 0, "%s", resp);
    free(big);

    /* headers over the limit */
    char *hdr = malloc(20000 + 32);
    strcpy(hdr, "X-Big: ");
    memset(hdr + 7, 'h', 20000);
    strcpy(hdr + 7 + 20000, "\r\n");
    r = wt_request(E.w.port, "GET", "/stats", hdr, NULL, 0);
    cr_expect(r.status == 413 || r.status == 431, "status %d", r.status);
    wt_resp_free(&r);
    free(hdr);

    /* still serving */
    r = wt_get(E.w.port, "/stats");
    cr_expect_eq(r.status, 200);
    wt_resp_free(&r);
}

Test(web_security, basic_auth)
{
    const char *args[] = { "--auth", "admin:s3cret", NULL };
    wt_web_start(&E.w, E.r.url, args, NULL);

    wt_resp_t r = wt_get(E.w.port, "/stats");
    cr_expect_eq(r.status, 401);
    cr_expect(strcasestr(r.headers, "WWW-Authenticate: Basic"), "%s", r.headers);
    wt_resp_free(&r);
    /* admin:wrong */
    r = wt_request(E.w.port, "GET", "/stats", "Authorization: Basic YWRtaW46d3Jvbmc=\r\n", NULL, 0);
    cr_expect_eq(r.status, 401);
    wt_resp_free(&r);
    /* admin:s3cret */
    r = wt_request(E.w.port, "GET", "/stats", "Authorization: Basic YWRtaW46czNjcmV0\r\n", NULL, 0);
    cr_expect_eq(r.status, 200, "%s", r.body);
    wt_resp_free(&r);
    /* a POST without credentials creates nothing */
    r = wt_post_json(E.w.port, "/job", "{\"type\":\"x\"}");
    cr_expect_eq(r.status, 401);
    wt_resp_free(&r);
    r = wt_get(E.w.port, "/");
    cr_expect_eq(r.status, 401);
    wt_resp_free(&r);
    /* probes stay open */
    r = wt_get(E.w.port, "/healthz");
    cr_expect_eq(r.status, 200);
    wt_resp_free(&r);
}

Test(web_security, auth_off_by_default)
{
    wt_web_start(&E.w, E.r.url, NULL, NULL);
    wt_resp_t r = wt_get(E.w.port, "/stats");
    cr_expect_eq(r.status, 200);
    wt_resp_free(&r);
}

static int run(const char *cmd)
{
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

Test(web_security, tls)
{
    if (run("command -v openssl >/dev/null") != 0) cr_skip_test("openssl missing");
    char cert[600], key[600], cmd[2048];
    snprintf(cert, sizeof cert, "%s/cert.pem", kt_tmpdir());
    snprintf(key, sizeof key, "%s/key.pem", kt_tmpdir());
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 2 "
             "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1", key, cert);
    cr_assert_eq(run(cmd), 0, "openssl could not make a test certificate");
    const char *args[] = { "--tls-cert", cert, "--tls-key", key, NULL };
    wt_web_start(&E.w, E.r.url, args, NULL);

    /* an HTTPS request, the server certificate verified against ours */
    char out[600];
    snprintf(out, sizeof out, "%s/tls.out", kt_tmpdir());
    snprintf(cmd, sizeof cmd,
             "printf 'GET /stats HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nConnection: close\\r\\n\\r\\n' | "
             "timeout 10 openssl s_client -quiet -connect 127.0.0.1:%d -CAfile %s "
             "-verify_return_error -verify_ip 127.0.0.1 > %s 2>/dev/null", E.w.port, cert, out);
    run(cmd);
    char *body = kt_read_file(out);
    cr_expect(body && strncmp(body, "HTTP/1.1 200", 12) == 0, "%s", body ? body : "?");
    cr_expect(body && strstr(body, "\"inactiveCount\":0"), "%s", body ? body : "?");
    free(body);

    /* plain HTTP on the TLS port is not served */
    int fd = wt_connect(E.w.port);
    cr_assert(fd >= 0);
    const char *req = "GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    wt_send_all(fd, req, strlen(req));
    char buf[512];
    size_t len = 0;
    int64_t end = kt_now_ms() + 5000;
    while (kt_now_ms() < end && len < sizeof buf - 1) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 200) <= 0) continue;
        ssize_t k = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (k <= 0) break;
        len += (size_t)k;
    }
    buf[len] = '\0';
    close(fd);
    cr_expect(!strstr(buf, "inactiveCount"), "plain HTTP answered on the TLS port: %s", buf);
}

Test(web_security, scoreboard_workers_and_metrics)
{
    kue_scoreboard_t sb;
    cr_assert_eq(kue_sb_create(&sb, 4), 0);
    sb.hdr->master_pid = getpid();
    sb.hdr->master_heartbeat_ms = kt_now_ms();
    sb.hdr->restarts_total = 3;
    sb.hdr->promoted_total = 12;
    struct kue_sb_slot *s = &sb.slots[1];
    kue_sb_write_begin(s);
    s->state = KUE_SB_READY;
    s->pid = 4242;
    snprintf(s->type, sizeof s->type, "email");
    s->heartbeat_ms = kt_now_ms();
    s->jobs_done = 17;
    s->jobs_failed = 2;
    s->restarts = 3;
    s->concurrency = 4;
    s->inflight_n = 1;
    s->inflight[0].id = 99;
    s->inflight[0].started_ms = kt_now_ms() - 1500;
    s->rss_kb = 2048;
    kue_sb_write_end(s);

    char envv[64];
    snprintf(envv, sizeof envv, "KUE_SCOREBOARD_FD=%d", sb.fd);
    char *env[] = { envv, NULL };
    wt_web_start(&E.w, E.r.url, NULL, env);

    wt_resp_t r = wt_get(E.w.port, "/workers");
    cr_assert_eq(r.status, 200);
    json_t *j = json_loads(r.body, 0, NULL);
    cr_assert_not_null(j, "%s", r.body);
    cr_expect(json_is_true(json_object_get(j, "scoreboard")), "%s", r.body);
    json_t *ws = json_object_get(j, "workers");
    cr_assert_eq(json_array_size(ws), 1, "%s", r.body);
    json_t *w0 = json_array_get(ws, 0);
    cr_expect_eq(json_integer_value(json_object_get(w0, "pid")), 4242);
    cr_expect_str_eq(json_string_value(json_object_get(w0, "type")), "email");
    cr_expect_str_eq(json_string_value(json_object_get(w0, "state")), "ready");
    cr_expect_eq(json_integer_value(json_object_get(w0, "jobs_done")), 17);
    json_t *in = json_object_get(w0, "inflight");
    cr_expect_eq(json_array_size(in), 1);
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(in, 0), "id")), 99);
    cr_expect_geq(json_integer_value(json_object_get(json_array_get(in, 0), "age_ms")), 1500);
    json_decref(j);
    wt_resp_free(&r);

    r = wt_get(E.w.port, "/metrics");
    cr_expect(strstr(r.body, "kue_worker_processes{state=\"ready\"} 1\n"), "%s", r.body);
    cr_expect(strstr(r.body, "kue_jobs_processed_total{type=\"email\"} 17\n"), "%s", r.body);
    cr_expect(strstr(r.body, "kue_worker_restarts_total 3\n"), "%s", r.body);
    cr_expect(strstr(r.body, "kue_promoted_total 12\n"), "%s", r.body);
    wt_resp_free(&r);

    r = wt_get(E.w.port, "/healthz");
    cr_expect_eq(r.status, 200, "%s", r.body);
    wt_resp_free(&r);
    r = wt_get(E.w.port, "/readyz");
    cr_expect_eq(r.status, 200, "%s", r.body);
    wt_resp_free(&r);

    /* draining: not ready; a stale master heartbeat: not healthy */
    sb.hdr->draining = 1;
    r = wt_get(E.w.port, "/readyz");
    cr_expect_eq(r.status, 503, "%s", r.body);
    wt_resp_free(&r);
    sb.hdr->master_heartbeat_ms = kt_now_ms() - 60000;
    r = wt_get(E.w.port, "/healthz");
    cr_expect_eq(r.status, 503, "%s", r.body);
    wt_resp_free(&r);
    kue_sb_detach(&sb);
}
