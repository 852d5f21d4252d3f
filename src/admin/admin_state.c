/* The store as the rest of the process sees it: a local state machine
 * for single-node mode, the data-plane gateway config of a store, and
 * the seed body proposed by a cluster's first leader. */
#include "admin/admin_int.h"

#include <errno.h>

#include "config/gateway.h"
#include "config/yamltree.h"
#include "core/alloc.h"

#define STATE_MAX_FILE (16u << 20)

char *rg_admin_seed_body(const char *path, size_t *len, struct rg_errbuf *eb)
{
    char *text, *body;
    size_t tl;
    int rv = rg_yt_read_file(path, STATE_MAX_FILE, &text, &tl);
    struct rg_errbuf e2 = {{0}};

    if (rv != 0) {
        rg_errbuf_set(eb, "%s: cannot read (%d)", path, rv);
        return NULL;
    }
    body = rg_admin_config_canonical(text, tl, len, &e2);
    rg_free(text);
    if (body == NULL)
        rg_errbuf_set(eb, "%s: %s", path, e2.msg);
    return body;
}

/* Apply one REPLACE_ALL of @body at index 1 of a fresh state machine. */
static int apply_body(struct rg_fsm *f, const char *body, size_t len,
                      struct rg_errbuf *eb)
{
    struct rg_cmd c = {.type = RG_CMD_REPLACE_ALL, .rid = "local",
                       .rid_len = 5, .body = body,
                       .body_len = (uint32_t)len};
    struct rg_fsm_result res;
    size_t size = rg_codec_size(&c, 1);
    void *buf = size ? rg_malloc(size) : NULL;
    long n;

    if (buf == NULL)
        return rg_errbuf_set(eb, "out of memory");
    n = rg_codec_encode(&c, 1, 1, 0, buf, size);
    if (n < 0 || rg_fsm_apply(f, 1, buf, (size_t)n, &res) != 1 ||
        res.status != RG_FSM_OK) {
        rg_free(buf);
        return rg_errbuf_set(eb, "local store: %s",
                             n < 0 ? "encode failed" : res.message);
    }
    rg_free(buf);
    return 0;
}

struct rg_fsm *rg_admin_local_state(const char *path, struct rg_errbuf *eb)
{
    struct rg_fsm *f = rg_fsm_new(rg_admin_validate, NULL);
    const struct rg_xref *xr;
    size_t len, n;
    char *body;

    if (f == NULL) {
        rg_errbuf_set(eb, "out of memory");
        return NULL;
    }
    xr = rg_gateway_xrefs(&n);
    if (rg_fsm_set_xrefs(f, xr, n) != 0) {
        rg_fsm_free(f);
        rg_errbuf_set(eb, "out of memory");
        return NULL;
    }
    if (path == NULL)
        return f;
    body = rg_admin_seed_body(path, &len, eb);
    if (body == NULL || apply_body(f, body, len, eb) != 0) {
        rg_free(body);
        rg_fsm_free(f);
        return NULL;
    }
    rg_free(body);
    return f;
}

int rg_admin_gateway(const struct rg_fsm *f, struct rg_gateway *gw,
                     char **dp_out, size_t *dp_len, struct rg_errbuf *eb)
{
    json_t *doc = rg_fsm_export_json(f);
    int rv = doc ? rg_admin__dataplane_gateway(doc, gw, dp_out, dp_len, eb)
                 : rg_errbuf_set(eb, "out of memory");

    json_decref(doc);
    return rv;
}
