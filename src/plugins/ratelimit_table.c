/* The rate-limiting counter tables: see ratelimit_table.h.
 *
 * Every change to a slot is a 16-byte compare-and-swap of {key, state}
 * from the exact pair the caller read, so it applies to that key's state
 * or fails (and the caller reads the pair again). Reads of both halves
 * go through the same instruction (a swap of 0 for 0), so a decision
 * (full, or which window) is never made on a torn pair. find() reads the
 * key half alone: it only locates, the swap checks. Claims of one key
 * are serialised by its stripe lock and look for the key again under
 * it, so a key never holds two slots. */
#include "plugins/ratelimit_table.h"

#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>

#include "core/failpoint.h"

typedef unsigned __int128 pair_t;

union slot {
    pair_t v; /* what the swap works on */
    struct {
        uint64_t key;   /* 0: free */
        uint64_t state; /* hi 32 | lo 32 (see the header) */
    } h;
} __attribute__((aligned(16)));

struct table {
    union slot s[RG_RLT_SLOTS];
};

static struct table windows, buckets;

#define STRIPES 256
static _Atomic unsigned char stripe[STRIPES];

/* How often a take looks for its slot again after losing it to a
 * takeover before it gives up (RG_RLT_BUSY). */
#define RETRIES 16

/* A take's answer when its slot holds another key now. */
#define LOST (-2)

/* What taking over a slot of state @st costs, 0 for an ended window
 * (lower: a better victim). */
typedef uint64_t score_fn(uint64_t st, uint32_t now);

static uint64_t pack(uint32_t hi, uint32_t lo)
{
    return (uint64_t)hi << 32 | lo;
}

static uint32_t hi_of(uint64_t s) { return (uint32_t)(s >> 32); }
static uint32_t lo_of(uint64_t s) { return (uint32_t)s; }

static pair_t pair(uint64_t key, uint64_t state)
{
    union slot x;

    x.h.key = key;
    x.h.state = state;
    return x.v;
}

static uint64_t key_of(pair_t v)
{
    union slot x = {.v = v};

    return x.h.key;
}

static uint64_t state_of(pair_t v)
{
    union slot x = {.v = v};

    return x.h.state;
}

/* Swap @s from @old to @new; the pair it held (== @old: done). */
static pair_t swap(union slot *s, pair_t old, pair_t new)
{
    return __sync_val_compare_and_swap(&s->v, old, new);
}

/* Both halves of @s at one instant. */
static pair_t read_pair(union slot *s)
{
    return swap(s, 0, 0);
}

static uint64_t fix_key(uint64_t key) { return key == 0 ? 1 : key; }

static void lock(uint64_t key)
{
    _Atomic unsigned char *l = &stripe[key % STRIPES];

    while (atomic_exchange_explicit(l, 1, memory_order_acquire))
        while (atomic_load_explicit(l, memory_order_relaxed))
            sched_yield();
}

static void unlock(uint64_t key)
{
    atomic_store_explicit(&stripe[key % STRIPES], 0, memory_order_release);
}

static union slot *probe_at(struct table *t, uint64_t key, unsigned i)
{
    return &t->s[(key + i) & (RG_RLT_SLOTS - 1)];
}

static union slot *find(struct table *t, uint64_t key)
{
    for (unsigned i = 0; i < RG_RLT_PROBE; i++) {
        union slot *s = probe_at(t, key, i);
        if (__atomic_load_n(&s->h.key, __ATOMIC_ACQUIRE) == key)
            return s;
    }
    return NULL;
}

/* Give @key a slot of @t holding @fresh: its own when it has one, else
 * the victim @score picks. NULL when every attempt lost a race. */
static union slot *claim(struct table *t, uint64_t key, uint32_t now,
                         uint64_t fresh, score_fn *score)
{
    union slot *got = NULL;

    lock(key);
    for (int attempt = 0; attempt < RETRIES && got == NULL; attempt++) {
        union slot *best = NULL;
        uint64_t best_score = UINT64_MAX;
        pair_t best_v = 0;

        got = find(t, key);
        if (got != NULL)
            break;
        for (unsigned i = 0; i < RG_RLT_PROBE; i++) {
            union slot *s = probe_at(t, key, i);
            pair_t v = read_pair(s);
            uint64_t sc = key_of(v) == 0 ? 0 : score(state_of(v), now);

            if (best == NULL || sc < best_score) {
                best = s;
                best_score = sc;
                best_v = v;
            }
        }
        if (swap(best, best_v, pair(key, fresh)) == best_v)
            got = best;
    }
    unlock(key);
    return got;
}

/* ---- windows ---- */

static uint64_t window_score(uint64_t st, uint32_t now)
{
    return hi_of(st) <= now ? 0 : (uint64_t)lo_of(st) + 1;
}

/* Take from @s while it is @key's: ADMIT, FULL, or LOST. */
static int window_take_in(union slot *s, uint64_t key, uint32_t end,
                          uint32_t limit, uint32_t *count)
{
    pair_t cur = read_pair(s);

    for (;;) {
        uint64_t st = state_of(cur), next;
        pair_t prev;

        if (key_of(cur) != key)
            return LOST;
        if (limit == 0) {
            *count = 0;
            return RG_RLT_FULL;
        }
        if (hi_of(st) < end) {
            next = pack(end, 1);
        } else if (lo_of(st) >= limit) {
            *count = lo_of(st);
            return RG_RLT_FULL;
        } else {
            next = pack(hi_of(st), lo_of(st) + 1);
        }
        prev = swap(s, cur, pair(key, next));
        if (prev == cur) {
            *count = lo_of(next);
            return RG_RLT_ADMIT;
        }
        cur = prev;
    }
}

int rg_rlt_take(uint64_t key, uint32_t now, uint32_t end, uint32_t limit,
                uint32_t *count)
{
    key = fix_key(key);
    *count = 0;
    if (RG_FAILPOINT_ERR("ratelimit_busy"))
        return RG_RLT_BUSY;
    for (int i = 0; i < RETRIES; i++) {
        union slot *s = find(&windows, key);
        if (s == NULL)
            s = claim(&windows, key, now, pack(end, 0), window_score);
        if (s == NULL)
            continue;
        int rv = window_take_in(s, key, end, limit, count);
        if (rv != LOST)
            return rv;
    }
    return RG_RLT_BUSY;
}

void rg_rlt_rollback(uint64_t key, uint32_t end)
{
    union slot *s;
    pair_t cur;

    key = fix_key(key);
    s = find(&windows, key);
    if (s == NULL)
        return;
    cur = read_pair(s);
    while (key_of(cur) == key && hi_of(state_of(cur)) == end &&
           lo_of(state_of(cur)) > 0) {
        pair_t prev =
            swap(s, cur, pair(key, pack(end, lo_of(state_of(cur)) - 1)));
        if (prev == cur)
            return;
        cur = prev;
    }
}

uint32_t rg_rlt_count(uint64_t key, uint32_t end)
{
    union slot *s;
    pair_t cur;

    key = fix_key(key);
    s = find(&windows, key);
    if (s == NULL)
        return 0;
    cur = read_pair(s);
    return key_of(cur) == key && hi_of(state_of(cur)) == end
               ? lo_of(state_of(cur))
               : 0;
}

/* ---- token buckets ---- */

/* A bucket's clock behind the caller's by more than this is one whose
 * last refill is so old that the 32-bit ms wrapped (callers' clocks, one
 * monotonic clock read by every worker, differ by far less). */
#define IDLE_WRAP_MS 60000

/* The longest untouched goes first. */
static uint64_t bucket_score(uint64_t st, uint32_t now)
{
    int32_t age = (int32_t)(now - hi_of(st));

    if (age < -IDLE_WRAP_MS)
        return 0;
    return age > 0 ? UINT32_MAX - (uint32_t)age : UINT32_MAX;
}

/* Take from @s while it is @key's; as window_take_in. */
static int bucket_take_in(union slot *s, uint64_t key, uint32_t now,
                          uint32_t rate, uint32_t burst, uint32_t *left,
                          uint32_t *wait_ms)
{
    uint64_t cap = (uint64_t)burst * 1000;
    pair_t cur = read_pair(s);

    for (;;) {
        uint64_t st = state_of(cur), mt, next;
        int32_t age;
        pair_t prev;

        if (key_of(cur) != key)
            return LOST;
        age = (int32_t)(now - hi_of(st));
        mt = lo_of(st);
        if (age < -IDLE_WRAP_MS)
            age = INT32_MAX; /* untouched for over 24 days: the 32-bit ms
                                wrapped; it is full again */
        if (age > 0) {
            mt += (uint64_t)age * rate; /* rate tokens/s = thousandths/ms */
            if (mt > cap)
                mt = cap;
        }
        if (mt < 1000) {
            *left = 0;
            *wait_ms = (uint32_t)((1000 - mt + rate - 1) / rate);
            return RG_RLT_FULL;
        }
        next = pack(age > 0 ? now : hi_of(st), (uint32_t)(mt - 1000));
        prev = swap(s, cur, pair(key, next));
        if (prev == cur) {
            *left = lo_of(next) / 1000;
            return RG_RLT_ADMIT;
        }
        cur = prev;
    }
}

int rg_rlt_bucket_take(uint64_t key, uint32_t now_ms, uint32_t rate,
                       uint32_t burst, uint32_t *left, uint32_t *wait_ms)
{
    key = fix_key(key);
    *wait_ms = 0;
    *left = 0;
    if (RG_FAILPOINT_ERR("ratelimit_busy"))
        return RG_RLT_BUSY;
    for (int i = 0; i < RETRIES; i++) {
        union slot *s = find(&buckets, key);
        if (s == NULL)
            s = claim(&buckets, key, now_ms, pack(now_ms, burst * 1000),
                      bucket_score);
        if (s == NULL)
            continue;
        int rv = bucket_take_in(s, key, now_ms, rate, burst, left, wait_ms);
        if (rv != LOST)
            return rv;
    }
    return RG_RLT_BUSY;
}

void rg_rlt_bucket_rollback(uint64_t key, uint32_t burst)
{
    uint64_t cap = (uint64_t)burst * 1000;
    union slot *s;
    pair_t cur;

    key = fix_key(key);
    s = find(&buckets, key);
    if (s == NULL)
        return;
    cur = read_pair(s);
    while (key_of(cur) == key && lo_of(state_of(cur)) < cap) {
        uint64_t st = state_of(cur), mt = lo_of(st) + 1000;
        pair_t prev = swap(
            s, cur, pair(key, pack(hi_of(st), (uint32_t)(mt < cap ? mt : cap))));
        if (prev == cur)
            return;
        cur = prev;
    }
}

void rg_rlt_clear(void)
{
    for (size_t i = 0; i < RG_RLT_SLOTS; i++) {
        windows.s[i].v = 0;
        buckets.s[i].v = 0;
    }
}
