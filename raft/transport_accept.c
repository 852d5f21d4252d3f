/* The keyed-mode listener of the Raft transport; see transport.h and
 * hsauth.h. Each accepted stream reads HELLO, sends REPLY, reads PROOF and
 * raft_uv_tcp's handshake (protocol 1, the connector's id, which must be
 * the id HELLO claimed and PROOF covers, and its address), then goes to
 * raft_uv's accept callback. Reads ask for exactly the bytes still missing,
 * so nothing libraft is meant to read is consumed here. Anything else, or
 * silence past the handshake deadline, closes the stream.
 *
 * Slots (docs/raft.md §4.5): at most RG_TR_ACCEPT_MAX handshakes are in
 * progress, RG_TR_ACCEPT_PER_SOURCE from one remote address. A connection
 * past a cap is still taken, and the oldest handshake that blocks it is
 * closed (see victim()): refusing the newcomer instead would let a stranger
 * who holds the slots with silent connections lock every real peer out
 * until the deadline, again and again. Every connection libuv announces is
 * uv_accept'ed, into @spare when no handshake object can be had: one left
 * pending makes libuv stop reading the listener for good. */
#include <netdb.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/alloc.h"
#include "core/failpoint.h"
#include "raft/bytes.h"
#include "raft/transport_int.h"

#define PREAMBLE 24 /* raft_uv_tcp: protocol, id, address length */
/* The listen backlog: a burst of strangers must not fill the kernel's
 * queue, where a real peer's dropped SYN waits 1 s for its retry. */
#define BACKLOG 128
#define STR_(x) #x
#define STR(x) STR_(x)

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
    uint32_t src;     /* that IPv4 address, network order; 0 = unknown */
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
    uint64_t alen = rg_get64le(pre + 16);

    if (!rg_hs_check(&k, RG_HS_CONNECTOR, c->peer_id, c->t->id, c->nonce_c,
                     c->nonce_a, c->buf)) {
        tacc_fail(c, "it did not prove the cluster key (wrong key?)");
        return;
    }
    if (rg_get64le(pre) != RG_TR_HS_PROTOCOL ||
        rg_get64le(pre + 8) != c->peer_id || alen == 0 || alen % 8 != 0 ||
        alen > RG_TR_HOST_MAX) {
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

static void peer_name(uv_tcp_t *tcp, char *out, size_t cap, uint32_t *src)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);

    snprintf(out, cap, "an unknown peer");
    *src = 0;
    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) == 0 &&
        ss.ss_family == AF_INET) {
        uv_ip4_name((struct sockaddr_in *)&ss, out, cap);
        *src = ((struct sockaddr_in *)&ss)->sin_addr.s_addr;
    }
}

/* The handshake to close to make room for the newest, @c (the head of the
 * list, which runs newest to oldest): the oldest of @c's address when
 * @same_src, else the oldest of all, that has not yet proved the key (a
 * stranger cannot get past that); @c itself when every other one has
 * proved it (those are real peers, about to be handed to libraft). */
static struct tacc *victim(struct tacc *c, int same_src)
{
    struct tacc *o, *unproved = NULL;

    for (o = c->next; o != NULL; o = o->next)
        if ((!same_src || o->src == c->src) && o->phase < P_ADDRESS)
            unproved = o;
    return unproved != NULL ? unproved : c;
}

static unsigned same_source(const struct tacc *c)
{
    const struct tacc *o;
    unsigned n = 0;

    for (o = c->next; o != NULL; o = o->next)
        n += o->src == c->src;
    return n;
}

/* Why a handshake was closed to make room (the WARN). */
#define WHY_SOURCE                                                             \
    "its oldest handshake was closed: more than " STR(                         \
        RG_TR_ACCEPT_PER_SOURCE) " in progress from this address"
#define WHY_ALL                                                                \
    "its handshake was closed, the oldest in progress: all " STR(              \
        RG_TR_ACCEPT_MAX) " slots were taken"
#define WHY_SOURCE_NEW                                                         \
    "closed at once: this address's " STR(                                     \
        RG_TR_ACCEPT_PER_SOURCE) " handshakes in progress have proved the key"
#define WHY_ALL_NEW                                                            \
    "closed at once: all " STR(                                                \
        RG_TR_ACCEPT_MAX) " handshakes in progress have proved the key"

/* Keep the caps with @c, just accepted, counted in: 1, or 0 when @c was
 * the one closed. */
static int make_room(struct tacc *c)
{
    struct tacc *v = NULL;
    const char *why = NULL;

    if (same_source(c) >= RG_TR_ACCEPT_PER_SOURCE) {
        v = victim(c, 1);
        why = v == c ? WHY_SOURCE_NEW : WHY_SOURCE;
    } else if (c->t->n_accepting > RG_TR_ACCEPT_MAX) {
        v = victim(c, 0);
        why = v == c ? WHY_ALL_NEW : WHY_ALL;
    }
    if (v != NULL)
        tacc_fail(v, why);
    return v != c;
}

/* A handshake object for the next connection, linked as the newest, its
 * handles initialised: NULL when out of memory. */
static struct tacc *tacc_new(struct rg_transport *t)
{
    struct tacc *c;

    if (RG_FAILPOINT_ERR("raft_accept_alloc"))
        return NULL;
    c = rg_calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->tcp = raft_malloc(sizeof(*c->tcp));
    if (c->tcp == NULL || uv_tcp_init(t->loop, c->tcp) != 0) {
        raft_free(c->tcp);
        rg_free(c);
        return NULL;
    }
    c->t = t;
    c->tcp->data = c;
    c->timer.data = c;
    c->refs = 1; /* tcp */
    t->live++;
    if (uv_timer_init(t->loop, &c->timer) != 0) {
        uv_close((uv_handle_t *)c->tcp, tcp_close_cb);
        return NULL;
    }
    c->refs++; /* timer */
    c->next = t->accepting;
    if (c->next != NULL)
        c->next->prev = c;
    t->accepting = c;
    t->n_accepting++;
    expect(c, P_HELLO, RG_HS_HELLO_LEN);
    return c;
}

/* @c's stream is accepted: make room for it, then wait for HELLO. */
static void tacc_start(struct tacc *c)
{
    struct rg_transport *t = c->t;

    peer_name(c->tcp, c->peer, sizeof(c->peer), &c->src);
    if (!make_room(c))
        return;
    rg_tr_set_opts(&t->opts, c->tcp);
    if (uv_timer_start(&c->timer, timeout_cb, t->opts.handshake_timeout_ms,
                       0) != 0 ||
        uv_read_start((uv_stream_t *)c->tcp, alloc_cb, read_cb) != 0)
        tacc_fail(c, NULL);
}

static void listen_cb(uv_stream_t *server, int status);

static void stalled(struct rg_transport *t, const char *what, int rv)
{
    char msg[256];

    if (t->opts.warn == NULL)
        return;
    snprintf(msg, sizeof(msg),
             "raft transport: the listener on %s stopped accepting: %s: %s",
             t->address, what, uv_strerror(rv));
    t->opts.warn(t->opts.warn_arg, msg);
}

/* uv_accept failed: libuv closed that connection, but watches the listener
 * again only at the next successful uv_accept or uv_listen. */
static void rearm(struct rg_transport *t)
{
    int rv = uv_listen((uv_stream_t *)&t->listener, BACKLOG, listen_cb);

    if (rv != 0)
        stalled(t, "listen again", rv);
}

static void refuse(struct rg_transport *t, const char *why);

static void spare_close_cb(uv_handle_t *h)
{
    struct rg_transport *t = h->data;

    t->spare_busy = 0;
    t->live--;
    if (t->spare_wanted != NULL && t->listening) {
        const char *why = t->spare_wanted;

        t->spare_wanted = NULL;
        refuse(t, why);
    }
    rg_tr_maybe_fire_close(t);
}

/* Accept the pending connection into @t->spare only to close it. While
 * @spare is still closing, the connection waits (libuv does not read the
 * listener meanwhile) and is taken in spare_close_cb. */
static void refuse(struct rg_transport *t, const char *why)
{
    char peer[64];
    uint32_t src;
    int rv;

    if (t->spare_busy) {
        t->spare_wanted = why;
        return;
    }
    /* Without a domain uv_tcp_init creates no socket and cannot fail. */
    rv = uv_tcp_init(t->loop, &t->spare);
    if (rv != 0) {
        stalled(t, "init", rv);
        return;
    }
    t->spare.data = t;
    rv = uv_accept((uv_stream_t *)&t->listener, (uv_stream_t *)&t->spare);
    if (rv == 0) {
        peer_name(&t->spare, peer, sizeof(peer), &src);
        rg_tr_refused(t, peer, why);
    }
    t->spare_busy = 1;
    t->live++;
    uv_close((uv_handle_t *)&t->spare, spare_close_cb);
    if (rv != 0)
        rearm(t);
}

static void listen_cb(uv_stream_t *server, int status)
{
    struct rg_transport *t = server->data;
    struct tacc *c;

    if (status != 0)
        return; /* libuv's accept() failed: nothing is pending */
    if (t->closing) {
        refuse(t, "the node is stopping");
        return;
    }
    c = tacc_new(t);
    if (c == NULL) {
        refuse(t, "out of memory for its handshake");
        return;
    }
    if (uv_accept(server, (uv_stream_t *)c->tcp) != 0) {
        tacc_fail(c, NULL);
        rearm(t);
        return;
    }
    tacc_start(c);
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
    rv = uv_tcp_init(t->loop, &t->listener);
    if (rv == 0) {
        t->listener.data = t;
        t->listening = 1;
        t->live++;
        rv = uv_tcp_bind(&t->listener, (const struct sockaddr *)&sin, 0);
    }
    if (rv == 0)
        rv = uv_listen((uv_stream_t *)&t->listener, BACKLOG, listen_cb);
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
