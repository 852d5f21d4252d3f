/* The state machine's plain data: objects of each kind sorted by id, the
 * node registry sorted by id, and the canonical export (Kong 3.0
 * declarative JSON, sorted ids, sorted keys, compact) with its FNV-1a 64
 * hash. */
#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "raft/fsm_int.h"

#define FNV64_OFFSET 0xcbf29ce484222325ULL
#define FNV64_PRIME 0x100000001b3ULL

uint64_t rg_fsm__fnv64_more(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= FNV64_PRIME;
    }
    return h;
}

uint64_t rg_fsm__fnv64(const void *p, size_t n)
{
    return rg_fsm__fnv64_more(FNV64_OFFSET, p, n);
}

/* Bytewise order of (@a, @al) and (@b, @bl), a prefix first: strcmp's
 * order for strings without NUL. */
static int id_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);

    if (c != 0)
        return c;
    return al < bl ? -1 : al > bl;
}

size_t rg_fsm__find(const struct rg_objs *o, const char *id, size_t len,
                    int *found)
{
    size_t lo = 0, hi = o->n;

    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = id_cmp(o->v[mid].id, o->v[mid].id_len, id, len);

        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Grow *@v (@size-byte elements, *@cap of them) to hold @need: 0 or
 * -ENOMEM. */
static int grow(void **v, size_t *cap, size_t need, size_t size)
{
    size_t n = *cap ? *cap : 8;
    void *p;

    if (need <= *cap)
        return 0;
    while (n < need)
        n *= 2;
    p = rg_realloc(*v, n * size);
    if (p == NULL)
        return -ENOMEM;
    *v = p;
    *cap = n;
    return 0;
}

int rg_fsm__reserve(struct rg_objs *o, size_t extra)
{
    void *v = o->v;
    int rv = grow(&v, &o->cap, o->n + extra, sizeof(*o->v));

    o->v = v;
    return rv == 0 ? rg_fsm__keys_reserve(o, extra) : rv;
}

static void obj_set(struct rg_objs *o, struct rg_obj *ob, json_t *body,
                    uint64_t rev)
{
    const json_t *id = json_object_get(body, "id");

    ob->id = json_string_value(id);
    ob->id_len = json_string_length(id);
    ob->body = body;
    ob->rev = rev;
    rg_fsm__keys_add(o, ob);
}

void rg_fsm__insert(struct rg_objs *o, size_t i, json_t *body, uint64_t rev)
{
    memmove(&o->v[i + 1], &o->v[i], (o->n - i) * sizeof(*o->v));
    o->n++;
    obj_set(o, &o->v[i], body, rev);
}

void rg_fsm__replace(struct rg_objs *o, size_t i, json_t *body, uint64_t rev)
{
    rg_fsm__keys_del(o, &o->v[i]);
    json_decref(o->v[i].body);
    obj_set(o, &o->v[i], body, rev);
}

void rg_fsm__remove(struct rg_objs *o, size_t i)
{
    rg_fsm__keys_del(o, &o->v[i]);
    json_decref(o->v[i].body);
    memmove(&o->v[i], &o->v[i + 1], (o->n - i - 1) * sizeof(*o->v));
    o->n--;
}

void rg_fsm__store_release(struct rg_store *s)
{
    size_t k, i;

    for (k = 0; k < RG_KIND_MAX; k++) {
        for (i = 0; i < s->k[k].n; i++)
            json_decref(s->k[k].v[i].body);
        rg_free(s->k[k].v);
        rg_fsm__keys_release(&s->k[k]);
    }
    memset(s, 0, sizeof(*s));
}

static json_t *kind_array(const struct rg_objs *o)
{
    json_t *a = json_array();
    size_t i;

    if (a == NULL)
        return NULL;
    for (i = 0; i < o->n; i++) {
        if (json_array_append(a, o->v[i].body) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

json_t *rg_fsm__export_doc(const struct rg_store *s)
{
    json_t *doc = json_object();
    int k;

    if (doc == NULL ||
        json_object_set_new(doc, "_format_version", json_string("3.0")))
        goto err;
    for (k = RG_KIND_NONE + 1; k < RG_KIND_MAX; k++) {
        json_t *a = kind_array(&s->k[k]);

        if (a == NULL || json_object_set_new(doc, rg_kind_name(k), a) != 0)
            goto err;
    }
    return doc;
err:
    json_decref(doc);
    return NULL;
}

/* A growing output buffer for json_dump_callback. The error is sticky:
 * jansson 2.14 ignores a failed write of an object key and carries on, so
 * the callback's return value alone would let a corrupt dump through. */
struct out {
    char *p;
    size_t n, cap;
    int failed;
};

static int out_write(const char *buf, size_t size, void *data)
{
    struct out *o = data;
    void *p = o->p;

    /* Keep one byte for the terminating NUL. */
    if (o->failed || size >= SIZE_MAX / 2 - o->n ||
        grow(&p, &o->cap, o->n + size + 1, 1) != 0) {
        o->failed = 1;
        return -1;
    }
    o->p = p;
    memcpy(o->p + o->n, buf, size);
    o->n += size;
    return 0;
}

int rg_fsm__dump(const json_t *j, char **out, size_t *len)
{
    struct out o = {NULL, 0, 0, 0};

    if (json_dump_callback(j, out_write, &o, JSON_SORT_KEYS | JSON_COMPACT) !=
            0 ||
        o.failed || o.p == NULL) {
        rg_free(o.p);
        return -ENOMEM;
    }
    o.p[o.n] = '\0';
    *out = o.p;
    *len = o.n;
    return 0;
}

static void set_export(struct rg_fsm *f, char *out, size_t len)
{
    rg_free(f->export);
    f->export = out;
    f->export_len = len;
    f->hash = rg_fsm__fnv64(out, len);
    f->export_ok = 1;
}

void rg_fsm__export_stale(struct rg_fsm *f)
{
    rg_free(f->export);
    f->export = NULL;
    f->export_len = 0;
    f->hash = 0;
    f->export_ok = 0;
}

int rg_fsm__kind_optional(enum rg_kind k)
{
    return k == RG_KIND_UPSTREAM || k == RG_KIND_TARGET ||
           k == RG_KIND_CERTIFICATE || k == RG_KIND_SNI ||
           k == RG_KIND_CA_CERTIFICATE;
}

int rg_fsm__refresh_export(struct rg_fsm *f)
{
    json_t *doc = rg_fsm__export_doc(&f->store);
    char *out;
    size_t len;
    int rv;

    if (doc == NULL)
        return -ENOMEM;
    /* Kinds added later are left out while empty: a config without them
     * keeps the text and hash it had before they existed. */
    for (int k = RG_KIND_NONE + 1; k < RG_KIND_MAX; k++)
        if (rg_fsm__kind_optional((enum rg_kind)k) && f->store.k[k].n == 0)
            json_object_del(doc, rg_kind_name((enum rg_kind)k));
    rv = rg_fsm__dump(doc, &out, &len);
    json_decref(doc);
    if (rv == 0)
        set_export(f, out, len);
    return rv;
}

int rg_fsm__export_cached(struct rg_fsm *f)
{
    return f->export_ok ? 0 : rg_fsm__refresh_export(f);
}

size_t rg_fsm__node_find(const struct rg_nodes *s, uint64_t id, int *found)
{
    size_t lo = 0, hi = s->n;

    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (s->v[mid].id == id) {
            *found = 1;
            return mid;
        }
        if (s->v[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int rg_fsm__node_reserve(struct rg_nodes *s)
{
    void *v = s->v;
    int rv = grow(&v, &s->cap, s->n + 1, sizeof(*s->v));

    s->v = v;
    return rv;
}

void rg_fsm__node_put(struct rg_nodes *s, size_t i, int found, uint64_t id,
                      json_t *rec)
{
    if (found) {
        json_decref(s->v[i].rec);
    } else {
        memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*s->v));
        s->n++;
    }
    s->v[i].id = id;
    s->v[i].rec = rec;
}

void rg_fsm__node_remove(struct rg_nodes *s, size_t i)
{
    json_decref(s->v[i].rec);
    memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
    s->n--;
}

void rg_fsm__nodes_release(struct rg_nodes *s)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        json_decref(s->v[i].rec);
    rg_free(s->v);
    memset(s, 0, sizeof(*s));
}
