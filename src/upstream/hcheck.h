/* Active health checks (Kong's healthchecks.active): an HTTP GET of
 * `http_path` on every address of every target of an upstream, every
 * `healthy.interval` while it is healthy and every `unhealthy.interval`
 * while it is not (0: no checks in that state), each answer counted into
 * the address's node-wide health (upstream/health.h) with the active
 * thresholds. The checks run on the control loop through libcurl multi
 * (upstream/fetch.h), never through a proxy, redirects not followed. At
 * most one check per address is in flight, and at most `concurrency` per
 * upstream. Thread: the loop's thread only. */
#ifndef RG_UPSTREAM_HCHECK_H
#define RG_UPSTREAM_HCHECK_H

#include <stddef.h>
#include <uv.h>

#include "config/gateway.h"
#include "upstream/health.h"

struct rg_hchecker;

/* One address to check. Everything is borrowed for rg_hchecker_set and
 * copied, except @h (the registry's, which outlives the checker). */
struct rg_hcheck_item {
    const char *upstream;    /* its name, for logs */
    size_t group;            /* items of one upstream share one:
                                the concurrency bound */
    const char *addr_key;    /* "ip:port" */
    const char *host_header; /* the target's "host[:port]" */
    struct rg_health *h;
    const struct rg_healthchecks *hc; /* the upstream's */
};

/* A checker on @loop (borrowed; must outlive it). NULL on ENOMEM or when
 * libcurl cannot start. */
struct rg_hchecker *rg_hchecker_new(uv_loop_t *loop);

/* Check exactly @items from now on (@n may be 0: nothing). Checks in
 * flight for the old set are cancelled; an address kept keeps its
 * schedule. Returns 0 or -ENOMEM (the old set stays). */
int rg_hchecker_set(struct rg_hchecker *c, const struct rg_hcheck_item *items,
                    size_t n);

/* Stop everything; memory goes in the handles' close callbacks, so the
 * loop must run afterwards. Accepts NULL. */
void rg_hchecker_close(struct rg_hchecker *c);

#endif
