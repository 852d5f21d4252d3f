/* Balanced attempts and passive health; see balance.h. */
#include "http/balance.h"

#include <arpa/inet.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "http/gen.h"
#include "http/req.h"
#include "http/status.h"
#include "http/wctx.h"
#include "http/conn.h"

/* The value @on names for @r into *@p/@len; 0 when it has none. */
static int hash_value(struct rg_req *r, const struct rg_upstream *u,
                      enum rg_hash_on on, const char *header, char *buf,
                      size_t cap, const char **p, size_t *len)
{
    const struct rg_gateway *gw = &r->gen->gw;
    struct sockaddr_storage a;
    size_t ci;

    (void)u;
    switch (on) {
    case RG_HASH_CONSUMER:
        ci = rg_req_consumer(r);
        if (ci == RG_NO_INDEX)
            return 0;
        *p = gw->consumers[ci].id         ? gw->consumers[ci].id
             : gw->consumers[ci].username ? gw->consumers[ci].username
                                          : gw->consumers[ci].custom_id;
        *len = strlen(*p);
        return 1;
    case RG_HASH_IP:
        rg_req_client_addr(r, 1, &a);
        if (inet_ntop(
                a.ss_family,
                a.ss_family == AF_INET6
                    ? (const void *)&((struct sockaddr_in6 *)&a)->sin6_addr
                    : (const void *)&((struct sockaddr_in *)&a)->sin_addr,
                buf, (socklen_t)cap) == NULL)
            return 0;
        *p = buf;
        *len = strlen(buf);
        return 1;
    case RG_HASH_HEADER:
        *p = rg_req_header(r, header, len);
        return *p != NULL;
    case RG_HASH_PATH:
        *p = rg_req_path(r, len);
        return *p != NULL;
    default:
        return 0;
    }
}

/* Kong: hash_on's value, or hash_fallback's when it has none. */
static int request_hash(struct rg_req *r, const struct rg_upstream *u,
                        uint64_t *hash)
{
    char buf[INET6_ADDRSTRLEN];
    const char *p;
    size_t len;

    if (hash_value(r, u, u->hash_on, u->hash_on_header, buf, sizeof(buf), &p,
                   &len) ||
        hash_value(r, u, u->hash_fallback, u->hash_fallback_header, buf,
                   sizeof(buf), &p, &len)) {
        *hash = rg_bal_hash(p, len);
        return 1;
    }
    return 0;
}

/* The worker's turn counter of upstream @up: after the services' ones in
 * w->rr (which only grows). */
static unsigned next_turn(struct rg_req *r, const struct rg_balanced *up)
{
    struct rg_wctx *w = r->c->w;
    size_t at = r->gen->n_targets + up->index;

    if (at >= w->n_rr) {
        size_t n = r->gen->n_targets + r->gen->n_ups;
        unsigned *rr = rg_realloc(w->rr, n * sizeof(*rr));

        if (rr == NULL)
            return 0; /* this request starts at the first turn */
        memset(rr + w->n_rr, 0, (n - w->n_rr) * sizeof(*rr));
        w->rr = rr;
        w->n_rr = n;
    }
    return w->rr[at]++;
}

const struct rg_upstream_addr *rg_balance_pick(struct rg_req *r)
{
    const struct rg_balanced *up = r->tgt->up;
    struct rg_bal_in in;
    size_t i;

    if (r->attempts == 1) {
        r->rr_base = next_turn(r, up);
        r->peer = RG_BAL_NONE;
    }
    in.seq = (uint64_t)r->rr_base + r->attempts - 1;
    in.rnd = rg_wctx_rand(r->c->w);
    in.has_hash = up->conf->algorithm == RG_LB_HASH &&
                  request_hash(r, up->conf, &in.hash);
    in.exclude = r->peer;
    i = rg_bal_pick(&up->bal, &in);
    if (i == RG_BAL_NONE)
        return NULL;
    r->peer = i;
    r->busy = up->addrs[i].h;
    if (r->busy != NULL)
        atomic_fetch_add_explicit(&r->busy->active, 1, memory_order_relaxed);
    return &up->addrs[i];
}

void rg_balance_done(struct rg_req *r)
{
    if (r->busy == NULL)
        return;
    atomic_fetch_sub_explicit(&r->busy->active, 1, memory_order_relaxed);
    r->busy = NULL;
}

static void report(struct rg_req *r, enum rg_health_outcome what,
                   unsigned status)
{
    const struct rg_upstream *u = r->tgt->up->conf;

    if (rg_health_report(r->addr->h, &u->hc.passive.healthy,
                         &u->hc.passive.unhealthy, what, status))
        rg_log(RG_LOG_WARN,
               "worker %u: upstream %s target %s: %s (passive "
               "check)",
               r->c->w->index, u->name, r->addr->key,
               rg_health_usable(r->addr->h) ? "healthy" : "unhealthy");
}

void rg_balance_failed(struct rg_req *r, int err)
{
    if (r->tgt->up == NULL || r->addr == NULL || r->addr->h == NULL)
        return;
    report(r,
           rg_status_of(err) == 504 ? RG_HEALTH_TIMEOUT : RG_HEALTH_TCP_FAILURE,
           0);
}

void rg_balance_status(struct rg_req *r, unsigned status)
{
    if (r->tgt->up == NULL || r->addr == NULL || r->addr->h == NULL)
        return;
    report(r, RG_HEALTH_HTTP, status);
}
