/* key-auth: Kong's API-key authentication. A request carries its key in a
 * header or a query argument named by key_names; the key is looked up in
 * the generation's key-auth credentials (consumers[].keyauth_credentials,
 * O(1)), and the request becomes its consumer's. Config, as Kong 3's:
 *
 *   key_names: [apikey]      header / query argument names, in order
 *   key_in_header: true      look in the request headers
 *   key_in_query: true       ... and in the query string (decoded)
 *   key_in_body: false       true is refused: not supported yet
 *   hide_credentials: false  do not send the key upstream
 *   anonymous: null          consumer (id or username) for requests
 *                            without a valid key, instead of 401
 *   run_on_preflight: true   false lets OPTIONS through unchecked
 *   realm: null              WWW-Authenticate: Key realm="<realm>"
 *                            (default "kong", as Kong)
 *
 * Answers, as Kong's: 401 {"message":"No API key found in request"},
 * 401 {"message":"Invalid authentication credentials"} (also for a key
 * whose ttl has run out), 401 {"message":"Duplicate API key found"}, each
 * with WWW-Authenticate. Upstream, an authenticated request carries
 * X-Consumer-ID, X-Consumer-Username, X-Consumer-Custom-ID and
 * X-Credential-Identifier (those the client sent are dropped, so they
 * cannot be forged); an anonymous one X-Anonymous-Consumer: true. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "config/yamltree.h"
#include "core/alloc.h"
#include "http/filter.h"
#include "http/req.h"
#include "plugins/auth.h"
#include "plugins/conf_read.h"

#define KA_NAMES_MAX 16
#define KA_KEY_MAX 1024 /* a decoded query key, bytes */

struct ka_conf {
    struct rg_names names;
    int in_header;
    int in_query;
    int hide;
    char *anonymous;
    int on_preflight;
    char *www_auth;          /* the WWW-Authenticate value */
};

/* ---- config ---- */

static void ka_conf_free(void *p)
{
    struct ka_conf *c = p;

    if (c == NULL)
        return;
    rg_names_free(&c->names);
    rg_free(c->anonymous);
    rg_free(c->www_auth);
    rg_free(c);
}

static int k_key_names(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct ka_conf *c = ctx;
    int rv = rg_names_read(t, v, &c->names, KA_NAMES_MAX, RG_NAME_HEADER,
                           "key names");

    if (rv == 0 && c->names.n == 0)
        return rg_yt_err(t, v, "needs at least one name");
    return rv;
}

static int k_in_header(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct ka_conf *)ctx)->in_header);
}

static int k_in_query(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct ka_conf *)ctx)->in_query);
}

static int k_in_body(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    int b;
    int rv = rg_yt_bool(t, v, &b);

    if (rv == 0 && b)
        return rg_yt_err(t, v, "true is not supported yet");
    return rv;
}

static int k_hide(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct ka_conf *)ctx)->hide);
}

static int k_anonymous(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_str(t, v, &((struct ka_conf *)ctx)->anonymous);
}

static int k_on_preflight(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct ka_conf *)ctx)->on_preflight);
}

static int k_realm(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_realm_read(t, v, "Key", &((struct ka_conf *)ctx)->www_auth);
}

/* clang-format off */
static const struct rg_yt_key ka_keys[] = {
    {"key_names", k_key_names},
    {"key_in_header", k_in_header},
    {"key_in_query", k_in_query},
    {"key_in_body", k_in_body},
    {"hide_credentials", k_hide},
    {"anonymous", k_anonymous},
    {"run_on_preflight", k_on_preflight},
    {"realm", k_realm},
    {NULL, NULL},
};
/* clang-format on */

static int ka_conf_parse(struct rg_yt *t, yaml_node_t *config, void **out)
{
    struct ka_conf *c = rg_calloc(1, sizeof(*c));
    int rv = 0;

    *out = NULL;
    if (c == NULL)
        return rg_yt_nomem(t);
    c->in_header = c->in_query = c->on_preflight = 1;
    c->www_auth = rg_strdup("Key realm=\"kong\"");
    if (rg_names_set1(&c->names, "apikey") != 0 || c->www_auth == NULL) {
        ka_conf_free(c);
        return rg_yt_nomem(t);
    }
    if (config != NULL)
        rv = rg_yt_map(t, config, ka_keys, c);
    if (rv < 0) {
        ka_conf_free(c);
        return rv;
    }
    *out = c;
    return 0;
}

/* ---- runtime ---- */

/* What the request presented. */
struct ka_found {
    const char *key;         /* NULL: no key */
    size_t len;
    int duplicate;
    const char *name;        /* the header or argument it came in */
    int in_query;
};

/* The key from the headers, then the query (argument names compared
 * decoded, so "ap%69key" is "apikey"). @buf holds a decoded query key. */
static void find_key(const struct rg_filter_call *fc, struct ka_found *f,
                     char *buf)
{
    const struct ka_conf *c = fc->conf;

    memset(f, 0, sizeof(*f));
    for (size_t i = 0; c->in_header && i < c->names.n; i++) {
        size_t n;
        const char *v = rg_req_header(fc->r, c->names.v[i], &n);

        if (v == NULL)
            continue;
        f->key = v;
        f->len = n;
        f->name = c->names.v[i];
        f->duplicate = rg_req_header_count(fc->r, c->names.v[i]) > 1;
        return;
    }
    for (size_t i = 0; c->in_query && i < c->names.n; i++) {
        struct rg_auth_arg a = {0};
        size_t qn;
        const char *q = rg_req_query(fc->r, &qn);
        long n;

        if (rg_auth_query_arg(q, qn, c->names.v[i], &a) != 0)
            continue;
        n = rg_auth_decode(a.val, a.vlen, buf, KA_KEY_MAX);
        f->key = buf;
        f->len = n < 0 ? 0 : (size_t)n;
        f->duplicate = rg_auth_query_arg(q, qn, c->names.v[i], &a) == 0;
        f->name = c->names.v[i];
        f->in_query = 1;
        return;
    }
}

/* Drop argument @name from the query sent upstream (the only one: a
 * second would have been a duplicate). */
static int hide_query_arg(struct rg_req *r, const char *name)
{
    struct rg_auth_arg a = {0};
    size_t qn, n;
    const char *q = rg_req_query(r, &qn);
    char *nq;

    if (rg_auth_query_arg(q, qn, name, &a) != 0)
        return 0;
    nq = rg_req_alloc(r, qn);
    if (nq == NULL)
        return -ENOMEM;
    memcpy(nq, q, a.from);
    memcpy(nq + a.from, q + a.to, qn - a.to);
    n = a.from + (qn - a.to);
    if (n > 0 && nq[n - 1] == '&')
        n--;
    return rg_req_set_query(r, nq, n);
}

static int expired(const struct rg_keyauth *k)
{
    return k->ttl > 0 && (int64_t)time(NULL) >= k->cred.created_at + k->ttl;
}

static enum rg_filter_status refuse(const struct rg_filter_call *fc,
                                    const char *body)
{
    const struct ka_conf *c = fc->conf;

    return rg_auth_refuse(fc->r, c->anonymous, body, c->www_auth);
}

static enum rg_filter_status ka_access(const struct rg_filter_call *fc)
{
    const struct ka_conf *c = fc->conf;
    const struct rg_gateway *gw = rg_req_gateway(fc->r);
    struct ka_found f;
    char buf[KA_KEY_MAX];
    size_t ki;

    if ((!c->on_preflight && rg_req_method(fc->r) == RG_M_OPTIONS) ||
        rg_auth_skip(fc->r, c->anonymous))
        return RG_FILTER_CONTINUE;
    find_key(fc, &f, buf);
    if (f.key == NULL)
        return refuse(fc, "{\"message\":\"No API key found in request\"}");
    if (f.duplicate)
        return refuse(fc, "{\"message\":\"Duplicate API key found\"}");
    ki = rg_gateway_find_keyauth(gw, f.key, f.len);
    if (ki == RG_NO_INDEX || expired(&gw->keyauths[ki]))
        return refuse(fc,
                      "{\"message\":\"Invalid authentication credentials\"}");
    if (c->hide) {
        if (f.in_query && hide_query_arg(fc->r, f.name) != 0)
            return RG_FILTER_ERROR;
        if (!f.in_query)
            rg_req_hide_header(fc->r, f.name);
    }
    return rg_auth_set_consumer(fc->r, gw->keyauths[ki].cred.consumer,
                                &gw->keyauths[ki].cred) == 0
               ? RG_FILTER_CONTINUE
               : RG_FILTER_ERROR;
}

const struct rg_filter_ops rg_plugin_key_auth = {
    .schema = {.name = "key-auth",
               .conf_parse = ka_conf_parse,
               .conf_free = ka_conf_free,
               .protocols = RG_PROTO_HTTP | RG_PROTO_HTTPS | RG_PROTO_GRPC |
                            RG_PROTO_GRPCS,
               .no_consumer = 1},
    .priority = 1250, /* Kong's */
    .on_access = ka_access,
};
