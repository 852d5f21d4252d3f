/* Request MACs for node-to-node admin calls (auth): the X-Raftgate-Auth
 * header a node puts on a forwarded admin request and on its internal
 * calls (POST /cluster/leases, /cluster/breaker), proving it holds the
 * cluster key (raft.cluster_key_file):
 *
 *   X-Raftgate-Auth: t=<unix ms>,mac=<64 hex>
 *   mac = HMAC-SHA256(key, "raftgate admin v2" NUL method NUL target NUL
 *                          request id NUL <t in decimal> NUL SHA-256(body))
 *
 * The request id is the X-Request-Id value ("" when the request has
 * none), so a captured request cannot be replayed under a new id past the
 * receiver's idempotency check.
 *
 * The receiver accepts a stamp within RG_REQMAC_WINDOW_MS of its own
 * clock. No nonce cache: a captured request can be replayed unchanged
 * inside the window. A forwarded admin write carries its request id, so
 * the replay is deduplicated by the state machine; the calls sent
 * without one (lease batches, breaker reports) rely on their commands'
 * own idempotence (see docs/raft.md "Authenticated transport").
 * Thread: any. */
#ifndef RG_CORE_REQMAC_H
#define RG_CORE_REQMAC_H

#include <stddef.h>
#include <stdint.h>

#define RG_REQMAC_HEADER "X-Raftgate-Auth"
#define RG_REQMAC_WINDOW_MS 30000
#define RG_REQMAC_VALUE_MAX 96 /* "t=...,mac=..." with its NUL */

/* Write the header value for @method @target with request id @rid
 * ("" for none) and @body (@len bytes) at @now_ms into @out
 * (RG_REQMAC_VALUE_MAX bytes): 0, or -1 when OpenSSL failed or @klen is
 * 0. */
int rg_reqmac_sign(const unsigned char *key, size_t klen, const char *method,
                   const char *target, const char *rid, const char *body,
                   size_t len, uint64_t now_ms, char *out);

/* 0 when @value (@vlen bytes, not NUL-terminated) is a valid MAC of the
 * request stamped within RG_REQMAC_WINDOW_MS of @now_ms; -1 otherwise
 * (malformed, stale, or wrong: compared in constant time). */
int rg_reqmac_verify(const unsigned char *key, size_t klen, const char *value,
                     size_t vlen, const char *method, const char *target,
                     const char *rid, const char *body, size_t len,
                     uint64_t now_ms);

/* The wall clock in ms since the epoch. */
uint64_t rg_reqmac_now_ms(void);

#endif
