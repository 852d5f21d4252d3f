/* The transformers' shared edits; see transform.h. */
#include "plugins/transform.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "http/req.h"
#include "plugins/conf_read.h"

/* ---- config ---- */

/* Headers the gateway frames messages with: no edit may touch them
 * (rg_req_add_header refuses them too). */
static int framing(const char *name, size_t n)
{
    static const char *const names[] = {"content-length", "transfer-encoding",
                                        "host", "connection", "upgrade",
                                        "te", "trailer", "keep-alive"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strlen(names[i]) == n && strncasecmp(name, names[i], n) == 0)
            return 1;
    }
    return 0;
}

static int header_ok(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch <= 0x20 || ch >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", ch))
            return 0;
    }
    return 1;
}

int rg_tf_header_ok(const char *s, size_t n)
{
    return n <= RG_NAME_LEN_MAX && header_ok(s, n) && !framing(s, n);
}

/* @s (@n bytes) percent-encoded as a form component, NUL-terminated. */
static char *form_encode(const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    char *o = rg_malloc(n * 3 + 1), *p = o;

    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
            (ch >= '0' && ch <= '9') || strchr("-._~", ch) != NULL) {
            *p++ = (char)ch;
        } else {
            *p++ = '%';
            *p++ = hex[ch >> 4];
            *p++ = hex[ch & 15];
        }
    }
    *p = '\0';
    return o;
}

static char *copy(enum rg_tf_kind kind, const char *s, size_t n)
{
    return kind == RG_TF_FORM ? form_encode(s, n) : rg_strndup(s, n);
}

struct read_ctx {
    struct rg_tf_list *l;
    enum rg_tf_step step;
    enum rg_tf_kind kind;
};

static int item(struct rg_yt *t, yaml_node_t *n, size_t i, void *arg)
{
    struct read_ctx *c = arg;
    struct rg_tf_item *it;
    const char *s, *colon;
    size_t len, nl;
    int pair = c->step != RG_TF_REMOVE;
    int rv = rg_yt_scalar(t, n, &s, &len);

    if (rv < 0)
        return rv;
    if (i >= RG_TF_LIST_MAX)
        return rg_yt_err(t, n, "at most %d items", RG_TF_LIST_MAX);
    colon = pair ? memchr(s, ':', len) : NULL;
    nl = colon != NULL ? (size_t)(colon - s) : len;
    if (nl == 0 || (pair && colon == NULL))
        return rg_yt_err(t, n, pair ? "must be \"name:value\""
                                    : "must not be empty");
    if (c->kind == RG_TF_HEADER) {
        if (!rg_tf_header_ok(s, nl))
            return rg_yt_err(t, n, "is not a header name the gateway may "
                                   "set (a token, not a framing header)");
        if (colon != NULL && strpbrk(colon + 1, "\r\n") != NULL)
            return rg_yt_err(t, n, "the value must not hold CR or LF");
        if (c->step == RG_TF_RENAME &&
            !rg_tf_header_ok(colon + 1, len - nl - 1))
            return rg_yt_err(t, n, "the new name is not a header name the "
                                   "gateway may set");
    }
    if (c->step == RG_TF_RENAME && len - nl - 1 == 0)
        return rg_yt_err(t, n, "the new name must not be empty");
    it = &c->l->v[c->l->n];
    memset(it, 0, sizeof(*it));
    it->name = copy(c->kind, s, nl);
    if (it->name == NULL)
        return rg_yt_nomem(t);
    c->l->n++;
    if (colon != NULL &&
        (it->value = copy(c->kind, colon + 1, len - nl - 1)) == NULL)
        return rg_yt_nomem(t);
    return 0;
}

static void list_free(struct rg_tf_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        rg_free(l->v[i].name);
        rg_free(l->v[i].value);
    }
    rg_free(l->v);
    l->v = NULL;
    l->n = 0;
}

int rg_tf_read(struct rg_yt *t, yaml_node_t *v, struct rg_tf_edits *e,
               enum rg_tf_step step, enum rg_tf_kind kind)
{
    struct rg_tf_list *l = &e->step[step];
    struct read_ctx c = {l, step, kind};

    list_free(l);
    e->icase = kind == RG_TF_HEADER;
    l->v = rg_calloc(RG_TF_LIST_MAX, sizeof(*l->v));
    if (l->v == NULL)
        return rg_yt_nomem(t);
    return rg_yt_seq(t, v, item, &c);
}

static int type_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *arg)
{
    static const char *const names[] = {"string", "number", "boolean", NULL};
    enum rg_tf_type *types = arg;
    int k, rv;

    if (i >= RG_TF_LIST_MAX)
        return rg_yt_err(t, n, "at most %d items", RG_TF_LIST_MAX);
    rv = rg_yt_word(t, n, names, &k);
    if (rv == 0)
        types[i] = (enum rg_tf_type)k;
    return rv;
}

/* Whether @s reads as a value of type @ty. */
static int fits(const char *s, enum rg_tf_type ty)
{
    char *end;

    if (ty == RG_TF_BOOLEAN)
        return strcmp(s, "true") == 0 || strcmp(s, "false") == 0;
    if (ty == RG_TF_NUMBER) {
        (void)strtod(s, &end);
        return *s != '\0' && *end == '\0' &&
               strspn(s, "0123456789+-.eE") == strlen(s);
    }
    return 1;
}

int rg_tf_read_types(struct rg_yt *t, yaml_node_t *v, struct rg_tf_edits *e,
                     enum rg_tf_step step)
{
    enum rg_tf_type types[RG_TF_LIST_MAX] = {RG_TF_STRING};
    struct rg_tf_list *l = &e->step[step];
    int rv = rg_yt_seq(t, v, type_item, types);

    if (rv < 0)
        return rv;
    for (size_t i = 0; i < l->n; i++) {
        l->v[i].type = types[i];
        if (l->v[i].value != NULL && !fits(l->v[i].value, types[i])) {
            size_t mark = rg_yt_push_index(t, i);

            rv = rg_yt_err(t, v, "\"%s\" is not a %s", l->v[i].value,
                           types[i] == RG_TF_NUMBER ? "number" : "boolean");
            rg_yt_pop(t, mark);
            return rv;
        }
    }
    return 0;
}

int rg_tf_empty(const struct rg_tf_edits *e)
{
    for (int s = 0; s < RG_TF_STEPS; s++) {
        if (e->step[s].n > 0)
            return 0;
    }
    return 1;
}

void rg_tf_edits_free(struct rg_tf_edits *e)
{
    for (int s = 0; s < RG_TF_STEPS; s++)
        list_free(&e->step[s]);
}

/* ---- field lists ---- */

char *rg_tf_dup(struct rg_req *r, const char *s, size_t n)
{
    char *p = rg_req_alloc(r, n + 1);

    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

int rg_tf_fields_push(struct rg_tf_fields *f, const char *name, size_t nl,
                      const char *value, size_t vl)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        struct rg_tf_field *v = rg_realloc(f->v, cap * sizeof(*v));

        if (v == NULL)
            return -ENOMEM;
        f->v = v;
        f->cap = cap;
    }
    f->v[f->n++] = (struct rg_tf_field){name, value, nl, vl};
    return 0;
}

void rg_tf_fields_free(struct rg_tf_fields *f)
{
    rg_free(f->v);
    f->v = NULL;
    f->n = f->cap = 0;
}

static int same(const struct rg_tf_edits *e, const struct rg_tf_field *f,
                const char *name)
{
    size_t n = strlen(name);

    return f->name_len == n && (e->icase ? strncasecmp(f->name, name, n)
                                         : strncmp(f->name, name, n)) == 0;
}

static void drop(const struct rg_tf_edits *e, struct rg_tf_fields *f,
                 const char *name)
{
    size_t k = 0;

    for (size_t i = 0; i < f->n; i++) {
        if (!same(e, &f->v[i], name))
            f->v[k++] = f->v[i];
    }
    f->n = k;
}

/* The index of the first field named @name, or f->n. */
static size_t find(const struct rg_tf_edits *e, const struct rg_tf_fields *f,
                   const char *name)
{
    size_t i = 0;

    while (i < f->n && !same(e, &f->v[i], name))
        i++;
    return i;
}

int rg_tf_apply(const struct rg_tf_edits *e, struct rg_tf_fields *f)
{
    for (int s = 0; s < RG_TF_STEPS; s++) {
        const struct rg_tf_list *l = &e->step[s];

        for (size_t i = 0; i < l->n; i++) {
            const struct rg_tf_item *it = &l->v[i];
            size_t at = find(e, f, it->name);

            switch (s) {
            case RG_TF_REMOVE:
                drop(e, f, it->name);
                break;
            case RG_TF_RENAME:
                if (at == f->n || same(e, &f->v[at], it->value))
                    break;
                drop(e, f, it->value);
                for (size_t j = 0; j < f->n; j++) {
                    if (same(e, &f->v[j], it->name)) {
                        f->v[j].name = it->value;
                        f->v[j].name_len = strlen(it->value);
                    }
                }
                break;
            case RG_TF_REPLACE:
                if (at == f->n)
                    break;
                f->v[at].value = it->value;
                f->v[at].value_len = strlen(it->value);
                for (size_t j = f->n; j-- > at + 1;) {
                    if (same(e, &f->v[j], it->name)) {
                        memmove(&f->v[j], &f->v[j + 1],
                                (f->n - j - 1) * sizeof(f->v[0]));
                        f->n--;
                    }
                }
                break;
            case RG_TF_ADD:
                if (at < f->n)
                    break;
                /* fall through */
            case RG_TF_APPEND:
                if (rg_tf_fields_push(f, it->name, strlen(it->name),
                                      it->value, strlen(it->value)) != 0)
                    return -ENOMEM;
                break;
            }
        }
    }
    return 0;
}

int rg_tf_form_split(const char *s, size_t n, struct rg_tf_fields *f)
{
    size_t i = 0;

    while (i < n) {
        size_t j = i;
        const char *eq;

        while (j < n && s[j] != '&')
            j++;
        if (j > i) {
            eq = memchr(s + i, '=', j - i);
            if (rg_tf_fields_push(
                    f, s + i, eq != NULL ? (size_t)(eq - s - i) : j - i,
                    eq != NULL ? eq + 1 : NULL,
                    eq != NULL ? (size_t)(s + j - eq - 1) : 0) != 0)
                return -ENOMEM;
        }
        i = j + 1;
    }
    return 0;
}

void rg_tf_form_join(const struct rg_tf_fields *f, struct rg_buf *b)
{
    for (size_t i = 0; i < f->n; i++) {
        if (i > 0)
            rg_buf_add(b, "&", 1);
        rg_buf_add(b, f->v[i].name, f->v[i].name_len);
        if (f->v[i].value != NULL) {
            rg_buf_add(b, "=", 1);
            rg_buf_add(b, f->v[i].value, f->v[i].value_len);
        }
    }
}

/* ---- JSON bodies ---- */

static json_t *typed(const struct rg_tf_item *it)
{
    if (it->type == RG_TF_BOOLEAN)
        return json_boolean(strcmp(it->value, "true") == 0);
    if (it->type == RG_TF_NUMBER) {
        json_t *v = json_loads(it->value, JSON_DECODE_ANY, NULL);

        if (json_is_number(v))
            return v;
        json_decref(v);
        return json_real(strtod(it->value, NULL));
    }
    return json_string(it->value);
}

/* Kong's append_value: an array gets the value, anything else present
 * becomes [it, value], nothing becomes [value]. */
static int append(json_t *obj, const struct rg_tf_item *it)
{
    json_t *cur = json_object_get(obj, it->name), *v = typed(it), *a;

    if (v == NULL)
        return -ENOMEM;
    if (json_is_array(cur))
        return json_array_append_new(cur, v) == 0 ? 0 : -ENOMEM;
    a = json_array();
    if (a == NULL || (cur != NULL && json_array_append(a, cur) != 0) ||
        json_array_append_new(a, v) != 0) {
        json_decref(a);
        return -ENOMEM;
    }
    return json_object_set_new(obj, it->name, a) == 0 ? 0 : -ENOMEM;
}

static int json_edit(const struct rg_tf_edits *e, json_t *obj)
{
    for (int s = 0; s < RG_TF_STEPS; s++) {
        const struct rg_tf_list *l = &e->step[s];

        for (size_t i = 0; i < l->n; i++) {
            const struct rg_tf_item *it = &l->v[i];
            json_t *cur = json_object_get(obj, it->name);
            int rv = 0;

            switch (s) {
            case RG_TF_REMOVE:
                json_object_del(obj, it->name);
                break;
            case RG_TF_RENAME:
                if (cur == NULL || strcmp(it->name, it->value) == 0)
                    break;
                json_incref(cur);
                json_object_del(obj, it->name);
                rv = json_object_set_new(obj, it->value, cur);
                break;
            case RG_TF_REPLACE:
                if (cur != NULL)
                    rv = json_object_set_new(obj, it->name, typed(it));
                break;
            case RG_TF_ADD:
                if (cur == NULL)
                    rv = json_object_set_new(obj, it->name, typed(it));
                break;
            case RG_TF_APPEND:
                rv = append(obj, it);
                break;
            }
            if (rv != 0)
                return -ENOMEM;
        }
    }
    return 0;
}

int rg_tf_json_body(const struct rg_tf_json *spec, const char *in,
                    size_t len, char **out, size_t *out_len)
{
    json_t *body = len == 0 ? json_object()
                            : json_loadb(in, len, JSON_DECODE_ANY, NULL);
    json_t *inner;
    int rv = 0;

    *out = NULL;
    *out_len = 0;
    if (body == NULL)
        return 1;
    if (spec->unwrap != NULL && json_is_object(body) &&
        (inner = json_object_get(body, spec->unwrap)) != NULL) {
        json_incref(inner);
        json_decref(body);
        body = inner;
    }
    if (spec->edits != NULL && json_is_object(body))
        rv = json_edit(spec->edits, body);
    if (rv == 0 && spec->wrap != NULL) {
        json_t *w = json_object();

        if (w == NULL) {
            json_decref(body);
            return -ENOMEM;
        }
        if (json_object_set_new(w, spec->wrap, body) != 0) {
            json_decref(w);
            return -ENOMEM; /* set_new took body */
        }
        body = w;
    }
    if (rv == 0) {
        *out = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        if (*out == NULL)
            rv = -ENOMEM;
        else
            *out_len = strlen(*out);
    }
    json_decref(body);
    return rv;
}
