/* The phase engine: chains compiled per route, and the runner. */
#include "http/filter.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "http/proxy.h"

#define BODY_MAX_DEFAULT (1u << 20) /* bytes, a buffered body's cap */

/* Consumer index -> instance, open addressing (keys are indexes, so the
 * hash is a multiply). */
struct cmap {
    size_t cap; /* a power of two, or 0 */
    size_t n;
    struct cmap_e {
        size_t key; /* RG_NO_INDEX = free */
        const struct rg_plugin_inst *inst;
    } *e;
};

struct slot {
    const struct rg_filter_ops *ops;
    unsigned type;
    const struct rg_plugin_inst *base;  /* route, else service, else global */
    const struct rg_plugin_inst *rs;    /* route + service */
    struct cmap strong;                 /* consumer + route/service */
    struct cmap weak;                   /* consumer alone */
};

struct rg_chain {
    size_t n;
    struct slot *slot;                  /* by priority */
    uint16_t *order[RG_PHASE_COUNT];    /* slot indexes with a callback */
    uint16_t n_order[RG_PHASE_COUNT];
    unsigned flags;                     /* RG_FILTER_* of any instance */
    uint32_t req_max, resp_max;         /* body caps, bytes */
};

/* ---- consumer maps ---- */

static size_t cmap_pos(const struct cmap *m, size_t key)
{
    return (key * 0x9E3779B97F4A7C15ull) >> 7 & (m->cap - 1);
}

static const struct rg_plugin_inst *cmap_get(const struct cmap *m, size_t key)
{
    if (m->cap == 0)
        return NULL;
    for (size_t i = cmap_pos(m, key);; i = (i + 1) & (m->cap - 1)) {
        if (m->e[i].key == key)
            return m->e[i].inst;
        if (m->e[i].key == RG_NO_INDEX)
            return NULL;
    }
}

static int cmap_grow(struct cmap *m)
{
    struct cmap old = *m;
    size_t cap = old.cap ? old.cap * 2 : 8;

    m->e = rg_malloc(cap * sizeof(*m->e));
    if (m->e == NULL) {
        *m = old;
        return -ENOMEM;
    }
    m->cap = cap;
    m->n = 0;
    for (size_t i = 0; i < cap; i++)
        m->e[i].key = RG_NO_INDEX;
    for (size_t i = 0; i < old.cap; i++) {
        if (old.e[i].key != RG_NO_INDEX) {
            size_t j = cmap_pos(m, old.e[i].key);

            while (m->e[j].key != RG_NO_INDEX)
                j = (j + 1) & (cap - 1);
            m->e[j] = old.e[i];
            m->n++;
        }
    }
    rg_free(old.e);
    return 0;
}

/* Map @key to @inst when it beats what is there (@better decides). */
static int cmap_offer(struct cmap *m, size_t key,
                      const struct rg_plugin_inst *inst,
                      int (*better)(const struct rg_plugin_inst *,
                                    const struct rg_plugin_inst *))
{
    size_t i;

    if ((m->n + 1) * 2 > m->cap && cmap_grow(m) != 0)
        return -ENOMEM;
    for (i = cmap_pos(m, key); m->e[i].key != RG_NO_INDEX;
         i = (i + 1) & (m->cap - 1)) {
        if (m->e[i].key == key) {
            if (better(inst, m->e[i].inst))
                m->e[i].inst = inst;
            return 0;
        }
    }
    m->e[i].key = key;
    m->e[i].inst = inst;
    m->n++;
    return 0;
}

/* ---- precedence ---- */

/* Kong's order among the combinations without a consumer: route +
 * service, route, service, global (3..0); and with one: consumer + route
 * + service, + route, + service (2..0). Equal ranks: the first instance
 * in the file wins, so `better` is strict. */
static int rank(const struct rg_plugin_inst *p)
{
    int r = p->route != RG_NO_INDEX, s = p->service != RG_NO_INDEX;

    if (p->consumer != RG_NO_INDEX)
        return r && s ? 2 : r ? 1 : 0;
    return r && s ? 3 : r ? 2 : s ? 1 : 0;
}

static int better(const struct rg_plugin_inst *a,
                  const struct rg_plugin_inst *b)
{
    return rank(a) > rank(b);
}

static int first_wins(const struct rg_plugin_inst *a,
                      const struct rg_plugin_inst *b)
{
    (void)a;
    (void)b;
    return 0;
}

/* Whether @p applies to requests of route @route of service @svc
 * (RG_NO_INDEX both: the global chain). */
static int applies(const struct rg_plugin_inst *p, size_t route, size_t svc)
{
    if (!p->enabled)
        return 0;
    if (p->route != RG_NO_INDEX && p->route != route)
        return 0;
    return p->service == RG_NO_INDEX || p->service == svc;
}

static int place(struct slot *s, const struct rg_plugin_inst *p)
{
    int r = p->route != RG_NO_INDEX, sv = p->service != RG_NO_INDEX;

    if (p->consumer != RG_NO_INDEX)
        return r || sv ? cmap_offer(&s->strong, p->consumer, p, better)
                       : cmap_offer(&s->weak, p->consumer, p, first_wins);
    if (r && sv) {
        if (s->rs == NULL)
            s->rs = p;
    } else if (s->base == NULL || better(p, s->base)) {
        s->base = p;
    }
    return 0;
}

/* ---- building ---- */

static struct slot *slot_of(struct rg_chain *c, size_t *cap,
                            const struct rg_filter_ops *const *ops,
                            unsigned type)
{
    struct slot *s;

    for (size_t i = 0; i < c->n; i++) {
        if (c->slot[i].type == type)
            return &c->slot[i];
    }
    if (c->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;

        s = rg_realloc(c->slot, ncap * sizeof(*s));
        if (s == NULL)
            return NULL;
        c->slot = s;
        *cap = ncap;
    }
    s = &c->slot[c->n++];
    memset(s, 0, sizeof(*s));
    s->ops = ops[type];
    s->type = type;
    return s;
}

static int by_priority(const void *a, const void *b)
{
    const struct slot *x = a, *y = b;

    if (x->ops->priority != y->ops->priority)
        return x->ops->priority > y->ops->priority ? -1 : 1;
    return strcmp(x->ops->schema.name, y->ops->schema.name);
}

static rg_filter_fn phase_fn(const struct rg_filter_ops *o, enum rg_phase ph)
{
    switch (ph) {
    case RG_PHASE_REWRITE: return o->on_rewrite;
    case RG_PHASE_ACCESS: return o->on_access;
    case RG_PHASE_HEADER: return o->on_header;
    case RG_PHASE_BODY: return o->on_body;
    default: return o->on_log;
    }
}

/* Fold one instance's needs into the chain's flags and caps. */
static void add_wants(struct rg_chain *c, const struct slot *s,
                      const struct rg_plugin_inst *p)
{
    uint32_t max = BODY_MAX_DEFAULT;
    unsigned w = s->ops->wants ? s->ops->wants(p->conf, &max) : 0;

    c->flags |= w;
    if ((w & RG_FILTER_REQ_BODY) && max < c->req_max)
        c->req_max = max;
    if ((w & RG_FILTER_RESP_BODY) && max < c->resp_max)
        c->resp_max = max;
}

static void cmap_wants(struct rg_chain *c, const struct slot *s,
                       const struct cmap *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        if (m->e[i].key != RG_NO_INDEX)
            add_wants(c, s, m->e[i].inst);
    }
}

static void chain_wants(struct rg_chain *c)
{
    /* The smallest of the instances' caps (each 1 MiB unless its wants()
     * says otherwise): no chain-wide ceiling below what they ask for. */
    c->req_max = c->resp_max = UINT32_MAX;
    for (size_t i = 0; i < c->n; i++) {
        const struct slot *s = &c->slot[i];

        if (s->base != NULL)
            add_wants(c, s, s->base);
        if (s->rs != NULL)
            add_wants(c, s, s->rs);
        cmap_wants(c, s, &s->strong);
        cmap_wants(c, s, &s->weak);
    }
}

/* The instance whose `ordering` decides a slot's place in ACCESS: the
 * one without a consumer, else any consumer's. */
static const struct rg_plugin_inst *ordering_inst(const struct slot *s)
{
    if (s->rs != NULL)
        return s->rs;
    if (s->base != NULL)
        return s->base;
    for (size_t i = 0; i < s->strong.cap; i++) {
        if (s->strong.e[i].key != RG_NO_INDEX)
            return s->strong.e[i].inst;
    }
    for (size_t i = 0; i < s->weak.cap; i++) {
        if (s->weak.e[i].key != RG_NO_INDEX)
            return s->weak.e[i].inst;
    }
    return NULL;
}

static int slot_index(const struct rg_chain *c, unsigned type)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->slot[i].type == type)
            return (int)i;
    }
    return -1;
}

/* Whether slot @a must run before slot @b in ACCESS (a before b, or b
 * after a, in either's ordering). */
static int must_precede(const struct rg_chain *c, size_t a, size_t b)
{
    const struct rg_plugin_inst *pa = ordering_inst(&c->slot[a]);
    const struct rg_plugin_inst *pb = ordering_inst(&c->slot[b]);

    for (size_t i = 0; pa != NULL && i < pa->ordering.n_before; i++) {
        if (slot_index(c, pa->ordering.before[i]) == (int)b)
            return 1;
    }
    for (size_t i = 0; pb != NULL && i < pb->ordering.n_after; i++) {
        if (slot_index(c, pb->ordering.after[i]) == (int)a)
            return 1;
    }
    return 0;
}

/* Kong's "legacy" dynamic ordering: visit slots by priority; before
 * placing one, place (recursively) every slot that must precede it. A
 * cycle is cut where the walk finds it. @state: 0 new, 1 visiting, 2
 * placed. */
static void place_ordered(struct rg_chain *c, size_t s, uint8_t *state,
                          uint16_t *out, uint16_t *n)
{
    if (state[s] != 0)
        return;
    state[s] = 1;
    for (size_t d = 0; d < c->n; d++) {
        if (d != s && state[d] == 0 && must_precede(c, d, s))
            place_ordered(c, d, state, out, n);
    }
    state[s] = 2;
    out[(*n)++] = (uint16_t)s;
}

static int build_orders(struct rg_chain *c)
{
    uint16_t *all = rg_malloc(c->n * sizeof(*all));
    uint8_t *state = rg_calloc(c->n, 1);
    uint16_t n_all = 0;
    int rv = 0;

    if (all == NULL || state == NULL)
        rv = -ENOMEM;
    for (size_t i = 0; rv == 0 && i < c->n; i++)
        place_ordered(c, i, state, all, &n_all);
    for (int ph = 0; rv == 0 && ph < RG_PHASE_COUNT; ph++) {
        c->order[ph] = rg_malloc(c->n * sizeof(uint16_t));
        if (c->order[ph] == NULL) {
            rv = -ENOMEM;
            break;
        }
        for (size_t i = 0; i < c->n; i++) {
            size_t s = ph == RG_PHASE_ACCESS ? all[i] : i;

            if (phase_fn(c->slot[s].ops, (enum rg_phase)ph) != NULL)
                c->order[ph][c->n_order[ph]++] = (uint16_t)s;
        }
    }
    rg_free(all);
    rg_free(state);
    return rv;
}

int rg_chain_build(const struct rg_gateway *gw,
                   const struct rg_filter_ops *const *ops, size_t route,
                   struct rg_chain **out)
{
    size_t svc = route == RG_NO_INDEX ? RG_NO_INDEX : gw->routes[route].service;
    struct rg_chain *c = rg_calloc(1, sizeof(*c));
    size_t cap = 0;
    int rv = 0;

    *out = NULL;
    if (c == NULL)
        return -ENOMEM;
    for (size_t i = 0; rv == 0 && i < gw->n_plugins; i++) {
        const struct rg_plugin_inst *p = &gw->plugins[i];
        struct slot *s;

        if (!applies(p, route, svc))
            continue;
        s = slot_of(c, &cap, ops, p->type);
        rv = s ? place(s, p) : -ENOMEM;
    }
    if (rv == 0 && c->n > UINT16_MAX)
        rv = -E2BIG;
    if (rv == 0 && c->n > 0) {
        qsort(c->slot, c->n, sizeof(*c->slot), by_priority);
        chain_wants(c);
        rv = build_orders(c);
    }
    if (rv != 0 || c->n == 0) {
        rg_chain_free(c);
        return rv;
    }
    *out = c;
    return 0;
}

void rg_chain_free(struct rg_chain *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++) {
        rg_free(c->slot[i].strong.e);
        rg_free(c->slot[i].weak.e);
    }
    for (int ph = 0; ph < RG_PHASE_COUNT; ph++)
        rg_free(c->order[ph]);
    rg_free(c->slot);
    rg_free(c);
}

unsigned rg_chain_flags(const struct rg_chain *c)
{
    return c ? c->flags : 0;
}

uint32_t rg_chain_body_max(const struct rg_chain *c, unsigned flag)
{
    if (c == NULL)
        return BODY_MAX_DEFAULT;
    return flag == RG_FILTER_REQ_BODY ? c->req_max : c->resp_max;
}

size_t rg_chain_len(const struct rg_chain *c)
{
    return c ? c->n : 0;
}

const struct rg_filter_ops *rg_chain_ops(const struct rg_chain *c, size_t i)
{
    return c->slot[i].ops;
}

size_t rg_chain_phase_order(const struct rg_chain *c, enum rg_phase ph,
                            size_t *out, size_t cap)
{
    size_t n = c != NULL ? c->n_order[ph] : 0;

    for (size_t i = 0; i < n && i < cap; i++)
        out[i] = c->order[ph][i];
    return n;
}

/* Kong's precedence, resolved per request in O(1). */
static const struct rg_plugin_inst *resolve(const struct slot *s,
                                            size_t consumer)
{
    const struct rg_plugin_inst *p = NULL;

    if (consumer != RG_NO_INDEX && (p = cmap_get(&s->strong, consumer)))
        return p;
    if (s->rs != NULL)
        return s->rs;
    if (consumer != RG_NO_INDEX && (p = cmap_get(&s->weak, consumer)))
        return p;
    return s->base;
}

const struct rg_plugin_inst *rg_chain_inst(const struct rg_chain *c,
                                           size_t i, size_t consumer)
{
    return resolve(&c->slot[i], consumer);
}

/* ---- running ---- */

/* The request's state for plugin type @type, allocated on first use. */
static void *type_ctx(struct rg_req *r, const struct rg_filter_ops *o,
                      unsigned type)
{
    struct rg_filter_state *fs = &r->fs;

    if (o->ctx_size == 0)
        return NULL;
    if (fs->ctx == NULL) {
        fs->ctx = rg_arena_calloc(&r->arena, r->gen->gw.catalog->n *
                                                 sizeof(*fs->ctx));
        if (fs->ctx == NULL)
            return NULL;
    }
    if (fs->ctx[type] == NULL)
        fs->ctx[type] = rg_arena_calloc(&r->arena, o->ctx_size);
    return fs->ctx[type];
}

static const struct rg_chain *phase_chain(const struct rg_req *r,
                                          enum rg_phase ph)
{
    return ph == RG_PHASE_REWRITE ? r->gen->global : r->fs.chain;
}

enum rg_filter_status rg_filter_run(struct rg_req *r, enum rg_phase ph)
{
    struct rg_filter_state *fs = &r->fs;
    const struct rg_chain *c = phase_chain(r, ph);

    if (c == NULL)
        return RG_FILTER_CONTINUE;
    for (uint16_t k = fs->idx; k < c->n_order[ph]; k++) {
        const struct slot *s = &c->slot[c->order[ph][k]];
        const struct rg_plugin_inst *p = resolve(s, fs->consumer);
        struct rg_filter_call fc;
        enum rg_filter_status st;

        if (p == NULL || !(p->protocols & fs->proto))
            continue;
        fc.r = r;
        fc.conf = p->conf;
        fc.ctx = type_ctx(r, s->ops, s->type);
        if (s->ops->ctx_size > 0 && fc.ctx == NULL) {
            fs->idx = 0;
            return RG_FILTER_ERROR;
        }
        st = phase_fn(s->ops, ph)(&fc);
        if (st == RG_FILTER_PAUSE && ph > RG_PHASE_ACCESS)
            st = RG_FILTER_ERROR; /* only REWRITE and ACCESS may wait */
        if (st == RG_FILTER_PAUSE) {
            fs->idx = (uint16_t)(k + 1);
            fs->phase = (uint8_t)ph;
            fs->paused = s->ops;
            fs->paused_conf = p->conf;
            fs->paused_type = s->type;
            return st;
        }
        if (st != RG_FILTER_CONTINUE) {
            fs->idx = 0;
            return st;
        }
    }
    fs->idx = 0;
    return RG_FILTER_CONTINUE;
}

void rg_filter_resume(struct rg_req *r, enum rg_filter_status st)
{
    struct rg_filter_state *fs = &r->fs;
    enum rg_phase ph = (enum rg_phase)fs->phase;

    fs->paused = NULL;
    if (st == RG_FILTER_CONTINUE)
        st = rg_filter_run(r, ph);
    else
        fs->idx = 0;
    if (st != RG_FILTER_PAUSE)
        rg_proxy_phase_done(r, ph, st);
}

void rg_filter_detach(struct rg_req *r)
{
    struct rg_filter_state *fs = &r->fs;
    struct rg_filter_call fc;

    fs->idx = 0; /* LOG, which runs next, starts from its first plugin */
    if (fs->paused == NULL)
        return;
    fc.r = r;
    fc.conf = fs->paused_conf;
    fc.ctx = fs->ctx != NULL ? fs->ctx[fs->paused_type] : NULL;
    if (fs->paused->on_detach != NULL)
        fs->paused->on_detach(&fc);
    fs->paused = NULL;
}
