/* The per-thread verified-token cache: a set-associative table indexed
 * by FNV-1a of the token, found through a thread-local pointer (no lock:
 * each worker has its own), freed by a pthread key's destructor when the
 * thread ends. */
#include "plugins/jwt_cache.h"

#include <pthread.h>
#include <string.h>

#include "core/alloc.h"
#include "core/strmap.h"

struct jc_entry {
    char *tok;              /* owned copy; NULL: the way is free */
    size_t len;
    uint64_t hash;
    const void *conf;
    int64_t expires;
    uint64_t stamp;         /* the key set's */
    uint64_t used;          /* tick of the last put or hit */
    size_t cred;
    json_t *claims;         /* one reference */
};

struct jc {
    uint64_t gen;           /* the generation the entries belong to */
    uint64_t tick;
    size_t n;
    struct jc_entry e[RG_JWT_CACHE_SETS][RG_JWT_CACHE_WAYS];
};

static _Thread_local struct jc *tls;
static pthread_key_t jc_key;
static pthread_once_t jc_once = PTHREAD_ONCE_INIT;
static int jc_key_ok;

static void entry_clear(struct jc *c, struct jc_entry *e)
{
    if (e->tok == NULL)
        return;
    rg_free(e->tok);
    json_decref(e->claims);
    memset(e, 0, sizeof(*e));
    c->n--;
}

static void jc_clear(struct jc *c)
{
    for (size_t s = 0; s < RG_JWT_CACHE_SETS; s++)
        for (size_t w = 0; w < RG_JWT_CACHE_WAYS; w++)
            entry_clear(c, &c->e[s][w]);
}

static void jc_destroy(void *p)
{
    struct jc *c = p;

    if (c == NULL)
        return;
    jc_clear(c);
    rg_free(c);
}

static void jc_key_init(void)
{
    jc_key_ok = pthread_key_create(&jc_key, jc_destroy) == 0;
}

/* The thread's cache, made on first use; NULL without memory. */
static struct jc *jc_get(int make)
{
    struct jc *c = tls;

    if (c != NULL || !make)
        return c;
    pthread_once(&jc_once, jc_key_init);
    if (!jc_key_ok)
        return NULL;
    c = rg_calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    if (pthread_setspecific(jc_key, c) != 0) {
        rg_free(c);
        return NULL;
    }
    tls = c;
    return c;
}

/* The cache for generation @gen: a newer one empties it; NULL for an
 * older one (its requests neither read nor write). */
static struct jc *jc_for(uint64_t gen, int make)
{
    struct jc *c = jc_get(make);

    if (c == NULL || gen < c->gen)
        return NULL;
    if (gen > c->gen) {
        jc_clear(c);
        c->gen = gen;
    }
    return c;
}

static int same(const struct jc_entry *e, const struct rg_jwt_cache_key *k,
                uint64_t h)
{
    return e->tok != NULL && e->hash == h && e->conf == k->conf &&
           e->len == k->len && memcmp(e->tok, k->tok, k->len) == 0;
}

int rg_jwt_cache_get(const struct rg_jwt_cache_key *k, int64_t now,
                     struct rg_jwt_cache_hit *hit)
{
    struct jc *c = jc_for(k->gen, 0);
    uint64_t h;
    struct jc_entry *set;

    if (c == NULL || c->n == 0 || k->len > RG_JWT_CACHE_TOKEN_MAX)
        return 0;
    h = rg_fnv1a(k->tok, k->len);
    set = c->e[h % RG_JWT_CACHE_SETS];
    for (size_t w = 0; w < RG_JWT_CACHE_WAYS; w++) {
        struct jc_entry *e = &set[w];

        if (!same(e, k, h))
            continue;
        if (now >= e->expires) {
            entry_clear(c, e);
            return 0;
        }
        e->used = ++c->tick;
        hit->cred = e->cred;
        hit->keys_stamp = e->stamp;
        hit->claims = e->claims;
        return 1;
    }
    return 0;
}

void rg_jwt_cache_put(const struct rg_jwt_cache_key *k, int64_t now,
                      int64_t expires, uint64_t keys_stamp, size_t cred,
                      json_t *claims)
{
    struct jc *c;
    struct jc_entry *set, *e;
    uint64_t h;
    char *tok;

    if (k->len > RG_JWT_CACHE_TOKEN_MAX || expires <= now)
        return;
    c = jc_for(k->gen, 1);
    if (c == NULL)
        return;
    h = rg_fnv1a(k->tok, k->len);
    set = c->e[h % RG_JWT_CACHE_SETS];
    e = &set[0];
    for (size_t w = 0; w < RG_JWT_CACHE_WAYS; w++) {
        if (same(&set[w], k, h) || set[w].tok == NULL) {
            e = &set[w];
            break;
        }
        if (set[w].used < e->used)
            e = &set[w];
    }
    tok = rg_malloc(k->len);
    if (tok == NULL)
        return;
    memcpy(tok, k->tok, k->len);
    entry_clear(c, e);
    *e = (struct jc_entry){
        .tok = tok,
        .len = k->len,
        .hash = h,
        .conf = k->conf,
        .expires = expires < now + RG_JWT_CACHE_TTL_MAX
                       ? expires
                       : now + RG_JWT_CACHE_TTL_MAX,
        .stamp = keys_stamp,
        .used = ++c->tick,
        .cred = cred,
        .claims = json_incref(claims),
    };
    c->n++;
}

size_t rg_jwt_cache_count(void)
{
    struct jc *c = jc_get(0);

    return c != NULL ? c->n : 0;
}

void rg_jwt_cache_flush(void)
{
    struct jc *c = jc_get(0);

    if (c == NULL)
        return;
    pthread_setspecific(jc_key, NULL);
    tls = NULL;
    jc_destroy(c);
}
