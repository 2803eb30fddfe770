/*
 * fuzz_event.c -- messages on the P:events channel, as any Redis client
 * (Kue, another supervisor, a stranger) may publish them: libkue's event
 * parser must take any bytes, and what it returns must be bounded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <kue/kue.h>

#include "kue_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1024 * 1024)
        return 0;
    int64_t id = 0;
    char ev[32];
    memset(ev, 'x', sizeof ev);
    if (kue_event_parse((const char *)data, size, &id, ev, sizeof ev) == 0 &&
        memchr(ev, '\0', sizeof ev) == NULL)
        abort();   /* the event name must be terminated within its buffer */
    char small[4];
    kue_event_parse((const char *)data, size, &id, small, sizeof small);
    return 0;
}
