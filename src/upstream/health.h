/* Health of upstream targets, per node (Kong's model: never replicated).
 * One struct rg_health per (upstream name, address) lives in a node-wide
 * registry for the life of the process, so a new config generation finds
 * the state the last one left; workers update it with atomics only (no
 * lock per request), the control thread's active checker likewise.
 *
 * Counting follows Kong's healthchecks: a healthy address is marked down
 * once one of its failure counters (tcp_failures, timeouts, http_failures
 * of the listed statuses) reaches its threshold; a down one comes back
 * after `successes` consecutive successes (a status of the healthy list).
 * A threshold of 0 disables that counter. Passive results come from
 * proxied requests, active ones from src/upstream/hcheck.h; both count on
 * the same state, as in Kong. */
#ifndef RG_UPSTREAM_HEALTH_H
#define RG_UPSTREAM_HEALTH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config/gateway.h"

#define RG_HEALTH_KEY_MAX 320 /* "upstream name" + " " + "ip:port" */

struct rg_health {
    atomic_uint active;       /* requests in flight to it, node-wide */
    atomic_uint down;         /* 0 healthy, 1 unhealthy */
    atomic_uint tcp_failures; /* consecutive, while healthy */
    atomic_uint timeouts;
    atomic_uint http_failures;
    atomic_uint successes;          /* consecutive, while down */
    char key[RG_HEALTH_KEY_MAX];    /* registry key, immutable */
    char target[RG_HEALTH_KEY_MAX]; /* the target ("host:port") that
                                       first named this address */
    struct rg_health *next;         /* registry chain, immutable once linked */
};

/* What one request or check saw. */
enum rg_health_outcome {
    RG_HEALTH_TCP_FAILURE, /* connect or write failed, connection reset */
    RG_HEALTH_TIMEOUT,     /* connect, write or read timed out */
    RG_HEALTH_HTTP,        /* a response head with @status */
};

/* The state of address @addr_key ("ip:port") in upstream @upstream,
 * created healthy on first use (labelled with @target, "host:port", which
 * may be NULL). The pointer stays valid until
 * rg_health_shutdown. Returns NULL on ENOMEM. Thread: any (a mutex; call
 * it when building a generation or from the admin API, never per
 * request). */
struct rg_health *rg_health_get(const char *upstream, const char *addr_key,
                                const char *target);

/* Call @cb(@arg, addr_key, h) for each address of @upstream labelled
 * @target, under the registry's lock (@cb must not call back in).
 * Returns how many. Thread: any (for the admin API, not per request). */
size_t rg_health_each(const char *upstream, const char *target,
                      void (*cb)(void *arg, const char *addr_key,
                                 struct rg_health *h),
                      void *arg);

/* The state of @addr_key in @upstream if it exists, else NULL. Thread:
 * any. */
struct rg_health *rg_health_find(const char *upstream, const char *addr_key);

/* Count @what (with @status for RG_HEALTH_HTTP) against @h with the
 * thresholds of @healthy and @unhealthy (an upstream's passive or active
 * sides, borrowed). Returns 1 when this call changed @h's state (the
 * caller may log it), else 0. Thread: any; lock-free. */
int rg_health_report(struct rg_health *h, const struct rg_hc_side *healthy,
                     const struct rg_hc_side *unhealthy,
                     enum rg_health_outcome what, unsigned status);

/* Set @h healthy (@down 0) or unhealthy (1) and reset its counters, as
 * Kong's POST .../healthy and .../unhealthy do. Thread: any. */
void rg_health_set(struct rg_health *h, int down);

/* Whether a balancer may pick @h. */
static inline int rg_health_usable(const struct rg_health *h)
{
    return h == NULL ||
           atomic_load_explicit(&h->down, memory_order_relaxed) == 0;
}

/* Free the registry (at exit, once no thread uses it). */
void rg_health_shutdown(void);

#endif
