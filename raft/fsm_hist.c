/* The state machine's memory of what it applied: the request-id table
 * (the last RG_FSM_DEDUPE ids with their results, forgotten oldest first,
 * found through a chained hash) and the applied ring (the last
 * RG_FSM_APPLIED_RING commands). Both are bounded FIFOs whose eviction
 * order depends only on the order of apply, so replicas agree. */
#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "raft/fsm_int.h"

#define FIFO_FIRST_CAP 64

long rg_fsm__fifo_push(struct rg_fifo *q, void **v, size_t size, size_t max,
                       int *evicted)
{
    size_t slot;

    *evicted = 0;
    if (q->n == q->cap && q->cap < max) {
        size_t cap = q->cap ? q->cap * 2 : FIFO_FIRST_CAP;
        void *p;

        if (cap > max)
            cap = max;
        p = rg_realloc(*v, cap * size);
        if (p == NULL)
            return -1;
        *v = p;
        q->cap = cap;
    }
    if (q->n < q->cap) {
        slot = q->n++; /* head is 0 until the FIFO is full */
    } else {
        slot = q->head;
        q->head = (q->head + 1) % q->cap;
        *evicted = 1;
    }
    return (long)slot;
}

size_t rg_fsm__fifo_at(const struct rg_fifo *q, size_t i)
{
    return (q->head + i) % q->cap;
}

static uint32_t fnv32(const char *p, size_t n)
{
    uint32_t h = 0x811c9dc5u;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x01000193u;
    }
    return h;
}

void rg_fsm__dd_init(struct rg_dedupe *d)
{
    size_t i;

    memset(&d->q, 0, sizeof(d->q));
    d->v = NULL;
    for (i = 0; i < RG_FSM_DEDUPE_BUCKETS; i++)
        d->bucket[i] = -1;
}

void rg_fsm__dd_release(struct rg_dedupe *d)
{
    size_t i;

    for (i = 0; i < d->q.n; i++)
        rg_free(d->v[i].message);
    rg_free(d->v);
    rg_fsm__dd_init(d);
}

static int32_t *bucket_of(struct rg_dedupe *d, uint32_t hash)
{
    return &d->bucket[hash & (RG_FSM_DEDUPE_BUCKETS - 1)];
}

int rg_fsm__dd_lookup(const struct rg_dedupe *d, const char *rid, size_t len,
                      struct rg_fsm_result *r)
{
    uint32_t h = fnv32(rid, len);
    int32_t s = d->bucket[h & (RG_FSM_DEDUPE_BUCKETS - 1)];

    for (; s >= 0; s = d->v[s].next) {
        const struct rg_dd_ent *e = &d->v[s];

        if (e->hash == h && strlen(e->rid) == len &&
            memcmp(e->rid, rid, len) == 0) {
            memset(r, 0, sizeof(*r));
            r->status = (enum rg_fsm_status)e->status;
            r->revision = e->revision;
            if (e->message != NULL)
                snprintf(r->message, sizeof(r->message), "%s", e->message);
            return 1;
        }
    }
    return 0;
}

int rg_fsm__dd_age(const struct rg_dedupe *d, const char *rid, size_t len,
                   size_t *age)
{
    uint32_t h = fnv32(rid, len);
    int32_t s = d->bucket[h & (RG_FSM_DEDUPE_BUCKETS - 1)];

    for (; s >= 0; s = d->v[s].next) {
        const struct rg_dd_ent *e = &d->v[s];

        if (e->hash == h && strlen(e->rid) == len &&
            memcmp(e->rid, rid, len) == 0) {
            *age = ((size_t)s + d->q.cap - d->q.head) % d->q.cap;
            return 1;
        }
    }
    return 0;
}

/* Unlink slot @s from its bucket chain and free what it owns. */
static void dd_evict(struct rg_dedupe *d, int32_t s)
{
    int32_t *p = bucket_of(d, d->v[s].hash);

    while (*p != s)
        p = &d->v[*p].next;
    *p = d->v[s].next;
    rg_free(d->v[s].message);
    d->v[s].message = NULL;
}

int rg_fsm__dd_add(struct rg_dedupe *d, const char *rid, size_t len,
                   const struct rg_fsm_result *r)
{
    char *msg = NULL;
    void *v = d->v;
    struct rg_dd_ent *e;
    int32_t *b;
    int evicted;
    long s;

    if (r->message[0] != '\0' && (msg = rg_strdup(r->message)) == NULL)
        return -ENOMEM;
    s = rg_fsm__fifo_push(&d->q, &v, sizeof(*d->v), RG_FSM_DEDUPE, &evicted);
    d->v = v;
    if (s < 0) {
        rg_free(msg);
        return -ENOMEM;
    }
    if (evicted)
        dd_evict(d, (int32_t)s);
    e = &d->v[s];
    memcpy(e->rid, rid, len);
    e->rid[len] = '\0';
    e->hash = fnv32(rid, len);
    e->status = (uint8_t)r->status;
    e->revision = r->revision;
    e->message = msg;
    b = bucket_of(d, e->hash);
    e->next = *b;
    *b = (int32_t)s;
    return 0;
}

void rg_fsm__ring_release(struct rg_ring *g)
{
    rg_free(g->v);
    memset(g, 0, sizeof(*g));
}

int rg_fsm__ring_add(struct rg_ring *g, const struct rg_fsm_applied *a)
{
    void *v = g->v;
    int evicted;
    long s = rg_fsm__fifo_push(&g->q, &v, sizeof(*g->v), RG_FSM_APPLIED_RING,
                               &evicted);

    g->v = v;
    if (s < 0)
        return -ENOMEM;
    g->v[s] = *a;
    return 0;
}
