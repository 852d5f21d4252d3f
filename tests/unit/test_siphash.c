/* Unit tests for core/siphash.c: the reference vectors of the SipHash
 * paper (key 00..0f, message 00..len-1) and a per-process key. */
#include <check.h>

#include "core/siphash.h"

static uint64_t vector(size_t len)
{
    uint8_t k[16], m[64] = {0};

    for (int i = 0; i < 16; i++)
        k[i] = (uint8_t)i;
    for (size_t i = 0; i < len; i++)
        m[i] = (uint8_t)i;
    return rg_siphash(k, m, len);
}

START_TEST(reference_vectors)
{
    ck_assert_uint_eq(vector(0), 0x726fdb47dd0e0e31ull);
    ck_assert_uint_eq(vector(1), 0x74f839c593dc67fdull);
    ck_assert_uint_eq(vector(8), 0x93f5f5799a932462ull);
    ck_assert_uint_eq(vector(15), 0xa129ca6149be45e5ull);
}
END_TEST

START_TEST(process_key)
{
    /* the same in one process, and not the all-zero key's */
    ck_assert_uint_eq(rg_siphash_process("abc", 3),
                      rg_siphash_process("abc", 3));
    ck_assert_uint_ne(rg_siphash_process("abc", 3),
                      rg_siphash((const uint8_t[16]){0}, "abc", 3));
    ck_assert_uint_ne(rg_siphash_process("abc", 3),
                      rg_siphash_process("abd", 3));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("siphash");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, reference_vectors);
    tcase_add_test(tc, process_key);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
