/* Every plugin raftgate has, in one explicit table (docs/style.md: an X-macro
 * list, not constructor magic). The catalog (config-time schemas) and the
 * ops (runtime) share indexes: catalog type i is ops[i]. Test builds
 * (configure --enable-failpoints) add the test-phases plugins. */
#ifndef RG_PLUGINS_REGISTRY_H
#define RG_PLUGINS_REGISTRY_H

#include <uv.h>

#include "config/gateway.h"
#include "config/schema.h"
#include "http/filter.h"

/* The catalog to parse gateway configs with. Static; thread: any. */
const struct rg_plugin_catalog *rg_plugins_catalog(void);

/* The runtime of each catalog type, indexed like the catalog. Static. */
const struct rg_filter_ops *const *rg_plugins_ops(void);

/* The node serves @gw from now on (each time a generation is published,
 * the first included): node-local plugin state made from the config
 * catches up (jwt's JWK sets, plugins/jwks_watch.h). Control thread, on
 * @loop; no-op once stopped. */
void rg_plugins_serving(uv_loop_t *loop, const struct rg_gateway *gw);

/* The node stops (control thread, once the workers have ended): that
 * state ends; the loop must run afterwards. Idempotent. */
void rg_plugins_stop(void);

#endif
