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

START_TEST(bodies)
{
    struct rg_readiness r = {.ready_when_degraded = 1};
    size_t n;

    n = rg_readiness_health(&r, buf, sizeof(buf), &status);
    ck_assert_int_eq(status, 200);
    ck_assert_str_eq(buf, "{\"status\":\"ok\",\"reasons\":[]}\n");
    ck_assert_uint_eq(n, strlen(buf));
    rg_readiness_ready(&r, buf, sizeof(buf), &status);
    ck_assert_int_eq(status, 200);
    ck_assert_str_eq(buf, "{\"status\":\"ok\",\"reasons\":[]}\n");
    r.refused = 1;
    rg_readiness_health(&r, buf, sizeof(buf), &status);
    ck_assert_int_eq(status, 200);
    ck_assert_str_eq(
        buf, "{\"status\":\"degraded\",\"reasons\":[\"last_config\"]}\n");
    rg_readiness_ready(&r, buf, sizeof(buf), &status);
    ck_assert_int_eq(status, 200);
    r.ready_when_degraded = 0;
    rg_readiness_ready(&r, buf, sizeof(buf), &status);
    ck_assert_int_eq(status, 503);
    ck_assert_str_eq(
        buf, "{\"status\":\"degraded\",\"reasons\":[\"last_config\"]}\n");
    r.draining = 1;
    rg_readiness_ready(&r, buf, sizeof(buf), &status);
    ck_assert_int_eq(status, 503);
    ck_assert_str_eq(
        buf, "{\"status\":\"draining\",\"reasons\":[\"last_config\"]}\n");
    rg_readiness_health(&r, buf, sizeof(buf), &status);
    ck_assert_int_eq(status, 200);
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
