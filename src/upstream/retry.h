/* Retry policy: whether a failed upstream attempt may be retried, and how
 * long to wait first. Pure functions over plain data; the proxy calls them. */
#ifndef RG_UPSTREAM_RETRY_H
#define RG_UPSTREAM_RETRY_H

#include <stdint.h>

#include "config/gateway.h"

/* What the proxy knows about a failed attempt. */
struct rg_attempt_state {
    unsigned method;      /* RG_M_* bit of the request */
    unsigned attempt;     /* attempts made so far, >= 1 */
    unsigned max_retries; /* retries allowed after the first attempt */
    int request_sent;     /* any request byte reached the upstream */
    int body_replayable;  /* the request body is empty or fully held */
    int response_started; /* any response byte reached the client */
};

/* Whether another attempt is safe and allowed. Allowed means attempt <=
 * max_retries (max_retries + 1 attempts in all). Safe means: no response
 * byte went to the client, and either nothing was sent upstream (any
 * method, any body), or the method is idempotent (RFC 9110 §9.2.2: GET
 * HEAD PUT DELETE OPTIONS TRACE; a @method of 0, i.e. unknown, is
 * not) and the body can be sent again. Returns 1 or 0.
 * Ownership: @st borrowed. Thread: any. */
int rg_retry_allowed(const struct rg_attempt_state *st);

/* Delay before attempt number @attempt + 1 (so @attempt >= 1; 0 is read
 * as 1), in ms, for policy @b: 0 for RG_BACKOFF_NONE (and for a NULL @b or
 * an unknown kind), base_ms * attempt for linear, base_ms * 2^(attempt-1)
 * for exponential. The product saturates at UINT32_MAX instead of
 * wrapping, then is capped at b->max_ms when max_ms > 0. With b->jitter,
 * @rnd (a uniformly random 32-bit value) picks the delay from [0, capped]
 * ("full jitter"): floor(rnd * (capped + 1) / 2^32), so rnd 0 gives 0 and
 * UINT32_MAX gives the capped value. Ownership: @b borrowed. Thread: any. */
uint32_t rg_retry_delay_ms(const struct rg_backoff *b, unsigned attempt,
                           uint32_t rnd);

#endif
