/* Balancers (weighted round-robin, least-connections, two random choices,
 * consistent hashing) and the health counting they skip on. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upstream/balancer.h"
#include "upstream/health.h"

#define MAXP 16

struct fixture {
    struct rg_bal_peer p[MAXP];
    struct rg_health h[MAXP];
    char names[MAXP][32];
    size_t n;
};

static void fx_init(struct fixture *f, const uint32_t *w, size_t n)
{
    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < n; i++) {
        snprintf(f->names[i], sizeof(f->names[i]), "10.0.0.%zu:80", i + 1);
        f->p[i].weight = w[i];
        f->p[i].h = &f->h[i];
        f->p[i].name = f->names[i];
    }
    f->n = n;
}

static struct rg_bal_in in_seq(uint64_t seq)
{
    struct rg_bal_in in = {seq, 0, 0, 0, RG_BAL_NONE};

    return in;
}

static uint64_t xs(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

/* Round-robin gives each peer its share of the weights exactly over a
 * cycle, and spreads a heavy peer out (smooth: never 3 in a row for 3:1). */
START_TEST(round_robin_follows_weights)
{
    static const uint32_t w[] = {300, 100};
    struct fixture f;
    struct rg_bal b;
    size_t got[2] = {0, 0}, run = 0, max_run = 0, last = 9;

    fx_init(&f, w, 2);
    ck_assert_int_eq(rg_bal_init(&b, RG_LB_ROUND_ROBIN, 0, f.p, 2), 0);
    for (uint64_t s = 0; s < 4000; s++) {
        struct rg_bal_in in = in_seq(s);
        size_t i = rg_bal_pick(&b, &in);

        ck_assert_uint_lt(i, 2);
        got[i]++;
        run = i == last ? run + 1 : 1;
        max_run = run > max_run ? run : max_run;
        last = i;
    }
    ck_assert_uint_eq(got[0], 3000);
    ck_assert_uint_eq(got[1], 1000);
    ck_assert_uint_le(max_run, 3);
    rg_bal_release(&b);
}
END_TEST

/* A peer marked down gets nothing; weight 0 never; all down: none. */
START_TEST(round_robin_skips_unusable)
{
    static const uint32_t w[] = {100, 100, 0};
    struct fixture f;
    struct rg_bal b;

    fx_init(&f, w, 3);
    ck_assert_int_eq(rg_bal_init(&b, RG_LB_ROUND_ROBIN, 0, f.p, 3), 0);
    rg_health_set(&f.h[0], 1);
    for (uint64_t s = 0; s < 100; s++) {
        struct rg_bal_in in = in_seq(s);

        ck_assert_uint_eq(rg_bal_pick(&b, &in), 1);
    }
    rg_health_set(&f.h[1], 1);
    {
        struct rg_bal_in in = in_seq(0);

        ck_assert_uint_eq(rg_bal_pick(&b, &in), RG_BAL_NONE);
    }
    rg_bal_release(&b);
}
END_TEST

/* A retry avoids the previous peer while another is usable, and goes
 * back to it when it is the only one. */
START_TEST(retry_excludes_previous_peer)
{
    static const uint32_t w[] = {300, 100};
    struct fixture f;
    struct rg_bal b;

    fx_init(&f, w, 2);
    ck_assert_int_eq(rg_bal_init(&b, RG_LB_ROUND_ROBIN, 0, f.p, 2), 0);
    for (uint64_t s = 0; s < 8; s++) {
        struct rg_bal_in in = in_seq(s);

        in.exclude = 0;
        ck_assert_uint_eq(rg_bal_pick(&b, &in), 1);
    }
    rg_health_set(&f.h[1], 1);
    {
        struct rg_bal_in in = in_seq(3);

        in.exclude = 0;
        ck_assert_uint_eq(rg_bal_pick(&b, &in), 0);
    }
    rg_bal_release(&b);
}
END_TEST

/* Kong's threshold: below that share of usable weight, no peer at all. */
START_TEST(threshold_fails_whole_upstream)
{
    static const uint32_t w[] = {100, 100, 200};
    struct fixture f;
    struct rg_bal b;
    struct rg_bal_in in = in_seq(0);

    fx_init(&f, w, 3);
    ck_assert_int_eq(rg_bal_init(&b, RG_LB_ROUND_ROBIN, 0, f.p, 3), 0);
    b.threshold = 50;
    rg_health_set(&f.h[0], 1);
    ck_assert_uint_ne(rg_bal_pick(&b, &in), RG_BAL_NONE); /* 75% */
    rg_health_set(&f.h[1], 1);
    ck_assert_uint_eq(rg_bal_pick(&b, &in), 2); /* 50%: enough */
    rg_health_set(&f.h[1], 0);
    rg_health_set(&f.h[2], 1);
    ck_assert_uint_eq(rg_bal_pick(&b, &in), RG_BAL_NONE); /* 25% */
    b.threshold = 0;
    ck_assert_uint_eq(rg_bal_pick(&b, &in), 1);
    rg_bal_release(&b);
}
END_TEST

/* Least-connections picks the peer with the fewest in flight per weight. */
START_TEST(least_connections_prefers_idle)
{
    static const uint32_t w[] = {100, 100, 200};
    struct fixture f;
    struct rg_bal b;
    struct rg_bal_in in = in_seq(0);

    fx_init(&f, w, 3);
    ck_assert_int_eq(rg_bal_init(&b, RG_LB_LEAST_CONN, 0, f.p, 3), 0);
    atomic_store(&f.h[0].active, 5);
    atomic_store(&f.h[1].active, 1);
    atomic_store(&f.h[2].active, 3); /* (3+1)/200 = 2/100 ~ (1+1)/100 */
    ck_assert_uint_eq(rg_bal_pick(&b, &in), 1);
    atomic_store(&f.h[2].active, 2); /* 3/200 < 2/100 */
    ck_assert_uint_eq(rg_bal_pick(&b, &in), 2);
    rg_health_set(&f.h[2], 1);
    ck_assert_uint_eq(rg_bal_pick(&b, &in), 1);
    rg_bal_release(&b);
}
END_TEST

/* Two random choices: a loaded peer gets far less than its share, and
 * with equal load the shares follow the weights. */
START_TEST(two_choices_avoid_loaded_peer)
{
    static const uint32_t w[] = {100, 100, 100, 100};
    struct fixture f;
    struct rg_bal b;
    size_t got[4] = {0};
    uint64_t rng = 88172645463325252ULL;

    fx_init(&f, w, 4);
    ck_assert_int_eq(rg_bal_init(&b, RG_LB_RANDOM, 0, f.p, 4), 0);
    for (int k = 0; k < 40000; k++) {
        struct rg_bal_in in = in_seq((uint64_t)k);

        in.rnd = xs(&rng);
        got[rg_bal_pick(&b, &in)]++;
    }
    for (int i = 0; i < 4; i++) /* equal load: about 10000 each */
        ck_assert_msg(got[i] > 9000 && got[i] < 11000, "peer %d: %zu", i,
                      got[i]);
    memset(got, 0, sizeof(got));
    atomic_store(&f.h[0].active, 10);
    for (int k = 0; k < 40000; k++) {
        struct rg_bal_in in = in_seq((uint64_t)k);

        in.rnd = xs(&rng);
        got[rg_bal_pick(&b, &in)]++;
    }
    /* Picked only when drawn twice: 1/16 of the time. */
    ck_assert_msg(got[0] < 40000 / 16 + 500, "loaded peer got %zu", got[0]);
    rg_bal_release(&b);
}
END_TEST

static size_t pick_key(const struct rg_bal *b, const char *key)
{
    struct rg_bal_in in = {0, 0, rg_bal_hash(key, strlen(key)), 1, RG_BAL_NONE};

    return rg_bal_pick(b, &in);
}

/* The same key always goes to the same peer, keys spread over all peers,
 * and removing one of n peers moves only the keys it held (about 1/n). */
START_TEST(consistent_hash_is_stable)
{
    static const uint32_t w[] = {100, 100, 100, 100, 100};
    struct fixture f, g;
    struct rg_bal b, c;
    size_t before[2000], got[5] = {0}, moved = 0, lost = 0;
    char key[32];

    fx_init(&f, w, 5);
    ck_assert_int_eq(rg_bal_init(&b, RG_LB_HASH, 10000, f.p, 5), 0);
    ck_assert_uint_eq(b.n_ring, 500);
    for (int k = 0; k < 2000; k++) {
        snprintf(key, sizeof(key), "user-%d", k);
        before[k] = pick_key(&b, key);
        ck_assert_uint_eq(pick_key(&b, key), before[k]);
        got[before[k]]++;
    }
    for (int i = 0; i < 5; i++)
        ck_assert_msg(got[i] > 250 && got[i] < 550, "peer %d: %zu", i, got[i]);
    /* Peer 2 goes: the others keep their names, so their points. */
    g = f;
    memmove(&g.p[2], &g.p[3], 2 * sizeof(g.p[0]));
    ck_assert_int_eq(rg_bal_init(&c, RG_LB_HASH, 10000, g.p, 4), 0);
    for (int k = 0; k < 2000; k++) {
        size_t now, was = before[k];

        snprintf(key, sizeof(key), "user-%d", k);
        now = pick_key(&c, key);
        now = now >= 2 ? now + 1 : now; /* back to f's numbering */
        if (was == 2)
            lost++;
        else if (now != was)
            moved++;
    }
    ck_assert_uint_eq(moved, 0);
    ck_assert_uint_eq(lost, got[2]);
    /* A key whose peer is down goes to another one, and back after. */
    snprintf(key, sizeof(key), "user-%d", 7);
    rg_health_set(&f.h[before[7]], 1);
    ck_assert_uint_ne(pick_key(&b, key), before[7]);
    rg_health_set(&f.h[before[7]], 0);
    ck_assert_uint_eq(pick_key(&b, key), before[7]);
    rg_bal_release(&b);
    rg_bal_release(&c);
}
END_TEST

static struct rg_hc_side side(unsigned lo, unsigned hi, uint8_t succ,
                              uint8_t tcp, uint8_t tmo, uint8_t http)
{
    struct rg_hc_side s;

    memset(&s, 0, sizeof(s));
    for (unsigned st = lo; st <= hi; st++)
        s.statuses.bits[st >> 6] |= (uint64_t)1 << (st & 63);
    s.successes = succ;
    s.tcp_failures = tcp;
    s.timeouts = tmo;
    s.http_failures = http;
    return s;
}

/* Kong's counting: N http failures of listed statuses mark a target down,
 * a success in between resets the count, `successes` bring it back, a 0
 * threshold never trips. */
START_TEST(health_counts_as_kong)
{
    struct rg_hc_side ok = side(200, 299, 2, 0, 0, 0);
    struct rg_hc_side bad = side(500, 503, 0, 2, 0, 3);
    struct rg_health h;

    memset(&h, 0, sizeof(h));
    rg_health_report(&h, &ok, &bad, RG_HEALTH_HTTP, 500);
    rg_health_report(&h, &ok, &bad, RG_HEALTH_HTTP, 500);
    rg_health_report(&h, &ok, &bad, RG_HEALTH_HTTP, 200); /* resets */
    rg_health_report(&h, &ok, &bad, RG_HEALTH_HTTP, 500);
    rg_health_report(&h, &ok, &bad, RG_HEALTH_HTTP, 404); /* neither list */
    rg_health_report(&h, &ok, &bad, RG_HEALTH_HTTP, 500);
    ck_assert(rg_health_usable(&h));
    ck_assert_int_eq(rg_health_report(&h, &ok, &bad, RG_HEALTH_HTTP, 502), 1);
    ck_assert(!rg_health_usable(&h));
    rg_health_report(&h, &ok, &bad, RG_HEALTH_HTTP, 200);
    ck_assert(!rg_health_usable(&h));
    ck_assert_int_eq(rg_health_report(&h, &ok, &bad, RG_HEALTH_HTTP, 204), 1);
    ck_assert(rg_health_usable(&h));
    /* Timeouts have a 0 threshold: never counted. */
    for (int i = 0; i < 10; i++)
        rg_health_report(&h, &ok, &bad, RG_HEALTH_TIMEOUT, 0);
    ck_assert(rg_health_usable(&h));
    rg_health_report(&h, &ok, &bad, RG_HEALTH_TCP_FAILURE, 0);
    rg_health_report(&h, &ok, &bad, RG_HEALTH_TCP_FAILURE, 0);
    ck_assert(!rg_health_usable(&h));
}
END_TEST

/* The registry hands out one state per (upstream, address). */
START_TEST(registry_keeps_state)
{
    struct rg_health *a = rg_health_get("u1", "127.0.0.1:1", "a:1");
    struct rg_health *b = rg_health_get("u2", "127.0.0.1:1", NULL);

    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_ne(a, b);
    rg_health_set(a, 1);
    ck_assert_ptr_eq(rg_health_get("u1", "127.0.0.1:1", "a:1"), a);
    ck_assert_ptr_eq(rg_health_find("u1", "127.0.0.1:1"), a);
    ck_assert_ptr_null(rg_health_find("u1", "127.0.0.1:2"));
    ck_assert(!rg_health_usable(a));
    rg_health_shutdown();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("balancer");
    TCase *tc = tcase_create("balancer");
    SRunner *sr;
    int nf;

    tcase_add_test(tc, round_robin_follows_weights);
    tcase_add_test(tc, round_robin_skips_unusable);
    tcase_add_test(tc, retry_excludes_previous_peer);
    tcase_add_test(tc, threshold_fails_whole_upstream);
    tcase_add_test(tc, least_connections_prefers_idle);
    tcase_add_test(tc, two_choices_avoid_loaded_peer);
    tcase_add_test(tc, consistent_hash_is_stable);
    tcase_add_test(tc, health_counts_as_kong);
    tcase_add_test(tc, registry_keeps_state);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
