/* Unit tests for core/tls.c: a server and a client engine talking through
 * memory (no socket): the handshake, data both ways past a record's size,
 * close_notify, a verification failure, PEM errors, and the plaintext
 * sniffing of the TLS port. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/tls.h"

/* OpenSSL's allocations, counted; the one numbered fail_at (from 0)
 * fails. Set in main, before OpenSSL allocates anything. */
static long allocs, fail_at = -1;

static int fails(void)
{
    return fail_at >= 0 && allocs++ == fail_at;
}

static void *ossl_malloc(size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    return fails() ? NULL : malloc(n);
}

static void *ossl_realloc(void *p, size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    return fails() ? NULL : realloc(p, n);
}

static void ossl_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    free(p);
}

/* Move what @from has for the peer into @to. */
static void pump(struct rg_tls *from, struct rg_tls *to)
{
    const char *p;
    size_t n = rg_tls_out(from, &p);

    if (n > 0)
        ck_assert_int_eq(rg_tls_feed(to, p, n), 0);
    rg_tls_out_done(from);
}

/* Run both sides until the client's handshake ends; its result. */
static int handshake(struct rg_tls *srv, struct rg_tls *cli)
{
    char buf[64];
    int rv = 0;

    for (int i = 0; i < 20 && rv == 0; i++) {
        rv = rg_tls_handshake(cli);
        pump(cli, srv);
        (void)rg_tls_read(srv, buf, sizeof(buf)); /* < 0 after an alert */
        pump(srv, cli);
    }
    return rv;
}

static struct rg_tls_server *server(void)
{
    struct rg_tls_server_conf sc = {.key_prefix = "proxy"};
    struct rg_errbuf eb;
    int self_signed = 0;
    struct rg_tls_server *s = rg_tls_server_new(&sc, &self_signed, &eb);

    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(self_signed, 1);
    return s;
}

START_TEST(loopback)
{
    static char big[100000], got[100000];
    struct rg_tls_server *s = server();
    struct rg_tls_client_conf cc = {.verify = 0};
    struct rg_errbuf eb;
    struct rg_tls_client *c = rg_tls_client_new(&cc, &eb);
    struct rg_tls *srv = rg_tls_new_server(s, NULL);
    struct rg_tls *cli = rg_tls_new_client(c, "localhost");
    size_t have = 0;
    ssize_t n;

    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(rg_tls_write(srv, "x", 1), RG_TLS_ERROR); /* no
                                                                 session */
    ck_assert_int_eq(handshake(srv, cli), 1);
    ck_assert(rg_tls_established(cli));
    ck_assert_int_eq(rg_tls_write(cli, "hello", 5), 0);
    pump(cli, srv);
    ck_assert_int_eq(rg_tls_read(srv, got, sizeof(got)), 5);
    ck_assert_int_eq(memcmp(got, "hello", 5), 0);
    ck_assert_int_eq(rg_tls_read(srv, got, sizeof(got)), 0);
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)(i * 7);
    ck_assert_int_eq(rg_tls_write(srv, big, sizeof(big)), 0);
    pump(srv, cli);
    while ((n = rg_tls_read(cli, got + have, sizeof(got) - have)) > 0)
        have += (size_t)n;
    ck_assert_uint_eq(have, sizeof(big));
    ck_assert_int_eq(memcmp(got, big, sizeof(big)), 0);
    rg_tls_close(srv);
    pump(srv, cli);
    ck_assert_int_eq(rg_tls_read(cli, got, sizeof(got)), RG_TLS_EOF);
    rg_tls_free(srv);
    rg_tls_free(cli);
    rg_tls_client_free(c);
    rg_tls_server_free(s);
}
END_TEST

START_TEST(verify_fails)
{
    struct rg_tls_server *s = server();
    struct rg_tls_client_conf cc = {.verify = 1}; /* the system store */
    struct rg_errbuf eb;
    struct rg_tls_client *c = rg_tls_client_new(&cc, &eb);
    struct rg_tls *srv = rg_tls_new_server(s, NULL);
    struct rg_tls *cli = rg_tls_new_client(c, "localhost");

    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(handshake(srv, cli), RG_TLS_ERROR);
    ck_assert_ptr_nonnull(
        strstr(rg_tls_error(cli), "certificate verify failed"));
    rg_tls_free(srv);
    rg_tls_free(cli);
    rg_tls_client_free(c);
    rg_tls_server_free(s);
}
END_TEST

/* Whatever OpenSSL allocation fails while a self-signed server and a
 * client context are built (the certificate's fields and extension, the
 * client's protocol floor and ALPN list), each either fails with a
 * reason or is returned, and nothing leaks (under ASan) or crashes. */
START_TEST(alloc_failures_fail_cleanly)
{
    struct rg_tls_server_conf sc = {.key_prefix = "proxy"};
    struct rg_tls_client_conf cc = {.verify = 0};
    long k, failed = 0;

    /* Once whole first, so that OpenSSL's one-time set-up is done. */
    rg_tls_server_free(server());
    rg_tls_client_free(rg_tls_client_new(&cc, NULL));
    for (k = 0; k < 100000; k++) {
        struct rg_errbuf eb1 = {{0}}, eb2 = {{0}};
        int self_signed = 0;
        struct rg_tls_server *s;
        struct rg_tls_client *c;

        allocs = 0;
        fail_at = k;
        s = rg_tls_server_new(&sc, &self_signed, &eb1);
        c = rg_tls_client_new(&cc, &eb2);
        fail_at = -1;
        if (s == NULL)
            ck_assert_uint_gt(strlen(eb1.msg), 0);
        if (c == NULL)
            ck_assert_uint_gt(strlen(eb2.msg), 0);
        if (s != NULL && c != NULL) {
            struct rg_tls *srv = rg_tls_new_server(s, NULL);
            struct rg_tls *cli = rg_tls_new_client(c, "localhost");
            int hr = handshake(srv, cli);

            /* SSL_CTX_new itself shrugs off some failed allocations and
             * returns a context missing what they were for, so a
             * handshake may fail; it must end either way. */
            ck_assert(hr == 1 || hr == RG_TLS_ERROR);
            rg_tls_free(srv);
            rg_tls_free(cli);
        }
        failed += s == NULL || c == NULL;
        rg_tls_client_free(c);
        rg_tls_server_free(s);
        if (allocs <= k)
            break; /* the failure point is past all allocations */
    }
    ck_assert_int_gt(failed, 0);
    ck_assert_int_lt(k, 100000);
}
END_TEST

START_TEST(pem_errors)
{
    char why[160];
    int bad_key = -1;

    ck_assert_ptr_null(
        rg_tls_cert_new("junk", 4, "junk", 4, &bad_key, why, sizeof(why)));
    ck_assert_int_eq(bad_key, 0);
    ck_assert_ptr_nonnull(strstr(why, "not a PEM certificate"));
}
END_TEST

START_TEST(plain_sniffing)
{
    ck_assert(rg_tls_looks_plain("GET / HTTP/1.1", 14));
    ck_assert(!rg_tls_looks_plain("\x16\x03\x01", 3));
    ck_assert(!rg_tls_looks_plain("", 0));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    /* Before anything else: OpenSSL takes allocators only before it has
     * allocated with its own. */
    if (!CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free))
        return 1;
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, loopback);
    tcase_add_test(tc, verify_fails);
    tcase_add_test(tc, alloc_failures_fail_cleanly);
    tcase_add_test(tc, pem_errors);
    tcase_add_test(tc, plain_sniffing);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
