/* The replicated state machine (raft/fsm.h), fed encoded entries as
 * raft/node.c would, with no socket and no clock: CAS rules, validation
 * that leaves the state untouched, REPLACE_ALL, request-id dedupe, the
 * node registry, the applied ring, determinism across replicas, snapshot
 * and restore, allocation failures, and (with the real validator) that a
 * PUT checked on its own gets the verdict the whole config would give. */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "config/gateway.h"
#include "core/alloc.h"
#include "raft/codec.h"
#include "raft/fsm.h"

/* --- helpers ---------------------------------------------------------- */

/* Set while allocations may fail: an entry may then fail to decode, and
 * jansson allocates through rg_malloc. */
static int oom_mode;

/* The list sizes of the last document the validator saw. */
static size_t seen_services, seen_routes;

/* A test validator, standing in for the gateway parser main.c installs:
 * every route's service.id must name a service, no two services share a
 * name, and no service may have host "invalid". Counts its calls in
 * *arg. Its rules across objects are stand_in_xrefs. */
static const struct rg_xref stand_in_xrefs[] = {
    {"services", "id", RG_XREF_UNIQUE, 0, NULL, NULL, "service id"},
    {"services", "name", RG_XREF_UNIQUE, 0, NULL, NULL, "service name"},
    {"routes", "service", RG_XREF_REF, 0, "services", NULL, "service"},
};

static int validate(void *arg, const json_t *j, char *err, size_t cap)
{
    json_t *r, *s, *svcs, *routes;
    const char *sid, *host;
    size_t i, k;
    int found, rv = 0;

    if (arg != NULL)
        (*(int *)arg)++;
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(j, "_format_version")),
                     "3.0");
    svcs = json_object_get(j, "services");
    routes = json_object_get(j, "routes");
    seen_services = json_array_size(svcs);
    seen_routes = json_array_size(routes);
    for (i = 0; i < json_array_size(svcs); i++) {
        s = json_array_get(svcs, i);
        host = json_string_value(json_object_get(s, "host"));
        if (host != NULL && strcmp(host, "invalid") == 0) {
            snprintf(err, cap, "services[%zu]: bad host", i);
            rv = 1;
        }
        for (k = 0; k < i && rv == 0; k++)
            if (json_object_get(s, "name") != NULL &&
                json_equal(json_object_get(s, "name"),
                           json_object_get(json_array_get(svcs, k), "name"))) {
                snprintf(err, cap, "services[%zu]: duplicate name", i);
                rv = 1;
            }
    }
    for (i = 0; i < json_array_size(routes); i++) {
        r = json_array_get(routes, i);
        sid = json_string_value(
            json_object_get(json_object_get(r, "service"), "id"));
        found = 0;
        for (k = 0; k < json_array_size(svcs); k++) {
            s = json_array_get(svcs, k);
            found |=
                sid != NULL &&
                strcmp(sid, json_string_value(json_object_get(s, "id"))) == 0;
        }
        if (!found && rv == 0) {
            snprintf(err, cap, "routes[%zu]: unknown service", i);
            rv = 1;
        }
    }
    return rv;
}

static struct rg_cmd cmd(uint8_t type, uint8_t kind, uint64_t if_rev,
                         const char *rid, const char *key, const char *body)
{
    struct rg_cmd c;

    memset(&c, 0, sizeof(c));
    c.type = type;
    c.kind = kind;
    c.if_rev = if_rev;
    c.rid = rid;
    c.rid_len = rid ? (uint16_t)strlen(rid) : 0;
    c.key = key;
    c.key_len = key ? (uint16_t)strlen(key) : 0;
    c.body = body;
    c.body_len = body ? (uint32_t)strlen(body) : 0;
    return c;
}

/* A replica under test and the next Raft index it will be given. */
struct tf {
    struct rg_fsm *f;
    uint64_t index;
    int calls; /* validator calls */
};

static void tf_init(struct tf *t)
{
    t->index = 1;
    t->calls = 0;
    t->f = rg_fsm_new(validate, &t->calls);
    ck_assert_ptr_nonnull(t->f);
    ck_assert_int_eq(
        rg_fsm_set_xrefs(t->f, stand_in_xrefs,
                         sizeof(stand_in_xrefs) / sizeof(stand_in_xrefs[0])),
        0);
}

static void *encode(const struct rg_cmd *c, unsigned n, size_t *len)
{
    size_t sz = rg_codec_size(c, n);
    void *b = malloc(sz);

    ck_assert_uint_gt(sz, 0);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(rg_codec_encode(c, n, 7, 1000, b, sz), (long)sz);
    *len = sz;
    return b;
}

static unsigned apply_cmds(struct tf *t, const struct rg_cmd *c, unsigned n,
                           struct rg_fsm_result *res)
{
    size_t len;
    void *b = encode(c, n, &len);
    unsigned got = rg_fsm_apply(t->f, t->index++, b, len, res);

    free(b);
    return got;
}

static struct rg_fsm_result run(struct tf *t, struct rg_cmd c)
{
    struct rg_fsm_result r;

    memset(&r, 0, sizeof(r));
    if (apply_cmds(t, &c, 1, &r) != 1)
        ck_assert(oom_mode);
    return r;
}

static struct rg_fsm_result put(struct tf *t, enum rg_kind k, const char *id,
                                const char *body, uint64_t if_rev)
{
    return run(t, cmd(RG_CMD_PUT, k, if_rev, NULL, id, body));
}

static struct rg_fsm_result del(struct tf *t, enum rg_kind k, const char *id,
                                uint64_t if_rev)
{
    return run(t, cmd(RG_CMD_DELETE, k, if_rev, NULL, id, NULL));
}

static struct rg_fsm_result replace_all(struct tf *t, const char *doc,
                                        uint64_t if_rev)
{
    return run(t, cmd(RG_CMD_REPLACE_ALL, 0, if_rev, NULL, NULL, doc));
}

static char *export_of(const struct rg_fsm *f)
{
    size_t len;
    char *s = rg_fsm_export(f, &len);

    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(strlen(s), len);
    return s;
}

static char *snap_of(const struct rg_fsm *f, size_t *len)
{
    void *b = NULL;

    ck_assert_int_eq(rg_fsm_snapshot(f, &b, len), 0);
    ck_assert_ptr_nonnull(b);
    return b;
}

/* Two replicas hold the same state: snapshots, exports and hashes are
 * byte-identical. */
static void same_state(const struct rg_fsm *a, const struct rg_fsm *b)
{
    size_t la, lb;
    char *sa = snap_of(a, &la), *sb = snap_of(b, &lb);
    char *ea = export_of(a), *eb = export_of(b);

    ck_assert_uint_eq(la, lb);
    ck_assert(memcmp(sa, sb, la) == 0);
    ck_assert_str_eq(ea, eb);
    ck_assert_uint_eq(rg_fsm_config_hash(a), rg_fsm_config_hash(b));
    ck_assert_uint_eq(rg_fsm_revision(a), rg_fsm_revision(b));
    ck_assert_uint_eq(rg_fsm_applied_index(a), rg_fsm_applied_index(b));
    rg_free(sa);
    rg_free(sb);
    rg_free(ea);
    rg_free(eb);
}

/* FNV-1a 64 written out here, to check the hash independently. */
static uint64_t fnv(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

#define SVC(host) "{\"host\":\"" host "\",\"port\":80}"
#define ROUTE(sid) "{\"paths\":[\"/a\"],\"service\":{\"id\":\"" sid "\"}}"

/* --- store, PUT and DELETE ---------------------------------------------- */

/* The empty store exports a canonical document and hashes it. */
START_TEST(empty_export_is_canonical)
{
    struct tf t;
    char *e;

    tf_init(&t);
    e = export_of(t.f);
    ck_assert_str_eq(e, "{\"_format_version\":\"3.0\",\"consumers\":[],"
                        "\"plugins\":[],\"routes\":[],\"services\":[]}");
    ck_assert_uint_eq(rg_fsm_config_hash(t.f), fnv(e, strlen(e)));
    ck_assert_uint_eq(rg_fsm_revision(t.f), 0);
    rg_free(e);
    rg_fsm_free(t.f);
}
END_TEST

/* PUT creates, overwrites "id" with the key, bumps the global revision
 * once and stamps the object with it; the export is sorted by id with
 * sorted keys. */
START_TEST(put_creates_and_sets_id)
{
    struct tf t;
    struct rg_fsm_result r;
    const json_t *b;
    uint64_t rev = 0;
    char *e;

    tf_init(&t);
    r = put(&t, RG_KIND_SERVICE, "s2",
            "{\"port\":80,\"id\":\"bogus\","
            "\"host\":\"b\",\"name\":\"two\"}",
            0);
    ck_assert_int_eq(r.status, RG_FSM_OK);
    ck_assert_uint_eq(r.revision, 1);
    ck_assert_int_eq(r.duplicate, 0);
    r = put(&t, RG_KIND_SERVICE, "s1", SVC("a"), 0);
    ck_assert_int_eq(r.status, RG_FSM_OK);
    ck_assert_uint_eq(r.revision, 2);
    b = rg_fsm_get(t.f, RG_KIND_SERVICE, "s2", 0, &rev);
    ck_assert_ptr_nonnull(b);
    ck_assert_str_eq(json_string_value(json_object_get(b, "id")), "s2");
    ck_assert_uint_eq(rev, 1);
    ck_assert_ptr_eq(rg_fsm_get(t.f, RG_KIND_SERVICE, "two", 1, &rev), b);
    ck_assert_ptr_null(rg_fsm_get(t.f, RG_KIND_SERVICE, "two", 0, NULL));
    ck_assert_ptr_null(rg_fsm_get(t.f, RG_KIND_ROUTE, "s2", 0, NULL));
    e = export_of(t.f);
    ck_assert_str_eq(e, "{\"_format_version\":\"3.0\",\"consumers\":[],"
                        "\"plugins\":[],\"routes\":[],\"services\":["
                        "{\"host\":\"a\",\"id\":\"s1\",\"port\":80},"
                        "{\"host\":\"b\",\"id\":\"s2\",\"name\":\"two\","
                        "\"port\":80}]}");
    ck_assert_uint_eq(rg_fsm_config_hash(t.f), fnv(e, strlen(e)));
    rg_free(e);
    rg_fsm_free(t.f);
}
END_TEST

static void count_cb(void *arg, const char *id, const json_t *body,
                     uint64_t rev)
{
    char *acc = arg;

    (void)body;
    (void)rev;
    strcat(acc, id);
    strcat(acc, ",");
}

/* rg_fsm_each visits objects of one kind in id order. */
START_TEST(each_in_id_order)
{
    struct tf t;
    char acc[64] = "";

    tf_init(&t);
    put(&t, RG_KIND_CONSUMER, "c", "{\"username\":\"u3\"}", 0);
    put(&t, RG_KIND_CONSUMER, "a", "{\"username\":\"u1\"}", 0);
    put(&t, RG_KIND_CONSUMER, "b", "{}", 0);
    rg_fsm_each(t.f, RG_KIND_CONSUMER, count_cb, acc);
    ck_assert_str_eq(acc, "a,b,c,");
    /* Consumers are named by username. */
    ck_assert_ptr_nonnull(rg_fsm_get(t.f, RG_KIND_CONSUMER, "u3", 1, NULL));
    rg_fsm_free(t.f);
}
END_TEST

/* Bodies that are not JSON objects, unknown kinds and empty ids are
 * INVALID and change nothing. */
START_TEST(put_refuses_bad_input)
{
    static const char *const bodies[] = {
        "", "[]", "1", "\"s\"", "{", "{\"a\":1,\"a\":2}", "{} x", "null",
    };
    struct tf t;
    struct rg_fsm_result r;
    uint64_t h;
    size_t i;

    tf_init(&t);
    h = rg_fsm_config_hash(t.f);
    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        r = put(&t, RG_KIND_SERVICE, "s", bodies[i], 0);
        ck_assert_int_eq(r.status, RG_FSM_INVALID);
        ck_assert_str_ne(r.message, "");
    }
    r = put(&t, RG_KIND_NONE, "s", "{}", 0);
    ck_assert_int_eq(r.status, RG_FSM_INVALID);
    r = put(&t, RG_KIND_SERVICE, "", "{}", 0);
    ck_assert_int_eq(r.status, RG_FSM_INVALID);
    r = put(&t, RG_KIND_SERVICE, "\xff\xfe", "{}", 0);
    ck_assert_int_eq(r.status, RG_FSM_INVALID);
    /* Nested routes belong to a whole config, not to one service. */
    r = put(&t, RG_KIND_SERVICE, "s", "{\"routes\":[]}", 0);
    ck_assert_int_eq(r.status, RG_FSM_INVALID);
    ck_assert_uint_eq(rg_fsm_revision(t.f), 0);
    ck_assert_uint_eq(rg_fsm_config_hash(t.f), h);
    rg_fsm_free(t.f);
}
END_TEST

/* CAS: a matching if_rev applies; a different one is CONFLICT; if_rev on
 * a missing object is CONFLICT for PUT and DELETE; a DELETE of a missing
 * object without if_rev is NOT_FOUND. Refusals keep the revision. */
START_TEST(cas_rules)
{
    struct tf t;
    struct rg_fsm_result r;
    uint64_t rev;

    tf_init(&t);
    r = put(&t, RG_KIND_SERVICE, "s", SVC("a"), 5);
    ck_assert_int_eq(r.status, RG_FSM_CONFLICT);
    ck_assert_uint_eq(r.revision, 0);
    ck_assert_ptr_null(rg_fsm_get(t.f, RG_KIND_SERVICE, "s", 0, NULL));
    ck_assert_int_eq(put(&t, RG_KIND_SERVICE, "s", SVC("a"), 0).status,
                     RG_FSM_OK);
    ck_assert_int_eq(put(&t, RG_KIND_SERVICE, "o", SVC("o"), 0).status,
                     RG_FSM_OK);
    r = put(&t, RG_KIND_SERVICE, "s", SVC("b"), 1);
    ck_assert_int_eq(r.status, RG_FSM_OK);
    ck_assert_uint_eq(r.revision, 3);
    rg_fsm_get(t.f, RG_KIND_SERVICE, "s", 0, &rev);
    ck_assert_uint_eq(rev, 3);
    r = put(&t, RG_KIND_SERVICE, "s", SVC("c"), 1);
    ck_assert_int_eq(r.status, RG_FSM_CONFLICT);
    ck_assert_uint_eq(r.revision, 3);
    ck_assert_str_ne(r.message, "");
    ck_assert_str_eq(
        json_string_value(json_object_get(
            rg_fsm_get(t.f, RG_KIND_SERVICE, "s", 0, NULL), "host")),
        "b");
    ck_assert_int_eq(del(&t, RG_KIND_SERVICE, "s", 2).status, RG_FSM_CONFLICT);
    ck_assert_int_eq(del(&t, RG_KIND_SERVICE, "x", 2).status, RG_FSM_CONFLICT);
    ck_assert_int_eq(del(&t, RG_KIND_SERVICE, "x", 0).status, RG_FSM_NOT_FOUND);
    ck_assert_uint_eq(rg_fsm_revision(t.f), 3);
    r = del(&t, RG_KIND_SERVICE, "s", 3);
    ck_assert_int_eq(r.status, RG_FSM_OK);
    ck_assert_uint_eq(r.revision, 4);
    ck_assert_ptr_null(rg_fsm_get(t.f, RG_KIND_SERVICE, "s", 0, NULL));
    r = del(&t, RG_KIND_SERVICE, "o", 0);
    ck_assert_int_eq(r.status, RG_FSM_OK);
    ck_assert_uint_eq(r.revision, 5);
    rg_fsm_free(t.f);
}
END_TEST

/* Every config change goes through the validator on the would-be export;
 * deleting a service that a route references, or a route to nowhere, is
 * INVALID and leaves store, revision and hash as they were. */
START_TEST(validator_guards_every_change)
{
    struct tf t;
    struct rg_fsm_result r;
    uint64_t h;
    char *before, *after;

    tf_init(&t);
    ck_assert_int_eq(put(&t, RG_KIND_SERVICE, "s", SVC("a"), 0).status,
                     RG_FSM_OK);
    ck_assert_int_eq(put(&t, RG_KIND_ROUTE, "r", ROUTE("s"), 0).status,
                     RG_FSM_OK);
    ck_assert_int_eq(t.calls, 2);
    h = rg_fsm_config_hash(t.f);
    before = export_of(t.f);
    r = del(&t, RG_KIND_SERVICE, "s", 0);
    ck_assert_int_eq(r.status, RG_FSM_INVALID);
    ck_assert_str_eq(r.message, "routes[0]: unknown service");
    ck_assert_uint_eq(r.revision, 2);
    r = put(&t, RG_KIND_ROUTE, "r2", ROUTE("nope"), 0);
    ck_assert_int_eq(r.status, RG_FSM_INVALID);
    r = put(&t, RG_KIND_SERVICE, "s", SVC("invalid"), 0);
    ck_assert_int_eq(r.status, RG_FSM_INVALID);
    ck_assert_str_eq(r.message, "services[0]: bad host");
    ck_assert_int_eq(t.calls, 5);
    after = export_of(t.f);
    ck_assert_str_eq(before, after);
    ck_assert_uint_eq(rg_fsm_config_hash(t.f), h);
    ck_assert_uint_eq(rg_fsm_revision(t.f), 2);
    ck_assert_ptr_null(rg_fsm_get(t.f, RG_KIND_ROUTE, "r2", 0, NULL));
    /* Route first, then the service: allowed. */
    ck_assert_int_eq(del(&t, RG_KIND_ROUTE, "r", 0).status, RG_FSM_OK);
    ck_assert_int_eq(del(&t, RG_KIND_SERVICE, "s", 0).status, RG_FSM_OK);
    rg_free(before);
    rg_free(after);
    rg_fsm_free(t.f);
}
END_TEST

/* A name is unique when the validator says so, checked in the document of
 * the change and the objects that share its name: the stand-in's service
 * names. Replacing the holder itself keeps its name. */
START_TEST(names_unique_per_kind)
{
    struct tf t;

    tf_init(&t);
    ck_assert_int_eq(
        put(&t, RG_KIND_SERVICE, "a", "{\"name\":\"n\",\"host\":\"h\"}", 0)
            .status,
        RG_FSM_OK);
    ck_assert_int_eq(put(&t, RG_KIND_SERVICE, "c", SVC("h"), 0).status,
                     RG_FSM_OK);
    ck_assert_int_eq(
        put(&t, RG_KIND_SERVICE, "b", "{\"name\":\"n\",\"host\":\"h\"}", 0)
            .status,
        RG_FSM_INVALID);
    ck_assert_uint_eq(seen_services, 2);
    ck_assert_int_eq(
        put(&t, RG_KIND_SERVICE, "a", "{\"name\":\"n\",\"host\":\"i\"}", 0)
            .status,
        RG_FSM_OK);
    ck_assert_uint_eq(seen_services, 1);
    ck_assert_uint_eq(rg_fsm_revision(t.f), 3);
    rg_fsm_free(t.f);
}
END_TEST

/* --- REPLACE_ALL ---------------------------------------------------------- */

static const char *const decl =
    "{\"_format_version\":\"3.0\",\"_transform\":true,"
    "\"services\":[{\"id\":\"s1\",\"host\":\"a\",\"routes\":["
    "{\"id\":\"r1\",\"paths\":[\"/x\"]},{\"id\":\"r0\",\"paths\":[\"/y\"]}]},"
    "{\"id\":\"s0\",\"host\":\"b\"}],"
    "\"routes\":[{\"id\":\"r2\",\"service\":{\"id\":\"s0\"}}],"
    "\"consumers\":[{\"id\":\"c\",\"username\":\"u\"}],"
    "\"plugins\":null}";

/* A declarative config replaces the store: nested routes are flattened
 * with service: {id}, every object is stamped with the new revision, and
 * the export is canonical. */
START_TEST(replace_all_flattens_routes)
{
    struct tf t;
    struct rg_fsm_result r;
    const json_t *rt;
    uint64_t rev;
    char *e;

    tf_init(&t);
    put(&t, RG_KIND_SERVICE, "old", SVC("o"), 0);
    r = replace_all(&t, decl, 0);
    ck_assert_int_eq(r.status, RG_FSM_OK);
    ck_assert_uint_eq(r.revision, 2);
    ck_assert_ptr_null(rg_fsm_get(t.f, RG_KIND_SERVICE, "old", 0, NULL));
    rt = rg_fsm_get(t.f, RG_KIND_ROUTE, "r1", 0, &rev);
    ck_assert_ptr_nonnull(rt);
    ck_assert_uint_eq(rev, 2);
    ck_assert_str_eq(json_string_value(
                         json_object_get(json_object_get(rt, "service"), "id")),
                     "s1");
    ck_assert_ptr_null(json_object_get(
        rg_fsm_get(t.f, RG_KIND_SERVICE, "s1", 0, NULL), "routes"));
    e = export_of(t.f);
    ck_assert_str_eq(
        e, "{\"_format_version\":\"3.0\","
           "\"consumers\":[{\"id\":\"c\",\"username\":\"u\"}],\"plugins\":[],"
           "\"routes\":[{\"id\":\"r0\",\"paths\":[\"/y\"],\"service\":{\"id\":"
           "\"s1\"}},{\"id\":\"r1\",\"paths\":[\"/x\"],\"service\":{\"id\":"
           "\"s1\"}},{\"id\":\"r2\",\"service\":{\"id\":\"s0\"}}],"
           "\"services\":[{\"host\":\"b\",\"id\":\"s0\"},"
           "{\"host\":\"a\",\"id\":\"s1\"}]}");
    rg_free(e);
    rg_fsm_free(t.f);
}
END_TEST

/* Targets nested in an upstream are flattened with upstream: {id}, like
 * a service's routes; an upstream put alone may not nest them; and the
 * export, which leaves the new kinds out while empty, writes them. */
START_TEST(replace_all_flattens_targets)
{
    static const char doc[] =
        "{\"upstreams\":[{\"id\":\"u1\",\"name\":\"up\",\"targets\":"
        "[{\"id\":\"t1\",\"target\":\"a:1\"}]}],"
        "\"targets\":[{\"id\":\"t2\",\"target\":\"b:2\","
        "\"upstream\":{\"id\":\"u1\"}}]}";
    struct tf t;
    const json_t *tg;
    char *e;

    tf_init(&t);
    e = export_of(t.f);
    ck_assert_ptr_null(strstr(e, "upstreams"));
    rg_free(e);
    ck_assert_int_eq(replace_all(&t, doc, 0).status, RG_FSM_OK);
    tg = rg_fsm_get(t.f, RG_KIND_TARGET, "t1", 0, NULL);
    ck_assert_ptr_nonnull(tg);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(tg, "upstream"), "id")),
                     "u1");
    ck_assert_ptr_nonnull(rg_fsm_get(t.f, RG_KIND_TARGET, "t2", 0, NULL));
    ck_assert_ptr_null(json_object_get(
        rg_fsm_get(t.f, RG_KIND_UPSTREAM, "u1", 0, NULL), "targets"));
    ck_assert_ptr_nonnull(rg_fsm_get(t.f, RG_KIND_UPSTREAM, "up", 1, NULL));
    e = export_of(t.f);
    ck_assert_ptr_nonnull(strstr(e, "\"targets\":[{\"id\":\"t1\""));
    rg_free(e);
    ck_assert_int_eq(put(&t, RG_KIND_UPSTREAM, "u2",
                         "{\"name\":\"v\",\"targets\":[]}", 0).status,
                     RG_FSM_INVALID);
    /* A snapshot holding them restores to the same export. */
    {
        struct tf u;
        size_t len;
        char *snap = snap_of(t.f, &len), *e1, *e2;

        tf_init(&u);
        ck_assert_int_eq(rg_fsm_restore(u.f, snap, len), 0);
        e1 = export_of(t.f);
        e2 = export_of(u.f);
        ck_assert_str_eq(e1, e2);
        rg_free(e1);
        rg_free(e2);
        rg_free(snap);
        rg_fsm_free(u.f);
    }
    rg_fsm_free(t.f);
}
END_TEST

/* An invalid document applies nothing at all: not even the objects that
 * came before the fault. */
START_TEST(replace_all_invalid_applies_nothing)
{
    static const char *const bad[] = {
        /* dangling reference: caught by the validator */
        "{\"services\":[{\"id\":\"s\",\"host\":\"a\"}],"
        "\"routes\":[{\"id\":\"r\",\"service\":{\"id\":\"zz\"}}]}",
        /* object without an id */
        "{\"services\":[{\"id\":\"s\",\"host\":\"a\"},{\"host\":\"b\"}]}",
        "{\"services\":[{\"id\":\"s\",\"host\":\"a\",\"routes\":"
        "[{\"paths\":[\"/\"]}]}]}",
        "{\"consumers\":[{\"id\":\"\"}]}",
        "{\"consumers\":[{\"id\":5}]}",
        /* duplicate ids, also nested against top level */
        "{\"services\":[{\"id\":\"s\"},{\"id\":\"s\"}]}",
        "{\"services\":[{\"id\":\"s\",\"routes\":[{\"id\":\"r\"}]}],"
        "\"routes\":[{\"id\":\"r\",\"service\":{\"id\":\"s\"}}]}",
        /* duplicate names */
        "{\"services\":[{\"id\":\"a\",\"name\":\"n\"},{\"id\":\"b\","
        "\"name\":\"n\"}]}",
        /* shape */
        "[]",
        "{\"services\":{}}",
        "{\"services\":[1]}",
        "{\"vaults\":[]}",
        "{\"_format_version\":\"1.1\"}",
        "{\"services\":[{\"id\":\"s\",\"routes\":{}}]}",
        "not json",
        /* the validator's own refusal */
        "{\"services\":[{\"id\":\"s\",\"host\":\"invalid\"}]}",
    };
    struct tf t;
    struct rg_fsm_result r;
    char *before, *after;
    size_t i;

    tf_init(&t);
    ck_assert_int_eq(replace_all(&t, decl, 0).status, RG_FSM_OK);
    before = export_of(t.f);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = replace_all(&t, bad[i], 0);
        ck_assert_msg(r.status == RG_FSM_INVALID, "bad[%zu] gave %d", i,
                      r.status);
        ck_assert_str_ne(r.message, "");
        ck_assert_uint_eq(r.revision, 1);
    }
    after = export_of(t.f);
    ck_assert_str_eq(before, after);
    ck_assert_uint_eq(rg_fsm_revision(t.f), 1);
    rg_free(before);
    rg_free(after);
    rg_fsm_free(t.f);
}
END_TEST

/* REPLACE_ALL's if_rev is a CAS on the global revision. */
START_TEST(replace_all_cas_on_global_revision)
{
    struct tf t;
    struct rg_fsm_result r;

    tf_init(&t);
    put(&t, RG_KIND_SERVICE, "s", SVC("a"), 0);
    put(&t, RG_KIND_SERVICE, "t", SVC("a"), 0);
    r = replace_all(&t, "{}", 1);
    ck_assert_int_eq(r.status, RG_FSM_CONFLICT);
    ck_assert_uint_eq(r.revision, 2);
    ck_assert_ptr_nonnull(rg_fsm_get(t.f, RG_KIND_SERVICE, "s", 0, NULL));
    r = replace_all(&t, "{}", 2);
    ck_assert_int_eq(r.status, RG_FSM_OK);
    ck_assert_uint_eq(r.revision, 3);
    ck_assert_ptr_null(rg_fsm_get(t.f, RG_KIND_SERVICE, "s", 0, NULL));
    rg_fsm_free(t.f);
}
END_TEST

/* The export, loaded with REPLACE_ALL into another replica, gives the same
 * config hash; objects whose body did not change keep their revision (so a
 * client's CAS on them survives a reload). */
START_TEST(export_loads_back_and_keeps_revisions)
{
    struct tf a, b;
    char *e;
    uint64_t rev;

    tf_init(&a);
    tf_init(&b);
    put(&a, RG_KIND_SERVICE, "s", SVC("a"), 0);
    put(&a, RG_KIND_ROUTE, "r", ROUTE("s"), 0);
    put(&a, RG_KIND_PLUGIN, "p", "{\"name\":\"cors\",\"config\":{\"x\":1.5}}",
        0);
    e = export_of(a.f);
    ck_assert_int_eq(replace_all(&b, e, 0).status, RG_FSM_OK);
    ck_assert_uint_eq(rg_fsm_config_hash(a.f), rg_fsm_config_hash(b.f));
    ck_assert_int_eq(replace_all(&a, e, 0).status, RG_FSM_OK);
    ck_assert_uint_eq(rg_fsm_revision(a.f), 4);
    rg_fsm_get(a.f, RG_KIND_ROUTE, "r", 0, &rev);
    ck_assert_uint_eq(rev, 2);
    ck_assert_uint_eq(rg_fsm_config_hash(a.f), rg_fsm_config_hash(b.f));
    rg_free(e);
    rg_fsm_free(a.f);
    rg_fsm_free(b.f);
}
END_TEST

/* --- dedupe ------------------------------------------------------------ */

/* A retried command (same request id, same command) returns the original
 * result with duplicate=1 and is not applied again, even when it would now
 * give another answer. */
START_TEST(duplicate_request_not_reapplied)
{
    struct tf t;
    struct rg_fsm_result r1, r2;
    struct rg_cmd c =
        cmd(RG_CMD_PUT, RG_KIND_SERVICE, 0, "req-1", "s", SVC("a"));
    struct rg_cmd cas =
        cmd(RG_CMD_PUT, RG_KIND_SERVICE, 9, "req-2", "s", SVC("z"));

    tf_init(&t);
    r1 = run(&t, c);
    ck_assert_int_eq(r1.status, RG_FSM_OK);
    put(&t, RG_KIND_SERVICE, "s", SVC("b"), 0);
    r2 = run(&t, c);
    ck_assert_int_eq(r2.duplicate, 1);
    ck_assert_int_eq(r2.status, RG_FSM_OK);
    ck_assert_uint_eq(r2.revision, r1.revision);
    ck_assert_uint_eq(rg_fsm_revision(t.f), 2);
    ck_assert_str_eq(
        json_string_value(json_object_get(
            rg_fsm_get(t.f, RG_KIND_SERVICE, "s", 0, NULL), "host")),
        "b");
    /* A refusal is remembered too: the retry of a failed CAS fails the
     * same way, with its message. */
    r1 = run(&t, cas);
    ck_assert_int_eq(r1.status, RG_FSM_CONFLICT);
    r2 = run(&t, cas);
    ck_assert_int_eq(r2.status, RG_FSM_CONFLICT);
    ck_assert_int_eq(r2.duplicate, 1);
    ck_assert_str_eq(r2.message, r1.message);
    rg_fsm_free(t.f);
}
END_TEST

/* The same command twice in one entry: the second is a duplicate. */
START_TEST(duplicate_within_one_entry)
{
    struct tf t;
    struct rg_cmd c[2] = {
        cmd(RG_CMD_PUT, RG_KIND_SERVICE, 0, "same", "s", SVC("a")),
        cmd(RG_CMD_PUT, RG_KIND_SERVICE, 0, "same", "s", SVC("a")),
    };
    struct rg_fsm_result r[2];

    tf_init(&t);
    ck_assert_uint_eq(apply_cmds(&t, c, 2, r), 2);
    ck_assert_int_eq(r[0].duplicate, 0);
    ck_assert_int_eq(r[1].duplicate, 1);
    ck_assert_uint_eq(rg_fsm_revision(t.f), 1);
    rg_fsm_free(t.f);
}
END_TEST

/* A client that reuses one X-Request-Id for different writes (tracing
 * ids often repeat) gets each write applied: only a retry of the same
 * command is a duplicate. Found by review: the second write was answered
 * 201 and silently dropped. */
START_TEST(reused_request_id_different_command_applies)
{
    struct tf t;
    struct rg_fsm_result r1, r2;
    struct rg_cmd c[2] = {
        cmd(RG_CMD_PUT, RG_KIND_SERVICE, 0, "fixed-123", "a1", SVC("a")),
        cmd(RG_CMD_PUT, RG_KIND_SERVICE, 0, "fixed-123", "a2", SVC("b")),
    };
    struct rg_fsm_result r[2];

    tf_init(&t);
    r1 = run(&t, c[0]);
    r2 = run(&t, c[1]);
    ck_assert_int_eq(r1.status, RG_FSM_OK);
    ck_assert_int_eq(r2.status, RG_FSM_OK);
    ck_assert_int_eq(r2.duplicate, 0);
    ck_assert_ptr_nonnull(rg_fsm_get(t.f, RG_KIND_SERVICE, "a2", 0, NULL));
    ck_assert_uint_eq(rg_fsm_revision(t.f), 2);
    /* Both in one entry too. */
    c[0].key = "a3";
    c[0].key_len = 2;
    c[1].key = "a4";
    c[1].key_len = 2;
    ck_assert_uint_eq(apply_cmds(&t, c, 2, r), 2);
    ck_assert_int_eq(r[1].duplicate, 0);
    ck_assert_uint_eq(rg_fsm_revision(t.f), 4);
    rg_fsm_free(t.f);
}
END_TEST

/* The table keeps the last RG_FSM_DEDUPE ids: the oldest is forgotten
 * first (and re-applies), the next one is still remembered. */
START_TEST(dedupe_table_evicts_oldest)
{
    struct tf t;
    struct rg_fsm_result r;
    char rid[32];
    unsigned i;

    tf_init(&t);
    for (i = 0; i <= RG_FSM_DEDUPE; i++) {
        snprintf(rid, sizeof(rid), "id-%u", i);
        r = run(&t, cmd(RG_CMD_NODE_DEL, 0, 0, rid, "1", NULL));
        ck_assert_int_eq(r.duplicate, 0);
    }
    r = run(&t, cmd(RG_CMD_NODE_DEL, 0, 0, "id-1", "1", NULL));
    ck_assert_int_eq(r.duplicate, 1);
    r = run(&t, cmd(RG_CMD_NODE_DEL, 0, 0, "id-0", "1", NULL));
    ck_assert_int_eq(r.duplicate, 0);
    /* id-0 came back and pushed id-1 out. */
    r = run(&t, cmd(RG_CMD_NODE_DEL, 0, 0, "id-1", "1", NULL));
    ck_assert_int_eq(r.duplicate, 0);
    r = run(&t, cmd(RG_CMD_NODE_DEL, 0, 0, "id-2", "1", NULL));
    ck_assert_int_eq(r.duplicate, 0);
    r = run(&t, cmd(RG_CMD_NODE_DEL, 0, 0, "id-4", "1", NULL));
    ck_assert_int_eq(r.duplicate, 1);
    rg_fsm_free(t.f);
}
END_TEST

static void rid_cb(void *arg, const struct rg_fsm_applied *a)
{
    strcat(arg, a->rid);
    strcat(arg, "|");
}

/* A request id with control or non-ASCII bytes is refused, not
 * remembered, and kept out of the applied ring, so the snapshot (JSON)
 * can still be written (found by fuzz_codec). */
START_TEST(request_id_printable_only)
{
    struct tf t;
    struct rg_fsm_result r;
    char acc[64] = "";
    size_t len;

    tf_init(&t);
    r = run(&t, cmd(RG_CMD_PUT, RG_KIND_SERVICE, 0, "a\nb", "s", SVC("a")));
    ck_assert_int_eq(r.status, RG_FSM_INVALID);
    r = run(&t, cmd(RG_CMD_PUT, RG_KIND_SERVICE, 0, "\x8e\x9e", "s", SVC("a")));
    ck_assert_int_eq(r.status, RG_FSM_INVALID);
    r = run(&t, cmd(RG_CMD_PUT, RG_KIND_SERVICE, 0, "\x8e\x9e", "s", SVC("a")));
    ck_assert_int_eq(r.duplicate, 0);
    ck_assert_uint_eq(rg_fsm_revision(t.f), 0);
    rg_fsm_applied_since(t.f, 0, rid_cb, acc);
    ck_assert_str_eq(acc, "|||");
    rg_free(snap_of(t.f, &len));
    rg_fsm_free(t.f);
}
END_TEST

/* --- node registry ------------------------------------------------------ */

static void node_cb(void *arg, uint64_t id, const json_t *rec)
{
    char *acc = arg;
    char one[32];

    snprintf(one, sizeof(one), "%llu:%s,", (unsigned long long)id,
             json_string_value(json_object_get(rec, "name")));
    strcat(acc, one);
}

/* NODE_SET inserts or replaces a record whose id is the key, NODE_DEL
 * removes it; neither moves the config revision or hash. */
START_TEST(node_registry)
{
    struct tf t;
    struct rg_fsm_result r;
    const json_t *rec;
    char acc[128] = "";
    uint64_t h;

    tf_init(&t);
    put(&t, RG_KIND_SERVICE, "s", SVC("a"), 0);
    h = rg_fsm_config_hash(t.f);
    r = run(&t, cmd(RG_CMD_NODE_SET, 0, 0, "n", "12",
                    "{\"name\":\"b\",\"admin\":\"127.0.0.1:1\",\"id\":99}"));
    ck_assert_int_eq(r.status, RG_FSM_OK);
    ck_assert_uint_eq(r.revision, 1);
    run(&t, cmd(RG_CMD_NODE_SET, 0, 0, NULL, "3", "{\"name\":\"a\"}"));
    rec = rg_fsm_node(t.f, 12);
    ck_assert_ptr_nonnull(rec);
    ck_assert_int_eq(json_integer_value(json_object_get(rec, "id")), 12);
    ck_assert_str_eq(json_string_value(json_object_get(rec, "admin")),
                     "127.0.0.1:1");
    run(&t, cmd(RG_CMD_NODE_SET, 0, 0, NULL, "12", "{\"name\":\"c\"}"));
    rg_fsm_each_node(t.f, node_cb, acc);
    ck_assert_str_eq(acc, "3:a,12:c,");
    ck_assert_int_eq(
        run(&t, cmd(RG_CMD_NODE_DEL, 0, 0, NULL, "3", NULL)).status, RG_FSM_OK);
    ck_assert_ptr_null(rg_fsm_node(t.f, 3));
    ck_assert_int_eq(
        run(&t, cmd(RG_CMD_NODE_DEL, 0, 0, NULL, "3", NULL)).status,
        RG_FSM_NOT_FOUND);
    ck_assert_int_eq(
        run(&t, cmd(RG_CMD_NODE_SET, 0, 0, NULL, "0", "{}")).status,
        RG_FSM_INVALID);
    ck_assert_int_eq(
        run(&t, cmd(RG_CMD_NODE_SET, 0, 0, NULL, "01", "{}")).status,
        RG_FSM_INVALID);
    ck_assert_int_eq(
        run(&t, cmd(RG_CMD_NODE_SET, 0, 0, NULL, "9223372036854775808", "{}"))
            .status,
        RG_FSM_INVALID);
    ck_assert_int_eq(
        run(&t, cmd(RG_CMD_NODE_SET, 0, 0, NULL, "4", "[]")).status,
        RG_FSM_INVALID);
    ck_assert_uint_eq(rg_fsm_revision(t.f), 1);
    ck_assert_uint_eq(rg_fsm_config_hash(t.f), h);
    rg_fsm_free(t.f);
}
END_TEST

/* --- applied ring ------------------------------------------------------ */

struct seen {
    uint64_t index[8];
    uint8_t type[8];
    enum rg_fsm_status status[8];
    char rid[8][RG_CODEC_MAX_RID + 1];
    size_t n;
    uint64_t first, last;
    size_t total;
};

static void seen_cb(void *arg, const struct rg_fsm_applied *a)
{
    struct seen *s = arg;

    if (s->total == 0)
        s->first = a->index;
    ck_assert_uint_ge(a->index, s->last); /* oldest first */
    s->last = a->index;
    s->total++;
    if (s->n < 8) {
        s->index[s->n] = a->index;
        s->type[s->n] = a->type;
        s->status[s->n] = a->status;
        strcpy(s->rid[s->n], a->rid);
        s->n++;
    }
}

/* The ring lists commands oldest first with their index, type, status
 * and request id; since=N skips indexes <= N; a malformed entry is
 * recorded as type 0, INVALID. */
START_TEST(applied_ring_order_and_since)
{
    struct tf t;
    struct seen s;
    struct rg_cmd c[2] = {
        cmd(RG_CMD_PUT, RG_KIND_SERVICE, 0, "a", "s", SVC("a")),
        cmd(RG_CMD_DELETE, RG_KIND_ROUTE, 0, "b", "r", NULL),
    };
    static const unsigned char junk[8] = "garbage";

    tf_init(&t);
    apply_cmds(&t, c, 2, NULL); /* index 1, results not wanted */
    ck_assert_uint_eq(rg_fsm_apply(t.f, t.index++, junk, 8, NULL), 0);
    run(&t, cmd(RG_CMD_NODE_SET, 0, 0, "c", "1", "{}"));
    memset(&s, 0, sizeof(s));
    rg_fsm_applied_since(t.f, 0, seen_cb, &s);
    ck_assert_uint_eq(s.n, 4);
    ck_assert_uint_eq(s.index[0], 1);
    ck_assert_uint_eq(s.index[1], 1);
    ck_assert_uint_eq(s.index[2], 2);
    ck_assert_uint_eq(s.index[3], 3);
    ck_assert_str_eq(s.rid[0], "a");
    ck_assert_str_eq(s.rid[1], "b");
    ck_assert_uint_eq(s.type[1], RG_CMD_DELETE);
    ck_assert_int_eq(s.status[1], RG_FSM_NOT_FOUND);
    ck_assert_uint_eq(s.type[2], 0);
    ck_assert_int_eq(s.status[2], RG_FSM_INVALID);
    ck_assert_uint_eq(rg_fsm_applied_index(t.f), 3);
    memset(&s, 0, sizeof(s));
    rg_fsm_applied_since(t.f, 1, seen_cb, &s);
    ck_assert_uint_eq(s.n, 2);
    ck_assert_uint_eq(s.index[0], 2);
    memset(&s, 0, sizeof(s));
    rg_fsm_applied_since(t.f, 3, seen_cb, &s);
    ck_assert_uint_eq(s.n, 0);
    rg_fsm_free(t.f);
}
END_TEST

/* The ring holds the last RG_FSM_APPLIED_RING commands. */
START_TEST(applied_ring_bounded)
{
    struct tf t;
    struct seen s;
    struct rg_cmd c = cmd(RG_CMD_NODE_DEL, 0, 0, NULL, "1", NULL);
    size_t len;
    void *b = encode(&c, 1, &len);
    uint64_t i;

    tf_init(&t);
    for (i = 1; i <= RG_FSM_APPLIED_RING + 10; i++)
        rg_fsm_apply(t.f, i, b, len, NULL);
    memset(&s, 0, sizeof(s));
    rg_fsm_applied_since(t.f, 0, seen_cb, &s);
    ck_assert_uint_eq(s.total, RG_FSM_APPLIED_RING);
    ck_assert_uint_eq(s.first, 11);
    ck_assert_uint_eq(s.last, RG_FSM_APPLIED_RING + 10);
    free(b);
    rg_fsm_free(t.f);
}
END_TEST

/* --- entries of several commands ---------------------------------------- */

/* Apply @c[0..n) to @a as one entry and to @b one entry per command, all
 * at the same Raft index (so the applied rings match too); the results
 * must be the same command by command. */
static void batch_vs_single(struct tf *a, struct tf *b, const struct rg_cmd *c,
                            unsigned n, struct rg_fsm_result *ra)
{
    struct rg_fsm_result rb;
    uint64_t index = a->index;
    size_t len;
    unsigned i;
    void *buf;

    ck_assert_uint_eq(apply_cmds(a, c, n, ra), n);
    for (i = 0; i < n; i++) {
        buf = encode(&c[i], 1, &len);
        memset(&rb, 0, sizeof(rb));
        ck_assert_uint_eq(rg_fsm_apply(b->f, index, buf, len, &rb), 1);
        free(buf);
        ck_assert_msg(ra[i].status == rb.status, "cmd %u: %d vs %d", i,
                      ra[i].status, rb.status);
        ck_assert_uint_eq(ra[i].revision, rb.revision);
        ck_assert_str_eq(ra[i].message, rb.message);
        ck_assert_int_eq(ra[i].duplicate, rb.duplicate);
    }
    b->index = a->index;
    same_state(a->f, b->f);
}

/* One entry with refusals in the middle (a dangling route and a bad host
 * for the validator, a taken name, a missing object, a failed CAS, a
 * repeated request id) gives each command the result it gets alone. */
/* A change over a store that passed the validator is checked in the
 * document of the changed object and what the rules link it to (the
 * stand-in's: a route's service, services sharing a name or an id),
 * never in the whole export. */
START_TEST(put_checked_alone)
{
    struct tf t;
    char id[8];

    tf_init(&t);
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "s%d", i);
        ck_assert_int_eq(put(&t, RG_KIND_SERVICE, id, SVC("h"), 0).status,
                         RG_FSM_OK);
        ck_assert_uint_eq(seen_services, 1);
    }
    ck_assert_int_eq(put(&t, RG_KIND_SERVICE, "s9",
                         "{\"name\":\"nine\",\"host\":\"h\"}", 0)
                         .status,
                     RG_FSM_OK);
    /* A route: itself and its service. */
    ck_assert_int_eq(put(&t, RG_KIND_ROUTE, "r1", ROUTE("s3"), 0).status,
                     RG_FSM_OK);
    ck_assert_uint_eq(seen_services, 1);
    ck_assert_uint_eq(seen_routes, 1);
    ck_assert_int_eq(put(&t, RG_KIND_ROUTE, "r2", ROUTE("gone"), 0).status,
                     RG_FSM_INVALID);
    ck_assert_uint_eq(seen_services, 0);
    /* Invalid alone is invalid. */
    ck_assert_int_eq(put(&t, RG_KIND_SERVICE, "s6", SVC("invalid"), 0).status,
                     RG_FSM_INVALID);
    /* A service that keeps its identity: its routes need not be seen. */
    ck_assert_int_eq(put(&t, RG_KIND_SERVICE, "s3", SVC("h2"), 0).status,
                     RG_FSM_OK);
    ck_assert_uint_eq(seen_services, 1);
    ck_assert_uint_eq(seen_routes, 0);
    /* One that changes a unique field: with the routes that name it. */
    ck_assert_int_eq(put(&t, RG_KIND_SERVICE, "s3",
                         "{\"name\":\"three\",\"host\":\"h\"}", 0)
                         .status,
                     RG_FSM_OK);
    ck_assert_uint_eq(seen_services, 1);
    ck_assert_uint_eq(seen_routes, 1);
    /* A name taken by another: both in the document. */
    ck_assert_int_eq(put(&t, RG_KIND_SERVICE, "s4",
                         "{\"name\":\"nine\",\"host\":\"h\"}", 0)
                         .status,
                     RG_FSM_INVALID);
    ck_assert_uint_eq(seen_services, 2);
    /* A delete: what references the object, without it. */
    ck_assert_int_eq(del(&t, RG_KIND_SERVICE, "s3", 0).status, RG_FSM_INVALID);
    ck_assert_uint_eq(seen_services, 0);
    ck_assert_uint_eq(seen_routes, 1);
    ck_assert_int_eq(del(&t, RG_KIND_SERVICE, "s2", 0).status, RG_FSM_OK);
    ck_assert_uint_eq(seen_services, 0);
    ck_assert_uint_eq(seen_routes, 0);
    ck_assert_int_eq(del(&t, RG_KIND_ROUTE, "r1", 0).status, RG_FSM_OK);
    ck_assert_int_eq(del(&t, RG_KIND_SERVICE, "s3", 0).status, RG_FSM_OK);
    /* The whole export when the rules are not known. */
    ck_assert_int_eq(rg_fsm_set_xrefs(t.f, NULL, 0), 0);
    ck_assert_int_eq(put(&t, RG_KIND_SERVICE, "s5", SVC("h"), 0).status,
                     RG_FSM_OK);
    ck_assert_uint_eq(seen_services, 5);
    rg_fsm_free(t.f);
}
END_TEST

START_TEST(batch_invalid_in_middle_same_as_one_by_one)
{
    struct rg_cmd c[] = {
        cmd(RG_CMD_PUT, RG_KIND_SERVICE, 0, "b1", "s1", SVC("a")),
        cmd(RG_CMD_PUT, RG_KIND_ROUTE, 0, "b2", "r1", ROUTE("nope")),
        cmd(RG_CMD_PUT, RG_KIND_SERVICE, 0, "b3", "s2",
            "{\"name\":\"n\",\"host\":\"h\"}"),
        cmd(RG_CMD_PUT, RG_KIND_SERVICE, 0, "b4", "s3",
            "{\"name\":\"n\",\"host\":\"h\"}"),
        cmd(RG_CMD_DELETE, RG_KIND_SERVICE, 0, "b5", "zz", NULL),
        cmd(RG_CMD_PUT, RG_KIND_SERVICE, 99, "b6", "s1", SVC("b")),
        cmd(RG_CMD_PUT, RG_KIND_ROUTE, 0, "b7", "r2", ROUTE("s1")),
        cmd(RG_CMD_PUT, RG_KIND_SERVICE, 0, "b8", "s4", SVC("invalid")),
        cmd(RG_CMD_NODE_SET, 0, 0, "b9", "3", "{}"),
        cmd(RG_CMD_DELETE, RG_KIND_SERVICE, 0, "b10", "s2", NULL),
        cmd(RG_CMD_PUT, RG_KIND_SERVICE, 0, "b1", "s1", SVC("a")), /* retry */
        cmd(RG_CMD_PUT, RG_KIND_SERVICE, 0, "", "s5",
            "{\"name\":\"n\",\"host\":\"h\"}"),
    };
    static const enum rg_fsm_status want[] = {
        RG_FSM_OK,        RG_FSM_INVALID,  RG_FSM_OK, RG_FSM_INVALID,
        RG_FSM_NOT_FOUND, RG_FSM_CONFLICT, RG_FSM_OK, RG_FSM_INVALID,
        RG_FSM_OK,        RG_FSM_OK,       RG_FSM_OK, RG_FSM_OK,
    };
    unsigned n = sizeof(c) / sizeof(c[0]), i;
    struct rg_fsm_result r[sizeof(c) / sizeof(c[0])];
    struct tf a, b;

    tf_init(&a);
    tf_init(&b);
    batch_vs_single(&a, &b, c, n, r);
    for (i = 0; i < n; i++)
        ck_assert_msg(r[i].status == want[i], "cmd %u: %d", i, r[i].status);
    ck_assert_int_eq(r[10].duplicate, 1);
    ck_assert_str_eq(r[1].message, "routes[0]: unknown service");
    /* Checked in its neighbourhood: the service is the document's only one. */
    ck_assert_str_eq(r[7].message, "services[0]: bad host");
    ck_assert_uint_eq(rg_fsm_revision(a.f), 5);
    rg_fsm_free(a.f);
    rg_fsm_free(b.f);
}
END_TEST

/* An entry whose final config is valid is validated once, not once per
 * command, and ends where one command per entry ends. */
START_TEST(batch_valid_validated_once)
{
    static char keys[64][8], bodies[64][96];
    struct rg_cmd c[64];
    struct rg_fsm_result r[64];
    struct tf a, b;
    unsigned i;

    for (i = 0; i < 64; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%02u", i);
        if (i % 2 == 0)
            snprintf(bodies[i], sizeof(bodies[i]),
                     "{\"host\":\"h%u\",\"name\":\"svc%u\"}", i, i);
        else
            snprintf(bodies[i], sizeof(bodies[i]),
                     "{\"paths\":[\"/%u\"],\"service\":{\"id\":\"k%02u\"}}", i,
                     i - 1);
        c[i] = cmd(RG_CMD_PUT, i % 2 ? RG_KIND_ROUTE : RG_KIND_SERVICE, 0, NULL,
                   keys[i], bodies[i]);
    }
    tf_init(&a);
    tf_init(&b);
    batch_vs_single(&a, &b, c, 64, r);
    ck_assert_int_eq(a.calls, 1);
    ck_assert_int_eq(b.calls, 64);
    for (i = 0; i < 64; i++) {
        ck_assert_int_eq(r[i].status, RG_FSM_OK);
        ck_assert_uint_eq(r[i].revision, i + 1);
    }
    rg_fsm_free(a.f);
    rg_fsm_free(b.f);
}
END_TEST

/* The one difference from one command per entry: validation sees the
 * entry's final config, so a route put before its service in the same
 * entry is accepted (alone, it would be INVALID). Everything the state
 * machine checks itself (CAS, names, ids, duplicates) stays per command. */
START_TEST(batch_validates_final_config)
{
    struct rg_cmd c[] = {
        cmd(RG_CMD_PUT, RG_KIND_ROUTE, 0, "x1", "r", ROUTE("s")),
        cmd(RG_CMD_PUT, RG_KIND_SERVICE, 0, "x2", "s", SVC("a")),
    };
    struct rg_fsm_result r[2];
    struct tf a;

    tf_init(&a);
    ck_assert_uint_eq(apply_cmds(&a, c, 2, r), 2);
    ck_assert_int_eq(r[0].status, RG_FSM_OK);
    ck_assert_int_eq(r[1].status, RG_FSM_OK);
    ck_assert_int_eq(a.calls, 1);
    rg_fsm_free(a.f);
}
END_TEST

/* --- determinism, snapshot, restore ------------------------------------ */

/* Storage for one generated command's text. */
struct wl_buf {
    char rid[16], key[8], doc[256];
};

/* The next command of a fixed pseudo-random workload of mixed commands,
 * some refused. */
static struct rg_cmd wl_next(unsigned *xp, struct wl_buf *w)
{
    static const char *const bodies[] = {
        SVC("a"),
        SVC("b"),
        SVC("invalid"),
        "[]",
        "{\"name\":\"x\"}",
        "{\"name\":\"y\",\"host\":\"h\"}",
        "{\"config\":{\"k\":[1,2.25,null]}}",
    };
    unsigned x = *xp = *xp * 1103515245u + 12345u, k = (x >> 16) % 10;

    snprintf(w->rid, sizeof(w->rid), "w%u", (x >> 8) % 2048);
    snprintf(w->key, sizeof(w->key), "k%u", (x >> 4) % 6);
    if (k < 4)
        return cmd(RG_CMD_PUT, 1 + (x >> 20) % 4, 0, w->rid, w->key,
                   bodies[(x >> 12) % 7]);
    if (k < 6)
        return cmd(RG_CMD_PUT, RG_KIND_ROUTE, (x >> 9) % 4, w->rid, w->key,
                   ROUTE("k1"));
    if (k < 8)
        return cmd(RG_CMD_DELETE, 1 + (x >> 20) % 4, (x >> 9) % 3, w->rid,
                   w->key, NULL);
    if (k < 9)
        return cmd(RG_CMD_NODE_SET, 0, 0, w->rid, "2", "{\"name\":\"n\"}");
    snprintf(w->doc, sizeof(w->doc),
             "{\"services\":[{\"id\":\"k%u\",\"host\":\"z\","
             "\"routes\":[{\"id\":\"k%u\"}]}]}",
             (x >> 5) % 6, (x >> 7) % 6);
    return cmd(RG_CMD_REPLACE_ALL, 0, (x >> 9) % 2, w->rid, NULL, w->doc);
}

static void workload(struct tf *t, unsigned seed, unsigned n)
{
    struct wl_buf w;
    unsigned x = seed, i;

    for (i = 0; i < n; i++)
        run(t, wl_next(&x, &w));
}

/* The same workload packed into entries of 1 to 24 commands. */
static void workload_packed(struct tf *t, unsigned seed, unsigned n)
{
    static struct wl_buf w[24];
    struct rg_cmd c[24];
    struct rg_fsm_result r[24];
    unsigned x = seed, i = 0, k, m;

    while (i < n) {
        m = 1 + (x >> 3) % 24;
        for (k = 0; k < m && i < n; k++, i++)
            c[k] = wl_next(&x, &w[k]);
        if (apply_cmds(t, c, k, r) != k)
            ck_assert(oom_mode); /* the entry failed to decode */
    }
}

/* @a and @b hold the same config, which moved, and are freed. Not
 * same_state: a refusal's message names a place in the document it was
 * checked in, and the request-id table keeps it. */
static void same_config(struct tf *a, struct tf *b)
{
    char *ea = export_of(a->f), *eb = export_of(b->f);

    ck_assert_str_eq(ea, eb);
    ck_assert_uint_gt(rg_fsm_revision(a->f), 100);
    rg_free(ea);
    rg_free(eb);
    rg_fsm_free(a->f);
    rg_fsm_free(b->f);
}

/* The mixed workload, on a replica that checks changes in their
 * neighbourhood and one that checks them whole: the same results, one
 * command per entry and packed. */
START_TEST(workload_near_and_whole_agree)
{
    struct tf a, b;
    struct wl_buf w;
    unsigned x = 11;

    tf_init(&a);
    tf_init(&b);
    rg_fsm_check_whole(b.f, 1);
    for (unsigned i = 0; i < 2000; i++) {
        struct rg_cmd c = wl_next(&x, &w);
        struct rg_fsm_result ra = run(&a, c), rb = run(&b, c);

        ck_assert_msg(ra.status == rb.status,
                      "cmd %u (type %u kind %u key %s body %s): near %d '%s', "
                      "whole %d '%s'",
                      i, c.type, c.kind, c.key ? c.key : "-",
                      c.body ? c.body : "-", ra.status, ra.message, rb.status,
                      rb.message);
    }
    same_config(&a, &b);
    /* Packed: dry runs undone, batches checked one by one. */
    tf_init(&a);
    tf_init(&b);
    rg_fsm_check_whole(b.f, 1);
    workload_packed(&a, 12, 3000);
    workload_packed(&b, 12, 3000);
    same_config(&a, &b);
}
END_TEST


/* Two replicas fed the same entries end byte-identical, and their state
 * really moved (the workload is not all refusals). */
START_TEST(determinism_two_replicas)
{
    struct tf a, b;

    tf_init(&a);
    tf_init(&b);
    workload(&a, 1, 600);
    workload(&b, 1, 600);
    same_state(a.f, b.f);
    ck_assert_uint_gt(rg_fsm_revision(a.f), 20);
    rg_fsm_free(a.f);
    rg_fsm_free(b.f);
}
END_TEST

/* Two replicas fed the same packed entries end byte-identical, with far
 * fewer validations than commands. */
START_TEST(determinism_packed_replicas)
{
    struct tf a, b;

    tf_init(&a);
    tf_init(&b);
    workload_packed(&a, 5, 3000);
    workload_packed(&b, 5, 3000);
    same_state(a.f, b.f);
    ck_assert_uint_gt(rg_fsm_revision(a.f), 100);
    ck_assert_int_eq(a.calls, b.calls);
    rg_fsm_free(a.f);
    rg_fsm_free(b.f);
}
END_TEST

/* A snapshot restored into a fresh replica gives the same hash, export,
 * revision, applied index and snapshot bytes, and both continue
 * identically, request-id table included. */
START_TEST(snapshot_roundtrip_then_continue)
{
    struct tf a, b;
    struct rg_fsm_result r1, r2;
    struct rg_cmd dup =
        cmd(RG_CMD_PUT, RG_KIND_SERVICE, 0, "keep", "d", SVC("a"));
    size_t len;
    char *snap;

    tf_init(&a);
    tf_init(&b);
    workload(&a, 7, 300);
    r1 = run(&a, dup);
    snap = snap_of(a.f, &len);
    ck_assert_int_eq(rg_fsm_restore(b.f, snap, len), 0);
    b.index = a.index;
    same_state(a.f, b.f);
    /* Restored: the request id is still known. */
    r2 = run(&b, dup);
    ck_assert_int_eq(r2.duplicate, 1);
    ck_assert_uint_eq(r2.revision, r1.revision);
    run(&a, dup);
    workload(&a, 8, 200);
    workload(&b, 8, 200);
    same_state(a.f, b.f);
    rg_free(snap);
    rg_fsm_free(a.f);
    rg_fsm_free(b.f);
}
END_TEST

static void applied_cmp_cb(void *arg, const struct rg_fsm_applied *x)
{
    struct seen *s = arg;

    seen_cb(s, x);
}

/* The applied ring survives a restore (for GET /debug/applied after a
 * restart). */
START_TEST(snapshot_keeps_applied_ring)
{
    struct tf a, b;
    struct seen sa, sb;
    size_t len;
    char *snap;

    tf_init(&a);
    tf_init(&b);
    workload(&a, 3, 50);
    snap = snap_of(a.f, &len);
    ck_assert_int_eq(rg_fsm_restore(b.f, snap, len), 0);
    memset(&sa, 0, sizeof(sa));
    memset(&sb, 0, sizeof(sb));
    rg_fsm_applied_since(a.f, 0, applied_cmp_cb, &sa);
    rg_fsm_applied_since(b.f, 0, applied_cmp_cb, &sb);
    ck_assert_uint_eq(sa.total, 50);
    ck_assert_uint_eq(sb.total, 50);
    ck_assert(memcmp(sa.rid, sb.rid, sizeof(sa.rid)) == 0);
    rg_free(snap);
    rg_fsm_free(a.f);
    rg_fsm_free(b.f);
}
END_TEST

/* Garbage, truncated snapshots and snapshots with one field wrong are
 * refused with -EINVAL and leave the state exactly as it was. */
START_TEST(restore_garbage_leaves_state)
{
    static const char *const bad[] = {
        "",
        "x",
        "{}",
        "[]",
        "null",
        "{\"format\":2,\"revision\":0,\"applied_index\":0,\"store\":{},"
        "\"nodes\":[],\"dedupe\":[],\"applied\":[]}",
    };
    static const char *const edits[][2] = {
        {"\"format\":1", "\"format\":\"1\""},
        {"\"revision\":", "\"revision\":\"x\",\"r\":"},
        {"\"services\":[", "\"services\":[[1,{\"id\":\"\"}],"},
        {"\"services\":[", "\"services\":[[0,{\"id\":\"q\"}],"},
        {"\"services\":[", "\"services\":[[1,[]],"},
        {"\"routes\":[", "\"routes\":[7,"},
        {"\"plugins\":[",
         "\"plugins\":[[1,{\"id\":\"p\"}],[1,{\"id\":\"p\"}],"},
        {"\"nodes\":[", "\"nodes\":[{\"id\":0},"},
        {"\"nodes\":[", "\"nodes\":[{\"id\":5},{\"id\":5},"},
        {"\"dedupe\":[", "\"dedupe\":[[\"a\",9,1,\"\"],"},
        {"\"dedupe\":[", "\"dedupe\":[[\"\",0,1,\"\"],"},
        {"\"dedupe\":[", "\"dedupe\":[[\"x\",0,1,\"\"],[\"x\",0,1,\"\"],"},
        {"\"applied\":[", "\"applied\":[[1,1,1,200,0,0,\"\"],"},
        {"\"applied\":[", "\"applied\":[[1,1,1,1,0,0],"},
        {"\"store\":{", "\"store\":{\"vaults\":[],"},
        {"\"store\":{", "\"store\":{\"upstreams\":{},"},
        {"\"store\":{", "\"extra\":1,\"store\":{"},
    };
    struct tf a, b;
    size_t len, before_len, i, n;
    char *snap, *before, *after, *p, *m;

    tf_init(&a);
    tf_init(&b);
    workload(&a, 5, 200);
    run(&a, cmd(RG_CMD_NODE_SET, 0, 0, "nn", "9", "{}"));
    put(&a, RG_KIND_SERVICE, "aaa", SVC("a"), 0);
    put(&a, RG_KIND_PLUGIN, "aaa", "{}", 0);
    snap = snap_of(a.f, &len);
    workload(&b, 6, 100);
    before = snap_of(b.f, &before_len);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_int_eq(rg_fsm_restore(b.f, bad[i], strlen(bad[i])), -EINVAL);
    for (n = 0; n < len; n += 1 + n / 16)
        ck_assert_int_eq(rg_fsm_restore(b.f, snap, n), -EINVAL);
    for (i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        p = strstr(snap, edits[i][0]);
        ck_assert_msg(p != NULL, "edit %zu: no %s", i, edits[i][0]);
        m = malloc(len + strlen(edits[i][1]) + 1);
        ck_assert_ptr_nonnull(m);
        sprintf(m, "%.*s%s%s", (int)(p - snap), snap, edits[i][1],
                p + strlen(edits[i][0]));
        ck_assert_msg(rg_fsm_restore(b.f, m, strlen(m)) == -EINVAL,
                      "edit %zu accepted", i);
        free(m);
    }
    after = snap_of(b.f, &n);
    ck_assert_uint_eq(n, before_len);
    ck_assert(memcmp(before, after, n) == 0);
    ck_assert_int_eq(rg_fsm_restore(b.f, snap, len), 0);
    same_state(a.f, b.f);
    rg_free(snap);
    rg_free(before);
    rg_free(after);
    rg_fsm_free(a.f);
    rg_fsm_free(b.f);
}
END_TEST

/* A malformed entry changes nothing but the applied index. */
START_TEST(malformed_entry_skipped)
{
    struct tf t;
    struct rg_cmd c = cmd(RG_CMD_PUT, RG_KIND_SERVICE, 0, "r", "s", SVC("a"));
    size_t len;
    unsigned char *b = encode(&c, 1, &len);
    uint64_t h;

    tf_init(&t);
    h = rg_fsm_config_hash(t.f);
    b[len - 1] = 1; /* padding */
    ck_assert_uint_eq(rg_fsm_apply(t.f, 5, b, len, NULL), 0);
    ck_assert_uint_eq(rg_fsm_apply(t.f, 6, b, len - 8, NULL), 0);
    ck_assert_uint_eq(rg_fsm_apply(t.f, 7, NULL, 0, NULL), 0);
    ck_assert_uint_eq(rg_fsm_applied_index(t.f), 7);
    ck_assert_uint_eq(rg_fsm_revision(t.f), 0);
    ck_assert_uint_eq(rg_fsm_config_hash(t.f), h);
    free(b);
    rg_fsm_free(t.f);
}
END_TEST

/* --- allocation failures --------------------------------------------- */

/* Was the failure armed with rg_alloc_fail_after(@nth) still pending?
 * Then one of the next @nth allocations fails (and disarms it). */
static int failure_pending(long nth)
{
    long i;
    void *p;

    for (i = 0; i < nth; i++) {
        p = rg_malloc(1);
        if (p == NULL)
            return 1;
        rg_free(p);
    }
    return 0;
}

/* One pass of everything, under an allocation that fails at step @nth.
 * Returns 1 when the pass ran without the failure firing. */
static int alloc_pass(long nth)
{
    struct rg_fsm *g = NULL;
    struct tf t;
    void *snap = NULL;
    size_t len = 0;
    char *e;
    int done;

    oom_mode = 1;
    rg_alloc_fail_after(nth);
    t.f = rg_fsm_new(validate, NULL);
    t.index = 1;
    if (t.f != NULL) {
        workload(&t, 11, 40);
        workload_packed(&t, 12, 40); /* dry runs and their undo */
        put(&t, RG_KIND_SERVICE, "s", SVC("a"), 0);
        replace_all(&t, decl, 0);
        rg_free(rg_fsm_export(t.f, NULL));
        if (rg_fsm_snapshot(t.f, &snap, &len) == 0 &&
            (g = rg_fsm_new(NULL, NULL)) != NULL &&
            rg_fsm_restore(g, snap, len) != 0)
            ck_assert(oom_mode); /* it fails only for lack of memory */
    }
    done = failure_pending(nth);
    rg_alloc_fail_after(0);
    oom_mode = 0;
    if (t.f != NULL) {
        /* Whatever failed, the hash still describes the export. */
        e = export_of(t.f);
        ck_assert_uint_eq(rg_fsm_config_hash(t.f), fnv(e, strlen(e)));
        rg_free(e);
    }
    rg_free(snap);
    rg_fsm_free(g);
    rg_fsm_free(t.f);
    return done;
}

/* Failing each allocation in turn (ours and, routed through rg_malloc
 * here, jansson's) never crashes or leaks (ASan), and leaves a consistent
 * export/hash pair. */
START_TEST(allocation_failures_never_crash)
{
    long nth;

    json_set_alloc_funcs(rg_malloc, rg_free);
    for (nth = 1; nth < 20000; nth++)
        if (alloc_pass(nth))
            break;
    ck_assert_int_lt(nth, 20000);
}
END_TEST

/* --- one verdict: alone or whole (a property test) --------------------- */

/* The real validator (the gateway parser, as admin_state.c installs it),
 * recording the size of each document it is shown. */
struct doc_sizes {
    size_t docs, objects;
};

static int real_validate(void *arg, const json_t *doc, char *err, size_t cap)
{
    struct doc_sizes *w = arg;
    static const char *const lists[] = {"services", "routes", "consumers",
                                        "plugins"};

    w->docs++;
    for (size_t i = 0; i < 4; i++)
        w->objects += json_array_size(json_object_get(doc, lists[i]));
    return rg_admin_validate(NULL, doc, err, cap);
}

/* Ids: four per kind, and one upper-case spelling (ids compare without
 * case for the validator, exactly as keys). */
static const char *const svc_ids[] = {
    "0f9d5a38-5b8e-4d5c-9a55-4c3f3f1b2a01",
    "1f9d5a38-5b8e-4d5c-9a55-4c3f3f1b2a02",
    "2f9d5a38-5b8e-4d5c-9a55-4c3f3f1b2a03",
    "3f9d5a38-5b8e-4d5c-9a55-4c3f3f1b2a04",
    "0F9D5A38-5B8E-4D5C-9A55-4C3F3F1B2A01",
};
static const char *const route_ids[] = {
    "7c1e0b0e-7d31-4b8a-8a51-0a5a8f3c9e11",
    "8c1e0b0e-7d31-4b8a-8a51-0a5a8f3c9e12",
    "9c1e0b0e-7d31-4b8a-8a51-0a5a8f3c9e13",
    "ac1e0b0e-7d31-4b8a-8a51-0a5a8f3c9e14",
};
static const char *const cons_ids[] = {
    "4b3e1a2c-1111-4a4a-9b9b-000000000001",
    "4b3e1a2c-1111-4a4a-9b9b-000000000002",
    "4b3e1a2c-1111-4a4a-9b9b-000000000003",
};

static const char *const plugin_ids[] = {
    "5d2c0a1b-2222-4b4b-8c8c-000000000001",
    "5d2c0a1b-2222-4b4b-8c8c-000000000002",
    "5D2C0A1B-2222-4B4B-8C8C-000000000001",
};

/* A generated command: PUTs of services (names shared, missing, or not a
 * string; a bad field now and then), routes (by service id in either case,
 * by name, dangling, without a service), consumers (usernames in either
 * case, custom_ids and nested key-auth keys that clash) and plugins (two types, scoped to
 * services, routes and consumers by id or name, instance names that
 * clash), and DELETEs of each. */
static struct rg_cmd gen_cmd(unsigned *xp, char *body, size_t cap)
{
    static const char *const names[] = {"\"a\"", "\"b\"", "\"c\"", NULL, "5"};
    static const char *const refs[] = {
        "{\"id\":\"%s\"}", "{\"name\":\"a\"}", "{\"name\":\"b\"}",
        "{\"name\":\"zz\"}", NULL, "\"%s\"", "\"a\"",
    };
    /* Nested plugins: checked whole while stored. */
    static const char *const nested[] = {
        ",\"plugins\":[{\"name\":\"test-phases\","
        "\"instance_name\":\"i1\"}]",
        ",\"plugins\":[{\"name\":\"test-phases-b\"}]",
    };
    static const char *const rnames[] = {"", "\"name\":\"r1\",",
                                         "\"name\":\"r2\","};
    static const char *const cids[] = {",\"custom_id\":\"k1\"",
                                       ",\"custom_id\":\"k2\"", "", "", ""};
    static const char *const users[] = {"u0", "u1", "U1"};
    static const char *const scopes[] = {
        "",
        ",\"service\":{\"id\":\"%s\"}",
        ",\"service\":{\"name\":\"a\"}",
        ",\"route\":{\"id\":\"%s\"}",
        ",\"route\":{\"name\":\"r1\"}",
        ",\"consumer\":{\"username\":\"u1\"}",
        ",\"consumer\":{\"id\":\"%s\"}",
    };
    static const char *const insts[] = {"", ",\"instance_name\":\"i1\"",
                                        ",\"instance_name\":\"i2\""};
    unsigned x = *xp = *xp * 1103515245u + 12345u;
    unsigned k = (x >> 24) % 13, a = (x >> 4) % 5, b = (x >> 8) % 5;
    unsigned c = (x >> 12) % 4, d = (x >> 16) % 3, e = (x >> 20) % 7;
    char name[16] = "", ref[80] = "";
    int n;

    if (k < 3) {
        if (names[a] != NULL)
            snprintf(name, sizeof(name), "\"name\":%s,", names[a]);
        n = snprintf(body, cap, "{%s\"host\":\"h%u\"%s%s}", name, d,
                     b == 4 ? ",\"port\":\"eighty\"" : "",
                     b == 2 && a < 2 ? nested[a] : "");
        ck_assert_int_lt(n, (int)cap);
        return cmd(RG_CMD_PUT, RG_KIND_SERVICE, 0, NULL, svc_ids[c + (b == 3)],
                   body);
    }
    if (k < 6) {
        unsigned ri = a < 4 ? a : a == 4 && b < 3 ? 4 + b : 4;

        if (refs[ri] != NULL)
            snprintf(ref, sizeof(ref), refs[ri], svc_ids[b]);
        n = snprintf(body, cap, "{%s\"paths\":[\"/p%u\"]%s%s}", rnames[d], c,
                     ref[0] ? ",\"service\":" : "", ref);
        ck_assert_int_lt(n, (int)cap);
        return cmd(RG_CMD_PUT, RG_KIND_ROUTE, 0, NULL, route_ids[c], body);
    }
    if (k < 8) {
        /* Now and then a key-auth credential (nested: checked whole
         * while stored), keys clashing across consumers. */
        n = snprintf(body, cap, "{\"username\":\"%s\"%s%s}", users[a % 3],
                     cids[b], e != 6 ? ""
                              : c < 2 ? ",\"keyauth_credentials\":"
                                        "[{\"key\":\"ka\"}]"
                                      : ",\"keyauth_credentials\":"
                                        "[{\"key\":\"kb\"}]");
        ck_assert_int_lt(n, (int)cap);
        return cmd(RG_CMD_PUT, RG_KIND_CONSUMER, 0, NULL, cons_ids[d], body);
    }
    if (k < 10) {
        const char *to = e < 3 ? svc_ids[b % 4] : e < 5 ? route_ids[b % 4]
                                                        : cons_ids[b % 3];

        snprintf(ref, sizeof(ref), scopes[e], to);
        n = snprintf(body, cap, "{\"name\":\"test-phases%s\"%s%s%s}",
                     a < 3 ? "" : "-b", ref, insts[d],
                     c == 0 ? ",\"config\":{\"tag\":\"t\"}" : "");
        ck_assert_int_lt(n, (int)cap);
        return cmd(RG_CMD_PUT, RG_KIND_PLUGIN, 0, NULL, plugin_ids[b % 3],
                   body);
    }
    if (k == 10)
        return cmd(RG_CMD_DELETE, RG_KIND_SERVICE, 0, NULL, svc_ids[c], NULL);
    if (k == 12)
        return cmd(RG_CMD_DELETE, RG_KIND_PLUGIN, 0, NULL, plugin_ids[c % 2],
                   NULL);
    if (d == 0)
        return cmd(RG_CMD_DELETE, RG_KIND_CONSUMER, 0, NULL, cons_ids[c % 3],
                   NULL);
    return cmd(RG_CMD_DELETE, RG_KIND_ROUTE, 0, NULL, route_ids[c], NULL);
}

/* Two replicas with the real validator and its rules, one checking every
 * change in the whole would-be config: after each generated command their
 * verdicts, revisions and exports agree, and the shipped one really did
 * check most changes in smaller documents. */
START_TEST(near_and_whole_agree)
{
    struct doc_sizes sa = {0, 0}, sb = {0, 0};
    unsigned alone = 0, oks = 0, refused = 0, plugin_oks = 0;

    for (unsigned seed = 1; seed <= 4; seed++) {
        struct tf a = {rg_fsm_new(real_validate, &sa), 1, 0};
        struct tf b = {rg_fsm_new(real_validate, &sb), 1, 0};
        unsigned x = seed;
        size_t nx;
        const struct rg_xref *xr = rg_gateway_xrefs(&nx);

        ck_assert_ptr_nonnull(a.f);
        ck_assert_ptr_nonnull(b.f);
        ck_assert_int_eq(rg_fsm_set_xrefs(a.f, xr, nx), 0);
        rg_fsm_check_whole(b.f, 1);
        for (unsigned i = 0; i < 300; i++) {
            char body[256];
            struct rg_cmd c = gen_cmd(&x, body, sizeof(body));
            size_t oa = sa.objects, ob = sb.objects;
            struct rg_fsm_result ra = run(&a, c), rb = run(&b, c);
            char *ea, *eb;

            ck_assert_msg(ra.status == rb.status,
                          "seed %u cmd %u (%s %s): near %d '%s', "
                          "whole %d '%s'",
                          seed, i, c.key, body, ra.status, ra.message,
                          rb.status, rb.message);
            ck_assert_uint_eq(ra.revision, rb.revision);
            alone += sa.objects - oa < sb.objects - ob;
            oks += ra.status == RG_FSM_OK;
            refused += ra.status == RG_FSM_INVALID;
            plugin_oks += ra.status == RG_FSM_OK &&
                          c.kind == RG_KIND_PLUGIN && c.type == RG_CMD_PUT;
            ea = export_of(a.f);
            eb = export_of(b.f);
            ck_assert_str_eq(ea, eb);
            rg_free(ea);
            rg_free(eb);
        }
        rg_fsm_free(a.f);
        rg_fsm_free(b.f);
    }
    /* The workload exercises both verdicts and the fast path. */
    ck_assert_uint_gt(alone, 100);
    ck_assert_uint_gt(oks, 100);
    ck_assert_uint_gt(refused, 100);
    ck_assert_uint_gt(plugin_oks, 30);
}
END_TEST

static char purged[8][17];
static unsigned n_purged;

static void on_purge(void *arg, const char *key, size_t len)
{
    (void)arg;
    ck_assert_uint_lt(n_purged, 8);
    memcpy(purged[n_purged], key, len);
    purged[n_purged++][len] = '\0';
}

START_TEST(cache_purge_calls_the_hook_only)
{
    struct tf t;
    struct rg_fsm_result r;
    uint64_t rev, hash;

    tf_init(&t);
    put(&t, RG_KIND_SERVICE, "aaa", SVC("a"), 0);
    rev = rg_fsm_revision(t.f);
    hash = rg_fsm_config_hash(t.f);
    rg_fsm_on_purge(t.f, on_purge, NULL);
    n_purged = 0;
    r = run(&t, cmd(RG_CMD_CACHE_PURGE, 0, 0, "p1", "00112233445566aF", NULL));
    ck_assert_int_eq(r.status, RG_FSM_OK);
    r = run(&t, cmd(RG_CMD_CACHE_PURGE, 0, 0, "p2", "", NULL));
    ck_assert_int_eq(r.status, RG_FSM_OK);
    r = run(&t, cmd(RG_CMD_CACHE_PURGE, 0, 0, "p1", "00112233445566aF", NULL));
    ck_assert_int_eq(r.duplicate, 1); /* a retry purges nothing again */
    r = run(&t, cmd(RG_CMD_CACHE_PURGE, 0, 0, "p3", "0011223344556677x",
                    NULL));
    ck_assert_int_eq(r.status, RG_FSM_INVALID);
    r = run(&t, cmd(RG_CMD_CACHE_PURGE, 0, 0, "p4", "00112233445566zz", NULL));
    ck_assert_int_eq(r.status, RG_FSM_INVALID);
    r = run(&t, cmd(RG_CMD_CACHE_PURGE, 0, 0, "p5", "", "{}"));
    ck_assert_int_eq(r.status, RG_FSM_INVALID);
    ck_assert_uint_eq(n_purged, 2);
    ck_assert_str_eq(purged[0], "00112233445566aF");
    ck_assert_str_eq(purged[1], "");
    ck_assert_uint_eq(rg_fsm_revision(t.f), rev);
    ck_assert_uint_eq(rg_fsm_config_hash(t.f), hash);
    rg_fsm_free(t.f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fsm");
    TCase *tc = tcase_create("fsm");
    SRunner *sr;
    int nf;

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, empty_export_is_canonical);
    tcase_add_test(tc, cache_purge_calls_the_hook_only);
    tcase_add_test(tc, put_creates_and_sets_id);
    tcase_add_test(tc, each_in_id_order);
    tcase_add_test(tc, put_refuses_bad_input);
    tcase_add_test(tc, cas_rules);
    tcase_add_test(tc, validator_guards_every_change);
    tcase_add_test(tc, names_unique_per_kind);
    tcase_add_test(tc, workload_near_and_whole_agree);
    tcase_add_test(tc, replace_all_flattens_routes);
    tcase_add_test(tc, replace_all_flattens_targets);
    tcase_add_test(tc, replace_all_invalid_applies_nothing);
    tcase_add_test(tc, replace_all_cas_on_global_revision);
    tcase_add_test(tc, export_loads_back_and_keeps_revisions);
    tcase_add_test(tc, duplicate_request_not_reapplied);
    tcase_add_test(tc, duplicate_within_one_entry);
    tcase_add_test(tc, reused_request_id_different_command_applies);
    tcase_add_test(tc, dedupe_table_evicts_oldest);
    tcase_add_test(tc, request_id_printable_only);
    tcase_add_test(tc, node_registry);
    tcase_add_test(tc, applied_ring_order_and_since);
    tcase_add_test(tc, applied_ring_bounded);
    tcase_add_test(tc, determinism_two_replicas);
    tcase_add_test(tc, determinism_packed_replicas);
    tcase_add_test(tc, batch_invalid_in_middle_same_as_one_by_one);
    tcase_add_test(tc, batch_valid_validated_once);
    tcase_add_test(tc, put_checked_alone);
    tcase_add_test(tc, batch_validates_final_config);
    tcase_add_test(tc, snapshot_roundtrip_then_continue);
    tcase_add_test(tc, snapshot_keeps_applied_ring);
    tcase_add_test(tc, restore_garbage_leaves_state);
    tcase_add_test(tc, malformed_entry_skipped);
    tcase_add_test(tc, allocation_failures_never_crash);
    tcase_add_test(tc, near_and_whole_agree);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
