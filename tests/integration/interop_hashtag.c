/*
 * Interoperability in the hashtag key style ([redis] key_style = hashtag,
 * docs/wire.md "Key styles"): a real Node Kue 0.11.6 on an ioredis client
 * (whose keys are {q}:..., Kue's getKey) and a kue supervisor share one
 * Redis.  Node creates jobs the supervisor's echo workers process; libkue
 * creates jobs the Node process handles.  Each side sees the other's jobs:
 * Node gets the completions of its jobs through Kue's events and reads them
 * back with Job.get; libkue reads Node's completions.  Every key written is
 * {q}:... (only Kue's unprefixed locks besides).  The same runs on a 3 + 3
 * Redis Cluster, Kue on an ioredis Cluster client and the supervisor on a
 * redis-cluster:// URL.  A last test shows the plain style cannot see those
 * jobs (the two styles are disjoint).
 * Skips, saying so, when node, Kue or ioredis is missing.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <kue/kue.h>
#include "cluster.h"
#include "harness.h"
#include "topology.h"

#define NCREATE 60      /* jobs Node creates, the supervisor runs */
#define NPROCESS 40     /* jobs libkue creates, Node runs */

static kt_redis_t R;
static kt_cluster_t CL;
static kue_t *K;
static redisContext *C;

static void teardown(void)
{
    if (K) kue_free(K);
    K = NULL;
    if (C) redisFree(C);
    C = NULL;
    kt_cleanup();
}

TestSuite(interop_hashtag, .fini = teardown, .timeout = 90);

static int have_ioredis(void)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/tests/node/node_modules/ioredis/package.json", kt_srcdir());
    return access(p, R_OK) == 0;
}

static pid_t start_supervisor(const char *url)
{
    char dir[600], ini[700], log[700], cmd[2048];
    snprintf(dir, sizeof dir, "%s/sup-hashtag", kt_tmpdir());
    mkdir(dir, 0755);
    snprintf(cmd, sizeof cmd, "mkdir -p %s/plugins && cp %s/plugins/echo.so %s/plugins/", dir, kt_build(),
             dir);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    snprintf(ini, sizeof ini, "%s/workers.ini", dir);
    snprintf(log, sizeof log, "%s/supervisor.log", dir);
    char text[2048];
    snprintf(text, sizeof text,
             "[supervisor]\nplugins = plugins\nrun_dir = run\nshutdown_timeout = 5s\n"
             "[redis]\nurl = %s\nprefix = q\nkey_style = hashtag\n"
             "[promotion]\ninterval = 200ms\n"
             "[type echo]\nprocesses = 1\nconcurrency = 4\n",
             url);
    kt_write_file(ini, text);
    char bin[600];
    kt_bin("kue-supervisor", bin, sizeof bin);
    char *argv[] = { bin, "-c", ini, NULL };
    return kt_spawn(argv, log);
}

/* Every key in c is {q}:..., but Kue's unprefixed locks; returns how many. */
static size_t keys_in_style(redisContext *c)
{
    redisReply *r = kt_cmd(c, "KEYS *");
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    size_t n = r->elements;
    for (size_t i = 0; i < r->elements; i++) {
        const char *k = r->element[i]->str;
        cr_assert(!strncmp(k, "{q}:", 4) || !strcmp(k, "promotion:lock") ||
                      !strcmp(k, "activeJobsTTL:lock"),
                  "key %s is not in the hashtag style", k);
    }
    freeReplyObject(r);
    return n;
}

/* libkue (K, already connected) and the supervisor on url, Node Kue on
 * node_where (a port, or cluster:PORTS); C holds the queue's keys. */
static void share_a_queue(const char *url, const char *node_where)
{
    cr_assert_eq(kue_set_key_style(K, "hashtag"), 0, "%s", kue_errstr(K));
    cr_assert_eq(kue_set_key_style(K, "braces"), -1);
    cr_assert_eq(kue_errcode(K), KUE_ERR_INVALID);

    /* libkue's jobs for Node */
    int64_t ours[NPROCESS];
    for (int i = 0; i < NPROCESS; i++) {
        char data[64];
        snprintf(data, sizeof data, "{\"n\":%d,\"from\":\"libkue\"}", i);
        kue_job_t *j = kue_job_new("node", data);
        ours[i] = kue_job_save(K, j);
        cr_assert_gt(ours[i], 0, "save: %s", kue_errstr(K));
        kue_job_free(j);
    }
    cr_assert_eq(kt_int(C, "ZCARD {q}:jobs:node:inactive"), NPROCESS);
    if (strncmp(url, "redis-cluster://", 16))     /* (another slot on a cluster) */
        cr_assert_eq(kt_int(C, "EXISTS q:jobs:node:inactive"), 0);

    pid_t sup = start_supervisor(url);
    char nc[16], np[16];
    snprintf(nc, sizeof nc, "%d", NCREATE);
    snprintf(np, sizeof np, "%d", NPROCESS);
    char *args[] = { (char *)node_where, nc, np, NULL };
    char *txt = NULL;
    int rc = kt_node_run("interop-hashtag.js", args, &txt, 40000);
    cr_assert_eq(rc, 0, "node script failed (%d): %s", rc, txt ? txt : "");
    json_error_t je;
    json_t *out = json_loads(txt, 0, &je);
    cr_assert_not_null(out, "node output is not JSON (%s): %s", je.text, txt);
    free(txt);

    /* Kue reported no error (on a cluster: no command it sends is refused) */
    json_t *errs = json_object_get(out, "errors");
    char *etxt = json_dumps(errs, 0);
    cr_assert_eq(json_array_size(errs), 0, "Kue's errors: %s", etxt ? etxt : "");
    free(etxt);
    /* Node saw every job it created completed by the supervisor's echo workers,
     * with the result echo writes (its data) */
    long long npid = json_integer_value(json_object_get(out, "pid"));
    json_t *created = json_object_get(out, "created"), *jobs = json_object_get(out, "jobs");
    cr_assert_eq(json_array_size(created), NCREATE);
    char mine[64];
    snprintf(mine, sizeof mine, ":%lld:", npid);
    for (size_t i = 0; i < json_array_size(created); i++) {
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)json_integer_value(json_array_get(created, i)));
        json_t *j = json_object_get(jobs, id);
        cr_assert_str_eq(json_string_value(json_object_get(j, "state")), "complete", "node job %s", id);
        cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "result"), "n")),
                     json_integer_value(json_object_get(json_object_get(j, "data"), "n")), "job %s", id);
        const char *wid = json_string_value(json_object_get(j, "workerId"));
        cr_assert(wid && !strncmp(wid, "kue:", 4) && !strstr(wid, mine), "job %s ran by %s", id,
                  wid ? wid : "(none)");
    }
    /* ... and processed every job libkue created; libkue reads them back */
    cr_assert_eq(json_array_size(json_object_get(out, "processed")), NPROCESS);
    for (int i = 0; i < NPROCESS; i++) {
        kue_job_t *j = kue_job_get(K, ours[i]);
        cr_assert_not_null(j, "job %lld: %s", (long long)ours[i], kue_errstr(K));
        cr_assert_str_eq(kue_job_field(j, "state"), "complete", "job %lld", (long long)ours[i]);
        cr_assert(strstr(kue_job_field(j, "workerId"), mine), "job %lld ran by %s", (long long)ours[i],
                  kue_job_field(j, "workerId"));
        cr_assert(strstr(kue_job_field(j, "result"), "\"by\":\"node\""), "%s", kue_job_field(j, "result"));
        kue_job_free(j);
    }
    json_decref(out);
    cr_assert_eq(kue_count(K, "echo", "complete"), NCREATE);
    cr_assert_eq(kue_count(K, "node", "complete"), NPROCESS);
    cr_assert_eq(kue_count(K, NULL, "active"), 0);
    cr_assert_eq(kue_count(K, NULL, "inactive"), 0);

    /* every key is {q}:..., but Kue's unprefixed locks */
    cr_assert_gt(keys_in_style(C), 10);
    /* the CLI reads the same queue with --key-style hashtag, and nothing
     * without it */
    char bin[600], cmd[1400], line[256];
    kt_bin("kue", bin, sizeof bin);
    for (int style = 0; style < 2; style++) {
        snprintf(cmd, sizeof cmd, "%s --redis %s %s stats", bin, url, style ? "--key-style hashtag" : "");
        FILE *p = popen(cmd, "r");
        cr_assert_not_null(p);
        long long done = -1;
        while (fgets(line, sizeof line, p))
            if (!strncmp(line, "complete", 8)) done = atoll(line + 8);
        pclose(p);
        /* a cluster URL implies the hashtag style */
        int cluster = !strncmp(url, "redis-cluster://", 16);
        cr_assert_eq(done, style || cluster ? NCREATE + NPROCESS : 0, "%s: complete %lld", cmd, done);
    }
    /* the supervisor ran throughout */
    int st;
    cr_assert_neq(kt_wait(sup, 0, &st), 0, "the supervisor exited");
}

Test(interop_hashtag, node_on_ioredis_and_the_supervisor_share_a_queue)
{
    if (!kt_node_available() || !have_ioredis())
        cr_skip_test("node, Kue or ioredis missing (run sh scripts/node-deps.sh)");
    kt_redis_start(&R, KT_TCP);
    C = kt_redis_connect(&R);
    char err[256];
    K = kue_connect(R.url, "q", err, sizeof err);
    cr_assert_not_null(K, "%s", err);
    char port[16];
    snprintf(port, sizeof port, "%d", R.port);
    share_a_queue(R.url, port);
}

/* Index of the master of the slot of {q}. */
static int queue_master(void)
{
    redisContext *c = kt_cluster_node(&CL, 0);
    redisReply *r = kt_cmd(c, "CLUSTER SLOTS");
    kue_slot_range_t map[64];
    int n = kue_cluster_parse_slots(r, "127.0.0.1", map, 64);
    freeReplyObject(r);
    redisFree(c);
    const kue_slot_range_t *m = kue_cluster_lookup(map, n, kue_key_slot("{q}", 3));
    cr_assert_not_null(m);
    for (int i = 0; i < KT_CLUSTER_NODES; i++)
        if (CL.port[i] == m->port) return i;
    cr_assert_fail("no node on port %d", m->port);
    return -1;
}

/* The same on Redis Cluster: Kue on an ioredis Cluster client (its keys
 * {q}:..., one slot), libkue and the supervisor on a redis-cluster:// URL.
 * Kue's locks live in other slots; every other key is on the queue's
 * master. */
Test(interop_hashtag, node_on_an_ioredis_cluster_and_the_supervisor_share_a_queue)
{
    if (!kt_node_available() || !have_ioredis())
        cr_skip_test("node, Kue or ioredis missing (run sh scripts/node-deps.sh)");
    kt_cluster_start(&CL);
    char err[512];
    K = kue_connect(CL.url, "q", err, sizeof err);
    cr_assert_not_null(K, "%s", err);
    int qm = queue_master();
    C = kt_cluster_node(&CL, qm);
    char where[200];
    size_t o = (size_t)snprintf(where, sizeof where, "cluster:");
    for (int i = 0; i < KT_CLUSTER_MASTERS; i++)
        o += (size_t)snprintf(where + o, sizeof where - o, "%s%d", i ? "," : "", CL.port[i]);
    share_a_queue(CL.url, where);
    /* the other nodes hold no key of the queue: at most Kue's locks */
    for (int i = 0; i < KT_CLUSTER_NODES; i++) {
        if (i == qm) continue;
        redisContext *c = kt_cluster_node(&CL, i);
        redisReply *r = kt_cmd(c, "ROLE");
        int master = !strcmp(r->element[0]->str, "master");
        freeReplyObject(r);
        if (master) cr_assert_leq(keys_in_style(c), 2, "node %d holds keys of the queue", i);
        redisFree(c);
    }
}

/* The two styles name disjoint keys: a plain-style reader sees nothing of a
 * hashtag-style queue, and each script checks the keys it declares. */
Test(interop_hashtag, styles_are_disjoint)
{
    kt_redis_start(&R, KT_TCP);
    C = kt_redis_connect(&R);
    char err[256];
    K = kue_connect(R.url, "q", err, sizeof err);
    cr_assert_not_null(K, "%s", err);
    cr_assert_str_eq(kue_prefix(K), "q");
    cr_assert_eq(kue_set_key_style(K, "hashtag"), 0);
    cr_assert_str_eq(kue_prefix(K), "q");
    kue_job_t *j = kue_job_new("t", "{}");
    int64_t id = kue_job_save(K, j);
    kue_job_free(j);
    cr_assert_gt(id, 0, "%s", kue_errstr(K));
    cr_assert_eq(kt_int(C, "HEXISTS {q}:job:%lld state", (long long)id), 1);
    cr_assert_eq(kt_int(C, "EXISTS q:job:%lld", (long long)id), 0);
    cr_assert_eq(kt_int(C, "EXISTS {q}:fence"), 0, "the fence key is never written");
    cr_assert_eq(kue_count(K, "t", "inactive"), 1);
    cr_assert_eq(kue_set_key_style(K, "plain"), 0);
    cr_assert_eq(kue_count(K, "t", "inactive"), 0);
    cr_assert_null(kue_job_get(K, id));
    cr_assert_eq(kue_errcode(K), KUE_ERR_NOTFOUND);
}
