/*
 * keys.c -- the one builder of key and channel names (libkue/keys.[ch],
 * docs/wire.md sections 1 and 9): every name in both key styles, the
 * workerId format, overflow, and a scan of the Lua scripts and the C
 * sources showing that no other code spells a key.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "keys.h"

static char b[512];

Test(keys, plain_names)
{
    char p[KUE_KEY_PREFIX_MAX];
    cr_assert_eq(kue_key_prefix(p, sizeof p, "q", KUE_KEYS_PLAIN), 1);
    cr_assert_str_eq(p, "q");
    kue_key_job(b, sizeof b, p, "42");                 cr_assert_str_eq(b, "q:job:42");
    kue_key_job_log(b, sizeof b, p, "42");             cr_assert_str_eq(b, "q:job:42:log");
    kue_key_jobs(b, sizeof b, p, NULL, NULL);          cr_assert_str_eq(b, "q:jobs");
    kue_key_jobs(b, sizeof b, p, "", "active");        cr_assert_str_eq(b, "q:jobs:active");
    kue_key_jobs(b, sizeof b, p, "email", "failed");   cr_assert_str_eq(b, "q:jobs:email:failed");
    kue_key_tokens(b, sizeof b, p, "email");           cr_assert_str_eq(b, "q:email:jobs");
    kue_key_types(b, sizeof b, p);                     cr_assert_str_eq(b, "q:job:types");
    kue_key_work_time(b, sizeof b, p);                 cr_assert_str_eq(b, "q:stats:work-time");
    kue_key_search_word(b, sizeof b, p, "KNFRT");      cr_assert_str_eq(b, "q:search:word:KNFRT");
    kue_key_search_tmp(b, sizeof b, p);                cr_assert_str_eq(b, "q:searchtmpkey");
    kue_key_held(b, sizeof b, p, "h1", 77);            cr_assert_str_eq(b, "q:held:h1:77");
    kue_key_wake(b, sizeof b, p, "h1", 77);            cr_assert_str_eq(b, "q:wake:h1:77");
    kue_key_drained(b, sizeof b, p, "h1", 77);         cr_assert_str_eq(b, "q:drained:h1:77");
    kue_key_events(b, sizeof b, p);                    cr_assert_str_eq(b, "q:events");
    kue_key_delayed(b, sizeof b, p);                   cr_assert_str_eq(b, "q:delayed");
}

/* Kue 0.11 on ioredis: '{' + prefix + '}:' + name, for every name. */
Test(keys, hashtag_names)
{
    char p[KUE_KEY_PREFIX_MAX];
    cr_assert_eq(kue_key_prefix(p, sizeof p, "q", KUE_KEYS_HASHTAG), 3);
    cr_assert_str_eq(p, "{q}");
    kue_key_jobs(b, sizeof b, p, "email", "inactive"); cr_assert_str_eq(b, "{q}:jobs:email:inactive");
    kue_key_tokens(b, sizeof b, p, "email");           cr_assert_str_eq(b, "{q}:email:jobs");
    kue_key_search_word(b, sizeof b, p, "TJ");         cr_assert_str_eq(b, "{q}:search:word:TJ");
    kue_key_held(b, sizeof b, p, "h", 1);              cr_assert_str_eq(b, "{q}:held:h:1");
    kue_key_delayed(b, sizeof b, p);                   cr_assert_str_eq(b, "{q}:delayed");
    kue_key_events(b, sizeof b, p);                    cr_assert_str_eq(b, "{q}:events");
}

Test(keys, styles_and_worker_id)
{
    cr_assert_eq(kue_key_style_parse("plain"), KUE_KEYS_PLAIN);
    cr_assert_eq(kue_key_style_parse("hashtag"), KUE_KEYS_HASHTAG);
    cr_assert_eq(kue_key_style_parse("Hashtag"), -1);
    cr_assert_eq(kue_key_style_parse(""), -1);
    cr_assert_eq(kue_key_style_parse(NULL), -1);
    cr_assert_str_eq(kue_key_style_name(KUE_KEYS_HASHTAG), "hashtag");
    cr_assert_str_eq(kue_key_style_name(KUE_KEYS_PLAIN), "plain");
    cr_assert_eq(kue_worker_id(b, sizeof b, "box", 1234, "email", 3), 20);
    cr_assert_str_eq(b, "kue:box:1234:email:3");
    kue_worker_id(b, sizeof b, "box", 1234, "email", -1);
    cr_assert_str_eq(b, "kue:box:1234:email:");
    kue_lock_owner(b, sizeof b, "box", 1234);
    cr_assert_str_eq(b, "kue:box:1234");
}

Test(keys, too_long_is_refused)
{
    char small[8];
    cr_assert_eq(kue_key_job(small, sizeof small, "q", "123456"), -1);
    cr_assert_eq(strlen(small), sizeof small - 1);
    cr_assert_eq(kue_key_job(small, sizeof small, "q", "1"), 7);
    cr_assert_eq(kue_key_events(NULL, 0, "q"), -1);
}

/* ---- no other code spells a key --------------------------------------- */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    char *s = malloc(1 << 20);
    cr_assert_not_null(s);
    size_t n = fread(s, 1, (1 << 20) - 1, f);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* Each Lua script builds its keys with key() from ARGV[1]: a redis.call
 * whose key argument is a string literal may only name Kue's unprefixed
 * promotion lock (OBJECT's first argument is its subcommand). */
Test(keys, lua_scripts_use_key)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/libkue/lua", kt_srcdir());
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".lua")) continue;
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        char *s = slurp(path);
        files++;
        for (char *p = s; (p = strstr(p, "redis.call(")); p++) {
            char *comma = strchr(p, ',');
            char *close = strchr(p, ')');
            if (!comma || (close && close < comma)) continue;   /* no key argument */
            if (!strncmp(p + 11, "'OBJECT',", 9)) continue;      /* a subcommand comes first */
            char *a = comma + 1;
            while (*a == ' ') a++;
            if (*a != '\'' && *a != '"') continue;               /* key(...) or a local */
            cr_assert(!strncmp(a + 1, KUE_KEY_PROMOTION_LOCK, strlen(KUE_KEY_PROMOTION_LOCK)),
                      "%s: a key spelled as a literal: %.60s", e->d_name, p);
        }
        cr_assert(!strstr(s, "P .. ':'") || !strcmp(e->d_name, "prelude.lua"),
                  "%s builds a key without key()", e->d_name);
        free(s);
    }
    closedir(d);
    cr_assert_gt(files, 10);
}

/* The C sources: no format string spells a key name or the workerId
 * outside libkue/keys.c. */
Test(keys, c_sources_use_the_keys_module)
{
    static const char *const dirs[] = { "libkue", "common", "worker", "supervisor", "web", "cli" };
    static const char *const bad[] = { "%s:job", "%s:jobs", "%s:%s:jobs", "%s:events", "%s:delayed",
                                       "%s:held", "%s:wake", "%s:drained", "%s:leases", "%s:search",
                                       "%s:stats", "\"kue:%s" };
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        char dir[600];
        snprintf(dir, sizeof dir, "%s/%s", kt_srcdir(), dirs[i]);
        DIR *d = opendir(dir);
        cr_assert_not_null(d, "%s", dir);
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t l = strlen(e->d_name);
            if (l < 3 || strcmp(e->d_name + l - 2, ".c") || !strcmp(e->d_name, "keys.c")) continue;
            char path[1200];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            char *s = slurp(path);
            for (size_t k = 0; k < sizeof bad / sizeof *bad; k++)
                cr_assert(!strstr(s, bad[k]), "%s/%s spells a key (%s): use libkue/keys.h", dirs[i],
                          e->d_name, bad[k]);
            free(s);
        }
        closedir(d);
    }
}
