/* The node-wide circuit-breaker table (plugin circuit-breaker): one slot
 * per service, shared by every worker and the control thread.
 *
 * Writers: the control thread alone writes a slot's state (the committed
 * state it heard from Raft, or the node's local breaker: src/control/
 * breaker.c) with rg_brt_publish. Workers read it with one atomic load
 * per request, count their outcomes in the slot (failures in the window,
 * half-open trials) with atomic adds, and post RG_CTLQ_BREAKER messages
 * (core/ctlq.h) naming the slot when the control thread should act: no
 * lock per request. Claiming a slot for a new service takes a mutex once
 * per service and process.
 *
 * Bounded: RG_BRT_SLOTS services (static storage); past it a service has
 * no breaker (rg_brt_find returns -1, and the plugin admits).
 *
 * Thread: any, except where said. */
#ifndef RG_PLUGINS_BREAKER_TABLE_H
#define RG_PLUGINS_BREAKER_TABLE_H

#include <stdatomic.h>
#include <stdint.h>

#define RG_BRT_SLOTS 1024
#define RG_BRT_NAME 128 /* bytes of a service name, NUL included */

enum rg_brt_state {
    RG_BRT_CLOSED = 0,
    RG_BRT_OPEN = 1,
    RG_BRT_HALF_OPEN = 2,
};

/* What a message (rg_ctlq_msg.b low byte) asks for; the epoch the worker
 * saw is b >> 8, so that the control thread drops stale asks. */
enum rg_brt_event {
    RG_BRT_EV_TRIP = 1,       /* closed, failures reached the threshold */
    RG_BRT_EV_TRIAL_OK = 2,   /* half-open, half_open_requests succeeded */
    RG_BRT_EV_TRIAL_FAIL = 3, /* half-open, a trial failed */
    RG_BRT_EV_FAIL = 4,       /* closed, one failure (policy cluster: the
                                 leader counts the cluster's) */
};

struct rg_brt_slot {
    _Atomic uint64_t key;   /* hash of the name; 0 free */
    char name[RG_BRT_NAME]; /* set before key is published */
    /* Written by the control thread. */
    _Atomic uint64_t word;       /* state | local << 2 | epoch << 3 */
    _Atomic uint64_t prober;     /* node id allowed to send trials */
    _Atomic uint64_t changed_ms; /* rg_brt_now_ms of the last change */
    _Atomic uint64_t hold;       /* epoch + 1 while an OPEN of that epoch
                                    is on its way to commit: closed
                                    refuses as if open (0: none) */
    _Atomic uint64_t hold_ms;
    /* Counted by workers. */
    _Atomic uint32_t fails;     /* failures in the current window */
    _Atomic uint64_t win_start; /* rg_brt_now_ms of its first failure */
    _Atomic uint32_t trials;    /* trial requests admitted (half-open) */
    _Atomic uint32_t trial_ok;
    _Atomic uint64_t asked; /* epoch + 1 of the last ask posted */
    /* The latest configuration seen by a worker (for the control
     * thread's timers). */
    _Atomic uint32_t recovery_ms;
    _Atomic uint32_t threshold;
    _Atomic uint32_t window_ms;
    _Atomic uint32_t local_policy; /* 1: policy local */
    /* Counters for /status and the benchmark. */
    _Atomic uint64_t refused;
};

/* Monotonic milliseconds (CLOCK_MONOTONIC), the table's only clock. */
uint64_t rg_brt_now_ms(void);

/* The slot of service @name, claimed when @create and not there yet; -1
 * when the table is full (or @name is too long, or absent and not
 * @create). */
int rg_brt_find(const char *name, int create);

struct rg_brt_slot *rg_brt_at(int i);

/* This node's id (0 until set: then half-open trials go nowhere but
 * through the local breaker). */
void rg_brt_set_self(uint64_t id);
uint64_t rg_brt_self(void);

static inline enum rg_brt_state rg_brt_state_of(uint64_t word)
{
    return (enum rg_brt_state)(word & 3);
}
static inline int rg_brt_local_of(uint64_t word)
{
    return (int)(word >> 2 & 1);
}
static inline uint64_t rg_brt_epoch_of(uint64_t word)
{
    return word >> 3;
}

/* Control thread: set slot @i's state. A change of state or epoch starts
 * counting afresh (failures, trials). */
void rg_brt_publish(int i, enum rg_brt_state st, uint64_t epoch,
                    uint64_t prober, int local);

/* Control thread: refuse on slot @i at @epoch (closed) until the next
 * publish, or until rg_brt_unhold. */
void rg_brt_hold(int i, uint64_t epoch);
void rg_brt_unhold(int i);

/* Each claimed slot, in slot order. */
void rg_brt_each(void (*cb)(void *arg, int i, struct rg_brt_slot *s),
                 void *arg);

/* Tests: forget every slot. Not while others use the table. */
void rg_brt_clear(void);

#endif
