/*
 * topology.h -- private Redis topologies for the failover tests: a master,
 * a replica and three sentinels on free loopback ports, all started through
 * the harness (so kt_cleanup() stops every process) and waited for.
 */
#ifndef KUE_TEST_TOPOLOGY_H
#define KUE_TEST_TOPOLOGY_H

#include <sys/types.h>
#include "harness.h"

#define KT_SENTINELS 3
#define KT_MASTER_NAME "kuemaster"

typedef struct kt_sentinels {
    kt_redis_t node[2];            /* node[0] starts as master, node[1] as its replica */
    pid_t pid[KT_SENTINELS];
    int port[KT_SENTINELS];
    char dir[KT_SENTINELS][256];
    char url[512];                 /* redis-sentinel://127.0.0.1:P1,...,/kuemaster */
} kt_sentinels_t;

/* Start the group and wait until every sentinel knows the master and its
 * replica.  Aborts the test on failure. */
void kt_sentinels_start(kt_sentinels_t *g);
/* Index (0/1) of the node the sentinels name as master, if its ROLE
 * agrees; -1 otherwise. */
int kt_sentinels_master(kt_sentinels_t *g);
/* Ask a sentinel for the master's port (0 if none answers). */
int kt_sentinels_master_port(kt_sentinels_t *g);
/* SENTINEL FAILOVER, then wait (up to timeout_ms) until the other node is
 * master and the sentinels say so.  0 on success. */
int kt_sentinels_failover(kt_sentinels_t *g, int timeout_ms);
/* A blocking connection to node i over TCP (asserts). */
redisContext *kt_sentinels_node(kt_sentinels_t *g, int i);
void kt_sentinels_stop(kt_sentinels_t *g);

/* A Redis Cluster of KT_CLUSTER_MASTERS masters with one replica each, on
 * free loopback ports, made with redis-cli --cluster create; waits until
 * every node reports cluster_state:ok. */
#define KT_CLUSTER_MASTERS 3
#define KT_CLUSTER_NODES (2 * KT_CLUSTER_MASTERS)

typedef struct kt_cluster {
    pid_t pid[KT_CLUSTER_NODES];
    int port[KT_CLUSTER_NODES];
    char dir[KT_CLUSTER_NODES][256];
    char url[512];                 /* redis-cluster://127.0.0.1:P1,... */
} kt_cluster_t;

void kt_cluster_start(kt_cluster_t *cl);
/* A blocking connection to node i (asserts). */
redisContext *kt_cluster_node(kt_cluster_t *cl, int i);
void kt_cluster_stop(kt_cluster_t *cl);

/* The run log of tests/plugins/faults.c ({"log": PATH}: one line "<id>"
 * per run): asserts that each of the n ids ran and that nothing else did;
 * returns the runs beyond one per job (jobs run more than once). */
long long kt_run_log_extra(const char *path, const int64_t *ids, int n);

#endif
