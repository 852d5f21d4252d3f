/* test-phases (test builds only): a plugin that exercises every phase of
 * the engine so that tests can watch it through the real binary. It is
 * registered three times (test-phases, test-phases-b, test-phases-c, at
 * priorities 500, 499, 498) so that one route can carry three at once.
 * Every config key is optional; with none the plugin does nothing in any
 * phase (the benchmark's no-op chain):
 *
 *   tag: s             header_filter appends s to the response header
 *                      X-Test-Phases (a comma list, in chain order)
 *   respond_in: rewrite|access
 *                      answer locally in that phase: status (default 418)
 *                      with respond_body (default {"message":"test-phases"})
 *   status: n          100..599
 *   respond_body: s
 *   request_headers: {name: value}   added to the upstream request (access)
 *   response_headers: {name: value}  added to the response (header_filter)
 *   pause_ms: n        access pauses for n ms (a timer), then goes on
 *   read_body: bool    access sees the whole request body and adds
 *                      X-Test-Request-Body-Bytes: <n> upstream
 *   body_upper: bool   body_filter upper-cases the response body and adds
 *                      X-Test-Body-Bytes: <n> (its length before)
 *   body_max: n        the cap for both buffered bodies, bytes
 *   set_consumer: username  access makes the request that consumer's
 *   fail_in: access|header  return RG_FILTER_ERROR in that phase
 *   fail_nomem: bool   ... naming out of memory (rg_req_fail: 503)
 *   log: bool          the log phase writes a notice line
 *                      "test-phases: log <tag> <request id> <status>" */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config/yamltree.h"
#include "core/alloc.h"
#include "core/log.h"
#include "http/filter.h"
#include "http/req.h"

#define TP_PAUSE_MAX 10000 /* ms */

struct tp_header {
    char *name;
    char *value;
};

struct tp_headers {
    struct tp_header *v;
    size_t n;
};

struct tp_conf {
    char *tag;
    int respond_in;          /* RG_PHASE_REWRITE/ACCESS, or -1 */
    int status;
    char *respond_body;
    struct tp_headers req;
    struct tp_headers resp;
    uint32_t pause_ms;
    int read_body;
    int body_upper;
    uint32_t body_max;       /* 0: the engine's default */
    char *set_consumer;
    int fail_in;             /* RG_PHASE_ACCESS/HEADER, or -1 */
    int fail_nomem;          /* ... as out of memory */
    int log;
};

/* ---- config ---- */

static void headers_free(struct tp_headers *h)
{
    for (size_t i = 0; i < h->n; i++) {
        rg_free(h->v[i].name);
        rg_free(h->v[i].value);
    }
    rg_free(h->v);
}

static void tp_conf_free(void *p)
{
    struct tp_conf *c = p;

    if (c == NULL)
        return;
    rg_free(c->tag);
    rg_free(c->respond_body);
    headers_free(&c->req);
    headers_free(&c->resp);
    rg_free(c->set_consumer);
    rg_free(c);
}

static int phase_word(struct rg_yt *t, yaml_node_t *v, const char *a, int pa,
                      const char *b, int pb, int *out)
{
    const char *s;
    size_t len;
    int rv = rg_yt_scalar(t, v, &s, &len);

    if (rv < 0)
        return rv;
    if (strcmp(s, a) == 0)
        *out = pa;
    else if (strcmp(s, b) == 0)
        *out = pb;
    else
        return rg_yt_err(t, v, "must be \"%s\" or \"%s\"", a, b);
    return 0;
}

static int k_tag(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_str(t, v, &((struct tp_conf *)ctx)->tag);
}

static int k_respond_in(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return phase_word(t, v, "rewrite", RG_PHASE_REWRITE, "access",
                      RG_PHASE_ACCESS, &((struct tp_conf *)ctx)->respond_in);
}

static int k_status(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;
    int rv = rg_yt_int(t, v, 100, 599, &x);

    if (rv == 0)
        ((struct tp_conf *)ctx)->status = (int)x;
    return rv;
}

static int k_respond_body(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_str(t, v, &((struct tp_conf *)ctx)->respond_body);
}

static int header_pair(struct rg_yt *t, const char *key, size_t len,
                       yaml_node_t *v, void *ctx)
{
    struct tp_headers *h = ctx;
    struct tp_header *e = &h->v[h->n];
    int rv;

    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)key[i];

        if (ch <= 0x20 || ch >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", ch))
            return rg_yt_err(t, v, "is not a header name");
    }
    rv = rg_yt_str(t, v, &e->value);
    if (rv < 0)
        return rv;
    e->name = rg_strndup(key, len);
    if (e->name == NULL) {
        rg_free(e->value);
        return rg_yt_nomem(t);
    }
    h->n++;
    return 0;
}

static int read_headers(struct rg_yt *t, yaml_node_t *v, struct tp_headers *h)
{
    size_t n = v->type == YAML_MAPPING_NODE
                   ? (size_t)(v->data.mapping.pairs.top -
                              v->data.mapping.pairs.start)
                   : 0;

    h->v = rg_calloc(n ? n : 1, sizeof(*h->v));
    if (h->v == NULL)
        return rg_yt_nomem(t);
    return rg_yt_pairs(t, v, header_pair, h);
}

static int k_request_headers(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_headers(t, v, &((struct tp_conf *)ctx)->req);
}

static int k_response_headers(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_headers(t, v, &((struct tp_conf *)ctx)->resp);
}

static int k_pause_ms(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;
    int rv = rg_yt_int(t, v, 0, TP_PAUSE_MAX, &x);

    if (rv == 0)
        ((struct tp_conf *)ctx)->pause_ms = (uint32_t)x;
    return rv;
}

static int k_read_body(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct tp_conf *)ctx)->read_body);
}

static int k_body_upper(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct tp_conf *)ctx)->body_upper);
}

static int k_body_max(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;
    int rv = rg_yt_int(t, v, 1, 64 << 20, &x);

    if (rv == 0)
        ((struct tp_conf *)ctx)->body_max = (uint32_t)x;
    return rv;
}

static int k_set_consumer(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_str(t, v, &((struct tp_conf *)ctx)->set_consumer);
}

static int k_fail_in(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return phase_word(t, v, "access", RG_PHASE_ACCESS, "header",
                      RG_PHASE_HEADER, &((struct tp_conf *)ctx)->fail_in);
}

static int k_fail_nomem(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct tp_conf *)ctx)->fail_nomem);
}

static int k_log(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct tp_conf *)ctx)->log);
}

/* clang-format off */
static const struct rg_yt_key tp_keys[] = {
    {"tag", k_tag},
    {"respond_in", k_respond_in},
    {"status", k_status},
    {"respond_body", k_respond_body},
    {"request_headers", k_request_headers},
    {"response_headers", k_response_headers},
    {"pause_ms", k_pause_ms},
    {"read_body", k_read_body},
    {"body_upper", k_body_upper},
    {"body_max", k_body_max},
    {"set_consumer", k_set_consumer},
    {"fail_in", k_fail_in},
    {"fail_nomem", k_fail_nomem},
    {"log", k_log},
    {NULL, NULL},
};
/* clang-format on */

static int tp_conf_parse(struct rg_yt *t, yaml_node_t *config, void **out)
{
    struct tp_conf *c = rg_calloc(1, sizeof(*c));
    int rv = 0;

    *out = NULL;
    if (c == NULL)
        return rg_yt_nomem(t);
    c->respond_in = -1;
    c->fail_in = -1;
    c->status = 418;
    if (config != NULL)
        rv = rg_yt_map(t, config, tp_keys, c);
    if (rv < 0) {
        tp_conf_free(c);
        return rv;
    }
    *out = c;
    return 0;
}

static unsigned tp_wants(const void *conf, uint32_t *body_max)
{
    const struct tp_conf *c = conf;

    if (c->body_max > 0)
        *body_max = c->body_max;
    return (c->read_body ? RG_FILTER_REQ_BODY : 0) |
           (c->body_upper ? RG_FILTER_RESP_BODY : 0);
}

/* ---- runtime ---- */

struct tp_pause {
    uv_timer_t timer;
    struct rg_req *r;        /* NULL once detached */
    enum rg_filter_status then;
};

struct tp_ctx {
    struct tp_pause *pause;  /* while paused */
};

static int add_all(struct rg_req *r, enum rg_hdir dir,
                   const struct tp_headers *h)
{
    for (size_t i = 0; i < h->n; i++) {
        int rv = rg_req_add_header(r, dir, h->v[i].name, h->v[i].value);

        if (rv != 0)
            return rv;
    }
    return 0;
}

/* Fail the request for @err: out of memory is named (503), anything else
 * is this plugin's fault (500). */
static enum rg_filter_status fail(const struct rg_filter_call *fc, int err)
{
    if (err == -ENOMEM)
        rg_req_fail(fc->r, err);
    return RG_FILTER_ERROR;
}

static enum rg_filter_status respond(const struct rg_filter_call *fc)
{
    const struct tp_conf *c = fc->conf;
    const char *body = c->respond_body ? c->respond_body
                                       : "{\"message\":\"test-phases\"}";

    return rg_req_respond(fc->r, c->status, body, strlen(body)) == 0
               ? RG_FILTER_RESPOND
               : RG_FILTER_ERROR;
}

static enum rg_filter_status tp_rewrite(const struct rg_filter_call *fc)
{
    const struct tp_conf *c = fc->conf;

    return c->respond_in == RG_PHASE_REWRITE ? respond(fc)
                                             : RG_FILTER_CONTINUE;
}

static void pause_closed(uv_handle_t *h)
{
    rg_free(h->data);
}

static void pause_done(uv_timer_t *t)
{
    struct tp_pause *p = t->data;
    struct rg_req *r = p->r;

    uv_close((uv_handle_t *)t, pause_closed);
    if (r != NULL)
        rg_filter_resume(r, p->then);
}

static enum rg_filter_status pause_for(const struct rg_filter_call *fc,
                                       enum rg_filter_status then)
{
    const struct tp_conf *c = fc->conf;
    struct tp_ctx *x = fc->ctx;
    struct tp_pause *p = rg_malloc(sizeof(*p));

    if (p == NULL)
        return fail(fc, -ENOMEM);
    uv_timer_init(rg_req_loop(fc->r), &p->timer);
    p->timer.data = p;
    p->r = fc->r;
    p->then = then;
    x->pause = p;
    uv_timer_start(&p->timer, pause_done, c->pause_ms, 0);
    return RG_FILTER_PAUSE;
}

static enum rg_filter_status tp_access(const struct rg_filter_call *fc)
{
    const struct tp_conf *c = fc->conf;
    enum rg_filter_status then = RG_FILTER_CONTINUE;
    int rv;

    if (c->fail_in == RG_PHASE_ACCESS)
        return c->fail_nomem ? fail(fc, -ENOMEM) : RG_FILTER_ERROR;
    if (c->set_consumer != NULL) {
        size_t i = rg_req_find_consumer(fc->r, c->set_consumer);

        if (i == RG_NO_INDEX)
            return RG_FILTER_ERROR;
        rg_req_set_consumer(fc->r, i);
    }
    if ((rv = add_all(fc->r, RG_TO_UPSTREAM, &c->req)) != 0)
        return fail(fc, rv);
    if (c->read_body) {
        const char *b;
        size_t n;
        char num[24];

        if (rg_req_body(fc->r, &b, &n) != 0)
            return RG_FILTER_ERROR;
        snprintf(num, sizeof(num), "%zu", n);
        if ((rv = rg_req_add_header(fc->r, RG_TO_UPSTREAM,
                                    "X-Test-Request-Body-Bytes", num)) != 0)
            return fail(fc, rv);
    }
    if (c->respond_in == RG_PHASE_ACCESS)
        then = respond(fc);
    if (c->pause_ms > 0 && then != RG_FILTER_ERROR)
        return pause_for(fc, then);
    return then;
}

static void tp_detach(const struct rg_filter_call *fc)
{
    struct tp_ctx *x = fc->ctx;

    if (x->pause != NULL) {
        x->pause->r = NULL;
        uv_timer_stop(&x->pause->timer);
        uv_close((uv_handle_t *)&x->pause->timer, pause_closed);
        x->pause = NULL;
    }
}

static enum rg_filter_status tp_header(const struct rg_filter_call *fc)
{
    const struct tp_conf *c = fc->conf;
    int rv;

    if (c->fail_in == RG_PHASE_HEADER)
        return c->fail_nomem ? fail(fc, -ENOMEM) : RG_FILTER_ERROR;
    if (c->tag != NULL &&
        (rv = rg_req_add_header(fc->r, RG_TO_CLIENT, "X-Test-Phases",
                                c->tag)) != 0)
        return fail(fc, rv);
    rv = add_all(fc->r, RG_TO_CLIENT, &c->resp);
    return rv == 0 ? RG_FILTER_CONTINUE : fail(fc, rv);
}

static enum rg_filter_status tp_body(const struct rg_filter_call *fc)
{
    const struct tp_conf *c = fc->conf;
    const char *b;
    char *up, num[24];
    size_t n;

    if (!c->body_upper)
        return RG_FILTER_CONTINUE;
    if (rg_resp_body(fc->r, &b, &n) != 0 ||
        (up = rg_req_alloc(fc->r, n + 1)) == NULL)
        return RG_FILTER_ERROR;
    for (size_t i = 0; i < n; i++)
        up[i] = b[i] >= 'a' && b[i] <= 'z' ? (char)(b[i] - 'a' + 'A') : b[i];
    snprintf(num, sizeof(num), "%zu", n);
    if (rg_resp_set_body(fc->r, up, n) != 0 ||
        rg_req_add_header(fc->r, RG_TO_CLIENT, "X-Test-Body-Bytes", num) != 0)
        return RG_FILTER_ERROR;
    return RG_FILTER_CONTINUE;
}

static enum rg_filter_status tp_log(const struct rg_filter_call *fc)
{
    const struct tp_conf *c = fc->conf;

    if (c->log)
        rg_log(RG_LOG_NOTICE, "test-phases: log %s %s %d",
               c->tag ? c->tag : "-", rg_req_id(fc->r), rg_req_status(fc->r));
    return RG_FILTER_CONTINUE;
}

#define TP_OPS(sym, nm, prio)                                                  \
    const struct rg_filter_ops sym = {                                         \
        .schema = {.name = nm,                                                 \
                   .conf_parse = tp_conf_parse,                                \
                   .conf_free = tp_conf_free,                                  \
                   .protocols = RG_PROTO_HTTP | RG_PROTO_HTTPS},               \
        .priority = prio,                                                      \
        .ctx_size = sizeof(struct tp_ctx),                                     \
        .wants = tp_wants,                                                     \
        .on_rewrite = tp_rewrite,                                              \
        .on_access = tp_access,                                                \
        .on_header = tp_header,                                                \
        .on_body = tp_body,                                                    \
        .on_log = tp_log,                                                      \
        .on_detach = tp_detach,                                                \
    }

TP_OPS(rg_plugin_test_phases, "test-phases", 500);
TP_OPS(rg_plugin_test_phases_b, "test-phases-b", 499);
TP_OPS(rg_plugin_test_phases_c, "test-phases-c", 498);
