/* The data plane to control mailbox: a ring under a mutex, drained by
 * swapping it out whole so that handlers run without the lock (a handler
 * may post again). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "core/ctlq.h"

static struct {
    pthread_mutex_t mu;
    uv_async_t wake;
    int started;                 /* guarded by mu */
    struct rg_ctlq_msg ring[RG_CTLQ_CAP];
    unsigned n;                  /* queued, guarded by mu */
    struct rg_ctlq_msg out[RG_CTLQ_CAP]; /* the drain's copy, control only */
    rg_ctlq_fn fn[RG_CTLQ_KINDS];
    void *arg[RG_CTLQ_KINDS];
    atomic_uint_fast64_t dropped;
} q = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void drain(uv_async_t *a)
{
    unsigned i, n;

    (void)a;
    pthread_mutex_lock(&q.mu);
    n = q.n;
    memcpy(q.out, q.ring, n * sizeof(q.ring[0]));
    q.n = 0;
    pthread_mutex_unlock(&q.mu);
    for (i = 0; i < n; i++) {
        const struct rg_ctlq_msg *m = &q.out[i];

        if (q.fn[m->kind] != NULL)
            q.fn[m->kind](q.arg[m->kind], m);
    }
}

int rg_ctlq_start(uv_loop_t *loop)
{
    int rv = uv_async_init(loop, &q.wake, drain);

    if (rv != 0)
        return rv;
    uv_unref((uv_handle_t *)&q.wake);
    pthread_mutex_lock(&q.mu);
    q.n = 0;
    q.started = 1;
    pthread_mutex_unlock(&q.mu);
    return 0;
}

void rg_ctlq_on(enum rg_ctlq_kind kind, rg_ctlq_fn fn, void *arg)
{
    if (kind <= 0 || kind >= RG_CTLQ_KINDS)
        return;
    q.fn[kind] = fn;
    q.arg[kind] = arg;
}

int rg_ctlq_post(const struct rg_ctlq_msg *m)
{
    int rv = 0, full = 0;

    if (m->kind == 0 || m->kind >= RG_CTLQ_KINDS)
        return -EINVAL;
    pthread_mutex_lock(&q.mu);
    if (!q.started)
        rv = -EAGAIN;
    else if (q.n == RG_CTLQ_CAP)
        rv = -EAGAIN, full = 1;
    else
        q.ring[q.n++] = *m;
    /* Sent under the lock: rg_ctlq_stop cannot close the handle between
     * the check and the send. */
    if (rv == 0)
        uv_async_send(&q.wake);
    pthread_mutex_unlock(&q.mu);
    if (full)
        atomic_fetch_add_explicit(&q.dropped, 1, memory_order_relaxed);
    return rv;
}

uint64_t rg_ctlq_dropped(void)
{
    return atomic_load_explicit(&q.dropped, memory_order_relaxed);
}

void rg_ctlq_stop(void)
{
    int was;

    pthread_mutex_lock(&q.mu);
    was = q.started;
    q.started = 0;
    q.n = 0;
    pthread_mutex_unlock(&q.mu);
    if (was)
        uv_close((uv_handle_t *)&q.wake, NULL);
}
