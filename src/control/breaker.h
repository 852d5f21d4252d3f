/* The circuit breakers' control side (docs/architecture.md §6): turns the
 * data plane's asks (RG_CTLQ_BREAKER messages naming a slot of
 * plugins/breaker_table.h) into BREAKER commands, proposes PROBE once a
 * breaker was open for its recovery_timeout (a timer), writes every
 * committed transition (rg_cbc_committed, from the Raft callback) into
 * the table, and runs the node's local breaker instead:
 *   - for policy local (never through Raft);
 *   - without Raft (single-node mode);
 *   - when this node cannot reach a leader (no leader known, the write
 *     or its forward failed or took more than RG_CBC_WRITE_MS): the
 *     node opens itself, probes itself after the recovery timeout, and
 *     adopts the committed state again once a leader has been known for
 *     RG_CBC_REJOIN_MS (or a transition commits).
 * On the leader a command is written with rg_raft_write; a follower
 * sends it to the leader's POST /cluster/breaker through the forward
 * hook main.c installs (admin/fwd.c).
 * Counting (policy cluster): every failure a worker sees while closed is
 * also counted by the leader (followers report theirs, batched while a
 * report is in flight); the leader proposes OPEN when the cluster's
 * failures within the window reach the threshold. The count lives in the
 * leader's memory only (a new leader starts from zero); a node's own
 * count reaching the threshold trips it as well.
 *
 * Thread: the control loop, all of it. */
#ifndef RG_CONTROL_BREAKER_H
#define RG_CONTROL_BREAKER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "raft/rgraft.h"

#define RG_CBC_WRITE_MS 2500  /* a proposal without an answer: cut off */
#define RG_CBC_REJOIN_MS 2000 /* leader known this long: adopt committed */
#define RG_CBC_TICK_MS 100

/* The answer of a forwarded command: @ok 1 when the leader answered 200
 * (then @body is its JSON answer), 0 when it could not be reached or
 * refused. */
typedef void (*rg_cbc_fwd_done)(void *arg, int ok, const char *body,
                                size_t len);
/* Send @body (JSON) as POST /cluster/breaker to the admin API at @addr;
 * 0 when started (@done fires once), else non-zero (@done never
 * fires). */
typedef int (*rg_cbc_fwd_fn)(void *hook, const char *addr, const char *body,
                             size_t len, rg_cbc_fwd_done done, void *arg);

/* Start on @loop; @raft may be NULL (single node: local breakers only).
 * Registers the RG_CTLQ_BREAKER handler. 0 or a libuv error. */
int rg_cbc_start(uv_loop_t *loop, struct rg_raft *raft, uint64_t self_id);
void rg_cbc_set_forward(rg_cbc_fwd_fn fn, void *hook);

/* Give the Raft handle once it exists (main.c starts Raft after). */
void rg_cbc_set_raft(struct rg_raft *raft);

/* POST /cluster/breaker {"op": "fail", ...} on the leader: @n failures
 * of @service at @epoch seen by a follower, counted with this node's
 * own against @threshold in @window_ms. 1 when the cluster is over the
 * threshold (an OPEN is on its way: the follower holds its requests
 * back too), 0, -EAGAIN (not the leader) or -ENOSPC (table full). */
int rg_cbc_report(const char *service, uint64_t epoch, unsigned n,
                  unsigned threshold, unsigned window_ms, unsigned recovery_ms);

/* A committed transition (rg_raft_conf.on_breaker). */
void rg_cbc_committed(void *arg, const struct rg_fsm_breaker *b);

/* Stop the timer (the loop must run once more). */
void rg_cbc_stop(void);

#endif
