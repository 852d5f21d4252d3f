/* request-transformer: Kong 3's, in access (priority 801), edits what goes
 * upstream. Config, as Kong's:
 *
 *   http_method: null         the method sent upstream (not HEAD/CONNECT)
 *   remove:  {headers, querystring, body}     lists of "name"
 *   rename:  {headers, querystring, body}     lists of "old:new"
 *   replace: {headers, querystring, body, uri}  "name:value"; uri: the
 *                                                upstream path
 *   add:     {headers, querystring, body}     "name:value"
 *   append:  {headers, querystring, body}     "name:value"
 *
 * in Kong's order remove, rename, replace, add, append (transform.h has
 * each step's rule). Bodies are edited when their Content-Type is
 * application/json (an object; values are strings) or
 * application/x-www-form-urlencoded; other bodies, a body that is not
 * JSON, and requests without a Content-Type pass untouched (Kong's).
 * Kong's $(...) templates are not supported: values are literal.
 *
 * raftgate's extensions (the seed's transformer), run around Kong's
 * steps:
 *   path_rewrite: {regex: replacement}  on the upstream path (after
 *       replace.uri): the first pattern (POSIX extended) that matches has
 *       its first match replaced; \1..\9 in the replacement are its groups
 *   header_mapping: {From: To}   copy the client's From header to To
 *       (before Kong's steps, which then see To)
 *   body_wrap: key                JSON body b goes up as {"key": b} (after
 *       Kong's body steps)
 *   gateway_timestamp: false      X-Gateway-Timestamp: unix seconds
 *
 * The body is buffered (RG_FILTER_REQ_BODY) only when body edits or
 * body_wrap are configured; other configs keep the body streaming. */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "config/yamltree.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "http/filter.h"
#include "http/req.h"
#include "plugins/conf_read.h"
#include "plugins/transform.h"

#define RQ_MAP_MAX 16

struct rq_rewrite {
    regex_t re;
    char *repl;
};

struct rq_map {
    char *from, *to;
};

struct rq_conf {
    char *method;
    char *uri;
    struct rg_tf_edits headers, query, body, form; /* form: body's, encoded */
    struct rq_rewrite rewrite[RQ_MAP_MAX];
    size_t n_rewrite;
    struct rq_map map[RQ_MAP_MAX];
    size_t n_map;
    char *wrap;
    int timestamp;
};

/* ---- config ---- */

static void rq_free(void *p)
{
    struct rq_conf *c = p;

    if (c == NULL)
        return;
    rg_free(c->method);
    rg_free(c->uri);
    rg_tf_edits_free(&c->headers);
    rg_tf_edits_free(&c->query);
    rg_tf_edits_free(&c->body);
    rg_tf_edits_free(&c->form);
    for (size_t i = 0; i < c->n_rewrite; i++) {
        regfree(&c->rewrite[i].re);
        rg_free(c->rewrite[i].repl);
    }
    for (size_t i = 0; i < c->n_map; i++) {
        rg_free(c->map[i].from);
        rg_free(c->map[i].to);
    }
    rg_free(c->wrap);
    rg_free(c);
}

/* The step a key table reads, for its callbacks. */
struct step_ctx {
    struct rq_conf *c;
    enum rg_tf_step step;
};

static int k_headers(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct step_ctx *s = ctx;

    return rg_tf_read(t, v, &s->c->headers, s->step, RG_TF_HEADER);
}

static int k_query(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct step_ctx *s = ctx;

    return rg_tf_read(t, v, &s->c->query, s->step, RG_TF_FORM);
}

/* Body items are kept twice: as given for JSON bodies, percent-encoded
 * for form bodies. */
static int k_body(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct step_ctx *s = ctx;
    int rv = rg_tf_read(t, v, &s->c->body, s->step, RG_TF_JSON);

    return rv < 0 ? rv : rg_tf_read(t, v, &s->c->form, s->step, RG_TF_FORM);
}

static int k_uri(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct step_ctx *s = ctx;
    int rv = rg_yt_str(t, v, &s->c->uri);

    if (rv < 0)
        return rv;
    if (s->c->uri[0] != '/' || strpbrk(s->c->uri, " \t\r\n?#") != NULL)
        return rg_yt_err(t, v, "must be a path starting with \"/\", "
                               "without blanks, '?' or '#'");
    return 0;
}

/* clang-format off */
static const struct rg_yt_key step_keys[] = {
    {"headers", k_headers}, {"querystring", k_query}, {"body", k_body},
    {NULL, NULL},
};
static const struct rg_yt_key replace_keys[] = {
    {"headers", k_headers}, {"querystring", k_query}, {"body", k_body},
    {"uri", k_uri},
    {NULL, NULL},
};
/* clang-format on */

static int read_step(struct rg_yt *t, yaml_node_t *v, void *ctx,
                     enum rg_tf_step step)
{
    struct step_ctx s = {ctx, step};

    return rg_yt_map(t, v, step == RG_TF_REPLACE ? replace_keys : step_keys,
                     &s);
}

static int k_remove(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_step(t, v, ctx, RG_TF_REMOVE);
}

static int k_rename(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_step(t, v, ctx, RG_TF_RENAME);
}

static int k_replace(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_step(t, v, ctx, RG_TF_REPLACE);
}

static int k_add(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_step(t, v, ctx, RG_TF_ADD);
}

static int k_append(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return read_step(t, v, ctx, RG_TF_APPEND);
}

static int k_method(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct rq_conf *c = ctx;
    int rv = rg_name_read(t, v, RG_NAME_METHOD, &c->method);

    if (rv == 0 &&
        (strcmp(c->method, "HEAD") == 0 || strcmp(c->method, "CONNECT") == 0))
        return rg_yt_err(t, v, "HEAD and CONNECT cannot be sent instead "
                               "(their answers are framed differently)");
    return rv;
}

/* Why replacement @s cannot be used with a pattern of @nsub groups, or
 * NULL: it must make a path (visible ASCII, no '?' or '#': the query is
 * the request's) and name only groups the pattern has. */
static const char *repl_error(const char *s, size_t nsub)
{
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch <= 0x20 || ch >= 0x7f || ch == '?' || ch == '#')
            return "the replacement may hold only visible ASCII without "
                   "'?' and '#'";
        if (ch == '\\' && s[1] >= '1' && s[1] <= '9' &&
            (size_t)(s[1] - '0') > nsub)
            return "the replacement names a group the pattern does not "
                   "have";
    }
    return NULL;
}

static int rewrite_pair(struct rg_yt *t, const char *key, size_t len,
                        yaml_node_t *v, void *ctx)
{
    struct rq_conf *c = ctx;
    struct rq_rewrite *w;
    const char *bad;
    char *pattern;
    int rv;

    if (c->n_rewrite == RQ_MAP_MAX)
        return rg_yt_err(t, v, "at most %d patterns", RQ_MAP_MAX);
    w = &c->rewrite[c->n_rewrite];
    w->repl = NULL;
    if ((rv = rg_yt_str(t, v, &w->repl)) < 0)
        return rv;
    pattern = rg_strndup(key, len);
    if (pattern == NULL) {
        rg_free(w->repl);
        return rg_yt_nomem(t);
    }
    rv = regcomp(&w->re, pattern, REG_EXTENDED);
    rg_free(pattern);
    if (rv != 0) {
        rg_free(w->repl);
        return rg_yt_err(t, v, "the pattern is not a valid regex");
    }
    if ((bad = repl_error(w->repl, w->re.re_nsub)) != NULL) {
        regfree(&w->re);
        rg_free(w->repl);
        return rg_yt_err(t, v, "%s", bad);
    }
    c->n_rewrite++;
    return 0;
}

static int k_rewrite(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_pairs(t, v, rewrite_pair, ctx);
}

static int map_pair(struct rg_yt *t, const char *key, size_t len,
                    yaml_node_t *v, void *ctx)
{
    struct rq_conf *c = ctx;
    struct rq_map *m;
    int rv;

    if (c->n_map == RQ_MAP_MAX)
        return rg_yt_err(t, v, "at most %d mappings", RQ_MAP_MAX);
    m = &c->map[c->n_map];
    m->to = NULL;
    if ((rv = rg_yt_str(t, v, &m->to)) < 0)
        return rv;
    m->from = rg_strndup(key, len);
    c->n_map++;
    if (m->from == NULL)
        return rg_yt_nomem(t);
    if (!rg_tf_header_ok(m->from, strlen(m->from)) ||
        !rg_tf_header_ok(m->to, strlen(m->to)))
        return rg_yt_err(t, v, "both must be header names the gateway may "
                               "set");
    return 0;
}

static int k_map(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_pairs(t, v, map_pair, ctx);
}

static int k_wrap(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    struct rq_conf *c = ctx;
    int rv = rg_yt_str(t, v, &c->wrap);

    if (rv == 0 && c->wrap[0] == '\0')
        return rg_yt_err(t, v, "must not be empty");
    return rv;
}

static int k_timestamp(struct rg_yt *t, yaml_node_t *v, void *ctx)
{
    return rg_yt_bool(t, v, &((struct rq_conf *)ctx)->timestamp);
}

/* clang-format off */
static const struct rg_yt_key rq_keys[] = {
    {"http_method", k_method},
    {"remove", k_remove}, {"rename", k_rename}, {"replace", k_replace},
    {"add", k_add}, {"append", k_append},
    {"path_rewrite", k_rewrite},
    {"header_mapping", k_map},
    {"body_wrap", k_wrap},
    {"gateway_timestamp", k_timestamp},
    {NULL, NULL},
};
/* clang-format on */

static int rq_parse(struct rg_yt *t, yaml_node_t *config, void **out)
{
    struct rq_conf *c = rg_calloc(1, sizeof(*c));
    int rv = 0;

    *out = NULL;
    if (c == NULL)
        return rg_yt_nomem(t);
    if (config != NULL)
        rv = rg_yt_map(t, config, rq_keys, c);
    if (rv < 0) {
        rq_free(c);
        return rv;
    }
    c->headers.icase = 1;
    *out = c;
    return 0;
}

static unsigned rq_wants(const void *conf, uint32_t *body_max)
{
    const struct rq_conf *c = conf;

    (void)body_max;
    return !rg_tf_empty(&c->body) || c->wrap != NULL ? RG_FILTER_REQ_BODY
                                                      : 0;
}

/* ---- runtime ---- */

/* @path with rewrite @w's first match replaced, in the arena, or @path
 * when it does not match; NULL on ENOMEM. */
static const char *rewrite(struct rg_req *r, const struct rq_rewrite *w,
                           const char *path, int *matched)
{
    regmatch_t m[10];
    struct rg_buf b;
    const char *out;

    *matched = regexec(&w->re, path, 10, m, 0) == 0;
    if (!*matched)
        return path;
    rg_buf_init(&b, 64 * 1024);
    rg_buf_add(&b, path, (size_t)m[0].rm_so);
    for (const char *p = w->repl; *p != '\0'; p++) {
        if (p[0] == '\\' && p[1] >= '0' && p[1] <= '9') {
            const regmatch_t *g = &m[p[1] - '0'];

            if (g->rm_so >= 0)
                rg_buf_add(&b, path + g->rm_so,
                           (size_t)(g->rm_eo - g->rm_so));
            p++;
        } else {
            rg_buf_add(&b, p, 1);
        }
    }
    rg_buf_adds(&b, path + m[0].rm_eo);
    out = rg_buf_error(&b) == 0 ? rg_tf_dup(r, b.p, b.len) : NULL;
    rg_buf_release(&b);
    return out;
}

static int set_path(struct rg_req *r, const struct rq_conf *c)
{
    const char *path;
    int matched = 0;

    if (c->uri != NULL && rg_req_set_upstream_path(r, c->uri) != 0)
        return -ENOMEM;
    if (c->n_rewrite == 0)
        return 0;
    if ((path = rg_req_upstream_path(r)) == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < c->n_rewrite && !matched; i++) {
        path = rewrite(r, &c->rewrite[i], path, &matched);
        if (path == NULL)
            return -ENOMEM;
    }
    if (!matched)
        return 0;
    /* A rewrite to something that is not a path leaves the path alone. */
    return rg_req_set_upstream_path(r, path) == -ENOMEM ? -ENOMEM : 0;
}

/* Whether @name is among the first @n fields' names of @names. */
static int seen(const struct rg_tf_fields *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(names->v[i].name, name) == 0)
            return 1;
    }
    return 0;
}

/* The header names the config touches into @names (once each). */
static int touched(const struct rq_conf *c, struct rg_tf_fields *names)
{
    for (int s = 0; s < RG_TF_STEPS; s++) {
        const struct rg_tf_list *l = &c->headers.step[s];

        for (size_t i = 0; i < l->n; i++) {
            const char *two[2] = {l->v[i].name,
                                  s == RG_TF_RENAME ? l->v[i].value : NULL};

            for (int k = 0; k < 2; k++) {
                if (two[k] != NULL && !seen(names, names->n, two[k]) &&
                    rg_tf_fields_push(names, two[k], strlen(two[k]), NULL,
                                      0) != 0)
                    return -ENOMEM;
            }
        }
    }
    for (size_t i = 0; i < c->n_map; i++) {
        const char *two[2] = {c->map[i].from, c->map[i].to};

        for (int k = 0; k < 2; k++) {
            if (!seen(names, names->n, two[k]) &&
                rg_tf_fields_push(names, two[k], strlen(two[k]), NULL, 0) !=
                    0)
                return -ENOMEM;
        }
    }
    return 0;
}

/* Write the fields of @f named @name as the upstream's @name headers,
 * unless they are what the client sent (@orig, @olen; NULL: none). */
static int write_header(struct rg_req *r, const struct rg_tf_fields *f,
                        const char *name, const char *orig, size_t olen)
{
    size_t count = 0, last = 0;
    int rv;

    for (size_t i = 0; i < f->n; i++) {
        if (strcasecmp(f->v[i].name, name) == 0) {
            count++;
            last = i;
        }
    }
    if ((count == 0 && orig == NULL) ||
        (count == 1 && orig != NULL && f->v[last].value_len == olen &&
         memcmp(f->v[last].value, orig, olen) == 0))
        return 0;
    if ((rv = rg_req_set_header(r, RG_TO_UPSTREAM, name, NULL)) != 0)
        return rv;
    for (size_t i = 0; i < f->n; i++) {
        char *v;

        if (strcasecmp(f->v[i].name, name) != 0)
            continue;
        v = rg_tf_dup(r, f->v[i].value, f->v[i].value_len);
        if (v == NULL)
            return -ENOMEM;
        rv = rg_req_add_header(r, RG_TO_UPSTREAM, name, v);
        if (rv == -ENOMEM)
            return rv;
    }
    return 0;
}

static int edit_headers(struct rg_req *r, const struct rq_conf *c)
{
    struct rg_tf_fields names = {0}, f = {0};
    int rv;

    if (rg_tf_empty(&c->headers) && c->n_map == 0)
        return 0;
    rv = touched(c, &names);
    for (size_t i = 0; rv == 0 && i < names.n; i++) {
        size_t len;
        const char *v = rg_req_header(r, names.v[i].name, &len);

        if (v != NULL)
            rv = rg_tf_fields_push(&f, names.v[i].name,
                                   names.v[i].name_len, v, len);
    }
    for (size_t i = 0; rv == 0 && i < c->n_map; i++) {
        size_t len;
        const char *v = rg_req_header(r, c->map[i].from, &len);
        struct rg_tf_edits set = {.icase = 1};
        struct rg_tf_item it = {c->map[i].to, NULL, RG_TF_STRING};

        if (v == NULL || (it.value = rg_tf_dup(r, v, len)) == NULL) {
            rv = v == NULL ? 0 : -ENOMEM;
            continue;
        }
        /* To gets From's value: remove To, then append it. */
        set.step[RG_TF_REMOVE] = (struct rg_tf_list){&it, 1};
        set.step[RG_TF_APPEND] = (struct rg_tf_list){&it, 1};
        rv = rg_tf_apply(&set, &f);
    }
    if (rv == 0)
        rv = rg_tf_apply(&c->headers, &f);
    for (size_t i = 0; rv == 0 && i < names.n; i++) {
        size_t len = 0;
        const char *orig = rg_req_header(r, names.v[i].name, &len);

        rv = write_header(r, &f, names.v[i].name, orig, len);
    }
    rg_tf_fields_free(&names);
    rg_tf_fields_free(&f);
    return rv;
}

/* Edit form text @s (@n bytes) with @e into the arena (*@out, *@out_n). */
static int edit_form(struct rg_req *r, const struct rg_tf_edits *e,
                     const char *s, size_t n, const char **out, size_t *out_n)
{
    struct rg_tf_fields f = {0};
    struct rg_buf b;
    int rv = rg_tf_form_split(s, n, &f);

    rg_buf_init(&b, SIZE_MAX / 2);
    if (rv == 0)
        rv = rg_tf_apply(e, &f);
    if (rv == 0) {
        rg_tf_form_join(&f, &b);
        rv = rg_buf_error(&b);
    }
    *out = NULL;
    *out_n = b.len;
    if (rv == 0 && b.len > 0 && (*out = rg_tf_dup(r, b.p, b.len)) == NULL)
        rv = -ENOMEM;
    rg_buf_release(&b);
    rg_tf_fields_free(&f);
    return rv;
}

static int edit_query(struct rg_req *r, const struct rq_conf *c)
{
    const char *q, *out;
    size_t n, on;
    int rv;

    if (rg_tf_empty(&c->query))
        return 0;
    q = rg_req_query(r, &n);
    rv = edit_form(r, &c->query, q, n, &out, &on);
    return rv == 0 ? rg_req_set_query(r, out, on) : rv;
}

/* The media type of Content-Type, compared without case or parameters. */
static int media_is(struct rg_req *r, const char *type)
{
    size_t len, n = strlen(type);
    const char *v = rg_req_header(r, "content-type", &len);

    while (v != NULL && len > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }
    return v != NULL && len >= n && strncasecmp(v, type, n) == 0 &&
           (len == n || v[n] == ';' || v[n] == ' ' || v[n] == '\t');
}

static int edit_body(struct rg_req *r, const struct rq_conf *c)
{
    const char *p, *out;
    size_t n, on;
    int rv;

    if (rq_wants(c, NULL) == 0 || rg_req_body(r, &p, &n) != 0)
        return 0;
    if (media_is(r, "application/json")) {
        struct rg_tf_json spec = {NULL, &c->body, c->wrap};
        char *j;

        rv = rg_tf_json_body(&spec, p, n, &j, &on);
        if (rv != 0)
            return rv > 0 ? 0 : rv; /* not JSON: untouched */
        rv = rg_req_set_body(r, j, on);
        free(j);
        return rv;
    }
    if (!media_is(r, "application/x-www-form-urlencoded") ||
        rg_tf_empty(&c->form))
        return 0;
    rv = edit_form(r, &c->form, p, n, &out, &on);
    return rv == 0 ? rg_req_set_body(r, out, on) : rv;
}

static enum rg_filter_status rq_access(const struct rg_filter_call *fc)
{
    const struct rq_conf *c = fc->conf;
    struct rg_req *r = fc->r;
    int rv = 0;

    if (c->method != NULL)
        rv = rg_req_set_method(r, c->method);
    if (rv == 0)
        rv = set_path(r, c);
    if (rv == 0)
        rv = edit_headers(r, c);
    if (rv == 0)
        rv = edit_query(r, c);
    if (rv == 0)
        rv = edit_body(r, c);
    if (rv == 0 && c->timestamp) {
        char ts[24];

        snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
        rv = rg_req_set_header(r, RG_TO_UPSTREAM, "X-Gateway-Timestamp", ts);
    }
    if (rv != 0) {
        rg_req_fail(r, rv);
        return RG_FILTER_ERROR;
    }
    return RG_FILTER_CONTINUE;
}

const struct rg_filter_ops rg_plugin_request_transformer = {
    .schema = {.name = "request-transformer",
               .conf_parse = rq_parse,
               .conf_free = rq_free,
               .protocols = RG_PROTO_HTTP | RG_PROTO_HTTPS | RG_PROTO_GRPC |
                            RG_PROTO_GRPCS},
    .priority = 801, /* Kong's */
    .wants = rq_wants,
    .on_access = rq_access,
};
