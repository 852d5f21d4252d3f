/* The node-wide counter table of the rate-limiting plugin (policy local):
 * one fixed-size table shared by every worker of the process, updated
 * with compare-and-swap, never a lock.
 *
 * A slot is a 64-bit key (the caller's hash of plugin instance id, window
 * kind and identifier; 0 is reserved and remapped) and one 64-bit atomic
 * state packing the window's end (seconds since the epoch, 32 bits) and
 * its count (32 bits). Admission is exact once a key's slot exists: a
 * window's count never passes the limit, however many threads take from
 * it at once. KNOWN RACES (review, 2026-12-07; fix before the plugin
 * uses the table): claim() publishes the key before it resets the
 * state, so a concurrent take of the same new key can be wiped, and two
 * threads claiming one new key may claim two slots; either admits past
 * the limit (a stress test with fresh keys saw 2 admitted for limit 1).
 * After RETRIES lost races a take admits uncounted (fail open).
 *
 * Bounded: RG_RLT_SLOTS slots (static storage, 2 MiB, never allocated);
 * a key is looked for in RG_RLT_PROBE consecutive slots from its hash. A
 * free slot or one whose window has ended is reused; when all probed
 * slots are live, the one with the lowest count is taken over and its
 * counting restarts at 0 for the new key (so an evicted key may be
 * admitted again up to its limit: memory stays bounded for
 * high-cardinality identifiers at that price). A thread that was taking
 * from a slot while it was taken over may have its one increment counted
 * for the new key (more restrictive, never more admitted for it).
 *
 * Thread: every function but rg_rlt_clear may be called from any thread
 * at any time. */
#ifndef RG_PLUGINS_RATELIMIT_TABLE_H
#define RG_PLUGINS_RATELIMIT_TABLE_H

#include <stdint.h>

#define RG_RLT_SLOTS (1u << 17)
#define RG_RLT_PROBE 8

/* Take one from @key's window ending at @end (seconds; the window being
 * [end - its length, end)), given @now (seconds, the request's clock) and
 * @limit. Returns 1 when admitted, 0 when the window is full (nothing
 * taken). *@count is set to the window's count after the call (at most
 * @limit). A slot holding a later window of @key (another worker's clock
 * a second ahead) is counted as that window. */
int rg_rlt_take(uint64_t key, uint32_t now, uint32_t end, uint32_t limit,
                uint32_t *count);

/* Give back one that rg_rlt_take admitted for @key's window ending at
 * @end (a request refused by another window). Nothing happens when the
 * slot now holds another key or another window, or a zero count. */
void rg_rlt_rollback(uint64_t key, uint32_t end);

/* The count of @key's window ending at @end, 0 when not in the table. */
uint32_t rg_rlt_count(uint64_t key, uint32_t end);

/* Empty the table. Thread: only while no other thread uses it (tests). */
void rg_rlt_clear(void);

#endif
