/* Unit tests for src/upstream/resolver.c: literals answer at once, a name
 * is looked up on the threadpool (the get says -EAGAIN and the changed
 * callback follows), the answer is cached with the port of each get, and
 * closing with a lookup in flight frees everything (ASan). */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "upstream/resolver.h"

static int changes;

static void on_changed(void *arg)
{
    (void)arg;
    changes++;
}

static uint16_t port_of(const struct sockaddr_storage *a)
{
    return ntohs(a->ss_family == AF_INET
                     ? ((const struct sockaddr_in *)a)->sin_port
                     : ((const struct sockaddr_in6 *)a)->sin6_port);
}

START_TEST(literals_at_once)
{
    uv_loop_t loop;
    struct rg_resolver *r;
    struct sockaddr_storage a;
    size_t n;

    uv_loop_init(&loop);
    r = rg_resolver_new(&loop, 60000, on_changed, NULL);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(rg_resolver_get(r, "10.1.2.3", 8080, &a, 1, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(a.ss_family, AF_INET);
    ck_assert_uint_eq(port_of(&a), 8080);
    ck_assert_int_eq(rg_resolver_get(r, "::1", 99, &a, 1, &n), 0);
    ck_assert_int_eq(a.ss_family, AF_INET6);
    ck_assert_uint_eq(port_of(&a), 99);
    rg_resolver_close(r);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(name_resolved_off_thread)
{
    uv_loop_t loop;
    struct rg_resolver *r;
    struct sockaddr_storage a;
    size_t n;

    changes = 0;
    uv_loop_init(&loop);
    r = rg_resolver_new(&loop, 60000, on_changed, NULL);
    ck_assert_int_eq(rg_resolver_get(r, "localhost", 81, &a, 1, &n), -EAGAIN);
    /* Asking again while it is in flight starts nothing new. */
    ck_assert_int_eq(rg_resolver_get(r, "localhost", 81, &a, 1, &n), -EAGAIN);
    uv_run(&loop, UV_RUN_DEFAULT); /* the lookup keeps the loop alive */
    ck_assert_int_eq(changes, 1);
    ck_assert_int_eq(rg_resolver_get(r, "localhost", 82, &a, 1, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(port_of(&a), 82);
    if (a.ss_family == AF_INET)
        ck_assert_uint_eq(ntohl(((struct sockaddr_in *)&a)->sin_addr.s_addr),
                          INADDR_LOOPBACK);
    else
        ck_assert(IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&a)->sin6_addr));
    rg_resolver_close(r);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(close_while_pending)
{
    uv_loop_t loop;
    struct rg_resolver *r;
    struct sockaddr_storage a;
    size_t n;

    changes = 0;
    uv_loop_init(&loop);
    r = rg_resolver_new(&loop, 60000, on_changed, NULL);
    ck_assert_int_eq(rg_resolver_get(r, "localhost", 1, &a, 1, &n), -EAGAIN);
    rg_resolver_close(r);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(changes, 0); /* no callback after close */
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("resolver");
    TCase *tc = tcase_create("resolver");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, literals_at_once);
    tcase_add_test(tc, name_resolved_off_thread);
    tcase_add_test(tc, close_while_pending);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
