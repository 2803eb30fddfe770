/*
 * buf.c -- response helpers (the buffer itself is common/buf.c).
 */
#include "web.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void web_resp_init(web_resp_t *r)
{
    memset(r, 0, sizeof *r);
    r->status = 200;
    r->ctype = WEB_CT_JSON;
    web_buf_init(&r->body);
}

void web_resp_free(web_resp_t *r)
{
    web_buf_free(&r->body);
}

void web_resp_json(web_resp_t *r, int status)
{
    r->status = status;
    r->ctype = WEB_CT_JSON;
}

void web_resp_error(web_resp_t *r, int status, const char *msg)
{
    web_buf_reset(&r->body);
    web_resp_json(r, status);
    web_buf_puts(&r->body, "{\"error\":");
    web_buf_json_str(&r->body, msg);
    web_buf_puts(&r->body, "}");
}
