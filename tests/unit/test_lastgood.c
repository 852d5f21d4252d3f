/* Unit tests for config/lastgood.c: the last served config survives a
 * restart, and a damaged file is refused rather than served. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/lastgood.h"
#include "core/alloc.h"

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/rg-lastgood-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char path[128];

    snprintf(path, sizeof(path), "%s/lastgood.json", dir);
    unlink(path);
    rmdir(dir);
}

/* What was saved is loaded back, byte for byte, with its revision; a
 * later save replaces it. */
START_TEST(round_trip)
{
    const char *a = "{\"_format_version\":\"3.0\",\"services\":[]}";
    const char *b = "{\"_format_version\":\"3.0\"}";
    uint64_t rev = 0;
    char *doc = NULL;
    size_t len = 0;

    ck_assert_int_eq(rg_lastgood_save(dir, 7, a, strlen(a)), 0);
    ck_assert_int_eq(rg_lastgood_load(dir, &rev, &doc, &len), 0);
    ck_assert_uint_eq(rev, 7);
    ck_assert_uint_eq(len, strlen(a));
    ck_assert_str_eq(doc, a);
    rg_free(doc);
    ck_assert_int_eq(rg_lastgood_save(dir, 18446744073709551615ULL, b,
                                      strlen(b)), 0);
    ck_assert_int_eq(rg_lastgood_load(dir, &rev, &doc, &len), 0);
    ck_assert_uint_eq(rev, 18446744073709551615ULL);
    ck_assert_str_eq(doc, b);
    rg_free(doc);
}
END_TEST

/* No file: -ENOENT (a node that never served). */
START_TEST(missing_is_enoent)
{
    uint64_t rev;
    char *doc;
    size_t len;

    ck_assert_int_eq(rg_lastgood_load(dir, &rev, &doc, &len), -ENOENT);
}
END_TEST

/* A file without the header, with a bad revision, or empty is refused. */
START_TEST(damaged_is_refused)
{
    static const char *const bad[] = {
        "{\"_format_version\":\"3.0\"}",
        "raftgate-lastgood x1\n{}",
        "raftgate-lastgood 99999999999999999999999\n{}",
        "raftgate-lastgood 5",
        "",
    };
    char path[128];
    uint64_t rev;
    char *doc;
    size_t len;

    snprintf(path, sizeof(path), "%s/lastgood.json", dir);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        FILE *f = fopen(path, "w");

        ck_assert_ptr_nonnull(f);
        fputs(bad[i], f);
        fclose(f);
        ck_assert_msg(rg_lastgood_load(dir, &rev, &doc, &len) == -EINVAL,
                      "case %zu", i);
    }
}
END_TEST

/* Saving into a folder that does not exist fails and writes nothing. */
START_TEST(save_error_reported)
{
    ck_assert_int_eq(rg_lastgood_save("/nonexistent/rg", 1, "{}", 2),
                     -ENOENT);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lastgood");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int nf;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, missing_is_enoent);
    tcase_add_test(tc, damaged_is_refused);
    tcase_add_test(tc, save_error_reported);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
