/* The request side of upstreams (Kong's upstreams and targets): pick the
 * address of an attempt with the upstream's balancer and hash key, count
 * the requests in flight per address, and feed the passive health checks
 * (upstream/health.h) with each attempt's outcome. */
#ifndef RG_HTTP_BALANCE_H
#define RG_HTTP_BALANCE_H

#include "http/proxy.h"

/* Kong's answer when no target is usable (503). */
#define RG_MSG_NO_PEER "failure to get a peer from the ring-balancer"

/* The address of attempt r->attempts of a request whose service is
 * balanced (r->tgt->up): the first attempt takes the worker's next turn
 * for the upstream, a retry avoids the previous attempt's address while
 * another one is usable. NULL when none is (all unhealthy, weight 0 or
 * unresolved). On success the address counts one more request in flight
 * until rg_balance_done. Thread: @r's worker. */
const struct rg_upstream_addr *rg_balance_pick(struct rg_req *r);

/* The attempt's connection is released: it no longer counts in flight.
 * Idempotent; a no-op for an address without health state. */
void rg_balance_done(struct rg_req *r);

/* Passive health: the attempt failed with @err (a negative code; 504's
 * count as timeouts, others as TCP failures), or got a response head
 * with @status. No-ops unless the address is an upstream target's. */
void rg_balance_failed(struct rg_req *r, int err);
void rg_balance_status(struct rg_req *r, unsigned status);

#endif
