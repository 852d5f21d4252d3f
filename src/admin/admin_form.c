/* application/x-www-form-urlencoded bodies for the object endpoints, as
 * Kong's admin API takes them (WHATWG URL §5.1 for the encoding):
 *   name=x&url=http://h:9000        strings
 *   paths[]=/a&paths[]=/b           arrays; also paths[1]=/a (1-based),
 *   paths=/a&paths=/b               a repeated key, or a single value of a
 *                                   field that is an array in Kong's schema
 *   service.id=ID, config.minute=5  nested objects (also service[id]=ID)
 *   headers.x-v=1                   route headers: a map of arrays
 * Kong converts values with its schema; without one, the known integer
 * and boolean fields are converted by name, and under "config" (plugins)
 * true/false and numbers are. */
#include "admin/admin_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/hex.h"

#define FORM_MAX_DEPTH 8
#define FORM_MAX_INDEX 1024

static int in_list(const char *s, const char *const *l)
{
    for (; *l != NULL; l++)
        if (strcmp(s, *l) == 0)
            return 1;
    return 0;
}

static const char *const array_fields[] = {
    "paths", "hosts", "methods", "protocols", "tags", "snis", "sources",
    "destinations", "ca_certificates", NULL,
};
static const char *const int_fields[] = {
    "port", "retries", "connect_timeout", "write_timeout", "read_timeout",
    "regex_priority", "https_redirect_status_code", "tls_verify_depth",
    NULL,
};
static const char *const bool_fields[] = {
    "strip_path", "preserve_host", "request_buffering", "response_buffering",
    "enabled", "tls_verify", NULL,
};

/* Percent-decode @n bytes of @p ('+' is a space) into a new string. */
static char *unescape(const char *p, size_t n)
{
    char *out = rg_malloc(n + 1), *o = out;
    int hi, lo;

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '+')
            *o++ = ' ';
        else if (p[i] == '%' && i + 2 < n &&
                 (hi = rg_hex_digit(p[i + 1])) >= 0 &&
                 (lo = rg_hex_digit(p[i + 2])) >= 0) {
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        } else
            *o++ = p[i];
    }
    *o = '\0';
    return out;
}

static int all_digits(const char *s)
{
    if (*s == '-')
        s++;
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/* The JSON value of @v for field @name (@in_config: under "config"). */
static json_t *typed(const char *name, int in_config, const char *v)
{
    char *end;
    double d;

    if (in_config || in_list(name, bool_fields)) {
        if (strcmp(v, "true") == 0)
            return json_true();
        if (strcmp(v, "false") == 0)
            return json_false();
    }
    if ((in_config || in_list(name, int_fields)) && all_digits(v) &&
        strlen(v) < 19)
        return json_integer(strtoll(v, NULL, 10));
    if (in_config && *v != '\0') {
        d = strtod(v, &end);
        if (*end == '\0')
            return json_real(d);
    }
    if (*v == '\0' && (in_list(name, int_fields) ||
                       in_list(name, bool_fields)))
        return json_null();
    return json_string(v);
}

struct form_key {
    char *seg[FORM_MAX_DEPTH];  /* pointers into the decoded key */
    unsigned n;
    int append;                 /* ended in [] */
    long index;                 /* ended in [N] (1-based), else 0 */
};

/* One "[...]" at @in (just after the '['): "[]" appends, "[N]" is an
 * index, "[name]" a segment. Returns the position after ']' or NULL. */
static char *bracket(char *in, struct form_key *fk)
{
    char *close = strchr(in, ']');

    if (close == NULL || fk->n == 0)
        return NULL;
    *close = '\0';
    if (*in == '\0')
        fk->append = 1;
    else if (*in != '-' && all_digits(in)) {
        fk->index = strtol(in, NULL, 10);
        if (fk->index < 1 || fk->index > FORM_MAX_INDEX)
            return NULL;
    } else
        fk->seg[fk->n++] = in;
    return close + 1;
}

/* Split "a.b[c][]" / "a[2]" into segments, in place. */
static int split_key(char *k, struct form_key *fk)
{
    char *p = k;

    memset(fk, 0, sizeof(*fk));
    while (p != NULL && *p != '\0') {
        char *start = p;

        if (fk->append || fk->index || fk->n == FORM_MAX_DEPTH)
            return -EINVAL; /* nothing follows [] or [N] */
        if (*p == '[') {
            p = bracket(p + 1, fk);
        } else {
            p += strcspn(p, ".[");
            if (p == start)
                return -EINVAL;
            fk->seg[fk->n++] = start;
            if (*p == '[') {
                *p = '\0';
                p = bracket(p + 1, fk);
            }
        }
        if (p != NULL && *p == '.') {
            *p++ = '\0';
            if (*p == '\0' || *p == '.' || *p == '[')
                return -EINVAL;
        }
    }
    return p != NULL && fk->n > 0 ? 0 : -EINVAL;
}

/* Store @v (taken) at the place @fk names under @root. */
static int put_value(json_t *root, const struct form_key *fk, json_t *v)
{
    json_t *cur = root, *old, *arr;
    const char *last = fk->seg[fk->n - 1];
    int in_headers = fk->n == 2 && strcmp(fk->seg[0], "headers") == 0;

    for (unsigned i = 0; i + 1 < fk->n; i++) {
        json_t *child = json_object_get(cur, fk->seg[i]);

        if (child == NULL) {
            child = json_object();
            if (json_object_set_new(cur, fk->seg[i], child) != 0)
                goto fail;
        } else if (!json_is_object(child))
            goto fail;
        cur = child;
    }
    old = json_object_get(cur, last);
    if (fk->append || fk->index || in_headers ||
        (fk->n == 1 && in_list(last, array_fields)) ||
        (old != NULL && json_is_array(old))) {
        arr = old;
        if (arr == NULL) {
            arr = json_array();
            if (json_object_set_new(cur, last, arr) != 0)
                goto fail;
        } else if (!json_is_array(arr))
            goto fail;
        if (fk->index == 0)
            return json_array_append_new(arr, v) == 0 ? 0 : -ENOMEM;
        while (json_array_size(arr) < (size_t)fk->index)
            json_array_append_new(arr, json_null());
        return json_array_set_new(arr, (size_t)fk->index - 1, v) == 0
                   ? 0
                   : -ENOMEM;
    }
    if (old != NULL) { /* a repeated key: an array of both */
        arr = json_pack("[O,o]", old, v);
        return arr && json_object_set_new(cur, last, arr) == 0 ? 0
                                                               : -ENOMEM;
    }
    return json_object_set_new(cur, last, v) == 0 ? 0 : -ENOMEM;
fail:
    json_decref(v);
    return -EINVAL;
}

/* One "key=value" pair of @n bytes at @p into @root. */
static int add_pair(json_t *root, const char *p, size_t n)
{
    const char *eq = memchr(p, '=', n);
    size_t kl = eq ? (size_t)(eq - p) : n;
    char *k = unescape(p, kl);
    char *v = unescape(eq ? eq + 1 : "", eq ? n - kl - 1 : 0);
    struct form_key fk;
    json_t *val;
    int rv = -ENOMEM;

    if (k == NULL || v == NULL)
        goto out;
    rv = split_key(k, &fk);
    if (rv != 0)
        goto out;
    val = typed(fk.seg[fk.n - 1], fk.n > 1 && strcmp(fk.seg[0], "config")
                                                  == 0, v);
    rv = val ? put_value(root, &fk, val) : -ENOMEM;
out:
    rg_free(k);
    rg_free(v);
    return rv;
}

json_t *rg_admin__form_parse(const char *body, size_t len, char *err,
                             size_t cap)
{
    json_t *root = json_object();
    size_t i = 0;

    while (root != NULL && i < len) {
        const char *amp = memchr(body + i, '&', len - i);
        size_t n = amp ? (size_t)(amp - (body + i)) : len - i;

        if (n > 0 && add_pair(root, body + i, n) != 0) {
            snprintf(err, cap, "cannot parse form field '%.*s'",
                     (int)(n > 64 ? 64 : n), body + i);
            json_decref(root);
            return NULL;
        }
        i += n + 1;
    }
    if (root == NULL)
        snprintf(err, cap, "out of memory");
    return root;
}
