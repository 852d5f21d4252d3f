/* IP address prefixes ("10.0.0.0/8", "2001:db8::/32", "127.0.0.1") and
 * sets of them, matched against a peer's address. IPv4 is kept as
 * IPv4-mapped IPv6 (::ffff:a.b.c.d/96+n), so a v4 prefix also matches a
 * v4 peer seen on a dual-stack socket. A set is a flat array scanned in
 * order: for the short lists of trusted proxies (proxy.trusted_ips); the
 * large allow/deny lists of ip-restriction use the prefix tree below.
 * Thread: any; a set is immutable once built. */
#ifndef RG_CORE_CIDR_H
#define RG_CORE_CIDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/err.h"

#define RG_CIDRS_MAX 1024 /* entries in one set */

struct rg_cidr {
    uint8_t addr[16]; /* network byte order, host bits cleared */
    uint8_t bits;     /* prefix length over the 128-bit form */
};

struct rg_cidrs {
    struct rg_cidr *v; /* rg_malloc'd, or NULL when empty */
    size_t n;
};

/* Parse @s (@len bytes, no NUL needed): an IPv4 or IPv6 literal with an
 * optional "/bits" (0..32 or 0..128). Host bits set beyond the prefix are
 * an error, as in Kong ("10.0.0.1/8" is a typo, not 10.0.0.0/8).
 * Returns 0 or -EINVAL. */
int rg_cidr_parse(const char *s, size_t len, struct rg_cidr *out)
    RG_MUST_CHECK;

/* Append @c to @set. Returns 0, -ENOMEM, or -E2BIG past RG_CIDRS_MAX. */
int rg_cidrs_add(struct rg_cidrs *set, const struct rg_cidr *c) RG_MUST_CHECK;

/* Whether @sa (AF_INET or AF_INET6) is in @set; 0 for other families. */
int rg_cidrs_match(const struct rg_cidrs *set, const struct sockaddr *sa);

/* Copy @src into @dst (for the config generation). 0 or -ENOMEM. */
int rg_cidrs_copy(struct rg_cidrs *dst, const struct rg_cidrs *src)
    RG_MUST_CHECK;

/* Free @set's entries; the set is empty after. */
void rg_cidrs_release(struct rg_cidrs *set);

/* A binary prefix tree of prefixes: a match costs at most 128 steps
 * however many prefixes it holds. Zeroed is empty. */
#define RG_CIDR_TREE_NODES (1u << 22) /* nodes in one tree */

struct rg_cidr_node {
    uint32_t child[2]; /* 0: none (the root is node 0) */
    uint8_t end;       /* a prefix ends here: all below match */
};

struct rg_cidr_tree {
    struct rg_cidr_node *node; /* rg_malloc'd */
    size_t n, cap;
};

/* Add prefix @c. 0, -ENOMEM, or -E2BIG past RG_CIDR_TREE_NODES. */
int rg_cidr_tree_add(struct rg_cidr_tree *t, const struct rg_cidr *c)
    RG_MUST_CHECK;

/* Whether @sa (AF_INET or AF_INET6) is under a prefix of @t. */
int rg_cidr_tree_match(const struct rg_cidr_tree *t,
                       const struct sockaddr *sa);

/* Free @t; it is empty after. */
void rg_cidr_tree_release(struct rg_cidr_tree *t);

#endif
