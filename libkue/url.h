/*
 * url.h -- Redis endpoint URLs: redis://[:password@]host[:port][/db] and
 * unix:///path.sock[?db=N][&password=P].  Pure parser, no I/O.
 */
#ifndef KUE_URL_H
#define KUE_URL_H

#include <stddef.h>

typedef struct kue_url {
    char host[256];        /* empty for unix sockets */
    int port;              /* default 6379 */
    char path[108];        /* unix socket path, or empty */
    int db;                /* default 0 */
    char password[256];    /* empty: no AUTH */
} kue_url_t;

/* Parse url (NULL or "": redis://127.0.0.1:6379/0).  0 ok; -1 with a
 * message in err. */
int kue_url_parse(const char *url, kue_url_t *out, char *err, size_t errlen);
/* A printable form without the password (for logs). */
void kue_url_format(const kue_url_t *u, char *buf, size_t len);

#endif
