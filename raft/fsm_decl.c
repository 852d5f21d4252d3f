/* REPLACE_ALL documents: a Kong 3.0 declarative config (JSON) turned into
 * a store. Services may nest routes (flattened into top-level routes with
 * "service": {"id": ...}) and upstreams targets (likewise, "upstream":
 * {"id": ...}); every object must carry its id, since apply
 * cannot generate one deterministically (the admin layer fills them in
 * before proposing). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "raft/fsm_int.h"

/* Kinds that nest children in a whole config: the children are
 * flattened into their own kind with a reference {"id": parent's id}. */
static const struct nest {
    enum rg_kind parent;
    const char *list;  /* the nested list and the child kind's name */
    enum rg_kind child;
    const char *ref;   /* the child's reference to its parent */
} nests[] = {
    {RG_KIND_SERVICE, "routes", RG_KIND_ROUTE, "service"},
    {RG_KIND_UPSTREAM, "targets", RG_KIND_TARGET, "upstream"},
    {RG_KIND_CERTIFICATE, "snis", RG_KIND_SNI, "certificate"},
};

static const struct nest *nest_of(enum rg_kind k)
{
    for (size_t i = 0; i < sizeof(nests) / sizeof(nests[0]); i++)
        if (nests[i].parent == k)
            return &nests[i];
    return NULL;
}

const char *rg_fsm__nested_of(enum rg_kind k)
{
    const struct nest *n = nest_of(k);

    return n != NULL ? n->list : NULL;
}

/* Where an object comes from, for messages: "routes[3]" or
 * "services[1].routes[0]". */
struct at {
    const char *list;
    size_t i;
    const char *parent_list; /* "services" for nested routes, else NULL */
    size_t parent;
};

static int fail(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return 1;
}

static void at_str(const struct at *a, char *buf, size_t cap)
{
    if (a->parent_list != NULL)
        snprintf(buf, cap, "%s[%zu].%s[%zu]", a->parent_list, a->parent,
                 a->list, a->i);
    else
        snprintf(buf, cap, "%s[%zu]", a->list, a->i);
}

/* Add @item (an object with a valid id) to @out's kind @k. */
static int add_obj(struct rg_store *out, const struct rg_store *old,
                   enum rg_kind k, json_t *item, uint64_t rev,
                   const struct at *a, char *err, size_t cap)
{
    const json_t *id = json_object_get(item, "id");
    const char *s = json_string_value(id);
    size_t len = json_string_length(id), i, j;
    struct rg_objs *o = &out->k[k];
    int found, old_found;
    char where[96];

    at_str(a, where, sizeof(where));
    if (!json_is_object(item))
        return fail(err, cap, "%s: not an object", where);
    if (s == NULL || len == 0 || len > RG_CODEC_MAX_KEY)
        return fail(err, cap, "%s: id must be a string of 1 to %d bytes", where,
                    RG_CODEC_MAX_KEY);
    i = rg_fsm__find(o, s, len, &found);
    if (found)
        return fail(err, cap, "%s: duplicate id \"%.100s\"", where, s);
    if (rg_fsm__reserve(o, 1) != 0)
        return -ENOMEM;
    j = rg_fsm__find(&old->k[k], s, len, &old_found);
    if (old_found && json_equal(old->k[k].v[j].body, item)) {
        /* Unchanged: keep the revision a CAS on this object expects. */
        rg_fsm__insert(o, i, json_incref(old->k[k].v[j].body),
                       old->k[k].v[j].rev);
    } else {
        rg_fsm__insert(o, i, json_incref(item), rev);
    }
    return 0;
}

/* A list member: absent or null means empty; else an array. */
static int get_list(json_t *doc, const char *name, json_t **out, char *err,
                    size_t cap)
{
    json_t *v = json_object_get(doc, name);

    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return fail(err, cap, "%s: not a list", name);
    *out = v;
    return 0;
}

static int add_nested(struct rg_store *out, const struct rg_store *old,
                      const struct nest *n, json_t *children,
                      const json_t *pid, uint64_t rev, size_t parent,
                      char *err, size_t cap)
{
    struct at a = {n->list, 0, rg_kind_name(n->parent), parent};
    json_t *ch, *ref;
    int rv;

    for (a.i = 0; a.i < json_array_size(children); a.i++) {
        ch = json_array_get(children, a.i);
        if (json_is_object(ch)) {
            ref = json_pack("{ss%}", "id", json_string_value(pid),
                            json_string_length(pid));
            if (ref == NULL || json_object_set_new(ch, n->ref, ref) != 0)
                return -ENOMEM;
        }
        rv = add_obj(out, old, n->child, ch, rev, &a, err, cap);
        if (rv != 0)
            return rv;
    }
    return 0;
}

/* Parents (services, upstreams), each taken without its nested children,
 * which follow it. */
static int add_parents(struct rg_store *out, const struct rg_store *old,
                       const struct nest *n, json_t *list, uint64_t rev,
                       char *err, size_t cap)
{
    struct at a = {rg_kind_name(n->parent), 0, NULL, 0};
    json_t *p, *children;
    int rv;

    for (a.i = 0; a.i < json_array_size(list); a.i++) {
        p = json_array_get(list, a.i);
        children = json_incref(json_object_get(p, n->list));
        if (children != NULL && !json_is_null(children) &&
            !json_is_array(children)) {
            json_decref(children);
            return fail(err, cap, "%s[%zu].%s: not a list", a.list, a.i,
                        n->list);
        }
        if (children != NULL)
            json_object_del(p, n->list);
        rv = add_obj(out, old, n->parent, p, rev, &a, err, cap);
        if (rv == 0 && json_is_array(children))
            rv = add_nested(out, old, n, children, json_object_get(p, "id"),
                            rev, a.i, err, cap);
        json_decref(children);
        if (rv != 0)
            return rv;
    }
    return 0;
}

static int add_kind(struct rg_store *out, const struct rg_store *old,
                    enum rg_kind k, json_t *list, uint64_t rev, char *err,
                    size_t cap)
{
    struct at a = {rg_kind_name(k), 0, NULL, 0};
    int rv;

    for (a.i = 0; a.i < json_array_size(list); a.i++) {
        rv = add_obj(out, old, k, json_array_get(list, a.i), rev, &a, err, cap);
        if (rv != 0)
            return rv;
    }
    return 0;
}

/* Top-level keys: the kinds' lists, _format_version ("3.0"), and Kong's
 * _transform and _workspace, which carry no state here. */
static int check_top(const json_t *doc, char *err, size_t cap)
{
    static const char *const known[] = {
        "services",   "routes",     "consumers",      "plugins",
        "upstreams",  "targets",    "_transform",     "_workspace",
        "_format_version", "certificates", "snis", "ca_certificates"};
    const json_t *fv = json_object_get(doc, "_format_version");
    const char *key;
    void *it;
    size_t i;

    if (fv != NULL &&
        !(json_is_string(fv) && strcmp(json_string_value(fv), "3.0") == 0))
        return fail(err, cap, "_format_version: must be \"3.0\"");
    for (it = json_object_iter((json_t *)doc); it != NULL;
         it = json_object_iter_next((json_t *)doc, it)) {
        key = json_object_iter_key(it);
        for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            if (strcmp(key, known[i]) == 0)
                break;
        if (i == sizeof(known) / sizeof(known[0]))
            return fail(err, cap, "%.100s: unknown key", key);
    }
    return 0;
}

static int build(json_t *doc, const struct rg_store *old, uint64_t rev,
                 struct rg_store *out, char *err, size_t cap)
{
    json_t *list;
    int k, rv;

    if (!json_is_object(doc))
        return fail(err, cap, "config: not an object");
    rv = check_top(doc, err, cap);
    /* Parents first: their nested children go before the top-level ones
     * of the same kind, as the parser reads them. */
    for (size_t n = 0; rv == 0 && n < sizeof(nests) / sizeof(nests[0]); n++) {
        rv = get_list(doc, rg_kind_name(nests[n].parent), &list, err, cap);
        if (rv == 0)
            rv = add_parents(out, old, &nests[n], list, rev, err, cap);
    }
    for (k = RG_KIND_NONE + 1; rv == 0 && k < RG_KIND_MAX; k++) {
        if (nest_of((enum rg_kind)k) != NULL)
            continue;
        rv = get_list(doc, rg_kind_name(k), &list, err, cap);
        if (rv == 0)
            rv = add_kind(out, old, k, list, rev, err, cap);
    }
    return rv;
}

int rg_fsm__decl_build(json_t *doc, const struct rg_store *old, uint64_t rev,
                       struct rg_store *out, char *err, size_t cap)
{
    int rv;

    memset(out, 0, sizeof(*out));
    rv = rg_fsm__keys_init(out, old->k[RG_KIND_SERVICE].xrefs,
                           old->k[RG_KIND_SERVICE].n_xrefs);
    if (rv == 0)
        rv = build(doc, old, rev, out, err, cap);
    if (rv != 0)
        rg_fsm__store_release(out);
    return rv;
}
