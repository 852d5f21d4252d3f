/* The node-wide health registry and Kong's counting; see health.h. */
#include "upstream/health.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

#define BUCKETS 256

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rg_health *reg[BUCKETS];

static unsigned bucket(const char *key)
{
    unsigned h = 2166136261u; /* FNV-1a */

    for (; *key != '\0'; key++)
        h = (h ^ (unsigned char)*key) * 16777619u;
    return h % BUCKETS;
}

static struct rg_health *lookup(const char *key, unsigned b)
{
    for (struct rg_health *h = reg[b]; h != NULL; h = h->next)
        if (strcmp(h->key, key) == 0)
            return h;
    return NULL;
}

static void make_key(char *key, const char *upstream, const char *addr_key)
{
    snprintf(key, RG_HEALTH_KEY_MAX, "%s %s", upstream, addr_key);
}

struct rg_health *rg_health_find(const char *upstream, const char *addr_key)
{
    char key[RG_HEALTH_KEY_MAX];
    struct rg_health *h;

    make_key(key, upstream, addr_key);
    pthread_mutex_lock(&reg_lock);
    h = lookup(key, bucket(key));
    pthread_mutex_unlock(&reg_lock);
    return h;
}

struct rg_health *rg_health_get(const char *upstream, const char *addr_key,
                                const char *target)
{
    char key[RG_HEALTH_KEY_MAX];
    unsigned b;
    struct rg_health *h;

    make_key(key, upstream, addr_key);
    b = bucket(key);
    pthread_mutex_lock(&reg_lock);
    h = lookup(key, b);
    if (h == NULL && (h = rg_calloc(1, sizeof(*h))) != NULL) {
        memcpy(h->key, key, sizeof(h->key));
        snprintf(h->target, sizeof(h->target), "%s", target ? target : "");
        h->next = reg[b];
        reg[b] = h;
    }
    pthread_mutex_unlock(&reg_lock);
    return h;
}

size_t rg_health_each(const char *upstream, const char *target,
                      void (*cb)(void *arg, const char *addr_key,
                                 struct rg_health *h),
                      void *arg)
{
    size_t ulen = strlen(upstream), n = 0;

    pthread_mutex_lock(&reg_lock);
    for (unsigned b = 0; b < BUCKETS; b++) {
        for (struct rg_health *h = reg[b]; h != NULL; h = h->next) {
            if (strncmp(h->key, upstream, ulen) != 0 || h->key[ulen] != ' ' ||
                strcmp(h->target, target) != 0)
                continue;
            cb(arg, h->key + ulen + 1, h);
            n++;
        }
    }
    pthread_mutex_unlock(&reg_lock);
    return n;
}

static void reset(struct rg_health *h)
{
    atomic_store_explicit(&h->tcp_failures, 0, memory_order_relaxed);
    atomic_store_explicit(&h->timeouts, 0, memory_order_relaxed);
    atomic_store_explicit(&h->http_failures, 0, memory_order_relaxed);
    atomic_store_explicit(&h->successes, 0, memory_order_relaxed);
}

/* Move @h from @from to the other state, once even when workers race. */
static int flip(struct rg_health *h, unsigned from)
{
    unsigned expect = from;

    if (!atomic_compare_exchange_strong(&h->down, &expect, !from))
        return 0;
    reset(h);
    return 1;
}

/* Clear a counter only when set: a success costs no write in steady
 * state (the cache line stays shared between workers). */
static void clear(atomic_uint *c)
{
    if (atomic_load_explicit(c, memory_order_relaxed) != 0)
        atomic_store_explicit(c, 0, memory_order_relaxed);
}

static int count_failure(struct rg_health *h, atomic_uint *c, uint8_t limit)
{
    if (limit == 0)
        return 0;
    clear(&h->successes);
    if (atomic_load_explicit(&h->down, memory_order_relaxed))
        return 0;
    if (atomic_fetch_add_explicit(c, 1, memory_order_relaxed) + 1 < limit)
        return 0;
    return flip(h, 0);
}

static int count_success(struct rg_health *h, uint8_t limit)
{
    if (!atomic_load_explicit(&h->down, memory_order_relaxed)) {
        clear(&h->tcp_failures);
        clear(&h->timeouts);
        clear(&h->http_failures);
        return 0;
    }
    if (limit == 0)
        return 0;
    if (atomic_fetch_add_explicit(&h->successes, 1, memory_order_relaxed) + 1 <
        limit)
        return 0;
    return flip(h, 1);
}

int rg_health_report(struct rg_health *h, const struct rg_hc_side *healthy,
                     const struct rg_hc_side *unhealthy,
                     enum rg_health_outcome what, unsigned status)
{
    if (h == NULL)
        return 0;
    switch (what) {
    case RG_HEALTH_TCP_FAILURE:
        return count_failure(h, &h->tcp_failures, unhealthy->tcp_failures);
    case RG_HEALTH_TIMEOUT:
        return count_failure(h, &h->timeouts, unhealthy->timeouts);
    case RG_HEALTH_HTTP:
        if (rg_status_in(&unhealthy->statuses, status))
            return count_failure(h, &h->http_failures,
                                 unhealthy->http_failures);
        if (rg_status_in(&healthy->statuses, status))
            return count_success(h, healthy->successes);
        return 0;
    }
    return 0;
}

void rg_health_set(struct rg_health *h, int down)
{
    atomic_store(&h->down, down ? 1u : 0u);
    reset(h);
}

void rg_health_shutdown(void)
{
    pthread_mutex_lock(&reg_lock);
    for (unsigned b = 0; b < BUCKETS; b++) {
        while (reg[b] != NULL) {
            struct rg_health *h = reg[b];

            reg[b] = h->next;
            rg_free(h);
        }
    }
    pthread_mutex_unlock(&reg_lock);
}
