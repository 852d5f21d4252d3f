/* Upstream connections and the per-worker keep-alive pool. */
#include "upstream/pool.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "event/worker.h"

struct pool_key {
    char key[64];
    struct rg_upconn *idle;   /* most recently used first */
    unsigned n_idle;
    struct pool_key *next;
};

struct rg_pool {
    struct rg_worker *w;
    struct pool_key *keys;    /* few distinct upstreams: a list is enough */
};

struct rg_pool *rg_pool_new(struct rg_worker *w)
{
    struct rg_pool *p = rg_calloc(1, sizeof(*p));

    if (p != NULL)
        p->w = w;
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
    struct pool_key *k;

    if (!up->idle)
        return;
    k = pool_key(up->pool, up->key, 0);
    if (up->prev != NULL)
        up->prev->next = up->next;
    else if (k != NULL)
        k->idle = up->next;
    if (up->next != NULL)
        up->next->prev = up->prev;
    up->next = up->prev = NULL;
    up->idle = 0;
    if (k != NULL)
        k->n_idle--;
}

static void upconn_handle_closed(uv_handle_t *h)
{
    struct rg_upconn *up = h->data;

    if (--up->n_handles == 0) {
        rg_head_release(&up->head);
        rg_free(up);
    }
}

void rg_upconn_close(struct rg_upconn *up)
{
    if (up->closing)
        return;
    up->closing = 1;
    idle_unlink(up);
    uv_close((uv_handle_t *)&up->tcp, upconn_handle_closed);
    uv_close((uv_handle_t *)&up->timer, upconn_handle_closed);
}

void rg_pool_close_idle(struct rg_pool *p)
{
    if (p == NULL)
        return;
    for (struct pool_key *k = p->keys; k != NULL; k = k->next) {
        while (k->idle != NULL)
            rg_upconn_close(k->idle);
    }
}

void rg_pool_free(struct rg_pool *p)
{
    struct pool_key *next;

    if (p == NULL)
        return;
    rg_pool_close_idle(p);
    for (struct pool_key *k = p->keys; k != NULL; k = next) {
        next = k->next;
        rg_free(k);
    }
    rg_free(p);
}

struct rg_upconn *rg_pool_take(struct rg_pool *p, const char *key)
{
    struct pool_key *k = pool_key(p, key, 0);
    struct rg_upconn *up;

    if (k == NULL || k->idle == NULL)
        return NULL;
    up = k->idle;
    idle_unlink(up);
    uv_timer_stop(&up->timer);
    uv_read_stop((uv_stream_t *)&up->tcp);
    up->reading = 0;
    up->reused = 1;
    return up;
}

struct rg_upconn *rg_upconn_connect(struct rg_pool *p, const char *key,
                                    const struct sockaddr_storage *addr,
                                    uv_connect_cb cb)
{
    struct rg_upconn *up = rg_calloc(1, sizeof(*up));

    if (up == NULL)
        return NULL;
    up->w = p->w;
    up->pool = p;
    snprintf(up->key, sizeof(up->key), "%s", key);
    rg_head_init(&up->head, 65536);
    if (uv_tcp_init(&p->w->loop, &up->tcp) != 0) {
        rg_free(up);
        return NULL;
    }
    uv_timer_init(&p->w->loop, &up->timer);
    up->tcp.data = up;
    up->timer.data = up;
    up->creq.data = up;
    up->n_handles = 2;
    uv_tcp_nodelay(&up->tcp, 1);
    if (uv_tcp_connect(&up->creq, &up->tcp, (const struct sockaddr *)addr,
                       cb) != 0) {
        rg_upconn_close(up);
        return NULL;
    }
    return up;
}

static void idle_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct rg_upconn *up = h->data;

    *buf = uv_buf_init(up->w->rbuf, sizeof(up->w->rbuf));
}

/* Any byte or EOF on an idle connection makes it unusable. */
static void idle_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    if (nread != 0)
        rg_upconn_close(s->data);
}

static void idle_expired(uv_timer_t *t)
{
    rg_upconn_close(t->data);
}

void rg_pool_put(struct rg_pool *p, struct rg_upconn *up, int reusable,
                 uint32_t max_idle, uint32_t idle_ms)
{
    struct pool_key *k;

    up->req = NULL;
    uv_read_stop((uv_stream_t *)&up->tcp);
    up->reading = 0;
    if (!reusable || up->closing || up->w->draining ||
        (k = pool_key(p, up->key, 1)) == NULL || k->n_idle >= max_idle ||
        uv_read_start((uv_stream_t *)&up->tcp, idle_alloc, idle_read) != 0) {
        rg_upconn_close(up);
        return;
    }
    up->reading = 1;
    uv_timer_start(&up->timer, idle_expired, idle_ms, 0);
    up->idle = 1;
    up->prev = NULL;
    up->next = k->idle;
    if (k->idle != NULL)
        k->idle->prev = up;
    k->idle = up;
    k->n_idle++;
}
