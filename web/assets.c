/*
 * assets.c -- the dashboard files, compiled into the binary from
 * web/assets/ by scripts/embed.sh (so the page works offline, with no
 * files installed next to the program).
 */
#include "web.h"

#include <string.h>

struct kue_embedded { const char *name; const char *data; size_t len; };
extern const struct kue_embedded kue_web_assets[];

static const char *type_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot) return "application/octet-stream";
    if (!strcmp(dot, ".html")) return "text/html; charset=utf-8";
    if (!strcmp(dot, ".css")) return "text/css; charset=utf-8";
    if (!strcmp(dot, ".js")) return "text/javascript; charset=utf-8";
    if (!strcmp(dot, ".svg")) return "image/svg+xml";
    if (!strcmp(dot, ".png")) return "image/png";
    if (!strcmp(dot, ".ico")) return "image/x-icon";
    if (!strcmp(dot, ".json")) return "application/json; charset=utf-8";
    return "application/octet-stream";
}

const char *web_asset(const char *name, size_t *len, const char **ctype)
{
    if (!name || !*name || strchr(name, '/')) return NULL;
    for (const struct kue_embedded *a = kue_web_assets; a->name; a++) {
        if (strcmp(a->name, name) == 0) {
            *len = a->len;
            *ctype = type_of(name);
            return a->data;
        }
    }
    return NULL;
}
