/*
 * fuzz_config.c -- the supervisor's INI parser and validation
 * (supervisor/config.c): any text either loads or fails with a message
 * that names the file; never a crash, a leak or an unbounded write.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sup_config cfg;
    if (size > 64 * 1024)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char err[2048];
    err[0] = '\0';
    int rc = sup_config_load_string(&cfg, text, "fuzz.ini", "/nonexistent", err, sizeof err);
    if (rc < 0 && strncmp(err, "fuzz.ini", 8) != 0)
        abort();   /* every error names the file */
    if (rc == 0) {
        /* the reload comparison over the same table */
        char buf[1024];
        sup_config_changes(&cfg, &cfg, buf, sizeof buf);
        if (buf[0])
            abort();   /* a config differs from itself */
    }
    free(text);
    return 0;
}
