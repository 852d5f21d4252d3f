/* The mailbox from the data plane to the control thread
 * (docs/architecture.md §1): a bounded, process-wide queue of small
 * messages. Any thread posts; the control loop drains the queue in one
 * uv_async callback and hands each message to the handler registered for
 * its kind, in the order posted. Messages say "look at this" (a quota
 * lease running low, a breaker that tripped); the state they name lives in
 * the node-wide tables of the module that posts them, so a full queue
 * loses no state: the poster retries on a later request.
 *
 * Thread: rg_ctlq_post from any thread; everything else on the control
 * loop's thread. */
#ifndef RG_CORE_CTLQ_H
#define RG_CORE_CTLQ_H

#include <stdint.h>
#include <uv.h>

/* Message kinds; one handler each. */
enum rg_ctlq_kind {
    RG_CTLQ_QUOTA = 1,   /* a quota lease needs a refill or a return */
    RG_CTLQ_BREAKER = 2, /* a breaker's local state asks for a transition */
    RG_CTLQ_KINDS        /* one past the last */
};

/* Messages the queue holds before rg_ctlq_post refuses. */
#define RG_CTLQ_CAP 4096

struct rg_ctlq_msg {
    uint16_t kind; /* enum rg_ctlq_kind */
    uint32_t a;    /* meaning set by the kind (a table slot, ...) */
    uint64_t b;
};

typedef void (*rg_ctlq_fn)(void *arg, const struct rg_ctlq_msg *m);

/* Start the queue on @loop (the control loop). Its async handle does not
 * keep the loop alive. 0, or a libuv error. */
int rg_ctlq_start(uv_loop_t *loop);

/* Handle kind @kind with @fn(@arg, msg) from now on (NULL: drop them). */
void rg_ctlq_on(enum rg_ctlq_kind kind, rg_ctlq_fn fn, void *arg);

/* Queue @m and wake the control loop. 0, or -EAGAIN when the queue is
 * full or not started (or stopped), -EINVAL for an unknown kind. Never
 * blocks beyond a short mutex. Thread: any. */
int rg_ctlq_post(const struct rg_ctlq_msg *m);

/* Messages refused because the queue was full, since start. Thread: any. */
uint64_t rg_ctlq_dropped(void);

/* Stop: queued messages are dropped, later posts fail with -EAGAIN, and
 * the async handle is closed (the loop must run once more). */
void rg_ctlq_stop(void);

#endif
