/* Upstream connections and the per-worker keep-alive pool, keyed by the
 * target's "ip:port". Idle connections are watched for EOF so a connection
 * the upstream closed is dropped before reuse, and expire after
 * upstream_idle_timeout.
 *
 * Sizing follows demand: a returned connection stays idle while the key's
 * connections (busy + idle) number no more than the most that were busy at
 * once in the current or the previous window of upstream_idle_timeout, so
 * 1000 concurrent clients keep about 1000 upstream connections instead of
 * reconnecting past a fixed cap. upstream_keepalive idle connections are
 * kept whatever the demand, and upstream_keepalive_max (or
 * upstream_keepalive, when larger) bounds the idle ones.
 *
 * A connection reads from the moment it is connected until it is closed:
 * the pool's one read callback hands bytes to the exchange's hook while it
 * has one, and treats any byte or EOF on an idle connection as the end of
 * it. Reuse costs no epoll_ctl. */
#ifndef RG_UPSTREAM_POOL_H
#define RG_UPSTREAM_POOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "core/err.h"
#include "core/io.h"

/* Room for a pool key: "ip:port" and an https service's tag. */
#define RG_POOL_KEY_MAX 80

struct rg_pool;
struct rg_req;
struct pool_key;
struct rg_upconn;
struct rg_tls;
struct rg_tls_client;

/* Where the next read on @up goes: fill *@buf and return 1, or return 0
 * for the pool's shared buffer. Called only while an exchange uses @up
 * (up->req set); the bytes read into *@buf go to the exchange's read
 * callback next (its buf is *@buf), even with nread 0 or an error. */
typedef int (*rg_upconn_alloc_cb)(struct rg_upconn *up, uv_buf_t *buf);

struct rg_upconn {
    uv_tcp_t tcp;
    uv_timer_t timer;        /* connect/read/write timeout; idle expiry */
    uv_connect_t creq;
    struct rg_pool *pool;
    struct rg_req *req;      /* the exchange using it, or NULL when idle */
    void (*fini)(struct rg_upconn *up); /* the layer above's cleanup of
                                           data[], at free; or NULL */
    char key[RG_POOL_KEY_MAX]; /* pool key, "ip:port" (and a TLS tag) */
    struct pool_key *k;      /* its key's demand and idle list */
    uv_read_cb on_read;      /* the exchange's reader, or NULL */
    rg_upconn_alloc_cb alloc; /* the exchange's read buffers
                                 (rg_upconn_set_alloc), or NULL: the
                                 pool's shared buffer */
    struct rg_upconn *next, *prev; /* idle list */
    size_t out_bytes;        /* queued to the upstream, not yet written */
    unsigned connected : 1;
    unsigned reused : 1;
    unsigned closing : 1;
    unsigned idle : 1;
    unsigned busy : 1;       /* counted in its key's busy connections */
    unsigned reading : 1;
    unsigned eof : 1;        /* read EOF or an error: never reused */
    unsigned n_handles : 2;
    unsigned handshaking : 1; /* https: connected, handshake running */
    struct rg_tls *tls;       /* https: the engine between the socket and
                                 the exchange (core/tls.h), owned; NULL for
                                 http */
    uv_connect_cb on_connect; /* https: the exchange's, called once the
                                 handshake is done (or failed) */
    uv_read_cb tls_reader;    /* https: the exchange's reader, kept while
                                 it pauses (plaintext already decrypted
                                 still goes to it) */
    max_align_t data[];      /* the layer above's per-connection state
                                (the response parser): rg_upconn_connect's
                                @data_size bytes, zeroed */
};

/* How many idle connections a key may keep (see above). */
struct rg_pool_limits {
    uint32_t keep_min;       /* upstream_keepalive; 0 = no reuse */
    uint32_t keep_max;       /* upstream_keepalive_max */
    uint32_t idle_ms;        /* upstream_idle_timeout */
};

/* Create a pool on @loop; connections read into @rbuf (@rbuf_size bytes,
 * shared: reads are consumed within their callback). Returns NULL on
 * ENOMEM. Thread: @loop's, for everything below. */
struct rg_pool *rg_pool_new(uv_loop_t *loop, char *rbuf, size_t rbuf_size);

/* Close every idle connection and free the pool; busy connections must have
 * been released first. Accepts NULL. */
void rg_pool_free(struct rg_pool *p);

/* Drain: close all idle connections and keep none from now on. */
void rg_pool_drain(struct rg_pool *p);

/* Take an idle connection to @key, or NULL. The caller owns it.
 * @idle_ms is the demand window (upstream_idle_timeout). */
struct rg_upconn *rg_pool_take(struct rg_pool *p, const char *key,
                               uint32_t idle_ms);

/* Allocate a connection to @addr into *@out and start connecting; @cb
 * runs on the loop with status 0 or a uv error. With @tls (borrowed; the
 * engine keeps its own reference) the connection speaks TLS to @host
 * (SNI, and the name verified): @cb runs once the handshake is done, or
 * with UV_EPROTO when it failed (the reason is logged); reads and
 * rg_upconn_write carry plaintext. Returns 0, or -ENOMEM or the uv error
 * of a connect that could not start (then @cb is never called and *@out
 * is NULL). */
int rg_upconn_connect(struct rg_pool *p, const char *key,
                      const struct sockaddr_storage *addr, uint32_t idle_ms,
                      size_t data_size, struct rg_tls_client *tls,
                      const char *host, uv_connect_cb cb,
                      struct rg_upconn **out) RG_MUST_CHECK;

/* Write @bufs to @up as rg_io_write does (core/io.h), through TLS for an
 * https connection (then the queued count and @cb's lengths are bytes on
 * the wire). */
ssize_t rg_upconn_write(struct rg_upconn *up, const uv_buf_t *bufs, unsigned n,
                        rg_io_cb cb, void *arg);

/* Hand what @up reads to @cb (its stream's data is @up), or, with @cb
 * NULL, pause reading (back-pressure). Returns 0 or a uv error (then @up
 * is closed). Call it once connected. */
int rg_upconn_read(struct rg_upconn *up, uv_read_cb cb) RG_MUST_CHECK;

/* Read @up's bytes into buffers from @cb (see rg_upconn_alloc_cb) while
 * an exchange uses it; NULL (the default, and what rg_pool_put sets) reads
 * into the pool's shared buffer. Ownership: a buffer @cb gives is the
 * caller's; the pool only reads into it, within the one read callback
 * that follows. */
void rg_upconn_set_alloc(struct rg_upconn *up, rg_upconn_alloc_cb cb);

/* Give @up back: kept idle when @reusable and demand (see above, with
 * @l) has room for it, else closed. */
void rg_pool_put(struct rg_upconn *up, int reusable,
                 const struct rg_pool_limits *l);

/* Close @up now, dropping queued writes; freed after its handles close. */
void rg_upconn_close(struct rg_upconn *up);

#endif
