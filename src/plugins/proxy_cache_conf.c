/* proxy-cache's config reader: Kong 3's fields, raftgate's extensions
 * and the fallback response (proxy_cache.h). */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "config/gateway.h"
#include "config/yamltree.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "plugins/conf_read.h"
#include "plugins/proxy_cache.h"

#define PC_TTL_MAX 31536000LL /* a year */

void rg_pc__conf_free(void *p)
{
    struct rg_pc_conf *c = p;

    if (c == NULL)
        return;
    rg_names_free(&c->ctypes);
    rg_names_free(&c->vary_headers);
    rg_names_free(&c->vary_query);
    rg_free(c->fb_fields);
    rg_free(c->fb_body);
    rg_free(c);
}

static int code_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    struct rg_pc_conf *c = ctx;
    long long x;
    int rv;

    (void)i;
    if (c->n_codes == RG_PC_LIST_MAX)
        return rg_yt_err(t, n, "at most %d codes", RG_PC_LIST_MAX);
    rv = rg_yt_int(t, n, 200, 599, &x);
    if (rv < 0)
        return rv;
    if (x == 204 || x == 304)
        return rg_yt_err(t, n, "204 and 304 are not cached (no body)");
    c->codes[c->n_codes++] = (int)x;
    return 0;
}

static int k_response_code(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct rg_pc_conf *c = ctx;
    int rv;

    c->n_codes = 0;
    rv = rg_yt_seq(t, v, code_item, ctx);
    if (rv == 0 && c->n_codes == 0)
        return rg_yt_err(t, v, "needs at least one code");
    return rv;
}

static int method_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    struct rg_pc_conf *c = ctx;
    const char *s;
    size_t len;
    unsigned bit;
    int rv = rg_yt_scalar(t, n, &s, &len);

    (void)i;
    if (rv < 0)
        return rv;
    bit = rg_method_bit(s, len);
    if (bit == 0 || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != len)
        return rg_yt_err(t, n,
                         "must be an HTTP method in upper case "
                         "(GET, HEAD, POST...)");
    c->methods |= bit;
    return 0;
}

static int k_request_method(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct rg_pc_conf *c = ctx;
    int rv;

    c->methods = 0;
    rv = rg_yt_seq(t, v, method_item, ctx);
    if (rv == 0 && c->methods == 0)
        return rg_yt_err(t, v, "needs at least one method");
    return rv;
}

static int k_content_type(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct rg_pc_conf *c = ctx;
    int rv = rg_names_read(t, v, &c->ctypes, RG_PC_LIST_MAX, RG_NAME_ANY,
                           "content types");

    if (rv == 0 && c->ctypes.n == 0)
        return rg_yt_err(t, v, "needs at least one content type");
    for (size_t i = 0; rv == 0 && i < c->ctypes.n; i++) {
        const char *s = c->ctypes.v[i];

        if (strcmp(s, "*") != 0 && strchr(s, '/') == NULL)
            rv = rg_yt_err(t, v, "%s: must be type/subtype (or *)", s);
    }
    return rv;
}

static int k_cache_ttl(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_int(t, v, 1, PC_TTL_MAX,
                     &((struct rg_pc_conf *)ctx)->cache_ttl);
}

static int k_storage_ttl(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    if (rg_yt_is_null(v))
        return 0;
    return rg_yt_int(t, v, 0, PC_TTL_MAX,
                     &((struct rg_pc_conf *)ctx)->storage_ttl);
}

static int k_stale_if_error(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_int(t, v, 0, PC_TTL_MAX,
                     &((struct rg_pc_conf *)ctx)->stale_if_error);
}

static int k_memory_cap(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_int(t, v, 1024, 1LL << 40,
                     &((struct rg_pc_conf *)ctx)->memory_cap);
}

static int k_strategy(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    const char *s;
    size_t len;
    int rv = rg_yt_scalar(t, v, &s, &len);

    if (rv < 0)
        return rv;
    if (strcmp(s, "memory") != 0)
        return rg_yt_err(t, v, "must be memory (the only strategy)");
    ((struct rg_pc_conf *)ctx)->has_strategy = 1;
    return 0;
}

static int k_cache_control(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct rg_pc_conf *)ctx)->cache_control);
}

static int k_ignore_uri_case(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct rg_pc_conf *)ctx)->ignore_uri_case);
}

static int k_vary_by_consumer(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct rg_pc_conf *)ctx)->vary_by_consumer);
}

static int k_vary_headers(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct rg_pc_conf *c = ctx;
    int rv = rg_names_read(t, v, &c->vary_headers, RG_PC_LIST_MAX,
                           RG_NAME_HEADER, "header names");

    /* Compared without case: kept in lower case, as in the key. */
    for (size_t i = 0; rv == 0 && i < c->vary_headers.n; i++) {
        for (char *p = c->vary_headers.v[i]; *p; p++) {
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        }
    }
    return rv;
}

static int k_vary_query(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct rg_pc_conf *c = ctx;

    return rg_names_read(t, v, &c->vary_query, RG_PC_LIST_MAX, RG_NAME_WORD,
                         "parameter names");
}

static int k_dictionary_name(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    const char *s;
    size_t len;

    (void)ctx;
    return rg_yt_scalar(t, v, &s, &len);
}

static const struct rg_yt_key memory_keys[] = {
    {"dictionary_name", k_dictionary_name},
    {NULL, NULL},
};

static int k_memory(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_map(t, v, memory_keys, ctx);
}

static int k_h_age(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct rg_pc_conf *)ctx)->h_age);
}

static int k_h_status(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct rg_pc_conf *)ctx)->h_status);
}

static int k_h_key(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct rg_pc_conf *)ctx)->h_key);
}

static const struct rg_yt_key response_header_keys[] = {
    {"age", k_h_age},
    {"X-Cache-Status", k_h_status},
    {"X-Cache-Key", k_h_key},
    {NULL, NULL},
};

static int k_response_headers(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_map(t, v, response_header_keys, ctx);
}

/* ---- fallback: {status, headers: {name: value}, body} ---- */

static int framing_name(const char *s)
{
    static const char *const names[] = {"content-length", "transfer-encoding",
                                        "connection",     "keep-alive",
                                        "upgrade",        "te",
                                        "trailer",        "host"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(s, names[i]) == 0)
            return 1;
    }
    return 0;
}

struct fb_parse {
    struct rg_pc_conf *c;
    struct rg_buf fields;
    int has_ctype;
};

static int fb_header(struct rg_yt *t, const char *key, size_t len,
                     yaml_node_t *v, void *ctx)
{
    struct fb_parse *f = ctx;
    const char *s;
    size_t sl;
    int rv = rg_yt_scalar(t, v, &s, &sl);

    if (rv < 0)
        return rv;
    if (len == 0 || strpbrk(key, "()<>@,;:\\\"/[]?={} \t\r\n") != NULL)
        return rg_yt_err(t, v, "the name must be an HTTP header name");
    if (framing_name(key))
        return rg_yt_err(t, v, "the gateway writes this header itself");
    if (strpbrk(s, "\r\n") != NULL)
        return rg_yt_err(t, v, "must not hold CR or LF");
    f->has_ctype |= strcasecmp(key, "content-type") == 0;
    rg_buf_add_field(&f->fields, key, len, s, sl);
    return 0;
}

static int k_fb_status(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;
    int rv = rg_yt_int(t, v, 200, 599, &x);

    if (rv == 0 && (x == 204 || x == 304))
        return rg_yt_err(t, v,
                         "must not be 204 or 304 (a fallback has a "
                         "body)");
    if (rv == 0)
        ((struct rg_pc_conf *)ctx)->fb_status = (int)x;
    return rv;
}

static int k_fb_headers(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_pairs(t, v, fb_header, ctx);
}

static int k_fb_body(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct fb_parse *f = ctx;
    const char *s;
    size_t len;
    int rv = rg_yt_scalar(t, v, &s, &len);

    if (rv < 0)
        return rv;
    rg_free(f->c->fb_body);
    f->c->fb_body = rg_strndup(s, len);
    f->c->fb_blen = len;
    return f->c->fb_body == NULL ? rg_yt_nomem(t) : 0;
}

static int k_fb_status2(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return k_fb_status(t, v, ((struct fb_parse *)ctx)->c);
}

static const struct rg_yt_key fallback_keys[] = {
    {"status", k_fb_status2},
    {"headers", k_fb_headers},
    {"body", k_fb_body},
    {NULL, NULL},
};

static int k_fallback(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct fb_parse f = {.c = ctx};
    int rv;

    if (rg_yt_is_null(v))
        return 0;
    rg_buf_init(&f.fields, 64 * 1024);
    f.c->fb_status = 0;
    rv = rg_yt_map(t, v, fallback_keys, &f);
    if (rv == 0 && f.c->fb_status == 0)
        rv = rg_yt_err(t, v, "needs a status");
    if (rv == 0 && !f.has_ctype)
        rg_buf_adds(&f.fields,
                    "Content-Type: application/json; charset=utf-8\r\n");
    if (rv == 0 && rg_buf_error(&f.fields) != 0)
        rv = rg_yt_err(t, v, "headers: too long");
    if (rv == 0 && f.c->fb_body == NULL &&
        (f.c->fb_body = rg_strdup("")) == NULL)
        rv = rg_yt_nomem(t);
    if (rv == 0) {
        rg_free(f.c->fb_fields);
        f.c->fb_fields =
            rg_strndup(f.fields.p != NULL ? f.fields.p : "", f.fields.len);
        f.c->fb_flen = f.fields.len;
        if (f.c->fb_fields == NULL)
            rv = rg_yt_nomem(t);
    }
    if (rv < 0)
        f.c->fb_status = 0;
    rg_buf_release(&f.fields);
    return rv;
}

/* clang-format off */
static const struct rg_yt_key pc_keys[] = {
    {"strategy", k_strategy},
    {"response_code", k_response_code},
    {"request_method", k_request_method},
    {"content_type", k_content_type},
    {"cache_ttl", k_cache_ttl},
    {"cache_control", k_cache_control},
    {"storage_ttl", k_storage_ttl},
    {"ignore_uri_case", k_ignore_uri_case},
    {"vary_headers", k_vary_headers},
    {"vary_query_params", k_vary_query},
    {"response_headers", k_response_headers},
    {"memory", k_memory},
    {"vary_by_consumer", k_vary_by_consumer},
    {"memory_cap", k_memory_cap},
    {"stale_if_error", k_stale_if_error},
    {"fallback", k_fallback},
    {NULL, NULL},
};
/* clang-format on */

static int pc_defaults(struct rg_pc_conf *c)
{
    static const char *const ctypes[] = {"text/plain", "application/json"};

    c->methods = RG_M_GET | RG_M_HEAD;
    c->codes[0] = 200;
    c->codes[1] = 301;
    c->codes[2] = 404;
    c->n_codes = 3;
    c->cache_ttl = 300;
    c->memory_cap = 16 << 20;
    c->vary_by_consumer = 1;
    c->h_age = c->h_status = c->h_key = 1;
    c->ctypes.v = rg_calloc(2, sizeof(char *));
    if (c->ctypes.v == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < 2; i++) {
        c->ctypes.v[i] = rg_strdup(ctypes[i]);
        if (c->ctypes.v[i] == NULL)
            return -ENOMEM;
        c->ctypes.n++;
    }
    return 0;
}

int rg_pc__conf_parse(struct rg_yt *t, yaml_node_t *config, void **out)
{
    struct rg_pc_conf *c = rg_calloc(1, sizeof(*c));
    int rv;

    *out = NULL;
    if (c == NULL || pc_defaults(c) != 0) {
        rg_pc__conf_free(c);
        return rg_yt_nomem(t);
    }
    rv = config != NULL ? rg_yt_map(t, config, pc_keys, c) : 0;
    if (rv == 0 && !c->has_strategy)
        rv = rg_yt_err(t, config,
                       "strategy: required field missing "
                       "(strategy: memory)");
    if (rv < 0) {
        rg_pc__conf_free(c);
        return rv;
    }
    *out = c;
    return 0;
}
