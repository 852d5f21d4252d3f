/* jwt: Kong's JWT authentication. The token comes from a query argument
 * (uri_param_names), a cookie (cookie_names) or an `Authorization:
 * Bearer` header (header_names), in that order, as Kong; its key claim
 * (key_claim_name, in the claims, then the header) names the consumer's
 * jwt credential (O(1)), which pins the algorithm and holds the secret or
 * public key (jwt_token.h checks the rest). Config, as Kong 3's, plus
 * `leeway` (raftgate's: seconds of clock skew allowed on exp and nbf):
 *
 *   uri_param_names: [jwt]   cookie_names: []   header_names: [authorization]
 *   key_claim_name: iss      secret_is_base64: false
 *   claims_to_verify: []     (exp, nbf)
 *   maximum_expiration: 0    seconds (exp - now at most this; needs exp in
 *                            claims_to_verify)
 *   anonymous: null          run_on_preflight: true     realm: null
 *
 * Answers 401 with Kong's bodies: {"message":"Unauthorized"} without a
 * token, "Multiple tokens provided", "Bad token; <why>", "No mandatory
 * '<claim>' in claims", "Invalid '<claim>' in claims", "No credentials
 * found for given '<claim>'", "Invalid algorithm", "Invalid signature";
 * claim failures as {"exp":"token expired"}, {"nbf":"token not valid
 * yet"}, {"exp":"must be a number"}, {"exp":"exceeds maximum allowed
 * expiration"}. An authenticated request carries the consumer headers of
 * plugins/auth.h upstream, and its claims stay for the plugins after jwt
 * (rg_req_claims: a jansson object). A token that passed is remembered
 * by the worker (plugins/jwt_cache.h) and admitted again without a
 * verify until its exp. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config/yamltree.h"
#include "core/alloc.h"
#include "http/filter.h"
#include "http/req.h"
#include "plugins/auth.h"
#include "plugins/conf_read.h"
#include "plugins/jwt_cache.h"
#include "plugins/jwks_watch.h"
#include "plugins/jwt_token.h"

#define JW_NAMES_MAX 8
#define JW_EXP_MAX 31536000 /* seconds: Kong's maximum_expiration bound */
#define JW_LEEWAY_MAX 3600

struct jw_conf {
    struct rg_names params, cookies, headers;
    char *key_claim;
    int secret_b64;
    int verify_exp, verify_nbf;
    uint32_t max_exp;
    uint32_t leeway;
    char *anonymous;
    int on_preflight;
    char *www_auth;          /* WWW-Authenticate, or NULL: none */
};

/* ---- config ---- */

static void jw_conf_free(void *p)
{
    struct jw_conf *c = p;

    if (c == NULL)
        return;
    rg_names_free(&c->params);
    rg_names_free(&c->cookies);
    rg_names_free(&c->headers);
    rg_free(c->key_claim);
    rg_free(c->anonymous);
    rg_free(c->www_auth);
    rg_free(c);
}

static int read_names(struct rg_yt *t, yaml_node_t *v, struct rg_names *l)
{
    return rg_names_read(t, v, l, JW_NAMES_MAX, RG_NAME_ANY, "names");
}

static int k_params(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_names(t, v, &((struct jw_conf *)ctx)->params);
}

static int k_cookies(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_names(t, v, &((struct jw_conf *)ctx)->cookies);
}

static int k_headers(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_names(t, v, &((struct jw_conf *)ctx)->headers);
}

/* A claim name goes into 401 bodies: letters, digits, '_' and '-'. */
static int k_key_claim(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct jw_conf *c = ctx;
    int rv = rg_yt_str(t, v, &c->key_claim);
    size_t len;

    if (rv < 0)
        return rv;
    len = strlen(c->key_claim);
    if (len == 0 || len > 64 ||
        strspn(c->key_claim, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRST"
                             "UVWXYZ0123456789_-") != len)
        return rg_yt_err(t, v, "must be 1 to 64 letters, digits, '_' or "
                               "'-'");
    return 0;
}

static int k_secret_b64(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct jw_conf *)ctx)->secret_b64);
}

static int claim_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    struct jw_conf *c = ctx;
    const char *s;
    size_t len;
    int rv = rg_yt_scalar(t, n, &s, &len);

    if (rv < 0)
        return rv;
    if (strcmp(s, "exp") == 0)
        c->verify_exp = 1;
    else if (strcmp(s, "nbf") == 0)
        c->verify_nbf = 1;
    else
        return rg_yt_err(t, n, "must be \"exp\" or \"nbf\"");
    return 0;
}

static int k_claims(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_seq(t, v, claim_item, ctx);
}

static int k_max_exp(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;
    int rv = rg_yt_int(t, v, 0, JW_EXP_MAX, &x);

    if (rv == 0)
        ((struct jw_conf *)ctx)->max_exp = (uint32_t)x;
    return rv;
}

static int k_leeway(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;
    int rv = rg_yt_int(t, v, 0, JW_LEEWAY_MAX, &x);

    if (rv == 0)
        ((struct jw_conf *)ctx)->leeway = (uint32_t)x;
    return rv;
}

static int k_anonymous(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_str(t, v, &((struct jw_conf *)ctx)->anonymous);
}

static int k_on_preflight(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct jw_conf *)ctx)->on_preflight);
}

static int k_realm(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_realm_read(t, v, "Bearer", &((struct jw_conf *)ctx)->www_auth);
}

/* clang-format off */
static const struct rg_yt_key jw_keys[] = {
    {"uri_param_names", k_params},
    {"cookie_names", k_cookies},
    {"header_names", k_headers},
    {"key_claim_name", k_key_claim},
    {"secret_is_base64", k_secret_b64},
    {"claims_to_verify", k_claims},
    {"maximum_expiration", k_max_exp},
    {"leeway", k_leeway},
    {"anonymous", k_anonymous},
    {"run_on_preflight", k_on_preflight},
    {"realm", k_realm},
    {NULL, NULL},
};
/* clang-format on */

static int jw_conf_parse(struct rg_yt *t, yaml_node_t *config, void **out)
{
    struct jw_conf *c = rg_calloc(1, sizeof(*c));
    int rv = 0;

    *out = NULL;
    if (c == NULL)
        return rg_yt_nomem(t);
    c->on_preflight = 1;
    c->key_claim = rg_strdup("iss");
    if (rg_names_set1(&c->params, "jwt") != 0 ||
        rg_names_set1(&c->headers, "authorization") != 0 ||
        c->key_claim == NULL) {
        jw_conf_free(c);
        return rg_yt_nomem(t);
    }
    if (config != NULL)
        rv = rg_yt_map(t, config, jw_keys, c);
    if (rv == 0 && c->max_exp > 0 && !c->verify_exp)
        rv = rg_yt_err(t, config, "maximum_expiration needs \"exp\" in "
                                  "claims_to_verify");
    if (rv < 0) {
        jw_conf_free(c);
        return rv;
    }
    *out = c;
    return 0;
}

/* ---- finding the token ---- */

/* Tokens seen: one is fine, two different are refused (as Kong). */
struct jw_found {
    const char *tok;
    size_t len;
    int multiple;
};

static void found(struct jw_found *f, const char *p, size_t n)
{
    if (n == 0)
        return;
    if (f->tok != NULL && (f->len != n || memcmp(f->tok, p, n) != 0))
        f->multiple = 1;
    if (f->tok == NULL) {
        f->tok = p;
        f->len = n;
    }
}

/* The cookie @name in Cookie header value @v (@n bytes). */
static const char *cookie_in(const char *v, size_t n, const char *name,
                             size_t *vlen)
{
    size_t nl = strlen(name), i = 0;

    while (i < n) {
        size_t s, e;

        while (i < n && (v[i] == ' ' || v[i] == ';'))
            i++;
        s = i;
        while (i < n && v[i] != ';')
            i++;
        e = i;
        if (e - s > nl && memcmp(v + s, name, nl) == 0 && v[s + nl] == '=') {
            *vlen = e - s - nl - 1;
            return v + s + nl + 1;
        }
    }
    return NULL;
}

/* "Bearer <token>" (any blanks, B or b), as Kong's pattern. */
static const char *bearer(const char *v, size_t n, size_t *tlen)
{
    size_t i = 0;

    while (i < n && (v[i] == ' ' || v[i] == '\t'))
        i++;
    if (n - i < 7 || (v[i] != 'B' && v[i] != 'b') ||
        memcmp(v + i + 1, "earer", 5) != 0 ||
        (v[i + 6] != ' ' && v[i + 6] != '\t'))
        return NULL;
    i += 7;
    while (i < n && (v[i] == ' ' || v[i] == '\t'))
        i++;
    *tlen = n - i;
    return v + i;
}

static void find_token(const struct rg_filter_call *fc, struct jw_found *f)
{
    const struct jw_conf *c = fc->conf;
    size_t qn, n;
    const char *q = rg_req_query(fc->r, &qn), *v;

    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < c->params.n; i++) {
        struct rg_auth_arg a = {0};

        /* Tokens are base64url and dots: values need no decoding. */
        while (rg_auth_query_arg(q, qn, c->params.v[i], &a) == 0)
            found(f, a.val, a.vlen);
    }
    v = c->cookies.n > 0 ? rg_req_header(fc->r, "cookie", &n) : NULL;
    for (size_t i = 0; v != NULL && i < c->cookies.n; i++) {
        size_t tl;
        const char *t = cookie_in(v, n, c->cookies.v[i], &tl);

        if (t != NULL)
            found(f, t, tl);
    }
    for (size_t i = 0; i < c->headers.n; i++) {
        size_t tl;
        const char *t;

        v = rg_req_header(fc->r, c->headers.v[i], &n);
        if (v != NULL && (t = bearer(v, n, &tl)) != NULL)
            found(f, t, tl);
    }
}

/* ---- checking it ---- */

static enum rg_filter_status refuse(const struct rg_filter_call *fc,
                                    const char *body)
{
    const struct jw_conf *c = fc->conf;

    return rg_auth_refuse(fc->r, c->anonymous, body, c->www_auth);
}

static enum rg_filter_status refusef(const struct rg_filter_call *fc,
                                     const char *fmt, const char *a)
{
    char body[256];

    snprintf(body, sizeof(body), fmt, a);
    return refuse(fc, body);
}

/* The key claim: the claims', or the header's when the claims have none
 * (verify checks it is a non-empty string). */
static const json_t *key_claim(const struct rg_jwt *j, const char *name)
{
    const json_t *v = json_object_get(j->claims, name);

    return v != NULL ? v : json_object_get(j->header, name);
}

/* exp and nbf as configured; NULL when they hold, else the 401 body. */
static const char *check_claims(const struct jw_conf *c,
                                const struct rg_jwt *j, double now)
{
    const json_t *exp = json_object_get(j->claims, "exp");
    const json_t *nbf = json_object_get(j->claims, "nbf");

    if (c->verify_exp) {
        if (exp == NULL)
            return "{\"exp\":\"must be a number\"}";
        if (!json_is_number(exp) || !isfinite(json_number_value(exp)))
            return "{\"exp\":\"must be a number\"}";
        if (json_number_value(exp) + c->leeway <= now)
            return "{\"exp\":\"token expired\"}";
        if (c->max_exp > 0 && json_number_value(exp) - now > c->max_exp)
            return "{\"exp\":\"exceeds maximum allowed expiration\"}";
    }
    if (c->verify_nbf) {
        if (nbf == NULL || !json_is_number(nbf) ||
            !isfinite(json_number_value(nbf)))
            return "{\"nbf\":\"must be a number\"}";
        if (json_number_value(nbf) - c->leeway > now)
            return "{\"nbf\":\"token not valid yet\"}";
    }
    return NULL;
}

/* The secret of @cred as HMAC key bytes (decoded when secret_is_base64)
 * in a new *@key the caller frees. 0, -EINVAL (bad base64), -ENOMEM. */
static int hmac_key(const struct jw_conf *c, const struct rg_jwt_secret *cred,
                    unsigned char **key, size_t *len)
{
    if (cred->secret == NULL) {
        *key = NULL;
        *len = 0;
        return 0;
    }
    if (c->secret_b64)
        return rg_b64_decode(cred->secret, strlen(cred->secret), 1, key, len);
    *key = (unsigned char *)rg_strdup(cred->secret);
    *len = strlen(cred->secret);
    return *key != NULL ? 0 : -ENOMEM;
}

/* Whether @j is signed by a key of @cred's JWK set, the one its header's
 * kid names (plugins/jwks.h): NULL, or the 401 body. *@stamp: the epoch
 * of the sets, read before the set is, so a set changed since makes the
 * cache entry stale (a verify again), never wrongly fresh. A kid the set
 * lacks asks for an early fetch (the provider may have rotated). */
static const char *check_jwks(const struct rg_jwt_secret *cred,
                              const struct rg_jwt *j, uint64_t *stamp)
{
    const json_t *kid = json_object_get(j->header, "kid");
    struct rg_jwks *ks;
    void *pkey;
    int ok;

    if (kid != NULL && (!json_is_string(kid) || json_string_length(kid) == 0))
        return "{\"message\":\"Invalid 'kid' in header\"}";
    *stamp = rg_jwks_watch_epoch();
    ks = rg_jwks_watch_get(cred->jwks_uri);
    if (ks == NULL)
        return "{\"message\":\"No keys available for given credential\"}";
    pkey = rg_jwks_find(ks, json_string_value(kid), json_string_length(kid),
                        cred->alg);
    if (pkey == NULL) {
        rg_jwks_unref(ks);
        rg_jwks_watch_poke(cred->jwks_uri);
        return "{\"message\":\"No key found for given 'kid'\"}";
    }
    ok = rg_jwt_verify_pkey(j, cred->alg, pkey);
    rg_jwks_unref(ks);
    return ok ? NULL : "{\"message\":\"Invalid signature\"}";
}

/* Whether @j's signature is right for @cred: NULL, or the 401 body.
 * *@stamp: 0 for the credential's own key, else check_jwks's. */
static const char *check_signature(const struct jw_conf *c,
                                   const struct rg_jwt_secret *cred,
                                   const struct rg_jwt *j, uint64_t *stamp)
{
    unsigned char *key = NULL;
    size_t klen = 0;
    int ok;

    *stamp = 0;
    if (cred->jwks_uri != NULL)
        return check_jwks(cred, j, stamp);
    if (cred->alg <= RG_JWT_HS512 && hmac_key(c, cred, &key, &klen) != 0)
        return "{\"message\":\"Invalid key/secret\"}";
    ok = rg_jwt_verify(j, cred, key, klen);
    rg_free(key);
    return ok ? NULL : "{\"message\":\"Invalid signature\"}";
}

/* The verified claims stay for the plugins after jwt (authorization). */
static void drop_claims(void *claims)
{
    json_decref(claims);
}

/* The request is @cred's consumer's, with @claims (verified). */
static enum rg_filter_status admit(const struct rg_filter_call *fc,
                                   const struct rg_jwt_secret *cred,
                                   json_t *claims)
{
    if (rg_auth_set_consumer(fc->r, cred->cred.consumer, &cred->cred) != 0 ||
        rg_req_set_claims(fc->r, json_incref(claims), drop_claims) != 0) {
        rg_req_fail(fc->r, -ENOMEM);
        return RG_FILTER_ERROR;
    }
    return RG_FILTER_CONTINUE;
}

/* Until when a token that passed may be taken from the cache: while exp
 * (with the leeway, when verified) has not passed; nbf and
 * maximum_expiration, once passed, keep passing. */
static int64_t cache_until(const struct jw_conf *c, const struct rg_jwt *j,
                           int64_t now)
{
    const json_t *exp = json_object_get(j->claims, "exp");
    double until = (double)now + RG_JWT_CACHE_TTL_MAX;

    if (json_is_number(exp) && isfinite(json_number_value(exp))) {
        double e = json_number_value(exp) + (c->verify_exp ? c->leeway : 0);

        if (e < until)
            until = e > (double)now ? floor(e) : (double)now;
    }
    return (int64_t)until; /* within [now, now + RG_JWT_CACHE_TTL_MAX] */
}

/* A token looked up: the cache key and the clock the checks use. */
struct jw_lookup {
    struct rg_jwt_cache_key key;
    int64_t now;
};

static enum rg_filter_status verify(const struct rg_filter_call *fc,
                                    const struct rg_jwt *j,
                                    const struct jw_lookup *k)
{
    const struct jw_conf *c = fc->conf;
    const struct rg_gateway *gw = rg_req_gateway(fc->r);
    const json_t *kc = key_claim(j, c->key_claim);
    const struct rg_jwt_secret *cred;
    const char *why, *kv = json_string_value(kc);
    uint64_t stamp;
    size_t ci;

    if (kc == NULL)
        return refusef(fc, "{\"message\":\"No mandatory '%s' in claims\"}",
                       c->key_claim);
    if (kv == NULL || kv[0] == '\0')
        return refusef(fc, "{\"message\":\"Invalid '%s' in claims\"}",
                       c->key_claim);
    ci = rg_gateway_find_jwt(gw, kv, json_string_length(kc));
    if (ci == RG_NO_INDEX)
        return refusef(fc,
                       "{\"message\":\"No credentials found for given "
                       "'%s'\"}",
                       c->key_claim);
    cred = &gw->jwts[ci];
    if (j->alg != cred->alg)
        return refuse(fc, "{\"message\":\"Invalid algorithm\"}");
    why = check_signature(c, cred, j, &stamp);
    if (why != NULL)
        return refuse(fc, why);
    why = check_claims(c, j, (double)k->now);
    if (why != NULL)
        return refuse(fc, why);
    rg_jwt_cache_put(&k->key, k->now, cache_until(c, j, k->now), stamp, ci,
                     j->claims);
    return admit(fc, cred, j->claims);
}

static enum rg_filter_status jw_access(const struct rg_filter_call *fc)
{
    const struct jw_conf *c = fc->conf;
    struct jw_found f;
    struct jw_lookup k;
    struct rg_jwt_cache_hit hit;
    struct rg_jwt j;
    enum rg_filter_status st;
    const char *why;
    char body[128];
    int rv;

    if ((!c->on_preflight && rg_req_method(fc->r) == RG_M_OPTIONS) ||
        rg_auth_skip(fc->r, c->anonymous))
        return RG_FILTER_CONTINUE;
    find_token(fc, &f);
    if (f.tok == NULL)
        return refuse(fc, "{\"message\":\"Unauthorized\"}");
    if (f.multiple)
        return refuse(fc, "{\"message\":\"Multiple tokens provided\"}");
    k.key = (struct rg_jwt_cache_key){rg_req_gen_id(fc->r), c, f.tok, f.len};
    k.now = (int64_t)time(NULL);
    if (rg_jwt_cache_get(&k.key, k.now, &hit) &&
        (hit.keys_stamp == 0 || hit.keys_stamp == rg_jwks_watch_epoch()))
        return admit(fc, &rg_req_gateway(fc->r)->jwts[hit.cred], hit.claims);
    rv = rg_jwt_parse(f.tok, f.len, &j, &why);
    if (rv == -ENOMEM) {
        rg_req_fail(fc->r, -ENOMEM);
        return RG_FILTER_ERROR;
    }
    if (rv != 0) {
        snprintf(body, sizeof(body), "{\"message\":\"Bad token; %s\"}", why);
        return refuse(fc, body);
    }
    st = verify(fc, &j, &k);
    rg_jwt_release(&j);
    return st;
}

const struct rg_filter_ops rg_plugin_jwt = {
    .schema = {.name = "jwt",
               .conf_parse = jw_conf_parse,
               .conf_free = jw_conf_free,
               .protocols = RG_PROTO_HTTP | RG_PROTO_HTTPS | RG_PROTO_GRPC |
                            RG_PROTO_GRPCS,
               .no_consumer = 1},
    .priority = 1450, /* Kong's */
    .on_access = jw_access,
};
