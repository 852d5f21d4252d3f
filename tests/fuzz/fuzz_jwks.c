/* libFuzzer target for the JWK set parser (src/plugins/jwks.c): any bytes
 * as a key set. A set that parses holds 1 to RG_JWKS_KEYS_MAX keys; a
 * lookup by any kid or none, for every algorithm, gives a key or NULL and
 * never an HMAC key; the set frees cleanly. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/jwks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rg_jwks *ks;
    const char *why;
    size_t kl = size < 8 ? size : 8;

    if (rg_jwks_parse((const char *)data, size, &ks, &why) != 0) {
        if (why == NULL || why[0] == '\0')
            abort();
        return 0;
    }
    if (rg_jwks_count(ks) == 0 || rg_jwks_count(ks) > RG_JWKS_KEYS_MAX)
        abort();
    for (int a = 0; a < RG_JWT_ALG_MAX; a++) {
        void *k1 = rg_jwks_find(ks, NULL, 0, (enum rg_jwt_alg)a);
        void *k2 = rg_jwks_find(ks, (const char *)data, kl,
                                (enum rg_jwt_alg)a);

        if (a <= RG_JWT_HS512 && (k1 != NULL || k2 != NULL))
            abort();
    }
    rg_jwks_unref(rg_jwks_ref(ks));
    rg_jwks_unref(ks);
    return 0;
}
