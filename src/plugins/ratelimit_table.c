/* The rate-limiting counter table: see ratelimit_table.h. */
#include "plugins/ratelimit_table.h"

#include <stdatomic.h>
#include <stddef.h>

struct slot {
    _Atomic uint64_t key;   /* 0: free */
    _Atomic uint64_t state; /* window end (s) << 32 | count */
};

static struct slot table[RG_RLT_SLOTS];

/* How often a take looks for its slot again after losing it to a
 * takeover, before admitting without counting (fail open). */
#define RETRIES 16

static uint64_t pack(uint32_t end, uint32_t count)
{
    return (uint64_t)end << 32 | count;
}

static uint32_t end_of(uint64_t s) { return (uint32_t)(s >> 32); }
static uint32_t count_of(uint64_t s) { return (uint32_t)s; }

static uint64_t fix_key(uint64_t key) { return key ? key : 1; }

static struct slot *probe_at(uint64_t key, unsigned i)
{
    return &table[(key + i) & (RG_RLT_SLOTS - 1)];
}

static struct slot *find(uint64_t key)
{
    for (unsigned i = 0; i < RG_RLT_PROBE; i++) {
        struct slot *s = probe_at(key, i);
        if (atomic_load(&s->key) == key)
            return s;
    }
    return NULL;
}

/* Claim a slot for @key: a free one, an ended one, else the live one with
 * the lowest count. NULL when another thread won every race. */
static struct slot *claim(uint64_t key, uint32_t now, uint32_t end)
{
    struct slot *best = NULL;
    uint32_t best_count = UINT32_MAX;

    for (unsigned i = 0; i < RG_RLT_PROBE; i++) {
        struct slot *s = probe_at(key, i);
        uint64_t k = atomic_load(&s->key);
        uint64_t st = atomic_load(&s->state);
        uint32_t c = end_of(st) <= now ? 0 : count_of(st);

        if (k == key)
            return s;
        if (k == 0)
            c = 0;
        if (c < best_count) {
            best = s;
            best_count = c;
        }
    }
    uint64_t old = atomic_load(&best->key);
    if (old == key)
        return best;
    if (!atomic_compare_exchange_strong(&best->key, &old, key))
        return NULL;
    atomic_store(&best->state, pack(end, 0));
    return best;
}

/* One compare-and-swap attempt loop on @s while it is @key's. Returns 1
 * admitted, 0 full, -1 the slot was lost to another key. */
static int take_in(struct slot *s, uint64_t key, uint32_t end,
                   uint32_t limit, uint32_t *count)
{
    uint64_t st = atomic_load(&s->state);

    for (;;) {
        uint64_t next;
        if (atomic_load(&s->key) != key)
            return -1;
        if (end_of(st) < end) {
            if (limit == 0) {
                *count = 0;
                return 0;
            }
            next = pack(end, 1);
        } else if (count_of(st) >= limit) {
            *count = count_of(st);
            return 0;
        } else {
            next = pack(end_of(st), count_of(st) + 1);
        }
        if (atomic_compare_exchange_weak(&s->state, &st, next)) {
            *count = count_of(next);
            return 1;
        }
    }
}

int rg_rlt_take(uint64_t key, uint32_t now, uint32_t end, uint32_t limit,
                uint32_t *count)
{
    key = fix_key(key);
    for (int i = 0; i < RETRIES; i++) {
        struct slot *s = find(key);
        if (!s)
            s = claim(key, now, end);
        if (!s)
            continue;
        int rv = take_in(s, key, end, limit, count);
        if (rv >= 0)
            return rv;
    }
    *count = 0;
    return 1;
}

void rg_rlt_rollback(uint64_t key, uint32_t end)
{
    struct slot *s = find(fix_key(key));
    if (!s)
        return;
    uint64_t st = atomic_load(&s->state);
    while (end_of(st) == end && count_of(st) > 0 &&
           atomic_load(&s->key) == fix_key(key)) {
        if (atomic_compare_exchange_weak(&s->state, &st,
                                         pack(end, count_of(st) - 1)))
            return;
    }
}

uint32_t rg_rlt_count(uint64_t key, uint32_t end)
{
    struct slot *s = find(fix_key(key));
    if (!s)
        return 0;
    uint64_t st = atomic_load(&s->state);
    return end_of(st) == end ? count_of(st) : 0;
}

void rg_rlt_clear(void)
{
    for (size_t i = 0; i < RG_RLT_SLOTS; i++) {
        atomic_store(&table[i].key, 0);
        atomic_store(&table[i].state, 0);
    }
}
