/*
 * topology.c -- a master, a replica and three sentinels for the failover
 * tests, a 3 + 3 Redis Cluster, and the run-log count of those tests (see
 * topology.h).
 */
#include "topology.h"

#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>


redisContext *kt_sentinels_node(kt_sentinels_t *g, int i)
{
    struct timeval tv = { 1, 0 };
    redisContext *c = redisConnectWithTimeout("127.0.0.1", g->node[i].port, tv);
    cr_assert(c && !c->err, "connect to node %d: %s", i, c ? c->errstr : "oom");
    redisSetTimeout(c, tv);
    return c;
}

static redisContext *sentinel_conn(kt_sentinels_t *g, int i)
{
    struct timeval tv = { 0, 300000 };
    redisContext *c = redisConnectWithTimeout("127.0.0.1", g->port[i], tv);
    if (!c || c->err) {
        if (c) redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    return c;
}

int kt_sentinels_master_port(kt_sentinels_t *g)
{
    for (int i = 0; i < KT_SENTINELS; i++) {
        redisContext *c = sentinel_conn(g, i);
        if (!c) continue;
        redisReply *r = redisCommand(c, "SENTINEL get-master-addr-by-name %s", KT_MASTER_NAME);
        int port = 0;
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2)
            port = atoi(r->element[1]->str);
        if (r) freeReplyObject(r);
        redisFree(c);
        if (port) return port;
    }
    return 0;
}

static int node_is_master(kt_sentinels_t *g, int i)
{
    if (g->node[i].pid <= 0) return 0;
    struct timeval tv = { 0, 300000 };
    redisContext *c = redisConnectWithTimeout("127.0.0.1", g->node[i].port, tv);
    if (!c || c->err) {
        if (c) redisFree(c);
        return 0;
    }
    redisSetTimeout(c, tv);
    redisReply *r = redisCommand(c, "ROLE");
    int master = r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
                 !strcmp(r->element[0]->str, "master");
    if (r) freeReplyObject(r);
    redisFree(c);
    return master;
}

int kt_sentinels_master(kt_sentinels_t *g)
{
    /* The sentinels' master, if it says so itself (an old master stays a
     * master for a while after a failover, until they reconfigure it). */
    int port = kt_sentinels_master_port(g);
    for (int i = 0; i < 2; i++)
        if (g->node[i].port == port && node_is_master(g, i)) return i;
    return -1;
}

/* Every sentinel knows the master and sees one replica. */
static int group_ready(void *arg)
{
    kt_sentinels_t *g = arg;
    for (int i = 0; i < KT_SENTINELS; i++) {
        redisContext *c = sentinel_conn(g, i);
        if (!c) return 0;
        redisReply *r = redisCommand(c, "SENTINEL replicas %s", KT_MASTER_NAME);
        int ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == 1;
        if (r) freeReplyObject(r);
        r = ok ? redisCommand(c, "SENTINEL sentinels %s", KT_MASTER_NAME) : NULL;
        ok = ok && r && r->type == REDIS_REPLY_ARRAY && r->elements == KT_SENTINELS - 1;
        if (r) freeReplyObject(r);
        redisFree(c);
        if (!ok) return 0;
    }
    return 1;
}

static int replica_synced(void *arg)
{
    kt_sentinels_t *g = arg;
    redisContext *c = kt_sentinels_node(g, 1);
    redisReply *r = redisCommand(c, "ROLE");
    int ok = r && r->type == REDIS_REPLY_ARRAY && r->elements >= 4 &&
             r->element[3]->type == REDIS_REPLY_STRING && !strcmp(r->element[3]->str, "connected");
    if (r) freeReplyObject(r);
    redisFree(c);
    return ok;
}

/* Wait until process i of a group is up, starting it again (respawn: on
 * another port) when it exited at start: a port picked free can be taken
 * by another suite's server before this one binds it.  Up to 3 tries;
 * *pid is the process's current pid (respawn updates it). */
static void wait_up(const char *what, int i, const pid_t *pid, int (*up)(void *, int),
                    void (*respawn)(void *, int), void *group)
{
    int64_t deadline = kt_now_ms() + 10000;
    int tries = 1;
    while (!up(group, i)) {
        int st;
        if (kt_wait(*pid, 0, &st) == 0 && tries < 3) {
            tries++;
            fprintf(stderr, "%s %d exited at start; again on another port\n", what, i);
            respawn(group, i);
            deadline = kt_now_ms() + 10000;
        }
        cr_assert(kt_now_ms() < deadline, "%s %d did not start", what, i);
        kt_sleep_ms(20);
    }
}

/* Sentinel i answers on its port, and it is ours: it watches node 0 (a
 * server that took the port meanwhile would not know the name). */
static int sentinel_up(kt_sentinels_t *g, int i)
{
    redisContext *c = sentinel_conn(g, i);
    if (!c) return 0;
    redisReply *r = redisCommand(c, "SENTINEL get-master-addr-by-name %s", KT_MASTER_NAME);
    int ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
             r->element[1]->type == REDIS_REPLY_STRING && atoi(r->element[1]->str) == g->node[0].port;
    if (r) freeReplyObject(r);
    redisFree(c);
    return ok;
}

/* Start sentinel i on a fresh free port, watching node 0. */
static void sentinel_spawn(kt_sentinels_t *g, int i)
{
    g->port[i] = kt_free_port();
    snprintf(g->dir[i], sizeof g->dir[i], "%s/sentinel-%d-XXXXXX", kt_tmpdir(), i);
    cr_assert_not_null(mkdtemp(g->dir[i]));
    char conf[400], text[1024], log[400];
    snprintf(conf, sizeof conf, "%s/sentinel.conf", g->dir[i]);
    snprintf(log, sizeof log, "%s/sentinel.log", g->dir[i]);
    snprintf(text, sizeof text,
             "port %d\nbind 127.0.0.1\ndaemonize no\ndir %s\n"
             "sentinel monitor %s 127.0.0.1 %d 2\n"
             "sentinel down-after-milliseconds %s 1000\n"
             "sentinel failover-timeout %s 4000\n"
             "sentinel parallel-syncs %s 1\n",
             g->port[i], g->dir[i], KT_MASTER_NAME, g->node[0].port, KT_MASTER_NAME,
             KT_MASTER_NAME, KT_MASTER_NAME);
    kt_write_file(conf, text);
    char *argv[] = { "redis-server", conf, "--sentinel", NULL };
    g->pid[i] = kt_spawn(argv, log);
}

static int sentinel_up_any(void *g, int i) { return sentinel_up(g, i); }
static void sentinel_spawn_any(void *g, int i) { sentinel_spawn(g, i); }

void kt_sentinels_start(kt_sentinels_t *g)
{
    memset(g, 0, sizeof *g);
    kt_redis_start(&g->node[0], KT_TCP);
    kt_redis_start(&g->node[1], KT_TCP);
    redisContext *c = kt_sentinels_node(g, 1);
    freeReplyObject(kt_cmd(c, "REPLICAOF 127.0.0.1 %d", g->node[0].port));
    redisFree(c);
    cr_assert(kt_wait_until(replica_synced, g, 10000), "replica did not sync");

    for (int i = 0; i < KT_SENTINELS; i++) sentinel_spawn(g, i);
    size_t o = (size_t)snprintf(g->url, sizeof g->url, "redis-sentinel://");
    for (int i = 0; i < KT_SENTINELS; i++) {
        wait_up("sentinel", i, &g->pid[i], sentinel_up_any, sentinel_spawn_any, g);
        o += (size_t)snprintf(g->url + o, sizeof g->url - o, "%s127.0.0.1:%d", i ? "," : "",
                              g->port[i]);
    }
    snprintf(g->url + o, sizeof g->url - o, "/%s", KT_MASTER_NAME);
    cr_assert(kt_wait_until(group_ready, g, 20000), "sentinels did not discover the group");
}

struct failover_wait { kt_sentinels_t *g; int want; };

static int failed_over(void *arg)
{
    struct failover_wait *w = arg;
    return kt_sentinels_master(w->g) == w->want;
}

int kt_sentinels_failover(kt_sentinels_t *g, int timeout_ms)
{
    int cur = kt_sentinels_master(g);
    if (cur < 0) return -1;
    redisContext *c = sentinel_conn(g, 0);
    if (!c) return -1;
    redisReply *r = redisCommand(c, "SENTINEL failover %s", KT_MASTER_NAME);
    int ok = r && r->type != REDIS_REPLY_ERROR;
    if (r) freeReplyObject(r);
    redisFree(c);
    if (!ok) return -1;
    struct failover_wait w = { g, 1 - cur };
    return kt_wait_until(failed_over, &w, timeout_ms) ? 0 : -1;
}

void kt_sentinels_stop(kt_sentinels_t *g)
{
    for (int i = 0; i < KT_SENTINELS; i++) {
        if (g->pid[i] > 0) {
            kill(g->pid[i], SIGKILL);
            int st;
            kt_wait(g->pid[i], 2000, &st);
            g->pid[i] = 0;
        }
        if (g->dir[i][0]) {
            char cmd[400];
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", g->dir[i]);
            if (system(cmd) != 0) { /* left behind in the test's tmpdir */ }
            g->dir[i][0] = '\0';
        }
    }
    kt_redis_stop(&g->node[0]);
    kt_redis_stop(&g->node[1]);
}

/* ---- Redis Cluster ---------------------------------------------------------- */

redisContext *kt_cluster_node(kt_cluster_t *cl, int i)
{
    struct timeval tv = { 2, 0 };
    redisContext *c = redisConnectWithTimeout("127.0.0.1", cl->port[i], tv);
    cr_assert(c && !c->err, "connect to cluster node %d: %s", i, c ? c->errstr : "oom");
    redisSetTimeout(c, tv);
    return c;
}

/* Node i answers on its port, and it is ours: the server there has node
 * i's pid (a sibling or another suite's server may hold the port when
 * node i could not bind it). */
static int node_answers(kt_cluster_t *cl, int i)
{
    struct timeval tv = { 0, 300000 };
    redisContext *c = redisConnectWithTimeout("127.0.0.1", cl->port[i], tv);
    int ok = c && !c->err;
    if (ok) {
        redisReply *r = redisCommand(c, "INFO server");
        const char *v = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, "process_id:") : NULL;
        ok = v && atol(v + strlen("process_id:")) == (long)cl->pid[i];
        if (r) freeReplyObject(r);
    }
    if (c) redisFree(c);
    return ok;
}

static int cluster_ok(void *arg)
{
    kt_cluster_t *cl = arg;
    for (int i = 0; i < KT_CLUSTER_NODES; i++) {
        redisContext *c = kt_cluster_node(cl, i);
        redisReply *r = redisCommand(c, "CLUSTER INFO");
        int ok = r && r->type == REDIS_REPLY_STRING && strstr(r->str, "cluster_state:ok") &&
                 strstr(r->str, "cluster_known_nodes:6");
        if (r) freeReplyObject(r);
        redisFree(c);
        if (!ok) return 0;
    }
    return 1;
}

/* One line per node for a failure message: what CLUSTER INFO says, and
 * the last line of its log where the node is not ok. */
static void cluster_report(kt_cluster_t *cl, char *buf, size_t len)
{
    static const char *const fields[] = { "cluster_state:", "cluster_slots_ok:",
                                          "cluster_slots_pfail:", "cluster_slots_fail:",
                                          "cluster_known_nodes:", "cluster_current_epoch:" };
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < KT_CLUSTER_NODES && o < len; i++) {
        o += (size_t)snprintf(buf + o, len - o, "\n  node %d (port %d):", i, cl->port[i]);
        struct timeval tv = { 1, 0 };
        redisContext *c = redisConnectWithTimeout("127.0.0.1", cl->port[i], tv);
        redisReply *r = NULL;
        if (c && !c->err) {
            redisSetTimeout(c, tv);
            r = redisCommand(c, "CLUSTER INFO");
        }
        int ok = 0;
        if (r && r->type == REDIS_REPLY_STRING) {
            ok = strstr(r->str, "cluster_state:ok") != NULL;
            for (size_t f = 0; f < sizeof fields / sizeof *fields && o < len; f++) {
                const char *v = strstr(r->str, fields[f]);
                if (v) o += (size_t)snprintf(buf + o, len - o, " %.*s", (int)strcspn(v, "\r\n"), v);
            }
        } else if (o < len) {
            o += (size_t)snprintf(buf + o, len - o, " no answer (%s)", c && c->err ? c->errstr : "no reply");
        }
        if (r) freeReplyObject(r);
        if (c) redisFree(c);
        if (ok || o >= len) continue;
        char path[400];
        snprintf(path, sizeof path, "%s/redis.log", cl->dir[i]);
        char *log = kt_read_file(path);
        if (log) {
            size_t n = strlen(log);
            while (n && log[n - 1] == '\n') log[--n] = '\0';
            char *last = strrchr(log, '\n');
            o += (size_t)snprintf(buf + o, len - o, "\n    log: %s", last ? last + 1 : log);
            free(log);
        }
    }
}

/* Start node i on a fresh free port (its cluster bus on port + 10000). */
static void cluster_node_spawn(kt_cluster_t *cl, int i)
{
    /* below 55536 so the bus port fits; neither port may be a sibling's */
    for (;;) {
        int p = kt_free_port(), clash = p > 55535;
        for (int j = 0; j < KT_CLUSTER_NODES && !clash; j++)
            clash = j != i && cl->port[j] &&
                    (p == cl->port[j] || p == cl->port[j] + 10000 || p + 10000 == cl->port[j]);
        if (!clash) { cl->port[i] = p; break; }
    }
    snprintf(cl->dir[i], sizeof cl->dir[i], "%s/cluster-%d-XXXXXX", kt_tmpdir(), i);
    cr_assert_not_null(mkdtemp(cl->dir[i]));
    char port[16], log[400];
    snprintf(port, sizeof port, "%d", cl->port[i]);
    snprintf(log, sizeof log, "%s/redis.log", cl->dir[i]);
    char *argv[] = { "redis-server", "--port", port, "--bind", "127.0.0.1", "--dir", cl->dir[i],
                     "--save", "", "--appendonly", "no", "--cluster-enabled", "yes",
                     "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000",
                     "--daemonize", "no", NULL };
    cl->pid[i] = kt_spawn(argv, log);
}

static int node_answers_any(void *cl, int i) { return node_answers(cl, i); }
static void cluster_node_spawn_any(void *cl, int i) { cluster_node_spawn(cl, i); }

void kt_cluster_start(kt_cluster_t *cl)
{
    memset(cl, 0, sizeof *cl);
    for (int i = 0; i < KT_CLUSTER_NODES; i++) cluster_node_spawn(cl, i);
    /* (a node also exits when its bus port, port + 10000, is taken) */
    for (int i = 0; i < KT_CLUSTER_NODES; i++)
        wait_up("cluster node", i, &cl->pid[i], node_answers_any, cluster_node_spawn_any, cl);
    size_t o = (size_t)snprintf(cl->url, sizeof cl->url, "redis-cluster://");
    for (int i = 0; i < KT_CLUSTER_NODES; i++)
        o += (size_t)snprintf(cl->url + o, sizeof cl->url - o, "%s127.0.0.1:%d", i ? "," : "",
                              cl->port[i]);
    char cmd[1024];
    size_t n = (size_t)snprintf(cmd, sizeof cmd, "redis-cli --cluster create");
    for (int i = 0; i < KT_CLUSTER_NODES; i++)
        n += (size_t)snprintf(cmd + n, sizeof cmd - n, " 127.0.0.1:%d", cl->port[i]);
    snprintf(cmd + n, sizeof cmd - n, " --cluster-replicas 1 --cluster-yes >%s/create.log 2>&1",
             cl->dir[0]);
    cr_assert_eq(system(cmd), 0, "redis-cli --cluster create failed (see %s/create.log)", cl->dir[0]);
    if (!kt_wait_until(cluster_ok, cl, 20000)) {
        char why[4096];
        cluster_report(cl, why, sizeof why);
        cr_assert_fail("the cluster did not reach state ok in 20 s:%s", why);
    }
}

void kt_cluster_stop(kt_cluster_t *cl)
{
    for (int i = 0; i < KT_CLUSTER_NODES; i++) {
        if (cl->pid[i] > 0) {
            kill(cl->pid[i], SIGKILL);
            int st;
            kt_wait(cl->pid[i], 2000, &st);
            cl->pid[i] = 0;
        }
        if (cl->dir[i][0]) {
            char cmd[400];
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", cl->dir[i]);
            if (system(cmd) != 0) { /* left behind in the test's tmpdir */ }
            cl->dir[i][0] = '\0';
        }
    }
}

/* ---- run logs ------------------------------------------------------------- */

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

long long kt_run_log_extra(const char *path, const int64_t *ids, int n)
{
    char *t = kt_read_file(path);
    cr_assert_not_null(t, "no run log %s", path);
    size_t cap = (size_t)n * 2 + 16, nr = 0;
    int64_t *runs = malloc(cap * sizeof *runs);
    cr_assert_not_null(runs);
    for (char *p = t; *p;) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p) { p++; continue; }
        if (nr == cap) {
            cap *= 2;
            runs = realloc(runs, cap * sizeof *runs);
            cr_assert_not_null(runs);
        }
        runs[nr++] = v;
        p = end;
    }
    free(t);
    qsort(runs, nr, sizeof *runs, cmp_id);
    for (int i = 0; i < n; i++)
        cr_assert_not_null(bsearch(&ids[i], runs, nr, sizeof *runs, cmp_id), "job %lld never ran (%s)",
                           (long long)ids[i], path);
    size_t distinct = 0;
    for (size_t i = 0; i < nr; i++)
        if (i == 0 || runs[i] != runs[i - 1]) distinct++;
    free(runs);
    cr_assert_eq(distinct, (size_t)n, "%s: runs of %zu distinct jobs, %d saved", path, distinct, n);
    return (long long)(nr - distinct);
}
