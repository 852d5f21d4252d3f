/* The replicated state machine: the config store (objects keyed by kind and
 * id, each with the revision that last wrote it, and one global revision,
 * like etcd's), the node registry, the request-id table that makes apply
 * idempotent, and a ring of recently applied commands for debugging and
 * fault-injection checks. Pure C over plain data (jansson for bodies): no
 * socket, clock or thread; fed commands by raft/node.c or by unit tests.
 *
 * Determinism: the same sequence of entries gives byte-identical snapshots
 * and exports on every replica. Time comes only from the entry. */
#ifndef RG_RAFT_FSM_H
#define RG_RAFT_FSM_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/xref.h"
#include "raft/codec.h"

/* Checks a whole declarative config (@doc, borrowed: the export format
 * below as a JSON tree, never text, so that a check costs no dump and no
 * parse) and returns 0, or non-zero with a message in @err (@cap bytes).
 * Must be deterministic and must not change @doc.
 * main.c installs one built on the gateway config parser; raft/ does not
 * include it (docs/architecture.md §2). */
typedef int (*rg_fsm_validate_fn)(void *arg, const json_t *doc, char *err,
                                  size_t cap);

enum rg_fsm_status {
    RG_FSM_OK = 0,
    RG_FSM_CONFLICT = 1,  /* if_rev did not match: HTTP 412 */
    RG_FSM_NOT_FOUND = 2, /* DELETE of a missing object: HTTP 404 */
    RG_FSM_INVALID = 3,   /* the result would not validate: HTTP 400 */
};

/* The outcome of one command. */
struct rg_fsm_result {
    enum rg_fsm_status status;
    uint64_t revision;    /* global revision after the command (OK), or
                             the current one (other statuses) */
    char message[256];    /* for INVALID/CONFLICT, else empty */
    int duplicate;        /* 1 when the request id was seen: the result is
                             the original one, nothing was re-applied */
    uint64_t out[4];      /* command-specific outputs (see each command's
                             rules below), zero otherwise */
};

/* One entry in the applied ring (GET /debug/applied). */
struct rg_fsm_applied {
    uint64_t index;       /* Raft log index */
    uint64_t term;        /* term stamped by the proposer */
    uint64_t revision;    /* global revision after it */
    uint8_t type;         /* enum rg_cmd_type */
    uint8_t kind;
    enum rg_fsm_status status;
    char rid[RG_CODEC_MAX_RID + 1];
};

struct rg_fsm;

/* Request ids remembered with their results (a FIFO: the oldest id is
 * forgotten first, the same way on every replica). */
#define RG_FSM_DEDUPE 16384

/* Create an empty state machine (revision 0). @validate may be NULL (then
 * every body that is valid JSON is accepted). Returns NULL on ENOMEM. */
struct rg_fsm *rg_fsm_new(rg_fsm_validate_fn validate, void *arg);

/* Free @f; accepts NULL. */
void rg_fsm_free(struct rg_fsm *f);

/* The validator's rules across objects (core/xref.h; @x borrowed, must
 * outlive @f). With them, a PUT or DELETE is validated in a document of
 * the changed object and the objects they link it to, found through an
 * index of the store by those rules; without (the default, or @x NULL),
 * in the whole would-be export. Returns 0, or -ENOMEM with no rules
 * set. */
int rg_fsm_set_xrefs(struct rg_fsm *f, const struct rg_xref *x, size_t n)
    RG_MUST_CHECK;

/* Test hook: @on 1 validates every PUT and DELETE in the whole would-be
 * export, whatever the rules (see rg_fsm_apply). The verdicts must be the
 * same either way; tests/unit/test_fsm.c checks it on generated workloads
 * with the real validator. */
void rg_fsm_check_whole(struct rg_fsm *f, int on);

/* Apply the entry at Raft @index (@buf of @len bytes, borrowed). Never
 * fails as a whole: a malformed entry is recorded in the applied ring (type
 * 0, INVALID) and skipped; each command gets a result in @res (room for
 * RG_CODEC_MAX_CMDS, may be NULL). Returns the number of commands decoded.
 * Commands are applied in order; a command whose request id was applied
 * before returns its original result (any status) with duplicate = 1.
 *
 * Command rules:
 * - Request ids must be printable ASCII (else INVALID, not remembered);
 *   an empty id is never deduplicated.
 * - PUT: body a JSON object (duplicate keys refused); its "id" is set to
 *   the key (non-empty UTF-8 without NUL). if_rev != 0 must equal the
 *   object's revision; on a missing object it is a CONFLICT. A service
 *   body may not nest "routes". Every other rule (unique names...) is
 *   the validator's.
 * - DELETE: NOT_FOUND when missing (CONFLICT when if_rev != 0); else as
 *   PUT for if_rev.
 * - REPLACE_ALL: if_rev != 0 must equal the global revision. The body is
 *   a Kong 3.0 declarative JSON object with keys services, routes,
 *   consumers, plugins (arrays or null), _format_version ("3.0") and
 *   _transform/_workspace (ignored); any other key is INVALID. Every
 *   object needs a string "id" (1..RG_CODEC_MAX_KEY bytes), ids unique per
 *   kind; services[].routes are flattened into routes with
 *   "service": {"id": <service id>}. All or nothing. Objects whose body
 *   is unchanged keep their revision; the others get the new one.
 * - Config changes (PUT, DELETE, REPLACE_ALL) run the validator on the
 *   would-be export; INVALID (or any refusal) leaves the state unchanged.
 *   Success bumps the global revision by one. With rg_fsm_set_xrefs, a
 *   PUT or DELETE is checked in the document of the changed object and
 *   the objects the validator's rules link it to (raft/fsm_near.c): the
 *   store already passed the validator, so the verdict is the same
 *   (test_fsm's near_and_whole_agree checks it on generated workloads
 *   with the real validator); a message's list index is then that of the
 *   smaller document. This keeps the cost of an entry, and of replaying
 *   the log at restart, independent of the size of the config.
 * - An entry with several config changes is validated once: if the config
 *   after all of them (those the rules above accept) validates, each gets
 *   the result it would get with an always-accepting validator; if not,
 *   each is validated on its own export, in order, as when alone. So a
 *   later change in the same entry can make an earlier one valid (a route
 *   put before its service): the validator only sees the entry's final
 *   config. Every other rule stays per command.
 * - NODE_SET: key a decimal id in 1..2^63-1, body a JSON object whose
 *   "id" is set to that integer. NODE_DEL: NOT_FOUND when missing. Both
 *   ignore if_rev and leave the revision and config hash alone.
 * - CACHE_PURGE: key empty (everything) or 16 hex digits, else INVALID;
 *   no body. Calls the purge hook (rg_fsm_on_purge) with the key; the
 *   store, revision and hash are untouched. A duplicate calls nothing.
 * Out of memory in a command yields INVALID "out of memory" with that
 * command's state unchanged and its id not remembered: there is no
 * deterministic answer, so this replica may then differ from the others.
 * Thread: the owner of @f. */
unsigned rg_fsm_apply(struct rg_fsm *f, uint64_t index, const void *buf,
                      size_t len, struct rg_fsm_result *res);

/* Call @fn(@arg, key, len) for each CACHE_PURGE applied from now on
 * (len 0: every entry), during rg_fsm_apply. @fn must not call back into
 * @f. NULL: none. */
typedef void (*rg_fsm_purge_fn)(void *arg, const char *key, size_t len);
void rg_fsm_on_purge(struct rg_fsm *f, rg_fsm_purge_fn fn, void *arg);

/* The global revision, the last applied index, and a 64-bit FNV-1a hash of
 * the canonical export (identical on converged replicas). The export and
 * its hash are computed when first asked for after a change (O(store)),
 * then cached; the hash is 0 when that runs out of memory. */
uint64_t rg_fsm_revision(const struct rg_fsm *f);
uint64_t rg_fsm_applied_index(const struct rg_fsm *f);
uint64_t rg_fsm_config_hash(const struct rg_fsm *f);

/* The body field that names objects of kind @k: "name" (services,
 * routes), "username" (consumers), or NULL (no name). */
const char *rg_fsm_name_field(enum rg_kind k);

/* Look up an object by id, or by name when @by_name ("name"; "username"
 * for consumers; plugins have none). An SNI's name is a host name and
 * matches without ASCII case, as the config compiler compares SNIs.
 * Returns the body (borrowed: valid until the next apply/restore) and its
 * revision (@rev may be NULL), or NULL. */
const json_t *rg_fsm_get(const struct rg_fsm *f, enum rg_kind k,
                         const char *key, int by_name, uint64_t *rev);

/* Call @cb for each object of kind @k in id order. @body is borrowed. */
void rg_fsm_each(const struct rg_fsm *f, enum rg_kind k,
                 void (*cb)(void *arg, const char *id, const json_t *body,
                            uint64_t rev),
                 void *arg);

/* The whole config as a Kong 3.0 declarative document
 * ({"_format_version":"3.0","services":[...],"routes":[...],...}), canonical
 * (sorted ids, sorted keys, compact). Loads back to the same state with a
 * REPLACE_ALL. Returns an rg_malloc'd string (caller frees) or NULL.
 * Computed on demand and cached, as rg_fsm_config_hash. */
char *rg_fsm_export(const struct rg_fsm *f, size_t *len);

/* The same document as a JSON tree (a new reference, NULL on ENOMEM),
 * with no dump: its objects are the store's own, so the caller must not
 * change the tree (json_deep_copy it first). Thread: the owner of @f. */
json_t *rg_fsm_export_json(const struct rg_fsm *f);

/* Node registry: each record is a JSON object {id, name, raft, admin,
 * proxy, role}. Returns the record (borrowed) or NULL. */
const json_t *rg_fsm_node(const struct rg_fsm *f, uint64_t id);
void rg_fsm_each_node(const struct rg_fsm *f,
                      void (*cb)(void *arg, uint64_t id, const json_t *rec),
                      void *arg);

/* The quota ledger's "now" (raft/quota.h): the running max of the lease
 * entries' stamps applied so far, in ms since the epoch (0 before the
 * first). The clock the ledger's windows are on. Thread: the owner of
 * @f. */
uint64_t rg_fsm_quota_now_ms(const struct rg_fsm *f);

/* The cluster clock the state machine has applied: the larger of the
 * quota ledger's and the breakers' "now" (each the running max of their
 * entries' stamps), ms since the epoch, 0 before any. Thread: the owner
 * of @f. */
uint64_t rg_fsm_clock_ms(const struct rg_fsm *f);

/* Applied ring: call @cb for entries with index > @since, oldest first;
 * the ring keeps the last RG_FSM_APPLIED_RING commands (duplicates
 * included, with their original status) and is part of the snapshot. */
#define RG_FSM_APPLIED_RING 65536
void rg_fsm_applied_since(const struct rg_fsm *f, uint64_t since,
                          void (*cb)(void *arg,
                                     const struct rg_fsm_applied *a),
                          void *arg);

/* ---- Circuit breakers (raft/fsm_breaker.c; docs/architecture.md §6) ----
 *
 * One breaker per service name, created closed at epoch 0 by its first
 * command. A BREAKER command (key = the service, body =
 * {"op", "epoch", "node", "recovery_ms"}, built by rg_fsm_breaker_cmd)
 * applies only when "epoch" is the breaker's current epoch (else it is a
 * stale no-op), and every transition bumps the epoch by one, so one
 * epoch names one state everywhere (the fault-injection "version"):
 *   open    closed -> open
 *   probe   open -> half_open once recovery_ms passed since it opened,
 *           designating "node" as the only prober; also half_open ->
 *           half_open (a new prober) once recovery_ms passed since the
 *           last probe began without a close or reopen (the prober died)
 *   close   half_open -> closed, from the prober only
 *   reopen  half_open -> open, from the prober only
 * Time is the running maximum of the BREAKER entries' ts_ms. Result:
 * status OK, out[0] 1 when applied (0: stale), out[1] the state, out[2]
 * the epoch, out[3] the prober after the command. These commands never
 * touch the store, the revision, the request-id table or the applied
 * ring; their state is the snapshot's "breakers" section. */
enum rg_brk_state {
    RG_BRK_CLOSED = 0,
    RG_BRK_OPEN = 1,
    RG_BRK_HALF_OPEN = 2,
};

enum rg_brk_op {
    RG_BRK_OP_OPEN = 1,
    RG_BRK_OP_PROBE = 2,
    RG_BRK_OP_CLOSE = 3,
    RG_BRK_OP_REOPEN = 4,
};

struct rg_fsm_breaker {
    const char *service;      /* NUL-terminated, borrowed */
    enum rg_brk_state state;
    uint64_t epoch;           /* bumped by each transition */
    uint64_t prober;          /* node id (half_open), else 0 */
    uint64_t since_ms;        /* entry time of the last transition */
    uint64_t recovery_ms;     /* of the command that made it */
};

#define RG_FSM_BRK_BODY 160 /* room for a command body */

/* Fill @c (type BREAKER, empty rid) with @service and a body written into
 * @body (RG_FSM_BRK_BODY bytes, must outlive @c). 0, or -EINVAL (empty or
 * too long service, unknown op). */
int rg_fsm_breaker_cmd(struct rg_cmd *c, char *body, const char *service,
                       enum rg_brk_op op, uint64_t epoch, uint64_t node,
                       uint64_t recovery_ms);

/* Name of a state ("closed", "open", "half_open") and of an op ("open",
 * "probe", "close", "reopen"; NULL when unknown), and back (0 unknown). */
const char *rg_fsm_brk_state_name(enum rg_brk_state s);
const char *rg_fsm_brk_op_name(enum rg_brk_op op);
enum rg_brk_op rg_fsm_brk_op_from(const char *name);

/* @fn(@arg, b) after each applied transition, and for every breaker
 * after a restore (borrowed for the call). NULL: none. Kept by
 * restores. */
void rg_fsm_on_breaker(struct rg_fsm *f,
                       void (*fn)(void *arg, const struct rg_fsm_breaker *b),
                       void *arg);

/* Each breaker in service order; and one by name (NULL when none). */
void rg_fsm_each_breaker(const struct rg_fsm *f,
                         void (*cb)(void *arg, const struct rg_fsm_breaker *b),
                         void *arg);
int rg_fsm_get_breaker(const struct rg_fsm *f, const char *service,
                       struct rg_fsm_breaker *out);

/* Serialise the whole state (store, registry, request-id table, applied
 * ring, revision, applied index) into an rg_malloc'd buffer (canonical
 * JSON: replicas in the same state write the same bytes); 0 or -ENOMEM. */
int rg_fsm_snapshot(const struct rg_fsm *f, void **buf, size_t *len)
    RG_MUST_CHECK;

/* Replace the state with a snapshot (@buf borrowed). 0, or -EINVAL for a
 * malformed snapshot (then @f is unchanged), or -ENOMEM. */
int rg_fsm_restore(struct rg_fsm *f, const void *buf, size_t len)
    RG_MUST_CHECK;

#endif
