/* Unit tests for core/buf.c: the cap, sticky errors (a run of appends is
 * checked once at its end) and truncate, which undoes a run. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"

/* Past the cap the append fails with -E2BIG, leaves the bytes as they
 * were, and every later append fails the same way without writing. */
START_TEST(error_is_sticky)
{
    struct rg_buf b;

    rg_buf_init(&b, 8);
    ck_assert_int_eq(rg_buf_adds(&b, "abcd"), 0);
    ck_assert_int_eq(rg_buf_adds(&b, "efghij"), -E2BIG);
    ck_assert_int_eq(rg_buf_adds(&b, "e"), -E2BIG);
    ck_assert_int_eq(rg_buf_addf(&b, "%d", 1), -E2BIG);
    ck_assert_int_eq(rg_buf_error(&b), -E2BIG);
    ck_assert_uint_eq(b.len, 4);
    ck_assert_str_eq(b.p, "abcd");
    rg_buf_release(&b);
    ck_assert_int_eq(rg_buf_error(&b), 0);
    ck_assert_int_eq(rg_buf_adds(&b, "ok"), 0);
    rg_buf_release(&b);
}
END_TEST

/* An allocation failure is sticky too, and reported as -ENOMEM. */
START_TEST(enomem_is_sticky)
{
    struct rg_buf b;

    rg_buf_init(&b, 1 << 20);
    rg_alloc_fail_after(1);
    ck_assert_int_eq(rg_buf_adds(&b, "x"), -ENOMEM);
    rg_alloc_fail_after(0);
    ck_assert_int_eq(rg_buf_adds(&b, "y"), -ENOMEM);
    ck_assert_int_eq(rg_buf_error(&b), -ENOMEM);
    ck_assert_uint_eq(b.len, 0);
    rg_buf_release(&b);
}
END_TEST

/* Truncate drops a failed run (the access log's "drop the line") and
 * clears the error; the buffer stays NUL-terminated. */
START_TEST(truncate_undoes_a_run)
{
    struct rg_buf b;
    size_t mark;

    rg_buf_init(&b, 16);
    rg_buf_adds(&b, "line1\n");
    mark = b.len;
    rg_buf_adds(&b, "line2-");
    rg_buf_adds(&b, "much-too-long\n");
    ck_assert_int_ne(rg_buf_error(&b), 0);
    rg_buf_truncate(&b, mark);
    ck_assert_int_eq(rg_buf_error(&b), 0);
    ck_assert_str_eq(b.p, "line1\n");
    ck_assert_int_eq(rg_buf_adds(&b, "l3\n"), 0);
    ck_assert_str_eq(b.p, "line1\nl3\n");
    rg_buf_truncate(&b, b.len - 1);
    ck_assert_str_eq(b.p, "line1\nl3");
    rg_buf_release(&b);
}
END_TEST

/* A header line in one call; its error is the run's. */
START_TEST(add_field)
{
    struct rg_buf b;

    rg_buf_init(&b, 16);
    ck_assert_int_eq(rg_buf_add_field(&b, "X-A", 3, "b c", 3), 0);
    ck_assert_str_eq(b.p, "X-A: b c\r\n");
    ck_assert_int_eq(rg_buf_add_field(&b, "X-Long", 6, "value", 5), -E2BIG);
    ck_assert_int_eq(rg_buf_error(&b), -E2BIG);
    rg_buf_truncate(&b, 10); /* part of the line went in: undo the run */
    ck_assert_str_eq(b.p, "X-A: b c\r\n");
    rg_buf_release(&b);
}
END_TEST

/* Numbers in decimal, and printf text whether it fits the room there is,
 * only just, or not at all (then the buffer grows), or passes the cap
 * (then nothing of it is kept). */
START_TEST(numbers_and_formats)
{
    struct rg_buf b;
    char want[300];

    rg_buf_init(&b, 1024);
    ck_assert_int_eq(rg_buf_add_u64(&b, 0), 0);
    ck_assert_int_eq(rg_buf_adds(&b, " "), 0);
    ck_assert_int_eq(rg_buf_add_u64(&b, 18446744073709551615ULL), 0);
    ck_assert_str_eq(b.p, "0 18446744073709551615");
    rg_buf_truncate(&b, 0);
    ck_assert_int_eq(rg_buf_addf(&b, "%s-%d", "a", 42), 0);
    ck_assert_str_eq(b.p, "a-42");
    /* 256 bytes of room after the first allocation: fill it to the end. */
    memset(want, 'x', 251);
    want[251] = '\0';
    ck_assert_int_eq(rg_buf_addf(&b, "%s", want), 0);
    ck_assert_uint_eq(b.len, 255);
    ck_assert_int_eq(rg_buf_addf(&b, "%s", "yz"), 0);
    ck_assert_uint_eq(b.len, 257);
    ck_assert_str_eq(b.p + 255, "yz");
    rg_buf_release(&b);
    rg_buf_init(&b, 10);
    ck_assert_int_eq(rg_buf_adds(&b, "12345"), 0);
    ck_assert_int_eq(rg_buf_addf(&b, "%s", "678901"), -E2BIG);
    ck_assert_uint_eq(b.len, 5);
    ck_assert_str_eq(b.p, "12345");
    rg_buf_release(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int nf;

    tcase_add_test(tc, error_is_sticky);
    tcase_add_test(tc, enomem_is_sticky);
    tcase_add_test(tc, truncate_undoes_a_run);
    tcase_add_test(tc, add_field);
    tcase_add_test(tc, numbers_and_formats);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
