/* A map from strings to indexes, for checks that would otherwise compare
 * every pair: duplicate names in a config, references by name or id.
 * Open addressing, FNV-1a. Keys are borrowed and need not be
 * NUL-terminated: they must outlive the map. Not thread-safe. */
#ifndef RG_CORE_STRMAP_H
#define RG_CORE_STRMAP_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct rg_strmap_slot {
    const char *key; /* borrowed; NULL when the slot is free */
    size_t len;
    size_t val;
    uint64_t hash;
};

struct rg_strmap {
    struct rg_strmap_slot *slot; /* owned; cap slots (a power of two) */
    size_t cap;
    size_t n;
    int fold; /* keys compare without ASCII case */
};

/* Initialise empty; @fold: compare keys without ASCII case. No
 * allocation. */
void rg_strmap_init(struct rg_strmap *m, int fold);

/* Free the slots (not the keys) and reset to empty. */
void rg_strmap_release(struct rg_strmap *m);

/* The value of @key (@len bytes), or SIZE_MAX when absent (so values
 * must be below SIZE_MAX). */
size_t rg_strmap_get(const struct rg_strmap *m, const char *key,
                     size_t len);

/* Map @key (@len bytes, borrowed) to @val unless it is present: 0 added,
 * 1 present (the map is unchanged), -ENOMEM. */
int rg_strmap_put(struct rg_strmap *m, const char *key, size_t len,
                  size_t val) RG_MUST_CHECK;

/* 64-bit FNV-1a of @len bytes at @p (the map's hash, without folding):
 * for caches that index by a string and ids derived from text. Not for
 * keys an attacker chooses where collisions cost more than an eviction.
 * rg_fnv1a_more folds @len more bytes into a hash @h (RG_FNV1A_BASIS to
 * start), for text in pieces. */
#define RG_FNV1A_BASIS 0xcbf29ce484222325ULL
uint64_t rg_fnv1a(const void *p, size_t len);
uint64_t rg_fnv1a_more(uint64_t h, const void *p, size_t len);

#endif
