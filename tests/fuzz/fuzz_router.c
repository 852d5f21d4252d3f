/* libFuzzer target for the router. The input bytes describe a small route
 * table (hosts and paths drawn from a dictionary of tricky patterns or
 * taken raw from the input) and a few requests. Each match must not crash,
 * its route must really accept the request's host, path and method, and it
 * must be the very route a brute-force reading of the precedence in
 * src/route/router.h picks. Seeds: tests/fuzz/corpus/fuzz_router/. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "route/router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c))                                                              \
            abort();                                                           \
    } while (0)

#define MAX_ROUTES 8
#define MAX_HOSTS 3
#define MAX_PATHS 3
#define MAX_REQUESTS 8

static const char *const route_hosts[] = {
    "a.com",     "*.a.com", "b.a.com",   "api.*",   "*.com", "A.COM",
    "api.a.com", "api.a.*", "*.b.a.com", "",        "*",     "*.",
    ".*",        "x.*.com", "api.",      "B.A.Com",
};

static const char *const req_hosts[] = {
    "a.com", "b.a.com", "api.a.com", "API.A.COM", "x.b.a.com", "com",    "api",
    "api.",  ".a.com",  "api.x",     "api.a.b",   "*.a.com",   "a.com.", "",
};

static const char *const paths[] = {
    "/",    "/a",    "/a/",    "/a/b", "/ab", "/a/b/", "/b",       "//",
    "/a//", "/a/bc", "/a/b/c", "",     "a",   "/A",    "/a/b/c/d",
};

#define N(a) (sizeof(a) / sizeof(a[0]))

struct input {
    const uint8_t *p;
    size_t n;
};

static unsigned byte(struct input *in)
{
    unsigned b;

    if (in->n == 0)
        return 0;
    b = in->p[0];
    in->p++;
    in->n--;
    return b;
}

/* Up to 7 raw bytes of input; *@len gets their count. */
static const char *raw(struct input *in, size_t *len)
{
    const char *s = (const char *)in->p;

    *len = byte(in) % 8;
    if (*len > in->n)
        *len = in->n;
    in->p += *len;
    in->n -= *len;
    return s;
}

/* A string from @dict, or raw bytes when the selector is high. The result
 * is malloc'd and NUL-terminated, *@n gets its length: raw bytes may hold
 * a NUL, where a route string (strlen) stops but a request does not. */
static char *pick(struct input *in, const char *const *dict, size_t nd,
                  size_t *n)
{
    unsigned sel = byte(in);
    const char *s;
    size_t len;
    char *d;

    if (sel < 224) {
        s = dict[sel % nd];
        len = strlen(s);
    } else {
        s = raw(in, &len);
    }
    d = malloc(len + 1);
    CHECK(d != NULL);
    memcpy(d, s, len);
    d[len] = '\0';
    *n = len;
    return d;
}

static void build(struct rg_gateway *gw, struct input *in)
{
    size_t i, k, len;

    gw->n_services = 2;
    gw->services = calloc(2, sizeof(*gw->services));
    CHECK(gw->services != NULL);
    gw->services[0].enabled = 1;
    gw->services[1].enabled = byte(in) & 1;
    gw->n_routes = byte(in) % (MAX_ROUTES + 1);
    gw->routes = calloc(MAX_ROUTES, sizeof(*gw->routes));
    CHECK(gw->routes != NULL);
    for (i = 0; i < gw->n_routes; i++) {
        struct rg_route *r = &gw->routes[i];
        unsigned f = byte(in);

        r->service = (f >> 7) & 1;
        if ((f & 3) == 0) {
            r->methods = byte(in);
            r->methods |= (byte(in) & 1) << 8;
        }
        r->n_hosts = (f >> 2) % (MAX_HOSTS + 1);
        r->n_paths = (f >> 4) % (MAX_PATHS + 1);
        r->hosts = calloc(MAX_HOSTS, sizeof(*r->hosts));
        r->paths = calloc(MAX_PATHS, sizeof(*r->paths));
        CHECK(r->hosts != NULL && r->paths != NULL);
        for (k = 0; k < r->n_hosts; k++)
            r->hosts[k] = pick(in, route_hosts, N(route_hosts), &len);
        for (k = 0; k < r->n_paths; k++) {
            r->paths[k].exact = byte(in) & 1;
            r->paths[k].path = pick(in, paths, N(paths), &len);
        }
    }
}

static void release(struct rg_gateway *gw)
{
    size_t i, k;

    for (i = 0; i < gw->n_routes; i++) {
        for (k = 0; k < gw->routes[i].n_hosts; k++)
            free(gw->routes[i].hosts[k]);
        for (k = 0; k < gw->routes[i].n_paths; k++)
            free(gw->routes[i].paths[k].path);
        free(gw->routes[i].hosts);
        free(gw->routes[i].paths);
    }
    free(gw->routes);
    free(gw->services);
}

/* --- the reference: router.h's rules, by brute force ---------------- */

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

/* The rank of pattern @pat for host @h, 0 when it does not match. */
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

/* 2 * length (+ 1 when exact) of route path @p if it matches, else 0. */
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

        if (!gw->services[r->service].enabled)
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

/* The matched route really accepts the request, checked directly. */
static void check_satisfies(const struct rg_route *r,
                            const struct rg_route_match *m, const char *host,
                            size_t hl, const char *path, size_t n,
                            unsigned method)
{
    size_t k;
    int ok = r->n_hosts == 0;

    CHECK(r->methods == 0 || (r->methods & method) != 0);
    for (k = 0; k < r->n_hosts; k++)
        ok |= ref_host(r->hosts[k], host, hl) != 0;
    CHECK(ok);
    CHECK(m->prefix_len <= n);
    if (r->n_paths == 0) {
        CHECK(m->prefix_len == 0);
        return;
    }
    ok = 0;
    for (k = 0; k < r->n_paths; k++) {
        const struct rg_route_path *p = &r->paths[k];

        ok |= strlen(p->path) == m->prefix_len && ref_path(p, path, n) != 0;
    }
    CHECK(ok);
}

static void one_request(const struct rg_gateway *gw, const struct rg_router *rt,
                        struct input *in)
{
    char *host = NULL, *path;
    size_t hl = 0, n;
    unsigned sel = byte(in), method = 0;
    struct rg_route_match m = {NULL, 0, 0};
    struct ref want;
    int rv;

    if ((sel & 8) == 0)
        method = 1u << (byte(in) % 10); /* 1 << 9 is no RG_M_* bit */
    if (sel & 1)
        host = pick(in, req_hosts, N(req_hosts), &hl);
    path = pick(in, paths, N(paths), &n);
    rv = rg_router_match(rt, host, hl, path, n, method, &m);
    want = ref_match(gw, host, hl, path, n, method);
    if (want.route < 0) {
        CHECK(rv == -ENOENT && m.route == NULL);
    } else {
        CHECK(rv == 0);
        CHECK((long)m.route_index == want.route);
        CHECK(m.route == &gw->routes[m.route_index]);
        CHECK(m.prefix_len == want.plen);
        check_satisfies(m.route, &m, host, hl, path, n, method);
    }
    free(host);
    free(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};
    struct rg_gateway gw;
    struct rg_router *rt;
    int i;

    memset(&gw, 0, sizeof(gw));
    build(&gw, &in);
    rt = rg_router_new(&gw);
    CHECK(rt != NULL);
    for (i = 0; i < MAX_REQUESTS && (i == 0 || in.n > 0); i++)
        one_request(&gw, rt, &in);
    rg_router_free(rt);
    release(&gw);
    return 0;
}
