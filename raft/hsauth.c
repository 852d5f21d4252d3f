/* The Raft transport's keyed handshake; see hsauth.h. */
#include "raft/hsauth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>

#include "raft/bytes.h"

static const unsigned char magic[8] = "RGAUTH1";

int rg_hs_nonce(unsigned char *nonce)
{
    return RAND_bytes(nonce, RG_HS_NONCE) == 1 ? 0 : -1;
}

void rg_hs_hello(unsigned char *out, uint64_t id, const unsigned char *nonce)
{
    memcpy(out, magic, 8);
    rg_put64le(out + 8, id);
    memcpy(out + 16, nonce, RG_HS_NONCE);
}

int rg_hs_parse_hello(const unsigned char *in, uint64_t *id,
                      unsigned char *nonce)
{
    if (CRYPTO_memcmp(in, magic, 8) != 0)
        return -1;
    *id = rg_get64le(in + 8);
    memcpy(nonce, in + 16, RG_HS_NONCE);
    return 0;
}

int rg_hs_mac(const struct rg_hs_key *k, int dir, uint64_t own, uint64_t peer,
              const unsigned char *nonce_c, const unsigned char *nonce_a,
              unsigned char *mac)
{
    unsigned char msg[sizeof(RG_HS_CONTEXT) + 1 + 16 + 2 * RG_HS_NONCE];
    unsigned char *p = msg;
    unsigned int len = 0;

    memcpy(p, RG_HS_CONTEXT, sizeof(RG_HS_CONTEXT)); /* with its NUL */
    p += sizeof(RG_HS_CONTEXT);
    *p++ = (unsigned char)dir;
    rg_put64le(p, own);
    rg_put64le(p + 8, peer);
    p += 16;
    memcpy(p, nonce_c, RG_HS_NONCE);
    memcpy(p + RG_HS_NONCE, nonce_a, RG_HS_NONCE);
    if (k->len == 0 ||
        HMAC(EVP_sha256(), k->bytes, (int)k->len, msg, sizeof(msg), mac,
             &len) == NULL ||
        len != RG_HS_MAC)
        return -1;
    return 0;
}

int rg_hs_reply(const struct rg_hs_key *k, unsigned char *out, uint64_t id_a,
                uint64_t id_c, const unsigned char *nonce_c,
                const unsigned char *nonce_a)
{
    memcpy(out, magic, 8);
    rg_put64le(out + 8, id_a);
    memcpy(out + 16, nonce_a, RG_HS_NONCE);
    return rg_hs_mac(k, RG_HS_ACCEPTOR, id_a, id_c, nonce_c, nonce_a,
                     out + 16 + RG_HS_NONCE);
}

int rg_hs_check(const struct rg_hs_key *k, int dir, uint64_t own, uint64_t peer,
                const unsigned char *nonce_c, const unsigned char *nonce_a,
                const unsigned char *mac)
{
    unsigned char want[RG_HS_MAC];

    if (rg_hs_mac(k, dir, own, peer, nonce_c, nonce_a, want) != 0)
        return 0;
    return CRYPTO_memcmp(want, mac, RG_HS_MAC) == 0;
}

int rg_hs_warn_due(struct rg_hs_warnlog *w, const char *addr, uint64_t now_ms,
                   unsigned *suppressed)
{
    size_t i, victim = 0;

    for (i = 0; i < RG_HS_WARN_SLOTS; i++) {
        if (strncmp(w->slot[i].addr, addr, sizeof(w->slot[i].addr) - 1) == 0)
            break;
        if (w->slot[i].last_ms < w->slot[victim].last_ms)
            victim = i;
    }
    if (i == RG_HS_WARN_SLOTS) {
        i = victim;
        memset(&w->slot[i], 0, sizeof(w->slot[i]));
        strncpy(w->slot[i].addr, addr, sizeof(w->slot[i].addr) - 1);
    } else if (w->slot[i].last_ms != 0 &&
               now_ms - w->slot[i].last_ms < RG_HS_WARN_MS) {
        w->slot[i].suppressed++;
        return 0;
    }
    *suppressed = w->slot[i].suppressed;
    w->slot[i].suppressed = 0;
    w->slot[i].last_ms = now_ms != 0 ? now_ms : 1;
    return 1;
}
