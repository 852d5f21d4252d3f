/* Snapshot and restore of the whole state machine as one canonical JSON
 * document (sorted keys, compact), so that replicas that applied the same
 * entries write byte-identical snapshots:
 *
 *   {"format":1, "revision":R, "applied_index":I,
 *    "store":{"services":[[rev, body], ...], "routes":..., "consumers":...,
 *             "plugins":...},
 *    "nodes":[record, ...],
 *    "dedupe":[[request_id, status, revision, message], ...],
 *    "applied":[[index, term, revision, type, kind, status, request_id], ...],
 *    "quota":{...}}
 *    "breakers":{...}}   (only when there is a breaker: fsm_breaker.c)
 *
 * "quota" is the lease ledger (raft/fsm_quota.c), written once a lease
 * command was applied; a snapshot without it restores an empty ledger.
 * Lists are in id order (store, nodes) or oldest first (dedupe, applied).
 * 64-bit counters are written as JSON integers holding the same 64 bits.
 * Restore checks everything into a fresh state and swaps it in only when
 * the whole document is sound. */
#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "raft/fsm_int.h"

#define SNAP_FORMAT 1

static int append_new(json_t *a, json_t *v)
{
    return v == NULL ? -1 : json_array_append_new(a, v);
}

static json_t *snap_store(const struct rg_store *s)
{
    json_t *doc = json_object(), *a;
    size_t i;
    int k;

    for (k = RG_KIND_NONE + 1; doc != NULL && k < RG_KIND_MAX; k++) {
        if (rg_fsm__kind_optional(k) && s->k[k].n == 0)
            continue;
        a = json_array();
        if (json_object_set_new(doc, rg_kind_name(k), a) != 0)
            goto err;
        for (i = 0; i < s->k[k].n; i++)
            if (append_new(a, json_pack("[IO]", (json_int_t)s->k[k].v[i].rev,
                                        s->k[k].v[i].body)) != 0)
                goto err;
    }
    return doc;
err:
    json_decref(doc);
    return NULL;
}

static json_t *snap_nodes(const struct rg_nodes *s)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; a != NULL && i < s->n; i++) {
        if (json_array_append(a, s->v[i].rec) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *snap_dedupe(const struct rg_dedupe *d)
{
    json_t *a = json_array();
    const struct rg_dd_ent *e;
    size_t i;

    for (i = 0; a != NULL && i < d->q.n; i++) {
        e = &d->v[rg_fsm__fifo_at(&d->q, i)];
        if (append_new(a, json_pack("[siIs]", e->rid, (int)e->status,
                                    (json_int_t)e->revision,
                                    e->message ? e->message : "")) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *snap_ring(const struct rg_ring *g)
{
    json_t *a = json_array();
    const struct rg_fsm_applied *x;
    size_t i;

    for (i = 0; a != NULL && i < g->q.n; i++) {
        x = &g->v[rg_fsm__fifo_at(&g->q, i)];
        if (append_new(a, json_pack("[IIIiiis]", (json_int_t)x->index,
                                    (json_int_t)x->term,
                                    (json_int_t)x->revision, (int)x->type,
                                    (int)x->kind, (int)x->status, x->rid)) !=
            0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

int rg_fsm_snapshot(const struct rg_fsm *f, void **buf, size_t *len)
{
    /* "o" takes each reference, also when packing fails. */
    json_t *doc = json_pack(
        "{si sI sI so so so so}", "format", SNAP_FORMAT, "revision",
        (json_int_t)f->revision, "applied_index", (json_int_t)f->applied_index,
        "store", snap_store(&f->store), "nodes", snap_nodes(&f->nodes),
        "dedupe", snap_dedupe(&f->dd), "applied", snap_ring(&f->ring));
    char *out;
    int rv;

    if (doc != NULL && f->quota.now_ms != 0 &&
        json_object_set_new(doc, "quota", rg_fsm__quota_snap(&f->quota)) != 0) {
        json_decref(doc);
        doc = NULL;
    }
    if (doc == NULL)
        return -ENOMEM;
    /* Written only when there is one: older states keep their bytes. */
    if (f->brk.n > 0 &&
        json_object_set_new(doc, "breakers", rg_fsm__brk_snap(&f->brk)) != 0) {
        json_decref(doc);
        return -ENOMEM;
    }
    rv = rg_fsm__dump(doc, &out, len);
    json_decref(doc);
    if (rv == 0)
        *buf = out;
    return rv;
}

/* --- restore ---------------------------------------------------------- */

static int get_u64(const json_t *j, uint64_t *v)
{
    if (!json_is_integer(j))
        return -EINVAL;
    *v = (uint64_t)json_integer_value(j);
    return 0;
}

/* An integer in [0, @max]. */
static int get_small(const json_t *j, unsigned max, unsigned *v)
{
    json_int_t x = json_integer_value(j);

    if (!json_is_integer(j) || x < 0 || x > (json_int_t)max)
        return -EINVAL;
    *v = (unsigned)x;
    return 0;
}

/* A request id as apply accepts it: printable ASCII, at most
 * RG_CODEC_MAX_RID bytes. */
static int rid_ok(const json_t *j)
{
    const char *s = json_string_value(j);
    size_t i, n = json_string_length(j);

    if (s == NULL || n > RG_CODEC_MAX_RID)
        return 0;
    for (i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return 0;
    return 1;
}

static int load_obj(struct rg_fsm *t, enum rg_kind k, const json_t *pair)
{
    json_t *body = json_array_get(pair, 1);
    const json_t *id = json_object_get(body, "id");
    struct rg_objs *o = &t->store.k[k];
    size_t i, len = json_string_length(id);
    uint64_t rev;
    int found;

    if (json_array_size(pair) != 2 ||
        get_u64(json_array_get(pair, 0), &rev) != 0 || rev == 0 ||
        rev > t->revision || !json_is_object(body) || !json_is_string(id) ||
        len == 0 || len > RG_CODEC_MAX_KEY)
        return -EINVAL;
    if (rg_fsm__nested_of(k) != NULL &&
        json_object_get(body, rg_fsm__nested_of(k)) != NULL)
        return -EINVAL;
    i = rg_fsm__find(o, json_string_value(id), len, &found);
    if (found)
        return -EINVAL;
    if (rg_fsm__reserve(o, 1) != 0)
        return -ENOMEM;
    rg_fsm__insert(o, i, json_incref(body), rev);
    return 0;
}

static int load_store(struct rg_fsm *t, const json_t *j)
{
    size_t i, known = 0;
    int k, rv;

    if (!json_is_object(j))
        return -EINVAL;
    for (k = RG_KIND_NONE + 1; k < RG_KIND_MAX; k++)
        known += json_object_get(j, rg_kind_name(k)) != NULL;
    if (json_object_size(j) != known)
        return -EINVAL; /* a kind this build does not know */
    for (k = RG_KIND_NONE + 1; k < RG_KIND_MAX; k++) {
        const json_t *a = json_object_get(j, rg_kind_name(k));

        /* A snapshot from before a kind existed holds none of it. */
        if (a == NULL)
            continue;
        if (!json_is_array(a))
            return -EINVAL;
        for (i = 0; i < json_array_size(a); i++) {
            rv = load_obj(t, k, json_array_get(a, i));
            if (rv != 0)
                return rv;
        }
    }
    return 0; /* the rules across objects are the validator's: a snapshot
                 holds what it accepted */
}

static int load_nodes(struct rg_fsm *t, const json_t *a)
{
    json_t *rec;
    uint64_t id;
    size_t i, at;
    int found;

    if (!json_is_array(a))
        return -EINVAL;
    for (i = 0; i < json_array_size(a); i++) {
        rec = json_array_get(a, i);
        if (!json_is_object(rec) ||
            get_u64(json_object_get(rec, "id"), &id) != 0 || id == 0 ||
            id > (uint64_t)INT64_MAX)
            return -EINVAL;
        at = rg_fsm__node_find(&t->nodes, id, &found);
        if (found)
            return -EINVAL;
        if (rg_fsm__node_reserve(&t->nodes) != 0)
            return -ENOMEM;
        rg_fsm__node_put(&t->nodes, at, 0, id, json_incref(rec));
    }
    return 0;
}

static int load_dd_ent(struct rg_fsm *t, const json_t *e)
{
    const json_t *rid = json_array_get(e, 0), *msg = json_array_get(e, 3);
    struct rg_fsm_result r;
    unsigned st;

    memset(&r, 0, sizeof(r));
    if (json_array_size(e) != 4 || !rid_ok(rid) ||
        json_string_length(rid) == 0 ||
        get_small(json_array_get(e, 1), RG_FSM_INVALID, &st) != 0 ||
        get_u64(json_array_get(e, 2), &r.revision) != 0 ||
        !json_is_string(msg) || json_string_length(msg) >= sizeof(r.message) ||
        strlen(json_string_value(msg)) != json_string_length(msg))
        return -EINVAL;
    if (rg_fsm__dd_lookup(&t->dd, json_string_value(rid),
                          json_string_length(rid), &r))
        return -EINVAL; /* the same id twice */
    r.status = (enum rg_fsm_status)st;
    memcpy(r.message, json_string_value(msg), json_string_length(msg) + 1);
    return rg_fsm__dd_add(&t->dd, json_string_value(rid),
                          json_string_length(rid), &r);
}

static int load_dedupe(struct rg_fsm *t, const json_t *a)
{
    size_t i;
    int rv;

    if (!json_is_array(a) || json_array_size(a) > RG_FSM_DEDUPE)
        return -EINVAL;
    for (i = 0; i < json_array_size(a); i++) {
        rv = load_dd_ent(t, json_array_get(a, i));
        if (rv != 0)
            return rv;
    }
    return 0;
}

static int load_applied(struct rg_fsm *t, const json_t *e)
{
    struct rg_fsm_applied x;
    const json_t *rid = json_array_get(e, 6);
    unsigned type, kind, st;

    memset(&x, 0, sizeof(x));
    if (json_array_size(e) != 7 || get_u64(json_array_get(e, 0), &x.index) ||
        get_u64(json_array_get(e, 1), &x.term) ||
        get_u64(json_array_get(e, 2), &x.revision) ||
        get_small(json_array_get(e, 3), RG_CMD_CACHE_PURGE, &type) ||
        get_small(json_array_get(e, 4), RG_KIND_MAX - 1, &kind) ||
        get_small(json_array_get(e, 5), RG_FSM_INVALID, &st) || !rid_ok(rid))
        return -EINVAL;
    x.type = (uint8_t)type;
    x.kind = (uint8_t)kind;
    x.status = (enum rg_fsm_status)st;
    memcpy(x.rid, json_string_value(rid), json_string_length(rid));
    return rg_fsm__ring_add(&t->ring, &x);
}

static int load_ring(struct rg_fsm *t, const json_t *a)
{
    size_t i;
    int rv;

    if (!json_is_array(a) || json_array_size(a) > RG_FSM_APPLIED_RING)
        return -EINVAL;
    for (i = 0; i < json_array_size(a); i++) {
        rv = load_applied(t, json_array_get(a, i));
        if (rv != 0)
            return rv;
    }
    return 0;
}

static int load(struct rg_fsm *t, const json_t *doc)
{
    const json_t *quota = json_object_get(doc, "quota");
    const json_t *brk = json_object_get(doc, "breakers");
    unsigned format;
    int rv;

    if (!json_is_object(doc) ||
        json_object_size(doc) != 7u + (quota != NULL) + (brk != NULL) ||
        get_small(json_object_get(doc, "format"), SNAP_FORMAT, &format) ||
        format != SNAP_FORMAT ||
        get_u64(json_object_get(doc, "revision"), &t->revision) ||
        get_u64(json_object_get(doc, "applied_index"), &t->applied_index))
        return -EINVAL;
    rv = load_store(t, json_object_get(doc, "store"));
    if (rv == 0)
        rv = load_nodes(t, json_object_get(doc, "nodes"));
    if (rv == 0)
        rv = load_dedupe(t, json_object_get(doc, "dedupe"));
    if (rv == 0)
        rv = load_ring(t, json_object_get(doc, "applied"));
    if (rv == 0 && quota != NULL)
        rv = rg_fsm__quota_load(&t->quota, quota);
    if (rv == 0 && brk != NULL)
        rv = rg_fsm__brk_load(t, brk);
    return rv; /* the export is computed when first asked for */
}

/* Exchange the states of @f and @t, keeping @f's validator. */
static int swap(struct rg_fsm *f, struct rg_fsm *t)
{
    struct rg_fsm *keep = rg_malloc(sizeof(*keep));

    if (keep == NULL)
        return -ENOMEM;
    *keep = *f;
    *f = *t;
    f->validate = keep->validate;
    f->arg = keep->arg;
    f->xrefs = keep->xrefs;
    f->n_xrefs = keep->n_xrefs;
    f->whole = keep->whole;
    f->brk_fn = keep->brk_fn;
    f->brk_arg = keep->brk_arg;
    *t = *keep;
    rg_free(keep);
    return 0;
}

int rg_fsm_restore(struct rg_fsm *f, const void *buf, size_t len)
{
    struct rg_fsm *t;
    json_t *doc;
    int rv;

    doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
    if (doc == NULL)
        return -EINVAL;
    t = rg_fsm_new(NULL, NULL);
    if (t == NULL || rg_fsm_set_xrefs(t, f->xrefs, f->n_xrefs) != 0) {
        rg_fsm_free(t);
        json_decref(doc);
        return -ENOMEM;
    }
    rv = load(t, doc);
    json_decref(doc);
    if (rv == 0)
        rv = swap(f, t);
    rg_fsm_free(t);
    if (rv == 0)
        rg_fsm__brk_report(f);
    return rv;
}
