/* Circuit breakers in the replicated state machine (raft/fsm_breaker.c):
 * the transitions, stale epochs ignored, probing only after the recovery
 * timeout by the entries' stamps, prober takeover, the transition hook,
 * snapshot round trip (and snapshots without the section), determinism
 * across replicas, and that breakers leave the config, the request-id
 * table and the applied ring alone. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raft/codec.h"
#include "raft/fsm.h"

struct tb {
    struct rg_fsm *f;
    uint64_t index;
    unsigned events;
    struct rg_fsm_breaker last;
    char last_service[64];
};

static void on_brk(void *arg, const struct rg_fsm_breaker *b)
{
    struct tb *t = arg;

    t->events++;
    t->last = *b;
    snprintf(t->last_service, sizeof(t->last_service), "%s", b->service);
    t->last.service = t->last_service;
}

static void tb_init(struct tb *t)
{
    memset(t, 0, sizeof(*t));
    t->index = 1;
    t->f = rg_fsm_new(NULL, NULL);
    ck_assert_ptr_nonnull(t->f);
    rg_fsm_on_breaker(t->f, on_brk, t);
}

/* Apply one BREAKER command stamped @ts; returns out[0] (applied). */
static int cmd(struct tb *t, uint64_t ts, const char *svc, enum rg_brk_op op,
               uint64_t epoch, uint64_t node, uint64_t rec,
               struct rg_fsm_result *res)
{
    char body[RG_FSM_BRK_BODY];
    struct rg_cmd c;
    struct rg_fsm_result r;
    size_t sz;
    void *b;

    ck_assert_int_eq(rg_fsm_breaker_cmd(&c, body, svc, op, epoch, node, rec),
                     0);
    sz = rg_codec_size(&c, 1);
    ck_assert_uint_gt(sz, 0);
    b = malloc(sz);
    ck_assert_int_eq(rg_codec_encode(&c, 1, 3, ts, b, sz), (long)sz);
    ck_assert_uint_eq(rg_fsm_apply(t->f, t->index++, b, sz, &r), 1);
    free(b);
    ck_assert_int_eq(r.status, RG_FSM_OK);
    if (res != NULL)
        *res = r;
    return (int)r.out[0];
}

static void expect(const struct tb *t, const char *svc, enum rg_brk_state st,
                   uint64_t epoch, uint64_t prober)
{
    struct rg_fsm_breaker b;

    ck_assert_int_eq(rg_fsm_get_breaker(t->f, svc, &b), 0);
    ck_assert_int_eq(b.state, st);
    ck_assert_uint_eq(b.epoch, epoch);
    ck_assert_uint_eq(b.prober, prober);
}

START_TEST(full_cycle)
{
    struct tb t;
    struct rg_fsm_result r;

    tb_init(&t);
    ck_assert_int_eq(cmd(&t, 1000, "svc", RG_BRK_OP_OPEN, 0, 1, 30000, &r), 1);
    ck_assert_uint_eq(r.out[1], RG_BRK_OPEN);
    ck_assert_uint_eq(r.out[2], 1);
    expect(&t, "svc", RG_BRK_OPEN, 1, 0);
    ck_assert_uint_eq(t.events, 1);
    /* Too early by the stamps: 29.999 s after it opened. */
    ck_assert_int_eq(cmd(&t, 30999, "svc", RG_BRK_OP_PROBE, 1, 2, 30000, NULL),
                     0);
    ck_assert_int_eq(cmd(&t, 31000, "svc", RG_BRK_OP_PROBE, 1, 2, 30000, &r),
                     1);
    ck_assert_uint_eq(r.out[3], 2);
    expect(&t, "svc", RG_BRK_HALF_OPEN, 2, 2);
    /* Only the prober concludes. */
    ck_assert_int_eq(cmd(&t, 31500, "svc", RG_BRK_OP_CLOSE, 2, 3, 30000, NULL),
                     0);
    ck_assert_int_eq(cmd(&t, 31500, "svc", RG_BRK_OP_REOPEN, 2, 2, 30000, NULL),
                     1);
    expect(&t, "svc", RG_BRK_OPEN, 3, 0);
    ck_assert_int_eq(cmd(&t, 62000, "svc", RG_BRK_OP_PROBE, 3, 1, 30000, NULL),
                     1);
    expect(&t, "svc", RG_BRK_HALF_OPEN, 4, 1);
    ck_assert_int_eq(cmd(&t, 62100, "svc", RG_BRK_OP_CLOSE, 4, 1, 30000, NULL),
                     1);
    expect(&t, "svc", RG_BRK_CLOSED, 5, 0);
    ck_assert_uint_eq(t.events, 5);
    ck_assert_str_eq(t.last.service, "svc");
    ck_assert_int_eq(t.last.state, RG_BRK_CLOSED);
    /* Nothing of the config changed. */
    ck_assert_uint_eq(rg_fsm_revision(t.f), 0);
    rg_fsm_free(t.f);
}
END_TEST

static void count_ring(void *arg, const struct rg_fsm_applied *a)
{
    (void)a;
    (*(unsigned *)arg)++;
}

START_TEST(stale_epochs_ignored)
{
    struct tb t;
    unsigned ring = 0;

    tb_init(&t);
    /* A command for a breaker that does not exist yet, at a later epoch,
     * leaves no record. */
    ck_assert_int_eq(cmd(&t, 10, "a", RG_BRK_OP_OPEN, 3, 1, 1000, NULL), 0);
    ck_assert_int_eq(cmd(&t, 10, "a", RG_BRK_OP_PROBE, 0, 1, 0, NULL), 0);
    {
        struct rg_fsm_breaker b;

        ck_assert_int_eq(rg_fsm_get_breaker(t.f, "a", &b), -2 /* ENOENT */);
    }
    /* Two nodes trip at once: the second OPEN(0) is stale. */
    ck_assert_int_eq(cmd(&t, 10, "a", RG_BRK_OP_OPEN, 0, 1, 1000, NULL), 1);
    ck_assert_int_eq(cmd(&t, 11, "a", RG_BRK_OP_OPEN, 0, 2, 1000, NULL), 0);
    expect(&t, "a", RG_BRK_OPEN, 1, 0);
    /* Two probes: one prober. */
    ck_assert_int_eq(cmd(&t, 2000, "a", RG_BRK_OP_PROBE, 1, 2, 1000, NULL), 1);
    ck_assert_int_eq(cmd(&t, 2001, "a", RG_BRK_OP_PROBE, 1, 3, 1000, NULL), 0);
    expect(&t, "a", RG_BRK_HALF_OPEN, 2, 2);
    /* A late CLOSE of an older epoch, and an OPEN while half-open. */
    ck_assert_int_eq(cmd(&t, 2002, "a", RG_BRK_OP_CLOSE, 1, 2, 1000, NULL), 0);
    ck_assert_int_eq(cmd(&t, 2002, "a", RG_BRK_OP_OPEN, 2, 2, 1000, NULL), 0);
    expect(&t, "a", RG_BRK_HALF_OPEN, 2, 2);
    ck_assert_uint_eq(t.events, 2);
    /* Other services are apart. */
    ck_assert_int_eq(cmd(&t, 2003, "b", RG_BRK_OP_OPEN, 0, 1, 1000, NULL), 1);
    expect(&t, "b", RG_BRK_OPEN, 1, 0);
    expect(&t, "a", RG_BRK_HALF_OPEN, 2, 2);
    /* Breaker commands are not in the applied ring. */
    rg_fsm_applied_since(t.f, 0, count_ring, &ring);
    ck_assert_uint_eq(ring, 0);
    rg_fsm_free(t.f);
}
END_TEST

START_TEST(time_is_running_max_of_stamps)
{
    struct tb t;

    tb_init(&t);
    ck_assert_int_eq(cmd(&t, 5000, "s", RG_BRK_OP_OPEN, 0, 1, 1000, NULL), 1);
    /* A leader with a clock behind: time does not go back, and the open
     * is still 5000. */
    ck_assert_int_eq(cmd(&t, 100, "s", RG_BRK_OP_PROBE, 1, 1, 1000, NULL), 0);
    ck_assert_int_eq(cmd(&t, 5999, "s", RG_BRK_OP_PROBE, 1, 1, 1000, NULL), 0);
    ck_assert_int_eq(cmd(&t, 6000, "s", RG_BRK_OP_PROBE, 1, 1, 1000, NULL), 1);
    /* Time went to 9000 (a stale command); a later entry stamped by a
     * leader whose clock is behind still sees 9000. */
    ck_assert_int_eq(cmd(&t, 0, "u", RG_BRK_OP_OPEN, 0, 1, 1000, NULL), 1);
    ck_assert_int_eq(cmd(&t, 9000, "s", RG_BRK_OP_OPEN, 0, 1, 1000, NULL), 0);
    ck_assert_int_eq(cmd(&t, 500, "u", RG_BRK_OP_PROBE, 1, 1, 1000, NULL), 1);
    rg_fsm_free(t.f);
}
END_TEST

START_TEST(prober_takeover)
{
    struct tb t;

    tb_init(&t);
    ck_assert_int_eq(cmd(&t, 0, "s", RG_BRK_OP_OPEN, 0, 1, 1000, NULL), 1);
    ck_assert_int_eq(cmd(&t, 1000, "s", RG_BRK_OP_PROBE, 1, 2, 1000, NULL), 1);
    expect(&t, "s", RG_BRK_HALF_OPEN, 2, 2);
    /* Node 2 went quiet: node 3 may take over only after recovery_ms. */
    ck_assert_int_eq(cmd(&t, 1999, "s", RG_BRK_OP_PROBE, 2, 3, 1000, NULL), 0);
    ck_assert_int_eq(cmd(&t, 2000, "s", RG_BRK_OP_PROBE, 2, 3, 1000, NULL), 1);
    expect(&t, "s", RG_BRK_HALF_OPEN, 3, 3);
    /* The old prober's late verdict is stale (epoch and node). */
    ck_assert_int_eq(cmd(&t, 2001, "s", RG_BRK_OP_CLOSE, 2, 2, 1000, NULL), 0);
    ck_assert_int_eq(cmd(&t, 2001, "s", RG_BRK_OP_CLOSE, 3, 2, 1000, NULL), 0);
    ck_assert_int_eq(cmd(&t, 2001, "s", RG_BRK_OP_CLOSE, 3, 3, 1000, NULL), 1);
    expect(&t, "s", RG_BRK_CLOSED, 4, 0);
    rg_fsm_free(t.f);
}
END_TEST

/* A fixed script of commands, some stale. */
static void script(struct tb *t)
{
    const char *svc[] = {"x", "y", "zz"};

    for (unsigned i = 0; i < 300; i++) {
        const char *s = svc[i % 3];
        struct rg_fsm_breaker b = {0};
        uint64_t e = 0;
        enum rg_brk_op op = (enum rg_brk_op)(1 + (i * 7) % 4);

        if (rg_fsm_get_breaker(t->f, s, &b) == 0)
            e = b.epoch;
        if (i % 5 == 0 && e > 0)
            e--; /* stale */
        (void)cmd(t, 100 * i, s, op, e, 1 + i % 3, 250, NULL);
        if (op == RG_BRK_OP_PROBE && i % 2 == 0 && b.prober != 0)
            (void)cmd(t, 100 * i, s, RG_BRK_OP_CLOSE, b.epoch, b.prober, 250,
                      NULL);
    }
}

START_TEST(determinism)
{
    struct tb a, b;
    void *sa, *sb;
    size_t la, lb;

    tb_init(&a);
    tb_init(&b);
    script(&a);
    script(&b);
    ck_assert_uint_gt(a.events, 10);
    ck_assert_uint_eq(a.events, b.events);
    ck_assert_int_eq(rg_fsm_snapshot(a.f, &sa, &la), 0);
    ck_assert_int_eq(rg_fsm_snapshot(b.f, &sb, &lb), 0);
    ck_assert_uint_eq(la, lb);
    ck_assert_int_eq(memcmp(sa, sb, la), 0);
    ck_assert_ptr_nonnull(strstr(sa, "\"breakers\""));
    free(sa);
    free(sb);
    rg_fsm_free(a.f);
    rg_fsm_free(b.f);
}
END_TEST

START_TEST(snapshot_round_trip)
{
    struct tb a, b;
    void *sa, *sb;
    size_t la, lb;

    tb_init(&a);
    tb_init(&b);
    ck_assert_int_eq(cmd(&a, 1000, "s", RG_BRK_OP_OPEN, 0, 1, 500, NULL), 1);
    ck_assert_int_eq(cmd(&a, 1500, "s", RG_BRK_OP_PROBE, 1, 2, 500, NULL), 1);
    ck_assert_int_eq(cmd(&a, 1500, "t", RG_BRK_OP_OPEN, 0, 3, 500, NULL), 1);
    ck_assert_int_eq(rg_fsm_snapshot(a.f, &sa, &la), 0);
    ck_assert_int_eq(rg_fsm_restore(b.f, sa, la), 0);
    /* The hook heard every breaker of the restored state. */
    ck_assert_uint_eq(b.events, 2);
    expect(&b, "s", RG_BRK_HALF_OPEN, 2, 2);
    expect(&b, "t", RG_BRK_OPEN, 1, 0);
    ck_assert_int_eq(rg_fsm_snapshot(b.f, &sb, &lb), 0);
    ck_assert_uint_eq(la, lb);
    ck_assert_int_eq(memcmp(sa, sb, la), 0);
    /* And it goes on the same way: time was restored too. */
    ck_assert_int_eq(cmd(&b, 1, "s", RG_BRK_OP_PROBE, 2, 3, 500, NULL), 0);
    ck_assert_int_eq(cmd(&b, 2000, "s", RG_BRK_OP_PROBE, 2, 3, 500, NULL), 1);
    free(sa);
    free(sb);
    rg_fsm_free(a.f);
    rg_fsm_free(b.f);
}
END_TEST

START_TEST(snapshot_without_section)
{
    struct tb a, b;
    void *s;
    size_t l;
    struct rg_fsm_breaker x;
    char *bad;

    tb_init(&a);
    tb_init(&b);
    /* No breaker: no section (older states keep their bytes). */
    ck_assert_int_eq(rg_fsm_snapshot(a.f, &s, &l), 0);
    ck_assert_ptr_null(strstr(s, "breakers"));
    ck_assert_int_eq(cmd(&b, 1, "s", RG_BRK_OP_OPEN, 0, 1, 500, NULL), 1);
    ck_assert_int_eq(rg_fsm_restore(b.f, s, l), 0);
    ck_assert_int_eq(rg_fsm_get_breaker(b.f, "s", &x), -2);
    free(s);
    /* A malformed section is refused and the state kept. */
    ck_assert_int_eq(cmd(&a, 1, "s", RG_BRK_OP_OPEN, 0, 1, 500, NULL), 1);
    ck_assert_int_eq(rg_fsm_snapshot(a.f, &s, &l), 0);
    bad = strstr(s, "[\"s\",1,");
    ck_assert_ptr_nonnull(bad);
    bad[5] = '7'; /* state 7 */
    ck_assert_int_eq(rg_fsm_restore(b.f, s, l), -22);
    free(s);
    rg_fsm_free(a.f);
    rg_fsm_free(b.f);
}
END_TEST

START_TEST(malformed_body_invalid)
{
    struct tb t;
    struct rg_cmd c = {0};
    struct rg_fsm_result r;
    const char *body = "{\"op\":\"explode\",\"epoch\":0,\"node\":1,"
                       "\"recovery_ms\":1}";
    size_t sz;
    void *b;

    tb_init(&t);
    c.type = RG_CMD_BREAKER;
    c.key = "s";
    c.key_len = 1;
    c.body = body;
    c.body_len = (uint32_t)strlen(body);
    sz = rg_codec_size(&c, 1);
    b = malloc(sz);
    ck_assert_int_eq(rg_codec_encode(&c, 1, 1, 1, b, sz), (long)sz);
    ck_assert_uint_eq(rg_fsm_apply(t.f, 1, b, sz, &r), 1);
    ck_assert_int_eq(r.status, RG_FSM_INVALID);
    ck_assert_uint_eq(t.events, 0);
    free(b);
    rg_fsm_free(t.f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fsm_breaker");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int nf;

    tcase_add_test(tc, full_cycle);
    tcase_add_test(tc, stale_epochs_ignored);
    tcase_add_test(tc, time_is_running_max_of_stamps);
    tcase_add_test(tc, prober_takeover);
    tcase_add_test(tc, determinism);
    tcase_add_test(tc, snapshot_round_trip);
    tcase_add_test(tc, snapshot_without_section);
    tcase_add_test(tc, malformed_body_invalid);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
