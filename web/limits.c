/*
 * limits.c -- bounds kue-web puts on what one request can cost
 * (docs/security.md).
 */
#include "web.h"

int web_range_clamp(long long *from, long long *to, long long count, long long max)
{
    long long f = *from, t = *to;
    if ((f < 0) != (t < 0)) {
        /* mixed (0..-1): the span depends on the set's size */
        if (count < 0)
            return 1;
        if (f < 0) f += count;
        if (t < 0) t += count;
        if (f < 0) f = 0;
    }
    if (t >= f && t - f + 1 > max) {
        *from = f;
        *to = f + max - 1;
    }
    return 0;
}
