/* proxy-cache's key (proxy_cache.h): method, Host, path (lower-cased
 * with ignore_uri_case), the query with its arguments sorted, as Kong (or,
 * with vary_query_params, those parameters in config order), the
 * vary_headers' values and the consumer, one per line; X-Cache-Key is its
 * 64-bit FNV-1a in hex. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/gateway.h"
#include "http/req.h"
#include "plugins/cache_store.h"
#include "plugins/proxy_cache.h"

static const char *method_name(unsigned m)
{
    static const char *const names[] = {"GET",     "HEAD",   "POST",
                                        "PUT",     "DELETE", "PATCH",
                                        "OPTIONS", "TRACE",  "CONNECT"};

    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (m == 1u << i)
            return names[i];
    }
    return "OTHER";
}

/* The value of query parameter @name in @q (@n bytes): the first
 * "name=value" (or bare "name"), into *@v / *@vl; 0 when absent. */
static int query_param(const char *q, size_t n, const char *name,
                       const char **v, size_t *vl)
{
    size_t nl = strlen(name), i = 0;

    while (i < n) {
        size_t s = i, e;

        while (i < n && q[i] != '&')
            i++;
        e = i++;
        if (e - s >= nl && memcmp(q + s, name, nl) == 0 &&
            (e - s == nl || q[s + nl] == '=')) {
            *v = e - s == nl ? q + e : q + s + nl + 1;
            *vl = e - s == nl ? 0 : e - s - nl - 1;
            return 1;
        }
    }
    return 0;
}

static const char *consumer_name(struct rg_req *r)
{
    const struct rg_gateway *gw = rg_req_gateway(r);
    size_t i = rg_req_consumer(r);
    const struct rg_consumer *k;

    if (i == RG_NO_INDEX || i >= gw->n_consumers)
        return NULL;
    k = &gw->consumers[i];
    return k->id != NULL         ? k->id
           : k->username != NULL ? k->username
                                 : k->custom_id;
}

void rg_pc__put(char **w, const char *p, size_t n)
{
    memcpy(*w, p, n);
    *w += n;
}

struct qseg {
    const char *p;
    size_t n;
};

static int qseg_cmp(const void *a, const void *b)
{
    const struct qseg *x = a, *y = b;
    int d = memcmp(x->p, y->p, x->n < y->n ? x->n : y->n);

    return d != 0 ? d : (x->n > y->n) - (x->n < y->n);
}

/* The query @q (@n bytes) with its "name=value" parts sorted (as Kong's
 * key sorts the arguments: ?a=1&b=2 and ?b=2&a=1 are one entry), joined
 * with '&'; empty parts dropped. Past PC_QUERY_SORT_MAX parts, as sent. */
#define PC_QUERY_SORT_MAX 64
static void put_sorted_query(char **w, const char *q, size_t n)
{
    struct qseg segs[PC_QUERY_SORT_MAX];
    size_t k = 0, i = 0;

    while (i < n) {
        size_t s = i;

        while (i < n && q[i] != '&')
            i++;
        if (i > s) {
            if (k == PC_QUERY_SORT_MAX) {
                rg_pc__put(w, q, n);
                return;
            }
            segs[k++] = (struct qseg){q + s, i - s};
        }
        i++;
    }
    qsort(segs, k, sizeof(segs[0]), qseg_cmp);
    for (i = 0; i < k; i++) {
        if (i > 0)
            *(*w)++ = '&';
        rg_pc__put(w, segs[i].p, segs[i].n);
    }
}

int rg_pc__key(const struct rg_pc_conf *c, struct rg_req *r,
               struct rg_pc_key *out)
{
    size_t hl = 0, pl, ql, vl, room;
    const char *host = rg_req_header(r, "host", &hl);
    const char *path = rg_req_path(r, &pl);
    const char *q = rg_req_query(r, &ql);
    const char *m = method_name(rg_req_method(r));
    const char *who = c->vary_by_consumer ? consumer_name(r) : NULL;
    char *k, *w;

    if (host == NULL)
        hl = 0;
    room = strlen(m) + hl + pl + ql + 8 + (who ? strlen(who) : 0);
    for (size_t i = 0; i < c->vary_query.n; i++)
        room += strlen(c->vary_query.v[i]) + 2;
    for (size_t i = 0; i < c->vary_headers.n; i++) {
        const char *v = rg_req_header(r, c->vary_headers.v[i], &vl);

        room += strlen(c->vary_headers.v[i]) + 2 + (v != NULL ? vl : 0);
    }
    k = w = rg_req_alloc(r, room);
    if (k == NULL)
        return -ENOMEM;
    rg_pc__put(&w, m, strlen(m));
    *w++ = '\n';
    rg_pc__put(&w, host != NULL ? host : "", hl);
    *w++ = '\n';
    rg_pc__put(&w, path, pl);
    if (c->ignore_uri_case) {
        for (char *p = w - pl; p < w; p++) {
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        }
    }
    *w++ = '\n';
    if (c->vary_query.n == 0) {
        put_sorted_query(&w, q, ql);
    } else {
        for (size_t i = 0; i < c->vary_query.n; i++) {
            const char *name = c->vary_query.v[i], *v;

            if (!query_param(q, ql, name, &v, &vl))
                continue;
            rg_pc__put(&w, name, strlen(name));
            *w++ = '=';
            rg_pc__put(&w, v, vl);
            *w++ = '&';
        }
    }
    *w++ = '\n';
    for (size_t i = 0; i < c->vary_headers.n; i++) {
        const char *name = c->vary_headers.v[i];
        const char *v = rg_req_header(r, name, &vl);

        rg_pc__put(&w, name, strlen(name));
        *w++ = '=';
        if (v != NULL)
            rg_pc__put(&w, v, vl);
        *w++ = '\n';
    }
    if (who != NULL)
        rg_pc__put(&w, who, strlen(who));
    out->key = k;
    out->len = (size_t)(w - k);
    out->hash = rg_cache_hash(k, out->len);
    rg_cache_hex(out->hash, out->hex);
    return 0;
}
