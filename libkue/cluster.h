/*
 * cluster.h -- the client side of Redis Cluster that kue needs.
 *
 * hiredis 0.14 knows nothing of Cluster.  kue keeps one queue (one prefix)
 * in one hash slot, so routing is simple: the slot of the queue's hash tag
 * picks one master, every connection of the queue goes there, and a MOVED
 * or ASK reply means the slot moved (or is moving) and the map must be read
 * again.  This file holds the pure parts: the key slot (CRC16, hash tags),
 * the slot map read from CLUSTER SLOTS, and the parsing of redirections.
 */
#ifndef KUE_CLUSTER_H
#define KUE_CLUSTER_H

#include <stddef.h>
#include <stdint.h>
#include <hiredis/hiredis.h>

#include "url.h"

#define KUE_CLUSTER_SLOTS 16384

/* CRC16-CCITT (XModem) as Redis Cluster uses it. */
uint16_t kue_crc16(const char *buf, size_t len);

/* The hash slot of a key: the CRC16 of its hash tag (the bytes between the
 * first '{' and the next '}', when not empty) or of the whole key. */
unsigned kue_key_slot(const char *key, size_t len);

/* One range of the slot map and the master that serves it. */
typedef struct kue_slot_range {
    unsigned from, to;                 /* inclusive */
    char host[256];
    int port;
} kue_slot_range_t;

/* Parse a CLUSTER SLOTS reply into out (at most max ranges).  Returns the
 * number of ranges, or -1 if the reply is not a slot map.  A master listed
 * without an address ("" or "?": the node the reply came from does not know
 * its own) gets from_host, the address the caller asked. */
int kue_cluster_parse_slots(const redisReply *r, const char *from_host, kue_slot_range_t *out,
                            int max);

/* The master of slot in a parsed map, or NULL. */
const kue_slot_range_t *kue_cluster_lookup(const kue_slot_range_t *map, int n, unsigned slot);

/* A redirection: "MOVED 3999 127.0.0.1:6381" or "ASK 3999 127.0.0.1:6381".
 * Returns 1 for MOVED, 2 for ASK (slot, host, port filled), 0 otherwise. */
int kue_cluster_redirect(const redisReply *r, unsigned *slot, char *host, size_t hostlen, int *port);

/* For a redis-cluster:// URL: read the slot map (CLUSTER SLOTS) from the
 * seeds in turn and fill u->host/u->port with the master of the slot of
 * u->route (the queue's {P}).  Bounded like the sentinel lookup (150 ms to
 * connect, 250 ms for the reply, per seed).  0, or -1 with every seed's
 * reason in err.  A no-op returning 0 for other URLs. */
int kue_cluster_resolve(kue_url_t *u, char *err, size_t errlen);

#endif
