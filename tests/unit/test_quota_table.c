/* Unit tests for plugins/quota_table.c, the lease table of rate-limiting
 * policy cluster: a token is either spent by a worker or removed for a
 * return by the control thread, never both, however they race; an expired
 * lease is never spent; a spent window says EXHAUSTED, a failed refill
 * CUT; a key claimed by many threads at once gets one slot. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "plugins/quota_table.h"

#define WORKERS 3
#define ROUNDS 2000
#define GRANT 50

static _Atomic int stop;
static _Atomic long spent;
static _Atomic int started;
static int slot;

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000;
}

static void *worker(void *arg)
{
    uint64_t w;
    long n = 0;

    (void)arg;
    atomic_fetch_add(&started, 1);
    while (!atomic_load(&stop))
        if (rg_qt_take((unsigned)slot, now_ms(), 1, &w) == RG_QT_TAKEN)
            n++;
    atomic_fetch_add(&spent, n);
    return NULL;
}

/* The control side grants, then returns what is left with one exchange,
 * while three workers take: spent + returned == granted, exactly. */
START_TEST(spent_or_returned_never_both)
{
    struct rg_qt_slot *s;
    pthread_t t[WORKERS];
    long granted = 0, returned = 0;

    rg_qt_clear();
    slot = rg_qt_find("r|s|minute|service:x", 20, 1, 1000000);
    ck_assert_int_ge(slot, 0);
    s = rg_qt_at((unsigned)slot);
    atomic_store(&s->expires_ms, now_ms() + 600000);
    atomic_store(&s->window, 60);
    atomic_store(&s->remaining, 1000000);
    atomic_store(&stop, 0);
    atomic_store(&spent, 0);
    atomic_store(&started, 0);
    for (int i = 0; i < WORKERS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, worker, NULL), 0);
    while (atomic_load(&started) < WORKERS)
        ;
    for (int r = 0; r < ROUNDS; r++) {
        atomic_fetch_add(&s->balance, GRANT);
        granted += GRANT;
        for (volatile int k = 0; k < (r % 7) * 3000; k++)
            ;
        returned += atomic_exchange(&s->balance, 0);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(t[i], NULL);
    returned += atomic_exchange(&s->balance, 0);
    ck_assert_int_eq(spent + returned, granted);
    ck_assert_int_gt(spent, 0);
    ck_assert_int_gt(returned, 0);
}
END_TEST

#define FLIPS 100000
#define FILL 3
static _Atomic int labels[FLIPS + 1];

static void *labeller(void *arg)
{
    uint64_t w;

    (void)arg;
    atomic_fetch_add(&started, 1);
    while (!atomic_load(&stop))
        if (rg_qt_take((unsigned)slot, now_ms(), 1, &w) == RG_QT_TAKEN &&
            w <= FLIPS)
            atomic_fetch_add(&labels[w], 1);
    return NULL;
}

/* Windows change under the workers (the control thread's order: empty,
 * name, fill): no window is credited with more tokens than it was
 * filled with, so the debug header never names the wrong window. */
START_TEST(window_label_exact)
{
    struct rg_qt_slot *s;
    pthread_t t[WORKERS];

    rg_qt_clear();
    slot = rg_qt_find("label", 5, 1, 1000000);
    s = rg_qt_at((unsigned)slot);
    atomic_store(&s->expires_ms, now_ms() + 600000);
    atomic_store(&s->remaining, 1000000);
    atomic_store(&stop, 0);
    atomic_store(&started, 0);
    for (int i = 0; i < WORKERS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, labeller, NULL), 0);
    while (atomic_load(&started) < WORKERS)
        ;
    for (int r = 1; r <= FLIPS; r++) {
        atomic_store(&s->balance, 0);
        atomic_store(&s->window, (uint64_t)r);
        atomic_store(&s->balance, FILL);
        for (volatile int k = 0; k < (r % 5) * 50; k++)
            ;
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(t[i], NULL);
    for (int r = 1; r <= FLIPS; r++)
        ck_assert_int_le(labels[r], FILL);
}
END_TEST

/* A lease past its expiry (a node resumed after SIGSTOP: the monotonic
 * clock ran on) is not spent, whatever its balance. */
START_TEST(expired_lease_not_spent)
{
    struct rg_qt_slot *s;
    uint64_t w;
    int i;

    rg_qt_clear();
    i = rg_qt_find("k", 1, 1, 10);
    s = rg_qt_at((unsigned)i);
    atomic_store(&s->balance, 10);
    atomic_store(&s->window, 60);
    atomic_store(&s->remaining, 5);
    atomic_store(&s->expires_ms, now_ms() - 1);
    ck_assert_int_ne(rg_qt_take((unsigned)i, now_ms(), 1, &w), RG_QT_TAKEN);
    ck_assert_int_eq(atomic_load(&s->balance), 10);
    atomic_store(&s->expires_ms, now_ms() + 10000);
    ck_assert_int_eq(rg_qt_take((unsigned)i, now_ms(), 1, &w), RG_QT_TAKEN);
    ck_assert_uint_eq(w, 60);
    ck_assert_int_eq(atomic_load(&s->balance), 9);
}
END_TEST

/* No balance: the window's remaining is 0 -> EXHAUSTED; a refill failed
 * just now -> CUT; a refill in flight -> WAIT. */
START_TEST(empty_answers)
{
    struct rg_qt_slot *s;
    uint64_t w;
    int i;

    rg_qt_clear();
    i = rg_qt_find("k", 1, 1, 10);
    s = rg_qt_at((unsigned)i);
    atomic_store(&s->window, 60);
    atomic_store(&s->remaining, 0);
    atomic_store(&s->expires_ms, now_ms() + 10000);
    ck_assert_int_eq(rg_qt_take((unsigned)i, now_ms(), 1, &w),
                     RG_QT_EXHAUSTED);
    atomic_store(&s->failed_ms, now_ms());
    ck_assert_int_eq(rg_qt_take((unsigned)i, now_ms(), 1, &w), RG_QT_CUT);
    atomic_store(&s->asked, 1);
    ck_assert_int_eq(rg_qt_take((unsigned)i, now_ms(), 1, &w), RG_QT_WAIT);
}
END_TEST

static void *finder(void *arg)
{
    int *out = arg;
    char key[32];

    for (int k = 0; k < 500; k++) {
        snprintf(key, sizeof(key), "key-%d", k);
        out[k] = rg_qt_find(key, strlen(key), 1, 10);
    }
    return NULL;
}

/* Four threads claiming the same 500 keys at once: one slot per key, and
 * another unit of a key is another slot. */
START_TEST(one_slot_per_key)
{
    static int got[4][500];
    pthread_t t[4];

    rg_qt_clear();
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, finder, got[i]), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int k = 0; k < 500; k++) {
        ck_assert_int_ge(got[0][k], 0);
        for (int i = 1; i < 4; i++)
            ck_assert_int_eq(got[i][k], got[0][k]);
    }
    ck_assert_int_ne(rg_qt_find("key-1", 5, 2, 10), got[0][1]);
    ck_assert_int_eq(rg_qt_find("key-1", 5, 1, 10), got[0][1]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("quota_table");
    TCase *tc = tcase_create("quota_table");
    SRunner *sr;
    int nf;

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, spent_or_returned_never_both);
    tcase_add_test(tc, window_label_exact);
    tcase_add_test(tc, expired_lease_not_spent);
    tcase_add_test(tc, empty_answers);
    tcase_add_test(tc, one_slot_per_key);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? 0 : 1;
}
