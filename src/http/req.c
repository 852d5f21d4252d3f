/* The plugin-facing request API; see req.h. */
#include "http/req.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http/conn.h"
#include "http/proxy.h"
#include "http/status.h"
#include "http/wctx.h"

uv_loop_t *rg_req_loop(const struct rg_req *r)
{
    return &r->c->w->loop;
}

const char *rg_req_id(const struct rg_req *r)
{
    return r->id;
}

int rg_req_status(const struct rg_req *r)
{
    return r->status;
}

const char *rg_req_header(const struct rg_req *r, const char *name,
                          size_t *len)
{
    const struct rg_field *f = rg_head_find(&r->head, name);

    if (f == NULL)
        return NULL;
    *len = f->value_len;
    return rg_field_value(&r->head, f);
}

void *rg_req_alloc(struct rg_req *r, size_t n)
{
    return rg_arena_alloc(&r->arena, n);
}

static int token_ok(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch <= 0x20 || ch >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", ch))
            return 0;
    }
    return 1;
}

/* Headers the gateway writes itself to frame and route the message: a
 * plugin adding one could desynchronise the peer (request smuggling). */
static int framing_header(const char *name)
{
    static const char *const names[] = {"content-length", "transfer-encoding",
                                        "host", "connection", "upgrade",
                                        "te", "trailer", "keep-alive"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(name, names[i]) == 0)
            return 1;
    }
    return 0;
}

int rg_req_add_header(struct rg_req *r, enum rg_hdir dir, const char *name,
                      const char *value)
{
    struct rg_add_headers *l = dir == RG_TO_UPSTREAM ? &r->up_add
                                                     : &r->resp_add;
    struct rg_add_header *h;
    size_t nl = strlen(name), vl = strlen(value);

    if (!token_ok(name) || strpbrk(value, "\r\n") != NULL ||
        framing_header(name))
        return -EINVAL;
    if (dir == RG_TO_UPSTREAM ? r->head_sent || r->up != NULL
                              : r->resp_started)
        return -EINVAL;
    h = rg_arena_alloc(&r->arena, sizeof(*h));
    if (h == NULL || (h->name = rg_arena_strndup(&r->arena, name, nl)) == NULL ||
        (h->value = rg_arena_strndup(&r->arena, value, vl)) == NULL)
        return -ENOMEM;
    h->name_len = nl;
    h->value_len = vl;
    h->next = NULL;
    if (l->tail == NULL)
        l->tail = &l->head;
    *l->tail = h;
    l->tail = &h->next;
    return 0;
}

int rg_req_set_header(struct rg_req *r, enum rg_hdir dir, const char *name,
                      const char *value)
{
    struct rg_add_headers *l = dir == RG_TO_UPSTREAM ? &r->up_add
                                                     : &r->resp_add;
    struct rg_add_header **pp = &l->head;
    size_t nl = strlen(name);

    while (*pp != NULL) {
        if ((*pp)->name_len == nl && strncasecmp((*pp)->name, name, nl) == 0)
            *pp = (*pp)->next; /* arena memory: freed with the request */
        else
            pp = &(*pp)->next;
    }
    l->tail = l->head != NULL ? pp : NULL;
    if (dir == RG_TO_UPSTREAM)
        rg_req_hide_header(r, name);
    return value != NULL ? rg_req_add_header(r, dir, name, value) : 0;
}

void rg_req_fail(struct rg_req *r, int err)
{
    r->plugin_err = err < 0 ? err : RG_EPLUGIN; /* a code, never a status */
}

int rg_req_respond(struct rg_req *r, int status, const char *body, size_t len)
{
    char *b;

    /* A reply with a body: no 1xx, 204 or 304. */
    if (status < 200 || status > 599 || status == 204 || status == 304 ||
        r->resp_started)
        return -EINVAL;
    if (body == NULL) {
        const char *reason = rg_status_reason(status);

        len = strlen(reason) + 16;
        b = rg_arena_alloc(&r->arena, len + 1);
        if (b == NULL)
            return -ENOMEM;
        len = (size_t)snprintf(b, len + 1, "{\"message\":\"%s\"}\n", reason);
    } else {
        b = rg_arena_strndup(&r->arena, body, len);
        if (b == NULL)
            return -ENOMEM;
    }
    r->local_status = status;
    r->local_body = b;
    r->local_len = len;
    return 0;
}

unsigned rg_req_method(const struct rg_req *r)
{
    return r->method;
}

unsigned rg_req_header_count(const struct rg_req *r, const char *name)
{
    const struct rg_head *h = &r->head;
    size_t n = strlen(name);
    unsigned count = 0;

    for (uint32_t i = 0; i < h->n_fields; i++) {
        const struct rg_field *f = &h->fields[i];

        count += f->name_len == n &&
                 strncasecmp(rg_field_name(h, f), name, n) == 0;
    }
    return count;
}

const char *rg_req_query(const struct rg_req *r, size_t *len)
{
    if (r->query == NULL || r->query_len < 2) {
        *len = 0;
        return "";
    }
    *len = r->query_len - 1;
    return r->query + 1;
}

int rg_req_set_query(struct rg_req *r, const char *p, size_t len)
{
    char *q;

    if (len == 0) {
        r->query = NULL;
        r->query_len = 0;
        return 0;
    }
    q = rg_arena_alloc(&r->arena, len + 1);
    if (q == NULL)
        return -ENOMEM;
    q[0] = '?';
    memcpy(q + 1, p, len);
    r->query = q;
    r->query_len = len + 1;
    return 0;
}

void rg_req_hide_header(struct rg_req *r, const char *name)
{
    struct rg_head *h = &r->head;
    size_t n = strlen(name);

    for (uint32_t i = 0; i < h->n_fields; i++) {
        struct rg_field *f = &h->fields[i];

        if (f->name_len == n &&
            strncasecmp(rg_field_name(h, f), name, n) == 0)
            f->hop = 1; /* the writers skip it */
    }
}

/* Parse the address @p (@n bytes, blanks around allowed) into @out. */
static int parse_ip(const char *p, size_t n, struct sockaddr_storage *out)
{
    char ip[INET6_ADDRSTRLEN];

    while (n > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= sizeof(ip))
        return -1;
    memcpy(ip, p, n);
    ip[n] = '\0';
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, ip, &((struct sockaddr_in *)out)->sin_addr) == 1) {
        out->ss_family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)out)->sin6_addr) ==
        1) {
        out->ss_family = AF_INET6;
        return 0;
    }
    return -1;
}

void rg_req_client_addr(const struct rg_req *r, int forwarded,
                        struct sockaddr_storage *out)
{
    const struct rg_cidrs *trusted = &r->gen->limits.trusted_ips;
    const struct rg_head *h = &r->head;

    memset(out, 0, sizeof(*out));
    memcpy(out, &r->c->peer_addr, sizeof(r->c->peer_addr));
    if (!forwarded || !rg_cidrs_match(trusted, (struct sockaddr *)out))
        return;
    for (uint32_t i = h->n_fields; i-- > 0;) {
        const struct rg_field *f = &h->fields[i];
        const char *v = rg_field_value(h, f);
        size_t end = f->value_len;

        if (f->name_len != 15 ||
            strncasecmp(rg_field_name(h, f), "x-forwarded-for", 15) != 0)
            continue;
        while (end > 0) {
            size_t start = end;
            struct sockaddr_storage a;

            while (start > 0 && v[start - 1] != ',')
                start--;
            if (parse_ip(v + start, end - start, &a) != 0)
                return; /* not an address: the last good one counts */
            *out = a;
            if (!rg_cidrs_match(trusted, (struct sockaddr *)out))
                return;
            end = start > 0 ? start - 1 : 0;
        }
    }
}

const struct rg_gateway *rg_req_gateway(const struct rg_req *r)
{
    return &r->gen->gw;
}

uint64_t rg_req_gen_id(const struct rg_req *r)
{
    return r->gen->id;
}

size_t rg_req_find_consumer(const struct rg_req *r, const char *name)
{
    const struct rg_gateway *gw = &r->gen->gw;

    for (size_t i = 0; i < gw->n_consumers; i++) {
        if (gw->consumers[i].username != NULL &&
            strcmp(gw->consumers[i].username, name) == 0)
            return i;
    }
    return RG_NO_INDEX;
}

/* What rg_req_set_claims keeps, in the arena: dropped at the end. */
struct claims {
    void *p;
    void (*drop)(void *p);
};

static void claims_drop(void *arg)
{
    struct claims *c = arg;

    if (c->p != NULL)
        c->drop(c->p);
    c->p = NULL;
}

int rg_req_set_claims(struct rg_req *r, void *claims,
                      void (*drop)(void *claims))
{
    struct claims *c = r->claims;

    if (c == NULL) {
        c = rg_arena_calloc(&r->arena, sizeof(*c));
        if (c == NULL || rg_arena_defer(&r->arena, claims_drop, c) != 0) {
            drop(claims);
            return -ENOMEM;
        }
        r->claims = c;
    }
    claims_drop(c);
    c->p = claims;
    c->drop = drop;
    return 0;
}

void *rg_req_claims(const struct rg_req *r)
{
    const struct claims *c = r->claims;

    return c != NULL ? c->p : NULL;
}

int rg_req_authenticated(const struct rg_req *r)
{
    return r->fs.authenticated;
}

void rg_req_set_authenticated(struct rg_req *r, int yes)
{
    r->fs.authenticated = yes != 0;
}

size_t rg_req_consumer(const struct rg_req *r)
{
    return r->fs.consumer;
}

void rg_req_set_consumer(struct rg_req *r, size_t index)
{
    r->fs.consumer = index < r->gen->gw.n_consumers ? index : RG_NO_INDEX;
}

void rg_req_set_credential(struct rg_req *r, const struct rg_cred *cred)
{
    r->fs.cred = cred;
}

const struct rg_cred *rg_req_credential(const struct rg_req *r)
{
    return r->fs.cred;
}

size_t rg_req_route(const struct rg_req *r)
{
    return r->m.route_index;
}

int rg_req_body(const struct rg_req *r, const char **p, size_t *len)
{
    if (!r->req_buffered)
        return -EINVAL;
    *p = r->req_body.p;
    *len = r->req_body.len;
    return 0;
}

/* Replace @b with a copy of @p (@len bytes) in @r's arena. */
static int replace(struct rg_req *r, struct rg_arena_buf *b, const char *p,
                   size_t len)
{
    struct rg_arena_buf nb = {NULL, 0, 0};
    int rv = rg_arena_buf_add(&r->arena, &nb, p, len, SIZE_MAX);

    if (rv != 0)
        return rv;
    *b = nb;
    return 0;
}

int rg_req_set_body(struct rg_req *r, const char *p, size_t len)
{
    if (!r->req_buffered || r->head_sent)
        return -EINVAL;
    return replace(r, &r->req_body, p, len);
}

int rg_resp_body(const struct rg_req *r, const char **p, size_t *len)
{
    if (!(rg_chain_flags(r->fs.chain) & RG_FILTER_RESP_BODY) ||
        r->resp_started)
        return -EINVAL;
    *p = r->resp_buf.p;
    *len = r->resp_buf.len;
    return 0;
}

int rg_resp_set_body(struct rg_req *r, const char *p, size_t len)
{
    if (!(rg_chain_flags(r->fs.chain) & RG_FILTER_RESP_BODY) ||
        r->resp_started)
        return -EINVAL;
    return replace(r, &r->resp_buf, p, len);
}

const char *rg_req_path(const struct rg_req *r, size_t *len)
{
    const char *p = r->path != NULL ? r->path : "/";

    *len = strlen(p);
    return p;
}

enum rg_resp_source rg_resp_source(const struct rg_req *r)
{
    if (!r->local_reply)
        return RG_RESP_UPSTREAM;
    return r->local_status != 0 && !r->local_gw ? RG_RESP_PLUGIN
                                                : RG_RESP_GATEWAY;
}

int rg_req_respond_unavailable(struct rg_req *r, int status, const char *body,
                               size_t len)
{
    int rv = rg_req_respond(r, status, body, len);

    if (rv == 0)
        r->local_gw = 1;
    return rv;
}

int rg_req_gateway_status(const struct rg_req *r)
{
    return r->gw_status;
}

const char *rg_req_upstream_path(struct rg_req *r)
{
    struct rg_buf b;
    char *p;

    if (r->svc == NULL)
        return NULL;
    rg_buf_init(&b, 64 * 1024);
    rg_proxy_add_path(r, &b);
    p = rg_buf_error(&b) == 0 ? rg_arena_strndup(&r->arena, b.p, b.len)
                              : NULL;
    rg_buf_release(&b);
    return p;
}

int rg_req_set_upstream_path(struct rg_req *r, const char *path)
{
    const char *s;

    if (path[0] != '/' || r->head_sent || r->up != NULL)
        return -EINVAL;
    for (s = path; *s != '\0'; s++) {
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f ||
            *s == '?' || *s == '#')
            return -EINVAL;
    }
    r->up_path = rg_arena_strndup(&r->arena, path, strlen(path));
    return r->up_path != NULL ? 0 : -ENOMEM;
}

int rg_req_set_method(struct rg_req *r, const char *name)
{
    if (!token_ok(name) || strcasecmp(name, "HEAD") == 0 ||
        strcasecmp(name, "CONNECT") == 0 || r->head_sent || r->up != NULL)
        return -EINVAL;
    r->up_method = rg_arena_strndup(&r->arena, name, strlen(name));
    return r->up_method != NULL ? 0 : -ENOMEM;
}

const char *rg_resp_header(const struct rg_req *r, const char *name,
                           size_t *len)
{
    const struct rg_head *h = rg_proxy_resp_head(r);
    size_t n = strlen(name);

    if (h == NULL || r->resp_started)
        return NULL;
    for (uint32_t i = 0; i < h->n_fields; i++) {
        const struct rg_field *f = &h->fields[i];

        if (!f->hop && f->name_len == n &&
            strncasecmp(rg_field_name(h, f), name, n) == 0) {
            *len = f->value_len;
            return rg_field_value(h, f);
        }
    }
    return NULL;
}

int rg_resp_header_at(const struct rg_req *r, size_t i, const char **name,
                      size_t *nlen, const char **value, size_t *vlen)
{
    const struct rg_head *h = rg_proxy_resp_head(r);

    for (uint32_t k = 0; h != NULL && k < h->n_fields; k++) {
        const struct rg_field *f = &h->fields[k];

        if (f->hop) /* hidden by a plugin */
            continue;
        if (i > 0) {
            i--;
            continue;
        }
        *name = rg_field_name(h, f);
        *nlen = f->name_len;
        *value = rg_field_value(h, f);
        *vlen = f->value_len;
        return 0;
    }
    return -ENOENT;
}

int rg_req_respond_stored(struct rg_req *r, int status, const char *fields,
                          size_t flen, const char *body, size_t blen)
{
    if (status < 200 || status > 599 || status == 204 || status == 304 ||
        r->resp_started || fields == NULL ||
        (r->header_ran && !r->local_reply))
        return -EINVAL;
    r->local_status = status;
    r->local_body = body;
    r->local_len = blen;
    r->local_fields = fields;
    r->local_flen = flen;
    if (r->header_ran)
        r->status = status; /* the plugins after this one see it */
    return 0;
}

int64_t rg_req_content_length(const struct rg_req *r)
{
    return r->content_length;
}

int rg_req_chunked(const struct rg_req *r)
{
    return r->chunked;
}

void rg_req_cap_body(struct rg_req *r, uint64_t max, const char *message)
{
    if (r->has_body_cap && r->body_cap <= max)
        return;
    r->has_body_cap = 1;
    r->body_cap = max;
    r->body_cap_msg = message;
}

void rg_resp_hide_header(struct rg_req *r, const char *name)
{
    struct rg_head *h = rg_proxy_resp_head(r);
    size_t n = strlen(name);

    if (h == NULL || r->resp_started)
        return;
    for (uint32_t i = 0; i < h->n_fields; i++) {
        struct rg_field *f = &h->fields[i];

        if (f->name_len == n && strncasecmp(rg_field_name(h, f), name, n) == 0)
            f->hop = 1; /* build_response_head skips it */
    }
}

int rg_resp_set_status(struct rg_req *r, int status)
{
    if (status < 200 || status > 599 || status == 204 || status == 304 ||
        r->resp_started || r->status == 101)
        return -EINVAL;
    r->status = status;
    r->status_set = 1;
    return 0;
}

int64_t rg_req_upstream_ms(const struct rg_req *r)
{
    if (r->t_upstream == 0)
        return -1;
    return (int64_t)((uv_hrtime() - r->t_upstream) / 1000000);
}

void rg_req_log_cache(struct rg_req *r, const char *status)
{
    r->cache_status = status;
}

void rg_req_log_limit(struct rg_req *r, int refused, int64_t remaining)
{
    if (r->limit == RG_LIMIT_REFUSED && !refused)
        return;
    r->limit = refused ? RG_LIMIT_REFUSED : RG_LIMIT_ALLOWED;
    r->limit_remaining = remaining;
}
