/* Retry policy: when another upstream attempt is safe, and its delay. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "upstream/retry.h"

static const unsigned all_methods[] = {
    RG_M_GET,   RG_M_HEAD,    RG_M_POST,  RG_M_PUT,     RG_M_DELETE,
    RG_M_PATCH, RG_M_OPTIONS, RG_M_TRACE, RG_M_CONNECT, 0,
};
#define N_METHODS (sizeof(all_methods) / sizeof(all_methods[0]))

static int idempotent(unsigned m)
{
    return m == RG_M_GET || m == RG_M_HEAD || m == RG_M_PUT ||
           m == RG_M_DELETE || m == RG_M_OPTIONS || m == RG_M_TRACE;
}

static struct rg_attempt_state st(unsigned method, int sent, int replay,
                                  int started)
{
    struct rg_attempt_state s = {method, 1, 3, sent, replay, started};

    return s;
}

/* Once the request reached the upstream, only idempotent methods with a
 * replayable body are retried (RFC 9110 §9.2.2). */
START_TEST(idempotency_matrix)
{
    size_t i;

    for (i = 0; i < N_METHODS; i++) {
        unsigned m = all_methods[i];
        struct rg_attempt_state s = st(m, 1, 1, 0);

        ck_assert_msg(rg_retry_allowed(&s) == idempotent(m),
                      "method bit %#x, body replayable", m);
        s = st(m, 1, 0, 0);
        ck_assert_msg(!rg_retry_allowed(&s), "method bit %#x, body lost", m);
    }
}
END_TEST

/* Nothing was sent: any method may go again, whatever its body. */
START_TEST(nothing_sent_always_retryable)
{
    size_t i;
    unsigned a;

    for (i = 0; i < N_METHODS; i++) {
        for (a = 1; a <= 3; a++) {
            struct rg_attempt_state s = st(all_methods[i], 0, 0, 0);

            s.attempt = a;
            ck_assert_msg(rg_retry_allowed(&s), "method %#x attempt %u",
                          all_methods[i], a);
        }
    }
}
END_TEST

/* A byte of the response reached the client: never retry. */
START_TEST(never_after_response_started)
{
    size_t i;
    int sent, replay;

    for (i = 0; i < N_METHODS; i++) {
        for (sent = 0; sent <= 1; sent++) {
            for (replay = 0; replay <= 1; replay++) {
                struct rg_attempt_state s = st(all_methods[i], sent, replay, 1);

                ck_assert(!rg_retry_allowed(&s));
            }
        }
    }
}
END_TEST

/* max_retries = 3 allows attempts 2, 3 and 4, and no fifth. */
START_TEST(retry_count_limits)
{
    struct rg_attempt_state s = st(RG_M_GET, 0, 1, 0);

    for (s.attempt = 1; s.attempt <= 3; s.attempt++)
        ck_assert(rg_retry_allowed(&s));
    s.attempt = 4;
    ck_assert(!rg_retry_allowed(&s));
    s.attempt = UINT32_MAX;
    ck_assert(!rg_retry_allowed(&s));
    s.max_retries = 0;
    s.attempt = 1;
    ck_assert(!rg_retry_allowed(&s));
    s.max_retries = UINT32_MAX;
    s.attempt = UINT32_MAX;
    ck_assert(rg_retry_allowed(&s));
}
END_TEST

START_TEST(none_is_immediate)
{
    struct rg_backoff b = {RG_BACKOFF_NONE, 100, 1000, 1};

    ck_assert_uint_eq(rg_retry_delay_ms(&b, 1, UINT32_MAX), 0);
    ck_assert_uint_eq(rg_retry_delay_ms(&b, 7, 12345), 0);
    ck_assert_uint_eq(rg_retry_delay_ms(NULL, 7, 12345), 0);
}
END_TEST

START_TEST(linear_growth)
{
    struct rg_backoff b = {RG_BACKOFF_LINEAR, 100, 0, 0};
    unsigned a;

    for (a = 1; a <= 50; a++)
        ck_assert_uint_eq(rg_retry_delay_ms(&b, a, 0), 100 * a);
    ck_assert_uint_eq(rg_retry_delay_ms(&b, 0, 0), 100);
}
END_TEST

START_TEST(exponential_growth)
{
    struct rg_backoff b = {RG_BACKOFF_EXPONENTIAL, 100, 0, 0};

    ck_assert_uint_eq(rg_retry_delay_ms(&b, 1, 0), 100);
    ck_assert_uint_eq(rg_retry_delay_ms(&b, 2, 0), 200);
    ck_assert_uint_eq(rg_retry_delay_ms(&b, 3, 0), 400);
    ck_assert_uint_eq(rg_retry_delay_ms(&b, 4, 0), 800);
    ck_assert_uint_eq(rg_retry_delay_ms(&b, 11, 0), 102400);
    ck_assert_uint_eq(rg_retry_delay_ms(&b, 0, 0), 100);
}
END_TEST

START_TEST(cap_applies)
{
    struct rg_backoff lin = {RG_BACKOFF_LINEAR, 100, 250, 0};
    struct rg_backoff exp = {RG_BACKOFF_EXPONENTIAL, 100, 1000, 0};

    ck_assert_uint_eq(rg_retry_delay_ms(&lin, 2, 0), 200);
    ck_assert_uint_eq(rg_retry_delay_ms(&lin, 3, 0), 250);
    ck_assert_uint_eq(rg_retry_delay_ms(&lin, 1000, 0), 250);
    ck_assert_uint_eq(rg_retry_delay_ms(&exp, 4, 0), 800);
    ck_assert_uint_eq(rg_retry_delay_ms(&exp, 5, 0), 1000);
    ck_assert_uint_eq(rg_retry_delay_ms(&exp, 40, 0), 1000);
}
END_TEST

/* Huge attempt numbers and bases saturate instead of wrapping to a short
 * delay; the cap still holds. */
START_TEST(attempt_overflow_saturates)
{
    struct rg_backoff exp = {RG_BACKOFF_EXPONENTIAL, 100, 0, 0};
    struct rg_backoff lin = {RG_BACKOFF_LINEAR, UINT32_MAX, 0, 0};
    unsigned a;

    ck_assert_uint_eq(rg_retry_delay_ms(&exp, 32, 0), UINT32_MAX);
    ck_assert_uint_eq(rg_retry_delay_ms(&exp, 33, 0), UINT32_MAX);
    ck_assert_uint_eq(rg_retry_delay_ms(&exp, 64, 0), UINT32_MAX);
    ck_assert_uint_eq(rg_retry_delay_ms(&exp, 65, 0), UINT32_MAX);
    ck_assert_uint_eq(rg_retry_delay_ms(&exp, UINT32_MAX, 0), UINT32_MAX);
    ck_assert_uint_eq(rg_retry_delay_ms(&lin, 2, 0), UINT32_MAX);
    ck_assert_uint_eq(rg_retry_delay_ms(&lin, UINT32_MAX, 0), UINT32_MAX);
    exp.max_ms = 30000;
    lin.max_ms = 30000;
    /* Monotonic up to the cap, for every attempt shift a 64-bit shift
     * could get wrong. */
    for (a = 1; a < 200; a++) {
        ck_assert_uint_le(rg_retry_delay_ms(&exp, a, 0),
                          rg_retry_delay_ms(&exp, a + 1, 0));
        ck_assert_uint_eq(rg_retry_delay_ms(&lin, a, 0), 30000);
    }
    ck_assert_uint_eq(rg_retry_delay_ms(&exp, UINT32_MAX, 0), 30000);
}
END_TEST

/* xorshift32, so the "random" values are reproducible. */
static uint32_t next_rnd(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* Full jitter draws from [0, capped]: both ends are reachable, nothing
 * falls outside, and the draws spread over the range. */
START_TEST(jitter_bounds)
{
    struct rg_backoff b = {RG_BACKOFF_EXPONENTIAL, 100, 1000, 1};
    uint32_t x = 2463534242u, lo = UINT32_MAX, hi = 0;
    unsigned a, i, low_half = 0;

    for (a = 1; a <= 6; a++) {
        uint32_t top = a <= 4 ? 100u << (a - 1) : 1000;

        ck_assert_uint_eq(rg_retry_delay_ms(&b, a, 0), 0);
        ck_assert_uint_eq(rg_retry_delay_ms(&b, a, UINT32_MAX), top);
        for (i = 0; i < 20000; i++) {
            uint32_t d = rg_retry_delay_ms(&b, a, next_rnd(&x));

            ck_assert_uint_le(d, top);
            if (a == 6) {
                lo = d < lo ? d : lo;
                hi = d > hi ? d : hi;
                low_half += d < 500;
            }
        }
    }
    ck_assert_uint_le(lo, 5);
    ck_assert_uint_ge(hi, 995);
    ck_assert_uint_gt(low_half, 9000);
    ck_assert_uint_lt(low_half, 11000);
    /* Saturated delay with jitter: the top draw is UINT32_MAX itself. */
    b.max_ms = 0;
    ck_assert_uint_eq(rg_retry_delay_ms(&b, 1000, UINT32_MAX), UINT32_MAX);
    ck_assert_uint_le(rg_retry_delay_ms(&b, 1000, 1u << 31), (uint32_t)1 << 31);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("retry");
    TCase *tc = tcase_create("policy");
    SRunner *sr;
    int nf;

    tcase_add_test(tc, idempotency_matrix);
    tcase_add_test(tc, nothing_sent_always_retryable);
    tcase_add_test(tc, never_after_response_started);
    tcase_add_test(tc, retry_count_limits);
    tcase_add_test(tc, none_is_immediate);
    tcase_add_test(tc, linear_growth);
    tcase_add_test(tc, exponential_growth);
    tcase_add_test(tc, cap_applies);
    tcase_add_test(tc, attempt_overflow_saturates);
    tcase_add_test(tc, jitter_bounds);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
