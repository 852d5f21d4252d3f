/* The admin write path: propose commands through the raft facade, bound
 * the wait, and map outcomes to HTTP (docs/fault-injection.md §4.2 item 2): committed ->
 * the handler's answer; precondition failed -> 412; certainly not applied
 * -> 503 not-proposed; anything else -> 504 unknown. */
#include "core/failpoint.h"
#include "admin/admin_int.h"

#include <stdio.h>
#include <string.h>

static const char single_node[] =
    "single-node mode: edit the declarative file and SIGHUP";

static void on_commit_timeout(uv_timer_t *t)
{
    rg_admin__unknown(t->data, "commit timed out");
}

int rg_admin__result_error(struct rg_areq *q, const struct rg_fsm_result *r,
                           unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        const char *m = r[i].message;

        switch (r[i].status) {
        case RG_FSM_OK:
            continue;
        case RG_FSM_CONFLICT:
            rg_admin__reply(q, 412,
                            json_pack("{s:s}", "message",
                                      *m ? m : "revision mismatch"),
                            r[i].revision, NULL);
            return 1;
        case RG_FSM_NOT_FOUND:
            rg_admin__reply(q, 404, json_pack("{s:s}", "message",
                                              "Not found"),
                            r[i].revision, NULL);
            return 1;
        case RG_FSM_INVALID:
        default:
            rg_admin__reply(q, 400,
                            json_pack("{s:s,s:s}", "message",
                                      *m ? m : "invalid", "name",
                                      "schema violation"),
                            r[i].revision, NULL);
            return 1;
        }
    }
    return 0;
}

/* Give the first failing result, if any, to q->on_fail. */
static int handled_failure(struct rg_areq *q, const struct rg_fsm_result *r,
                           unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (r[i].status != RG_FSM_OK)
            return q->on_fail != NULL && q->on_fail(q, &r[i]);
    return 0;
}

static void on_written(void *arg, int status, const struct rg_fsm_result *res,
                       unsigned n)
{
    struct rg_areq *q = arg;

    q->in_raft = 0;
    RG_FAILPOINT("admin_before_reply");
    if (status == 0 && q->committed && res[0].status != RG_FSM_OK)
        rg_admin__unknown(q, "membership changed; the node registry "
                             "refused the record");
    else if (status == 0 && handled_failure(q, res, n))
        ; /* the handler answered, or proposed again */
    else if (status == 0 && !rg_admin__result_error(q, res, n))
        q->on_ok(q, res, n);
    else if (status == RG_RAFT_EUNKNOWN || (status != 0 && q->committed))
        rg_admin__unknown(q, rg_strerror(status));
    else if (status != 0)
        rg_admin__not_proposed(q, rg_strerror(status));
    rg_admin__unref(q);
}

static void start_timer(struct rg_areq *q)
{
    if (!q->timer_on) {
        uv_timer_init(q->a->loop, &q->timer);
        q->timer.data = q;
        q->timer_on = 1;
    }
    uv_timer_start(&q->timer, on_commit_timeout, RG_ADMIN_COMMIT_MS, 0);
}

/* The request id of @q's next proposal in @out: q->rid, or for the nth
 * proposal of a request that proposes again from on_fail, q->rid cut to
 * fit and "~n": the state machine would answer a request id it has seen
 * with that id's first result (the refusal that made it retry). A
 * client's retry of the whole request walks the same ids, so it still
 * applies at most once. */
static void attempt_rid(const struct rg_areq *q,
                        char out[RG_CODEC_MAX_RID + 1])
{
    char sfx[16];
    size_t n = strlen(q->rid), sl;

    if (q->on_fail == NULL || q->attempts == 0) {
        memcpy(out, q->rid, n + 1);
        return;
    }
    sl = (size_t)snprintf(sfx, sizeof(sfx), "~%u", q->attempts + 1);
    if (n + sl > RG_CODEC_MAX_RID)
        n = RG_CODEC_MAX_RID - sl;
    memcpy(out, q->rid, n);
    memcpy(out + n, sfx, sl + 1);
}

void rg_admin__propose(struct rg_areq *q, struct rg_cmd *cmds, unsigned n)
{
    char rid[RG_CODEC_MAX_RID + 1];
    int rv;

    if (q->a->raft == NULL) {
        rg_admin__error(q, 409, "%s", single_node);
        return;
    }
    attempt_rid(q, rid);
    for (unsigned i = 0; i < n; i++) {
        if (cmds[i].rid_len == 0) {
            cmds[i].rid = rid;
            cmds[i].rid_len = (uint16_t)strlen(rid);
        }
        if (q->has_if_match && cmds[i].if_rev == 0)
            cmds[i].if_rev = q->if_match;
    }
    rg_admin__ref(q);
    q->in_raft = 1;
    q->attempts++;
    rv = rg_raft_write(q->a->raft, cmds, n, on_written, q);
    if (rv != 0) {
        q->in_raft = 0;
        rg_admin__unref(q);
        if (q->committed)
            rg_admin__unknown(q, rg_strerror(rv));
        else
            rg_admin__not_proposed(q, rg_strerror(rv));
        return;
    }
    start_timer(q);
}
