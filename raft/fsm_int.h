/* Internals of the replicated state machine, shared by raft/fsm.c (apply
 * and commands), raft/fsm_store.c (objects, node registry, export),
 * raft/fsm_decl.c (REPLACE_ALL documents), raft/fsm_keys.c (the link
 * index), raft/fsm_near.c (the document a change is checked in),
 * raft/fsm_hist.c (request-id table and applied ring), raft/fsm_quota.c
 * (the lease ledger) and raft/fsm_snap.c (snapshot and restore).
 * Nothing here is for callers outside raft/fsm*.c. Thread: the owner of the
 * struct rg_fsm. */
#ifndef RG_RAFT_FSM_INT_H
#define RG_RAFT_FSM_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/fsm.h"

/* Buckets of the request-id hash (a power of two, one per slot). */
#define RG_FSM_DEDUPE_BUCKETS RG_FSM_DEDUPE

/* One stored object. */
struct rg_obj {
    const char *id;   /* the body's "id" string (borrowed from @body) */
    size_t id_len;    /* bytes */
    json_t *body;     /* one reference owned; never mutated once stored */
    uint64_t rev;     /* the global revision that last wrote it */
};

/* A key of the link index (fsm_keys.c): the hash of a value's text
 * without ASCII case, and the id of the object that holds it (borrowed
 * from its body). */
struct rg_xkey {
    uint64_t h;
    const char *id;
    size_t id_len;
};

struct rg_xkeys {
    struct rg_xkey *v; /* rg_malloc'd, sorted by (h, id) */
    size_t n, cap;
};

/* The objects of one kind, sorted by id (bytewise, like strcmp), and,
 * once rg_fsm__keys_init gave it the validator's rules, the keys of each
 * rule on this kind (keys[x] for rule xrefs[x]; empty for the others). */
struct rg_objs {
    struct rg_obj *v; /* rg_malloc'd */
    size_t n, cap;
    enum rg_kind kind;
    const struct rg_xref *xrefs; /* borrowed, or NULL: no index */
    size_t n_xrefs;
    struct rg_xkeys *keys; /* rg_malloc'd, n_xrefs of them */
    size_t irregular;      /* objects rg_fsm__irregular says the index
                              cannot follow */
};

struct rg_store {
    struct rg_objs k[RG_KIND_MAX]; /* index RG_KIND_NONE unused */
};

struct rg_node_rec {
    uint64_t id;
    json_t *rec; /* one reference owned */
};

/* The node registry, sorted by id. */
struct rg_nodes {
    struct rg_node_rec *v;
    size_t n, cap;
};

/* A bounded FIFO laid out in one array: slots grow by doubling up to a
 * maximum; once full, the oldest slot (head) is overwritten. Invariant:
 * head == 0 unless n == cap == the maximum. */
struct rg_fifo {
    size_t n, cap, head;
};

/* One remembered request id and its original result. */
struct rg_dd_ent {
    char rid[RG_CODEC_MAX_RID + 1]; /* NUL-terminated */
    uint32_t hash;                  /* FNV-1a 32 of rid */
    int32_t next;                   /* next slot in the same bucket, -1 ends */
    uint8_t status;                 /* enum rg_fsm_status */
    uint64_t revision;
    char *message; /* rg_malloc'd, NULL when empty */
};

struct rg_dedupe {
    struct rg_fifo q;
    struct rg_dd_ent *v;                   /* rg_malloc'd */
    int32_t bucket[RG_FSM_DEDUPE_BUCKETS]; /* first slot, -1 empty */
};

struct rg_ring {
    struct rg_fifo q;
    struct rg_fsm_applied *v; /* rg_malloc'd */
};

/* --- the quota ledger (fsm_quota.c, rules in raft/quota.h) --- */

/* A node's part of one ledger. */
struct rg_qnode {
    uint64_t node, inc, seq; /* its last command */
    uint64_t grant;          /* its last REQ's result: tokens, */
    uint64_t wstart, wend;   /* ... of that window (s) */
    uint64_t held;           /* tokens it holds in the ledger's window */
};

/* One limit key and window unit. */
struct rg_ledger {
    char *key; /* rg_malloc'd, key_len bytes, printable ASCII */
    size_t key_len;
    uint8_t unit;         /* enum rg_window_unit */
    uint64_t start, end;  /* the window, s since the epoch */
    uint64_t limit;       /* the last request's */
    uint64_t granted;     /* in this window, net of returns */
    struct rg_qnode *v;   /* rg_malloc'd, sorted by node */
    size_t n, cap;
};

struct rg_quota {
    struct rg_ledger **v; /* rg_malloc'd, sorted by (key, unit) */
    size_t n, cap;
    uint64_t now_ms;      /* running max of the entries' ts_ms */
    uint64_t swept_s;     /* now (s) of the last drop of ended windows */
};

/* One circuit breaker (fsm_breaker.c). */
struct rg_brk {
    char *service; /* rg_malloc'd */
    uint8_t state; /* enum rg_brk_state */
    uint64_t epoch, prober, since_ms, recovery_ms;
};

/* The breakers, sorted by service (strcmp), and the running maximum of
 * the BREAKER entries' ts_ms. */
struct rg_brks {
    struct rg_brk *v; /* rg_malloc'd */
    size_t n, cap;
    uint64_t now_ms;
};

struct rg_fsm {
    rg_fsm_validate_fn validate; /* may be NULL */
    void *arg;
    const struct rg_xref *xrefs; /* the validator's rules across objects
                                    (rg_fsm_set_xrefs), or NULL */
    size_t n_xrefs;
    struct rg_store store;
    struct rg_nodes nodes;
    struct rg_dedupe dd;
    struct rg_ring ring;
    uint64_t revision;      /* global config revision */
    uint64_t applied_index; /* last Raft index given to apply */
    /* The canonical export and its hash are a cache, filled on demand
     * (rg_fsm__export_cached); export_ok says whether they describe the
     * current store. */
    char *export; /* canonical export, rg_malloc'd,
                     NUL-terminated, or NULL */
    size_t export_len;
    uint64_t hash; /* FNV-1a 64 of export */
    int export_ok;
    int whole;     /* rg_fsm_check_whole: always validate whole */
    rg_fsm_purge_fn on_purge; /* rg_fsm_on_purge, or NULL */
    void *purge_arg;
    struct rg_quota quota;
    struct rg_brks brk; /* circuit breakers */
    void (*brk_fn)(void *arg, const struct rg_fsm_breaker *b);
    void *brk_arg;
};

/* --- fsm_store.c ------------------------------------------------------ */

uint64_t rg_fsm__fnv64(const void *p, size_t n);
/* Continue an FNV-1a 64 hash @h over @n more bytes. */
uint64_t rg_fsm__fnv64_more(uint64_t h, const void *p, size_t n);

/* Index of @id in @o, or where it would be inserted; *@found says which. */
size_t rg_fsm__find(const struct rg_objs *o, const char *id, size_t len,
                    int *found);
/* Make room for @extra more objects: 0 or -ENOMEM. */
int rg_fsm__reserve(struct rg_objs *o, size_t extra);
/* Insert at @i (room reserved before), taking one reference of @body,
 * whose "id" member must be a string. */
void rg_fsm__insert(struct rg_objs *o, size_t i, json_t *body, uint64_t rev);
/* Replace the body at @i (taking @body's reference, dropping the old). */
void rg_fsm__replace(struct rg_objs *o, size_t i, json_t *body, uint64_t rev);
void rg_fsm__remove(struct rg_objs *o, size_t i);
/* Release every object and the link index; @s is left zeroed (no index:
 * rg_fsm__keys_init before indexing again). */
void rg_fsm__store_release(struct rg_store *s);
/* The declarative document of @s as a new JSON value whose arrays hold
 * references to the stored bodies (the caller may edit the arrays, never
 * the bodies), or NULL on ENOMEM. */
json_t *rg_fsm__export_doc(const struct rg_store *s);
/* Dump @j canonically (sorted keys, compact) into an rg_malloc'd,
 * NUL-terminated string: 0 or -ENOMEM. */
int rg_fsm__dump(const json_t *j, char **out, size_t *len);
/* Recompute f->export and f->hash from f->store: 0 or -ENOMEM (then the
 * cache stays invalid). */
int rg_fsm__refresh_export(struct rg_fsm *f);
/* Make sure the cache describes the current store: 0 or -ENOMEM. */
int rg_fsm__export_cached(struct rg_fsm *f);
/* The store changed: the cached export no longer describes it. */
void rg_fsm__export_stale(struct rg_fsm *f);

size_t rg_fsm__node_find(const struct rg_nodes *s, uint64_t id, int *found);
int rg_fsm__node_reserve(struct rg_nodes *s);
void rg_fsm__node_put(struct rg_nodes *s, size_t i, int found, uint64_t id,
                      json_t *rec);
void rg_fsm__node_remove(struct rg_nodes *s, size_t i);
void rg_fsm__nodes_release(struct rg_nodes *s);

/* --- fsm_decl.c ------------------------------------------------------- */

/* Build @out (empty on entry) from the Kong declarative document @doc
 * (borrowed; its objects may be edited and referenced by @out). An object
 * whose body equals the one in @old keeps that revision, others get
 * @rev. @out gets the link index of the rules @old is indexed by (those
 * of the state machine). Returns 0, 1 with a message in @err (@cap bytes)
 * when the document is invalid, or -ENOMEM; on non-zero @out is
 * released. */
/* Whether kind @k came after the first release (upstreams, targets): the
 * export text and snapshots leave it out while it is empty, so that they
 * stay byte-identical to what older nodes write. */
int rg_fsm__kind_optional(enum rg_kind k);

/* The list of child objects a parent of kind @k may nest in a whole
 * config ("routes" of a service, "targets" of an upstream), or NULL; the
 * child kind and its reference field come with rg_fsm__nested_child. */
const char *rg_fsm__nested_of(enum rg_kind k);

int rg_fsm__decl_build(json_t *doc, const struct rg_store *old, uint64_t rev,
                       struct rg_store *out, char *err, size_t cap);

/* --- fsm_keys.c ------------------------------------------------------- */

/* Index every object of @s by the rules @x (@n of them; borrowed), or drop
 * the index (@x NULL). 0, or -ENOMEM with no index left. The store's
 * primitives (insert, replace, remove, reserve) keep it up to date. */
int rg_fsm__keys_init(struct rg_store *s, const struct rg_xref *x, size_t n);
void rg_fsm__keys_release(struct rg_objs *o);
/* Room for the keys of @extra more objects: 0 or -ENOMEM. */
int rg_fsm__keys_reserve(struct rg_objs *o, size_t extra);
void rg_fsm__keys_add(struct rg_objs *o, const struct rg_obj *ob);
void rg_fsm__keys_del(struct rg_objs *o, const struct rg_obj *ob);
/* Whether @body holds what the links do not follow exactly: a reference
 * that is not a mapping (a bare text may name one object by its id and
 * another by its name: the validator takes the first in the document),
 * or a nested list of objects (a service's "plugins", a consumer's
 * "keyauth_credentials": any list named by a rule's kind), whose own rules
 * the index does not see. A change is checked whole while such an object
 * is stored or written. */
int rg_fsm__irregular(const struct rg_xref *x, size_t n, const json_t *body);
/* Call @fn with the index in @o of every object whose key for rule @x
 * may be @v's text (same hash): candidates, to be compared. */
void rg_fsm__keys_each(const struct rg_objs *o, size_t x, const json_t *v,
                       void (*fn)(void *arg, size_t i), void *arg);
/* @v as the validator reads it (core/xref.h): 1 with @s and @len set, or
 * 0 for a value without text (a mapping, a list). @buf holds the text of a
 * scalar that is not a string. */
int rg_fsm__text(const json_t *v, char *buf, size_t cap, const char **s,
                 size_t *len);
/* The values a reference @ref by rule @l names its target by: itself when
 * bare, else its "id" and l->by members. Returns how many (0 to 2). */
size_t rg_fsm__ref_parts(const struct rg_xref *l, const json_t *ref,
                         const json_t *part[2]);

/* --- fsm_near.c ------------------------------------------------------- */

/* The document to validate a PUT of @body (kind @k, at @at of the store,
 * replacing v[@at] when @found) or a DELETE of v[@at] (@body NULL) on:
 * the change and the objects f->xrefs link it to (fsm_near.c). NULL on
 * ENOMEM. */
json_t *rg_fsm__near_doc(const struct rg_fsm *f, enum rg_kind k, size_t at,
                         int found, json_t *body);

/* --- fsm_hist.c ------------------------------------------------------- */

/* The slot for a new element in a FIFO of elements of @size bytes in
 * *@v, growing it up to @max; *@evicted is set to 1 when the slot held the
 * oldest element (the caller releases it first). Returns -1 on ENOMEM
 * (nothing changed). */
long rg_fsm__fifo_push(struct rg_fifo *q, void **v, size_t size, size_t max,
                       int *evicted);
/* The slot of the @i-th oldest element. */
size_t rg_fsm__fifo_at(const struct rg_fifo *q, size_t i);

void rg_fsm__dd_init(struct rg_dedupe *d);
void rg_fsm__dd_release(struct rg_dedupe *d);
/* Fill @r with the remembered result for @rid and return 1, or 0. */
int rg_fsm__dd_lookup(const struct rg_dedupe *d, const char *rid, size_t len,
                      struct rg_fsm_result *r);
/* 1 with *@age set to the position of @rid in the table (0: the oldest,
 * evicted first), or 0 when @rid is not remembered. */
int rg_fsm__dd_age(const struct rg_dedupe *d, const char *rid, size_t len,
                   size_t *age);
/* Remember @r for @rid (not present yet), evicting the oldest id when
 * full: 0 or -ENOMEM (then nothing is remembered). */
int rg_fsm__dd_add(struct rg_dedupe *d, const char *rid, size_t len,
                   const struct rg_fsm_result *r);

void rg_fsm__ring_release(struct rg_ring *g);
/* Append @a, evicting the oldest entry when full: 0 or -ENOMEM. */
int rg_fsm__ring_add(struct rg_ring *g, const struct rg_fsm_applied *a);

/* --- fsm_quota.c ------------------------------------------------------ */

/* Whether @c is a lease command (LEASE_REQ, LEASE_RET). */
int rg_fsm__quota_cmd(const struct rg_cmd *c);
/* Apply lease command @c of an entry stamped @ts_ms: 0 with @r filled, or
 * -ENOMEM with the ledger unchanged. */
int rg_fsm__quota_apply(struct rg_fsm *f, uint64_t ts_ms,
                        const struct rg_cmd *c, struct rg_fsm_result *r);
void rg_fsm__quota_release(struct rg_quota *q);
/* The snapshot section "quota" (a new reference), or NULL on ENOMEM;
 * load it back into an empty @q: 0, -EINVAL or -ENOMEM. */
json_t *rg_fsm__quota_snap(const struct rg_quota *q);
int rg_fsm__quota_load(struct rg_quota *q, const json_t *j);
/* --- fsm_breaker.c ---------------------------------------------------- */

/* Apply BREAKER command @c of an entry stamped @ts_ms into @r. 0, or
 * -ENOMEM with the state unchanged. */
int rg_fsm__breaker(struct rg_fsm *f, uint64_t ts_ms, const struct rg_cmd *c,
                    struct rg_fsm_result *r);
void rg_fsm__brk_release(struct rg_brks *b);
/* The "breakers" snapshot section (NULL on ENOMEM), and loading one into
 * @t (empty on entry): 0, -EINVAL, -ENOMEM. */
json_t *rg_fsm__brk_snap(const struct rg_brks *b);
int rg_fsm__brk_load(struct rg_fsm *t, const json_t *j);
/* Report every breaker to the hook (after a restore). */
void rg_fsm__brk_report(const struct rg_fsm *f);

#endif
