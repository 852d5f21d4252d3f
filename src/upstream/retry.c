/* Retry policy: safety of another attempt and the backoff delay before it.
 * All arithmetic is done in 64 bits and saturates, so no attempt number or
 * base delay can wrap around to a short delay. */
#include "upstream/retry.h"

/* RFC 9110 §9.2.2: the idempotent methods. */
#define IDEMPOTENT                                                             \
    (RG_M_GET | RG_M_HEAD | RG_M_PUT | RG_M_DELETE | RG_M_OPTIONS | RG_M_TRACE)

static int is_idempotent(unsigned method)
{
    return method != 0 && (method & ~(unsigned)IDEMPOTENT) == 0;
}

int rg_retry_allowed(const struct rg_attempt_state *st)
{
    if (st->response_started)
        return 0;
    if (st->attempt > st->max_retries)
        return 0; /* attempt 1 is the first try, not a retry */
    if (!st->request_sent)
        return 1;
    return is_idempotent(st->method) && st->body_replayable;
}

/* The delay before jitter and cap, saturated at UINT32_MAX. */
static uint64_t raw_delay(const struct rg_backoff *b, unsigned attempt)
{
    unsigned shift;

    switch (b->kind) {
    case RG_BACKOFF_LINEAR:
        return (uint64_t)b->base_ms * attempt; /* < 2^64: both < 2^32 */
    case RG_BACKOFF_EXPONENTIAL:
        shift = attempt - 1;
        if (b->base_ms == 0)
            return 0;
        if (shift >= 32)
            return UINT32_MAX;
        return (uint64_t)b->base_ms << shift;
    default:
        return 0;
    }
}

uint32_t rg_retry_delay_ms(const struct rg_backoff *b, unsigned attempt,
                           uint32_t rnd)
{
    uint64_t d;

    if (b == NULL)
        return 0;
    d = raw_delay(b, attempt ? attempt : 1);
    if (d > UINT32_MAX)
        d = UINT32_MAX;
    if (b->max_ms > 0 && d > b->max_ms)
        d = b->max_ms;
    /* Full jitter: scale @rnd onto [0, d]. (2^32 - 1)(d + 1) < 2^64 as
     * d < 2^32, and the result is d at most. */
    if (b->jitter)
        d = ((uint64_t)rnd * (d + 1)) >> 32;
    return (uint32_t)d;
}
