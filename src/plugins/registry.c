/* The plugin table. To add a plugin: write src/plugins/<name>.c defining
 * `const struct rg_filter_ops rg_plugin_<name>`, add it to RG_PLUGINS
 * below, and to Makefile.am. */
#include "plugins/registry.h"

#include "core/failpoint.h"

#define RG_PLUGINS(X)

#if RG_FAILPOINTS_BUILT
#define RG_TEST_PLUGINS(X) X(test_phases) X(test_phases_b) X(test_phases_c)
#else
#define RG_TEST_PLUGINS(X)
#endif

#define DECLARE(n) extern const struct rg_filter_ops rg_plugin_##n;
RG_PLUGINS(DECLARE)
RG_TEST_PLUGINS(DECLARE)
#undef DECLARE

#define OPS(n) &rg_plugin_##n,
#define SCHEMA(n) &rg_plugin_##n.schema,
static const struct rg_filter_ops *const ops[] = {
    RG_PLUGINS(OPS) RG_TEST_PLUGINS(OPS) NULL,
};
static const struct rg_plugin_schema *const schemas[] = {
    RG_PLUGINS(SCHEMA) RG_TEST_PLUGINS(SCHEMA) NULL,
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
