/* Unit tests for plugins/jwt_token.c: base64 decoding (RFC 4648 vectors,
 * url and standard alphabets, non-canonical input refused), taking tokens
 * apart, and signatures checked with the credential's algorithm only. */
#include <check.h>
#include <errno.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "plugins/jwt_token.h"

static void b64_ok(const char *in, int std, const char *want)
{
    unsigned char *out;
    size_t n;

    ck_assert_int_eq(rg_b64_decode(in, strlen(in), std, &out, &n), 0);
    ck_assert_uint_eq(n, strlen(want));
    ck_assert(memcmp(out, want, n) == 0);
    rg_free(out);
}

static void b64_bad(const char *in, int std)
{
    unsigned char *out;
    size_t n;

    ck_assert_int_eq(rg_b64_decode(in, strlen(in), std, &out, &n), -EINVAL);
    ck_assert_ptr_null(out);
}

START_TEST(base64)
{
    b64_ok("", 0, "");
    b64_ok("Zg", 0, "f");
    b64_ok("Zm8", 0, "fo");
    b64_ok("Zm9v", 0, "foo");
    b64_ok("Zm9vYg", 0, "foob");
    b64_ok("Zm9vYmE", 0, "fooba");
    b64_ok("Zm9vYmFy", 0, "foobar");
    b64_ok("Zm9vYg==", 1, "foob");
    b64_ok("-_-_", 0, "\xfb\xff\xbf");
    b64_ok("+/+/", 1, "\xfb\xff\xbf");
    b64_bad("+/+/", 0);     /* the standard alphabet in a url part */
    b64_bad("Zm9vYg==", 0); /* no padding in JWS */
    b64_bad("Zh", 0);       /* stray bits: not canonical */
    b64_bad("Z", 0);        /* no whole byte */
    b64_bad("Zm 9", 0);
}
END_TEST

static char *make_token(const char *header, const char *claims,
                        const char *secret)
{
    static char tok[1024];
    unsigned char mac[64];
    unsigned int n;
    size_t k;

    /* Pre-encoded parts keep the test independent of an encoder. */
    k = (size_t)snprintf(tok, sizeof(tok), "%s.%s", header, claims);
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)tok, k,
         mac, &n);
    tok[k++] = '.';
    for (unsigned i = 0; i < n; i += 3) { /* base64url of the MAC */
        static const char a[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        uint32_t v = (uint32_t)mac[i] << 16 |
                     (i + 1 < n ? (uint32_t)mac[i + 1] << 8 : 0) |
                     (i + 2 < n ? mac[i + 2] : 0);

        tok[k++] = a[v >> 18 & 63];
        tok[k++] = a[v >> 12 & 63];
        if (i + 1 < n)
            tok[k++] = a[v >> 6 & 63];
        if (i + 2 < n)
            tok[k++] = a[v & 63];
    }
    tok[k] = '\0';
    return tok;
}

/* {"alg":"HS256","typ":"JWT"} and {"iss":"a"} */
#define H_HS256 "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
#define C_ISS "eyJpc3MiOiJhIn0"

START_TEST(hs256_verified_with_pinned_alg)
{
    struct rg_jwt_secret cred = {.alg = RG_JWT_HS256};
    struct rg_jwt j;
    const char *why, *tok = make_token(H_HS256, C_ISS, "k");

    ck_assert_int_eq(rg_jwt_parse(tok, strlen(tok), &j, &why), 0);
    ck_assert_int_eq(j.alg, RG_JWT_HS256);
    ck_assert_str_eq(json_string_value(json_object_get(j.claims, "iss")), "a");
    ck_assert_uint_eq(j.signed_len, strlen(H_HS256 "." C_ISS));
    ck_assert_int_eq(rg_jwt_verify(&j, &cred, (const unsigned char *)"k", 1),
                     1);
    ck_assert_int_eq(rg_jwt_verify(&j, &cred, (const unsigned char *)"K", 1),
                     0);
    cred.alg = RG_JWT_HS384; /* pinned: the token's HS256 is not enough */
    ck_assert_int_eq(rg_jwt_verify(&j, &cred, (const unsigned char *)"k", 1),
                     0);
    cred.alg = RG_JWT_RS256; /* no key: never valid */
    ck_assert_int_eq(rg_jwt_verify(&j, &cred, (const unsigned char *)"k", 1),
                     0);
    rg_jwt_release(&j);
}
END_TEST

static void refused(const char *tok, const char *want)
{
    struct rg_jwt j;
    const char *why = NULL;

    ck_assert_int_eq(rg_jwt_parse(tok, strlen(tok), &j, &why), -EINVAL);
    ck_assert_str_eq(why, want);
    ck_assert_ptr_null(j.header);
    ck_assert_ptr_null(j.claims);
    ck_assert_ptr_null(j.sig);
}

START_TEST(bad_tokens_refused)
{
    /* {"alg":"none"}, {"alg":"NONE"}, {"alg":"HS256","crit":["x"]},
     * [1], {"alg":5} */
    refused("eyJhbGciOiJub25lIn0." C_ISS ".", "invalid alg");
    refused("eyJhbGciOiJub25lIn0." C_ISS ".c2ln", "invalid alg");
    refused("eyJhbGciOiJOT05FIn0." C_ISS ".c2ln", "invalid alg");
    refused("eyJhbGciOiJIUzI1NiIsImNyaXQiOlsieCJdfQ." C_ISS ".c2ln",
            "unsupported critical header");
    refused("WzFd." C_ISS ".c2ln", "invalid JSON");
    refused("eyJhbGciOjV9." C_ISS ".c2ln", "invalid alg");
    refused(H_HS256 "." C_ISS ".", "no signature");
    refused(H_HS256 "." C_ISS, "invalid token: not three parts");
    refused(H_HS256 "." C_ISS ".c2ln.x", "invalid token: not three parts");
    refused(H_HS256 ".!!." "c2ln", "invalid base64");
    refused(H_HS256 "." C_ISS ".c2l=", "invalid base64");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("jwt_token");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, base64);
    tcase_add_test(tc, hs256_verified_with_pinned_alg);
    tcase_add_test(tc, bad_tokens_refused);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
