/* JWT parsing and signature checks with OpenSSL (see jwt_token.h). */
#include "plugins/jwt_token.h"

#include <errno.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/alloc.h"

static int b64_value(int ch, int std)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == (std ? '+' : '-'))
        return 62;
    if (ch == (std ? '/' : '_'))
        return 63;
    return -1;
}

int rg_b64_decode(const char *p, size_t n, int std, unsigned char **out,
                  size_t *out_len)
{
    unsigned char *o;
    size_t k = 0;
    uint32_t acc = 0;
    unsigned bits = 0;

    *out = NULL;
    *out_len = 0;
    if (std)
        while (n > 0 && p[n - 1] == '=')
            n--;
    if (n % 4 == 1)
        return -EINVAL; /* no whole byte in the last group */
    o = rg_malloc(n / 4 * 3 + 3);
    if (o == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value((unsigned char)p[i], std);

        if (v < 0) {
            rg_free(o);
            return -EINVAL;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[k++] = (unsigned char)(acc >> bits);
        }
    }
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
        rg_free(o); /* stray bits: not the canonical encoding */
        return -EINVAL;
    }
    o[k] = '\0';
    *out = o;
    *out_len = k;
    return 0;
}

/* Decode part @p..@p+@n as a JSON object into *@out. */
static int json_part(const char *p, size_t n, json_t **out, const char **why)
{
    unsigned char *raw;
    size_t len;
    int rv = rg_b64_decode(p, n, 0, &raw, &len);

    *out = NULL;
    if (rv == -EINVAL)
        *why = "invalid base64";
    if (rv != 0)
        return rv;
    *out = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, NULL);
    rg_free(raw);
    if (*out == NULL || !json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        *why = "invalid JSON";
        return -EINVAL;
    }
    return 0;
}

static int header_alg(const json_t *h, enum rg_jwt_alg *alg, const char **why)
{
    const char *name = json_string_value(json_object_get(h, "alg"));

    if (json_object_get(h, "crit") != NULL) {
        *why = "unsupported critical header"; /* RFC 7515 §4.1.11 */
        return -EINVAL;
    }
    for (int a = 0; name != NULL && a < RG_JWT_ALG_MAX; a++) {
        if (strcmp(name, rg_jwt_alg_name((enum rg_jwt_alg)a)) == 0) {
            *alg = (enum rg_jwt_alg)a;
            return 0;
        }
    }
    *why = "invalid alg"; /* "none", "None", "HS1"..., or not a string */
    return -EINVAL;
}

int rg_jwt_parse(const char *tok, size_t len, struct rg_jwt *j,
                 const char **why)
{
    const char *d1, *d2;
    int rv;

    memset(j, 0, sizeof(*j));
    *why = "invalid token";
    if (len > RG_JWT_MAX)
        return -EINVAL;
    d1 = memchr(tok, '.', len);
    d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
    if (d1 == NULL || d2 == NULL ||
        memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)) != NULL) {
        *why = "invalid token: not three parts";
        return -EINVAL;
    }
    rv = json_part(tok, (size_t)(d1 - tok), &j->header, why);
    if (rv == 0)
        rv = header_alg(j->header, &j->alg, why);
    if (rv == 0)
        rv = json_part(d1 + 1, (size_t)(d2 - d1 - 1), &j->claims, why);
    if (rv == 0) {
        rv = rg_b64_decode(d2 + 1, len - (size_t)(d2 + 1 - tok), 0, &j->sig,
                           &j->sig_len);
        if (rv == -EINVAL)
            *why = "invalid base64";
    }
    if (rv == 0 && j->sig_len == 0) {
        *why = "no signature";
        rv = -EINVAL;
    }
    if (rv != 0) {
        rg_jwt_release(j);
        return rv;
    }
    j->signed_part = tok;
    j->signed_len = (size_t)(d2 - tok);
    return 0;
}

static const EVP_MD *digest_of(enum rg_jwt_alg a)
{
    switch (a) {
    case RG_JWT_HS256:
    case RG_JWT_RS256:
    case RG_JWT_ES256:
        return EVP_sha256();
    case RG_JWT_HS384:
    case RG_JWT_RS384:
    case RG_JWT_ES384:
        return EVP_sha384();
    default:
        return EVP_sha512();
    }
}

static int verify_hmac(const struct rg_jwt *j, const EVP_MD *md,
                       const unsigned char *secret, size_t secret_len)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (HMAC(md, secret, (int)secret_len,
             (const unsigned char *)j->signed_part, j->signed_len, mac,
             &n) == NULL)
        return 0;
    return n == j->sig_len && CRYPTO_memcmp(mac, j->sig, n) == 0;
}

/* JWS ES signatures are r || s, each @half bytes (RFC 7518 §3.4);
 * OpenSSL verifies DER. */
static unsigned char *es_to_der(const struct rg_jwt *j, size_t half,
                                int *der_len)
{
    ECDSA_SIG *es;
    BIGNUM *r, *s;
    unsigned char *der = NULL;

    if (j->sig_len != 2 * half)
        return NULL;
    es = ECDSA_SIG_new();
    r = BN_bin2bn(j->sig, (int)half, NULL);
    s = BN_bin2bn(j->sig + half, (int)half, NULL);
    if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s)) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return NULL;
    }
    *der_len = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);
    return *der_len > 0 ? der : NULL;
}

static int verify_pkey(const struct rg_jwt *j, const EVP_MD *md,
                       EVP_PKEY *pkey)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *der = NULL;
    const unsigned char *sig = j->sig;
    size_t sig_len = j->sig_len;
    int der_len = 0, ok = 0;

    if (ctx == NULL)
        return 0;
    if (j->alg >= RG_JWT_ES256) {
        der = es_to_der(j, j->alg == RG_JWT_ES256 ? 32 : 48, &der_len);
        if (der == NULL)
            goto done;
        sig = der;
        sig_len = (size_t)der_len;
    }
    ok = EVP_DigestVerifyInit(ctx, NULL, md, NULL, pkey) == 1 &&
         EVP_DigestVerify(ctx, sig, sig_len,
                          (const unsigned char *)j->signed_part,
                          j->signed_len) == 1;
done:
    OPENSSL_free(der);
    EVP_MD_CTX_free(ctx);
    return ok;
}

int rg_jwt_verify(const struct rg_jwt *j, const struct rg_jwt_secret *cred,
                  const unsigned char *secret, size_t secret_len)
{
    if (j->alg != cred->alg)
        return 0; /* the credential pins the algorithm */
    if (cred->alg <= RG_JWT_HS512)
        return secret_len > 0 &&
               verify_hmac(j, digest_of(cred->alg), secret, secret_len);
    return rg_jwt_verify_pkey(j, cred->alg, cred->pkey);
}

int rg_jwt_verify_pkey(const struct rg_jwt *j, enum rg_jwt_alg alg,
                       void *pkey)
{
    if (j->alg != alg || alg <= RG_JWT_HS512 || pkey == NULL)
        return 0;
    return verify_pkey(j, digest_of(alg), pkey);
}

void rg_jwt_release(struct rg_jwt *j)
{
    json_decref(j->header);
    json_decref(j->claims);
    rg_free(j->sig);
    memset(j, 0, sizeof(*j));
}
