/* Client connections: accept, parse with llhttp (strict), pipeline,
 * time out, write back. */
#include "http/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "core/failpoint.h"
#include "core/log.h"
#include "core/io.h"
#include "core/tls.h"
#include "http/gen.h"
#include "http/wctx.h"
#include "http/proxy.h"

static void conn_drive(struct rg_conn *c);
static void pend_free(struct rg_conn *c);
static void conn_in_free(struct rg_conn *c);
static void conn_close_after_write(struct rg_conn *c);
static void on_head_timeout(uv_timer_t *t);
static void conn_set_reading(struct rg_conn *c, int on);
static void conn_write_done(void *arg, int status, size_t len);
static int conn_wrote(struct rg_conn *c, ssize_t queued);

/* Request events (http/msg.h). They only record; the exchange is started
 * after rg_msg_feed returns, so no callback frees the parser under it. */

static int req_begin(struct rg_msg *m)
{
    struct rg_conn *c = m->data;

    if (c->req == NULL)
        c->req = rg_proxy_req_new(c);
    if (c->req == NULL)
        return -ENOMEM;
    m->head = &c->req->head;
    c->head_done = 0;
    if (c->in != NULL)
        rg_head_set_input(m->head, c->in, c->in_len);
    /* From the first byte of a request, its head must come in time. */
    uv_timer_start(&c->timer, on_head_timeout,
                   c->w->gen->limits.header_timeout_ms, 0);
    return 0;
}

static int req_head(struct rg_msg *m)
{
    struct rg_conn *c = m->data;

    c->ev_head = 1;
    c->head_done = 1;
    return HPE_PAUSED;
}

static int req_body(struct rg_msg *m, const char *at, size_t n)
{
    struct rg_conn *c = m->data;

    return rg_proxy_body(c->req, at, n);
}

static int req_done(struct rg_msg *m)
{
    struct rg_conn *c = m->data;

    c->ev_done = 1;
    /* An upgrade pauses on its own (HPE_PAUSED_UPGRADE). */
    return m->p.upgrade ? 0 : HPE_PAUSED;
}

static const struct rg_msg_ops req_ops = {
    .begin = req_begin,
    .head = req_head,
    .body = req_body,
    .done = req_done,
};

/* Handles and lifetime. */

static void conn_handle_closed(uv_handle_t *h)
{
    struct rg_conn *c = h->data;

    if (--c->n_handles > 0)
        return;
    /* The request outlives every call that may still hold it when the
     * connection closes (a failed write deep in the exchange): it goes
     * here, from the loop, with the log phase and the access log line. */
    rg_proxy_req_free(c->req);
    c->w->n_conns--;
    pend_free(c);
    conn_in_free(c);
    rg_tls_free(c->tls);
    rg_free(c);
}

void rg_conn_close(struct rg_conn *c)
{
    struct rg_wctx *w = c->w;

    if (c->closing)
        return;
    c->closing = 1;
    if (c->req != NULL)
        rg_proxy_abort(c->req); /* freed when the handles have closed */
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static void on_idle_timeout(uv_timer_t *t)
{
    rg_conn_close(t->data);
}

static void on_head_timeout(uv_timer_t *t)
{
    struct rg_conn *c = t->data;

    if (c->req == NULL) {
        rg_conn_close(c);
        return;
    }
    c->want_read = 0;
    conn_set_reading(c, 0);
    rg_proxy_reply_error(c, c->req, 408, "Request timeout", 1);
}

/* Between keep-alive requests the idle timeout applies; a new connection
 * must send its first request head within the header timeout
 * (slowloris). */
static void conn_wait_request(struct rg_conn *c, int first)
{
    const struct rg_limits *l = &c->w->gen->limits;

    if (first)
        uv_timer_start(&c->timer, on_head_timeout, l->header_timeout_ms, 0);
    else
        uv_timer_start(&c->timer, on_idle_timeout, l->idle_timeout_ms, 0);
}

/* Reading. */

/* The head's input: reading a request head goes to c->in, so that its
 * fields are slices of what was read (http/head.h), not copies. It is
 * given back when no request holds slices of it (an idle connection keeps
 * none); a request keeps it to its end, a tunnel or a slow upload too.
 * Reads go there while RG_HEAD_IN_MIN_ROOM bytes are left. */

static void conn_in_free(struct rg_conn *c)
{
    rg_blk_put(&c->w->chunks, c->in);
    c->in = NULL;
    c->in_len = 0;
}

/* Make c->in ready for the next read when it is the head's to take (the
 * parser wants bytes of a head, none pending ahead of them): empty it
 * when no request holds slices of it, take a chunk when there is none.
 * Returns whether the read goes there (enough room left). */
static int conn_in_ready(struct rg_conn *c)
{
    if (!c->want_read || c->pend_len > 0 || c->tunnel ||
        (c->req != NULL && c->head_done))
        return 0;
    if (c->req == NULL)
        c->in_len = 0; /* nothing refers to what it held */
    if (c->in == NULL && (c->in = rg_blk_get(&c->w->chunks)) == NULL)
        return 0;
    return RG_ARENA_CHUNK - c->in_len >= RG_HEAD_IN_MIN_ROOM;
}

/* Where the next plaintext goes: read from the socket, or decrypted. */
static void conn_plain_buf(struct rg_conn *c, uv_buf_t *buf)
{
    if (conn_in_ready(c))
        *buf = uv_buf_init(c->in + c->in_len, RG_ARENA_CHUNK - c->in_len);
    else
        *buf = uv_buf_init(c->w->rbuf, sizeof(c->w->rbuf));
}

static void conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct rg_conn *c = h->data;

    if (c->tls != NULL)
        *buf = uv_buf_init(c->w->tlsbuf, sizeof(c->w->tlsbuf));
    else
        conn_plain_buf(c, buf);
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void conn_set_reading(struct rg_conn *c, int on)
{
    if (c->closing || on == (int)c->reading)
        return;
    if (on) {
        if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read) != 0) {
            rg_conn_close(c);
            return;
        }
    } else {
        uv_read_stop((uv_stream_t *)&c->tcp);
    }
    c->reading = on;
}

/* Bytes read while the parser is paused (the request is being proxied)
 * wait in pend: reading stays on across a request, which saves the
 * epoll_ctl calls of stopping and restarting it, and pend is bounded. */
#define PEND_MAX 65536

void rg_conn_throttle(struct rg_conn *c, int on)
{
    conn_set_reading(c, !on && !c->rd_eof && c->pend_len < PEND_MAX);
}

/* pend's storage: a chunk of the worker's block cache while the bytes fit
 * one (a body or a pipelined request after a paused head then costs no
 * allocation in steady state), else the heap. */
static void pend_store_free(struct rg_conn *c, char *p, size_t cap)
{
    if (cap == RG_ARENA_CHUNK)
        rg_blk_put(&c->w->chunks, p);
    else
        rg_free(p);
}

static int pend_grow(struct rg_conn *c, size_t need)
{
    size_t cap = c->pend_cap;
    char *np;

    if (need <= cap)
        return 0;
    cap = need <= RG_ARENA_CHUNK ? RG_ARENA_CHUNK
          : need < 2 * cap       ? 2 * cap
                                 : need;
    np = cap == RG_ARENA_CHUNK ? rg_blk_get(&c->w->chunks) : rg_malloc(cap);
    if (np == NULL)
        return -1;
    if (c->pend_len > 0)
        memcpy(np, c->pend, c->pend_len);
    pend_store_free(c, c->pend, c->pend_cap);
    c->pend = np;
    c->pend_cap = cap;
    return 0;
}

static void pend_free(struct rg_conn *c)
{
    pend_store_free(c, c->pend, c->pend_cap);
    c->pend = NULL;
    c->pend_len = c->pend_cap = 0;
}

/* Keep @n bytes at @p (in pend itself, or borrowed) as pend. */
static int keep_pending(struct rg_conn *c, const char *p, size_t n)
{
    if (n == 0) {
        pend_free(c);
        return 0;
    }
    if (p >= c->pend && p < c->pend + c->pend_len) {
        memmove(c->pend, p, n);
        c->pend_len = n;
        return 0;
    }
    c->pend_len = 0;
    if (pend_grow(c, n) != 0)
        return -1;
    memcpy(c->pend, p, n);
    c->pend_len = n;
    return 0;
}

static int pend_append(struct rg_conn *c, const char *p, size_t n)
{
    if (pend_grow(c, c->pend_len + n) != 0)
        return -1;
    memcpy(c->pend + c->pend_len, p, n);
    c->pend_len += n;
    return 0;
}

static void conn_parse_error(struct rg_conn *c, llhttp_errno_t err)
{
    struct rg_req *r = c->req;
    int status = rg_msg_error_status(&c->msg);

    rg_log(RG_LOG_INFO, "worker %u: client %s: bad request: %s (%s)",
           c->w->index, c->peer, llhttp_errno_name(err),
           llhttp_get_error_reason(&c->msg.p));
    if (r != NULL && r->resp_started) {
        rg_conn_close(c);
        return;
    }
    rg_proxy_reply_error(c, r, status,
                         r != NULL && r->body_capped ? r->body_cap_msg : NULL,
                         1);
}

/* Run the parser over @p..@p+@n; keep what a pause leaves unparsed. */
static void conn_feed(struct rg_conn *c, const char *p, size_t n)
{
    llhttp_errno_t err;
    const char *pos;

    err = rg_msg_feed(&c->msg, p, n);
    /* A request starts at a feed's first byte (the parser pauses at each
     * message's end), so while its head is not whole all of @n is its:
     * read, or refused with the head (a 400). */
    if (c->req != NULL && !c->head_done)
        c->req->head_rcvd += n;
    if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
        pos = rg_msg_stop_pos(&c->msg);
        c->want_read = 0;
        if (keep_pending(c, pos, (size_t)(p + n - pos)) != 0) {
            rg_conn_close(c);
            return;
        }
    } else if (err != HPE_OK) {
        c->want_read = 0;
        conn_parse_error(c, err);
        return;
    } else if (c->pend != NULL && p == c->pend) {
        keep_pending(c, NULL, 0);
    }
    if (c->ev_head && !c->closing) {
        c->ev_head = 0;
        uv_timer_stop(&c->timer);
        rg_proxy_start(c->req);
    }
    if (c->ev_done && !c->closing) {
        c->ev_done = 0;
        if (c->req == NULL) {
            /* The end of a bodiless request answered before its body was
             * parsed: just move on to the next request. */
            rg_msg_resume(&c->msg);
            c->want_read = 1;
            c->nudge = 1;
            c->redrive = 1;
            return;
        }
        rg_proxy_body_done(c->req);
    }
}

/* The parser wants bytes and pend is empty: read more, or, after the
 * client's EOF, finish (a complete request still gets its response). */
static void conn_input_end(struct rg_conn *c)
{
    if (!c->rd_eof) {
        if (c->out_bytes < RG_WQ_HIGH)
            conn_set_reading(c, 1);
        return;
    }
    if (c->req != NULL && c->req->body_done)
        c->req->client_close = 1;
    else
        rg_conn_close(c);
}

/* Feed pending bytes and decide whether to read more. Re-entrant calls
 * (a request finishing inside the feed) only ask the outer call to loop. */
static void conn_drive(struct rg_conn *c)
{
    if (c->in_drive) {
        c->redrive = 1;
        return;
    }
    c->in_drive = 1;
    do {
        c->redrive = 0;
        if (c->closing || c->tunnel)
            break;
        if (c->want_read && (c->pend_len > 0 || c->nudge)) {
            /* After a resume the parser may complete a bodiless message
             * without further input: run it even over zero bytes. */
            c->nudge = 0;
            conn_feed(c, c->pend_len > 0 ? c->pend : "", c->pend_len);
        }
        if (!c->closing && !c->tunnel && c->want_read && c->pend_len == 0)
            conn_input_end(c);
    } while (c->redrive && !c->closing);
    c->in_drive = 0;
}

/* @nread bytes of plaintext at @buf (from the socket, or decrypted), or
 * the end of the input (a negative uv error). */
static void conn_input(struct rg_conn *c, ssize_t nread, const uv_buf_t *buf)
{
    if (nread < 0) {
        /* EOF or error. A client that half-closes after a complete request
         * still gets its response; otherwise the exchange is aborted. */
        if (nread == UV_EOF && c->req != NULL && !c->tunnel &&
            (c->req->body_done || !c->want_read)) {
            conn_set_reading(c, 0);
            c->rd_eof = 1;
            if (c->req->body_done)
                c->req->client_close = 1;
            return;
        }
        rg_conn_close(c);
        return;
    }
    if (c->in != NULL && buf->base == c->in + c->in_len) {
        c->in_len += (uint32_t)nread;
        if (c->req != NULL)
            rg_head_set_input(&c->req->head, c->in, c->in_len);
    }
    if (nread == 0) {
        /* EAGAIN after a full read, or a spurious wakeup: an idle
         * connection gives back the chunk conn_alloc took. */
        if (c->req == NULL)
            conn_in_free(c);
        return;
    }
    if (c->tunnel) {
        rg_proxy_tunnel_data(c->req, buf->base, (size_t)nread);
        return;
    }
    if (!c->want_read) {
        if (pend_append(c, buf->base, (size_t)nread) != 0) {
            rg_conn_close(c);
            return;
        }
        if (c->pend_len >= PEND_MAX)
            conn_set_reading(c, 0);
        return;
    }
    c->in_drive = 1;
    conn_feed(c, buf->base, (size_t)nread);
    c->in_drive = 0;
    if (c->redrive)
        conn_drive(c);
    if (c->req == NULL)
        conn_in_free(c);
}

/* TLS: send what the engine has for the peer (handshake, records, alerts).
 * Returns what rg_io_write does. */
static ssize_t conn_tls_send(struct rg_conn *c)
{
    return rg_tls_send(c->tls, (uv_stream_t *)&c->tcp, conn_write_done, c);
}

/* A plaintext request on the TLS port gets nginx's answer in the clear,
 * then the connection closes (lingering, so the client reads it). */
static void conn_tls_plain_refused(struct rg_conn *c)
{
    static const char resp[] =
        "HTTP/1.1 400 Bad Request\r\n"
        "Content-Type: text/plain\r\n"
        "Content-Length: 52\r\n"
        "Connection: close\r\n\r\n"
        "The plain HTTP request was sent to the HTTPS port.\r\n";
    uv_buf_t b = uv_buf_init((char *)resp, sizeof(resp) - 1);

    rg_log(RG_LOG_INFO,
           "worker %u: client %s: plain HTTP request on the "
           "TLS port",
           c->w->index, c->peer);
    c->want_read = 0;
    c->linger = 1;
    c->close_after_write = 1;
    if (conn_wrote(c, rg_io_write((uv_stream_t *)&c->tcp, &b, 1,
                                  conn_write_done, c)) == 0 &&
        c->out_bytes == 0)
        conn_close_after_write(c);
}

/* TLS: @n bytes of ciphertext read. Every byte of plaintext they hold is
 * decrypted and handled now (into pend while the parser is paused, which
 * reading stops at PEND_MAX as in the clear), so the engine keeps none
 * back for a read that may never come. */
static void conn_tls_read(struct rg_conn *c, const char *p, size_t n)
{
    uv_buf_t pb;
    ssize_t got;

    if (!c->tls_fed && rg_tls_looks_plain(p, n)) {
        conn_tls_plain_refused(c);
        return;
    }
    c->tls_fed = 1;
    if (rg_tls_feed(c->tls, p, n) != 0) {
        rg_conn_close(c);
        return;
    }
    do {
        conn_plain_buf(c, &pb);
        got = rg_tls_read(c->tls, pb.base, pb.len);
        if (got > 0)
            conn_input(c, got, &pb);
    } while (got > 0 && !c->closing && !c->lingering);
    if (c->closing || c->lingering)
        return;
    if (got == RG_TLS_ERROR) {
        rg_log(RG_LOG_INFO, "worker %u: client %s: TLS: %s", c->w->index,
               c->peer, rg_tls_error(c->tls));
        (void)conn_tls_send(c); /* the alert, best effort */
        rg_conn_close(c);
        return;
    }
    if (conn_wrote(c, conn_tls_send(c)) != 0)
        return;
    conn_input(c, got == RG_TLS_EOF ? UV_EOF : 0, &pb);
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct rg_conn *c = s->data;

    if (c->lingering) {
        if (nread < 0)
            rg_conn_close(c); /* the client's EOF: done */
        return;               /* else dropped */
    }
    if (c->tls != NULL && nread > 0)
        conn_tls_read(c, buf->base, (size_t)nread);
    else
        conn_input(c, nread, buf);
}

/* Called by the exchange. */

void rg_conn_resume_body(struct rg_conn *c)
{
    rg_msg_resume(&c->msg);
    c->want_read = 1;
    c->nudge = 1;
    conn_drive(c);
}

static void conn_write_done(void *arg, int status, size_t len)
{
    struct rg_conn *c = arg;
    size_t before = c->out_bytes;

    c->out_bytes -= len;
    if (c->closing)
        return;
    if (status != 0) {
        rg_conn_close(c);
        return;
    }
    if (c->close_after_write && c->out_bytes == 0) {
        if (!c->lingering)
            conn_close_after_write(c);
        return;
    }
    if (before >= RG_WQ_LOW && c->out_bytes < RG_WQ_LOW) {
        if (c->req != NULL)
            rg_proxy_client_drained(c->req);
        conn_drive(c);
    }
}

/* Lingering close (nginx's lingering_close): a response that refuses a
 * request the client is still sending (431, 413...) must not be lost to
 * the RST a close with unread input sends. The write side is shut
 * (FIN after the response), what the client still sends is read and
 * dropped, and the connection closes at its EOF or after LINGER_MS. */
#define LINGER_MS 5000

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status; /* UV_ECANCELED when the connection closed first */
}

static void conn_close_after_write(struct rg_conn *c)
{
    if (c->tls != NULL && rg_tls_established(c->tls)) {
        rg_tls_close(c->tls); /* close_notify, best effort */
        (void)conn_tls_send(c);
    }
    if (!c->linger || c->rd_eof) {
        rg_conn_close(c);
        return;
    }
    c->lingering = 1;
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        rg_conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, on_idle_timeout, LINGER_MS, 0);
    conn_set_reading(c, 1);
}

/* After a write was issued: count what it queued, or close on error. */
static int conn_wrote(struct rg_conn *c, ssize_t queued)
{
    if (queued < 0) {
        rg_conn_close(c);
        return (int)queued;
    }
    c->out_bytes += (size_t)queued;
    return 0;
}

int rg_conn_write(struct rg_conn *c, const uv_buf_t *bufs, unsigned n)
{
    if (c->closing)
        return UV_ECANCELED;
    if (RG_FAILPOINT_ERR("conn_write"))
        return conn_wrote(c, UV_ENOBUFS);
    if (c->tls != NULL) {
        for (unsigned i = 0; i < n; i++) {
            if (rg_tls_write(c->tls, bufs[i].base, bufs[i].len) != 0)
                return conn_wrote(c, UV_EPROTO);
        }
        return conn_wrote(c, conn_tls_send(c));
    }
    return conn_wrote(c, rg_io_write((uv_stream_t *)&c->tcp, bufs, n,
                                     conn_write_done, c));
}

void rg_conn_request_finished(struct rg_conn *c, int keepalive)
{
    if (c->closing)
        return;
    /* Refused before its end: the client may still be sending it. */
    c->linger = c->req != NULL && !c->req->body_done;
    rg_proxy_req_free(c->req);
    c->req = NULL;
    c->msg.head = NULL; /* was the request's */
    c->head_done = 0;
    conn_in_free(c);
    if (!keepalive || c->w->draining) {
        c->want_read = 0;
        conn_set_reading(c, 0);
        c->close_after_write = 1;
        if (c->out_bytes == 0)
            conn_close_after_write(c);
        return;
    }
    rg_msg_resume(&c->msg);
    c->want_read = 1;
    c->nudge = 1;
    conn_wait_request(c, 0);
    conn_drive(c);
}

void rg_conn_start_tunnel(struct rg_conn *c)
{
    c->tunnel = 1;
    c->want_read = 1;
    uv_timer_stop(&c->timer);
    if (c->pend_len > 0) {
        rg_proxy_tunnel_data(c->req, c->pend, c->pend_len);
        keep_pending(c, NULL, 0);
    }
    if (!c->closing && c->out_bytes < RG_WQ_HIGH)
        conn_set_reading(c, 1);
}

static void conn_peer(struct rg_conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);

    c->peer[0] = '\0';
    memset(&c->peer_addr, 0, sizeof(c->peer_addr));
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET6) {
        memcpy(&c->peer_addr.in6, &ss, sizeof(c->peer_addr.in6));
        uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer, sizeof(c->peer));
    } else {
        memcpy(&c->peer_addr.in, &ss, sizeof(c->peer_addr.in));
        uv_ip4_name((struct sockaddr_in *)&ss, c->peer, sizeof(c->peer));
    }
}

const struct rg_tls_cert *rg_conn_tls_sni(void *conn, const char *name)
{
    struct rg_conn *c = conn;
    const struct rg_gateway *gw = &c->w->gen->gw;
    size_t i = rg_gateway_find_sni(gw, name);

    return i == RG_NO_INDEX ? NULL : gw->certificates[i].tls;
}

const char *rg_conn_scheme(const struct rg_conn *c)
{
    return c->tls != NULL ? "https" : c->w->scheme;
}

uint16_t rg_conn_port(const struct rg_conn *c)
{
    return c->tls != NULL ? c->w->tls_port : c->w->port;
}

int rg_conn_accept(struct rg_wctx *w, uv_stream_t *listener,
                   struct rg_tls_server *tls)
{
    struct rg_conn *c = rg_calloc(1, sizeof(*c));

    if (c == NULL)
        return -ENOMEM;
    if (tls != NULL && (c->tls = rg_tls_new_server(tls, c)) == NULL) {
        rg_free(c);
        return -ENOMEM;
    }
    c->w = w;
    uv_tcp_init(&w->loop, &c->tcp);
    uv_timer_init(&w->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->n_handles = 2;
    c->next = w->conns;
    if (c->next != NULL)
        c->next->prev = c;
    w->conns = c;
    w->n_conns++;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0 ||
        w->n_conns > w->gen->limits.max_connections || w->draining) {
        rg_conn_close(c);
        return 0;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    conn_peer(c);
    rg_msg_init(&c->msg, RG_MSG_REQUEST, &req_ops, NULL, c);
    c->want_read = 1;
    conn_wait_request(c, 1);
    conn_set_reading(c, 1);
    return 0;
}

void rg_conn_close_idle(struct rg_wctx *w)
{
    struct rg_conn *next;

    for (struct rg_conn *c = w->conns; c != NULL; c = next) {
        next = c->next;
        if (c->req == NULL && c->pend_len == 0)
            rg_conn_close(c);
    }
}

void rg_conn_close_all(struct rg_wctx *w)
{
    while (w->conns != NULL)
        rg_conn_close(w->conns);
}
