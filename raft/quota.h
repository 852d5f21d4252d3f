/* The cluster quota ledger's commands (RAFT.md §6 design A, escrow
 * leases): how a node asks the state machine for tokens of a limit's
 * window (LEASE_REQ) and gives back the ones it will not spend
 * (LEASE_RET), and the rules apply follows. Included by raft/rgraft.h;
 * the ledger itself is raft/fsm_quota.c.
 *
 * A command's key is the limit key, the same text on every node
 * (printable ASCII, 1..RG_CODEC_MAX_KEY bytes; the proposer hashes longer
 * ones); its body is a fixed little-endian record (rg_lease_encode). Both
 * go with an empty request id: they deduplicate themselves, per (key,
 * window unit, node) by (incarnation, seq), and are never recorded in the
 * applied ring.
 *
 * Apply rules (time only from the entry's ts_ms, as a running max "now"):
 * - The ledger of (key, unit) holds the window [start, end) holding now
 *   (core/window.h), the limit, the tokens granted in it net of returns,
 *   and per node the last (incarnation, seq) with its result and the
 *   tokens the node holds in this window.
 * - A newer window resets the granted count to 0 (remaining = limit).
 * - REQ: a (incarnation, seq) equal to the node's last one is a duplicate
 *   (a retry after an unknown outcome): the original result again,
 *   duplicate = 1, nothing granted. An older seq of the same incarnation
 *   gets 0 tokens. Else grant g = min(want, remaining), except NEAR
 *   EXHAUSTION, defined as remaining < 2·N·want (N = nodes in the
 *   registry, at least 1): then g = min(want, ceil(remaining / 2N)), so
 *   the tail of a window is shared out in halving slices instead of
 *   going to whichever node asks first. The limit is the request's (a
 *   changed config applies to what was granted so far).
 * - RET: accepted only from the incarnation the node's record holds, with
 *   a seq above its last, for the window the record is in (its start
 *   given); adds back min(unused, what that node holds), never more. A
 *   node sends it only for tokens it removed from its own balance first.
 * - Ledgers of windows that ended (end <= now) are dropped, checked once
 *   per second of "now", in key order.
 * Outputs (rg_fsm_result.out): [0] tokens granted (REQ) or given back
 * (RET), [1] window start, [2] window end (s since the epoch), [3] the
 * window's remaining tokens after the command. A malformed body or key is
 * INVALID. */
#ifndef RG_RAFT_QUOTA_H
#define RG_RAFT_QUOTA_H

#include <stddef.h>
#include <stdint.h>

#define RG_LEASE_BODY 56 /* bytes of an encoded body: six u64 and the
                            unit, padded with zeros */

struct rg_lease {
    uint64_t node;        /* proposer's node id */
    uint64_t incarnation; /* proposer's process start (random) */
    uint64_t seq;         /* per incarnation, increasing */
    uint64_t n;           /* REQ: tokens wanted; RET: unused tokens */
    uint64_t limit;       /* REQ: the window's limit; RET: 0 */
    uint64_t window;      /* RET: the window start the tokens are of */
    uint8_t unit;         /* enum rg_window_unit (core/window.h) */
};

/* Encode @l into @out (RG_LEASE_BODY bytes). Thread: any. */
void rg_lease_encode(const struct rg_lease *l, unsigned char *out);

/* Decode a body of @len bytes: 0, or -EINVAL (wrong length, unit out of
 * range, non-zero padding). Thread: any. */
int rg_lease_decode(const void *body, size_t len, struct rg_lease *l);

#endif
