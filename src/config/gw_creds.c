/* Kong credentials in the declarative file, nested under a consumer
 * (consumers[].<list>) or at the top level with a `consumer` reference:
 *   keyauth_credentials[].{id, key, ttl, tags, created_at}
 *   jwt_secrets[].{id, key, algorithm, secret, rsa_public_key, tags,
 *                  created_at} and raftgate's jwks_uri,
 *                  jwks_refresh_interval (a JWK set instead of one key)
 *   acls[].{id, group, tags, created_at}
 * and the key indexes the authentication plugins look keys up in. One
 * reader for what every credential has (struct rg_cred); each type adds
 * its own keys and checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "config/gw_int.h"
#include "core/alloc.h"

#define TTL_MAX 100000000 /* seconds, Kong's bound */
#define PEM_MAX 16384     /* bytes of an rsa_public_key */
#define URI_MAX 2048      /* bytes of a jwks_uri */
#define JWKS_REFRESH_DEFAULT 300
#define JWKS_REFRESH_MAX 86400

/* A credential type: where its items go and how they read. */
struct gw_cred_type {
    enum gw_x x_id, x_key, x_consumer; /* x_key GW_X_MAX: keys repeat */
    const struct rg_yt_key *keys;
    size_t (*count)(const struct rg_gateway *gw);  /* items so far */
    struct rg_cred *(*grow)(struct gw_ctx *c);     /* a new zeroed item */
    int (*finish)(struct rg_yt *t, yaml_node_t *n, struct gw_ctx *c);
};

/* ---- what every credential has ---- */

static int cr_id(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;

    return rg_gw__unique(t, v, GW_ID, c, c->cred_type->x_id,
                         c->cred_type->count(c->gw) - 1, &c->cred->id);
}

static int cr_key(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;

    return rg_gw__unique(t, v, GW_TEXT, c, c->cred_type->x_key,
                         c->cred_type->count(c->gw) - 1, &c->cred->key);
}

static int cr_created_at(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;
    int rv = rg_yt_int(t, v, 0, INT64_MAX / 2, &x);

    if (rv == 0)
        ((struct gw_ctx *)ctx)->cred->created_at = x;
    return rv;
}

static int cr_consumer(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;

    if (c->consumer != RG_NO_INDEX)
        return rg_yt_err(t, v, "is given by the nesting (only a top-level "
                               "credential names its consumer)");
    return rg_gw__ref(t, v, c, c->cred_type->x_consumer,
                      &c->cred->consumer);
}

#define CRED_KEYS                                                              \
    {"id", cr_id}, {"key", cr_key}, {"consumer", cr_consumer},                 \
        {"tags", rg_gw__key_tags}, {"created_at", cr_created_at}

/* One credential of type @ty; c->consumer is its consumer when nested,
 * RG_NO_INDEX at the top level. */
static int cred_item(struct rg_yt *t, yaml_node_t *n,
                     const struct gw_cred_type *ty, struct gw_ctx *c)
{
    struct rg_cred *cr = ty->grow(c);
    int rv;

    if (cr == NULL)
        return rg_yt_nomem(t);
    cr->consumer = c->consumer;
    c->cred = cr;
    c->cred_type = ty;
    rv = rg_yt_map(t, n, ty->keys, c);
    if (rv < 0)
        return rv;
    if (cr->consumer == RG_NO_INDEX)
        return rg_yt_err(t, n, "needs a consumer");
    return ty->finish(t, n, c);
}

/* The credential's key (@what names it in the message) is there and not
 * empty. */
static int need_key(struct rg_yt *t, yaml_node_t *n, const struct rg_cred *cr,
                    const char *what, const char *why)
{
    if (cr->key == NULL)
        return rg_yt_err(t, n, "needs a %s%s", what, why);
    if (cr->key[0] == '\0')
        return rg_yt_err(t, n, "%s: must not be empty", what);
    return 0;
}

/* ---- keyauth_credentials ---- */

static struct rg_keyauth *cur_ka(struct gw_ctx *c)
{
    return (struct rg_keyauth *)c->cred;
}

static int ka_ttl(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;
    int rv = rg_yt_int(t, v, 0, TTL_MAX, &x);

    if (rv == 0)
        cur_ka(ctx)->ttl = (uint32_t)x;
    return rv;
}

/* clang-format off */
static const struct rg_yt_key keyauth_keys[] = {
    CRED_KEYS,
    {"ttl", ka_ttl},
    {NULL, NULL},
};
/* clang-format on */

static size_t ka_count(const struct rg_gateway *gw)
{
    return gw->n_keyauths;
}

static struct rg_cred *ka_grow(struct gw_ctx *c)
{
    struct rg_gateway *gw = c->gw;
    struct rg_keyauth *k;

    if (rg_gw__grow((void **)&gw->keyauths, &c->keyauth_cap, gw->n_keyauths,
                    sizeof(*gw->keyauths)) < 0)
        return NULL;
    k = &gw->keyauths[gw->n_keyauths++];
    memset(k, 0, sizeof(*k));
    return &k->cred;
}

static int ka_finish(struct rg_yt *t, yaml_node_t *n, struct gw_ctx *c)
{
    const struct rg_keyauth *k = cur_ka(c);
    int rv = need_key(t, n, &k->cred, "key", "");

    if (rv < 0)
        return rv;
    if (k->ttl > 0 && k->cred.created_at == 0)
        return rg_yt_err(t, n, "ttl needs created_at (seconds since the "
                               "epoch: when the credential was made)");
    return 0;
}

static const struct gw_cred_type keyauth_type = {
    GW_X_KEYAUTH_ID, GW_X_KEYAUTH_KEY, GW_X_KEYAUTH_CONSUMER, keyauth_keys,
    ka_count, ka_grow, ka_finish,
};

/* ---- jwt_secrets ---- */

static const char *const alg_names[RG_JWT_ALG_MAX] = {
    [RG_JWT_HS256] = "HS256", [RG_JWT_HS384] = "HS384",
    [RG_JWT_HS512] = "HS512", [RG_JWT_RS256] = "RS256",
    [RG_JWT_RS384] = "RS384", [RG_JWT_RS512] = "RS512",
    [RG_JWT_ES256] = "ES256", [RG_JWT_ES384] = "ES384",
};

const char *rg_jwt_alg_name(enum rg_jwt_alg alg)
{
    return alg < RG_JWT_ALG_MAX ? alg_names[alg] : "?";
}

static int alg_is_hmac(enum rg_jwt_alg a)
{
    return a <= RG_JWT_HS512;
}

static struct rg_jwt_secret *cur_jwt(struct gw_ctx *c)
{
    return (struct rg_jwt_secret *)c->cred;
}

static int jw_algorithm(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    const char *s;
    size_t len;
    int rv = rg_yt_scalar(t, v, &s, &len);

    if (rv < 0)
        return rv;
    for (int a = 0; a < RG_JWT_ALG_MAX; a++) {
        if (strcmp(s, alg_names[a]) == 0) { /* exact: no "hs256", "none" */
            cur_jwt(ctx)->alg = (enum rg_jwt_alg)a;
            return 0;
        }
    }
    return rg_yt_err(t, v, "must be one of HS256, HS384, HS512, RS256, "
                           "RS384, RS512, ES256, ES384");
}

static int jw_secret(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_str(t, v, &cur_jwt(ctx)->secret);
}

static int jw_public_key(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_str(t, v, &cur_jwt(ctx)->rsa_public_key);
}

/* An absolute http, https or file URL without blanks or controls. */
static int jw_jwks_uri(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    static const char *const schemes[] = {"http://", "https://", "file:///"};
    struct rg_jwt_secret *j = cur_jwt(ctx);
    const char *s;
    size_t len, i;
    int rv = rg_yt_scalar(t, v, &s, &len);

    if (rv < 0)
        return rv;
    for (i = 0; i < 3 && strncasecmp(s, schemes[i], strlen(schemes[i])) != 0;
         i++)
        ;
    if (i == 3 || len == strlen(schemes[i]))
        return rg_yt_err(t, v, "must be an http://, https:// or file:/// "
                               "URL");
    if (len > URI_MAX)
        return rg_yt_err(t, v, "longer than %d bytes", URI_MAX);
    for (i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
            return rg_yt_err(t, v, "must not hold blanks or controls");
    return rg_yt_str(t, v, &j->jwks_uri);
}

static int jw_jwks_refresh(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;
    int rv = rg_yt_int(t, v, 1, JWKS_REFRESH_MAX, &x);

    if (rv == 0)
        cur_jwt(ctx)->jwks_refresh = (uint32_t)x;
    return rv;
}

/* clang-format off */
static const struct rg_yt_key jwt_keys[] = {
    CRED_KEYS,
    {"algorithm", jw_algorithm},
    {"secret", jw_secret},
    {"rsa_public_key", jw_public_key},
    {"jwks_uri", jw_jwks_uri},
    {"jwks_refresh_interval", jw_jwks_refresh},
    {NULL, NULL},
};
/* clang-format on */

static size_t jw_count(const struct rg_gateway *gw)
{
    return gw->n_jwts;
}

static struct rg_cred *jw_grow(struct gw_ctx *c)
{
    struct rg_gateway *gw = c->gw;
    struct rg_jwt_secret *j;

    if (rg_gw__grow((void **)&gw->jwts, &c->jwt_cap, gw->n_jwts,
                    sizeof(*gw->jwts)) < 0)
        return NULL;
    j = &gw->jwts[gw->n_jwts++];
    memset(j, 0, sizeof(*j));
    j->alg = RG_JWT_HS256; /* Kong's default */
    j->jwks_refresh = JWKS_REFRESH_DEFAULT;
    return &j->cred;
}

/* Parse the PEM public key of @j: an RSA key for RS*, an EC key on the
 * curve ES* names (P-256, P-384). Deterministic: no file, no clock. */
static int parse_public_key(struct rg_yt *t, yaml_node_t *n,
                            struct rg_jwt_secret *j)
{
    size_t len = strlen(j->rsa_public_key);
    BIO *bio;
    EVP_PKEY *k;
    int ok;

    if (len > PEM_MAX)
        return rg_yt_err(t, n, "rsa_public_key: longer than %d bytes",
                         PEM_MAX);
    bio = BIO_new_mem_buf(j->rsa_public_key, (int)len);
    if (bio == NULL)
        return rg_yt_nomem(t);
    k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (k == NULL)
        return rg_yt_err(t, n, "rsa_public_key: not a PEM public key");
    if (j->alg <= RG_JWT_RS512) {
        ok = EVP_PKEY_is_a(k, "RSA") && EVP_PKEY_get_bits(k) >= 2048;
    } else {
        /* The curve by name: secp256k1 has 256 bits too (RFC 7518 §3.4). */
        char curve[64];
        size_t clen = 0;

        ok = EVP_PKEY_is_a(k, "EC") &&
             EVP_PKEY_get_group_name(k, curve, sizeof(curve), &clen) == 1 &&
             strcmp(curve, j->alg == RG_JWT_ES256 ? "prime256v1"
                                                  : "secp384r1") == 0;
    }
    if (!ok) {
        EVP_PKEY_free(k);
        return rg_yt_err(t, n, "rsa_public_key: not %s for %s",
                         j->alg <= RG_JWT_RS512 ? "an RSA key of 2048 bits "
                                                  "or more"
                         : j->alg == RG_JWT_ES256 ? "a P-256 EC key"
                                                  : "a P-384 EC key",
                         alg_names[j->alg]);
    }
    j->pkey = k;
    return 0;
}

static int jw_finish(struct rg_yt *t, yaml_node_t *n, struct gw_ctx *c)
{
    struct rg_jwt_secret *j = cur_jwt(c);
    int rv = need_key(t, n, &j->cred, "key",
                      " (what the token's key claim names)");

    if (rv < 0)
        return rv;
    if (alg_is_hmac(j->alg)) {
        if (j->jwks_uri != NULL)
            return rg_yt_err(t, n, "jwks_uri: needs an RS* or ES* algorithm "
                                   "(algorithm is %s)",
                             alg_names[j->alg]);
        if (j->secret == NULL || j->secret[0] == '\0')
            return rg_yt_err(t, n, "needs a secret for %s",
                             alg_names[j->alg]);
        if (j->rsa_public_key != NULL || j->jwks_uri != NULL)
            return rg_yt_err(t, n, "%s: not for %s",
                             j->jwks_uri != NULL ? "jwks_uri"
                                                 : "rsa_public_key",
                             alg_names[j->alg]);
        return 0;
    }
    if (j->rsa_public_key != NULL && j->jwks_uri != NULL)
        return rg_yt_err(t, n, "rsa_public_key and jwks_uri: give one, not "
                               "both");
    if (j->rsa_public_key == NULL && j->jwks_uri == NULL)
        return rg_yt_err(t, n, "needs an rsa_public_key or a jwks_uri for %s",
                         alg_names[j->alg]);
    return j->jwks_uri != NULL ? 0 : parse_public_key(t, n, j);
}

static const struct gw_cred_type jwt_type = {
    GW_X_JWT_ID, GW_X_JWT_KEY, GW_X_JWT_CONSUMER, jwt_keys, jw_count,
    jw_grow, jw_finish,
};

/* ---- acls ---- */

static int acl_group(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_str(t, v, &((struct gw_ctx *)ctx)->cred->key);
}

/* clang-format off */
static const struct rg_yt_key acl_keys[] = {
    {"id", cr_id},
    {"group", acl_group},
    {"consumer", cr_consumer},
    {"tags", rg_gw__key_tags},
    {"created_at", cr_created_at},
    {NULL, NULL},
};
/* clang-format on */

static size_t acl_count(const struct rg_gateway *gw)
{
    return gw->n_acls;
}

static struct rg_cred *acl_grow(struct gw_ctx *c)
{
    struct rg_gateway *gw = c->gw;
    struct rg_acl *a;

    if (rg_gw__grow((void **)&gw->acls, &c->acl_cap, gw->n_acls,
                    sizeof(*gw->acls)) < 0)
        return NULL;
    a = &gw->acls[gw->n_acls++];
    memset(a, 0, sizeof(*a));
    return &a->cred;
}

/* A consumer names a group once (Kong's acls cache key). */
static int acl_finish(struct rg_yt *t, yaml_node_t *n, struct gw_ctx *c)
{
    const struct rg_cred *cr = c->cred;
    size_t klen = strlen(cr->key ? cr->key : "") + 24;
    char *key;
    int rv = need_key(t, n, cr, "group", "");

    if (rv < 0)
        return rv;
    key = rg_malloc(klen);
    if (key == NULL)
        return rg_yt_nomem(t);
    snprintf(key, klen, "%zx/%s", cr->consumer, cr->key);
    rv = rg_gw__group_key(c, GW_X_ACL_GROUP, key, strlen(key),
                          c->gw->n_acls - 1);
    rg_free(key);
    if (rv < 0)
        return rg_yt_nomem(t);
    if (rv == 1)
        return rg_yt_err(t, n, "the consumer is already in group \"%s\"",
                         cr->key);
    return 0;
}

static const struct gw_cred_type acl_type = {
    GW_X_ACL_ID, GW_X_MAX, GW_X_ACL_CONSUMER, acl_keys, acl_count, acl_grow,
    acl_finish,
};

/* ---- the lists ---- */

static int keyauth_nested(struct rg_yt *t, yaml_node_t *n, size_t i,
                          void *ctx)
{
    return cred_item(t, n, &keyauth_type, ctx);
}

static int jwt_nested(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    return cred_item(t, n, &jwt_type, ctx);
}

static int acl_nested(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    return cred_item(t, n, &acl_type, ctx);
}

int rg_gw__consumer_acls(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_seq(t, v, acl_nested, ctx);
}

int rg_gw__acl_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    ((struct gw_ctx *)ctx)->consumer = RG_NO_INDEX;
    return cred_item(t, n, &acl_type, ctx);
}

int rg_gw__consumer_keyauths(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_seq(t, v, keyauth_nested, ctx);
}

int rg_gw__consumer_jwts(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_seq(t, v, jwt_nested, ctx);
}

int rg_gw__keyauth_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    ((struct gw_ctx *)ctx)->consumer = RG_NO_INDEX;
    return cred_item(t, n, &keyauth_type, ctx);
}

int rg_gw__jwt_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    ((struct gw_ctx *)ctx)->consumer = RG_NO_INDEX;
    return cred_item(t, n, &jwt_type, ctx);
}

/* Index the keys of @n credentials @stride bytes apart from @first. Keys
 * are unique (the x_key rules): put only fails on memory. */
static int index_keys(struct rg_strmap *m, const char *first, size_t n,
                      size_t stride)
{
    rg_strmap_init(m, 0);
    for (size_t i = 0; i < n; i++) {
        const struct rg_cred *cr =
            (const struct rg_cred *)(const void *)(first + i * stride);

        if (rg_strmap_put(m, cr->key, strlen(cr->key), i) < 0)
            return -1;
    }
    return 0;
}

static int acl_cmp(const void *a, const void *b)
{
    const struct rg_cred *x = a, *y = b;

    if (x->consumer != y->consumer)
        return x->consumer < y->consumer ? -1 : 1;
    return strcmp(x->key, y->key);
}

/* Sort the ACLs by consumer and mark where each consumer's begin. */
static int index_acls(struct rg_gateway *gw)
{
    size_t c = 0;

    gw->acl_first = rg_calloc(gw->n_consumers + 1, sizeof(*gw->acl_first));
    if (gw->acl_first == NULL)
        return -1;
    if (gw->n_acls > 0)
        qsort(gw->acls, gw->n_acls, sizeof(*gw->acls), acl_cmp);
    for (size_t i = 0; i < gw->n_acls; i++)
        while (c < gw->acls[i].cred.consumer)
            gw->acl_first[++c] = i;
    while (c < gw->n_consumers)
        gw->acl_first[++c] = gw->n_acls;
    return 0;
}

int rg_gw__cred_index(struct rg_gateway *gw)
{
    if (index_keys(&gw->keyauth_index, (const char *)gw->keyauths,
                   gw->n_keyauths, sizeof(*gw->keyauths)) != 0 ||
        index_keys(&gw->jwt_index, (const char *)gw->jwts, gw->n_jwts,
                   sizeof(*gw->jwts)) != 0)
        return -1;
    return index_acls(gw);
}

int rg_gateway_in_group(const struct rg_gateway *gw, size_t ci,
                        const char *group, size_t len)
{
    if (ci >= gw->n_consumers || gw->acl_first == NULL)
        return 0;
    for (size_t i = gw->acl_first[ci]; i < gw->acl_first[ci + 1]; i++) {
        const char *k = gw->acls[i].cred.key;

        if (strlen(k) == len && memcmp(k, group, len) == 0)
            return 1;
    }
    return 0;
}

static size_t find(const struct rg_strmap *m, const char *key, size_t len)
{
    size_t i = rg_strmap_get(m, key, len);

    return i == SIZE_MAX ? RG_NO_INDEX : i;
}

size_t rg_gateway_find_keyauth(const struct rg_gateway *gw, const char *key,
                               size_t len)
{
    return find(&gw->keyauth_index, key, len);
}

size_t rg_gateway_find_jwt(const struct rg_gateway *gw, const char *key,
                           size_t len)
{
    return find(&gw->jwt_index, key, len);
}

static void cred_release(struct rg_cred *cr)
{
    rg_free(cr->id);
    rg_free(cr->key);
}

void rg_gw__creds_release(struct rg_gateway *gw)
{
    for (size_t i = 0; i < gw->n_keyauths; i++)
        cred_release(&gw->keyauths[i].cred);
    rg_free(gw->keyauths);
    rg_strmap_release(&gw->keyauth_index);
    for (size_t i = 0; i < gw->n_jwts; i++) {
        struct rg_jwt_secret *j = &gw->jwts[i];

        cred_release(&j->cred);
        rg_free(j->secret);
        rg_free(j->rsa_public_key);
        rg_free(j->jwks_uri);
        EVP_PKEY_free(j->pkey);
    }
    rg_free(gw->jwts);
    rg_strmap_release(&gw->jwt_index);
    for (size_t i = 0; i < gw->n_acls; i++)
        cred_release(&gw->acls[i].cred);
    rg_free(gw->acls);
    rg_free(gw->acl_first);
}
