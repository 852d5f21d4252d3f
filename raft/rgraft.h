/* The facade: the only raft/ header that src/ includes (main.c and the
 * admin API). It runs libraft 0.22.1 on the control loop (docs/raft.md §0: TCP
 * transport wrapped to set TCP_NODELAY/keepalive/TCP_USER_TIMEOUT, entries
 * padded to 8 bytes, one entry per raft_apply with commands packed inside,
 * pre-vote on, auto-recovery off, flock on the data dir, a large snapshot
 * threshold) and exposes the replicated state machine (raft/fsm.h).
 *
 * Thread: every function here runs on the loop given to rg_raft_start (the
 * control thread) and every callback fires there. libraft is never touched
 * from another thread. Errors: 0 or a negative RG_RAFT_E* / -errno.
 * The process must ignore SIGPIPE: libuv writes to peers that went away. */
#ifndef RG_RAFT_RGRAFT_H
#define RG_RAFT_RGRAFT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/err.h"
#include "raft/codec.h"
#include "raft/fsm.h"
#include "raft/quota.h"

enum rg_raft_role {
    RG_ROLE_VOTER = 0,
    RG_ROLE_STANDBY = 1,         /* replicates and proxies, no vote */
    RG_ROLE_SPARE = 2,           /* member without log */
};

struct rg_raft_peer {
    uint64_t id;
    const char *address;         /* raft "host:port" */
};

struct rg_raft_conf {
    uint64_t id;                 /* this node, >= 1 */
    const char *name;
    const char *data_dir;        /* created if missing; locked with flock */
    const char *raft_addr;       /* "host:port" to listen on and advertise */
    const char *admin_addr;      /* advertised in the node registry */
    const char *proxy_addr;
    const struct rg_raft_peer *voters; /* initial voters: first boot
                                          bootstraps these, later boots
                                          resume from disk */
    unsigned n_voters;
    int joining;                 /* 1: start with no configuration and wait
                                    to be added (see rg_raft_add) */
    unsigned election_ms;        /* default 1000 */
    unsigned heartbeat_ms;       /* default 100 */
    unsigned snapshot_threshold; /* entries between snapshots, default 8192 */
    rg_fsm_validate_fn validate; /* see fsm.h; kept */
    void *validate_arg;
    const struct rg_xref *xrefs; /* its rules (rg_fsm_set_xrefs); kept */
    size_t n_xrefs;
    /* Called after each applied entry that changed the config store, and
     * after a snapshot restore that changed it, with the new global
     * revision. Never from inside rg_raft_start: a restore at start is
     * reported on the loop's first iteration. */
    void (*on_change)(void *arg, uint64_t revision);
    /* Called with @arg for each applied CACHE_PURGE (raft/fsm.h
     * rg_fsm_on_purge: @len 0 purges everything), on every node; may be
     * NULL. */
    rg_fsm_purge_fn on_purge;
    void *arg;
    /* Called after each applied circuit-breaker transition (fsm.h), and
     * for every breaker after a snapshot restore (deferred to the loop's
     * first iteration during rg_raft_start), on every node. @b is
     * borrowed for the call. NULL: not told. */
    void (*on_breaker)(void *arg, const struct rg_fsm_breaker *b);
    void *breaker_arg;
    /* auth: the cluster key (raft.cluster_key_file), copied; NULL = an
     * unauthenticated transport. With it every raft connection runs the
     * keyed handshake of raft/hsauth.h. */
    const unsigned char *cluster_key;
    size_t cluster_key_len;      /* >= 32 */
    /* auth: one WARN line about a refused raft peer (rate-limited per
     * address), on the raft loop's thread; NULL = silent. */
    void (*warn)(void *arg, const char *msg);
    void *warn_arg;
};

struct rg_raft;

/* Open the data dir, start libraft and the transport on @loop. Strings in
 * @c are copied. On failure returns NULL and writes a message to @err
 * (@cap bytes): data dir locked by another process, bind error, corrupt
 * data (auto-recovery is off: wipe the dir and re-join). A failure after
 * libraft started finishes its cleanup (closing handles, releasing the
 * lock) when @loop runs next. */
struct rg_raft *rg_raft_start(uv_loop_t *loop, const struct rg_raft_conf *c,
                              char *err, size_t cap);

/* Close libraft and the transport; @cb runs when everything is closed,
 * after which @r is freed (the data dir lock is released). Pending writes
 * complete with RG_RAFT_ESHUTDOWN (not yet proposed) or RG_RAFT_EUNKNOWN
 * (proposed), barriers and changes likewise, before @cb. Writes after
 * this call return RG_RAFT_ESHUTDOWN. A second call is ignored. */
void rg_raft_stop(struct rg_raft *r, void (*cb)(void *arg), void *arg);

/* Propose @n commands (borrowed, copied before return). Commands submitted
 * in one loop iteration are packed into one log entry (they go out on the
 * next iteration). @cb gets status 0 and one result per command (@res is
 * borrowed for the call) once the entry is applied locally, or
 * RG_RAFT_ENOTLEADER / RG_RAFT_ESHUTDOWN / -ENOMEM / -ENOSPC (certainly
 * not applied), or RG_RAFT_EUNKNOWN (may still commit: retry with the same
 * request ids). Returns 0, or with @cb never called: RG_RAFT_ENOTLEADER,
 * RG_RAFT_ESHUTDOWN, -EINVAL (n is 0 or above RG_CODEC_MAX_CMDS, or a
 * command breaks a codec limit), -E2BIG (the commands take more than 4 MiB
 * encoded), -ENOMEM. */
typedef void (*rg_raft_write_cb)(void *arg, int status,
                                 const struct rg_fsm_result *res, unsigned n);
int rg_raft_write(struct rg_raft *r, const struct rg_cmd *cmds, unsigned n,
                  rg_raft_write_cb cb, void *arg);

/* A linearizable read point: on the leader, @cb(arg, 0) fires once every
 * entry committed before the call is applied locally (raft_barrier);
 * else RG_RAFT_ENOTLEADER (returned, or later through @cb),
 * RG_RAFT_EUNKNOWN (leadership lost meanwhile) or RG_RAFT_ESHUTDOWN. */
int rg_raft_barrier(struct rg_raft *r, void (*cb)(void *arg, int status),
                    void *arg);

/* The state machine, for local reads. Borrowed; valid until rg_raft_stop. */
const struct rg_fsm *rg_raft_fsm(const struct rg_raft *r);

struct rg_raft_status {
    uint64_t id;
    const char *state;           /* "leader", "follower", "candidate",
                                    "unavailable" */
    uint64_t term;
    uint64_t leader_id;          /* 0 when unknown */
    uint64_t commit_index;
    uint64_t applied_index;
    uint64_t revision;
    uint64_t incarnation;        /* random per process start */
    int transport_auth;          /* 1: the keyed handshake is on (auth) */
};
void rg_raft_status(const struct rg_raft *r, struct rg_raft_status *st);

/* Counters for GET /metrics (met, issue 12; control/prom_node.c): the
 * snapshots this node stored (taken, or installed from the leader), and
 * the apply latency of this node's own proposals (leader only: from the
 * raft_apply call to its callback, the entry committed and applied), in
 * buckets with upper bounds rg_raft_apply_ms (not cumulative; the last
 * is +Inf). Thread: the node's loop. */
#define RG_RAFT_APPLY_BUCKETS 10
extern const uint32_t rg_raft_apply_ms[RG_RAFT_APPLY_BUCKETS];
struct rg_raft_stats {
    uint64_t snapshots;
    uint64_t apply[RG_RAFT_APPLY_BUCKETS + 1];
    uint64_t apply_sum_us; /* microseconds, over every apply */
};
void rg_raft_stats(const struct rg_raft *r, struct rg_raft_stats *st);

/* The leader's admin address from the node registry into @out, or
 * -ENOENT when there is no known leader or no record for it, or -ENOSPC
 * when it does not fit in @cap bytes. This node's own address when it
 * leads. (Each node records itself {id, name, raft, admin, proxy, role}
 * with a NODE_SET when it becomes leader and its record is missing or
 * stale.) */
int rg_raft_leader_admin(const struct rg_raft *r, char *out, size_t cap);

/* One member of the Raft configuration. */
struct rg_raft_member {
    uint64_t id;
    const char *address;
    enum rg_raft_role role;
};
void rg_raft_members(const struct rg_raft *r,
                     void (*cb)(void *arg, const struct rg_raft_member *m),
                     void *arg);

/* Membership and leadership (leader only; one change and one transfer at
 * a time, else RG_RAFT_EBUSY). add: as spare; assign: change role (to
 * voter after the node caught up); remove; transfer to @id (0 = any
 * voter). Returned errors (@cb never called): RG_RAFT_ENOTLEADER,
 * RG_RAFT_EBUSY, RG_RAFT_ESHUTDOWN, -EINVAL (bad id/role/address, or a
 * transfer target that is this node or not a voter), -EEXIST (id or
 * address already a member), -ENOENT (no such member; no voter to
 * transfer to), -EALREADY (the member has that role), -ENOMEM.
 * @cb(arg, status) then reports 0, RG_RAFT_ENOTLEADER, -ETIMEDOUT (a
 * promotee did not catch up, nothing changed; or a transfer's target did
 * not take over within the election timeout), RG_RAFT_EUNKNOWN (the
 * change may still commit) or RG_RAFT_ESHUTDOWN (transfer, at stop). */
typedef void (*rg_raft_done_cb)(void *arg, int status);
int rg_raft_add(struct rg_raft *r, uint64_t id, const char *address,
                rg_raft_done_cb cb, void *arg);
int rg_raft_assign(struct rg_raft *r, uint64_t id, enum rg_raft_role role,
                   rg_raft_done_cb cb, void *arg);
int rg_raft_remove(struct rg_raft *r, uint64_t id, rg_raft_done_cb cb,
                   void *arg);
int rg_raft_transfer(struct rg_raft *r, uint64_t id, rg_raft_done_cb cb,
                     void *arg);

#endif
