/* Unit tests for control/readiness.c (single-node inputs; the raft and
 * Consul reasons are exercised against the real binary in
 * tests/integration/test_health.py): the bits, their names, and the
 * bodies and statuses of /health and /ready. */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "control/readiness.h"

static char buf[256];
static int status;

START_TEST(bits_and_names)
{
    struct rg_readiness r = {0};
    json_t *l;
    char *s;

    ck_assert_uint_eq(rg_degraded(NULL), 0);
    ck_assert_uint_eq(rg_degraded(&r), 0);
    r.lastgood = 1;
    ck_assert_uint_eq(rg_degraded(&r), RG_DEGRADED_LAST_CONFIG);
    r.lastgood = 0;
    r.refused = 1;
    ck_assert_uint_eq(rg_degraded(&r), RG_DEGRADED_LAST_CONFIG);
    ck_assert_str_eq(rg_degraded_name(RG_DEGRADED_NO_LEADER), "no_leader");
    ck_assert_str_eq(rg_degraded_name(RG_DEGRADED_LAST_CONFIG), "last_config");
    ck_assert_str_eq(rg_degraded_name(RG_DEGRADED_CONSUL), "consul");
    ck_assert_ptr_null(rg_degraded_name(RG_DEGRADED_ALL));
    ck_assert_ptr_null(rg_degraded_name(0));
    l = rg_degraded_json(RG_DEGRADED_ALL);
    s = json_dumps(l, JSON_COMPACT);
    ck_assert_str_eq(s, "[\"no_leader\",\"last_config\",\"consul\"]");
    free(s);
    json_decref(l);
}
END_TEST

typedef size_t (*probe_fn)(const struct rg_readiness *, char *, size_t, int *);

/* @fn answers @want_status with body @want (a line). */
static void expect(probe_fn fn, const struct rg_readiness *r, int want_status,
                   const char *want)
{
    size_t n = fn(r, buf, sizeof(buf), &status);

    ck_assert_int_eq(status, want_status);
    ck_assert_str_eq(buf, want);
    ck_assert_uint_eq(n, strlen(buf));
}

START_TEST(bodies)
{
    static const char ok[] = "{\"status\":\"ok\",\"reasons\":[]}\n";
    static const char deg[] =
        "{\"status\":\"degraded\",\"reasons\":[\"last_config\"]}\n";
    static const char drain[] =
        "{\"status\":\"draining\",\"reasons\":[\"last_config\"]}\n";
    struct rg_readiness r = {.ready_when_degraded = 1};

    expect(rg_readiness_health, &r, 200, ok);
    expect(rg_readiness_ready, &r, 200, ok);
    r.refused = 1;
    expect(rg_readiness_health, &r, 200, deg);
    expect(rg_readiness_ready, &r, 200, deg);
    r.ready_when_degraded = 0;
    expect(rg_readiness_ready, &r, 503, deg);
    expect(rg_readiness_health, &r, 200, deg);
    r.draining = 1;
    expect(rg_readiness_ready, &r, 503, drain);
    expect(rg_readiness_health, &r, 200, deg);
}
END_TEST

/* A short buffer: truncated, never overrun, length within it. */
START_TEST(short_buffer)
{
    struct rg_readiness r = {.refused = 1};
    char small[20];
    size_t n = rg_readiness_health(&r, small, sizeof(small), &status);

    ck_assert_uint_lt(n, sizeof(small));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("readiness");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int nf;

    tcase_add_test(tc, bits_and_names);
    tcase_add_test(tc, bodies);
    tcase_add_test(tc, short_buffer);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
