/* Unit tests for plugins/jwt_cache.c: a hit must be the token, instance
 * and generation that was put, never past its expiry, never after a newer
 * generation asked; the cache stays within its bound. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "plugins/jwt_cache.h"

static const int conf_a = 1, conf_b = 2;

static struct rg_jwt_cache_key key(uint64_t gen, const void *conf,
                                   const char *tok)
{
    return (struct rg_jwt_cache_key){gen, conf, tok, strlen(tok)};
}

START_TEST(hit_only_the_same_token_instance_and_generation)
{
    struct rg_jwt_cache_key k = key(1, &conf_a, "aaa.bbb.ccc");
    struct rg_jwt_cache_key other;
    struct rg_jwt_cache_hit hit;
    json_t *claims = json_pack("{s:s}", "sub", "alice");

    ck_assert_int_eq(rg_jwt_cache_get(&k, 100, &hit), 0);
    rg_jwt_cache_put(&k, 100, 200, 7, 3, claims);
    ck_assert_int_eq(rg_jwt_cache_get(&k, 100, &hit), 1);
    ck_assert_uint_eq(hit.cred, 3);
    ck_assert_uint_eq(hit.keys_stamp, 7);
    ck_assert_ptr_eq(hit.claims, claims);
    other = key(1, &conf_a, "aaa.bbb.ccd");
    ck_assert_int_eq(rg_jwt_cache_get(&other, 100, &hit), 0);
    other = key(1, &conf_a, "aaa.bbb.cc");
    ck_assert_int_eq(rg_jwt_cache_get(&other, 100, &hit), 0);
    other = key(1, &conf_b, "aaa.bbb.ccc");
    ck_assert_int_eq(rg_jwt_cache_get(&other, 100, &hit), 0);
    /* An older generation's request neither reads nor writes. */
    other = key(0, &conf_a, "aaa.bbb.ccc");
    ck_assert_int_eq(rg_jwt_cache_get(&other, 100, &hit), 0);
    rg_jwt_cache_put(&other, 100, 200, 0, 9, claims);
    ck_assert_int_eq(rg_jwt_cache_get(&k, 100, &hit), 1);
    ck_assert_uint_eq(hit.cred, 3);
    /* A newer one empties it. */
    other = key(2, &conf_a, "aaa.bbb.ccc");
    ck_assert_int_eq(rg_jwt_cache_get(&other, 100, &hit), 0);
    ck_assert_uint_eq(rg_jwt_cache_count(), 0);
    ck_assert_int_eq(rg_jwt_cache_get(&k, 100, &hit), 0);
    json_decref(claims);
    rg_jwt_cache_flush();
}
END_TEST

START_TEST(expiry_and_its_cap)
{
    struct rg_jwt_cache_key k = key(1, &conf_a, "x.y.z");
    struct rg_jwt_cache_hit hit;
    json_t *claims = json_object();

    rg_jwt_cache_put(&k, 100, 150, 0, 0, claims);
    ck_assert_int_eq(rg_jwt_cache_get(&k, 149, &hit), 1);
    ck_assert_int_eq(rg_jwt_cache_get(&k, 150, &hit), 0);
    ck_assert_uint_eq(rg_jwt_cache_count(), 0); /* dropped when found stale */
    rg_jwt_cache_put(&k, 100, 100, 0, 0, claims);  /* already expired */
    ck_assert_uint_eq(rg_jwt_cache_count(), 0);
    rg_jwt_cache_put(&k, 100, INT64_MAX, 0, 0, claims);
    ck_assert_int_eq(rg_jwt_cache_get(&k, 100 + RG_JWT_CACHE_TTL_MAX - 1, &hit),
                     1);
    ck_assert_int_eq(rg_jwt_cache_get(&k, 100 + RG_JWT_CACHE_TTL_MAX, &hit),
                     0);
    json_decref(claims);
    rg_jwt_cache_flush();
}
END_TEST

START_TEST(bounded_and_long_tokens_left_out)
{
    static char big[RG_JWT_CACHE_TOKEN_MAX + 2];
    char tok[32];
    struct rg_jwt_cache_key k;
    struct rg_jwt_cache_hit hit;
    json_t *claims = json_object();
    size_t hits = 0;

    memset(big, 'a', sizeof(big) - 1);
    k = key(1, &conf_a, big);
    rg_jwt_cache_put(&k, 0, 10, 0, 0, claims);
    ck_assert_uint_eq(rg_jwt_cache_count(), 0);
    for (int i = 0; i < 20000; i++) {
        snprintf(tok, sizeof(tok), "t%d", i);
        k = key(1, &conf_a, tok);
        rg_jwt_cache_put(&k, 0, 10, 0, (size_t)i, claims);
        ck_assert_int_eq(rg_jwt_cache_get(&k, 0, &hit), 1);
        ck_assert_uint_eq(hit.cred, (size_t)i);
    }
    ck_assert_uint_le(rg_jwt_cache_count(),
                      RG_JWT_CACHE_SETS * RG_JWT_CACHE_WAYS);
    ck_assert_uint_gt(rg_jwt_cache_count(),
                      RG_JWT_CACHE_SETS * RG_JWT_CACHE_WAYS / 2);
    /* The last ones put are still there, each with its own credential. */
    for (int i = 19900; i < 20000; i++) {
        snprintf(tok, sizeof(tok), "t%d", i);
        k = key(1, &conf_a, tok);
        if (rg_jwt_cache_get(&k, 0, &hit)) {
            ck_assert_uint_eq(hit.cred, (size_t)i);
            hits++;
        }
    }
    ck_assert_uint_gt(hits, 90);
    json_decref(claims);
    rg_jwt_cache_flush();
    ck_assert_uint_eq(rg_jwt_cache_count(), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("jwt_cache");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int nf;

    tcase_add_test(tc, hit_only_the_same_token_instance_and_generation);
    tcase_add_test(tc, expiry_and_its_cap);
    tcase_add_test(tc, bounded_and_long_tokens_left_out);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? 0 : 1;
}
