/* The link index: for each of the validator's rules across objects
 * (core/xref.h), the values the objects of its kind hold, so that
 * raft/fsm_near.c finds the objects a change is linked to in O(log n)
 * rather than by a scan. A key is the hash of a value's text without ASCII
 * case and the id of its object; keys sort by (hash, id), in a sorted
 * array per rule, as the objects themselves do (memmove on insert). A hash
 * only points at candidates: the caller compares the values. */
#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "core/rgassert.h"
#include "raft/fsm_int.h"

#define FNV64_OFFSET 0xcbf29ce484222325ULL
#define FNV64_PRIME 0x100000001b3ULL

int rg_fsm__text(const json_t *v, char *buf, size_t cap, const char **s,
                 size_t *len)
{
    size_t n;

    if (json_is_string(v)) {
        *s = json_string_value(v);
        *len = json_string_length(v);
        return 1;
    }
    if (v == NULL || json_is_object(v) || json_is_array(v))
        return 0;
    n = json_dumpb(v, buf, cap, JSON_ENCODE_ANY);
    if (n == 0 || n > cap)
        return 0;
    *s = buf;
    *len = n;
    return 1;
}

size_t rg_fsm__ref_parts(const struct rg_xref *l, const json_t *ref,
                         const json_t *part[2])
{
    size_t n = 0;

    if (!json_is_object(ref)) {
        part[n++] = ref;
        return n;
    }
    if ((part[n] = json_object_get(ref, "id")) != NULL)
        n++;
    if (l->by != NULL && (part[n] = json_object_get(ref, l->by)) != NULL)
        n++;
    return n;
}

/* The hash of @v's text without ASCII case; 0 when it has none. */
static int hash_of(const json_t *v, uint64_t *h)
{
    char buf[64];
    const char *s;
    size_t len;

    if (!rg_fsm__text(v, buf, sizeof(buf), &s, &len))
        return 0;
    *h = FNV64_OFFSET;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        *h ^= c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
        *h *= FNV64_PRIME;
    }
    return 1;
}

/* The values @body holds for rule @l: at most two. */
static size_t values(const struct rg_xref *l, const json_t *body,
                     const json_t *v[2])
{
    const json_t *field = json_object_get(body, l->field);

    if (field == NULL)
        return 0;
    if (l->type == RG_XREF_REF)
        return rg_fsm__ref_parts(l, field, v);
    v[0] = field;
    return 1;
}

static int key_cmp(uint64_t h, const char *id, size_t len,
                   const struct rg_xkey *k)
{
    int c;

    if (h != k->h)
        return h < k->h ? -1 : 1;
    if (id == NULL)
        return -1; /* before every key with this hash */
    c = memcmp(id, k->id, len < k->id_len ? len : k->id_len);
    if (c != 0)
        return c;
    return len < k->id_len ? -1 : len > k->id_len;
}

static size_t lower(const struct rg_xkeys *ks, uint64_t h, const char *id,
                    size_t len)
{
    size_t lo = 0, hi = ks->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (key_cmp(h, id, len, &ks->v[mid]) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int on_kind(const struct rg_objs *o, size_t x)
{
    return rg_kind_from_name(o->xrefs[x].kind, strlen(o->xrefs[x].kind)) ==
           o->kind;
}

static void key_add(struct rg_xkeys *ks, uint64_t h, const struct rg_obj *ob)
{
    size_t at = lower(ks, h, ob->id, ob->id_len);

    RG_ASSERT(ks->n < ks->cap); /* rg_fsm__keys_reserve made room */
    memmove(&ks->v[at + 1], &ks->v[at], (ks->n - at) * sizeof(*ks->v));
    ks->v[at].h = h;
    ks->v[at].id = ob->id;
    ks->v[at].id_len = ob->id_len;
    ks->n++;
}

static void key_del(struct rg_xkeys *ks, uint64_t h, const struct rg_obj *ob)
{
    size_t at = lower(ks, h, ob->id, ob->id_len);

    RG_ASSERT(at < ks->n && key_cmp(h, ob->id, ob->id_len, &ks->v[at]) == 0);
    memmove(&ks->v[at], &ks->v[at + 1], (ks->n - at - 1) * sizeof(*ks->v));
    ks->n--;
}

/* Call @fn with each key of @ob, in the keys of its rule. */
static void each_key(struct rg_objs *o, const struct rg_obj *ob,
                     void (*fn)(struct rg_xkeys *ks, uint64_t h,
                                const struct rg_obj *ob))
{
    for (size_t x = 0; x < o->n_xrefs; x++) {
        const json_t *v[2];
        size_t n = on_kind(o, x) ? values(&o->xrefs[x], ob->body, v) : 0;
        uint64_t h;

        for (size_t j = 0; j < n; j++)
            if (hash_of(v[j], &h))
                fn(&o->keys[x], h, ob);
    }
}

int rg_fsm__irregular(const struct rg_xref *x, size_t n, const json_t *body)
{
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_object_get(body, x[i].field);

        if (x[i].type == RG_XREF_REF && v != NULL && !json_is_object(v))
            return 1; /* possibly bare: only the whole knows which it names */
        if (json_array_size(json_object_get(body, x[i].kind)) > 0)
            return 1; /* a nested list ("plugins" of a service, or a
                         consumer's "keyauth_credentials", a kind only
                         nested in the store) */
    }
    return 0;
}

void rg_fsm__keys_add(struct rg_objs *o, const struct rg_obj *ob)
{
    o->irregular += rg_fsm__irregular(o->xrefs, o->n_xrefs, ob->body);
    each_key(o, ob, key_add);
}

void rg_fsm__keys_del(struct rg_objs *o, const struct rg_obj *ob)
{
    o->irregular -= rg_fsm__irregular(o->xrefs, o->n_xrefs, ob->body);
    each_key(o, ob, key_del);
}

int rg_fsm__keys_reserve(struct rg_objs *o, size_t extra)
{
    for (size_t x = 0; x < o->n_xrefs; x++) {
        struct rg_xkeys *ks = &o->keys[x];
        size_t need = ks->n + 2 * extra, cap = ks->cap ? ks->cap : 8;
        void *p;

        if (need <= ks->cap || !on_kind(o, x))
            continue;
        while (cap < need)
            cap *= 2;
        p = rg_realloc(ks->v, cap * sizeof(*ks->v));
        if (p == NULL)
            return -ENOMEM;
        ks->v = p;
        ks->cap = cap;
    }
    return 0;
}

void rg_fsm__keys_release(struct rg_objs *o)
{
    for (size_t x = 0; x < o->n_xrefs && o->keys != NULL; x++)
        rg_free(o->keys[x].v);
    rg_free(o->keys);
    o->keys = NULL;
    o->xrefs = NULL;
    o->n_xrefs = 0;
}

int rg_fsm__keys_init(struct rg_store *s, const struct rg_xref *x, size_t n)
{
    for (int k = RG_KIND_NONE + 1; k < RG_KIND_MAX; k++) {
        struct rg_objs *o = &s->k[k];

        rg_fsm__keys_release(o);
        o->kind = (enum rg_kind)k;
        o->irregular = 0;
        if (x == NULL)
            continue;
        o->keys = rg_calloc(n, sizeof(*o->keys));
        if (o->keys == NULL)
            goto nomem;
        o->xrefs = x;
        o->n_xrefs = n;
        if (rg_fsm__keys_reserve(o, o->n) != 0)
            goto nomem;
        for (size_t i = 0; i < o->n; i++)
            rg_fsm__keys_add(o, &o->v[i]);
    }
    return 0;
nomem:
    for (int k = RG_KIND_NONE + 1; k < RG_KIND_MAX; k++)
        rg_fsm__keys_release(&s->k[k]);
    return -ENOMEM;
}

void rg_fsm__keys_each(const struct rg_objs *o, size_t x, const json_t *v,
                       void (*fn)(void *arg, size_t i), void *arg)
{
    const struct rg_xkeys *ks = &o->keys[x];
    uint64_t h;
    size_t j;
    int found;

    if (!hash_of(v, &h))
        return;
    for (j = lower(ks, h, NULL, 0); j < ks->n && ks->v[j].h == h; j++) {
        size_t i = rg_fsm__find(o, ks->v[j].id, ks->v[j].id_len, &found);

        if (found)
            fn(arg, i);
    }
}
