/*
 * server.h -- start and stop the HTTP server of kue-web (libmicrohttpd).
 */
#ifndef KUE_WEB_SERVER_H
#define KUE_WEB_SERVER_H

#include <stddef.h>
#include "web.h"

typedef struct web_server_opts {
    const char *listen;          /* HOST:PORT, [V6]:PORT, :PORT or PORT (default 127.0.0.1:3000) */
    const char *auth;            /* "user:password" or NULL */
    const char *tls_cert, *tls_key;   /* PEM files, both or neither */
    const char *tls_cert_pem, *tls_key_pem;   /* or their contents (from the supervisor) */
    size_t max_body;             /* bytes (default 1 MiB) */
    size_t max_header;           /* bytes of request line + headers (default 16 KiB) */
    const char *allowed_hosts;   /* Host names accepted besides IPs, localhost and
                                    the listen host (comma-separated, "*" any) */
    unsigned max_connections;    /* default 256 (+16 kept for /healthz, /readyz) */
    unsigned max_per_client;     /* connections per client address (default 64) */
    unsigned max_streams;        /* open /events streams (default 64) */
    unsigned timeout_s;          /* idle and header-read timeout (default 10 s;
                                    event streams 60 s) */
    unsigned threads;            /* server threads (default 4) */
} web_server_opts_t;

typedef struct web_server web_server_t;

web_server_t *web_server_start(web_ctx_t *ctx, const web_server_opts_t *o, char *err,
                               size_t errlen);
int web_server_port(const web_server_t *s);
void web_server_stop(web_server_t *s);
/* "HOST:PORT" -> host, port.  0 / -1. */
int web_parse_listen(const char *listen, char *host, size_t hostlen, int *port);

#endif
