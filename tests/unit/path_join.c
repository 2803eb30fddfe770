/* kue_path_join: config paths relative to the (realpath'd) config
 * directory, with leading "./" and "../" applied, so logs show
 * /x/build/run rather than /x/etc/../build/run. */
#include <criterion/criterion.h>
#include <string.h>

#include "util.h"

static const char *j(const char *dir, const char *rel)
{
    static char out[256];
    cr_assert_eq(kue_path_join(out, sizeof out, dir, rel), 0, "%s + %s", dir, rel);
    return out;
}

Test(path_join, leading_dots_apply_to_the_directory)
{
    cr_expect_str_eq(j("/x/etc", "../build/run"), "/x/build/run");
    cr_expect_str_eq(j("/x/etc", "./plugins"), "/x/etc/plugins");
    cr_expect_str_eq(j("/x/etc", "plugins"), "/x/etc/plugins");
    cr_expect_str_eq(j("/x/etc", "../../a"), "/a");
    cr_expect_str_eq(j("/x/etc", "../../../a"), "/a");
    cr_expect_str_eq(j("/x/etc", ".."), "/x");
    cr_expect_str_eq(j("/x/etc", "."), "/x/etc");
    cr_expect_str_eq(j("/x/etc/", ".//../run"), "/x/run");
    cr_expect_str_eq(j("/", "run"), "/run");
    cr_expect_str_eq(j("/x/etc", "/abs/../kept"), "/abs/../kept");
    /* only leading dots: inside rel, a component may be a symlink */
    cr_expect_str_eq(j("/x/etc", "a/../b"), "/x/etc/a/../b");
    cr_expect_str_eq(j("/x/etc", "..foo"), "/x/etc/..foo");
}

Test(path_join, too_long_fails)
{
    char out[8];
    cr_expect_eq(kue_path_join(out, sizeof out, "/x/etc", "plugins"), -1);
    cr_expect_eq(kue_path_join(out, sizeof out, "/x/etc", "../a"), 0);
    cr_expect_str_eq(out, "/x/a");
}
