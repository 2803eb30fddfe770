/*
 * docs_sync.c -- the reference pages and etc/workers.ini stay in step with
 * the programs:
 *
 *   - every option a program's --help names appears in its page
 *     (kue-supervisor, kue-web, kue-worker in docs/plugins.md, kue and each
 *     of its commands in docs/kue.md, every command of `kue --help` too);
 *   - every key of the supervisor's config table (--print-defaults) has a
 *     row with its default in its section of docs/kue-supervisor.md, and
 *     every row there is a key of the table;
 *   - etc/workers.ini has every key of the table in its section, set to the
 *     table's default (commented out exactly when the key has none), no key
 *     the table lacks, and passes `kue-supervisor -t`; below its header it
 *     is exactly `kue-supervisor --print-defaults` (with [type email] for
 *     [type NAME]), the table's defaults and descriptions.
 *
 * The programs are the real binaries of $KUE_BUILD; the pages are read
 * from the source tree.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "harness.h"

TestSuite(docs_sync, .fini = kt_cleanup, .timeout = 60);

#define MAXKEYS 128
#define MAXOPTS 64

/* ---- helpers ------------------------------------------------------------- */

static char *src_file(const char *rel)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", kt_srcdir(), rel);
    char *t = kt_read_file(path);
    cr_assert_not_null(t, "cannot read %s", path);
    return t;
}

/* Run a shell command; its stdout and stderr (caller frees) and exit code. */
static char *run(const char *cmd, int *code)
{
    char full[4400];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    cr_assert_not_null(p, "popen %s", cmd);
    size_t cap = 4096, len = 0, n;
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 2) {
            buf = realloc(buf, cap *= 2);
            cr_assert_not_null(buf);
        }
    }
    buf[len] = '\0';
    int st = pclose(p);
    if (code) *code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return buf;
}

static char *help_of(const char *prog, const char *cmd)
{
    char bin[4096], line[4300];
    kt_bin(prog, bin, sizeof bin);
    snprintf(line, sizeof line, "'%s' %s --help", bin, cmd ? cmd : "");
    int code;
    char *out = run(line, &code);
    cr_assert_eq(code, 0, "%s exited %d:\n%s", line, code, out);
    return out;
}

static int optchar(char c) { return isalnum((unsigned char)c) || c == '-' || c == '_'; }

/* Does text hold word as a whole token (not inside a longer option name)? */
static int has_token(const char *text, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = text; (p = strstr(p, word)); p++) {
        int before = p == text || !optchar(p[-1]);
        if (before && !optchar(p[n])) return 1;
    }
    return 0;
}

/* The options a help text names: "--long-name" and "-x" tokens. */
static int options_in(const char *help, char out[][48], int max)
{
    int n = 0;
    for (const char *p = help; *p; p++) {
        if (*p != '-' || (p > help && optchar(p[-1]))) continue;
        const char *s = p;
        size_t len;
        if (p[1] == '-' && islower((unsigned char)p[2])) {
            const char *e = p + 2;
            while (islower((unsigned char)*e) || isdigit((unsigned char)*e) || *e == '-') e++;
            len = (size_t)(e - s);
        } else if (isalpha((unsigned char)p[1]) && !optchar(p[2])) {
            len = 2;
        } else {
            continue;
        }
        char tok[48];
        if (len >= sizeof tok) continue;
        memcpy(tok, s, len);
        tok[len] = '\0';
        int seen = 0;
        for (int i = 0; i < n; i++) seen |= !strcmp(out[i], tok);
        if (!seen) {
            cr_assert_lt(n, max, "too many options");
            strcpy(out[n++], tok);
        }
        p += len - 1;
    }
    return n;
}

/* Every option of `prog [cmd] --help` appears in the page; returns the help. */
static char *check_help(const char *prog, const char *cmd, const char *page, const char *page_name)
{
    char *help = help_of(prog, cmd);
    char opts[MAXOPTS][48];
    int n = options_in(help, opts, MAXOPTS);
    if (!cmd) cr_assert_gt(n, 0, "%s --help names no option:\n%s", prog, help);
    for (int i = 0; i < n; i++)
        cr_expect(has_token(page, opts[i]), "%s: option %s of `%s%s%s --help` is not documented",
                  page_name, opts[i], prog, cmd ? " " : "", cmd ? cmd : "");
    return help;
}

/* ---- the config table, from --print-defaults ------------------------------- */

struct key {
    char section[32];   /* "supervisor", ..., "type NAME" */
    char name[48];
    char def[128];
    int has_def;
    int seen;           /* found in the file being checked */
};

static struct key keys[MAXKEYS];
static int nkeys;

static void load_table(void)
{
    char bin[4096], cmd[4200];
    kt_bin("kue-supervisor", bin, sizeof bin);
    snprintf(cmd, sizeof cmd, "'%s' --print-defaults", bin);
    int code;
    char *out = run(cmd, &code);
    cr_assert_eq(code, 0, "%s: %s", cmd, out);
    nkeys = 0;
    char section[32] = "";
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '[') {
            char *e = strchr(line, ']');
            cr_assert_not_null(e, "--print-defaults: %s", line);
            snprintf(section, sizeof section, "%.*s", (int)(e - line - 1), line + 1);
            continue;
        }
        int commented = line[0] == ';';
        char *p = line + (commented ? 2 : 0);
        char *eq = strstr(p, " = ");
        if (!eq) continue;
        size_t kl = (size_t)(eq - p);
        int is_key = kl > 0 && kl < 48;
        for (size_t i = 0; i < kl && is_key; i++)
            is_key = islower((unsigned char)p[i]) || p[i] == '_';
        if (!is_key || (commented && eq[3])) continue;     /* a description */
        cr_assert_lt(nkeys, MAXKEYS);
        struct key *k = &keys[nkeys++];
        memset(k, 0, sizeof *k);
        snprintf(k->section, sizeof k->section, "%s", section);
        snprintf(k->name, sizeof k->name, "%.*s", (int)kl, p);
        k->has_def = !commented;
        snprintf(k->def, sizeof k->def, "%s", commented ? "" : eq + 3);
    }
    free(out);
    cr_assert_gt(nkeys, 20, "--print-defaults listed only %d keys", nkeys);
}

static struct key *find_key(const char *section, const char *name)
{
    for (int i = 0; i < nkeys; i++)
        if (!strcmp(keys[i].section, section) && !strcmp(keys[i].name, name)) return &keys[i];
    return NULL;
}

/* ---- program pages ----------------------------------------------------------- */

Test(docs_sync, supervisor_options_documented)
{
    char *page = src_file("docs/kue-supervisor.md");
    char *help = check_help("kue-supervisor", NULL, page, "docs/kue-supervisor.md");
    /* the signals named by --help ("Signals: TERM/INT drain, ...") */
    const char *sig = strstr(help, "Signals:");
    cr_assert_not_null(sig, "kue-supervisor --help names no signals:\n%s", help);
    int nsig = 0;
    for (const char *p = sig + 8; *p; p++) {
        if (!isupper((unsigned char)*p) || isalpha((unsigned char)p[-1])) continue;
        size_t n = 0;
        while (isupper((unsigned char)p[n]) || isdigit((unsigned char)p[n])) n++;
        if (n < 3 || isalpha((unsigned char)p[n])) continue;
        char name[16];
        snprintf(name, sizeof name, "%.*s", (int)n, p);
        cr_expect(has_token(page, name), "docs/kue-supervisor.md: signal %s is not documented", name);
        nsig++;
        p += n - 1;
    }
    cr_assert_geq(nsig, 9, "only %d signals found in --help", nsig);
    free(help);
    /* the environment overrides named by --help */
    const char *env[] = { "KUE_REDIS_URL", "KUE_PREFIX", "KUE_WEB_LISTEN" };
    for (size_t i = 0; i < sizeof env / sizeof env[0]; i++)
        cr_expect(has_token(page, env[i]), "docs/kue-supervisor.md: %s missing", env[i]);
    free(page);
}

Test(docs_sync, web_options_documented)
{
    char *page = src_file("docs/kue-web.md");
    free(check_help("kue-web", NULL, page, "docs/kue-web.md"));
    free(page);
}

Test(docs_sync, worker_options_documented)
{
    char *page = src_file("docs/plugins.md");
    free(check_help("kue-worker", NULL, page, "docs/plugins.md"));
    free(page);
}

Test(docs_sync, cli_commands_and_options_documented)
{
    char *page = src_file("docs/kue.md");
    char *help = check_help("kue", NULL, page, "docs/kue.md");
    /* the command list: lines "  name   what it does" after "Commands:" */
    char *list = strstr(help, "Commands:");
    cr_assert_not_null(list, "kue --help has no command list:\n%s", help);
    int ncmd = 0;
    for (char *line = strchr(list, '\n'); line && line[1] == ' '; line = strchr(line + 1, '\n')) {
        char name[32];
        if (sscanf(line + 1, " %31[a-z]", name) != 1) break;
        char want[48];
        snprintf(want, sizeof want, "`kue %s", name);
        cr_expect(strstr(page, want), "docs/kue.md: command %s is not documented", name);
        free(check_help("kue", name, page, "docs/kue.md"));
        ncmd++;
    }
    cr_assert_gt(ncmd, 10, "only %d commands found in kue --help", ncmd);
    free(help);
    free(page);
}

/* ---- the config table -------------------------------------------------------- */

/* The lines of the page's "### [section]" part, up to the next heading. */
static const char *page_section(const char *page, const char *section, const char **end)
{
    char head[64];
    snprintf(head, sizeof head, "\n### [%s]\n", section);
    const char *s = strstr(page, head);
    if (!s) return NULL;
    s += strlen(head);
    const char *e = strstr(s, "\n#");
    *end = e ? e : s + strlen(s);
    return s;
}

Test(docs_sync, config_keys_documented_with_defaults)
{
    load_table();
    char *page = src_file("docs/kue-supervisor.md");
    for (int i = 0; i < nkeys; i++) {
        struct key *k = &keys[i];
        const char *end, *s = page_section(page, k->section, &end);
        cr_assert_not_null(s, "docs/kue-supervisor.md: no \"### [%s]\" section", k->section);
        char row[80];
        snprintf(row, sizeof row, "\n| `%s` | ", k->name);
        const char *r = strstr(s - 1, row);
        if (!r || r >= end) {
            cr_expect_fail("docs/kue-supervisor.md: [%s] %s has no row", k->section, k->name);
            continue;
        }
        const char *cell = r + strlen(row);
        const char *bar = strstr(cell, " |");
        cr_assert_not_null(bar);
        char got[160], want[160];
        snprintf(got, sizeof got, "%.*s", (int)(bar - cell), cell);
        if (k->has_def) snprintf(want, sizeof want, "`%s`", k->def);
        else snprintf(want, sizeof want, "(unset)");
        cr_expect_str_eq(got, want, "docs/kue-supervisor.md: [%s] %s: default %s, the table says %s",
                         k->section, k->name, got, want);
    }
    /* and no row for a key the table does not have */
    const char *sections[] = { "supervisor", "redis", "promotion", "search", "web", "type NAME" };
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
        const char *end, *s = page_section(page, sections[i], &end);
        cr_assert_not_null(s, "docs/kue-supervisor.md: no \"### [%s]\" section", sections[i]);
        for (const char *r = strstr(s - 1, "\n| `"); r && r < end; r = strstr(r + 1, "\n| `")) {
            char name[64];
            if (sscanf(r, "\n| `%63[a-z_]`", name) != 1) continue;
            cr_expect_not_null(find_key(sections[i], name),
                               "docs/kue-supervisor.md: [%s] %s is not in the config table",
                               sections[i], name);
        }
    }
    free(page);
}

/* "key = value   ; comment" (or "; key = example ; comment"): the key and
 * the value without its comment.  0 when the line is no key line. */
static int ini_key_line(const char *line, char *name, size_t nlen, char *value, size_t vlen,
                        int *commented)
{
    *commented = line[0] == ';';
    const char *p = line + (*commented ? 1 : 0);
    while (*p == ' ') p++;
    const char *e = p;
    while (islower((unsigned char)*e) || *e == '_') e++;
    if (e == p || strncmp(e, " =", 2) != 0 || (e[2] != ' ' && e[2] != '\0')) return 0;
    snprintf(name, nlen, "%.*s", (int)(e - p), p);
    const char *v = e + 2;
    while (*v == ' ') v++;
    const char *ve = strstr(v, " ;");
    if (!ve) ve = v + strlen(v);
    while (ve > v && ve[-1] == ' ') ve--;
    snprintf(value, vlen, "%.*s", (int)(ve - v), v);
    return 1;
}

Test(docs_sync, workers_ini_matches_the_config_table)
{
    load_table();
    char *text = src_file("etc/workers.ini");
    char section[32] = "";
    int lineno = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        if (line[0] == '[') {
            char *e = strchr(line, ']');
            cr_assert_not_null(e, "etc/workers.ini: %s", line);
            snprintf(section, sizeof section, "%.*s", (int)(e - line - 1), line + 1);
            if (!strncmp(section, "type ", 5)) snprintf(section, sizeof section, "type NAME");
            continue;
        }
        if (!section[0]) continue;          /* the header comment */
        char name[64], value[256];
        int commented;
        if (!ini_key_line(line, name, sizeof name, value, sizeof value, &commented)) continue;
        struct key *k = find_key(section, name);
        if (!k) {
            cr_expect(commented, "etc/workers.ini: [%s] %s is not in the config table", section, name);
            continue;                       /* prose in a comment */
        }
        k->seen++;
        if (k->has_def) {
            cr_expect(!commented, "etc/workers.ini: [%s] %s has the default %s but is commented out",
                      section, name, k->def);
            /* the two install paths stand in for their relative defaults */
            int install_path = (!strcmp(name, "plugins") && !strcmp(value, "/usr/local/lib/kue/plugins")) ||
                               (!strcmp(name, "run_dir") && !strcmp(value, "/var/lib/kue"));
            if (!install_path)
                cr_expect_str_eq(value, k->def, "etc/workers.ini: [%s] %s = %s, the table's default is %s",
                                 section, name, value, k->def);
        } else {
            cr_expect(commented, "etc/workers.ini: [%s] %s has no default but is set", section, name);
        }
    }
    for (int i = 0; i < nkeys; i++)
        cr_expect_eq(keys[i].seen, 1, "etc/workers.ini: [%s] %s appears %d times, want once",
                     keys[i].section, keys[i].name, keys[i].seen);
    free(text);
}

/* The lines of text from the first section header on, each without its
 * trailing blanks; [type echo] stands for [type NAME], and the install
 * paths of plugins and run_dir for the table's defaults. */
static int ini_lines(char *text, char **out, int max)
{
    char *p = text;
    while (p && *p != '[') {
        p = strchr(p, '\n');
        if (p) p++;
    }
    int n = 0;
    char *save = NULL;
    for (char *l = p ? strtok_r(p, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save)) {
        size_t len = strlen(l);
        while (len && (l[len - 1] == ' ' || l[len - 1] == '\r')) l[--len] = '\0';
        if (!strcmp(l, "[type echo]")) strcpy(l, "[type NAME]");
        if (!strcmp(l, "plugins = /usr/local/lib/kue/plugins")) strcpy(l, "plugins = ./plugins");
        if (!strcmp(l, "run_dir = /var/lib/kue")) strcpy(l, "run_dir = ./run");
        cr_assert_lt(n, max);
        out[n++] = l;
    }
    return n;
}

Test(docs_sync, workers_ini_is_print_defaults)
{
    char bin[4096], cmd[4200];
    kt_bin("kue-supervisor", bin, sizeof bin);
    snprintf(cmd, sizeof cmd, "'%s' --print-defaults", bin);
    int code;
    char *want = run(cmd, &code);
    cr_assert_eq(code, 0);
    char *have = src_file("etc/workers.ini");
    static char *wl[512], *hl[512];
    int nw = ini_lines(want, wl, 512), nh = ini_lines(have, hl, 512);
    int i = 0;
    while (i < nw && i < nh && !strcmp(wl[i], hl[i])) i++;
    cr_expect(i == nw && i == nh,
              "etc/workers.ini differs from kue-supervisor --print-defaults at its line %d of "
              "the keys:\n  file:  %s\n  table: %s\nregenerate the part below its header with\n"
              "  the command in its header",
              i + 1, i < nh ? hl[i] : "(end)", i < nw ? wl[i] : "(end)");
    free(want);
    free(have);
}

/* That etc/workers.ini (and every other shipped INI) passes -t is checked
 * by tests/integration/install_files.c, against a real install. */
