/* Unit tests for core/cidr.c: the prefixes behind proxy.trusted_ips (a
 * wrong match trusts a client's X-Forwarded-* headers it should not) and
 * the prefix tree of ip-restriction, checked against the linear set. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "core/cidr.h"

static struct sockaddr_storage addr(const char *ip)
{
    struct sockaddr_storage ss;

    memset(&ss, 0, sizeof(ss));
    if (strchr(ip, ':') != NULL) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

        a->sin6_family = AF_INET6;
        ck_assert_int_eq(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;

        a->sin_family = AF_INET;
        ck_assert_int_eq(inet_pton(AF_INET, ip, &a->sin_addr), 1);
    }
    return ss;
}

/* Whether @ip is in the set of @prefixes; the prefix tree of the same
 * prefixes must say the same. */
static int in_set(const char *const *prefixes, const char *ip)
{
    struct rg_cidrs set = {0};
    struct rg_cidr_tree tree = {0};
    struct sockaddr_storage ss = addr(ip);
    int m;

    for (; *prefixes != NULL; prefixes++) {
        struct rg_cidr c;

        ck_assert_msg(rg_cidr_parse(*prefixes, strlen(*prefixes), &c) == 0,
                      "%s", *prefixes);
        ck_assert_int_eq(rg_cidrs_add(&set, &c), 0);
        ck_assert_int_eq(rg_cidr_tree_add(&tree, &c), 0);
    }
    m = rg_cidrs_match(&set, (struct sockaddr *)&ss);
    ck_assert_int_eq(rg_cidr_tree_match(&tree, (struct sockaddr *)&ss), m);
    rg_cidrs_release(&set);
    rg_cidr_tree_release(&tree);
    return m;
}

static const struct {
    const char *prefix, *ip;
    int match;
} cases[] = {
    {"10.0.0.0/8", "10.255.1.2", 1},
    {"10.0.0.0/8", "11.0.0.1", 0},
    {"192.168.1.0/25", "192.168.1.127", 1},
    {"192.168.1.0/25", "192.168.1.128", 0},
    {"127.0.0.1", "127.0.0.1", 1},
    {"127.0.0.1", "127.0.0.2", 0},
    {"0.0.0.0/0", "203.0.113.9", 1},
    {"0.0.0.0/0", "2001:db8::1", 0},       /* v4 "all" is not v6 */
    {"10.1.0.0/16", "::ffff:10.1.2.3", 1}, /* v4 peer on a v6 socket */
    {"2001:db8::/32", "2001:db8:ffff::1", 1},
    {"2001:db8::/32", "2001:db9::1", 0},
    {"::1", "::1", 1},
    {"::/0", "198.51.100.1", 1},           /* v6 "all" covers mapped v4 */
    {"fe80::/10", "febf::1", 1},
    {"fe80::/10", "fec0::1", 0},
};

START_TEST(match_table)
{
    const char *set[] = {cases[_i].prefix, NULL};

    ck_assert_msg(in_set(set, cases[_i].ip) == cases[_i].match, "%s in %s",
                  cases[_i].ip, cases[_i].prefix);
}
END_TEST

START_TEST(bad_prefixes)
{
    static const char *const bad[] = {
        "", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.1/8",
        "2001:db8::1/32", "10.0.0", "localhost", "10.0.0.0/8x", "1.2.3.4/-1",
        "10.0.0.0/0008", " 10.0.0.1",
    };
    struct rg_cidr c;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(rg_cidr_parse(bad[i], strlen(bad[i]), &c) == -EINVAL,
                      "accepted \"%s\"", bad[i]);
}
END_TEST

START_TEST(set_any_member_and_cap)
{
    const char *set[] = {"10.0.0.0/8", "192.168.0.0/16", "::1", NULL};
    struct rg_cidrs many = {0}, copy;
    struct rg_cidr c;

    ck_assert(in_set(set, "192.168.7.7"));
    ck_assert(in_set(set, "::1"));
    ck_assert(!in_set(set, "172.16.0.1"));
    ck_assert_int_eq(rg_cidr_parse("10.0.0.0/8", 10, &c), 0);
    for (int i = 0; i < RG_CIDRS_MAX; i++)
        ck_assert_int_eq(rg_cidrs_add(&many, &c), 0);
    ck_assert_int_eq(rg_cidrs_add(&many, &c), -E2BIG);
    ck_assert_int_eq(rg_cidrs_copy(&copy, &many), 0);
    ck_assert_uint_eq(copy.n, RG_CIDRS_MAX);
    rg_cidrs_release(&many);
    rg_cidrs_release(&copy);
    ck_assert_ptr_null(copy.v);
}
END_TEST

/* The tree against the linear set on generated prefixes and addresses
 * (v4 and v6, nested and overlapping prefixes, both orders). */
START_TEST(tree_agrees_with_set)
{
    unsigned x = 12345;

    for (int round = 0; round < 50; round++) {
        struct rg_cidrs set = {0};
        struct rg_cidr_tree tree = {0};

        for (int k = 0; k < 40; k++) {
            struct rg_cidr c;
            unsigned bits;

            memset(&c, 0, sizeof(c));
            for (int b = 0; b < 16; b++) {
                x = x * 1103515245u + 12345u;
                c.addr[b] = (uint8_t)((x >> 16) & 0x0f); /* few values */
            }
            if (k % 2 == 0) { /* v4-mapped */
                memset(c.addr, 0, 10);
                c.addr[10] = c.addr[11] = 0xff;
            }
            x = x * 1103515245u + 12345u;
            bits = k % 2 == 0 ? 96 + (x >> 16) % 33 : (x >> 16) % 129;
            c.bits = (uint8_t)bits;
            for (unsigned i = bits; i < 128; i++)
                c.addr[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
            ck_assert_int_eq(rg_cidrs_add(&set, &c), 0);
            ck_assert_int_eq(rg_cidr_tree_add(&tree, &c), 0);
        }
        for (int q = 0; q < 200; q++) {
            struct sockaddr_in6 a;

            memset(&a, 0, sizeof(a));
            a.sin6_family = AF_INET6;
            for (int b = 0; b < 16; b++) {
                x = x * 1103515245u + 12345u;
                a.sin6_addr.s6_addr[b] = (uint8_t)((x >> 16) & 0x0f);
            }
            if (q % 2 == 0) {
                memset(a.sin6_addr.s6_addr, 0, 10);
                a.sin6_addr.s6_addr[10] = a.sin6_addr.s6_addr[11] = 0xff;
            }
            ck_assert_int_eq(rg_cidr_tree_match(&tree, (struct sockaddr *)&a),
                             rg_cidrs_match(&set, (struct sockaddr *)&a));
        }
        rg_cidrs_release(&set);
        rg_cidr_tree_release(&tree);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cidr");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int nf;

    tcase_add_loop_test(tc, match_table, 0,
                        (int)(sizeof(cases) / sizeof(cases[0])));
    tcase_add_test(tc, bad_prefixes);
    tcase_add_test(tc, set_any_member_and_cap);
    tcase_add_test(tc, tree_agrees_with_set);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? 0 : 1;
}
