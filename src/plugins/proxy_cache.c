/* proxy-cache: Kong's response cache (strategy memory), one LRU per
 * worker (plugins/cache_store.h), with raftgate's graceful degradation.
 * Priority 100 (Kong's): ACCESS runs after authentication, so the
 * consumer is known when the key is built.
 *
 * Config, as Kong 3's:
 *   strategy: memory (required; the only one)
 *   response_code: [200, 301, 404]   (200..599 but 204 and 304)
 *   request_method: [GET, HEAD]
 *   content_type: [text/plain, application/json]   the media type, any
 *                 case; wildcards "*", "*" "/" "*" and "type/" "*"; an
 *                 entry with parameters must match them too
 *   cache_ttl: 300   cache_control: false   storage_ttl: null
 *   vary_headers: []   vary_query_params: []   ignore_uri_case: false
 *   response_headers: {age: true, X-Cache-Status: true, X-Cache-Key: true}
 *   memory: {dictionary_name: ...}   accepted, ignored (one store a worker)
 * raftgate's extensions:
 *   vary_by_consumer: true  the consumer (id, else username, else
 *                           custom_id) is part of the key
 *   memory_cap: 16777216    bytes a worker's store holds (the largest cap
 *                           of the instances storing in it bounds it)
 *   stale_if_error: 0       seconds past its TTL an entry is served when
 *                           the upstream fails (connect, reset, timeout:
 *                           the gateway's 502/503/504)
 *   fallback: {status, headers, body}   served on such a failure when no
 *                           entry is (X-Cache-Status: Fallback)
 *
 * Key: method, Host, path (lower-cased with ignore_uri_case), the query
 * with its arguments sorted, as Kong (or, with vary_query_params, those
 * parameters in config order), the vary_headers' values and the consumer, one
 * per line; X-Cache-Key is its 64-bit FNV-1a in hex.
 *
 * A request is Bypass when its method is not listed, with cache_control
 * when it says no-store or no-cache, and whenever it has Authorization
 * and no consumer was identified with vary_by_consumer on (Kong checks
 * Authorization only with cache_control). A response is stored when its
 * status and Content-Type are listed and, with cache_control, it is not
 * private, no-store or no-cache and has a positive s-maxage, max-age or
 * Expires (its TTL; without cache_control the TTL is cache_ttl); else it
 * is Bypass. With cache_control a request's max-age and min-fresh can
 * make a fresh entry too old (Refresh), only-if-cached answers 504 when
 * nothing fresh is. Kept in the store for max(TTL + stale_if_error,
 * storage_ttl); a kept, expired entry makes the request Refresh.
 *
 * Cost: every response on a route with the plugin is buffered whole
 * before it goes out (RG_FILTER_RESP_BODY is per instance: the chain
 * cannot know in advance which responses are cacheable), capped at
 * PC_BODY_MAX (past it 502, as every buffering plugin). HEAD requests
 * are looked up, but never stored (no body reaches BODY). A hit takes no
 * lock, no malloc and no body copy: the stored head lines and body are
 * written from the entry (rg_req_respond_stored). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "config/yamltree.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "http/filter.h"
#include "http/req.h"
#include "plugins/cache_rules.h"
#include "plugins/cache_store.h"
#include "plugins/conf_read.h"

#define PC_BODY_MAX (16u << 20)
#define PC_LIST_MAX 64
#define PC_TTL_MAX 31536000LL /* a year */

struct pc_conf {
    unsigned methods; /* RG_M_* */
    int codes[PC_LIST_MAX];
    size_t n_codes;
    struct rg_names ctypes;
    long long cache_ttl, storage_ttl, stale_if_error;
    long long memory_cap;
    int cache_control, ignore_uri_case, vary_by_consumer;
    int h_age, h_status, h_key; /* response_headers */
    int has_strategy;
    struct rg_names vary_headers, vary_query;
    int fb_status;   /* 0: no fallback */
    char *fb_fields; /* "Name: value\r\n"... */
    size_t fb_flen;
    char *fb_body;
    size_t fb_blen;
};

/* ---- config ---- */

static void pc_conf_free(void *p)
{
    struct pc_conf *c = p;

    if (c == NULL)
        return;
    rg_names_free(&c->ctypes);
    rg_names_free(&c->vary_headers);
    rg_names_free(&c->vary_query);
    rg_free(c->fb_fields);
    rg_free(c->fb_body);
    rg_free(c);
}

static int code_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    struct pc_conf *c = ctx;
    long long x;
    int rv;

    (void)i;
    if (c->n_codes == PC_LIST_MAX)
        return rg_yt_err(t, n, "at most %d codes", PC_LIST_MAX);
    rv = rg_yt_int(t, n, 200, 599, &x);
    if (rv < 0)
        return rv;
    if (x == 204 || x == 304)
        return rg_yt_err(t, n, "204 and 304 are not cached (no body)");
    c->codes[c->n_codes++] = (int)x;
    return 0;
}

static int k_response_code(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct pc_conf *c = ctx;
    int rv;

    c->n_codes = 0;
    rv = rg_yt_seq(t, v, code_item, ctx);
    if (rv == 0 && c->n_codes == 0)
        return rg_yt_err(t, v, "needs at least one code");
    return rv;
}

static int method_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    struct pc_conf *c = ctx;
    const char *s;
    size_t len;
    unsigned bit;
    int rv = rg_yt_scalar(t, n, &s, &len);

    (void)i;
    if (rv < 0)
        return rv;
    bit = rg_method_bit(s, len);
    if (bit == 0 || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != len)
        return rg_yt_err(t, n,
                         "must be an HTTP method in upper case "
                         "(GET, HEAD, POST...)");
    c->methods |= bit;
    return 0;
}

static int k_request_method(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct pc_conf *c = ctx;
    int rv;

    c->methods = 0;
    rv = rg_yt_seq(t, v, method_item, ctx);
    if (rv == 0 && c->methods == 0)
        return rg_yt_err(t, v, "needs at least one method");
    return rv;
}

static int k_content_type(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct pc_conf *c = ctx;
    int rv = rg_names_read(t, v, &c->ctypes, PC_LIST_MAX, RG_NAME_ANY,
                           "content types");

    if (rv == 0 && c->ctypes.n == 0)
        return rg_yt_err(t, v, "needs at least one content type");
    for (size_t i = 0; rv == 0 && i < c->ctypes.n; i++) {
        const char *s = c->ctypes.v[i];

        if (strcmp(s, "*") != 0 && strchr(s, '/') == NULL)
            rv = rg_yt_err(t, v, "%s: must be type/subtype (or *)", s);
    }
    return rv;
}

static int k_cache_ttl(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_int(t, v, 1, PC_TTL_MAX, &((struct pc_conf *)ctx)->cache_ttl);
}

static int k_storage_ttl(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    if (rg_yt_is_null(v))
        return 0;
    return rg_yt_int(t, v, 0, PC_TTL_MAX,
                     &((struct pc_conf *)ctx)->storage_ttl);
}

static int k_stale_if_error(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_int(t, v, 0, PC_TTL_MAX,
                     &((struct pc_conf *)ctx)->stale_if_error);
}

static int k_memory_cap(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_int(t, v, 1024, 1LL << 40,
                     &((struct pc_conf *)ctx)->memory_cap);
}

static int k_strategy(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    const char *s;
    size_t len;
    int rv = rg_yt_scalar(t, v, &s, &len);

    if (rv < 0)
        return rv;
    if (strcmp(s, "memory") != 0)
        return rg_yt_err(t, v, "must be memory (the only strategy)");
    ((struct pc_conf *)ctx)->has_strategy = 1;
    return 0;
}

static int k_cache_control(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct pc_conf *)ctx)->cache_control);
}

static int k_ignore_uri_case(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct pc_conf *)ctx)->ignore_uri_case);
}

static int k_vary_by_consumer(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct pc_conf *)ctx)->vary_by_consumer);
}

static int k_vary_headers(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct pc_conf *c = ctx;
    int rv = rg_names_read(t, v, &c->vary_headers, PC_LIST_MAX, RG_NAME_HEADER,
                           "header names");

    /* Compared without case: kept in lower case, as in the key. */
    for (size_t i = 0; rv == 0 && i < c->vary_headers.n; i++) {
        for (char *p = c->vary_headers.v[i]; *p; p++) {
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        }
    }
    return rv;
}

static int k_vary_query(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct pc_conf *c = ctx;

    return rg_names_read(t, v, &c->vary_query, PC_LIST_MAX, RG_NAME_WORD,
                         "parameter names");
}

static int k_dictionary_name(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    const char *s;
    size_t len;

    (void)ctx;
    return rg_yt_scalar(t, v, &s, &len);
}

static const struct rg_yt_key memory_keys[] = {
    {"dictionary_name", k_dictionary_name},
    {NULL, NULL},
};

static int k_memory(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_map(t, v, memory_keys, ctx);
}

static int k_h_age(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct pc_conf *)ctx)->h_age);
}

static int k_h_status(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct pc_conf *)ctx)->h_status);
}

static int k_h_key(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct pc_conf *)ctx)->h_key);
}

static const struct rg_yt_key response_header_keys[] = {
    {"age", k_h_age},
    {"X-Cache-Status", k_h_status},
    {"X-Cache-Key", k_h_key},
    {NULL, NULL},
};

static int k_response_headers(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_map(t, v, response_header_keys, ctx);
}

/* ---- fallback: {status, headers: {name: value}, body} ---- */

static int framing_name(const char *s)
{
    static const char *const names[] = {"content-length", "transfer-encoding",
                                        "connection",     "keep-alive",
                                        "upgrade",        "te",
                                        "trailer",        "host"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(s, names[i]) == 0)
            return 1;
    }
    return 0;
}

struct fb_parse {
    struct pc_conf *c;
    struct rg_buf fields;
    int has_ctype;
};

static int fb_header(struct rg_yt *t, const char *key, size_t len,
                     yaml_node_t *v, void *ctx)
{
    struct fb_parse *f = ctx;
    const char *s;
    size_t sl;
    int rv = rg_yt_scalar(t, v, &s, &sl);

    if (rv < 0)
        return rv;
    if (len == 0 || strpbrk(key, "()<>@,;:\\\"/[]?={} \t\r\n") != NULL)
        return rg_yt_err(t, v, "the name must be an HTTP header name");
    if (framing_name(key))
        return rg_yt_err(t, v, "the gateway writes this header itself");
    if (strpbrk(s, "\r\n") != NULL)
        return rg_yt_err(t, v, "must not hold CR or LF");
    f->has_ctype |= strcasecmp(key, "content-type") == 0;
    rg_buf_add_field(&f->fields, key, len, s, sl);
    return 0;
}

static int k_fb_status(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;
    int rv = rg_yt_int(t, v, 200, 599, &x);

    if (rv == 0 && (x == 204 || x == 304))
        return rg_yt_err(t, v,
                         "must not be 204 or 304 (a fallback has a "
                         "body)");
    if (rv == 0)
        ((struct pc_conf *)ctx)->fb_status = (int)x;
    return rv;
}

static int k_fb_headers(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_pairs(t, v, fb_header, ctx);
}

static int k_fb_body(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct fb_parse *f = ctx;
    const char *s;
    size_t len;
    int rv = rg_yt_scalar(t, v, &s, &len);

    if (rv < 0)
        return rv;
    rg_free(f->c->fb_body);
    f->c->fb_body = rg_strndup(s, len);
    f->c->fb_blen = len;
    return f->c->fb_body == NULL ? rg_yt_nomem(t) : 0;
}

static int k_fb_status2(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return k_fb_status(t, v, ((struct fb_parse *)ctx)->c);
}

static const struct rg_yt_key fallback_keys[] = {
    {"status", k_fb_status2},
    {"headers", k_fb_headers},
    {"body", k_fb_body},
    {NULL, NULL},
};

static int k_fallback(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct fb_parse f = {.c = ctx};
    int rv;

    if (rg_yt_is_null(v))
        return 0;
    rg_buf_init(&f.fields, 64 * 1024);
    f.c->fb_status = 0;
    rv = rg_yt_map(t, v, fallback_keys, &f);
    if (rv == 0 && f.c->fb_status == 0)
        rv = rg_yt_err(t, v, "needs a status");
    if (rv == 0 && !f.has_ctype)
        rg_buf_adds(&f.fields,
                    "Content-Type: application/json; charset=utf-8\r\n");
    if (rv == 0 && rg_buf_error(&f.fields) != 0)
        rv = rg_yt_err(t, v, "headers: too long");
    if (rv == 0 && f.c->fb_body == NULL &&
        (f.c->fb_body = rg_strdup("")) == NULL)
        rv = rg_yt_nomem(t);
    if (rv == 0) {
        rg_free(f.c->fb_fields);
        f.c->fb_fields =
            rg_strndup(f.fields.p != NULL ? f.fields.p : "", f.fields.len);
        f.c->fb_flen = f.fields.len;
        if (f.c->fb_fields == NULL)
            rv = rg_yt_nomem(t);
    }
    if (rv < 0)
        f.c->fb_status = 0;
    rg_buf_release(&f.fields);
    return rv;
}

/* clang-format off */
static const struct rg_yt_key pc_keys[] = {
    {"strategy", k_strategy},
    {"response_code", k_response_code},
    {"request_method", k_request_method},
    {"content_type", k_content_type},
    {"cache_ttl", k_cache_ttl},
    {"cache_control", k_cache_control},
    {"storage_ttl", k_storage_ttl},
    {"ignore_uri_case", k_ignore_uri_case},
    {"vary_headers", k_vary_headers},
    {"vary_query_params", k_vary_query},
    {"response_headers", k_response_headers},
    {"memory", k_memory},
    {"vary_by_consumer", k_vary_by_consumer},
    {"memory_cap", k_memory_cap},
    {"stale_if_error", k_stale_if_error},
    {"fallback", k_fallback},
    {NULL, NULL},
};
/* clang-format on */

static int pc_defaults(struct pc_conf *c)
{
    static const char *const ctypes[] = {"text/plain", "application/json"};

    c->methods = RG_M_GET | RG_M_HEAD;
    c->codes[0] = 200;
    c->codes[1] = 301;
    c->codes[2] = 404;
    c->n_codes = 3;
    c->cache_ttl = 300;
    c->memory_cap = 16 << 20;
    c->vary_by_consumer = 1;
    c->h_age = c->h_status = c->h_key = 1;
    c->ctypes.v = rg_calloc(2, sizeof(char *));
    if (c->ctypes.v == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < 2; i++) {
        c->ctypes.v[i] = rg_strdup(ctypes[i]);
        if (c->ctypes.v[i] == NULL)
            return -ENOMEM;
        c->ctypes.n++;
    }
    return 0;
}

static int pc_conf_parse(struct rg_yt *t, yaml_node_t *config, void **out)
{
    struct pc_conf *c = rg_calloc(1, sizeof(*c));
    int rv;

    *out = NULL;
    if (c == NULL || pc_defaults(c) != 0) {
        pc_conf_free(c);
        return rg_yt_nomem(t);
    }
    rv = config != NULL ? rg_yt_map(t, config, pc_keys, c) : 0;
    if (rv == 0 && !c->has_strategy)
        rv = rg_yt_err(t, config,
                       "strategy: required field missing "
                       "(strategy: memory)");
    if (rv < 0) {
        pc_conf_free(c);
        return rv;
    }
    *out = c;
    return 0;
}

static unsigned pc_wants(const void *conf, uint32_t *body_max)
{
    (void)conf;
    *body_max = PC_BODY_MAX;
    return RG_FILTER_RESP_BODY;
}

/* ---- runtime ---- */

enum pc_state {
    PC_NONE = 0, /* ACCESS did not run (an earlier plugin answered) */
    PC_BYPASS,
    PC_MISS,
    PC_REFRESH,
    PC_HIT,
    PC_STORE, /* HEADER found the response cacheable */
};

struct pc_ctx {
    uint8_t state;
    char *key;
    size_t key_len;
    uint64_t hash;
    uint64_t ttl_ms;
    char hex[17];
};

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

/* Append @n bytes of @p at *@w (room was counted). */
static void put(char **w, const char *p, size_t n)
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
                put(w, q, n);
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
        put(w, segs[i].p, segs[i].n);
    }
}

/* Build the request's key into @x (arena memory). 0 or -ENOMEM. */
static int build_key(const struct pc_conf *c, struct rg_req *r,
                     struct pc_ctx *x)
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
    put(&w, m, strlen(m));
    *w++ = '\n';
    put(&w, host != NULL ? host : "", hl);
    *w++ = '\n';
    put(&w, path, pl);
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
            put(&w, name, strlen(name));
            *w++ = '=';
            put(&w, v, vl);
            *w++ = '&';
        }
    }
    *w++ = '\n';
    for (size_t i = 0; i < c->vary_headers.n; i++) {
        const char *name = c->vary_headers.v[i];
        const char *v = rg_req_header(r, name, &vl);

        put(&w, name, strlen(name));
        *w++ = '=';
        if (v != NULL)
            put(&w, v, vl);
        *w++ = '\n';
    }
    if (who != NULL)
        put(&w, who, strlen(who));
    x->key = k;
    x->key_len = (size_t)(w - k);
    x->hash = rg_cache_hash(k, x->key_len);
    rg_cache_hex(x->hash, x->hex);
    return 0;
}

static void req_cc(struct rg_req *r, struct rg_cc *cc)
{
    size_t n;
    const char *v = rg_req_header(r, "cache-control", &n);

    rg_cc_init(cc);
    if (v != NULL)
        rg_cc_parse(v, n, cc);
}

/* Add the X-Cache-Status (and X-Cache-Key, Age) headers the config
 * asks for; @age < 0: none. */
static int cache_headers(const struct pc_conf *c, struct rg_req *r,
                         const char *status, const struct pc_ctx *x,
                         long long age)
{
    char buf[24];
    int rv = 0;

    if (c->h_status)
        rv = rg_req_set_header(r, RG_TO_CLIENT, "X-Cache-Status", status);
    if (rv == 0 && c->h_key && x->key != NULL)
        rv = rg_req_set_header(r, RG_TO_CLIENT, "X-Cache-Key", x->hex);
    if (rv == 0 && c->h_age && age >= 0) {
        snprintf(buf, sizeof(buf), "%lld", age);
        rv = rg_req_set_header(r, RG_TO_CLIENT, "Age", buf);
    }
    return rv;
}

static enum rg_filter_status failed(struct rg_req *r, int rv)
{
    rg_req_fail(r, rv);
    return RG_FILTER_ERROR;
}

/* Serve entry @e in the current phase. */
static int serve(const struct pc_conf *c, struct rg_req *r,
                 const struct pc_ctx *x, const struct rg_cache_entry *e,
                 const char *status, uint64_t now)
{
    int rv = rg_req_respond_stored(r, e->status, e->fields, e->fields_len,
                                   e->body, e->body_len);

    return rv != 0 ? rv
                   : cache_headers(c, r, status, x,
                                   (long long)((now - e->stored_ms) / 1000));
}

static enum rg_filter_status pc_access(const struct rg_filter_call *fc)
{
    const struct pc_conf *c = fc->conf;
    struct pc_ctx *x = fc->ctx;
    struct rg_req *r = fc->r;
    const struct rg_cache_entry *e;
    struct rg_cc cc;
    uint64_t now;
    size_t n;
    int fresh, rv;

    rg_cc_init(&cc);
    if (c->cache_control)
        req_cc(r, &cc);
    if (!(rg_req_method(r) & c->methods) ||
        (c->cache_control && (cc.no_store || cc.no_cache)) ||
        (rg_req_header(r, "authorization", &n) != NULL &&
         !(c->vary_by_consumer && rg_req_consumer(r) != RG_NO_INDEX))) {
        x->state = PC_BYPASS;
        rv = cache_headers(c, r, "Bypass", x, -1);
        return rv != 0 ? failed(r, rv) : RG_FILTER_CONTINUE;
    }
    rv = build_key(c, r, x);
    if (rv != 0)
        return failed(r, rv);
    now = rg_cache_now_ms();
    e = rg_cache_get(x->hash, x->key, x->key_len, now, &fresh);
    if (e != NULL && fresh && c->cache_control) {
        uint64_t age = now - e->stored_ms, left = e->expires_ms - now;

        /* In ms: max-age=0 wants an entry no older than now. */
        if ((cc.max_age >= 0 && age > (uint64_t)cc.max_age * 1000) ||
            (cc.min_fresh >= 0 && left < (uint64_t)cc.min_fresh * 1000))
            fresh = 0;
    }
    if (e != NULL && fresh) {
        x->state = PC_HIT;
        rv = serve(c, r, x, e, "Hit", now);
        return rv != 0 ? failed(r, rv) : RG_FILTER_RESPOND;
    }
    if (c->cache_control && cc.only_if_cached) {
        x->state = PC_BYPASS;
        rv = rg_req_respond(r, 504, NULL, 0);
        return rv != 0 ? failed(r, rv) : RG_FILTER_RESPOND;
    }
    x->state = e != NULL ? PC_REFRESH : PC_MISS;
    return RG_FILTER_CONTINUE;
}

/* Whether Content-Type @v (@n bytes) is one of the config's. */
static int ctype_ok(const struct pc_conf *c, const char *v, size_t n)
{
    size_t mt = 0, full = n;

    while (full > 0 && (v[full - 1] == ' ' || v[full - 1] == '\t'))
        full--;
    while (mt < full && v[mt] != ';' && v[mt] != ' ' && v[mt] != '\t')
        mt++;
    for (size_t i = 0; i < c->ctypes.n; i++) {
        const char *t = c->ctypes.v[i];
        size_t tl = strlen(t);
        const char *star = strstr(t, "/*");

        if (strcmp(t, "*") == 0 || strcmp(t, "*/*") == 0)
            return 1;
        if (strchr(t, ';') != NULL) {
            /* With parameters: the whole value, blanks aside. */
            size_t a = 0, b = 0;

            while (a < full && b < tl) {
                if (v[a] == ' ' || v[a] == '\t') {
                    a++;
                } else if (t[b] == ' ') {
                    b++;
                } else if ((v[a] | 0x20) == (t[b] | 0x20)) {
                    a++;
                    b++;
                } else {
                    break;
                }
            }
            if (a == full && b == tl)
                return 1;
        } else if (star != NULL && star[2] == '\0') {
            size_t pl = (size_t)(star - t) + 1; /* "type/" */

            if (mt > pl && strncasecmp(v, t, pl) == 0)
                return 1;
        } else if (mt == tl && strncasecmp(v, t, tl) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The response's TTL in seconds under @c, or -1: not cacheable. */
static long long response_ttl(const struct pc_conf *c, struct rg_req *r)
{
    struct rg_cc cc;
    const char *v;
    size_t n;
    int status = rg_req_status(r), ok = 0;
    time_t exp;

    for (size_t i = 0; i < c->n_codes && !ok; i++)
        ok = c->codes[i] == status;
    v = rg_resp_header(r, "content-type", &n);
    if (!ok || v == NULL || !ctype_ok(c, v, n))
        return -1;
    if (!c->cache_control)
        return c->cache_ttl;
    rg_cc_init(&cc);
    v = rg_resp_header(r, "cache-control", &n);
    if (v != NULL)
        rg_cc_parse(v, n, &cc);
    if (cc.private_ || cc.no_store || cc.no_cache)
        return -1;
    if (cc.s_maxage >= 0)
        return cc.s_maxage > 0 ? cc.s_maxage : -1;
    if (cc.max_age >= 0)
        return cc.max_age > 0 ? cc.max_age : -1;
    v = rg_resp_header(r, "expires", &n);
    if (v != NULL && rg_http_date(v, n, &exp) == 0 && exp > time(NULL))
        return (long long)(exp - time(NULL));
    return -1;
}

/* Serve a stale entry or the fallback in place of the gateway's error. */
static enum rg_filter_status degrade(const struct pc_conf *c, struct rg_req *r,
                                     struct pc_ctx *x)
{
    int st = rg_req_status(r), fresh, rv;
    const struct rg_cache_entry *e = NULL;
    uint64_t now = rg_cache_now_ms();

    if (st != 502 && st != 503 && st != 504)
        return RG_FILTER_CONTINUE;
    if (c->stale_if_error > 0)
        e = rg_cache_get(x->hash, x->key, x->key_len, now, &fresh);
    if (e != NULL && now < e->expires_ms + (uint64_t)c->stale_if_error * 1000) {
        rv = serve(c, r, x, e, "Stale", now);
        return rv != 0 ? failed(r, rv) : RG_FILTER_CONTINUE;
    }
    if (c->fb_status == 0)
        return RG_FILTER_CONTINUE;
    rv = rg_req_respond_stored(r, c->fb_status, c->fb_fields, c->fb_flen,
                               c->fb_body, c->fb_blen);
    if (rv == 0)
        rv = cache_headers(c, r, "Fallback", x, -1);
    return rv != 0 ? failed(r, rv) : RG_FILTER_CONTINUE;
}

static enum rg_filter_status pc_header(const struct rg_filter_call *fc)
{
    const struct pc_conf *c = fc->conf;
    struct pc_ctx *x = fc->ctx;
    struct rg_req *r = fc->r;
    enum rg_resp_source src = rg_resp_source(r);
    long long ttl;
    int rv;

    if (x->state != PC_MISS && x->state != PC_REFRESH)
        return RG_FILTER_CONTINUE;
    if (src == RG_RESP_GATEWAY)
        return degrade(c, r, x);
    if (src != RG_RESP_UPSTREAM)
        return RG_FILTER_CONTINUE;
    ttl = response_ttl(c, r);
    if (ttl <= 0) {
        if (x->state == PC_REFRESH)
            rg_cache_drop(x->hash, x->key, x->key_len);
        x->state = PC_BYPASS;
        rv = cache_headers(c, r, "Bypass", x, -1);
    } else {
        rv = cache_headers(c, r, x->state == PC_REFRESH ? "Refresh" : "Miss", x,
                           -1);
        x->state = PC_STORE;
        x->ttl_ms = (uint64_t)ttl * 1000;
    }
    return rv != 0 ? failed(r, rv) : RG_FILTER_CONTINUE;
}

/* Headers not stored: the gateway frames and identifies each answer. */
static int not_stored(const char *n, size_t len)
{
    static const char *const names[] = {"connection",
                                        "keep-alive",
                                        "transfer-encoding",
                                        "content-length",
                                        "te",
                                        "trailer",
                                        "upgrade",
                                        "proxy-connection",
                                        "x-request-id",
                                        "server",
                                        "via",
                                        "age",
                                        "x-cache-status",
                                        "x-cache-key"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strlen(names[i]) == len && strncasecmp(n, names[i], len) == 0)
            return 1;
    }
    return 0;
}

/* Whether the comma-separated list @l (@ll bytes; NULL: empty) names
 * @n (@len bytes, any case): the headers the response's Connection
 * names are hop-by-hop too (RFC 9110 7.6.1). */
static int in_list(const char *l, size_t ll, const char *n, size_t len)
{
    size_t i = 0;

    while (l != NULL && i < ll) {
        size_t s, e;

        while (i < ll && (l[i] == ' ' || l[i] == '\t' || l[i] == ','))
            i++;
        s = i;
        while (i < ll && l[i] != ',')
            i++;
        e = i;
        while (e > s && (l[e - 1] == ' ' || l[e - 1] == '\t'))
            e--;
        if (e - s == len && strncasecmp(l + s, n, len) == 0)
            return 1;
    }
    return 0;
}

static enum rg_filter_status pc_body(const struct rg_filter_call *fc)
{
    const struct pc_conf *c = fc->conf;
    struct pc_ctx *x = fc->ctx;
    struct rg_req *r = fc->r;
    struct rg_cache_put p = {0};
    const char *name, *value;
    size_t nl, vl, room = 0, connl = 0;
    const char *conn;
    char *w;
    int rv;

    if (x->state != PC_STORE || rg_resp_body(r, &p.body, &p.body_len) != 0)
        return RG_FILTER_CONTINUE;
    conn = rg_resp_header(r, "connection", &connl);
    for (size_t i = 0; rg_resp_header_at(r, i, &name, &nl, &value, &vl) == 0;
         i++)
        room += nl + vl + 4;
    w = rg_req_alloc(r, room + 1);
    if (w == NULL)
        return RG_FILTER_CONTINUE; /* not stored; the response goes on */
    p.fields = w;
    for (size_t i = 0; rg_resp_header_at(r, i, &name, &nl, &value, &vl) == 0;
         i++) {
        if (not_stored(name, nl) || in_list(conn, connl, name, nl))
            continue;
        put(&w, name, nl);
        put(&w, ": ", 2);
        put(&w, value, vl);
        put(&w, "\r\n", 2);
    }
    p.fields_len = (size_t)(w - p.fields);
    p.key = x->key;
    p.key_len = x->key_len;
    p.status = rg_req_status(r);
    p.now_ms = rg_cache_now_ms();
    p.ttl_ms = x->ttl_ms;
    p.keep_ms = x->ttl_ms + (uint64_t)c->stale_if_error * 1000;
    if ((uint64_t)c->storage_ttl * 1000 > p.keep_ms)
        p.keep_ms = (uint64_t)c->storage_ttl * 1000;
    if (p.body == NULL)
        p.body = "";
    rv = rg_cache_put(&p, (size_t)c->memory_cap);
    (void)rv; /* too large or out of memory: served, not stored */
    return RG_FILTER_CONTINUE;
}

const struct rg_filter_ops rg_plugin_proxy_cache = {
    .schema = {.name = "proxy-cache",
               .conf_parse = pc_conf_parse,
               .conf_free = pc_conf_free,
               .protocols = RG_PROTO_HTTP | RG_PROTO_HTTPS},
    .priority = 100, /* Kong's */
    .ctx_size = sizeof(struct pc_ctx),
    .wants = pc_wants,
    .on_access = pc_access,
    .on_header = pc_header,
    .on_body = pc_body,
};
