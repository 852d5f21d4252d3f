/* rate-limiting's keys: the windows' ends and the identifiers a request
 * is counted by (rate_limiting.h). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "config/gateway.h"
#include "core/siphash.h"
#include "core/window.h"
#include "http/req.h"
#include "plugins/quota_table.h"
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

/* What @id counts @r by: 1 with *@s (@len bytes, not a string) and
 * *@byp set (ip: the address bytes, in @ss), or 0 when missing and not
 * @fallback. */
static int ident_text(struct rg_req *r, const struct rg_rl_ident *id,
                      int fallback, const char **sp, size_t *lenp,
                      enum rg_rl_by *byp, struct sockaddr_storage *ssp)
{
    const struct rg_gateway *gw = rg_req_gateway(r);
    const struct rg_cred *cred = rg_req_credential(r);
    size_t ci = rg_req_consumer(r), len = 0;
    const char *s = NULL;
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
        rg_req_client_addr(r, 1, ssp);
        if (ssp->ss_family == AF_INET6) {
            s = (const char *)&((struct sockaddr_in6 *)ssp)->sin6_addr;
            len = 16;
        } else {
            s = (const char *)&((struct sockaddr_in *)ssp)->sin_addr;
            len = 4;
        }
    }
    *sp = s;
    *lenp = len;
    *byp = by;
    return 1;
}

int rg_rl__ident(struct rg_req *r, const struct rg_rl_ident *id,
                 int fallback, uint64_t *h)
{
    struct sockaddr_storage ss;
    enum rg_rl_by by;
    const char *s;
    size_t len;

    if (!ident_text(r, id, fallback, &s, &len, &by, &ss))
        return 0;
    *h = rg_rl__mix(rg_siphash_process(s, len) ^ by);
    return 1;
}

/* Printable without space: the ledger's key alphabet (raft/quota.h). */
static int key_clean(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            return 0;
    return 1;
}

size_t rg_rl__cluster_key(struct rg_req *r, const struct rg_rl_conf *c,
                          int w, char *out, size_t cap)
{
    static const char *const by_name[] = {"consumer", "credential", "ip",
                                          "service", "header", "path"};
    const struct rg_gateway *gw = rg_req_gateway(r);
    const struct rg_route *rt = &gw->routes[rg_req_route(r)];
    const struct rg_service *svc = &gw->services[rt->service];
    struct sockaddr_storage ss;
    char text[1024], ip[INET6_ADDRSTRLEN];
    unsigned char md[SHA256_DIGEST_LENGTH];
    enum rg_rl_by by;
    const char *s;
    size_t len;
    int n;

    (void)ident_text(r, &c->id, 1, &s, &len, &by, &ss);
    if (by == RG_RL_BY_IP) {
        inet_ntop(ss.ss_family,
                  ss.ss_family == AF_INET6
                      ? (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
                      : (const void *)&((struct sockaddr_in *)&ss)->sin_addr,
                  ip, sizeof(ip));
        s = ip;
        len = strlen(ip);
    }
    n = snprintf(text, sizeof(text), "%s|%s|%s|%s:%.*s",
                 first(rt->id, rt->name, ""),
                 first(svc->id, svc->name, svc->host),
                 rg_rl__window_name[w], by_name[by],
                 (int)(len < 512 ? len : 512), s);
    if (n > 0 && (size_t)n < cap && (size_t)n <= RG_QT_KEY_MAX &&
        len < 512 && key_clean(text, (size_t)n)) {
        memcpy(out, text, (size_t)n + 1);
        return (size_t)n;
    }
    /* Too long or not printable: its SHA-256, the same on every node. The
     * identifier is hashed whole (not the 512 bytes shown above). */
    {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();

        memset(md, 0, sizeof(md));
        if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
            EVP_DigestUpdate(ctx, text, n > 0 ? (size_t)n : 0) != 1 ||
            EVP_DigestUpdate(ctx, s, len) != 1 ||
            EVP_DigestFinal_ex(ctx, md, NULL) != 1) {
            EVP_MD_CTX_free(ctx);
            return 0;
        }
        EVP_MD_CTX_free(ctx);
    }
    n = snprintf(out, cap, "sha256:");
    for (size_t i = 0; i < sizeof(md) && (size_t)n + 2 < cap; i++)
        n += snprintf(out + n, cap - (size_t)n, "%02x", md[i]);
    return (size_t)n;
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
    /* Names first: in single-node mode a generation built from the file
     * has no ids and one rebuilt from the admin API's copy of it (for a
     * Consul change) has generated ones; a name is the same in both. */
    rs = first(rt->name, rt->id, NULL);
    h = rs != NULL ? hash_str(rs) : rg_rl__mix(ri + 1);
    gen = rg_req_gen_id(r);
    route = ri;
    hash = rg_rl__mix(h * 31 + hash_str(first(svc->name, svc->id, svc->host)));
    return hash;
}
