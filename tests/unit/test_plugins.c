/* Unit tests for plugins in the declarative format (config/gw_plugins.c,
 * gw_consumers.c) and the phase engine's chain compilation
 * (http/filter.c): Kong's precedence between scopes, priority order,
 * `ordering`, disabled instances, and the empty chain. The catalog here is
 * the test's own, so the tests do not depend on which plugins a build
 * has. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/gateway.h"
#include "config/yamltree.h"
#include "core/alloc.h"
#include "http/filter.h"

/* ---- a test catalog: alpha (priority 900), beta (800), gamma (700,
 * not on consumers). Config: {minute: positive integer} ---- */

struct conf {
    long long minute;
};

static int k_minute(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_int(t, v, 1, 1000000, &((struct conf *)ctx)->minute);
}

static const struct rg_yt_key keys[] = {
    {"minute", k_minute},
    {NULL, NULL},
};

static int conf_parse(struct rg_yt *t, yaml_node_t *config, void **out)
{
    struct conf *c = rg_calloc(1, sizeof(*c));
    int rv = 0;

    *out = NULL;
    if (c == NULL)
        return rg_yt_nomem(t);
    if (config != NULL)
        rv = rg_yt_map(t, config, keys, c);
    if (rv < 0) {
        rg_free(c);
        return rv;
    }
    *out = c;
    return 0;
}

static enum rg_filter_status noop(const struct rg_filter_call *fc)
{
    (void)fc;
    return RG_FILTER_CONTINUE;
}

#define OPS(sym, nm, prio, nc)                                                 \
    static const struct rg_filter_ops sym = {                                  \
        .schema = {.name = nm,                                                 \
                   .conf_parse = conf_parse,                                   \
                   .conf_free = rg_free,                                       \
                   .protocols = RG_PROTO_HTTP | RG_PROTO_HTTPS,                \
                   .no_consumer = nc},                                         \
        .priority = prio,                                                      \
        .on_access = noop,                                                     \
        .on_header = noop,                                                     \
    }

OPS(alpha, "alpha", 900, 0);
OPS(beta, "beta", 800, 0);
OPS(gam, "gamma", 700, 1);

static const struct rg_filter_ops *const ops[] = {&alpha, &beta, &gam};
static const struct rg_plugin_schema *const schemas[] = {
    &alpha.schema, &beta.schema, &gam.schema};
static const struct rg_plugin_catalog cat = {schemas, 3};

#define HDR "_format_version: \"3.0\"\n"
#define SVC                                                                    \
    HDR "services:\n"                                                          \
        "- name: s\n"                                                          \
        "  url: http://10.0.0.1\n"                                             \
        "  routes:\n"                                                          \
        "  - name: r\n"                                                        \
        "    paths: [/r]\n"                                                    \
        "  - name: r2\n"                                                       \
        "    paths: [/r2]\n"                                                   \
        "consumers:\n"                                                         \
        "- username: u\n"                                                      \
        "- username: v\n"                                                      \
        "  custom_id: cv\n"

static int parse(struct rg_gateway *gw, const char *yaml, struct rg_errbuf *eb)
{
    return rg_gateway_parse(gw, yaml, strlen(yaml), &cat, eb);
}

static void must_parse(struct rg_gateway *gw, const char *yaml)
{
    struct rg_errbuf eb = {{0}};

    ck_assert_msg(parse(gw, yaml, &eb) == 0, "%s", eb.msg);
}

static long long minute_of(const struct rg_plugin_inst *p)
{
    return ((const struct conf *)p->conf)->minute;
}

/* ---- parsing ---- */

START_TEST(plugins_everywhere)
{
    struct rg_gateway gw;
    const struct rg_plugin_inst *p;

    must_parse(&gw, SVC
               "  plugins:\n"
               "  - name: beta\n"
               "    config: {minute: 4}\n"
               "plugins:\n"
               "- name: alpha\n"
               "  config: {minute: 1}\n"
               "- name: alpha\n"
               "  service: s\n"
               "  route: {name: r}\n"
               "  consumer: {username: u}\n"
               "  instance_name: a-sru\n"
               "  id: 6F1C2B3A-0000-4000-8000-000000000001\n"
               "  enabled: false\n"
               "  protocols: [https]\n"
               "  tags: [x]\n"
               "  ordering: {before: {access: [beta]}}\n"
               "- name: gamma\n");
    /* Nested lists come first: the consumer's, then the top level. */
    ck_assert_uint_eq(gw.n_consumers, 2);
    ck_assert_str_eq(gw.consumers[1].custom_id, "cv");
    ck_assert_uint_eq(gw.n_plugins, 4);
    p = &gw.plugins[0];
    ck_assert_uint_eq(p->type, 1);
    ck_assert_uint_eq(p->consumer, 1);
    ck_assert_uint_eq(p->service, RG_NO_INDEX);
    ck_assert_int_eq(minute_of(p), 4);
    p = &gw.plugins[1];
    ck_assert_uint_eq(p->type, 0);
    ck_assert_uint_eq(p->service, RG_NO_INDEX);
    ck_assert_uint_eq(p->route, RG_NO_INDEX);
    ck_assert_int_eq(p->enabled, 1);
    ck_assert_uint_eq(p->protocols, RG_PROTO_HTTP | RG_PROTO_HTTPS);
    p = &gw.plugins[2];
    ck_assert_uint_eq(p->service, 0);
    ck_assert_uint_eq(p->route, 0);
    ck_assert_uint_eq(p->consumer, 0);
    ck_assert_int_eq(p->enabled, 0);
    ck_assert_uint_eq(p->protocols, RG_PROTO_HTTPS);
    ck_assert_str_eq(p->id, "6f1c2b3a-0000-4000-8000-000000000001");
    ck_assert_str_eq(p->instance_name, "a-sru");
    ck_assert_uint_eq(p->ordering.n_before, 1);
    ck_assert_uint_eq(p->ordering.before[0], 1);
    ck_assert_int_eq(minute_of(p), 0);
    rg_gateway_release(&gw);
}
END_TEST

START_TEST(nested_scopes)
{
    struct rg_gateway gw;

    must_parse(&gw, HDR
               "services:\n"
               "- name: s\n"
               "  url: http://h\n"
               "  plugins: [{name: alpha}]\n"
               "  routes:\n"
               "  - paths: [/]\n"
               "    plugins: [{name: alpha}, {name: beta}]\n");
    ck_assert_uint_eq(gw.n_plugins, 3);
    ck_assert_uint_eq(gw.plugins[0].service, 0);
    ck_assert_uint_eq(gw.plugins[0].route, RG_NO_INDEX);
    ck_assert_uint_eq(gw.plugins[1].service, RG_NO_INDEX);
    ck_assert_uint_eq(gw.plugins[1].route, 0);
    rg_gateway_release(&gw);
}
END_TEST

static const struct {
    const char *yaml;
    const char *msg;
} bad[] = {
    /* 0 */
    {HDR "plugins:\n- name: delta\n",
     "plugins[0].name: unknown plugin \"delta\" (line 3)"},
    /* 1: config through the schema, with its path */
    {SVC "plugins:\n- name: alpha\n  config:\n    minute: 0\n",
     "plugins[0].config.minute: must be an integer in 1..1000000 (line 17)"},
    {SVC "  plugins:\n  - name: beta\n    config: {hour: 1}\n",
     "consumers[1].plugins[0].config.hour: unknown key (line 16)"},
    {HDR "services:\n- url: http://h\n  plugins:\n  - name: alpha\n"
         "    config: [1]\n",
     "services[0].plugins[0].config: must be a mapping (line 6)"},
    /* 4 */
    {HDR "plugins:\n- config: {}\n", "plugins[0]: needs a name (line 3)"},
    {HDR "plugins:\n- name: alpha\n- name: alpha\n",
     "plugins[1]: a \"alpha\" plugin is already configured for this "
     "service/route/consumer combination (line 4)"},
    {SVC "plugins:\n- {name: beta, route: r}\n- {name: beta, route: r2}\n"
         "- {name: beta, route: r, consumer: u}\n- {name: beta, route: r}\n",
     "plugins[3]: a \"beta\" plugin is already configured for this "
     "service/route/consumer combination (line 18)"},
    {SVC "plugins:\n- {name: alpha, instance_name: x}\n"
         "- {name: beta, instance_name: x}\n",
     "plugins[1].instance_name: duplicate plugin instance_name \"x\" "
     "(line 16)"},
    /* 8: references */
    {SVC "plugins:\n- {name: alpha, service: nope}\n",
     "plugins[0].service: no service with name or id \"nope\" (line 15)"},
    {SVC "plugins:\n- {name: alpha, consumer: {username: w}}\n",
     "plugins[0].consumer: no consumer with username \"w\" (line 15)"},
    {SVC "plugins:\n- {name: alpha, route: {id: "
         "00000000-0000-4000-8000-000000000000}}\n",
     "plugins[0].route: no route with id "
     "\"00000000-0000-4000-8000-000000000000\" (line 15)"},
    {HDR "services:\n- url: http://h\n  plugins:\n  - {name: alpha, "
         "service: x}\n",
     "services[0].plugins[0].service: not allowed in a nested plugin (the "
     "nesting sets it) (line 5)"},
    /* 12: scopes a schema forbids */
    {SVC "plugins:\n- {name: gamma, consumer: u}\n",
     "plugins[0]: plugin \"gamma\" cannot be scoped to a consumer (line 15)"},
    /* 13: Kong fields */
    {HDR "plugins:\n- {name: alpha, protocols: [tcp]}\n",
     "plugins[0].protocols[0]: must be one of http, https, grpc, grpcs "
     "(line 3)"},
    {HDR "plugins:\n- {name: alpha, protocols: []}\n",
     "plugins[0].protocols: must not be empty (line 3)"},
    {HDR "plugins:\n- {name: alpha, enabled: 3}\n",
     "plugins[0].enabled: must be a boolean (line 3)"},
    {HDR "plugins:\n- {name: alpha, ordering: {before: {rewrite: [beta]}}}\n",
     "plugins[0].ordering.before.rewrite: unknown phase (only \"access\" is "
     "ordered) (line 3)"},
    {HDR "plugins:\n- {name: alpha, ordering: {after: {access: [zeta]}}}\n",
     "plugins[0].ordering.after.access[0]: unknown plugin \"zeta\" (line 3)"},
    {HDR "plugins:\n- {name: alpha, id: 12}\n",
     "plugins[0].id: must be a UUID (line 3)"},
    {HDR "plugins:\n- {name: alpha, colour: red}\n",
     "plugins[0].colour: unknown key (line 3)"},
    /* 20: consumers */
    {HDR "consumers:\n- username: u\n- username: u\n",
     "consumers[1].username: duplicate consumer username \"u\" (line 4)"},
    {HDR "consumers:\n- {username: u, custom_id: c}\n- custom_id: c\n",
     "consumers[1].custom_id: duplicate consumer custom_id \"c\" (line 4)"},
    {HDR "consumers:\n- username: u\n  basicauth_credentials: [{username: k}]\n",
     "consumers[0].basicauth_credentials: not supported yet (line 4)"},
    {HDR "consumers:\n- username: u\n  jwt_secrets: [{key: k}]\n",
     "consumers[0].jwt_secrets[0]: needs a secret for HS256 (line 4)"},
};

START_TEST(plugin_errors)
{
    struct rg_gateway gw;
    struct rg_errbuf eb = {{0}};

    ck_assert_int_eq(parse(&gw, bad[_i].yaml, &eb), -EINVAL);
    ck_assert_str_eq(eb.msg, bad[_i].msg);
    ck_assert_uint_eq(gw.n_plugins, 0);
    ck_assert_ptr_null(gw.plugins);
}
END_TEST

/* Every allocation of a file with plugins, consumers and refs may fail:
 * -ENOMEM, nothing leaked (ASan), the gateway zeroed. */
START_TEST(plugin_alloc_failures)
{
    const char *yaml = SVC "  plugins: [{name: beta, config: {minute: 2}}]\n"
                           "plugins:\n"
                           "- {name: alpha, route: r, instance_name: i,\n"
                           "   ordering: {after: {access: [beta]}}}\n";
    int done = 0;

    for (long n = 1; !done && n < 2000; n++) {
        struct rg_gateway gw;
        struct rg_errbuf eb = {{0}};
        int rv;

        rg_alloc_fail_after(n);
        rv = parse(&gw, yaml, &eb);
        rg_alloc_fail_after(0);
        if (rv == 0) {
            done = 1;
            rg_gateway_release(&gw);
        } else {
            ck_assert_int_eq(rv, -ENOMEM);
            ck_assert_uint_eq(gw.n_plugins, 0);
        }
    }
    ck_assert(done);
}
END_TEST

/* ---- chains ---- */

/* A gateway built directly: service 0 with routes 0 and 1, consumers 0
 * and 1, and the plugin instances given. */
static struct rg_route routes[2] = {{.service = 0}, {.service = 0}};
static struct rg_service services[1];
static struct rg_consumer consumers[2];

static struct rg_gateway typed(struct rg_plugin_inst *p, size_t n)
{
    struct rg_gateway gw = {0};

    gw.services = services;
    gw.n_services = 1;
    gw.routes = routes;
    gw.n_routes = 2;
    gw.consumers = consumers;
    gw.n_consumers = 2;
    gw.plugins = p;
    gw.n_plugins = n;
    gw.catalog = &cat;
    for (size_t i = 0; i < n; i++) {
        p[i].enabled = 1;
        p[i].protocols = RG_PROTO_HTTP;
    }
    return gw;
}

#define N RG_NO_INDEX
#define INST(t, s, r, c) {.type = t, .service = s, .route = r, .consumer = c}

/* Kong's precedence: for each pair, the instance listed first wins over
 * every instance listed after it, for route 0 and consumer 0. */
START_TEST(precedence)
{
    struct rg_plugin_inst order[] = {
        INST(0, 0, 0, 0), /* consumer + route + service */
        INST(0, N, 0, 0), /* consumer + route */
        INST(0, 0, N, 0), /* consumer + service */
        INST(0, 0, 0, N), /* route + service */
        INST(0, N, N, 0), /* consumer */
        INST(0, N, 0, N), /* route */
        INST(0, 0, N, N), /* service */
        INST(0, N, N, N), /* global */
    };
    size_t n = sizeof(order) / sizeof(order[0]);

    for (size_t win = 0; win < n; win++) {
        /* The instances from @win on, in reverse file order, so file
         * order cannot be what decides. */
        struct rg_plugin_inst p[8];
        struct rg_gateway gw;
        struct rg_chain *c;
        const struct rg_plugin_inst *got;
        size_t k = 0;

        for (size_t i = n; i-- > win;)
            p[k++] = order[i];
        gw = typed(p, k);
        ck_assert_int_eq(rg_chain_build(&gw, ops, 0, &c), 0);
        ck_assert_uint_eq(rg_chain_len(c), 1);
        got = rg_chain_inst(c, 0, 0);
        ck_assert_msg(got == &p[k - 1], "rank %zu: got instance %td", win,
                      got - p);
        /* Without a consumer only the consumer-free ranks (3, 5, 6, 7)
         * count: the first of them from @win on wins. */
        for (size_t j = win; j < n; j++) {
            if (order[j].consumer == N) {
                ck_assert_ptr_eq(rg_chain_inst(c, 0, N), &p[k - 1 - (j - win)]);
                break;
            }
        }
        got = rg_chain_inst(c, 0, N);
        /* Consumer 1 has no instance of its own: same as none. */
        ck_assert_ptr_eq(rg_chain_inst(c, 0, 1), got);
        rg_chain_free(c);
    }
}
END_TEST

START_TEST(scoping)
{
    struct rg_plugin_inst p[] = {
        INST(0, N, 1, N), /* route 1 only */
        INST(1, 0, N, N), /* the service */
        INST(2, N, N, N), /* global */
        INST(0, N, N, 1), /* consumer 1 anywhere */
    };
    struct rg_gateway gw = typed(p, 4);
    struct rg_chain *c0, *c1, *g;

    p[2].enabled = 1;
    ck_assert_int_eq(rg_chain_build(&gw, ops, 0, &c0), 0);
    ck_assert_int_eq(rg_chain_build(&gw, ops, 1, &c1), 0);
    ck_assert_int_eq(rg_chain_build(&gw, ops, N, &g), 0);
    /* Route 0: alpha (consumer 1 only), beta, gamma, by priority. */
    ck_assert_uint_eq(rg_chain_len(c0), 3);
    ck_assert_ptr_eq(rg_chain_ops(c0, 0), &alpha);
    ck_assert_ptr_eq(rg_chain_ops(c0, 1), &beta);
    ck_assert_ptr_eq(rg_chain_ops(c0, 2), &gam);
    ck_assert_ptr_null(rg_chain_inst(c0, 0, N));
    ck_assert_ptr_eq(rg_chain_inst(c0, 0, 1), &p[3]);
    /* Route 1: consumer 1's alpha beats the route's (consumer > route),
     * other requests get the route's. */
    ck_assert_ptr_eq(rg_chain_inst(c1, 0, 1), &p[3]);
    ck_assert_ptr_eq(rg_chain_inst(c1, 0, N), &p[0]);
    /* The global chain: only global and consumer-only instances. */
    ck_assert_uint_eq(rg_chain_len(g), 2);
    ck_assert_ptr_eq(rg_chain_ops(g, 1), &gam);
    rg_chain_free(c0);
    rg_chain_free(c1);
    rg_chain_free(g);
}
END_TEST

START_TEST(empty_and_disabled)
{
    struct rg_plugin_inst p[] = {INST(0, N, 1, N)};
    struct rg_gateway gw = typed(p, 1);
    struct rg_chain *c = (struct rg_chain *)1;

    ck_assert_int_eq(rg_chain_build(&gw, ops, 0, &c), 0);
    ck_assert_ptr_null(c); /* nothing applies to route 0 */
    ck_assert_uint_eq(rg_chain_len(c), 0);
    ck_assert_uint_eq(rg_chain_flags(c), 0);
    p[0].enabled = 0;
    ck_assert_int_eq(rg_chain_build(&gw, ops, 1, &c), 0);
    ck_assert_ptr_null(c);
    rg_chain_free(NULL);
}
END_TEST

/* ordering: gam before alpha in ACCESS only; the other phases keep
 * priority order. */
START_TEST(dynamic_ordering)
{
    unsigned before_alpha[] = {0};
    struct rg_plugin_inst p[] = {INST(0, N, N, N), INST(1, N, N, N),
                                 INST(2, N, N, N)};
    struct rg_gateway gw = typed(p, 3);
    struct rg_chain *c;
    size_t order[3];

    p[2].ordering.before = before_alpha;
    p[2].ordering.n_before = 1;
    ck_assert_int_eq(rg_chain_build(&gw, ops, 0, &c), 0);
    ck_assert_uint_eq(rg_chain_phase_order(c, RG_PHASE_ACCESS, order, 3), 3);
    ck_assert_ptr_eq(rg_chain_ops(c, order[0]), &gam);
    ck_assert_ptr_eq(rg_chain_ops(c, order[1]), &alpha);
    ck_assert_ptr_eq(rg_chain_ops(c, order[2]), &beta);
    ck_assert_uint_eq(rg_chain_phase_order(c, RG_PHASE_HEADER, order, 3), 3);
    ck_assert_ptr_eq(rg_chain_ops(c, order[0]), &alpha);
    ck_assert_ptr_eq(rg_chain_ops(c, order[2]), &gam);
    /* No plugin has a log callback: the phase is empty. */
    ck_assert_uint_eq(rg_chain_phase_order(c, RG_PHASE_LOG, order, 3), 0);
    rg_chain_free(c);
}
END_TEST

/* A parsed file compiles: the nested route plugin and the global one. */
START_TEST(parsed_chain)
{
    struct rg_gateway gw;
    struct rg_chain *c;

    must_parse(&gw, SVC "plugins:\n- {name: beta, route: r2}\n"
                        "- {name: alpha}\n");
    ck_assert_int_eq(rg_chain_build(&gw, ops, 1, &c), 0);
    ck_assert_uint_eq(rg_chain_len(c), 2);
    ck_assert_ptr_eq(rg_chain_inst(c, 1, N), &gw.plugins[0]);
    rg_chain_free(c);
    ck_assert_int_eq(rg_chain_build(&gw, ops, 0, &c), 0);
    ck_assert_uint_eq(rg_chain_len(c), 1);
    rg_chain_free(c);
    rg_gateway_release(&gw);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("plugins");
    TCase *cfg = tcase_create("config");
    TCase *ch = tcase_create("chain");
    SRunner *sr;
    int failed;

    tcase_add_test(cfg, plugins_everywhere);
    tcase_add_test(cfg, nested_scopes);
    tcase_add_loop_test(cfg, plugin_errors, 0, sizeof(bad) / sizeof(bad[0]));
    tcase_add_test(cfg, plugin_alloc_failures);
    tcase_add_test(ch, precedence);
    tcase_add_test(ch, scoping);
    tcase_add_test(ch, empty_and_disabled);
    tcase_add_test(ch, dynamic_ordering);
    tcase_add_test(ch, parsed_chain);
    suite_add_tcase(s, cfg);
    suite_add_tcase(s, ch);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
