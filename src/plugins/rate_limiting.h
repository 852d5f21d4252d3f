/* rate-limiting's typed config and internals, shared by its reader
 * (rate_limiting_conf.c), its keys (rate_limiting_key.c) and its
 * enforcement (rate_limiting.c). Kong 3's config:
 *
 *   second, minute, hour, day, month, year   fixed windows, UTC-aligned
 *                      (month and year: calendar); at least one, or a
 *                      token bucket; a shorter window never above a
 *                      longer one
 *   limit_by: consumer | credential | ip | service | header | path
 *                      (default consumer; header_name / path for the last
 *                      two); what is missing falls back to ip, as Kong
 *   policy: local | cluster | redis   local counts per node; cluster
 *                      (redis an alias) takes the fixed windows from
 *                      leases of the Raft ledger (control/quota.h) in
 *                      cluster mode; token buckets stay per node
 *   debug_header (false)   raftgate's: X-Raftgate-Quota on answers a
 *                      cluster window admitted
 *   fault_tolerant (true), hide_client_headers (false),
 *   error_code (429), error_message ("API rate limit exceeded"),
 *   sync_rate, redis and Kong 3.5's flat redis_* fields   accepted, not
 *                      used (counters are in memory)
 * Limits are integers (Kong takes numbers: 1.5 is an error here).
 *
 * and raftgate's token buckets, the seed's tiers, each refusing on its
 * own (X-RateLimit-Limit-Type names it):
 *
 *   token_buckets:
 *     - {name: api_key, limit_by: header, header_name: X-API-Key,
 *        rate: 10000, burst: 5000}
 *     - {name: user, limit_by: consumer, rate: 100}   burst defaults to
 *                                                     the rate
 *   A bucket whose identifier is missing (no consumer, no header) is
 *   skipped, as the seed's tiers are: no fallback to ip. */
#ifndef RG_PLUGINS_RATE_LIMITING_H
#define RG_PLUGINS_RATE_LIMITING_H

#include <stddef.h>
#include <stdint.h>

#include "config/yamltree.h"

enum rg_rl_window {
    RG_RL_SECOND = 0,
    RG_RL_MINUTE,
    RG_RL_HOUR,
    RG_RL_DAY,
    RG_RL_MONTH,
    RG_RL_YEAR,
    RG_RL_WINDOWS,
};

enum rg_rl_by {
    RG_RL_BY_CONSUMER = 0,
    RG_RL_BY_CREDENTIAL,
    RG_RL_BY_IP,
    RG_RL_BY_SERVICE,
    RG_RL_BY_HEADER,
    RG_RL_BY_PATH,
};

/* What a request is counted by. */
struct rg_rl_ident {
    enum rg_rl_by by;
    char *header_name;       /* RG_RL_BY_HEADER */
    char *path;              /* RG_RL_BY_PATH */
};

struct rg_rl_bucket {
    char *name;              /* X-RateLimit-Limit-Type */
    uint64_t name_hash;      /* of @name, for its table keys */
    struct rg_rl_ident id;
    uint32_t rate, burst;    /* tokens/s, tokens */
};

#define RG_RL_BUCKETS_MAX 8

struct rg_rl_conf {
    uint32_t limit[RG_RL_WINDOWS]; /* 0: not set */
    struct rg_rl_ident id;
    int cluster;             /* policy cluster (or redis) */
    int debug_header;        /* X-Raftgate-Quota on admitted answers */
    int fault_tolerant;
    int hide_client_headers;
    int error_code;
    char *error_body;        /* {"message": ...} */
    struct rg_rl_bucket bucket[RG_RL_BUCKETS_MAX];
    size_t n_buckets;
};

/* Kong's names of the windows: "second" ... "year", and "Second" ...
 * (the header suffix). */
extern const char *const rg_rl__window_name[RG_RL_WINDOWS];
extern const char *const rg_rl__window_title[RG_RL_WINDOWS];

/* ---- rate_limiting_conf.c ---- */

/* The schema's conf_parse: @config (NULL: none given) into a new
 * struct rg_rl_conf in *@out, owned by the caller (rg_rl__conf_free);
 * 0, or an rg_yt error naming the path with *@out NULL. */
int rg_rl__conf_parse(struct rg_yt *t, yaml_node_t *config, void **out);
void rg_rl__conf_free(void *p);

/* ---- rate_limiting_key.c: what a request is counted under ---- */

struct rg_req;

/* The end (s since the epoch, UTC) of window @w holding @now. */
uint32_t rg_rl__window_end(enum rg_rl_window w, uint32_t now);

/* The keyed hash of what @id counts @r by, into *@h: 1; or 0 when it is
 * missing and @fallback is 0 (with @fallback the client's address stands
 * in, as in Kong). ACCESS (the route and consumer are known). */
int rg_rl__ident(struct rg_req *r, const struct rg_rl_ident *id,
                 int fallback, uint64_t *h);

/* The hash of @r's route and service (their name, else id); the last
 * one is remembered per worker, by config generation and route. */
uint64_t rg_rl__scope(struct rg_req *r);

/* The cluster ledger's key of window @w of @c for @r into @out (@cap
 * bytes, at least RG_QT_KEY_MAX + 1): "route|service|window|by:identifier"
 * in clear text (route and service by id, else name; an IP address as
 * text), the same on every node, or "sha256:<hex>" of it when longer than
 * the ledger allows or not printable. Returns its length (0: out of
 * memory). */
size_t rg_rl__cluster_key(struct rg_req *r, const struct rg_rl_conf *c,
                          int w, char *out, size_t cap);

/* A 64-bit mixer (splitmix64's finaliser) to derive table keys. */
uint64_t rg_rl__mix(uint64_t x);

#endif
