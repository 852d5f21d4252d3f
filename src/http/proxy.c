/* The exchange: route, rewrite, attempt, stream, finish. */
#include "http/proxy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/failpoint.h"
#include "core/io.h"
#include "http/balance.h"
#include "core/log.h"
#include "core/path.h"
#include "http/accesslog.h"
#include "http/metrics.h"
#include "http/conn.h"
#include "http/status.h"
#include "http/trace.h"
#include "http/wctx.h"
#include "upstream/pool.h"
#include "upstream/retry.h"

#define UP_HEAD_MAX 65536   /* an upstream response head, bytes */
#define UP_KEEP_HEAD 2048   /* ... kept with a pooled connection */

/* What the exchange keeps with each upstream connection (its data[]): the
 * response parser and head outlive the request, so a callback that ends
 * the request inside rg_msg_feed leaves the parser's memory valid.
 *
 * A response head is read into in, a worker chunk of its own, so that its
 * fields are slices of what was read (http/head.h), not copies; once the
 * final head is parsed, reads go to the pool's shared buffer again (a
 * large body keeps its large reads). The chunk is given back when the
 * head no longer needs it (a 1xx head's end, the exchange's end), so an
 * idle pooled connection holds none; never while up_read is parsing its
 * bytes (a response can end, and the next exchange begin, inside
 * rg_msg_feed): then when that parse returns. */
struct up_state {
    struct rg_msg msg;       /* the response parser */
    struct rg_head head;     /* response head; status text as "url" */
    struct rg_blkcache *chunks; /* borrowed: the worker's, where in comes
                                   from (set by up_begin) */
    char *in;                /* the head's input, a chunk, or NULL */
    uint32_t in_len;         /* bytes read into in */
    unsigned head_done : 1;  /* the final head is parsed: no reads to in */
    unsigned feeding : 1;    /* up_read is parsing bytes that may be in's */
    unsigned in_drop : 1;    /* give in back when that parse returns */
};

static struct up_state *ups(struct rg_upconn *up)
{
    return (struct up_state *)up->data;
}

/* Give back the head's input chunk, now or, while a parse runs over its
 * bytes, when the parse returns (up_read). The head holds no slices of
 * it: it was cleared, or is never read again. */
static void up_in_free(struct rg_upconn *up)
{
    struct up_state *st = ups(up);

    if (st->feeding) {
        st->in_drop = 1;
        return;
    }
    if (st->in != NULL)
        rg_blk_put(st->chunks, st->in);
    st->in = NULL;
    st->in_len = 0;
    st->in_drop = 0;
}

/* The response head is done with (a 1xx head, the exchange's end): empty
 * it and give back its input. */
static void up_head_drop(struct rg_upconn *up)
{
    rg_head_clear(&ups(up)->head, UP_KEEP_HEAD);
    up_in_free(up);
}

static void up_state_fini(struct rg_upconn *up)
{
    rg_head_release(&ups(up)->head);
    up_in_free(up);
}

#define MSG_NO_ROUTE "no Route matched with those values"
#define MSG_BAD_UPSTREAM "An invalid response was received from the upstream server"
#define MSG_TIMEOUT "The upstream server is timing out"
/* Kong's, when a balancer has no target to give. */
#define MSG_NO_PEER "failure to get a peer from the ring-balancer"

static void attempt_start(struct rg_req *r);
static void attempt_fail(struct rg_req *r, int err, const char *why);

/* Requests kept per worker for reuse, and the buffer bytes one may keep:
 * steady-state proxying allocates nothing (GET /debug/allocs shows it),
 * and the memory kept is bounded by the concurrency, not by the number of
 * idle connections. */
#define REQ_CACHE_MAX 64
#define REQ_KEEP_HEAD 4096
#define REQ_KEEP_BUF 8192

/* A request from the cache, emptied but with its buffers, or a new one. */
static struct rg_req *req_alloc(struct rg_wctx *w)
{
    struct rg_req *r = w->req_cache;
    struct rg_head head;
    struct rg_buf up, resp;

    if (r == NULL)
        return rg_calloc(1, sizeof(*r));
    w->req_cache = r->next_free;
    w->n_req_cache--;
    head = r->head;
    up = r->up_head;
    resp = r->resp_hb;
    memset(r, 0, sizeof(*r));
    r->head = head;
    r->up_head = up;
    r->resp_hb = resp;
    return r;
}

/* Keep @r's memory for the next request when there is room and its
 * buffers are small; free it otherwise. */
static void req_recycle(struct rg_wctx *w, struct rg_req *r)
{
    if (w->n_req_cache >= REQ_CACHE_MAX || w->draining) {
        rg_head_release(&r->head);
        rg_buf_release(&r->up_head);
        rg_buf_release(&r->resp_hb);
        rg_free(r);
        return;
    }
    rg_head_clear(&r->head, REQ_KEEP_HEAD);
    if (r->up_head.cap > REQ_KEEP_BUF)
        rg_buf_release(&r->up_head);
    if (r->resp_hb.cap > REQ_KEEP_BUF)
        rg_buf_release(&r->resp_hb);
    rg_buf_truncate(&r->up_head, 0);
    rg_buf_truncate(&r->resp_hb, 0);
    r->next_free = w->req_cache;
    w->req_cache = r;
    w->n_req_cache++;
}

void rg_proxy_cache_free(struct rg_wctx *w)
{
    while (w->req_cache != NULL) {
        struct rg_req *r = w->req_cache;

        w->req_cache = r->next_free;
        rg_head_release(&r->head);
        rg_buf_release(&r->up_head);
        rg_buf_release(&r->resp_hb);
        rg_free(r);
    }
    w->n_req_cache = 0;
    rg_free(w->rr);
    w->rr = NULL;
    w->n_rr = 0;
}

struct rg_req *rg_proxy_req_new(struct rg_conn *c)
{
    struct rg_req *r = req_alloc(c->w);

    if (r == NULL)
        return NULL;
    r->c = c;
    r->gen = rg_gen_ref(c->w->gen);
    r->head.max = r->gen->limits.max_header_size;
    r->up_head.max = (size_t)r->gen->limits.max_header_size + 4096;
    r->resp_hb.max = UP_HEAD_MAX + 1024;
    r->content_length = -1;
    r->t_start = uv_hrtime();
    rg_arena_init(&r->arena, &c->w->chunks);
    r->fs.consumer = RG_NO_INDEX;
    r->fs.proto = RG_PROTO_HTTP;
    rg_proxy_new_id(c->w, r->id, sizeof(r->id));
    return r;
}

static void release_upstream(struct rg_req *r, int reusable)
{
    struct rg_upconn *up = r->up;

    rg_balance_done(r);
    if (up == NULL)
        return;
    r->up = NULL;
    up->req = NULL;
    up_head_drop(up);
    if (!reusable) {
        rg_upconn_close(up);
        return;
    }
    rg_pool_put(up, 1, &r->gen->limits.pool);
}

/* The LOG phase, once, on every way out of a request that was started. */
static void run_log(struct rg_req *r)
{
    if (r->log_ran || !r->started)
        return;
    r->log_ran = 1;
    (void)rg_filter_run(r, RG_PHASE_LOG); /* nothing to stop: it ends */
}

/* The access log line, once; a request the client left before any
 * response gets nginx's 499. */
static void access_log(struct rg_req *r)
{
    if (r->logged)
        return;
    r->logged = 1;
    if (r->status == 0)
        r->status = 499;
    if (r->c->w->alog != NULL)
        rg_accesslog_request(r->c->w->alog, r);
    if (r->c->w->met != NULL)
        rg_met_request(r->c->w->met, r);
}

void rg_proxy_req_free(struct rg_req *r)
{
    if (r == NULL)
        return;
    rg_filter_detach(r);
    run_log(r);
    if (r->started)
        access_log(r); /* aborted: the client left, or a write failed */
    release_upstream(r, 0);
    rg_arena_release(&r->arena);
    rg_gen_unref(r->gen);
    req_recycle(r->c->w, r);
}

void rg_proxy_abort(struct rg_req *r)
{
    rg_filter_detach(r);
    release_upstream(r, 0);
}

/* Request head analysis. */

static int valid_request_id(const char *p, uint32_t n)
{
    if (n == 0 || n > RG_REQUEST_ID_MAX)
        return 0;
    for (uint32_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];

        if (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
            return 0;
    }
    return 1;
}

/* The client's X-Request-ID replaces the generated one when valid. */
static void set_request_id(struct rg_req *r)
{
    const struct rg_field *f = rg_head_find(&r->head, "x-request-id");

    if (f != NULL && valid_request_id(rg_field_value(&r->head, f),
                                      f->value_len)) {
        memcpy(r->id, rg_field_value(&r->head, f), f->value_len);
        r->id[f->value_len] = '\0';
    }
}

void rg_proxy_new_id(struct rg_wctx *w, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t v[2] = {rg_wctx_rand(w), rg_wctx_rand(w)};
    size_t i;

    /* As "%016llx%016llx", without printf on every request. */
    for (i = 0; i < 32 && i + 1 < cap; i++)
        out[i] = hex[(v[i / 16] >> (60 - 4 * (i % 16))) & 0xf];
    if (cap > 0)
        out[i] = '\0';
}

/* The Host header without port, for routing. */
static void request_host(const struct rg_req *r, const char **p, size_t *n)
{
    const struct rg_field *f = rg_head_find(&r->head, "host");
    const char *h;
    size_t len;

    *p = NULL;
    *n = 0;
    if (f == NULL)
        return;
    h = rg_field_value(&r->head, f);
    len = f->value_len;
    if (len > 0 && h[0] == '[') {
        const char *e = memchr(h, ']', len);

        len = e ? (size_t)(e - h) + 1 : len;
    } else {
        const char *colon = memchr(h, ':', len);

        if (colon != NULL)
            len = (size_t)(colon - h);
    }
    *p = h;
    *n = len;
}

static unsigned count_fields(const struct rg_head *h, const char *name)
{
    size_t n = strlen(name);
    unsigned count = 0;

    for (uint32_t i = 0; i < h->n_fields; i++) {
        const struct rg_field *f = &h->fields[i];

        count += f->name_len == n &&
                 strncasecmp(rg_field_name(h, f), name, n) == 0;
    }
    return count;
}

/* Parse the head's framing and options. Returns 0 or the refusal's code:
 * RG_EVERSION, RG_EPROTO, RG_EEXPECT, RG_EBODY, RG_EMETHOD. */
static int analyse_head(struct rg_req *r)
{
    llhttp_t *p = &r->c->msg.p;
    const char *method = llhttp_method_name(p->method);
    const struct rg_field *f;
    int conn_close, conn_upgrade;

    r->method = rg_method_bit(method, strlen(method));
    r->http_minor = p->http_minor;
    if (p->http_major != 1)
        return p->http_major == 0 ? RG_EPROTO /* HTTP/0.9 has no head */
                                  : RG_EVERSION;
    if (p->flags & F_CONTENT_LENGTH)
        r->content_length = (int64_t)p->content_length;
    r->chunked = (p->flags & F_CHUNKED) != 0;
    rg_head_mark_hop(&r->head, &conn_close, &conn_upgrade);
    r->upgrade = p->upgrade && conn_upgrade;
    r->client_close = !llhttp_should_keep_alive(p);
    if (p->http_minor == 1 && rg_head_find(&r->head, "host") == NULL)
        return RG_EPROTO;
    if (count_fields(&r->head, "host") > 1)
        return RG_EPROTO; /* RFC 9112 §3.2 */
    /* RFC 9112 §6.1: a request whose final coding is not chunked cannot
     * be delimited. llhttp reports it only after the head; answer now. */
    if ((p->flags & F_TRANSFER_ENCODING) && !(p->flags & F_CHUNKED))
        return RG_EPROTO;
    f = rg_head_find(&r->head, "expect");
    if (f != NULL) {
        if (f->value_len != 12 ||
            strncasecmp(rg_field_value(&r->head, f), "100-continue", 12) != 0)
            return RG_EEXPECT;
        r->expect = 1;
        r->head.fields[f - r->head.fields].hop = 1;
    }
    if (r->gen->limits.max_body_size > 0 && r->content_length >= 0 &&
        (uint64_t)r->content_length > r->gen->limits.max_body_size)
        return RG_EBODY;
    if (p->method == HTTP_CONNECT)
        return RG_EMETHOD;
    return 0;
}

/* Split the target into path and query, normalise the path: 0, -ENOMEM
 * or RG_EPROTO. */
static int normalise_target(struct rg_req *r)
{
    const char *url = rg_head_url(&r->head);
    size_t n = r->head.url_len;
    const char *q = memchr(url, '?', n);
    size_t plen = q ? (size_t)(q - url) : n;
    long rv;

    r->query = q;
    r->query_len = q ? n - plen : 0;
    r->path = rg_arena_alloc(&r->arena, plen + 2);
    if (r->path == NULL)
        return -ENOMEM;
    rv = rg_path_normalize(url, plen, r->path, plen + 2);
    if (rv < 0) {
        r->path = NULL; /* not a string: the log must not read it */
        return RG_EPROTO;
    }
    return 0;
}

/* Upstream request head (docs/architecture.md §3; RFC 9110 §7.6 for forwarding). */

static int is_forwarding_header(const char *name, uint32_t n)
{
    static const char *const names[] = {
        "host", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port",
        "x-real-ip", "x-request-id", "x-forwarded-for", "via",
        "content-length",
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strlen(names[i]) == n && strncasecmp(name, names[i], n) == 0)
            return 1;
    }
    return 0;
}

/* Kong's join of the service path and the (stripped) request path:
 * "/base" + "/x" = "/base/x", "/base" + "" = "/base", "" + "" = "/". */
void rg_proxy_add_path(const struct rg_req *r, struct rg_buf *b)
{
    const char *rest = r->path;
    const char *base = r->svc->path ? r->svc->path : "";
    size_t bl = strlen(base);

    if (r->up_path != NULL) {
        rg_buf_adds(b, r->up_path);
        return;
    }
    if (r->m.route->strip_path)
        rest = r->path + r->m.prefix_len;
    while (rest[0] == '/')
        rest++;
    if (bl > 0 && rest[0] != '\0') {
        while (bl > 0 && base[bl - 1] == '/')
            bl--;
    }
    rg_buf_add(b, base, bl);
    if (bl == 0 || rest[0] != '\0')
        rg_buf_adds(b, "/");
    rg_buf_adds(b, rest);
}

static void add_upstream_path(struct rg_req *r, const char *query,
                             size_t query_len)
{
    rg_proxy_add_path(r, &r->up_head);
    if (query_len > 0)
        rg_buf_add(&r->up_head, query, query_len);
}

static void add_client_headers(struct rg_req *r)
{
    const struct rg_head *h = &r->head;

    for (uint32_t i = 0; i < h->n_fields; i++) {
        const struct rg_field *f = &h->fields[i];
        const char *name = rg_field_name(h, f);

        if (f->hop || is_forwarding_header(name, f->name_len) ||
            rg_trace_hides(r, name, f->name_len))
            continue;
        rg_buf_add_field(&r->up_head, name, f->name_len,
                         rg_field_value(h, f), f->value_len);
    }
}

/* Append every value of the list header @name, comma-joined (RFC 9110
 * §5.3), followed by ", " when there was any. */
static void add_list_values(struct rg_req *r, const char *name)
{
    const struct rg_head *h = &r->head;
    size_t n = strlen(name);

    for (uint32_t i = 0; i < h->n_fields; i++) {
        const struct rg_field *f = &h->fields[i];

        if (f->name_len != n || f->value_len == 0 ||
            strncasecmp(rg_field_name(h, f), name, n) != 0)
            continue;
        rg_buf_add(&r->up_head, rg_field_value(h, f), f->value_len);
        rg_buf_adds(&r->up_head, ", ");
    }
}

/* X-Forwarded-Proto, -Host and -Port as Kong sets them: the client's own
 * when the peer is in proxy.trusted_ips and sent one, else what this hop
 * saw (the listener's scheme, the Host header, the listener's port).
 * X-Forwarded-For is always appended to, X-Real-IP is always the peer. */
static void add_forwarded(struct rg_req *r, const struct rg_field *host)
{
    struct rg_buf *b = &r->up_head;
    int trusted = rg_cidrs_match(&r->gen->limits.trusted_ips,
                                 &r->c->peer_addr.sa);
    const struct rg_field *f;

    rg_buf_adds(b, "X-Forwarded-Proto: ");
    if (trusted && (f = rg_head_find(&r->head, "x-forwarded-proto")) != NULL)
        rg_buf_add(b, rg_field_value(&r->head, f), f->value_len);
    else
        rg_buf_adds(b, rg_conn_scheme(r->c));
    if (trusted && (f = rg_head_find(&r->head, "x-forwarded-host")) != NULL)
        host = f;
    if (host != NULL) {
        rg_buf_adds(b, "\r\nX-Forwarded-Host: ");
        rg_buf_add(b, rg_field_value(&r->head, host), host->value_len);
    }
    rg_buf_adds(b, "\r\nX-Forwarded-Port: ");
    if (trusted && (f = rg_head_find(&r->head, "x-forwarded-port")) != NULL)
        rg_buf_add(b, rg_field_value(&r->head, f), f->value_len);
    else
        rg_buf_add_u64(b, rg_conn_port(r->c));
    rg_buf_adds(b, "\r\n");
}

static void add_length(struct rg_buf *b, uint64_t n)
{
    rg_buf_adds(b, "Content-Length: ");
    rg_buf_add_u64(b, n);
    rg_buf_add(b, "\r\n", 2);
}

static int build_upstream_head(struct rg_req *r)
{
    struct rg_buf *b = &r->up_head;
    const struct rg_field *host = rg_head_find(&r->head, "host");
    const struct rg_limits *l = &r->gen->limits;
    const char *method = r->up_method != NULL
                             ? r->up_method
                             : llhttp_method_name(r->c->msg.p.method);

    rg_buf_adds(b, method);
    rg_buf_add(b, " ", 1);
    add_upstream_path(r, r->query, r->query_len);
    rg_buf_adds(b, " HTTP/1.1\r\nHost: ");
    r->host_len = 0;
    if (r->m.route->preserve_host && host != NULL) {
        rg_buf_add(b, rg_field_value(&r->head, host), host->value_len);
    } else {
        /* A balanced service's Host is the picked target's (as Kong
         * sends): send_head puts it in place of these bytes. */
        r->host_at = b->len;
        rg_buf_adds(b, r->tgt->host_header);
        if (r->tgt->up != NULL)
            r->host_len = strlen(r->tgt->host_header);
    }
    rg_buf_adds(b, "\r\n");
    add_client_headers(r);
    rg_proxy_add_headers(&r->up_add, b);
    rg_buf_adds(b, "X-Forwarded-For: ");
    add_list_values(r, "x-forwarded-for");
    rg_buf_adds(b, r->c->peer);
    rg_buf_add(b, "\r\n", 2);
    add_forwarded(r, host);
    rg_buf_adds(b, "X-Real-IP: ");
    rg_buf_adds(b, r->c->peer);
    rg_buf_adds(b, "\r\nX-Request-ID: ");
    rg_buf_adds(b, r->id);
    rg_buf_add(b, "\r\n", 2);
    rg_trace_add(r, b);
    if (l->via[0] != '\0') {
        rg_buf_adds(b, "Via: ");
        add_list_values(r, "via");
        rg_buf_addf(b, "1.%u %s\r\n", r->http_minor, l->via);
    } else if (rg_head_find(&r->head, "via") != NULL) {
        size_t mark;

        rg_buf_adds(b, "Via: ");
        mark = b->len;
        add_list_values(r, "via");
        if (rg_buf_error(b) == 0 && b->len >= mark + 2)
            rg_buf_truncate(b, b->len - 2); /* the last ", " */
        rg_buf_adds(b, "\r\n");
    }
    if (r->req_buffered &&
        (r->chunked || r->content_length >= 0 || r->req_body.len > 0))
        add_length(b, r->req_body.len);
    else if (r->chunked)
        rg_buf_adds(b, "Transfer-Encoding: chunked\r\n");
    else if (r->content_length >= 0)
        add_length(b, (uint64_t)r->content_length);
    if (r->upgrade) {
        const struct rg_field *u = rg_head_find(&r->head, "upgrade");

        rg_buf_adds(b, "Connection: upgrade\r\nUpgrade: ");
        if (u != NULL)
            rg_buf_add(b, rg_field_value(&r->head, u), u->value_len);
        rg_buf_adds(b, "\r\n");
    }
    rg_buf_adds(b, "\r\n");
    return rg_buf_error(b);
}

/* Start: REWRITE, routing, ACCESS, then the first attempt. */

/* Route @r: 0, RG_ENOROUTE, or normalise_target's code. */
static int route_request(struct rg_req *r)
{
    const struct rg_gen *g = r->gen;
    const char *host;
    size_t host_len, route;
    int rv;

    rv = normalise_target(r);
    if (rv != 0)
        return rv;
    request_host(r, &host, &host_len);
    if (rg_router_match(g->router, host, host_len, r->path, strlen(r->path),
                        r->method, &r->m) != 0) {
        return RG_ENOROUTE; /* HEADER and LOG run the global chain */
    }
    route = (size_t)(r->m.route - g->gw.routes);
    r->fs.chain = g->chains != NULL ? g->chains[route] : NULL;
    r->svc = &g->gw.services[r->m.route->service];
    r->tgt = &g->targets[r->m.route->service];
    r->max_retries = r->m.route->retries >= 0 ? (unsigned)r->m.route->retries
                                              : r->svc->retries;
    return 0;
}

/* Answer @r locally for error @err (rg_status_of says the status); a
 * malformed request (any error but "no route") closes its connection
 * after the reply. */
static void refuse(struct rg_req *r, int err)
{
    rg_proxy_reply_error(r->c, r, rg_status_of(err),
                         err == RG_ENOROUTE ? MSG_NO_ROUTE : NULL,
                         err != RG_ENOROUTE);
}

static const char cont100[] = "HTTP/1.1 100 Continue\r\n\r\n";

/* Let the request body flow from the client (once): after a 100
 * Continue when the client waits for one. */
static void resume_body(struct rg_req *r)
{
    if (r->body_resumed)
        return;
    r->body_resumed = 1;
    if (r->expect && (r->chunked || r->content_length > 0)) {
        uv_buf_t cb = uv_buf_init((char *)cont100, sizeof(cont100) - 1);

        if (rg_conn_write(r->c, &cb, 1) != 0)
            return; /* closing: @r goes with it */
    }
    rg_conn_resume_body(r->c);
}

/* When the route's chain reads the whole request body, start reading it
 * into r->req_body; ACCESS runs at its end (rg_proxy_body_done). Returns
 * 1 when it started. */
static int buffer_request_body(struct rg_req *r)
{
    if (!(rg_chain_flags(r->fs.chain) & RG_FILTER_REQ_BODY))
        return 0;
    r->req_buffered = 1; /* an empty body is a buffered one too */
    if (r->body_done || (!r->chunked && r->content_length <= 0))
        return 0;
    r->req_buffering = 1;
    resume_body(r);
    return 1;
}

/* Why a plugin failed the request (rg_req_fail), RG_EPLUGIN by default. */
static int plugin_err(const struct rg_req *r)
{
    return r->plugin_err != 0 ? r->plugin_err : RG_EPLUGIN;
}

static void run_phase(struct rg_req *r, enum rg_phase ph)
{
    enum rg_filter_status st = rg_filter_run(r, ph);

    if (st != RG_FILTER_PAUSE)
        rg_proxy_phase_done(r, ph, st);
}

void rg_proxy_phase_done(struct rg_req *r, enum rg_phase ph,
                         enum rg_filter_status st)
{
    int rv;

    if (st == RG_FILTER_RESPOND && r->local_status != 0) {
        rg_proxy_reply_local(r);
        return;
    }
    if (st != RG_FILTER_CONTINUE) {
        /* ERROR, or RESPOND without a reply set: the plugin's fault. */
        rg_proxy_reply_error(r->c, r, rg_status_of(plugin_err(r)), NULL, 0);
        return;
    }
    switch (ph) {
    case RG_PHASE_REWRITE:
        rv = route_request(r);
        if (rv != 0)
            refuse(r, rv);
        else if (!buffer_request_body(r))
            run_phase(r, RG_PHASE_ACCESS);
        return;
    case RG_PHASE_ACCESS:
        rv = build_upstream_head(r);
        if (rv != 0)
            refuse(r, rv == -E2BIG ? RG_EHEAD : rv);
        else if (r->tgt->up == NULL && r->tgt->n_addrs == 0)
            /* a Consul service, none passing */
            rg_proxy_reply_error(r->c, r, 503, MSG_NO_PEER, 0);
        else
            attempt_start(r);
        return;
    default:
        return;
    }
}

void rg_proxy_start(struct rg_req *r)
{
    int rv;

    set_request_id(r);
    rg_trace_start(r);
    rv = analyse_head(r);
    if (rv != 0) {
        refuse(r, rv);
        return;
    }
    r->started = 1;
    r->fs.chain = r->gen->global; /* until routing picks the route's */
    run_phase(r, RG_PHASE_REWRITE);
}

int rg_proxy_run_header(struct rg_req *r)
{
    if (r->header_ran)
        return 0;
    r->header_ran = 1;
    return rg_filter_run(r, RG_PHASE_HEADER) == RG_FILTER_CONTINUE ? 0 : -1;
}

struct rg_head *rg_proxy_resp_head(const struct rg_req *r)
{
    if (r->local_reply || r->up == NULL || !ups(r->up)->head_done)
        return NULL;
    return &ups(r->up)->head;
}

void rg_proxy_add_headers(const struct rg_add_headers *l, struct rg_buf *b)
{
    for (const struct rg_add_header *h = l->head; h != NULL; h = h->next) {
        rg_buf_add_field(b, h->name, h->name_len, h->value, h->value_len);
    }
}

static uint32_t route_timeout(uint32_t route_ms, uint32_t svc_ms)
{
    return route_ms ? route_ms : svc_ms;
}

static void up_timer_start(struct rg_req *r, uv_timer_cb cb, int which)
{
    const struct rg_route *rt = r->m.route;
    uint32_t ms;

    if (which == 0)
        ms = route_timeout(rt->connect_timeout_ms, r->svc->connect_timeout_ms);
    else if (which == 1)
        ms = route_timeout(rt->write_timeout_ms, r->svc->write_timeout_ms);
    else
        ms = route_timeout(rt->read_timeout_ms, r->svc->read_timeout_ms);
    uv_timer_start(&r->up->timer, cb, ms, 0);
}

static void on_up_timeout(uv_timer_t *t)
{
    struct rg_upconn *up = t->data;

    if (up->req != NULL)
        attempt_fail(up->req, -ETIMEDOUT, "timeout");
}

/* Upstream writes. */

static void up_write_done(void *arg, int status, size_t len)
{
    struct rg_upconn *up = arg;
    struct rg_req *r = up->req;
    size_t before = up->out_bytes;

    up->out_bytes -= len;
    if (up->closing || r == NULL)
        return;
    if (status != 0) {
        attempt_fail(r, status, "write failed");
        return;
    }
    /* Progress: the write timeout restarts; once all is sent, the read
     * timeout governs. */
    up_timer_start(r, on_up_timeout, up->out_bytes > 0 ? 1 : 2);
    if (before >= RG_WQ_LOW && up->out_bytes < RG_WQ_LOW)
        rg_conn_throttle(r->c, 0);
}

static int up_write(struct rg_req *r, const uv_buf_t *bufs, unsigned n)
{
    struct rg_upconn *up = r->up;
    ssize_t queued = RG_FAILPOINT_ERR("up_write")
                         ? UV_ENOBUFS
                         : rg_upconn_write(up, bufs, n, up_write_done, up);

    if (queued < 0)
        return (int)queued;
    up->out_bytes += (size_t)queued;
    /* Queued bytes must drain within the write timeout (a stalled upstream
     * is a 504, not a wait for the longer read timeout); with nothing
     * queued the read timeout governs. */
    up_timer_start(r, on_up_timeout, up->out_bytes > 0 ? 1 : 2);
    if (up->out_bytes >= RG_WQ_HIGH)
        rg_conn_throttle(r->c, 1);
    return 0;
}

/* The last chunk of a chunked body, without trailers (RFC 9112 §7.1). */
static const char last_chunk[] = "0\r\n\r\n";

/* Describe @n body bytes at @p for writing into @bufs (room for 3): as is,
 * or as one chunk (RFC 9112 §7.1) using @hex (24 bytes) for its size line.
 * Returns the buffer count. */
static unsigned frame_body(int chunked, char *hex, const char *p, size_t n,
                           uv_buf_t *bufs)
{
    unsigned nb = 0;

    if (chunked)
        bufs[nb++] = uv_buf_init(hex, (unsigned)snprintf(hex, 24, "%zx\r\n", n));
    bufs[nb++] = uv_buf_init((char *)p, (unsigned)n);
    if (chunked)
        bufs[nb++] = uv_buf_init("\r\n", 2);
    return nb;
}

int rg_proxy_body(struct rg_req *r, const char *p, size_t n)
{
    char hex[24];
    uv_buf_t bufs[3];
    const struct rg_limits *l = &r->gen->limits;
    int rv;

    r->body_rcvd += n;
    if (l->max_body_size > 0 && r->body_rcvd > l->max_body_size)
        return RG_EBODY;
    if (r->has_body_cap && r->body_rcvd > r->body_cap) {
        r->body_capped = 1;
        return RG_EBODY;
    }
    if (r->req_buffering) {
        rv = rg_arena_buf_add(&r->arena, &r->req_body, p, n,
                              rg_chain_body_max(r->fs.chain,
                                                RG_FILTER_REQ_BODY));
        return rv == -E2BIG ? RG_EBODY : rv;
    }
    /* The parser stays paused after the head until the head is written
     * upstream, and a request whose body started is never retried, so
     * @r->up is set whenever body bytes arrive until the exchange ends;
     * after that the rest of the body is read and dropped. */
    if (r->up == NULL || r->resp_done)
        return 0;
    rv = up_write(r, bufs, frame_body(r->chunked, hex, p, n, bufs));
    if (rv != 0) /* the upstream's side broke, not the client's */
        return rv == -ENOMEM ? -ENOMEM : RG_EUPSTREAM;
    return 0;
}

void rg_proxy_body_done(struct rg_req *r)
{
    int rv;

    r->body_done = 1;
    if (r->req_buffering) {
        r->req_buffering = 0;
        run_phase(r, RG_PHASE_ACCESS);
        return;
    }
    if (r->chunked && r->up != NULL && !r->resp_done) {
        uv_buf_t end = uv_buf_init((char *)last_chunk, sizeof(last_chunk) - 1);

        if ((rv = up_write(r, &end, 1)) != 0) {
            attempt_fail(r, rv, "write failed");
            return;
        }
    }
    if (r->resp_done)
        rg_proxy_finish(r, !r->client_close);
}

/* Attempts. */

static void up_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* Reading the response, or pausing it while the client is slow. */
static int up_set_reading(struct rg_upconn *up, int on)
{
    return rg_upconn_read(up, on ? up_read : NULL);
}

/* The head for this attempt into @b (room for 3): as built, or with the
 * picked target's Host spliced in (a balanced service). Returns the
 * buffer count. */
static unsigned head_bufs(struct rg_req *r, uv_buf_t *b)
{
    const char *h = r->addr->host_header;
    size_t end = r->host_at + r->host_len;

    if (r->host_len == 0 || h == NULL) {
        b[0] = uv_buf_init(r->up_head.p, (unsigned)r->up_head.len);
        return 1;
    }
    b[0] = uv_buf_init(r->up_head.p, (unsigned)r->host_at);
    b[1] = uv_buf_init((char *)h, (unsigned)strlen(h));
    b[2] = uv_buf_init(r->up_head.p + end, (unsigned)(r->up_head.len - end));
    return 3;
}

static void send_head(struct rg_req *r)
{
    uv_buf_t b[4];
    unsigned n = head_bufs(r, b);
    int rv;

    r->head_sent = 1;
    /* A buffered body goes with the head, on every attempt. */
    if (r->req_buffered && r->req_body.len > 0)
        b[n++] = uv_buf_init(r->req_body.p, (unsigned)r->req_body.len);
    if ((rv = up_write(r, b, n)) != 0) {
        attempt_fail(r, rv, "write failed");
        return;
    }
    if ((rv = up_set_reading(r->up, 1)) != 0) {
        attempt_fail(r, rv, "cannot read");
        return;
    }
    resume_body(r);
}

static void on_connected(uv_connect_t *creq, int status)
{
    struct rg_upconn *up = creq->data;
    struct rg_req *r = up->req;

    if (up->closing || r == NULL)
        return;
    if (status != 0) {
        attempt_fail(r, status, uv_strerror(status));
        return;
    }
    up->connected = 1;
    send_head(r);
}

static void up_begin(struct rg_req *r, struct rg_upconn *up);

/* The address of this attempt: each worker takes a service's addresses in
 * turn with its own counter per service index (kept across generations, so
 * a reload does not reset them; the array only grows), and a retry goes to
 * the next address. */
static const struct rg_upstream_addr *pick_addr(struct rg_req *r)
{
    const struct rg_upstream_target *t = r->tgt;
    struct rg_wctx *w = r->c->w;
    size_t svc = (size_t)(t - r->gen->targets);

    if (t->up != NULL)
        return rg_balance_pick(r);
    if (t->n_addrs == 1)
        return &t->addrs[0];
    if (r->attempts == 1) {
        if (svc >= w->n_rr) {
            size_t n = r->gen->n_targets;
            unsigned *rr = rg_realloc(w->rr, n * sizeof(*rr));

            if (rr != NULL) { /* else this request starts at the first */
                memset(rr + w->n_rr, 0, (n - w->n_rr) * sizeof(*rr));
                w->rr = rr;
                w->n_rr = n;
            }
        }
        r->rr_base = svc < w->n_rr ? w->rr[svc]++ : 0;
    }
    return &t->addrs[(r->rr_base + r->attempts - 1) % t->n_addrs];
}

static void attempt_start(struct rg_req *r)
{
    struct rg_wctx *w = r->c->w;
    struct rg_upconn *up;
    char key[RG_POOL_KEY_MAX];
    int rv;

    if (r->c->closing)
        return; /* aborted (rg_proxy_abort): nothing starts again */
    r->attempts++;
    r->head_sent = 0;
    r->t_upstream = uv_hrtime();
    r->addr = pick_addr(r);
    if (r->addr == NULL) {
        rg_proxy_reply_error(r->c, r, 503, RG_MSG_NO_PEER, 0);
        return;
    }
    /* An https service's connections are its own (tls_tag). */
    snprintf(key, sizeof(key), "%s%s", r->addr->key,
             r->tgt->tls != NULL ? r->tgt->tls_tag : "");
    up = rg_pool_take(w->pool, key, r->gen->limits.pool.idle_ms);
    rg_met_upstream_conn(r, up != NULL);
    if (up != NULL) {
        up_begin(r, up);
        up_timer_start(r, on_up_timeout, 1);
        send_head(r);
        return;
    }
    rv = rg_upconn_connect(w->pool, key, &r->addr->addr,
                           r->gen->limits.pool.idle_ms, sizeof(struct up_state),
                           r->tgt->tls, r->tgt->tls_host, on_connected, &up);
    if (rv != 0) {
        attempt_fail(r, rv, rg_strerror(rv));
        return;
    }
    rg_head_init(&ups(up)->head, UP_HEAD_MAX);
    up->fini = up_state_fini;
    up_begin(r, up);
    up_timer_start(r, on_up_timeout, 0);
}

static void on_backoff_done(uv_timer_t *t)
{
    struct rg_conn *c = t->data;

    if (c->req != NULL && c->req->in_backoff) {
        c->req->in_backoff = 0;
        attempt_start(c->req);
    }
}

/* Kong's message for a failed attempt's status (NULL: the reason phrase). */
static const char *attempt_message(int status)
{
    return status == 504 ? MSG_TIMEOUT : status == 502 ? MSG_BAD_UPSTREAM
                                                       : NULL;
}

/* Attempt failed with @err (a negative code; @why for the log): retry,
 * or answer its status. */
static void attempt_fail(struct rg_req *r, int err, const char *why)
{
    int status = rg_status_of(err); /* 504, 503 or 502 */

    struct rg_attempt_state st = {
        .method = r->method,
        .attempt = r->attempts,
        .max_retries = r->max_retries,
        .request_sent = r->head_sent,
        .body_replayable = r->req_buffered ||
                           (!r->chunked && r->content_length <= 0),
        /* A buffered response has been seen by HEADER (and partly
         * read): a retry would mix two responses. */
        .response_started = r->resp_started || r->header_ran,
    };
    uint32_t delay;

    rg_log(RG_LOG_WARN, "worker %u: request %s: upstream %s attempt %u: %s",
           r->c->w->index, r->id, r->addr->key, r->attempts, why);
    rg_balance_failed(r, err);
    release_upstream(r, 0);
    if (r->c->closing)
        return;
    if (r->resp_started) {
        /* Never a second response: cut the connection. */
        rg_conn_close(r->c);
        return;
    }
    if (r->header_ran) {
        /* Nothing reached the client yet (a buffered response). */
        r->resp_buffering = 0;
        rg_proxy_reply_error(r->c, r, status, attempt_message(status), 1);
        return;
    }
    if (!rg_retry_allowed(&st)) {
        rg_proxy_reply_error(r->c, r, status, attempt_message(status), 0);
        return;
    }
    delay = rg_retry_delay_ms(r->m.route->has_backoff ? &r->m.route->backoff
                                                      : &r->svc->backoff,
                              r->attempts, (uint32_t)rg_wctx_rand(r->c->w));
    if (delay == 0) {
        attempt_start(r);
        return;
    }
    r->in_backoff = 1;
    uv_timer_start(&r->c->timer, on_backoff_done, delay, 0);
}

/* The response. */

static void add_response_fields(struct rg_req *r, struct rg_buf *b)
{
    const struct rg_head *h = &ups(r->up)->head;

    for (uint32_t i = 0; i < h->n_fields; i++) {
        const struct rg_field *f = &h->fields[i];
        const char *name = rg_field_name(h, f);

        if (f->hop || (f->name_len == 14 && r->framing != RG_FRAME_NONE &&
                       strncasecmp(name, "content-length", 14) == 0))
            continue;
        rg_buf_add_field(b, name, f->name_len, rg_field_value(h, f),
                         f->value_len);
    }
}

static enum rg_resp_framing response_framing(struct rg_req *r, llhttp_t *p)
{
    int st = p->status_code;

    if (r->method == RG_M_HEAD || st == 204 || st == 304 || st < 200)
        return RG_FRAME_NONE;
    if ((p->flags & F_CONTENT_LENGTH) && !(p->flags & F_CHUNKED))
        return RG_FRAME_LENGTH;
    return r->http_minor >= 1 ? RG_FRAME_CHUNKED : RG_FRAME_CLOSE;
}

/* Write the response head built by build_response_head, if it is still
 * waiting for body bytes to go out with. Returns 0 or -1. */
static int flush_response_head(struct rg_req *r)
{
    uv_buf_t b = uv_buf_init(r->resp_head, (unsigned)r->resp_head_len);

    if (r->resp_head == NULL)
        return 0;
    r->resp_head = NULL;
    return rg_conn_write(r->c, &b, 1) != 0 ? -1 : 0;
}

/* Build the client's response head in r->resp_hb; it is written with the
 * first body bytes (one write for both) or by flush_response_head. @body_len >= 0:
 * the body is that many buffered bytes (Content-Length), else the
 * upstream's framing. Returns 0, -ENOMEM or -E2BIG. */
static int build_response_head(struct rg_req *r, llhttp_t *p,
                               int64_t body_len)
{
    struct rg_buf *b = &r->resp_hb;
    struct rg_head *h = &ups(r->up)->head;
    const struct rg_limits *l = &r->gen->limits;
    int cc, cu;
    int close;

    rg_buf_truncate(b, 0);
    rg_head_mark_hop(h, &cc, &cu);
    r->framing = body_len >= 0 ? RG_FRAME_LENGTH : response_framing(r, p);
    close = r->client_close || r->framing == RG_FRAME_CLOSE ||
            r->c->w->draining || !r->body_done;
    rg_buf_adds(b, "HTTP/1.1 ");
    rg_buf_add_u64(b, (uint64_t)r->status);
    rg_buf_add(b, " ", 1);
    if (h->url_len > 0 && !r->status_set)
        rg_buf_add(b, rg_head_url(h), h->url_len);
    else
        rg_buf_adds(b, rg_status_reason(r->status));
    rg_buf_adds(b, "\r\n");
    add_response_fields(r, b);
    rg_proxy_add_headers(&r->resp_add, b);
    if (r->framing == RG_FRAME_LENGTH)
        add_length(b, body_len >= 0 ? (uint64_t)body_len
                                    : (uint64_t)p->content_length);
    else if (r->framing == RG_FRAME_CHUNKED)
        rg_buf_adds(b, "Transfer-Encoding: chunked\r\n");
    if (l->via[0] != '\0')
        rg_buf_addf(b, "Via: 1.1 %s\r\n", l->via);
    if (rg_head_find(h, "x-request-id") == NULL)
        rg_buf_add_field(b, "X-Request-ID", 12, r->id, strlen(r->id));
    if (r->status == 101) {
        const struct rg_field *u = rg_head_find(h, "upgrade");

        rg_buf_adds(b, "Connection: upgrade\r\nUpgrade: ");
        if (u != NULL)
            rg_buf_add(b, rg_field_value(h, u), u->value_len);
        rg_buf_adds(b, "\r\n");
    } else if (close) {
        rg_buf_adds(b, "Connection: close\r\n");
        r->client_close = 1;
    } else if (r->http_minor == 0) {
        rg_buf_adds(b, "Connection: keep-alive\r\n");
    }
    rg_buf_adds(b, "\r\n");
    if (rg_buf_error(b) != 0)
        return rg_buf_error(b);
    r->resp_started = 1;
    r->bytes_out += b->len;
    r->resp_head = b->p;
    r->resp_head_len = b->len;
    return 0;
}

static int resp_head(struct rg_msg *m)
{
    llhttp_t *p = &m->p;
    struct rg_upconn *up = m->data;
    struct rg_req *r = up->req;
    int rv;

    if (p->status_code < 200 && p->status_code != 101) {
        /* 1xx interim responses (103 Early Hints) are not relayed; the
         * final head is read into a fresh chunk. */
        up_head_drop(up);
        return 0;
    }
    ups(up)->head_done = 1;
    rg_balance_status(r, p->status_code);
    rg_met_upstream(r, p->status_code);
    if (p->status_code == 101 && !r->upgrade)
        return -1;
    r->status = p->status_code;
    r->up_status = p->status_code;
    r->t_up_head = uv_hrtime();
    if (rg_proxy_run_header(r) != 0) {
        r->fail_err = plugin_err(r);
        return -1;
    }
    if ((rg_chain_flags(r->fs.chain) & RG_FILTER_RESP_BODY) &&
        r->status != 101 && response_framing(r, p) != RG_FRAME_NONE) {
        /* The head waits for BODY_FILTER: its length may change. */
        r->resp_buffering = 1;
        return 0;
    }
    rv = build_response_head(r, p, -1);
    if (rv != 0) {
        r->fail_err = rv == -E2BIG ? RG_ERESPHEAD : rv;
        return -1;
    }
    return r->method == RG_M_HEAD ? 1 : 0;
}

static int resp_body(struct rg_msg *m, const char *at, size_t n)
{
    struct rg_upconn *up = m->data;
    struct rg_req *r = up->req;
    struct rg_conn *c = r->c;
    uv_buf_t bufs[4];
    char hex[24];
    char *head = r->resp_head;  /* goes out in the same write */
    unsigned h = head != NULL;
    unsigned nb = frame_body(r->framing == RG_FRAME_CHUNKED, hex, at, n,
                             bufs + h);
    int rv;

    if (r->resp_buffering) {
        rv = rg_arena_buf_add(&r->arena, &r->resp_buf, at, n,
                              rg_chain_body_max(r->fs.chain,
                                                RG_FILTER_RESP_BODY));
        if (rv != 0)
            r->fail_err = rv == -E2BIG ? RG_ERESPBODY : rv;
        return rv;
    }
    if (h)
        bufs[0] = uv_buf_init(head, (unsigned)r->resp_head_len);
    r->resp_head = NULL;
    r->resp_body += n;
    r->bytes_out += n;
    rv = rg_conn_write(c, bufs, nb + h);
    if (rv != 0)
        return rv;  /* the connection is closing: only unwind */
    if (c->out_bytes >= RG_WQ_HIGH)
        up_set_reading(up, 0);
    return 0;
}

/* The whole response body is in r->resp_buf: BODY_FILTER, then the head
 * with its final length and the body in one write. */
static int send_buffered_response(struct rg_req *r, llhttp_t *p)
{
    uv_buf_t bufs[2];
    char *head;
    int rv;

    r->resp_buffering = 0;
    if (rg_filter_run(r, RG_PHASE_BODY) != RG_FILTER_CONTINUE) {
        r->fail_err = plugin_err(r);
        return -1;
    }
    rv = build_response_head(r, p, (int64_t)r->resp_buf.len);
    if (rv != 0) {
        r->fail_err = rv == -E2BIG ? RG_ERESPHEAD : rv;
        return -1;
    }
    head = r->resp_head;
    r->resp_head = NULL;
    bufs[0] = uv_buf_init(head, (unsigned)r->resp_head_len);
    bufs[1] = uv_buf_init(r->resp_buf.p, (unsigned)r->resp_buf.len);
    r->resp_body += r->resp_buf.len;
    r->bytes_out += r->resp_buf.len;
    rv = rg_conn_write(r->c, bufs, r->method == RG_M_HEAD ? 1 : 2);
    return rv != 0 ? -1 : 0;
}

static int resp_done(struct rg_msg *m)
{
    llhttp_t *p = &m->p;
    struct rg_upconn *up = m->data;
    struct rg_req *r = up->req;

    if (p->status_code < 200 && p->status_code != 101)
        return 0;
    if (r->resp_buffering && send_buffered_response(r, p) != 0)
        return -1;
    if (flush_response_head(r) != 0)
        return -1;
    r->resp_done = 1;
    r->up_keepalive = llhttp_should_keep_alive(p);
    return p->upgrade ? 0 : HPE_PAUSED;
}

static const struct rg_msg_ops resp_ops = {
    .head = resp_head,
    .body = resp_body,
    .done = resp_done,
};

/* Where up's reads go while an exchange uses it (rg_upconn_alloc_cb): the
 * head's input chunk while a response head is read and room is left in
 * it, else the pool's shared buffer (see struct up_state). */
static int up_alloc(struct rg_upconn *up, uv_buf_t *buf)
{
    struct up_state *st = ups(up);

    if (st->head_done)
        return 0;
    if (st->in == NULL && (st->in = rg_blk_get(st->chunks)) == NULL)
        return 0;
    if (RG_ARENA_CHUNK - st->in_len < RG_HEAD_IN_MIN_ROOM)
        return 0;
    *buf = uv_buf_init(st->in + st->in_len, RG_ARENA_CHUNK - st->in_len);
    return 1;
}

static void up_begin(struct rg_req *r, struct rg_upconn *up)
{
    r->up = up;
    up->req = r;
    ups(up)->chunks = &r->c->w->chunks;
    ups(up)->head_done = 0;
    up_head_drop(up);
    rg_msg_init(&ups(up)->msg, RG_MSG_RESPONSE, &resp_ops, &ups(up)->head,
                up);
    rg_upconn_set_alloc(up, up_alloc);
    up->timer.data = up;
    uv_timer_stop(&up->timer);
}

static void response_complete(struct rg_req *r, int clean)
{
    if (r->framing == RG_FRAME_CHUNKED) {
        uv_buf_t end = uv_buf_init((char *)last_chunk, sizeof(last_chunk) - 1);

        r->bytes_out += end.len;
        if (rg_conn_write(r->c, &end, 1) != 0)
            return;
    }
    if (!clean)
        r->up_keepalive = 0;
    if (!r->body_done) {
        /* Answered before the request body ended: that body cannot be
         * delimited for reuse, so neither connection is kept. */
        r->up_keepalive = 0;
        rg_proxy_finish(r, 0);
        return;
    }
    rg_proxy_finish(r, !r->client_close);
}

static void start_tunnel(struct rg_req *r, const char *rest, size_t n)
{
    struct rg_conn *c = r->c;

    if (n > 0 && rg_conn_write(c, &(uv_buf_t){.base = (char *)rest, .len = n},
                               1) != 0)
        return;
    /* The head went out (build_response_head copied it): a long-lived
     * tunnel holds no chunk for it. */
    up_head_drop(r->up);
    up_timer_start(r, on_up_timeout, 2);
    rg_conn_start_tunnel(c);
}

void rg_proxy_tunnel_data(struct rg_req *r, const char *p, size_t n)
{
    if (r->up == NULL || up_write(r, &(uv_buf_t){.base = (char *)p, .len = n},
                                  1) != 0) {
        rg_conn_close(r->c);
        return;
    }
    up_timer_start(r, on_up_timeout, 2);
}

/* A phase failed on the upstream's response before any of it was sent:
 * answer fail_err's status instead. Returns 1 when it did. */
static int response_failed(struct rg_req *r)
{
    int err = r->fail_err;

    if (err == 0)
        return 0;
    r->fail_err = 0;
    release_upstream(r, 0);
    rg_proxy_reply_error(r->c, r, rg_status_of(err),
                         err == RG_ERESPBODY ? "The upstream response is too "
                                               "large for the plugins that "
                                               "read it"
                                             : NULL,
                         1);
    return 1;
}

static void up_parse(struct rg_req *r, const char *p, size_t n)
{
    struct rg_upconn *up = r->up;
    llhttp_errno_t err = rg_msg_feed(&ups(up)->msg, p, n);
    const char *pos;

    /* A callback may have ended the exchange (client gone): @up has let
     * go of @r then. */
    if (up->req != r)
        return;
    if (err == HPE_OK) {
        /* A head whose body is in a later read. A failed write closed the
         * connection (@r lives on until it has closed): nothing more. */
        (void)flush_response_head(r);
        return;
    }
    pos = rg_msg_stop_pos(&ups(up)->msg);
    if (err == HPE_PAUSED_UPGRADE && r->status == 101) {
        start_tunnel(r, pos, (size_t)(p + n - pos));
        return;
    }
    if (err == HPE_PAUSED) {
        response_complete(r, pos == p + n);
        return;
    }
    if (response_failed(r))
        return;
    if (ups(up)->msg.err == -ENOMEM) {
        /* Ours, not the upstream's fault. */
        attempt_fail(r, -ENOMEM, "out of memory for the response head");
        return;
    }
    rg_log(RG_LOG_WARN, "worker %u: request %s: bad response from %s: %s",
           r->c->w->index, r->id, r->addr->key, llhttp_errno_name(err));
    attempt_fail(r, RG_EUPSTREAM, "invalid response");
}

static void up_eof(struct rg_req *r)
{
    struct rg_upconn *up = r->up;

    if (r->c->tunnel) {
        rg_proxy_finish(r, 0);
        return;
    }
    if ((r->resp_started || r->resp_buffering) &&
        llhttp_message_needs_eof(&ups(up)->msg.p)) {
        llhttp_errno_t err = rg_msg_finish(&ups(up)->msg);

        /* on_message_complete pauses, so a clean end reads HPE_PAUSED. */
        if ((err == HPE_OK || err == HPE_PAUSED) && r->resp_done) {
            response_complete(r, 0);
            return;
        }
        /* A failed write closed the connection (then @up has let go of
         * @r, which lives on until the close ends). */
        if (up->req != r || response_failed(r))
            return;
    }
    attempt_fail(r, -ECONNRESET, "upstream closed the connection");
}

static void up_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct rg_upconn *up = s->data;
    struct up_state *st = ups(up);
    struct rg_req *r = up->req;

    if (nread > 0 && st->in != NULL && st->in_len < RG_ARENA_CHUNK &&
        buf->base == st->in + st->in_len) {
        /* up_alloc's read: the head's spans in it are slices. */
        st->in_len += (uint32_t)nread;
        rg_head_set_input(&st->head, st->in, st->in_len);
    }
    if (r == NULL || nread == 0)
        return;
    if (nread < 0) {
        up_eof(r);
        return;
    }
    up_timer_start(r, on_up_timeout, 2);
    if (r->c->tunnel) {
        if (rg_conn_write(r->c, &(uv_buf_t){.base = buf->base,
                                            .len = (size_t)nread}, 1) == 0 &&
            r->c->out_bytes >= RG_WQ_HIGH)
            up_set_reading(up, 0);
        return;
    }
    st->feeding = 1;
    up_parse(r, buf->base, (size_t)nread);
    st->feeding = 0;
    if (st->in_drop)
        up_in_free(up); /* @up is valid until its close callback */
}

void rg_proxy_client_drained(struct rg_req *r)
{
    if (r->up != NULL && !r->resp_done)
        up_set_reading(r->up, 1);
}

/* The end. */

void rg_proxy_finish(struct rg_req *r, int keepalive)
{
    struct rg_conn *c = r->c;

    release_upstream(r, r->up_keepalive && r->resp_done && r->body_done);
    run_log(r);
    access_log(r);
    if (r->framing == RG_FRAME_CLOSE || r->client_close)
        keepalive = 0;
    rg_conn_request_finished(c, keepalive);
}
