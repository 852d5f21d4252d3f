/* Plugins whose config is read and checked with Kong's schema, and
 * whose enforcement has not landed yet (issue 10): rate-limiting. A file that uses them (the
 * seed's kong.yml) loads everywhere a file loads; the request passes
 * untouched, and each config generation logs a warning naming them
 * (rg_filter_ops.pending). Each moves to its own file when it is
 * enforced.
 *
 * rate-limiting: second, minute, hour, day, month, year (at least one, a
 *   positive number, a shorter window never above a longer one), limit_by
 *   (consumer, credential, ip, service, header, path, consumer-group;
 *   header_name / path for the last two), policy (local, cluster, redis),
 *   fault_tolerant, hide_client_headers, error_code, error_message,
 *   sync_rate, redis (a mapping, not read).
 * (request-transformer and response-transformer are enforced:
 * request_transformer.c, response_transformer.c.) */
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

/* ---- rate-limiting ---- */

static const char *const windows[] = {"second", "minute", "hour",
                                      "day",    "month",  "year"};

struct rl {
    double limit[6];         /* 0: not set */
    int by_header, by_path;
    int has_header, has_path;
};

static int rl_window(struct rg_yt *t, yaml_node_t *v, struct rl *c, int w)
{
    long long x;
    int rv = rg_yt_int(t, v, 1, 1000000000000LL, &x);

    if (rv == 0)
        c->limit[w] = (double)x;
    return rv < 0 ? rg_yt_err(t, v, "expected a positive number") : 0;
}

static int k_second(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rl_window(t, v, ctx, 0);
}

static int k_minute(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rl_window(t, v, ctx, 1);
}

static int k_hour(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rl_window(t, v, ctx, 2);
}

static int k_day(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rl_window(t, v, ctx, 3);
}

static int k_month(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rl_window(t, v, ctx, 4);
}

static int k_year(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rl_window(t, v, ctx, 5);
}

/* @v must be one of the NULL-terminated @words; its index in *@out. */
static int one_of(struct rg_yt *t, yaml_node_t *v, const char *const *words,
                  const char *list, int *out)
{
    const char *s;
    size_t len;
    int rv = rg_yt_scalar(t, v, &s, &len);

    if (rv < 0)
        return rv;
    for (int i = 0; words[i] != NULL; i++) {
        if (strcmp(s, words[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    return rg_yt_err(t, v, "must be one of %s", list);
}

static int k_limit_by(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    static const char *const by[] = {"consumer", "credential", "ip",
                                     "service",  "header",     "path",
                                     "consumer-group", NULL};
    struct rl *c = ctx;
    int i = 0, rv = one_of(t, v, by,
                           "consumer, credential, ip, service, header, "
                           "path, consumer-group",
                           &i);

    c->by_header = i == 4;
    c->by_path = i == 5;
    return rv;
}

static int k_policy(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    static const char *const policies[] = {"local", "cluster", "redis", NULL};
    int i;

    return one_of(t, v, policies, "local, cluster, redis", &i);
}

static int k_bool(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    int b;

    return rg_yt_bool(t, v, &b);
}

static int k_text(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    const char *s;
    size_t len;

    return rg_yt_scalar(t, v, &s, &len);
}

static int k_header_name(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    ((struct rl *)ctx)->has_header = 1;
    return k_text(t, v, ctx);
}

static int k_path(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    ((struct rl *)ctx)->has_path = 1;
    return k_text(t, v, ctx);
}

static int k_error_code(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;

    return rg_yt_int(t, v, 400, 599, &x);
}

static int k_sync_rate(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;

    return rg_yt_int(t, v, -1, 86400, &x);
}

static int k_mapping(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    if (v->type != YAML_MAPPING_NODE)
        return rg_yt_err(t, v, "must be a mapping");
    return 0;
}

/* clang-format off */
static const struct rg_yt_key rl_keys[] = {
    {"second", k_second}, {"minute", k_minute}, {"hour", k_hour},
    {"day", k_day}, {"month", k_month}, {"year", k_year},
    {"limit_by", k_limit_by},
    {"header_name", k_header_name},
    {"path", k_path},
    {"policy", k_policy},
    {"fault_tolerant", k_bool},
    {"hide_client_headers", k_bool},
    {"error_code", k_error_code},
    {"error_message", k_text},
    {"sync_rate", k_sync_rate},
    {"redis", k_mapping},
    {NULL, NULL},
};
/* clang-format on */

static int rl_parse(struct rg_yt *t, yaml_node_t *config, void **out)
{
    struct rl c;
    int rv = 0, any = 0;
    double prev = 0;
    int prev_w = -1;

    *out = NULL;
    memset(&c, 0, sizeof(c));
    if (config != NULL)
        rv = rg_yt_map(t, config, rl_keys, &c);
    if (rv < 0)
        return rv;
    for (int w = 0; w < 6; w++) {
        if (c.limit[w] == 0)
            continue;
        any = 1;
        if (prev_w >= 0 && c.limit[w] < prev)
            return rg_yt_err(t, config,
                             "the limit for %s (%.0f) cannot be lower than "
                             "the limit for %s (%.0f)",
                             windows[w], c.limit[w], windows[prev_w], prev);
        prev = c.limit[w];
        prev_w = w;
    }
    if (!any)
        return rg_yt_err(t, config, "needs at least one of second, minute, "
                                    "hour, day, month, year");
    if (c.by_header && !c.has_header)
        return rg_yt_err(t, config, "limit_by header needs header_name");
    if (c.by_path && !c.has_path)
        return rg_yt_err(t, config, "limit_by path needs path");
    return done(out);
}

#define ALL_PROTOS                                                             \
    (RG_PROTO_HTTP | RG_PROTO_HTTPS | RG_PROTO_GRPC | RG_PROTO_GRPCS)

const struct rg_filter_ops rg_plugin_rate_limiting = {
    .schema = {.name = "rate-limiting",
               .conf_parse = rl_parse,
               .conf_free = pending_free,
               .protocols = ALL_PROTOS},
    .priority = 910, /* Kong's */
    .pending = "issue 10",
};
