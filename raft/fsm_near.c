/* The neighbourhood of a change: for a PUT or DELETE of one object, the
 * stored objects the validator's verdict on it depends on, found through
 * the validator's own rules across objects (core/xref.h), so that the
 * validator runs on a small document instead of the whole config.
 *
 * Starting from the change, it takes
 * - the objects of its kind that share a UNIQUE or GROUP field with the
 *   new body (a duplicate, a scope rule among plugins);
 * - when the old object goes or changes a UNIQUE field, every object that
 *   references it (it may now name nothing, or something else);
 * - and, for every object taken and for the new body, what it references,
 *   to the end (the subset must stay closed: a route needs its service).
 * The document lists them in store order, as the export would, so the
 * validator sees them in the same relative order as in the whole config.
 * Candidates come from the link index (fsm_keys.c): O(log n) per value
 * looked up, plus the objects taken. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "raft/fsm_int.h"

struct near {
    const struct rg_fsm *f;
    enum rg_kind k;   /* the change: its kind, */
    size_t at;        /* its place in the store, */
    int found;        /* whether it replaces or deletes v[at], */
    json_t *body;     /* and the new object (NULL: a delete) */
    unsigned char *in[RG_KIND_MAX]; /* per stored object: taken */
    struct todo {
        enum rg_kind k;
        size_t i;
    } *todo; /* taken, not yet followed */
    size_t n_todo;
};

static enum rg_kind kind_of(const char *list)
{
    return rg_kind_from_name(list, strlen(list));
}

static int same(const json_t *a, const json_t *b, int fold)
{
    char ba[64], bb[64];
    const char *sa, *sb;
    size_t la, lb;

    if (!rg_fsm__text(a, ba, sizeof(ba), &sa, &la) ||
        !rg_fsm__text(b, bb, sizeof(bb), &sb, &lb) || la != lb)
        return 0;
    return fold ? strncasecmp(sa, sb, la) == 0 : memcmp(sa, sb, la) == 0;
}

/* The rule that indexes @field of @list (UNIQUE), or n_xrefs. */
static size_t unique_rule(const struct rg_fsm *f, const char *list,
                          const char *field)
{
    size_t x;

    for (x = 0; x < f->n_xrefs; x++)
        if (f->xrefs[x].type == RG_XREF_UNIQUE &&
            strcmp(f->xrefs[x].kind, list) == 0 &&
            strcmp(f->xrefs[x].field, field) == 0)
            break;
    return x;
}

/* Whether values of @field in @list compare without case: the fold of its
 * UNIQUE rule, or 1 when it has none (taking too much is safe). */
static int fold_of(const struct rg_fsm *f, const char *list, const char *field)
{
    size_t x = unique_rule(f, list, field);

    return x < f->n_xrefs ? f->xrefs[x].fold : 1;
}

/* Does @ref (a value of @l's field) name @obj (an object of l->target)? A
 * mapping names it by any of its "id" and l->by members. */
static int names(const struct rg_fsm *f, const struct rg_xref *l,
                 const json_t *ref, const json_t *obj)
{
    const json_t *part[2];
    size_t n = rg_fsm__ref_parts(l, ref, part);

    for (size_t j = 0; j < n; j++)
        if (same(part[j], json_object_get(obj, "id"),
                 fold_of(f, l->target, "id")) ||
            (l->by != NULL && same(part[j], json_object_get(obj, l->by),
                                   fold_of(f, l->target, l->by))))
            return 1;
    return 0;
}

/* The stored object at @i of @k stands for the change: the document has
 * the new body (or nothing) in its place. */
static int is_change(const struct near *n, enum rg_kind k, size_t i)
{
    return k == n->k && n->found && i == n->at;
}

static void take(struct near *n, enum rg_kind k, size_t i)
{
    if (is_change(n, k, i) || n->in[k][i])
        return;
    n->in[k][i] = 1;
    n->todo[n->n_todo].k = k;
    n->todo[n->n_todo++].i = i;
}

/* A candidate from the index, checked by @pred before it is taken. */
struct cand {
    struct near *n;
    enum rg_kind k; /* the candidates' kind */
    const struct rg_xref *l;
    const json_t *v; /* UNIQUE/GROUP: the value; REF forward: the ref;
                        REF backward: the referenced object */
    int (*pred)(const struct cand *c, const json_t *obj);
};

static void cand_cb(void *arg, size_t i)
{
    const struct cand *c = arg;

    if (c->pred(c, c->n->f->store.k[c->k].v[i].body))
        take(c->n, c->k, i);
}

/* Each of @c's candidates for value @v by rule @x of its kind; without an
 * index for the field, every object of the kind. */
static void candidates(struct cand *c, size_t x, const json_t *v)
{
    const struct rg_objs *o = &c->n->f->store.k[c->k];

    if (x < o->n_xrefs && o->keys != NULL) {
        rg_fsm__keys_each(o, x, v, cand_cb, c);
        return;
    }
    for (size_t i = 0; i < o->n; i++)
        cand_cb(c, i);
}

static int is_named(const struct cand *c, const json_t *obj)
{
    return names(c->n->f, c->l, c->v, obj);
}

static int shares(const struct cand *c, const json_t *obj)
{
    return same(json_object_get(obj, c->l->field), c->v, c->l->fold);
}

static int refers(const struct cand *c, const json_t *obj)
{
    const json_t *ref = json_object_get(obj, c->l->field);

    return ref != NULL && names(c->n->f, c->l, ref, c->v);
}

/* Take what @obj (of kind @k) references: look each part of a reference
 * up by the target's id and by fields. */
static void follow(struct near *n, enum rg_kind k, const json_t *obj)
{
    const struct rg_fsm *f = n->f;

    for (size_t x = 0; x < f->n_xrefs; x++) {
        const struct rg_xref *l = &f->xrefs[x];
        const json_t *ref = json_object_get(obj, l->field), *part[2];
        struct cand c = {n, RG_KIND_NONE, l, ref, is_named};
        size_t np;

        if (l->type != RG_XREF_REF || kind_of(l->kind) != k || ref == NULL ||
            (c.k = kind_of(l->target)) == RG_KIND_NONE)
            continue;
        np = rg_fsm__ref_parts(l, ref, part);
        for (size_t j = 0; j < np; j++) {
            candidates(&c, unique_rule(f, l->target, "id"), part[j]);
            if (l->by != NULL)
                candidates(&c, unique_rule(f, l->target, l->by), part[j]);
        }
    }
}

/* Take the objects of the change's kind that share a UNIQUE or GROUP
 * field with the new body. */
static void peers(struct near *n)
{
    for (size_t x = 0; x < n->f->n_xrefs; x++) {
        const struct rg_xref *l = &n->f->xrefs[x];
        struct cand c = {n, n->k, l, json_object_get(n->body, l->field),
                         shares};

        if (l->type == RG_XREF_REF || kind_of(l->kind) != n->k || c.v == NULL)
            continue;
        candidates(&c, x, c.v);
    }
}

/* Whether the change keeps every UNIQUE field of the old object (then a
 * reference to it names the new body as it named the old one). */
static int same_identity(const struct near *n, const json_t *old)
{
    for (size_t x = 0; x < n->f->n_xrefs; x++) {
        const struct rg_xref *l = &n->f->xrefs[x];
        const json_t *a = json_object_get(old, l->field);
        const json_t *b = json_object_get(n->body, l->field);

        if (l->type == RG_XREF_UNIQUE && kind_of(l->kind) == n->k &&
            !(a == NULL ? b == NULL : b != NULL && json_equal(a, b)))
            return 0;
    }
    return 1;
}

/* Take every object that references the old object: look its id and by
 * fields up in the keys of each reference rule to its kind. */
static void referrers(struct near *n, const json_t *old)
{
    for (size_t x = 0; x < n->f->n_xrefs; x++) {
        const struct rg_xref *l = &n->f->xrefs[x];
        struct cand c = {n, kind_of(l->kind), l, old, refers};

        if (l->type != RG_XREF_REF || kind_of(l->target) != n->k ||
            c.k == RG_KIND_NONE)
            continue;
        candidates(&c, x, json_object_get(old, "id"));
        if (l->by != NULL && json_object_get(old, l->by) != NULL)
            candidates(&c, x, json_object_get(old, l->by));
    }
}

/* The document: each kind's taken objects in store order, the new body
 * at the change's place. */
static json_t *emit(const struct near *n)
{
    struct rg_store none;
    json_t *doc;
    int rv = 0;

    memset(&none, 0, sizeof(none));
    doc = rg_fsm__export_doc(&none);
    for (int k = RG_KIND_NONE + 1; doc != NULL && k < RG_KIND_MAX; k++) {
        const struct rg_objs *o = &n->f->store.k[k];
        json_t *a = json_object_get(doc, rg_kind_name((enum rg_kind)k));

        for (size_t i = 0; i <= o->n && rv == 0; i++) {
            if (k == (int)n->k && i == n->at && n->body != NULL)
                rv = json_array_append(a, n->body);
            if (rv == 0 && i < o->n && n->in[k][i])
                rv = json_array_append(a, o->v[i].body);
        }
    }
    if (rv != 0) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

json_t *rg_fsm__near_doc(const struct rg_fsm *f, enum rg_kind k, size_t at,
                         int found, json_t *body)
{
    struct near n = {f, k, at, found, body, {NULL}, NULL, 0};
    const json_t *old = found ? f->store.k[k].v[at].body : NULL;
    json_t *doc = NULL;
    size_t total = 0;
    int k2;

    for (k2 = RG_KIND_NONE + 1; k2 < RG_KIND_MAX; k2++) {
        total += f->store.k[k2].n;
        n.in[k2] = rg_calloc(f->store.k[k2].n + 1, 1);
        if (n.in[k2] == NULL)
            goto out;
    }
    n.todo = rg_malloc((total + 1) * sizeof(*n.todo));
    if (n.todo == NULL)
        goto out;
    if (body != NULL) {
        peers(&n);
        follow(&n, k, body);
    }
    if (old != NULL && (body == NULL || !same_identity(&n, old)))
        referrers(&n, old);
    while (n.n_todo > 0) {
        struct todo t = n.todo[--n.n_todo];

        follow(&n, t.k, f->store.k[t.k].v[t.i].body);
    }
    doc = emit(&n);
out:
    for (k2 = RG_KIND_NONE + 1; k2 < RG_KIND_MAX; k2++)
        rg_free(n.in[k2]);
    rg_free(n.todo);
    return doc;
}
