/* rate-limiting's keys: the windows' ends and the identifiers a request
 * is counted by (rate_limiting.h). */
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "config/gateway.h"
#include "core/siphash.h"
#include "core/window.h"
#include "http/req.h"
#include "plugins/rate_limiting.h"

/* The arithmetic is core/window.h's, shared with the cluster ledger
 * (raft/fsm_quota.c); the units are numbered alike. */
_Static_assert((int)RG_RL_YEAR == (int)RG_WIN_YEAR &&
                   (int)RG_RL_MONTH == (int)RG_WIN_MONTH &&
                   (int)RG_RL_SECOND == (int)RG_WIN_SECOND,
               "rate-limiting windows and core/window.h units differ");

uint32_t rg_rl__window_end(enum rg_rl_window w, uint32_t now)
{
    static _Thread_local uint32_t day = UINT32_MAX, ends[2];

    if (w < RG_RL_MONTH)
        return (uint32_t)rg_window_end((enum rg_window_unit)w, now);
    if (day != now / 86400) { /* months and years end at midnight */
        ends[0] = (uint32_t)rg_window_end(RG_WIN_MONTH, now);
        ends[1] = (uint32_t)rg_window_end(RG_WIN_YEAR, now);
        day = now / 86400;
    }
    return ends[w - RG_RL_MONTH];
}

uint64_t rg_rl__mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ x >> 31;
}

static uint64_t hash_str(const char *s)
{
    return s != NULL ? rg_siphash_process(s, strlen(s)) : 0;
}

static const char *first(const char *a, const char *b, const char *c)
{
    return a != NULL ? a : b != NULL ? b : c;
}

int rg_rl__ident(struct rg_req *r, const struct rg_rl_ident *id,
                 int fallback, uint64_t *h)
{
    const struct rg_gateway *gw = rg_req_gateway(r);
    const struct rg_cred *cred = rg_req_credential(r);
    size_t ci = rg_req_consumer(r), len = 0;
    const char *s = NULL;
    struct sockaddr_storage ss;
    enum rg_rl_by by = id->by;

    if (by == RG_RL_BY_CONSUMER && ci == RG_NO_INDEX)
        by = RG_RL_BY_CREDENTIAL; /* Kong counts by the credential then */
    switch (by) {
    case RG_RL_BY_CONSUMER:
        s = first(gw->consumers[ci].id, gw->consumers[ci].username,
                  gw->consumers[ci].custom_id);
        break;
    case RG_RL_BY_CREDENTIAL:
        if (cred != NULL)
            s = first(cred->id, cred->key, NULL);
        break;
    case RG_RL_BY_SERVICE: {
        const struct rg_service *svc =
            &gw->services[gw->routes[rg_req_route(r)].service];
        s = first(svc->id, svc->name, svc->host);
        break;
    }
    case RG_RL_BY_HEADER:
        s = rg_req_header(r, id->header_name, &len); /* not a string */
        break;
    case RG_RL_BY_PATH:
        if (strcmp(rg_req_path(r, &len), id->path) == 0)
            s = id->path;
        break;
    case RG_RL_BY_IP:
        break;
    }
    if (s != NULL && by != RG_RL_BY_HEADER && by != RG_RL_BY_PATH)
        len = strlen(s);
    if (s == NULL) {
        if (!fallback && by != RG_RL_BY_IP)
            return 0;
        by = RG_RL_BY_IP;
        rg_req_client_addr(r, 1, &ss);
        if (ss.ss_family == AF_INET6) {
            s = (const char *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
            len = 16;
        } else {
            s = (const char *)&((struct sockaddr_in *)&ss)->sin_addr;
            len = 4;
        }
    }
    *h = rg_rl__mix(rg_siphash_process(s, len) ^ by);
    return 1;
}

uint64_t rg_rl__scope(struct rg_req *r)
{
    static _Thread_local uint64_t gen, hash;
    static _Thread_local size_t route = RG_NO_INDEX;
    const struct rg_gateway *gw = rg_req_gateway(r);
    size_t ri = rg_req_route(r);
    const struct rg_route *rt = &gw->routes[ri];
    const struct rg_service *svc = &gw->services[rt->service];
    const char *rs;
    uint64_t h;

    if (gen == rg_req_gen_id(r) && route == ri)
        return hash;
    rs = first(rt->id, rt->name, NULL);
    h = rs != NULL ? hash_str(rs) : rg_rl__mix(ri + 1);
    gen = rg_req_gen_id(r);
    route = ri;
    hash = rg_rl__mix(h * 31 + hash_str(first(svc->id, svc->name, svc->host)));
    return hash;
}
