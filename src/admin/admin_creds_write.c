/* Writes of Kong's credentials (admin_creds.c routes them here). The
 * store keeps credentials inside their consumer (keyauth_credentials,
 * jwt_secrets, acls: docs/architecture.md §3), so a write is a
 * read-modify-write of the consumer, proposed as a PUT conditional on the
 * consumer's revision; a write that lost a race with another change of
 * the same consumer is built again from the new consumer and proposed
 * again (unless the client gave If-Match: then it is the consumer's
 * revision, and a mismatch is 412). The leader checks JSON types and
 * uniqueness (409) and generates what Kong generates; the state
 * machine's validator has the last word, its messages about the written
 * credential told relative to it. */
#include "admin/admin_creds.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define GEN_BYTES 24 /* random bytes of a generated key or secret */
#define GEN_LEN 32   /* their base64url characters */

/* ---- generated values ---- */

/* A random base64url token of GEN_BYTES bytes as a new JSON string, or
 * NULL after answering 500. */
static json_t *token(struct rg_areq *q)
{
    unsigned char raw[GEN_BYTES], out[GEN_LEN + 1];

    if (RAND_bytes(raw, sizeof(raw)) != 1 ||
        EVP_EncodeBlock(out, raw, sizeof(raw)) != GEN_LEN) {
        rg_admin__error(q, 500, "no random bytes");
        return NULL;
    }
    for (size_t i = 0; i < GEN_LEN; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    return json_string((const char *)out);
}

/* Set @field of @cr to a fresh token when it is not set. */
static int gen_missing(struct rg_areq *q, json_t *cr, const char *field)
{
    json_t *t;

    if (json_object_get(cr, field) != NULL)
        return 0;
    if ((t = token(q)) == NULL)
        return -1;
    json_object_set_new(cr, field, t);
    return 0;
}

/* Kong's generated values and defaults on create (and on a PUT, which
 * replaces the whole credential): @cr's type's generated field, its
 * default algorithm, and its secret for an HMAC algorithm (RS and ES
 * need the rsa_public_key the validator asks for). 0, or -1 after
 * answering. */
static int fill(struct rg_areq *q, const struct rg_cred_type *ty, json_t *cr)
{
    const char *alg;

    if (ty->alg != NULL && json_object_get(cr, "algorithm") == NULL)
        json_object_set_new(cr, "algorithm", json_string(ty->alg));
    if (ty->gen != NULL && gen_missing(q, cr, ty->gen) != 0)
        return -1;
    alg = json_string_value(json_object_get(cr, "algorithm"));
    if (ty->hmac_secret != NULL && alg != NULL && strncmp(alg, "HS", 2) == 0)
        return gen_missing(q, cr, ty->hmac_secret);
    return 0;
}

/* ---- the body ---- */

/* The JSON types of the fields the validator reads as text (it sees YAML
 * scalars: 5 would pass for the key "5"). */
static const struct {
    const char *name;
    json_type type;
} typed[] = {
    {"id", JSON_STRING},        {"key", JSON_STRING},
    {"group", JSON_STRING},     {"secret", JSON_STRING},
    {"algorithm", JSON_STRING}, {"rsa_public_key", JSON_STRING},
    {"jwks_uri", JSON_STRING},  {"jwks_refresh_interval", JSON_INTEGER},
    {"ttl", JSON_INTEGER},      {"created_at", JSON_INTEGER},
    {"tags", JSON_ARRAY},
};

static const char *type_name(json_type t)
{
    return t == JSON_STRING    ? "a string"
           : t == JSON_INTEGER ? "an integer"
                               : "an array of strings";
}

/* 0 when the fields of @b have their types (null: unset); else -1 after
 * answering 400. */
static int check_types(struct rg_areq *q, const json_t *b)
{
    for (size_t i = 0; i < sizeof(typed) / sizeof(typed[0]); i++) {
        const json_t *v = json_object_get(b, typed[i].name), *e;
        int ok =
            v == NULL || json_is_null(v) || json_typeof(v) == typed[i].type;
        size_t j;

        json_array_foreach(json_is_array(v) ? v : NULL, j, e) {
            ok = ok && json_is_string(e);
        }
        if (!ok) {
            char msg[64];

            snprintf(msg, sizeof(msg), "expected %s", type_name(typed[i].type));
            rg_admin__cred_invalid(q, typed[i].name, msg);
            return -1;
        }
    }
    return 0;
}

/* A body may name its consumer, as Kong's may: only the path's. Drops the
 * field (the store nests it); 0, or -1 after answering 400. */
static int own_consumer(struct rg_areq *q, json_t *b, const json_t *c)
{
    const json_t *r = json_object_get(b, "consumer");
    const char *k = json_string_value(r), *name;

    if (r == NULL || json_is_null(r)) {
        json_object_del(b, "consumer");
        return 0;
    }
    if (k == NULL)
        k = rg_admin__cred_id(r);
    if (k == NULL)
        k = json_string_value(json_object_get(r, "username"));
    name = json_string_value(json_object_get(c, "username"));
    if (k == NULL || (strcasecmp(k, rg_admin__cred_id(c)) != 0 &&
                      (name == NULL || strcmp(k, name) != 0))) {
        rg_admin__cred_invalid(q, "consumer",
                               "must be the consumer of the path");
        return -1;
    }
    json_object_del(b, "consumer");
    return 0;
}

/* The request body, checked: NULL after answering. */
static json_t *body(struct rg_areq *q, const struct rg_cred_place *p)
{
    json_t *b = rg_admin__body(q);

    if (b != NULL &&
        (check_types(q, b) != 0 || own_consumer(q, b, p->consumer) != 0)) {
        json_decref(b);
        return NULL;
    }
    return b;
}

/* Drop the null members of @cr: a null unsets, as in Kong. */
static void drop_nulls(json_t *cr)
{
    const char *k;
    json_t *v;
    void *tmp;

    json_object_foreach_safe(cr, tmp, k, v) {
        if (json_is_null(v))
            json_object_del(cr, k);
    }
}

struct clash {
    const char *field, *value, *self;
    int hit;
};

static int clash_cb(void *arg, const struct rg_cred_place *p, const json_t *cr)
{
    struct clash *c = arg;
    const char *v = json_string_value(json_object_get(cr, c->field));

    (void)p;
    if (v == NULL || strcmp(v, c->value) != 0 ||
        (c->self != NULL && strcmp(rg_admin__cred_id(cr), c->self) == 0))
        return 0;
    c->hit = 1;
    return 1;
}

/* Whether a credential other than @self (an id, or NULL) holds @field
 * @value: in the store when @global, else in @p's consumer. */
static int taken(const struct rg_areq *q, const struct rg_cred_place *p,
                 const char *field, const char *value, const char *self,
                 int global)
{
    struct clash c = {field, value, self, 0};
    const json_t *l = json_object_get(p->consumer, p->ty->list), *cr;
    size_t i;

    if (value == NULL)
        return 0;
    if (global) {
        rg_admin__cred_walk(q, p->ty, clash_cb, &c);
        return c.hit;
    }
    json_array_foreach(l, i, cr) {
        if (clash_cb(&c, p, cr))
            return 1;
    }
    return 0;
}

/* 409 when @cr's id or name is another credential's; 1 when unique. */
static int unique_ok(struct rg_areq *q, const struct rg_cred_place *p,
                     const json_t *cr, const char *self)
{
    const char *alt = json_string_value(json_object_get(cr, p->ty->alt));

    if (self == NULL && taken(q, p, "id", rg_admin__cred_id(cr), NULL, 1)) {
        rg_admin__unique_violation(q, "id");
        return 0;
    }
    if (taken(q, p, p->ty->alt, alt, self, p->ty->alt_global)) {
        rg_admin__unique_violation(q, p->ty->alt);
        return 0;
    }
    return 1;
}

/* The position of @p's consumer among the consumers of the store (id
 * order, as the export and so the validator's messages have them). */
struct pos {
    const char *id;
    size_t n;
    int found;
};

static void pos_cb(void *arg, const char *id, const json_t *body, uint64_t rev)
{
    struct pos *ps = arg;

    (void)body;
    (void)rev;
    if (!ps->found && !(ps->found = strcmp(id, ps->id) == 0))
        ps->n++;
}

static size_t consumer_pos(const struct rg_areq *q, const json_t *c)
{
    struct pos ps = {rg_admin__cred_id(c), 0, 0};

    rg_fsm_each(rg_admin__fsm(q->a), RG_KIND_CONSUMER, pos_cb, &ps);
    return ps.n;
}

static void answered(struct rg_areq *q, const struct rg_fsm_result *res,
                     unsigned n)
{
    json_t *v = json_incref(json_object_get(q->obj, "view"));

    (void)n;
    rg_admin__reply(q, q->ok_status, q->ok_status == 204 ? NULL : v,
                    res[0].revision, NULL);
    if (q->ok_status == 204)
        json_decref(v);
}

/* The validator's message @m about the credential at @at (the store's
 * path of it), told relative to it as Kong tells a field: answered (400)
 * and 1, or 0 when it is about something else. */
static int tell_relative(struct rg_areq *q, const char *at, const char *m)
{
    size_t n = at ? strlen(at) : 0;
    const char *sep;
    char field[128];

    if (n == 0 || strncmp(m, at, n) != 0)
        return 0;
    m += n;
    if (m[0] == '.' && (sep = strstr(m, ": ")) != NULL) {
        snprintf(field, sizeof(field), "%.*s", (int)(sep - m - 1), m + 1);
        rg_admin__cred_invalid(q, field, sep + 2);
        return 1;
    }
    if (m[0] != ':' || m[1] != ' ')
        return 0;
    m += 2;
    /* "key: must not be empty" said of the whole: that field. */
    sep = strstr(m, ": ");
    if (sep != NULL && sep > m &&
        strspn(m, "abcdefghijklmnopqrstuvwxyz_") == (size_t)(sep - m)) {
        snprintf(field, sizeof(field), "%.*s", (int)(sep - m), m);
        rg_admin__cred_invalid(q, field, sep + 2);
        return 1;
    }
    /* "needs a group", "needs an rsa_public_key for RS256": that field
     * is missing; anything else is about the whole. */
    if (sscanf(m, "needs an %127[a-z_]", field) != 1 &&
        sscanf(m, "needs a %127[a-z_]", field) != 1)
        snprintf(field, sizeof(field), "@entity");
    rg_admin__cred_invalid(q, field, m);
    return 1;
}

/* A refused proposal: the consumer changed meanwhile (build the write
 * again), or the validator's message is about the credential. */
static int refused(struct rg_areq *q, const struct rg_fsm_result *r)
{
    if (rg_admin__retry_conflict(q, r))
        return 1;
    return r->status == RG_FSM_INVALID &&
           tell_relative(q, json_string_value(json_object_get(q->obj, "at")),
                         r->message);
}

/* Propose @p's consumer with its credential at p->index replaced by @cr
 * (taken; NULL removes it; p->index RG_CRED_NONE appends), answering @status
 * with the credential once committed. */
static void commit(struct rg_areq *q, const struct rg_cred_place *p, json_t *cr,
                   int status)
{
    json_t *c = json_deep_copy(p->consumer);
    json_t *l = json_object_get(c, p->ty->list);
    json_t *v = cr ? rg_admin__cred_view(p->ty, cr, p->consumer) : NULL;
    size_t at = p->index;
    char where[160];

    if (c == NULL || (cr != NULL && v == NULL)) {
        json_decref(c);
        json_decref(cr);
        json_decref(v);
        rg_admin__error(q, 500, "out of memory");
        return;
    }
    if (!json_is_array(l)) {
        l = json_array();
        json_object_set_new(c, p->ty->list, l);
    }
    if (cr == NULL) {
        json_array_remove(l, at);
    } else if (at == RG_CRED_NONE) {
        at = json_array_size(l);
        json_array_append_new(l, cr);
    } else {
        json_array_set_new(l, at, cr);
    }
    if (json_array_size(l) == 0)
        json_object_del(c, p->ty->list);
    snprintf(where, sizeof(where), "consumers[%zu].%s[%zu]",
             consumer_pos(q, p->consumer), p->ty->list, at);
    json_decref(q->obj);
    q->obj = json_pack("{s:o?,s:s}", "view", v, "at", where);
    q->ok_status = status;
    q->on_ok = answered;
    q->on_fail = refused;
    rg_admin__put(q, RG_KIND_CONSUMER, c, q->has_if_match ? 0 : p->rev);
    json_decref(c);
}

/* Create @cr (taken) in @p's consumer with a fresh id unless it names
 * one, Kong's generated values, and created_at now. */
static void create(struct rg_areq *q, const struct rg_cred_place *p, json_t *cr,
                   int status)
{
    const char *id = rg_admin__cred_id(cr);
    char uuid[37];

    if (id != NULL && !rg_admin__is_uuid(id)) {
        json_decref(cr);
        rg_admin__cred_invalid(q, "id", "expected a valid UUID");
        return;
    }
    if (id != NULL)
        json_object_set_new(cr, "id", rg_admin__uuid_lower(id));
    else {
        rg_admin__uuid(uuid);
        json_object_set_new(cr, "id", json_string(uuid));
    }
    drop_nulls(cr);
    if (json_object_get(cr, "created_at") == NULL)
        json_object_set_new(cr, "created_at", json_integer(time(NULL)));
    if (fill(q, p->ty, cr) != 0 || !unique_ok(q, p, cr, NULL)) {
        json_decref(cr);
        return;
    }
    commit(q, p, cr, status);
}

void rg_admin__cred_post(struct rg_areq *q, const struct rg_cred_place *p)
{
    json_t *b = body(q, p);

    if (b != NULL)
        create(q, p, b, 201);
}

void rg_admin__cred_put(struct rg_areq *q, const struct rg_cred_place *p,
                        const char *key)
{
    json_t *b = body(q, p);
    const json_t *old = p->index != RG_CRED_NONE ? rg_admin__cred_at(p) : NULL;

    if (b == NULL)
        return;
    if (!rg_admin__is_uuid(key) && json_object_get(b, p->ty->alt) == NULL)
        json_object_set_new(b, p->ty->alt, json_string(key));
    if (old == NULL) {
        json_object_del(b, "id");
        if (rg_admin__is_uuid(key))
            json_object_set_new(b, "id", json_string(key));
        create(q, p, b, 201);
        return;
    }
    json_object_set_new(b, "id", json_string(rg_admin__cred_id(old)));
    if (json_object_get(b, "created_at") == NULL)
        json_object_set(b, "created_at", json_object_get(old, "created_at"));
    drop_nulls(b);
    if (fill(q, p->ty, b) != 0 || !unique_ok(q, p, b, rg_admin__cred_id(old))) {
        json_decref(b);
        return;
    }
    commit(q, p, b, 200);
}

void rg_admin__cred_patch(struct rg_areq *q, const struct rg_cred_place *p)
{
    const json_t *old = rg_admin__cred_at(p);
    json_t *b = body(q, p), *cr;
    const char *nid;

    if (b == NULL)
        return;
    nid = rg_admin__cred_id(b);
    if (nid != NULL && strcasecmp(nid, rg_admin__cred_id(old)) != 0) {
        json_decref(b);
        rg_admin__cred_invalid(q, "id", "cannot be changed");
        return;
    }
    cr = json_deep_copy(old);
    if (cr == NULL) {
        json_decref(b);
        rg_admin__error(q, 500, "out of memory");
        return;
    }
    json_object_update(cr, b);
    json_decref(b);
    json_object_set_new(cr, "id", json_string(rg_admin__cred_id(old)));
    drop_nulls(cr);
    if (!unique_ok(q, p, cr, rg_admin__cred_id(old))) {
        json_decref(cr);
        return;
    }
    commit(q, p, cr, 200);
}

void rg_admin__cred_delete(struct rg_areq *q, const struct rg_cred_place *p)
{
    commit(q, p, NULL, 204);
}
