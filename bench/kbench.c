/*
 * kbench.c -- the producer side of kue's benchmark (bench/run.sh builds it
 * against libkue.a).  Each subcommand prints one JSON object on stdout.
 *
 *   kbench enqueue URL PREFIX TYPE single|concurrent|bulk N [CONC]
 *       save N jobs {"n":i}: one at a time; as CONC chains of
 *       kue_async_save() on one connection and one libev loop (CONC jobs
 *       in flight, each callback sends the chain's next save); or
 *       kue_job_save_bulk() in batches of 1000.  -> {"secs":S,"n":N}
 *       With KBENCH_GROUPS=G (bulk only), job i is in group "g<i mod G>".
 *       With KBENCH_WAIT_REPLICAS=R, every save waits for R replicas
 *       (kue_set_wait_replicas, timeout 1 s; bench/wait-replicas.sh).
 *   kbench latency URL PREFIX TYPE M STAMPS
 *       M jobs one at a time through an idle worker of TYPE (the stamp
 *       plugin appends "id ns" to STAMPS at handler start); completion is
 *       the "complete" message on P:events.  -> start/complete samples (ms)
 *   kbench delayed URL PREFIX TYPE K MIN_MS MAX_MS STAMPS
 *       K jobs due at now + a delay spread evenly over MIN..MAX; the lag is
 *       handler start minus due time.  -> lag samples (ms)
 *   kbench wakefloor URL PREFIX TYPE M
 *       the same shape as latency with no queue at all: a child process
 *       blocks in BLPOP of two lists (as an idle kue worker waits on its
 *       wake list and the type's tokens), the parent LPUSHes one element
 *       every 3 ms; the sample is LPUSH sent -> the child has read the
 *       reply.  It is what any queue on this Redis and this host pays for
 *       an idle wake-up, before its own scripts and client code.  PREFIX
 *       and TYPE name the keys (PREFIX:wakefloor:TYPE[:own]).  -> samples
 *   kbench idlefloor URL PREFIX TYPE M
 *       the wake floor plus the least one script must write for a job
 *       that Node Kue sees created and started: one function call (its
 *       library loaded first, warmed, then called 3 ms apart like the
 *       latency phase) that takes an id, writes the hash as active, adds
 *       the job to the three sorted sets and the type set, publishes
 *       "enqueue" and "start", and LPUSHes the id and data to the list a
 *       child process waits on in BLPOP; a second child subscribes to the
 *       events channel, as the latency phase's watcher does.  No holder
 *       set, lease or checks: less than a safe queue may do.  Keys under
 *       PREFIX:idlefloor.  -> samples (ms)
 *   kbench watch URL PREFIX TYPE N
 *       subscribe to PREFIX:events (kue_watch) and count "complete"
 *       messages until N have arrived; TYPE is unused.  Prints when the
 *       first and the Nth arrived, in CLOCK_MONOTONIC ms (Node's hrtime
 *       clock).  -> {"count":N,"first_ms":F,"last_ms":L}
 */
#include <errno.h>
#include <signal.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include <kue/async.h>
#include <kue/kue.h>

static const char *url, *prefix, *type;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *err)
{
    fprintf(stderr, "kbench: %s: %s\n", what, err);
    exit(1);
}

static kue_t *conn(void)
{
    char err[256];
    kue_t *k = kue_connect(url, prefix, err, sizeof err);
    if (!k) die("connect", err);
    const char *w = getenv("KBENCH_WAIT_REPLICAS");
    if (w && kue_set_wait_replicas(k, atoi(w), 1000) != 0) die("wait replicas", kue_errstr(k));
    return k;
}

static void save_one(kue_t *k, long i)
{
    char data[32];
    snprintf(data, sizeof data, "{\"n\":%ld}", i);
    kue_job_t *j = kue_job_new(type, data);
    if (kue_job_save(k, j) < 0) die("save", kue_errstr(k));
    kue_job_free(j);
}

/* ---- enqueue -------------------------------------------------------------- */

/* CONC chains of non-blocking saves on one connection. */
static struct { long n, next, done, conc; double t0; } ch;

static void chain_saved(kue_async_t *a, int64_t id, const char *err, void *job);

static void chain_next(kue_async_t *a)
{
    if (ch.next >= ch.n) return;
    char data[32];
    snprintf(data, sizeof data, "{\"n\":%ld}", ch.next);
    kue_job_t *j = kue_job_new(type, data);
    if (kue_async_save(a, j, chain_saved, j) != 0) die("save", kue_async_errstr(a));
    ch.next++;
}

static void chain_saved(kue_async_t *a, int64_t id, const char *err, void *job)
{
    kue_job_free(job);
    if (id <= 0) die("save", err);
    if (++ch.done == ch.n) ev_break(EV_DEFAULT, EVBREAK_ALL);
    else chain_next(a);
}

static void chain_state(kue_async_t *a, int connected, void *p)
{
    (void)p;
    if (!connected) die("save", "connection to Redis lost");
    ch.t0 = mono();
    for (long c = 0; c < ch.conc; c++) chain_next(a);
}

static double enqueue_chains(long n, long conc)
{
    char err[256];
    kue_async_t *a = kue_async_connect(EV_DEFAULT, url, prefix, err, sizeof err);
    if (!a) die("connect", err);
    const char *w = getenv("KBENCH_WAIT_REPLICAS");
    if (w && kue_async_set_wait_replicas(a, atoi(w), 1000) != 0)
        die("wait replicas", kue_async_errstr(a));
    ch.n = n;
    ch.conc = conc < 1 ? 1 : conc;
    kue_async_set_state_fn(a, chain_state, NULL);
    if (n > 0) ev_run(EV_DEFAULT, 0);
    kue_async_free(a);
    return n > 0 ? ch.t0 : mono();
}

static int cmd_enqueue(const char *mode, long n, long conc)
{
    double t0 = mono();
    if (!strcmp(mode, "single")) {
        kue_t *k = conn();
        t0 = mono();
        for (long i = 0; i < n; i++) save_one(k, i);
        kue_free(k);
    } else if (!strcmp(mode, "concurrent")) {
        t0 = enqueue_chains(n, conc);
    } else if (!strcmp(mode, "bulk")) {
        kue_t *k = conn();
        enum { B = 1000 };
        kue_job_t *jobs[B];
        int64_t ids[B];
        const char *ge = getenv("KBENCH_GROUPS");
        long groups = ge ? atol(ge) : 0;
        t0 = mono();
        for (long i = 0; i < n; i += B) {
            size_t m = (size_t)(n - i < B ? n - i : B);
            for (size_t x = 0; x < m; x++) {
                char data[32];
                snprintf(data, sizeof data, "{\"n\":%ld}", i + (long)x);
                jobs[x] = kue_job_new(type, data);
                if (groups > 0) {
                    char g[32];
                    snprintf(g, sizeof g, "g%ld", (i + (long)x) % groups);
                    kue_job_set_group(jobs[x], g);
                }
            }
            if (kue_job_save_bulk(k, jobs, m, ids) != m) die("save_bulk", kue_errstr(k));
            for (size_t x = 0; x < m; x++) kue_job_free(jobs[x]);
        }
        kue_free(k);
    } else {
        die("enqueue", "mode is single, concurrent or bulk");
    }
    printf("{\"secs\":%.6f,\"n\":%ld}\n", mono() - t0, n);
    return 0;
}

/* ---- stamps and samples ----------------------------------------------------- */

struct sample { int64_t id, t0, start, done; };

static void read_stamps(const char *path, struct sample *s, long n)
{
    FILE *f = fopen(path, "r");
    if (!f) return;
    long long id, ns;
    while (fscanf(f, "%lld %lld", &id, &ns) == 2)
        for (long i = 0; i < n; i++)
            if (s[i].id == id && !s[i].start) { s[i].start = ns; break; }
    fclose(f);
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Print "name":[sorted ms samples] for the samples that have both ends. */
static void print_samples(const char *name, const struct sample *s, long n, int which)
{
    double *v = calloc((size_t)n + 1, sizeof *v);
    long m = 0;
    for (long i = 0; i < n; i++) {
        int64_t end = which ? s[i].done : s[i].start;
        if (end) v[m++] = (double)(end - s[i].t0) / 1e6;
    }
    qsort(v, (size_t)m, sizeof *v, cmpd);
    printf("\"%s\":[", name);
    for (long i = 0; i < m; i++) printf("%s%.4f", i ? "," : "", v[i]);
    printf("]");
    free(v);
}

/* Print {"n":N,"name":[samples]} and free the samples. */
static void print_run(const char *name, struct sample *s, long n)
{
    printf("{\"n\":%ld,", n);
    print_samples(name, s, n, 0);
    printf("}\n");
    free(s);
}

/* ---- latency ---------------------------------------------------------------- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int64_t last_id = -1, last_at;

static int on_event(int64_t id, const char *event, const char *json, void *p)
{
    (void)json; (void)p;
    if (strcmp(event, "complete")) return 0;
    int64_t t = now_ns();
    pthread_mutex_lock(&mu);
    last_id = id;
    last_at = t;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    return 0;
}

static void *watcher(void *p)
{
    kue_watch(p, on_event, NULL);
    return NULL;
}

static int cmd_latency(long m, const char *stamps)
{
    kue_t *k = conn(), *ks = conn();
    pthread_t th;
    pthread_create(&th, NULL, watcher, ks);
    usleep(200000);                       /* SUBSCRIBE in place, worker idle */
    struct sample *s = calloc((size_t)m, sizeof *s);
    for (long i = 0; i < m; i++) {
        char data[32];
        snprintf(data, sizeof data, "{\"n\":%ld}", i);
        kue_job_t *j = kue_job_new(type, data);
        s[i].t0 = now_ns();
        int64_t id = kue_job_save(k, j);
        if (id < 0) die("save", kue_errstr(k));
        kue_job_free(j);
        s[i].id = id;
        pthread_mutex_lock(&mu);
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += 5;
        while (last_id != id)
            if (pthread_cond_timedwait(&cv, &mu, &dl) == ETIMEDOUT) break;
        if (last_id == id) s[i].done = last_at;
        pthread_mutex_unlock(&mu);
        usleep(3000);                     /* let the worker go idle (BLPOP) again */
    }
    usleep(50000);
    read_stamps(stamps, s, m);
    printf("{\"n\":%ld,", m);
    print_samples("start_ms", s, m, 0);
    printf(",");
    print_samples("complete_ms", s, m, 1);
    printf("}\n");
    return 0;
}

/* ---- wakefloor ----------------------------------------------------------------- */

/* A plain hiredis connection to the redis://host:port/db URL the bench uses. */
static redisContext *raw_conn(void)
{
    char host[256] = "127.0.0.1";
    int port = 6379, db = 0;
    if (sscanf(url, "redis://%255[^:/]:%d/%d", host, &port, &db) < 2) die("wakefloor", "URL must be redis://HOST:PORT[/DB]");
    redisContext *r = redisConnect(host, port);
    if (!r || r->err) die("wakefloor connect", r ? r->errstr : "out of memory");
    redisReply *x = redisCommand(r, "SELECT %d", db);
    if (!x || x->type == REDIS_REPLY_ERROR) die("wakefloor", "SELECT failed");
    freeReplyObject(x);
    return r;
}

static int cmd_wakefloor(long m)
{
    char src[256], dst[256];
    snprintf(src, sizeof src, "%s:wakefloor:%s", prefix, type);
    snprintf(dst, sizeof dst, "%s:wakefloor:%s:own", prefix, type);
    int fds[2];
    if (m < 1 || pipe(fds) != 0) die("wakefloor", "bad M or no pipe");
    pid_t child = fork();
    if (child < 0) die("wakefloor", "fork failed");
    if (child == 0) {
        close(fds[0]);
        redisContext *r = raw_conn();
        for (long i = 0; i < m; i++) {
            redisReply *a = redisCommand(r, "BLPOP %s %s 5", dst, src);
            if (!a) _exit(1);
            int64_t t = now_ns();
            int got = a->type == REDIS_REPLY_ARRAY;
            freeReplyObject(a);
            if (!got) t = 0;                 /* timed out: no sample */
            if (write(fds[1], &t, sizeof t) != (ssize_t)sizeof t) _exit(1);
        }
        _exit(0);
    }
    close(fds[1]);
    redisContext *r = raw_conn();
    struct sample *s = calloc((size_t)m, sizeof *s);
    redisReply *x = redisCommand(r, "DEL %s %s", src, dst);
    freeReplyObject(x);
    usleep(200000);                          /* the child is blocked */
    for (long i = 0; i < m; i++) {
        s[i].t0 = now_ns();
        x = redisCommand(r, "LPUSH %s 1", src);
        if (!x || x->type == REDIS_REPLY_ERROR) die("wakefloor", "LPUSH failed");
        freeReplyObject(x);
        int64_t t;
        if (read(fds[0], &t, sizeof t) != (ssize_t)sizeof t) die("wakefloor", "the child died");
        s[i].start = t;
        usleep(3000);                        /* as the latency phase: the child idles again */
    }
    int st;
    waitpid(child, &st, 0);
    x = redisCommand(r, "DEL %s %s", src, dst);
    freeReplyObject(x);
    redisFree(r);
    print_run("wake_ms", s, m);
    return 0;
}

/* ---- idlefloor -------------------------------------------------------------- */

static const char idlefloor_lib[] =
    "#!lua name=kbench_idlefloor\n"
    "redis.register_function('kbench_idlefloor', function(keys, a)\n"
    "  local p, t, owner = a[1], a[2], a[3]\n"
    "  local tm = redis.call('TIME')\n"
    "  local now = string.format('%d', tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000))\n"
    "  local id = string.format('%d', redis.call('INCRBY', p .. ':ids', 1))\n"
    "  local z = string.format('%02d|', #id) .. id\n"
    "  redis.call('HSET', p .. ':job:' .. id, 'state', 'active', 'updated_at', now, 'max_attempts', '1',\n"
    "             'type', t, 'created_at', now, 'promote_at', now, 'priority', '0', 'data', '{}',\n"
    "             'started_at', now, 'workerId', 'kue:' .. owner .. ':' .. t .. ':1')\n"
    "  redis.call('PUBLISH', p .. ':events', '{\"id\":' .. id .. ',\"event\":\"enqueue\",\"args\":[\"enqueue\",\"' .. t .. '\"]}')\n"
    "  redis.call('SADD', p .. ':job:types', t)\n"
    "  redis.call('ZADD', p .. ':jobs', 0, z)\n"
    "  redis.call('ZADD', p .. ':jobs:active', 0, z)\n"
    "  redis.call('ZADD', p .. ':jobs:' .. t .. ':active', 0, z)\n"
    "  redis.call('PUBLISH', p .. ':events', '{\"id\":' .. id .. ',\"event\":\"start\",\"args\":[\"start\",\"' .. t .. '\",null]}')\n"
    "  redis.call('LPUSH', p .. ':wake:' .. owner, id .. '\\0{}')\n"
    "  return id\n"
    "end)\n";

static int cmd_idlefloor(long m)
{
    char p[256], own[400], tok[600], ev[300], owner[64];
    snprintf(p, sizeof p, "%s:idlefloor", prefix);
    snprintf(owner, sizeof owner, "h:%d", (int)getpid());
    snprintf(own, sizeof own, "%s:wake:%s", p, owner);
    snprintf(tok, sizeof tok, "%s:%s:jobs", p, type);
    snprintf(ev, sizeof ev, "%s:events", p);
    if (m < 1) die("idlefloor", "bad M");
    redisContext *r = raw_conn();
    redisReply *x = redisCommand(r, "FUNCTION LOAD REPLACE %s", idlefloor_lib);
    if (!x || x->type == REDIS_REPLY_ERROR) die("idlefloor FUNCTION LOAD", x ? x->str : "no reply");
    freeReplyObject(x);
    pid_t sub = fork();
    if (sub < 0) die("idlefloor", "fork failed");
    if (sub == 0) {                                  /* the events' subscriber */
        redisContext *s = raw_conn();
        redisReply *y = redisCommand(s, "SUBSCRIBE %s", ev);
        freeReplyObject(y);
        for (;;) {
            if (redisGetReply(s, (void **)&y) != REDIS_OK) _exit(0);
            freeReplyObject(y);
        }
    }
    int fds[2];
    if (pipe(fds) != 0) die("idlefloor", "no pipe");
    pid_t child = fork();
    if (child < 0) die("idlefloor", "fork failed");
    if (child == 0) {                                /* the worker */
        close(fds[0]);
        redisContext *c = raw_conn();
        for (long i = 0; i < m + 20; i++) {
            redisReply *a = redisCommand(c, "BLPOP %s %s 5", own, tok);
            if (!a) _exit(1);
            int64_t t = now_ns();
            if (a->type != REDIS_REPLY_ARRAY) t = 0;
            freeReplyObject(a);
            if (write(fds[1], &t, sizeof t) != (ssize_t)sizeof t) _exit(1);
        }
        _exit(0);
    }
    close(fds[1]);
    struct sample *s = calloc((size_t)m, sizeof *s);
    usleep(200000);                                  /* both children in place */
    for (long i = 0; i < m + 20; i++) {              /* the first 20 warm up, unrecorded */
        int64_t t0 = now_ns();
        x = redisCommand(r, "FCALL kbench_idlefloor 0 %s %s %s", p, type, owner);
        if (!x || x->type == REDIS_REPLY_ERROR) die("idlefloor FCALL", x ? x->str : "no reply");
        freeReplyObject(x);
        int64_t t;
        if (read(fds[0], &t, sizeof t) != (ssize_t)sizeof t) die("idlefloor", "the child died");
        if (i >= 20) {
            s[i - 20].t0 = t0;
            s[i - 20].start = t;
        }
        usleep(3000);
    }
    waitpid(child, NULL, 0);
    kill(sub, SIGTERM);
    waitpid(sub, NULL, 0);
    x = redisCommand(r, "FUNCTION DELETE kbench_idlefloor");
    freeReplyObject(x);
    redisFree(r);
    print_run("idle_ms", s, m);
    return 0;
}

/* ---- delayed ---------------------------------------------------------------- */

static int cmd_delayed(long n, long lo, long hi, const char *stamps)
{
    kue_t *k = conn();
    struct sample *s = calloc((size_t)n, sizeof *s);
    for (long i = 0; i < n; i++) {
        int64_t due = now_ns() / 1000000 + lo + (n > 1 ? (hi - lo) * i / (n - 1) : 0);
        kue_job_t *j = kue_job_new(type, "{}");
        kue_job_set_run_at(j, due);
        int64_t id = kue_job_save(k, j);
        if (id < 0) die("save", kue_errstr(k));
        kue_job_free(j);
        s[i].id = id;
        s[i].t0 = due * 1000000;
    }
    /* wait for every stamp (or MAX + 3 s) */
    double end = mono() + hi / 1000.0 + 3.0;
    for (;;) {
        for (long i = 0; i < n; i++) s[i].start = 0;
        read_stamps(stamps, s, n);
        long got = 0;
        for (long i = 0; i < n; i++) got += s[i].start != 0;
        if (got == n || mono() > end) break;
        usleep(50000);
    }
    print_run("lag_ms", s, n);
    kue_free(k);
    return 0;
}

/* ---- watch ------------------------------------------------------------------ */

static struct { long want, got; double first, last; } wt;

static int on_complete(int64_t id, const char *event, const char *json, void *p)
{
    (void)id; (void)json; (void)p;
    if (strcmp(event, "complete")) return 0;
    double t = mono() * 1000.0;
    if (wt.got++ == 0) wt.first = t;
    wt.last = t;
    return wt.got >= wt.want;
}

static int cmd_watch(long n)
{
    kue_t *k = conn();
    wt.want = n;
    if (n > 0 && kue_watch(k, on_complete, NULL) < 0 && wt.got < n) die("watch", kue_errstr(k));
    printf("{\"count\":%ld,\"first_ms\":%.4f,\"last_ms\":%.4f}\n", wt.got, wt.first, wt.last);
    kue_free(k);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: kbench enqueue|latency|wakefloor|idlefloor|delayed|watch URL PREFIX TYPE ...\n");
        return 2;
    }
    url = argv[2];
    prefix = argv[3];
    type = argv[4];
    setvbuf(stdout, NULL, _IOFBF, 1 << 20);
    if (!strcmp(argv[1], "enqueue") && argc >= 7)
        return cmd_enqueue(argv[5], atol(argv[6]), argc > 7 ? atol(argv[7]) : 1);
    if (!strcmp(argv[1], "latency") && argc >= 7)
        return cmd_latency(atol(argv[5]), argv[6]);
    if (!strcmp(argv[1], "delayed") && argc >= 9)
        return cmd_delayed(atol(argv[5]), atol(argv[6]), atol(argv[7]), argv[8]);
    if (!strcmp(argv[1], "wakefloor") && argc >= 6)
        return cmd_wakefloor(atol(argv[5]));
    if (!strcmp(argv[1], "idlefloor") && argc >= 6)
        return cmd_idlefloor(atol(argv[5]));
    if (!strcmp(argv[1], "watch") && argc >= 6)
        return cmd_watch(atol(argv[5]));
    fprintf(stderr, "kbench: bad arguments\n");
    return 2;
}
