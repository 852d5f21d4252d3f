/* The Raft transport wrapper; see transport.h.
 *
 * listen/accept and close delegate to raft_uv_tcp; accepted streams get our
 * socket options before raft_uv sees them. Outgoing connects are done here
 * rather than delegated, because raft_uv_tcp creates the socket inside
 * uv_tcp_connect (too late for TCP_USER_TIMEOUT to bound SYN retries) and
 * has no deadline. We speak raft_uv_tcp's handshake (protocol 1: u64
 * protocol, u64 server id, u64 address size, the address NUL-padded to a
 * multiple of 8, all little-endian), which its accept side checks.
 *
 * Keyed mode (a cluster key): after the TCP connect we send HELLO, read
 * REPLY, check that the acceptor is the node we meant (its id) and proved
 * the key, then send our PROOF and raft_uv_tcp's handshake in one write
 * (hsauth.h); the connect deadline covers all of it. */
#include "raft/transport_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/alloc.h"
#include "core/secret.h"
#include "raft/bytes.h"

#define HS_PROTOCOL RG_TR_HS_PROTOCOL
#define HOST_MAX RG_TR_HOST_MAX

#define OUTER(p) \
    ((struct rg_transport *)((char *)(p) - offsetof(struct rg_transport, outer)))
#define INNER(p) \
    ((struct rg_transport *)((char *)(p) - offsetof(struct rg_transport, inner)))

/* One outgoing connect. Freed when every handle it owns is closed; the
 * raft_uv callback fires exactly once: at success, or at that release. */
struct tconn {
    struct rg_transport *t;
    struct raft_uv_connect *req; /* raft_uv's; NULL once answered */
    uv_tcp_t *tcp;               /* raft_malloc'd: raft_uv frees it */
    uv_getaddrinfo_t gai;
    uv_connect_t connect;
    uv_write_t write;
    uv_timer_t timer;
    uv_buf_t hs;                 /* handshake bytes, rg_malloc'd; keyed:
                                    RG_HS_MAC bytes of PROOF first */
    char port[8];
    /* Keyed mode: */
    uint64_t peer_id;            /* whom we mean to reach */
    char peer[64];               /* its address, for the WARN */
    unsigned char nonce_c[RG_HS_NONCE];
    unsigned char hello[RG_HS_HELLO_LEN];
    unsigned char reply[RG_HS_REPLY_LEN];
    size_t got;                  /* bytes of @reply read */
    int status;                  /* RAFT_* for the callback when failing */
    int refs;                    /* open handles + pending requests */
    int failed;
    struct tconn *next, *prev;   /* t's pending list */
};

/* ---- Socket options ---- */

void rg_tr_set_opts(const struct rg_transport_opts *o, uv_tcp_t *tcp)
{
    uv_os_fd_t fd;
    int v;

    uv_tcp_nodelay(tcp, 1);
    if (uv_fileno((uv_handle_t *)tcp, &fd) != 0)
        return;
    if (o->keepalive_s > 0) {
        uv_tcp_keepalive(tcp, 1, o->keepalive_s);
        v = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &v, sizeof(v));
        v = 3;
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &v, sizeof(v));
    }
    if (o->user_timeout_ms > 0) {
        v = (int)o->user_timeout_ms;
        setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &v, sizeof(v));
    }
}

/* ---- Outgoing connects ---- */

void rg_tr_maybe_fire_close(struct rg_transport *t)
{
    if (t->closing && t->inner_closed && t->live == 0 && t->close_cb != NULL)
        t->close_cb(&t->outer);
}

struct rg_hs_key rg_tr_key(const struct rg_transport *t)
{
    return (struct rg_hs_key){t->key, t->key_len};
}

void rg_tr_refused(struct rg_transport *t, const char *peer, const char *why)
{
    char msg[256];
    unsigned more = 0;

    if (t->opts.warn == NULL ||
        !rg_hs_warn_due(&t->warnlog, peer, uv_now(t->loop), &more))
        return;
    if (more > 0)
        snprintf(msg, sizeof(msg),
                 "raft transport: refused %s: %s (%u more refusals since "
                 "the last warning)",
                 peer, why, more);
    else
        snprintf(msg, sizeof(msg), "raft transport: refused %s: %s", peer,
                 why);
    t->opts.warn(t->opts.warn_arg, msg);
}

static void tconn_unref(struct tconn *c)
{
    struct rg_transport *t = c->t;
    struct raft_uv_connect *req = c->req;
    int status = c->status;

    if (--c->refs > 0)
        return;
    rg_free(c->hs.base);
    rg_free(c);
    t->live--;
    if (req != NULL)
        req->cb(req, NULL, status);
    rg_tr_maybe_fire_close(t);
}

static void unlink_tconn(struct tconn *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else if (c->t->connecting == c)
        c->t->connecting = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
}

static void timer_close_cb(uv_handle_t *h)
{
    tconn_unref(h->data);
}

static void tcp_close_cb(uv_handle_t *h)
{
    struct tconn *c = h->data;

    raft_free(h);
    tconn_unref(c);
}

/* Fail @c with RAFT_* @status: close what it holds; the callback fires when
 * the last handle is closed. Idempotent. */
static void tconn_fail(struct tconn *c, int status)
{
    if (c->failed)
        return;
    c->failed = 1;
    c->status = status;
    unlink_tconn(c);
    uv_cancel((uv_req_t *)&c->gai); /* no-op unless resolving */
    if (c->tcp != NULL) {
        uv_close((uv_handle_t *)c->tcp, tcp_close_cb);
        c->tcp = NULL;
    }
    uv_close((uv_handle_t *)&c->timer, timer_close_cb);
}

static void write_cb(uv_write_t *w, int status)
{
    struct tconn *c = w->data;
    struct raft_uv_connect *req = c->req;
    uv_tcp_t *tcp = c->tcp;

    if (c->failed) {
        tconn_unref(c); /* the write's reference */
        return;
    }
    if (status != 0) {
        tconn_fail(c, RAFT_NOCONNECTION);
        tconn_unref(c);
        return;
    }
    /* Success: the stream goes to raft_uv (it uv_closes and raft_frees
     * it); our references on the tcp handle and the write go with it. */
    c->req = NULL;
    c->tcp = NULL;
    c->failed = 1;
    unlink_tconn(c);
    uv_close((uv_handle_t *)&c->timer, timer_close_cb);
    c->refs -= 2;
    req->cb(req, (uv_stream_t *)tcp, 0);
}

/* Keyed mode: refuse the acceptor (WARN) and fail the connect. */
static void tconn_refuse(struct tconn *c, const char *why)
{
    rg_tr_refused(c->t, c->peer, why);
    tconn_fail(c, RAFT_NOCONNECTION);
}

static void reply_alloc_cb(uv_handle_t *h, size_t size, uv_buf_t *b)
{
    struct tconn *c = h->data;

    (void)size; /* exactly what REPLY still lacks: never read past it */
    b->base = (char *)c->reply + c->got;
    b->len = sizeof(c->reply) - c->got;
}

/* REPLY read: check it, then send PROOF + raft_uv_tcp's handshake. */
static void reply_done(struct tconn *c)
{
    struct rg_transport *t = c->t;
    struct rg_hs_key k = rg_tr_key(t);
    unsigned char nonce_a[RG_HS_NONCE];
    uint64_t id_a;

    uv_read_stop((uv_stream_t *)c->tcp);
    if (rg_hs_parse_hello(c->reply, &id_a, nonce_a) != 0) {
        tconn_refuse(c, "no keyed handshake in its reply");
        return;
    }
    if (id_a != c->peer_id) {
        tconn_refuse(c, "it is another node than the one configured there");
        return;
    }
    if (!rg_hs_check(&k, RG_HS_ACCEPTOR, id_a, t->id, c->nonce_c, nonce_a,
                     c->reply + 16 + RG_HS_NONCE)) {
        tconn_refuse(c, "it did not prove the cluster key (wrong key?)");
        return;
    }
    if (rg_hs_mac(&k, RG_HS_CONNECTOR, t->id, id_a, c->nonce_c, nonce_a,
                  (unsigned char *)c->hs.base) != 0) {
        tconn_fail(c, RAFT_NOCONNECTION);
        return;
    }
    c->write.data = c;
    if (uv_write(&c->write, (uv_stream_t *)c->tcp, &c->hs, 1, write_cb) !=
        0) {
        tconn_fail(c, RAFT_NOCONNECTION);
        return;
    }
    c->refs++; /* the write */
}

static void reply_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct tconn *c = s->data;

    (void)b;
    if (c->failed || n == 0)
        return;
    if (n < 0) {
        /* With another key it would have sent REPLY (its proof fails
         * then); closing first is what a node without a key does, or one
         * whose handshake slots are busy (it closes the oldest), or one
         * that is stopping. */
        tconn_refuse(c, "it closed the connection before its handshake "
                        "reply (no cluster key there, or its handshake "
                        "slots were busy, or it is stopping)");
        return;
    }
    c->got += (size_t)n;
    if (c->got == sizeof(c->reply))
        reply_done(c);
}

static void hello_write_cb(uv_write_t *w, int status)
{
    struct tconn *c = w->data;

    if (!c->failed) {
        if (status != 0 ||
            uv_read_start((uv_stream_t *)c->tcp, reply_alloc_cb,
                          reply_read_cb) != 0)
            tconn_fail(c, RAFT_NOCONNECTION);
    }
    tconn_unref(c); /* the write's reference */
}

static void connect_cb(uv_connect_t *cr, int status)
{
    struct tconn *c = cr->data;
    uv_buf_t hello = {(char *)c->hello, sizeof(c->hello)};

    if (!c->failed && status == 0) {
        c->write.data = c;
        if (c->t->key != NULL) {
            if (uv_write(&c->write, (uv_stream_t *)c->tcp, &hello, 1,
                         hello_write_cb) == 0)
                return; /* the connect's reference moves to the write */
        } else if (uv_write(&c->write, (uv_stream_t *)c->tcp, &c->hs, 1,
                            write_cb) == 0)
            return; /* the connect's reference moves to the write */
    }
    if (!c->failed)
        tconn_fail(c, RAFT_NOCONNECTION);
    tconn_unref(c);
}

static void start_connect(struct tconn *c, const struct sockaddr *sa)
{
    struct rg_transport *t = c->t;

    c->tcp = raft_malloc(sizeof(*c->tcp));
    if (c->tcp == NULL) {
        tconn_fail(c, RAFT_NOMEM);
        return;
    }
    if (uv_tcp_init_ex(t->loop, c->tcp, AF_INET) != 0) {
        raft_free(c->tcp);
        c->tcp = NULL;
        tconn_fail(c, RAFT_NOCONNECTION);
        return;
    }
    c->tcp->data = c;
    c->refs++; /* the tcp handle */
    rg_tr_set_opts(&t->opts, c->tcp);
    c->connect.data = c;
    if (uv_tcp_connect(&c->connect, c->tcp, sa, connect_cb) != 0) {
        tconn_fail(c, RAFT_NOCONNECTION);
        return;
    }
    c->refs++; /* the connect request */
}

static void gai_cb(uv_getaddrinfo_t *g, int status, struct addrinfo *res)
{
    struct tconn *c = g->data;

    if (!c->failed) {
        if (status == 0 && res != NULL)
            start_connect(c, res->ai_addr);
        else
            tconn_fail(c, RAFT_NOCONNECTION);
    }
    uv_freeaddrinfo(res);
    tconn_unref(c);
}

static void timer_cb(uv_timer_t *tm)
{
    tconn_fail(tm->data, RAFT_NOCONNECTION);
}

/* raft_uv_tcp's handshake after @pre zero bytes (room for PROOF): 0 or
 * RAFT_NOMEM. */
static int encode_handshake(raft_id id, const char *address, size_t pre,
                            uv_buf_t *b)
{
    size_t alen = (strlen(address) + 1 + 7) & ~(size_t)7;
    unsigned char *p;

    b->len = pre + 24 + alen;
    b->base = rg_calloc(1, b->len);
    if (b->base == NULL)
        return RAFT_NOMEM;
    p = (unsigned char *)b->base + pre;
    rg_put64le(p, HS_PROTOCOL);
    rg_put64le(p + 8, id);
    rg_put64le(p + 16, alen);
    strcpy((char *)p + 24, address);
    return 0;
}

int rg_tr_split_address(const char *a, char *host, char *port)
{
    const char *colon = strrchr(a, ':');
    size_t hl = colon == NULL ? 0 : (size_t)(colon - a);

    if (colon == NULL || hl == 0 || hl >= HOST_MAX || strlen(colon + 1) == 0 ||
        strlen(colon + 1) >= 8)
        return -1;
    memcpy(host, a, hl);
    host[hl] = '\0';
    strcpy(port, colon + 1);
    return 0;
}

/* Resolve (or parse) the address and start connecting. Errors after this
 * point are reported through the callback. */
static void tconn_start(struct tconn *c, const char *host)
{
    static const struct addrinfo hints = {.ai_family = AF_INET,
                                          .ai_socktype = SOCK_STREAM};
    struct sockaddr_in sin;

    if (uv_ip4_addr(host, atoi(c->port), &sin) == 0) {
        start_connect(c, (const struct sockaddr *)&sin);
        return;
    }
    c->gai.data = c;
    if (uv_getaddrinfo(c->t->loop, &c->gai, gai_cb, host, c->port, &hints) !=
        0) {
        tconn_fail(c, RAFT_NOCONNECTION);
        return;
    }
    c->refs++; /* the resolve request */
}

static int t_connect(struct raft_uv_transport *outer,
                     struct raft_uv_connect *req, raft_id id,
                     const char *address, raft_uv_connect_cb cb)
{
    struct rg_transport *t = OUTER(outer);
    char host[HOST_MAX];
    struct tconn *c;

    c = rg_calloc(1, sizeof(*c));
    if (c == NULL)
        return RAFT_NOMEM;
    if (rg_tr_split_address(address, host, c->port) < 0) {
        snprintf(outer->errmsg, sizeof(outer->errmsg),
                 "cannot split %s into host and port", address);
        rg_free(c);
        return RAFT_NOCONNECTION;
    }
    if (t->key != NULL && rg_hs_nonce(c->nonce_c) != 0) {
        rg_free(c);
        return RAFT_NOCONNECTION;
    }
    if (encode_handshake(t->id, t->address, t->key ? RG_HS_MAC : 0,
                         &c->hs) != 0) {
        rg_free(c);
        return RAFT_NOMEM;
    }
    c->peer_id = id;
    snprintf(c->peer, sizeof(c->peer), "%s (node %llu)", address,
             (unsigned long long)id);
    rg_hs_hello(c->hello, t->id, c->nonce_c);
    c->t = t;
    c->req = req;
    req->cb = cb;
    c->timer.data = c;
    uv_timer_init(t->loop, &c->timer);
    c->refs = 1; /* the timer */
    t->live++;
    c->next = t->connecting;
    if (c->next != NULL)
        c->next->prev = c;
    t->connecting = c;
    if (t->opts.connect_timeout_ms > 0)
        uv_timer_start(&c->timer, timer_cb, t->opts.connect_timeout_ms, 0);
    tconn_start(c, host);
    return 0;
}

/* ---- Listening, init and close: delegated ---- */

static void accept_cb(struct raft_uv_transport *inner, raft_id id,
                      const char *address, uv_stream_t *stream)
{
    struct rg_transport *t = INNER(inner);

    rg_tr_set_opts(&t->opts, (uv_tcp_t *)stream);
    t->accept_cb(&t->outer, id, address, stream);
}

static int t_listen(struct raft_uv_transport *outer, raft_uv_accept_cb cb)
{
    struct rg_transport *t = OUTER(outer);
    int rv;

    t->accept_cb = cb;
    if (t->key != NULL)
        return rg_tr_listen(t);
    rv = t->inner.listen(&t->inner, accept_cb);
    if (rv != 0)
        memcpy(outer->errmsg, t->inner.errmsg, sizeof(outer->errmsg));
    return rv;
}

static int t_init(struct raft_uv_transport *outer, raft_id id,
                  const char *address)
{
    struct rg_transport *t = OUTER(outer);
    int rv;

    t->id = id;
    rg_free(t->address);
    t->address = rg_strdup(address);
    if (t->address == NULL)
        return RAFT_NOMEM;
    rv = t->inner.init(&t->inner, id, address);
    if (rv != 0)
        memcpy(outer->errmsg, t->inner.errmsg, sizeof(outer->errmsg));
    return rv;
}

static void inner_close_cb(struct raft_uv_transport *inner)
{
    struct rg_transport *t = INNER(inner);

    t->inner_closed = 1;
    rg_tr_maybe_fire_close(t);
}

/* Stop accepting (inner), cancel our pending connects (their callbacks
 * fire with RAFT_CANCELED once their handles are closed), then @cb. */
static void t_close(struct raft_uv_transport *outer,
                    raft_uv_transport_close_cb cb)
{
    struct rg_transport *t = OUTER(outer);

    t->closing = 1;
    t->close_cb = cb;
    while (t->connecting != NULL)
        tconn_fail(t->connecting, RAFT_CANCELED);
    rg_tr_listen_close(t);
    t->inner.close(&t->inner, inner_close_cb);
}

int rg_transport_init(struct rg_transport *t, uv_loop_t *loop,
                      const struct rg_transport_opts *opts)
{
    int rv;

    memset(t, 0, sizeof(*t));
    t->loop = loop;
    t->opts = *opts;
    t->opts.key = NULL;
    if (opts->key != NULL) {
        if (opts->key_len < RG_CLUSTER_KEY_MIN ||
            opts->key_len > RG_CLUSTER_KEY_MAX)
            return RAFT_INVALID;
        t->key = rg_secret_dup(opts->key, opts->key_len);
        if (t->key == NULL)
            return RAFT_NOMEM;
        t->key_len = opts->key_len;
    }
    if (t->opts.handshake_timeout_ms == 0)
        t->opts.handshake_timeout_ms = RG_TR_HANDSHAKE_MS;
    t->inner.version = 1; /* required since 0.17 (docs/raft.md §2.9) */
    rv = raft_uv_tcp_init(&t->inner, loop);
    if (rv != 0) {
        rg_secret_free(t->key, t->key_len);
        t->key = NULL;
        return rv;
    }
    t->outer.version = 1;
    t->outer.init = t_init;
    t->outer.listen = t_listen;
    t->outer.connect = t_connect;
    t->outer.close = t_close;
    return 0;
}

void rg_transport_release(struct rg_transport *t)
{
    raft_uv_tcp_close(&t->inner);
    rg_free(t->address);
    t->address = NULL;
    rg_secret_free(t->key, t->key_len);
    t->key = NULL;
}
