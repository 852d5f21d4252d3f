/* The rate-limiting counter tables: see ratelimit_table.h.
 *
 * The takeover protocol. A claimer (holding its key's stripe lock) picks
 * a victim slot and swaps the victim's state for LOCKED, from the state
 * it scored; a take that changed the state first makes it pick again. It
 * then stores the new key and the new key's fresh state. A take that
 * sees LOCKED waits; once the state is fresh it sees the new key and
 * looks for its own key elsewhere. A take whose compare-and-swap landed
 * on the fresh state (it had read the same value before the takeover)
 * sees the new key after its swap, gives the one back and looks again:
 * so no admission is ever counted for the wrong key's benefit. Claims of
 * one key are serialised by the stripe lock and look for the key again
 * under it, so a key never holds two slots. */
#include "plugins/ratelimit_table.h"

#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>

#include "core/failpoint.h"

struct slot {
    _Atomic uint64_t key;   /* 0: free */
    _Atomic uint64_t state; /* hi 32 | lo 32 (see the header); LOCKED
                               while being taken over */
};

struct table {
    struct slot s[RG_RLT_SLOTS];
};

static struct table windows, buckets;

#define LOCKED UINT64_MAX
#define STRIPES 256
static _Atomic unsigned char stripe[STRIPES];

/* How often a take looks for its slot again after losing it to a
 * takeover before it gives up (RG_RLT_BUSY). */
#define RETRIES 16

/* What taking over a slot of state @st costs, 0 for an ended window
 * (lower: a better victim). */
typedef uint64_t score_fn(uint64_t st, uint32_t now);

static uint64_t pack(uint32_t hi, uint32_t lo)
{
    return (uint64_t)hi << 32 | lo;
}

static uint32_t hi_of(uint64_t s) { return (uint32_t)(s >> 32); }
static uint32_t lo_of(uint64_t s) { return (uint32_t)s; }

static uint64_t fix_key(uint64_t key)
{
    return key == 0 || key == LOCKED ? 1 : key;
}

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

/* @s's state, waiting out a takeover in progress. */
static uint64_t load_state(struct slot *s)
{
    uint64_t st;

    while ((st = atomic_load(&s->state)) == LOCKED)
        sched_yield();
    return st;
}

static struct slot *probe_at(struct table *t, uint64_t key, unsigned i)
{
    return &t->s[(key + i) & (RG_RLT_SLOTS - 1)];
}

static struct slot *find(struct table *t, uint64_t key)
{
    for (unsigned i = 0; i < RG_RLT_PROBE; i++) {
        struct slot *s = probe_at(t, key, i);
        if (atomic_load(&s->key) == key)
            return s;
    }
    return NULL;
}

/* Give @key a slot of @t holding @fresh: its own when it has one, else
 * the victim @score picks. NULL when every attempt lost a race. */
static struct slot *claim(struct table *t, uint64_t key, uint32_t now,
                          uint64_t fresh, score_fn *score)
{
    struct slot *got = NULL;

    lock(key);
    for (int attempt = 0; attempt < RETRIES && got == NULL; attempt++) {
        struct slot *best = NULL;
        uint64_t best_score = UINT64_MAX, best_st = 0;

        got = find(t, key);
        if (got != NULL)
            break;
        for (unsigned i = 0; i < RG_RLT_PROBE; i++) {
            struct slot *s = probe_at(t, key, i);
            uint64_t st = atomic_load(&s->state);
            uint64_t k = atomic_load(&s->key);
            uint64_t sc;

            if (st == LOCKED)
                continue;
            sc = k == 0 ? 0 : score(st, now);
            if (best == NULL || sc < best_score) {
                best = s;
                best_score = sc;
                best_st = st;
            }
        }
        if (best == NULL ||
            !atomic_compare_exchange_strong(&best->state, &best_st, LOCKED))
            continue;
        atomic_store(&best->key, key);
        atomic_store(&best->state, fresh);
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

/* Take one off @s, whose state was @st, while it counts the window
 * ending at @end (a take given back, or one that landed on another key's
 * fresh state). */
static void window_undo(struct slot *s, uint64_t st, uint32_t end)
{
    while (st != LOCKED && hi_of(st) == end && lo_of(st) > 0 &&
           !atomic_compare_exchange_weak(&s->state, &st,
                                         pack(end, lo_of(st) - 1)))
        ;
}

/* Take from @s while it is @key's: ADMIT, FULL, or -2 when the slot is
 * another key's now. */
static int window_take_in(struct slot *s, uint64_t key, uint32_t end,
                          uint32_t limit, uint32_t *count)
{
    for (;;) {
        uint64_t st = load_state(s), next;

        if (atomic_load(&s->key) != key)
            return -2;
        if (hi_of(st) < end)
            next = pack(end, 1);
        else if (lo_of(st) >= limit) {
            *count = lo_of(st);
            return RG_RLT_FULL;
        } else
            next = pack(hi_of(st), lo_of(st) + 1);
        if (limit == 0) {
            *count = 0;
            return RG_RLT_FULL;
        }
        if (!atomic_compare_exchange_weak(&s->state, &st, next))
            continue;
        if (atomic_load(&s->key) != key) {
            window_undo(s, next, hi_of(next));
            return -2;
        }
        *count = lo_of(next);
        return RG_RLT_ADMIT;
    }
}

int rg_rlt_take(uint64_t key, uint32_t now, uint32_t end, uint32_t limit,
                uint32_t *count)
{
    key = fix_key(key);
    for (int i = 0; i < RETRIES && !RG_FAILPOINT_ERR("ratelimit_busy"); i++) {
        struct slot *s = find(&windows, key);
        if (s == NULL)
            s = claim(&windows, key, now, pack(end, 0), window_score);
        if (s == NULL)
            continue;
        int rv = window_take_in(s, key, end, limit, count);
        if (rv != -2)
            return rv;
    }
    *count = 0;
    return RG_RLT_BUSY;
}

void rg_rlt_rollback(uint64_t key, uint32_t end)
{
    struct slot *s = find(&windows, fix_key(key));
    uint64_t st;

    if (s == NULL)
        return;
    st = load_state(s);
    if (hi_of(st) == end)
        window_undo(s, st, end);
}

uint32_t rg_rlt_count(uint64_t key, uint32_t end)
{
    struct slot *s = find(&windows, fix_key(key));
    uint64_t st;

    if (s == NULL)
        return 0;
    st = load_state(s);
    return hi_of(st) == end && atomic_load(&s->key) == fix_key(key)
               ? lo_of(st)
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

/* Give a token back to @s, whose state was @st, up to @cap. */
static void bucket_undo(struct slot *s, uint64_t st, uint64_t cap)
{
    while (st != LOCKED && lo_of(st) < cap) {
        uint64_t mt = lo_of(st) + 1000;
        if (atomic_compare_exchange_weak(
                &s->state, &st, pack(hi_of(st), (uint32_t)(mt < cap ? mt : cap))))
            return;
    }
}

/* Take from @s while it is @key's; as window_take_in. */
static int bucket_take_in(struct slot *s, uint64_t key, uint32_t now,
                          uint32_t rate, uint32_t burst, uint32_t *left,
                          uint32_t *wait_ms)
{
    uint64_t cap = (uint64_t)burst * 1000;

    for (;;) {
        uint64_t st = load_state(s), mt, next;
        int32_t age;

        if (atomic_load(&s->key) != key)
            return -2;
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
        if (!atomic_compare_exchange_weak(&s->state, &st, next))
            continue;
        if (atomic_load(&s->key) != key) {
            bucket_undo(s, next, cap);
            return -2;
        }
        *left = lo_of(next) / 1000;
        return RG_RLT_ADMIT;
    }
}

int rg_rlt_bucket_take(uint64_t key, uint32_t now_ms, uint32_t rate,
                       uint32_t burst, uint32_t *left, uint32_t *wait_ms)
{
    key = fix_key(key);
    *wait_ms = 0;
    for (int i = 0; i < RETRIES && !RG_FAILPOINT_ERR("ratelimit_busy"); i++) {
        struct slot *s = find(&buckets, key);
        if (s == NULL)
            s = claim(&buckets, key, now_ms, pack(now_ms, burst * 1000),
                      bucket_score);
        if (s == NULL)
            continue;
        int rv = bucket_take_in(s, key, now_ms, rate, burst, left, wait_ms);
        if (rv != -2)
            return rv;
    }
    *left = 0;
    return RG_RLT_BUSY;
}

void rg_rlt_bucket_rollback(uint64_t key, uint32_t burst)
{
    struct slot *s = find(&buckets, fix_key(key));

    if (s != NULL)
        bucket_undo(s, load_state(s), (uint64_t)burst * 1000);
}

void rg_rlt_clear(void)
{
    for (size_t i = 0; i < RG_RLT_SLOTS; i++) {
        atomic_store(&windows.s[i].key, 0);
        atomic_store(&windows.s[i].state, 0);
        atomic_store(&buckets.s[i].key, 0);
        atomic_store(&buckets.s[i].state, 0);
    }
}
