/*
 * The search tokeniser against the real reds 0.2.5 / natural 0.2.1 (run by
 * tests/node/search-ref.js): a generated list of thousands of words
 * (dictionary-like words with English suffixes, mixed case, digits,
 * random letter strings, stop words, long words), whole texts with
 * unicode and apostrophes, queries, and jobs with searchKeys.  Every
 * difference is reported; the expected count is zero.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "search.h"

static const char *const base[] = {
    "convert", "video", "email", "user", "title", "job", "queue", "search", "index", "word",
    "run", "running", "runner", "happy", "sky", "agree", "feed", "hop", "file", "caress",
    "pony", "tie", "cat", "relate", "rate", "ration", "valence", "hesitance", "digitize",
    "conform", "radical", "different", "vile", "analogous", "vietnam", "predicate", "operate",
    "feudal", "decisive", "hope", "callous", "formal", "sensitive", "sensible", "triple",
    "electric", "good", "revive", "allow", "infer", "airline", "gyroscope", "adjust", "defend",
    "irritate", "replace", "depend", "adopt", "homolog", "commune", "activate", "angular",
    "effect", "bowdler", "probate", "cease", "control", "roll", "generate", "condition",
    "knight", "gnome", "pneumonia", "aesthetic", "wrack", "lamb", "check", "school", "church",
    "science", "city", "cyan", "acacia", "edge", "dodge", "budget", "laugh", "thought",
    "ghost", "sign", "gem", "giant", "gym", "egg", "big", "ahead", "phone", "queen", "shop",
    "session", "asia", "xerox", "axe", "nation", "ratio", "thin", "watch", "voice", "white",
    "wow", "yellow", "yay", "zoo", "zigzag", "tobi", "want", "dollar", "manage", "process",
    "present", "report", "image", "resize", "upload", "download", "mail", "send", "receive",
    "account", "customer", "order", "invoice", "payment", "ship", "deliver", "track", "parcel",
    "print", "render", "encode", "decode", "compress", "archive", "backup", "restore",
    "monitor", "alert", "notify", "schedule", "retry", "fail", "success", "complete", "active",
    "inactive", "delay", "priority", "critical", "normal", "low", "high", "medium", "worker",
    "server", "client", "redis", "node", "kue", "reds", "natural", "stem", "metaphone",
    "national", "rational", "conditional", "general", "organ", "motor", "sensor", "doctor",
    "happiness", "sadness", "ability", "agility", "mobile", "able", "fable", "table", "cable",
    "bottle", "little", "middle", "puzzle", "sizzle", "fizz", "buzz", "miss", "kiss", "boss",
    "bass", "grass", "class", "glass", "pass", "mass", "press", "dress", "stress", "guess",
    "eye", "dye", "bye", "buy", "guy", "key", "day", "way", "say", "pay", "toy", "boy", "joy",
    "why", "shy", "fly", "cry", "dry", "try", "spy", "ski", "taxi", "radii", "fungi", "cactus",
    "octopus", "virus", "bus", "gas", "yes", "this", "his", "hers", "ours", "thesis", "crisis",
    "crises", "analysis", "axis", "bias", "atlas", "canvas", "iris", "lens", "news", "series",
    "species", "chassis", "corps", "means", "physics", "ethics", "ghoul", "ghetto", "enough",
    "tough", "though", "through", "borough", "hiccough", "daughter", "knack", "gnat", "pneu",
    "wreck", "write", "whale", "wheat", "who", "whom", "whose", "yacht", "yearn", "young",
    "quiz", "quote", "squash", "scheme", "schism", "chaos", "chef", "chorus", "christmas",
    "tchotchke", "match", "itch", "batch", "patio", "ratio", "cation", "station", "mansion",
    "vision", "fusion", "tension", "pension", "question", "suggestion", "xylophone", "xenon",
    "box", "fox", "sax", "wax", "exit", "exam", "dumb", "bomb", "thumb", "climb", "plumb",
    "judge", "edgy", "fudge", "ledger", "ridge", "gadget", "signed", "design", "campaign",
    "gnarl", "align", "night", "light", "sight", "right", "eight", "weigh", "neigh", "aha",
    "oh", "uh", "ah", "eh", "ha", "hah", "heh", "huh", "ohm", "john", "sarah", "noah",
    "ohio", "utah", "idaho", "a1b2", "x_y", "foo_bar", "__init__", "_private", "sha256",
    "base64", "utf8", "ipv6", "mp3", "h264", "md5", "oauth2", "s3", "ec2", "k8s",
    "sses", "ies", "ied", "eed", "ing", "ed", "ings", "eds", "ly", "yy", "yyy", "ccc", "cc",
    "constructor", "__proto__", "prototype", "tostring", "valueof", "hasownproperty", "length",
};

static const char *const suffixes[] = {
    "", "s", "es", "ed", "ing", "er", "ers", "ly", "ness", "ment", "ments", "ation", "ations",
    "ational", "izer", "ization", "ful", "fulness", "ive", "iveness", "al", "ally", "ism",
    "ist", "ity", "ities", "able", "ably", "ance", "ence", "ent", "ous", "ously", "ic",
    "ical", "ically", "y", "ies", "ied", "eed", "ion", "ions", "ator", "alism", "aliti",
    "iviti", "biliti", "logi", "icate", "ative", "alize", "iciti", "ement", "ible", "ant",
    "ize", "ate", "iti", "ou", "ll", "e", "ee", "ye", "ys",
};

typedef struct {
    char **v;
    size_t n, cap;
} list_t;

static void add(list_t *l, const char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        cr_assert(l->v);
    }
    l->v[l->n++] = strdup(s);
}

static void list_free(list_t *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
}

static unsigned long long rng = 88172645463325252ULL;
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

/* Only \w words. */
static void gen_words(list_t *w)
{
    char b[256];
    size_t nb = sizeof base / sizeof *base, ns = sizeof suffixes / sizeof *suffixes;
    for (size_t i = 0; i < nb; i++)
        for (size_t j = 0; j < ns; j++) {
            snprintf(b, sizeof b, "%s%s", base[i], suffixes[j]);
            add(w, b);
        }
    size_t plain = w->n;
    for (size_t i = 0; i < plain; i += 7) {       /* case variants */
        snprintf(b, sizeof b, "%s", w->v[i]);
        b[0] = (char)(b[0] >= 'a' && b[0] <= 'z' ? b[0] - 32 : b[0]);
        add(w, b);
        for (char *p = b; *p; p++) if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 32);
        add(w, b);
        snprintf(b, sizeof b, "%s", w->v[i]);
        for (char *p = b; *p; p++) if (rnd(2) && *p >= 'a' && *p <= 'z') *p = (char)(*p - 32);
        add(w, b);
    }
    static const char alpha[] = "abcdefghijklmnopqrstuvwxyzaeiouyyssteedhgckxzw0123456789_";
    for (int i = 0; i < 6000; i++) {              /* random strings */
        size_t len = 1 + rnd(14);
        for (size_t k = 0; k < len; k++) b[k] = alpha[rnd(sizeof alpha - 1)];
        b[len] = 0;
        add(w, b);
    }
    for (int i = 0; i < 300; i++) { snprintf(b, sizeof b, "%d", i); add(w, b); }
    static const char *const misc[] = {
        "007", "00", "4294967294", "4294967295", "99999999999", "1e5", "12abc", "abc12",
        "_", "__", "___", "$", "The", "THE", "the", "A", "I", "a", "i", "An", "AND", "Is",
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "xaxaxaxaxaxaxaxaxaxaxaxaxaxaxaxaxaxa",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "Constructor", "CONSTRUCTORS", "__PROTO__", "Length",
    };
    for (size_t i = 0; i < sizeof misc / sizeof *misc; i++) add(w, misc[i]);
}

static const char *const extras[] = {
    "café", "naïve", "日本語", "Straße", "don't", "O'Reilly", "it's", "rock'n'roll", "résumé",
    "Ünïcödé wörds", "emoji 😀 face", "tab\there", "new\nline", "a-b-c", "e-mail", "x.y.z",
    "C++", "C#", "xixaxuxoxexixaxuxoxexixaxuxoxexixaxuxoxexixaxuxoxexixaxuxoxexixaxuxoxe long", "\"quoted\"", "{\"json\":true}", "100%", "$5", "#hash", "@user", "user@example.com",
    "http://example.com/path?q=1", "", " ", "...", "the the the", "The The", "running runs ran",
};

static void gen_texts(list_t *t, const list_t *w)
{
    static const char *const seps[] = { " ", ", ", "-", "'", "\n", "é", "  ", "/", ".", "_" };
    char b[4096];
    for (size_t i = 0; i < sizeof extras / sizeof *extras; i++) add(t, extras[i]);
    for (int i = 0; i < 4000; i++) {
        size_t n = 1 + rnd(14), o = 0;
        b[0] = 0;
        for (size_t k = 0; k < n; k++) {
            const char *word = rnd(5) ? w->v[rnd((unsigned)w->n)] :
                               extras[rnd(sizeof extras / sizeof *extras)];
            if (rnd(3) == 0 && k) word = w->v[rnd(50)];     /* repeats */
            int r = snprintf(b + o, sizeof b - o, "%s%s", k ? seps[rnd(10)] : "", word);
            if (r < 0 || (size_t)r >= sizeof b - o) break;
            o += (size_t)r;
        }
        add(t, b);
    }
}

/* Write each string as a JSON line. */
static void write_lines(const char *path, const list_t *l)
{
    FILE *f = fopen(path, "w");
    cr_assert(f);
    for (size_t i = 0; i < l->n; i++) {
        json_t *s = json_stringn(l->v[i], strlen(l->v[i]));
        cr_assert(s, "not UTF-8: %s", l->v[i]);
        char *d = json_dumps(s, JSON_ENCODE_ANY);
        fprintf(f, "%s\n", d);
        free(d);
        json_decref(s);
    }
    fclose(f);
}

static json_t *run_ref(const char *mode, const char *file, size_t expect)
{
    char *out = NULL;
    char *args[] = { (char *)mode, (char *)file, NULL };
    int st = kt_node_run("search-ref.js", args, &out, 300000);
    cr_assert_eq(st, 0, "search-ref.js %s failed (%d)", mode, st);
    cr_assert(out);
    json_t *arr = json_array();
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t e;
        json_t *v = json_loads(line, JSON_DECODE_ANY, &e);
        cr_assert(v, "bad reference line: %s", line);
        json_array_append_new(arr, v);
    }
    free(out);
    cr_assert_eq(json_array_size(arr), expect, "reference gave %zu lines, expected %zu",
                 json_array_size(arr), expect);
    return arr;
}

static void need_node(void)
{
    if (system("node --version >/dev/null 2>&1") != 0)
        cr_skip_test("node is not installed: search reference comparison skipped");
    char p[4096];
    snprintf(p, sizeof p, "%s/tests/node/node_modules/reds/package.json", kt_srcdir());
    cr_assert(access(p, R_OK) == 0, "node is present but reds/natural are not installed "
              "(run `sh scripts/node-deps.sh`)");
}

/* Compare our terms (without codes too long for the struct) to a
 * reference [[code,count],...]; returns 1 when equal. */
static int terms_equal(const kue_search_term_t *t, size_t n, const json_t *ref, size_t *toolong)
{
    size_t j = 0;
    for (size_t i = 0; i < json_array_size(ref); i++) {
        const json_t *p = json_array_get(ref, i);
        const char *code = json_string_value(json_array_get(p, 0));
        if (strlen(code) >= KUE_SEARCH_CODE_MAX) { (*toolong)++; continue; }
        if (j >= n || strcmp(t[j].code, code) != 0 ||
            t[j].count != (long)json_integer_value(json_array_get(p, 1)))
            return 0;
        j++;
    }
    return j == n;
}

static void print_terms(const char *what, const kue_search_term_t *t, size_t n)
{
    fprintf(stderr, "  %s:", what);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " [%s,%ld]", t[i].code, t[i].count);
    fprintf(stderr, "\n");
}

Test(search_ref, words)
{
    need_node();
    list_t w = { 0 };
    gen_words(&w);
    char file[4200];
    snprintf(file, sizeof file, "%s/words.jsonl", kt_tmpdir());
    write_lines(file, &w);
    json_t *ref = run_ref("words", file, w.n);
    size_t bad = 0;
    for (size_t i = 0; i < w.n; i++) {
        const char *s = w.v[i];
        size_t len = strlen(s);
        char st[512], mp[1024];
        long sn = kue_search_stem(s, len, st, sizeof st);
        cr_assert(sn >= 0);
        long mn = kue_search_metaphone(st, (size_t)sn, mp, sizeof mp);
        cr_assert(mn >= 0);
        const json_t *r = json_array_get(ref, i);
        int stop = json_is_true(json_array_get(r, 0));
        const char *rst = json_string_value(json_array_get(r, 1));
        const char *rmp = json_string_value(json_array_get(r, 2));
        if (stop != kue_search_is_stopword(s, len) || strcmp(st, rst) || strcmp(mp, rmp)) {
            if (bad++ < 30)
                fprintf(stderr, "word %s: ours stop=%d stem=%s code=%s; reds stop=%d stem=%s code=%s\n",
                        s, kue_search_is_stopword(s, len), st, mp, stop, rst, rmp);
        }
    }
    fprintf(stderr, "search_ref.words: %zu words, %zu mismatches\n", w.n, bad);
    json_decref(ref);
    list_free(&w);
    cr_assert_eq(bad, 0);
}

Test(search_ref, texts_and_queries)
{
    need_node();
    list_t w = { 0 }, t = { 0 };
    gen_words(&w);
    gen_texts(&t, &w);
    char file[4200];
    snprintf(file, sizeof file, "%s/texts.jsonl", kt_tmpdir());
    write_lines(file, &t);
    json_t *ref = run_ref("terms", file, t.n);
    json_t *qref = run_ref("query", file, t.n);
    size_t bad = 0, qbad = 0, toolong = 0;
    for (size_t i = 0; i < t.n; i++) {
        kue_search_term_t *terms;
        size_t n;
        cr_assert_eq(kue_search_terms(t.v[i], strlen(t.v[i]), &terms, &n), 0);
        if (!terms_equal(terms, n, json_array_get(ref, i), &toolong) && bad++ < 10) {
            char *d = json_dumps(json_array_get(ref, i), 0);
            fprintf(stderr, "text %zu \"%s\"\n  reds: %s\n", i, t.v[i], d);
            print_terms("ours", terms, n);
            free(d);
        }
        free(terms);
        cr_assert_eq(kue_search_query(t.v[i], strlen(t.v[i]), &terms, &n), 0);
        const json_t *q = json_array_get(qref, i);
        size_t j = 0, k;
        int ok = 1;
        for (k = 0; k < json_array_size(q); k++) {
            const char *code = json_string_value(json_array_get(q, k));
            if (strlen(code) >= KUE_SEARCH_CODE_MAX) continue;
            if (j >= n || strcmp(terms[j].code, code)) { ok = 0; break; }
            j++;
        }
        if ((!ok || j != n) && qbad++ < 10) {
            char *d = json_dumps(q, 0);
            fprintf(stderr, "query %zu \"%s\"\n  reds: %s\n", i, t.v[i], d);
            print_terms("ours", terms, n);
            free(d);
        }
        free(terms);
    }
    fprintf(stderr, "search_ref.texts: %zu texts, %zu index mismatches, %zu query mismatches, "
            "%zu codes over %d bytes left out by design\n", t.n, bad, qbad, toolong,
            KUE_SEARCH_CODE_MAX - 1);
    json_decref(ref);
    json_decref(qref);
    list_free(&w);
    list_free(&t);
    cr_assert_eq(bad, 0);
    cr_assert_eq(qbad, 0);
}

/* Jobs: {"data": "<json>", "keys": ...} lines. */
static const char *const jobs[] = {
    "{\"data\":\"{\\\"title\\\":\\\"convert avi video\\\",\\\"user\\\":\\\"tj\\\"}\"}",
    "{\"data\":\"{\\\"title\\\":\\\"convert avi video\\\",\\\"user\\\":\\\"tj\\\"}\",\"keys\":[\"title\"]}",
    "{\"data\":\"{\\\"title\\\":\\\"video video\\\",\\\"user\\\":\\\"video\\\"}\",\"keys\":[\"title\",\"user\"]}",
    "{\"data\":\"{\\\"title\\\":\\\"video video\\\",\\\"user\\\":\\\"video\\\"}\",\"keys\":[\"user\",\"title\"]}",
    "{\"data\":\"{\\\"a\\\":{\\\"b\\\":[{\\\"c\\\":\\\"deep value\\\"}]}}\",\"keys\":[\"a.b[0].c\",\"a.b.0.c\",\"a['b'][0]['c']\",\"a.b\",\"a.missing\",\"a.b.length\",\"a.b[0].c.length\",\"a.b[0].c[1]\"]}",
    "{\"data\":\"{\\\"n\\\":1.0,\\\"m\\\":1e21,\\\"k\\\":1e-7,\\\"j\\\":123456789012345678901234,\\\"h\\\":0.1,\\\"g\\\":-0.0,\\\"f\\\":2.5e-3}\"}",
    "{\"data\":\"{\\\"n\\\":1.0,\\\"m\\\":1e21,\\\"k\\\":1e-7,\\\"j\\\":123456789012345678901234}\",\"keys\":[\"n\",\"m\",\"k\",\"j\"]}",
    "{\"data\":\"{\\\"b\\\":\\\"bee\\\",\\\"2\\\":\\\"two\\\",\\\"1\\\":\\\"one\\\",\\\"a\\\":\\\"ay\\\"}\"}",
    "{\"data\":\"{\\\"s\\\":\\\"tab\\\\there\\\\nnew\\\\u0001x \\\\u00e9t\\\\u00e9 \\\\\\\"q\\\\\\\" back\\\\\\\\slash\\\"}\"}",
    "{\"data\":\"null\"}",
    "{\"data\":\"0\"}",
    "{\"data\":\"\\\"\\\"\"}",
    "{\"data\":\"\\\"just a string\\\"\"}",
    "{\"data\":\"[\\\"list\\\",\\\"of\\\",\\\"words\\\",42]\"}",
    "{\"data\":\"{\\\"x\\\":\\\"y\\\"}\",\"keys\":[]}",
    "{\"data\":\"{\\\"x\\\":\\\"y\\\"}\",\"keys\":null}",
    "{\"data\":\"{\\\"x\\\":\\\"yes\\\"}\",\"keys\":\"x\"}",
    "{\"data\":\"{\\\"x\\\":{\\\"y\\\":[1,2,{\\\"z\\\":null}]}}\",\"keys\":[\"x\",\"x.y\",\"x.y[2].z\",\"x.y[2].z.w\",\"nope\"]}",
    "{\"data\":\"{\\\"a.b\\\":\\\"dotted key\\\",\\\"a\\\":{\\\"b\\\":\\\"nested\\\"}}\",\"keys\":[\"a.b\"]}",
    "{\"data\":\"{\\\"a\\\":{\\\"b\\\":\\\"nested\\\"}}\",\"keys\":[[\"a\",\"b\"],[\"a.b\"],7,true]}",
    "{\"data\":\"{\\\"7\\\":\\\"seven\\\",\\\"true\\\":\\\"yes\\\"}\",\"keys\":[7,true]}",
    "{\"data\":\"{\\\"s\\\":\\\"caf\\\\u00e9 \\\\ud83d\\\\ude00 ok\\\"}\",\"keys\":[\"s.length\",\"s[3]\",\"s[5]\",\"s[6]\",\"s[8]\"]}",
    "{\"data\":\"{\\\"a\\\":[\\\"x\\\",\\\"y\\\"]}\",\"keys\":[\"a[1]\",\"a[-1]\",\"a.1\",\"a[\\\"1\\\"]\",\"a..1\",\"a[]\",\".a\",\"a.\"]}",
    "{\"data\":\"{\\\"__proto__\\\":\\\"own proto\\\",\\\"constructor\\\":\\\"builder\\\"}\",\"keys\":[\"__proto__\",\"constructor\",\"toString\"]}",
    "{\"data\":\"{\\\"x\\\":\\\"constructor constructors build\\\"}\"}",
    "{\"data\":\"{\\\"a\\\":1,\\\"a\\\":2}\"}",
    "{\"data\":\"{\\\"big\\\":9007199254740993,\\\"neg\\\":-5}\",\"keys\":[\"big\",\"neg\"]}",
    /* what jansson refuses: a lone surrogate, an integer beyond 64 bits */
    "{\"data\":\"{\\\"s\\\":\\\"half \\\\ud800 emoji\\\",\\\"n\\\":150000000000000000000}\"}",
    "{\"data\":\"{\\\"s\\\":\\\"half \\\\ud800 emoji\\\",\\\"n\\\":150000000000000000000}\",\"keys\":[\"s\",\"n\",\"s.length\"]}",
};

Test(search_ref, jobs)
{
    need_node();
    char file[4200];
    snprintf(file, sizeof file, "%s/jobs.jsonl", kt_tmpdir());
    FILE *f = fopen(file, "w");
    cr_assert(f);
    size_t nj = sizeof jobs / sizeof *jobs;
    for (size_t i = 0; i < nj; i++) fprintf(f, "%s\n", jobs[i]);
    fclose(f);
    json_t *ref = run_ref("job", file, nj);
    size_t bad = 0, toolong = 0;
    for (size_t i = 0; i < nj; i++) {
        json_error_t e;
        json_t *spec = json_loads(jobs[i], 0, &e);
        cr_assert(spec, "bad job spec %zu: %s", i, e.text);
        const char *data = json_string_value(json_object_get(spec, "data"));
        const json_t *kj = json_object_get(spec, "keys");
        char *keys = kj ? json_dumps(kj, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        const json_t *r = json_array_get(ref, i);
        char **texts;
        size_t *lens, nt;
        cr_assert_eq(kue_search_job_texts(data, strlen(data), keys, &texts, &lens, &nt), 0);
        const json_t *rt = json_object_get(r, "texts");
        int ok = nt == json_array_size(rt);
        for (size_t k = 0; ok && k < nt; k++) {
            const json_t *s = json_array_get(rt, k);
            ok = lens[k] == json_string_length(s) && !memcmp(texts[k], json_string_value(s), lens[k]);
        }
        kue_search_term_t *terms;
        size_t n;
        cr_assert_eq(kue_search_job_terms(data, strlen(data), keys, &terms, &n), 0);
        if (!ok || !terms_equal(terms, n, json_object_get(r, "terms"), &toolong)) {
            char *d = json_dumps(r, 0);
            fprintf(stderr, "job %zu %s\n  reds: %s\n  ours texts:", i, jobs[i], d);
            for (size_t k = 0; k < nt; k++) fprintf(stderr, " <%.*s>", (int)lens[k], texts[k]);
            fprintf(stderr, "\n");
            print_terms("ours", terms, n);
            free(d);
            bad++;
        }
        free(terms);
        kue_search_texts_free(texts, lens, nt);
        free(keys);
        json_decref(spec);
    }
    fprintf(stderr, "search_ref.jobs: %zu jobs, %zu mismatches\n", nj, bad);
    json_decref(ref);
    cr_assert_eq(bad, 0);
}
