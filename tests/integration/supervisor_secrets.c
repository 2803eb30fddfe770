/*
 * supervisor_secrets.c -- children get their settings through a sealed
 * memfd, not argv: neither the Redis password nor the web credentials
 * appear in /proc/PID/cmdline or /proc/PID/environ of any child (also when
 * the URL comes from KUE_REDIS_URL), nor in the log; a HUP applies what
 * the key table says (lease replaces the workers, log_format restarts web
 * and reaches its lines, title restarts only web).
 */
#include <jansson.h>

#include "supervisor_common.h"
#include "web_common.h"

static struct sup_t S;
static const char *const plugins[] = { "echo", NULL };

TestSuite(supervisor_secrets, .fini = sup_fini, .timeout = 60);

#define REDIS_PW "rEdisPw-91f3"
#define WEB_PW "wEbPw-7c21"

/* Whole file (NULs kept as they are) into buf; returns the length. */
static size_t slurp_proc(int pid, const char *what, char *buf, size_t len)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", pid, what);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, len, f);
    fclose(f);
    return n;
}

static int contains(const char *buf, size_t n, const char *needle)
{
    return memmem(buf, n, needle, strlen(needle)) != NULL;
}

/* Every live child of parent: none may show either password. */
static int scan_children(pid_t parent, int *checked)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int bad = 0;
    *checked = 0;
    static char buf[1 << 16];
    while (d && (e = readdir(d))) {
        int pid = atoi(e->d_name);
        if (pid <= 0)
            continue;
        char st[512];
        size_t r = slurp_proc(pid, "stat", st, sizeof(st) - 1);
        st[r] = '\0';
        char *rp = strrchr(st, ')');
        char state;
        int ppid;
        if (!rp || sscanf(rp + 2, "%c %d", &state, &ppid) != 2 || ppid != parent)
            continue;
        (*checked)++;
        const char *files[] = { "cmdline", "environ" };
        for (int i = 0; i < 2; i++) {
            size_t n = slurp_proc(pid, files[i], buf, sizeof(buf));
            if (contains(buf, n, REDIS_PW) || contains(buf, n, WEB_PW)) {
                cr_log_error("pid %d /proc/%s holds a password", pid, files[i]);
                bad++;
            }
        }
    }
    if (d)
        closedir(d);
    return bad;
}

static int port;

static void setup_pw(const char *extra)
{
    port = kt_free_port();
    char body[512];
    snprintf(body, sizeof(body),
             "[type echo]\nprocesses = 2\n[web]\nlisten = 127.0.0.1:%d\nauth = admin:" WEB_PW "\n%s",
             port, extra);
    sup_setup(&S, plugins, body);
    redisContext *c = kt_redis_connect(&S.redis);
    freeReplyObject(kt_cmd(c, "CONFIG SET requirepass %s", REDIS_PW));
    redisFree(c);
}

static int web_up(void *arg)
{
    int fd = wt_connect(port);
    if (fd < 0)
        return 0;
    close(fd);
    wt_resp_t r = wt_get(port, "/healthz");
    int ok = r.status == 200;
    wt_resp_free(&r);
    return ok;
}

Test(supervisor_secrets, no_password_in_any_child_cmdline_or_environ)
{
    setup_pw("");
    /* the URL with its password comes from the environment, as in a
     * container; it must not reach the children's environment */
    char envurl[700];
    snprintf(envurl, sizeof(envurl), "KUE_REDIS_URL=%s?password=" REDIS_PW, S.redis.url);
    char *env[] = { envurl, "KUE_WEB_AUTH=admin:" WEB_PW, NULL };
    char bin[600];
    kt_bin("kue-supervisor", bin, sizeof(bin));
    char *argv[] = { bin, "-c", S.ini, NULL };
    S.pid = kt_spawn_env(argv, env, S.log);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker echo#", 2, 10000));
    cr_assert(kt_wait_until(web_up, NULL, 10000), "web did not come up");

    /* the children really got the password: a job is processed */
    int64_t id = sup_job(&S, "echo", "{}", 1, 0);
    cr_assert(sup_wait_state(&S, id, "complete", 10000), "not processed");
    /* and web the credentials */
    wt_resp_t r = wt_get(port, "/stats");
    cr_expect_eq(r.status, 401);
    wt_resp_free(&r);

    int checked = 0;
    cr_expect_eq(scan_children(S.pid, &checked), 0);
    cr_expect_geq(checked, 3, "only %d children seen", checked);
    char *log = kt_read_file(S.log);
    cr_expect(log && !strstr(log, REDIS_PW) && !strstr(log, WEB_PW), "a password in the log");
    free(log);
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
}

Test(supervisor_secrets, invalid_url_error_masks_the_password)
{
    setup_pw("");
    sup_replace(S.ini, "url = ", "url = redis://:" REDIS_PW "@127.0.0.1:99999/0\n; ");
    char bin[600];
    kt_bin("kue-supervisor", bin, sizeof(bin));
    char *argv[] = { bin, "-t", "-c", S.ini, NULL };
    pid_t pid = kt_spawn(argv, S.log);
    int status;
    cr_assert_eq(kt_wait(pid, 10000, &status), 0);
    cr_expect_eq(WEXITSTATUS(status), 2);
    char *log = kt_read_file(S.log);
    cr_assert(log);
    cr_expect(strstr(log, "invalid Redis URL \"redis://:***@127.0.0.1:99999/0\""), "%s", log);
    cr_expect(!strstr(log, REDIS_PW), "%s", log);
    free(log);
}

/* pids of the workers of type echo and of web, sorted into a set */
static int same_workers(const pid_t *a, const pid_t *b)
{
    return (a[0] == b[0] && a[1] == b[1]) || (a[0] == b[1] && a[1] == b[0]);
}

static pid_t web_pid(void)
{
    pid_t p[2] = { 0, 0 };
    sup_children(S.pid, "kue-supervisor: web", p, 2);
    return p[0];
}

struct roll { pid_t old[2]; };
static int rolled(void *arg)
{
    struct roll *r = arg;
    pid_t now[4] = { 0 };
    if (sup_children(S.pid, "kue-supervisor: worker echo#", now, 4) != 2)
        return 0;
    return now[0] != r->old[0] && now[0] != r->old[1] && now[1] != r->old[0] &&
           now[1] != r->old[1];
}

static int web_json_line(void *arg)
{
    return sup_log_has(S.log, "\"role\":\"web\"");
}

struct webarg { pid_t old; };
static int web_replaced(void *arg)
{
    struct webarg *w = arg;
    pid_t p = web_pid();
    return p > 0 && p != w->old && web_up(NULL);
}

Test(supervisor_secrets, reload_applies_what_the_key_table_says)
{
    setup_pw("");
    char url[700];
    snprintf(url, sizeof(url), "url = %s?password=" REDIS_PW, S.redis.url);
    char from[700];
    snprintf(from, sizeof(from), "url = %s", S.redis.url);
    sup_replace(S.ini, from, url);
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker echo#", 2, 10000));
    cr_assert(kt_wait_until(web_up, NULL, 10000), "web did not come up");
    pid_t w0[2];
    sup_children(S.pid, "kue-supervisor: worker echo#", w0, 2);
    pid_t web0 = web_pid();

    /* the title is web's only: web restarts, the workers stay */
    sup_replace(S.ini, "[web]\n", "[web]\ntitle = Other\n");
    kill(S.pid, SIGHUP);
    struct webarg wa = { web0 };
    cr_assert(kt_wait_until(web_replaced, &wa, 10000), "web not restarted");
    cr_assert(sup_log_has(S.log, "reload: changed: [web] title"));
    pid_t w1[2];
    cr_assert_eq(sup_children(S.pid, "kue-supervisor: worker echo#", w1, 2), 2);
    cr_expect(same_workers(w0, w1), "workers replaced for a web setting");

    /* lease is baked into every worker: they are replaced */
    sup_replace(S.ini, "[supervisor]\n", "[supervisor]\nlease = 20s\n");
    kill(S.pid, SIGHUP);
    struct roll ro = { { w0[0], w0[1] } };
    cr_assert(kt_wait_until(rolled, &ro, 15000), "workers not replaced after a lease change");
    cr_assert(sup_log_has(S.log, "[supervisor] lease"));
    cr_assert(sup_log_has(S.log, "replacing 2 worker(s) of type echo"));

    /* log_format reaches web too (its lines become JSON) */
    pid_t web1 = web_pid();
    sup_replace(S.ini, "log_level = debug\n", "log_level = debug\nlog_format = json\n");
    kill(S.pid, SIGHUP);
    struct webarg wb = { web1 };
    cr_assert(kt_wait_until(web_replaced, &wb, 10000), "web not restarted for log_format");
    cr_assert(kt_wait_until(web_json_line, NULL, 5000), "no JSON line from web");
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
}

static int run_sh(const char *cmd)
{
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int https_up(void *arg)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd),
             "printf 'GET /healthz HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nConnection: close\\r\\n\\r\\n' | "
             "timeout 5 openssl s_client -quiet -connect 127.0.0.1:%d 2>/dev/null | "
             "grep -q 'HTTP/1.1 200'", port);
    return run_sh(cmd) == 0;
}

Test(supervisor_secrets, tls_key_read_before_the_drop_and_old_tls_refused)
{
    if (run_sh("command -v openssl >/dev/null") != 0)
        cr_skip_test("openssl missing");
    setup_pw("");
    char cert[700], key[700], cmd[2048];
    snprintf(cert, sizeof(cert), "%s/cert.pem", S.dir);
    snprintf(key, sizeof(key), "%s/key.pem", S.dir);
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 2 "
             "-subj /CN=127.0.0.1 >/dev/null 2>&1", key, cert);
    cr_assert_eq(run_sh(cmd), 0);
    chmod(key, 0600);   /* the supervisor's user only */
    char extra[1600];
    snprintf(extra, sizeof(extra), "tls_cert = %s\ntls_key = %s\n", cert, key);
    sup_replace(S.ini, "[web]\n", "[web]\n");
    char *t = kt_read_file(S.ini);
    char *n = malloc(strlen(t) + strlen(extra) + 1);
    sprintf(n, "%s%s", t, extra);   /* [web] is the last section */
    kt_write_file(S.ini, n);
    free(n);
    free(t);
    char url[700], from[700];
    snprintf(url, sizeof(url), "url = %s?password=" REDIS_PW, S.redis.url);
    snprintf(from, sizeof(from), "url = %s", S.redis.url);
    sup_replace(S.ini, from, url);
    if (geteuid() == 0) {
        chmod(kt_tmpdir(), 0755);
        sup_replace(S.ini, "[supervisor]\n", "[supervisor]\nuser = nobody\n");
    }
    sup_start(&S);
    cr_assert(kt_wait_until(https_up, NULL, 15000), "web over TLS did not come up");
    /* TLS 1.1 (allowed by the client here) is refused, 1.2 works */
    snprintf(cmd, sizeof(cmd),
             "printf 'GET /healthz HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' | "
             "timeout 5 openssl s_client -quiet -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' "
             "-connect 127.0.0.1:%d 2>/dev/null | grep -q 'HTTP/1.1 200'", port);
    cr_expect_neq(run_sh(cmd), 0, "TLS 1.1 accepted");
    snprintf(cmd, sizeof(cmd),
             "printf 'GET /healthz HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' | "
             "timeout 5 openssl s_client -quiet -tls1_2 -connect 127.0.0.1:%d 2>/dev/null | "
             "grep -q 'HTTP/1.1 200'", port);
    cr_expect_eq(run_sh(cmd), 0, "TLS 1.2 refused");
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
}
