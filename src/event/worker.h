/* Worker threads: each owns a libuv loop, a SO_REUSEPORT listener on the
 * proxy port, its client connections and its upstream keep-alive pool
 * (docs/architecture.md §1). The control thread talks to workers only through the
 * functions below, which post to a mutex-guarded mailbox and wake the loop
 * with uv_async_send. */
#ifndef RG_EVENT_WORKER_H
#define RG_EVENT_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "http/gen.h"
#include "http/wctx.h"

struct rg_worker {
    struct rg_wctx x;            /* what the request path sees */
    uv_tcp_t listener;
    uv_tcp_t tls_listener;       /* proxy.tls_listen's, when tls is set */
    struct rg_tls_server *tls;   /* borrowed (rg_workers_start), or NULL */
    uv_timer_t accept_retry;     /* accepting again after ENOMEM */
    uv_check_t drain_check;      /* while draining: ends the loop when the
                                    last connection has been freed */
    uv_async_t wake;
    pthread_t thread;
    uv_async_t *done;            /* control's: signalled when the loop ends */
    atomic_int ended;            /* 1 once the worker's loop has returned */
    /* Mailbox, guarded by mu: */
    pthread_mutex_t mu;
    struct rg_gen *pending_gen;  /* reference, or NULL */
    int stop;                    /* 1 = drain, 2 = force close */
};

/* Start @n workers listening on @listen (each binds its own SO_REUSEPORT
 * socket), and on @tls_listen with TLS context @tls when both are set
 * (kept: @tls must outlive rg_workers_join), serving @gen (borrowed; each
 * worker takes a reference).
 * @access_log is a path or NULL. Each worker sends @done (kept; the
 * control loop's) when its loop ends. Returns the array (free with
 * rg_workers_join) or NULL with @eb filled. Thread: control. */
struct rg_worker *rg_workers_start(unsigned n, const char *listen,
                                   const char *tls_listen,
                                   struct rg_tls_server *tls,
                                   struct rg_gen *gen, const char *access_log,
                                   uv_async_t *done, struct rg_errbuf *eb);

/* Whether every worker's loop has ended. Thread: any. */
int rg_workers_ended(struct rg_worker *w, unsigned n);

/* Hand @gen (borrowed; a reference is taken per worker) to every worker;
 * each switches when its loop next runs. In-flight requests keep the
 * generation they started with. Thread: control. */
void rg_workers_publish(struct rg_worker *w, unsigned n, struct rg_gen *gen);

/* Ask workers to stop: @force 0 = stop accepting, close idle connections,
 * finish in-flight requests; 1 = close everything now. Thread: control. */
void rg_workers_stop(struct rg_worker *w, unsigned n, int force);

/* Allocations made by the worker threads so far (approximate, read
 * without locks; GET /debug/allocs on the status listener). */
unsigned long rg_workers_allocs(struct rg_worker *w, unsigned n);

/* Wait for all worker threads to end, then free @w. */
void rg_workers_join(struct rg_worker *w, unsigned n);

/* Number of client connections still open across workers (approximate,
 * read without locks; for drain progress logs). */
unsigned rg_workers_conns(struct rg_worker *w, unsigned n);

#endif
