/* The keyed-mode listener of the Raft transport; see transport.h and
 * hsauth.h. Each accepted stream reads HELLO, sends REPLY, reads PROOF and
 * raft_uv_tcp's handshake (protocol 1, the connector's id, which must be
 * the id HELLO claimed and PROOF covers, and its address), then goes to
 * raft_uv's accept callback. Reads ask for exactly the bytes still missing,
 * so nothing libraft is meant to read is consumed here. Anything else, or
 * silence past the handshake deadline, closes the stream. */
#include <endian.h>
#include <netdb.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/alloc.h"
#include "raft/transport_int.h"

#define MAX_ACCEPTING 64 /* handshakes in progress; more are closed */
#define PREAMBLE 24      /* raft_uv_tcp: protocol, id, address length */

enum phase { P_HELLO, P_PROOF, P_ADDRESS, P_DONE };

struct tacc {
    struct rg_transport *t;
    uv_tcp_t *tcp; /* raft_malloc'd: raft_uv frees it */
    uv_timer_t timer;
    uv_write_t write;
    enum phase phase;
    size_t need, got; /* of @buf for this phase */
    unsigned char buf[RG_TR_HOST_MAX + 64];
    unsigned char reply[RG_HS_REPLY_LEN];
    unsigned char nonce_c[RG_HS_NONCE];
    unsigned char nonce_a[RG_HS_NONCE];
    uint64_t peer_id; /* claimed in HELLO */
    char peer[64];    /* "ip" of the remote end, for the WARN */
    int refs;         /* tcp, timer, a pending write */
    int writing, failed;
    struct tacc *next, *prev;
};

static void unlink_tacc(struct tacc *c)
{
    struct rg_transport *t = c->t;

    if (c->prev != NULL)
        c->prev->next = c->next;
    else if (t->accepting == c)
        t->accepting = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
    t->n_accepting--;
}

static void tacc_unref(struct tacc *c)
{
    struct rg_transport *t = c->t;

    if (--c->refs > 0)
        return;
    rg_free(c);
    t->live--;
    rg_tr_maybe_fire_close(t);
}

static void timer_close_cb(uv_handle_t *h)
{
    tacc_unref(h->data);
}

static void tcp_close_cb(uv_handle_t *h)
{
    struct tacc *c = h->data;

    raft_free(h);
    tacc_unref(c);
}

/* Close @c; with @why, WARN about its peer first. Idempotent. */
static void tacc_fail(struct tacc *c, const char *why)
{
    if (c->failed)
        return;
    c->failed = 1;
    if (why != NULL)
        rg_tr_refused(c->t, c->peer, why);
    unlink_tacc(c);
    uv_close((uv_handle_t *)c->tcp, tcp_close_cb);
    c->tcp = NULL;
    uv_close((uv_handle_t *)&c->timer, timer_close_cb);
}

/* Everything read and REPLY written: the stream goes to raft_uv. */
static void hand_over(struct tacc *c)
{
    struct rg_transport *t = c->t;
    uv_tcp_t *tcp = c->tcp;

    c->failed = 1;
    unlink_tacc(c);
    c->tcp = NULL;
    c->refs--; /* the tcp handle goes with the stream */
    uv_close((uv_handle_t *)&c->timer, timer_close_cb);
    t->accept_cb(&t->outer, c->peer_id, (const char *)c->buf,
                 (uv_stream_t *)tcp);
}

static void reply_cb(uv_write_t *w, int status)
{
    struct tacc *c = w->data;

    c->writing = 0;
    if (!c->failed) {
        if (status != 0)
            tacc_fail(c, NULL);
        else if (c->phase == P_DONE)
            hand_over(c);
    }
    tacc_unref(c);
}

static void expect(struct tacc *c, enum phase p, size_t need)
{
    c->phase = p;
    c->need = need;
    c->got = 0;
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return le64toh(v);
}

static void got_hello(struct tacc *c)
{
    struct rg_hs_key k = rg_tr_key(c->t);
    uv_buf_t b = {(char *)c->reply, sizeof(c->reply)};

    if (rg_hs_parse_hello(c->buf, &c->peer_id, c->nonce_c) != 0) {
        tacc_fail(c, "no keyed handshake (a node without the cluster key, "
                     "or not a raftgate node)");
        return;
    }
    if (rg_hs_nonce(c->nonce_a) != 0 ||
        rg_hs_reply(&k, c->reply, c->t->id, c->peer_id, c->nonce_c,
                    c->nonce_a) != 0) {
        tacc_fail(c, "cannot compute the handshake");
        return;
    }
    c->write.data = c;
    if (uv_write(&c->write, (uv_stream_t *)c->tcp, &b, 1, reply_cb) != 0) {
        tacc_fail(c, NULL);
        return;
    }
    c->refs++;
    c->writing = 1;
    expect(c, P_PROOF, RG_HS_MAC + PREAMBLE);
}

static void got_proof(struct tacc *c)
{
    struct rg_hs_key k = rg_tr_key(c->t);
    const unsigned char *pre = c->buf + RG_HS_MAC;
    uint64_t alen = get64(pre + 16);

    if (!rg_hs_check(&k, RG_HS_CONNECTOR, c->peer_id, c->t->id, c->nonce_c,
                     c->nonce_a, c->buf)) {
        tacc_fail(c, "it did not prove the cluster key (wrong key?)");
        return;
    }
    if (get64(pre) != RG_TR_HS_PROTOCOL || get64(pre + 8) != c->peer_id ||
        alen == 0 || alen % 8 != 0 || alen > RG_TR_HOST_MAX) {
        tacc_fail(c, "bad raft handshake after the keyed one");
        return;
    }
    expect(c, P_ADDRESS, (size_t)alen);
}

static void got_address(struct tacc *c)
{
    if (memchr(c->buf, '\0', c->need) == NULL) {
        tacc_fail(c, "bad raft handshake after the keyed one");
        return;
    }
    uv_read_stop((uv_stream_t *)c->tcp);
    c->phase = P_DONE;
    if (!c->writing)
        hand_over(c);
}

static void alloc_cb(uv_handle_t *h, size_t size, uv_buf_t *b)
{
    struct tacc *c = h->data;

    (void)size; /* exactly what this phase still lacks */
    b->base = (char *)c->buf + c->got;
    b->len = c->need - c->got;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct tacc *c = s->data;

    (void)b;
    if (c->failed || n == 0)
        return;
    if (n < 0) {
        tacc_fail(c, "it closed the connection during the handshake");
        return;
    }
    c->got += (size_t)n;
    if (c->got < c->need)
        return;
    if (c->phase == P_HELLO)
        got_hello(c);
    else if (c->phase == P_PROOF)
        got_proof(c);
    else if (c->phase == P_ADDRESS)
        got_address(c);
}

static void timeout_cb(uv_timer_t *tm)
{
    tacc_fail(tm->data, "no complete handshake before the deadline");
}

static void peer_name(uv_tcp_t *tcp, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);

    snprintf(out, cap, "an unknown peer");
    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) == 0 &&
        ss.ss_family == AF_INET)
        uv_ip4_name((struct sockaddr_in *)&ss, out, cap);
}

static void listen_cb(uv_stream_t *server, int status)
{
    struct rg_transport *t = server->data;
    struct tacc *c;

    if (status != 0 || t->closing)
        return;
    c = rg_calloc(1, sizeof(*c));
    if (c == NULL)
        return;
    c->tcp = raft_malloc(sizeof(*c->tcp));
    if (c->tcp == NULL || uv_tcp_init(t->loop, c->tcp) != 0) {
        raft_free(c->tcp);
        rg_free(c);
        return;
    }
    c->t = t;
    c->tcp->data = c;
    c->timer.data = c;
    uv_timer_init(t->loop, &c->timer);
    c->refs = 2; /* tcp, timer */
    t->live++;
    c->next = t->accepting;
    if (c->next != NULL)
        c->next->prev = c;
    t->accepting = c;
    t->n_accepting++;
    expect(c, P_HELLO, RG_HS_HELLO_LEN);
    if (uv_accept(server, (uv_stream_t *)c->tcp) != 0) {
        tacc_fail(c, NULL);
        return;
    }
    peer_name(c->tcp, c->peer, sizeof(c->peer));
    if (t->n_accepting > MAX_ACCEPTING) {
        tacc_fail(c, "too many handshakes in progress");
        return;
    }
    rg_tr_set_opts(&t->opts, c->tcp);
    uv_timer_start(&c->timer, timeout_cb, t->opts.handshake_timeout_ms, 0);
    if (uv_read_start((uv_stream_t *)c->tcp, alloc_cb, read_cb) != 0)
        tacc_fail(c, NULL);
}

static void listener_close_cb(uv_handle_t *h)
{
    struct rg_transport *t = h->data;

    t->live--;
    rg_tr_maybe_fire_close(t);
}

/* @host:@port as an IPv4 address, resolved (once, at start, blocking)
 * when it is a name: 0 or -1. */
static int resolve(const char *host, const char *port, struct sockaddr_in *sin)
{
    static const struct addrinfo hints = {.ai_family = AF_INET,
                                          .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;

    if (uv_ip4_addr(host, atoi(port), sin) == 0)
        return 0;
    if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL)
        return -1;
    memcpy(sin, res->ai_addr, sizeof(*sin));
    freeaddrinfo(res);
    return 0;
}

/* A failure leaves the listener to rg_tr_listen_close (raft_close). */
int rg_tr_listen(struct rg_transport *t)
{
    char host[RG_TR_HOST_MAX], port[8];
    struct sockaddr_in sin;
    int rv;

    if (rg_tr_split_address(t->address, host, port) != 0 ||
        resolve(host, port, &sin) != 0) {
        snprintf(t->outer.errmsg, sizeof(t->outer.errmsg),
                 "cannot resolve %s to an IPv4 address", t->address);
        return RAFT_INVALID;
    }
    uv_tcp_init(t->loop, &t->listener);
    t->listener.data = t;
    t->listening = 1;
    t->live++;
    rv = uv_tcp_bind(&t->listener, (const struct sockaddr *)&sin, 0);
    if (rv == 0)
        rv = uv_listen((uv_stream_t *)&t->listener, 16, listen_cb);
    if (rv != 0) {
        snprintf(t->outer.errmsg, sizeof(t->outer.errmsg), "listen %s: %s",
                 t->address, uv_strerror(rv));
        return RAFT_IOERR;
    }
    return 0;
}

void rg_tr_listen_close(struct rg_transport *t)
{
    while (t->accepting != NULL)
        tacc_fail(t->accepting, NULL);
    if (t->listening) {
        t->listening = 0;
        uv_close((uv_handle_t *)&t->listener, listener_close_cb);
    }
}
