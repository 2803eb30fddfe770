/*
 * sentinel.c -- master discovery through Redis Sentinel (see sentinel.h).
 */
#include "sentinel.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "util.h"

#define SENTINEL_CONNECT_MS 150
#define SENTINEL_REPLY_MS 100

static int ask_one(const kue_url_t *u, int i, char *host, size_t hostlen, int *port,
                   char *why, size_t whylen)
{
    struct timeval ct = { 0, SENTINEL_CONNECT_MS * 1000 };
    redisContext *c = redisConnectWithTimeout(u->sentinels[i].host, u->sentinels[i].port, ct);
    if (!c || c->err) {
        snprintf(why, whylen, "%s", c ? c->errstr : "out of memory");
        if (c) redisFree(c);
        return -1;
    }
    struct timeval rt = { 0, SENTINEL_REPLY_MS * 1000 };
    redisSetTimeout(c, rt);
    int rc = -1;
    redisReply *r = NULL;
    if (u->sentinel_password[0]) {
        r = redisCommand(c, "AUTH %s", u->sentinel_password);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            snprintf(why, whylen, "AUTH refused: %s", r ? r->str : c->errstr);
            goto out;
        }
        freeReplyObject(r);
    }
    r = redisCommand(c, "SENTINEL get-master-addr-by-name %s", u->master_name);
    if (!r) {
        snprintf(why, whylen, "%s", c->errstr[0] ? c->errstr : "no reply");
    } else if (r->type == REDIS_REPLY_ERROR) {
        snprintf(why, whylen, "%s", r->str);
    } else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
               r->element[0]->type != REDIS_REPLY_STRING ||
               r->element[1]->type != REDIS_REPLY_STRING) {
        snprintf(why, whylen, "does not know master \"%s\"", u->master_name);
    } else {
        long long p;
        if (r->element[0]->len >= hostlen ||
            kue_parse_int(r->element[1]->str, 1, 65535, &p) != 0) {
            snprintf(why, whylen, "answered a bad address");
        } else {
            memcpy(host, r->element[0]->str, r->element[0]->len);
            host[r->element[0]->len] = '\0';
            *port = (int)p;
            rc = 0;
        }
    }
out:
    if (r) freeReplyObject(r);
    redisFree(c);
    return rc;
}

int kue_sentinel_resolve(kue_url_t *u, char *err, size_t errlen)
{
    if (u->nsentinels <= 0) return 0;
    size_t o = 0;
    if (err && errlen) {
        o = (size_t)snprintf(err, errlen, "no sentinel named a master \"%s\":", u->master_name);
        if (o >= errlen) o = errlen - 1;
    }
    for (int i = 0; i < u->nsentinels; i++) {
        char why[160];
        if (ask_one(u, i, u->host, sizeof u->host, &u->port, why, sizeof why) == 0)
            return 0;
        if (err && o < errlen)
            o += (size_t)snprintf(err + o, errlen - o, " %s:%d %s;", u->sentinels[i].host,
                                  u->sentinels[i].port, why);
        if (o >= errlen) o = errlen - 1;
    }
    u->host[0] = '\0';
    u->port = 0;
    return -1;
}

int kue_role_is_master(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
           r->element[0]->type == REDIS_REPLY_STRING && !strcmp(r->element[0]->str, "master");
}

int kue_reply_wants_failover(const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ERROR || !r->str) return 0;
    /* MOVED: the queue's slot now lives on another master (cluster.h) */
    static const char *const codes[] = { "READONLY", "MASTERDOWN", "LOADING", "UNBLOCKED", "MOVED" };
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        size_t n = strlen(codes[i]);
        if (!strncmp(r->str, codes[i], n) && (r->str[n] == ' ' || r->str[n] == '\0'))
            return 1;
    }
    return 0;
}
