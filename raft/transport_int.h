/* Internals shared by transport.c (outgoing connects, init, close) and
 * transport_accept.c (the keyed-mode listener). Thread: the loop's. */
#ifndef RG_RAFT_TRANSPORT_INT_H
#define RG_RAFT_TRANSPORT_INT_H

#include "raft/transport.h"

#define RG_TR_HOST_MAX 256
#define RG_TR_HS_PROTOCOL 1 /* raft_uv_tcp's handshake protocol */

/* Socket options every raft stream gets (TCP_NODELAY among them). */
void rg_tr_set_opts(const struct rg_transport_opts *o, uv_tcp_t *tcp);

/* Split "host:port" at the last colon into @host (RG_TR_HOST_MAX) and
 * @port (8); 0 or -1. */
int rg_tr_split_address(const char *a, char *host, char *port);

/* WARN "raft transport: refused <peer>: <why>" through opts.warn, at most
 * once per peer address per RG_HS_WARN_MS. */
void rg_tr_refused(struct rg_transport *t, const char *peer, const char *why);

/* The key as hsauth.h takes it. */
struct rg_hs_key rg_tr_key(const struct rg_transport *t);

/* Fire the close callback once everything is closed. */
void rg_tr_maybe_fire_close(struct rg_transport *t);

/* Keyed mode: listen on t->address with our own handshake (0 or RAFT_*),
 * and close the listener and every handshake in progress. */
int rg_tr_listen(struct rg_transport *t);
void rg_tr_listen_close(struct rg_transport *t);

#endif
