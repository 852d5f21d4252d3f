/* An upstream's `healthchecks` (Kong 3.x schema): active {type, http_path,
 * timeout, concurrency, healthy {interval, http_statuses, successes},
 * unhealthy {interval, http_statuses, tcp_failures, timeouts,
 * http_failures}}, passive {type, healthy {http_statuses, successes},
 * unhealthy {http_statuses, tcp_failures, timeouts, http_failures}},
 * threshold. Defaults are Kong's. Only `type: http` is supported. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config/gw_int.h"
#include "core/alloc.h"

#define COUNTER_MAX 255      /* Kong's bound on every counter */
#define INTERVAL_MAX 65535.0 /* s, Kong's bound */
#define TIMEOUT_MAX 65535.0  /* s */

static void set_add(struct rg_status_set *s, unsigned st)
{
    s->bits[st >> 6] |= (uint64_t)1 << (st & 63);
}

static void set_of(struct rg_status_set *s, const unsigned *v, size_t n)
{
    memset(s, 0, sizeof(*s));
    for (size_t i = 0; i < n; i++)
        set_add(s, v[i]);
}

void rg_gw__healthchecks_defaults(struct rg_healthchecks *hc)
{
    static const unsigned a_ok[] = {200, 302};
    static const unsigned a_bad[] = {429, 404, 500, 501, 502, 503, 504, 505};
    static const unsigned p_ok[] = {200, 201, 202, 203, 204, 205, 206,
                                    207, 208, 226, 300, 301, 302, 303,
                                    304, 305, 306, 307, 308};
    static const unsigned p_bad[] = {429, 500, 503};

    memset(hc, 0, sizeof(*hc));
    hc->active.http_path = rg_strdup("/");
    hc->active.timeout_ms = 1000;
    hc->active.concurrency = 10;
    set_of(&hc->active.healthy.statuses, a_ok, 2);
    set_of(&hc->active.unhealthy.statuses, a_bad, 8);
    set_of(&hc->passive.healthy.statuses, p_ok, 19);
    set_of(&hc->passive.unhealthy.statuses, p_bad, 3);
}

static struct rg_healthchecks *cur(struct gw_ctx *c)
{
    return &c->gw->upstreams[c->upstream].hc;
}

/* A number of seconds (Kong allows fractions) in 0..@max, as ms. */
static int read_secs(struct rg_yt *t, yaml_node_t *v, double max, uint32_t *ms)
{
    const char *s;
    char *end;
    size_t len;
    double x;

    if (v->type != YAML_SCALAR_NODE ||
        v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return rg_yt_err(t, v, "must be a number of seconds in 0..%g", max);
    s = (const char *)v->data.scalar.value;
    len = v->data.scalar.length;
    x = strtod(s, &end);
    if (len == 0 || end != s + len || !isfinite(x) || x < 0 || x > max)
        return rg_yt_err(t, v, "must be a number of seconds in 0..%g", max);
    *ms = (uint32_t)llround(x * 1000);
    return 0;
}

static int counter(struct rg_yt *t, yaml_node_t *v, uint8_t *out)
{
    long long x;
    int rv = rg_yt_int(t, v, 0, COUNTER_MAX, &x);

    if (rv == 0)
        *out = (uint8_t)x;
    return rv;
}

static int status_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    long long x;
    int rv = rg_yt_int(t, n, 100, 999, &x);

    (void)i;
    if (rv == 0)
        set_add(ctx, (unsigned)x);
    return rv;
}

static int sd_statuses(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct rg_status_set *s = &((struct gw_ctx *)ctx)->hc_side->statuses;

    memset(s, 0, sizeof(*s));
    return rg_yt_seq(t, v, status_item, s);
}

static int sd_interval(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;

    if (!c->hc_active)
        return rg_yt_err(t, v, "unknown key");
    return read_secs(t, v, INTERVAL_MAX, &c->hc_side->interval_ms);
}

static int sd_successes(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return counter(t, v, &((struct gw_ctx *)ctx)->hc_side->successes);
}

static int sd_tcp_failures(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return counter(t, v, &((struct gw_ctx *)ctx)->hc_side->tcp_failures);
}

static int sd_timeouts(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return counter(t, v, &((struct gw_ctx *)ctx)->hc_side->timeouts);
}

static int sd_http_failures(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return counter(t, v, &((struct gw_ctx *)ctx)->hc_side->http_failures);
}

/* clang-format off */
static const struct rg_yt_key healthy_keys[] = {
    {"interval", sd_interval},
    {"http_statuses", sd_statuses},
    {"successes", sd_successes},
    {NULL, NULL},
};

static const struct rg_yt_key unhealthy_keys[] = {
    {"interval", sd_interval},
    {"http_statuses", sd_statuses},
    {"tcp_failures", sd_tcp_failures},
    {"timeouts", sd_timeouts},
    {"http_failures", sd_http_failures},
    {NULL, NULL},
};
/* clang-format on */

static int side(struct rg_yt *t, yaml_node_t *v, struct gw_ctx *c,
                struct rg_hc_side *s, const struct rg_yt_key *keys)
{
    c->hc_side = s;
    return rg_yt_map(t, v, keys, c);
}

static int type_http(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    const char *s;
    size_t len;
    int rv = rg_yt_scalar(t, v, &s, &len);

    if (rv == 0 && strcmp(s, "http") != 0)
        return rg_yt_err(t, v, "only \"http\" is supported");
    return rv;
}

static int ac_http_path(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    const char *s;
    size_t len;
    int rv = rg_yt_scalar(t, v, &s, &len);

    if (rv == 0 && (len == 0 || s[0] != '/' || strpbrk(s, " \r\n") != NULL))
        return rg_yt_err(t, v, "must start with \"/\" and hold no spaces");
    return rv == 0 ? rg_yt_str(t, v, &cur(ctx)->active.http_path) : rv;
}

static int ac_timeout(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_secs(t, v, TIMEOUT_MAX, &cur(ctx)->active.timeout_ms);
}

static int ac_concurrency(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;
    int rv = rg_yt_int(t, v, 1, 2147483648LL, &x);

    if (rv == 0)
        cur(ctx)->active.concurrency = (unsigned)(x > 65535 ? 65535 : x);
    return rv;
}

static int ac_healthy(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return side(t, v, ctx, &cur(ctx)->active.healthy, healthy_keys);
}

static int ac_unhealthy(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return side(t, v, ctx, &cur(ctx)->active.unhealthy, unhealthy_keys);
}

static int pa_healthy(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return side(t, v, ctx, &cur(ctx)->passive.healthy, healthy_keys);
}

static int pa_unhealthy(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return side(t, v, ctx, &cur(ctx)->passive.unhealthy, unhealthy_keys);
}

/* clang-format off */
static const struct rg_yt_key active_keys[] = {
    {"type", type_http},
    {"http_path", ac_http_path},
    {"timeout", ac_timeout},
    {"concurrency", ac_concurrency},
    {"healthy", ac_healthy},
    {"unhealthy", ac_unhealthy},
    {"https_sni", NULL},
    {"https_verify_certificate", NULL},
    {"headers", NULL},
    {NULL, NULL},
};

static const struct rg_yt_key passive_keys[] = {
    {"type", type_http},
    {"healthy", pa_healthy},
    {"unhealthy", pa_unhealthy},
    {NULL, NULL},
};
/* clang-format on */

static int hc_active(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;
    int rv;

    c->hc_active = 1;
    rv = rg_yt_map(t, v, active_keys, c);
    c->hc_active = 0;
    return rv;
}

static int hc_passive(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_map(t, v, passive_keys, ctx);
}

static int hc_threshold(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    uint32_t ms;
    int rv = read_secs(t, v, 100, &ms);

    if (rv < 0)
        return rg_yt_err(t, v, "must be a number in 0..100");
    cur(ctx)->threshold = ms / 1000.0;
    return 0;
}

/* clang-format off */
static const struct rg_yt_key hc_keys[] = {
    {"active", hc_active},
    {"passive", hc_passive},
    {"threshold", hc_threshold},
    {NULL, NULL},
};
/* clang-format on */

int rg_gw__healthchecks(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_map(t, v, hc_keys, ctx);
}
