/*
 * The non-blocking producer (include/kue/async.h) against a private
 * redis-server: many saves pipelined on one connection leave exactly what
 * kue_job_save() leaves; bad input is refused with the blocking API's
 * messages; a Redis stopped mid-run answers every save once; freeing with
 * saves in flight answers them and leaves nothing behind; the in-flight
 * bounds hold.
 */
#include <criterion/criterion.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
/* A leak report at exit does not fail a Criterion test: check here. */
#define ASSERT_NO_LEAK() \
    cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked (LeakSanitizer report above)")
#else
#define ASSERT_NO_LEAK() ((void)0)
#endif

#include <kue/async.h>
#include <kue/kue.h>
#include "harness.h"
#include "util.h"

static kt_redis_t R;
static redisContext *C;
static kue_t *K;
static struct ev_loop *L;
static kue_async_t *A;

static void setup_flags(int flags)
{
    kt_store_open(&R, flags, &C, &K);
    L = ev_loop_new(EVFLAG_AUTO);
    cr_assert_not_null(L);
}

static void setup(void) { setup_flags(0); }

static void teardown(void)
{
    if (A) kue_async_free(A);
    A = NULL;
    if (L) ev_loop_destroy(L);
    L = NULL;
    kt_store_close(&C, &K);
}

TestSuite(async, .init = setup, .fini = teardown, .timeout = 90);

/* ---- running the loop ------------------------------------------------------ */

static int timed_out;

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    timed_out = 1;
    ev_break(loop, EVBREAK_ONE);
}

/* Run the loop until done(arg) or timeout_ms; returns done(arg). */
static int run_until(int (*done)(void *), void *arg, int timeout_ms)
{
    ev_timer t;
    ev_now_update(L);
    ev_timer_init(&t, on_timeout, timeout_ms / 1000.0, 0.);
    timed_out = 0;
    ev_timer_start(L, &t);
    while (!done(arg) && !timed_out) ev_run(L, EVRUN_ONCE);
    ev_timer_stop(L, &t);
    return done(arg);
}

static int never(void *arg) { return 0; }
static void run_for(int ms) { run_until(never, NULL, ms); }

/* Non-zero when nothing keeps the loop running: ev_run(0) returns at once
 * (the watchdog timer is unreferenced, so it does not count itself). */
static int loop_is_empty(void)
{
    ev_timer t;
    ev_now_update(L);
    ev_timer_init(&t, on_timeout, 2.0, 0.);
    timed_out = 0;
    ev_timer_start(L, &t);
    ev_unref(L);
    ev_run(L, 0);
    ev_ref(L);
    ev_timer_stop(L, &t);
    return !timed_out;
}

static int is_connected(void *arg) { return kue_async_connected(arg); }

static kue_async_t *connect_async(void)
{
    char err[256];
    kue_async_t *a = kue_async_connect(L, R.url, "q", err, sizeof err);
    cr_assert_not_null(a, "kue_async_connect: %s", err);
    cr_assert(run_until(is_connected, a, 5000), "the async connection did not come up");
    return a;
}

/* ---- save chains ----------------------------------------------------------- */

static const int prios[5] = { KUE_PRIORITY_LOW, KUE_PRIORITY_NORMAL, KUE_PRIORITY_MEDIUM,
                               KUE_PRIORITY_HIGH, KUE_PRIORITY_CRITICAL };

static const char *job_type(long i) { return i % 3 == 0 ? "video" : "email"; }
static int job_prio(long i) { return prios[i % 5]; }

static kue_job_t *make_job(long i)
{
    char data[48];
    snprintf(data, sizeof data, "{ \"i\": %ld }", i);
    kue_job_t *j = kue_job_new(job_type(i), data);
    kue_job_set_priority(j, job_prio(i));
    return j;
}

/* Chains of saves: each callback starts the next save, as long as jobs
 * are left, stop is not set and the save is accepted. */
struct run {
    kue_async_t *a;
    long n;                  /* indexes 0..n-1 */
    long next;               /* next index to send */
    long done, ok, failed, unknown, refused;
    int stop;
    long free_at;            /* call kue_async_free() in the callback of this many-th ok */
    long target;             /* for count_reached() */
    int64_t *ids;            /* per index; 0 until saved */
    int *calls;              /* callbacks per index */
    size_t max_pending;
    char last_refusal[512];
};

struct ctx { struct run *run; long i; kue_job_t *job; };

static void saved(kue_async_t *a, int64_t id, const char *err, void *privdata);

/* Send the next save; 0 sent, -1 nothing left or refused. */
static int send_next(struct run *r)
{
    if (r->stop || r->next >= r->n) return -1;
    struct ctx *c = malloc(sizeof *c);
    cr_assert_not_null(c);
    c->run = r;
    c->i = r->next;
    c->job = make_job(c->i);
    if (kue_async_save(r->a, c->job, saved, c) != 0) {
        r->refused++;
        snprintf(r->last_refusal, sizeof r->last_refusal, "%s", kue_async_errstr(r->a));
        kue_job_free(c->job);
        free(c);
        return -1;
    }
    r->next++;
    size_t p = kue_async_pending(r->a);
    if (p > r->max_pending) r->max_pending = p;
    return 0;
}

static void saved(kue_async_t *a, int64_t id, const char *err, void *privdata)
{
    struct ctx *c = privdata;
    struct run *r = c->run;
    cr_assert_eq(a, r->a);
    r->calls[c->i]++;
    r->done++;
    if (id > 0) {
        cr_assert_null(err);
        cr_assert_eq(kue_job_id(c->job), id, "the job's id is not set before the callback");
        r->ids[c->i] = id;
        r->ok++;
    } else {
        cr_assert_eq(id, 0);
        cr_assert_not_null(err);
        cr_assert_eq(kue_job_id(c->job), 0);
        r->failed++;
        if (!strncmp(err, KUE_ASYNC_ERR_UNKNOWN, strlen(KUE_ASYNC_ERR_UNKNOWN))) r->unknown++;
    }
    kue_job_free(c->job);                  /* the callback may free its job */
    free(c);
    if (id > 0 && r->free_at && r->ok == r->free_at) {
        r->stop = 1;
        kue_async_free(a);                 /* from inside a callback */
        A = NULL;
        return;
    }
    send_next(r);                          /* the chain goes on */
}

static struct run *run_new(kue_async_t *a, long n)
{
    struct run *r = calloc(1, sizeof *r);
    cr_assert_not_null(r);
    r->a = a;
    r->n = n;
    r->ids = calloc((size_t)n, sizeof *r->ids);
    r->calls = calloc((size_t)n, sizeof *r->calls);
    cr_assert(r->ids && r->calls);
    return r;
}

static void run_free(struct run *r)
{
    free(r->ids);
    free(r->calls);
    free(r);
}

static void start_chains(struct run *r, int chains)
{
    for (int c = 0; c < chains; c++) cr_assert_eq(send_next(r), 0, "refused: %s", r->last_refusal);
}

static int all_done(void *arg)
{
    struct run *r = arg;
    return r->done == r->next && (r->next == r->n || r->stop || r->refused);
}

static int64_t zid_id(const char *zid) { return kue_zid_id(zid); }

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

/* ---- many saves in flight ---------------------------------------------------- */

#define MANY 10000
#define CHAINS 50

Test(async, ten_thousand_saves_fifty_in_flight)
{
    A = connect_async();
    struct run *r = run_new(A, MANY);
    start_chains(r, CHAINS);
    cr_assert(run_until(all_done, r, 60000), "only %ld of %d saves answered", r->done, MANY);
    cr_assert_eq(r->ok, MANY, "%ld failed, %ld refused (%s)", r->failed, r->refused, r->last_refusal);
    cr_assert_eq(r->max_pending, CHAINS, "at most %zu saves were in flight together", r->max_pending);
    cr_assert_eq(kue_async_pending(A), 0);
    for (long i = 0; i < MANY; i++) cr_assert_eq(r->calls[i], 1, "save %ld answered %d times", i, r->calls[i]);
    /* saves made in one loop iteration share an enqueue call: the 50
     * chains' next saves all start in the same reply callback round */
    long long evals = kt_cmd_calls(C, "fcall") + kt_cmd_calls(C, "evalsha");
    cr_assert(evals > 0 && evals <= MANY / 10, "%lld enqueue calls for %d saves", evals, MANY);

    /* Ids: distinct, exactly 1..MANY on a fresh server. */
    int64_t *sorted = malloc(MANY * sizeof *sorted);
    memcpy(sorted, r->ids, MANY * sizeof *sorted);
    qsort(sorted, MANY, sizeof *sorted, cmp_i64);
    for (long k = 0; k < MANY; k++) cr_assert_eq(sorted[k], k + 1, "ids are not 1..%d", MANY);
    free(sorted);
    long *index_of = calloc(MANY + 1, sizeof *index_of);
    for (long i = 0; i < MANY; i++) index_of[r->ids[i]] = i;

    long nvideo = 0;
    for (long i = 0; i < MANY; i++) nvideo += !strcmp(job_type(i), "video");
    long nemail = MANY - nvideo;
    cr_assert_eq(kt_int(C, "GET q:ids"), MANY);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs"), MANY);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:inactive"), MANY);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:email:inactive"), nemail);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:video:inactive"), nvideo);
    cr_assert_eq(kt_int(C, "LLEN q:email:jobs"), nemail, "one wake-up token per job");
    cr_assert_eq(kt_int(C, "LLEN q:video:jobs"), nvideo);
    cr_assert_eq(kt_int(C, "SCARD q:job:types"), 2);

    /* Every hash: state, type, priority, data as given (compacted). */
    for (long i = 0; i < MANY; i++)
        redisAppendCommand(C, "HMGET q:job:%lld state type priority data", (long long)r->ids[i]);
    for (long i = 0; i < MANY; i++) {
        redisReply *h = NULL;
        cr_assert_eq(redisGetReply(C, (void **)&h), REDIS_OK);
        cr_assert_eq(h->type, REDIS_REPLY_ARRAY);
        char prio[16], data[48];
        snprintf(prio, sizeof prio, "%d", job_prio(i));
        snprintf(data, sizeof data, "{\"i\":%ld}", i);
        for (int f = 0; f < 4; f++)
            cr_assert_eq(h->element[f]->type, REDIS_REPLY_STRING, "job %lld lacks a field", (long long)r->ids[i]);
        cr_assert_str_eq(h->element[0]->str, "inactive");
        cr_assert_str_eq(h->element[1]->str, job_type(i));
        cr_assert_str_eq(h->element[2]->str, prio);
        cr_assert_str_eq(h->element[3]->str, data);
        freeReplyObject(h);
    }

    /* The per-type sets: scored by priority, then FIFO by id. */
    const char *types[2] = { "email", "video" };
    for (int t = 0; t < 2; t++) {
        redisReply *z = kt_cmd(C, "ZRANGE q:jobs:%s:inactive 0 -1 WITHSCORES", types[t]);
        cr_assert_eq(z->elements, 2 * (size_t)(t ? nvideo : nemail));
        double last_score = -1e18;
        int64_t last_id = 0;
        for (size_t m = 0; m < z->elements; m += 2) {
            int64_t id = zid_id(z->element[m]->str);
            cr_assert(id >= 1 && id <= MANY);
            long i = index_of[id];
            double score = strtod(z->element[m + 1]->str, NULL);
            cr_assert_str_eq(job_type(i), types[t]);
            cr_assert_eq(score, job_prio(i), "job %lld scored %g", (long long)id, score);
            cr_assert(score > last_score || (score == last_score && id > last_id),
                      "%s: job %lld (%g) after job %lld (%g)", types[t], (long long)id, score,
                      (long long)last_id, last_score);
            last_score = score;
            last_id = id;
        }
        freeReplyObject(z);
    }
    free(index_of);
    run_free(r);
    ASSERT_NO_LEAK();
}

/* ---- the same writes as kue_job_save ------------------------------------------ */

static int one_done(void *arg) { return *(int *)arg != 0; }

static void saved_flag(kue_async_t *a, int64_t id, const char *err, void *privdata)
{
    cr_assert_gt(id, 0, "async save: %s", err ? err : "?");
    *(int *)privdata = 1;
}

static int64_t save_async_wait(kue_job_t *j)
{
    int done = 0;
    cr_assert_eq(kue_async_save(A, j, saved_flag, &done), 0, "%s", kue_async_errstr(A));
    cr_assert_eq(done, 0, "callback called from inside kue_async_save");
    cr_assert(run_until(one_done, &done, 5000));
    return kue_job_id(j);
}

static const char *field_of(const redisReply *h, const char *name)
{
    for (size_t i = 0; i + 1 < h->elements; i += 2)
        if (!strcmp(h->element[i]->str, name)) return h->element[i + 1]->str;
    return NULL;
}

static long long num_field(const redisReply *h, const char *name)
{
    const char *v = field_of(h, name);
    cr_assert_not_null(v, "no %s", name);
    return strtoll(v, NULL, 10);
}

static int is_time_field(const char *f)
{
    return !strcmp(f, "created_at") || !strcmp(f, "updated_at") || !strcmp(f, "promote_at");
}

/* The hash, index entries and search entries of job b are those of job a,
 * but for the id and the timestamps (promote_at compared as a delay). */
static void same_writes(int64_t a, int64_t b, const char *type)
{
    redisReply *ha = kt_cmd(C, "HGETALL q:job:%lld", (long long)a);
    redisReply *hb = kt_cmd(C, "HGETALL q:job:%lld", (long long)b);
    cr_assert_gt(ha->elements, 0);
    cr_assert_eq(ha->elements, hb->elements, "jobs %lld and %lld have different field counts",
                 (long long)a, (long long)b);
    for (size_t i = 0; i + 1 < ha->elements; i += 2) {
        const char *f = ha->element[i]->str;
        const char *vb = field_of(hb, f);
        cr_assert_not_null(vb, "job %lld lacks %s", (long long)b, f);
        if (!is_time_field(f))
            cr_assert_str_eq(vb, ha->element[i + 1]->str, "field %s differs", f);
    }
    cr_assert_eq(num_field(ha, "promote_at") - num_field(ha, "created_at"),
                 num_field(hb, "promote_at") - num_field(hb, "created_at"), "delays differ");
    const char *state = field_of(ha, "state");
    cr_assert_not_null(state);

    char za[24], zb[24];
    kue_zid(a, za, sizeof za);
    kue_zid(b, zb, sizeof zb);
    char keys[3][160];
    snprintf(keys[0], sizeof keys[0], "q:jobs");
    snprintf(keys[1], sizeof keys[1], "q:jobs:%s", state);
    snprintf(keys[2], sizeof keys[2], "q:jobs:%s:%s", type, state);
    for (int k = 0; k < 3; k++) {
        redisReply *sa = kt_cmd(C, "ZSCORE %s %s", keys[k], za);
        redisReply *sb = kt_cmd(C, "ZSCORE %s %s", keys[k], zb);
        cr_assert_eq(sa->type, REDIS_REPLY_STRING, "job %lld not in %s", (long long)a, keys[k]);
        cr_assert_eq(sb->type, REDIS_REPLY_STRING, "job %lld not in %s", (long long)b, keys[k]);
        if (!strcmp(keys[k], "q:jobs:delayed"))   /* scored by due time */
            cr_assert_eq(strtoll(sa->str, NULL, 10) - num_field(ha, "created_at"),
                         strtoll(sb->str, NULL, 10) - num_field(hb, "created_at"));
        else
            cr_assert_str_eq(sa->str, sb->str, "scores differ in %s", keys[k]);
        freeReplyObject(sa);
        freeReplyObject(sb);
    }

    redisReply *oa = kt_cmd(C, "ZRANGE q:search:object:%lld 0 -1 WITHSCORES", (long long)a);
    redisReply *ob = kt_cmd(C, "ZRANGE q:search:object:%lld 0 -1 WITHSCORES", (long long)b);
    cr_assert_eq(oa->elements, ob->elements, "search entries differ");
    for (size_t i = 0; i < oa->elements; i++)
        cr_assert_str_eq(oa->element[i]->str, ob->element[i]->str);
    for (size_t i = 0; i < oa->elements; i += 2) {
        redisReply *wa = kt_cmd(C, "ZSCORE q:search:word:%s %lld", oa->element[i]->str, (long long)a);
        redisReply *wb = kt_cmd(C, "ZSCORE q:search:word:%s %lld", oa->element[i]->str, (long long)b);
        cr_assert_eq(wa->type, REDIS_REPLY_STRING);
        cr_assert_eq(wb->type, REDIS_REPLY_STRING, "word %s lacks job %lld", oa->element[i]->str,
                     (long long)b);
        cr_assert_str_eq(wa->str, wb->str);
        freeReplyObject(wa);
        freeReplyObject(wb);
    }
    freeReplyObject(oa);
    freeReplyObject(ob);
    freeReplyObject(ha);
    freeReplyObject(hb);
}

typedef void job_setup_fn(kue_job_t *j);

static void opts_full(kue_job_t *j)
{
    kue_job_set_priority_name(j, "high");
    kue_job_set_attempts(j, 3);
    kue_job_set_backoff(j, "{ \"type\": \"exponential\", \"delay\": 200 }");
    kue_job_set_ttl(j, 5000);
    kue_job_set_remove_on_complete(j, 1);
}

static void opts_delayed_keys(kue_job_t *j)
{
    kue_job_set_delay(j, 60000);
    const char *keys[] = { "title", "meta.tag" };
    kue_job_set_search_keys(j, keys, 2);
}

static void opts_past_run_at(kue_job_t *j)
{
    kue_job_set_run_at(j, 1000);
    kue_job_set_priority(j, 7);
}

Test(async, same_writes_as_blocking_save)
{
    A = connect_async();
    kue_set_search(K, 1);
    kue_async_set_search(A, 1);
    struct { const char *type, *data; job_setup_fn *opts; } v[] = {
        { "video", "{\"title\":\"convert avi video\",\"user\":\"tj\"}", opts_full },
        { "upload", "{\"title\":\"upload mp4 files\",\"meta\":{\"tag\":\"holiday\"},\"secret\":\"xyz\"}",
          opts_delayed_keys },
        { "email", "[1, 2, \"three\"]", opts_past_run_at },
    };
    redisContext *sub = kt_redis_connect(&R);
    struct timeval tv = { 2, 0 };
    redisSetTimeout(sub, tv);
    freeReplyObject(kt_cmd(sub, "SUBSCRIBE q:events"));
    char want[8][160];
    int nwant = 0;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        kue_job_t *jb = kue_job_new(v[i].type, v[i].data);
        kue_job_t *ja = kue_job_new(v[i].type, v[i].data);
        v[i].opts(jb);
        v[i].opts(ja);
        int64_t idb = kue_job_save(K, jb);
        cr_assert_gt(idb, 0, "%s", kue_errstr(K));
        int64_t ida = save_async_wait(ja);
        cr_assert_eq(ida, idb + 1);
        cr_assert_eq(kue_job_state(ja) == NULL, kue_job_state(jb) == NULL);
        same_writes(idb, ida, v[i].type);
        /* the same "enqueue" event (none for a delayed job), but for the id */
        char b[32];
        if (strcmp(kt_str(C, b, sizeof b, "HGET q:job:%lld state", (long long)idb), "delayed"))
            for (int e = 0; e < 2; e++)
                snprintf(want[nwant++], sizeof want[0],
                         "{\"id\":%lld,\"event\":\"enqueue\",\"args\":[\"enqueue\",\"%s\"]}",
                         (long long)(e ? ida : idb), v[i].type);
        kue_job_free(ja);
        kue_job_free(jb);
    }
    cr_assert_eq(nwant, 4);
    for (int e = 0; e < nwant; e++) {
        redisReply *m = NULL;
        cr_assert_eq(redisGetReply(sub, (void **)&m), REDIS_OK, "event %d missing", e);
        cr_assert_str_eq(m->element[2]->str, want[e]);
        freeReplyObject(m);
    }
    redisFree(sub);
    cr_assert_gt(kt_int(C, "ZCARD q:search:object:2"), 0, "job not indexed");
    cr_assert_gt(kt_int(C, "ZCARD q:search:object:4"), 0, "searchKeys job not indexed");
}

/* ---- refusals ---------------------------------------------------------------- */

static int callbacks;
static void count_cb(kue_async_t *a, int64_t id, const char *err, void *privdata) { callbacks++; }

/* Both APIs refuse job j with the same message. */
static void refused_alike(kue_job_t *j, const char *expect)
{
    cr_assert_eq(kue_job_save(K, j), -1);
    char blocking[512];
    snprintf(blocking, sizeof blocking, "%s", kue_errstr(K));
    cr_assert(strstr(blocking, expect), "blocking: %s", blocking);
    cr_assert_eq(kue_async_save(A, j, count_cb, NULL), -1);
    cr_assert_str_eq(kue_async_errstr(A), blocking);
    /* and the same class */
    cr_assert_eq(kue_errcode(K), KUE_ERR_INVALID, "%s", blocking);
    cr_assert_eq(kue_async_errcode(A), KUE_ERR_INVALID, "%s", blocking);
}

Test(async, bad_input_refused_like_blocking_api)
{
    A = connect_async();
    kue_job_t *saved_job = kue_job_new("t", "{}");
    cr_assert_gt(kue_job_save(K, saved_job), 0);
    long long keys = kt_int(C, "DBSIZE");
    callbacks = 0;

    kue_job_t *j = kue_job_new("t", "{not json");
    refused_alike(j, "not valid JSON");
    kue_job_free(j);
    j = kue_job_new("t", "{\"a\":1} trailing");
    refused_alike(j, "not valid JSON");
    kue_job_free(j);
    j = kue_job_new("", "{}");
    refused_alike(j, "type is empty");
    kue_job_free(j);
    char longtype[KUE_MAX_TYPE_LEN + 2];
    memset(longtype, 'x', sizeof longtype - 1);
    longtype[sizeof longtype - 1] = '\0';
    j = kue_job_new(longtype, "{}");
    refused_alike(j, "longer than");
    kue_job_free(j);
    j = kue_job_new("a\tb", "{}");
    refused_alike(j, "control character");
    kue_job_free(j);
    size_t big = KUE_MAX_DATA_LEN + 8;
    char *data = malloc(big + 1);
    memset(data, ' ', big);
    memcpy(data, "\"x\"", 3);
    data[big] = '\0';
    j = kue_job_new("t", data);
    free(data);
    refused_alike(j, "more than the limit");
    kue_job_free(j);
    refused_alike(saved_job, "is already saved");
    kue_job_free(saved_job);

    /* Options are checked when set, the same for both APIs. */
    j = kue_job_new("t", "{}");
    cr_assert_eq(kue_job_set_priority_name(j, "urgent"), -1);
    cr_assert_eq(kue_job_set_attempts(j, 0), -1);
    cr_assert_eq(kue_job_set_backoff(j, "{\"type\":\"linear\"}"), -1);
    cr_assert_eq(kue_job_set_backoff(j, "[1]"), -1);
    const char *many[65];
    for (int i = 0; i < 65; i++) many[i] = "k";
    cr_assert_eq(kue_job_set_search_keys(j, many, 65), -1);
    /* no callback */
    cr_assert_eq(kue_async_save(A, j, NULL, NULL), -1);
    cr_assert(strstr(kue_async_errstr(A), "callback"), "%s", kue_async_errstr(A));
    kue_job_free(j);

    cr_assert_eq(kue_async_pending(A), 0);
    run_for(100);
    cr_assert_eq(callbacks, 0, "a refused save was called back");
    cr_assert_eq(kt_int(C, "DBSIZE"), keys, "a refused save wrote keys");
    cr_assert_eq(kt_int(C, "GET q:ids"), 1);
}

Test(async, job_in_flight_not_saved_twice)
{
    A = connect_async();
    kue_job_t *j = kue_job_new("t", "{}");
    callbacks = 0;
    cr_assert_eq(kue_async_save(A, j, count_cb, NULL), 0);
    cr_assert_eq(kue_async_save(A, j, count_cb, NULL), -1);
    cr_assert_str_eq(kue_async_errstr(A), "job is already being saved");
    cr_assert_eq(kue_async_pending(A), 1);
    run_for(200);
    cr_assert_eq(callbacks, 1);
    cr_assert_eq(kue_job_id(j), 1);
    cr_assert_eq(kue_async_save(A, j, count_cb, NULL), -1);
    cr_assert_str_eq(kue_async_errstr(A), "job 1 is already saved");
    kue_job_free(j);
    cr_assert_eq(kt_int(C, "GET q:ids"), 1);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs"), 1);
}

Test(async, scripts_flushed_meanwhile)
{
    A = connect_async();
    run_for(50);                         /* the library is loaded on connect */
    freeReplyObject(kt_cmd(C, "SCRIPT FLUSH"));
    freeReplyObject(kt_cmd(C, "FUNCTION FLUSH"));
    struct run *r = run_new(A, 500);
    start_chains(r, CHAINS);             /* FCALLs that miss the library are re-sent as EVAL */
    cr_assert(run_until(all_done, r, 30000));
    cr_assert_eq(r->ok, 500, "%ld failed", r->failed);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:inactive"), 500);
    run_free(r);
}

/* ---- Redis stopped mid-run ------------------------------------------------------ */

struct states { int seen[8]; int n; size_t pending_at_loss; };

static void on_state(kue_async_t *a, int connected, void *privdata)
{
    struct states *s = privdata;
    if (s->n < 8) s->seen[s->n] = connected;
    s->n++;
    if (!connected) s->pending_at_loss = kue_async_pending(a);
}

static int lost_and_answered(void *arg)
{
    struct run *r = arg;
    return !kue_async_connected(r->a) && r->done == r->next;
}

static int count_reached(void *arg)
{
    struct run *r = arg;
    return r->ok >= r->target;
}

Test(async, redis_stopped_mid_run)
{
    teardown();
    setup_flags(KT_AOF);                 /* jobs that got an id survive the restart */
    A = connect_async();
    struct states st = { { 0 }, 0, 0 };
    kue_async_set_state_fn(A, on_state, &st);
    long total = 200000;
    struct run *r = run_new(A, total);
    r->target = 2000;
    start_chains(r, CHAINS);
    cr_assert(run_until(count_reached, r, 30000), "only %ld saves before the stop", r->ok);
    cr_assert_eq(kue_async_pending(A), CHAINS);

    kt_redis_stop_keep(&R, 1);
    cr_assert(run_until(lost_and_answered, r, 10000),
              "after the stop: %ld of %ld saves answered, connected %d", r->done, r->next,
              kue_async_connected(A));
    cr_assert_eq(st.n, 1);
    cr_assert_eq(st.seen[0], 0);
    cr_assert_eq(st.pending_at_loss, 0, "the loss was reported before every save was answered");
    /* Each chain ends with one lost save, whose callback's next save is
     * refused (the connection is closing). */
    cr_assert_eq(r->failed, CHAINS);
    cr_assert_eq(r->refused, CHAINS);
    cr_assert_eq(r->unknown, r->failed, "a lost save's error does not say its outcome is unknown");
    cr_assert_eq(r->ok + r->failed, r->next);

    /* Disconnected: refused at once. */
    kue_job_t *j = kue_job_new("t", "{}");
    cr_assert_eq(kue_async_save(A, j, count_cb, NULL), -1);
    cr_assert(strstr(kue_async_errstr(A), "not connected"), "%s", kue_async_errstr(A));
    cr_assert_eq(kue_async_pending(A), 0);

    kt_redis_restart(&R, KT_AOF);
    redisFree(C);
    C = kt_redis_connect(&R);
    cr_assert(run_until(is_connected, A, 15000), "no reconnect after the restart");
    cr_assert_eq(st.n, 2);
    cr_assert_eq(st.seen[1], 1);

    /* Saves work again: another 1000 through fresh chains. */
    long ok_mid = r->ok;
    r->n = r->next + 1000;
    r->refused = 0;
    start_chains(r, CHAINS);
    cr_assert(run_until(all_done, r, 30000));
    cr_assert_eq(r->ok - ok_mid, 1000, "%ld refused: %s", r->refused, r->last_refusal);

    for (long i = 0; i < r->next; i++) cr_assert_eq(r->calls[i], 1, "save %ld answered %d times", i, r->calls[i]);
    /* Every job that got an id is in Redis; every id handed out is a whole
     * job (the script is atomic), so the unknown ones are either whole or
     * absent. */
    long with_id = 0;
    for (long i = 0; i < r->next; i++) {
        if (!r->ids[i]) continue;
        with_id++;
        char b[32];
        cr_assert_not_null(kt_str(C, b, sizeof b, "HGET q:job:%lld state", (long long)r->ids[i]),
                           "job %lld (save %ld) missing after the restart", (long long)r->ids[i], i);
        cr_assert_str_eq(b, "inactive");
    }
    cr_assert_eq(with_id, r->ok);
    long long jobs = kt_int(C, "ZCARD q:jobs");
    cr_assert_eq(kt_int(C, "GET q:ids"), jobs, "an id without its job");
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:inactive"), jobs);
    cr_assert_geq(jobs, r->ok);
    cr_assert_leq(jobs, r->ok + r->unknown);
    kue_job_free(j);
    run_free(r);
    ASSERT_NO_LEAK();
}

/* ---- kue_async_free with saves in flight ------------------------------------------ */

struct freeing { int calls, unknown, refused_inside; kue_job_t *jobs[600]; };

static void freed_cb(kue_async_t *a, int64_t id, const char *err, void *privdata)
{
    struct freeing *f = privdata;
    f->calls++;
    cr_assert_eq(id, 0);
    cr_assert_not_null(err);
    if (!strncmp(err, KUE_ASYNC_ERR_UNKNOWN, strlen(KUE_ASYNC_ERR_UNKNOWN)) && strstr(err, "kue_async_free"))
        f->unknown++;
    kue_job_t *j = kue_job_new("t", "{}");
    if (kue_async_save(a, j, freed_cb, f) == -1 && strstr(kue_async_errstr(a), "kue_async_free"))
        f->refused_inside++;
    kue_job_free(j);
}

Test(async, free_with_saves_in_flight)
{
    A = connect_async();
    struct freeing f = { 0 };
    for (int i = 0; i < 600; i++) {
        f.jobs[i] = kue_job_new("t", "{}");
        cr_assert_eq(kue_async_save(A, f.jobs[i], freed_cb, &f), 0);
    }
    ev_run(L, EVRUN_NOWAIT);           /* some written, most not answered yet */
    int before = f.calls;
    cr_assert_eq(before, 0);
    kue_async_free(A);
    A = NULL;
    cr_assert_eq(f.calls, 600);
    cr_assert_eq(f.unknown, 600);
    cr_assert_eq(f.refused_inside, 600);
    for (int i = 0; i < 600; i++) kue_job_free(f.jobs[i]);
    run_for(100);
    cr_assert_eq(f.calls, 600, "called again after kue_async_free");
    cr_assert(loop_is_empty(), "kue_async_free left watchers on the loop");
    ASSERT_NO_LEAK();
}

Test(async, free_inside_a_callback)
{
    A = connect_async();
    struct run *r = run_new(A, 100000);
    r->free_at = 500;                  /* the 500th reply frees, 49 still in flight */
    start_chains(r, CHAINS);
    cr_assert(run_until(all_done, r, 30000));
    cr_assert_null(A);
    cr_assert_eq(r->ok, 500);
    cr_assert_eq(r->failed, CHAINS - 1, "saves in flight at the free: %ld answered", r->failed);
    cr_assert_eq(r->unknown, r->failed);
    for (long i = 0; i < r->next; i++) cr_assert_eq(r->calls[i], 1, "save %ld answered %d times", i, r->calls[i]);
    run_for(100);
    cr_assert_eq(r->done, r->next);
    cr_assert(loop_is_empty(), "kue_async_free left watchers on the loop");
    run_free(r);
    ASSERT_NO_LEAK();
}

/* ---- bounds ------------------------------------------------------------------- */

static void bound_cb(kue_async_t *a, int64_t id, const char *err, void *privdata)
{
    long *ok = privdata;
    cr_assert_gt(id, 0, "%s", err ? err : "?");
    (*ok)++;
}

static int reached(void *arg) { return ((long *)arg)[0] >= ((long *)arg)[1]; }

Test(async, in_flight_count_bounded)
{
    A = connect_async();
    const long n = KUE_ASYNC_MAX_PENDING;
    kue_job_t **jobs = calloc((size_t)n + 1, sizeof *jobs);
    long state[2] = { 0, n };          /* ok, target */
    for (long i = 0; i <= n; i++) jobs[i] = kue_job_new("t", "{}");
    for (long i = 0; i < n; i++)
        cr_assert_eq(kue_async_save(A, jobs[i], bound_cb, state), 0, "save %ld: %s", i, kue_async_errstr(A));
    cr_assert_eq(kue_async_pending(A), (size_t)n);
    cr_assert_eq(kue_async_save(A, jobs[n], bound_cb, state), -1, "save over the bound accepted");
    cr_assert(strstr(kue_async_errstr(A), "KUE_ASYNC_MAX_PENDING"), "%s", kue_async_errstr(A));
    cr_assert(run_until(reached, state, 60000), "%ld of %ld answered", state[0], n);
    state[1] = n + 1;
    cr_assert_eq(kue_async_save(A, jobs[n], bound_cb, state), 0, "%s", kue_async_errstr(A));
    cr_assert(run_until(reached, state, 10000));
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:t:inactive"), n + 1);
    for (long i = 0; i <= n; i++) kue_job_free(jobs[i]);
    free(jobs);
}

Test(async, in_flight_bytes_bounded)
{
    A = connect_async();
    enum { DATA = 4000000, MAXJ = 20 };
    char *data = malloc(DATA + 1);
    memset(data, 'x', DATA);
    data[0] = '"';
    data[DATA - 1] = '"';
    data[DATA] = '\0';
    kue_job_t *jobs[MAXJ];
    long state[2] = { 0, 0 };
    long accepted = 0;
    for (int i = 0; i < MAXJ; i++) {
        jobs[i] = kue_job_new("big", data);
        if (kue_async_save(A, jobs[i], bound_cb, state) != 0) break;
        accepted++;
    }
    free(data);
    cr_assert_eq(accepted, (long)(KUE_ASYNC_MAX_PENDING_BYTES / DATA), "accepted %ld", accepted);
    cr_assert(strstr(kue_async_errstr(A), "KUE_ASYNC_MAX_PENDING_BYTES"), "%s", kue_async_errstr(A));
    state[1] = accepted;
    cr_assert(run_until(reached, state, 60000), "%ld of %ld answered", state[0], accepted);
    cr_assert_eq(kue_async_pending(A), 0);
    /* room again */
    state[1] = accepted + 1;
    cr_assert_eq(kue_async_save(A, jobs[accepted], bound_cb, state), 0, "%s", kue_async_errstr(A));
    cr_assert(run_until(reached, state, 10000));
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:big:inactive"), accepted + 1);
    for (long i = 0; i <= accepted && i < MAXJ; i++) kue_job_free(jobs[i]);
}

/* ---- connecting ------------------------------------------------------------------ */

Test(async, connect_errors_like_blocking_api)
{
    char err[256];
    cr_assert_null(kue_async_connect(L, "redis://127.0.0.1:1/0", NULL, err, sizeof err));
    cr_assert(strstr(err, "cannot connect to Redis at redis://127.0.0.1:1/0"), "%s", err);
    cr_assert_null(kue_async_connect(L, "http://x", NULL, err, sizeof err));
    cr_assert_null(kue_async_connect(L, R.url, "bad prefix", err, sizeof err));
    cr_assert(strstr(err, "invalid prefix"), "%s", err);
    cr_assert_null(kue_async_connect(NULL, R.url, NULL, err, sizeof err));
    freeReplyObject(kt_cmd(C, "CONFIG SET requirepass sekret"));
    char url[512];
    snprintf(url, sizeof url, "%s?password=wrong", R.url);
    cr_assert_null(kue_async_connect(L, url, NULL, err, sizeof err));
    cr_assert(strstr(err, "refused the password"), "%s", err);
    /* password and db honoured by the async connection */
    snprintf(url, sizeof url, "%s?password=sekret&db=3", R.url);
    A = kue_async_connect(L, url, "other", err, sizeof err);
    cr_assert_not_null(A, "%s", err);
    cr_assert_eq(kue_async_connected(A), 0, "connected before the loop ran");
    cr_assert(run_until(is_connected, A, 5000));
    kue_job_t *j = kue_job_new("t", "{}");
    cr_assert_eq(save_async_wait(j), 1);
    kue_job_free(j);
    freeReplyObject(kt_cmd(C, "AUTH sekret"));
    freeReplyObject(kt_cmd(C, "SELECT 3"));
    cr_assert_eq(kt_int(C, "EXISTS other:job:1"), 1);
}
