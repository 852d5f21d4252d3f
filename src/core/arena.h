/* Memory for the request path without malloc in steady state.
 *
 * A block cache keeps freed fixed-size blocks for reuse (a free list with
 * a cap), so a worker that has served its first requests allocates
 * nothing more for the next ones. An arena (h2o's mem pool) hands out
 * memory from cached chunks by bumping a pointer and gives everything back
 * at once: every allocation a request makes comes from its arena and is
 * freed when the request ends (docs/style.md, ownership). Work that
 * outlives a single allocation registers a cleanup, run at release in
 * reverse order.
 *
 * Not thread-safe: a cache and the arenas drawing on it belong to one
 * thread (a worker). */
#ifndef RG_CORE_ARENA_H
#define RG_CORE_ARENA_H

#include <stddef.h>

#include "core/err.h"

struct rg_blkcache {
    size_t size;       /* bytes per block */
    unsigned max;      /* blocks kept at most; the rest are freed */
    unsigned n;        /* blocks kept now */
    void *head;        /* free list, linked through each block's start */
};

/* Initialise an empty cache of @size-byte blocks (>= sizeof(void *))
 * keeping at most @max. No allocation. */
void rg_blkcache_init(struct rg_blkcache *c, size_t size, unsigned max);

/* Free every kept block. The cache may be used again. */
void rg_blkcache_release(struct rg_blkcache *c);

/* A block of c->size bytes (contents undefined), or NULL on ENOMEM. */
void *rg_blk_get(struct rg_blkcache *c);

/* Give @p (from rg_blk_get on @c) back; accepts NULL. */
void rg_blk_put(struct rg_blkcache *c, void *p);

#define RG_ARENA_CHUNK 4096 /* bytes per arena chunk (the cache's size) */
#define RG_ARENA_KEEP 256   /* chunks a worker's cache keeps (1 MiB) */

struct rg_arena_chunk;
struct rg_arena_big;
struct rg_arena_cleanup;

struct rg_arena {
    struct rg_blkcache *cache;      /* borrowed: where chunks come from and
                                       go back to; NULL = malloc/free */
    struct rg_arena_chunk *chunks;  /* owned, newest first */
    char *cur;                      /* free space in the newest chunk */
    size_t left;                    /* bytes at cur */
    struct rg_arena_big *bigs;      /* owned: allocations too large for a
                                       chunk, each its own malloc */
    struct rg_arena_cleanup *cleanups; /* newest first */
    size_t used;                    /* bytes handed out, for limits */
};

/* Initialise an empty arena drawing chunks from @cache (kept until
 * rg_arena_release; its blocks must be RG_ARENA_CHUNK bytes; NULL: plain
 * rg_malloc). No allocation. */
void rg_arena_init(struct rg_arena *a, struct rg_blkcache *cache);

/* @n bytes aligned for any type, valid until rg_arena_release, or NULL on
 * ENOMEM. Requests over a quarter chunk get a block of their own. */
void *rg_arena_alloc(struct rg_arena *a, size_t n);

/* The same, zeroed. */
void *rg_arena_calloc(struct rg_arena *a, size_t n);

/* A NUL-terminated copy of @n bytes of @s, or NULL on ENOMEM. */
char *rg_arena_strndup(struct rg_arena *a, const char *s, size_t n);

/* Move the @old_n bytes at @p (from @a, or NULL) into a fresh block of
 * @new_n bytes (@new_n >= @old_n). The old memory stays allocated until
 * release. NULL on ENOMEM (@p unchanged). */
void *rg_arena_grow(struct rg_arena *a, void *p, size_t old_n, size_t new_n);

/* A byte buffer that grows in an arena (a buffered body). */
struct rg_arena_buf {
    char *p;
    size_t len, cap;
};

/* Append @n bytes at @p to @b, growing it in @a (doubling). 0, -E2BIG
 * when @b would pass @max bytes (nothing appended), -ENOMEM. */
int rg_arena_buf_add(struct rg_arena *a, struct rg_arena_buf *b,
                     const void *p, size_t n, size_t max) RG_MUST_CHECK;

/* Run @fn(@arg) when @a is released, after the cleanups registered later.
 * 0 or -ENOMEM (then @fn is never called). */
int rg_arena_defer(struct rg_arena *a, void (*fn)(void *arg), void *arg)
    RG_MUST_CHECK;

/* Run the cleanups (newest first), then free everything; @a is left
 * empty and may be used again. */
void rg_arena_release(struct rg_arena *a);

#endif
