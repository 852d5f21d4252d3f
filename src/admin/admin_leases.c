/* POST /cluster/leases, internal: the leader's end of the lease client
 * (control/quota.h). A follower posts a batch of lease commands here; the
 * leader proposes them as one entry and answers each result. Not
 * forwarded again: a node that does not lead answers 503 not-proposed,
 * and the follower retries with the same seqs. Also the follower's side:
 * rg_admin_post_leases sends such a batch to the leader. */
#include "admin/admin_int.h"

#include <stdio.h>
#include <string.h>

#include "admin/fwd.h"
#include "core/alloc.h"

static void on_served(void *arg, int status, json_t *json)
{
    struct rg_areq *q = arg;

    if (status == 200)
        rg_admin__reply(q, 200, json, 0, NULL);
    else if (status == 503)
        rg_admin__not_proposed(q, "not the leader");
    else if (status == 504)
        rg_admin__unknown(q, "leadership lost");
    else
        rg_admin__error(q, status, "malformed lease batch");
    if (status != 200)
        json_decref(json);
    rg_admin__unref(q);
}

void rg_admin__leases(struct rg_areq *q)
{
    if (q->a->quota == NULL || !rg_admin__is_leader(q->a)) {
        rg_admin__not_proposed(q, q->a->quota ? "not the leader"
                                              : "no quota client");
        return;
    }
    rg_admin__ref(q);
    rg_quota_serve(q->a->quota, q->body, q->body_len, on_served, q);
}

struct post {
    rg_quota_post_cb cb;
    void *arg;
};

static void on_posted(void *arg, int err, const struct rg_fwd_resp *r)
{
    struct post *p = arg;

    if (err == RG_FWD_ENOTSENT)
        p->cb(p->arg, 0, NULL, 0);
    else if (err != 0)
        p->cb(p->arg, -1, NULL, 0);
    else
        p->cb(p->arg, r->status, r->body, r->body_len);
    rg_free(p);
}

int rg_admin_post_leases(void *admin, const char *body, size_t len,
                         unsigned timeout_ms, rg_quota_post_cb cb, void *arg)
{
    struct rg_admin *a = admin;
    char addr[256], headers[512] = "Content-Type: application/json\r\n";
    struct rg_fwd_req rq = {.method = "POST",
                            .target = "/cluster/leases",
                            .body = body,
                            .len = len};
    struct post *p;

    if (a == NULL || a->stopping || a->raft == NULL ||
        rg_raft_leader_admin(a->raft, addr, sizeof(addr)) != 0 ||
        (p = rg_malloc(sizeof(*p))) == NULL)
        return -1;
    if (a->token != NULL)
        snprintf(headers + strlen(headers), sizeof(headers) - strlen(headers),
                 "Authorization: Bearer %s\r\n", a->token);
    p->cb = cb;
    p->arg = arg;
    rq.headers = headers;
    if (rg_fwd_start(a->loop, addr, &rq, timeout_ms, on_posted, p) == NULL) {
        rg_free(p);
        return -1;
    }
    return 0;
}
