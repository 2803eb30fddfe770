/*
 * cluster_ask.c -- ASK redirections on a real 3-master + 3-replica Redis
 * Cluster.  The queue's slot ({q}) is set MIGRATING on its master and
 * IMPORTING on another by hand (CLUSTER SETSLOT), and some of its keys are
 * moved (MIGRATE), so the old master answers ASK for them:
 *  - the asynchronous connection (common/conn.c, under the worker, the
 *    master and the async producer) follows it: ASKING and the command on
 *    the named node, the slot map untouched, and the keys still at home are
 *    served as before;
 *  - the blocking connection (libkue) does the same for its commands;
 *  - a script is not asked: the importing node would refuse it with
 *    TRYAGAIN, since {q}:fence is never there (checked by hand here).
 */
#include <criterion/criterion.h>
#include <ev.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "conn.h"
#include "harness.h"
#include "kue_internal.h"
#include "scripts.h"
#include "topology.h"

static kt_cluster_t CL;

TestSuite(cluster_ask, .fini = kt_cleanup, .timeout = 90);

static int node_of_port(int port)
{
    for (int i = 0; i < KT_CLUSTER_NODES; i++)
        if (CL.port[i] == port) return i;
    return -1;
}

static int is_master(int i)
{
    redisContext *c = kt_cluster_node(&CL, i);
    redisReply *r = kt_cmd(c, "ROLE");
    int m = !strcmp(r->element[0]->str, "master");
    freeReplyObject(r);
    redisFree(c);
    return m;
}

/* Start migrating the slot of {q} from its master (*src) to another (*dst)
 * and move the named keys over; the others stay on *src. */
static unsigned start_migration(int *src, int *dst, const char *const *keys, int nkeys)
{
    unsigned slot = kue_key_slot("{q}", 3);
    redisContext *c = kt_cluster_node(&CL, 0);
    redisReply *slots = kt_cmd(c, "CLUSTER SLOTS");
    kue_slot_range_t map[16];
    int n = kue_cluster_parse_slots(slots, "127.0.0.1", map, 16);
    freeReplyObject(slots);
    redisFree(c);
    const kue_slot_range_t *owner = kue_cluster_lookup(map, n, slot);
    cr_assert_not_null(owner);
    *src = node_of_port(owner->port);
    *dst = -1;
    for (int i = 0; i < KT_CLUSTER_NODES && *dst < 0; i++)
        if (i != *src && is_master(i)) *dst = i;
    cr_assert_geq(*src, 0);
    cr_assert_geq(*dst, 0);
    redisContext *s = kt_cluster_node(&CL, *src), *d = kt_cluster_node(&CL, *dst);
    char sid[64], did[64];
    kt_str(s, sid, sizeof sid, "CLUSTER MYID");
    kt_str(d, did, sizeof did, "CLUSTER MYID");
    freeReplyObject(kt_cmd(d, "CLUSTER SETSLOT %u IMPORTING %s", slot, sid));
    freeReplyObject(kt_cmd(s, "CLUSTER SETSLOT %u MIGRATING %s", slot, did));
    for (int i = 0; i < nkeys; i++) {
        redisReply *r = kt_cmd(s, "MIGRATE 127.0.0.1 %d %s 0 5000", CL.port[*dst], keys[i]);
        cr_assert(r->type == REDIS_REPLY_STATUS, "MIGRATE %s: %s", keys[i], r->str);
        freeReplyObject(r);
    }
    redisFree(s);
    redisFree(d);
    return slot;
}

/* ---- the asynchronous connection ------------------------------------------------ */

struct run {
    int replies;
    char got[4][64];             /* each reply as text */
};

static struct run R;

/* privdata: which command (an asked one is answered after the others) */
static void keep(redisAsyncContext *ac, void *rep, void *privdata)
{
    struct run *r = &R;
    redisReply *x = rep;
    char *out = r->got[(intptr_t)privdata];
    if (!x) snprintf(out, 64, "(lost)");
    else if (x->type == REDIS_REPLY_ARRAY && x->elements > 0 && x->element[0]->str)
        snprintf(out, 64, "[%s]", x->element[0]->str);
    else if (x->str) snprintf(out, 64, "%s", x->str);
    else if (x->type == REDIS_REPLY_INTEGER) snprintf(out, 64, "%lld", x->integer);
    else snprintf(out, 64, "(type %d)", x->type);
    r->replies++;
}

static void on_state(kue_conn_t *c, int up, void *privdata)
{
    if (!up) return;
    /* moved: ASK; at home: served; a script: the ASK reply itself */
    cr_assert_eq(kue_conn_command(c, keep, (void *)0, "SMEMBERS %s", "{q}:held:h:1"), 0);
    cr_assert_eq(kue_conn_command(c, keep, (void *)1, "GET %s", "{q}:home"), 0);
    const char *av[] = { "{q}", "1", "a line" };
    cr_assert_eq(kue_conn_script(c, KS_LOG, keep, (void *)2, 3, av, NULL), 0);
    const char *gv[] = { "HGET", "{q}:job:7", "state" };
    cr_assert_eq(kue_conn_commandargv(c, keep, (void *)3, 3, gv, NULL), 0);
}

static void on_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    if (R.replies >= 4 && kue_conn_pending(t->data) == 0) ev_break(loop, EVBREAK_ALL);
}

static void on_guard(struct ev_loop *loop, ev_timer *t, int revents)
{
    ev_break(loop, EVBREAK_ALL);
}

Test(cluster_ask, async_commands_follow_ask_and_scripts_wait)
{
    kt_cluster_start(&CL);
    int src, dst;
    /* the keys, written on the slot's master before the migration */
    {
        kue_url_t u;
        char err[256];
        cr_assert_eq(kue_url_parse(CL.url, &u, err, sizeof err), 0, "%s", err);
        snprintf(u.route, sizeof u.route, "{q}");
        cr_assert_eq(kue_cluster_resolve(&u, err, sizeof err), 0, "%s", err);
        redisContext *m = kt_cluster_node(&CL, node_of_port(u.port));
        freeReplyObject(kt_cmd(m, "SADD {q}:held:h:1 17"));
        freeReplyObject(kt_cmd(m, "SET {q}:home here"));
        freeReplyObject(kt_cmd(m, "SET {q}:ids 7"));
        freeReplyObject(kt_cmd(m, "HSET {q}:job:7 state active"));
        redisFree(m);
    }
    static const char *const moved[] = { "{q}:held:h:1", "{q}:ids", "{q}:job:7" };
    unsigned slot = start_migration(&src, &dst, moved, 3);

    /* by hand: the old master answers ASK; the new one serves a plain
     * command after ASKING, but refuses a script naming {q}:fence */
    redisContext *s = kt_cluster_node(&CL, src), *d = kt_cluster_node(&CL, dst);
    redisReply *r = kt_cmd(s, "SMEMBERS {q}:held:h:1");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    cr_assert(!strncmp(r->str, "ASK ", 4), "%s", r->str);
    freeReplyObject(r);
    freeReplyObject(kt_cmd(d, "ASKING"));
    r = kt_cmd(d, "EVAL %s 2 {q}:ids {q}:fence {q}", "return 1");
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    cr_assert(!strncmp(r->str, "TRYAGAIN", 8), "a script on the importing node: %s", r->str);
    freeReplyObject(r);

    kue_url_t u;
    char err[256];
    cr_assert_eq(kue_url_parse(CL.url, &u, err, sizeof err), 0, "%s", err);
    snprintf(u.route, sizeof u.route, "{q}");
    struct ev_loop *loop = ev_loop_new(0);
    memset(&R, 0, sizeof R);
    kue_conn_t *conn = kue_conn_new(loop, &u, "test", on_state, NULL);
    cr_assert_not_null(conn);
    ev_timer tick, guard;
    ev_timer_init(&tick, on_tick, 0.01, 0.01);
    tick.data = conn;
    ev_timer_start(loop, &tick);
    ev_timer_init(&guard, on_guard, 20., 0.);
    ev_timer_start(loop, &guard);
    ev_run(loop, 0);
    cr_assert_eq(R.replies, 4, "%d replies", R.replies);
    cr_assert_str_eq(R.got[0], "[17]", "SMEMBERS of a moved key: %s", R.got[0]);
    cr_assert_str_eq(R.got[1], "here", "GET of a key at home: %s", R.got[1]);
    cr_assert(!strncmp(R.got[2], "ASK ", 4), "a script gets the ASK (transient): %s", R.got[2]);
    cr_assert(kue_reply_transient(R.got[2]));
    cr_assert_str_eq(R.got[3], "active", "HGET (argv form) of a moved key: %s", R.got[3]);
    cr_assert_eq(kue_conn_pending(conn), 0);
    kue_conn_free(conn);
    ev_timer_stop(loop, &tick);
    ev_timer_stop(loop, &guard);
    ev_loop_destroy(loop);

    /* the slot map was not changed: the old master still owns the slot */
    r = kt_cmd(s, "CLUSTER COUNTKEYSINSLOT %u", slot);
    cr_assert_eq(r->integer, 1, "only {q}:home is left on the old master");
    freeReplyObject(r);

    /* the blocking connection follows ASK for its commands too */
    kue_t *k = kue_connect(CL.url, "q", err, sizeof err);
    cr_assert_not_null(k, "%s", err);
    kue_job_t *j = kue_job_get(k, 7);
    cr_assert_not_null(j, "kue_job_get through ASK: %s", kue_errstr(k));
    cr_assert_str_eq(kue_job_state(j), "active");
    kue_job_free(j);
    kue_free(k);
    redisFree(s);
    redisFree(d);
    kt_cluster_stop(&CL);
}
