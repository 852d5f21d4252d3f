/* Worker threads: loop, listener, mailbox, drain. */
#define _GNU_SOURCE /* pthread_setname_np */
#include "event/worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/io.h"
#include "core/tls.h"
#include "http/accesslog.h"
#include "http/conn.h"
#include "http/metrics.h"
#include "http/proxy.h"
#include "plugins/cache_store.h"
#include "upstream/pool.h"

/* Out of memory for a new connection: libuv holds the accepted socket and
 * stops watching the listener until it is taken, so try again shortly (as
 * nginx disables accept for a while on EMFILE) rather than never. */
#define ACCEPT_RETRY_MS 10

static int accept_one(struct rg_worker *w, uv_stream_t *s,
                      struct rg_tls_server *tls);

static void on_accept_retry(uv_timer_t *t)
{
    struct rg_worker *w = t->data;

    if (w->x.draining)
        return;
    if (accept_one(w, (uv_stream_t *)&w->listener, NULL) == 0 &&
        w->tls != NULL)
        accept_one(w, (uv_stream_t *)&w->tls_listener, w->tls);
}

/* Take one connection from @s (TLS with @tls, or NULL), counted for
 * /metrics; out of memory: retry shortly. Returns rg_conn_accept's. */
static int accept_one(struct rg_worker *w, uv_stream_t *s,
                      struct rg_tls_server *tls)
{
    int rv = rg_conn_accept(&w->x, s, tls);

    if (rv == 0 && w->x.met != NULL)
        atomic_fetch_add_explicit(&w->x.met->accepted, 1, memory_order_relaxed);
    else if (rv == -ENOMEM)
        uv_timer_start(&w->accept_retry, on_accept_retry, ACCEPT_RETRY_MS, 0);
    return rv;
}

static void on_connection(uv_stream_t *s, int status)
{
    struct rg_worker *w = s->data;
    struct rg_tls_server *tls =
        s == (uv_stream_t *)&w->tls_listener ? w->tls : NULL;

    if (status == 0)
        accept_one(w, s, tls);
}

static void worker_end(struct rg_worker *w)
{
    rg_pool_free(w->x.pool);
    w->x.pool = NULL;
    rg_accesslog_close(w->x.alog);
    w->x.alog = NULL;
    uv_close((uv_handle_t *)&w->wake, NULL);
}

static void on_drain_check(uv_check_t *h)
{
    struct rg_worker *w = h->data;

    if (w->x.n_conns > 0)
        return;
    uv_close((uv_handle_t *)h, NULL);
    worker_end(w);
}

static void worker_start_drain(struct rg_worker *w)
{
    w->x.draining = 1;
    uv_close((uv_handle_t *)&w->listener, NULL);
    if (w->tls != NULL)
        uv_close((uv_handle_t *)&w->tls_listener, NULL);
    uv_close((uv_handle_t *)&w->accept_retry, NULL);
    rg_conn_close_idle(&w->x);
    rg_pool_drain(w->x.pool);
    uv_check_init(&w->x.loop, &w->drain_check);
    w->drain_check.data = w;
    uv_check_start(&w->drain_check, on_drain_check);
}

static void on_wake(uv_async_t *a)
{
    struct rg_worker *w = a->data;
    struct rg_gen *g;
    int stop;

    pthread_mutex_lock(&w->mu);
    g = w->pending_gen;
    w->pending_gen = NULL;
    stop = w->stop;
    pthread_mutex_unlock(&w->mu);
    if (g != NULL) {
        rg_gen_unref(w->x.gen);
        w->x.gen = g;
    }
    if (stop >= 1 && !w->x.draining)
        worker_start_drain(w);
    if (stop == 2)
        rg_conn_close_all(&w->x);
}

static void *worker_main(void *arg)
{
    struct rg_worker *w = arg;
    char name[16];

    /* top -H and the tests (per-thread CPU in /proc) tell workers apart */
    snprintf(name, sizeof(name), "rg-worker-%u", w->x.index);
    pthread_setname_np(pthread_self(), name);
    rg_alloc_count_thread(&w->x.allocs);
    rg_alloc_thread_failpoint("worker_alloc");
    uv_run(&w->x.loop, UV_RUN_DEFAULT);
    rg_cache_thread_free(); /* the proxy-cache's store of this worker */
    atomic_store(&w->ended, 1);
    uv_async_send(w->done);
    return NULL;
}

static int listen_on(struct rg_worker *w, uv_tcp_t *l, int fd)
{
    int rv;

    uv_tcp_init(&w->x.loop, l);
    l->data = w;
    rv = uv_tcp_open(l, fd);
    return rv != 0 ? rv : uv_listen((uv_stream_t *)l, 511, on_connection);
}

static int worker_init(struct rg_worker *w, unsigned index, int fd, int tls_fd,
                       struct rg_gen *gen, const char *access_log,
                       struct rg_errbuf *eb)
{
    int rv;

    w->x.index = index;
    w->x.gen = rg_gen_ref(gen);
    if (getrandom(&w->x.rng, sizeof(w->x.rng), 0) != sizeof(w->x.rng) || w->x.rng == 0)
        w->x.rng = 0x9E3779B97F4A7C15ULL ^ (uint64_t)uv_hrtime();
    pthread_mutex_init(&w->mu, NULL);
    uv_loop_init(&w->x.loop);
    uv_timer_init(&w->x.loop, &w->accept_retry);
    w->accept_retry.data = w;
    rv = listen_on(w, &w->listener, fd);
    if (rv != 0)
        return rg_errbuf_set(eb, "proxy listener: %s", uv_strerror(rv));
    if (w->tls != NULL && (rv = listen_on(w, &w->tls_listener, tls_fd)) != 0)
        return rg_errbuf_set(eb, "proxy TLS listener: %s", uv_strerror(rv));
    uv_async_init(&w->x.loop, &w->wake, on_wake);
    w->wake.data = w;
    rg_blkcache_init(&w->x.chunks, RG_ARENA_CHUNK, RG_ARENA_KEEP);
    w->x.pool = rg_pool_new(&w->x.loop, w->x.rbuf, sizeof(w->x.rbuf));
    w->x.met = rg_wmet_new();
    if (w->x.pool == NULL || w->x.met == NULL)
        return rg_errbuf_set(eb, "out of memory");
    if (access_log != NULL) {
        w->x.alog = rg_accesslog_new(&w->x.loop, access_log, &rv);
        if (w->x.alog == NULL)
            return rg_errbuf_set(eb, "access log %s: %s", access_log,
                                 strerror(-rv));
    }
    return 0;
}

static uint16_t listen_port(const char *listen)
{
    const char *colon = strrchr(listen, ':');

    return colon ? (uint16_t)atoi(colon + 1) : 0;
}

/* SO_REUSEPORT would let a second raftgate silently share the port. */
static int port_free(const char *key, const char *listen, struct rg_errbuf *eb)
{
    int rv = rg_io_port_free(listen);

    return rv == 0
               ? 0
               : rg_errbuf_set(eb, "%s %s: %s", key, listen, uv_strerror(rv));
}

static int listen_socket(const char *key, const char *listen,
                         struct rg_errbuf *eb)
{
    int fd = rg_io_listen_socket(listen, 511);

    if (fd < 0)
        rg_errbuf_set(eb, "%s %s: %s", key, listen, uv_strerror(fd));
    return fd;
}

struct rg_worker *rg_workers_start(unsigned n, const char *listen,
                                   const char *tls_listen,
                                   struct rg_tls_server *tls,
                                   struct rg_gen *gen, const char *access_log,
                                   uv_async_t *done, struct rg_errbuf *eb)
{
    struct rg_worker *ws = rg_calloc(n, sizeof(*ws));
    unsigned i;

    if (ws == NULL) {
        rg_errbuf_set(eb, "out of memory");
        return NULL;
    }
    if (tls_listen == NULL)
        tls = NULL;
    if (tls != NULL)
        rg_tls_server_set_sni(tls, rg_conn_tls_sni);
    if (port_free("proxy.listen", listen, eb) != 0 ||
        (tls != NULL && port_free("proxy.tls_listen", tls_listen, eb) != 0)) {
        rg_free(ws);
        return NULL;
    }
    for (i = 0; i < n; i++) {
        int fd = listen_socket("proxy.listen", listen, eb);
        int tls_fd = -1;

        if (fd < 0)
            break;
        if (tls != NULL &&
            (tls_fd = listen_socket("proxy.tls_listen", tls_listen, eb)) < 0)
            break;
        ws[i].x.port = listen_port(listen);
        ws[i].x.scheme = "http";
        ws[i].x.tls_port = tls != NULL ? listen_port(tls_listen) : 0;
        ws[i].tls = tls;
        ws[i].done = done;
        if (worker_init(&ws[i], i, fd, tls_fd, gen, access_log, eb) != 0)
            break;
    }
    if (i < n) {
        /* Threads never started: nothing to join. The process exits on
         * this error, so the half-built loops are left to it. */
        return NULL;
    }
    for (i = 0; i < n; i++)
        pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]);
    return ws;
}

void rg_workers_publish(struct rg_worker *ws, unsigned n, struct rg_gen *gen)
{
    for (unsigned i = 0; i < n; i++) {
        struct rg_gen *old;

        pthread_mutex_lock(&ws[i].mu);
        old = ws[i].pending_gen;
        ws[i].pending_gen = rg_gen_ref(gen);
        pthread_mutex_unlock(&ws[i].mu);
        rg_gen_unref(old);
        uv_async_send(&ws[i].wake);
    }
}

void rg_workers_stop(struct rg_worker *ws, unsigned n, int force)
{
    for (unsigned i = 0; i < n; i++) {
        pthread_mutex_lock(&ws[i].mu);
        ws[i].stop = force ? 2 : 1;
        pthread_mutex_unlock(&ws[i].mu);
        uv_async_send(&ws[i].wake);
    }
}

int rg_workers_ended(struct rg_worker *ws, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (!atomic_load(&ws[i].ended))
            return 0;
    }
    return 1;
}

unsigned rg_workers_conns(struct rg_worker *ws, unsigned n)
{
    unsigned total = 0;

    for (unsigned i = 0; i < n; i++)
        total += __atomic_load_n(&ws[i].x.n_conns, __ATOMIC_RELAXED);
    return total;
}

unsigned long rg_workers_allocs(struct rg_worker *ws, unsigned n)
{
    unsigned long total = 0;

    for (unsigned i = 0; i < n; i++)
        total += __atomic_load_n(&ws[i].x.allocs, __ATOMIC_RELAXED);
    return total;
}

void rg_workers_join(struct rg_worker *ws, unsigned n)
{
    if (ws == NULL)
        return;
    for (unsigned i = 0; i < n; i++) {
        pthread_join(ws[i].thread, NULL);
        uv_loop_close(&ws[i].x.loop);
        rg_proxy_cache_free(&ws[i].x);        /* every request is gone */
        rg_blkcache_release(&ws[i].x.chunks);
        rg_wmet_free(ws[i].x.met);
        rg_gen_unref(ws[i].x.gen);
        rg_gen_unref(ws[i].pending_gen);
        pthread_mutex_destroy(&ws[i].mu);
    }
    rg_free(ws);
}
