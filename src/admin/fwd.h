/* Forwarding one admin request to another node's admin API (the leader's):
 * a small HTTP/1.1 client on the control loop. It connects (over TLS when
 * rg_fwd_set_tls gave a context), writes the request (Connection: close),
 * reads the whole response with llhttp and hands back its status,
 * Content-Type, the X-Raftgate-* headers and the body. Whether the request
 * could have reached the peer decides the error: a failure or the
 * deadline before the request was written (connect, TLS handshake,
 * certificate check) is RG_FWD_ENOTSENT (certainly not applied), any
 * failure or the deadline after it is RG_FWD_EUNKNOWN. Thread: the
 * control thread only, for every function here (one read buffer and the
 * settings are shared by all forwards). */
#ifndef RG_ADMIN_FWD_H
#define RG_ADMIN_FWD_H

#include <stddef.h>
#include <uv.h>

#include "core/err.h"

struct rg_tls_client;

/* The relayed answer; every pointer is borrowed for the callback. */
struct rg_fwd_resp {
    int status;
    const char *ctype;        /* Content-Type, or NULL */
    const char *headers;      /* "X-Raftgate-...: v\r\n" lines, or "" */
    const char *body;         /* NUL-terminated */
    size_t body_len;
};

/* @err is 0 (then @r is the answer) or an RG_FWD_E* code (@r NULL). */
typedef void (*rg_fwd_cb)(void *arg, int err, const struct rg_fwd_resp *r);

struct rg_fwd;

/* One request to forward; every pointer is borrowed for rg_fwd_start,
 * which copies what it keeps. */
#define RG_FWD_MAX_RID 64 /* = RG_CODEC_MAX_RID (raft/codec.h) */

struct rg_fwd_req {
    const char *method;
    const char *target;  /* path and query */
    const char *rid;     /* X-Request-Id (signed with it): 1..
                            RG_FWD_MAX_RID printable ASCII bytes, no
                            space; or NULL for none */
    const char *headers; /* header lines ("Name: v\r\n"...), or "": not
                            Host, Content-Length, Connection or
                            X-Request-Id */
    const char *body;
    size_t len;
};

/* Send @rq to @addr ("host:port", an IP literal or a name resolved now,
 * blocking). @cb fires exactly once, within @timeout_ms plus the close,
 * unless rg_fwd_cancel runs first. Returns NULL when nothing could be
 * started (bad address or request id, ENOMEM); then @cb is never
 * called. @loop is the control thread's. */
struct rg_fwd *rg_fwd_start(uv_loop_t *loop, const char *addr,
                            const struct rg_fwd_req *rq, unsigned timeout_ms,
                            rg_fwd_cb cb, void *arg);

/* auth: sign every request rg_fwd_start sends from now on with the
 * cluster key (an X-Raftgate-Auth header over the method, target,
 * X-Request-Id and body: core/reqmac.h); @key is copied, NULL stops
 * signing. Returns 0 or -ENOMEM. Before the first rg_fwd_start. */
int rg_fwd_set_key(const unsigned char *key, size_t len);

/* admin TLS: connect with TLS through @c from now on (borrowed: it must
 * outlive the calls to rg_fwd_start; a forward under way holds its own
 * reference), verifying the peer's certificate as @c says against the
 * host of the address; NULL = plain HTTP. A handshake that fails (with
 * OpenSSL's reason, a close, a socket error or the deadline) is logged
 * as a WARN, at most one per 10 s with the count of those not logged,
 * and reported as RG_FWD_ENOTSENT. */
void rg_fwd_set_tls(struct rg_tls_client *c);

/* Abandon @f: @cb will not be called; the memory goes when the handles
 * have closed. Accepts NULL. */
void rg_fwd_cancel(struct rg_fwd *f);

#endif
