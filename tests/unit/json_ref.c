/*
 * The common JSON reader and writer against JavaScript itself (Node's
 * JSON.parse and JSON.stringify, run by tests/node/json-ref.js): thousands
 * of generated texts, valid and broken, with numbers of every form (beyond
 * 64 bits, beyond a double, -0), lone surrogates, escapes, repeated and
 * array-index keys, whitespace.  For each, kue_json_normalize() must refuse
 * exactly what JSON.parse refuses and otherwise give JSON.stringify's text,
 * byte for byte.  Skips, saying so, when node is not installed.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "harness.h"
#include "json.h"

#define NCASES 6000

static unsigned long long seed = 88172645463325252ULL;
static unsigned rnd(unsigned n)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return (unsigned)(seed % n);
}

static const char *const atoms[] = {
    "0", "-0", "1", "-1", "1.5", "1e5", "1E+2", "2e-7", "0.1", "0.30000000000000004",
    "123456789012345678901234567890", "1e400", "-1e-400", "9007199254740993", "1.5e20",
    "9223372036854775808", "5e-324", "\"a\"", "\"\\ud800\"", "\"\\udc00\\ud800\"",
    "\"\\ud83d\\ude00\"", "\"\\u0000\"", "\"\\/\"", "\"\xc3\xa9\xe2\x9c\x93\"",
    "\"\\b\\f\\n\\r\\t\\\"\\\\\"", "\"\\u2028\\u001f\\u007F\"", "true", "false", "null", "\"\"",
};
static const char *const keys[] = {
    "\"a\"", "\"b\"", "\"0\"", "\"1\"", "\"01\"", "\"10\"", "\"4294967295\"", "\"4294967294\"",
    "\"__proto__\"", "\"\\u0061\"", "\"\xc3\xa9\"", "\"\\ud800\"",
};
static const char *const breakers[] = {
    "01", "1.", ".5", "+1", "NaN", "Infinity", "\"\\x\"", "\"\t\"", "'a'", "tru", "1e", "-",
    "\"\\u12\"", ",", "]", "}", "\"", ":", " ",
};
static const char *const commas[] = { ",", " ,", ", ", "\n,\t" };

static void value(kue_buf_t *b, int depth)
{
    unsigned r = rnd(10);
    if (depth > 4 || r < 4) {
        kue_buf_puts(b, atoms[rnd(sizeof atoms / sizeof *atoms)]);
    } else if (r < 7) {
        kue_buf_putc(b, '[');
        for (unsigned i = 0, n = rnd(5); i < n; i++) {
            if (i) kue_buf_puts(b, commas[rnd(4)]);
            value(b, depth + 1);
        }
        kue_buf_putc(b, ']');
    } else {
        kue_buf_putc(b, '{');
        for (unsigned i = 0, n = rnd(6); i < n; i++) {
            if (i) kue_buf_puts(b, commas[rnd(4)]);
            kue_buf_puts(b, keys[rnd(sizeof keys / sizeof *keys)]);
            kue_buf_putc(b, ':');
            value(b, depth + 1);
        }
        kue_buf_putc(b, '}');
    }
}

/* One generated text: a value, sometimes broken or cut. */
static void one_case(kue_buf_t *b)
{
    kue_buf_reset(b);
    value(b, 0);
    unsigned r = rnd(20);
    if (r < 3) {
        size_t at = rnd((unsigned)b->len + 1);
        const char *ins = breakers[rnd(sizeof breakers / sizeof *breakers)];
        kue_buf_t t;
        kue_buf_init(&t);
        kue_buf_append(&t, b->p, at);
        kue_buf_puts(&t, ins);
        kue_buf_append(&t, b->p + at, b->len - at);
        kue_buf_reset(b);
        kue_buf_append(b, t.p, t.len);
        kue_buf_free(&t);
    } else if (r == 3) {
        b->len = rnd((unsigned)b->len + 1);
        b->p[b->len] = '\0';
    }
}

static void hex(FILE *f, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) fprintf(f, "%02x", (unsigned char)s[i]);
    fputc('\n', f);
}

Test(json_ref, normalize_is_json_stringify_of_json_parse)
{
    if (system("node --version >/dev/null 2>&1") != 0)
        cr_skip_test("node is not installed: JSON reference comparison skipped");
    char path[4200];
    snprintf(path, sizeof path, "%s/json-cases.txt", kt_tmpdir());
    FILE *f = fopen(path, "w");
    cr_assert(f);
    char **cases = calloc(NCASES, sizeof *cases);
    size_t *lens = calloc(NCASES, sizeof *lens);
    kue_buf_t b;
    kue_buf_init(&b);
    for (int i = 0; i < NCASES; i++) {
        one_case(&b);
        cr_assert(!b.oom);
        cases[i] = malloc(b.len + 1);
        memcpy(cases[i], b.p, b.len + 1);
        lens[i] = b.len;
        hex(f, b.p, b.len);
    }
    kue_buf_free(&b);
    fclose(f);
    char *out = NULL;
    char *args[] = { path, NULL };
    cr_assert_eq(kt_node_run("json-ref.js", args, &out, 120000), 0, "json-ref.js failed");
    cr_assert_not_null(out);
    int i = 0, bad = 0, refused = 0;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line && i < NCASES;
         line = strtok_r(NULL, "\n", &save), i++) {
        char *ours = kue_json_normalize(cases[i], lens[i], NULL, 0);
        char want[1 << 14];
        int same;
        if (!strcmp(line, "ERR")) {
            refused++;
            same = ours == NULL;
        } else {
            size_t n = strlen(line) / 2;
            cr_assert_lt(n, sizeof want);
            for (size_t k = 0; k < n; k++) {
                unsigned v;
                sscanf(line + 2 * k, "%2x", &v);
                want[k] = (char)v;
            }
            want[n] = '\0';
            same = ours && !strcmp(ours, want);
        }
        if (!same && bad++ < 5)
            cr_log_error("case %d: %.*s\n  ours %s\n  node %s", i, (int)lens[i], cases[i],
                         ours ? ours : "(refused)", strcmp(line, "ERR") ? want : "(refused)");
        free(ours);
    }
    cr_expect_eq(i, NCASES, "node answered %d of %d cases", i, NCASES);
    cr_expect_eq(bad, 0, "%d of %d texts differ from JSON.stringify(JSON.parse())", bad, NCASES);
    cr_expect_gt(refused, NCASES / 20, "too few broken texts generated (%d)", refused);
    fprintf(stderr, "json_ref: %d texts, %d refused by JSON.parse, %d differences\n", i, refused, bad);
    for (int k = 0; k < NCASES; k++) free(cases[k]);
    free(cases);
    free(lens);
    free(out);
}
