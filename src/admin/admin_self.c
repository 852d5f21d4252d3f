/* Every member keeps its own node registry record {id, name, raft, admin,
 * proxy, role} in step with its config and its role in the Raft
 * configuration. A timer looks: when this node knows a leader, is a
 * member, and its record is missing or differs, it writes it -- a NODE_SET
 * proposed directly when it leads, else PUT /cluster/members/{id}
 * forwarded to the leader's admin API (admin_cluster.c; the leader takes
 * "raft" and "role" from its own view). The request id is derived from the
 * record as it is and as it should be, so a retry of one attempt dedupes.
 * A failed attempt backs off. The leader also drops the records of ids
 * that are no longer members (a removal whose NODE_DEL did not happen). */
#include "admin/admin_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "admin/fwd.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/strmap.h"

#define SELF_IDLE_MS 1000       /* look again when in step */
#define SELF_WAIT_MS 200        /* look again when no leader is known */
#define SELF_BACKOFF_MIN_MS 100
#define SELF_BACKOFF_MAX_MS 5000

struct rg_admin_self {
    uv_loop_t *loop;
    struct rg_raft *raft;       /* borrowed; valid until rg_raft_stop */
    char *token;                /* owned; NULL = no auth */
    char *name;                 /* owned; NULL = "node-<id>" */
    char *raft_addr, *admin_addr, *proxy_addr; /* owned */
    uv_timer_t timer;
    struct rg_fwd *fwd;         /* forward in flight, or NULL */
    int refs;                   /* the timer, a raft write in flight */
    int busy;                   /* an attempt is in flight */
    int stopped;
    unsigned backoff_ms;        /* next delay after a failure */
    uint64_t last_ok;           /* key of the last attempt that succeeded */
    unsigned salt;              /* bumped when a succeeded key comes back */
    uint64_t key;               /* key of the attempt in flight */
};

static void self_free(struct rg_admin_self *s)
{
    rg_free(s->token);
    rg_free(s->name);
    rg_free(s->raft_addr);
    rg_free(s->admin_addr);
    rg_free(s->proxy_addr);
    rg_free(s);
}

static void self_unref(struct rg_admin_self *s)
{
    if (--s->refs == 0)
        self_free(s);
}

static void timer_closed(uv_handle_t *h)
{
    self_unref(h->data);
}

static void check(uv_timer_t *t);

static void again(struct rg_admin_self *s, unsigned ms)
{
    if (!s->stopped)
        uv_timer_start(&s->timer, check, ms, 0);
}

/* An attempt ended: look again soon after a success, later and later
 * after failures. */
static void attempt_done(struct rg_admin_self *s, int ok, uint64_t key)
{
    s->busy = 0;
    if (ok) {
        s->last_ok = key;
        s->backoff_ms = SELF_BACKOFF_MIN_MS;
        again(s, SELF_WAIT_MS);
        return;
    }
    again(s, s->backoff_ms);
    s->backoff_ms = s->backoff_ms * 2 > SELF_BACKOFF_MAX_MS
                        ? SELF_BACKOFF_MAX_MS
                        : s->backoff_ms * 2;
}

/* ---- what the record should be ---- */

struct self_view {
    uint64_t id;
    int member;
    enum rg_raft_role role;
    char address[256];          /* raft address in the configuration */
};

static void view_cb(void *arg, const struct rg_raft_member *m)
{
    struct self_view *v = arg;

    if (m->id == v->id) {
        v->member = 1;
        v->role = m->role;
        snprintf(v->address, sizeof(v->address), "%s",
                 m->address ? m->address : "");
    }
}

static const char *role_text(enum rg_raft_role r)
{
    switch (r) {
    case RG_ROLE_VOTER: return "voter";
    case RG_ROLE_STANDBY: return "standby";
    default: return "spare";
    }
}

/* Name and addresses from our config; "raft" and "role" as the Raft
 * configuration has them (which is what the leader writes). */
static json_t *want_record(const struct rg_admin_self *s,
                           const struct self_view *v)
{
    char nm[32];

    snprintf(nm, sizeof(nm), "node-%" PRIu64, v->id);
    return json_pack("{s:I,s:s,s:s,s:s,s:s,s:s}", "id", (json_int_t)v->id,
                     "name", s->name ? s->name : nm, "raft",
                     v->address[0] ? v->address : s->raft_addr, "admin",
                     s->admin_addr, "proxy", s->proxy_addr, "role",
                     role_text(v->role));
}

/* 1 when @have holds every field of @want. */
static int in_step(const json_t *have, const json_t *want)
{
    const char *k;
    json_t *v;

    if (have == NULL)
        return 0;
    json_object_foreach((json_t *)want, k, v) {
        if (!json_equal(v, json_object_get(have, k)))
            return 0;
    }
    return 1;
}

/* FNV-1a over the canonical text of @j (or "-" for NULL). */
static uint64_t hash_json(uint64_t h, const json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    const char *p = text ? text : "-";

    h = rg_fnv1a_more(h, p, strlen(p));
    rg_admin__jfree(text);
    return h;
}

/* ---- the leader proposes directly ---- */

static void on_written(void *arg, int status, const struct rg_fsm_result *res,
                       unsigned n)
{
    struct rg_admin_self *s = arg;
    int ok = status == 0 && n == 1 && (res[0].status == RG_FSM_OK ||
                                       res[0].status == RG_FSM_NOT_FOUND);

    attempt_done(s, ok, s->key);
    self_unref(s);
}

static int propose(struct rg_admin_self *s, int del, uint64_t id,
                   const json_t *rec, const char *rid)
{
    char *body = del ? NULL : json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
    struct rg_cmd c = {0};
    char k[24];
    int rv;

    if (!del && body == NULL)
        return -ENOMEM;
    snprintf(k, sizeof(k), "%" PRIu64, id);
    c.type = del ? RG_CMD_NODE_DEL : RG_CMD_NODE_SET;
    c.rid = rid;
    c.rid_len = (uint16_t)strlen(rid);
    c.key = k;
    c.key_len = (uint16_t)strlen(k);
    c.body = body;
    c.body_len = body ? (uint32_t)strlen(body) : 0;
    rv = rg_raft_write(s->raft, &c, 1, on_written, s);
    if (rv == 0)
        s->refs++;
    rg_admin__jfree(body);
    return rv;
}

/* ---- a follower asks the leader ---- */

static void on_forwarded(void *arg, int err, const struct rg_fwd_resp *r)
{
    struct rg_admin_self *s = arg;
    int ok = err == 0 && r->status == 200;

    if (err == 0 && r->status != 200 && r->status != 503)
        rg_log(RG_LOG_WARN, "node registry: the leader answered %d: %.*s",
               r->status, (int)(r->body_len > 200 ? 200 : r->body_len),
               r->body);
    s->fwd = NULL;
    attempt_done(s, ok, s->key);
}

static int forward(struct rg_admin_self *s, uint64_t id, const json_t *rec,
                   const char *rid)
{
    char *body = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
    char addr[256], target[48], headers[512];
    struct rg_fwd_req rq = {.method = "PUT"};

    if (body == NULL ||
        rg_raft_leader_admin(s->raft, addr, sizeof(addr)) != 0) {
        rg_admin__jfree(body);
        return -ENOENT;
    }
    snprintf(target, sizeof(target), "/cluster/members/%" PRIu64, id);
    snprintf(headers, sizeof(headers),
             "Content-Type: application/json\r\n"
             "X-Raftgate-Forwarded: 1\r\n%s%s%s",
             s->token ? "Authorization: Bearer " : "",
             s->token ? s->token : "", s->token ? "\r\n" : "");
    rq.target = target;
    rq.rid = rid;
    rq.headers = headers;
    rq.body = body;
    rq.len = strlen(body);
    s->fwd = rg_fwd_start(s->loop, addr, &rq, RG_ADMIN_FWD_MS, on_forwarded, s);
    rg_admin__jfree(body);
    return s->fwd != NULL ? 0 : -ENOMEM;
}

/* ---- the check ---- */

struct stale {
    const struct rg_raft *raft;
    uint64_t id; /* a recorded id that is not a member, or 0 */
};

static void stale_cb(void *arg, uint64_t id, const json_t *rec)
{
    struct stale *st = arg;
    struct self_view v = {.id = id};

    (void)rec;
    if (st->id != 0)
        return;
    rg_raft_members(st->raft, view_cb, &v);
    if (!v.member)
        st->id = id;
}

/* Leader only, when its own record is in step: drop one stale record. */
static int drop_stale(struct rg_admin_self *s)
{
    struct stale st = {s->raft, 0};
    char rid[RG_CODEC_MAX_RID + 1];

    rg_fsm_each_node(rg_raft_fsm(s->raft), stale_cb, &st);
    if (st.id == 0)
        return 0;
    snprintf(rid, sizeof(rid), "node-del-%" PRIu64, st.id);
    s->key = 0;
    if (propose(s, 1, st.id, NULL, rid) != 0)
        return -1;
    s->busy = 1;
    return 1;
}

static void check(uv_timer_t *t)
{
    struct rg_admin_self *s = t->data;
    struct rg_raft_status st;
    struct self_view v = {0};
    const json_t *have;
    json_t *want;
    char rid[RG_CODEC_MAX_RID + 1];
    int rv;

    if (s->stopped || s->busy)
        return;
    rg_raft_status(s->raft, &st);
    v.id = st.id;
    rg_raft_members(s->raft, view_cb, &v);
    if (st.leader_id == 0 || !v.member) {
        again(s, SELF_WAIT_MS);
        return;
    }
    have = rg_fsm_node(rg_raft_fsm(s->raft), st.id);
    want = want_record(s, &v);
    if (want == NULL || in_step(have, want)) {
        json_decref(want);
        rv = st.leader_id == st.id ? drop_stale(s) : 0;
        if (rv <= 0)
            again(s, rv < 0 ? s->backoff_ms : SELF_IDLE_MS);
        return;
    }
    s->key = hash_json(hash_json(RG_FNV1A_BASIS + s->salt, have), want);
    if (s->key == s->last_ok) {
        /* the same (have, want) as an attempt that succeeded: the views
         * disagree for now, or the id was deduped. A fresh id, later. */
        s->salt++;
        s->last_ok = 0;
        json_decref(want);
        attempt_done(s, 0, 0);
        return;
    }
    snprintf(rid, sizeof(rid), "node-set-%" PRIu64 "-%016" PRIx64, st.id,
             s->key);
    rv = st.leader_id == st.id ? propose(s, 0, st.id, want, rid)
                               : forward(s, st.id, want, rid);
    json_decref(want);
    if (rv == 0)
        s->busy = 1;
    else
        attempt_done(s, 0, 0);
}

/* ---- lifecycle ---- */

static char *dup_or_empty(const char *p)
{
    return rg_strdup(p ? p : "");
}

struct rg_admin_self *rg_admin__self_start(struct rg_admin *a,
                                           const struct rg_admin_conf *c)
{
    struct rg_admin_self *s = rg_calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->loop = a->loop;
    s->raft = a->raft;
    s->raft_addr = dup_or_empty(c->raft_addr);
    s->admin_addr = dup_or_empty(c->listen);
    s->proxy_addr = dup_or_empty(c->proxy_addr);
    if ((c->name != NULL && c->name[0] != '\0' &&
         (s->name = rg_strdup(c->name)) == NULL) ||
        (a->token != NULL && (s->token = rg_strdup(a->token)) == NULL) ||
        s->raft_addr == NULL || s->admin_addr == NULL ||
        s->proxy_addr == NULL) {
        self_free(s);
        return NULL;
    }
    s->backoff_ms = SELF_BACKOFF_MIN_MS;
    s->refs = 1; /* the timer */
    uv_timer_init(a->loop, &s->timer);
    s->timer.data = s;
    again(s, SELF_WAIT_MS);
    return s;
}

void rg_admin__self_stop(struct rg_admin_self *s)
{
    if (s == NULL)
        return;
    s->stopped = 1;
    if (s->fwd != NULL) {
        rg_fwd_cancel(s->fwd);
        s->fwd = NULL;
        /* the callback's struct self_fwd goes with the cancel below */
    }
    uv_close((uv_handle_t *)&s->timer, timer_closed);
}
