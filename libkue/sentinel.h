/*
 * sentinel.h -- find the current master of a redis-sentinel:// URL.
 *
 * hiredis 0.14 knows nothing of Sentinel, so this is the small client side
 * of the protocol: ask each listed sentinel in turn for the master's address
 * (SENTINEL get-master-addr-by-name), the first answer wins.  Callers then
 * connect there and confirm with ROLE that the server really is a master
 * (kue_role_is_master), since a sentinel may answer with stale data during
 * a failover.  Every step is bounded by short timeouts: the whole lookup
 * takes at most about 250 ms per sentinel that does not answer.
 */
#ifndef KUE_SENTINEL_H
#define KUE_SENTINEL_H

#include <stddef.h>
#include <hiredis/hiredis.h>
#include "url.h"

/* Fill u->host/u->port with the master's address.  0, or -1 with the
 * reason (every sentinel's) in err.  A no-op returning 0 for other URLs. */
int kue_sentinel_resolve(kue_url_t *u, char *err, size_t errlen);

/* Non-zero when r is a ROLE reply of a master. */
int kue_role_is_master(const redisReply *r);

/* Non-zero for an error reply after which the connection must be dropped
 * and the master found again: the server was demoted (READONLY), lost its
 * master (MASTERDOWN), is loading (LOADING), or unblocked us because its
 * role changed (UNBLOCKED), or a cluster moved the queue's slot (MOVED). */
int kue_reply_wants_failover(const redisReply *r);

#endif
