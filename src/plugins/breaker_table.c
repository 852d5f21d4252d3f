/* The node-wide circuit-breaker table (breaker_table.h): open addressing
 * over a static array, keyed by an FNV-1a hash of the service name (the
 * name itself is compared too). */
#include "plugins/breaker_table.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

static struct rg_brt_slot slots[RG_BRT_SLOTS];
static pthread_mutex_t claim = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t self_id;

uint64_t rg_brt_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h != 0 ? h : 1;
}

/* Look for @name from its home slot: its index, or -1 with *@free_at the
 * first free slot met (-1: none). */
static int lookup(const char *name, size_t n, uint64_t h, int *free_at)
{
    *free_at = -1;
    for (unsigned k = 0; k < RG_BRT_SLOTS; k++) {
        unsigned i = (unsigned)(h + k) & (RG_BRT_SLOTS - 1);
        uint64_t key =
            atomic_load_explicit(&slots[i].key, memory_order_acquire);

        if (key == 0) {
            *free_at = (int)i;
            return -1; /* slots are never freed: the name is not further */
        }
        if (key == h && strncmp(slots[i].name, name, RG_BRT_NAME) == 0 &&
            n < RG_BRT_NAME)
            return (int)i;
    }
    return -1;
}

int rg_brt_find(const char *name, int create)
{
    size_t n = strlen(name);
    uint64_t h = hash(name, n);
    int i, free_at;

    if (n == 0 || n >= RG_BRT_NAME)
        return -1;
    i = lookup(name, n, h, &free_at);
    if (i >= 0 || !create)
        return i;
    pthread_mutex_lock(&claim);
    i = lookup(name, n, h, &free_at);
    if (i < 0 && free_at >= 0) {
        struct rg_brt_slot *s = &slots[free_at];

        memcpy(s->name, name, n + 1);
        atomic_store(&s->changed_ms, rg_brt_now_ms());
        atomic_store_explicit(&s->key, h, memory_order_release);
        i = free_at;
    }
    pthread_mutex_unlock(&claim);
    return i;
}

struct rg_brt_slot *rg_brt_at(int i)
{
    return i >= 0 && i < RG_BRT_SLOTS ? &slots[i] : NULL;
}

void rg_brt_set_self(uint64_t id)
{
    atomic_store(&self_id, id);
}

uint64_t rg_brt_self(void)
{
    return atomic_load(&self_id);
}

void rg_brt_publish(int i, enum rg_brt_state st, uint64_t epoch,
                    uint64_t prober, int local)
{
    struct rg_brt_slot *s = rg_brt_at(i);
    uint64_t w = (uint64_t)st | (uint64_t)(local != 0) << 2 | epoch << 3;
    uint64_t old;

    if (s == NULL)
        return;
    old = atomic_load(&s->word);
    if (old == w && atomic_load(&s->prober) == prober)
        return;
    /* Counters first, then the word: a worker that sees the new word
     * counts from zero. */
    atomic_store(&s->fails, 0);
    atomic_store(&s->win_start, 0);
    atomic_store(&s->trials, 0);
    atomic_store(&s->trial_ok, 0);
    atomic_store(&s->prober, prober);
    atomic_store(&s->changed_ms, rg_brt_now_ms());
    atomic_store(&s->word, w);
    if (rg_brt_epoch_of(old) != epoch)
        atomic_store(&s->hold, 0);
}

void rg_brt_hold(int i, uint64_t epoch)
{
    struct rg_brt_slot *s = rg_brt_at(i);

    if (s == NULL || rg_brt_epoch_of(atomic_load(&s->word)) != epoch)
        return;
    atomic_store(&s->hold_ms, rg_brt_now_ms());
    atomic_store(&s->hold, epoch + 1);
}

void rg_brt_unhold(int i)
{
    struct rg_brt_slot *s = rg_brt_at(i);

    if (s != NULL)
        atomic_store(&s->hold, 0);
}

void rg_brt_each(void (*cb)(void *arg, int i, struct rg_brt_slot *s), void *arg)
{
    for (int i = 0; i < RG_BRT_SLOTS; i++)
        if (atomic_load_explicit(&slots[i].key, memory_order_acquire) != 0)
            cb(arg, i, &slots[i]);
}

void rg_brt_clear(void)
{
    memset(slots, 0, sizeof(slots));
}
