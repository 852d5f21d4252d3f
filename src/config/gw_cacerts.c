/* Kong CA certificates in the declarative file: ca_certificates[].{id,
 * cert, cert_digest, tags, created_at, updated_at} (gateway.h). cert is
 * parsed here (core/tls.h), so a bad PEM, a certificate that is not a CA
 * or one that expired is an error naming its path; services name them by
 * id in their ca_certificates. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config/gw_int.h"
#include "core/alloc.h"
#include "core/tls.h"

_Static_assert(sizeof(((struct rg_ca_certificate *)0)->digest) ==
                   RG_TLS_DIGEST_LEN + 1,
               "rg_ca_certificate.digest holds a hex SHA-256");

static struct rg_ca_certificate *cur(struct gw_ctx *c)
{
    return &c->gw->ca_certificates[c->gw->n_ca_certificates - 1];
}

static int ca_id(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;

    return rg_gw__unique(t, v, GW_ID, c, GW_X_CACERT_ID,
                         c->gw->n_ca_certificates - 1, &cur(c)->id);
}

/* cert and cert_digest are checked together once the item is read. */
static int ca_cert(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    const char *s;
    size_t len;
    ((struct gw_ctx *)ctx)->cacert_pem = v;
    return rg_yt_text(t, v, &s, &len);
}

static int ca_digest(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    const char *s;
    size_t len;

    ((struct gw_ctx *)ctx)->cacert_digest = v;
    return rg_yt_text(t, v, &s, &len);
}

/* clang-format off */
static const struct rg_yt_key ca_keys[] = {
    {"id", ca_id},
    {"cert", ca_cert},
    {"cert_digest", ca_digest},
    {"tags", rg_gw__key_tags},
    {"created_at", rg_gw__key_timestamp},
    {"updated_at", rg_gw__key_timestamp},
    {NULL, NULL},
};
/* clang-format on */

static int ca_finish(struct rg_yt *t, yaml_node_t *n, struct gw_ctx *c)
{
    char *digest = cur(c)->digest, why[160];
    const char *s, *d;
    size_t len, dl;

    if (c->cacert_pem == NULL)
        return rg_yt_err(t, n, "needs a cert (PEM)");
    if (rg_yt_scalar(t, c->cacert_pem, &s, &len) < 0)
        return -EINVAL;
    cur(c)->tls = rg_tls_ca_new(s, len, digest, why, sizeof(why));
    if (cur(c)->tls == NULL)
        return rg_gw__member_err(t, "cert", c->cacert_pem, why);
    if (c->cacert_digest != NULL &&
        (rg_yt_scalar(t, c->cacert_digest, &d, &dl) < 0 ||
         dl != RG_TLS_DIGEST_LEN || strncasecmp(d, digest, dl) != 0))
        return rg_gw__member_err(t, "cert_digest", c->cacert_digest,
                                 "does not match cert (its SHA-256 in hex)");
    /* GW_X_CACERT_DIGEST: on the computed digest, given or not */
    for (size_t i = 0; i + 1 < c->gw->n_ca_certificates; i++)
        if (strcmp(c->gw->ca_certificates[i].digest, digest) == 0) {
            snprintf(why, sizeof(why),
                     "duplicate ca_certificate cert_digest (the cert of "
                     "ca_certificates[%zu])",
                     i);
            return rg_gw__member_err(t, "cert", c->cacert_pem, why);
        }
    return 0;
}

int rg_gw__ca_certificate_item(struct rg_yt *t, yaml_node_t *n, size_t i,
                               void *ctx)
{
    struct gw_ctx *c = ctx;
    struct rg_gateway *gw = c->gw;
    int rv;

    (void)i;
    if (rg_gw__grow((void **)&gw->ca_certificates, &c->cacert_cap,
                    gw->n_ca_certificates, sizeof(*gw->ca_certificates)) < 0)
        return rg_yt_nomem(t);
    memset(&gw->ca_certificates[gw->n_ca_certificates++], 0,
           sizeof(*gw->ca_certificates));
    c->cacert_pem = c->cacert_digest = NULL;
    rv = rg_yt_map(t, n, ca_keys, c);
    return rv < 0 ? rv : ca_finish(t, n, c);
}

void rg_gw__ca_certs_release(struct rg_gateway *gw)
{
    for (size_t i = 0; i < gw->n_ca_certificates; i++) {
        rg_free(gw->ca_certificates[i].id);
        rg_tls_ca_free(gw->ca_certificates[i].tls);
    }
    rg_free(gw->ca_certificates);
}
