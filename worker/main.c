/*
 * main.c -- the kue-worker program: one job type, one handler plugin.
 * Started by kue-supervisor, or by hand to debug a plugin in the
 * foreground:
 *
 *     kue-worker --redis redis://127.0.0.1:6379/0 --type email \
 *                --plugin ./build/plugins/echo.so --concurrency 4
 *
 * See worker/worker.h and docs/ARCHITECTURE.md (options, exit codes).
 */
#include <stdio.h>

#include "settings.h"
#include "worker.h"

int main(int argc, char **argv)
{
    kw_config_t cfg;
    char err[512];
    /* started by the supervisor: the options come through a descriptor */
    if (kue_settings_argv(&argc, &argv, err, sizeof err) != 0) {
        fprintf(stderr, "kue-worker: %s\n", err);
        return KW_EXIT_USAGE;
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
