/*
 * url.h -- Redis endpoint URLs.  Pure parser, no I/O.
 *
 *   redis://[[user]:password@]host[:port][/db][?db=N&password=P]
 *   unix:///path.sock[?db=N][&password=P]
 *   redis-sentinel://[[user]:password@]host:port[,host:port...]/master[?db=N
 *                    &sentinel_password=P]
 *   redis-cluster://[[user]:password@]host:port[,host:port...][?password=P]
 *
 * A sentinel URL names sentinels, not the server: host and port stay empty
 * until kue_sentinel_resolve() (sentinel.h) asks the sentinels for the
 * master's address.  user/password are the data server's credentials.
 * A cluster URL names seed nodes: host and port stay empty until
 * kue_cluster_resolve() (cluster.h) reads the slot map from a seed and picks
 * the master of the slot of `route`, which the caller sets to the queue's
 * effective prefix ({P}: a cluster implies the hashtag key style).  Cluster
 * mode has db 0 only; a db in a cluster URL is an error.
 */
#ifndef KUE_URL_H
#define KUE_URL_H

#include <stddef.h>

#define KUE_URL_MAX_SENTINELS 8
#define KUE_URL_MAX_SEEDS 8

typedef struct kue_hostport { char host[256]; int port; } kue_hostport_t;

typedef struct kue_url {
    char host[256];        /* empty for unix sockets */
    int port;              /* default 6379 */
    char path[108];        /* unix socket path, or empty */
    int db;                /* default 0 */
    char password[256];    /* empty: no AUTH */
    char user[128];        /* ACL user for AUTH; empty: the default user */
    /* redis-sentinel:// only (nsentinels > 0). */
    int nsentinels;
    kue_hostport_t sentinels[KUE_URL_MAX_SENTINELS];
    char master_name[128];
    char sentinel_password[256];
    /* redis-cluster:// only (nseeds > 0). */
    int nseeds;
    kue_hostport_t seeds[KUE_URL_MAX_SEEDS];
    char route[136];       /* the key whose slot picks the master: the queue's {P} */
} kue_url_t;

/* Parse url (NULL or "": redis://127.0.0.1:6379/0).  0 ok; -1 with a
 * message in err. */
int kue_url_parse(const char *url, kue_url_t *out, char *err, size_t errlen);
/* A printable form without the password (for logs); for a sentinel URL,
 * the sentinels and master name, then the resolved address if any. */
void kue_url_format(const kue_url_t *u, char *buf, size_t len);

#endif
