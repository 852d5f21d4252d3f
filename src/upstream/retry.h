/* Retry policy: whether a failed upstream attempt may be retried, and how
 * long to wait first. Pure functions over plain data; the proxy calls them. */
#ifndef RG_UPSTREAM_RETRY_H
#define RG_UPSTREAM_RETRY_H

#include <stdint.h>

#include "config/gateway.h"

/* What the proxy knows about a failed attempt. */
struct rg_attempt_state {
    unsigned method;        /* RG_M_* bit of the request */
    unsigned attempt;       /* attempts made so far, >= 1 */
    unsigned max_retries;   /* retries allowed after the first attempt */
    int request_sent;       /* any request byte reached the upstream */
    int body_replayable;    /* the request body is empty or fully held */
    int response_started;   /* any response byte reached the client */
};

/* Whether another attempt is safe and allowed. Safe means: no response byte
 * went to the client, and either nothing was sent upstream, or the method is
 * idempotent (RFC 9110 §9.2.2: GET HEAD PUT DELETE OPTIONS TRACE) and the
 * body can be sent again. Thread: any. */
int rg_retry_allowed(const struct rg_attempt_state *st);

/* Delay before attempt number @attempt + 1 (so @attempt >= 1), in ms, for
 * policy @b. @rnd is a uniformly random 32-bit value used for jitter (full
 * jitter: the delay is drawn from [0, computed]). The result never exceeds
 * b->max_ms when max_ms > 0. Thread: any. */
uint32_t rg_retry_delay_ms(const struct rg_backoff *b, unsigned attempt,
                           uint32_t rnd);

#endif
