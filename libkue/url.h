/*
 * url.h -- Redis endpoint URLs.  Pure parser, no I/O.
 *
 *   redis://[[user]:password@]host[:port][/db][?db=N&password=P]
 *   unix:///path.sock[?db=N][&password=P]
 *   redis-sentinel://[[user]:password@]host:port[,host:port...]/master[?db=N
 *                    &sentinel_password=P]
 *
 * A sentinel URL names sentinels, not the server: host and port stay empty
 * until kue_sentinel_resolve() (sentinel.h) asks the sentinels for the
 * master's address.  user/password are the data server's credentials.
 */
#ifndef KUE_URL_H
#define KUE_URL_H

#include <stddef.h>

#define KUE_URL_MAX_SENTINELS 8

typedef struct kue_url {
    char host[256];        /* empty for unix sockets */
    int port;              /* default 6379 */
    char path[108];        /* unix socket path, or empty */
    int db;                /* default 0 */
    char password[256];    /* empty: no AUTH */
    char user[128];        /* ACL user for AUTH; empty: the default user */
    /* redis-sentinel:// only (nsentinels > 0). */
    int nsentinels;
    struct { char host[256]; int port; } sentinels[KUE_URL_MAX_SENTINELS];
    char master_name[128];
    char sentinel_password[256];
} kue_url_t;

/* Parse url (NULL or "": redis://127.0.0.1:6379/0).  0 ok; -1 with a
 * message in err. */
int kue_url_parse(const char *url, kue_url_t *out, char *err, size_t errlen);
/* A printable form without the password (for logs); for a sentinel URL,
 * the sentinels and master name, then the resolved address if any. */
void kue_url_format(const kue_url_t *u, char *buf, size_t len);

#endif
