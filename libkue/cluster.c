/*
 * cluster.c -- key slots, the slot map and redirections (see cluster.h).
 */
#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

uint16_t kue_crc16(const char *buf, size_t len)
{
    /* Polynomial 0x1021, initial value 0, no reflection: computed bit by
     * bit, since the queue's slot is computed once per connection. */
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((unsigned char)buf[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

unsigned kue_key_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t rest = len - (size_t)(open - key) - 1;
        const char *close = memchr(open + 1, '}', rest);
        if (close && close > open + 1)
            return kue_crc16(open + 1, (size_t)(close - open - 1)) & (KUE_CLUSTER_SLOTS - 1);
    }
    return kue_crc16(key, len) & (KUE_CLUSTER_SLOTS - 1);
}

int kue_cluster_parse_slots(const redisReply *r, const char *from_host, kue_slot_range_t *out,
                            int max)
{
    if (!r || r->type != REDIS_REPLY_ARRAY) return -1;
    int n = 0;
    for (size_t i = 0; i < r->elements && n < max; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
            e->element[0]->type != REDIS_REPLY_INTEGER || e->element[1]->type != REDIS_REPLY_INTEGER ||
            e->element[2]->type != REDIS_REPLY_ARRAY || e->element[2]->elements < 2)
            return -1;
        const redisReply *node = e->element[2];
        long long from = e->element[0]->integer, to = e->element[1]->integer;
        if (from < 0 || to < from || to >= KUE_CLUSTER_SLOTS ||
            node->element[0]->type != REDIS_REPLY_STRING || node->element[1]->type != REDIS_REPLY_INTEGER ||
            node->element[1]->integer <= 0 || node->element[1]->integer > 65535)
            return -1;
        const char *host = node->element[0]->str;
        if (!host[0] || !strcmp(host, "?")) host = from_host;
        if (strlen(host) >= sizeof out[n].host) return -1;
        out[n].from = (unsigned)from;
        out[n].to = (unsigned)to;
        snprintf(out[n].host, sizeof out[n].host, "%s", host);
        out[n].port = (int)node->element[1]->integer;
        n++;
    }
    return n;
}

const kue_slot_range_t *kue_cluster_lookup(const kue_slot_range_t *map, int n, unsigned slot)
{
    for (int i = 0; i < n; i++)
        if (slot >= map[i].from && slot <= map[i].to) return &map[i];
    return NULL;
}

int kue_cluster_redirect(const redisReply *r, unsigned *slot, char *host, size_t hostlen, int *port)
{
    if (!r || r->type != REDIS_REPLY_ERROR || !r->str) return 0;
    int kind;
    const char *p;
    if (!strncmp(r->str, "MOVED ", 6)) { kind = 1; p = r->str + 6; }
    else if (!strncmp(r->str, "ASK ", 4)) { kind = 2; p = r->str + 4; }
    else return 0;
    char *end;
    unsigned long s = strtoul(p, &end, 10);
    if (end == p || *end != ' ' || s >= KUE_CLUSTER_SLOTS) return 0;
    p = end + 1;
    const char *colon = strrchr(p, ':');
    if (!colon || (size_t)(colon - p) >= hostlen) return 0;
    long long port_v;
    if (kue_parse_int(colon + 1, 1, 65535, &port_v) != 0) return 0;
    memcpy(host, p, (size_t)(colon - p));
    host[colon - p] = '\0';
    if (!host[0]) return 0;
    *slot = (unsigned)s;
    *port = (int)port_v;
    return kind;
}

/* ---- finding the queue's master ----------------------------------------- */

#define SEED_CONNECT_MS 150
#define SEED_REPLY_MS 250
#define MAP_MAX 1024

static int ask_seed(kue_url_t *u, int i, unsigned slot, char *why, size_t whylen)
{
    struct timeval ct = { 0, SEED_CONNECT_MS * 1000 };
    redisContext *c = redisConnectWithTimeout(u->seeds[i].host, u->seeds[i].port, ct);
    if (!c || c->err) {
        snprintf(why, whylen, "%s", c ? c->errstr : "out of memory");
        if (c) redisFree(c);
        return -1;
    }
    struct timeval rt = { 0, SEED_REPLY_MS * 1000 };
    redisSetTimeout(c, rt);
    int rc = -1;
    redisReply *r = NULL;
    if (u->password[0]) {
        r = u->user[0] ? redisCommand(c, "AUTH %s %s", u->user, u->password)
                       : redisCommand(c, "AUTH %s", u->password);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            snprintf(why, whylen, "AUTH refused: %s", r ? r->str : c->errstr);
            goto out;
        }
        freeReplyObject(r);
    }
    r = redisCommand(c, "CLUSTER SLOTS");
    kue_slot_range_t *map = malloc(MAP_MAX * sizeof *map);
    int n = r && map ? kue_cluster_parse_slots(r, u->seeds[i].host, map, MAP_MAX) : -1;
    const kue_slot_range_t *m = n > 0 ? kue_cluster_lookup(map, n, slot) : NULL;
    if (!r) {
        snprintf(why, whylen, "%s", c->errstr[0] ? c->errstr : "no reply");
    } else if (r->type == REDIS_REPLY_ERROR) {
        snprintf(why, whylen, "%s", r->str);
    } else if (!m) {
        snprintf(why, whylen, "no master serves slot %u", slot);
    } else {
        snprintf(u->host, sizeof u->host, "%s", m->host);
        u->port = m->port;
        rc = 0;
    }
    free(map);
out:
    if (r) freeReplyObject(r);
    redisFree(c);
    return rc;
}

int kue_cluster_resolve(kue_url_t *u, char *err, size_t errlen)
{
    if (u->nseeds <= 0) return 0;
    unsigned slot = kue_key_slot(u->route, strlen(u->route));
    size_t o = 0;
    if (err && errlen) {
        o = (size_t)snprintf(err, errlen, "no cluster node named the master of %s (slot %u):",
                             u->route, slot);
        if (o >= errlen) o = errlen - 1;
    }
    for (int k = 0; k < u->nseeds; k++) {
        char why[160];
        if (ask_seed(u, k, slot, why, sizeof why) == 0) return 0;
        if (err && o < errlen)
            o += (size_t)snprintf(err + o, errlen - o, " %s:%d %s;", u->seeds[k].host, u->seeds[k].port,
                                  why);
        if (o >= errlen) o = errlen - 1;
    }
    u->host[0] = '\0';
    u->port = 0;
    return -1;
}
