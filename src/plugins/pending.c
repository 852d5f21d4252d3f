/* Plugins whose config is read and checked with Kong's schema, and
 * whose enforcement has not landed yet (issue 10): request-transformer,
 * response-transformer. A file that uses them (the
 * seed's kong.yml) loads everywhere a file loads; the request passes
 * untouched, and each config generation logs a warning naming them
 * (rg_filter_ops.pending). Each moves to its own file when it is
 * enforced.
 *
 * request-transformer: http_method, and remove/rename/replace/add/append
 *   with headers, querystring, body (lists of "name" or "name:value";
 *   replace also uri).
 * response-transformer: remove/rename/replace/add/append with headers and
 *   json (and json_types). */
#include <string.h>

#include "config/yamltree.h"
#include "core/alloc.h"
#include "http/filter.h"

/* Nothing of these configs is kept yet: a parse leaves a marker. */
static char checked;

static void pending_free(void *p)
{
    (void)p;
}

static int done(void **out)
{
    *out = &checked;
    return 0;
}

static int k_text(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    const char *s;
    size_t len;

    return rg_yt_scalar(t, v, &s, &len);
}

/* ---- the transformers ---- */

/* An item of a list: "name" (@colon 0) or "name:value" (@colon 1). */
static int entry_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    int colon = *(const int *)ctx;
    const char *s, *c;
    size_t len;
    int rv = rg_yt_scalar(t, n, &s, &len);

    if (rv < 0)
        return rv;
    c = memchr(s, ':', len);
    if (len == 0 || (colon && (c == NULL || c == s)))
        return rg_yt_err(t, n, colon ? "must be \"name:value\""
                                     : "must not be empty");
    return 0;
}

static int names(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    static const int colon = 0;

    return rg_yt_seq(t, v, entry_item, (void *)&colon);
}

static int pairs(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    static const int colon = 1;

    return rg_yt_seq(t, v, entry_item, (void *)&colon);
}

/* clang-format off */
static const struct rg_yt_key rq_remove[] = {
    {"headers", names}, {"querystring", names}, {"body", names},
    {NULL, NULL},
};
static const struct rg_yt_key rq_pairs[] = {
    {"headers", pairs}, {"querystring", pairs}, {"body", pairs},
    {NULL, NULL},
};
static const struct rg_yt_key rq_replace[] = {
    {"uri", k_text}, {"headers", pairs}, {"querystring", pairs},
    {"body", pairs},
    {NULL, NULL},
};
static const struct rg_yt_key rs_remove[] = {
    {"headers", names}, {"json", names},
    {NULL, NULL},
};
static const struct rg_yt_key rs_pairs[] = {
    {"headers", pairs}, {"json", pairs}, {"json_types", names},
    {NULL, NULL},
};
/* clang-format on */

static int rq_k_remove(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_map(t, v, rq_remove, ctx);
}

static int rq_k_pairs(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_map(t, v, rq_pairs, ctx);
}

static int rq_k_replace(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_map(t, v, rq_replace, ctx);
}

static int rs_k_remove(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_map(t, v, rs_remove, ctx);
}

static int rs_k_pairs(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_map(t, v, rs_pairs, ctx);
}

/* clang-format off */
static const struct rg_yt_key rq_keys[] = {
    {"http_method", k_text},
    {"remove", rq_k_remove}, {"rename", rq_k_pairs},
    {"replace", rq_k_replace}, {"add", rq_k_pairs}, {"append", rq_k_pairs},
    {NULL, NULL},
};
static const struct rg_yt_key rs_keys[] = {
    {"remove", rs_k_remove}, {"rename", rs_k_pairs},
    {"replace", rs_k_pairs}, {"add", rs_k_pairs}, {"append", rs_k_pairs},
    {NULL, NULL},
};
/* clang-format on */

static int rq_parse(struct rg_yt *t, yaml_node_t *config, void **out)
{
    int rv = config != NULL ? rg_yt_map(t, config, rq_keys, NULL) : 0;

    *out = NULL;
    return rv < 0 ? rv : done(out);
}

static int rs_parse(struct rg_yt *t, yaml_node_t *config, void **out)
{
    int rv = config != NULL ? rg_yt_map(t, config, rs_keys, NULL) : 0;

    *out = NULL;
    return rv < 0 ? rv : done(out);
}

#define ALL_PROTOS                                                             \
    (RG_PROTO_HTTP | RG_PROTO_HTTPS | RG_PROTO_GRPC | RG_PROTO_GRPCS)

const struct rg_filter_ops rg_plugin_request_transformer = {
    .schema = {.name = "request-transformer",
               .conf_parse = rq_parse,
               .conf_free = pending_free,
               .protocols = ALL_PROTOS},
    .priority = 801,
    .pending = "issue 10",
};

const struct rg_filter_ops rg_plugin_response_transformer = {
    .schema = {.name = "response-transformer",
               .conf_parse = rs_parse,
               .conf_free = pending_free,
               .protocols = ALL_PROTOS},
    .priority = 800,
    .pending = "issue 10",
};
