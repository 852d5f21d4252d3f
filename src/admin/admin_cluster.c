/* /cluster (members, leader, join, promote, remove, transfer) and the
 * fault-injection hooks /status and /debug/applied (docs/fault-injection.md §4.2 items 1
 * and 4). Membership changes run on the leader (followers forward them):
 * join = add as spare, assign standby, record the node (NODE_SET);
 * promote = assign voter, record the role; remove = remove, NODE_DEL.
 * Once the Raft change committed, any later failure answers 504 unknown.
 * PUT /cluster/members/{id} rewrites a member's registry record. */
#include "admin/admin_int.h"
#include "upstream/consul.h"
#include "control/breaker.h"
#include "control/readiness.h"
#include "plugins/breaker_table.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *role_name(enum rg_raft_role r)
{
    switch (r) {
    case RG_ROLE_VOTER: return "voter";
    case RG_ROLE_STANDBY: return "standby";
    default: return "spare";
    }
}

static json_t *hex64(uint64_t v)
{
    char b[17];

    snprintf(b, sizeof(b), "%016" PRIx64, v);
    return json_string(b);
}

/* ---- reads ---- */

static void add_member(void *arg, const struct rg_raft_member *m)
{
    json_t *l = arg;

    json_array_append_new(l, json_pack("{s:I,s:s,s:s}", "id",
                                       (json_int_t)m->id, "raft",
                                       m->address ? m->address : "",
                                       "role", role_name(m->role)));
}

/* Members from the Raft configuration, completed from the registry. */
static json_t *members(const struct rg_admin *a)
{
    const struct rg_fsm *f = rg_raft_fsm(a->raft);
    json_t *l = json_array(), *m;
    size_t i;

    rg_raft_members(a->raft, add_member, l);
    json_array_foreach(l, i, m) {
        uint64_t id = (uint64_t)json_integer_value(json_object_get(m, "id"));
        const json_t *rec = rg_fsm_node(f, id);
        const char *k;
        json_t *v;

        json_object_foreach((json_t *)rec, k, v)
            if (json_object_get(m, k) == NULL)
                json_object_set(m, k, v);
    }
    return l;
}

static void get_cluster(struct rg_areq *q)
{
    struct rg_raft_status st;

    if (q->a->raft == NULL) {
        rg_admin__reply(q, 200, json_pack("{s:s,s:[]}", "mode",
                                          "single-node", "members"),
                        rg_admin__revision(q->a), NULL);
        return;
    }
    rg_raft_status(q->a->raft, &st);
    rg_admin__reply(q, 200,
                    json_pack("{s:I,s:s,s:I,s:I,s:I,s:I,s:I,s:o}", "id",
                              (json_int_t)st.id, "state", st.state,
                              "leader_id", (json_int_t)st.leader_id, "term",
                              (json_int_t)st.term, "commit_index",
                              (json_int_t)st.commit_index, "applied_index",
                              (json_int_t)st.applied_index, "revision",
                              (json_int_t)st.revision, "members",
                              members(q->a)),
                    st.revision, NULL);
}

/* The unsafe test switches this node runs with (docs/fault-injection.md §4.2 item 9),
 * so a checker can tell a negative control from a real run. */
static json_t *unsafe_switches(const struct rg_admin *a)
{
    json_t *l = json_array();

    if (a->unsafe_local_reads)
        json_array_append_new(l, json_string("local-admin-reads"));
    if (a->unsafe_lease_reclaim)
        json_array_append_new(l, json_string("lease-reclaim-early"));
    return l;
}

/* The breakers as this node enforces them (hook 1's "cb"): per service
 * {state, version (the epoch), prober, local (the node's own breaker:
 * policy local, or cut off from the leader; its versions are not the
 * replicated sequence)}. */
static void add_breaker(void *arg, int i, struct rg_brt_slot *s)
{
    static const char *const names[] = {"closed", "open", "half_open",
                                        "closed"};
    uint64_t w = atomic_load(&s->word);

    (void)i;
    json_object_set_new(
        arg, s->name,
        json_pack("{s:s,s:I,s:I,s:b,s:I}", "state", names[rg_brt_state_of(w)],
                  "version", (json_int_t)rg_brt_epoch_of(w), "prober",
                  (json_int_t)atomic_load(&s->prober), "local",
                  rg_brt_local_of(w), "refused",
                  (json_int_t)atomic_load(&s->refused)));
}

static json_t *breakers(void)
{
    json_t *o = json_object();

    if (o != NULL)
        rg_brt_each(add_breaker, o);
    return o;
}

static void get_status(struct rg_areq *q)
{
    struct rg_raft_status st = {0};
    const struct rg_fsm *f = rg_admin__fsm(q->a);
    /* A dump of the store when it changed since the last: computed here,
     * not in rg_raft_status, which every admin request calls. */
    uint64_t hash = f ? rg_fsm_config_hash(f) : 0;
    json_t *o;

    if (q->a->raft != NULL)
        rg_raft_status(q->a->raft, &st);
    else {
        st.state = "single-node";
        st.revision = f ? rg_fsm_revision(f) : 0;
    }
    o = json_pack("{s:I,s:o,s:b,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:o,"
                  "s:o,s:o}",
                  "id", (json_int_t)st.id, "incarnation",
                  hex64(st.incarnation), "ready",
                  q->a->raft == NULL || st.leader_id != 0, "raft_state",
                  st.state, "term", (json_int_t)st.term, "leader_id",
                  (json_int_t)st.leader_id, "commit_index",
                  (json_int_t)st.commit_index, "applied_index",
                  (json_int_t)st.applied_index, "config_version",
                  (json_int_t)st.revision, "revision",
                  (json_int_t)st.revision, "served_revision",
                  (json_int_t)(q->a->raft ? q->a->served : st.revision),
                  "config_hash",
                  hex64(hash), "cb", breakers(), "quota",
                  rg_quota_status(q->a->quota), "unsafe",
                  unsafe_switches(q->a));
    /* Each Consul watch's state (upstream/consul.h). */
    if (o != NULL)
        json_object_set_new(o, "consul", rg_consul_status(q->a->consul));
    /* obs: the reasons this node is degraded (control/readiness.h). */
    if (o != NULL)
        json_object_set_new(o, "degraded",
                            rg_degraded_json(rg_degraded(q->a->readiness)));
    /* auth: the raft transport's keyed handshake (raft.cluster_key_file). */
    if (o != NULL)
        json_object_set_new(o, "transport_auth",
                            json_boolean(st.transport_auth));
    rg_admin__reply(q, 200, o, st.revision, NULL);
}

static const char *type_name(uint8_t t)
{
    static const char *const n[] = {"?",          "put",       "delete",
                                     "replace_all", "node_set", "node_del",
                                     "lease_req",  "lease_ret", "breaker",
                                     "cache_purge"};

    return t < sizeof(n) / sizeof(n[0]) ? n[t] : "?";
}

static const char *status_name(enum rg_fsm_status s)
{
    static const char *const n[] = {"ok", "conflict", "not_found",
                                    "invalid"};

    return (unsigned)s < 4 ? n[s] : "?";
}

static void add_applied(void *arg, const struct rg_fsm_applied *e)
{
    const char *kind = rg_kind_name((enum rg_kind)e->kind);

    json_array_append_new(
        arg, json_pack("{s:I,s:I,s:s,s:s,s:s,s:s,s:I}", "index",
                       (json_int_t)e->index, "term", (json_int_t)e->term,
                       "request_id", e->rid, "kind", kind ? kind : "",
                       "type", type_name(e->type), "status",
                       status_name(e->status), "revision",
                       (json_int_t)e->revision));
}

static void get_applied(struct rg_areq *q)
{
    const struct rg_fsm *f = rg_admin__fsm(q->a);
    json_t *l = json_array();
    char v[32];
    uint64_t since = 0;

    if (rg_admin__param(q, "since", v, sizeof(v)) == 0)
        since = strtoull(v, NULL, 10);
    if (f != NULL)
        rg_fsm_applied_since(f, since, add_applied, l);
    rg_admin__reply(q, 200, l, rg_admin__revision(q->a), NULL);
}

/* ---- membership ---- */

/* A membership change or transfer that did not commit (it was refused or
 * failed before committing). */
static void change_failed(struct rg_areq *q, int status, const char *step)
{
    switch (status) {
    case RG_RAFT_ENOTLEADER:
    case RG_RAFT_ESHUTDOWN:
    case RG_RAFT_EBUSY:
    case -ENOMEM:
        rg_admin__not_proposed(q, rg_strerror(status));
        break;
    case -ETIMEDOUT: /* a promotee that did not catch up: nothing changed */
        if (strcmp(step, "transfer") == 0)
            rg_admin__unknown(q, "transfer: the target did not take over "
                                 "within the election timeout");
        else
            rg_admin__not_proposed(q, "the node did not catch up");
        break;
    case RG_RAFT_EUNKNOWN:
        rg_admin__unknown(q, rg_strerror(status));
        break;
    case -ENOENT:
        rg_admin__error(q, 404, "Not found");
        break;
    case -EEXIST:
        rg_admin__error(q, 409, "%s: id or raft address already a member",
                        step);
        break;
    case -EALREADY:
        rg_admin__error(q, 409, "%s: the member already has that role",
                        step);
        break;
    case -EINVAL:
        rg_admin__error(q, 400, "%s: %s", step, rg_strerror(status));
        break;
    default:
        rg_admin__error(q, 500, "%s: %s", step, rg_strerror(status));
    }
}

/* A step after the membership change committed failed: the change stays,
 * so the outcome the client sees is unknown, never not-proposed. */
static void after_commit_failed(struct rg_areq *q, int status,
                                const char *step)
{
    char msg[256];

    snprintf(msg, sizeof(msg), "membership changed, then %s: %s", step,
             rg_strerror(status));
    rg_admin__unknown(q, msg);
}

static void on_recorded(struct rg_areq *q, const struct rg_fsm_result *res,
                        unsigned n)
{
    json_t *o = q->obj;

    q->obj = NULL;
    rg_admin__reply(q, q->ok_status, q->ok_status == 204 ? NULL : o,
                    res[0].revision, NULL);
    if (q->ok_status == 204)
        json_decref(o);
}

static uint64_t obj_id(const struct rg_areq *q)
{
    return (uint64_t)json_integer_value(json_object_get(q->obj, "id"));
}

/* Propose the node record in q->obj (NODE_SET) or its removal. Runs
 * whether or not the client is still connected: the registry follows the
 * Raft configuration, not the client. */
static void record(struct rg_areq *q, int del)
{
    const struct rg_fsm *f = rg_raft_fsm(q->a->raft);
    struct rg_cmd c = {0};
    char key[24];
    char *text;

    if (del && rg_fsm_node(f, obj_id(q)) == NULL) {
        /* nothing recorded: the removal is the whole answer */
        json_decref(q->obj);
        q->obj = NULL;
        rg_admin__reply(q, 204, NULL, rg_fsm_revision(f), NULL);
        return;
    }
    text = del ? NULL : json_dumps(q->obj, JSON_COMPACT | JSON_SORT_KEYS);
    snprintf(key, sizeof(key), "%" PRIu64, obj_id(q));
    c.type = del ? RG_CMD_NODE_DEL : RG_CMD_NODE_SET;
    c.key = key;
    c.key_len = (uint16_t)strlen(key);
    c.body = text;
    c.body_len = text ? (uint32_t)strlen(text) : 0;
    q->on_ok = on_recorded;
    rg_admin__propose(q, &c, 1);
    rg_admin__jfree(text);
}

static void on_standby(void *arg, int status)
{
    struct rg_areq *q = arg;

    if (status != 0)
        after_commit_failed(q, status, "assign standby");
    else
        record(q, 0);
    rg_admin__unref(q);
}

static void on_added(void *arg, int status)
{
    struct rg_areq *q = arg;
    int rv;

    if (status != 0) {
        change_failed(q, status, "add");
        rg_admin__unref(q);
        return;
    }
    q->committed = 1;
    rv = rg_raft_assign(q->a->raft, obj_id(q), RG_ROLE_STANDBY, on_standby,
                        q);
    if (rv != 0) {
        after_commit_failed(q, rv, "assign standby");
        rg_admin__unref(q);
    }
}

/* The registry record from a request body: {id, raft, admin, proxy?,
 * name?}. @id 0 = the body's. NULL when it lacks a required field. */
static json_t *join_body(struct rg_areq *q)
{
    json_t *b = json_loadb(q->body, q->body_len, 0, NULL);
    json_int_t id = json_integer_value(json_object_get(b, "id"));
    const char *raft = json_string_value(json_object_get(b, "raft"));
    const char *adm = json_string_value(json_object_get(b, "admin"));
    const char *proxy = json_string_value(json_object_get(b, "proxy"));
    const char *name = json_string_value(json_object_get(b, "name"));
    json_t *rec = NULL;
    char nm[32];

    if (id >= 1 && raft != NULL && adm != NULL) {
        /* the node corrects the name from its own node.name once it
         * runs; this default is raft/node.c's */
        snprintf(nm, sizeof(nm), "node-%lld", (long long)id);
        rec = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s}", "id", id, "name",
                        name && *name ? name : nm, "raft", raft, "admin", adm,
                        "proxy", proxy ? proxy : "", "role", "standby");
    }
    json_decref(b);
    return rec;
}

static void join(struct rg_areq *q)
{
    int rv;

    if ((q->obj = join_body(q)) == NULL) {
        rg_admin__error(q, 400, "expected {\"id\": n >= 1, \"raft\": "
                                "\"host:port\", \"admin\": \"host:port\", "
                                "\"proxy\"?, \"name\"?}");
        return;
    }
    q->ok_status = 201;
    rg_admin__ref(q);
    rv = rg_raft_add(q->a->raft, obj_id(q),
                     json_string_value(json_object_get(q->obj, "raft")),
                     on_added, q);
    if (rv != 0) {
        rg_admin__unref(q);
        change_failed(q, rv, "add");
    }
}

static void on_promoted(void *arg, int status)
{
    struct rg_areq *q = arg;

    if (status != 0)
        change_failed(q, status, "assign voter");
    else {
        q->committed = 1;
        record(q, 0);
    }
    rg_admin__unref(q);
}

static void on_removed(void *arg, int status)
{
    struct rg_areq *q = arg;

    if (status != 0)
        change_failed(q, status, "remove");
    else {
        q->committed = 1;
        record(q, 1);
    }
    rg_admin__unref(q);
}

struct find_member {
    uint64_t id;
    int found;
    enum rg_raft_role role;
    char address[256];
};

static void find_member_cb(void *arg, const struct rg_raft_member *m)
{
    struct find_member *fm = arg;

    if (m->id != fm->id)
        return;
    fm->found = 1;
    fm->role = m->role;
    snprintf(fm->address, sizeof(fm->address), "%s",
             m->address ? m->address : "");
}

/* Fill @fm for member fm->id; 1 when it is a member. */
static int find_member(const struct rg_admin *a, struct find_member *fm)
{
    fm->found = 0;
    rg_raft_members(a->raft, find_member_cb, fm);
    return fm->found;
}

/* promote or remove member @id (404 when it is not a member). */
static void change(struct rg_areq *q, uint64_t id, int promote)
{
    const json_t *rec = rg_fsm_node(rg_raft_fsm(q->a->raft), id);
    struct find_member fm = {.id = id};
    int rv;

    if (!find_member(q->a, &fm)) {
        rg_admin__error(q, 404, "Not found");
        return;
    }
    q->obj = rec ? json_deep_copy(rec) : json_object();
    json_object_set_new(q->obj, "id", json_integer((json_int_t)id));
    if (json_object_get(q->obj, "raft") == NULL)
        json_object_set_new(q->obj, "raft", json_string(fm.address));
    if (promote)
        json_object_set_new(q->obj, "role", json_string("voter"));
    q->ok_status = promote ? 200 : 204;
    rg_admin__ref(q);
    rv = promote ? rg_raft_assign(q->a->raft, id, RG_ROLE_VOTER, on_promoted,
                                  q)
                 : rg_raft_remove(q->a->raft, id, on_removed, q);
    if (rv == -EALREADY && promote) {
        /* already a voter: make sure the registry says so */
        q->committed = 1;
        record(q, 0);
        rg_admin__unref(q);
    } else if (rv != 0) {
        rg_admin__unref(q);
        change_failed(q, rv, promote ? "assign voter" : "remove");
    }
}

/* PUT /cluster/members/{id}: (re)write member @id's registry record. The
 * Raft configuration has the last word on "raft" and "role"; name, admin
 * and proxy come from the body (or stay as recorded). Each member sends
 * its own through this (admin_self.c). */
static void set_record(struct rg_areq *q, uint64_t id)
{
    const json_t *old = rg_fsm_node(rg_raft_fsm(q->a->raft), id);
    json_t *b = json_loadb(q->body, q->body_len, 0, NULL);
    struct find_member fm = {.id = id};
    static const char *const keep[] = {"name", "admin", "proxy"};
    json_int_t bid = json_integer_value(json_object_get(b, "id"));
    char nm[32];

    if (!json_is_object(b) ||
        (json_object_get(b, "id") != NULL && bid != (json_int_t)id)) {
        json_decref(b);
        rg_admin__error(q, 400, "expected {\"name\"?, \"admin\"?, "
                                "\"proxy\"?} (\"id\", when given, as in "
                                "the path)");
        return;
    }
    if (!find_member(q->a, &fm)) {
        json_decref(b);
        rg_admin__error(q, 404, "Not found");
        return;
    }
    snprintf(nm, sizeof(nm), "node-%" PRIu64, id);
    q->obj = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s}", "id", (json_int_t)id,
                       "name", nm, "raft", fm.address, "admin", "", "proxy",
                       "", "role", role_name(fm.role));
    for (unsigned i = 0; i < 3 && q->obj != NULL; i++) {
        const json_t *v = json_object_get(b, keep[i]);

        if (!json_is_string(v) || json_string_length(v) == 0)
            v = json_object_get(old, keep[i]);
        if (json_is_string(v))
            json_object_set(q->obj, keep[i], (json_t *)v);
    }
    json_decref(b);
    if (q->obj == NULL) {
        rg_admin__error(q, 500, "out of memory");
        return;
    }
    q->ok_status = 200;
    record(q, 0);
}

static void on_transferred(void *arg, int status)
{
    struct rg_areq *q = arg;
    struct rg_raft_status st;

    if (status != 0)
        change_failed(q, status, "transfer");
    else {
        rg_raft_status(q->a->raft, &st);
        rg_admin__reply(q, 200, json_pack("{s:I}", "leader_id",
                                          (json_int_t)st.leader_id),
                        0, NULL);
    }
    rg_admin__unref(q);
}

/* POST /cluster/transfer {"id": n} (no id or 0: any voter). An unknown id
 * is 404, a non-voter 400; the current leader is already there (200). */
static void transfer(struct rg_areq *q)
{
    json_t *b = q->body_len ? json_loadb(q->body, q->body_len, 0, NULL)
                            : json_object();
    json_t *jid = json_object_get(b, "id");
    json_int_t id = json_integer_value(jid);
    struct find_member fm = {.id = (uint64_t)id};
    struct rg_raft_status st;
    int bad = !json_is_object(b) || (jid != NULL && (!json_is_integer(jid) ||
                                                     id < 0));
    int rv;

    json_decref(b);
    if (bad) {
        rg_admin__error(q, 400, "expected {\"id\": n} (a member id) or {}");
        return;
    }
    rg_raft_status(q->a->raft, &st);
    if (id > 0 && !find_member(q->a, &fm)) {
        rg_admin__error(q, 404, "Not found");
        return;
    }
    if (id > 0 && fm.role != RG_ROLE_VOTER) {
        rg_admin__error(q, 400, "member %lld is not a voter", (long long)id);
        return;
    }
    if (id > 0 && (uint64_t)id == st.id) {
        rg_admin__reply(q, 200, json_pack("{s:I}", "leader_id",
                                          (json_int_t)st.id), 0, NULL);
        return;
    }
    rg_admin__ref(q);
    rv = rg_raft_transfer(q->a->raft, (uint64_t)id, on_transferred, q);
    if (rv != 0) {
        rg_admin__unref(q);
        change_failed(q, rv, "transfer");
    }
}

static void on_breaker_written(void *arg, int status,
                               const struct rg_fsm_result *res, unsigned n)
{
    struct rg_areq *q = arg;

    if (status != 0 || n != 1)
        change_failed(q, status != 0 ? status : RG_RAFT_EUNKNOWN, "breaker");
    else if (res[0].status != RG_FSM_OK)
        rg_admin__error(q, 400, "%s", res[0].message);
    else
        rg_admin__reply(q, 200,
                        json_pack("{s:b,s:s,s:I,s:I}", "applied",
                                  (int)res[0].out[0], "state",
                                  rg_fsm_brk_state_name(
                                      (enum rg_brk_state)res[0].out[1]),
                                  "version", (json_int_t)res[0].out[2],
                                  "prober", (json_int_t)res[0].out[3]),
                        0, NULL);
    rg_admin__unref(q);
}

/* POST /cluster/breaker {service, op, epoch, node, recovery_ms}: a
 * circuit-breaker command (control/breaker.c sends it from followers;
 * the leader's own go straight to Raft). Answers {applied, state,
 * version, prober}: applied false when the epoch was stale. */
static void breaker(struct rg_areq *q)
{
    json_t *b = json_loadb(q->body, q->body_len, 0, NULL);
    const char *svc = json_string_value(json_object_get(b, "service"));
    enum rg_brk_op op =
        rg_fsm_brk_op_from(json_string_value(json_object_get(b, "op")));
    json_int_t e = json_integer_value(json_object_get(b, "epoch"));
    json_int_t node = json_integer_value(json_object_get(b, "node"));
    json_int_t rec = json_integer_value(json_object_get(b, "recovery_ms"));
    char body[RG_FSM_BRK_BODY];
    struct rg_cmd c;
    int rv = -EINVAL;

    const char *opname = json_string_value(json_object_get(b, "op"));

    if (svc != NULL && e >= 0 && opname != NULL &&
        strcmp(opname, "fail") == 0) {
        json_int_t n = json_integer_value(json_object_get(b, "count"));
        json_int_t th = json_integer_value(json_object_get(b, "threshold"));
        json_int_t win = json_integer_value(json_object_get(b, "window_ms"));

        rv = rg_cbc_report(svc, (uint64_t)e, (unsigned)(n > 0 ? n : 0),
                           (unsigned)(th > 0 ? th : 0),
                           (unsigned)(win > 0 ? win : 0),
                           (unsigned)(rec > 0 ? rec : 0));
        if (rv == -EAGAIN) {
            rg_admin__not_proposed(q, "not the leader");
        } else {
            /* And the leader's committed state (it applied it), so the
             * follower need not wait for the next heartbeat. */
            struct rg_brt_slot *sl = rg_brt_at(rg_brt_find(svc, 0));
            uint64_t w = sl != NULL ? atomic_load(&sl->word) : 0;
            json_t *o = json_pack("{s:b,s:b}", "counted", rv >= 0, "opening",
                                  rv == 1);

            if (o != NULL && sl != NULL && !rg_brt_local_of(w)) {
                json_object_set_new(o, "state",
                                    json_string(rg_fsm_brk_state_name(
                                        (enum rg_brk_state)
                                            rg_brt_state_of(w))));
                json_object_set_new(o, "version",
                                    json_integer((json_int_t)
                                                     rg_brt_epoch_of(w)));
                json_object_set_new(
                    o, "prober",
                    json_integer((json_int_t)atomic_load(&sl->prober)));
            }
            rg_admin__reply(q, 200, o, 0, NULL);
        }
        json_decref(b);
        return;
    }
    if (svc != NULL && op != 0 && e >= 0 && node >= 0 && rec >= 0)
        rv = rg_fsm_breaker_cmd(&c, body, svc, op, (uint64_t)e,
                                (uint64_t)node, (uint64_t)rec);
    if (rv != 0) {
        json_decref(b);
        rg_admin__error(q, 400, "expected {\"service\", \"op\", \"epoch\", "
                                "\"node\", \"recovery_ms\"}");
        return;
    }
    rg_admin__ref(q);
    rv = rg_raft_write(q->a->raft, &c, 1, on_breaker_written, q);
    json_decref(b); /* the write copied svc */
    if (rv != 0) {
        rg_admin__unref(q);
        change_failed(q, rv, "breaker");
    }
}

/* /cluster/members/{id}[/promote] */
static void member(struct rg_areq *q, const char *rest)
{
    char *end;
    uint64_t id = strtoull(rest, &end, 10);

    if (end == rest || id == 0 || !isdigit((unsigned char)*rest))
        rg_admin__error(q, 404, "Not found");
    else if (strcmp(end, "/promote") == 0 && strcmp(q->method, "POST") == 0)
        change(q, id, 1);
    else if (*end == '\0' && strcmp(q->method, "DELETE") == 0)
        change(q, id, 0);
    else if (*end == '\0' && strcmp(q->method, "PUT") == 0)
        set_record(q, id);
    else
        rg_admin__error(q, 405, "Method not allowed");
}

int rg_admin__cluster(struct rg_areq *q)
{
    const char *p = q->path;
    int get = strcmp(q->method, "GET") == 0;

    if (strcmp(p, "/status") == 0 && get)
        get_status(q);
    else if (strcmp(p, "/debug/applied") == 0 && get)
        get_applied(q);
    else if (strcmp(p, "/cluster") == 0 && get)
        get_cluster(q);
    else if (strncmp(p, "/cluster", 8) != 0)
        return 0;
    else if (q->a->raft == NULL)
        rg_admin__error(q, 409, "single-node mode: no raft group");
    else if (strcmp(p, "/cluster/members") == 0 && get)
        rg_admin__reply(q, 200, json_pack("{s:o,s:n}", "data",
                                          members(q->a), "next"),
                        rg_admin__revision(q->a), NULL);
    else if (strcmp(p, "/cluster/members") == 0 &&
             strcmp(q->method, "POST") == 0)
        join(q);
    else if (strncmp(p, "/cluster/members/", 17) == 0)
        member(q, p + 17);
    else if (strcmp(p, "/cluster/leases") == 0 &&
             strcmp(q->method, "POST") == 0) {
        if (rg_admin__internal(q))
            rg_admin__leases(q);
    }
    else if (strcmp(p, "/cluster/transfer") == 0 &&
             strcmp(q->method, "POST") == 0)
        transfer(q);
    else if (strcmp(p, "/cluster/breaker") == 0 &&
             strcmp(q->method, "POST") == 0) {
        if (rg_admin__internal(q))
            breaker(q);
    }
    else
        rg_admin__error(q, 404, "Not found");
    return 1;
}
