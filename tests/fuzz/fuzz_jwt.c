/* libFuzzer target for the JWT decoder (src/plugins/jwt_token.c): any
 * bytes as a token. A token that parses has its signed part inside the
 * input, ending before the last dot, and a non-empty signature; verifying
 * it against an HS256 credential must not fail open: it is valid only
 * when the token says HS256 and the MAC matches (recomputed here). Both
 * base64 decoders are run on the raw input too. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "plugins/jwt_token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned char secret[] = "fuzz-secret";
    struct rg_jwt_secret cred = {.alg = RG_JWT_HS256};
    const char *tok = (const char *)data, *why;
    unsigned char *raw, mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    struct rg_jwt j;
    size_t n;
    int valid;

    for (int std = 0; std < 2; std++) {
        if (rg_b64_decode(tok, size, std, &raw, &n) == 0) {
            if (n > size)
                abort();
            rg_free(raw);
        }
    }
    if (rg_jwt_parse(tok, size, &j, &why) != 0)
        return 0;
    if (j.signed_part != tok || j.signed_len >= size ||
        tok[j.signed_len] != '.' || j.sig_len == 0 ||
        !json_is_object(j.header) || !json_is_object(j.claims))
        abort();
    valid = rg_jwt_verify(&j, &cred, secret, sizeof(secret) - 1);
    HMAC(EVP_sha256(), secret, sizeof(secret) - 1,
         (const unsigned char *)j.signed_part, j.signed_len, mac, &mac_len);
    if (valid != (j.alg == RG_JWT_HS256 && j.sig_len == mac_len &&
                  CRYPTO_memcmp(mac, j.sig, mac_len) == 0))
        abort();
    rg_jwt_release(&j);
    return 0;
}
