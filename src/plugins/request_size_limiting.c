/* request-size-limiting: Kong's refusal of request bodies above a size,
 * per route, service, consumer or globally. Config, as Kong 3's:
 *
 *   allowed_payload_size: 128     a size in size_unit (0 and up)
 *   size_unit: megabytes          bytes, kilobytes (1024), megabytes
 *                                 (1048576)
 *   require_content_length: false true: a request with neither a
 *                                 Content-Length nor a chunked body is
 *                                 refused 411
 *
 * In ACCESS (Kong's priority 951): a Content-Length above the limit is
 * refused at once, before any body byte is read, with 413
 * {"message":"Request size limit exceeded"} (417 when the client sent
 * Expect: 100-continue and waits, as Kong). A chunked body is counted as
 * it streams (rg_req_cap_body; the proxy's own max_body_size count, not
 * a second one): past the limit the request is refused 413 and its
 * connection closed; the upstream may have had the first bytes by then
 * (Kong reads the whole body first; raftgate does not buffer it for this
 * plugin). When another plugin of the route already buffered the body
 * (request-validator), its length is checked instead. A Content-Length
 * limit is exact: a body of exactly allowed_payload_size passes. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "config/yamltree.h"
#include "core/alloc.h"
#include "http/filter.h"
#include "http/req.h"

#define RSL_TOO_LARGE "Request size limit exceeded"
#define RSL_NEED_LENGTH "A valid Content-Length header is required"
#define RSL_SIZE_MAX (1LL << 40) /* in any unit: far above any body */

struct rsl_conf {
    long long size;     /* allowed_payload_size, in @unit */
    uint64_t unit;      /* bytes per unit */
    uint64_t limit;     /* bytes */
    int require_length; /* require_content_length */
};

static void rsl_conf_free(void *p)
{
    rg_free(p);
}

static int k_size(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_int(t, v, 0, RSL_SIZE_MAX, &((struct rsl_conf *)ctx)->size);
}

static int k_unit(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    static const char *const names[] = {"bytes", "kilobytes", "megabytes",
                                        NULL};
    static const uint64_t units[] = {1, 1024, 1048576};
    int i;
    int rv = rg_yt_word(t, v, names, &i);

    if (rv == 0)
        ((struct rsl_conf *)ctx)->unit = units[i];
    return rv;
}

static int k_require(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct rsl_conf *)ctx)->require_length);
}

/* clang-format off */
static const struct rg_yt_key rsl_keys[] = {
    {"allowed_payload_size", k_size},
    {"size_unit", k_unit},
    {"require_content_length", k_require},
    {NULL, NULL},
};
/* clang-format on */

static int rsl_conf_parse(struct rg_yt *t, yaml_node_t *config, void **out)
{
    struct rsl_conf *c = rg_calloc(1, sizeof(*c));
    int rv = 0;

    *out = NULL;
    if (c == NULL)
        return rg_yt_nomem(t);
    c->size = 128; /* Kong's defaults */
    c->unit = 1048576;
    if (config != NULL)
        rv = rg_yt_map(t, config, rsl_keys, c);
    if (rv < 0) {
        rsl_conf_free(c);
        return rv;
    }
    c->limit = (uint64_t)c->size * c->unit;
    *out = c;
    return 0;
}

static enum rg_filter_status refuse(struct rg_req *r, int status,
                                    const char *message)
{
    char body[96];
    size_t n =
        (size_t)snprintf(body, sizeof(body), "{\"message\":\"%s\"}", message);

    return rg_req_respond(r, status, body, n) == 0 ? RG_FILTER_RESPOND
                                                   : RG_FILTER_ERROR;
}

/* Kong answers 417 to a client that waits for 100 Continue. */
static int expects_continue(struct rg_req *r)
{
    size_t len;
    const char *v = rg_req_header(r, "expect", &len);

    return v != NULL && len == 12 && strncasecmp(v, "100-continue", 12) == 0;
}

static enum rg_filter_status too_large(struct rg_req *r)
{
    return refuse(r, expects_continue(r) ? 417 : 413, RSL_TOO_LARGE);
}

static enum rg_filter_status rsl_access(const struct rg_filter_call *fc)
{
    const struct rsl_conf *c = fc->conf;
    struct rg_req *r = fc->r;
    int64_t cl = rg_req_content_length(r);
    const char *body;
    size_t len;

    if (cl >= 0)
        return (uint64_t)cl > c->limit ? too_large(r) : RG_FILTER_CONTINUE;
    if (!rg_req_chunked(r))
        return c->require_length ? refuse(r, 411, RSL_NEED_LENGTH)
                                 : RG_FILTER_CONTINUE;
    if (rg_req_body(r, &body, &len) == 0) /* another plugin buffered it */
        return (uint64_t)len > c->limit ? too_large(r) : RG_FILTER_CONTINUE;
    rg_req_cap_body(r, c->limit, RSL_TOO_LARGE);
    return RG_FILTER_CONTINUE;
}

const struct rg_filter_ops rg_plugin_request_size_limiting = {
    .schema = {.name = "request-size-limiting",
               .conf_parse = rsl_conf_parse,
               .conf_free = rsl_conf_free,
               .protocols = RG_PROTO_HTTP | RG_PROTO_HTTPS},
    .priority = 951, /* Kong's */
    .on_access = rsl_access,
};
