/* Upstream connections and the per-worker keep-alive pool. */
#include "upstream/pool.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/tls.h"

struct pool_key {
    char key[RG_POOL_KEY_MAX];
    struct rg_upconn *idle;   /* most recently used first */
    unsigned n_idle;
    unsigned busy;            /* connecting or in an exchange */
    unsigned peak, prev_peak; /* most busy at once: this window, the last */
    uint64_t window_start;    /* loop ms */
    struct pool_key *next;
};

struct rg_pool {
    uv_loop_t *loop;
    char *rbuf;
    size_t rbuf_size;
    int draining;             /* keep nothing idle */
    struct pool_key *keys;    /* few distinct upstreams: a list is enough */
    char tbuf[17 * 1024];     /* https connections read ciphertext here */
};

struct rg_pool *rg_pool_new(uv_loop_t *loop, char *rbuf, size_t rbuf_size)
{
    struct rg_pool *p = rg_calloc(1, sizeof(*p));

    if (p != NULL) {
        p->loop = loop;
        p->rbuf = rbuf;
        p->rbuf_size = rbuf_size;
    }
    return p;
}

static struct pool_key *pool_key(struct rg_pool *p, const char *key, int add)
{
    struct pool_key *k;

    for (k = p->keys; k != NULL; k = k->next) {
        if (strcmp(k->key, key) == 0)
            return k;
    }
    if (!add)
        return NULL;
    k = rg_calloc(1, sizeof(*k));
    if (k == NULL)
        return NULL;
    snprintf(k->key, sizeof(k->key), "%s", key);
    k->next = p->keys;
    p->keys = k;
    return k;
}

static void idle_unlink(struct rg_upconn *up)
{
    struct pool_key *k = up->k;

    if (!up->idle)
        return;
    if (up->prev != NULL)
        up->prev->next = up->next;
    else
        k->idle = up->next;
    if (up->next != NULL)
        up->next->prev = up->prev;
    up->next = up->prev = NULL;
    up->idle = 0;
    k->n_idle--;
}

/* Demand: @up starts (or stops) counting as busy on its key. */
static void busy_set(struct rg_upconn *up, int on, uint32_t idle_ms)
{
    struct pool_key *k = up->k;
    uint64_t now;

    if (on == (int)up->busy)
        return;
    up->busy = on;
    if (!on) {
        k->busy--;
        return;
    }
    now = uv_now(up->pool->loop);
    if (now - k->window_start >= idle_ms) {
        k->prev_peak = now - k->window_start >= 2 * (uint64_t)idle_ms
                           ? 0
                           : k->peak;
        k->peak = k->busy;
        k->window_start = now;
    }
    if (++k->busy > k->peak)
        k->peak = k->busy;
}

static int keep_idle(const struct pool_key *k, const struct rg_pool_limits *l)
{
    unsigned demand = k->peak > k->prev_peak ? k->peak : k->prev_peak;
    unsigned bound = l->keep_max > l->keep_min ? l->keep_max : l->keep_min;

    if (l->keep_min == 0 || k->n_idle >= bound)
        return 0;
    return k->n_idle < l->keep_min || k->n_idle + k->busy < demand;
}

static void upconn_handle_closed(uv_handle_t *h)
{
    struct rg_upconn *up = h->data;

    if (--up->n_handles == 0) {
        if (up->fini != NULL)
            up->fini(up);
        rg_tls_free(up->tls);
        rg_free(up);
    }
}

void rg_upconn_close(struct rg_upconn *up)
{
    if (up->closing)
        return;
    up->closing = 1;
    idle_unlink(up);
    busy_set(up, 0, 0);
    uv_close((uv_handle_t *)&up->tcp, upconn_handle_closed);
    uv_close((uv_handle_t *)&up->timer, upconn_handle_closed);
}

static void close_idle(struct rg_pool *p)
{
    for (struct pool_key *k = p->keys; k != NULL; k = k->next) {
        while (k->idle != NULL)
            rg_upconn_close(k->idle);
    }
}

void rg_pool_drain(struct rg_pool *p)
{
    p->draining = 1;
    close_idle(p);
}

void rg_pool_free(struct rg_pool *p)
{
    struct pool_key *next;

    if (p == NULL)
        return;
    close_idle(p);
    for (struct pool_key *k = p->keys; k != NULL; k = next) {
        next = k->next;
        rg_free(k);
    }
    rg_free(p);
}

struct rg_upconn *rg_pool_take(struct rg_pool *p, const char *key,
                               uint32_t idle_ms)
{
    struct pool_key *k = pool_key(p, key, 0);
    struct rg_upconn *up;

    if (k == NULL || k->idle == NULL)
        return NULL;
    up = k->idle;
    idle_unlink(up);
    busy_set(up, 1, idle_ms);
    uv_timer_stop(&up->timer);
    up->reused = 1;
    return up;
}

static int upconn_reading(struct rg_upconn *up, int on);

/* ---- TLS (https upstreams) ---- */

static void tls_sent(void *arg, int status, size_t len)
{
    (void)arg;
    (void)status; /* a failed socket shows on the read side */
    (void)len;
}

/* Send what the engine has for the peer. */
static ssize_t tls_send(struct rg_upconn *up, rg_io_cb cb, void *arg)
{
    return rg_tls_send(up->tls, (uv_stream_t *)&up->tcp, cb, arg);
}

static void tls_step(struct rg_upconn *up)
{
    int rv = rg_tls_handshake(up->tls);

    if (tls_send(up, tls_sent, NULL) < 0)
        rv = RG_TLS_ERROR;
    if (rv == 0)
        return;
    up->handshaking = 0;
    if (rv < 0) {
        rg_log(RG_LOG_WARN, "upstream %s: TLS handshake: %s", up->key,
               rg_tls_error(up->tls));
        up->eof = 1; /* never reused */
    }
    up->on_connect(&up->creq, rv < 0 ? UV_EPROTO : 0);
}

static void tls_connected(uv_connect_t *creq, int status)
{
    struct rg_upconn *up = creq->data;

    if (status != 0 || up->closing) {
        up->on_connect(creq, status != 0 ? status : UV_ECANCELED);
        return;
    }
    up->handshaking = 1;
    if (upconn_reading(up, 1) != 0) {
        up->on_connect(creq, UV_ECONNRESET);
        return;
    }
    tls_step(up);
}

ssize_t rg_upconn_write(struct rg_upconn *up, const uv_buf_t *bufs, unsigned n,
                        rg_io_cb cb, void *arg)
{
    if (up->tls == NULL)
        return rg_io_write((uv_stream_t *)&up->tcp, bufs, n, cb, arg);
    for (unsigned i = 0; i < n; i++) {
        if (rg_tls_write(up->tls, bufs[i].base, bufs[i].len) != 0)
            return UV_EPROTO;
    }
    return tls_send(up, cb, arg);
}

int rg_upconn_connect(struct rg_pool *p, const char *key,
                      const struct sockaddr_storage *addr, uint32_t idle_ms,
                      size_t data_size, struct rg_tls_client *tls,
                      const char *host, uv_connect_cb cb,
                      struct rg_upconn **out)
{
    struct pool_key *k = pool_key(p, key, 1);
    struct rg_upconn *up;
    int rv;

    *out = NULL;
    if (k == NULL || (up = rg_calloc(1, sizeof(*up) + data_size)) == NULL)
        return -ENOMEM;
    up->pool = p;
    up->k = k;
    snprintf(up->key, sizeof(up->key), "%s", key);
    if (tls != NULL && (up->tls = rg_tls_new_client(tls, host)) == NULL) {
        rg_free(up);
        return -ENOMEM;
    }
    up->on_connect = cb;
    rv = uv_tcp_init(p->loop, &up->tcp);
    if (rv != 0) {
        rg_tls_free(up->tls);
        rg_free(up);
        return rv;
    }
    uv_timer_init(p->loop, &up->timer);
    up->tcp.data = up;
    up->timer.data = up;
    up->creq.data = up;
    up->n_handles = 2;
    busy_set(up, 1, idle_ms);
    uv_tcp_nodelay(&up->tcp, 1);
    rv = uv_tcp_connect(&up->creq, &up->tcp, (const struct sockaddr *)addr,
                        tls != NULL ? tls_connected : cb);
    if (rv != 0) {
        rg_upconn_close(up);
        return rv;
    }
    *out = up;
    return 0;
}

static void upconn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct rg_upconn *up = h->data;

    if (up->tls != NULL)
        *buf = uv_buf_init(up->pool->tbuf, sizeof(up->pool->tbuf));
    else if (up->alloc == NULL || up->req == NULL || !up->alloc(up, buf))
        *buf = uv_buf_init(up->pool->rbuf, up->pool->rbuf_size);
}

void rg_upconn_set_alloc(struct rg_upconn *up, rg_upconn_alloc_cb cb)
{
    up->alloc = cb;
}

static void upconn_deliver(struct rg_upconn *up, ssize_t nread,
                           const uv_buf_t *buf);

/* https: @n bytes of ciphertext read. The handshake goes on, or every
 * byte of plaintext they hold goes to the exchange now (to its reader even
 * if it paused meanwhile, as a plain read that was already made would),
 * so the engine keeps none back for a read that may never come. */
static void tls_on_read(struct rg_upconn *up, const char *p, size_t n)
{
    uv_buf_t pb;
    ssize_t got;

    if (rg_tls_feed(up->tls, p, n) != 0) {
        rg_upconn_close(up);
        return;
    }
    if (up->handshaking) {
        tls_step(up);
        return;
    }
    do {
        if (up->alloc == NULL || up->req == NULL || !up->alloc(up, &pb))
            pb = uv_buf_init(up->pool->rbuf, up->pool->rbuf_size);
        got = rg_tls_read(up->tls, pb.base, pb.len);
        if (got > 0)
            upconn_deliver(up, got, &pb);
    } while (got > 0 && !up->closing);
    if (up->closing)
        return;
    if (tls_send(up, tls_sent, NULL) < 0)
        got = RG_TLS_ERROR;
    if (got < 0) {
        up->eof = 1;
        upconn_deliver(up, got == RG_TLS_EOF ? UV_EOF : UV_ECONNRESET, &pb);
    }
}

/* The one read callback: the exchange's, or, on an idle connection, any
 * byte or EOF makes it unusable. */
static void upconn_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct rg_upconn *up = s->data;

    if (up->tls != NULL && nread > 0) {
        tls_on_read(up, buf->base, (size_t)nread);
        return;
    }
    if (nread < 0 && up->handshaking) {
        up->eof = 1;
        up->reading = 0;
        up->handshaking = 0;
        up->on_connect(&up->creq, UV_ECONNRESET);
        return;
    }
    upconn_deliver(up, nread, buf);
}

static void upconn_deliver(struct rg_upconn *up, ssize_t nread,
                           const uv_buf_t *buf)
{
    uv_stream_t *s = (uv_stream_t *)&up->tcp;
    uv_read_cb reader = up->on_read != NULL ? up->on_read : up->tls_reader;

    if (nread < 0) {    /* libuv stopped reading */
        up->eof = 1;
        up->reading = 0;
    }
    if (up->req != NULL && reader != NULL &&
        (up->on_read != NULL || up->tls != NULL))
        reader(s, nread, buf);
    else if (nread != 0)
        rg_upconn_close(up);
}

static int upconn_reading(struct rg_upconn *up, int on)
{
    if (up->closing || on == (int)up->reading)
        return 0;
    if (on) {
        int rv = uv_read_start((uv_stream_t *)&up->tcp, upconn_alloc,
                               upconn_on_read);

        if (rv != 0) {
            rg_upconn_close(up);
            return rv;
        }
    } else {
        uv_read_stop((uv_stream_t *)&up->tcp);
    }
    up->reading = on;
    return 0;
}

int rg_upconn_read(struct rg_upconn *up, uv_read_cb cb)
{
    up->on_read = cb;
    if (cb != NULL)
        up->tls_reader = cb;
    return upconn_reading(up, cb != NULL);
}

static void idle_expired(uv_timer_t *t)
{
    rg_upconn_close(t->data);
}

void rg_pool_put(struct rg_upconn *up, int reusable,
                 const struct rg_pool_limits *l)
{
    struct pool_key *k = up->k;

    up->req = NULL;
    up->on_read = NULL;
    up->tls_reader = NULL;
    up->alloc = NULL;
    busy_set(up, 0, l->idle_ms);
    if (!reusable || up->closing || up->eof || up->pool->draining ||
        !keep_idle(k, l) ||
        upconn_reading(up, 1) != 0) {
        rg_upconn_close(up);
        return;
    }
    uv_timer_start(&up->timer, idle_expired, l->idle_ms, 0);
    up->idle = 1;
    up->prev = NULL;
    up->next = k->idle;
    if (k->idle != NULL)
        k->idle->prev = up;
    k->idle = up;
    k->n_idle++;
}
