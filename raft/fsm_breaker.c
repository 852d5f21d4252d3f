/* Replicated circuit breakers (raft/fsm.h, "Circuit breakers"): one
 * record per service, changed only by BREAKER commands whose epoch is the
 * record's current one, each transition bumping the epoch. Time is the
 * running maximum of the BREAKER entries' stamps, never a local clock,
 * so every replica takes the same decisions. Snapshot section:
 *
 *   "breakers": {"now_ms": T,
 *                "services": [[service, state, epoch, prober, since_ms,
 *                              recovery_ms], ...]}   (service order)
 *
 * written only when there is a breaker (older snapshots, and states
 * without breakers, keep their bytes). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "raft/fsm_int.h"

static const char *const op_names[] = {NULL, "open", "probe", "close",
                                       "reopen"};

const char *rg_fsm_brk_state_name(enum rg_brk_state s)
{
    switch (s) {
    case RG_BRK_OPEN:
        return "open";
    case RG_BRK_HALF_OPEN:
        return "half_open";
    default:
        return "closed";
    }
}

const char *rg_fsm_brk_op_name(enum rg_brk_op op)
{
    return op >= RG_BRK_OP_OPEN && op <= RG_BRK_OP_REOPEN ? op_names[op] : NULL;
}

enum rg_brk_op rg_fsm_brk_op_from(const char *name)
{
    for (int i = RG_BRK_OP_OPEN; name != NULL && i <= RG_BRK_OP_REOPEN; i++)
        if (strcmp(name, op_names[i]) == 0)
            return (enum rg_brk_op)i;
    return (enum rg_brk_op)0;
}

int rg_fsm_breaker_cmd(struct rg_cmd *c, char *body, const char *service,
                       enum rg_brk_op op, uint64_t epoch, uint64_t node,
                       uint64_t recovery_ms)
{
    size_t n = service != NULL ? strlen(service) : 0;
    int len;

    if (n == 0 || n > RG_CODEC_MAX_KEY || rg_fsm_brk_op_name(op) == NULL)
        return -EINVAL;
    len = snprintf(body, RG_FSM_BRK_BODY,
                   "{\"op\":\"%s\",\"epoch\":%" PRIu64 ",\"node\":%" PRIu64
                   ",\"recovery_ms\":%" PRIu64 "}",
                   rg_fsm_brk_op_name(op), epoch, node, recovery_ms);
    if (len < 0 || len >= RG_FSM_BRK_BODY)
        return -EINVAL;
    memset(c, 0, sizeof(*c));
    c->type = RG_CMD_BREAKER;
    c->rid = ""; /* empty, never NULL: the facade copies it (memcpy) */
    c->key = service;
    c->key_len = (uint16_t)n;
    c->body = body;
    c->body_len = (uint32_t)len;
    return 0;
}

/* Index of @s (@n bytes) in @b, or where it goes. */
static size_t brk_find(const struct rg_brks *b, const char *s, size_t n,
                       int *found)
{
    size_t lo = 0, hi = b->n;

    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        size_t ml = strlen(b->v[mid].service);
        int c = memcmp(b->v[mid].service, s, ml < n ? ml : n);

        if (c == 0)
            c = ml < n ? -1 : ml > n;
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

/* Insert a closed breaker for @s at @i: 0 or -ENOMEM. */
static int brk_insert(struct rg_brks *b, size_t i, const char *s, size_t n)
{
    char *name = rg_malloc(n + 1);

    if (name == NULL)
        return -ENOMEM;
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 8;
        struct rg_brk *v = rg_realloc(b->v, cap * sizeof(*v));

        if (v == NULL) {
            rg_free(name);
            return -ENOMEM;
        }
        b->v = v;
        b->cap = cap;
    }
    memcpy(name, s, n);
    name[n] = '\0';
    memmove(&b->v[i + 1], &b->v[i], (b->n - i) * sizeof(*b->v));
    memset(&b->v[i], 0, sizeof(*b->v));
    b->v[i].service = name;
    b->n++;
    return 0;
}

static void view(const struct rg_brk *k, struct rg_fsm_breaker *out)
{
    out->service = k->service;
    out->state = (enum rg_brk_state)k->state;
    out->epoch = k->epoch;
    out->prober = k->prober;
    out->since_ms = k->since_ms;
    out->recovery_ms = k->recovery_ms;
}

static int get_u64(const json_t *j, uint64_t *v)
{
    if (!json_is_integer(j) || json_integer_value(j) < 0)
        return -1;
    *v = (uint64_t)json_integer_value(j);
    return 0;
}

static void result(struct rg_fsm_result *r, const struct rg_fsm *f, int applied,
                   const struct rg_brk *k)
{
    memset(r, 0, sizeof(*r));
    r->status = RG_FSM_OK;
    r->revision = f->revision;
    r->out[0] = (uint64_t)applied;
    if (k != NULL) {
        r->out[1] = k->state;
        r->out[2] = k->epoch;
        r->out[3] = k->prober;
    }
}

/* Would @op at epoch @e from @node apply to @k at time @now? */
static int allowed(const struct rg_brk *k, enum rg_brk_op op, uint64_t e,
                   uint64_t node, uint64_t rec, uint64_t now)
{
    if (e != k->epoch)
        return 0; /* stale: an older (or a future) epoch */
    switch (op) {
    case RG_BRK_OP_OPEN:
        return k->state == RG_BRK_CLOSED;
    case RG_BRK_OP_PROBE:
        return (k->state == RG_BRK_OPEN || k->state == RG_BRK_HALF_OPEN) &&
               now >= k->since_ms && now - k->since_ms >= rec;
    case RG_BRK_OP_CLOSE:
    case RG_BRK_OP_REOPEN:
        return k->state == RG_BRK_HALF_OPEN && node == k->prober;
    default:
        return 0;
    }
}

int rg_fsm__breaker(struct rg_fsm *f, uint64_t ts_ms, const struct rg_cmd *c,
                    struct rg_fsm_result *r)
{
    json_t *body =
        json_loadb(c->body, c->body_len, JSON_REJECT_DUPLICATES, NULL);
    enum rg_brk_op op =
        rg_fsm_brk_op_from(json_string_value(json_object_get(body, "op")));
    uint64_t e = 0, node = 0, rec = 0;
    struct rg_fsm_breaker ev;
    struct rg_brk *k;
    size_t i;
    int found, bad;

    bad = body == NULL || op == 0 || c->key_len == 0 ||
          memchr(c->key, '\0', c->key_len) != NULL ||
          get_u64(json_object_get(body, "epoch"), &e) != 0 ||
          get_u64(json_object_get(body, "node"), &node) != 0 ||
          get_u64(json_object_get(body, "recovery_ms"), &rec) != 0;
    json_decref(body);
    if (bad) {
        memset(r, 0, sizeof(*r));
        r->status = RG_FSM_INVALID;
        r->revision = f->revision;
        snprintf(r->message, sizeof(r->message),
                 "breaker: expected {op, epoch, node, recovery_ms}");
        return 0;
    }
    if (ts_ms > f->brk.now_ms)
        f->brk.now_ms = ts_ms;
    i = brk_find(&f->brk, c->key, c->key_len, &found);
    if (!found) {
        struct rg_brk fresh = {0};

        /* A missing breaker is closed at epoch 0: only an OPEN at 0 can
         * create it, so stale commands leave no record behind. */
        if (!allowed(&fresh, op, e, node, rec, f->brk.now_ms)) {
            result(r, f, 0, &fresh);
            return 0;
        }
        if (brk_insert(&f->brk, i, c->key, c->key_len) != 0)
            return -ENOMEM;
    }
    k = &f->brk.v[i];
    if (!allowed(k, op, e, node, rec, f->brk.now_ms)) {
        result(r, f, 0, k);
        return 0;
    }
    k->epoch++;
    k->since_ms = f->brk.now_ms;
    k->recovery_ms = rec;
    switch (op) {
    case RG_BRK_OP_OPEN:
    case RG_BRK_OP_REOPEN:
        k->state = RG_BRK_OPEN;
        k->prober = 0;
        break;
    case RG_BRK_OP_PROBE:
        k->state = RG_BRK_HALF_OPEN;
        k->prober = node;
        break;
    default: /* CLOSE */
        k->state = RG_BRK_CLOSED;
        k->prober = 0;
        break;
    }
    result(r, f, 1, k);
    if (f->brk_fn != NULL) {
        view(k, &ev);
        f->brk_fn(f->brk_arg, &ev);
    }
    return 0;
}

void rg_fsm__brk_release(struct rg_brks *b)
{
    for (size_t i = 0; i < b->n; i++)
        rg_free(b->v[i].service);
    rg_free(b->v);
    memset(b, 0, sizeof(*b));
}

json_t *rg_fsm__brk_snap(const struct rg_brks *b)
{
    json_t *a = json_array(), *doc;

    for (size_t i = 0; a != NULL && i < b->n; i++) {
        const struct rg_brk *k = &b->v[i];
        json_t *e =
            json_pack("[siIIII]", k->service, (int)k->state,
                      (json_int_t)k->epoch, (json_int_t)k->prober,
                      (json_int_t)k->since_ms, (json_int_t)k->recovery_ms);

        if (e == NULL || json_array_append_new(a, e) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    if (a == NULL)
        return NULL;
    doc = json_pack("{sIso}", "now_ms", (json_int_t)b->now_ms, "services", a);
    return doc;
}

int rg_fsm__brk_load(struct rg_fsm *t, const json_t *j)
{
    const json_t *a = json_object_get(j, "services");
    struct rg_brks *b = &t->brk;
    size_t i, at;
    int found;

    if (!json_is_object(j) || json_object_size(j) != 2 || !json_is_array(a) ||
        get_u64(json_object_get(j, "now_ms"), &b->now_ms) != 0)
        return -EINVAL;
    for (i = 0; i < json_array_size(a); i++) {
        const json_t *e = json_array_get(a, i);
        const char *s = json_string_value(json_array_get(e, 0));
        json_int_t st = json_integer_value(json_array_get(e, 1));
        struct rg_brk *k;
        uint64_t v[4];

        if (json_array_size(e) != 6 || s == NULL || *s == '\0' ||
            strlen(s) > RG_CODEC_MAX_KEY ||
            !json_is_integer(json_array_get(e, 1)) || st < RG_BRK_CLOSED ||
            st > RG_BRK_HALF_OPEN)
            return -EINVAL;
        for (int x = 0; x < 4; x++)
            if (get_u64(json_array_get(e, 2 + x), &v[x]) != 0)
                return -EINVAL;
        at = brk_find(b, s, strlen(s), &found);
        if (found || at != b->n) /* duplicates or out of order */
            return -EINVAL;
        if (brk_insert(b, at, s, strlen(s)) != 0)
            return -ENOMEM;
        k = &b->v[at];
        k->state = (uint8_t)st;
        k->epoch = v[0];
        k->prober = v[1];
        k->since_ms = v[2];
        k->recovery_ms = v[3];
    }
    return 0;
}

void rg_fsm__brk_report(const struct rg_fsm *f)
{
    struct rg_fsm_breaker ev;

    if (f->brk_fn == NULL)
        return;
    for (size_t i = 0; i < f->brk.n; i++) {
        view(&f->brk.v[i], &ev);
        f->brk_fn(f->brk_arg, &ev);
    }
}

void rg_fsm_on_breaker(struct rg_fsm *f,
                       void (*fn)(void *arg, const struct rg_fsm_breaker *b),
                       void *arg)
{
    f->brk_fn = fn;
    f->brk_arg = arg;
}

void rg_fsm_each_breaker(const struct rg_fsm *f,
                         void (*cb)(void *arg, const struct rg_fsm_breaker *b),
                         void *arg)
{
    struct rg_fsm_breaker ev;

    for (size_t i = 0; i < f->brk.n; i++) {
        view(&f->brk.v[i], &ev);
        cb(arg, &ev);
    }
}

int rg_fsm_get_breaker(const struct rg_fsm *f, const char *service,
                       struct rg_fsm_breaker *out)
{
    int found;
    size_t i = brk_find(&f->brk, service, strlen(service), &found);

    if (!found)
        return -ENOENT;
    view(&f->brk.v[i], out);
    return 0;
}
