/* authorization: roles and permissions, the feature source's
 * AuthHandler.authorize (Kong has no such plugin; this one is
 * raftgate's). It runs after authentication (priority 940, after acl) on
 * what the request proved: the claims of the token jwt verified
 * (rg_req_claims) and the consumer's ACL groups. The `admin` role passes
 * everything; otherwise the caller needs every permission listed and, when
 * roles are listed, one of them. Config:
 *
 *   permissions: []          all required, e.g. ["users:read"]
 *   roles: []                one required
 *   admin_role: admin        the role that passes everything
 *   roles_claim: roles       the token claim holding role names (a list
 *                            of strings, or one string)
 *   permissions_claim: permissions
 *   consumer_groups_as_roles: true   the consumer's acls count as roles
 *
 * Answers 401 {"message":"Unauthorized"} when nothing authenticated the
 * request, 403 {"message":"Forbidden: missing permission <p>"} or
 * {"message":"Forbidden: missing role"} otherwise. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "config/yamltree.h"
#include "core/alloc.h"
#include "http/filter.h"
#include "http/req.h"
#include "plugins/conf_read.h"

#define AZ_LIST_MAX 32

struct az_conf {
    struct rg_names permissions, roles;
    char *admin_role;
    char *roles_claim, *permissions_claim;
    int groups_as_roles;
};

/* ---- config ---- */

static void az_conf_free(void *p)
{
    struct az_conf *c = p;

    if (c == NULL)
        return;
    rg_names_free(&c->permissions);
    rg_names_free(&c->roles);
    rg_free(c->admin_role);
    rg_free(c->roles_claim);
    rg_free(c->permissions_claim);
    rg_free(c);
}

/* A role, permission or claim name goes into 403 bodies. */
static int read_name(struct rg_yt *t, yaml_node_t *n, char **out)
{
    return rg_name_read(t, n, RG_NAME_WORD, out);
}

static int k_permissions(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_names_read(t, v, &((struct az_conf *)ctx)->permissions,
                         AZ_LIST_MAX, RG_NAME_WORD, "names");
}

static int k_roles(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_names_read(t, v, &((struct az_conf *)ctx)->roles, AZ_LIST_MAX,
                         RG_NAME_WORD, "names");
}

static int k_admin_role(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_name(t, v, &((struct az_conf *)ctx)->admin_role);
}

static int k_roles_claim(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_name(t, v, &((struct az_conf *)ctx)->roles_claim);
}

static int k_permissions_claim(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_name(t, v, &((struct az_conf *)ctx)->permissions_claim);
}

static int k_groups(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct az_conf *)ctx)->groups_as_roles);
}

/* clang-format off */
static const struct rg_yt_key az_keys[] = {
    {"permissions", k_permissions},
    {"roles", k_roles},
    {"admin_role", k_admin_role},
    {"roles_claim", k_roles_claim},
    {"permissions_claim", k_permissions_claim},
    {"consumer_groups_as_roles", k_groups},
    {NULL, NULL},
};
/* clang-format on */

static int az_conf_parse(struct rg_yt *t, yaml_node_t *config, void **out)
{
    struct az_conf *c = rg_calloc(1, sizeof(*c));
    int rv = 0;

    *out = NULL;
    if (c == NULL)
        return rg_yt_nomem(t);
    c->groups_as_roles = 1;
    c->admin_role = rg_strdup("admin");
    c->roles_claim = rg_strdup("roles");
    c->permissions_claim = rg_strdup("permissions");
    if (c->admin_role == NULL || c->roles_claim == NULL ||
        c->permissions_claim == NULL) {
        az_conf_free(c);
        return rg_yt_nomem(t);
    }
    if (config != NULL)
        rv = rg_yt_map(t, config, az_keys, c);
    if (rv == 0 && c->permissions.n == 0 && c->roles.n == 0)
        rv = rg_yt_err(t, config, "needs permissions or roles");
    if (rv < 0) {
        az_conf_free(c);
        return rv;
    }
    *out = c;
    return 0;
}

/* ---- runtime ---- */

/* Whether claim @claim of @claims (a string or a list of strings) holds
 * @name. */
static int claim_has(const json_t *claims, const char *claim,
                     const char *name)
{
    const json_t *v = claims ? json_object_get(claims, claim) : NULL;
    const json_t *e;
    size_t i;

    if (json_is_string(v))
        return strcmp(json_string_value(v), name) == 0;
    json_array_foreach(v, i, e) {
        if (json_is_string(e) && strcmp(json_string_value(e), name) == 0)
            return 1;
    }
    return 0;
}

static int has_role(const struct az_conf *c, struct rg_req *r,
                    const json_t *claims, const char *role)
{
    size_t ci = rg_req_consumer(r);

    return claim_has(claims, c->roles_claim, role) ||
           (c->groups_as_roles && ci != RG_NO_INDEX &&
            rg_gateway_in_group(rg_req_gateway(r), ci, role, strlen(role)));
}

static enum rg_filter_status answer(struct rg_req *r, int status,
                                    const char *body)
{
    return rg_req_respond(r, status, body, strlen(body)) == 0
               ? RG_FILTER_RESPOND
               : RG_FILTER_ERROR;
}

static enum rg_filter_status az_access(const struct rg_filter_call *fc)
{
    const struct az_conf *c = fc->conf;
    struct rg_req *r = fc->r;
    const json_t *claims = rg_req_claims(r);
    char body[RG_NAME_LEN_MAX + 64];
    int any_role = c->roles.n == 0;

    if (claims == NULL && !rg_req_authenticated(r))
        return answer(r, 401, "{\"message\":\"Unauthorized\"}");
    if (has_role(c, r, claims, c->admin_role))
        return RG_FILTER_CONTINUE;
    for (size_t i = 0; i < c->permissions.n; i++) {
        if (!claim_has(claims, c->permissions_claim, c->permissions.v[i])) {
            snprintf(body, sizeof(body),
                     "{\"message\":\"Forbidden: missing permission %s\"}",
                     c->permissions.v[i]);
            return answer(r, 403, body);
        }
    }
    for (size_t i = 0; i < c->roles.n && !any_role; i++)
        any_role = has_role(c, r, claims, c->roles.v[i]);
    if (!any_role)
        return answer(r, 403, "{\"message\":\"Forbidden: missing role\"}");
    return RG_FILTER_CONTINUE;
}

const struct rg_filter_ops rg_plugin_authorization = {
    .schema = {.name = "authorization",
               .conf_parse = az_conf_parse,
               .conf_free = az_conf_free,
               .protocols = RG_PROTO_HTTP | RG_PROTO_HTTPS | RG_PROTO_GRPC |
                            RG_PROTO_GRPCS,
               .no_consumer = 1},
    .priority = 940,
    .on_access = az_access,
};
