/* Config generations: the upstreams (Kong's upstreams and targets)
 * compiled into balancers over their targets' addresses. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "http/gen_int.h"
#include "upstream/hcheck.h"

static int host_header(struct rg_balanced_target *bt)
{
    const struct rg_target *t = bt->conf;
    char hp[300];

    snprintf(hp, sizeof(hp), strchr(t->host, ':') ? "[%s]:%u" : "%s:%u",
             t->host, t->port);
    if (t->port == 80)
        hp[strlen(hp) - 3] = '\0';
    bt->host_header = rg_strdup(hp);
    return bt->host_header == NULL ? -ENOMEM : 0;
}

/* Append @t's addresses to @b (room for them is reserved by the caller:
 * RG_RESOLVER_MAX_ADDRS per target). */
static int add_target(struct rg_balanced *b, size_t ti, struct rg_gen_env *env,
                      struct rg_errbuf *eb)
{
    struct rg_balanced_target *bt = &b->targets[ti];
    const struct rg_target *t = bt->conf;
    struct sockaddr_storage a[RG_RESOLVER_MAX_ADDRS];
    size_t n = 0;
    int none_ok;
    int rv = rg_gen__resolve(env, t->host, t->port, a, RG_RESOLVER_MAX_ADDRS,
                             &n, &none_ok);

    if (rv == -EAGAIN)
        return rg_errbuf_set(eb, "upstream %s: resolving target \"%s\"",
                             b->conf->name, t->target);
    if (rv != 0 || (n == 0 && !none_ok)) {
        bt->dns_error = 1; /* Kong's DNS_ERROR: the others still serve */
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        struct rg_upstream_addr *ua = &b->addrs[b->n_addrs];

        ua->addr = a[i];
        rg_gen__addr_key(&a[i], ua->key, sizeof(ua->key));
        ua->h = rg_health_get(b->conf->name, ua->key, t->target);
        ua->host_header = bt->host_header;
        if (ua->h == NULL)
            return rg_errbuf_set(eb, "out of memory");
        b->addr_target[b->n_addrs++] = ti;
    }
    return 0;
}

static int build_bal(struct rg_balanced *b)
{
    struct rg_bal_peer *p = rg_calloc(b->n_addrs ? b->n_addrs : 1, sizeof(*p));
    int rv;

    if (p == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < b->n_addrs; i++) {
        p[i].weight = b->targets[b->addr_target[i]].conf->weight;
        p[i].h = b->addrs[i].h;
        p[i].name = b->addrs[i].key;
    }
    rv =
        rg_bal_init(&b->bal, b->conf->algorithm, b->conf->slots, p, b->n_addrs);
    b->bal.threshold = b->conf->hc.threshold;
    rg_free(p);
    return rv;
}

static int one_upstream(struct rg_balanced *b, const struct rg_gateway *gw,
                        struct rg_gen_env *env, struct rg_errbuf *eb)
{
    size_t n = 0, k = 0;

    for (size_t i = 0; i < gw->n_targets; i++)
        n += gw->targets[i].upstream == b->index;
    b->targets = rg_calloc(n ? n : 1, sizeof(*b->targets));
    b->addrs = rg_calloc(n ? n * RG_RESOLVER_MAX_ADDRS : 1, sizeof(*b->addrs));
    b->addr_target =
        rg_calloc(n ? n * RG_RESOLVER_MAX_ADDRS : 1, sizeof(*b->addr_target));
    if (b->targets == NULL || b->addrs == NULL || b->addr_target == NULL)
        return rg_errbuf_set(eb, "out of memory");
    for (size_t i = 0; i < gw->n_targets; i++) {
        if (gw->targets[i].upstream != b->index)
            continue;
        b->targets[k].conf = &gw->targets[i];
        b->n_targets = ++k;
        if (host_header(&b->targets[k - 1]) != 0)
            return rg_errbuf_set(eb, "out of memory");
        if (add_target(b, k - 1, env, eb) != 0)
            return -1;
    }
    if (build_bal(b) != 0)
        return rg_errbuf_set(eb, "out of memory");
    return 0;
}

int rg_gen__ups_init(struct rg_gen *g, const struct rg_gateway *gw,
                     struct rg_gen_env *env, struct rg_errbuf *eb)
{
    if (gw->n_upstreams == 0)
        return 0;
    g->ups = rg_calloc(gw->n_upstreams, sizeof(*g->ups));
    if (g->ups == NULL)
        return rg_errbuf_set(eb, "out of memory");
    for (size_t i = 0; i < gw->n_upstreams; i++) {
        struct rg_balanced *b = &g->ups[i];

        b->conf = &gw->upstreams[i];
        b->index = i;
        g->n_ups = i + 1;
        if (one_upstream(b, gw, env, eb) != 0)
            return -1;
    }
    return 0;
}

const struct rg_balanced *rg_gen__ups_find(const struct rg_gen *g,
                                           const struct rg_gateway *gw,
                                           const char *host)
{
    for (size_t i = 0; i < g->n_ups; i++)
        if (strcmp(gw->upstreams[i].name, host) == 0)
            return &g->ups[i];
    return NULL;
}

void rg_gen__ups_free(struct rg_gen *g)
{
    for (size_t i = 0; i < g->n_ups; i++) {
        struct rg_balanced *b = &g->ups[i];

        for (size_t k = 0; k < b->n_targets; k++)
            rg_free(b->targets[k].host_header);
        rg_free(b->targets);
        rg_free(b->addrs);
        rg_free(b->addr_target);
        rg_bal_release(&b->bal);
    }
    rg_free(g->ups);
    g->ups = NULL;
    g->n_ups = 0;
}

int rg_gen_hcheck_sync(const struct rg_gen *g, struct rg_hchecker *c)
{
    struct rg_hcheck_item *v;
    size_t n = 0, k = 0;
    int rv;

    if (c == NULL)
        return 0;
    for (size_t i = 0; i < g->n_ups; i++)
        n += g->ups[i].n_addrs;
    v = rg_calloc(n ? n : 1, sizeof(*v));
    if (v == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < g->n_ups; i++) {
        const struct rg_balanced *b = &g->ups[i];

        for (size_t a = 0; a < b->n_addrs; a++) {
            v[k].upstream = b->conf->name;
            v[k].group = i;
            v[k].addr_key = b->addrs[a].key;
            v[k].host_header = b->addrs[a].host_header;
            v[k].h = b->addrs[a].h;
            v[k++].hc = &b->conf->hc;
        }
    }
    rv = rg_hchecker_set(c, v, k);
    rg_free(v);
    return rv;
}
