/* Control-thread HTTP server: buffered requests, llhttp strict. */
#include "admin/httpd.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/io.h"
#include "core/tls.h"
#include "http/msg.h"
#include "http/status.h"

#define HTTPD_MAX_HEAD 16384
#define HTTPD_MAX_BODY (8u << 20)

struct rg_httpd {
    uv_tcp_t tcp;
    rg_httpd_handler cb;
    void *arg;
    struct hconn *conns;
    struct rg_tls_server *tls; /* admin.tls_certificate's, or NULL */
};

struct hconn {
    uv_tcp_t tcp;
    struct rg_httpd *h;
    struct hconn *next, *prev;
    struct rg_msg msg;
    struct rg_head head;
    struct rg_buf body;
    struct rg_tls *tls; /* between the socket and the parser, owned; NULL
                           in the clear */
    int busy;       /* a request is with the handler */
    int head_only;  /* the request is HEAD: the answer has no body */
    int feeding;    /* inside rg_msg_feed: the parser is in use */
    int close;      /* close after the response */
    int closing;
    int closed;     /* the handle is closed; freed once not busy */
};

static void hconn_free(struct hconn *c)
{
    rg_head_release(&c->head);
    rg_buf_release(&c->body);
    rg_tls_free(c->tls);
    rg_free(c);
}

/* TLS: send what the engine has for the peer. */
static void h_tls_send(struct hconn *c)
{
    (void)rg_tls_send(c->tls, (uv_stream_t *)&c->tcp, NULL, NULL);
}

/* Write @n buffers to @c, through TLS when it speaks it (best effort, as
 * the clear writes: a failed socket shows on the read side). */
static void h_write(struct hconn *c, const uv_buf_t *bufs, unsigned n)
{
    if (c->tls == NULL) {
        rg_io_write((uv_stream_t *)&c->tcp, bufs, n, NULL, NULL);
        return;
    }
    for (unsigned i = 0; i < n; i++) {
        if (bufs[i].len > 0 &&
            rg_tls_write(c->tls, bufs[i].base, bufs[i].len) != 0)
            return;
    }
    h_tls_send(c);
}

static void hconn_closed(uv_handle_t *hd)
{
    struct hconn *c = hd->data;

    c->closed = 1;
    if (c->busy)
        return; /* the handler still holds it: rg_httpd_respond frees */
    hconn_free(c);
}

static void hconn_close(struct hconn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else if (c->h != NULL)
        c->h->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    uv_close((uv_handle_t *)&c->tcp, hconn_closed);
}

#define HTTPD_MAX_PART 2048 /* bytes of path, and of query, with the NUL */

/* The request target's path and query ("?" excluded, NULL when none). */
static void h_target(const struct hconn *c, const char **url, size_t *pl,
                     const char **q, size_t *ql)
{
    size_t n = c->head.url_len;

    *url = rg_head_url(&c->head);
    *q = memchr(*url, '?', n);
    *pl = *q ? (size_t)(*q - *url) : n;
    *ql = *q ? n - *pl - 1 : 0;
    if (*q != NULL)
        (*q)++;
}

/* A target too long (414) or a declared body over the cap (413) is
 * refused before any of the body is read. */
static int h_head(struct rg_msg *m)
{
    llhttp_t *p = &m->p;
    struct hconn *c = m->data;
    const char *url, *q;
    size_t pl, ql;

    h_target(c, &url, &pl, &q, &ql);
    if (pl >= HTTPD_MAX_PART || ql >= HTTPD_MAX_PART) {
        m->err = RG_EURI;
        return -1;
    }
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > HTTPD_MAX_BODY) {
        m->err = RG_EBODY;
        return -1;
    }
    return 0;
}

static int h_body(struct rg_msg *m, const char *at, size_t n)
{
    struct hconn *c = m->data;

    if (c->body.len + n > HTTPD_MAX_BODY) /* chunked past the cap */
        return RG_EBODY;
    return rg_buf_add(&c->body, at, n); /* -ENOMEM: answered 503 */
}

static int h_done(struct rg_msg *m)
{
    llhttp_t *p = &m->p;
    struct hconn *c = m->data;
    struct rg_httpd_req req;
    char path[HTTPD_MAX_PART], query[HTTPD_MAX_PART];
    const char *url, *q;
    size_t pl, ql;

    h_target(c, &url, &pl, &q, &ql); /* h_head checked the sizes */
    memcpy(path, url, pl);
    path[pl] = '\0';
    if (ql > 0)
        memcpy(query, q, ql);
    query[ql] = '\0';
    c->close = !llhttp_should_keep_alive(p);
    c->busy = 1;
    c->head_only = p->method == HTTP_HEAD;
    req.method = llhttp_method_name(p->method);
    req.path = path;
    req.query = query;
    req.head = &c->head;
    req.body = c->body.p ? c->body.p : "";
    req.body_len = c->body.len;
    req.conn = c;
    c->h->cb(c->h->arg, &req);
    return HPE_PAUSED;
}

static const struct rg_msg_ops h_ops = {
    .head = h_head,
    .body = h_body,
    .done = h_done,
};

static void h_parser_init(struct hconn *c)
{
    rg_msg_init(&c->msg, RG_MSG_REQUEST, &h_ops, &c->head, c);
}

/* A request that cannot be parsed: answer why, then close. */
static void h_reply_error(struct hconn *c)
{
    int status = rg_msg_error_status(&c->msg);
    char body[96];
    char head[256];
    uv_buf_t b[2];
    int bl, hl;

    bl = snprintf(body, sizeof(body), "{\"message\":\"%s\"}\n",
                  status == 413 ? "Request body too large"
                                : rg_status_reason(status));
    hl = snprintf(head, sizeof(head),
                  "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                  "Content-Length: %d\r\nConnection: close\r\n\r\n",
                  status, rg_status_reason(status), bl);
    b[0] = uv_buf_init(head, (unsigned)hl);
    b[1] = uv_buf_init(body, (unsigned)bl);
    h_write(c, b, 2);
}

static void h_alloc(uv_handle_t *hd, size_t hint, uv_buf_t *buf)
{
    static char rbuf[65536]; /* control thread only */

    *buf = uv_buf_init(rbuf, sizeof(rbuf));
}

/* Ready the connection for its next request. Not from inside the parser
 * feed: llhttp still reads the parser. */
static void h_next(struct hconn *c)
{
    rg_head_release(&c->head);
    rg_buf_release(&c->body);
    c->head_only = 0;
    h_parser_init(c);
}

/* Parse @n bytes of request; 0 to go on reading, -1 when stopped. A
 * request answered during the feed is followed by the next one in the same
 * bytes; one the handler keeps stops reading until rg_httpd_respond (and
 * pipelined bytes behind it close the connection after its answer: one
 * request at a time on the control listeners). */
static int h_feed(struct hconn *c, const char *p, size_t n)
{
    uv_stream_t *s = (uv_stream_t *)&c->tcp;

    while (n > 0) {
        llhttp_errno_t err;
        const char *rest;

        c->feeding = 1;
        err = rg_msg_feed(&c->msg, p, n);
        c->feeding = 0;
        if (err == HPE_OK)
            return 0;
        if (err != HPE_PAUSED) {
            h_reply_error(c);
            c->close = 1;
            uv_read_stop(s);
            hconn_close(c);
            return -1;
        }
        rest = rg_msg_stop_pos(&c->msg);
        n -= rest != NULL ? (size_t)(rest - p) : n;
        p = rest;
        if (c->closing)
            return -1;
        if (c->busy) {
            if (n > 0)
                c->close = 1;
            uv_read_stop(s);
            return -1;
        }
        h_next(c); /* answered during the feed */
    }
    return 0;
}

/* TLS: decrypt what @n bytes of ciphertext hold and parse it. */
static void h_tls_read(struct hconn *c, const char *p, size_t n)
{
    static char plain[65536]; /* control thread only */
    ssize_t got;

    if (rg_tls_feed(c->tls, p, n) != 0) {
        hconn_close(c);
        return;
    }
    do {
        got = rg_tls_read(c->tls, plain, sizeof(plain));
    } while (got > 0 && h_feed(c, plain, (size_t)got) == 0);
    if (c->closing)
        return;
    h_tls_send(c);
    if (got < 0)
        hconn_close(c);
}

static void h_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct hconn *c = s->data;

    if (nread < 0) { /* EOF included: nothing is answered half-way */
        hconn_close(c);
        return;
    }
    if (c->tls != NULL)
        h_tls_read(c, buf->base, (size_t)nread);
    else
        h_feed(c, buf->base, (size_t)nread);
}

void rg_httpd_respond(void *conn, int status, const char *ctype,
                      const char *body, size_t len, const char *extra)
{
    struct hconn *c = conn;
    char head[512];
    uv_buf_t bufs[4];
    int hl;

    c->busy = 0;
    if (c->closed) {
        hconn_free(c);
        return;
    }
    if (c->closing)
        return;
    hl = snprintf(head, sizeof(head),
                  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                  "Content-Length: %zu\r\nServer: raftgate\r\n%s",
                  status, rg_status_reason(status), ctype, len,
                  c->close ? "Connection: close\r\n" : "");
    bufs[0] = uv_buf_init(head, (unsigned)hl);
    bufs[1] = uv_buf_init((char *)(extra ? extra : ""),
                          (unsigned)(extra ? strlen(extra) : 0));
    bufs[2] = uv_buf_init("\r\n", 2);
    /* HEAD: the Content-Length of the GET answer, no body (RFC 9110 9.3.2) */
    if (c->head_only)
        len = 0;
    bufs[3] = uv_buf_init((char *)(len > 0 ? body : ""), (unsigned)len);
    /* One write: a head and a body in separate segments meet Nagle and
     * delayed ACKs (40 ms a reply). */
    h_write(c, bufs, 4);
    if (c->close) {
        hconn_close(c);
        return;
    }
    if (c->feeding)
        return; /* answered from the handler call: h_feed goes on */
    h_next(c);
    uv_read_start((uv_stream_t *)&c->tcp, h_alloc, h_read);
    if (c->tls != NULL)
        h_tls_read(c, NULL, 0); /* plaintext the engine already holds */
}

static void h_connection(uv_stream_t *s, int status)
{
    struct rg_httpd *h = s->data;
    struct hconn *c;

    if (status != 0 || (c = rg_calloc(1, sizeof(*c))) == NULL)
        return;
    c->h = h;
    if (h->tls != NULL && (c->tls = rg_tls_new_server(h->tls, NULL)) == NULL) {
        rg_free(c);
        return;
    }
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = c;
    rg_head_init(&c->head, HTTPD_MAX_HEAD);
    rg_buf_init(&c->body, HTTPD_MAX_BODY);
    c->next = h->conns;
    if (c->next != NULL)
        c->next->prev = c;
    h->conns = c;
    if (uv_accept(s, (uv_stream_t *)&c->tcp) != 0) {
        hconn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    h_parser_init(c);
    uv_read_start((uv_stream_t *)&c->tcp, h_alloc, h_read);
}

struct rg_httpd *rg_httpd_start(uv_loop_t *loop, const char *listen,
                                rg_httpd_handler cb, void *arg,
                                struct rg_errbuf *eb)
{
    struct rg_httpd *h = rg_calloc(1, sizeof(*h));
    struct sockaddr_storage ss;
    int rv;

    if (h == NULL) {
        rg_errbuf_set(eb, "out of memory");
        return NULL;
    }
    h->cb = cb;
    h->arg = arg;
    uv_tcp_init(loop, &h->tcp);
    h->tcp.data = h;
    rv = rg_io_parse_addr(listen, &ss);
    if (rv == 0)
        rv = uv_tcp_bind(&h->tcp, (struct sockaddr *)&ss, 0);
    if (rv == 0)
        rv = uv_listen((uv_stream_t *)&h->tcp, 128, h_connection);
    if (rv != 0) {
        rg_errbuf_set(eb, "%s: %s", listen, uv_strerror(rv));
        uv_close((uv_handle_t *)&h->tcp, (uv_close_cb)rg_free);
        return NULL;
    }
    return h;
}

void rg_httpd_set_tls(struct rg_httpd *h, struct rg_tls_server *tls)
{
    h->tls = tls;
}

void rg_httpd_stop(struct rg_httpd *h)
{
    if (h == NULL)
        return;
    while (h->conns != NULL)
        hconn_close(h->conns);
    uv_close((uv_handle_t *)&h->tcp, (uv_close_cb)rg_free);
}
