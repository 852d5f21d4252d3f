/* The replicated state machine: apply (decode an entry, run each command
 * through the request-id table, record it in the applied ring) and the
 * five commands. A config-changing command checked on its own builds the
 * would-be export, runs the validator on it and only then touches the
 * store, so a rejected command leaves the state as it was.
 *
 * Entries with several config commands are validated once (a dry run):
 * the commands are applied to the store with the validator assumed to
 * accept, the final store is dumped and validated, and the dry run is
 * undone. If the final store is valid, the commands run for real without
 * per-command validation (each gets the result the dry run gave it);
 * otherwise they run checked one by one, as a single command would. So a
 * big entry costs one export and one validation, not one per command.
 *
 * Nothing here reads a clock or a random source: the same entries give
 * the same state on every replica. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "raft/fsm_int.h"

/* Fill @r with @st, the current revision and a message; returns 0 so that
 * command handlers can `return status(...)`. */
static int status(const struct rg_fsm *f, struct rg_fsm_result *r,
                  enum rg_fsm_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int status(const struct rg_fsm *f, struct rg_fsm_result *r,
                  enum rg_fsm_status st, const char *fmt, ...)
{
    va_list ap;

    r->status = st;
    r->revision = f->revision;
    r->message[0] = '\0';
    if (fmt != NULL) {
        va_start(ap, fmt);
        vsnprintf(r->message, sizeof(r->message), fmt, ap);
        va_end(ap);
    }
    return 0;
}

static int cas_fail(const struct rg_fsm *f, struct rg_fsm_result *r, int exists,
                    uint64_t have, uint64_t want)
{
    if (!exists)
        return status(f, r, RG_FSM_CONFLICT,
                      "expected revision %llu, object does not exist",
                      (unsigned long long)want);
    return status(f, r, RG_FSM_CONFLICT,
                  "expected revision %llu, object is at %llu",
                  (unsigned long long)want, (unsigned long long)have);
}

static int kind_ok(unsigned kind)
{
    return kind > RG_KIND_NONE && kind < RG_KIND_MAX;
}

/* Request ids are printable ASCII (they reach JSON, logs and headers). */
static int rid_ok(const char *rid, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if (rid[i] < 0x20 || rid[i] > 0x7e)
            return 0;
    return 1;
}

/* Parse a command body that must be a JSON object: NULL with @r INVALID
 * otherwise. Duplicate keys are refused (which one wins is not JSON). */
static json_t *parse_object(const struct rg_fsm *f, const struct rg_cmd *c,
                            struct rg_fsm_result *r)
{
    json_error_t je;
    json_t *j = json_loadb(c->body, c->body_len, JSON_REJECT_DUPLICATES, &je);

    if (j == NULL) {
        status(f, r, RG_FSM_INVALID, "body: %s (line %d, column %d)", je.text,
               je.line, je.column);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        status(f, r, RG_FSM_INVALID, "body: not a JSON object");
        return NULL;
    }
    return j;
}

/* Run the validator on @doc (the would-be config; reference taken): 0, 1
 * with @r INVALID, or -ENOMEM. */
static int propose(struct rg_fsm *f, json_t *doc, struct rg_fsm_result *r)
{
    char err[sizeof(r->message)] = "";
    int bad;

    if (doc == NULL)
        return -ENOMEM;
    bad = f->validate(f->arg, doc, err, sizeof(err));
    json_decref(doc);
    if (!bad)
        return 0;
    err[sizeof(err) - 1] = '\0';
    status(f, r, RG_FSM_INVALID, "%s",
           err[0] ? err : "rejected by the config validator");
    return 1;
}

/* How a command runs: checked (the validator on its own would-be export)
 * or not (the validator assumed to accept: an entry's dry run, or a real
 * run after the dry run's final store validated). A dry run records how
 * to undo each change in @log. */
struct undo {
    const struct rg_cmd *c; /* PUT/DELETE: the key and kind */
    json_t *body;           /* the object before (one reference) or NULL */
    uint64_t rev;
    int whole; /* REPLACE_ALL: @store is the store before */
    struct rg_store store;
};

struct how {
    int check;
    struct undo *log; /* NULL: no dry run */
    unsigned n_log;
};

static struct undo *undo_next(struct how *h)
{
    struct undo *u = h->log != NULL ? &h->log[h->n_log++] : NULL;

    if (u != NULL)
        memset(u, 0, sizeof(*u));
    return u;
}

/* Run the validator on @doc (reference taken) when @h says so. */
static int check_doc(struct rg_fsm *f, const struct how *h, json_t *doc,
                     struct rg_fsm_result *r)
{
    if (!h->check || f->validate == NULL) {
        json_decref(doc);
        return 0;
    }
    return propose(f, doc, r);
}

/* The body a PUT stores: the command's object with "id" set to the key.
 * NULL with @r filled when refused, or with -ENOMEM in *@rv. */
static json_t *put_body(const struct rg_fsm *f, const struct rg_cmd *c,
                        struct rg_fsm_result *r, int *rv)
{
    json_t *body, *id;

    *rv = 0;
    body = parse_object(f, c, r);
    if (body == NULL)
        return NULL;
    /* json_stringn refuses text that is not UTF-8. */
    if (c->key_len == 0 || memchr(c->key, '\0', c->key_len) != NULL ||
        (id = json_stringn(c->key, c->key_len)) == NULL) {
        json_decref(body);
        status(f, r, RG_FSM_INVALID, "id: must be UTF-8 text without NUL");
        return NULL;
    }
    if (json_object_set_new(body, "id", id) != 0) {
        json_decref(body);
        *rv = -ENOMEM;
        return NULL;
    }
    if (rg_fsm__nested_of(c->kind) == NULL ||
        !json_object_get(body, rg_fsm__nested_of(c->kind)))
        return body;
    status(f, r, RG_FSM_INVALID, c->kind == RG_KIND_SERVICE
               ? "routes: nested routes only in a whole config"
               : "targets: nested targets only in a whole config");
    json_decref(body);
    return NULL;
}

/* The would-be export of the store with @body put at @i of kind @k
 * (replacing when @found), or NULL on ENOMEM. */
static json_t *doc_with(const struct rg_fsm *f, enum rg_kind k, size_t i,
                        int found, json_t *body)
{
    json_t *doc = rg_fsm__export_doc(&f->store);
    json_t *a = json_object_get(doc, rg_kind_name(k));
    int rv;

    if (doc == NULL)
        return NULL;
    if (body == NULL)
        rv = json_array_remove(a, i);
    else if (found)
        rv = json_array_set(a, i, body);
    else
        rv = json_array_insert(a, i, body);
    if (rv != 0) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* Can a change to @body be checked in its neighbourhood: the rules are
 * known, and neither @body nor a stored object is irregular? */
static int near_ok(const struct rg_fsm *f, const json_t *body)
{
    if (f->xrefs == NULL || f->whole ||
        (body != NULL && rg_fsm__irregular(f->xrefs, f->n_xrefs, body)))
        return 0;
    for (int k = RG_KIND_NONE + 1; k < RG_KIND_MAX; k++)
        if (f->store.k[k].irregular > 0)
            return 0;
    return 1;
}

/* The document a change is validated on: its neighbourhood when it can
 * be, else the whole would-be export. */
static json_t *doc_for(const struct rg_fsm *f, enum rg_kind k, size_t i,
                       int found, json_t *body)
{
    if (near_ok(f, body))
        return rg_fsm__near_doc(f, k, i, found, body);
    return doc_with(f, k, i, found, body);
}

static int cmd_put(struct rg_fsm *f, const struct rg_cmd *c,
                   struct rg_fsm_result *r, struct how *h)
{
    struct rg_objs *o = &f->store.k[kind_ok(c->kind) ? c->kind : 0];
    struct undo *u;
    json_t *body;
    size_t i;
    int found, rv;

    if (!kind_ok(c->kind))
        return status(f, r, RG_FSM_INVALID, "unknown kind %u", c->kind);
    i = rg_fsm__find(o, c->key, c->key_len, &found);
    if (c->if_rev != 0 && (!found || o->v[i].rev != c->if_rev))
        return cas_fail(f, r, found, found ? o->v[i].rev : 0, c->if_rev);
    body = put_body(f, c, r, &rv);
    if (body == NULL)
        return rv;
    rv = rg_fsm__reserve(o, 1);
    if (rv == 0 && h->check && f->validate != NULL)
        rv = check_doc(f, h, doc_for(f, c->kind, i, found, body), r);
    if (rv != 0)
        goto out;
    if ((u = undo_next(h)) != NULL) {
        u->c = c;
        u->body = found ? json_incref(o->v[i].body) : NULL;
        u->rev = found ? o->v[i].rev : 0;
    }
    f->revision++;
    if (found)
        rg_fsm__replace(o, i, json_incref(body), f->revision);
    else
        rg_fsm__insert(o, i, json_incref(body), f->revision);
    rg_fsm__export_stale(f);
    status(f, r, RG_FSM_OK, NULL);
out:
    json_decref(body);
    return rv < 0 ? rv : 0;
}

static int cmd_delete(struct rg_fsm *f, const struct rg_cmd *c,
                      struct rg_fsm_result *r, struct how *h)
{
    struct rg_objs *o = &f->store.k[kind_ok(c->kind) ? c->kind : 0];
    struct undo *u;
    size_t i;
    int found, rv;

    if (!kind_ok(c->kind))
        return status(f, r, RG_FSM_INVALID, "unknown kind %u", c->kind);
    i = rg_fsm__find(o, c->key, c->key_len, &found);
    if (c->if_rev != 0 && (!found || o->v[i].rev != c->if_rev))
        return cas_fail(f, r, found, found ? o->v[i].rev : 0, c->if_rev);
    if (!found)
        return status(f, r, RG_FSM_NOT_FOUND, NULL);
    /* Build the would-be export only when it is checked. */
    rv = check_doc(f, h,
                   h->check && f->validate != NULL
                       ? doc_for(f, c->kind, i, 1, NULL)
                       : NULL,
                   r);
    if (rv != 0)
        return rv < 0 ? rv : 0;
    if ((u = undo_next(h)) != NULL) {
        u->c = c;
        u->body = json_incref(o->v[i].body);
        u->rev = o->v[i].rev;
    }
    f->revision++;
    rg_fsm__remove(o, i);
    rg_fsm__export_stale(f);
    return status(f, r, RG_FSM_OK, NULL);
}

static int cmd_replace_all(struct rg_fsm *f, const struct rg_cmd *c,
                           struct rg_fsm_result *r, struct how *h)
{
    struct rg_store next;
    char err[sizeof(r->message)] = "";
    struct undo *u;
    json_error_t je;
    json_t *doc;
    int rv;

    if (c->if_rev != 0 && c->if_rev != f->revision)
        return status(
            f, r, RG_FSM_CONFLICT, "expected revision %llu, config is at %llu",
            (unsigned long long)c->if_rev, (unsigned long long)f->revision);
    doc = json_loadb(c->body, c->body_len, JSON_REJECT_DUPLICATES, &je);
    if (doc == NULL)
        return status(f, r, RG_FSM_INVALID,
                      "config: %s (line %d, "
                      "column %d)",
                      je.text, je.line, je.column);
    memset(&next, 0, sizeof(next));
    rv = rg_fsm__decl_build(doc, &f->store, f->revision + 1, &next, err,
                            sizeof(err));
    json_decref(doc);
    if (rv > 0)
        return status(f, r, RG_FSM_INVALID, "%s", err);
    if (rv == 0 && h->check && f->validate != NULL)
        rv = check_doc(f, h, rg_fsm__export_doc(&next), r);
    if (rv != 0) {
        rg_fsm__store_release(&next);
        return rv < 0 ? rv : 0;
    }
    if ((u = undo_next(h)) != NULL) {
        u->whole = 1;
        u->store = f->store;
    } else {
        rg_fsm__store_release(&f->store);
    }
    f->store = next;
    f->revision++;
    rg_fsm__export_stale(f);
    return status(f, r, RG_FSM_OK, NULL);
}

/* A node id: decimal, no sign or leading zero, 1 to 2^63-1 (it is stored
 * as a JSON integer). */
static int node_id(const struct rg_cmd *c, uint64_t *id)
{
    uint64_t v = 0;
    size_t i;

    if (c->key_len == 0 || c->key_len > 19 || c->key[0] == '0')
        return -EINVAL;
    for (i = 0; i < c->key_len; i++) {
        if (c->key[i] < '0' || c->key[i] > '9')
            return -EINVAL;
        v = v * 10 + (uint64_t)(c->key[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return -EINVAL;
    *id = v;
    return 0;
}

static int cmd_node_set(struct rg_fsm *f, const struct rg_cmd *c,
                        struct rg_fsm_result *r)
{
    json_t *rec;
    uint64_t id;
    size_t i;
    int found;

    if (node_id(c, &id) != 0)
        return status(f, r, RG_FSM_INVALID,
                      "node id: must be an integer "
                      "from 1 to 2^63-1");
    rec = parse_object(f, c, r);
    if (rec == NULL)
        return 0;
    if (json_object_set_new(rec, "id", json_integer((json_int_t)id)) != 0 ||
        rg_fsm__node_reserve(&f->nodes) != 0) {
        json_decref(rec);
        return -ENOMEM;
    }
    i = rg_fsm__node_find(&f->nodes, id, &found);
    rg_fsm__node_put(&f->nodes, i, found, id, rec);
    return status(f, r, RG_FSM_OK, NULL);
}

static int cmd_node_del(struct rg_fsm *f, const struct rg_cmd *c,
                        struct rg_fsm_result *r)
{
    uint64_t id;
    size_t i = 0;
    int found = 0;

    if (node_id(c, &id) == 0)
        i = rg_fsm__node_find(&f->nodes, id, &found);
    if (!found)
        return status(f, r, RG_FSM_NOT_FOUND, NULL);
    rg_fsm__node_remove(&f->nodes, i);
    return status(f, r, RG_FSM_OK, NULL);
}

static int cmd_cache_purge(struct rg_fsm *f, const struct rg_cmd *c,
                           struct rg_fsm_result *r)
{
    int ok = c->key_len == 0 || c->key_len == 16;

    for (unsigned i = 0; ok && i < c->key_len; i++)
        ok = (c->key[i] >= '0' && c->key[i] <= '9') ||
             (c->key[i] >= 'a' && c->key[i] <= 'f') ||
             (c->key[i] >= 'A' && c->key[i] <= 'F');
    if (!ok || c->body_len != 0)
        return status(f, r, RG_FSM_INVALID,
                      "cache purge: the key must be empty or 16 hex "
                      "digits, with no body");
    if (f->on_purge != NULL)
        f->on_purge(f->purge_arg, c->key, c->key_len);
    return status(f, r, RG_FSM_OK, NULL);
}

void rg_fsm_on_purge(struct rg_fsm *f, rg_fsm_purge_fn fn, void *arg)
{
    f->on_purge = fn;
    f->purge_arg = arg;
}

/* Run @c: 0 with @r filled, or -ENOMEM with the state unchanged. */
static int run(struct rg_fsm *f, const struct rg_cmd *c,
               struct rg_fsm_result *r, struct how *h)
{
    switch (c->type) {
    case RG_CMD_PUT:
        return cmd_put(f, c, r, h);
    case RG_CMD_DELETE:
        return cmd_delete(f, c, r, h);
    case RG_CMD_REPLACE_ALL:
        return cmd_replace_all(f, c, r, h);
    case RG_CMD_NODE_SET:
        return cmd_node_set(f, c, r);
    case RG_CMD_NODE_DEL:
        return cmd_node_del(f, c, r);
    case RG_CMD_CACHE_PURGE:
        return cmd_cache_purge(f, c, r);
    default: /* the codec lets no other type through */
        return status(f, r, RG_FSM_INVALID, "unknown command type %u", c->type);
    }
}

static void record(struct rg_fsm *f, uint64_t index, uint64_t term,
                   const struct rg_cmd *c, enum rg_fsm_status st)
{
    struct rg_fsm_applied a;

    memset(&a, 0, sizeof(a));
    a.index = index;
    a.term = term;
    a.revision = f->revision;
    a.status = st;
    if (c != NULL) {
        a.type = c->type;
        a.kind = c->kind;
        /* A refused id is not kept: the ring holds printable text only. */
        if (rid_ok(c->rid, c->rid_len))
            memcpy(a.rid, c->rid, c->rid_len);
    }
    /* Out of memory only loses a debugging record. */
    (void)rg_fsm__ring_add(&f->ring, &a);
}

/* The request-id table's key for @c: its request id together with a digest
 * of what it does, so a retry of the same command is found (and not
 * applied twice) while a different command that reuses an id (a client
 * recycling X-Request-Id for tracing) is applied as the new command it is.
 * Layout: 16 hex digits of the id's FNV-1a 64, 16 of the command's, ':',
 * then up to 31 bytes of the id for reading; at most RG_CODEC_MAX_RID bytes,
 * printable. Returns the length. */
static size_t dd_key(const struct rg_cmd *c, char out[RG_CODEC_MAX_RID + 1])
{
    uint64_t h = 0xcbf29ce484222325ULL;
    unsigned char fixed[10];
    size_t n;

    fixed[0] = c->type;
    fixed[1] = c->kind;
    for (int i = 0; i < 8; i++)
        fixed[2 + i] = (unsigned char)(c->if_rev >> (8 * i));
    h = rg_fsm__fnv64_more(h, fixed, sizeof(fixed));
    h = rg_fsm__fnv64_more(h, &c->key_len, sizeof(c->key_len));
    h = rg_fsm__fnv64_more(h, c->key, c->key_len);
    h = rg_fsm__fnv64_more(h, c->body, c->body_len);
    n = c->rid_len > 31 ? 31 : c->rid_len;
    snprintf(out, RG_CODEC_MAX_RID + 1, "%016llx%016llx:%.*s",
             (unsigned long long)rg_fsm__fnv64(c->rid, c->rid_len),
             (unsigned long long)h, (int)n, c->rid);
    return 33 + n;
}

static void apply_one(struct rg_fsm *f, uint64_t index, uint64_t term,
                      const struct rg_cmd *c, struct rg_fsm_result *r,
                      struct how *h)
{
    char key[RG_CODEC_MAX_RID + 1];
    size_t kl = 0;

    memset(r, 0, sizeof(*r));
    if (c->rid_len > 0 && rid_ok(c->rid, c->rid_len))
        kl = dd_key(c, key);
    if (!rid_ok(c->rid, c->rid_len)) {
        status(f, r, RG_FSM_INVALID, "request id: printable ASCII only");
    } else if (c->rid_len > 0 && rg_fsm__dd_lookup(&f->dd, key, kl, r)) {
        r->duplicate = 1;
    } else if (run(f, c, r, h) != 0) {
        /* Nothing changed; the id is not remembered so that a retry can
         * still apply. This replica may now differ from the others:
         * running out of memory in apply has no deterministic answer. */
        status(f, r, RG_FSM_INVALID, "out of memory");
    } else if (c->rid_len > 0) {
        (void)rg_fsm__dd_add(&f->dd, key, kl, r);
    }
    record(f, index, term, c, r->status);
}

/* ---- Validating an entry once ---- */

static int is_config(const struct rg_cmd *c)
{
    return c->type == RG_CMD_PUT || c->type == RG_CMD_DELETE ||
           c->type == RG_CMD_REPLACE_ALL;
}

/* Undo a dry run's changes, newest first. Never fails: every object put
 * back had its slot before (arrays never shrink). */
static void undo_all(struct rg_fsm *f, struct undo *log, unsigned n)
{
    struct rg_objs *o;
    struct undo *u;
    size_t i;
    int found;

    while (n-- > 0) {
        u = &log[n];
        if (u->whole) {
            rg_fsm__store_release(&f->store);
            f->store = u->store;
            continue;
        }
        o = &f->store.k[u->c->kind];
        i = rg_fsm__find(o, u->c->key, u->c->key_len, &found);
        if (u->body == NULL)
            rg_fsm__remove(o, i); /* it was created: found */
        else if (found)
            rg_fsm__replace(o, i, u->body, u->rev);
        else
            rg_fsm__insert(o, i, u->body, u->rev);
    }
}

/* The request ids an entry's commands remember, as the real run will: an
 * open-addressed set of command indexes (@cap a power of two). */
struct rids {
    const struct rg_cmd *cmds;
    unsigned *slot; /* index + 1, 0 empty */
    size_t cap;
    size_t adds; /* ids added to the table so far */
    size_t room; /* adds before the table starts evicting */
};

static size_t rid_hash(const struct rg_cmd *c)
{
    char key[RG_CODEC_MAX_RID + 1];
    size_t n = dd_key(c, key);

    return (size_t)rg_fsm__fnv64(key, n);
}

static int rid_eq(const struct rg_cmd *a, const struct rg_cmd *b)
{
    char ka[RG_CODEC_MAX_RID + 1], kb[RG_CODEC_MAX_RID + 1];
    size_t na = dd_key(a, ka), nb = dd_key(b, kb);

    return na == nb && memcmp(ka, kb, na) == 0;
}

/* Would the real run find @c's id in the table? The ids added earlier in
 * this entry, and the remembered ones not yet evicted by those adds
 * (the table forgets its oldest id at each add once full). */
static int rids_dup(const struct rg_fsm *f, const struct rids *s,
                    const struct rg_cmd *c)
{
    size_t i = rid_hash(c) & (s->cap - 1), age;
    char key[RG_CODEC_MAX_RID + 1];
    size_t kl = dd_key(c, key);

    for (; s->slot[i] != 0; i = (i + 1) & (s->cap - 1))
        if (rid_eq(&s->cmds[s->slot[i] - 1], c))
            return 1;
    return rg_fsm__dd_age(&f->dd, key, kl, &age) &&
           s->adds < s->room + age + 1;
}

static void rids_add(struct rids *s, unsigned k)
{
    size_t i = rid_hash(&s->cmds[k]) & (s->cap - 1);

    while (s->slot[i] != 0)
        i = (i + 1) & (s->cap - 1);
    s->slot[i] = k + 1;
    s->adds++;
}

/* The dry run: apply @e's config commands unchecked, then validate the
 * final store, then undo. 0 when the final store is valid, else non-zero
 * (invalid, or out of memory: check each command instead). */
static int dry_run(struct rg_fsm *f, const struct rg_entry *e)
{
    struct how h = {0, NULL, 0};
    struct rids s;
    struct rg_fsm_result r;
    uint64_t rev = f->revision;
    char err[sizeof(r.message)];
    unsigned k;
    int rv = 0;

    memset(&s, 0, sizeof(s));
    s.cmds = e->cmds;
    for (s.cap = 16; s.cap < 2 * (size_t)e->n_cmds; s.cap *= 2)
        ;
    s.room = RG_FSM_DEDUPE - f->dd.q.n;
    s.slot = rg_calloc(s.cap, sizeof(*s.slot));
    h.log = rg_malloc(e->n_cmds * sizeof(*h.log));
    if (s.slot == NULL || h.log == NULL)
        rv = -ENOMEM;
    for (k = 0; rv == 0 && k < e->n_cmds; k++) {
        const struct rg_cmd *c = &e->cmds[k];

        if (!rid_ok(c->rid, c->rid_len) ||
            (c->rid_len > 0 && rids_dup(f, &s, c)))
            continue;
        /* Registry commands leave the config alone: not run here, but
         * their ids are remembered all the same. */
        if (is_config(c))
            rv = run(f, c, &r, &h);
        if (rv == 0 && c->rid_len > 0)
            rids_add(&s, k);
    }
    if (rv == 0 && f->revision != rev) {
        json_t *doc = rg_fsm__export_doc(&f->store);

        rv = doc == NULL ? -ENOMEM
                         : f->validate(f->arg, doc, err, sizeof(err)) != 0;
        json_decref(doc);
    }
    if (h.log != NULL)
        undo_all(f, h.log, h.n_log);
    if (h.n_log > 0 || f->revision != rev)
        rg_fsm__export_stale(f);
    f->revision = rev;
    rg_free(h.log);
    rg_free(s.slot);
    return rv;
}

unsigned rg_fsm_apply(struct rg_fsm *f, uint64_t index, const void *buf,
                      size_t len, struct rg_fsm_result *res)
{
    struct rg_fsm_result scratch;
    struct how h = {1, NULL, 0};
    struct rg_entry e;
    unsigned i, n, configs = 0;

    f->applied_index = index;
    if (rg_codec_decode(buf, len, &e) != 0) {
        record(f, index, 0, NULL, RG_FSM_INVALID);
        return 0;
    }
    for (i = 0; i < e.n_cmds; i++)
        configs += is_config(&e.cmds[i]);
    if (f->validate != NULL && configs > 1 && dry_run(f, &e) == 0)
        h.check = 0;
    for (i = 0; i < e.n_cmds; i++) {
        struct rg_fsm_result *r = res != NULL ? &res[i] : &scratch;

        /* Lease and breaker commands: their own idempotence, not in
         * the ring (fsm.h). */
        if (rg_fsm__quota_cmd(&e.cmds[i]) ||
            e.cmds[i].type == RG_CMD_BREAKER) {
            if ((e.cmds[i].type == RG_CMD_BREAKER
                     ? rg_fsm__breaker(f, e.ts_ms, &e.cmds[i], r)
                     : rg_fsm__quota_apply(f, e.ts_ms, &e.cmds[i], r)) != 0)
                status(f, r, RG_FSM_INVALID, "out of memory");
            continue;
        }
        apply_one(f, index, e.term, &e.cmds[i], r, &h);
    }
    n = e.n_cmds;
    rg_entry_release(&e);
    return n;
}

struct rg_fsm *rg_fsm_new(rg_fsm_validate_fn validate, void *arg)
{
    struct rg_fsm *f = rg_calloc(1, sizeof(*f));

    if (f == NULL)
        return NULL;
    f->validate = validate;
    f->arg = arg;
    rg_fsm__dd_init(&f->dd);
    return f; /* the export is computed when first asked for */
}

int rg_fsm_set_xrefs(struct rg_fsm *f, const struct rg_xref *x, size_t n)
{
    int rv = rg_fsm__keys_init(&f->store, x, x != NULL ? n : 0);

    f->xrefs = rv == 0 ? x : NULL;
    f->n_xrefs = rv == 0 && x != NULL ? n : 0;
    return rv;
}

void rg_fsm_check_whole(struct rg_fsm *f, int on)
{
    f->whole = on;
}

void rg_fsm_free(struct rg_fsm *f)
{
    if (f == NULL)
        return;
    rg_fsm__store_release(&f->store);
    rg_fsm__nodes_release(&f->nodes);
    rg_fsm__dd_release(&f->dd);
    rg_fsm__ring_release(&f->ring);
    rg_fsm__quota_release(&f->quota);
    rg_fsm__brk_release(&f->brk);
    rg_free(f->export);
    rg_free(f);
}

uint64_t rg_fsm_revision(const struct rg_fsm *f)
{
    return f->revision;
}

uint64_t rg_fsm_applied_index(const struct rg_fsm *f)
{
    return f->applied_index;
}

/* The export and its hash are a cache: filling it does not change the
 * state, hence the casts. */
uint64_t rg_fsm_config_hash(const struct rg_fsm *f)
{
    struct rg_fsm *m = (struct rg_fsm *)f;

    return rg_fsm__export_cached(m) == 0 ? m->hash : 0;
}

/* The member that names objects of kind @k ("name", or "username" for
 * consumers), or NULL (a plugin's "name" is its type). */
const char *rg_fsm_name_field(enum rg_kind k)
{
    switch (k) {
    case RG_KIND_SERVICE:
    case RG_KIND_ROUTE:
    case RG_KIND_UPSTREAM:
    case RG_KIND_SNI:
        return "name";
    case RG_KIND_CONSUMER:
        return "username";
    default:
        return NULL;
    }
}

static const char *name_of(enum rg_kind k, const json_t *body)
{
    const char *field = rg_fsm_name_field(k);

    if (field == NULL)
        return NULL;
    return json_string_value(json_object_get(body, field));
}

const json_t *rg_fsm_get(const struct rg_fsm *f, enum rg_kind k,
                         const char *key, int by_name, uint64_t *rev)
{
    const struct rg_objs *o;
    const char *name;
    size_t i;
    int found = 0;

    if (!kind_ok(k) || key == NULL)
        return NULL;
    o = &f->store.k[k];
    if (!by_name) {
        i = rg_fsm__find(o, key, strlen(key), &found);
    } else {
        for (i = 0; i < o->n; i++) {
            name = name_of(k, o->v[i].body);
            if (name != NULL && (k == RG_KIND_SNI ? strcasecmp(name, key)
                                                  : strcmp(name, key)) == 0) {
                found = 1;
                break;
            }
        }
    }
    if (!found)
        return NULL;
    if (rev != NULL)
        *rev = o->v[i].rev;
    return o->v[i].body;
}

void rg_fsm_each(const struct rg_fsm *f, enum rg_kind k,
                 void (*cb)(void *arg, const char *id, const json_t *body,
                            uint64_t rev),
                 void *arg)
{
    size_t i;

    if (!kind_ok(k))
        return;
    for (i = 0; i < f->store.k[k].n; i++) {
        const struct rg_obj *ob = &f->store.k[k].v[i];

        cb(arg, ob->id, ob->body, ob->rev);
    }
}

char *rg_fsm_export(const struct rg_fsm *f, size_t *len)
{
    char *s;

    if (rg_fsm__export_cached((struct rg_fsm *)f) != 0)
        return NULL;
    s = rg_malloc(f->export_len + 1);
    if (s == NULL)
        return NULL;
    memcpy(s, f->export, f->export_len + 1);
    if (len != NULL)
        *len = f->export_len;
    return s;
}

json_t *rg_fsm_export_json(const struct rg_fsm *f)
{
    return rg_fsm__export_doc(&f->store);
}

const json_t *rg_fsm_node(const struct rg_fsm *f, uint64_t id)
{
    int found;
    size_t i = rg_fsm__node_find(&f->nodes, id, &found);

    return found ? f->nodes.v[i].rec : NULL;
}

void rg_fsm_each_node(const struct rg_fsm *f,
                      void (*cb)(void *arg, uint64_t id, const json_t *rec),
                      void *arg)
{
    size_t i;

    for (i = 0; i < f->nodes.n; i++)
        cb(arg, f->nodes.v[i].id, f->nodes.v[i].rec);
}

void rg_fsm_applied_since(const struct rg_fsm *f, uint64_t since,
                          void (*cb)(void *arg, const struct rg_fsm_applied *a),
                          void *arg)
{
    const struct rg_fsm_applied *a;
    size_t i;

    for (i = 0; i < f->ring.q.n; i++) {
        a = &f->ring.v[rg_fsm__fifo_at(&f->ring.q, i)];
        if (a->index > since)
            cb(arg, a);
    }
}
