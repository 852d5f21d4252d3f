/* Kong 3.0 declarative config to struct rg_gateway; see gateway.h.
 *
 * The root mapping is walked first (it checks _format_version and records
 * the `services` and `routes` lists); then services with their nested
 * routes; then top-level routes, whose `service` references can therefore
 * be resolved on the spot with the reference's own path in the error. */
#include "config/gateway.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "config/gw_int.h"
#include "config/yamltree.h"
#include "core/alloc.h"
#include "core/rgassert.h"
#include "core/strmap.h"
#include "core/path.h"

#define GW_FILE_MAX (16u << 20) /* bytes; a declarative file is small */
#define TIMEOUT_MAX 2147483646  /* ms, Kong's upper bound */
#define RETRIES_MAX 32767       /* Kong's upper bound */
#define KONG_TIMEOUT_MS 60000
#define KONG_RETRIES 5
#define BACKOFF_BASE_MS 100  /* retry_backoff.base default */
#define BACKOFF_MAX_MS 10000 /* retry_backoff.max default */
#define HOST_MAX 253         /* RFC 1035 §2.3.4, without the final dot */


static struct rg_service *cur_svc(struct gw_ctx *c)
{
    return &c->gw->services[c->svc];
}

static struct rg_route *cur_route(struct gw_ctx *c)
{
    return &c->gw->routes[c->route];
}

/* ---- Methods ---- */

static const struct {
    const char *name;
    unsigned bit;
} methods[] = {
    {"GET", RG_M_GET},         {"HEAD", RG_M_HEAD},
    {"POST", RG_M_POST},       {"PUT", RG_M_PUT},
    {"DELETE", RG_M_DELETE},   {"PATCH", RG_M_PATCH},
    {"OPTIONS", RG_M_OPTIONS}, {"TRACE", RG_M_TRACE},
    {"CONNECT", RG_M_CONNECT},
};

unsigned rg_method_bit(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strlen(methods[i].name) == len &&
            memcmp(methods[i].name, name, len) == 0)
            return methods[i].bit;
    }
    return 0;
}

/* ---- Small validators (ASCII only, locale-free) ---- */

static int is_alnum(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9');
}

static int is_hex(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
           (ch >= 'A' && ch <= 'F');
}

static void lower(char *s)
{
    for (; *s != '\0'; s++) {
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
    }
}

static int eq(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

/* Kong's name rule: letters, digits, '.', '-', '_', '~'. */
static int name_ok(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (!is_alnum(s[i]) && strchr(".-_~", s[i]) == NULL)
            return 0;
    }
    return 1;
}

/* 8-4-4-4-12 hex digits. */
static int uuid_ok(const char *s, size_t len)
{
    if (len != 36)
        return 0;
    for (size_t i = 0; i < len; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;

        if (dash ? s[i] != '-' : !is_hex(s[i]))
            return 0;
    }
    return 1;
}

/* Dot-separated labels of letters, digits, '-' and '_', none empty. */
static int labels_ok(const char *s, size_t len)
{
    size_t label = 0;

    if (len == 0 || len > HOST_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (label == 0)
                return 0;
            label = 0;
        } else if (is_alnum(s[i]) || s[i] == '-' || s[i] == '_') {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return label > 0;
}

static int ipv6_ok(const char *s, size_t len)
{
    char buf[64];
    unsigned char addr[16];

    if (len == 0 || len >= sizeof(buf))
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return inet_pton(AF_INET6, buf, addr) == 1;
}

int rg_gw__host_ok(const char *s, size_t len)
{
    return labels_ok(s, len) || ipv6_ok(s, len);
}

/* Upstream path: starts with "/", no spaces, controls, '?' or '#'. */
static int upstream_path_check(struct rg_yt *t, yaml_node_t *n, const char *s,
                               size_t len)
{
    if (len == 0 || s[0] != '/')
        return rg_yt_err(t, n, "must start with \"/\"");
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch <= 0x20 || ch == 0x7f || ch == '?' || ch == '#')
            return rg_yt_err(t, n,
                             "must not contain spaces, control "
                             "characters, \"?\" or \"#\"");
    }
    return 0;
}

/* ---- Growing the arrays; a new slot is zeroed and counted at once so
 * rg_gateway_release always sees consistent data. ---- */

int rg_gw__grow(void **arr, size_t *cap, size_t n, size_t size)
{
    size_t ncap;
    void *p;

    if (n < *cap)
        return 0;
    ncap = *cap ? *cap * 2 : 4;
    p = rg_realloc(*arr, ncap * size);
    if (p == NULL)
        return -ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

static int add_service(struct rg_yt *t, struct gw_ctx *c)
{
    struct rg_gateway *gw = c->gw;
    struct rg_service *s;

    if (rg_gw__grow((void **)&gw->services, &c->svc_cap, gw->n_services, sizeof(*s)) <
        0)
        return rg_yt_nomem(t);
    s = &gw->services[gw->n_services];
    memset(s, 0, sizeof(*s));
    s->port = 80;
    s->retries = KONG_RETRIES;
    s->connect_timeout_ms = KONG_TIMEOUT_MS;
    s->write_timeout_ms = KONG_TIMEOUT_MS;
    s->read_timeout_ms = KONG_TIMEOUT_MS;
    s->enabled = 1;
    s->tls_verify = 1;
    s->client_certificate = RG_NO_INDEX;
    c->svc = gw->n_services++;
    return 0;
}

static int add_route(struct rg_yt *t, struct gw_ctx *c)
{
    struct rg_gateway *gw = c->gw;
    struct rg_route *r;

    if (rg_gw__grow((void **)&gw->routes, &c->route_cap, gw->n_routes, sizeof(*r)) < 0)
        return rg_yt_nomem(t);
    r = &gw->routes[gw->n_routes];
    memset(r, 0, sizeof(*r));
    r->service = c->nested ? c->svc : SIZE_MAX;
    r->strip_path = 1;
    r->retries = -1;
    c->route = gw->n_routes++;
    return 0;
}

/* ---- Keys shared by services and routes ---- */

/* Kong `tags`: a list of strings, checked and dropped. */
static int tag_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    const char *s;
    size_t len;

    return rg_yt_scalar(t, n, &s, &len);
}

int rg_gw__key_tags(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_seq(t, v, tag_item, ctx);
}

/* Kong `created_at`/`updated_at` (exports carry them): unused. */
int rg_gw__key_timestamp(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;

    return rg_yt_int(t, v, 0, INT64_MAX / 2, &x);
}

int rg_gw__key_empty_list(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    if (rg_yt_is_empty_seq(v))
        return 0;
    if (v->type != YAML_SEQUENCE_NODE)
        return rg_yt_err(t, v, "must be a list");
    return rg_yt_err(t, v, "not supported yet");
}

static int read_timeout(struct rg_yt *t, yaml_node_t *v, uint32_t *out)
{
    long long x;
    int rv = rg_yt_int(t, v, 1, TIMEOUT_MAX, &x);

    if (rv == 0)
        *out = (uint32_t)x;
    return rv;
}

/* Check @v's form; on success @s/@len borrow its string. */
static int form_scalar(struct rg_yt *t, yaml_node_t *v, enum gw_form form,
                       const char **s, size_t *len)
{
    int rv = rg_yt_scalar(t, v, s, len);

    if (rv < 0)
        return rv;
    if (form == GW_NAME && !name_ok(*s, *len))
        return rg_yt_err(t, v,
                         "must contain only letters, digits, \".\", "
                         "\"-\", \"_\" or \"~\"");
    if (form == GW_ID && !uuid_ok(*s, *len))
        return rg_yt_err(t, v, "must be a UUID");
    return 0;
}

int rg_gw__unique(struct rg_yt *t, yaml_node_t *v, enum gw_form form,
                  struct gw_ctx *c, enum gw_x x, size_t index, char **out)
{
    const char *s;
    size_t len;
    char clip[64];
    int rv = form_scalar(t, v, form, &s, &len);

    if (rv < 0)
        return rv;
    rv = rg_strmap_put(&c->x[x], s, len, index);
    if (rv < 0)
        return rg_yt_nomem(t);
    if (rv > 0) {
        rg_yt_clip(s, len, clip, sizeof(clip));
        return rg_yt_err(t, v, "duplicate %s \"%s\"", rg_gw_xref[x].what,
                         clip);
    }
    rv = rg_yt_str(t, v, out);
    if (rv == 0 && form == GW_ID)
        lower(*out); /* so that lookups need not care */
    return rv;
}

struct ref {
    const char *namef;
    const char *name, *id; /* borrowed from the document */
};

static int ref_pair(struct rg_yt *t, const char *key, size_t len,
                    yaml_node_t *v, void *ctx)
{
    struct ref *r = ctx;
    size_t n;

    if (eq(key, len, "id"))
        return rg_yt_scalar(t, v, &r->id, &n);
    if (eq(key, len, r->namef))
        return rg_yt_scalar(t, v, &r->name, &n);
    return rg_yt_err(t, v, "unknown key");
}

/* The rule that makes @field of @kind unique (there is one for every
 * field a reference names). */
static enum gw_x unique_rule(const char *kind, const char *field)
{
    int x;

    for (x = 0; x < GW_X_MAX; x++)
        if (rg_gw_xref[x].type == RG_XREF_UNIQUE &&
            strcmp(rg_gw_xref[x].kind, kind) == 0 &&
            strcmp(rg_gw_xref[x].field, field) == 0)
            break;
    RG_ASSERT(x < GW_X_MAX);
    return (enum gw_x)x;
}

int rg_gw__group_key(struct gw_ctx *c, enum gw_x x, const char *key,
                     size_t len, size_t index)
{
    char **v = rg_realloc(c->group_keys,
                          (c->n_group_keys + 1) * sizeof(*v));
    char *k;

    if (v == NULL)
        return -ENOMEM;
    c->group_keys = v;
    k = rg_strndup(key, len);
    if (k == NULL)
        return -ENOMEM;
    c->group_keys[c->n_group_keys++] = k;
    return rg_strmap_put(&c->x[x], k, len, index);
}

void rg_gw__group_keys_release(struct gw_ctx *c)
{
    for (size_t i = 0; i < c->n_group_keys; i++)
        rg_free(c->group_keys[i]);
    rg_free(c->group_keys);
    c->group_keys = NULL;
    c->n_group_keys = 0;
}

int rg_gw__ref(struct rg_yt *t, yaml_node_t *v, const struct gw_ctx *c,
               enum gw_x x, size_t *index)
{
    const struct rg_xref *l = &rg_gw_xref[x];
    const char *namef = l->by, *what = l->what;
    const struct rg_strmap *names = &c->x[unique_rule(l->target, l->by)];
    const struct rg_strmap *ids = &c->x[unique_rule(l->target, "id")];
    struct ref r = {namef, NULL, NULL};
    const char *s;
    size_t len, byn = SIZE_MAX, byi = SIZE_MAX;
    char clip[64];
    int by_name = 1, by_id = 1;
    int rv;

    if (v->type == YAML_MAPPING_NODE) {
        rv = rg_yt_pairs(t, v, ref_pair, &r);
        if (rv < 0)
            return rv;
        if (r.id == NULL && r.name == NULL)
            return rg_yt_err(t, v, "needs a %s or an id", namef);
        by_name = r.id == NULL;
        by_id = !by_name;
        s = by_id ? r.id : r.name;
        len = strlen(s);
    } else if ((rv = rg_yt_scalar(t, v, &s, &len)) < 0) {
        return rg_yt_err(t, v,
                         "must be a %s %s or id, or a mapping with one of "
                         "them",
                         what, namef);
    }
    /* The first in the file when a name and an id both match. */
    if (by_name)
        byn = rg_strmap_get(names, s, len);
    if (by_id)
        byi = rg_strmap_get(ids, s, len);
    *index = byn < byi ? byn : byi;
    if (*index != SIZE_MAX)
        return 0;
    rg_yt_clip(s, len, clip, sizeof(clip));
    if (strcmp(namef, "id") == 0) /* a kind without names */
        return rg_yt_err(t, v, "no %s with id \"%s\"", what, clip);
    return rg_yt_err(t, v, "no %s with %s%s \"%s\"", what,
                     by_name ? namef : "", by_name && by_id ? " or id"
                                       : by_id              ? "id"
                                                            : "",
                     clip);
}

int rg_gw__member_err(struct rg_yt *t, const char *key, yaml_node_t *v,
                      const char *why)
{
    size_t mark = rg_yt_push_key(t, key, strlen(key));
    int rv = rg_yt_err(t, v, "%s", why);

    rg_yt_pop(t, mark);
    return rv;
}

struct refs {
    const struct gw_ctx *c;
    enum gw_x x;
    size_t *v, n, cap;
};

static int refs_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    struct refs *r = ctx;

    (void)i;
    if (rg_gw__grow((void **)&r->v, &r->cap, r->n, sizeof(*r->v)) < 0)
        return rg_yt_nomem(t);
    return rg_gw__ref(t, n, r->c, r->x, &r->v[r->n++]);
}

int rg_gw__refs(struct rg_yt *t, yaml_node_t *v, const struct gw_ctx *c,
                enum gw_x x, size_t **out, size_t *n)
{
    struct refs r = {c, x, NULL, 0, 0};
    int rv = rg_yt_seq(t, v, refs_item, &r);

    if (rv < 0) {
        rg_free(r.v);
        return rv;
    }
    *out = r.v;
    *n = r.n;
    return 0;
}

/* ---- retry_backoff: {type, base, max, jitter} ---- */

static int bo_type(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;
    const char *s;
    size_t len;
    int rv = rg_yt_scalar(t, v, &s, &len);

    if (rv < 0)
        return rv;
    if (eq(s, len, "none"))
        c->bo->kind = RG_BACKOFF_NONE;
    else if (eq(s, len, "linear"))
        c->bo->kind = RG_BACKOFF_LINEAR;
    else if (eq(s, len, "exponential"))
        c->bo->kind = RG_BACKOFF_EXPONENTIAL;
    else
        return rg_yt_err(t, v, "must be none, linear or exponential");
    c->backoff_type = 1;
    return 0;
}

static int bo_base(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_timeout(t, v, &((struct gw_ctx *)ctx)->bo->base_ms);
}

static int bo_max(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_timeout(t, v, &((struct gw_ctx *)ctx)->bo->max_ms);
}

static int bo_jitter(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct gw_ctx *)ctx)->bo->jitter);
}

/* clang-format off */
static const struct rg_yt_key backoff_keys[] = {
    {"type", bo_type},
    {"base", bo_base},
    {"max", bo_max},
    {"jitter", bo_jitter},
    {NULL, NULL},
};
/* clang-format on */

static int read_backoff(struct rg_yt *t, yaml_node_t *v, struct gw_ctx *c,
                        struct rg_backoff *bo)
{
    int rv;

    bo->kind = RG_BACKOFF_NONE;
    bo->base_ms = BACKOFF_BASE_MS;
    bo->max_ms = BACKOFF_MAX_MS;
    bo->jitter = 0;
    c->bo = bo;
    c->backoff_type = 0;
    rv = rg_yt_map(t, v, backoff_keys, c);
    if (rv < 0)
        return rv;
    if (!c->backoff_type)
        return rg_yt_err(t, v, "needs a type (none, linear or exponential)");
    if (bo->max_ms < bo->base_ms)
        return rg_yt_err(t, v, "max must not be less than base");
    return 0;
}

/* ---- Route keys ---- */

static int rt_name(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;

    return rg_gw__unique(t, v, GW_NAME, c, GW_X_ROUTE_NAME, c->route,
                         &cur_route(c)->name);
}

static int rt_id(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;

    return rg_gw__unique(t, v, GW_ID, c, GW_X_ROUTE_ID, c->route,
                         &cur_route(c)->id);
}

/* `service: <name or id>` or `service: {name: x}` / `{id: x}`. */
static int rt_service(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;

    if (c->nested)
        return rg_yt_err(t, v,
                         "not allowed in a route nested under a "
                         "service");
    return rg_gw__ref(t, v, c, GW_X_ROUTE_SERVICE, &cur_route(c)->service);
}

/* Normalise route path @s (after any "=") into a fresh string. */
static int normalize_path(struct rg_yt *t, yaml_node_t *n, const char *s,
                          size_t len, char **out)
{
    char *buf;
    long rv;

    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch == ' ' || ch == '?' || ch == '#')
            return rg_yt_err(t, n, "must not contain spaces, \"?\" or \"#\"");
    }
    buf = rg_malloc(len + 1);
    if (buf == NULL)
        return rg_yt_nomem(t);
    rv = rg_path_normalize(s, len, buf, len + 1);
    if (rv < 0) {
        rg_free(buf);
        return rg_yt_err(t, n,
                         "is not a valid path (bad percent-escape, "
                         "%%2F, %%00 or control character)");
    }
    *out = buf;
    return 0;
}

static int path_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    struct rg_route *r = cur_route(ctx);
    struct rg_route_path *p = &r->paths[r->n_paths];
    const char *s;
    size_t len;
    int exact = 0;
    int rv = rg_yt_scalar(t, n, &s, &len);

    if (rv < 0)
        return rv;
    if (len > 0 && s[0] == '~')
        return rg_yt_err(t, n, "regex paths are not supported");
    if (len > 0 && s[0] == '=') {
        exact = 1;
        s++;
        len--;
    }
    if (len == 0 || s[0] != '/')
        return rg_yt_err(t, n, "must start with \"/\"");
    rv = normalize_path(t, n, s, len, &p->path);
    if (rv < 0)
        return rv;
    p->exact = exact;
    r->n_paths++;
    return 0;
}

static size_t seq_len(const yaml_node_t *v)
{
    if (v->type != YAML_SEQUENCE_NODE)
        return 0;
    return (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
}

static int rt_paths(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct rg_route *r = cur_route(ctx);
    size_t n = seq_len(v);

    if (n > 0) {
        r->paths = rg_calloc(n, sizeof(*r->paths));
        if (r->paths == NULL)
            return rg_yt_nomem(t);
    }
    return rg_yt_seq(t, v, path_item, ctx);
}

/* A host pattern: labels, or one wildcard label first ("*.a.b") or last
 * ("a.b.*"); no port. */
static int host_pattern_check(struct rg_yt *t, yaml_node_t *n, const char *s,
                              size_t len)
{
    char clip[64];
    const char *star = memchr(s, '*', len);

    if (star != NULL) {
        if (len >= 3 && s[0] == '*' && s[1] == '.' &&
            memchr(s + 1, '*', len - 1) == NULL) {
            s += 2;
            len -= 2;
        } else if (len >= 3 && s[len - 1] == '*' && s[len - 2] == '.' &&
                   star == s + len - 1) {
            len -= 2;
        } else {
            return rg_yt_err(t, n,
                             "wildcard \"*\" is allowed only as a "
                             "leading \"*.\" or a trailing \".*\" "
                             "label");
        }
    }
    if (memchr(s, ':', len) != NULL)
        return rg_yt_err(t, n, "must not include a port");
    if (!labels_ok(s, len)) {
        rg_yt_clip(s, len, clip, sizeof(clip));
        return rg_yt_err(t, n, "invalid host name \"%s\"", clip);
    }
    return 0;
}

static int host_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    struct rg_route *r = cur_route(ctx);
    const char *s;
    size_t len;
    int rv = rg_yt_scalar(t, n, &s, &len);

    if (rv == 0)
        rv = host_pattern_check(t, n, s, len);
    if (rv == 0)
        rv = rg_yt_str(t, n, &r->hosts[r->n_hosts]);
    if (rv < 0)
        return rv;
    lower(r->hosts[r->n_hosts++]);
    return 0;
}

static int rt_hosts(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct rg_route *r = cur_route(ctx);
    size_t n = seq_len(v);

    if (n > 0) {
        r->hosts = rg_calloc(n, sizeof(*r->hosts));
        if (r->hosts == NULL)
            return rg_yt_nomem(t);
    }
    return rg_yt_seq(t, v, host_item, ctx);
}

static int method_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    char up[16];
    char clip[64];
    const char *s;
    size_t len;
    unsigned bit = 0;
    int rv = rg_yt_scalar(t, n, &s, &len);

    if (rv < 0)
        return rv;
    if (len < sizeof(up)) {
        for (size_t k = 0; k < len; k++)
            up[k] = (s[k] >= 'a' && s[k] <= 'z') ? (char)(s[k] - 32) : s[k];
        bit = rg_method_bit(up, len);
    }
    if (bit == 0) {
        rg_yt_clip(s, len, clip, sizeof(clip));
        return rg_yt_err(t, n, "unknown method \"%s\"", clip);
    }
    cur_route(ctx)->methods |= bit;
    return 0;
}

static int rt_methods(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_seq(t, v, method_item, ctx);
}

static int rt_strip_path(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &cur_route(ctx)->strip_path);
}

static int rt_preserve_host(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &cur_route(ctx)->preserve_host);
}

static int protocol_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    const char *s;
    size_t len;
    int rv = rg_yt_scalar(t, n, &s, &len);

    if (rv < 0)
        return rv;
    if (!eq(s, len, "http") && !eq(s, len, "https"))
        return rg_yt_err(t, n, "must be \"http\" or \"https\"");
    return 0;
}

static int rt_protocols(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_seq(t, v, protocol_item, ctx);
}

static int rt_regex_priority(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;

    return rg_yt_int(t, v, INT32_MIN, INT32_MAX, &x);
}

static int rt_path_handling(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    const char *s;
    size_t len;
    int rv = rg_yt_scalar(t, v, &s, &len);

    if (rv == 0 && !eq(s, len, "v0") && !eq(s, len, "v1"))
        rv = rg_yt_err(t, v, "must be \"v0\" or \"v1\"");
    return rv;
}

static int rt_redirect_code(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;
    int rv = rg_yt_int(t, v, 100, 599, &x);

    if (rv == 0 && x != 426 && x != 301 && x != 302 && x != 307 && x != 308)
        rv = rg_yt_err(t, v, "must be one of 426, 301, 302, 307, 308");
    return rv;
}

static int rt_unused_bool(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    int b;

    return rg_yt_bool(t, v, &b);
}

static int rt_connect_timeout(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_timeout(t, v, &cur_route(ctx)->connect_timeout_ms);
}

static int rt_write_timeout(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_timeout(t, v, &cur_route(ctx)->write_timeout_ms);
}

static int rt_read_timeout(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_timeout(t, v, &cur_route(ctx)->read_timeout_ms);
}

static int rt_retries(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;
    int rv = rg_yt_int(t, v, 0, RETRIES_MAX, &x);

    if (rv == 0)
        cur_route(ctx)->retries = (int)x;
    return rv;
}

static int rt_backoff(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct rg_route *r = cur_route(ctx);
    int rv = read_backoff(t, v, ctx, &r->backoff);

    if (rv == 0)
        r->has_backoff = 1;
    return rv;
}

/* clang-format off */
static const struct rg_yt_key route_keys[] = {
    {"name", rt_name},
    {"id", rt_id},
    {"service", rt_service},
    {"paths", rt_paths},
    {"hosts", rt_hosts},
    {"methods", rt_methods},
    {"strip_path", rt_strip_path},
    {"preserve_host", rt_preserve_host},
    {"protocols", rt_protocols},
    {"tags", rg_gw__key_tags},
    {"regex_priority", rt_regex_priority},
    {"path_handling", rt_path_handling},
    {"https_redirect_status_code", rt_redirect_code},
    {"request_buffering", rt_unused_bool},
    {"response_buffering", rt_unused_bool},
    {"created_at", rg_gw__key_timestamp},
    {"updated_at", rg_gw__key_timestamp},
    {"connect_timeout", rt_connect_timeout},
    {"write_timeout", rt_write_timeout},
    {"read_timeout", rt_read_timeout},
    {"retries", rt_retries},
    {"retry_backoff", rt_backoff},
    {"plugins", rg_gw__route_plugins},
    {"headers", NULL},
    {"snis", NULL},
    {"sources", NULL},
    {"destinations", NULL},
    {"expression", NULL},
    {"priority", NULL},
    {NULL, NULL},
};
/* clang-format on */

static int route_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    struct gw_ctx *c = ctx;
    struct rg_route *r;
    int rv = add_route(t, c);

    if (rv == 0)
        rv = rg_yt_map(t, n, route_keys, c);
    if (rv < 0)
        return rv;
    r = cur_route(c);
    if (r->service == SIZE_MAX)
        return rg_yt_err(t, n, "needs a service");
    if (r->n_paths == 0 && r->n_hosts == 0 && r->methods == 0)
        return rg_yt_err(t, n, "needs at least one of paths, hosts, methods");
    return 0;
}

/* ---- Service keys ---- */

static int sv_name(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;

    return rg_gw__unique(t, v, GW_NAME, c, GW_X_SERVICE_NAME, c->svc,
                         &cur_svc(c)->name);
}

static int sv_id(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;

    return rg_gw__unique(t, v, GW_ID, c, GW_X_SERVICE_ID, c->svc,
                         &cur_svc(c)->id);
}

/* protocol/host/port/path and url exclude each other, as one sets the
 * other in Kong. */
static int parts_first(struct rg_yt *t, yaml_node_t *v, struct gw_ctx *c)
{
    if (c->has_url)
        return rg_yt_err(t, v, "cannot be combined with url");
    c->has_parts = 1;
    return 0;
}

/* http or https: sets @sv->https. */
static int check_scheme(struct rg_yt *t, yaml_node_t *v, const char *s,
                        size_t len, const char *what, struct rg_service *sv)
{
    char clip[64];

    if (len == 4 && strncasecmp(s, "http", 4) == 0) {
        sv->https = 0;
        return 0;
    }
    if (len == 5 && strncasecmp(s, "https", 5) == 0) {
        sv->https = 1;
        return 0;
    }
    rg_yt_clip(s, len, clip, sizeof(clip));
    return rg_yt_err(t, v, "unsupported %s \"%s\" (http or https)", what, clip);
}

static int set_host(struct rg_yt *t, yaml_node_t *v, struct rg_service *sv,
                    const char *s, size_t len)
{
    char *h;

    if (len > 2 && s[0] == '[' && s[len - 1] == ']') {
        s++;
        len -= 2;
        if (!ipv6_ok(s, len))
            return rg_yt_err(t, v, "has an invalid host");
    } else if (!labels_ok(s, len) && !ipv6_ok(s, len)) {
        return rg_yt_err(t, v, "has an invalid host");
    }
    h = rg_strndup(s, len);
    if (h == NULL)
        return rg_yt_nomem(t);
    lower(h);
    rg_free(sv->host);
    sv->host = h;
    return 0;
}

/* "host[:port]" or "[v6][:port]" from a URL's authority. */
static int url_authority(struct rg_yt *t, yaml_node_t *v, struct rg_service *sv,
                         const char *a, size_t len)
{
    const char *colon = NULL;
    const char *end = a + len;
    long port = 0;

    if (memchr(a, '@', len) != NULL)
        return rg_yt_err(t, v, "must not contain user info");
    if (len > 0 && a[0] == '[') {
        const char *rb = memchr(a, ']', len);

        if (rb != NULL && rb + 1 < end && rb[1] == ':')
            colon = rb + 1;
        else if (rb == NULL || rb + 1 != end)
            return rg_yt_err(t, v, "has an invalid host");
    } else {
        colon = memchr(a, ':', len);
    }
    if (colon != NULL) {
        if (colon + 1 == end || end - colon > 6)
            return rg_yt_err(t, v, "has an invalid port");
        for (const char *p = colon + 1; p < end; p++) {
            if (*p < '0' || *p > '9')
                return rg_yt_err(t, v, "has an invalid port");
            port = port * 10 + (*p - '0');
        }
        if (port > 65535)
            return rg_yt_err(t, v, "has an invalid port");
        sv->port = (uint16_t)port;
        len = (size_t)(colon - a);
    }
    return set_host(t, v, sv, a, len);
}

/* http://host[:port][/path] */
static int sv_url(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;
    struct rg_service *sv = cur_svc(c);
    const char *s, *sep, *slash;
    size_t len;
    int rv = rg_yt_scalar(t, v, &s, &len);

    if (rv < 0)
        return rv;
    if (c->has_parts)
        return rg_yt_err(t, v,
                         "cannot be combined with protocol, host, "
                         "port or path");
    c->has_url = 1;
    sep = memchr(s, ':', len);
    if (sep == NULL || (size_t)(s + len - sep) < 3 || sep[1] != '/' ||
        sep[2] != '/')
        return rg_yt_err(t, v, "must be a URL like http://host[:port][/path]");
    rv = check_scheme(t, v, s, (size_t)(sep - s), "scheme", sv);
    if (rv < 0)
        return rv;
    if (sv->https)
        sv->port = 443; /* unless the URL has a port */
    if (memchr(s, '?', len) != NULL || memchr(s, '#', len) != NULL)
        return rg_yt_err(t, v, "must not have a query or fragment");
    s = sep + 3;
    len = (size_t)((const char *)v->data.scalar.value + v->data.scalar.length -
                   s);
    slash = memchr(s, '/', len);
    rv = url_authority(t, v, sv, s, slash ? (size_t)(slash - s) : len);
    if (rv < 0 || slash == NULL)
        return rv;
    len -= (size_t)(slash - s);
    rv = upstream_path_check(t, v, slash, len);
    if (rv < 0)
        return rv;
    rg_free(sv->path);
    sv->path = rg_strndup(slash, len);
    return sv->path == NULL ? rg_yt_nomem(t) : 0;
}

static int sv_protocol(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    const char *s;
    size_t len;
    int rv = parts_first(t, v, ctx);

    if (rv == 0)
        rv = rg_yt_scalar(t, v, &s, &len);
    if (rv == 0)
        rv = check_scheme(t, v, s, len, "protocol", cur_svc(ctx));
    return rv;
}

static int sv_host(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    const char *s;
    size_t len;
    int rv = parts_first(t, v, ctx);

    if (rv == 0)
        rv = rg_yt_scalar(t, v, &s, &len);
    if (rv == 0)
        rv = set_host(t, v, cur_svc(ctx), s, len);
    return rv;
}

static int sv_port(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;
    int rv = parts_first(t, v, ctx);

    if (rv == 0)
        rv = rg_yt_int(t, v, 0, 65535, &x);
    if (rv == 0)
        cur_svc(ctx)->port = (uint16_t)x;
    return rv;
}

static int sv_path(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    const char *s;
    size_t len;
    int rv = parts_first(t, v, ctx);

    if (rv == 0)
        rv = rg_yt_scalar(t, v, &s, &len);
    if (rv == 0)
        rv = upstream_path_check(t, v, s, len);
    if (rv == 0)
        rv = rg_yt_str(t, v, &cur_svc(ctx)->path);
    return rv;
}

static int sv_retries(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;
    int rv = rg_yt_int(t, v, 0, RETRIES_MAX, &x);

    if (rv == 0)
        cur_svc(ctx)->retries = (unsigned)x;
    return rv;
}

static int sv_connect_timeout(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_timeout(t, v, &cur_svc(ctx)->connect_timeout_ms);
}

static int sv_write_timeout(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_timeout(t, v, &cur_svc(ctx)->write_timeout_ms);
}

static int sv_read_timeout(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_timeout(t, v, &cur_svc(ctx)->read_timeout_ms);
}

static int sv_enabled(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &cur_svc(ctx)->enabled);
}

static int sv_backoff(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_backoff(t, v, ctx, &cur_svc(ctx)->backoff);
}

static int sv_tls_verify(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &cur_svc(ctx)->tls_verify);
}

static int sv_tls_verify_depth(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    long long x;
    int rv = rg_yt_int(t, v, 0, 64, &x);

    if (rv == 0)
        cur_svc(ctx)->tls_verify_depth = (unsigned)x;
    return rv;
}

static int sv_client_certificate(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;

    return rg_gw__ref(t, v, c, GW_X_SERVICE_CERT,
                      &cur_svc(c)->client_certificate);
}

static int sv_ca_certificates(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;
    struct rg_service *s = cur_svc(c);

    return rg_gw__refs(t, v, c, GW_X_SERVICE_CACERT, &s->ca_certificates,
                       &s->n_ca_certificates);
}

static int sv_routes(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;
    int rv;

    c->nested = 1;
    rv = rg_yt_seq(t, v, route_item, c);
    c->nested = 0;
    return rv;
}

/* clang-format off */
static const struct rg_yt_key service_keys[] = {
    {"name", sv_name},
    {"id", sv_id},
    {"url", sv_url},
    {"protocol", sv_protocol},
    {"host", sv_host},
    {"port", sv_port},
    {"path", sv_path},
    {"retries", sv_retries},
    {"connect_timeout", sv_connect_timeout},
    {"write_timeout", sv_write_timeout},
    {"read_timeout", sv_read_timeout},
    {"tags", rg_gw__key_tags},
    {"enabled", sv_enabled},
    {"created_at", rg_gw__key_timestamp},
    {"updated_at", rg_gw__key_timestamp},
    {"retry_backoff", sv_backoff},
    {"routes", sv_routes},
    {"plugins", rg_gw__service_plugins},
    {"client_certificate", sv_client_certificate},
    {"tls_verify", sv_tls_verify},
    {"tls_verify_depth", sv_tls_verify_depth},
    {"ca_certificates", sv_ca_certificates},
    {NULL, NULL},
};
/* clang-format on */

static int service_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    struct gw_ctx *c = ctx;
    int rv = add_service(t, c);

    c->has_url = 0;
    c->has_parts = 0;
    if (rv == 0)
        rv = rg_yt_map(t, n, service_keys, c);
    if (rv < 0)
        return rv;
    if (cur_svc(c)->host == NULL)
        return rg_yt_err(t, n, "needs a url or a host");
    return 0;
}

/* ---- The root ---- */

static int root_format(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    char clip[64];
    const char *s;
    size_t len;
    int rv = rg_yt_scalar(t, v, &s, &len);

    if (rv < 0)
        return rv;
    if (!eq(s, len, "3.0")) {
        rg_yt_clip(s, len, clip, sizeof(clip));
        return rg_yt_err(t, v, "unsupported version \"%s\" (must be \"3.0\")",
                         clip);
    }
    ((struct gw_ctx *)ctx)->format_ok = 1;
    return 0;
}

static int root_transform(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    int b;

    return rg_yt_bool(t, v, &b);
}

static int root_workspace(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    const char *s;
    size_t len;

    return rg_yt_scalar(t, v, &s, &len);
}

static int root_services(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    ((struct gw_ctx *)ctx)->services = v;
    return 0;
}

static int root_routes(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    ((struct gw_ctx *)ctx)->routes = v;
    return 0;
}

static int root_consumers(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    ((struct gw_ctx *)ctx)->consumers = v;
    return 0;
}

static int root_plugins(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    ((struct gw_ctx *)ctx)->plugins = v;
    return 0;
}

static int root_keyauths(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    ((struct gw_ctx *)ctx)->keyauths = v;
    return 0;
}

static int root_jwts(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    ((struct gw_ctx *)ctx)->jwts = v;
    return 0;
}

static int root_acls(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    ((struct gw_ctx *)ctx)->acls = v;
    return 0;
}

static int root_upstreams(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    ((struct gw_ctx *)ctx)->upstreams = v;
    return 0;
}

static int root_targets(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    ((struct gw_ctx *)ctx)->targets = v;
    return 0;
}

static int root_ca_certificates(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    ((struct gw_ctx *)ctx)->ca_certificates = v;
    return 0;
}

static int root_certificates(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    ((struct gw_ctx *)ctx)->certificates = v;
    return 0;
}

static int root_snis(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    ((struct gw_ctx *)ctx)->snis = v;
    return 0;
}

/* Kong's other entity lists are accepted only empty for now. */
/* clang-format off */
static const struct rg_yt_key root_keys[] = {
    {"_format_version", root_format},
    {"_transform", root_transform},
    {"_workspace", root_workspace},
    {"services", root_services},
    {"routes", root_routes},
    {"plugins", root_plugins},
    {"consumers", root_consumers},
    {"upstreams", root_upstreams},
    {"targets", root_targets},
    {"certificates", root_certificates},
    {"ca_certificates", root_ca_certificates},
    {"snis", root_snis},
    {"vaults", rg_gw__key_empty_list},
    {"consumer_groups", rg_gw__key_empty_list},
    {"acls", root_acls},
    {"basicauth_credentials", rg_gw__key_empty_list},
    {"hmacauth_credentials", rg_gw__key_empty_list},
    {"jwt_secrets", root_jwts},
    {"keyauth_credentials", root_keyauths},
    {"oauth2_credentials", rg_gw__key_empty_list},
    {"mtls_auth_credentials", rg_gw__key_empty_list},
    {"key_sets", rg_gw__key_empty_list},
    {"keys", rg_gw__key_empty_list},
    {NULL, NULL},
};
/* clang-format on */

static int walk_list(struct rg_yt *t, const char *key, yaml_node_t *v,
                     rg_yt_item_fn fn, struct gw_ctx *c)
{
    size_t mark;
    int rv;

    if (v == NULL)
        return 0;
    mark = rg_yt_push_key(t, key, strlen(key));
    rv = rg_yt_seq(t, v, fn, c);
    rg_yt_pop(t, mark);
    return rv;
}

static int parse_root(struct rg_yt *t, struct gw_ctx *c)
{
    yaml_node_t *root = rg_yt_root(t);
    size_t mark;
    int rv;

    if (root == NULL || rg_yt_is_null(root))
        return rg_yt_err(t, NULL, "is empty");
    rv = rg_yt_map(t, root, root_keys, c);
    if (rv < 0)
        return rv;
    if (!c->format_ok) {
        mark = rg_yt_push_key(t, "_format_version", 15);
        rv = rg_yt_err(t, NULL, "missing (must be \"3.0\")");
        rg_yt_pop(t, mark);
        return rv;
    }
    /* Each list only references the ones before it. */
    rv = walk_list(t, "ca_certificates", c->ca_certificates,
                   rg_gw__ca_certificate_item, c);
    if (rv == 0)
        rv = walk_list(t, "certificates", c->certificates,
                       rg_gw__certificate_item, c);
    if (rv == 0)
        rv = walk_list(t, "snis", c->snis, rg_gw__sni_item, c);
    if (rv == 0)
        rv = walk_list(t, "services", c->services, service_item, c);
    if (rv == 0)
        rv = walk_list(t, "routes", c->routes, route_item, c);
    if (rv == 0)
        rv = walk_list(t, "consumers", c->consumers, rg_gw__consumer_item, c);
    if (rv == 0)
        rv = walk_list(t, "keyauth_credentials", c->keyauths,
                       rg_gw__keyauth_item, c);
    if (rv == 0)
        rv = walk_list(t, "jwt_secrets", c->jwts, rg_gw__jwt_item, c);
    if (rv == 0)
        rv = walk_list(t, "acls", c->acls, rg_gw__acl_item, c);
    if (rv == 0)
        rv = walk_list(t, "upstreams", c->upstreams, rg_gw__upstream_item, c);
    if (rv == 0)
        rv = walk_list(t, "targets", c->targets, rg_gw__target_item, c);
    if (rv == 0)
        rv = walk_list(t, "plugins", c->plugins, rg_gw__plugin_item, c);
    if (rv == 0 && (rg_gw__cred_index(c->gw) != 0 ||
                    rg_gw__sni_index(c->gw) != 0))
        rv = rg_yt_nomem(t);
    return rv;
}

/* Parse the document @t holds into @gw with catalog @cat, then release
 * @t. */
static int parse_yt(struct rg_gateway *gw, struct rg_yt *t,
                    const struct rg_plugin_catalog *cat)
{
    static const struct rg_plugin_catalog none = {NULL, 0};
    struct gw_ctx c;
    int rv;

    memset(&c, 0, sizeof(c));
    c.gw = gw;
    gw->catalog = cat != NULL ? cat : &none;
    for (int x = 0; x < GW_X_MAX; x++)
        rg_strmap_init(&c.x[x], rg_gw_xref[x].fold);
    rv = parse_root(t, &c);
    for (int x = 0; x < GW_X_MAX; x++)
        rg_strmap_release(&c.x[x]);
    rg_gw__group_keys_release(&c);
    rg_yt_release(t);
    if (rv < 0)
        rg_gateway_release(gw);
    return rv;
}

int rg_gateway_parse(struct rg_gateway *gw, const char *text, size_t len,
                     const struct rg_plugin_catalog *cat, struct rg_errbuf *eb)
{
    struct rg_yt t;
    int rv;

    memset(gw, 0, sizeof(*gw));
    if (eb != NULL)
        eb->msg[0] = '\0';
    rv = rg_yt_load(&t, text, len, eb);
    return rv < 0 ? rv : parse_yt(gw, &t, cat);
}

int rg_gateway_parse_doc(struct rg_gateway *gw, struct yaml_document_s *doc,
                         const struct rg_plugin_catalog *cat,
                         struct rg_errbuf *eb)
{
    struct rg_yt t;

    memset(gw, 0, sizeof(*gw));
    if (eb != NULL)
        eb->msg[0] = '\0';
    rg_yt_adopt(&t, doc, eb);
    return parse_yt(gw, &t, cat);
}

int rg_gateway_load(struct rg_gateway *gw, const char *path,
                    const struct rg_plugin_catalog *cat, struct rg_errbuf *eb)
{
    struct rg_errbuf inner;
    char *text;
    size_t len;
    int rv;

    memset(gw, 0, sizeof(*gw));
    rv = rg_yt_read_file(path, GW_FILE_MAX, &text, &len);
    if (rv == -EFBIG)
        rg_errbuf_set(eb, "%s: larger than %u MiB", path, GW_FILE_MAX >> 20);
    else if (rv < 0)
        rg_errbuf_set(eb, "%s: %s", path, strerror(-rv));
    if (rv < 0)
        return rv;
    rv = rg_gateway_parse(gw, text, len, cat, &inner);
    rg_free(text);
    if (rv < 0)
        rg_errbuf_set(eb, "%s: %s", path, inner.msg);
    return rv;
}

static void release_route(struct rg_route *r)
{
    for (size_t i = 0; i < r->n_paths; i++)
        rg_free(r->paths[i].path);
    rg_free(r->paths);
    for (size_t i = 0; i < r->n_hosts; i++)
        rg_free(r->hosts[i]);
    rg_free(r->hosts);
    rg_free(r->name);
    rg_free(r->id);
}

void rg_gateway_release(struct rg_gateway *gw)
{
    for (size_t i = 0; i < gw->n_services; i++) {
        struct rg_service *s = &gw->services[i];

        rg_free(s->name);
        rg_free(s->id);
        rg_free(s->host);
        rg_free(s->path);
        rg_free(s->ca_certificates);
    }
    rg_free(gw->services);
    for (size_t i = 0; i < gw->n_routes; i++)
        release_route(&gw->routes[i]);
    rg_free(gw->routes);
    for (size_t i = 0; i < gw->n_consumers; i++)
        rg_gw__consumer_release(&gw->consumers[i]);
    rg_free(gw->consumers);
    rg_gw__creds_release(gw);
    for (size_t i = 0; i < gw->n_plugins; i++)
        rg_gw__plugin_release(gw, &gw->plugins[i]);
    rg_free(gw->plugins);
    rg_gw__upstreams_release(gw);
    rg_gw__certs_release(gw);
    rg_gw__ca_certs_release(gw);
    memset(gw, 0, sizeof(*gw));
}
