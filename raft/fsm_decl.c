/* REPLACE_ALL documents: a Kong 3.0 declarative config (JSON) turned into
 * a store. Services may nest routes (flattened into top-level routes with
 * "service": {"id": ...}); every object must carry its id, since apply
 * cannot generate one deterministically (the admin layer fills them in
 * before proposing). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "raft/fsm_int.h"

/* Where an object comes from, for messages: "routes[3]" or
 * "services[1].routes[0]". */
struct at {
    const char *list;
    size_t i;
    long parent; /* index in services for nested routes, else -1 */
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
    if (a->parent >= 0)
        snprintf(buf, cap, "services[%ld].routes[%zu]", a->parent, a->i);
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
    char where[64];

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

static int add_nested_routes(struct rg_store *out, const struct rg_store *old,
                             json_t *routes, const json_t *sid, uint64_t rev,
                             long parent, char *err, size_t cap)
{
    struct at a = {"routes", 0, parent};
    json_t *rt, *ref;
    int rv;

    for (a.i = 0; a.i < json_array_size(routes); a.i++) {
        rt = json_array_get(routes, a.i);
        if (json_is_object(rt)) {
            ref = json_pack("{ss%}", "id", json_string_value(sid),
                            json_string_length(sid));
            if (ref == NULL || json_object_set_new(rt, "service", ref) != 0)
                return -ENOMEM;
        }
        rv = add_obj(out, old, RG_KIND_ROUTE, rt, rev, &a, err, cap);
        if (rv != 0)
            return rv;
    }
    return 0;
}

/* Services, each taken without its nested routes, which follow it. */
static int add_services(struct rg_store *out, const struct rg_store *old,
                        json_t *list, uint64_t rev, char *err, size_t cap)
{
    struct at a = {"services", 0, -1};
    json_t *sv, *routes;
    int rv;

    for (a.i = 0; a.i < json_array_size(list); a.i++) {
        sv = json_array_get(list, a.i);
        routes = json_incref(json_object_get(sv, "routes"));
        if (routes != NULL && !json_is_null(routes) && !json_is_array(routes)) {
            json_decref(routes);
            return fail(err, cap, "services[%zu].routes: not a list", a.i);
        }
        if (routes != NULL)
            json_object_del(sv, "routes");
        rv = add_obj(out, old, RG_KIND_SERVICE, sv, rev, &a, err, cap);
        if (rv == 0 && json_is_array(routes))
            rv = add_nested_routes(out, old, routes, json_object_get(sv, "id"),
                                   rev, (long)a.i, err, cap);
        json_decref(routes);
        if (rv != 0)
            return rv;
    }
    return 0;
}

static int add_kind(struct rg_store *out, const struct rg_store *old,
                    enum rg_kind k, json_t *list, uint64_t rev, char *err,
                    size_t cap)
{
    struct at a = {rg_kind_name(k), 0, -1};
    int rv;

    for (a.i = 0; a.i < json_array_size(list); a.i++) {
        rv = add_obj(out, old, k, json_array_get(list, a.i), rev, &a, err, cap);
        if (rv != 0)
            return rv;
    }
    return 0;
}

/* Top-level keys: the four lists, _format_version ("3.0"), and Kong's
 * _transform and _workspace, which carry no state here. */
static int check_top(const json_t *doc, char *err, size_t cap)
{
    static const char *const known[] = {
        "services",   "routes",     "consumers",      "plugins",
        "_transform", "_workspace", "_format_version"};
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
    if (rv == 0)
        rv = get_list(doc, "services", &list, err, cap);
    if (rv == 0)
        rv = add_services(out, old, list, rev, err, cap);
    for (k = RG_KIND_ROUTE; rv == 0 && k < RG_KIND_MAX; k++) {
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
