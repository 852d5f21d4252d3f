/* What the config layer knows of a plugin type: its name and how to read
 * its `config` mapping into a typed, immutable structure. The schemas are
 * not listed here: the config layer is below the plugins (docs/architecture.md §2),
 * so whoever parses a gateway config hands it a catalog (main.c uses
 * src/plugins/registry.h; unit tests build their own). Every load path
 * (raftgate -t, start, SIGHUP, POST /config, single-object admin writes,
 * the replicated store's validator) parses plugin configs through the same
 * catalog, so a file one path accepts, every path accepts. */
#ifndef RG_CONFIG_SCHEMA_H
#define RG_CONFIG_SCHEMA_H

#include <stddef.h>

#include <yaml.h>

struct rg_yt;

/* Kong's `protocols` values, as bits of rg_plugin_inst.protocols. */
enum {
    RG_PROTO_HTTP = 1 << 0,
    RG_PROTO_HTTPS = 1 << 1,
    RG_PROTO_GRPC = 1 << 2,
    RG_PROTO_GRPCS = 1 << 3,
};

struct rg_plugin_schema {
    const char *name; /* Kong's plugin name, e.g. "rate-limiting" */
    /* Read @config (a mapping node, or NULL when the plugin has no
     * `config` or it is null: all defaults) into a new typed conf in
     * *@conf. Errors go through rg_yt_err, whose path already names the
     * `config` key, so a message reads
     * `services[0].plugins[1].config.minute: must be an integer in 1..`.
     * Returns 0 or a negative error; on error *@conf is left NULL.
     * Deterministic: no clock, no DNS, no file (docs/architecture.md §4: the store's
     * validator runs it on every replica). Thread: any. */
    int (*conf_parse)(struct rg_yt *t, yaml_node_t *config, void **conf);
    /* Free what conf_parse made; accepts NULL. */
    void (*conf_free)(void *conf);
    unsigned protocols;  /* default `protocols` (RG_PROTO_* bits) */
    unsigned no_consumer : 1; /* may not be scoped to a consumer (Kong's
                                 authentication plugins) */
    unsigned no_route : 1;    /* may not be scoped to a route */
    unsigned no_service : 1;  /* may not be scoped to a service */
};

/* The plugin types a parser accepts. @schema[i] is type i; names are
 * unique. Borrowed by every gateway config parsed with it, so it must
 * outlive them (the registry's is static). */
struct rg_plugin_catalog {
    const struct rg_plugin_schema *const *schema;
    size_t n;
};

/* The type index of plugin @name (@len bytes) in @cat, or -1. */
int rg_plugin_catalog_find(const struct rg_plugin_catalog *cat,
                           const char *name, size_t len);

#endif
