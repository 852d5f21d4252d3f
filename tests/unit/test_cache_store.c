/* Unit tests for plugins/cache_store.c and plugins/cache_rules.c: a hit is
 * the key that was put, fresh until its TTL, kept (stale) until keep_ms,
 * the store stays within its byte cap by evicting the least recently
 * used, and purges (one key, all) reach every thread. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "plugins/cache_rules.h"
#include "plugins/cache_store.h"

static int put(const char *key, const char *body, uint64_t now, uint64_t ttl,
               uint64_t keep, size_t cap)
{
    struct rg_cache_put p = {
        .key = key,
        .key_len = strlen(key),
        .status = 200,
        .fields = "Content-Type: text/plain\r\n",
        .fields_len = 26,
        .body = body,
        .body_len = strlen(body),
        .now_ms = now,
        .ttl_ms = ttl,
        .keep_ms = keep,
    };

    return rg_cache_put(&p, cap);
}

static const struct rg_cache_entry *get(const char *key, uint64_t now,
                                        int *fresh)
{
    return rg_cache_get(rg_cache_hash(key, strlen(key)), key, strlen(key), now,
                        fresh);
}

START_TEST(hit_is_the_key_put)
{
    const struct rg_cache_entry *e;
    int fresh;

    ck_assert_ptr_null(get("GET\nh\n/a", 0, &fresh));
    ck_assert_int_eq(put("GET\nh\n/a", "body-a", 1000, 5000, 5000, 1 << 20), 0);
    e = get("GET\nh\n/a", 1001, &fresh);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(fresh, 1);
    ck_assert_int_eq(e->status, 200);
    ck_assert_uint_eq(e->body_len, 6);
    ck_assert_int_eq(memcmp(e->body, "body-a", 6), 0);
    ck_assert_int_eq(memcmp(e->fields, "Content-Type: text/plain\r\n", 26), 0);
    ck_assert_uint_eq(e->stored_ms, 1000);
    ck_assert_ptr_null(get("GET\nh\n/b", 1001, &fresh));
    ck_assert_ptr_null(get("GET\nh\n/", 1001, &fresh));
    /* A second put of the key replaces the first. */
    ck_assert_int_eq(put("GET\nh\n/a", "body-2", 1100, 5000, 5000, 1 << 20), 0);
    ck_assert_uint_eq(rg_cache_count(), 1);
    e = get("GET\nh\n/a", 1101, &fresh);
    ck_assert_int_eq(memcmp(e->body, "body-2", 6), 0);
    rg_cache_thread_free();
}
END_TEST

START_TEST(expiry_then_stale_then_gone)
{
    const struct rg_cache_entry *e;
    int fresh;

    ck_assert_int_eq(put("k", "v", 1000, 2000, 7000, 1 << 20), 0);
    e = get("k", 2999, &fresh);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(fresh, 1);
    e = get("k", 3000, &fresh); /* past the TTL: kept, not fresh */
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(fresh, 0);
    e = get("k", 7999, &fresh);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(fresh, 0);
    ck_assert_ptr_null(get("k", 8000, &fresh)); /* past keep: freed */
    ck_assert_uint_eq(rg_cache_count(), 0);
    ck_assert_uint_eq(rg_cache_bytes(), 0);
    rg_cache_thread_free();
}
END_TEST

START_TEST(eviction_by_memory_cap)
{
    char key[32], body[1001];
    size_t one, cap;
    int fresh;

    memset(body, 'x', 1000);
    body[1000] = '\0';
    ck_assert_int_eq(put("k0", body, 0, 10000, 10000, 1 << 20), 0);
    one = rg_cache_bytes();
    ck_assert_uint_ge(one, 1000 + 26 + 2);
    rg_cache_thread_free();
    cap = one * 4 + 64; /* room for four (keys up to 8 bytes longer) */
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        ck_assert_int_eq(put(key, body, 0, 10000, 10000, cap), 0);
    }
    ck_assert_uint_eq(rg_cache_count(), 4);
    ck_assert_ptr_nonnull(get("k0", 1, &fresh)); /* k1 is now the LRU */
    ck_assert_int_eq(put("k4", body, 2, 10000, 10000, cap), 0);
    ck_assert_uint_eq(rg_cache_count(), 4);
    ck_assert_uint_le(rg_cache_bytes(), cap);
    ck_assert_ptr_null(get("k1", 3, &fresh));
    ck_assert_ptr_nonnull(get("k0", 3, &fresh));
    ck_assert_ptr_nonnull(get("k2", 3, &fresh));
    ck_assert_ptr_nonnull(get("k4", 3, &fresh));
    /* Larger than the cap alone: not stored, and the old one goes. */
    ck_assert_int_eq(put("k0", body, 4, 10000, 10000, 100), -E2BIG);
    ck_assert_ptr_null(get("k0", 5, &fresh));
    /* Many more than fit: the bound holds throughout. */
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "many%d", i);
        ck_assert_int_eq(put(key, body, 10, 10000, 10000, cap), 0);
        ck_assert_uint_le(rg_cache_bytes(), cap);
    }
    ck_assert_uint_eq(rg_cache_count(), 4);
    rg_cache_thread_free();
}
END_TEST

struct thr {
    const char *key;
    int step; /* 0: put; 1: get */
    int found;
};

static void *thr_run(void *arg)
{
    struct thr *t = arg;
    int fresh;

    if (t->step == 0) {
        ck_assert_int_eq(
            put(t->key, "v", rg_cache_now_ms(), 60000, 60000, 1 << 20), 0);
    } else {
        t->found = get(t->key, rg_cache_now_ms(), &fresh) != NULL;
        rg_cache_thread_free();
    }
    return NULL;
}

START_TEST(purge_one_and_all_reach_every_thread)
{
    uint64_t now = rg_cache_now_ms();
    uint64_t ha = rg_cache_hash("a", 1), hb = rg_cache_hash("b", 1);
    struct rg_cache_entry e;
    struct thr t = {"a", 0, 0};
    pthread_t th;
    int fresh;

    rg_cache_purge(1, 0); /* a clean log for this test */
    ck_assert_int_eq(put("a", "va", now, 60000, 60000, 1 << 20), 0);
    ck_assert_int_eq(put("b", "vb", now, 60000, 60000, 1 << 20), 0);
    /* Another thread's store holds "a" too (its thread has ended: the
     * store stays registered until freed). */
    pthread_create(&th, NULL, thr_run, &t);
    pthread_join(th, NULL);
    ck_assert_uint_eq(rg_cache_find(ha, now, &e), 2);
    ck_assert_int_eq(e.status, 200);
    ck_assert_ptr_null(e.body);
    ck_assert_uint_eq(rg_cache_find(hb, now, NULL), 1);
    rg_cache_purge(0, ha);
    ck_assert_uint_eq(rg_cache_find(ha, now, NULL), 0); /* at once */
    ck_assert_uint_eq(rg_cache_find(hb, now, NULL), 1);
    ck_assert_ptr_null(get("a", now, &fresh));
    ck_assert_ptr_nonnull(get("b", now, &fresh));
    rg_cache_purge(1, 0);
    ck_assert_uint_eq(rg_cache_find(hb, now, NULL), 0);
    ck_assert_ptr_null(get("b", now, &fresh));
    ck_assert_uint_eq(rg_cache_count(), 0);
    /* A put after the purge is served. */
    ck_assert_int_eq(put("a", "va", now, 60000, 60000, 1 << 20), 0);
    ck_assert_uint_eq(rg_cache_find(ha, now, NULL), 1);
    ck_assert_ptr_nonnull(get("a", now, &fresh));
    /* A thread that fell behind more than the log: everything goes. */
    for (int i = 0; i < RG_CACHE_PURGE_LOG + 5; i++)
        rg_cache_purge(0, (uint64_t)i);
    ck_assert_ptr_null(get("a", now, &fresh));
    rg_cache_thread_free();
}
END_TEST

START_TEST(cache_control_and_dates)
{
    struct rg_cc cc;
    time_t t;
    const char *v = "public, Max-Age=60 , s-maxage=\"30\", no-store,"
                    "private=\"set-cookie, x\", min-fresh=abc";

    rg_cc_init(&cc);
    rg_cc_parse(v, strlen(v), &cc);
    ck_assert_int_eq(cc.max_age, 60);
    ck_assert_int_eq(cc.s_maxage, 30);
    ck_assert_int_eq(cc.no_store, 1);
    ck_assert_int_eq(cc.private_, 1);
    ck_assert_int_eq(cc.no_cache, 0);
    ck_assert_int_eq(cc.min_fresh, -1);
    rg_cc_init(&cc);
    rg_cc_parse("no-cache", 8, &cc);
    ck_assert_int_eq(cc.no_cache, 1);
    ck_assert_int_eq(cc.max_age, -1);
    rg_cc_init(&cc);
    rg_cc_parse("max-age=99999999999999", 22, &cc);
    ck_assert_int_eq(cc.max_age, 2147483648LL);
    rg_cc_init(&cc);
    rg_cc_parse("max-age", 7, &cc); /* no value: absent */
    ck_assert_int_eq(cc.max_age, -1);
    ck_assert_int_eq(rg_http_date("Sun, 06 Nov 1994 08:49:37 GMT", 29, &t), 0);
    ck_assert_int_eq((long long)t, 784111777LL);
    ck_assert_int_eq(rg_http_date("Sunday, 06-Nov-94 08:49:37 GMT", 30, &t), 0);
    ck_assert_int_eq((long long)t, 784111777LL);
    ck_assert_int_eq(rg_http_date("0", 1, &t), -1);
    ck_assert_int_eq(rg_http_date("", 0, &t), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cache_store");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, hit_is_the_key_put);
    tcase_add_test(tc, expiry_then_stale_then_gone);
    tcase_add_test(tc, eviction_by_memory_cap);
    tcase_add_test(tc, purge_one_and_all_reach_every_thread);
    tcase_add_test(tc, cache_control_and_dates);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
