/* The Raft network transport: libraft's stock raft_uv_tcp, wrapped so that
 * every raft socket gets TCP_NODELAY (docs/raft.md §4.3: without it Nagle and
 * delayed ACKs cost 20-30x throughput), keepalive and TCP_USER_TIMEOUT (a
 * stream black-holed by a partition errors out instead of waiting for
 * minutes of retransmission backoff after the heal,
 * docs/fault-injection.md §3), and a deadline on each outgoing connect
 * (raft_uv_tcp has none: a SYN dropped by a partition would hang for the
 * kernel's SYN retries, ~2 min).
 *
 * With a cluster key (raft.cluster_key_file) every raft connection, both
 * ways, first runs the keyed mutual handshake of hsauth.h; only then is the
 * stream handed to libraft. Inbound connections are then accepted by our
 * own listener (transport_accept.c), not raft_uv_tcp's, which would read
 * the stream before we could. A refused peer is closed and WARNed about
 * (rate-limited per address); a silent one is dropped at the handshake
 * deadline. Handshakes in progress are capped per source address and in
 * all; a new connection past a cap closes the oldest one instead of being
 * refused, so strangers holding silent connections cannot lock real peers
 * out (docs/raft.md §4.5 "Handshake slots"). The handshake authenticates
 * the connection; the frames after it are neither encrypted nor MACed
 * (docs/raft.md "Authenticated transport"). */
#ifndef RG_RAFT_TRANSPORT_H
#define RG_RAFT_TRANSPORT_H

#include <raft.h>
#include <raft/uv.h>

#include "raft/hsauth.h"

/* Keyed mode, inbound: the handshake deadline (the default of
 * handshake_timeout_ms), the handshakes in progress at once in all and
 * from one remote IP address. A connection past either cap closes the
 * oldest handshake in progress (of its address for the per-address cap)
 * that has not yet proved the key, or is itself closed at once when
 * every one has (those are real peers about to be handed on). */
#define RG_TR_HANDSHAKE_MS 1000
#define RG_TR_ACCEPT_MAX 64
#define RG_TR_ACCEPT_PER_SOURCE 4

struct rg_transport_opts {
    unsigned user_timeout_ms;    /* TCP_USER_TIMEOUT on every raft socket:
                                    unacknowledged data older than this
                                    closes the stream; 0 = kernel default */
    unsigned keepalive_s;        /* idle seconds before keepalive probes;
                                    probes every second, 3 lost = dead;
                                    0 = keepalive off */
    unsigned connect_timeout_ms; /* give up an outgoing connect after this
                                    (raft_uv retries it); 0 = never */
    const unsigned char *key;    /* cluster key, copied; NULL = none */
    size_t key_len;              /* RG_CLUSTER_KEY_MIN.. when @key is set */
    unsigned handshake_timeout_ms; /* inbound handshake deadline, ms;
                                      0 = RG_TR_HANDSHAKE_MS */
    /* Called with one WARN line (rate-limited) when a peer is refused;
     * NULL = silent. Thread: the loop's. */
    void (*warn)(void *arg, const char *msg);
    void *warn_arg;
};

struct tacc;

/* Owned by the node; @outer is what raft_uv_init takes. */
struct rg_transport {
    struct raft_uv_transport outer; /* the wrapper (version 1) */
    struct raft_uv_transport inner; /* raft_uv_tcp (version 1) */
    uv_loop_t *loop;
    struct rg_transport_opts opts;
    /* Internal: */
    raft_id id;                     /* ours, for the handshake */
    char *address;                  /* ours, rg_malloc'd */
    raft_uv_accept_cb accept_cb;    /* raft_uv's, set by listen */
    raft_uv_transport_close_cb close_cb;
    struct tconn *connecting;       /* outgoing connects not yet answered */
    unsigned live;                  /* connect objects not yet freed */
    int closing;
    int inner_closed;
    unsigned char *key;             /* rg_malloc'd copy, NULL = none */
    size_t key_len;
    uv_tcp_t listener;              /* ours, keyed mode only */
    int listening;                  /* 1 while @listener is open */
    struct tacc *accepting;         /* inbound handshakes in progress,
                                       newest first */
    unsigned n_accepting;
    uv_tcp_t spare;                 /* accepts a connection only to close
                                       it, when no handshake object can
                                       be had (out of memory) */
    int spare_busy;                 /* @spare is closing */
    const char *spare_wanted;       /* a connection waits for @spare,
                                       to be refused for this reason */
    struct rg_hs_warnlog warnlog;   /* refusal WARN rate limit */
};

/* Initialise @t on @loop (raft_uv_tcp_init underneath). Returns 0 or a
 * RAFT_* code (RAFT_INVALID: a key shorter than RG_CLUSTER_KEY_MIN).
 * Ownership: @t is kept by the caller until rg_transport_release; @opts
 * is copied. Thread: @loop's. */
int rg_transport_init(struct rg_transport *t, uv_loop_t *loop,
                      const struct rg_transport_opts *opts);

/* Free what raft_uv_tcp allocated. Call only after the transport's close
 * callback fired (raft_close's callback implies it), or when raft_uv_init
 * was never called on it. */
void rg_transport_release(struct rg_transport *t);

#endif
