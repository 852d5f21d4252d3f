/* The lease client of rate-limiting's policy cluster (RAFT.md §6 design
 * A) on the control thread: it drains RG_CTLQ_QUOTA messages from the
 * workers (a slot of plugins/quota_table.h runs low), batches the lease
 * requests and returns of one loop iteration into one rg_raft_write on
 * the leader, or one POST /cluster/leases to the leader's admin API on a
 * follower, and installs the grants in the lease table.
 *
 * Sizing (per slot, from the node's own rate λ, an average of the takes
 * over the last scans): a batch B = clamp(λ·T, 1, ceil(L/N)) with T = D/4
 * (the lease is refreshed or returned at 3D/4 anyway), and a low-water
 * mark w = ceil(2·λ·(t_c + τ)) + 1 with t_c the measured grant round
 * trip and τ one loop iteration (1 ms); the state machine halves grants
 * near exhaustion (raft/quota.h).
 *
 * Lifetime: a lease is spent until D (lease_ms) after its request was
 * first sent, monotonic clock, and at most to the window's end on the
 * ledger's clock: the window's end less the ledger's "now" when the
 * grant was answered (rg_fsm_quota_now_ms; "now_ms" in the leader's
 * answer to a forward), counted from the first send; this node's
 * realtime only when an older leader sends no "now_ms". A scan every D/10 (at most 50 ms) returns the balance of
 * a key that went idle (no take for D/4) or whose lease ends within D/4
 * while idle, and refreshes it (a new request) while busy; a return
 * removes the tokens from the balance first (one atomic exchange). An
 * unknown outcome (leader lost, forward timed out) is retried with the
 * same seq until D after the first send; a new process start is a new
 * incarnation, so old grants are never spent.
 *
 * Thread: the control loop's, everything. */
#ifndef RG_CONTROL_QUOTA_H
#define RG_CONTROL_QUOTA_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct rg_raft;
struct rg_quota;

/* How a follower reaches the leader's admin API: POST @body (@len bytes,
 * JSON) to /cluster/leases there; @cb(arg, status, body, len) once, with
 * status 0 when nothing was sent (no leader known, connect failed), -1
 * when the outcome is unknown, else the HTTP status. Returns 0, or -1
 * when nothing started (then @cb is never called). */
typedef void (*rg_quota_post_cb)(void *arg, int status, const char *body,
                                 size_t len);
typedef int (*rg_quota_post_fn)(void *fn_arg, const char *body, size_t len,
                                unsigned timeout_ms, rg_quota_post_cb cb,
                                void *arg);

struct rg_quota_conf {
    uv_loop_t *loop;
    struct rg_raft *raft;        /* kept until rg_quota_stop */
    const char *name;            /* this node's, for the debug header */
    unsigned lease_ms;           /* D */
    int debug_header;            /* X-Raftgate-Quota on every admitted
                                    answer (node config) */
    /* Test builds' negative control (--unsafe-lease-reclaim-early):
     * return unused tokens at every scan but keep spending them. */
    int unsafe_reclaim_early;
};

/* Start serving the lease table on @c->loop and register the
 * RG_CTLQ_QUOTA handler. NULL on ENOMEM. */
struct rg_quota *rg_quota_start(const struct rg_quota_conf *c);

/* How to reach the leader from a follower (see rg_quota_post_fn). */
void rg_quota_set_post(struct rg_quota *q, rg_quota_post_fn fn, void *arg);

/* The leader's side of POST /cluster/leases: propose the commands of
 * @body (borrowed) and answer through @cb(arg, status, json) with 200 and
 * {"results": [[status, duplicate, granted, start, end, remaining]...],
 *  "now_ms": the ledger's clock after them (rg_fsm_quota_now_ms)}, 400 for a malformed body, 503 (not proposed: not the leader) or 504
 * (unknown outcome); @json is taken by the callee (NULL for no body). */
typedef void (*rg_quota_serve_cb)(void *arg, int status, json_t *json);
void rg_quota_serve(struct rg_quota *q, const char *body, size_t len,
                    rg_quota_serve_cb cb, void *arg);

/* GET /status's "quota": {lease_ms, leases: [{id, key, window, tokens,
 * used, expires_in_ms}]} (a new reference; NULL on ENOMEM). Accepts a
 * NULL @q (no quota client: an empty list). */
json_t *rg_quota_status(const struct rg_quota *q);

/* Stop: timers closed, pending answers dropped (the loop must run once
 * more). Accepts NULL. */
void rg_quota_stop(struct rg_quota *q);

#endif
