/*
 * /metrics of a supervisor's web process, read by a strict parser of the
 * Prometheus text format: every family has one # HELP and one # TYPE before
 * its samples, samples of a family are contiguous, names, labels and values
 * are well formed, no series repeats, histograms end at le="+Inf".  And
 * counters never go down while the supervisor runs, even across a worker
 * killed with SIGKILL (Prometheus's rate() would read a drop as a reset),
 * or a reload that removes a type whose workers were restarted.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <kue/kue.h>
#include "web_common.h"

TestSuite(web_metrics, .timeout = 120);

#define MAXF 256
#define MAXS 4096

struct family { char name[128], type[16]; int help, typed, has_inf; };
struct series { char key[512]; char family[128]; double v; };
struct scrape {
    struct family f[MAXF];
    int nf;
    struct series s[MAXS];
    int ns;
};

static int name_ok(const char *p, size_t n)
{
    if (!n || !(isalpha((unsigned char)p[0]) || p[0] == '_' || p[0] == ':')) return 0;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)p[i]) || p[i] == '_' || p[i] == ':')) return 0;
    return 1;
}

static struct family *fam(struct scrape *sc, const char *name, int create)
{
    for (int i = 0; i < sc->nf; i++)
        if (!strcmp(sc->f[i].name, name)) return &sc->f[i];
    if (!create) return NULL;
    cr_assert_lt(sc->nf, MAXF);
    struct family *f = &sc->f[sc->nf++];
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    return f;
}

/* Parses text into sc; asserts on the first violation (naming the line). */
static void parse_strict(const char *text, struct scrape *sc)
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
            struct family *f = fam(sc, name, 1);
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
        struct family *f = fam(sc, name, 0);
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
        cr_assert_lt(sc->ns, MAXS);
        struct series *s = &sc->s[sc->ns];
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

static double value(const struct scrape *sc, const char *key)
{
    for (int i = 0; i < sc->ns; i++)
        if (!strcmp(sc->s[i].key, key)) return sc->s[i].v;
    return -1;
}

/* Every counter series of a (a counter family's samples, histogram
 * buckets, sums and counts) is present in b with a value not lower. */
static void monotonic(const struct scrape *a, const struct scrape *b, const char *when)
{
    for (int i = 0; i < a->ns; i++) {
        const struct family *f = NULL;
        for (int k = 0; k < a->nf; k++)
            if (!strcmp(a->f[k].name, a->s[i].family)) f = &a->f[k];
        if (!f || (strcmp(f->type, "counter") && strcmp(f->type, "histogram"))) continue;
        double v = value(b, a->s[i].key);
        cr_expect(v >= a->s[i].v, "%s: counter %s went from %g to %g", when, a->s[i].key,
                  a->s[i].v, v);
    }
}

static int port;
static struct scrape *scr(void)
{
    static struct scrape sc;
    wt_resp_t r = wt_get(port, "/metrics");
    cr_assert_eq(r.status, 200, "%s", r.body);
    parse_strict(r.body, &sc);
    wt_resp_free(&r);
    struct scrape *copy = malloc(sizeof *copy);
    memcpy(copy, &sc, sizeof sc);
    return copy;
}

static int web_up(void *arg)
{
    (void)arg;
    int fd = wt_connect(port);
    if (fd < 0) return 0;
    close(fd);
    return 1;
}

static long long want_done;
static int processed_reaches(void *arg)
{
    (void)arg;
    wt_resp_t r = wt_get(port, "/metrics");
    const char *k = "kue_jobs_processed_total{type=\"echo\"} ";
    const char *p = strstr(r.body, k);
    long long v = p ? atoll(p + strlen(k)) : -1;
    wt_resp_free(&r);
    return v >= want_done;
}

/* pid of a ready worker of type in /workers, 0 if none is ready */
static int ready_pid(const char *type)
{
    wt_resp_t r = wt_get(port, "/workers");
    int pid = 0;
    char needle[128];
    snprintf(needle, sizeof needle, "\"type\":\"%s\",\"state\":\"ready\"", type);
    const char *t = strstr(r.body, needle);
    if (t) {
        const char *p = t;
        while (p > r.body && strncmp(p, "\"pid\":", 6) != 0) p--;
        if (!strncmp(p, "\"pid\":", 6)) pid = atoi(p + 6);
    }
    wt_resp_free(&r);
    return pid;
}

static int echo_pid(void)
{
    return ready_pid("echo");
}

static int old_pid;
static int respawned(void *arg)
{
    (void)arg;
    int p = echo_pid();
    return p > 0 && p != old_pid;
}

Test(web_metrics, strict_exposition_and_monotonic_counters)
{
    kt_redis_t r;
    kt_redis_start(&r, 0);
    char dir[600], ini[700], log[700], conf[2048];
    snprintf(dir, sizeof dir, "%s/metrics-sup", kt_tmpdir());
    mkdir(dir, 0755);
    snprintf(ini, sizeof ini, "%s/workers.ini", dir);
    snprintf(log, sizeof log, "%s/supervisor.log", dir);
    port = wt_free_port();
    snprintf(conf, sizeof conf,
             "[supervisor]\nplugins = %s/plugins\nrun_dir = run\nshutdown_timeout = 3s\n"
             "respawn_delay = 100ms\n[redis]\nurl = %s\nprefix = q\n[web]\nlisten = 127.0.0.1:%d\n"
             "[promotion]\ninterval = 200ms\n[type echo]\nprocesses = 1\nconcurrency = 4\n"
             "rate = 25/1s\n",
             kt_build(), r.url, port);
    kt_write_file(ini, conf);
    char bin[600];
    kt_bin("kue-supervisor", bin, sizeof bin);
    char *argv[] = { bin, "-c", ini, NULL };
    pid_t sup = kt_spawn(argv, log);
    cr_assert(kt_wait_until(web_up, NULL, 15000), "web did not start");
    char err[256];
    kue_t *k = kue_connect(r.url, "q", err, sizeof err);
    cr_assert_not_null(k, "%s", err);

    for (int i = 0; i < 40; i++) {
        kue_job_t *j = kue_job_new("echo", "{\"n\":1}");
        if (i % 10 == 0) kue_job_set_delay(j, 1);    /* a few promotions too */
        cr_assert_gt(kue_job_save(k, j), 0);
        kue_job_free(j);
    }
    want_done = 40;
    cr_assert(kt_wait_until(processed_reaches, NULL, 20000), "40 echo jobs processed");
    struct scrape *a = scr();
    cr_expect_eq(value(a, "kue_jobs_processed_total{type=\"echo\"}"), 40);
    /* 40 jobs at 25 per second: some claims were cut short */
    cr_expect_gt(value(a, "kue_rate_limited_total{type=\"echo\"}"), 0);

    /* SIGKILL the worker; the master respawns it */
    old_pid = echo_pid();
    cr_assert_gt(old_pid, 0);
    cr_assert_eq(kill(old_pid, SIGKILL), 0);
    cr_assert(kt_wait_until(respawned, NULL, 15000), "the echo worker was not respawned");
    struct scrape *b = scr();
    monotonic(a, b, "across the kill");
    cr_expect_eq(value(b, "kue_jobs_processed_total{type=\"echo\"}"), 40);
    cr_expect_geq(value(b, "kue_worker_restarts_total"), 1);

    for (int i = 0; i < 10; i++) {
        kue_job_t *j = kue_job_new("echo", "{\"n\":2}");
        cr_assert_gt(kue_job_save(k, j), 0);
        kue_job_free(j);
    }
    want_done = 50;
    cr_assert(kt_wait_until(processed_reaches, NULL, 20000), "50 echo jobs processed");
    struct scrape *c = scr();
    monotonic(b, c, "after more jobs");
    cr_expect_eq(value(c, "kue_jobs_processed_total{type=\"echo\"}"), 50);
    free(a); free(b); free(c);

    kill(sup, SIGTERM);
    int st = 0;
    cr_expect_eq(kt_wait(sup, 15000, &st), 0);
    kue_free(k);
    kt_redis_stop(&r);
    kt_cleanup();
}

static int sleep_respawned(void *arg)
{
    (void)arg;
    int p = ready_pid("sleep");
    return p > 0 && p != old_pid;
}

static const char *sup_log;
static int log_has(void *needle)
{
    char *t = kt_read_file(sup_log);
    int r = t && strstr(t, needle);
    free(t);
    return r;
}

/* *pid is gone (exited and reaped) */
static int reaped(void *arg)
{
    return kill(*(int *)arg, 0) < 0;
}

static int two_echo_ready(void *arg)
{
    (void)arg;
    wt_resp_t r = wt_get(port, "/workers");
    int n = 0;
    for (const char *p = r.body; (p = strstr(p, "\"type\":\"echo\",\"state\":\"ready\"")); p++)
        n++;
    wt_resp_free(&r);
    return n == 2;
}

/* A type with restarts removed by a reload, its process entry (and
 * scoreboard slot) then taken by a worker of another type: its
 * kue_worker_restarts_by_type_total stays, and the family's sum is
 * kue_worker_restarts_total. */
Test(web_metrics, restarts_by_type_survive_the_removal_of_the_type)
{
    kt_redis_t r;
    kt_redis_start(&r, 0);
    char dir[600], ini[700], log[700], conf[2048];
    snprintf(dir, sizeof dir, "%s/restarts-sup", kt_tmpdir());
    mkdir(dir, 0755);
    snprintf(ini, sizeof ini, "%s/workers.ini", dir);
    snprintf(log, sizeof log, "%s/supervisor.log", dir);
    sup_log = log;
    port = wt_free_port();
#define RESTARTS_CONF "[supervisor]\nplugins = %s/plugins\nrun_dir = run\nshutdown_timeout = 3s\n" \
                      "respawn_delay = 100ms\n[redis]\nurl = %s\nprefix = q\n" \
                      "[web]\nlisten = 127.0.0.1:%d\n[type echo]\nprocesses = 1\n%s"
    snprintf(conf, sizeof conf, RESTARTS_CONF, kt_build(), r.url, port, "[type sleep]\nprocesses = 1\n");
    kt_write_file(ini, conf);
    char bin[600];
    kt_bin("kue-supervisor", bin, sizeof bin);
    char *argv[] = { bin, "-c", ini, NULL };
    pid_t sup = kt_spawn(argv, log);
    cr_assert(kt_wait_until(web_up, NULL, 15000), "web did not start");
    old_pid = 0;
    cr_assert(kt_wait_until(sleep_respawned, NULL, 15000), "no sleep worker ready");
    old_pid = ready_pid("sleep");
    cr_assert_eq(kill(old_pid, SIGKILL), 0);
    cr_assert(kt_wait_until(sleep_respawned, NULL, 15000), "the sleep worker was not respawned");
    int sleep_pid = ready_pid("sleep");
    cr_assert_gt(sleep_pid, 0);
    struct scrape *a = scr();
    cr_expect_eq(value(a, "kue_worker_restarts_by_type_total{type=\"sleep\"}"), 1);

    /* sleep removed; then one more echo worker, in the freed entry */
    snprintf(conf, sizeof conf, RESTARTS_CONF, kt_build(), r.url, port, "");
    kt_write_file(ini, conf);
    kill(sup, SIGHUP);
    cr_assert(kt_wait_until(log_has, "reloaded (generation 2)", 15000), "not reloaded");
    cr_assert(kt_wait_until(reaped, &sleep_pid, 15000), "the sleep worker did not stop");
    kill(sup, SIGTTIN);
    cr_assert(kt_wait_until(two_echo_ready, NULL, 15000), "no second echo worker");
    struct scrape *b = scr();
    monotonic(a, b, "across the removal of a type");
    cr_expect_eq(value(b, "kue_worker_restarts_by_type_total{type=\"sleep\"}"), 1);
    double sum = 0;
    for (int i = 0; i < b->ns; i++)
        if (!strcmp(b->s[i].family, "kue_worker_restarts_by_type_total"))
            sum += b->s[i].v;
    cr_expect_eq(sum, value(b, "kue_worker_restarts_total"));
    free(a);
    free(b);

    kill(sup, SIGTERM);
    int st = 0;
    cr_expect_eq(kt_wait(sup, 15000, &st), 0);
    kt_redis_stop(&r);
    kt_cleanup();
}

/* An idle drain with a web process takes tens of milliseconds: kue-web
 * does not wait for its events subscriber (blocked until the next message)
 * before exiting.  Best of three, as the machine may be busy. */
Test(web_metrics, idle_drain_with_web_is_fast)
{
    kt_redis_t r;
    kt_redis_start(&r, 0);
    char dir[600], ini[700], log[700], conf[2048];
    snprintf(dir, sizeof dir, "%s/drain-sup", kt_tmpdir());
    mkdir(dir, 0755);
    snprintf(ini, sizeof ini, "%s/workers.ini", dir);
    snprintf(log, sizeof log, "%s/supervisor.log", dir);
    port = wt_free_port();
    snprintf(conf, sizeof conf,
             "[supervisor]\nplugins = %s/plugins\nrun_dir = run\n"
             "[redis]\nurl = %s\nprefix = q\n[web]\nlisten = 127.0.0.1:%d\n"
             "[type echo]\nprocesses = 2\n",
             kt_build(), r.url, port);
    kt_write_file(ini, conf);
    char bin[600];
    kt_bin("kue-supervisor", bin, sizeof bin);
    char *argv[] = { bin, "-c", ini, NULL };
    int64_t best = INT64_MAX;
    for (int i = 0; i < 3; i++) {
        pid_t sup = kt_spawn(argv, log);
        cr_assert(kt_wait_until(web_up, NULL, 15000), "web did not start");
        cr_assert(kt_wait_until(respawned, NULL, 15000), "no echo worker ready");  /* old_pid 0 */
        int64_t t0 = kt_now_ms();
        kill(sup, SIGTERM);
        int st = 0;
        cr_assert_eq(kt_wait(sup, 15000, &st), 0);
        int64_t took = kt_now_ms() - t0;
        cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "drain exit status %d", st);
        if (took < best) best = took;
    }
    fprintf(stderr, "idle drain with web: best of 3 %lld ms\n", (long long)best);
    cr_expect_lt(best, 200, "idle drain with web took %lld ms", (long long)best);
    kt_redis_stop(&r);
    kt_cleanup();
}
