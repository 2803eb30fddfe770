/*
 * main.c -- the kue-worker program: one job type, one handler plugin.
 * Started by kue-supervisor, or by hand to debug a plugin in the
 * foreground:
 *
 *     kue-worker --redis redis://127.0.0.1:6379/0 --type email \
 *                --plugin ./build/plugins/echo.so --concurrency 4
 *
 * See worker/worker.h and docs/plugins.md (options, exit codes).
 * "kue-worker --check --type T --plugin PATH" only loads and checks the
 * plugin (exit 0, or 78 with the reason on stderr).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pluginload.h"

#include "settings.h"
#include "worker.h"

static int check_plugin(const kw_config_t *cfg)
{
    char err[1024];
    kue_pl_t *pl = calloc(1, sizeof *pl);
    if (!pl) {
        fprintf(stderr, "out of memory\n");
        return KW_EXIT_FAIL;
    }
    int rc = KW_EXIT_CONFIG;
    if (kue_pl_check_perms(cfg->plugin, err, sizeof err) == 0 &&
        kue_pl_open(cfg->plugin, pl, err, sizeof err) == 0) {
        if (kue_pl_check_type(pl, cfg->type, err, sizeof err) == 0)
            rc = KW_EXIT_OK;
        kue_pl_close(pl);
    }
    free(pl);
    if (rc != KW_EXIT_OK)
        fprintf(stderr, "%s", err);
    return rc;
}

int main(int argc, char **argv)
{
    kw_config_t cfg;
    char err[512];
    /* started by the supervisor: the options come through a descriptor */
    if (kue_settings_argv(&argc, &argv, err, sizeof err) != 0) {
        fprintf(stderr, "kue-worker: %s\n", err);
        return KW_EXIT_USAGE;
    }
    /* --check: load the plugin, check it serves --type, exit (the
     * supervisor runs this, as the configured user, before it starts
     * workers on a new or changed plugin file) */
    if (argc > 1 && strcmp(argv[1], "--check") == 0) {
        argv[1] = argv[0];
        if (kw_parse_args(argc - 1, argv + 1, &cfg, err, sizeof err) != 0) {
            fprintf(stderr, "kue-worker: %s\n", err);
            return KW_EXIT_USAGE;
        }
        return check_plugin(&cfg);
    }
    int rc = kw_parse_args(argc, argv, &cfg, err, sizeof err);
    if (rc == 1) return KW_EXIT_OK;
    if (rc != 0) {
        fprintf(stderr, "kue-worker: %s\n", err);
        kw_usage(stderr);
        return KW_EXIT_USAGE;
    }
    return kw_run(&cfg);
}
