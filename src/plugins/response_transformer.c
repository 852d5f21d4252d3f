/* response-transformer: Kong 3's, in header_filter and body_filter
 * (priority 800), edits the response. Config, as Kong's:
 *
 *   remove:  {headers, json}                lists of "name"
 *   rename:  {headers, json}                lists of "old:new"
 *   replace: {headers, json, json_types}    "name:value"
 *   add:     {headers, json, json_types}    "name:value"
 *   append:  {headers, json, json_types}    "name:value"
 *
 * in Kong's order remove, rename, replace, add, append (transform.h).
 * json_types (string, number, boolean; string when not given) types the
 * json values of the same step by position. JSON edits apply to a body
 * whose Content-Type is application/json (or +json) and that is a JSON
 * object; any other body passes untouched (Kong's). Header edits see the
 * upstream's headers; on a local reply (a plugin's or the gateway's
 * error) they see none, so add and append apply and the rest do nothing.
 *
 * raftgate's extensions (the seed's transformer):
 *   body_unwrap: key      a JSON object body b goes out as b["key"] when
 *                         it has that key (before the json steps)
 *   response_time: false  X-Gateway-Response-Time: the milliseconds from
 *                         sending upstream to the response head
 *   status_map: {}        {from: to} status codes (200..599, not 204 or
 *                         304), or "seed": the seed's 501->404, 502->503,
 *                         503->504; applied to upstream answers and to
 *                         the gateway's own (a 502 for an unreachable
 *                         upstream); the body is left as it is
 *
 * The body is buffered (RG_FILTER_RESP_BODY) only when json edits or
 * body_unwrap are configured. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/yamltree.h"
#include "core/alloc.h"
#include "http/filter.h"
#include "http/req.h"
#include "plugins/transform.h"

#define RS_STATUS_MAX 32

struct rs_conf {
    struct rg_tf_edits headers, json;
    char *unwrap;
    int response_time;
    int from[RS_STATUS_MAX], to[RS_STATUS_MAX];
    size_t n_status;
};

/* Per request: what header_filter saw for body_filter. */
struct rs_ctx {
    int json; /* the body is JSON (by its Content-Type) */
};

/* ---- config ---- */

static void rs_free(void *p)
{
    struct rs_conf *c = p;

    if (c == NULL)
        return;
    rg_tf_edits_free(&c->headers);
    rg_tf_edits_free(&c->json);
    rg_free(c->unwrap);
    rg_free(c);
}

struct step_ctx {
    struct rs_conf *c;
    enum rg_tf_step step;
};

static int k_headers(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct step_ctx *s = ctx;

    return rg_tf_read(t, v, &s->c->headers, s->step, RG_TF_HEADER);
}

static int k_json(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct step_ctx *s = ctx;

    return rg_tf_read(t, v, &s->c->json, s->step, RG_TF_JSON);
}

/* Read after the step's other keys (rs_read_step), so the values it
 * types are there. */
static int k_types(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    (void)t;
    (void)v;
    (void)ctx;
    return 0;
}

/* clang-format off */
static const struct rg_yt_key plain_keys[] = {
    {"headers", k_headers}, {"json", k_json},
    {NULL, NULL},
};
static const struct rg_yt_key typed_keys[] = {
    {"headers", k_headers}, {"json", k_json}, {"json_types", k_types},
    {NULL, NULL},
};
/* clang-format on */

static int read_step(struct rg_yt *t, yaml_node_t *v, void *ctx,
                     enum rg_tf_step step)
{
    struct step_ctx s = {ctx, step};
    int typed = step >= RG_TF_REPLACE;
    int rv = rg_yt_map(t, v, typed ? typed_keys : plain_keys, &s);
    yaml_node_t *types;
    size_t mark;

    if (rv < 0 || !typed || (types = rg_yt_get(t, v, "json_types")) == NULL)
        return rv;
    mark = rg_yt_push_key(t, "json_types", 10);
    rv = rg_tf_read_types(t, types, &s.c->json, step);
    rg_yt_pop(t, mark);
    return rv;
}

static int k_remove(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_step(t, v, ctx, RG_TF_REMOVE);
}

static int k_rename(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_step(t, v, ctx, RG_TF_RENAME);
}

static int k_replace(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_step(t, v, ctx, RG_TF_REPLACE);
}

static int k_add(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_step(t, v, ctx, RG_TF_ADD);
}

static int k_append(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_step(t, v, ctx, RG_TF_APPEND);
}

static int k_unwrap(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct rs_conf *c = ctx;
    int rv = rg_yt_str(t, v, &c->unwrap);

    if (rv == 0 && c->unwrap[0] == '\0')
        return rg_yt_err(t, v, "must not be empty");
    return rv;
}

static int k_response_time(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct rs_conf *)ctx)->response_time);
}

static int status_ok(long long s)
{
    return s >= 200 && s <= 599 && s != 204 && s != 304;
}

static int add_status(struct rs_conf *c, int from, int to)
{
    for (size_t i = 0; i < c->n_status; i++) {
        if (c->from[i] == from)
            return -1;
    }
    c->from[c->n_status] = from;
    c->to[c->n_status++] = to;
    return 0;
}

static int status_pair(struct rg_yt *t, const char *key, size_t len,
                       yaml_node_t *v, void *ctx)
{
    struct rs_conf *c = ctx;
    long long to;
    char *end;
    long from = strtol(key, &end, 10);
    int rv;

    if (len != 3 || *end != '\0' || !status_ok(from))
        return rg_yt_err(t, v, "the status to map must be a code in "
                               "200..599, not 204 or 304");
    if ((rv = rg_yt_int(t, v, 200, 599, &to)) < 0)
        return rv;
    if (!status_ok(to))
        return rg_yt_err(t, v, "204 and 304 cannot be answered instead "
                               "(they have no body)");
    if (c->n_status == RS_STATUS_MAX)
        return rg_yt_err(t, v, "at most %d codes", RS_STATUS_MAX);
    if (add_status(c, (int)from, (int)to) != 0)
        return rg_yt_err(t, v, "duplicate status");
    return 0;
}

static int k_status_map(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct rs_conf *c = ctx;
    const char *s;
    size_t len;

    if (v->type != YAML_SCALAR_NODE)
        return rg_yt_pairs(t, v, status_pair, c);
    if (rg_yt_scalar(t, v, &s, &len) < 0 || strcmp(s, "seed") != 0)
        return rg_yt_err(t, v, "must be a mapping of status codes or "
                               "\"seed\"");
    c->n_status = 0;
    (void)add_status(c, 501, 404);
    (void)add_status(c, 502, 503);
    (void)add_status(c, 503, 504);
    return 0;
}

/* clang-format off */
static const struct rg_yt_key rs_keys[] = {
    {"remove", k_remove}, {"rename", k_rename}, {"replace", k_replace},
    {"add", k_add}, {"append", k_append},
    {"body_unwrap", k_unwrap},
    {"response_time", k_response_time},
    {"status_map", k_status_map},
    {NULL, NULL},
};
/* clang-format on */

static int rs_parse(struct rg_yt *t, yaml_node_t *config, void **out)
{
    struct rs_conf *c = rg_calloc(1, sizeof(*c));
    int rv = 0;

    *out = NULL;
    if (c == NULL)
        return rg_yt_nomem(t);
    if (config != NULL)
        rv = rg_yt_map(t, config, rs_keys, c);
    if (rv < 0) {
        rs_free(c);
        return rv;
    }
    c->headers.icase = 1;
    *out = c;
    return 0;
}

static unsigned rs_wants(const void *conf, uint32_t *body_max)
{
    const struct rs_conf *c = conf;

    (void)body_max;
    return !rg_tf_empty(&c->json) || c->unwrap != NULL ? RG_FILTER_RESP_BODY
                                                       : 0;
}

/* ---- runtime ---- */

/* Kong's is_json_body: application/json, or a +json type. */
static int json_type(const char *v, size_t len)
{
    const char *semi = memchr(v, ';', len);
    size_t n = semi != NULL ? (size_t)(semi - v) : len;

    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    while (n > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    return (n == 16 && strncasecmp(v, "application/json", 16) == 0) ||
           (n > 5 && strncasecmp(v + n - 5, "+json", 5) == 0);
}

/* The response's headers of the names @c's edits touch, edited, written
 * back: the upstream's are hidden and the result added. */
static int edit_headers(struct rg_req *r, const struct rs_conf *c)
{
    struct rg_tf_fields f = {0};
    int rv = 0;

    if (rg_tf_empty(&c->headers))
        return 0;
    for (int s = 0; rv == 0 && s < RG_TF_STEPS; s++) {
        const struct rg_tf_list *l = &c->headers.step[s];

        for (size_t i = 0; rv == 0 && i < l->n; i++) {
            size_t len;
            const char *v = rg_resp_header(r, l->v[i].name, &len);
            int dupname = 0;

            for (size_t j = 0; j < f.n; j++)
                dupname |= strcasecmp(f.v[j].name, l->v[i].name) == 0;
            if (v != NULL && !dupname)
                rv = rg_tf_fields_push(&f, l->v[i].name,
                                       strlen(l->v[i].name), v, len);
        }
    }
    if (rv == 0)
        rv = rg_tf_apply(&c->headers, &f);
    for (int s = 0; rv == 0 && s < RG_TF_STEPS; s++) {
        const struct rg_tf_list *l = &c->headers.step[s];

        for (size_t i = 0; rv == 0 && i < l->n; i++) {
            const char *two[2] = {l->v[i].name,
                                  s == RG_TF_RENAME ? l->v[i].value : NULL};

            for (int k = 0; rv == 0 && k < 2 && two[k] != NULL; k++) {
                rg_resp_hide_header(r, two[k]);
                rv = rg_req_set_header(r, RG_TO_CLIENT, two[k], NULL);
            }
        }
    }
    for (size_t i = 0; rv == 0 && i < f.n; i++) {
        char *name = rg_tf_dup(r, f.v[i].name, f.v[i].name_len);
        char *v = rg_tf_dup(r, f.v[i].value, f.v[i].value_len);

        rv = name == NULL || v == NULL
                 ? -ENOMEM
                 : rg_req_add_header(r, RG_TO_CLIENT, name, v);
        if (rv == -EINVAL) /* an upstream value the gateway refuses */
            rv = 0;
    }
    rg_tf_fields_free(&f);
    return rv;
}

static enum rg_filter_status rs_header(const struct rg_filter_call *fc)
{
    const struct rs_conf *c = fc->conf;
    struct rs_ctx *x = fc->ctx;
    struct rg_req *r = fc->r;
    int status = rg_req_status(r), rv = 0;
    const char *ct;
    size_t len;

    for (size_t i = 0; i < c->n_status; i++) {
        /* A refusal (a 101, which keeps its status) changes nothing. */
        if (c->from[i] == status && rg_resp_set_status(r, c->to[i]) != 0)
            break;
    }
    ct = rg_resp_header(r, "content-type", &len);
    x->json = ct != NULL && json_type(ct, len);
    rv = edit_headers(r, c);
    if (rv == 0 && c->response_time) {
        int64_t ms = rg_req_upstream_ms(r);
        char v[24];

        if (ms >= 0) {
            snprintf(v, sizeof(v), "%lld", (long long)ms);
            rv = rg_req_set_header(r, RG_TO_CLIENT, "X-Gateway-Response-Time",
                                   v);
        }
    }
    if (rv != 0) {
        rg_req_fail(r, rv);
        return RG_FILTER_ERROR;
    }
    return RG_FILTER_CONTINUE;
}

static enum rg_filter_status rs_body(const struct rg_filter_call *fc)
{
    const struct rs_conf *c = fc->conf;
    const struct rs_ctx *x = fc->ctx;
    struct rg_tf_json spec = {c->unwrap, &c->json, NULL};
    const char *p;
    char *out;
    size_t n, on;
    int rv;

    if (!x->json || rg_resp_body(fc->r, &p, &n) != 0 || n == 0)
        return RG_FILTER_CONTINUE;
    rv = rg_tf_json_body(&spec, p, n, &out, &on);
    if (rv > 0)
        return RG_FILTER_CONTINUE; /* not JSON: untouched */
    if (rv == 0) {
        rv = rg_resp_set_body(fc->r, out, on);
        free(out);
    }
    if (rv != 0) {
        rg_req_fail(fc->r, rv);
        return RG_FILTER_ERROR;
    }
    return RG_FILTER_CONTINUE;
}

const struct rg_filter_ops rg_plugin_response_transformer = {
    .schema = {.name = "response-transformer",
               .conf_parse = rs_parse,
               .conf_free = rs_free,
               .protocols = RG_PROTO_HTTP | RG_PROTO_HTTPS | RG_PROTO_GRPC |
                            RG_PROTO_GRPCS},
    .priority = 800, /* Kong's */
    .ctx_size = sizeof(struct rs_ctx),
    .wants = rs_wants,
    .on_header = rs_header,
    .on_body = rs_body,
};
