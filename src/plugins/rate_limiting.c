/* rate-limiting, policy local: Kong's fixed windows and raftgate's token
 * buckets (config: rate_limiting.h), counted in the node-wide tables of
 * ratelimit_table.h, so every worker of the node sees one count and a
 * window never admits past its limit.
 *
 * What is counted: Kong's key, the route and service (their id, else
 * their name) with the identifier and the window, so a global instance
 * counts each route apart, as Kong's local policy does, and the counts
 * survive reloads and admin writes (a changed limit applies to the
 * count so far). A token bucket is one limiter per name and identifier,
 * shared by every route whose instance names it (the seed's tiers are
 * per user, per IP, per key). Identifiers are hashed with the process's
 * SipHash key, so a client cannot aim a collision at another's count.
 *
 * A request takes one from each window, then each bucket; the first
 * refusal gives back what the others took and answers error_code with
 * error_message, Retry-After and X-RateLimit-Limit-Type (the window or
 * bucket that refused). Admitted or not, unless hide_client_headers:
 * X-RateLimit-Limit-<Window> and X-RateLimit-Remaining-<Window> per
 * window, and RateLimit-Limit/-Remaining/-Reset of the window with the
 * least remaining (the longer on a tie), as Kong 3. A table that lost
 * every race (never seen) admits when fault_tolerant, else answers 500. */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <uv.h>

#include "config/gateway.h"
#include "core/err.h"
#include "core/siphash.h"
#include "http/filter.h"
#include "http/req.h"
#include "plugins/rate_limiting.h"
#include "plugins/ratelimit_table.h"

/* ---- the windows' ends ---- */

static const uint32_t fixed_len[RL_MONTH] = {1, 60, 3600, 86400};

/* The start of the next month (@year 0) or year after @now, UTC. */
static uint32_t calendar_end(time_t now, int year)
{
    struct tm tm;

    gmtime_r(&now, &tm);
    tm.tm_sec = tm.tm_min = tm.tm_hour = 0;
    tm.tm_mday = 1;
    if (year) {
        tm.tm_mon = 0;
        tm.tm_year++;
    } else {
        tm.tm_mon++;
    }
    return (uint32_t)timegm(&tm);
}

/* Where window @w that holds @now ends (s), and its length. */
static uint32_t window_end(int w, uint32_t now, uint32_t *len)
{
    static _Thread_local uint32_t day, ends[2], lens[2];

    if (w < RL_MONTH) {
        *len = fixed_len[w];
        return now - now % fixed_len[w] + fixed_len[w];
    }
    if (day != now / 86400 || ends[0] == 0) {
        for (int y = 0; y < 2; y++) {
            time_t start;
            struct tm tm;
            time_t t = now;

            ends[y] = calendar_end(t, y);
            gmtime_r(&t, &tm);
            tm.tm_sec = tm.tm_min = tm.tm_hour = 0;
            tm.tm_mday = 1;
            if (y)
                tm.tm_mon = 0;
            start = timegm(&tm);
            lens[y] = ends[y] - (uint32_t)start;
        }
        day = now / 86400;
    }
    *len = lens[w - RL_MONTH];
    return ends[w - RL_MONTH];
}

/* ---- identifiers ---- */

static uint64_t mix(uint64_t x)
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

/* The hash of what @id counts @r by into *@h: 1, or 0 when it is missing
 * and @fallback is 0 (else the client's address stands in, as Kong). */
static int ident_hash(struct rg_req *r, const struct rl_ident *id,
                      int fallback, uint64_t *h)
{
    const struct rg_gateway *gw = rg_req_gateway(r);
    const struct rg_cred *cred = rg_req_credential(r);
    size_t ci = rg_req_consumer(r), len = 0;
    const char *s = NULL;
    struct sockaddr_storage ss;
    enum rl_by by = id->by;

    if (by == RL_BY_CONSUMER && ci == RG_NO_INDEX)
        by = RL_BY_CREDENTIAL; /* Kong counts by the credential then */
    switch (by) {
    case RL_BY_CONSUMER:
        s = first(gw->consumers[ci].id, gw->consumers[ci].username,
                  gw->consumers[ci].custom_id);
        break;
    case RL_BY_CREDENTIAL:
        if (cred != NULL)
            s = first(cred->id, cred->key, NULL);
        break;
    case RL_BY_SERVICE: {
        const struct rg_service *svc =
            &gw->services[gw->routes[rg_req_route(r)].service];
        s = first(svc->id, svc->name, svc->host);
        break;
    }
    case RL_BY_HEADER:
        s = rg_req_header(r, id->header_name, &len); /* not a string */
        break;
    case RL_BY_PATH:
        if (strcmp(rg_req_path(r, &len), id->path) == 0)
            s = id->path;
        break;
    case RL_BY_IP:
        break;
    }
    if (s != NULL && by != RL_BY_HEADER && by != RL_BY_PATH)
        len = strlen(s);
    if (s == NULL) {
        if (!fallback && by != RL_BY_IP)
            return 0;
        by = RL_BY_IP;
        rg_req_client_addr(r, 1, &ss);
        if (ss.ss_family == AF_INET6) {
            s = (const char *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
            len = 16;
        } else {
            s = (const char *)&((struct sockaddr_in *)&ss)->sin_addr;
            len = 4;
        }
    }
    *h = mix(rg_siphash_process(s, len) ^ by);
    return 1;
}

/* The route and service the windows count in. */
static uint64_t scope_hash(struct rg_req *r)
{
    const struct rg_gateway *gw = rg_req_gateway(r);
    size_t ri = rg_req_route(r);
    const struct rg_route *rt = &gw->routes[ri];
    const struct rg_service *svc = &gw->services[rt->service];
    const char *rs = first(rt->id, rt->name, NULL);
    uint64_t h = rs != NULL ? hash_str(rs) : mix(ri + 1);

    return mix(h * 31 + hash_str(first(svc->id, svc->name, svc->host)));
}

/* ---- the decision ---- */

struct verdict {
    int stop;                     /* -1, or the window that refused */
    int stop_bucket;              /* -1, or the bucket that refused */
    int busy;
    uint32_t remaining[RL_WINDOWS];
    uint32_t reset[RL_WINDOWS];   /* s until the window ends */
    uint32_t bucket_wait_ms;
    uint64_t key[RL_WINDOWS];     /* the windows' table keys */
    uint32_t end[RL_WINDOWS];
};

static int add(struct rg_req *r, const char *name, unsigned long v, int rv)
{
    char num[24];

    if (rv < 0)
        return rv;
    snprintf(num, sizeof(num), "%lu", v);
    return rg_req_add_header(r, RG_TO_CLIENT, name, num);
}

static int window_headers(struct rg_req *r, const struct rl_conf *c,
                          const struct verdict *v)
{
    char name[48];
    int best = -1, rv = 0;

    for (int w = 0; w < RL_WINDOWS; w++) {
        if (c->limit[w] == 0)
            continue;
        snprintf(name, sizeof(name), "X-RateLimit-Limit-%s",
                 rl_window_title[w]);
        rv = add(r, name, c->limit[w], rv);
        snprintf(name, sizeof(name), "X-RateLimit-Remaining-%s",
                 rl_window_title[w]);
        rv = add(r, name, v->remaining[w], rv);
        if (best < 0 || v->remaining[w] <= v->remaining[best])
            best = w;
    }
    if (best < 0)
        return rv;
    rv = add(r, "RateLimit-Limit", c->limit[best], rv);
    rv = add(r, "RateLimit-Remaining", v->remaining[best], rv);
    return add(r, "RateLimit-Reset", v->reset[best], rv);
}

static enum rg_filter_status refuse(struct rg_req *r, const struct rl_conf *c,
                                    const struct verdict *v)
{
    const char *type;
    unsigned long after;
    int rv = 0;

    if (v->stop >= 0) {
        int best = v->stop;
        /* wait for every full window: the longest full one's reset */
        for (int w = v->stop + 1; w < RL_WINDOWS; w++)
            if (c->limit[w] != 0 && v->remaining[w] == 0)
                best = w;
        type = rl_window_name[v->stop];
        after = v->reset[best];
    } else {
        type = c->bucket[v->stop_bucket].name;
        after = (v->bucket_wait_ms + 999) / 1000;
    }
    rv = add(r, "Retry-After", after > 0 ? after : 1, rv);
    if (rv == 0)
        rv = rg_req_add_header(r, RG_TO_CLIENT, "X-RateLimit-Limit-Type",
                               type);
    if (rv == 0)
        rv = rg_req_respond(r, c->error_code, c->error_body,
                            strlen(c->error_body));
    if (rv < 0) {
        rg_req_fail(r, rv);
        return RG_FILTER_ERROR;
    }
    return RG_FILTER_RESPOND;
}

/* Give back what windows up to @last took. */
static void untake_windows(const struct rl_conf *c, struct verdict *v,
                           int last)
{
    for (int w = 0; w <= last; w++) {
        if (c->limit[w] == 0)
            continue;
        rg_rlt_rollback(v->key[w], v->end[w]);
        v->remaining[w]++;
    }
}

/* Take from every window; on a refusal give back what was taken. */
static void take_windows(struct rg_req *r, const struct rl_conf *c,
                         uint32_t now, struct verdict *v)
{
    uint64_t id, base;
    int taken = -1;

    (void)ident_hash(r, &c->id, 1, &id);
    base = mix(id ^ scope_hash(r));
    for (int w = 0; w < RL_WINDOWS; w++) {
        uint32_t len, count;
        int rv;

        if (c->limit[w] == 0)
            continue;
        v->end[w] = window_end(w, now, &len);
        v->key[w] = mix(base + (uint64_t)w * 0x9e3779b97f4a7c15ull);
        v->reset[w] = v->end[w] - now;
        if (v->stop >= 0 || v->busy) {
            uint32_t n = rg_rlt_count(v->key[w], v->end[w]);
            v->remaining[w] = n < c->limit[w] ? c->limit[w] - n : 0;
            continue;
        }
        rv = rg_rlt_take(v->key[w], now, v->end[w], c->limit[w], &count);
        if (rv == RG_RLT_BUSY) {
            v->busy = 1;
            continue;
        }
        v->remaining[w] = c->limit[w] - count;
        if (rv == RG_RLT_FULL)
            v->stop = w;
        else
            taken = w;
    }
    if (v->stop >= 0 || v->busy)
        untake_windows(c, v, taken);
}

static uint64_t bucket_key(const struct rl_bucket *b, uint64_t id)
{
    return mix(id ^ hash_str(b->name));
}

/* Take from every bucket that applies; as take_windows. */
static void take_buckets(struct rg_req *r, const struct rl_conf *c,
                         struct verdict *v)
{
    uint32_t now_ms = (uint32_t)(uv_hrtime() / 1000000);
    uint64_t id[RL_BUCKETS_MAX];
    int has[RL_BUCKETS_MAX] = {0};
    size_t i;

    for (i = 0; i < c->n_buckets; i++) {
        const struct rl_bucket *b = &c->bucket[i];
        uint32_t left;
        int rv;

        has[i] = ident_hash(r, &b->id, 0, &id[i]);
        if (!has[i])
            continue;
        rv = rg_rlt_bucket_take(bucket_key(b, id[i]), now_ms, b->rate,
                                b->burst, &left, &v->bucket_wait_ms);
        if (rv == RG_RLT_ADMIT)
            continue;
        has[i] = 0;
        if (rv == RG_RLT_BUSY)
            v->busy = 1;
        else
            v->stop_bucket = (int)i;
        break;
    }
    if (i == c->n_buckets)
        return;
    while (i-- > 0)
        if (has[i])
            rg_rlt_bucket_rollback(bucket_key(&c->bucket[i], id[i]),
                                   c->bucket[i].burst);
}

static enum rg_filter_status rl_access(const struct rg_filter_call *fc)
{
    const struct rl_conf *c = fc->conf;
    struct verdict v = {.stop = -1, .stop_bucket = -1};
    uint32_t now = (uint32_t)time(NULL);
    int rv = 0;

    take_windows(fc->r, c, now, &v);
    if (v.stop < 0 && !v.busy) {
        take_buckets(fc->r, c, &v);
        if (v.stop_bucket >= 0 || v.busy)
            untake_windows(c, &v, RL_WINDOWS - 1);
    }
    if (v.busy) {
        if (c->fault_tolerant)
            return RG_FILTER_CONTINUE; /* Kong: proxied, no headers */
        rg_req_fail(fc->r, RG_EPLUGIN); /* 500, as Kong */
        return RG_FILTER_ERROR;
    }
    if (!c->hide_client_headers)
        rv = window_headers(fc->r, c, &v);
    if (rv < 0) {
        rg_req_fail(fc->r, rv);
        return RG_FILTER_ERROR;
    }
    if (v.stop >= 0 || v.stop_bucket >= 0)
        return refuse(fc->r, c, &v);
    return RG_FILTER_CONTINUE;
}

#define ALL_PROTOS                                                             \
    (RG_PROTO_HTTP | RG_PROTO_HTTPS | RG_PROTO_GRPC | RG_PROTO_GRPCS)

const struct rg_filter_ops rg_plugin_rate_limiting = {
    .schema = {.name = "rate-limiting",
               .conf_parse = rl_conf_parse,
               .conf_free = rl_conf_free,
               .protocols = ALL_PROTOS},
    .priority = 910, /* Kong's */
    .on_access = rl_access,
};
