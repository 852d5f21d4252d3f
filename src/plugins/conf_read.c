/* The shared config readers of plugins/conf_read.h. */
#include "plugins/conf_read.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

static const char *rule_error(enum rg_name_rule rule, const char *s,
                              size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (rule == RG_NAME_HEADER &&
            (ch <= 0x20 || ch >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", ch)))
            return "is not a header name";
        if (rule == RG_NAME_METHOD && !(ch >= 'A' && ch <= 'Z'))
            return "is not a method name";
        if (rule == RG_NAME_WORD &&
            (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '\\'))
            return "must be printable, without blanks, quotes or "
                   "backslashes";
    }
    return NULL;
}

int rg_name_read(struct rg_yt *t, yaml_node_t *n, enum rg_name_rule rule,
                 char **out)
{
    const char *s, *why;
    size_t len;
    int rv = rg_yt_scalar(t, n, &s, &len);

    if (rv < 0)
        return rv;
    if (len == 0 || len > RG_NAME_LEN_MAX)
        return rg_yt_err(t, n, "must be 1 to %d bytes", RG_NAME_LEN_MAX);
    why = rule_error(rule, s, len);
    if (why != NULL)
        return rg_yt_err(t, n, "%s", why);
    rg_free(*out);
    *out = rg_strndup(s, len);
    return *out != NULL ? 0 : rg_yt_nomem(t);
}

struct names_ctx {
    struct rg_names *l;
    size_t max;
    enum rg_name_rule rule;
    const char *what;
};

static int name_item(struct rg_yt *t, yaml_node_t *n, size_t i, void *ctx)
{
    struct names_ctx *c = ctx;
    int rv;

    (void)i;
    if (c->l->n == c->max)
        return rg_yt_err(t, n, "at most %zu %s", c->max, c->what);
    c->l->v[c->l->n] = NULL;
    rv = rg_name_read(t, n, c->rule, &c->l->v[c->l->n]);
    if (rv == 0)
        c->l->n++;
    return rv;
}

int rg_names_read(struct rg_yt *t, yaml_node_t *v, struct rg_names *l,
                  size_t max, enum rg_name_rule rule, const char *what)
{
    struct names_ctx c = {l, max, rule, what};

    rg_names_free(l);
    l->v = rg_calloc(max, sizeof(*l->v));
    if (l->v == NULL)
        return rg_yt_nomem(t);
    return rg_yt_seq(t, v, name_item, &c);
}

int rg_names_set1(struct rg_names *l, const char *s)
{
    rg_names_free(l);
    l->v = rg_calloc(1, sizeof(*l->v));
    if (l->v == NULL || (l->v[0] = rg_strdup(s)) == NULL)
        return -ENOMEM;
    l->n = 1;
    return 0;
}

void rg_names_free(struct rg_names *l)
{
    for (size_t i = 0; i < l->n; i++)
        rg_free(l->v[i]);
    rg_free(l->v);
    l->v = NULL;
    l->n = 0;
}

int rg_realm_read(struct rg_yt *t, yaml_node_t *v, const char *scheme,
                  char **www_auth)
{
    const char *s;
    size_t len, cap;
    int rv = rg_yt_scalar(t, v, &s, &len);

    if (rv < 0)
        return rv;
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == '"' || s[i] == '\\' ||
            s[i] == 0x7f)
            return rg_yt_err(t, v, "must be printable, without quotes or "
                                   "backslashes");
    }
    cap = strlen(scheme) + len + sizeof(" realm=\"\"");
    rg_free(*www_auth);
    *www_auth = rg_malloc(cap);
    if (*www_auth == NULL)
        return rg_yt_nomem(t);
    snprintf(*www_auth, cap, "%s realm=\"%s\"", scheme, s);
    return 0;
}

char *rg_message_body(const char *s, size_t len)
{
    char *b = rg_malloc(len * 6 + sizeof("{\"message\":\"\"}"));
    size_t o = 0;

    if (b == NULL)
        return NULL;
    o += (size_t)sprintf(b, "{\"message\":\"");
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch == '"' || ch == '\\')
            o += (size_t)sprintf(b + o, "\\%c", ch);
        else if (ch < 0x20)
            o += (size_t)sprintf(b + o, "\\u%04x", ch);
        else
            b[o++] = (char)ch;
    }
    strcpy(b + o, "\"}");
    return b;
}

int rg_message_read(struct rg_yt *t, yaml_node_t *v, char **body)
{
    const char *s;
    size_t len;
    char *b;
    int rv = rg_yt_scalar(t, v, &s, &len);

    if (rv < 0)
        return rv;
    if (len > RG_MESSAGE_MAX)
        return rg_yt_err(t, v, "longer than %d bytes", RG_MESSAGE_MAX);
    b = rg_message_body(s, len);
    if (b == NULL)
        return rg_yt_nomem(t);
    rg_free(*body);
    *body = b;
    return 0;
}
