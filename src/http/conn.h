/* Client connections on a worker: accept, read, drive the llhttp request
 * parser (strict mode), pipelining, header/idle timeouts, and writes back to
 * the client with backpressure. The exchange with the upstream lives in
 * http/proxy.c; this file only tells it when a request head or the end of a
 * request body has been parsed. */
#ifndef RG_HTTP_CONN_H
#define RG_HTTP_CONN_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "http/msg.h"

struct rg_wctx;
struct rg_req;
struct rg_tls;
struct rg_tls_server;

/* Writes queued to one peer past this many bytes stop reading from the
 * other side until they drain below the low-water mark (STYLE rule 7). */
#define RG_WQ_HIGH (256 * 1024)
#define RG_WQ_LOW (64 * 1024)

struct rg_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;          /* header/idle timeout, retry backoff,
                                  lingering close */
    uv_shutdown_t shutdown;    /* the lingering close's */
    struct rg_wctx *w;
    struct rg_conn *next, *prev; /* worker's connection list */
    struct rg_msg msg;         /* the request parser (strict) */
    struct rg_req *req;        /* current request, or NULL when idle */
    struct rg_tls *tls;        /* TLS listener's connections: the engine
                                  (core/tls.h) between the socket and all
                                  of the below, owned; NULL in the clear */
    char *pend;                /* unparsed bytes after a pause, owned: a
                                  worker chunk while they fit one */
    size_t pend_len, pend_cap;
    char *in;                  /* the head's input: a request head is read
                                  here (a worker chunk, kept while a
                                  request holds slices of it), else into
                                  the worker's shared buffer */
    uint32_t in_len;           /* bytes read into it so far */
    size_t out_bytes;          /* queued to the client, not yet written */
    char peer[48];             /* client IP, text */
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } peer_addr;               /* client IP (family 0 when unknown) */
    unsigned reading : 1;      /* uv_read_start is active */
    unsigned want_read : 1;    /* the parser may take more bytes */
    unsigned closing : 1;
    unsigned close_after_write : 1;
    unsigned tunnel : 1;       /* upgraded: bytes go straight through */
    unsigned in_drive : 1;
    unsigned redrive : 1;
    unsigned nudge : 1;        /* run the parser once even with no bytes */
    unsigned rd_eof : 1;       /* the client half-closed while a request was
                                  in progress; pend holds what it sent */
    unsigned head_done : 1;    /* the current request's head is parsed */
    unsigned linger : 1;       /* close after the response with the
                                  client's input drained first */
    unsigned lingering : 1;    /* ... doing so: reads are discarded */
    unsigned ev_head : 1;      /* parser events seen during one execute */
    unsigned ev_done : 1;
    unsigned n_handles : 2;    /* open uv handles; freed at 0 */
    unsigned tls_fed : 1;      /* TLS: ciphertext has been read */
};

/* Accept a pending connection on @listener for worker @w; with @tls
 * (borrowed, outlives the connection) it speaks TLS: the handshake runs
 * as bytes arrive, never blocking the loop, and the request path sees only
 * plaintext. Returns 0
 * (accepted, or refused and closed: over max_connections, draining), or
 * -ENOMEM when nothing was accepted: the connection stays pending and
 * libuv stops watching @listener until a later call takes it. Thread: @w's. */
int rg_conn_accept(struct rg_wctx *w, uv_stream_t *listener,
                   struct rg_tls_server *tls);

/* The certificate for TLS server name @name on connection @conn (a
 * struct rg_conn), from the SNIs of its worker's current generation, or
 * NULL for the listener's default: the TLS listener's rg_tls_sni_fn
 * (core/tls.h). Thread: @conn's worker. */
struct rg_tls_cert;
const struct rg_tls_cert *rg_conn_tls_sni(void *conn, const char *name);

/* The scheme ("http", "https") and port of the listener @c came in on,
 * for X-Forwarded-Proto and -Port. */
const char *rg_conn_scheme(const struct rg_conn *c);
uint16_t rg_conn_port(const struct rg_conn *c);

/* Write @n buffers to the client (core/io.h: written at once where the
 * socket takes them, the rest copied and queued; out_bytes counts only
 * the queued part, in bytes on the wire: TLS records over TLS). Returns 0 or a
 * uv error; the connection is marked for closing on error. Thread: @c's worker.
 */
int rg_conn_write(struct rg_conn *c, const uv_buf_t *bufs, unsigned n);


/* Let the parser run on past a paused request head: the request body (if
 * any) flows into the exchange from now on. */
void rg_conn_resume_body(struct rg_conn *c);

/* Stop or restart reading from the client for backpressure. */
void rg_conn_throttle(struct rg_conn *c, int on);

/* The exchange for the current request is over and its response has been
 * queued. @keepalive 0 closes the connection once writes drain; 1 frees the
 * request and goes on to the next one (pipelined bytes first). */
void rg_conn_request_finished(struct rg_conn *c, int keepalive);

/* Switch to tunnel mode after a 101: further client bytes (and any already
 * buffered) go to rg_proxy_tunnel_data. */
void rg_conn_start_tunnel(struct rg_conn *c);

/* Close the connection now (pending writes are dropped). Idempotent.
 * The current request's exchange ends at once (rg_proxy_abort), but its
 * memory is freed only once the connection's handles have closed, from
 * the loop: a caller that still holds the request after a failed
 * rg_conn_write may read it, and must only unwind (c->closing is set). */
void rg_conn_close(struct rg_conn *c);

/* Close idle connections (no request in flight) for draining. */
void rg_conn_close_idle(struct rg_wctx *w);

/* Close every connection (forced shutdown). */
void rg_conn_close_all(struct rg_wctx *w);

#endif
