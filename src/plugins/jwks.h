/* A JSON Web Key Set (RFC 7517) of public signing keys, as an identity
 * provider publishes it at its jwks_uri: {"keys": [{"kty": "RSA", "kid",
 * "n", "e"} | {"kty": "EC", "crv": "P-256"|"P-384", "kid", "x", "y"},
 * ...]}. Keys for other uses ("use" other than "sig"), other types
 * (oct, OKP) and other curves are skipped, not errors: a set may hold
 * keys raftgate does not verify with. RSA keys must have 2048 bits or
 * more, EC points must lie on their curve (as a credential's PEM key).
 *
 * A parsed set is immutable and reference-counted (atomically): the
 * control thread makes it, workers verify with it. Thread: any. */
#ifndef RG_PLUGINS_JWKS_H
#define RG_PLUGINS_JWKS_H

#include <stddef.h>

#include "config/gateway.h"
#include "core/err.h"

#define RG_JWKS_KEYS_MAX 64

struct rg_jwks;

/* Parse @len bytes of JSON at @json into a new set (one reference) in
 * *@out. 0; -EINVAL with *@why (static text) when it is not a key set
 * or holds no key raftgate can use; -ENOMEM. */
int rg_jwks_parse(const char *json, size_t len, struct rg_jwks **out,
                  const char **why) RG_MUST_CHECK;

struct rg_jwks *rg_jwks_ref(struct rg_jwks *ks);

/* Drop a reference; the last frees. Accepts NULL. */
void rg_jwks_unref(struct rg_jwks *ks);

/* Keys in the set. */
size_t rg_jwks_count(const struct rg_jwks *ks);

/* The key (an OpenSSL EVP_PKEY, borrowed from @ks) that verifies tokens
 * of algorithm @alg with header kid @kid (@kid_len bytes; NULL: the token
 * names none): the key with that kid, whose type (and curve) fits @alg
 * and whose "alg", when given, is @alg. Without a kid, the set's only
 * key that fits. NULL when there is none. */
void *rg_jwks_find(const struct rg_jwks *ks, const char *kid, size_t kid_len,
                   enum rg_jwt_alg alg);

#endif
