/*
 * settings.h -- how the supervisor hands a child its settings without
 * putting them on the command line or in the environment.
 *
 * The master writes the child's options (the same "--name value" list a
 * human would type) into a sealed memfd and passes the descriptor; the
 * child's command line is only "TITLE --settings-fd N".  The command line
 * and the environment of a process can be read by other local users
 * (ps, /proc/PID/cmdline); the Redis password and the web credentials
 * therefore never go there (docs/security.md).
 */
#ifndef KUE_SETTINGS_H
#define KUE_SETTINGS_H

#include <stddef.h>

#define KUE_SETTINGS_MAX_BYTES (128 * 1024)
#define KUE_SETTINGS_MAX_ARGS  256

/* Master: a sealed, close-on-exec memfd holding the n strings (each
 * NUL-terminated), positioned at 0.  Returns the descriptor, or -1 with
 * errno (E2BIG when over the bounds above). */
int kue_settings_create(const char *const *strs, int n);

/* Child: when the command line is exactly {argv0, "--settings-fd", N},
 * read the strings from descriptor N (which is closed) and replace *argcp
 * and *argvp by {argv0, strings...}, allocated for the life of the
 * process.  Returns 0 (also when the command line is an ordinary one,
 * left as is), -1 with a message in err. */
int kue_settings_argv(int *argcp, char ***argvp, char *err, size_t errlen);

#endif
