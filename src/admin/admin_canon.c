/* Declarative documents for the store: YAML or JSON in, the canonical JSON
 * of a REPLACE_ALL out (flat lists, references by id, every id present);
 * and the data-plane view the gateway parser accepts (the validator).
 *
 * Ids missing from a file are name-based UUIDs (RFC 9562 §5.5, SHA-1 over
 * "raftgate:<kind>:<name or path>"), so every node and every reload of the
 * same file agrees on them. */
#include "admin/admin_int.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/gateway.h"
#include "config/yamltree.h"
#include "core/alloc.h"
#include "plugins/registry.h"

#define CANON_MAX_DEPTH 64
#define CANON_MAX_NODES 1000000

/* ---- YAML to JSON (YAML core schema typing, as yamltree reads it) ---- */

struct ytoj {
    yaml_document_t *doc;
    unsigned long nodes;
};

static int plain(const yaml_node_t *n)
{
    return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static json_t *scalar_to_json(const yaml_node_t *n)
{
    const char *s = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    char *end;

    if (!plain(n))
        return json_stringn(s, len);
    if (len == 0 || strcmp(s, "~") == 0 || strcasecmp(s, "null") == 0)
        return json_null();
    if (strcasecmp(s, "true") == 0)
        return json_true();
    if (strcasecmp(s, "false") == 0)
        return json_false();
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno == 0 && end == s + len && (*s != '+'))
        return json_integer(v);
    double d = strtod(s, &end);
    if (end == s + len && strpbrk(s, ".eE") != NULL && strpbrk(s, "xX") == NULL)
        return json_real(d);
    return json_stringn(s, len);
}

static json_t *node_to_json(struct ytoj *y, yaml_node_t *n, int depth);

static json_t *map_to_json(struct ytoj *y, yaml_node_t *n, int depth)
{
    json_t *o = json_object();

    for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
         o != NULL && p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(y->doc, p->value);
        json_t *jv;

        if (k == NULL || k->type != YAML_SCALAR_NODE ||
            json_object_get(o, (const char *)k->data.scalar.value) != NULL ||
            (jv = node_to_json(y, v, depth + 1)) == NULL ||
            json_object_set_new(o, (const char *)k->data.scalar.value,
                                jv) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static json_t *node_to_json(struct ytoj *y, yaml_node_t *n, int depth)
{
    json_t *a;

    if (n == NULL || depth > CANON_MAX_DEPTH || ++y->nodes > CANON_MAX_NODES)
        return NULL;
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return scalar_to_json(n);
    case YAML_MAPPING_NODE:
        return map_to_json(y, n, depth);
    case YAML_SEQUENCE_NODE:
        a = json_array();
        for (yaml_node_item_t *i = n->data.sequence.items.start;
             a != NULL && i < n->data.sequence.items.top; i++) {
            json_t *v = node_to_json(y, yaml_document_get_node(y->doc, *i),
                                     depth + 1);

            if (v == NULL || json_array_append_new(a, v) != 0) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    default:
        return NULL;
    }
}

static int is_json(const char *text, size_t len)
{
    size_t i = 0;

    while (i < len && strchr(" \t\r\n", text[i]) != NULL)
        i++;
    return i < len && text[i] == '{';
}

/* Load @text (YAML or JSON) into a JSON object. */
static json_t *load_doc(const char *text, size_t len, struct rg_errbuf *eb)
{
    struct rg_yt t = {0};
    struct ytoj y;
    json_error_t je;
    json_t *o;

    if (is_json(text, len)) {
        o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        if (o == NULL)
            rg_errbuf_set(eb, "JSON syntax error: %s (line %d, column %d)",
                          je.text, je.line, je.column);
        return o;
    }
    if (rg_yt_load(&t, text, len, eb) != 0)
        return NULL;
    y.doc = &t.doc;
    y.nodes = 0;
    o = node_to_json(&y, rg_yt_root(&t), 0);
    rg_yt_release(&t);
    if (o == NULL || !json_is_object(o)) {
        json_decref(o);
        rg_errbuf_set(eb, "document: must be a mapping (with unique keys, "
                          "at most %d levels deep)", CANON_MAX_DEPTH);
        return NULL;
    }
    return o;
}

/* ---- the data-plane view ---- */

void rg_admin__line1_error(struct rg_errbuf *e2, struct rg_errbuf *eb)
{
    char *sfx = strstr(e2->msg, " (line 1)");

    if (sfx != NULL && sfx[9] == '\0')
        *sfx = '\0';
    rg_errbuf_set(eb, "%s", e2->msg);
}

char *rg_admin_config_dataplane(const char *doc, size_t len, size_t *out_len,
                                struct rg_errbuf *eb)
{
    json_t *o = load_doc(doc, len, eb);
    char *text, *out = NULL;

    if (o == NULL)
        return NULL;
    if ((text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS)) != NULL) {
        out = rg_strdup(text);
        rg_admin__jfree(text);
        if (out != NULL && out_len != NULL)
            *out_len = strlen(out);
    }
    json_decref(o);
    return out;
}

/* ---- canonical form ---- */

static void derive_id(const char *kind, const char *key, char out[37])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    char in[512];
    int n = snprintf(in, sizeof(in), "raftgate:%s:%s", kind, key);

    EVP_Digest(in, (size_t)(n < (int)sizeof(in) ? n : (int)sizeof(in) - 1),
               md, &mdlen, EVP_sha1(), NULL);
    md[6] = (unsigned char)((md[6] & 0x0f) | 0x50);
    md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             md[0], md[1], md[2], md[3], md[4], md[5], md[6], md[7], md[8],
             md[9], md[10], md[11], md[12], md[13], md[14], md[15]);
}

/* Give @o an id when it has none: from its name field, else @path. */
static const char *ensure_id(json_t *o, const char *kind, const char *namef,
                             const char *path)
{
    const char *name = namef ? json_string_value(json_object_get(o, namef))
                             : NULL;
    char id[37];

    if (!json_is_string(json_object_get(o, "id"))) {
        derive_id(kind, name ? name : path, id);
        json_object_set_new(o, "id", json_string(id));
    }
    return json_string_value(json_object_get(o, "id"));
}

struct canon {
    json_t *out;        /* the result */
    json_t *services, *routes, *consumers, *plugins; /* borrowed from out */
    struct rg_errbuf *eb;
};

/* Resolve a reference (bare name/id or {id}/{name}/{username}) against
 * the entities of @list, by id or @namef. NULL when it does not. */
static const char *resolve(const json_t *list, const char *namef,
                           const json_t *ref)
{
    const char *key = json_string_value(ref);
    const json_t *e;
    size_t i;

    if (key == NULL)
        key = json_string_value(json_object_get(ref, "id"));
    if (key == NULL)
        key = json_string_value(json_object_get(ref, namef));
    if (key == NULL)
        return NULL;
    json_array_foreach(list, i, e) {
        const char *id = json_string_value(json_object_get(e, "id"));
        const char *nm = json_string_value(json_object_get(e, namef));

        if ((id && strcmp(id, key) == 0) || (nm && strcmp(nm, key) == 0))
            return id;
    }
    return NULL;
}

static void add_plugins(struct canon *c, json_t *owner, const char *field,
                        const char *owner_id, const char *path)
{
    json_t *l = json_object_get(owner, "plugins"), *p;
    char pp[200];
    size_t i;

    json_array_foreach(l, i, p) {
        json_t *cp = json_deep_copy(p);

        snprintf(pp, sizeof(pp), "%splugins[%zu]", path, i);
        ensure_id(cp, "plugins", NULL, pp);
        json_object_set_new(cp, field, json_pack("{s:s}", "id", owner_id));
        json_array_append_new(c->plugins, cp);
    }
    json_object_del(owner, "plugins");
}

static void add_route(struct canon *c, const json_t *r, const char *sid,
                      const char *path)
{
    json_t *cr = json_deep_copy(r);
    const char *rid = ensure_id(cr, "routes", "name", path);
    char pp[200];

    if (sid != NULL)
        json_object_set_new(cr, "service", json_pack("{s:s}", "id", sid));
    snprintf(pp, sizeof(pp), "%s.", path);
    add_plugins(c, cr, "route", rid, pp);
    json_array_append_new(c->routes, cr);
}

static void add_services(struct canon *c, const json_t *doc)
{
    const json_t *s, *r;
    size_t i, j;
    char path[96], rp[160];

    json_array_foreach(json_object_get(doc, "services"), i, s) {
        json_t *cs = json_deep_copy(s);
        const char *sid;

        snprintf(path, sizeof(path), "services[%zu]", i);
        sid = ensure_id(cs, "services", "name", path);
        json_array_foreach(json_object_get(s, "routes"), j, r) {
            snprintf(rp, sizeof(rp), "%s.routes[%zu]", path, j);
            add_route(c, r, sid, rp);
        }
        json_object_del(cs, "routes");
        strcat(path, ".");
        add_plugins(c, cs, "service", sid, path);
        json_array_append_new(c->services, cs);
    }
}

static void add_routes(struct canon *c, const json_t *doc)
{
    const json_t *r;
    size_t i;
    char path[96];

    json_array_foreach(json_object_get(doc, "routes"), i, r) {
        const char *sid = resolve(c->services, "name",
                                  json_object_get(r, "service"));

        snprintf(path, sizeof(path), "routes[%zu]", i);
        add_route(c, r, sid, path);
    }
}

/* Parents that nest children: upstreams and their targets, certificates
 * and their snis. */
struct nesting {
    const char *parents;  /* "upstreams" */
    const char *pname;    /* the parents' name field, or NULL */
    const char *children; /* "targets" */
    const char *ref;      /* the child's reference to its parent */
    const char *cname;    /* a bare string child is {cname: it}, or NULL */
};

static const struct nesting upstream_targets = {"upstreams", "name",
                                                "targets", "upstream", NULL};
static const struct nesting certificate_snis = {"certificates", NULL, "snis",
                                                "certificate", "name"};

/* A child (@ch borrowed) for the store: a copy with its id and a
 * reference {id: @pid} to its parent; NULL when it has not the shape. */
static json_t *child_of(const struct nesting *n, const json_t *ch,
                        const char *pid, const char *path)
{
    json_t *cc = json_is_string(ch) && n->cname != NULL
                     ? json_pack("{s:O}", n->cname, ch)
                     : json_deep_copy(ch);

    if (!json_is_object(cc))
        return cc; /* the store's validator names it */
    ensure_id(cc, n->children, NULL, path);
    json_object_set_new(cc, n->ref, json_pack("{s:s}", "id", pid));
    return cc;
}

/* Parents and their children, nested or top-level: flat, each child with
 * its reference {id}. The lists are left out when both are empty (a
 * config without them reads as it did before they existed). */
static int add_nesting(struct canon *c, const json_t *doc,
                       const struct nesting *n)
{
    const json_t *u, *t, *ul = json_object_get(doc, n->parents);
    const json_t *tl = json_object_get(doc, n->children);
    json_t *ups, *tgs;
    size_t i, j;
    char path[96], tp[160];

    if (json_array_size(ul) == 0 && json_array_size(tl) == 0)
        return 0;
    ups = json_array();
    tgs = json_array();
    json_object_set_new(c->out, n->parents, ups);
    json_object_set_new(c->out, n->children, tgs);
    json_array_foreach(ul, i, u) {
        json_t *cu = json_deep_copy(u);
        const char *uid;

        snprintf(path, sizeof(path), "%s[%zu]", n->parents, i);
        uid = ensure_id(cu, n->parents, n->pname, path);
        json_array_foreach(json_object_get(u, n->children), j, t) {
            snprintf(tp, sizeof(tp), "%s.%s[%zu]", path, n->children, j);
            json_array_append_new(tgs, child_of(n, t, uid, tp));
        }
        json_object_del(cu, n->children);
        json_array_append_new(ups, cu);
    }
    json_array_foreach(tl, i, t) {
        const char *uid = resolve(ups, n->pname ? n->pname : "id",
                                  json_object_get(t, n->ref));

        snprintf(path, sizeof(path), "%s[%zu]", n->children, i);
        if (uid == NULL)
            return rg_errbuf_set(c->eb, "%s.%s: no such %s", path, n->ref,
                                 n->ref);
        json_array_append_new(tgs, child_of(n, t, uid, path));
    }
    return 0;
}

/* CA certificates: flat, each with its id and cert_digest (computed when
 * not given); the list is left out when empty. */
static void add_ca_certificates(struct canon *c, const json_t *doc)
{
    const json_t *l = json_object_get(doc, "ca_certificates"), *e;
    json_t *out;
    size_t i;
    char path[64];

    if (json_array_size(l) == 0)
        return;
    out = json_array();
    json_object_set_new(c->out, "ca_certificates", out);
    json_array_foreach(l, i, e) {
        json_t *ce = json_deep_copy(e);

        int expired;

        if (json_is_object(ce)) { /* else the store's validator names it */
            snprintf(path, sizeof(path), "ca_certificates[%zu]", i);
            ensure_id(ce, "ca_certificates", NULL, path);
            /* a given digest is the validator's to check, as in a file */
            if (json_object_get(ce, "cert_digest") == NULL)
                rg_admin__cacert_digest(ce, &expired);
        }
        json_array_append_new(out, ce);
    }
}

static void add_consumers(struct canon *c, const json_t *doc)
{
    const json_t *e;
    size_t i;
    char path[96];

    json_array_foreach(json_object_get(doc, "consumers"), i, e) {
        json_t *ce = json_deep_copy(e);
        const char *id;

        snprintf(path, sizeof(path), "consumers[%zu]", i);
        id = ensure_id(ce, "consumers", "username", path);
        strcat(path, ".");
        add_plugins(c, ce, "consumer", id, path);
        json_array_append_new(c->consumers, ce);
    }
}

/* Credentials (@list: "keyauth_credentials", "jwt_secrets", "acls") live
 * in their consumer: nested ones stay there, top-level ones move in (their
 * `consumer` reference resolved); every one without an id gets one
 * (X-Credential-Identifier) derived from its place in the document, never
 * from its key: the id goes to every upstream, an API key must not be
 * guessable from it. */
static int add_creds(struct canon *c, const json_t *doc, const char *list)
{
    const json_t *k;
    json_t *co, *cred;
    size_t i, j;
    char path[96];

    json_array_foreach(c->consumers, i, co) {
        json_array_foreach(json_object_get(co, list), j, cred) {
            snprintf(path, sizeof(path), "consumers[%zu].%s[%zu]", i, list,
                     j);
            ensure_id(cred, list, NULL, path);
        }
    }
    json_array_foreach(json_object_get(doc, list), i, k) {
        const char *id = resolve(c->consumers, "username",
                                 json_object_get(k, "consumer"));
        json_t *l;

        snprintf(path, sizeof(path), "%s[%zu]", list, i);
        co = NULL;
        json_array_foreach(c->consumers, j, cred) {
            if (id != NULL &&
                strcmp(json_string_value(json_object_get(cred, "id")), id) ==
                    0) {
                co = cred;
                break;
            }
        }
        if (co == NULL)
            return rg_errbuf_set(c->eb, "%s.consumer: no such consumer", path);
        l = json_object_get(co, list);
        if (!json_is_array(l)) {
            l = json_array();
            json_object_set_new(co, list, l);
        }
        cred = json_deep_copy(k);
        json_object_del(cred, "consumer");
        ensure_id(cred, list, NULL, path);
        json_array_append_new(l, cred);
    }
    return 0;
}

/* Top-level plugins: references by name become references by id. */
static int add_top_plugins(struct canon *c, const json_t *doc)
{
    static const char *const refs[][3] = {
        {"service", "services", "name"},
        {"route", "routes", "name"},
        {"consumer", "consumers", "username"},
    };
    const json_t *p;
    size_t i;
    char path[96];

    json_array_foreach(json_object_get(doc, "plugins"), i, p) {
        json_t *cp = json_deep_copy(p);

        snprintf(path, sizeof(path), "plugins[%zu]", i);
        ensure_id(cp, "plugins", NULL, path);
        for (unsigned k = 0; k < 3; k++) {
            json_t *ref = json_object_get(cp, refs[k][0]);
            const char *id;

            if (ref == NULL || json_is_null(ref))
                continue;
            id = resolve(json_object_get(c->out, refs[k][1]), refs[k][2],
                         ref);
            if (id == NULL) {
                json_decref(cp);
                return rg_errbuf_set(c->eb, "%s.%s: no such %s", path,
                                     refs[k][0], refs[k][0]);
            }
            json_object_set_new(cp, refs[k][0], json_pack("{s:s}", "id", id));
        }
        json_array_append_new(c->plugins, cp);
    }
    return 0;
}

/* Check @doc as the user wrote it, so errors name the user's paths and
 * lines. */
static int validate_user(const char *text, size_t len, struct rg_errbuf *eb)
{
    struct rg_gateway gw;
    int rv = rg_gateway_parse(&gw, text, len, rg_plugins_catalog(), eb);

    rg_gateway_release(&gw);
    return rv;
}

char *rg_admin_config_canonical(const char *text, size_t len, size_t *out_len,
                                struct rg_errbuf *eb)
{
    json_t *doc = load_doc(text, len, eb);
    struct canon c = {0};
    char *dump, *out = NULL;

    if (doc == NULL || validate_user(text, len, eb) != 0)
        goto done;
    c.eb = eb;
    c.out = json_pack("{s:s,s:[],s:[],s:[],s:[]}", "_format_version", "3.0",
                      "services", "routes", "consumers", "plugins");
    c.services = json_object_get(c.out, "services");
    c.routes = json_object_get(c.out, "routes");
    c.consumers = json_object_get(c.out, "consumers");
    c.plugins = json_object_get(c.out, "plugins");
    add_services(&c, doc);
    add_routes(&c, doc);
    add_consumers(&c, doc);
    add_ca_certificates(&c, doc);
    if (add_nesting(&c, doc, &upstream_targets) != 0 ||
        add_nesting(&c, doc, &certificate_snis) != 0 ||
        add_creds(&c, doc, "keyauth_credentials") != 0 ||
        add_creds(&c, doc, "jwt_secrets") != 0 ||
        add_creds(&c, doc, "acls") != 0 || add_top_plugins(&c, doc) != 0)
        goto done;
    dump = json_dumps(c.out, JSON_COMPACT | JSON_SORT_KEYS);
    out = dump ? rg_strdup(dump) : NULL;
    rg_admin__jfree(dump);
    if (out == NULL)
        rg_errbuf_set(eb, "out of memory");
    else if (out_len != NULL)
        *out_len = strlen(out);
done:
    json_decref(c.out);
    json_decref(doc);
    return out;
}
