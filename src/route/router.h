/* The router: compiled once per config generation from rg_gateway's routes,
 * then matched per request. Matching is by host (exact beats wildcard),
 * then path (exact beats prefix; longest prefix wins; prefixes match at
 * segment boundaries: "/api" matches "/api", "/api/x", not "/apix"; a
 * prefix ending in "/" matches anything under it), then method. Ties keep
 * config order. The compiled router is immutable and may be read by many
 * threads at once. */
#ifndef RG_ROUTE_ROUTER_H
#define RG_ROUTE_ROUTER_H

#include <stddef.h>

#include "config/gateway.h"

struct rg_router;

/* The result of a match: the route, and which of its paths matched (the
 * caller needs it for strip_path). */
struct rg_route_match {
    const struct rg_route *route; /* borrowed from the gateway config */
    size_t route_index;           /* index into rg_gateway.routes */
    size_t prefix_len;            /* bytes of the request path the matched
                                     route path covers (0 for host-only
                                     routes); strip_path removes these */
};

/* Compile @gw's routes. @gw is kept: it must outlive the router (both live
 * in one config generation). Returns NULL on allocation failure.
 * Thread: any. */
struct rg_router *rg_router_new(const struct rg_gateway *gw);

/* Free @rt; accepts NULL. */
void rg_router_free(struct rg_router *rt);

/* Match a request. @host is the Host header value without port, any case
 * (NULL or empty matches only routes without hosts); @path is the
 * normalised path (see rg_path_normalize), @method its RG_M_* bit.
 * Returns 0 and fills @m, or -ENOENT when no route matches. Cost grows
 * with the path length and the number of routes sharing a host, not with
 * the total route count. Thread: any; no allocation. */
int rg_router_match(const struct rg_router *rt, const char *host,
                    size_t host_len, const char *path, size_t path_len,
                    unsigned method, struct rg_route_match *m);

#endif
