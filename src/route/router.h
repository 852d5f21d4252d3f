/* The router: compiled once per config generation from rg_gateway's routes,
 * then matched per request. The compiled router is immutable and may be
 * read by many threads at once.
 *
 * A route is a candidate when every criterion it defines holds:
 *  - hosts (case-insensitive; the request's host must equal one of them):
 *    "*.example.com" matches "a.example.com" and "a.b.example.com" but not
 *    "example.com"; "api.*" matches "api.x" and "api.x.y" but not "api";
 *    any other pattern is compared literally.
 *  - paths (byte-exact; the request path is already normalised): "=/a"
 *    (exact) matches "/a" only. A prefix matches at a segment boundary:
 *    "/api" matches "/api", "/api/", "/api/x" but not "/apix"; a prefix
 *    ending in "/" matches anything under it ("/api/" matches "/api/x",
 *    not "/api"); "/" matches every path.
 *  - methods: the request's bit is among them.
 * Routes of a service with enabled == 0 are left out, as in Kong.
 *
 * Precedence among candidates, first difference wins (Kong's "most
 * criteria first", then nginx's host and path order):
 *  1. the number of criteria the route defines (hosts, paths, methods):
 *     a host+path+method route beats a host+path one, which beats a
 *     path-only one, whatever the path lengths;
 *  2. the host pattern that matched: exact name, then "*.x" patterns
 *     longest first, then "x.*" patterns longest first, then no hosts;
 *  3. the path that matched: longer first, and an exact path beats a
 *     prefix of the same length; a route without paths comes last;
 *  4. config order (lower index in rg_gateway.routes).
 * A method mismatch just removes the candidate, so a GET-only and a
 * POST-only route on the same path coexist, and the next candidate in
 * precedence order serves other methods. */
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
                                     route path covers, i.e. its length
                                     (0 for routes without paths);
                                     strip_path removes these */
};

/* Compile @gw's routes. @gw is kept: it must outlive the router (both live
 * in one config generation) and stay unchanged. Host patterns may be in
 * any case; route paths are compared byte for byte with request paths, so
 * they should be normalised too. NULL host or path strings are skipped.
 * Returns NULL on allocation failure. Thread: any. */
struct rg_router *rg_router_new(const struct rg_gateway *gw);

/* Free @rt; accepts NULL. */
void rg_router_free(struct rg_router *rt);

/* Match a request. @host is the Host header value without port, any case
 * (NULL or empty matches only routes without hosts); @path is the
 * normalised path (see rg_path_normalize), @method its RG_M_* bit.
 * (0 for an unknown method matches only routes without methods).
 * Returns 0 and fills @m, or -ENOENT when no route matches (@m untouched).
 * Cost: O(host length + path length) hash probes per host pattern group
 * the host falls in, plus the routes sharing one (host, path) key; it does
 * not grow with the total route count. Ownership: all borrowed.
 * Thread: any; no allocation. */
int rg_router_match(const struct rg_router *rt, const char *host,
                    size_t host_len, const char *path, size_t path_len,
                    unsigned method, struct rg_route_match *m);

#endif
