/*
 * connect.c -- every kue_t of kue-web is made here, so each carries the key
 * style kue-web was started with (--key-style; docs/wire.md) and the wait
 * for replicas after a save (--wait-replicas, --wait-timeout).
 */
#include "web.h"

#include <stdio.h>
#include <string.h>

#include "keys.h"

static const char *key_style = "plain";   /* set by main before any thread runs */
static int wait_n, wait_ms = 1000;          /* likewise */

int web_set_wait_replicas(int n, int timeout_ms)
{
    if (n >= 0) wait_n = n;
    if (timeout_ms >= 0) wait_ms = timeout_ms;
    return 0;
}

int web_set_key_style(const char *style)
{
    if (kue_key_style_parse(style) < 0) return -1;
    key_style = style;
    return 0;
}

kue_t *web_kue_connect(const char *url, const char *prefix, char *err, size_t errlen)
{
    kue_t *k = kue_connect(url, prefix, err, errlen);
    /* plain is the default (and a cluster URL has already chosen hashtag) */
    if (k && strcmp(key_style, "plain") != 0 && kue_set_key_style(k, key_style) != 0) {
        snprintf(err, errlen, "%s", kue_errstr(k));
        kue_free(k);
        return NULL;
    }
    if (k && wait_n > 0 && kue_set_wait_replicas(k, wait_n, wait_ms) != 0) {
        snprintf(err, errlen, "%s", kue_errstr(k));
        kue_free(k);
        return NULL;
    }
    return k;
}
