/* Kong upstreams and targets in the declarative file:
 * upstreams[].{name, id, algorithm, hash_on, hash_fallback, hash_on_header,
 * hash_fallback_header, slots, healthchecks, targets, tags, created_at,
 * updated_at} and targets[].{id, target, weight, upstream, tags,
 * created_at, updated_at}, nested or top-level (gateway.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config/gw_int.h"
#include "core/alloc.h"

#define KONG_SLOTS 10000
#define SLOTS_MIN 10
#define SLOTS_MAX 65536
#define KONG_TARGET_PORT 8000 /* Kong's default when "host" has no port */
#define KONG_WEIGHT 100
#define WEIGHT_MAX 65535

static struct rg_upstream *cur(struct gw_ctx *c)
{
    return &c->gw->upstreams[c->upstream];
}

static struct rg_target *cur_target(struct gw_ctx *c)
{
    return &c->gw->targets[c->gw->n_targets - 1];
}

static void lower(char *s)
{
    for (; *s != '\0'; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

/* ---- Upstream keys ---- */

static int up_name(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;
    const char *s;
    size_t len;
    int rv = rg_yt_scalar(t, v, &s, &len);

    /* Kong: the name is a hostname (services name it in their host). */
    if (rv == 0 && (!rg_gw__host_ok(s, len) || memchr(s, ':', len)))
        return rg_yt_err(t, v,
                         "must be a host name (letters, digits, "
                         "\"-\", \"_\" and dots)");
    if (rv == 0)
        rv = rg_gw__unique(t, v, GW_TEXT, c, GW_X_UPSTREAM_NAME, c->upstream,
                           &cur(c)->name);
    if (rv == 0)
        lower(cur(c)->name);
    return rv;
}

static int up_id(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;

    return rg_gw__unique(t, v, GW_ID, c, GW_X_UPSTREAM_ID, c->upstream,
                         &cur(c)->id);
}

static int up_algorithm(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    static const char *const words[] = {"round-robin", "least-connections",
                                        "consistent-hashing", "random", NULL};
    const char *s;
    size_t len;
    int i, rv = rg_yt_scalar(t, v, &s, &len);

    if (rv == 0 && strcmp(s, "latency") == 0)
        return rg_yt_err(t, v,
                         "\"latency\" is not supported (round-robin, "
                         "least-connections, consistent-hashing or "
                         "random)");
    if (rv == 0)
        rv = rg_yt_word(t, v, words, &i);
    if (rv == 0)
        cur(ctx)->algorithm = (enum rg_lb_algo)i;
    return rv;
}

static int read_hash_on(struct rg_yt *t, yaml_node_t *v, enum rg_hash_on *out)
{
    static const char *const words[] = {"none",   "consumer", "ip",
                                        "header", "path",     NULL};
    const char *s;
    size_t len;
    int i, rv = rg_yt_scalar(t, v, &s, &len);

    if (rv == 0 && (strcmp(s, "cookie") == 0 || strcmp(s, "query_arg") == 0 ||
                    strcmp(s, "uri_capture") == 0))
        return rg_yt_err(t, v,
                         "\"%s\" is not supported (none, consumer, ip, "
                         "header or path)",
                         s);
    if (rv == 0)
        rv = rg_yt_word(t, v, words, &i);
    if (rv == 0)
        *out = (enum rg_hash_on)i;
    return rv;
}

static int up_hash_on(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_hash_on(t, v, &cur(ctx)->hash_on);
}

static int up_hash_fallback(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_hash_on(t, v, &cur(ctx)->hash_fallback);
}

static int read_header(struct rg_yt *t, yaml_node_t *v, char **out)
{
    const char *s;
    size_t len;
    int rv = rg_yt_scalar(t, v, &s, &len);

    for (size_t i = 0; rv == 0 && i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
            return rg_yt_err(t, v, "must be a header name");
    if (rv == 0 && len == 0)
        return rg_yt_err(t, v, "must be a header name");
    if (rv == 0)
        rv = rg_yt_str(t, v, out);
    if (rv == 0)
        lower(*out);
    return rv;
}

static int up_hash_on_header(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_header(t, v, &cur(ctx)->hash_on_header);
}

static int up_hash_fallback_header(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_header(t, v, &cur(ctx)->hash_fallback_header);
}

static int up_slots(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;
    int rv = rg_yt_int(t, v, SLOTS_MIN, SLOTS_MAX, &x);

    if (rv == 0)
        cur(ctx)->slots = (uint32_t)x;
    return rv;
}

static int up_targets(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;
    int rv;

    c->nested_target = 1;
    rv = rg_yt_seq(t, v, rg_gw__target_item, c);
    c->nested_target = 0;
    return rv;
}

/* clang-format off */
static const struct rg_yt_key upstream_keys[] = {
    {"name", up_name},
    {"id", up_id},
    {"algorithm", up_algorithm},
    {"hash_on", up_hash_on},
    {"hash_fallback", up_hash_fallback},
    {"hash_on_header", up_hash_on_header},
    {"hash_fallback_header", up_hash_fallback_header},
    {"slots", up_slots},
    {"healthchecks", rg_gw__healthchecks},
    {"targets", up_targets},
    {"tags", rg_gw__key_tags},
    {"created_at", rg_gw__key_timestamp},
    {"updated_at", rg_gw__key_timestamp},
    {"host_header", NULL},
    {"client_certificate", NULL},
    {"hash_on_cookie", NULL},
    {"hash_on_cookie_path", NULL},
    {"hash_on_query_arg", NULL},
    {"hash_fallback_query_arg", NULL},
    {"hash_on_uri_capture", NULL},
    {"hash_fallback_uri_capture", NULL},
    {"use_srv_name", NULL},
    {NULL, NULL},
};
/* clang-format on */

/* Kong's entity checks on the hash keys. */
static int upstream_finish(struct rg_yt *t, yaml_node_t *n,
                           const struct rg_upstream *u)
{
    if (u->name == NULL)
        return rg_yt_err(t, n, "needs a name");
    if (u->hash_on == RG_HASH_HEADER && u->hash_on_header == NULL)
        return rg_yt_err(t, n, "hash_on: header needs hash_on_header");
    if (u->hash_fallback == RG_HASH_HEADER && u->hash_fallback_header == NULL)
        return rg_yt_err(t, n,
                         "hash_fallback: header needs hash_fallback_header");
    if (u->hash_on == RG_HASH_NONE && u->hash_fallback != RG_HASH_NONE)
        return rg_yt_err(t, n,
                         "hash_fallback: must be none when hash_on is "
                         "none");
    if (u->hash_fallback != RG_HASH_NONE && u->hash_fallback == u->hash_on &&
        u->hash_on != RG_HASH_HEADER)
        return rg_yt_err(t, n, "hash_fallback: must differ from hash_on");
    return 0;
}

int rg_gw__upstream_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    struct gw_ctx *c = ctx;
    struct rg_gateway *gw = c->gw;
    struct rg_upstream *u;
    int rv;

    (void)i;
    if (rg_gw__grow((void **)&gw->upstreams, &c->upstream_cap, gw->n_upstreams,
                    sizeof(*u)) < 0)
        return rg_yt_nomem(t);
    u = &gw->upstreams[gw->n_upstreams];
    memset(u, 0, sizeof(*u));
    u->slots = KONG_SLOTS;
    rg_gw__healthchecks_defaults(&u->hc);
    c->upstream = gw->n_upstreams++;
    rv = u->hc.active.http_path == NULL ? rg_yt_nomem(t) : 0;
    if (rv == 0)
        rv = rg_yt_map(t, n, upstream_keys, c);
    return rv < 0 ? rv : upstream_finish(t, n, cur(c));
}

/* ---- Target keys ---- */

static int tg_id(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;

    return rg_gw__unique(t, v, GW_ID, c, GW_X_TARGET_ID, c->gw->n_targets - 1,
                         &cur_target(c)->id);
}

/* "host", "host:port", "[v6]" or "[v6]:port" (Kong's target syntax). */
static int split_target(const char *s, size_t len, const char **h, size_t *hlen,
                        long *port)
{
    const char *colon = NULL, *end = s + len;

    *port = KONG_TARGET_PORT;
    if (len > 0 && s[0] == '[') {
        const char *rb = memchr(s, ']', len);

        if (rb == NULL || (rb + 1 != end && rb[1] != ':'))
            return -1;
        *h = s + 1;
        *hlen = (size_t)(rb - s - 1);
        colon = rb + 1 != end ? rb + 1 : NULL;
    } else {
        colon = memchr(s, ':', len);
        *h = s;
        *hlen = colon ? (size_t)(colon - s) : len;
    }
    if (colon == NULL)
        return 0;
    if (colon + 1 == end || end - colon > 6)
        return -1;
    *port = 0;
    for (const char *p = colon + 1; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        *port = *port * 10 + (*p - '0');
    }
    return *port >= 1 && *port <= 65535 ? 0 : -1;
}

static int tg_target(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct rg_target *tg = cur_target(ctx);
    char buf[300];
    const char *s, *h;
    size_t len, hlen;
    long port;
    int rv = rg_yt_scalar(t, v, &s, &len);

    if (rv < 0)
        return rv;
    if (split_target(s, len, &h, &hlen, &port) != 0 || !rg_gw__host_ok(h, hlen))
        return rg_yt_err(t, v, "must be \"host[:port]\" (port 1..65535)");
    rg_free(tg->host);
    rg_free(tg->target);
    tg->host = rg_strndup(h, hlen);
    if (tg->host == NULL)
        return rg_yt_nomem(t);
    lower(tg->host);
    tg->port = (uint16_t)port;
    snprintf(buf, sizeof(buf), strchr(tg->host, ':') ? "[%s]:%u" : "%s:%u",
             tg->host, tg->port);
    tg->target = rg_strdup(buf);
    return tg->target == NULL ? rg_yt_nomem(t) : 0;
}

static int tg_weight(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;
    int rv = rg_yt_int(t, v, 0, WEIGHT_MAX, &x);

    if (rv == 0)
        cur_target(ctx)->weight = (uint32_t)x;
    return rv;
}

static int tg_upstream(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;

    if (c->nested_target)
        return rg_yt_err(t, v,
                         "not allowed in a target nested under an "
                         "upstream");
    return rg_gw__ref(t, v, c, GW_X_TARGET_UPSTREAM, &cur_target(c)->upstream);
}

/* clang-format off */
static const struct rg_yt_key target_keys[] = {
    {"id", tg_id},
    {"target", tg_target},
    {"weight", tg_weight},
    {"upstream", tg_upstream},
    {"tags", rg_gw__key_tags},
    {"created_at", rg_gw__key_timestamp},
    {"updated_at", rg_gw__key_timestamp},
    {NULL, NULL},
};
/* clang-format on */

/* Kong: a target is named once per upstream. */
static int target_finish(struct rg_yt *t, yaml_node_t *n, struct gw_ctx *c)
{
    struct rg_target *tg = cur_target(c);
    char key[320], clip[64];
    int rv;

    if (tg->target == NULL)
        return rg_yt_err(t, n, "needs a target");
    if (tg->upstream == SIZE_MAX)
        return rg_yt_err(t, n, "needs an upstream");
    snprintf(key, sizeof(key), "%zu %s", tg->upstream, tg->target);
    rv = rg_gw__group_key(c, GW_X_TARGET_TARGET, key, strlen(key),
                          c->gw->n_targets - 1);
    if (rv < 0)
        return rg_yt_nomem(t);
    if (rv > 0) {
        rg_yt_clip(tg->target, strlen(tg->target), clip, sizeof(clip));
        return rg_yt_err(t, n, "duplicate target \"%s\" in upstream \"%s\"",
                         clip, c->gw->upstreams[tg->upstream].name);
    }
    return 0;
}

int rg_gw__target_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    struct gw_ctx *c = ctx;
    struct rg_gateway *gw = c->gw;
    struct rg_target *tg;
    int rv;

    (void)i;
    if (rg_gw__grow((void **)&gw->targets, &c->target_cap, gw->n_targets,
                    sizeof(*tg)) < 0)
        return rg_yt_nomem(t);
    tg = &gw->targets[gw->n_targets++];
    memset(tg, 0, sizeof(*tg));
    tg->weight = KONG_WEIGHT;
    tg->upstream = c->nested_target ? c->upstream : SIZE_MAX;
    rv = rg_yt_map(t, n, target_keys, c);
    return rv < 0 ? rv : target_finish(t, n, c);
}

void rg_gw__upstreams_release(struct rg_gateway *gw)
{
    for (size_t i = 0; i < gw->n_upstreams; i++) {
        struct rg_upstream *u = &gw->upstreams[i];

        rg_free(u->name);
        rg_free(u->id);
        rg_free(u->hash_on_header);
        rg_free(u->hash_fallback_header);
        rg_free(u->hc.active.http_path);
    }
    rg_free(gw->upstreams);
    for (size_t i = 0; i < gw->n_targets; i++) {
        rg_free(gw->targets[i].id);
        rg_free(gw->targets[i].target);
        rg_free(gw->targets[i].host);
    }
    rg_free(gw->targets);
}
