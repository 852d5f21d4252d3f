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

int rg_cidrs_match(const struct rg_cidrs *set, const struct sockaddr *sa)
{
    uint8_t a[16];

    if (sa->sa_family == AF_INET) {
        memcpy(a, v4_mapped, sizeof(v4_mapped));
        memcpy(a + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    } else {
        return 0;
    }
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
