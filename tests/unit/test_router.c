/* The router: host, path and method matching and the precedence written in
 * src/route/router.h. Gateways are built as plain structs here, with no
 * config parser involved. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "route/router.h"

/* A route written compactly: NULL-terminated hosts and paths ("=/a" is an
 * exact path). */
struct rdef {
    const char *hosts[4];
    const char *paths[4];
    unsigned methods;
};

static char *xstrdup(const char *s)
{
    char *d = strdup(s);

    ck_assert_ptr_nonnull(d);
    return d;
}

static void route_fill(struct rg_route *r, const struct rdef *d)
{
    size_t k;

    memset(r, 0, sizeof(*r));
    r->methods = d->methods;
    r->strip_path = 1;
    r->retries = -1;
    r->hosts = calloc(4, sizeof(*r->hosts));
    r->paths = calloc(4, sizeof(*r->paths));
    ck_assert(r->hosts != NULL && r->paths != NULL);
    for (k = 0; k < 4 && d->hosts[k] != NULL; k++)
        r->hosts[r->n_hosts++] = xstrdup(d->hosts[k]);
    for (k = 0; k < 4 && d->paths[k] != NULL; k++) {
        const char *p = d->paths[k];
        struct rg_route_path *rp = &r->paths[r->n_paths++];

        rp->exact = p[0] == '=';
        rp->path = xstrdup(p + rp->exact);
    }
}

static struct rg_gateway *gw_new(size_t n)
{
    struct rg_gateway *gw = calloc(1, sizeof(*gw));

    ck_assert_ptr_nonnull(gw);
    gw->services = calloc(1, sizeof(*gw->services));
    gw->routes = calloc(n ? n : 1, sizeof(*gw->routes));
    ck_assert(gw->services != NULL && gw->routes != NULL);
    gw->n_services = 1;
    gw->services[0].enabled = 1;
    gw->n_routes = n;
    return gw;
}

static struct rg_gateway *gw_build(const struct rdef *d, size_t n)
{
    struct rg_gateway *gw = gw_new(n);
    size_t i;

    for (i = 0; i < n; i++)
        route_fill(&gw->routes[i], &d[i]);
    return gw;
}

static void gw_free(struct rg_gateway *gw)
{
    size_t i, k;

    for (i = 0; i < gw->n_routes; i++) {
        struct rg_route *r = &gw->routes[i];

        for (k = 0; k < r->n_hosts; k++)
            free(r->hosts[k]);
        for (k = 0; k < r->n_paths; k++)
            free(r->paths[k].path);
        free(r->hosts);
        free(r->paths);
    }
    free(gw->routes);
    free(gw->services);
    free(gw);
}

/* The index of the route matched for (host, path, method), or -1 for
 * -ENOENT; *plen gets prefix_len when not NULL. */
static long match(const struct rg_router *rt, const char *host,
                  const char *path, unsigned method, size_t *plen)
{
    struct rg_route_match m = {NULL, 0, 0};
    int rv = rg_router_match(rt, host, host ? strlen(host) : 0, path,
                             strlen(path), method, &m);

    if (rv == -ENOENT)
        return -1;
    ck_assert_int_eq(rv, 0);
    ck_assert_ptr_nonnull(m.route);
    if (plen != NULL)
        *plen = m.prefix_len;
    return (long)m.route_index;
}

#define ROUTER(defs)                                                           \
    struct rg_gateway *gw = gw_build(defs, sizeof(defs) / sizeof(defs[0]));    \
    struct rg_router *rt = rg_router_new(gw);                                  \
    ck_assert_ptr_nonnull(rt)

#define ROUTER_END()                                                           \
    rg_router_free(rt);                                                        \
    gw_free(gw)

START_TEST(exact_host_beats_wildcard)
{
    static const struct rdef d[] = {
        {{"*.example.com"}, {"/"}, 0},
        {{"a.example.com"}, {"/"}, 0},
        {{"api.*"}, {"/"}, 0},
    };
    ROUTER(d);

    ck_assert_int_eq(match(rt, "a.example.com", "/x", RG_M_GET, NULL), 1);
    ck_assert_int_eq(match(rt, "b.example.com", "/x", RG_M_GET, NULL), 0);
    ck_assert_int_eq(match(rt, "x.b.example.com", "/", RG_M_GET, NULL), 0);
    /* "*.example.com" needs a label before the suffix. */
    ck_assert_int_eq(match(rt, "example.com", "/", RG_M_GET, NULL), -1);
    ck_assert_int_eq(match(rt, ".example.com", "/", RG_M_GET, NULL), -1);
    ck_assert_int_eq(match(rt, "aexample.com", "/", RG_M_GET, NULL), -1);
    /* "api.*" needs something after the dot. */
    ck_assert_int_eq(match(rt, "api.anything", "/", RG_M_GET, NULL), 2);
    ck_assert_int_eq(match(rt, "api.a.b", "/", RG_M_GET, NULL), 2);
    ck_assert_int_eq(match(rt, "api", "/", RG_M_GET, NULL), -1);
    ck_assert_int_eq(match(rt, "api.", "/", RG_M_GET, NULL), -1);
    ck_assert_int_eq(match(rt, "xapi.com", "/", RG_M_GET, NULL), -1);
    ck_assert_int_eq(match(rt, NULL, "/", RG_M_GET, NULL), -1);
    ck_assert_int_eq(match(rt, "", "/", RG_M_GET, NULL), -1);
    ROUTER_END();
}
END_TEST

/* Among wildcards: "*.x" before "x.*", longer pattern first. */
START_TEST(wildcard_order)
{
    static const struct rdef d[] = {
        {{"api.*"}, {"/"}, 0},
        {{"*.com"}, {"/"}, 0},
        {{"*.example.com"}, {"/"}, 0},
        {{"api.example.*"}, {"/"}, 0},
    };
    ROUTER(d);

    ck_assert_int_eq(match(rt, "api.example.com", "/", RG_M_GET, NULL), 2);
    ck_assert_int_eq(match(rt, "api.other.com", "/", RG_M_GET, NULL), 1);
    ck_assert_int_eq(match(rt, "api.example.org", "/", RG_M_GET, NULL), 3);
    ck_assert_int_eq(match(rt, "api.other.org", "/", RG_M_GET, NULL), 0);
    ROUTER_END();
}
END_TEST

START_TEST(host_is_case_insensitive)
{
    static const struct rdef d[] = {
        {{"A.Example.COM"}, {"/"}, 0},
        {{"*.Wild.ORG"}, {"/"}, 0},
        {{"API.*"}, {"/"}, 0},
    };
    ROUTER(d);

    ck_assert_int_eq(match(rt, "a.example.com", "/", RG_M_GET, NULL), 0);
    ck_assert_int_eq(match(rt, "A.EXAMPLE.COM", "/", RG_M_GET, NULL), 0);
    ck_assert_int_eq(match(rt, "X.wild.Org", "/", RG_M_GET, NULL), 1);
    ck_assert_int_eq(match(rt, "api.Z", "/", RG_M_GET, NULL), 2);
    ROUTER_END();
}
END_TEST

/* A route without hosts serves every host (and requests without one); a
 * route naming the host wins at equal path. */
START_TEST(hostless_route_matches_any_host)
{
    static const struct rdef d[] = {
        {{NULL}, {"/a"}, 0},
        {{"h.com"}, {"/a"}, 0},
        {{"*.h.com"}, {"/a"}, 0},
    };
    ROUTER(d);

    ck_assert_int_eq(match(rt, "h.com", "/a", RG_M_GET, NULL), 1);
    ck_assert_int_eq(match(rt, "x.h.com", "/a", RG_M_GET, NULL), 2);
    ck_assert_int_eq(match(rt, "other.com", "/a", RG_M_GET, NULL), 0);
    ck_assert_int_eq(match(rt, NULL, "/a", RG_M_GET, NULL), 0);
    ck_assert_int_eq(match(rt, "", "/a/b", RG_M_GET, NULL), 0);
    ck_assert_int_eq(match(rt, "h.com", "/b", RG_M_GET, NULL), -1);
    ROUTER_END();
}
END_TEST

/* Precedence step 1: more criteria first, whatever the path lengths. */
START_TEST(more_criteria_first)
{
    static const struct rdef d[] = {
        {{NULL}, {"/a/b/c"}, 0},                 /* paths */
        {{NULL}, {"/"}, RG_M_GET},               /* paths + methods */
        {{"h.com"}, {NULL}, 0},                  /* hosts */
        {{"h.com"}, {"/"}, 0},                   /* hosts + paths */
        {{"*.com"}, {"/"}, RG_M_GET | RG_M_PUT}, /* all three */
    };
    ROUTER(d);

    ck_assert_int_eq(match(rt, NULL, "/a/b/c", RG_M_GET, NULL), 1);
    ck_assert_int_eq(match(rt, NULL, "/a/b/c", RG_M_POST, NULL), 0);
    ck_assert_int_eq(match(rt, "h.com", "/a/b/c", RG_M_GET, NULL), 4);
    ck_assert_int_eq(match(rt, "h.com", "/a/b/c", RG_M_POST, NULL), 3);
    ck_assert_int_eq(match(rt, "x.com", "/a/b/c", RG_M_POST, NULL), 0);
    ROUTER_END();
}
END_TEST

/* A host-only route defines one criterion, so a host-less path+method
 * route outranks it for every host. */
START_TEST(hostless_route_with_more_criteria_wins)
{
    static const struct rdef d[] = {
        {{"h.com"}, {NULL}, 0},
        {{NULL}, {"/"}, RG_M_GET},
        {{NULL}, {"/m"}, 0},
        {{NULL}, {"/m"}, RG_M_GET},
    };
    ROUTER(d);

    ck_assert_int_eq(match(rt, "h.com", "/x", RG_M_GET, NULL), 1);
    ck_assert_int_eq(match(rt, "h.com", "/x", RG_M_POST, NULL), 0);
    /* Same path key: the route listing methods first, despite config
     * order. */
    ck_assert_int_eq(match(rt, "q.com", "/m", RG_M_GET, NULL), 3);
    ck_assert_int_eq(match(rt, "q.com", "/m", RG_M_POST, NULL), 2);
    ROUTER_END();
}
END_TEST

/* Precedence step 2 over step 3: at equal criteria the host kind decides
 * before the path length; a host-only route beats a path-only one. */
START_TEST(host_kind_before_path_length)
{
    static const struct rdef d[] = {
        {{"*.h.com"}, {"/a/b"}, 0},
        {{"x.h.com"}, {"/"}, 0},
        {{NULL}, {"/a/b/c"}, 0},
        {{"y.org"}, {NULL}, 0},
    };
    ROUTER(d);

    ck_assert_int_eq(match(rt, "x.h.com", "/a/b/c", RG_M_GET, NULL), 1);
    ck_assert_int_eq(match(rt, "z.h.com", "/a/b/c", RG_M_GET, NULL), 0);
    ck_assert_int_eq(match(rt, "q.com", "/a/b/c", RG_M_GET, NULL), 2);
    ck_assert_int_eq(match(rt, "y.org", "/a/b/c/d", RG_M_GET, NULL), 3);
    ROUTER_END();
}
END_TEST

START_TEST(longest_prefix_wins)
{
    static const struct rdef d[] = {
        {{NULL}, {"/"}, 0},
        {{NULL}, {"/api"}, 0},
        {{NULL}, {"/api/v1"}, 0},
        {{NULL}, {"/api/v1/users/"}, 0},
    };
    size_t pl = 99;
    ROUTER(d);

    ck_assert_int_eq(match(rt, NULL, "/api/v1/x", RG_M_GET, &pl), 2);
    ck_assert_uint_eq(pl, 7);
    ck_assert_int_eq(match(rt, NULL, "/api/v2", RG_M_GET, &pl), 1);
    ck_assert_uint_eq(pl, 4);
    ck_assert_int_eq(match(rt, NULL, "/api/v1/users/7", RG_M_GET, &pl), 3);
    ck_assert_uint_eq(pl, 14);
    ck_assert_int_eq(match(rt, NULL, "/api/v1/users", RG_M_GET, &pl), 2);
    ck_assert_int_eq(match(rt, NULL, "/other", RG_M_GET, &pl), 0);
    ck_assert_uint_eq(pl, 1);
    ck_assert_int_eq(match(rt, NULL, "/", RG_M_GET, &pl), 0);
    ROUTER_END();
}
END_TEST

/* Prefixes match whole segments only. */
START_TEST(prefix_at_segment_boundary)
{
    static const struct rdef d[] = {
        {{NULL}, {"/api"}, 0},
        {{NULL}, {"/web/"}, 0},
    };
    size_t pl = 99;
    ROUTER(d);

    ck_assert_int_eq(match(rt, NULL, "/api", RG_M_GET, &pl), 0);
    ck_assert_uint_eq(pl, 4);
    ck_assert_int_eq(match(rt, NULL, "/api/", RG_M_GET, NULL), 0);
    ck_assert_int_eq(match(rt, NULL, "/api/x/y", RG_M_GET, &pl), 0);
    ck_assert_uint_eq(pl, 4);
    ck_assert_int_eq(match(rt, NULL, "/apix", RG_M_GET, NULL), -1);
    ck_assert_int_eq(match(rt, NULL, "/ap", RG_M_GET, NULL), -1);
    ck_assert_int_eq(match(rt, NULL, "/web/", RG_M_GET, &pl), 1);
    ck_assert_uint_eq(pl, 5);
    ck_assert_int_eq(match(rt, NULL, "/web/x", RG_M_GET, NULL), 1);
    ck_assert_int_eq(match(rt, NULL, "/web", RG_M_GET, NULL), -1);
    ck_assert_int_eq(match(rt, NULL, "/webx", RG_M_GET, NULL), -1);
    ck_assert_int_eq(match(rt, NULL, "", RG_M_GET, NULL), -1);
    ROUTER_END();
}
END_TEST

START_TEST(exact_beats_prefix)
{
    static const struct rdef d[] = {
        {{NULL}, {"/a"}, 0},
        {{NULL}, {"=/a"}, 0},
        {{NULL}, {"=/b/"}, 0},
    };
    size_t pl = 99;
    ROUTER(d);

    ck_assert_int_eq(match(rt, NULL, "/a", RG_M_GET, &pl), 1);
    ck_assert_uint_eq(pl, 2);
    ck_assert_int_eq(match(rt, NULL, "/a/", RG_M_GET, NULL), 0);
    ck_assert_int_eq(match(rt, NULL, "/a/b", RG_M_GET, NULL), 0);
    ck_assert_int_eq(match(rt, NULL, "/b/", RG_M_GET, &pl), 2);
    ck_assert_uint_eq(pl, 3);
    ck_assert_int_eq(match(rt, NULL, "/b", RG_M_GET, NULL), -1);
    ck_assert_int_eq(match(rt, NULL, "/b/c", RG_M_GET, NULL), -1);
    ROUTER_END();
}
END_TEST

/* A GET-only and a POST-only route on one path coexist; other methods
 * fall through to the next candidate. */
START_TEST(methods_select_and_fall_through)
{
    static const struct rdef d[] = {
        {{NULL}, {"/"}, 0},
        {{NULL}, {"/a"}, RG_M_GET | RG_M_HEAD},
        {{NULL}, {"/a"}, RG_M_POST},
        {{NULL}, {"/b"}, RG_M_DELETE},
    };
    ROUTER(d);

    ck_assert_int_eq(match(rt, NULL, "/a", RG_M_GET, NULL), 1);
    ck_assert_int_eq(match(rt, NULL, "/a", RG_M_HEAD, NULL), 1);
    ck_assert_int_eq(match(rt, NULL, "/a/x", RG_M_POST, NULL), 2);
    ck_assert_int_eq(match(rt, NULL, "/a", RG_M_PUT, NULL), 0);
    ck_assert_int_eq(match(rt, NULL, "/a", 0, NULL), 0);
    ck_assert_int_eq(match(rt, NULL, "/b", RG_M_GET, NULL), 0);
    ROUTER_END();
}
END_TEST

START_TEST(ties_keep_config_order)
{
    static const struct rdef d[] = {
        {{NULL}, {"/x"}, 0},
        {{"h.com"}, {"/a", "/a/b"}, 0},
        {{"H.com"}, {"/a/b", "/a"}, 0},
        {{NULL}, {"/x"}, 0},
        {{"h.com", "h.com"}, {"/c", "/c"}, 0},
    };
    size_t pl = 0;
    ROUTER(d);

    ck_assert_int_eq(match(rt, NULL, "/x", RG_M_GET, NULL), 0);
    ck_assert_int_eq(match(rt, "h.com", "/a/b/c", RG_M_GET, &pl), 1);
    ck_assert_uint_eq(pl, 4); /* the longer of route 1's paths */
    ck_assert_int_eq(match(rt, "h.com", "/a", RG_M_GET, NULL), 1);
    ck_assert_int_eq(match(rt, "h.com", "/c", RG_M_GET, NULL), 4);
    ROUTER_END();
}
END_TEST

START_TEST(host_only_route_has_zero_prefix)
{
    static const struct rdef d[] = {
        {{"h.com"}, {NULL}, 0},
    };
    size_t pl = 99;
    ROUTER(d);

    ck_assert_int_eq(match(rt, "h.com", "/any/thing", RG_M_GET, &pl), 0);
    ck_assert_uint_eq(pl, 0);
    ck_assert_int_eq(match(rt, "h.com", "", RG_M_GET, NULL), 0);
    ck_assert_int_eq(match(rt, "g.com", "/", RG_M_GET, NULL), -1);
    ROUTER_END();
}
END_TEST

START_TEST(no_routes_no_match)
{
    struct rg_gateway *gw = gw_new(0);
    struct rg_router *rt = rg_router_new(gw);

    ck_assert_ptr_nonnull(rt);
    ck_assert_int_eq(match(rt, "h.com", "/", RG_M_GET, NULL), -1);
    ck_assert_int_eq(match(rt, NULL, "/", RG_M_GET, NULL), -1);
    ROUTER_END();
    rg_router_free(NULL);
}
END_TEST

/* Kong: the routes of a disabled service act as if they did not exist,
 * so the next route serves the request. */
START_TEST(disabled_service_routes_are_skipped)
{
    static const struct rdef d[] = {
        {{NULL}, {"/"}, 0},
        {{NULL}, {"/a"}, 0},
    };
    struct rg_gateway *gw = gw_build(d, 2);
    struct rg_service *sv = realloc(gw->services, 2 * sizeof(*sv));
    struct rg_router *rt;

    ck_assert_ptr_nonnull(sv);
    gw->services = sv;
    gw->n_services = 2;
    memset(&sv[1], 0, sizeof(sv[1]));
    gw->routes[1].service = 1;
    rt = rg_router_new(gw);
    ck_assert_ptr_nonnull(rt);
    ck_assert_int_eq(match(rt, NULL, "/a", RG_M_GET, NULL), 0);
    rg_router_free(rt);
    sv[1].enabled = 1;
    rt = rg_router_new(gw);
    ck_assert_int_eq(match(rt, NULL, "/a", RG_M_GET, NULL), 1);
    ROUTER_END();
}
END_TEST

/* Every allocation failure during compilation gives NULL and no leak
 * (ASan's leak checker watches the sanitized build). */
START_TEST(alloc_failure_returns_null)
{
    static const struct rdef d[] = {
        {{"a.com", "*.b.com"}, {"/", "=/x"}, RG_M_GET},
        {{NULL}, {"/y"}, 0},
    };
    struct rg_gateway *gw = gw_build(d, 2);
    struct rg_router *rt = NULL;
    long nth;

    for (nth = 1; nth < 100; nth++) {
        rg_alloc_fail_after(nth);
        rt = rg_router_new(gw);
        if (rt != NULL)
            break;
    }
    rg_alloc_fail_after(0);
    ck_assert_ptr_nonnull(rt);
    ck_assert_int_gt(nth, 1);
    ck_assert_int_eq(match(rt, "x.b.com", "/y", RG_M_GET, NULL), 0);
    ROUTER_END();
}
END_TEST

/* --- reference matcher: the header's precedence, by brute force ---- */

struct ref {
    long route;
    unsigned weight;
    uint64_t host_rank;
    size_t path_rank, plen;
};

static int ieq(const char *a, const char *b, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];

        if (x >= 'A' && x <= 'Z')
            x |= 0x20;
        if (y >= 'A' && y <= 'Z')
            y |= 0x20;
        if (x != y)
            return 0;
    }
    return 1;
}

static uint64_t ref_host(const char *pat, const char *h, size_t hl)
{
    size_t n = strlen(pat);

    if (hl == 0)
        return 0;
    if (n >= 2 && pat[0] == '*' && pat[1] == '.')
        return hl > n - 1 && ieq(pat + 1, h + hl - (n - 1), n - 1)
                   ? 2ULL << 32 | n
                   : 0;
    if (n >= 2 && pat[n - 1] == '*' && pat[n - 2] == '.')
        return hl > n - 1 && ieq(pat, h, n - 1) ? 1ULL << 32 | n : 0;
    return hl == n && ieq(pat, h, n) ? 3ULL << 32 : 0;
}

static size_t ref_path(const struct rg_route_path *p, const char *path,
                       size_t n)
{
    size_t l = strlen(p->path);

    if (l == 0 || l > n || memcmp(p->path, path, l) != 0)
        return 0;
    if (p->exact)
        return l == n ? 2 * l + 1 : 0;
    return l == n || path[l] == '/' || path[l - 1] == '/' ? 2 * l : 0;
}

static int ref_better(const struct ref *a, const struct ref *b)
{
    if (b->route < 0)
        return 1;
    if (a->weight != b->weight)
        return a->weight > b->weight;
    if (a->host_rank != b->host_rank)
        return a->host_rank > b->host_rank;
    if (a->path_rank != b->path_rank)
        return a->path_rank > b->path_rank;
    return a->route < b->route;
}

static struct ref ref_match(const struct rg_gateway *gw, const char *host,
                            size_t hl, const char *path, size_t n,
                            unsigned method)
{
    struct ref best = {-1, 0, 0, 0, 0};
    size_t i, k;

    for (i = 0; i < gw->n_routes; i++) {
        const struct rg_route *r = &gw->routes[i];
        struct ref c = {(long)i, 0, 0, 0, 0};

        if (r->service < gw->n_services && !gw->services[r->service].enabled)
            continue;
        if (r->methods != 0 && (r->methods & method) == 0)
            continue;
        for (k = 0; k < r->n_hosts; k++) {
            uint64_t hr = ref_host(r->hosts[k], host, hl);

            c.host_rank = hr > c.host_rank ? hr : c.host_rank;
        }
        for (k = 0; k < r->n_paths; k++) {
            size_t pr = ref_path(&r->paths[k], path, n);

            if (pr > c.path_rank) {
                c.path_rank = pr;
                c.plen = pr / 2;
            }
        }
        if ((r->n_hosts && !c.host_rank) || (r->n_paths && !c.path_rank))
            continue;
        c.weight = (r->n_hosts > 0) + (r->n_paths > 0) + (r->methods != 0);
        if (ref_better(&c, &best))
            best = c;
    }
    return best;
}

/* --- a large table --------------------------------------------------- */

static uint32_t rnd(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

#define BIG 10000

/* Route i: host "h<i%100>.example.com" for most, a few wildcards and
 * host-less ones; path "/s<i/10>/r<i>" plus for some "/s<i/10>"; every
 * fifth route is GET-only. */
static struct rg_gateway *big_gateway(void)
{
    struct rg_gateway *gw = gw_new(BIG);
    size_t i;

    for (i = 0; i < BIG; i++) {
        char h[32], p1[32], p2[32];
        struct rdef d = {{NULL}, {NULL}, i % 5 == 0 ? RG_M_GET : 0};

        snprintf(h, sizeof(h), "h%zu.example.com", i % 100);
        snprintf(p1, sizeof(p1), "/s%zu/r%zu", i / 10, i);
        snprintf(p2, sizeof(p2), "%s/s%zu", i % 7 == 0 ? "=" : "", i / 10);
        if (i % 50 == 1)
            d.hosts[0] = "*.example.com";
        else if (i % 50 == 2)
            d.hosts[0] = "h1.*";
        else if (i % 13 != 0)
            d.hosts[0] = h;
        d.paths[0] = p1;
        if (i % 3 == 0)
            d.paths[1] = p2;
        route_fill(&gw->routes[i], &d);
    }
    return gw;
}

START_TEST(ten_thousand_routes)
{
    struct rg_gateway *gw = big_gateway();
    struct rg_router *rt = rg_router_new(gw);
    static const unsigned methods[] = {RG_M_GET, RG_M_POST};
    uint32_t x = 88172645u;
    size_t pl = 0;
    int i, hits = 0;

    ck_assert_ptr_nonnull(rt);
    /* Spot checks worked out by hand. */
    ck_assert_int_eq(match(rt, "h42.example.com", "/s4/r42/x", RG_M_POST, &pl),
                     42);
    ck_assert_uint_eq(pl, 7);
    /* Route 9900 is GET-only; for POST the host-less prefix "/s990" of
     * route 9906 is next. */
    ck_assert_int_eq(match(rt, "h0.example.com", "/s990/r9900", RG_M_GET, NULL),
                     9900);
    ck_assert_int_eq(match(rt, "h0.example.com", "/s990/r9900", RG_M_POST, &pl),
                     9906);
    ck_assert_uint_eq(pl, 5);
    ck_assert_int_eq(match(rt, "h0.example.com", "/s991/r9900", RG_M_GET, NULL),
                     -1);
    ck_assert_int_eq(match(rt, "zz.example.com", "/s0/r1", RG_M_GET, NULL), 1);
    ck_assert_int_eq(match(rt, "h1.org", "/s0/r2", RG_M_GET, NULL), 2);
    ck_assert_int_eq(match(rt, "nohost", "/s1/r13", RG_M_GET, NULL), 13);
    ck_assert_int_eq(match(rt, "nohost", "/s1/r14", RG_M_GET, NULL), -1);
    /* Random requests against the brute-force reference. */
    for (i = 0; i < 3000; i++) {
        uint32_t a = rnd(&x), b = rnd(&x);
        char host[32], path[64];
        unsigned m = methods[b & 1];
        struct rg_route_match got = {NULL, 0, 0};
        struct ref want;
        int rv;

        switch (a % 4) {
        case 0:
            snprintf(host, sizeof(host), "h%u.example.com", (a >> 2) % 110);
            break;
        case 1:
            snprintf(host, sizeof(host), "H%u.ORG", (a >> 2) % 3);
            break;
        case 2:
            snprintf(host, sizeof(host), "x%u.example.com", (a >> 2) % 3);
            break;
        default:
            host[0] = '\0';
        }
        snprintf(path, sizeof(path), "/s%u/r%u%s", (b >> 1) % 1010,
                 (b >> 11) % 10100, (b >> 28) % 2 ? "/z" : "");
        if ((b >> 29) % 3 == 0)
            snprintf(path, sizeof(path), "/s%u", (b >> 1) % 1010);
        want = ref_match(gw, host, strlen(host), path, strlen(path), m);
        rv = rg_router_match(rt, host, strlen(host), path, strlen(path), m,
                             &got);
        ck_assert_msg(rv == (want.route < 0 ? -ENOENT : 0),
                      "%s %s: rv %d, want route %ld", host, path, rv,
                      want.route);
        if (rv == 0) {
            ck_assert_msg((long)got.route_index == want.route,
                          "%s %s %u: got %zu want %ld", host, path, m,
                          got.route_index, want.route);
            ck_assert_uint_eq(got.prefix_len, want.plen);
            ck_assert_ptr_eq(got.route, &gw->routes[got.route_index]);
            hits++;
        }
    }
    /* Both outcomes must be well represented for the comparison to mean
     * anything. */
    ck_assert_int_gt(hits, 300);
    ck_assert_int_lt(hits, 2700);
    ROUTER_END();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("router");
    TCase *tc = tcase_create("match");
    SRunner *sr;
    int nf;

    tcase_add_test(tc, exact_host_beats_wildcard);
    tcase_add_test(tc, wildcard_order);
    tcase_add_test(tc, host_is_case_insensitive);
    tcase_add_test(tc, hostless_route_matches_any_host);
    tcase_add_test(tc, more_criteria_first);
    tcase_add_test(tc, hostless_route_with_more_criteria_wins);
    tcase_add_test(tc, host_kind_before_path_length);
    tcase_add_test(tc, longest_prefix_wins);
    tcase_add_test(tc, prefix_at_segment_boundary);
    tcase_add_test(tc, exact_beats_prefix);
    tcase_add_test(tc, methods_select_and_fall_through);
    tcase_add_test(tc, ties_keep_config_order);
    tcase_add_test(tc, host_only_route_has_zero_prefix);
    tcase_add_test(tc, no_routes_no_match);
    tcase_add_test(tc, disabled_service_routes_are_skipped);
    tcase_add_test(tc, alloc_failure_returns_null);
    tcase_add_test(tc, ten_thousand_routes);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
