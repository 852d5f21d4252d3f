/* Kong plugin instances in the declarative file: the top-level `plugins`
 * list (scope from its service/route/consumer references) and the lists
 * nested in services, routes and consumers (scope from the nesting). The
 * plugin's `config` is read by its schema from the catalog; everything
 * else is Kong's plugin entity. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config/gw_int.h"
#include "core/alloc.h"

static struct rg_plugin_inst *cur(struct gw_ctx *c)
{
    return &c->gw->plugins[c->plugin];
}

static const struct rg_plugin_schema *cur_schema(struct gw_ctx *c)
{
    return c->gw->catalog->schema[cur(c)->type];
}

/* A plugin type named by @v: its catalog index in *@type. */
static int type_of(struct rg_yt *t, struct gw_ctx *c, yaml_node_t *v,
                   unsigned *type)
{
    const struct rg_plugin_catalog *cat = c->gw->catalog;
    const char *s;
    size_t len;
    char clip[64];
    int i, rv = rg_yt_scalar(t, v, &s, &len);

    if (rv < 0)
        return rv;
    i = rg_plugin_catalog_find(cat, s, len);
    if (i >= 0) {
        *type = (unsigned)i;
        return 0;
    }
    rg_yt_clip(s, len, clip, sizeof(clip));
    return rg_yt_err(t, v, "unknown plugin \"%s\"%s", clip,
                     cat->n == 0 ? " (this build has no plugins)" : "");
}

/* ---- keys ---- */

static int pl_name(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    (void)t;
    (void)v;
    (void)ctx;
    return 0; /* read first, by plugin_at */
}

static int pl_id(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;

    return rg_gw__unique(t, v, GW_ID, c, GW_X_PLUGIN_ID, c->plugin,
                         &cur(c)->id);
}

static int pl_instance_name(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;

    return rg_gw__unique(t, v, GW_NAME, c, GW_X_PLUGIN_INSTANCE, c->plugin,
                         &cur(c)->instance_name);
}

static int pl_config(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;

    c->conf_seen = 1;
    if (v->type != YAML_MAPPING_NODE)
        return rg_yt_err(t, v, "must be a mapping");
    return cur_schema(c)->conf_parse(t, v, &cur(c)->conf);
}

static int pl_enabled(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &cur((struct gw_ctx *)ctx)->enabled);
}

static const struct {
    const char *name;
    unsigned bit;
} protos[] = {
    {"http", RG_PROTO_HTTP},
    {"https", RG_PROTO_HTTPS},
    {"grpc", RG_PROTO_GRPC},
    {"grpcs", RG_PROTO_GRPCS},
};

static int proto_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    unsigned *bits = ctx;
    const char *s;
    size_t len;
    int rv = rg_yt_scalar(t, n, &s, &len);

    (void)i;
    if (rv < 0)
        return rv;
    for (size_t k = 0; k < sizeof(protos) / sizeof(protos[0]); k++) {
        if (strlen(protos[k].name) == len &&
            memcmp(protos[k].name, s, len) == 0) {
            *bits |= protos[k].bit;
            return 0;
        }
    }
    return rg_yt_err(t, n, "must be one of http, https, grpc, grpcs");
}

static int pl_protocols(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;
    unsigned bits = 0;
    int rv = rg_yt_seq(t, v, proto_item, &bits);

    if (rv < 0)
        return rv;
    if (bits == 0)
        return rg_yt_err(t, v, "must not be empty");
    cur(c)->protocols = bits;
    return 0;
}

/* ---- ordering: {before: {access: [names]}, after: {access: [names]}} ---- */

struct ord_list {
    struct gw_ctx *c;
    unsigned **v;
    size_t *n;
};

static int ord_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    struct ord_list *l = ctx;
    unsigned type;
    int rv = type_of(t, l->c, n, &type);

    (void)i;
    if (rv < 0)
        return rv;
    (*l->v)[(*l->n)++] = type;
    return 0;
}

static int ord_phases(struct rg_yt *t, const char *key, size_t len,
                      yaml_node_t *v, void *ctx)
{
    struct ord_list *l = ctx;
    size_t n;

    if (len != 6 || memcmp(key, "access", 6) != 0)
        return rg_yt_err(t, v, "unknown phase (only \"access\" is ordered)");
    if (v->type != YAML_SEQUENCE_NODE)
        return rg_yt_err(t, v, "must be a list");
    n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    *l->v = rg_calloc(n ? n : 1, sizeof(**l->v));
    if (*l->v == NULL)
        return rg_yt_nomem(t);
    return rg_yt_seq(t, v, ord_item, l);
}

static int ord_before(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;
    struct ord_list l = {c, &cur(c)->ordering.before,
                         &cur(c)->ordering.n_before};

    return rg_yt_pairs(t, v, ord_phases, &l);
}

static int ord_after(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;
    struct ord_list l = {c, &cur(c)->ordering.after,
                         &cur(c)->ordering.n_after};

    return rg_yt_pairs(t, v, ord_phases, &l);
}

/* clang-format off */
static const struct rg_yt_key ordering_keys[] = {
    {"before", ord_before},
    {"after", ord_after},
    {NULL, NULL},
};
/* clang-format on */

static int pl_ordering(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_map(t, v, ordering_keys, ctx);
}

/* ---- references (top-level plugins only) ---- */

static int top_only(struct rg_yt *t, yaml_node_t *v, struct gw_ctx *c)
{
    if (c->top_plugin)
        return 0;
    return rg_yt_err(t, v, "not allowed in a nested plugin (the nesting "
                           "sets it)");
}

static int pl_service(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;
    int rv = top_only(t, v, c);

    return rv < 0 ? rv
                  : rg_gw__ref(t, v, c, GW_X_PLUGIN_SERVICE, &cur(c)->service);
}

static int pl_route(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;
    int rv = top_only(t, v, c);

    return rv < 0 ? rv
                  : rg_gw__ref(t, v, c, GW_X_PLUGIN_ROUTE, &cur(c)->route);
}

static int pl_consumer(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct gw_ctx *c = ctx;
    int rv = top_only(t, v, c);

    return rv < 0 ? rv
                  : rg_gw__ref(t, v, c, GW_X_PLUGIN_CONSUMER, &cur(c)->consumer);
}

/* clang-format off */
static const struct rg_yt_key plugin_keys[] = {
    {"name", pl_name},
    {"id", pl_id},
    {"instance_name", pl_instance_name},
    {"config", pl_config},
    {"enabled", pl_enabled},
    {"protocols", pl_protocols},
    {"ordering", pl_ordering},
    {"service", pl_service},
    {"route", pl_route},
    {"consumer", pl_consumer},
    {"tags", rg_gw__key_tags},
    {"created_at", rg_gw__key_timestamp},
    {"updated_at", rg_gw__key_timestamp},
    {"consumer_group", NULL},
    {NULL, NULL},
};
/* clang-format on */

/* ---- one plugin ---- */

/* Kong allows one instance of a type per (service, route, consumer). */
static int scope_unique(struct rg_yt *t, yaml_node_t *n, struct gw_ctx *c)
{
    const struct rg_plugin_inst *p = cur(c);
    char key[96], clip[64];
    int len, rv;

    len = snprintf(key, sizeof(key), "%u/%zx/%zx/%zx", p->type, p->service,
                   p->route, p->consumer);
    rv = rg_gw__group_key(c, GW_X_PLUGIN_SCOPE, key, (size_t)len, c->plugin);
    if (rv < 0)
        return rg_yt_nomem(t);
    if (rv == 0)
        return 0;
    rg_yt_clip(cur_schema(c)->name, strlen(cur_schema(c)->name), clip,
               sizeof(clip));
    return rg_yt_err(t, n,
                     "a \"%s\" plugin is already configured for this "
                     "service/route/consumer combination",
                     clip);
}

static int scope_allowed(struct rg_yt *t, yaml_node_t *n, struct gw_ctx *c)
{
    const struct rg_plugin_schema *s = cur_schema(c);
    const struct rg_plugin_inst *p = cur(c);
    const char *what = s->no_consumer && p->consumer != RG_NO_INDEX ? "consumer"
                       : s->no_route && p->route != RG_NO_INDEX     ? "route"
                       : s->no_service && p->service != RG_NO_INDEX ? "service"
                                                                    : NULL;

    if (what == NULL)
        return 0;
    return rg_yt_err(t, n, "plugin \"%s\" cannot be scoped to a %s", s->name,
                     what);
}

/* Add a plugin from mapping @n with the scope given (RG_NO_INDEX: none). */
static int plugin_at(struct rg_yt *t, struct gw_ctx *c, yaml_node_t *n,
                     size_t svc, size_t route, size_t consumer)
{
    struct rg_gateway *gw = c->gw;
    struct rg_plugin_inst *p;
    yaml_node_t *name;
    size_t mark;
    unsigned type;
    int rv;

    if (n->type != YAML_MAPPING_NODE)
        return rg_yt_err(t, n, "must be a mapping");
    name = rg_yt_get(t, n, "name");
    if (name == NULL)
        return rg_yt_err(t, n, "needs a name");
    mark = rg_yt_push_key(t, "name", 4);
    rv = type_of(t, c, name, &type);
    rg_yt_pop(t, mark);
    if (rv < 0)
        return rv;
    if (rg_gw__grow((void **)&gw->plugins, &c->plugin_cap, gw->n_plugins,
                    sizeof(*p)) < 0)
        return rg_yt_nomem(t);
    p = &gw->plugins[gw->n_plugins];
    memset(p, 0, sizeof(*p));
    p->type = type;
    p->service = svc;
    p->route = route;
    p->consumer = consumer;
    p->enabled = 1;
    p->protocols = gw->catalog->schema[type]->protocols;
    c->plugin = gw->n_plugins++;
    c->conf_seen = 0;
    rv = rg_yt_map(t, n, plugin_keys, c);
    if (rv == 0 && !c->conf_seen)
        rv = cur_schema(c)->conf_parse(t, NULL, &cur(c)->conf);
    if (rv == 0)
        rv = scope_allowed(t, n, c);
    if (rv == 0)
        rv = scope_unique(t, n, c);
    return rv;
}

int rg_gw__plugin_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    struct gw_ctx *c = ctx;
    int rv;

    (void)i;
    c->top_plugin = 1;
    rv = plugin_at(t, c, n, RG_NO_INDEX, RG_NO_INDEX, RG_NO_INDEX);
    c->top_plugin = 0;
    return rv;
}

static int service_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    struct gw_ctx *c = ctx;

    (void)i;
    return plugin_at(t, c, n, c->svc, RG_NO_INDEX, RG_NO_INDEX);
}

static int route_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    struct gw_ctx *c = ctx;

    (void)i;
    return plugin_at(t, c, n, RG_NO_INDEX, c->route, RG_NO_INDEX);
}

static int consumer_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    struct gw_ctx *c = ctx;

    (void)i;
    return plugin_at(t, c, n, RG_NO_INDEX, RG_NO_INDEX, c->consumer);
}

int rg_gw__service_plugins(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_seq(t, v, service_item, ctx);
}

int rg_gw__route_plugins(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_seq(t, v, route_item, ctx);
}

int rg_gw__consumer_plugins(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_seq(t, v, consumer_item, ctx);
}

void rg_gw__plugin_release(const struct rg_gateway *gw,
                           struct rg_plugin_inst *p)
{
    if (p->conf != NULL)
        gw->catalog->schema[p->type]->conf_free(p->conf);
    rg_free(p->id);
    rg_free(p->instance_name);
    rg_free(p->ordering.before);
    rg_free(p->ordering.after);
}
