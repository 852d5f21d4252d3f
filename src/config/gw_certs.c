/* Kong certificates and SNIs in the declarative file:
 * certificates[].{id, cert, key, snis, tags, created_at, updated_at}, with
 * snis a list of names or of {name, id, tags, created_at, updated_at}, and
 * top-level snis[].{name, id, certificate, tags, created_at, updated_at}
 * (gateway.h). cert and key are parsed here (core/tls.h), so a bad PEM is
 * an error naming its path. */
#include <errno.h>
#include <string.h>

#include "config/gw_int.h"
#include "core/alloc.h"
#include "core/tls.h"

static struct rg_certificate *cur(struct gw_ctx *c)
{
    return &c->gw->certificates[c->certificate];
}

static struct rg_sni *cur_sni(struct gw_ctx *c)
{
    return &c->gw->snis[c->gw->n_snis - 1];
}

/* ---- SNIs ---- */

/* Kong's SNI names: a host name, lower-cased, with at most one wildcard
 * as the whole first ("*.example.com") or last ("example.*") label; not
 * an IP address, no port. */
static int sni_name_ok(const char *s, size_t len)
{
    const char *h = s;
    size_t hl = len, i;
    int alpha = 0;

    if (len > 2 && memcmp(s, "*.", 2) == 0) {
        h += 2;
        hl -= 2;
    } else if (len > 2 && memcmp(s + len - 2, ".*", 2) == 0) {
        hl -= 2;
    }
    for (i = 0; i < hl; i++) {
        if (h[i] == '*' || h[i] == ':')
            return 0;
        if ((h[i] | 0x20) >= 'a' && (h[i] | 0x20) <= 'z')
            alpha = 1;
    }
    return hl > 0 && alpha && rg_gw__host_ok(h, hl);
}

static int sni_name(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;
    const char *s;
    size_t len;
    int rv = rg_yt_scalar(t, v, &s, &len);

    if (rv == 0 && !sni_name_ok(s, len))
        return rg_yt_err(t, v,
                         "must be a host name, with at most one wildcard "
                         "as its first (\"*.example.com\") or last "
                         "(\"example.*\") label; not an IP address, no "
                         "port");
    if (rv == 0)
        rv = rg_gw__unique(t, v, GW_TEXT, c, GW_X_SNI_NAME, c->gw->n_snis - 1,
                           &cur_sni(c)->name);
    if (rv == 0)
        for (char *p = cur_sni(c)->name; *p != '\0'; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
    return rv;
}

static int sni_id(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;

    return rg_gw__unique(t, v, GW_ID, c, GW_X_SNI_ID, c->gw->n_snis - 1,
                         &cur_sni(c)->id);
}

static int sni_certificate(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;

    if (c->nested_sni)
        return rg_yt_err(t, v,
                         "not allowed in an sni nested under a "
                         "certificate");
    return rg_gw__ref(t, v, c, GW_X_SNI_CERT, &cur_sni(c)->certificate);
}

/* clang-format off */
static const struct rg_yt_key sni_keys[] = {
    {"name", sni_name},
    {"id", sni_id},
    {"certificate", sni_certificate},
    {"tags", rg_gw__key_tags},
    {"created_at", rg_gw__key_timestamp},
    {"updated_at", rg_gw__key_timestamp},
    {NULL, NULL},
};
/* clang-format on */

int rg_gw__sni_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    struct gw_ctx *c = ctx;
    struct rg_gateway *gw = c->gw;
    struct rg_sni *sn;
    int rv;

    (void)i;
    if (rg_gw__grow((void **)&gw->snis, &c->sni_cap, gw->n_snis, sizeof(*sn)) <
        0)
        return rg_yt_nomem(t);
    sn = &gw->snis[gw->n_snis++];
    memset(sn, 0, sizeof(*sn));
    sn->certificate = c->nested_sni ? c->certificate : RG_NO_INDEX;
    /* Nested, a bare name is the Kong admin API's shorthand. */
    if (c->nested_sni && n->type == YAML_SCALAR_NODE)
        rv = sni_name(t, n, c);
    else
        rv = rg_yt_map(t, n, sni_keys, c);
    if (rv < 0)
        return rv;
    if (sn->name == NULL)
        return rg_yt_err(t, n, "needs a name");
    if (sn->certificate == RG_NO_INDEX)
        return rg_yt_err(t, n, "needs a certificate");
    return 0;
}

/* ---- Certificates ---- */

static int ct_id(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;

    return rg_gw__unique(t, v, GW_ID, c, GW_X_CERT_ID, c->certificate,
                         &cur(c)->id);
}

/* cert and key are read in cert_finish, once both are known; here each
 * is checked to be text and its node kept in *@slot. */
static int ct_pem(struct rg_yt *t, yaml_node_t *v, yaml_node_t **slot)
{
    const char *s;
    size_t len;

    *slot = v;
    return rg_yt_text(t, v, &s, &len);
}

static int ct_cert(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return ct_pem(t, v, &((struct gw_ctx *)ctx)->cert_pem);
}

static int ct_key(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return ct_pem(t, v, &((struct gw_ctx *)ctx)->key_pem);
}

static int ct_snis(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;
    int rv;

    c->nested_sni = 1;
    rv = rg_yt_seq(t, v, rg_gw__sni_item, c);
    c->nested_sni = 0;
    return rv;
}

/* clang-format off */
static const struct rg_yt_key cert_keys[] = {
    {"id", ct_id},
    {"cert", ct_cert},
    {"key", ct_key},
    {"snis", ct_snis},
    {"cert_alt", NULL},
    {"key_alt", NULL},
    {"tags", rg_gw__key_tags},
    {"created_at", rg_gw__key_timestamp},
    {"updated_at", rg_gw__key_timestamp},
    {NULL, NULL},
};
/* clang-format on */

static int cert_finish(struct rg_yt *t, yaml_node_t *n, struct gw_ctx *c)
{
    const char *cs, *ks;
    size_t cl, kl;
    char why[160];
    int bad_key;

    if (c->cert_pem == NULL)
        return rg_yt_err(t, n, "needs a cert (PEM)");
    if (c->key_pem == NULL)
        return rg_yt_err(t, n, "needs a key (PEM)");
    if (rg_yt_scalar(t, c->cert_pem, &cs, &cl) < 0 ||
        rg_yt_scalar(t, c->key_pem, &ks, &kl) < 0)
        return -EINVAL;
    cur(c)->tls = rg_tls_cert_new(cs, cl, ks, kl, &bad_key, why, sizeof(why));
    if (cur(c)->tls == NULL)
        return bad_key ? rg_gw__member_err(t, "key", c->key_pem, why)
                       : rg_gw__member_err(t, "cert", c->cert_pem, why);
    return 0;
}

int rg_gw__certificate_item(struct rg_yt *t, yaml_node_t *n, size_t i,
                            void *ctx)
{
    struct gw_ctx *c = ctx;
    struct rg_gateway *gw = c->gw;
    int rv;

    (void)i;
    if (rg_gw__grow((void **)&gw->certificates, &c->cert_cap,
                    gw->n_certificates, sizeof(*gw->certificates)) < 0)
        return rg_yt_nomem(t);
    memset(&gw->certificates[gw->n_certificates], 0, sizeof(*gw->certificates));
    c->certificate = gw->n_certificates++;
    c->cert_pem = c->key_pem = NULL;
    rv = rg_yt_map(t, n, cert_keys, c);
    return rv < 0 ? rv : cert_finish(t, n, c);
}

/* ---- The index and lookups ---- */

int rg_gw__sni_index(struct rg_gateway *gw)
{
    rg_strmap_init(&gw->sni_index, 1);
    for (size_t i = 0; i < gw->n_snis; i++) {
        const char *s = gw->snis[i].name;

        if (rg_strmap_put(&gw->sni_index, s, strlen(s), i) < 0)
            return -ENOMEM;
    }
    return 0;
}

static size_t sni_cert(const struct rg_gateway *gw, const char *s, size_t len)
{
    size_t i = rg_strmap_get(&gw->sni_index, s, len);

    return i == SIZE_MAX ? RG_NO_INDEX : gw->snis[i].certificate;
}

size_t rg_gateway_find_sni(const struct rg_gateway *gw, const char *name)
{
    size_t len = strlen(name), i;
    const char *dot = strchr(name, '.'), *last = strrchr(name, '.');
    char buf[256];

    if (gw->n_snis == 0 || len == 0 || len >= sizeof(buf))
        return RG_NO_INDEX;
    if ((i = sni_cert(gw, name, len)) != RG_NO_INDEX)
        return i;
    /* Kong: "*.example.com" for the first label, then "www.example.*"
     * for the last. */
    if (dot != NULL) {
        buf[0] = '*';
        memcpy(buf + 1, dot, len - (size_t)(dot - name));
        if ((i = sni_cert(gw, buf, 1 + len - (size_t)(dot - name))) !=
            RG_NO_INDEX)
            return i;
    }
    if (last != NULL) {
        memcpy(buf, name, (size_t)(last - name) + 1);
        buf[last - name + 1] = '*';
        return sni_cert(gw, buf, (size_t)(last - name) + 2);
    }
    return RG_NO_INDEX;
}

void rg_gw__certs_release(struct rg_gateway *gw)
{
    for (size_t i = 0; i < gw->n_certificates; i++) {
        rg_free(gw->certificates[i].id);
        rg_tls_cert_free(gw->certificates[i].tls);
    }
    rg_free(gw->certificates);
    for (size_t i = 0; i < gw->n_snis; i++) {
        rg_free(gw->snis[i].name);
        rg_free(gw->snis[i].id);
    }
    rg_free(gw->snis);
    rg_strmap_release(&gw->sni_index);
}
