/* A JSON Web Token (RFC 7519) in its compact JWS form, taken apart and
 * checked without trusting any of it: three base64url parts, a header
 * that is a JSON object naming one of the algorithms raftgate verifies
 * (no "none" in any spelling) and no "crit" extension, claims that are a
 * JSON object, and a signature verified with the algorithm the
 * credential pins (config/gateway.h rg_jwt_secret), never the one the
 * token names. Thread: any; no global state. */
#ifndef RG_PLUGINS_JWT_TOKEN_H
#define RG_PLUGINS_JWT_TOKEN_H

#include <jansson.h>
#include <stddef.h>

#include "config/gateway.h"
#include "core/err.h"

#define RG_JWT_MAX 16384 /* bytes of a token that is parsed at all */

struct rg_jwt {
    json_t *header;           /* owned */
    json_t *claims;           /* owned */
    enum rg_jwt_alg alg;      /* the header's alg */
    const char *signed_part;  /* borrowed from the token: header.claims */
    size_t signed_len;
    unsigned char *sig;       /* owned, decoded */
    size_t sig_len;
};

/* Take @len bytes at @tok apart into @j. Returns 0, or -EINVAL with
 * *@why the reason as Kong words it after "Bad token; " ("invalid
 * JSON", "invalid base64", "invalid header", ...), or -ENOMEM. On
 * failure @j holds nothing. Ownership: @tok is kept while @j lives
 * (signed_part points into it). */
int rg_jwt_parse(const char *tok, size_t len, struct rg_jwt *j,
                 const char **why) RG_MUST_CHECK;

/* Whether @j's signature is right for credential @cred: the token's alg
 * must be the credential's, then HMAC with @secret (@secret_len bytes:
 * the credential's, decoded when the plugin says it is base64) for HS*,
 * else the public key. 1 valid, 0 not (or out of memory). */
int rg_jwt_verify(const struct rg_jwt *j, const struct rg_jwt_secret *cred,
                  const unsigned char *secret, size_t secret_len);

/* Whether @j's signature is right for public key @pkey (an EVP_PKEY of
 * the type @alg needs: from a credential or its JWK set), @alg (RS* or
 * ES*) being the one the credential pins. 1 valid, 0 not. */
int rg_jwt_verify_pkey(const struct rg_jwt *j, enum rg_jwt_alg alg,
                       void *pkey);

/* Free what @j owns; accepts a zeroed one. */
void rg_jwt_release(struct rg_jwt *j);

/* Decode base64url (no padding, RFC 7515 §2) or, @std, standard base64
 * (padding allowed) of @n bytes at @p into a new buffer (*@out, freed
 * with rg_free; NUL-terminated for convenience). 0, -EINVAL, -ENOMEM. */
int rg_b64_decode(const char *p, size_t n, int std, unsigned char **out,
                  size_t *out_len) RG_MUST_CHECK;

#endif
