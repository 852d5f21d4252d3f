/* Unit tests for core/ctlq.c: messages from 4 threads arrive, each
 * thread's in the order posted, at the handler of their kind; a full
 * queue refuses and counts; a stopped queue refuses. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "core/ctlq.h"

#define THREADS 4
#define EACH 3000 /* 4 x 3000 > RG_CTLQ_CAP: posters must retry */

static uv_loop_t loop;
static unsigned got[THREADS], quota_msgs, breaker_msgs, out_of_order;
static atomic_int give_up; /* a failed run must not hang the posters */

static void on_msg(void *arg, const struct rg_ctlq_msg *m)
{
    unsigned *count = arg;

    (*count)++;
    if (m->a >= THREADS || m->b != got[m->a])
        out_of_order++;
    else
        got[m->a]++;
}

static void *poster(void *arg)
{
    unsigned t = (unsigned)(uintptr_t)arg;

    for (uint64_t i = 0; i < EACH; i++) {
        struct rg_ctlq_msg m = {
            .kind = t % 2 ? RG_CTLQ_BREAKER : RG_CTLQ_QUOTA, .a = t, .b = i};

        while (rg_ctlq_post(&m) == -EAGAIN)
            if (atomic_load(&give_up))
                return NULL;
            else
                sched_yield();
    }
    return NULL;
}

static void on_idle(uv_idle_t *h)
{
    unsigned done = 0;

    for (unsigned t = 0; t < THREADS; t++)
        done += got[t] == EACH;
    if (done == THREADS || out_of_order > 0)
        uv_idle_stop(h);
}

START_TEST(order_and_kinds)
{
    pthread_t th[THREADS];
    uv_idle_t idle;

    ck_assert_int_eq(uv_loop_init(&loop), 0);
    ck_assert_int_eq(rg_ctlq_start(&loop), 0);
    rg_ctlq_on(RG_CTLQ_QUOTA, on_msg, &quota_msgs);
    rg_ctlq_on(RG_CTLQ_BREAKER, on_msg, &breaker_msgs);
    ck_assert_int_eq(rg_ctlq_post(&(struct rg_ctlq_msg){.kind = 0}), -EINVAL);
    ck_assert_int_eq(rg_ctlq_post(&(struct rg_ctlq_msg){.kind = 99}),
                     -EINVAL);
    for (unsigned t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, poster, (void *)(uintptr_t)t);
    uv_idle_init(&loop, &idle);
    uv_idle_start(&idle, on_idle); /* runs the loop until all arrived */
    uv_run(&loop, UV_RUN_DEFAULT);
    atomic_store(&give_up, 1);
    for (unsigned t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    ck_assert_uint_eq(out_of_order, 0);
    ck_assert_uint_eq(quota_msgs, 2 * EACH);
    ck_assert_uint_eq(breaker_msgs, 2 * EACH);
    rg_ctlq_stop();
    ck_assert_int_eq(rg_ctlq_post(&(struct rg_ctlq_msg){.kind = 1}),
                     -EAGAIN);
    uv_close((uv_handle_t *)&idle, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

static void on_idle_full(uv_idle_t *h)
{
    if (*(unsigned *)h->data == RG_CTLQ_CAP)
        uv_idle_stop(h);
}

START_TEST(full_refuses)
{
    uv_idle_t idle;
    uv_loop_t l;
    unsigned n = 0;
    uint64_t dropped = rg_ctlq_dropped(); /* the first test's retries */

    ck_assert_int_eq(uv_loop_init(&l), 0);
    ck_assert_int_eq(rg_ctlq_start(&l), 0);
    rg_ctlq_on(RG_CTLQ_QUOTA, on_msg, &n);
    for (unsigned i = 0; i < RG_CTLQ_CAP; i++)
        ck_assert_int_eq(
            rg_ctlq_post(&(struct rg_ctlq_msg){.kind = RG_CTLQ_QUOTA,
                                               .a = THREADS}),
            0);
    ck_assert_uint_eq(rg_ctlq_dropped(), dropped);
    ck_assert_int_eq(rg_ctlq_post(&(struct rg_ctlq_msg){.kind = 1}),
                     -EAGAIN);
    ck_assert_uint_eq(rg_ctlq_dropped(), dropped + 1);
    uv_idle_init(&l, &idle); /* the loop runs until the drain made room */
    idle.data = &n;
    uv_idle_start(&idle, on_idle_full);
    uv_run(&l, UV_RUN_DEFAULT);
    ck_assert_uint_eq(n, RG_CTLQ_CAP);
    ck_assert_int_eq(rg_ctlq_post(&(struct rg_ctlq_msg){.kind = 1}), 0);
    rg_ctlq_stop();
    uv_close((uv_handle_t *)&idle, NULL);
    uv_run(&l, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&l), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ctlq");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, order_and_kinds);
    tcase_add_test(tc, full_refuses);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
