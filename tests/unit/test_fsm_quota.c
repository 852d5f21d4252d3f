/* The quota ledger of the state machine (raft/quota.h, raft/fsm_quota.c),
 * fed encoded entries with chosen stamps and no clock: grants never pass
 * the limit over random request/return sequences (retries and stale
 * returns included), duplicates return the original grant, a new window
 * resets, the tail is halved near exhaustion, snapshots restore
 * byte-identical and keep a day window's count across a restart. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/window.h"
#include "raft/codec.h"
#include "raft/fsm.h"
#include "raft/quota.h"

/* 2026-12-07 15:30:00 UTC, in ms. */
#define T0 1796743800000ull

struct lc {
    uint8_t type;
    const char *key;
    struct rg_lease l;
    unsigned char body[RG_LEASE_BODY];
};

static struct rg_cmd to_cmd(struct lc *x)
{
    struct rg_cmd c = {0};

    rg_lease_encode(&x->l, x->body);
    c.type = x->type;
    c.key = x->key;
    c.key_len = (uint16_t)strlen(x->key);
    c.body = (const char *)x->body;
    c.body_len = RG_LEASE_BODY;
    return c;
}

/* Apply @n lease commands as one entry stamped @ts_ms at @index. */
static void apply(struct rg_fsm *f, uint64_t index, uint64_t ts_ms,
                  struct lc *x, unsigned n, struct rg_fsm_result *res)
{
    struct rg_cmd c[64];
    size_t sz;
    void *b;

    ck_assert_uint_le(n, 64);
    for (unsigned i = 0; i < n; i++)
        c[i] = to_cmd(&x[i]);
    sz = rg_codec_size(c, n);
    ck_assert_uint_gt(sz, 0);
    b = malloc(sz);
    ck_assert_int_eq(rg_codec_encode(c, n, 1, ts_ms, b, sz), (long)sz);
    ck_assert_uint_eq(rg_fsm_apply(f, index, b, sz, res), n);
    free(b);
}

static struct lc req(const char *key, uint64_t node, uint64_t inc,
                     uint64_t seq, uint64_t want, uint64_t limit, int unit)
{
    struct lc x = {RG_CMD_LEASE_REQ, key, {node, inc, seq, want, limit, 0,
                                           (uint8_t)unit}, {0}};
    return x;
}

static struct lc ret(const char *key, uint64_t node, uint64_t inc,
                     uint64_t seq, uint64_t unused, uint64_t window, int unit)
{
    struct lc x = {RG_CMD_LEASE_RET, key, {node, inc, seq, unused, 0, window,
                                           (uint8_t)unit}, {0}};
    return x;
}

static struct rg_fsm_result one(struct rg_fsm *f, uint64_t *index,
                                uint64_t ts, struct lc x)
{
    struct rg_fsm_result r;

    apply(f, ++*index, ts, &x, 1, &r);
    return r;
}

/* A registry of @n nodes (N of the halving rule). */
static void add_nodes(struct rg_fsm *f, uint64_t *index, unsigned n)
{
    for (unsigned i = 1; i <= n; i++) {
        char key[8];
        struct rg_cmd c = {.type = RG_CMD_NODE_SET, .body = "{}",
                           .body_len = 2};
        struct rg_fsm_result r;
        size_t sz;
        void *b;

        snprintf(key, sizeof(key), "%u", i);
        c.key = key;
        c.key_len = (uint16_t)strlen(key);
        sz = rg_codec_size(&c, 1);
        b = malloc(sz);
        ck_assert_int_eq(rg_codec_encode(&c, 1, 1, T0, b, sz), (long)sz);
        rg_fsm_apply(f, ++*index, b, sz, &r);
        ck_assert_int_eq(r.status, RG_FSM_OK);
        free(b);
    }
}

static char *snap(const struct rg_fsm *f, size_t *len)
{
    void *b;

    ck_assert_int_eq(rg_fsm_snapshot(f, &b, len), 0);
    return b;
}

/* A request is granted min(want, remaining) with the window and what is
 * left; a minute window starts on the minute. */
START_TEST(grant_and_outputs)
{
    struct rg_fsm *f = rg_fsm_new(NULL, NULL);
    uint64_t ix = 0, start = rg_window_start(RG_WIN_MINUTE, T0 / 1000);
    struct rg_fsm_result r;

    add_nodes(f, &ix, 3);
    r = one(f, &ix, T0, req("r|s|minute|a", 1, 7, 1, 50, 300, RG_WIN_MINUTE));
    ck_assert_int_eq(r.status, RG_FSM_OK);
    ck_assert_uint_eq(r.out[0], 50);
    ck_assert_uint_eq(r.out[1], start);
    ck_assert_uint_eq(r.out[2], start + 60);
    ck_assert_uint_eq(r.out[3], 250);
    /* Leases are not admin writes: no revision, no ring record. */
    ck_assert_uint_eq(rg_fsm_revision(f), 0);
    rg_fsm_free(f);
}
END_TEST

/* A retry with the same (incarnation, seq) gets the original grant and
 * takes nothing more, even after others took tokens; an older seq gets
 * nothing; a new incarnation is a new requester. */
START_TEST(duplicate_returns_original_grant)
{
    struct rg_fsm *f = rg_fsm_new(NULL, NULL);
    uint64_t ix = 0;
    struct rg_fsm_result r;

    add_nodes(f, &ix, 3);
    one(f, &ix, T0, req("k", 1, 7, 5, 40, 300, RG_WIN_MINUTE));
    one(f, &ix, T0, req("k", 2, 9, 1, 40, 300, RG_WIN_MINUTE));
    r = one(f, &ix, T0 + 5, req("k", 1, 7, 5, 40, 300, RG_WIN_MINUTE));
    ck_assert_int_eq(r.duplicate, 1);
    ck_assert_uint_eq(r.out[0], 40);
    ck_assert_uint_eq(r.out[3], 220);
    r = one(f, &ix, T0 + 6, req("k", 1, 7, 4, 40, 300, RG_WIN_MINUTE));
    ck_assert_uint_eq(r.out[0], 0);
    ck_assert_uint_eq(r.out[3], 220);
    /* 220 left < 2·3·40: near exhaustion, ceil(220/6). */
    r = one(f, &ix, T0 + 7, req("k", 1, 8, 1, 40, 300, RG_WIN_MINUTE));
    ck_assert_int_eq(r.duplicate, 0);
    ck_assert_uint_eq(r.out[0], 37);
    ck_assert_uint_eq(r.out[3], 183);
    rg_fsm_free(f);
}
END_TEST

/* A later window resets remaining to the limit; a stamp going backwards
 * (a new leader whose clock is behind) does not bring the old window
 * back; the ledger of an ended window is dropped. */
START_TEST(window_reset_and_running_max)
{
    struct rg_fsm *f = rg_fsm_new(NULL, NULL);
    uint64_t ix = 0, start = rg_window_start(RG_WIN_MINUTE, T0 / 1000);
    struct rg_fsm_result r;
    char *a, *b;
    size_t la, lb;

    uint64_t seq = 0, got = 0;

    add_nodes(f, &ix, 1);
    do {
        r = one(f, &ix, T0, req("k", 1, 7, ++seq, 30, 100, RG_WIN_MINUTE));
        got += r.out[0];
    } while (r.out[3] > 0);
    ck_assert_uint_eq(got, 100);
    r = one(f, &ix, T0, req("k", 1, 7, ++seq, 10, 100, RG_WIN_MINUTE));
    ck_assert_uint_eq(r.out[0], 0);
    ck_assert_uint_eq(r.out[3], 0);
    r = one(f, &ix, T0 + 60000, req("k", 1, 7, 1000, 10, 100, RG_WIN_MINUTE));
    ck_assert_uint_eq(r.out[0], 10);
    ck_assert_uint_eq(r.out[1], start + 60);
    ck_assert_uint_eq(r.out[3], 90);
    /* Stamped in the old window: still the new one. */
    r = one(f, &ix, T0 - 1000, req("k", 1, 7, 1001, 10, 100, RG_WIN_MINUTE));
    ck_assert_uint_eq(r.out[1], start + 60);
    ck_assert_uint_eq(r.out[3], 80);
    /* Two minutes on, another key's command drops "k": its snapshot
     * equals that of a state that never saw "k" at that time. */
    one(f, &ix, T0 + 180000, req("x", 1, 7, 5000, 1, 5, RG_WIN_HOUR));
    a = snap(f, &la);
    ck_assert_ptr_null(strstr(a, "\"k\""));
    rg_fsm_free(f);
    f = rg_fsm_new(NULL, NULL);
    ix = 0;
    add_nodes(f, &ix, 1);
    one(f, &ix, T0 + 180000, req("x", 1, 7, 5000, 1, 5, RG_WIN_HOUR));
    b = snap(f, &lb);
    /* Only the applied index differs. */
    ck_assert_ptr_nonnull(strstr(a, "\"ledgers\":[[\"x\""));
    ck_assert_ptr_nonnull(strstr(b, "\"ledgers\":[[\"x\""));
    ck_assert_str_eq(strstr(a, "\"quota\""), strstr(b, "\"quota\""));
    rg_free(a);
    rg_free(b);
    rg_fsm_free(f);
}
END_TEST

/* Near exhaustion (remaining < 2·N·want: the ask is more than a 1/2N
 * share of what is left) a node gets ceil(remaining/2N), so with N = 3 the
 * tail goes in slices of a sixth, down to single tokens, and every token
 * is granted in the end. */
START_TEST(halving_near_exhaustion)
{
    struct rg_fsm *f = rg_fsm_new(NULL, NULL);
    uint64_t ix = 0, seq = 0, total = 0, rem = 300, want;
    struct rg_fsm_result r;

    add_nodes(f, &ix, 3);
    r = one(f, &ix, T0, req("k", 1, 7, ++seq, 240, 300, RG_WIN_MINUTE));
    ck_assert_uint_eq(r.out[0], 50);
    rem -= 50;
    total = 50;
    r = one(f, &ix, T0, req("k", 2, 7, ++seq, 10, 300, RG_WIN_MINUTE));
    ck_assert_uint_eq(r.out[0], 10); /* 250 >= 60: not near */
    rem -= 10;
    total += 10;
    while (rem > 0) {
        want = 40;
        seq++;
        r = one(f, &ix, T0, req("k", 1 + seq % 3, 7, seq, want, 300,
                                RG_WIN_MINUTE));
        ck_assert_uint_eq(r.out[0], (rem + 5) / 6 < want ? (rem + 5) / 6
                                                         : want);
        rem -= r.out[0];
        total += r.out[0];
        ck_assert_uint_eq(r.out[3], rem);
    }
    ck_assert_uint_eq(total, 300);
    r = one(f, &ix, T0, req("k", 1, 7, ++seq, 1, 300, RG_WIN_MINUTE));
    ck_assert_uint_eq(r.out[0], 0);
    rg_fsm_free(f);
}
END_TEST

/* A return gives back at most what the node holds in that window, once
 * per seq, only from the incarnation that holds the tokens. */
START_TEST(return_rules)
{
    struct rg_fsm *f = rg_fsm_new(NULL, NULL);
    uint64_t ix = 0, start = rg_window_start(RG_WIN_MINUTE, T0 / 1000);
    struct rg_fsm_result r;

    add_nodes(f, &ix, 1);
    one(f, &ix, T0, req("k", 1, 7, 1, 30, 100, RG_WIN_MINUTE));
    r = one(f, &ix, T0, ret("k", 1, 7, 2, 10, start, RG_WIN_MINUTE));
    ck_assert_uint_eq(r.out[0], 10);
    ck_assert_uint_eq(r.out[3], 80);
    /* The same return again (a retry): nothing. */
    r = one(f, &ix, T0, ret("k", 1, 7, 2, 10, start, RG_WIN_MINUTE));
    ck_assert_uint_eq(r.out[0], 0);
    ck_assert_uint_eq(r.out[3], 80);
    /* More than it holds (20): capped. */
    r = one(f, &ix, T0, ret("k", 1, 7, 3, 50, start, RG_WIN_MINUTE));
    ck_assert_uint_eq(r.out[0], 20);
    ck_assert_uint_eq(r.out[3], 100);
    one(f, &ix, T0, req("k", 1, 7, 4, 30, 100, RG_WIN_MINUTE));
    /* Another incarnation, another window: nothing. */
    r = one(f, &ix, T0, ret("k", 1, 8, 5, 30, start, RG_WIN_MINUTE));
    ck_assert_uint_eq(r.out[0], 0);
    r = one(f, &ix, T0, ret("k", 1, 7, 6, 30, start - 60, RG_WIN_MINUTE));
    ck_assert_uint_eq(r.out[0], 0);
    ck_assert_uint_eq(r.out[3], 70);
    rg_fsm_free(f);
}
END_TEST

/* Malformed lease commands are refused and change nothing. */
START_TEST(malformed_refused)
{
    struct rg_fsm *f = rg_fsm_new(NULL, NULL);
    uint64_t ix = 0;
    struct rg_fsm_result r;

    r = one(f, &ix, T0, req("bad key", 1, 7, 1, 1, 5, RG_WIN_MINUTE));
    ck_assert_int_eq(r.status, RG_FSM_INVALID);
    r = one(f, &ix, T0, req("k", 0, 7, 1, 1, 5, RG_WIN_MINUTE));
    ck_assert_int_eq(r.status, RG_FSM_INVALID);
    r = one(f, &ix, T0, req("k", 1, 7, 1, 1, 5, RG_WIN_UNITS));
    ck_assert_int_eq(r.status, RG_FSM_INVALID);
    rg_fsm_free(f);
}
END_TEST

/* The safety property: over random sequences of requests (with retries
 * of the last seq and stale seqs), returns (honest, retried,
 * stale), restarts (new incarnations) and time moving through windows,
 * the tokens a model of honest nodes can spend in a window never pass
 * the limit, and the ledger's own count agrees. */
START_TEST(random_never_over_limit)
{
    enum { NODES = 3, KEYS = 3 };
    static const char *keys[KEYS] = {"a", "b", "c"};
    srand(11);
    for (int run = 0; run < 60; run++) {
        struct rg_fsm *f = rg_fsm_new(NULL, NULL);
        uint64_t ix = 0, ts = T0, seq[NODES] = {0}, inc[NODES];
        /* Per key and node: tokens held (granted, not returned) in the
         * window of start[key]; spent per key and window. */
        uint64_t held[KEYS][NODES] = {{0}}, spent[KEYS] = {0};
        uint64_t wstart[KEYS] = {0}, limit = 1 + (uint64_t)(rand() % 200);
        struct lc last_ret[NODES];
        int have_ret[NODES] = {0};

        add_nodes(f, &ix, NODES);
        for (int n = 0; n < NODES; n++)
            inc[n] = 100 + (uint64_t)n;
        for (int step = 0; step < 400; step++) {
            int k = rand() % KEYS, n = rand() % NODES, what = rand() % 10;
            struct rg_fsm_result r;
            struct lc x;

            if (rand() % 50 == 0)
                ts += 20000; /* a minute window ends now and then */
            if (what == 0) { /* a restart: the old grants are lost */
                inc[n] += 1000;
                for (int j = 0; j < KEYS; j++)
                    held[j][n] = 0;
                continue;
            }
            int retry = 0, changed = 0;

            if (what <= 5) {
                x = req(keys[k], (uint64_t)n + 1, inc[n],
                        what == 5 && seq[n] > 0 ? seq[n] : ++seq[n],
                        1 + (uint64_t)(rand() % 60), limit, RG_WIN_MINUTE);
            } else if (what == 8 && have_ret[n]) {
                x = last_ret[n]; /* resent as it was: removed once */
                k = (int)(x.key[0] - 'a');
                retry = 1;
            } else {
                x = ret(keys[k], (uint64_t)n + 1,
                        what == 9 ? inc[n] + 1 : inc[n], ++seq[n],
                        what == 7 ? held[k][n] : held[k][n] / 2, wstart[k],
                        RG_WIN_MINUTE);
                last_ret[n] = x;
                have_ret[n] = 1;
            }
            r = one(f, &ix, ts, x);
            ck_assert_int_eq(r.status, RG_FSM_OK);
            if (r.out[1] != wstart[k]) { /* a new window */
                wstart[k] = r.out[1];
                spent[k] = 0;
                for (int j = 0; j < NODES; j++)
                    held[k][j] = 0;
                changed = 1;
            }
            if (x.type == RG_CMD_LEASE_REQ && !r.duplicate)
                held[k][n] += r.out[0];
            /* An honest node returns only what it removed from its
             * balance: it holds less (even when the return failed). */
            if (x.type == RG_CMD_LEASE_RET && !retry && !changed)
                held[k][n] -= x.l.n;
            /* Spend some of what is held. */
            uint64_t use = held[k][n] / 2;
            held[k][n] -= use;
            spent[k] += use;
            uint64_t could = spent[k];
            for (int j = 0; j < NODES; j++)
                could += held[k][j];
            ck_assert_uint_le(could, limit);
            ck_assert_uint_le(r.out[3], limit);
            ck_assert_uint_le(could + r.out[3], limit);
        }
        rg_fsm_free(f);
    }
}
END_TEST

/* Two replicas fed the same entries write the same snapshot bytes; a
 * restore writes them again, and goes on exactly as the original. A
 * snapshot from before quotas restores an empty ledger. */
START_TEST(snapshot_restore_byte_identical)
{
    struct rg_fsm *a = rg_fsm_new(NULL, NULL), *b = rg_fsm_new(NULL, NULL);
    struct rg_fsm *c = rg_fsm_new(NULL, NULL);
    uint64_t ia = 0, ib = 0, start;
    struct rg_fsm_result ra, rc;
    char *sa, *sb, *sc;
    size_t la, lb, lc;

    add_nodes(a, &ia, 3);
    add_nodes(b, &ib, 3);
    sa = snap(a, &la);
    ck_assert_ptr_null(strstr(sa, "quota"));
    ck_assert_int_eq(rg_fsm_restore(c, sa, la), 0);
    rg_free(sa);
    for (uint64_t i = 1; i <= 20; i++) {
        struct lc x = req(i % 2 ? "k1" : "k2", 1 + i % 3, 5, i, 7, 100,
                          (int)(i % 3));

        one(a, &ia, T0 + i * 10, x);
        one(b, &ib, T0 + i * 10, x);
    }
    sa = snap(a, &la);
    sb = snap(b, &lb);
    ck_assert_uint_eq(la, lb);
    ck_assert_int_eq(memcmp(sa, sb, la), 0);
    ck_assert_int_eq(rg_fsm_restore(c, sa, la), 0);
    sc = snap(c, &lc);
    ck_assert_uint_eq(la, lc);
    ck_assert_int_eq(memcmp(sa, sc, la), 0);
    start = rg_window_start(RG_WIN_HOUR, T0 / 1000);
    ra = one(a, &ia, T0 + 500, req("k1", 2, 5, 40, 9, 100, RG_WIN_HOUR));
    rc = one(c, &ia, T0 + 500, req("k1", 2, 5, 40, 9, 100, RG_WIN_HOUR));
    ck_assert_mem_eq(ra.out, rc.out, sizeof(ra.out));
    ck_assert_uint_eq(ra.out[1], start);
    /* A duplicate seq from the restored dedupe records. */
    rc = one(c, &ia, T0 + 600, req("k1", 2, 5, 40, 9, 100, RG_WIN_HOUR));
    ck_assert_int_eq(rc.duplicate, 1);
    rg_free(sa);
    rg_free(sb);
    rg_free(sc);
    rg_fsm_free(a);
    rg_fsm_free(b);
    rg_fsm_free(c);
}
END_TEST

/* A full restart (snapshot, restore into a new process's state machine)
 * keeps a day window's count: the next grant sees what was granted
 * before, and the limit still holds. */
START_TEST(restart_keeps_day_window)
{
    struct rg_fsm *f = rg_fsm_new(NULL, NULL), *g;
    uint64_t ix = 0, got = 0;
    struct rg_fsm_result r;
    char *s;
    size_t len;

    add_nodes(f, &ix, 1);
    for (uint64_t i = 1; i <= 10; i++)
        got += one(f, &ix, T0 + i, req("day", 1, 5, i, 30, 500,
                                       RG_WIN_DAY)).out[0];
    s = snap(f, &len);
    rg_fsm_free(f);
    g = rg_fsm_new(NULL, NULL);
    ck_assert_int_eq(rg_fsm_restore(g, s, len), 0);
    rg_free(s);
    /* A new incarnation, hours later, same day. */
    r = one(g, &ix, T0 + 3 * 3600 * 1000, req("day", 1, 6, 1, 1000, 500,
                                               RG_WIN_DAY));
    ck_assert_uint_eq(r.out[1], rg_window_start(RG_WIN_DAY, T0 / 1000));
    ck_assert_uint_eq(r.out[3] + r.out[0], 500 - got);
    for (uint64_t i = 2; i < 200; i++)
        got += one(g, &ix, T0 + 3 * 3600 * 1000,
                   req("day", 1, 6, i, 1000, 500, RG_WIN_DAY)).out[0];
    ck_assert_uint_eq(got + r.out[0], 500);
    rg_fsm_free(g);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fsm_quota");
    TCase *tc = tcase_create("fsm_quota");
    SRunner *sr;
    int nf;

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, grant_and_outputs);
    tcase_add_test(tc, duplicate_returns_original_grant);
    tcase_add_test(tc, window_reset_and_running_max);
    tcase_add_test(tc, halving_near_exhaustion);
    tcase_add_test(tc, return_rules);
    tcase_add_test(tc, malformed_refused);
    tcase_add_test(tc, random_never_over_limit);
    tcase_add_test(tc, snapshot_restore_byte_identical);
    tcase_add_test(tc, restart_keeps_day_window);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
