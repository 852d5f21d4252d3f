/* Forwarding one admin request to another node's admin API (the leader's):
 * a small HTTP/1.1 client on the control loop. It connects, writes the
 * request (Connection: close), reads the whole response with llhttp and
 * hands back its status, Content-Type, the X-Raftgate-* headers and the
 * body. Whether the request could have reached the peer decides the error:
 * a failure before anything was written is RG_FWD_ENOTSENT (certainly not
 * applied), any later failure or the deadline is RG_FWD_EUNKNOWN. */
#ifndef RG_ADMIN_FWD_H
#define RG_ADMIN_FWD_H

#include <stddef.h>
#include <uv.h>

#include "core/err.h"

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

/* Send @method @target to @addr ("host:port", an IP literal or a name
 * resolved now, blocking) with @headers (header lines, borrowed and
 * copied; must not hold Host, Content-Length or Connection) and @body
 * (@len bytes, copied). @cb fires exactly once, within @timeout_ms plus
 * the close, unless rg_fwd_cancel runs first. Returns NULL when nothing
 * could be started (bad address, ENOMEM); then @cb is never called.
 * Thread: @loop's. */
struct rg_fwd *rg_fwd_start(uv_loop_t *loop, const char *addr,
                            const char *method, const char *target,
                            const char *headers, const char *body,
                            size_t len, unsigned timeout_ms, rg_fwd_cb cb,
                            void *arg);

/* auth: sign every request rg_fwd_start sends from now on with the
 * cluster key (an X-Raftgate-Auth header, core/reqmac.h); @key is copied,
 * NULL stops signing. Returns 0 or -ENOMEM. Thread: the control thread,
 * before the first rg_fwd_start. */
int rg_fwd_set_key(const unsigned char *key, size_t len);

/* Abandon @f: @cb will not be called; the memory goes when the handles
 * have closed. Accepts NULL. */
void rg_fwd_cancel(struct rg_fwd *f);

#endif
