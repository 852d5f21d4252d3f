/* Internals shared by raft/node.c (start, stop, the monitor), raft/write.c
 * (writes, barriers, the state machine glue) and raft/membership.c
 * (members, role changes, leadership transfer, status). Not for src/. */
#ifndef RG_RAFT_NODE_INT_H
#define RG_RAFT_NODE_INT_H

#include <raft.h>
#include <raft/uv.h>

#include "raft/rgraft.h"
#include "raft/transport.h"

struct rg_waiter;
struct rg_proposal;
struct rg_rbarrier;
struct rg_held_msg;

struct rg_raft {
    uv_loop_t *loop;
    struct raft raft;
    struct raft_io io;
    struct rg_transport transport;
    struct raft_fsm fsm_ops;
    struct rg_fsm *fsm;
    uv_idle_t kick;              /* runs while writes wait to be proposed */
    uv_prepare_t monitor;        /* state changes, deferred notifications */
    int lock_fd;                 /* flock'd lock file in the data dir */
    uint64_t id;
    uint64_t incarnation;        /* random per start */
    uint64_t stamp_off_ms;       /* write.c: added to the realtime an
                                    entry is stamped with, never shrinks */
    unsigned heartbeat_ms;       /* as configured (write.c's nudge) */
    char *name, *raft_addr, *admin_addr, *proxy_addr; /* rg_malloc'd */
    void (*on_change)(void *arg, uint64_t revision);
    void *arg;
    void (*on_breaker)(void *arg, const struct rg_fsm_breaker *b);
    void *breaker_arg;
    int breaker_pending;         /* breakers owed (restore during start) */

    /* Writes not yet proposed (one loop iteration's worth), and proposed
     * entries waiting for their raft_apply callback. */
    struct rg_waiter *batch_head, *batch_tail;
    struct rg_proposal *inflight;
    struct rg_rbarrier *barriers; /* outstanding rg_raft_barrier calls */

    /* Monitor. */
    int last_state;              /* enum raft_state seen last iteration */
    int started;                 /* rg_raft_start returned */
    int change_pending;          /* on_change owed (restore during start) */
    int self_check;              /* verify our registry record */
    int self_busy;               /* barrier or NODE_SET for it in flight */
    unsigned self_seq;
    struct raft_barrier self_barrier;

    /* Membership and transfer: one of each at a time. The transfer request
     * lives as long as the node (docs/raft.md §2.5). */
    struct raft_change change;
    int change_busy;
    rg_raft_done_cb change_cb;
    void *change_arg;
    struct raft_transfer transfer;
    int transfer_busy;
    rg_raft_done_cb transfer_cb;
    void *transfer_arg;

    int stopping;
    void (*stop_cb)(void *arg);
    void *stop_arg;

    /* The io shim (node.c): raft_uv's start and snapshot_put, the recv
     * callback libraft passed to start, snapshot puts in flight and
     * InstallSnapshot messages held until they complete. */
    int (*uv_start)(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
                    raft_io_recv_cb recv);
    int (*uv_snapshot_put)(struct raft_io *io, unsigned trailing,
                           struct raft_io_snapshot_put *req,
                           const struct raft_snapshot *snapshot,
                           raft_io_snapshot_put_cb cb);
    raft_io_recv_cb recv_cb;
    unsigned taking;
    struct rg_held_msg *held;

    /* met (issue 12): snapshots stored and apply latencies, for
     * rg_raft_stats (node.c counts snapshots, write.c applies). */
    struct rg_raft_stats stats;
};

/* write.c: fill r->fsm_ops; report a store change (deferred until start
 * returned); fail whatever is still pending at close. */
void rg_raft__fsm_init(struct rg_raft *r);
void rg_raft__notify_change(struct rg_raft *r);
void rg_raft__sweep(struct rg_raft *r);

/* write.c: count a proposal applied @us microseconds after it was
 * proposed. */
void rg_raft__count_apply(struct rg_raft *r, uint64_t us);

/* The state's name as rg_raft_status reports it. */
const char *rg_raft__state_name(int state);

/* Membership: fail a pending change/transfer at close (status given). */
void rg_raft__membership_close(struct rg_raft *r);

#endif
