/* Upstream host names resolved off the control loop's thread: lookups run
 * on libuv's threadpool (uv_getaddrinfo), answers are cached, the last good
 * addresses are kept when a later lookup fails, and every name in use is
 * looked up again every RG_RESOLVER_REFRESH_MS (getaddrinfo does not give
 * the record's TTL, so the refresh interval stands in for it, as nginx's
 * `resolver ... valid=`). A config rebuild asks the cache and never
 * blocks: a name not resolved yet makes it wait for the @changed callback.
 * Thread: the loop's, for every function but rg_resolve_now. */
#ifndef RG_UPSTREAM_RESOLVER_H
#define RG_UPSTREAM_RESOLVER_H

#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "core/err.h"

#define RG_RESOLVER_REFRESH_MS 30000
/* Addresses kept per name (the first ones getaddrinfo gives). */
#define RG_RESOLVER_MAX_ADDRS 16

struct rg_resolver;

/* A resolver on @loop. @changed(@arg) runs when a lookup that a get found
 * pending ends, or when a refresh changes a name's address: the caller
 * then rebuilds. NULL on ENOMEM. */
struct rg_resolver *rg_resolver_new(uv_loop_t *loop, uint32_t refresh_ms,
                                    void (*changed)(void *arg), void *arg);

/* Stop: pending lookups are cancelled; the memory goes once the last one
 * has called back (before the loop can end). Accepts NULL. */
void rg_resolver_close(struct rg_resolver *r);

/* The addresses of @host (a name, or an IPv4/IPv6 literal, without
 * brackets) with port @port, into @out (room for @max, at most
 * RG_RESOLVER_MAX_ADDRS are kept), in getaddrinfo's order; *@n says how
 * many. Returns 0 (literals at once, names from the cache, stale or not),
 * -EAGAIN when a lookup is in flight (started now if needed; @changed
 * follows), or the error of a lookup that ended without any address ever
 * found (libuv's UV_EAI_* code: UV_EAI_NONAME for no such name,
 * UV_EAI_AGAIN when DNS did not answer; -ENOMEM; -EHOSTUNREACH for no
 * address), after which the next get tries again. Never blocks. */
int rg_resolver_get(struct rg_resolver *r, const char *host, uint16_t port,
                    struct sockaddr_storage *out, size_t max, size_t *n)
    RG_MUST_CHECK;

/* The same at once, blocking in getaddrinfo, without a cache: for
 * start-up, `raftgate -t` and single-node reloads, where no Raft timer can
 * be stalled. Errors as rg_resolver_get's. Thread: any. */
int rg_resolve_now(const char *host, uint16_t port,
                   struct sockaddr_storage *out, size_t max, size_t *n)
    RG_MUST_CHECK;

#endif
