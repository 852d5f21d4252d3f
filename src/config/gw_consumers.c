/* Kong consumers in the declarative file: consumers[].{id, username,
 * custom_id, tags, plugins, keyauth_credentials, jwt_secrets, acls} (credentials: gw_creds.c;
 * the other credential lists must be empty until their plugins land). */
#include <string.h>

#include "config/gw_int.h"
#include "core/alloc.h"

static struct rg_consumer *cur(struct gw_ctx *c)
{
    return &c->gw->consumers[c->consumer];
}

static int cs_id(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;

    return rg_gw__unique(t, v, GW_ID, c, GW_X_CONSUMER_ID, c->consumer,
                         &cur(c)->id);
}

static int cs_username(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;

    return rg_gw__unique(t, v, GW_TEXT, c, GW_X_CONSUMER_NAME, c->consumer,
                         &cur(c)->username);
}

static int cs_custom_id(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;

    return rg_gw__unique(t, v, GW_TEXT, c, GW_X_CONSUMER_CID, c->consumer,
                         &cur(c)->custom_id);
}

/* clang-format off */
static const struct rg_yt_key consumer_keys[] = {
    {"id", cs_id},
    {"username", cs_username},
    {"custom_id", cs_custom_id},
    {"tags", rg_gw__key_tags},
    {"created_at", rg_gw__key_timestamp},
    {"updated_at", rg_gw__key_timestamp},
    {"plugins", rg_gw__consumer_plugins},
    {"acls", rg_gw__consumer_acls},
    {"basicauth_credentials", rg_gw__key_empty_list},
    {"hmacauth_credentials", rg_gw__key_empty_list},
    {"jwt_secrets", rg_gw__consumer_jwts},
    {"keyauth_credentials", rg_gw__consumer_keyauths},
    {"oauth2_credentials", rg_gw__key_empty_list},
    {"mtls_auth_credentials", rg_gw__key_empty_list},
    {NULL, NULL},
};
/* clang-format on */

int rg_gw__consumer_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    struct gw_ctx *c = ctx;
    struct rg_gateway *gw = c->gw;
    int rv;

    (void)i;
    if (rg_gw__grow((void **)&gw->consumers, &c->consumer_cap,
                    gw->n_consumers, sizeof(*gw->consumers)) < 0)
        return rg_yt_nomem(t);
    memset(&gw->consumers[gw->n_consumers], 0, sizeof(*gw->consumers));
    c->consumer = gw->n_consumers++;
    rv = rg_yt_map(t, n, consumer_keys, c);
    if (rv < 0)
        return rv;
    if (cur(c)->username == NULL && cur(c)->custom_id == NULL)
        return rg_yt_err(t, n, "needs a username or a custom_id");
    return 0;
}

void rg_gw__consumer_release(struct rg_consumer *p)
{
    rg_free(p->id);
    rg_free(p->username);
    rg_free(p->custom_id);
}
