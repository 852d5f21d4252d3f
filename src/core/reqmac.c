/* Request MACs; see reqmac.h. */
#include "core/reqmac.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/hex.h"

static const char context[] = "raftgate admin v2";

static int compute(const unsigned char *key, size_t klen, const char *method,
                   const char *target, const char *rid, const char *body,
                   size_t len, uint64_t t, unsigned char *mac)
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    char stamp[24];
    char sha256[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string("digest", sha256, 0),
        OSSL_PARAM_construct_end(),
    };
    EVP_MAC *m;
    EVP_MAC_CTX *c = NULL;
    size_t ml = 0;
    int ok;

    if (klen == 0 || SHA256((const unsigned char *)body, len, digest) == NULL)
        return -1;
    snprintf(stamp, sizeof(stamp), "%llu", (unsigned long long)t);
    m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (m != NULL)
        c = EVP_MAC_CTX_new(m);
    /* five NUL-terminated fields, then the body's digest */
    ok = c != NULL && EVP_MAC_init(c, key, klen, params) &&
         EVP_MAC_update(c, (const unsigned char *)context, sizeof(context)) &&
         EVP_MAC_update(c, (const unsigned char *)method, strlen(method) + 1) &&
         EVP_MAC_update(c, (const unsigned char *)target, strlen(target) + 1) &&
         EVP_MAC_update(c, (const unsigned char *)rid, strlen(rid) + 1) &&
         EVP_MAC_update(c, (const unsigned char *)stamp, strlen(stamp) + 1) &&
         EVP_MAC_update(c, digest, sizeof(digest)) &&
         EVP_MAC_final(c, mac, &ml, 32) && ml == 32;
    EVP_MAC_CTX_free(c);
    EVP_MAC_free(m);
    return ok ? 0 : -1;
}

int rg_reqmac_sign(const unsigned char *key, size_t klen, const char *method,
                   const char *target, const char *rid, const char *body,
                   size_t len, uint64_t now_ms, char *out)
{
    unsigned char mac[32];
    int n;

    if (compute(key, klen, method, target, rid, body, len, now_ms, mac) != 0)
        return -1;
    n = snprintf(out, RG_REQMAC_VALUE_MAX,
                 "t=%llu,mac=", (unsigned long long)now_ms);
    for (int i = 0; i < 32; i++)
        n += snprintf(out + n, RG_REQMAC_VALUE_MAX - (size_t)n, "%02x", mac[i]);
    return 0;
}

/* Parse "t=<digits>,mac=<64 hex>": 0 or -1. */
static int parse(const char *v, size_t n, uint64_t *t, unsigned char *mac)
{
    size_t i = 2;

    if (n < 2 || v[0] != 't' || v[1] != '=')
        return -1;
    *t = 0;
    for (; i < n && v[i] >= '0' && v[i] <= '9' && i < 22; i++)
        *t = *t * 10 + (uint64_t)(v[i] - '0');
    if (i == 2 || n - i != 5 + 64 || memcmp(v + i, ",mac=", 5) != 0)
        return -1;
    v += i + 5;
    for (int k = 0; k < 32; k++) {
        int hi = rg_hex_lower(v[2 * k]), lo = rg_hex_lower(v[2 * k + 1]);

        if (hi < 0 || lo < 0)
            return -1;
        mac[k] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

int rg_reqmac_verify(const unsigned char *key, size_t klen, const char *value,
                     size_t vlen, const char *method, const char *target,
                     const char *rid, const char *body, size_t len,
                     uint64_t now_ms)
{
    unsigned char got[32], want[32];
    uint64_t t;

    if (value == NULL || parse(value, vlen, &t, got) != 0)
        return -1;
    if (t + RG_REQMAC_WINDOW_MS < now_ms || t > now_ms + RG_REQMAC_WINDOW_MS)
        return -1;
    if (compute(key, klen, method, target, rid, body, len, t, want) != 0)
        return -1;
    return CRYPTO_memcmp(got, want, sizeof(want)) == 0 ? 0 : -1;
}

uint64_t rg_reqmac_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
