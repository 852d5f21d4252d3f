/* The quota ledger of the state machine: LEASE_REQ and LEASE_RET applied
 * by the rules in raft/quota.h, and its snapshot section
 *
 *   "quota": {"now_ms":T, "swept_s":S,
 *             "ledgers":[[key, unit, start, end, limit, granted,
 *                         [[node, inc, seq, grant, wstart, wend, held],
 *                          ...]], ...]}
 *
 * in (key, unit) and node order. Nothing here reads a clock: "now" is the
 * running max of the entries' stamps, so every replica computes the same
 * windows, grants and drops. */
#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "core/window.h"
#include "raft/bytes.h"
#include "raft/fsm_int.h"
#include "raft/quota.h"

void rg_lease_encode(const struct rg_lease *l, unsigned char *out)
{
    memset(out, 0, RG_LEASE_BODY);
    rg_put64le(out, l->node);
    rg_put64le(out + 8, l->incarnation);
    rg_put64le(out + 16, l->seq);
    rg_put64le(out + 24, l->n);
    rg_put64le(out + 32, l->limit);
    rg_put64le(out + 40, l->window);
    out[48] = l->unit;
}

int rg_lease_decode(const void *body, size_t len, struct rg_lease *l)
{
    const unsigned char *p = body;

    if (len != RG_LEASE_BODY || p == NULL || p[48] >= RG_WIN_UNITS)
        return -EINVAL;
    for (int i = 49; i < RG_LEASE_BODY; i++)
        if (p[i] != 0)
            return -EINVAL;
    l->node = rg_get64le(p);
    l->incarnation = rg_get64le(p + 8);
    l->seq = rg_get64le(p + 16);
    l->n = rg_get64le(p + 24);
    l->limit = rg_get64le(p + 32);
    l->window = rg_get64le(p + 40);
    l->unit = p[48];
    return 0;
}

uint64_t rg_fsm_quota_now_ms(const struct rg_fsm *f)
{
    return f->quota.now_ms;
}

uint64_t rg_fsm_clock_ms(const struct rg_fsm *f)
{
    return f->quota.now_ms > f->brk.now_ms ? f->quota.now_ms : f->brk.now_ms;
}

int rg_fsm__quota_cmd(const struct rg_cmd *c)
{
    return c->type == RG_CMD_LEASE_REQ || c->type == RG_CMD_LEASE_RET;
}

/* ---- the ledger table ---- */

static int key_ok(const char *k, size_t n)
{
    if (n == 0 || n > RG_CODEC_MAX_KEY)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (k[i] < 0x21 || k[i] > 0x7e)
            return 0;
    return 1;
}

static int cmp_ledger(const struct rg_ledger *l, const char *k, size_t n,
                      unsigned unit)
{
    size_t m = l->key_len < n ? l->key_len : n;
    int c = memcmp(l->key, k, m);

    if (c != 0)
        return c;
    if (l->key_len != n)
        return l->key_len < n ? -1 : 1;
    return (int)l->unit - (int)unit;
}

/* Index of (@k, @unit) in @q, or where it goes; *@found says which. */
static size_t find_ledger(const struct rg_quota *q, const char *k, size_t n,
                          unsigned unit, int *found)
{
    size_t lo = 0, hi = q->n;

    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_ledger(q->v[mid], k, n, unit);

        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void ledger_free(struct rg_ledger *l)
{
    if (l == NULL)
        return;
    rg_free(l->key);
    rg_free(l->v);
    rg_free(l);
}

void rg_fsm__quota_release(struct rg_quota *q)
{
    for (size_t i = 0; i < q->n; i++)
        ledger_free(q->v[i]);
    rg_free(q->v);
    memset(q, 0, sizeof(*q));
}

/* Insert a new ledger at @i: the ledger, or NULL on ENOMEM. */
static struct rg_ledger *ledger_new(struct rg_quota *q, size_t i,
                                    const char *k, size_t n, unsigned unit)
{
    struct rg_ledger *l;

    if (q->n == q->cap) {
        size_t cap = q->cap ? 2 * q->cap : 16;
        struct rg_ledger **v = rg_realloc(q->v, cap * sizeof(*v));

        if (v == NULL)
            return NULL;
        q->v = v;
        q->cap = cap;
    }
    l = rg_calloc(1, sizeof(*l));
    if (l == NULL || (l->key = rg_malloc(n)) == NULL) {
        rg_free(l);
        return NULL;
    }
    memcpy(l->key, k, n);
    l->key_len = n;
    l->unit = (uint8_t)unit;
    memmove(&q->v[i + 1], &q->v[i], (q->n - i) * sizeof(q->v[0]));
    q->v[i] = l;
    q->n++;
    return l;
}

/* The record of @node in @l, created (zeroed) when missing; NULL on
 * ENOMEM. */
static struct rg_qnode *node_rec(struct rg_ledger *l, uint64_t node)
{
    size_t i;

    for (i = 0; i < l->n && l->v[i].node < node; i++)
        ;
    if (i < l->n && l->v[i].node == node)
        return &l->v[i];
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 4;
        struct rg_qnode *v = rg_realloc(l->v, cap * sizeof(*v));

        if (v == NULL)
            return NULL;
        l->v = v;
        l->cap = cap;
    }
    memmove(&l->v[i + 1], &l->v[i], (l->n - i) * sizeof(l->v[0]));
    memset(&l->v[i], 0, sizeof(l->v[i]));
    l->v[i].node = node;
    l->n++;
    return &l->v[i];
}

/* Drop the ledgers of windows that ended by @now_s, once per second. */
static void sweep(struct rg_quota *q, uint64_t now_s)
{
    size_t i, k = 0;

    if (now_s == q->swept_s)
        return;
    q->swept_s = now_s;
    for (i = 0; i < q->n; i++) {
        if (q->v[i]->end <= now_s)
            ledger_free(q->v[i]);
        else
            q->v[k++] = q->v[i];
    }
    q->n = k;
}

/* Move @l to the window holding @now_s when its own has ended. */
static void roll(struct rg_ledger *l, uint64_t now_s)
{
    uint64_t start = rg_window_start((enum rg_window_unit)l->unit, now_s);

    if (start <= l->start && l->end != 0)
        return;
    l->start = start;
    l->end = rg_window_end((enum rg_window_unit)l->unit, now_s);
    l->granted = 0;
    for (size_t i = 0; i < l->n; i++)
        l->v[i].held = 0;
}

static uint64_t remaining(const struct rg_ledger *l)
{
    return l->limit > l->granted ? l->limit - l->granted : 0;
}

static void out4(struct rg_fsm_result *r, uint64_t n, uint64_t start,
                 uint64_t end, uint64_t rem)
{
    r->out[0] = n;
    r->out[1] = start;
    r->out[2] = end;
    r->out[3] = rem;
}

/* The grant rule of raft/quota.h: min(want, remaining), or halving
 * slices of ceil(remaining / 2N) near exhaustion (remaining < 2N·want). */
static uint64_t grant_of(uint64_t want, uint64_t rem, uint64_t nodes)
{
    uint64_t slice, n2 = 2 * (nodes > 0 ? nodes : 1);

    if (want == 0 || rem == 0)
        return 0;
    if (want > UINT64_MAX / n2 || rem >= n2 * want)
        return want < rem ? want : rem;
    slice = (rem + n2 - 1) / n2;
    return want < slice ? want : slice;
}

static void lease_req(struct rg_fsm *f, struct rg_ledger *l,
                      struct rg_qnode *nd, const struct rg_lease *ls,
                      struct rg_fsm_result *r)
{
    uint64_t g;

    r->status = RG_FSM_OK;
    if (nd->inc == ls->incarnation && nd->seq != 0 && ls->seq <= nd->seq) {
        if (ls->seq == nd->seq) {
            r->duplicate = 1;
            out4(r, nd->grant, nd->wstart, nd->wend, remaining(l));
        } else {
            out4(r, 0, l->start, l->end, remaining(l));
        }
        return;
    }
    l->limit = ls->limit;
    g = grant_of(ls->n, remaining(l), f->nodes.n);
    l->granted += g;
    nd->inc = ls->incarnation;
    nd->seq = ls->seq;
    nd->grant = g;
    nd->wstart = l->start;
    nd->wend = l->end;
    nd->held += g;
    out4(r, g, l->start, l->end, remaining(l));
}

static void lease_ret(struct rg_ledger *l, struct rg_qnode *nd,
                      const struct rg_lease *ls, struct rg_fsm_result *r)
{
    uint64_t back = 0;

    r->status = RG_FSM_OK;
    /* Only the incarnation that holds the tokens, only once per seq, only
     * in their window, and never more than it holds: a retried or stale
     * return must not mint tokens. */
    if (nd->inc == ls->incarnation && nd->seq != 0 && ls->seq > nd->seq &&
        ls->window == l->start) {
        back = ls->n < nd->held ? ls->n : nd->held;
        nd->held -= back;
        l->granted -= back;
    }
    if (nd->inc == ls->incarnation && ls->seq > nd->seq)
        nd->seq = ls->seq;
    out4(r, back, l->start, l->end, remaining(l));
}

int rg_fsm__quota_apply(struct rg_fsm *f, uint64_t ts_ms,
                        const struct rg_cmd *c, struct rg_fsm_result *r)
{
    struct rg_quota *q = &f->quota;
    struct rg_ledger *l;
    struct rg_qnode *nd;
    struct rg_lease ls;
    uint64_t now_s;
    size_t i;
    int found;

    memset(r, 0, sizeof(*r));
    r->revision = f->revision;
    if (rg_lease_decode(c->body, c->body_len, &ls) != 0 ||
        !key_ok(c->key, c->key_len) || ls.node == 0 || ls.seq == 0 ||
        c->rid_len != 0) {
        r->status = RG_FSM_INVALID;
        strcpy(r->message, "lease: malformed command");
        return 0;
    }
    if (ts_ms > q->now_ms)
        q->now_ms = ts_ms;
    now_s = q->now_ms / 1000;
    sweep(q, now_s);
    i = find_ledger(q, c->key, c->key_len, ls.unit, &found);
    if (!found && c->type == RG_CMD_LEASE_RET) {
        r->status = RG_FSM_OK; /* its window ended: nothing to give back */
        return 0;
    }
    l = found ? q->v[i] : ledger_new(q, i, c->key, c->key_len, ls.unit);
    if (l == NULL)
        return -ENOMEM;
    roll(l, now_s);
    nd = node_rec(l, ls.node);
    if (nd == NULL) {
        if (l->n == 0) { /* just created: leave no trace */
            ledger_free(l);
            memmove(&q->v[i], &q->v[i + 1], (q->n - i - 1) * sizeof(q->v[0]));
            q->n--;
        }
        return -ENOMEM;
    }
    if (c->type == RG_CMD_LEASE_REQ)
        lease_req(f, l, nd, &ls, r);
    else
        lease_ret(l, nd, &ls, r);
    return 0;
}

/* ---- snapshot ---- */

static json_t *snap_ledger(const struct rg_ledger *l)
{
    json_t *nodes = json_array();

    for (size_t i = 0; nodes != NULL && i < l->n; i++) {
        const struct rg_qnode *n = &l->v[i];

        if (json_array_append_new(
                nodes, json_pack("[IIIIIII]", (json_int_t)n->node,
                                 (json_int_t)n->inc, (json_int_t)n->seq,
                                 (json_int_t)n->grant, (json_int_t)n->wstart,
                                 (json_int_t)n->wend, (json_int_t)n->held)) !=
            0) {
            json_decref(nodes);
            return NULL;
        }
    }
    /* "o" takes @nodes, also on failure. */
    return json_pack("[s#iIIIIo]", l->key, (int)l->key_len, (int)l->unit,
                     (json_int_t)l->start, (json_int_t)l->end,
                     (json_int_t)l->limit, (json_int_t)l->granted, nodes);
}

json_t *rg_fsm__quota_snap(const struct rg_quota *q)
{
    json_t *a = json_array();

    for (size_t i = 0; a != NULL && i < q->n; i++) {
        json_t *l = snap_ledger(q->v[i]);

        if (l == NULL || json_array_append_new(a, l) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return json_pack("{sIsIso}", "now_ms", (json_int_t)q->now_ms, "swept_s",
                     (json_int_t)q->swept_s, "ledgers", a);
}

static int u64_at(const json_t *a, size_t i, uint64_t *v)
{
    const json_t *j = json_array_get(a, i);

    if (!json_is_integer(j))
        return -EINVAL;
    *v = (uint64_t)json_integer_value(j);
    return 0;
}

static int load_node(struct rg_ledger *l, const json_t *e)
{
    struct rg_qnode n;
    struct rg_qnode *at;

    if (json_array_size(e) != 7 || u64_at(e, 0, &n.node) ||
        u64_at(e, 1, &n.inc) || u64_at(e, 2, &n.seq) ||
        u64_at(e, 3, &n.grant) || u64_at(e, 4, &n.wstart) ||
        u64_at(e, 5, &n.wend) || u64_at(e, 6, &n.held) || n.node == 0 ||
        (l->n > 0 && l->v[l->n - 1].node >= n.node))
        return -EINVAL;
    at = node_rec(l, n.node);
    if (at == NULL)
        return -ENOMEM;
    *at = n;
    return 0;
}

static int load_ledger(struct rg_quota *q, const json_t *e)
{
    const json_t *key = json_array_get(e, 0), *nodes = json_array_get(e, 6);
    struct rg_ledger *l;
    uint64_t unit;
    size_t i;
    int found, rv;

    if (json_array_size(e) != 7 || !json_is_string(key) ||
        !key_ok(json_string_value(key), json_string_length(key)) ||
        u64_at(e, 1, &unit) || unit >= RG_WIN_UNITS || !json_is_array(nodes))
        return -EINVAL;
    i = find_ledger(q, json_string_value(key), json_string_length(key),
                    (unsigned)unit, &found);
    if (found || i != q->n) /* in order, each once */
        return -EINVAL;
    l = ledger_new(q, i, json_string_value(key), json_string_length(key),
                   (unsigned)unit);
    if (l == NULL)
        return -ENOMEM;
    if (u64_at(e, 2, &l->start) || u64_at(e, 3, &l->end) ||
        u64_at(e, 4, &l->limit) || u64_at(e, 5, &l->granted))
        return -EINVAL;
    for (i = 0; i < json_array_size(nodes); i++)
        if ((rv = load_node(l, json_array_get(nodes, i))) != 0)
            return rv;
    return 0;
}

int rg_fsm__quota_load(struct rg_quota *q, const json_t *j)
{
    const json_t *a = json_object_get(j, "ledgers");
    const json_t *now = json_object_get(j, "now_ms");
    const json_t *sw = json_object_get(j, "swept_s");
    int rv;

    if (!json_is_object(j) || json_object_size(j) != 3 ||
        !json_is_integer(now) || !json_is_integer(sw) || !json_is_array(a))
        return -EINVAL;
    q->now_ms = (uint64_t)json_integer_value(now);
    q->swept_s = (uint64_t)json_integer_value(sw);
    for (size_t i = 0; i < json_array_size(a); i++)
        if ((rv = load_ledger(q, json_array_get(a, i))) != 0)
            return rv;
    return 0;
}
