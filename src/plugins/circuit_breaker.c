/* circuit-breaker: one breaker per service (docs/architecture.md §6),
 * raftgate's. Config:
 *
 *   failure_threshold: 5        failures in the window that open it
 *   recovery_timeout: 30        s open before half-open trials
 *   half_open_requests: 3       trials that must all succeed to close it
 *   window: 60                  s: the count starts at the first failure
 *                               and is dropped window s later (a fixed
 *                               window opened by a failure; successes do
 *                               not reset it)
 *   failure_statuses: [500, 502, 503, 504]
 *                               upstream statuses that count; connect
 *                               errors, resets and upstream timeouts (the
 *                               gateway's own 502/503/504) always count
 *   policy: cluster | local     cluster: transitions go through Raft, so
 *                               every node opens and one node probes;
 *                               local: this node alone, no Raft
 *   status_code: 503            the refusal while open (400..599)
 *   message: "Service temporarily unavailable"
 *
 * The breaker is keyed by the route's service (its name, else its id);
 * a route without a service has its own ("route:<name or id>"). Its
 * state lives in the node-wide table (breaker_table.h), written by the
 * control thread (src/control/breaker.c); here a request reads it once
 * (ACCESS), and its outcome is counted (LOG):
 *   closed     admitted; failures counted; reaching the threshold asks
 *              the control thread to open it (RG_CTLQ_BREAKER); with
 *              policy cluster each failure is also reported, and the
 *              leader opens the breaker when the cluster's failures in
 *              its window reach the threshold (so a dead upstream sees
 *              about threshold failures from the cluster, not one
 *              threshold per node)
 *              Once this node (or, told by the leader, the cluster) is
 *              over the threshold, it refuses as if open while the OPEN
 *              commits (the hold, at most a few seconds)
 *   open       {"message": ...} with status_code, the upstream untouched;
 *              the refusal counts as the gateway's own error, so a
 *              proxy-cache with stale_if_error serves its stale entry
 *   half_open  only the designated prober node admits, at most
 *              half_open_requests trials; the others are refused. All
 *              trials succeeding asks to close it; one failing, to reopen.
 * Requests refused by another plugin before reaching the upstream do not
 * count. Priority 50: after proxy-cache (a fresh hit never asks the
 * breaker), after authentication and rate limiting. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config/yamltree.h"
#include "core/alloc.h"
#include "core/ctlq.h"
#include "http/filter.h"
#include "http/req.h"
#include "plugins/breaker_table.h"
#include "plugins/conf_read.h"

#define CB_MAX_STATUSES 32

struct cb_conf {
    unsigned threshold;
    unsigned recovery_s;
    unsigned half_open;
    unsigned window_s;
    int statuses[CB_MAX_STATUSES];
    size_t n_statuses;
    int local;
    int status;
    char *body;
};

struct cb_ctx {
    int slot;
    uint8_t admitted, trial;
    uint64_t epoch;
};

static void cb_conf_free(void *p)
{
    struct cb_conf *c = p;

    if (c == NULL)
        return;
    rg_free(c->body);
    rg_free(c);
}

static int read_uint(struct rg_yt *t, yaml_node_t *v, long long lo,
                     long long hi, unsigned *out)
{
    long long x;
    int rv = rg_yt_int(t, v, lo, hi, &x);

    if (rv == 0)
        *out = (unsigned)x;
    return rv;
}

static int k_threshold(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_uint(t, v, 1, 1000000, &((struct cb_conf *)ctx)->threshold);
}

static int k_recovery(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_uint(t, v, 1, 86400, &((struct cb_conf *)ctx)->recovery_s);
}

static int k_half_open(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_uint(t, v, 1, 1000, &((struct cb_conf *)ctx)->half_open);
}

static int k_window(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_uint(t, v, 1, 86400, &((struct cb_conf *)ctx)->window_s);
}

static int status_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    struct cb_conf *c = ctx;
    long long x;
    int rv;

    (void)i;
    if (c->n_statuses == CB_MAX_STATUSES)
        return rg_yt_err(t, n, "at most %d statuses", CB_MAX_STATUSES);
    rv = rg_yt_int(t, n, 100, 599, &x);
    if (rv == 0)
        c->statuses[c->n_statuses++] = (int)x;
    return rv;
}

static int k_statuses(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    ((struct cb_conf *)ctx)->n_statuses = 0;
    return rg_yt_seq(t, v, status_item, ctx);
}

static int k_policy(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    static const char *const words[] = {"cluster", "local", NULL};
    int i, rv = rg_yt_word(t, v, words, &i);

    if (rv == 0)
        ((struct cb_conf *)ctx)->local = i == 1;
    return rv;
}

static int k_status(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;
    int rv = rg_yt_int(t, v, 400, 599, &x);

    if (rv == 0)
        ((struct cb_conf *)ctx)->status = (int)x;
    return rv;
}

static int k_message(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_message_read(t, v, &((struct cb_conf *)ctx)->body);
}

/* clang-format off */
static const struct rg_yt_key cb_keys[] = {
    {"failure_threshold", k_threshold},
    {"recovery_timeout", k_recovery},
    {"half_open_requests", k_half_open},
    {"window", k_window},
    {"failure_statuses", k_statuses},
    {"policy", k_policy},
    {"status_code", k_status},
    {"message", k_message},
    {NULL, NULL},
};
/* clang-format on */

static int cb_conf_parse(struct rg_yt *t, yaml_node_t *config, void **out)
{
    static const char dflt[] = "Service temporarily unavailable";
    static const int statuses[] = {500, 502, 503, 504};
    struct cb_conf *c = rg_calloc(1, sizeof(*c));
    int rv = 0;

    *out = NULL;
    if (c == NULL)
        return rg_yt_nomem(t);
    c->threshold = 5;
    c->recovery_s = 30;
    c->half_open = 3;
    c->window_s = 60;
    memcpy(c->statuses, statuses, sizeof(statuses));
    c->n_statuses = 4;
    c->status = 503;
    c->body = rg_message_body(dflt, sizeof(dflt) - 1);
    if (c->body == NULL) {
        cb_conf_free(c);
        return rg_yt_nomem(t);
    }
    if (config != NULL)
        rv = rg_yt_map(t, config, cb_keys, c);
    if (rv < 0) {
        cb_conf_free(c);
        return rv;
    }
    *out = c;
    return 0;
}

/* The breaker's name for @r's route: its service's name or id, else the
 * route's. */
static int breaker_name(struct rg_req *r, char *out, size_t cap)
{
    const struct rg_gateway *gw = rg_req_gateway(r);
    size_t ri = rg_req_route(r);
    const struct rg_route *rt;
    const char *s;
    int n;

    if (gw == NULL || ri >= gw->n_routes)
        return -1;
    rt = &gw->routes[ri];
    if (rt->service < gw->n_services) {
        const struct rg_service *sv = &gw->services[rt->service];

        s = sv->name != NULL ? sv->name : sv->id;
        if (s == NULL)
            return -1;
        n = snprintf(out, cap, "%s", s);
    } else {
        s = rt->name != NULL ? rt->name : rt->id;
        n = s != NULL ? snprintf(out, cap, "route:%s", s)
                      : snprintf(out, cap, "route:#%zu", ri);
    }
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* Tell the control thread about slot @i (once per epoch and event). */
static void ask(struct rg_brt_slot *s, int i, enum rg_brt_event ev,
                uint64_t epoch)
{
    struct rg_ctlq_msg m = {.kind = RG_CTLQ_BREAKER,
                            .a = (uint32_t)i,
                            .b = (uint64_t)ev | epoch << 8};
    uint64_t want = (epoch + 1) << 2 | ev, prev = atomic_load(&s->asked);

    if (prev == want || !atomic_compare_exchange_strong(&s->asked, &prev, want))
        return;
    if (rg_ctlq_post(&m) != 0)
        atomic_store(&s->asked, 0); /* the next request asks again */
}

static void set_if(_Atomic uint32_t *p, uint32_t v)
{
    if (atomic_load_explicit(p, memory_order_relaxed) != v)
        atomic_store_explicit(p, v, memory_order_relaxed);
}

static enum rg_filter_status cb_access(const struct rg_filter_call *fc)
{
    const struct cb_conf *c = fc->conf;
    struct cb_ctx *x = fc->ctx;
    char name[RG_BRT_NAME];
    struct rg_brt_slot *s;
    uint64_t w, self;
    int i;

    x->slot = -1;
    if (breaker_name(fc->r, name, sizeof(name)) != 0 ||
        (i = rg_brt_find(name, 1)) < 0)
        return RG_FILTER_CONTINUE; /* no breaker: admitted */
    s = rg_brt_at(i);
    /* The instance's settings, for the control thread's timers and the
     * leader's count: written only when they change (a store per
     * request would bounce the slot's cache line between workers). */
    set_if(&s->recovery_ms, c->recovery_s * 1000u);
    set_if(&s->local_policy, (uint32_t)c->local);
    set_if(&s->threshold, c->threshold);
    set_if(&s->window_ms, c->window_s * 1000u);
    w = atomic_load(&s->word);
    x->slot = i;
    x->epoch = rg_brt_epoch_of(w);
    switch (rg_brt_state_of(w)) {
    case RG_BRT_CLOSED:
        if (atomic_load_explicit(&s->hold, memory_order_relaxed) ==
            x->epoch + 1)
            break; /* opening: its OPEN is on its way */
        x->admitted = 1;
        return RG_FILTER_CONTINUE;
    case RG_BRT_HALF_OPEN:
        self = rg_brt_self();
        if ((rg_brt_local_of(w) || atomic_load(&s->prober) == self) &&
            atomic_fetch_add(&s->trials, 1) < c->half_open) {
            x->admitted = 1;
            x->trial = 1;
            return RG_FILTER_CONTINUE;
        }
        break;
    default:
        break;
    }
    atomic_fetch_add_explicit(&s->refused, 1, memory_order_relaxed);
    return rg_req_respond_unavailable(fc->r, c->status, c->body,
                                      strlen(c->body)) == 0
               ? RG_FILTER_RESPOND
               : RG_FILTER_ERROR;
}

/* Did @r's attempt at the upstream fail, by @c? */
static int failed(const struct cb_conf *c, struct rg_req *r)
{
    int gw = rg_req_gateway_status(r), st;

    if (gw != 0)
        return gw == 502 || gw == 503 || gw == 504;
    if (rg_resp_source(r) != RG_RESP_UPSTREAM)
        return -1; /* another plugin answered: no outcome */
    st = rg_req_status(r);
    if (st == 0)
        return -1; /* the client went away first */
    for (size_t i = 0; i < c->n_statuses; i++)
        if (c->statuses[i] == st)
            return 1;
    return 0;
}

static enum rg_filter_status cb_log(const struct rg_filter_call *fc)
{
    const struct cb_conf *c = fc->conf;
    struct cb_ctx *x = fc->ctx;
    struct rg_brt_slot *s = rg_brt_at(x->slot);
    uint64_t w, now, ws;
    int f;

    if (s == NULL || !x->admitted)
        return RG_FILTER_CONTINUE;
    f = failed(c, fc->r);
    w = atomic_load(&s->word);
    if (f < 0 || rg_brt_epoch_of(w) != x->epoch)
        return RG_FILTER_CONTINUE; /* no outcome, or the state moved on */
    if (x->trial) {
        if (f)
            ask(s, x->slot, RG_BRT_EV_TRIAL_FAIL, x->epoch);
        else if (atomic_fetch_add(&s->trial_ok, 1) + 1 == c->half_open)
            ask(s, x->slot, RG_BRT_EV_TRIAL_OK, x->epoch);
        return RG_FILTER_CONTINUE;
    }
    if (!f || rg_brt_state_of(w) != RG_BRT_CLOSED)
        return RG_FILTER_CONTINUE;
    now = rg_brt_now_ms();
    ws = atomic_load(&s->win_start);
    if (ws == 0 || now - ws >= (uint64_t)c->window_s * 1000) {
        /* A new window: the first to see it restarts the count. */
        if (atomic_compare_exchange_strong(&s->win_start, &ws, now))
            atomic_store(&s->fails, 0);
    }
    if (atomic_fetch_add(&s->fails, 1) + 1 >= c->threshold) {
        ask(s, x->slot, RG_BRT_EV_TRIP, x->epoch);
    } else if (!c->local) {
        /* The cluster's count: every failure, to the leader. A full
         * mailbox loses this one (the local count still trips). */
        struct rg_ctlq_msg m = {.kind = RG_CTLQ_BREAKER,
                                .a = (uint32_t)x->slot,
                                .b = (uint64_t)RG_BRT_EV_FAIL | x->epoch << 8};

        (void)rg_ctlq_post(&m);
    }
    return RG_FILTER_CONTINUE;
}

const struct rg_filter_ops rg_plugin_circuit_breaker = {
    .schema = {.name = "circuit-breaker",
               .conf_parse = cb_conf_parse,
               .conf_free = cb_conf_free,
               .protocols = RG_PROTO_HTTP | RG_PROTO_HTTPS | RG_PROTO_GRPC |
                            RG_PROTO_GRPCS},
    .priority = 50,
    .ctx_size = sizeof(struct cb_ctx),
    .on_access = cb_access,
    .on_log = cb_log,
};
