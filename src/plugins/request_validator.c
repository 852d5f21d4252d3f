/* request-validator: Kong's check of the request body against a JSON
 * Schema before the request goes upstream. Config, as Kong 3's:
 *
 *   body_schema: '{"type": "object", ...}'  the schema, a JSON string as
 *                          in Kong; raftgate also takes it as a YAML
 *                          mapping (plain scalars typed as YAML's core
 *                          schema: 18 a number, true a boolean, "18" a
 *                          string). The subset of plugins/jsonschema.h;
 *                          compiled once per config generation, and a
 *                          keyword outside it is a config error.
 *   allowed_content_types: [application/json]  media types, "*" allowed
 *                          as type or subtype; a parameter must match
 *                          too (Kong: only the first parameter counts;
 *                          names and a charset's value without case)
 *   content_type_parameter_validation: true   false: parameters ignored
 *   verbose_response: false  true: the reply also says why (detail)
 *   version: draft4         Kong's default `kong` (its own schema
 *                          format) is not supported: raftgate's
 *                          default is draft4
 *   parameter_schema        not supported (accepted only as null)
 *
 * In ACCESS (Kong's priority 999), with the body buffered (capped at 1
 * MiB, 413 past it): a Content-Type missing or not allowed is refused 400
 * {"message":"specified Content-Type is not allowed"}; for a JSON
 * content type (application/json or a +json subtype) the body is parsed
 * (duplicate keys refused) and validated, other allowed types pass
 * unvalidated (Kong's rule). A body that is not JSON, or does not
 * conform, is refused 400 {"message":"request body doesn't conform to
 * schema","path":"$.user.age","rule":"minimum"} (+ "detail" when
 * verbose). Every request the plugin sees is checked, bodiless ones too:
 * attach it to routes that take bodies. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "config/yamltree.h"
#include "core/alloc.h"
#include "http/filter.h"
#include "http/req.h"
#include "plugins/jsonschema.h"

#define RV_TYPES_MAX 32
#define RV_MT_MAX 128 /* bytes of a media type's part */

#define RV_BAD_TYPE "{\"message\":\"specified Content-Type is not allowed\"}"
#define RV_BAD_BODY "request body doesn't conform to schema"

/* A media type, lower-cased: type/subtype and its first parameter
 * ("charset=utf-8", the value lower-cased for charset only; "" none). */
struct media {
    char type[RV_MT_MAX], sub[RV_MT_MAX], param[2 * RV_MT_MAX];
};

struct rv_conf {
    struct rg_js *schema;
    struct media *types;
    size_t n_types;
    int param_check; /* content_type_parameter_validation */
    int verbose;
    int kong_version; /* version: kong was given */
};

static void rv_conf_free(void *p)
{
    struct rv_conf *c = p;

    if (c == NULL)
        return;
    rg_js_free(c->schema);
    rg_free(c->types);
    rg_free(c);
}

/* ---- media types (RFC 9110 §8.3.1) ---- */

static int tchar(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* A token at *@p (up to @end) lower-cased into @out (@cap); moves *@p. */
static int token(const char **p, const char *end, char *out, size_t cap)
{
    size_t n = 0;

    while (*p < end && tchar(**p)) {
        if (n + 1 >= cap)
            return -1;
        out[n++] = (char)((**p >= 'A' && **p <= 'Z') ? **p + 32 : **p);
        (*p)++;
    }
    out[n] = '\0';
    return n > 0 ? 0 : -1;
}

static void skip_ows(const char **p, const char *end)
{
    while (*p < end && (**p == ' ' || **p == '\t'))
        (*p)++;
}

/* A parameter's value: a token or a quoted-string, into @out. */
static int param_value(const char **p, const char *end, char *out, size_t cap)
{
    size_t n = 0;

    if (*p >= end || **p != '"') {
        while (*p < end && tchar(**p) && n + 1 < cap)
            out[n++] = *(*p)++;
        out[n] = '\0';
        return n > 0 && (*p >= end || !tchar(**p)) ? 0 : -1;
    }
    for ((*p)++; *p < end && **p != '"'; (*p)++) {
        if (**p == '\\' && *p + 1 < end)
            (*p)++;
        if (n + 1 >= cap || (unsigned char)**p < 0x20)
            return -1;
        out[n++] = **p;
    }
    if (*p >= end)
        return -1;
    (*p)++;
    out[n] = '\0';
    return 0;
}

/* The first parameter of ";..." at *@p into m->param. */
static int first_param(const char *p, const char *end, struct media *m)
{
    char name[RV_MT_MAX], value[RV_MT_MAX];

    skip_ows(&p, end);
    if (p >= end)
        return 0;
    if (*p++ != ';')
        return -1;
    skip_ows(&p, end);
    if (p >= end)
        return 0; /* "type/sub;" */
    if (token(&p, end, name, sizeof(name)) != 0 || p >= end || *p++ != '=' ||
        param_value(&p, end, value, sizeof(value)) != 0)
        return -1;
    if (strcmp(name, "charset") == 0) {
        for (char *v = value; *v != '\0'; v++) {
            if (*v >= 'A' && *v <= 'Z')
                *v += 32;
        }
    }
    snprintf(m->param, sizeof(m->param), "%s=%s", name, value);
    return 0; /* the rest is not looked at (Kong) */
}

static int media_parse(const char *s, size_t len, struct media *m)
{
    const char *p = s, *end = s + len;

    memset(m, 0, sizeof(*m));
    skip_ows(&p, end);
    if (token(&p, end, m->type, sizeof(m->type)) != 0 || p >= end ||
        *p++ != '/' || token(&p, end, m->sub, sizeof(m->sub)) != 0)
        return -1;
    return first_param(p, end, m);
}

static int part_match(const char *allowed, const char *got)
{
    return strcmp(allowed, "*") == 0 || strcmp(allowed, got) == 0;
}

static int type_allowed(const struct rv_conf *c, const struct media *m)
{
    for (size_t i = 0; i < c->n_types; i++) {
        const struct media *a = &c->types[i];

        if (part_match(a->type, m->type) && part_match(a->sub, m->sub) &&
            (!c->param_check || strcmp(a->param, m->param) == 0))
            return 1;
    }
    return 0;
}

static int media_is_json(const struct media *m)
{
    size_t n = strlen(m->sub);

    return strcmp(m->sub, "json") == 0 ||
           (n > 5 && strcmp(m->sub + n - 5, "+json") == 0);
}

/* ---- YAML to JSON, for a body_schema given as a mapping ---- */

static json_t *plain_scalar(const char *s, size_t len)
{
    char *end;
    long long i;
    double d;

    if (len == 0 || strcmp(s, "~") == 0 || strcasecmp(s, "null") == 0)
        return json_null();
    if (strcasecmp(s, "true") == 0)
        return json_true();
    if (strcasecmp(s, "false") == 0)
        return json_false();
    errno = 0;
    i = strtoll(s, &end, 10);
    if (errno == 0 && end == s + len)
        return json_integer(i);
    d = strtod(s, &end);
    if (end == s + len && strspn(s, "+-.0123456789eE") == len)
        return json_real(d);
    return json_stringn(s, len);
}

static json_t *to_json(struct rg_yt *t, yaml_node_t *n, int depth);

static json_t *mapping_to_json(struct rg_yt *t, yaml_node_t *n, int depth)
{
    json_t *o = json_object();

    for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
         o != NULL && p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&t->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&t->doc, p->value);
        json_t *jv;

        if (k == NULL || k->type != YAML_SCALAR_NODE) {
            json_decref(o);
            return NULL;
        }
        jv = to_json(t, v, depth + 1);
        if (jv == NULL ||
            json_object_setn_new(o, (const char *)k->data.scalar.value,
                                 k->data.scalar.length, jv) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static json_t *seq_to_json(struct rg_yt *t, yaml_node_t *n, int depth)
{
    json_t *a = json_array();

    for (yaml_node_item_t *i = n->data.sequence.items.start;
         a != NULL && i < n->data.sequence.items.top; i++) {
        json_t *jv = to_json(t, yaml_document_get_node(&t->doc, *i), depth + 1);

        if (jv == NULL || json_array_append_new(a, jv) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* NULL on a tree too deep or too big (alias bombs), a non-scalar key or
 * ENOMEM. */
static json_t *to_json(struct rg_yt *t, yaml_node_t *n, int depth)
{
    if (n == NULL || depth > 2 * RG_JS_DEPTH_MAX + 2 || t->budget == 0)
        return NULL;
    t->budget--;
    switch (n->type) {
    case YAML_MAPPING_NODE:
        return mapping_to_json(t, n, depth);
    case YAML_SEQUENCE_NODE:
        return seq_to_json(t, n, depth);
    case YAML_SCALAR_NODE:
        if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
            return json_stringn((const char *)n->data.scalar.value,
                                n->data.scalar.length);
        return plain_scalar((const char *)n->data.scalar.value,
                            n->data.scalar.length);
    default:
        return NULL;
    }
}

/* ---- config ---- */

static int k_body_schema(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct rv_conf *c = ctx;
    char err[RG_JS_PATH_MAX + 128];
    json_error_t je;
    json_t *j;
    int rv;

    if (v->type == YAML_SCALAR_NODE) {
        j = json_loadb((const char *)v->data.scalar.value,
                       v->data.scalar.length, JSON_REJECT_DUPLICATES, &je);
        if (j == NULL)
            return rg_yt_err(t, v, "not JSON: %s (column %d)", je.text,
                             je.column);
    } else if (v->type == YAML_MAPPING_NODE) {
        j = to_json(t, v, 0);
        if (j == NULL)
            return rg_yt_err(t, v,
                             "cannot be read as JSON (too deep, too "
                             "big or a key that is not a string)");
    } else {
        return rg_yt_err(t, v,
                         "must be a JSON Schema (a JSON string or a "
                         "mapping)");
    }
    if (json_is_array(j)) {
        json_decref(j);
        return rg_yt_err(t, v,
                         "is in Kong's own schema format (version "
                         "kong), which is not supported: give a "
                         "JSON Schema draft 4 object");
    }
    rg_js_free(c->schema);
    rv = rg_js_compile(j, &c->schema, err, sizeof(err));
    json_decref(j);
    if (rv == -ENOMEM)
        return rg_yt_nomem(t);
    return rv < 0 ? rg_yt_err(t, v, "%s", err) : 0;
}

static int type_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    struct rv_conf *c = ctx;
    const char *s;
    size_t len;
    int rv = rg_yt_scalar(t, n, &s, &len);

    if (rv < 0)
        return rv;
    if (i >= RV_TYPES_MAX)
        return rg_yt_err(t, n, "at most %d content types", RV_TYPES_MAX);
    if (media_parse(s, len, &c->types[i]) != 0)
        return rg_yt_err(t, n,
                         "must be a media type (type/subtype, "
                         "optionally ;name=value)");
    c->n_types = i + 1;
    return 0;
}

static int k_types(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct rv_conf *c = ctx;

    c->n_types = 0;
    return rg_yt_seq(t, v, type_item, c);
}

static int k_param_check(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct rv_conf *)ctx)->param_check);
}

static int k_verbose(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct rv_conf *)ctx)->verbose);
}

static int k_version(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    const char *s;
    size_t len;
    int rv = rg_yt_scalar(t, v, &s, &len);

    if (rv < 0)
        return rv;
    if (strcmp(s, "kong") == 0)
        return rg_yt_err(t, v,
                         "kong (Kong's own schema format) is not "
                         "supported; use draft4");
    if (strcmp(s, "draft4") != 0)
        return rg_yt_err(t, v, "must be draft4");
    (void)ctx;
    return 0;
}

/* clang-format off */
static const struct rg_yt_key rv_keys[] = {
    {"body_schema", k_body_schema},
    {"allowed_content_types", k_types},
    {"content_type_parameter_validation", k_param_check},
    {"verbose_response", k_verbose},
    {"version", k_version},
    {"parameter_schema", NULL},
    {NULL, NULL},
};
/* clang-format on */

static int rv_conf_parse(struct rg_yt *t, yaml_node_t *config, void **out)
{
    struct rv_conf *c = rg_calloc(1, sizeof(*c));
    int rv = 0;

    *out = NULL;
    if (c == NULL)
        return rg_yt_nomem(t);
    c->types = rg_calloc(RV_TYPES_MAX, sizeof(*c->types));
    if (c->types == NULL) {
        rv_conf_free(c);
        return rg_yt_nomem(t);
    }
    c->param_check = 1;
    (void)media_parse("application/json", 16, &c->types[0]); /* Kong's */
    c->n_types = 1;
    if (config != NULL)
        rv = rg_yt_map(t, config, rv_keys, c);
    if (rv == 0 && c->schema == NULL)
        rv = rg_yt_err(t, config,
                       "needs body_schema (parameter_schema is "
                       "not supported)");
    if (rv < 0) {
        rv_conf_free(c);
        return rv;
    }
    *out = c;
    return 0;
}

/* ---- the request ---- */

static enum rg_filter_status respond_json(struct rg_req *r, json_t *o)
{
    char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    int rv;

    json_decref(o);
    if (s == NULL) {
        rg_req_fail(r, -ENOMEM);
        return RG_FILTER_ERROR;
    }
    rv = rg_req_respond(r, 400, s, strlen(s));
    free(s);
    return rv == 0 ? RG_FILTER_RESPOND : RG_FILTER_ERROR;
}

static enum rg_filter_status refuse_body(struct rg_req *r,
                                         const struct rv_conf *c,
                                         const struct rg_js_error *e)
{
    json_t *o = json_pack("{s:s, s:s, s:s}", "message", RV_BAD_BODY, "path",
                          e->path, "rule", e->rule);

    if (o != NULL && c->verbose)
        json_object_set_new(o, "detail", json_string(e->detail));
    return respond_json(r, o);
}

static enum rg_filter_status not_json(struct rg_req *r, const struct rv_conf *c,
                                      const json_error_t *je)
{
    struct rg_js_error e = {.path = "$", .rule = "json"};

    snprintf(e.detail, sizeof(e.detail), "not JSON: %s (position %d)", je->text,
             je->position);
    return refuse_body(r, c, &e);
}

static enum rg_filter_status rv_access(const struct rg_filter_call *fc)
{
    const struct rv_conf *c = fc->conf;
    struct rg_req *r = fc->r;
    struct rg_js_error e;
    struct media m;
    json_error_t je;
    const char *ct, *body = NULL;
    size_t len = 0;
    json_t *doc;
    int rv;

    ct = rg_req_header(r, "content-type", &len);
    if (ct == NULL || media_parse(ct, len, &m) != 0 || !type_allowed(c, &m))
        return rg_req_respond(r, 400, RV_BAD_TYPE, sizeof(RV_BAD_TYPE) - 1) == 0
                   ? RG_FILTER_RESPOND
                   : RG_FILTER_ERROR;
    if (!media_is_json(&m))
        return RG_FILTER_CONTINUE;
    if (rg_req_body(r, &body, &len) != 0) {
        rg_req_fail(r, RG_EPLUGIN);
        return RG_FILTER_ERROR;
    }
    doc = json_loadb(body != NULL ? body : "", len,
                     JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (doc == NULL)
        return not_json(r, c, &je);
    rv = rg_js_validate(c->schema, doc, &e);
    json_decref(doc);
    return rv == 0 ? RG_FILTER_CONTINUE : refuse_body(r, c, &e);
}

static unsigned rv_wants(const void *conf, uint32_t *body_max)
{
    (void)conf;
    (void)body_max; /* the default cap, 1 MiB */
    return RG_FILTER_REQ_BODY;
}

const struct rg_filter_ops rg_plugin_request_validator = {
    .schema = {.name = "request-validator",
               .conf_parse = rv_conf_parse,
               .conf_free = rv_conf_free,
               .protocols = RG_PROTO_HTTP | RG_PROTO_HTTPS},
    .priority = 999, /* Kong's */
    .wants = rv_wants,
    .on_access = rv_access,
};
