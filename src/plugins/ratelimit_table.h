/* The node-wide counter tables of the rate-limiting plugin (policy
 * local): fixed windows and token buckets, each one fixed-size table
 * shared by every worker of the process. A slot is a 64-bit key (the
 * caller's keyed hash of route, service, window and identifier; 0 is
 * reserved and remapped) and a 64-bit state, and every change to a slot
 * is one 16-byte compare-and-swap of both, so a take, a give-back or a
 * takeover either applies to the key it read or fails and looks again: a
 * count is never moved to another key. A request taking from a key that
 * has its slot never locks. Claiming a slot for a new key takes one of
 * 256 spin locks (chosen by the key, so two claims of one key are
 * serialised and a key never holds two slots).
 *
 * The state:
 *   window: its end (seconds since the epoch, 32 bits) and its count
 *     (32 bits). A window's count never passes the limit, however many
 *     threads take from it at once.
 *   bucket: its last refill (ms on the caller's clock, 32 bits, wrapping)
 *     and its tokens (thousandths, 32 bits).
 *
 * Bounded: RG_RLT_SLOTS slots per table (static storage, 4 MiB each,
 * never allocated); a key is looked for in RG_RLT_PROBE consecutive
 * slots from its hash. EVICTION: a free slot, or a window that has
 * ended, is reused; when all probed slots are live the one with the
 * lowest count (windows) or the longest untouched (buckets) is taken
 * over, and the evicted key starts again from nothing when it comes back
 * (an empty window, a full bucket). So admission is exact for a key as
 * long as it keeps its slot; memory stays bounded for high-cardinality
 * identifiers at the price of evicted keys.
 *
 * Thread: every function but rg_rlt_clear may be called from any thread
 * at any time. */
#ifndef RG_PLUGINS_RATELIMIT_TABLE_H
#define RG_PLUGINS_RATELIMIT_TABLE_H

#include <stdint.h>

#define RG_RLT_SLOTS (1u << 17)
#define RG_RLT_PROBE 8

/* Largest bucket capacity and rate (tokens, tokens/s): thousandths of
 * a token fit 32 bits. */
#define RG_RLT_BURST_MAX 1000000u
#define RG_RLT_RATE_MAX 1000000u

/* What a take answers. */
enum {
    RG_RLT_FULL = 0,     /* refused: nothing taken */
    RG_RLT_ADMIT = 1,    /* taken */
    RG_RLT_BUSY = -1,    /* its slot was taken over 16 times in a
                            row (rare: the review saw one in 8M takes
                            under forced contention, with an earlier
                            protocol); the caller applies
                            fault_tolerant */
};

/* Take one from @key's window ending at @end (seconds; the window being
 * [end - its length, end)), given @now (seconds, the request's clock) and
 * @limit. *@count is the window's count after the call (at most @limit).
 * A slot holding a later window of @key (another worker's clock a second
 * ahead) is counted as that window. */
int rg_rlt_take(uint64_t key, uint32_t now, uint32_t end, uint32_t limit,
                uint32_t *count);

/* Give back one that rg_rlt_take admitted for @key's window ending at
 * @end (a request refused by another limit). Nothing happens when the
 * slot now holds another key or another window, or a zero count. */
void rg_rlt_rollback(uint64_t key, uint32_t end);

/* The count of @key's window ending at @end, 0 when not in the table. */
uint32_t rg_rlt_count(uint64_t key, uint32_t end);

/* Take one token from @key's bucket, refilled at @rate tokens/s up to
 * @burst (both 1..RG_RLT_*_MAX), at @now_ms (ms, one monotonic clock for
 * all callers, wrapping; a clock up to a minute behind the bucket's
 * refills nothing, further behind means the bucket sat untouched past
 * the wrap and it is full). A new key starts full.
 * *@left is the whole tokens left, *@wait_ms (on FULL) how long until
 * one is there. */
int rg_rlt_bucket_take(uint64_t key, uint32_t now_ms, uint32_t rate,
                       uint32_t burst, uint32_t *left, uint32_t *wait_ms);

/* Give back the token rg_rlt_bucket_take took (capped at @burst). */
void rg_rlt_bucket_rollback(uint64_t key, uint32_t burst);

/* Empty both tables. Thread: only while no other thread uses them
 * (tests). */
void rg_rlt_clear(void);

#endif
