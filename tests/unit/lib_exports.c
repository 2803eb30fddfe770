/*
 * libkue.so exports exactly the public API: every function marked KUE_API
 * in include/kue/kue.h and async.h, and nothing else (the toolkit modules
 * linked into the library stay hidden).  Run from the source root, as
 * `make test` does; KUE_BUILD names the build directory.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXSYM 512

typedef struct {
    char *v[MAXSYM];
    size_t n;
} names_t;

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add(names_t *s, const char *name, size_t len)
{
    cr_assert_lt(s->n, MAXSYM);
    s->v[s->n++] = strndup(name, len);
}

/* The function name of each "KUE_API ... name(" declaration in path. */
static void header_api(const char *path, names_t *out)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s (run from the source root)", path);
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "KUE_API ", 8) != 0)
            continue;
        char *paren = strchr(line, '(');
        cr_assert_not_null(paren, "%s: KUE_API line without '(': %s", path, line);
        char *end = paren;
        while (end > line && isspace((unsigned char)end[-1]))
            end--;
        char *start = end;
        while (start > line && (isalnum((unsigned char)start[-1]) || start[-1] == '_'))
            start--;
        add(out, start, (size_t)(end - start));
    }
    fclose(f);
}

static void so_exports(const char *so, names_t *out)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "nm -D --defined-only '%s'", so);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char line[1024];
    while (fgets(line, sizeof line, p)) {
        char addr[64], type[8], name[512];
        if (sscanf(line, "%63s %7s %511s", addr, type, name) != 3)
            continue;
        add(out, name, strlen(name));
    }
    cr_assert_eq(pclose(p), 0, "nm -D failed on %s", so);
}

Test(lib_exports, exactly_the_public_api)
{
    const char *b = getenv("KUE_BUILD");
    char so[4096];
    snprintf(so, sizeof so, "%s/lib/libkue.so", b ? b : "build");

    names_t api = {0}, exp = {0};
    header_api("include/kue/kue.h", &api);
    header_api("include/kue/async.h", &api);
    so_exports(so, &exp);
    cr_assert_gt(api.n, 40, "found only %zu KUE_API declarations", api.n);
    qsort(api.v, api.n, sizeof *api.v, cmp);
    qsort(exp.v, exp.n, sizeof *exp.v, cmp);

    size_t i = 0, j = 0;
    int bad = 0;
    while (i < api.n || j < exp.n) {
        int c = i == api.n ? 1 : j == exp.n ? -1 : strcmp(api.v[i], exp.v[j]);
        if (c < 0) {
            cr_log_error("declared KUE_API but not exported: %s", api.v[i++]);
            bad++;
        } else if (c > 0) {
            cr_log_error("exported but not in a public header: %s", exp.v[j++]);
            bad++;
        } else {
            i++, j++;
        }
    }
    cr_expect_eq(bad, 0, "%d symbol(s) differ between the headers and libkue.so", bad);
    for (i = 0; i < api.n; i++)
        free(api.v[i]);
    for (j = 0; j < exp.n; j++)
        free(exp.v[j]);
}
