/*
 * The search tokeniser on fixed cases taken from reds 0.2.5 / natural 0.2.1
 * (docs/wire.md section 8); the exhaustive comparison is search_ref.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "search.h"

static void expect(const char *text, const char *const *codes, const long *counts, size_t n)
{
    kue_search_term_t *t;
    size_t m;
    cr_assert_eq(kue_search_terms(text, strlen(text), &t, &m), 0);
    cr_assert_eq(m, n, "\"%s\": %zu terms, expected %zu", text, m, n);
    for (size_t i = 0; i < n; i++) {
        cr_assert_str_eq(t[i].code, codes[i], "\"%s\" term %zu", text, i);
        cr_assert_eq(t[i].count, counts[i], "\"%s\" count %zu", text, i);
    }
    free(t);
}

Test(search_tokens, wire_doc_example)
{
    const char *data = "{\"title\":\"convert avi video\",\"user\":\"tj\"}";
    static const char *const c[] = { "TTL", "KNFRT", "AF", "FT", "USR", "TJ" };
    static const long k[] = { 1, 1, 1, 1, 1, 1 };
    expect(data, c, k, 6);
    kue_search_term_t *t;
    size_t n;
    cr_assert_eq(kue_search_job_terms(data, strlen(data), NULL, &t, &n), 0);
    cr_assert_eq(n, 6);
    free(t);
}

Test(search_tokens, stop_words_case_numbers_counts)
{
    static const char *const c1[] = { "0" };
    static const long k1[] = { 1 };
    expect("The the", c1, k1, 1);
    static const char *const c2[] = { "42", "FT" };
    static const long k2[] = { 2, 3 };
    /* array-index stems first; counts per stem, the later ZADD wins */
    expect("video videos 42 videoing 42 7", c2, k2, 2);
    expect("", NULL, NULL, 0);
    expect("the a 1 _ é 日本", NULL, NULL, 0);
    static const char *const c3[] = { "KF", "TN" };
    static const long k3[] = { 1, 1 };
    expect("café don't", c3, k3, 2);   /* caf, don, t (stop word) */
}

Test(search_tokens, object_key_quirks)
{
    /* "constructor" and "__proto__" never reach Redis through reds */
    static const char *const c[] = { "BLT" };
    static const long k[] = { 1 };
    expect("constructor __proto__ build constructors", c, k, 1);
}

Test(search_tokens, stem_and_metaphone)
{
    static const struct { const char *w, *stem, *code; } v[] = {
        { "running", "run", "RN" }, { "happy", "happi", "HP" }, { "generalization", "gener", "JNR" },
        { "TJ", "TJ", "TJ" }, { "Knight", "knight", "NT" }, { "caresses", "caress", "KRS" },
        { "ponies", "poni", "PN" }, { "undefined", "undefin", "UNTFN" },
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        char s[64], m[128];
        long sn = kue_search_stem(v[i].w, strlen(v[i].w), s, sizeof s);
        cr_assert(sn >= 0);
        cr_assert_str_eq(s, v[i].stem, "stem(%s)", v[i].w);
        cr_assert(kue_search_metaphone(s, (size_t)sn, m, sizeof m) >= 0);
        cr_assert_str_eq(m, v[i].code, "metaphone(%s)", s);
    }
}

Test(search_tokens, query)
{
    kue_search_term_t *t;
    size_t n;
    cr_assert_eq(kue_search_query(NULL, 0, &t, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(t[0].code, "UNTFN");
    free(t);
    cr_assert_eq(kue_search_query("video videos the", 16, &t, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(t[0].code, "FT");
    cr_assert_eq(t[0].count, 2);
    free(t);
    cr_assert_eq(kue_search_query("the", 3, &t, &n), 0);
    cr_assert_eq(n, 0);
}

Test(search_tokens, job_texts_search_keys)
{
    const char *data = "{\"a\":{\"b\":[\"x y\",2]},\"n\":1.50,\"s\":\"str\"}";
    const char *keys = "[\"a.b[0]\",\"a.b\",\"n\",\"missing\",\"s\"]";
    char **tx;
    size_t *ln, nt;
    cr_assert_eq(kue_search_job_texts(data, strlen(data), keys, &tx, &ln, &nt), 0);
    cr_assert_eq(nt, 5);
    cr_assert_str_eq(tx[0], "x y");
    cr_assert_str_eq(tx[1], "[\"x y\",2]");
    cr_assert_str_eq(tx[2], "1.5");
    cr_assert_str_eq(tx[3], "undefined");
    cr_assert_str_eq(tx[4], "str");
    kue_search_texts_free(tx, ln, nt);
    /* no searchKeys: JSON.stringify of the parsed data */
    cr_assert_eq(kue_search_job_texts("{ \"b\" : 1.0, \"1\" : null }", 25, NULL, &tx, &ln, &nt), 0);
    cr_assert_eq(nt, 1);
    cr_assert_str_eq(tx[0], "{\"1\":null,\"b\":1}");
    kue_search_texts_free(tx, ln, nt);
    /* falsy data is {} */
    cr_assert_eq(kue_search_job_texts("null", 4, NULL, &tx, &ln, &nt), 0);
    cr_assert_str_eq(tx[0], "{}");
    kue_search_texts_free(tx, ln, nt);
}

Test(search_tokens, long_and_big_inputs)
{
    /* a long word is processed in linear time; its code does not fit */
    size_t n = 200000;
    char *s = malloc(n + 1);
    for (size_t i = 0; i < n; i++) s[i] = "xa"[i & 1];
    s[n] = 0;
    kue_search_term_t *t;
    size_t m;
    cr_assert_eq(kue_search_terms(s, n, &t, &m), 0);
    cr_assert_eq(m, 0);
    for (size_t i = 0; i < n; i++) s[i] = (i % 7 == 6) ? ' ' : "abcdefghij"[i % 10];
    cr_assert_eq(kue_search_terms(s, n, &t, &m), 0);
    cr_assert(m > 0);
    free(t);
    free(s);
}
