/* The four balancers; see balancer.h. */
#include "upstream/balancer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/siphash.h"

uint64_t rg_bal_hash(const void *p, size_t len)
{
    static const uint8_t key[16] = "raftgate-ring-01";

    return rg_siphash(key, p, len);
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
    while (b != 0) {
        uint64_t t = a % b;

        a = b;
        b = t;
    }
    return a;
}

/* nginx's smooth weighted round-robin (ngx_http_upstream_get_peer), run
 * once over the whole cycle: each step adds every weight to its current
 * value and takes the largest, which then gives back the total. */
static int wheel_init(struct rg_bal *b)
{
    uint64_t total = 0, g = 0, scale = 1;
    int64_t *cur;
    uint32_t *w;
    size_t i, s;

    for (i = 0; i < b->n; i++) {
        total += b->peers[i].weight;
        g = gcd(g, b->peers[i].weight);
    }
    if (total == 0)
        return 0;
    if (total / g > RG_BAL_WHEEL_MAX)
        scale = (total + RG_BAL_WHEEL_MAX - 1) / RG_BAL_WHEEL_MAX;
    cur = rg_calloc(b->n, sizeof(*cur));
    w = rg_calloc(b->n, sizeof(*w));
    if (cur == NULL || w == NULL)
        goto err_free;
    total = 0;
    for (i = 0; i < b->n; i++) {
        uint32_t x = b->peers[i].weight;

        w[i] = scale == 1 ? (uint32_t)(x / g)
                          : (x == 0 ? 0 : (uint32_t)((x + scale - 1) / scale));
        total += w[i];
    }
    b->wheel = rg_calloc(total, sizeof(*b->wheel));
    if (b->wheel == NULL)
        goto err_free;
    for (s = 0; s < total; s++) {
        size_t best = 0;

        for (i = 0; i < b->n; i++) {
            cur[i] += w[i];
            if (cur[i] > cur[best])
                best = i;
        }
        cur[best] -= (int64_t)total;
        b->wheel[s] = (uint32_t)best;
    }
    b->n_wheel = total;
    rg_free(cur);
    rg_free(w);
    return 0;
err_free:
    rg_free(cur);
    rg_free(w);
    return -ENOMEM;
}

static int cmp_point(const void *a, const void *b)
{
    const struct rg_bal_point *x = a, *y = b;

    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return x->peer < y->peer ? -1 : x->peer > y->peer;
}

static size_t points_of(uint32_t weight, uint32_t slots)
{
    uint64_t p = ((uint64_t)weight * slots + 9999) / 10000;

    return p > RG_BAL_POINTS_MAX ? RG_BAL_POINTS_MAX : (size_t)p;
}

static int ring_init(struct rg_bal *b, const struct rg_bal_peer *peers,
                     uint32_t slots)
{
    char buf[400];
    size_t i, j, n = 0, at = 0;

    for (i = 0; i < b->n; i++)
        n += points_of(peers[i].weight, slots);
    if (n == 0)
        return 0;
    b->ring = rg_calloc(n, sizeof(*b->ring));
    if (b->ring == NULL)
        return -ENOMEM;
    for (i = 0; i < b->n; i++) {
        const char *name = peers[i].name ? peers[i].name : "";

        for (j = 0; j < points_of(peers[i].weight, slots); j++) {
            int len = snprintf(buf, sizeof(buf), "%s#%zu", name, j);

            b->ring[at].hash = rg_bal_hash(buf, (size_t)len);
            b->ring[at++].peer = (uint32_t)i;
        }
    }
    qsort(b->ring, n, sizeof(*b->ring), cmp_point);
    b->n_ring = n;
    return 0;
}

static int cum_init(struct rg_bal *b)
{
    uint64_t sum = 0;

    b->cum = rg_calloc(b->n ? b->n : 1, sizeof(*b->cum));
    if (b->cum == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < b->n; i++)
        b->cum[i] = sum += b->peers[i].weight;
    return 0;
}

int rg_bal_init(struct rg_bal *b, enum rg_lb_algo algo, uint32_t slots,
                const struct rg_bal_peer *peers, size_t n)
{
    int rv;

    memset(b, 0, sizeof(*b));
    b->algo = algo;
    b->peers = rg_calloc(n ? n : 1, sizeof(*b->peers));
    if (b->peers == NULL)
        return -ENOMEM;
    memcpy(b->peers, peers, n * sizeof(*peers));
    b->n = n;
    for (size_t i = 0; i < n; i++)
        b->peers[i].name = NULL;
    /* Every balancer may fall back to the wheel (a hash without a key). */
    rv = wheel_init(b);
    if (rv == 0 && algo == RG_LB_HASH)
        rv = ring_init(b, peers, slots);
    if (rv == 0 && algo == RG_LB_RANDOM)
        rv = cum_init(b);
    if (rv != 0)
        rg_bal_release(b);
    return rv;
}

void rg_bal_release(struct rg_bal *b)
{
    rg_free(b->peers);
    rg_free(b->wheel);
    rg_free(b->cum);
    rg_free(b->ring);
    memset(b, 0, sizeof(*b));
}

static int ok(const struct rg_bal *b, size_t i, size_t exclude)
{
    return i != exclude && b->peers[i].weight > 0 &&
           rg_health_usable(b->peers[i].h);
}

static unsigned active(const struct rg_bal_peer *p)
{
    return p->h ? atomic_load_explicit(&p->h->active, memory_order_relaxed) : 0;
}

/* Whether @a carries less per unit of weight than @c. */
static int lighter(const struct rg_bal_peer *a, const struct rg_bal_peer *c)
{
    return ((uint64_t)active(a) + 1) * c->weight <
           ((uint64_t)active(c) + 1) * a->weight;
}

/* Any usable peer, starting at @start: the fallback of every balancer. */
static size_t scan(const struct rg_bal *b, size_t start, size_t exclude)
{
    for (size_t k = 0; k < b->n; k++) {
        size_t i = (start + k) % b->n;

        if (ok(b, i, exclude))
            return i;
    }
    return RG_BAL_NONE;
}

static size_t pick_rr(const struct rg_bal *b, const struct rg_bal_in *in)
{
    size_t tries;

    if (b->n_wheel == 0)
        return RG_BAL_NONE;
    /* The wheel first (a few turns' worth), then any usable peer. */
    tries = b->n_wheel < 2 * b->n + 16 ? b->n_wheel : 2 * b->n + 16;
    for (size_t k = 0; k < tries; k++) {
        size_t i = b->wheel[(in->seq + k) % b->n_wheel];

        if (ok(b, i, in->exclude))
            return i;
    }
    return scan(b, (size_t)(in->seq % b->n), in->exclude);
}

static size_t pick_least(const struct rg_bal *b, const struct rg_bal_in *in)
{
    size_t best = RG_BAL_NONE;

    for (size_t k = 0; k < b->n; k++) {
        size_t i = (size_t)((in->seq + k) % b->n);

        if (ok(b, i, in->exclude) &&
            (best == RG_BAL_NONE || lighter(&b->peers[i], &b->peers[best])))
            best = i;
    }
    return best;
}

/* The peer whose weight range holds @x (0 <= x < total). */
static size_t weighted(const struct rg_bal *b, uint64_t x)
{
    size_t lo = 0, hi = b->n - 1;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (b->cum[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static size_t pick_random(const struct rg_bal *b, const struct rg_bal_in *in)
{
    uint64_t total = b->n ? b->cum[b->n - 1] : 0;
    size_t x, y;

    if (total == 0)
        return RG_BAL_NONE;
    x = weighted(b, (in->rnd & 0xffffffffu) % total);
    y = weighted(b, (in->rnd >> 32) % total);
    if (!ok(b, x, in->exclude))
        x = y;
    if (!ok(b, y, in->exclude))
        y = x;
    if (!ok(b, x, in->exclude))
        return pick_least(b, in);
    return lighter(&b->peers[y], &b->peers[x]) ? y : x;
}

static size_t pick_hash(const struct rg_bal *b, const struct rg_bal_in *in)
{
    size_t lo = 0, hi = b->n_ring;

    if (!in->has_hash)
        return pick_rr(b, in);
    if (b->n_ring == 0)
        return RG_BAL_NONE;
    while (lo < hi) { /* the first point at or after the hash */
        size_t mid = lo + (hi - lo) / 2;

        if (b->ring[mid].hash < in->hash)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t k = 0; k < b->n_ring; k++) {
        size_t i = b->ring[(lo + k) % b->n_ring].peer;

        if (ok(b, i, in->exclude))
            return i;
        if (k >= 4 * b->n + 64) /* many points down: stop walking */
            break;
    }
    return scan(b, (size_t)(in->hash % b->n), in->exclude);
}

/* Whether the usable peers hold at least b->threshold % of the weight. */
static int enough_weight(const struct rg_bal *b)
{
    uint64_t total = 0, up = 0;

    for (size_t i = 0; i < b->n; i++) {
        total += b->peers[i].weight;
        if (ok(b, i, RG_BAL_NONE))
            up += b->peers[i].weight;
    }
    return (double)up * 100.0 >= b->threshold * (double)total;
}

size_t rg_bal_pick(const struct rg_bal *b, const struct rg_bal_in *in)
{
    size_t i;

    if (b->n == 0 || (b->threshold > 0 && !enough_weight(b)))
        return RG_BAL_NONE;
    switch (b->algo) {
    case RG_LB_LEAST_CONN:
        i = pick_least(b, in);
        break;
    case RG_LB_RANDOM:
        i = pick_random(b, in);
        break;
    case RG_LB_HASH:
        i = pick_hash(b, in);
        break;
    default:
        i = pick_rr(b, in);
        break;
    }
    /* Only the previous attempt's peer is left: better it than none. */
    if (i == RG_BAL_NONE && in->exclude != RG_BAL_NONE && in->exclude < b->n &&
        ok(b, in->exclude, RG_BAL_NONE))
        i = in->exclude;
    return i;
}
