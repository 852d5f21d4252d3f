/* cors: Kong's Cross-Origin Resource Sharing. A preflight (OPTIONS with
 * Origin and Access-Control-Request-Method) is answered at the gateway in
 * access (priority 2000: before authentication, as Kong); every other
 * response from an allowed origin gets its CORS headers in header_filter,
 * local replies (a 401 from jwt) included. Config, as Kong 3's:
 *
 *   origins: ["*"]           exact origins (compared without case), "*",
 *                            or regexes: an entry holding a character
 *                            outside [A-Za-z0-9.:/-] is a POSIX extended
 *                            regex matched against the whole origin (as
 *                            Kong tells them apart)
 *   methods: [GET, HEAD, PUT, PATCH, POST, DELETE, OPTIONS, TRACE, CONNECT]
 *   headers: []              Access-Control-Allow-Headers; empty: echo the
 *                            preflight's Access-Control-Request-Headers
 *   exposed_headers: []      credentials: false     max_age: null
 *   preflight_continue: false   (true: the preflight goes upstream)
 *   private_network: false   answer Access-Control-Request-Private-Network
 *
 * An origin that is not allowed gets no CORS header at all (its preflight
 * is answered 200 without them: the browser refuses). `*` with
 * credentials echoes the request's origin, since browsers refuse `*`
 * there. Vary: Origin goes with every answer that depends on it. */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config/yamltree.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "http/filter.h"
#include "http/req.h"
#include "plugins/conf_read.h"

#define CORS_LIST_MAX 64

struct cors_origin {
    char *text;              /* exact origin, or the regex source */
    regex_t re;
    int is_re;
};

struct cors_conf {
    struct cors_origin origins[CORS_LIST_MAX];
    size_t n_origins;        /* 0: any ("*", the default) */
    int any;
    char *methods;           /* joined with ", " */
    char *headers;           /* joined, or NULL: echo */
    char *exposed;           /* joined, or NULL */
    int credentials;
    long long max_age;       /* -1: none */
    int preflight_continue;
    int private_network;
};

/* ---- config ---- */

static void cors_conf_free(void *p)
{
    struct cors_conf *c = p;

    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n_origins; i++) {
        if (c->origins[i].is_re)
            regfree(&c->origins[i].re);
        rg_free(c->origins[i].text);
    }
    rg_free(c->methods);
    rg_free(c->headers);
    rg_free(c->exposed);
    rg_free(c);
}

static int is_regex(const char *s)
{
    for (; *s != '\0'; s++) {
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
              (*s >= '0' && *s <= '9') || strchr(".:/-", *s)))
            return 1;
    }
    return 0;
}

static int origin_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    struct cors_conf *c = ctx;
    struct cors_origin *o;
    char *anchored;
    int rv;

    if (c->n_origins == CORS_LIST_MAX)
        return rg_yt_err(t, n, "at most %d origins", CORS_LIST_MAX);
    o = &c->origins[c->n_origins];
    memset(o, 0, sizeof(*o));
    rv = rg_yt_str(t, n, &o->text);
    if (rv < 0)
        return rv;
    c->n_origins++;
    if (strcmp(o->text, "*") == 0) {
        c->any = 1;
        return 0;
    }
    if (o->text[0] == '\0')
        return rg_yt_err(t, n, "must not be empty");
    if (!is_regex(o->text))
        return 0;
    anchored = rg_malloc(strlen(o->text) + 5);
    if (anchored == NULL)
        return rg_yt_nomem(t);
    sprintf(anchored, "^(%s)$", o->text);
    rv = regcomp(&o->re, anchored, REG_EXTENDED | REG_ICASE | REG_NOSUB);
    rg_free(anchored);
    if (rv != 0)
        return rg_yt_err(t, n, "is not a valid regex");
    o->is_re = 1;
    return 0;
}

static int k_origins(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_seq(t, v, origin_item, ctx);
}

/* A list of header (or, @methods, method) names joined with ", " into
 * *@out (NULL for an empty list). */
static int read_joined(struct rg_yt *t, yaml_node_t *v, int methods,
                       char **out)
{
    struct rg_names l = {0};
    struct rg_buf b;
    int rv = rg_names_read(t, v, &l, CORS_LIST_MAX,
                           methods ? RG_NAME_METHOD : RG_NAME_HEADER,
                           methods ? "methods" : "names");

    rg_free(*out);
    *out = NULL;
    if (rv < 0 || l.n == 0) {
        rg_names_free(&l);
        return rv;
    }
    rg_buf_init(&b, 8192);
    for (size_t i = 0; i < l.n; i++) {
        if (i > 0)
            rg_buf_adds(&b, ", ");
        rg_buf_adds(&b, l.v[i]);
    }
    rg_buf_add(&b, "", 1);
    if (rg_buf_error(&b) != 0)
        rv = rg_yt_err(t, v, "too long");
    else if ((*out = rg_strdup(b.p)) == NULL)
        rv = rg_yt_nomem(t);
    rg_buf_release(&b);
    rg_names_free(&l);
    return rv;
}

static int k_methods(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct cors_conf *c = ctx;
    int rv = read_joined(t, v, 1, &c->methods);

    if (rv == 0 && c->methods == NULL)
        return rg_yt_err(t, v, "needs at least one method");
    return rv;
}

static int k_headers(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_joined(t, v, 0, &((struct cors_conf *)ctx)->headers);
}

static int k_exposed(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_joined(t, v, 0, &((struct cors_conf *)ctx)->exposed);
}

static int k_credentials(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct cors_conf *)ctx)->credentials);
}

static int k_max_age(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_int(t, v, 0, 86400 * 365, &((struct cors_conf *)ctx)->max_age);
}

static int k_preflight_continue(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct cors_conf *)ctx)->preflight_continue);
}

static int k_private_network(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct cors_conf *)ctx)->private_network);
}

/* clang-format off */
static const struct rg_yt_key cors_keys[] = {
    {"origins", k_origins},
    {"methods", k_methods},
    {"headers", k_headers},
    {"exposed_headers", k_exposed},
    {"credentials", k_credentials},
    {"max_age", k_max_age},
    {"preflight_continue", k_preflight_continue},
    {"private_network", k_private_network},
    {NULL, NULL},
};
/* clang-format on */

static int cors_conf_parse(struct rg_yt *t, yaml_node_t *config, void **out)
{
    struct cors_conf *c = rg_calloc(1, sizeof(*c));
    int rv = 0;

    *out = NULL;
    if (c == NULL)
        return rg_yt_nomem(t);
    c->max_age = -1;
    c->methods = rg_strdup("GET, HEAD, PUT, PATCH, POST, DELETE, OPTIONS, "
                           "TRACE, CONNECT");
    if (c->methods == NULL) {
        cors_conf_free(c);
        return rg_yt_nomem(t);
    }
    if (config != NULL)
        rv = rg_yt_map(t, config, cors_keys, c);
    if (rv < 0) {
        cors_conf_free(c);
        return rv;
    }
    if (c->n_origins == 0)
        c->any = 1;
    *out = c;
    return 0;
}

/* ---- runtime ---- */

/* The Access-Control-Allow-Origin value for the request, or NULL when it
 * gets none (no Origin, or one not allowed). *@vary: the answer depends
 * on the Origin. @buf holds an echoed origin (NUL-terminated). */
static const char *allow_origin(const struct cors_conf *c, struct rg_req *r,
                                char *buf, size_t cap, int *vary)
{
    size_t n;
    const char *o = rg_req_header(r, "origin", &n);

    *vary = !c->any || c->credentials;
    if (c->any && !c->credentials)
        return "*";
    if (o == NULL || n == 0 || n >= cap)
        return NULL;
    memcpy(buf, o, n);
    buf[n] = '\0';
    if (c->any)
        return buf;
    for (size_t i = 0; i < c->n_origins; i++) {
        const struct cors_origin *e = &c->origins[i];

        if (e->is_re ? regexec(&e->re, buf, 0, NULL, 0) == 0
                     : strlen(e->text) == n && strcasecmp(e->text, buf) == 0)
            return buf;
    }
    return NULL;
}

/* Add response header @name: @value unless something failed before. */
static void add(struct rg_req *r, const char *name, const char *value,
                int *rv)
{
    if (*rv == 0 && value != NULL)
        *rv = rg_req_add_header(r, RG_TO_CLIENT, name, value);
}

/* The headers of any answer to an allowed origin. */
static int common_headers(const struct cors_conf *c, struct rg_req *r,
                          const char *origin, int vary)
{
    int rv = 0;

    add(r, "Access-Control-Allow-Origin", origin, &rv);
    add(r, "Vary", vary ? "Origin" : NULL, &rv);
    add(r, "Access-Control-Allow-Credentials",
        c->credentials ? "true" : NULL, &rv);
    return rv;
}

static int is_preflight(struct rg_req *r)
{
    size_t n;

    return rg_req_method(r) == RG_M_OPTIONS &&
           rg_req_header(r, "origin", &n) != NULL &&
           rg_req_header(r, "access-control-request-method", &n) != NULL;
}

static enum rg_filter_status cors_access(const struct rg_filter_call *fc)
{
    const struct cors_conf *c = fc->conf;
    struct rg_req *r = fc->r;
    char obuf[512], age[24], hbuf[1024];
    const char *origin, *hdrs = c->headers;
    size_t n;
    int vary, rv;

    if (c->preflight_continue || !is_preflight(r))
        return RG_FILTER_CONTINUE;
    origin = allow_origin(c, r, obuf, sizeof(obuf), &vary);
    rv = rg_req_respond(r, 200, "", 0);
    if (rv == 0 && origin == NULL && vary)
        add(r, "Vary", "Origin", &rv);
    if (rv == 0 && origin != NULL) {
        const char *rh = rg_req_header(r, "access-control-request-headers",
                                       &n);

        if (hdrs == NULL && rh != NULL && n > 0 && n < sizeof(hbuf)) {
            memcpy(hbuf, rh, n);
            hbuf[n] = '\0';
            hdrs = hbuf;
        }
        snprintf(age, sizeof(age), "%lld", c->max_age);
        rv = common_headers(c, r, origin, vary);
        add(r, "Access-Control-Allow-Methods", c->methods, &rv);
        add(r, "Access-Control-Allow-Headers", hdrs, &rv);
        add(r, "Access-Control-Max-Age", c->max_age >= 0 ? age : NULL, &rv);
        if (c->private_network &&
            (rh = rg_req_header(r, "access-control-request-private-network",
                                &n)) != NULL &&
            n == 4 && strncasecmp(rh, "true", 4) == 0)
            add(r, "Access-Control-Allow-Private-Network", "true", &rv);
    }
    if (rv != 0) {
        rg_req_fail(r, rv);
        return RG_FILTER_ERROR;
    }
    return RG_FILTER_RESPOND;
}

static enum rg_filter_status cors_header(const struct rg_filter_call *fc)
{
    const struct cors_conf *c = fc->conf;
    struct rg_req *r = fc->r;
    char obuf[512];
    const char *origin;
    int vary, rv = 0;

    if (!c->preflight_continue && is_preflight(r))
        return RG_FILTER_CONTINUE; /* answered in access, headers set */
    origin = allow_origin(c, r, obuf, sizeof(obuf), &vary);
    if (origin == NULL) {
        add(r, "Vary", vary ? "Origin" : NULL, &rv);
    } else {
        rv = common_headers(c, r, origin, vary);
        add(r, "Access-Control-Expose-Headers", c->exposed, &rv);
    }
    if (rv != 0) {
        rg_req_fail(r, rv);
        return RG_FILTER_ERROR;
    }
    return RG_FILTER_CONTINUE;
}

const struct rg_filter_ops rg_plugin_cors = {
    .schema = {.name = "cors",
               .conf_parse = cors_conf_parse,
               .conf_free = cors_conf_free,
               .protocols = RG_PROTO_HTTP | RG_PROTO_HTTPS},
    .priority = 2000, /* Kong's */
    .on_access = cors_access,
    .on_header = cors_header,
};
