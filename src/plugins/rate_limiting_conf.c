/* rate-limiting's config reader: see rate_limiting.h. */
#include <string.h>

#include "core/alloc.h"
#include "core/siphash.h"
#include "plugins/conf_read.h"
#include "plugins/rate_limiting.h"
#include "plugins/ratelimit_table.h"

const char *const rg_rl__window_name[RG_RL_WINDOWS] = {"second", "minute", "hour",
                                                "day",    "month",  "year"};
const char *const rg_rl__window_title[RG_RL_WINDOWS] = {
    "Second", "Minute", "Hour", "Day", "Month", "Year"};

/* A window's count is 32 bits (ratelimit_table.h). */
#define LIMIT_MAX 4000000000LL

static void ident_free(struct rg_rl_ident *id)
{
    rg_free(id->header_name);
    rg_free(id->path);
}

void rg_rl__conf_free(void *p)
{
    struct rg_rl_conf *c = p;

    if (c == NULL)
        return;
    ident_free(&c->id);
    rg_free(c->error_body);
    for (size_t i = 0; i < c->n_buckets; i++) {
        rg_free(c->bucket[i].name);
        ident_free(&c->bucket[i].id);
    }
    rg_free(c);
}

static int window(struct rg_yt *t, yaml_node_t *v, void *ctx, int w)
{
    long long x;
    int rv = rg_yt_int(t, v, 1, LIMIT_MAX, &x);

    if (rv == 0)
        ((struct rg_rl_conf *)ctx)->limit[w] = (uint32_t)x;
    return rv;
}

/* clang-format off */
static int k_second(struct rg_yt *t, yaml_node_t *v, void *c) { return window(t, v, c, RG_RL_SECOND); }
static int k_minute(struct rg_yt *t, yaml_node_t *v, void *c) { return window(t, v, c, RG_RL_MINUTE); }
static int k_hour(struct rg_yt *t, yaml_node_t *v, void *c) { return window(t, v, c, RG_RL_HOUR); }
static int k_day(struct rg_yt *t, yaml_node_t *v, void *c) { return window(t, v, c, RG_RL_DAY); }
static int k_month(struct rg_yt *t, yaml_node_t *v, void *c) { return window(t, v, c, RG_RL_MONTH); }
static int k_year(struct rg_yt *t, yaml_node_t *v, void *c) { return window(t, v, c, RG_RL_YEAR); }
/* clang-format on */

static int read_by(struct rg_yt *t, yaml_node_t *v, struct rg_rl_ident *id)
{
    static const char *const by[] = {"consumer", "credential", "ip",
                                     "service",  "header",     "path",
                                     "consumer-group", NULL};
    int i = 0, rv = rg_yt_word(t, v, by, &i);

    if (rv == 0 && i == 6)
        return rg_yt_err(t, v, "consumer-group: raftgate has no consumer "
                               "groups");
    id->by = (enum rg_rl_by)i;
    return rv;
}

static int read_header_name(struct rg_yt *t, yaml_node_t *v,
                            struct rg_rl_ident *id)
{
    return rg_name_read(t, v, RG_NAME_HEADER, &id->header_name);
}

static int read_path(struct rg_yt *t, yaml_node_t *v, struct rg_rl_ident *id)
{
    int rv = rg_name_read(t, v, RG_NAME_ANY, &id->path);

    if (rv == 0 && id->path[0] != '/')
        return rg_yt_err(t, v, "must start with \"/\"");
    return rv;
}

/* limit_by's needs, checked once a mapping is read. */
static int ident_check(struct rg_yt *t, yaml_node_t *n,
                       const struct rg_rl_ident *id)
{
    if (id->by == RG_RL_BY_HEADER && id->header_name == NULL)
        return rg_yt_err(t, n, "limit_by header needs header_name");
    if (id->by == RG_RL_BY_PATH && id->path == NULL)
        return rg_yt_err(t, n, "limit_by path needs path");
    return 0;
}

static int k_limit_by(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_by(t, v, &((struct rg_rl_conf *)ctx)->id);
}

static int k_header_name(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_header_name(t, v, &((struct rg_rl_conf *)ctx)->id);
}

static int k_path(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_path(t, v, &((struct rg_rl_conf *)ctx)->id);
}

static int k_policy(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    static const char *const policies[] = {"local", "cluster", "redis", NULL};
    int i = 0, rv = rg_yt_word(t, v, policies, &i);

    ((struct rg_rl_conf *)ctx)->cluster = i != 0;
    return rv;
}

static int k_fault_tolerant(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct rg_rl_conf *)ctx)->fault_tolerant);
}

static int k_debug_header(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct rg_rl_conf *)ctx)->debug_header);
}

static int k_hide(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct rg_rl_conf *)ctx)->hide_client_headers);
}

static int k_error_code(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;
    int rv = rg_yt_int(t, v, 400, 599, &x);

    if (rv == 0)
        ((struct rg_rl_conf *)ctx)->error_code = (int)x;
    return rv;
}

static int k_error_message(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_message_read(t, v, &((struct rg_rl_conf *)ctx)->error_body);
}

static int k_sync_rate(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;

    (void)ctx;
    return rg_yt_int(t, v, -1, 86400, &x);
}

/* Kong 3.5's flat redis fields: any scalar, unused. */
static int k_scalar(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    (void)ctx;
    if (v->type != YAML_SCALAR_NODE)
        return rg_yt_err(t, v, "must be a scalar");
    return 0;
}

static int k_mapping(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    (void)ctx;
    if (v->type != YAML_MAPPING_NODE)
        return rg_yt_err(t, v, "must be a mapping");
    return 0;
}

/* ---- token_buckets ---- */

static int b_name(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_name_read(t, v, RG_NAME_WORD, &((struct rg_rl_bucket *)ctx)->name);
}

static int b_limit_by(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_by(t, v, &((struct rg_rl_bucket *)ctx)->id);
}

static int b_header_name(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_header_name(t, v, &((struct rg_rl_bucket *)ctx)->id);
}

static int b_path(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_path(t, v, &((struct rg_rl_bucket *)ctx)->id);
}

static int b_rate(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;
    int rv = rg_yt_int(t, v, 1, RG_RLT_RATE_MAX, &x);

    if (rv == 0)
        ((struct rg_rl_bucket *)ctx)->rate = (uint32_t)x;
    return rv;
}

static int b_burst(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;
    int rv = rg_yt_int(t, v, 1, RG_RLT_BURST_MAX, &x);

    if (rv == 0)
        ((struct rg_rl_bucket *)ctx)->burst = (uint32_t)x;
    return rv;
}

/* clang-format off */
static const struct rg_yt_key bucket_keys[] = {
    {"name", b_name}, {"limit_by", b_limit_by},
    {"header_name", b_header_name}, {"path", b_path},
    {"rate", b_rate}, {"burst", b_burst},
    {NULL, NULL},
};
/* clang-format on */

static int bucket_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    struct rg_rl_conf *c = ctx;
    struct rg_rl_bucket *b;
    int rv;

    if (i >= RG_RL_BUCKETS_MAX)
        return rg_yt_err(t, n, "at most %d token buckets", RG_RL_BUCKETS_MAX);
    b = &c->bucket[c->n_buckets++];
    rv = rg_yt_map(t, n, bucket_keys, b);
    if (rv < 0)
        return rv;
    if (b->name == NULL || b->rate == 0)
        return rg_yt_err(t, n, "a token bucket needs name and rate");
    if (b->burst == 0)
        b->burst = b->rate < RG_RLT_BURST_MAX ? b->rate : RG_RLT_BURST_MAX;
    for (int w = 0; w < RG_RL_WINDOWS; w++)
        if (strcmp(rg_rl__window_name[w], b->name) == 0)
            return rg_yt_err(t, n, "name %s: is a window's name (it would "
                                   "read as that window in "
                                   "X-RateLimit-Limit-Type)", b->name);
    for (size_t j = 0; j + 1 < c->n_buckets; j++)
        if (strcmp(c->bucket[j].name, b->name) == 0)
            return rg_yt_err(t, n, "name %s: duplicate", b->name);
    b->name_hash = rg_siphash_process(b->name, strlen(b->name));
    return ident_check(t, n, &b->id);
}

static int k_token_buckets(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_seq(t, v, bucket_item, ctx);
}

/* clang-format off */
static const struct rg_yt_key rl_keys[] = {
    {"second", k_second}, {"minute", k_minute}, {"hour", k_hour},
    {"day", k_day}, {"month", k_month}, {"year", k_year},
    {"limit_by", k_limit_by},
    {"header_name", k_header_name},
    {"path", k_path},
    {"policy", k_policy},
    {"fault_tolerant", k_fault_tolerant},
    {"debug_header", k_debug_header},
    {"hide_client_headers", k_hide},
    {"error_code", k_error_code},
    {"error_message", k_error_message},
    {"sync_rate", k_sync_rate},
    {"redis", k_mapping},
    {"redis_host", k_scalar}, {"redis_port", k_scalar},
    {"redis_password", k_scalar}, {"redis_username", k_scalar},
    {"redis_ssl", k_scalar}, {"redis_ssl_verify", k_scalar},
    {"redis_server_name", k_scalar}, {"redis_timeout", k_scalar},
    {"redis_database", k_scalar},
    {"token_buckets", k_token_buckets},
    {NULL, NULL},
};
/* clang-format on */

static int check_windows(struct rg_yt *t, yaml_node_t *config,
                         const struct rg_rl_conf *c)
{
    int any = 0, prev = -1;

    for (int w = 0; w < RG_RL_WINDOWS; w++) {
        if (c->limit[w] == 0)
            continue;
        any = 1;
        if (prev >= 0 && c->limit[w] < c->limit[prev])
            return rg_yt_err(t, config,
                             "the limit for %s (%u) cannot be lower than "
                             "the limit for %s (%u)",
                             rg_rl__window_name[w], c->limit[w],
                             rg_rl__window_name[prev], c->limit[prev]);
        prev = w;
    }
    if (!any && c->n_buckets == 0)
        return rg_yt_err(t, config, "needs at least one of second, minute, "
                                    "hour, day, month, year, "
                                    "token_buckets");
    return ident_check(t, config, &c->id);
}

int rg_rl__conf_parse(struct rg_yt *t, yaml_node_t *config, void **out)
{
    static const char dflt[] = "API rate limit exceeded";
    struct rg_rl_conf *c = rg_calloc(1, sizeof(*c));
    int rv = 0;

    *out = NULL;
    if (c == NULL)
        return rg_yt_nomem(t);
    c->fault_tolerant = 1;
    c->error_code = 429;
    c->error_body = rg_message_body(dflt, sizeof(dflt) - 1);
    if (c->error_body == NULL)
        rv = rg_yt_nomem(t);
    if (rv == 0 && config != NULL)
        rv = rg_yt_map(t, config, rl_keys, c);
    if (rv == 0)
        rv = check_windows(t, config, c);
    if (rv < 0) {
        rg_rl__conf_free(c);
        return rv;
    }
    *out = c;
    return 0;
}
