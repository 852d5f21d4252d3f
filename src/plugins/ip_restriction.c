/* ip-restriction: Kong's allow and deny lists of client addresses. The
 * lists (IPv4/IPv6 addresses and CIDRs) are compiled to prefix trees
 * (core/cidr.h) when the config loads, so a check costs at most 128
 * steps however long they are. Config, as Kong 3's, plus `source`
 * (raftgate's: which address counts is configured, never guessed):
 *
 *   allow: [addresses or CIDRs]   only these get in
 *   deny: [addresses or CIDRs]    these do not (checked first)
 *   status: 403                   the refusal's status (400..599)
 *   message: "Your IP address is not allowed"
 *   source: peer | forwarded      the TCP peer (default), or the address
 *                                 X-Forwarded-For names when the peer is in
 *                                 proxy.trusted_ips (rg_req_client_addr)
 *
 * At least one of allow and deny is set. Refused requests get
 * {"message": <message>} and never reach the upstream. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "config/yamltree.h"
#include "core/alloc.h"
#include "core/cidr.h"
#include "http/filter.h"
#include "http/req.h"
#include "plugins/conf_read.h"

struct ipr_conf {
    struct rg_cidr_tree allow, deny;
    int has_allow, has_deny;
    int status;
    char *body;              /* {"message": ...}, JSON-escaped */
    int forwarded;
};

static void ipr_conf_free(void *p)
{
    struct ipr_conf *c = p;

    if (c == NULL)
        return;
    rg_cidr_tree_release(&c->allow);
    rg_cidr_tree_release(&c->deny);
    rg_free(c->body);
    rg_free(c);
}

static int prefix_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    struct rg_cidr_tree *tree = ctx;
    struct rg_cidr c;
    const char *s;
    size_t len;
    int rv = rg_yt_scalar(t, n, &s, &len);

    if (rv < 0)
        return rv;
    if (rg_cidr_parse(s, len, &c) != 0)
        return rg_yt_err(t, n, "must be an IPv4 or IPv6 address or CIDR "
                               "(host bits clear)");
    rv = rg_cidr_tree_add(tree, &c);
    if (rv == -ENOMEM)
        return rg_yt_nomem(t);
    if (rv < 0)
        return rg_yt_err(t, n, "too many prefixes");
    return 0;
}

static int k_allow(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct ipr_conf *c = ctx;

    c->has_allow = !rg_yt_is_empty_seq(v);
    return rg_yt_seq(t, v, prefix_item, &c->allow);
}

static int k_deny(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct ipr_conf *c = ctx;

    c->has_deny = !rg_yt_is_empty_seq(v);
    return rg_yt_seq(t, v, prefix_item, &c->deny);
}

static int k_status(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;
    int rv = rg_yt_int(t, v, 400, 599, &x);

    if (rv == 0)
        ((struct ipr_conf *)ctx)->status = (int)x;
    return rv;
}

static int k_message(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_message_read(t, v, &((struct ipr_conf *)ctx)->body);
}

static int k_source(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    const char *s;
    size_t len;
    int rv = rg_yt_scalar(t, v, &s, &len);

    if (rv < 0)
        return rv;
    if (strcmp(s, "peer") != 0 && strcmp(s, "forwarded") != 0)
        return rg_yt_err(t, v, "must be \"peer\" or \"forwarded\"");
    ((struct ipr_conf *)ctx)->forwarded = s[0] == 'f';
    return 0;
}

/* clang-format off */
static const struct rg_yt_key ipr_keys[] = {
    {"allow", k_allow},
    {"deny", k_deny},
    {"status", k_status},
    {"message", k_message},
    {"source", k_source},
    {NULL, NULL},
};
/* clang-format on */

static int ipr_conf_parse(struct rg_yt *t, yaml_node_t *config, void **out)
{
    static const char dflt[] = "Your IP address is not allowed";
    struct ipr_conf *c = rg_calloc(1, sizeof(*c));
    int rv = 0;

    *out = NULL;
    if (c == NULL)
        return rg_yt_nomem(t);
    c->status = 403;
    c->body = rg_message_body(dflt, sizeof(dflt) - 1);
    if (c->body == NULL) {
        ipr_conf_free(c);
        return rg_yt_nomem(t);
    }
    if (config != NULL)
        rv = rg_yt_map(t, config, ipr_keys, c);
    if (rv == 0 && !c->has_allow && !c->has_deny)
        rv = rg_yt_err(t, config, "needs allow or deny (at least one "
                                  "address)");
    if (rv < 0) {
        ipr_conf_free(c);
        return rv;
    }
    *out = c;
    return 0;
}

static enum rg_filter_status ipr_access(const struct rg_filter_call *fc)
{
    const struct ipr_conf *c = fc->conf;
    struct sockaddr_storage ss;
    const struct sockaddr *sa = (const struct sockaddr *)&ss;

    rg_req_client_addr(fc->r, c->forwarded, &ss);
    if ((c->has_deny && rg_cidr_tree_match(&c->deny, sa)) ||
        (c->has_allow && !rg_cidr_tree_match(&c->allow, sa)))
        return rg_req_respond(fc->r, c->status, c->body, strlen(c->body)) ==
                       0
                   ? RG_FILTER_RESPOND
                   : RG_FILTER_ERROR;
    return RG_FILTER_CONTINUE;
}

const struct rg_filter_ops rg_plugin_ip_restriction = {
    .schema = {.name = "ip-restriction",
               .conf_parse = ipr_conf_parse,
               .conf_free = ipr_conf_free,
               .protocols = RG_PROTO_HTTP | RG_PROTO_HTTPS | RG_PROTO_GRPC |
                            RG_PROTO_GRPCS},
    .priority = 990, /* Kong's */
    .on_access = ipr_access,
};
