/* Kong credentials in the declarative file: keyauth_credentials[].{id, key,
 * ttl, tags, created_at}, nested under a consumer (consumers[].
 * keyauth_credentials) or at the top level with a `consumer` reference,
 * and the key index the key-auth plugin looks keys up in. */
#include <string.h>

#include "config/gw_int.h"
#include "core/alloc.h"

#define TTL_MAX 100000000 /* seconds, Kong's bound */

static struct rg_keyauth *cur(struct gw_ctx *c)
{
    return &c->gw->keyauths[c->gw->n_keyauths - 1];
}

static int ka_id(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;

    return rg_gw__unique(t, v, GW_ID, c, GW_X_KEYAUTH_ID,
                         c->gw->n_keyauths - 1, &cur(c)->id);
}

static int ka_key(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;

    return rg_gw__unique(t, v, GW_TEXT, c, GW_X_KEYAUTH_KEY,
                         c->gw->n_keyauths - 1, &cur(c)->key);
}

static int ka_ttl(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;
    int rv = rg_yt_int(t, v, 0, TTL_MAX, &x);

    if (rv == 0)
        cur(ctx)->ttl = (uint32_t)x;
    return rv;
}

static int ka_created_at(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;
    int rv = rg_yt_int(t, v, 0, INT64_MAX / 2, &x);

    if (rv == 0)
        cur(ctx)->created_at = x;
    return rv;
}

static int ka_consumer(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;

    if (c->consumer != RG_NO_INDEX)
        return rg_yt_err(t, v, "is given by the nesting (only a top-level "
                               "credential names its consumer)");
    return rg_gw__ref(t, v, c, GW_X_KEYAUTH_CONSUMER, &cur(c)->consumer);
}

/* clang-format off */
static const struct rg_yt_key keyauth_keys[] = {
    {"id", ka_id},
    {"key", ka_key},
    {"ttl", ka_ttl},
    {"consumer", ka_consumer},
    {"tags", rg_gw__key_tags},
    {"created_at", ka_created_at},
    {NULL, NULL},
};
/* clang-format on */

/* One credential; c->consumer is its consumer when nested, RG_NO_INDEX at
 * the top level. */
static int keyauth_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    struct gw_ctx *c = ctx;
    struct rg_gateway *gw = c->gw;
    struct rg_keyauth *k;
    int rv;

    (void)i;
    if (rg_gw__grow((void **)&gw->keyauths, &c->keyauth_cap, gw->n_keyauths,
                    sizeof(*gw->keyauths)) < 0)
        return rg_yt_nomem(t);
    k = &gw->keyauths[gw->n_keyauths++];
    memset(k, 0, sizeof(*k));
    k->consumer = c->consumer;
    rv = rg_yt_map(t, n, keyauth_keys, c);
    if (rv < 0)
        return rv;
    k = cur(c);
    if (k->key == NULL)
        return rg_yt_err(t, n, "needs a key");
    if (k->key[0] == '\0')
        return rg_yt_err(t, n, "key: must not be empty");
    if (k->consumer == RG_NO_INDEX)
        return rg_yt_err(t, n, "needs a consumer");
    if (k->ttl > 0 && k->created_at == 0)
        return rg_yt_err(t, n, "ttl needs created_at (seconds since the "
                               "epoch: when the credential was made)");
    return 0;
}

int rg_gw__consumer_keyauths(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_seq(t, v, keyauth_item, ctx);
}

int rg_gw__keyauth_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    struct gw_ctx *c = ctx;

    c->consumer = RG_NO_INDEX;
    return keyauth_item(t, n, i, ctx);
}

int rg_gw__keyauth_index(struct rg_gateway *gw)
{
    rg_strmap_init(&gw->keyauth_index, 0);
    for (size_t i = 0; i < gw->n_keyauths; i++) {
        const char *key = gw->keyauths[i].key;

        /* Keys are unique (GW_X_KEYAUTH_KEY): put only fails on memory. */
        if (rg_strmap_put(&gw->keyauth_index, key, strlen(key), i) < 0)
            return -1;
    }
    return 0;
}

size_t rg_gateway_find_keyauth(const struct rg_gateway *gw, const char *key,
                               size_t len)
{
    size_t i = rg_strmap_get(&gw->keyauth_index, key, len);

    return i == SIZE_MAX ? RG_NO_INDEX : i;
}

void rg_gw__keyauths_release(struct rg_gateway *gw)
{
    for (size_t i = 0; i < gw->n_keyauths; i++) {
        rg_free(gw->keyauths[i].id);
        rg_free(gw->keyauths[i].key);
    }
    rg_free(gw->keyauths);
    rg_strmap_release(&gw->keyauth_index);
}
