/* IP prefixes and their sets; see cidr.h. */
#include "core/cidr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "core/alloc.h"

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Whether @a and @b agree on their first @bits bits. */
static int prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;

    if (memcmp(a, b, whole) != 0)
        return 0;
    if (rest == 0)
        return 1;
    return ((a[whole] ^ b[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

int rg_cidr_parse(const char *s, size_t len, struct rg_cidr *out)
{
    char buf[INET6_ADDRSTRLEN + 8];
    const char *slash;
    unsigned max, bits;
    struct rg_cidr c;

    if (len == 0 || len >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, s, len);
    buf[len] = '\0';
    slash = strchr(buf, '/');
    if (slash != NULL)
        buf[slash - buf] = '\0';
    memset(&c, 0, sizeof(c));
    if (inet_pton(AF_INET, buf, c.addr + 12) == 1) {
        memcpy(c.addr, v4_mapped, sizeof(v4_mapped));
        max = 32;
    } else if (inet_pton(AF_INET6, buf, c.addr) == 1) {
        max = 128;
    } else {
        return -EINVAL;
    }
    bits = max;
    if (slash != NULL) {
        const char *p = slash + 1;

        if (*p == '\0' || strlen(p) > 3)
            return -EINVAL;
        bits = 0;
        for (; *p != '\0'; p++) {
            if (*p < '0' || *p > '9')
                return -EINVAL;
            bits = bits * 10 + (unsigned)(*p - '0');
        }
        if (bits > max)
            return -EINVAL;
    }
    c.bits = (uint8_t)(bits + 128 - max);
    /* host bits: the address past the prefix must be zero */
    for (unsigned b = c.bits; b < 128; b++) {
        if (c.addr[b / 8] & (0x80 >> (b % 8)))
            return -EINVAL;
    }
    *out = c;
    return 0;
}

int rg_cidrs_add(struct rg_cidrs *set, const struct rg_cidr *c)
{
    struct rg_cidr *v;

    if (set->n >= RG_CIDRS_MAX)
        return -E2BIG;
    v = rg_realloc(set->v, (set->n + 1) * sizeof(*v));
    if (v == NULL)
        return -ENOMEM;
    v[set->n++] = *c;
    set->v = v;
    return 0;
}

/* @sa's address in the 128-bit form; -1 for other families. */
static int addr_of(const struct sockaddr *sa, uint8_t a[16])
{
    if (sa->sa_family == AF_INET) {
        memcpy(a, v4_mapped, sizeof(v4_mapped));
        memcpy(a + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    } else {
        return -1;
    }
    return 0;
}

int rg_cidrs_match(const struct rg_cidrs *set, const struct sockaddr *sa)
{
    uint8_t a[16];

    if (addr_of(sa, a) != 0)
        return 0;
    for (size_t i = 0; i < set->n; i++) {
        if (prefix_eq(a, set->v[i].addr, set->v[i].bits))
            return 1;
    }
    return 0;
}

int rg_cidrs_copy(struct rg_cidrs *dst, const struct rg_cidrs *src)
{
    dst->v = NULL;
    dst->n = 0;
    if (src->n == 0)
        return 0;
    dst->v = rg_malloc(src->n * sizeof(*dst->v));
    if (dst->v == NULL)
        return -ENOMEM;
    memcpy(dst->v, src->v, src->n * sizeof(*dst->v));
    dst->n = src->n;
    return 0;
}

void rg_cidrs_release(struct rg_cidrs *set)
{
    rg_free(set->v);
    set->v = NULL;
    set->n = 0;
}

/* The prefix tree: node 0 is the root; child index 0 means none. */

static int bit_at(const uint8_t *a, unsigned i)
{
    return a[i / 8] >> (7 - i % 8) & 1;
}

static int tree_node(struct rg_cidr_tree *t)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        struct rg_cidr_node *v;

        if (cap > RG_CIDR_TREE_NODES)
            cap = RG_CIDR_TREE_NODES;
        if (t->n == cap)
            return -E2BIG;
        v = rg_realloc(t->node, cap * sizeof(*v));
        if (v == NULL)
            return -ENOMEM;
        t->node = v;
        t->cap = cap;
    }
    memset(&t->node[t->n], 0, sizeof(t->node[0]));
    return (int)t->n++;
}

int rg_cidr_tree_add(struct rg_cidr_tree *t, const struct rg_cidr *c)
{
    uint32_t at = 0;
    int rv;

    if (t->n == 0 && (rv = tree_node(t)) < 0)
        return rv;
    for (unsigned i = 0; i < c->bits && !t->node[at].end; i++) {
        int b = bit_at(c->addr, i);

        if (t->node[at].child[b] == 0) {
            if ((rv = tree_node(t)) < 0)
                return rv;
            t->node[at].child[b] = (uint32_t)rv;
        }
        at = t->node[at].child[b];
    }
    t->node[at].end = 1; /* a shorter prefix already covers it, or this */
    return 0;
}

int rg_cidr_tree_match(const struct rg_cidr_tree *t, const struct sockaddr *sa)
{
    uint8_t a[16];
    uint32_t at = 0;

    if (t->n == 0 || addr_of(sa, a) != 0)
        return 0;
    for (unsigned i = 0;; i++) {
        if (t->node[at].end)
            return 1;
        if (i == 128 || t->node[at].child[bit_at(a, i)] == 0)
            return 0;
        at = t->node[at].child[bit_at(a, i)];
    }
}

void rg_cidr_tree_release(struct rg_cidr_tree *t)
{
    rg_free(t->node);
    memset(t, 0, sizeof(*t));
}
