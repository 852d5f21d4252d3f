/* The validator's rules across objects (core/xref.h), one entry each. The
 * parser keeps one map per entry (struct gw_ctx x[]) and checks a value
 * against it through rg_gw__unique, rg_gw__ref and the plugin scope rule;
 * raft/fsm_near.c reads the same entries. */
#include "config/gw_int.h"

/* clang-format off */
const struct rg_xref rg_gw_xref[GW_X_MAX] = {
    [GW_X_SERVICE_ID]    = {"services", "id", RG_XREF_UNIQUE, 1, NULL, NULL,
                            "service id"},
    [GW_X_SERVICE_NAME]  = {"services", "name", RG_XREF_UNIQUE, 0, NULL, NULL,
                            "service name"},
    [GW_X_ROUTE_ID]      = {"routes", "id", RG_XREF_UNIQUE, 1, NULL, NULL,
                            "route id"},
    [GW_X_ROUTE_NAME]    = {"routes", "name", RG_XREF_UNIQUE, 0, NULL, NULL,
                            "route name"},
    [GW_X_ROUTE_SERVICE] = {"routes", "service", RG_XREF_REF, 0, "services",
                            "name", "service"},
    [GW_X_CONSUMER_ID]   = {"consumers", "id", RG_XREF_UNIQUE, 1, NULL, NULL,
                            "consumer id"},
    [GW_X_CONSUMER_NAME] = {"consumers", "username", RG_XREF_UNIQUE, 0, NULL,
                            NULL, "consumer username"},
    [GW_X_CONSUMER_CID]  = {"consumers", "custom_id", RG_XREF_UNIQUE, 0, NULL,
                            NULL, "consumer custom_id"},
    [GW_X_PLUGIN_ID]     = {"plugins", "id", RG_XREF_UNIQUE, 1, NULL, NULL,
                            "plugin id"},
    [GW_X_PLUGIN_INSTANCE] = {"plugins", "instance_name", RG_XREF_UNIQUE, 0,
                              NULL, NULL, "plugin instance_name"},
    /* One instance of a type per (service, route, consumer). */
    [GW_X_PLUGIN_SCOPE]  = {"plugins", "name", RG_XREF_GROUP, 0, NULL, NULL,
                            "plugin scope"},
    [GW_X_PLUGIN_SERVICE] = {"plugins", "service", RG_XREF_REF, 0, "services",
                             "name", "service"},
    [GW_X_PLUGIN_ROUTE]  = {"plugins", "route", RG_XREF_REF, 0, "routes",
                            "name", "route"},
    [GW_X_PLUGIN_CONSUMER] = {"plugins", "consumer", RG_XREF_REF, 0,
                              "consumers", "username", "consumer"},
    [GW_X_KEYAUTH_ID]    = {"keyauth_credentials", "id", RG_XREF_UNIQUE, 1,
                            NULL, NULL, "keyauth_credentials id"},
    [GW_X_KEYAUTH_KEY]   = {"keyauth_credentials", "key", RG_XREF_UNIQUE, 0,
                            NULL, NULL, "key-auth key"},
    [GW_X_KEYAUTH_CONSUMER] = {"keyauth_credentials", "consumer",
                               RG_XREF_REF, 0, "consumers", "username",
                               "consumer"},
    [GW_X_JWT_ID]        = {"jwt_secrets", "id", RG_XREF_UNIQUE, 1, NULL,
                            NULL, "jwt_secrets id"},
    [GW_X_JWT_KEY]       = {"jwt_secrets", "key", RG_XREF_UNIQUE, 0, NULL,
                            NULL, "jwt key"},
    [GW_X_JWT_CONSUMER]  = {"jwt_secrets", "consumer", RG_XREF_REF, 0,
                            "consumers", "username", "consumer"},
    [GW_X_ACL_ID]        = {"acls", "id", RG_XREF_UNIQUE, 1, NULL, NULL,
                            "acls id"},
    /* A consumer names a group once: (consumer, group) is checked by the
     * parser (acl_finish); this entry only names the list, so the store
     * checks a consumer holding one whole. */
    [GW_X_ACL_GROUP]     = {"acls", "group", RG_XREF_GROUP, 0, NULL, NULL,
                            "acl group"},
    [GW_X_ACL_CONSUMER]  = {"acls", "consumer", RG_XREF_REF, 0, "consumers",
                            "username", "consumer"},
    [GW_X_UPSTREAM_ID]   = {"upstreams", "id", RG_XREF_UNIQUE, 1, NULL, NULL,
                            "upstream id"},
    [GW_X_UPSTREAM_NAME] = {"upstreams", "name", RG_XREF_UNIQUE, 1, NULL,
                            NULL, "upstream name"},
    [GW_X_TARGET_ID]     = {"targets", "id", RG_XREF_UNIQUE, 1, NULL, NULL,
                            "target id"},
    /* An upstream names a target once: (upstream, target) is checked by
     * the parser (target_finish); this entry groups the targets with the
     * same text so the store checks them together. */
    [GW_X_TARGET_TARGET] = {"targets", "target", RG_XREF_GROUP, 0, NULL, NULL,
                            "target"},
    [GW_X_TARGET_UPSTREAM] = {"targets", "upstream", RG_XREF_REF, 0,
                              "upstreams", "name", "upstream"},
    [GW_X_CERT_ID]       = {"certificates", "id", RG_XREF_UNIQUE, 1, NULL,
                            NULL, "certificate id"},
    [GW_X_SNI_ID]        = {"snis", "id", RG_XREF_UNIQUE, 1, NULL, NULL,
                            "sni id"},
    [GW_X_SNI_NAME]      = {"snis", "name", RG_XREF_UNIQUE, 1, NULL, NULL,
                            "sni name"},
    /* Certificates have no name: an sni names its certificate by id. */
    [GW_X_SNI_CERT]      = {"snis", "certificate", RG_XREF_REF, 0,
                            "certificates", "id", "certificate"},
    [GW_X_SERVICE_CERT]  = {"services", "client_certificate", RG_XREF_REF, 0,
                            "certificates", "id", "certificate"},
    [GW_X_CACERT_ID]     = {"ca_certificates", "id", RG_XREF_UNIQUE, 1, NULL,
                            NULL, "ca_certificate id"},
    [GW_X_CACERT_DIGEST] = {"ca_certificates", "cert_digest", RG_XREF_UNIQUE,
                            1, NULL, NULL, "ca_certificate cert_digest"},
    /* A list of ids (each read as this reference): a service holding one
     * is irregular (raft/fsm_keys.c), so its changes are checked on the
     * whole config. */
    [GW_X_SERVICE_CACERT] = {"services", "ca_certificates", RG_XREF_REF, 0,
                             "ca_certificates", "id", "ca_certificate"},
};
/* clang-format on */

const struct rg_xref *rg_gateway_xrefs(size_t *n)
{
    *n = GW_X_MAX;
    return rg_gw_xref;
}
