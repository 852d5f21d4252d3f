/* The proxy-cache's per-worker LRU; see cache_store.h. */
#include "plugins/cache_store.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/hex.h"

#define BUCKETS_MIN 1024

struct store {
    pthread_mutex_t mu; /* the hash table's links (see the header) */
    struct rg_cache_entry **tab;
    size_t nb; /* buckets, a power of two */
    size_t count, bytes;
    struct rg_cache_entry *mru, *lru; /* LRU list ends: owner thread only */
    uint64_t seen;                    /* purge records applied */
    struct store *rnext, *rprev;      /* the registry */
};

struct purge_rec {
    uint64_t hash;
    int all;
};

static _Thread_local struct store *tls;
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct store *reg;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static struct purge_rec plog[RG_CACHE_PURGE_LOG]; /* record s at (s-1)%N */
static _Atomic uint64_t pseq;                     /* records appended */

uint64_t rg_cache_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t rg_cache_hash(const char *key, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

void rg_cache_hex(uint64_t hash, char out[17])
{
    static const char hex[] = "0123456789abcdef";

    for (int i = 0; i < 16; i++)
        out[i] = hex[(hash >> (60 - 4 * i)) & 0xf];
    out[16] = '\0';
}

int rg_cache_unhex(const char *s, size_t len, uint64_t *out)
{
    uint64_t h = 0;

    if (len != 16)
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        int d = rg_hex_digit(s[i]);

        if (d < 0)
            return -EINVAL;
        h = h << 4 | (uint64_t)d;
    }
    *out = h;
    return 0;
}

static struct store *store_get(void)
{
    struct store *s = tls;

    if (s != NULL)
        return s;
    s = rg_calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->tab = rg_calloc(BUCKETS_MIN, sizeof(*s->tab));
    if (s->tab == NULL) {
        rg_free(s);
        return NULL;
    }
    s->nb = BUCKETS_MIN;
    pthread_mutex_init(&s->mu, NULL);
    s->seen = atomic_load_explicit(&pseq, memory_order_acquire);
    pthread_mutex_lock(&reg_mu);
    s->rnext = reg;
    if (reg != NULL)
        reg->rprev = s;
    reg = s;
    pthread_mutex_unlock(&reg_mu);
    tls = s;
    return s;
}

/* ---- the LRU list (owner thread only) ---- */

static void lru_unlink(struct store *s, struct rg_cache_entry *e)
{
    if (e->lprev != NULL)
        e->lprev->lnext = e->lnext;
    else
        s->mru = e->lnext;
    if (e->lnext != NULL)
        e->lnext->lprev = e->lprev;
    else
        s->lru = e->lprev;
    e->lprev = e->lnext = NULL;
}

static void lru_front(struct store *s, struct rg_cache_entry *e)
{
    e->lprev = NULL;
    e->lnext = s->mru;
    if (s->mru != NULL)
        s->mru->lprev = e;
    s->mru = e;
    if (s->lru == NULL)
        s->lru = e;
}

/* ---- the hash table (its links change under s->mu) ---- */

static struct rg_cache_entry **bucket(struct store *s, uint64_t hash)
{
    return &s->tab[hash & (s->nb - 1)];
}

/* Unlink and free @e. */
static void entry_remove(struct store *s, struct rg_cache_entry *e)
{
    struct rg_cache_entry **pp = bucket(s, e->hash);

    pthread_mutex_lock(&s->mu);
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    pthread_mutex_unlock(&s->mu);
    lru_unlink(s, e);
    s->count--;
    s->bytes -= e->size;
    rg_free(e);
}

static void remove_all(struct store *s)
{
    while (s->lru != NULL)
        entry_remove(s, s->lru);
}

static void remove_hash(struct store *s, uint64_t hash)
{
    struct rg_cache_entry *e = *bucket(s, hash), *next;

    for (; e != NULL; e = next) {
        next = e->hnext;
        if (e->hash == hash)
            entry_remove(s, e);
    }
}

/* Double the table when it is fuller than one entry a bucket. */
static void maybe_grow(struct store *s)
{
    size_t nb = s->nb * 2;
    struct rg_cache_entry **tab;

    if (s->count < s->nb)
        return;
    tab = rg_calloc(nb, sizeof(*tab));
    if (tab == NULL)
        return; /* longer chains, still correct */
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nb; i++) {
        struct rg_cache_entry *e = s->tab[i], *next;

        for (; e != NULL; e = next) {
            next = e->hnext;
            e->hnext = tab[e->hash & (nb - 1)];
            tab[e->hash & (nb - 1)] = e;
        }
    }
    rg_free(s->tab);
    s->tab = tab;
    s->nb = nb;
    pthread_mutex_unlock(&s->mu);
}

/* ---- purges ---- */

/* Apply the purge records this thread has not seen. */
static void apply_purges(struct store *s)
{
    struct purge_rec recs[RG_CACHE_PURGE_LOG];
    uint64_t cur = atomic_load_explicit(&pseq, memory_order_acquire);
    size_t n = 0;
    int all = 0;

    if (cur == s->seen)
        return;
    pthread_mutex_lock(&log_mu);
    cur = atomic_load_explicit(&pseq, memory_order_relaxed);
    if (cur - s->seen > RG_CACHE_PURGE_LOG) {
        all = 1;
    } else {
        for (uint64_t q = s->seen + 1; q <= cur; q++)
            recs[n++] = plog[(q - 1) % RG_CACHE_PURGE_LOG];
    }
    pthread_mutex_unlock(&log_mu);
    s->seen = cur;
    for (size_t i = 0; i < n && !all; i++) {
        if (recs[i].all)
            all = 1;
        else
            remove_hash(s, recs[i].hash);
    }
    if (all)
        remove_all(s);
}

void rg_cache_purge(int all, uint64_t hash)
{
    uint64_t q;

    pthread_mutex_lock(&log_mu);
    q = atomic_load_explicit(&pseq, memory_order_relaxed) + 1;
    plog[(q - 1) % RG_CACHE_PURGE_LOG] = (struct purge_rec){hash, all != 0};
    atomic_store_explicit(&pseq, q, memory_order_release);
    pthread_mutex_unlock(&log_mu);
}

/* ---- the request path ---- */

static struct rg_cache_entry *lookup(struct store *s, uint64_t hash,
                                     const char *key, size_t len)
{
    for (struct rg_cache_entry *e = *bucket(s, hash); e != NULL; e = e->hnext) {
        if (e->hash == hash && e->key_len == len &&
            memcmp(e->key, key, len) == 0)
            return e;
    }
    return NULL;
}

const struct rg_cache_entry *rg_cache_get(uint64_t hash, const char *key,
                                          size_t len, uint64_t now_ms,
                                          int *fresh)
{
    struct store *s = tls;
    struct rg_cache_entry *e;

    *fresh = 0;
    if (s == NULL)
        return NULL;
    apply_purges(s);
    e = lookup(s, hash, key, len);
    if (e == NULL)
        return NULL;
    if (now_ms >= e->keep_ms) {
        entry_remove(s, e);
        return NULL;
    }
    *fresh = now_ms < e->expires_ms;
    if (*fresh && s->mru != e) {
        lru_unlink(s, e);
        lru_front(s, e);
    }
    return e;
}

void rg_cache_drop(uint64_t hash, const char *key, size_t len)
{
    struct store *s = tls;
    struct rg_cache_entry *e;

    if (s == NULL)
        return;
    e = lookup(s, hash, key, len);
    if (e != NULL)
        entry_remove(s, e);
}

int rg_cache_put(const struct rg_cache_put *p, size_t cap)
{
    struct store *s = store_get();
    size_t size =
        p->key_len + p->fields_len + p->body_len + RG_CACHE_ENTRY_OVERHEAD;
    struct rg_cache_entry *e, **b;
    char *d;

    if (s == NULL)
        return -ENOMEM;
    apply_purges(s);
    rg_cache_drop(rg_cache_hash(p->key, p->key_len), p->key, p->key_len);
    if (size > cap)
        return -E2BIG;
    while (s->lru != NULL && s->bytes + size > cap)
        entry_remove(s, s->lru);
    e = rg_malloc(sizeof(*e) + p->key_len + p->fields_len + p->body_len + 1);
    if (e == NULL)
        return -ENOMEM;
    memset(e, 0, sizeof(*e));
    d = (char *)(e + 1);
    memcpy(d, p->key, p->key_len);
    e->key = d;
    e->key_len = p->key_len;
    d += p->key_len;
    if (p->fields_len > 0)
        memcpy(d, p->fields, p->fields_len);
    e->fields = d;
    e->fields_len = p->fields_len;
    d += p->fields_len;
    if (p->body_len > 0)
        memcpy(d, p->body, p->body_len);
    d[p->body_len] = '\0';
    e->body = d;
    e->body_len = p->body_len;
    e->hash = rg_cache_hash(p->key, p->key_len);
    e->status = p->status;
    e->stored_ms = p->now_ms;
    e->expires_ms = p->now_ms + p->ttl_ms;
    e->keep_ms = p->now_ms + (p->keep_ms > p->ttl_ms ? p->keep_ms : p->ttl_ms);
    e->purge_seq = s->seen;
    e->size = size;
    maybe_grow(s);
    b = bucket(s, e->hash);
    pthread_mutex_lock(&s->mu);
    e->hnext = *b;
    *b = e;
    pthread_mutex_unlock(&s->mu);
    lru_front(s, e);
    s->count++;
    s->bytes += size;
    return 0;
}

/* ---- inspection ---- */

/* Whether a record of @recs (the log's @cur records, the last @n of
 * them copied) after @since purges @hash. */
static int purged(const struct purge_rec *recs, size_t n, uint64_t cur,
                  uint64_t since, uint64_t hash)
{
    if (cur - since > n)
        return cur != since; /* older than the copy: assume so */
    for (uint64_t q = since + 1; q <= cur; q++) {
        const struct purge_rec *r = &recs[n - (cur - q) - 1];

        if (r->all || r->hash == hash)
            return 1;
    }
    return 0;
}

unsigned rg_cache_find(uint64_t hash, uint64_t now_ms,
                       struct rg_cache_entry *out)
{
    static struct purge_rec recs[RG_CACHE_PURGE_LOG]; /* under find_mu */
    static pthread_mutex_t find_mu = PTHREAD_MUTEX_INITIALIZER;
    unsigned found = 0;
    uint64_t cur;
    size_t n = 0;

    pthread_mutex_lock(&find_mu);
    pthread_mutex_lock(&log_mu);
    cur = atomic_load_explicit(&pseq, memory_order_relaxed);
    for (uint64_t q = cur > RG_CACHE_PURGE_LOG ? cur - RG_CACHE_PURGE_LOG + 1
                                               : 1;
         q <= cur; q++)
        recs[n++] = plog[(q - 1) % RG_CACHE_PURGE_LOG];
    pthread_mutex_unlock(&log_mu);
    pthread_mutex_lock(&reg_mu);
    for (struct store *s = reg; s != NULL; s = s->rnext) {
        pthread_mutex_lock(&s->mu);
        for (struct rg_cache_entry *e = *bucket(s, hash); e != NULL;
             e = e->hnext) {
            if (e->hash != hash || now_ms >= e->expires_ms ||
                purged(recs, n, cur, e->purge_seq, hash))
                continue;
            if (found++ == 0 && out != NULL) {
                *out = *e;
                out->key = out->fields = out->body = NULL;
                out->hnext = out->lprev = out->lnext = NULL;
            }
            break;
        }
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_unlock(&reg_mu);
    pthread_mutex_unlock(&find_mu);
    return found;
}

size_t rg_cache_count(void)
{
    return tls != NULL ? tls->count : 0;
}

size_t rg_cache_bytes(void)
{
    return tls != NULL ? tls->bytes : 0;
}

void rg_cache_thread_free(void)
{
    struct store *s = tls;

    if (s == NULL)
        return;
    remove_all(s);
    pthread_mutex_lock(&reg_mu);
    if (s->rprev != NULL)
        s->rprev->rnext = s->rnext;
    else
        reg = s->rnext;
    if (s->rnext != NULL)
        s->rnext->rprev = s->rprev;
    pthread_mutex_unlock(&reg_mu);
    pthread_mutex_destroy(&s->mu);
    rg_free(s->tab);
    rg_free(s);
    tls = NULL;
}
