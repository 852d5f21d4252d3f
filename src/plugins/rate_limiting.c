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
 * A request takes one from each window, then each bucket (ACCESS); the
 * first refusal gives back what the others took and answers error_code
 * with error_message. The headers go on in HEADER, on the upstream's
 * answer or the refusal alike, replacing any of those names the chain
 * added before: unless hide_client_headers, X-RateLimit-Limit-<Window>
 * and X-RateLimit-Remaining-<Window> per window and
 * RateLimit-Limit/-Remaining/-Reset of the window with the least
 * remaining (the longer on a tie), as Kong 3; on a refusal Retry-After
 * (that window's reset, or when the bucket has a token again) and the
 * seed's X-RateLimit-Limit-Type naming it. A table that lost every race
 * (RG_RLT_BUSY) admits without headers when fault_tolerant, else answers
 * 500; either way a warning is logged, at most once a minute per
 * worker. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "core/err.h"
#include "core/log.h"
#include "http/filter.h"
#include "http/metrics.h"
#include "http/req.h"
#include "plugins/rate_limiting.h"
#include "core/alloc.h"
#include "plugins/quota_table.h"
#include "plugins/ratelimit_table.h"

/* How long a request waits for a lease refill before 429, and how often
 * it looks (ms). */
#define QWAIT_MS 500
#define QPOLL_MS 2

struct qwait;

/* A request's decision, kept from ACCESS for HEADER (the plugin's ctx). */
struct verdict {
    uint8_t done;                 /* ACCESS decided (else no headers) */
    uint8_t cluster;              /* the windows came from leases */
    int8_t next;                  /* policy cluster: next window to take */
    int32_t slot[RG_RL_WINDOWS];  /* ... its lease table slot */
    uint64_t window[RG_RL_WINDOWS]; /* ... the token's window start */
    struct qwait *wait;           /* a pause for a refill, or NULL */
    uint8_t busy;
    int8_t stop;                  /* -1, or the window that refused */
    int8_t stop_bucket;           /* -1, or the bucket that refused */
    uint32_t bucket_wait_ms;
    uint32_t remaining[RG_RL_WINDOWS];
    uint32_t reset[RG_RL_WINDOWS]; /* s until the window ends */
    uint64_t key[RG_RL_WINDOWS];   /* the windows' table keys */
    uint32_t end[RG_RL_WINDOWS];
};

/* ---- ACCESS: take ---- */

/* Give back what windows up to @last took. */
static void untake_windows(const struct rg_rl_conf *c, struct verdict *v,
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
static void take_windows(struct rg_req *r, const struct rg_rl_conf *c,
                         uint32_t now, struct verdict *v)
{
    uint64_t id, base;
    int taken = -1;

    (void)rg_rl__ident(r, &c->id, 1, &id);
    base = rg_rl__mix(id ^ rg_rl__scope(r));
    for (int w = 0; w < RG_RL_WINDOWS; w++) {
        uint32_t count;
        int rv;

        if (c->limit[w] == 0)
            continue;
        v->end[w] = rg_rl__window_end(w, now);
        v->key[w] = rg_rl__mix(base + (uint64_t)w * 0x9e3779b97f4a7c15ull);
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
            v->stop = (int8_t)w;
        else
            taken = w;
    }
    if (v->stop >= 0 || v->busy)
        untake_windows(c, v, taken);
}

static uint64_t bucket_key(const struct rg_rl_bucket *b, uint64_t id)
{
    return rg_rl__mix(id ^ b->name_hash);
}

/* Take from every bucket that applies; as take_windows. */
static void take_buckets(struct rg_req *r, const struct rg_rl_conf *c,
                         struct verdict *v)
{
    uint32_t now_ms = (uint32_t)(uv_hrtime() / 1000000);
    uint64_t id[RG_RL_BUCKETS_MAX];
    int has[RG_RL_BUCKETS_MAX] = {0};
    size_t i;

    for (i = 0; i < c->n_buckets; i++) {
        const struct rg_rl_bucket *b = &c->bucket[i];
        uint32_t left;
        int rv;

        has[i] = rg_rl__ident(r, &b->id, 0, &id[i]);
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
            v->stop_bucket = (int8_t)i;
        break;
    }
    if (i == c->n_buckets)
        return;
    while (i-- > 0)
        if (has[i])
            rg_rlt_bucket_rollback(bucket_key(&c->bucket[i], id[i]),
                                   c->bucket[i].burst);
}

/* A table that could not count: say so, at most once a minute here. */
static void warn_busy(const struct rg_req *r, int tolerant)
{
    static _Thread_local uint64_t last;
    uint64_t now = uv_now(rg_req_loop(r));

    if (last != 0 && now - last < 60000)
        return;
    last = now != 0 ? now : 1;
    rg_log(RG_LOG_WARN,
           "rate-limiting: the counter table lost every race for a slot; "
           "%s (logged at most once a minute per worker)",
           tolerant ? "admitted uncounted (fault_tolerant)" : "answered 500");
}

/* ---- ACCESS, policy cluster: take from leases ---- */

/* A request waiting for a refill: polls its slot on its worker's loop. */
struct qwait {
    uv_timer_t timer;
    struct rg_filter_call fc; /* the paused call (conf and ctx) */
    uint64_t until_ms;
};

static uint64_t mono_ms(void)
{
    return uv_hrtime() / 1000000;
}

/* What the client is told is left: the ledger's remaining at this node's
 * last grant plus what this node still holds (an estimate: other nodes
 * spend theirs meanwhile). */
static uint32_t cluster_left(unsigned slot, uint32_t limit)
{
    struct rg_qt_slot *s = rg_qt_at(slot);
    int64_t bal = atomic_load_explicit(&s->balance, memory_order_relaxed);
    uint64_t left = atomic_load_explicit(&s->remaining, memory_order_relaxed) +
                    (bal > 0 ? (uint64_t)bal : 0);

    return left < limit ? (uint32_t)left : limit;
}

static enum rg_filter_status refuse(const struct rg_filter_call *fc)
{
    const struct rg_rl_conf *c = fc->conf;

    rg_met_rate_limited(fc->r, c->cluster && rg_qt_enabled() ? RG_MET_RL_CLUSTER
                                                             : RG_MET_RL_LOCAL);
    if (rg_req_respond(fc->r, c->error_code, c->error_body,
                       strlen(c->error_body)) < 0) {
        rg_req_fail(fc->r, -ENOMEM);
        return RG_FILTER_ERROR;
    }
    return RG_FILTER_RESPOND;
}

/* Take a token of each window from v->next on; PAUSE (with *@wait set)
 * when a refill is on its way. */
static enum rg_filter_status take_cluster(const struct rg_filter_call *fc,
                                          int first, int *wait)
{
    const struct rg_rl_conf *c = fc->conf;
    struct verdict *v = fc->ctx;
    uint64_t now_ms = mono_ms();
    uint32_t now = (uint32_t)time(NULL);

    *wait = 0;
    for (; v->next < RG_RL_WINDOWS; v->next++) {
        int w = v->next;
        enum rg_qt_take rv;

        if (c->limit[w] == 0)
            continue;
        rv = rg_qt_take((unsigned)v->slot[w], now_ms, first, &v->window[w]);
        if (rv == RG_QT_WAIT) {
            *wait = 1;
            return RG_FILTER_PAUSE;
        }
        v->end[w] = (uint32_t)atomic_load_explicit(
            &rg_qt_at((unsigned)v->slot[w])->window_end,
            memory_order_relaxed);
        v->reset[w] = v->end[w] > now ? v->end[w] - now : 0;
        v->remaining[w] = cluster_left((unsigned)v->slot[w], c->limit[w]);
        if (rv != RG_QT_TAKEN) {
            v->stop = (int8_t)w;
            break;
        }
        first = 1; /* the next window's first try */
    }
    v->done = 1;
    if (v->stop >= 0) {
        /* The windows before keep their tokens spent: a give-back could
         * land in another window's balance (quota_table.h). */
        for (int w = v->stop + 1; w < RG_RL_WINDOWS; w++)
            if (c->limit[w] != 0)
                v->remaining[w] =
                    cluster_left((unsigned)v->slot[w], c->limit[w]);
        return refuse(fc);
    }
    take_buckets(fc->r, c, v);
    if (v->busy) {
        warn_busy(fc->r, c->fault_tolerant);
        if (c->fault_tolerant)
            return RG_FILTER_CONTINUE;
        rg_req_fail(fc->r, RG_EPLUGIN);
        return RG_FILTER_ERROR;
    }
    return v->stop_bucket >= 0 ? refuse(fc) : RG_FILTER_CONTINUE;
}

static void qwait_closed(uv_handle_t *h)
{
    rg_free(h->data);
}

static void qwait_end(struct verdict *v)
{
    struct qwait *q = v->wait;

    v->wait = NULL;
    uv_timer_stop(&q->timer);
    uv_close((uv_handle_t *)&q->timer, qwait_closed);
}

static void qwait_tick(uv_timer_t *t)
{
    struct qwait *q = t->data;
    struct rg_filter_call fc = q->fc;
    struct verdict *v = fc.ctx;
    enum rg_filter_status st;
    int wait;

    st = take_cluster(&fc, 0, &wait);
    if (wait && mono_ms() < q->until_ms)
        return;
    qwait_end(v);
    if (wait) { /* no refill in time: refused, never admitted uncounted */
        v->stop = v->next;
        v->done = 1;
        st = refuse(&fc);
    }
    rg_filter_resume(fc.r, st);
}

static enum rg_filter_status qwait_start(const struct rg_filter_call *fc)
{
    struct verdict *v = fc->ctx;
    struct qwait *q = rg_malloc(sizeof(*q));

    if (q == NULL) {
        rg_req_fail(fc->r, -ENOMEM);
        return RG_FILTER_ERROR;
    }
    q->fc = *fc;
    q->until_ms = mono_ms() + QWAIT_MS;
    uv_timer_init(rg_req_loop(fc->r), &q->timer);
    q->timer.data = q;
    uv_timer_start(&q->timer, qwait_tick, QPOLL_MS, QPOLL_MS);
    v->wait = q;
    return RG_FILTER_PAUSE;
}

static enum rg_filter_status cluster_access(const struct rg_filter_call *fc)
{
    const struct rg_rl_conf *c = fc->conf;
    struct verdict *v = fc->ctx;
    char key[RG_QT_KEY_MAX + 1];
    enum rg_filter_status st;
    int wait;

    v->cluster = 1;
    for (int w = 0; w < RG_RL_WINDOWS; w++) {
        size_t n;

        if (c->limit[w] == 0)
            continue;
        n = rg_rl__cluster_key(fc->r, c, w, key, sizeof(key));
        v->slot[w] = n > 0 ? rg_qt_find(key, n, (unsigned)w, c->limit[w])
                           : -1;
        if (v->slot[w] < 0) {
            rg_log(RG_LOG_WARN, "rate-limiting: the cluster lease table is "
                                "full (or out of memory): refused");
            v->stop = (int8_t)w;
            v->done = 1;
            return refuse(fc);
        }
    }
    st = take_cluster(fc, 1, &wait);
    return wait ? qwait_start(fc) : st;
}

static void rl_detach(const struct rg_filter_call *fc)
{
    struct verdict *v = fc->ctx;

    if (v->wait != NULL)
        qwait_end(v);
}

/* The debug header (JEPSEN.md §4.2 hook 6) of an admitted request. */
static int debug_header(struct rg_req *r, const struct verdict *v, int w,
                        int rv)
{
    char id[128], val[256];

    rg_qt_lease_id((unsigned)v->slot[w], v->window[w], id, sizeof(id));
    snprintf(val, sizeof(val), "node=%s;lease=%s;window=%llu",
             rg_qt_node_name(), id, (unsigned long long)v->window[w]);
    return rv < 0 ? rv : rg_req_set_header(r, RG_TO_CLIENT,
                                           "X-Raftgate-Quota", val);
}

static enum rg_filter_status rl_access(const struct rg_filter_call *fc)
{
    const struct rg_rl_conf *c = fc->conf;
    struct verdict *v = fc->ctx;
    uint32_t now = (uint32_t)time(NULL);

    v->stop = v->stop_bucket = -1;
    if (c->cluster && rg_qt_enabled())
        return cluster_access(fc);
    take_windows(fc->r, c, now, v);
    if (v->stop < 0 && !v->busy) {
        take_buckets(fc->r, c, v);
        if (v->stop_bucket >= 0 || v->busy)
            untake_windows(c, v, RG_RL_WINDOWS - 1);
    }
    if (v->busy) {
        warn_busy(fc->r, c->fault_tolerant);
        if (c->fault_tolerant)
            return RG_FILTER_CONTINUE; /* Kong: proxied, no headers */
        rg_req_fail(fc->r, RG_EPLUGIN); /* 500, as Kong */
        return RG_FILTER_ERROR;
    }
    v->done = 1;
    if (v->stop < 0 && v->stop_bucket < 0)
        return RG_FILTER_CONTINUE;
    return refuse(fc);
}

/* ---- HEADER: tell ---- */

/* Header @name: @value in place of any the upstream or the chain set
 * (Kong sets them in header_filter), when nothing failed before. */
static int put(struct rg_req *r, const char *name, const char *value, int rv)
{
    if (rv < 0)
        return rv;
    rg_resp_hide_header(r, name);
    return rg_req_set_header(r, RG_TO_CLIENT, name, value);
}

static int set(struct rg_req *r, const char *name, unsigned long v, int rv)
{
    char num[24];

    snprintf(num, sizeof(num), "%lu", v);
    return put(r, name, num, rv);
}

/* The window RateLimit-* speak of: the least remaining, the longer on a
 * tie (Kong's choice, so Retry-After waits for every full window); -1
 * when there is no window. */
static int tightest(const struct rg_rl_conf *c, const struct verdict *v)
{
    int best = -1;

    for (int w = 0; w < RG_RL_WINDOWS; w++)
        if (c->limit[w] != 0 &&
            (best < 0 || v->remaining[w] <= v->remaining[best]))
            best = w;
    return best;
}

static enum rg_filter_status rl_header(const struct rg_filter_call *fc)
{
    const struct rg_rl_conf *c = fc->conf;
    const struct verdict *v = fc->ctx;
    struct rg_req *r = fc->r;
    char name[48];
    int best = tightest(c, v), rv = 0;

    if (v->done)
        rg_req_log_limit(r, v->stop >= 0 || v->stop_bucket >= 0,
                         best >= 0 ? (int64_t)v->remaining[best] : -1);
    if (v->done && v->cluster && v->stop < 0 && v->stop_bucket < 0 &&
        best >= 0 && (c->debug_header || rg_qt_debug_header()))
        rv = debug_header(r, v, best, rv);
    if (!v->done || c->hide_client_headers)
        return rv < 0 ? (rg_req_fail(r, rv), RG_FILTER_ERROR)
                      : RG_FILTER_CONTINUE;
    for (int w = 0; w < RG_RL_WINDOWS; w++) {
        if (c->limit[w] == 0)
            continue;
        snprintf(name, sizeof(name), "X-RateLimit-Limit-%s",
                 rg_rl__window_title[w]);
        rv = set(r, name, c->limit[w], rv);
        snprintf(name, sizeof(name), "X-RateLimit-Remaining-%s",
                 rg_rl__window_title[w]);
        rv = set(r, name, v->remaining[w], rv);
    }
    if (best >= 0) {
        rv = set(r, "RateLimit-Limit", c->limit[best], rv);
        rv = set(r, "RateLimit-Remaining", v->remaining[best], rv);
        rv = set(r, "RateLimit-Reset", v->reset[best], rv);
    }
    if (v->stop >= 0) {
        rv = set(r, "Retry-After", v->reset[best], rv);
        rv = put(r, "X-RateLimit-Limit-Type", rg_rl__window_name[best], rv);
    } else if (v->stop_bucket >= 0) {
        unsigned long after = (v->bucket_wait_ms + 999) / 1000;
        rv = set(r, "Retry-After", after > 0 ? after : 1, rv);
        rv = put(r, "X-RateLimit-Limit-Type", c->bucket[v->stop_bucket].name,
                 rv);
    }
    if (rv < 0) {
        rg_req_fail(r, rv);
        return RG_FILTER_ERROR;
    }
    return RG_FILTER_CONTINUE;
}

#define ALL_PROTOS                                                             \
    (RG_PROTO_HTTP | RG_PROTO_HTTPS | RG_PROTO_GRPC | RG_PROTO_GRPCS)

const struct rg_filter_ops rg_plugin_rate_limiting = {
    .schema = {.name = "rate-limiting",
               .conf_parse = rg_rl__conf_parse,
               .conf_free = rg_rl__conf_free,
               .protocols = ALL_PROTOS},
    .priority = 910, /* Kong's */
    .ctx_size = sizeof(struct verdict),
    .on_access = rl_access,
    .on_header = rl_header,
    .on_detach = rl_detach,
};
