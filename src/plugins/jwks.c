/* JWK sets: each usable key turned into an OpenSSL public key with
 * EVP_PKEY_fromdata (OpenSSL 3), from the base64url big-endian integers
 * of RFC 7518 §6.2-6.3. */
#include "plugins/jwks.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "core/alloc.h"
#include "plugins/jwt_token.h"

#define KID_MAX 256

enum jk_type { JK_RSA, JK_P256, JK_P384 };

struct jk {
    char *kid;              /* NULL: the key has none */
    size_t kid_len;
    enum jk_type type;
    int alg;                /* the JWK's "alg", or -1 */
    EVP_PKEY *pkey;
};

struct rg_jwks {
    atomic_uint refs;
    size_t n;
    struct jk k[];
};

static void jk_free(struct jk *k)
{
    rg_free(k->kid);
    EVP_PKEY_free(k->pkey);
}

/* A base64url member of @o as a big number; NULL when absent or bad. */
static BIGNUM *b64_bn(const json_t *o, const char *name, size_t *nbytes)
{
    const json_t *v = json_object_get(o, name);
    unsigned char *raw;
    size_t len;
    BIGNUM *bn;

    if (!json_is_string(v) ||
        rg_b64_decode(json_string_value(v), json_string_length(v), 0, &raw,
                      &len) != 0)
        return NULL;
    bn = len > 0 ? BN_bin2bn(raw, (int)len, NULL) : NULL;
    if (nbytes != NULL)
        *nbytes = len;
    rg_free(raw);
    return bn;
}

/* A public key from @params of key type @name ("RSA" or "EC"). */
static EVP_PKEY *from_params(const char *name, OSSL_PARAM_BLD *b)
{
    OSSL_PARAM *p = OSSL_PARAM_BLD_to_param(b);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, name, NULL);
    EVP_PKEY *k = NULL;

    if (p == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, p) != 1)
        k = NULL;
    OSSL_PARAM_free(p);
    EVP_PKEY_CTX_free(ctx);
    return k;
}

static EVP_PKEY *rsa_key(const json_t *o)
{
    BIGNUM *n = b64_bn(o, "n", NULL), *e = b64_bn(o, "e", NULL);
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    EVP_PKEY *k = NULL;

    if (n != NULL && e != NULL && b != NULL && BN_num_bits(n) >= 2048 &&
        OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, n) == 1 &&
        OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, e) == 1)
        k = from_params("RSA", b);
    BN_free(n);
    BN_free(e);
    OSSL_PARAM_BLD_free(b);
    return k;
}

/* An EC point is 0x04 || x || y, each coordinate @half bytes. */
static EVP_PKEY *ec_key(const json_t *o, const char *group, size_t half)
{
    const json_t *x = json_object_get(o, "x"), *y = json_object_get(o, "y");
    unsigned char *xb = NULL, *yb = NULL, pt[1 + 2 * 48];
    size_t xl = 0, yl = 0;
    OSSL_PARAM_BLD *b = NULL;
    EVP_PKEY_CTX *chk = NULL;
    EVP_PKEY *k = NULL;

    if (!json_is_string(x) || !json_is_string(y) ||
        rg_b64_decode(json_string_value(x), json_string_length(x), 0, &xb,
                      &xl) != 0 ||
        rg_b64_decode(json_string_value(y), json_string_length(y), 0, &yb,
                      &yl) != 0 ||
        xl != half || yl != half)
        goto done;
    pt[0] = 0x04;
    memcpy(pt + 1, xb, half);
    memcpy(pt + 1 + half, yb, half);
    b = OSSL_PARAM_BLD_new();
    if (b == NULL ||
        OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                        0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pt,
                                         1 + 2 * half) != 1)
        goto done;
    k = from_params("EC", b);
    /* On the curve, not the identity: what a PEM key's decoding checks. */
    chk = k != NULL ? EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL) : NULL;
    if (k != NULL && (chk == NULL || EVP_PKEY_public_check(chk) != 1)) {
        EVP_PKEY_free(k);
        k = NULL;
    }
done:
    EVP_PKEY_CTX_free(chk);
    OSSL_PARAM_BLD_free(b);
    rg_free(xb);
    rg_free(yb);
    return k;
}

static int alg_of(const json_t *v)
{
    for (int a = 0; a < RG_JWT_ALG_MAX; a++)
        if (strcmp(json_string_value(v), rg_jwt_alg_name(a)) == 0)
            return a;
    return -2; /* an algorithm raftgate does not verify with */
}

/* Fill @k from JWK @o: 1 usable, 0 skipped, -EINVAL (bad kid), -ENOMEM. */
static int read_key(const json_t *o, struct jk *k)
{
    const char *kty = json_string_value(json_object_get(o, "kty"));
    const char *use = json_string_value(json_object_get(o, "use"));
    const char *crv = json_string_value(json_object_get(o, "crv"));
    const json_t *kid = json_object_get(o, "kid");
    const json_t *alg = json_object_get(o, "alg");

    memset(k, 0, sizeof(*k));
    if (!json_is_object(o) || kty == NULL || (use != NULL &&
                                              strcmp(use, "sig") != 0))
        return 0;
    k->alg = json_is_string(alg) ? alg_of(alg) : -1;
    if (k->alg == -2)
        return 0;
    if (strcmp(kty, "RSA") == 0) {
        k->type = JK_RSA;
        k->pkey = rsa_key(o);
    } else if (strcmp(kty, "EC") == 0 && crv != NULL &&
               (strcmp(crv, "P-256") == 0 || strcmp(crv, "P-384") == 0)) {
        int p256 = strcmp(crv, "P-256") == 0;

        k->type = p256 ? JK_P256 : JK_P384;
        k->pkey = ec_key(o, p256 ? "P-256" : "P-384", p256 ? 32 : 48);
    } else {
        return 0;
    }
    if (k->pkey == NULL)
        return 0;
    if (kid != NULL) {
        if (!json_is_string(kid) || json_string_length(kid) == 0 ||
            json_string_length(kid) > KID_MAX) {
            jk_free(k);
            return -EINVAL;
        }
        k->kid_len = json_string_length(kid);
        k->kid = rg_strndup(json_string_value(kid), k->kid_len);
        if (k->kid == NULL) {
            jk_free(k);
            return -ENOMEM;
        }
    }
    return 1;
}

int rg_jwks_parse(const char *json, size_t len, struct rg_jwks **out,
                  const char **why)
{
    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
    const json_t *keys = json_object_get(doc, "keys");
    struct rg_jwks *ks;
    size_t n;
    int rv = -EINVAL;

    *out = NULL;
    *why = "not a JWK set (an object with a \"keys\" array)";
    if (!json_is_array(keys))
        goto done;
    n = json_array_size(keys);
    *why = "more than 64 keys";
    if (n > RG_JWKS_KEYS_MAX)
        goto done;
    ks = rg_calloc(1, sizeof(*ks) + n * sizeof(ks->k[0]));
    rv = -ENOMEM;
    if (ks == NULL)
        goto done;
    atomic_init(&ks->refs, 1);
    for (size_t i = 0; i < n; i++) {
        int r = read_key(json_array_get(keys, i), &ks->k[ks->n]);

        if (r < 0) {
            rv = r;
            *why = "a kid that is not a string of 1 to 256 bytes";
            rg_jwks_unref(ks);
            goto done;
        }
        ks->n += (size_t)r;
    }
    *why = "no RSA (2048 bits or more), P-256 or P-384 signing key";
    rv = -EINVAL;
    if (ks->n == 0) {
        rg_jwks_unref(ks);
        goto done;
    }
    *out = ks;
    rv = 0;
done:
    json_decref(doc);
    return rv;
}

struct rg_jwks *rg_jwks_ref(struct rg_jwks *ks)
{
    atomic_fetch_add_explicit(&ks->refs, 1, memory_order_relaxed);
    return ks;
}

void rg_jwks_unref(struct rg_jwks *ks)
{
    if (ks == NULL ||
        atomic_fetch_sub_explicit(&ks->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < ks->n; i++)
        jk_free(&ks->k[i]);
    rg_free(ks);
}

size_t rg_jwks_count(const struct rg_jwks *ks)
{
    return ks->n;
}

static int fits(const struct jk *k, enum rg_jwt_alg alg)
{
    if (k->alg >= 0 && k->alg != (int)alg)
        return 0;
    switch (alg) {
    case RG_JWT_RS256:
    case RG_JWT_RS384:
    case RG_JWT_RS512: return k->type == JK_RSA;
    case RG_JWT_ES256: return k->type == JK_P256;
    case RG_JWT_ES384: return k->type == JK_P384;
    default: return 0;
    }
}

void *rg_jwks_find(const struct rg_jwks *ks, const char *kid, size_t kid_len,
                   enum rg_jwt_alg alg)
{
    const struct jk *only = NULL;

    for (size_t i = 0; i < ks->n; i++) {
        const struct jk *k = &ks->k[i];

        if (!fits(k, alg))
            continue;
        if (kid != NULL) {
            if (k->kid != NULL && k->kid_len == kid_len &&
                memcmp(k->kid, kid, kid_len) == 0)
                return k->pkey;
            continue;
        }
        if (only != NULL)
            return NULL; /* no kid and more than one key: none is chosen */
        only = k;
    }
    return only != NULL ? only->pkey : NULL;
}
