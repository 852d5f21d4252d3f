/* The verified-token cache of the jwt plugin: one per worker thread, so
 * a token whose signature was checked once is not checked again while it
 * lives (an RS256 verify costs tens of microseconds; a hit, one hash and
 * one compare of the token).
 *
 * Keyed by the whole token and by the plugin instance (its typed config)
 * of one config generation: entries an older generation put are dropped
 * when a newer one asks, so a credential removed or changed by an admin
 * write is never honoured from the cache. An entry lives until the
 * token's exp (plus the instance's leeway when it verifies exp), at most
 * RG_JWT_CACHE_TTL_MAX seconds after it was put (a token with no exp
 * runs every check again that often); a hit carries the stamp of the
 * key set the token was verified with, so the caller can tell a key that
 * was since rotated out (JWKS). Only tokens that passed every check are
 * put: a refused token costs a full verify each time.
 *
 * Bounded: RG_JWT_CACHE_SETS sets of RG_JWT_CACHE_WAYS entries (a new
 * token replaces its set's oldest), tokens longer than
 * RG_JWT_CACHE_TOKEN_MAX bytes are not cached: at most
 * 1024 x (4 KiB + its claims) per worker.
 *
 * Thread: each call works on the calling thread's cache; the cache is
 * freed when its thread ends. */
#ifndef RG_PLUGINS_JWT_CACHE_H
#define RG_PLUGINS_JWT_CACHE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define RG_JWT_CACHE_SETS 512
#define RG_JWT_CACHE_WAYS 2
#define RG_JWT_CACHE_TOKEN_MAX 4096
#define RG_JWT_CACHE_TTL_MAX 3600

/* Who the entry is for: the generation (rg_req_gen_id) and the plugin
 * instance (its conf) the token was verified under. */
struct rg_jwt_cache_key {
    uint64_t gen;
    const void *conf;
    const char *tok;
    size_t len;
};

/* What a hit gives back: the credential (an index into the generation's
 * jwts), the stamp it was put with and the verified claims (borrowed
 * from the cache until the next call on this thread: json_incref to
 * keep them). */
struct rg_jwt_cache_hit {
    size_t cred;
    uint64_t keys_stamp;
    json_t *claims;
};

/* Look @k up at time @now (seconds since the epoch); 1 with *@hit
 * filled, or 0. No allocation. */
int rg_jwt_cache_get(const struct rg_jwt_cache_key *k, int64_t now,
                     struct rg_jwt_cache_hit *hit);

/* Remember that @k verified to credential @cred with @claims (a
 * reference is taken) until @expires (seconds since the epoch; capped as
 * the header says), with @keys_stamp (the key set's, 0 for a
 * credential's own key) for the hits to report. Nothing happens
 * when the token is too long, @k's generation is older than what the
 * cache holds, or memory runs out (a cache may forget). */
void rg_jwt_cache_put(const struct rg_jwt_cache_key *k, int64_t now,
                      int64_t expires, uint64_t keys_stamp, size_t cred,
                      json_t *claims);

/* Entries in the calling thread's cache (for tests). */
size_t rg_jwt_cache_count(void);

/* Empty the calling thread's cache and free it. */
void rg_jwt_cache_flush(void);

#endif
