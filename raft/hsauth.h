/* The keyed mutual handshake of the Raft transport (docs/raft.md
 * "Authenticated transport"): message layout, HMAC-SHA256 proofs and the
 * per-address WARN rate limit. Pure functions over bytes, no sockets; the
 * transport (transport.c, transport_accept.c) drives them.
 *
 * Wire (all integers little-endian), before raft_uv_tcp's own handshake:
 *   connector -> acceptor  HELLO  magic "RGAUTH1\0" | u64 id_c | nonce_c
 *   acceptor -> connector  REPLY  magic | u64 id_a | nonce_a | mac_a
 *   connector -> acceptor  PROOF  mac_c, then raft_uv_tcp's handshake
 * mac_X = HMAC-SHA256(key, RG_HS_CONTEXT | dir | u64 own id | u64 peer id |
 *                     nonce_c | nonce_a), dir 'A' for the acceptor's proof
 * and 'C' for the connector's, so a proof cannot be reflected back.
 * Thread: any; no shared state except the caller's rg_hs_warnlog. */
#ifndef RG_RAFT_HSAUTH_H
#define RG_RAFT_HSAUTH_H

#include <stddef.h>
#include <stdint.h>

#define RG_HS_NONCE 32
#define RG_HS_MAC 32
#define RG_HS_HELLO_LEN (8 + 8 + RG_HS_NONCE)
#define RG_HS_REPLY_LEN (8 + 8 + RG_HS_NONCE + RG_HS_MAC)
#define RG_HS_CONTEXT "raftgate raft transport v1"

enum { RG_HS_ACCEPTOR = 'A', RG_HS_CONNECTOR = 'C' };

struct rg_hs_key {
    const unsigned char *bytes; /* borrowed */
    size_t len;                 /* 0 = no key (unauthenticated) */
};

/* Fill @nonce with RG_HS_NONCE random bytes: 0, or -1 when the CSPRNG
 * failed (the caller refuses the connection). */
int rg_hs_nonce(unsigned char *nonce);

/* Encode HELLO (RG_HS_HELLO_LEN bytes) into @out. */
void rg_hs_hello(unsigned char *out, uint64_t id, const unsigned char *nonce);

/* Decode HELLO: 0, or -1 when the magic is wrong (not a keyed raftgate
 * peer: a keyless node, or a stranger). */
int rg_hs_parse_hello(const unsigned char *in, uint64_t *id,
                      unsigned char *nonce);

/* The proof of @dir (RG_HS_ACCEPTOR / RG_HS_CONNECTOR) by @own for @peer
 * into @mac (RG_HS_MAC bytes): 0, or -1 when OpenSSL failed. */
int rg_hs_mac(const struct rg_hs_key *k, int dir, uint64_t own, uint64_t peer,
              const unsigned char *nonce_c, const unsigned char *nonce_a,
              unsigned char *mac);

/* Encode REPLY (RG_HS_REPLY_LEN bytes) for the acceptor @id_a: 0 or -1. */
int rg_hs_reply(const struct rg_hs_key *k, unsigned char *out, uint64_t id_a,
                uint64_t id_c, const unsigned char *nonce_c,
                const unsigned char *nonce_a);

/* Check the proof @mac of @dir by @own for @peer in constant time: 1 when
 * it is right, 0 otherwise. */
int rg_hs_check(const struct rg_hs_key *k, int dir, uint64_t own, uint64_t peer,
                const unsigned char *nonce_c, const unsigned char *nonce_a,
                const unsigned char *mac);

/* One refusal WARN per peer address per RG_HS_WARN_MS. */
#define RG_HS_WARN_MS 10000
#define RG_HS_WARN_SLOTS 32
struct rg_hs_warnlog {
    struct {
        char addr[64];
        uint64_t last_ms;
        unsigned suppressed;
    } slot[RG_HS_WARN_SLOTS];
};

/* 1 when a refusal of @addr at @now_ms should be logged, with
 * *@suppressed set to the refusals not logged since the last one; 0 when
 * it is to be dropped (counted). Evicts the least recently logged
 * address when the table is full. */
int rg_hs_warn_due(struct rg_hs_warnlog *w, const char *addr, uint64_t now_ms,
                   unsigned *suppressed);

#endif
