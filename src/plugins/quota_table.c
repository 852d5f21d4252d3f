/* The lease table: see quota_table.h. Keys are found by a SipHash of
 * their text with linear probing over the whole table; a claim takes a
 * free slot with one compare-and-swap (0 -> 1), writes the key and then
 * publishes its hash (release), so a reader that sees the hash sees the
 * key. Slots are never freed while the process runs. */
#include "plugins/quota_table.h"

#include <stdio.h>
#include <string.h>

#include "core/ctlq.h"
#include "core/siphash.h"

static struct rg_qt_slot slots[RG_QT_SLOTS];
static char node_name[64];
static uint64_t incarnation;
static int debug_header, enabled;

void rg_qt_identity(const char *name, uint64_t inc, int debug)
{
    snprintf(node_name, sizeof(node_name), "%s", name ? name : "");
    incarnation = inc;
    debug_header = debug;
}

const char *rg_qt_node_name(void) { return node_name; }
uint64_t rg_qt_incarnation(void) { return incarnation; }
int rg_qt_debug_header(void) { return debug_header; }

void rg_qt_enable(int on)
{
    __atomic_store_n(&enabled, on, __ATOMIC_RELEASE);
}

int rg_qt_enabled(void)
{
    return __atomic_load_n(&enabled, __ATOMIC_ACQUIRE);
}

struct rg_qt_slot *rg_qt_at(unsigned i)
{
    return &slots[i % RG_QT_SLOTS];
}

static int same(const struct rg_qt_slot *s, const char *key, size_t len,
                unsigned unit)
{
    return s->key_len == len && s->unit == unit &&
           memcmp(s->key, key, len) == 0;
}

int rg_qt_find(const char *key, size_t len, unsigned unit, uint32_t limit)
{
    uint64_t h;

    if (len == 0 || len > RG_QT_KEY_MAX)
        return -1;
    h = rg_siphash_process(key, len) ^ unit;
    if (h < 2)
        h += 2;
    for (unsigned k = 0; k < RG_QT_SLOTS; k++) {
        unsigned i = (unsigned)(h + k) & (RG_QT_SLOTS - 1);
        struct rg_qt_slot *s = &slots[i];
        uint64_t cur = atomic_load_explicit(&s->hash, memory_order_acquire);

        if (cur == 0) {
            uint64_t zero = 0;

            if (!atomic_compare_exchange_strong(&s->hash, &zero, 1)) {
                cur = zero;
            } else {
                memcpy(s->key, key, len);
                s->key[len] = '\0';
                s->key_len = len;
                s->unit = (uint8_t)unit;
                atomic_store(&s->limit, limit);
                atomic_store_explicit(&s->hash, h, memory_order_release);
                return (int)i;
            }
        }
        while (cur == 1) /* being claimed: its key is a moment away */
            cur = atomic_load_explicit(&s->hash, memory_order_acquire);
        if (cur == h && same(s, key, len, unit)) {
            if (atomic_load_explicit(&s->limit, memory_order_relaxed) != limit)
                atomic_store_explicit(&s->limit, limit, memory_order_relaxed);
            return (int)i;
        }
    }
    return -1;
}

void rg_qt_ask(unsigned i, uint64_t now_ms, int force)
{
    struct rg_qt_slot *s = rg_qt_at(i);
    struct rg_ctlq_msg m = {RG_CTLQ_QUOTA, i, 0};
    uint32_t no = 0, every = atomic_load_explicit(&s->retry_ms,
                                                  memory_order_relaxed);

    if (every < RG_QT_RETRY_MS)
        every = RG_QT_RETRY_MS;
    if (!force && atomic_load_explicit(&s->remaining, memory_order_relaxed) ==
                      0 &&
        atomic_load_explicit(&s->window, memory_order_relaxed) != 0 &&
        now_ms - atomic_load_explicit(&s->asked_ms, memory_order_relaxed) <
            every)
        return;
    if (!atomic_compare_exchange_strong(&s->asked, &no, 1))
        return;
    atomic_store_explicit(&s->asked_ms, now_ms, memory_order_relaxed);
    if (rg_ctlq_post(&m) != 0) /* full: a later request asks again */
        atomic_store(&s->asked, 0);
}

enum rg_qt_take rg_qt_take(unsigned i, uint64_t now_ms, int first,
                           uint64_t *window)
{
    struct rg_qt_slot *s = rg_qt_at(i);
    int64_t b;

    if (first)
        atomic_fetch_add_explicit(&s->hits, 1, memory_order_relaxed);
    /* The window is read before and after the take (sequentially
     * consistent, as the control thread's empty-window-fill order in
     * control/quota.c install): when both reads agree the token is of
     * that window; when they differ a new window came in between and the
     * token's window is not known, so it is forfeited (never admitted
     * under the wrong window's name) and the take goes on. */
    uint64_t w1 = atomic_load(&s->window);

    b = atomic_load(&s->balance);
    while (b > 0 &&
           now_ms < atomic_load_explicit(&s->expires_ms,
                                         memory_order_acquire)) {
        if (atomic_compare_exchange_weak(&s->balance, &b, b - 1)) {
            uint64_t w2 = atomic_load(&s->window);

            if (w2 != w1) {
                w1 = w2;
                b = atomic_load(&s->balance);
                continue;
            }
            atomic_fetch_add_explicit(&s->used, 1, memory_order_relaxed);
            *window = w1;
            if ((uint64_t)(b - 1) <=
                atomic_load_explicit(&s->low_water, memory_order_relaxed))
                rg_qt_ask(i, now_ms, 0);
            return RG_QT_TAKEN;
        }
    }
    if (atomic_load_explicit(&s->asked, memory_order_acquire))
        return RG_QT_WAIT;
    {
        uint64_t failed = atomic_load_explicit(&s->failed_ms,
                                               memory_order_relaxed);

        if (failed != 0 && now_ms - failed < RG_QT_CUT_MS)
            return RG_QT_CUT;
    }
    if (atomic_load_explicit(&s->window, memory_order_relaxed) != 0 &&
        atomic_load_explicit(&s->remaining, memory_order_relaxed) == 0 &&
        now_ms < atomic_load_explicit(&s->expires_ms, memory_order_relaxed)) {
        rg_qt_ask(i, now_ms, 0); /* at most every retry_ms */
        return RG_QT_EXHAUSTED;
    }
    rg_qt_ask(i, now_ms, 1);
    return RG_QT_WAIT;
}

void rg_qt_lease_id(unsigned i, uint64_t window, char *out, size_t cap)
{
    snprintf(out, cap, "%s.%08x.%u.%llu", node_name,
             (unsigned)(incarnation & 0xffffffffu), i % RG_QT_SLOTS,
             (unsigned long long)window);
}

void rg_qt_clear(void)
{
    memset(slots, 0, sizeof(slots));
}
