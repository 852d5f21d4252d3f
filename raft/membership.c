/* Membership, leadership transfer, status and the leader's admin address
 * (rgraft.h). One change and one transfer at a time; the transfer request
 * lives in the node, never freed in its callback (docs/raft.md §2.5). */
#include <errno.h>
#include <string.h>

#include "raft/node_int.h"

const char *rg_raft__state_name(int state)
{
    switch (state) {
    case RAFT_FOLLOWER: return "follower";
    case RAFT_CANDIDATE: return "candidate";
    case RAFT_LEADER: return "leader";
    default: return "unavailable";
    }
}

void rg_raft_status(const struct rg_raft *r, struct rg_raft_status *st)
{
    struct raft *raft = (struct raft *)&r->raft; /* getters are not const */
    raft_id leader;
    const char *address;

    memset(st, 0, sizeof(*st));
    st->id = r->id;
    st->state = rg_raft__state_name(raft_state(raft));
    st->term = raft_current_term(raft);
    raft_leader(raft, &leader, &address);
    st->leader_id = leader;
    st->commit_index = raft_commit_index(raft);
    st->applied_index = raft_last_applied(raft);
    st->revision = rg_fsm_revision(r->fsm);
    st->incarnation = r->incarnation;
    st->transport_auth = r->transport.key != NULL;
}

const uint32_t rg_raft_apply_ms[RG_RAFT_APPLY_BUCKETS] = {
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1000,
};

void rg_raft__count_apply(struct rg_raft *r, uint64_t us)
{
    unsigned b = 0;

    while (b < RG_RAFT_APPLY_BUCKETS &&
           us > (uint64_t)rg_raft_apply_ms[b] * 1000)
        b++;
    r->stats.apply[b]++;
    r->stats.apply_sum_us += us;
}

void rg_raft_stats(const struct rg_raft *r, struct rg_raft_stats *st)
{
    *st = r->stats;
}

int rg_raft_leader_admin(const struct rg_raft *r, char *out, size_t cap)
{
    raft_id leader;
    const char *address, *admin;
    const json_t *rec;
    size_t len;

    raft_leader((struct raft *)&r->raft, &leader, &address);
    if (leader == 0)
        return -ENOENT;
    rec = rg_fsm_node(r->fsm, leader);
    admin = json_string_value(json_object_get(rec, "admin"));
    if (admin == NULL || admin[0] == '\0')
        return -ENOENT;
    len = strlen(admin);
    if (len >= cap)
        return -ENOSPC;
    memcpy(out, admin, len + 1);
    return 0;
}

static enum rg_raft_role role_from_raft(int role)
{
    switch (role) {
    case RAFT_VOTER: return RG_ROLE_VOTER;
    case RAFT_STANDBY: return RG_ROLE_STANDBY;
    default: return RG_ROLE_SPARE;
    }
}

static int role_to_raft(enum rg_raft_role role)
{
    switch (role) {
    case RG_ROLE_VOTER: return RAFT_VOTER;
    case RG_ROLE_STANDBY: return RAFT_STANDBY;
    case RG_ROLE_SPARE: return RAFT_SPARE;
    default: return -1;
    }
}

void rg_raft_members(const struct rg_raft *r,
                     void (*cb)(void *arg, const struct rg_raft_member *m),
                     void *arg)
{
    const struct raft_configuration *c = &r->raft.configuration;

    for (unsigned i = 0; i < c->n; i++) {
        struct rg_raft_member m = {
            .id = c->servers[i].id,
            .address = c->servers[i].address,
            .role = role_from_raft(c->servers[i].role),
        };

        cb(arg, &m);
    }
}

/* A synchronous libraft error from a change or transfer call. */
static int map_sync(int rv)
{
    switch (rv) {
    case 0: return 0;
    case RAFT_NOTLEADER: return RG_RAFT_ENOTLEADER;
    case RAFT_CANTCHANGE: return RG_RAFT_EBUSY;
    case RAFT_DUPLICATEID:
    case RAFT_DUPLICATEADDRESS: return -EEXIST;
    case RAFT_NOTFOUND: return -ENOENT;
    case RAFT_BADID: return -EINVAL;
    case RAFT_BADROLE: return -EALREADY;
    case RAFT_NOMEM: return -ENOMEM;
    case RAFT_SHUTDOWN: return RG_RAFT_ESHUTDOWN;
    default: return -EIO;
    }
}

/* Common preconditions; 0 when a change may be submitted. */
static int can_change(const struct rg_raft *r, int busy)
{
    if (r->stopping)
        return RG_RAFT_ESHUTDOWN;
    if (busy)
        return RG_RAFT_EBUSY;
    if (raft_state((struct raft *)&r->raft) != RAFT_LEADER)
        return RG_RAFT_ENOTLEADER;
    return 0;
}

static void change_cb(struct raft_change *req, int status)
{
    struct rg_raft *r = req->data;
    rg_raft_done_cb cb = r->change_cb;
    int st;

    r->change_busy = 0;
    r->change_cb = NULL;
    switch (status) {
    case 0: st = 0; break;
    case RAFT_NOTLEADER: st = RG_RAFT_ENOTLEADER; break;
    /* The promotee did not catch up: nothing was submitted. */
    case RAFT_NOCONNECTION: st = -ETIMEDOUT; break;
    default: st = RG_RAFT_EUNKNOWN; break;
    }
    if (cb != NULL)
        cb(r->change_arg, st);
}

/* Arm the change slot, or undo it when libraft refused synchronously. */
static int change_submitted(struct rg_raft *r, int rv, rg_raft_done_cb cb,
                            void *arg)
{
    if (rv != 0)
        return map_sync(rv);
    r->change_busy = 1;
    r->change_cb = cb;
    r->change_arg = arg;
    return 0;
}

int rg_raft_add(struct rg_raft *r, uint64_t id, const char *address,
                rg_raft_done_cb cb, void *arg)
{
    int rv = can_change(r, r->change_busy);

    if (rv != 0)
        return rv;
    if (id == 0 || address == NULL || address[0] == '\0')
        return -EINVAL;
    r->change.data = r;
    rv = raft_add(&r->raft, &r->change, id, address, change_cb);
    return change_submitted(r, rv, cb, arg);
}

int rg_raft_assign(struct rg_raft *r, uint64_t id, enum rg_raft_role role,
                   rg_raft_done_cb cb, void *arg)
{
    int raft_role = role_to_raft(role);
    int rv = can_change(r, r->change_busy);

    if (rv != 0)
        return rv;
    if (raft_role < 0)
        return -EINVAL;
    r->change.data = r;
    rv = raft_assign(&r->raft, &r->change, id, raft_role, change_cb);
    return change_submitted(r, rv, cb, arg);
}

int rg_raft_remove(struct rg_raft *r, uint64_t id, rg_raft_done_cb cb,
                   void *arg)
{
    int rv = can_change(r, r->change_busy);

    if (rv != 0)
        return rv;
    r->change.data = r;
    rv = raft_remove(&r->raft, &r->change, id, change_cb);
    return change_submitted(r, rv, cb, arg);
}

/* Fires when the target leads, or the election timeout passed (then
 * someone else, or nobody, leads). */
static void transfer_cb(struct raft_transfer *req)
{
    struct rg_raft *r = req->data;
    rg_raft_done_cb cb = r->transfer_cb;
    raft_id leader;
    const char *address;

    r->transfer_busy = 0;
    r->transfer_cb = NULL;
    raft_leader(&r->raft, &leader, &address);
    if (cb != NULL)
        cb(r->transfer_arg,
           r->stopping                            ? RG_RAFT_ESHUTDOWN
           : leader != 0 && leader == req->id     ? 0
                                                  : -ETIMEDOUT);
}

int rg_raft_transfer(struct rg_raft *r, uint64_t id, rg_raft_done_cb cb,
                     void *arg)
{
    int rv = can_change(r, r->transfer_busy);

    if (rv != 0)
        return rv;
    r->transfer.data = r;
    rv = raft_transfer(&r->raft, &r->transfer, id, transfer_cb);
    if (rv != 0)
        return map_sync(rv);
    r->transfer_busy = 1;
    r->transfer_cb = cb;
    r->transfer_arg = arg;
    return 0;
}

void rg_raft__membership_close(struct rg_raft *r)
{
    rg_raft_done_cb cb;

    if (r->change_busy) {
        cb = r->change_cb;
        r->change_busy = 0;
        r->change_cb = NULL;
        if (cb != NULL)
            cb(r->change_arg, RG_RAFT_EUNKNOWN);
    }
    if (r->transfer_busy) {
        cb = r->transfer_cb;
        r->transfer_busy = 0;
        r->transfer_cb = NULL;
        if (cb != NULL)
            cb(r->transfer_arg, RG_RAFT_ESHUTDOWN);
    }
}
