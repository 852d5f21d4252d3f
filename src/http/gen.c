/* Config generations: compile, share, free. */
#include "http/gen.h"

#include "core/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "core/strmap.h"
#include "http/filter.h"
#include "http/gen_int.h"
#include "http/metrics.h"

/* "ip:port" of @a, with its own port (a Consul instance brings one). */
void rg_gen__addr_key(const struct sockaddr_storage *a, char *key, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    uint16_t port = ntohs(a->ss_family == AF_INET6
                              ? ((const struct sockaddr_in6 *)a)->sin6_port
                              : ((const struct sockaddr_in *)a)->sin_port);
    const void *in =
        a->ss_family == AF_INET6
            ? (const void *)&((const struct sockaddr_in6 *)a)->sin6_addr
            : (const void *)&((const struct sockaddr_in *)a)->sin_addr;

    inet_ntop(a->ss_family, in, ip, sizeof(ip));
    snprintf(key, cap, "%s:%u", ip, port);
}

int rg_gen__resolve(struct rg_gen_env *env, const char *host, uint16_t port,
                    struct sockaddr_storage *a, size_t cap, size_t *n,
                    int *none_ok)
{
    int rv = 1;

    *none_ok = 1;
    if (env->consul != NULL)
        rv = rg_consul_get(env->consul, host, a, cap, n);
    else if (rg_consul_name_parse(host, env->consul_domain, NULL) == 1) {
        *n = 0; /* no watches (start-up, -t): no address yet */
        return 0;
    }
    if (rv == 1) {
        *none_ok = 0;
        rv = env->resolver != NULL
                 ? rg_resolver_get(env->resolver, host, port, a, cap, n)
                 : rg_resolve_now(host, port, a, cap, n);
    }
    if (rv == -EAGAIN)
        env->waiting = 1;
    return rv;
}

/* A service whose host is an upstream's name: its balancer does the
 * rest (the service's port is unused, as in Kong). */
static int balanced_init(struct rg_upstream_target *t,
                         const struct rg_balanced *up)
{
    t->up = up;
    t->host_header = rg_strdup(up->conf->name);
    return t->host_header == NULL ? -1 : 0;
}

static int target_init(struct rg_upstream_target *t,
                       const struct rg_service *svc, struct rg_gen_env *env,
                       struct rg_errbuf *eb)
{
    struct sockaddr_storage a[RG_CONSUL_MAX_INSTANCES]; /* >= resolver's */
    char hp[300];
    size_t n = 0;
    int none_ok, rv;

    snprintf(hp, sizeof(hp), strchr(svc->host, ':') ? "[%s]:%u" : "%s:%u",
             svc->host, svc->port);
    rv = rg_gen__resolve(env, svc->host, svc->port, a,
                         RG_CONSUL_MAX_INSTANCES, &n, &none_ok);
    if (rv == 0 && n == 0 && !none_ok)
        rv = -EHOSTUNREACH; /* a target needs an address (pick_addr) */
    if (rv == -EAGAIN) {
        return rg_errbuf_set(eb, "service %s: resolving host \"%s\"",
                             svc->name ? svc->name : "?", svc->host);
    }
    if (rv != 0)
        return rg_errbuf_set(eb, "service %s: cannot resolve host \"%s\": %s",
                             svc->name ? svc->name : "?", svc->host,
                             rg_strerror(rv));
    t->host_header = rg_strdup(hp);
    t->addrs = rg_calloc(n ? n : 1, sizeof(*t->addrs));
    if (t->host_header == NULL || t->addrs == NULL) {
        rg_free(t->host_header); /* not counted in n_targets yet */
        rg_free(t->addrs);
        return rg_errbuf_set(eb, "out of memory");
    }
    if (svc->port == 80)
        t->host_header[strlen(hp) - 3] = '\0';
    for (size_t i = 0; i < n; i++) {
        t->addrs[i].addr = a[i];
        rg_gen__addr_key(&a[i], t->addrs[i].key, sizeof(t->addrs[i].key));
    }
    t->n_addrs = n;
    return 0;
}

/* Start the watch of every Consul name of @gw now, so that a rebuild
 * waits for their first answers together rather than one name per
 * rebuild (target_init stops at the first name not known yet). */
static void consul_prime(const struct rg_gateway *gw, struct rg_gen_env *env)
{
    struct sockaddr_storage a[1];
    size_t n;

    if (env->consul == NULL)
        return;
    /* Any answer will do; the builders report the errors. */
    for (size_t i = 0; i < gw->n_services; i++)
        if (rg_consul_get(env->consul, gw->services[i].host, a, 1, &n) < 0)
            continue;
    for (size_t i = 0; i < gw->n_targets; i++)
        if (rg_consul_get(env->consul, gw->targets[i].host, a, 1, &n) < 0)
            continue;
}

static int limits_init(struct rg_limits *l, const struct rg_node_conf *nc)
{
    l->header_timeout_ms = nc->header_timeout_ms;
    l->idle_timeout_ms = nc->idle_timeout_ms;
    l->max_header_size = nc->max_header_size;
    l->max_body_size = nc->max_body_size;
    l->pool.keep_min = nc->upstream_keepalive;
    l->pool.keep_max = nc->upstream_keepalive_max;
    l->pool.idle_ms = nc->upstream_idle_ms;
    l->max_connections = nc->max_connections;
    l->via = rg_strdup(nc->via ? nc->via : "");
    l->server = rg_strdup(nc->server ? nc->server : "");
    if (rg_cidrs_copy(&l->trusted_ips, &nc->trusted_ips) != 0)
        return -1;
    return l->via && l->server ? 0 : -1;
}

static void chains_free(struct rg_gen *g)
{
    for (size_t i = 0; g->chains != NULL && i < g->gw.n_routes; i++)
        rg_chain_free(g->chains[i]);
    rg_free(g->chains);
    rg_chain_free(g->global);
    g->chains = NULL;
    g->global = NULL;
}

static void gen_free(struct rg_gen *g)
{
    for (size_t i = 0; i < g->n_targets; i++) {
        rg_free(g->targets[i].host_header);
        rg_free(g->targets[i].addrs);
        rg_tls_client_free(g->targets[i].tls);
    }
    rg_free(g->targets);
    rg_gen__ups_free(g);
    chains_free(g);
    rg_router_free(g->router);
    rg_gateway_release(&g->gw);
    rg_free(g->limits.via);
    rg_free(g->limits.server);
    rg_cidrs_release(&g->limits.trusted_ips);
    rg_free(g->met_route);
    rg_free(g->met_svc);
    rg_free(g);
}

/* Every route's chain and the global one, once per generation. */
static int chains_init(struct rg_gen *g, const struct rg_filter_ops *const *ops)
{
    const struct rg_gateway *gw = &g->gw;

    g->ops = ops;
    if (gw->n_plugins == 0)
        return 0; /* every chain is empty: no array */
    g->chains = rg_calloc(gw->n_routes ? gw->n_routes : 1, sizeof(*g->chains));
    if (g->chains == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < gw->n_routes; i++) {
        int rv = rg_chain_build(gw, ops, i, &g->chains[i]);

        if (rv != 0)
            return rv;
    }
    return rg_chain_build(gw, ops, RG_NO_INDEX, &g->global);
}

/* Say which plugins of @gw are read but not enforced yet, once per type
 * and generation. */
static void warn_pending(const struct rg_gateway *gw,
                         const struct rg_filter_ops *const *ops)
{
    uint64_t said = 0; /* per catalog type below 64 */

    for (size_t i = 0; i < gw->n_plugins; i++) {
        const struct rg_plugin_inst *p = &gw->plugins[i];
        uint64_t bit = p->type < 64 ? (uint64_t)1 << p->type : 0;

        if (ops[p->type]->pending == NULL || !p->enabled || (said & bit))
            continue;
        said |= bit;
        rg_log(RG_LOG_WARN, "plugin %s: config accepted, not enforced yet (%s)",
               ops[p->type]->schema.name, ops[p->type]->pending);
    }
}

/* An https service's client context and pool-key tag. */
static int tls_init(struct rg_upstream_target *t, const struct rg_gateway *gw,
                    const struct rg_service *svc, const struct rg_node_conf *nc,
                    struct rg_errbuf *eb)
{
    struct rg_tls_client_conf tc = {
        .verify = svc->tls_verify,
        .verify_depth = svc->tls_verify_depth,
        .ca_file = nc->proxy_upstream_ca_file,
        .client_cert = svc->client_certificate != RG_NO_INDEX
                           ? gw->certificates[svc->client_certificate].tls
                           : NULL,
    };
    const struct rg_tls_ca **cas;
    struct rg_errbuf inner;
    char what[400];
    uint64_t h;

    cas = rg_calloc(svc->n_ca_certificates + 1, sizeof(*cas));
    if (cas == NULL)
        return rg_errbuf_set(eb, "out of memory");
    for (size_t i = 0; i < svc->n_ca_certificates; i++)
        cas[i] = gw->ca_certificates[svc->ca_certificates[i]].tls;
    tc.cas = cas;
    tc.n_cas = svc->n_ca_certificates;
    t->tls = rg_tls_client_new(&tc, &inner);
    rg_free(cas);
    if (t->tls == NULL)
        return rg_errbuf_set(eb, "service %s: %s", svc->name ? svc->name : "?",
                             inner.msg);
    t->tls_host = svc->host;
    snprintf(what, sizeof(what), "%s|%d|%u|%s|%zu", svc->host, svc->tls_verify,
             svc->tls_verify_depth,
             nc->proxy_upstream_ca_file ? nc->proxy_upstream_ca_file : "",
             svc->client_certificate);
    h = rg_fnv1a(what, strlen(what));
    /* a pooled connection was verified against these trust anchors */
    for (size_t i = 0; i < svc->n_ca_certificates; i++)
        h = rg_fnv1a_more(
            h, gw->ca_certificates[svc->ca_certificates[i]].digest,
            RG_TLS_DIGEST_LEN);
    snprintf(t->tls_tag, sizeof(t->tls_tag), "~%016llx", (unsigned long long)h);
    return 0;
}

struct rg_gen *rg_gen_new(struct rg_gateway *gw, const struct rg_node_conf *nc,
                          struct rg_gen_env *env, uint64_t id,
                          struct rg_errbuf *eb)
{
    struct rg_gen *g = rg_calloc(1, sizeof(*g));

    if (g == NULL)
        return NULL;
    env->consul_domain = nc->consul_domain;
    g->targets = rg_calloc(gw->n_services ? gw->n_services : 1,
                           sizeof(*g->targets));
    if (g->targets == NULL || limits_init(&g->limits, nc) != 0 ||
        rg_met_gen_slots(gw, &g->met_route, &g->met_svc) != 0)
        goto err;
    consul_prime(gw, env);
    if (rg_gen__ups_init(g, gw, env, eb) != 0)
        goto err;
    for (size_t i = 0; i < gw->n_services; i++) {
        const struct rg_balanced *up =
            rg_gen__ups_find(g, gw, gw->services[i].host);

        if (up != NULL ? balanced_init(&g->targets[i], up) != 0
                       : target_init(&g->targets[i], &gw->services[i], env,
                                     eb) != 0)
            goto err;
        g->n_targets++;
        if (gw->services[i].https &&
            tls_init(&g->targets[i], gw, &gw->services[i], nc, eb) != 0)
            goto err;
    }
    g->gw = *gw;
    g->router = rg_router_new(&g->gw);
    if (g->router == NULL) {
        memset(&g->gw, 0, sizeof(g->gw));
        rg_errbuf_set(eb, "out of memory compiling routes");
        goto err;
    }
    memset(gw, 0, sizeof(*gw));
    if (chains_init(g, env->ops) != 0) {
        /* @gw was taken: give it back. */
        chains_free(g);
        *gw = g->gw;
        memset(&g->gw, 0, sizeof(g->gw));
        rg_errbuf_set(eb, "out of memory compiling plugin chains");
        goto err;
    }
    warn_pending(&g->gw, env->ops);
    atomic_init(&g->refs, 1);
    g->id = id;
    return g;
err:
    /* @gw still belongs to the caller: g->gw is zeroed here. */
    memset(&g->gw, 0, sizeof(g->gw));
    gen_free(g);
    return NULL;
}

void rg_gen_unref(struct rg_gen *g)
{
    if (g != NULL &&
        atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) == 1)
        gen_free(g);
}
