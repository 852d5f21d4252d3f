/* Upstream connections and the per-worker keep-alive pool, keyed by the
 * target's "ip:port". Idle connections are watched for EOF so a connection
 * the upstream closed is dropped before reuse, and expire after
 * upstream_idle_timeout. */
#ifndef RG_UPSTREAM_POOL_H
#define RG_UPSTREAM_POOL_H

#include <llhttp.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "http/head.h"

struct rg_worker;
struct rg_pool;
struct rg_req;

struct rg_upconn {
    uv_tcp_t tcp;
    uv_timer_t timer;        /* connect/read/write timeout; idle expiry */
    uv_connect_t creq;
    struct rg_worker *w;
    struct rg_pool *pool;
    struct rg_req *req;      /* the exchange using it, or NULL when idle */
    llhttp_t parser;         /* response parser */
    struct rg_head head;     /* response head; status text as "url" */
    char key[64];            /* pool key, "ip:port" */
    struct rg_upconn *next, *prev; /* idle list */
    size_t out_bytes;        /* queued to the upstream, not yet written */
    unsigned connected : 1;
    unsigned reused : 1;
    unsigned closing : 1;
    unsigned idle : 1;
    unsigned reading : 1;
    unsigned n_handles : 2;
};

/* Create the pool of worker @w. Returns NULL on ENOMEM. Thread: @w's. */
struct rg_pool *rg_pool_new(struct rg_worker *w);

/* Close every idle connection and free the pool; busy connections must have
 * been released first. Accepts NULL. */
void rg_pool_free(struct rg_pool *p);

/* Close all idle connections (drain). */
void rg_pool_close_idle(struct rg_pool *p);

/* Take an idle connection to @key, or NULL. The caller owns it. */
struct rg_upconn *rg_pool_take(struct rg_pool *p, const char *key);

/* Allocate a connection to @addr and start connecting; @cb runs on the
 * loop with status 0 or a uv error. Returns NULL on failure to start (then
 * @cb is never called). */
struct rg_upconn *rg_upconn_connect(struct rg_pool *p, const char *key,
                                    const struct sockaddr_storage *addr,
                                    uv_connect_cb cb);

/* Give @up back: kept idle when @reusable and the pool has room for @key
 * (at most @max_idle per key, expiring after @idle_ms), else closed. */
void rg_pool_put(struct rg_pool *p, struct rg_upconn *up, int reusable,
                 uint32_t max_idle, uint32_t idle_ms);

/* Close @up now, dropping queued writes; freed after its handles close. */
void rg_upconn_close(struct rg_upconn *up);

#endif
