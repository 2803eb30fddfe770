/*
 * queues.c -- the queues one kue-web serves (docs/kue-web.md#queues).
 *
 * A queue is a key prefix.  --prefix takes a comma-separated list; the
 * first is the default queue, which every route answers for when the
 * request names none, so a single prefix behaves as before.  A request
 * names another with ?queue=P, and only a configured name is accepted: a
 * client never chooses an arbitrary prefix.
 */
#include "web.h"

#include <stdio.h>
#include <string.h>

static int name_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == 0x7f) return 0;
    }
    return 1;
}

int web_queues_parse(const char *list, web_queues_t *q, char *err, size_t errlen)
{
    memset(q, 0, sizeof *q);
    if (!list || !*list) {
        snprintf(err, errlen, "--prefix: empty (want P or P1,P2,...)");
        return -1;
    }
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n == 0) {
            snprintf(err, errlen, "--prefix: an empty item in \"%.200s\"", list);
            return -1;
        }
        if (n > WEB_QUEUE_NAME_MAX) {
            snprintf(err, errlen, "--prefix: \"%.40s...\" is longer than %d bytes", p,
                     WEB_QUEUE_NAME_MAX);
            return -1;
        }
        if (!name_ok(p, n)) {
            snprintf(err, errlen, "--prefix: \"%.*s\" holds a blank or control character",
                     (int)n, p);
            return -1;
        }
        if (q->n >= WEB_MAX_QUEUES) {
            snprintf(err, errlen, "--prefix: more than %d queues", WEB_MAX_QUEUES);
            return -1;
        }
        char name[WEB_QUEUE_NAME_MAX + 1];
        memcpy(name, p, n);
        name[n] = '\0';
        if (web_queue_index(q, name) >= 0) {
            snprintf(err, errlen, "--prefix: \"%s\" is listed twice", name);
            return -1;
        }
        memcpy(q->name[q->n++], name, n + 1);
        if (!comma) break;
        p = comma + 1;
    }
    return 0;
}

int web_queue_index(const web_queues_t *q, const char *name)
{
    if (!name) return -1;
    for (int i = 0; i < q->n; i++)
        if (strcmp(q->name[i], name) == 0) return i;
    return -1;
}

int web_ctx_nqueues(const web_ctx_t *ctx)
{
    return ctx->queues.n > 0 ? ctx->queues.n : 1;
}

const char *web_ctx_queue(const web_ctx_t *ctx, int i)
{
    if (ctx->queues.n > 0 && i >= 0 && i < ctx->queues.n) return ctx->queues.name[i];
    return ctx->prefix ? ctx->prefix : "q";
}
