/* proxy-cache: Kong's response cache (strategy memory), one LRU per
 * worker (plugins/cache_store.h), with raftgate's graceful degradation.
 * Priority 100 (Kong's): ACCESS runs after authentication, so the
 * consumer is known when the key is built.
 *
 * Config: proxy_cache.h; key: proxy_cache_key.c.
 *
 * A request is Bypass when its method is not listed, with cache_control
 * when it says no-store or no-cache, and whenever it has Authorization
 * and no consumer was identified with vary_by_consumer on (Kong checks
 * Authorization only with cache_control). A response is stored when its
 * status and Content-Type are listed and, with cache_control, it is not
 * private, no-store or no-cache and has a positive s-maxage, max-age or
 * Expires (its TTL; without cache_control the TTL is cache_ttl); else it
 * is Bypass. With cache_control a request's max-age and min-fresh can
 * make a fresh entry too old (Refresh), only-if-cached answers 504 when
 * nothing fresh is. Kept in the store for max(TTL + stale_if_error,
 * storage_ttl); a kept, expired entry makes the request Refresh.
 *
 * Cost: every response on a route with the plugin is buffered whole
 * before it goes out (RG_FILTER_RESP_BODY is per instance: the chain
 * cannot know in advance which responses are cacheable), capped at
 * PC_BODY_MAX (past it 502, as every buffering plugin). HEAD requests
 * are looked up, but never stored (no body reaches BODY). A hit takes no
 * lock, no malloc and no body copy: the stored head lines and body are
 * written from the entry (rg_req_respond_stored). */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http/filter.h"
#include "http/metrics.h"
#include "http/req.h"
#include "plugins/cache_rules.h"
#include "plugins/cache_store.h"
#include "plugins/proxy_cache.h"

#define PC_BODY_MAX (16u << 20)

static unsigned pc_wants(const void *conf, uint32_t *body_max)
{
    (void)conf;
    *body_max = PC_BODY_MAX;
    return RG_FILTER_RESP_BODY;
}

/* ---- runtime ---- */

enum pc_state {
    PC_NONE = 0, /* ACCESS did not run (an earlier plugin answered) */
    PC_BYPASS,
    PC_MISS,
    PC_REFRESH,
    PC_HIT,
    PC_STORE, /* HEADER found the response cacheable */
};

struct pc_ctx {
    uint8_t state;
    struct rg_pc_key k;
    uint64_t ttl_ms;
};

static void req_cc(struct rg_req *r, struct rg_cc *cc)
{
    size_t n;
    const char *v = rg_req_header(r, "cache-control", &n);

    rg_cc_init(cc);
    if (v != NULL)
        rg_cc_parse(v, n, cc);
}

/* Add the X-Cache-Status (and X-Cache-Key, Age) headers the config
 * asks for; @age < 0: none. */
static int cache_headers(const struct rg_pc_conf *c, struct rg_req *r,
                         const char *status, const struct pc_ctx *x,
                         long long age)
{
    char buf[24];
    int rv = 0;

    rg_req_log_cache(r, status);
    rg_met_cache(r, status);
    if (c->h_status)
        rv = rg_req_set_header(r, RG_TO_CLIENT, "X-Cache-Status", status);
    if (rv == 0 && c->h_key && x->k.key != NULL)
        rv = rg_req_set_header(r, RG_TO_CLIENT, "X-Cache-Key", x->k.hex);
    if (rv == 0 && c->h_age && age >= 0) {
        snprintf(buf, sizeof(buf), "%lld", age);
        rv = rg_req_set_header(r, RG_TO_CLIENT, "Age", buf);
    }
    return rv;
}

static enum rg_filter_status failed(struct rg_req *r, int rv)
{
    rg_req_fail(r, rv);
    return RG_FILTER_ERROR;
}

/* Serve entry @e in the current phase. */
static int serve(const struct rg_pc_conf *c, struct rg_req *r,
                 const struct pc_ctx *x, const struct rg_cache_entry *e,
                 const char *status, uint64_t now)
{
    int rv = rg_req_respond_stored(r, e->status, e->fields, e->fields_len,
                                   e->body, e->body_len);

    return rv != 0 ? rv
                   : cache_headers(c, r, status, x,
                                   (long long)((now - e->stored_ms) / 1000));
}

static enum rg_filter_status pc_access(const struct rg_filter_call *fc)
{
    const struct rg_pc_conf *c = fc->conf;
    struct pc_ctx *x = fc->ctx;
    struct rg_req *r = fc->r;
    const struct rg_cache_entry *e;
    struct rg_cc cc;
    uint64_t now;
    size_t n;
    int fresh, rv;

    rg_cc_init(&cc);
    if (c->cache_control)
        req_cc(r, &cc);
    if (!(rg_req_method(r) & c->methods) ||
        (c->cache_control && (cc.no_store || cc.no_cache)) ||
        (rg_req_header(r, "authorization", &n) != NULL &&
         !(c->vary_by_consumer && rg_req_consumer(r) != RG_NO_INDEX))) {
        x->state = PC_BYPASS;
        rv = cache_headers(c, r, "Bypass", x, -1);
        return rv != 0 ? failed(r, rv) : RG_FILTER_CONTINUE;
    }
    rv = rg_pc__key(c, r, &x->k);
    if (rv != 0)
        return failed(r, rv);
    now = rg_cache_now_ms();
    e = rg_cache_get(x->k.hash, x->k.key, x->k.len, now, &fresh);
    if (e != NULL && fresh && c->cache_control) {
        uint64_t age = now - e->stored_ms, left = e->expires_ms - now;

        /* In ms: max-age=0 wants an entry no older than now. */
        if ((cc.max_age >= 0 && age > (uint64_t)cc.max_age * 1000) ||
            (cc.min_fresh >= 0 && left < (uint64_t)cc.min_fresh * 1000))
            fresh = 0;
    }
    if (e != NULL && fresh) {
        x->state = PC_HIT;
        rv = serve(c, r, x, e, "Hit", now);
        return rv != 0 ? failed(r, rv) : RG_FILTER_RESPOND;
    }
    if (c->cache_control && cc.only_if_cached) {
        x->state = PC_BYPASS;
        rv = rg_req_respond(r, 504, NULL, 0);
        return rv != 0 ? failed(r, rv) : RG_FILTER_RESPOND;
    }
    x->state = e != NULL ? PC_REFRESH : PC_MISS;
    return RG_FILTER_CONTINUE;
}

/* Whether Content-Type @v (@n bytes) is one of the config's. */
static int ctype_ok(const struct rg_pc_conf *c, const char *v, size_t n)
{
    size_t mt = 0, full = n;

    while (full > 0 && (v[full - 1] == ' ' || v[full - 1] == '\t'))
        full--;
    while (mt < full && v[mt] != ';' && v[mt] != ' ' && v[mt] != '\t')
        mt++;
    for (size_t i = 0; i < c->ctypes.n; i++) {
        const char *t = c->ctypes.v[i];
        size_t tl = strlen(t);
        const char *star = strstr(t, "/*");

        if (strcmp(t, "*") == 0 || strcmp(t, "*/*") == 0)
            return 1;
        if (strchr(t, ';') != NULL) {
            /* With parameters: the whole value, blanks aside. */
            size_t a = 0, b = 0;

            while (a < full && b < tl) {
                if (v[a] == ' ' || v[a] == '\t') {
                    a++;
                } else if (t[b] == ' ') {
                    b++;
                } else if ((v[a] | 0x20) == (t[b] | 0x20)) {
                    a++;
                    b++;
                } else {
                    break;
                }
            }
            if (a == full && b == tl)
                return 1;
        } else if (star != NULL && star[2] == '\0') {
            size_t pl = (size_t)(star - t) + 1; /* "type/" */

            if (mt > pl && strncasecmp(v, t, pl) == 0)
                return 1;
        } else if (mt == tl && strncasecmp(v, t, tl) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The response's TTL in seconds under @c, or -1: not cacheable. */
static long long response_ttl(const struct rg_pc_conf *c, struct rg_req *r)
{
    struct rg_cc cc;
    const char *v;
    size_t n;
    int status = rg_req_status(r), ok = 0;
    time_t exp;

    for (size_t i = 0; i < c->n_codes && !ok; i++)
        ok = c->codes[i] == status;
    v = rg_resp_header(r, "content-type", &n);
    if (!ok || v == NULL || !ctype_ok(c, v, n))
        return -1;
    if (!c->cache_control)
        return c->cache_ttl;
    rg_cc_init(&cc);
    v = rg_resp_header(r, "cache-control", &n);
    if (v != NULL)
        rg_cc_parse(v, n, &cc);
    if (cc.private_ || cc.no_store || cc.no_cache)
        return -1;
    if (cc.s_maxage >= 0)
        return cc.s_maxage > 0 ? cc.s_maxage : -1;
    if (cc.max_age >= 0)
        return cc.max_age > 0 ? cc.max_age : -1;
    v = rg_resp_header(r, "expires", &n);
    if (v != NULL && rg_http_date(v, n, &exp) == 0 && exp > time(NULL))
        return (long long)(exp - time(NULL));
    return -1;
}

/* Serve a stale entry or the fallback in place of the gateway's error. */
static enum rg_filter_status degrade(const struct rg_pc_conf *c,
                                     struct rg_req *r, struct pc_ctx *x)
{
    int st = rg_req_status(r), fresh, rv;
    const struct rg_cache_entry *e = NULL;
    uint64_t now = rg_cache_now_ms();

    if (st != 502 && st != 503 && st != 504)
        return RG_FILTER_CONTINUE;
    if (c->stale_if_error > 0)
        e = rg_cache_get(x->k.hash, x->k.key, x->k.len, now, &fresh);
    if (e != NULL && now < e->expires_ms + (uint64_t)c->stale_if_error * 1000) {
        rv = serve(c, r, x, e, "Stale", now);
        return rv != 0 ? failed(r, rv) : RG_FILTER_CONTINUE;
    }
    if (c->fb_status == 0)
        return RG_FILTER_CONTINUE;
    rv = rg_req_respond_stored(r, c->fb_status, c->fb_fields, c->fb_flen,
                               c->fb_body, c->fb_blen);
    if (rv == 0)
        rv = cache_headers(c, r, "Fallback", x, -1);
    return rv != 0 ? failed(r, rv) : RG_FILTER_CONTINUE;
}

static enum rg_filter_status pc_header(const struct rg_filter_call *fc)
{
    const struct rg_pc_conf *c = fc->conf;
    struct pc_ctx *x = fc->ctx;
    struct rg_req *r = fc->r;
    enum rg_resp_source src = rg_resp_source(r);
    long long ttl;
    int rv;

    if (x->state != PC_MISS && x->state != PC_REFRESH)
        return RG_FILTER_CONTINUE;
    if (src == RG_RESP_GATEWAY)
        return degrade(c, r, x);
    if (src != RG_RESP_UPSTREAM)
        return RG_FILTER_CONTINUE;
    ttl = response_ttl(c, r);
    if (ttl <= 0) {
        if (x->state == PC_REFRESH)
            rg_cache_drop(x->k.hash, x->k.key, x->k.len);
        x->state = PC_BYPASS;
        rv = cache_headers(c, r, "Bypass", x, -1);
    } else {
        rv = cache_headers(c, r, x->state == PC_REFRESH ? "Refresh" : "Miss", x,
                           -1);
        x->state = PC_STORE;
        x->ttl_ms = (uint64_t)ttl * 1000;
    }
    return rv != 0 ? failed(r, rv) : RG_FILTER_CONTINUE;
}

/* Headers not stored: the gateway frames and identifies each answer. */
static int not_stored(const char *n, size_t len)
{
    static const char *const names[] = {"connection",
                                        "keep-alive",
                                        "transfer-encoding",
                                        "content-length",
                                        "te",
                                        "trailer",
                                        "upgrade",
                                        "proxy-connection",
                                        "x-request-id",
                                        "server",
                                        "via",
                                        "age",
                                        "x-cache-status",
                                        "x-cache-key"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strlen(names[i]) == len && strncasecmp(n, names[i], len) == 0)
            return 1;
    }
    return 0;
}

/* Whether the comma-separated list @l (@ll bytes; NULL: empty) names
 * @n (@len bytes, any case): the headers the response's Connection
 * names are hop-by-hop too (RFC 9110 7.6.1). */
static int in_list(const char *l, size_t ll, const char *n, size_t len)
{
    size_t i = 0;

    while (l != NULL && i < ll) {
        size_t s, e;

        while (i < ll && (l[i] == ' ' || l[i] == '\t' || l[i] == ','))
            i++;
        s = i;
        while (i < ll && l[i] != ',')
            i++;
        e = i;
        while (e > s && (l[e - 1] == ' ' || l[e - 1] == '\t'))
            e--;
        if (e - s == len && strncasecmp(l + s, n, len) == 0)
            return 1;
    }
    return 0;
}

static enum rg_filter_status pc_body(const struct rg_filter_call *fc)
{
    const struct rg_pc_conf *c = fc->conf;
    struct pc_ctx *x = fc->ctx;
    struct rg_req *r = fc->r;
    struct rg_cache_put p = {0};
    const char *name, *value;
    size_t nl, vl, room = 0, connl = 0;
    const char *conn;
    char *w;
    int rv;

    if (x->state != PC_STORE || rg_resp_body(r, &p.body, &p.body_len) != 0)
        return RG_FILTER_CONTINUE;
    conn = rg_resp_header(r, "connection", &connl);
    for (size_t i = 0; rg_resp_header_at(r, i, &name, &nl, &value, &vl) == 0;
         i++)
        room += nl + vl + 4;
    w = rg_req_alloc(r, room + 1);
    if (w == NULL)
        return RG_FILTER_CONTINUE; /* not stored; the response goes on */
    p.fields = w;
    for (size_t i = 0; rg_resp_header_at(r, i, &name, &nl, &value, &vl) == 0;
         i++) {
        if (not_stored(name, nl) || in_list(conn, connl, name, nl))
            continue;
        rg_pc__put(&w, name, nl);
        rg_pc__put(&w, ": ", 2);
        rg_pc__put(&w, value, vl);
        rg_pc__put(&w, "\r\n", 2);
    }
    p.fields_len = (size_t)(w - p.fields);
    p.key = x->k.key;
    p.key_len = x->k.len;
    p.status = rg_req_status(r);
    p.now_ms = rg_cache_now_ms();
    p.ttl_ms = x->ttl_ms;
    p.keep_ms = x->ttl_ms + (uint64_t)c->stale_if_error * 1000;
    if ((uint64_t)c->storage_ttl * 1000 > p.keep_ms)
        p.keep_ms = (uint64_t)c->storage_ttl * 1000;
    if (p.body == NULL)
        p.body = "";
    rv = rg_cache_put(&p, (size_t)c->memory_cap);
    (void)rv; /* too large or out of memory: served, not stored */
    return RG_FILTER_CONTINUE;
}

const struct rg_filter_ops rg_plugin_proxy_cache = {
    .schema = {.name = "proxy-cache",
               .conf_parse = rg_pc__conf_parse,
               .conf_free = rg_pc__conf_free,
               .protocols = RG_PROTO_HTTP | RG_PROTO_HTTPS},
    .priority = 100, /* Kong's */
    .ctx_size = sizeof(struct pc_ctx),
    .wants = pc_wants,
    .on_access = pc_access,
    .on_header = pc_header,
    .on_body = pc_body,
};
