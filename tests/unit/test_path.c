/* rg_path_normalize: RFC 3986 §6.2.2 normalisation of request paths. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/path.h"

struct vec {
    const char *in;
    const char *out; /* NULL: expect -EINVAL */
};

/* Normalise @in (strlen, or @len when not SIZE_MAX) into a buffer with
 * exactly len + 1 bytes so that ASan sees any overrun. */
static long norm(const char *in, size_t len, char **out)
{
    char *b = malloc(len + 1);
    long rv;

    ck_assert_ptr_nonnull(b);
    rv = rg_path_normalize(in, len, b, len + 1);
    *out = b;
    return rv;
}

static void check_vec(const struct vec *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        char *got;
        long rv = norm(v[i].in, strlen(v[i].in), &got);

        if (v[i].out == NULL) {
            ck_assert_msg(rv == -EINVAL, "\"%s\": want -EINVAL, got %ld",
                          v[i].in, rv);
        } else {
            ck_assert_msg(rv == (long)strlen(v[i].out),
                          "\"%s\": want \"%s\", got rv %ld", v[i].in, v[i].out,
                          rv);
            ck_assert_msg(strcmp(got, v[i].out) == 0,
                          "\"%s\": want \"%s\", got \"%s\"", v[i].in, v[i].out,
                          got);
        }
        free(got);
    }
}

/* RFC 3986 §5.4.1 and §5.4.2 reference resolutions against the base
 * "http://a/b/c/d;p?q", written as the merged path (§5.2.3) that
 * remove_dot_segments receives, with the RFC's expected result. */
START_TEST(rfc3986_examples)
{
    /* clang-format off */
    static const struct vec v[] = {
        {"/b/c/g", "/b/c/g"},
        {"/b/c/./g", "/b/c/g"},
        {"/b/c/g/", "/b/c/g/"},
        {"/b/c/.", "/b/c/"},
        {"/b/c/./", "/b/c/"},
        {"/b/c/..", "/b/"},
        {"/b/c/../", "/b/"},
        {"/b/c/../g", "/b/g"},
        {"/b/c/../..", "/"},
        {"/b/c/../../", "/"},
        {"/b/c/../../g", "/g"},
        {"/b/c/../../../g", "/g"},
        {"/b/c/../../../../g", "/g"},
        {"/./g", "/g"},
        {"/../g", "/g"},
        {"/b/c/g.", "/b/c/g."},
        {"/b/c/.g", "/b/c/.g"},
        {"/b/c/g..", "/b/c/g.."},
        {"/b/c/..g", "/b/c/..g"},
        {"/b/c/./../g", "/b/g"},
        {"/b/c/./g/.", "/b/c/g/"},
        {"/b/c/g/./h", "/b/c/g/h"},
        {"/b/c/g/../h", "/b/c/h"},
        {"/b/c/g;x=1/./y", "/b/c/g;x=1/y"},
        {"/b/c/g;x=1/../y", "/b/c/y"},
        /* §5.2.4's own walk-throughs. */
        {"/a/b/c/./../../g", "/a/g"},
        {"/mid/content=5/../6", "/mid/6"},
    };
    /* clang-format on */

    check_vec(v, sizeof(v) / sizeof(v[0]));
}
END_TEST

/* Dot segments hidden behind percent-encoding are still removed, so an
 * encoded ".." cannot climb out of a prefix-routed subtree. */
START_TEST(encoded_dot_segments_are_removed)
{
    /* clang-format off */
    static const struct vec v[] = {
        {"/%2e%2e/admin", "/admin"},
        {"/api/%2e%2e/admin", "/admin"},
        {"/api/%2E%2E/admin", "/admin"},
        {"/api/.%2e/admin", "/admin"},
        {"/api/%2e./admin", "/admin"},
        {"/api/%2e/admin", "/api/admin"},
        {"/api/v1/%2e%2e/%2e%2e/admin", "/admin"},
        {"/api/%2e%2e", "/"},
        {"/api/%2e%2e%2e", "/api/..."},
        /* Decoding is done once: "%25" is not unreserved and stays, so a
         * double-encoded ".." is an ordinary segment. */
        {"/api/%252e%252e/admin", "/api/%252e%252e/admin"},
        {"/api/../admin", "/admin"},
        {"/api/./../admin/.", "/admin/"},
    };
    /* clang-format on */

    check_vec(v, sizeof(v) / sizeof(v[0]));
}
END_TEST

START_TEST(duplicate_slashes_merge)
{
    /* clang-format off */
    static const struct vec v[] = {
        {"/", "/"},
        {"//", "/"},
        {"///", "/"},
        {"//a", "/a"},
        {"/a//b", "/a/b"},
        {"/a///b//", "/a/b/"},
        {"/a//../b", "/b"},
        {"/a/.//b", "/a/b"},
        {"/..", "/"},
        {"/../..", "/"},
        {"/.", "/"},
        {"/./", "/"},
        {"/../../a/", "/a/"},
    };
    /* clang-format on */

    check_vec(v, sizeof(v) / sizeof(v[0]));
}
END_TEST

/* Unreserved escapes are decoded, the others get upper-case hex. */
START_TEST(percent_escapes_are_canonical)
{
    /* clang-format off */
    static const struct vec v[] = {
        {"/%61dmin", "/admin"},
        {"/%41%5a%30%39", "/AZ09"},
        {"/%2D%2e%5F%7e", "/-._~"},
        {"/a%3ab", "/a%3Ab"},
        {"/a%3Ab", "/a%3Ab"},
        {"/%c3%a9t%C3%A9", "/%C3%A9t%C3%A9"},
        {"/%20x", "/%20x"},
        {"/%25", "/%25"},
        {"/%0a", "/%0A"},
        {"/%7f", "/%7F"},
        {"/%ff", "/%FF"},
        {"/a;b=c,d", "/a;b=c,d"},
        {"/\xc3\xa9", "/\xc3\xa9"},
    };
    /* clang-format on */

    check_vec(v, sizeof(v) / sizeof(v[0]));
}
END_TEST

START_TEST(bad_input_is_einval)
{
    /* clang-format off */
    static const struct vec v[] = {
        {"", NULL},
        {"a", NULL},
        {"*", NULL},
        {"http://a/b", NULL},
        {"%2fadmin", NULL},
        /* Invalid escapes. */
        {"/a%", NULL},
        {"/a%4", NULL},
        {"/a%zz", NULL},
        {"/a%g1", NULL},
        {"/a%1g", NULL},
        {"/a%%41", NULL},
        {"/a% 1", NULL},
        /* Encoded "/" and NUL. */
        {"/a%2Fb", NULL},
        {"/a%2fb", NULL},
        {"/..%2f..%2fetc", NULL},
        {"/a%00", NULL},
        /* Control bytes, raw. */
        {"/a\x01", NULL},
        {"/a\tb", NULL},
        {"/a\r\nHost: x", NULL},
        {"/a\x1f", NULL},
        {"/a\x7f", NULL},
    };
    /* clang-format on */

    check_vec(v, sizeof(v) / sizeof(v[0]));
}
END_TEST

/* A raw NUL inside the given length is a control byte, not a terminator. */
START_TEST(embedded_nul_is_einval)
{
    char out[8];

    ck_assert_int_eq(rg_path_normalize("/a\0b", 4, out, sizeof(out)), -EINVAL);
}
END_TEST

/* @cap must hold len + 1 bytes, checked before any write. */
START_TEST(small_cap_is_enospc)
{
    char out[16];

    memset(out, 'x', sizeof(out));
    ck_assert_int_eq(rg_path_normalize("/abc", 4, out, 4), -ENOSPC);
    ck_assert_int_eq(rg_path_normalize("/abc", 4, out, 0), -ENOSPC);
    ck_assert_int_eq(rg_path_normalize("/a/../b", 7, out, 3), -ENOSPC);
    ck_assert_int_eq(out[0], 'x');
    ck_assert_int_eq(rg_path_normalize("/abc", 4, out, 5), 4);
    ck_assert_str_eq(out, "/abc");
}
END_TEST

/* Normalising in place (out == in) gives the same result as copying. */
START_TEST(in_place_matches_copy)
{
    static const char *const in[] = {
        "/a/%62/../%2e%2e/c%3a//d/.", "/%41%42%43%44", "/x/%3a%3b%3c/..",
        "/a/b/c/./../../g",           "//%7e/./",
    };
    size_t i;

    for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        char a[64], b[64];
        size_t n = strlen(in[i]);
        long ra, rb;

        memcpy(b, in[i], n);
        ra = rg_path_normalize(in[i], n, a, n + 1);
        rb = rg_path_normalize(b, n, b, n + 1);
        ck_assert_int_ge(ra, 1);
        ck_assert_int_eq(ra, rb);
        ck_assert_str_eq(a, b);
    }
}
END_TEST

/* The output of a normalisation normalises to itself. */
START_TEST(idempotent)
{
    static const char *const in[] = {
        "/a/%62/../%2e%2e/c%3a//d/.",
        "/%c3%a9/./x",
        "/a/..",
        "/.%2e/a/",
    };
    size_t i;

    for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        char a[64], b[64];
        long ra = rg_path_normalize(in[i], strlen(in[i]), a, sizeof(a));
        long rb = rg_path_normalize(a, (size_t)ra, b, sizeof(b));

        ck_assert_int_eq(ra, rb);
        ck_assert_str_eq(a, b);
    }
}
END_TEST

/* A long run of ".." and "/" stays linear and bounded. */
START_TEST(long_input)
{
    size_t n = 1 << 20, i;
    char *in = malloc(n), *out = malloc(n + 1);

    ck_assert_ptr_nonnull(in);
    ck_assert_ptr_nonnull(out);
    for (i = 0; i < n; i += 4)
        memcpy(in + i, i % 8 ? "/../" : "/aa/", 4);
    ck_assert_int_eq(rg_path_normalize(in, n, out, n + 1), 1);
    ck_assert_str_eq(out, "/");
    free(in);
    free(out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("path");
    TCase *tc = tcase_create("normalize");
    SRunner *sr;
    int nf;

    tcase_add_test(tc, rfc3986_examples);
    tcase_add_test(tc, encoded_dot_segments_are_removed);
    tcase_add_test(tc, duplicate_slashes_merge);
    tcase_add_test(tc, percent_escapes_are_canonical);
    tcase_add_test(tc, bad_input_is_einval);
    tcase_add_test(tc, embedded_nul_is_einval);
    tcase_add_test(tc, small_cap_is_enospc);
    tcase_add_test(tc, in_place_matches_copy);
    tcase_add_test(tc, idempotent);
    tcase_add_test(tc, long_input);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
