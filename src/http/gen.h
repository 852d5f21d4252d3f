/* A config generation: everything the data plane reads per request, built
 * on the control thread, immutable once published, shared by all workers
 * and freed by the last reference (docs/architecture.md §1). A request holds a
 * reference to the generation it started with until it ends. */
#ifndef RG_HTTP_GEN_H
#define RG_HTTP_GEN_H

#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/gateway.h"
#include "config/node.h"
#include "core/errbuf.h"
#include "route/router.h"
#include "upstream/consul.h"
#include "upstream/balancer.h"
#include "upstream/health.h"
#include "upstream/pool.h"
#include "upstream/resolver.h"

/* One address of a service's host, or of an upstream's target. */
struct rg_upstream_addr {
    struct sockaddr_storage addr;
    char key[INET6_ADDRSTRLEN + 8]; /* "ip:port", names the keep-alive
                                       pool */
    struct rg_health *h;            /* an upstream target's: its node-wide
                                       health (registry); else NULL */
    const char *host_header;        /* an upstream target's: "host[:port]"
                                       of its target (":80" left out), the
                                       Host of proxied requests (unless
                                       preserve_host) and of active checks,
                                       as Kong's; owned by the rg_balanced;
                                       else NULL */
};

/* Per target of an upstream, what the generation made of it. */
struct rg_balanced_target {
    const struct rg_target *conf;   /* borrowed from the generation's gw */
    char *host_header;              /* "host" or "host:port" (not :80) */
    int dns_error;                  /* its host did not resolve */
};

/* An upstream (gw.upstreams[i]) compiled: every address of its targets
 * with a balancer over them (upstream/balancer.h); addrs[i] is peer i. */
struct rg_balanced {
    const struct rg_upstream *conf;   /* borrowed from the generation's gw */
    size_t index;                     /* into gw.upstreams */
    struct rg_upstream_addr *addrs;   /* rg_malloc'd, may be empty */
    size_t *addr_target;              /* per address: index into targets */
    size_t n_addrs;
    struct rg_balanced_target *targets; /* this upstream's, file order */
    size_t n_targets;
    struct rg_bal bal;
};

/* A service's upstream: every address its host resolved to at build time
 * (at most RG_RESOLVER_MAX_ADDRS; a Consul name's passing instances, at
 * most RG_CONSUL_MAX_INSTANCES), taken in turn by the requests of each
 * worker, a retry going to the next (http/proxy.c). */
struct rg_upstream_target {
    char *host_header;              /* "host" or "host:port" */
    struct rg_upstream_addr *addrs; /* rg_malloc'd; n_addrs >= 1 but for
                                       a Consul name with no passing
                                       instance (answered 503); NULL
                                       when @up is set */
    size_t n_addrs;
    const struct rg_balanced *up;   /* the service's host names an
                                       upstream: balance over it (Kong's
                                       rule); else NULL */
    /* https services (README "TLS"): */
    struct rg_tls_client *tls; /* owned; NULL for http */
    const char *tls_host;      /* SNI and the name verified: the
                                  service's host (borrowed from gw) */
    char tls_tag[20];          /* "~" and 16 hex digits of the TLS
                                  settings, appended to pool keys so
                                  that only alike connections are
                                  shared */
};

/* The per-request limits and header settings from the node config. */
struct rg_limits {
    uint32_t header_timeout_ms;
    uint32_t idle_timeout_ms;
    uint32_t max_header_size;
    uint64_t max_body_size;       /* 0 = unlimited */
    struct rg_pool_limits pool;   /* upstream keep-alive sizing */
    unsigned max_connections;     /* per worker */
    char *via;                    /* "" = off */
    char *server;                 /* "" = off */
    struct rg_cidrs trusted_ips;  /* proxy.trusted_ips */
};

struct rg_chain;
struct rg_filter_ops;

struct rg_gen {
    atomic_uint refs;
    uint64_t id;                          /* 1, 2, ... per process */
    struct rg_gateway gw;                 /* owned */
    struct rg_router *router;             /* owned */
    struct rg_upstream_target *targets;   /* one per gw.services[i] */
    size_t n_targets;
    struct rg_balanced *ups;              /* one per gw.upstreams[i] */
    size_t n_ups;
    struct rg_limits limits;
    /* Plugin chains (http/filter.h): chains[i] is route i's, global the
     * one for requests that match no route and for REWRITE. NULL chains
     * are empty; chains itself is NULL when the config has no plugin. */
    struct rg_chain **chains;
    struct rg_chain *global;
    const struct rg_filter_ops *const *ops; /* the registry's, static */
    /* met (issue 12): per route and per service, its label slot for
     * /metrics (http/metrics.h rg_met_gen_slots); owned. */
    uint8_t *met_route;
    uint8_t *met_svc;
};

/* What building a generation needs besides the config. */
struct rg_gen_env {
    const struct rg_filter_ops *const *ops; /* plugin runtimes, indexed like
                                               the catalog; static */
    struct rg_resolver *resolver; /* host names from this cache (the
                                     control loop); NULL: getaddrinfo,
                                     which blocks (start-up, -t, SIGHUP in
                                     single-node mode) */
    int waiting;                  /* out: failed because a name is being
                                     resolved; build again when the
                                     resolver says it changed */
    struct rg_consul *consul;     /* Consul names from these watches (the
                                     control loop); NULL: such names have
                                     no address yet (start-up, -t) */
    const char *consul_domain;    /* set by rg_gen_new from the node
                                     config: what a Consul name ends in
                                     when @consul is NULL */
};

/* Build a generation from @gw (taken on success: @gw is zeroed) and the
 * node settings in @nc (borrowed, copied), compiling each route's plugin
 * chain with @env's runtimes and resolving service hosts through @env
 * (blocking only without a resolver): control thread or start-up only.
 * Returns NULL and fills @eb
 * on failure (then @gw is still the caller's). The result has one
 * reference. */
struct rg_gen *rg_gen_new(struct rg_gateway *gw, const struct rg_node_conf *nc,
                          struct rg_gen_env *env, uint64_t id,
                          struct rg_errbuf *eb);

/* Hand every address of @g's upstreams to the active health checker @c
 * (upstream/hcheck.h): the set it checks from now on. Returns 0 or
 * -ENOMEM (the old set stays). Control thread. */
struct rg_hchecker;
int rg_gen_hcheck_sync(const struct rg_gen *g, struct rg_hchecker *c);

/* Take a reference. Thread: any. */
static inline struct rg_gen *rg_gen_ref(struct rg_gen *g)
{
    atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
    return g;
}

/* Drop a reference; the last one frees. Accepts NULL. Thread: any. */
void rg_gen_unref(struct rg_gen *g);

#endif
