/*
 * search.c -- reds 0.2.5 / natural 0.2.1 tokeniser (see search.h).
 *
 * natural's stemmer and metaphone are chains of JavaScript regular
 * expression replacements.  Each one is reproduced here as a small linear
 * scan with the same leftmost, non-overlapping, global-or-first semantics,
 * including the quirks that make natural differ from the textbook Porter
 * algorithm (fractional "measures", patterns checked against the original
 * token but applied to the running result, the <3-character shortcut).
 * Words are ASCII (\w), so every case mapping here is ASCII.
 */
#include "search.h"

#include "buf.h"
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small string helpers ------------------------------------------------ */

static int is_v5(char c) { return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'; }
static int is_v6(char c) { return is_v5(c) || c == 'y'; }
static int is_word(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static int ends_with(const char *s, size_t n, const char *suf)
{
    size_t k = strlen(suf);
    return n >= k && memcmp(s + n - k, suf, k) == 0;
}

/* The common buffer (common/buf.h), bounded to KUE_SEARCH_TEXT_MAX: going
 * past it sets oom, as running out of memory does. */
typedef kue_buf_t buf_t;
#define BUF_INIT { .max = KUE_SEARCH_TEXT_MAX }

static void buf_add(buf_t *b, const char *p, size_t k) { kue_buf_append(b, p, k); }
static void buf_addc(buf_t *b, char c) { kue_buf_putc(b, c); }
static void buf_adds(buf_t *b, const char *s) { kue_buf_puts(b, s); }

/* ---- stop words (natural 0.2.1 util/stopwords.js) -------------------------- */

static const char *const stopwords[] = {
    "about", "after", "all", "also", "am", "an", "and", "another", "any", "are", "as", "at", "be",
    "because", "been", "before", "being", "between", "both", "but", "by", "came", "can",
    "come", "could", "did", "do", "each", "for", "from", "get", "got", "has", "had",
    "he", "have", "her", "here", "him", "himself", "his", "how", "if", "in", "into",
    "is", "it", "like", "make", "many", "me", "might", "more", "most", "much", "must",
    "my", "never", "now", "of", "on", "only", "or", "other", "our", "out", "over",
    "said", "same", "see", "should", "since", "some", "still", "such", "take", "than",
    "that", "the", "their", "them", "then", "there", "these", "they", "this", "those",
    "through", "to", "too", "under", "up", "very", "was", "way", "we", "well", "were",
    "what", "where", "which", "while", "who", "with", "would", "you", "your",
    "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n",
    "o", "p", "q", "r", "s", "t", "u", "v", "w", "x", "y", "z", "$", "1",
    "2", "3", "4", "5", "6", "7", "8", "9", "0", "_",
};

int kue_search_is_stopword(const char *w, size_t len)
{
    if (len > 7) return 0;
    for (size_t i = 0; i < sizeof stopwords / sizeof *stopwords; i++)
        if (strlen(stopwords[i]) == len && memcmp(stopwords[i], w, len) == 0) return 1;
    return 0;
}

/* ---- Porter stemmer (natural 0.2.1 stemmers/porter_stemmer.js) ----------- */

/* Scratch for the categorised forms: stack for short words, heap else. */
typedef struct {
    char small[128];
    char *p;
} scratch_t;

static char *scratch_get(scratch_t *sc, size_t n)
{
    sc->p = n < sizeof sc->small ? sc->small : malloc(n + 1);
    return sc->p;
}

static void scratch_put(scratch_t *sc)
{
    if (sc->p && sc->p != sc->small) free(sc->p);
    sc->p = NULL;
}

/* categorizeGroups: /[^aeiouy]+y/g -> "CV", /[aeiou]+/g -> "V",
 * /[^V]+/g -> "C".  out holds n+1 bytes.  Returns the length. */
static size_t cat_groups(const char *s, size_t n, char *out)
{
    size_t i = 0, o = 0;
    while (i < n) {
        if (!is_v6(s[i])) {
            size_t j = i;
            while (j < n && !is_v6(s[j])) j++;
            if (j < n && s[j] == 'y') {
                out[o++] = 'C';
                out[o++] = 'V';
                i = j + 1;
            } else {
                /* no match can start anywhere inside this run */
                memcpy(out + o, s + i, j - i);
                o += j - i;
                i = j;
            }
        } else {
            out[o++] = s[i++];
        }
    }
    size_t m = 0;
    for (i = 0; i < o;) {
        if (is_v5(out[i])) {
            while (i < o && is_v5(out[i])) i++;
            out[m++] = 'V';
        } else {
            out[m++] = out[i++];
        }
    }
    size_t r = 0;
    for (i = 0; i < m;) {
        if (out[i] != 'V') {
            while (i < m && out[i] != 'V') i++;
            out[r++] = 'C';
        } else {
            out[r++] = out[i++];
        }
    }
    out[r] = 0;
    return r;
}

/* categorizeChars: /[^aeiouy]y/g -> "CV", /[aeiou]/g -> "V", /[^V]/g -> "C".
 * Same length as the input. */
static void cat_chars(const char *s, size_t n, char *out)
{
    size_t i = 0;
    while (i < n) {
        if (!is_v6(s[i]) && i + 1 < n && s[i + 1] == 'y') {
            out[i] = 'C';
            out[i + 1] = 'V';
            i += 2;
        } else {
            out[i] = s[i];
            i++;
        }
    }
    for (i = 0; i < n; i++) out[i] = is_v5(out[i]) || out[i] == 'V' ? 'V' : 'C';
    out[n] = 0;
}

/* Twice natural's measure(): its value can be a half-integer.  The empty
 * token (also standing for null) measures -1, i.e. -2 here. */
static long measure2(const char *s, size_t n)
{
    if (n == 0) return -2;
    scratch_t sc;
    char *g = scratch_get(&sc, n);
    if (!g) return -2;
    size_t k = cat_groups(s, n, g);
    size_t a = 0;
    if (k > 0 && g[0] == 'C') a = 1;
    if (k > a && g[k - 1] == 'V') k--;
    scratch_put(&sc);
    return (long)(k - a);
}

/* Does categorizeGroups(s) contain a 'V'? */
static int groups_have_v(const char *s, size_t n, size_t upto_drop)
{
    scratch_t sc;
    char *g = scratch_get(&sc, n);
    if (!g) return 0;
    size_t k = cat_groups(s, n, g);
    if (upto_drop) k = k ? k - 1 : 0;
    int v = memchr(g, 'V', k) != NULL;
    scratch_put(&sc);
    return v;
}

/* Compare the 3 characters categorizeChars(s).substr(start, 3) with "CVC",
 * start = max(n - back, 0). */
static int chars_cvc_at(const char *s, size_t n, size_t back)
{
    scratch_t sc;
    char *g = scratch_get(&sc, n);
    if (!g) return 0;
    cat_chars(s, n, g);
    size_t st = n >= back ? n - back : 0;
    int r = n - st >= 3 && memcmp(g + st, "CVC", 3) == 0;
    scratch_put(&sc);
    return r;
}

typedef struct {
    const char *pat, *rep;
} rule_t;

/* Twice the measure of the token with suffix pat (which it ends with)
 * removed: natural's measure(attemptReplace(token, pat, '')). */
static long measure_without(const char *t, size_t n, const char *pat)
{
    return measure2(t, n - strlen(pat));
}

/* attemptReplacePatterns(token, rules, threshold): every rule is tested on
 * the original token (when threshold >= 0: measure of the token without
 * the suffix must exceed it) but applied to the running result, and an
 * empty replacement result is ignored.  t is rewritten in place (capacity:
 * *n + 2). */
static void replace_patterns(char *t, size_t *n, const rule_t *rules, size_t nrules, int threshold)
{
    char orig[256];
    char *o = *n < sizeof orig ? orig : malloc(*n + 1);
    if (!o) return;
    size_t on = *n;
    memcpy(o, t, on);
    o[on] = 0;
    for (size_t i = 0; i < nrules; i++) {
        if (threshold >= 0) {
            long m = ends_with(o, on, rules[i].pat) ? measure_without(o, on, rules[i].pat) : -2;
            if (m <= 2 * threshold) continue;
        }
        if (!ends_with(t, *n, rules[i].pat)) continue;
        size_t keep = *n - strlen(rules[i].pat), rl = strlen(rules[i].rep);
        if (keep + rl == 0) continue;
        memcpy(t + keep, rules[i].rep, rl);
        *n = keep + rl;
        t[*n] = 0;
    }
    if (o != orig) free(o);
}

static void step1a(char *t, size_t *n)
{
    if (ends_with(t, *n, "sses") || ends_with(t, *n, "ies")) {
        *n -= 2;
    } else if (*n > 2 && t[*n - 1] == 's' && t[*n - 2] != 's') {
        *n -= 1;
    }
    t[*n] = 0;
}

static const rule_t rules_1b[] = { { "at", "ate" }, { "bl", "ble" }, { "iz", "ize" } };

static void step1b(char *t, size_t *n)
{
    if (ends_with(t, *n, "eed")) {
        if (measure2(t, *n - 3) > 0) {
            *n -= 1;
            t[*n] = 0;
        }
        return;
    }
    size_t k;
    if (ends_with(t, *n, "ed")) k = 2;
    else if (ends_with(t, *n, "ing")) k = 3;
    else return;
    size_t m = *n - k;
    if (m == 0) return;                 /* '' is falsy: token unchanged */
    if (!groups_have_v(t, m, 0)) return; /* callback gave null */
    t[m] = 0;
    size_t r = m;
    replace_patterns(t, &r, rules_1b, 3, -1);
    if (r != m) {                       /* a rule fired (they all grow it) */
        *n = r;
        return;
    }
    if (m >= 2 && t[m - 1] == t[m - 2] && !is_v5(t[m - 1]) &&
        t[m - 1] != 'l' && t[m - 1] != 's' && t[m - 1] != 'z') {
        *n = m - 1;
        t[*n] = 0;
        return;
    }
    if (measure2(t, m) == 2 && chars_cvc_at(t, m, 3) &&
        t[m - 1] != 'w' && t[m - 1] != 'x' && t[m - 1] != 'y') {
        t[m] = 'e';
        *n = m + 1;
        t[*n] = 0;
        return;
    }
    *n = m;
}

static void step1c(char *t, size_t *n)
{
    if (*n > 0 && t[*n - 1] == 'y' && groups_have_v(t, *n, 1)) t[*n - 1] = 'i';
}

static const rule_t rules_2[] = {
    { "ational", "ate" }, { "tional", "tion" }, { "enci", "ence" }, { "anci", "ance" },
    { "izer", "ize" }, { "abli", "able" }, { "bli", "ble" }, { "alli", "al" }, { "entli", "ent" },
    { "eli", "e" }, { "ousli", "ous" }, { "ization", "ize" }, { "ation", "ate" }, { "ator", "ate" },
    { "alism", "al" }, { "iveness", "ive" }, { "fulness", "ful" }, { "ousness", "ous" },
    { "aliti", "al" }, { "iviti", "ive" }, { "biliti", "ble" }, { "logi", "log" },
};

static const rule_t rules_3[] = {
    { "icate", "ic" }, { "ative", "" }, { "alize", "al" }, { "iciti", "ic" }, { "ical", "ic" },
    { "ful", "" }, { "ness", "" },
};

static const char *const suffixes_4[] = {
    "al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent", "ou",
    "ism", "ate", "iti", "ous", "ive", "ize",
};

static void step4(char *t, size_t *n)
{
    /* /^(.+?)(al|...|ize)$/: the shortest non-empty prefix whose rest is
     * exactly one of the suffixes. */
    size_t p0 = *n > 5 ? *n - 5 : 1;
    for (size_t p = p0; p < *n; p++) {
        size_t rl = *n - p;
        int hit = 0;
        for (size_t i = 0; i < sizeof suffixes_4 / sizeof *suffixes_4; i++)
            if (strlen(suffixes_4[i]) == rl && memcmp(suffixes_4[i], t + p, rl) == 0) hit = 1;
        if (!hit) continue;
        if (measure2(t, p) > 2) {
            *n = p;
            t[*n] = 0;
            return;
        }
        break;
    }
    /* /^(.+?)(s|t)(ion)$/ -> prefix + s|t */
    if (*n >= 5 && (ends_with(t, *n, "sion") || ends_with(t, *n, "tion")) && measure2(t, *n - 3) > 2) {
        *n -= 3;
        t[*n] = 0;
    }
}

static void step5a(char *t, size_t *n)
{
    size_t k = *n;
    if (k > 0 && t[k - 1] == 'e') k--;
    long m = measure2(t, k);
    int cvc = chars_cvc_at(t, *n, 4) && *n >= 2 && t[*n - 2] != 'w' && t[*n - 2] != 'x' &&
              t[*n - 2] != 'y';
    if (m > 2 || (m == 2 && !cvc)) {
        *n = k;
        t[*n] = 0;
    }
}

static void step5b(char *t, size_t *n)
{
    if (measure2(t, *n) > 2 && ends_with(t, *n, "ll")) {
        *n -= 1;
        t[*n] = 0;
    }
}

long kue_search_stem(const char *w, size_t len, char *out, size_t outlen)
{
    if (outlen < len + 2) return -1;
    memcpy(out, w, len);
    out[len] = 0;
    if (len < 3) return (long)len;
    size_t n = len;
    for (size_t i = 0; i < n; i++)
        if (out[i] >= 'A' && out[i] <= 'Z') out[i] = (char)(out[i] - 'A' + 'a');
    step1a(out, &n);
    step1b(out, &n);
    step1c(out, &n);
    replace_patterns(out, &n, rules_2, sizeof rules_2 / sizeof *rules_2, 0);
    replace_patterns(out, &n, rules_3, sizeof rules_3 / sizeof *rules_3, 0);
    step4(out, &n);
    step5a(out, &n);
    step5b(out, &n);
    out[n] = 0;
    return (long)n;
}

/* ---- Metaphone (natural 0.2.1 phonetics/metaphone.js) -------------------- */

/* Each pass reads s[0..n) and writes d, returning the new length; d has
 * room for 2n+1 bytes. */

static size_t mp_dedup(const char *s, size_t n, char *d)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] != 'c' && i + 1 < n && s[i + 1] == s[i]) {
            d[o++] = s[i];
            i += 2;
        } else {
            d[o++] = s[i++];
        }
    }
    return o;
}

/* Global replacement of a literal. */
static size_t mp_lit(const char *s, size_t n, char *d, const char *lit, const char *rep, int global)
{
    size_t ll = strlen(lit), rl = strlen(rep), o = 0;
    int done = 0;
    for (size_t i = 0; i < n;) {
        if (!done && i + ll <= n && memcmp(s + i, lit, ll) == 0) {
            memcpy(d + o, rep, rl);
            o += rl;
            i += ll;
            if (!global) done = 1;
        } else {
            d[o++] = s[i++];
        }
    }
    return o;
}

/* /([^X]|^)(Y)(Z)/g -> '$1R$3' where Z is one of the characters in zs. */
static size_t mp_prev_not(const char *s, size_t n, char *d, char x, char y, const char *zs, char r)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] != x && i + 2 < n && s[i + 1] == y && s[i + 2] && strchr(zs, s[i + 2])) {
            d[o++] = s[i];
            d[o++] = r;
            d[o++] = s[i + 2];
            i += 3;
        } else if (i == 0 && n >= 2 && s[0] == y && s[1] && strchr(zs, s[1])) {
            d[o++] = r;
            d[o++] = s[1];
            i += 2;
        } else {
            d[o++] = s[i++];
        }
    }
    return o;
}

/* /X(alt1|alt2|...)/g -> 'R$1': the first letter replaced, the group kept. */
static size_t mp_head(const char *s, size_t n, char *d, char x, const char *const *alts, char r)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t g = 0;
        if (s[i] == x) {
            for (const char *const *a = alts; *a; a++) {
                size_t al = strlen(*a);
                if (i + 1 + al <= n && memcmp(s + i + 1, *a, al) == 0) { g = al; break; }
            }
        }
        if (g) {
            d[o++] = r;
            memcpy(d + o, s + i + 1, g);
            o += g;
            i += 1 + g;
        } else {
            d[o++] = s[i++];
        }
    }
    return o;
}

/* /P([^aeiou]|$)/g -> 'R$1' (without the $ alternative when !at_end). */
static size_t mp_before_cons(const char *s, size_t n, char *d, const char *pre, const char *rep,
                             int at_end)
{
    size_t pl = strlen(pre), rl = strlen(rep), o = 0;
    for (size_t i = 0; i < n;) {
        int m = 0;
        if (i + pl <= n && memcmp(s + i, pre, pl) == 0) {
            if (i + pl < n) m = !is_v5(s[i + pl]);
            else m = at_end;
        }
        if (m) {
            memcpy(d + o, rep, rl);
            o += rl;
            if (i + pl < n) d[o++] = s[i + pl];
            i += pl + (i + pl < n ? 1 : 0);
        } else {
            d[o++] = s[i++];
        }
    }
    return o;
}

long kue_search_metaphone(const char *w, size_t len, char *out, size_t outlen)
{
    if (outlen < 2 * len + 1) return -1;
    if (len == 0) { out[0] = 0; return 0; }
    char *a = malloc(2 * len + 1), *b = malloc(2 * len + 1), *t;
    if (!a || !b) { free(a); free(b); return -1; }
    size_t n = len;
    for (size_t i = 0; i < n; i++)
        a[i] = (w[i] >= 'A' && w[i] <= 'Z') ? (char)(w[i] - 'A' + 'a') : w[i];
#define PASS(expr) do { n = (expr); t = a; a = b; b = t; } while (0)
    PASS(mp_dedup(a, n, b));
    /* dropInitialLetters */
    if (n >= 2 && (!memcmp(a, "kn", 2) || !memcmp(a, "gn", 2) || !memcmp(a, "pn", 2) ||
                   !memcmp(a, "ae", 2) || !memcmp(a, "wr", 2))) {
        memmove(a, a + 1, n - 1);
        n--;
    }
    if (ends_with(a, n, "mb")) n--;                      /* dropBafterMAtEnd */
    PASS(mp_lit(a, n, b, "ck", "k", 1));                  /* transformCK */
    PASS(mp_prev_not(a, n, b, 's', 'c', "h", 'x'));       /* cTransform */
    PASS(mp_lit(a, n, b, "cia", "xia", 1));
    {
        static const char *const iey[] = { "i", "e", "y", NULL };
        PASS(mp_head(a, n, b, 'c', iey, 's'));
    }
    PASS(mp_lit(a, n, b, "c", "k", 1));
    {                                                     /* dTransform */
        static const char *const g2[] = { "ge", "gy", "gi", NULL };
        PASS(mp_head(a, n, b, 'd', g2, 'j'));
    }
    PASS(mp_lit(a, n, b, "d", "t", 1));
    /* dropG: the ^$ alternative of /gh(^$|[^aeiou])/ can never match */
    PASS(mp_before_cons(a, n, b, "gh", "h", 0));
    if (ends_with(a, n, "gned")) {
        memmove(a + n - 4, a + n - 3, 3);
        n--;
    } else if (ends_with(a, n, "gn")) {
        a[n - 2] = 'n';
        n--;
    }
    PASS(mp_lit(a, n, b, "gh", "f", 1));                  /* transformG */
    PASS(mp_prev_not(a, n, b, 'g', 'g', "iey", 'j'));
    PASS(mp_lit(a, n, b, "gg", "g", 1));
    PASS(mp_lit(a, n, b, "g", "k", 1));
    {                                                     /* dropH */
        size_t o = 0;
        for (size_t i = 0; i < n;) {
            if (is_v5(a[i]) && i + 1 < n && a[i + 1] == 'h' && (i + 2 == n || !is_v5(a[i + 2]))) {
                b[o++] = a[i];
                if (i + 2 < n) b[o++] = a[i + 2];
                i += i + 2 < n ? 3 : 2;
            } else {
                b[o++] = a[i++];
            }
        }
        PASS(o);
    }
    PASS(mp_lit(a, n, b, "ph", "f", 1));                  /* transformPH */
    PASS(mp_lit(a, n, b, "q", "k", 1));                   /* transformQ */
    {
        static const char *const s3[] = { "h", "io", "ia", NULL };
        PASS(mp_head(a, n, b, 's', s3, 'x'));             /* transformS */
    }
    if (n > 0 && a[0] == 'x') a[0] = 's';                 /* transformX */
    PASS(mp_lit(a, n, b, "x", "ks", 1));
    {
        static const char *const t2[] = { "ia", "io", NULL };
        PASS(mp_head(a, n, b, 't', t2, 'x'));             /* transformT */
    }
    PASS(mp_lit(a, n, b, "th", "0", 0));
    PASS(mp_lit(a, n, b, "tch", "ch", 1));                /* dropT */
    PASS(mp_lit(a, n, b, "v", "f", 1));                   /* transformV */
    if (n >= 2 && a[0] == 'w' && a[1] == 'h') {           /* transformWH */
        memmove(a + 1, a + 2, n - 2);
        n--;
    }
    PASS(mp_before_cons(a, n, b, "w", "", 1));                /* dropW */
    PASS(mp_before_cons(a, n, b, "y", "", 1));                /* dropY */
    PASS(mp_lit(a, n, b, "z", "s", 0));                   /* transformZ */
    {                                                     /* dropVowels */
        size_t o = 1;
        for (size_t i = 1; i < n; i++)
            if (!is_v5(a[i])) a[o++] = a[i];
        if (n > 0) n = o;
    }
#undef PASS
    for (size_t i = 0; i < n; i++)
        out[i] = (a[i] >= 'a' && a[i] <= 'z') ? (char)(a[i] - 'a' + 'A') : a[i];
    out[n] = 0;
    free(a);
    free(b);
    return (long)n;
}

/* ---- tokenising texts ------------------------------------------------------ */

/* A string -> slot hash set over an array of items (open addressing). */
typedef struct {
    char *s;
    size_t n;
    long count;
    size_t first;   /* first-seen rank */
} item_t;

typedef struct {
    item_t *items;
    size_t n, cap;
    size_t *slots;  /* index+1, 0 = empty */
    size_t nslots;
} set_t;

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void set_free(set_t *st)
{
    for (size_t i = 0; i < st->n; i++) free(st->items[i].s);
    free(st->items);
    free(st->slots);
    memset(st, 0, sizeof *st);
}

static int set_grow(set_t *st)
{
    size_t ns = st->nslots ? st->nslots * 2 : 64;
    size_t *sl = calloc(ns, sizeof *sl);
    if (!sl) return -1;
    for (size_t i = 0; i < st->n; i++) {
        size_t h = (size_t)(hash_bytes(st->items[i].s, st->items[i].n) & (ns - 1));
        while (sl[h]) h = (h + 1) & (ns - 1);
        sl[h] = i + 1;
    }
    free(st->slots);
    st->slots = sl;
    st->nslots = ns;
    return 0;
}

/* Find or add s; returns the item, NULL on ENOMEM. */
static item_t *set_get(set_t *st, const char *s, size_t n, int *added)
{
    if ((st->n + 1) * 2 > st->nslots && set_grow(st) < 0) return NULL;
    size_t h = (size_t)(hash_bytes(s, n) & (st->nslots - 1));
    while (st->slots[h]) {
        item_t *it = &st->items[st->slots[h] - 1];
        if (it->n == n && memcmp(it->s, s, n) == 0) {
            *added = 0;
            return it;
        }
        h = (h + 1) & (st->nslots - 1);
    }
    if (st->n == st->cap) {
        size_t nc = st->cap ? st->cap * 2 : 32;
        item_t *p = realloc(st->items, nc * sizeof *p);
        if (!p) return NULL;
        st->items = p;
        st->cap = nc;
    }
    char *c = malloc(n + 1);
    if (!c) return NULL;
    memcpy(c, s, n);
    c[n] = 0;
    item_t *it = &st->items[st->n];
    it->s = c;
    it->n = n;
    it->count = 0;
    it->first = st->n;
    st->slots[h] = ++st->n;
    *added = 1;
    return it;
}

/* A canonical JavaScript array index ("0", "42", at most 4294967294):
 * Object.keys lists such keys first, in numeric order. */
static int array_index(const char *s, size_t n, uint64_t *v)
{
    if (n == 0 || n > 10 || (n > 1 && s[0] == '0')) return 0;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    if (x > 4294967294ULL) return 0;
    *v = x;
    return 1;
}

typedef struct {
    uint64_t key;
    int isidx;
    size_t pos;
} order_t;

static int order_cmp(const void *a, const void *b)
{
    const order_t *x = a, *y = b;
    if (x->isidx != y->isidx) return x->isidx ? -1 : 1;
    if (x->isidx && x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Walk the \w+ words of text, skip stop words, stem; calls fn per stem. */
typedef int (*stem_fn)(void *ctx, const char *stem, size_t n);

static int walk_stems(const char *text, size_t len, stem_fn fn, void *ctx)
{
    char small[256];
    char *sb = small;
    size_t sbcap = sizeof small;
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0;) {
        if (!is_word((unsigned char)text[i])) { i++; continue; }
        size_t j = i;
        while (j < len && is_word((unsigned char)text[j])) j++;
        if (!kue_search_is_stopword(text + i, j - i)) {
            size_t need = j - i + 2;
            if (need > sbcap) {
                char *p = malloc(need);
                if (!p) { rc = -1; break; }
                if (sb != small) free(sb);
                sb = p;
                sbcap = need;
            }
            long sn = kue_search_stem(text + i, j - i, sb, sbcap);
            rc = sn < 0 ? -1 : fn(ctx, sb, (size_t)sn);
        }
        i = j;
    }
    if (sb != small) free(sb);
    return rc;
}

static int count_stem(void *ctx, const char *s, size_t n)
{
    int added;
    item_t *it = set_get(ctx, s, n, &added);
    if (!it) return -1;
    it->count++;
    return 0;
}

/* The code of a stem into code[KUE_SEARCH_CODE_MAX]: 1 fits, 0 too long,
 * -1 ENOMEM. */
static int code_of(const char *s, size_t n, char *code)
{
    char small[256];
    char *o = 2 * n + 1 <= sizeof small ? small : malloc(2 * n + 1);
    if (!o) return -1;
    long cl = kue_search_metaphone(s, n, o, 2 * n + 1);
    int r = cl < 0 ? -1 : cl < KUE_SEARCH_CODE_MAX;
    if (r == 1) memcpy(code, o, (size_t)cl + 1);
    if (o != small) free(o);
    return r;
}

/* Output: codes in first-seen order; set_t gives the dedup. */
typedef struct {
    set_t codes;
} out_t;

static int out_put(out_t *o, const char *code, long count, int add)
{
    int added;
    item_t *it = set_get(&o->codes, code, strlen(code), &added);
    if (!it) return -1;
    it->count = add ? it->count + count : count;
    return 0;
}

static int out_finish(out_t *o, kue_search_term_t **terms, size_t *n)
{
    *terms = NULL;
    *n = 0;
    if (o->codes.n) {
        kue_search_term_t *t = calloc(o->codes.n, sizeof *t);
        if (!t) { set_free(&o->codes); return -1; }
        for (size_t i = 0; i < o->codes.n; i++) {
            memcpy(t[i].code, o->codes.items[i].s, o->codes.items[i].n + 1);
            t[i].count = o->codes.items[i].count;
        }
        *terms = t;
        *n = o->codes.n;
    }
    set_free(&o->codes);
    return 0;
}

/* One reds index() call, merged into o (a later code overwrites). */
static int index_text(out_t *o, const char *text, size_t len)
{
    if (len > KUE_SEARCH_TEXT_MAX) { errno = EFBIG; return -1; }
    set_t stems = { 0 };
    order_t *ord = NULL;
    int rc = walk_stems(text, len, count_stem, &stems);
    if (rc == 0 && stems.n) {
        ord = malloc(stems.n * sizeof *ord);
        if (!ord) rc = -1;
    }
    if (rc == 0 && stems.n) {
        for (size_t i = 0; i < stems.n; i++) {
            ord[i].isidx = array_index(stems.items[i].s, stems.items[i].n, &ord[i].key);
            ord[i].pos = i;
        }
        qsort(ord, stems.n, sizeof *ord, order_cmp);
        for (size_t k = 0; k < stems.n && rc == 0; k++) {
            const item_t *it = &stems.items[ord[k].pos];
            /* counts["constructor"] starts from the inherited Object
             * function (ZADD gets a non-numeric score and fails); the
             * "__proto__" assignments are swallowed by the setter. */
            if (!strcmp(it->s, "constructor") || !strcmp(it->s, "__proto__")) continue;
            char code[KUE_SEARCH_CODE_MAX];
            int c = code_of(it->s, it->n, code);
            if (c < 0) rc = -1;
            else if (c == 1) rc = out_put(o, code, it->count, 0);
        }
    }
    free(ord);
    set_free(&stems);
    return rc;
}

int kue_search_terms(const char *text, size_t len, kue_search_term_t **terms, size_t *n)
{
    out_t o = { { 0 } };
    *terms = NULL;
    *n = 0;
    if (index_text(&o, text ? text : "", text ? len : 0) < 0) {
        set_free(&o.codes);
        return -1;
    }
    return out_finish(&o, terms, n);
}

typedef struct {
    out_t *o;
} query_ctx_t;

static int query_stem(void *ctx, const char *s, size_t n)
{
    query_ctx_t *q = ctx;
    char code[KUE_SEARCH_CODE_MAX];
    int c = code_of(s, n, code);
    if (c < 0) return -1;
    return c == 1 ? out_put(q->o, code, 1, 1) : 0;
}

int kue_search_query(const char *q, size_t len, kue_search_term_t **terms, size_t *n)
{
    out_t o = { { 0 } };
    query_ctx_t qc = { &o };
    *terms = NULL;
    *n = 0;
    if (!q) { q = "undefined"; len = 9; }
    if (len > KUE_SEARCH_TEXT_MAX) { errno = EFBIG; return -1; }
    if (walk_stems(q, len, query_stem, &qc) < 0) {
        set_free(&o.codes);
        return -1;
    }
    return out_finish(&o, terms, n);
}

/* ---- JavaScript values: JSON.stringify, String(), lodash _.get ----------- */

/* Number.prototype.toString(10) (the common writer); minus_zero: lodash
 * toKey's "-0".  JSON.stringify of data values is the common writer's
 * kue_jv_write(). */
static void js_number(buf_t *b, double d, int minus_zero)
{
    if (d == 0 && minus_zero && signbit(d)) buf_adds(b, "-0");
    else kue_json_num(b, d);
}

/* lodash toKey(): String(v) (common/json.h), except -0 -> "-0". */
static void js_tokey(buf_t *b, const kue_jv_t *v)
{
    if (v->type == KUE_JNUM && v->num == 0 && signbit(v->num)) buf_adds(b, "-0");
    else kue_jv_to_string(b, v);
}

/* A lodash path: keys as (offset, length) into one buffer. */
typedef struct {
    buf_t text;
    size_t *off, *len;
    size_t n, cap;
    int err;
} path_t;

static void path_push(path_t *p, const char *s, size_t n)
{
    if (p->err) return;
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 8;
        size_t *o = realloc(p->off, nc * sizeof *o);
        if (!o) { p->err = 1; return; }
        p->off = o;
        size_t *l = realloc(p->len, nc * sizeof *l);
        if (!l) { p->err = 1; return; }
        p->len = l;
        p->cap = nc;
    }
    p->off[p->n] = p->text.len;
    p->len[p->n] = n;
    p->n++;
    buf_add(&p->text, s, n);
    if (p->text.oom) p->err = 1;
}

static void path_free(path_t *p)
{
    free(p->text.p);
    free(p->off);
    free(p->len);
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* The quoted form inside brackets, s[i] == '[' and s[i+1] a quote:
 * (["'])((?:(?!\1)[^\\]|\\.)*?)\1\].  Returns the index of the closing
 * quote, or 0 when it does not match. */
static size_t quoted_end(const char *s, size_t n, size_t i)
{
    char q = s[i + 1];
    size_t k = i + 2;
    while (k < n) {
        if (s[k] == q) return k + 1 < n && s[k + 1] == ']' ? k : 0;
        if (s[k] == '\\') {
            if (k + 1 >= n || s[k + 1] == '\n' || s[k + 1] == '\r') return 0;
            if (k + 3 < n + 0 && (unsigned char)s[k + 1] == 0xe2 && (unsigned char)s[k + 2] == 0x80 &&
                ((unsigned char)s[k + 3] == 0xa8 || (unsigned char)s[k + 3] == 0xa9))
                return 0;
            k += 2;
            continue;
        }
        k++;
    }
    return 0;
}

/* reIsDeepProp = /\.|\[(?:[^[\]]*|(["'])(?:(?!\1)[^\\]|\\.)*?\1)\]/ */
static int is_deep_prop(const char *s, size_t n)
{
    if (memchr(s, '.', n)) return 1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '[') continue;
        size_t k = i + 1;
        while (k < n && s[k] != '[' && s[k] != ']') k++;
        if (k < n && s[k] == ']') return 1;
        if (i + 1 < n && (s[i + 1] == '"' || s[i + 1] == '\'') && quoted_end(s, n, i)) return 1;
    }
    return 0;
}

/* lodash stringToPath (rePropName). */
static void string_to_path(path_t *p, const char *s, size_t n)
{
    if (n > 0 && s[0] == '.') path_push(p, "", 0);
    for (size_t i = 0; i <= n && !p->err;) {
        if (i < n && s[i] != '.' && s[i] != '[' && s[i] != ']') {
            size_t j = i;
            while (j < n && s[j] != '.' && s[j] != '[' && s[j] != ']') j++;
            path_push(p, s + i, j - i);
            i = j;
            continue;
        }
        if (i < n && s[i] == '[') {
            size_t j = i + 1;
            if (j < n && s[j] == '-') j++;
            size_t d0 = j;
            while (j < n && is_digit(s[j])) j++;
            if (j > d0) {
                if (j + 1 < n && s[j] == '.' && is_digit(s[j + 1])) {
                    size_t k = j + 1;
                    while (k < n && is_digit(s[k])) k++;
                    if (k < n && s[k] == ']') {
                        path_push(p, s + i + 1, k - i - 1);
                        i = k + 1;
                        continue;
                    }
                } else if (j < n && s[j] == ']') {
                    path_push(p, s + i + 1, j - i - 1);
                    i = j + 1;
                    continue;
                }
            }
            size_t qe;
            if (i + 1 < n && (s[i + 1] == '"' || s[i + 1] == '\'') && (qe = quoted_end(s, n, i))) {
                buf_t u = BUF_INIT;
                for (size_t k = i + 2; k < qe; k++) {
                    if (s[k] == '\\') {
                        if (k + 1 < qe && s[k + 1] == '\\') { buf_addc(&u, '\\'); k++; }
                        continue;
                    }
                    buf_addc(&u, s[k]);
                }
                if (u.oom) p->err = 1;
                else path_push(p, u.p ? u.p : "", u.len);
                free(u.p);
                i = qe + 2;
                continue;
            }
        }
        /* empty match: (?=(?:\.|\[\])(?:\.|\[\]|$)) */
        size_t a = 0;
        if (i < n && s[i] == '.') a = 1;
        else if (i + 1 < n && s[i] == '[' && s[i + 1] == ']') a = 2;
        if (a) {
            size_t k = i + a;
            if (k == n || s[k] == '.' || (k + 1 < n && s[k] == '[' && s[k + 1] == ']'))
                path_push(p, "", 0);
        }
        i++;
    }
}

/* A value reached by _.get; V_JSON: a value of the data, parsed by the
 * common reader (common/json.h), which gives JSON.parse's objects. */
typedef enum { V_UNDEF, V_NULL, V_JSON, V_NUM, V_STR, V_PROTO } vkind_t;
typedef struct {
    vkind_t k;
    const kue_jv_t *j;
    double num;
    char str[8];
    size_t strn;
} jv_t;

/* UTF-16 length of UTF-8 text; and the code unit at index idx as UTF-8. */
static size_t utf16_len(const char *s, size_t n)
{
    size_t u = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c & 0xc0) == 0x80) continue;
        u += c >= 0xf0 ? 2 : 1;
    }
    return u;
}

static int utf16_at(const char *s, size_t n, uint64_t idx, jv_t *out)
{
    size_t u = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t cl = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        size_t units = c >= 0xf0 ? 2 : 1;
        if (cl > n - i) cl = n - i;
        if (idx < u + units) {
            out->k = V_STR;
            if (units == 2) {   /* a lone surrogate: no word characters */
                memcpy(out->str, "\xef\xbf\xbd", 3);
                out->strn = 3;
            } else {
                memcpy(out->str, s + i, cl);
                out->strn = cl;
            }
            return 1;
        }
        u += units;
        i += cl;
    }
    return 0;
}

static jv_t js_prop(const jv_t *o, const char *key, size_t klen)
{
    jv_t r;
    memset(&r, 0, sizeof r);
    r.k = V_UNDEF;
    int proto = klen == 9 && memcmp(key, "__proto__", 9) == 0;
    int length = klen == 6 && memcmp(key, "length", 6) == 0;
    uint64_t idx;
    int isidx = array_index(key, klen, &idx);
    if (o->k == V_JSON && o->j->type == KUE_JOBJ) {
        const kue_jv_t *v = kue_jv_getn(o->j, key, klen);
        if (v) { r.k = V_JSON; r.j = v; }
        else if (proto) r.k = V_PROTO;
        return r;
    }
    if (o->k == V_JSON && o->j->type == KUE_JARR) {
        if (isidx && idx < o->j->len) { r.k = V_JSON; r.j = o->j->items[idx]; }
        else if (length) { r.k = V_NUM; r.num = (double)o->j->len; }
        else if (proto) r.k = V_PROTO;
        return r;
    }
    if ((o->k == V_JSON && o->j->type == KUE_JSTR) || o->k == V_STR) {
        const char *s = o->k == V_STR ? o->str : o->j->str;
        size_t n = o->k == V_STR ? o->strn : o->j->len;
        if (length) { r.k = V_NUM; r.num = (double)utf16_len(s, n); }
        else if (isidx && utf16_at(s, n, idx, &r)) {}
        else if (proto) r.k = V_PROTO;
        return r;
    }
    if (o->k == V_PROTO) {
        if (proto) r.k = V_NULL;   /* Object.prototype.__proto__ */
        return r;
    }
    /* numbers, booleans: only inherited members (functions: undefined) */
    if (proto) r.k = V_PROTO;
    return r;
}

static int jv_nullish(const jv_t *v)
{
    return v->k == V_UNDEF || v->k == V_NULL || (v->k == V_JSON && v->j->type == KUE_JNULL);
}

/* _.get(data, key) and the text Kue indexes for it. */
static void get_text(buf_t *out, const kue_jv_t *data, const kue_jv_t *key)
{
    path_t p;
    memset(&p, 0, sizeof p);
    p.text.max = KUE_SEARCH_TEXT_MAX;
    if (key->type == KUE_JARR) {
        for (size_t i = 0; i < key->len && !p.err; i++) {
            buf_t k = BUF_INIT;
            js_tokey(&k, key->items[i]);
            if (k.oom) p.err = 1;
            else path_push(&p, k.p ? k.p : "", k.len);
            free(k.p);
        }
    } else if (key->type != KUE_JSTR && key->type != KUE_JOBJ) {
        buf_t k = BUF_INIT;   /* numbers, booleans, null: isKey() */
        js_tokey(&k, key);
        if (k.oom) p.err = 1;
        else path_push(&p, k.p ? k.p : "", k.len);
        free(k.p);
    } else {
        buf_t k = BUF_INIT;
        kue_jv_to_string(&k, key);
        const char *s = k.p ? k.p : "";
        size_t n = k.len, w = 0;
        while (w < n && is_word((unsigned char)s[w])) w++;
        if (k.oom) p.err = 1;
        else if (key->type == KUE_JSTR &&
                 (w == n || !is_deep_prop(s, n) ||
                  kue_jv_getn(data, s, n)))
            path_push(&p, s, n);
        else if (key->type != KUE_JSTR && (!is_deep_prop(s, n) || kue_jv_getn(data, s, n)))
            path_push(&p, s, n);
        else
            string_to_path(&p, s, n);
        free(k.p);
    }
    if (p.err) { out->oom = 1; path_free(&p); return; }

    jv_t cur;
    memset(&cur, 0, sizeof cur);
    cur.k = V_JSON;
    cur.j = data;
    size_t i = 0;
    while (!jv_nullish(&cur) && i < p.n) {
        jv_t nx = js_prop(&cur, p.text.p + p.off[i], p.len[i]);
        i++;
        cur = nx;
    }
    if (!(i && i == p.n)) cur.k = V_UNDEF;
    path_free(&p);

    switch (cur.k) {
    case V_UNDEF: buf_adds(out, "undefined"); break;
    case V_NULL: buf_adds(out, "null"); break;
    case V_NUM: js_number(out, cur.num, 0); break;
    case V_STR: buf_add(out, cur.str, cur.strn); break;
    case V_PROTO: buf_adds(out, "{}"); break;
    case V_JSON:
        if (cur.j->type == KUE_JSTR) kue_jv_to_string(out, cur.j);   /* lone surrogates: U+FFFD */
        else kue_jv_write(out, cur.j);
        break;
    }
}

static int texts_push(char ***texts, size_t **lens, size_t *n, buf_t *b)
{
    char **t = realloc(*texts, (*n + 1) * sizeof *t);
    if (!t) return -1;
    *texts = t;
    size_t *l = realloc(*lens, (*n + 1) * sizeof *l);
    if (!l) return -1;
    *lens = l;
    if (!b->p) {
        b->p = malloc(1);
        if (!b->p) return -1;
        b->p[0] = 0;
    }
    t[*n] = b->p;
    l[*n] = b->len;
    (*n)++;
    b->p = NULL;
    return 0;
}

void kue_search_texts_free(char **texts, size_t *lens, size_t ntexts)
{
    for (size_t i = 0; i < ntexts; i++) free(texts ? texts[i] : NULL);
    free(texts);
    free(lens);
}

int kue_search_job_texts(const char *data_json, size_t len, const char *search_keys_json,
                         char ***texts, size_t **lens, size_t *ntexts)
{
    *texts = NULL;
    *lens = NULL;
    *ntexts = 0;
    if (len > KUE_SEARCH_TEXT_MAX) { errno = EFBIG; return -1; }
    kue_jdoc_t *doc = data_json ? kue_jdoc_parse(data_json, len, NULL, 0) : NULL;
    kue_jdoc_t *empty = kue_jdoc_parse("{}", 2, NULL, 0);
    kue_jdoc_t *kdoc = search_keys_json ? kue_jdoc_parse(search_keys_json, strlen(search_keys_json),
                                                         NULL, 0) : NULL;
    const kue_jv_t *search_keys = kue_jdoc_root(kdoc);
    if (!empty || (search_keys_json && !kdoc)) {
        kue_jdoc_free(doc);
        kue_jdoc_free(empty);
        kue_jdoc_free(kdoc);
        errno = EINVAL;
        return -1;
    }
    const kue_jv_t *data = kue_jdoc_root(doc);
    const kue_jv_t *d = data && kue_jv_truthy(data) ? data : kue_jdoc_root(empty);
    int rc = 0;
    if (!search_keys) {
        buf_t b = BUF_INIT;
        if (data_json && !data) buf_add(&b, data_json, len);
        else kue_jv_write(&b, d);
        rc = b.oom ? -1 : texts_push(texts, lens, ntexts, &b);
        free(b.p);
    } else if (kue_jv_truthy(search_keys)) {
        int arr = search_keys->type == KUE_JARR;
        size_t nk = arr ? search_keys->len : 1;
        for (size_t i = 0; i < nk && rc == 0; i++) {
            const kue_jv_t *key = arr ? search_keys->items[i] : search_keys;
            buf_t b = BUF_INIT;
            get_text(&b, d, key);
            rc = b.oom ? -1 : texts_push(texts, lens, ntexts, &b);
            free(b.p);
        }
    }
    kue_jdoc_free(doc);
    kue_jdoc_free(empty);
    kue_jdoc_free(kdoc);
    if (rc < 0) {
        kue_search_texts_free(*texts, *lens, *ntexts);
        *texts = NULL;
        *lens = NULL;
        *ntexts = 0;
    }
    return rc;
}

int kue_search_job_terms(const char *data_json, size_t len, const char *search_keys_json,
                         kue_search_term_t **terms, size_t *n)
{
    char **texts;
    size_t *lens, nt;
    *terms = NULL;
    *n = 0;
    if (kue_search_job_texts(data_json, len, search_keys_json, &texts, &lens, &nt) < 0) return -1;
    out_t o = { { 0 } };
    int rc = 0;
    for (size_t i = 0; i < nt && rc == 0; i++) rc = index_text(&o, texts[i], lens[i]);
    kue_search_texts_free(texts, lens, nt);
    if (rc < 0) { set_free(&o.codes); return -1; }
    return out_finish(&o, terms, n);
}
