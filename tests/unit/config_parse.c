/*
 * config_parse.c -- the supervisor's config table: every error kind names
 * file:line and the key; durations, sizes, defaults, relative paths,
 * environment overrides, plugin checks.
 *
 * The supervisor's sources are compiled into this test directly (they are
 * not part of libkue).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "../../supervisor/config.c"

static struct sup_config cfg;
static char err[2048];
static char dir[512];

static void setup(void)
{
    unsetenv("KUE_REDIS_URL");
    unsetenv("KUE_PREFIX");
    unsetenv("KUE_WEB_LISTEN");
    snprintf(dir, sizeof(dir), "%s", kt_tmpdir());
    char p[600];
    snprintf(p, sizeof(p), "%s/plugins", dir);
    mkdir(p, 0755);
    chmod(p, 0755);
    snprintf(p, sizeof(p), "%s/plugins/email.so", dir);
    kt_write_file(p, "not really a plugin");
    err[0] = '\0';
}

static void teardown(void) { kt_cleanup(); }

TestSuite(config, .init = setup, .fini = teardown);

static int tload(const char *text)
{
    return sup_config_load_string(&cfg, text, "w.ini", dir, err, sizeof(err));
}

#define EXPECT_ERR(text, want)                                                   \
    do {                                                                         \
        cr_assert_eq(tload(text), -1, "accepted: %s", text);                     \
        cr_assert(strstr(err, want), "error \"%s\" lacks \"%s\"", err, want);    \
    } while (0)

Test(config, defaults)
{
    cr_assert_eq(tload(""), 0, "%s", err);
    cr_assert_eq(cfg.shutdown_timeout_ms, 25000);
    cr_assert_eq(cfg.promotion_interval_ms, 1000);
    cr_assert_eq(cfg.promotion_limit, 1000);
    cr_assert_str_eq(cfg.prefix, "q");
    cr_assert_str_eq(cfg.redis_url, "redis://127.0.0.1:6379/0");
    cr_assert_str_eq(cfg.log_format, "text");
    cr_assert_eq(cfg.web, 0);
    cr_assert_eq(cfg.search, 0);
    char want[700];
    snprintf(want, sizeof(want), "%s/plugins", dir);   /* "./plugins", normalised */
    cr_assert_str_eq(cfg.plugins, want);
    snprintf(want, sizeof(want), "%s/run", dir);
    cr_assert_str_eq(cfg.run_dir, want);
}

Test(config, type_defaults_and_values)
{
    cr_assert_eq(tload("[supervisor]\nplugins = plugins\n"
                      "[type email]\n"
                      "processes = 3 ; three\n"
                      "concurrency = 10\n"
                      "timeout = 1500ms\n"
                      "max_rss = 512M\n"
                      "max_jobs = 100\n"
                      "[type other]\nhandler = email.so\n"
                      "[web]\n"), 0, "%s", err);
    cr_assert_eq(cfg.ntypes, 2);
    cr_assert_str_eq(cfg.types[0].name, "email");
    cr_assert_eq(cfg.types[0].processes, 3);
    cr_assert_eq(cfg.types[0].concurrency, 10);
    cr_assert_eq(cfg.types[0].timeout_ms, 1500);
    cr_assert_eq(cfg.types[0].max_rss, 512ull << 20);
    cr_assert_eq(cfg.types[0].max_jobs, 100);
    cr_assert_eq(cfg.types[0].line, 3);
    cr_assert_eq(cfg.types[1].processes, 1);
    cr_assert_eq(cfg.types[1].concurrency, 1);
    char want[700];
    snprintf(want, sizeof(want), "%s/plugins/email.so", dir);
    cr_assert_str_eq(cfg.types[0].handler, want);
    cr_assert_str_eq(cfg.types[1].handler, want);
    cr_assert_eq(cfg.web, 1, "an empty [web] section enables the web process");
    cr_assert_str_eq(cfg.web_listen, "127.0.0.1:3000");
}

Test(config, durations)
{
    cr_assert_eq(tload("[supervisor]\nshutdown_timeout = 5m\n[promotion]\ninterval = 250ms\n"), 0, "%s", err);
    cr_assert_eq(cfg.shutdown_timeout_ms, 300000);
    cr_assert_eq(cfg.promotion_interval_ms, 250);
    cr_assert_eq(tload("[supervisor]\nshutdown_timeout = 1h\n"), 0, "%s", err);
    cr_assert_eq(cfg.shutdown_timeout_ms, 3600000);
    cr_assert_eq(tload("[supervisor]\nshutdown_timeout = 2s\n"), 0, "%s", err);
    cr_assert_eq(cfg.shutdown_timeout_ms, 2000);
}

Test(config, unknown_section)
{
    EXPECT_ERR("[supervisor]\n\n[bogus]\nx = 1\n", "w.ini:3: [bogus]: unknown section");
}

Test(config, unknown_key)
{
    EXPECT_ERR("[supervisor]\nshutdown_timeout = 1s\nbogus = 1\n",
               "w.ini:3: [supervisor] bogus: unknown key");
    EXPECT_ERR("[type email]\nprocesses = 1\nhandlr = x.so\n", "w.ini:3: [type email] handlr: unknown key");
}

Test(config, bad_values)
{
    EXPECT_ERR("[supervisor]\nshutdown_timeout = soon\n",
               "w.ini:2: [supervisor] shutdown_timeout: \"soon\" is not a duration");
    EXPECT_ERR("[type email]\nprocesses = many\n", "w.ini:2: [type email] processes: \"many\" is not an integer");
    EXPECT_ERR("[type email]\nprocesses = 100000\n", "w.ini:2: [type email] processes:");
    EXPECT_ERR("[type email]\nconcurrency = 0\n", "w.ini:2: [type email] concurrency:");
    EXPECT_ERR("[search]\nenabled = maybe\n", "w.ini:2: [search] enabled: \"maybe\" is not a boolean");
    EXPECT_ERR("[supervisor]\nlog_format = xml\n", "w.ini:2: [supervisor] log_format: \"xml\" is not one of text|json");
    EXPECT_ERR("[type email]\nmax_rss = lots\n", "w.ini:2: [type email] max_rss: \"lots\" is not a size");
    EXPECT_ERR("\n[redis]\nurl = http://x\n", "w.ini:3: [redis] url:");
    EXPECT_ERR("[web]\nlisten = nowhere\n", "w.ini:2: [web] listen:");
    EXPECT_ERR("[web]\nlisten = 127.0.0.1:99999\n", "w.ini:2: [web] listen:");
    EXPECT_ERR("[promotion]\nlimit =\n", "w.ini:2: [promotion] limit: empty value");
    EXPECT_ERR("[supervisor]\nuser = no-such-user-kue\n", "w.ini:2: [supervisor] user: no such user");
}

Test(config, structure_errors)
{
    EXPECT_ERR("[supervisor]\nlog_level = info\nlog_level = debug\n",
               "w.ini:3: [supervisor] log_level: set twice (first at line 2)");
    EXPECT_ERR("[web]\n[web]\n", "w.ini:2: [web]: duplicate section (first at line 1)");
    EXPECT_ERR("[type email]\n[type email]\n", "w.ini:2: [type email]: duplicate section");
    EXPECT_ERR("[type]\n", "w.ini:1: [type]: a type section needs a name");
    EXPECT_ERR("x = 1\n", "w.ini:1: x: key outside of any section");
    EXPECT_ERR("[supervisor]\njust words\n", "w.ini:2: syntax error");
    EXPECT_ERR("[supervisor\n", "w.ini:1: syntax error");
}

Test(config, missing_plugin)
{
    EXPECT_ERR("[supervisor]\nplugins = plugins\n\n[type sms]\nprocesses = 1\n",
               "w.ini:4: [type sms] handler: ");
    cr_assert(strstr(err, "sms.so: No such file"), "%s", err);
    EXPECT_ERR("[type email]\nprocesses = 1\nhandler = gone.so\n", "w.ini:3: [type email] handler: ");
    EXPECT_ERR("[supervisor]\nplugins = nowhere\n[type email]\n", "w.ini:2: [supervisor] plugins: ");
}

Test(config, plugins_dir_writable_by_others)
{
    char p[600];
    snprintf(p, sizeof(p), "%s/plugins", dir);
    chmod(p, 0777);
    EXPECT_ERR("[supervisor]\nplugins = plugins\n[type email]\n",
               "w.ini:2: [supervisor] plugins: ");
    cr_assert(strstr(err, "writable by group or others"), "%s", err);
    chmod(p, 0755);
}

Test(config, broken_plugin_is_reported_with_line)
{
    char bin[600];
    sup_plugin_checker(kt_bin("kue-worker", bin, sizeof(bin)));
    cr_assert_eq(tload("[supervisor]\nplugins = plugins\n[type email]\nprocesses = 2\n"), 0, "%s", err);
    cr_assert_eq(sup_config_check_plugins(&cfg, err, sizeof(err)), -1);
    cr_assert(strstr(err, "w.ini:3: [type email] handler: "), "%s", err);
}

Test(config, good_plugin_passes_the_check)
{
    char so[600];
    snprintf(so, sizeof(so), "%s/plugins/echo.so", kt_build());
    if (access(so, R_OK) != 0)
        cr_skip_test("example plugin echo.so not built");
    char bin[600];
    sup_plugin_checker(kt_bin("kue-worker", bin, sizeof(bin)));
    char text[1200];
    snprintf(text, sizeof(text), "[supervisor]\nplugins = %s/plugins\n[type echo]\n", kt_build());
    cr_assert_eq(tload(text), 0, "%s", err);
    cr_assert_eq(sup_config_check_plugins(&cfg, err, sizeof(err)), 0, "%s", err);
    /* a plugin that does not serve the type */
    snprintf(text, sizeof(text), "[supervisor]\nplugins = %s/plugins\n[type nosuch]\nhandler = echo.so\n",
             kt_build());
    cr_assert_eq(tload(text), 0, "%s", err);
    cr_assert_eq(sup_config_check_plugins(&cfg, err, sizeof(err)), -1);
    cr_assert(strstr(err, "w.ini:4: [type nosuch] handler: "), "%s", err);
}

Test(config, env_overrides)
{
    setenv("KUE_REDIS_URL", "redis://127.0.0.1:7000/2", 1);
    setenv("KUE_PREFIX", "jobs", 1);
    setenv("KUE_WEB_LISTEN", "0.0.0.0:8080", 1);
    cr_assert_eq(tload("[redis]\nurl = redis://127.0.0.1:6379/0\nprefix = q\n"), 0, "%s", err);
    cr_assert_str_eq(cfg.redis_url, "redis://127.0.0.1:7000/2");
    cr_assert_str_eq(cfg.prefix, "jobs");
    cr_assert_eq(cfg.web, 1);
    cr_assert_str_eq(cfg.web_listen, "0.0.0.0:8080");
    setenv("KUE_REDIS_URL", "ftp://x", 1);
    EXPECT_ERR("", "environment KUE_REDIS_URL:");
    unsetenv("KUE_REDIS_URL");
    setenv("KUE_WEB_LISTEN", "bad", 1);
    EXPECT_ERR("", "environment KUE_WEB_LISTEN:");
    unsetenv("KUE_WEB_LISTEN");
    unsetenv("KUE_PREFIX");
}

Test(config, embedded_and_fixed_keys)
{
    cr_assert_eq(tload("[redis]\nurl = embedded\n"), 0, "%s", err);
    cr_assert_eq(cfg.embedded, 1);
    cr_assert(strchr(cfg.redis_server, '/'), "resolved in PATH: %s", cfg.redis_server);
    EXPECT_ERR("[redis]\nurl = embedded\nserver = /nonexistent/redis-server\n", "w.ini:3: [redis] server:");

    static struct sup_config a, b;
    cr_assert_eq(sup_config_load_string(&a, "[redis]\nprefix = a\n[promotion]\ninterval = 2s\n", "a", dir, err, sizeof(err)), 0);
    cr_assert_eq(sup_config_load_string(&b, "[redis]\nprefix = b\n[promotion]\ninterval = 3s\n", "b", dir, err, sizeof(err)), 0);
    char buf[256];
    sup_config_fixed_changes(&a, &b, buf, sizeof(buf));
    cr_assert(strstr(buf, "[redis] prefix"), "%s", buf);
    cr_assert(!strstr(buf, "interval"), "%s", buf);
    sup_config_keep_fixed(&b, &a);
    cr_assert_str_eq(b.prefix, "a");
    cr_assert_eq(b.promotion_interval_ms, 3000);
}

Test(config, file_errors_name_the_file)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/bad.ini", dir);
    kt_write_file(path, "[supervisor]\n; comment\nshutdown_timeout = x\n");
    cr_assert_eq(sup_config_load(&cfg, path, err, sizeof(err)), -1);
    char want[700];
    snprintf(want, sizeof(want), "%s:3: [supervisor] shutdown_timeout:", path);
    cr_assert(strstr(err, want), "%s", err);
    cr_assert_eq(sup_config_load(&cfg, "/nonexistent/w.ini", err, sizeof(err)), -1);
    cr_assert(strstr(err, "/nonexistent/w.ini"), "%s", err);
}

Test(config, type_changes)
{
    static struct sup_config a, b;
    cr_assert_eq(sup_config_load_string(&a, "[supervisor]\nplugins=plugins\n[type email]\nprocesses=1\n", "a", dir, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(sup_config_load_string(&b, "[supervisor]\nplugins=plugins\n[type email]\nprocesses=4\n", "b", dir, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(sup_type_changed(&a.types[0], &b.types[0]), 0, "a count change is not a roll");
    cr_assert_eq(sup_config_load_string(&b, "[supervisor]\nplugins=plugins\n[type email]\nconcurrency=4\n", "b", dir, err, sizeof(err)), 0, "%s", err);
    cr_assert_neq(sup_type_changed(&a.types[0], &b.types[0]), 0);
}

Test(config, embedded_redis_with_user_is_refused_as_root)
{
    if (geteuid() != 0)
        cr_skip_test("only refused when started as root");
    cr_assert_eq(tload("[supervisor]\nuser = nobody\n[redis]\nurl = embedded\nserver = /bin/true\n"), -1);
    cr_assert(strstr(err, "w.ini:2: [supervisor] user: cannot be combined with [redis] url = embedded"),
              "%s", err);
}

Test(config, one_reader_for_odd_bytes)
{
    /* what inih and the line reader used to disagree on */
    EXPECT_ERR("[supervisor]\nlease =\f30s\n", "w.ini:2: control character 0x0c");
    EXPECT_ERR("[supervisor]\rlease = 30s\r", "w.ini:1: control character 0x0d (lines must end with LF or CRLF)");
    EXPECT_ERR("[type email] junk\n", "w.ini:1: syntax error: text after ']'");
    EXPECT_ERR("[type email]]\n", "w.ini:1: syntax error: text after ']'");
    /* CRLF, comments, a BOM and "name: value" are fine */
    cr_assert_eq(tload("\xef\xbb\xbf; c\r\n[supervisor] ; here\r\n# c\r\nlease = 20s ; twenty\r\n"
                       "log_level: debug\r\n"), 0, "%s", err);
    cr_assert_eq(cfg.lease_ms, 20000);
    cr_assert_str_eq(cfg.log_level, "debug");
    /* a NUL byte in a file */
    char path[600];
    snprintf(path, sizeof(path), "%s/nul.ini", dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fwrite("[supervisor]\nlease = 3\0s\n", 1, 25, f);
    fclose(f);
    cr_assert_eq(sup_config_load(&cfg, path, err, sizeof(err)), -1);
    cr_assert(strstr(err, "nul.ini:2: control character 0x00 (NUL byte)"), "%s", err);
}

/* [redis] key_style: the effective prefix; a cluster URL implies hashtag
 * and refuses plain; a db with a cluster URL names the line. */
Test(config, key_style)
{
    cr_assert_eq(tload(""), 0, "%s", err);
    cr_assert_str_eq(cfg.key_style, "plain");
    cr_assert_str_eq(cfg.keys_prefix, "q");
    cr_assert_eq(tload("[redis]\nprefix = jobs\nkey_style = hashtag\n"), 0, "%s", err);
    cr_assert_str_eq(cfg.keys_prefix, "{jobs}");
    EXPECT_ERR("[redis]\nkey_style = braces\n", "w.ini:2: [redis] key_style:");
    cr_assert_eq(tload("[redis]\nurl = redis-cluster://127.0.0.1:7000,127.0.0.1:7001\n"), 0, "%s", err);
    cr_assert_str_eq(cfg.key_style, "hashtag");
    cr_assert_str_eq(cfg.keys_prefix, "{q}");
    EXPECT_ERR("[redis]\nurl = redis-cluster://127.0.0.1:7000\nkey_style = plain\n",
               "w.ini:3: [redis] key_style: a redis-cluster:// url needs hashtag");
    EXPECT_ERR("[redis]\nurl = redis-cluster://:pw@127.0.0.1:7000/1\n", "w.ini:2: [redis] url:");
    cr_assert(strstr(err, "db 0 only") && !strstr(err, ":pw@"), "%s", err);
}

Test(config, named_section_checks)
{
    EXPECT_ERR("[retention email]\n[retention email]\n",
               "w.ini:2: [retention email]: duplicate section (first at line 1)");
    EXPECT_ERR("[cron]\n", "w.ini:1: [cron]: a cron section needs a name");
    EXPECT_ERR("[cron a/b]\n", "w.ini:1: [cron a/b]: the name contains a control character, '#', "
               "'/' or a space");
    EXPECT_ERR("[cron x]\nschedule=@hourly\ntype=email\n[cron x]\n",
               "w.ini:4: [cron x]: duplicate section (first at line 1)");
    char big[200];
    snprintf(big, sizeof big, "[type %0100d]\n", 7);
    EXPECT_ERR(big, "name longer than 63 characters");
    cr_assert_eq(tload("[retention]\nkeep_failed = 5\n[retention email]\nkeep_failed = 7\n"), 0, "%s", err);
    cr_assert_eq(cfg.nretention, 1);
    cr_assert_eq(sup_config_retention(&cfg, "email")->keep_failed, 7);
}

Test(config, type_prefix)
{
    const char *base = "[supervisor]\nplugins=plugins\n[redis]\nprefix = jobs\n";
    char text[1024];
    snprintf(text, sizeof text, "%s[type email]\n[type other]\nhandler = email.so\nprefix = mail\n"
             "[type third]\nhandler = email.so\nprefix = jobs\n", base);
    cr_assert_eq(tload(text), 0, "%s", err);
    cr_assert_str_eq(cfg.types[0].prefix, "jobs", "the default is [redis] prefix");
    cr_assert_str_eq(cfg.types[1].prefix, "mail");
    cr_assert_str_eq(cfg.types[1].keys_prefix, "mail");
    const char *pf[8];
    cr_assert_eq(sup_config_prefixes(&cfg, pf, 8), 2);
    cr_assert_str_eq(pf[0], "jobs");
    cr_assert_str_eq(pf[1], "mail");
    char list[256];
    cr_assert_eq(sup_config_prefix_list(&cfg, list, sizeof list), 0);
    cr_assert_str_eq(list, "jobs,mail");
    cr_assert_eq(sup_config_prefix_list(&cfg, list, 6), -1, "too small: refused");
    /* hashtag: every type's effective prefix gets its braces */
    snprintf(text, sizeof text, "%skey_style = hashtag\n[type email]\nprefix = mail\n", base);
    cr_assert_eq(tload(text), 0, "%s", err);
    cr_assert_str_eq(cfg.types[0].keys_prefix, "{mail}");
    cr_assert_str_eq(cfg.keys_prefix, "{jobs}");
    /* -t: non-empty, no spaces, bounded */
    EXPECT_ERR("[supervisor]\nplugins=plugins\n[type email]\nprefix =\n",
               "w.ini:4: [type email] prefix: must be non-empty, without spaces");
    EXPECT_ERR("[supervisor]\nplugins=plugins\n[type email]\nprefix = a b\n",
               "w.ini:4: [type email] prefix: must be non-empty, without spaces");
    snprintf(text, sizeof text, "[supervisor]\nplugins=plugins\n[type email]\nprefix = %070d\n", 1);
    EXPECT_ERR(text, "w.ini:4: [type email] prefix: value too long (at most 63 characters)");
    /* cron makes jobs on [redis] prefix only */
    EXPECT_ERR("[supervisor]\nplugins=plugins\n[type email]\nprefix = mail\n"
               "[cron daily]\nschedule = @daily\ntype = email\n",
               "w.ini:7: [cron daily] type: type email is on prefix mail");
}

Test(config, type_prefix_reload)
{
    static struct sup_config a, b;
    const char *one = "[supervisor]\nplugins=plugins\n[type email]\n";
    cr_assert_eq(sup_config_load_string(&a, one, "a", dir, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(sup_config_load_string(&b, "[supervisor]\nplugins=plugins\n[type email]\nprefix = mail\n",
                                        "b", dir, err, sizeof(err)), 0, "%s", err);
    char ch[256];
    cr_assert(sup_type_changes(&a.types[0], &b.types[0], ch, sizeof ch) & SUP_APPLY_WORKERS);
    cr_assert_str_eq(ch, "prefix");
    cr_assert_neq(sup_type_changed(&a.types[0], &b.types[0]), 0, "its workers are replaced");
    /* naming the default explicitly changes nothing */
    cr_assert_eq(sup_config_load_string(&b, "[supervisor]\nplugins=plugins\n[type email]\nprefix = q\n",
                                        "b", dir, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(sup_type_changed(&a.types[0], &b.types[0]), 0);
    /* [redis] prefix is fixed: a type on the default keeps the running one */
    cr_assert_eq(sup_config_load_string(&b, "[supervisor]\nplugins=plugins\n[redis]\nprefix = new\n"
                                        "[type email]\n", "b", dir, err, sizeof(err)), 0, "%s", err);
    sup_config_keep_fixed(&b, &a);
    cr_assert_str_eq(b.prefix, "q");
    cr_assert_str_eq(b.types[0].prefix, "q");
    cr_assert_str_eq(b.keys_prefix, "q");
    cr_assert_eq(sup_type_changed(&a.types[0], &b.types[0]), 0);
    cr_assert_eq(sup_config_key_apply("type", "prefix"), SUP_APPLY_WORKERS);
}
