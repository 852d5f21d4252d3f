/* Block caches and arenas; see arena.h. */
#include "core/arena.h"

#include <errno.h>
#include <stdalign.h>
#include <stdint.h>
#include <string.h>

#include "core/alloc.h"

#define ALIGN (alignof(max_align_t))
#define BIG (RG_ARENA_CHUNK / 4) /* larger requests get their own block */

struct rg_arena_chunk {
    struct rg_arena_chunk *next;
    alignas(max_align_t) char data[];
};

struct rg_arena_big {
    struct rg_arena_big *next;
    alignas(max_align_t) char data[];
};

struct rg_arena_cleanup {
    struct rg_arena_cleanup *next;
    void (*fn)(void *arg);
    void *arg;
};

void rg_blkcache_init(struct rg_blkcache *c, size_t size, unsigned max)
{
    c->size = size;
    c->max = max;
    c->n = 0;
    c->head = NULL;
}

void rg_blkcache_release(struct rg_blkcache *c)
{
    while (c->head != NULL) {
        void *p = c->head;

        c->head = *(void **)p;
        rg_free(p);
    }
    c->n = 0;
}

void *rg_blk_get(struct rg_blkcache *c)
{
    void *p = c->head;

    if (p == NULL)
        return rg_malloc(c->size);
    c->head = *(void **)p;
    c->n--;
    return p;
}

void rg_blk_put(struct rg_blkcache *c, void *p)
{
    if (p == NULL)
        return;
    if (c->n >= c->max) {
        rg_free(p);
        return;
    }
    *(void **)p = c->head;
    c->head = p;
    c->n++;
}

void rg_arena_init(struct rg_arena *a, struct rg_blkcache *cache)
{
    memset(a, 0, sizeof(*a));
    a->cache = cache;
}

static struct rg_arena_chunk *chunk_new(struct rg_arena *a)
{
    return a->cache ? rg_blk_get(a->cache) : rg_malloc(RG_ARENA_CHUNK);
}

static void chunk_free(struct rg_arena *a, struct rg_arena_chunk *c)
{
    if (a->cache != NULL)
        rg_blk_put(a->cache, c);
    else
        rg_free(c);
}

static void *big_alloc(struct rg_arena *a, size_t n)
{
    struct rg_arena_big *b;

    if (n > SIZE_MAX - sizeof(*b))
        return NULL;
    b = rg_malloc(sizeof(*b) + n);
    if (b == NULL)
        return NULL;
    b->next = a->bigs;
    a->bigs = b;
    a->used += n;
    return b->data;
}

void *rg_arena_alloc(struct rg_arena *a, size_t n)
{
    struct rg_arena_chunk *c;
    size_t need = (n + ALIGN - 1) & ~(ALIGN - 1);
    void *p;

    if (n > BIG)
        return big_alloc(a, n);
    if (need > a->left) {
        c = chunk_new(a);
        if (c == NULL)
            return NULL;
        c->next = a->chunks;
        a->chunks = c;
        a->cur = c->data;
        a->left = RG_ARENA_CHUNK - offsetof(struct rg_arena_chunk, data);
    }
    p = a->cur;
    a->cur += need;
    a->left -= need;
    a->used += need;
    return p;
}

void *rg_arena_calloc(struct rg_arena *a, size_t n)
{
    void *p = rg_arena_alloc(a, n);

    if (p != NULL)
        memset(p, 0, n);
    return p;
}

char *rg_arena_strndup(struct rg_arena *a, const char *s, size_t n)
{
    char *p = n < SIZE_MAX ? rg_arena_alloc(a, n + 1) : NULL;

    if (p != NULL) {
        if (n > 0)
            memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void *rg_arena_grow(struct rg_arena *a, void *p, size_t old_n, size_t new_n)
{
    void *np = rg_arena_alloc(a, new_n);

    if (np != NULL && old_n > 0)
        memcpy(np, p, old_n);
    return np;
}

int rg_arena_buf_add(struct rg_arena *a, struct rg_arena_buf *b,
                     const void *p, size_t n, size_t max)
{
    if (n > max || b->len > max - n)
        return -E2BIG;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        char *np;

        while (cap < b->len + n && cap <= max / 2)
            cap *= 2;
        if (cap > max || cap < b->len + n)
            cap = max;
        np = rg_arena_grow(a, b->p, b->len, cap);
        if (np == NULL)
            return -ENOMEM;
        b->p = np;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

int rg_arena_defer(struct rg_arena *a, void (*fn)(void *arg), void *arg)
{
    struct rg_arena_cleanup *c = rg_arena_alloc(a, sizeof(*c));

    if (c == NULL)
        return -ENOMEM;
    c->fn = fn;
    c->arg = arg;
    c->next = a->cleanups;
    a->cleanups = c;
    return 0;
}

void rg_arena_release(struct rg_arena *a)
{
    struct rg_blkcache *cache = a->cache;

    /* A cleanup may allocate from @a (rarely): run them until none is
     * left, each once, before any memory goes. */
    while (a->cleanups != NULL) {
        struct rg_arena_cleanup *c = a->cleanups;

        a->cleanups = c->next;
        c->fn(c->arg);
    }
    while (a->bigs != NULL) {
        struct rg_arena_big *b = a->bigs;

        a->bigs = b->next;
        rg_free(b);
    }
    while (a->chunks != NULL) {
        struct rg_arena_chunk *c = a->chunks;

        a->chunks = c->next;
        chunk_free(a, c);
    }
    rg_arena_init(a, cache);
}
