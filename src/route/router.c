/* The router. Compilation turns every distinct route host pattern into a
 * group (group 0 holds the routes without hosts) and files each route path
 * under the key (group, exact?, path) in one hash table; each key holds a
 * slice of route indexes ordered best first. A match looks up the groups
 * the request host falls in, one hash probe per "." of the host, and in
 * each group probes the request path at its segment boundaries, hashing
 * the path once per group: O(host + path length) probes, whatever the
 * route count. Keys point into the gateway config, which outlives us. */
#include "route/router.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

/* Host pattern kinds; also the tags of the host table's keys. */
enum { HOST_EXACT = 1, HOST_SUFFIX, HOST_PREFIX };

/* Kinds of a route's entries in a group: no paths, prefix or exact path. */
enum { ENT_NOPATH = 0, ENT_PREFIX, ENT_EXACT };

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

/* An open-addressing hash table slot. */
struct slot {
    uint64_t hash;   /* fnv of the key, mixed with the tag */
    uint64_t tag;    /* host kind, or group << 1 | exact for paths */
    const char *key; /* borrowed from the config; NULL: empty slot */
    size_t len;
    size_t first; /* host table: group id; path table: first cand */
    size_t count; /* path table: cands in the slice */
};

struct table {
    struct slot *slots;
    size_t mask; /* slot count - 1; the count is a power of two */
};

struct group {
    uint64_t host_rank;  /* see host_rank(); 0 for the host-less group */
    size_t nopath_first; /* slice of cands: routes without paths */
    size_t nopath_count;
    int has_paths; /* any path key filed under this group */
};

struct rg_router {
    const struct rg_gateway *gw; /* kept */
    struct table hosts;
    struct table paths;
    struct group *groups; /* [0] is the host-less group */
    size_t n_groups;
    size_t *cands; /* route indexes; each slice best first */
};

/* One (group, path, route) triple while compiling. */
struct ent {
    size_t group;
    int kind;         /* ENT_* */
    const char *path; /* borrowed */
    size_t len;
    int has_methods;
    size_t route;
};

/* The best candidate so far while matching; the fields compare in order. */
struct best {
    unsigned weight;    /* criteria the route defines: hosts, paths, methods */
    uint64_t host_rank; /* which kind of host pattern matched */
    size_t path_rank;   /* 2 * path length + exact; 0 without paths */
    size_t route;       /* lower wins; SIZE_MAX: nothing found yet */
    size_t prefix_len;
};

static unsigned char lc(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? c | 0x20 : c;
}

static uint64_t fnv_step(uint64_t h, unsigned char c)
{
    return (h ^ c) * FNV_PRIME;
}

/* Mix the tag in and spread the bits (the murmur3 finaliser). */
static uint64_t finish(uint64_t h, uint64_t tag)
{
    h ^= tag * 0x9e3779b97f4a7c15ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

static int key_eq(const char *a, const char *b, size_t n, int icase)
{
    size_t i;

    if (!icase)
        return memcmp(a, b, n) == 0;
    for (i = 0; i < n; i++)
        if (lc((unsigned char)a[i]) != lc((unsigned char)b[i]))
            return 0;
    return 1;
}

/* The slot holding the key, or the empty slot where it would go. The table
 * is at most half full, so the probe ends. Host keys (@icase) compare
 * case-insensitively. */
static struct slot *tab_probe(const struct table *t, uint64_t h, uint64_t tag,
                              const char *key, size_t len, int icase)
{
    size_t i = (size_t)h & t->mask;

    for (;; i = (i + 1) & t->mask) {
        struct slot *s = &t->slots[i];

        if (s->key == NULL)
            return s;
        if (s->hash == h && s->tag == tag && s->len == len &&
            key_eq(s->key, key, len, icase))
            return s;
    }
}

static int tab_init(struct table *t, size_t n)
{
    size_t size = 2;

    while (size < n * 2) {
        if (size > SIZE_MAX / 4)
            return -ENOMEM;
        size *= 2;
    }
    t->slots = rg_calloc(size, sizeof(*t->slots));
    if (t->slots == NULL)
        return -ENOMEM;
    t->mask = size - 1;
    return 0;
}

/* Classify @h: "*.example.com" keeps the literal ".example.com" and is
 * hashed right to left, "api.*" keeps "api." hashed left to right, and
 * anything else is an exact name. Returns the kind. */
static int host_pattern(const char *h, const char **lit, size_t *len,
                        uint64_t *hash)
{
    size_t n = strlen(h), i;
    int kind = HOST_EXACT;
    uint64_t x = FNV_OFFSET;

    *lit = h;
    *len = n;
    if (n >= 2 && h[0] == '*' && h[1] == '.') {
        kind = HOST_SUFFIX;
        *lit = h + 1;
        *len = n - 1;
        for (i = n; i-- > 1;)
            x = fnv_step(x, lc((unsigned char)h[i]));
    } else {
        if (n >= 2 && h[n - 1] == '*' && h[n - 2] == '.') {
            kind = HOST_PREFIX;
            *len = n - 1;
        }
        for (i = 0; i < *len; i++)
            x = fnv_step(x, lc((unsigned char)h[i]));
    }
    *hash = finish(x, (uint64_t)kind);
    return kind;
}

/* Exact names first, then "*.x" patterns, then "x.*" ones (nginx's
 * order); longer patterns first within a kind. */
static uint64_t host_rank(int kind, size_t pattern_len)
{
    uint64_t n = pattern_len > UINT32_MAX ? UINT32_MAX : pattern_len;

    if (kind == HOST_EXACT)
        return 3ULL << 32;
    return (kind == HOST_SUFFIX ? 2ULL << 32 : 1ULL << 32) | n;
}

/* Kong: the routes of a disabled service behave as if they did not
 * exist. */
static int route_active(const struct rg_gateway *gw, const struct rg_route *r)
{
    return r->service >= gw->n_services || gw->services[r->service].enabled;
}

/* Set *@g to the group of host pattern @h, creating the group when it is
 * new. Never fails: build_groups sized the table and group array for
 * every pattern. */
static void host_group(struct rg_router *rt, const char *h, size_t *g)
{
    const char *lit;
    size_t len;
    uint64_t hash;
    int kind = host_pattern(h, &lit, &len, &hash);
    struct slot *s = tab_probe(&rt->hosts, hash, (uint64_t)kind, lit, len, 1);

    if (s->key == NULL) {
        *s = (struct slot){hash, (uint64_t)kind, lit, len, rt->n_groups, 0};
        rt->groups[rt->n_groups++].host_rank = host_rank(kind, strlen(h));
    }
    *g = s->first;
}

/* Create one group per distinct host pattern of the active routes. */
static int build_groups(struct rg_router *rt)
{
    const struct rg_gateway *gw = rt->gw;
    size_t i, j, g, n = 0;

    for (i = 0; i < gw->n_routes; i++) {
        if (__builtin_add_overflow(n, gw->routes[i].n_hosts, &n))
            return -ENOMEM;
    }
    if (tab_init(&rt->hosts, n) < 0 || n == SIZE_MAX)
        return -ENOMEM;
    rt->groups = rg_calloc(n + 1, sizeof(*rt->groups));
    if (rt->groups == NULL)
        return -ENOMEM;
    rt->n_groups = 1;
    for (i = 0; i < gw->n_routes; i++) {
        const struct rg_route *r = &gw->routes[i];

        if (!route_active(gw, r))
            continue;
        for (j = 0; j < r->n_hosts; j++) {
            if (r->hosts[j] != NULL)
                host_group(rt, r->hosts[j], &g);
        }
    }
    return 0;
}

/* Append the entries of route @ri in group @g: one per usable path, or
 * one ENT_NOPATH when the route has no paths. */
static size_t route_entries(const struct rg_route *r, size_t ri, size_t g,
                            struct ent *e)
{
    size_t k, n = 0;

    if (r->n_paths == 0) {
        e[n++] = (struct ent){g, ENT_NOPATH, NULL, 0, r->methods != 0, ri};
        return n;
    }
    for (k = 0; k < r->n_paths; k++) {
        const struct rg_route_path *p = &r->paths[k];

        if (p->path == NULL)
            continue;
        e[n++] = (struct ent){g,
                              p->exact ? ENT_EXACT : ENT_PREFIX,
                              p->path,
                              strlen(p->path),
                              r->methods != 0,
                              ri};
    }
    return n;
}

/* All (group, path, route) entries of the active routes, unsorted. */
static int build_entries(struct rg_router *rt, struct ent **out, size_t *n)
{
    const struct rg_gateway *gw = rt->gw;
    size_t i, j, g, total = 0, m;
    struct ent *e;

    for (i = 0; i < gw->n_routes; i++) {
        const struct rg_route *r = &gw->routes[i];
        size_t nh = r->n_hosts ? r->n_hosts : 1;
        size_t np = r->n_paths ? r->n_paths : 1;

        if (__builtin_mul_overflow(nh, np, &m) ||
            __builtin_add_overflow(total, m, &total))
            return -ENOMEM;
    }
    e = rg_calloc(total, sizeof(*e));
    if (e == NULL)
        return -ENOMEM;
    *n = 0;
    for (i = 0; i < gw->n_routes; i++) {
        const struct rg_route *r = &gw->routes[i];

        if (!route_active(gw, r))
            continue;
        if (r->n_hosts == 0)
            *n += route_entries(r, i, 0, e + *n);
        for (j = 0; j < r->n_hosts; j++) {
            if (r->hosts[j] == NULL)
                continue;
            host_group(rt, r->hosts[j], &g);
            *n += route_entries(r, i, g, e + *n);
        }
    }
    *out = e;
    return 0;
}

/* Equal keys adjacent; within a key, routes with methods first (they are
 * more specific), then config order. */
static int ent_cmp(const void *pa, const void *pb)
{
    const struct ent *a = pa, *b = pb;
    int c;

    if (a->group != b->group)
        return a->group < b->group ? -1 : 1;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    if (a->len > 0 && (c = memcmp(a->path, b->path, a->len)) != 0)
        return c;
    if (a->has_methods != b->has_methods)
        return a->has_methods ? -1 : 1;
    return a->route < b->route ? -1 : a->route > b->route;
}

static int same_key(const struct ent *a, const struct ent *b)
{
    return a->group == b->group && a->kind == b->kind && a->len == b->len &&
           (a->len == 0 || memcmp(a->path, b->path, a->len) == 0);
}

static uint64_t path_hash(const char *p, size_t len, uint64_t tag)
{
    uint64_t h = FNV_OFFSET;
    size_t i;

    for (i = 0; i < len; i++)
        h = fnv_step(h, (unsigned char)p[i]);
    return finish(h, tag);
}

/* File @e's key with its slice of cands. */
static void file_key(struct rg_router *rt, const struct ent *e, size_t first,
                     size_t count)
{
    struct group *g = &rt->groups[e->group];
    uint64_t tag = (uint64_t)e->group << 1 | (e->kind == ENT_EXACT);
    uint64_t h;
    struct slot *s;

    if (e->kind == ENT_NOPATH) {
        g->nopath_first = first;
        g->nopath_count = count;
        return;
    }
    g->has_paths = 1;
    h = path_hash(e->path, e->len, tag);
    s = tab_probe(&rt->paths, h, tag, e->path, e->len, 0);
    *s = (struct slot){h, tag, e->path, e->len, first, count};
}

/* Sort the entries and turn each run of one key into a slice of cands,
 * dropping a route listed twice under one key. */
static int build_paths(struct rg_router *rt, struct ent *e, size_t n)
{
    size_t i = 0, c = 0;

    if (tab_init(&rt->paths, n) < 0)
        return -ENOMEM;
    rt->cands = rg_calloc(n, sizeof(*rt->cands));
    if (rt->cands == NULL)
        return -ENOMEM;
    if (n > 0)
        qsort(e, n, sizeof(*e), ent_cmp);
    while (i < n) {
        size_t j = i, first = c;

        for (; j < n && same_key(&e[i], &e[j]); j++) {
            if (c == first || rt->cands[c - 1] != e[j].route)
                rt->cands[c++] = e[j].route;
        }
        file_key(rt, &e[i], first, c - first);
        i = j;
    }
    return 0;
}

struct rg_router *rg_router_new(const struct rg_gateway *gw)
{
    struct rg_router *rt = rg_calloc(1, sizeof(*rt));
    struct ent *e = NULL;
    size_t n = 0;

    if (rt == NULL)
        return NULL;
    rt->gw = gw;
    if (build_groups(rt) < 0 || build_entries(rt, &e, &n) < 0)
        goto err_after_router;
    if (build_paths(rt, e, n) < 0)
        goto err_after_entries;
    rg_free(e);
    return rt;

err_after_entries:
    rg_free(e);
err_after_router:
    rg_router_free(rt);
    return NULL;
}

void rg_router_free(struct rg_router *rt)
{
    if (rt == NULL)
        return;
    rg_free(rt->hosts.slots);
    rg_free(rt->paths.slots);
    rg_free(rt->groups);
    rg_free(rt->cands);
    rg_free(rt);
}

/* --- matching ---------------------------------------------------------- */

static int better(const struct best *a, const struct best *b)
{
    if (a->weight != b->weight)
        return a->weight > b->weight;
    if (a->host_rank != b->host_rank)
        return a->host_rank > b->host_rank;
    if (a->path_rank != b->path_rank)
        return a->path_rank > b->path_rank;
    return a->route < b->route;
}

/* Offer the first route of a slice that accepts @method: the slice is
 * ordered best first, so the others cannot beat it. */
static void offer(const struct rg_router *rt, const size_t *slice, size_t n,
                  unsigned method, const struct best *at, struct best *b)
{
    size_t i;

    for (i = 0; i < n; i++) {
        const struct rg_route *r = &rt->gw->routes[slice[i]];
        struct best c = *at;

        if (r->methods != 0 && (r->methods & method) == 0)
            continue;
        c.weight = (r->n_hosts > 0) + (r->n_paths > 0) + (r->methods != 0);
        c.route = slice[i];
        if (better(&c, b))
            *b = c;
        return;
    }
}

/* Probe the key (@g, @exact, @path[0..@len)) whose fnv state is @h. */
static void probe_path(const struct rg_router *rt, size_t g, int exact,
                       uint64_t h, const char *path, size_t len,
                       unsigned method, struct best *b)
{
    uint64_t tag = (uint64_t)g << 1 | (unsigned)exact;
    const struct slot *s;
    struct best at;

    h = finish(h, tag);
    s = tab_probe(&rt->paths, h, tag, path, len, 0);
    if (s->key == NULL)
        return;
    at.host_rank = rt->groups[g].host_rank;
    at.path_rank = 2 * len + (unsigned)exact;
    at.prefix_len = len;
    offer(rt, rt->cands + s->first, s->count, method, &at, b);
}

/* Find group @g's best route for @path and offer it. Prefix keys are
 * probed where a segment ends: before each "/" (key "/api" for "/api/x"),
 * after it (key "/api/"), and at the end of the path. */
static void match_group(const struct rg_router *rt, size_t g, const char *path,
                        size_t n, unsigned method, struct best *b)
{
    const struct group *gr = &rt->groups[g];
    struct best at = {0, gr->host_rank, 0, SIZE_MAX, 0};
    uint64_t h = FNV_OFFSET;
    size_t i;

    offer(rt, rt->cands + gr->nopath_first, gr->nopath_count, method, &at, b);
    if (!gr->has_paths || n == 0)
        return;
    for (i = 0; i < n; i++) {
        if (path[i] == '/' && i > 0)
            probe_path(rt, g, 0, h, path, i, method, b);
        h = fnv_step(h, (unsigned char)path[i]);
        if (path[i] == '/')
            probe_path(rt, g, 0, h, path, i + 1, method, b);
    }
    if (path[n - 1] != '/')
        probe_path(rt, g, 0, h, path, n, method, b);
    probe_path(rt, g, 1, h, path, n, method, b);
}

static void match_host_key(const struct rg_router *rt, int kind, uint64_t h,
                           const char *key, size_t len, const char *path,
                           size_t n, unsigned method, struct best *b)
{
    const struct slot *s;

    h = finish(h, (uint64_t)kind);
    s = tab_probe(&rt->hosts, h, (uint64_t)kind, key, len, 1);
    if (s->key != NULL)
        match_group(rt, s->first, path, n, method, b);
}

/* Visit every group whose pattern matches @host: "x.*" at each "." seen
 * left to right with something after it, the exact name, and "*.x" at
 * each "." seen right to left with something before it. */
static void match_hosts(const struct rg_router *rt, const char *host, size_t hl,
                        const char *path, size_t n, unsigned method,
                        struct best *b)
{
    uint64_t h = FNV_OFFSET;
    size_t i;

    for (i = 0; i < hl; i++) {
        unsigned char c = lc((unsigned char)host[i]);

        h = fnv_step(h, c);
        if (c == '.' && i + 1 < hl)
            match_host_key(rt, HOST_PREFIX, h, host, i + 1, path, n, method, b);
    }
    match_host_key(rt, HOST_EXACT, h, host, hl, path, n, method, b);
    h = FNV_OFFSET;
    for (i = hl; i-- > 0;) {
        unsigned char c = lc((unsigned char)host[i]);

        h = fnv_step(h, c);
        if (c == '.' && i > 0)
            match_host_key(rt, HOST_SUFFIX, h, host + i, hl - i, path, n,
                           method, b);
    }
}

int rg_router_match(const struct rg_router *rt, const char *host,
                    size_t host_len, const char *path, size_t path_len,
                    unsigned method, struct rg_route_match *m)
{
    struct best b = {0, 0, 0, SIZE_MAX, 0};

    if (host != NULL && host_len > 0 && rt->n_groups > 1)
        match_hosts(rt, host, host_len, path, path_len, method, &b);
    /* A host-less route defines two criteria at most and loses ties to
     * any host match, so it cannot beat a weight of 2. */
    if (b.route == SIZE_MAX || b.weight < 2)
        match_group(rt, 0, path, path_len, method, &b);
    if (b.route == SIZE_MAX)
        return -ENOENT;
    m->route = &rt->gw->routes[b.route];
    m->route_index = b.route;
    m->prefix_len = b.prefix_len;
    return 0;
}
