/* Unit tests for raft/hsauth.c (the Raft transport's keyed handshake) and
 * core/secret.c (the cluster key file): a known-answer HMAC computed
 * independently (Python's hmac), both sides agreeing, every way a proof
 * must fail (wrong key, reflected, other ids or nonces, one bit flipped),
 * HELLO's magic, the per-address WARN rate limit and the key file's size
 * rules; and the X-Raftgate-Auth request MAC of core/reqmac.c (known
 * answer, round trip, the ±30 s window, tampering). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/reqmac.h"
#include "core/secret.h"
#include "raft/hsauth.h"

static unsigned char kb[32], kb2[32], nc[RG_HS_NONCE], na[RG_HS_NONCE];
static const struct rg_hs_key key = {kb, sizeof(kb)};
static const struct rg_hs_key other = {kb2, sizeof(kb2)};

static void setup(void)
{
    for (int i = 0; i < 32; i++) {
        kb[i] = (unsigned char)i;
        kb2[i] = (unsigned char)(i + 1);
    }
    memset(nc, 0x11, sizeof(nc));
    memset(na, 0x22, sizeof(na));
}

START_TEST(known_answer)
{
    static const char want[] = "9c37f61109bf61b95166316c3f5d8d46"
                               "f4e9f1da95d8d6f40e2e5d8962acfe82";
    unsigned char mac[RG_HS_MAC];
    char hex[2 * RG_HS_MAC + 1];

    ck_assert_int_eq(rg_hs_mac(&key, RG_HS_ACCEPTOR, 1, 2, nc, na, mac), 0);
    for (int i = 0; i < RG_HS_MAC; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    ck_assert_str_eq(hex, want);
}
END_TEST

START_TEST(both_sides_agree)
{
    unsigned char hello[RG_HS_HELLO_LEN], reply[RG_HS_REPLY_LEN];
    unsigned char n1[RG_HS_NONCE], n2[RG_HS_NONCE], got[RG_HS_NONCE];
    unsigned char proof[RG_HS_MAC];
    uint64_t id;

    ck_assert_int_eq(rg_hs_nonce(n1), 0);
    ck_assert_int_eq(rg_hs_nonce(n2), 0);
    ck_assert_int_ne(memcmp(n1, n2, RG_HS_NONCE), 0);
    /* connector 7 -> acceptor 3 */
    rg_hs_hello(hello, 7, n1);
    ck_assert_int_eq(rg_hs_parse_hello(hello, &id, got), 0);
    ck_assert_uint_eq(id, 7);
    ck_assert_int_eq(memcmp(got, n1, RG_HS_NONCE), 0);
    ck_assert_int_eq(rg_hs_reply(&key, reply, 3, 7, n1, n2), 0);
    ck_assert_int_eq(rg_hs_parse_hello(reply, &id, got), 0);
    ck_assert_uint_eq(id, 3);
    ck_assert_int_eq(rg_hs_check(&key, RG_HS_ACCEPTOR, 3, 7, n1, got,
                                 reply + 16 + RG_HS_NONCE),
                     1);
    ck_assert_int_eq(rg_hs_mac(&key, RG_HS_CONNECTOR, 7, 3, n1, n2, proof), 0);
    ck_assert_int_eq(rg_hs_check(&key, RG_HS_CONNECTOR, 7, 3, n1, n2, proof),
                     1);
}
END_TEST

START_TEST(bad_proofs_fail)
{
    unsigned char mac[RG_HS_MAC];

    ck_assert_int_eq(rg_hs_mac(&key, RG_HS_CONNECTOR, 7, 3, nc, na, mac), 0);
    ck_assert_int_eq(rg_hs_check(&key, RG_HS_CONNECTOR, 7, 3, nc, na, mac), 1);
    /* another key */
    ck_assert_int_eq(rg_hs_check(&other, RG_HS_CONNECTOR, 7, 3, nc, na, mac),
                     0);
    /* reflected: the connector's proof offered as the acceptor's */
    ck_assert_int_eq(rg_hs_check(&key, RG_HS_ACCEPTOR, 7, 3, nc, na, mac), 0);
    /* other ids, swapped ids, swapped or other nonces */
    ck_assert_int_eq(rg_hs_check(&key, RG_HS_CONNECTOR, 8, 3, nc, na, mac), 0);
    ck_assert_int_eq(rg_hs_check(&key, RG_HS_CONNECTOR, 3, 7, nc, na, mac), 0);
    ck_assert_int_eq(rg_hs_check(&key, RG_HS_CONNECTOR, 7, 3, na, nc, mac), 0);
    nc[5] ^= 1;
    ck_assert_int_eq(rg_hs_check(&key, RG_HS_CONNECTOR, 7, 3, nc, na, mac), 0);
    nc[5] ^= 1;
    mac[31] ^= 0x80;
    ck_assert_int_eq(rg_hs_check(&key, RG_HS_CONNECTOR, 7, 3, nc, na, mac), 0);
    /* no key: nothing is ever proven */
    ck_assert_int_eq(rg_hs_mac(&(struct rg_hs_key){NULL, 0}, RG_HS_CONNECTOR, 7,
                               3, nc, na, mac),
                     -1);
}
END_TEST

START_TEST(hello_magic)
{
    unsigned char hello[RG_HS_HELLO_LEN], got[RG_HS_NONCE];
    uint64_t id;

    rg_hs_hello(hello, 1, nc);
    hello[0] = 1; /* libraft's own handshake starts with u64 protocol 1 */
    memset(hello + 1, 0, 7);
    ck_assert_int_eq(rg_hs_parse_hello(hello, &id, got), -1);
}
END_TEST

START_TEST(warn_rate_limit)
{
    static struct rg_hs_warnlog w;
    unsigned more = 99;

    memset(&w, 0, sizeof(w));
    ck_assert_int_eq(rg_hs_warn_due(&w, "10.0.0.1", 1000, &more), 1);
    ck_assert_uint_eq(more, 0);
    for (int i = 0; i < 50; i++)
        ck_assert_int_eq(rg_hs_warn_due(&w, "10.0.0.1", 1000 + i, &more), 0);
    /* another address is not held back */
    ck_assert_int_eq(rg_hs_warn_due(&w, "10.0.0.2", 1100, &more), 1);
    /* after the interval: logged, with the count dropped meanwhile */
    ck_assert_int_eq(
        rg_hs_warn_due(&w, "10.0.0.1", 1000 + RG_HS_WARN_MS, &more), 1);
    ck_assert_uint_eq(more, 50);
    /* a full table evicts the oldest, never grows */
    for (int i = 0; i < 3 * RG_HS_WARN_SLOTS; i++) {
        char a[32];

        snprintf(a, sizeof(a), "10.1.0.%d", i);
        ck_assert_int_eq(rg_hs_warn_due(&w, a, 20000 + i, &more), 1);
    }
}
END_TEST

static char *key_file(size_t n)
{
    static char path[64];
    unsigned char b[5000] = {0};
    FILE *f;

    snprintf(path, sizeof(path), "/tmp/rg-test-key-%d", (int)getpid());
    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, n, f), n);
    fclose(f);
    return path;
}

START_TEST(key_file_sizes)
{
    unsigned char *k = NULL;
    size_t len = 0;
    char *p;

    p = key_file(31);
    ck_assert_int_eq(
        rg_secret_read(p, RG_CLUSTER_KEY_MIN, RG_CLUSTER_KEY_MAX, &k, &len),
        -ERANGE);
    ck_assert_ptr_null(k);
    p = key_file(32);
    ck_assert_int_eq(
        rg_secret_read(p, RG_CLUSTER_KEY_MIN, RG_CLUSTER_KEY_MAX, &k, &len), 0);
    ck_assert_uint_eq(len, 32);
    rg_secret_free(k, len);
    p = key_file(RG_CLUSTER_KEY_MAX + 1);
    ck_assert_int_eq(
        rg_secret_read(p, RG_CLUSTER_KEY_MIN, RG_CLUSTER_KEY_MAX, &k, &len),
        -ERANGE);
    unlink(p);
    ck_assert_int_eq(
        rg_secret_read(p, RG_CLUSTER_KEY_MIN, RG_CLUSTER_KEY_MAX, &k, &len),
        -ENOENT);
}
END_TEST

static int vfy(const unsigned char *k, const char *v, const char *method,
               const char *target, const char *rid, const char *body,
               uint64_t now)
{
    return rg_reqmac_verify(k, 32, v, strlen(v), method, target, rid, body,
                            strlen(body), now);
}

START_TEST(reqmac)
{
    /* hmac.new(bytes(range(32)), b"raftgate admin v2\0POST\0/cluster/leases"
     *          b"\0r-1\0" b"1700000000000\0" + sha256(b"{}").digest(),
     *          sha256) */
    static const char want[] =
        "t=1700000000000,mac="
        "d6ca1f4ed36ae9aac4355ee99bdd1e125f381e919491772803e3b25830484ea3";
    static const char *lp = "/cluster/leases";
    const uint64_t t = 1700000000000ull;
    char v[RG_REQMAC_VALUE_MAX];

    ck_assert_int_eq(rg_reqmac_sign(kb, 32, "POST", lp, "r-1", "{}", 2, t, v),
                     0);
    ck_assert_str_eq(v, want);
    /* within the window either way */
    ck_assert_int_eq(vfy(kb, v, "POST", lp, "r-1", "{}", t + 29000), 0);
    ck_assert_int_eq(vfy(kb, v, "POST", lp, "r-1", "{}", t - 29000), 0);
    /* stale, early, another key, method, target, request id, body */
    ck_assert_int_eq(vfy(kb, v, "POST", lp, "r-1", "{}", t + 31000), -1);
    ck_assert_int_eq(vfy(kb, v, "POST", lp, "r-1", "{}", t - 31000), -1);
    ck_assert_int_eq(vfy(kb2, v, "POST", lp, "r-1", "{}", t), -1);
    ck_assert_int_eq(vfy(kb, v, "PUT", lp, "r-1", "{}", t), -1);
    ck_assert_int_eq(vfy(kb, v, "POST", "/cluster/breaker", "r-1", "{}", t),
                     -1);
    ck_assert_int_eq(vfy(kb, v, "POST", lp, "r-2", "{}", t), -1);
    ck_assert_int_eq(vfy(kb, v, "POST", lp, "", "{}", t), -1);
    ck_assert_int_eq(vfy(kb, v, "POST", lp, "r-1", "[]", t), -1);
    /* malformed */
    v[strlen(v) - 1] = '\0';
    ck_assert_int_eq(vfy(kb, v, "POST", lp, "r-1", "{}", t), -1);
    ck_assert_int_eq(vfy(kb, "t=,mac=", "POST", lp, "r-1", "{}", t), -1);
    ck_assert_int_eq(rg_reqmac_sign(kb, 0, "POST", "/", "", "", 0, t, v), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hsauth");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, known_answer);
    tcase_add_test(tc, both_sides_agree);
    tcase_add_test(tc, bad_proofs_fail);
    tcase_add_test(tc, hello_magic);
    tcase_add_test(tc, warn_rate_limit);
    tcase_add_test(tc, key_file_sizes);
    tcase_add_test(tc, reqmac);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
