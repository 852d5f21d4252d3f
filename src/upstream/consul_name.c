/* Consul names and answers, without I/O: the DNS-style name parser and the
 * /v1/health/service decoder; see consul.h. */
#include "upstream/consul.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int label_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
}

/* Copy the label [@p, @p+@len) into @out: 0, or -EINVAL. */
static int label(const char *p, size_t len, char *out)
{
    if (len == 0 || len > RG_CONSUL_LABEL_MAX)
        return -EINVAL;
    for (size_t i = 0; i < len; i++)
        if (!label_char(p[i]))
            return -EINVAL;
    memcpy(out, p, len);
    out[len] = '\0';
    return 0;
}

static int is_service(const char *p, size_t len)
{
    return len == 7 && strncasecmp(p, "service", 7) == 0;
}

/* Split @s (@len bytes) at dots into at most 5 labels: their count, or
 * -EINVAL when there are more. */
static int split(const char *s, size_t len, const char *lp[5], size_t ll[5])
{
    int n = 0;
    size_t start = 0;

    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '.')
            continue;
        if (n == 5)
            return -EINVAL;
        lp[n] = s + start;
        ll[n++] = i - start;
        start = i + 1;
    }
    return n;
}

int rg_consul_name_parse(const char *host, const char *domain,
                         struct rg_consul_name *out)
{
    struct rg_consul_name tmp;
    const char *lp[5];
    size_t ll[5], hl = strlen(host), dl;
    int n, svc = -1, rv;

    if (domain == NULL)
        domain = RG_CONSUL_DEFAULT_DOMAIN;
    dl = strlen(domain);
    if (out == NULL)
        out = &tmp;
    memset(out, 0, sizeof(*out));
    if (hl > 0 && host[hl - 1] == '.')
        hl--; /* a fully qualified name */
    if (hl <= dl + 1 || host[hl - dl - 1] != '.' ||
        strncasecmp(host + hl - dl, domain, dl) != 0)
        return 0;
    n = split(host, hl - dl - 1, lp, ll);
    /* NAME.service, TAG.NAME.service, NAME.service.DC, TAG.NAME.service.DC */
    if (n >= 1 && is_service(lp[n - 1], ll[n - 1]))
        svc = n - 1;
    else if (n >= 2 && is_service(lp[n - 2], ll[n - 2]))
        svc = n - 2;
    else if (n < 0 && strstr(host, ".service.") != NULL)
        return -EINVAL; /* more labels than any form has */
    if (svc <= 0)
        return 0; /* no label before "service": not a service name */
    if (svc > 2)
        return -EINVAL;
    rv = label(lp[svc - 1], ll[svc - 1], out->service);
    if (rv == 0 && svc == 2)
        rv = label(lp[0], ll[0], out->tag);
    if (rv == 0 && svc == n - 2)
        rv = label(lp[n - 1], ll[n - 1], out->dc);
    return rv == 0 ? 1 : rv;
}

uint64_t rg_consul__next_index(const char *h, uint64_t old)
{
    char *end;
    unsigned long long v;

    if (h == NULL || h[0] < '0' || h[0] > '9')
        return 0;
    errno = 0;
    v = strtoull(h, &end, 10);
    if (errno != 0 || *end != '\0' || v < old)
        return 0;
    return v;
}

uint32_t rg_consul__backoff_ms(unsigned fails, uint64_t r)
{
    uint64_t ms = RG_CONSUL_BACKOFF_MIN_MS;

    for (unsigned i = 1; i < fails && ms < RG_CONSUL_BACKOFF_MAX_MS; i++)
        ms *= 2;
    if (ms > RG_CONSUL_BACKOFF_MAX_MS)
        ms = RG_CONSUL_BACKOFF_MAX_MS;
    return (uint32_t)(ms / 2 + r % (ms / 2 + 1));
}

/* One answer entry's address, or NULL. */
static const char *entry_address(json_t *e)
{
    const char *a = json_string_value(
        json_object_get(json_object_get(e, "Service"), "Address"));

    if (a == NULL || a[0] == '\0')
        a = json_string_value(
            json_object_get(json_object_get(e, "Node"), "Address"));
    return a;
}

static int to_sockaddr(const char *ip, long port, struct sockaddr_storage *out)
{
    struct sockaddr_in *in = (struct sockaddr_in *)out;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;

    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        return 0;
    }
    return -EINVAL;
}

/* A total order on addresses: family, address bytes, port. */
static int addr_cmp(const void *pa, const void *pb)
{
    const struct sockaddr_storage *a = pa, *b = pb;

    if (a->ss_family != b->ss_family)
        return a->ss_family < b->ss_family ? -1 : 1;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = pa, *y = pb;
        int c = memcmp(&x->sin_addr, &y->sin_addr, sizeof(x->sin_addr));

        return c != 0 ? c : memcmp(&x->sin_port, &y->sin_port, 2);
    } else {
        const struct sockaddr_in6 *x = pa, *y = pb;
        int c = memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));

        return c != 0 ? c : memcmp(&x->sin6_port, &y->sin6_port, 2);
    }
}

static size_t sort_unique(struct sockaddr_storage *a, size_t n)
{
    size_t k = 0;

    if (n == 0)
        return 0;
    qsort(a, n, sizeof(*a), addr_cmp);
    for (size_t i = 1; i < n; i++)
        if (addr_cmp(&a[k], &a[i]) != 0)
            a[++k] = a[i];
    return k + 1;
}

int rg_consul_decode(const char *body, size_t len, struct sockaddr_storage *out,
                     size_t max, size_t *n, size_t *skipped)
{
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    size_t i, got = 0, skip = 0;
    json_t *e;

    *n = 0;
    if (skipped != NULL)
        *skipped = 0;
    if (!json_is_array(doc)) {
        json_decref(doc);
        return -EINVAL;
    }
    json_array_foreach(doc, i, e)
    {
        json_t *port = json_object_get(json_object_get(e, "Service"), "Port");
        const char *a = entry_address(e);
        json_int_t p = json_integer_value(port);

        if (!json_is_object(e)) {
            json_decref(doc);
            return -EINVAL;
        }
        if (a == NULL || !json_is_integer(port) || p < 1 || p > 65535 ||
            got == max || to_sockaddr(a, (long)p, &out[got]) != 0) {
            skip++;
            continue;
        }
        got++;
    }
    json_decref(doc);
    *n = sort_unique(out, got);
    if (skipped != NULL)
        *skipped = skip;
    return 0;
}
