/* The proxy-cache's store (plugins/proxy_cache.c): one LRU per worker
 * thread (thread-local: the request path takes no lock to read it),
 * bounded in bytes, with purges that reach every worker of the process.
 *
 * An entry is one allocation holding its key, the response's status,
 * header lines and body; it never changes once put (only its LRU links
 * move), so a pointer from rg_cache_get stays good until the same thread
 * calls into the store again.
 *
 * Bound: a put evicts from the least recently used end until the
 * thread's entries (key, header lines, body and a fixed overhead each,
 * rg_cache_entry_size) fit in the put's @cap with the new one; an entry
 * larger than @cap alone is not stored. Expired entries go when a lookup
 * meets them past their stale window, or when eviction reaches them.
 *
 * Purges (the admin API, any thread): rg_cache_purge appends to a
 * process-wide log (a ring of RG_CACHE_PURGE_LOG records under a mutex)
 * and bumps an atomic sequence; each thread compares the sequence with
 * the one it has applied on its next get or put (one relaxed load when
 * nothing changed) and applies the records it missed (all of its entries
 * when it fell more than the ring behind). A purged entry is never
 * served after rg_cache_purge returns: a get applies the log first.
 *
 * Inspection (rg_cache_find, any thread): every thread's store is
 * registered; a thread takes its store's mutex only to link or unlink an
 * entry in the hash table (puts, removals: the miss path), never on a
 * hit, and the inspecting thread takes it to walk the table. */
#ifndef RG_PLUGINS_CACHE_STORE_H
#define RG_PLUGINS_CACHE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define RG_CACHE_PURGE_LOG 256
#define RG_CACHE_ENTRY_OVERHEAD                                                \
    128 /* bytes counted per entry besides                                     \
           its key, headers and body */

struct rg_cache_entry {
    uint64_t hash;       /* rg_cache_hash of the key */
    uint64_t stored_ms;  /* rg_cache_now_ms at the put */
    uint64_t expires_ms; /* fresh until then */
    uint64_t keep_ms;    /* kept (stale-if-error, Refresh) until */
    uint64_t purge_seq;  /* the purge sequence its thread had applied */
    int status;
    const char *key; /* the key bytes, in the entry */
    size_t key_len;
    const char *fields; /* "Name: value\r\n"... */
    size_t fields_len;
    const char *body;
    size_t body_len;
    size_t size; /* what it counts against the bound */
    /* the store's links */
    struct rg_cache_entry *hnext, *lprev, *lnext;
};

/* What rg_cache_put stores (copied). */
struct rg_cache_put {
    const char *key;
    size_t key_len;
    int status;
    const char *fields;
    size_t fields_len;
    const char *body;
    size_t body_len;
    uint64_t now_ms, ttl_ms, keep_ms; /* keep_ms >= ttl_ms: how long it
                                         stays after now_ms */
};

/* A monotonic clock in milliseconds, the same in every thread. */
uint64_t rg_cache_now_ms(void);

/* The 64-bit hash of a key (FNV-1a), and its 16 lower-case hex digits
 * with a NUL in @out[17] (the X-Cache-Key). */
uint64_t rg_cache_hash(const char *key, size_t len);
void rg_cache_hex(uint64_t hash, char out[17]);
/* Back: @s of @len bytes, exactly 16 hex digits in any case, into *@out:
 * 0, or -EINVAL. */
int rg_cache_unhex(const char *s, size_t len, uint64_t *out);

/* The calling thread's entry for @key (@hash its rg_cache_hash) while
 * @now_ms is before its keep_ms, else NULL (an entry past it is freed).
 * *@fresh: before expires_ms. A fresh hit moves to the LRU front. */
const struct rg_cache_entry *rg_cache_get(uint64_t hash, const char *key,
                                          size_t len, uint64_t now_ms,
                                          int *fresh);

/* Store @p in the calling thread's cache, replacing an entry of the same
 * key, within @cap bytes (see the bound above). 0, -E2BIG (larger than
 * @cap: nothing stored, an older entry of the key is dropped) or
 * -ENOMEM. */
int rg_cache_put(const struct rg_cache_put *p, size_t cap) RG_MUST_CHECK;

/* Drop the calling thread's entry for @key, if any. */
void rg_cache_drop(uint64_t hash, const char *key, size_t len);

/* Purge the entries of every thread whose hash is @hash, or (@all) every
 * entry. Any thread. */
void rg_cache_purge(int all, uint64_t hash);

/* How many threads hold an unpurged entry with hash @hash fresh at
 * @now_ms; when @out is not NULL, the first one found is copied there
 * without its pointers (key, fields and body NULL). Any thread. */
unsigned rg_cache_find(uint64_t hash, uint64_t now_ms,
                       struct rg_cache_entry *out);

/* The calling thread's entry count and bytes counted (tests, stats). */
size_t rg_cache_count(void);
size_t rg_cache_bytes(void);

/* Free the calling thread's entries and unregister its store (thread
 * exit, tests). */
void rg_cache_thread_free(void);

#endif
