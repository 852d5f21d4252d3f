/* The declarative parser's insides, shared by its files: gateway.c (the
 * root, services and routes), gw_consumers.c and gw_plugins.c. Not for
 * use outside src/config/gw*.c. */
#ifndef RG_CONFIG_GW_INT_H
#define RG_CONFIG_GW_INT_H

#include <stddef.h>

#include "config/gateway.h"
#include "config/yamltree.h"
#include "core/strmap.h"

/* The rules across entities, indexes of rg_gw_xref (gw_xref.c). */
enum gw_x {
    GW_X_SERVICE_ID,
    GW_X_SERVICE_NAME,
    GW_X_ROUTE_ID,
    GW_X_ROUTE_NAME,
    GW_X_ROUTE_SERVICE,
    GW_X_CONSUMER_ID,
    GW_X_CONSUMER_NAME,
    GW_X_CONSUMER_CID,
    GW_X_PLUGIN_ID,
    GW_X_PLUGIN_INSTANCE,
    GW_X_PLUGIN_SCOPE,
    GW_X_PLUGIN_SERVICE,
    GW_X_PLUGIN_ROUTE,
    GW_X_PLUGIN_CONSUMER,
    GW_X_KEYAUTH_ID,
    GW_X_KEYAUTH_KEY,
    GW_X_KEYAUTH_CONSUMER,
    GW_X_JWT_ID,
    GW_X_JWT_KEY,
    GW_X_JWT_CONSUMER,
    GW_X_ACL_ID,
    GW_X_ACL_GROUP,
    GW_X_ACL_CONSUMER,
    GW_X_UPSTREAM_ID,
    GW_X_UPSTREAM_NAME,
    GW_X_TARGET_ID,
    GW_X_TARGET_TARGET,
    GW_X_TARGET_UPSTREAM,
    GW_X_CERT_ID,
    GW_X_SNI_ID,
    GW_X_SNI_NAME,
    GW_X_SNI_CERT,
    GW_X_SERVICE_CERT,
    GW_X_CACERT_ID,
    GW_X_CACERT_DIGEST,
    GW_X_SERVICE_CACERT,
    GW_X_MAX
};

extern const struct rg_xref rg_gw_xref[GW_X_MAX];

struct gw_ctx {
    struct rg_gateway *gw;
    size_t svc_cap;        /* slots allocated in gw->services */
    size_t route_cap;      /* slots allocated in gw->routes */
    size_t consumer_cap;   /* ... gw->consumers */
    size_t plugin_cap;     /* ... gw->plugins */
    size_t keyauth_cap;    /* ... gw->keyauths */
    size_t jwt_cap;        /* ... gw->jwts */
    size_t acl_cap;        /* ... gw->acls */
    size_t upstream_cap;   /* ... gw->upstreams */
    size_t target_cap;     /* ... gw->targets */
    size_t cert_cap;       /* ... gw->certificates */
    size_t sni_cap;        /* ... gw->snis */
    size_t cacert_cap;     /* ... gw->ca_certificates */
    yaml_node_t *cacert_pem, *cacert_digest; /* the CA's cert, cert_digest */
    size_t certificate;    /* certificates[certificate] is being read */
    int nested_sni;        /* the sni sits under certificates[].snis */
    yaml_node_t *cert_pem, *key_pem; /* the certificate's cert and key */
    size_t upstream;       /* upstreams[upstream] is being read */
    int nested_target;     /* the target sits under upstreams[].targets */
    struct rg_hc_side *hc_side; /* the healthchecks side being read */
    int hc_active;         /* ... of active checks */
    struct rg_cred *cred;  /* the credential being read */
    const struct gw_cred_type *cred_type; /* ... and its type */
    size_t svc;            /* services[svc] is being read */
    size_t route;          /* routes[route] is being read */
    size_t consumer;       /* consumers[consumer] is being read */
    size_t plugin;         /* plugins[plugin] is being read */
    int nested;            /* the route sits under services[].routes */
    int top_plugin;        /* the plugin sits in the top-level list */
    int has_url;           /* the service set `url` */
    int has_parts;         /* the service set protocol/host/port/path */
    int format_ok;         /* _format_version was "3.0" */
    int backoff_type;      /* retry_backoff.type was given */
    int conf_seen;         /* the plugin's `config` was read */
    struct rg_backoff *bo; /* the retry_backoff being read */
    yaml_node_t *services; /* top-level lists, walked after the root */
    yaml_node_t *routes;
    yaml_node_t *consumers;
    yaml_node_t *plugins;
    yaml_node_t *keyauths;
    yaml_node_t *jwts;
    yaml_node_t *acls;
    yaml_node_t *upstreams;
    yaml_node_t *targets;
    yaml_node_t *certificates;
    yaml_node_t *snis;
    yaml_node_t *ca_certificates;
    /* Per rule across entities (rg_gw_xref), the values seen so far
     * mapped to the index of their entity: names and ids (keys borrowed
     * from the YAML document; REF entries stay empty) and, for
     * GW_X_PLUGIN_SCOPE, the (type, service, route, consumer) of every
     * plugin and for GW_X_ACL_GROUP the (consumer, group) of every ACL
     * (keys are the owned blocks in group_keys: rg_gw__group_key). */
    struct rg_strmap x[GW_X_MAX];
    char **group_keys;
    size_t n_group_keys;
};

/* How a unique key's scalar must look. */
enum gw_form {
    GW_NAME, /* Kong's name characters */
    GW_ID,   /* a UUID, compared and stored lower-case */
    GW_TEXT, /* any string */
};

/* Read @v as a @form scalar held by entity @index, unique by rule @x (an
 * RG_XREF_UNIQUE entry; the error says "duplicate <what>"), and copy it
 * into *@out. The one uniqueness rule of every entity's name and id. */
int rg_gw__unique(struct rg_yt *t, yaml_node_t *v, enum gw_form form,
                  struct gw_ctx *c, enum gw_x x, size_t index, char **out);

/* Resolve the reference @v by rule @x (an RG_XREF_REF entry): a bare name
 * or id, or a mapping {<by>: x} or {id: x}, looked up in the maps of the
 * target's "id" and <by> rules. Sets *@index; errors name what was not
 * found. */
int rg_gw__ref(struct rg_yt *t, yaml_node_t *v, const struct gw_ctx *c,
               enum gw_x x, size_t *index);

/* The error @why about member @key of the item being read, whose value
 * is @v (an item's members checked together once it is read). */
int rg_gw__member_err(struct rg_yt *t, const char *key, yaml_node_t *v,
                      const char *why);

/* A list of such references (@v a sequence, or null for none) into a
 * fresh array *@out of *@n indexes. */
int rg_gw__refs(struct rg_yt *t, yaml_node_t *v, const struct gw_ctx *c,
                enum gw_x x, size_t **out, size_t *n);

/* Grow *@arr (elements of @size bytes, *@cap allocated) to hold @n + 1. */
int rg_gw__grow(void **arr, size_t *cap, size_t n, size_t size);

/* Keys every entity has. */
int rg_gw__key_tags(struct rg_yt *t, yaml_node_t *v, void *ctx);
int rg_gw__key_timestamp(struct rg_yt *t, yaml_node_t *v, void *ctx);
/* A list Kong has and raftgate does not read yet: only empty. */
int rg_gw__key_empty_list(struct rg_yt *t, yaml_node_t *v, void *ctx);

/* A nested `plugins` list of the entity being read (c->svc, c->route or
 * c->consumer, after @scope: "service", "route", "consumer"). */
int rg_gw__service_plugins(struct rg_yt *t, yaml_node_t *v, void *ctx);
int rg_gw__route_plugins(struct rg_yt *t, yaml_node_t *v, void *ctx);
int rg_gw__consumer_plugins(struct rg_yt *t, yaml_node_t *v, void *ctx);

/* One item of the top-level `consumers` and `plugins` lists. */
int rg_gw__consumer_item(struct rg_yt *t, yaml_node_t *n, size_t i,
                         void *ctx);
int rg_gw__plugin_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx);

/* Credentials (gw_creds.c): a consumer's nested lists, one item of each
 * top-level list, and the key indexes built once all are read. */
struct gw_cred_type;
int rg_gw__consumer_keyauths(struct rg_yt *t, yaml_node_t *v, void *ctx);
int rg_gw__consumer_jwts(struct rg_yt *t, yaml_node_t *v, void *ctx);
int rg_gw__keyauth_item(struct rg_yt *t, yaml_node_t *n, size_t i,
                        void *ctx);
int rg_gw__jwt_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx);
int rg_gw__consumer_acls(struct rg_yt *t, yaml_node_t *v, void *ctx);
int rg_gw__acl_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx);
int rg_gw__cred_index(struct rg_gateway *gw);
void rg_gw__creds_release(struct rg_gateway *gw);

/* Put composite key @key (@len bytes, copied into c->group_keys) for
 * entity @index into the map of GROUP rule @x: 0 added, 1 already there,
 * -ENOMEM. The one uniqueness check of combinations (a plugin's scope,
 * an ACL's consumer and group). */
int rg_gw__group_key(struct gw_ctx *c, enum gw_x x, const char *key,
                     size_t len, size_t index);

/* Free the ctx's group_keys. */
void rg_gw__group_keys_release(struct gw_ctx *c);

/* Upstreams (gw_upstreams.c): one item of the top-level `upstreams` and
 * `targets` lists, and freeing them. */
int rg_gw__upstream_item(struct rg_yt *t, yaml_node_t *n, size_t i,
                         void *ctx);
int rg_gw__target_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx);
void rg_gw__upstreams_release(struct rg_gateway *gw);

/* Certificates and SNIs (gw_certs.c): one item of each top-level list,
 * the name index built once all are read, and freeing them. */
int rg_gw__certificate_item(struct rg_yt *t, yaml_node_t *n, size_t i,
                            void *ctx);
int rg_gw__sni_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx);
int rg_gw__sni_index(struct rg_gateway *gw);
void rg_gw__certs_release(struct rg_gateway *gw);

/* CA certificates (gw_cacerts.c): one item of the top-level list, and
 * freeing them. */
int rg_gw__ca_certificate_item(struct rg_yt *t, yaml_node_t *n, size_t i,
                               void *ctx);
void rg_gw__ca_certs_release(struct rg_gateway *gw);

/* An upstream's `healthchecks` (gw_health.c) into c->gw->upstreams[
 * c->upstream].hc, and the Kong defaults it starts from. */
int rg_gw__healthchecks(struct rg_yt *t, yaml_node_t *v, void *ctx);
void rg_gw__healthchecks_defaults(struct rg_healthchecks *hc);

/* Host validation shared with services: labels or an IP literal. */
int rg_gw__host_ok(const char *s, size_t len);

/* Free one consumer's and one plugin's fields. */
void rg_gw__consumer_release(struct rg_consumer *p);
void rg_gw__plugin_release(const struct rg_gateway *gw,
                           struct rg_plugin_inst *p);

#endif
