/*
 * jsonout.c -- encode a jansson value as JavaScript's JSON.stringify does:
 * compact, object keys in insertion order, numbers in their shortest
 * round-trip form (0.1 stays 0.1, 2.0 becomes 2, 1e21 becomes 1e+21).
 * Job data is stored as text, so Kue and the dashboard read back exactly
 * what a Node producer would have written.
 */
#include "web.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void dump_real(web_buf_t *b, double d)
{
    if (!isfinite(d)) { web_buf_puts(b, "null"); return; }
    if (d == 0) { web_buf_puts(b, "0"); return; }
    char tmp[40];
    int prec;
    for (prec = 0; prec < 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec, d);
        if (strtod(tmp, NULL) == d) break;
    }
    if (prec == 17) snprintf(tmp, sizeof tmp, "%.16e", d);
    /* tmp: [-]D[.DDD]e[+-]XX */
    const char *p = tmp;
    int neg = 0;
    if (*p == '-') { neg = 1; p++; }
    char digits[24];
    int k = 0;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9' && k < (int)sizeof digits - 1) digits[k++] = *p;
    digits[k] = '\0';
    while (k > 1 && digits[k - 1] == '0') digits[--k] = '\0';
    int e = atoi(p + 1);
    int n = e + 1;
    if (neg) web_buf_puts(b, "-");
    if (k <= n && n <= 21) {
        web_buf_put(b, digits, (size_t)k);
        for (int i = 0; i < n - k; i++) web_buf_puts(b, "0");
    } else if (0 < n && n <= 21) {
        web_buf_put(b, digits, (size_t)n);
        web_buf_puts(b, ".");
        web_buf_put(b, digits + n, (size_t)(k - n));
    } else if (-6 < n && n <= 0) {
        web_buf_puts(b, "0.");
        for (int i = 0; i < -n; i++) web_buf_puts(b, "0");
        web_buf_put(b, digits, (size_t)k);
    } else {
        web_buf_put(b, digits, 1);
        if (k > 1) {
            web_buf_puts(b, ".");
            web_buf_put(b, digits + 1, (size_t)(k - 1));
        }
        web_buf_printf(b, "e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
    }
}

void web_json_dump(web_buf_t *b, const json_t *v)
{
    if (!v) { web_buf_puts(b, "null"); return; }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        web_buf_puts(b, "{");
        const char *key;
        json_t *val;
        int first = 1;
        json_object_foreach((json_t *)v, key, val) {
            if (!first) web_buf_puts(b, ",");
            first = 0;
            web_buf_json_str(b, key);
            web_buf_puts(b, ":");
            web_json_dump(b, val);
        }
        web_buf_puts(b, "}");
        break;
    }
    case JSON_ARRAY: {
        web_buf_puts(b, "[");
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i) web_buf_puts(b, ",");
            web_json_dump(b, json_array_get(v, i));
        }
        web_buf_puts(b, "]");
        break;
    }
    case JSON_STRING:
        web_buf_json_strn(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        web_buf_printf(b, "%lld", (long long)json_integer_value(v));
        break;
    case JSON_REAL:
        dump_real(b, json_real_value(v));
        break;
    case JSON_TRUE: web_buf_puts(b, "true"); break;
    case JSON_FALSE: web_buf_puts(b, "false"); break;
    case JSON_NULL: web_buf_puts(b, "null"); break;
    }
}
