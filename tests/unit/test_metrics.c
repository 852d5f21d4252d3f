/* Unit tests for http/metrics.c and control/prom.c: a worker's table
 * keeps each label set apart and refuses (counting it) past its room; the
 * label slots are names, stable across generations and bounded; a scrape
 * sums the workers' blocks. A lost or merged count here is a wrong graph
 * in production. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "config/gateway.h"
#include "control/prom.h"
#include "core/alloc.h"
#include "event/worker.h"
#include "http/metrics.h"

static uint64_t get(const struct rg_met_table *t, uint32_t key)
{
    for (unsigned i = 0; i < t->cap; i++)
        if (atomic_load(&t->keys[i]) == key)
            return atomic_load(&t->vals[(size_t)i * t->width]);
    return 0;
}

/* Distinct keys count apart; the same key adds up. */
START_TEST(keys_count_apart)
{
    struct rg_wmet *m = rg_wmet_new();
    uint32_t a = RG_MET_KEY(1, 1, 0, 200), b = RG_MET_KEY(1, 1, 0, 404);

    ck_assert_ptr_nonnull(m);
    for (int i = 0; i < 3; i++)
        atomic_fetch_add(rg_met__slot(&m->req, a), 1);
    atomic_fetch_add(rg_met__slot(&m->req, b), 1);
    ck_assert_uint_eq(get(&m->req, a), 3);
    ck_assert_uint_eq(get(&m->req, b), 1);
    ck_assert_uint_eq(RG_MET_KEY_STATUS(b), 404);
    ck_assert_uint_eq(RG_MET_KEY_ROUTE(b), 1);
    ck_assert_uint_eq(atomic_load(&m->req.full), 0);
    rg_wmet_free(m);
}
END_TEST

/* A full table refuses a new key (counted in full) and still counts the
 * keys it holds. */
START_TEST(full_table_refuses_new_keys)
{
    struct rg_wmet *m = rg_wmet_new();
    struct rg_met_table *t = &m->ups;

    for (unsigned i = 0; i < t->cap; i++)
        ck_assert_ptr_nonnull(
            rg_met__slot(t, RG_MET_KEY(0, i % 256, 0, i / 256 + 1)));
    ck_assert_ptr_null(rg_met__slot(t, RG_MET_KEY(0, 0, 0, 999)));
    ck_assert_uint_eq(atomic_load(&t->full), 1);
    ck_assert_ptr_nonnull(rg_met__slot(t, RG_MET_KEY(0, 5, 0, 1)));
    rg_wmet_free(m);
}
END_TEST

/* A route keeps its slot when another generation lists it elsewhere; an
 * unnamed one is "#index"; the table ends in "_other". */
START_TEST(slots_are_names)
{
    struct rg_route ro[2] = {{.name = "alpha"}, {.name = NULL}};
    struct rg_route ro2[1] = {{.name = "alpha"}};
    struct rg_service sv[1] = {{.name = NULL, .id = "id-1"}};
    struct rg_gateway gw = {
        .routes = ro, .n_routes = 2, .services = sv, .n_services = 1};
    struct rg_gateway gw2 = {.routes = ro2, .n_routes = 1};
    uint8_t *r1, *s1, *r2, *s2;
    char name[32];

    ck_assert_int_eq(rg_met_gen_slots(&gw, &r1, &s1), 0);
    ck_assert_int_eq(rg_met_gen_slots(&gw2, &r2, &s2), 0);
    ck_assert_uint_eq(r1[0], r2[0]);
    ck_assert_str_eq(rg_met_slot_name(RG_MET_ROUTE, r1[0]), "alpha");
    ck_assert_str_eq(rg_met_slot_name(RG_MET_ROUTE, r1[1]), "#1");
    ck_assert_str_eq(rg_met_slot_name(RG_MET_SERVICE, s1[0]), "id-1");
    ck_assert_str_eq(rg_met_slot_name(RG_MET_ROUTE, 0), "");
    rg_free(r1);
    rg_free(s1);
    rg_free(r2);
    rg_free(s2);
    /* Past the table's room every new name is _other. */
    for (int i = 0; i < RG_MET_NAMES; i++) {
        struct rg_route one = {.name = name};

        gw2.routes = &one;
        snprintf(name, sizeof(name), "r%d", i);
        ck_assert_int_eq(rg_met_gen_slots(&gw2, &r2, &s2), 0);
        if (i == RG_MET_NAMES - 1)
            ck_assert_str_eq(rg_met_slot_name(RG_MET_ROUTE, r2[0]), "_other");
        rg_free(r2);
        rg_free(s2);
    }
}
END_TEST

/* Whether the scrape of @n workers @w holds @line (NUL-free). */
static int scrape_has(struct rg_worker *w, unsigned n, const char *line)
{
    struct rg_prom_src src = {.workers = w, .n_workers = n};
    struct rg_buf b;
    int found;

    rg_buf_init(&b, 1u << 20);
    ck_assert_int_eq(rg_prom_render(&src, &b), 0);
    ck_assert_int_eq(rg_buf_add(&b, "", 1), 0);
    found = strstr(b.p, line) != NULL;
    rg_buf_release(&b);
    return found;
}

/* A scrape sums the workers: 2 + 3 on two workers is one series of 5. */
START_TEST(scrape_sums_workers)
{
    struct rg_worker *w = rg_calloc(2, sizeof(*w));
    uint32_t k = RG_MET_KEY(0, 0, 0, 200);

    for (int i = 0; i < 2; i++) {
        w[i].x.met = rg_wmet_new();
        atomic_fetch_add(rg_met__slot(&w[i].x.met->req, k), 2 + i);
        atomic_fetch_add(&w[i].x.met->rl[RG_MET_RL_CLUSTER], 1);
    }
    ck_assert(scrape_has(w, 2,
                         "gateway_requests_total{method=\"GET\",route=\"\","
                         "service=\"\",status=\"200\"} 5\n"));
    ck_assert(scrape_has(
        w, 2, "gateway_rate_limit_hits_total{limiter_type=\"cluster\"} 2\n"));
    for (int i = 0; i < 2; i++)
        rg_wmet_free(w[i].x.met);
    rg_free(w);
}
END_TEST

/* Label values are escaped as the text format wants: a backslash, a
 * double quote and a newline in a name do not end the value. */
START_TEST(label_values_escaped)
{
    struct rg_worker *w = rg_calloc(1, sizeof(*w));
    struct rg_route ro = {.name = "a\"b\\c\nd"};
    struct rg_gateway gw = {.routes = &ro, .n_routes = 1};
    uint8_t *rs, *ss;

    ck_assert_int_eq(rg_met_gen_slots(&gw, &rs, &ss), 0);
    w->x.met = rg_wmet_new();
    atomic_fetch_add(rg_met__slot(&w->x.met->req, RG_MET_KEY(rs[0], 0, 2, 201)),
                     1);
    ck_assert(scrape_has(w, 1,
                         "{method=\"POST\",route=\"a\\\"b\\\\c\\nd\","
                         "service=\"\",status=\"201\"} 1\n"));
    rg_free(rs);
    rg_free(ss);
    rg_wmet_free(w->x.met);
    rg_free(w);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    SRunner *sr;
    int nf;

    tcase_add_test(tc, keys_count_apart);
    tcase_add_test(tc, full_table_refuses_new_keys);
    tcase_add_test(tc, slots_are_names);
    tcase_add_test(tc, scrape_sums_workers);
    tcase_add_test(tc, label_values_escaped);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? 0 : 1;
}
