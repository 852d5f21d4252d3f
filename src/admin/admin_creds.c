/* Kong 3's credential endpoints: key-auth, jwt and acls of consumers.
 *   /consumers/{c}/{key-auth|jwt|acls}       GET list, POST 201
 *   /consumers/{c}/{type}/{id|name}          GET, PUT (upsert), PATCH,
 *                                            DELETE 204
 *   /{key-auths|jwts|acls}                   GET every consumer's
 *   /{key-auths|jwts}/{id|key}, /acls/{id}   GET, PATCH, DELETE 204
 * where a credential's name is its key (key-auth, jwt) or its group (acls,
 * within its consumer only). Answers carry "consumer": {"id": ...} and,
 * as Kong's do, the key and the secret. This file finds, reads and
 * routes; admin_creds_write.c writes. */
#include "admin/admin_creds.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const keyauth_shown[] = {"ttl", "tags", NULL};
static const char *const jwt_shown[] = {"secret", "rsa_public_key", "tags",
                                        NULL};
static const char *const acl_shown[] = {"tags", NULL};

/* clang-format off */
static const struct rg_cred_type types[] = {
    {"key-auth", "key-auths", "keyauth_credentials", "key", 1, keyauth_shown,
     "key", NULL, NULL},
    {"jwt", "jwts", "jwt_secrets", "key", 1, jwt_shown,
     "key", "HS256", "secret"},        /* Kong's jwt defaults */
    {"acls", "acls", "acls", "group", 0, acl_shown,
     NULL, NULL, NULL},                /* the group is required */
};
/* clang-format on */

const char *rg_admin__cred_id(const json_t *o)
{
    return json_string_value(json_object_get(o, "id"));
}

const json_t *rg_admin__cred_at(const struct rg_cred_place *p)
{
    return json_array_get(json_object_get(p->consumer, p->ty->list), p->index);
}

void rg_admin__creds_keep(json_t *o, const json_t *old)
{
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        json_t *l = json_object_get(old, types[i].list);

        if (json_object_get(o, types[i].list) == NULL && l != NULL)
            json_object_set(o, types[i].list, l);
    }
}

/* ---- finding credentials ---- */

static int id_is(const json_t *cr, const char *key)
{
    const char *id = rg_admin__cred_id(cr);

    return id != NULL && rg_admin__is_uuid(key) && strcasecmp(id, key) == 0;
}

/* The index of the credential of @c named @key (its id, or with @by_alt
 * its name), or RG_CRED_NONE. */
static size_t find_in(const json_t *c, const struct rg_cred_type *ty,
                      const char *key, int by_alt)
{
    const json_t *cr;
    size_t i;

    json_array_foreach(json_object_get(c, ty->list), i, cr) {
        const char *alt = json_string_value(json_object_get(cr, ty->alt));

        if (id_is(cr, key) || (by_alt && alt && strcmp(alt, key) == 0))
            return i;
    }
    return RG_CRED_NONE;
}

struct walk {
    const struct rg_cred_type *ty;
    rg_cred_walk_fn fn;
    void *arg;
    int stopped;
};

static void walk_cb(void *arg, const char *id, const json_t *body, uint64_t rev)
{
    struct walk *w = arg;
    struct rg_cred_place p = {w->ty, body, rev, 0};
    const json_t *cr;

    (void)id;
    json_array_foreach(json_object_get(body, w->ty->list), p.index, cr) {
        if (w->stopped || (w->stopped = w->fn(w->arg, &p, cr)))
            return;
    }
}

void rg_admin__cred_walk(const struct rg_areq *q, const struct rg_cred_type *ty,
                         rg_cred_walk_fn fn, void *arg)
{
    const struct rg_fsm *f = rg_admin__fsm(q->a);
    struct walk w = {ty, fn, arg, 0};

    if (f != NULL)
        rg_fsm_each(f, RG_KIND_CONSUMER, walk_cb, &w);
}

struct seek {
    const char *key;
    int by_alt;
    struct rg_cred_place found;
};

static int seek_cb(void *arg, const struct rg_cred_place *p, const json_t *cr)
{
    struct seek *s = arg;
    const char *alt = json_string_value(json_object_get(cr, p->ty->alt));

    if (!id_is(cr, s->key) &&
        !(s->by_alt && alt != NULL && strcmp(alt, s->key) == 0))
        return 0;
    s->found = *p;
    return 1;
}

/* The place of the credential of type @ty that @key names in the whole
 * store: 0, or -1 when there is none. */
static int find_top(const struct rg_areq *q, const struct rg_cred_type *ty,
                    const char *key, struct rg_cred_place *p)
{
    struct seek s = {key, ty->alt_global, {NULL, NULL, 0, RG_CRED_NONE}};

    rg_admin__cred_walk(q, ty, seek_cb, &s);
    *p = s.found;
    return p->consumer != NULL ? 0 : -1;
}

/* ---- answers ---- */

json_t *rg_admin__cred_view(const struct rg_cred_type *ty, const json_t *cr,
                            const json_t *consumer)
{
    json_t *v = json_deep_copy(cr);

    if (v == NULL)
        return NULL;
    json_object_set_new(v, "consumer",
                        json_pack("{s:s}", "id", rg_admin__cred_id(consumer)));
    for (const char *const *f = ty->shown; *f != NULL; f++)
        if (json_object_get(v, *f) == NULL)
            json_object_set_new(v, *f, json_null());
    return v;
}

static int list_cb(void *arg, const struct rg_cred_place *p, const json_t *cr)
{
    json_array_append_new(arg, rg_admin__cred_view(p->ty, cr, p->consumer));
    return 0;
}

static void list_all(struct rg_areq *q, const struct rg_cred_type *ty)
{
    json_t *data = json_array();

    rg_admin__cred_walk(q, ty, list_cb, data);
    rg_admin__list_reply(q, data);
}

static void list_of(struct rg_areq *q, const struct rg_cred_place *p)
{
    json_t *data = json_array();
    const json_t *cr;
    size_t i;

    json_array_foreach(json_object_get(p->consumer, p->ty->list), i, cr)
        json_array_append_new(data,
                              rg_admin__cred_view(p->ty, cr, p->consumer));
    rg_admin__list_reply(q, data);
}

static void get_one(struct rg_areq *q, const struct rg_cred_place *p)
{
    rg_admin__reply(
        q, 200, rg_admin__cred_view(p->ty, rg_admin__cred_at(p), p->consumer),
        rg_admin__revision(q->a), NULL);
}

void rg_admin__cred_invalid(struct rg_areq *q, const char *field,
                            const char *msg)
{
    char m[512];

    snprintf(m, sizeof(m), "schema violation (%s: %s)", field, msg);
    rg_admin__reply(q, 400,
                    json_pack("{s:s,s:s,s:i,s:{s:s}}", "message", m, "name",
                              "schema violation", "code", 2, "fields", field,
                              msg),
                    rg_admin__revision(q->a), NULL);
}

/* ---- dispatch ---- */

static int is(const struct rg_areq *q, const char *m)
{
    return strcmp(q->method, m) == 0;
}

/* One credential at @p (p->index RG_CRED_NONE: not found): GET, PATCH,
 * DELETE, and with @key (the name in the path) PUT. */
static void one(struct rg_areq *q, const struct rg_cred_place *p,
                const char *key)
{
    if (is(q, "PUT") && key != NULL)
        rg_admin__cred_put(q, p, key);
    else if (!is(q, "GET") && !is(q, "PATCH") && !is(q, "DELETE"))
        rg_admin__error(q, 405, "Method not allowed");
    else if (p->index == RG_CRED_NONE)
        rg_admin__error(q, 404, "Not found");
    else if (is(q, "GET"))
        get_one(q, p);
    else if (is(q, "PATCH"))
        rg_admin__cred_patch(q, p);
    else
        rg_admin__cred_delete(q, p);
}

static void nested(struct rg_areq *q, const struct rg_cred_type *ty,
                   const char *ckey, const char *key)
{
    struct rg_cred_place p = {ty, NULL, 0, RG_CRED_NONE};

    p.consumer =
        rg_admin__lookup(rg_admin__fsm(q->a), RG_KIND_CONSUMER, ckey, &p.rev);
    if (p.consumer == NULL)
        rg_admin__error(q, 404, "Not found");
    else if (key != NULL) {
        p.index = find_in(p.consumer, ty, key, 1);
        one(q, &p, key);
    } else if (is(q, "GET"))
        list_of(q, &p);
    else if (is(q, "POST"))
        rg_admin__cred_post(q, &p);
    else
        rg_admin__error(q, 405, "Method not allowed");
}

static void top(struct rg_areq *q, const struct rg_cred_type *ty,
                const char *key)
{
    struct rg_cred_place p;

    if (key == NULL && is(q, "GET"))
        list_all(q, ty);
    else if (key == NULL || is(q, "PUT") || is(q, "POST"))
        rg_admin__error(q, 405,
                        "Method not allowed (writes go to "
                        "/consumers/{consumer}/%s)",
                        ty->sub);
    else if (find_top(q, ty, key, &p) != 0)
        rg_admin__error(q, 404, "Not found");
    else
        one(q, &p, NULL);
}

/* Percent-decode @n bytes of @s into @out (@cap bytes); -1 when it does
 * not fit or holds a NUL. */
static int hex(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

static int decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (c == '%' && i + 2 < n && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
            c = (char)(hex(s[i + 1]) * 16 + hex(s[i + 2]));
            i += 2;
        }
        if (c == '\0' || o + 1 >= cap)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

/* Split "/a/b/c/d" into at most four decoded segments (none empty):
 * their number, or -1. */
static int split(const char *path, char seg[4][RG_CODEC_MAX_KEY + 1])
{
    int n = 0;

    while (*path == '/') {
        const char *s = path + 1, *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);

        if (n == 4 || len == 0 ||
            decode(s, len, seg[n++], RG_CODEC_MAX_KEY + 1) != 0)
            return -1;
        path = s + len;
    }
    return n;
}

static const struct rg_cred_type *type_of(const char *name, int at_top)
{
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(name, at_top ? types[i].top : types[i].sub) == 0)
            return &types[i];
    return NULL;
}

int rg_admin__creds(struct rg_areq *q)
{
    char seg[4][RG_CODEC_MAX_KEY + 1];
    int n = split(q->path, seg);
    const struct rg_cred_type *ty;

    if (n >= 3 && strcmp(seg[0], "consumers") == 0 &&
        (ty = type_of(seg[2], 0)) != NULL)
        nested(q, ty, seg[1], n == 4 ? seg[3] : NULL);
    else if (n >= 1 && n <= 2 && (ty = type_of(seg[0], 1)) != NULL)
        top(q, ty, n == 2 ? seg[1] : NULL);
    else
        return 0;
    return 1;
}
