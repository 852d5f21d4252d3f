/* The plugin table. To add a plugin: write src/plugins/<name>.c defining
 * `const struct rg_filter_ops rg_plugin_<name>`, add it to RG_PLUGINS
 * below, and to Makefile.am. */
#include "plugins/registry.h"

#include "core/failpoint.h"
#include "plugins/jwks_watch.h"

#define RG_PLUGINS(X)                                                          \
    X(acl) X(authorization) X(circuit_breaker) X(cors) X(ip_restriction)    \
        X(jwt) X(key_auth)                                                   \
        X(proxy_cache) X(rate_limiting) X(request_size_limiting)             \
        X(request_transformer) X(request_validator) X(response_transformer)

/* Failpoint builds, and the test binary (tests/raftgate-test, built with
 * -DRG_TEST_PLUGINS=1), have the test plugins. */
#if RG_FAILPOINTS_BUILT || defined(RG_TEST_PLUGINS)
#define TEST_PLUGINS(X) X(test_phases) X(test_phases_b) X(test_phases_c)
#else
#define TEST_PLUGINS(X)
#endif

#define DECLARE(n) extern const struct rg_filter_ops rg_plugin_##n;
RG_PLUGINS(DECLARE)
TEST_PLUGINS(DECLARE)
#undef DECLARE

#define OPS(n) &rg_plugin_##n,
#define SCHEMA(n) &rg_plugin_##n.schema,
static const struct rg_filter_ops *const ops[] = {
    RG_PLUGINS(OPS) TEST_PLUGINS(OPS) NULL,
};
static const struct rg_plugin_schema *const schemas[] = {
    RG_PLUGINS(SCHEMA) TEST_PLUGINS(SCHEMA) NULL,
};
#undef OPS
#undef SCHEMA

static const struct rg_plugin_catalog catalog = {
    .schema = schemas,
    .n = sizeof(schemas) / sizeof(schemas[0]) - 1,
};

const struct rg_plugin_catalog *rg_plugins_catalog(void)
{
    return &catalog;
}

const struct rg_filter_ops *const *rg_plugins_ops(void)
{
    return ops;
}

void rg_plugins_serving(uv_loop_t *loop, const struct rg_gateway *gw)
{
    rg_jwks_watch_sync(loop, gw);
}

void rg_plugins_stop(void)
{
    rg_jwks_watch_stop();
}
