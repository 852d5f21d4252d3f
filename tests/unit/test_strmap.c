/* Unit tests for core/strmap.c: the map that replaced the config parser's
 * quadratic duplicate scans. A lost or merged key there means a duplicate
 * name accepted or a valid config refused. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/strmap.h"

#define MANY 10000

/* Keys are borrowed by the map: they live here for the whole test. */
static char many[MANY][24];

static int put_s(struct rg_strmap *m, const char *s, size_t val)
{
    return rg_strmap_put(m, s, strlen(s), val);
}

static size_t get_s(const struct rg_strmap *m, const char *s)
{
    return rg_strmap_get(m, s, strlen(s));
}

/* What was put is found with its value; other keys, and any key in a
 * map never put to, are absent (SIZE_MAX). */
START_TEST(put_then_get)
{
    struct rg_strmap m;

    rg_strmap_init(&m, 0);
    ck_assert_uint_eq(get_s(&m, "alpha"), SIZE_MAX);
    ck_assert_int_eq(put_s(&m, "alpha", 1), 0);
    ck_assert_int_eq(put_s(&m, "beta", 2), 0);
    ck_assert_int_eq(put_s(&m, "gamma", 0), 0);
    ck_assert_uint_eq(m.n, 3);
    ck_assert_uint_eq(get_s(&m, "alpha"), 1);
    ck_assert_uint_eq(get_s(&m, "beta"), 2);
    ck_assert_uint_eq(get_s(&m, "gamma"), 0);
    ck_assert_uint_eq(get_s(&m, "delta"), SIZE_MAX);
    ck_assert_uint_eq(get_s(&m, "alph"), SIZE_MAX);
    ck_assert_uint_eq(get_s(&m, "alphaa"), SIZE_MAX);
    rg_strmap_release(&m);
}
END_TEST

/* A key already present returns 1 and changes nothing: the first value
 * stays, the count stays, and the map keeps the first key's bytes (the
 * duplicate's buffer may be reused by the caller at once). */
START_TEST(duplicate_leaves_map_unchanged)
{
    struct rg_strmap m;
    char first[] = "svc";
    char dup[] = "svc";

    rg_strmap_init(&m, 0);
    ck_assert_int_eq(rg_strmap_put(&m, first, 3, 7), 0);
    ck_assert_int_eq(rg_strmap_put(&m, dup, 3, 8), 1);
    ck_assert_uint_eq(m.n, 1);
    memcpy(dup, "xyz", 3);
    ck_assert_uint_eq(get_s(&m, "svc"), 7);
    ck_assert_uint_eq(get_s(&m, "xyz"), SIZE_MAX);
    ck_assert_int_eq(rg_strmap_put(&m, first, 3, 9), 1);
    ck_assert_uint_eq(get_s(&m, "svc"), 7);
    ck_assert_uint_eq(m.n, 1);
    rg_strmap_release(&m);
}
END_TEST

/* With folding, keys differing only in ASCII letter case are one key
 * (found under any case, a second put is a duplicate); bytes that are
 * not letters are not folded ('@' and '`', '[' and '{' differ by 32 too,
 * as do Latin-1 'É' and 'é'). */
START_TEST(fold_on)
{
    struct rg_strmap m;

    rg_strmap_init(&m, 1);
    ck_assert_int_eq(put_s(&m, "Route-A", 1), 0);
    ck_assert_int_eq(put_s(&m, "route-a", 2), 1);
    ck_assert_int_eq(put_s(&m, "ROUTE-A", 3), 1);
    ck_assert_uint_eq(m.n, 1);
    ck_assert_uint_eq(get_s(&m, "rOuTe-a"), 1);
    ck_assert_uint_eq(get_s(&m, "route-b"), SIZE_MAX);
    ck_assert_int_eq(put_s(&m, "x@", 4), 0);
    ck_assert_int_eq(put_s(&m, "x`", 5), 0);
    ck_assert_int_eq(put_s(&m, "y[", 6), 0);
    ck_assert_int_eq(put_s(&m, "y{", 7), 0);
    ck_assert_int_eq(put_s(&m, "\xc9", 8), 0);
    ck_assert_int_eq(put_s(&m, "\xe9", 9), 0);
    ck_assert_uint_eq(get_s(&m, "X@"), 4);
    ck_assert_uint_eq(get_s(&m, "X`"), 5);
    ck_assert_uint_eq(get_s(&m, "Y["), 6);
    ck_assert_uint_eq(get_s(&m, "Y{"), 7);
    ck_assert_uint_eq(get_s(&m, "\xc9"), 8);
    ck_assert_uint_eq(get_s(&m, "\xe9"), 9);
    ck_assert_uint_eq(m.n, 7);
    rg_strmap_release(&m);
}
END_TEST

/* Without folding, case matters: three spellings are three keys. */
START_TEST(fold_off)
{
    struct rg_strmap m;

    rg_strmap_init(&m, 0);
    ck_assert_int_eq(put_s(&m, "Route-A", 1), 0);
    ck_assert_int_eq(put_s(&m, "route-a", 2), 0);
    ck_assert_int_eq(put_s(&m, "ROUTE-A", 3), 0);
    ck_assert_uint_eq(m.n, 3);
    ck_assert_uint_eq(get_s(&m, "Route-A"), 1);
    ck_assert_uint_eq(get_s(&m, "route-a"), 2);
    ck_assert_uint_eq(get_s(&m, "ROUTE-A"), 3);
    ck_assert_uint_eq(get_s(&m, "rOuTe-a"), SIZE_MAX);
    rg_strmap_release(&m);
}
END_TEST

/* Keys are @len bytes, not C strings: slices of one buffer, a key with
 * no terminator, prefixes and keys holding NUL bytes are all told apart
 * by their bytes and length alone. */
START_TEST(len_bounded_keys)
{
    static const char buf[] = "routerouteXYZ";
    static const char bare[3] = {'a', 'b', 'c'}; /* no NUL after it */
    static const char nul1[3] = {'a', '\0', 'b'};
    static const char nul2[3] = {'a', '\0', 'c'};
    struct rg_strmap m;

    for (int fold = 0; fold <= 1; fold++) {
        rg_strmap_init(&m, fold);
        ck_assert_int_eq(rg_strmap_put(&m, buf, 5, 1), 0);
        ck_assert_int_eq(rg_strmap_put(&m, buf + 5, 5, 2), 1);
        ck_assert_int_eq(rg_strmap_put(&m, buf, 6, 3), 0);
        ck_assert_int_eq(rg_strmap_put(&m, buf + 5, 8, 4), 0);
        ck_assert_int_eq(rg_strmap_put(&m, bare, sizeof(bare), 5), 0);
        ck_assert_int_eq(rg_strmap_put(&m, nul1, sizeof(nul1), 6), 0);
        ck_assert_int_eq(rg_strmap_put(&m, nul2, sizeof(nul2), 7), 0);
        ck_assert_uint_eq(m.n, 6);
        ck_assert_uint_eq(rg_strmap_get(&m, "route", 5), 1);
        ck_assert_uint_eq(rg_strmap_get(&m, "router", 6), 3);
        ck_assert_uint_eq(rg_strmap_get(&m, "routeXYZ", 8), 4);
        ck_assert_uint_eq(rg_strmap_get(&m, "abcdef", 3), 5);
        ck_assert_uint_eq(rg_strmap_get(&m, "ab", 2), SIZE_MAX);
        ck_assert_uint_eq(rg_strmap_get(&m, "a\0b", 3), 6);
        ck_assert_uint_eq(rg_strmap_get(&m, "a\0c", 3), 7);
        ck_assert_uint_eq(rg_strmap_get(&m, "a", 1), SIZE_MAX);
        ck_assert_uint_eq(rg_strmap_get(&m, "a\0", 2), SIZE_MAX);
        rg_strmap_release(&m);
    }
}
END_TEST

/* Past many doublings every key is still found with its own value, the
 * load stays at most one half, every key is still a duplicate and an
 * absent key is still absent. */
START_TEST(growth_keeps_every_key)
{
    struct rg_strmap m;

    rg_strmap_init(&m, _i);
    for (size_t i = 0; i < MANY; i++) {
        snprintf(many[i], sizeof(many[i]), "Key-%zu", i);
        ck_assert_int_eq(put_s(&m, many[i], i), 0);
    }
    ck_assert_uint_eq(m.n, MANY);
    ck_assert_uint_ge(m.cap, 2 * m.n);
    ck_assert_uint_eq(m.cap & (m.cap - 1), 0);
    for (size_t i = 0; i < MANY; i++) {
        ck_assert_uint_eq(get_s(&m, many[i]), i);
        ck_assert_int_eq(put_s(&m, many[i], i + 1), 1);
    }
    ck_assert_uint_eq(m.n, MANY);
    ck_assert_uint_eq(get_s(&m, "Key-10000"), SIZE_MAX);
    ck_assert_uint_eq(get_s(&m, "Key-"), SIZE_MAX);
    ck_assert_uint_eq(get_s(&m, "key-42"), _i ? 42 : SIZE_MAX);
    rg_strmap_release(&m);
}
END_TEST

/* Release frees the slots and leaves an empty map with the same folding
 * that can be filled again; releasing twice is harmless. */
START_TEST(release_and_reuse)
{
    struct rg_strmap m;

    rg_strmap_init(&m, 1);
    for (size_t i = 0; i < 100; i++) {
        snprintf(many[i], sizeof(many[i]), "r%zu", i);
        ck_assert_int_eq(put_s(&m, many[i], i), 0);
    }
    rg_strmap_release(&m);
    ck_assert_ptr_null(m.slot);
    ck_assert_uint_eq(m.n, 0);
    ck_assert_uint_eq(m.cap, 0);
    ck_assert_int_eq(m.fold, 1);
    ck_assert_uint_eq(get_s(&m, "r1"), SIZE_MAX);
    ck_assert_int_eq(put_s(&m, "R1", 11), 0);
    ck_assert_int_eq(put_s(&m, "r1", 12), 1);
    ck_assert_uint_eq(get_s(&m, "r1"), 11);
    ck_assert_uint_eq(get_s(&m, "r2"), SIZE_MAX);
    ck_assert_uint_eq(m.n, 1);
    rg_strmap_release(&m);
    rg_strmap_release(&m);
    ck_assert_uint_eq(get_s(&m, "r1"), SIZE_MAX);
}
END_TEST

/* The empty key (length 0) is a key like any other: stored once, found
 * through any pointer, distinct from every non-empty key. */
START_TEST(empty_key)
{
    struct rg_strmap m;

    rg_strmap_init(&m, _i);
    ck_assert_uint_eq(rg_strmap_get(&m, "", 0), SIZE_MAX);
    ck_assert_int_eq(rg_strmap_put(&m, "a", 1, 1), 0);
    ck_assert_uint_eq(rg_strmap_get(&m, "", 0), SIZE_MAX);
    ck_assert_int_eq(rg_strmap_put(&m, "", 0, 2), 0);
    ck_assert_int_eq(rg_strmap_put(&m, "xyz", 0, 3), 1);
    ck_assert_uint_eq(m.n, 2);
    ck_assert_uint_eq(rg_strmap_get(&m, "", 0), 2);
    ck_assert_uint_eq(rg_strmap_get(&m, "qq", 0), 2);
    ck_assert_uint_eq(rg_strmap_get(&m, "a", 1), 1);
    rg_strmap_release(&m);
}
END_TEST

/* When growing fails, put returns -ENOMEM and the map is as before: the
 * old keys are found, the new one is not, and a later put succeeds. */
START_TEST(nomem_leaves_map_unchanged)
{
    struct rg_strmap m;
    size_t i;

    rg_strmap_init(&m, 0);
    rg_alloc_fail_after(1);
    ck_assert_int_eq(put_s(&m, "first", 0), -ENOMEM);
    rg_alloc_fail_after(0);
    ck_assert_uint_eq(m.n, 0);
    ck_assert_uint_eq(get_s(&m, "first"), SIZE_MAX);
    /* fill to the load where the next put must grow the table */
    for (i = 0; 2 * (m.n + 1) <= m.cap || m.n == 0; i++) {
        snprintf(many[i], sizeof(many[i]), "k%zu", i);
        ck_assert_int_eq(put_s(&m, many[i], i), 0);
    }
    snprintf(many[i], sizeof(many[i]), "k%zu", i);
    rg_alloc_fail_after(1);
    ck_assert_int_eq(put_s(&m, many[i], i), -ENOMEM);
    rg_alloc_fail_after(0);
    ck_assert_uint_eq(m.n, i);
    ck_assert_uint_eq(get_s(&m, many[i]), SIZE_MAX);
    for (size_t j = 0; j < i; j++)
        ck_assert_uint_eq(get_s(&m, many[j]), j);
    ck_assert_int_eq(put_s(&m, many[i], i), 0);
    ck_assert_uint_eq(get_s(&m, many[i]), i);
    rg_strmap_release(&m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("strmap");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int nf;

    tcase_add_test(tc, put_then_get);
    tcase_add_test(tc, duplicate_leaves_map_unchanged);
    tcase_add_test(tc, fold_on);
    tcase_add_test(tc, fold_off);
    tcase_add_test(tc, len_bounded_keys);
    tcase_add_loop_test(tc, growth_keeps_every_key, 0, 2);
    tcase_add_test(tc, release_and_reuse);
    tcase_add_loop_test(tc, empty_key, 0, 2);
    tcase_add_test(tc, nomem_leaves_map_unchanged);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? 0 : 1;
}
