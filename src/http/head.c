/* Message head storage and hop-by-hop marking. */
#include "http/head.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"

void rg_head_init(struct rg_head *h, uint32_t max)
{
    memset(h, 0, sizeof(*h));
    h->max = max;
}

void rg_head_release(struct rg_head *h)
{
    uint32_t max = h->max;

    rg_free(h->buf);
    rg_free(h->fields);
    rg_head_init(h, max);
}

void rg_head_clear(struct rg_head *h, uint32_t keep)
{
    if ((uint64_t)h->cap + (uint64_t)h->fields_cap * sizeof(*h->fields) >
        keep) {
        rg_head_release(h);
        return;
    }
    h->len = h->used = 0;
    h->in = NULL;
    h->in_len = 0;
    h->url_off = h->url_len = 0;
    h->url_in = 0;
    h->n_fields = 0;
    h->in_value = 0;
}

void rg_head_set_input(struct rg_head *h, const char *p, size_t n)
{
    h->in = p;
    h->in_len = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* Copy @n bytes to the end of the owned buffer. */
static int head_append(struct rg_head *h, const char *p, size_t n)
{
    uint32_t need;
    char *nb;

    if (n > h->max || h->len + n > h->max)
        return -E2BIG;
    need = h->len + (uint32_t)n;
    if (need > h->cap) {
        uint32_t cap = h->cap ? h->cap : 512;

        while (cap < need)
            cap *= 2;
        if (cap > h->max)
            cap = h->max;
        nb = rg_realloc(h->buf, cap);
        if (nb == NULL)
            return -ENOMEM;
        h->buf = nb;
        h->cap = cap;
    }
    memcpy(h->buf + h->len, p, n);
    h->len = need;
    return 0;
}

/* Whether @n bytes at @p lie inside the declared input (pointers into
 * other objects compare as keep_pending's do in http/conn.c). */
static int in_input(const struct rg_head *h, const char *p, size_t n)
{
    return h->in != NULL && p >= h->in && n <= h->in_len &&
           (size_t)(p - h->in) <= h->in_len - n;
}

/* Grow span (@off, @len, @in) by @n bytes at @p: a slice while it starts or
 * goes on in place inside the input, else a copy (a slice that must go on
 * elsewhere is copied first). The growing span is always the head's
 * latest, so a copied one ends the owned buffer. */
static int span_add(struct rg_head *h, uint32_t *off, uint32_t *len,
                    uint8_t *in, const char *p, size_t n)
{
    int rv;

    if (n == 0)
        return 0; /* memcpy from or to NULL is undefined even for 0 bytes */
    if (n > h->max || h->used + n > h->max)
        return -E2BIG;
    if (in_input(h, p, n)) {
        if (*len == 0) {
            *in = 1;
            *off = (uint32_t)(p - h->in);
        }
        if (*in && h->in + *off + *len == p) {
            *len += (uint32_t)n;
            h->used += (uint32_t)n;
            return 0;
        }
    }
    if (*len == 0) {
        *in = 0;
        *off = h->len;
    } else if (*in) {
        rv = head_append(h, h->in + *off, *len);
        if (rv != 0)
            return rv;
        *in = 0;
        *off = h->len - *len;
    }
    rv = head_append(h, p, n);
    if (rv != 0)
        return rv;
    *len += (uint32_t)n;
    h->used += (uint32_t)n;
    return 0;
}

int rg_head_add_url(struct rg_head *h, const char *p, size_t n)
{
    return span_add(h, &h->url_off, &h->url_len, &h->url_in, p, n);
}

static int head_new_field(struct rg_head *h)
{
    struct rg_field *nf;

    if (h->n_fields == RG_HEAD_MAX_FIELDS)
        return -E2BIG;
    if (h->n_fields == h->fields_cap) {
        uint32_t cap = h->fields_cap ? h->fields_cap * 2 : 16;

        nf = rg_realloc(h->fields, cap * sizeof(*nf));
        if (nf == NULL)
            return -ENOMEM;
        h->fields = nf;
        h->fields_cap = cap;
    }
    nf = &h->fields[h->n_fields++];
    memset(nf, 0, sizeof(*nf));
    h->in_value = 0;
    return 0;
}

int rg_head_add_name(struct rg_head *h, const char *p, size_t n)
{
    struct rg_field *f;
    int rv;

    if (h->n_fields == 0 || h->in_value) {
        rv = head_new_field(h);
        if (rv != 0)
            return rv;
    }
    f = &h->fields[h->n_fields - 1];
    return span_add(h, &f->name_off, &f->name_len, &f->name_in, p, n);
}

int rg_head_add_value(struct rg_head *h, const char *p, size_t n)
{
    struct rg_field *f;

    /* llhttp 8 passes obs-fold (RFC 9112 §5.2) through as CRLF inside the
     * value even in strict mode; a proxy must not forward it. */
    if (h->n_fields == 0 || memchr(p, '\r', n) || memchr(p, '\n', n))
        return -EINVAL;
    f = &h->fields[h->n_fields - 1];
    h->in_value = 1;
    return span_add(h, &f->value_off, &f->value_len, &f->value_in, p, n);
}

void rg_head_end_value(struct rg_head *h)
{
    struct rg_field *f;
    const char *v;

    if (h->n_fields == 0)
        return;
    f = &h->fields[h->n_fields - 1];
    h->in_value = 1;
    v = rg_field_value(h, f);
    while (f->value_len > 0 && (v[f->value_len - 1] == ' ' ||
                                v[f->value_len - 1] == '\t'))
        f->value_len--;
}

const struct rg_field *rg_head_find(const struct rg_head *h, const char *name)
{
    size_t n = strlen(name);

    for (uint32_t i = 0; i < h->n_fields; i++) {
        const struct rg_field *f = &h->fields[i];

        if (f->name_len == n && strncasecmp(rg_field_name(h, f), name, n) == 0)
            return f;
    }
    return NULL;
}

int rg_token_list_has(const char *list, size_t len, const char *tok)
{
    size_t tl = strlen(tok);
    size_t i = 0;

    while (i < len) {
        size_t s, e;

        while (i < len && (list[i] == ' ' || list[i] == '\t' || list[i] == ','))
            i++;
        s = i;
        while (i < len && list[i] != ',')
            i++;
        e = i;
        while (e > s && (list[e - 1] == ' ' || list[e - 1] == '\t'))
            e--;
        if (e - s == tl && strncasecmp(list + s, tok, tl) == 0)
            return 1;
    }
    return 0;
}

/* RFC 9110 §7.6.1, plus the legacy Keep-Alive and Proxy-Connection. */
static const char *const hop_names[] = {
    "connection", "keep-alive", "proxy-connection", "te", "trailer",
    "transfer-encoding", "upgrade",
};

static int is_fixed_hop(const char *p, uint32_t n)
{
    for (size_t i = 0; i < sizeof(hop_names) / sizeof(hop_names[0]); i++) {
        if (strlen(hop_names[i]) == n && strncasecmp(p, hop_names[i], n) == 0)
            return 1;
    }
    return 0;
}

static void mark_named(struct rg_head *h, const char *list, uint32_t len)
{
    for (uint32_t i = 0; i < h->n_fields; i++) {
        struct rg_field *f = &h->fields[i];
        char name[128];

        if (f->hop || f->name_len >= sizeof(name))
            continue;
        memcpy(name, rg_field_name(h, f), f->name_len);
        name[f->name_len] = '\0';
        if (rg_token_list_has(list, len, name))
            f->hop = 1;
    }
}

void rg_head_mark_hop(struct rg_head *h, int *conn_close, int *conn_upgrade)
{
    *conn_close = 0;
    *conn_upgrade = 0;
    for (uint32_t i = 0; i < h->n_fields; i++) {
        struct rg_field *f = &h->fields[i];
        const char *v = rg_field_value(h, f);

        if (!is_fixed_hop(rg_field_name(h, f), f->name_len))
            continue;
        f->hop = 1;
        if (f->name_len == 10 &&
            strncasecmp(rg_field_name(h, f), "connection", 10) == 0) {
            *conn_close |= rg_token_list_has(v, f->value_len, "close");
            *conn_upgrade |= rg_token_list_has(v, f->value_len, "upgrade");
            mark_named(h, v, f->value_len);
        }
    }
}
