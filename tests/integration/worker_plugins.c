/*
 * Plugin loading: kue-worker refuses bad plugins with exit code 78 and a
 * message naming the file and what is wrong (missing file, not a shared
 * object, no entry symbol, wrong ABI version, descriptor too small, no
 * process hook, type not served, group-writable file, init failing), and
 * the loader API the supervisor uses (common/pluginload.h) says the same.
 */
#include "worker_common.h"
#include "pluginload.h"

TestSuite(worker_plugins, .init = wt_setup, .fini = wt_teardown, .timeout = 60);

/* Run the worker with plugin so for type; expect exit 78 and needle in its log. */
static void refused(const char *type, const char *so, const char *needle)
{
    const char *log = wt_log(type);
    pid_t w = wt_worker(type, so, 1, log, NULL);
    int code = wt_exit_code(w, 10000);
    char *text = kt_read_file(log);
    cr_assert_eq(code, 78, "exit code %d, log:\n%s", code, text ? text : "");
    cr_assert(text && strstr(text, needle), "log lacks \"%s\":\n%s", needle, text ? text : "");
    cr_assert(strstr(text, so) || strstr(needle, so), "log does not name the file:\n%s", text);
    free(text);
}

Test(worker_plugins, missing_file)
{
    char so[512];
    snprintf(so, sizeof so, "%s/nope.so", kt_tmpdir());
    refused("nope", so, "No such file or directory");
}

Test(worker_plugins, not_a_shared_object)
{
    char so[512];
    snprintf(so, sizeof so, "%s/junk.so", kt_tmpdir());
    kt_write_file(so, "this is not an ELF file\n");
    refused("junk", so, "cannot load");
}

Test(worker_plugins, missing_entry_symbol)
{
    const char *so = wt_build_plugin("nosym", "int not_the_entry(void);\n"
                                              "int not_the_entry(void) { return 1; }\n");
    refused("nosym", so, "no symbol kue_plugin_entry");
}

Test(worker_plugins, wrong_abi_version)
{
    const char *so = wt_build_plugin("abi7",
        "#include <kue/plugin.h>\n"
        "static void process(kue_handle_t *j) { kue_done(j, 0, 0); }\n"
        "static struct kue_plugin d = { .abi = 7, .size = sizeof d, .process = process };\n"
        "const struct kue_plugin *kue_plugin_entry(void);\n"
        "const struct kue_plugin *kue_plugin_entry(void) { return &d; }\n");
    refused("abi7", so, "ABI version 7, this kue supports 1");
}

Test(worker_plugins, descriptor_too_small)
{
    const char *so = wt_build_plugin("small",
        "#include <kue/plugin.h>\n"
        "static struct kue_plugin d = { .abi = KUE_PLUGIN_ABI, .size = 8 };\n"
        "const struct kue_plugin *kue_plugin_entry(void);\n"
        "const struct kue_plugin *kue_plugin_entry(void) { return &d; }\n");
    refused("small", so, "descriptor too small (8 bytes");
}

Test(worker_plugins, no_process_hook)
{
    const char *so = wt_build_plugin("noproc",
        "#include <kue/plugin.h>\n"
        "KUE_PLUGIN(.name = \"noproc\");\n");
    refused("noproc", so, "no process hook");
}

Test(worker_plugins, type_not_served)
{
    const char *so = wt_build_plugin("mail",
        "#include <kue/plugin.h>\n"
        "static void process(kue_handle_t *j) { kue_done(j, 0, 0); }\n"
        "static const char *const types[] = { \"email\", \"sms\", 0 };\n"
        "KUE_PLUGIN(.process = process, .types = types);\n");
    refused("fax", so, "does not serve type \"fax\" (it serves: email, sms)");
}

Test(worker_plugins, group_writable_refused)
{
    const char *so = wt_build_plugin("gw",
        "#include <kue/plugin.h>\n"
        "static void process(kue_handle_t *j) { kue_done(j, 0, 0); }\n"
        "KUE_PLUGIN(.process = process);\n");
    cr_assert_eq(chmod(so, 0664), 0);
    refused("gw", so, "writable by group");
}

Test(worker_plugins, init_failure)
{
    const char *so = wt_build_plugin("badinit",
        "#include <kue/plugin.h>\n"
        "static int init(kue_plugin_ctx_t *c) { (void)c; return -1; }\n"
        "static void process(kue_handle_t *j) { kue_done(j, 0, 0); }\n"
        "KUE_PLUGIN(.init = init, .process = process);\n");
    refused("badinit", so, "init() failed");
}

Test(worker_plugins, loader_api)
{
    kue_pl_t pl;
    char err[1024];
    const char *echo = wt_plugin("echo");
    cr_assert_eq(kue_pl_open(echo, &pl, err, sizeof err), 0, "%s", err);
    cr_assert(kue_pl_serves(&pl, "echo"));
    cr_assert_not(kue_pl_serves(&pl, "other"));
    cr_assert_str_eq(pl.name, "echo");
    cr_assert_not_null(pl.desc.process);
    cr_assert_eq(kue_pl_check_type(&pl, "other", err, sizeof err), -1);
    cr_assert(strstr(err, "it serves: echo"), "%s", err);
    kue_pl_close(&pl);

    char stem[64];
    kue_pl_stem("/a/b/email.so", stem, sizeof stem);
    cr_assert_str_eq(stem, "email");

    char so[512];
    snprintf(so, sizeof so, "%s/missing.so", kt_tmpdir());
    cr_assert_eq(kue_pl_open(so, &pl, err, sizeof err), -1);
    cr_assert(strstr(err, so), "%s", err);
    cr_assert_eq(kue_pl_check_perms(echo, err, sizeof err), 0, "%s", err);
}
