/* The JWK sets the served config's jwt credentials name (jwks_uri),
 * kept fresh by this node: each URL is fetched on the control loop
 * (upstream/fetch.h: libcurl, never on a worker), again every
 * jwks_refresh_interval seconds (the smallest among the credentials that
 * name it), sooner when a token names a kid the set lacks (at most once
 * per RG_JWKS_EARLY_MIN seconds). A failed fetch or a body that is not a
 * usable set keeps the last good set and is tried again after 1, 2, 4 ...
 * seconds (at most RG_JWKS_BACKOFF_MAX, and never later than the refresh
 * interval); every outcome that changes what is served is logged. Until
 * the first good fetch a URL has no set: its tokens are refused.
 *
 * One registry per process, the control loop's. Thread: the sync and
 * stop calls on the control thread; get, epoch and poke on any thread
 * (workers), under one mutex held for a lookup in a short list. */
#ifndef RG_PLUGINS_JWKS_WATCH_H
#define RG_PLUGINS_JWKS_WATCH_H

#include <stdint.h>
#include <uv.h>

#include "config/gateway.h"
#include "plugins/jwks.h"

#define RG_JWKS_EARLY_MIN 10   /* seconds between fetches a kid asks for */
#define RG_JWKS_BACKOFF_MAX 60 /* seconds */

/* Watch exactly the URLs @gw's jwt credentials name (new ones are fetched
 * at once; ones no longer named are dropped, their sets freed once no
 * worker holds them). The first call fixes @loop. No-op after stop. */
void rg_jwks_watch_sync(uv_loop_t *loop, const struct rg_gateway *gw);

/* End every watch and fetch; the loop must run afterwards to close the
 * handles. Idempotent. */
void rg_jwks_watch_stop(void);

/* The current set of @url (a reference: rg_jwks_unref it), or NULL when
 * none was fetched yet or @url is not watched. */
struct rg_jwks *rg_jwks_watch_get(const char *url);

/* A number that changes whenever any watched set does (starts at 1): a
 * token verified with a JWK set under one epoch is verified again under
 * another (plugins/jwt_cache.h keys_stamp). */
uint64_t rg_jwks_watch_epoch(void);

/* A token named a key @url's set lacks: fetch it again soon. */
void rg_jwks_watch_poke(const char *url);

#endif
