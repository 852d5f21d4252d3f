/* Unit tests for plugins/ratelimit_table.c: admission exact under threads
 * taking from one key and from many fresh keys at once (the claim
 * races), a window's end restarting the count, a rollback giving one
 * back, eviction keeping the table bounded; token buckets likewise. */
#include <check.h>
#include <pthread.h>

#include "plugins/ratelimit_table.h"

#define THREADS 4
#define ATTEMPTS 10000
#define LIMIT 1234

static _Atomic int admitted;

static void *hammer(void *arg)
{
    uint32_t count;
    (void)arg;
    for (int i = 0; i < ATTEMPTS; i++)
        if (rg_rlt_take(0xabcdef, 1000, 1060, LIMIT, &count) == RG_RLT_ADMIT)
            admitted++;
    return NULL;
}

/* Four threads taking 10000 each from a 1234 limit: exactly 1234 pass. */
START_TEST(exact_under_threads)
{
    pthread_t t[THREADS];

    rg_rlt_clear();
    admitted = 0;
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(admitted, LIMIT);
    ck_assert_uint_eq(rg_rlt_count(0xabcdef, 1060), LIMIT);
}
END_TEST

/* The next window starts from zero; the old one is gone. */
#define FRESH_KEYS 20000
#define FRESH_TRIES 4
static _Atomic unsigned fresh_admitted[FRESH_KEYS];
static _Atomic int bucket_admitted;

/* Every thread takes FRESH_TRIES from each of the same fresh keys in the
 * same order, so the threads claim each key's slot at the same time. */
static void *fresh(void *arg)
{
    uint32_t c;
    (void)arg;
    for (unsigned k = 0; k < FRESH_KEYS; k++)
        for (int t = 0; t < FRESH_TRIES; t++)
            if (rg_rlt_take(0x9e3779b97f4a7c15ull * (k + 1), 1000, 1060, 1,
                            &c) == RG_RLT_ADMIT)
                fresh_admitted[k]++;
    return NULL;
}

/* Limit 1 on 20000 new keys claimed by four threads at once: each key is
 * admitted exactly once (before the stripe lock and the LOCKED state a
 * key could be claimed twice or its first take wiped). */
START_TEST(exact_on_fresh_keys)
{
    pthread_t t[THREADS];

    rg_rlt_clear();
    for (unsigned k = 0; k < FRESH_KEYS; k++)
        fresh_admitted[k] = 0;
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, fresh, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (unsigned k = 0; k < FRESH_KEYS; k++)
        ck_assert_uint_eq(fresh_admitted[k], 1);
}
END_TEST

static void *bucket_hammer(void *arg)
{
    uint32_t left, wait;
    (void)arg;
    for (int i = 0; i < ATTEMPTS; i++)
        if (rg_rlt_bucket_take(0xb0c, 5000, 1, 700, &left, &wait) ==
            RG_RLT_ADMIT)
            bucket_admitted++;
    return NULL;
}

/* A bucket of 700 on a stopped clock: four threads get exactly 700. */
START_TEST(bucket_exact_under_threads)
{
    pthread_t t[THREADS];

    rg_rlt_clear();
    bucket_admitted = 0;
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, bucket_hammer, NULL),
                         0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(bucket_admitted, 700);
}
END_TEST

/* Full at first, then refilled at the rate up to the burst; a clock
 * behind the bucket refills nothing; a rollback gives one back. */
START_TEST(bucket_refill)
{
    uint32_t left, wait;

    rg_rlt_clear();
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(rg_rlt_bucket_take(3, 1000, 100, 10, &left, &wait),
                         RG_RLT_ADMIT);
    ck_assert_uint_eq(left, 0);
    ck_assert_int_eq(rg_rlt_bucket_take(3, 1000, 100, 10, &left, &wait),
                     RG_RLT_FULL);
    ck_assert_uint_eq(wait, 10); /* 100/s: one every 10 ms */
    ck_assert_int_eq(rg_rlt_bucket_take(3, 995, 100, 10, &left, &wait),
                     RG_RLT_FULL);
    ck_assert_int_eq(rg_rlt_bucket_take(3, 1010, 100, 10, &left, &wait),
                     RG_RLT_ADMIT);
    ck_assert_int_eq(rg_rlt_bucket_take(3, 1015, 100, 10, &left, &wait),
                     RG_RLT_FULL);
    ck_assert_uint_eq(wait, 5);
    rg_rlt_bucket_rollback(3, 10);
    ck_assert_int_eq(rg_rlt_bucket_take(3, 1015, 100, 10, &left, &wait),
                     RG_RLT_ADMIT);
    /* an hour later: full again, not more */
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(
            rg_rlt_bucket_take(3, 3601000, 100, 10, &left, &wait),
            RG_RLT_ADMIT);
    ck_assert_int_eq(rg_rlt_bucket_take(3, 3601000, 100, 10, &left, &wait),
                     RG_RLT_FULL);
    /* 40 days untouched: the ms clock wrapped past it; full again */
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(rg_rlt_bucket_take(3, 3601000u + 40u * 86400000u,
                                            100, 10, &left, &wait),
                         RG_RLT_ADMIT);
}
END_TEST

/* Nine buckets on one probe group: the longest untouched is evicted and
 * comes back full. */
START_TEST(bucket_eviction)
{
    uint32_t left, wait;
    uint64_t base = 77;

    rg_rlt_clear();
    for (uint32_t i = 0; i < RG_RLT_PROBE; i++)
        ck_assert_int_eq(rg_rlt_bucket_take(base + (uint64_t)i * RG_RLT_SLOTS,
                                            100 + i, 1, 1, &left, &wait),
                         RG_RLT_ADMIT);
    ck_assert_int_eq(rg_rlt_bucket_take(base + 9ull * RG_RLT_SLOTS, 200, 1,
                                        1, &left, &wait),
                     RG_RLT_ADMIT);
    /* base (touched at 100) was evicted: full again */
    ck_assert_int_eq(rg_rlt_bucket_take(base, 200, 1, 1, &left, &wait),
                     RG_RLT_ADMIT);
    /* the one touched at 107 kept its slot: empty */
    ck_assert_int_eq(rg_rlt_bucket_take(base + 7ull * RG_RLT_SLOTS, 200, 1, 1,
                                        &left, &wait),
                     RG_RLT_FULL);
}
END_TEST

START_TEST(window_roll_over)
{
    uint32_t c;

    rg_rlt_clear();
    ck_assert_int_eq(rg_rlt_take(7, 100, 120, 2, &c), 1);
    ck_assert_uint_eq(c, 1);
    ck_assert_int_eq(rg_rlt_take(7, 110, 120, 2, &c), 1);
    ck_assert_int_eq(rg_rlt_take(7, 119, 120, 2, &c), 0);
    ck_assert_uint_eq(c, 2);
    ck_assert_int_eq(rg_rlt_take(7, 120, 140, 2, &c), 1);
    ck_assert_uint_eq(c, 1);
    ck_assert_uint_eq(rg_rlt_count(7, 120), 0);
    ck_assert_uint_eq(rg_rlt_count(7, 140), 1);
    /* A request with a clock a second behind counts in the later window. */
    ck_assert_int_eq(rg_rlt_take(7, 119, 120, 2, &c), 1);
    ck_assert_uint_eq(c, 2);
    ck_assert_int_eq(rg_rlt_take(7, 121, 140, 2, &c), 0);
}
END_TEST

/* A rollback gives one back to its own window only. */
START_TEST(rollback)
{
    uint32_t c;

    rg_rlt_clear();
    ck_assert_int_eq(rg_rlt_take(9, 0, 60, 1, &c), 1);
    ck_assert_int_eq(rg_rlt_take(9, 0, 60, 1, &c), 0);
    rg_rlt_rollback(9, 60);
    ck_assert_uint_eq(rg_rlt_count(9, 60), 0);
    rg_rlt_rollback(9, 60); /* never below zero */
    ck_assert_uint_eq(rg_rlt_count(9, 60), 0);
    ck_assert_int_eq(rg_rlt_take(9, 0, 60, 1, &c), 1);
    rg_rlt_rollback(9, 120); /* another window: untouched */
    ck_assert_uint_eq(rg_rlt_count(9, 60), 1);
    rg_rlt_rollback(10, 60); /* another key: untouched */
    ck_assert_uint_eq(rg_rlt_count(9, 60), 1);
}
END_TEST

/* Keys colliding on one probe run: the ninth takes over the lowest
 * count; the others keep theirs; ended windows are reused first. */
START_TEST(eviction_bounded)
{
    uint32_t c;
    uint64_t base = 5 * (uint64_t)RG_RLT_SLOTS;

    rg_rlt_clear();
    /* Keys base + i * SLOTS all hash to slot 0 onward: same probe run. */
    for (unsigned i = 0; i < RG_RLT_PROBE; i++)
        for (unsigned n = 0; n <= i + 1; n++)
            rg_rlt_take(base + (uint64_t)i * RG_RLT_SLOTS, 0, 60, 100, &c);
    uint64_t newcomer = base + (uint64_t)RG_RLT_PROBE * RG_RLT_SLOTS;
    ck_assert_int_eq(rg_rlt_take(newcomer, 0, 60, 100, &c), 1);
    ck_assert_uint_eq(c, 1);
    /* The lowest (the first key, count 2) was evicted. */
    ck_assert_uint_eq(rg_rlt_count(base, 60), 0);
    for (unsigned i = 1; i < RG_RLT_PROBE; i++)
        ck_assert_uint_eq(
            rg_rlt_count(base + (uint64_t)i * RG_RLT_SLOTS, 60), i + 2);
    /* Many more keys than slots: every take still answers. */
    for (uint64_t k = 1; k < 4 * (uint64_t)RG_RLT_SLOTS; k++)
        ck_assert_int_eq(rg_rlt_take(k * 0x9e3779b97f4a7c15ull, 0, 60, 1, &c),
                         1);
    /* Once the window ended, a slot is reused and counting restarts. */
    ck_assert_int_eq(rg_rlt_take(newcomer, 60, 120, 100, &c), 1);
    ck_assert_uint_eq(c, 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ratelimit_table");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, exact_under_threads);
    tcase_add_test(tc, exact_on_fresh_keys);
    tcase_add_test(tc, bucket_exact_under_threads);
    tcase_add_test(tc, bucket_refill);
    tcase_add_test(tc, bucket_eviction);
    tcase_add_test(tc, window_roll_over);
    tcase_add_test(tc, rollback);
    tcase_add_test(tc, eviction_bounded);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
