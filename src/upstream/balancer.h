/* Balancers over the addresses of an upstream's targets (Kong's
 * algorithms plus raftgate's `random`), built once per config generation
 * and immutable after: pure functions of their input, so every worker
 * shares one and tests drive them without sockets.
 *
 * - round-robin: weighted, smooth (nginx's order, precomputed into a
 *   wheel of sum(weights)/gcd entries, at most RG_BAL_WHEEL_MAX); a worker
 *   walks it with its own counter.
 * - least-connections: the fewest requests in flight per unit of weight,
 *   counted node-wide (struct rg_health.active: one atomic per address,
 *   shared by the workers), so a slow target is seen by every worker.
 * - random: two weighted random choices, the one with fewer in flight per
 *   unit of weight (power of two choices).
 * - consistent-hashing: a ring where a peer of weight w has
 *   ceil(w * slots / 10000) points (100 for Kong's defaults), placed by a
 *   hash of its address alone, so removing a peer moves only its keys; a
 *   key goes to the first usable point at or after its hash.
 * Peers of weight 0 are never picked; unusable ones (health.h) are
 * skipped. With a threshold (Kong's healthchecks.threshold), no peer is
 * picked while the usable peers hold less than that share of the total
 * weight: the whole upstream counts as unhealthy. */
#ifndef RG_UPSTREAM_BALANCER_H
#define RG_UPSTREAM_BALANCER_H

#include <stddef.h>
#include <stdint.h>

#include "config/gateway.h"
#include "upstream/health.h"

#define RG_BAL_NONE SIZE_MAX
#define RG_BAL_WHEEL_MAX 16384  /* round-robin wheel entries */
#define RG_BAL_POINTS_MAX 65536 /* ring points of one peer */

struct rg_bal_peer {
    uint32_t weight;     /* 0..65535 */
    struct rg_health *h; /* borrowed (registry), or NULL: always usable */
    const char *name;    /* borrowed for rg_bal_init only: places its
                            ring points */
};

struct rg_bal_point {
    uint64_t hash;
    uint32_t peer;
};

struct rg_bal {
    enum rg_lb_algo algo;
    struct rg_bal_peer *peers; /* owned copy; name is NULL after init */
    size_t n;
    uint32_t *wheel; /* round-robin */
    size_t n_wheel;
    uint64_t *cum;             /* random: cumulative weights, n entries */
    struct rg_bal_point *ring; /* consistent-hashing, sorted by hash */
    size_t n_ring;
    double threshold;          /* % of the weight that must be usable;
                                  0: off. Set after rg_bal_init */
};

/* What one pick depends on. */
struct rg_bal_in {
    uint64_t seq;   /* the worker's counter for this upstream */
    uint64_t rnd;   /* random bits (random) */
    uint64_t hash;  /* the key's rg_bal_hash (consistent-hashing) */
    int has_hash;   /* 0: no key, pick as round-robin would */
    size_t exclude; /* the peer of the previous attempt, or RG_BAL_NONE;
                       picked only when no other is usable */
};

/* Build @b over @n peers (@peers borrowed, copied) with @algo and @slots
 * (consistent-hashing). Returns 0 or -ENOMEM (then @b needs no release).
 * Thread: any. */
int rg_bal_init(struct rg_bal *b, enum rg_lb_algo algo, uint32_t slots,
                const struct rg_bal_peer *peers, size_t n);

/* Free what @b owns and zero it. Accepts a zeroed @b. */
void rg_bal_release(struct rg_bal *b);

/* The index of the peer for @in, or RG_BAL_NONE when none is usable
 * (Kong then answers 503 "failure to get a peer from the ring-balancer").
 * Thread: any (reads the peers' atomics). */
size_t rg_bal_pick(const struct rg_bal *b, const struct rg_bal_in *in);

/* The hash keys and ring points use: the same on every node (SipHash
 * under a fixed key). */
uint64_t rg_bal_hash(const void *p, size_t len);

#endif
