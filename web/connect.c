/*
 * connect.c -- every kue_t of kue-web is made here, so each carries the key
 * style kue-web was started with (--key-style; docs/wire.md).
 */
#include "web.h"

#include <stdio.h>
#include <string.h>

#include "keys.h"

static const char *key_style = "plain";   /* set by main before any thread runs */

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
    return k;
}
