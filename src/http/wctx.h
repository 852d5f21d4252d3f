/* What a worker thread gives the request path: its loop, the current
 * config generation, the upstream pool, the access log, its client
 * connections and a read buffer. The worker (event/worker.h) embeds one
 * and owns its lifetime; the http layer sees only this, so the data plane
 * includes one way: http never includes event/ (docs/architecture.md §2,
 * checked by tests/layering.sh). Thread: the worker's, for every field. */
#ifndef RG_HTTP_WCTX_H
#define RG_HTTP_WCTX_H

#include <stdint.h>
#include <uv.h>

#include "core/arena.h"

struct rg_accesslog;
struct rg_gen;
struct rg_pool;
struct rg_req;
struct rg_wmet;

struct rg_wctx {
    unsigned index;              /* worker number, for logs */
    uv_loop_t loop;
    uint16_t port;               /* proxy port, for X-Forwarded-Port */
    const char *scheme;          /* the plain listener's, for
                                    X-Forwarded-Proto: "http" */
    uint16_t tls_port;           /* the TLS listener's (scheme "https"),
                                    0 when there is none */
    struct rg_gen *gen;          /* current generation, one reference */
    struct rg_pool *pool;        /* upstream keep-alive connections */
    struct rg_accesslog *alog;   /* NULL when the access log is off */
    void *conns;                 /* list head of live client connections */
    unsigned n_conns;
    int draining;                /* stop accepting, close when idle */
    uint64_t rng;                /* xorshift state for ids and jitter */
    unsigned long allocs;        /* allocations by this thread (core/alloc.h
                                    rg_alloc_count_thread); others read it
                                    with a relaxed load */
    struct rg_blkcache chunks;   /* request arenas' chunks, kept for reuse */
    struct rg_req *req_cache;    /* finished requests kept for reuse, with
                                    their buffers (http/proxy.c) */
    unsigned n_req_cache;
    /* Per service index, the next turn of its addresses (http/proxy.c
     * pick_addr; grows only); rg_proxy_cache_free frees it. */
    unsigned *rr;
    size_t n_rr;
    char rbuf[65536];            /* shared read buffer (reads are handled
                                    synchronously in their callback) */
    /* met (issue 12): this worker's request counters for /metrics
     * (http/metrics.h), owned by the worker array; NULL: not counted. */
    struct rg_wmet *met;
    char tlsbuf[17 * 1024];      /* TLS client connections' ciphertext is
                                    read here (a record and then some), then
                                    decrypted into the buffers above */
};

/* Next pseudo-random 64-bit value from @w's generator (xorshift64*: ids
 * and jitter, not secrets). */
static inline uint64_t rg_wctx_rand(struct rg_wctx *w)
{
    uint64_t x = w->rng;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

#endif
