/*
 * cluster_slots.c -- the pure Cluster client parts (libkue/cluster.c)
 * against a real 3-master + 3-replica Redis Cluster: our key slot equals
 * CLUSTER KEYSLOT for plain and hash-tagged keys, the slot map parsed from
 * CLUSTER SLOTS names the master that accepts a key, and a MOVED or ASK
 * reply is parsed into the node it names.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "harness.h"
#include "topology.h"

static kt_cluster_t CL;

TestSuite(cluster_slots, .fini = kt_cleanup, .timeout = 90);

Test(cluster_slots, crc16_and_hash_tags)
{
    /* The check value of CRC16/XMODEM. */
    cr_assert_eq(kue_crc16("123456789", 9), 0x31C3);
    cr_assert_eq(kue_key_slot("{q}:jobs", 8), kue_key_slot("q", 1));
    cr_assert_eq(kue_key_slot("{q}:job:17", 10), kue_key_slot("{q}:jobs:inactive", 17));
    /* An empty tag does not count: the whole key is hashed. */
    cr_assert_eq(kue_key_slot("a{}b", 4), kue_crc16("a{}b", 4) & 16383);
    /* Only the first tag counts. */
    cr_assert_eq(kue_key_slot("x{a}{b}", 7), kue_key_slot("a", 1));
    cr_assert_eq(kue_key_slot("x{{a}}", 6), kue_key_slot("{a", 2));
}

Test(cluster_slots, redirections)
{
    redisReply r = { .type = REDIS_REPLY_ERROR, .str = "MOVED 3999 127.0.0.1:6381" };
    unsigned slot;
    char host[64];
    int port;
    cr_assert_eq(kue_cluster_redirect(&r, &slot, host, sizeof host, &port), 1);
    cr_assert_eq(slot, 3999);
    cr_assert_str_eq(host, "127.0.0.1");
    cr_assert_eq(port, 6381);
    r.str = "ASK 12 ::1:7000";
    cr_assert_eq(kue_cluster_redirect(&r, &slot, host, sizeof host, &port), 2);
    cr_assert_str_eq(host, "::1");
    cr_assert_eq(port, 7000);
    const char *bad[] = { "MOVED", "MOVED x 1.2.3.4:5", "MOVED 99999 h:1", "MOVED 1 h:0",
                          "MOVED 1 :5", "ERR MOVED 1 h:5", "READONLY You can't write" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        r.str = (char *)bad[i];
        cr_assert_eq(kue_cluster_redirect(&r, &slot, host, sizeof host, &port), 0, "%s", bad[i]);
    }
    redisReply st = { .type = REDIS_REPLY_STATUS, .str = "MOVED 1 h:5" };
    cr_assert_eq(kue_cluster_redirect(&st, &slot, host, sizeof host, &port), 0);
}

Test(cluster_slots, real_cluster)
{
    kt_cluster_start(&CL);
    redisContext *c = kt_cluster_node(&CL, 0);

    /* Our slot is the server's, for keys with and without tags. */
    const char *keys[] = { "q", "{q}:jobs", "{q}:job:1", "q:jobs:inactive", "{emails}:jobs",
                           "x{a}{b}", "a{}b", "promotion:lock", "" };
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        long long want = kt_int(c, "CLUSTER KEYSLOT %b", keys[i], strlen(keys[i]));
        cr_assert_eq(kue_key_slot(keys[i], strlen(keys[i])), (unsigned)want, "slot of \"%s\"", keys[i]);
    }
    for (int i = 0; i < 200; i++) {
        char k[32];
        snprintf(k, sizeof k, "{t%d}:jobs:%d", rand(), i);
        long long want = kt_int(c, "CLUSTER KEYSLOT %s", k);
        cr_assert_eq(kue_key_slot(k, strlen(k)), (unsigned)want, "slot of %s", k);
    }

    /* The parsed map names the master that accepts each key. */
    redisReply *slots = kt_cmd(c, "CLUSTER SLOTS");
    kue_slot_range_t map[64];
    int n = kue_cluster_parse_slots(slots, "127.0.0.1", map, 64);
    freeReplyObject(slots);
    cr_assert_eq(n, KT_CLUSTER_MASTERS, "%d ranges", n);
    unsigned covered = 0;
    for (int i = 0; i < n; i++) covered += map[i].to - map[i].from + 1;
    cr_assert_eq(covered, KUE_CLUSTER_SLOTS);
    for (int i = 0; i < 30; i++) {
        char k[32];
        snprintf(k, sizeof k, "{queue%d}:jobs", i);
        const kue_slot_range_t *m = kue_cluster_lookup(map, n, kue_key_slot(k, strlen(k)));
        cr_assert_not_null(m);
        struct timeval tv = { 2, 0 };
        redisContext *mc = redisConnectWithTimeout(m->host, m->port, tv);
        cr_assert(mc && !mc->err);
        redisReply *r = redisCommand(mc, "SET %s 1", k);
        cr_assert(r && r->type == REDIS_REPLY_STATUS, "SET %s on the mapped master: %s", k,
                  r ? r->str : mc->errstr);
        freeReplyObject(r);
        redisFree(mc);
    }

    /* A node that does not own the slot answers MOVED to the mapped one. */
    const char *k = "{moved-test}:jobs";
    const kue_slot_range_t *owner = kue_cluster_lookup(map, n, kue_key_slot(k, strlen(k)));
    int other = -1;
    for (int i = 0; i < KT_CLUSTER_NODES && other < 0; i++) {
        if (CL.port[i] == owner->port) continue;
        redisContext *oc = kt_cluster_node(&CL, i);
        redisReply *role = kt_cmd(oc, "ROLE");
        if (!strcmp(role->element[0]->str, "master")) other = i;
        freeReplyObject(role);
        redisFree(oc);
    }
    cr_assert_geq(other, 0);
    redisContext *oc = kt_cluster_node(&CL, other);
    redisReply *r = kt_cmd(oc, "SET %s 1", k);
    unsigned slot;
    char host[64];
    int port;
    cr_assert_eq(kue_cluster_redirect(r, &slot, host, sizeof host, &port), 1, "%s", r->str);
    cr_assert_eq(slot, kue_key_slot(k, strlen(k)));
    cr_assert_eq(port, owner->port);
    freeReplyObject(r);
    redisFree(oc);
    redisFree(c);
    kt_cluster_stop(&CL);
}
