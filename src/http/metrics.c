/* Per-worker request counters and the node's label slots. */
#include "http/metrics.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "config/gateway.h"
#include "core/alloc.h"
#include "http/conn.h"
#include "http/gen.h"
#include "http/proxy.h"
#include "http/wctx.h"

/* Table sizes (keys): enough for every route x method x status a node
 * sees in practice; past them updates are counted in `full`. */
#define REQ_CAP 4096u
#define DUR_CAP 1024u
#define UPS_CAP 1024u

const uint32_t rg_met_bucket_ms[RG_MET_BUCKETS] = {
    1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
};

/* Index i is bit i of RG_M_* (config/gateway.h); the last is the rest. */
const char *const rg_met_method_name[RG_MET_METHODS] = {
    "GET",   "HEAD",    "POST",  "PUT",     "DELETE",
    "PATCH", "OPTIONS", "TRACE", "CONNECT", "OTHER",
};

const char *const rg_met_rl_name[RG_MET_RL_N] = {"local", "cluster"};

/* As X-Cache-Status says them; the last is everything else. */
const char *const rg_met_cache_name[RG_MET_CACHE_N] = {
    "Hit", "Miss", "Bypass", "Refresh", "Stale", "Fallback", "other",
};

/* Label slots, written and read by the control thread only: the names
 * stay for the life of the process (a bounded table), so a label means
 * the same route across config generations. */
static char *slot_names[2][RG_MET_NAMES];
static unsigned slot_used[2] = {1, 1}; /* slot 0 is "none" */

static int table_init(struct rg_met_table *t, unsigned cap, unsigned width)
{
    t->cap = cap;
    t->width = width;
    t->keys = rg_calloc(cap, sizeof(*t->keys));
    t->vals = rg_calloc((size_t)cap * width, sizeof(*t->vals));
    return t->keys != NULL && t->vals != NULL ? 0 : -ENOMEM;
}

static void table_release(struct rg_met_table *t)
{
    rg_free(t->keys);
    t->keys = NULL;
    rg_free(t->vals);
    t->vals = NULL;
}

struct rg_wmet *rg_wmet_new(void)
{
    struct rg_wmet *m = rg_calloc(1, sizeof(*m));

    if (m == NULL)
        return NULL;
    if (table_init(&m->req, REQ_CAP, 1) != 0 ||
        table_init(&m->dur, DUR_CAP, RG_MET_BUCKETS + 2) != 0 ||
        table_init(&m->ups, UPS_CAP, 1) != 0) {
        rg_wmet_free(m);
        return NULL;
    }
    return m;
}

void rg_wmet_free(struct rg_wmet *m)
{
    if (m == NULL)
        return;
    table_release(&m->req);
    table_release(&m->dur);
    table_release(&m->ups);
    rg_free(m);
}

/* The counters of @key in @t, inserting it (by the owning worker: the
 * key is published after nothing else, its counters being zero), or
 * NULL when the table is full. Linear probing, Fibonacci hashing. */
_Atomic uint64_t *rg_met__slot(struct rg_met_table *t, uint32_t key)
{
    unsigned mask = t->cap - 1;
    unsigned i = (unsigned)((key * UINT32_C(2654435769)) >> 20) & mask;

    for (unsigned n = 0; n < t->cap; n++, i = (i + 1) & mask) {
        uint32_t k = atomic_load_explicit(&t->keys[i], memory_order_relaxed);

        if (k == 0) {
            atomic_store_explicit(&t->keys[i], key, memory_order_release);
            k = key;
        }
        if (k == key)
            return &t->vals[(size_t)i * t->width];
    }
    atomic_fetch_add_explicit(&t->full, 1, memory_order_relaxed);
    return NULL;
}

static void add(_Atomic uint64_t *v, uint64_t n)
{
    atomic_fetch_add_explicit(v, n, memory_order_relaxed);
}

static unsigned method_index(unsigned bits)
{
    for (unsigned i = 0; i + 1 < RG_MET_METHODS; i++)
        if (bits == 1u << i)
            return i;
    return RG_MET_METHODS - 1;
}

/* The route and service slots of @r in its generation. */
static void req_slots(const struct rg_req *r, unsigned *route, unsigned *svc)
{
    const struct rg_gen *g = r->gen;

    *route = *svc = 0;
    if (r->m.route != NULL && g->met_route != NULL &&
        r->m.route_index < g->gw.n_routes)
        *route = g->met_route[r->m.route_index];
    if (r->svc != NULL && g->met_svc != NULL &&
        (size_t)(r->svc - g->gw.services) < g->gw.n_services)
        *svc = g->met_svc[r->svc - g->gw.services];
}

static unsigned bucket_of(uint64_t us)
{
    unsigned b = 0;

    while (b < RG_MET_BUCKETS && us > (uint64_t)rg_met_bucket_ms[b] * 1000)
        b++;
    return b;
}

void rg_met_request(struct rg_wmet *m, const struct rg_req *r)
{
    unsigned route, svc, meth = method_index(r->method);
    unsigned st = r->status > 0 && r->status < 1024 ? (unsigned)r->status : 0;
    uint64_t us = (uv_hrtime() - r->t_start) / 1000;
    _Atomic uint64_t *v;

    req_slots(r, &route, &svc);
    v = rg_met__slot(&m->req, RG_MET_KEY(route, svc, meth, st));
    if (v != NULL)
        add(v, 1);
    v = rg_met__slot(&m->dur, RG_MET_KEY(route, svc, meth, 0));
    if (v != NULL) {
        add(&v[bucket_of(us)], 1);
        add(&v[RG_MET_BUCKETS + 1], us);
    }
}

void rg_met_upstream(const struct rg_req *r, int status)
{
    struct rg_wmet *m = r->c->w->met;
    unsigned route, svc;
    _Atomic uint64_t *v;

    if (m == NULL || status <= 0 || status >= 1024)
        return;
    req_slots(r, &route, &svc);
    v = rg_met__slot(&m->ups, RG_MET_KEY(0, svc, 0, (unsigned)status));
    if (v != NULL)
        add(v, 1);
}

void rg_met_rate_limited(const struct rg_req *r, enum rg_met_rl type)
{
    struct rg_wmet *m = r->c->w->met;

    if (m != NULL && type < RG_MET_RL_N)
        add(&m->rl[type], 1);
}

void rg_met_cache(const struct rg_req *r, const char *status)
{
    struct rg_wmet *m = r->c->w->met;
    unsigned i = 0;

    if (m == NULL)
        return;
    while (i + 1 < RG_MET_CACHE_N && strcmp(rg_met_cache_name[i], status))
        i++;
    add(&m->cache[i], 1);
}

const char *const rg_met_upconn_name[2] = {"reused", "new"};

void rg_met_upstream_conn(const struct rg_req *r, int reused)
{
    struct rg_wmet *m = r->c->w->met;

    if (m != NULL)
        add(&m->upconn[reused ? 0 : 1], 1);
}

/* The slot of @name (copied when new) of @kind. */
static uint8_t slot_of(enum rg_met_kind kind, const char *name)
{
    unsigned n = slot_used[kind];

    for (unsigned i = 1; i < n; i++)
        if (strcmp(slot_names[kind][i], name) == 0)
            return (uint8_t)i;
    if (n >= RG_MET_NAMES - 1)
        return RG_MET_NAMES - 1;
    slot_names[kind][n] = rg_strdup(name);
    if (slot_names[kind][n] == NULL)
        return RG_MET_NAMES - 1;
    slot_used[kind] = n + 1;
    return (uint8_t)n;
}

/* A route's or service's label: its name, else its id, else its place. */
static uint8_t slot_for(enum rg_met_kind kind, const char *name, const char *id,
                        size_t i)
{
    char buf[32];

    if (name == NULL && id == NULL)
        snprintf(buf, sizeof(buf), "#%zu", i);
    return slot_of(kind, name ? name : id ? id : buf);
}

int rg_met_gen_slots(const struct rg_gateway *gw, uint8_t **route,
                     uint8_t **svc)
{
    uint8_t *ro = rg_malloc(gw->n_routes ? gw->n_routes : 1);
    uint8_t *sv = rg_malloc(gw->n_services ? gw->n_services : 1);

    if (ro == NULL || sv == NULL) {
        rg_free(ro);
        rg_free(sv);
        return -ENOMEM;
    }
    for (size_t i = 0; i < gw->n_routes; i++)
        ro[i] = slot_for(RG_MET_ROUTE, gw->routes[i].name, gw->routes[i].id, i);
    for (size_t i = 0; i < gw->n_services; i++)
        sv[i] = slot_for(RG_MET_SERVICE, gw->services[i].name,
                         gw->services[i].id, i);
    *route = ro;
    *svc = sv;
    return 0;
}

const char *rg_met_slot_name(enum rg_met_kind kind, unsigned i)
{
    if (i == 0)
        return "";
    if (i == RG_MET_NAMES - 1)
        return "_other";
    return i < slot_used[kind] ? slot_names[kind][i] : NULL;
}

void rg_met_table_each(const struct rg_met_table *t, uint64_t *tmp,
                       void (*cb)(void *arg, uint32_t key, const uint64_t *v),
                       void *arg)
{
    for (unsigned i = 0; i < t->cap; i++) {
        uint32_t k = atomic_load_explicit(&t->keys[i], memory_order_acquire);

        if (k == 0)
            continue;
        for (unsigned j = 0; j < t->width; j++)
            tmp[j] = atomic_load_explicit(&t->vals[(size_t)i * t->width + j],
                                          memory_order_relaxed);
        cb(arg, k, tmp);
    }
}
