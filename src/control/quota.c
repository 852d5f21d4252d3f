/* The lease client: see control/quota.h. Every slot of the lease table
 * has a control-side record here with at most one command (a request or
 * a return) outstanding, so that a retry with the same seq is always the
 * latest command of that node for that key. */
#include "control/quota.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/ctlq.h"
#include "core/hex.h"
#include "core/log.h"
#include "plugins/quota_table.h"
#include "raft/rgraft.h"

#define SCAN_MAX_MS 50
#define POST_MS 1000 /* a forward's bound */

/* One slot's control-side state. */
struct cslot {
    uint8_t active;   /* listed in q->active */
    uint8_t queued;   /* in q->queue for the next flush */
    uint8_t inflight; /* its command was proposed or forwarded */
    uint8_t has_cmd;  /* cmd below is outstanding (maybe a retry) */
    struct rg_lease cmd;
    uint8_t type;      /* RG_CMD_LEASE_REQ / _RET */
    uint64_t first_ms; /* first send of cmd (monotonic ms) */
    uint64_t last_hits, last_take_ms;
    double rate; /* takes/s */
};

struct batch {
    struct rg_quota *q;
    uint64_t sent_ms;
    unsigned n;
    unsigned slot[]; /* one per command */
};

struct rg_quota {
    uv_loop_t *loop;
    struct rg_raft *raft;
    unsigned lease_ms;
    int unsafe;
    uint64_t node, inc, seq;
    double tc_ms; /* grant round trip, averaged */
    rg_quota_post_fn post;
    void *post_arg;
    uv_timer_t flush, scan;
    int closing, closes;
    unsigned live; /* batches not answered */
    unsigned queue[RG_QT_SLOTS], n_queue;
    unsigned active[RG_QT_SLOTS], n_active;
    struct cslot cs[RG_QT_SLOTS];
};

static uint64_t mono_ms(void)
{
    return uv_hrtime() / 1000000;
}

static uint64_t real_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ceil(@x) for x >= 0, without libm. */
static uint64_t up(double x)
{
    uint64_t n = x > 0 ? (uint64_t)x : 0;

    return (double)n < x ? n + 1 : n;
}

static void maybe_free(struct rg_quota *q)
{
    if (q->closing && q->closes == 0 && q->live == 0)
        rg_free(q);
}

/* ---- sizing ---- */

static void count_node(void *arg, uint64_t id, const json_t *rec)
{
    (void)id;
    (void)rec;
    ++*(unsigned *)arg;
}

/* B = clamp(λ·T, B_min, fair), T = D/4, fair = ceil(L/N), B_min =
 * min(10, fair). */
static uint64_t batch_size(const struct rg_quota *q, const struct cslot *c,
                           uint32_t limit)
{
    unsigned n = 0;
    uint64_t fair, b, bmin;

    rg_fsm_each_node(rg_raft_fsm(q->raft), count_node, &n);
    if (n == 0)
        n = 1;
    fair = ((uint64_t)limit + n - 1) / n;
    bmin = fair < 10 ? fair : 10;
    b = up(c->rate * q->lease_ms / 4.0 / 1000.0);
    if (b < bmin)
        b = bmin;
    if (b > fair)
        b = fair;
    return b > 0 ? b : 1;
}

/* ---- queueing commands ---- */

static void on_flush(uv_timer_t *t);

static void queue_slot(struct rg_quota *q, unsigned i)
{
    struct cslot *c = &q->cs[i];

    if (!c->active) {
        c->active = 1;
        c->last_take_ms = mono_ms();
        q->active[q->n_active++] = i;
    }
    if (c->queued || c->inflight)
        return;
    c->queued = 1;
    q->queue[q->n_queue++] = i;
    if (!uv_is_active((uv_handle_t *)&q->flush))
        uv_timer_start(&q->flush, on_flush, 0, 0);
}

static void new_cmd(struct rg_quota *q, unsigned i, uint8_t type, uint64_t n)
{
    struct rg_qt_slot *s = rg_qt_at(i);
    struct cslot *c = &q->cs[i];

    memset(&c->cmd, 0, sizeof(c->cmd));
    c->type = type;
    c->cmd.node = q->node;
    c->cmd.incarnation = q->inc;
    c->cmd.seq = ++q->seq;
    c->cmd.n = n;
    c->cmd.unit = s->unit;
    if (type == RG_CMD_LEASE_REQ)
        c->cmd.limit = atomic_load(&s->limit);
    else
        c->cmd.window = atomic_load(&s->window);
    c->first_ms = 0;
    c->has_cmd = 1;
    queue_slot(q, i);
}

/* A worker asks for a refill of slot m->a. */
static void on_msg(void *arg, const struct rg_ctlq_msg *m)
{
    struct rg_quota *q = arg;
    unsigned i = m->a % RG_QT_SLOTS;
    struct cslot *c = &q->cs[i];

    if (q->closing || c->inflight || c->queued)
        return;
    if (c->has_cmd) /* a retry of the outstanding command, same seq */
        queue_slot(q, i);
    else
        new_cmd(q, i, RG_CMD_LEASE_REQ,
                batch_size(q, c, atomic_load(&rg_qt_at(i)->limit)));
}

/* ---- grants ---- */

/* Install a grant (@out as raft/quota.h) answered when the ledger's clock
 * read @ledger_ms (0: not known, an older leader). The window's end is
 * taken on the ledger's clock: it had wend - ledger_ms left when the
 * answer was made, after the first send, so the tokens are spent until
 * at most first send + that on this node's monotonic clock, whatever
 * this node's own realtime says. (Held against this node's realtime
 * instead, a node whose clock is ahead of the leader's by more than the
 * rest of the window got every grant already expired, asked again at
 * once and drained the window for nobody.) */
static void install(struct rg_quota *q, unsigned i, const uint64_t out[4],
                    uint64_t ledger_ms)
{
    struct rg_qt_slot *s = rg_qt_at(i);
    struct cslot *c = &q->cs[i];
    uint64_t now = mono_ms(), g = out[0];
    uint64_t exp = c->first_ms + q->lease_ms, wend = out[2] * 1000;
    uint64_t cur = atomic_load(&s->window);

    if (ledger_ms != 0) {
        if (wend <= ledger_ms)
            exp = now;
        else if (c->first_ms + (wend - ledger_ms) < exp)
            exp = c->first_ms + (wend - ledger_ms);
    } else {
        uint64_t real = real_ms();

        if (wend <= real)
            exp = now;
        else if (now + (wend - real) < exp)
            exp = now + (wend - real);
    }
    if (out[1] < cur) {
        /* A late answer for an older window: forfeited. */
    } else if (out[1] > cur || now >= atomic_load(&s->expires_ms)) {
        /* A new window, or an expired lease: what is left is forfeited.
         * Order (sequentially consistent): empty the balance, name the
         * window, then fill it, so a worker that reads the same window
         * before and after its take knows the token's window
         * (plugins/quota_table.c rg_qt_take). */
        atomic_store(&s->balance, 0);
        if (out[1] > cur) {
            atomic_store(&s->used, 0);
            atomic_store(&s->granted, 0);
        }
        atomic_store(&s->window_end, out[2]);
        atomic_store(&s->window, out[1]);
        atomic_store(&s->expires_ms, exp);
        atomic_fetch_add(&s->granted, g);
        atomic_store(&s->balance, (int64_t)g);
    } else {
        if (exp > atomic_load(&s->expires_ms))
            atomic_store(&s->expires_ms, exp);
        atomic_fetch_add(&s->granted, g);
        atomic_fetch_add(&s->balance, (int64_t)g);
    }
    if (out[1] >= cur)
        atomic_store(&s->remaining, out[3]);
    /* A spent window: ask less and less often (quota_table.h). */
    if (g == 0 && out[3] == 0) {
        uint32_t r = atomic_load(&s->retry_ms);

        r = r < RG_QT_RETRY_MS ? RG_QT_RETRY_MS : 2 * r;
        atomic_store(&s->retry_ms, r < RG_QT_RETRY_MAX_MS ? r
                                                          : RG_QT_RETRY_MAX_MS);
    } else {
        atomic_store(&s->retry_ms, 0);
    }
    atomic_store(&s->failed_ms, 0);
}

static void answered(struct rg_quota *q, unsigned i,
                     const struct rg_fsm_result *r, uint64_t ledger_ms)
{
    struct cslot *c = &q->cs[i];
    struct rg_qt_slot *s = rg_qt_at(i);

    c->inflight = 0;
    c->has_cmd = 0;
    if (r->status != RG_FSM_OK)
        rg_log(RG_LOG_WARN, "quota: lease command for %s refused: %s",
               s->key, r->message);
    if (c->type == RG_CMD_LEASE_REQ) {
        if (r->status == RG_FSM_OK)
            install(q, i, r->out, ledger_ms);
        atomic_store(&s->asked, 0);
    } else if (atomic_load(&s->asked)) {
        on_msg(q, &(struct rg_ctlq_msg){RG_CTLQ_QUOTA, i, 0});
    }
}

/* The batch's outcome is not known or certainly nothing: keep each
 * command for a retry with the same seq while its lease could still be
 * spent, else drop it (a grant that did commit is only stranded). */
static void failed(struct rg_quota *q, unsigned i)
{
    struct cslot *c = &q->cs[i];
    struct rg_qt_slot *s = rg_qt_at(i);
    uint64_t now = mono_ms();

    c->inflight = 0;
    if (now >= c->first_ms + q->lease_ms)
        c->has_cmd = 0;
    atomic_store(&s->failed_ms, now ? now : 1);
    if (c->type == RG_CMD_LEASE_REQ)
        atomic_store(&s->asked, 0);
}

/* @ledger_ms: the ledger's clock when the answer was made (0: unknown). */
static void batch_done(struct batch *b, int ok, const struct rg_fsm_result *res,
                       unsigned n, uint64_t ledger_ms)
{
    struct rg_quota *q = b->q;
    double rtt = (double)(mono_ms() - b->sent_ms);

    q->live--;
    if (!q->closing) {
        if (ok)
            q->tc_ms = q->tc_ms == 0 ? rtt : 0.8 * q->tc_ms + 0.2 * rtt;
        for (unsigned k = 0; k < b->n; k++) {
            if (ok && k < n)
                answered(q, b->slot[k], &res[k], ledger_ms);
            else
                failed(q, b->slot[k]);
        }
    }
    rg_free(b);
    maybe_free(q);
}

static void on_written(void *arg, int status, const struct rg_fsm_result *res,
                       unsigned n)
{
    struct batch *b = arg;

    batch_done(b, status == 0, res, n,
               rg_fsm_quota_now_ms(rg_raft_fsm(b->q->raft)));
}

/* ---- the follower's forward ---- */

static void hex(const unsigned char *p, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int unhex(const char *s, unsigned char *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int v = 0;

        for (int k = 0; k < 2; k++) {
            int x = rg_hex_lower(s[2 * i + k]);

            if (x < 0)
                return -1;
            v = v * 16 + x;
        }
        out[i] = (unsigned char)v;
    }
    return s[2 * n] == '\0' ? 0 : -1;
}

static void on_posted(void *arg, int status, const char *body, size_t len)
{
    struct batch *b = arg;
    struct rg_fsm_result *res = NULL;
    json_t *j = NULL, *a;
    unsigned n = 0;
    uint64_t ledger_ms = 0;

    if (status == 200 &&
        (j = json_loadb(body, len, 0, NULL)) != NULL &&
        json_array_size(a = json_object_get(j, "results")) == b->n &&
        (res = rg_calloc(b->n, sizeof(*res))) != NULL) {
        for (n = 0; n < b->n; n++) {
            json_t *e = json_array_get(a, n);

            if (json_array_size(e) != 6)
                break;
            res[n].status =
                (enum rg_fsm_status)json_integer_value(json_array_get(e, 0));
            res[n].duplicate = (int)json_integer_value(json_array_get(e, 1));
            for (int k = 0; k < 4; k++)
                res[n].out[k] =
                    (uint64_t)json_integer_value(json_array_get(e, 2 + k));
        }
    }
    if (j != NULL && json_is_integer(json_object_get(j, "now_ms")) &&
        json_integer_value(json_object_get(j, "now_ms")) > 0)
        ledger_ms = (uint64_t)json_integer_value(json_object_get(j, "now_ms"));
    batch_done(b, res != NULL && n == b->n, res, n, ledger_ms);
    rg_free(res);
    json_decref(j);
}

static json_t *cmds_json(const struct rg_cmd *cmds, unsigned n)
{
    json_t *a = json_array();
    char h[2 * RG_LEASE_BODY + 1];

    for (unsigned k = 0; a != NULL && k < n; k++) {
        hex((const unsigned char *)cmds[k].body, cmds[k].body_len, h);
        json_array_append_new(a, json_pack("[is#s]", (int)cmds[k].type,
                                           cmds[k].key, (int)cmds[k].key_len,
                                           h));
    }
    return json_pack("{so}", "cmds", a);
}

static int forward(struct rg_quota *q, struct batch *b,
                   const struct rg_cmd *cmds, unsigned n)
{
    json_t *j = cmds_json(cmds, n);
    char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    int rv = -1;

    if (body != NULL && q->post != NULL)
        rv = q->post(q->post_arg, body, strlen(body), POST_MS, on_posted, b);
    if (body != NULL) {
        json_free_t fr;

        json_get_alloc_funcs(NULL, &fr);
        fr(body);
    }
    json_decref(j);
    return rv;
}

/* ---- flush: one proposal (or forward) per loop iteration ---- */

static void on_flush(uv_timer_t *t)
{
    struct rg_quota *q = t->data;
    unsigned char (*bodies)[RG_LEASE_BODY];
    struct rg_raft_status st;
    struct rg_cmd *cmds;
    struct batch *b;
    unsigned n = 0;
    int rv;

    if (q->n_queue == 0 || q->closing)
        return;
    cmds = rg_calloc(q->n_queue, sizeof(*cmds));
    bodies = rg_malloc(q->n_queue * sizeof(*bodies));
    b = rg_malloc(sizeof(*b) + q->n_queue * sizeof(b->slot[0]));
    if (cmds == NULL || bodies == NULL || b == NULL) {
        rg_free(cmds);
        rg_free(bodies);
        rg_free(b);
        uv_timer_start(&q->flush, on_flush, 10, 0);
        return;
    }
    b->q = q;
    b->sent_ms = mono_ms();
    for (unsigned k = 0; k < q->n_queue; k++) {
        unsigned i = q->queue[k];
        struct cslot *c = &q->cs[i];
        struct rg_qt_slot *s = rg_qt_at(i);

        c->queued = 0;
        if (c->inflight || !c->has_cmd)
            continue;
        c->inflight = 1;
        if (c->first_ms == 0)
            c->first_ms = b->sent_ms;
        rg_lease_encode(&c->cmd, bodies[n]);
        cmds[n].type = c->type;
        cmds[n].rid = ""; /* empty, not NULL: raft/write.c copies it */
        cmds[n].key = s->key;
        cmds[n].key_len = (uint16_t)s->key_len;
        cmds[n].body = (const char *)bodies[n];
        cmds[n].body_len = RG_LEASE_BODY;
        b->slot[n++] = i;
    }
    q->n_queue = 0;
    b->n = n;
    if (n == 0) {
        rg_free(b);
        rg_free(cmds);
        rg_free(bodies);
        return;
    }
    q->live++;
    rg_raft_status(q->raft, &st);
    if (st.leader_id != 0 && st.leader_id == st.id)
        rv = rg_raft_write(q->raft, cmds, n, on_written, b);
    else
        rv = forward(q, b, cmds, n);
    if (rv != 0)
        batch_done(b, 0, NULL, 0, 0);
    rg_free(cmds);
    rg_free(bodies);
}

/* ---- the scan: rates, returns, refreshes, retries ---- */

static void scan_slot(struct rg_quota *q, unsigned i, uint64_t now,
                      double dt)
{
    struct rg_qt_slot *s = rg_qt_at(i);
    struct cslot *c = &q->cs[i];
    uint64_t hits = atomic_load(&s->hits), quarter = q->lease_ms / 4;
    uint64_t exp = atomic_load(&s->expires_ms);
    int64_t bal;

    if (hits != c->last_hits)
        c->last_take_ms = now;
    c->rate = 0.7 * c->rate + 0.3 * (double)(hits - c->last_hits) / dt;
    c->last_hits = hits;
    atomic_store(&s->low_water,
                 up(2.0 * c->rate * (q->tc_ms + 1.0) / 1000.0) + 1);
    if (c->inflight || c->queued)
        return;
    if (c->has_cmd) { /* a failed command: retry, same seq */
        if (c->type == RG_CMD_LEASE_RET)
            queue_slot(q, i);
        return;
    }
    bal = atomic_load(&s->balance);
    if (bal <= 0 || now >= exp)
        return;
    if (q->unsafe) {
        /* The negative control: give the tokens back, keep spending. */
        new_cmd(q, i, RG_CMD_LEASE_RET, (uint64_t)bal);
        return;
    }
    if (now - c->last_take_ms >= quarter) {
        bal = atomic_exchange(&s->balance, 0); /* removed first */
        if (bal > 0)
            new_cmd(q, i, RG_CMD_LEASE_RET, (uint64_t)bal);
    } else if (exp - now <= quarter) {
        uint32_t no = 0;

        if (atomic_compare_exchange_strong(&s->asked, &no, 1))
            new_cmd(q, i, RG_CMD_LEASE_REQ,
                    batch_size(q, c, atomic_load(&s->limit)));
    }
}

static void on_scan(uv_timer_t *t)
{
    struct rg_quota *q = t->data;
    static uint64_t last;
    uint64_t now = mono_ms();
    double dt = last != 0 && now > last ? (double)(now - last) / 1000.0 : 0.05;

    last = now;
    for (unsigned k = 0; k < q->n_active; k++)
        scan_slot(q, q->active[k], now, dt);
}

/* ---- the leader's side ---- */

struct serve {
    rg_quota_serve_cb cb;
    void *arg;
    struct rg_raft *raft;
};

static void on_served(void *arg, int status, const struct rg_fsm_result *res,
                      unsigned n)
{
    struct serve *sv = arg;
    json_t *a;

    if (status == RG_RAFT_EUNKNOWN) {
        sv->cb(sv->arg, 504, NULL);
    } else if (status != 0) {
        sv->cb(sv->arg, 503, NULL);
    } else {
        a = json_array();
        for (unsigned k = 0; k < n; k++)
            json_array_append_new(
                a, json_pack("[iiIIII]", (int)res[k].status,
                             res[k].duplicate, (json_int_t)res[k].out[0],
                             (json_int_t)res[k].out[1],
                             (json_int_t)res[k].out[2],
                             (json_int_t)res[k].out[3]));
        sv->cb(
            sv->arg, 200,
            json_pack("{sosI}", "results", a, "now_ms",
                      (json_int_t)rg_fsm_quota_now_ms(rg_raft_fsm(sv->raft))));
    }
    rg_free(sv);
}

void rg_quota_serve(struct rg_quota *q, const char *body, size_t len,
                    rg_quota_serve_cb cb, void *arg)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    json_t *a = json_object_get(j, "cmds");
    size_t n = json_array_size(a);
    struct rg_cmd *cmds = n ? rg_calloc(n, sizeof(*cmds)) : NULL;
    unsigned char(*bodies)[RG_LEASE_BODY] =
        n ? rg_malloc(n * sizeof(*bodies)) : NULL;
    struct serve *sv = rg_malloc(sizeof(*sv));
    int bad = q == NULL || n == 0 || n > RG_CODEC_MAX_CMDS;
    int rv;

    for (size_t k = 0; !bad && cmds && bodies && k < n; k++) {
        json_t *e = json_array_get(a, k);
        const char *key = json_string_value(json_array_get(e, 1));
        const char *h = json_string_value(json_array_get(e, 2));
        json_int_t type = json_integer_value(json_array_get(e, 0));

        if (json_array_size(e) != 3 || key == NULL || h == NULL ||
            (type != RG_CMD_LEASE_REQ && type != RG_CMD_LEASE_RET) ||
            strlen(key) > RG_CODEC_MAX_KEY ||
            unhex(h, bodies[k], RG_LEASE_BODY) != 0) {
            bad = 1;
            break;
        }
        cmds[k].type = (uint8_t)type;
        cmds[k].rid = "";
        cmds[k].key = key;
        cmds[k].key_len = (uint16_t)strlen(key);
        cmds[k].body = (const char *)bodies[k];
        cmds[k].body_len = RG_LEASE_BODY;
    }
    if (bad || cmds == NULL || bodies == NULL || sv == NULL) {
        cb(arg, bad ? 400 : 503, NULL);
        rg_free(sv);
    } else {
        sv->cb = cb;
        sv->arg = arg;
        sv->raft = q->raft;
        rv = rg_raft_write(q->raft, cmds, (unsigned)n, on_served, sv);
        if (rv != 0) {
            rg_free(sv);
            cb(arg, 503, NULL);
        }
    }
    rg_free(cmds);
    rg_free(bodies);
    json_decref(j);
}

/* ---- status ---- */

json_t *rg_quota_status(const struct rg_quota *q)
{
    json_t *l = json_array();
    uint64_t now = mono_ms();

    for (unsigned k = 0; q != NULL && l != NULL && k < q->n_active; k++) {
        unsigned i = q->active[k];
        struct rg_qt_slot *s = rg_qt_at(i);
        uint64_t exp = atomic_load(&s->expires_ms);
        uint64_t w = atomic_load(&s->window);
        char id[128];

        if (w == 0)
            continue;
        rg_qt_lease_id(i, w, id, sizeof(id));
        json_array_append_new(
            l, json_pack("{sssssIsIsIsIsIsI}", "id", id, "key", s->key,
                         "window", (json_int_t)w, "tokens",
                         (json_int_t)atomic_load(&s->granted), "used",
                         (json_int_t)atomic_load(&s->used), "expires_in_ms",
                         (json_int_t)(exp > now ? exp - now : 0), "balance",
                         (json_int_t)atomic_load(&s->balance), "remaining",
                         (json_int_t)atomic_load(&s->remaining)));
    }
    return json_pack("{sIso}", "lease_ms",
                     (json_int_t)(q != NULL ? q->lease_ms : 0), "leases", l);
}

/* ---- lifecycle ---- */

static void on_closed(uv_handle_t *h)
{
    struct rg_quota *q = h->data;

    q->closes--;
    maybe_free(q);
}

struct rg_quota *rg_quota_start(const struct rg_quota_conf *c)
{
    struct rg_quota *q = rg_calloc(1, sizeof(*q));
    struct rg_raft_status st;
    unsigned scan;

    if (q == NULL)
        return NULL;
    q->loop = c->loop;
    q->raft = c->raft;
    q->lease_ms = c->lease_ms ? c->lease_ms : 2000;
    q->unsafe = c->unsafe_reclaim_early;
    rg_raft_status(c->raft, &st);
    q->node = st.id;
    q->inc = st.incarnation;
    uv_timer_init(q->loop, &q->flush);
    uv_timer_init(q->loop, &q->scan);
    q->flush.data = q->scan.data = q;
    scan = q->lease_ms / 10;
    if (scan > SCAN_MAX_MS)
        scan = SCAN_MAX_MS;
    uv_timer_start(&q->scan, on_scan, scan ? scan : 1, scan ? scan : 1);
    uv_unref((uv_handle_t *)&q->scan);
    rg_qt_identity(c->name, st.incarnation, c->debug_header);
    rg_ctlq_on(RG_CTLQ_QUOTA, on_msg, q);
    rg_qt_enable(1);
    return q;
}

void rg_quota_set_post(struct rg_quota *q, rg_quota_post_fn fn, void *arg)
{
    q->post = fn;
    q->post_arg = arg;
}

void rg_quota_stop(struct rg_quota *q)
{
    if (q == NULL || q->closing)
        return;
    /* The table stays enabled: a request of the drain that finds no
     * tokens waits and gets 429, never a per-node count. */
    rg_ctlq_on(RG_CTLQ_QUOTA, NULL, NULL);
    q->closing = 1;
    q->closes = 2;
    uv_close((uv_handle_t *)&q->flush, on_closed);
    uv_close((uv_handle_t *)&q->scan, on_closed);
}
