/* String-to-index map: open addressing with linear probing, grown to
 * keep the load under one half. */
#include "core/strmap.h"

#include <errno.h>
#include <string.h>

#include "core/alloc.h"

#define STRMAP_MIN 16

static unsigned char fold_byte(const struct rg_strmap *m, unsigned char c)
{
    return m->fold && c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static uint64_t hash(const struct rg_strmap *m, const char *key, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < len; i++) {
        h ^= fold_byte(m, (unsigned char)key[i]);
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t rg_fnv1a_more(uint64_t h, const void *p, size_t len)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t rg_fnv1a(const void *p, size_t len)
{
    return rg_fnv1a_more(RG_FNV1A_BASIS, p, len);
}

static int same(const struct rg_strmap *m, const struct rg_strmap_slot *s,
                const char *key, size_t len, uint64_t h)
{
    if (s->hash != h || s->len != len)
        return 0;
    if (!m->fold)
        return memcmp(s->key, key, len) == 0;
    for (size_t i = 0; i < len; i++)
        if (fold_byte(m, (unsigned char)s->key[i]) !=
            fold_byte(m, (unsigned char)key[i]))
            return 0;
    return 1;
}

/* The slot holding @key, or the free slot where it would go. */
static struct rg_strmap_slot *find(const struct rg_strmap *m,
                                   const char *key, size_t len, uint64_t h)
{
    size_t i = (size_t)h & (m->cap - 1);

    while (m->slot[i].key != NULL && !same(m, &m->slot[i], key, len, h))
        i = (i + 1) & (m->cap - 1);
    return &m->slot[i];
}

static int grow(struct rg_strmap *m)
{
    struct rg_strmap old = *m;
    size_t cap = m->cap ? 2 * m->cap : STRMAP_MIN;

    m->slot = rg_calloc(cap, sizeof(*m->slot));
    if (m->slot == NULL) {
        m->slot = old.slot;
        return -ENOMEM;
    }
    m->cap = cap;
    for (size_t i = 0; i < old.cap; i++)
        if (old.slot[i].key != NULL)
            *find(m, old.slot[i].key, old.slot[i].len, old.slot[i].hash) =
                old.slot[i];
    rg_free(old.slot);
    return 0;
}

void rg_strmap_init(struct rg_strmap *m, int fold)
{
    memset(m, 0, sizeof(*m));
    m->fold = fold;
}

void rg_strmap_release(struct rg_strmap *m)
{
    rg_free(m->slot);
    rg_strmap_init(m, m->fold);
}

size_t rg_strmap_get(const struct rg_strmap *m, const char *key, size_t len)
{
    const struct rg_strmap_slot *s;

    if (m->n == 0)
        return SIZE_MAX;
    s = find(m, key, len, hash(m, key, len));
    return s->key != NULL ? s->val : SIZE_MAX;
}

int rg_strmap_put(struct rg_strmap *m, const char *key, size_t len,
                  size_t val)
{
    uint64_t h = hash(m, key, len);
    struct rg_strmap_slot *s;

    if (m->n > 0 && find(m, key, len, h)->key != NULL)
        return 1;
    if (2 * (m->n + 1) > m->cap && grow(m) != 0)
        return -ENOMEM;
    s = find(m, key, len, h);
    s->key = key;
    s->len = len;
    s->val = val;
    s->hash = h;
    m->n++;
    return 0;
}
