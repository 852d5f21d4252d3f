/* The asynchronous host-name cache; see resolver.h. */
#include "upstream/resolver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>

#include "core/alloc.h"

struct entry {
    struct entry *next;
    struct rg_resolver *r;
    char *host;
    struct sockaddr_storage addr[RG_RESOLVER_MAX_ADDRS]; /* the last good
                                     addresses, n_addr of them */
    size_t n_addr;
    uv_getaddrinfo_t req;         /* the lookup in flight, if pending */
    int err;                      /* the failed lookup's error, until a
                                     get has reported it */
    unsigned have : 1;            /* addr[] is set */
    unsigned pending : 1;
    unsigned waited : 1;          /* a get found it pending */
    unsigned used : 1;            /* asked for since the last refresh */
};

struct rg_resolver {
    uv_loop_t *loop;
    uv_timer_t refresh;
    void (*changed)(void *arg);
    void *arg;
    struct entry *entries;
    unsigned n_pending;
    unsigned closing : 1;
    unsigned timer_closed : 1;
};

static void entry_free(struct entry *e)
{
    rg_free(e->host);
    rg_free(e);
}

static void maybe_free(struct rg_resolver *r)
{
    struct entry *e, *next;

    if (!r->closing || !r->timer_closed || r->n_pending > 0)
        return;
    for (e = r->entries; e != NULL; e = next) {
        next = e->next;
        entry_free(e);
    }
    rg_free(r);
}

static int same_addr(const struct sockaddr_storage *a,
                     const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return 0;
    if (a->ss_family == AF_INET)
        return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
                      &((const struct sockaddr_in *)b)->sin_addr,
                      sizeof(struct in_addr)) == 0;
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                  &((const struct sockaddr_in6 *)b)->sin6_addr,
                  sizeof(struct in6_addr)) == 0;
}

/* The distinct stream addresses of @res, at most @max, into @out. */
static size_t from_ai(const struct addrinfo *res, struct sockaddr_storage *out,
                      size_t max)
{
    size_t n = 0;

    for (; res != NULL && n < max; res = res->ai_next) {
        size_t i;

        if (res->ai_addrlen > sizeof(*out) ||
            (res->ai_family != AF_INET && res->ai_family != AF_INET6))
            continue;
        memset(&out[n], 0, sizeof(out[n]));
        memcpy(&out[n], res->ai_addr, res->ai_addrlen);
        for (i = 0; i < n && !same_addr(&out[i], &out[n]); i++)
            ;
        n += i == n;
    }
    return n;
}

/* The same addresses in any order (a DNS server may rotate its answers:
 * that is not a change). Both lists hold distinct addresses. */
static int same_set(const struct sockaddr_storage *a, size_t na,
                    const struct sockaddr_storage *b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++) {
        size_t j;

        for (j = 0; j < nb && !same_addr(&a[i], &b[j]); j++)
            ;
        if (j == nb)
            return 0;
    }
    return 1;
}

static void on_lookup(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct entry *e = req->data;
    struct rg_resolver *r = e->r;
    struct sockaddr_storage a[RG_RESOLVER_MAX_ADDRS];
    int notify = e->waited;
    size_t n;

    e->pending = 0;
    e->waited = 0;
    r->n_pending--;
    if (r->closing) {
        uv_freeaddrinfo(res);
        maybe_free(r);
        return;
    }
    n = status == 0 ? from_ai(res, a, RG_RESOLVER_MAX_ADDRS) : 0;
    if (n > 0) {
        notify |= !e->have || !same_set(a, n, e->addr, e->n_addr);
        memcpy(e->addr, a, n * sizeof(a[0]));
        e->n_addr = n;
        e->have = 1;
        e->err = 0;
    } else if (!e->have) {
        /* A failure keeps the last good addresses; without any it is
         * reported once. */
        e->err = status == UV_EAI_MEMORY ? -ENOMEM
                 : status != 0          ? status /* UV_EAI_* */
                                        : -EHOSTUNREACH;
    }
    uv_freeaddrinfo(res);
    if (notify)
        r->changed(r->arg);
}

static void hints_init(struct addrinfo *hints)
{
    memset(hints, 0, sizeof(*hints));
    hints->ai_family = AF_UNSPEC;
    hints->ai_socktype = SOCK_STREAM;
    hints->ai_flags = AI_ADDRCONFIG;
}

static int lookup(struct entry *e)
{
    struct addrinfo hints;
    int rv;

    hints_init(&hints);
    e->req.data = e;
    rv = uv_getaddrinfo(e->r->loop, &e->req, on_lookup, e->host, NULL, &hints);
    if (rv != 0)
        return rv == UV_ENOMEM ? -ENOMEM : -EHOSTUNREACH;
    e->pending = 1;
    e->r->n_pending++;
    return 0;
}

/* Every name asked for since the last tick is looked up again; the others
 * are dropped. */
static void on_refresh(uv_timer_t *t)
{
    struct rg_resolver *r = t->data;
    struct entry **pp = &r->entries, *e;

    while ((e = *pp) != NULL) {
        if (!e->used && !e->pending) {
            *pp = e->next;
            entry_free(e);
            continue;
        }
        e->used = 0;
        if (!e->pending)
            (void)lookup(e); /* a failure now is retried next tick */
        pp = &e->next;
    }
}

struct rg_resolver *rg_resolver_new(uv_loop_t *loop, uint32_t refresh_ms,
                                    void (*changed)(void *arg), void *arg)
{
    struct rg_resolver *r = rg_calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    r->loop = loop;
    r->changed = changed;
    r->arg = arg;
    uv_timer_init(loop, &r->refresh);
    r->refresh.data = r;
    uv_timer_start(&r->refresh, on_refresh, refresh_ms, refresh_ms);
    uv_unref((uv_handle_t *)&r->refresh); /* never keeps the loop alive */
    return r;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct rg_resolver *r = h->data;

    r->timer_closed = 1;
    maybe_free(r);
}

void rg_resolver_close(struct rg_resolver *r)
{
    if (r == NULL || r->closing)
        return;
    r->closing = 1;
    for (struct entry *e = r->entries; e != NULL; e = e->next) {
        if (e->pending)
            uv_cancel((uv_req_t *)&e->req);
    }
    uv_close((uv_handle_t *)&r->refresh, on_timer_closed);
}

static int literal(const char *host, uint16_t port,
                   struct sockaddr_storage *out)
{
    struct sockaddr_in *in = (struct sockaddr_in *)out;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;

    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        return 1;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        return 1;
    }
    return 0;
}

static void with_port(const struct sockaddr_storage *a, uint16_t port,
                      struct sockaddr_storage *out)
{
    *out = *a;
    if (out->ss_family == AF_INET)
        ((struct sockaddr_in *)out)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)out)->sin6_port = htons(port);
}

/* Copy @n of @a with @port into @out (room for @max). */
static size_t with_port_all(const struct sockaddr_storage *a, size_t n,
                            uint16_t port, struct sockaddr_storage *out,
                            size_t max)
{
    size_t i;

    for (i = 0; i < n && i < max; i++)
        with_port(&a[i], port, &out[i]);
    return i;
}

int rg_resolver_get(struct rg_resolver *r, const char *host, uint16_t port,
                    struct sockaddr_storage *out, size_t max, size_t *n)
{
    struct entry *e;
    int rv;

    *n = 0;
    if (max == 0)
        return -EINVAL;
    if (literal(host, port, out)) {
        *n = 1;
        return 0;
    }
    for (e = r->entries; e != NULL && strcmp(e->host, host) != 0; e = e->next)
        ;
    if (e == NULL) {
        e = rg_calloc(1, sizeof(*e));
        if (e == NULL || (e->host = rg_strdup(host)) == NULL) {
            rg_free(e);
            return -ENOMEM;
        }
        e->r = r;
        e->next = r->entries;
        r->entries = e;
    }
    e->used = 1;
    if (e->have) {
        *n = with_port_all(e->addr, e->n_addr, port, out, max);
        return 0;
    }
    if (e->err != 0) {
        rv = e->err;
        e->err = 0;
        return rv;
    }
    if (!e->pending && (rv = lookup(e)) != 0)
        return rv;
    e->waited = 1;
    return -EAGAIN;
}

/* getaddrinfo's error as libuv's code (UV_EAI_*, named by rg_strerror). */
static int eai_code(int eai)
{
    switch (eai) {
    case EAI_AGAIN:
        return UV_EAI_AGAIN;
    case EAI_NONAME:
        return UV_EAI_NONAME;
    case EAI_MEMORY:
        return -ENOMEM;
    case EAI_FAMILY:
        return UV_EAI_FAMILY;
    case EAI_SYSTEM:
        return errno != 0 ? -errno : UV_EAI_FAIL;
    default:
        return UV_EAI_FAIL;
    }
}

int rg_resolve_now(const char *host, uint16_t port,
                   struct sockaddr_storage *out, size_t max, size_t *n)
{
    struct sockaddr_storage a[RG_RESOLVER_MAX_ADDRS];
    struct addrinfo hints, *res = NULL;
    size_t got;
    int rv;

    *n = 0;
    if (max == 0)
        return -EINVAL;
    if (literal(host, port, out)) {
        *n = 1;
        return 0;
    }
    hints_init(&hints);
    rv = getaddrinfo(host, NULL, &hints, &res);
    if (rv != 0)
        return eai_code(rv);
    got = from_ai(res, a, RG_RESOLVER_MAX_ADDRS);
    freeaddrinfo(res);
    if (got == 0)
        return -EHOSTUNREACH;
    *n = with_port_all(a, got, port, out, max);
    return 0;
}
