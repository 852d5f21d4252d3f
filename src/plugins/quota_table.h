/* The node-wide lease table of rate-limiting's policy cluster (RAFT.md §6
 * design A): per limit key the tokens this node holds from leases the
 * Raft ledger granted, shared by every worker. A request takes a token
 * with one compare-and-swap on the balance, no lock; the control thread
 * (src/control/quota.c) fills balances from committed grants and, before
 * it returns tokens with LEASE_RET, removes them from the balance with
 * one atomic exchange or swap, so a token is either spent here or given
 * back, never both.
 *
 * A slot holds tokens of one window (the ledger's, from the leader's
 * clock) until expires_ms on this node's monotonic clock (uv_hrtime in
 * ms): D after the lease request was sent, and no later than the window's
 * end on the ledger's clock (control/quota.h). After that the balance is never spent (the
 * tokens are forfeited: slack S = 0), also after a SIGSTOP: the monotonic
 * clock runs on.
 *
 * Slots are claimed for good (RG_QT_SLOTS keys at once per process:
 * policy cluster is for a bounded set of keys; high-cardinality keys
 * belong to policy local). Thread: rg_qt_find and rg_qt_take from any
 * thread; the fields marked "control" are written by the control thread
 * only. */
#ifndef RG_PLUGINS_QUOTA_TABLE_H
#define RG_PLUGINS_QUOTA_TABLE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define RG_QT_SLOTS 4096
#define RG_QT_KEY_MAX 256 /* = RG_CODEC_MAX_KEY */

struct rg_qt_slot {
    _Atomic uint64_t hash;        /* 0 free, 1 being claimed, else the
                                     key's hash (set once key is) */
    char key[RG_QT_KEY_MAX + 1];  /* the ledger key, NUL-terminated */
    size_t key_len;
    uint8_t unit;                 /* enum rg_window_unit */
    _Atomic uint32_t limit;       /* the window's limit, last request's */
    _Atomic int64_t balance;      /* tokens this node may spend */
    _Atomic uint64_t expires_ms;  /* control: spend only before (mono) */
    _Atomic uint64_t window;      /* control: start (s) of the balance's
                                     window */
    _Atomic uint64_t window_end;  /* control: its end (s) */
    _Atomic uint64_t remaining;   /* control: the ledger's remaining at
                                     the last grant */
    _Atomic uint64_t low_water;   /* control: ask below this balance */
    _Atomic uint64_t granted;     /* control: tokens granted to this node
                                     in the window */
    _Atomic uint64_t used;        /* admitted in the window */
    _Atomic uint64_t hits;        /* takes tried, ever (rate) */
    _Atomic uint32_t asked;       /* a refill is posted or in flight */
    _Atomic uint64_t asked_ms;    /* when the last one was posted */
    _Atomic uint64_t failed_ms;   /* control: the last refill that failed
                                     (no leader reachable), 0 none */
    _Atomic uint32_t retry_ms;    /* control: while the window is spent,
                                     ask at most this often (0: the
                                     minimum) */
};

/* What rg_qt_take answers. */
enum rg_qt_take {
    RG_QT_TAKEN = 0,     /* one token taken */
    RG_QT_WAIT = 1,      /* none held, a refill is on its way: wait */
    RG_QT_EXHAUSTED = 2, /* none held, the window has none left: 429 */
    RG_QT_CUT = 3,       /* none held, the last refill failed: 429 */
};

/* Node identity for the debug header and status (control thread, at
 * start; read by workers afterwards). @name is copied (63 bytes kept). */
void rg_qt_identity(const char *name, uint64_t incarnation, int debug);
const char *rg_qt_node_name(void);
uint64_t rg_qt_incarnation(void);
int rg_qt_debug_header(void);

/* Whether a control thread serves the table (rg_qt_enable): without one,
 * policy cluster counts per node as policy local. */
void rg_qt_enable(int on);
int rg_qt_enabled(void);

/* The slot of @key (@len bytes, 1..RG_QT_KEY_MAX) and @unit, claimed when
 * new: its index, or -1 when the table is full. @limit is recorded. */
int rg_qt_find(const char *key, size_t len, unsigned unit, uint32_t limit);

/* Slot @i (0..RG_QT_SLOTS-1). */
struct rg_qt_slot *rg_qt_at(unsigned i);

/* Take one token of slot @i at @now_ms (monotonic ms). When the balance
 * falls to its low-water mark, or there is none, a refill is posted to
 * the control thread (RG_CTLQ_QUOTA, once until it is answered; while
 * the window is exhausted, at most every retry_ms: from RG_QT_RETRY_MS,
 * doubled by each empty answer up to RG_QT_RETRY_MAX_MS, to pick up
 * tokens other nodes give back). *@window gets
 * the window start the token belongs to. @first: the request's first
 * try (counted in the rate; a waiting request's polls are not). */
#define RG_QT_RETRY_MS 250
#define RG_QT_RETRY_MAX_MS 2000
#define RG_QT_CUT_MS 200 /* a refill failed this recently: no waiting */
enum rg_qt_take rg_qt_take(unsigned i, uint64_t now_ms, int first,
                           uint64_t *window);

/* There is no give-back: a token taken for a request another limit
 * refuses is lost, since by then the balance may hold another window's
 * tokens (a give-back would mint one there). */

/* Post a refill for slot @i unless one is posted (@force: also while the
 * window is exhausted). */
void rg_qt_ask(unsigned i, uint64_t now_ms, int force);

/* The lease id of slot @i in the window starting at @window (s), as the
 * debug header and GET /status show it: "<node>.<incarnation, 8 hex>.
 * <slot>.<window>", one per node, process, key and window (every grant
 * of that window adds to it). */
void rg_qt_lease_id(unsigned i, uint64_t window, char *out, size_t cap);

/* Empty the table (tests; no other thread may use it). */
void rg_qt_clear(void);

#endif
