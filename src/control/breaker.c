/* The circuit breakers' control side (control/breaker.h). The table's
 * state word of a slot is written here only, from one of two sources:
 * the committed breaker (Raft) or the node's local breaker (policy
 * local, no Raft, or cut off). */
#include "control/breaker.h"

#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/ctlq.h"
#include "core/log.h"
#include "plugins/breaker_table.h"

struct cbc_slot {
    int fallback; /* the local breaker stands in: cut off */
    uint64_t fallback_ms;
    uint64_t known_ms; /* since when a leader is known (fallback) */
    int have;          /* a committed state was heard */
    enum rg_brt_state c_state;
    uint64_t c_epoch, c_prober;
    int busy; /* a proposal in flight */
    uint64_t busy_gen, busy_ms, last_try;
    /* Failures this follower has not yet reported to the leader. */
    unsigned unsent, sending;
    uint64_t report_epoch;
    int report_busy;
    /* On the leader: the cluster's failures at epoch agg_epoch, in the
     * window that began at agg_start. */
    uint64_t agg_epoch, agg_start;
    unsigned agg;
};

/* One proposal in flight; a late answer finds its generation changed. */
struct cbc_prop {
    int slot;
    uint64_t gen;
    enum rg_brk_op op;
};

static struct {
    uv_loop_t *loop;
    struct rg_raft *raft;
    uint64_t self;
    uv_timer_t timer;
    int on;
    rg_cbc_fwd_fn fwd;
    void *fwd_hook;
    uint64_t gen;
    struct cbc_slot s[RG_BRT_SLOTS];
} g;

static int local_only(int i)
{
    struct rg_brt_slot *s = rg_brt_at(i);

    return g.raft == NULL || atomic_load(&s->local_policy) || g.s[i].fallback;
}

/* The local breaker's transition for @ev. */
static void local_step(int i, enum rg_brt_event ev)
{
    struct rg_brt_slot *s = rg_brt_at(i);
    uint64_t w = atomic_load(&s->word), e = rg_brt_epoch_of(w);
    enum rg_brt_state st = rg_brt_state_of(w);

    if (ev == RG_BRT_EV_FAIL)
        return; /* the local breaker counts in the table */
    if (ev == RG_BRT_EV_TRIP && st == RG_BRT_CLOSED)
        rg_brt_publish(i, RG_BRT_OPEN, e + 1, 0, 1);
    else if (ev == RG_BRT_EV_TRIAL_OK && st == RG_BRT_HALF_OPEN)
        rg_brt_publish(i, RG_BRT_CLOSED, e + 1, 0, 1);
    else if (ev == RG_BRT_EV_TRIAL_FAIL && st == RG_BRT_HALF_OPEN)
        rg_brt_publish(i, RG_BRT_OPEN, e + 1, 0, 1);
}

static void enter_fallback(int i, const char *why)
{
    struct cbc_slot *c = &g.s[i];

    if (!c->fallback)
        rg_log(RG_LOG_WARN,
               "circuit-breaker %s: %s: local breaker until "
               "the leader is back",
               rg_brt_at(i)->name, why);
    c->fallback = 1;
    c->fallback_ms = rg_brt_now_ms();
    c->known_ms = 0;
    /* The local breaker goes on from the state in force. */
    {
        struct rg_brt_slot *s = rg_brt_at(i);
        uint64_t w = atomic_load(&s->word);

        rg_brt_publish(i, rg_brt_state_of(w), rg_brt_epoch_of(w), rg_brt_self(),
                       1);
    }
}

static enum rg_brt_event ev_of(enum rg_brk_op op)
{
    switch (op) {
    case RG_BRK_OP_OPEN:
        return RG_BRT_EV_TRIP;
    case RG_BRK_OP_CLOSE:
        return RG_BRT_EV_TRIAL_OK;
    case RG_BRK_OP_REOPEN:
        return RG_BRT_EV_TRIAL_FAIL;
    default:
        return (enum rg_brt_event)0;
    }
}

/* A proposal ended: @ok 1 when the leader took it (applied or stale). */
static void done(struct cbc_prop *p, int ok, const char *why)
{
    struct cbc_slot *c = &g.s[p->slot];
    struct rg_brt_slot *s = rg_brt_at(p->slot);

    if (c->busy && c->busy_gen == p->gen) {
        c->busy = 0;
        atomic_store(&s->asked, 0); /* later asks go through again */
        if (!ok) {
            enter_fallback(p->slot, why);
            if (ev_of(p->op) != 0)
                local_step(p->slot, ev_of(p->op));
        }
    }
    rg_free(p);
}

static void on_written(void *arg, int status, const struct rg_fsm_result *res,
                       unsigned n)
{
    (void)res;
    (void)n;
    done(arg, status == 0, "write failed");
}

static void adopt(int i, const json_t *j);

static void on_forwarded(void *arg, int ok, const char *body, size_t len)
{
    struct cbc_prop *p = arg;
    json_t *j = ok ? json_loadb(body, len, 0, NULL) : NULL;

    if (j != NULL && g.s[p->slot].busy && g.s[p->slot].busy_gen == p->gen)
        adopt(p->slot, j);
    json_decref(j);
    done(p, ok, "the leader did not answer");
}

/* Propose @op on slot @i at @epoch. */
static void propose(int i, enum rg_brk_op op, uint64_t epoch)
{
    struct rg_brt_slot *s = rg_brt_at(i);
    struct cbc_slot *c = &g.s[i];
    uint64_t rec = atomic_load(&s->recovery_ms);
    struct rg_raft_status st;
    char body[RG_FSM_BRK_BODY], addr[256];
    struct rg_cmd cmd;
    struct cbc_prop *p;
    int rv;

    if (c->busy)
        return;
    p = rg_malloc(sizeof(*p));
    if (p == NULL ||
        rg_fsm_breaker_cmd(&cmd, body, s->name, op, epoch, g.self, rec) != 0) {
        rg_free(p);
        return;
    }
    p->slot = i;
    p->gen = ++g.gen;
    p->op = op;
    c->busy = 1;
    c->busy_gen = p->gen;
    c->busy_ms = c->last_try = rg_brt_now_ms();
    rg_raft_status(g.raft, &st);
    if (strcmp(st.state, "leader") == 0) {
        rv = rg_raft_write(g.raft, &cmd, 1, on_written, p);
        if (rv != 0)
            done(p, 0, rg_strerror(rv));
        return;
    }
    if (g.fwd == NULL ||
        rg_raft_leader_admin(g.raft, addr, sizeof(addr)) != 0) {
        done(p, 0, "no leader known");
        return;
    }
    {
        json_t *j = json_pack("{ss ss sI sI sI}", "service", s->name, "op",
                              rg_fsm_brk_op_name(op), "epoch",
                              (json_int_t)epoch, "node", (json_int_t)g.self,
                              "recovery_ms", (json_int_t)rec);
        char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;

        json_decref(j);
        rv = txt ? g.fwd(g.fwd_hook, addr, txt, strlen(txt), on_forwarded, p)
                 : -ENOMEM;
        if (txt != NULL) {
            json_free_t jf;

            json_get_alloc_funcs(NULL, &jf);
            jf(txt);
        }
        if (rv != 0)
            done(p, 0, "cannot reach the leader");
    }
}

static int is_leader(void)
{
    struct rg_raft_status st;

    if (g.raft == NULL)
        return 0;
    rg_raft_status(g.raft, &st);
    return strcmp(st.state, "leader") == 0;
}

/* The leader counts @n failures of slot @i at @epoch; the breaker opens
 * when the cluster's count in the window reaches the threshold. */
static void count(int i, uint64_t epoch, unsigned n, unsigned threshold,
                  unsigned window_ms)
{
    struct cbc_slot *c = &g.s[i];
    struct rg_brt_slot *s = rg_brt_at(i);
    uint64_t now = rg_brt_now_ms(), w = atomic_load(&s->word);

    if (rg_brt_epoch_of(w) != epoch || rg_brt_state_of(w) != RG_BRT_CLOSED ||
        threshold == 0)
        return;
    if (c->agg_epoch != epoch || c->agg == 0 ||
        now - c->agg_start >= window_ms) {
        c->agg_epoch = epoch;
        c->agg_start = now;
        c->agg = 0;
    }
    c->agg += n;
    if (c->agg >= threshold) {
        rg_brt_hold(i, epoch);
        propose(i, RG_BRK_OP_OPEN, epoch);
    }
}

static void flush_report(int i);

/* A leader's answer may carry its committed state ({state, version,
 * prober}): adopt it now when it is newer than ours, rather than at the
 * next heartbeat (the apply that follows publishes the same). */
static void adopt(int i, const json_t *j)
{
    static const char *const names[] = {"closed", "open", "half_open"};
    const char *st = json_string_value(json_object_get(j, "state"));
    const json_t *v = json_object_get(j, "version");
    struct rg_brt_slot *s = rg_brt_at(i);
    uint64_t w = atomic_load(&s->word);

    if (st == NULL || !json_is_integer(v) || local_only(i) ||
        (uint64_t)json_integer_value(v) <= rg_brt_epoch_of(w))
        return;
    for (int k = 0; k < 3; k++)
        if (strcmp(st, names[k]) == 0)
            rg_brt_publish(
                i, (enum rg_brt_state)k, (uint64_t)json_integer_value(v),
                (uint64_t)json_integer_value(json_object_get(j, "prober")), 0);
}

static void on_reported(void *arg, int ok, const char *body, size_t len)
{
    int i = (int)(intptr_t)arg;
    struct cbc_slot *c = &g.s[i];
    json_t *j = ok ? json_loadb(body, len, 0, NULL) : NULL;

    /* A lost report only delays the cluster's trip: the local threshold
     * still applies. The leader says when the cluster is over it. */
    if (json_is_true(json_object_get(j, "opening")))
        rg_brt_hold(i, c->report_epoch);
    if (j != NULL)
        adopt(i, j);
    json_decref(j);
    c->report_busy = 0;
    c->sending = 0;
    flush_report(i);
}

static void flush_report(int i)
{
    struct cbc_slot *c = &g.s[i];
    struct rg_brt_slot *s = rg_brt_at(i);
    char addr[256];
    json_t *j;
    char *txt;
    int rv = -1;

    if (c->report_busy || c->unsent == 0 || g.fwd == NULL ||
        rg_raft_leader_admin(g.raft, addr, sizeof(addr)) != 0)
        return;
    j = json_pack("{ss ss sI sI sI sI sI sI}", "service", s->name, "op", "fail",
                  "epoch", (json_int_t)rg_brt_epoch_of(atomic_load(&s->word)),
                  "node", (json_int_t)g.self, "count", (json_int_t)c->unsent,
                  "threshold", (json_int_t)atomic_load(&s->threshold),
                  "window_ms", (json_int_t)atomic_load(&s->window_ms),
                  "recovery_ms", (json_int_t)atomic_load(&s->recovery_ms));
    txt = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (txt != NULL) {
        json_free_t jf;

        rv = g.fwd(g.fwd_hook, addr, txt, strlen(txt), on_reported,
                   (void *)(intptr_t)i);
        json_get_alloc_funcs(NULL, &jf);
        jf(txt);
    }
    c->sending = c->unsent;
    c->report_epoch = rg_brt_epoch_of(atomic_load(&s->word));
    c->unsent = 0;
    c->report_busy = rv == 0;
}

int rg_cbc_report(const char *service, uint64_t epoch, unsigned n,
                  unsigned threshold, unsigned window_ms, unsigned recovery_ms)
{
    int i = rg_brt_find(service, 1);
    struct rg_brt_slot *s = rg_brt_at(i);
    uint32_t zero = 0;

    if (s == NULL)
        return -ENOSPC;
    /* A leader that serves no traffic for the service learns its
     * recovery timeout here (for the probe timer). */
    atomic_compare_exchange_strong(&s->recovery_ms, &zero, recovery_ms);
    if (!is_leader())
        return -EAGAIN;
    count(i, epoch, n, threshold, window_ms);
    return atomic_load(&s->hold) == epoch + 1;
}

static void on_msg(void *arg, const struct rg_ctlq_msg *m)
{
    int i = (int)m->a;
    struct rg_brt_slot *s = rg_brt_at(i);
    enum rg_brt_event ev = (enum rg_brt_event)(m->b & 0xff);
    uint64_t epoch = m->b >> 8, w;

    (void)arg;
    if (s == NULL)
        return;
    w = atomic_load(&s->word);
    if (rg_brt_epoch_of(w) != epoch)
        return; /* the state moved on since the worker asked */
    if (local_only(i)) {
        local_step(i, ev);
        return;
    }
    switch (ev) {
    case RG_BRT_EV_FAIL:
        if (is_leader()) {
            count(i, epoch, 1, atomic_load(&s->threshold),
                  atomic_load(&s->window_ms));
        } else {
            g.s[i].unsent++;
            flush_report(i);
        }
        break;
    case RG_BRT_EV_TRIP:
        rg_brt_hold(i, epoch); /* this node saw enough */
        propose(i, RG_BRK_OP_OPEN, epoch);
        break;
    case RG_BRT_EV_TRIAL_OK:
        propose(i, RG_BRK_OP_CLOSE, epoch);
        break;
    case RG_BRT_EV_TRIAL_FAIL:
        propose(i, RG_BRK_OP_REOPEN, epoch);
        break;
    default:
        break;
    }
}

void rg_cbc_committed(void *arg, const struct rg_fsm_breaker *b)
{
    int i = rg_brt_find(b->service, 1);
    struct cbc_slot *c;
    uint64_t w;

    (void)arg;
    if (i < 0)
        return;
    c = &g.s[i];
    c->have = 1;
    c->c_state = (enum rg_brt_state)b->state;
    c->c_epoch = b->epoch;
    c->c_prober = b->prober;
    if (atomic_load(&rg_brt_at(i)->local_policy))
        return;
    w = atomic_load(&rg_brt_at(i)->word);
    if (!rg_brt_local_of(w) && rg_brt_epoch_of(w) > b->epoch)
        return; /* adopt() already published a newer committed state from
                   the leader's answer: this apply is catching up (after
                   a pause, say) and must not step the version back */
    c->fallback = 0; /* a transition reached us: in touch */
    rg_brt_publish(i, c->c_state, c->c_epoch, c->c_prober, 0);
}

static void tick_slot(void *arg, int i, struct rg_brt_slot *s)
{
    struct cbc_slot *c = &g.s[i];
    const struct rg_raft_status *st = arg;
    uint64_t now = rg_brt_now_ms(), w = atomic_load(&s->word);
    uint64_t rec = atomic_load(&s->recovery_ms), e = rg_brt_epoch_of(w);
    uint64_t age = now - atomic_load(&s->changed_ms);
    enum rg_brt_state state = rg_brt_state_of(w);

    if (rec == 0)
        return; /* no request configured it yet */
    if (atomic_load(&s->hold) != 0 &&
        now - atomic_load(&s->hold_ms) >= RG_CBC_WRITE_MS)
        rg_brt_unhold(i); /* its OPEN never showed up */
    if (c->busy && now - c->busy_ms >= RG_CBC_WRITE_MS) {
        c->busy = 0;
        c->busy_gen = 0; /* its answer, if any, is ignored */
        atomic_store(&s->asked, 0);
        enter_fallback(i, "no answer in time");
        w = atomic_load(&s->word);
    }
    if (local_only(i)) {
        if (c->fallback && st != NULL && st->leader_id != 0) {
            if (c->known_ms == 0)
                c->known_ms = now;
            if (now - c->known_ms >= RG_CBC_REJOIN_MS) {
                c->fallback = 0;
                rg_brt_publish(i, c->have ? c->c_state : RG_BRT_CLOSED,
                               c->have ? c->c_epoch : 0,
                               c->have ? c->c_prober : 0, 0);
                return;
            }
        } else if (c->fallback) {
            c->known_ms = 0;
        }
        if ((state == RG_BRT_OPEN || state == RG_BRT_HALF_OPEN) && age >= rec)
            rg_brt_publish(i, RG_BRT_HALF_OPEN, e + 1, rg_brt_self(), 1);
        return;
    }
    if (c->busy || now - c->last_try < 1000)
        return;
    if ((state == RG_BRT_OPEN && age >= rec) ||
        (state == RG_BRT_HALF_OPEN && age >= rec + 500))
        propose(i, RG_BRK_OP_PROBE, e);
}

static void on_tick(uv_timer_t *t)
{
    struct rg_raft_status st;

    (void)t;
    if (g.raft != NULL)
        rg_raft_status(g.raft, &st);
    rg_brt_each(tick_slot, g.raft != NULL ? &st : NULL);
}

int rg_cbc_start(uv_loop_t *loop, struct rg_raft *raft, uint64_t self_id)
{
    int rv;

    g.loop = loop;
    g.raft = raft;
    g.self = self_id;
    rg_brt_set_self(self_id);
    rv = uv_timer_init(loop, &g.timer);
    if (rv != 0)
        return rv;
    uv_unref((uv_handle_t *)&g.timer);
    g.on = 1;
    rg_ctlq_on(RG_CTLQ_BREAKER, on_msg, NULL);
    return uv_timer_start(&g.timer, on_tick, RG_CBC_TICK_MS, RG_CBC_TICK_MS);
}

void rg_cbc_set_forward(rg_cbc_fwd_fn fn, void *hook)
{
    g.fwd = fn;
    g.fwd_hook = hook;
}

void rg_cbc_set_raft(struct rg_raft *raft)
{
    g.raft = raft;
}

void rg_cbc_stop(void)
{
    rg_ctlq_on(RG_CTLQ_BREAKER, NULL, NULL);
    if (g.on) {
        uv_timer_stop(&g.timer);
        uv_close((uv_handle_t *)&g.timer, NULL);
        g.on = 0;
    }
    g.raft = NULL;
}
