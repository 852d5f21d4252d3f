/* acl: Kong's access control by consumer group. It runs after the
 * authentication plugins (priority 950) on the consumer they found; the
 * groups are the consumer's acls (config/gateway.h rg_gateway_in_group).
 * Config, as Kong 3's:
 *
 *   allow: [groups]          the consumer must be in one of them
 *   deny: [groups]           ... or in none of them (one of the two)
 *   hide_groups_header: false  else X-Consumer-Groups: g1, g2 upstream
 *                            (the client's own is never forwarded)
 *   always_use_authenticated_groups, include_consumer_groups: false
 *                            (true is refused: no plugin sets
 *                            authenticated or consumer groups yet)
 *
 * Answers, as Kong's: 401 {"message":"You cannot consume this service"}
 * without a consumer (no authentication plugin ran, or it let the request
 * through without one), 403 with the same message for a consumer the
 * lists keep out. */
#include <errno.h>
#include <string.h>

#include "config/yamltree.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "http/filter.h"
#include "http/req.h"
#include "plugins/conf_read.h"

#define ACL_GROUPS_MAX 64

struct acl_conf {
    struct rg_names groups;
    int deny;                /* the list is deny, else allow */
    int hide;
};

static void acl_conf_free(void *p)
{
    struct acl_conf *c = p;

    if (c == NULL)
        return;
    rg_names_free(&c->groups);
    rg_free(c);
}

/* allow or deny: one of them, as Kong's entity check. */
static int read_list(struct rg_yt *t, yaml_node_t *v, struct acl_conf *c,
                     int deny)
{
    if (c->groups.n > 0 || (c->deny && !deny))
        return rg_yt_err(t, v, "allow and deny cannot both be set");
    c->deny = deny;
    return rg_names_read(t, v, &c->groups, ACL_GROUPS_MAX, RG_NAME_ANY,
                         "groups");
}

static int k_allow(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_list(t, v, ctx, 0);
}

static int k_deny(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_list(t, v, ctx, 1);
}

static int k_hide(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct acl_conf *)ctx)->hide);
}

/* No plugin sets authenticated or consumer groups yet: only false. */
static int k_groups_off(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    int b;
    int rv = rg_yt_bool(t, v, &b);

    if (rv == 0 && b)
        return rg_yt_err(t, v, "true is not supported yet");
    return rv;
}

/* clang-format off */
static const struct rg_yt_key acl_keys[] = {
    {"allow", k_allow},
    {"deny", k_deny},
    {"hide_groups_header", k_hide},
    {"always_use_authenticated_groups", k_groups_off},
    {"include_consumer_groups", k_groups_off},
    {NULL, NULL},
};
/* clang-format on */

static int acl_conf_parse(struct rg_yt *t, yaml_node_t *config, void **out)
{
    struct acl_conf *c = rg_calloc(1, sizeof(*c));
    int rv = 0;

    *out = NULL;
    if (c == NULL)
        return rg_yt_nomem(t);
    if (config != NULL)
        rv = rg_yt_map(t, config, acl_keys, c);
    if (rv == 0 && c->groups.n == 0)
        rv = rg_yt_err(t, config, "needs allow or deny (at least one "
                                  "group)");
    if (rv < 0) {
        acl_conf_free(c);
        return rv;
    }
    *out = c;
    return 0;
}

/* X-Consumer-Groups: the consumer's groups, comma-separated. */
static int groups_header(struct rg_req *r, const struct rg_gateway *gw,
                         size_t ci)
{
    struct rg_buf b;
    int rv;

    if (gw->acl_first[ci] == gw->acl_first[ci + 1])
        return rg_req_set_header(r, RG_TO_UPSTREAM, "X-Consumer-Groups",
                                 NULL);
    rg_buf_init(&b, 65536);
    for (size_t i = gw->acl_first[ci]; i < gw->acl_first[ci + 1]; i++) {
        if (i > gw->acl_first[ci])
            rg_buf_adds(&b, ", ");
        rg_buf_adds(&b, gw->acls[i].cred.key);
    }
    rg_buf_add(&b, "", 1);
    rv = rg_buf_error(&b);
    if (rv == 0)
        rv = rg_req_set_header(r, RG_TO_UPSTREAM, "X-Consumer-Groups", b.p);
    rg_buf_release(&b);
    return rv;
}

static enum rg_filter_status respond(struct rg_req *r, int status)
{
    static const char body[] =
        "{\"message\":\"You cannot consume this service\"}";

    return rg_req_respond(r, status, body, sizeof(body) - 1) == 0
               ? RG_FILTER_RESPOND
               : RG_FILTER_ERROR;
}

static enum rg_filter_status acl_access(const struct rg_filter_call *fc)
{
    const struct acl_conf *c = fc->conf;
    const struct rg_gateway *gw = rg_req_gateway(fc->r);
    size_t ci = rg_req_consumer(fc->r);
    int in = 0;

    if (ci == RG_NO_INDEX)
        return respond(fc->r, 401);
    for (size_t i = 0; i < c->groups.n && !in; i++)
        in = rg_gateway_in_group(gw, ci, c->groups.v[i],
                                 strlen(c->groups.v[i]));
    if (in == c->deny)
        return respond(fc->r, 403);
    if ((c->hide ? rg_req_set_header(fc->r, RG_TO_UPSTREAM,
                                     "X-Consumer-Groups", NULL)
                 : groups_header(fc->r, gw, ci)) != 0) {
        rg_req_fail(fc->r, -ENOMEM);
        return RG_FILTER_ERROR;
    }
    return RG_FILTER_CONTINUE;
}

const struct rg_filter_ops rg_plugin_acl = {
    .schema = {.name = "acl",
               .conf_parse = acl_conf_parse,
               .conf_free = acl_conf_free,
               .protocols = RG_PROTO_HTTP | RG_PROTO_HTTPS | RG_PROTO_GRPC |
                            RG_PROTO_GRPCS,
               .no_consumer = 1},
    .priority = 950, /* Kong's */
    .on_access = acl_access,
};
