/* Kong-shaped CRUD on services, routes, consumers, plugins and upstreams:
 *   /{kind}               GET list {"data":[...],"next":null}, POST 201
 *   /{kind}/{id|name}     GET 200, PUT 200/201 (upsert), PATCH 200,
 *                         DELETE 204
 *   /{parent}/{x}/{kind}  nested list and create (routes of a service,
 *                         plugins of a service, route or consumer,
 *                         targets of an upstream)
 *   /upstreams/{u}/targets/{id|host:port}  one target, as /{kind}/{id}
 *   /upstreams/{u}/health this node's health of the targets
 *   /upstreams/{u}/targets/{t}/healthy|unhealthy  POST: set it, this node
 * Targets exist only under their upstream (Kong has no /targets).
 * Names and foreign keys are resolved to ids here, on the leader, before
 * proposing; the state machine's validator has the last word. */
#include "admin/admin_int.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/alloc.h"
#include "core/tls.h"

/* The reference field a child carries to its parent kind. */
static const char *ref_field(enum rg_kind parent)
{
    switch (parent) {
    case RG_KIND_SERVICE: return "service";
    case RG_KIND_ROUTE: return "route";
    case RG_KIND_CONSUMER: return "consumer";
    case RG_KIND_UPSTREAM: return "upstream";
    case RG_KIND_CERTIFICATE: return "certificate";
    default: return NULL;
    }
}

/* The stored object of kind @k named by @key (id or name), or NULL. */
static const json_t *lookup(const struct rg_areq *q, enum rg_kind k,
                            const char *key)
{
    return rg_admin__lookup(rg_admin__fsm(q->a), k, key, NULL);
}

static const char *id_of(const json_t *o)
{
    return json_string_value(json_object_get(o, "id"));
}

/* ---- reads ---- */

struct list {
    json_t *data;
    const char *ref, *ref_id; /* nested filter, or NULL */
};

static void list_cb(void *arg, const char *id, const json_t *body,
                    uint64_t rev)
{
    struct list *l = arg;

    if (l->ref != NULL) {
        const json_t *r = json_object_get(body, l->ref);
        const char *rid = json_string_value(json_object_get(r, "id"));

        if (rid == NULL || strcmp(rid, l->ref_id) != 0)
            return;
    }
    json_array_append_new(l->data, json_deep_copy(body));
}

static void list(struct rg_areq *q, enum rg_kind k, const char *ref,
                 const char *ref_id)
{
    const struct rg_fsm *f = rg_admin__fsm(q->a);
    struct list l = {json_array(), ref, ref_id};

    if (f != NULL)
        rg_fsm_each(f, k, list_cb, &l);
    rg_admin__list_reply(q, l.data);
}

/* ---- writes ---- */

/* Propose PUT of @o (taken) under its id; answer @o with @status. With
 * @rev (the revision an update read; 0 for a create) the PUT is on that
 * revision, and built again when another write came first: no lost
 * update, e.g. of a credential written meanwhile (admin_creds.c). */
static void save(struct rg_areq *q, enum rg_kind k, json_t *o, int status,
                 uint64_t rev)
{
    q->obj = o;
    q->ok_status = status;
    q->on_ok = rg_admin__saved;
    /* Unconditional unless the client sent If-Match: the conditional,
     * retried update (@rev) broke jepsen's linearizable-admin check under
     * pauses (CI 2026-12-07) and is off until that is understood. */
    (void)rev;
    q->on_fail = NULL;
    rg_admin__put(q, k, o, 0);
}

/* A CA certificate still named by a service's ca_certificates is
 * refused with the service's name, as Kong does, rather than with the
 * validator's message about the dangling reference. */
struct naming {
    const char *id;
    const char *service; /* the first service naming it */
};

static void naming_cb(void *arg, const char *id, const json_t *body,
                      uint64_t rev)
{
    struct naming *n = arg;
    const json_t *v;
    size_t i;

    (void)rev;
    json_array_foreach(json_object_get(body, "ca_certificates"), i, v) {
        const char *s = json_string_value(v);

        if (s == NULL)
            s = json_string_value(json_object_get(v, "id"));
        if (n->service == NULL && s != NULL && strcasecmp(s, n->id) == 0) {
            s = json_string_value(json_object_get(body, "name"));
            n->service = s != NULL ? s : id;
        }
    }
}

static int cacert_unnamed(struct rg_areq *q, const json_t *o)
{
    struct naming n = {id_of(o), NULL};

    rg_fsm_each(rg_admin__fsm(q->a), RG_KIND_SERVICE, naming_cb, &n);
    if (n.service == NULL)
        return 1;
    rg_admin__error(q, 400,
                    "an existing 'services' entity references this "
                    "'ca_certificates' entity: service %s",
                    n.service);
    return 0;
}

static void del(struct rg_areq *q, enum rg_kind k, const char *key)
{
    const json_t *o = lookup(q, k, key);

    if (o == NULL && !rg_admin__is_uuid(key)) {
        rg_admin__error(q, 404, "Not found");
        return;
    }
    if (k == RG_KIND_UPSTREAM && o != NULL) {
        rg_admin__upstream_delete(q, o);
        return;
    }
    if (k == RG_KIND_CA_CERTIFICATE && o != NULL && !cacert_unnamed(q, o))
        return;
    q->ok_status = 204;
    q->on_ok = rg_admin__saved;
    rg_admin__delete(q, k, o ? id_of(o) : key);
}

/* Resolve the foreign keys of @o ({"service": {"name": x}} or a bare
 * string) to {"id": ...}. 0, or answers 400 and returns -1. */
static int resolve_refs(struct rg_areq *q, json_t *o)
{
    static const enum rg_kind kinds[] = {RG_KIND_SERVICE, RG_KIND_ROUTE,
                                         RG_KIND_CONSUMER, RG_KIND_UPSTREAM,
                                         RG_KIND_CERTIFICATE};

    for (unsigned i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        const char *field = ref_field(kinds[i]);
        json_t *r = json_object_get(o, field);
        const char *key = json_string_value(r);
        const json_t *target;

        if (r == NULL || json_is_null(r))
            continue;
        if (key == NULL)
            key = json_string_value(json_object_get(r, "id"));
        if (key == NULL)
            key = json_string_value(json_object_get(r, "name"));
        if (key == NULL)
            key = json_string_value(json_object_get(r, "username"));
        target = key ? lookup(q, kinds[i], key) : NULL;
        if (target == NULL) {
            rg_admin__error(q, 400, "the foreign key '%s' does not "
                            "reference an existing '%s' entity", field,
                            rg_kind_name(kinds[i]));
            return -1;
        }
        json_object_set_new(o, field, json_pack("{s:s}", "id",
                                                id_of(target)));
    }
    return 0;
}

/* 400 when @o's name is not a string (Kong: "expected a string"), 409
 * when another object of kind @k already holds it. */
static int unique_ok(struct rg_areq *q, enum rg_kind k, const json_t *o,
                     const char *self_id)
{
    const char *nf = rg_fsm_name_field(k);
    const json_t *nv = nf ? json_object_get(o, nf) : NULL;
    const char *name = json_string_value(nv);
    const json_t *other = name ? lookup(q, k, name) : NULL;

    if (nv != NULL && !json_is_string(nv) && !json_is_null(nv)) {
        rg_admin__error(q, 400, "%s: expected a string", nf);
        return 0;
    }

    if (other != NULL && (self_id == NULL ||
                          strcmp(id_of(other), self_id) != 0)) {
        rg_admin__unique_violation(q, "name");
        return 0;
    }
    return 1;
}

/* A certificate's SNIs are objects of their own here (/snis,
 * /certificates/{c}/snis), so that the store checks their names as it
 * does every other unique field; Kong's `snis` shorthand on a certificate
 * is refused rather than silently dropped. */
static int cert_ok(struct rg_areq *q, enum rg_kind k, const json_t *o)
{
    const json_t *snis = json_object_get(o, "snis");

    if (k != RG_KIND_CERTIFICATE || snis == NULL || json_is_null(snis) ||
        (json_is_array(snis) && json_array_size(snis) == 0))
        return 1;
    rg_admin__error(q, 400, "snis: create them with POST /snis or "
                    "/certificates/{id}/snis");
    return 0;
}

/* Kong answers a CA certificate with its cert_digest and refuses a
 * second one with the same digest (409). */
struct same_digest {
    const char *digest, *self_id;
    int found;
};

static void same_digest_cb(void *arg, const char *id, const json_t *body,
                           uint64_t rev)
{
    struct same_digest *d = arg;
    const char *other = json_string_value(json_object_get(body, "cert_digest"));

    (void)rev;
    if (other != NULL && strcasecmp(other, d->digest) == 0 &&
        (d->self_id == NULL || strcmp(id, d->self_id) != 0))
        d->found = 1;
}

const char *rg_admin__cacert_digest(json_t *o, int *expired)
{
    const char *pem = json_string_value(json_object_get(o, "cert"));
    char digest[RG_TLS_DIGEST_LEN + 1], why[160];
    struct rg_tls_ca *ca;

    json_object_del(o, "cert_digest");
    ca = pem != NULL ? rg_tls_ca_new(pem, strlen(pem), digest, why,
                                     sizeof(why))
                     : NULL;
    if (ca == NULL)
        return NULL;
    *expired = rg_tls_ca_expired(ca);
    rg_tls_ca_free(ca);
    if (json_object_set_new(o, "cert_digest", json_string(digest)) != 0)
        return NULL;
    return json_string_value(json_object_get(o, "cert_digest"));
}

/* Kong refuses an expired CA certificate when it is written; the store's
 * validator cannot look at a clock (its verdict must not change when a
 * log is replayed later), so a stored one that expires stays, and
 * verifying against it fails. */
static int cacert_ok(struct rg_areq *q, enum rg_kind k, json_t *o,
                     const char *self_id)
{
    struct same_digest d = {NULL, self_id, 0};
    int expired = 0;

    if (k != RG_KIND_CA_CERTIFICATE ||
        (d.digest = rg_admin__cacert_digest(o, &expired)) == NULL)
        return 1;
    if (expired) {
        rg_admin__error(q, 400, "cert: expired (its Not After time is in "
                                "the past)");
        return 0;
    }
    rg_fsm_each(rg_admin__fsm(q->a), k, same_digest_cb, &d);
    if (d.found) {
        rg_admin__unique_violation(q, "cert_digest");
        return 0;
    }
    return 1;
}

/* Kong stores a target with its port (8000 when not given) and weight
 * (100), and answers with them. */
static void target_defaults(json_t *o)
{
    const char *t = json_string_value(json_object_get(o, "target"));
    char norm[300];

    if (t != NULL) {
        rg_admin__target_norm(t, norm, sizeof(norm));
        json_object_set_new(o, "target", json_string(norm));
    }
    if (json_object_get(o, "weight") == NULL)
        json_object_set_new(o, "weight", json_integer(100));
}

/* Create @o (taken) of kind @k, with a fresh id unless it carries one. */
static void create(struct rg_areq *q, enum rg_kind k, json_t *o, int status)
{
    json_t *id = json_object_get(o, "id");
    char uuid[37];
    json_int_t now = (json_int_t)time(NULL);

    if (id != NULL && (!json_is_string(id) ||
                       !rg_admin__is_uuid(json_string_value(id)))) {
        json_decref(o);
        rg_admin__error(q, 400, "id: expected a valid UUID");
        return;
    }
    if (id == NULL) {
        rg_admin__uuid(uuid);
        json_object_set_new(o, "id", json_string(uuid));
    } else if (json_object_set_new(
                   o, "id", rg_admin__uuid_lower(json_string_value(id))) != 0) {
        json_decref(o);
        rg_admin__error(q, 500, "out of memory");
        return;
    } else if (rg_fsm_get(rg_admin__fsm(q->a), k,
                          json_string_value(json_object_get(o, "id")), 0,
                          NULL) != NULL) {
        json_decref(o);
        rg_admin__error(q, 409, "UNIQUE violation detected on the id");
        return;
    }
    if (!cert_ok(q, k, o) || resolve_refs(q, o) != 0 ||
        !unique_ok(q, k, o, NULL) || !cacert_ok(q, k, o, NULL)) {
        json_decref(o);
        return;
    }
    if (k == RG_KIND_TARGET)
        target_defaults(o);
    json_object_set_new(o, "created_at", json_integer(now));
    json_object_set_new(o, "updated_at", json_integer(now));
    save(q, k, o, status, 0);
}

static void post(struct rg_areq *q, enum rg_kind k, enum rg_kind parent,
                 const char *parent_key)
{
    json_t *o = rg_admin__body(q);
    const json_t *p;

    if (o == NULL)
        return;
    if (parent != RG_KIND_NONE) {
        p = lookup(q, parent, parent_key);
        if (p == NULL) {
            json_decref(o);
            rg_admin__error(q, 404, "Not found");
            return;
        }
        json_object_set_new(o, ref_field(parent),
                            json_pack("{s:s}", "id", id_of(p)));
    }
    create(q, k, o, 201);
}

/* PUT: replace the object named by @key, or create it (201). */
static void put(struct rg_areq *q, enum rg_kind k, const char *key)
{
    uint64_t rev = 0;
    const json_t *old = rg_admin__lookup(rg_admin__fsm(q->a), k, key, &rev);
    const char *nf = rg_fsm_name_field(k);
    json_t *o = rg_admin__body(q);

    if (o == NULL)
        return;
    if (!rg_admin__is_uuid(key) && nf == NULL) {
        /* a kind without names has only ids to upsert by */
        json_decref(o);
        rg_admin__error(q, 400, "id: expected a valid UUID");
        return;
    }
    if (!rg_admin__is_uuid(key) && json_object_get(o, nf) == NULL)
        json_object_set_new(o, nf, json_string(key));
    if (old == NULL) {
        if (rg_admin__is_uuid(key))
            json_object_set_new(o, "id", rg_admin__uuid_lower(key));
        else
            json_object_del(o, "id");
        create(q, k, o, 201);
        return;
    }
    json_object_set_new(o, "id", json_string(id_of(old)));
    json_object_set(o, "created_at", json_object_get(old, "created_at"));
    json_object_set_new(o, "updated_at", json_integer(time(NULL)));
    if (k == RG_KIND_CONSUMER)
        rg_admin__creds_keep(o, old);
    if (!cert_ok(q, k, o) || resolve_refs(q, o) != 0 ||
        !unique_ok(q, k, o, id_of(old)) || !cacert_ok(q, k, o, id_of(old))) {
        json_decref(o);
        return;
    }
    if (k == RG_KIND_TARGET)
        target_defaults(o); /* one spelling per target: the store's
                               uniqueness check compares the text */
    save(q, k, o, 200, rev);
}

static void patch(struct rg_areq *q, enum rg_kind k, const char *key)
{
    uint64_t rev = 0;
    const json_t *old = rg_admin__lookup(rg_admin__fsm(q->a), k, key, &rev);
    json_t *o, *p;
    const char *nid;

    if (old == NULL) {
        rg_admin__error(q, 404, "Not found");
        return;
    }
    if ((p = rg_admin__body(q)) == NULL)
        return;
    nid = json_string_value(json_object_get(p, "id"));
    if (nid != NULL && strcmp(nid, id_of(old)) != 0) {
        json_decref(p);
        rg_admin__error(q, 400, "id: cannot be changed");
        return;
    }
    o = json_deep_copy(old);
    json_object_update(o, p);
    json_decref(p);
    json_object_set_new(o, "updated_at", json_integer(time(NULL)));
    if (!cert_ok(q, k, o) || resolve_refs(q, o) != 0 ||
        !unique_ok(q, k, o, id_of(old)) || !cacert_ok(q, k, o, id_of(old))) {
        json_decref(o);
        return;
    }
    if (k == RG_KIND_TARGET)
        target_defaults(o); /* one spelling per target: the store's
                               uniqueness check compares the text */
    save(q, k, o, 200, rev);
}

/* ---- dispatch ---- */

static void one(struct rg_areq *q, enum rg_kind k, const char *key)
{
    const json_t *o;

    if (strcmp(q->method, "GET") == 0) {
        o = lookup(q, k, key);
        if (o == NULL)
            rg_admin__error(q, 404, "Not found");
        else
            rg_admin__reply(q, 200, json_deep_copy(o),
                            rg_admin__revision(q->a), NULL);
    } else if (strcmp(q->method, "PUT") == 0)
        put(q, k, key);
    else if (strcmp(q->method, "PATCH") == 0)
        patch(q, k, key);
    else if (strcmp(q->method, "DELETE") == 0)
        del(q, k, key);
    else
        rg_admin__error(q, 405, "Method not allowed");
}

static void collection(struct rg_areq *q, enum rg_kind k, enum rg_kind parent,
                       const char *parent_key)
{
    const json_t *p = NULL;

    if (strcmp(q->method, "POST") == 0) {
        post(q, k, parent, parent_key);
        return;
    }
    if (strcmp(q->method, "GET") != 0) {
        rg_admin__error(q, 405, "Method not allowed");
        return;
    }
    if (parent == RG_KIND_NONE) {
        list(q, k, NULL, NULL);
        return;
    }
    p = lookup(q, parent, parent_key);
    if (p == NULL)
        rg_admin__error(q, 404, "Not found");
    else
        list(q, k, ref_field(parent), id_of(p));
}

/* Split "/a/b/c/d/e" into at most five segments (no empty ones). */
static int split(const char *path, char seg[5][RG_CODEC_MAX_KEY + 1])
{
    int n = 0;

    while (*path == '/') {
        const char *s = path + 1, *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);

        if (n == 5 || len == 0 || len > RG_CODEC_MAX_KEY)
            return -1;
        memcpy(seg[n], s, len);
        seg[n++][len] = '\0';
        path = s + len;
    }
    return n;
}

/* Which kinds nest under which: routes under services, plugins under
 * services, routes and consumers, targets under upstreams. */
static int nests(enum rg_kind parent, enum rg_kind child)
{
    switch (child) {
    case RG_KIND_ROUTE: return parent == RG_KIND_SERVICE;
    case RG_KIND_PLUGIN:
        return parent == RG_KIND_SERVICE || parent == RG_KIND_ROUTE ||
               parent == RG_KIND_CONSUMER;
    case RG_KIND_TARGET: return parent == RG_KIND_UPSTREAM;
    case RG_KIND_SNI: return parent == RG_KIND_CERTIFICATE;
    default: return 0;
    }
}

/* /upstreams/{u}/targets/{t}[/healthy|/unhealthy]: the target within
 * its upstream. */
static void one_target(struct rg_areq *q, const char *ukey, const char *tkey,
                       const char *action)
{
    const json_t *up = lookup(q, RG_KIND_UPSTREAM, ukey);
    const json_t *t = up ? rg_admin__target_of(q, up, tkey) : NULL;

    if (t == NULL) {
        rg_admin__error(q, 404, "Not found");
        return;
    }
    if (action == NULL)
        one(q, RG_KIND_TARGET, id_of(t));
    else
        rg_admin__target_set_health(q, up, t,
                                    strcmp(action, "unhealthy") == 0);
}

int rg_admin__objects(struct rg_areq *q)
{
    char seg[5][RG_CODEC_MAX_KEY + 1];
    int n = split(q->path, seg);
    enum rg_kind k = n > 0 ? rg_kind_from_name(seg[0], strlen(seg[0]))
                           : RG_KIND_NONE;
    enum rg_kind child = n > 2 ? rg_kind_from_name(seg[2], strlen(seg[2]))
                               : RG_KIND_NONE;
    const json_t *up;

    if (k == RG_KIND_NONE || k == RG_KIND_TARGET)
        return 0;
    if (n == 1)
        collection(q, k, RG_KIND_NONE, NULL);
    else if (n == 2)
        one(q, k, seg[1]);
    else if (n == 3 && k == RG_KIND_UPSTREAM && strcmp(seg[2], "health") == 0) {
        up = lookup(q, k, seg[1]);
        if (up == NULL)
            rg_admin__error(q, 404, "Not found");
        else
            rg_admin__upstream_health(q, up);
    } else if (n == 3 && nests(k, child))
        collection(q, child, k, seg[1]);
    else if (n == 4 && k == RG_KIND_UPSTREAM && child == RG_KIND_TARGET)
        one_target(q, seg[1], seg[3], NULL);
    else if (n == 5 && k == RG_KIND_UPSTREAM && child == RG_KIND_TARGET &&
             (strcmp(seg[4], "healthy") == 0 ||
              strcmp(seg[4], "unhealthy") == 0))
        one_target(q, seg[1], seg[3], seg[4]);
    else
        return 0;
    return 1;
}
